//! Vendored inputs (issue 15) against the fixture repository: `compose vendor SPEC DIR` writes
//! the lock's InRelease, indexes and `.deb`s (again: a no-op; a second spec adds to DIR), and
//! `compose build --vendor DIR` builds the same image without the mirror, refusing a DIR whose
//! files were tampered with, naming the file.

use std::path::{Path, PathBuf};

use crate::fixture::Env;
use crate::harness::{Run, compose, copy_dir, find_file, repo_root, require, run};

/// `compose vendor SPEC DIR` against the fixture mirror and the shared cache.
pub(crate) fn vendor(env: &Env, spec: &Path, dir: &Path) -> Run {
    vendor_with_cache(env, spec, dir, "cache")
}

fn vendor_with_cache(env: &Env, spec: &Path, dir: &Path, cache: &str) -> Run {
    run(compose()
        .arg("vendor")
        .arg(spec)
        .arg(dir)
        .arg("--mirror")
        .arg(format!("fixture={}", env.server.url()))
        .arg("--cache-dir")
        .arg(env.path(cache)))
}

/// `compose build SPEC --vendor DIR` into `oci:OUT`, with the cache `cache` (no mirror).
pub(crate) fn vendored_build(env: &Env, spec: &Path, dir: &Path, out: &str, cache: &str) -> Run {
    run(compose()
        .arg("build")
        .arg(spec)
        .arg("--vendor")
        .arg(dir)
        .arg("--output")
        .arg(format!("oci:{}", env.path(out).display()))
        .arg("--cache-dir")
        .arg(env.path(cache)))
}

/// `(files, new)` of `vendored SPEC into DIR: N files, M new`.
fn counts(r: &Run) -> (usize, usize) {
    r.success("compose vendor");
    let line = r.stdout.trim();
    let tail = line.rsplit_once(": ").map(|(_, t)| t).unwrap_or_default();
    let numbers: Vec<usize> = tail
        .split(", ")
        .map(|w| w.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(numbers.len(), 2, "{line}");
    (numbers[0], numbers[1])
}

/// The fixture's tool spec, locked, vendored into `vendored/`, and its online digest.
fn vendored_tool(env: &Env) -> (PathBuf, PathBuf, String) {
    let spec = env.tool_spec();
    env.lock(&spec, &[]).success("compose lock");
    let online = env.build(&spec, "online", &["--locked"]).digest();
    let dir = env.path("vendored");
    vendor(env, &spec, &dir).success("compose vendor");
    (spec, dir, online)
}

#[test]
fn vendoring_is_idempotent_and_builds_the_same_image_without_the_mirror() {
    let env = Env::new();
    let spec = env.tool_spec();
    let dir = env.path("vendored");
    // Without a lock there is nothing to vendor.
    vendor(&env, &spec, &dir).fails_with("tool.lock` does not exist");
    env.lock(&spec, &[]).success("compose lock");
    let online = env.build(&spec, "online", &["--locked"]).digest();

    let (files, new) = counts(&vendor(&env, &spec, &dir));
    assert!(files > 4 && new == files, "{files} files, {new} new");
    let tree = dir.join("archive/fixture");
    for rel in [
        "dists/testing/InRelease",
        "dists/testing-updates/InRelease",
        "dists/testing/main/binary-amd64/Packages.gz",
    ] {
        assert!(tree.join(rel).is_file(), "{rel}");
    }
    assert_eq!(
        fs_err::read(tree.join("dists/testing/InRelease")).unwrap(),
        fs_err::read(repo_root().join("tests/data/repo/dists/testing/InRelease")).unwrap(),
        "the InRelease as published"
    );
    find_file(&tree.join("pool"), "f-tool_");

    // Again: nothing written, nothing asked of the mirror.
    let before = env.server.requests().len();
    assert_eq!(counts(&vendor(&env, &spec, &dir)), (files, 0));
    assert_eq!(env.server.requests().len(), before, "a no-op asks nothing");

    // A second spec adds to the directory; the manifest lists both.
    let second = env.spec("second", "[packages]\ninclude = [\"f-tool\"]\n");
    env.lock(&second, &[]).success("compose lock");
    let (_, _) = counts(&vendor(&env, &second, &dir));
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs_err::read(dir.join("compose-vendor.json")).unwrap()).unwrap();
    let images = manifest["images"].as_object().unwrap();
    assert!(
        images.contains_key("tool") && images.contains_key("second"),
        "{manifest}"
    );
    let files = manifest["files"].as_object().unwrap();
    let inrelease = &files["archive/fixture/dists/testing/InRelease"];
    assert_eq!(
        inrelease["sha256"].as_str().unwrap().len(),
        64,
        "{inrelease}"
    );

    // From the directory alone, a fresh cache, the mirror untouched: the same image.
    let before = env.server.requests().len();
    let r = vendored_build(&env, &spec, &dir, "from-vendor", "fresh-cache");
    assert_eq!(r.digest(), online, "the vendored build is the online build");
    assert_eq!(
        env.server.requests().len(),
        before,
        "no request to the mirror"
    );
    let r = vendored_build(&env, &second, &dir, "second", "fresh-cache-2");
    r.success("the second spec from the same directory");

    // `compose lock --vendor` resolves from the directory alone: the same lock.
    let lock = spec.with_extension("lock");
    let locked = fs_err::read_to_string(&lock).unwrap();
    run(compose()
        .args(["lock", "--update", "--vendor"])
        .arg(&dir)
        .arg("--cache-dir")
        .arg(env.path("fresh-cache-3"))
        .arg(&spec))
    .success("compose lock --vendor");
    assert_eq!(fs_err::read_to_string(&lock).unwrap(), locked);
    assert_eq!(
        env.server.requests().len(),
        before,
        "no request to the mirror"
    );

    // One directory holds one release of each suite: a spec whose lock names another one
    // than an image already there is refused (here the manifest says `tool` has another).
    let manifest_path = dir.join("compose-vendor.json");
    let text = fs_err::read_to_string(&manifest_path).unwrap();
    let tool_release = manifest["images"]["tool"]["sources"][0]["release"]
        .as_str()
        .unwrap();
    let other = format!("sha256:{}", "0".repeat(64));
    fs_err::write(&manifest_path, text.replace(tool_release, &other)).unwrap();
    let r = vendor(&env, &second, &dir);
    r.fails_with("for image `tool`, and the lock of `second` names");
    r.stderr_has("vendor into another directory");
}

