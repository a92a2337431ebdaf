//! Files written whole or not at all: the bytes go to a temporary file beside the
//! destination, which is then renamed over it, so a reader sees the old file or the new one.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The directory `path` is in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Replace `path` with `bytes` through a temporary file in the same directory. The error
/// names the file it concerns.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent_dir(path);
    let named = |e: io::Error, what: &Path| {
        io::Error::new(e.kind(), format!("cannot write `{}`: {e}", what.display()))
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".compose-")
        .tempfile_in(&dir)
        .map_err(|e| named(e, &dir))?;
    tmp.write_all(bytes).map_err(|e| named(e, tmp.path()))?;
    tmp.persist(path).map_err(|e| named(e.error, path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs_err::write(&path, "old").unwrap();
        write(&path, b"new").unwrap();
        assert_eq!(fs_err::read_to_string(&path).unwrap(), "new");
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = write(&dir.path().join("no/f"), b"x").unwrap_err();
        assert!(err.to_string().contains("/no`"), "{err}");
    }
}
