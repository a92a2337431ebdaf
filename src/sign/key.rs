//! P-256 keys from PEM files: PKCS#8, SEC1 and cosign's scrypt + secretbox encrypted form;
//! public keys as SPKI PEM. A key file is untrusted input: bounded, every field checked.

use std::io::Read;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use crypto_secretbox::XSalsa20Poly1305;
use crypto_secretbox::aead::{Aead, KeyInit};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::pkcs8::der::asn1::ObjectIdentifier;
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey, LineEnding};
use zeroize::Zeroizing;

use super::{MAX_KEY_FILE, SignError};

const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// An ECDSA P-256 private key.
pub struct SigningKey(p256::ecdsa::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SigningKey")
            .field(&self.verifying_key())
            .finish()
    }
}

/// An ECDSA P-256 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey(p256::ecdsa::VerifyingKey);

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("VerifyingKey").field(&self.to_pem()).finish()
    }
}

impl SigningKey {
    /// A private key from a PEM file: PKCS#8 `PRIVATE KEY`, SEC1 `EC PRIVATE KEY`, or cosign's
    /// `ENCRYPTED SIGSTORE PRIVATE KEY` / `ENCRYPTED COSIGN PRIVATE KEY` (`password` needed).
    pub fn load(path: &Path, password: Option<&str>) -> Result<SigningKey, SignError> {
        let text = read_key_file(path)?;
        Self::from_pem(path, &text, password)
    }

    /// A private key from PEM text; `path` only names it in errors.
    pub fn from_pem(
        path: &Path,
        text: &str,
        password: Option<&str>,
    ) -> Result<SigningKey, SignError> {
        let blocks = pem_blocks(path, text)?;
        let Some(block) = blocks.iter().find(|b| b.label != "EC PARAMETERS") else {
            return Err(SignError::NoPem { path: path.into() });
        };
        let secret = match block.label.as_str() {
            "PRIVATE KEY" => from_pkcs8(path, &block.der)?,
            "EC PRIVATE KEY" => from_sec1(path, &block.der)?,
            "ENCRYPTED SIGSTORE PRIVATE KEY" | "ENCRYPTED COSIGN PRIVATE KEY" => {
                let Some(password) = password else {
                    return Err(SignError::PasswordNeeded { path: path.into() });
                };
                let der = decrypt(path, &block.der, password)?;
                from_pkcs8(path, &der)?
            }
            other => {
                return Err(SignError::UnknownPem {
                    path: path.into(),
                    label: other.to_string(),
                });
            }
        };
        Ok(SigningKey(p256::ecdsa::SigningKey::from(secret)))
    }

    /// ECDSA P-256 over SHA-256 of `message`, ASN.1 DER, deterministic (RFC 6979).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let signature: p256::ecdsa::Signature = self.0.sign(message);
        signature.to_der().as_bytes().to_vec()
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(*self.0.verifying_key())
    }
}

impl VerifyingKey {
    /// A public key from a PEM `PUBLIC KEY` (SPKI) file.
    pub fn load(path: &Path) -> Result<VerifyingKey, SignError> {
        let text = read_key_file(path)?;
        Self::from_pem_at(path, &text)
    }

    pub fn from_pem(text: &str) -> Result<VerifyingKey, SignError> {
        Self::from_pem_at(Path::new("<public key>"), text)
    }

    fn from_pem_at(path: &Path, text: &str) -> Result<VerifyingKey, SignError> {
        let blocks = pem_blocks(path, text)?;
        let Some(block) = blocks.first() else {
            return Err(SignError::NoPem { path: path.into() });
        };
        if block.label != "PUBLIC KEY" {
            return Err(SignError::UnknownPem {
                path: path.into(),
                label: block.label.clone(),
            });
        }
        let spki = p256::pkcs8::spki::SubjectPublicKeyInfoRef::try_from(block.der.as_slice())
            .map_err(|e| SignError::BadKey {
                path: path.into(),
                source: Box::new(e),
            })?;
        check_algorithm(
            path,
            spki.algorithm.oid,
            spki.algorithm.parameters_oid().ok(),
        )?;
        let key =
            p256::PublicKey::from_public_key_der(&block.der).map_err(|e| SignError::BadKey {
                path: path.into(),
                source: Box::new(e),
            })?;
        Ok(VerifyingKey(p256::ecdsa::VerifyingKey::from(&key)))
    }

    pub fn to_pem(&self) -> String {
        p256::PublicKey::from(&self.0)
            .to_public_key_pem(LineEnding::LF)
            .expect("a P-256 public key encodes")
    }

