//! `compose outdated SPEC...`: each spec's lock against what a refresh would take now (the
//! spec resolved afresh from today's verified indexes, for every platform of the lock),
//! each newer version with its suite, urgency and the CVEs its changelog names.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use rayon::prelude::*;

use super::changelogs::Changelogs;
use super::{Context, Report, Side, compare};
use crate::build::{self, BuildError, Indexes};
use crate::fetch::{Cache, Fetcher, Limit};
use crate::lock::{self, Lock};
use crate::mirror::Mirrors;
use crate::spec::{Platform, Source};
use crate::tracker::{self, Tracker};

/// What `compose outdated` needs.
#[derive(Debug, Clone)]
pub struct OutdatedOptions {
    pub specs: Vec<PathBuf>,
    pub mirrors: Vec<String>,
    pub access: crate::mirror::Access,
    pub cache_dir: PathBuf,
    pub offline: bool,
    /// `--security-tracker FILE|URL`.
    pub tracker: Option<String>,
}

/// When `compose outdated` exits with `EXIT_OUTDATED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// A newer version comes from a security suite, or fixes a named CVE.
    Security,
    /// Any newer version.
    Any,
}

impl FailOn {
    /// Whether the reports call for a rebuild.
    pub fn fails(self, reports: &[Report]) -> bool {
        let mut changes = reports.iter().flat_map(|r| &r.changes);
        match self {
            FailOn::Security => changes.any(super::Change::is_security),
            FailOn::Any => changes.next().is_some(),
        }
    }
}

/// Each spec's report, in the order given. Specs that read the same sources are refreshed
/// together: each suite verified once, every platform's indexes read at once (in parallel),
/// the specs resolved in parallel, then those indexes dropped before the next sources.
pub fn outdated(opts: &OutdatedOptions) -> Result<Vec<Report>> {
    let mirrors = Mirrors::of_host(&opts.mirrors, &opts.access)?;
    let cache = Cache::new(opts.cache_dir.clone());
    let fetcher = Fetcher::new(cache.clone(), 4, opts.offline)?
        .with_credentials(mirrors.credentials().clone());
    let planned: Vec<Planned> = opts.specs.iter().map(|s| plan(s)).collect::<Result<_>>()?;
    let mut pairs: Vec<Option<Pair>> = planned.iter().map(|_| None).collect();
    for (sources, platforms, members) in groups(&planned) {
        let loaded: Vec<Arc<Indexes>> =
            build::load_indexes_of(&fetcher, &mirrors, &sources, &platforms)?
                .into_iter()
                .map(Arc::new)
                .collect();
        let refreshed: Vec<(usize, Result<Pair>)> = members
            .par_iter()
            .map(|&i| (i, refresh(&planned[i], &platforms, &loaded)))
            .collect();
        for (i, r) in refreshed {
            pairs[i] = Some(r?);
        }
    }
    let pairs: Vec<Pair> = pairs.into_iter().flatten().collect();
    let tracker = match &opts.tracker {
        Some(t) => Some(load_tracker(t, &fetcher, &pairs)?),
        None => None,
    };
    let cx = Context {
        changelogs: Changelogs {
            cache: &cache,
            fetcher: &fetcher,
        },
        mirrors: &mirrors,
        tracker: tracker.as_ref(),
    };
    pairs
        .into_iter()
        .map(|(title, old, new)| compare(title, &old, &new, &cx))
        .collect()
}

/// A report's title, the lock, and what a refresh would lock.
type Pair = (String, Side, Side);

/// A spec, its lock, and the chain a refresh would lock (the lock's platforms).
struct Planned {
    path: PathBuf,
    old: Lock,
    chain: build::Chain,
}

fn plan(spec: &Path) -> Result<Planned> {
    let path = lock::path_for(spec);
    let old = build::current_lock(spec)?.ok_or_else(|| BuildError::NoLock {
        lock: path.clone(),
        spec: spec.to_path_buf(),
    })?;
    let platforms = build::locked_platforms(&old, &path)?;
    let chain = build::lock_chain(spec, Some(platforms), None)?;
    Ok(Planned { path, old, chain })
}

