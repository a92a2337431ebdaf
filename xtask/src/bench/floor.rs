//! The decode floor: the least work any builder of the image does, timed. Every `.deb` of
//! the image through `dpkg-deb --fsys-tarfile` (the packages' own decoder), then the
//! concatenated tar streams gzipped as compose compresses a layer by default.
//!
//! Why this is a fair floor: compose must read every data.tar and compress what it writes,
//! and nothing else is counted here (no tree, no hashing, no file written). The compression
//! is compose's own: flate2 on zlib-rs at level 6, the input cut into 1 MiB pieces deflated
//! on every core, as `layer::gzip` does; a single `gzip -6` would leave a core idle and
//! make the floor twice as slow as compose's compressor can be on this machine. Decoding
//! also runs one `dpkg-deb` per core. The two phases are timed one after the other.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use flate2::Compression;
use flate2::write::DeflateEncoder;

use super::locked::Package;

/// compose's gzip level and piece size (`layer::gzip`).
const LEVEL: u32 = 6;
const PIECE: usize = 1 << 20;

pub struct Floor {
    pub decode_seconds: f64,
    pub compress_seconds: f64,
    pub tar_bytes: u64,
}

impl Floor {
    pub fn seconds(&self) -> f64 {
        self.decode_seconds + self.compress_seconds
    }
}

/// Time the floor of `packages`, whose `.deb`s are in compose's cache at `cache`.
pub fn measure(cache: &Path, packages: &[Package]) -> Result<Floor> {
    let debs: Vec<_> = packages
        .iter()
        .map(|p| cache.join("sha256").join(&p.sha256))
        .collect();
    if let Some(missing) = debs.iter().find(|d| !d.is_file()) {
        bail!("{} is not in the cache", missing.display());
    }
    let start = Instant::now();
    let tars = on_every_core(debs.len(), |i| {
        let out = Command::new("dpkg-deb")
            .arg("--fsys-tarfile")
            .arg(&debs[i])
            .output()?;
        if !out.status.success() {
            bail!(
                "dpkg-deb --fsys-tarfile {} failed: {}",
                debs[i].display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out.stdout)
    })?;
    let decode_seconds = start.elapsed().as_secs_f64();
    let tar = tars.concat();
    drop(tars);
    let start = Instant::now();
    let pieces = on_every_core(tar.len().div_ceil(PIECE), |i| {
        let piece = &tar[i * PIECE..((i + 1) * PIECE).min(tar.len())];
        let mut z = DeflateEncoder::new(Vec::with_capacity(PIECE / 2), Compression::new(LEVEL));
        z.write_all(piece)?;
        Ok(z.finish()?)
    })?;
    let compress_seconds = start.elapsed().as_secs_f64();
    std::hint::black_box(pieces);
    Ok(Floor {
        decode_seconds,
        compress_seconds,
        tar_bytes: tar.len() as u64,
    })
}

/// `task(0..n)` on one thread per core, results in order.
fn on_every_core<T: Send>(n: usize, task: impl Fn(usize) -> Result<T> + Sync) -> Result<Vec<T>> {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return Ok(());
                        }
                        let r = task(i)?;
                        results.lock().expect("no worker panics")[i] = Some(r);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("no worker panics")?;
        }
        Ok(())
    })?;
    let results = results.into_inner().expect("no worker panics");
    results
        .into_iter()
        .map(|r| r.context("every task ran"))
        .collect()
}