    /// Checks an ASN.1 DER ECDSA signature over SHA-256 of `message`.
    pub fn verify(&self, message: &[u8], signature_der: &[u8]) -> Result<(), SignError> {
        let signature =
            p256::ecdsa::Signature::from_der(signature_der).map_err(|_| SignError::BadSignature)?;
        self.0
            .verify(message, &signature)
            .map_err(|_| SignError::BadSignature)
    }
}

/// The file's text, refused past `MAX_KEY_FILE`.
fn read_key_file(path: &Path) -> Result<String, SignError> {
    let file = fs_err::File::open(path).map_err(SignError::Read)?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(SignError::Read)?;
    if bytes.len() as u64 > MAX_KEY_FILE {
        return Err(SignError::TooLarge { path: path.into() });
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| SignError::BadPem {
        path: path.into(),
        reason: "not text".to_string(),
    })
}

struct PemBlock {
    label: String,
    der: Zeroizing<Vec<u8>>,
}

/// Every `-----BEGIN X-----` ... `-----END X-----` block of `text`, in order (text outside
/// blocks is ignored, as openssl and Go do).
fn pem_blocks(path: &Path, text: &str) -> Result<Vec<PemBlock>, SignError> {
    let bad = |reason: &str| SignError::BadPem {
        path: path.into(),
        reason: reason.to_string(),
    };
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = Zeroizing::new(String::new());
        loop {
            match lines.next() {
                None => return Err(bad("a block has no END line")),
                Some(l) if l == end => break,
                Some(l) if l.contains(':') => return Err(bad("PEM headers are not supported")),
                Some(l) => body.push_str(l),
            }
        }
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|_| bad("a block is not base64"))?;
        blocks.push(PemBlock {
            label: label.to_string(),
            der: Zeroizing::new(der),
        });
    }
    Ok(blocks)
}

fn from_pkcs8(path: &Path, der: &[u8]) -> Result<p256::SecretKey, SignError> {
    let bad = |source: p256::pkcs8::Error| SignError::BadKey {
        path: path.into(),
        source: Box::new(source),
    };
    let info = p256::pkcs8::PrivateKeyInfo::try_from(der).map_err(bad)?;
    check_algorithm(
        path,
        info.algorithm.oid,
        info.algorithm.parameters_oid().ok(),
    )?;
    p256::SecretKey::from_pkcs8_der(der).map_err(bad)
}

/// A SEC1 `EC PRIVATE KEY` (what `openssl ecparam -genkey` writes), its curve checked.
fn from_sec1(path: &Path, der: &[u8]) -> Result<p256::SecretKey, SignError> {
    let bad = |source: Box<dyn std::error::Error + Send + Sync>| SignError::BadKey {
        path: path.into(),
        source,
    };
    let key = sec1::EcPrivateKey::try_from(der).map_err(|e| bad(Box::new(e)))?;
    if let Some(curve) = key.parameters.and_then(|p| p.named_curve()) {
        check_curve(path, curve)?;
    }
    p256::SecretKey::from_sec1_der(der).map_err(|e| bad(Box::new(e)))
}

fn check_algorithm(
    path: &Path,
    algorithm: ObjectIdentifier,
    curve: Option<ObjectIdentifier>,
) -> Result<(), SignError> {
    if algorithm != EC_PUBLIC_KEY {
        return Err(SignError::WrongCurve {
            path: path.into(),
            found: name_of(algorithm),
        });
    }
    match curve {
        Some(curve) => check_curve(path, curve),
        None => Err(SignError::WrongCurve {
            path: path.into(),
            found: "an EC key without a named curve".to_string(),
        }),
    }
}

fn check_curve(path: &Path, curve: ObjectIdentifier) -> Result<(), SignError> {
    if curve == P256 {
        return Ok(());
    }
    Err(SignError::WrongCurve {
        path: path.into(),
        found: name_of(curve),
    })
}

/// A readable name for the algorithms and curves a key file is likely to hold instead.
fn name_of(oid: ObjectIdentifier) -> String {
    let name = match oid.to_string().as_str() {
        "1.3.132.0.34" => "an ECDSA P-384 key",
        "1.3.132.0.35" => "an ECDSA P-521 key",
        "1.3.132.0.10" => "an ECDSA secp256k1 key",
        "1.2.840.113549.1.1.1" => "an RSA key",
        "1.3.101.112" => "an Ed25519 key",
        "1.3.101.113" => "an Ed448 key",
        other => return format!("a key of algorithm or curve {other}"),
    };
    name.to_string()
}

