//! The `compose` binary: a thin wrapper that runs the CLI and prints errors.

use std::process::ExitCode;

fn main() -> ExitCode {
    match compose::cli::run() {
        Ok(code) => code,
        Err(err) => {
            // `{:#}` prints the whole chain on one line; hints start on their own lines.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
