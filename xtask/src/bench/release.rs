//! The release pipeline's cost (issue 15), python3 from its lock with the packages cached:
//! a push signed (`--sign`) and attested (`--attest`) against an unsigned one and against
//! skopeo 1.18 signing the same image as it copies it (`--sign-by-sigstore-private-key`, the
//! containers/image peer; Debian 13's skopeo, which `cargo xtask test` unpacks), then
//! `compose vendor`, a build from the vendored directory with an empty cache, and
//! `compose verify --image` (pull, signature, attestations, rebuild).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::{Registry, Timed, best_of_three, compose_build, timed};

/// The sigstore key (made by skopeo 1.18 when at hand, else by openssl) and its password.
struct Key {
    private: PathBuf,
    public: PathBuf,
    passphrase_file: PathBuf,
}

const PASSPHRASE: &str = "bench";

pub fn run(bin: &Path, scratch: &Path, cache: &Path, warm_locked: &Timed) -> Result<()> {
    let spec = PathBuf::from("specs/python3.toml");
    let skopeo = Skopeo::find();
    let key = make_key(scratch, skopeo.as_ref())?;
    // Best of three, each into an empty registry of its own.
    let push = |name: &str, extra: &[&str]| -> Result<Timed> {
        best_of_three(|i| {
            let registry = Registry::start(scratch, &format!("{name}-{i}"))?;
            timed(
                Command::new(bin)
                    .arg("build")
                    .arg(&spec)
                    .arg("--output")
                    .arg(format!("docker://{}/python3:latest", registry.addr))
                    .arg("--cache-dir")
                    .arg(cache)
                    // Every layer built, as the warm figures above.
                    .arg("--no-layer-cache")
                    .args(extra)
                    .env("COSIGN_PASSWORD", PASSPHRASE),
            )
        })
    };
    let key_arg = key.private.to_str().context("a UTF-8 scratch path")?;
    let unsigned = push("release-unsigned", &[])?;
    let signed = push("release-signed", &["--sign", key_arg])?;
    let attested = push("release-attested", &["--sign", key_arg, "--attest"])?;
    println!();
    println!(
        "release pipeline, python3 (amd64) from the lock, packages cached, every layer built, best of 3:"
    );
    row("compose build + push", &unsigned);
    row("compose build + push + --sign", &signed);
    row("compose build + push + --sign --attest", &attested);
    let layout = scratch.join("py-warm-lock0");
    match &skopeo {
        Some(s) => skopeo_figures(s, scratch, &layout, &key, &unsigned, &signed)?,
        None => println!("skopeo 1.18 (Debian 13): not measured: {}", Skopeo::MISSING),
    }
    pipeline_figures(bin, scratch, cache, &key, warm_locked)
}

fn row(what: &str, t: &Timed) {
    println!("{what:<48} {:>10.2}", t.seconds);
}

/// skopeo copying the built layout, unsigned and signing: the signing step of a pipeline that
/// builds with something else, set against compose's.
fn skopeo_figures(
    skopeo: &Skopeo,
    scratch: &Path,
    layout: &Path,
    key: &Key,
    unsigned: &Timed,
    signed: &Timed,
) -> Result<()> {
    let copy = |name: &str, sign: bool| -> Result<Timed> {
        let registry = Registry::start(scratch, name)?;
        let registries_d = scratch.join(format!("{name}-registries.d"));
        std::fs::create_dir_all(&registries_d)?;
        std::fs::write(
            registries_d.join("bench.yaml"),
            format!(
                "docker:\n  \"{}\":\n    use-sigstore-attachments: true\n",
                registry.addr
            ),
        )?;
        let mut cmd = skopeo.command();
        cmd.args(["copy", "--quiet", "--dest-tls-verify=false"])
            .arg("--registries.d")
            .arg(&registries_d);
        if sign {
            cmd.arg("--sign-by-sigstore-private-key")
                .arg(&key.private)
                .arg("--sign-passphrase-file")
                .arg(&key.passphrase_file);
        }
        timed(
            cmd.arg(format!("oci:{}", layout.display()))
                .arg(format!("docker://{}/python3:latest", registry.addr)),
        )
    };
    let plain = best_of_three(|i| copy(&format!("release-skopeo-{i}"), false))?;
    let signing = best_of_three(|i| copy(&format!("release-skopeo-signed-{i}"), true))?;
    row("skopeo 1.18 copy oci: -> docker://", &plain);
    row(
        "skopeo 1.18 copy + --sign-by-sigstore-private-key",
        &signing,
    );
    let ours = (signed.seconds - unsigned.seconds).max(0.0);
    let theirs = (signing.seconds - plain.seconds).max(0.0);
    println!(
        "signing adds: compose {ours:.2} s, skopeo {theirs:.2} s (one signature each; with this cosign-format key both derive its scrypt key, about 0.12 s)"
    );
    Ok(())
}

