//! Publishing the fixture image: `oci-archive` and `docker-archive` outputs read back by
//! skopeo, and pushes to a real registry (Debian's `docker-registry` on 127.0.0.1) directly
//! and through a fault-injecting proxy: uploads only of what is missing, mounts, chunked
//! uploads, Basic and Bearer authentication, retries, and re-runs that complete a push.

use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::fixture::Env;
use crate::harness::{Run, read_image, require};
use crate::support::registry::{Proxy, Registry, outward_ip};

fn skopeo(args: &[&str]) -> Vec<u8> {
    let o = Command::new("skopeo").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The report of a successful `--json` build.
fn report(r: &Run) -> serde_json::Value {
    r.success("the build");
    serde_json::from_str(&r.stdout).unwrap()
}

/// Two levels (parent and child) so pushes share a layer.
fn family_specs(env: &Env) -> (std::path::PathBuf, std::path::PathBuf) {
    let base = env.spec(
        "fbase",
        "[packages]\ninclude = [\"f-base-files\", \"f-libc\"]\n\n[annotations]\ndescription = \"fixture base\"\nversion = \"1.0\"\n",
    );
    let top = env.path("ftop.toml");
    fs_err::write(
        &top,
        "name = \"ftop\"\nextends = \"fbase\"\n[packages]\ninclude = [\"f-tool\"]\n[annotations]\ndescription = \"fixture top\"\n",
    )
    .unwrap();
    (base, top)
}

fn push(env: &Env, spec: &Path, dest: &str, extra: &[&str]) -> Run {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    env.build_to(spec, &[format!("docker://{dest}")], &args)
}

/// The three local outputs of the fixture's top image, tagged `v1`, with a version
/// annotation: `layout{suffix}`, `img{suffix}.oci.tar`, `img{suffix}.docker.tar`.
fn archives(env: &Env, suffix: &str) -> serde_json::Value {
    let (_, top) = family_specs(env);
    let outputs = vec![
        format!("oci:{}:v1", env.path(&format!("layout{suffix}")).display()),
        format!(
            "oci-archive:{}:v1",
            env.path(&format!("img{suffix}.oci.tar")).display()
        ),
        format!(
            "docker-archive:{}:compose-fixture/ftop:v1",
            env.path(&format!("img{suffix}.docker.tar")).display()
        ),
    ];
    let r = report(&env.build_to(&top, &outputs, &["--json", "--annotation", "version=2.0"]));
    assert_eq!(r["outputs"].as_array().unwrap().len(), 3);
    r
}

/// Annotations: defaults, the spec's (the child's description wins), then the flag's.
#[test]
fn annotations_are_the_defaults_then_the_spec_s_then_the_flag_s() {
    let env = Env::new();
    let r = archives(&env, "");
    let img = crate::harness::read_image_tag(&env.path("layout"), "v1");
    assert_eq!(img.manifest_digest, r["digest"].as_str().unwrap());
    let a = &img.manifest["annotations"];
    assert_eq!(a["org.opencontainers.image.title"], "ftop");
    assert_eq!(a["org.opencontainers.image.description"], "fixture top");
    assert_eq!(a["org.opencontainers.image.version"], "2.0");
    assert_eq!(
        a["org.opencontainers.image.created"].as_str(),
        img.config["created"].as_str()
    );
    assert_eq!(r["annotations"], *a);
}

/// skopeo reads the OCI archive (the same manifest bytes) and the docker archive (the same
/// config and layers), and copies the docker archive into a layout with the same files.
#[test]
#[ignore = "needs skopeo"]
fn skopeo_reads_both_archives_back() {
    require(&["skopeo"]);
    let env = Env::new();
    let digest = archives(&env, "")["digest"].as_str().unwrap().to_owned();
    let img = crate::harness::read_image_tag(&env.path("layout"), "v1");
    let oci = format!("oci-archive:{}:v1", env.path("img.oci.tar").display());
    assert_eq!(sha256(&skopeo(&["inspect", "--raw", &oci])), digest);
    let docker = format!("docker-archive:{}", env.path("img.docker.tar").display());
    let m: serde_json::Value =
        serde_json::from_slice(&skopeo(&["inspect", "--raw", &docker])).unwrap();
    assert_eq!(m["config"]["digest"], img.manifest["config"]["digest"]);
    assert_eq!(m["layers"].as_array().unwrap().len(), 2);
    let copied = env.path("copied");
    skopeo(&["copy", &docker, &format!("oci:{}:x", copied.display())]);
    let back = read_image(&copied);
    assert_eq!(
        back.merged().keys().collect::<Vec<_>>(),
        img.merged().keys().collect::<Vec<_>>()
    );
}

/// `docker load` names the image from the docker archive's manifest.json.
#[test]
fn a_docker_archive_names_its_image_and_config() {
    let env = Env::new();
    archives(&env, "");
    let img = crate::harness::read_image_tag(&env.path("layout"), "v1");
    let mut tar = tar::Archive::new(fs_err::File::open(env.path("img.docker.tar")).unwrap());
    let manifest_json = tar
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.path().unwrap().to_str() == Some("manifest.json"))
        .map(|mut e| {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut v).unwrap();
            serde_json::from_slice::<serde_json::Value>(&v).unwrap()
        })
        .expect("manifest.json in the docker archive");
    assert_eq!(manifest_json[0]["RepoTags"][0], "compose-fixture/ftop:v1");
    let config = img.manifest["config"]["digest"].as_str().unwrap();
    assert_eq!(
        manifest_json[0]["Config"],
        format!("blobs/sha256/{}", config.trim_start_matches("sha256:"))
    );
}

