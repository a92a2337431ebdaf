//! Putting finished outputs in place all together or not at all: each is renamed onto its
//! destination, the earlier content set aside until every one is in place, and put back if
//! any rename fails.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::{OciError, parent_dir};

/// A finished output (a layout directory or an archive or SBOM file) beside its
/// destination, waiting to be renamed into place. Removed if dropped before the commit.
#[derive(Debug)]
pub struct Staged {
    /// `None` once renamed into place.
    path: Option<PathBuf>,
    dest: PathBuf,
    dir: bool,
}

impl Staged {
    /// `path` (registered with `interrupt`) will become `dest`; `dir` says which kind it is.
    pub fn new(path: PathBuf, dest: &Path, dir: bool) -> Staged {
        Staged {
            path: Some(path),
            dest: dest.to_path_buf(),
            dir,
        }
    }

    /// Where the staged output lives until the commit.
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(&self.dest)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            // Best effort: a staged output that cannot be removed is only a stray temporary.
            let _ = remove(&path, self.dir);
            crate::interrupt::forget(&path);
        }
    }
}

fn remove(path: &Path, dir: bool) -> std::io::Result<()> {
    if dir {
        fs_err::remove_dir_all(path)
    } else {
        fs_err::remove_file(path)
    }
}

/// An output renamed into place, with the destination's earlier content set aside.
struct Swapped {
    dest: PathBuf,
    dir: bool,
    /// `.compose-old-*` holding the earlier content as `old`.
    aside: Option<PathBuf>,
}

impl Swapped {
    /// Remove the new output and put the earlier content back.
    fn undo(self) -> std::io::Result<()> {
        match fs_err::symlink_metadata(&self.dest) {
            Ok(_) => remove(&self.dest, self.dir)?,
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if let Some(aside) = &self.aside {
            fs_err::rename(aside.join("old"), &self.dest)?;
            crate::interrupt::forget(aside);
            fs_err::remove_dir(aside)?;
        }
        Ok(())
    }

    /// Everything is in place: drop the earlier content.
    fn finish(self) {
        if let Some(aside) = &self.aside {
            // Best effort: the outputs are in place; a leftover only costs space.
            let _ = fs_err::remove_dir_all(aside);
            crate::interrupt::forget(aside);
        }
    }
}

/// Rename `s` onto its destination, moving what is there aside first. The destination was
/// checked before the build; it must still be of the same kind and not a symlink.
fn swap(mut s: Staged) -> Result<Swapped, OciError> {
    let dest = s.dest.clone();
    let aside = match std::fs::symlink_metadata(&dest) {
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(source) => return Err(OciError::Read { path: dest, source }),
        Ok(m) if m.file_type().is_symlink() || m.is_dir() != s.dir => {
            return Err(OciError::Changed { path: dest });
        }
        Ok(_) => {
            let parent = parent_dir(&dest);
            let aside = tempfile::Builder::new()
                .prefix(".compose-old-")
                .tempdir_in(&parent)
                .map_err(|source| OciError::Io {
                    path: parent.clone(),
                    source,
                })?
                .keep();
            // Once every output is in place, an interrupt only finishes the clean-up.
            crate::interrupt::register(&aside);
            if let Err(source) = fs_err::rename(&dest, aside.join("old")) {
                crate::interrupt::forget(&aside);
                let _ = fs_err::remove_dir(&aside);
                return Err(OciError::Io { path: dest, source });
            }
            Some(aside)
        }
    };
    let staged = s.path.take().expect("a staged output is committed once");
    if let Err(source) = fs_err::rename(&staged, &dest) {
        s.path = Some(staged);
        let err = OciError::Io {
            path: dest.clone(),
            source,
        };
        if let Some(aside) = aside {
            if fs_err::rename(aside.join("old"), &dest).is_err() {
                crate::interrupt::forget(&aside);
                return Err(OciError::Restore {
                    path: dest,
                    kept: aside,
                    source: Box::new(err),
                });
            }
            crate::interrupt::forget(&aside);
            let _ = fs_err::remove_dir(&aside);
        }
        return Err(err);
    }
    crate::interrupt::forget(&staged);
    Ok(Swapped {
        dest,
        dir: s.dir,
        aside,
    })
}

/// Put every staged output in place, or none: when one cannot be renamed into place, those
/// already moved are removed again and the earlier content of every destination is put
/// back. The earlier content is deleted only once all are in place.
pub fn commit_all(staged: Vec<Staged>) -> Result<(), OciError> {
    // A signal waits for the renames (or the rollback): the outputs end all old or all new.
    let uninterrupted = crate::interrupt::critical();
    let mut done: Vec<Swapped> = Vec::new();
    let mut pending = staged.into_iter();
    for s in pending.by_ref() {
        match swap(s) {
            Ok(swapped) => done.push(swapped),
            Err(err) => {
                drop(pending);
                return Err(rollback(done, err));
            }
        }
    }
    drop(uninterrupted);
    for swapped in done {
        swapped.finish();
    }
    Ok(())
}

/// Undo `done` in reverse order; `err` is why. An earlier content that cannot be put back
/// is named in the error.
fn rollback(done: Vec<Swapped>, err: OciError) -> OciError {
    let mut err = err;
    for swapped in done.into_iter().rev() {
        let (dest, aside) = (swapped.dest.clone(), swapped.aside.clone());
        if swapped.undo().is_err() {
            err = OciError::Restore {
                path: dest.clone(),
                kept: aside.unwrap_or(dest),
                source: Box::new(err),
            };
        }
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged_file(dir: &Path, name: &str, body: &str, dest: &Path) -> Staged {
        let p = dir.join(name);
        fs_err::write(&p, body).unwrap();
        Staged::new(p, dest, false)
    }

    #[test]
    fn all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let a = d.join("a.tar");
        fs_err::write(&a, "old a").unwrap();
        let b = d.join("b");
        fs_err::create_dir(&b).unwrap();
        fs_err::write(b.join("f"), "old b").unwrap();
        // The second output is a file but its destination is now a directory: refused,
        // and the first is put back.
        let r = commit_all(vec![
            staged_file(d, ".new-a", "new a", &a),
            staged_file(d, ".new-b", "new b", &b),
        ]);
        assert!(matches!(r, Err(OciError::Changed { .. })), "{r:?}");
        assert_eq!(fs_err::read_to_string(&a).unwrap(), "old a");
        assert_eq!(fs_err::read_to_string(b.join("f")).unwrap(), "old b");
        let mut names: Vec<_> = fs_err::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a.tar", "b"], "no temporaries left");

        // Both fine: both replaced, nothing set aside remains.
        fs_err::remove_dir_all(&b).unwrap();
        commit_all(vec![
            staged_file(d, ".new-a", "new a", &a),
            staged_file(d, ".new-b", "new b", &b),
        ])
        .unwrap();
        assert_eq!(fs_err::read_to_string(&a).unwrap(), "new a");
        assert_eq!(fs_err::read_to_string(&b).unwrap(), "new b");
        assert_eq!(fs_err::read_dir(d).unwrap().count(), 2);
    }

    #[test]
    fn a_symlink_that_appeared_is_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let target = d.join("target");
        fs_err::write(&target, "precious").unwrap();
        let dest = d.join("out.tar");
        std::os::unix::fs::symlink(&target, &dest).unwrap();
        let r = commit_all(vec![staged_file(d, ".new", "new", &dest)]);
        assert!(matches!(r, Err(OciError::Changed { .. })), "{r:?}");
        assert_eq!(fs_err::read_to_string(&target).unwrap(), "precious");
        assert!(!d.join(".new").exists(), "the staged file is removed");
    }
}
