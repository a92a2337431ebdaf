//! Where a build goes: `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
//! `docker-archive:FILE[:REPO:TAG]` and `docker://HOST[:PORT]/REPO[:TAG]`, any number of them,
//! and writing one built image to all of them.
//!
//! Every destination is checked first; local outputs are staged next to their destination,
//! then every push is done, and only then are the local outputs (and their SBOMs) renamed
//! into place, all or none: a failed build leaves every destination as it was.

use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

use crate::attach;
use crate::oci::existing::{self, Kept};
use crate::oci::{self, Image, Staged, Store, archive, layout};
use crate::reference::{self, Reference};
use crate::registry::{self, PushOptions, PushReport};
use crate::sign::Signing;

/// One output of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `oci:DIR[:TAG]`: an OCI image layout (other tags in it are kept).
    Layout { dir: PathBuf, tag: String },
    /// `oci-archive:FILE[:TAG]`: an image layout in one tar.
    OciArchive { file: PathBuf, tag: String },
    /// `docker-archive:FILE[:REPO:TAG]`: what `docker load` reads. Without a reference, the
    /// image is named after the spec and variant.
    DockerArchive {
        file: PathBuf,
        reference: Option<String>,
    },
    /// `docker://HOST[:PORT]/REPO[:TAG]`: a push to a registry.
    Registry(Reference),
}

const FORMS: &str = "`oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:REPO:TAG]` or `docker://HOST[:PORT]/REPO[:TAG]`";

/// `PATH[:TAG]` where the tag, if any, is after the last colon and has no `/`; it becomes
/// the layout's `org.opencontainers.image.ref.name` (and part of the SBOM's file name).
fn path_and_tag<'a>(text: &str, rest: &'a str) -> Result<(PathBuf, &'a str), DestinationError> {
    let (path, tag) = reference::split_tag(rest);
    if path.is_empty() {
        return Err(DestinationError::NoPath {
            text: text.to_owned(),
        });
    }
    if !reference::valid_layout_tag(tag) {
        return Err(DestinationError::LayoutTag {
            text: text.to_owned(),
            tag: tag.to_owned(),
        });
    }
    Ok((PathBuf::from(path), tag))
}

/// `[HOST[:PORT]/]REPO[:TAG]` as `docker load` names an image (the tag defaults to
/// `latest`), checked against the distribution reference grammar.
fn docker_name(text: &str, name: &str) -> Result<String, DestinationError> {
    let n = reference::parse_name(name).map_err(|reason| DestinationError::ImageName {
        text: text.to_owned(),
        name: name.to_owned(),
        reason,
    })?;
    Ok(match n.host {
        Some(host) => format!("{host}/{}:{}", n.repository, n.tag),
        None => format!("{}:{}", n.repository, n.tag),
    })
}

/// A destination that does not parse.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    #[error("destination `{text}` names no path")]
    NoPath { text: String },
    #[error("destination `{text}` names no file")]
    NoFile { text: String },
    #[error(
        "invalid tag `{tag}` in `{text}`: a layout's tag is up to 128 letters and digits, separated by one of `-._@+` or `--`"
    )]
    LayoutTag { text: String, tag: String },
    #[error("invalid image name `{name}` in `{text}`: {reason}")]
    ImageName {
        text: String,
        name: String,
        reason: reference::NameError,
    },
    #[error(transparent)]
    Reference(#[from] reference::ReferenceError),
    #[error("unsupported destination `{text}`: expected {FORMS}")]
    Unsupported { text: String },
}

