//! The layer cache in an OCI image layout (`--layer-cache oci:DIR`), created when missing:
//! each entry is an artifact manifest (see `artifact`) named in `index.json` by the
//! `org.opencontainers.image.ref.name` annotation, whose value is the key. Blobs are written
//! through a rename; `index.json` is rewritten whole under an exclusive lock on
//! `index.json.lock`, so builds sharing the directory never lose each other's entries.
//! Nothing in the layout is followed through a symlink.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::artifact::{self, Artifact, MANIFEST_MEDIA_TYPE};
use super::{
    ARTIFACT_TYPE, CacheError, ENTRY_LIMIT, Entry, Key, Tier, read_limited, remove_if_present,
};
use crate::oci::reader::{open_regular, valid_digest};

/// The largest `index.json` read (it lists every entry, some hundred bytes each).
const INDEX_LIMIT: u64 = 64 << 20;

const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A layer cache kept as an OCI image layout.
pub struct OciDir {
    dir: PathBuf,
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl OciDir {
    pub fn new(dir: PathBuf) -> OciDir {
        OciDir { dir }
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("index.json")
    }

    fn blob_path(&self, digest: &str) -> Option<PathBuf> {
        valid_digest(digest).then(|| {
            self.dir
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:"))
        })
    }

    /// `blobs/` and `blobs/sha256/` are directories, never symlinks; `false` when missing.
    fn blob_dirs(&self) -> Result<bool, CacheError> {
        for sub in ["blobs", "blobs/sha256"] {
            let d = self.dir.join(sub);
            match std::fs::symlink_metadata(&d) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(io_at(&d)(invalid(
                        "is not a directory (symlinks are not followed)".into(),
                    )));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(io_at(&d)(e)),
            }
        }
        Ok(true)
    }

    /// Make the layout if it is not there: `oci-layout`, `blobs/sha256/`, an empty index.
    fn create(&self) -> Result<(), CacheError> {
        let blobs = self.dir.join("blobs/sha256");
        fs_err::create_dir_all(&blobs).map_err(io_at(&blobs))?;
        self.blob_dirs()?;
        let layout = self.dir.join("oci-layout");
        if std::fs::symlink_metadata(&layout).is_err() {
            let bytes = crate::oci::layout::oci_layout().map_err(CacheError::File)?;
            crate::atomic::write(&layout, &bytes).map_err(io_at(&layout))?;
        }
        Ok(())
    }

    /// A blob's bytes, at most `limit`; `None` when it is not there.
    fn read_small(&self, digest: &str, limit: u64) -> Result<Option<Vec<u8>>, CacheError> {
        let Some(path) = self.blob_path(digest) else {
            return Ok(None);
        };
        let Some(file) = open_regular(&path).map_err(CacheError::File)? else {
            return Ok(None);
        };
        read_limited(file, limit).map(Some).map_err(io_at(&path))
    }

    /// Keep `bytes` as a blob, unless it is there (a file named by its digest).
    fn write_small(&self, digest: &str, bytes: &[u8]) -> Result<(), CacheError> {
        match self.blob_path(digest) {
            Some(path) if !is_file(&path) => {
                crate::atomic::write(&path, bytes).map_err(io_at(&path))
            }
            _ => Ok(()),
        }
    }

    /// Keep the file `blob` as the blob `digest`, linked or copied under a temporary name
    /// and renamed: never a partial blob.
    fn write_file(&self, digest: &str, blob: &Path) -> Result<(), CacheError> {
        let Some(dest) = self.blob_path(digest) else {
            return Ok(());
        };
        if is_file(&dest) {
            return Ok(());
        }
        let tmp = tempfile::Builder::new()
            .prefix(".compose-")
            .make_in(crate::atomic::parent_dir(&dest), |p| {
                std::fs::hard_link(blob, p).or_else(|_| std::fs::copy(blob, p).map(drop))
            })
            .map_err(io_at(&dest))?;
        tmp.persist(&dest).map_err(|e| io_at(&dest)(e.error))?;
        Ok(())
    }

    /// `index.json`'s `manifests` (an empty list when the file is not there).
    fn read_index(&self) -> Result<Vec<Value>, CacheError> {
        let path = self.index_path();
        let Some(file) = open_regular(&path).map_err(CacheError::File)? else {
            return Ok(Vec::new());
        };
        let bytes = read_limited(file, INDEX_LIMIT).map_err(io_at(&path))?;
        let doc: Value = serde_json::from_slice(&bytes)
            .map_err(|e| io_at(&path)(invalid(format!("not JSON: {e}"))))?;
        match doc.get("manifests") {
            None => Ok(Vec::new()),
            Some(Value::Array(list)) => Ok(list.clone()),
            Some(_) => Err(io_at(&path)(invalid("`manifests` is not a list".into()))),
        }
    }

