//! A hostile mirror, repository and cache against the network and metadata side: endless
//! bodies, lying lengths and files longer than signed, limits, rewritten cache files, builds
//! from a lock without metadata, and (with `support::hostile`) re-signed repositories with
//! bad keys, stale or future release files, another suite's file and invalid index fields.
//!
//! Every refusal is asserted as one line (then hints), exit 1, no output, nothing written
//! outside the output and the cache (the build runs in its own directory with its own
//! `TMPDIR`).

use std::path::{Path, PathBuf};

use crate::harness::{Run, compose, repo_root, run};
use crate::support::server::Server;

/// A served copy of the fixture repository, and a work directory the builds run in.
struct Mirror {
    server: Server,
    root: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl Mirror {
    fn fixture() -> Mirror {
        let root = tempfile::tempdir().unwrap();
        copy_dir(&repo_root().join("tests/data/repo"), root.path());
        Mirror {
            server: Server::start(root.path()),
            root,
            work: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    /// A spec on the fixture source with `extra` lines in its `[[source]]`.
    fn spec(&self, source_extra: &str) -> PathBuf {
        let key = repo_root().join("tests/data/keys/fixture-archive.gpg");
        let text = format!(
            "name = \"h\"\n\n[[source]]\narchive = \"fixture\"\nsuites = [\"testing\", \"testing-updates\"]\ncomponents = [\"main\"]\nsigned-by = \"{}\"\n{source_extra}\n\n[packages]\ninclude = [\"f-tool\"]\nexclude = [\"f-openssl\", \"f-debconf\"]\n",
            key.display()
        );
        let p = self.path("h.toml");
        fs_err::write(&p, text).unwrap();
        p
    }

    /// `compose build` in the work directory, to `oci:out`, with the cache in `cache`.
    fn build(&self, spec: &Path, extra: &[&str], env: &[(&str, &str)]) -> Run {
        let tmp = self.path("tmp");
        fs_err::create_dir_all(&tmp).unwrap();
        let mut cmd = compose();
        cmd.current_dir(self.work.path()).env("TMPDIR", &tmp);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(cmd
            .arg("build")
            .arg(spec)
            .arg("--output")
            .arg(format!("oci:{}", self.path("out").display()))
            .arg("--cache-dir")
            .arg(self.path("cache"))
            .arg("--mirror")
            .arg(format!("fixture={}", self.server.url()))
            .args(extra))
    }

    /// Remove a successful build's output (the layout and the SBOM beside it).
    fn clear_output(&self) {
        fs_err::remove_dir_all(self.path("out")).unwrap();
        for e in fs_err::read_dir(self.work.path()).unwrap() {
            let p = e.unwrap().path();
            if p.to_string_lossy().ends_with(".spdx.json") {
                fs_err::remove_file(p).unwrap();
            }
        }
    }

    fn lock(&self, spec: &Path) {
        let r = run(compose()
            .current_dir(self.work.path())
            .arg("lock")
            .arg("--mirror")
            .arg(format!("fixture={}", self.server.url()))
            .arg("--cache-dir")
            .arg(self.path("cache"))
            .arg(spec));
        assert_eq!(r.code, Some(0), "{}", r.stderr);
    }

    /// A refusal: exit 1, `needle` in the first line, no output, and nothing in the work
    /// directory but the specs, locks, the cache and an empty `TMPDIR`.
    fn refused(&self, r: &Run, needle: &str) {
        r.fails_with(needle);
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        let first = r.stderr.lines().next().unwrap();
        assert!(
            first.contains(needle),
            "not on the first line:\n{}",
            r.stderr
        );
        self.assert_clean();
    }

    fn assert_clean(&self) {
        for e in fs_err::read_dir(self.work.path()).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let ok = name == "cache"
                || name == "tmp"
                || name.ends_with(".toml")
                || name.ends_with(".lock");
            assert!(ok, "left behind: {name}");
        }
        let tmp: Vec<_> = fs_err::read_dir(self.path("tmp")).unwrap().collect();
        assert!(tmp.is_empty(), "left in TMPDIR: {tmp:?}");
    }

    fn url(&self, rel: &str) -> String {
        format!("{}/{rel}", self.server.url())
    }

    fn deb(&self, prefix: &str) -> (String, u64) {
        let path = find_file(&self.root.path().join("pool"), prefix);
        let rel = path.strip_prefix(self.root.path()).unwrap();
        let len = fs_err::metadata(&path).unwrap().len();
        (rel.to_string_lossy().into_owned(), len)
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for e in fs_err::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs_err::copy(e.path(), &dest).unwrap();
        }
    }
}

fn find_file(dir: &Path, prefix: &str) -> PathBuf {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs_err::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap().to_string_lossy().starts_with(prefix) {
                return p;
            }
        }
    }
    panic!("no {prefix} under {}", dir.display());
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs_err::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn an_endless_release_file_stops_at_10_mib() {
    let m = Mirror::fixture();
    let spec = m.spec("");
    m.server.endless_next("/testing/InRelease", 1);
    let start = std::time::Instant::now();
    let r = m.build(&spec, &[], &[]);
    m.refused(
        &r,
        &format!(
            "`{}` is larger than the limit of 10 MiB for a release file",
            m.url("dists/testing/InRelease")
        ),
    );
    assert!(start.elapsed().as_secs() < 60, "{:?}", start.elapsed());
}

