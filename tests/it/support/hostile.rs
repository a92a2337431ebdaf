//! A second signed repository made at test time, for hostile-input tests: its own throwaway
//! gpg keys (good, expired, revoked, with expired or revoked signing subkeys, RSA for SHA-1
//! signatures), Release fields the test controls, Packages paragraphs whose fields a test
//! may override, and `.deb`s built byte by byte (`DebBuilder`, `TarBuilder`), so that
//! headers, names and sizes can lie.
//!
//! Needs `gpg` and `gpgv` (`cargo xtask test` installs them): the tests that make such a
//! repository are `#[ignore = "needs gpg …"]`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

/// Fail unless gpg is installed: the hostile repository cannot be signed without it. Its
/// tests are `#[ignore = "needs gpg …"]`; `cargo xtask test` installs gpg and runs them.
fn require_gpg() {
    let ok = Command::new("gpg")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "gpg is not installed: run `cargo xtask test` (it installs gnupg)"
    );
}

/// What is wrong (or not) with the key that signs the release file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// An ed25519 primary key that signs, never expires.
    Good,
    /// A primary key that expired in 2021; the signature was made (in 2020) while it was valid.
    Expired,
    /// A primary key revoked after it signed.
    Revoked,
    /// A certify-only primary key whose signing subkey expired in 2021 (signed in 2020).
    SubkeyExpired,
    /// A certify-only primary key whose signing subkey was revoked after it signed.
    SubkeyRevoked,
    /// An RSA key, so that the signature may be made over SHA-1 (`ReleaseOpts::digest`).
    Rsa,
}

/// A throwaway signing key in its own GNUPGHOME; the agent is stopped on drop.
#[derive(Debug)]
pub struct Key {
    pub kind: KeyKind,
    home: tempfile::TempDir,
    /// The exported public keyring (binary), for a spec's `signed-by`.
    pub keyring: PathBuf,
    /// What `--local-user` names (`FPR!` forces a subkey).
    signer: String,
    /// gpg's `--faked-system-time` for signing, for keys that are no longer valid now.
    sign_time: Option<&'static str>,
}

const PAST_CREATE: &str = "20200101T000000!";
const PAST_SIGN: &str = "20200601T000000!";

impl Key {
    pub fn generate(kind: KeyKind) -> Key {
        require_gpg();
        let home = tempfile::tempdir().unwrap();
        let mut key = Key {
            kind,
            keyring: home.path().join("keyring.gpg"),
            home,
            signer: String::new(),
            sign_time: None,
        };
        let uid = "compose hostile archive <hostile@invalid>";
        match kind {
            KeyKind::Good => {
                key.gpg(
                    &["--quick-generate-key", uid, "ed25519", "sign", "never"],
                    None,
                );
                key.signer = key.fingerprints()[0].clone();
            }
            KeyKind::Rsa => {
                key.gpg(
                    &["--quick-generate-key", uid, "rsa2048", "sign", "never"],
                    None,
                );
                key.signer = key.fingerprints()[0].clone();
            }
            KeyKind::Expired => {
                key.gpg_at(
                    PAST_CREATE,
                    &["--quick-generate-key", uid, "ed25519", "sign", "2021-01-01"],
                );
                key.signer = key.fingerprints()[0].clone();
                key.sign_time = Some(PAST_SIGN);
            }
            KeyKind::Revoked => {
                key.gpg(
                    &["--quick-generate-key", uid, "ed25519", "sign", "never"],
                    None,
                );
                key.signer = key.fingerprints()[0].clone();
            }
            KeyKind::SubkeyExpired | KeyKind::SubkeyRevoked => {
                let expired = kind == KeyKind::SubkeyExpired;
                let at = expired.then_some(PAST_CREATE);
                let primary_args = ["--quick-generate-key", uid, "ed25519", "cert", "never"];
                match at {
                    Some(t) => key.gpg_at(t, &primary_args),
                    None => key.gpg(&primary_args, None),
                };
                let primary = key.fingerprints()[0].clone();
                let expiry = if expired { "2021-01-01" } else { "never" };
                let sub_args = ["--quick-add-key", &primary, "ed25519", "sign", expiry];
                match at {
                    Some(t) => key.gpg_at(t, &sub_args),
                    None => key.gpg(&sub_args, None),
                };
                key.signer = format!("{}!", key.fingerprints()[1]);
                if expired {
                    key.sign_time = Some(PAST_SIGN);
                }
            }
        }
        key
    }

