//! The spec's lock as the build and `compose lock` see it: whether it exists and matches the
//! spec (one check for both), and making it (every platform resolved, the debug layer too).

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::chain::Chain;
use super::env::expand_env;
use super::error::BuildError;
use super::indexes::{Indexes, load_pinned_indexes};
use super::plan::{LevelPlan, plan_levels};
use super::variant::Variant;
use crate::fetch::Cache;
use crate::lock::{self, Lock, LockedPackage};
use crate::spec::{Platform, Spec};

/// A spec's lock, compared with the spec.
#[derive(Debug)]
pub enum LockState {
    /// There is no lock file.
    Missing,
    /// The lock was made from other spec files: these changed.
    Stale { lock: Lock, changed: Vec<String> },
    /// The lock was made from exactly these spec files.
    Fresh(Lock),
}

/// Read the lock at `path` and compare it with the spec files of `chain` and the snapshots
/// its sources are pinned to (the spec's or `--snapshot`). A source the chain does not pin
/// takes the lock's snapshot, if it has one: the lock pins it.
pub fn lock_state(path: &Path, chain: &[Spec]) -> Result<LockState> {
    if !path.is_file() {
        return Ok(LockState::Missing);
    }
    let lock = Lock::read(path)?;
    let mut changed = lock.stale_inputs(chain);
    changed.extend(moved_snapshots(&lock, chain));
    Ok(if changed.is_empty() {
        LockState::Fresh(lock)
    } else {
        LockState::Stale { lock, changed }
    })
}

/// Each suite the chain pins to a snapshot that the lock took from another (or from none):
/// `the snapshot of `archive:debian` trixie (locked: none)`.
fn moved_snapshots(lock: &Lock, chain: &[Spec]) -> Vec<String> {
    let mut moved = Vec::new();
    for source in chain.iter().flat_map(|s| &s.sources) {
        let Some(wanted) = &source.snapshot else {
            continue;
        };
        let location = source.location.to_string();
        for suite in &source.suites {
            let locked = lock
                .sources
                .iter()
                .find(|l| l.location == location && &l.suite == suite)
                .and_then(|l| l.snapshot.as_deref());
            let entry = format!(
                "the snapshot of `{location}` {suite} (locked: {}, asked: {wanted})",
                locked.unwrap_or("none")
            );
            if locked != Some(wanted.as_str()) && !moved.contains(&entry) {
                moved.push(entry);
            }
        }
    }
    moved
}

/// The lock for a build: the spec's, when it exists and matches the spec. With `locked`,
/// anything else is an error; without, a stale lock is a warning and the build resolves.
pub fn usable_lock(spec: &Path, chain: &[Spec], locked: bool) -> Result<Option<Lock>> {
    let path = lock::path_for(spec);
    match lock_state(&path, chain)? {
        LockState::Fresh(lock) => Ok(Some(lock)),
        LockState::Missing if locked => Err(BuildError::LockedWithoutLock {
            lock: path,
            spec: spec.to_path_buf(),
        }
        .into()),
        LockState::Missing => Ok(None),
        LockState::Stale { changed, .. } if locked => Err(BuildError::LockedStale {
            lock: path,
            changed,
            spec: spec.to_path_buf(),
        }
        .into()),
        LockState::Stale { changed, .. } => {
            eprintln!(
                "warning: `{}` is stale ({} changed); resolving again (run `compose lock --update`)",
                path.display(),
                changed.join(", ")
            );
            Ok(None)
        }
    }
}

/// Read each archive source the chain leaves unpinned at the snapshot its lock recorded, if
/// any: the lock pins it (`compose lock --snapshot` on a spec that says nothing), and what
/// the build reports and resolves for a platform the lock lacks must come from there too.
pub fn pin_from_lock(chain: &mut Chain, lock: &Lock) {
    for source in chain.levels.iter_mut().flat_map(|l| &mut l.sources) {
        if source.snapshot.is_some() {
            continue;
        }
        let location = source.location.to_string();
        source.snapshot = lock
            .sources
            .iter()
            .find(|l| l.location == location && source.suites.contains(&l.suite))
            .and_then(|l| l.snapshot.clone());
    }
}

