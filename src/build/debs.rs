//! The packages of a build: every `.deb` downloaded once (whatever platform or level wants
//! it) into the cache, verified against its plan's size and SHA256, then streamed from its
//! cache file in parallel, each regular file into the build's `content::Store`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Result;
use rayon::prelude::*;

use super::plan::LevelPlan;
use super::trees::Debs;
use crate::content::Store;
use crate::deb::{self, Deb};
use crate::fetch::{FetchError, Fetcher, Hashing, Item};
use crate::lock::Lock;
use crate::mirror::Mirrors;
use crate::package::Planned;
use crate::progress::Progress;
use crate::spec::Location;

/// The levels of one platform whose packages the run needs, and the spec and lock they
/// came from, if they did.
pub struct Wanted<'a> {
    pub levels: &'a [LevelPlan],
    pub locked: Option<(&'a Path, &'a Lock)>,
}

/// The packages of one spec's lock that neither the mirror nor a snapshot archive has
/// (`name version`, sorted).
#[derive(Debug)]
pub struct Gone {
    pub spec: PathBuf,
    pub missing: Vec<String>,
}

/// Download and read every package of `plans` (once, whatever spec, platform or level wants
/// it), their files into `files`. A locked package the mirror no longer has is fetched from
/// the snapshot archive at its lock's date; one it does not have either makes the inner
/// result the specs whose locks are out of reach, nothing read.
pub fn fetch_debs(
    fetcher: &Fetcher,
    mirrors: &Mirrors,
    plans: &[Wanted],
    progress: &Progress,
    files: Store,
) -> Result<Result<Debs, Vec<Gone>>> {
    // Every package once, by file hash (unique per .deb), in plan order.
    let mut seen = BTreeSet::new();
    let packages: Vec<&Planned> = plans
        .iter()
        .flat_map(|w| w.levels.iter())
        .flat_map(|level| &level.packages)
        .filter(|p| seen.insert(p.sha256.as_str()))
        .collect();
    let items: Vec<Item> = packages.iter().map(|p| item(p, p.url.clone())).collect();
    let total: u64 = items.iter().map(|i| i.size).sum();
    let bar = progress.bytes("download", total);
    let mut paths = fetcher.get_all_found(&items, &|n| bar.inc(n))?;
    if paths.iter().any(Option::is_none) {
        from_snapshots(fetcher, mirrors, plans, &packages, &mut paths, &|n| {
            bar.inc(n)
        })?;
    }
    bar.finish();
    let gone = gone(plans, &packages, &paths)?;
    if !gone.is_empty() {
        return Ok(Err(gone));
    }
    let paths: Vec<PathBuf> = paths.into_iter().flatten().collect();

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
    Ok(Ok(Debs {
        by_sha256,
        files,
        spec_files: Default::default(),
    }))
}

fn item(p: &Planned, url: String) -> Item {
    Item {
        url,
        sha256: p.sha256.clone(),
        size: p.size,
    }
}

/// The packages `paths` lacks (the mirror no longer has them) that came from a lock, from
/// the snapshot archive when one is configured: each at its lock's snapshot copies
/// (`snapshot_copies`), the first that verifies by the lock's SHA256 kept, as any download.
fn from_snapshots(
    fetcher: &Fetcher,
    mirrors: &Mirrors,
    plans: &[Wanted],
    packages: &[&Planned],
    paths: &mut [Option<PathBuf>],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(), FetchError> {
    if !mirrors.has_snapshot() {
        return Ok(());
    }
    let copies: Vec<Vec<String>> = packages
        .iter()
        .zip(&*paths)
        .map(|(p, path)| match (path, locked_by(plans, p).next()) {
            (None, Some((_, lock))) => snapshot_copies(mirrors, lock, p),
            _ => Vec::new(),
        })
        .collect();
    let rounds = copies.iter().map(Vec::len).max().unwrap_or(0);
    for round in 0..rounds {
        let todo: Vec<usize> = (0..packages.len())
            .filter(|&i| paths[i].is_none() && copies[i].len() > round)
            .collect();
        let items: Vec<Item> = todo
            .iter()
            .map(|&i| item(packages[i], copies[i][round].clone()))
            .collect();
        let found = fetcher.get_all_found(&items, progress)?;
        for (i, path) in todo.into_iter().zip(found) {
            if path.is_some() {
                let p = packages[i];
                eprintln!(
                    "note: the mirror no longer has `{} {}`; fetched it from the snapshot archive ({})",
                    p.name, p.version, copies[i][round]
                );
                paths[i] = path;
            }
        }
    }
    Ok(())
}

/// Where a snapshot archive has a locked package: at the snapshot its suite was locked at,
/// else around its suite's release date (`snapshot::around_release_date`). The package's
/// own URL is left out.
fn snapshot_copies(mirrors: &Mirrors, lock: &Lock, p: &Planned) -> Vec<String> {
    let archive = match Location::parse(&p.source) {
        Location::Archive(a) if crate::spec::valid_archive_name(&a) => a,
        _ => return Vec::new(),
    };
    let Some(source) = lock
        .sources
        .iter()
        .find(|s| s.location == p.source && s.suite == p.suite)
    else {
        return Vec::new();
    };
    let stamps: Vec<String> = match &source.snapshot {
        Some(t) => vec![t.clone()],
        None => crate::snapshot::around_release_date(&source.date),
    };
    stamps
        .iter()
        .filter_map(|t| mirrors.snapshot(&archive, t).ok())
        .map(|base| format!("{base}/{}", p.filename))
        .filter(|url| *url != p.url)
        .collect()
}

/// The specs and locks of `plans` that planned `p`.
fn locked_by<'a>(
    plans: &'a [Wanted<'a>],
    p: &'a Planned,
) -> impl Iterator<Item = (&'a Path, &'a Lock)> + 'a {
    plans
        .iter()
        .filter(|w| {
            w.levels
                .iter()
                .flat_map(|l| &l.packages)
                .any(|q| q.sha256 == p.sha256)
        })
        .filter_map(|w| w.locked)
}

/// The packages still missing, by the spec whose lock names them. A missing package no
/// lock names (resolved from today's indexes, which list it) is the mirror's fault: the
/// error says which.
fn gone(
    plans: &[Wanted],
    packages: &[&Planned],
    paths: &[Option<PathBuf>],
) -> Result<Vec<Gone>, FetchError> {
    let mut gone: Vec<Gone> = Vec::new();
    for (p, _) in packages.iter().zip(paths).filter(|(_, f)| f.is_none()) {
        let mut specs = locked_by(plans, p).peekable();
        if specs.peek().is_none() {
            return Err(FetchError::NotFound { url: p.url.clone() });
        }
        let missing = format!("{} {}", p.name, p.version);
        for (spec, _) in specs {
            let at = match gone.iter().position(|g| g.spec == spec) {
                Some(at) => at,
                None => {
                    gone.push(Gone {
                        spec: spec.to_path_buf(),
                        missing: Vec::new(),
                    });
                    gone.len() - 1
                }
            };
            if !gone[at].missing.contains(&missing) {
                gone[at].missing.push(missing.clone());
            }
        }
    }
    for g in &mut gone {
        g.missing.sort();
    }
    Ok(gone)
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
