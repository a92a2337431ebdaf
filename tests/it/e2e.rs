//! End to end against the real Debian archive through the machine's configured mirror.
//! Every image of the family is built once (`family()`), then checked many ways: structure
//! (our own reader and container-structure-test), SBOM (pyspdxtools), running it for real as
//! uid 65532 under umoci + runc and, where an engine runs, `docker load` + `docker run`.
//!
//! Slow and networked: runs only with `COMPOSE_E2E=1` (set by `cargo xtask test`), and says
//! so when skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use sha2::Digest as _;

use crate::harness::{
    Image, PLATFORMS, PlatformFacts, assert_platform, compose, elf_machine, have,
    read_index_images, repo_root, run,
};

pub(crate) fn enabled() -> bool {
    if std::env::var_os("COMPOSE_E2E").is_some_and(|v| v == "1") {
        return true;
    }
    eprintln!(
        "SKIPPED: end-to-end test against the Debian archive (set COMPOSE_E2E=1 or run `cargo xtask test`)"
    );
    false
}

fn require(tools: &[&str]) {
    let missing: Vec<_> = tools.iter().filter(|t| !have(t)).collect();
    assert!(
        missing.is_empty(),
        "missing tools {missing:?}: run `cargo xtask test` (it installs them as root on Debian)"
    );
}

/// A cache shared by the end-to-end runs of one checkout, so reruns are fast.
pub(crate) fn shared_cache() -> PathBuf {
    repo_root().join("target/e2e-cache")
}

/// One built image.
struct Built {
    /// `oci:` layout directory.
    layout: PathBuf,
    tag: String,
    digest: String,
    report: serde_json::Value,
    image: Image,
}

struct Family {
    _dir: tempfile::TempDir,
    work: PathBuf,
    /// A copy of `specs/*.toml` without the committed locks: the end-to-end tests resolve
    /// against today's archive, so a lock made stale by a security update cannot break them.
    specs: PathBuf,
    images: BTreeMap<String, Built>,
}

/// (key, spec, variant)
const IMAGES: &[(&str, &str, &str)] = &[
    ("static", "static", "latest"),
    ("base-nossl", "base-nossl", "latest"),
    ("base", "base", "latest"),
    ("cc", "cc", "latest"),
    ("python3", "python3", "latest"),
    ("python3-debug", "python3", "debug"),
    ("python3-debian12", "python3-debian12", "latest"),
    ("java21", "java21", "latest"),
    ("java17", "java17", "latest"),
    ("java21-debug-nonroot", "java21", "debug-nonroot"),
    ("java11", "java11", "nonroot"),
    ("nodejs", "nodejs", "latest"),
];

fn family() -> &'static Family {
    static FAMILY: OnceLock<Family> = OnceLock::new();
    FAMILY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().to_path_buf();
        let specs = work.join("specs");
        fs_err::create_dir_all(&specs).unwrap();
        for e in fs_err::read_dir(repo_root().join("specs")).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                fs_err::copy(&p, specs.join(p.file_name().unwrap())).unwrap();
            }
        }
        let mut images = BTreeMap::new();
        for (key, spec, variant) in IMAGES {
            let layout = work.join("out").join(spec);
            let r = run(compose()
                .current_dir(repo_root())
                .arg("build")
                .arg(specs.join(format!("{spec}.toml")))
                .arg("--variant")
                .arg(variant)
                .arg("--json")
                .arg("--output")
                .arg(format!("oci:{}:{variant}", layout.display()))
                .arg("--output")
                .arg(format!(
                    "docker-archive:{}:compose-e2e/{key}:test",
                    work.join(format!("{key}.docker.tar")).display()
                ))
                .arg("--cache-dir")
                .arg(shared_cache()));
            assert_eq!(r.code, Some(0), "building {key} failed:\n{}", r.stderr);
            let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            let digest = report["digest"].as_str().unwrap().to_owned();
            let image = crate::harness::read_image_tag(&layout, variant);
            assert_eq!(image.manifest_digest, digest);
            images.insert(
                (*key).to_owned(),
                Built {
                    layout,
                    tag: (*variant).to_owned(),
                    digest,
                    report,
                    image,
                },
            );
        }
        Family {
            _dir: dir,
            work,
            specs,
            images,
        }
    })
}

fn text(img: &Image, path: &str) -> String {
    let fs = img.merged();
    let e = fs.get(path).unwrap_or_else(|| panic!("{path} missing"));
    String::from_utf8_lossy(&e.data).into_owned()
}

/// Unpack with umoci and run `args` with runc as `uid`; extra files are copied into the
/// rootfs first. Returns (exit code, stdout, stderr).
fn runc(
    b: &Built,
    name: &str,
    uid: u32,
    args: &[&str],
    files: &[(&Path, &str)],
) -> (i32, String, String) {
    static LOCK: Mutex<()> = Mutex::new(());
    let fam = family();
    let bundle = fam.work.join(format!("bundle-{name}"));
    let _ = fs_err::remove_dir_all(&bundle);
    let st = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{}", b.layout.display(), b.tag))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "umoci unpack: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    for (from, to) in files {
        let dest = bundle.join("rootfs").join(to.trim_start_matches('/'));
        fs_err::create_dir_all(dest.parent().unwrap()).unwrap();
        fs_err::copy(from, &dest).unwrap();
    }
    let cfg_path = bundle.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&fs_err::read(&cfg_path).unwrap()).unwrap();
    cfg["process"]["terminal"] = false.into();
    cfg["process"]["args"] = args.iter().map(|a| serde_json::Value::from(*a)).collect();
    cfg["process"]["user"] = serde_json::json!({"uid": uid, "gid": uid});
    fs_err::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new("runc")
        .arg("run")
        .arg("--bundle")
        .arg(&bundle)
        .arg(format!("compose-e2e-{name}-{}", std::process::id()))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The image as compose wrote it with `docker-archive:FILE:compose-e2e/KEY:test`.
fn docker_archive(key: &str) -> PathBuf {
    family().work.join(format!("{key}.docker.tar"))
}

fn docker_available() -> bool {
    let ok = have("docker")
        && Command::new("docker")
            .arg("info")
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: docker checks (no Docker engine answers `docker info`)");
    }
    ok
}

/// `docker load` the image as `compose-e2e/KEY:test`.
fn docker_load(key: &str) {
    let archive = docker_archive(key);
    let load = Command::new("docker")
        .arg("load")
        .arg("-i")
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        load.status.success(),
        "docker load: {}",
        String::from_utf8_lossy(&load.stderr)
    );
}

