//! Pushing the family to a real registry (`docker-registry`) and reading it back with
//! skopeo: one scenario, in steps, because each step builds on what the registry holds.

use std::path::Path;
use std::process::Command;

use sha2::Digest as _;

use super::{family, shared_cache};
use crate::harness::{compose, read_manifest, require, run};
use crate::support::registry::Registry;

/// `skopeo inspect --raw` of `target`: the manifest or index bytes it serves.
fn raw(target: &str) -> Vec<u8> {
    let o = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", target])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

/// Issue 5: python3 for amd64 and arm64 in one command, pushed to a real registry and
/// written as a layout and an OCI archive; read back by skopeo with the same digest; the
/// arm64 half really is aarch64; a second image of the family reuses the pushed layers.
#[test]
#[ignore = "needs the Debian archive, skopeo, docker-registry and container-structure-test (end to end)"]
fn multiarch_python3_is_pushed_and_archived() {
    require(&["skopeo", "docker-registry", "container-structure-test"]);
    let f = family();
    let registry = Registry::start(None);
    let host = registry.addr();
    let layout = f.work.join("python3-multi");
    let archive = f.work.join("python3-multi.oci.tar");
    let report = run(compose()
        .arg("build")
        .arg(f.specs.join("python3.toml"))
        .args(["--platform", "linux/amd64,linux/arm64", "--json"])
        .args(["--annotation", "source=https://example.invalid/compose"])
        .arg("--output")
        .arg(format!("docker://{host}/python3:latest"))
        .arg("--output")
        .arg(format!("oci:{}:latest", layout.display()))
        .arg("--output")
        .arg(format!("oci-archive:{}:latest", archive.display()))
        .arg("--cache-dir")
        .arg(shared_cache()))
    .json();
    let digest = report["digest"].as_str().unwrap();
    assert_eq!(report["pushes"][0]["digest"].as_str(), Some(digest));
    let index = the_index_is_the_same_in_the_registry_and_the_archive(&host, &archive, digest);
    skopeo_copies_every_platform_and_keeps_the_digest(&host, digest);
    the_halves_are_their_platforms(&layout, &index);
    a_single_platform_push_uploads_nothing_new(&host);
    a_parent_push_uploads_only_its_config(&host, &registry);
}

/// skopeo reads the index from the registry and from the archive: the same bytes, with the
/// annotations and the two platforms.
fn the_index_is_the_same_in_the_registry_and_the_archive(
    host: &str,
    archive: &Path,
    digest: &str,
) -> serde_json::Value {
    let index_bytes = raw(&format!("docker://{host}/python3:latest"));
    assert_eq!(sha(&index_bytes), digest, "the registry serves our index");
    assert_eq!(
        sha(&raw(&format!("oci-archive:{}:latest", archive.display()))),
        digest
    );
    let index: serde_json::Value = serde_json::from_slice(&index_bytes).unwrap();
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let annotations = &index["annotations"];
    assert_eq!(annotations["org.opencontainers.image.title"], "python3");
    assert_eq!(
        annotations["org.opencontainers.image.source"],
        "https://example.invalid/compose"
    );
    assert!(
        annotations["org.opencontainers.image.description"]
            .as_str()
            .is_some_and(|d| d.contains("Python 3.13"))
    );
    let platforms: Vec<(&str, Option<&str>)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["platform"]["architecture"].as_str().unwrap(),
                m["platform"]["variant"].as_str(),
            )
        })
        .collect();
    assert_eq!(platforms, [("amd64", None), ("arm64", Some("v8"))]);
    index
}

