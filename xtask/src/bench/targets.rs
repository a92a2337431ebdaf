//! The figures issue 14 sets targets for, side by side for three images: compose cold, warm
//! and rebuilt with nothing changed, its peak RSS, `mmdebstrap --variant=extract` on the same
//! packages, and the decode floor; then each target, met or not.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::floor::{self, Floor};
use super::locked::{self, Built};
use super::{Timed, compose_build, timed};

/// An image of the table: its label, spec, and `--platform` when not the spec's own.
struct Image {
    label: &'static str,
    spec: &'static str,
    platforms: Option<&'static str>,
}

const IMAGES: [Image; 3] = [
    Image {
        label: "python3",
        spec: "specs/python3.toml",
        platforms: None,
    },
    Image {
        label: "java21 amd64+arm64",
        spec: "specs/java21.toml",
        platforms: Some("linux/amd64,linux/arm64"),
    },
    Image {
        label: "python3-sci",
        spec: "xtask/bench/python3-sci.toml",
        platforms: None,
    },
];

/// The targets (issue 14): rebuild seconds, warm / floor, cold / mmdebstrap, peak RSS MB.
const REBUILD_MAX: f64 = 0.5;
const WARM_OVER_FLOOR_MAX: f64 = 1.5;
const COLD_OVER_MMDEBSTRAP_MAX: f64 = 0.5;
const RSS_MAX_MB: f64 = 256.0;

struct Figures {
    label: &'static str,
    packages: usize,
    image_mb: f64,
    cold: Timed,
    warm: Timed,
    rebuild: Timed,
    /// mmdebstrap, one run per platform: (seconds summed, peak RSS MB), or why not measured.
    mmdebstrap: Result<(f64, f64)>,
    floor: Result<Floor>,
}

impl Figures {
    fn peak_rss_mb(&self) -> f64 {
        [&self.cold, &self.warm, &self.rebuild]
            .iter()
            .map(|t| t.max_rss_kib)
            .max()
            .unwrap_or(0) as f64
            / 1024.0
    }
}

/// Measure and print the table.
pub fn run(bin: &Path, scratch: &Path) -> Result<()> {
    let mut all = Vec::new();
    for (i, image) in IMAGES.iter().enumerate() {
        eprintln!("xtask: bench {}", image.label);
        all.push(measure(bin, &scratch.join(format!("targets-{i}")), image)?);
    }
    print_table(&all);
    println!();
    for f in &all {
        print_targets(f);
    }
    Ok(())
}

/// Cold into a fresh cache, warm, the warm command again; then mmdebstrap and the floor.
fn measure(bin: &Path, dir: &Path, image: &Image) -> Result<Figures> {
    std::fs::create_dir_all(dir)?;
    let spec = PathBuf::from(image.spec);
    let cache = dir.join("cache");
    // From the committed lock, or a clear failure: a stale lock would measure other packages.
    let mut extra = vec!["--locked"];
    extra.extend(
        image
            .platforms
            .map(|p| ["--platform", p])
            .into_iter()
            .flatten(),
    );
    // Cold also fills the layer cache the rebuild reads.
    let cold = compose_build(bin, &spec, &dir.join("cold"), &cache, &extra)?;
    // Best of two each: the machine may be shared, and a stray load only slows a run down.
    let build = |out: &str, more: &[&str]| {
        let args: Vec<&str> = extra.iter().chain(more).copied().collect();
        compose_build(bin, &spec, &dir.join(out), &cache, &args)
    };
    // Warm: the packages cached, every layer built.
    let no_cache = ["--no-layer-cache"];
    let warm = faster(build("warm-a", &no_cache)?, build("warm", &no_cache)?);
    // No-change rebuild: the same command again, every layer from the layer cache.
    let rebuild = faster(build("warm", &[])?, build("warm", &[])?);
    let report: serde_json::Value = serde_json::from_str(&cold.stdout)?;
    let built = Built::of(&report)?;
    let packages = locked::packages(&spec, &built)?;
    let mmdebstrap = mmdebstrap_each(&report, &built, &packages, dir)
        .map_err(|e| anyhow::anyhow!("{}", super::redact(&format!("{e:#}"))));
    let floor = floor::measure(&cache, &packages);
    Ok(Figures {
        label: image.label,
        packages: packages.len(),
        image_mb: report["uncompressed_size"].as_f64().unwrap_or(0.0) / 1e6,
        cold,
        warm,
        rebuild,
        mmdebstrap,
        floor,
    })
}

/// mmdebstrap once per platform on that platform's packages: seconds summed, peak RSS MB.
fn mmdebstrap_each(
    report: &serde_json::Value,
    built: &Built,
    packages: &[locked::Package],
    dir: &Path,
) -> Result<(f64, f64)> {
    let (mut seconds, mut rss) = (0.0, 0u64);
    for platform in &built.platforms {
        let arch = locked::architecture(packages, platform)
            .with_context(|| format!("no package of {platform} in the lock"))?;
        // Exactly the locked versions, as compose builds them.
        let names: Vec<String> = packages
            .iter()
            .filter(|p| &p.platform == platform)
            .map(|p| format!("{}={}", p.name, p.version))
            .collect();
        let t = mmdebstrap(report, &names, arch, &dir.join(format!("mm-{arch}.tar")))?;
        seconds += t.seconds;
        rss = rss.max(t.max_rss_kib);
        let _ = std::fs::remove_file(dir.join(format!("mm-{arch}.tar")));
    }
    Ok((seconds, rss as f64 / 1024.0))
}

