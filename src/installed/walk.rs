//! From an image's top document to each platform's layers: an OCI layout's `index.json`,
//! the tagged descriptor, nested indexes (at most `MAX_DEPTH`), each manifest and its config
//! (which says the platform); or a docker archive's `manifest.json` and config. Every
//! document is read within `MAX_DOCUMENT` and checked against its digest before it is
//! parsed, so no document can name itself.

use std::collections::BTreeSet;
use std::io::Read;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType, ToDockerV2S2};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::oci::reader::{MAX_DOCUMENT, tag_of, valid_digest};
use crate::oci::sha256_digest;
use crate::spec::Platform;

use super::archive::{Files, archive_name};
use super::{InstalledError, shown};

/// Indexes under indexes, the top one counting as 1.
pub const MAX_DEPTH: usize = 4;
/// Documents (indexes and manifests) read for one image, and the images (platforms) kept.
pub const MAX_DOCUMENTS: usize = 256;
pub const MAX_IMAGES: usize = 64;

/// Which image of a layout: the one tagged so, or (no tag written) the one tagged `latest`,
/// else the only one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wanted<'a> {
    Tag(&'a str),
    Default,
}

/// One layer: its file, and what its bytes (`digest`, `size`) or its tar (`diff_id`) must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layer {
    pub name: String,
    pub size: Option<u64>,
    pub digest: Option<String>,
    pub diff_id: Option<String>,
}

/// One platform's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlatformImage {
    pub platform: String,
    pub layers: Vec<Layer>,
}

/// Every platform's image, the top document's digest, and what was skipped.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub digest: Option<String>,
    pub images: Vec<PlatformImage>,
    pub warnings: Vec<String>,
}

/// What an image config says that matters here.
#[derive(Debug, Default, Deserialize)]
struct Config {
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    rootfs: Option<RootFs>,
}

#[derive(Debug, Default, Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// One image of a docker archive's `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn invalid(files: &dyn Files, what: &str, problem: impl Into<String>) -> InstalledError {
    InstalledError::Invalid {
        image: files.label().to_owned(),
        what: what.to_owned(),
        problem: problem.into(),
    }
}

/// The file `name`, whole, at most `MAX_DOCUMENT` bytes: of `size` bytes and with `digest`
/// when given.
fn document(
    files: &dyn Files,
    name: &str,
    digest: Option<&str>,
    size: Option<u64>,
    what: &str,
) -> Result<Vec<u8>, InstalledError> {
    let (reader, actual) = files.open(name)?.ok_or_else(|| InstalledError::Missing {
        image: files.label().to_owned(),
        what: what.to_owned(),
    })?;
    if let Some(size) = size.filter(|s| *s != actual) {
        return Err(invalid(
            files,
            what,
            format!("is {actual} bytes, not {size}"),
        ));
    }
    if actual > MAX_DOCUMENT {
        let limit = MAX_DOCUMENT >> 20;
        return Err(invalid(files, what, format!("is larger than {limit} MiB")));
    }
    let mut bytes = Vec::new();
    reader
        .take(MAX_DOCUMENT)
        .read_to_end(&mut bytes)
        .map_err(|source| InstalledError::Unreadable {
            image: files.label().to_owned(),
            what: what.to_owned(),
            source,
        })?;
    if let Some(digest) = digest {
        let got = sha256_digest(&bytes);
        if got != digest {
            return Err(invalid(
                files,
                what,
                format!("is not the bytes of its digest (they are {got})"),
            ));
        }
    }
    Ok(bytes)
}

fn parse<T: DeserializeOwned>(
    files: &dyn Files,
    bytes: &[u8],
    what: &str,
) -> Result<T, InstalledError> {
    serde_json::from_slice(bytes).map_err(|source| InstalledError::Json {
        image: files.label().to_owned(),
        what: what.to_owned(),
        source,
    })
}

/// `blobs/sha256/<hex>` of a descriptor, its digest checked first.
fn blob_name(files: &dyn Files, desc: &Descriptor) -> Result<String, InstalledError> {
    let digest = desc.digest().to_string();
    if !valid_digest(&digest) {
        return Err(invalid(
            files,
            &format!("the digest {}", shown(&digest)),
            "is not `sha256:` and 64 lowercase hex digits",
        ));
    }
    Ok(format!("blobs/sha256/{}", &digest["sha256:".len()..]))
}