#[test]
fn tampered_vendored_files_are_refused_naming_them() {
    let env = Env::new();
    let (spec, dir, _) = vendored_tool(&env);
    let tree = Path::new("archive/fixture");
    let deb = find_file(&dir.join(tree).join("pool"), "f-tool_")
        .strip_prefix(&dir)
        .unwrap()
        .to_path_buf();
    let index = tree.join("dists/testing/main/binary-amd64/Packages.gz");
    let release = tree.join("dists/testing/InRelease");
    let flip = |path: &Path| {
        let mut bytes = fs_err::read(path).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x20;
        fs_err::write(path, bytes).unwrap();
    };
    let cases: [(&Path, &str); 3] = [
        (&deb, "sha256 mismatch for `file://"),
        (
            &index,
            "in the vendored directory matches its signed release file",
        ),
        (&release, "failed signature verification"),
    ];
    for (n, (rel, want)) in cases.iter().enumerate() {
        let copy = env.path(&format!("tampered-{n}"));
        copy_dir(&dir, &copy);
        flip(&copy.join(rel));
        let r = vendored_build(&env, &spec, &copy, &format!("t{n}"), &format!("cache-t{n}"));
        r.fails_with(want);
        r.stderr_has(&copy.join(rel).display().to_string());
    }
    // A symlink where a file should be is not followed.
    let copy = env.path("symlinked");
    copy_dir(&dir, &copy);
    fs_err::remove_file(copy.join(&deb)).unwrap();
    std::os::unix::fs::symlink(dir.join(&deb), copy.join(&deb)).unwrap();
    let r = vendored_build(&env, &spec, &copy, "sym", "cache-sym");
    r.fails_with("is a symbolic link");
    r.stderr_has(&copy.join(&deb).display().to_string());
    // A lock naming another release than the vendored one is refused.
    let lock = spec.with_extension("lock");
    let text = fs_err::read_to_string(&lock).unwrap();
    let first = text.find("release = \"sha256:").unwrap() + "release = \"sha256:".len();
    let mut other = text.clone();
    other.replace_range(first..first + 64, &"0".repeat(64));
    fs_err::write(&lock, other).unwrap();
    vendored_build(&env, &spec, &dir, "other", "cache-other")
        .fails_with("is not the release file the lock names");
}

/// `compose vendor` never writes through a symlink inside DIR.
#[test]
fn vendoring_does_not_write_through_a_symlink() {
    let env = Env::new();
    let spec = env.tool_spec();
    env.lock(&spec, &[]).success("compose lock");
    let dir = env.path("vendored");
    let elsewhere = env.path("elsewhere");
    fs_err::create_dir_all(&dir).unwrap();
    fs_err::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.join("archive")).unwrap();
    let r = vendor(&env, &spec, &dir);
    r.fails_with("is a symbolic link");
    r.stderr_has(&dir.join("archive").display().to_string());
    assert_eq!(fs_err::read_dir(&elsewhere).unwrap().count(), 0);
}

