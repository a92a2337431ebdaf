//! A hostile mirror, repository and cache against the network and metadata side: endless
//! bodies, lying lengths and files longer than signed, limits, rewritten cache files, builds
//! from a lock without metadata, and (with `support::hostile`) re-signed repositories with
//! bad keys, stale or future release files, another suite's file and invalid index fields.
//!
//! Every refusal is asserted as one line (then hints), exit 1, no output, nothing written
//! outside the output and the cache (the build runs in its own directory with its own
//! `TMPDIR`).

use std::any::Any;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use crate::harness::{Run, compose, copy_dir, files, find_file, repo_root, run};
use crate::support::hostile::{
    self, DebBuilder, Key, KeyKind, Package, ReleaseOpts, Repo, TarBuilder,
};
use crate::support::server::Server;

/// A served repository (a copy of the fixture, or a hostile one), and a work directory the
/// builds run in.
struct Mirror {
    server: Server,
    root: PathBuf,
    /// The spec's `archive` (`--mirror NAME=URL`).
    archive: &'static str,
    work: tempfile::TempDir,
    /// For a hostile repository: its key's keyring.
    keyring: Option<PathBuf>,
    /// What must live as long as the server (directories, keys).
    _keep: Vec<Box<dyn Any>>,
}

impl Mirror {
    fn fixture() -> Mirror {
        let root = tempfile::tempdir().unwrap();
        copy_dir(&repo_root().join("tests/data/repo"), root.path());
        Mirror {
            server: Server::start(root.path()),
            root: root.path().to_path_buf(),
            archive: "fixture",
            work: tempfile::tempdir().unwrap(),
            keyring: None,
            _keep: vec![Box::new(root)],
        }
    }

    /// A hostile repository of `packages` (an honest one when empty), its release file as
    /// `opts` says, signed by a new key of `kind`.
    fn hostile(kind: KeyKind, opts: &ReleaseOpts, packages: Vec<Package>) -> Mirror {
        let key = Key::generate(kind);
        Mirror::hostile_with(key, opts, packages)
    }

    fn hostile_with(key: Key, opts: &ReleaseOpts, packages: Vec<Package>) -> Mirror {
        let mut repo = Repo::new();
        let packages = if packages.is_empty() {
            vec![honest("honest")]
        } else {
            packages
        };
        for p in packages {
            repo.add(p);
        }
        repo.publish(&key, opts);
        Mirror::serve(repo, key)
    }

    fn serve(repo: Repo, key: Key) -> Mirror {
        Mirror::serve_shared(repo, &std::rc::Rc::new(key))
    }

    /// Serve `repo`, published with `key`, which other mirrors of the test share.
    fn serve_shared(repo: Repo, key: &std::rc::Rc<Key>) -> Mirror {
        Mirror {
            server: Server::start(repo.root()),
            root: repo.root().to_path_buf(),
            archive: "hostile",
            work: tempfile::tempdir().unwrap(),
            keyring: Some(key.keyring.clone()),
            _keep: vec![Box::new(repo), Box::new(key.clone())],
        }
    }

    /// A spec for the hostile suite, with `source_extra` lines in its `[[source]]`.
    fn hostile_spec(&self, source_extra: &str, include: &str) -> PathBuf {
        let text = format!(
            "name = \"h\"\n\n[[source]]\narchive = \"hostile\"\nsuites = [\"{}\"]\ncomponents = [\"main\"]\nsigned-by = \"{}\"\n{source_extra}\n\n[packages]\ninclude = [\"{include}\"]\n",
            hostile::SUITE,
            self.keyring.as_ref().unwrap().display()
        );
        let p = self.path("h.toml");
        fs_err::write(&p, text).unwrap();
        p
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
            .arg(format!("{}={}", self.archive, self.server.url()))
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
            .arg(format!("{}={}", self.archive, self.server.url()))
            .arg("--cache-dir")
            .arg(self.path("cache"))
            .arg(spec));
        r.success("compose");
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
        let path = find_file(&self.root.join("pool"), prefix);
        let rel = path.strip_prefix(&self.root).unwrap();
        let len = fs_err::metadata(&path).unwrap().len();
        (rel.to_string_lossy().into_owned(), len)
    }
}

/// A well-formed package holding one file.
fn honest(name: &str) -> Package {
    let data = TarBuilder::new()
        .dir("./")
        .dir("./usr/")
        .dir("./usr/share/")
        .file(&format!("./usr/share/{name}.txt"), b"hello\n")
        .finish();
    Package::new(
        name,
        "1.0",
        DebBuilder::new(name, "1.0", 1).data(data).build(),
    )
}

