//! The local transport of `fetch`: `file:` URLs inside a vendored directory (`--vendor DIR`,
//! written by `compose vendor`), read within the same limits and checked against the same
//! hashes as a download, never through a symlink; any other URL is refused, not sent.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Alternatives, Bound, Cache, FetchError, Item, check_sum};

/// A vendored directory, the only place a vendored build reads its inputs from.
#[derive(Debug, Clone)]
pub(super) struct Root {
    dir: PathBuf,
}

impl Root {
    pub(super) fn new(dir: PathBuf) -> Root {
        Root { dir }
    }

    /// The file `url` names: a `file:` URL below the root, each directory on its way below
    /// the root a real directory (the root itself may be a symlink: the user chose it).
    fn path_of(&self, url: &str) -> Result<PathBuf, FetchError> {
        let refused = || FetchError::NetworkRefused {
            url: url.to_owned(),
        };
        let path = Path::new(url.strip_prefix("file://").ok_or_else(refused)?);
        let rel = path.strip_prefix(&self.dir).map_err(|_| refused())?;
        if rel.as_os_str().is_empty()
            || !rel.components().all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(refused());
        }
        let mut dir = self.dir.clone();
        let mut parts = rel.components().peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                break;
            }
            dir.push(part);
            match fs_err::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                Ok(m) => return Err(unsafe_entry(&dir, m.file_type().is_symlink())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(FetchError::NotVendored { path: path.into() });
                }
                Err(e) => return Err(FetchError::Vendored(e)),
            }
        }
        Ok(path.to_path_buf())
    }

    /// `url`'s file, opened as a regular file without following a symlink.
    fn open(&self, url: &str) -> Result<(PathBuf, fs_err::File), FetchError> {
        let path = self.path_of(url)?;
        match open_regular(&path)? {
            Some(file) => Ok((path, file)),
            None => Err(FetchError::NotVendored { path }),
        }
    }

    /// The bytes of `url`: exactly the listed size and hash, or up to a limit (InRelease).
    pub(super) fn read(&self, url: &str, bound: Bound<'_>) -> Result<Vec<u8>, FetchError> {
        let (_, file) = self.open(url)?;
        let max = match bound {
            Bound::Listed(item) => item.size,
            Bound::Limit(limit) => limit.bytes,
        };
        let mut data = Vec::new();
        file.take(max.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(FetchError::Vendored)?;
        match bound {
            _ if (data.len() as u64) <= max => {}
            Bound::Listed(item) => {
                return Err(FetchError::LongerThanListed {
                    url: url.to_owned(),
                    expected: item.size,
                });
            }
            Bound::Limit(limit) => {
                return Err(FetchError::TooLarge {
                    url: url.to_owned(),
                    limit,
                });
            }
        }
        if let Bound::Listed(item) = bound {
            let actual = hex::encode(Sha256::digest(&data));
            check_sum(url, item, true, data.len() as u64, actual)?;
        }
        Ok(data)
    }

    /// The first copy of `group` the directory has with the listed bytes, with its
    /// position, kept in the cache as a download would be.
    pub(super) fn first(
        &self,
        group: &Alternatives,
        cache: &Cache,
    ) -> Result<(usize, Vec<u8>), FetchError> {
        let mut tried = Vec::new();
        let mut all_missing = true;
        for (n, item) in group.copies.iter().enumerate() {
            match self.read(&item.url, Bound::Listed(item)) {
                Ok(data) => {
                    cache.put(&item.sha256, &data)?;
                    return Ok((n, data));
                }
                Err(e) if e.try_another_copy() => {
                    all_missing &= matches!(e, FetchError::NotVendored { .. });
                    tried.push(e.to_string());
                }
                Err(e) => return Err(e),
            }
        }
        Err(super::no_good_copy(group, tried, all_missing))
    }

    /// Copy the package `item` into the cache, hashed as it is copied, kept only when its
    /// size and SHA256 are the listed ones.
    pub(super) fn copy_to_cache(&self, item: &Item, cache: &Cache) -> Result<(), FetchError> {
        let (_, file) = self.open(&item.url)?;
        let mut temporary = cache.temporary(&item.sha256)?;
        let mut hashing = super::Hashing::new(file);
        let got = std::io::copy(
            &mut (&mut hashing).take(item.size.saturating_add(1)),
            temporary.as_file_mut(),
        )
        .map_err(FetchError::Vendored)?;
        if got > item.size {
            return Err(FetchError::LongerThanListed {
                url: item.url.clone(),
                expected: item.size,
            });
        }
        let actual = hex::encode(hashing.hasher.finalize());
        check_sum(&item.url, item, true, got, actual)?;
        cache.keep(temporary, &item.sha256)
    }
}

