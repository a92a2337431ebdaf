//! `cargo xtask fixture`: regenerate the small signed Debian repository under
//! `tests/data/repo` (tiny .debs made with dpkg-deb, Packages indexes, Release signed by a
//! throw-away key whose public half goes to `tests/data/keys`), for every architecture
//! compose builds (`ARCHES`): its binaries are ELF headers with the right machine.
//!
//! The .debs and Packages indexes are byte-identical from run to run (fixed mtimes, modes,
//! `SOURCE_DATE_EPOCH`, `gzip -n`); the key, and so `InRelease`/`Release.gpg`, is new each time.
//! Needs dpkg-deb, gpg, gpgconf, xz, gzip, sha256sum, md5sum (and zstd for `-Zzstd`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

const EPOCH: &str = "1700000000";

/// An architecture of the fixture: what its ELF files say and where Debian puts its
/// libraries (`{triplet}` in a path) and its dynamic loader (`{loader}`).
struct Arch {
    debian: &'static str,
    triplet: &'static str,
    loader: &'static str,
    /// ELFCLASS64 (else 32).
    class64: bool,
    big_endian: bool,
    machine: u16,
    flags: u32,
}

/// Every platform compose builds (distroless's six), by Debian architecture.
const ARCHES: &[Arch] = &[
    Arch {
        debian: "amd64",
        triplet: "x86_64-linux-gnu",
        loader: "lib64/ld-linux-x86-64.so.2",
        class64: true,
        big_endian: false,
        machine: 62, // EM_X86_64
        flags: 0,
    },
    Arch {
        debian: "arm64",
        triplet: "aarch64-linux-gnu",
        loader: "lib/ld-linux-aarch64.so.1",
        class64: true,
        big_endian: false,
        machine: 183, // EM_AARCH64
        flags: 0,
    },
    Arch {
        debian: "armhf",
        triplet: "arm-linux-gnueabihf",
        loader: "lib/ld-linux-armhf.so.3",
        class64: false,
        big_endian: false,
        machine: 40,        // EM_ARM
        flags: 0x0500_0400, // EABI 5, hard float
    },
    Arch {
        debian: "ppc64el",
        triplet: "powerpc64le-linux-gnu",
        loader: "lib64/ld64.so.2",
        class64: true,
        big_endian: false,
        machine: 21, // EM_PPC64
        flags: 2,    // ELFv2 ABI
    },
    Arch {
        debian: "riscv64",
        triplet: "riscv64-linux-gnu",
        loader: "lib/ld-linux-riscv64-lp64d.so.1",
        class64: true,
        big_endian: false,
        machine: 243, // EM_RISCV
        flags: 5,     // RVC, double-float ABI
    },
    Arch {
        debian: "s390x",
        triplet: "s390x-linux-gnu",
        loader: "lib/ld64.so.1",
        class64: true,
        big_endian: true,
        machine: 22, // EM_S390
        flags: 0,
    },
];

/// A minimal valid ELF header (no program or section headers: nothing runs it) for `arch`.
fn elf_header(arch: &Arch) -> Vec<u8> {
    let mut h = vec![0x7f, b'E', b'L', b'F'];
    h.push(if arch.class64 { 2 } else { 1 });
    h.push(if arch.big_endian { 2 } else { 1 });
    h.push(1); // EV_CURRENT
    h.resize(16, 0); // OS ABI System V, padding
    let half = |h: &mut Vec<u8>, v: u16| {
        h.extend(if arch.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        })
    };
    let word = |h: &mut Vec<u8>, v: u32| {
        h.extend(if arch.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        })
    };
    half(&mut h, 3); // ET_DYN
    half(&mut h, arch.machine);
    word(&mut h, 1); // e_version
    let addr = if arch.class64 { 8 } else { 4 };
    h.extend(std::iter::repeat_n(0u8, 3 * addr)); // e_entry, e_phoff, e_shoff
    word(&mut h, arch.flags);
    let (ehsize, phentsize, shentsize) = if arch.class64 {
        (64, 56, 64)
    } else {
        (52, 32, 40)
    };
    for v in [ehsize, phentsize, 0, shentsize, 0, 0] {
        half(&mut h, v); // e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
    }
    assert_eq!(h.len(), usize::from(ehsize));
    h
}

