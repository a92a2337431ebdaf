//! OpenPGP keyrings and InRelease signature verification (pgp crate).

use std::io::BufReader;
use std::path::{Path, PathBuf};

use pgp::composed::{CleartextSignedMessage, Deserializable, SignedPublicKey};

use crate::repo::RepoError;

/// The Debian archive keyring of the machine, used when present.
pub const SYSTEM_DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Debian's archive keys as shipped with this repository, for machines without the keyring.
static SHIPPED_DEBIAN_KEYRING: &[u8] = include_bytes!("../../keys/debian-archive-keyring.gpg");

/// A set of public keys that may sign release files.
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
}

impl Keyring {
    /// Load binary (`.gpg`, concatenated keys) or ASCII-armored (`.asc`) keyring files.
    pub fn from_files(paths: &[&Path]) -> Result<Keyring, RepoError> {
        let mut keys = Vec::new();
        for path in paths {
            let bytes = fs_err::read(path).map_err(|source| RepoError::KeyringRead {
                path: path.to_path_buf(),
                source,
            })?;
            let found = parse_keys(&bytes);
            if found.is_empty() {
                return Err(RepoError::KeyringEmpty {
                    path: path.to_path_buf(),
                });
            }
            keys.extend(found);
        }
        Ok(Keyring { keys })
    }

    /// Debian's archive keyring: the system file when present, else the shipped copy.
    pub fn debian() -> Result<Keyring, RepoError> {
        let system = Path::new(SYSTEM_DEBIAN_KEYRING);
        if system.is_file() {
            return Keyring::from_files(&[system]);
        }
        let keys = parse_keys(SHIPPED_DEBIAN_KEYRING);
        if keys.is_empty() {
            return Err(RepoError::KeyringEmpty {
                path: PathBuf::from("keys/debian-archive-keyring.gpg"),
            });
        }
        Ok(Keyring { keys })
    }

    /// Verify a cleartext-signed InRelease and return the signed text (the Release file).
    /// At least one signature must verify against a primary key or a subkey of the ring.
    pub fn verify_inrelease(&self, inrelease: &[u8]) -> Result<String, RepoError> {
        let text = String::from_utf8_lossy(inrelease);
        let (msg, _headers) =
            CleartextSignedMessage::from_string(&text).map_err(RepoError::NotSigned)?;
        let verified = self.keys.iter().any(|key| {
            msg.verify(key).is_ok() || key.public_subkeys.iter().any(|sub| msg.verify(sub).is_ok())
        });
        if !verified {
            return Err(RepoError::BadSignature);
        }
        Ok(dash_unescape(msg.text()))
    }
}

fn parse_keys(bytes: &[u8]) -> Vec<SignedPublicKey> {
    let armored = bytes.starts_with(b"-----BEGIN");
    if armored {
        match SignedPublicKey::from_armor_many(BufReader::new(bytes)) {
            Ok((iter, _)) => iter.filter_map(Result::ok).collect(),
            Err(_) => Vec::new(),
        }
    } else {
        match SignedPublicKey::from_bytes_many(BufReader::new(bytes)) {
            Ok(iter) => iter.filter_map(Result::ok).collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// Undo the cleartext framework's dash escaping (`- -line` -> `-line`).
fn dash_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        out.push_str(line.strip_prefix("- ").unwrap_or(line));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_debian_keyring_parses() {
        let keys = parse_keys(SHIPPED_DEBIAN_KEYRING);
        assert!(keys.len() >= 6, "{} keys", keys.len());
    }

    #[test]
    fn unsigned_text_is_refused() {
        let ring = Keyring::debian().unwrap();
        let e = ring
            .verify_inrelease(b"Origin: Debian\nSHA256:\n")
            .unwrap_err();
        assert!(matches!(e, RepoError::NotSigned(_)), "{e}");
    }

    #[test]
    fn dash_escapes_are_removed() {
        assert_eq!(dash_unescape("a\n- -b\n- c\n"), "a\n-b\nc\n");
    }
}
