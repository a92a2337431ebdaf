//! The one reader of OCI image layouts (an existing output, the image `compose verify`
//! checks, the tests' view of what compose wrote), typed with oci-spec and treating the
//! layout as untrusted: only regular files and directories inside it, never through a
//! symlink, each JSON document at most `MAX_DOCUMENT` bytes, and every digest `sha256:` and
//! 64 lowercase hex digits before it becomes a path.

use std::io::{ErrorKind, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use oci_spec::image::{
    ANNOTATION_REF_NAME, Descriptor, ImageIndex, ImageManifest, MediaType, ToDockerV2S2,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::OciError;

/// The largest JSON document (`index.json`, a manifest, an index) read from a layout:
/// registries accept manifests up to 4 MiB.
pub const MAX_DOCUMENT: u64 = 4 << 20;

/// `sha256:` and 64 lowercase hex digits: the only digests that become paths.
pub fn valid_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Untrusted text for a one-line message: escaped, quoted, at most 80 characters.
fn shown(text: &str) -> String {
    let mut s: String = text.chars().take(80).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    format!("{s:?}")
}

/// What is wrong with an entry of a layout.
pub(crate) fn entry(path: &Path, what: &str) -> OciError {
    OciError::LayoutEntry {
        path: path.to_path_buf(),
        what: what.to_owned(),
    }
}

fn read_err(path: &Path) -> impl FnOnce(std::io::Error) -> OciError {
    let path = path.to_path_buf();
    move |source| OciError::Read { path, source }
}

fn missing(path: &Path) -> OciError {
    entry(path, "is missing")
}

const SYMLINK: &str = "is a symbolic link, which compose does not follow inside a layout";

/// `path` as a regular file, opened without following a symlink (checked before and after
/// opening, by inode); `None` when it does not exist.
pub fn open_regular(path: &Path) -> Result<Option<std::fs::File>, OciError> {
    let before = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(path)(e)),
    };
    if before.file_type().is_symlink() {
        return Err(entry(path, SYMLINK));
    }
    if !before.is_file() {
        return Err(entry(path, "is not a regular file"));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(read_err(path))?;
    let after = file.metadata().map_err(read_err(path))?;
    if (after.dev(), after.ino()) != (before.dev(), before.ino()) {
        return Err(entry(path, "changed while compose read it"));
    }
    Ok(Some(file))
}

/// A directory of a layout (`blobs`, `blobs/sha256`), not a symlink; `false` when missing.
fn real_dir(path: &Path) -> Result<bool, OciError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(entry(path, SYMLINK)),
        Ok(m) if m.is_dir() => Ok(true),
        Ok(_) => Err(entry(path, "is not a directory")),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(read_err(path)(e)),
    }
}

/// The bytes of a JSON document of at most `MAX_DOCUMENT` bytes; `None` when missing.
fn read_capped(path: &Path) -> Result<Option<Vec<u8>>, OciError> {
    let Some(file) = open_regular(path)? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    file.take(MAX_DOCUMENT + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err(path))?;
    if bytes.len() as u64 > MAX_DOCUMENT {
        return Err(entry(
            path,
            &format!("is larger than {} MiB", MAX_DOCUMENT >> 20),
        ));
    }
    Ok(Some(bytes))
}

/// Every descriptor of a document (an index's `manifests`, a manifest's `config`, `layers`
/// and `subject`) names a valid digest: checked before the document is typed, so that the
/// message names the digest rather than a JSON error.
fn check_digests(path: &Path, doc: &Value) -> Result<(), OciError> {
    let lists = ["manifests", "layers"].map(|k| doc.get(k).and_then(Value::as_array));
    let singles = ["config", "subject"].map(|k| doc.get(k));
    let descriptors = lists
        .into_iter()
        .flatten()
        .flatten()
        .chain(singles.into_iter().flatten());
    for d in descriptors {
        if let Some(Value::String(digest)) = d.get("digest")
            && !valid_digest(digest)
        {
            return Err(OciError::LayoutDigest {
                path: path.to_path_buf(),
                digest: shown(digest),
            });
        }
    }
    Ok(())
}

