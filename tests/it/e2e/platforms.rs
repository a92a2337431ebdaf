//! Issue 12: static and python3 for every platform distroless ships on Debian 13 (amd64,
//! arm64, arm/v7, ppc64le, riscv64, s390x), each built once from today's archive
//! (`builds()`), then checked one concern per test. A platform whose indexes or packages the
//! mirror cannot serve is left out and reported as skipped (`harness::report_skip`, which
//! `cargo xtask test` prints after the run), never passed in silence.

use std::path::Path;
use std::sync::OnceLock;

use super::{shared_cache, specs_without_locks};
use crate::harness::{
    Image, PLATFORMS, PlatformFacts, assert_platform, compose, elf_machine, read_index_images,
    report_skip, run,
};

/// Why a failed build is the mirror's fault and which Debian architecture it hit: an index or
/// a `.deb` the mirror does not have, or has other bytes of than the signed lists say (a
/// mirror mid-sync or a stale cache in front of it; on 2026-11-25 this machine's mirror
/// served old trixie-security indexes for armhf, ppc64el, riscv64 and s390x). Anything else,
/// or a defect compose could not name the architecture of, is compose's.
fn mirror_defect(stderr: &str) -> Option<(String, String)> {
    let first = stderr.lines().find_map(|l| l.strip_prefix("error: "))?;
    let fault = first.starts_with("no copy of `")
        || first.starts_with("the mirror has no copy of `")
        || first.contains("` not found (HTTP 404)")
        || first.contains("bytes, but the signed index lists")
        || first.starts_with("sha256 mismatch for `");
    if !fault {
        return None;
    }
    let url = first.split('`').nth(1)?;
    let arch = if let Some((_, rest)) = url.split_once("/binary-") {
        rest.split('/').next()?
    } else {
        let file = url.strip_suffix(".deb")?;
        file.rsplit('_').next()?
    };
    Some((arch.to_owned(), first.to_owned()))
}

/// What `mirror_defect` takes for the mirror's fault, and what it leaves to compose.
#[test]
fn mirror_defects_are_told_from_compose_failures() {
    let stale = "warning: `x.lock` is stale\nerror: no copy of `http://m/debian-security/dists/trixie-security/main/binary-ppc64el/Packages` on the mirror matches its signed release file:\n  `http://m/...` not found (HTTP 404)\n";
    assert_eq!(mirror_defect(stale).unwrap().0, "ppc64el");
    let missing = "error: the mirror has no copy of `http://m/debian/dists/trixie/main/binary-s390x/Packages`, which its signed release file lists:\n";
    assert_eq!(mirror_defect(missing).unwrap().0, "s390x");
    let deb = "error: `http://m/debian/pool/main/g/glibc/libc6_2.41-12+deb13u5_riscv64.deb` not found (HTTP 404)\n";
    assert_eq!(mirror_defect(deb).unwrap().0, "riscv64");
    let size = "error: `http://m/debian/pool/main/p/python3.13/python3.13_3.13.5-2_armhf.deb` is 10 bytes, but the signed index lists 20\n";
    assert_eq!(mirror_defect(size).unwrap().0, "armhf");
    for ours in [
        "error: cannot resolve the packages of `python3`: no package `python3.13` for armhf\n",
        "error: `/x/usr/bin/python3` conflicts with `/y`\n",
        "thread 'main' panicked at src/pipeline.rs:1:1\n",
    ] {
        assert_eq!(mirror_defect(ours), None, "{ours}");
    }
}

/// A spec built for every platform of `platforms` in one run, as `oci:DIR:latest`. A platform
/// the mirror cannot serve (`mirror_defect`) is left out and the build run again without it;
/// what was left out, and why, comes back for the caller to report as skipped.
struct MultiBuild {
    built: Vec<&'static PlatformFacts>,
    images: Vec<(serde_json::Value, Image)>,
    skipped: Vec<String>,
}

fn build_every_platform(
    specs: &Path,
    spec: &str,
    work: &Path,
    platforms: &[&'static PlatformFacts],
) -> MultiBuild {
    let layout = work.join(format!("{spec}-all"));
    let mut built = platforms.to_vec();
    let mut skipped = Vec::new();
    loop {
        let names: Vec<&str> = built.iter().map(|p| p.name).collect();
        let r = run(compose()
            .arg("build")
            .arg(specs.join(format!("{spec}.toml")))
            .arg("--platform")
            .arg(names.join(","))
            .arg("--output")
            .arg(format!("oci:{}:latest", layout.display()))
            .arg("--cache-dir")
            .arg(shared_cache()));
        if r.code == Some(0) {
            break;
        }
        let defect = mirror_defect(&r.stderr)
            .and_then(|(arch, why)| Some((built.iter().position(|p| p.debian == arch)?, why)));
        match defect {
            // One platform always has to build: a defect on every one is not the mirror's.
            Some((i, why)) if built.len() > 1 => {
                skipped.push(format!("{} {}: {why}", spec, built[i].name));
                built.remove(i);
            }
            _ => panic!(
                "building {spec} for {} failed:\n{}",
                names.join(","),
                r.stderr
            ),
        }
    }
    let images = read_index_images(&layout, "latest");
    assert_eq!(
        images.len(),
        built.len(),
        "{spec}: one manifest per platform"
    );
    MultiBuild {
        built,
        images,
        skipped,
    }
}

/// static for every platform, then python3 for the platforms static built (python3 is built
/// on static's sources: a platform the mirror failed there is not tried).
struct Builds {
    _dir: tempfile::TempDir,
    static_: MultiBuild,
    python3: MultiBuild,
}

fn builds() -> &'static Builds {
    static BUILDS: OnceLock<Builds> = OnceLock::new();
    BUILDS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        // Without the locks (they cover amd64 and arm64 only): today's archive.
        let specs = specs_without_locks(dir.path());
        let all: Vec<&PlatformFacts> = PLATFORMS.iter().collect();
        let static_ = build_every_platform(&specs, "static", dir.path(), &all);
        let python3 = build_every_platform(&specs, "python3", dir.path(), &static_.built);
        for why in static_.skipped.iter().chain(&python3.skipped) {
            report_skip(&format!("e2e::platforms: the mirror cannot serve {why}"));
        }
        if static_.built.len() < all.len() {
            report_skip("e2e::platforms: python3 tried only on the platforms static built");
        }
        Builds {
            _dir: dir,
            static_,
            python3,
        }
    })
}

