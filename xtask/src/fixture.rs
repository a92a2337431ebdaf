//! `cargo xtask fixture`: regenerate the small signed Debian repository under
//! `tests/data/repo` (tiny .debs made with dpkg-deb, Packages indexes, Release signed by a
//! throw-away key whose public half goes to `tests/data/keys`).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const EPOCH: &str = "1700000000";

/// One fixture package.
struct Pkg {
    name: &'static str,
    version: &'static str,
    arch: &'static str,
    /// Extra control fields (`Depends: ...`), one per line.
    control: &'static str,
    /// `(path, mode, content)`; content `@link:TARGET` makes a symlink, `@hard:TARGET` a hard link.
    files: &'static [(&'static str, u32, &'static str)],
    /// data.tar compression for dpkg-deb.
    compression: &'static str,
    suite: &'static str,
}

const CERT_A: &str = "-----BEGIN CERTIFICATE-----\nMIIBfixtureA\n-----END CERTIFICATE-----\n";
const CERT_B: &str = "-----BEGIN CERTIFICATE-----\nMIIBfixtureB\n-----END CERTIFICATE-----\n";

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
                    "not really gzip\n",
                ),
                ("usr/share/man/man1/f.1.gz", 0o644, "man\n"),
                ("usr/share/locale/de/LC_MESSAGES/f.mo", 0o644, "mo\n"),
            ],
            "xz",
            "testing",
        ),
        p(
            "f-libc",
            "1.0-1",
            "amd64",
            "Multi-Arch: same\n",
            &[
                ("lib/x86_64-linux-gnu/libf.so.1", 0o644, "libf 1.0-1\n"),
                ("lib/x86_64-linux-gnu/libf.so", 0o777, "@link:libf.so.1"),
                ("lib64/ld-f.so", 0o755, "loader\n"),
            ],
            "xz",
            "testing",
        ),
        p(
            "f-libc",
            "1.0-2",
            "amd64",
            "Multi-Arch: same\n",
            &[
                ("lib/x86_64-linux-gnu/libf.so.1", 0o644, "libf 1.0-2\n"),
                ("lib/x86_64-linux-gnu/libf.so", 0o777, "@link:libf.so.1"),
                ("lib64/ld-f.so", 0o755, "loader\n"),
            ],
            "xz",
            "testing-updates",
        ),
        p(
            "f-tool",
            "1.0-1",
            "amd64",
            "Pre-Depends: f-libc (>= 1.0)\nDepends: f-awk | f-mawk, f-virtual, f-base-files, f-libc:any\n",
            &[
                ("bin/ftool", 0o755, "#!/bin/sh\necho fixture tool\n"),
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
            "amd64",
            "Provides: f-awk\n",
            &[("usr/bin/f-mawk", 0o755, "mawk\n")],
            "gzip",
            "testing",
        ),
        p(
            "f-gawk",
            "1.0-1",
            "amd64",
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
            "amd64",
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

fn sha256(path: &Path) -> Result<String> {
    let out = sh(Command::new("sha256sum").arg(path))?;
    Ok(out.split_whitespace().next().unwrap_or_default().to_owned())
}

fn build_deb(p: &Pkg, work: &Path, pool: &Path) -> Result<PathBuf> {
    let root = work.join(format!("{}_{}", p.name, p.version));
    fs::create_dir_all(root.join("DEBIAN"))?;
    for (path, mode, content) in p.files {
        let dest = root.join(path);
        fs::create_dir_all(dest.parent().expect("files have parents"))?;
        if let Some(target) = content.strip_prefix("@link:") {
            std::os::unix::fs::symlink(target, &dest)?;
        } else if let Some(target) = content.strip_prefix("@hard:") {
            fs::hard_link(root.join(target), &dest)?;
        } else {
            fs::write(&dest, content)?;
            sh(Command::new("chmod").arg(format!("{mode:o}")).arg(&dest))?;
        }
    }
    let md5 = sh(Command::new("sh").current_dir(&root).args([
        "-c",
        "find . -path ./DEBIAN -prune -o -type f -print | sed 's|^./||' | LC_ALL=C sort | xargs -r md5sum",
    ]))?;
    fs::write(root.join("DEBIAN/md5sums"), md5)?;
    let control = format!(
        "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: compose fixtures <fixtures@invalid>\nSection: misc\nPriority: optional\n{}Description: compose test fixture {}\n",
        p.name, p.version, p.arch, p.control, p.name
    );
    fs::write(root.join("DEBIAN/control"), control)?;
    // A maintainer script that must never run: it would leave a marker.
    fs::write(
        root.join("DEBIAN/postinst"),
        "#!/bin/sh\ntouch /tmp/compose-fixture-postinst-ran\n",
    )?;
    sh(Command::new("chmod")
        .args(["0755"])
        .arg(root.join("DEBIAN/postinst")))?;
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
    let deb = dir.join(format!("{}_{}_{}.deb", p.name, p.version, p.arch));
    sh(Command::new("dpkg-deb")
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .arg("--root-owner-group")
        .arg(format!("-Z{}", p.compression))
        .arg("--build")
        .arg(&root)
        .arg(&deb))?;
    Ok(deb)
}

pub fn run(_args: &[String]) -> Result<()> {
    for tool in ["dpkg-deb", "gpg", "xz", "gzip", "sha256sum", "md5sum"] {
        if !crate::tools::have(tool) {
            bail!("`{tool}` is needed to regenerate the fixture repository");
        }
    }
    let top = PathBuf::from("tests/data");
    let repo = top.join("repo");
    let keys = top.join("keys");
    let _ = fs::remove_dir_all(&repo);
    fs::create_dir_all(&keys)?;
    let work = std::env::temp_dir().join(format!("compose-fixture-{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work)?;
    let repo_abs = std::env::current_dir()?.join(&repo);

    let mut stanzas: std::collections::BTreeMap<&str, String> = Default::default();
    for p in packages() {
        let deb = build_deb(&p, &work, &repo_abs.join("pool"))?;
        let fields = sh(Command::new("dpkg-deb").arg("-f").arg(&deb))?;
        let rel = deb.strip_prefix(&repo_abs)?.display().to_string();
        let size = fs::metadata(&deb)?.len();
        let md5 = sh(Command::new("md5sum").arg(&deb))?;
        let stanza = stanzas.entry(p.suite).or_default();
        write!(
            stanza,
            "{}Filename: {rel}\nSize: {size}\nMD5sum: {}\nSHA256: {}\n\n",
            fields.trim_end().to_owned() + "\n",
            md5.split_whitespace().next().unwrap_or_default(),
            sha256(&deb)?
        )?;
    }

    // A throw-away signing key.
    let gnupg = work.join("gnupg");
    fs::create_dir_all(&gnupg)?;
    sh(Command::new("chmod").arg("700").arg(&gnupg))?;
    let gpg = || {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", &gnupg).args([
            "--batch",
            "--quiet",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ]);
        c
    };
    sh(gpg().args([
        "--quick-generate-key",
        "compose fixture archive <fixtures@invalid>",
        "ed25519",
        "sign",
        "never",
    ]))?;
    sh(gpg()
        .args(["--export", "--output"])
        .arg(keys.join("fixture-archive.gpg")))?;
    let _ = fs::remove_file(keys.join("fixture-archive.asc"));
    sh(gpg()
        .args(["--armor", "--export", "--output"])
        .arg(keys.join("fixture-archive.asc")))?;

    for suite in ["testing", "testing-updates"] {
        let dists = repo.join("dists").join(suite);
        let bin = dists.join("main/binary-amd64");
        fs::create_dir_all(&bin)?;
        let packages = bin.join("Packages");
        fs::write(&packages, stanzas.get(suite).cloned().unwrap_or_default())?;
        sh(Command::new("sh").arg("-c").arg(format!(
            "xz -9 -k -c {p} > {p}.xz && gzip -9 -n -c {p} > {p}.gz",
            p = packages.display()
        )))?;
        let mut release = format!(
            "Origin: compose\nLabel: compose fixture\nSuite: {suite}\nCodename: {suite}\nDate: Tue, 14 Nov 2023 22:13:20 UTC\nArchitectures: amd64\nComponents: main\nDescription: compose test fixture\nSHA256:\n"
        );
        for name in ["Packages", "Packages.xz", "Packages.gz"] {
            let f = bin.join(name);
            writeln!(
                release,
                " {} {} main/binary-amd64/{name}",
                sha256(&f)?,
                fs::metadata(&f)?.len()
            )?;
        }
        fs::write(dists.join("Release"), &release)?;
        let abs = std::env::current_dir()?.join(&dists);
        sh(gpg()
            .arg("--clearsign")
            .arg("--output")
            .arg(abs.join("InRelease"))
            .arg(abs.join("Release")))?;
        sh(gpg()
            .args(["--detach-sign", "--armor", "--output"])
            .arg(abs.join("Release.gpg"))
            .arg(abs.join("Release")))?;
    }
    let _ = fs::remove_dir_all(&work);
    eprintln!("xtask: regenerated {}", repo.display());
    Ok(())
}