/// Debian publishes a new InRelease every few hours: vendoring later takes the lock's from
/// the cache (the copy the lock was made from), and without it refuses, saying what to do.
#[test]
fn vendoring_after_the_mirror_moved_on_uses_the_locked_release_or_refuses() {
    let env = Env::new();
    let spec = env.tool_spec();
    env.lock(&spec, &[]).success("compose lock");
    let online = env.build(&spec, "online", &["--locked"]).digest();
    // The mirror now serves another signed release file as `testing`.
    let dists = env.served().join("dists");
    fs_err::copy(
        dists.join("testing-updates/InRelease"),
        dists.join("testing/InRelease"),
    )
    .unwrap();
    let r = vendor_with_cache(&env, &spec, &env.path("fresh"), "fresh-cache");
    r.fails_with("testing/InRelease` is not the release file the lock names");
    r.stderr_has("compose lock --update");
    let dir = env.path("vendored");
    vendor(&env, &spec, &dir).success("compose vendor from the cache's release file");
    assert_eq!(
        fs_err::read(dir.join("archive/fixture/dists/testing/InRelease")).unwrap(),
        fs_err::read(repo_root().join("tests/data/repo/dists/testing/InRelease")).unwrap(),
        "the lock's release file, not the mirror's new one"
    );
    let r = vendored_build(&env, &spec, &dir, "from-vendor", "empty-cache");
    assert_eq!(r.digest(), online);
}

/// The proof that a vendored build needs no network: the network cut off with `unshare`.
#[test]
#[ignore = "needs root for unshare --net"]
fn a_vendored_build_needs_no_network() {
    require(&["unshare"]);
    let env = Env::new();
    let (spec, dir, online) = vendored_tool(&env);
    let r = run(compose()
        .under(&["unshare", "--net", "--"])
        .arg("build")
        .arg(&spec)
        .arg("--vendor")
        .arg(&dir)
        .arg("--output")
        .arg(format!("oci:{}", env.path("offline").display()))
        .arg("--cache-dir")
        .arg(env.path("empty-cache")));
    assert_eq!(r.digest(), online, "no network, same bytes");
}

/// A vendored release file outlives its `Valid-Until`: the lock's hash pins it, so neither
/// `compose vendor`, `build --vendor` nor `lock --vendor` enforces the date, while resolving
/// from the mirror still refuses the expired file.
#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn a_pinned_release_file_past_its_valid_until_still_builds() {
    use crate::support::hostile::{
        DebBuilder, Key, KeyKind, Package, ReleaseOpts, Repo, TarBuilder,
    };
    use sha2::Digest as _;
    require(&["gpg"]);
    let key = Key::generate(KeyKind::Good);
    let mut repo = Repo::new();
    let data = TarBuilder::new()
        .dir("./")
        .dir("./usr/")
        .file("./usr/honest.txt", b"hello\n")
        .finish();
    let deb = DebBuilder::new("honest", "1.0", 1).data(data).build();
    repo.add(Package::new("honest", "1.0", deb));
    repo.publish(
        &key,
        &ReleaseOpts {
            valid_until: Some("Wed, 15 Nov 2023 22:13:20 UTC".into()),
            ..ReleaseOpts::default()
        },
    );
    let server = crate::support::server::Server::start(repo.root());
    let mirror = format!("hostile={}", server.url());
    let work = tempfile::tempdir().unwrap();
    let at = |rel: &str| work.path().join(rel);
    let spec = Repo::spec(
        work.path(),
        "h",
        &key,
        "[packages]\ninclude = [\"honest\"]\n",
    );
    let strict = fs_err::read_to_string(&spec).unwrap();
    let hash = |text: &str| hex::encode(sha2::Sha256::digest(text.as_bytes()));
    // The lock is made with the check off (as against a snapshot archive) ...
    let relaxed = strict.replace(
        "components = [\"main\"]\n",
        "components = [\"main\"]\ncheck-valid-until = false\n",
    );
    fs_err::write(&spec, &relaxed).unwrap();
    let lock = |extra: &[&str]| {
        run(compose()
            .arg("lock")
            .args(extra)
            .arg("--cache-dir")
            .arg(at("cache"))
            .arg(&spec))
    };
    lock(&["--mirror", &mirror]).success("compose lock");
    // ... then the spec checks `Valid-Until` again, and its lock still names that release.
    fs_err::write(&spec, &strict).unwrap();
    let lock_path = spec.with_extension("lock");
    let text = fs_err::read_to_string(&lock_path).unwrap();
    fs_err::write(&lock_path, text.replace(&hash(&relaxed), &hash(&strict))).unwrap();
    lock(&["--update", "--mirror", &mirror]).fails_with("release file expired");

    let dir = at("vendored");
    run(compose()
        .arg("vendor")
        .arg(&spec)
        .arg(&dir)
        .arg("--mirror")
        .arg(&mirror)
        .arg("--cache-dir")
        .arg(at("cache")))
    .success("compose vendor");
    let build = |extra: &[&str], out: &str, cache: &str| {
        run(compose()
            .arg("build")
            .arg(&spec)
            .args(extra)
            .arg("--output")
            .arg(format!("oci:{}", at(out).display()))
            .arg("--cache-dir")
            .arg(at(cache)))
    };
    let online = build(&["--locked", "--mirror", &mirror], "online", "cache").digest();
    let vendored = build(&["--vendor", dir.to_str().unwrap()], "from-vendor", "empty");
    assert_eq!(vendored.digest(), online);
    lock(&["--update", "--vendor", dir.to_str().unwrap()]).success("compose lock --vendor");
}
