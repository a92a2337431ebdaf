//! Refreshing a lock: the platforms it covers, its packages as index entries, and the
//! indexes a `--security-only` refresh (or a `why` about the locked image) resolves from.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};

use super::indexes::Indexes;
use crate::fetch::{Fetcher, Hashing, Item};
use crate::lock::{Lock, LockedPackage};
use crate::mirror::Mirrors;
use crate::package::{Origin, PackageEntry};
use crate::spec::{Location, Platform};
use crate::suite::SuiteKind;

/// Every platform a lock records, in its order (`linux/amd64`, `linux/arm64/v8`).
pub fn locked_platforms(lock: &Lock, path: &Path) -> Result<Vec<Platform>> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for p in &lock.packages {
        if seen.insert(p.platform.as_str()) {
            out.push(
                Platform::parse(&p.platform)
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("`{}`", path.display()))?,
            );
        }
    }
    Ok(out)
}

/// The platforms a refresh locks: `--platform` when given, else every platform of the old
/// lock and then those of the spec it lacks (a refresh never silently drops one).
pub fn refresh_platforms(
    given: Option<Vec<Platform>>,
    old: Option<(&Lock, &Path)>,
    spec: &[Platform],
) -> Result<Option<Vec<Platform>>> {
    if given.is_some() {
        return Ok(given);
    }
    let Some((lock, path)) = old else {
        return Ok(None);
    };
    let mut out = locked_platforms(lock, path)?;
    for p in spec {
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    Ok(Some(out))
}

/// The packages the lock records for `platform`, as an index lists them: the indexes' own
/// entry where they still list that very file (by SHA256), else the `.deb`'s control, the
/// file fetched by the lock's SHA256 like any download (a version the mirror has replaced).
pub fn locked_entries(
    lock: &Lock,
    platform: &Platform,
    indexes: &mut Indexes,
    fetcher: &Fetcher,
    mirrors: &Mirrors,
) -> Result<Vec<PackageEntry>> {
    let name = platform.to_string();
    let locked: Vec<&LockedPackage> = lock
        .packages
        .iter()
        .filter(|p| p.platform == name)
        .collect();
    // The indexes by file hash, looked up once per locked package.
    let by_hash: std::collections::HashMap<&str, &PackageEntry> = indexes
        .packages
        .iter()
        .map(|e| (e.sha256.as_str(), e))
        .collect();
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for p in locked {
        match by_hash.get(p.sha256.as_str()) {
            Some(e) => out.push((*e).clone()),
            None => missing.push(p),
        }
    }
    if missing.is_empty() {
        return Ok(out);
    }
    let mut items = Vec::new();
    for p in &missing {
        let snapshot = lock
            .sources
            .iter()
            .find(|s| s.location == p.source && s.suite == p.suite)
            .and_then(|s| s.snapshot.as_deref());
        let base = mirrors.url_at(&Location::parse(&p.source), snapshot)?;
        items.push(Item {
            url: format!("{base}/{}", p.filename),
            sha256: p.sha256.clone(),
            size: p.size,
        });
    }
    let files = fetcher.get_all(&items, &|_| {})?;
    for ((p, item), file) in missing.iter().zip(&items).zip(&files) {
        let origin = origin_of(indexes, p, &item.url, &platform.debian_arch);
        out.push(entry_of_deb(p, file, origin)?);
    }
    Ok(out)
}

/// The index of the origin `p` came from, added when the indexes have none (a suite the
/// spec no longer reads).
fn origin_of(indexes: &mut Indexes, p: &LockedPackage, url: &str, arch: &str) -> usize {
    let component = p.filename.split('/').nth(1).unwrap_or("main").to_owned();
    let found = indexes
        .origins
        .iter()
        .position(|o| o.location == p.source && o.suite == p.suite && o.component == component);
    found.unwrap_or_else(|| {
        let base = url.strip_suffix(&format!("/{}", p.filename)).unwrap_or(url);
        indexes.origins.push(Origin {
            location: p.source.clone(),
            url: base.to_owned(),
            suite: p.suite.clone(),
            component,
            architecture: arch.to_owned(),
        });
        indexes.origins.len() - 1
    })
}

/// A locked package's index entry made from its `.deb`'s control and the lock's file
/// fields, parsed by the one Packages parser (every field check applies).
fn entry_of_deb(p: &LockedPackage, file: &Path, origin: usize) -> Result<PackageEntry> {
    let version = p.version.clone();
    let identity = crate::deb::Identity {
        name: &p.name,
        version: &version,
        architecture: &p.architecture,
    };
    let mut reader = Hashing::open(file)?;
    let control = crate::deb::control(
        &identity,
        std::io::BufReader::with_capacity(64 << 10, &mut reader),
    );
    reader.finish(&p.sha256, p.size)?;
    let control = control?;
    let stanza = format!(
        "{}\nFilename: {}\nSize: {}\nSHA256: {}\n",
        control.trim_end(),
        p.filename,
        p.size,
        p.sha256
    );
    let mut entries = crate::repo::packages::parse_packages(&stanza, origin)?;
    entries
        .pop()
        .with_context(|| format!("the control of `{}` {} lists no package", p.name, p.version))
}

/// The indexes a `--security-only` refresh resolves from: each package the lock has on this
/// platform at its locked version, or at a version a security suite offers; packages the
/// lock does not have (a newer version's new dependencies) at any version.
pub fn security_only(indexes: &Indexes, locked: Vec<PackageEntry>) -> Indexes {
    let names: BTreeSet<&str> = locked.iter().map(|e| e.name.as_str()).collect();
    let hashes: BTreeSet<&str> = locked.iter().map(|e| e.sha256.as_str()).collect();
    let security = |e: &PackageEntry| {
        indexes
            .origins
            .get(e.origin)
            .is_some_and(|o| SuiteKind::of(&o.suite).is_security())
    };
    let mut packages: Vec<PackageEntry> = indexes
        .packages
        .iter()
        .filter(|e| {
            !names.contains(e.name.as_str()) || (security(e) && !hashes.contains(e.sha256.as_str()))
        })
        .cloned()
        .collect();
    packages.extend(locked.iter().cloned());
    Indexes {
        origins: indexes.origins.clone(),
        packages,
        releases: indexes.releases.clone(),
    }
}

/// Only the lock's packages: resolving the chain from them gives the locked image, with the
/// reasons `why` explains.
pub fn only_locked(indexes: &Indexes, locked: Vec<PackageEntry>) -> Indexes {
    Indexes {
        origins: indexes.origins.clone(),
        packages: locked,
        releases: indexes.releases.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::{MultiArch, Priority};

    fn entry(name: &str, version: &str, origin: usize, sha: &str) -> PackageEntry {
        PackageEntry {
            name: name.into(),
            version: version.parse().unwrap(),
            architecture: "amd64".into(),
            multi_arch: MultiArch::No,
            depends_raw: String::new(),
            provides: Vec::new(),
            filename: format!("pool/main/x/{name}/{name}_{version}_amd64.deb"),
            size: 1,
            sha256: sha.repeat(64),
            origin,
            priority: Priority::Optional,
            essential: false,
            protected: false,
        }
    }

    fn origin(suite: &str) -> Origin {
        Origin {
            location: "archive:debian".into(),
            url: "http://mirror.invalid/debian".into(),
            suite: suite.into(),
            component: "main".into(),
            architecture: "amd64".into(),
        }
    }

    #[test]
    fn security_only_keeps_locked_versions_and_offers_security_ones() {
        let indexes = Indexes {
            origins: vec![
                origin("trixie"),
                origin("trixie-updates"),
                origin("trixie-security"),
            ],
            packages: vec![
                entry("libssl", "3.5.1-1", 0, "a"),
                entry("libssl", "3.5.10-1", 2, "b"),
                entry("tzdata", "2026f-1", 0, "c"),
                entry("tzdata", "2026g-1", 1, "d"),
                entry("newdep", "1.0", 0, "e"),
            ],
            releases: Vec::new(),
        };
        let locked = vec![
            entry("libssl", "3.5.9-1", 2, "f"),
            entry("tzdata", "2026f-1", 0, "c"),
        ];
        let out = security_only(&indexes, locked);
        let mut got: Vec<(String, String)> = out
            .packages
            .iter()
            .map(|e| (e.name.clone(), e.version.to_string()))
            .collect();
        got.sort();
        let want: Vec<(String, String)> = [
            ("libssl", "3.5.10-1"),
            ("libssl", "3.5.9-1"),
            ("newdep", "1.0"),
            ("tzdata", "2026f-1"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(got, want);
    }
}
