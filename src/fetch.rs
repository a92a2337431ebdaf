//! Downloads from mirrors: concurrent, through `net` (its client, retry policy and bounded
//! reader), and a content-addressed cache of verified files.
//!
//! Everything that comes from the cache or the network is checked against its SHA256 before
//! it is handed out.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::error::Hint;
use crate::mirror::auth::Credentials;
use crate::net::{self, NetError};

mod local;

pub(crate) use local::{open_regular, unsafe_entry};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("`{url}` not found (HTTP 404)")]
    NotFound { url: String },
    #[error("`{url}` failed with HTTP {status}")]
    Status { url: String, status: u16 },
    #[error(
        "`{url}` failed with HTTP {status}: the mirror {}",
        if *sent { "refused the credentials sent" } else { "wants credentials" }
    )]
    Unauthorized {
        url: String,
        status: u16,
        sent: bool,
    },
    #[error("credentials for `{host}` would be sent over plain HTTP")]
    CredentialsOverHttp { host: String },
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
        "no copy of `{what}` {} matches its signed release file:\n  {}",
        if is_local(what) { "in the vendored directory" } else { "on the mirror" },
        tried.join("\n  ")
    )]
    NoGoodCopy { what: String, tried: Vec<String> },
    #[error(
        "{} has no copy of `{what}`, which its signed release file lists:\n  {}",
        if is_local(what) { "the vendored directory" } else { "the mirror" },
        tried.join("\n  ")
    )]
    NoCopy { what: String, tried: Vec<String> },
    #[error("sha256 mismatch for `{url}`: expected {expected}, got {actual}")]
    HashMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error(
        "{} file(s) missing from the cache, and `--offline` forbids downloading them:\n  {}",
        urls.len(),
        urls.join("\n  ")
    )]
    Offline { urls: Vec<String> },
    #[error(
        "`{url}` is listed with {size} bytes, more than the limit of {} for {}",
        human_size(limit.bytes),
        limit.what
    )]
    ListedTooLarge {
        url: String,
        size: u64,
        limit: Limit,
    },
    #[error(
        "`{url}` is larger than the limit of {} for {}",
        human_size(limit.bytes),
        limit.what
    )]
    TooLarge { url: String, limit: Limit },
    #[error("`{url}` has an invalid SHA256 `{sha256}`: expected 64 hex digits")]
    BadHash { url: String, sha256: String },
    #[error("`{url}` sends more than the {expected} bytes its signed index lists")]
    LongerThanListed { url: String, expected: u64 },
    #[error(
        "invalid `{var}` value `{value}`: expected a number of bytes, optionally with a K, M, G or T suffix (powers of 1024)"
    )]
    BadLimit { var: &'static str, value: String },
    #[error("`{url}` has sha256 {actual}, but the spec pins {expected}: refused")]
    PinnedMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("cache I/O failed")]
    Cache(#[source] std::io::Error),
    #[error(
        "`{}` changed in the cache while it was read: it no longer has the size and SHA256 its signed index lists",
        path.display()
    )]
    CacheChanged { path: PathBuf },
    #[error(
        "`{}` in the cache is a symlink, and compose does not write through symlinks",
        path.display()
    )]
    CacheSymlink { path: PathBuf },
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("`{url}` is not in the vendored directory, and `--vendor` forbids the network")]
    NetworkRefused { url: String },
    #[error("`{}` is not in the vendored directory", path.display())]
    NotVendored { path: PathBuf },
    #[error("`{}` {what}", path.display())]
    VendoredEntry { path: PathBuf, what: &'static str },
    #[error("cannot read the vendored directory")]
    Vendored(#[source] std::io::Error),
}

impl Hint for FetchError {
    fn hint(&self) -> Option<String> {
        const DAMAGED: &str = "a file of the vendored directory is not the one its signed index (or the lock) names: it was changed or damaged; vendor again with `compose vendor SPEC DIR` into a new directory";
        const INCOMPLETE: &str = "the vendored directory lacks a file the build needs: vendor every spec of the build into it with `compose vendor SPEC DIR`";
        let text = match self {
            FetchError::HashMismatch { url, .. } | FetchError::NoGoodCopy { what: url, .. }
                if is_local(url) =>
            {
                DAMAGED
            }
            FetchError::NoCopy { what, .. } if is_local(what) => INCOMPLETE,
            FetchError::NotVendored { .. } | FetchError::NetworkRefused { .. } => INCOMPLETE,
            FetchError::NoGoodCopy { .. } => {
                "the mirror may be in the middle of a sync, or a cache in front of it may hold an old copy; try again later, or pick another mirror with `--mirror`"
            }
            FetchError::NoCopy { .. } => {
                "a partial mirror may leave out some architectures or suites; pick a mirror that carries them with `--mirror`"
            }
            FetchError::HashMismatch { .. } => {
                "the mirror served different bytes than its signed index lists; the file was rejected"
            }
            FetchError::Offline { .. } => {
                "run the same build once without `--offline` to fill the cache"
            }
            FetchError::ListedTooLarge { limit, .. } | FetchError::TooLarge { limit, .. } => {
                return limit.hint();
            }
            FetchError::Unauthorized { url, sent, .. } => {
                return Some(unauthorized_hint(url, *sent));
            }
            FetchError::CredentialsOverHttp { .. } => {
                "use the mirror's `https://` URL, or pass `--insecure` to send them over plain HTTP anyway"
            }
            FetchError::CacheSymlink { .. } => {
                "remove it (the cache refills itself), or pick another `--cache-dir`"
            }
            _ => return None,
        };
        Some(text.to_owned())
    }
}

/// What to do when a mirror refuses `url` (`sent`: with credentials).
fn unauthorized_hint(url: &str, sent: bool) -> String {
    let host = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    if sent {
        format!(
            "the credentials for `{host}` were refused: check the `login` and `password` of its `machine` entry (/etc/apt/auth.conf, /etc/apt/auth.conf.d/*.conf or `--auth-file`)"
        )
    } else {
        format!(
            "add `machine {host} login USER password PASS` to /etc/apt/auth.conf, a file of /etc/apt/auth.conf.d, or a file given with `--auth-file` (an entry without `http://` matches HTTPS only, as in apt; apt's files are used only when this user may read them)"
        )
    }
}

/// A URL of the local transport (a vendored directory).
fn is_local(url: &str) -> bool {
    url.starts_with("file:")
}

impl net::Transient for FetchError {
    fn transient(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => net::transient_status(*status),
            FetchError::Http { .. } | FetchError::Truncated { .. } => true,
            FetchError::Net(e) => e.transient(),
            _ => false,
        }
    }
}

