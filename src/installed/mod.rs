//! What an existing image holds: the Debian packages of `oci:DIR[:TAG]`,
//! `oci-archive:FILE[:TAG]`, `docker-archive:FILE` or `docker://HOST[:PORT]/REPO[:TAG]`, read
//! from the dpkg records (`var/lib/dpkg/status.d/*`, `var/lib/dpkg/status`) and compose's SBOMs
//! in its layers, for `compose diff`. The image is hostile: every document and layer is
//! checked against its digest, every count and size is bounded, and a record that breaks
//! Debian policy is a named warning, never a path or a panic.

mod archive;
mod dpkg;
mod layers;
mod walk;

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;

use rayon::prelude::*;
use serde::Serialize;

use crate::oci::OciError;
use crate::publish::{Destination, DestinationError};
use crate::reference::Reference;
use crate::registry::pull::{PullError, Puller};
use crate::registry::{PushOptions, RegistryError, Session};

use archive::{Archive, Files, LayoutDir};
use walk::{Found, Wanted};

pub use archive::MAX_ARCHIVE_ENTRIES;
pub use dpkg::{MAX_SBOM, MAX_STATUS, MAX_STATUS_D};
pub use layers::{MAX_ENTRIES, MAX_KEPT, MAX_READ};
pub use walk::{MAX_DEPTH, MAX_IMAGES};

/// One Debian package an image holds, on one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledPackage {
    /// `linux/amd64`, `linux/arm64/v8`: as compose's locks write platforms
    /// (`spec::Platform`'s display), or the image's own words for one compose does not build.
    pub platform: String,
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The Debian source package: `Source:` without its `(version)`, else the name.
    pub source: String,
    /// The version in `Source: NAME (VERSION)`, else the package's version.
    pub source_version: String,
    /// The `.deb`'s SHA256, when the image carries an SBOM listing it
    /// (`usr/share/sbom/*.spdx.json`, as compose writes one per layer).
    pub sha256: Option<String>,
    /// The `.deb`'s pool path (`pool/main/...`), from that SBOM.
    pub filename: Option<String>,
}

/// Every package of every platform of one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImagePackages {
    /// The image as it was named (`oci:DIR:TAG`...).
    pub reference: String,
    /// `sha256:` of the image's top document (its index or manifest); `None` for a docker
    /// archive, which is named by no digest of its own.
    pub digest: Option<String>,
    /// Sorted by platform, name, architecture.
    pub packages: Vec<InstalledPackage>,
    /// What was skipped and why, one line each.
    pub warnings: Vec<String>,
}

/// Why an image's packages cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum InstalledError {
    #[error("`{text}` does not name an image")]
    Reference {
        text: String,
        #[source]
        source: DestinationError,
    },
    #[error("`{image}` is not an OCI image layout: it has no `oci-layout` file")]
    NotLayout { image: String },
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot make a temporary directory in `{}`", path.display())]
    TempDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{image}`: the archive entry {name} {problem}")]
    Entry {
        image: String,
        name: String,
        problem: &'static str,
    },
    #[error("`{image}` has more than {limit} entries")]
    TooManyEntries { image: String, limit: usize },
    #[error("`{image}` has no image tagged `{tag}` (its tags: {tags})")]
    NoTag {
        image: String,
        tag: String,
        tags: String,
    },
    #[error("`{image}` holds {count} images and none is tagged `latest` (its tags: {tags})")]
    WhichImage {
        image: String,
        count: usize,
        tags: String,
    },
    #[error("`{image}`: {what} is missing")]
    Missing { image: String, what: String },
    #[error("`{image}`: {what} {problem}")]
    Invalid {
        image: String,
        what: String,
        problem: String,
    },
    #[error("`{image}`: cannot parse {what}")]
    Json {
        image: String,
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("`{image}`: cannot read {what}")]
    Unreadable {
        image: String,
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Layout(#[from] OciError),
    #[error(transparent)]
    Pull(#[from] PullError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl crate::error::Hint for InstalledError {
    fn hint(&self) -> Option<String> {
        use InstalledError::*;
        Some(match self {
            Reference { .. } => {
                "name an image as `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE` or `docker://HOST[:PORT]/REPO[:TAG]`".into()
            }
            NotLayout { .. } => "an `oci:` directory is an OCI image layout as `compose build --output oci:DIR` or `skopeo copy` write it".into(),
            NoTag { .. } | WhichImage { .. } => {
                "name the image by one of its tags (`oci:DIR:TAG`, `oci-archive:FILE:TAG`)".into()
            }
            Layout(e) => return crate::error::Hint::hint(e),
            Registry(e) | Pull(PullError::Registry(e)) => return e.hint(),
            _ => return None,
        })
    }
}

/// Whether `text` names an image (rather than a lock file): `oci:`, `oci-archive:`,
/// `docker-archive:` or `docker://`.
pub fn looks_like_image(text: &str) -> bool {
    ["oci:", "oci-archive:", "docker-archive:", "docker://"]
        .iter()
        .any(|prefix| text.starts_with(prefix))
}

