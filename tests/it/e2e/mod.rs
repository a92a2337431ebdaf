//! End to end against the real Debian archive through the machine's configured mirror.
//! Every image of the family is built once (`family()`, shared by every test of these
//! modules), then checked many ways, one behaviour per test: structure (our own reader and
//! container-structure-test), SBOM (pyspdxtools), running it for real as uid 65532 under
//! umoci + runc and, where an engine runs, `docker load` + `docker run`.
//!
//! Slow and networked: every test is `#[ignore = "needs …"]`; `cargo xtask test` runs them.
//! What a test needs beyond the archive decides its module, and `cargo xtask test` skips a
//! module by name when the need cannot be met here: `e2e::root` runs images under runc or
//! cuts the network with `unshare` (root), `e2e::docker` needs a Docker engine answering
//! `docker info`.

mod certs;
mod docker;
mod patching;
mod platforms;
mod publish;
mod root;
mod structure;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use crate::harness::{Image, compose, repo_root, run};

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
        let specs = specs_without_locks(&work);
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
            r.success(&format!("building {key}"));
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

/// The config's environment as `KEY=VALUE` strings.
fn env_of(img: &Image) -> Vec<&str> {
    img.config["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

/// A copy of `specs/*.toml` in `dir/specs`, without the committed locks.
fn specs_without_locks(dir: &std::path::Path) -> PathBuf {
    let specs = dir.join("specs");
    fs_err::create_dir_all(&specs).unwrap();
    for e in fs_err::read_dir(repo_root().join("specs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            fs_err::copy(&p, specs.join(p.file_name().unwrap())).unwrap();
        }
    }
    specs
}

/// The image as compose wrote it with `docker-archive:FILE:compose-e2e/KEY:test`.
fn docker_archive(key: &str) -> PathBuf {
    family().work.join(format!("{key}.docker.tar"))
}

/// `python3.toml` of the family's specs, locked once (`compose lock`), for the builds that
/// use `--locked`.
fn locked_python3() -> &'static std::path::Path {
    static SPEC: OnceLock<PathBuf> = OnceLock::new();
    SPEC.get_or_init(|| {
        let spec = family().specs.join("python3.toml");
        run(compose()
            .arg("lock")
            .arg(&spec)
            .arg("--cache-dir")
            .arg(shared_cache()))
        .success("compose lock python3");
        spec
    })
}

/// `Trust.class`, compiled here for the oldest runtime (Java 11): it counts the trusted CAs
/// and draws text with a font, and prints what it found.
fn trust_class() -> &'static std::path::Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        crate::harness::require(&["javac"]);
        let src = family().work.join("java-src");
        fs_err::create_dir_all(&src).unwrap();
        fs_err::write(src.join("Trust.java"), TRUST_JAVA).unwrap();
        let st = std::process::Command::new("javac")
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
        src
    })
}

const TRUST_JAVA: &str = r#"import java.security.KeyStore;
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
"#;

/// The number of certificates in an image's CA bundle.
fn ca_count(img: &Image) -> usize {
    text(img, "etc/ssl/certs/ca-certificates.crt")
        .matches("BEGIN CERTIFICATE")
        .count()
}

/// Imports every module of the standard library the image ships, as uid 65532, with UTF-8
/// and the CA bundle; prints `python-ok COUNT (MAJOR, MINOR)`.
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