/// Each index entry and config says its platform as Docker does.
#[test]
#[ignore = "needs the Debian archive (end to end)"]
fn every_platform_says_its_platform() {
    let b = builds();
    for m in [&b.static_, &b.python3] {
        for (p, (desc, img)) in m.built.iter().zip(&m.images) {
            assert_platform(p, Some(desc), img);
        }
    }
}

/// static has no ELF file at all (nothing in it runs), so its check is that every package
/// it holds is of the platform's architecture or `all`, as its status.d says.
#[test]
#[ignore = "needs the Debian archive (end to end)"]
fn static_holds_only_its_platforms_packages() {
    let stat = &builds().static_;
    for (p, (_, img)) in stat.built.iter().zip(&stat.images) {
        let fs = img.merged();
        let elf: Vec<&String> = fs
            .iter()
            .filter(|(_, e)| elf_machine(&e.data).is_some())
            .map(|(k, _)| k)
            .collect();
        assert!(elf.is_empty(), "{}: static has ELF files {elf:?}", p.name);
        let status: Vec<(&String, String)> = fs
            .iter()
            .filter(|(k, _)| k.starts_with("var/lib/dpkg/status.d/") && !k.ends_with(".md5sums"))
            .map(|(k, e)| (k, String::from_utf8_lossy(&e.data).into_owned()))
            .collect();
        assert!(status.len() >= 4, "{}: {status:?}", p.name);
        let own = format!("Architecture: {}\n", p.debian);
        for (k, s) in &status {
            assert!(
                s.contains(&own) || s.contains("Architecture: all\n"),
                "{}: {k}\n{s}",
                p.name
            );
        }
        assert!(
            status.iter().any(|(_, s)| s.contains(&own)),
            "{}: base-files is {}",
            p.name,
            p.debian
        );
    }
}

/// python3's interpreter and libc are ELF files of the platform's machine, and its loader is
/// reachable where the kernel looks for it.
#[test]
#[ignore = "needs the Debian archive (end to end)"]
fn python3_is_built_for_each_platforms_machine() {
    let py = &builds().python3;
    for (p, (_, img)) in py.built.iter().zip(&py.images) {
        let fs = img.merged();
        let machine = |path: &str| {
            elf_machine(
                &fs.get(path)
                    .unwrap_or_else(|| panic!("{}: no {path}", p.name))
                    .data,
            )
        };
        assert_eq!(machine("usr/bin/python3.13"), Some(p.machine), "{}", p.name);
        // base-nossl's layer: libc, in the platform's multiarch directory.
        let libc = format!("usr/lib/{}/libc.so.6", p.triplet);
        assert_eq!(
            img.layers[1].get(&libc).and_then(|e| elf_machine(&e.data)),
            Some(p.machine),
            "{}: {libc} in base-nossl's layer",
            p.name
        );
        let loader = loader_of(p, img);
        assert_eq!(machine(&loader), Some(p.machine), "{}: {loader}", p.name);
    }
}

/// The ELF interpreter: `/lib64` or `/lib` is the image's symlink into /usr (and `/lib64`
/// is there only where the loader is), and the loader behind it is a file or a link to one.
fn loader_of(p: &PlatformFacts, img: &Image) -> String {
    let fs = img.merged();
    let (top, _) = p.loader.split_once('/').unwrap();
    assert_eq!(
        fs.get(top).and_then(|e| e.link.as_deref()),
        Some(format!("usr/{top}").as_str()),
        "{}",
        p.name
    );
    assert_eq!(
        fs.contains_key("lib64"),
        top == "lib64",
        "{}: /lib64 only where the loader is",
        p.name
    );
    let mut loader = format!("usr/{}", p.loader);
    if let Some(target) = fs.get(&loader).and_then(|e| e.link.as_deref()) {
        let parent = loader.rsplit_once('/').unwrap().0;
        loader = normalize(&format!("{parent}/{target}"));
    }
    loader
}

/// `a/b/../c` -> `a/c` (a link target inside the image, relative to its directory).
fn normalize(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            ".." => {
                out.pop();
            }
            "." | "" => {}
            p => out.push(p),
        }
    }
    out.join("/")
}