#[test]
fn a_huge_content_length_is_refused_before_the_body() {
    let m = Mirror::fixture();
    let spec = m.spec("");
    const TEN_TB: u64 = 10_000_000_000_000;
    m.server
        .content_length_next("/testing/InRelease", 1, TEN_TB);
    let r = m.build(&spec, &[], &[]);
    m.refused(
        &r,
        &format!(
            "`{}` is larger than the limit of 10 MiB for a release file",
            m.url("dists/testing/InRelease")
        ),
    );
    let (deb, size) = m.deb("f-tool_");
    m.server.content_length_next(&deb, 1, TEN_TB);
    let r = m.build(&spec, &[], &[]);
    m.refused(
        &r,
        &format!(
            "`{}` sends more than the {size} bytes its signed index lists",
            m.url(&deb)
        ),
    );
    // Every copy of an index lies: each is named, none is read.
    fs_err::remove_dir_all(m.path("cache")).unwrap();
    for suffix in ["Packages.gz", "Packages.xz", "Packages"] {
        m.server
            .content_length_next(&format!("testing/main/binary-amd64/{suffix}"), 1, TEN_TB);
    }
    for hash in files(
        &m.root
            .path()
            .join("dists/testing/main/binary-amd64/by-hash"),
    ) {
        let name = hash.file_name().unwrap().to_string_lossy().into_owned();
        m.server.content_length_next(&name, 1, TEN_TB);
    }
    let r = m.build(&spec, &[], &[]);
    m.refused(&r, "no copy of `");
    let sends_more = r.stderr.matches("sends more than the").count();
    assert!(sends_more >= 6, "every copy refused:\n{}", r.stderr);
}

#[test]
fn a_body_longer_than_signed_or_endless_is_cut_off() {
    let m = Mirror::fixture();
    let spec = m.spec("");
    let (deb, size) = m.deb("f-tool_");
    let needle = format!(
        "`{}` sends more than the {size} bytes its signed index lists",
        m.url(&deb)
    );
    // Without a length (the body ends when the connection closes), with an honest length of
    // the longer body, and without end.
    m.server.longer_next(&deb, 1, 1 << 20, false);
    m.refused(&m.build(&spec, &[], &[]), &needle);
    m.server.longer_next(&deb, 1, 1, true);
    m.refused(&m.build(&spec, &[], &[]), &needle);
    m.server.endless_next(&deb, 1);
    m.refused(&m.build(&spec, &[], &[]), &needle);
    // A length shorter than the file: only that much is read, and it is not the file.
    m.server.content_length_next(&deb, 1, size - 10);
    m.refused(
        &m.build(&spec, &[], &[]),
        &format!(
            "`{}` is {} bytes, but the signed index lists {size}",
            m.url(&deb),
            size - 10
        ),
    );
    // The mirror behaves again: the same build succeeds.
    m.build(&spec, &[], &[]).digest();
}

#[test]
fn size_limits_are_checked_before_download_and_can_be_changed() {
    let m = Mirror::fixture();
    let spec = m.spec("");
    let (_, size) = m.deb("f-tool_");
    let before = m.server.requests().len();
    let r = m.build(&spec, &[], &[("COMPOSE_MAX_DEB_SIZE", "512")]);
    assert!(size > 512);
    m.refused(&r, "more than the limit of 512 bytes for a package");
    assert!(
        r.stderr
            .contains("hint: if the file is genuine, raise the limit with `COMPOSE_MAX_DEB_SIZE`"),
        "{}",
        r.stderr
    );
    assert!(
        !m.server.requests()[before..]
            .iter()
            .any(|p| p.ends_with(".deb")),
        "no package downloaded"
    );
    let r = m.build(&spec, &[], &[("COMPOSE_MAX_INDEX_SIZE", "100")]);
    m.refused(
        &r,
        "` is listed with 1595 bytes, more than the limit of 100 bytes for an index",
    );
    assert!(
        r.stderr.starts_with(&format!(
            "error: `{}",
            m.url("dists/testing/main/binary-amd64/by-hash/SHA256/")
        )),
        "{}",
        r.stderr
    );
    let r = m.build(&spec, &[], &[("COMPOSE_MAX_INDEX_SIZE", "lots")]);
    m.refused(
        &r,
        "invalid `COMPOSE_MAX_INDEX_SIZE` value `lots`: expected a number of bytes",
    );
}

