//! The packages of a build: every `.deb` downloaded once (whatever platform or level wants
//! it), verified against its plan's size and SHA256, then read in parallel.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Result;
use rayon::prelude::*;

use super::error::BuildError;
use super::plan::LevelPlan;
use super::trees::Debs;
use crate::deb::{self, Deb};
use crate::fetch::{FetchError, Fetcher, Item};
use crate::package::Planned;
use crate::progress::Progress;

/// Download and read every package of `plans`. `locked` names the spec whose lock the
/// plans came from: a version its mirror no longer has is then the lock's age, with a hint.
pub fn fetch_debs(
    fetcher: &Fetcher,
    plans: &[Vec<LevelPlan>],
    progress: &Progress,
    locked: Option<&Path>,
) -> Result<Debs> {
    // Every package once, by file hash (unique per .deb), in plan order.
    let mut seen = BTreeSet::new();
    let packages: Vec<&Planned> = plans
        .iter()
        .flatten()
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
    let blobs = fetcher
        .get_all(&items, &|n| bar.inc(n))
        .map_err(|e| match (e, locked) {
            (fetch @ FetchError::NotFound { .. }, Some(spec)) => BuildError::LockedVersionGone {
                fetch,
                spec: spec.to_path_buf(),
            }
            .into(),
            (e, _) => anyhow::Error::from(e),
        })?;
    bar.finish();

    let bar = progress.count("extract", items.len() as u64);
    let debs: Vec<Deb> = blobs
        .par_iter()
        .zip(packages.par_iter())
        .map(|(bytes, p)| {
            let version = p.version.to_string();
            // What the .deb must say it is.
            let identity = deb::Identity {
                name: &p.name,
                version: &version,
                architecture: &p.architecture,
            };
            let d = deb::read(&identity, bytes);
            bar.inc(1);
            d
        })
        .collect::<Result<_, _>>()?;
    bar.finish();
    drop(blobs);
    Ok(packages
        .iter()
        .map(|p| p.sha256.clone())
        .zip(debs)
        .collect())
}