impl FetchError {
    /// The server says it does not have the file (HTTP 404 or 410).
    pub fn gone(&self) -> bool {
        matches!(
            self,
            FetchError::NotFound { .. } | FetchError::Status { status: 410, .. }
        )
    }

    /// The mirror answered, but not with the bytes the signed index names: another copy of
    /// the same content (by hash, or in another compression) may still be good.
    fn try_another_copy(&self) -> bool {
        match self {
            FetchError::NotFound { .. }
            | FetchError::NotVendored { .. }
            | FetchError::Truncated { .. }
            | FetchError::SizeMismatch { .. }
            | FetchError::LongerThanListed { .. }
            | FetchError::HashMismatch { .. } => true,
            FetchError::Status { status, .. } => *status < 500,
            _ => false,
        }
    }
}

/// The most bytes compose accepts for one kind of file, and the variable that changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub bytes: u64,
    /// What is limited, for messages (`an index`).
    pub what: &'static str,
    /// The environment variable that sets it, if any.
    pub var: Option<&'static str>,
}

impl Limit {
    /// How to raise the limit, if a variable sets it.
    fn hint(&self) -> Option<String> {
        self.var.map(|var| format!(
            "if the file is genuine, raise the limit with `{var}` (bytes, or a number with a K, M, G or T suffix)"
        ))
    }
}

/// An InRelease file: at most 10 MiB, as apt (`Acquire::MaxReleaseFileSize`).
pub const MAX_RELEASE: Limit = Limit {
    bytes: 10 << 20,
    what: "a release file",
    var: None,
};

/// A file of a spec's `[[files]]` (a source beside the spec, or a URL): at most 1 GiB.
pub const MAX_SPEC_FILE: Limit = Limit {
    bytes: 1 << 30,
    what: "a file of `[[files]]`",
    var: None,
};

/// How large the files of a build may be: nothing is downloaded, read from the cache or
/// decompressed past these, whatever a server or an index says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// An index, compressed or not (`COMPOSE_MAX_INDEX_SIZE`, default 256 MiB: four times
    /// the largest Debian index, trixie main amd64 at 54 MiB; also about the most memory
    /// that refusing a decompression bomb takes).
    pub index: Limit,
    /// A `.deb` (`COMPOSE_MAX_DEB_SIZE`, default 4 GiB; the largest in trixie main,
    /// qgis-api-doc, is 3.0 GiB).
    pub deb: Limit,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            index: Limit {
                bytes: 256 << 20,
                what: "an index",
                var: Some("COMPOSE_MAX_INDEX_SIZE"),
            },
            deb: Limit {
                bytes: 4 << 30,
                what: "a package",
                var: Some("COMPOSE_MAX_DEB_SIZE"),
            },
        }
    }
}

impl Limits {
    /// The defaults, changed by `COMPOSE_MAX_INDEX_SIZE` and `COMPOSE_MAX_DEB_SIZE`.
    pub fn from_env() -> Result<Limits, FetchError> {
        let mut limits = Limits::default();
        for limit in [&mut limits.index, &mut limits.deb] {
            let var = limit.var.expect("configurable limits name their variable");
            if let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty()) {
                let value = value.to_string_lossy();
                limit.bytes = parse_size(&value).ok_or_else(|| FetchError::BadLimit {
                    var,
                    value: value.into_owned(),
                })?;
            }
        }
        Ok(limits)
    }
}

