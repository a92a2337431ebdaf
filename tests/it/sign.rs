//! `--sign` (issue 15): cosign-style signatures checked by third-party tools. containers/image
//! (skopeo 1.18 from Debian 13) accepts a signed push only with the right public key, for
//! one platform and an index, with keys openssl and skopeo made; signatures from two keys add
//! up and signing again adds nothing; layouts and archives carry `sha256-<hex>.sig`, whose
//! signature openssl verifies; signing changes no image digest.

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;

use crate::fixture::Env;
use crate::harness::{openssl_keypair, openssl_verifies, read_blob, require};
use crate::support::registry::Registry;
use crate::support::skopeo::Skopeo;

const BODY: &str = "[packages]\ninclude = [\"f-base-files\", \"f-libc\"]\n";
const TWO_PLATFORMS: &str = "platforms = [\"linux/amd64\", \"linux/arm64\"]";

/// `skopeo copy --remove-signatures` of `docker://{repo}:{tag}` to a fresh layout, under a
/// policy that requires a sigstore signature by `public` for `repo` (matchRepository) and a
/// registries.d that looks for sigstore attachments.
fn copy(env: &Env, skopeo: &Skopeo, repo: &str, tag: &str, public: &Path, all: bool) -> Output {
    let host = repo.split('/').next().unwrap();
    let policy = serde_json::json!({
        "default": [{"type": "reject"}],
        "transports": {"docker": {repo: [{
            "type": "sigstoreSigned",
            "keyPath": public,
            "signedIdentity": {"type": "matchRepository"},
        }]}},
    });
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let (p, d, out) = (
        env.path(&format!("policy-{n}.json")),
        env.path(&format!("registries-{n}.d")),
        env.path(&format!("copy-{n}")),
    );
    fs_err::write(&p, policy.to_string()).unwrap();
    fs_err::create_dir_all(&d).unwrap();
    fs_err::write(
        d.join("local.yaml"),
        format!("docker:\n  \"{host}\":\n    use-sigstore-attachments: true\n"),
    )
    .unwrap();
    let mut c = skopeo.command();
    c.args(["copy", "--remove-signatures", "--src-tls-verify=false"]);
    if all {
        c.arg("--all");
    }
    c.arg("--policy")
        .arg(&p)
        .arg("--registries.d")
        .arg(&d)
        .arg(format!("docker://{repo}:{tag}"))
        .arg(format!("oci:{}", out.display()));
    c.output().unwrap()
}

fn accepted(o: &Output) {
    assert!(
        o.status.success(),
        "skopeo refused: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Refused for its signatures (`why`), not for anything else.
fn refused(o: &Output, why: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "skopeo accepted the image");
    assert!(
        err.contains("Source image rejected") && err.contains(why),
        "skopeo failed for another reason: {err}"
    );
}

const BAD_SIGNATURE: &str = "cryptographic signature verification failed";

/// The raw manifest tagged `tag` in `repo`.
fn raw(skopeo: &Skopeo, repo: &str, tag: &str) -> serde_json::Value {
    let o = skopeo.run(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{repo}:{tag}"),
    ]);
    accepted(&o);
    serde_json::from_slice(&o.stdout).unwrap()
}

fn sig_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

fn push(env: &Env, spec: &Path, dest: &str, key: &Path, extra: &[&str]) -> String {
    let mut args = vec!["--sign", key.to_str().unwrap()];
    args.extend_from_slice(extra);
    env.build_to(spec, &[format!("docker://{dest}")], &args)
        .digest()
}

