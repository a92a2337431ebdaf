//! Unit tests of `sign`: keys in every form (made by openssl), signatures openssl made,
//! envelopes and attachment manifests.

use std::collections::BTreeMap;
use std::path::Path;

use super::cosign::{self, Attachment};
use super::key::encrypt_for_test;
use super::*;

// Throwaway keys made by openssl 3 for these tests only.
const P256_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg0a9rbLPmHLI372It
eu+ToD0eOP8K7rMEuDUCJaWMq9GhRANCAASlwWFojTKzEUhCxGgiFK41NS/0Kg70
MUvOM8e8DxxtHwKRn7lTly5JSKWqrxZO98/h7yKaHNj6DVyTifGOUeEx
-----END PRIVATE KEY-----
";
const P256_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEpcFhaI0ysxFIQsRoIhSuNTUv9CoO
9DFLzjPHvA8cbR8CkZ+5U5cuSUilqq8WTvfP4e8imhzY+g1ck4nxjlHhMQ==
-----END PUBLIC KEY-----
";
/// `openssl dgst -sha256 -sign` of `hello` with `P256_PKCS8`.
const OPENSSL_SIGNATURE: &str = "30440220202674345efa25654b252326b37c8053f5e455083b5c5133158bee1ce0b85fb002205642211a50f6c2c85a51dffb9a589a444ef053b8780d9585de5daafa8e188d4f";
/// `openssl ecparam -name prime256v1 -genkey`: parameters, then a SEC1 key.
const P256_SEC1: &str = "-----BEGIN EC PARAMETERS-----
BggqhkjOPQMBBw==
-----END EC PARAMETERS-----
-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIPixVM4qcsgx99DlLAtnh5eQCoxOM2Jfxdt0PiEI8rAwoAoGCCqGSM49
AwEHoUQDQgAEj6o70dGUtKQXhBBp0n9+wzvAglQe6RjQbeiGQFru0+cVcOBuFfEL
hykah87/t2Z99mEehOaW95yn9wEMi3uDFw==
-----END EC PRIVATE KEY-----
";
const P384_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDBRiSHXBMIIDuKgNMhp
NEgX5cxXDCa2vVCTidd06BRe+WC2Mhl1kRJiZCQpQOMTKbyhZANiAAR1MS9WQSx/
Od+hIF7K/uQq70Cngwq1Gq9zAX6GaMbike1JgWeB0WXrgklqw4wqJFwKnLbYihnN
b7jDJChVmR22g3aKIVUZP/GQcGl368ZBpdLZrlx8DWz+zDk5FjHk5TY=
-----END PRIVATE KEY-----
";
const ED25519_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIH8AxaI1mH14OarSOZcS51VrlWPXloPm3cQLwBDBXOS2
-----END PRIVATE KEY-----
";

fn test_path() -> std::path::PathBuf {
    std::path::PathBuf::from("key.pem")
}

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn key(pem: &str) -> Result<SigningKey, SignError> {
    SigningKey::from_pem(&test_path(), pem, None)
}

fn pkcs8_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

#[test]
fn an_openssl_key_signs_what_its_public_key_verifies_and_openssls_signature_verifies() {
    let k = key(P256_PKCS8).unwrap();
    let public = VerifyingKey::from_pem(P256_PUBLIC).unwrap();
    assert_eq!(k.verifying_key(), public);
    assert_eq!(public.to_pem(), P256_PUBLIC);
    let sig = k.sign(b"hello");
    assert_eq!(
        sig,
        k.sign(b"hello"),
        "RFC 6979 signatures are deterministic"
    );
    public.verify(b"hello", &sig).unwrap();
    assert!(matches!(
        public.verify(b"hellO", &sig),
        Err(SignError::BadSignature)
    ));
    let openssl = hex::decode(OPENSSL_SIGNATURE).unwrap();
    public.verify(b"hello", &openssl).unwrap();
    assert!(public.verify(b"hello", &openssl[1..]).is_err());
}

#[test]
fn a_sec1_key_after_its_parameters_loads() {
    let k = key(P256_SEC1).unwrap();
    let sig = k.sign(b"m");
    k.verifying_key().verify(b"m", &sig).unwrap();
}

#[test]
fn other_curves_and_algorithms_are_named() {
    let e = key(P384_PKCS8).unwrap_err();
    assert_eq!(
        e.to_string(),
        "key `key.pem` is an ECDSA P-384 key, not an ECDSA P-256 key"
    );
    let e = key(ED25519_PKCS8).unwrap_err();
    assert!(e.to_string().contains("an Ed25519 key"), "{e}");
    let e =
        key("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n").unwrap_err();
    assert!(matches!(e, SignError::UnknownPem { ref label, .. } if label == "RSA PRIVATE KEY"));
    assert!(matches!(key("no pem here"), Err(SignError::NoPem { .. })));
    assert!(matches!(
        key("-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n"),
        Err(SignError::BadPem { .. })
    ));
    assert!(matches!(
        key("-----BEGIN PRIVATE KEY-----\nAAAA\n"),
        Err(SignError::BadPem { .. })
    ));
    assert!(matches!(
        VerifyingKey::from_pem(P256_PKCS8),
        Err(SignError::UnknownPem { .. })
    ));
}

