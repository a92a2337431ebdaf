//! The layer cache against the fixture repository: a rebuild with nothing changed reads no
//! package, a change rebuilds only the layers above it, every input of the key counts, and
//! a cache entry that is not what it claims is dropped and rebuilt, and a cache shared
//! between machines (`--layer-cache oci:DIR` or `docker://HOST/REPO`) gives a machine with an
//! empty cache the same image without a single `.deb`.

use std::path::{Path, PathBuf};

use crate::fixture::Env;
use crate::harness::Run;

/// A two-level family (`fbase` below `ftop`), locked.
fn family(env: &Env) -> PathBuf {
    env.spec(
        "fbase",
        "[packages]\ninclude = [\"f-base-files\", \"f-libc\", \"f-ca-certificates\"]\n",
    );
    let top = env.path("ftop.toml");
    fs_err::write(
        &top,
        "name = \"ftop\"\nextends = \"fbase\"\n[packages]\ninclude = [\"f-tool\"]\n",
    )
    .unwrap();
    env.lock(&top, &[]).success("compose lock");
    top
}

/// Which layers of a `--json` report came from the cache.
fn cached(run: &Run) -> Vec<bool> {
    run.success("compose build");
    run.json()["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["cached"].as_bool().unwrap())
        .collect()
}

fn layer_digests(run: &Run) -> Vec<String> {
    run.json()["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect()
}

fn digest(run: &Run) -> String {
    run.success("compose build");
    run.json()["digest"].as_str().unwrap().to_owned()
}

fn debs_asked(env: &Env) -> usize {
    env.server
        .requests()
        .iter()
        .filter(|p| p.ends_with(".deb"))
        .count()
}

fn cache_blobs(env: &Env) -> PathBuf {
    env.path("cache/layers/blobs/sha256")
}

#[test]
fn a_rebuild_with_nothing_changed_reads_no_package_and_gives_the_same_bytes() {
    let env = Env::new();
    let top = family(&env);
    let first = env.build(&top, "a", &["--json"]);
    assert_eq!(cached(&first), [false, false]);
    // The packages themselves are gone and the build may not download: only the layer
    // cache can answer.
    fs_err::remove_dir_all(env.path("cache/sha256")).unwrap();
    let asked = debs_asked(&env);
    let second = env.build(&top, "b", &["--json", "--offline", "--locked"]);
    assert_eq!(cached(&second), [true, true]);
    assert_eq!(digest(&second), digest(&first));
    assert_eq!(debs_asked(&env), asked, "no .deb was downloaded");
    let a = fs_err::read(env.path("a/index.json")).unwrap();
    assert_eq!(a, fs_err::read(env.path("b/index.json")).unwrap());
    // The SBOM (licences included) and the report are the same but for the output and
    // where the layers came from.
    assert_eq!(
        fs_err::read(env.path("a.latest.spdx.json")).unwrap(),
        fs_err::read(env.path("b.latest.spdx.json")).unwrap()
    );
    let (mut x, mut y) = (first.json(), second.json());
    for v in [&mut x, &mut y] {
        for l in v["layers"].as_array_mut().unwrap() {
            l.as_object_mut().unwrap().remove("cached");
        }
        for k in ["output", "outputs", "sbom"] {
            v.as_object_mut().unwrap().remove(k);
        }
    }
    assert_eq!(x, y);
}

#[test]
fn changing_the_top_level_rebuilds_only_the_top_layer() {
    let env = Env::new();
    let top = family(&env);
    let first = env.build(&top, "a", &["--json"]);
    cached(&first);
    let text = fs_err::read_to_string(&top).unwrap();
    fs_err::write(
        &top,
        format!("{text}\n[[symlink]]\npath = \"/usr/bin/tool\"\ntarget = \"ftool\"\n"),
    )
    .unwrap();
    let second = env.build(&top, "b", &["--json"]);
    assert_eq!(cached(&second), [true, false]);
    let (a, b) = (layer_digests(&first), layer_digests(&second));
    assert_eq!(a[0], b[0]);
    assert_ne!(a[1], b[1]);
    // The lower level alone, as its own image, is the cached layer too.
    let base = env.build(&env.path("fbase.toml"), "base", &["--json"]);
    assert_eq!(cached(&base), [true]);
    assert_eq!(layer_digests(&base)[0], a[0]);
}

#[test]
fn every_input_of_the_key_counts() {
    let env = Env::new();
    let top = family(&env);
    let gzip = env.build(&top, "a", &["--json"]);
    cached(&gzip);
    let zstd = env.build(&top, "b", &["--json", "--compression", "zstd"]);
    assert_eq!(cached(&zstd), [false, false], "another compression");
    let epoch = crate::harness::run(
        crate::harness::compose()
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .arg("build")
            .arg(&top)
            .arg("--json")
            .arg("--output")
            .arg(format!("oci:{}", env.path("c").display()))
            .arg("--cache-dir")
            .arg(env.path("cache"))
            .arg("--mirror")
            .arg(format!("fixture={}", env.server.url())),
    );
    assert_eq!(cached(&epoch), [false, false], "another SOURCE_DATE_EPOCH");
    let debug = env.build(&top, "d", &["--json", "--variant", "debug"]);
    let debug_cached = cached(&debug);
    assert_eq!(debug_cached[..2], [true, true], "the same lower levels");
    assert!(!debug_cached[2], "the debug layer is new");
    let arm = env.build(&top, "e", &["--json", "--platform", "linux/arm64"]);
    assert_eq!(cached(&arm), [false, false], "another platform");
}

/// Replace a file's bytes with as many other bytes (a length check alone would pass).
fn flip(path: &Path) {
    let mut bytes = fs_err::read(path).unwrap();
    for b in &mut bytes {
        *b = !*b;
    }
    fs_err::remove_file(path).unwrap();
    fs_err::write(path, bytes).unwrap();
}

#[test]
fn a_cached_layer_that_fails_its_digest_is_dropped_and_rebuilt() {
    let env = Env::new();
    let top = family(&env);
    let first = env.build(&top, "a", &["--json"]);
    cached(&first);
    let top_layer = layer_digests(&first)[1].clone();
    let blob = cache_blobs(&env).join(top_layer.trim_start_matches("sha256:"));
    flip(&blob);
    let second = env.build(&top, "b", &["--json"]);
    second.stderr_has("does not match its digest");
    assert_eq!(cached(&second), [true, false]);
    assert_eq!(digest(&second), digest(&first));
    // Rebuilt and kept again: the next build hits, with the right bytes.
    let third = env.build(&top, "c", &["--json"]);
    assert_eq!(cached(&third), [true, true]);
    assert_eq!(digest(&third), digest(&first));

    // An entry naming another layer's blob (whose size is not the entry's) is refused too.
    let entries = env.path("cache/layers/entries");
    for e in fs_err::read_dir(&entries).unwrap() {
        let path = e.unwrap().path();
        let text = fs_err::read_to_string(&path).unwrap();
        fs_err::write(&path, text.replace(&top_layer, &layer_digests(&first)[0])).unwrap();
    }
    let fourth = env.build(&top, "d", &["--json"]);
    assert_eq!(digest(&fourth), digest(&first));
}

#[test]
fn no_layer_cache_neither_reads_nor_writes_it() {
    let env = Env::new();
    let top = family(&env);
    let off = env.build(&top, "a", &["--json", "--no-layer-cache"]);
    assert_eq!(cached(&off), [false, false]);
    assert!(!env.path("cache/layers").exists(), "nothing kept");
    let on = env.build(&top, "b", &["--json"]);
    assert_eq!(cached(&on), [false, false]);
    let off = env.build(&top, "c", &["--json", "--no-layer-cache"]);
    assert_eq!(cached(&off), [false, false], "nothing reused");
    assert_eq!(digest(&off), digest(&on));
}

/// A build with its own (empty unless used before) `--cache-dir`, as on another machine.
fn build_elsewhere(env: &Env, top: &Path, out: &str, cache: &str, extra: &[&str]) -> Run {
    let cache = env.path(cache);
    let mut args = vec!["--json", "--cache-dir", cache.to_str().unwrap()];
    args.extend_from_slice(extra);
    env.build_to(top, &[format!("oci:{}", env.path(out).display())], &args)
}

/// Build 1 fills the shared cache `flag`; build 2, with an empty cache directory, takes
/// every layer from it (no `.deb` asked for) and gives the same image, and keeps the layers
/// in its own local cache too.
fn shared_cache_round_trip(env: &Env, top: &Path, flag: &str) -> String {
    let first = build_elsewhere(env, top, "a", "machine-1", &[flag]);
    assert_eq!(cached(&first), [false, false]);
    let asked = debs_asked(env);
    let second = build_elsewhere(env, top, "b", "machine-2", &["--locked", flag]);
    assert_eq!(cached(&second), [true, true]);
    assert_eq!(digest(&second), digest(&first));
    assert_eq!(debs_asked(env), asked, "not a single .deb was asked for");
    assert_eq!(
        fs_err::read(env.path("a/index.json")).unwrap(),
        fs_err::read(env.path("b/index.json")).unwrap()
    );
    let local = env.path("machine-2/layers/entries");
    assert_eq!(fs_err::read_dir(&local).unwrap().count(), 2, "written back");
    digest(&first)
}

#[test]
fn an_oci_layout_cache_is_shared_by_machines_with_empty_caches() {
    let env = Env::new();
    let top = family(&env);
    let dir = env.path("shared");
    let flag = format!("--layer-cache=oci:{}", dir.display());
    shared_cache_round_trip(&env, &top, &flag);
    // A real layout: one manifest per layer, named by its key, whose one layer is the
    // cached blob.
    let index: serde_json::Value =
        serde_json::from_slice(&fs_err::read(dir.join("index.json")).unwrap()).unwrap();
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 2);
    let layers = layer_digests(&env.build(&top, "c", &["--json"]));
    for m in manifests {
        let key = m["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .unwrap();
        assert_eq!(key.len(), 64);
        let digest = m["digest"].as_str().unwrap();
        let manifest: serde_json::Value =
            serde_json::from_slice(&crate::harness::read_blob(&dir, digest)).unwrap();
        assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
        let layer = manifest["layers"][0]["digest"].as_str().unwrap();
        assert!(layers.iter().any(|l| l == layer), "{layer}");
        assert!(dir.join("blobs/sha256").join(&layer[7..]).is_file());
    }
}

#[test]
fn a_tampered_blob_in_a_shared_layout_is_dropped_and_rebuilt() {
    let env = Env::new();
    let top = family(&env);
    let dir = env.path("shared");
    let flag = format!("--layer-cache=oci:{}", dir.display());
    let first = build_elsewhere(&env, &top, "a", "machine-1", &[&flag]);
    cached(&first);
    let top_layer = layer_digests(&first)[1].clone();
    flip(
        &dir.join("blobs/sha256")
            .join(top_layer.trim_start_matches("sha256:")),
    );
    let second = build_elsewhere(&env, &top, "b", "machine-2", &[&flag]);
    second.stderr_has("does not match its digest");
    assert_eq!(cached(&second), [true, false]);
    assert_eq!(digest(&second), digest(&first));
    // The rebuilt layer went back into the shared cache, right this time.
    let third = build_elsewhere(&env, &top, "c", "machine-3", &[&flag]);
    assert_eq!(cached(&third), [true, true]);
    assert_eq!(digest(&third), digest(&first));
}

#[test]
#[ignore = "needs docker-registry"]
fn a_registry_cache_is_shared_by_machines_with_empty_caches() {
    let registry = crate::support::registry::Registry::start(None);
    let env = Env::new();
    let top = family(&env);
    let flag = format!("--layer-cache=docker://{}/ci/layers", registry.addr());
    let image = shared_cache_round_trip(&env, &top, &flag);
    // The cached layers are ordinary blobs of the registry: an image push from the machine
    // that filled the cache mounts them instead of uploading them again.
    let push = env.build_to(
        &top,
        &[format!("docker://{}/app:v1", registry.addr())],
        &[
            "--json",
            "--cache-dir",
            env.path("machine-1").to_str().unwrap(),
        ],
    );
    push.success("the push");
    let p = &push.json()["pushes"][0];
    assert_eq!(push.json()["digest"].as_str(), Some(image.as_str()));
    assert_eq!(p["mounted"].as_u64(), Some(2), "{p}");
}

/// A layer blob rewritten in the registry's storage (same length): the entry is dropped (its
/// manifest deleted), the layer rebuilt, the image the same.
#[test]
#[ignore = "needs docker-registry"]
fn a_tampered_blob_in_a_registry_cache_is_dropped_and_rebuilt() {
    let registry = crate::support::registry::Registry::start(None);
    let env = Env::new();
    let top = family(&env);
    let flag = format!("--layer-cache=docker://{}/ci/layers", registry.addr());
    let first = build_elsewhere(&env, &top, "a", "machine-1", &[&flag]);
    cached(&first);
    let hex = layer_digests(&first)[1][7..].to_owned();
    let data = registry
        .storage()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(&hex)
        .join("data");
    flip(&data);
    let second = build_elsewhere(&env, &top, "b", "machine-2", &[&flag]);
    second.stderr_has("does not match its digest");
    assert_eq!(cached(&second), [true, false]);
    assert_eq!(digest(&second), digest(&first));
    assert!(
        registry
            .log()
            .contains("\"DELETE /v2/ci/layers/manifests/sha256:"),
        "the bad entry is deleted"
    );
}

/// A registry with Basic auth: the credentials of pushes (`--creds`) open it; without them
/// the build warns once and goes on without the shared cache.
#[test]
#[ignore = "needs docker-registry and htpasswd"]
fn a_registry_cache_takes_the_credentials_of_pushes() {
    let registry = crate::support::registry::Registry::start(Some(("alice", "s3cret")));
    let env = Env::new();
    let top = family(&env);
    let flag = format!("--layer-cache=docker://{}/ci/layers", registry.addr());
    let creds = ["--creds", "alice:s3cret"];
    let first = build_elsewhere(&env, &top, "a", "machine-1", &[&flag, creds[0], creds[1]]);
    assert_eq!(cached(&first), [false, false]);
    let second = build_elsewhere(&env, &top, "b", "machine-2", &[&flag, creds[0], creds[1]]);
    assert_eq!(cached(&second), [true, true]);
    let anonymous = build_elsewhere(&env, &top, "c", "machine-3", &[&flag]);
    anonymous.stderr_has("requires credentials");
    assert_eq!(
        anonymous.stderr.matches("warning:").count(),
        1,
        "{}",
        anonymous.stderr
    );
    assert_eq!(cached(&anonymous), [false, false]);
    assert_eq!(digest(&anonymous), digest(&first));
}

#[test]
fn a_shared_cache_that_cannot_be_reached_is_a_warning() {
    let env = Env::new();
    let top = family(&env);
    // Nothing listens on port 1.
    let run = build_elsewhere(
        &env,
        &top,
        "a",
        "machine-1",
        &["--layer-cache=docker://127.0.0.1:1/ci/layers"],
    );
    run.stderr_has("warning: the layer cache in `docker://127.0.0.1:1/ci/layers` failed");
    assert_eq!(run.stderr.matches("warning:").count(), 1, "{}", run.stderr);
    assert_eq!(cached(&run), [false, false]);
    let plain = env.build(&top, "b", &["--json", "--no-layer-cache"]);
    assert_eq!(digest(&run), digest(&plain));
}

#[test]
fn layer_cache_flags_are_checked() {
    let env = Env::new();
    let top = family(&env);
    for (flag, error) in [
        (
            "--layer-cache=s3://bucket",
            "invalid `--layer-cache s3://bucket`",
        ),
        (
            "--layer-cache=docker://127.0.0.1:5000/c:v1",
            "without a tag",
        ),
    ] {
        let run = env.build(&top, "a", &[flag]);
        run.fails_with(error);
    }
    env.build(&top, "a", &["--no-layer-cache", "--layer-cache=oci:x"])
        .fails_with("cannot be used with");
    env.build(
        &top,
        "a",
        &["--offline", "--layer-cache=docker://127.0.0.1:5000/c"],
    )
    .fails_with("`--offline` uses no network");
}