/// `123`, `512K`, `64M`, `1G`, `2T` (also `1GiB`, `1GB`: powers of 1024), at least 1 byte.
pub fn parse_size(text: &str) -> Option<u64> {
    let lower = text.trim().to_ascii_lowercase();
    let t = lower.as_str();
    let t = t
        .strip_suffix("ib")
        .or_else(|| t.strip_suffix('b'))
        .unwrap_or(t);
    let (digits, shift) = match t.char_indices().last()? {
        (i, 'k') => (&t[..i], 10),
        (i, 'm') => (&t[..i], 20),
        (i, 'g') => (&t[..i], 30),
        (i, 't') => (&t[..i], 40),
        _ => (t, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(1 << shift).filter(|&n| n > 0)
}

/// `10 MiB`, `1 GiB`, `1536 bytes`: exact, in the largest unit that divides it.
pub fn human_size(bytes: u64) -> String {
    for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{} {unit}", bytes >> shift);
        }
    }
    format!("{bytes} bytes")
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
/// the last copy of each InRelease (verified again on every use). The cache is not trusted:
/// a blob is used only when it hashes to the SHA256 a signature (or the lock) names.
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

    /// The file of `sha256`; `None` unless it is 64 hex digits (a name from an index or a
    /// lock becomes a path only so).
    fn blob(&self, sha256: &str) -> Option<PathBuf> {
        crate::package::valid_sha256(sha256).then(|| self.root.join("sha256").join(sha256))
    }

    /// The verified content for `sha256`, which the signed index says is `size` bytes, or
    /// `None`. An entry of another size is not even read; one that does not hash to its name
    /// is removed. Nothing else in the cache is trusted: a rewritten file costs a download.
    pub fn get(&self, sha256: &str, size: u64) -> Option<Vec<u8>> {
        let path = self.blob(sha256)?;
        let len = fs_err::metadata(&path).ok()?.len();
        if len != size {
            let _ = fs_err::remove_file(&path);
            return None;
        }
        let data = fs_err::read(&path).ok()?;
        if data.len() as u64 == size && hex::encode(Sha256::digest(&data)) == sha256 {
            Some(data)
        } else {
            let _ = fs_err::remove_file(&path);
            None
        }
    }

    /// The path of the verified file for `sha256`, which the signed index says is `size`
    /// bytes, or `None`: as `get`, but hashed as a stream, never read whole. Whoever reads
    /// it reads it through `Hashing`, since the cache can change after this check.
    pub fn verified_path(&self, sha256: &str, size: u64) -> Option<PathBuf> {
        let path = self.blob(sha256)?;
        let file = fs_err::File::open(&path).ok()?;
        let mut hashing = Hashing::new(file);
        let ok = file_len(&hashing.file) == Some(size)
            && std::io::copy(&mut hashing, &mut std::io::sink()).is_ok()
            && hashing.matches(sha256, size);
        if ok {
            Some(path)
        } else {
            let _ = fs_err::remove_file(&path);
            None
        }
    }

    /// The size of the file the cache holds for `sha256`, if any (unverified: a size to
    /// check it against, as `verified_path` then does).
    pub fn cached_size(&self, sha256: &str) -> Option<u64> {
        let meta = fs_err::symlink_metadata(self.blob(sha256)?).ok()?;
        meta.is_file().then_some(meta.len())
    }

    /// Store verified bytes under their hash (`atomic::write`).
    pub fn put(&self, sha256: &str, data: &[u8]) -> Result<(), FetchError> {
        let path = self.blob(sha256).ok_or_else(|| not_a_hash(sha256))?;
        self.write_atomic(&path, data)
    }

    fn signed_path(&self, url: &str) -> PathBuf {
        self.root
            .join("signed")
            .join(hex::encode(Sha256::digest(url.as_bytes())))
    }

    /// The last InRelease fetched from `url` (unverified: the caller verifies it, and
    /// checks its dates and suite, on every use), if it is within `MAX_RELEASE`.
    pub fn get_signed(&self, url: &str) -> Option<Vec<u8>> {
        let path = self.signed_path(url);
        if fs_err::metadata(&path).ok()?.len() > MAX_RELEASE.bytes {
            return None;
        }
        let data = fs_err::read(&path).ok()?;
        (data.len() as u64 <= MAX_RELEASE.bytes).then_some(data)
    }

    pub fn put_signed(&self, url: &str, data: &[u8]) -> Result<(), FetchError> {
        self.write_atomic(&self.signed_path(url), data)
    }

    /// A small record the cache keeps under `ROOT/<dir>/<key>` (`key` a SHA256, such as the
    /// `.deb` a changelog was read from), if it is a regular file of at most `limit` bytes.
    /// Unverified: whoever reads it treats it as hostile input.
    pub fn get_record(&self, dir: &str, key: &str, limit: u64) -> Option<Vec<u8>> {
        if !crate::package::valid_sha256(key) {
            return None;
        }
        let path = self.root.join(dir).join(key);
        let meta = fs_err::symlink_metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > limit {
            return None;
        }
        let data = fs_err::read(&path).ok()?;
        (data.len() as u64 <= limit).then_some(data)
    }

    /// Keep a small record under `ROOT/<dir>/<key>` (`atomic::write`).
    pub fn put_record(&self, dir: &str, key: &str, data: &[u8]) -> Result<(), FetchError> {
        if !crate::package::valid_sha256(key) {
            return Err(not_a_hash(key));
        }
        self.write_atomic(&self.root.join(dir).join(key), data)
    }

    fn write_atomic(&self, path: &Path, data: &[u8]) -> Result<(), FetchError> {
        let dir = path.parent().expect("cache paths have a parent");
        self.checked_dir(dir)?;
        crate::atomic::write(path, data).map_err(FetchError::Cache)
    }

    /// A temporary file beside the blob of `sha256`, for a download to stream into (then
    /// `keep`); removed when dropped.
    fn temporary(&self, sha256: &str) -> Result<tempfile::NamedTempFile, FetchError> {
        let path = self.blob(sha256).ok_or_else(|| not_a_hash(sha256))?;
        let dir = path.parent().expect("cache paths have a parent");
        self.checked_dir(dir)?;
        tempfile::Builder::new()
            .prefix(".download-")
            .tempfile_in(dir)
            .map_err(FetchError::Cache)
    }

    /// Rename a verified download to the blob of `sha256`.
    fn keep(&self, file: tempfile::NamedTempFile, sha256: &str) -> Result<(), FetchError> {
        let path = self.blob(sha256).ok_or_else(|| not_a_hash(sha256))?;
        file.persist(&path)
            .map(drop)
            .map_err(|e| FetchError::Cache(e.error))
    }

    /// Create `dir` below the root, refusing it if any directory below the root on its way is
    /// a symlink.
    fn checked_dir(&self, dir: &Path) -> Result<(), FetchError> {
        fs_err::create_dir_all(dir).map_err(FetchError::Cache)?;
        // The directories below the root are the cache's own: none may lead elsewhere.
        for sub in dir
            .ancestors()
            .take_while(|d| d.starts_with(&self.root) && *d != self.root)
        {
            let meta = fs_err::symlink_metadata(sub).map_err(FetchError::Cache)?;
            if meta.file_type().is_symlink() {
                return Err(FetchError::CacheSymlink {
                    path: sub.to_path_buf(),
                });
            }
        }
        Ok(())
    }
}

fn not_a_hash(sha256: &str) -> FetchError {
    FetchError::Cache(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("`{}` is not a SHA256", crate::repo::packages::shown(sha256)),
    ))
}

fn file_len(file: &fs_err::File) -> Option<u64> {
    file.metadata().ok().map(|m| m.len())
}

