//! Blobs on disk: the store a build writes into, and OCI image layouts made from it, which
//! appear at their destination atomically.

use std::path::{Path, PathBuf};

use oci_spec::image::Descriptor;

use super::{Image, OciError, canonical_json, parent_dir, sha256_digest};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OciError {
    let path = path.to_path_buf();
    move |source| OciError::Io { path, source }
}

/// `DIR/blobs/sha256/<hex>` for a `sha256:<hex>` digest.
fn blob_in(dir: &Path, digest: &str) -> PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    dir.join("blobs/sha256").join(hex)
}

/// Hard-link `from` to `to` (same file system), else copy it.
fn link_or_copy(from: &Path, to: &Path) -> Result<(), OciError> {
    if to.exists() || fs_err::hard_link(from, to).is_ok() {
        return Ok(());
    }
    fs_err::copy(from, to).map_err(io(to))?;
    Ok(())
}

/// Every blob of a build (layers, configs, manifests, index) in a temporary directory,
/// removed when the store is dropped. Outputs link or copy their blobs from here.
#[derive(Debug)]
pub struct Store {
    dir: tempfile::TempDir,
}

impl Store {
    /// A store in a new temporary directory under `parent` (created if missing).
    pub fn create_in(parent: &Path) -> Result<Store, OciError> {
        fs_err::create_dir_all(parent).map_err(io(parent))?;
        let dir = tempfile::Builder::new()
            .prefix(".compose-build-")
            .tempdir_in(parent)
            .map_err(io(parent))?;
        crate::interrupt::register(dir.path());
        let blobs = dir.path().join("blobs/sha256");
        fs_err::create_dir_all(&blobs).map_err(io(&blobs))?;
        Ok(Store { dir })
    }

    /// A scratch path inside the store (for a layer being written).
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Move a finished scratch file to its blob path.
    pub fn adopt(&self, scratch: &Path, digest: &str) -> Result<(), OciError> {
        let target = self.blob_path(digest);
        fs_err::rename(scratch, &target).map_err(io(&target))
    }

    pub fn put_blob(&self, bytes: &[u8]) -> Result<String, OciError> {
        let d = sha256_digest(bytes);
        let path = self.blob_path(&d);
        fs_err::write(&path, bytes).map_err(io(&path))?;
        Ok(d)
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        blob_in(self.dir.path(), digest)
    }
}

/// An OCI image layout being written in a staging directory next to its destination.
#[derive(Debug)]
pub struct Layout {
    staging: tempfile::TempDir,
    dest: PathBuf,
    top: Descriptor,
    tag: String,
}

impl Layout {
    /// Stage the layout of `image` for `dest` with its blobs linked from `store`. Refuses a
    /// `dest` that exists and is not a layout (nor empty).
    pub fn stage(store: &Store, image: &Image, dest: &Path, tag: &str) -> Result<Layout, OciError> {
        if dest.exists() {
            let empty = fs_err::read_dir(dest)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            if !empty && !dest.join("oci-layout").is_file() {
                return Err(OciError::NotALayout {
                    path: dest.to_path_buf(),
                });
            }
        }
        let parent = parent_dir(dest);
        fs_err::create_dir_all(&parent).map_err(io(&parent))?;
        let staging = tempfile::Builder::new()
            .prefix(".compose-staging-")
            .tempdir_in(&parent)
            .map_err(io(&parent))?;
        crate::interrupt::register(staging.path());
        let blobs = staging.path().join("blobs/sha256");
        fs_err::create_dir_all(&blobs).map_err(io(&blobs))?;
        for digest in image.all_digests() {
            link_or_copy(&store.blob_path(&digest), &blob_in(staging.path(), &digest))?;
        }
        Ok(Layout {
            staging,
            dest: dest.to_path_buf(),
            top: image.top_descriptor(Some(tag))?,
            tag: tag.to_owned(),
        })
    }