#[test]
#[ignore = "needs docker-registry, openssl, mmdebstrap and a Debian mirror"]
fn skopeo_accepts_signed_pushes_only_with_the_signing_key() {
    require(&["docker-registry", "openssl"]);
    let Some(skopeo) = Skopeo::get() else { return };
    let env = Env::new();
    let registry = Registry::start(None);
    let (key, public) = openssl_keypair(&env.path(""), "a");
    let (_, other) = openssl_keypair(&env.path(""), "b");

    let single = env.spec("single", BODY);
    // The policy does require a signature: the same image pushed unsigned is refused.
    let unsigned = format!("{}/signed/unsigned", registry.addr());
    env.build_to(&single, &[format!("docker://{unsigned}:v1")], &[])
        .digest();
    refused(
        &copy(&env, skopeo, &unsigned, "v1", &public, false),
        "no signature exists",
    );

    let repo = format!("{}/signed/single", registry.addr());
    push(&env, &single, &format!("{repo}:v1"), &key, &[]);
    accepted(&copy(&env, skopeo, &repo, "v1", &public, false));
    refused(
        &copy(&env, skopeo, &repo, "v1", &other, false),
        BAD_SIGNATURE,
    );

    let multi = env.spec_top("multi", TWO_PLATFORMS, BODY);
    let repo = format!("{}/signed/multi", registry.addr());
    let digest = push(&env, &multi, &format!("{repo}:v1"), &key, &[]);
    accepted(&copy(&env, skopeo, &repo, "v1", &public, true));
    accepted(&copy(&env, skopeo, &repo, "v1", &public, false));
    refused(
        &copy(&env, skopeo, &repo, "v1", &other, true),
        BAD_SIGNATURE,
    );
    refused(
        &copy(&env, skopeo, &repo, "v1", &other, false),
        BAD_SIGNATURE,
    );
    // The index and each platform manifest are signed.
    let index = raw(skopeo, &repo, "v1");
    for d in std::iter::once(digest.as_str()).chain(
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["digest"].as_str().unwrap()),
    ) {
        let sig = raw(skopeo, &repo, &sig_tag(d));
        assert_eq!(
            sig["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(sig["layers"].as_array().unwrap().len(), 1);
    }
}

#[test]
#[ignore = "needs docker-registry, mmdebstrap and a Debian mirror"]
fn an_encrypted_key_skopeo_made_signs_with_its_password() {
    require(&["docker-registry"]);
    let Some(skopeo) = Skopeo::get() else { return };
    let env = Env::new();
    let registry = Registry::start(None);
    let prefix = env.path("k");
    let pass = env.path("pass");
    fs_err::write(&pass, "correct horse").unwrap();
    let o = skopeo
        .command()
        .arg("generate-sigstore-key")
        .arg("--output-prefix")
        .arg(&prefix)
        .arg("--passphrase-file")
        .arg(&pass)
        .output()
        .unwrap();
    accepted(&o);
    let private = env.path("k.private");
    let public = env.path("k.pub");
    // skopeo 1.18 writes cosign's older label, `ENCRYPTED COSIGN PRIVATE KEY`.
    let text = fs_err::read_to_string(&private).unwrap();
    assert!(text.contains("-----BEGIN ENCRYPTED "), "{text}");

    let spec = env.spec("enc", BODY);
    let repo = format!("{}/signed/enc", registry.addr());
    let out = [format!("docker://{repo}:v1")];
    let key = private.to_str().unwrap();
    env.build_with_env(
        &spec,
        &out,
        &["--sign", key],
        &[("COSIGN_PASSWORD", "wrong")],
    )
    .fails_with("wrong password for the encrypted key");
    env.build_with_env(&spec, &out, &["--sign", key], &[])
        .fails_with("is encrypted and no password was given");
    env.build_with_env(
        &spec,
        &out,
        &[],
        &[
            ("COMPOSE_SIGN_KEY", key),
            ("COSIGN_PASSWORD", "correct horse"),
        ],
    )
    .digest();
    accepted(&copy(&env, skopeo, &repo, "v1", &public, false));
}

#[test]
#[ignore = "needs docker-registry, openssl, mmdebstrap and a Debian mirror"]
fn signatures_of_two_keys_add_up_and_signing_again_adds_nothing() {
    require(&["docker-registry", "openssl"]);
    let Some(skopeo) = Skopeo::get() else { return };
    let env = Env::new();
    let registry = Registry::start(None);
    let (a, a_pub) = openssl_keypair(&env.path(""), "a");
    let (b, b_pub) = openssl_keypair(&env.path(""), "b");
    let (_, c_pub) = openssl_keypair(&env.path(""), "c");
    let spec = env.spec("twice", BODY);
    let repo = format!("{}/signed/twice", registry.addr());
    let digest = push(&env, &spec, &format!("{repo}:v1"), &a, &[]);
    assert_eq!(push(&env, &spec, &format!("{repo}:v1"), &b, &[]), digest);
    accepted(&copy(&env, skopeo, &repo, "v1", &a_pub, false));
    accepted(&copy(&env, skopeo, &repo, "v1", &b_pub, false));
    refused(
        &copy(&env, skopeo, &repo, "v1", &c_pub, false),
        BAD_SIGNATURE,
    );
    let layers = |skopeo| {
        raw(skopeo, &repo, &sig_tag(&digest))["layers"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(layers(skopeo), 2);
    push(&env, &spec, &format!("{repo}:v1"), &a, &[]);
    assert_eq!(
        layers(skopeo),
        2,
        "signing again with the same key adds no layer"
    );
}

/// The signature layer of `sig_tag(digest)` in a layout: its payload and DER signature.
fn layout_signature(layout: &Path, digest: &str) -> (Vec<u8>, Vec<u8>) {
    let index: serde_json::Value =
        serde_json::from_slice(&fs_err::read(layout.join("index.json")).unwrap()).unwrap();
    let tag = sig_tag(digest);
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str())
        .unwrap_or_else(|| panic!("no {tag} in {index}"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&read_blob(layout, entry["digest"].as_str().unwrap())).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let layer = &manifest["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    let sig = base64::engine::general_purpose::STANDARD
        .decode(
            layer["annotations"]["dev.cosignproject.cosign/signature"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    (read_blob(layout, layer["digest"].as_str().unwrap()), sig)
}

#[test]
#[ignore = "needs openssl and tar"]
fn layouts_and_archives_carry_signatures_openssl_verifies_and_digests_do_not_change() {
    require(&["openssl", "tar"]);
    let env = Env::new();
    let (key, public) = openssl_keypair(&env.path(""), "a");
    let (_, other) = openssl_keypair(&env.path(""), "b");
    let spec = env.spec_top("local", TWO_PLATFORMS, BODY);
    let unsigned = env.build(&spec, "plain", &[]).digest();
    let (layout, archive) = (env.path("signed"), env.path("signed.tar"));
    let outputs = [
        format!("oci:{}:v1", layout.display()),
        format!("oci-archive:{}:v1", archive.display()),
    ];
    let signed = env
        .build_to(&spec, &outputs, &["--sign", key.to_str().unwrap()])
        .digest();
    assert_eq!(signed, unsigned, "signing changes no image digest");
    let unpacked = env.path("unpacked");
    fs_err::create_dir_all(&unpacked).unwrap();
    let o = Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&unpacked)
        .output()
        .unwrap();
    assert!(o.status.success());
    for dir in [&layout, &unpacked] {
        let (payload, sig) = layout_signature(dir, &signed);
        let p: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        // No registry destination: the image's name is the identity.
        assert_eq!(p["critical"]["identity"]["docker-reference"], "local");
        assert_eq!(
            p["critical"]["image"]["docker-manifest-digest"],
            signed.as_str()
        );
        assert!(p.as_object().unwrap().contains_key("optional"));
        assert!(openssl_verifies(&env.path(""), &public, &payload, &sig));
        assert!(!openssl_verifies(&env.path(""), &other, &payload, &sig));
        // Each platform manifest has its signature too.
        let index: serde_json::Value = serde_json::from_slice(&read_blob(dir, &signed)).unwrap();
        for m in index["manifests"].as_array().unwrap() {
            let (payload, sig) = layout_signature(dir, m["digest"].as_str().unwrap());
            assert!(openssl_verifies(&env.path(""), &public, &payload, &sig));
        }
    }
    // Building into the signed layout again keeps one signature (same key: same layer).
    env.build_to(&spec, &outputs[..1], &["--sign", key.to_str().unwrap()])
        .digest();
    let index: serde_json::Value =
        serde_json::from_slice(&fs_err::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 4, "{index}");
}

// Throwaway keys for the refusals below (made by openssl 3 for these tests only).
const P384_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDBRiSHXBMIIDuKgNMhp
NEgX5cxXDCa2vVCTidd06BRe+WC2Mhl1kRJiZCQpQOMTKbyhZANiAAR1MS9WQSx/
Od+hIF7K/uQq70Cngwq1Gq9zAX6GaMbike1JgWeB0WXrgklqw4wqJFwKnLbYihnN
b7jDJChVmR22g3aKIVUZP/GQcGl368ZBpdLZrlx8DWz+zDk5FjHk5TY=
-----END PRIVATE KEY-----
";

/// A key compose cannot use is refused in one line before anything is built or written.
#[test]
fn unusable_keys_are_refused_before_the_build() {
    let env = Env::new();
    let spec = env.spec("refused", BODY);
    let cases = [
        (
            "p384.pem",
            P384_KEY,
            "is an ECDSA P-384 key, not an ECDSA P-256 key",
        ),
        (
            "cert.pem",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "holds a `CERTIFICATE` PEM block, not a key compose can use",
        ),
        ("empty.pem", "", "holds no PEM block"),
    ];
    for (name, text, message) in cases {
        let path = env.path(name);
        fs_err::write(&path, text).unwrap();
        let r = env.build(&spec, "out", &["--sign", path.to_str().unwrap()]);
        r.fails_with(message);
        assert!(!env.path("out").exists(), "{name}: nothing is written");
        assert!(
            !r.stderr.contains("fetch"),
            "{name}: refused before any download"
        );
    }
    env.build(
        &spec,
        "out",
        &["--sign", env.path("missing.pem").to_str().unwrap()],
    )
    .fails_with("missing.pem");
}
