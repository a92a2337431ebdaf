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
    #[error(
        "no signature on the release file verifies against the keyring\n\nhint: the mirror may be compromised or out of date; for a third-party archive set `signed-by` in the spec"
    )]
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
}
