//! What an update fixes: the packages two locks (or images) differ in, each upgrade with the
//! changelog entries above the old version (suite, urgency, the CVE ids they name) and,
//! given the security tracker's data, the CVEs it fixes and those left open. Shared by
//! `compose outdated` (the lock against a fresh resolution) and `compose diff`.

pub mod changelogs;
mod outdated;
mod render;
mod sides;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use serde::Serialize;

use crate::changelog::{self, Entry};
use crate::lock::{self, Change as Kind, Lock, LockedPackage};
use crate::mirror::Mirrors;
use crate::package::Version;
use crate::spec::Location;
use crate::suite::SuiteKind;
use crate::tracker::Tracker;
use changelogs::{Changelogs, DebRef, Found};

pub use outdated::{FailOn, OutdatedOptions, outdated};
pub use render::{Format, render};
pub use sides::{Side, align, side};

/// One package's change between the two sides, its platforms together when they agree.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub name: String,
    pub platforms: Vec<String>,
    pub change: Kind,
    pub old: Option<String>,
    pub new: Option<String>,
    /// The Debian source package (from the pool path, or the image's `Source:`).
    pub source: Option<String>,
    /// The suite the new version comes from, and what kind of suite it is.
    pub suite: Option<String>,
    pub kind: Option<SuiteKind>,
    /// The highest urgency of the changelog entries above the old version.
    pub urgency: Option<String>,
    /// Every CVE id the update fixes: named by those changelog entries, or by the tracker.
    pub cves: Vec<String>,
    /// The changelog entries above the old version, newest first.
    pub entries: Vec<Entry>,
    /// The CVEs only the security tracker names (a subset of `cves`).
    pub tracker_only: Vec<String>,
    /// What could not be seen (no changelog, offline, malformed entries): one line each.
    pub notes: Vec<String>,
}

impl Change {
    /// From a security suite, or fixing a named CVE.
    pub fn is_security(&self) -> bool {
        self.kind.is_some_and(SuiteKind::is_security) || !self.cves.is_empty()
    }
}

/// A CVE the tracker says is still open in a locked version.
#[derive(Debug, Clone, Serialize)]
pub struct OpenCve {
    pub source: String,
    pub version: String,
    pub id: String,
    pub urgency: Option<String>,
    /// Debian's label: `no-dsa`, `postponed`, `ignored`, `unimportant`, `end-of-life`.
    pub label: Option<String>,
    /// Whether the new side fixes it.
    pub fixed: bool,
}

/// The comparison of two sides.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was compared (`python3`, or `OLD -> NEW`).
    pub title: String,
    /// Packages on the old side (per platform) and how many of them did not change.
    pub packages: usize,
    pub unchanged: usize,
    pub changes: Vec<Change>,
    /// With a tracker: CVEs open in the old side's versions.
    pub open: Vec<OpenCve>,
    pub notes: Vec<String>,
}

/// What finding changelogs and CVEs needs.
pub struct Context<'a> {
    pub changelogs: Changelogs<'a>,
    pub mirrors: &'a Mirrors,
    pub tracker: Option<&'a Tracker>,
}

/// The tracker's data for the packages of `sides`, for `release` (default: the release the
/// sides' locks read).
pub fn tracker_for(
    text: &str,
    fetcher: &crate::fetch::Fetcher,
    release: Option<&str>,
    sides: &[&Side],
) -> Result<Tracker> {
    let locks: Vec<&Lock> = sides.iter().map(|s| &s.lock).collect();
    let release = match release {
        Some(r) => r.to_owned(),
        None => outdated::release_of(&locks),
    };
    if release.is_empty() {
        anyhow::bail!(
            "no Debian release to read the security tracker for: neither side is a lock (pass `--release trixie`)"
        );
    }
    let sources: BTreeSet<String> = sides
        .iter()
        .flat_map(|s| s.lock.packages.iter().filter_map(|p| side_source(s, p)))
        .collect();
    outdated::read_tracker(text, fetcher, &release, &sources)
}

/// The source package of a `.deb` from its pool path (`pool/main/o/openssl/...`).
pub fn source_of_filename(filename: &str) -> Option<&str> {
    let parts: Vec<&str> = filename.split('/').collect();
    match parts.as_slice() {
        ["pool", _, _, source, _] if crate::package::valid_name(source) => Some(source),
        _ => None,
    }
}