/// An amd64 index of the committed fixture repository.
fn fixture_index(suite: &str, name: &str) -> PathBuf {
    repo_root()
        .join("tests/data/repo/dists")
        .join(suite)
        .join("main/binary-amd64")
        .join(name)
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
    let (deb, size) = m.deb("f-tool_1.0-1_amd64");
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
    for hash in files(&m.root.join("dists/testing/main/binary-amd64/by-hash")) {
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
    let (deb, size) = m.deb("f-tool_1.0-1_amd64");
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
    let (_, size) = m.deb("f-tool_1.0-1_amd64");
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
    // The first copy tried: `Packages.gz` of testing, by hash.
    let gz = fs_err::metadata(fixture_index("testing", "Packages.gz"))
        .unwrap()
        .len();
    m.refused(
        &r,
        &format!("` is listed with {gz} bytes, more than the limit of 100 bytes for an index"),
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

/// The fixture mirror after one build: its spec and digest; the build's output cleared.
fn warm_fixture() -> (Mirror, PathBuf, String) {
    let m = Mirror::fixture();
    let spec = m.spec("");
    let digest = m.build(&spec, &[], &[]).digest();
    m.clear_output();
    (m, spec, digest)
}

/// What an older compose kept: a slim index with a self-hash header, here forged to list a
/// package no signature covers.
const FORGED: &str = "Package: f-tool\nVersion: 9.9-9\nArchitecture: amd64\nFilename: pool/evil.deb\nSize: 4\nSHA256: 0000000000000000000000000000000000000000000000000000000000000000\n\n";

/// The cached release files rewritten (garbage, empty, another suite's, huge) and forged
/// slim indexes beside them: an offline build refuses naming the release file or gives
/// the same image, an online one always gives the same image.
#[test]
fn rewritten_cache_files_never_change_the_image() {
    let (m, spec, digest) = warm_fixture();
    let cache = m.path("cache");
    let blobs = cache.join("sha256");
    let rewritable: Vec<PathBuf> = files(&cache)
        .into_iter()
        .filter(|p| !p.starts_with(&blobs))
        .collect();
    assert!(!rewritable.is_empty(), "the release files are cached");
    // The forged slim index under the hash of each index.
    let header = {
        use sha2::Digest;
        format!("sha256:{}\n", hex::encode(sha2::Sha256::digest(FORGED)))
    };
    for index in files(&m.root.join("dists/testing/main/binary-amd64/by-hash")) {
        let name = index.file_name().unwrap().to_owned();
        fs_err::create_dir_all(cache.join("slim")).unwrap();
        fs_err::write(cache.join("slim").join(name), format!("{header}{FORGED}")).unwrap();
    }
    let testing = fs_err::read(m.root.join("dists/testing/InRelease")).unwrap();
    let updates = fs_err::read(m.root.join("dists/testing-updates/InRelease")).unwrap();
    type Rewrite<'a> = Box<dyn Fn(&Path) + 'a>;
    let variants: [(&str, Rewrite); 4] = [
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
}

/// Every blob rewritten to hold the forged index: each is refused by its hash and
/// downloaded again (offline, each is missing).
#[test]
fn blobs_rewritten_in_the_cache_are_refused_by_their_hash() {
    let (m, spec, digest) = warm_fixture();
    for blob in files(&m.path("cache/sha256")) {
        fs_err::write(&blob, FORGED).unwrap();
    }
    let offline = m.build(&spec, &["--offline"], &[]);
    m.refused(
        &offline,
        "missing from the cache, and `--offline` forbids downloading them",
    );
    assert_eq!(m.build(&spec, &[], &[]).digest(), digest);
}

/// A blob replaced by a huge sparse file is not read: it is downloaded again.
#[test]
fn a_huge_sparse_blob_in_the_cache_is_downloaded_again() {
    let (m, spec, digest) = warm_fixture();
    let blobs = m.path("cache/sha256");
    let (deb, _) = m.deb("f-tool_1.0-1_amd64");
    let hex = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            fs_err::read(m.root.join(&deb)).unwrap(),
        ))
    };
    fs_err::File::create(blobs.join(&hex))
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    // The package cache is under test: the layer cache would not read the package at all.
    assert_eq!(m.build(&spec, &["--no-layer-cache"], &[]).digest(), digest);
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
    fs_err::remove_dir_all(m.root.join("dists")).unwrap();
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

fn index_url(m: &Mirror) -> String {
    m.url(&format!(
        "dists/{}/main/binary-amd64/Packages.gz",
        hostile::SUITE
    ))
}

fn release_url(m: &Mirror) -> String {
    m.url(&format!("dists/{}/InRelease", hostile::SUITE))
}

#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn release_files_signed_by_expired_or_revoked_keys_or_over_sha1_are_refused() {
    let cases: [(KeyKind, Option<&'static str>, &str); 5] = [
        (KeyKind::Expired, None, " expired on Fri, 01 Jan 2021 "),
        (KeyKind::Revoked, None, " is revoked"),
        (
            KeyKind::SubkeyExpired,
            None,
            "is refused: the subkey expired on Fri, 01 Jan 2021 ",
        ),
        (
            KeyKind::SubkeyRevoked,
            None,
            "is refused: the subkey is revoked",
        ),
        (
            KeyKind::Rsa,
            Some("SHA1"),
            "uses the digest SHA1, which apt no longer trusts (only SHA-2 is accepted)",
        ),
    ];
    for (kind, digest, needle) in cases {
        let opts = ReleaseOpts {
            digest,
            ..ReleaseOpts::default()
        };
        let m = Mirror::hostile(kind, &opts, Vec::new());
        let spec = m.hostile_spec("", "honest");
        let r = m.build(&spec, &[], &[]);
        m.refused(
            &r,
            &format!(
                "error: `{}` failed signature verification: no signature on the release file is valid: the signature by ",
                release_url(&m)
            ),
        );
        assert!(
            r.stderr.lines().next().unwrap().contains(needle),
            "{kind:?}:\n{}",
            r.stderr
        );
        assert!(
            m.server
                .requests()
                .iter()
                .all(|p| p.ends_with("/InRelease")),
            "{kind:?}: nothing fetched after the release file: {:?}",
            m.server.requests()
        );
    }
    // The same repository signed well, over SHA-256 or SHA-512, builds.
    for (kind, digest) in [(KeyKind::Good, None), (KeyKind::Rsa, Some("SHA512"))] {
        let opts = ReleaseOpts {
            digest,
            ..ReleaseOpts::default()
        };
        let m = Mirror::hostile(kind, &opts, Vec::new());
        m.build(&m.hostile_spec("", "honest"), &[], &[]).digest();
    }
}

/// A mirror serving the honest package under a release file made with `opts`.
fn release_with(opts: ReleaseOpts) -> Mirror {
    release_signed(opts, &std::rc::Rc::new(Key::generate(KeyKind::Good)))
}

/// The same, signed by `key`, which other mirrors of the test share.
fn release_signed(opts: ReleaseOpts, key: &std::rc::Rc<Key>) -> Mirror {
    let mut repo = Repo::new();
    repo.add(honest("honest"));
    repo.publish(key, &opts);
    Mirror::serve_shared(repo, key)
}

fn stale() -> Mirror {
    release_with(ReleaseOpts {
        valid_until: Some("Wed, 15 Nov 2023 22:13:20 UTC".into()),
        ..ReleaseOpts::default()
    })
}

/// An expired release file is refused, with a hint; for a snapshot archive the check is
/// off for this source, and the build goes through.
#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn an_expired_release_file_is_refused_unless_its_check_is_off() {
    let stale = stale();
    let r = stale.build(&stale.hostile_spec("", "honest"), &[], &[]);
    stale.refused(
        &r,
        &format!(
            "error: `{}` refused: release file expired on Wed, 15 Nov 2023 22:13:20 UTC (it is dated Tue, 14 Nov 2023 22:13:20 UTC, and this machine's clock says ",
            release_url(&stale)
        ),
    );
    r.stderr_has("set `check-valid-until = false`");
    let snapshot = stale.hostile_spec("check-valid-until = false", "honest");
    stale.build(&snapshot, &[], &[]).digest();
}

/// The cached release file is checked again on every use, offline too.
#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn a_cached_release_file_is_checked_again_offline() {
    let stale = stale();
    let snapshot = stale.hostile_spec("check-valid-until = false", "honest");
    let digest = stale.build(&snapshot, &[], &[]).digest();
    stale.clear_output();
    let strict = stale.hostile_spec("", "honest");
    let r = stale.build(&strict, &["--offline"], &[]);
    stale.refused(
        &r,
        "refused: release file expired on Wed, 15 Nov 2023 22:13:20 UTC",
    );
    let snapshot = stale.hostile_spec("check-valid-until = false", "honest");
    assert_eq!(stale.build(&snapshot, &["--offline"], &[]).digest(), digest);
}