impl Destination {
    /// Parse a skopeo-style destination.
    pub fn parse(text: &str) -> Result<Destination, DestinationError> {
        if let Some(rest) = text.strip_prefix("oci:") {
            let (dir, tag) = path_and_tag(text, rest)?;
            return Ok(Destination::Layout {
                dir,
                tag: tag.to_owned(),
            });
        }
        if let Some(rest) = text.strip_prefix("oci-archive:") {
            let (file, tag) = path_and_tag(text, rest)?;
            return Ok(Destination::OciArchive {
                file,
                tag: tag.to_owned(),
            });
        }
        if let Some(rest) = text.strip_prefix("docker-archive:") {
            let (file, name) = match rest.split_once(':') {
                Some((f, n)) => (f, Some(docker_name(text, n)?)),
                None => (rest, None),
            };
            if file.is_empty() {
                return Err(DestinationError::NoFile {
                    text: text.to_owned(),
                });
            }
            return Ok(Destination::DockerArchive {
                file: PathBuf::from(file),
                reference: name,
            });
        }
        if let Some(rest) = text.strip_prefix("docker://") {
            return Ok(Destination::Registry(Reference::parse(rest)?));
        }
        Err(DestinationError::Unsupported {
            text: text.to_owned(),
        })
    }

    /// The file or directory written on this machine, if any.
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            Destination::Layout { dir, .. } => Some(dir),
            Destination::OciArchive { file, .. } | Destination::DockerArchive { file, .. } => {
                Some(file)
            }
            Destination::Registry(_) => None,
        }
    }

    /// Where the image's SBOM goes: beside a local output (`DIR.TAG.spdx.json`,
    /// `FILE.spdx.json`); a push writes none.
    pub fn sbom_path(&self) -> Option<PathBuf> {
        match self {
            Destination::Layout { dir, tag } => {
                Some(PathBuf::from(format!("{}.{tag}.spdx.json", dir.display())))
            }
            Destination::OciArchive { file, .. } | Destination::DockerArchive { file, .. } => {
                Some(PathBuf::from(format!("{}.spdx.json", file.display())))
            }
            Destination::Registry(_) => None,
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Layout { dir, tag } => write!(f, "oci:{}:{tag}", dir.display()),
            Destination::OciArchive { file, tag } => {
                write!(f, "oci-archive:{}:{tag}", file.display())
            }
            Destination::DockerArchive { file, reference } => {
                write!(f, "docker-archive:{}", file.display())?;
                match reference {
                    Some(r) => write!(f, ":{r}"),
                    None => Ok(()),
                }
            }
            Destination::Registry(r) => write!(f, "{r}"),
        }
    }
}

/// Why a destination cannot be written. Every destination is checked before the build
/// stages anything.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("`{dest}` names no file or directory to write")]
    NoName { dest: String },
    #[error("cannot write `{dest}`: `{}` is not a directory", path.display())]
    ParentNotDirectory { dest: String, path: PathBuf },
    #[error(
        "cannot write `{dest}`: `{}` is a symbolic link, and compose writes no output through one",
        path.display()
    )]
    Symlink { dest: String, path: PathBuf },
    #[error(
        "cannot write `{dest}`: `{}` is a directory, and compose replaces only a file with an archive",
        path.display()
    )]
    Directory { dest: String, path: PathBuf },
    #[error("cannot write `{dest}`: `{}` exists and is not a regular file", path.display())]
    NotAFile { dest: String, path: PathBuf },
    #[error(
        "`{first}` and `{second}` both write `{}`",
        path.display()
    )]
    SamePath {
        first: String,
        second: String,
        path: PathBuf,
    },
    #[error("`{inner}` is inside `{outer}`, which compose replaces as a whole")]
    Nested { inner: String, outer: String },
    #[error("`{dest}` would name the image `{name}`, which is not a valid image name: {reason}")]
    DockerName {
        dest: String,
        name: String,
        reason: reference::NameError,
    },
    #[error("cannot read `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Layout(#[from] oci::OciError),
}

impl crate::error::Hint for PublishError {
    fn hint(&self) -> Option<String> {
        let hint = match self {
            PublishError::Symlink { .. } => "name the path it points to, or remove the link",
            PublishError::Directory { .. } => "name a file, or move the directory away",
            PublishError::SamePath { .. } => "give every output its own path",
            PublishError::Nested { .. } => "put the outputs side by side",
            PublishError::DockerName { .. } => "name it: `docker-archive:FILE:REPO[:TAG]`",
            // Transparent: the layout error is not a link of its own in the chain.
            PublishError::Layout(e) => return crate::error::Hint::hint(e),
            _ => return None,
        };
        Some(hint.to_owned())
    }
}