    fn gpg_command(&self) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", self.home.path()).args([
            "--batch",
            "--quiet",
            "--yes",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ]);
        c
    }

    fn gpg(&self, args: &[&str], stdin: Option<&str>) -> String {
        let mut c = self.gpg_command();
        c.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("gpg runs");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn gpg_at(&self, time: &str, args: &[&str]) -> String {
        let mut all = vec!["--faked-system-time", time];
        all.extend_from_slice(args);
        self.gpg(&all, None)
    }

    /// Fingerprints of the primary key, then of each subkey, in gpg's order.
    fn fingerprints(&self) -> Vec<String> {
        let listing = self.gpg(&["--with-colons", "--list-secret-keys"], None);
        listing
            .lines()
            .filter(|l| l.starts_with("fpr:"))
            .map(|l| l.split(':').nth(9).unwrap_or_default().to_owned())
            .collect()
    }

    /// Revoke what `kind` says after signing, then export the public keyring.
    fn finish(&self) {
        match self.kind {
            KeyKind::Revoked => {
                // gpg writes a revocation certificate for every key it generates, its armor
                // guarded by a leading `:` against accidental import.
                let fpr = &self.fingerprints()[0];
                let rev = self
                    .home
                    .path()
                    .join("openpgp-revocs.d")
                    .join(format!("{fpr}.rev"));
                let text = fs_err::read_to_string(&rev)
                    .unwrap()
                    .replace(":-----", "-----");
                let cert = self.home.path().join("revoke.asc");
                fs_err::write(&cert, text).unwrap();
                self.gpg(&["--import", cert.to_str().unwrap()], None);
            }
            KeyKind::SubkeyRevoked => {
                let fpr = self.fingerprints()[0].clone();
                // key 1, revkey, confirm, reason 0 (no reason), empty description, ok, save.
                self.gpg(
                    &["--command-fd", "0", "--edit-key", &fpr],
                    Some("key 1\nrevkey\ny\n0\n\ny\nsave\n"),
                );
            }
            _ => {}
        }
        if self.keyring.exists() {
            fs_err::remove_file(&self.keyring).unwrap();
        }
        self.gpg(
            &["--export", "--output", self.keyring.to_str().unwrap()],
            None,
        );
    }

    /// Clear-sign `text` (the Release file) into an InRelease.
    fn clearsign(&self, text: &str, digest: Option<&str>) -> Vec<u8> {
        let input = self.home.path().join("Release.in");
        let output = self.home.path().join("InRelease.out");
        fs_err::write(&input, text).unwrap();
        let mut args: Vec<&str> = Vec::new();
        if let Some(t) = self.sign_time {
            args.extend(["--faked-system-time", t]);
        }
        if let Some(d) = digest {
            args.extend(["--digest-algo", d]);
        }
        args.extend(["--local-user", &self.signer, "--clearsign", "--output"]);
        args.push(output.to_str().unwrap());
        args.push(input.to_str().unwrap());
        self.gpg(&args, None);
        fs_err::read(&output).unwrap()
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "all"])
            .output();
    }
}

/// One package of the hostile repository.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub deb: Vec<u8>,
    /// Fields of its Packages paragraph that replace the computed ones (`Size`, `SHA256`,
    /// `Filename`, `Package`...) or are added (`Depends`); an empty value drops the field.
    pub fields: Vec<(String, String)>,
}

impl Package {
    /// A package whose `.deb` is `deb`, listed truthfully unless `fields` says otherwise.
    pub fn new(name: &str, version: &str, deb: Vec<u8>) -> Package {
        Package {
            name: name.to_owned(),
            version: version.to_owned(),
            architecture: "amd64".into(),
            deb,
            fields: Vec::new(),
        }
    }

