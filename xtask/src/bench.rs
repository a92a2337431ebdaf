//! `cargo xtask bench`: build times and peak memory of `compose` side by side with
//! `mmdebstrap --variant=extract` on the same packages and mirror, and image sizes next to
//! the distroless equivalents. Prints ratios; asserts nothing.
//!
//! First the table of issue 14's targets (`targets`: python3, java21 on two platforms and
//! the large `xtask/bench/python3-sci.toml`, with the decode `floor` and the packages read
//! from each lock by `locked`), then python3's speed, multi-platform and push figures, the
//! release pipeline's (`release`: signing, attesting, vendoring, `verify --image`), and sizes.
//! `cargo xtask bench targets` prints the table alone; `cargo xtask bench patching` the
//! figures of `compose outdated` and `compose diff` (`patching`) alone, which the full run
//! prints last.

#![allow(clippy::print_stdout)] // the figures are the output

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::tools;

mod floor;
mod locked;
mod patching;
mod release;
mod targets;

/// Every image of the family, with the size of distroless's image of the same Debian release
/// (uncompressed MiB) where there is one. Debian 12: estimated from distroless's package lists
/// (shared/notes/anchors.md). Debian 13: the sum of the `Installed-Size` of distroless's trixie
/// package lists (static, base, cc, python3 config.bzl) scaled by 0.975, the ratio of the Debian
/// 12 estimates to the same sum; its Java and Node.js images carry upstream builds (Temurin,
/// nodejs.org), so there is no estimate for them, and its trixie java-base leaves out HarfBuzz
/// and GLib, which Temurin bundles and Debian's JRE links.
const IMAGES: [(&str, Option<f64>); 17] = [
    ("static", Some(3.1)),
    ("base-nossl", Some(15.7)),
    ("base", Some(24.4)),
    ("cc", Some(27.9)),
    ("python3", Some(58.5)),
    ("nodejs", None),
    ("java-base", Some(26.3)),
    ("java21", None),
    ("static-debian12", Some(2.9)),
    ("base-nossl-debian12", Some(15.4)),
    ("base-debian12", Some(21.0)),
    ("cc-debian12", Some(23.8)),
    ("python3-debian12", Some(52.6)),
    ("java-base-debian12", Some(33.3)),
    ("java17", Some(217.6)),
    ("java-base-debian11", None),
    ("java11", None),
];

struct Timed {
    seconds: f64,
    max_rss_kib: u64,
    stdout: String,
}

/// The fastest of three runs of `run` (given the run's number).
fn best_of_three(mut run: impl FnMut(usize) -> Result<Timed>) -> Result<Timed> {
    let mut best: Option<Timed> = None;
    for i in 0..3 {
        let t = run(i)?;
        if best.as_ref().is_none_or(|b| t.seconds < b.seconds) {
            best = Some(t);
        }
    }
    Ok(best.expect("three runs"))
}

/// Run under `/usr/bin/time` for wall time and peak resident memory.
fn timed(cmd: &mut Command) -> Result<Timed> {
    let stats = tempfile_path("time");
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped.arg("-o").arg(&stats).arg("-f").arg("%e %M");
    wrapped.arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    let start = Instant::now();
    let out = wrapped.output()?;
    let wall = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "{:?} failed:\n{}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(&stats)?;
    let _ = std::fs::remove_file(&stats);
    let mut parts = text.split_whitespace();
    let _elapsed: f64 = parts.next().unwrap_or("0").parse().unwrap_or(0.0);
    let rss: u64 = parts.next().unwrap_or("0").parse().unwrap_or(0);
    Ok(Timed {
        seconds: wall,
        max_rss_kib: rss,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    })
}

fn tempfile_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("compose-bench-{tag}-{}", std::process::id()))
}

fn compose_build(
    bin: &Path,
    spec: &Path,
    out: &Path,
    cache: &Path,
    extra: &[&str],
) -> Result<Timed> {
    timed(
        Command::new(bin)
            .arg("build")
            .arg(spec)
            .arg("--json")
            .arg("--output")
            .arg(format!("oci:{}", out.display()))
            .arg("--cache-dir")
            .arg(cache)
            .args(extra),
    )
}

