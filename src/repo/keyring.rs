//! OpenPGP keyrings and InRelease signature verification (pgp crate).

use std::io::BufReader;
use std::path::{Path, PathBuf};

use pgp::composed::{
    CleartextSignedMessage, Deserializable, SignedPublicKey, SignedPublicSubKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{Signature, SignatureType, SubpacketData};
use pgp::types::{Duration as PgpDuration, KeyDetails, Tag, Timestamp};

use crate::repo::RepoError;
use crate::repo::release::{CLOCK_SKEW, format_date};

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
    ///
    /// As apt (gpgv) decides: at least one signature must verify against a primary key or a
    /// subkey of the ring and be valid at `now` (seconds since the epoch): made with a SHA-2
    /// digest, not in the future (beyond `CLOCK_SKEW`) nor expired, by a key that is neither
    /// revoked nor expired, and, for a subkey, one bound to its primary key for signing (a
    /// valid binding with the signing flag and a back-signature). Signatures by keys outside
    /// the ring are ignored; when none is left, the error says why each was refused.
    pub fn verify_inrelease(&self, inrelease: &[u8], now: i64) -> Result<String, RepoError> {
        let text = String::from_utf8_lossy(inrelease);
        let (msg, _headers) =
            CleartextSignedMessage::from_string(&text).map_err(RepoError::NotSigned)?;
        let signed = msg.signed_text();
        let mut problems = Vec::new();
        for sig in msg.signatures() {
            for key in &self.keys {
                match check_signature(key, sig, signed.as_bytes(), now) {
                    Verdict::Valid => return Ok(dash_unescape(msg.text())),
                    Verdict::Invalid(why) => problems.push(why),
                    Verdict::NotThisKey => {}
                }
            }
        }
        if problems.is_empty() {
            return Err(RepoError::BadSignature);
        }
        Err(RepoError::SignatureRejected { problems })
    }
}

enum Verdict {
    Valid,
    /// Made by this key, but not acceptable: why.
    Invalid(String),
    NotThisKey,
}

fn fingerprint(key: &impl KeyDetails) -> String {
    format!("{:X}", key.fingerprint())
}

fn date(t: Timestamp) -> String {
    format_date(i64::from(t.as_secs()))
}

/// Whether `sig` over `data` was made by `key` (its primary key or a subkey) and is valid.
fn check_signature(key: &SignedPublicKey, sig: &Signature, data: &[u8], now: i64) -> Verdict {
    let primary = &key.primary_key;
    let subkey = if sig.verify(primary, data).is_ok() {
        None
    } else {
        match key
            .public_subkeys
            .iter()
            .find(|sub| sig.verify(&sub.key, data).is_ok())
        {
            Some(sub) => Some(sub),
            None => return Verdict::NotThisKey,
        }
    };
    let signer = match subkey {
        Some(sub) => format!("subkey {} of key {}", fingerprint(&sub.key), fingerprint(primary)),
        None => format!("key {}", fingerprint(primary)),
    };
    let signer_created = subkey.map_or_else(|| primary.created_at(), |s| s.key.created_at());
    let checks = signature_problem(sig, signer_created, now)
        .or_else(|| primary_problem(key, now, subkey.is_none()))
        .or_else(|| subkey.and_then(|s| subkey_problem(primary, s, now)));
    match checks {
        None => Verdict::Valid,
        Some(why) => Verdict::Invalid(format!("the signature by {signer} {why}")),
    }
}

/// Digest, creation and expiry of the signature itself.
fn signature_problem(sig: &Signature, signer_created: Timestamp, now: i64) -> Option<String> {
    match sig.hash_alg() {
        Some(
            HashAlgorithm::Sha224
            | HashAlgorithm::Sha256
            | HashAlgorithm::Sha384
            | HashAlgorithm::Sha512,
        ) => {}
        Some(other) => {
            return Some(format!(
                "uses the digest {other}, which apt no longer trusts (only SHA-2 is accepted)"
            ));
        }
        None => return Some("names no digest".to_owned()),
    }
    let Some(created) = sig.created() else {
        return Some("has no creation time".to_owned());
    };
    if i64::from(created.as_secs()) > now + CLOCK_SKEW {
        return Some(format!(
            "was made in the future, on {} (this machine's clock says {})",
            date(created),
            format_date(now)
        ));
    }
    if created.as_secs() < signer_created.as_secs() {
        return Some(format!(
            "was made on {}, before the key existed ({})",
            date(created),
            date(signer_created)
        ));
    }
    expiry(created, sig.signature_expiration_time(), now)
        .map(|at| format!("expired on {}", format_date(at)))
}