/// A cached file read through a hash: what was read is the signed file only if
/// `finish` (or `matches`) says so, however the file changed since it was checked.
pub struct Hashing {
    file: fs_err::File,
    hasher: Sha256,
    read: u64,
}

impl Hashing {
    fn new(file: fs_err::File) -> Hashing {
        Hashing {
            file,
            hasher: Sha256::new(),
            read: 0,
        }
    }

    /// Open the cache file at `path` (from `Fetcher::get_all`).
    pub fn open(path: &Path) -> Result<Hashing, FetchError> {
        Ok(Hashing::new(
            fs_err::File::open(path).map_err(FetchError::Cache)?,
        ))
    }

    fn matches(&self, sha256: &str, size: u64) -> bool {
        self.read == size && hex::encode(self.hasher.clone().finalize()) == sha256
    }

    /// Read the rest of the file, then check that every byte read is the signed file of
    /// `sha256` and `size`; a cache entry that is not is removed.
    pub fn finish(mut self, sha256: &str, size: u64) -> Result<(), FetchError> {
        let path = self.file.path().to_path_buf();
        let drained = std::io::copy(&mut self, &mut std::io::sink());
        if drained.is_ok() && self.matches(sha256, size) {
            return Ok(());
        }
        let _ = fs_err::remove_file(&path);
        Err(FetchError::CacheChanged { path })
    }
}

impl std::io::Read for Hashing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// Concurrent, retrying downloads backed by the cache.
pub struct Fetcher {
    client: Http,
    runtime: tokio::runtime::Runtime,
    pub cache: Cache,
    jobs: usize,
    offline: bool,
    limits: Limits,
    /// `--vendor DIR`: every file from this directory, none from the network.
    vendor: Option<local::Root>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("cache", &self.cache)
            .finish()
    }
}

impl Fetcher {
    pub fn new(cache: Cache, jobs: usize, offline: bool) -> Result<Fetcher, FetchError> {
        Ok(Fetcher {
            client: Http {
                client: net::client(net::Peer::Mirror)?,
                credentials: Arc::default(),
            },
            runtime: net::runtime()?,
            cache,
            jobs: jobs.max(1),
            offline,
            limits: Limits::from_env()?,
            vendor: None,
        })
    }

    /// A fetcher that reads every file from the vendored directory `dir` (its `file:` URLs,
    /// which `mirror::Mirrors::vendored` gives) and refuses any other URL: no network at all.
    /// Every file is checked as a download would be.
    pub fn vendored(cache: Cache, jobs: usize, dir: PathBuf) -> Result<Fetcher, FetchError> {
        Ok(Fetcher {
            vendor: Some(local::Root::new(dir)),
            ..Fetcher::new(cache, jobs, false)?
        })
    }

    /// This fetcher, sending `credentials` (Basic) to the mirrors they match, on every
    /// attempt; a request they would send over plain HTTP to another machine is refused.
    pub fn with_credentials(mut self, credentials: Credentials) -> Fetcher {
        self.client.credentials = Arc::new(credentials);
        self
    }