/// An OCI layout (a directory, an archive, a pulled image): the wanted image's platforms.
pub(crate) fn oci(files: &dyn Files, wanted: Wanted) -> Result<Found, InstalledError> {
    if files.open("oci-layout")?.is_none() {
        return Err(InstalledError::NotLayout {
            image: files.label().to_owned(),
        });
    }
    let bytes = document(files, "index.json", None, None, "`index.json`")?;
    let index: ImageIndex = parse(files, &bytes, "`index.json`")?;
    let top = choose(files, &index, wanted)?;
    let mut found = Found {
        digest: Some(top.digest().to_string()),
        ..Found::default()
    };
    let mut stack = vec![(top, 1usize)];
    let mut documents = 0usize;
    let mut platforms = BTreeSet::new();
    while let Some((desc, depth)) = stack.pop() {
        documents += 1;
        if documents > MAX_DOCUMENTS {
            return Err(invalid(
                files,
                "the image",
                format!("names more than {MAX_DOCUMENTS} manifests"),
            ));
        }
        let name = blob_name(files, &desc)?;
        let what = format!("the document {}", desc.digest());
        let bytes = document(
            files,
            &name,
            Some(desc.digest().as_ref()),
            Some(desc.size()),
            &what,
        )?;
        let value: Value = parse(files, &bytes, &what)?;
        if value.get("manifests").is_some() {
            if depth >= MAX_DEPTH {
                return Err(invalid(
                    files,
                    &what,
                    format!("nests indexes deeper than {MAX_DEPTH}"),
                ));
            }
            let child: ImageIndex = parse(files, &bytes, &what)?;
            stack.extend(
                child
                    .manifests()
                    .iter()
                    .rev()
                    .map(|d| (d.clone(), depth + 1)),
            );
            continue;
        }
        if let Some(image) = manifest(files, &desc, &bytes, &what, &mut found.warnings)? {
            if !platforms.insert(image.platform.clone()) {
                found.warnings.push(format!(
                    "{}: a second image for {} ({}) is not read",
                    files.label(),
                    image.platform,
                    desc.digest()
                ));
                continue;
            }
            if found.images.len() == MAX_IMAGES {
                return Err(invalid(
                    files,
                    "the image",
                    format!("has more than {MAX_IMAGES} platforms"),
                ));
            }
            found.images.push(image);
        }
    }
    Ok(found)
}

/// The descriptor of `index.json` the user wants.
fn choose(
    files: &dyn Files,
    index: &ImageIndex,
    wanted: Wanted,
) -> Result<Descriptor, InstalledError> {
    let tags: Vec<&str> = index.manifests().iter().filter_map(tag_of).collect();
    let listed = || {
        let mut shown_tags: Vec<String> = tags.iter().take(10).map(|t| shown(t)).collect();
        if tags.len() > 10 {
            shown_tags.push("…".into());
        }
        if shown_tags.is_empty() {
            "none".into()
        } else {
            shown_tags.join(", ")
        }
    };
    let by_tag = |tag: &str| {
        index
            .manifests()
            .iter()
            .rev()
            .find(|d| tag_of(d) == Some(tag))
    };
    match wanted {
        Wanted::Tag(tag) => by_tag(tag).cloned().ok_or_else(|| InstalledError::NoTag {
            image: files.label().to_owned(),
            tag: tag.to_owned(),
            tags: listed(),
        }),
        Wanted::Default => {
            if let Some(d) = by_tag("latest") {
                return Ok(d.clone());
            }
            // Signatures and attestations compose and cosign tag beside the image.
            let images: Vec<&Descriptor> = index
                .manifests()
                .iter()
                .filter(|d| !tag_of(d).is_some_and(|t| t.starts_with("sha256-")))
                .collect();
            match images.as_slice() {
                [only] => Ok((*only).clone()),
                _ => Err(InstalledError::WhichImage {
                    image: files.label().to_owned(),
                    count: images.len(),
                    tags: listed(),
                }),
            }
        }
    }
}

/// Whether `media` is an image config (OCI or Docker).
fn is_image_config(media: &MediaType) -> bool {
    *media == MediaType::ImageConfig
        || MediaType::ImageConfig
            .to_docker_v2s2()
            .is_ok_and(|docker| media.as_ref() == docker)
}

