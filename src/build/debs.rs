//! The packages of a build: every `.deb` downloaded once (whatever platform or level wants
//! it) into the cache, verified against its plan's size and SHA256, then streamed from its
//! cache file in parallel, each regular file into the build's `content::Store`.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Result;
use rayon::prelude::*;

use super::error::BuildError;
use super::plan::LevelPlan;
use super::trees::Debs;
use crate::content::Store;
use crate::deb::{self, Deb};
use crate::fetch::{FetchError, Fetcher, Hashing, Item};
use crate::package::Planned;
use crate::progress::Progress;

/// The levels of one platform whose packages the run needs, and the spec whose lock they
/// came from, if they did.
pub struct Wanted<'a> {
    pub levels: &'a [LevelPlan],
    pub locked: Option<&'a Path>,
}

/// Download and read every package of `plans` (once, whatever spec, platform or level wants
/// it), their files into `files`.
pub fn fetch_debs(
    fetcher: &Fetcher,
    plans: &[Wanted],
    progress: &Progress,
    files: Store,
) -> Result<Debs> {
    // Every package once, by file hash (unique per .deb), in plan order.
    let mut seen = BTreeSet::new();
    let packages: Vec<&Planned> = plans
        .iter()
        .flat_map(|w| w.levels.iter())
        .flat_map(|level| &level.packages)
        .filter(|p| seen.insert(p.sha256.as_str()))
        .collect();
    let items: Vec<Item> = packages
        .iter()
        .map(|p| Item {
            url: p.url.clone(),
            sha256: p.sha256.clone(),
            size: p.size,
        })
        .collect();
    let total: u64 = items.iter().map(|i| i.size).sum();
    let bar = progress.bytes("download", total);
    let paths = fetcher
        .get_all(&items, &|n| bar.inc(n))
        .map_err(|e| lock_age(e, plans))?;
    bar.finish();

    let bar = progress.count("extract", items.len() as u64);
    let debs: Vec<Deb> = paths
        .par_iter()
        .zip(packages.par_iter())
        .map(|(file, p)| {
            let d = read(file, p, &files);
            bar.inc(1);
            d
        })
        .collect::<Result<_>>()?;
    bar.finish();
    let by_sha256 = packages
        .iter()
        .map(|p| p.sha256.clone())
        .zip(debs)
        .collect();
    Ok(Debs { by_sha256, files })
}

/// A package the mirror does not have: when it came from a spec's lock, the version is
/// gone from the mirror (the lock's age), with a hint naming that spec.
fn lock_age(e: FetchError, plans: &[Wanted]) -> anyhow::Error {
    let FetchError::NotFound { url } = &e else {
        return e.into();
    };
    let locked = || plans.iter().filter_map(|w| Some((w.levels, w.locked?)));
    let has = |levels: &[LevelPlan]| {
        levels
            .iter()
            .flat_map(|l| &l.packages)
            .any(|p| &p.url == url)
    };
    // The spec whose lock asked for it; else the first locked one.
    let spec = locked()
        .find(|(levels, _)| has(levels))
        .or_else(|| locked().next());
    match spec {
        Some((_, spec)) => BuildError::LockedVersionGone {
            fetch: e,
            spec: spec.to_path_buf(),
        }
        .into(),
        None => e.into(),
    }
}

/// Read the `.deb` of `p` from its cache file, hashed as it streams: it was verified when
/// fetched, but the cache may have changed since, so a file whose bytes turn out not to be
/// the signed ones fails the build (whatever `deb::read` made of them is never used).
fn read(file: &Path, p: &Planned, store: &Store) -> Result<Deb> {
    let version = p.version.to_string();
    // What the .deb must say it is.
    let identity = deb::Identity {
        name: &p.name,
        version: &version,
        architecture: &p.architecture,
    };
    let mut reader = Hashing::open(file)?;
    let deb = deb::read(
        &identity,
        std::io::BufReader::with_capacity(64 << 10, &mut reader),
        store,
    );
    // The hash first: a changed file explains whatever error reading it gave.
    reader.finish(&p.sha256, p.size)?;
    Ok(deb?)
}