#[test]
fn rewritten_cache_files_never_change_the_image() {
    let m = Mirror::fixture();
    let spec = m.spec("");
    let digest = m.build(&spec, &[], &[]).digest();
    m.clear_output();
    let cache = m.path("cache");
    let blobs = cache.join("sha256");
    let rewritable: Vec<PathBuf> = files(&cache)
        .into_iter()
        .filter(|p| !p.starts_with(&blobs))
        .collect();
    assert!(!rewritable.is_empty(), "the release files are cached");
    // What an older compose kept: a slim index with a self-hash header, here forged to list
    // a package no signature covers, under the hash of each index.
    let forged = "Package: f-tool\nVersion: 9.9-9\nArchitecture: amd64\nFilename: pool/evil.deb\nSize: 4\nSHA256: 0000000000000000000000000000000000000000000000000000000000000000\n\n";
    let header = {
        use sha2::Digest;
        format!("sha256:{}\n", hex::encode(sha2::Sha256::digest(forged)))
    };
    for index in files(
        &m.root
            .path()
            .join("dists/testing/main/binary-amd64/by-hash"),
    ) {
        let name = index.file_name().unwrap().to_owned();
        fs_err::create_dir_all(cache.join("slim")).unwrap();
        fs_err::write(cache.join("slim").join(name), format!("{header}{forged}")).unwrap();
    }
    let testing = fs_err::read(m.root.path().join("dists/testing/InRelease")).unwrap();
    let updates = fs_err::read(m.root.path().join("dists/testing-updates/InRelease")).unwrap();
    let variants: [(&str, Box<dyn Fn(&Path)>); 4] = [
        (
            "garbage",
            Box::new(|p| fs_err::write(p, b"garbage").unwrap()),
        ),
        ("empty", Box::new(|p| fs_err::write(p, b"").unwrap())),
        // Another suite's signed release file in each slot.
        (
            "swapped",
            Box::new(|p| {
                let other = if fs_err::read(p).unwrap() == testing {
                    &updates
                } else {
                    &testing
                };
                fs_err::write(p, other).unwrap()
            }),
        ),
        // Larger than any release file may be.
        (
            "huge",
            Box::new(|p| fs_err::File::create(p).unwrap().set_len(1 << 40).unwrap()),
        ),
    ];
    for (what, rewrite) in &variants {
        for p in &rewritable {
            if p.exists() {
                rewrite(p);
            }
        }
        let offline = m.build(&spec, &["--offline"], &[]);
        if offline.code == Some(0) {
            assert_eq!(offline.digest(), digest, "{what}");
        } else {
            m.refused(&offline, "error: ");
            assert!(
                offline.stderr.contains("InRelease"),
                "{what}: names the release file:\n{}",
                offline.stderr
            );
        }
        assert_eq!(m.build(&spec, &[], &[]).digest(), digest, "{what}, online");
        m.clear_output();
    }
    // A blob replaced by a huge sparse file is not read: it is downloaded again.
    let (deb, _) = m.deb("f-tool_");
    let hex = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            fs_err::read(m.root.path().join(&deb)).unwrap(),
        ))
    };
    fs_err::File::create(blobs.join(&hex))
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    assert_eq!(m.build(&spec, &[], &[]).digest(), digest);
    assert!(fs_err::metadata(blobs.join(&hex)).unwrap().len() < 1 << 20);
}

#[test]
fn a_build_from_the_lock_needs_no_release_file() {
    let m = Mirror::fixture();
    let spec = m.spec("");
    let digest = m.build(&spec, &[], &[]).digest();
    m.lock(&spec);
    m.clear_output();
    // The suites are gone from the mirror (or would be refused): the lock is enough, and
    // no release file or index is asked for.
    fs_err::remove_dir_all(m.root.path().join("dists")).unwrap();
    let before = m.server.requests().len();
    let fresh = m.path("cache");
    fs_err::remove_dir_all(&fresh).unwrap();
    assert_eq!(m.build(&spec, &["--locked"], &[]).digest(), digest);
    let asked = &m.server.requests()[before..];
    assert!(
        asked.iter().all(|p| p.ends_with(".deb")),
        "only packages fetched: {asked:?}"
    );
}
