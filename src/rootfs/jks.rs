//! A Java KeyStore (JKS) of trusted certificates, written natively: what Debian's
//! `ca-certificates-java` would generate with a JVM at install time.
//!
//! Format: magic `0xFEEDFEED`, version 2, entry count; per entry tag 2 (trusted certificate),
//! alias, creation time in milliseconds, certificate type `X.509`, DER bytes; then a SHA-1 over
//! the password (UTF-16BE), the salt `Mighty Aphrodite` and everything before it.

use base64::Engine as _;
use sha1::{Digest, Sha1};

/// The password every JDK assumes for the system trust store.
pub const PASSWORD: &str = "changeit";

/// One certificate of the bundle: its alias and DER bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cert {
    pub alias: String,
    pub der: Vec<u8>,
}

/// Decode every `CERTIFICATE` block of a PEM text; `alias` names them (a suffix is added when
/// a file holds several).
pub fn pem_certificates(pem: &str, alias: &str) -> Vec<Cert> {
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in pem.lines() {
        let line = line.trim();
        if line == "-----BEGIN CERTIFICATE-----" {
            body = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            if let Some(b64) = body.take()
                && let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64)
            {
                let alias = if out.is_empty() {
                    alias.to_owned()
                } else {
                    format!("{alias}_{}", out.len())
                };
                out.push(Cert { alias, der });
            }
        } else if let Some(b) = body.as_mut() {
            b.push_str(line);
        }
    }
    out
}

fn put_utf(out: &mut Vec<u8>, s: &str) {
    // Java's modified UTF-8 equals UTF-8 for text without NUL or astral characters, which
    // aliases (file names) never contain.
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The keystore bytes for `certs` (written in the given order), created at `epoch` seconds.
pub fn keystore(certs: &[Cert], epoch: u64) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xFEED_FEEDu32.to_be_bytes());
    out.extend_from_slice(&2u32.to_be_bytes());
    out.extend_from_slice(&(certs.len() as u32).to_be_bytes());
    for c in certs {
        out.extend_from_slice(&2u32.to_be_bytes());
        put_utf(&mut out, &c.alias);
        out.extend_from_slice(&(epoch * 1000).to_be_bytes());
        put_utf(&mut out, "X.509");
        out.extend_from_slice(&(c.der.len() as u32).to_be_bytes());
        out.extend_from_slice(&c.der);
    }
    let mut h = Sha1::new();
    for unit in PASSWORD.encode_utf16() {
        h.update(unit.to_be_bytes());
    }
    h.update(b"Mighty Aphrodite");
    h.update(&out);
    out.extend_from_slice(&h.finalize());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_decode_with_aliases() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAEC\nAw==\n-----END CERTIFICATE-----\njunk\n-----BEGIN CERTIFICATE-----\nBAU=\n-----END CERTIFICATE-----\n";
        let certs = pem_certificates(pem, "debian:x.pem");
        assert_eq!(certs.len(), 2);
        assert_eq!(
            certs[0],
            Cert {
                alias: "debian:x.pem".into(),
                der: vec![0, 1, 2, 3]
            }
        );
        assert_eq!(certs[1].alias, "debian:x.pem_1");
    }

    #[test]
    fn keystore_layout_and_integrity_hash() {
        let ks = keystore(
            &[Cert {
                alias: "a".into(),
                der: vec![9, 9],
            }],
            2,
        );
        assert_eq!(&ks[..12], &[0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2, 0, 0, 0, 1]);
        // tag, alias "a", timestamp 2000 ms, "X.509", length 2, DER
        let entry = [
            &[0, 0, 0, 2][..],
            &[0, 1, b'a'],
            &2000u64.to_be_bytes(),
            &[0, 5],
            b"X.509",
            &[0, 0, 0, 2, 9, 9],
        ]
        .concat();
        assert_eq!(&ks[12..12 + entry.len()], &entry[..]);
        assert_eq!(ks.len(), 12 + entry.len() + 20);
        let body = &ks[..ks.len() - 20];
        let mut h = Sha1::new();
        h.update(b"\0c\0h\0a\0n\0g\0e\0i\0t");
        h.update(b"Mighty Aphrodite");
        h.update(body);
        assert_eq!(&ks[ks.len() - 20..], &h.finalize()[..]);
    }
}