/// One fixture package.
struct Pkg {
    name: &'static str,
    version: &'static str,
    /// `all`, or `any`: one package per architecture of `ARCHES`.
    arch: &'static str,
    /// Extra control fields (`Depends: ...`), one per line.
    control: &'static str,
    /// `(path, mode, content)`; content `@link:TARGET` makes a symlink, `@hard:TARGET` a hard
    /// link to another path of the package, `@gzip:TEXT` a file holding `TEXT` gzip-compressed,
    /// `@elf:TEXT` the architecture's ELF header followed by `TEXT`. In an `any` package,
    /// `{triplet}` and `{loader}` in a path become the architecture's.
    files: &'static [(&'static str, u32, &'static str)],
    /// data.tar compression for dpkg-deb.
    compression: &'static str,
    suite: &'static str,
}

const CERT_A: &str = "-----BEGIN CERTIFICATE-----\nMIIBfixtureA\n-----END CERTIFICATE-----\n";
const CERT_B: &str = "-----BEGIN CERTIFICATE-----\nMIIBfixtureB\n-----END CERTIFICATE-----\n";

/// base-files' `/usr/lib/os-release`, as Debian writes it (URLs of the fixture's own).
const OS_RELEASE: &str = "PRETTY_NAME=\"Fixture GNU/Linux 13 (testing)\"\nNAME=\"Fixture GNU/Linux\"\nVERSION_ID=\"13\"\nVERSION=\"13 (testing)\"\nVERSION_CODENAME=testing\nID=debian\nHOME_URL=\"https://fixture.invalid/\"\n";
const DEP5_GPL2: &str = "Format: https://example.invalid/copyright-format/1.0/\n\nFiles: *\nCopyright: 2026 compose fixtures\nLicense: GPL-2+\n";
const DEP5_GCC: &str = "Format: https://example.invalid/copyright-format/1.0/\n\nFiles: *\nCopyright: 2026 compose fixtures\nLicense: GPL-3+ with GCC-exception-3.1\n";