/// `docker load` the image and `docker run --user 65532` it.
fn docker_run(key: &str, args: &[&str], volume: Option<&Path>) -> (i32, String, String) {
    docker_load(key);
    let mut cmd = Command::new("docker");
    cmd.args(["run", "--rm", "--network", "none", "--user", "65532"]);
    if let Some(v) = volume {
        cmd.arg("-v").arg(format!("{}:/app:ro", v.display()));
    }
    cmd.arg(format!("compose-e2e/{key}:test")).args(args);
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const PY_CHECK: &str = r#"
import os, sys, ssl, sqlite3, json, zlib, lzma, bz2, ctypes, hashlib, decimal, uuid, locale, pkgutil, importlib
assert os.getuid() == 65532, os.getuid()
assert sys.getfilesystemencoding() == 'utf-8', sys.getfilesystemencoding()
assert locale.getpreferredencoding().lower() == 'utf-8', locale.getpreferredencoding()
assert sys.stdout.encoding == 'utf-8', sys.stdout.encoding
ctx = ssl.create_default_context()
assert ctx.cert_store_stats()['x509_ca'] > 100, ctx.cert_store_stats()
# Every module of the standard library that the image ships, as the distroless tests do.
skip = {'antigravity', 'this', 'idlelib', 'tkinter', 'turtle', 'turtledemo', 'ensurepip', 'venv', '__main__', 'pydoc_data',
        '_ios_support', '_distutils_system_mod'}  # need macOS, or Debian's distutils shim
failed = []
count = 0
for m in pkgutil.iter_modules():
    if m.name in skip or m.name.startswith('test') or m.name.startswith('_test'):
        continue
    try:
        importlib.import_module(m.name)
        count += 1
    except Exception as e:
        failed.append((m.name, repr(e)))
assert not failed, failed
print('python-ok', count, sys.version_info[:2])
"#;

#[test]
fn family_builds_shares_layers_and_has_its_structure() {
    if !enabled() {
        return;
    }
    let f = family();
    let img = |k: &str| &f.images[k].image;
    // Layer sharing along the chains.
    assert_eq!(img("static").layers.len(), 1);
    assert_eq!(
        img("python3").layers.len(),
        5,
        "static, base-nossl, base, cc, python3"
    );
    for (upper, lower) in [
        ("base-nossl", "static"),
        ("base", "base-nossl"),
        ("cc", "base"),
        ("python3", "cc"),
        ("nodejs", "cc"),
    ] {
        let n = img(lower).layer_digests.len();
        assert_eq!(
            img(upper).layer_digests[..n],
            img(lower).layer_digests[..],
            "{upper} shares {lower}'s layers"
        );
    }
    assert_eq!(
        img("python3-debug").layer_digests[..5],
        img("python3").layer_digests[..],
        "debug adds a layer on top"
    );
    assert_eq!(
        img("java21").layer_digests[..2],
        img("base-nossl").layer_digests[..]
    );

    for (key, b) in &f.images {
        let fs = b.image.merged();
        let debug = key.contains("debug");
        // Accounts and directories as distroless has them.
        assert!(
            text(&b.image, "etc/passwd")
                .contains("nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin"),
            "{key}"
        );
        // distroless's order (its tests compare the whole file).
        assert_eq!(
            text(&b.image, "etc/group"),
            "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n",
            "{key}"
        );
        assert_eq!(fs["tmp"].mode, 0o1777, "{key}");
        assert_eq!(
            (fs["home/nonroot"].uid, fs["home/nonroot"].mode),
            (65532, 0o700),
            "{key}"
        );
        // os-release as distroless writes it, with the release the image carries.
        let release = match key.as_str() {
            "java11" => "11 (bullseye)",
            "java17" | "java17-debug-nonroot" | "python3-debian12" => "12 (bookworm)",
            _ => "13 (trixie)",
        };
        let os_release = text(&b.image, "usr/lib/os-release");
        let number = release.split(' ').next().unwrap();
        assert!(
            os_release.starts_with(&format!(
                "PRETTY_NAME=\"Distroless\"\nNAME=\"Debian GNU/Linux\"\nID=\"debian\"\nVERSION_ID=\"{number}\"\nVERSION=\"Debian GNU/Linux {release}\"\n"
            )),
            "{key}: {os_release}"
        );
        // A layer carries a directory of a lower layer only as the lower layer has it.
        let mut below: BTreeMap<&str, &crate::harness::TarEntry> = BTreeMap::new();
        for layer in &b.image.layers {
            for (path, e) in layer {
                if let Some(l) = below.get(path.as_str())
                    && l.kind == tar::EntryType::Directory
                {
                    assert_eq!(
                        (e.kind, e.mode, e.uid, e.gid, e.mtime),
                        (l.kind, l.mode, l.uid, l.gid, l.mtime),
                        "{key}: /{path} re-written by an upper layer"
                    );
                }
            }
            below.extend(layer.iter().map(|(p, e)| (p.as_str(), e)));
        }
        // A partial package keeps its copyright (the C.UTF-8 locale of libc-bin).
        if fs.contains_key("var/lib/dpkg/status.d/libc-bin") {
            assert!(
                fs.contains_key("usr/share/doc/libc-bin/copyright"),
                "{key}: libc-bin's copyright"
            );
        }
        assert_eq!(
            fs["etc/os-release"].link.as_deref(),
            Some("../usr/lib/os-release"),
            "{key}"
        );
        assert!(text(&b.image, "etc/nsswitch.conf").contains("hosts:          files dns"));
        assert!(
            text(&b.image, "etc/ssl/certs/ca-certificates.crt")
                .matches("BEGIN CERTIFICATE")
                .count()
                > 100,
            "{key}"
        );
        assert!(
            fs.contains_key("etc/services") && fs.contains_key("usr/share/zoneinfo/UTC"),
            "{key}"
        );
        // Scanners see every package, with md5sums; derived files are attributed.
        for p in b.report["packages"].as_array().unwrap() {
            let name = p["name"].as_str().unwrap();
            let stanza = text(&b.image, &format!("var/lib/dpkg/status.d/{name}"));
            assert!(
                stanza.contains(&format!("Package: {name}\n")),
                "{key}: {name}"
            );
        }
        assert!(
            text(&b.image, "var/lib/dpkg/status.d/ca-certificates.md5sums")
                .contains("etc/ssl/certs/ca-certificates.crt")
        );
        assert!(
            !fs.contains_key("var/lib/dpkg/status"),
            "distroless has only status.d"
        );
        // No shell outside debug images; a busybox shell in them.
        assert!(
            !(fs.contains_key("usr/bin/sh")
                || fs.contains_key("usr/bin/bash")
                || fs.contains_key("usr/bin/dash")),
            "{key} has a shell"
        );
        if debug {
            assert!(
                fs.contains_key("busybox/sh") && fs.contains_key("usr/bin/busybox"),
                "{key}"
            );
            // Issue 12: a runtime's debug image starts the runtime, as distroless's do.
            let starts = &b.image.config["config"]["Entrypoint"];
            if key.starts_with("python3") {
                assert_eq!(starts, &serde_json::json!(["/usr/bin/python3.13"]), "{key}");
            } else if key.starts_with("java") {
                assert_eq!(
                    starts,
                    &serde_json::json!(["/usr/bin/java", "-jar"]),
                    "{key}"
                );
            } else {
                assert_eq!(starts, &serde_json::json!(["/busybox/sh"]), "{key}");
            }
        } else {
            assert!(!fs.keys().any(|k| k.starts_with("busybox")), "{key}");
        }
        // Config.
        let cfg = &b.image.config["config"];
        let env: Vec<&str> = cfg["Env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            env.iter().any(|e| e.starts_with("PATH=/usr/local/sbin")),
            "{key}"
        );
        assert!(
            env.contains(&"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"),
            "{key}"
        );
        if debug {
            assert!(
                env.iter()
                    .any(|e| e.starts_with("PATH=") && e.ends_with(":/busybox")),
                "{key}"
            );
        }
        // Issue 12: the variant decides the user, whatever the image (python3 and nodejs
        // included): root for latest and debug, 65532 for the nonroot ones.
        let nonroot = key.contains("nonroot") || key == "java11";
        let (user, workdir) = if nonroot {
            ("65532", "/home/nonroot")
        } else {
            ("0", "/")
        };
        assert_eq!(cfg["User"], user, "{key}");
        assert_eq!(cfg["WorkingDir"], workdir, "{key}");
        if key.starts_with("java") {
            // The full version (`21.0.9`), compared with `java -version` in
            // `java_images_run_and_trust_the_ca_bundle`.
            let version = key.trim_start_matches("java").split('-').next().unwrap();
            let java_version = env
                .iter()
                .find_map(|e| e.strip_prefix("JAVA_VERSION="))
                .unwrap_or_else(|| panic!("{key}: no JAVA_VERSION"));
            assert!(
                java_version.starts_with(&format!("{version}."))
                    && java_version.split('.').all(|n| n.parse::<u32>().is_ok()),
                "{key}: JAVA_VERSION={java_version}"
            );
            assert!(env.contains(&"LANG=C.UTF-8"), "{key}");
            assert!(
                fs.keys()
                    .any(|k| k.starts_with("usr/lib/locale/C.") && k.ends_with("LC_CTYPE")),
                "{key}: C.UTF-8 locale"
            );
            assert!(
                fs.keys()
                    .any(|k| k.starts_with("usr/share/fonts/truetype/dejavu/")),
                "{key}: fonts"
            );
            assert!(
                fs.contains_key("usr/bin/java")
                    && fs["usr/bin/java"].kind == tar::EntryType::Symlink,
                "{key}"
            );
            assert_eq!(
                cfg["Entrypoint"],
                serde_json::json!(["/usr/bin/java", "-jar"]),
                "{key}"
            );
            // Debug images carry the JDK (`[debug] include`), the others no compiler.
            assert_eq!(
                fs.keys().any(|k| k.ends_with("/bin/javac")),
                debug,
                "{key}: javac"
            );
            let ks = &fs["etc/ssl/certs/java/cacerts"].data;
            assert_eq!(&ks[..4], &[0xFE, 0xED, 0xFE, 0xED], "{key}: JKS magic");
        }
        if key.starts_with("python3") {
            let python = if key == "python3-debian12" {
                "python3.11"
            } else {
                "python3.13"
            };
            assert_eq!(fs["usr/bin/python3"].link.as_deref(), Some(python));
            assert!(!fs.keys().any(|k| k.ends_with(".pyc")), "no .pyc files");
        }
        // The SBOM inside the image covers every level.
        let sboms = fs
            .keys()
            .filter(|k| k.starts_with("usr/share/sbom/") && k.ends_with(".spdx.json"))
            .count();
        assert_eq!(sboms, b.image.layers.len(), "{key}: one SBOM per layer");
    }
}

/// container-structure-test on a docker-archive of each image (its `tar` driver).
#[test]
fn family_passes_container_structure_test() {
    if !enabled() {
        return;
    }
    require(&["skopeo", "container-structure-test"]);
    let f = family();
    // Every kind of image once (our own reader checks every image above); the Java images
    // share their structure, and CST's tar driver unpacks 200 MB per Java image.
    for key in [
        "static",
        "base-nossl",
        "base",
        "cc",
        "python3",
        "python3-debug",
        "nodejs",
        "java17",
        "java21-debug-nonroot",
    ] {
        let b = &f.images[key];
        let debug = key.contains("debug");
        let archive = docker_archive(key);
        let mut yaml = String::from("schemaVersion: '2.0.0'\nfileExistenceTests:\n");
        let exist = |name: &str, path: &str, should: bool, extra: &str| {
            format!("- name: '{name}'\n  path: '{path}'\n  shouldExist: {should}\n{extra}")
        };
        yaml += &exist("tmp", "/tmp", true, "  permissions: 'dtrwxrwxrwx'\n");
        // Ownership is checked on our own reading of the layers: CST's tar driver cannot.
        yaml += &exist(
            "home",
            "/home/nonroot",
            true,
            "  permissions: 'drwx------'\n",
        );
        yaml += &exist("root home", "/root", true, "  permissions: 'drwx------'\n");
        yaml += &exist("ca bundle", "/etc/ssl/certs/ca-certificates.crt", true, "");
        yaml += &exist("os-release", "/etc/os-release", true, "");
        yaml += &exist("libc status", "/var/lib/dpkg/status.d/base-files", true, "");
        yaml += &exist("no shell", "/bin/sh", false, "");
        yaml += &exist("busybox shell", "/busybox/sh", debug, "");
        yaml += &exist("no dpkg status", "/var/lib/dpkg/status", false, "");
        yaml += "fileContentTests:\n";
        yaml += "- name: 'passwd'\n  path: '/etc/passwd'\n  expectedContents: ['root:x:0:0:root:/root:/sbin/nologin\\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\\n']\n";
        // As distroless's own tests (base/testdata/base.yaml, static/testdata/debian13.yaml).
        yaml += "- name: 'group'\n  path: '/etc/group'\n  expectedContents: ['^root:x:0:\\nnobody:x:65534:\\ntty:x:5:\\nstaff:x:50:\\nnonroot:x:65532:\\n$']\n";
        let version = if key.starts_with("java17") {
            "12 \\(bookworm\\)"
        } else {
            "13 \\(trixie\\)"
        };
        yaml += &format!(
            "- name: 'os-release'\n  path: '/etc/os-release'\n  expectedContents: ['PRETTY_NAME=\"Distroless\"', '.*\\nVERSION=\"Debian GNU/Linux {version}\"\\n']\n"
        );
        let cfg = &b.image.config["config"];
        yaml += "metadataTest:\n  envVars:\n  - key: 'SSL_CERT_FILE'\n    value: '/etc/ssl/certs/ca-certificates.crt'\n";
        yaml += &format!("  user: '{}'\n", cfg["User"].as_str().unwrap_or(""));
        if let Some(ep) = cfg["Entrypoint"].as_array() {
            let list: Vec<String> = ep
                .iter()
                .map(|v| format!("'{}'", v.as_str().unwrap()))
                .collect();
            yaml += &format!("  entrypoint: [{}]\n", list.join(", "));
        }
        let cfg_file = f.work.join(format!("{key}.cst.yaml"));
        fs_err::write(&cfg_file, &yaml).unwrap();
        let out = Command::new("container-structure-test")
            .args(["test", "--driver", "tar", "--image"])
            .arg(&archive)
            .arg("--config")
            .arg(&cfg_file)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{key}: container-structure-test failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("Failed:   0")
                || stdout.contains("FAIL: 0")
                || !stdout.contains("FAIL"),
            "{key}: {stdout}"
        );
    }
}

