//! Mirror credentials: apt's own files (`/etc/apt/auth.conf`, `/etc/apt/auth.conf.d/*.conf`,
//! netrc as apt_auth.conf(5) reads it), `--auth-file FILE`, and the `user:password@` of a
//! mirror URL; `Credentials::login_for` a URL, with the rule that a password goes over HTTPS
//! only (plain HTTP to this machine, or with `--insecure`). No network; nothing here prints a
//! password (`Login`'s `Debug` hides it).

use std::path::{Path, PathBuf};

/// The largest credentials file read (apt's are a few lines): past it, the file is refused.
pub const MAX_AUTH_FILE: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read the credentials file")]
    Read(#[source] std::io::Error),
    #[error("`{}` is larger than {MAX_AUTH_FILE} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error("`{}` line {line}: {what}", path.display())]
    Malformed {
        path: PathBuf,
        line: usize,
        what: &'static str,
    },
}

/// A user name and password for one request (Basic authentication).
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Login({}:***)", self.user)
    }
}

/// One `machine [PROTOCOL://]HOST[:PORT][/PATH] login USER password PASS` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// `None`: HTTPS only, as apt.
    scheme: Option<String>,
    host: String,
    port: Option<u16>,
    /// A prefix of the URL's path (`/debian`), empty for any.
    path: String,
    login: Login,
}

/// Why credentials that match a URL are not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainHttp {
    /// The host the credentials are for (never the password).
    pub host: String,
}

/// Every mirror credential known to a run, first match wins.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    entries: Vec<Entry>,
    /// `--insecure`: credentials may go over plain HTTP to any host.
    insecure: bool,
}

impl Credentials {
    /// `files` (`--auth-file`, in order), then apt's `ROOT/etc/apt/auth.conf` and the
    /// `.conf` files of `ROOT/etc/apt/auth.conf.d` in name order. Missing apt files are
    /// skipped, and so (with a warning) are those this user may not read (apt keeps them
    /// for root); a missing or unreadable `--auth-file` is an error.
    pub fn load(root: &Path, files: &[PathBuf], insecure: bool) -> Result<Credentials, AuthError> {
        let mut entries = Vec::new();
        for f in files {
            entries.extend(read_file(f)?);
        }
        let dir = root.join("etc/apt");
        let mut apt = vec![dir.join("auth.conf")];
        if let Ok(rd) = fs_err::read_dir(dir.join("auth.conf.d")) {
            let mut parts: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "conf"))
                .collect();
            parts.sort();
            apt.extend(parts);
        }
        for f in apt.iter().filter(|f| f.is_file()) {
            match read_file(f) {
                Ok(more) => entries.extend(more),
                Err(AuthError::Read(e)) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    eprintln!("warning: {e}: its mirror credentials are not used");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Credentials { entries, insecure })
    }

    /// These entries, then `later`'s, with `later`'s `--insecure`.
    pub fn then(mut self, later: Credentials) -> Credentials {
        self.entries.extend(later.entries);
        self.insecure = later.insecure;
        self
    }

    /// Credentials written in a mirror URL, matched before any file's (as apt does): for the
    /// URL's scheme, host, port and path.
    pub fn add_from_url(&mut self, url: &reqwest::Url, login: Login) {
        let entry = Entry {
            scheme: Some(url.scheme().to_owned()),
            host: bare_host(url).to_ascii_lowercase(),
            port: url.port_or_known_default(),
            path: url.path().trim_end_matches('/').to_owned(),
            login,
        };
        self.entries.push(entry);
    }

    /// The login for `url`, if an entry matches it; refused (`PlainHttp`) when it would go
    /// over plain HTTP to a host not on this machine without `--insecure`.
    pub fn login_for(&self, url: &str) -> Result<Option<&Login>, PlainHttp> {
        let Ok(url) = reqwest::Url::parse(url) else {
            return Ok(None);
        };
        let Some(entry) = self.entries.iter().find(|e| e.matches(&url)) else {
            return Ok(None);
        };
        if url.scheme() == "https" || self.insecure || is_loopback(&url) {
            return Ok(Some(&entry.login));
        }
        Err(PlainHttp {
            host: url.host_str().unwrap_or_default().to_owned(),
        })
    }
}

impl Entry {
    fn matches(&self, url: &reqwest::Url) -> bool {
        let scheme_ok = match &self.scheme {
            Some(s) => s == url.scheme(),
            None => url.scheme() == "https",
        };
        scheme_ok
            && bare_host(url).eq_ignore_ascii_case(&self.host)
            && self
                .port
                .is_none_or(|p| url.port_or_known_default() == Some(p))
            && url.path().starts_with(&self.path)
    }
}