fn packages() -> Vec<Pkg> {
    let p = |name, version, arch, control, files, compression, suite| Pkg {
        name,
        version,
        arch,
        control,
        files,
        compression,
        suite,
    };
    vec![
        p(
            "f-base-files",
            "1.0-1",
            "all",
            "",
            &[
                ("etc/f-release", 0o644, "FIXTURE=1\n"),
                (
                    "usr/share/doc/f-base-files/copyright",
                    0o644,
                    "Public domain.\n",
                ),
                (
                    "usr/share/doc/f-base-files/changelog.gz",
                    0o644,
                    "@gzip:f-base-files (1.0-1) testing; urgency=low\n\n  * Fixture.\n",
                ),
                ("usr/share/man/man1/f.1.gz", 0o644, "@gzip:.TH F 1\n"),
                ("usr/share/locale/de/LC_MESSAGES/f.mo", 0o644, "mo\n"),
            ],
            "xz",
            "testing",
        ),
        // What scanners read (issue 23): an os-release compose rewrites, a nested
        // `debian/copyright` under the docs, a doc directory that is a symlink to another
        // package's (as libstdc++6 -> gcc-14-base), DEP-5 licences.
        p(
            "f-os-base",
            "1.0-1",
            "all",
            "",
            &[
                ("usr/lib/os-release", 0o644, OS_RELEASE),
                ("etc/os-release", 0o777, "@link:../usr/lib/os-release"),
                ("usr/share/doc/f-os-base/copyright", 0o644, DEP5_GPL2),
                (
                    "usr/share/doc/f-os-base/examples/f-local/debian/copyright",
                    0o644,
                    DEP5_GPL2,
                ),
            ],
            "xz",
            "testing",
        ),
        p(
            "f-gcc-base",
            "1.0-1",
            "all",
            "",
            &[
                ("usr/share/doc/f-gcc-base/copyright", 0o644, DEP5_GCC),
                (
                    "usr/share/doc/f-gcc-base/changelog.gz",
                    0o644,
                    "@gzip:f-gcc-base (1.0-1) testing; urgency=low\n\n  * Fixture.\n",
                ),
            ],
            "xz",
            "testing",
        ),
        p(
            "f-libstdc",
            "1.0-1",
            "all",
            "Depends: f-gcc-base (= 1.0-1)\n",
            &[
                ("usr/lib/f/libfstdc.so.6", 0o644, "libfstdc\n"),
                ("usr/share/doc/f-libstdc", 0o777, "@link:f-gcc-base"),
            ],
            "xz",
            "testing",
        ),
        p(
            "f-libc",
            "1.0-1",
            "any",
            "Multi-Arch: same\n",
            &[
                ("lib/{triplet}/libf.so.1", 0o644, "@elf:libf 1.0-1\n"),
                ("lib/{triplet}/libf.so", 0o777, "@link:libf.so.1"),
                ("{loader}", 0o755, "@elf:loader\n"),
            ],
            "xz",
            "testing",
        ),
        p(
            "f-libc",
            "1.0-2",
            "any",
            "Multi-Arch: same\n",
            &[
                ("lib/{triplet}/libf.so.1", 0o644, "@elf:libf 1.0-2\n"),
                ("lib/{triplet}/libf.so", 0o777, "@link:libf.so.1"),
                ("{loader}", 0o755, "@elf:loader\n"),
            ],
            "xz",
            "testing-updates",
        ),
        p(
            "f-tool",
            "1.0-1",
            "any",
            "Pre-Depends: f-libc (>= 1.0)\nDepends: f-awk | f-mawk, f-virtual, f-base-files, f-libc:any\n",
            &[
                ("bin/ftool", 0o755, "@elf:fixture tool\n"),
                ("usr/bin/ftool-alias", 0o755, "@hard:bin/ftool"),
                ("usr/sbin/fsetuid", 0o4755, "setuid\n"),
                ("usr/share/f/tool.txt", 0o644, "tool\n"),
            ],
            "zstd",
            "testing",
        ),
        p(
            "f-mawk",
            "1.0-1",
            "any",
            "Provides: f-awk\n",
            &[("usr/bin/f-mawk", 0o755, "mawk\n")],
            "gzip",
            "testing",
        ),
        p(
            "f-gawk",
            "1.0-1",
            "any",
            "Provides: f-awk\n",
            &[("usr/bin/f-gawk", 0o755, "gawk\n")],
            "xz",
            "testing",
        ),
        p(
            "f-provider",
            "1.0-1",
            "all",
            "Provides: f-virtual (= 2.0)\n",
            &[("usr/share/f/provider", 0o644, "p\n")],
            "xz",
            "testing",
        ),
        p(
            "f-ca-certificates",
            "1.0-1",
            "all",
            "Depends: f-openssl, f-debconf (>= 0.5) | f-debconf-2.0\n",
            &[
                ("usr/share/ca-certificates/fixture/a.crt", 0o644, CERT_A),
                ("usr/share/ca-certificates/fixture/b.crt", 0o644, CERT_B),
            ],
            "xz",
            "testing",
        ),
        p(
            "f-openssl",
            "1.0-1",
            "any",
            "",
            &[("usr/bin/f-openssl", 0o755, "openssl\n")],
            "xz",
            "testing",
        ),
        p(
            "f-debconf",
            "1.0-1",
            "all",
            "",
            &[("usr/share/f/debconf", 0o644, "debconf\n")],
            "xz",
            "testing",
        ),
        p(
            "f-conflict-a",
            "1.0-1",
            "all",
            "",
            &[("usr/share/f/conflict", 0o644, "from a\n")],
            "xz",
            "testing",
        ),
        p(
            "f-conflict-b",
            "1.0-1",
            "all",
            "",
            &[("usr/share/f/conflict", 0o644, "from b\n")],
            "xz",
            "testing",
        ),
        p(
            "f-same-a",
            "1.0-1",
            "all",
            "",
            &[("usr/share/f/same", 0o644, "same\n")],
            "xz",
            "testing",
        ),
        p(
            "f-same-b",
            "1.0-1",
            "all",
            "",
            &[("usr/share/f/same", 0o644, "same\n")],
            "xz",
            "testing",
        ),
        p(
            "f-broken",
            "1.0-1",
            "all",
            "Depends: f-missing\n",
            &[("usr/share/f/broken", 0o644, "b\n")],
            "xz",
            "testing",
        ),
        // What the debug variant adds: busybox-static (by its Debian name) and, through
        // `[debug] include`, a tool whose upstream version has a `+` (as OpenJDK's).
        p(
            "busybox-static",
            "1.0-1",
            "all",
            "",
            &[("usr/bin/busybox", 0o755, "#!/bin/sh\necho busybox\n")],
            "xz",
            "testing",
        ),
        p(
            "f-jdk",
            "2.5.1+7-1",
            "all",
            "Depends: f-tool (= 1.0-1)\n",
            &[
                (
                    "usr/lib/f-jvm/bin/fjavac",
                    0o755,
                    "#!/bin/sh\necho fjavac\n",
                ),
                ("usr/lib/f-jvm/lib/ct.sym", 0o644, "ct\n"),
            ],
            "xz",
            "testing",
        ),
        p(
            "f-toonew",
            "1.0-1",
            "all",
            "Depends: f-libc (>= 9.0)\n",
            &[("usr/share/f/toonew", 0o644, "t\n")],
            "xz",
            "testing",
        ),
    ]
}