/// `text` (an error of compose or mmdebstrap) with the host of every URL replaced by
/// `MIRROR`: the bench prints no mirror's name.
fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest
            .find(|c: char| c == '/' || c == '`' || c.is_whitespace())
            .unwrap_or(rest.len());
        if end > 0 {
            out.push_str("MIRROR");
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn mib(bytes: f64) -> f64 {
    bytes / 1024.0 / 1024.0
}

pub fn run(args: &[String]) -> Result<()> {
    tools::ensure(&[
        ("/usr/bin/time", "time"),
        ("mmdebstrap", "mmdebstrap"),
        ("skopeo", "skopeo"),
        ("docker-registry", "docker-registry"),
        ("openssl", "openssl"),
    ])?;
    eprintln!("xtask: building compose (release)");
    let bin = crate::tools::build_compose(true)?;
    let scratch = tempfile_path("work");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    if args.first().is_some_and(|a| a == "patching") {
        patching::run(&bin, &scratch)?;
        let _ = std::fs::remove_dir_all(&scratch);
        return Ok(());
    }
    targets::run(&bin, &scratch)?;
    if args.first().is_some_and(|a| a == "targets") {
        let _ = std::fs::remove_dir_all(&scratch);
        return Ok(());
    }
    println!();
    let cold_cache = scratch.join("cache");
    let warm_locked = speed_figures(&bin, &scratch, &cold_cache)?;
    publish_figures(&bin, &scratch, &cold_cache, &warm_locked)?;
    release::run(&bin, &scratch, &cold_cache, &warm_locked)?;
    size_figures(&bin, &scratch, &cold_cache)?;
    patching::run(&bin, &scratch)?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// The shipped specs without their locks, in `scratch/specs`, to measure resolution too.
fn unlocked_specs(scratch: &Path) -> Result<PathBuf> {
    let unlocked = scratch.join("specs");
    std::fs::create_dir_all(&unlocked)?;
    for e in std::fs::read_dir("specs")? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "toml") {
            std::fs::copy(&p, unlocked.join(p.file_name().expect("a file")))?;
        }
    }
    Ok(unlocked)
}

/// python3 cold and warm, resolving and from the lock, against mmdebstrap cold; printed.
/// Returns the warm build from the lock (the publish figures compare with it).
fn speed_figures(bin: &Path, scratch: &Path, cold_cache: &Path) -> Result<Timed> {
    let resolving = unlocked_specs(scratch)?.join("python3.toml");
    let locked = PathBuf::from("specs/python3.toml");

    // Cold: empty cache, everything downloaded, verified, extracted, compressed.
    let cold = compose_build(bin, &resolving, &scratch.join("py-cold"), cold_cache, &[])?;
    let cold_locked = compose_build(
        bin,
        &locked,
        &scratch.join("py-cold-lock"),
        &scratch.join("cache2"),
        &[],
    )?;
    // Warm: best of three with the packages cached, every layer built (the layer cache is
    // the targets table's no-change rebuild).
    let best_of_three = |spec: &Path, tag: &str, extra: &[&str]| -> Result<Timed> {
        let mut best: Option<Timed> = None;
        for i in 0..3 {
            let t = compose_build(
                bin,
                spec,
                &scratch.join(format!("py-{tag}{i}")),
                cold_cache,
                extra,
            )?;
            if best.as_ref().is_none_or(|w| t.seconds < w.seconds) {
                best = Some(t);
            }
        }
        Ok(best.expect("three runs"))
    };
    let no_cache = "--no-layer-cache";
    let warm = best_of_three(&resolving, "warm", &[no_cache])?;
    let warm_locked = best_of_three(&locked, "warm-lock", &[no_cache])?;
    let zstd = best_of_three(&locked, "zstd", &[no_cache, "--compression", "zstd"])?;
    let (packages, mm) = mmdebstrap_cold(&cold, scratch)?;
    print_speed(
        packages,
        [&cold, &cold_locked, &mm, &warm, &warm_locked, &zstd],
    );
    Ok(warm_locked)
}

