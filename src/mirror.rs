//! Symbolic archive names (`debian`, `debian-security`) to mirror URLs.
//!
//! Order: `--mirror NAME=URL`, then `COMPOSE_MIRROR_<NAME>` in the environment, then the
//! machine's own apt sources (deb822 `*.sources` and one-line `*.list`). No host is built in.
//! A snapshot archive is a mirror named `snapshot` like any other (never from apt): an
//! archive at a timestamp is `<snapshot>/archive/<archive>/<TIMESTAMP>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub mod auth;

use auth::Credentials;

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("no mirror for archive `{name}`")]
    Unknown { name: String, var: String },
    #[error("invalid `--mirror` value `{0}`: expected NAME=URL with an http or https URL")]
    BadFlag(String),
    #[error(
        "archive `{archive}` is pinned to snapshot `{timestamp}`, and no snapshot archive is configured"
    )]
    NoSnapshot { archive: String, timestamp: String },
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
}

impl crate::error::Hint for MirrorError {
    fn hint(&self) -> Option<String> {
        match self {
            MirrorError::Unknown { name, var } => Some(format!(
                "pass `--mirror {name}=URL`, set `{var}=URL`, or configure a Debian mirror in /etc/apt/sources.list.d"
            )),
            MirrorError::NoSnapshot { .. } => Some(format!(
                "pass `--mirror {SNAPSHOT}=URL` or set `{}=URL` (the snapshot archive's root, under which `archive/<archive>/<timestamp>/` lies)",
                env_var(SNAPSHOT)
            )),
            MirrorError::BadFlag(_) | MirrorError::Auth(_) => None,
        }
    }
}

/// The mirror name of the snapshot archive (`--mirror snapshot=URL`,
/// `COMPOSE_MIRROR_SNAPSHOT`).
pub const SNAPSHOT: &str = "snapshot";

/// How the credentials of mirrors are found and sent (the command line's part).
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// `--auth-file`: netrc files read before apt's.
    pub auth_files: Vec<PathBuf>,
    /// `--insecure`: credentials may go over plain HTTP to another machine.
    pub insecure: bool,
}

/// Resolves symbolic archive names.
#[derive(Debug, Clone, Default)]
pub struct Mirrors {
    flags: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
    apt: BTreeMap<String, String>,
    /// `--vendor DIR`: every location is its subtree of this directory, whatever the rest says.
    vendor: Option<PathBuf>,
    /// `--vendor DIR`: the `file:` URL of each subtree, and the mirror URL it was vendored
    /// from (the manifest's record), for what is reported, never fetched.
    recorded: BTreeMap<String, String>,
    /// The credentials of the mirrors: those written in their URLs (taken out of every URL
    /// this type gives), then `--auth-file` and apt's (`with_auth`).
    credentials: Credentials,
}

