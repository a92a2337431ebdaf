//! Pulling an image from a registry into an OCI layout (`compose verify --image`): the
//! tagged document, then every manifest, config and layer it reaches, each bounded by its
//! descriptor's size and refused unless its bytes have its digest.

use std::io::Write;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use oci_spec::image::{ANNOTATION_REF_NAME, Descriptor, ImageIndex, ImageManifest, MediaType};

use super::{RegistryError, Session};
use crate::oci::reader::{MAX_DOCUMENT, valid_digest};
use crate::oci::{self, OciError, sha256_digest};

/// The manifest media types a pull asks for: an index or an image manifest.
pub const ACCEPT_IMAGE: &str =
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json";
/// What one pull asks for: an image manifest.
pub const ACCEPT_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// The largest blob a pull takes (a layer past it is refused).
pub const MAX_BLOB: u64 = 16 << 30;

/// Indexes under indexes a pull follows, the tagged one counting as 1: a registry could
/// otherwise serve an endless chain of them.
pub const MAX_NESTING: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("`{reference}` has no manifest `{tag}`")]
    Missing { reference: String, tag: String },
    #[error("{what} from `{reference}` is not what its descriptor says: {reason}")]
    Mismatch {
        reference: String,
        what: String,
        reason: String,
    },
    #[error("{what} from `{reference}` nests indexes deeper than {MAX_NESTING}")]
    TooDeep { reference: String, what: String },
    #[error("{what} from `{reference}` is not a valid OCI document")]
    Document {
        reference: String,
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write the pulled image to `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Oci(#[from] OciError),
}

/// A repository to pull from: its session, and its name for messages.
pub struct Puller<'a> {
    pub session: &'a Session,
    /// `HOST[:PORT]/REPO`, for messages.
    pub reference: String,
}

/// A document fetched by tag: its bytes and their digest.
pub struct Document {
    pub bytes: Vec<u8>,
    pub digest: String,
}

impl Puller<'_> {
    /// The document tagged (or with the digest) `tag`, asked for as `accept`; `None` when
    /// the repository has none.
    pub fn document(&self, tag: &str, accept: &'static str) -> Result<Option<Document>, PullError> {
        let bytes = self.session.manifest(tag, accept, MAX_DOCUMENT)?;
        Ok(bytes.map(|bytes| Document {
            digest: sha256_digest(&bytes),
            bytes,
        }))
    }

    /// The blob `desc` (at most its size, which must be `limit` or less) into `out`,
    /// refused unless its size and digest are the descriptor's.
    pub fn blob(
        &self,
        desc: &Descriptor,
        limit: u64,
        out: &mut dyn Write,
    ) -> Result<(), PullError> {
        let digest = desc.digest().to_string();
        let what = format!("blob {digest}");
        let mismatch = |reason: String| PullError::Mismatch {
            reference: self.reference.clone(),
            what: what.clone(),
            reason,
        };
        if !valid_digest(&digest) {
            return Err(mismatch("not a sha256 digest".into()));
        }
        if desc.size() > limit {
            return Err(mismatch(format!(
                "{} bytes, over the limit of {limit}",
                desc.size()
            )));
        }
        let mut hashing = crate::layer::Hashing::new(out);
        let n = self.session.blob(&digest, desc.size(), &mut hashing)?;
        if n != desc.size() || hashing.digest() != digest {
            return Err(mismatch(format!(
                "{n} bytes of {}, not {} bytes of {digest}",
                hashing.digest(),
                desc.size()
            )));
        }
        Ok(())
    }

    /// A small blob (a signature payload, an envelope) read whole, at most `limit` bytes.
    pub fn small_blob(&self, desc: &Descriptor, limit: u64) -> Result<Vec<u8>, PullError> {
        let mut bytes = Vec::new();
        self.blob(desc, limit, &mut bytes)?;
        Ok(bytes)
    }

    /// Pull the image tagged `tag` into a new OCI layout at `dir` (tagged `tag` there);
    /// the digest of its top document.
    pub fn pull(&self, tag: &str, dir: &Path) -> Result<String, PullError> {
        let top = self
            .document(tag, ACCEPT_IMAGE)?
            .ok_or_else(|| PullError::Missing {
                reference: self.reference.clone(),
                tag: tag.to_owned(),
            })?;
        let layout = Layout::create(dir)?;
        let media = self.store_document(&layout, &top, "the tagged manifest", 1)?;
        let tagged = BTreeMap::from([(ANNOTATION_REF_NAME.to_owned(), tag.to_owned())]);
        let desc = oci::descriptor(media, &top.bytes, None, &tagged)?;
        layout.write("index.json", &oci::layout::index_document(vec![desc])?)?;
        Ok(top.digest)
    }

    /// Store a manifest or index (nested `depth` deep) and everything under it; its media
    /// type.
    fn store_document(
        &self,
        layout: &Layout,
        doc: &Document,
        what: &str,
        depth: usize,
    ) -> Result<MediaType, PullError> {
        let parse_err = |source| PullError::Document {
            reference: self.reference.clone(),
            what: what.to_owned(),
            source,
        };
        let kind: serde_json::Value = serde_json::from_slice(&doc.bytes).map_err(parse_err)?;
        let is_index = kind.get("manifests").is_some();
        layout.write_blob(&doc.digest, &doc.bytes)?;
        if is_index {
            if depth >= MAX_NESTING {
                return Err(PullError::TooDeep {
                    reference: self.reference.clone(),
                    what: what.to_owned(),
                });
            }
            let index: ImageIndex = serde_json::from_slice(&doc.bytes).map_err(parse_err)?;
            for child in index.manifests() {
                let digest = child.digest().to_string();
                let what = format!("manifest {digest}");
                let bytes = self.document(&digest, ACCEPT_MANIFEST)?;
                let child_doc = bytes
                    .filter(|d| d.digest == digest && d.bytes.len() as u64 == child.size())
                    .ok_or_else(|| PullError::Mismatch {
                        reference: self.reference.clone(),
                        what: what.clone(),
                        reason: "missing, or not the bytes of its digest".into(),
                    })?;
                self.store_document(layout, &child_doc, &what, depth + 1)?;
            }
            return Ok(MediaType::ImageIndex);
        }
        let manifest: ImageManifest = serde_json::from_slice(&doc.bytes).map_err(parse_err)?;
        for blob in std::iter::once(manifest.config()).chain(manifest.layers()) {
            layout.pull_blob(self, blob)?;
        }
        Ok(MediaType::ImageManifest)
    }
}

/// The layout being written.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn create(dir: &Path) -> Result<Layout, PullError> {
        let blobs = dir.join("blobs/sha256");
        fs_err::create_dir_all(&blobs).map_err(|source| PullError::Write {
            path: blobs,
            source,
        })?;
        let layout = Layout {
            dir: dir.to_path_buf(),
        };
        layout.write("oci-layout", &oci::layout::oci_layout()?)?;
        Ok(layout)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), PullError> {
        let path = self.dir.join(name);
        fs_err::write(&path, bytes).map_err(|source| PullError::Write { path, source })
    }

    /// The path of a blob; the digest was checked (`valid_digest`) before.
    fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(&digest["sha256:".len()..])
    }

    fn write_blob(&self, digest: &str, bytes: &[u8]) -> Result<(), PullError> {
        let path = self.blob_path(digest);
        fs_err::write(&path, bytes).map_err(|source| PullError::Write { path, source })
    }

    /// A config or layer streamed into the layout, checked; a blob already there (one
    /// layer in two platforms) is not fetched again.
    fn pull_blob(&self, from: &Puller, desc: &Descriptor) -> Result<(), PullError> {
        let digest = desc.digest().to_string();
        if !valid_digest(&digest) {
            // `blob` refuses it with the reference in the message.
            return from.blob(desc, MAX_BLOB, &mut std::io::sink());
        }
        let path = self.blob_path(&digest);
        if path.exists() {
            return Ok(());
        }
        let write_err = |source| PullError::Write {
            path: path.clone(),
            source,
        };
        let mut file = fs_err::File::create(&path).map_err(write_err)?;
        from.blob(desc, MAX_BLOB, &mut file)?;
        file.flush().map_err(write_err)
    }
}