impl Root {
    /// Copy the `[[files]] url` file pinned by `sha256` from the directory into the cache
    /// (`vendor::pinned_file`), hashed as it is copied, within `limit`.
    pub(super) fn copy_pinned_to_cache(
        &self,
        sha256: &str,
        limit: super::Limit,
        cache: &Cache,
    ) -> Result<(), FetchError> {
        let path = self.dir.join(crate::vendor::pinned_file(sha256));
        let size = match fs_err::symlink_metadata(&path) {
            Ok(m) if m.is_file() => m.len(),
            Ok(m) => return Err(unsafe_entry(&path, m.file_type().is_symlink())),
            Err(_) => return Err(FetchError::NotVendored { path }),
        };
        if size > limit.bytes {
            return Err(FetchError::LongerThanListed {
                url: format!("file://{}", path.display()),
                expected: limit.bytes,
            });
        }
        let item = Item {
            url: format!("file://{}", path.display()),
            sha256: sha256.to_owned(),
            size,
        };
        self.copy_to_cache(&item, cache)
    }
}

/// `path` opened as a regular file without following a symlink (checked before and after
/// opening, by inode); `None` when it does not exist.
pub(crate) fn open_regular(path: &Path) -> Result<Option<fs_err::File>, FetchError> {
    let before = match fs_err::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FetchError::Vendored(e)),
    };
    if !before.is_file() {
        return Err(unsafe_entry(path, before.file_type().is_symlink()));
    }
    let file = fs_err::File::open(path).map_err(FetchError::Vendored)?;
    let after = file.metadata().map_err(FetchError::Vendored)?;
    if (after.dev(), after.ino()) != (before.dev(), before.ino()) {
        return Err(unsafe_entry(path, true));
    }
    Ok(Some(file))
}

pub(crate) fn unsafe_entry(path: &Path, symlink: bool) -> FetchError {
    FetchError::VendoredEntry {
        path: path.to_path_buf(),
        what: if symlink {
            "is a symbolic link (or was replaced while compose read it), which compose does not follow in a vendored directory"
        } else {
            "is neither a regular file nor a directory"
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::MAX_RELEASE;

    fn item(url: String, data: &[u8]) -> Item {
        Item {
            url,
            sha256: hex::encode(Sha256::digest(data)),
            size: data.len() as u64,
        }
    }

    #[test]
    fn only_regular_files_below_the_root_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("v");
        fs_err::create_dir_all(root.join("dists/s")).unwrap();
        fs_err::write(root.join("dists/s/InRelease"), b"signed").unwrap();
        fs_err::write(dir.path().join("secret"), b"secret").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("dists/s/link")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("up")).unwrap();
        let r = Root::new(root.clone());
        let url = |rel: &str| format!("file://{}/{rel}", root.display());
        let limit = Bound::Limit(MAX_RELEASE);
        assert_eq!(r.read(&url("dists/s/InRelease"), limit).unwrap(), b"signed");
        for (rel, want) in [
            ("dists/s/link", "is a symbolic link"),
            ("up/secret", "is a symbolic link"),
            ("dists/s/missing", "is not in the vendored directory"),
            ("dists/../../secret", "forbids the network"),
        ] {
            let e = r.read(&url(rel), limit).unwrap_err().to_string();
            assert!(e.contains(want), "{rel}: {e}");
        }
        let e = r.read("http://127.0.0.1:9/x", limit).unwrap_err();
        assert!(matches!(e, FetchError::NetworkRefused { .. }), "{e}");
    }

    #[test]
    fn copies_are_checked_against_the_listed_hash() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("v");
        fs_err::create_dir_all(root.join("pool")).unwrap();
        fs_err::write(root.join("pool/a.deb"), b"package").unwrap();
        let r = Root::new(root.clone());
        let cache = Cache::new(dir.path().join("cache"));
        let url = format!("file://{}/pool/a.deb", root.display());
        let good = item(url.clone(), b"package");
        r.copy_to_cache(&good, &cache).unwrap();
        assert!(cache.verified_path(&good.sha256, good.size).is_some());
        let other = item(url.clone(), b"pAckage");
        let e = r.copy_to_cache(&other, &cache).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("sha256 mismatch for `{url}`")),
            "{e}"
        );
        let longer = item(url, b"pack");
        let e = r.copy_to_cache(&longer, &cache).unwrap_err().to_string();
        assert!(e.contains("sends more than the 4 bytes"), "{e}");
    }
}