    pub fn offline(&self) -> bool {
        self.offline
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Download a file whose hash is not known in advance (InRelease); with `--offline`, the
    /// cached copy. The caller verifies it, and keeps it (`Cache::put_signed`) only once it
    /// passed, so a mirror cannot replace the copy offline builds use with a bad one.
    pub fn get_signed(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        if let Some(root) = &self.vendor {
            return root.read(url, Bound::Limit(MAX_RELEASE));
        }
        if self.offline {
            return self
                .cache
                .get_signed(url)
                .ok_or_else(|| FetchError::Offline {
                    urls: vec![url.to_owned()],
                });
        }
        self.runtime
            .block_on(download(&self.client, url, Bound::Limit(MAX_RELEASE)))
    }

    /// Fetch the packages `items` into the cache (where not there yet), verify each hash,
    /// and return their cache files in the order given (to be read through `Hashing`: the
    /// cache may change after the check). No package is held in memory once downloaded.
    /// `progress` is told the size of each finished item. An item listed larger than the
    /// package limit is refused before anything is read.
    pub fn get_all(
        &self,
        items: &[Item],
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Vec<PathBuf>, FetchError> {
        let found = self.get_all_found(items, progress)?;
        found
            .into_iter()
            .zip(items)
            .map(|(path, i)| path.ok_or_else(|| FetchError::NotFound { url: i.url.clone() }))
            .collect()
    }

    /// As `get_all`, but an item the mirror does not have (HTTP 404 or 410: gone, not
    /// failing) is `None` rather than an error, so the caller may look for it elsewhere
    /// without asking the mirror about every item first.
    pub fn get_all_found(
        &self,
        items: &[Item],
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Vec<Option<PathBuf>>, FetchError> {
        use rayon::prelude::*;
        let groups: Vec<Alternatives> = items
            .iter()
            .map(|i| Alternatives {
                what: i.url.clone(),
                copies: vec![i.clone()],
            })
            .collect();
        check_listed_items(&groups, self.limits.deb)?;
        let mut out: Vec<Option<PathBuf>> = items
            .par_iter()
            .map(|i| self.cache.verified_path(&i.sha256, i.size))
            .collect();
        for (i, p) in items.iter().zip(&out) {
            if p.is_some() {
                progress(i.size);
            }
        }
        let missing: Vec<usize> = (0..items.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() && self.offline {
            return Err(FetchError::Offline {
                urls: missing.iter().map(|&i| items[i].url.clone()).collect(),
            });
        }
        let fetched = match &self.vendor {
            Some(root) => missing
                .par_iter()
                .map(|&i| root.copy_to_cache(&items[i], &self.cache).map(|()| i))
                .collect(),
            None => self.download_items(items, &missing),
        };
        for r in fetched {
            match r {
                Ok(i) => {
                    progress(items[i].size);
                    out[i] = self.cache.blob(&items[i].sha256);
                }
                Err(e) if e.gone() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// For each group, the first copy that is cached or downloads and verifies, with its
    /// position in the group; groups are fetched concurrently, results come in input order.
    /// A copy the mirror does not have, or has with other bytes, makes way for the next one;
    /// a network failure (after the retries) ends the whole call. A copy listed larger than
    /// `limit` ends it too, before anything is read or downloaded.
    pub fn get_first(
        &self,
        groups: &[Alternatives],
        limit: Limit,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Vec<(usize, Vec<u8>)>, FetchError> {
        check_listed_items(groups, limit)?;
        let mut out = self.cached(groups, progress);
        let missing: Vec<usize> = (0..groups.len()).filter(|&i| out[i].is_none()).collect();
        if missing.is_empty() {
            return Ok(out.into_iter().flatten().collect());
        }
        if self.offline {
            return Err(FetchError::Offline {
                urls: missing
                    .iter()
                    .map(|&i| groups[i].copies[0].url.clone())
                    .collect(),
            });
        }
        let fetched: Vec<_> = match &self.vendor {
            Some(root) => {
                use rayon::prelude::*;
                missing
                    .par_iter()
                    .map(|&i| root.first(&groups[i], &self.cache).map(|(n, d)| (i, n, d)))
                    .collect()
            }
            None => self.download_groups(groups, &missing),
        };
        // Report the first failure in input order, so errors are deterministic too.
        for r in fetched {
            let (i, n, data) = r?;
            progress(groups[i].copies[n].size);
            out[i] = Some((n, data));
        }
        Ok(out
            .into_iter()
            .map(|d| d.expect("every group fetched"))
            .collect())
    }

    /// For each group, its first copy found in the cache (cache look-ups hash every file:
    /// they run in parallel); `progress` is told the size of each.
    fn cached(
        &self,
        groups: &[Alternatives],
        progress: &(dyn Fn(u64) + Sync),
    ) -> Vec<Option<(usize, Vec<u8>)>> {
        use rayon::prelude::*;
        let cached: Vec<Option<(usize, Vec<u8>)>> = groups
            .par_iter()
            .map(|g| {
                g.copies
                    .iter()
                    .enumerate()
                    .find_map(|(n, i)| self.cache.get(&i.sha256, i.size).map(|d| (n, d)))
            })
            .collect();
        for (g, c) in groups.iter().zip(&cached) {
            if let Some((n, _)) = c {
                progress(g.copies[*n].size);
            }
        }
        cached
    }

    /// Download the groups numbered in `missing` concurrently (at most `jobs`, at least 4
    /// at a time), each kept in the cache; the results in the order of `missing`, each with
    /// its group's number, the position of the copy used and its bytes.
    #[allow(clippy::type_complexity)]
    fn download_groups(
        &self,
        groups: &[Alternatives],
        missing: &[usize],
    ) -> Vec<Result<(usize, usize, Vec<u8>), FetchError>> {
        self.concurrently(missing, |i| {
            let group = groups[i].clone();
            let client = self.client.clone();
            let cache = self.cache.clone();
            async move {
                let (n, data) = download_first(&client, &group).await?;
                let sha = group.copies[n].sha256.clone();
                let data =
                    tokio::task::spawn_blocking(move || cache.put(&sha, &data).map(|()| data))
                        .await
                        .expect("cache writer does not panic")?;
                Ok((i, n, data))
            }
        })
    }

    /// Run `task(i)` for each `i` of `missing` on the runtime, at most `jobs` (at least 4)
    /// at a time: the results in the order of `missing`.
    fn concurrently<T, Fut>(
        &self,
        missing: &[usize],
        task: impl Fn(usize) -> Fut,
    ) -> Vec<Result<T, FetchError>>
    where
        T: Send + 'static,
        Fut: std::future::Future<Output = Result<T, FetchError>> + Send + 'static,
    {
        self.runtime.block_on(async {
            let sem = Arc::new(tokio::sync::Semaphore::new(self.jobs.max(4)));
            let tasks: Vec<_> = missing
                .iter()
                .map(|&i| {
                    let sem = sem.clone();
                    let work = task(i);
                    tokio::spawn(async move {
                        let _permit = sem.acquire_owned().await.expect("semaphore open");
                        work.await
                    })
                })
                .collect();
            let mut results = Vec::new();
            for t in tasks {
                results.push(t.await.expect("download task does not panic"));
            }
            results
        })
    }
}

impl Fetcher {
    /// The cache file of a file the spec pins by `sha256` only (a `[[files]] url`): the
    /// cached copy if it hashes right, else downloaded (streamed to disk, at most `limit`
    /// bytes) and kept only if its SHA256 is the pinned one. `--offline` and `--vendor` use
    /// the cache only. The caller reads it through a hash: the cache can change.
    pub fn get_pinned(&self, url: &str, sha256: &str, limit: Limit) -> Result<PathBuf, FetchError> {
        let path = self.cache.blob(sha256).ok_or_else(|| not_a_hash(sha256))?;
        let cached = fs_err::symlink_metadata(&path)
            .ok()
            .filter(|m| m.is_file() && m.len() <= limit.bytes)
            .and_then(|m| self.cache.verified_path(sha256, m.len()));
        if let Some(p) = cached {
            return Ok(p);
        }
        if let Some(root) = &self.vendor {
            // `compose vendor` keeps it by its pinned hash; checked as it is copied.
            root.copy_pinned_to_cache(sha256, limit, &self.cache)?;
            return Ok(path);
        }
        if self.offline {
            return Err(FetchError::Offline {
                urls: vec![url.to_owned()],
            });
        }
        self.runtime.block_on(net::retry(|| {
            download_pinned(&self.client, url, sha256, limit, &self.cache)
        }))?;
        Ok(path)
    }

    /// The current copy of a file no signature pins (the security tracker's data): online,
    /// downloaded again, streamed to a temporary within `limit` and renamed to
    /// `ROOT/latest/<sha256 of the URL>`; offline, that copy. The caller reads it as hostile.
    pub fn get_latest(&self, url: &str, limit: Limit) -> Result<PathBuf, FetchError> {
        let dir = self.cache.root.join("latest");
        let path = dir.join(hex::encode(Sha256::digest(url.as_bytes())));
        if self.offline || self.vendor.is_some() {
            return match fs_err::symlink_metadata(&path) {
                Ok(m) if m.is_file() => Ok(path),
                _ => Err(FetchError::Offline {
                    urls: vec![url.to_owned()],
                }),
            };
        }
        self.cache.checked_dir(&dir)?;
        self.runtime.block_on(net::retry(|| async {
            let resp = send(&self.client, url).await?;
            let mut file = tempfile::Builder::new()
                .prefix(".download-")
                .tempfile_in(&dir)
                .map_err(FetchError::Cache)?;
            let temporary = file.path().to_path_buf();
            crate::interrupt::register(&temporary);
            let streamed = net::stream_bounded(resp, limit.bytes, |chunk| {
                std::io::Write::write_all(&mut file, chunk)
            })
            .await;
            let kept = match streamed {
                Err(NetError::Sink(e)) => Err(FetchError::Cache(e)),
                Err(e) => Err(body_error(url, Bound::Limit(limit), e)),
                Ok(_) => file
                    .persist(&path)
                    .map(drop)
                    .map_err(|e| FetchError::Cache(e.error)),
            };
            crate::interrupt::forget(&temporary);
            kept
        }))?;
        Ok(path)
    }

    /// Download `items[i]` for each `i` of `missing` into the cache, concurrently (at most
    /// `jobs`, at least 4 at a time), each streamed to disk: the numbers, in the order of
    /// `missing`.
    fn download_items(&self, items: &[Item], missing: &[usize]) -> Vec<Result<usize, FetchError>> {
        self.concurrently(missing, |i| {
            let item = items[i].clone();
            let client = self.client.clone();
            let cache = self.cache.clone();
            async move {
                net::retry(|| download_to_cache(&client, &item, &cache)).await?;
                Ok(i)
            }
        })
    }
}

/// Download `item` into the cache: the body streams to a temporary beside its blob, hashed
/// as it is written, and is renamed into place only when its size and SHA256 are the listed
/// ones (an interrupted build removes the temporary).
async fn download_to_cache(client: &Http, item: &Item, cache: &Cache) -> Result<(), FetchError> {
    let url = &item.url;
    stream_to_cache(
        client,
        url,
        &item.sha256,
        Bound::Listed(item),
        cache,
        |got, had_length, actual| check_sum(url, item, had_length, got, actual),
    )
    .await
}

/// Download a file pinned by `sha256` only into the cache, as `download_to_cache` does,
/// within `limit`.
async fn download_pinned(
    client: &Http,
    url: &str,
    sha256: &str,
    limit: Limit,
    cache: &Cache,
) -> Result<(), FetchError> {
    stream_to_cache(
        client,
        url,
        sha256,
        Bound::Limit(limit),
        cache,
        |_, _, actual| {
            if actual == sha256 {
                Ok(())
            } else {
                Err(FetchError::PinnedMismatch {
                    url: url.to_owned(),
                    expected: sha256.to_owned(),
                    actual,
                })
            }
        },
    )
    .await
}

/// The body of `url` streamed to a temporary beside the blob `sha256` within `bound`, hashed
/// as it is written; `check` (bytes read, whether the answer gave a length, the SHA256 in
/// hex) decides whether it is renamed into place. An interrupted build removes the temporary.
async fn stream_to_cache(
    client: &Http,
    url: &str,
    sha256: &str,
    bound: Bound<'_>,
    cache: &Cache,
    check: impl FnOnce(u64, bool, String) -> Result<(), FetchError>,
) -> Result<(), FetchError> {
    let resp = send(client, url).await?;
    let had_length = resp.content_length().is_some();
    let max = match bound {
        Bound::Listed(item) => item.size,
        Bound::Limit(limit) => limit.bytes,
    };
    let mut file = cache.temporary(sha256)?;
    let temporary = file.path().to_path_buf();
    crate::interrupt::register(&temporary);
    let mut hasher = Sha256::new();
    let streamed = net::stream_bounded(resp, max, |chunk| {
        hasher.update(chunk);
        std::io::Write::write_all(&mut file, chunk)
    })
    .await;
    let kept = match streamed {
        Err(NetError::Sink(e)) => Err(FetchError::Cache(e)),
        Err(e) => Err(body_error(url, bound, e)),
        Ok(got) => check(got, had_length, hex::encode(hasher.finalize()))
            .and_then(|()| cache.keep(file, sha256)),
    };
    crate::interrupt::forget(&temporary);
    kept
}

/// Every listed copy of `groups` has a hash fit to name a cache file, and a size within
/// `limit`: checked before anything is read or downloaded.
fn check_listed_items(groups: &[Alternatives], limit: Limit) -> Result<(), FetchError> {
    // The hash names the cache file: nothing but 64 hex digits (an index is checked when
    // parsed; this also holds for a hand-edited lock).
    let items = || groups.iter().flat_map(|g| &g.copies);
    if let Some(item) = items().find(|i| !crate::package::valid_sha256(&i.sha256)) {
        return Err(FetchError::BadHash {
            url: item.url.clone(),
            sha256: crate::repo::packages::shown(&item.sha256),
        });
    }
    if let Some(item) = items().find(|i| i.size > limit.bytes) {
        return Err(FetchError::ListedTooLarge {
            url: item.url.clone(),
            size: item.size,
            limit,
        });
    }
    Ok(())
}

/// The first copy of `group` that downloads and verifies. With one copy, its own error;
/// with several, every copy's failure.
async fn download_first(
    client: &Http,
    group: &Alternatives,
) -> Result<(usize, Vec<u8>), FetchError> {
    let mut tried = Vec::new();
    let mut all_missing = true;
    for (n, item) in group.copies.iter().enumerate() {
        match download(client, &item.url, Bound::Listed(item)).await {
            Ok(data) => return Ok((n, data)),
            Err(e) if group.copies.len() > 1 && e.try_another_copy() => {
                all_missing &= matches!(e, FetchError::NotFound { .. });
                let first_line = e.to_string().lines().next().unwrap_or_default().to_owned();
                tried.push(first_line);
            }
            Err(e) => return Err(e),
        }
    }
    Err(no_good_copy(group, tried, all_missing))
}

/// The error when every copy of `group` failed (`tried`: each one's failure): `NoCopy` when
/// not one copy was there (not a sync in progress but a source without the file), else
/// `NoGoodCopy`.
fn no_good_copy(group: &Alternatives, tried: Vec<String>, all_missing: bool) -> FetchError {
    let what = group.what.clone();
    if all_missing {
        FetchError::NoCopy { what, tried }
    } else {
        FetchError::NoGoodCopy { what, tried }
    }
}

/// How many bytes a download may have.
#[derive(Debug, Clone, Copy)]
enum Bound<'a> {
    /// Exactly the size and hash a signed index lists.
    Listed(&'a Item),
    /// Any content up to the limit (InRelease).
    Limit(Limit),
}

async fn download(client: &Http, url: &str, bound: Bound<'_>) -> Result<Vec<u8>, FetchError> {
    net::retry(|| download_once(client, url, bound)).await
}

async fn download_once(client: &Http, url: &str, bound: Bound<'_>) -> Result<Vec<u8>, FetchError> {
    let resp = send(client, url).await?;
    let had_length = resp.content_length().is_some();
    let max = match bound {
        Bound::Listed(item) => item.size,
        Bound::Limit(limit) => limit.bytes,
    };
    let data = net::read_bounded(resp, max)
        .await
        .map_err(|e| body_error(url, bound, e))?;
    if let Bound::Listed(item) = bound {
        check_listed(url, item, had_length, &data)?;
    }
    Ok(data)
}

/// The HTTP client of a fetcher and the credentials it sends.
#[derive(Clone)]
struct Http {
    client: reqwest::Client,
    credentials: Arc<Credentials>,
}

/// The response to a GET of `url` (with the credentials that match it), if its status is a
/// success.
async fn send(client: &Http, url: &str) -> Result<reqwest::Response, FetchError> {
    let login = client
        .credentials
        .login_for(url)
        .map_err(|refused| FetchError::CredentialsOverHttp { host: refused.host })?;
    let mut request = client.client.get(url);
    if let Some(login) = login {
        request = request.basic_auth(&login.user, Some(&login.password));
    }
    let resp = request.send().await.map_err(|source| FetchError::Http {
        url: url.to_owned(),
        source: source.without_url(),
    })?;
    let status = resp.status().as_u16();
    if status == 404 {
        return Err(FetchError::NotFound {
            url: url.to_owned(),
        });
    }
    if status == 401 || status == 403 {
        return Err(FetchError::Unauthorized {
            url: url.to_owned(),
            status,
            sent: login.is_some(),
        });
    }
    if !resp.status().is_success() {
        return Err(FetchError::Status {
            url: url.to_owned(),
            status,
        });
    }
    Ok(resp)
}

/// The error for a body `net::read_bounded` refused, naming `url`.
fn body_error(url: &str, bound: Bound<'_>, e: NetError) -> FetchError {
    let url = url.to_owned();
    match (e, bound) {
        (NetError::TooLong { .. }, Bound::Listed(item)) => FetchError::LongerThanListed {
            url,
            expected: item.size,
        },
        (NetError::TooLong { .. }, Bound::Limit(limit)) => FetchError::TooLarge { url, limit },
        (NetError::Truncated { got, expected }, _) => FetchError::Truncated { url, got, expected },
        (NetError::Read(source), _) => FetchError::Http { url, source },
        (e, _) => FetchError::Net(e),
    }
}

/// A complete body against the size and hash its signed index lists.
fn check_listed(url: &str, item: &Item, had_length: bool, data: &[u8]) -> Result<(), FetchError> {
    let actual = hex::encode(Sha256::digest(data));
    check_sum(url, item, had_length, data.len() as u64, actual)
}

/// A complete body of `got` bytes and SHA256 `actual` against what its signed index lists.
fn check_sum(
    url: &str,
    item: &Item,
    had_length: bool,
    got: u64,
    actual: String,
) -> Result<(), FetchError> {
    // Without a length from the server, a short body may be a cut connection (worth a
    // retry); a complete body of another size is another file than the one listed.
    if !had_length && got < item.size {
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
    if actual != item.sha256 {
        return Err(FetchError::HashMismatch {
            url: url.to_owned(),
            expected: item.sha256.clone(),
            actual,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_never_writes_through_a_symlinked_directory() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        fs_err::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), root.join("sha256")).unwrap();
        let cache = Cache::new(root.clone());
        let data = b"hello";
        let sha = hex::encode(Sha256::digest(data));
        let e = cache.put(&sha, data).unwrap_err();
        assert!(matches!(e, FetchError::CacheSymlink { .. }), "{e}");
        assert!(
            e.to_string().contains("sha256` in the cache is a symlink"),
            "{e}"
        );
        assert_eq!(fs_err::read_dir(elsewhere.path()).unwrap().count(), 0);
        // The root itself may be a symlink: it is the user's choice of place.
        let linked = dir.path().join("linked");
        std::os::unix::fs::symlink(elsewhere.path(), &linked).unwrap();
        Cache::new(linked).put(&sha, data).unwrap();
    }

    #[test]
    fn hints_follow_the_message_and_name_the_variable_of_a_limit() {
        let render = |e: FetchError| crate::error::render(&anyhow::Error::new(e));
        let deb = Limits::default().deb;
        assert_eq!(
            render(FetchError::TooLarge {
                url: "u".into(),
                limit: deb
            }),
            "error: `u` is larger than the limit of 4 GiB for a package\n\nhint: if the file is genuine, raise the limit with `COMPOSE_MAX_DEB_SIZE` (bytes, or a number with a K, M, G or T suffix)"
        );
        // The release file's limit has no variable, so no hint.
        assert_eq!(
            render(FetchError::TooLarge {
                url: "u".into(),
                limit: MAX_RELEASE
            }),
            "error: `u` is larger than the limit of 10 MiB for a release file"
        );
        assert_eq!(
            render(FetchError::Offline {
                urls: vec!["a".into(), "b".into()]
            }),
            "error: 2 file(s) missing from the cache, and `--offline` forbids downloading them:\n  a\n  b\n\nhint: run the same build once without `--offline` to fill the cache"
        );
    }

    #[test]
    fn cache_round_trip_and_corruption_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf());
        let data = b"hello";
        let sha = hex::encode(Sha256::digest(data));
        assert!(cache.get(&sha, 5).is_none());
        cache.put(&sha, data).unwrap();
        assert_eq!(cache.get(&sha, 5).as_deref(), Some(&data[..]));
        fs_err::write(dir.path().join("sha256").join(&sha), b"hellO").unwrap();
        assert!(
            cache.get(&sha, 5).is_none(),
            "a corrupt entry must not be used"
        );
        assert!(
            !dir.path().join("sha256").join(&sha).exists(),
            "and is removed"
        );
    }

    #[test]
    fn a_package_rewritten_after_its_check_fails_when_read() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf());
        let sha = hex::encode(Sha256::digest(b"hello"));
        cache.put(&sha, b"hello").unwrap();
        let path = cache.verified_path(&sha, 5).unwrap();
        let mut r = Hashing::open(&path).unwrap();
        let mut first = [0u8; 2];
        r.read_exact(&mut first).unwrap();
        r.finish(&sha, 5).unwrap();
        // Rewritten between the check and the read: the read is refused, the entry removed.
        fs_err::write(&path, b"hellO").unwrap();
        let mut r = Hashing::open(&path).unwrap();
        r.read_exact(&mut first).unwrap();
        let e = r.finish(&sha, 5).unwrap_err().to_string();
        assert!(e.contains("changed in the cache while it was read"), "{e}");
        assert!(!path.exists());
        assert!(cache.verified_path(&sha, 5).is_none());
    }

    #[test]
    fn hashes_that_are_not_hex_never_become_cache_paths() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("secret"), b"x").unwrap();
        let fetcher = Fetcher::new(Cache::new(dir.path().join("cache")), 1, true).unwrap();
        let item = Item {
            url: "http://x/pool/a.deb".into(),
            sha256: "../../secret".into(),
            size: 1,
        };
        let e = fetcher.get_all(&[item], &|_| {}).unwrap_err().to_string();
        assert_eq!(
            e,
            "`http://x/pool/a.deb` has an invalid SHA256 `../../secret`: expected 64 hex digits"
        );
        // The cache itself refuses such a name, whoever asks.
        let cache = Cache::new(dir.path().join("cache"));
        assert!(cache.get("../../secret", 1).is_none());
        assert!(cache.put("../../secret", b"y").is_err());
        assert_eq!(fs_err::read(dir.path().join("secret")).unwrap(), b"x");
    }

    #[test]
    fn a_listed_size_above_the_limit_is_refused_before_anything_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let fetcher = Fetcher::new(Cache::new(dir.path().to_path_buf()), 1, false).unwrap();
        for size in [u64::MAX, 1_000_000_000_000_000, (4 << 30) + 1] {
            let item = Item {
                url: "http://127.0.0.1:9/pool/big.deb".into(),
                sha256: "c".repeat(64),
                size,
            };
            let e = fetcher.get_all(&[item], &|_| {}).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!(
                    "`http://127.0.0.1:9/pool/big.deb` is listed with {size} bytes, more than the limit of 4 GiB for a package"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn cache_entries_of_another_size_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf());
        let sha = hex::encode(Sha256::digest(b"hello"));
        cache.put(&sha, b"hello").unwrap();
        assert!(
            cache.get(&sha, 6).is_none(),
            "the signed size is not the file's"
        );
        assert!(
            !dir.path().join("sha256").join(&sha).exists(),
            "and is removed"
        );
        // A huge sparse file where a small blob should be is never read into memory.
        let f = fs_err::File::create(dir.path().join("sha256").join(&sha)).unwrap();
        f.set_len(1 << 40).unwrap();
        assert!(cache.get(&sha, 5).is_none());
    }

    #[test]
    fn cached_release_files_past_the_limit_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf());
        cache.put_signed("http://x/InRelease", b"text").unwrap();
        assert_eq!(
            cache.get_signed("http://x/InRelease").as_deref(),
            Some(&b"text"[..])
        );
        let path = cache.signed_path("http://x/InRelease");
        fs_err::File::create(&path)
            .unwrap()
            .set_len(MAX_RELEASE.bytes + 1)
            .unwrap();
        assert!(cache.get_signed("http://x/InRelease").is_none());
    }

    #[test]
    fn sizes_parse_and_print_in_binary_units() {
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("64K"), Some(64 << 10));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size("1gb"), Some(1 << 30));
        assert_eq!(parse_size("1T"), Some(1 << 40));
        for bad in [
            "",
            "0",
            "G",
            "-1",
            "1.5G",
            "1 G",
            "1X",
            "99999999999999999999",
            "16777216T",
        ] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
        assert_eq!(human_size(10 << 20), "10 MiB");
        assert_eq!(human_size(1 << 30), "1 GiB");
        assert_eq!(human_size(1 << 40), "1 TiB");
        assert_eq!(human_size(1536), "1536 bytes");
        assert_eq!(human_size(1536 << 10), "1536 KiB");
        assert_eq!(human_size(0), "0 bytes");
        let d = Limits::default();
        assert_eq!((d.index.bytes, d.deb.bytes), (256 << 20, 4 << 30));
    }
}