/// A manifest's platform and layers; `None` (with a warning where it is unexpected) when it
/// is not an image: an attestation, a signature, an artifact.
fn manifest(
    files: &dyn Files,
    desc: &Descriptor,
    bytes: &[u8],
    what: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<PlatformImage>, InstalledError> {
    let attestation = desc
        .annotations()
        .as_ref()
        .is_some_and(|a| a.contains_key("vnd.docker.reference.type"));
    let listed = desc.platform().as_ref().map(|p| {
        (
            p.os().to_string(),
            p.architecture().to_string(),
            p.variant().clone(),
        )
    });
    if attestation || listed.as_ref().is_some_and(|(os, _, _)| os == "unknown") {
        return Ok(None);
    }
    let m: ImageManifest = parse(files, bytes, what)?;
    if !is_image_config(m.config().media_type()) {
        warnings.push(format!(
            "{}: {} is not an image (its config is {}): not read",
            files.label(),
            desc.digest(),
            shown(m.config().media_type().as_ref())
        ));
        return Ok(None);
    }
    let config_what = format!("the config {}", m.config().digest());
    let name = blob_name(files, m.config())?;
    let config_bytes = document(
        files,
        &name,
        Some(m.config().digest().as_ref()),
        Some(m.config().size()),
        &config_what,
    )?;
    let config: Config = parse(files, &config_bytes, &config_what)?;
    let platform = platform_of(&config, listed, files.label(), warnings);
    let layers = m
        .layers()
        .iter()
        .map(|l| {
            Ok(Layer {
                name: blob_name(files, l)?,
                size: Some(l.size()),
                digest: Some(l.digest().to_string()),
                diff_id: None,
            })
        })
        .collect::<Result<_, InstalledError>>()?;
    Ok(Some(PlatformImage { platform, layers }))
}

/// A part of a platform compose can show as it is: `[a-z0-9._-]`, at most 32 bytes.
fn plain(part: &str) -> bool {
    (1..=32).contains(&part.len())
        && part
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// `os/architecture[/variant]` from the config (else from the index's descriptor), as a
/// lock writes it when compose builds that platform (`linux/arm64` is `linux/arm64/v8`).
fn platform_of(
    config: &Config,
    listed: Option<(String, String, Option<String>)>,
    label: &str,
    warnings: &mut Vec<String>,
) -> String {
    let (os, arch, variant) = match (&config.os, &config.architecture) {
        (Some(os), Some(arch)) => (os.clone(), arch.clone(), config.variant.clone()),
        _ => listed.unwrap_or_default(),
    };
    let mut parts = vec![os, arch];
    parts.extend(variant);
    let text = parts.join("/");
    if !parts.iter().all(|p| plain(p)) {
        warnings.push(format!(
            "{label}: the platform {} is not one compose can name: read as `unknown`",
            shown(&text)
        ));
        return "unknown".into();
    }
    Platform::parse(&text).map_or(text, |p| p.to_string())
}

/// A docker archive (`docker save`'s `manifest.json`): the image `reference` names among its
/// `RepoTags`, else the only one. Its config must be named by its digest (`<hex>.json` or
/// `blobs/sha256/<hex>`), and each layer's tar is checked against the config's `diff_ids`
/// (and its bytes against its name, when that is a digest).
pub(crate) fn docker(files: &dyn Files, reference: Option<&str>) -> Result<Found, InstalledError> {
    let what = "`manifest.json`";
    let bytes = document(files, "manifest.json", None, None, what)?;
    let entries: Vec<DockerEntry> = parse(files, &bytes, what)?;
    let entry = docker_entry(files, &entries, reference)?;
    let config_name = archive_name(&entry.config).map_err(|problem| {
        invalid(
            files,
            &format!("the config {}", shown(&entry.config)),
            problem,
        )
    })?;
    let config_what = format!("the config `{config_name}`");
    let digest = digest_in_name(&config_name)
        .ok_or_else(|| invalid(files, &config_what, "is not named by its digest"))?;
    let config_bytes = document(files, &config_name, Some(&digest), None, &config_what)?;
    let config: Config = parse(files, &config_bytes, &config_what)?;
    let diff_ids = config
        .rootfs
        .as_ref()
        .map(|r| r.diff_ids.as_slice())
        .unwrap_or_default();
    if diff_ids.len() != entry.layers.len() {
        return Err(invalid(
            files,
            &config_what,
            format!(
                "lists {} layers, `manifest.json` {}",
                diff_ids.len(),
                entry.layers.len()
            ),
        ));
    }
    let mut layers = Vec::new();
    for (path, diff_id) in entry.layers.iter().zip(diff_ids) {
        let name = archive_name(path)
            .map_err(|problem| invalid(files, &format!("the layer {}", shown(path)), problem))?;
        if !valid_digest(diff_id) {
            return Err(invalid(
                files,
                &config_what,
                format!("names the layer digest {}", shown(diff_id)),
            ));
        }
        let digest = name
            .strip_prefix("blobs/sha256/")
            .map(|hex| format!("sha256:{hex}"));
        layers.push(Layer {
            name,
            size: None,
            digest,
            diff_id: Some(diff_id.clone()),
        });
    }
    let mut warnings = Vec::new();
    let platform = platform_of(&config, None, files.label(), &mut warnings);
    Ok(Found {
        digest: None,
        images: vec![PlatformImage { platform, layers }],
        warnings,
    })
}

/// The entry of `manifest.json` to read.
fn docker_entry<'a>(
    files: &dyn Files,
    entries: &'a [DockerEntry],
    reference: Option<&str>,
) -> Result<&'a DockerEntry, InstalledError> {
    let tags = || {
        let all: Vec<String> = entries
            .iter()
            .flat_map(|e| e.repo_tags.iter().flatten())
            .take(10)
            .map(|t| shown(t))
            .collect();
        if all.is_empty() {
            "none".into()
        } else {
            all.join(", ")
        }
    };
    if let Some(reference) = reference {
        return entries
            .iter()
            .find(|e| e.repo_tags.iter().flatten().any(|t| t == reference))
            .ok_or_else(|| InstalledError::NoTag {
                image: files.label().to_owned(),
                tag: reference.to_owned(),
                tags: tags(),
            });
    }
    match entries {
        [only] => Ok(only),
        _ => Err(InstalledError::WhichImage {
            image: files.label().to_owned(),
            count: entries.len(),
            tags: tags(),
        }),
    }
}