fn sh(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!("{cmd:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Run `cmd` with `input` on stdin; its stdout.
fn pipe(cmd: &mut Command, input: &[u8]) -> Result<Vec<u8>> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    let mut stdin = child.stdin.take().context("stdin")?;
    stdin.write_all(input)?;
    drop(stdin);
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("{cmd:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(out.stdout)
}

/// First word of `<tool> FILE` (sha256sum, md5sum).
fn digest(tool: &str, path: &Path) -> Result<String> {
    let out = sh(Command::new(tool).arg(path))?;
    Ok(out.split_whitespace().next().unwrap_or_default().to_owned())
}

fn chmod(mode: u32, path: &Path) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}

/// Whether this dpkg-deb can build zstd members (dpkg >= 1.21.18 on Debian).
fn dpkg_has_zstd() -> bool {
    Command::new("dpkg-deb")
        .arg("--help")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .skip_while(|l| !l.contains("-Z<type>"))
                .take(3)
                .any(|l| l.contains("zstd"))
        })
        .unwrap_or(false)
}

/// Build `p` for `arch` (`None` for an `all` package) into `pool`.
fn build_deb(
    p: &Pkg,
    arch: Option<&Arch>,
    compression: &str,
    work: &Path,
    pool: &Path,
) -> Result<PathBuf> {
    let arch_name = arch.map_or(p.arch, |a| a.debian);
    let root = work.join(format!("{}_{}_{arch_name}", p.name, p.version));
    fs::create_dir_all(root.join("DEBIAN"))?;
    write_files(p, arch, &root)?;
    let md5 = sh(Command::new("sh").current_dir(&root).args([
        "-c",
        "find . -path ./DEBIAN -prune -o -type f -print | sed 's|^./||' | LC_ALL=C sort | xargs -r md5sum",
    ]))?;
    fs::write(root.join("DEBIAN/md5sums"), md5)?;
    let control = format!(
        "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: compose fixtures <fixtures@invalid>\nSection: misc\nPriority: optional\n{}Description: compose test fixture {}\n",
        p.name, p.version, arch_name, p.control, p.name
    );
    fs::write(root.join("DEBIAN/control"), control)?;
    // A maintainer script that must never run: it would leave a marker.
    fs::write(
        root.join("DEBIAN/postinst"),
        "#!/bin/sh\ntouch /tmp/compose-fixture-postinst-ran\n",
    )?;
    chmod(0o644, &root.join("DEBIAN/control"))?;
    chmod(0o644, &root.join("DEBIAN/md5sums"))?;
    chmod(0o755, &root.join("DEBIAN/postinst"))?;
    // Modes and mtimes independent of the umask and the clock.
    sh(Command::new("find")
        .arg(&root)
        .args(["-type", "d", "-exec", "chmod", "0755", "{}", "+"]))?;
    sh(Command::new("find").arg(&root).args([
        "-exec",
        "touch",
        "-h",
        "-d",
        &format!("@{EPOCH}"),
        "{}",
        "+",
    ]))?;
    let dir = pool.join(format!("main/f/{}", p.name));
    fs::create_dir_all(&dir)?;
    let deb = dir.join(format!("{}_{}_{arch_name}.deb", p.name, p.version));
    sh(Command::new("dpkg-deb")
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .arg("--root-owner-group")
        .arg(format!("-Z{compression}"))
        .arg("--build")
        .arg(&root)
        .arg(&deb))?;
    Ok(deb)
}