/// `mmdebstrap --variant=extract` of `names` for `arch` from the sources of `report` (the
/// mirror compose used), cold, into `out`.
pub(super) fn mmdebstrap(
    report: &serde_json::Value,
    names: &[String],
    arch: &str,
    out: &Path,
) -> Result<Timed> {
    let mut sources = Vec::new();
    for s in report["sources"]
        .as_array()
        .context("report lists sources")?
    {
        for suite in s["suites"].as_array().into_iter().flatten() {
            sources.push(format!(
                "deb {} {} main",
                s["url"].as_str().unwrap_or_default(),
                suite.as_str().unwrap_or_default()
            ));
        }
    }
    let suite = report["sources"][0]["suites"][0]
        .as_str()
        .context("report names a suite")?;
    timed(
        Command::new("mmdebstrap")
            .args(["--quiet", "--variant=extract"])
            .arg(format!("--architectures={arch}"))
            .arg(format!("--include={}", names.join(",")))
            .arg(suite)
            .arg(out)
            .args(&sources),
    )
    .context("mmdebstrap failed")
}

/// The faster of two runs.
fn faster(a: Timed, b: Timed) -> Timed {
    if b.seconds < a.seconds { b } else { a }
}

fn print_table(all: &[Figures]) {
    println!("issue 14 targets, 2-core machine, same mirror, compose from the lock (gzip):");
    println!(
        "{:<20} {:>5} {:>8} {:>8} {:>8} {:>9} {:>9} {:>10} {:>8} {:>9}",
        "image",
        "debs",
        "size MB",
        "cold s",
        "warm s",
        "rebuild s",
        "peak RSS",
        "mmdebstrap",
        "mm RSS",
        "floor s"
    );
    for f in all {
        let (mm, mm_rss) = match &f.mmdebstrap {
            Ok((s, rss)) => (format!("{s:.2}"), format!("{rss:.0}")),
            Err(_) => ("-".to_owned(), "-".to_owned()),
        };
        let floor = f
            .floor
            .as_ref()
            .map_or_else(|_| "-".to_owned(), |fl| format!("{:.2}", fl.seconds()));
        println!(
            "{:<20} {:>5} {:>8.0} {:>8.2} {:>8.2} {:>9.2} {:>9.0} {:>10} {:>8} {:>9}",
            f.label,
            f.packages,
            f.image_mb,
            f.cold.seconds,
            f.warm.seconds,
            f.rebuild.seconds,
            f.peak_rss_mb(),
            mm,
            mm_rss,
            floor
        );
    }
    println!(
        "(peak RSS and mm RSS in MB; warm and rebuild: best of 2; warm: the packages cached, every layer built \
         (`--no-layer-cache`); rebuild: the same command again, layers from the layer cache; floor: dpkg-deb \
         --fsys-tarfile of every .deb + gzip -6 in 1 MiB pieces on every core)"
    );
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "not met" }
}

/// One line per target for `f`.
fn print_targets(f: &Figures) {
    println!(
        "{}: no-change rebuild {:.2} s (target <= {REBUILD_MAX} s): {}",
        f.label,
        f.rebuild.seconds,
        verdict(f.rebuild.seconds <= REBUILD_MAX)
    );
    match &f.floor {
        Ok(fl) => {
            let r = f.warm.seconds / fl.seconds();
            println!(
                "{}: warm {:.2} s = {r:.2} x decode floor {:.2} s ({:.2} decode + {:.2} gzip of {:.0} MB) (target <= {WARM_OVER_FLOOR_MAX} x): {}",
                f.label,
                f.warm.seconds,
                fl.seconds(),
                fl.decode_seconds,
                fl.compress_seconds,
                fl.tar_bytes as f64 / 1e6,
                verdict(r <= WARM_OVER_FLOOR_MAX)
            );
        }
        Err(e) => println!("{}: decode floor not measured: {e:#}", f.label),
    }
    match &f.mmdebstrap {
        Ok((s, _)) => {
            let r = f.cold.seconds / s;
            println!(
                "{}: cold {:.2} s = {r:.2} x mmdebstrap {s:.2} s (target <= {COLD_OVER_MMDEBSTRAP_MAX} x): {}",
                f.label,
                f.cold.seconds,
                verdict(r <= COLD_OVER_MMDEBSTRAP_MAX)
            );
        }
        Err(e) => println!("{}: mmdebstrap not measured: {e:#}", f.label),
    }
    let rss = f.peak_rss_mb();
    println!(
        "{}: peak RSS {rss:.0} MB (target <= {RSS_MAX_MB} MB): {}",
        f.label,
        verdict(rss <= RSS_MAX_MB)
    );
}
