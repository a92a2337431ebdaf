//! OCI output: image config, manifest and index (built with oci-spec, serialized as
//! canonical JSON) and the image layout on disk, which appears atomically.
//!
//! Nothing here knows about Debian.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, DescriptorBuilder, Digest, HistoryBuilder,
    ImageConfigurationBuilder, ImageIndexBuilder, ImageManifestBuilder, MediaType, Os,
    PlatformBuilder, RootFsBuilder,
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
    #[error("cannot write the image layout at `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "`{}` exists and is not an OCI image layout\n\nhint: choose another `--output` directory; compose only replaces its own layouts",
        path.display()
    )]
    NotALayout { path: PathBuf },
}

/// The directory `path` lives in (`.` for a bare file name): where a temporary file that
/// will be renamed onto `path` must be created.
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

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
#[derive(Debug, Clone)]
pub struct PlatformRef<'a> {
    pub os: &'a str,
    pub architecture: &'a str,
    pub variant: Option<&'a str>,
}

/// Everything an image config needs.
#[derive(Debug)]
pub struct ImageInput<'a> {
    pub platform: PlatformRef<'a>,
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
        .architecture(Arch::from(input.platform.architecture))
        .os(Os::from(input.platform.os))
        .config(cfg.build().map_err(spec_err("config"))?)
        .rootfs(rootfs)
        .history(history);
    if let Some(v) = input.platform.variant {
        b = b.variant(v.to_owned());
    }
    Ok(canonical_json(
        &b.build().map_err(spec_err("image config"))?,
    ))
}

/// The manifest JSON for a config blob and layers.
pub fn manifest_json(config: &[u8], layers: &[&Layer]) -> Result<Vec<u8>, OciError> {
    let config_desc = Descriptor::new(
        MediaType::ImageConfig,
        config.len() as u64,
        digest(&sha256_digest(config)),
    );
    let layer_descs = layers
        .iter()
        .map(|l| Descriptor::new(MediaType::from(l.media_type), l.size, digest(&l.digest)))
        .collect::<Vec<_>>();
    let m = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config_desc)
        .layers(layer_descs)
        .build()
        .map_err(spec_err("manifest"))?;
    Ok(canonical_json(&m))
}