/// The specs by the sources they read: the sources, every platform any of them locks, and
/// the specs' positions.
fn groups(planned: &[Planned]) -> Vec<(Vec<Source>, Vec<Platform>, Vec<usize>)> {
    let mut out: Vec<(Vec<Source>, Vec<Platform>, Vec<usize>)> = Vec::new();
    for (i, p) in planned.iter().enumerate() {
        let sources = p.chain.sources();
        let slot = match out.iter().position(|(s, ..)| *s == sources) {
            Some(slot) => slot,
            None => {
                out.push((sources, Vec::new(), Vec::new()));
                out.len() - 1
            }
        };
        for platform in &p.chain.platforms {
            if !out[slot].1.contains(platform) {
                out[slot].1.push(platform.clone());
            }
        }
        out[slot].2.push(i);
    }
    out
}

/// A spec's lock and the lock a refresh would write now (from `loaded`, the indexes of
/// `platforms`), as sides.
fn refresh(p: &Planned, platforms: &[Platform], loaded: &[Arc<Indexes>]) -> Result<Pair> {
    let mut notes = Vec::new();
    if !p.old.matches(&p.chain.levels) {
        notes.push(format!(
            "`{}` is stale ({} changed): the refresh also applies those changes",
            p.path.display(),
            p.old.stale_inputs(&p.chain.levels).join(", ")
        ));
    }
    let mine: Vec<Arc<Indexes>> = p
        .chain
        .platforms
        .iter()
        .filter_map(|x| {
            platforms
                .iter()
                .position(|y| y == x)
                .map(|i| loaded[i].clone())
        })
        .collect();
    // The debug variant's note is the lock's business, not this report's.
    let (new, _) = build::lock_of_loaded(&p.chain, &mine)?;
    let title = format!("{} ({})", p.old.name, p.path.display());
    let mut old_side = Side::of_lock(p.path.display().to_string(), p.old.clone());
    old_side.notes = notes;
    let new_side = Side::of_lock("a fresh resolution".into(), new);
    Ok((title, old_side, new_side))
}

/// The tracker's data for the source packages of `pairs`' locks: a file, or a URL fetched
/// into the cache (`--offline`: the cached copy).
fn load_tracker(text: &str, fetcher: &Fetcher, pairs: &[Pair]) -> Result<Tracker> {
    let locks: Vec<&Lock> = pairs
        .iter()
        .flat_map(|(_, o, n)| [&o.lock, &n.lock])
        .collect();
    let release = release_of(&locks);
    let sources = locks
        .iter()
        .flat_map(|l| &l.packages)
        .filter_map(|p| super::source_of_filename(&p.filename).map(str::to_owned))
        .collect();
    read_tracker(text, fetcher, &release, &sources)
}

/// The Debian release the locks read (the suite of their first source without its
/// `-security`/`-updates` part: `trixie`).
pub(crate) fn release_of(locks: &[&Lock]) -> String {
    locks
        .iter()
        .flat_map(|l| &l.sources)
        .map(|s| {
            s.suite
                .split(['-', '/'])
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .next()
        .unwrap_or_default()
}

/// Read the tracker's JSON from a file or a URL, streamed and bounded.
pub(crate) fn read_tracker(
    text: &str,
    fetcher: &Fetcher,
    release: &str,
    sources: &std::collections::BTreeSet<String>,
) -> Result<Tracker> {
    let path = if text.starts_with("http://") || text.starts_with("https://") {
        let limit = Limit {
            bytes: tracker::MAX_TRACKER_SIZE,
            what: "the security tracker's data",
            var: None,
        };
        fetcher.get_latest(text, limit)?
    } else {
        PathBuf::from(text)
    };
    let file = fs_err::File::open(&path)?;
    tracker::read(
        std::io::BufReader::with_capacity(1 << 16, file),
        release,
        sources,
        tracker::MAX_TRACKER_SIZE,
    )
    .with_context(|| {
        format!(
            "cannot read the security tracker's data `{}`",
            path.display()
        )
    })
}