/// When something created at `created` and valid for `valid_for` (none or 0: forever) has
/// expired by `now`: the moment it did.
fn expiry(created: Timestamp, valid_for: Option<PgpDuration>, now: i64) -> Option<i64> {
    let secs = valid_for.map(|d| d.as_secs()).filter(|&d| d > 0)?;
    let at = i64::from(created.as_secs()) + i64::from(secs);
    (at <= now).then_some(at)
}

fn has_key_flags(sig: &Signature) -> bool {
    sig.config().is_some_and(|c| {
        c.hashed_subpackets()
            .any(|p| matches!(p.data, SubpacketData::KeyFlags(_)))
    })
}

/// The newest of `sigs` (by creation time).
fn newest<'a>(sigs: impl Iterator<Item = &'a Signature>) -> Option<&'a Signature> {
    sigs.max_by_key(|s| s.created().map_or(0, |t| t.as_secs()))
}

/// Revocation and expiry of the primary key, and, when it signed itself, its signing flag.
fn primary_problem(key: &SignedPublicKey, now: i64, signed_itself: bool) -> Option<String> {
    let primary = &key.primary_key;
    let name = fingerprint(primary);
    if key
        .details
        .revocation_signatures
        .iter()
        .any(|r| r.verify_key(primary).is_ok())
    {
        return Some(format!("is refused: key {name} is revoked"));
    }
    let direct = key
        .details
        .direct_signatures
        .iter()
        .filter(|s| s.verify_key(primary).is_ok());
    let certifications = key.details.users.iter().flat_map(|u| {
        u.signatures
            .iter()
            .filter(|s| s.verify_certification(primary, Tag::UserId, &u.id).is_ok())
    });
    let Some(self_sig) = newest(direct.chain(certifications)) else {
        return Some(format!("is refused: key {name} has no valid self-signature"));
    };
    if let Some(at) = expiry(primary.created_at(), self_sig.key_expiration_time(), now) {
        return Some(format!(
            "is refused: key {name} expired on {}",
            format_date(at)
        ));
    }
    if signed_itself && has_key_flags(self_sig) && !self_sig.key_flags().sign() {
        return Some(format!("is refused: key {name} is not allowed to sign"));
    }
    None
}

/// Revocation, binding, signing flag, back-signature and expiry of a signing subkey.
fn subkey_problem(
    primary: &pgp::packet::PublicKey,
    sub: &SignedPublicSubKey,
    now: i64,
) -> Option<String> {
    let valid: Vec<&Signature> = sub
        .signatures
        .iter()
        .filter(|s| s.verify_subkey_binding(primary, &sub.key).is_ok())
        .collect();
    if valid
        .iter()
        .any(|s| s.typ() == Some(SignatureType::SubkeyRevocation))
    {
        return Some("is refused: the subkey is revoked".to_owned());
    }
    let binding = newest(
        valid
            .iter()
            .copied()
            .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding)),
    );
    let Some(binding) = binding else {
        return Some("is refused: the subkey has no valid binding to its key".to_owned());
    };
    if !binding.key_flags().sign() {
        return Some("is refused: the subkey is not allowed to sign".to_owned());
    }
    let cross_certified = binding
        .embedded_signature()
        .is_some_and(|back| back.verify_primary_key_binding(&sub.key, primary).is_ok());
    if !cross_certified {
        return Some("is refused: the subkey is not cross-certified by a back-signature".to_owned());
    }
    expiry(sub.key.created_at(), binding.key_expiration_time(), now)
        .map(|at| format!("is refused: the subkey expired on {}", format_date(at)))
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
            .verify_inrelease(b"Origin: Debian\nSHA256:\n", 0)
            .unwrap_err();
        assert!(matches!(e, RepoError::NotSigned(_)), "{e}");
    }

    #[test]
    fn dash_escapes_are_removed() {
        assert_eq!(dash_unescape("a\n- -b\n- c\n"), "a\n-b\nc\n");
    }
}