#[test]
fn every_local_output_has_its_sbom_beside_it() {
    let env = Env::new();
    archives(&env, "");
    for f in [
        "layout.v1.spdx.json",
        "img.oci.tar.spdx.json",
        "img.docker.tar.spdx.json",
    ] {
        assert!(env.path(f).is_file(), "{f} missing");
    }
}

/// Built again elsewhere: the archives are the same bytes.
#[test]
fn archives_built_twice_are_the_same_bytes() {
    let env = Env::new();
    let r = archives(&env, "");
    let again = archives(&env, "2");
    assert_eq!(again["digest"], r["digest"]);
    for (a, b) in [
        ("img.oci.tar", "img2.oci.tar"),
        ("img.docker.tar", "img2.docker.tar"),
    ] {
        assert!(
            fs_err::read(env.path(a)).unwrap() == fs_err::read(env.path(b)).unwrap(),
            "{a} and {b} differ"
        );
    }
}

/// A docker archive holds one platform: refused before anything is built or written.
#[test]
fn a_docker_archive_of_several_platforms_is_refused_early() {
    let env = Env::new();
    let (_, top) = family_specs(&env);
    let multi = env.build_to(
        &top,
        &[format!(
            "docker-archive:{}",
            env.path("multi.tar").display()
        )],
        &["--platform", "linux/amd64,linux/arm64"],
    );
    multi.fails_with("can hold one platform");
    assert!(!env.path("multi.tar").exists());
}

/// A registry behind a recording proxy, and the fixture's two-level family.
struct Pushing {
    registry: Registry,
    proxy: Proxy,
    host: String,
    env: Env,
    base: std::path::PathBuf,
    top: std::path::PathBuf,
}

impl Pushing {
    fn new() -> Pushing {
        require(&["skopeo"]);
        let registry = Registry::start(None);
        let proxy = Proxy::start(&registry.addr());
        let host = proxy.url_host();
        let env = Env::new();
        let (base, top) = family_specs(&env);
        Pushing {
            registry,
            proxy,
            host,
            env,
            base,
            top,
        }
    }

    /// Push `spec` to `HOST/{dest}` with `--json`, assert success, return the report.
    fn push(&self, spec: &Path, dest: &str) -> serde_json::Value {
        report(&push(
            &self.env,
            spec,
            &format!("{}/{dest}", self.host),
            &[],
        ))
    }

    /// The digest of what the registry serves for `HOST/{dest}`.
    fn served(&self, dest: &str) -> String {
        let target = format!("docker://{}/{dest}", self.host);
        sha256(&skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &target,
        ]))
    }
}

/// The parent: every blob uploaded (two: layer and config), and the registry serves our
/// digest.
#[test]
#[ignore = "needs docker-registry and skopeo"]
fn a_first_push_uploads_every_blob() {
    let t = Pushing::new();
    let r = t.push(&t.base, "fbase:v1");
    let p = &r["pushes"][0];
    assert_eq!(
        (
            p["uploaded"].as_u64(),
            p["existing"].as_u64(),
            p["mounted"].as_u64()
        ),
        (Some(2), Some(0), Some(0)),
        "{p}"
    );
    assert_eq!(p["digest"], r["digest"], "the registry's digest is ours");
    assert_eq!(t.served("fbase:v1"), r["digest"].as_str().unwrap());
}

/// The child into the parent's repository: the shared lower layer is not uploaded again.
#[test]
#[ignore = "needs docker-registry and skopeo"]
fn a_child_pushed_beside_its_parent_skips_the_shared_layer() {
    let t = Pushing::new();
    t.push(&t.base, "fbase:v1");
    let r = t.push(&t.top, "fbase:top");
    let p = &r["pushes"][0];
    assert_eq!(
        (p["uploaded"].as_u64(), p["existing"].as_u64()),
        (Some(2), Some(1)),
        "{p}"
    );
}