/// The files of `p` under `root`, for `arch` (`{triplet}` and `{loader}` in paths expanded):
/// `@link:` symlinks, `@hard:` hard links, `@gzip:` and `@elf:` contents, the rest as text.
fn write_files(p: &Pkg, arch: Option<&Arch>, root: &Path) -> Result<()> {
    let expand = |path: &str| match arch {
        Some(a) => path
            .replace("{triplet}", a.triplet)
            .replace("{loader}", a.loader),
        None => path.to_owned(),
    };
    for (path, mode, content) in p.files {
        let dest = root.join(expand(path));
        fs::create_dir_all(dest.parent().expect("files have parents"))?;
        if let Some(target) = content.strip_prefix("@link:") {
            std::os::unix::fs::symlink(target, &dest)?;
        } else if let Some(target) = content.strip_prefix("@hard:") {
            fs::hard_link(root.join(expand(target)), &dest)?;
        } else {
            let bytes = if let Some(text) = content.strip_prefix("@gzip:") {
                pipe(
                    Command::new("gzip").args(["-9", "-n", "-c"]),
                    text.as_bytes(),
                )?
            } else if let Some(text) = content.strip_prefix("@elf:") {
                let a =
                    arch.with_context(|| format!("{}: an ELF file needs an architecture", p.name))?;
                let mut bytes = elf_header(a);
                bytes.extend_from_slice(text.as_bytes());
                bytes
            } else {
                content.as_bytes().to_vec()
            };
            fs::write(&dest, bytes)?;
            chmod(*mode, &dest)?;
        }
    }
    Ok(())
}

/// The scratch directory (package trees, GNUPGHOME); removed, agent stopped, on drop.
struct Work {
    dir: PathBuf,
    gnupg: PathBuf,
}

