//! OCI documents: image config, manifest and index (built with oci-spec, serialized as
//! canonical JSON), and the built image they describe.
//!
//! Nothing here knows about Debian or registries. `layout` keeps blobs on disk and writes
//! image layouts, `archive` writes `oci-archive` and `docker-archive` tar files, `reader`
//! reads a layout back as untrusted input, `existing` says what of an existing layout to
//! keep, `commit` puts outputs in place. The vocabulary (media types, annotation keys,
//! documents) is oci-spec's.

pub mod archive;
pub mod commit;
pub mod existing;
pub mod layout;
pub mod reader;

pub use commit::{Staged, commit_all};
pub use layout::Store;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use oci_spec::image::{
    ANNOTATION_REF_NAME, Arch, ConfigBuilder, Descriptor, DescriptorBuilder, Digest,
    HistoryBuilder, ImageConfigurationBuilder, ImageIndexBuilder, ImageManifestBuilder, MediaType,
    Os, PlatformBuilder, RootFsBuilder,
};
use serde::Serialize;
use sha2::Digest as _;

use crate::layer::Layer;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("cannot build OCI {what}")]
    Spec {
        what: &'static str,
        #[source]
        source: oci_spec::OciSpecError,
    },
    #[error("cannot write `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "`{}` exists and is not an OCI image layout",
        path.display()
    )]
    NotALayout { path: PathBuf },
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` {what}", path.display())]
    LayoutEntry { path: PathBuf, what: String },
    #[error("invalid JSON in `{}`", path.display())]
    LayoutJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("`{}` is not an OCI {what}", path.display())]
    LayoutDocument {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "`{}` names the invalid digest {digest}: compose reads only `sha256:` and 64 lowercase hex digits",
        path.display()
    )]
    LayoutDigest { path: PathBuf, digest: String },
    #[error(
        "`{}` changed during the build; no output was written",
        path.display()
    )]
    Changed { path: PathBuf },
    #[error(
        "cannot put the earlier `{}` back; it is kept in `{}`",
        path.display(),
        kept.display()
    )]
    Restore {
        path: PathBuf,
        kept: PathBuf,
        #[source]
        source: Box<OciError>,
    },
    #[error("a docker archive holds one platform, and this image has {count}")]
    DockerArchivePlatforms { count: usize },
}

impl crate::error::Hint for OciError {
    fn hint(&self) -> Option<String> {
        let hint = match self {
            OciError::NotALayout { .. } => {
                "choose another `--output` directory; compose only replaces its own layouts"
            }
            OciError::Changed { .. } => "run the build again",
            OciError::DockerArchivePlatforms { .. } => {
                "pass `--platform` with one platform for this output, or use `oci-archive:`, which holds them all"
            }
            _ => return None,
        };
        Some(hint.to_owned())
    }
}

/// The directory `path` lives in (`.` for a bare file name): where a temporary file that
/// will be renamed onto `path` must be created.
pub use crate::atomic::parent_dir;

/// Serialize through `serde_json::Value` so that maps (oci-spec uses `HashMap`) come out
/// with sorted keys: the same document always has the same bytes and digest.
pub fn canonical_json(value: &impl Serialize) -> Vec<u8> {
    let v = serde_json::to_value(value).expect("OCI documents serialize");
    serde_json::to_vec(&v).expect("JSON values serialize")
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

fn digest(s: &str) -> Digest {
    Digest::from_str(s).expect("digests we compute are valid")
}

fn spec_err(what: &'static str) -> impl FnOnce(oci_spec::OciSpecError) -> OciError {
    move |source| OciError::Spec { what, source }
}

/// Format seconds since the epoch as RFC 3339 UTC (`2024-01-02T03:04:05Z`).
pub fn rfc3339(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The OCI platform of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciPlatform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// Everything an image config needs.
#[derive(Debug)]
pub struct ImageInput<'a> {
    pub platform: OciPlatform,
    pub created: u64,
    pub user: Option<&'a str>,
    pub workdir: Option<&'a str>,
    pub entrypoint: Option<&'a [String]>,
    pub cmd: Option<&'a [String]>,
    pub env: &'a BTreeMap<String, String>,
    pub labels: &'a BTreeMap<String, String>,
    /// Layers, bottom first, each with its history line.
    pub layers: Vec<(&'a Layer, String)>,
}

/// The config JSON of one image.
pub fn config_json(input: &ImageInput) -> Result<Vec<u8>, OciError> {
    let created = rfc3339(input.created);
    let mut cfg = ConfigBuilder::default().env(
        input
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>(),
    );
    if let Some(u) = input.user {
        cfg = cfg.user(u.to_owned());
    }
    if let Some(w) = input.workdir {
        cfg = cfg.working_dir(w.to_owned());
    }
    if let Some(e) = input.entrypoint {
        cfg = cfg.entrypoint(e.to_vec());
    }
    if let Some(c) = input.cmd {
        cfg = cfg.cmd(c.to_vec());
    }
    if !input.labels.is_empty() {
        cfg = cfg.labels(
            input
                .labels
                .clone()
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
    }
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(
            input
                .layers
                .iter()
                .map(|(l, _)| l.diff_id.clone())
                .collect::<Vec<_>>(),
        )
        .build()
        .map_err(spec_err("rootfs"))?;
    let history = input
        .layers
        .iter()
        .map(|(_, by)| {
            HistoryBuilder::default()
                .created(created.clone())
                .created_by(by.clone())
                .comment("compose".to_owned())
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(spec_err("history"))?;
    let mut b = ImageConfigurationBuilder::default()
        .created(created.clone())
        .architecture(Arch::from(input.platform.architecture.as_str()))
        .os(Os::from(input.platform.os.as_str()))
        .config(cfg.build().map_err(spec_err("config"))?)
        .rootfs(rootfs)
        .history(history);
    if let Some(v) = &input.platform.variant {
        b = b.variant(v.clone());
    }
    Ok(canonical_json(
        &b.build().map_err(spec_err("image config"))?,
    ))
}

/// The manifest JSON for a config blob and layers.
pub fn manifest_json(
    config: &[u8],
    layers: &[&Layer],
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<u8>, OciError> {
    let config_desc = Descriptor::new(
        MediaType::ImageConfig,
        config.len() as u64,
        digest(&sha256_digest(config)),
    );
    let layer_descs = layers
        .iter()
        .map(|l| Descriptor::new(MediaType::from(l.media_type), l.size, digest(&l.digest)))
        .collect::<Vec<_>>();
    let mut m = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config_desc)
        .layers(layer_descs);
    if !annotations.is_empty() {
        m = m.annotations(hash_map(annotations));
    }
    let m = m.build().map_err(spec_err("manifest"))?;
    Ok(canonical_json(&m))
}

/// A descriptor of a manifest or index blob, with optional platform and annotations.
pub fn descriptor(
    media_type: MediaType,
    bytes: &[u8],
    platform: Option<&OciPlatform>,
    annotations: &BTreeMap<String, String>,
) -> Result<Descriptor, OciError> {
    let mut d = DescriptorBuilder::default()
        .media_type(media_type)
        .digest(digest(&sha256_digest(bytes)))
        .size(bytes.len() as u64);
    if let Some(p) = platform {
        let mut pb = PlatformBuilder::default()
            .architecture(Arch::from(p.architecture.as_str()))
            .os(Os::from(p.os.as_str()));
        if let Some(v) = &p.variant {
            pb = pb.variant(v.clone());
        }
        d = d.platform(pb.build().map_err(spec_err("platform"))?);
    }
    if !annotations.is_empty() {
        d = d.annotations(hash_map(annotations));
    }
    d.build().map_err(spec_err("descriptor"))
}

/// An image index JSON over `manifests`.
pub fn index_json(
    manifests: Vec<Descriptor>,
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<u8>, OciError> {
    let mut i = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests);
    if !annotations.is_empty() {
        i = i.annotations(hash_map(annotations));
    }
    Ok(canonical_json(&i.build().map_err(spec_err("index"))?))
}

/// oci-spec wants `HashMap`s; `canonical_json` sorts them again on the way out.
fn hash_map(map: &BTreeMap<String, String>) -> std::collections::HashMap<String, String> {
    map.clone().into_iter().collect()
}

/// A blob an image refers to: a config or a layer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BlobRef {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
}

/// One platform's image: its manifest bytes and the blobs it refers to.
#[derive(Debug, Clone)]
pub struct ManifestEntry {
    pub platform: OciPlatform,
    pub bytes: Vec<u8>,
    pub config: BlobRef,
    pub layers: Vec<BlobRef>,
}

impl ManifestEntry {
    pub fn digest(&self) -> String {
        sha256_digest(&self.bytes)
    }
}

/// An OCI image manifest tagged beside the image in a layout or archive, with the blobs it
/// needs that are not there already (signatures and attestations: `oci` knows only that it
/// is a small manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    pub tag: String,
    pub manifest: Vec<u8>,
    pub blobs: Vec<Vec<u8>>,
}

impl Tagged {
    /// Its `index.json` entry: an image manifest named `tag`.
    pub fn descriptor(&self) -> Result<Descriptor, OciError> {
        let annotations = BTreeMap::from([(ANNOTATION_REF_NAME.to_owned(), self.tag.clone())]);
        descriptor(MediaType::ImageManifest, &self.manifest, None, &annotations)
    }

    /// The manifest and every blob, by digest.
    pub fn documents(&self) -> impl Iterator<Item = (String, &[u8])> {
        std::iter::once(self.manifest.as_slice())
            .chain(self.blobs.iter().map(Vec::as_slice))
            .map(|b| (sha256_digest(b), b))
    }
}

/// A built image: one manifest, or an index over one manifest per platform. Every blob it
/// names (manifests and index included) is in the build's `Store`.
#[derive(Debug, Clone)]
pub struct Image {
    pub manifests: Vec<ManifestEntry>,
    /// The index over `manifests`, when there are several platforms.
    pub index: Option<Vec<u8>>,
    /// Seconds since the epoch the image says it was created (archive entries get it too).
    pub created: u64,
}

impl Image {
    /// The bytes of the top document: the index, else the only manifest.
    pub fn top(&self) -> &[u8] {
        match &self.index {
            Some(i) => i,
            None => &self.manifests[0].bytes,
        }
    }

    /// The digest users refer to the image by: the index's, else the manifest's.
    pub fn digest(&self) -> String {
        sha256_digest(self.top())
    }

    pub fn top_media_type(&self) -> MediaType {
        if self.index.is_some() {
            MediaType::ImageIndex
        } else {
            MediaType::ImageManifest
        }
    }

    /// The descriptor of the top document, with the platform of a single manifest and
    /// `ref_name` as its tag annotation.
    pub fn top_descriptor(&self, ref_name: Option<&str>) -> Result<Descriptor, OciError> {
        let annotations: BTreeMap<String, String> = ref_name
            .map(|t| (ANNOTATION_REF_NAME.to_owned(), t.to_owned()))
            .into_iter()
            .collect();
        let platform = match &self.index {
            Some(_) => None,
            None => Some(&self.manifests[0].platform),
        };
        descriptor(self.top_media_type(), self.top(), platform, &annotations)
    }

    /// Every config and layer blob, once each, sorted by digest.
    pub fn blobs(&self) -> Vec<BlobRef> {
        let set: std::collections::BTreeSet<BlobRef> = self
            .manifests
            .iter()
            .flat_map(|m| std::iter::once(m.config.clone()).chain(m.layers.iter().cloned()))
            .collect();
        set.into_iter().collect()
    }

    /// Digests of every blob of the image, documents included, sorted.
    pub fn all_digests(&self) -> Vec<String> {
        let mut all: Vec<String> = self.blobs().into_iter().map(|b| b.digest).collect();
        all.extend(self.manifests.iter().map(ManifestEntry::digest));
        if let Some(i) = &self.index {
            all.push(sha256_digest(i));
        }
        all.sort();
        all.dedup();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn config_json_is_canonical() {
        let layer = Layer {
            digest: sha256_digest(b"x"),
            diff_id: sha256_digest(b"y"),
            size: 1,
            uncompressed_size: 1,
            media_type: crate::layer::Compression::Gzip.media_type(),
        };
        let labels: BTreeMap<String, String> = (0..8)
            .map(|i| (format!("label{i}"), i.to_string()))
            .collect();
        let env = BTreeMap::from([
            ("B".to_owned(), "2".to_owned()),
            ("A".to_owned(), "1".to_owned()),
        ]);
        let input = || ImageInput {
            platform: OciPlatform {
                os: "linux".into(),
                architecture: "arm64".into(),
                variant: Some("v8".into()),
            },
            created: 0,
            user: Some("65532"),
            workdir: None,
            entrypoint: None,
            cmd: None,
            env: &env,
            labels: &labels,
            layers: vec![(&layer, "static".into())],
        };
        let first = config_json(&input()).unwrap();
        for _ in 0..5 {
            assert_eq!(config_json(&input()).unwrap(), first);
        }
        let text = String::from_utf8(first).unwrap();
        assert!(text.contains(r#""Env":["A=1","B=2"]"#), "{text}");
        assert!(text.contains(r#""variant":"v8""#), "{text}");
        assert!(
            text.contains(r#""created":"1970-01-01T00:00:00Z""#),
            "{text}"
        );
    }
}