/// Into another repository: every blob mounted from the first, none uploaded; the same
/// push again finds everything there.
#[test]
#[ignore = "needs docker-registry and skopeo"]
fn a_push_to_another_repository_mounts_the_blobs() {
    let t = Pushing::new();
    t.push(&t.base, "fbase:v1");
    t.push(&t.top, "fbase:top");
    let before = t.registry.blob_upload_puts("ftop");
    let r = t.push(&t.top, "ftop:v1");
    let p = &r["pushes"][0];
    assert_eq!(
        (p["uploaded"].as_u64(), p["mounted"].as_u64()),
        (Some(0), Some(3)),
        "{p}"
    );
    assert_eq!(
        t.registry.blob_upload_puts("ftop"),
        before,
        "no blob went up again"
    );
    assert!(
        t.proxy
            .requests()
            .iter()
            .any(|r| r.starts_with("POST ") && r.contains("mount=sha256"))
    );
    let r = t.push(&t.top, "ftop:v1");
    assert_eq!(r["pushes"][0]["existing"].as_u64(), Some(3));
}

/// skopeo copies the pushed image out: the same manifest and files as a local build.
#[test]
#[ignore = "needs docker-registry and skopeo"]
fn a_pushed_image_copied_out_is_the_local_build() {
    let t = Pushing::new();
    t.push(&t.top, "ftop:v1");
    let copied = t.env.path("copied");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/ftop:v1", t.host),
        &format!("oci:{}:x", copied.display()),
    ]);
    let local = t.env.build(&t.top, "local", &[]);
    let back = read_image(&copied);
    assert_eq!(back.manifest_digest, local.digest());
    assert_eq!(back.merged(), read_image(&t.env.path("local")).merged());
}

/// Chunked uploads (a tiny chunk size, a fresh cache so nothing is mounted): the registry
/// checks the digest of what it assembled.
#[test]
#[ignore = "needs docker-registry and skopeo"]
fn chunked_uploads_assemble_the_same_digest() {
    let t = Pushing::new();
    let cold = t.env.path("cold-cache");
    let r = report(&t.env.build_to(
        &t.top,
        &[format!("docker://{}/chunked:v1", t.host)],
        &[
            "--json",
            "--push-chunk-size",
            "1K",
            "--cache-dir",
            cold.to_str().unwrap(),
        ],
    ));
    assert_eq!(r["pushes"][0]["uploaded"].as_u64(), Some(3));
    let patches = t
        .proxy
        .requests()
        .iter()
        .filter(|r| r.starts_with("PATCH /v2/chunked/blobs/uploads/"))
        .count();
    assert!(patches >= 2, "chunked uploads use PATCH: {patches}");
    assert_eq!(t.served("chunked:v1"), r["digest"].as_str().unwrap());
}

#[test]
#[ignore = "needs docker-registry and htpasswd"]
fn registry_credentials_basic_from_the_flag_or_docker_s_config() {
    let registry = Registry::start(Some(("alice", "s3cret")));
    let env = Env::new();
    let (base, _) = family_specs(&env);
    let dest = format!("{}/fbase:v1", registry.addr());
    // Nobody's config file is read by accident.
    let no_config = env.path("no-docker-config");
    let build = |extra: &[&str], docker_config: &Path| {
        let mut args = vec!["--json"];
        args.extend_from_slice(extra);
        let mut cmd = crate::harness::compose();
        cmd.env("DOCKER_CONFIG", docker_config)
            .env_remove("COMPOSE_CREDS")
            .arg("build")
            .arg(&base)
            .arg("--output")
            .arg(format!("docker://{dest}"))
            .arg("--cache-dir")
            .arg(env.path("cache"))
            .arg("--mirror")
            .arg(format!("fixture={}", env.server.url()))
            .args(&args);
        crate::harness::run(&mut cmd)
    };
    build(&[], &no_config).fails_with("requires credentials");
    build(&["--creds", "alice:wrong"], &no_config)
        .fails_with("rejected the credentials of `alice` from --creds");
    let r = report(&build(&["--creds", "alice:s3cret"], &no_config));
    assert_eq!(r["pushes"][0]["uploaded"].as_u64(), Some(2));
    // `docker login`'s file: an `auths` entry for the host.
    let config = env.path("docker-config");
    fs_err::create_dir_all(&config).unwrap();
    let auth = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "alice:s3cret");
    fs_err::write(
        config.join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
            registry.addr()
        ),
    )
    .unwrap();
    let r = report(&build(&[], &config));
    assert_eq!(r["pushes"][0]["existing"].as_u64(), Some(2));
}

