//! `cargo xtask`: project automation, one module per task.
//!
//! - `test`: install what the tests need and run them all (the README's test command)
//! - `bench`: speed, memory and size figures side by side with the peers
//! - `fixture`: regenerate the signed fixture repository under `tests/data`
//! - `locks`: refresh the lock of every shipped spec
//! - `digests`: the digest of every shipped spec built from its lock (diff before/after)

mod bench;
mod digests;
mod fixture;
mod locks;
mod test;
mod tools;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = args.split_first() else {
        eprintln!("usage: cargo xtask <test|bench|fixture|locks|digests> [args]");
        return ExitCode::FAILURE;
    };
    // Tasks run from the workspace root whatever the caller's directory.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace");
    if let Err(e) = std::env::set_current_dir(root) {
        eprintln!("error: cannot enter {}: {e}", root.display());
        return ExitCode::FAILURE;
    }
    let result = match task.as_str() {
        "test" => test::run(rest),
        "bench" => bench::run(rest),
        "fixture" => fixture::run(rest),
        "locks" => locks::run(rest),
        "digests" => digests::run(rest),
        other => Err(anyhow::anyhow!(
            "unknown task `{other}`: expected test, bench, fixture, locks or digests"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