#[test]
fn family_sboms_validate_and_why_explains() {
    if !enabled() {
        return;
    }
    require(&["pyspdxtools"]);
    let f = family();
    for (key, b) in &f.images {
        let path = b.report["sbom"].as_str().unwrap();
        let out = Command::new("pyspdxtools")
            .arg("-i")
            .arg(path)
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && !all.to_lowercase().contains("invalid"),
            "{key}: {all}"
        );
        let doc: serde_json::Value = serde_json::from_slice(&fs_err::read(path).unwrap()).unwrap();
        let n = b.report["packages"].as_array().unwrap().len();
        assert_eq!(
            doc["packages"].as_array().unwrap().len(),
            n + 1,
            "{key}: every package and the image"
        );
        let libc = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "libc6");
        if let Some(libc) = libc {
            let purl = libc["externalRefs"][0]["referenceLocator"]
                .as_str()
                .unwrap();
            assert!(
                purl.starts_with("pkg:deb/debian/libc6@") && purl.contains("arch=amd64"),
                "{purl}"
            );
            if !key.starts_with("java1") && !key.contains("-debian1") {
                // trixie's libc6 has a DEP-5 copyright file (bullseye's and bookworm's do not).
                assert_eq!(libc["licenseDeclared"], "LGPL-2.1-or-later", "{key}");
            }
            assert_eq!(
                libc["checksums"][0]["checksumValue"]
                    .as_str()
                    .unwrap()
                    .len(),
                64
            );
        }
    }
    // `compose why` explains a package, an excluded one and an absent one.
    let why = |pkg: &str| {
        run(compose()
            .current_dir(repo_root())
            .args(["why", "specs/python3.toml", pkg, "--cache-dir"])
            .arg(shared_cache()))
    };
    let r = why("libzstd1");
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout.contains("layer `base`") && r.stdout.contains("libzstd1 <- libssl3t64"),
        "{}",
        r.stdout
    );
    let r = why("debconf");
    assert!(
        r.stdout.contains("excluded") && r.stdout.contains("tzdata"),
        "{}",
        r.stdout
    );
    let r = why("perl-base");
    assert!(
        r.stdout.contains("no package of the image depends on it"),
        "{}",
        r.stdout
    );
}

