//! The layer cache: finished layer blobs by the digest of everything that decides their
//! bytes (the key, computed by `build`), in tiers that are each a place to keep them (a
//! local directory, an OCI layout, a registry repository). Knows nothing of Debian: an
//! entry is a layer descriptor and the build's own metadata, opaque here. Every blob is
//! hostile until its digest is checked: a hit is copied out through a hash, and one that
//! does not match is dropped from its tier and treated as a miss.

mod artifact;
mod layout;
mod local;
mod registry;

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::layer::Hashing;
use sha2::{Digest, Sha256};

pub use layout::OciDir;
pub use local::LocalDir;
pub use registry::RegistryTier;

/// The most an entry's JSON may be (its metadata lists a level's packages).
pub const ENTRY_LIMIT: u64 = 4 << 20;

/// The media type of an entry's JSON, as the config of the OCI artifact that stores an
/// entry in a layout or a registry (its one layer is the cached layer).
pub const ENTRY_MEDIA_TYPE: &str = "application/vnd.compose.layer-cache.entry.v1+json";

/// The artifact type of a cache entry's manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.compose.layer-cache.v1";

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot use the layer cache at `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    File(crate::oci::OciError),
    #[error("the layer cache entry `{key}` in {tier} is not valid")]
    BadEntry {
        key: String,
        tier: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the layer cache entry `{key}` in {tier} is not valid")]
    Artifact {
        key: String,
        tier: String,
        #[source]
        source: artifact::ArtifactError,
    },
    #[error("the layer cache in {tier} failed (not used again in this build)")]
    Remote {
        tier: String,
        #[source]
        source: crate::registry::RegistryError,
    },
    #[error(
        "invalid `--layer-cache {text}`: expected `docker://HOST[:PORT]/REPO` or `oci:DIR`{reason}"
    )]
    Flag { text: String, reason: String },
}

/// Where `--layer-cache` keeps a cache shared between machines (searched after the local
/// one, which a hit there is written back to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shared {
    /// `oci:DIR`: an OCI image layout.
    Layout(PathBuf),
    /// `docker://HOST[:PORT]/REPO`: a registry repository (no tag: the keys are its tags).
    Registry(crate::reference::Reference),
}

impl Shared {
    pub fn parse(text: &str) -> Result<Shared, CacheError> {
        let bad = |reason: String| CacheError::Flag {
            text: text.to_owned(),
            reason,
        };
        if let Some(dir) = text.strip_prefix("oci:") {
            if dir.is_empty() {
                return Err(bad(": `oci:` needs a directory".into()));
            }
            return Ok(Shared::Layout(PathBuf::from(dir)));
        }
        let Some(name) = text.strip_prefix("docker://") else {
            return Err(bad(String::new()));
        };
        if crate::reference::split_tag(name).0 != name {
            return Err(bad(
                ": name a repository without a tag (the keys are the tags)".into(),
            ));
        }
        let target =
            crate::reference::Reference::parse(name).map_err(|e| bad(format!(": {}", e.reason)))?;
        Ok(Shared::Registry(target))
    }
}

/// A cache key: the lowercase hex SHA256 of what decides a layer's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(String);

impl Key {
    /// The key of `parts`, hashed in order, each length-prefixed (no two lists collide).
    pub fn of<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Key {
        let mut h = Sha256::new();
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p);
        }
        Key(hex::encode(h.finalize()))
    }

    /// 64 lowercase hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a cache entry says about its layer and the build's metadata about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// `sha256:` digest of the compressed blob.
    pub digest: String,
    /// `sha256:` digest of the uncompressed tar.
    pub diff_id: String,
    pub size: u64,
    pub uncompressed_size: u64,
    pub media_type: String,
    /// The build's own record of the layer (opaque to the cache).
    pub meta: serde_json::Value,
}

impl Entry {
    pub fn to_json(&self) -> Vec<u8> {
        crate::oci::canonical_json(self)
    }

    pub fn from_json(bytes: &[u8]) -> Result<Entry, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// One place that keeps entries and their blobs.
pub trait Tier: Send + Sync {
    /// How errors and reports name it (`~/.cache/compose/layers`, `docker://host/repo`).
    fn name(&self) -> String;
    /// The entry stored under `key`, if any. Its blob is not checked yet.
    fn get(&self, key: &Key) -> Result<Option<Entry>, CacheError>;
    /// Stream the blob of `entry` into `out`. The caller hashes what it receives and
    /// drops the entry when the digest or size differs.
    fn read_blob(&self, entry: &Entry, out: &mut dyn Write) -> Result<(), CacheError>;
    /// Put the blob of `entry` at `dest` without copying it (a hard link), when the tier
    /// is a directory on the same file system: `Ok(false)` when it cannot. The caller
    /// hashes `dest` as it would a copy.
    fn link_blob(&self, _entry: &Entry, _dest: &Path) -> Result<bool, CacheError> {
        Ok(false)
    }
    /// Keep `blob` (a file holding the layer `entry` describes, digest already checked)
    /// and `entry` under `key`. Writing the same key twice keeps one of them.
    fn put(&self, key: &Key, entry: &Entry, blob: &Path) -> Result<(), CacheError>;
    /// Forget `key` and the blob of `entry` (it failed its digest).
    fn remove(&self, key: &Key, entry: &Entry) -> Result<(), CacheError>;
}

/// Where a hit came from, for the report.
#[derive(Debug, Clone)]
pub struct Hit {
    pub entry: Entry,
    pub tier: String,
}

/// The tiers of a build, searched in order; a hit in a later tier is written back to the
/// earlier ones, and every new layer is written to all of them.
pub struct LayerCache {
    tiers: Vec<Box<dyn Tier>>,
}

impl LayerCache {
    /// No cache at all (`--no-layer-cache`).
    pub fn none() -> LayerCache {
        LayerCache { tiers: Vec::new() }
    }

