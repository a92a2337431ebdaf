//! Cosign-compatible signing: P-256 keys, simple-signing payloads, DSSE envelopes and the
//! attachment manifests (`sha256-<hex>.sig`, `.att`) that carry them beside an image.
//!
//! `sign` knows no registry, layout or Debian: it turns keys and bytes into signatures,
//! envelopes and manifests; `publish` decides where they go.

pub mod cosign;
pub mod dsse;
mod key;
pub mod payload;

use std::path::PathBuf;
use std::sync::Arc;

pub use key::{SigningKey, VerifyingKey};

/// The largest key file compose reads (a P-256 key in any of its forms is under 1 KiB).
pub const MAX_KEY_FILE: u64 = 64 * 1024;

/// An in-toto statement to attach to an image as a DSSE envelope (`--attest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The statement's `predicateType`, also the `predicateType` annotation of its layer.
    pub predicate_type: String,
    /// The in-toto Statement v1 JSON.
    pub statement: Vec<u8>,
}

/// What a build signs with: the key, and the statements to attach (empty unless `--attest`).
#[derive(Debug, Clone)]
pub struct Signing {
    pub key: Arc<SigningKey>,
    pub statements: Vec<Statement>,
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("cannot read the key file")]
    Read(#[source] std::io::Error),
    #[error("key file `{}` is larger than {MAX_KEY_FILE} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error("key file `{}` holds no PEM block", path.display())]
    NoPem { path: PathBuf },
    #[error("key file `{}` holds a `{label}` PEM block, not a key compose can use", path.display())]
    UnknownPem { path: PathBuf, label: String },
    #[error("key file `{}` is not valid PEM: {reason}", path.display())]
    BadPem { path: PathBuf, reason: String },
    #[error("key `{}` is {found}, not an ECDSA P-256 key", path.display())]
    WrongCurve { path: PathBuf, found: String },
    #[error("key `{}` cannot be read", path.display())]
    BadKey {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("key `{}` is encrypted and no password was given", path.display())]
    PasswordNeeded { path: PathBuf },
    #[error("wrong password for the encrypted key `{}`", path.display())]
    WrongPassword { path: PathBuf },
    #[error("encrypted key `{}` is malformed: {reason}", path.display())]
    BadEncrypted { path: PathBuf, reason: String },
    #[error("the signature does not verify with the public key")]
    BadSignature,
    #[error("malformed DSSE envelope: {0}")]
    BadEnvelope(String),
    #[error("malformed simple-signing payload: {0}")]
    BadPayload(String),
    #[error("malformed attachment manifest: {0}")]
    BadAttachment(String),
}

impl crate::error::Hint for SignError {
    fn hint(&self) -> Option<String> {
        match self {
            SignError::PasswordNeeded { .. } | SignError::WrongPassword { .. } => Some(
                "the password of a cosign key is read from `COSIGN_PASSWORD`".to_string(),
            ),
            SignError::WrongCurve { .. } | SignError::UnknownPem { .. } => Some(
                "make a key with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out KEY` or `cosign generate-key-pair`"
                    .to_string(),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