#[test]
fn python3_runs_its_whole_stdlib_as_nonroot() {
    if !enabled() {
        return;
    }
    require(&["umoci", "runc"]);
    let b = &family().images["python3"];
    let (code, out, err) = runc(b, "py", 65532, &["/usr/bin/python3", "-c", PY_CHECK], &[]);
    assert_eq!(
        code, 0,
        "python3 check failed:\nstdout: {out}\nstderr: {err}"
    );
    assert!(out.contains("python-ok"), "{out}");
    let (code, _, _) = runc(b, "py-sh", 65532, &["/bin/sh", "-c", "true"], &[]);
    assert_ne!(code, 0, "there is no shell to run");
    if docker_available() {
        let (code, out, err) = docker_run("python3", &["-c", PY_CHECK], None);
        assert_eq!(code, 0, "docker run python3:\n{out}\n{err}");
        assert!(out.contains("python-ok"));
    }
}

/// Issue 12: Debian 12's python3 has distutils (python3-distutils and python3-lib2to3, not the
/// whole `python3` package) and its whole stdlib imports; Debian 13's has ensurepip and venv
/// (python3.13-venv, as distroless's: without pip's wheels, so `--without-pip`).
#[test]
fn python3_has_distutils_on_debian12_and_venv_on_debian13() {
    if !enabled() {
        return;
    }
    require(&["umoci", "runc"]);
    let f = family();
    let b = &f.images["python3-debian12"];
    let packages: Vec<&str> = b.report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in ["python3-distutils", "python3-lib2to3"] {
        assert!(packages.contains(&p), "{p} missing: {packages:?}");
    }
    for p in ["python3", "python3.11", "dpkg", "readline-common"] {
        assert!(!packages.contains(&p), "{p} is in python3-debian12");
    }
    let (code, out, err) = runc(
        b,
        "py12",
        65532,
        &[
            "/usr/bin/python3",
            "-c",
            "import distutils.dist, distutils.util, lib2to3.refactor; print('distutils-ok', distutils.dist.Distribution().get_name())",
        ],
        &[],
    );
    assert_eq!(
        code, 0,
        "import distutils.dist:\nstdout: {out}\nstderr: {err}"
    );
    assert!(out.contains("distutils-ok UNKNOWN"), "{out}");
    let (code, out, err) = runc(
        b,
        "py12-all",
        65532,
        &["/usr/bin/python3", "-c", PY_CHECK],
        &[],
    );
    assert_eq!(
        code, 0,
        "python3-debian12 stdlib:\nstdout: {out}\nstderr: {err}"
    );
    assert!(
        out.contains("python-ok") && out.contains("(3, 11)"),
        "{out}"
    );

    let b = &f.images["python3"];
    let venv = "import ensurepip, venv, subprocess, sys\n\
venv.create('/tmp/v', with_pip=False)\n\
out = subprocess.run(['/tmp/v/bin/python', '-c', 'import sys; print(sys.prefix)'], capture_output=True, text=True, check=True).stdout\n\
assert out.strip() == '/tmp/v', out\n\
print('venv-ok', ensurepip.__name__)";
    let (code, out, err) = runc(b, "py-venv", 65532, &["/usr/bin/python3", "-c", venv], &[]);
    assert_eq!(code, 0, "python3 venv:\nstdout: {out}\nstderr: {err}");
    assert!(out.contains("venv-ok ensurepip"), "{out}");
}

