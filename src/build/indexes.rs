//! The package indexes of one platform: every suite's InRelease fetched and verified (signature,
//! suite, dates, architectures), then the first good copy of each `Packages` index, parsed.

use std::sync::Arc;

use anyhow::{Context, Result};
use rayon::prelude::*;

use super::error::BuildError;
use crate::fetch::{Alternatives, Fetcher, Item};
use crate::lock::LockedSource;
use crate::mirror::{MirrorError, Mirrors};
use crate::oci;
use crate::package::{Origin, PackageEntry};
use crate::repo::keyring::Keyring;
use crate::repo::packages;
use crate::repo::release::{FileHash, Release};
use crate::spec::{Platform, Source};

/// Verified indexes of the sources of one platform.
pub struct Indexes {
    pub origins: Vec<Origin>,
    pub packages: Vec<PackageEntry>,
    /// Every suite's verified release file, as the lock records it.
    pub releases: Vec<LockedSource>,
}

/// The `by-hash` copy of the index `name` of a suite
/// (`main/binary-amd64/by-hash/SHA256/<hex>`).
fn by_hash_url(base: &str, suite: &str, name: &str, sha256: &str) -> String {
    let dir = name.rsplit_once('/').map_or("", |(dir, _)| dir);
    format!("{base}/dists/{suite}/{dir}/by-hash/SHA256/{sha256}")
}

/// The URL of a source, mirrors resolved (the snapshot archive's, when it is pinned to one).
pub fn source_url(source: &Source, mirrors: &Mirrors) -> Result<String, MirrorError> {
    mirrors.url_at(&source.location, source.snapshot.as_deref())
}

/// One suite of one source, its release file verified.
struct Suite<'s> {
    source: &'s Source,
    /// The source's URL, mirrors resolved.
    url: String,
    name: &'s String,
    release: Release,
    /// `sha256:` of the verified release text.
    hash: String,
}

/// The keyring that signs `source`'s release files: its `signed-by`, else Debian's.
pub(crate) fn keyring_of(source: &Source) -> Result<Keyring, crate::repo::RepoError> {
    match &source.signed_by {
        Some(path) => Keyring::from_files(&[path.as_path()]),
        None => Keyring::debian(),
    }
}

/// Seconds since 1970, what release dates are checked against.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The lock's `release` of suite `suite` of `source`, among `pins`.
pub(crate) fn pin_of<'p>(
    pins: &'p [LockedSource],
    source: &Source,
    suite: &str,
) -> Option<&'p str> {
    let location = source.location.to_string();
    pins.iter()
        .find(|p| p.location == location && p.suite == suite)
        .map(|p| p.release.as_str())
}

/// Every suite's InRelease, fetched and verified in parallel, kept in spec order.
fn verified_suites<'s>(
    fetcher: &Fetcher,
    mirrors: &Mirrors,
    sources: &'s [Source],
    pins: &[LockedSource],
) -> Result<Vec<Suite<'s>>> {
    let mut suites = Vec::new();
    for source in sources {
        let url = source_url(source, mirrors)?;
        let keyring = Arc::new(keyring_of(source)?);
        for suite in &source.suites {
            suites.push((source, url.clone(), suite, keyring.clone()));
        }
    }
    let now = now();
    suites
        .into_par_iter()
        .map(|(source, url, name, keyring)| {
            let pin = pin_of(pins, source, name);
            let (release, hash) =
                verified_release(fetcher, source, &url, name, &keyring, now, pin)?;
            Ok(Suite {
                source,
                url,
                name,
                release,
                hash,
            })
        })
        .collect()
}

/// Fetch and verify InRelease and the Packages indexes of `sources` for `platform`.
pub fn load_indexes(
    fetcher: &Fetcher,
    mirrors: &Mirrors,
    sources: &[Source],
    platform: &Platform,
) -> Result<Indexes> {
    load_pinned_indexes(fetcher, mirrors, sources, platform, &[])
}

/// As `load_indexes`, but a suite that `pins` (a lock's sources) names must have exactly
/// the release file the pin names, and its `Valid-Until` is not enforced: the lock, not the
/// date, says it is the one wanted (`--vendor`).
pub fn load_pinned_indexes(
    fetcher: &Fetcher,
    mirrors: &Mirrors,
    sources: &[Source],
    platform: &Platform,
    pins: &[LockedSource],
) -> Result<Indexes> {
    let suites = verified_suites(fetcher, mirrors, sources, pins)?;
    platform_indexes(fetcher, &suites, platform)
}

/// As `load_indexes` for several platforms: each suite's release file fetched and verified
/// once, then each platform's indexes read (in parallel), in the order of `platforms`.
pub fn load_indexes_of(
    fetcher: &Fetcher,
    mirrors: &Mirrors,
    sources: &[Source],
    platforms: &[Platform],
) -> Result<Vec<Indexes>> {
    let suites = verified_suites(fetcher, mirrors, sources, &[])?;
    platforms
        .par_iter()
        .map(|p| platform_indexes(fetcher, &suites, p))
        .collect()
}

