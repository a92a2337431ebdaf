//! `compose vendor`: a spec's locked inputs copied into a directory that builds read with no
//! network (`compose build --vendor DIR`): each source's InRelease as published, its indexes
//! for the lock's architectures, exactly the locked `.deb`s at their pool paths, and a
//! manifest; and `check_platform`, what a vendored build checks beyond a mirror build.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::build::{self, BuildError, Chain, LockState};
use crate::fetch::{self, Alternatives, Cache, Fetcher, Item, MAX_RELEASE};
use crate::lock::{self, Lock, LockedPackage, LockedSource};
use crate::mirror::Mirrors;
use crate::spec::{Location, Platform, Source};

/// The manifest of a vendored directory, at its root.
pub const MANIFEST: &str = "compose-vendor.json";
const MANIFEST_VERSION: u32 = 1;
/// The largest manifest read back (it lists every file: tens of thousands fit in 64 MiB).
const MAX_MANIFEST: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum VendorError {
    #[error("`{}` has no release of suite `{suite}` of `{location}`", lock.display())]
    NoPin {
        lock: PathBuf,
        location: String,
        suite: String,
    },
    #[error(
        "`{}` holds release {held} of suite `{suite}` of `{location}` for image `{other}`, and the lock of `{name}` names {locked}",
        dir.display()
    )]
    Conflict {
        dir: PathBuf,
        location: String,
        suite: String,
        held: String,
        other: String,
        name: String,
        locked: String,
    },
    #[error("`{}` is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    /// A suite or component of the spec that would leave the source's subtree.
    #[error("cannot vendor `{}`: only plain relative paths are written", path.display())]
    NotPlain { path: PathBuf },
    #[error("cannot write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid vendor manifest `{}`", path.display())]
    Manifest {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "package `{name}` {version} ({platform}) of `{}` is not in the vendored indexes with the lock's file, size and SHA256",
        lock.display()
    )]
    NotInIndex {
        lock: PathBuf,
        name: String,
        version: String,
        platform: String,
    },
}

impl crate::error::Hint for VendorError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            VendorError::NoPin { .. } | VendorError::NotInIndex { .. } => {
                "make the lock again with `compose lock --update SPEC`, then vendor it".into()
            }
            VendorError::Conflict { .. } => "vendor into another directory, or lock both specs again (`compose lock --update`) so that they name the same release".into(),
            VendorError::Manifest { .. } => {
                "vendor every spec again into a new directory".into()
            }
            VendorError::NotPlain { .. } => {
                "name suites and components without `.` or `..` parts".into()
            }
            VendorError::NotADirectory { .. } | VendorError::Write { .. } => return None,
        })
    }
}

/// Where a source's files go in a vendored directory: `archive/NAME` for `archive:NAME`,
/// `url/HOST/PATH` for a URL; each part made of `[A-Za-z0-9._+~-]` (anything else `_`),
/// never `.` or `..`.
pub fn subtree(location: &Location) -> PathBuf {
    let part = |s: &str| -> String {
        let p: String = s
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._+~-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if p.chars().all(|c| c == '.') {
            p.replace('.', "_")
        } else {
            p
        }
    };
    match location {
        Location::Archive(name) => PathBuf::from("archive").join(part(name)),
        Location::Url(url) => {
            let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
            let mut tree = PathBuf::from("url");
            for p in rest.split('/').filter(|p| !p.is_empty()) {
                tree.push(part(p));
            }
            tree
        }
    }
}

/// What `compose vendor` needs.
#[derive(Debug, Clone)]
pub struct VendorOptions {
    pub spec: PathBuf,
    pub dir: PathBuf,
    pub mirrors: Vec<String>,
    /// `--auth-file`s and `--insecure` for the mirrors.
    pub access: crate::mirror::Access,
    pub cache_dir: PathBuf,
    pub jobs: usize,
}

/// What a run of `compose vendor` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorReport {
    /// Every file the spec needs in the directory.
    pub files: usize,
    /// Those written by this run (the others were there with the right hash).
    pub new: usize,
}