    fn write_index(&self, manifests: Vec<Value>) -> Result<(), CacheError> {
        let path = self.index_path();
        let doc = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        let bytes = serde_json::to_vec_pretty(&doc).expect("JSON values serialize");
        crate::atomic::write(&path, &bytes).map_err(io_at(&path))
    }

    /// Hold the layout's lock while `f` reads and rewrites `index.json`.
    fn locked<T>(&self, f: impl FnOnce() -> Result<T, CacheError>) -> Result<T, CacheError> {
        let path = self.dir.join("index.json.lock");
        // A new file is made without following a symlink; an existing one is opened only
        // when it is a regular file.
        let file = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => open_regular(&path)
                .map_err(CacheError::File)?
                .ok_or_else(|| io_at(&path)(io::ErrorKind::NotFound.into()))?,
            Err(e) => return Err(io_at(&path)(e)),
        };
        file.lock().map_err(io_at(&path))?;
        let out = f();
        let _ = file.unlock();
        out
    }

    /// The descriptor `index.json` names `key` by (the last one, if several).
    fn find(&self, key: &Key) -> Result<Option<(String, u64)>, CacheError> {
        let manifests = self.read_index()?;
        let Some(desc) = manifests.iter().rev().find(|d| names(d, key)) else {
            return Ok(None);
        };
        let digest = desc["digest"].as_str().filter(|d| valid_digest(d));
        match (digest, desc["size"].as_u64()) {
            (Some(d), Some(size)) if size <= ENTRY_LIMIT => Ok(Some((d.to_owned(), size))),
            _ => Err(self.bad(
                key,
                artifact::ArtifactError::Manifest(
                    "its descriptor in index.json has no valid digest and size".into(),
                ),
            )),
        }
    }

    fn bad(&self, key: &Key, source: artifact::ArtifactError) -> CacheError {
        CacheError::Artifact {
            key: key.to_string(),
            tier: self.name(),
            source,
        }
    }
}

/// Whether an `index.json` descriptor is the entry of `key`.
fn names(desc: &Value, key: &Key) -> bool {
    desc["annotations"][REF_NAME].as_str() == Some(key.as_str())
}

fn is_file(path: &Path) -> bool {
    path.symlink_metadata().is_ok_and(|m| m.is_file())
}

impl Tier for OciDir {
    fn name(&self) -> String {
        format!("`oci:{}`", self.dir.display())
    }

    fn get(&self, key: &Key) -> Result<Option<Entry>, CacheError> {
        if !self.blob_dirs()? {
            return Ok(None);
        }
        let Some((digest, size)) = self.find(key)? else {
            return Ok(None);
        };
        let Some(manifest) = self.read_small(&digest, ENTRY_LIMIT)? else {
            return Ok(None);
        };
        if crate::oci::sha256_digest(&manifest) != digest || manifest.len() as u64 != size {
            return Err(self.bad(
                key,
                artifact::ArtifactError::Manifest("the manifest does not match its digest".into()),
            ));
        }
        let parsed = artifact::parse_manifest(&manifest).map_err(|e| self.bad(key, e))?;
        let Some(config) = self.read_small(&parsed.config.digest, ENTRY_LIMIT)? else {
            return Ok(None);
        };
        let entry = artifact::entry_from(&parsed, &config).map_err(|e| self.bad(key, e))?;
        // A layer blob that is gone (pruned by hand) is a miss.
        match self.blob_path(&entry.digest) {
            Some(blob) if is_file(&blob) => Ok(Some(entry)),
            _ => Ok(None),
        }
    }

    fn read_blob(&self, entry: &Entry, out: &mut dyn Write) -> Result<(), CacheError> {
        let path = self.blob_path(&entry.digest).ok_or_else(|| {
            io_at(&self.dir)(invalid(format!("`{}` is not a digest", entry.digest)))
        })?;
        let mut file = open_regular(&path)
            .map_err(CacheError::File)?
            .ok_or_else(|| io_at(&path)(io::ErrorKind::NotFound.into()))?;
        // Never more than the entry says: a longer file fails its size check.
        io::copy(
            &mut io::Read::take(&mut file, entry.size.saturating_add(1)),
            out,
        )
        .map_err(io_at(&path))?;
        Ok(())
    }

    fn put(&self, key: &Key, entry: &Entry, blob: &Path) -> Result<(), CacheError> {
        self.create()?;
        let Artifact {
            config,
            config_digest,
            manifest,
            manifest_digest,
        } = artifact::to_artifact(entry);
        // Blobs first, the index last: a reader never finds an entry whose blobs are not there.
        self.write_file(&entry.digest, blob)?;
        self.write_small(&config_digest, &config)?;
        self.write_small(&manifest_digest, &manifest)?;
        let desc = json!({
            "mediaType": MANIFEST_MEDIA_TYPE,
            "artifactType": ARTIFACT_TYPE,
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": { REF_NAME: key.as_str() },
        });
        self.locked(|| {
            let mut manifests = self.read_index()?;
            manifests.retain(|d| !names(d, key));
            manifests.push(desc);
            self.write_index(manifests)
        })
    }