#[test]
fn java_images_run_and_trust_the_ca_bundle() {
    if !enabled() {
        return;
    }
    require(&["umoci", "runc", "javac", "keytool"]);
    let f = family();
    // A small program, compiled here for the oldest runtime.
    let src = f.work.join("java-src");
    fs_err::create_dir_all(&src).unwrap();
    fs_err::write(
        src.join("Trust.java"),
        r#"import java.security.KeyStore;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
public class Trust {
    public static void main(String[] args) throws Exception {
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init((KeyStore) null);
        int n = ((X509TrustManager) tmf.getTrustManagers()[0]).getAcceptedIssuers().length;
        java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(40, 20, java.awt.image.BufferedImage.TYPE_INT_RGB);
        java.awt.Graphics2D g = img.createGraphics();
        g.setFont(new java.awt.Font("DejaVu Sans", java.awt.Font.PLAIN, 12));
        g.drawString("héllo", 1, 15);
        System.out.println("cas=" + n + " encoding=" + System.getProperty("file.encoding") + " font=" + g.getFont().getFontName() + " user=" + System.getProperty("user.name"));
    }
}
"#,
    )
    .unwrap();
    let st = Command::new("javac")
        .args(["--release", "11", "-d"])
        .arg(&src)
        .arg(src.join("Trust.java"))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "javac: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    let class = src.join("Trust.class");
    for key in ["java21", "java17", "java11", "java21-debug-nonroot"] {
        let b = &f.images[key];
        let bundle = text(&b.image, "etc/ssl/certs/ca-certificates.crt")
            .matches("BEGIN CERTIFICATE")
            .count();
        // keytool accepts the keystore compose wrote and counts every certificate.
        let ks = f.work.join(format!("{key}.cacerts"));
        fs_err::write(&ks, &b.image.merged()["etc/ssl/certs/java/cacerts"].data).unwrap();
        let kt = Command::new("keytool")
            .args(["-list", "-storepass", "changeit", "-keystore"])
            .arg(&ks)
            .output()
            .unwrap();
        let kt_out = String::from_utf8_lossy(&kt.stdout);
        assert!(kt.status.success(), "keytool: {kt_out}");
        assert!(
            kt_out.contains(&format!("Your keystore contains {bundle} entries")),
            "{key}: {kt_out}"
        );

        let (code, out, err) = runc(
            b,
            &format!("{key}-version"),
            65532,
            &["/usr/bin/java", "-version"],
            &[],
        );
        assert_eq!(code, 0, "{key} java -version: {err}");
        let version = key.trim_start_matches("java").split('-').next().unwrap();
        assert!(
            err.contains(&format!("version \"{version}")),
            "{key}: {out}{err}"
        );
        // Issue 12: JAVA_VERSION is the version `java -version` prints (`openjdk version
        // "21.0.9"`), the one its build line starts with (`build 21.0.9+10-...`).
        let printed = err
            .split("version \"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("{key}: {err}"));
        let env: Vec<&str> = b.image.config["config"]["Env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            env.contains(&format!("JAVA_VERSION={printed}").as_str()),
            "{key}: java -version says {printed}, the config {env:?}"
        );
        assert!(err.contains(&format!("(build {printed}+")), "{key}: {err}");
        let (code, out, err) = runc(
            b,
            &format!("{key}-trust"),
            65532,
            &["/usr/bin/java", "-cp", "/app", "Trust"],
            &[(&class, "/app/Trust.class")],
        );
        assert_eq!(code, 0, "{key} Trust: {out}\n{err}");
        assert!(out.contains(&format!("cas={bundle} ")), "{key}: {out}");
        assert!(
            out.contains("encoding=UTF-8") && out.contains("font=DejaVu Sans"),
            "{key}: {out}"
        );
    }
    if docker_available() {
        docker_load("java17");
        // The entrypoint is `java -jar`: run the class path form instead.
        let load_and_run = Command::new("docker")
            .args([
                "run",
                "--rm",
                "--network",
                "none",
                "--user",
                "65532",
                "--entrypoint",
                "/usr/bin/java",
                "-v",
            ])
            .arg(format!("{}:/app:ro", src.display()))
            .args(["compose-e2e/java17:test", "-cp", "/app", "Trust"])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&load_and_run.stdout);
        assert!(
            load_and_run.status.success() && out.contains("encoding=UTF-8"),
            "docker java17: {out} {}",
            String::from_utf8_lossy(&load_and_run.stderr)
        );
    }
}