/// The URL's host, an IPv6 address without its brackets.
fn bare_host(url: &reqwest::Url) -> &str {
    let host = url.host_str().unwrap_or_default();
    host.trim_start_matches('[').trim_end_matches(']')
}

/// A host on this machine: `localhost`, 127.0.0.0/8, `::1`.
fn is_loopback(url: &reqwest::Url) -> bool {
    let bare = bare_host(url);
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

/// The entries of one credentials file, bounded; a malformed one names its file and line.
fn read_file(path: &Path) -> Result<Vec<Entry>, AuthError> {
    use std::io::Read;
    let file = fs_err::File::open(path).map_err(AuthError::Read)?;
    let mut text = String::new();
    file.take(MAX_AUTH_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| {
            AuthError::Read(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", path.display()),
            ))
        })?;
    if text.len() as u64 > MAX_AUTH_FILE {
        return Err(AuthError::TooLarge {
            path: path.to_owned(),
        });
    }
    parse(&text).map_err(|(line, what)| AuthError::Malformed {
        path: path.to_owned(),
        line,
        what,
    })
}

/// Tokens with their line numbers: whitespace-separated, `#` to the end of a line a comment.
fn tokens(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().flat_map(|(n, line)| {
        let line = line.split('#').next().unwrap_or("");
        line.split_whitespace().map(move |t| (n + 1, t))
    })
}

/// An entry being read: where its `machine` was, and what came after it.
struct Pending {
    line: usize,
    entry: Entry,
    login: Option<String>,
    password: Option<String>,
}

impl Pending {
    fn finish(self) -> Result<Entry, (usize, &'static str)> {
        let login = self.login.ok_or((self.line, "`machine` without `login`"))?;
        let password = (self.password).ok_or((self.line, "`machine` without `password`"))?;
        Ok(Entry {
            login: Login {
                user: login,
                password,
            },
            ..self.entry
        })
    }
}

/// apt's netrc: `machine`, `login`, `password` each followed by a value, over any lines;
/// other tokens ignored. An error is a line and what is wrong (never the value).
fn parse(text: &str) -> Result<Vec<Entry>, (usize, &'static str)> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut open: Option<Pending> = None;
    let mut toks = tokens(text);
    while let Some((line, tok)) = toks.next() {
        let what = match tok {
            "machine" => "`machine` without a host",
            "login" => "`login` without a user name",
            "password" => "`password` without a value",
            _ => continue,
        };
        let (_, value) = toks.next().ok_or((line, what))?;
        if tok == "machine" {
            if let Some(done) = open.take() {
                entries.push(done.finish()?);
            }
            let entry = machine(value).ok_or((line, "invalid `machine` value"))?;
            open = Some(Pending {
                line,
                entry,
                login: None,
                password: None,
            });
            continue;
        }
        let pending =
            (open.as_mut()).ok_or((line, "`login` or `password` before any `machine`"))?;
        let field = match tok {
            "login" => &mut pending.login,
            _ => &mut pending.password,
        };
        *field = Some(value.to_owned());
    }
    if let Some(done) = open {
        entries.push(done.finish()?);
    }
    Ok(entries)
}