    fn remove(&self, key: &Key, entry: &Entry) -> Result<(), CacheError> {
        if !self.blob_dirs()? {
            return Ok(());
        }
        let gone = self.locked(|| {
            let mut manifests = self.read_index()?;
            let (gone, kept): (Vec<Value>, Vec<Value>) =
                manifests.drain(..).partition(|d| names(d, key));
            self.write_index(kept)?;
            Ok(gone)
        })?;
        let manifests = gone
            .iter()
            .filter_map(|d| d["digest"].as_str().map(str::to_owned));
        for digest in manifests.chain([entry.digest.clone()]) {
            if let Some(path) = self.blob_path(&digest) {
                remove_if_present(&path)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layercache::{LayerCache, test_entry};

    #[test]
    fn entries_are_manifests_of_a_real_layout() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        let cache = LayerCache::new(vec![Box::new(OciDir::new(root.clone()))]);
        let key = Key::of([b"level".as_slice()]);
        assert!(cache.lookup(&key).is_none(), "a missing layout is empty");
        let blob = dir.path().join("blob");
        fs_err::write(&blob, b"layer bytes").unwrap();
        let entry = test_entry(b"layer bytes");
        cache.save(&key, &entry, &blob);
        cache.save(&key, &entry, &blob);
        let other = Key::of([b"other".as_slice()]);
        cache.save(&other, &entry, &blob);

        // A layout other tools read: one tagged manifest per key, whose layer is the blob.
        let reader = crate::oci::reader::LayoutReader::new(&root);
        assert!(reader.has_marker().unwrap());
        let desc = reader
            .tagged(key.as_str())
            .unwrap()
            .expect("tagged by its key");
        let manifest = reader.manifest(&desc).unwrap();
        assert_eq!(manifest.layers().len(), 1);
        assert_eq!(manifest.layers()[0].digest().to_string(), entry.digest);
        let doc: Value =
            serde_json::from_slice(&fs_err::read(root.join("index.json")).unwrap()).unwrap();
        assert_eq!(doc["manifests"].as_array().unwrap().len(), 2, "a key once");

        let (tier, found) = cache.lookup(&key).expect("a hit");
        assert_eq!(found, entry);
        let out = dir.path().join("out");
        assert!(cache.restore(tier, &key, &found, &out));
        assert_eq!(fs_err::read(&out).unwrap(), b"layer bytes");

        // Same length, other bytes: dropped, with the entry.
        let cached = root
            .join("blobs/sha256")
            .join(entry.digest.trim_start_matches("sha256:"));
        fs_err::remove_file(&cached).unwrap();
        fs_err::write(&cached, b"LAYER BYTES").unwrap();
        assert!(!cache.restore(tier, &key, &found, &out));
        assert!(cache.lookup(&key).is_none(), "the bad entry is gone");
        assert!(!cached.exists());
    }

    #[test]
    fn builds_writing_at_once_lose_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        let blob = dir.path().join("blob");
        fs_err::write(&blob, b"layer").unwrap();
        std::thread::scope(|s| {
            for i in 0..8u8 {
                let (root, blob) = (&root, &blob);
                s.spawn(move || {
                    let tier = OciDir::new(root.clone());
                    let key = Key::of([[i].as_slice()]);
                    tier.put(&key, &test_entry(b"layer"), blob).unwrap();
                });
            }
        });
        let tier = OciDir::new(root);
        assert_eq!(tier.read_index().unwrap().len(), 8);
        for i in 0..8u8 {
            assert!(tier.get(&Key::of([[i].as_slice()])).unwrap().is_some());
        }
    }

    #[test]
    fn a_rewritten_entry_is_a_miss_and_symlinks_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        let tier = OciDir::new(root.clone());
        let key = Key::of([b"k".as_slice()]);
        let blob = dir.path().join("blob");
        fs_err::write(&blob, b"layer").unwrap();
        tier.put(&key, &test_entry(b"layer"), &blob).unwrap();
        assert!(tier.get(&key).unwrap().is_some());

        // The config rewritten to name another layer: its digest no longer matches.
        let a = artifact::to_artifact(&test_entry(b"layer"));
        let config = tier.blob_path(&a.config_digest).unwrap();
        let mut other = test_entry(b"layer");
        other.size = 4;
        fs_err::remove_file(&config).unwrap();
        fs_err::write(&config, other.to_json()).unwrap();
        assert!(matches!(tier.get(&key), Err(CacheError::Artifact { .. })));

        // index.json through a symlink is refused.
        let index = root.join("index.json");
        let elsewhere = dir.path().join("elsewhere.json");
        fs_err::rename(&index, &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &index).unwrap();
        assert!(tier.get(&key).is_err());
        let cache = LayerCache::new(vec![Box::new(OciDir::new(root))]);
        assert!(cache.lookup(&key).is_none(), "an error is a miss");
    }
}