impl Mirrors {
    /// Gather the three sources of mirror URLs: command-line flags, the environment, apt.
    pub fn new(flags: &[String], apt_root: &Path) -> Result<Mirrors, MirrorError> {
        let mut parsed = BTreeMap::new();
        for f in flags {
            let (name, url) = f
                .split_once('=')
                .ok_or_else(|| MirrorError::BadFlag(without_credentials(f)))?;
            if name.is_empty() || !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(MirrorError::BadFlag(without_credentials(f)));
            }
            parsed.insert(name.to_owned(), url.trim_end_matches('/').to_owned());
        }
        let env = std::env::vars()
            .filter(|(k, _)| k.starts_with("COMPOSE_MIRROR_"))
            .collect();
        let mut m = Mirrors {
            flags: parsed,
            env,
            apt: apt_mirrors(apt_root),
            ..Mirrors::default()
        };
        for urls in [&mut m.flags, &mut m.env, &mut m.apt] {
            for url in urls.values_mut() {
                let (bare, login) = auth::split_credentials(url);
                if let Some((parsed, login)) = login {
                    m.credentials.add_from_url(&parsed, login);
                    *url = bare;
                }
            }
        }
        Ok(m)
    }

    /// These mirrors with the credentials of `files` (`--auth-file`) and apt's files under
    /// `apt_root` after those written in their URLs; `insecure` lets them go over plain HTTP.
    pub fn with_auth(
        mut self,
        apt_root: &Path,
        files: &[PathBuf],
        insecure: bool,
    ) -> Result<Mirrors, MirrorError> {
        let loaded = Credentials::load(apt_root, files, insecure)?;
        self.credentials = self.credentials.then(loaded);
        Ok(self)
    }

    /// The credentials a fetcher sends to these mirrors.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Every location served from the vendored directory `dir` (absolute): the `file:` URL
    /// of its subtree (`crate::vendor::subtree`), which only `fetch`'s local transport reads.
    /// What a report names (SBOMs, provenance, `--json`) is the mirror each subtree was
    /// vendored from, as the directory's manifest records it (`reported`).
    pub fn vendored(dir: &Path) -> Mirrors {
        let recorded = crate::vendor::recorded_mirrors(dir)
            .into_iter()
            .map(|(tree, url)| (format!("file://{}", dir.join(tree).display()), url))
            .collect();
        Mirrors {
            vendor: Some(dir.to_path_buf()),
            recorded,
            ..Mirrors::default()
        }
    }

    /// The URL a report names for `url`, a URL files were fetched from: a mirror's `http(s)`
    /// URL as it is, credentials left out; a vendored directory's `file:` URL as the mirror
    /// URL it was vendored from; `None` when there is no such URL (a vendored directory
    /// without a usable record, any other scheme).
    pub fn reported(&self, url: &str) -> Option<String> {
        if self.vendor.is_some() {
            return self.recorded.iter().find_map(|(local, mirror)| {
                let rest = url.strip_prefix(local.as_str())?;
                (rest.is_empty() || rest.starts_with('/')).then(|| format!("{mirror}{rest}"))
            });
        }
        (url.starts_with("http://") || url.starts_with("https://"))
            .then(|| without_credentials(url))
    }

    /// The mirrors of this machine: `flags`, the environment, and the apt sources under `/`,
    /// with the credentials of their URLs, `access.auth_files` and apt's `auth.conf` files.
    pub fn of_host(flags: &[String], access: &Access) -> Result<Mirrors, MirrorError> {
        let root = Path::new("/");
        Mirrors::new(flags, root)?.with_auth(root, &access.auth_files, access.insecure)
    }

    /// The URL of a source's location: a URL as it is, an archive name through the mirrors.
    pub fn url_of(&self, location: &crate::spec::Location) -> Result<String, MirrorError> {
        if let Some(dir) = &self.vendor {
            let tree = dir.join(crate::vendor::subtree(location));
            return Ok(format!("file://{}", tree.display()));
        }
        match location {
            crate::spec::Location::Url(u) => Ok(u.clone()),
            crate::spec::Location::Archive(a) => self.resolve(a),
        }
    }

    /// The URL of a source's location at a snapshot timestamp (`None`: the location's
    /// mirror, as `url_of`). Only an archive has snapshots (the spec and the lock refuse
    /// others, and a URL is taken as it is).
    pub fn url_at(
        &self,
        location: &crate::spec::Location,
        snapshot: Option<&str>,
    ) -> Result<String, MirrorError> {
        match (location, snapshot) {
            // A vendored directory holds the lock's release of each location, pinned or not.
            _ if self.vendor.is_some() => self.url_of(location),
            (crate::spec::Location::Archive(a), Some(t)) => self.snapshot(a, t),
            _ => self.url_of(location),
        }
    }

    /// `<snapshot>/archive/<archive>/<timestamp>`: the archive as it was at `timestamp`.
    pub fn snapshot(&self, archive: &str, timestamp: &str) -> Result<String, MirrorError> {
        let base = self
            .configured(SNAPSHOT)
            .ok_or_else(|| MirrorError::NoSnapshot {
                archive: archive.to_owned(),
                timestamp: timestamp.to_owned(),
            })?;
        Ok(format!("{base}/archive/{archive}/{timestamp}"))
    }

    /// Whether a snapshot archive is configured.
    pub fn has_snapshot(&self) -> bool {
        // A vendored build reaches no network, so no snapshot archive either.
        self.vendor.is_none() && self.configured(SNAPSHOT).is_some()
    }

    /// The URL `--mirror` or the environment gives `name` (apt never names a snapshot).
    fn configured(&self, name: &str) -> Option<String> {
        if let Some(u) = self.flags.get(name) {
            return Some(u.clone());
        }
        self.env
            .get(&env_var(name))
            .filter(|u| !u.is_empty())
            .map(|u| u.trim_end_matches('/').to_owned())
    }

    /// The URL for archive `name`.
    pub fn resolve(&self, name: &str) -> Result<String, MirrorError> {
        let var = env_var(name);
        if let Some(u) = self.configured(name) {
            return Ok(u);
        }
        if let Some(u) = self.apt.get(name) {
            return Ok(u.clone());
        }
        Err(MirrorError::Unknown {
            name: name.to_owned(),
            var,
        })
    }
}