    pub fn new(tiers: Vec<Box<dyn Tier>>) -> LayerCache {
        LayerCache { tiers }
    }

    pub fn is_enabled(&self) -> bool {
        !self.tiers.is_empty()
    }

    /// The first tier's entry for `key`. A tier that fails is warned about and skipped: a
    /// cache that cannot answer is a miss, never a failed build.
    pub fn lookup(&self, key: &Key) -> Option<(usize, Entry)> {
        for (i, tier) in self.tiers.iter().enumerate() {
            match tier.get(key) {
                Ok(Some(entry)) => return Some((i, entry)),
                Ok(None) => {}
                Err(e) => warn(&e),
            }
        }
        None
    }

    /// Copy the blob of the entry found in tier `tier` to `dest` through a hash. `Ok(false)`
    /// when its bytes are not the entry's (the entry is then dropped from that tier), or the
    /// tier could not give them.
    pub fn restore(&self, tier: usize, key: &Key, entry: &Entry, dest: &Path) -> bool {
        let t = &self.tiers[tier];
        match copy_checked(t.as_ref(), entry, dest) {
            Ok(true) => {
                // Written back to the tiers searched before it, so the next build hits sooner.
                for earlier in &self.tiers[..tier] {
                    if let Err(e) = earlier.put(key, entry, dest) {
                        warn(&e);
                    }
                }
                true
            }
            Ok(false) => {
                eprintln!(
                    "warning: the layer cache entry `{key}` in {} does not match its digest {}; dropped, the layer is rebuilt",
                    t.name(),
                    entry.digest
                );
                let _ = fs_err::remove_file(dest);
                if let Err(e) = t.remove(key, entry) {
                    warn(&e);
                }
                false
            }
            Err(e) => {
                let _ = fs_err::remove_file(dest);
                warn(&e);
                false
            }
        }
    }

    /// Keep a layer just built (`blob`, described by `entry`) in every tier. A tier that
    /// fails is warned about: the build itself is done and right.
    pub fn save(&self, key: &Key, entry: &Entry, blob: &Path) {
        for tier in &self.tiers {
            if let Err(e) = tier.put(key, entry, blob) {
                warn(&e);
            }
        }
    }
}

/// A cache that fails is a warning on one line (the cause chain), never a failed build.
pub fn warn(e: &CacheError) {
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    eprintln!("warning: {chain}");
}

/// Put the blob at `dest` (linked where the tier can, else copied) and hash it there;
/// whether the bytes at `dest` are the entry's.
fn copy_checked(tier: &dyn Tier, entry: &Entry, dest: &Path) -> Result<bool, CacheError> {
    let io_at = |source| CacheError::Io {
        path: dest.to_path_buf(),
        source,
    };
    if tier.link_blob(entry, dest)? {
        let file = crate::oci::reader::open_regular(dest)
            .map_err(CacheError::File)?
            .ok_or_else(|| io_at(io::ErrorKind::NotFound.into()))?;
        let mut sink = Hashing::new(io::sink());
        let mut limited = io::Read::take(file, entry.size.saturating_add(1));
        io::copy(
            &mut io::BufReader::with_capacity(1 << 20, &mut limited),
            &mut sink,
        )
        .map_err(io_at)?;
        return Ok(sink.digest() == entry.digest && sink.count() == entry.size);
    }
    let file = fs_err::File::create(dest).map_err(io_at)?;
    let mut out = Hashing::new(io::BufWriter::with_capacity(1 << 20, file));
    tier.read_blob(entry, &mut out)?;
    out.flush().map_err(io_at)?;
    Ok(out.digest() == entry.digest && out.count() == entry.size)
}

/// Remove `path`; one already gone is fine.
fn remove_if_present(path: &Path) -> Result<(), CacheError> {
    match fs_err::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(CacheError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// An entry for the blob `bytes`, for tests of the tiers.
#[cfg(test)]
fn test_entry(bytes: &[u8]) -> Entry {
    Entry {
        digest: crate::oci::sha256_digest(bytes),
        diff_id: crate::oci::sha256_digest(b"tar"),
        size: bytes.len() as u64,
        uncompressed_size: 3,
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        meta: serde_json::json!({"epoch": 1}),
    }
}

/// Read at most `limit` bytes of `reader` (an entry's JSON); more is an error.
pub fn read_limited(reader: impl Read, limit: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    reader.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes"),
        ));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_caches_parse() {
        assert_eq!(
            Shared::parse("oci:/srv/cache").unwrap(),
            Shared::Layout(PathBuf::from("/srv/cache"))
        );
        let Shared::Registry(r) = Shared::parse("docker://127.0.0.1:5000/ci/layers").unwrap()
        else {
            panic!("a registry")
        };
        assert_eq!(
            (r.host.as_str(), r.repository.as_str()),
            ("127.0.0.1:5000", "ci/layers")
        );
        for bad in [
            "oci:",
            "/srv/cache",
            "docker://127.0.0.1:5000/layers:v1",
            "docker://layers",
            "docker://127.0.0.1:5000/Layers",
            "oci-archive:x.tar",
        ] {
            let e = Shared::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid `--layer-cache"), "{bad}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
