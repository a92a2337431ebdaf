//! `compose outdated SPEC...`: each spec's lock against what a refresh would take now (the
//! spec resolved afresh from today's verified indexes, for every platform of the lock),
//! each newer version with its suite, urgency and the CVEs its changelog names.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};

use super::changelogs::Changelogs;
use super::{Context, Report, Side, compare};
use crate::build::{self, BuildError, Indexes};
use crate::fetch::{Cache, Fetcher, Limit};
use crate::lock::{self, Lock};
use crate::mirror::Mirrors;
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

/// Each spec's report, in the order given; indexes shared by the specs that read the same
/// sources for the same platform.
pub fn outdated(opts: &OutdatedOptions) -> Result<Vec<Report>> {
    let mirrors = Mirrors::of_host(&opts.mirrors, &opts.access)?;
    let cache = Cache::new(opts.cache_dir.clone());
    let fetcher = Fetcher::new(cache.clone(), 4, opts.offline)?
        .with_credentials(mirrors.credentials().clone());
    let mut memo: HashMap<String, Arc<Indexes>> = HashMap::new();
    let mut pairs = Vec::new();
    for spec in &opts.specs {
        pairs.push(refresh(spec, &fetcher, &mirrors, &mut memo)?);
    }
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

/// A spec's lock and the lock a refresh would write now, as sides.
fn refresh(
    spec: &Path,
    fetcher: &Fetcher,
    mirrors: &Mirrors,
    memo: &mut HashMap<String, Arc<Indexes>>,
) -> Result<(String, Side, Side)> {
    let path = lock::path_for(spec);
    let old = build::current_lock(spec)?.ok_or_else(|| BuildError::NoLock {
        lock: path.clone(),
        spec: spec.to_path_buf(),
    })?;
    let platforms = build::locked_platforms(&old, &path)?;
    let chain = build::lock_chain(spec, Some(platforms), None)?;
    let mut notes = Vec::new();
    if !old.matches(&chain.levels) {
        notes.push(format!(
            "`{}` is stale ({} changed): the refresh also applies those changes",
            path.display(),
            old.stale_inputs(&chain.levels).join(", ")
        ));
    }
    let sources = chain.sources();
    let mut load = |platform: &crate::spec::Platform| -> Result<Arc<Indexes>> {
        let key = format!("{sources:?}|{platform}");
        if let Some(i) = memo.get(&key) {
            return Ok(i.clone());
        }
        let i = Arc::new(build::load_indexes(fetcher, mirrors, &sources, platform)?);
        memo.insert(key, i.clone());
        Ok(i)
    };
    // The debug variant's note is the lock's business, not this report's.
    let (new, _) = build::lock_of_chain(&chain, &mut load)?;
    let title = format!("{} ({})", old.name, path.display());
    let mut old_side = Side::of_lock(path.display().to_string(), old);
    old_side.notes = notes;
    let new_side = Side::of_lock("a fresh resolution".into(), new);
    Ok((title, old_side, new_side))
}

/// The tracker's data for the source packages of `pairs`' locks: a file, or a URL fetched
/// into the cache (`--offline`: the cached copy).
fn load_tracker(text: &str, fetcher: &Fetcher, pairs: &[(String, Side, Side)]) -> Result<Tracker> {
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
