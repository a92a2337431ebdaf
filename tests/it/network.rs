//! Networks the way companies run them (issue 16): the proxies of the environment carry
//! mirror and registry requests, plain or tunnelled (and `NO_PROXY` is obeyed), `--ca-file` makes an HTTPS mirror
//! and registry signed by a private CA trusted, and registry credentials come from Docker's
//! credential helpers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::fixture::Env;
use crate::harness::{Compose, Run, compose, report_skip, require, run};
use crate::support::registry::{Proxy, Registry, outward_ip};

/// A small image of the fixture (two packages).
fn small_spec(env: &Env) -> PathBuf {
    env.spec(
        "netbase",
        "[packages]\ninclude = [\"f-base-files\", \"f-libc\"]\n",
    )
}

/// `compose build SPEC` with the fixture mirror at `mirror`, a cache of its own (`cache`),
/// the variables `vars`, and `extra` arguments; nobody's proxy or Docker config leaks in.
fn build(env: &Env, mirror: &str, cache: &str, vars: &[(&str, &str)], extra: &[&str]) -> Run {
    let mut cmd = clean(compose());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    run(cmd
        .arg("build")
        .arg(small_spec(env))
        .arg("--cache-dir")
        .arg(env.path(cache))
        .arg("--mirror")
        .arg(format!("fixture={mirror}"))
        .args(extra))
}

/// `cmd` without the proxy variables of the machine, and with an empty Docker config.
fn clean(mut cmd: Compose) -> Compose {
    for k in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        cmd.env_remove(k);
    }
    cmd.env("DOCKER_CONFIG", "/nonexistent/compose-test");
    cmd
}

/// The fixture server's `127.0.0.1:PORT`.
fn server_addr(env: &Env) -> String {
    env.server.url().trim_start_matches("http://").to_owned()
}

#[test]
fn mirror_requests_go_through_the_proxy_of_the_environment_unless_no_proxy_names_the_host() {
    let env = Env::new();
    let proxy = Proxy::start(&server_addr(&env));
    let via = format!("http://{}", proxy.url_host());
    // A mirror name no resolver answers: only the proxy can reach it.
    let named = "http://fixture.test";
    for (i, var) in ["HTTP_PROXY", "http_proxy"].into_iter().enumerate() {
        let before = proxy.requests().len();
        build(&env, named, &format!("cache{i}"), &[(var, &via)], &[]).digest();
        let seen = &proxy.requests()[before..];
        for want in [
            "GET http://fixture.test/dists/testing/InRelease",
            "GET http://fixture.test/pool/main/f/f-libc/",
        ] {
            assert!(
                seen.iter().any(|r| r.starts_with(want)),
                "{var}: the proxy did not carry {want}: {seen:?}"
            );
        }
    }
    // NO_PROXY (either case) names the mirror's host: straight to it, the proxy sees nothing.
    for (i, var) in ["NO_PROXY", "no_proxy"].into_iter().enumerate() {
        let (before, direct) = (proxy.requests().len(), env.server.requests().len());
        let vars = [("HTTP_PROXY", via.as_str()), (var, "127.0.0.1")];
        build(&env, &env.server.url(), &format!("direct{i}"), &vars, &[]).digest();
        assert_eq!(
            proxy.requests().len(),
            before,
            "{var}: {:?}",
            proxy.requests()
        );
        assert!(env.server.requests().len() > direct);
    }
    // Without NO_PROXY, a mirror on 127.0.0.1 goes through the proxy too.
    let before = proxy.requests().len();
    let vars = [("HTTP_PROXY", via.as_str())];
    build(&env, &env.server.url(), "loopback", &vars, &[]).digest();
    assert!(proxy.requests().len() > before);
}