/// The packages of the image `text` (`oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
/// `docker-archive:FILE[:REPO:TAG]` or `docker://HOST[:PORT]/REPO[:TAG]`, pulled with `pull`'s
/// credentials into a temporary layout, bounded and digest-checked as `verify --image` pulls).
pub fn read(text: &str, pull: &PushOptions) -> Result<ImagePackages, InstalledError> {
    let dest = Destination::parse(text).map_err(|source| InstalledError::Reference {
        text: text.to_owned(),
        source,
    })?;
    match &dest {
        Destination::Layout { dir, tag } => {
            let files = LayoutDir::new(dir, text);
            let found = walk::oci(&files, wanted(text, tag))?;
            packages_of(text, &files, found)
        }
        Destination::OciArchive { file, tag } => {
            let files = Archive::index(file, text)?;
            let found = walk::oci(&files, wanted(text, tag))?;
            packages_of(text, &files, found)
        }
        Destination::DockerArchive { file, reference } => {
            let files = Archive::index(file, text)?;
            let found = walk::docker(&files, reference.as_deref())?;
            packages_of(text, &files, found)
        }
        Destination::Registry(reference) => pulled(text, reference, pull),
    }
}

/// The tag the user named (`oci:DIR:TAG`), or `latest`-else-the-only-image when none.
fn wanted<'a>(text: &str, tag: &'a str) -> Wanted<'a> {
    let rest = text.split_once(':').map_or("", |(_, rest)| rest);
    match rest.rsplit_once(':') {
        Some((_, written)) if !written.contains('/') => Wanted::Tag(tag),
        _ => Wanted::Default,
    }
}

/// `docker://...` pulled into a temporary layout (removed when done or interrupted), then
/// read like `oci:`.
fn pulled(
    text: &str,
    reference: &Reference,
    pull: &PushOptions,
) -> Result<ImagePackages, InstalledError> {
    let temp = std::env::temp_dir();
    let scratch = tempfile::Builder::new()
        .prefix(".compose-pull-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir_in(&temp)
        .map_err(|source| InstalledError::TempDir { path: temp, source })?;
    crate::interrupt::register(scratch.path());
    let result = (|| {
        let session = Session::open(reference, pull)?;
        let puller = Puller {
            session: &session,
            reference: format!("{}/{}", reference.host, reference.repository),
        };
        let dir = scratch.path().join("pulled");
        puller.pull(&reference.tag, &dir)?;
        let files = LayoutDir::new(&dir, text);
        let found = walk::oci(&files, Wanted::Tag(&reference.tag))?;
        packages_of(text, &files, found)
    })();
    crate::interrupt::forget(scratch.path());
    result
}

/// Every platform's layers read (platforms in parallel, collected in order), then their
/// records turned into packages.
fn packages_of(
    text: &str,
    files: &dyn Files,
    found: Found,
) -> Result<ImagePackages, InstalledError> {
    let left = AtomicU64::new(layers::MAX_READ);
    let per_platform: Vec<(Vec<InstalledPackage>, Vec<String>)> = found
        .images
        .par_iter()
        .map(|image| {
            let mut warnings = Vec::new();
            let records = layers::records(files, image, &left, &mut warnings)?;
            let packages = dpkg::packages(files.label(), &image.platform, &records, &mut warnings);
            Ok((packages, warnings))
        })
        .collect::<Result<_, InstalledError>>()?;
    let mut warnings = found.warnings;
    let mut packages = Vec::new();
    for (p, w) in per_platform {
        packages.extend(p);
        warnings.extend(w);
    }
    packages.sort_by(|a, b| {
        (&a.platform, &a.name, &a.architecture).cmp(&(&b.platform, &b.name, &b.architecture))
    });
    Ok(ImagePackages {
        reference: text.to_owned(),
        digest: found.digest,
        packages,
        warnings,
    })
}

/// Untrusted text for a one-line message: escaped, quoted, at most 80 characters.
fn shown(text: &str) -> String {
    let mut s: String = text.chars().take(80).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_told_from_lock_paths_by_their_prefix() {
        for image in [
            "oci:img",
            "oci:img:v1",
            "oci-archive:img.tar",
            "docker-archive:img.tar",
            "docker://127.0.0.1:5000/x:y",
        ] {
            assert!(looks_like_image(image), "{image}");
        }
        for lock in [
            "specs/python3.lock",
            "oci.lock",
            "./oci:x.lock",
            "docker:/x",
        ] {
            assert!(!looks_like_image(lock), "{lock}");
        }
    }

    #[test]
    fn a_tag_is_wanted_only_when_written() {
        assert_eq!(wanted("oci:img", "latest"), Wanted::Default);
        assert_eq!(wanted("oci:img:v1", "v1"), Wanted::Tag("v1"));
        assert_eq!(wanted("oci:img:latest", "latest"), Wanted::Tag("latest"));
        assert_eq!(wanted("oci:a:b/img", "latest"), Wanted::Default);
        assert_eq!(wanted("oci-archive:x.tar:v2", "v2"), Wanted::Tag("v2"));
    }

    #[test]
    fn a_bad_reference_is_one_error_with_a_hint() {
        let opts = PushOptions {
            creds: None,
            docker_config: None,
            insecure: false,
            chunk_size: 1 << 20,
            jobs: 1,
            known_blobs: PathBuf::from("/nonexistent/known"),
        };
        let e = read("oci:", &opts).unwrap_err();
        assert!(matches!(e, InstalledError::Reference { .. }), "{e}");
        assert!(crate::error::Hint::hint(&e).is_some());
        let e = read("docker://x", &opts).unwrap_err();
        assert!(matches!(e, InstalledError::Reference { .. }), "{e}");
    }

    #[test]
    fn untrusted_text_is_escaped_and_cut() {
        assert_eq!(shown("a\nb"), "\"a\\nb\"");
        assert_eq!(shown(&"x".repeat(100)).chars().count(), 83);
    }
}
