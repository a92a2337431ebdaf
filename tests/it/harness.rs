//! Helpers shared by the integration tests: running the binary, temporary workspaces, and
//! reading OCI layouts back.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use compose::oci::reader::{LayoutReader, tag_of};
use oci_spec::image::{Descriptor, MediaType};
use sha2::{Digest, Sha256};
use std::str::FromStr;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The one way the tests run the `compose` binary: a command with a clean environment (no
/// mirror or cache variables leaking in), optionally under a wrapper (`unshare`, a umask,
/// `/usr/bin/time`), then [`Compose::run`] for a [`Run`] to assert on.
#[derive(Debug)]
pub struct Compose {
    cmd: Command,
}

/// A `compose` command with a clean environment.
pub fn compose() -> Compose {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_compose"));
    for (k, _) in std::env::vars() {
        if k.starts_with("COMPOSE_")
            || ["SOURCE_DATE_EPOCH", "RUST_BACKTRACE", "COSIGN_PASSWORD"].contains(&k.as_str())
        {
            cmd.env_remove(k);
        }
    }
    // Retries keep their attempts but do not wait: fault tests run fast.
    cmd.env("COMPOSE_TEST_NO_RETRY_DELAY", "1");
    Compose { cmd }
}

impl Compose {
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.arg(arg);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&mut self, args: I) -> &mut Self {
        self.cmd.args(args);
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env_remove(key);
        self
    }

    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cmd.current_dir(dir);
        self
    }

    pub fn stdout(&mut self, cfg: Stdio) -> &mut Self {
        self.cmd.stdout(cfg);
        self
    }

    pub fn stderr(&mut self, cfg: Stdio) -> &mut Self {
        self.cmd.stderr(cfg);
        self
    }

    /// Run compose through `wrapper` (`["unshare", "--net", "--"]`): the wrapper's words,
    /// then compose and the arguments given so far; the environment and directory are kept.
    pub fn under(&mut self, wrapper: &[&str]) -> &mut Self {
        let (program, words) = wrapper.split_first().expect("a wrapper command");
        let mut cmd = Command::new(program);
        cmd.args(words)
            .arg(self.cmd.get_program())
            .args(self.cmd.get_args());
        for (k, v) in self.cmd.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(dir) = self.cmd.get_current_dir() {
            cmd.current_dir(dir);
        }
        self.cmd = cmd;
        self
    }

    /// Run compose with the file mode creation mask `mask` (through `sh`).
    pub fn umask(&mut self, mask: u32) -> &mut Self {
        let script = format!("umask {mask:03o}; exec \"$0\" \"$@\"");
        self.under(&["sh", "-c", &script])
    }

    /// Run to completion and capture what it printed.
    pub fn run(&mut self) -> Run {
        Run::of(self.cmd.output().expect("spawn compose"))
    }

    /// Start it and return at once (to signal it, or to watch it half-way).
    pub fn spawn(&mut self) -> Child {
        self.cmd.spawn().expect("spawn compose")
    }
}

/// Run `cmd` to completion (the same as `cmd.run()`).
pub fn run(cmd: &mut Compose) -> Run {
    cmd.run()
}

/// The outcome of a command, with helpers to assert on it.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Assert success (exit 0, no panic); `what` names the step in the failure message.
    pub fn success(&self, what: &str) -> &Run {
        assert_eq!(self.code, Some(0), "{what} failed:\n{}", self.stderr);
        assert!(
            !self.stderr.contains("panicked"),
            "{what}:\n{}",
            self.stderr
        );
        self
    }

    /// Assert success and return stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        self.success("the command");
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// Assert stderr contains `needle` (whatever the exit code).
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }

    /// Assert stdout contains `needle` (whatever the exit code).
    pub fn stdout_has(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}:\n{}",
            self.stdout
        );
        self
    }

    /// Assert success and return the digest printed on stdout.
    pub fn digest(&self) -> String {
        self.success("the command");
        let d = self.stdout.trim().to_owned();
        assert!(
            d.starts_with("sha256:") && d.len() == 71 && !d.contains('\n'),
            "stdout must be exactly a digest, got {:?}",
            self.stdout
        );
        d
    }

    /// Assert a clean failure (non-zero, no panic, nothing on stdout) whose message contains `needle`.
    pub fn fails_with(&self, needle: &str) {
        assert_ne!(self.code, Some(0), "command unexpectedly succeeded");
        assert!(self.code.is_some(), "killed by a signal: {}", self.stderr);
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"),
            "panic:\n{}",
            self.stderr
        );
        assert!(self.stdout.is_empty(), "stdout on failure: {}", self.stdout);
        assert!(
            self.stderr.starts_with("error: "),
            "errors start with `error: `:\n{}",
            self.stderr
        );
        self.stderr_has(needle);
    }
}

