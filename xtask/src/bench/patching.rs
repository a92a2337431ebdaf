//! Issue 23's speed figures: `compose outdated` with changelogs cached, for python3's lock of
//! 2026-11-26 (behind the security suite) and for the whole shipped family, side by side
//! with a plain `compose diff` of two python3 locks (the same changelogs cached). Targets:
//! python3 under 1 s, the family under 5 s.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use super::{Timed, best_of_three, timed};

/// A copy of the shipped specs and locks in `scratch/patching`, python3's lock replaced by
/// the one of 2026-11-26.
fn workspace(scratch: &Path) -> Result<std::path::PathBuf> {
    let dir = scratch.join("patching");
    std::fs::create_dir_all(&dir)?;
    for e in std::fs::read_dir("specs")? {
        let p = e?.path();
        if p.is_file() {
            std::fs::copy(&p, dir.join(p.file_name().expect("a file")))?;
        }
    }
    std::fs::copy(
        "tests/data/locks/python3-20261126.lock",
        dir.join("python3.lock"),
    )?;
    Ok(dir)
}

fn compose(bin: &Path, cache: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(args).arg("--cache-dir").arg(cache);
    cmd
}

pub fn run(bin: &Path, scratch: &Path) -> Result<()> {
    let dir = workspace(scratch)?;
    let cache = scratch.join("patching-cache");
    let specs: Vec<String> = {
        let mut s: Vec<String> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .map(|p| p.display().to_string())
            .collect();
        s.sort();
        s
    };
    let python3 = dir.join("python3.toml").display().to_string();
    // The lock a refresh writes now, for the plain diff (and the changelogs, once).
    let fresh = scratch.join("patching-fresh");
    std::fs::create_dir_all(&fresh)?;
    for e in std::fs::read_dir(&dir)? {
        let p = e?.path();
        std::fs::copy(&p, fresh.join(p.file_name().expect("a file")))?;
    }
    let fresh_spec = fresh.join("python3.toml").display().to_string();
    timed(&mut compose(
        bin,
        &cache,
        &["lock", "--update", &fresh_spec],
    ))?;
    let old_lock = dir.join("python3.lock").display().to_string();
    let new_lock = fresh.join("python3.lock").display().to_string();
    // Warm: every changelog the runs below read is in the cache.
    let mut family: Vec<&str> = vec!["outdated"];
    family.extend(specs.iter().map(String::as_str));
    timed(&mut compose(bin, &cache, &family))?;
    timed(&mut compose(bin, &cache, &["diff", &old_lock, &new_lock]))?;

    let diff =
        best_of_three(|_| timed(&mut compose(bin, &cache, &["diff", &old_lock, &new_lock])))?;
    let one = best_of_three(|_| timed(&mut compose(bin, &cache, &["outdated", &python3])))?;
    let all = best_of_three(|_| timed(&mut compose(bin, &cache, &family)))?;
    print(&diff, &one, &all, specs.len());
    Ok(())
}

fn print(diff: &Timed, one: &Timed, all: &Timed, specs: usize) {
    println!();
    println!(
        "{:<56} {:>8} {:>9} {:>10} {:>8}",
        "staying patched (changelogs cached)", "wall s", "peak MB", "x diff", "target"
    );
    let row = |what: String, t: &Timed, target: Option<f64>| {
        let verdict = match target {
            Some(limit) if t.seconds < limit => format!("< {limit} s met"),
            Some(limit) => format!("< {limit} s MISSED"),
            None => String::new(),
        };
        println!(
            "{what:<56} {:>8.2} {:>9.1} {:>10.2} {verdict:>8}",
            t.seconds,
            t.max_rss_kib as f64 / 1024.0,
            t.seconds / diff.seconds.max(0.001)
        );
    };
    row("compose diff, python3 locks (plain)".into(), diff, None);
    row(
        "compose outdated python3 (lock of 2026-11-26)".into(),
        one,
        Some(1.0),
    );
    row(
        format!("compose outdated, the family ({specs} specs)"),
        all,
        Some(5.0),
    );
}