/// A release file dated in the future is refused, whether `Valid-Until` is checked or not.
#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn a_release_file_from_the_future_is_refused() {
    let future = release_with(ReleaseOpts {
        date: Some("Fri, 01 Jan 2100 00:00:00 UTC".into()),
        ..ReleaseOpts::default()
    });
    for extra in ["", "check-valid-until = false"] {
        let r = future.build(&future.hostile_spec(extra, "honest"), &[], &[]);
        future.refused(
            &r,
            &format!(
                "error: `{}` refused: release file is not valid yet: it is dated Fri, 01 Jan 2100 00:00:00 UTC, and this machine's clock says ",
                release_url(&future)
            ),
        );
    }
}

#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn a_release_file_with_an_invalid_date_is_refused() {
    let bad_date = release_with(ReleaseOpts {
        date: Some("yesterday".into()),
        ..ReleaseOpts::default()
    });
    let r = bad_date.build(&bad_date.hostile_spec("", "honest"), &[], &[]);
    bad_date.refused(
        &r,
        "refused: release file has an invalid `Date` date `yesterday`",
    );
}

/// A release file of another suite is refused, and does not replace the copy offline
/// builds use.
#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn a_release_file_of_another_suite_is_refused_and_not_cached() {
    let key = std::rc::Rc::new(Key::generate(KeyKind::Good));
    let fresh = release_signed(
        ReleaseOpts {
            valid_until: Some("Fri, 01 Jan 2100 00:00:00 UTC".into()),
            ..ReleaseOpts::default()
        },
        &key,
    );
    let fresh_spec = fresh.hostile_spec("", "honest");
    let fresh_digest = fresh.build(&fresh_spec, &[], &[]).digest();
    fresh.clear_output();
    let other = release_signed(
        ReleaseOpts {
            suite: Some("oldstable".into()),
            codename: Some("bookworm".into()),
            ..ReleaseOpts::default()
        },
        &key,
    );
    let r = other.build(&other.hostile_spec("", "honest"), &[], &[]);
    other.refused(
        &r,
        &format!(
            "error: `{}` refused: release file is for suite `oldstable` (codename `bookworm`), not for the `{}` asked for",
            release_url(&other),
            hostile::SUITE
        ),
    );
    let inrelease = format!("dists/{}/InRelease", hostile::SUITE);
    fs_err::copy(other.root.join(&inrelease), fresh.root.join(&inrelease)).unwrap();
    let r = fresh.build(&fresh_spec, &[], &[]);
    fresh.refused(&r, "refused: release file is for suite `oldstable`");
    assert_eq!(
        fresh.build(&fresh_spec, &["--offline"], &[]).digest(),
        fresh_digest
    );
}

