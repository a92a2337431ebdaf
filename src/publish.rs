//! Where a build goes: `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
//! `docker-archive:FILE[:REPO:TAG]` and `docker://HOST[:PORT]/REPO[:TAG]`, any number of them,
//! and writing one built image to all of them.
//!
//! Local outputs are staged next to their destination first, then every push is done, and
//! only then are the local outputs (and their SBOMs) renamed into place: a failed build
//! leaves no partial output.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::oci::{self, Image, Layout, Store, archive};
use crate::registry::{self, PushOptions, PushReport, Reference};

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

/// `PATH[:TAG]` where the tag, if any, is after the last colon and has no `/`.
fn path_and_tag<'a>(text: &str, rest: &'a str) -> Result<(PathBuf, &'a str), String> {
    let (path, tag) = registry::split_tag(rest);
    if path.is_empty() {
        return Err(format!("destination `{text}` names no path"));
    }
    if !registry::valid_tag(tag) {
        return Err(format!("invalid tag `{tag}` in `{text}`"));
    }
    Ok((PathBuf::from(path), tag))
}

/// `REPO[:TAG]` as `docker load` names an image (the tag defaults to `latest`).
fn docker_name(text: &str, name: &str) -> Result<String, String> {
    let (repo, tag) = match name.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (name, "latest"),
    };
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
    };
    // The first part may be a registry host with a port.
    let mut parts = repo.split('/');
    let first_ok = parts
        .next()
        .is_some_and(|h| part_ok(h) || (h.contains(':') && h.split(':').all(|x| !x.is_empty())));
    if !first_ok || !parts.all(part_ok) || !registry::valid_tag(tag) {
        return Err(format!(
            "invalid image name `{name}` in `{text}`: expected a lowercase `REPO[:TAG]`"
        ));
    }
    Ok(format!("{repo}:{tag}"))
}

impl Destination {
    /// Parse a skopeo-style destination.
    pub fn parse(text: &str) -> Result<Destination, String> {
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
                return Err(format!("destination `{text}` names no file"));
            }
            return Ok(Destination::DockerArchive {
                file: PathBuf::from(file),
                reference: name,
            });
        }
        if let Some(rest) = text.strip_prefix("docker://") {
            return Reference::parse(rest)
                .map(Destination::Registry)
                .map_err(|e| e.to_string());
        }
        Err(format!(
            "unsupported destination `{text}`: expected {FORMS}"
        ))
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

/// A local output written but not yet in place.
enum Staged {
    Layout(Box<Layout>),
    File(archive::StagedFile),
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
}

/// Write `image` to every destination; what each push did.
pub fn publish(store: &Store, image: &Image, p: &Publication) -> Result<Vec<PushReport>> {
    let mut staged = Vec::new();
    let mut sboms = Vec::new();
    for dest in p.destinations {
        staged.push(match dest {
            Destination::Layout { dir, tag } => {
                Staged::Layout(Box::new(Layout::stage(store, image, dir, tag)?))
            }
            Destination::OciArchive { file, tag } => {
                Staged::File(archive::oci_archive(store, image, file, tag)?)
            }
            Destination::DockerArchive { file, reference } => Staged::File(
                archive::docker_archive(
                    store,
                    image,
                    file,
                    Some(reference.as_deref().unwrap_or(&p.docker_name)),
                )
                .with_context(|| format!("cannot write `{dest}`"))?,
            ),
            Destination::Registry(_) => continue,
        });
        if let Some(path) = dest.sbom_path() {
            let dir = oci::parent_dir(&path);
            let mut tmp = tempfile::Builder::new()
                .prefix(".compose-sbom-")
                .tempfile_in(&dir)
                .with_context(|| format!("cannot write in `{}`", dir.display()))?;
            crate::interrupt::register(tmp.path());
            std::io::Write::write_all(&mut tmp, p.sbom)
                .with_context(|| format!("cannot write in `{}`", dir.display()))?;
            sboms.push((tmp, path));
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
    let reports = if targets.is_empty() {
        Vec::new()
    } else {
        registry::push_all(store, image, &targets, p.push, p.on_push_bytes)?
    };
    for s in staged {
        match s {
            Staged::Layout(l) => l.commit()?,
            Staged::File(f) => f.commit()?,
        }
    }
    for (tmp, path) in sboms {
        let tmp_path = tmp.path().to_path_buf();
        tmp.persist(&path)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        crate::interrupt::forget(&tmp_path);
    }
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
        for bad in [
            "dir:x",
            "oci:",
            "oci:x:bad tag",
            "docker-archive::x",
            "docker-archive:x.tar:Python3",
            "docker://python3",
        ] {
            assert!(Destination::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn sboms_go_beside_local_outputs_only() {
        let p = |s: &str| Destination::parse(s).unwrap().sbom_path();
        assert_eq!(p("oci:out/x:debug"), Some("out/x.debug.spdx.json".into()));
        assert_eq!(p("oci-archive:x.tar"), Some("x.tar.spdx.json".into()));
        assert_eq!(p("docker://127.0.0.1:1/x"), None);
    }
}