    /// Images of other tags in the layout at the destination: their descriptors are kept in
    /// the new `index.json` and their blobs copied over, so `oci:DIR:debug` and
    /// `oci:DIR:latest` live side by side. A descriptor with the tag being written is dropped.
    fn carry_over(&self) -> Vec<serde_json::Value> {
        let old = &self.dest;
        let Ok(bytes) = fs_err::read(old.join("index.json")) else {
            return Vec::new();
        };
        let Ok(index) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            return Vec::new();
        };
        let mut kept = Vec::new();
        for d in index["manifests"].as_array().into_iter().flatten() {
            if d["annotations"][super::REF_NAME].as_str() == Some(self.tag.as_str()) {
                continue;
            }
            let mut stack = vec![d.clone()];
            let mut complete = true;
            while let Some(desc) = stack.pop() {
                let Some(digest) = desc["digest"].as_str() else {
                    continue;
                };
                let to = blob_in(self.staging.path(), digest);
                if link_or_copy(&blob_in(old, digest), &to).is_err() {
                    complete = false;
                    break;
                }
                let media = desc["mediaType"].as_str().unwrap_or_default();
                if media.ends_with("manifest.v1+json") || media.ends_with("image.index.v1+json") {
                    let Ok(doc) = fs_err::read(&to).map_err(|_| ()).and_then(|b| {
                        serde_json::from_slice::<serde_json::Value>(&b).map_err(|_| ())
                    }) else {
                        complete = false;
                        break;
                    };
                    stack.push(doc["config"].clone());
                    stack.extend(doc["layers"].as_array().cloned().unwrap_or_default());
                    stack.extend(doc["manifests"].as_array().cloned().unwrap_or_default());
                }
            }
            if complete {
                kept.push(d.clone());
            }
        }
        kept
    }

    /// Write `oci-layout` and `index.json`, then move the layout into place, replacing an
    /// earlier layout at the destination only now that the new one is complete. Other tags
    /// of an earlier layout are kept.
    pub fn commit(self) -> Result<(), OciError> {
        let s = self.staging.path();
        let layout = s.join("oci-layout");
        fs_err::write(&layout, OCI_LAYOUT).map_err(io(&layout))?;
        let index = s.join("index.json");
        let mut manifests = self.carry_over();
        manifests.push(serde_json::to_value(&self.top).expect("descriptors serialize"));
        fs_err::write(&index, index_document(manifests)).map_err(io(&index))?;
        let staging = self.staging.keep();
        if self.dest.exists() {
            let old = staging.with_extension("old");
            crate::interrupt::register(&old);
            fs_err::rename(&self.dest, &old).map_err(io(&self.dest))?;
            fs_err::rename(&staging, &self.dest).map_err(io(&self.dest))?;
            crate::interrupt::forget(&staging);
            fs_err::remove_dir_all(&old).map_err(io(&old))?;
            crate::interrupt::forget(&old);
        } else {
            fs_err::rename(&staging, &self.dest).map_err(io(&self.dest))?;
            crate::interrupt::forget(&staging);
        }
        Ok(())
    }
}

/// The `oci-layout` file of every layout and archive.
pub const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// A layout's `index.json` over `manifests` (descriptors as JSON values).
pub fn index_document(manifests: Vec<serde_json::Value>) -> Vec<u8> {
    canonical_json(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_that_is_not_a_layout_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("precious"), b"x").unwrap();
        let store = Store::create_in(&dir.path().join("store")).unwrap();
        let config = store.put_blob(b"{}").unwrap();
        let image = Image {
            manifests: vec![super::super::ManifestEntry {
                platform: super::super::OciPlatform {
                    os: "linux".into(),
                    architecture: "amd64".into(),
                    variant: None,
                },
                bytes: b"{}".to_vec(),
                config: super::super::BlobRef {
                    digest: config,
                    size: 2,
                    media_type: "application/vnd.oci.image.config.v1+json".into(),
                },
                layers: vec![],
            }],
            index: None,
            created: 0,
        };
        let e = Layout::stage(&store, &image, dir.path(), "latest").unwrap_err();
        assert!(matches!(e, OciError::NotALayout { .. }));
        assert!(dir.path().join("precious").exists());
    }
}
