//! The build's file contents on disk, by SHA256: every regular file of every package streams
//! in once (`put`), deduplicated across packages, levels and platforms, and streams out to
//! the layers (`open`); small files share one pack file, large ones have a file each. No file's contents are held in memory whole; a tree holds only the
//! `tree::Content` (digest and size) that names them. One store per build, in a temporary
//! directory that a finished, failed or interrupted build removes.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// Where a small file's bytes are in the pack.
#[derive(Debug, Clone, Copy)]
struct Packed {
    offset: u64,
    size: u64,
}

/// A content-addressed store of file contents in a temporary directory: files that fit one
/// buffer appended to one pack file (creating a file per small file costs more than
/// extracting it), larger ones each in `sha256/<hex>`.
#[derive(Debug)]
pub struct Store {
    dir: tempfile::TempDir,
    pack: std::fs::File,
    pack_path: PathBuf,
    /// The end of the pack: each small file reserves its range here, then writes it there.
    end: AtomicU64,
    /// Small files by SHA256 (about 80 bytes each: the one thing that grows with the number
    /// of distinct files, never with their size).
    packed: Mutex<HashMap<[u8; 32], Packed>>,
}

impl Store {
    /// A store in a new temporary directory under `parent` (created if missing), removed
    /// when the store is dropped or the build is interrupted.
    pub fn create_in(parent: &Path) -> Result<Store, ContentError> {
        fs_err::create_dir_all(parent).map_err(io_at(parent))?;
        // Only compose may write in it: what is there goes into layers unchecked.
        let dir = tempfile::Builder::new()
            .prefix(".compose-content-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir_in(parent)
            .map_err(io_at(parent))?;
        crate::interrupt::register(dir.path());
        let objects = dir.path().join("sha256");
        fs_err::create_dir_all(&objects).map_err(io_at(&objects))?;
        let pack_path = dir.path().join("pack");
        let pack = fs_err::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&pack_path)
            .map_err(io_at(&pack_path))?
            .into_parts()
            .0;
        Ok(Store {
            dir,
            pack,
            pack_path,
            end: AtomicU64::new(0),
            packed: Mutex::new(HashMap::new()),
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn object(&self, sha256: &[u8; 32]) -> PathBuf {
        self.dir.path().join("sha256").join(hex::encode(sha256))
    }

    fn packed(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Packed>> {
        self.packed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stream `reader` to its end into the store, deduplicated by SHA256. A file that fits
    /// one buffer is hashed first and appended to the pack (unless there already); a
    /// larger one is hashed while written to a temporary, then renamed to `sha256/<hex>`.
    pub fn put(&self, mut reader: impl Read) -> Result<Content, ContentError> {
        let mut buf = vec![0u8; BUFFER];
        let mut filled = 0;
        while filled < BUFFER {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => return self.put_small(&buf[..filled]),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ContentError::Source(e)),
            }
        }
        let mut tmp =
            tempfile::NamedTempFile::new_in(self.dir.path()).map_err(io_at(self.dir.path()))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut n = filled;
        loop {
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n]).map_err(io_at(tmp.path()))?;
            size += n as u64;
            n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                Err(e) => return Err(ContentError::Source(e)),
            };
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

    /// A file held in one buffer, appended to the pack at a range of its own (two threads
    /// storing the same bytes at once both write them; either copy serves).
    fn put_small(&self, bytes: &[u8]) -> Result<Content, ContentError> {
        let sha256: [u8; 32] = Sha256::digest(bytes).into();
        let size = bytes.len() as u64;
        if !self.packed().contains_key(&sha256) {
            let offset = self.end.fetch_add(size, Ordering::Relaxed);
            self.pack
                .write_all_at(bytes, offset)
                .map_err(io_at(&self.pack_path))?;
            self.packed().insert(sha256, Packed { offset, size });
        }
        Ok(Content::stored(sha256, size))
    }

    /// The bytes of `content`: its own when it carries them, else from the pack (a small
    /// file: read whole, at most one buffer) or its file in the store.
    pub fn open(&self, content: &Content) -> Result<Box<dyn Read + Send + '_>, ContentError> {
        if let Some(bytes) = &content.inline {
            return Ok(Box::new(io::Cursor::new(bytes.clone())));
        }
        let packed = self.packed().get(&content.sha256).copied();
        if let Some(p) = packed.filter(|p| p.size == content.size) {
            let mut bytes = vec![0u8; usize::try_from(p.size).unwrap_or(usize::MAX)];
            self.pack
                .read_exact_at(&mut bytes, p.offset)
                .map_err(io_at(&self.pack_path))?;
            return Ok(Box::new(io::Cursor::new(bytes)));
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
        // Small files go to the pack once; a large one to a file of its own, once.
        assert_eq!(fs_err::metadata(s.path().join("pack")).unwrap().len(), 5);
        let big = vec![7u8; 3 * BUFFER + 1];
        let c = s.put(&big[..]).unwrap();
        assert_eq!(s.put(&big[..]).unwrap(), c);
        assert_eq!(s.read(&c, "big", 1 << 20).unwrap(), big);
        let files = fs_err::read_dir(s.path().join("sha256")).unwrap().count();
        assert_eq!(files, 1);
        let path = s.path().to_path_buf();
        drop(s);
        assert!(!path.exists());
    }
}
