//! Blobs on disk: the store a build writes into, and OCI image layouts staged from it beside
//! their destination (`commit` puts them in place).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, OciLayoutBuilder};

use super::existing::Kept;
use super::reader::{LayoutReader, tag_of, valid_digest};
use super::{
    Image, OciError, Staged, Tagged, canonical_json, index_json, parent_dir, sha256_digest,
};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OciError {
    let path = path.to_path_buf();
    move |source| OciError::Io { path, source }
}

/// `DIR/blobs/sha256/<hex>` for a `sha256:<hex>` digest.
/// Only for digests compose computed or `existing` checked.
fn blob_in(dir: &Path, digest: &str) -> PathBuf {
    debug_assert!(valid_digest(digest), "{digest}");
    let hex = digest.trim_start_matches("sha256:");
    dir.join("blobs/sha256").join(hex)
}

/// Hard-link `from` to `to` (same file system), else copy it.
fn link_or_copy(from: &Path, to: &Path) -> Result<(), OciError> {
    if to.symlink_metadata().is_ok() || fs_err::hard_link(from, to).is_ok() {
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

/// Stage the layout of `image`, tagged `tag`, for `dest`: a `.compose-staging-*` directory
/// beside it with the image's blobs linked from `store`, the blobs of `kept` (the other tags
/// of the layout at `dest`, from `existing::read_existing`) linked from there, the `extra`
/// manifests under their tags (replacing a kept tag of the same name) with their blobs, and
/// its `oci-layout` and `index.json`. `commit_all` renames it into place.
pub fn stage(
    store: &Store,
    image: &Image,
    dest: &Path,
    tag: &str,
    kept: Kept,
    extra: &[Tagged],
) -> Result<Staged, OciError> {
    let parent = parent_dir(dest);
    fs_err::create_dir_all(&parent).map_err(io(&parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".compose-staging-")
        .tempdir_in(&parent)
        .map_err(io(&parent))?;
    crate::interrupt::register(staging.path());
    let staged = Staged::new(staging.keep(), dest, true);
    let s = staged.path();
    let blobs = s.join("blobs/sha256");
    fs_err::create_dir_all(&blobs).map_err(io(&blobs))?;
    for digest in image.all_digests() {
        link_or_copy(&store.blob_path(&digest), &blob_in(s, &digest))?;
    }
    let existing = LayoutReader::new(dest);
    for digest in &kept.blobs {
        // Checked again right before linking: still a regular file, reached through no
        // symlink.
        let Some(from) = existing.regular_blob(digest)? else {
            return Err(OciError::Changed {
                path: dest.to_path_buf(),
            });
        };
        link_or_copy(&from, &blob_in(s, digest))?;
    }
    for t in extra {
        for (digest, bytes) in t.documents() {
            let path = blob_in(s, &digest);
            if path.symlink_metadata().is_err() {
                fs_err::write(&path, bytes).map_err(io(&path))?;
            }
        }
    }
    let layout = s.join("oci-layout");
    fs_err::write(&layout, oci_layout()?).map_err(io(&layout))?;
    let mut manifests = kept.descriptors;
    manifests.retain(|d| !extra.iter().any(|t| tag_of(d) == Some(t.tag.as_str())));
    manifests.push(image.top_descriptor(Some(tag))?);
    for t in extra {
        manifests.push(t.descriptor()?);
    }
    let index = s.join("index.json");
    fs_err::write(&index, index_document(manifests)?).map_err(io(&index))?;
    Ok(staged)
}

/// The `oci-layout` file of every layout and archive (`{"imageLayoutVersion":"1.0.0"}`).
pub fn oci_layout() -> Result<Vec<u8>, OciError> {
    let layout = OciLayoutBuilder::default()
        .image_layout_version("1.0.0")
        .build()
        .map_err(super::spec_err("oci-layout"))?;
    Ok(canonical_json(&layout))
}

/// A layout's `index.json` over `manifests`: an image index without annotations.
pub fn index_document(manifests: Vec<Descriptor>) -> Result<Vec<u8>, OciError> {
    index_json(manifests, &BTreeMap::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::MediaType;

    #[test]
    fn the_oci_layout_file_is_the_specs() {
        assert_eq!(oci_layout().unwrap(), br#"{"imageLayoutVersion":"1.0.0"}"#);
    }

    /// The bytes compose wrote when `index.json` was built as JSON by hand.
    #[test]
    fn index_json_keeps_its_bytes() {
        let annotations = BTreeMap::from([(
            oci_spec::image::ANNOTATION_REF_NAME.to_owned(),
            "latest".to_owned(),
        )]);
        let d =
            super::super::descriptor(MediaType::ImageManifest, b"{}", None, &annotations).unwrap();
        let by_hand = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [serde_json::to_value(&d).unwrap()],
        });
        assert_eq!(
            index_document(vec![d]).unwrap(),
            serde_json::to_vec(&by_hand).unwrap()
        );
    }

    /// A tag kept from an existing layout is read back typed and written again: its
    /// descriptor (platform, annotations) comes out byte for byte.
    #[test]
    fn a_kept_descriptor_keeps_its_bytes() {
        let platform = super::super::OciPlatform {
            os: "linux".into(),
            architecture: "arm".into(),
            variant: Some("v7".into()),
        };
        let annotations = BTreeMap::from([
            (
                oci_spec::image::ANNOTATION_REF_NAME.to_owned(),
                "old".to_owned(),
            ),
            ("org.example.z".to_owned(), "1".to_owned()),
        ]);
        let d = super::super::descriptor(
            MediaType::ImageManifest,
            b"{}",
            Some(&platform),
            &annotations,
        )
        .unwrap();
        let written = index_document(vec![d]).unwrap();
        let read: oci_spec::image::ImageIndex = serde_json::from_slice(&written).unwrap();
        assert_eq!(index_document(read.manifests().clone()).unwrap(), written);
    }
}
