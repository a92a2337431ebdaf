//! What a Packages index says about one binary package: the data shared by `repo` (which parses it) and `resolve` (which chooses among it).

use std::fmt;
use std::str::FromStr;

pub use debversion::Version;

/// Where a package index came from: one suite and component of one source, for one architecture.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    /// The source as the spec names it: `archive:NAME` or the URL (what a lock records).
    pub location: String,
    /// Base URL of the archive, without a trailing slash (`http://host/debian`).
    pub url: String,
    /// Suite as named in the spec (`trixie-security`).
    pub suite: String,
    pub component: String,
    pub architecture: String,
}

/// One stanza of a Packages index, reduced to the fields `compose` uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageEntry {
    pub name: String,
    pub version: Version,
    /// `amd64`, `arm64`, ... or `all`.
    pub architecture: String,
    pub multi_arch: MultiArch,
    /// `Pre-Depends` followed by `Depends`, as written (comma-separated); see `depends()`.
    pub depends_raw: String,
    pub provides: Vec<Provide>,
    /// Path of the `.deb` relative to the archive root (`pool/main/...`).
    pub filename: String,
    pub size: u64,
    /// Lowercase hex SHA256 of the `.deb`.
    pub sha256: String,
    /// Index into the list of origins the indexes were loaded from.
    pub origin: usize,
    /// `Priority`: ranks providers of one virtual name (see [`Priority`]).
    pub priority: Priority,
    /// `Essential: yes`: preferred over other providers.
    pub essential: bool,
    /// `Protected: yes` (or the older `Important: yes`): preferred after essential ones.
    pub protected: bool,
}

/// One package a build installs, as resolution or a lock decides it: what is downloaded (by
/// URL, checked against size and SHA256), what its control must say, and what the lock, the
/// SBOM and `why` record. The one type for a chosen package, whatever chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub name: String,
    pub version: Version,
    pub architecture: String,
    /// The source as the spec names it (`archive:NAME` or a URL) and its suite.
    pub source: String,
    pub suite: String,
    /// Path of the `.deb` relative to the archive root (`pool/main/...`).
    pub filename: String,
    pub size: u64,
    /// Lowercase hex SHA256 of the `.deb`.
    pub sha256: String,
    /// Where the `.deb` is downloaded from (the mirror's URL, then `filename`).
    pub url: String,
}

impl Planned {
    /// The plan of an index entry, from the origin it was read from.
    pub fn of_entry(entry: &PackageEntry, origin: &Origin) -> Planned {
        Planned {
            name: entry.name.clone(),
            version: entry.version.clone(),
            architecture: entry.architecture.clone(),
            source: origin.location.clone(),
            suite: origin.suite.clone(),
            filename: entry.filename.clone(),
            size: entry.size,
            sha256: entry.sha256.clone(),
            url: format!("{}/{}", origin.url, entry.filename),
        }
    }
}

/// The `Priority` field, as apt ranks providers: smaller is preferred. apt leaves a stanza
/// without the field at its zero value, ahead of `required`, and reads a word it does not
/// know as `extra`; so does compose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Priority {
    /// No `Priority` field.
    #[default]
    Unset,
    Required,
    Important,
    Standard,
    Optional,
    Extra,
}

impl Priority {
    /// The value of a `Priority` field (case-insensitive, as apt reads it).
    pub fn parse(value: &str) -> Priority {
        [
            ("required", Priority::Required),
            ("important", Priority::Important),
            ("standard", Priority::Standard),
            ("optional", Priority::Optional),
        ]
        .into_iter()
        .find(|(word, _)| value.eq_ignore_ascii_case(word))
        .map_or(Priority::Extra, |(_, p)| p)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MultiArch {
    #[default]
    No,
    Same,
    Foreign,
    Allowed,
}

/// Debian policy 5.6.1: at least two characters, lowercase letters, digits and `+ - .`,
/// starting with a letter or digit (at most 200 bytes here: it becomes a file name).
/// Checked before a name from an index or a `.deb` is used anywhere.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    (2..=200).contains(&b.len())
        && b[0].is_ascii_lowercase() | b[0].is_ascii_digit()
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+-.".contains(&c))
}

/// Debian policy 5.6.12: `[epoch:]upstream[-revision]`, letters, digits and `. + ~ - :`;
/// the epoch, when present, is a number (at most 200 bytes).
pub fn valid_version(version: &str) -> bool {
    let chars_ok = (1..=200).contains(&version.len())
        && version
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".+~-:".contains(&c));
    let epoch_ok = match version.split_once(':') {
        Some((epoch, rest)) => {
            !epoch.is_empty() && epoch.bytes().all(|c| c.is_ascii_digit()) && !rest.is_empty()
        }
        None => true,
    };
    chars_ok && epoch_ok && Version::from_str(version).is_ok()
}

