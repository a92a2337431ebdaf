//! The build's file contents on disk, by SHA256: every regular file of every package streams
//! in once (`put`), deduplicated across packages, levels and platforms, and streams out to
//! the layers (`open`). No file's contents are held in memory whole; a tree holds only the
//! `tree::Content` (digest and size) that names them. One store per build, in a temporary
//! directory that a finished, failed or interrupted build removes.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::tree::Content;

/// Copy buffer of one `put` or `open` (in flight per thread, whatever the file's size).
const BUFFER: usize = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("cannot use the content store at `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read the contents being stored")]
    Source(#[source] io::Error),
    #[error("`{what}` is larger than {limit} bytes")]
    TooLarge { what: String, limit: u64 },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ContentError + '_ {
    move |source| ContentError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A content-addressed store of file contents in a temporary directory.
#[derive(Debug)]
pub struct Store {
    dir: tempfile::TempDir,
}

impl Store {
    /// A store in a new temporary directory under `parent` (created if missing), removed
    /// when the store is dropped or the build is interrupted.
    pub fn create_in(parent: &Path) -> Result<Store, ContentError> {
        fs_err::create_dir_all(parent).map_err(io_at(parent))?;
        let dir = tempfile::Builder::new()
            .prefix(".compose-content-")
            .tempdir_in(parent)
            .map_err(io_at(parent))?;
        crate::interrupt::register(dir.path());
        let objects = dir.path().join("sha256");
        fs_err::create_dir_all(&objects).map_err(io_at(&objects))?;
        Ok(Store { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn object(&self, sha256: &[u8; 32]) -> PathBuf {
        self.dir.path().join("sha256").join(hex::encode(sha256))
    }

    /// Stream `reader` to its end into the store: hashed while written to a temporary,
    /// renamed to `sha256/<hex>` (or dropped when that is there already).
    pub fn put(&self, mut reader: impl Read) -> Result<Content, ContentError> {
        let mut tmp =
            tempfile::NamedTempFile::new_in(self.dir.path()).map_err(io_at(self.dir.path()))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; BUFFER];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ContentError::Source(e)),
            };
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n]).map_err(io_at(tmp.path()))?;
            size += n as u64;
        }
        let sha256: [u8; 32] = hasher.finalize().into();
        let path = self.object(&sha256);
        if !path.exists() {
            // Two threads storing the same bytes rename the same contents: either wins.
            tmp.persist(&path).map_err(|e| ContentError::Io {
                path: path.clone(),
                source: e.error,
            })?;
        }
        Ok(Content::stored(sha256, size))
    }

    /// The bytes of `content`: its own when it carries them, else its file in the store.
    pub fn open(&self, content: &Content) -> Result<Box<dyn Read + Send + '_>, ContentError> {
        if let Some(bytes) = &content.inline {
            return Ok(Box::new(io::Cursor::new(bytes.clone())));
        }
        let path = self.object(&content.sha256);
        let file = fs_err::File::open(&path).map_err(io_at(&path))?;
        Ok(Box::new(
            io::BufReader::with_capacity(BUFFER, file).take(content.size),
        ))
    }

    /// The whole of a small file (`what` names it in the error), refused past `limit` bytes:
    /// a certificate, an os-release or a copyright file.
    pub fn read(&self, content: &Content, what: &str, limit: u64) -> Result<Vec<u8>, ContentError> {
        if content.size > limit {
            return Err(ContentError::TooLarge {
                what: what.to_owned(),
                limit,
            });
        }
        let mut out = Vec::new();
        self.open(content)?
            .read_to_end(&mut out)
            .map_err(io_at(&self.object(&content.sha256)))?;
        Ok(out)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        crate::interrupt::forget(self.dir.path());
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A store in the system's temporary directory (for tests).
    pub(crate) fn store() -> Store {
        Store::create_in(&std::env::temp_dir()).unwrap()
    }

    #[test]
    fn put_dedups_and_reads_back() {
        let s = store();
        let a = s.put(&b"hello"[..]).unwrap();
        let b = s.put(&b"hello"[..]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, Content::inline(&b"hello"[..]));
        assert_eq!(a.size, 5);
        assert_eq!(s.read(&a, "x", 5).unwrap(), b"hello");
        assert!(s.read(&a, "x", 4).is_err());
        let files = fs_err::read_dir(s.path().join("sha256")).unwrap().count();
        assert_eq!(files, 1);
        let path = s.path().to_path_buf();
        drop(s);
        assert!(!path.exists());
    }
}