/// The indexes of `platform` in verified `suites`.
fn platform_indexes(fetcher: &Fetcher, suites: &[Suite], platform: &Platform) -> Result<Indexes> {
    let arch = platform.debian_arch.as_str();
    let releases = suites
        .iter()
        .map(|s| LockedSource {
            location: s.source.location.to_string(),
            suite: s.name.clone(),
            release: s.hash.clone(),
            date: s.release.date.clone().unwrap_or_default(),
            snapshot: s.source.snapshot.clone(),
        })
        .collect();
    let mut origins = Vec::new();
    // Every copy of each index the suite lists, best first: gzip (40% larger than xz but it
    // decodes four times faster, which matters more than the bytes on any link faster than a
    // few MB/s), then xz, then uncompressed; each by its hash (`by-hash/SHA256/...`) where the
    // suite offers it, then by name. apt goes down such a list too: a mirror caught mid-sync
    // serves the file its InRelease names under `by-hash/` while the plain path already (or
    // still) holds another version, and a stale cache may hold one form but not another.
    let mut groups = Vec::new();
    let mut names = Vec::new();
    for Suite {
        source,
        url,
        name: suite,
        release,
        ..
    } in suites
    {
        check_architecture(release, suite, url, platform)?;
        for component in &source.components {
            let (group, copy_names) = index_of(url, suite, release, component, arch)?;
            origins.push(Origin {
                location: source.location.to_string(),
                url: url.clone(),
                suite: (*suite).clone(),
                component: component.clone(),
                architecture: arch.to_owned(),
            });
            groups.push(group);
            names.push(copy_names);
        }
    }
    let parsed = read_indexes(fetcher, &groups, &names)?;
    Ok(Indexes {
        releases,
        origins,
        packages: parsed.into_iter().flatten().collect(),
    })
}

/// A suite whose signed release file names its architectures must name `platform`'s: a
/// Debian release has only some ports (riscv64 from Debian 13 on; a release in LTS keeps
/// fewer in its security suite), and building a platform without its security updates
/// would be worse than not building it.
fn check_architecture(
    release: &Release,
    suite: &str,
    url: &str,
    platform: &Platform,
) -> Result<(), BuildError> {
    let arch = &platform.debian_arch;
    if release.architectures.is_empty() || release.architectures.contains(arch) {
        return Ok(());
    }
    let listed: Vec<&str> = release
        .architectures
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "all")
        .collect();
    Err(BuildError::NoArchitecture {
        suite: suite.to_owned(),
        url: url.to_owned(),
        arch: arch.clone(),
        platform: platform.to_string(),
        listed: listed.join(", "),
    })
}

/// The copies of the `Packages` index of `component` and `arch` a suite lists, best first,
/// and the name of each copy (`main/binary-amd64/Packages.gz`, relative to `dists/SUITE/`).
pub(crate) fn index_of(
    url: &str,
    suite: &str,
    release: &Release,
    component: &str,
    arch: &str,
) -> Result<(Alternatives, Vec<String>), BuildError> {
    let base = format!("{component}/binary-{arch}/Packages");
    let listed: Vec<(String, FileHash)> = ["gz", "xz"]
        .iter()
        .map(|ext| format!("{base}.{ext}"))
        .chain(std::iter::once(base.clone()))
        .filter_map(|name| release.sha256.get(&name).map(|h| (name, h.clone())))
        .collect();
    if listed.is_empty() {
        return Err(BuildError::NoIndex {
            suite: suite.to_owned(),
            url: url.to_owned(),
            index: base,
        });
    }
    Ok(index_copies(url, suite, release, &base, listed))
}

/// The copies of one index, best first (each by hash where the suite offers it, then by
/// name), and the name of each copy.
fn index_copies(
    url: &str,
    suite: &str,
    release: &Release,
    base: &str,
    listed: Vec<(String, FileHash)>,
) -> (Alternatives, Vec<String>) {
    let mut copies = Vec::new();
    let mut names = Vec::new();
    for (name, hash) in listed {
        let by_name = Item {
            url: format!("{url}/dists/{suite}/{name}"),
            sha256: hash.sha256.clone(),
            size: hash.size,
        };
        if release.acquire_by_hash {
            copies.push(Item {
                url: by_hash_url(url, suite, &name, &hash.sha256),
                ..by_name.clone()
            });
            names.push(name.clone());
        }
        copies.push(by_name);
        names.push(name);
    }
    let group = Alternatives {
        what: format!("{url}/dists/{suite}/{base}"),
        copies,
    };
    (group, names)
}