/// skopeo copies every platform out of the registry and keeps the digest.
fn skopeo_copies_every_platform_and_keeps_the_digest(host: &str, digest: &str) {
    let copied = family().work.join("python3-copied");
    let o = Command::new("skopeo")
        .args(["copy", "--all", "--src-tls-verify=false"])
        .arg(format!("docker://{host}/python3:latest"))
        .arg(format!("oci:{}:latest", copied.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let copied_index: serde_json::Value =
        serde_json::from_slice(&fs_err::read(copied.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        copied_index["manifests"][0]["digest"].as_str(),
        Some(digest)
    );
}

/// The amd64 half has the single-platform build's layers; the arm64 half is aarch64.
fn the_halves_are_their_platforms(layout: &Path, index: &serde_json::Value) {
    let amd64 = read_manifest(layout, index["manifests"][0]["digest"].as_str().unwrap());
    assert_eq!(
        amd64.layer_digests,
        family().images["python3"].image.layer_digests
    );
    let arm64 = read_manifest(layout, index["manifests"][1]["digest"].as_str().unwrap());
    assert_eq!(arm64.config["architecture"], "arm64");
    assert_eq!(arm64.config["variant"], "v8");
    let python = &arm64.merged()["usr/bin/python3.13"].data;
    assert_eq!(&python[..4], b"\x7fELF");
    assert_eq!(
        u16::from_le_bytes([python[18], python[19]]),
        183,
        "e_machine is EM_AARCH64"
    );
    let amd64_python = &amd64.merged()["usr/bin/python3.13"].data;
    assert_eq!(u16::from_le_bytes([amd64_python[18], amd64_python[19]]), 62);
}

/// The single-platform python3 of the family, pushed to another tag: its config and layers
/// are the amd64 half's, so nothing is uploaded; the registry serves our digest. It also
/// goes to an OCI archive, checked by container-structure-test (through skopeo's conversion
/// to the docker archive CST reads).
fn a_single_platform_push_uploads_nothing_new(host: &str) {
    let f = family();
    let single_archive = f.work.join("python3-single.oci.tar");
    let single = run(compose()
        .arg("build")
        .arg(f.specs.join("python3.toml"))
        .arg("--json")
        .arg("--output")
        .arg(format!("docker://{host}/python3:amd64"))
        .arg("--output")
        .arg(format!("oci-archive:{}", single_archive.display()))
        .arg("--cache-dir")
        .arg(shared_cache()))
    .json();
    assert_eq!(single["digest"], f.images["python3"].report["digest"]);
    let p = &single["pushes"][0];
    assert_eq!(
        (p["uploaded"].as_u64(), p["existing"].as_u64()),
        (Some(0), Some(6)),
        "{p}"
    );
    assert_eq!(
        sha(&raw(&format!("docker://{host}/python3:amd64"))),
        single["digest"].as_str().unwrap()
    );
    structure_test_of_an_oci_archive(&single_archive);
}

fn structure_test_of_an_oci_archive(archive: &Path) {
    let f = family();
    let converted = f.work.join("python3-single.docker.tar");
    let o = Command::new("skopeo")
        .arg("copy")
        .arg(format!("oci-archive:{}", archive.display()))
        .arg(format!(
            "docker-archive:{}:compose-e2e/converted:test",
            converted.display()
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cfg = f.work.join("python3-single.cst.yaml");
    fs_err::write(
        &cfg,
        "schemaVersion: '2.0.0'\nfileExistenceTests:\n- name: 'python'\n  path: '/usr/bin/python3.13'\n  shouldExist: true\n  permissions: '-rwxr-xr-x'\n- name: 'no shell'\n  path: '/bin/sh'\n  shouldExist: false\nmetadataTest:\n  user: '0'\n  workdir: '/'\n  entrypoint: ['/usr/bin/python3.13']\n",
    )
    .unwrap();
    let o = Command::new("container-structure-test")
        .args(["test", "--driver", "tar", "--image"])
        .arg(&converted)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "container-structure-test on the OCI archive:\n{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// cc is python3's parent: pushing it uploads only its config; the layers are mounted from
/// the python3 repository (or already there), never uploaded again.
fn a_parent_push_uploads_only_its_config(host: &str, registry: &Registry) {
    let f = family();
    let cc = run(compose()
        .arg("build")
        .arg(f.specs.join("cc.toml"))
        .arg("--json")
        .arg("--output")
        .arg(format!("docker://{host}/cc:latest"))
        .arg("--cache-dir")
        .arg(shared_cache()))
    .json();
    let p = &cc["pushes"][0];
    assert_eq!(p["uploaded"].as_u64(), Some(1), "{p}");
    assert_eq!(
        p["mounted"].as_u64().unwrap() + p["existing"].as_u64().unwrap(),
        4,
        "{p}"
    );
    assert_eq!(
        registry.blob_upload_puts("cc"),
        1,
        "only the config went up"
    );
    assert_eq!(cc["digest"], f.images["cc"].report["digest"]);
}