/// Compare `old` and `new` and say what each upgrade fixes.
pub fn compare(title: String, old: &Side, new: &Side, cx: &Context) -> Result<Report> {
    let rows = lock::diff(&old.lock, &new.lock);
    let mut changes = group(&rows);
    let refs: Vec<(usize, DebRef)> = changes
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c.change, Kind::Upgraded | Kind::Rebuilt))
        .filter_map(|(i, c)| deb_ref(c, new, cx.mirrors).map(|r| (i, r)))
        .collect();
    let found = cx
        .changelogs
        .get(&refs.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>())?;
    let found = follow_links(&refs, found, &changes, new, cx)?;
    for c in &mut changes {
        describe(c, old, new);
    }
    for ((i, _), found) in refs.iter().zip(found) {
        read_changelog(&mut changes[*i], found);
    }
    for (i, c) in changes.iter_mut().enumerate() {
        if c.change == Kind::Upgraded && !refs.iter().any(|(r, _)| *r == i) {
            c.notes.push(format!(
                "no changelog: {} does not say which `.deb` it holds (an image's must be in the cache)",
                new.what
            ));
        }
    }
    if let Some(tracker) = cx.tracker {
        for c in &mut changes {
            add_tracker(c, tracker);
        }
    }
    let open = cx
        .tracker
        .map(|t| open_cves(old, &changes, t))
        .unwrap_or_default();
    let packages = old.lock.packages.len();
    let changed: usize = changes
        .iter()
        .filter(|c| c.change != Kind::Added)
        .map(|c| c.platforms.len())
        .sum();
    let mut notes = old.notes.clone();
    notes.extend(new.notes.iter().cloned());
    Ok(Report {
        title,
        packages,
        unchanged: packages.saturating_sub(changed),
        changes,
        open,
        notes,
    })
}

/// The diff's rows, one per package and change, with the platforms that agree.
fn group(rows: &[lock::DiffRow]) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::new();
    for r in rows {
        if let Some(c) = out
            .iter_mut()
            .find(|c| c.name == r.name && c.change == r.change && c.old == r.old && c.new == r.new)
        {
            c.platforms.push(r.platform.clone());
            continue;
        }
        out.push(Change {
            name: r.name.clone(),
            platforms: vec![r.platform.clone()],
            change: r.change.clone(),
            old: r.old.clone(),
            new: r.new.clone(),
            source: None,
            suite: None,
            kind: None,
            urgency: None,
            cves: Vec::new(),
            entries: Vec::new(),
            tracker_only: Vec::new(),
            notes: Vec::new(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.platforms.cmp(&b.platforms)));
    out
}

/// The locked package of `name` on `platform` of a side.
fn package<'a>(side: &'a Side, platform: &str, name: &str) -> Option<&'a LockedPackage> {
    side.lock
        .packages
        .iter()
        .find(|p| p.platform == platform && p.name == name)
}

/// Source package and suite of a change, from the new side (the old for a removal).
fn describe(c: &mut Change, old: &Side, new: &Side) {
    let platform = &c.platforms[0];
    let p = package(new, platform, &c.name).or_else(|| package(old, platform, &c.name));
    if let Some(p) = p {
        c.source = side_source(new, p).or_else(|| side_source(old, p));
        if !p.suite.is_empty() && c.change != Kind::Removed {
            c.suite = Some(p.suite.clone());
            c.kind = Some(SuiteKind::of(&p.suite));
        }
    }
}

fn side_source(side: &Side, p: &LockedPackage) -> Option<String> {
    side.sources
        .get(&(p.platform.clone(), p.name.clone()))
        .cloned()
        .or_else(|| source_of_filename(&p.filename).map(str::to_owned))
}

/// The `.deb` of a change's new version, where the new side says how to find it.
fn deb_ref(c: &Change, new: &Side, mirrors: &Mirrors) -> Option<DebRef> {
    let p = package(new, &c.platforms[0], &c.name)?;
    if p.sha256.is_empty() || p.filename.is_empty() || p.size == 0 {
        return None;
    }
    Some(DebRef {
        name: p.name.clone(),
        version: p.version.clone(),
        architecture: p.architecture.clone(),
        urls: deb_urls(p, &new.lock, mirrors),
        sha256: p.sha256.clone(),
        size: p.size,
    })
}

/// Where a `.deb` may be: its source's mirror (at the lock's snapshot); for an image, which
/// names no source, each of Debian's archives as the mirrors resolve them.
fn deb_urls(p: &LockedPackage, lock: &Lock, mirrors: &Mirrors) -> Vec<String> {
    let locations: Vec<(Location, Option<String>)> = if p.source.is_empty() {
        ["debian", "debian-security"]
            .iter()
            .map(|a| (Location::Archive((*a).to_owned()), None))
            .collect()
    } else {
        let snapshot = lock
            .sources
            .iter()
            .find(|s| s.location == p.source && s.suite == p.suite)
            .and_then(|s| s.snapshot.clone());
        vec![(Location::parse(&p.source), snapshot)]
    };
    locations
        .iter()
        .filter_map(|(l, snap)| mirrors.url_at(l, snap.as_deref()).ok())
        .map(|base| format!("{base}/{}", p.filename))
        .collect()
}