/// What checking a destination found: for a layout, what to keep of the layout already
/// there.
#[derive(Debug, Default)]
pub struct Checked {
    kept: Option<Kept>,
}

/// Check every destination before anything is written: each local path names a file or
/// directory whose nearest existing ancestor is a directory (missing ones are created as
/// `mkdir -p` would); it is not a symlink; an existing `oci:` target is an empty directory
/// or an OCI layout that reads cleanly (`existing::read_existing`); an existing archive or
/// SBOM is a regular file; no two outputs (SBOMs included) write the same path, and none is
/// inside another. The result goes with `destinations`, in order.
pub fn check(destinations: &[Destination]) -> Result<Vec<Checked>, PublishError> {
    let mut written: Vec<(PathBuf, String)> = Vec::new();
    let mut checked = Vec::new();
    for dest in destinations {
        let Some(path) = dest.local_path() else {
            checked.push(Checked::default());
            continue;
        };
        let shown = dest.to_string();
        // `Path` drops a trailing `/` or `/.`, which `rename` would not.
        let raw = path.as_os_str().as_encoded_bytes();
        if path.file_name().is_none() || raw.ends_with(b"/") || raw.ends_with(b"/.") {
            return Err(PublishError::NoName { dest: shown });
        }
        check_parent(&shown, path)?;
        let kept = match dest {
            Destination::Layout { tag, .. } => check_layout(&shown, path, tag)?,
            _ => {
                check_file(&shown, path)?;
                None
            }
        };
        written.push((identity(path), shown.clone()));
        if let Some(sbom) = dest.sbom_path() {
            check_file(&shown, &sbom)?;
            written.push((identity(&sbom), shown.clone()));
        }
        checked.push(Checked { kept });
    }
    check_overlaps(&written)?;
    Ok(checked)
}

/// The nearest existing ancestor of `path` is a directory.
fn check_parent(dest: &str, path: &Path) -> Result<(), PublishError> {
    let parent = oci::parent_dir(path);
    let mut at = parent.as_path();
    loop {
        match std::fs::metadata(at) {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => {
                return Err(PublishError::ParentNotDirectory {
                    dest: dest.to_owned(),
                    path: at.to_path_buf(),
                });
            }
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                match at.parent() {
                    Some(up) if !up.as_os_str().is_empty() => at = up,
                    _ => return Ok(()),
                }
            }
            Err(source) => {
                return Err(PublishError::Io {
                    path: at.to_path_buf(),
                    source,
                });
            }
        }
    }
}

/// What is at `path` now, without following a symlink (`None`: nothing).
fn what_is(path: &Path) -> Result<Option<std::fs::Metadata>, PublishError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PublishError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// An `oci:` target: missing, an empty directory or a layout; what to keep of it.
fn check_layout(dest: &str, path: &Path, tag: &str) -> Result<Option<Kept>, PublishError> {
    let Some(m) = what_is(path)? else {
        return Ok(None);
    };
    if m.file_type().is_symlink() {
        return Err(PublishError::Symlink {
            dest: dest.to_owned(),
            path: path.to_path_buf(),
        });
    }
    if !m.is_dir() {
        return Err(oci::OciError::NotALayout {
            path: path.to_path_buf(),
        }
        .into());
    }
    Ok(Some(existing::read_existing(path, tag)?))
}

/// An archive or SBOM target: missing or a regular file.
fn check_file(dest: &str, path: &Path) -> Result<(), PublishError> {
    let Some(m) = what_is(path)? else {
        return Ok(());
    };
    let (dest, path) = (dest.to_owned(), path.to_path_buf());
    if m.file_type().is_symlink() {
        Err(PublishError::Symlink { dest, path })
    } else if m.is_dir() {
        Err(PublishError::Directory { dest, path })
    } else if !m.is_file() {
        Err(PublishError::NotAFile { dest, path })
    } else {
        Ok(())
    }
}

