//! Downloads: concurrent HTTP with retries, and a content-addressed cache of verified files.
//!
//! Only this module touches the network (besides the registry client). Everything that comes
//! from the cache or the network is checked against its SHA256 before it is handed out.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("`{url}` not found (HTTP 404)")]
    NotFound { url: String },
    #[error("`{url}` failed with HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("download of `{url}` failed")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("`{url}` was truncated: got {got} of {expected} bytes")]
    Truncated {
        url: String,
        got: u64,
        expected: u64,
    },
    #[error("`{url}` is {got} bytes, but the signed index lists {expected}")]
    SizeMismatch {
        url: String,
        got: u64,
        expected: u64,
    },
    #[error(
        "no copy of `{what}` on the mirror matches its signed release file:\n  {}\n\nhint: the mirror may be in the middle of a sync, or a cache in front of it may hold an old copy; try again later, or pick another mirror with `--mirror`",
        tried.join("\n  ")
    )]
    NoGoodCopy { what: String, tried: Vec<String> },
    #[error(
        "sha256 mismatch for `{url}`: expected {expected}, got {actual}\n\nhint: the mirror served different bytes than its signed index lists; the file was rejected"
    )]
    HashMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error(
        "{} file(s) missing from the cache, and `--offline` forbids downloading them:\n  {}\n\nhint: run the same build once without `--offline` to fill the cache",
        urls.len(),
        urls.join("\n  ")
    )]
    Offline { urls: Vec<String> },
    #[error("cache I/O failed")]
    Cache(#[source] std::io::Error),
    #[error("cannot start the HTTP client")]
    Client(#[source] reqwest::Error),
}

impl FetchError {
    fn retryable(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            FetchError::Http { .. } | FetchError::Truncated { .. } => true,
            _ => false,
        }
    }

    /// The mirror answered, but not with the bytes the signed index names: another copy of
    /// the same content (by hash, or in another compression) may still be good.
    fn try_another_copy(&self) -> bool {
        match self {
            FetchError::NotFound { .. }
            | FetchError::Truncated { .. }
            | FetchError::SizeMismatch { .. }
            | FetchError::HashMismatch { .. } => true,
            FetchError::Status { status, .. } => *status < 500,
            _ => false,
        }
    }
}

/// A file to download whose hash is known from a signed index.
#[derive(Debug, Clone)]
pub struct Item {
    pub url: String,
    pub sha256: String,
    pub size: u64,
}

/// Copies of one piece of content, in order of preference (an index by hash and by name, in
/// several compressions): the first that verifies is used.
#[derive(Debug, Clone)]
pub struct Alternatives {
    /// What the copies hold, for messages (`main/binary-amd64/Packages`).
    pub what: String,
    pub copies: Vec<Item>,
}

/// The content-addressed cache: `ROOT/sha256/<hex>` for verified files, `ROOT/signed/` for
/// the last copy of each InRelease (verified again on every use).
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    pub fn new(root: PathBuf) -> Cache {
        Cache { root }
    }

    /// The default cache root: `$COMPOSE_CACHE_DIR`, else `$XDG_CACHE_HOME/compose`, else `~/.cache/compose`.
    pub fn default_root() -> PathBuf {
        if let Some(d) = std::env::var_os("COMPOSE_CACHE_DIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(d);
        }
        if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
            return PathBuf::from(d).join("compose");
        }
        let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
        PathBuf::from(home).join(".cache/compose")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob(&self, sha256: &str) -> PathBuf {
        self.root.join("sha256").join(sha256)
    }

    /// The verified content for `sha256`, or `None` (a corrupt entry is removed).
    pub fn get(&self, sha256: &str) -> Option<Vec<u8>> {
        let path = self.blob(sha256);
        let data = fs_err::read(&path).ok()?;
        if hex::encode(Sha256::digest(&data)) == sha256 {
            Some(data)
        } else {
            let _ = fs_err::remove_file(&path);
            None
        }
    }

    /// Store verified bytes under their hash (atomically: temp file + rename).
    pub fn put(&self, sha256: &str, data: &[u8]) -> Result<(), FetchError> {
        self.write_atomic(&self.blob(sha256), data)
    }

    /// A file derived from verified content (e.g. the slim form of an index), stored under
    /// `ROOT/<kind>/<key>` with a hash header so that corruption is detected on read.
    pub fn get_derived(&self, kind: &str, key: &str) -> Option<Vec<u8>> {
        let path = self.root.join(kind).join(key);
        let mut data = fs_err::read(&path).ok()?;
        let header_len = 7 + 64 + 1;
        let valid = data.len() >= header_len
            && data.starts_with(b"sha256:")
            && data[header_len - 1] == b'\n'
            && hex::encode(Sha256::digest(&data[header_len..])).as_bytes() == &data[7..71];
        if !valid {
            let _ = fs_err::remove_file(&path);
            return None;
        }
        data.drain(..header_len);
        Some(data)
    }

    pub fn put_derived(&self, kind: &str, key: &str, data: &[u8]) -> Result<(), FetchError> {
        let mut out = Vec::with_capacity(data.len() + 72);
        out.extend_from_slice(format!("sha256:{}\n", hex::encode(Sha256::digest(data))).as_bytes());
        out.extend_from_slice(data);
        self.write_atomic(&self.root.join(kind).join(key), &out)
    }

    fn signed_path(&self, url: &str) -> PathBuf {
        self.root
            .join("signed")
            .join(hex::encode(Sha256::digest(url.as_bytes())))
    }

    /// The last InRelease fetched from `url` (unverified: the caller verifies it).
    pub fn get_signed(&self, url: &str) -> Option<Vec<u8>> {
        fs_err::read(self.signed_path(url)).ok()
    }

    pub fn put_signed(&self, url: &str, data: &[u8]) -> Result<(), FetchError> {
        self.write_atomic(&self.signed_path(url), data)
    }

    fn write_atomic(&self, path: &Path, data: &[u8]) -> Result<(), FetchError> {
        let dir = path.parent().expect("cache paths have a parent");
        fs_err::create_dir_all(dir).map_err(FetchError::Cache)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| {
            FetchError::Cache(std::io::Error::new(
                e.kind(),
                format!("{e} in {}", dir.display()),
            ))
        })?;
        tmp.write_all(data).map_err(FetchError::Cache)?;
        tmp.persist(path).map_err(|e| {
            FetchError::Cache(std::io::Error::new(
                e.error.kind(),
                format!("{} at {}", e.error, path.display()),
            ))
        })?;
        Ok(())
    }
}

