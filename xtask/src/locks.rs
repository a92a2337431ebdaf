//! `cargo xtask locks`: refresh the lock of every shipped spec (`compose lock --update`) for
//! amd64 and arm64, so multi-arch builds are locked too, printing what changed in each.

use std::process::Command;

use anyhow::{Result, bail};

pub fn run(args: &[String]) -> Result<()> {
    let st = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--bin", "compose"])
        .status()?;
    if !st.success() {
        bail!("build failed");
    }
    let mut specs: Vec<_> = std::fs::read_dir("specs")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    specs.sort();
    for spec in specs {
        eprintln!("xtask: {}", spec.display());
        let st = Command::new("target/debug/compose")
            .args(["lock", "--update", "--platform", "linux/amd64,linux/arm64"])
            .args(args)
            .arg(&spec)
            .status()?;
        if !st.success() {
            bail!("locking {} failed", spec.display());
        }
    }
    Ok(())
}