/// A Debian architecture name (`amd64`, `arm64`, `all`, `musl-linux-amd64`): lowercase
/// letters, digits and `-`, starting with a letter or digit (at most 64 bytes).
pub fn valid_architecture(arch: &str) -> bool {
    let b = arch.as_bytes();
    (1..=64).contains(&b.len())
        && b[0].is_ascii_lowercase() | b[0].is_ascii_digit()
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// Exactly 64 hex digits.
pub fn valid_sha256(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|c| c.is_ascii_hexdigit())
}

/// A `Filename` that can only name a file below the archive root once appended to its URL:
/// relative, `/`-separated non-empty parts that are neither `.` nor `..`, printable ASCII
/// without whitespace, `\`, `?` or `#`, and percent escapes that decode to none of `/ \ . %`
/// or a control character (URL parsers turn `%2e%2e` into `..`).
pub fn valid_filename(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes.is_empty() || bytes.len() > 4096 {
        return false;
    }
    let plain = |c: u8| c.is_ascii_graphic() && !b"\\?#".contains(&c);
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'%' {
            let Some(decoded) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            else {
                return false;
            };
            if !plain(decoded) || b"/.%".contains(&decoded) {
                return false;
            }
            i += 3;
        } else if plain(c) {
            i += 1;
        } else {
            return false;
        }
    }
    path.split('/')
        .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// One alternative of a dependency: `name[:arch] [(op version)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub name: String,
    /// The architecture qualifier (`any`, `native`, or an architecture), if any.
    pub arch_qualifier: Option<String>,
    pub constraint: Option<Constraint>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub relation: Relation,
    pub version: Version,
}

/// Version relations as written in control files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// `<<`
    Earlier,
    /// `<=`
    EarlierEqual,
    /// `=`
    Equal,
    /// `>=`
    LaterEqual,
    /// `>>`
    Later,
}

/// One entry of `Provides`: `name [(= version)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provide {
    pub name: String,
    pub version: Option<Version>,
}

impl PackageEntry {
    /// `Pre-Depends` then `Depends`: each inner vector is one group of alternatives (`a | b`).
    pub fn depends(&self) -> Result<Vec<Vec<Dependency>>, RelationError> {
        parse_relations(&self.depends_raw)
    }
}

impl Constraint {
    /// Whether `candidate` satisfies this constraint (dpkg ordering).
    pub fn matches(&self, candidate: &Version) -> bool {
        use std::cmp::Ordering::*;
        let ord = candidate.cmp(&self.version);
        match self.relation {
            Relation::Earlier => ord == Less,
            Relation::EarlierEqual => ord != Greater,
            Relation::Equal => ord == Equal,
            Relation::LaterEqual => ord != Less,
            Relation::Later => ord == Greater,
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Relation::Earlier => "<<",
            Relation::EarlierEqual => "<=",
            Relation::Equal => "=",
            Relation::LaterEqual => ">=",
            Relation::Later => ">>",
        })
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(q) = &self.arch_qualifier {
            write!(f, ":{q}")?;
        }
        if let Some(c) = &self.constraint {
            write!(f, " ({} {})", c.relation, c.version)?;
        }
        Ok(())
    }
}

/// A relationship field could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationError(pub String);

impl fmt::Display for RelationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid relationship `{}`", self.0)
    }
}

impl std::error::Error for RelationError {}

