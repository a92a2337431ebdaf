//! Registry credentials and challenges: `--creds`, Docker's config file (its credential
//! helpers, `credHelpers` and `credsStore`, run by `helper`, then its `auths`), and the
//! `WWW-Authenticate` header (Basic, or Bearer with a token service).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::RegistryError;

/// A user name and password for one registry, with where they came from (for messages).
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    pub from: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Parse `USER:PASS` as given to `--creds`.
    pub fn parse(text: &str) -> Result<Credentials, RegistryError> {
        match text.split_once(':') {
            Some((user, password)) if !user.is_empty() => Ok(Credentials {
                user: user.to_owned(),
                password: password.to_owned(),
                from: "--creds".to_owned(),
            }),
            _ => Err(RegistryError::CredsFlag),
        }
    }
}

/// Docker's client config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir).join("config.json")),
        _ => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json")),
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    /// The credential helper of each registry host.
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    /// The credential helper of every other registry.
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// `https://host:5000/v1/` and `host:5000` both name `host:5000`.
fn registry_key(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// The credentials for `host` from a Docker config file (a missing file means none), as
/// docker finds them: the host's helper in `credHelpers`, else the `credsStore` helper, else
/// (when the helper holds nothing for the host) the `auths` entry.
pub fn from_docker_config(path: &Path, host: &str) -> Result<Option<Credentials>, RegistryError> {
    let text = match fs_err::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(RegistryError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let bad = |reason: String| RegistryError::DockerConfig {
        path: path.to_path_buf(),
        reason,
    };
    let config: DockerConfig = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let helper = config
        .cred_helpers
        .iter()
        .find(|(k, _)| registry_key(k) == host)
        .map(|(_, v)| v)
        .or(config.creds_store.as_ref())
        .filter(|name| !name.is_empty());
    if let Some(name) = helper
        && let Some(creds) = super::helper::get(name, host)?
    {
        return Ok(Some(creds));
    }
    let Some(entry) = config
        .auths
        .iter()
        .find(|(k, _)| registry_key(k) == host)
        .map(|(_, v)| v)
    else {
        return Ok(None);
    };
    let from = format!("{} (auths.{host})", path.display());
    if let Some(auth) = &entry.auth {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|e| bad(format!("`auths.{host}.auth` is not base64: {e}")))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| bad(format!("`auths.{host}.auth` is not UTF-8")))?;
        let Some((user, password)) = decoded.split_once(':') else {
            return Err(bad(format!("`auths.{host}.auth` is not `user:password`")));
        };
        return Ok(Some(Credentials {
            user: user.to_owned(),
            password: password.to_owned(),
            from,
        }));
    }
    Ok(match (&entry.username, &entry.password) {
        (Some(user), Some(password)) => Some(Credentials {
            user: user.clone(),
            password: password.clone(),
            from,
        }),
        _ => None,
    })
}

/// What a registry asked for in `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// Parse a `WWW-Authenticate` value: a scheme, then `key="value"` pairs.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
        }),
        _ => None,
    }
}

fn parse_params(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
            value = value.trim().to_owned();
        }
        out.insert(key, value);
    }
}

/// The token in a token service's answer (`token`, or OAuth2's `access_token`).
pub fn token_from_response(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v["token"]
        .as_str()
        .or_else(|| v["access_token"].as_str())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Bearer realm="http://x/t\"q""#),
            Some(Challenge::Bearer {
                realm: "http://x/t\"q".into(),
                service: None,
            })
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn tokens_come_from_either_field() {
        assert_eq!(
            token_from_response(br#"{"token":"a"}"#).as_deref(),
            Some("a")
        );
        assert_eq!(
            token_from_response(br#"{"access_token":"b","expires_in":60}"#).as_deref(),
            Some("b")
        );
        assert_eq!(token_from_response(br#"{"token":""}"#), None);
    }

    #[test]
    fn docker_config_auths_match_by_host() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        // "alice:s3cret:x" in base64: the password may contain colons.
        fs_err::write(
            &path,
            r#"{"auths":{"https://127.0.0.1:5000/v1/":{"auth":"YWxpY2U6czNjcmV0Ong="},
                "127.0.0.2:1":{"username":"bob","password":"pw"}},"credsStore":""}"#,
        )
        .unwrap();
        let c = from_docker_config(&path, "127.0.0.1:5000")
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.user.as_str(), c.password.as_str()),
            ("alice", "s3cret:x")
        );
        let c = from_docker_config(&path, "127.0.0.2:1").unwrap().unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("bob", "pw"));
        assert!(from_docker_config(&path, "127.0.0.3").unwrap().is_none());
        assert!(
            from_docker_config(&dir.path().join("missing.json"), "h")
                .unwrap()
                .is_none()
        );
        fs_err::write(&path, "{").unwrap();
        assert!(matches!(
            from_docker_config(&path, "h"),
            Err(RegistryError::DockerConfig { .. })
        ));
    }

    #[test]
    fn creds_flag_parses() {
        let c = Credentials::parse("u:p:q").unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("u", "p:q"));
        assert!(Credentials::parse("nopassword").is_err());
        assert!(Credentials::parse(":p").is_err());
    }
}
