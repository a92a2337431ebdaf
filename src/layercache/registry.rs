//! The layer cache in a registry repository (`--layer-cache docker://HOST[:PORT]/REPO`), a
//! cache a fleet of CI machines can share: each entry is an artifact manifest (see
//! `artifact`) tagged with its key, whose one layer is an ordinary layer blob (so an image
//! push to the same registry mounts it instead of uploading it). A registry that cannot be
//! reached is warned about once and not asked again during the build.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::artifact::{self, Artifact, MANIFEST_MEDIA_TYPE};
use super::{CacheError, ENTRY_LIMIT, Entry, Key, Tier};
use crate::net::NetError;
use crate::oci::BlobRef;
use crate::reference::Reference;
use crate::registry::{PushOptions, RegistryError, Session};

/// A registry repository holding a layer cache.
pub struct RegistryTier {
    target: Reference,
    session: Session,
    /// The manifest digest of every entry read, to delete an entry that failed its digest.
    manifests: Mutex<HashMap<Key, String>>,
    /// Set at the first failure of the registry: later calls are misses, without a warning.
    down: AtomicBool,
}

impl RegistryTier {
    /// The repository of `target` (its tag is not used), with the credentials and
    /// `--insecure` of pushes; an error when the registry does not answer (one warning,
    /// then the build goes on without it).
    pub fn open(target: &Reference, opts: &PushOptions) -> Result<RegistryTier, CacheError> {
        let failed = |source| CacheError::Remote {
            tier: format!("`docker://{}/{}`", target.host, target.repository),
            source,
        };
        let session = Session::open(target, opts).map_err(failed)?;
        session.ping().map_err(failed)?;
        Ok(RegistryTier {
            target: target.clone(),
            session,
            manifests: Mutex::new(HashMap::new()),
            down: AtomicBool::new(false),
        })
    }

    fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// A registry failure as a cache error. Anything but a refusal of one request (a 4xx
    /// answer) turns the tier off for the rest of the build: a registry that is down is not
    /// asked again for every layer.
    fn failed(&self, source: RegistryError) -> CacheError {
        let refused = matches!(
            source,
            RegistryError::Status {
                status: 400..=499,
                ..
            }
        );
        if !refused {
            self.down.store(true, Ordering::Relaxed);
        }
        CacheError::Remote {
            tier: self.name(),
            source,
        }
    }

    fn bad(&self, key: &Key, source: artifact::ArtifactError) -> CacheError {
        CacheError::Artifact {
            key: key.to_string(),
            tier: self.name(),
            source,
        }
    }

    fn manifests(&self) -> std::sync::MutexGuard<'_, HashMap<Key, String>> {
        self.manifests.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Push the entry's config blob (small, from a temporary file).
    fn push_config(&self, digest: &str, bytes: &[u8]) -> Result<(), CacheError> {
        let mut tmp = tempfile::NamedTempFile::new().map_err(|source| CacheError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        tmp.write_all(bytes).map_err(|source| CacheError::Io {
            path: tmp.path().to_path_buf(),
            source,
        })?;
        let blob = BlobRef {
            digest: digest.to_owned(),
            size: bytes.len() as u64,
            media_type: super::ENTRY_MEDIA_TYPE.to_owned(),
        };
        self.session
            .push_blob(&blob, tmp.path())
            .map_err(|e| self.failed(e))
    }
}

impl Tier for RegistryTier {
    fn name(&self) -> String {
        format!("`docker://{}/{}`", self.target.host, self.target.repository)
    }

    fn get(&self, key: &Key) -> Result<Option<Entry>, CacheError> {
        if self.is_down() {
            return Ok(None);
        }
        let manifest = self
            .session
            .manifest(key.as_str(), MANIFEST_MEDIA_TYPE, ENTRY_LIMIT)
            .map_err(|e| self.failed(e))?;
        let Some(manifest) = manifest else {
            return Ok(None);
        };
        let parsed = artifact::parse_manifest(&manifest).map_err(|e| self.bad(key, e))?;
        let mut config = Vec::new();
        // No more than the manifest says (at most `ENTRY_LIMIT`): a longer config is a bad
        // entry, not a registry that failed.
        match self
            .session
            .blob(&parsed.config.digest, parsed.config.size, &mut config)
        {
            Ok(_) => {}
            Err(RegistryError::Net(NetError::TooLong { .. })) => {
                return Err(self.bad(key, artifact::ArtifactError::TooLarge { what: "config" }));
            }
            Err(e) => return Err(self.failed(e)),
        }
        let entry = artifact::entry_from(&parsed, &config).map_err(|e| self.bad(key, e))?;
        self.manifests()
            .insert(key.clone(), crate::oci::sha256_digest(&manifest));
        Ok(Some(entry))
    }

    fn read_blob(&self, entry: &Entry, out: &mut dyn Write) -> Result<(), CacheError> {
        // One byte more than the entry says: a longer blob then fails its digest check.
        match self
            .session
            .blob(&entry.digest, entry.size.saturating_add(1), out)
        {
            Ok(_) => Ok(()),
            // A blob the registry does not have, or longer than the entry says: it fails
            // its digest check and the entry is dropped.
            Err(RegistryError::Status { status: 404, .. })
            | Err(RegistryError::Net(NetError::TooLong { .. })) => Ok(()),
            Err(e) => Err(self.failed(e)),
        }
    }

    fn put(&self, key: &Key, entry: &Entry, blob: &Path) -> Result<(), CacheError> {
        if self.is_down() {
            return Ok(());
        }
        let Artifact {
            config,
            config_digest,
            manifest,
            ..
        } = artifact::to_artifact(entry);
        let layer = BlobRef {
            digest: entry.digest.clone(),
            size: entry.size,
            media_type: entry.media_type.clone(),
        };
        // Blobs first, the tag last: a reader never finds an entry whose blobs are missing.
        self.session
            .push_blob(&layer, blob)
            .map_err(|e| self.failed(e))?;
        self.push_config(&config_digest, &config)?;
        self.session
            .push_manifest(key.as_str(), &manifest)
            .map_err(|e| self.failed(e))?;
        Ok(())
    }

    fn remove(&self, key: &Key, _entry: &Entry) -> Result<(), CacheError> {
        let digest = self.manifests().remove(key);
        match digest {
            Some(d) if !self.is_down() => {
                self.session.delete_manifest(&d).map_err(|e| self.failed(e))
            }
            _ => Ok(()),
        }
    }
}