/// Bounds on the scrypt parameters of an encrypted key, checked before deriving: cosign
/// writes N = 32768, r = 8, p = 1 (32 MiB, 2^18 block mixes, a tenth of a second). Memory
/// is 128 * r * N bytes, work N * r * p block mixes.
const MAX_SCRYPT_MEMORY_LOG2: u32 = 28;
const MAX_SCRYPT_WORK_LOG2: u32 = 22;
const MAX_SCRYPT_R: u32 = 32;
const MAX_SCRYPT_P: u32 = 16;

#[derive(serde::Deserialize, serde::Serialize)]
struct Encrypted {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(serde::Deserialize, serde::Serialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// The PKCS#8 DER inside cosign's encrypted key (go-securesystemslib `encrypted`: scrypt
/// derives a 32-byte key from the password and salt; NaCl secretbox seals the DER).
fn decrypt(path: &Path, body: &[u8], password: &str) -> Result<Zeroizing<Vec<u8>>, SignError> {
    let bad = |reason: String| SignError::BadEncrypted {
        path: path.into(),
        reason,
    };
    let doc: Encrypted =
        serde_json::from_slice(body).map_err(|e| bad(format!("not the expected JSON ({e})")))?;
    if doc.kdf.name != "scrypt" {
        return Err(bad(format!(
            "key derivation `{}` is not scrypt",
            doc.kdf.name
        )));
    }
    if doc.cipher.name != "nacl/secretbox" {
        return Err(bad(format!(
            "cipher `{}` is not nacl/secretbox",
            doc.cipher.name
        )));
    }
    let params = scrypt_params(&doc.kdf.params).map_err(bad)?;
    let decode = |what: &str, s: &str| {
        STANDARD
            .decode(s)
            .map_err(|_| bad(format!("{what} is not base64")))
    };
    let salt = decode("salt", &doc.kdf.salt)?;
    let nonce = decode("nonce", &doc.cipher.nonce)?;
    let ciphertext = decode("ciphertext", &doc.ciphertext)?;
    if nonce.len() != 24 {
        return Err(bad(format!("the nonce has {} bytes, not 24", nonce.len())));
    }
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password.as_bytes(), &salt, &params, key.as_mut())
        .expect("32 bytes is a valid scrypt output length");
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    cipher
        .decrypt(nonce.as_slice().into(), ciphertext.as_slice())
        .map(Zeroizing::new)
        .map_err(|_| SignError::WrongPassword { path: path.into() })
}

fn scrypt_params(p: &ScryptParams) -> Result<scrypt::Params, String> {
    if p.n < 2 || !p.n.is_power_of_two() {
        return Err(format!("scrypt N = {} is not a power of two above 1", p.n));
    }
    let log_n = p.n.trailing_zeros();
    let refuse = || {
        format!(
            "scrypt parameters N = {}, r = {}, p = {} are beyond what compose accepts",
            p.n, p.r, p.p
        )
    };
    if !(1..=MAX_SCRYPT_R).contains(&p.r) || !(1..=MAX_SCRYPT_P).contains(&p.p) {
        return Err(refuse());
    }
    let log_r = p.r.next_power_of_two().trailing_zeros();
    let log_p = p.p.next_power_of_two().trailing_zeros();
    if log_n + 7 + log_r > MAX_SCRYPT_MEMORY_LOG2 || log_n + log_r + log_p > MAX_SCRYPT_WORK_LOG2 {
        return Err(refuse());
    }
    scrypt::Params::new(log_n as u8, p.r, p.p, 32).map_err(|e| format!("scrypt parameters: {e}"))
}

/// Seals `der` as cosign does, for tests (here and in the integration tests' keys).
#[cfg(test)]
pub(super) fn encrypt_for_test(der: &[u8], password: &str, log_n: u8) -> String {
    let salt = [7u8; 32];
    let nonce = [9u8; 24];
    let mut key = [0u8; 32];
    let params = scrypt::Params::new(log_n, 8, 1, 32).unwrap();
    scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key).unwrap();
    let sealed = XSalsa20Poly1305::new((&key).into())
        .encrypt((&nonce).into(), der)
        .unwrap();
    let doc = Encrypted {
        kdf: Kdf {
            name: "scrypt".into(),
            params: ScryptParams {
                n: 1 << log_n,
                r: 8,
                p: 1,
            },
            salt: STANDARD.encode(salt),
        },
        cipher: Cipher {
            name: "nacl/secretbox".into(),
            nonce: STANDARD.encode(nonce),
        },
        ciphertext: STANDARD.encode(sealed),
    };
    let body = STANDARD.encode(serde_json::to_vec(&doc).unwrap());
    format!(
        "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n{body}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
    )
}
