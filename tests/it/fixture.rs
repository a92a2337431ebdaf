//! The whole pipeline against the signed fixture repository served on 127.0.0.1 (no internet):
//! resolution, merged /usr, filters, generated files, determinism, caching, retries, and
//! rejection of tampered metadata and packages.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::harness::{
    Image, PLATFORMS, PlatformFacts, Run, TarEntry, assert_platform, compose, copy_dir,
    elf_machine, read_image, read_index_images, repo_root, run,
};
use crate::support::server::Server;

/// A served copy of the fixture repository and a scratch directory.
pub struct Env {
    pub server: Server,
    repo: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let repo = tempfile::tempdir().unwrap();
        copy_dir(&repo_root().join("tests/data/repo"), repo.path());
        let server = Server::start(repo.path());
        Env {
            server,
            repo,
            work: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    /// The served copy of the fixture repository (to change what the mirror serves).
    pub fn served(&self) -> &Path {
        self.repo.path()
    }

    /// Write a spec using the fixture source; `body` adds `[packages]` etc.
    pub fn spec(&self, name: &str, body: &str) -> PathBuf {
        self.spec_top(name, "", body)
    }

    /// A spec whose top-level keys (`platforms = ...`) are `top`, then the fixture source.
    pub fn spec_top(&self, name: &str, top: &str, body: &str) -> PathBuf {
        let key = repo_root().join("tests/data/keys/fixture-archive.gpg");
        let text = format!(
            "name = \"{name}\"\n{top}\n[[source]]\narchive = \"fixture\"\nsuites = [\"testing\", \"testing-updates\"]\ncomponents = [\"main\"]\nsigned-by = \"{}\"\n\n{body}",
            key.display()
        );
        let p = self.path(&format!("{name}.toml"));
        fs_err::write(&p, text).unwrap();
        p
    }

    pub fn build(&self, spec: &Path, out: &str, extra: &[&str]) -> Run {
        run(compose()
            .arg("build")
            .arg(spec)
            .arg("--output")
            .arg(format!("oci:{}", self.path(out).display()))
            .arg("--cache-dir")
            .arg(self.path("cache"))
            .arg("--mirror")
            .arg(format!("fixture={}", self.server.url()))
            .args(extra))
    }

    /// `compose lock [extra] SPEC` against the fixture mirror and the shared cache.
    pub fn lock(&self, spec: &Path, extra: &[&str]) -> Run {
        run(compose()
            .arg("lock")
            .args(extra)
            .arg("--mirror")
            .arg(format!("fixture={}", self.server.url()))
            .arg("--cache-dir")
            .arg(self.path("cache"))
            .arg(spec))
    }

    /// `compose build SPEC` to the given `--output`s (none: the default), with the fixture
    /// mirror and the shared cache (unless `extra` names another).
    pub fn build_to(&self, spec: &Path, outputs: &[String], extra: &[&str]) -> Run {
        self.build_with_env(spec, outputs, extra, &[])
    }

    /// `build_to` with environment variables set (`COSIGN_PASSWORD`).
    pub fn build_with_env(
        &self,
        spec: &Path,
        outputs: &[String],
        extra: &[&str],
        vars: &[(&str, &str)],
    ) -> Run {
        let mut cmd = compose();
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.arg("build").arg(spec);
        for o in outputs {
            cmd.arg("--output").arg(o);
        }
        if !extra.contains(&"--cache-dir") {
            cmd.arg("--cache-dir").arg(self.path("cache"));
        }
        run(cmd
            .arg("--mirror")
            .arg(format!("fixture={}", self.server.url()))
            .args(extra))
    }

    pub fn tool_spec(&self) -> PathBuf {
        self.spec(
            "tool",
            "[packages]\ninclude = [\"f-tool\", \"f-ca-certificates\"]\nexclude = [\"f-openssl\", \"f-debconf\"]\n\n[paths]\nexclude = [\"/usr/share/doc/**\", \"/usr/share/man/**\", \"/usr/share/locale/**\"]\nkeep = [\"/usr/share/doc/*/copyright\"]\n\n[config]\nentrypoint = [\"/usr/bin/ftool\"]\nenv = { LANG = \"C.UTF-8\" }\n",
        )
    }
}

fn text(e: &TarEntry) -> String {
    String::from_utf8_lossy(&e.data).into_owned()
}

fn find_deb(root: &Path, prefix: &str) -> PathBuf {
    let mut stack = vec![root.join("pool")];
    while let Some(d) = stack.pop() {
        for e in fs_err::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap().to_str().unwrap().starts_with(prefix) {
                return p;
            }
        }
    }
    panic!("no {prefix} deb in the fixture");
}

/// The tool spec built once from the fixture (`Env::tool_spec`), with the digest it printed,
/// read back into memory (its workspace is gone).
fn tool_image() -> &'static (String, Image) {
    static IMAGE: OnceLock<(String, Image)> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let env = Env::new();
        let digest = env.build(&env.tool_spec(), "img", &[]).digest();
        (digest, read_image(&env.path("img")))
    })
}

/// The merged file system of `tool_image()`.
fn tool_fs() -> BTreeMap<String, TarEntry> {
    tool_image().1.merged()
}

#[test]
fn the_printed_digest_is_the_manifests() {
    let (digest, img) = tool_image();
    assert_eq!(
        &img.manifest_digest, digest,
        "printed digest is the manifest's"
    );
}

/// Resolution: alternatives, Provides, the highest version across suites.
#[test]
fn resolution_takes_alternatives_provides_and_the_newest_version() {
    let fs = tool_fs();
    for p in [
        "f-tool",
        "f-libc",
        "f-base-files",
        "f-ca-certificates",
        "f-provider",
    ] {
        assert!(
            fs.contains_key(&format!("var/lib/dpkg/status.d/{p}")),
            "{p} installed"
        );
    }
    assert!(
        fs.contains_key("var/lib/dpkg/status.d/f-mawk")
            ^ fs.contains_key("var/lib/dpkg/status.d/f-gawk"),
        "exactly one awk provider"
    );
    for p in ["f-openssl", "f-debconf", "f-conflict-a", "f-broken"] {
        assert!(
            !fs.contains_key(&format!("var/lib/dpkg/status.d/{p}")),
            "{p} not installed"
        );
    }
    let libc = text(&fs["var/lib/dpkg/status.d/f-libc"]);
    assert!(
        libc.contains("Version: 1.0-2"),
        "testing-updates wins:\n{libc}"
    );
    assert!(fs.contains_key("var/lib/dpkg/status.d/f-libc.md5sums"));
}