/// The document at `path` as a `T` (`what` names it in errors); `None` when missing.
fn read_document<T: DeserializeOwned>(
    path: &Path,
    what: &'static str,
) -> Result<Option<T>, OciError> {
    let Some(bytes) = read_capped(path)? else {
        return Ok(None);
    };
    let json_err = |source| OciError::LayoutJson {
        path: path.to_path_buf(),
        source,
    };
    let doc: Value = serde_json::from_slice(&bytes).map_err(json_err)?;
    check_digests(path, &doc)?;
    serde_json::from_value(doc)
        .map(Some)
        .map_err(|source| OciError::LayoutDocument {
            path: path.to_path_buf(),
            what,
            source,
        })
}

/// Whether `media` is `oci`, or its Docker equivalent (a manifest list for an index).
fn is_oci_or_docker(media: &MediaType, oci: MediaType) -> bool {
    *media == oci
        || oci
            .to_docker_v2s2()
            .is_ok_and(|docker| media.as_ref() == docker)
}

/// Whether a descriptor points at an index (OCI or Docker), whose blob names manifests.
pub fn is_index(media: &MediaType) -> bool {
    is_oci_or_docker(media, MediaType::ImageIndex)
}

/// Whether a descriptor points at a manifest or an index (OCI or Docker), whose blob names
/// further blobs.
pub fn is_document(media: &MediaType) -> bool {
    is_oci_or_docker(media, MediaType::ImageManifest) || is_index(media)
}

/// The tag of a descriptor of `index.json` (`org.opencontainers.image.ref.name`).
pub fn tag_of(desc: &Descriptor) -> Option<&str> {
    desc.annotations()
        .as_ref()?
        .get(ANNOTATION_REF_NAME)
        .map(String::as_str)
}

/// An image layout on disk, read as untrusted.
#[derive(Debug, Clone)]
pub struct LayoutReader {
    dir: PathBuf,
}