/// `sha256:<hex>` from `blobs/sha256/<hex>` or `<hex>.json`.
fn digest_in_name(name: &str) -> Option<String> {
    let hex = name
        .strip_prefix("blobs/sha256/")
        .or_else(|| name.strip_suffix(".json"))?;
    let digest = format!("sha256:{hex}");
    valid_digest(&digest).then_some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_named_as_locks_name_them() {
        let config = |os: &str, arch: &str, variant: Option<&str>| Config {
            os: Some(os.into()),
            architecture: Some(arch.into()),
            variant: variant.map(Into::into),
            rootfs: None,
        };
        let mut w = Vec::new();
        assert_eq!(
            platform_of(&config("linux", "amd64", None), None, "x", &mut w),
            "linux/amd64"
        );
        assert_eq!(
            platform_of(&config("linux", "arm64", None), None, "x", &mut w),
            "linux/arm64/v8"
        );
        assert_eq!(
            platform_of(&config("linux", "arm", Some("v7")), None, "x", &mut w),
            "linux/arm/v7"
        );
        assert_eq!(
            platform_of(&config("linux", "mips64le", None), None, "x", &mut w),
            "linux/mips64le"
        );
        assert!(w.is_empty());
        let listed = Some(("linux".into(), "s390x".into(), None));
        assert_eq!(
            platform_of(&Config::default(), listed, "x", &mut w),
            "linux/s390x"
        );
        assert_eq!(
            platform_of(&config("linux", "../../x", None), None, "x", &mut w),
            "unknown"
        );
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn docker_configs_are_named_by_their_digest() {
        let hex = "a".repeat(64);
        assert_eq!(
            digest_in_name(&format!("{hex}.json")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(
            digest_in_name(&format!("blobs/sha256/{hex}")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(digest_in_name("config.json"), None);
        assert_eq!(digest_in_name(&format!("blobs/sha256/{hex}/x")), None);
    }
}
