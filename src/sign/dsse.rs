//! DSSE envelopes (the in-toto attestation wrapper): the pre-authentication encoding that
//! is signed, an envelope with one signature, and its hostile opening.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::{SignError, SigningKey, VerifyingKey};

/// The payload type of an in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// The largest envelope `open` reads.
pub const MAX_ENVELOPE: usize = 64 * 1024 * 1024;

/// The most signatures `open` tries.
const MAX_SIGNATURES: usize = 16;

/// `DSSEv1 SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    #[serde(rename = "payloadType")]
    payload_type: String,
    payload: String,
    signatures: Vec<Signature>,
}

#[derive(Serialize, Deserialize)]
struct Signature {
    #[serde(default)]
    keyid: String,
    sig: String,
}

/// The envelope JSON: `{payloadType, payload (base64), signatures: [{keyid: "", sig}]}`,
/// signed over `pae`.
pub fn envelope(key: &SigningKey, payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let sig = key.sign(&pae(payload_type, payload));
    let e = Envelope {
        payload_type: payload_type.to_string(),
        payload: STANDARD.encode(payload),
        signatures: vec![Signature {
            keyid: String::new(),
            sig: STANDARD.encode(sig),
        }],
    };
    crate::oci::canonical_json(&e)
}

/// An envelope's content, once a signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub payload_type: String,
    pub payload: Vec<u8>,
}

/// The payload of an envelope one of whose signatures `key` verifies.
pub fn open(key: &VerifyingKey, envelope: &[u8]) -> Result<Opened, SignError> {
    let bad = |s: &str| SignError::BadEnvelope(s.to_string());
    if envelope.len() > MAX_ENVELOPE {
        return Err(bad("larger than 64 MiB"));
    }
    let e: Envelope = serde_json::from_slice(envelope).map_err(|_| bad("not the DSSE JSON"))?;
    let payload = STANDARD
        .decode(&e.payload)
        .map_err(|_| bad("the payload is not base64"))?;
    if e.signatures.is_empty() {
        return Err(bad("no signature"));
    }
    let message = pae(&e.payload_type, &payload);
    let verified = e.signatures.iter().take(MAX_SIGNATURES).any(|s| {
        STANDARD
            .decode(&s.sig)
            .is_ok_and(|sig| key.verify(&message, &sig).is_ok())
    });
    if !verified {
        return Err(SignError::BadSignature);
    }
    Ok(Opened {
        payload_type: e.payload_type,
        payload,
    })
}
