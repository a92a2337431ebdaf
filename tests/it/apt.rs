//! compose resolves as apt does: the closure of a package, as `compose lock` writes it, is
//! the set `apt-get -s install --no-install-recommends` would install on an empty system,
//! name and version (issue 12). apt runs in a scratch root against the same mirror as
//! compose (the machine's apt sources), with Debian's archive keyring.
//!
//! Slow and networked: `#[ignore = "needs …"]`, run by `cargo xtask test`; it fails (it
//! does not pass) when apt, a mirror or the archive keyring is not there.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::e2e::shared_cache;
use crate::harness::{compose, debian_sources, have, run};

/// Packages whose closures cover Priority ranking (`base-files` needs `awk`, which `mawk`
/// and `gawk` provide), OR-groups, versioned and virtual dependencies; trixie, amd64.
const ROOTS: &[&str] = &[
    "base-files",
    "python3.13-minimal",
    "openjdk-21-jre-headless",
    "nodejs",
    "curl",
    "libgtk-3-0t64",
    "perl",
];

/// `(archive, suite)` of the sources both resolvers read, as the shipped trixie specs.
const SUITES: &[(&str, &str)] = &[
    ("debian", "trixie"),
    ("debian", "trixie-updates"),
    ("debian-security", "trixie-security"),
];

/// A scratch apt root: its own sources, lists, cache and an empty dpkg status.
struct Apt {
    root: PathBuf,
}

impl Apt {
    fn command(&self) -> Command {
        let r = self.root.display();
        let mut c = Command::new("apt-get");
        c.env("LC_ALL", "C").args([
            &format!("-oDir={r}/"),
            &format!("-oDir::State::status={r}/status"),
            "-oDir::Etc::trusted=/dev/null",
            "-oDir::Etc::trustedparts=/dev/null",
            "-oAPT::Architecture=amd64",
            "-oAPT::Architectures=amd64",
            "-oAPT::Sandbox::User=root",
            "-oDebug::NoLocking=1",
        ]);
        c
    }

    /// The root, or why there cannot be one here.
    fn new(dir: &Path) -> Result<Apt, String> {
        if !have("apt-get") {
            return Err("apt-get is not installed".into());
        }
        let (mirrors, keyring) = debian_sources()?;
        let mut sources = String::new();
        for (archive, suite) in SUITES {
            let url = mirrors
                .resolve(archive)
                .map_err(|e| format!("no mirror for `{archive}`: {e}"))?;
            sources.push_str(&format!(
                "deb [signed-by={}] {url} {suite} main\n",
                keyring.display()
            ));
        }
        let root = dir.to_path_buf();
        for sub in [
            "etc/apt/apt.conf.d",
            "etc/apt/preferences.d",
            "etc/apt/sources.list.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
        ] {
            fs_err::create_dir_all(root.join(sub)).unwrap();
        }
        fs_err::write(root.join("etc/apt/sources.list"), sources).unwrap();
        fs_err::write(root.join("status"), "").unwrap();
        let apt = Apt { root };
        let out = apt.command().arg("update").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // apt warns (`W:`) and goes on when a source fails: that is not the same archive.
        if !out.status.success() || stderr.contains("W:") || stderr.contains("E:") {
            return Err(format!("`apt-get update` failed: {}", stderr.trim()));
        }
        Ok(apt)
    }

    /// What `apt-get -s install --no-install-recommends root` installs: `name=version`.
    fn closure(&self, root: &str) -> BTreeSet<String> {
        let out = self
            .command()
            .args(["-s", "install", "--no-install-recommends", root])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "apt-get cannot install {root}:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // `Inst libc6 (2.41-12 Debian:13.2/stable [amd64])`
        stdout
            .lines()
            .filter_map(|l| l.strip_prefix("Inst "))
            .map(|l| {
                let mut words = l.split_whitespace();
                let name = words.next().unwrap();
                let version = words.next().unwrap().trim_start_matches('(');
                format!("{name}={version}")
            })
            .collect()
    }
}

/// The closure compose locks for a spec that includes only `root`: `name=version`.
fn compose_closure(dir: &Path, root: &str) -> BTreeSet<String> {
    let name = format!("closure-{root}");
    let mut spec = format!("name = \"{name}\"\nplatforms = [\"linux/amd64\"]\n");
    for (archive, suite) in SUITES {
        spec.push_str(&format!(
            "\n[[source]]\narchive = \"{archive}\"\nsuites = [\"{suite}\"]\ncomponents = [\"main\"]\n"
        ));
    }
    spec.push_str(&format!("\n[packages]\ninclude = [\"{root}\"]\n"));
    let path = dir.join(format!("{name}.toml"));
    fs_err::write(&path, spec).unwrap();
    let r = run(compose()
        .arg("lock")
        .arg(&path)
        .arg("--cache-dir")
        .arg(shared_cache()));
    r.success(&format!("compose lock {root}"));
    let lock = compose::lock::Lock::read(&compose::lock::path_for(&path)).unwrap();
    // The lock also holds the debug variant's busybox layer: only the spec's own level.
    lock.packages
        .iter()
        .filter(|p| p.layer == name)
        .map(|p| format!("{}={}", p.name, p.version))
        .collect()
}

#[test]
#[ignore = "needs the Debian archive and apt-get (end to end)"]
fn closures_match_apt_get_install() {
    let dir = tempfile::tempdir().unwrap();
    let apt = Apt::new(&dir.path().join("apt"))
        .unwrap_or_else(|reason| panic!("cannot resolve as apt here: {reason}"));
    let mut total = 0;
    for root in ROOTS {
        let want = apt.closure(root);
        let got = compose_closure(dir.path(), root);
        let missing: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got.difference(&want).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "closure of {root}: apt installs but compose lacks {missing:?}; compose has but apt does not install {extra:?}"
        );
        assert!(
            want.iter().any(|p| p.starts_with(&format!("{root}="))),
            "{root} itself is in its closure: {want:?}"
        );
        if *root == "base-files" {
            assert!(
                got.iter().any(|p| p.starts_with("mawk=")),
                "awk is mawk (Priority: required): {got:?}"
            );
        }
        total += want.len();
    }
    // The roots reach well past their own packages.
    assert!(total > 200, "only {total} packages in all");
    eprintln!(
        "apt and compose agree on all {total} packages of {} closures",
        ROOTS.len()
    );
}