#[test]
fn an_encrypted_cosign_key_needs_its_password() {
    let pem = encrypt_for_test(&pkcs8_der(P256_PKCS8), "secret", 10);
    let path = test_path();
    let k = SigningKey::from_pem(&path, &pem, Some("secret")).unwrap();
    assert_eq!(
        k.verifying_key(),
        VerifyingKey::from_pem(P256_PUBLIC).unwrap()
    );
    let wrong = SigningKey::from_pem(&path, &pem, Some("Secret")).unwrap_err();
    assert_eq!(
        wrong.to_string(),
        "wrong password for the encrypted key `key.pem`"
    );
    let none = SigningKey::from_pem(&path, &pem, None).unwrap_err();
    assert!(matches!(none, SignError::PasswordNeeded { .. }));
    let cosign = pem.replace("SIGSTORE", "COSIGN");
    SigningKey::from_pem(&path, &cosign, Some("secret")).unwrap();
}

#[test]
fn absurd_scrypt_parameters_are_refused_before_deriving() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let pem = encrypt_for_test(&pkcs8_der(P256_PKCS8), "secret", 10);
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let doc: serde_json::Value = serde_json::from_slice(&b64.decode(body).unwrap()).unwrap();
    for (n, r, p) in [
        (1u64 << 40, 8, 1),
        (3, 8, 1),
        (1 << 15, 0, 1),
        (1 << 15, 8, 1 << 20),
        (1 << 20, 32, 16),
    ] {
        let mut d = doc.clone();
        d["kdf"]["params"] = serde_json::json!({"N": n, "r": r, "p": p});
        let body = b64.encode(serde_json::to_vec(&d).unwrap());
        let pem = format!(
            "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n{body}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
        );
        let start = std::time::Instant::now();
        let e = SigningKey::from_pem(&test_path(), &pem, Some("secret")).unwrap_err();
        assert!(
            matches!(e, SignError::BadEncrypted { .. }),
            "{n} {r} {p}: {e}"
        );
        assert!(start.elapsed().as_secs() < 1);
    }
}

#[test]
fn key_files_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.pem");
    fs_err::write(&big, vec![b'a'; MAX_KEY_FILE as usize + 1]).unwrap();
    assert!(matches!(
        SigningKey::load(&big, None),
        Err(SignError::TooLarge { .. })
    ));
    let good = dir.path().join("good.pem");
    fs_err::write(&good, P256_PKCS8).unwrap();
    SigningKey::load(&good, None).unwrap();
    let e = SigningKey::load(Path::new("/nonexistent/key.pem"), None).unwrap_err();
    assert!(crate::error::render(&e.into()).contains("/nonexistent/key.pem"));
}

#[test]
fn a_dsse_envelope_opens_with_its_key_only() {
    assert_eq!(dsse::pae("t", b"ab"), b"DSSEv1 1 t 2 ab");
    let k = key(P256_PKCS8).unwrap();
    let env = dsse::envelope(&k, dsse::IN_TOTO, b"{\"x\":1}");
    let v: serde_json::Value = serde_json::from_slice(&env).unwrap();
    assert_eq!(v["payloadType"], dsse::IN_TOTO);
    assert_eq!(v["signatures"][0]["keyid"], "");
    let opened = dsse::open(&k.verifying_key(), &env).unwrap();
    assert_eq!(opened.payload, b"{\"x\":1}");
    assert_eq!(opened.payload_type, dsse::IN_TOTO);
    let other = key(P256_SEC1).unwrap();
    assert!(matches!(
        dsse::open(&other.verifying_key(), &env),
        Err(SignError::BadSignature)
    ));
    let mut tampered = v.clone();
    tampered["payloadType"] = "text/plain".into();
    let tampered = serde_json::to_vec(&tampered).unwrap();
    assert!(dsse::open(&k.verifying_key(), &tampered).is_err());
    assert!(dsse::open(&k.verifying_key(), b"{}").is_err());
}