/// Bearer tokens from the challenge's token service (the proxy plays one).
#[test]
#[ignore = "needs docker-registry"]
fn registry_credentials_bearer() {
    let env = Env::new();
    let (base, _) = family_specs(&env);
    let open = Registry::start(None);
    let proxy = Proxy::start(&open.addr());
    proxy.require_bearer("bob", "pw");
    let dest = format!("{}/bearer:v1", proxy.url_host());
    push(&env, &base, &dest, &[]).fails_with("requires credentials");
    push(&env, &base, &dest, &["--creds", "bob:nope"])
        .fails_with("rejected the credentials of `bob`");
    let r = report(&push(&env, &base, &dest, &["--creds", "bob:pw"]));
    assert_eq!(r["pushes"][0]["uploaded"].as_u64(), Some(2));
    assert!(
        proxy
            .token_queries()
            .iter()
            .any(|q| q.contains("scope=repository%3Abearer%3Apull%2Cpush")
                && q.contains("service=compose-test")),
        "{:?}",
        proxy.token_queries()
    );
}

/// One 500 on a blob upload and one on the manifest: retried, the push completes.
#[test]
#[ignore = "needs docker-registry"]
fn transient_push_faults_are_retried() {
    let registry = Registry::start(None);
    let env = Env::new();
    let (base, _) = family_specs(&env);
    let proxy = Proxy::start(&registry.addr());
    proxy.fail_next("PUT", "/blobs/uploads/", 1, 500);
    proxy.fail_next("PUT", "/manifests/", 1, 503);
    let r = report(&push(
        &env,
        &base,
        &format!("{}/flaky:v1", proxy.url_host()),
        &[],
    ));
    assert_eq!(r["pushes"][0]["uploaded"].as_u64(), Some(2));
    let seen = proxy.requests();
    assert!(
        seen.iter()
            .filter(|r| r.starts_with("PUT /v2/flaky/manifests/v1"))
            .count()
            >= 2,
        "{seen:?}"
    );
}

/// A registry that keeps failing: a clear error after the retries, and no local output;
/// through a healthy path the same push completes.
#[test]
#[ignore = "needs docker-registry"]
fn a_registry_that_keeps_failing_is_reported_and_nothing_is_written() {
    let registry = Registry::start(None);
    let env = Env::new();
    let (_, top) = family_specs(&env);
    let broken = Proxy::start(&registry.addr());
    broken.fail_next("PUT", "/blobs/uploads/", 1000, 500);
    let layout = env.path("not-written");
    let r = env.build_to(
        &top,
        &[
            format!("oci:{}", layout.display()),
            format!("docker://{}/broken:v1", broken.url_host()),
        ],
        &[],
    );
    r.fails_with("HTTP 500");
    assert!(!layout.exists(), "a failed push leaves no local output");
    let r = report(&push(
        &env,
        &top,
        &format!("{}/broken:v1", registry.addr()),
        &[],
    ));
    assert!(r["pushes"][0]["digest"].is_string());
}

/// The registry goes away in the middle of a push: the error says so; a re-run, once it is
/// back, uploads only what is missing. Each of the three blobs takes a HEAD, a POST and a
/// PUT, so after 7 forwarded requests one or two blobs are complete, whatever the order of
/// the concurrent uploads.
#[test]
#[ignore = "needs docker-registry"]
fn a_push_cut_midway_resumes_with_only_what_is_missing() {
    let registry = Registry::start(None);
    let env = Env::new();
    let (_, top) = family_specs(&env);
    let dying = Proxy::start(&registry.addr());
    dying.die_after(7);
    let dest = format!("{}/midway:v1", dying.url_host());
    let cache_dir = env.path("cache-midway");
    let cache = ["--cache-dir", cache_dir.to_str().unwrap()];
    push(&env, &top, &dest, &cache).fails_with("cannot reach the registry");
    let landed = registry.blob_upload_puts("midway");
    assert!(
        (1..3).contains(&landed),
        "{landed} blobs landed before the failure"
    );
    dying.revive();
    let r = report(&push(&env, &top, &dest, &cache));
    let p = &r["pushes"][0];
    assert_eq!(
        (
            p["uploaded"].as_u64(),
            p["existing"].as_u64(),
            p["mounted"].as_u64()
        ),
        (Some(3 - landed as u64), Some(landed as u64), Some(0)),
        "{p}"
    );
    assert_eq!(
        registry.blob_upload_puts("midway"),
        3,
        "no blob went up twice"
    );
}