/// The manifest: every image vendored and every file, merged across runs.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    version: u32,
    /// By image name: the spec, its lock and the releases it was vendored from.
    images: BTreeMap<String, VendoredImage>,
    /// By path in the directory.
    files: BTreeMap<String, FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VendoredImage {
    spec: String,
    /// `sha256:` of the lock file.
    lock: String,
    sources: Vec<VendoredSource>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VendoredSource {
    location: String,
    suite: String,
    /// The URL it was vendored from (the mirror of that run), for the record.
    url: String,
    /// The source's subtree in the directory.
    path: String,
    /// `sha256:` of the release text, as the lock records it.
    release: String,
    /// `sha256:` of the InRelease file.
    inrelease: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    sha256: String,
    size: u64,
}

/// Copy the spec's locked inputs into `opts.dir` (made if missing), adding to what is there.
pub fn vendor(opts: &VendorOptions) -> Result<VendorReport> {
    let (chain, lock) = fresh_lock(&opts.spec)?;
    let out = Out::create(&opts.dir)?;
    let mut manifest = out.read_manifest()?;
    let mirrors = Mirrors::of_host(&opts.mirrors, &opts.access)?;
    let fetcher = Fetcher::new(Cache::new(opts.cache_dir.clone()), opts.jobs, false)?
        .with_credentials(mirrors.credentials().clone());
    let archs = lock_architectures(&lock)?;
    let mut written = Written::default();
    let mut sources = Vec::new();
    let mut indexes: Vec<(Alternatives, PathBuf, Vec<String>)> = Vec::new();
    for source in chain.sources() {
        let url = build::source_url(&source, &mirrors)?;
        let tree = subtree(&source.location);
        for suite in &source.suites {
            let pin = pin(&lock, &opts.spec, &source, suite)?;
            check_conflict(
                &manifest,
                &out.root,
                &lock.name,
                &source,
                suite,
                &pin.release,
            )?;
            let dists = tree.join("dists").join(suite);
            let own = out.read_small(&dists.join("InRelease"), MAX_RELEASE.bytes)?;
            let found = build::locked_release(&fetcher, &mirrors, &source, suite, pin, own)?;
            // The indexes from where the release was found (the snapshot archive, when the
            // mirror has moved on).
            let base = found
                .url
                .strip_suffix(&format!("/dists/{suite}/InRelease"))
                .unwrap_or(&url)
                .to_owned();
            let (signed, release) = (found.signed, found.release);
            let inrelease = out.put_bytes(&dists.join("InRelease"), &signed, &mut written)?;
            for arch in &archs {
                for component in &source.components {
                    let (group, names) = build::index_of(&base, suite, &release, component, arch)?;
                    indexes.push((group, dists.clone(), names));
                }
            }
            sources.push(VendoredSource {
                location: source.location.to_string(),
                suite: suite.clone(),
                url: crate::mirror::without_credentials(&url),
                path: tree.display().to_string(),
                release: pin.release.clone(),
                inrelease,
            });
        }
    }
    let groups: Vec<Alternatives> = indexes.iter().map(|(g, ..)| g.clone()).collect();
    let got = fetcher.get_first(&groups, fetcher.limits().index, &|_| {})?;
    for ((n, data), (_, dists, names)) in got.into_iter().zip(&indexes) {
        out.put_bytes(&dists.join(&names[n]), &data, &mut written)?;
    }
    vendor_debs(&fetcher, &mirrors, &lock, &out, &mut written)?;
    vendor_url_files(&fetcher, &chain, &out, &mut written)?;
    let lock_path = lock::path_for(&opts.spec);
    let lock_bytes = fs_err::read(&lock_path)?;
    manifest.images.insert(
        lock.name.clone(),
        VendoredImage {
            spec: opts.spec.display().to_string(),
            lock: crate::oci::sha256_digest(&lock_bytes),
            sources,
        },
    );
    let report = VendorReport {
        files: written.files.len(),
        new: written.new,
    };
    manifest.version = MANIFEST_VERSION;
    manifest.files.extend(written.files);
    out.write_manifest(&manifest)?;
    Ok(report)
}

/// The spec's chain and its lock, which must exist and match the spec.
fn fresh_lock(spec: &Path) -> Result<(Chain, Lock)> {
    let mut chain = build::lock_chain(spec, None, None)?;
    let path = lock::path_for(spec);
    match build::lock_state(&path, &chain.levels)? {
        LockState::Fresh(lock) => {
            // A suite the lock read from a snapshot is vendored from there.
            build::pin_from_lock(&mut chain, &lock);
            Ok((chain, lock))
        }
        LockState::Missing => Err(BuildError::NoLock {
            lock: path,
            spec: spec.to_path_buf(),
        }
        .into()),
        LockState::Stale { changed, .. } => Err(BuildError::StaleLock {
            lock: path,
            changed,
            spec: spec.to_path_buf(),
        }
        .into()),
    }
}

/// The Debian architectures of every platform the lock has.
fn lock_architectures(lock: &Lock) -> Result<BTreeSet<String>> {
    let platforms: BTreeSet<&str> = lock.packages.iter().map(|p| p.platform.as_str()).collect();
    platforms
        .into_iter()
        .map(|p| {
            Platform::parse(p)
                .map(|p| p.debian_arch)
                .map_err(anyhow::Error::msg)
        })
        .collect()
}

/// The lock's release of `suite` of `source`.
fn pin<'l>(lock: &'l Lock, spec: &Path, source: &Source, suite: &str) -> Result<&'l LockedSource> {
    let location = source.location.to_string();
    lock.sources
        .iter()
        .find(|p| p.location == location && p.suite == suite)
        .ok_or_else(|| {
            VendorError::NoPin {
                lock: lock::path_for(spec),
                location: source.location.to_string(),
                suite: suite.to_owned(),
            }
            .into()
        })
}