    pub fn field(mut self, name: &str, value: &str) -> Package {
        self.fields.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// What the Release file says, and how it is signed.
#[derive(Debug, Clone)]
pub struct ReleaseOpts {
    /// `Suite:`; `None` drops the field.
    pub suite: Option<String>,
    /// `Codename:`; `None` drops the field.
    pub codename: Option<String>,
    /// `Date:` (RFC 2822, as Debian writes it); `None` drops the field.
    pub date: Option<String>,
    pub valid_until: Option<String>,
    /// gpg's `--digest-algo` (`SHA1` needs `KeyKind::Rsa`).
    pub digest: Option<&'static str>,
    /// Lines appended to the Release file as they are.
    pub extra: String,
}

impl Default for ReleaseOpts {
    fn default() -> ReleaseOpts {
        ReleaseOpts {
            suite: Some(SUITE.into()),
            codename: Some(SUITE.into()),
            date: Some("Tue, 14 Nov 2023 22:13:20 UTC".into()),
            valid_until: None,
            digest: None,
            extra: String::new(),
        }
    }
}

/// The suite every hostile repository serves (and specs ask for).
pub const SUITE: &str = "hostile";

/// A repository on disk: `dists/hostile/{InRelease,main/binary-amd64/Packages{,.gz}}` and
/// `pool/`. Serve it with `support::server::Server::start(repo.root())`.
#[derive(Debug)]
pub struct Repo {
    dir: tempfile::TempDir,
    packages: Vec<Package>,
    /// The suite it serves (`dists/<suite>`): `SUITE` unless `with_suite` says otherwise.
    suite: String,
}

impl Default for Repo {
    fn default() -> Repo {
        Repo::new()
    }
}

impl Repo {
    pub fn new() -> Repo {
        Repo::with_suite(SUITE)
    }

    /// A repository serving `suite` (publish it with a `ReleaseOpts` naming that suite).
    pub fn with_suite(suite: &str) -> Repo {
        Repo {
            dir: tempfile::tempdir().unwrap(),
            packages: Vec::new(),
            suite: suite.to_owned(),
        }
    }

    /// The packages published so far, to replace one (`packages_mut().retain(...)`).
    pub fn packages_mut(&mut self) -> &mut Vec<Package> {
        &mut self.packages
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn add(&mut self, p: Package) -> &mut Repo {
        self.packages.push(p);
        self
    }

    /// The Packages paragraph of `p` (control fields, then pool fields, then overrides).
    fn paragraph(p: &Package, filename: &str) -> String {
        let mut fields: Vec<(String, String)> = vec![
            ("Package".into(), p.name.clone()),
            ("Version".into(), p.version.clone()),
            ("Architecture".into(), p.architecture.clone()),
            ("Maintainer".into(), "hostile <hostile@invalid>".into()),
            ("Installed-Size".into(), "1".into()),
            ("Filename".into(), filename.to_owned()),
            ("Size".into(), p.deb.len().to_string()),
            ("SHA256".into(), hex::encode(Sha256::digest(&p.deb))),
            ("Description".into(), "hostile test package".into()),
        ];
        for (k, v) in &p.fields {
            match fields.iter_mut().find(|(f, _)| f == k) {
                Some(slot) => slot.1 = v.clone(),
                None => fields.push((k.clone(), v.clone())),
            }
        }
        let mut out = String::new();
        for (k, v) in fields.iter().filter(|(_, v)| !v.is_empty()) {
            writeln!(out, "{k}: {v}").unwrap();
        }
        out.push('\n');
        out
    }

    /// Write the pool, the indexes and the Release file, signed by `key` as `opts` says.
    /// Returns the Packages text as listed (for tests that rewrite it).
    pub fn publish(&self, key: &Key, opts: &ReleaseOpts) -> String {
        let root = self.root();
        let mut index = String::new();
        for p in &self.packages {
            // As Debian's pool: `pool/main/h/<source>/` (the `Source` field, else the name).
            let source = p
                .fields
                .iter()
                .find(|(k, _)| k == "Source")
                .map_or(p.name.as_str(), |(_, v)| v.as_str());
            let dir = format!("pool/main/h/{source}");
            fs_err::create_dir_all(root.join(&dir)).unwrap();
            let file =
                format!("{}_{}_{}.deb", p.name, p.version, p.architecture).replace(['/', ':'], "_");
            fs_err::write(root.join(&dir).join(&file), &p.deb).unwrap();
            index.push_str(&Repo::paragraph(p, &format!("{dir}/{file}")));
        }
        self.publish_index(key, opts, index.as_bytes());
        index
    }

    /// Write `index` as the suite's Packages (plain and gzip), and a Release listing both,
    /// signed by `key`.
    pub fn publish_index(&self, key: &Key, opts: &ReleaseOpts, index: &[u8]) {
        let dists = self.root().join("dists").join(&self.suite);
        let bin = dists.join("main/binary-amd64");
        fs_err::create_dir_all(&bin).unwrap();
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(index).unwrap();
            e.finish().unwrap()
        };
        fs_err::write(bin.join("Packages"), index).unwrap();
        fs_err::write(bin.join("Packages.gz"), &gz).unwrap();
        let mut release = String::from("Origin: hostile\nLabel: hostile\n");
        for (field, value) in [
            ("Suite", &opts.suite),
            ("Codename", &opts.codename),
            ("Date", &opts.date),
            ("Valid-Until", &opts.valid_until),
        ] {
            if let Some(v) = value {
                writeln!(release, "{field}: {v}").unwrap();
            }
        }
        release.push_str("Architectures: amd64\nComponents: main\n");
        release.push_str(&opts.extra);
        release.push_str("SHA256:\n");
        for (name, data) in [("Packages", index), ("Packages.gz", &gz[..])] {
            writeln!(
                release,
                " {} {} main/binary-amd64/{name}",
                hex::encode(Sha256::digest(data)),
                data.len()
            )
            .unwrap();
        }
        let signed = key.clearsign(&release, opts.digest);
        key.finish();
        fs_err::write(dists.join("InRelease"), signed).unwrap();
    }

    /// A spec named `name` asking for suite `hostile` of archive `hostile`, verified with
    /// `key`, written into `dir`; `body` adds `[packages]` and the rest. Build it with
    /// `--mirror hostile=URL`.
    pub fn spec(dir: &Path, name: &str, key: &Key, body: &str) -> PathBuf {
        let text = format!(
            "name = \"{name}\"\n\n[[source]]\narchive = \"hostile\"\nsuites = [\"{SUITE}\"]\ncomponents = [\"main\"]\nsigned-by = \"{}\"\n\n{body}",
            key.keyring.display()
        );
        let p = dir.join(format!("{name}.toml"));
        fs_err::write(&p, text).unwrap();
        p
    }
}

/// A tar stream assembled header by header, so that any field can lie.
#[derive(Debug, Default, Clone)]
pub struct TarBuilder {
    out: Vec<u8>,
}

/// ustar type flags.
pub mod flag {
    pub const FILE: u8 = b'0';
    pub const HARDLINK: u8 = b'1';
    pub const SYMLINK: u8 = b'2';
    pub const DIR: u8 = b'5';
    pub const PAX: u8 = b'x';
}

impl TarBuilder {
    pub fn new() -> TarBuilder {
        TarBuilder::default()
    }

    /// A 512-byte ustar header: `name` and `link` cut at 100 bytes, `size` as octal (or
    /// base-256 when it does not fit 11 octal digits), the checksum computed.
    pub fn header(name: &[u8], flag: u8, size: u64, link: &[u8], mode: u32) -> [u8; 512] {
        let mut h = [0u8; 512];
        let n = name.len().min(100);
        h[..n].copy_from_slice(&name[..n]);
        h[100..107].copy_from_slice(format!("{mode:07o}").as_bytes());
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        if size < 0o77777777777 {
            h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        } else {
            h[124] = 0x80;
            h[128..136].copy_from_slice(&size.to_be_bytes());
        }
        h[136..147].copy_from_slice(b"14530000000");
        h[156] = flag;
        let l = link.len().min(100);
        h[157..157 + l].copy_from_slice(&link[..l]);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        h
    }

    /// Append a raw header and `data`, padded to 512 bytes (`data` need not match the
    /// header's size: that is the point).
    pub fn raw(mut self, header: [u8; 512], data: &[u8]) -> TarBuilder {
        self.out.extend_from_slice(&header);
        self.out.extend_from_slice(data);
        let rem = (512 - data.len() % 512) % 512;
        self.out.extend(std::iter::repeat_n(0u8, rem));
        self
    }

    pub fn dir(self, path: &str) -> TarBuilder {
        let h = TarBuilder::header(path.as_bytes(), flag::DIR, 0, b"", 0o755);
        self.raw(h, b"")
    }

    pub fn file(self, path: &str, data: &[u8]) -> TarBuilder {
        let h = TarBuilder::header(path.as_bytes(), flag::FILE, data.len() as u64, b"", 0o644);
        self.raw(h, data)
    }

    pub fn symlink(self, path: &str, target: &str) -> TarBuilder {
        let h = TarBuilder::header(path.as_bytes(), flag::SYMLINK, 0, target.as_bytes(), 0o777);
        self.raw(h, b"")
    }

    pub fn hardlink(self, path: &str, target: &str) -> TarBuilder {
        let h = TarBuilder::header(path.as_bytes(), flag::HARDLINK, 0, target.as_bytes(), 0o644);
        self.raw(h, b"")
    }

    /// A PAX extended header (`x`) with `records` for the entry that follows.
    pub fn pax(self, records: &[(&str, &[u8])]) -> TarBuilder {
        let mut body = Vec::new();
        for (key, value) in records {
            let rest = key.len() + value.len() + 3;
            let mut len = rest + 1;
            while len.to_string().len() + rest != len {
                len += 1;
            }
            body.extend_from_slice(format!("{len} {key}=").as_bytes());
            body.extend_from_slice(value);
            body.push(b'\n');
        }
        let h = TarBuilder::header(b"././@PaxHeader", flag::PAX, body.len() as u64, b"", 0o644);
        self.raw(h, &body)
    }

    /// The stream with its two zero end blocks.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(&[0u8; 1024]);
        self.out
    }

    /// The stream without end blocks (for truncation tests).
    pub fn unfinished(self) -> Vec<u8> {
        self.out
    }
}

/// A `.deb` assembled member by member: `debian-binary`, `control.tar.gz`, `data.tar*`.
#[derive(Debug, Clone)]
pub struct DebBuilder {
    members: Vec<(Vec<u8>, Vec<u8>)>,
}

impl DebBuilder {
    /// A well-formed package skeleton: `debian-binary` and a control.tar.gz with `control`
    /// naming `name`, `version`, amd64 and `installed_size_kib`; add a data member next.
    pub fn new(name: &str, version: &str, installed_size_kib: u64) -> DebBuilder {
        let control = format!(
            "Package: {name}\nVersion: {version}\nArchitecture: amd64\nMaintainer: hostile <hostile@invalid>\nInstalled-Size: {installed_size_kib}\nDescription: hostile test package\n"
        );
        DebBuilder::with_control(&control)
    }