/// The suite asked for may be the codename, and a file naming neither is taken.
#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn the_suite_may_be_named_by_its_codename_or_not_at_all() {
    for (suite, codename) in [(Some("stable"), Some(hostile::SUITE)), (None, None)] {
        let m = release_with(ReleaseOpts {
            suite: suite.map(str::to_owned),
            codename: codename.map(str::to_owned),
            ..ReleaseOpts::default()
        });
        m.build(&m.hostile_spec("", "honest"), &[], &[]).digest();
    }
}

#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn index_sizes_that_no_package_can_have_are_one_line_errors() {
    let key = std::rc::Rc::new(Key::generate(KeyKind::Good));
    let with = |size: &str| {
        let mut repo = Repo::new();
        repo.add(honest("honest"));
        repo.add(honest("big").field("Size", size));
        repo.publish(&key, &ReleaseOpts::default());
        Mirror::serve_shared(repo, &key)
    };
    for size in ["1000000000000000", "18446744073709551615"] {
        let m = with(size);
        let r = m.build(&m.hostile_spec("", "big"), &[], &[]);
        m.refused(
            &r,
            &format!(
                "error: invalid index `{}`: package `big` states a size of {size} bytes, more than any package may have (1 TiB)",
                index_url(&m)
            ),
        );
    }
    let m = with("18446744073709551616");
    let r = m.build(&m.hostile_spec("", "honest"), &[], &[]);
    m.refused(
        &r,
        "package `big` has an invalid `Size` value `18446744073709551616`",
    );
    // Within what a package may be, above the limit: refused before any download.
    let m = with("8589934592");
    let r = m.build(&m.hostile_spec("", "big"), &[], &[]);
    m.refused(
        &r,
        "_amd64.deb` is listed with 8589934592 bytes, more than the limit of 4 GiB for a package",
    );
    assert!(
        !m.server.requests().iter().any(|p| p.ends_with(".deb")),
        "{:?}",
        m.server.requests()
    );
    // Listed larger than it is: the body is complete and not the listed file.
    let m = with("2147483648");
    let r = m.build(&m.hostile_spec("", "big"), &[], &[]);
    m.refused(&r, "bytes, but the signed index lists 2147483648");
}

