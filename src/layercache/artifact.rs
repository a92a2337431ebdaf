//! A cache entry in OCI form, shared by the layout and registry tiers: an image manifest
//! whose `artifactType` is `ARTIFACT_TYPE`, whose config is the entry's JSON and whose one
//! layer is the cached layer (an ordinary layer blob, so a registry can mount it into an
//! image push). Reading is hostile: every document is bounded, the config is checked
//! against its digest, and the entry must describe the manifest's layer exactly.

use serde::{Deserialize, Serialize};

use super::{ARTIFACT_TYPE, ENTRY_LIMIT, ENTRY_MEDIA_TYPE, Entry};
use crate::oci::reader::valid_digest;
use crate::oci::{canonical_json, sha256_digest};

/// The media type of the entry's manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// What is wrong with an entry read back in OCI form (shown after the entry it is about).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactError {
    #[error("its manifest is not an OCI manifest of a layer cache entry: {0}")]
    Manifest(String),
    #[error("its {what} is larger than its manifest says or than {ENTRY_LIMIT} bytes")]
    TooLarge { what: &'static str },
    #[error("its config is not the blob its manifest names ({got})")]
    ConfigDigest { got: String },
    #[error("its config is not an entry: {0}")]
    Config(String),
    #[error("its entry describes {entry}, but its manifest's layer is {layer}")]
    Mismatch { entry: String, layer: String },
}

/// A descriptor, as much of one as the cache writes and reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// An entry's manifest (unknown fields of a manifest written elsewhere are ignored).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    media_type: String,
    artifact_type: String,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

/// An entry written out: the config (the entry's JSON) and the manifest, with their digests.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub config: Vec<u8>,
    pub config_digest: String,
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
}

/// `entry` as an OCI artifact.
pub fn to_artifact(entry: &Entry) -> Artifact {
    let config = entry.to_json();
    let config_digest = sha256_digest(&config);
    let manifest = canonical_json(&Manifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE.to_owned(),
        artifact_type: ARTIFACT_TYPE.to_owned(),
        config: Descriptor {
            media_type: ENTRY_MEDIA_TYPE.to_owned(),
            digest: config_digest.clone(),
            size: config.len() as u64,
        },
        layers: vec![layer_of(entry)],
    });
    let manifest_digest = sha256_digest(&manifest);
    Artifact {
        config,
        config_digest,
        manifest,
        manifest_digest,
    }
}

/// The descriptor of the cached layer of `entry`.
pub fn layer_of(entry: &Entry) -> Descriptor {
    Descriptor {
        media_type: entry.media_type.clone(),
        digest: entry.digest.clone(),
        size: entry.size,
    }
}

/// A manifest read back: the descriptors of its config and its one layer, both checked to be
/// well formed (valid digests, a config of at most `ENTRY_LIMIT` bytes).
#[derive(Debug, Clone)]
pub struct Parsed {
    pub config: Descriptor,
    pub layer: Descriptor,
}

pub fn parse_manifest(bytes: &[u8]) -> Result<Parsed, ArtifactError> {
    if bytes.len() as u64 > ENTRY_LIMIT {
        return Err(ArtifactError::TooLarge { what: "manifest" });
    }
    let bad = |s: &str| ArtifactError::Manifest(s.to_owned());
    let m: Manifest = serde_json::from_slice(bytes).map_err(|e| bad(&e.to_string()))?;
    if m.schema_version != 2 || m.media_type != MANIFEST_MEDIA_TYPE {
        return Err(bad("not an OCI image manifest"));
    }
    if m.artifact_type != ARTIFACT_TYPE || m.config.media_type != ENTRY_MEDIA_TYPE {
        return Err(bad("another artifact type"));
    }
    let [layer]: [Descriptor; 1] = m
        .layers
        .try_into()
        .map_err(|_| bad("not exactly one layer"))?;
    if !valid_digest(&m.config.digest) || !valid_digest(&layer.digest) {
        return Err(bad("a digest that is not `sha256:` and 64 hex digits"));
    }
    if m.config.size > ENTRY_LIMIT {
        return Err(ArtifactError::TooLarge { what: "config" });
    }
    Ok(Parsed {
        config: m.config,
        layer,
    })
}

