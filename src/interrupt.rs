//! Cleanup when a build is interrupted: temporary outputs (staging layouts, archives being
//! written, the blob store, SBOMs) are registered here, and SIGINT, SIGTERM or SIGHUP removes
//! them before the process exits, so an interrupted build leaves no partial output either.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

static PATHS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Held while outputs are renamed into place: a signal then waits for the last rename, so
/// the destinations end all old or all new, never a mix.
static COMMIT: Mutex<()> = Mutex::new(());

/// Defer interruption until the guard is dropped (keep it to a few renames).
pub fn critical() -> std::sync::MutexGuard<'static, ()> {
    COMMIT.lock().unwrap_or_else(|e| e.into_inner())
}

fn paths() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    PATHS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Remove `path` (a file or a directory) if the process is interrupted.
pub fn register(path: &Path) {
    paths().push(path.to_path_buf());
}

/// `path` is no longer temporary (it was renamed into place or removed).
pub fn forget(path: &Path) {
    paths().retain(|p| p != path);
}

/// Watch for SIGINT, SIGTERM and SIGHUP on a background thread; on one, remove every
/// registered path and exit with 128 + the signal number, as a shell reports it.
pub fn install() -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let _commit = critical();
            for p in paths().iter() {
                // Best effort: the path may be gone already. Workers may still add files to
                // a directory being removed (the content store): try again while it is there.
                for _ in 0..10 {
                    let _ = fs_err::remove_dir_all(p).or_else(|_| fs_err::remove_file(p));
                    if fs_err::symlink_metadata(p).is_err() {
                        break;
                    }
                }
            }
            std::process::exit(128 + signal);
        }
    });
    Ok(())
}
