//! `cargo xtask digests`: the digest of every shipped spec built from its lock, for the
//! `latest` and `debug` variants, one `SPEC VARIANT DIGEST` line each on stdout. Run it
//! before and after a change and `diff` the two: any difference is a changed image, which
//! a closing note must name.

#![allow(clippy::print_stdout)] // the digests are the output

use std::process::Command;

use anyhow::{Context, Result, bail};

pub fn run(args: &[String]) -> Result<()> {
    let compose = crate::tools::build_compose(true)?;
    let specs = crate::tools::shipped_specs()?;
    let scratch = std::env::temp_dir().join(format!("compose-digests-{}", std::process::id()));
    for spec in &specs {
        let name = spec.file_stem().unwrap_or_default().to_string_lossy();
        for variant in ["latest", "debug"] {
            let out = scratch.join(format!("{name}-{variant}"));
            let run = Command::new(&compose)
                .args(["build", "--locked", "--variant", variant])
                .arg(spec)
                .arg("--output")
                .arg(format!("oci:{}", out.display()))
                .args(args)
                .output()
                .with_context(|| format!("cannot run compose on {}", spec.display()))?;
            let _ = std::fs::remove_dir_all(&out);
            let _ = std::fs::remove_file(format!("{}.{variant}.spdx.json", out.display()));
            if !run.status.success() {
                bail!(
                    "{} ({variant}) failed: {}",
                    spec.display(),
                    String::from_utf8_lossy(&run.stderr).trim()
                );
            }
            println!(
                "{name} {variant} {}",
                String::from_utf8_lossy(&run.stdout).trim()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}