/// The registry stopped: refused connections are retried, then reported; after a restart
/// the push completes.
#[test]
#[ignore = "needs docker-registry and skopeo"]
fn a_stopped_registry_is_reported_and_a_restart_completes_the_push() {
    require(&["skopeo"]);
    let mut registry = Registry::start(None);
    let env = Env::new();
    let (_, top) = family_specs(&env);
    registry.stop();
    let dest = format!("{}/stopped:v1", registry.addr());
    push(&env, &top, &dest, &[]).fails_with("cannot reach the registry");
    registry.restart();
    let r = report(&push(&env, &top, &dest, &[]));
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{dest}"),
    ]);
    assert_eq!(sha256(&raw), r["digest"].as_str().unwrap());
}

#[test]
fn bad_destinations_and_flags_are_refused_early() {
    let env = Env::new();
    let (base, _) = family_specs(&env);
    for (dest, needle) in [
        ("docker://python3:latest", "registry's host"),
        ("docker://127.0.0.1:1/Bad", "lowercase"),
        ("docker-archive:x.tar:Bad:1", "invalid image name"),
        ("tarball:x", "unsupported destination"),
    ] {
        env.build_to(&base, &[dest.to_owned()], &[])
            .fails_with(needle);
    }
    env.build_to(&base, &[], &["--annotation", "colour=red"])
        .fails_with("reverse-domain");
    env.build_to(&base, &[], &["--push-chunk-size", "8X"])
        .fails_with("size like");
    env.build_to(&base, &[], &["--creds", "nopassword"])
        .fails_with("USER:PASSWORD");
    // Nothing listens on port 1: the error names the registry and hints at a re-run.
    push(&env, &base, "127.0.0.1:1/x", &[])
        .fails_with("cannot reach the registry at `http://127.0.0.1:1/");
}

/// A registry that is not on loopback is reached over HTTPS only; `--insecure` allows plain
/// HTTP (after HTTPS failed).
#[test]
#[ignore = "needs docker-registry"]
fn plain_http_only_for_loopback_or_with_insecure() {
    let registry = Registry::start(None);
    let Some(ip) = outward_ip() else {
        crate::harness::report_skip(
            "publish::plain_http_only_for_loopback_or_with_insecure: no address besides loopback",
        );
        return;
    };
    let proxy = Proxy::start_on(&ip, &registry.addr());
    let env = Env::new();
    let (base, _) = family_specs(&env);
    let dest = format!("{}/remote:v1", proxy.url_host());
    push(&env, &base, &dest, &[]).fails_with(&format!(
        "cannot reach the registry at `https://{}/",
        proxy.url_host()
    ));
    assert!(
        proxy.requests().iter().all(|r| !r.contains("/v2/remote/")),
        "nothing went over plain HTTP: {:?}",
        proxy.requests()
    );
    let r = report(&push(&env, &base, &dest, &["--insecure"]));
    assert_eq!(r["pushes"][0]["uploaded"].as_u64(), Some(2));
}

/// Ctrl-C during a push (the local outputs are staged by then): every temporary is removed
/// and no output appears; the exit code says which signal.
#[test]
#[ignore = "needs docker-registry"]
fn an_interrupted_build_leaves_nothing_behind() {
    let registry = Registry::start(None);
    let proxy = Proxy::start(&registry.addr());
    proxy.hang();
    let env = Env::new();
    let (base, _) = family_specs(&env);
    let out = env.path("out");
    fs_err::create_dir_all(&out).unwrap();
    let mut child = crate::harness::compose()
        .arg("build")
        .arg(&base)
        .arg("--output")
        .arg(format!("oci:{}", out.join("img").display()))
        .arg("--output")
        .arg(format!("oci-archive:{}", out.join("img.tar").display()))
        .arg("--output")
        .arg(format!("docker://{}/hang:v1", proxy.url_host()))
        .arg("--cache-dir")
        .arg(env.path("cache"))
        .arg("--mirror")
        .arg(format!("fixture={}", env.server.url()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let listing = || -> Vec<String> {
        let mut names: Vec<String> = fs_err::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while proxy.requests().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the push never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let staged = listing();
    for prefix in [
        ".compose-build-",
        ".compose-staging-",
        ".compose-archive-",
        ".compose-sbom-",
    ] {
        assert!(
            staged.iter().any(|n| n.starts_with(prefix)),
            "{prefix}* staged while the push runs: {staged:?}"
        );
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "exit code 128 + SIGINT");
    assert_eq!(listing(), Vec::<String>::new(), "nothing left behind");
}
