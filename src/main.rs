//! The `compose` binary: a thin wrapper that runs the CLI and prints errors.

use std::process::ExitCode;

fn main() -> ExitCode {
    match compose::cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{}", compose::error::render(&err));
            ExitCode::FAILURE
        }
    }
}