/// The package list of `cold`'s report through mmdebstrap, against the same mirror, cold:
/// the number of packages and the timing.
fn mmdebstrap_cold(cold: &Timed, scratch: &Path) -> Result<(usize, Timed)> {
    let report: serde_json::Value = serde_json::from_str(&cold.stdout)?;
    // Exactly the versions compose built.
    let packages: Vec<String> = report["packages"]
        .as_array()
        .context("report lists packages")?
        .iter()
        .filter_map(|p| {
            Some(format!(
                "{}={}",
                p["name"].as_str()?,
                p["version"].as_str()?
            ))
        })
        .collect();
    let mm = targets::mmdebstrap(&report, &packages, "amd64", &scratch.join("mmdebstrap.tar"))?;
    Ok((packages.len(), mm))
}

/// The speed table: `[cold, cold locked, mmdebstrap, warm, warm locked, zstd]`.
fn print_speed(packages: usize, timings: [&Timed; 6]) {
    let [cold, cold_locked, mm, warm, warm_locked, zstd] = timings;
    println!("python3 ({packages} packages), 2-core machine, same mirror:");
    println!("{:<40} {:>10} {:>12}", "", "wall s", "peak RSS MB");
    let row = |what: &str, t: &Timed| {
        println!(
            "{what:<40} {:>10.2} {:>12.1}",
            t.seconds,
            t.max_rss_kib as f64 / 1024.0
        );
    };
    row("compose cold, resolving (gzip)", cold);
    row("compose cold, from the lock (gzip)", cold_locked);
    row("mmdebstrap --variant=extract cold", mm);
    row("compose warm, resolving (best of 3)", warm);
    row("compose warm, from the lock (best of 3)", warm_locked);
    println!("(warm: the packages cached, every layer built: `--no-layer-cache`)");
    row("compose warm, from the lock, zstd", zstd);
    println!(
        "cold ratio compose/mmdebstrap: {:.2} resolving, {:.2} from the lock (target <= 0.50)",
        cold.seconds / mm.seconds,
        cold_locked.seconds / mm.seconds
    );
    let peak = [cold, cold_locked, warm, warm_locked, zstd]
        .iter()
        .map(|t| t.max_rss_kib)
        .max()
        .unwrap_or(0);
    println!(
        "warm python3: {:.2} s resolving, {:.2} s from the lock (target <= 1.5 s); peak RSS {:.0} MB (target <= 256 MB)",
        warm.seconds,
        warm_locked.seconds,
        peak as f64 / 1024.0
    );
}

/// The size of every shipped image next to its distroless peer, printed.
fn size_figures(bin: &Path, scratch: &Path, cold_cache: &Path) -> Result<()> {
    println!();
    println!(
        "{:<20} {:>14} {:>14} {:>14} {:>20}",
        "image", "files", "tar", "compressed", "distroless (same Debian)"
    );
    for (spec, distroless) in IMAGES {
        let t = compose_build(
            bin,
            &PathBuf::from(format!("specs/{spec}.toml")),
            &scratch.join(format!("size-{spec}")),
            cold_cache,
            &[],
        )?;
        let v: serde_json::Value = serde_json::from_str(&t.stdout)?;
        let unc = v["uncompressed_size"].as_f64().unwrap_or(0.0);
        let files = v["content_size"].as_f64().unwrap_or(0.0);
        let size = v["size"].as_f64().unwrap_or(0.0);
        let peer = distroless.map_or_else(|| "-".to_owned(), |d| format!("{d:.1} MiB"));
        println!(
            "{:<20} {:>10.1} MiB {:>10.1} MiB {:>10.1} MiB {:>20}",
            spec,
            mib(files),
            mib(unc),
            mib(size),
            peer
        );
    }
    Ok(())
}

/// A throwaway `docker-registry` on a free loopback port, stopped on drop.
struct Registry {
    child: std::process::Child,
    addr: String,
    _dir: PathBuf,
}

