//! OpenPGP keyrings and InRelease signature verification (pgp crate).

use std::io::BufReader;
use std::path::{Path, PathBuf};

use pgp::composed::{CleartextSignedMessage, Deserializable, SignedPublicKey, SignedPublicSubKey};
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
        Some(sub) => format!(
            "subkey {} of key {}",
            fingerprint(&sub.key),
            fingerprint(primary)
        ),
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
        return Some(format!(
            "is refused: key {name} has no valid self-signature"
        ));
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
        return Some(
            "is refused: the subkey is not cross-certified by a back-signature".to_owned(),
        );
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
    use pgp::composed::{ArmorOptions, SignedSecretKey};
    use pgp::packet::{KeyFlags, SignatureConfig, Subpacket};
    use pgp::types::{Password, SigningKey};

    /// When the test keys were made (`tests/data/pgp/make.sh`), give or take a second.
    const MADE: u32 = 1_795_629_357;
    const DAY: u32 = 86_400;
    const TEXT: &str = "Origin: compose\nSuite: s\nSHA256:\n";

    fn secret(name: &str) -> SignedSecretKey {
        let path = format!("{}/tests/data/pgp/{name}.asc", env!("CARGO_MANIFEST_DIR"));
        SignedSecretKey::from_string(&fs_err::read_to_string(path).unwrap())
            .unwrap()
            .0
    }

    fn ring(keys: Vec<SignedPublicKey>) -> Keyring {
        Keyring { keys }
    }

    fn subpacket(data: SubpacketData) -> Subpacket {
        Subpacket::regular(data).unwrap()
    }

    /// A text signature over the normalized `text` by `key`, made at `created`.
    fn sig(
        key: &impl SigningKey,
        hash: HashAlgorithm,
        created: u32,
        expires_after: Option<u32>,
        text: &str,
    ) -> Signature {
        let mut config = SignatureConfig::v4(SignatureType::Text, key.algorithm(), hash);
        config.hashed_subpackets = vec![
            subpacket(SubpacketData::SignatureCreationTime(Timestamp::from_secs(
                created,
            ))),
            subpacket(SubpacketData::IssuerFingerprint(key.fingerprint())),
        ];
        if let Some(secs) = expires_after {
            config
                .hashed_subpackets
                .push(subpacket(SubpacketData::SignatureExpirationTime(
                    PgpDuration::from_secs(secs),
                )));
        }
        config.unhashed_subpackets =
            vec![subpacket(SubpacketData::IssuerKeyId(key.legacy_key_id()))];
        config
            .sign(key, &Password::empty(), text.as_bytes())
            .unwrap()
    }

    fn inrelease(sign: impl FnOnce(&str) -> Vec<Signature>) -> Vec<u8> {
        CleartextSignedMessage::new_many(TEXT, |t| Ok(sign(t)))
            .unwrap()
            .to_armored_string(ArmorOptions::default())
            .unwrap()
            .into_bytes()
    }

    fn check(ring: &Keyring, signed: &[u8], now: u32) -> Result<String, String> {
        ring.verify_inrelease(signed, i64::from(now))
            .map_err(|e| e.to_string())
    }

    fn fpr(key: &impl KeyDetails) -> String {
        fingerprint(key)
    }

    #[test]
    fn a_good_signature_by_a_key_or_its_signing_subkey_is_accepted() {
        let good = secret("good");
        let ring = ring(vec![good.to_public_key()]);
        let by_primary = inrelease(|t| {
            vec![sig(
                &good.primary_key,
                HashAlgorithm::Sha256,
                MADE + 10,
                None,
                t,
            )]
        });
        assert_eq!(check(&ring, &by_primary, MADE + 100).unwrap(), TEXT);
        let sub = &good.secret_subkeys[0].key;
        let by_subkey = inrelease(|t| vec![sig(sub, HashAlgorithm::Sha512, MADE + 10, None, t)]);
        assert_eq!(check(&ring, &by_subkey, MADE + 100).unwrap(), TEXT);
        // Within the clock skew a signature may come from a little ahead.
        let ahead = inrelease(|t| vec![sig(sub, HashAlgorithm::Sha256, MADE + 290, None, t)]);
        check(&ring, &ahead, MADE).unwrap();
    }

    #[test]
    fn weak_digests_are_refused() {
        let rsa = secret("rsa");
        let ring = ring(vec![rsa.to_public_key()]);
        for hash in [
            HashAlgorithm::Sha1,
            HashAlgorithm::Md5,
            HashAlgorithm::Ripemd160,
        ] {
            let signed = inrelease(|t| vec![sig(&rsa.primary_key, hash, MADE + 10, None, t)]);
            let e = check(&ring, &signed, MADE + 100).unwrap_err();
            assert!(
                e.contains(&format!(
                    "the signature by key {} uses the digest {hash}, which apt no longer trusts (only SHA-2 is accepted)",
                    fpr(&rsa.primary_key)
                )),
                "{e}"
            );
        }
        let sha256 = inrelease(|t| {
            vec![sig(
                &rsa.primary_key,
                HashAlgorithm::Sha256,
                MADE + 10,
                None,
                t,
            )]
        });
        check(&ring, &sha256, MADE + 100).unwrap();
    }

    #[test]
    fn signatures_from_the_future_expired_or_older_than_their_key_are_refused() {
        let good = secret("good");
        let ring = ring(vec![good.to_public_key()]);
        let key = &good.primary_key;
        let future = inrelease(|t| vec![sig(key, HashAlgorithm::Sha256, MADE + DAY, None, t)]);
        let e = check(&ring, &future, MADE).unwrap_err();
        assert!(e.contains("was made in the future, on "), "{e}");
        assert!(e.contains("(this machine's clock says "), "{e}");
        let expiring =
            inrelease(|t| vec![sig(key, HashAlgorithm::Sha256, MADE + 10, Some(100), t)]);
        check(&ring, &expiring, MADE + 50).unwrap();
        let e = check(&ring, &expiring, MADE + 200).unwrap_err();
        assert!(
            e.contains(&format!(
                "the signature by key {} expired on {}",
                fpr(key),
                format_date(i64::from(MADE + 110))
            )),
            "{e}"
        );
        let early = inrelease(|t| vec![sig(key, HashAlgorithm::Sha256, MADE - DAY, None, t)]);
        let e = check(&ring, &early, MADE + 100).unwrap_err();
        assert!(e.contains("before the key existed"), "{e}");
    }

    #[test]
    fn expired_and_revoked_keys_are_refused() {
        let expiring = secret("expiring");
        let ring1 = ring(vec![expiring.to_public_key()]);
        let signed = inrelease(|t| {
            vec![sig(
                &expiring.primary_key,
                HashAlgorithm::Sha256,
                MADE + 10,
                None,
                t,
            )]
        });
        check(&ring1, &signed, MADE + DAY).unwrap();
        let e = check(&ring1, &signed, MADE + 3 * DAY).unwrap_err();
        let name = fpr(&expiring.primary_key);
        assert!(
            e.starts_with(&format!(
                "no signature on the release file is valid: the signature by key {name} is refused: key {name} expired on "
            )),
            "{e}"
        );
        let revoked = secret("revoked");
        let ring2 = ring(vec![revoked.to_public_key()]);
        let signed = inrelease(|t| {
            vec![sig(
                &revoked.primary_key,
                HashAlgorithm::Sha256,
                MADE + 10,
                None,
                t,
            )]
        });
        let e = check(&ring2, &signed, MADE + 100).unwrap_err();
        let name = fpr(&revoked.primary_key);
        assert!(
            e.contains(&format!("is refused: key {name} is revoked")),
            "{e}"
        );
    }

    #[test]
    fn expired_revoked_or_unbound_subkeys_are_refused() {
        let good = secret("good");
        let ring1 = ring(vec![good.to_public_key()]);
        let by = |n: usize, now: u32| {
            let signed = inrelease(|t| {
                vec![sig(
                    &good.secret_subkeys[n].key,
                    HashAlgorithm::Sha256,
                    MADE + 10,
                    None,
                    t,
                )]
            });
            check(&ring1, &signed, now)
        };
        by(1, MADE + 3600).unwrap();
        let e = by(1, MADE + 2 * DAY).unwrap_err();
        assert!(e.contains("is refused: the subkey expired on "), "{e}");
        assert!(
            e.contains(&format!("subkey {}", fpr(&good.secret_subkeys[1].key))),
            "{e}"
        );
        let e = by(2, MADE + 100).unwrap_err();
        assert!(e.contains("is refused: the subkey is revoked"), "{e}");

        // A newer binding of subkey 0 without the signing flag, or without a back-signature.
        let rebind = |flags: KeyFlags| {
            let primary = &good.primary_key;
            let mut c = SignatureConfig::v4(
                SignatureType::SubkeyBinding,
                primary.algorithm(),
                HashAlgorithm::Sha256,
            );
            c.hashed_subpackets = vec![
                subpacket(SubpacketData::SignatureCreationTime(Timestamp::from_secs(
                    MADE + 50,
                ))),
                subpacket(SubpacketData::KeyFlags(flags)),
                subpacket(SubpacketData::IssuerFingerprint(primary.fingerprint())),
            ];
            let binding = c
                .sign_subkey_binding(
                    primary,
                    primary.public_key(),
                    &Password::empty(),
                    good.secret_subkeys[0].key.public_key(),
                )
                .unwrap();
            let mut public = good.to_public_key();
            public.public_subkeys[0].signatures.push(binding);
            let signed = inrelease(|t| {
                vec![sig(
                    &good.secret_subkeys[0].key,
                    HashAlgorithm::Sha256,
                    MADE + 100,
                    None,
                    t,
                )]
            });
            check(&ring(vec![public]), &signed, MADE + 200)
        };
        let mut auth = KeyFlags::default();
        auth.set_authentication(true);
        let e = rebind(auth).unwrap_err();
        assert!(
            e.contains("is refused: the subkey is not allowed to sign"),
            "{e}"
        );
        let mut sign = KeyFlags::default();
        sign.set_sign(true);
        let e = rebind(sign).unwrap_err();
        assert!(
            e.contains("is refused: the subkey is not cross-certified"),
            "{e}"
        );
    }

    #[test]
    fn one_valid_signature_among_several_is_enough_and_strangers_are_ignored() {
        let (good, expiring, rsa) = (secret("good"), secret("expiring"), secret("rsa"));
        let ring1 = ring(vec![expiring.to_public_key(), good.to_public_key()]);
        let signed = inrelease(|t| {
            vec![
                sig(&rsa.primary_key, HashAlgorithm::Sha256, MADE + 10, None, t),
                sig(
                    &expiring.primary_key,
                    HashAlgorithm::Sha256,
                    MADE + 10,
                    None,
                    t,
                ),
                sig(&good.primary_key, HashAlgorithm::Sha256, MADE + 10, None, t),
            ]
        });
        check(&ring1, &signed, MADE + 3 * DAY).unwrap();
        // Only a stranger's signature: no key of the ring made it.
        let ring2 = ring(vec![good.to_public_key()]);
        let signed = inrelease(|t| {
            vec![sig(
                &rsa.primary_key,
                HashAlgorithm::Sha256,
                MADE + 10,
                None,
                t,
            )]
        });
        let e = check(&ring2, &signed, MADE + 100).unwrap_err();
        assert!(
            e.starts_with("no signature on the release file verifies against the keyring"),
            "{e}"
        );
        // A signature over other text does not count.
        let other = inrelease(|_| {
            vec![sig(
                &good.primary_key,
                HashAlgorithm::Sha256,
                MADE + 10,
                None,
                "Origin: x\r\n",
            )]
        });
        assert!(check(&ring2, &other, MADE + 100).is_err());
    }

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