/// A descriptor of a manifest or index blob, with optional platform and annotations.
pub fn descriptor(
    media_type: MediaType,
    bytes: &[u8],
    platform: Option<&PlatformRef>,
    annotations: &BTreeMap<String, String>,
) -> Result<Descriptor, OciError> {
    let mut d = DescriptorBuilder::default()
        .media_type(media_type)
        .digest(digest(&sha256_digest(bytes)))
        .size(bytes.len() as u64);
    if let Some(p) = platform {
        let mut pb = PlatformBuilder::default()
            .architecture(Arch::from(p.architecture))
            .os(Os::from(p.os));
        if let Some(v) = p.variant {
            pb = pb.variant(v.to_owned());
        }
        d = d.platform(pb.build().map_err(spec_err("platform"))?);
    }
    if !annotations.is_empty() {
        d = d.annotations(
            annotations
                .clone()
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
    }
    d.build().map_err(spec_err("descriptor"))
}

/// An image index JSON over `manifests`.
pub fn index_json(manifests: Vec<Descriptor>) -> Result<Vec<u8>, OciError> {
    let i = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .map_err(spec_err("index"))?;
    Ok(canonical_json(&i))
}

/// An OCI image layout being written in a staging directory next to its destination.
#[derive(Debug)]
pub struct Layout {
    staging: tempfile::TempDir,
    dest: PathBuf,
}

impl Layout {
    /// Start a layout for `dest`. Refuses a `dest` that exists and is not a layout.
    pub fn create(dest: &Path) -> Result<Layout, OciError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OciError::Io { path, source }
        };
        if dest.exists() {
            let empty = fs_err::read_dir(dest)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            if !empty && !dest.join("oci-layout").is_file() {
                return Err(OciError::NotALayout {
                    path: dest.to_path_buf(),
                });
            }
        }
        let parent = parent_dir(dest);
        fs_err::create_dir_all(&parent).map_err(io(&parent))?;
        let staging = tempfile::Builder::new()
            .prefix(".compose-staging-")
            .tempdir_in(&parent)
            .map_err(io(&parent))?;
        let blobs = staging.path().join("blobs/sha256");
        fs_err::create_dir_all(&blobs).map_err(io(&blobs))?;
        Ok(Layout {
            staging,
            dest: dest.to_path_buf(),
        })
    }

    /// A scratch path inside the staging area (for a layer being written).
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.staging.path().join(name)
    }

    /// Move a finished scratch file into `blobs/sha256/`.
    pub fn adopt(&self, scratch: &Path, digest: &str) -> Result<(), OciError> {
        let target = self.blob_path(digest);
        fs_err::rename(scratch, &target).map_err(|source| OciError::Io {
            path: target,
            source,
        })
    }

    pub fn put_blob(&self, bytes: &[u8]) -> Result<String, OciError> {
        let d = sha256_digest(bytes);
        let path = self.blob_path(&d);
        fs_err::write(&path, bytes).map_err(|source| OciError::Io { path, source })?;
        Ok(d)
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.staging.path().join("blobs/sha256").join(hex)
    }

    /// Images of other tags in the layout at the destination: their descriptors are kept in
    /// the new `index.json` and their blobs copied over, so `oci:DIR:debug` and
    /// `oci:DIR:latest` live side by side. A descriptor with the tag being written is dropped.
    fn carry_over(&self, tag: &str) -> Result<Vec<serde_json::Value>, OciError> {
        let old = &self.dest;
        let Ok(bytes) = fs_err::read(old.join("index.json")) else {
            return Ok(Vec::new());
        };
        let Ok(index) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            return Ok(Vec::new());
        };
        let mut kept = Vec::new();
        for d in index["manifests"].as_array().into_iter().flatten() {
            let name = d["annotations"]["org.opencontainers.image.ref.name"].as_str();
            if name == Some(tag) {
                continue;
            }
            let mut stack = vec![d.clone()];
            let mut complete = true;
            while let Some(desc) = stack.pop() {
                let Some(digest) = desc["digest"].as_str() else {
                    continue;
                };
                let hex = digest.trim_start_matches("sha256:");
                let from = old.join("blobs/sha256").join(hex);
                let to = self.blob_path(digest);
                if !to.exists() && fs_err::copy(&from, &to).is_err() {
                    complete = false;
                    break;
                }
                let media = desc["mediaType"].as_str().unwrap_or_default();
                if media.ends_with("manifest.v1+json") || media.ends_with("image.index.v1+json") {
                    let Ok(doc) = fs_err::read(&to).map_err(|_| ()).and_then(|b| {
                        serde_json::from_slice::<serde_json::Value>(&b).map_err(|_| ())
                    }) else {
                        complete = false;
                        break;
                    };
                    stack.push(doc["config"].clone());
                    stack.extend(doc["layers"].as_array().cloned().unwrap_or_default());
                    stack.extend(doc["manifests"].as_array().cloned().unwrap_or_default());
                }
            }
            if complete {
                kept.push(d.clone());
            }
        }
        Ok(kept)
    }

    /// Write `oci-layout` and `index.json`, then move the layout into place, replacing an
    /// earlier layout at the destination only now that the new one is complete. Other tags
    /// of an earlier layout are kept.
    pub fn commit(self, top: Descriptor, tag: &str) -> Result<(), OciError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OciError::Io { path, source }
        };
        let s = self.staging.path();
        let layout = s.join("oci-layout");
        fs_err::write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io(&layout))?;
        let index = s.join("index.json");
        let mut manifests = self.carry_over(tag)?;
        manifests.push(serde_json::to_value(&top).expect("descriptors serialize"));
        let doc = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        fs_err::write(&index, canonical_json(&doc)).map_err(io(&index))?;
        let staging = self.staging.keep();
        if self.dest.exists() {
            let old = staging.with_extension("old");
            fs_err::rename(&self.dest, &old).map_err(io(&self.dest))?;
            fs_err::rename(&staging, &self.dest).map_err(io(&self.dest))?;
            fs_err::remove_dir_all(&old).map_err(io(&old))?;
        } else {
            fs_err::rename(&staging, &self.dest).map_err(io(&self.dest))?;
        }
        Ok(())
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
            platform: PlatformRef {
                os: "linux",
                architecture: "arm64",
                variant: Some("v8"),
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

    #[test]
    fn a_directory_that_is_not_a_layout_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("precious"), b"x").unwrap();
        let e = Layout::create(dir.path()).unwrap_err();
        assert!(matches!(e, OciError::NotALayout { .. }));
        assert!(dir.path().join("precious").exists());
    }
}