/// Fail unless every one of `tools` is on PATH: for tests `#[ignore = "needs …"]`, which run
/// only when asked (`cargo xtask test` installs the tools and asks).
pub fn require(tools: &[&str]) {
    let missing: Vec<_> = tools.iter().filter(|t| !have(t)).collect();
    assert!(
        missing.is_empty(),
        "missing tools {missing:?}: run `cargo xtask test` (it installs them as root on Debian)"
    );
}

/// Say that part of a test was left out at run time, and why: on stderr, and in the file
/// `COMPOSE_TEST_SKIPS` names, which `cargo xtask test` prints after the run.
pub fn report_skip(what: &str) {
    eprintln!("SKIPPED: {what}");
    if let Some(log) = std::env::var_os("COMPOSE_TEST_SKIPS") {
        let mut f = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        writeln!(f, "{}", what.replace('\n', " ")).unwrap();
    }
}

/// Copy a directory tree (the fixture repository into a test's own place).
pub fn copy_dir(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for e in fs_err::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs_err::copy(e.path(), &dest).unwrap();
        }
    }
}

/// One file system entry read back from a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    pub kind: tar::EntryType,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub link: Option<String>,
    pub data: Vec<u8>,
}

/// A parsed OCI layout (single-platform image).
#[derive(Debug)]
pub struct Image {
    pub manifest_digest: String,
    pub manifest: serde_json::Value,
    pub config: serde_json::Value,
    /// Each layer's entries by path, bottom layer first.
    pub layers: Vec<BTreeMap<String, TarEntry>>,
    pub layer_digests: Vec<String>,
}

/// A blob of a layout, read through compose's own layout reader (no symlinks, valid
/// digests only) and checked against its name.
pub fn read_blob(layout: &Path, digest: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    LayoutReader::new(layout)
        .open(digest)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    assert_eq!(
        format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
        digest,
        "blob content matches its name"
    );
    bytes
}

/// The image written last to a layout.
pub fn read_image(layout: &Path) -> Image {
    read_image_where(layout, |_| true)
}

/// The image tagged `tag` in a layout.
pub fn read_image_tag(layout: &Path, tag: &str) -> Image {
    read_image_where(layout, |d| tag_of(d) == Some(tag))
}

fn read_image_where(layout: &Path, pick: impl Fn(&Descriptor) -> bool) -> Image {
    let index = LayoutReader::new(layout).index().unwrap();
    let desc = index
        .manifests()
        .iter()
        .rev()
        .find(|d| pick(d))
        .expect("a manifest with that tag");
    read_manifest(layout, desc.digest().as_ref())
}

