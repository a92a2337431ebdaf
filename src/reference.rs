//! Image references, the one grammar every destination uses: `[HOST[:PORT]/]REPO[:TAG]` as
//! the distribution reference grammar has it (`docker://` pushes, `docker-archive:` names and
//! their `RepoTags`), the tag of an `oci:` or `oci-archive:` layout, and `split_tag`, which
//! cuts a tag off a name or a path. No I/O, no network: parsing only.

/// A `docker://` reference that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid registry reference `{text}`: {reason}")]
pub struct ReferenceError {
    pub text: String,
    pub reason: NameError,
}

/// What is wrong with an image name (shown after the name it is about).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name a tag, not a digest")]
    Digest,
    #[error(
        "invalid tag `{0}`: tags are up to 128 letters, digits and `_.-`, not starting with `.` or `-`"
    )]
    Tag(String),
    #[error("the name is longer than {MAX_NAME} characters")]
    TooLong,
    #[error(
        "invalid registry host `{0}`: expected DNS labels or a bracketed IPv6 address, with an optional `:PORT`"
    )]
    Host(String),
    #[error(
        "repository names are lowercase letters and digits, separated by `.`, `_`, `__` or dashes, in `/`-separated parts"
    )]
    Repository,
    #[error(
        "expected `HOST[:PORT]/REPOSITORY[:TAG]`, starting with the registry's host (compose has no default registry)"
    )]
    NoHost,
}

/// `docker://HOST[:PORT]/REPO[:TAG]`, without the scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub host: String,
    pub repository: String,
    pub tag: String,
}

impl Reference {
    pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
        let bad = |reason| ReferenceError {
            text: text.to_owned(),
            reason,
        };
        let name = parse_name(text).map_err(bad)?;
        let Some(host) = name.host else {
            return Err(bad(NameError::NoHost));
        };
        Ok(Reference {
            host: host.to_owned(),
            repository: name.repository.to_owned(),
            tag: name.tag.to_owned(),
        })
    }

    /// Whether the host is this machine (`localhost`, 127.0.0.0/8, `::1`).
    pub fn is_loopback(&self) -> bool {
        let name = match self.host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6),
            None => self
                .host
                .rsplit_once(':')
                .map_or(self.host.as_str(), |(h, _)| h),
        };
        name == "localhost"
            || name
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

/// An image name as the distribution reference grammar has it: `[HOST[:PORT]/]PATH[:TAG]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Name<'a> {
    /// The registry, when the first `/`-separated part looks like one (has a `.` or a `:`, or
    /// is `localhost`), as docker decides.
    pub host: Option<&'a str>,
    pub repository: &'a str,
    /// `latest` when the name has none.
    pub tag: &'a str,
}

/// The longest image name (host and repository) the distribution grammar allows.
pub const MAX_NAME: usize = 255;

/// Parse `[HOST[:PORT]/]PATH[:TAG]`: path components `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`,
/// a host of dot-separated DNS labels or a bracketed IPv6 address with an optional port,
/// a tag `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`. A digest (`@sha256:...`) is refused: compose
/// writes tags. The error says what is wrong.
pub fn parse_name(text: &str) -> Result<Name<'_>, NameError> {
    if text.contains('@') {
        return Err(NameError::Digest);
    }
    let (name, tag) = split_tag(text);
    if !valid_tag(tag) {
        return Err(NameError::Tag(tag.to_owned()));
    }
    if name.len() > MAX_NAME {
        return Err(NameError::TooLong);
    }
    let (host, repository) = match name.split_once('/') {
        Some((first, rest))
            if first == "localhost" || first.contains(['.', ':']) || first.starts_with('[') =>
        {
            if !valid_host(first) {
                return Err(NameError::Host(first.to_owned()));
            }
            (Some(first), rest)
        }
        _ => (None, name),
    };
    if !repository.split('/').all(valid_component) {
        return Err(NameError::Repository);
    }
    Ok(Name {
        host,
        repository,
        tag,
    })
}

/// `NAME[:TAG]` split at its last colon when what follows has no `/` (so a `HOST:PORT/`
/// prefix is not a tag); the tag defaults to `latest`.
pub fn split_tag(text: &str) -> (&str, &str) {
    match text.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (text, "latest"),
    }
}

/// Whether `text` is runs of `word` bytes joined by separators `sep` accepts (the shape of
/// the reference grammars: `word+ (sep word+)*`).
fn words(text: &str, word: impl Fn(u8) -> bool, sep: impl Fn(&[u8]) -> bool) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    loop {
        let run = i;
        while i < bytes.len() && word(bytes[i]) {
            i += 1;
        }
        if i == run {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let start = i;
        while i < bytes.len() && !word(bytes[i]) {
            i += 1;
        }
        if !sep(&bytes[start..i]) {
            return false;
        }
    }
}