/// The entry in `config` (the blob `parsed.config` names, read at most `ENTRY_LIMIT + 1`
/// bytes): its digest checked, and the entry describing the manifest's layer exactly.
pub fn entry_from(parsed: &Parsed, config: &[u8]) -> Result<Entry, ArtifactError> {
    let got = sha256_digest(config);
    if got != parsed.config.digest || config.len() as u64 != parsed.config.size {
        return Err(ArtifactError::ConfigDigest { got });
    }
    let entry = Entry::from_json(config).map_err(|e| ArtifactError::Config(e.to_string()))?;
    let mine = layer_of(&entry);
    if mine != parsed.layer {
        let show = |d: &Descriptor| format!("{} ({} bytes, {})", d.digest, d.size, d.media_type);
        return Err(ArtifactError::Mismatch {
            entry: show(&mine),
            layer: show(&parsed.layer),
        });
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            digest: sha256_digest(b"layer"),
            diff_id: sha256_digest(b"tar"),
            size: 5,
            uncompressed_size: 3,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            meta: serde_json::json!({"epoch": 1}),
        }
    }

    #[test]
    fn an_entry_round_trips_through_its_artifact() {
        let e = entry();
        let a = to_artifact(&e);
        assert_eq!(a.manifest_digest, sha256_digest(&a.manifest));
        let doc: serde_json::Value = serde_json::from_slice(&a.manifest).unwrap();
        assert_eq!(doc["artifactType"], ARTIFACT_TYPE);
        assert_eq!(doc["layers"][0]["digest"], e.digest.as_str());
        let parsed = parse_manifest(&a.manifest).unwrap();
        assert_eq!(entry_from(&parsed, &a.config).unwrap(), e);
        assert_eq!(
            to_artifact(&e).manifest,
            a.manifest,
            "the same bytes every time"
        );
    }

    #[test]
    fn hostile_artifacts_are_refused() {
        let e = entry();
        let a = to_artifact(&e);
        let parsed = parse_manifest(&a.manifest).unwrap();
        // A config that is not the one named.
        let mut other = e.clone();
        other.diff_id = sha256_digest(b"other");
        let err = entry_from(&parsed, &other.to_json()).unwrap_err();
        assert!(matches!(err, ArtifactError::ConfigDigest { .. }), "{err}");
        // A config that names another layer than the manifest's.
        let mut doc: serde_json::Value = serde_json::from_slice(&a.manifest).unwrap();
        let other_config = other_layer(&e).to_json();
        doc["config"]["digest"] = sha256_digest(&other_config).into();
        doc["config"]["size"] = other_config.len().into();
        let parsed = parse_manifest(&serde_json::to_vec(&doc).unwrap()).unwrap();
        let err = entry_from(&parsed, &other_config).unwrap_err();
        assert!(matches!(err, ArtifactError::Mismatch { .. }), "{err}");

        let edits: [(&str, serde_json::Value); 5] = [
            ("/layers", serde_json::json!([])),
            ("/artifactType", "application/x".into()),
            ("/layers/0/digest", "sha256:../../etc/passwd".into()),
            ("/config/size", (ENTRY_LIMIT + 1).into()),
            (
                "/mediaType",
                "application/vnd.oci.image.index.v1+json".into(),
            ),
        ];
        for (pointer, value) in edits {
            let mut doc: serde_json::Value = serde_json::from_slice(&a.manifest).unwrap();
            *doc.pointer_mut(pointer).unwrap() = value;
            assert!(
                parse_manifest(&serde_json::to_vec(&doc).unwrap()).is_err(),
                "{pointer}"
            );
        }
        assert!(parse_manifest(b"{").is_err());
        assert!(parse_manifest(&vec![b' '; ENTRY_LIMIT as usize + 1]).is_err());
    }

    fn other_layer(e: &Entry) -> Entry {
        let mut o = e.clone();
        o.digest = sha256_digest(b"another layer");
        o
    }
}