/// Parse one alternative: `name[:arch] [(op version)] [[archs]] [<profiles>]`.
fn parse_one(text: &str) -> Result<Dependency, RelationError> {
    let err = || RelationError(text.to_owned());
    // The version constraint first: `<<` must not be mistaken for a build profile.
    let (rest, constraint) = match text.find('(') {
        Some(open) => {
            let close = text[open..].find(')').ok_or_else(err)? + open;
            let inner = text[open + 1..close].trim();
            let op_len = inner
                .find(|c: char| !matches!(c, '<' | '>' | '='))
                .ok_or_else(err)?;
            let relation = match &inner[..op_len] {
                "<<" => Relation::Earlier,
                "<=" | "<" => Relation::EarlierEqual,
                "=" => Relation::Equal,
                ">=" | ">" => Relation::LaterEqual,
                ">>" => Relation::Later,
                _ => return Err(err()),
            };
            let version = Version::from_str(inner[op_len..].trim()).map_err(|_| err())?;
            (
                format!("{} {}", &text[..open], &text[close + 1..]),
                Some(Constraint { relation, version }),
            )
        }
        None => (text.to_owned(), None),
    };
    // Architecture restrictions and build profiles are dropped.
    let rest = strip_brackets(&rest, '[', ']');
    let rest = strip_brackets(&rest, '<', '>');
    let head = rest.trim();
    let (name, arch_qualifier) = match head.split_once(':') {
        Some((n, q)) => (n.trim(), Some(q.trim().to_owned())),
        None => (head, None),
    };
    // Names reach messages and `why` chains: the characters of policy names only (no
    // control characters); one-letter names are allowed here.
    let name_chars = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c);
    if name.is_empty()
        || !name.chars().all(name_chars)
        || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Err(err());
    }
    Ok(Dependency {
        name: name.to_owned(),
        arch_qualifier,
        constraint,
    })
}

fn strip_brackets(text: &str, open: char, close: char) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0;
    for c in text.chars() {
        if c == open {
            depth += 1;
        } else if c == close && depth > 0 {
            depth -= 1;
        } else if depth == 0 {
            out.push(c);
        }
    }
    out
}

/// Parse `Depends` syntax: comma-separated groups of `|`-separated alternatives.
pub fn parse_relations(text: &str) -> Result<Vec<Vec<Dependency>>, RelationError> {
    let mut groups = Vec::new();
    for group in text.split(',') {
        if group.trim().is_empty() {
            continue;
        }
        let alts = group
            .split('|')
            .map(parse_one)
            .collect::<Result<Vec<_>, _>>()?;
        groups.push(alts);
    }
    Ok(groups)
}