#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn index_fields_that_could_leave_the_archive_are_refused() {
    let key = std::rc::Rc::new(Key::generate(KeyKind::Good));
    let cases = [
        ("Filename", "../../../../etc/passwd"),
        ("Filename", "/etc/passwd"),
        ("Filename", "pool/%2e%2e/%2e%2e/x.deb"),
        ("Filename", "pool//x.deb"),
        ("Filename", "pool/x.deb?y=1"),
        ("Filename", "pool/x.deb#y"),
        ("Filename", "pool\\..\\x.deb"),
        ("Package", "../../x"),
        ("Package", "Evil"),
        ("Version", "1.0/../../x"),
        ("Architecture", "amd64/../../x"),
        (
            "SHA256",
            "../../../../../../../../../../../../../../../../../../../../etc/passwd",
        ),
    ];
    for (field, value) in cases {
        let mut repo = Repo::new();
        repo.add(honest("honest"));
        repo.add(honest("evil").field(field, value));
        repo.publish(&key, &ReleaseOpts::default());
        let m = Mirror::serve_shared(repo, &key);
        let r = m.build(&m.hostile_spec("", "honest"), &[], &[]);
        let package = if field == "Package" { value } else { "evil" };
        m.refused(
            &r,
            &format!(
                "error: invalid index `{}`: package `{package}` has an invalid `{field}` value `{}`",
                index_url(&m),
                value.escape_debug()
            ),
        );
        assert!(
            !m.server.requests().iter().any(|p| p.ends_with(".deb")),
            "{field}: {:?}",
            m.server.requests()
        );
    }
}

#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn a_large_index_with_a_character_across_the_parsing_chunk_boundary_is_read() {
    let key = Key::generate(KeyKind::Good);
    let mut repo = Repo::new();
    repo.add(honest("honest"));
    let listed = repo.publish(&key, &ReleaseOpts::default());
    // Padding paragraphs up to just before 4 MiB, then one whose `€` (3 bytes) straddles
    // byte 4 MiB, then the real package.
    const CHUNK: usize = 4 << 20;
    let sha = "a".repeat(64);
    let para = |i: usize, desc: &str| {
        format!(
            "Package: pad{i}\nVersion: 1\nArchitecture: all\nDescription: {desc}\nFilename: pool/pad{i}.deb\nSize: 1\nSHA256: {sha}\n\n"
        )
    };
    let mut index = String::new();
    let mut i = 0;
    while index.len() < CHUNK - 300 {
        index.push_str(&para(i, "padding padding padding padding"));
        i += 1;
    }
    let head = format!("Package: pad{i}\nVersion: 1\nArchitecture: all\nDescription: ");
    let fill = CHUNK - index.len() - head.len() - 1;
    index.push_str(&head);
    index.push_str(&"x".repeat(fill));
    index.push('€');
    index.push_str(&format!(
        "\nFilename: pool/pad{i}.deb\nSize: 1\nSHA256: {sha}\n\n"
    ));
    assert!(!index.is_char_boundary(CHUNK));
    index.push_str(&listed);
    repo.publish_index(&key, &ReleaseOpts::default(), index.as_bytes());
    let m = Mirror::serve(repo, key);
    m.build(&m.hostile_spec("", "honest"), &[], &[]).digest();
}

#[test]
fn a_warm_build_reads_indexes_only_from_blobs_the_release_file_names() {
    let m = Mirror::fixture();
    let spec = m.spec("");
    let digest = m.build(&spec, &[], &[]).digest();
    m.clear_output();
    // The decompressed index is kept under the SHA256 the release file lists for the plain
    // `Packages` (here the one of suite testing), and nothing else is derived.
    let plain = hex::encode(sha2::Sha256::digest(
        fs_err::read(fixture_index("testing", "Packages")).unwrap(),
    ));
    assert!(m.path("cache/sha256").join(&plain).is_file());
    let dirs: Vec<String> = fs_err::read_dir(m.path("cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        dirs.iter()
            .all(|d| d == "sha256" || d == "signed" || d == "layers"),
        "{dirs:?}"
    );
    let before = m.server.requests().len();
    assert_eq!(m.build(&spec, &[], &[]).digest(), digest);
    let asked = &m.server.requests()[before..];
    assert!(
        asked.iter().all(|p| p.ends_with("/InRelease")),
        "a warm build asks only for the release files: {asked:?}"
    );
}