#[test]
fn usr_is_merged() {
    let fs = tool_fs();
    assert_eq!(fs["bin"].kind, tar::EntryType::Symlink);
    assert_eq!(fs["bin"].link.as_deref(), Some("usr/bin"));
    assert_eq!(fs["lib64"].link.as_deref(), Some("usr/lib64"));
    assert!(fs.contains_key("usr/bin/ftool"));
    assert!(fs.contains_key("usr/lib/x86_64-linux-gnu/libf.so.1"));
    assert!(fs.contains_key("usr/lib64/ld-linux-x86-64.so.2"));
    assert!(
        !fs.keys()
            .any(|k| k.starts_with("bin/") || k.starts_with("lib/"))
    );
    assert_eq!(
        fs["usr/lib/x86_64-linux-gnu/libf.so"].link.as_deref(),
        Some("libf.so.1")
    );
}

#[test]
fn modes_and_hard_links_are_kept() {
    let fs = tool_fs();
    assert_eq!(fs["usr/bin/ftool"].mode, 0o755);
    assert_eq!(fs["usr/sbin/fsetuid"].mode, 0o4755);
    let (holder, link) = if fs["usr/bin/ftool"].kind == tar::EntryType::Link {
        ("usr/bin/ftool-alias", "usr/bin/ftool")
    } else {
        ("usr/bin/ftool", "usr/bin/ftool-alias")
    };
    assert_eq!(fs[link].kind, tar::EntryType::Link);
    assert_eq!(fs[link].link.as_deref(), Some(holder));
}

/// Filters: docs, man pages and translations go, copyright stays.
#[test]
fn docs_man_pages_and_translations_are_left_out_but_copyright_stays() {
    let fs = tool_fs();
    assert!(fs.contains_key("usr/share/doc/f-base-files/copyright"));
    assert!(!fs.contains_key("usr/share/doc/f-base-files/changelog.gz"));
    assert!(
        !fs.keys()
            .any(|k| k.starts_with("usr/share/man/") || k.starts_with("usr/share/locale/"))
    );
}

#[test]
fn accounts_directories_and_the_ca_bundle_are_generated() {
    let fs = tool_fs();
    assert!(
        text(&fs["etc/passwd"])
            .contains("nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin")
    );
    assert!(text(&fs["etc/group"]).contains("nonroot:x:65532:"));
    assert_eq!(fs["tmp"].mode, 0o1777);
    assert_eq!(fs["root"].mode, 0o700);
    assert_eq!(
        (fs["home/nonroot"].uid, fs["home/nonroot"].gid),
        (65532, 65532)
    );
    let bundle = text(&fs["etc/ssl/certs/ca-certificates.crt"]);
    assert_eq!(
        bundle.matches("-----BEGIN CERTIFICATE-----").count(),
        2,
        "{bundle}"
    );
}

#[test]
fn every_entry_has_a_parent_directory_in_the_layer() {
    let fs = tool_fs();
    for path in fs.keys() {
        if let Some((parent, _)) = path.rsplit_once('/') {
            assert!(fs.contains_key(parent), "{path} has no parent entry");
        }
    }
}

