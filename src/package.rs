//! What a Packages index says about one binary package: the data shared by `repo` (which parses it) and `resolve` (which chooses among it).

use std::fmt;

pub use debversion::Version;

/// Where a package index came from: one suite and component of one source, for one architecture.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
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
    /// `Pre-Depends` followed by `Depends`, in the order the stanza lists them.
    /// Each inner vector is one group of alternatives (`a | b`).
    pub depends: Vec<Vec<Dependency>>,
    pub provides: Vec<Provide>,
    /// Path of the `.deb` relative to the archive root (`pool/main/...`).
    pub filename: String,
    pub size: u64,
    /// Lowercase hex SHA256 of the `.deb`.
    pub sha256: String,
    /// Index into the list of origins the indexes were loaded from.
    pub origin: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MultiArch {
    #[default]
    No,
    Same,
    Foreign,
    Allowed,
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
