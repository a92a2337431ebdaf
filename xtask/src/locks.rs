//! `cargo xtask locks`: refresh the lock of every shipped spec (`compose lock --update`) for
//! amd64 and arm64, so multi-arch builds are locked too, printing what changed in each; and
//! the lock of the bench's own spec (`xtask/bench/python3-sci.toml`).

use std::process::Command;

use anyhow::{Result, bail};

pub fn run(args: &[String]) -> Result<()> {
    let compose = crate::tools::build_compose(false)?;
    let bench = std::path::PathBuf::from("xtask/bench/python3-sci.toml");
    for spec in crate::tools::shipped_specs()?.into_iter().chain([bench]) {
        eprintln!("xtask: {}", spec.display());
        let st = Command::new(&compose)
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