/// Parse `Provides`: `name [(= version)]`, comma-separated.
pub fn parse_provides(text: &str) -> Result<Vec<Provide>, RelationError> {
    let mut out = Vec::new();
    for item in text.split(',') {
        if item.trim().is_empty() {
            continue;
        }
        let dep = parse_one(item)?;
        let version = match dep.constraint {
            Some(Constraint {
                relation: Relation::Equal,
                version,
            }) => Some(version),
            Some(_) => return Err(RelationError(item.to_owned())),
            None => None,
        };
        out.push(Provide {
            name: dep.name,
            version,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn relations_with_alternatives_qualifiers_and_restrictions() {
        let r = parse_relations(
            "libc6 (>= 2.36), debconf (>= 0.5) | debconf-2.0, python3:any, foo [amd64] <!nocheck>, bar (<< 1:2.0~rc1) [!i386]",
        )
        .unwrap();
        assert_eq!(r.len(), 5);
        assert_eq!(r[0][0].name, "libc6");
        let c = r[0][0].constraint.as_ref().unwrap();
        assert_eq!((c.relation, &c.version), (Relation::LaterEqual, &v("2.36")));
        assert_eq!(r[1].len(), 2);
        assert_eq!(r[1][1].name, "debconf-2.0");
        assert_eq!(r[2][0].arch_qualifier.as_deref(), Some("any"));
        assert_eq!(r[3][0].name, "foo");
        assert_eq!(
            r[4][0].constraint.as_ref().unwrap().relation,
            Relation::Earlier
        );
        assert_eq!(r[4][0].to_string(), "bar (<< 1:2.0~rc1)");
        assert!(parse_relations("a (~~ 1)").is_err());
        assert!(parse_relations("libc6, \u{1b}[2Jevil").is_err());
        assert!(parse_relations("../x").is_err());
        assert!(parse_provides("Foo").is_err());
        assert!(parse_relations("a (>= 1").is_err());
    }

    #[test]
    fn names_versions_architectures_and_hashes_follow_policy() {
        for good in ["libc6", "g++", "libstdc++6", "0ad", "python3.13", "a-b"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "", "a", "Libc", "-a", ".a", "a/b", "a_b", "../x", "a b", "a\u{0}b", "é1",
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(valid_name(&"a".repeat(200)) && !valid_name(&"a".repeat(201)));
        assert!(!valid_version(&"1".repeat(201)) && !valid_architecture(&"a".repeat(65)));
        for good in [
            "1.0",
            "1:2.36-9+deb13u1",
            "2.0~rc1",
            "1.2.3-1ubuntu0.1",
            "0",
        ] {
            assert!(valid_version(good), "{good}");
        }
        for bad in [
            "", "1.0/..", "a:1", ":1", "1:", "1 0", "1_0", "1\n0", "1%2f",
        ] {
            assert!(!valid_version(bad), "{bad:?}");
        }
        for good in ["amd64", "all", "arm64", "musl-linux-amd64", "s390x"] {
            assert!(valid_architecture(good), "{good}");
        }
        for bad in ["", "AMD64", "amd64/..", "-x", "a_b", "any arch"] {
            assert!(!valid_architecture(bad), "{bad:?}");
        }
        assert!(valid_sha256(
            &"aB3".repeat(21).chars().chain(['f']).collect::<String>()
        ));
        assert!(!valid_sha256(&"a".repeat(63)));
        assert!(!valid_sha256(&"g".repeat(64)));
        assert!(!valid_sha256(&format!("../{}", "a".repeat(61))));
    }

    #[test]
    fn filenames_stay_below_the_archive_root() {
        for good in [
            "pool/main/g/glibc/libc6_2.41-12_amd64.deb",
            "pool/main/g/gcc/g++-14_14.2.0-19_amd64.deb",
            "pool/main/a/apt/apt_1%3a2.0_amd64.deb",
            "x.deb",
        ] {
            assert!(valid_filename(good), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "pool/../../etc/passwd",
            "pool/./x.deb",
            "..",
            "pool//x.deb",
            "pool/x.deb/",
            "pool/x.deb?y=1",
            "pool/x.deb#frag",
            "pool\\..\\x.deb",
            "pool/%2e%2e/x.deb",
            "pool/%2E./x.deb",
            "pool%2fx.deb",
            "pool/x%zz.deb",
            "pool/x%2",
            "pool/a b.deb",
            "pool/a\tb.deb",
            "pool/a\nb.deb",
            "pool/a\u{7f}.deb",
            "pool/é.deb",
            "pool/%0a.deb",
        ] {
            assert!(!valid_filename(bad), "{bad:?}");
        }
        assert!(!valid_filename(&"a/".repeat(3000)));
    }

    #[test]
    fn provides_with_versions() {
        let p = parse_provides("awk, python3-foo (= 1.2-1)").unwrap();
        assert_eq!(
            p[0],
            Provide {
                name: "awk".into(),
                version: None
            }
        );
        assert_eq!(p[1].version, Some(v("1.2-1")));
        assert!(parse_provides("x (>= 1)").is_err());
    }

    #[test]
    fn priorities_rank_as_apt_reads_them() {
        use Priority::*;
        let ranked: Vec<_> = ["Required", "important", "standard", "optional", "extra"]
            .into_iter()
            .map(Priority::parse)
            .collect();
        assert_eq!(ranked, [Required, Important, Standard, Optional, Extra]);
        assert_eq!(Priority::parse("source"), Extra);
        assert!(Unset < Required && Required < Important && Optional < Extra);
        assert_eq!(Priority::default(), Unset);
    }
}
