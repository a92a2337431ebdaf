//! End to end against the real Debian archive through the machine's configured mirror:
//! build `static` and `python3` once, then check them many ways (skopeo, umoci + runc as
//! uid 65532, layer sharing, reproducibility across cache dir, cwd, TZ, umask, locale, jobs).
//!
//! Slow and networked: runs only with `COMPOSE_E2E=1` (set by `cargo xtask test`), and says
//! so when skipped.

use std::path::Path;
use std::process::Command;

use crate::harness::{compose, have, read_image, repo_root, run};

fn enabled() -> bool {
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
        "missing tools {missing:?}: run `cargo xtask test` as root on Debian, or `apt-get install umoci runc skopeo`"
    );
}

/// A cache shared by the end-to-end runs of one checkout, so reruns are fast.
fn shared_cache() -> std::path::PathBuf {
    repo_root().join("target/e2e-cache")
}

fn build(spec: &str, out: &Path, cache: &Path, cwd: &Path, extra: &[(&str, &str)]) -> String {
    let mut cmd = compose();
    cmd.current_dir(cwd)
        .arg("build")
        .arg(repo_root().join("specs").join(spec))
        .arg("--output")
        .arg(format!("oci:{}:latest", out.display()))
        .arg("--cache-dir")
        .arg(cache);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    run(&mut cmd).digest()
}

fn runc(layout: &Path, work: &Path, name: &str, args: &[&str]) -> (i32, String, String) {
    let bundle = work.join(format!("bundle-{name}"));
    let st = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:latest", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "umoci unpack: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    let cfg_path = bundle.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&fs_err::read(&cfg_path).unwrap()).unwrap();
    cfg["process"]["terminal"] = false.into();
    cfg["process"]["args"] = args.iter().map(|a| serde_json::Value::from(*a)).collect();
    // No network namespace setup needed for these checks.
    fs_err::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
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

const PY_CHECK: &str = "import os, ssl, sqlite3, json, zlib, lzma, bz2, ctypes, hashlib, decimal, uuid, sys; \
assert os.getuid() == 65532, os.getuid(); \
assert sys.getfilesystemencoding() == 'utf-8'; \
ctx = ssl.create_default_context(); \
assert ctx.cert_store_stats()['x509_ca'] > 100, ctx.cert_store_stats(); \
print('python-ok', sys.version_info[:2], hashlib.sha256(b'x').hexdigest()[:8], decimal.Decimal(1) / 3)";

#[test]
fn static_and_python3_from_the_real_archive() {
    if !enabled() {
        return;
    }
    require(&["umoci", "runc", "skopeo"]);
    let work = tempfile::tempdir().unwrap();
    let cache = shared_cache();
    let root = repo_root();

    let static_out = work.path().join("static");
    let static_digest = build("static.toml", &static_out, &cache, &root, &[]);
    let py_out = work.path().join("python3");
    let py_digest = build("python3.toml", &py_out, &cache, &root, &[]);

    // skopeo reads both layouts and agrees on the digest.
    for (out, digest) in [(&static_out, &static_digest), (&py_out, &py_digest)] {
        let o = Command::new("skopeo")
            .arg("inspect")
            .arg(format!("oci:{}:latest", out.display()))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "skopeo: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["Digest"].as_str(), Some(digest.as_str()));
        assert_eq!(v["Architecture"], "amd64");
    }

    // Structure: static is one layer, shared byte for byte as python3's bottom layer.
    let st = read_image(&static_out);
    let py = read_image(&py_out);
    assert_eq!(st.layers.len(), 1);
    assert_eq!(py.layers.len(), 4, "static, base, cc, python3");
    assert_eq!(py.layer_digests[0], st.layer_digests[0]);
    let fs = py.merged();
    assert!(
        !fs.contains_key("usr/bin/sh") && !fs.contains_key("usr/bin/bash"),
        "no shell"
    );
    assert!(fs.contains_key("usr/bin/python3.13"));
    assert!(
        fs.contains_key("usr/share/zoneinfo/UTC") || fs.contains_key("usr/share/zoneinfo/Etc/UTC")
    );
    assert!(fs.contains_key("etc/services"));
    for p in [
        "base-files",
        "libc6",
        "libssl3t64",
        "libstdc++6",
        "python3.13-minimal",
        "ca-certificates",
    ] {
        assert!(
            fs.contains_key(&format!("var/lib/dpkg/status.d/{p}")),
            "status.d/{p}"
        );
    }
    for p in ["debconf", "perl-base", "dpkg", "openssl"] {
        assert!(
            !fs.contains_key(&format!("var/lib/dpkg/status.d/{p}")),
            "{p} must not be in"
        );
    }
    let bundle =
        String::from_utf8_lossy(&fs["etc/ssl/certs/ca-certificates.crt"].data).into_owned();
    assert!(bundle.matches("BEGIN CERTIFICATE").count() > 100);
    assert!(!fs.keys().any(|k| k.starts_with("usr/share/doc/")
        && !k.ends_with("copyright")
        && fs[k].kind != tar::EntryType::Directory));
    assert_eq!(py.config["config"]["User"], "65532");

    // Run it for real, as uid 65532, under runc.
    let (code, out, err) = runc(
        &py_out,
        work.path(),
        "py",
        &["/usr/bin/python3.13", "-c", PY_CHECK],
    );
    assert_eq!(
        code, 0,
        "python3 check failed:\nstdout: {out}\nstderr: {err}"
    );
    assert!(out.contains("python-ok"), "{out}");
    let (code, _, _) = runc(&py_out, work.path(), "sh", &["/bin/sh", "-c", "true"]);
    assert_ne!(code, 0, "there is no shell to run");

    // Reproducible: another (cold) cache, cwd, TZ, umask, locale and --jobs 1.
    let other = tempfile::tempdir().unwrap();
    let again = work.path().join("python3-again");
    let r = run(Command::new("sh")
        .current_dir(other.path())
        .env("TZ", "America/St_Johns")
        .env("LC_ALL", "C.UTF-8")
        .arg("-c")
        .arg(format!(
            "umask 027; exec {} build {} --jobs 1 --output oci:{}:latest --cache-dir {}",
            env!("CARGO_BIN_EXE_compose"),
            root.join("specs/python3.toml").display(),
            again.display(),
            other.path().join("cache").display()
        )));
    assert_eq!(
        r.digest(),
        py_digest,
        "same bytes from another cache, cwd, TZ, umask, locale and --jobs"
    );
}