/// One `/`-separated part of a repository name: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
pub fn valid_component(c: &str) -> bool {
    words(
        c,
        |b| b.is_ascii_lowercase() || b.is_ascii_digit(),
        |sep| sep == b"." || sep == b"_" || sep == b"__" || sep.iter().all(|&b| b == b'-'),
    )
}

/// A registry host: DNS labels (`[A-Za-z0-9]`, inner `-`) joined by `.`, or `[IPv6]`, then an
/// optional `:PORT`.
pub fn valid_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.starts_with('[') || n.ends_with(']') => (n, Some(p)),
        _ => (host, None),
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let name_ok = match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        }),
    };
    port_ok && name_ok
}

/// A docker tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The tag of an `oci:` or `oci-archive:` destination, which becomes the layout's
/// `org.opencontainers.image.ref.name`: one component of the image-layout grammar,
/// `[A-Za-z0-9]+(([-._@+]|--)[A-Za-z0-9]+)*` (`/` and `:` are left out: they would be read as
/// part of the path), at most 128 characters.
pub fn valid_layout_tag(tag: &str) -> bool {
    tag.len() <= 128
        && words(
            tag,
            |b| b.is_ascii_alphanumeric(),
            |sep| sep == b"--" || (sep.len() == 1 && b"-._@+".contains(&sep[0])),
        )
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "docker://{}/{}:{}", self.host, self.repository, self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse() {
        let r = Reference::parse("127.0.0.1:5000/distroless/python3:debug").unwrap();
        assert_eq!(r.host, "127.0.0.1:5000");
        assert_eq!(r.repository, "distroless/python3");
        assert_eq!(r.tag, "debug");
        assert!(r.is_loopback());
        assert_eq!(
            r.to_string(),
            "docker://127.0.0.1:5000/distroless/python3:debug"
        );
        let r = Reference::parse("registry.example:443/base").unwrap();
        assert_eq!(r.tag, "latest");
        assert!(!r.is_loopback());
        assert!(Reference::parse("localhost/x").unwrap().is_loopback());
        assert!(Reference::parse("[::1]:5000/x").unwrap().is_loopback());
        for bad in [
            "python3:latest",
            "library/python3",
            "127.0.0.1:5000/",
            "127.0.0.1:5000/Python3",
            "127.0.0.1:5000/py//x",
            "127.0.0.1:5000/x:-bad",
            "127.0.0.1:5000/x@sha256:00",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn repository_components_follow_the_reference_grammar() {
        for good in [
            "a",
            "a0",
            "a.b",
            "a_b",
            "a__b",
            "a-b",
            "a---b",
            "0.1_2__3-4",
        ] {
            assert!(valid_component(good), "{good}");
        }
        for bad in [
            "", ".", "..", "a.", ".a", "a..b", "a._b", "a___b", "a-_b", "_a", "a_", "A", "a/b",
            "é", "a b",
        ] {
            assert!(!valid_component(bad), "{bad:?}");
        }
    }

    #[test]
    fn hosts_are_dns_labels_or_bracketed_ipv6() {
        for good in [
            "localhost",
            "localhost:5000",
            "a.b-c.d",
            "127.0.0.1:1",
            "[::1]",
            "[::1]:5000",
        ] {
            assert!(valid_host(good), "{good}");
        }
        for bad in [
            "",
            ":5000",
            "a..b",
            "-a.b",
            "a.b:",
            "a.b:x",
            "a.b:123456",
            "[::1",
            "[zz]:1",
            "a_b.c",
        ] {
            assert!(!valid_host(bad), "{bad:?}");
        }
    }

    #[test]
    fn tags_follow_docker_and_layout_grammars() {
        for good in ["latest", "v1.0", "_x", "A-b.c_d", &"a".repeat(128)] {
            assert!(valid_tag(good), "{good}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", "a b", &"a".repeat(129)] {
            assert!(!valid_tag(bad), "{bad:?}");
        }
        for good in ["latest", "v1.0", "1.0+b", "a--b", "a@b", "A_b"] {
            assert!(valid_layout_tag(good), "{good}");
        }
        for bad in [
            "",
            "_x",
            "x_",
            "a..b",
            "a---b",
            "a/b",
            "a:b",
            "..",
            &"a".repeat(129),
        ] {
            assert!(!valid_layout_tag(bad), "{bad:?}");
        }
    }

    #[test]
    fn names_split_into_host_repository_and_tag() {
        let n = parse_name("localhost:5000/a/b:v1").unwrap();
        assert_eq!(
            (n.host, n.repository, n.tag),
            (Some("localhost:5000"), "a/b", "v1")
        );
        let n = parse_name("a/b").unwrap();
        assert_eq!((n.host, n.repository, n.tag), (None, "a/b", "latest"));
        assert!(parse_name("../../evil").is_err());
        assert!(parse_name(&"a".repeat(256)).is_err());
    }
}