    /// Like `new`, with the control file given whole.
    pub fn with_control(control: &str) -> DebBuilder {
        let tar = TarBuilder::new()
            .dir("./")
            .file("./control", control.as_bytes())
            .finish();
        DebBuilder {
            members: vec![
                (b"debian-binary".to_vec(), b"2.0\n".to_vec()),
                (b"control.tar.gz".to_vec(), gzip(&tar)),
            ],
        }
    }

    /// Append an ar member named `name` holding `data` exactly.
    pub fn member(mut self, name: &[u8], data: Vec<u8>) -> DebBuilder {
        self.members.push((name.to_vec(), data));
        self
    }

    /// Append `data.tar` (uncompressed) holding `tar`.
    pub fn data(self, tar: Vec<u8>) -> DebBuilder {
        self.member(b"data.tar", tar)
    }

    /// Append `data.tar.gz` holding `tar`, gzip-compressed.
    pub fn data_gz(self, tar: &[u8]) -> DebBuilder {
        self.member(b"data.tar.gz", gzip(tar))
    }

    /// The ar archive; each header's size is the member's true size.
    pub fn build(self) -> Vec<u8> {
        let mut out = b"!<arch>\n".to_vec();
        for (name, data) in self.members {
            out.extend_from_slice(&ar_header(&name, data.len() as u64));
            out.extend_from_slice(&data);
            if data.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }
}

/// A 60-byte ar member header (`name` cut at 16 bytes, `size` as it is given).
pub fn ar_header(name: &[u8], size: u64) -> [u8; 60] {
    let mut h = [b' '; 60];
    let n = name.len().min(16);
    h[..n].copy_from_slice(&name[..n]);
    let fields = format!(
        "{:<12}{:<6}{:<6}{:<8}{:<10}",
        1_700_000_000, 0, 0, "100644", size
    );
    h[16..58].copy_from_slice(&fields.as_bytes()[..42]);
    h[58] = b'`';
    h[59] = b'\n';
    h
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}