/// `url` without the `user:password@` of its authority, if it has one.
pub fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// `debian-security` -> `COMPOSE_MIRROR_DEBIAN_SECURITY`.
pub fn env_var(name: &str) -> String {
    let up: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("COMPOSE_MIRROR_{up}")
}

/// One `deb` entry of the apt configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AptEntry {
    uri: String,
    suites: Vec<String>,
}

fn apt_mirrors(root: &Path) -> BTreeMap<String, String> {
    let dir = root.join("etc/apt");
    let mut files: Vec<PathBuf> = vec![dir.join("sources.list")];
    if let Ok(rd) = fs_err::read_dir(dir.join("sources.list.d")) {
        let mut more: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    let mut entries = Vec::new();
    for f in files {
        let Ok(text) = fs_err::read_to_string(&f) else {
            continue;
        };
        match f.extension().and_then(|e| e.to_str()) {
            Some("sources") => entries.extend(parse_deb822_sources(&text)),
            Some("list") => entries.extend(parse_one_line_sources(&text)),
            _ => {}
        }
    }
    classify(&entries)
}

/// Pick the `debian` and `debian-security` archive URLs out of apt entries.
fn classify(entries: &[AptEntry]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in entries {
        let security = e
            .suites
            .iter()
            .any(|s| s.ends_with("-security") || s.ends_with("/updates"))
            || e.uri.trim_end_matches('/').ends_with("-security");
        let name = if security {
            "debian-security"
        } else {
            "debian"
        };
        out.entry(name.to_owned()).or_insert_with(|| e.uri.clone());
    }
    out
}

fn parse_deb822_sources(text: &str) -> Vec<AptEntry> {
    let mut out = Vec::new();
    for para in text.split("\n\n") {
        let mut fields: BTreeMap<String, String> = BTreeMap::new();
        let mut last: Option<String> = None;
        for line in para.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                if let Some(k) = &last {
                    let v = fields.entry(k.clone()).or_default();
                    v.push(' ');
                    v.push_str(line.trim());
                }
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                fields.insert(k.clone(), v.trim().to_owned());
                last = Some(k);
            }
        }
        let types = fields.get("types").map(String::as_str).unwrap_or("");
        if !types.split_whitespace().any(|t| t == "deb") {
            continue;
        }
        if fields
            .get("enabled")
            .is_some_and(|v| v.eq_ignore_ascii_case("no"))
        {
            continue;
        }
        let suites: Vec<String> = fields
            .get("suites")
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        for uri in fields
            .get("uris")
            .map(String::as_str)
            .unwrap_or("")
            .split_whitespace()
        {
            if uri.starts_with("http://") || uri.starts_with("https://") {
                out.push(AptEntry {
                    uri: uri.trim_end_matches('/').to_owned(),
                    suites: suites.clone(),
                });
            }
        }
    }
    out
}