/// `path` absolute, with symlinks resolved in the part of its parent that exists and `.`
/// and `..` folded in the rest: two paths that name the same place have the same identity.
fn identity(path: &Path) -> PathBuf {
    let abs = std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.to_path_buf());
    let name = abs.file_name().map(ToOwned::to_owned).unwrap_or_default();
    let parent_path = oci::parent_dir(&abs);
    let parent: Vec<Component> = parent_path.components().collect();
    for known in (0..=parent.len()).rev() {
        let prefix: PathBuf = parent[..known].iter().collect();
        let Ok(mut out) = std::fs::canonicalize(&prefix) else {
            continue;
        };
        for c in &parent[known..] {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::CurDir => {}
                other => out.push(other),
            }
        }
        out.push(name);
        return out;
    }
    abs
}

/// No two outputs write the same path, and none is inside another.
fn check_overlaps(written: &[(PathBuf, String)]) -> Result<(), PublishError> {
    for (i, (a, first)) in written.iter().enumerate() {
        for (b, second) in &written[i + 1..] {
            if a == b {
                return Err(PublishError::SamePath {
                    first: first.clone(),
                    second: second.clone(),
                    path: a.clone(),
                });
            }
            let (inner, outer) = if b.starts_with(a) {
                (second, first)
            } else if a.starts_with(b) {
                (first, second)
            } else {
                continue;
            };
            return Err(PublishError::Nested {
                inner: inner.clone(),
                outer: outer.clone(),
            });
        }
    }
    Ok(())
}

/// Everything `publish` needs besides the image.
pub struct Publication<'a> {
    pub destinations: &'a [Destination],
    /// The name a docker archive gets when its destination names none (`python3:latest`).
    pub docker_name: String,
    pub push: &'a PushOptions,
    /// The SPDX document written beside every local output.
    pub sbom: &'a [u8],
    pub on_push_bytes: &'a (dyn Fn(u64) + Sync),
    /// `--sign`: the key and the statements to attach (`attach` places them).
    pub signing: Option<Signing>,
}

/// The SBOM for `path`, staged in a temporary file beside it.
fn stage_sbom(path: &Path, sbom: &[u8]) -> Result<Staged> {
    let dir = oci::parent_dir(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".compose-sbom-")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot write in `{}`", dir.display()))?;
    crate::interrupt::register(tmp.path());
    std::io::Write::write_all(&mut tmp, sbom)
        .with_context(|| format!("cannot write in `{}`", dir.display()))?;
    let kept = tmp
        .into_temp_path()
        .keep()
        .with_context(|| format!("cannot write in `{}`", dir.display()))?;
    Ok(Staged::new(kept, path, false))
}