impl Drop for Work {
    fn drop(&mut self) {
        if self.gnupg.exists() {
            let _ = Command::new("gpgconf")
                .env("GNUPGHOME", &self.gnupg)
                .args(["--kill", "all"])
                .output();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

pub fn run(_args: &[String]) -> Result<()> {
    for tool in ["dpkg-deb", "gpg", "xz", "gzip", "sha256sum", "md5sum"] {
        if !crate::tools::have(tool) {
            bail!("`{tool}` is needed to regenerate the fixture repository");
        }
    }
    let cwd = std::env::current_dir()?;
    let top = cwd.join("tests/data");
    let repo = top.join("repo");
    let keys = top.join("keys");
    if repo.exists() {
        fs::remove_dir_all(&repo)?;
    }
    fs::create_dir_all(&keys)?;
    let dir = std::env::temp_dir().join(format!("compose-fixture-{}", std::process::id()));
    let work = Work {
        gnupg: dir.join("gnupg"),
        dir,
    };
    if work.dir.exists() {
        fs::remove_dir_all(&work.dir)?;
    }
    fs::create_dir_all(&work.dir)?;
    let stanzas = build_packages(&work.dir, &repo)?;
    let keyring = make_key(&work.gnupg, &keys)?;
    for suite in ["testing", "testing-updates"] {
        write_suite(&repo, suite, &stanzas, &work.gnupg)?;
    }
    verify(&repo, &keyring)?;
    eprintln!(
        "xtask: regenerated {} (verified against {})",
        repo.strip_prefix(&cwd).unwrap_or(&repo).display(),
        keyring.strip_prefix(&cwd).unwrap_or(&keyring).display()
    );
    Ok(())
}

/// Build every package of the fixture (`any` ones for each architecture) into
/// `repo/pool`; the Packages text of each (suite, architecture), where `all` packages go
/// into every one.
fn build_packages(
    work: &Path,
    repo: &Path,
) -> Result<BTreeMap<(&'static str, &'static str), String>> {
    let zstd = dpkg_has_zstd();
    if !zstd {
        eprintln!("xtask: this dpkg-deb cannot build zstd members; using xz instead");
    }
    // The Packages text of each (suite, architecture): `all` packages go into every one.
    let mut stanzas: BTreeMap<(&'static str, &'static str), String> = BTreeMap::new();
    for p in packages() {
        let compression = if p.compression == "zstd" && !zstd {
            "xz"
        } else {
            p.compression
        };
        let builds: Vec<Option<&Arch>> = match p.arch {
            "any" => ARCHES.iter().map(Some).collect(),
            "all" => vec![None],
            other => bail!(
                "{}: architecture `{other}` is neither `all` nor `any`",
                p.name
            ),
        };
        for arch in builds {
            let deb = build_deb(&p, arch, compression, work, &repo.join("pool"))?;
            let fields = sh(Command::new("dpkg-deb").arg("-f").arg(&deb))?;
            let rel = deb.strip_prefix(repo)?.display().to_string();
            let size = fs::metadata(&deb)?.len();
            let stanza = format!(
                "{}\nFilename: {rel}\nSize: {size}\nMD5sum: {}\nSHA256: {}\n\n",
                fields.trim_end(),
                digest("md5sum", &deb)?,
                digest("sha256sum", &deb)?
            );
            for a in ARCHES {
                if arch.is_none_or(|arch| arch.debian == a.debian) {
                    stanzas
                        .entry((p.suite, a.debian))
                        .or_default()
                        .push_str(&stanza);
                }
            }
        }
    }
    Ok(stanzas)
}

/// gpg on the throw-away home `gnupg`, batch mode, no passphrase.
fn gpg(gnupg: &Path) -> Command {
    let mut c = Command::new("gpg");
    c.env("GNUPGHOME", gnupg).args([
        "--batch",
        "--quiet",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
    ]);
    c
}

/// A throw-away signing key in `gnupg`, exported to `keys/fixture-archive.{gpg,asc}`;
/// returns the binary keyring.
fn make_key(gnupg: &Path, keys: &Path) -> Result<PathBuf> {
    fs::create_dir_all(gnupg)?;
    chmod(0o700, gnupg)?;
    sh(gpg(gnupg).args([
        "--quick-generate-key",
        "compose fixture archive <fixtures@invalid>",
        "ed25519",
        "sign",
        "never",
    ]))?;
    let keyring = keys.join("fixture-archive.gpg");
    let armored = keys.join("fixture-archive.asc");
    for f in [&keyring, &armored] {
        if f.exists() {
            fs::remove_file(f)?;
        }
    }
    sh(gpg(gnupg).args(["--export", "--output"]).arg(&keyring))?;
    sh(gpg(gnupg)
        .args(["--armor", "--export", "--output"])
        .arg(&armored))?;
    Ok(keyring)
}

/// `dists/SUITE` of the fixture: the indexes of each architecture (plain, xz, gz; `by-hash`
/// copies for `testing`), the Release file listing them, signed inline and detached.
fn write_suite(
    repo: &Path,
    suite: &'static str,
    stanzas: &BTreeMap<(&'static str, &'static str), String>,
    gnupg: &Path,
) -> Result<()> {
    let indexes = ["Packages", "Packages.xz", "Packages.gz"];
    let architectures: Vec<&str> = ARCHES.iter().map(|a| a.debian).collect();
    let dists = repo.join("dists").join(suite);
    // `testing` keeps `by-hash` copies, as Debian's suites do; `testing-updates` does
    // not, so both ways of fetching an index are exercised.
    let by_hash = suite == "testing";
    let mut release = format!(
        "Origin: compose\nLabel: compose fixture\nSuite: {suite}\nCodename: {suite}\nDate: Tue, 14 Nov 2023 22:13:20 UTC\nArchitectures: {}\nComponents: main\nDescription: compose test fixture\n",
        architectures.join(" ")
    );
    if by_hash {
        release.push_str("Acquire-By-Hash: yes\n");
    }
    for arch in &architectures {
        let bin = dists.join(format!("main/binary-{arch}"));
        fs::create_dir_all(&bin)?;
        let text = stanzas.get(&(suite, arch)).cloned().unwrap_or_default();
        fs::write(bin.join("Packages"), &text)?;
        fs::write(
            bin.join("Packages.xz"),
            pipe(
                Command::new("xz").args(["-9", "-T1", "-c"]),
                text.as_bytes(),
            )?,
        )?;
        fs::write(
            bin.join("Packages.gz"),
            pipe(
                Command::new("gzip").args(["-9", "-n", "-c"]),
                text.as_bytes(),
            )?,
        )?;
        if by_hash {
            let dir = bin.join("by-hash/SHA256");
            fs::create_dir_all(&dir)?;
            for name in indexes {
                let f = bin.join(name);
                fs::copy(&f, dir.join(digest("sha256sum", &f)?))?;
            }
        }
    }
    for (field, tool) in [("MD5Sum", "md5sum"), ("SHA256", "sha256sum")] {
        writeln!(release, "{field}:")?;
        for arch in &architectures {
            for name in indexes {
                let f = dists.join(format!("main/binary-{arch}/{name}"));
                writeln!(
                    release,
                    " {} {:>8} main/binary-{arch}/{name}",
                    digest(tool, &f)?,
                    fs::metadata(&f)?.len()
                )?;
            }
        }
    }
    fs::write(dists.join("Release"), &release)?;
    sh(gpg(gnupg)
        .arg("--clearsign")
        .arg("--output")
        .arg(dists.join("InRelease"))
        .arg(dists.join("Release")))?;
    sh(gpg(gnupg)
        .args(["--detach-sign", "--armor", "--output"])
        .arg(dists.join("Release.gpg"))
        .arg(dists.join("Release")))?;
    Ok(())
}

/// Check what was written the way a client would: signatures against the exported key
/// alone, then every Release hash and size.
fn verify(repo: &Path, keyring: &Path) -> Result<()> {
    let home = std::env::temp_dir().join(format!("compose-fixture-verify-{}", std::process::id()));
    fs::create_dir_all(&home)?;
    chmod(0o700, &home)?;
    let result = (|| -> Result<()> {
        for suite in ["testing", "testing-updates"] {
            let dists = repo.join("dists").join(suite);
            let gpgv = |args: &[&Path]| {
                sh(Command::new("gpg")
                    .env("GNUPGHOME", &home)
                    .args(["--batch", "--no-default-keyring", "--keyring"])
                    .arg(keyring)
                    .arg("--verify")
                    .args(args))
            };
            gpgv(&[&dists.join("InRelease")])?;
            gpgv(&[&dists.join("Release.gpg"), &dists.join("Release")])?;
            let release = fs::read_to_string(dists.join("Release"))?;
            let mut field = "";
            for line in release.lines() {
                if let Some(name) = line.strip_suffix(':') {
                    field = if name == "MD5Sum" {
                        "md5sum"
                    } else {
                        "sha256sum"
                    };
                    continue;
                }
                let parts: Vec<&str> = line.split_whitespace().collect();
                if let (true, [hash, size, name]) = (line.starts_with(' '), parts.as_slice()) {
                    let f = dists.join(name);
                    if digest(field, &f)? != *hash || fs::metadata(&f)?.len().to_string() != *size {
                        bail!("{}: {field} or size does not match Release", f.display());
                    }
                }
            }
        }
        Ok(())
    })();
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", &home)
        .args(["--kill", "all"])
        .output();
    let _ = fs::remove_dir_all(&home);
    result
}
