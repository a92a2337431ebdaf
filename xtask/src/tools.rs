//! External tools the tests and the bench drive: find them, install them where we can.

use std::process::Command;

use anyhow::{Result, bail};

/// Build the `compose` binary (`--release` when `release`) and return its path, in
/// `CARGO_TARGET_DIR` when that is set.
pub fn build_compose(release: bool) -> Result<std::path::PathBuf> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "--bin", "compose"]);
    if release {
        cmd.arg("--release");
    }
    if !cmd.status()?.success() {
        bail!("build failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::path::PathBuf::from("target"),
        std::path::PathBuf::from,
    );
    let profile = if release { "release" } else { "debug" };
    Ok(target.join(profile).join("compose"))
}

/// Every shipped spec (`specs/*.toml`), sorted.
pub fn shipped_specs() -> Result<Vec<std::path::PathBuf>> {
    let mut specs: Vec<_> = std::fs::read_dir("specs")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    specs.sort();
    Ok(specs)
}

/// Is `tool` on PATH?
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Does this process run as root?
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Make sure each `(command, debian package)` is available: install the missing ones with
/// apt-get when running as root on Debian, otherwise say exactly what to install.
pub fn ensure(tools: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&(&str, &str)> = tools.iter().filter(|(cmd, _)| !have(cmd)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|(_, pkg)| *pkg).collect();
    if is_root() && have("apt-get") {
        eprintln!("xtask: installing {}", packages.join(" "));
        let update = Command::new("apt-get").args(["update", "-qq"]).status()?;
        if !update.success() {
            bail!("`apt-get update` failed");
        }
        let st = Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&packages)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()?;
        if !st.success() {
            bail!("`apt-get install {}` failed", packages.join(" "));
        }
        return Ok(());
    }
    let commands: Vec<&str> = missing.iter().map(|(c, _)| *c).collect();
    let packages = packages.join(" ");
    let how = if is_root() {
        format!(
            "this is not Debian (no apt-get): install the packages {packages} or their equivalents"
        )
    } else {
        format!("run `cargo xtask test` as root on Debian, or `sudo apt-get install {packages}`")
    };
    bail!("missing tools: {}\n\nhint: {how}", commands.join(", "))
}

/// Make sure each `(command, PyPI requirements)` is available, installing missing ones with
/// pip. The requirements are pip's, separated by spaces: a package and the pins it needs
/// (`scancode-toolkit pluggy<1.6`) go into one `pip install`.
pub fn ensure_pip(tools: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(cmd, _)| !have(cmd))
        .flat_map(|(_, p)| p.split_whitespace())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !have("pip3") && !have("pip") {
        ensure(&[("pip3", "python3-pip")])?;
    }
    let pip = if have("pip3") { "pip3" } else { "pip" };
    eprintln!("xtask: installing {} from PyPI", missing.join(" "));
    let mut st = Command::new(pip)
        .args(["install", "--quiet"])
        .args(&missing)
        .status()?;
    if !st.success() {
        // Debian's own Python refuses user installs without this flag.
        st = Command::new(pip)
            .args(["install", "--quiet", "--break-system-packages"])
            .args(&missing)
            .status()?;
    }
    if !st.success() {
        bail!(
            "`{pip} install {}` failed\n\nhint: install them by hand",
            missing.join(" ")
        );
    }
    // pyenv shims need a rehash to see new commands.
    if have("pyenv") {
        let _ = Command::new("pyenv").arg("rehash").status();
    }
    Ok(())
}