/// Concurrent, retrying downloads backed by the cache.
pub struct Fetcher {
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    pub cache: Cache,
    jobs: usize,
    offline: bool,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("cache", &self.cache)
            .finish()
    }
}

const ATTEMPTS: u32 = 4;

impl Fetcher {
    pub fn new(cache: Cache, jobs: usize, offline: bool) -> Result<Fetcher, FetchError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .user_agent(concat!("compose/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(FetchError::Client)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(FetchError::Cache)?;
        Ok(Fetcher {
            client,
            runtime,
            cache,
            jobs: jobs.max(1),
            offline,
        })
    }

    pub fn offline(&self) -> bool {
        self.offline
    }

    /// Download a file whose hash is not known in advance (InRelease). With `--offline`,
    /// or when the network fails, the cached copy is returned if there is one.
    pub fn get_signed(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        if self.offline {
            return self
                .cache
                .get_signed(url)
                .ok_or_else(|| FetchError::Offline {
                    urls: vec![url.to_owned()],
                });
        }
        let data = self.runtime.block_on(download(&self.client, url, None))?;
        self.cache.put_signed(url, &data)?;
        Ok(data)
    }

    /// Fetch `items` (from the cache where present), verify each hash, and return their
    /// bytes in the order given. `progress` is told the size of each finished item.
    pub fn get_all(
        &self,
        items: &[Item],
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Vec<Vec<u8>>, FetchError> {
        let groups: Vec<Alternatives> = items
            .iter()
            .map(|i| Alternatives {
                what: i.url.clone(),
                copies: vec![i.clone()],
            })
            .collect();
        Ok(self
            .get_first(&groups, progress)?
            .into_iter()
            .map(|(_, data)| data)
            .collect())
    }

    /// For each group, the first copy that is cached or downloads and verifies, with its
    /// position in the group; groups are fetched concurrently, results come in input order.
    /// A copy the mirror does not have, or has with other bytes, makes way for the next one;
    /// a network failure (after the retries) ends the whole call.
    pub fn get_first(
        &self,
        groups: &[Alternatives],
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Vec<(usize, Vec<u8>)>, FetchError> {
        use rayon::prelude::*;
        // Cache look-ups hash every file: do them in parallel.
        let cached: Vec<Option<(usize, Vec<u8>)>> = groups
            .par_iter()
            .map(|g| {
                g.copies
                    .iter()
                    .enumerate()
                    .find_map(|(n, i)| self.cache.get(&i.sha256).map(|d| (n, d)))
            })
            .collect();
        let missing: Vec<usize> = (0..groups.len()).filter(|&i| cached[i].is_none()).collect();
        for (g, c) in groups.iter().zip(&cached) {
            if let Some((n, _)) = c {
                progress(g.copies[*n].size);
            }
        }
        if self.offline && !missing.is_empty() {
            return Err(FetchError::Offline {
                urls: missing
                    .iter()
                    .map(|&i| groups[i].copies[0].url.clone())
                    .collect(),
            });
        }
        let mut out = cached;
        if !missing.is_empty() {
            let fetched = self.runtime.block_on(async {
                let sem = Arc::new(tokio::sync::Semaphore::new(self.jobs.max(4)));
                let mut tasks = Vec::new();
                for &i in &missing {
                    let group = groups[i].clone();
                    let client = self.client.clone();
                    let sem = sem.clone();
                    let cache = self.cache.clone();
                    tasks.push(tokio::spawn(async move {
                        let _permit = sem.acquire_owned().await.expect("semaphore open");
                        let (n, data) = download_first(&client, &group).await?;
                        let sha = group.copies[n].sha256.clone();
                        let data = tokio::task::spawn_blocking(move || {
                            cache.put(&sha, &data).map(|()| data)
                        })
                        .await
                        .expect("cache writer does not panic")?;
                        Ok::<_, FetchError>((i, n, data))
                    }));
                }
                let mut results = Vec::new();
                for t in tasks {
                    results.push(t.await.expect("download task does not panic"));
                }
                results
            });
            // Report the first failure in input order, so errors are deterministic too.
            let mut errors = Vec::new();
            for r in fetched {
                match r {
                    Ok((i, n, data)) => {
                        progress(groups[i].copies[n].size);
                        out[i] = Some((n, data));
                    }
                    Err(e) => errors.push(e),
                }
            }
            if let Some(e) = errors.into_iter().next() {
                return Err(e);
            }
        }
        Ok(out
            .into_iter()
            .map(|d| d.expect("every group fetched"))
            .collect())
    }
}

/// The first copy of `group` that downloads and verifies. With one copy, its own error;
/// with several, every copy's failure.
async fn download_first(
    client: &reqwest::Client,
    group: &Alternatives,
) -> Result<(usize, Vec<u8>), FetchError> {
    let mut tried = Vec::new();
    for (n, item) in group.copies.iter().enumerate() {
        match download(client, &item.url, Some(item)).await {
            Ok(data) => return Ok((n, data)),
            Err(e) if group.copies.len() > 1 && e.try_another_copy() => {
                let first_line = e.to_string().lines().next().unwrap_or_default().to_owned();
                tried.push(first_line);
            }
            Err(e) => return Err(e),
        }
    }
    Err(FetchError::NoGoodCopy {
        what: group.what.clone(),
        tried,
    })
}

async fn download(
    client: &reqwest::Client,
    url: &str,
    expect: Option<&Item>,
) -> Result<Vec<u8>, FetchError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match download_once(client, url, expect).await {
            Ok(d) => return Ok(d),
            Err(e) if e.retryable() && attempt < ATTEMPTS => {
                let delay = Duration::from_millis(250 * (1 << (attempt - 1)));
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn download_once(
    client: &reqwest::Client,
    url: &str,
    expect: Option<&Item>,
) -> Result<Vec<u8>, FetchError> {
    let http = |source: reqwest::Error| FetchError::Http {
        url: url.to_owned(),
        source: source.without_url(),
    };
    let resp = client.get(url).send().await.map_err(http)?;
    let status = resp.status().as_u16();
    if status == 404 {
        return Err(FetchError::NotFound {
            url: url.to_owned(),
        });
    }
    if !resp.status().is_success() {
        return Err(FetchError::Status {
            url: url.to_owned(),
            status,
        });
    }
    let length = resp.content_length();
    let mut data = Vec::with_capacity(expect.map_or(length.unwrap_or(0), |i| i.size) as usize);
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        data.extend_from_slice(&chunk.map_err(http)?);
    }
    let got = data.len() as u64;
    if let Some(expected) = length.filter(|&l| l != got) {
        return Err(FetchError::Truncated {
            url: url.to_owned(),
            got,
            expected,
        });
    }
    if let Some(item) = expect {
        // Without a length from the server, a short body may be a cut connection (worth a
        // retry); a complete body of another size is another file than the one listed.
        if length.is_none() && got < item.size {
            return Err(FetchError::Truncated {
                url: url.to_owned(),
                got,
                expected: item.size,
            });
        }
        if got != item.size {
            return Err(FetchError::SizeMismatch {
                url: url.to_owned(),
                got,
                expected: item.size,
            });
        }
        let actual = hex::encode(Sha256::digest(&data));
        if actual != item.sha256 {
            return Err(FetchError::HashMismatch {
                url: url.to_owned(),
                expected: item.sha256.clone(),
                actual,
            });
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_round_trip_and_corruption_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf());
        let data = b"hello";
        let sha = hex::encode(Sha256::digest(data));
        assert!(cache.get(&sha).is_none());
        cache.put(&sha, data).unwrap();
        assert_eq!(cache.get(&sha).as_deref(), Some(&data[..]));
        fs_err::write(dir.path().join("sha256").join(&sha), b"hellO").unwrap();
        assert!(
            cache.get(&sha).is_none(),
            "a corrupt entry must not be used"
        );
        assert!(
            !dir.path().join("sha256").join(&sha).exists(),
            "and is removed"
        );
    }
}
