//! Attestations end to end (issue 15) on the fixture image and Debian's `docker-registry`:
//! `compose build --sign --attest` checked by tools that are not compose (openssl over the
//! DSSE pre-authentication encoding, `ntia-checker` and `pyspdxtools` on the SBOMs), the
//! provenance against the files it names, statements reproducible, and `compose verify
//! --image` passing, then failing for another key, a changed spec and another image; the
//! SBOM beside the output naming the image's version and supplier; each InRelease by the
//! hash of the bytes served, a `--vendor` build naming the mirror (its statements the online
//! build's), and an attested build refused when no copy of the lock's InRelease is left.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fixture::Env;
use crate::harness::{Run, compose, openssl_keypair, openssl_verifies, require, run, tool};
use crate::support::registry::Registry;
use crate::support::server::Server;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The fixture tool image, locked, a registry, and two key pairs; builds go through the
/// fixture server as their proxy, so the mirror has a name the SPDX tools accept.
struct Attesting {
    registry: Registry,
    env: Env,
    spec: PathBuf,
    key: (PathBuf, PathBuf),
    other_key: (PathBuf, PathBuf),
}

impl Attesting {
    fn new() -> Attesting {
        require(&["docker-registry", "openssl", "curl"]);
        let registry = Registry::start(None);
        let env = Env::new();
        let spec = env.tool_spec();
        let t = Attesting {
            key: openssl_keypair(&env.path(""), "key"),
            other_key: openssl_keypair(&env.path(""), "other"),
            registry,
            env,
            spec,
        };
        t.lock(&t.spec);
        t
    }

    fn lock(&self, spec: &Path) {
        self.proxied(
            compose()
                .arg("lock")
                .arg(spec)
                .arg("--cache-dir")
                .arg(self.env.path("cache")),
        )
        .success("the lock");
    }

    /// `cmd` with the fixture mirror behind its proxy.
    fn proxied(&self, cmd: &mut crate::harness::Compose) -> Run {
        for (k, v) in self.env.server.as_proxy() {
            cmd.env(k, v);
        }
        run(cmd
            .arg("--mirror")
            .arg(format!("fixture={}", Server::PROXIED)))
    }