#[test]
#[ignore = "needs docker-registry"]
fn pushes_go_through_the_proxy_of_the_environment_unless_no_proxy_names_the_registry() {
    let env = Env::new();
    let registry = Registry::start(None);
    let proxy = Proxy::start(&registry.addr());
    let via = format!("http://{}", proxy.url_host());
    // The packages come from the cache: the mirror is not behind the proxy.
    build(&env, &env.server.url(), "cache", &[], &[]).digest();
    let push = |name: &str, vars: &[(&str, &str)]| {
        let dest = format!("docker://{}/net/{name}:v1", registry.addr());
        build(
            &env,
            &env.server.url(),
            "cache",
            vars,
            &["--offline", "--output", &dest],
        )
    };
    push("proxied", &[("HTTP_PROXY", &via)]).digest();
    let seen = proxy.requests();
    let manifest = format!("PUT http://{}/v2/net/proxied/manifests/v1", registry.addr());
    assert!(seen.iter().any(|r| r == &manifest), "{seen:?}");
    assert!(
        seen.iter().any(|r| r.contains("/v2/net/proxied/blobs/")),
        "{seen:?}"
    );
    let before = seen.len();
    push("direct", &[("HTTP_PROXY", &via), ("NO_PROXY", "127.0.0.1")]).digest();
    assert_eq!(proxy.requests().len(), before, "{:?}", proxy.requests());
    assert!(registry.log().contains("/v2/net/direct/manifests/v1"));
}

