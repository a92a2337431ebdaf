//! Private mirrors (issue 16): the fixture repository behind Basic authentication, the
//! credentials from an apt auth.conf file (`--auth-file`) or the mirror URL, sent only where
//! they may go, and never written to any output, lock, SBOM or message.

use std::path::Path;

use crate::fixture::Env;
use crate::harness::{Run, compose, files, read_image, run};
use crate::support::server::Server;

const USER: &str = "builder";
const PASSWORD: &str = "s3cret-Hunter2";

/// An `Env` whose mirror wants `USER:PASSWORD`.
fn private_env() -> Env {
    let env = Env::new();
    env.server.require_basic(USER, PASSWORD);
    env
}

/// `compose build SPEC --json` into `oci:out`, with a fresh cache of its own and `args` (the
/// mirror among them), the environment `vars` set.
fn build(env: &Env, out: &str, args: &[String], vars: &[(&str, String)]) -> Run {
    let mut cmd = compose();
    for (k, v) in vars {
        cmd.env(k, v);
    }
    run(cmd
        .arg("build")
        .arg(env.tool_spec())
        .arg("--json")
        .arg("--output")
        .arg(format!("oci:{}", env.path(out).display()))
        .arg("--cache-dir")
        .arg(env.path(&format!("cache-{out}")))
        .args(args))
}

/// No trace of the password: not in the run's output, any file of the work directory but
/// the credentials file (lock, SBOM beside the output, layout), nor any file of the image.
fn assert_no_password(env: &Env, runs: &[&Run], out: &str) {
    for r in runs {
        assert!(!r.stdout.contains(PASSWORD), "stdout: {}", r.stdout);
        assert!(!r.stderr.contains(PASSWORD), "stderr: {}", r.stderr);
    }
    for f in files(&env.path("")) {
        if f.file_name().is_some_and(|n| n == "auth.conf") {
            continue;
        }
        let bytes = fs_err::read(&f).unwrap();
        let found = bytes
            .windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes());
        assert!(!found, "the password is in {}", f.display());
    }
    for (path, entry) in read_image(&env.path(out)).merged() {
        let found = (entry.data.windows(PASSWORD.len())).any(|w| w == PASSWORD.as_bytes());
        assert!(!found, "the password is in the image's {path}");
    }
}