/// The image of one manifest in a layout (an index's member, say).
pub fn read_manifest(layout: &Path, digest: &str) -> Image {
    let reader = LayoutReader::new(layout);
    let desc = Descriptor::new(
        MediaType::ImageManifest,
        0,
        oci_spec::image::Digest::from_str(digest).unwrap(),
    );
    let typed = reader.manifest(&desc).unwrap();
    let manifest_digest = digest.to_owned();
    // The documents as JSON values, for the tests to look into.
    let manifest: serde_json::Value =
        serde_json::from_slice(&read_blob(layout, &manifest_digest)).unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&read_blob(layout, typed.config().digest().as_ref())).unwrap();
    let mut layers = Vec::new();
    let mut layer_digests = Vec::new();
    for l in typed.layers() {
        let digest = l.digest().as_ref();
        layer_digests.push(digest.to_owned());
        let blob = read_blob(layout, digest);
        let media = l.media_type();
        let mut raw = Vec::new();
        if *media == MediaType::ImageLayerGzip {
            flate2::read::GzDecoder::new(&blob[..])
                .read_to_end(&mut raw)
                .unwrap();
        } else {
            assert_eq!(*media, MediaType::ImageLayerZstd);
            zstd::stream::read::Decoder::new(&blob[..])
                .unwrap()
                .read_to_end(&mut raw)
                .unwrap();
        }
        let mut entries = BTreeMap::new();
        let mut archive = tar::Archive::new(&raw[..]);
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let h = e.header().clone();
            let link = e.link_name().unwrap().map(|l| l.display().to_string());
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            let previous = entries.insert(
                path.trim_end_matches('/').to_owned(),
                TarEntry {
                    kind: h.entry_type(),
                    mode: h.mode().unwrap(),
                    uid: h.uid().unwrap(),
                    gid: h.gid().unwrap(),
                    mtime: h.mtime().unwrap(),
                    link,
                    data,
                },
            );
            assert!(previous.is_none(), "duplicate tar entry {path}");
        }
        layers.push(entries);
    }
    Image {
        manifest_digest,
        manifest,
        config,
        layers,
        layer_digests,
    }
}

impl Image {
    /// The merged view: upper layers win.
    pub fn merged(&self) -> BTreeMap<String, TarEntry> {
        let mut out = BTreeMap::new();
        for l in &self.layers {
            out.extend(l.clone());
        }
        out
    }
}

/// Run a tool, assert it succeeded; its stdout.
pub fn tool(program: &str, args: &[&str]) -> String {
    let o = Command::new(program).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A P-256 key pair made by openssl in `dir`: `(NAME.pem, NAME.pub)` (private PKCS#8 PEM,
/// public PEM).
pub fn openssl_keypair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (key, public) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.pub")),
    );
    let (k, p) = (key.to_str().unwrap(), public.to_str().unwrap());
    tool(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            k,
        ],
    );
    tool("openssl", &["pkey", "-in", k, "-pubout", "-out", p]);
    (key, public)
}

/// `openssl dgst -sha256 -verify` of `payload` and the DER signature `sig` with `public`
/// (both written to files in `dir`).
pub fn openssl_verifies(dir: &Path, public: &Path, payload: &[u8], sig: &[u8]) -> bool {
    let (p, s) = (dir.join("payload"), dir.join("sig.der"));
    fs_err::write(&p, payload).unwrap();
    fs_err::write(&s, sig).unwrap();
    let o = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(public)
        .arg("-signature")
        .arg(&s)
        .arg(&p)
        .output()
        .unwrap();
    o.status.success() && String::from_utf8_lossy(&o.stdout).contains("Verified OK")
}

/// Every file under `dir`, recursively, sorted.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs_err::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The first file under `dir` (at any depth, in `files` order) whose name starts with
/// `prefix`.
pub fn find_file(dir: &Path, prefix: &str) -> PathBuf {
    files(dir)
        .into_iter()
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} under {}", dir.display()))
}

/// The machine's apt mirrors and the Debian archive keyring (the system's, else the
/// project's copy), or why there are none.
pub fn debian_sources() -> Result<(compose::mirror::Mirrors, PathBuf), String> {
    let mirrors = compose::mirror::Mirrors::new(&[], Path::new("/"))
        .map_err(|e| format!("no mirror: {e}"))?;
    let keyring = [
        PathBuf::from("/usr/share/keyrings/debian-archive-keyring.gpg"),
        repo_root().join("keys/debian-archive-keyring.gpg"),
    ]
    .into_iter()
    .find(|k| k.is_file())
    .ok_or("no Debian archive keyring")?;
    Ok((mirrors, keyring))
}

/// Is `tool` on PATH?
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// What a platform compose builds (distroless's six) looks like in an image.
pub struct PlatformFacts {
    /// The `--platform` name.
    pub name: &'static str,
    /// OCI `architecture` and `variant`, as Docker and distroless publish them.
    pub architecture: &'static str,
    pub variant: Option<&'static str>,
    pub debian: &'static str,
    /// ELF `e_machine` of its binaries.
    pub machine: u16,
    /// Debian's multiarch directory under `/usr/lib`.
    pub triplet: &'static str,
    /// The dynamic loader, as the kernel looks for it (ELF interpreter, without the `/`).
    pub loader: &'static str,
}