/// What `compose lock` needs.
#[derive(Debug, Clone)]
pub struct LockOptions {
    pub spec: PathBuf,
    pub mirrors: Vec<String>,
    /// `--auth-file`s and `--insecure` for the mirrors.
    pub access: crate::mirror::Access,
    pub cache_dir: PathBuf,
    /// `--platform`; without it, every platform of the current lock and the spec's.
    pub platforms: Option<Vec<Platform>>,
    /// `--snapshot`: every archive source read at this timestamp.
    pub snapshot: Option<String>,
    /// `--vendor DIR` (absolute): resolve from a vendored directory, no network, each release
    /// file the one the current lock names (if there is one).
    pub vendor: Option<PathBuf>,
    /// What may move from the current lock.
    pub refresh: Refresh,
    /// Use only the cache.
    pub offline: bool,
}

/// What a new lock may change of the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Resolve afresh: every package at the newest version the sources offer.
    All,
    /// `--security-only`: only packages a security suite has a newer version of (and what
    /// their new versions need) move; every other package keeps its locked version.
    SecurityOnly,
}

/// The chain `compose lock` locks: the debug variant's, so every variant builds from the
/// lock; `snapshot` (`--snapshot`) pins every archive source.
pub fn lock_chain(
    spec: &Path,
    platforms: Option<Vec<Platform>>,
    snapshot: Option<&str>,
) -> Result<Chain> {
    let debug = Variant {
        nonroot: false,
        debug: true,
    };
    let mut chain = Chain::load(spec, debug, platforms)?;
    if let Some(t) = snapshot {
        chain.pin_snapshot(t)?;
    }
    Ok(chain)
}

/// The spec's current lock, if it has one.
pub fn current_lock(spec: &Path) -> Result<Option<Lock>> {
    let path = lock::path_for(spec);
    Ok(if path.is_file() {
        Some(Lock::read(&path)?)
    } else {
        None
    })
}

/// The chain a refresh of `spec` locks: `--platform`, else every platform of `old` (the
/// current lock) and the spec's.
pub fn refresh_chain(
    spec: &Path,
    opts_platforms: Option<Vec<Platform>>,
    snapshot: Option<&str>,
    old: Option<&Lock>,
) -> Result<Chain> {
    let path = lock::path_for(spec);
    let spec_platforms = lock_chain(spec, None, snapshot)?.platforms;
    let platforms = super::refresh::refresh_platforms(
        opts_platforms,
        old.map(|l| (l, path.as_path())),
        &spec_platforms,
    )?;
    lock_chain(spec, platforms, snapshot)
}

/// Resolve a spec (its debug variant's layer included, so every variant builds from the
/// lock) for every platform, and return the lock.
pub fn make_lock(opts: &LockOptions) -> Result<Lock> {
    let old = current_lock(&opts.spec)?;
    let chain = refresh_chain(
        &opts.spec,
        opts.platforms.clone(),
        opts.snapshot.as_deref(),
        old.as_ref(),
    )?;
    let cache = Cache::new(opts.cache_dir.clone());
    let vendor = opts.vendor.as_deref();
    let (mirrors, fetcher) = super::archive_of(
        vendor,
        (&opts.mirrors, &opts.access),
        cache,
        4,
        opts.offline,
    )?;
    let pins = match vendor {
        Some(_) => old.as_ref().map(|l| l.sources.clone()).unwrap_or_default(),
        None => Vec::new(),
    };
    let keep = match (opts.refresh, &old) {
        (Refresh::All, _) => None,
        (Refresh::SecurityOnly, Some(old)) => Some(old),
        (Refresh::SecurityOnly, None) => {
            return Err(BuildError::NoLock {
                lock: lock::path_for(&opts.spec),
                spec: opts.spec.clone(),
            }
            .into());
        }
    };
    let sources = chain.sources();
    let mut load = |platform: &Platform| -> Result<std::sync::Arc<Indexes>> {
        let mut indexes = load_pinned_indexes(&fetcher, &mirrors, &sources, platform, &pins)?;
        if let Some(old) = keep {
            let locked =
                super::refresh::locked_entries(old, platform, &mut indexes, &fetcher, &mirrors)?;
            if !locked.is_empty() {
                indexes = super::refresh::security_only(&indexes, locked);
            }
        }
        Ok(std::sync::Arc::new(indexes))
    };
    let (lock, notes) = lock_of_chain(&chain, &mut load)?;
    for n in notes {
        eprintln!("note: {n}");
    }
    Ok(lock)
}

