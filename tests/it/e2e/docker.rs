//! The images loaded into a Docker engine (`docker load`) and run there, and a Dockerfile
//! built on them: `cargo xtask test` skips this module by name when no engine answers
//! `docker info`.

use std::path::Path;
use std::process::Command;

use super::{PY_CHECK, docker_archive, family, trust_class};
use crate::harness::require;

/// `docker load` the image as `compose-e2e/KEY:test`.
fn docker_load(key: &str) {
    require(&["docker"]);
    let archive = docker_archive(key);
    let load = Command::new("docker")
        .arg("load")
        .arg("-i")
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        load.status.success(),
        "docker load: {}",
        String::from_utf8_lossy(&load.stderr)
    );
}

/// `docker load` the image and `docker run --user 65532` it.
fn docker_run(key: &str, args: &[&str], volume: Option<&Path>) -> (i32, String, String) {
    docker_load(key);
    let mut cmd = Command::new("docker");
    cmd.args(["run", "--rm", "--network", "none", "--user", "65532"]);
    if let Some(v) = volume {
        cmd.arg("-v").arg(format!("{}:/app:ro", v.display()));
    }
    cmd.arg(format!("compose-e2e/{key}:test")).args(args);
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
#[ignore = "needs the Debian archive and a Docker engine (end to end)"]
fn python3_runs_its_whole_stdlib() {
    let (code, out, err) = docker_run("python3", &["-c", PY_CHECK], None);
    assert_eq!(code, 0, "docker run python3:\n{out}\n{err}");
    assert!(out.contains("python-ok"), "{out}");
}

#[test]
#[ignore = "needs the Debian archive and a Docker engine (end to end)"]
fn nodejs_runs() {
    let js = "console.log(process.getuid())";
    let (code, out, err) = docker_run("nodejs", &["-e", js], None);
    assert_eq!((code, out.trim()), (0, "65532"), "docker node: {err}");
}

/// The debug image starts python3 (its entrypoint), not a shell.
#[test]
#[ignore = "needs the Debian archive and a Docker engine (end to end)"]
fn python3_debug_starts_python3() {
    let (code, out, err) = docker_run("python3-debug", &["-c", "print('ok')"], None);
    assert_eq!((code, out.trim()), (0, "ok"), "{err}");
}

/// The entrypoint is `java -jar`: the class path form runs a class mounted from here.
#[test]
#[ignore = "needs the Debian archive, javac and a Docker engine (end to end)"]
fn java17_runs_a_class() {
    let src = trust_class();
    docker_load("java17");
    let run = Command::new("docker")
        .args(["run", "--rm", "--network", "none", "--user", "65532"])
        .args(["--entrypoint", "/usr/bin/java", "-v"])
        .arg(format!("{}:/app:ro", src.display()))
        .args(["compose-e2e/java17:test", "-cp", "/app", "Trust"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && out.contains("encoding=UTF-8"),
        "docker java17: {out} {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// Issue 5: the seeds' multi-stage workflow on our base: a Dockerfile whose final stage is
/// `FROM` the loaded python3 image with an application copied in, built by the engine and run.
#[test]
#[ignore = "needs the Debian archive and a Docker engine (end to end)"]
fn a_dockerfile_builds_from_the_loaded_python3_base() {
    let f = family();
    docker_load("python3");
    docker_load("python3-debug");
    let ctx = f.work.join("docker-app");
    fs_err::create_dir_all(&ctx).unwrap();
    fs_err::write(
        ctx.join("app.py"),
        "import json, sys\nprint(json.dumps({'app': 'ok', 'python': sys.version_info[:2]}))\n",
    )
    .unwrap();
    // The build stage is our debug image (it has a shell); the final stage is the plain base.
    fs_err::write(
        ctx.join("Dockerfile"),
        "FROM compose-e2e/python3-debug:test AS build\nSHELL [\"/busybox/sh\", \"-c\"]\nUSER 0\nCOPY app.py /src/app.py\nRUN python3 -m py_compile /src/app.py && mkdir -p /out && cp /src/app.py /out/\n\nFROM compose-e2e/python3:test\nCOPY --from=build /out/app.py /app/app.py\nCMD [\"/app/app.py\"]\n",
    )
    .unwrap();
    let build = Command::new("docker")
        .args(["build", "-q", "-t", "compose-e2e/app:test"])
        .arg(&ctx)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "docker build: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let out = Command::new("docker")
        .args(["run", "--rm", "--network", "none", "compose-e2e/app:test"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"app": "ok", "python": [3, 13]}"#,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The application adds a few bytes to the base, nothing more.
    let size = |image: &str| -> u64 {
        let o = Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Size}}", image])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
    };
    let (base, app) = (
        size("compose-e2e/python3:test"),
        size("compose-e2e/app:test"),
    );
    eprintln!("docker images: python3 base {base} bytes, app {app} bytes");
    assert!(
        app > base && app - base < 64 * 1024,
        "base {base}, app {app}"
    );
}
