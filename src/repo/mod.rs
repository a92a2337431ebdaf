//! Verified repository metadata: InRelease signatures, Release hashes and Packages indexes.
//!
//! This module does no network I/O itself: `fetch` hands it bytes, it verifies and parses them.

pub mod deb822;
pub mod keyring;
pub mod packages;
pub mod release;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("cannot read keyring `{}`", path.display())]
    KeyringRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("keyring `{}` holds no usable OpenPGP public key", path.display())]
    KeyringEmpty { path: PathBuf },
    #[error("release file is not a valid OpenPGP cleartext-signed message")]
    NotSigned(#[source] pgp::errors::Error),
    #[error("no signature on the release file verifies against the keyring")]
    BadSignature,
    #[error("release file lacks the `{0}` field")]
    MissingField(&'static str),
    #[error("invalid line in the release file's SHA256 list: `{0}`")]
    BadHashLine(String),
    #[error("cannot decompress `{name}`")]
    Decompress {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("package `{package}` lacks the `{field}` field")]
    PackageField {
        package: String,
        field: &'static str,
    },
    #[error("package `{package}` has an invalid `{field}` value `{value}`")]
    PackageValue {
        package: String,
        field: &'static str,
        value: String,
    },
    #[error(
        "package `{package}` states a size of {size} bytes, more than any package may have ({})",
        crate::fetch::human_size(*limit)
    )]
    PackageTooLarge {
        package: String,
        size: u64,
        limit: u64,
    },
    #[error(
        "`{name}` decompresses to more than the limit of {} for an index",
        crate::fetch::human_size(*limit)
    )]
    IndexTooLarge { name: String, limit: u64 },
    #[error(
        "no signature on the release file is valid: {}",
        problems.join("; ")
    )]
    SignatureRejected { problems: Vec<String> },
    #[error("release file has an invalid `{field}` date `{value}`")]
    BadDate { field: &'static str, value: String },
    #[error(
        "release file is not valid yet: it is dated {date}, and this machine's clock says {now}"
    )]
    NotYetValid { date: String, now: String },
    #[error(
        "release file expired on {valid_until} (it is dated {date}, and this machine's clock says {now})"
    )]
    Expired {
        valid_until: String,
        date: String,
        now: String,
    },
    #[error(
        "release file is for suite `{suite}` (codename `{codename}`), not for the `{asked}` asked for"
    )]
    WrongSuite {
        asked: String,
        suite: String,
        codename: String,
    },
}

impl crate::error::Hint for RepoError {
    fn hint(&self) -> Option<String> {
        let text = match self {
            RepoError::BadSignature => {
                "the mirror may be compromised or out of date; for a third-party archive set `signed-by` in the spec"
            }
            RepoError::IndexTooLarge { .. } => {
                "if the index is genuine, raise the limit with `COMPOSE_MAX_INDEX_SIZE` (bytes, or with a K, M or G suffix)"
            }
            RepoError::SignatureRejected { .. } => {
                "apt refuses such a release file too; if the archive moved to a new key, update the keyring (`signed-by`)"
            }
            RepoError::NotYetValid { .. } => {
                "check this machine's clock; a mirror cannot date a release file ahead of time"
            }
            RepoError::Expired { .. } => {
                "the mirror is stale or replays an old release file; for a snapshot archive, set `check-valid-until = false` on its `[[source]]`"
            }
            RepoError::WrongSuite { .. } => {
                "the mirror serves another suite's release file under this name; check the suite in the spec, or use another mirror"
            }
            _ => return None,
        };
        Some(text.to_owned())
    }
}