/// Every index of `groups` (copies named by `names`), decompressed and parsed.
///
/// Nothing but verified files comes from the cache: the decompressed index is kept under the
/// SHA256 the release file lists for the plain `Packages` (when it lists it, as Debian does),
/// checked on read like any blob, so a warm build neither downloads nor decompresses, and a
/// rewritten cache file costs a download, never a package no signature covers.
fn read_indexes(
    fetcher: &Fetcher,
    groups: &[Alternatives],
    names: &[Vec<String>],
) -> Result<Vec<Vec<PackageEntry>>> {
    let limit = fetcher.limits().index;
    let plain: Vec<Option<&Item>> = groups
        .iter()
        .zip(names)
        .map(|(g, n)| {
            g.copies
                .iter()
                .zip(n)
                .find(|(_, name)| !name.ends_with(".gz") && !name.ends_with(".xz"))
                .map(|(copy, _)| copy)
        })
        .collect();
    let warm: Vec<Option<Vec<u8>>> = plain
        .par_iter()
        .map(|p| {
            p.filter(|c| c.size <= limit.bytes)
                .and_then(|c| fetcher.cache.get(&c.sha256, c.size))
        })
        .collect();
    let missing: Vec<Alternatives> = groups
        .iter()
        .zip(&warm)
        .filter(|(_, w)| w.is_none())
        .map(|(g, _)| g.clone())
        .collect();
    let mut fetched = fetcher.get_first(&missing, limit, &|_| {})?.into_iter();
    enum Input {
        /// The decompressed index, from the cache.
        Warm(Vec<u8>),
        /// The position of the copy in its group, and its bytes.
        Fetched(usize, Vec<u8>),
    }
    let inputs: Vec<Input> = warm
        .into_iter()
        .map(|w| match w {
            Some(full) => Input::Warm(full),
            None => {
                let (n, raw) = fetched.next().expect("every missing index was fetched");
                Input::Fetched(n, raw)
            }
        })
        .collect();
    inputs
        .into_par_iter()
        .enumerate()
        .map(|(i, input)| -> Result<Vec<PackageEntry>> {
            let (url, full) = match input {
                Input::Warm(full) => (&plain[i].expect("a warm index is plain").url, full),
                Input::Fetched(n, raw) => {
                    let url = &groups[i].copies[n].url;
                    let full = packages::decompress(&names[i][n], &raw, limit.bytes)
                        .with_context(|| format!("cannot read index `{url}`"))?;
                    let listed = plain[i].filter(|p| {
                        p.size == full.len() as u64 && oci::sha256_digest(&full)[7..] == p.sha256
                    });
                    if let Some(p) = listed {
                        fetcher.cache.put(&p.sha256, &full)?;
                    }
                    (url, full)
                }
            };
            let text = String::from_utf8_lossy(&full);
            packages::parse_packages(&text, i).with_context(|| format!("invalid index `{url}`"))
        })
        .collect()
}

/// The Release of `suite`: its InRelease fetched (or, offline, read from the cache), its
/// signature checked against the keyring, its suite and dates checked as apt does (on every
/// use, the cached copy included); with the SHA256 of its text for the lock.
fn verified_release(
    fetcher: &Fetcher,
    source: &Source,
    url: &str,
    suite: &str,
    keyring: &Keyring,
    now: i64,
    pin: Option<&str>,
) -> Result<(Release, String)> {
    let release_url = release_url(url, suite);
    let signed = fetcher
        .get_signed(&release_url)
        .with_context(|| format!("cannot get the release file of suite `{suite}`"))?;
    let checked = check_release(&signed, &release_url, source, suite, keyring, now, pin)?;
    if !fetcher.offline() {
        fetcher.cache.put_signed(&release_url, &signed)?;
    }
    Ok(checked)
}

/// `URL/dists/SUITE/InRelease`.
pub(crate) fn release_url(url: &str, suite: &str) -> String {
    format!("{url}/dists/{suite}/InRelease")
}

/// The InRelease `signed` (from `release_url`) verified: its signature against the keyring,
/// its suite, its dates as apt checks them; with `pin` (a lock's `release`), its text must
/// have that hash, and then `Valid-Until` is not enforced. The release and the `sha256:` of
/// its text, as the lock records it.
pub(crate) fn check_release(
    signed: &[u8],
    release_url: &str,
    source: &Source,
    suite: &str,
    keyring: &Keyring,
    now: i64,
    pin: Option<&str>,
) -> Result<(Release, String)> {
    let text = keyring
        .verify_inrelease(signed, now)
        .with_context(|| format!("`{release_url}` failed signature verification"))?;
    let hash = oci::sha256_digest(text.as_bytes());
    if let Some(locked) = pin.filter(|p| *p != hash) {
        return Err(BuildError::ReleaseNotLocked {
            url: release_url.to_owned(),
            locked: locked.to_owned(),
            found: hash,
        }
        .into());
    }
    let release =
        Release::parse(&text).with_context(|| format!("invalid release file `{release_url}`"))?;
    release
        .check_suite(suite)
        .and_then(|()| release.check_dates(now, source.enforces_valid_until() && pin.is_none()))
        .with_context(|| format!("`{release_url}` refused"))?;
    Ok((release, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hash_copies_live_beside_the_index() {
        assert_eq!(
            by_hash_url(
                "http://m/debian",
                "trixie",
                "main/binary-arm64/Packages.gz",
                "ab12"
            ),
            "http://m/debian/dists/trixie/main/binary-arm64/by-hash/SHA256/ab12"
        );
    }
}