#[test]
fn the_config_is_distroless_s() {
    let img = &tool_image().1;
    let cfg = &img.config["config"];
    assert_eq!(cfg["User"], "0", "latest runs as root, as distroless");
    assert_eq!(cfg["WorkingDir"], "/");
    assert_eq!(cfg["Entrypoint"][0], "/usr/bin/ftool");
    let env_list: Vec<&str> = cfg["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(env_list.contains(&"LANG=C.UTF-8"));
    assert!(env_list.contains(&"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"));
    assert_eq!(img.config["architecture"], "amd64");
    assert_eq!(img.config["os"], "linux");
    assert_eq!(
        img.config["rootfs"]["diff_ids"].as_array().unwrap().len(),
        1
    );
}

#[test]
fn json_report_and_zstd() {
    let env = Env::new();
    let spec = env.tool_spec();
    let r = env.build(&spec, "img", &["--json", "--compression", "zstd"]);
    r.success("compose");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["name"], "tool");
    assert!(v["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(v["platforms"][0], "linux/amd64");
    let pkgs = v["packages"].as_array().unwrap();
    assert!(
        pkgs.iter().any(|p| p["name"] == "f-libc"
            && p["version"] == "1.0-2"
            && p["architecture"] == "amd64")
    );
    assert!(v["layers"][0]["size"].as_u64().unwrap() > 0);
    assert!(v["size"].as_u64().unwrap() > v["layers"][0]["size"].as_u64().unwrap());
    let img = read_image(&env.path("img"));
    assert_eq!(img.manifest_digest, v["digest"]);
    assert_eq!(
        img.manifest["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
}

#[test]
fn extends_chain_makes_one_layer_per_level_and_shares_the_lower_layer() {
    let env = Env::new();
    let base = env.spec(
        "fbase",
        "[packages]\ninclude = [\"f-base-files\", \"f-libc\"]\n",
    );
    fs_err::write(
        env.path("ftop.toml"),
        "name = \"ftop\"\nextends = \"fbase\"\n[packages]\ninclude = [\"f-tool\"]\n",
    )
    .unwrap();
    env.build(&base, "base", &[]).digest();
    env.build(&env.path("ftop.toml"), "top", &[]).digest();
    let b = read_image(&env.path("base"));
    let t = read_image(&env.path("top"));
    assert_eq!(t.layers.len(), 2);
    assert_eq!(
        t.layer_digests[0], b.layer_digests[0],
        "the family shares its lower layer byte for byte"
    );
    assert!(t.layers[1].contains_key("var/lib/dpkg/status.d/f-tool"));
    assert!(
        !t.layers[1].contains_key("var/lib/dpkg/status.d/f-libc"),
        "f-libc stays in the lower layer"
    );
    assert!(!t.layers[1].contains_key("etc/passwd"));
    assert_eq!(t.config["config"]["User"], "0");
}

/// Issue 12: a `[packages.partial]` package keeps what `[paths] keep` asks for (its
/// copyright: licences travel with the binaries) and nothing else the filters would drop.
#[test]
fn partial_packages_keep_their_copyright() {
    let env = Env::new();
    let spec = env.spec(
        "partial",
        "[packages]\ninclude = [\"f-libc\"]\n\n[packages.partial]\nf-base-files = [\"/etc/f-release\"]\n\n[paths]\nexclude = [\"/usr/share/doc/**\"]\nkeep = [\"/usr/share/doc/*/copyright\"]\n",
    );
    env.build(&spec, "img", &[]).digest();
    let fs = read_image(&env.path("img")).merged();
    assert!(fs.contains_key("etc/f-release"), "the partial glob");
    assert!(
        fs.contains_key("usr/share/doc/f-base-files/copyright"),
        "the copyright `[paths] keep` asks for"
    );
    assert_eq!(
        fs["usr/share/doc/f-base-files"].kind,
        tar::EntryType::Directory
    );
    for gone in [
        "usr/share/doc/f-base-files/changelog.gz",
        "usr/share/man/man1/f.1.gz",
        "usr/share/locale/de/LC_MESSAGES/f.mo",
    ] {
        assert!(!fs.contains_key(gone), "{gone} is not in the partial list");
    }
    assert!(fs.contains_key("var/lib/dpkg/status.d/f-base-files"));
}

/// Issue 12: a level's layer carries a directory the lower level has only as the lower
/// level has it. With `SOURCE_DATE_EPOCH` after the packages' mtimes, the upper level's
/// generated files (its SBOM under `/usr/share`, which f-libc does not ship into; the Java
/// trust store under `/etc/ssl`) used to re-write those directories with the epoch.
#[test]
fn upper_levels_leave_lower_directories_as_they_are() {
    let env = Env::new();
    env.spec(
        "dbase",
        "[packages]\ninclude = [\"f-base-files\", \"f-ca-certificates\"]\nexclude = [\"f-openssl\", \"f-debconf\"]\n",
    );
    fs_err::write(
        env.path("dtop.toml"),
        "name = \"dtop\"\nextends = \"dbase\"\n[packages]\ninclude = [\"f-libc\"]\n[generate]\njava-cacerts = true\n",
    )
    .unwrap();
    let r = run(compose()
        .env("SOURCE_DATE_EPOCH", "2000000000")
        .arg("build")
        .arg(env.path("dtop.toml"))
        .arg("--output")
        .arg(format!("oci:{}", env.path("top").display()))
        .arg("--cache-dir")
        .arg(env.path("cache"))
        .arg("--mirror")
        .arg(format!("fixture={}", env.server.url())));
    r.digest();
    let img = read_image(&env.path("top"));
    let (lower, upper) = (&img.layers[0], &img.layers[1]);
    assert!(upper.contains_key("etc/ssl/certs/java/cacerts"));
    assert!(upper.contains_key("usr/share/sbom/dtop.spdx.json"));
    let mut shared = 0;
    for (path, e) in upper {
        if let Some(l) = lower.get(path)
            && l.kind == tar::EntryType::Directory
        {
            shared += 1;
            assert_eq!(
                (e.kind, e.mode, e.uid, e.gid, e.mtime),
                (l.kind, l.mode, l.uid, l.gid, l.mtime),
                "/{path} is re-written by the upper layer"
            );
        }
    }
    for dir in ["etc/ssl", "etc/ssl/certs", "usr/share", "usr/share/sbom"] {
        assert!(
            upper.contains_key(dir),
            "{dir} is a parent in the upper layer"
        );
    }
    assert!(shared >= 4);
    assert!(
        upper["usr/share"].mtime < 2_000_000_000,
        "the package's mtime"
    );
    // A directory new in the upper level has the level's epoch.
    assert_eq!(upper["etc/ssl/certs/java"].mtime, 2_000_000_000);
}

/// Warm cache: no .deb downloaded again, same bytes.
#[test]
fn a_warm_cache_downloads_no_deb_and_gives_the_same_bytes() {
    let env = Env::new();
    let spec = env.tool_spec();
    let debs = || {
        env.server
            .requests()
            .iter()
            .filter(|p| p.ends_with(".deb"))
            .count()
    };
    let first = env.build(&spec, "a", &[]).digest();
    let debs_first = debs();
    assert!(debs_first > 0);
    let second = env.build(&spec, "b", &["--jobs", "1"]).digest();
    assert_eq!(first, second);
    assert_eq!(debs_first, debs(), "the second build downloads no .deb");
}

/// Another cache dir, cwd, time zone, umask and locale: the digest of `tool_image()`.
#[test]
fn another_cache_cwd_time_zone_umask_and_locale_give_the_same_digest() {
    let env = Env::new();
    let spec = env.tool_spec();
    let other = tempfile::tempdir().unwrap();
    let r = run(compose()
        .current_dir(other.path())
        .env("TZ", "Pacific/Kiritimati")
        .env("LC_ALL", "C")
        .env("COMPOSE_MIRROR_FIXTURE", env.server.url())
        .env("COMPOSE_CACHE_DIR", other.path().join("cache"))
        .arg("build")
        .arg(&spec)
        .arg("--output")
        .arg("oci:relative-out"));
    assert_eq!(r.digest(), tool_image().0);
    let r = run(compose()
        .umask(0o077)
        .arg("build")
        .arg(&spec)
        .arg("--output")
        .arg(format!("oci:{}", env.path("c").display()))
        .arg("--cache-dir")
        .arg(other.path().join("cache2"))
        .arg("--mirror")
        .arg(format!("fixture={}", env.server.url())));
    assert_eq!(r.digest(), tool_image().0);
}

/// The same archive through another mirror URL (the SBOM inside the image names no
/// mirror): same digest.
#[test]
fn the_image_does_not_depend_on_the_mirror_url() {
    let env = Env::new();
    let other_mirror = env.server.url().replace("127.0.0.1", "localhost");
    let r = run(compose()
        .arg("build")
        .arg(env.tool_spec())
        .arg("--output")
        .arg(format!("oci:{}", env.path("d").display()))
        .arg("--cache-dir")
        .arg(env.path("cache"))
        .arg("--mirror")
        .arg(format!("fixture={other_mirror}")));
    assert_eq!(
        r.digest(),
        tool_image().0,
        "the image does not depend on the mirror"
    );
}

/// A corrupt cache entry is detected by its hash and fetched again.
#[test]
fn a_corrupt_cache_entry_is_fetched_again() {
    let env = Env::new();
    let spec = env.tool_spec();
    let first = env.build(&spec, "a", &[]).digest();
    let cache = env.path("cache/sha256");
    let deb = find_deb(env.repo.path(), "f-tool_1.0-1_amd64");
    let hex = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(fs_err::read(&deb).unwrap()))
    };
    fs_err::write(cache.join(&hex), b"corrupt").unwrap();
    let tool_gets = || {
        env.server
            .requests()
            .iter()
            .filter(|p| p.contains("f-tool_"))
            .count()
    };
    let before = tool_gets();
    // The package cache is under test: the layer cache would not read the package at all.
    assert_eq!(env.build(&spec, "d", &["--no-layer-cache"]).digest(), first);
    assert_eq!(
        tool_gets(),
        before + 1,
        "the corrupt entry was downloaded again"
    );
}

/// SOURCE_DATE_EPOCH changes the bytes (mtimes clamped, created) and is itself stable.
#[test]
fn source_date_epoch_clamps_mtimes_and_is_stable() {
    let env = Env::new();
    let spec = env.tool_spec();
    let epoch = |out: &str| {
        run(compose()
            .env("SOURCE_DATE_EPOCH", "1600000000")
            .arg("build")
            .arg(&spec)
            .arg("--output")
            .arg(format!("oci:{}", env.path(out).display()))
            .arg("--cache-dir")
            .arg(env.path("cache"))
            .arg("--mirror")
            .arg(format!("fixture={}", env.server.url())))
        .digest()
    };
    let e1 = epoch("e1");
    assert_ne!(e1, tool_image().0);
    assert_eq!(e1, epoch("e2"));
    let img = read_image(&env.path("e1"));
    assert_eq!(img.config["created"], "2020-09-13T12:26:40Z");
    assert!(img.merged().values().all(|e| e.mtime <= 1_600_000_000));
}

#[test]
fn transient_server_failures_are_retried() {
    let env = Env::new();
    let spec = env.tool_spec();
    env.server.fail_next(".deb", 2, 503);
    env.server
        .truncate_next("testing-updates/main/binary-amd64/Packages.gz", 1);
    env.build(&spec, "img", &[]).digest();
    // The faults were really hit, and retried.
    let reqs = env.server.requests();
    let index_gets = reqs
        .iter()
        .filter(|p| p.ends_with("testing-updates/main/binary-amd64/Packages.gz"))
        .count();
    assert_eq!(index_gets, 2, "truncated index fetched again: {reqs:?}");
    let debs = reqs.iter().filter(|p| p.ends_with(".deb")).count();
    let unique: std::collections::BTreeSet<_> =
        reqs.iter().filter(|p| p.ends_with(".deb")).collect();
    assert_eq!(debs, unique.len() + 2, "two 503s retried: {reqs:?}");
}

/// Flip a byte in the middle of a file.
fn tamper(path: &Path) {
    let mut bytes = fs_err::read(path).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    fs_err::write(path, bytes).unwrap();
}

/// Every file of the `testing` amd64 index directory (by name and by hash).
fn index_files(env: &Env) -> Vec<PathBuf> {
    let dir = env.repo.path().join("dists/testing/main/binary-amd64");
    let by_hash = dir.join("by-hash/SHA256");
    let mut files: Vec<PathBuf> = ["Packages", "Packages.gz", "Packages.xz"]
        .iter()
        .map(|n| dir.join(n))
        .collect();
    files.extend(
        fs_err::read_dir(by_hash)
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    files
}

#[test]
fn tampered_packages_index_is_rejected() {
    let env = Env::new();
    let spec = env.tool_spec();
    for f in index_files(&env) {
        tamper(&f);
    }
    let r = env.build(&spec, "img", &[]);
    // Every copy was tried, and each is named with what was wrong with it.
    r.fails_with("no copy of");
    assert_eq!(
        r.stderr.matches("sha256 mismatch").count(),
        6,
        "{}",
        r.stderr
    );
    r.fails_with("hint: the mirror may be in the middle of a sync");
    assert!(!env.path("img").exists(), "no output after a failure");
}

/// A mirror caught mid-sync (the plain paths already hold other indexes) is read by hash;
/// a cache that lost the by-hash copies and holds a stale `Packages.gz` gives way to
/// `Packages.xz`. Either way the image is the one a healthy mirror gives.
#[test]
fn indexes_come_by_hash_and_fall_back_to_other_copies() {
    let healthy = Env::new();
    let spec = healthy.tool_spec();
    let want = healthy.build(&spec, "img", &[]).digest();
    let reqs = healthy.server.requests();
    assert!(
        reqs.iter()
            .any(|p| p.contains("dists/testing/main/binary-amd64/by-hash/SHA256/")),
        "{reqs:?}"
    );
    assert!(
        !reqs
            .iter()
            .any(|p| p.ends_with("dists/testing/main/binary-amd64/Packages.gz")),
        "the plain path is not needed: {reqs:?}"
    );
    assert!(
        reqs.iter()
            .any(|p| p.ends_with("dists/testing-updates/main/binary-amd64/Packages.gz")),
        "a suite without by-hash is read by name: {reqs:?}"
    );

    // Mid-sync: every plain path holds other bytes.
    let env = Env::new();
    let spec = env.tool_spec();
    for f in index_files(&env)
        .iter()
        .filter(|f| !f.to_string_lossy().contains("by-hash"))
    {
        tamper(f);
    }
    assert_eq!(env.build(&spec, "img", &[]).digest(), want);

    // A stale cache: no by-hash copies, an old `Packages.gz`; `Packages.xz` is good.
    let env = Env::new();
    let spec = env.tool_spec();
    let dir = env.repo.path().join("dists/testing/main/binary-amd64");
    fs_err::remove_dir_all(dir.join("by-hash")).unwrap();
    let gz = dir.join("Packages.gz");
    let mut stale = fs_err::read(&gz).unwrap();
    stale.truncate(stale.len() - 7);
    fs_err::write(&gz, stale).unwrap();
    assert_eq!(env.build(&spec, "img", &[]).digest(), want);
    let tried: Vec<String> = env
        .server
        .requests()
        .into_iter()
        .filter(|p| p.contains("dists/testing/main/binary-amd64/"))
        .map(|p| p.rsplit('/').next().unwrap().to_owned())
        .map(|name| {
            if name.len() == 64 {
                "by-hash".to_owned()
            } else {
                name
            }
        })
        .collect();
    // The stale gzip is rejected for its size at once, not retried as a truncation.
    assert_eq!(
        tried,
        ["by-hash", "Packages.gz", "by-hash", "Packages.xz"],
        "{tried:?}"
    );
}

#[test]
fn tampered_deb_is_rejected() {
    let env = Env::new();
    let spec = env.tool_spec();
    let deb = find_deb(env.repo.path(), "f-tool_1.0-1_amd64");
    let mut bytes = fs_err::read(&deb).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0xff;
    fs_err::write(&deb, bytes).unwrap();
    env.build(&spec, "img", &[]).fails_with("sha256 mismatch");
    assert!(!env.path("img").exists());
    // Nothing half-written next to the output either.
    let leftovers: Vec<_> = fs_err::read_dir(env.work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".compose"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn tampered_or_foreign_signatures_are_rejected() {
    let env = Env::new();
    let spec = env.tool_spec();
    let inrelease = env.repo.path().join("dists/testing/InRelease");
    let text = fs_err::read_to_string(&inrelease).unwrap();
    fs_err::write(
        &inrelease,
        text.replacen("Suite: testing", "Suite: testinG", 1),
    )
    .unwrap();
    env.build(&spec, "img", &[]).fails_with("signature");
    assert!(!env.path("img").exists());

    // The Debian keyring does not vouch for the fixture.
    let env = Env::new();
    let spec = env.spec("nokey", "[packages]\ninclude = [\"f-libc\"]\n");
    let text = fs_err::read_to_string(&spec).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("signed-by"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs_err::write(&spec, text).unwrap();
    env.build(&spec, "img", &[]).fails_with("signature");
}

#[test]
fn conflicting_files_name_both_packages() {
    let env = Env::new();
    let spec = env.spec(
        "conflict",
        "[packages]\ninclude = [\"f-conflict-a\", \"f-conflict-b\"]\n",
    );
    env.build(&spec, "img", &[])
        .fails_with("`f-conflict-a` and `f-conflict-b`");
    assert!(!env.path("img").exists());
    let spec = env.spec(
        "same",
        "[packages]\ninclude = [\"f-same-a\", \"f-same-b\"]\n",
    );
    let d = env.build(&spec, "img", &[]).digest();
    let fs = read_image(&env.path("img")).merged();
    assert!(fs.contains_key("usr/share/f/same"), "{d}");
}

#[test]
fn resolution_errors_name_the_package_and_the_chain() {
    let env = Env::new();
    let spec = env.spec("unknown", "[packages]\ninclude = [\"f-nowhere\"]\n");
    env.build(&spec, "img", &[]).fails_with("f-nowhere");
    let spec = env.spec("broken", "[packages]\ninclude = [\"f-broken\"]\n");
    let r = env.build(&spec, "img", &[]);
    r.fails_with("f-missing");
    assert!(r.stderr.contains("f-broken"), "{}", r.stderr);
    let spec = env.spec("toonew", "[packages]\ninclude = [\"f-toonew\"]\n");
    env.build(&spec, "img", &[]).fails_with("f-libc");
    assert!(!env.path("img").exists());
}

#[test]
fn bad_specs_and_flags_give_clear_errors() {
    let env = Env::new();
    let p = env.path("bad.toml");
    fs_err::write(
        &p,
        "name = \"bad\"\n[packages]\ninclude = [\"a\"]\ncolour = \"red\"\n",
    )
    .unwrap();
    let r = env.build(&p, "img", &[]);
    r.fails_with("line 4, column 1");
    assert!(
        r.stderr.contains("bad.toml") && r.stderr.contains("colour"),
        "{}",
        r.stderr
    );
    assert!(!env.path("img").exists());

    let spec = env.tool_spec();
    run(compose()
        .arg("build")
        .arg(&spec)
        .arg("--output")
        .arg("docker:nope"))
    .fails_with("unsupported destination");
    // Unknown symbolic mirror: the hint says how to set one.
    let r = run(compose()
        .arg("build")
        .arg(&spec)
        .arg("--output")
        .arg(format!("oci:{}", env.path("x").display())));
    r.fails_with("hint: pass `--mirror fixture=URL`");
    // An existing directory that is not a layout is never replaced.
    fs_err::create_dir_all(env.path("precious")).unwrap();
    fs_err::write(env.path("precious/file"), "keep me").unwrap();
    env.build(&spec, "precious", &[])
        .fails_with("not an OCI image layout");
    assert_eq!(
        fs_err::read_to_string(env.path("precious/file")).unwrap(),
        "keep me"
    );
}

#[test]
fn rebuilding_replaces_an_earlier_layout_atomically() {
    let env = Env::new();
    let spec = env.tool_spec();
    let d1 = env.build(&spec, "img", &[]).digest();
    let d2 = env.build(&spec, "img", &["--compression", "zstd"]).digest();
    assert_ne!(d1, d2);
    assert_eq!(read_image(&env.path("img")).manifest_digest, d2);
    // Only the new image's blobs remain.
    let blobs = fs_err::read_dir(env.path("img/blobs/sha256"))
        .unwrap()
        .count();
    let img = read_image(&env.path("img"));
    assert_eq!(blobs, img.layer_digests.len() + 2);
}

// Issue 4: lock files, offline builds, verify and diff.

#[test]
fn lock_round_trip_check_and_locked_builds() {
    let env = Env::new();
    let spec = env.tool_spec();
    let unlocked = env.build(&spec, "unlocked", &[]).digest();
    let r = env.lock(&spec, &[]);
    r.success("compose");
    let lock_path = spec.with_extension("lock");
    let text = fs_err::read_to_string(&lock_path).unwrap();
    assert!(
        text.contains("name = \"f-libc\"") && text.contains("version = \"1.0-2\""),
        "{text}"
    );
    assert!(
        text.contains("suite = \"testing-updates\"")
            && text.contains("source = \"archive:fixture\"")
    );
    assert!(
        text.contains("\"tool.toml\" = \"sha256:"),
        "the spec's hash is recorded"
    );
    assert!(
        text.contains("layer = \"tool-debug\"\nname = \"busybox-static\""),
        "the debug variant's layer is locked: {text}"
    );
    // Stable: locking again changes nothing; `--check` agrees.
    let again = env.lock(&spec, &[]);
    assert!(again.stdout.contains("is up to date"), "{}", again.stdout);
    assert_eq!(fs_err::read_to_string(&lock_path).unwrap(), text);
    assert_eq!(
        run(compose().args(["lock", "--check"]).arg(&spec)).code,
        Some(0)
    );

    // A build from the lock: same bytes, no index downloaded.
    let before = env.server.requests().len();
    let locked = env.build(&spec, "locked", &["--locked"]).digest();
    assert_eq!(locked, unlocked);
    let new_requests = &env.server.requests()[before..];
    assert!(
        new_requests.iter().all(|p| !p.contains("/dists/")),
        "no index fetched: {new_requests:?}"
    );

    // The spec changes: `--check` and `--locked` refuse, a plain build re-resolves and warns.
    let changed = fs_err::read_to_string(&spec)
        .unwrap()
        .replace("LANG = \"C.UTF-8\"", "LANG = \"C\"");
    fs_err::write(&spec, changed).unwrap();
    let check = run(compose().args(["lock", "--check"]).arg(&spec));
    assert_eq!(check.code, Some(1));
    assert!(
        check.stderr.contains("tool.toml changed"),
        "{}",
        check.stderr
    );
    env.build(&spec, "stale", &["--locked"])
        .fails_with("is stale: tool.toml changed");
    let r = env.build(&spec, "stale", &[]);
    r.digest();
    assert!(
        r.stderr.contains("warning:") && r.stderr.contains("stale"),
        "{}",
        r.stderr
    );
    // `--update` refreshes it and reports no package change.
    let up = env.lock(&spec, &["--update"]);
    up.success("compose");
    assert!(up.stdout.contains("no package changed"), "{}", up.stdout);
    assert_eq!(
        run(compose().args(["lock", "--check"]).arg(&spec)).code,
        Some(0)
    );
}

#[test]
fn offline_builds_use_only_the_cache_and_name_what_is_missing() {
    let env = Env::new();
    let spec = env.tool_spec();
    let mirror = format!("fixture={}", env.server.url());
    let r = env.lock(&spec, &[]);
    r.success("compose");
    // Empty cache: every missing .deb is named.
    let r = run(compose()
        .args([
            "build",
            "--locked",
            "--offline",
            "--mirror",
            &mirror,
            "--cache-dir",
        ])
        .arg(env.path("empty-cache"))
        .arg("--output")
        .arg(format!("oci:{}", env.path("img").display()))
        .arg(&spec));
    r.fails_with("missing from the cache");
    for deb in [
        "f-tool_1.0-1_amd64.deb",
        "f-libc_1.0-2_amd64.deb",
        "f-base-files_1.0-1_all.deb",
    ] {
        assert!(r.stderr.contains(deb), "{deb} named:\n{}", r.stderr);
    }
    assert!(!env.path("img").exists());
    // Warm cache, server gone: the same digest.
    let online = env.build(&spec, "online", &["--locked"]).digest();
    let url = env.server.url();
    drop(env.server);
    let r = run(compose()
        .args([
            "build",
            "--locked",
            "--offline",
            "--mirror",
            &format!("fixture={url}"),
            "--cache-dir",
        ])
        .arg(env.work.path().join("cache"))
        .arg("--output")
        .arg(format!("oci:{}", env.work.path().join("offline").display()))
        .arg(&spec));
    assert_eq!(r.digest(), online);
}

#[test]
fn verify_rebuilds_from_the_lock_and_names_differences() {
    let env = Env::new();
    let spec = env.tool_spec();
    let mirror = format!("fixture={}", env.server.url());
    let r = env.lock(&spec, &[]);
    r.success("compose");
    let digest = env.build(&spec, "img", &[]).digest();
    let verify = || {
        run(compose()
            .args(["verify", "--mirror", &mirror, "--cache-dir"])
            .arg(env.path("cache"))
            .arg("--output")
            .arg(format!("oci:{}", env.path("img").display()))
            .arg(&spec))
    };
    assert_eq!(verify().digest(), digest);
    // Another build at the destination (other mtimes): verify names the layer and a file.
    let r = run(compose()
        .env("SOURCE_DATE_EPOCH", "1000000000")
        .args(["build", "--mirror", &mirror, "--cache-dir"])
        .arg(env.path("cache"))
        .arg("--output")
        .arg(format!("oci:{}", env.path("img").display()))
        .arg(&spec));
    r.digest();
    let v = verify();
    assert_eq!(v.code, Some(1));
    assert!(
        v.stderr.contains("first differing layer: #1"),
        "{}",
        v.stderr
    );
    assert!(
        v.stderr.contains("first differing file: `") && v.stderr.contains("mtime differs"),
        "{}",
        v.stderr
    );
}

#[test]
fn diff_of_two_locks_as_a_table_and_json() {
    let env = Env::new();
    let spec = env.tool_spec();
    let r = env.lock(&spec, &[]);
    r.success("compose");
    let old = spec.with_extension("lock");
    let text = fs_err::read_to_string(&old).unwrap();
    // Craft a newer lock: f-libc downgraded to 1.0-1, f-provider removed, f-new added.
    let new_text = text
        .replace("version = \"1.0-2\"", "version = \"1.0-1\"")
        .replace("name = \"f-provider\"", "name = \"f-new\"");
    let new = env.path("new.lock");
    fs_err::write(&new, new_text).unwrap();
    let r = run(compose().arg("diff").arg(&old).arg(&new));
    r.success("compose");
    assert!(
        r.stdout
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("PACKAGE ")),
        "{}",
        r.stdout
    );
    let line = |name: &str| {
        r.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        line("f-libc"),
        "f-libc amd64 downgraded 1.0-2 -> 1.0-1 testing-updates (updates) - -",
        "{}",
        r.stdout
    );
    assert!(line("f-provider").contains("removed"), "{}", r.stdout);
    assert!(line("f-new").contains("added"), "{}", r.stdout);
    let j = run(compose().arg("diff").arg("--json").arg(&old).arg(&new));
    let report: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert!(
        report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "f-libc"
                && r["change"] == "downgraded"
                && r["platforms"] == serde_json::json!(["linux/amd64"]))
    );
}

// Issue 12: the variant decides the user; debug keeps what the chain starts and adds
// `[debug] include`; env values name package versions.

/// A runtime-like spec: an entrypoint and cmd, a debug-only package, versions in the env.
fn runtime_spec(env: &Env) -> PathBuf {
    env.spec(
        "rt",
        "[packages]\ninclude = [\"f-tool\"]\n\n[paths]\nexclude = [\"/usr/lib/f-jvm/lib/ct.sym\"]\n\n[debug]\ninclude = [\"f-jdk\"]\n\n[config]\nentrypoint = [\"/usr/bin/ftool\", \"-x\"]\ncmd = [\"app\"]\nenv = { LIBC = \"{upstream-version:f-libc}\", LIBC_DEB = \"{version:f-libc}\", BRACES = \"{{x}}\" }\n",
    )
}

fn env_of(img: &crate::harness::Image) -> Vec<String> {
    img.config["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// The runtime spec built once per variant (latest, nonroot, debug, debug-nonroot).
fn runtime_images() -> &'static BTreeMap<&'static str, Image> {
    static IMAGES: OnceLock<BTreeMap<&'static str, Image>> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let env = Env::new();
        let spec = runtime_spec(&env);
        let mut images = BTreeMap::new();
        for variant in ["latest", "nonroot", "debug", "debug-nonroot"] {
            env.build(&spec, &format!("rt-{variant}"), &["--variant", variant])
                .digest();
            images.insert(variant, read_image(&env.path(&format!("rt-{variant}"))));
        }
        images
    })
}

/// The variant decides the user; debug or not, the image starts the runtime, and its
/// environment is the spec's (busybox on the PATH in debug).
#[test]
fn the_variant_decides_the_user_and_debug_keeps_the_entrypoint() {
    for (variant, img) in runtime_images() {
        let cfg = &img.config["config"];
        let want = if variant.contains("nonroot") {
            ("65532", "/home/nonroot")
        } else {
            ("0", "/")
        };
        assert_eq!(
            (cfg["User"].as_str(), cfg["WorkingDir"].as_str()),
            (Some(want.0), Some(want.1)),
            "{variant}"
        );
        // Debug or not, the image starts the runtime.
        assert_eq!(
            cfg["Entrypoint"],
            serde_json::json!(["/usr/bin/ftool", "-x"]),
            "{variant}"
        );
        assert_eq!(cfg["Cmd"], serde_json::json!(["app"]), "{variant}");
        let envs = env_of(img);
        for want in ["LIBC=1.0", "LIBC_DEB=1.0-2", "BRACES={x}"] {
            assert!(envs.iter().any(|e| e == want), "{variant}: {envs:?}");
        }
        let path = envs.iter().find(|e| e.starts_with("PATH=")).unwrap();
        assert_eq!(
            path.ends_with(":/busybox"),
            variant.starts_with("debug"),
            "{variant}: {path}"
        );
    }
}

/// The debug layer: busybox, the applet links and `[debug] include` with its dependencies
/// already below; the spec's `[paths]` filter applies to it too.
#[test]
fn the_debug_layer_holds_busybox_and_the_debug_includes() {
    let images = runtime_images();
    let (latest, debug) = (&images["latest"], &images["debug"]);
    assert_eq!(debug.layer_digests[..1], latest.layer_digests[..]);
    assert_eq!(debug.layers.len(), 2);
    let top = &debug.layers[1];
    for path in [
        "usr/bin/busybox",
        "busybox/sh",
        "usr/lib/f-jvm/bin/fjavac",
        "var/lib/dpkg/status.d/f-jdk",
        "var/lib/dpkg/status.d/busybox-static",
    ] {
        assert!(top.contains_key(path), "{path} in the debug layer");
    }
    assert!(
        !top.contains_key("usr/lib/f-jvm/lib/ct.sym"),
        "[paths] exclude holds"
    );
    assert!(
        !top.contains_key("var/lib/dpkg/status.d/f-tool"),
        "f-tool stays below"
    );
    assert!(
        !latest
            .merged()
            .keys()
            .any(|k| k.contains("f-jvm") || k.contains("busybox"))
    );
    assert_eq!(
        images["debug-nonroot"].layer_digests, debug.layer_digests,
        "same layers"
    );
}

/// A chain that starts nothing starts busybox's shell in debug.
#[test]
fn a_debug_image_of_a_chain_that_starts_nothing_starts_busybox_sh() {
    let env = Env::new();
    let plain = env.spec("plain", "[packages]\ninclude = [\"f-base-files\"]\n");
    env.build(&plain, "plain-debug", &["--variant", "debug"])
        .digest();
    let cfg = &read_image(&env.path("plain-debug")).config["config"];
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/busybox/sh"]));
    assert!(cfg["Cmd"].is_null(), "{cfg}");
    assert_eq!(cfg["User"], "0");
}

#[test]
fn env_templates_take_versions_from_the_plan_and_the_lock() {
    let env = Env::new();
    // The debug-only package's version: `before:+` cuts the build number off.
    let spec = env.spec(
        "jdk",
        "[packages]\ninclude = [\"f-tool\"]\n\n[debug]\ninclude = [\"f-jdk\"]\n\n[config]\nenv = { JDK = \"{upstream-version:f-jdk|before:+}\", JDK_FULL = \"{upstream-version:f-jdk}\" }\n",
    );
    let resolved = env
        .build(&spec, "resolved", &["--variant", "debug"])
        .digest();
    let envs = env_of(&read_image(&env.path("resolved")));
    assert!(envs.iter().any(|e| e == "JDK=2.5.1"), "{envs:?}");
    assert!(envs.iter().any(|e| e == "JDK_FULL=2.5.1+7"), "{envs:?}");
    // latest has no f-jdk: a one-line error naming the key and the package.
    env.build(&spec, "latest", &[])
        .fails_with("`config.env.JDK` of `jdk` names package `f-jdk`, which is not in the image");
    // The lock holds the debug layer with `[debug] include`; a build from it says the same.
    let r = env.lock(&spec, &[]);
    r.success("compose");
    let text = fs_err::read_to_string(spec.with_extension("lock")).unwrap();
    assert!(text.contains("\"jdk-debug\""), "{text}");
    for name in ["busybox-static", "f-jdk"] {
        assert!(
            text.contains(&format!("layer = \"jdk-debug\"\nname = \"{name}\"")),
            "{name}: {text}"
        );
    }
    let locked = env
        .build(
            &spec,
            "locked",
            &["--variant", "debug", "--locked", "--offline"],
        )
        .digest();
    assert_eq!(
        locked, resolved,
        "the lock gives the same bytes, env included"
    );
    // A package in no level is refused when locking, too.
    let bad = env.spec(
        "bad",
        "[packages]\ninclude = [\"f-tool\"]\n\n[config]\nenv = { V = \"{version:f-absent}\" }\n",
    );
    env.lock(&bad, &[])
        .fails_with("names package `f-absent`, which is not in the image");
    // Syntax errors point at the value when the spec loads.
    let syntax = env.spec(
        "syntax",
        "[packages]\ninclude = [\"f-tool\"]\n\n[config]\nenv = { V = \"{f-tool}\" }\n",
    );
    env.build(&syntax, "syntax", &[])
        .fails_with("syntax.toml:13:13: `config.env.V`: `{f-tool}` is not");
}

/// Issue 12: every platform distroless ships builds from the fixture, which carries each
/// architecture (its binaries are ELF headers of that machine). The index, each manifest and
/// each config say the platform as Docker does; a binary of each layer is that machine's;
/// the loader is where the kernel looks for it (through `/lib64` on amd64 and ppc64el only);
/// `{arch}` in a symlink is the Debian architecture; the lock covers what the spec asks for.
///
/// The fixture's two levels for every platform: `fbase` (`platforms = [all six]`, libc and
/// the loader) and `ftop` on it (the tool, and a symlink with `{arch}` in its target).
fn every_platform_spec(env: &Env) -> PathBuf {
    let names: Vec<String> = PLATFORMS
        .iter()
        .map(|p| format!("\"{}\"", p.name))
        .collect();
    env.spec_top(
        "fbase",
        &format!("platforms = [{}]\n", names.join(", ")),
        "[packages]\ninclude = [\"f-base-files\", \"f-libc\"]\n",
    );
    let top = env.path("ftop.toml");
    fs_err::write(
        &top,
        "name = \"ftop\"\nextends = \"fbase\"\n[packages]\ninclude = [\"f-tool\"]\n\n[[symlink]]\npath = \"/usr/bin/f-arch\"\ntarget = \"/usr/lib/f-{arch}/ftool\"\n",
    )
    .unwrap();
    top
}

/// `every_platform_spec` built once: the JSON report and each platform's image with its
/// index descriptor.
fn every_platform_build() -> &'static (serde_json::Value, Vec<(serde_json::Value, Image)>) {
    static BUILD: OnceLock<(serde_json::Value, Vec<(serde_json::Value, Image)>)> = OnceLock::new();
    BUILD.get_or_init(|| {
        let env = Env::new();
        let top = every_platform_spec(&env);
        let report = env.build(&top, "img:latest", &["--json"]).json();
        let images = read_index_images(&env.path("img"), "latest");
        (report, images)
    })
}

#[test]
fn every_platform_builds_with_its_platform_fields() {
    let (report, images) = every_platform_build();
    assert_eq!(
        report["platforms"].as_array().unwrap().len(),
        PLATFORMS.len()
    );
    assert_eq!(images.len(), PLATFORMS.len());
    for (p, (desc, img)) in PLATFORMS.iter().zip(images) {
        assert_platform(p, Some(desc), img);
        assert_eq!(img.layers.len(), 2, "{}", p.name);
    }
}

/// `e_machine` of `path` in layer `layer` of `img`.
fn machine_of(p: &PlatformFacts, img: &Image, layer: usize, path: &str) -> Option<u16> {
    let e = img.layers[layer]
        .get(path)
        .unwrap_or_else(|| panic!("{}: no {path} in layer {layer}", p.name));
    elf_machine(&e.data)
}

/// The lower layer: the library in the multiarch directory, and the loader where the kernel
/// looks for it (through `/lib64` on amd64 and ppc64el only).
#[test]
fn every_platform_has_its_libraries_and_loader_of_its_machine() {
    for (p, (_, img)) in PLATFORMS.iter().zip(&every_platform_build().1) {
        let lib = format!("usr/lib/{}/libf.so.1", p.triplet);
        assert_eq!(
            machine_of(p, img, 0, &lib),
            Some(p.machine),
            "{}: {lib}",
            p.name
        );
        let (dir, _) = p.loader.split_once('/').unwrap();
        let fs = img.merged();
        assert_eq!(
            fs.get(dir).and_then(|e| e.link.as_deref()),
            Some(format!("usr/{dir}").as_str()),
            "{}: /{} reaches the loader",
            p.name,
            p.loader
        );
        assert_eq!(
            machine_of(p, img, 0, &format!("usr/{}", p.loader)),
            Some(p.machine),
            "{}",
            p.name
        );
        assert_eq!(
            fs.contains_key("lib64"),
            p.loader.starts_with("lib64/"),
            "{}: /lib64 only where the loader is",
            p.name
        );
    }
}

/// The upper layer: the tool, its package's architecture, the `{arch}` symlink.
#[test]
fn every_platform_has_its_tool_package_and_arch_symlink() {
    for (p, (_, img)) in PLATFORMS.iter().zip(&every_platform_build().1) {
        assert_eq!(
            machine_of(p, img, 1, "usr/bin/ftool"),
            Some(p.machine),
            "{}",
            p.name
        );
        assert!(
            text(&img.layers[1]["var/lib/dpkg/status.d/f-tool"])
                .contains(&format!("Architecture: {}\n", p.debian)),
            "{}",
            p.name
        );
        assert_eq!(
            img.layers[1]["usr/bin/f-arch"].link.as_deref(),
            Some(format!("/usr/lib/f-{}/ftool", p.debian).as_str())
        );
    }
}

/// The lock covers the spec's six platforms; a build from it is the same image.
#[test]
fn the_lock_of_every_platform_rebuilds_the_same_image() {
    let env = Env::new();
    let top = every_platform_spec(&env);
    let locked = env.lock(&top, &[]);
    locked.success("compose");
    let lock = fs_err::read_to_string(env.path("ftop.lock")).unwrap();
    for p in PLATFORMS {
        assert!(lock.contains(&format!("_{}.deb", p.debian)), "{}", p.name);
    }
    let again = env.build(&top, "again:latest", &["--locked"]);
    assert_eq!(
        again.digest(),
        every_platform_build().0["digest"].as_str().unwrap()
    );
}

/// Issue 12: a platform that the spec's Debian release does not carry (riscv64 before
/// Debian 13, s390x in an LTS security suite; here i386) is named with what the release has;
/// a mirror without an architecture the release lists says so; a platform the lock lacks is
/// resolved with a warning (and refused with `--locked`).
#[test]
fn platforms_a_release_or_mirror_lacks_give_clear_errors() {
    let env = Env::new();
    let spec = env.tool_spec();
    let r = env.build(&spec, "img", &["--platform", "linux/386"]);
    r.fails_with("suite `testing` of `");
    r.fails_with(
        "` has no `i386` packages, so it cannot build `linux/386`: its release file lists amd64, arm64, armhf, ppc64el, riscv64, s390x",
    );
    r.fails_with("hint: this Debian release does not carry `linux/386`");
    assert_eq!(r.code, Some(1));
    assert!(!env.path("img").exists());

    // The mirror lost every copy of the s390x indexes its release file lists.
    fs_err::remove_dir_all(env.repo.path().join("dists/testing/main/binary-s390x")).unwrap();
    let r = env.build(&spec, "img", &["--platform", "linux/amd64,linux/s390x"]);
    r.fails_with("the mirror has no copy of `");
    r.fails_with("/dists/testing/main/binary-s390x/Packages`, which its signed release file lists");
    r.fails_with("hint: a partial mirror may leave out some architectures");
    assert_eq!(r.code, Some(1));

    // The lock has amd64 only (the spec's default); arm/v7 is resolved with a warning.
    let env = Env::new();
    let spec = env.tool_spec();
    assert_eq!(env.lock(&spec, &[]).code, Some(0));
    let r = env.build(&spec, "img:latest", &["--platform", "linux/arm/v7"]);
    r.success("compose");
    assert!(
        r.stderr
            .contains("has no packages for platform `linux/arm/v7`; resolving it"),
        "{}",
        r.stderr
    );
    let img = read_image(&env.path("img"));
    assert_platform(&PLATFORMS[2], None, &img);
    assert_eq!(elf_machine(&img.merged()["usr/bin/ftool"].data), Some(40));
    env.build(&spec, "img2", &["--platform", "linux/arm/v7", "--locked"])
        .fails_with("has no packages for platform `linux/arm/v7`");
}