impl Registry {
    fn start(scratch: &Path, name: &str) -> Result<Registry> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = scratch.join(name);
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.join("data").display()
            ),
        )?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let addr = format!("127.0.0.1:{port}");
        for _ in 0..100 {
            if std::net::TcpStream::connect(&addr).is_ok() {
                return Ok(Registry {
                    child,
                    addr,
                    _dir: dir,
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        bail!("docker-registry did not start on {addr}")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Multi-arch builds against two single-platform ones, and pushes against `skopeo copy` of
/// the same image into an empty registry.
fn publish_figures(bin: &Path, scratch: &Path, cache: &Path, warm_locked: &Timed) -> Result<()> {
    let locked = PathBuf::from("specs/python3.toml");
    // Every layer built, as the warm figure they are set against (`--no-layer-cache`).
    let both = ["--no-layer-cache", "--platform", "linux/amd64,linux/arm64"];
    // Warm the arm64 packages once, then time.
    compose_build(bin, &locked, &scratch.join("multi-warmup"), cache, &both)?;
    let arm = compose_build(
        bin,
        &locked,
        &scratch.join("arm64"),
        cache,
        &["--no-layer-cache", "--platform", "linux/arm64"],
    )?;
    let multi = compose_build(bin, &locked, &scratch.join("multi"), cache, &both)?;
    println!();
    println!("python3 for amd64 + arm64, warm, from the lock:");
    println!(
        "{:<40} {:>10.2}\n{:<40} {:>10.2}\n{:<40} {:>10.2}",
        "compose amd64 alone",
        warm_locked.seconds,
        "compose arm64 alone",
        arm.seconds,
        "compose both at once (one index)",
        multi.seconds
    );
    println!(
        "multi-arch ratio both/(amd64+arm64): {:.2} (platforms build in parallel)",
        multi.seconds / (warm_locked.seconds + arm.seconds)
    );
    // Every platform distroless ships; the four the lock lacks resolve from today's indexes.
    // A mirror that cannot serve one (a stale index) gives its reason instead of a figure.
    let six = [
        "--no-layer-cache",
        "--platform",
        "linux/amd64,linux/arm64,linux/arm/v7,linux/ppc64le,linux/riscv64,linux/s390x",
    ];
    let all = compose_build(bin, &locked, &scratch.join("six-warmup"), cache, &six)
        .and_then(|_| compose_build(bin, &locked, &scratch.join("six"), cache, &six));
    match all {
        Ok(t) => println!(
            "{:<40} {:>10.2}",
            "compose all six platforms, warm", t.seconds
        ),
        Err(e) => println!(
            "all six platforms: not measured: {}",
            redact(&format!("{e:#}"))
        ),
    }
    push_figures(bin, scratch, cache, warm_locked)
}

/// Push the amd64 image into an empty registry: compose builds and pushes in one run;
/// skopeo copies the already built layout. Printed with the ratio.
fn push_figures(bin: &Path, scratch: &Path, cache: &Path, warm_locked: &Timed) -> Result<()> {
    let locked = PathBuf::from("specs/python3.toml");
    let ours = Registry::start(scratch, "registry-compose")?;
    let push_to_ours = || {
        timed(
            Command::new(bin)
                .arg("build")
                .arg(&locked)
                .arg("--output")
                .arg(format!("docker://{}/python3:latest", ours.addr))
                .arg("--cache-dir")
                .arg(cache)
                // Every layer built, as `warm_locked` (the build the push is set against).
                .arg("--no-layer-cache"),
        )
    };
    let push = push_to_ours()?;
    let again = push_to_ours()?;
    let theirs = Registry::start(scratch, "registry-skopeo")?;
    let layout = scratch.join("py-warm-lock0");
    let skopeo = timed(
        Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .arg(format!("oci:{}", layout.display()))
            .arg(format!("docker://{}/python3:latest", theirs.addr)),
    )?;
    println!();
    println!("pushing python3 (amd64) to an empty registry on 127.0.0.1:");
    println!(
        "{:<40} {:>10.2}\n{:<40} {:>10.2}\n{:<40} {:>10.2}",
        "compose build + push",
        push.seconds,
        "compose build + push, already there",
        again.seconds,
        "skopeo copy oci: -> docker:// (push only)",
        skopeo.seconds
    );
    // compose's push is what build + push costs beyond the warm locked build.
    let ours_push = (push.seconds - warm_locked.seconds).max(0.0);
    println!(
        "push ratio compose/skopeo: {:.2} (compose's push about {:.2} s of build + push; {:.2} s when every blob is already there)",
        ours_push / skopeo.seconds,
        ours_push,
        (again.seconds - warm_locked.seconds).max(0.0)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_hides_every_host() {
        assert_eq!(
            super::redact("`http://h.example/d/x` not found; see https://h2:80/y, ftp://"),
            "`http://MIRROR/d/x` not found; see https://MIRROR/y, ftp://"
        );
    }
}