/// Write `image` to every destination, all or none: every destination is checked, the
/// local outputs and their SBOMs are staged beside their destinations, every push is done,
/// and only then are the local outputs renamed into place together (`oci::commit_all`);
/// any failure leaves every local destination as it was. What each push did.
pub fn publish(store: &Store, image: &Image, p: &Publication) -> Result<Vec<PushReport>> {
    let checked = check(p.destinations)?;
    // A docker archive without a name is named after the spec, whose grammar is looser.
    for dest in p.destinations {
        if let Destination::DockerArchive {
            reference: None, ..
        } = dest
        {
            reference::parse_name(&p.docker_name).map_err(|reason| PublishError::DockerName {
                dest: dest.to_string(),
                name: p.docker_name.clone(),
                reason,
            })?;
        }
    }
    let targets: Vec<Reference> = p
        .destinations
        .iter()
        .filter_map(|d| match d {
            Destination::Registry(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    let identities = attach::layout_identities(&targets, &p.docker_name);
    let extras = |existing: Option<(&Path, &[oci_spec::image::Descriptor])>| match &p.signing {
        Some(s) => attach::for_local(s, image, &identities, existing),
        None => Ok(Vec::new()),
    };
    let mut staged = Vec::new();
    for (dest, checked) in p.destinations.iter().zip(checked) {
        staged.push(match dest {
            Destination::Layout { dir, tag } => {
                let kept = checked.kept.unwrap_or_default();
                let extra = extras(Some((dir, &kept.descriptors)))?;
                layout::stage(store, image, dir, tag, kept, &extra)?
            }
            Destination::OciArchive { file, tag } => {
                archive::oci_archive(store, image, file, tag, &extras(None)?)?
            }
            Destination::DockerArchive { file, reference } => archive::docker_archive(
                store,
                image,
                file,
                Some(reference.as_deref().unwrap_or(&p.docker_name)),
            )
            .with_context(|| format!("cannot write `{dest}`"))?,
            Destination::Registry(_) => continue,
        });
        if let Some(path) = dest.sbom_path() {
            staged.push(stage_sbom(&path, p.sbom)?);
        }
    }
    let mut reports = if targets.is_empty() {
        Vec::new()
    } else {
        registry::push_all(store, image, &targets, p.push, p.on_push_bytes)?
    };
    if let Some(signing) = &p.signing {
        for (target, report) in targets.iter().zip(&mut reports) {
            report.attached = attach::push(signing, image, target, p.push)?;
        }
    }
    oci::commit_all(staged)?;
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse_and_print() {
        let cases = [
            ("oci:out/x", "oci:out/x:latest"),
            ("oci:out/x:debug", "oci:out/x:debug"),
            ("oci-archive:x.tar", "oci-archive:x.tar:latest"),
            ("oci-archive:/tmp/x.tar:v1", "oci-archive:/tmp/x.tar:v1"),
            ("docker-archive:x.tar", "docker-archive:x.tar"),
            (
                "docker-archive:x.tar:python3",
                "docker-archive:x.tar:python3:latest",
            ),
            (
                "docker-archive:x.tar:127.0.0.1:5000/base/python3:v2",
                "docker-archive:x.tar:127.0.0.1:5000/base/python3:v2",
            ),
            (
                "docker://127.0.0.1:5000/python3",
                "docker://127.0.0.1:5000/python3:latest",
            ),
        ];
        for (text, shown) in cases {
            let d = Destination::parse(text).unwrap();
            assert_eq!(d.to_string(), shown);
            assert_eq!(Destination::parse(shown).unwrap(), d, "{shown} round-trips");
        }
    }

    #[test]
    fn malformed_destinations_are_refused() {
        for bad in [
            "dir:x",
            "oci:",
            "oci:x:bad tag",
            "oci:x:a..b",
            "oci:x:-a",
            "oci:x:_a",
            "oci-archive:x.tar:v1.",
            "docker-archive::x",
            "docker-archive:x.tar:Python3",
            "docker-archive:F:../../evil",
            "docker-archive:F:a/../b",
            "docker-archive:F:./x",
            "docker-archive:F:a..b",
            "docker-archive:F:a._b",
            "docker-archive:F:a-:v1",
            "docker-archive:F:a:.v1",
            "docker-archive:F:a:v/1",
            "docker-archive:F:a@sha256:00",
            "docker-archive:F:bad_host.:5000/a",
            "docker://python3",
        ] {
            assert!(Destination::parse(bad).is_err(), "{bad} should be refused");
        }
        let long = format!("docker-archive:F:{}:v1", "a".repeat(256));
        assert!(Destination::parse(&long).is_err(), "names are at most 255");
        let e = Destination::parse("docker-archive:F:../../evil")
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid image name `../../evil`"), "{e}");
    }

    #[test]
    fn unusual_but_valid_destinations_are_accepted() {
        for good in [
            "oci:x:1.0+build",
            "oci:x:a--b@c",
            "docker-archive:x.tar:a__b/c-d---e/f.g:V_1.x-y",
            "docker-archive:x.tar:localhost:5000/x:y",
            "docker-archive:x.tar:[::1]:5000/x",
        ] {
            assert!(
                Destination::parse(good).is_ok(),
                "{good} should be accepted"
            );
        }
    }

    /// A scratch directory with `dir/`, a regular `file` and `link` -> `dir`.
    fn scratch() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs_err::create_dir(d.join("dir")).unwrap();
        fs_err::write(d.join("file"), "x").unwrap();
        std::os::unix::fs::symlink(d.join("dir"), d.join("link")).unwrap();
        dir
    }

    /// `check` of the destinations `outs` (with `@` standing for the scratch directory).
    fn check_of(d: &Path, outs: &[&str]) -> Result<(), String> {
        let at = d.display().to_string();
        let dests: Vec<_> = outs
            .iter()
            .map(|o| Destination::parse(&o.replace('@', &at)).unwrap())
            .collect();
        check(&dests).map(|_| ()).map_err(|e| e.to_string())
    }

    /// Each set of destinations is refused, with a message holding `needle`.
    fn refused(cases: &[(&[&str], &str)]) {
        let dir = scratch();
        for (outs, needle) in cases {
            let e = check_of(dir.path(), outs).unwrap_err();
            assert!(e.contains(needle), "{outs:?}: {e:?} lacks {needle:?}");
        }
    }

    #[test]
    fn a_directory_is_no_archive() {
        refused(&[(&["oci-archive:@/dir"], "is a directory")]);
    }

    #[test]
    fn no_output_goes_through_a_symlink() {
        refused(&[
            (&["oci:@/link"], "is a symbolic link"),
            (&["oci-archive:@/link"], "is a symbolic link"),
        ]);
    }

    #[test]
    fn a_file_is_no_layout() {
        refused(&[
            (&["oci:@/file"], "is not an OCI image layout"),
            (&["oci:@/file/x"], "is not a directory"),
            (&["oci:@/file/a/b/x"], "is not a directory"),
        ]);
    }

    #[test]
    fn two_outputs_never_write_one_path() {
        refused(&[
            (&["oci:@/a", "oci-archive:@/a"], "both write"),
            (&["oci:@/a", "oci:@/dir/../a:v2"], "both write"),
            (&["oci:@/dir/x", "oci:@/link/x"], "both write"),
            (
                &["oci:@/a:v1", "oci-archive:@/a.v1.spdx.json"],
                "both write",
            ),
        ]);
    }

    #[test]
    fn no_output_is_inside_another() {
        refused(&[(&["oci:@/a", "oci-archive:@/a/b.tar"], "is inside")]);
    }

    #[test]
    fn a_destination_names_a_file_or_directory() {
        refused(&[
            (&["oci:."], "names no file or directory"),
            (&["oci:x/.."], "names no file or directory"),
            (&["oci:@/dir/"], "names no file or directory"),
            (&["oci-archive:@/dir/."], "names no file or directory"),
        ]);
    }

    #[test]
    fn checking_good_destinations_writes_nothing() {
        let dir = scratch();
        let d = dir.path();
        check_of(
            d,
            &[
                "oci:@/dir",
                "oci-archive:@/file",
                "oci:@/new/deeper/x",
                "docker://127.0.0.1:1/x",
            ],
        )
        .unwrap();
        assert_eq!(fs_err::read_dir(d).unwrap().count(), 3);
    }

    #[test]
    fn refusals_carry_their_hint() {
        let e = PublishError::SamePath {
            first: "oci:a".into(),
            second: "oci-archive:a".into(),
            path: "a".into(),
        };
        let text = crate::error::render(&anyhow::Error::new(e));
        assert!(
            text.ends_with("both write `a`\n\nhint: give every output its own path"),
            "{text}"
        );
        let e = PublishError::Layout(oci::OciError::NotALayout { path: "x".into() });
        let text = crate::error::render(&anyhow::Error::new(e).context("cannot publish"));
        assert!(
            text.ends_with("compose only replaces its own layouts"),
            "{text}"
        );
    }

    #[test]
    fn sboms_go_beside_local_outputs_only() {
        let p = |s: &str| Destination::parse(s).unwrap().sbom_path();
        assert_eq!(p("oci:out/x:debug"), Some("out/x.debug.spdx.json".into()));
        assert_eq!(p("oci-archive:x.tar"), Some("x.tar.spdx.json".into()));
        assert_eq!(p("docker://127.0.0.1:1/x"), None);
    }
}