/// One directory holds one release of each suite: another image's, other than `pin`, is
/// refused (its indexes and packages would no longer match).
fn check_conflict(
    manifest: &Manifest,
    dir: &Path,
    name: &str,
    source: &Source,
    suite: &str,
    pin: &str,
) -> Result<()> {
    let location = source.location.to_string();
    for (other, image) in manifest.images.iter().filter(|(n, _)| *n != name) {
        if let Some(s) = image
            .sources
            .iter()
            .find(|s| s.location == location && s.suite == suite && s.release != pin)
        {
            return Err(VendorError::Conflict {
                dir: dir.to_path_buf(),
                location,
                suite: suite.to_owned(),
                held: s.release.clone(),
                other: other.clone(),
                name: name.to_owned(),
                locked: pin.to_owned(),
            }
            .into());
        }
    }
    Ok(())
}

/// Every `.deb` of the lock (all platforms, all layers) at its pool path: those already there
/// with the lock's hash are kept, the others fetched through the cache and copied.
fn vendor_debs(
    fetcher: &Fetcher,
    mirrors: &Mirrors,
    lock: &Lock,
    out: &Out,
    written: &mut Written,
) -> Result<()> {
    let mut seen = BTreeSet::new();
    let packages: Vec<&LockedPackage> = lock
        .packages
        .iter()
        .filter(|p| seen.insert((&p.source, &p.filename)))
        .collect();
    let mut wanted: Vec<(PathBuf, Item)> = Vec::new();
    for p in packages {
        let location = Location::parse(&p.source);
        let base = mirrors.url_of(&location)?;
        let rel = subtree(&location).join(&p.filename);
        let entry = FileEntry {
            sha256: p.sha256.clone(),
            size: p.size,
        };
        if out.has(&rel, &entry)? {
            written.files.insert(rel.display().to_string(), entry);
            continue;
        }
        let planned = p.planned(&base)?;
        let item = Item {
            url: planned.url,
            sha256: p.sha256.clone(),
            size: p.size,
        };
        wanted.push((rel, item));
    }
    let items: Vec<Item> = wanted.iter().map(|(_, i)| i.clone()).collect();
    let paths = fetcher.get_all(&items, &|_| {})?;
    for ((rel, item), path) in wanted.iter().zip(paths) {
        out.put_file(rel, &path, item, written)?;
    }
    Ok(())
}

/// Where a `[[files]] url` file is kept in a vendored directory: by its pinned SHA256.
pub fn pinned_file(sha256: &str) -> PathBuf {
    Path::new("files/sha256").join(sha256)
}

/// Every `[[files]] url` file of the chain at `files/sha256/<hex>`, fetched through the cache
/// by the SHA256 the spec pins (a `source` file lives beside the spec already).
fn vendor_url_files(
    fetcher: &Fetcher,
    chain: &Chain,
    out: &Out,
    written: &mut Written,
) -> Result<()> {
    for f in chain.levels.iter().flat_map(|s| &s.files) {
        let crate::spec::FileOrigin::Url(url) = &f.origin else {
            continue;
        };
        let rel = pinned_file(&f.sha256);
        let path = fetcher.get_pinned(url, &f.sha256, crate::fetch::MAX_SPEC_FILE)?;
        let size = fs_err::metadata(&path)?.len();
        let entry = FileEntry {
            sha256: f.sha256.clone(),
            size,
        };
        if out.has(&rel, &entry)? {
            written.files.insert(rel.display().to_string(), entry);
            continue;
        }
        let item = Item {
            url: url.clone(),
            sha256: f.sha256.clone(),
            size,
        };
        out.put_file(&rel, &path, &item, written)?;
    }
    Ok(())
}