/// The lock of `chain`, each platform resolved in turn from the indexes `indexes_of` gives
/// (one platform's indexes in memory at a time), and what the caller may tell (the debug
/// variant not locked).
pub fn lock_of_chain(
    chain: &Chain,
    indexes_of: &mut dyn FnMut(&Platform) -> Result<std::sync::Arc<Indexes>>,
) -> Result<(Lock, Vec<String>)> {
    let mut planned = Vec::new();
    for platform in &chain.platforms {
        let indexes = indexes_of(platform)?;
        planned.push(plan_platform(chain, platform, &indexes)?);
    }
    Ok(finish_lock(chain, planned))
}

/// As `lock_of_chain` from indexes already loaded (`loaded[i]` for `chain.platforms[i]`),
/// the platforms resolved in parallel.
pub fn lock_of_loaded(
    chain: &Chain,
    loaded: &[std::sync::Arc<Indexes>],
) -> Result<(Lock, Vec<String>)> {
    use rayon::prelude::*;
    let planned = chain
        .platforms
        .par_iter()
        .zip(loaded)
        .map(|(platform, indexes)| plan_platform(chain, platform, indexes))
        .collect::<Result<Vec<_>>>()?;
    Ok(finish_lock(chain, planned))
}

/// One platform of a lock: its levels, its indexes' release files, and the note when the
/// debug variant cannot be locked.
struct PlatformLock {
    platform: String,
    levels: Vec<LevelPlan>,
    releases: Vec<lock::LockedSource>,
    debug_note: Option<String>,
}

fn plan_platform(chain: &Chain, platform: &Platform, indexes: &Indexes) -> Result<PlatformLock> {
    let plain = chain.spec_levels();
    // The debug variant's layer is locked too when the sources carry busybox-static.
    let (levels, debug_note) = match plan_levels(&chain.levels, indexes, &platform.debian_arch) {
        Ok(levels) => (levels, None),
        Err(e) => {
            let levels = plan_levels(plain, indexes, &platform.debian_arch)?;
            (
                levels,
                Some(format!("the debug variant is not locked: {e:#}")),
            )
        }
    };
    // Every package the environment names is in the image (debug layer included).
    expand_env(plain.last().expect("non-empty chain"), &levels)?;
    Ok(PlatformLock {
        platform: platform.to_string(),
        levels,
        releases: indexes.releases.clone(),
        debug_note,
    })
}

fn finish_lock(chain: &Chain, planned: Vec<PlatformLock>) -> (Lock, Vec<String>) {
    let plain = chain.spec_levels();
    let mut lock = Lock {
        version: lock::LOCK_VERSION,
        name: chain.name.clone(),
        layers: chain.levels.iter().map(|s| s.name.clone()).collect(),
        inputs: lock::inputs(&chain.levels),
        sources: Vec::new(),
        packages: Vec::new(),
        files: lock::files(&chain.levels),
    };
    let mut notes: Vec<String> = Vec::new();
    for p in planned {
        lock.sources.extend(p.releases);
        record(&mut lock, &p.platform, &chain.levels, &p.levels);
        notes.extend(p.debug_note);
    }
    if !notes.is_empty() {
        let debug = &chain.top().name;
        lock.layers.retain(|l| l != debug);
        lock.packages.retain(|p| &p.layer != debug);
        lock.inputs = lock::inputs(plain);
    }
    lock.normalize();
    notes.dedup();
    (lock, notes)
}

/// Record the planned packages of every level of one platform in the lock.
fn record(lock: &mut Lock, platform: &str, chain: &[Spec], levels: &[LevelPlan]) {
    for (spec, level) in chain.iter().zip(levels) {
        for p in &level.packages {
            lock.packages
                .push(LockedPackage::new(platform, &spec.name, p));
        }
    }
}