/// A package whose doc directory links to another's (libstdc++6 -> gcc-14-base) takes the
/// changelog of that package's new version, when the new side has it from the same source.
fn follow_links(
    refs: &[(usize, DebRef)],
    mut found: Vec<Found>,
    changes: &[Change],
    new: &Side,
    cx: &Context,
) -> Result<Vec<Found>> {
    let mut linked: Vec<(usize, DebRef)> = Vec::new();
    for (slot, ((i, _), f)) in refs.iter().zip(&found).enumerate() {
        let Found::LinkedTo(dir) = f else { continue };
        let c = &changes[*i];
        let Some(target) = package(new, &c.platforms[0], dir) else {
            continue;
        };
        let own = package(new, &c.platforms[0], &c.name);
        let same_source = own.is_some_and(|o| side_source(new, o) == side_source(new, target));
        let as_change = Change {
            name: target.name.clone(),
            platforms: c.platforms.clone(),
            ..c.clone()
        };
        if let (true, Some(r)) = (same_source, deb_ref(&as_change, new, cx.mirrors)) {
            linked.push((slot, r));
        }
    }
    let targets = cx
        .changelogs
        .get(&linked.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>())?;
    for ((slot, _), f) in linked.iter().zip(targets) {
        if matches!(f, Found::Gz(_)) {
            found[*slot] = f;
        }
    }
    Ok(found)
}

/// The entries of `found` above the change's old version.
fn read_changelog(c: &mut Change, found: Found) {
    let gz = match found {
        Found::Gz(gz) => gz,
        Found::LinkedTo(dir) => {
            return c.notes.push(format!(
                "no changelog: `{}` keeps its documentation in `{dir}`, which the new side does not have at a version of the same source",
                c.name
            ));
        }
        Found::Missing => {
            return c
                .notes
                .push(format!("no changelog: `{}` ships none", c.name));
        }
        Found::NotCached => {
            return c.notes.push(format!(
                "changelog of `{}` {} not in the cache (`--offline`): its CVEs are not shown",
                c.name,
                c.new.as_deref().unwrap_or("")
            ));
        }
        Found::NotFound => {
            return c.notes.push(format!(
                "changelog of `{}` {} not read: no mirror has its `.deb`",
                c.name,
                c.new.as_deref().unwrap_or("")
            ));
        }
        Found::Unreadable(why) => {
            return c
                .notes
                .push(format!("changelog of `{}` not read: {why}", c.name));
        }
    };
    let since: Option<Version> = c.old.as_deref().and_then(|v| v.parse().ok());
    match changelog::read_gz(gz.as_slice(), since.as_ref()) {
        Ok(log) => {
            for w in &log.warnings {
                c.notes.push(format!("changelog of `{}`: {w}", c.name));
            }
            if !log.reached && since.is_some() {
                c.notes.push(format!(
                    "changelog of `{}` does not reach {}: older entries may be missing",
                    c.name,
                    c.old.as_deref().unwrap_or("")
                ));
            }
            c.cves = changelog::sorted_ids(log.entries.iter().flat_map(|e| e.cves.clone()));
            c.urgency = highest_urgency(&log.entries);
            c.entries = log.entries;
        }
        Err(e) => c.notes.push(format!(
            "changelog of `{}` not read: {:#}",
            c.name,
            anyhow::Error::new(e)
        )),
    }
}

/// The most urgent of the entries' urgencies (Debian's order: low, medium, high,
/// emergency, critical).
fn highest_urgency(entries: &[Entry]) -> Option<String> {
    const ORDER: [&str; 5] = ["low", "medium", "high", "emergency", "critical"];
    entries
        .iter()
        .filter_map(|e| {
            let word = e.urgency.as_str();
            ORDER
                .iter()
                .position(|o| *o == word)
                .map(|rank| (rank, word))
        })
        .max()
        .map(|(_, w)| w.to_owned())
}

/// CVEs the tracker says the upgrade fixes that its changelog does not name.
fn add_tracker(c: &mut Change, tracker: &Tracker) {
    let (Some(source), Some(old), Some(new)) = (&c.source, &c.old, &c.new) else {
        return;
    };
    let (Ok(old), Ok(new)) = (old.parse::<Version>(), new.parse::<Version>()) else {
        return;
    };
    let mut all: BTreeSet<String> = c.cves.iter().cloned().collect();
    for cve in tracker.fixed_between(source, &old, &new) {
        if all.insert(cve.id.clone()) {
            c.tracker_only.push(cve.id.clone());
        }
    }
    c.cves = changelog::sorted_ids(all);
}

/// Every CVE the tracker says is open in a version of the old side, once per source package
/// and version, marked when a change fixes it.
fn open_cves(old: &Side, changes: &[Change], tracker: &Tracker) -> Vec<OpenCve> {
    let mut seen: BTreeMap<(String, String), ()> = BTreeMap::new();
    let mut out = Vec::new();
    for p in &old.lock.packages {
        let Some(source) = side_source(old, p) else {
            continue;
        };
        if seen
            .insert((source.clone(), p.version.clone()), ())
            .is_some()
        {
            continue;
        }
        let Ok(version) = p.version.parse::<Version>() else {
            continue;
        };
        for cve in tracker.open_in(&source, &version) {
            let fixed = changes
                .iter()
                .any(|c| c.source.as_deref() == Some(source.as_str()) && c.cves.contains(&cve.id));
            out.push(OpenCve {
                source: source.clone(),
                version: p.version.clone(),
                id: cve.id.clone(),
                urgency: cve.urgency.clone(),
                label: cve.label().map(str::to_owned),
                fixed,
            });
        }
    }
    out
}