/// Issue 12: the Java debug image carries the JDK (`[debug] include`): its javac reports the
/// image's JAVA_VERSION, compiles a class in the image, and the JRE runs it.
#[test]
fn java_debug_image_compiles_with_its_jdk() {
    if !enabled() {
        return;
    }
    require(&["umoci", "runc"]);
    let f = family();
    let b = &f.images["java21-debug-nonroot"];
    let src = f.work.join("hello-src");
    fs_err::create_dir_all(&src).unwrap();
    let hello = src.join("Hello.java");
    fs_err::write(
        &hello,
        "public class Hello {\n    public static void main(String[] a) {\n        System.out.println(\"hello \" + Runtime.version().feature());\n    }\n}\n",
    )
    .unwrap();
    let java_version = b.image.config["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e.as_str().unwrap().strip_prefix("JAVA_VERSION="))
        .unwrap()
        .to_owned();
    let jdk = "/usr/lib/jvm/java-21-openjdk-amd64/bin";
    let script = format!(
        "{jdk}/javac -version && {jdk}/javac -d /tmp/out /app/Hello.java && java -cp /tmp/out Hello"
    );
    let (code, out, err) = runc(
        b,
        "javac",
        65532,
        &["/busybox/sh", "-c", &script],
        &[(&hello, "/app/Hello.java")],
    );
    assert_eq!(code, 0, "javac in the debug image: {out}\n{err}");
    assert!(out.contains(&format!("javac {java_version}\n")), "{out}");
    assert_eq!(out.lines().last(), Some("hello 21"), "{out}");
}

#[test]
fn nodejs_and_debug_shells_run() {
    if !enabled() {
        return;
    }
    require(&["umoci", "runc"]);
    let f = family();
    let js = "const c=require('crypto');console.log(c.createHash('sha256').update('x').digest('hex'), process.getuid())";
    let (code, out, err) = runc(
        &f.images["nodejs"],
        "node",
        65532,
        &["/usr/bin/node", "-e", js],
        &[],
    );
    assert_eq!(code, 0, "node: {out}\n{err}");
    assert_eq!(
        out.trim(),
        "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881 65532"
    );
    // distroless keeps node at /nodejs/bin/node: commands written for it run here too.
    let (code, out, err) = runc(
        &f.images["nodejs"],
        "node-path",
        65532,
        &["/nodejs/bin/node", "-p", "process.version"],
        &[],
    );
    assert_eq!(code, 0, "/nodejs/bin/node: {out}\n{err}");
    assert!(out.trim().starts_with('v'), "{out}");
    for key in ["python3-debug", "java21-debug-nonroot"] {
        let (code, out, err) = runc(
            &f.images[key],
            key,
            65532,
            &["/busybox/sh", "-c", "echo ok; ls /busybox | wc -l"],
            &[],
        );
        assert_eq!(code, 0, "{key}: {out}\n{err}");
        assert!(out.starts_with("ok\n"), "{key}: {out}");
    }
    if docker_available() {
        let (code, out, err) = docker_run("nodejs", &["-e", js], None);
        assert_eq!(code, 0, "docker node: {out}\n{err}");
        // The debug image starts python3 (its entrypoint), not a shell.
        let (code, out, err) = docker_run("python3-debug", &["-c", "print('ok')"], None);
        assert_eq!((code, out.trim()), (0, "ok"), "{err}");
    }
}

#[test]
fn builds_are_reproducible_across_machines_state() {
    if !enabled() {
        return;
    }
    let f = family();
    // Another (cold) cache, cwd, TZ, umask, locale and --jobs 1: same digests.
    for key in ["python3", "java17"] {
        let b = &f.images[key];
        let other = tempfile::tempdir().unwrap();
        let again = f.work.join(format!("{key}-again"));
        let r = run(compose()
            .current_dir(other.path())
            .env("TZ", "America/St_Johns")
            .env("LC_ALL", "C.UTF-8")
            .umask(0o027)
            .arg("build")
            .arg(f.specs.join(format!("{key}.toml")))
            .args(["--jobs", "1", "--output"])
            .arg(format!("oci:{}:latest", again.display()))
            .arg("--cache-dir")
            .arg(other.path().join("cache")));
        assert_eq!(
            r.digest(),
            b.digest,
            "{key}: same bytes from another cache, cwd, TZ, umask, locale and --jobs"
        );
        // skopeo reads the layout and agrees on the digest.
        let o = Command::new("skopeo")
            .arg("inspect")
            .arg(format!("oci:{}:latest", again.display()))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "skopeo: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["Digest"].as_str(), Some(b.digest.as_str()));
    }
}

/// Issue 4: a lock, then a build from it with the network really cut off (`unshare --net`)
/// and a warm cache, gives the same digest as the resolved build.
#[test]
fn locked_offline_build_without_network_reproduces_the_digest() {
    if !enabled() {
        return;
    }
    require(&["unshare"]);
    let f = family();
    let spec = f.specs.join("python3.toml");
    let r = run(compose()
        .arg("lock")
        .arg(&spec)
        .arg("--cache-dir")
        .arg(shared_cache()));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let online = run(compose()
        .args(["build", "--locked", "--cache-dir"])
        .arg(shared_cache())
        .arg("--output")
        .arg(format!("oci:{}", f.work.join("locked-online").display()))
        .arg(&spec));
    assert_eq!(
        online.digest(),
        f.images["python3"].digest,
        "the lock reproduces the resolved build"
    );
    let offline = run(compose()
        .under(&["unshare", "--net", "--"])
        .args(["build", "--locked", "--offline", "--cache-dir"])
        .arg(shared_cache())
        .arg("--output")
        .arg(format!("oci:{}", f.work.join("locked-offline").display()))
        .arg(&spec));
    assert_eq!(
        offline.digest(),
        f.images["python3"].digest,
        "no network, same bytes"
    );
    // Without the network and without `--offline` a build still fails cleanly.
    let r = run(compose()
        .under(&["unshare", "--net", "--"])
        .args(["build", "--locked", "--cache-dir"])
        .arg(f.work.join("empty-cache"))
        .arg("--output")
        .arg(format!("oci:{}", f.work.join("no-network").display()))
        .arg(&spec));
    r.fails_with("download of");
}

/// Issue 5: python3 for amd64 and arm64 in one command, pushed to a real registry and
/// written as a layout and an OCI archive; read back by skopeo with the same digest; the
/// arm64 half really is aarch64; a second image of the family reuses the pushed layers.
#[test]
fn multiarch_python3_is_pushed_and_archived() {
    if !enabled() {
        return;
    }
    require(&["skopeo", "docker-registry"]);
    let f = family();
    let registry = crate::support::registry::Registry::start(None);
    let host = registry.addr();
    let layout = f.work.join("python3-multi");
    let archive = f.work.join("python3-multi.oci.tar");
    let r = run(compose()
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
        .arg(shared_cache()));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let digest = report["digest"].as_str().unwrap();
    assert_eq!(report["pushes"][0]["digest"].as_str(), Some(digest));

    // skopeo reads the index from the registry and from the archive: the same bytes.
    let raw = |target: &str| {
        let o = Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false", target])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    let sha = |b: &[u8]| format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)));
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
    assert_eq!(
        index["annotations"]["org.opencontainers.image.title"],
        "python3"
    );
    assert_eq!(
        index["annotations"]["org.opencontainers.image.source"],
        "https://example.invalid/compose"
    );
    assert!(
        index["annotations"]["org.opencontainers.image.description"]
            .as_str()
            .is_some_and(|d| d.contains("Python 3.13"))
    );
    let platforms: Vec<(String, Option<String>)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["platform"]["architecture"].as_str().unwrap().to_owned(),
                m["platform"]["variant"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        platforms,
        [
            ("amd64".to_owned(), None),
            ("arm64".to_owned(), Some("v8".to_owned()))
        ]
    );

    // skopeo copies every platform out of the registry and keeps the digest.
    let copied = f.work.join("python3-copied");
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

    // The amd64 half has the single-platform build's layers; the arm64 half is aarch64.
    let amd64 =
        crate::harness::read_manifest(&layout, index["manifests"][0]["digest"].as_str().unwrap());
    assert_eq!(amd64.layer_digests, f.images["python3"].image.layer_digests);
    let arm64 =
        crate::harness::read_manifest(&layout, index["manifests"][1]["digest"].as_str().unwrap());
    assert_eq!(arm64.config["architecture"], "arm64");
    assert_eq!(arm64.config["variant"], "v8");
    let fs = arm64.merged();
    let python = &fs["usr/bin/python3.13"].data;
    assert_eq!(&python[..4], b"\x7fELF");
    assert_eq!(
        u16::from_le_bytes([python[18], python[19]]),
        183,
        "e_machine is EM_AARCH64"
    );
    let amd64_python = &amd64.merged()["usr/bin/python3.13"].data;
    assert_eq!(u16::from_le_bytes([amd64_python[18], amd64_python[19]]), 62);

    // The single-platform python3 of the family, pushed to another tag: its config and
    // layers are the amd64 half's, so nothing is uploaded; the registry serves our digest.
    // It also goes to an OCI archive, checked by container-structure-test (through
    // skopeo's conversion to the docker archive CST reads).
    let single_archive = f.work.join("python3-single.oci.tar");
    let r = run(compose()
        .arg("build")
        .arg(f.specs.join("python3.toml"))
        .arg("--json")
        .arg("--output")
        .arg(format!("docker://{host}/python3:amd64"))
        .arg("--output")
        .arg(format!("oci-archive:{}", single_archive.display()))
        .arg("--cache-dir")
        .arg(shared_cache()));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let single: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
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
    if have("container-structure-test") {
        let converted = f.work.join("python3-single.docker.tar");
        let o = Command::new("skopeo")
            .arg("copy")
            .arg(format!("oci-archive:{}", single_archive.display()))
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

    // cc is python3's parent: pushing it uploads only its config; the layers are mounted
    // from the python3 repository (or already there), never uploaded again.
    let r = run(compose()
        .arg("build")
        .arg(f.specs.join("cc.toml"))
        .arg("--json")
        .arg("--output")
        .arg(format!("docker://{host}/cc:latest"))
        .arg("--cache-dir")
        .arg(shared_cache()));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let cc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
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

/// Issue 5: the seeds' multi-stage workflow on our base: a Dockerfile whose final stage is
/// `FROM` the loaded python3 image with an application copied in, built by the engine and run.
#[test]
fn a_dockerfile_builds_from_the_loaded_python3_base() {
    if !enabled() || !docker_available() {
        return;
    }
    let f = family();
    docker_load("python3");
    docker_load("python3-debug");
    let ctx = f.work.join("docker-app");
    fs_err::create_dir_all(&ctx).unwrap();
    fs_err::write(
        ctx.join("app.py"),
        "import json, sys\nprint(json.dumps({'app': 'ok', 'python': sys.version_info[:2]}))\n",
    )
    .unwrap();
    // The build stage is our debug image (it has a shell); the final stage is the plain base.
    fs_err::write(
        ctx.join("Dockerfile"),
        "FROM compose-e2e/python3-debug:test AS build\nSHELL [\"/busybox/sh\", \"-c\"]\nUSER 0\nCOPY app.py /src/app.py\nRUN python3 -m py_compile /src/app.py && mkdir -p /out && cp /src/app.py /out/\n\nFROM compose-e2e/python3:test\nCOPY --from=build /out/app.py /app/app.py\nCMD [\"/app/app.py\"]\n",
    )
    .unwrap();
    let build = Command::new("docker")
        .args(["build", "-q", "-t", "compose-e2e/app:test"])
        .arg(&ctx)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "docker build: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let out = Command::new("docker")
        .args(["run", "--rm", "--network", "none", "compose-e2e/app:test"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"app": "ok", "python": [3, 13]}"#,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The application adds a few bytes to the base, nothing more.
    let size = |image: &str| -> u64 {
        let o = Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Size}}", image])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
    };
    let (base, app) = (
        size("compose-e2e/python3:test"),
        size("compose-e2e/app:test"),
    );
    eprintln!("docker images: python3 base {base} bytes, app {app} bytes");
    assert!(
        app > base && app - base < 64 * 1024,
        "base {base}, app {app}"
    );
}

/// Why a failed build is the mirror's fault and which Debian architecture it hit: an index or
/// a `.deb` the mirror does not have, or has other bytes of than the signed lists say (a
/// mirror mid-sync or a stale cache in front of it; on 2026-11-25 this machine's mirror
/// served old trixie-security indexes for armhf, ppc64el, riscv64 and s390x). Anything else,
/// or a defect compose could not name the architecture of, is compose's.
fn mirror_defect(stderr: &str) -> Option<(String, String)> {
    let first = stderr.lines().find_map(|l| l.strip_prefix("error: "))?;
    let fault = first.starts_with("no copy of `")
        || first.starts_with("the mirror has no copy of `")
        || first.contains("` not found (HTTP 404)")
        || first.contains("bytes, but the signed index lists")
        || first.starts_with("sha256 mismatch for `");
    if !fault {
        return None;
    }
    let url = first.split('`').nth(1)?;
    let arch = if let Some((_, rest)) = url.split_once("/binary-") {
        rest.split('/').next()?
    } else {
        let file = url.strip_suffix(".deb")?;
        file.rsplit('_').next()?
    };
    Some((arch.to_owned(), first.to_owned()))
}

/// What `mirror_defect` takes for the mirror's fault, and what it leaves to compose.
#[test]
fn mirror_defects_are_told_from_compose_failures() {
    let stale = "warning: `x.lock` is stale\nerror: no copy of `http://m/debian-security/dists/trixie-security/main/binary-ppc64el/Packages` on the mirror matches its signed release file:\n  `http://m/...` not found (HTTP 404)\n";
    assert_eq!(mirror_defect(stale).unwrap().0, "ppc64el");
    let missing = "error: the mirror has no copy of `http://m/debian/dists/trixie/main/binary-s390x/Packages`, which its signed release file lists:\n";
    assert_eq!(mirror_defect(missing).unwrap().0, "s390x");
    let deb = "error: `http://m/debian/pool/main/g/glibc/libc6_2.41-12+deb13u5_riscv64.deb` not found (HTTP 404)\n";
    assert_eq!(mirror_defect(deb).unwrap().0, "riscv64");
    let size = "error: `http://m/debian/pool/main/p/python3.13/python3.13_3.13.5-2_armhf.deb` is 10 bytes, but the signed index lists 20\n";
    assert_eq!(mirror_defect(size).unwrap().0, "armhf");
    for ours in [
        "error: cannot resolve the packages of `python3`: no package `python3.13` for armhf\n",
        "error: `/x/usr/bin/python3` conflicts with `/y`\n",
        "thread 'main' panicked at src/pipeline.rs:1:1\n",
    ] {
        assert_eq!(mirror_defect(ours), None, "{ours}");
    }
}

/// A spec built for every platform of `platforms` in one run, as `oci:DIR:latest`. A platform
/// the mirror cannot serve (`mirror_defect`) is left out and the build run again without it;
/// what was left out, and why, comes back for the caller to report as skipped.
struct MultiBuild {
    built: Vec<&'static PlatformFacts>,
    images: Vec<(serde_json::Value, Image)>,
    skipped: Vec<String>,
}

fn build_every_platform(
    specs: &Path,
    spec: &str,
    work: &Path,
    platforms: &[&'static PlatformFacts],
) -> MultiBuild {
    let layout = work.join(format!("{spec}-all"));
    let mut built = platforms.to_vec();
    let mut skipped = Vec::new();
    loop {
        let names: Vec<&str> = built.iter().map(|p| p.name).collect();
        let r = run(compose()
            .arg("build")
            .arg(specs.join(format!("{spec}.toml")))
            .arg("--platform")
            .arg(names.join(","))
            .arg("--output")
            .arg(format!("oci:{}:latest", layout.display()))
            .arg("--cache-dir")
            .arg(shared_cache()));
        if r.code == Some(0) {
            break;
        }
        let defect = mirror_defect(&r.stderr)
            .and_then(|(arch, why)| Some((built.iter().position(|p| p.debian == arch)?, why)));
        match defect {
            // One platform always has to build: a defect on every one is not the mirror's.
            Some((i, why)) if built.len() > 1 => {
                skipped.push(format!("{} {}: {why}", spec, built[i].name));
                built.remove(i);
            }
            _ => panic!(
                "building {spec} for {} failed:\n{}",
                names.join(","),
                r.stderr
            ),
        }
    }
    let images = read_index_images(&layout, "latest");
    assert_eq!(
        images.len(),
        built.len(),
        "{spec}: one manifest per platform"
    );
    MultiBuild {
        built,
        images,
        skipped,
    }
}

/// Issue 12: static and python3 for every platform distroless ships on Debian 13 (amd64,
/// arm64, arm/v7, ppc64le, riscv64, s390x), each built once from today's archive. Each
/// index entry and config says its platform as Docker does; python3's interpreter and libc
/// are ELF files of that machine, and its loader is reachable where the kernel looks for it;
/// static has no ELF file at all (nothing in it runs), so its check is that every package
/// it holds is of the platform's architecture or `all`, as its status.d says. A platform
/// whose indexes or packages the mirror cannot serve is reported as skipped, never passed.
#[test]
fn static_and_python3_build_for_every_platform() {
    if !enabled() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let specs = dir.path().join("specs");
    fs_err::create_dir_all(&specs).unwrap();
    // Without the locks (they cover amd64 and arm64 only): today's archive, every platform.
    for e in fs_err::read_dir(repo_root().join("specs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            fs_err::copy(&p, specs.join(p.file_name().unwrap())).unwrap();
        }
    }
    let all: Vec<&PlatformFacts> = PLATFORMS.iter().collect();
    let mut skipped = Vec::new();

    let stat = build_every_platform(&specs, "static", dir.path(), &all);
    for (p, (desc, img)) in stat.built.iter().zip(&stat.images) {
        assert_platform(p, Some(desc), img);
        let fs = img.merged();
        let elf: Vec<&String> = fs
            .iter()
            .filter(|(_, e)| elf_machine(&e.data).is_some())
            .map(|(k, _)| k)
            .collect();
        assert!(elf.is_empty(), "{}: static has ELF files {elf:?}", p.name);
        let status: Vec<(&String, String)> = fs
            .iter()
            .filter(|(k, _)| k.starts_with("var/lib/dpkg/status.d/") && !k.ends_with(".md5sums"))
            .map(|(k, e)| (k, String::from_utf8_lossy(&e.data).into_owned()))
            .collect();
        assert!(status.len() >= 4, "{}: {status:?}", p.name);
        let own = format!("Architecture: {}\n", p.debian);
        for (k, s) in &status {
            assert!(
                s.contains(&own) || s.contains("Architecture: all\n"),
                "{}: {k}\n{s}",
                p.name
            );
        }
        assert!(
            status.iter().any(|(_, s)| s.contains(&own)),
            "{}: base-files is {}",
            p.name,
            p.debian
        );
    }
    skipped.extend(stat.skipped);

    // python3 is built on static's sources: a platform the mirror failed there is not tried.
    let py = build_every_platform(&specs, "python3", dir.path(), &stat.built);
    for (p, (desc, img)) in py.built.iter().zip(&py.images) {
        assert_platform(p, Some(desc), img);
        let fs = img.merged();
        let machine = |path: &str| {
            elf_machine(
                &fs.get(path)
                    .unwrap_or_else(|| panic!("{}: no {path}", p.name))
                    .data,
            )
        };
        assert_eq!(machine("usr/bin/python3.13"), Some(p.machine), "{}", p.name);
        // base-nossl's layer: libc, in the platform's multiarch directory.
        let libc = format!("usr/lib/{}/libc.so.6", p.triplet);
        assert_eq!(
            img.layers[1].get(&libc).and_then(|e| elf_machine(&e.data)),
            Some(p.machine),
            "{}: {libc} in base-nossl's layer",
            p.name
        );
        // The ELF interpreter: `/lib64` or `/lib` is the image's symlink into /usr, and the
        // loader behind it is a file or a link to one, of this machine.
        let (top, _) = p.loader.split_once('/').unwrap();
        assert_eq!(
            fs.get(top).and_then(|e| e.link.as_deref()),
            Some(format!("usr/{top}").as_str()),
            "{}",
            p.name
        );
        let mut loader = format!("usr/{}", p.loader);
        if let Some(target) = fs.get(&loader).and_then(|e| e.link.as_deref()) {
            let parent = loader.rsplit_once('/').unwrap().0;
            loader = normalize(&format!("{parent}/{target}"));
        }
        assert_eq!(machine(&loader), Some(p.machine), "{}: {loader}", p.name);
        assert_eq!(
            fs.contains_key("lib64"),
            top == "lib64",
            "{}: /lib64 only where the loader is",
            p.name
        );
    }
    if stat.built.len() < all.len() {
        skipped.push("python3: tried only on the platforms static built".into());
    }
    skipped.extend(py.skipped);
    if !skipped.is_empty() {
        eprintln!(
            "SKIPPED: the mirror could not serve every platform (the others were built and checked):\n  {}",
            skipped.join("\n  ")
        );
    }
}

/// `a/b/../c` -> `a/c` (a link target inside the image, relative to its directory).
fn normalize(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            ".." => {
                out.pop();
            }
            "." | "" => {}
            p => out.push(p),
        }
    }
    out.join("/")
}