pub const PLATFORMS: &[PlatformFacts] = &[
    PlatformFacts {
        name: "linux/amd64",
        architecture: "amd64",
        variant: None,
        debian: "amd64",
        machine: 62, // EM_X86_64
        triplet: "x86_64-linux-gnu",
        loader: "lib64/ld-linux-x86-64.so.2",
    },
    PlatformFacts {
        name: "linux/arm64",
        architecture: "arm64",
        variant: Some("v8"),
        debian: "arm64",
        machine: 183, // EM_AARCH64
        triplet: "aarch64-linux-gnu",
        loader: "lib/ld-linux-aarch64.so.1",
    },
    PlatformFacts {
        name: "linux/arm/v7",
        architecture: "arm",
        variant: Some("v7"),
        debian: "armhf",
        machine: 40, // EM_ARM
        triplet: "arm-linux-gnueabihf",
        loader: "lib/ld-linux-armhf.so.3",
    },
    PlatformFacts {
        name: "linux/ppc64le",
        architecture: "ppc64le",
        variant: None,
        debian: "ppc64el",
        machine: 21, // EM_PPC64
        triplet: "powerpc64le-linux-gnu",
        loader: "lib64/ld64.so.2",
    },
    PlatformFacts {
        name: "linux/riscv64",
        architecture: "riscv64",
        variant: None,
        debian: "riscv64",
        machine: 243, // EM_RISCV
        triplet: "riscv64-linux-gnu",
        loader: "lib/ld-linux-riscv64-lp64d.so.1",
    },
    PlatformFacts {
        name: "linux/s390x",
        architecture: "s390x",
        variant: None,
        debian: "s390x",
        machine: 22, // EM_S390
        triplet: "s390x-linux-gnu",
        loader: "lib/ld64.so.1",
    },
];

/// `e_machine` of an ELF file, read in the file's own byte order (s390x is big-endian);
/// `None` when the bytes are not ELF.
pub fn elf_machine(bytes: &[u8]) -> Option<u16> {
    if bytes.len() < 20 || &bytes[..4] != b"\x7fELF" {
        return None;
    }
    let m = [bytes[18], bytes[19]];
    match bytes[5] {
        1 => Some(u16::from_le_bytes(m)),
        2 => Some(u16::from_be_bytes(m)),
        _ => None,
    }
}

/// Check an image's platform fields against `p`: the index descriptor's `platform` (when
/// there is one) and the config's `os`, `architecture` and `variant`.
pub fn assert_platform(p: &PlatformFacts, descriptor: Option<&serde_json::Value>, img: &Image) {
    let mut want = serde_json::json!({"os": "linux", "architecture": p.architecture});
    if let Some(v) = p.variant {
        want["variant"] = v.into();
    }
    if let Some(d) = descriptor {
        assert_eq!(d["platform"], want, "index entry of {}", p.name);
    }
    let c = &img.config;
    assert_eq!(
        (&c["os"], &c["architecture"], c.get("variant")),
        (&want["os"], &want["architecture"], want.get("variant")),
        "config of {}",
        p.name
    );
}

/// The images of a multi-platform image tagged `tag` in a layout: each manifest of its
/// index with that manifest's descriptor, in the index's order.
pub fn read_index_images(layout: &Path, tag: &str) -> Vec<(serde_json::Value, Image)> {
    let reader = LayoutReader::new(layout);
    let desc = reader
        .tagged(tag)
        .unwrap()
        .expect("a manifest with that tag");
    assert_eq!(
        *desc.media_type(),
        MediaType::ImageIndex,
        "a multi-platform image"
    );
    reader
        .child_index(&desc)
        .unwrap()
        .manifests()
        .iter()
        .map(|m| {
            (
                serde_json::to_value(m).unwrap(),
                read_manifest(layout, m.digest().as_ref()),
            )
        })
        .collect()
}
