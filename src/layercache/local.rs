//! The layer cache in a local directory (by default `layers/` in compose's cache):
//! `entries/<key>.json` and `blobs/sha256/<hex>`, each written whole through a rename.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{CacheError, ENTRY_LIMIT, Entry, Key, Tier, read_limited, remove_if_present};
use crate::oci::reader::valid_digest;

/// A layer cache directory.
pub struct LocalDir {
    dir: PathBuf,
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Open a regular file, never through a symlink; `None` when it is not there.
fn open_no_follow(path: &Path) -> Result<Option<std::fs::File>, CacheError> {
    crate::oci::reader::open_regular(path).map_err(CacheError::File)
}

impl LocalDir {
    pub fn new(dir: PathBuf) -> LocalDir {
        LocalDir { dir }
    }

    fn entry_path(&self, key: &Key) -> PathBuf {
        self.dir.join("entries").join(format!("{key}.json"))
    }

    /// Only a well-formed digest names a blob path (no `..`, no separators).
    fn blob_path(&self, digest: &str) -> Option<PathBuf> {
        valid_digest(digest).then(|| {
            self.dir
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:"))
        })
    }

    fn create_dirs(&self) -> Result<(), CacheError> {
        for sub in ["entries", "blobs/sha256"] {
            let d = self.dir.join(sub);
            fs_err::create_dir_all(&d).map_err(io_at(&d))?;
        }
        Ok(())
    }
}

impl Tier for LocalDir {
    fn name(&self) -> String {
        format!("`{}`", self.dir.display())
    }

    fn get(&self, key: &Key) -> Result<Option<Entry>, CacheError> {
        let path = self.entry_path(key);
        let Some(file) = open_no_follow(&path)? else {
            return Ok(None);
        };
        let bytes = read_limited(file, ENTRY_LIMIT).map_err(io_at(&path))?;
        let entry = Entry::from_json(&bytes).map_err(|source| CacheError::BadEntry {
            key: key.to_string(),
            tier: self.name(),
            source,
        })?;
        // An entry whose blob is gone (pruned by hand) is a miss, not an error.
        match self.blob_path(&entry.digest) {
            Some(blob) if blob.symlink_metadata().is_ok_and(|m| m.is_file()) => Ok(Some(entry)),
            _ => Ok(None),
        }
    }

    fn read_blob(&self, entry: &Entry, out: &mut dyn Write) -> Result<(), CacheError> {
        let Some(path) = self.blob_path(&entry.digest) else {
            return Err(io_at(&self.dir)(io::Error::other(format!(
                "`{}` is not a digest",
                entry.digest
            ))));
        };
        let mut file =
            open_no_follow(&path)?.ok_or_else(|| io_at(&path)(io::ErrorKind::NotFound.into()))?;
        // Never more than the entry says: a longer file fails its size check.
        io::copy(
            &mut io::Read::take(&mut file, entry.size.saturating_add(1)),
            out,
        )
        .map_err(io_at(&path))?;
        Ok(())
    }

    fn link_blob(&self, entry: &Entry, dest: &Path) -> Result<bool, CacheError> {
        let Some(path) = self.blob_path(&entry.digest) else {
            return Ok(false);
        };
        // Only a regular file is linked (a hard link to a symlink would be the symlink).
        if !path.symlink_metadata().is_ok_and(|m| m.is_file()) {
            return Ok(false);
        }
        Ok(std::fs::hard_link(&path, dest).is_ok())
    }

    fn put(&self, key: &Key, entry: &Entry, blob: &Path) -> Result<(), CacheError> {
        self.create_dirs()?;
        let Some(dest) = self.blob_path(&entry.digest) else {
            return Ok(());
        };
        if !dest.symlink_metadata().is_ok_and(|m| m.is_file()) {
            // A link (or copy) under a temporary name, then renamed: never a partial blob.
            let tmp = self.dir.join("blobs/sha256").join(format!(
                ".tmp-{}-{}",
                std::process::id(),
                &key.as_str()[..16]
            ));
            let _ = fs_err::remove_file(&tmp);
            if std::fs::hard_link(blob, &tmp).is_err() {
                fs_err::copy(blob, &tmp).map_err(io_at(&tmp))?;
            }
            fs_err::rename(&tmp, &dest).map_err(io_at(&dest))?;
        }
        let path = self.entry_path(key);
        crate::atomic::write(&path, &entry.to_json()).map_err(io_at(&path))?;
        Ok(())
    }

    fn remove(&self, key: &Key, entry: &Entry) -> Result<(), CacheError> {
        let blob = self.blob_path(&entry.digest);
        for path in std::iter::once(self.entry_path(key)).chain(blob) {
            remove_if_present(&path)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layercache::{LayerCache, test_entry};

    #[test]
    fn a_saved_layer_is_restored_and_a_tampered_one_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(vec![Box::new(LocalDir::new(dir.path().join("c")))]);
        let key = Key::of([b"level".as_slice()]);
        assert!(cache.lookup(&key).is_none());

        let blob = dir.path().join("blob");
        fs_err::write(&blob, b"layer bytes").unwrap();
        let entry = test_entry(b"layer bytes");
        cache.save(&key, &entry, &blob);
        let (tier, found) = cache.lookup(&key).expect("a hit");
        assert_eq!(found, entry);
        let out = dir.path().join("out");
        assert!(cache.restore(tier, &key, &found, &out));
        assert_eq!(fs_err::read(&out).unwrap(), b"layer bytes");

        // Same length, other bytes: the digest check drops the entry.
        let cached = dir
            .path()
            .join("c/blobs/sha256")
            .join(entry.digest.trim_start_matches("sha256:"));
        fs_err::remove_file(&cached).unwrap();
        fs_err::write(&cached, b"LAYER BYTES").unwrap();
        assert!(!cache.restore(tier, &key, &found, &out));
        assert!(!out.exists(), "a failed restore leaves nothing");
        assert!(cache.lookup(&key).is_none(), "the bad entry is gone");
    }

    #[test]
    fn bad_entries_and_symlinks_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalDir::new(dir.path().to_path_buf());
        local.create_dirs().unwrap();
        let key = Key::of([b"k".as_slice()]);
        fs_err::write(local.entry_path(&key), b"{not json").unwrap();
        assert!(matches!(local.get(&key), Err(CacheError::BadEntry { .. })));
        let cache = LayerCache::new(vec![Box::new(LocalDir::new(dir.path().to_path_buf()))]);
        assert!(
            cache.lookup(&key).is_none(),
            "an unreadable entry is a miss"
        );

        let elsewhere = dir.path().join("elsewhere.json");
        fs_err::write(&elsewhere, test_entry(b"x").to_json()).unwrap();
        fs_err::remove_file(local.entry_path(&key)).unwrap();
        std::os::unix::fs::symlink(&elsewhere, local.entry_path(&key)).unwrap();
        assert!(
            local.get(&key).is_err(),
            "an entry is never read through a symlink"
        );
    }

    #[test]
    fn keys_are_hex_and_length_prefixed() {
        let a = Key::of([b"ab".as_slice(), b"c".as_slice()]);
        let b = Key::of([b"a".as_slice(), b"bc".as_slice()]);
        assert_ne!(a, b);
        // A key is a safe file name and tag: 64 lowercase hex digits.
        assert_eq!(a.as_str().len(), 64);
        assert!(
            a.as_str()
                .bytes()
                .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
        );
    }
}