/// The files of this run, by path, and how many it wrote.
#[derive(Debug, Default)]
struct Written {
    files: BTreeMap<String, FileEntry>,
    new: usize,
}

/// The vendored directory, written only below its root, never through a symlink.
struct Out {
    root: PathBuf,
}

impl Out {
    fn create(dir: &Path) -> Result<Out> {
        fs_err::create_dir_all(dir).map_err(|source| VendorError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        if !dir.is_dir() {
            return Err(VendorError::NotADirectory {
                path: dir.to_path_buf(),
            }
            .into());
        }
        Ok(Out {
            root: dir.to_path_buf(),
        })
    }

    /// The path of `rel` (relative, plain parts only), every directory on its way below the
    /// root made if missing and refused if it is a symlink or not a directory.
    fn target(&self, rel: &Path) -> Result<PathBuf> {
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(VendorError::NotPlain {
                path: rel.to_path_buf(),
            }
            .into());
        }
        let mut dir = self.root.clone();
        if let Some(parent) = rel.parent() {
            for part in parent.components() {
                dir.push(part);
                match fs_err::symlink_metadata(&dir) {
                    Ok(m) if m.is_dir() => {}
                    Ok(m) => {
                        return Err(fetch::unsafe_entry(&dir, m.file_type().is_symlink()).into());
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        fs_err::create_dir(&dir)?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(self.root.join(rel))
    }

    /// The bytes of `rel`, if it is a regular file of at most `max` bytes (reached, as
    /// everything below the root, through real directories only).
    fn read_small(&self, rel: &Path, max: u64) -> Result<Option<Vec<u8>>> {
        let path = self.target(rel)?;
        let Some(file) = fetch::open_regular(&path)? else {
            return Ok(None);
        };
        let mut data = Vec::new();
        file.take(max + 1).read_to_end(&mut data)?;
        Ok((data.len() as u64 <= max).then_some(data))
    }

    /// Whether `rel` is already a regular file of this size and SHA256 (hashed as a stream).
    fn has(&self, rel: &Path, entry: &FileEntry) -> Result<bool> {
        let path = self.target(rel)?;
        let Some(file) = fetch::open_regular(&path)? else {
            return Ok(false);
        };
        if file.metadata()?.len() != entry.size {
            return Ok(false);
        }
        let mut hasher = Sha256::new();
        std::io::copy(&mut file.take(entry.size + 1), &mut hasher)?;
        Ok(hex::encode(hasher.finalize()) == entry.sha256)
    }

    /// Write `data` at `rel` unless it is there already; the file's `sha256:`.
    fn put_bytes(&self, rel: &Path, data: &[u8], written: &mut Written) -> Result<String> {
        let entry = FileEntry {
            sha256: hex::encode(Sha256::digest(data)),
            size: data.len() as u64,
        };
        if !self.has(rel, &entry)? {
            let path = self.target(rel)?;
            crate::atomic::write(&path, data)
                .map_err(|source| VendorError::Write { path, source })?;
            written.new += 1;
        }
        let digest = format!("sha256:{}", entry.sha256);
        written.files.insert(rel.display().to_string(), entry);
        Ok(digest)
    }

    /// Copy the verified cache file `from` of `item` to `rel` through a temporary beside it,
    /// checked again as it is copied.
    fn put_file(&self, rel: &Path, from: &Path, item: &Item, written: &mut Written) -> Result<()> {
        let path = self.target(rel)?;
        let dir = crate::atomic::parent_dir(&path);
        let write_err = |source| VendorError::Write {
            path: path.clone(),
            source,
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".compose-")
            .tempfile_in(&dir)
            .map_err(write_err)?;
        let mut reader = fetch::Hashing::open(from)?;
        std::io::copy(&mut reader, tmp.as_file_mut()).map_err(write_err)?;
        reader.finish(&item.sha256, item.size)?;
        tmp.persist(&path).map_err(|e| write_err(e.error))?;
        written.new += 1;
        written.files.insert(
            rel.display().to_string(),
            FileEntry {
                sha256: item.sha256.clone(),
                size: item.size,
            },
        );
        Ok(())
    }

    fn read_manifest(&self) -> Result<Manifest> {
        let path = self.root.join(MANIFEST);
        let Some(bytes) = self.read_small(Path::new(MANIFEST), MAX_MANIFEST)? else {
            return Ok(Manifest::default());
        };
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|source| VendorError::Manifest { path, source })?;
        Ok(manifest)
    }

    fn write_manifest(&self, manifest: &Manifest) -> Result<()> {
        let path = self.target(Path::new(MANIFEST))?;
        let mut text = serde_json::to_vec_pretty(manifest)?;
        text.push(b'\n');
        crate::atomic::write(&path, &text).map_err(|source| VendorError::Write { path, source })?;
        Ok(())
    }
}

/// The longest mirror URL taken from a manifest.
const MAX_RECORDED_URL: usize = 2048;

/// The mirror each source's subtree of the vendored directory `dir` was vendored from, as
/// its manifest records it (`url` by `path`): only plain relative paths and `http(s)` URLs of
/// printable ASCII are taken, their credentials left out; a missing or unreadable manifest
/// records none. For reporting only: a vendored build reads `dir`.
pub fn recorded_mirrors(dir: &Path) -> BTreeMap<PathBuf, String> {
    let out = Out {
        root: dir.to_path_buf(),
    };
    let Ok(manifest) = out.read_manifest() else {
        return BTreeMap::new();
    };
    let mut mirrors = BTreeMap::new();
    for source in manifest.images.values().flat_map(|i| &i.sources) {
        let path = PathBuf::from(&source.path);
        let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
        let url = &source.url;
        let good = (url.starts_with("http://") || url.starts_with("https://"))
            && url.len() <= MAX_RECORDED_URL
            && url.bytes().all(|b| b.is_ascii_graphic());
        if plain && good {
            mirrors
                .entry(path)
                .or_insert_with(|| crate::mirror::without_credentials(url));
        }
    }
    mirrors
}

/// What a vendored build (`--vendor`) checks of a locked platform beyond a mirror build: every
/// suite's InRelease verified and the lock's (`build::load_pinned_indexes`), its indexes
/// verified against it, and every package the lock has for `platform` listed there with the
/// lock's file, size and SHA256, so each `.deb` is covered by the signature, not the lock
/// alone.
pub fn check_platform(
    fetcher: &Fetcher,
    mirrors: &Mirrors,
    sources: &[Source],
    platform: &Platform,
    lock: &Lock,
    lock_path: &Path,
) -> Result<()> {
    for source in sources {
        for suite in &source.suites {
            if build::pin_of(&lock.sources, source, suite).is_none() {
                return Err(VendorError::NoPin {
                    lock: lock_path.to_path_buf(),
                    location: source.location.to_string(),
                    suite: suite.clone(),
                }
                .into());
            }
        }
    }
    let indexes = build::load_pinned_indexes(fetcher, mirrors, sources, platform, &lock.sources)?;
    let listed: BTreeSet<(&str, &str, u64)> = indexes
        .packages
        .iter()
        .map(|e| (e.filename.as_str(), e.sha256.as_str(), e.size))
        .collect();
    let name = platform.to_string();
    let missing = lock
        .packages
        .iter()
        .filter(|p| p.platform == name)
        .find(|p| !listed.contains(&(p.filename.as_str(), p.sha256.as_str(), p.size)));
    if let Some(p) = missing {
        return Err(VendorError::NotInIndex {
            lock: lock_path.to_path_buf(),
            name: p.name.clone(),
            version: p.version.clone(),
            platform: name,
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtrees_are_plain_relative_paths() {
        let t = |l: Location| subtree(&l).display().to_string();
        assert_eq!(t(Location::Archive("debian".into())), "archive/debian");
        assert_eq!(
            t(Location::Url("http://127.0.0.1:8080/debian/".into())),
            "url/127.0.0.1_8080/debian"
        );
        assert_eq!(
            t(Location::Url("https://h/../a/./b%2f?x".into())),
            "url/h/__/a/_/b_2f_x"
        );
        assert_eq!(t(Location::Archive("..".into())), "archive/__");
        for l in [
            Location::Archive("../x".into()),
            Location::Url("http://a/../../etc".into()),
        ] {
            assert!(
                subtree(&l)
                    .components()
                    .all(|c| matches!(c, Component::Normal(_))),
                "{l}"
            );
        }
    }
}
