//! The changelogs of `.deb`s, for what an update fixes: each taken from the package itself
//! (`usr/share/doc/PKG/changelog.Debian.gz`), the `.deb` fetched and checked against its
//! signed SHA256 like any download, the changelog kept in the cache by the `.deb`'s hash.

use rayon::prelude::*;

use crate::deb::{self, DocChangelog};
use crate::fetch::{Cache, FetchError, Fetcher, Hashing, Item};

/// Where the cache keeps what each `.deb` says of its changelog, by the `.deb`'s SHA256.
const RECORDS: &str = "changelogs";
/// A record is one short line.
const RECORD_LIMIT: u64 = 512;

/// A `.deb` whose changelog is wanted: what it must be, and where it is.
#[derive(Debug, Clone)]
pub struct DebRef {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// Copies to try in order (the mirror of its source; for an image, each mirror).
    pub urls: Vec<String>,
    pub sha256: String,
    pub size: u64,
}

/// What a `.deb` says of its changelog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// `changelog.Debian.gz`, as the package ships it.
    Gz(Vec<u8>),
    /// Its doc directory is a link to another package's, which holds the changelog.
    LinkedTo(String),
    /// The package ships none.
    Missing,
    /// `--offline` and not in the cache.
    NotCached,
    /// No mirror had the `.deb`.
    NotFound,
    /// The `.deb` could not be read (why, on one line).
    Unreadable(String),
}

/// Changelogs from the cache, else from the `.deb`s.
pub struct Changelogs<'a> {
    pub cache: &'a Cache,
    pub fetcher: &'a Fetcher,
}

impl Changelogs<'_> {
    /// What each `.deb` says of its changelog, in order: cached records first, then every
    /// missing `.deb` fetched at once and read (in parallel), its record kept.
    pub fn get(&self, debs: &[DebRef]) -> Result<Vec<Found>, FetchError> {
        let mut out: Vec<Option<Found>> = debs.iter().map(|d| self.cached(d)).collect();
        let missing: Vec<usize> = (0..debs.len()).filter(|&i| out[i].is_none()).collect();
        if missing.is_empty() {
            return Ok(out
                .into_iter()
                .map(|f| f.unwrap_or(Found::NotCached))
                .collect());
        }
        // Offline: the `.deb` itself may still be in the cache.
        let files = self.fetch(debs, &missing)?;
        let read: Vec<Result<Found, FetchError>> = files
            .par_iter()
            .map(|(i, file)| match file {
                Some(path) => self.read(&debs[*i], path),
                None if self.fetcher.offline() => Ok(Found::NotCached),
                None => Ok(Found::NotFound),
            })
            .collect();
        for ((i, _), found) in files.iter().zip(read) {
            out[*i] = Some(found?);
        }
        Ok(out
            .into_iter()
            .map(|f| f.unwrap_or(Found::NotCached))
            .collect())
    }

    /// The `.deb`s at `missing`, each from the first of its copies that has it (`None`: no
    /// copy did, or offline and not cached).
    fn fetch(
        &self,
        debs: &[DebRef],
        missing: &[usize],
    ) -> Result<Vec<(usize, Option<std::path::PathBuf>)>, FetchError> {
        let mut result: Vec<(usize, Option<std::path::PathBuf>)> =
            missing.iter().map(|&i| (i, None)).collect();
        let rounds = missing
            .iter()
            .map(|&i| debs[i].urls.len())
            .max()
            .unwrap_or(0);
        for round in 0..rounds {
            let wanted: Vec<(usize, Item)> = result
                .iter()
                .enumerate()
                .filter(|(_, (_, path))| path.is_none())
                .filter_map(|(slot, (i, _))| {
                    let d = &debs[*i];
                    d.urls.get(round).map(|url| {
                        (
                            slot,
                            Item {
                                url: url.clone(),
                                sha256: d.sha256.clone(),
                                size: d.size,
                            },
                        )
                    })
                })
                .collect();
            if wanted.is_empty() {
                break;
            }
            let items: Vec<Item> = wanted.iter().map(|(_, item)| item.clone()).collect();
            let found = match self.fetcher.get_all_found(&items, &|_| {}) {
                Ok(found) => found,
                Err(FetchError::Offline { .. }) => {
                    // Only what the cache has.
                    items
                        .iter()
                        .map(|i| self.cache.verified_path(&i.sha256, i.size))
                        .collect()
                }
                Err(e) => return Err(e),
            };
            for ((slot, _), path) in wanted.iter().zip(found) {
                result[*slot].1 = path;
            }
        }
        Ok(result)
    }

    /// The cached record of `d`, if any (and, for a changelog, its bytes by their hash).
    fn cached(&self, d: &DebRef) -> Option<Found> {
        let record = self.cache.get_record(RECORDS, &d.sha256, RECORD_LIMIT)?;
        let record = String::from_utf8(record).ok()?;
        let mut words = record.split_whitespace();
        match (words.next()?, words.next(), words.next()) {
            ("gz", Some(sha), Some(size)) => {
                let size: u64 = size.parse().ok()?;
                self.cache.get(sha, size).map(Found::Gz)
            }
            ("link", Some(dir), None) if crate::package::valid_name(dir) => {
                Some(Found::LinkedTo(dir.to_owned()))
            }
            ("none", None, None) => Some(Found::Missing),
            _ => None,
        }
    }

    /// Read the changelog out of the `.deb` at `path` (hashed as it streams: a cache file
    /// that is not the signed `.deb` is refused) and keep the record.
    fn read(&self, d: &DebRef, path: &std::path::Path) -> Result<Found, FetchError> {
        let identity = deb::Identity {
            name: &d.name,
            version: &d.version,
            architecture: &d.architecture,
        };
        let mut reader = Hashing::open(path)?;
        let doc = deb::changelog(
            &identity,
            std::io::BufReader::with_capacity(64 << 10, &mut reader),
        );
        reader.finish(&d.sha256, d.size)?;
        let (found, record) = match doc {
            Ok(DocChangelog::File(gz)) => {
                let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&gz));
                self.cache.put(&sha, &gz)?;
                let record = format!("gz {sha} {}\n", gz.len());
                (Found::Gz(gz), record)
            }
            Ok(DocChangelog::LinkedTo(dir)) => {
                let record = format!("link {dir}\n");
                (Found::LinkedTo(dir), record)
            }
            Ok(DocChangelog::Missing) => (Found::Missing, "none\n".to_owned()),
            // A package compose cannot read: named by the caller, nothing kept.
            Err(e) => return Ok(Found::Unreadable(format!("{:#}", anyhow::Error::new(e)))),
        };
        self.cache
            .put_record(RECORDS, &d.sha256, record.as_bytes())?;
        Ok(found)
    }
}