/// `[PROTOCOL://]HOST[:PORT][/PATH]`.
fn machine(value: &str) -> Option<Entry> {
    let (scheme, rest) = match value.split_once("://") {
        Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
        None => (None, value),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let (host, port) = match authority.strip_prefix('[') {
        // An IPv6 address: `[::1]`, `[::1]:8080`.
        Some(bracketed) => {
            let (h, after) = bracketed.split_once(']')?;
            match after {
                "" => (h, None),
                p => (h, Some(p.strip_prefix(':')?.parse().ok()?)),
            }
        }
        None => match authority.split_once(':') {
            Some((h, p)) => (h, Some(p.parse().ok()?)),
            None => (authority, None),
        },
    };
    if host.is_empty() || host.contains(['@', ' ']) {
        return None;
    }
    Some(Entry {
        scheme,
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase(),
        port,
        path: path.to_owned(),
        login: Login {
            user: String::new(),
            password: String::new(),
        },
    })
}

/// `url` without its `user:password@`, and the login it carried (percent-decoded), if any.
pub fn split_credentials(url: &str) -> (String, Option<(reqwest::Url, Login)>) {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return (super::without_credentials(url), None);
    };
    if parsed.username().is_empty() && parsed.password().is_none() {
        return (url.to_owned(), None);
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let login = Login {
        user: decode(parsed.username()),
        password: decode(parsed.password().unwrap_or("")),
    };
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    (super::without_credentials(url), Some((parsed, login)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(text: &str, insecure: bool) -> Credentials {
        Credentials {
            entries: parse(text).unwrap(),
            insecure,
        }
    }

    #[test]
    fn apt_netrc_over_lines_with_comments_and_first_match() {
        let c = creds(
            "# corp\nmachine m.example/debian login a\n password one\nmachine m.example login b password two # all\nmachine http://h.example:8080 login c password three\n",
            false,
        );
        let user = |u: &str| c.login_for(u).unwrap().map(|l| l.user.clone());
        assert_eq!(
            user("https://m.example/debian/dists/x").as_deref(),
            Some("a")
        );
        assert_eq!(user("https://m.example/other").as_deref(), Some("b"));
        assert_eq!(user("https://m.example:444/other").as_deref(), Some("b"));
        // No protocol: HTTPS only, as apt.
        assert_eq!(user("http://m.example/debian"), None);
        assert_eq!(
            c.login_for("http://h.example:8080/d").unwrap_err().host,
            "h.example"
        );
        assert_eq!(user("http://h.example:8081/d"), None);
        let insecure = creds("machine http://h.example login c password p\n", true);
        assert!(insecure.login_for("http://h.example/d").unwrap().is_some());
        let local = creds("machine http://127.0.0.1 login c password p\n", false);
        assert!(local.login_for("http://127.0.0.1:9/d").unwrap().is_some());
        let six = creds(
            "machine http://[::1] login a password p\nmachine [::1]:8443/d login b password p\n",
            false,
        );
        let user = |u: &str| six.login_for(u).unwrap().map(|l| l.user.clone());
        assert_eq!(user("http://[::1]:9/x").as_deref(), Some("a"));
        assert_eq!(user("https://[::1]:8443/d/x").as_deref(), Some("b"));
        assert_eq!(user("https://[::1]:8444/d/x"), None);
    }

    #[test]
    fn malformed_files_name_the_line_never_the_password() {
        for (text, line) in [
            ("machine h login u password", 1),
            ("login u password p\n", 1),
            ("\nmachine h\nlogin u\n", 2),
            ("machine h:notaport login u password secret\n", 1),
        ] {
            let (l, what) = parse(text).unwrap_err();
            assert_eq!(l, line, "{text}");
            assert!(!what.contains("secret"));
        }
    }

    #[test]
    fn files_under_the_apt_root_and_auth_files_first() {
        let dir = tempfile::tempdir().unwrap();
        let apt = dir.path().join("etc/apt/auth.conf.d");
        fs_err::create_dir_all(&apt).unwrap();
        fs_err::write(
            dir.path().join("etc/apt/auth.conf"),
            "machine a.example login root password p\n",
        )
        .unwrap();
        fs_err::write(
            apt.join("b.conf"),
            "machine b.example login part password p\n",
        )
        .unwrap();
        fs_err::write(apt.join("c.txt"), "machine c.example login no password p\n").unwrap();
        let extra = dir.path().join("extra");
        fs_err::write(&extra, "machine b.example login flag password p\n").unwrap();
        let c = Credentials::load(dir.path(), std::slice::from_ref(&extra), false).unwrap();
        let user = |u: &str| c.login_for(u).unwrap().map(|l| l.user.clone());
        assert_eq!(user("https://a.example/").as_deref(), Some("root"));
        assert_eq!(user("https://b.example/").as_deref(), Some("flag"));
        assert_eq!(user("https://c.example/"), None);
        fs_err::write(&extra, "machine x login u password hunter2\nmachine\n").unwrap();
        let e = Credentials::load(dir.path(), &[extra], false).unwrap_err();
        let e = crate::error::render(&e.into());
        assert!(e.contains("line 2") && !e.contains("hunter2"), "{e}");
    }

    #[test]
    fn credentials_in_a_url_are_split_off() {
        let (url, login) = split_credentials("https://u:p%40ss@m.example:8443/debian");
        assert_eq!(url, "https://m.example:8443/debian");
        let (parsed, login) = login.unwrap();
        assert_eq!(login.password, "p@ss");
        let mut c = Credentials::default();
        c.add_from_url(&parsed, login);
        assert!(
            c.login_for("https://m.example:8443/debian/pool/x.deb")
                .unwrap()
                .is_some()
        );
        assert!(
            c.login_for("https://m.example:8443/other")
                .unwrap()
                .is_none()
        );
        assert_eq!(split_credentials("http://m.example/d").1, None);
    }
}