#[test]
fn signature_manifests_add_up_and_signing_again_adds_nothing() {
    assert_eq!(
        cosign::sig_tag(DIGEST),
        format!("sha256-{}.sig", &DIGEST[7..])
    );
    assert_eq!(
        cosign::att_tag(DIGEST),
        format!("sha256-{}.att", &DIGEST[7..])
    );
    let (a, b) = (key(P256_PKCS8).unwrap(), key(P256_SEC1).unwrap());
    let sig_a = Attachment::signature(&a, "127.0.0.1:5000/img", DIGEST);
    let first = cosign::manifest(None, std::slice::from_ref(&sig_a)).unwrap();
    assert_eq!(first.added, 1);
    assert_eq!(first.blobs.len(), 2, "config and payload");
    let m = cosign::parse_manifest(&first.manifest).unwrap();
    let layers = cosign::layers(&m).unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0].media_type, cosign::SIMPLESIGNING);
    let again = cosign::manifest(Some(&m), std::slice::from_ref(&sig_a)).unwrap();
    assert_eq!(
        (again.added, again.manifest.clone()),
        (0, first.manifest.clone())
    );
    let sig_b = Attachment::signature(&b, "127.0.0.1:5000/img", DIGEST);
    let both = cosign::manifest(Some(&m), &[sig_b]).unwrap();
    assert_eq!(both.added, 1);
    assert_eq!(
        both.blobs.len(),
        1,
        "the payload is the same blob: only the config is new"
    );
    let m2 = cosign::parse_manifest(&both.manifest).unwrap();
    let layers = cosign::layers(&m2).unwrap();
    assert_eq!(layers.len(), 2);
    let payload = payload::simple_signing("127.0.0.1:5000/img", DIGEST);
    for (l, k) in layers.iter().zip([&a, &b]) {
        use base64::Engine;
        let sig = base64::engine::general_purpose::STANDARD
            .decode(&l.annotations[cosign::SIGNATURE_ANNOTATION])
            .unwrap();
        k.verifying_key().verify(&payload, &sig).unwrap();
    }
    let config: serde_json::Value = serde_json::from_slice(&both.blobs[0].bytes).unwrap();
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
}

#[test]
fn attestations_carry_their_predicate_type() {
    let k = key(P256_PKCS8).unwrap();
    let st = Statement {
        predicate_type: "https://slsa.dev/provenance/v1".into(),
        statement: b"{}".to_vec(),
    };
    let a = Attachment::attestation(&k, &st);
    assert_eq!(a.media_type, cosign::DSSE);
    assert_eq!(
        a.annotations,
        BTreeMap::from([
            (cosign::SIGNATURE_ANNOTATION.to_string(), String::new()),
            ("predicateType".to_string(), st.predicate_type.clone()),
        ])
    );
    assert_eq!(
        dsse::open(&k.verifying_key(), &a.blob).unwrap().payload,
        b"{}"
    );
}

#[test]
fn hostile_attachment_manifests_are_refused() {
    let built = cosign::manifest(None, &[]).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&built.manifest).unwrap();
    v["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json".into();
    assert!(cosign::parse_manifest(&serde_json::to_vec(&v).unwrap()).is_err());
    let mut v: serde_json::Value = serde_json::from_slice(&built.manifest).unwrap();
    v["config"]["digest"] = "sha256:../../x".into();
    assert!(cosign::parse_manifest(&serde_json::to_vec(&v).unwrap()).is_err());
    assert!(cosign::parse_manifest(&vec![b' '; cosign::MAX_MANIFEST + 1]).is_err());
}

#[test]
fn layers_read_back_verify_with_their_key_only() {
    let (a, b) = (key(P256_PKCS8).unwrap(), key(P256_SEC1).unwrap());
    let st = Statement {
        predicate_type: "https://slsa.dev/provenance/v1".into(),
        statement: b"{\"_type\":\"x\"}".to_vec(),
    };
    let new = [
        Attachment::signature(&a, "127.0.0.1:5000/img", DIGEST),
        Attachment::attestation(&a, &st),
    ];
    let built = cosign::manifest(None, &new).unwrap();
    let layers = cosign::layers(&cosign::parse_manifest(&built.manifest).unwrap()).unwrap();
    let blob = |l: &cosign::Layer| {
        built
            .blobs
            .iter()
            .find(|b| b.digest == l.digest)
            .unwrap()
            .bytes
            .clone()
    };
    let (sig, att) = (&layers[0], &layers[1]);
    let (va, vb) = (a.verifying_key(), b.verifying_key());
    let p = cosign::verify_signature(&va, sig, &blob(sig)).unwrap();
    assert_eq!(p.manifest_digest, DIGEST);
    assert!(cosign::verify_signature(&vb, sig, &blob(sig)).is_err());
    assert!(
        cosign::verify_signature(&va, sig, &blob(att)).is_err(),
        "another layer's blob"
    );
    assert!(
        cosign::verify_signature(&va, att, &blob(att)).is_err(),
        "not a signature layer"
    );
    assert_eq!(cosign::open_attestation(&va, att, &blob(att)).unwrap(), st);
    assert!(cosign::open_attestation(&vb, att, &blob(att)).is_err());
}