/// A private CA and a server certificate it signed for `ip` (and `localhost`), made with
/// the `openssl` command: `(ca.pem, server.pem, server.key)` in `dir`.
fn private_ca(dir: &Path, ip: &str) -> (PathBuf, PathBuf, PathBuf) {
    require(&["openssl"]);
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=compose test CA"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    ca.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    ca.extend(["-addext", "keyUsage=critical,keyCertSign"]);
    openssl(&ca);
    let mut csr = vec!["req", "-subj", "/CN=localhost", "-keyout", "server.key"];
    csr.extend(ec);
    csr.extend(["-out", "server.csr"]);
    openssl(&csr);
    fs_err::write(
        dir.join("ext.cnf"),
        format!("subjectAltName=IP:{ip},DNS:localhost\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        "server.pem",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// `openssl s_server -WWW` serving `root` over HTTPS on `port`, until dropped.
struct HttpsServer(Child);

impl HttpsServer {
    fn start(root: &Path, port: u16, cert: &Path, key: &Path) -> HttpsServer {
        let child = Command::new("openssl")
            .args(["s_server", "-WWW", "-quiet", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "s_server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        HttpsServer(child)
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

#[test]
#[ignore = "needs openssl"]
fn an_https_mirror_signed_by_a_private_ca_needs_ca_file() {
    let env = Env::new();
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca(certs.path(), "127.0.0.1");
    let port = free_port();
    let _https = HttpsServer::start(env.served(), port, &cert, &key);
    let mirror = format!("https://127.0.0.1:{port}");
    build(&env, &mirror, "untrusted", &[], &[]).fails_with("--ca-file FILE");
    // The system's roots stay: the private CA is added to them, not put in their place.
    let ca_arg = ca.to_str().unwrap();
    build(&env, &mirror, "trusted", &[], &["--ca-file", ca_arg]).digest();
    // Through `HTTPS_PROXY` (a tunnel the proxy cannot read into), as a company runs it.
    let proxy = Proxy::start(&server_addr(&env));
    let via = format!("http://{}", proxy.url_host());
    let vars = [("https_proxy", via.as_str())];
    build(&env, &mirror, "tunnel", &vars, &["--ca-file", ca_arg]).digest();
    let connect = format!("CONNECT 127.0.0.1:{port}");
    assert!(
        proxy.requests().iter().any(|r| r == &connect),
        "{:?}",
        proxy.requests()
    );
    // A file that is not a CA file is refused, naming it.
    build(
        &env,
        &mirror,
        "key",
        &[],
        &["--ca-file", key.to_str().unwrap()],
    )
    .fails_with("server.key` as a CA file: it holds a private key");
}

#[test]
#[ignore = "needs docker-registry and openssl"]
fn an_https_registry_signed_by_a_private_ca_takes_pushes_with_ca_file() {
    // A registry on loopback is spoken to in plain HTTP: this one listens on the machine's
    // outward address, so compose speaks HTTPS to it.
    let Some(ip) = outward_ip() else {
        report_skip("an HTTPS registry with --ca-file: this machine has no address but loopback");
        return;
    };
    let env = Env::new();
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca(certs.path(), &ip);
    let registry = Registry::start_with(&ip, None, Some((&cert, &key)));
    build(&env, &env.server.url(), "cache", &[], &[]).digest();
    let push = |name: &str, extra: &[&str]| {
        let dest = format!("docker://{}/net/{name}:v1", registry.addr());
        let mut args = vec!["--offline", "--output", &dest];
        args.extend_from_slice(extra);
        build(&env, &env.server.url(), "cache", &[], &args)
    };
    let r = push("untrusted", &[]);
    r.fails_with("--ca-file FILE");
    assert!(
        !r.stderr.contains("check that the registry is running"),
        "{}",
        r.stderr
    );
    let digest = push("tls", &["--ca-file", ca.to_str().unwrap()]).digest();
    assert!(registry.log().contains("/v2/net/tls/manifests/v1"));
    assert!(!digest.is_empty());
}

/// A stub `docker-credential-compose-test` in `dir` that answers `answer` for `host` (and
/// says it has nothing for any other host, as docker's helpers do).
fn stub_helper(dir: &Path, host: &str, answer: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread -r host\nif [ \"$host\" = '{host}' ]; then\n  printf '%s' '{answer}'\nelse\n  echo 'credentials not found in native keychain'\n  exit 1\nfi\n"
    );
    let path = dir.join("docker-credential-compose-test");
    fs_err::write(&path, script).unwrap();
    fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
#[ignore = "needs docker-registry and htpasswd"]
fn registry_credentials_come_from_docker_credential_helpers() {
    let registry = Registry::start(Some(("alice", "s3cret")));
    let env = Env::new();
    let bin = tempfile::tempdir().unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let host = registry.addr();
    build(&env, &env.server.url(), "cache", &[], &[]).digest();
    let push = |name: &str, config: &str| {
        let dir = env.path(&format!("docker-{name}"));
        fs_err::create_dir_all(&dir).unwrap();
        fs_err::write(dir.join("config.json"), config).unwrap();
        let dest = format!("docker://{host}/net/{name}:v1");
        let mut cmd = clean(compose());
        run(cmd
            .env("DOCKER_CONFIG", &dir)
            .env("PATH", &path)
            .arg("build")
            .arg(small_spec(&env))
            .arg("--cache-dir")
            .arg(env.path("cache"))
            .arg("--mirror")
            .arg(format!("fixture={}", env.server.url()))
            .args(["--offline", "--output", &dest]))
    };
    let good = r#"{"ServerURL":"x","Username":"alice","Secret":"s3cret"}"#;
    stub_helper(bin.path(), &host, good);
    let helpers = format!(r#"{{"credHelpers":{{"{host}":"compose-test"}}}}"#);
    push("helpers", &helpers).digest();
    let store = r#"{"credsStore":"compose-test"}"#;
    push("store", store).digest();
    // The helper holds nothing for the host: the `auths` entry is next, then nothing.
    stub_helper(bin.path(), "elsewhere:1", good);
    push("none", store).fails_with("requires credentials");
    // A wrong password from the helper is named as the helper's.
    let wrong = r#"{"ServerURL":"x","Username":"alice","Secret":"wrong-secret"}"#;
    stub_helper(bin.path(), &host, wrong);
    let r = push("wrong", &helpers);
    r.fails_with("rejected the credentials of `alice` from the credential helper `docker-credential-compose-test`");
    assert!(!r.stderr.contains("wrong-secret"), "{}", r.stderr);
    // A helper that fails, or is missing: the helper and the host, and nothing it printed.
    fs_err::write(
        bin.path().join("docker-credential-compose-test"),
        "#!/bin/sh\necho 'secret-on-stderr' >&2\necho 'token-on-stdout'\nexit 3\n",
    )
    .unwrap();
    let r = push("failing", &helpers);
    r.fails_with(&format!(
        "the credential helper `docker-credential-compose-test` failed for `{host}`: it exited with an error"
    ));
    assert!(
        !r.stderr.contains("secret-on-stderr") && !r.stderr.contains("token-on-stdout"),
        "{}",
        r.stderr
    );
    push("missing", r#"{"credsStore":"compose-test-absent"}"#).fails_with(&format!(
        "cannot run the credential helper `docker-credential-compose-test-absent` for `{host}`"
    ));
}