/// The auth.conf entry for the fixture mirror (`http://`: apt's entries without a protocol
/// match HTTPS only).
fn auth_file(env: &Env, machine: &str) -> String {
    let path = env.path("auth.conf");
    let text =
        format!("# the fixture mirror\nmachine {machine}\n  login {USER}\n  password {PASSWORD}\n");
    fs_err::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn an_auth_file_opens_a_private_mirror_and_the_password_shows_nowhere() {
    let env = private_env();
    let url = env.server.url();
    let auth = auth_file(&env, &url);
    let mirror = format!("fixture={url}");
    let lock = run(compose()
        .arg("lock")
        .arg(env.tool_spec())
        .args(["--mirror", &mirror, "--auth-file", &auth])
        .arg("--cache-dir")
        .arg(env.path("cache-lock")));
    lock.success("the lock");
    // A retry carries the credentials too.
    env.server.fail_next(".deb", 1, 503);
    let r = build(
        &env,
        "img",
        &["--mirror".into(), mirror, "--auth-file".into(), auth],
        &[],
    );
    r.success("the build with --auth-file");
    let debs: Vec<String> = (env.server.requests().into_iter())
        .filter(|p| p.ends_with(".deb"))
        .collect();
    let distinct: std::collections::BTreeSet<&String> = debs.iter().collect();
    assert_eq!(
        debs.len(),
        distinct.len() + 1,
        "one .deb asked for again: {debs:?}"
    );
    let carried = env.server.carried_credentials();
    assert!(
        !carried.is_empty() && carried.iter().all(|&c| c),
        "{carried:?}"
    );
    // The SBOM names the mirror as it is: no credentials were ever part of its URL.
    let sbom = fs_err::read_to_string(env.path("img.latest.spdx.json")).unwrap();
    assert!(sbom.contains(&format!("\"{url}/pool/")), "{sbom}");
    assert_no_password(&env, &[&lock, &r], "img");
}

#[test]
fn without_credentials_a_private_mirror_fails_with_a_hint() {
    let env = private_env();
    let url = env.server.url();
    let mirror = format!("fixture={url}");
    let r = build(&env, "none", &["--mirror".into(), mirror.clone()], &[]);
    r.fails_with("failed with HTTP 401: the mirror wants credentials");
    r.stderr_has("--auth-file");
    assert!(env.server.carried_credentials().iter().all(|&c| !c));
    // An entry without a protocol is for HTTPS only, as in apt: nothing is sent, and the
    // hint says why.
    let host = url.trim_start_matches("http://");
    let auth = auth_file(&env, host);
    let r = build(
        &env,
        "https-only",
        &["--mirror".into(), mirror, "--auth-file".into(), auth],
        &[],
    );
    r.fails_with("HTTP 401");
    r.stderr_has("matches HTTPS only");
    assert!(!r.stderr.contains(PASSWORD), "{}", r.stderr);
    assert!(env.server.carried_credentials().iter().all(|&c| !c));
}

#[test]
fn a_wrong_password_is_refused_naming_the_host_not_the_password() {
    let env = Env::new();
    env.server.require_basic(USER, "another");
    let url = env.server.url();
    let auth = auth_file(&env, &url);
    let r = build(
        &env,
        "wrong",
        &[
            "--mirror".into(),
            format!("fixture={url}"),
            "--auth-file".into(),
            auth,
        ],
        &[],
    );
    r.fails_with("HTTP 401");
    r.stderr_has("the mirror refused the credentials sent");
    r.stderr_has("the credentials for `127.0.0.1` were refused");
    assert!(!r.stderr.contains(PASSWORD), "{}", r.stderr);
}

#[test]
fn credentials_in_a_mirror_url_work_and_are_redacted_everywhere() {
    let env = private_env();
    let url = env.server.url();
    let with = url.replacen("http://", &format!("http://{USER}:{PASSWORD}@"), 1);
    let r = build(
        &env,
        "url",
        &["--mirror".into(), format!("fixture={with}")],
        &[],
    );
    r.success("the build with credentials in the mirror URL");
    assert!(env.server.carried_credentials().iter().all(|&c| c));
    assert!(
        r.stdout.contains(&format!("\"url\": \"{url}\"")),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(USER), "{}", r.stdout);
    // The lock and the vendored directory (its manifest records the mirror's URL).
    let mirror = format!("fixture={with}");
    let cache = env.path("cache-vendor");
    let lock = run(compose()
        .arg("lock")
        .arg(env.tool_spec())
        .args(["--mirror", &mirror])
        .arg("--cache-dir")
        .arg(&cache));
    lock.success("the lock");
    let vendor = run(compose()
        .arg("vendor")
        .arg(env.tool_spec())
        .arg(env.path("vendored"))
        .args(["--mirror", &mirror])
        .arg("--cache-dir")
        .arg(&cache));
    vendor.success("compose vendor");
    let manifest = fs_err::read_to_string(env.path("vendored/compose-vendor.json")).unwrap();
    assert!(manifest.contains(&url), "{manifest}");
    // From the environment too.
    let var = [("COMPOSE_MIRROR_FIXTURE", with)];
    let r2 = build(&env, "env", &[], &var);
    r2.success("the build with credentials in COMPOSE_MIRROR_FIXTURE");
    assert_no_password(&env, &[&r, &lock, &vendor, &r2], "url");
}

#[test]
fn credentials_never_go_over_plain_http_to_another_machine_unless_insecure() {
    let env = private_env();
    // The mirror is a name that is not this machine, reached through the server as proxy.
    let with = Server::PROXIED.replacen("http://", &format!("http://{USER}:{PASSWORD}@"), 1);
    let proxy: Vec<(&str, String)> = env.server.as_proxy().into_iter().collect();
    let args = ["--mirror".to_owned(), format!("fixture={with}")];
    let r = build(&env, "refused", &args, &proxy);
    r.fails_with("credentials for `fixture.test` would be sent over plain HTTP");
    r.stderr_has("--insecure");
    assert!(
        env.server.carried_credentials().is_empty(),
        "nothing is sent"
    );
    let mut insecure = args.to_vec();
    insecure.push("--insecure".into());
    let r2 = build(&env, "insecure", &insecure, &proxy);
    r2.success("the build with --insecure");
    assert!(env.server.carried_credentials().iter().all(|&c| c));
    assert_no_password(&env, &[&r, &r2], "insecure");
    assert!(Path::new(&env.path("insecure")).is_dir());
}