    /// `HOST:PORT/REPO:TAG` of the test registry.
    fn image(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.registry.addr())
    }

    /// `compose build SPEC --sign KEY [extra] --json` to `docker://IMAGE` and `outputs`.
    fn build(&self, spec: &Path, repo_tag: &str, outputs: &[String], extra: &[&str]) -> Value {
        let mut cmd = compose();
        cmd.arg("build").arg(spec).arg("--json");
        cmd.arg("--output")
            .arg(format!("docker://{}", self.image(repo_tag)));
        for o in outputs {
            cmd.arg("--output").arg(o);
        }
        cmd.arg("--sign").arg(&self.key.0).args(extra);
        cmd.arg("--cache-dir").arg(self.env.path("cache"));
        self.proxied(&mut cmd).json()
    }

    /// `compose verify SPEC --image docker://IMAGE --key PUB`.
    fn verify(&self, spec: &Path, repo_tag: &str, key: &Path) -> Run {
        let mut cmd = compose();
        cmd.arg("verify").arg(spec);
        cmd.arg("--image")
            .arg(format!("docker://{}", self.image(repo_tag)));
        cmd.arg("--key").arg(key);
        cmd.arg("--cache-dir").arg(self.env.path("cache"));
        self.proxied(&mut cmd)
    }

    /// `GET /v2/REPO/PATH` from the registry (curl, not compose).
    fn get(&self, repo: &str, path: &str) -> Vec<u8> {
        let url = format!("http://{}/v2/{repo}/{path}", self.registry.addr());
        let o = Command::new("curl")
            .args([
                "-sSf",
                "-H",
                "Accept: application/vnd.oci.image.manifest.v1+json",
                &url,
            ])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "GET {url}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    }

    /// Every DSSE envelope attached to `digest` in `repo`.
    fn envelopes(&self, repo: &str, digest: &str) -> Vec<Value> {
        let tag = format!("sha256-{}.att", &digest["sha256:".len()..]);
        let manifest: Value =
            serde_json::from_slice(&self.get(repo, &format!("manifests/{tag}"))).unwrap();
        assert_eq!(
            manifest["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        let layers = manifest["layers"].as_array().unwrap();
        assert!(!layers.is_empty(), "{manifest}");
        layers
            .iter()
            .map(|l| {
                assert_eq!(l["mediaType"], "application/vnd.dsse.envelope.v1+json");
                let blob = self.get(repo, &format!("blobs/{}", l["digest"].as_str().unwrap()));
                let envelope: Value = serde_json::from_slice(&blob).unwrap();
                let statement = payload(&envelope);
                assert_eq!(
                    l["annotations"]["predicateType"],
                    statement["predicateType"]
                );
                envelope
            })
            .collect()
    }
}

/// The statement an envelope carries.
fn payload(envelope: &Value) -> Value {
    let bytes = B64.decode(envelope["payload"].as_str().unwrap()).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The statement of `predicate_type` among the envelopes.
fn statement_of(envelopes: &[Value], predicate_type: &str) -> Value {
    envelopes
        .iter()
        .map(payload)
        .find(|s| s["predicateType"] == predicate_type)
        .unwrap_or_else(|| panic!("no {predicate_type} statement"))
}

/// DSSE's pre-authentication encoding, written here from the specification.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// openssl verifies the envelope's signature over the PAE with `public`.
fn envelope_verifies(dir: &Path, envelope: &Value, public: &Path) -> bool {
    let payload_type = envelope["payloadType"].as_str().unwrap();
    assert_eq!(payload_type, "application/vnd.in-toto+json");
    let payload = B64.decode(envelope["payload"].as_str().unwrap()).unwrap();
    let sig = B64
        .decode(envelope["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    openssl_verifies(dir, public, &pae(payload_type, &payload), &sig)
}

/// `ntia-checker` says conformant and `pyspdxtools` accepts the SPDX file `path`.
/// The SBOM of the attestation (`sbom`, its statement) and the one beside the `oci:` output
/// both pass `pyspdxtools` and `ntia-checker`.
fn assert_both_sboms_standard(env: &Env, sbom: &Value) {
    let attested = env.path("attested.spdx.json");
    fs_err::write(
        &attested,
        serde_json::to_vec_pretty(&sbom["predicate"]).unwrap(),
    )
    .unwrap();
    assert_standard_sbom(&attested);
    assert_standard_sbom(&env.path("out.latest.spdx.json"));
}

fn assert_standard_sbom(path: &Path) {
    let p = path.to_str().unwrap();
    let report = tool("ntia-checker", &["-r", "json", p]);
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["isNtiaConformant"], true, "{p}: {report:#}");
    tool("pyspdxtools", &["-i", p]);
}

/// Every locked suite's InRelease is in `deps` by the mirror's URL and the sha256 of the
/// bytes the fixture server serves there, the lock's hash of its text beside.
fn assert_inreleases_as_served(env: &Env, lock: &toml::Value, deps: &[Value]) {
    for s in lock["source"].as_array().unwrap() {
        let release = s["release"].as_str().unwrap();
        let d = deps
            .iter()
            .find(|d| d["annotations"]["lockRelease"] == release)
            .unwrap_or_else(|| panic!("no InRelease {release}"));
        let uri = d["uri"].as_str().unwrap();
        let path = uri
            .strip_prefix(Server::PROXIED)
            .unwrap_or_else(|| panic!("{uri}"));
        assert!(path.ends_with("/InRelease"), "{uri}");
        let served = fs_err::read(env.served().join(path.trim_start_matches('/'))).unwrap();
        assert_eq!(d["digest"]["sha256"], sha256_hex(&served), "{uri}");
        assert_ne!(format!("sha256:{}", sha256_hex(&served)), release);
    }
}

/// Signed, attested, pushed: openssl verifies every envelope over the PAE with the public
/// key (and not with another); the provenance names the spec and lock by their sha256, every
/// locked `.deb` and every InRelease by the lock's hash; the SBOM of the attestation and the
/// one beside the `oci:` output are NTIA-conformant valid SPDX.
#[test]
#[ignore = "needs docker-registry, openssl, curl, ntia-checker and pyspdxtools"]
fn attestations_are_signed_and_name_every_input() {
    require(&["ntia-checker", "pyspdxtools"]);
    let t = Attesting::new();
    let layout = t.env.path("out");
    let r = t.build(
        &t.spec,
        "tool:v1",
        &[format!("oci:{}", layout.display())],
        &["--attest"],
    );
    let digest = r["digest"].as_str().unwrap();
    let envelopes = t.envelopes("tool", digest);
    for e in &envelopes {
        assert!(envelope_verifies(&t.env.path(""), e, &t.key.1), "{e}");
        assert!(!envelope_verifies(&t.env.path(""), e, &t.other_key.1));
    }
    let provenance = statement_of(&envelopes, "https://slsa.dev/provenance/v1");
    assert_eq!(provenance["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        provenance["subject"][0]["digest"]["sha256"],
        digest["sha256:".len()..]
    );
    let definition = &provenance["predicate"]["buildDefinition"];
    let external = &definition["externalParameters"];
    let spec_bytes = fs_err::read(&t.spec).unwrap();
    assert_eq!(external["specs"][0]["path"], "tool.toml");
    assert_eq!(
        external["specs"][0]["digest"]["sha256"],
        sha256_hex(&spec_bytes)
    );
    let lock_bytes = fs_err::read(t.spec.with_extension("lock")).unwrap();
    assert_eq!(
        external["lock"]["digest"]["sha256"],
        sha256_hex(&lock_bytes)
    );
    assert_eq!(external["platforms"], serde_json::json!(["linux/amd64"]));
    assert_eq!(external["variant"], "latest");
    let lock: toml::Value = toml::from_str(std::str::from_utf8(&lock_bytes).unwrap()).unwrap();
    let deps = definition["resolvedDependencies"].as_array().unwrap();
    let has = |sha: &str| deps.iter().any(|d| d["digest"]["sha256"] == sha);
    // Every locked `.deb` of the layers `latest` builds (the lock has the debug layer too).
    let packages = lock["package"].as_array().unwrap();
    let built: Vec<_> = packages
        .iter()
        .filter(|p| p["layer"].as_str() == Some("tool"))
        .collect();
    assert!(
        built.len() > 3 && built.len() < packages.len(),
        "{packages:?}"
    );
    for p in built {
        assert!(
            has(p["sha256"].as_str().unwrap()),
            "{p} is not in the provenance"
        );
    }
    assert_inreleases_as_served(&t.env, &lock, deps);
    let builder = provenance["predicate"]["runDetails"]["builder"]["id"]
        .as_str()
        .unwrap();
    assert!(
        builder.contains("compose") && builder.contains(env!("CARGO_PKG_VERSION")),
        "{builder}"
    );
    let sbom = statement_of(&envelopes, "https://spdx.dev/Document");
    assert_both_sboms_standard(&t.env, &sbom);
    let image = &sbom["predicate"]["packages"][0];
    assert_eq!(
        (image["versionInfo"].as_str(), image["supplier"].as_str()),
        (Some(digest), Some("Organization: Debian"))
    );
}

/// A `--vendor` build reports the mirror the directory was vendored from, never the
/// directory: the SBOM beside its `oci:` output names the mirror's URLs (valid SPDX, NTIA
/// conformant), its provenance the mirror's InRelease as served, and both statements are
/// the online build's, byte for byte (the same lock, the same mirror URL).
#[test]
#[ignore = "needs docker-registry, openssl, curl, ntia-checker and pyspdxtools"]
fn a_vendored_build_reports_the_mirror_it_was_vendored_from() {
    require(&["ntia-checker", "pyspdxtools"]);
    let t = Attesting::new();
    let online_out = t.env.path("online");
    let online = t.build(
        &t.spec,
        "online:v1",
        &[format!("oci:{}", online_out.display())],
        &["--attest", "--no-layer-cache"],
    );
    let dir = t.env.path("vendored");
    t.proxied(
        compose()
            .arg("vendor")
            .arg(&t.spec)
            .arg(&dir)
            .arg("--cache-dir")
            .arg(t.env.path("cache")),
    )
    .success("compose vendor");
    let out = t.env.path("offline");
    let mut cmd = compose();
    cmd.arg("build").arg(&t.spec).arg("--json");
    cmd.arg("--output")
        .arg(format!("docker://{}", t.image("vendored:v1")));
    cmd.arg("--output").arg(format!("oci:{}", out.display()));
    cmd.arg("--sign")
        .arg(&t.key.0)
        .args(["--attest", "--no-layer-cache"]);
    cmd.arg("--vendor").arg(&dir);
    cmd.arg("--cache-dir").arg(t.env.path("vendored-cache"));
    let vendored = run(&mut cmd).json();
    assert_eq!(online["digest"], vendored["digest"]);
    let sbom_path = t.env.path("offline.latest.spdx.json");
    let sbom = fs_err::read_to_string(&sbom_path).unwrap();
    assert!(!sbom.contains("file:"), "{sbom}");
    assert!(!sbom.contains(&dir.display().to_string()), "{sbom}");
    assert!(
        sbom.contains(&format!("\"{}/pool/", Server::PROXIED)),
        "{sbom}"
    );
    assert_standard_sbom(&sbom_path);
    assert_eq!(
        sbom,
        fs_err::read_to_string(t.env.path("online.latest.spdx.json")).unwrap()
    );
    let digest = online["digest"].as_str().unwrap();
    let statements = |repo| {
        let envelopes = t.envelopes(repo, digest);
        [
            "https://slsa.dev/provenance/v1",
            "https://spdx.dev/Document",
        ]
        .map(|kind| statement_of(&envelopes, kind))
    };
    let (online, vendored) = (statements("online"), statements("vendored"));
    assert_eq!(online, vendored);
    let provenance = serde_json::to_string(&vendored[0]).unwrap();
    assert!(!provenance.contains("file:"), "{provenance}");
    let lock_bytes = fs_err::read(t.spec.with_extension("lock")).unwrap();
    let lock: toml::Value = toml::from_str(std::str::from_utf8(&lock_bytes).unwrap()).unwrap();
    let deps = vendored[0]["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    assert_inreleases_as_served(&t.env, &lock, deps);
}

/// An attested build whose lock's InRelease no copy has any more (the mirror moved on, a
/// cold cache, no snapshot archive) fails, naming the suite and what to do.
#[test]
#[ignore = "needs docker-registry, openssl and curl"]
fn an_attested_build_without_the_lock_s_inrelease_fails_naming_the_suite() {
    let t = Attesting::new();
    let dists = t.env.served().join("dists");
    fs_err::copy(
        dists.join("testing-updates/InRelease"),
        dists.join("testing/InRelease"),
    )
    .unwrap();
    let mut cmd = compose();
    cmd.arg("build").arg(&t.spec);
    cmd.arg("--output")
        .arg(format!("docker://{}", t.image("gone:v1")));
    cmd.arg("--sign").arg(&t.key.0).arg("--attest");
    cmd.arg("--cache-dir").arg(t.env.path("cold-cache"));
    let r = t.proxied(&mut cmd);
    r.fails_with("suite `testing` of `archive:fixture`");
    r.stderr_has("compose lock --update");
    r.stderr_has("--mirror snapshot=URL");
}

/// Two builds of the same lock: the same statements, byte for byte.
#[test]
#[ignore = "needs docker-registry, openssl and curl"]
fn statements_are_reproducible() {
    let t = Attesting::new();
    let a = t.build(&t.spec, "one:v1", &[], &["--attest", "--no-layer-cache"]);
    let b = t.build(&t.spec, "two:v1", &[], &["--attest", "--no-layer-cache"]);
    assert_eq!(a["digest"], b["digest"]);
    let digest = a["digest"].as_str().unwrap();
    let payloads = |repo| -> Vec<String> {
        t.envelopes(repo, digest)
            .iter()
            .map(|e| e["payload"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(payloads("one"), payloads("two"));
}

/// `verify --image` passes for the pushed image and key, and names what is wrong: another
/// key; a changed spec; `--attest` without `--sign`.
#[test]
#[ignore = "needs docker-registry, openssl and curl"]
fn verify_image_checks_signature_attestations_inputs_and_rebuild() {
    let t = Attesting::new();
    let r = t.build(&t.spec, "tool:v1", &[], &["--attest"]);
    let digest = r["digest"].as_str().unwrap();
    let ok = t.verify(&t.spec, "tool:v1", &t.key.1);
    ok.success("verify --image");
    for check in [
        "signature: ok",
        "attestations: ok",
        "provenance inputs: ok",
        "rebuild: ok",
    ] {
        ok.stdout_has(check);
    }
    ok.stdout_has(digest);
    t.verify(&t.spec, "tool:v1", &t.other_key.1)
        .fails_with("verifies with");
    let text = fs_err::read_to_string(&t.spec).unwrap();
    fs_err::write(&t.spec, format!("{text}\n# changed\n")).unwrap();
    t.verify(&t.spec, "tool:v1", &t.key.1)
        .fails_with("tool.toml` is not the file the image was built from");
    fs_err::write(&t.spec, text).unwrap();
    let mut cmd = compose();
    cmd.arg("build")
        .arg(&t.spec)
        .arg("--attest")
        .arg("--output")
        .arg(format!("oci:{}", t.env.path("x").display()));
    t.proxied(&mut cmd).fails_with("--sign");
}

/// Another image under the tag, signed and attested with the key and naming this spec and
/// lock (a build whose layer cache was poisoned with another image's layer): the signature,
/// attestations and inputs pass, and the rebuild names the layer and the file that differ.
#[test]
#[ignore = "needs docker-registry, openssl and curl"]
fn verify_image_names_the_layer_and_file_of_another_image() {
    let t = Attesting::new();
    let good = t.build(&t.spec, "tool:v1", &[], &["--attest"]);
    let other = t
        .env
        .spec("other", "[packages]\ninclude = [\"f-base-files\"]\n");
    t.lock(&other);
    let bad = t.build(&other, "other:v1", &[], &[]);
    // The tool image's layer entry in the local layer cache now holds the other's layer.
    let entries = t.env.path("cache/layers/entries");
    let entry_of = |report: &Value| -> PathBuf {
        let layer = report["layers"][0]["digest"].as_str().unwrap().to_owned();
        fs_err::read_dir(&entries)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| fs_err::read_to_string(p).unwrap().contains(&layer))
            .expect("a cache entry for the layer")
    };
    fs_err::copy(entry_of(&bad), entry_of(&good)).unwrap();
    let poisoned = t.build(&t.spec, "tool:v1", &[], &["--attest"]);
    assert_ne!(
        poisoned["digest"], good["digest"],
        "the poisoned cache was used"
    );
    let r = t.verify(&t.spec, "tool:v1", &t.key.1);
    assert_ne!(r.code, Some(0), "{}", r.stdout);
    r.stdout_has("provenance inputs: ok");
    r.stderr_has("first differing layer: #1")
        .stderr_has("first differing file");
    assert!(!r.stdout.contains("rebuild: ok"), "{}", r.stdout);
}

/// `[sbom] supplier` and the `version` annotation name the image's package in the SBOM
/// beside the output (else the `vendor` annotation and the digest); the image's bytes do
/// not depend on `[sbom]`.
#[test]
fn the_sbom_beside_the_output_names_the_image_s_version_and_supplier() {
    let env = Env::new();
    let body = "[packages]\ninclude = [\"f-base-files\", \"f-libc\"]\n";
    let image_package = |out: &str| -> Value {
        let doc = fs_err::read(env.path(&format!("{out}.latest.spdx.json"))).unwrap();
        serde_json::from_slice::<Value>(&doc).unwrap()["packages"][0].clone()
    };
    let spec = env.spec(
        "img",
        &format!("{body}[annotations]\nvendor = \"ACME Corp\"\n"),
    );
    let plain = env.build(&spec, "plain", &[]).digest();
    let p = image_package("plain");
    assert_eq!(p["supplier"], "Organization: ACME Corp");
    assert_eq!(p["versionInfo"].as_str(), Some(plain.as_str()));
    let spec = env.spec(
        "img",
        &format!(
            "{body}[annotations]\nvendor = \"ACME Corp\"\n[sbom]\nsupplier = \"Person: Jane Doe\"\n"
        ),
    );
    let with = env
        .build(&spec, "with", &["--annotation", "version=2.0"])
        .digest();
    let p = image_package("with");
    assert_eq!(p["supplier"], "Person: Jane Doe");
    assert_eq!(p["versionInfo"], "2.0");
    let again = env.build(&spec, "again", &[]).digest();
    assert_ne!(with, plain, "the version annotation is in the manifest");
    assert_eq!(again, plain, "`[sbom]` changes no byte of the image");
}

/// Two platforms: the tag is an index, pulled with both manifests, and verified.
#[test]
#[ignore = "needs docker-registry, openssl and curl"]
fn verify_image_pulls_an_index_of_platforms() {
    let t = Attesting::new();
    let spec = t.env.spec_top(
        "multi",
        "platforms = [\"linux/amd64\", \"linux/arm64\"]",
        "[packages]\ninclude = [\"f-base-files\", \"f-libc\"]\n",
    );
    t.lock(&spec);
    let r = t.build(&spec, "multi:v1", &[], &["--attest"]);
    assert_eq!(r["platforms"].as_array().map(Vec::len), Some(2), "{r}");
    t.verify(&spec, "multi:v1", &t.key.1)
        .success("verify --image of an index")
        .stdout_has("rebuild: ok")
        .stdout_has(r["digest"].as_str().unwrap());
}

/// A registry that serves a layer whose bytes are not its digest: the pull refuses it
/// before anything else is looked at.
#[test]
#[ignore = "needs docker-registry, openssl and curl"]
fn verify_image_refuses_a_layer_that_is_not_its_digest() {
    let t = Attesting::new();
    let r = t.build(&t.spec, "tool:v1", &[], &["--attest"]);
    let layer = r["layers"][0]["digest"].as_str().unwrap();
    let hex = &layer["sha256:".len()..];
    let data = t.registry.storage().join(format!(
        "docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ));
    let mut bytes = fs_err::read(&data).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs_err::write(&data, bytes).unwrap();
    t.verify(&t.spec, "tool:v1", &t.key.1).fails_with(&format!(
        "blob {layer} from `{}/tool` is not what its descriptor says",
        t.registry.addr()
    ));
}

/// The image and its signatures and attestations copied as they are into another
/// repository (skopeo, not compose): the signature names the first repository, so it does
/// not count there.
#[test]
#[ignore = "needs docker-registry, openssl, curl and skopeo"]
fn a_signature_copied_to_another_repository_does_not_count() {
    require(&["skopeo"]);
    let t = Attesting::new();
    let r = t.build(&t.spec, "tool:v1", &[], &["--attest"]);
    let hex = &r["digest"].as_str().unwrap()["sha256:".len()..];
    for tag in [
        "v1".to_owned(),
        format!("sha256-{hex}.sig"),
        format!("sha256-{hex}.att"),
    ] {
        tool(
            "skopeo",
            &[
                "copy",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                "--preserve-digests",
                &format!("docker://{}", t.image(&format!("tool:{tag}"))),
                &format!("docker://{}", t.image(&format!("copy:{tag}"))),
            ],
        );
    }
    t.verify(&t.spec, "copy:v1", &t.key.1).fails_with(&format!(
        "a signature names the repository `{}/tool`",
        t.registry.addr()
    ));
}

/// `[[files]]` (issue 16): the provenance names each file by its image path and sha256
/// (its source as written), the SBOMs list it with SHA1 and SHA256, still valid SPDX.
#[test]
#[ignore = "needs docker-registry, openssl, curl, ntia-checker and pyspdxtools"]
fn attested_files_are_in_the_provenance_and_the_sbom() {
    require(&["ntia-checker", "pyspdxtools"]);
    let t = Attesting::new();
    fs_err::write(t.env.path("app.conf"), b"a = 1\n").unwrap();
    let text = fs_err::read_to_string(&t.spec).unwrap();
    let files = "\n[[files]]\npath = \"/etc/app.conf\"\nsource = \"app.conf\"\n";
    fs_err::write(&t.spec, format!("{text}{files}")).unwrap();
    t.lock(&t.spec);
    let layout = t.env.path("out");
    let r = t.build(
        &t.spec,
        "tool:v1",
        &[format!("oci:{}", layout.display())],
        &["--attest"],
    );
    let envelopes = t.envelopes("tool", r["digest"].as_str().unwrap());
    let provenance = statement_of(&envelopes, "https://slsa.dev/provenance/v1");
    let deps = provenance["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    let file = deps.iter().find(|d| d["name"] == "/etc/app.conf").unwrap();
    assert_eq!(file["digest"]["sha256"], sha256_hex(b"a = 1\n"));
    assert_eq!(file["annotations"]["source"], "app.conf");
    let sbom = statement_of(&envelopes, "https://spdx.dev/Document");
    assert_eq!(sbom["predicate"]["files"][0]["fileName"], "./etc/app.conf");
    assert_both_sboms_standard(&t.env, &sbom);
    t.verify(&t.spec, "tool:v1", &t.key.1)
        .success("compose verify --image");
}