fn parse_one_line_sources(text: &str) -> Vec<AptEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace().peekable();
        if words.next() != Some("deb") {
            continue;
        }
        if words.peek().is_some_and(|w| w.starts_with('[')) {
            // Options: `[arch=amd64 signed-by=...]`, possibly spread over several words.
            for w in words.by_ref() {
                if w.ends_with(']') {
                    break;
                }
            }
        }
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        if uri.starts_with("http://") || uri.starts_with("https://") {
            out.push(AptEntry {
                uri: uri.trim_end_matches('/').to_owned(),
                suites: vec![suite.to_owned()],
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_sources_give_both_archives() {
        let text = "Types: deb\n# a comment\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb deb-src\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n";
        let m = classify(&parse_deb822_sources(text));
        assert_eq!(m["debian"], "http://mirror.example/debian");
        assert_eq!(
            m["debian-security"],
            "http://mirror.example/debian-security"
        );
    }

    #[test]
    fn disabled_and_source_only_entries_are_skipped() {
        let text = "Types: deb-src\nURIs: http://a.example/debian\nSuites: x\n\nTypes: deb\nEnabled: no\nURIs: http://b.example/debian\nSuites: x\n";
        assert!(parse_deb822_sources(text).is_empty());
    }

    #[test]
    fn one_line_sources_with_options() {
        let text = "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://c.example/debian bookworm main\ndeb-src http://d.example/debian bookworm main\ndeb http://c.example/debian-security bookworm-security main\n";
        let e = parse_one_line_sources(text);
        assert_eq!(e.len(), 2);
        let m = classify(&e);
        assert_eq!(m["debian"], "http://c.example/debian");
        assert_eq!(m["debian-security"], "http://c.example/debian-security");
    }

    #[test]
    fn flags_win_over_apt_and_unknown_names_hint() {
        let dir = tempfile::tempdir().unwrap();
        let apt = dir.path().join("etc/apt/sources.list.d");
        fs_err::create_dir_all(&apt).unwrap();
        fs_err::write(
            apt.join("debian.sources"),
            "Types: deb\nURIs: http://apt.example/debian\nSuites: trixie\n",
        )
        .unwrap();
        let m = Mirrors::new(&[], dir.path()).unwrap();
        assert_eq!(m.resolve("debian").unwrap(), "http://apt.example/debian");
        let m = Mirrors::new(&["debian=http://flag.example/d/".into()], dir.path()).unwrap();
        assert_eq!(m.resolve("debian").unwrap(), "http://flag.example/d");
        let e = m.resolve("ubuntu-ports-nowhere").unwrap_err();
        let e = crate::error::render(&e.into());
        assert!(e.contains("--mirror ubuntu-ports-nowhere=URL"), "{e}");
        assert!(e.contains("COMPOSE_MIRROR_UBUNTU_PORTS_NOWHERE"), "{e}");
        assert!(Mirrors::new(&["debian".into()], dir.path()).is_err());
        assert!(Mirrors::new(&["debian=ftp://x".into()], dir.path()).is_err());
        let e = Mirrors::new(&["debian=ftp://u:hunter2@x/d".into()], dir.path()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid `--mirror` value `debian=ftp://x/d`: expected NAME=URL with an http or https URL"
        );
        let m = Mirrors::new(
            &["debian=https://u:p%40ss@flag.example/d/".into()],
            dir.path(),
        )
        .unwrap();
        assert_eq!(m.resolve("debian").unwrap(), "https://flag.example/d");
        let login = m
            .credentials()
            .login_for("https://flag.example/d/pool/a.deb")
            .unwrap();
        assert_eq!(login.map(|l| l.password.as_str()), Some("p@ss"));
    }

    #[test]
    fn a_snapshot_is_an_archive_at_a_time_under_the_snapshot_mirror() {
        use crate::spec::Location;
        let dir = tempfile::tempdir().unwrap();
        let debian = Location::Archive("debian".into());
        let none = Mirrors::new(&["debian=http://m.example/d".into()], dir.path()).unwrap();
        let e = none.url_at(&debian, Some("20261120T000000Z")).unwrap_err();
        let e = crate::error::render(&e.into());
        assert!(e.contains("--mirror snapshot=URL"), "{e}");
        assert!(e.contains("COMPOSE_MIRROR_SNAPSHOT=URL"), "{e}");
        assert!(!none.has_snapshot());
        assert_eq!(none.url_at(&debian, None).unwrap(), "http://m.example/d");
        let m = Mirrors::new(&["snapshot=http://s.example/".into()], dir.path()).unwrap();
        assert_eq!(
            m.url_at(&debian, Some("20261120T000000Z")).unwrap(),
            "http://s.example/archive/debian/20261120T000000Z"
        );
    }

    #[test]
    fn reported_urls_have_no_credentials_and_no_local_paths() {
        assert_eq!(
            without_credentials("http://u:p@m.example:8080/d/x@y"),
            "http://m.example:8080/d/x@y"
        );
        assert_eq!(
            without_credentials("https://m.example/d"),
            "https://m.example/d"
        );
        let dir = tempfile::tempdir().unwrap();
        let m = Mirrors::new(&[], dir.path()).unwrap();
        assert_eq!(
            m.reported("http://u@m.example/d/pool/a.deb").as_deref(),
            Some("http://m.example/d/pool/a.deb")
        );
        assert_eq!(m.reported("file:///x/pool/a.deb"), None);
        let v = Mirrors {
            vendor: Some(dir.path().to_path_buf()),
            recorded: BTreeMap::from([(
                format!("file://{}/archive/debian", dir.path().display()),
                "http://m.example/debian".to_owned(),
            )]),
            ..Mirrors::default()
        };
        let local = format!("file://{}/archive/debian", dir.path().display());
        assert_eq!(
            v.reported(&format!("{local}/pool/a.deb")).as_deref(),
            Some("http://m.example/debian/pool/a.deb")
        );
        assert_eq!(v.reported(&format!("{local}-security/pool/a.deb")), None);
        assert_eq!(v.reported("http://m.example/debian/pool/a.deb"), None);
    }

    #[test]
    fn env_var_names() {
        assert_eq!(env_var("debian-security"), "COMPOSE_MIRROR_DEBIAN_SECURITY");
    }
}