impl LayoutReader {
    pub fn new(dir: &Path) -> LayoutReader {
        LayoutReader {
            dir: dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn index_path(&self) -> PathBuf {
        self.dir.join("index.json")
    }

    /// Whether the layout has its `oci-layout` file (a regular file).
    pub fn has_marker(&self) -> Result<bool, OciError> {
        Ok(open_regular(&self.dir.join("oci-layout"))?.is_some())
    }

    /// `index.json`, every digest in it checked.
    pub fn index(&self) -> Result<ImageIndex, OciError> {
        let path = self.index_path();
        read_document(&path, "image index")?.ok_or_else(|| missing(&path))
    }

    /// The descriptor tagged `tag` in `index.json` (the last one, as a layout tool adds
    /// them), if any.
    pub fn tagged(&self, tag: &str) -> Result<Option<Descriptor>, OciError> {
        let index = self.index()?;
        Ok(index
            .manifests()
            .iter()
            .rev()
            .find(|d| tag_of(d) == Some(tag))
            .cloned())
    }

    /// `DIR/blobs/sha256`, after checking that neither `blobs` nor `blobs/sha256` is a
    /// symlink or something else than a directory; `None` when missing.
    pub fn blobs_dir(&self) -> Result<Option<PathBuf>, OciError> {
        let blobs = self.dir.join("blobs");
        let sha = blobs.join("sha256");
        Ok((real_dir(&blobs)? && real_dir(&sha)?).then_some(sha))
    }

    /// `DIR/blobs/sha256/<hex>` for `digest` (checked again); `None` when the directories
    /// are missing.
    pub fn blob_path(&self, digest: &str) -> Result<Option<PathBuf>, OciError> {
        if !valid_digest(digest) {
            return Err(OciError::LayoutDigest {
                path: self.index_path(),
                digest: shown(digest),
            });
        }
        Ok(self
            .blobs_dir()?
            .map(|sha| sha.join(&digest["sha256:".len()..])))
    }

    /// The path of blob `digest` when it is (still) a regular file that no symlink leads
    /// to, else `None`.
    pub fn regular_blob(&self, digest: &str) -> Result<Option<PathBuf>, OciError> {
        let Some(path) = self.blob_path(digest)? else {
            return Ok(None);
        };
        Ok(open_regular(&path)?.map(|_| path))
    }

    /// The blob `digest`, opened for reading; `None` when it is missing.
    pub fn try_open(&self, digest: &str) -> Result<Option<std::fs::File>, OciError> {
        match self.blob_path(digest)? {
            Some(path) => open_regular(&path),
            None => Ok(None),
        }
    }

    /// The blob `digest`, opened for reading.
    pub fn open(&self, digest: &str) -> Result<std::fs::File, OciError> {
        let path = self
            .blob_path(digest)?
            .ok_or_else(|| missing(&self.dir.join("blobs/sha256")))?;
        open_regular(&path)?.ok_or_else(|| missing(&path))
    }

    /// The JSON document `desc` points at, as a `T`; `None` when the blob is missing.
    fn try_document<T: DeserializeOwned>(
        &self,
        desc: &Descriptor,
        what: &'static str,
    ) -> Result<Option<T>, OciError> {
        match self.blob_path(desc.digest().as_ref())? {
            Some(path) => read_document(&path, what),
            None => Ok(None),
        }
    }

    fn document<T: DeserializeOwned>(
        &self,
        desc: &Descriptor,
        what: &'static str,
    ) -> Result<T, OciError> {
        self.try_document(desc, what)?.ok_or_else(|| {
            let path = self.blob_path(desc.digest().as_ref()).ok().flatten();
            missing(&path.unwrap_or_else(|| self.dir.join("blobs/sha256")))
        })
    }

    /// The manifest `desc` points at.
    pub fn manifest(&self, desc: &Descriptor) -> Result<ImageManifest, OciError> {
        self.document(desc, "image manifest")
    }

    /// The index `desc` points at.
    pub fn child_index(&self, desc: &Descriptor) -> Result<ImageIndex, OciError> {
        self.document(desc, "image index")
    }

    /// The descriptors the blob of `desc` names (a manifest's config and layers, an
    /// index's manifests; none for a layer or config), or `None` when the blob is missing.
    pub fn children(&self, desc: &Descriptor) -> Result<Option<Vec<Descriptor>>, OciError> {
        let media = desc.media_type();
        if !is_document(media) {
            return Ok(self.try_open(desc.digest().as_ref())?.map(|_| Vec::new()));
        }
        if is_index(media) {
            let index: Option<ImageIndex> = self.try_document(desc, "image index")?;
            return Ok(index.map(|i| i.manifests().clone()));
        }
        let manifest: Option<ImageManifest> = self.try_document(desc, "image manifest")?;
        Ok(manifest.map(|m| {
            let mut out = vec![m.config().clone()];
            out.extend(m.layers().iter().cloned());
            out
        }))
    }

    /// The manifests under `desc` (itself, or those of an index), in order, each with its
    /// descriptor.
    pub fn manifests_under(
        &self,
        desc: &Descriptor,
    ) -> Result<Vec<(Descriptor, ImageManifest)>, OciError> {
        if !is_index(desc.media_type()) {
            return Ok(vec![(desc.clone(), self.manifest(desc)?)]);
        }
        let index = self.child_index(desc)?;
        index
            .manifests()
            .iter()
            .map(|d| Ok((d.clone(), self.manifest(d)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_oci_or_docker_manifests_and_indexes() {
        let docker_list =
            MediaType::from("application/vnd.docker.distribution.manifest.list.v2+json");
        let docker_manifest =
            MediaType::from("application/vnd.docker.distribution.manifest.v2+json");
        assert!(is_index(&MediaType::ImageIndex) && is_index(&docker_list));
        assert!(!is_index(&MediaType::ImageManifest) && !is_index(&docker_manifest));
        for media in [
            MediaType::ImageIndex,
            MediaType::ImageManifest,
            docker_list,
            docker_manifest,
        ] {
            assert!(is_document(&media), "{media}");
        }
        assert!(!is_document(&MediaType::ImageLayerGzip));
        assert!(!is_document(&MediaType::ImageConfig));
    }

    #[test]
    fn a_tag_is_the_ref_name_annotation() {
        let d: Descriptor = serde_json::from_str(&format!(
            r#"{{"mediaType":"{}","digest":"sha256:{}","size":1,"annotations":{{"{ANNOTATION_REF_NAME}":"v1"}}}}"#,
            MediaType::ImageManifest,
            "a".repeat(64)
        ))
        .unwrap();
        assert_eq!(tag_of(&d), Some("v1"));
    }
}