/// Vendoring, a build from the vendored directory with an empty cache, and verify --image.
fn pipeline_figures(
    bin: &Path,
    scratch: &Path,
    cache: &Path,
    key: &Key,
    warm_locked: &Timed,
) -> Result<()> {
    let spec = PathBuf::from("specs/python3.toml");
    let vendor = scratch.join("vendor");
    let vendor_run = || {
        timed(
            Command::new(bin)
                .arg("vendor")
                .arg(&spec)
                .arg(&vendor)
                .arg("--cache-dir")
                .arg(cache),
        )
    };
    let vendored = vendor_run()?;
    let again = vendor_run()?;
    let empty = scratch.join("vendor-cache");
    let from_vendor = compose_build(
        bin,
        &spec,
        &scratch.join("py-vendored"),
        &empty,
        &[
            "--no-layer-cache",
            "--vendor",
            vendor.to_str().context("UTF-8")?,
        ],
    )?;
    row("compose vendor (packages cached)", &vendored);
    row("compose vendor again (nothing new)", &again);
    row("compose build --vendor, empty cache", &from_vendor);
    row("compose build from the lock, warm (above)", warm_locked);
    let registry = Registry::start(scratch, "release-verify")?;
    let image = format!("docker://{}/python3:latest", registry.addr);
    let key_arg = key.private.to_str().context("UTF-8")?;
    timed(
        Command::new(bin)
            .arg("build")
            .arg(&spec)
            .args(["--sign", key_arg, "--attest", "--output", &image])
            .arg("--cache-dir")
            .arg(cache)
            .env("COSIGN_PASSWORD", PASSPHRASE),
    )?;
    let verify = timed(
        Command::new(bin)
            .arg("verify")
            .arg(&spec)
            .args(["--image", &image, "--key"])
            .arg(&key.public)
            .arg("--cache-dir")
            .arg(cache),
    )?;
    row("compose verify --image (pull, check, rebuild)", &verify);
    println!(
        "verify --image / warm build from the lock: {:.2} (no peer checks a published image against its inputs)",
        verify.seconds / warm_locked.seconds
    );
    Ok(())
}

/// Debian 13's skopeo as the tests unpack it (`support::skopeo`), run through its loader.
struct Skopeo {
    root: PathBuf,
}

impl Skopeo {
    const MISSING: &str =
        "no unpacked Debian 13 skopeo under the target directory (`cargo xtask test` makes it)";

    fn find() -> Option<Skopeo> {
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| "target".into(), PathBuf::from);
        let root = target.join("tmp/trixie-skopeo");
        let complete = target.join("tmp/trixie-skopeo.complete");
        complete.exists().then_some(Skopeo { root })
    }

    fn command(&self) -> Command {
        let mut c = Command::new(self.root.join("usr/lib64/ld-linux-x86-64.so.2"));
        c.arg("--library-path")
            .arg(self.root.join("usr/lib/x86_64-linux-gnu"))
            .arg(self.root.join("usr/bin/skopeo"));
        c
    }
}

/// A cosign-format key: skopeo 1.18 makes one (`generate-sigstore-key`) when at hand; else a
/// PEM key from openssl (compose's figures only).
fn make_key(scratch: &Path, skopeo: Option<&Skopeo>) -> Result<Key> {
    let passphrase_file = scratch.join("sign-passphrase");
    std::fs::write(&passphrase_file, PASSPHRASE)?;
    let prefix = scratch.join("sign-key");
    if let Some(s) = skopeo {
        let st = s
            .command()
            .arg("generate-sigstore-key")
            .arg("--output-prefix")
            .arg(&prefix)
            .arg("--passphrase-file")
            .arg(&passphrase_file)
            .output()?;
        anyhow::ensure!(st.status.success(), "skopeo generate-sigstore-key failed");
        return Ok(Key {
            private: prefix.with_extension("private"),
            public: prefix.with_extension("pub"),
            passphrase_file,
        });
    }
    let private = prefix.with_extension("pem");
    let public = prefix.with_extension("pub");
    let ok = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&private)
        .status()?
        .success()
        && Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&private)
            .arg("-out")
            .arg(&public)
            .status()?
            .success();
    anyhow::ensure!(ok, "openssl could not make a P-256 key");
    Ok(Key {
        private,
        public,
        passphrase_file,
    })
}
