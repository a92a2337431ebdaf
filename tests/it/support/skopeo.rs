//! skopeo 1.18 from Debian 13 (trixie), the first Debian skopeo that verifies sigstore
//! signatures (12's 1.9.3 has it patched out): unpacked once per target directory with
//! `mmdebstrap --variant=extract` from the machine's own Debian mirror, and run through that
//! tree's loader and libraries.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::harness::{debian_sources, have, report_skip};

/// The unpacked trixie tree with its skopeo.
#[derive(Debug)]
pub struct Skopeo {
    root: PathBuf,
}

/// Where the tree is kept between runs: under the target directory, keyed by nothing but
/// what it is (mmdebstrap takes ~15 s and 150 MB, so it is made once).
fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("trixie-skopeo")
}

impl Skopeo {
    /// The trixie skopeo, made on first use; `None` (reported as a skip) when it cannot be
    /// had here: no mmdebstrap, no Debian mirror in the apt sources, not x86-64.
    pub fn get() -> Option<&'static Skopeo> {
        static ONCE: OnceLock<Result<Skopeo, String>> = OnceLock::new();
        match ONCE.get_or_init(Skopeo::make) {
            Ok(s) => Some(s),
            Err(why) => {
                report_skip(&format!("skopeo 1.18 from Debian 13 cannot be had: {why}"));
                None
            }
        }
    }

    fn make() -> Result<Skopeo, String> {
        let root = cache_dir();
        let done = root.with_extension("complete");
        if !done.is_file() {
            unpack(&root)?;
            fs_err::write(&done, b"").map_err(|e| e.to_string())?;
        }
        let s = Skopeo { root };
        if !s.loader().is_file() {
            return Err(format!("no x86-64 loader in `{}`", s.root.display()));
        }
        let version = s.run(&["--version"]);
        let text = String::from_utf8_lossy(&version.stdout).into_owned();
        if !version.status.success() || !text.contains("version 1.") {
            return Err(format!("the unpacked skopeo does not run: {text}"));
        }
        Ok(s)
    }

    fn loader(&self) -> PathBuf {
        self.root.join("usr/lib64/ld-linux-x86-64.so.2")
    }

    /// A `skopeo` command (run through the tree's own loader and libraries).
    pub fn command(&self) -> Command {
        let mut c = Command::new(self.loader());
        c.arg("--library-path")
            .arg(self.root.join("usr/lib/x86_64-linux-gnu"))
            .arg(self.root.join("usr/bin/skopeo"));
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }
}

/// `mmdebstrap --variant=extract --include=skopeo trixie DIR "deb MIRROR trixie main"`,
/// into a temporary directory renamed to `root` once complete.
fn unpack(root: &Path) -> Result<(), String> {
    if !have("mmdebstrap") {
        return Err("mmdebstrap is not installed".into());
    }
    let (mirrors, keyring) = debian_sources()?;
    let url = mirrors
        .resolve("debian")
        .map_err(|e| format!("no Debian mirror in the apt sources: {e}"))?;
    let parent = root.parent().unwrap();
    fs_err::create_dir_all(parent).map_err(|e| e.to_string())?;
    let tmp = tempfile::Builder::new()
        .prefix("trixie-skopeo-")
        .tempdir_in(parent)
        .map_err(|e| e.to_string())?;
    let out = Command::new("mmdebstrap")
        .args(["--variant=extract", "--include=skopeo", "--quiet"])
        .arg(format!("--keyring={}", keyring.display()))
        .arg("trixie")
        .arg(tmp.path().join("root"))
        .arg(format!("deb {url} trixie main"))
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "mmdebstrap failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let _ = fs_err::remove_dir_all(root);
    fs_err::rename(tmp.path().join("root"), root).map_err(|e| e.to_string())
}
