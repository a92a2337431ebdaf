//! Where cosign keeps signatures and attestations: an OCI image manifest tagged
//! `sha256-<hex>.sig` (or `.att`) beside the image, one layer per signature, the signature
//! in a layer annotation. Building one (adding to the layers already there) and reading one
//! back.

use std::collections::BTreeMap;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use oci_spec::image::{Descriptor, Digest, ImageManifest, ImageManifestBuilder, MediaType};
use serde_json::json;

use super::{SignError, SigningKey, Statement, VerifyingKey, dsse, payload};
use crate::oci::{canonical_json, sha256_digest};

/// The layer media type of a simple-signing signature.
pub const SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer media type of an attestation.
pub const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
/// The layer annotation holding the base64 signature (empty for an attestation, as cosign).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The layer annotation naming an attestation's predicate type.
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";

/// The most layers an attachment manifest may have (read or written).
pub const MAX_LAYERS: usize = 1000;
/// The largest attachment manifest read.
pub const MAX_MANIFEST: usize = 4 * 1024 * 1024;

/// The tag of the signatures of `digest`: `sha256:ab..` -> `sha256-ab...sig`.
pub fn sig_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// The tag of the attestations of `digest`: `sha256:ab..` -> `sha256-ab...att`.
pub fn att_tag(digest: &str) -> String {
    format!("{}.att", digest.replacen(':', "-", 1))
}

/// One layer to attach: its blob and its annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub media_type: String,
    pub blob: Vec<u8>,
    pub annotations: BTreeMap<String, String>,
}

impl Attachment {
    /// A cosign signature of `manifest_digest` under `docker_reference` (`HOST[:PORT]/REPO`).
    pub fn signature(key: &SigningKey, docker_reference: &str, manifest_digest: &str) -> Self {
        let blob = payload::simple_signing(docker_reference, manifest_digest);
        let sig = STANDARD.encode(key.sign(&blob));
        Attachment {
            media_type: SIMPLESIGNING.to_string(),
            blob,
            annotations: BTreeMap::from([(SIGNATURE_ANNOTATION.to_string(), sig)]),
        }
    }

    /// A cosign attestation: the statement in a signed DSSE envelope.
    pub fn attestation(key: &SigningKey, statement: &Statement) -> Self {
        Attachment {
            media_type: DSSE.to_string(),
            blob: dsse::envelope(key, dsse::IN_TOTO, &statement.statement),
            annotations: BTreeMap::from([
                (SIGNATURE_ANNOTATION.to_string(), String::new()),
                (
                    PREDICATE_TYPE_ANNOTATION.to_string(),
                    statement.predicate_type.clone(),
                ),
            ]),
        }
    }

    fn digest(&self) -> String {
        sha256_digest(&self.blob)
    }
}

/// A blob of an attachment manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub digest: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// An attachment manifest and the blobs it needs that were not there before (its config and
/// its new layers; the layers it kept are wherever the existing manifest's were).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub manifest: Vec<u8>,
    pub digest: String,
    pub blobs: Vec<Blob>,
    /// How many of `new` were added (the others were already there).
    pub added: usize,
}

/// The attachment manifest holding `existing`'s layers plus those of `new` not already there
/// (same digest and annotations: the same layer, so signing again adds nothing).
pub fn manifest(existing: Option<&ImageManifest>, new: &[Attachment]) -> Result<Built, SignError> {
    let mut layers: Vec<Descriptor> = match existing {
        Some(m) => {
            check_manifest(m)?;
            m.layers().clone()
        }
        None => Vec::new(),
    };
    let mut blobs = Vec::new();
    let mut added = 0;
    for a in new {
        let digest = a.digest();
        let present = layers
            .iter()
            .any(|l| l.digest().to_string() == digest && annotations_of(l) == a.annotations);
        if present {
            continue;
        }
        let mut d = Descriptor::new(
            MediaType::from(a.media_type.as_str()),
            a.blob.len() as u64,
            parse_digest(&digest)?,
        );
        d.set_annotations(Some(a.annotations.clone().into_iter().collect()));
        let blob_there = layers.iter().any(|l| l.digest().to_string() == digest);
        layers.push(d);
        if !blob_there {
            blobs.push(Blob {
                digest,
                media_type: a.media_type.clone(),
                bytes: a.blob.clone(),
            });
        }
        added += 1;
    }
    if layers.len() > MAX_LAYERS {
        return Err(SignError::BadAttachment(format!(
            "more than {MAX_LAYERS} layers"
        )));
    }
    let config = config_blob(&layers);
    let config_digest = sha256_digest(&config);
    let m = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(
            MediaType::ImageConfig,
            config.len() as u64,
            parse_digest(&config_digest)?,
        ))
        .layers(layers)
        .build()
        .map_err(|e| SignError::BadAttachment(e.to_string()))?;
    blobs.insert(
        0,
        Blob {
            digest: config_digest,
            media_type: MediaType::ImageConfig.to_string(),
            bytes: config,
        },
    );
    let manifest = canonical_json(&m);
    Ok(Built {
        digest: sha256_digest(&manifest),
        manifest,
        blobs,
        added,
    })
}

/// The config cosign's signature images carry (go-containerregistry's empty image with the
/// layers appended): no platform, the zero time, one diff ID and history entry per layer
/// (the layers are not compressed: diff ID = digest).
fn config_blob(layers: &[Descriptor]) -> Vec<u8> {
    const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
    let diff_ids: Vec<String> = layers.iter().map(|l| l.digest().to_string()).collect();
    let history: Vec<_> = layers
        .iter()
        .map(|_| json!({"created": ZERO_TIME}))
        .collect();
    canonical_json(&json!({
        "architecture": "",
        "created": ZERO_TIME,
        "history": history,
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    }))
}

/// One layer of an attachment manifest, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub annotations: BTreeMap<String, String>,
}

/// An attachment manifest's bytes (from a registry or layout: hostile), typed and checked:
/// bounded, an OCI image manifest (containers/image refuses any other), at most
/// `MAX_LAYERS` layers, every digest `sha256:` and 64 hex digits.
pub fn parse_manifest(bytes: &[u8]) -> Result<ImageManifest, SignError> {
    if bytes.len() > MAX_MANIFEST {
        return Err(SignError::BadAttachment("larger than 4 MiB".to_string()));
    }
    let m: ImageManifest = serde_json::from_slice(bytes)
        .map_err(|e| SignError::BadAttachment(format!("not an OCI image manifest ({e})")))?;
    check_manifest(&m)?;
    Ok(m)
}

/// The layers of an attachment manifest with their annotations (for `verify`).
pub fn layers(manifest: &ImageManifest) -> Result<Vec<Layer>, SignError> {
    check_manifest(manifest)?;
    Ok(manifest
        .layers()
        .iter()
        .map(|l| Layer {
            media_type: l.media_type().to_string(),
            digest: l.digest().to_string(),
            size: l.size(),
            annotations: annotations_of(l),
        })
        .collect())
}

/// The simple-signing payload of a signature layer, once `key` verified it: `blob` (fetched
/// by the caller, bounded) must be the layer's (digest checked), the annotation a base64
/// signature over it, the payload one containers/image accepts.
pub fn verify_signature(
    key: &VerifyingKey,
    layer: &Layer,
    blob: &[u8],
) -> Result<payload::SimpleSigning, SignError> {
    check_blob(layer, SIMPLESIGNING, blob)?;
    let sig = layer
        .annotations
        .get(SIGNATURE_ANNOTATION)
        .and_then(|s| STANDARD.decode(s).ok())
        .ok_or_else(|| {
            SignError::BadAttachment("a signature layer without a base64 signature".to_owned())
        })?;
    key.verify(blob, &sig)?;
    payload::parse(blob)
}

/// The statement of an attestation layer, once `key` verified its DSSE envelope: `blob`
/// must be the layer's (digest checked), its payload type in-toto, and the layer's
/// `predicateType` annotation is returned with it.
pub fn open_attestation(
    key: &VerifyingKey,
    layer: &Layer,
    blob: &[u8],
) -> Result<Statement, SignError> {
    check_blob(layer, DSSE, blob)?;
    let opened = dsse::open(key, blob)?;
    if opened.payload_type != dsse::IN_TOTO {
        return Err(SignError::BadEnvelope(format!(
            "payload type `{}` is not in-toto",
            opened.payload_type
        )));
    }
    Ok(Statement {
        predicate_type: layer
            .annotations
            .get(PREDICATE_TYPE_ANNOTATION)
            .cloned()
            .unwrap_or_default(),
        statement: opened.payload,
    })
}

fn check_blob(layer: &Layer, media_type: &str, blob: &[u8]) -> Result<(), SignError> {
    if layer.media_type != media_type {
        return Err(SignError::BadAttachment(format!(
            "layer {} is `{}`, not `{media_type}`",
            layer.digest, layer.media_type
        )));
    }
    if sha256_digest(blob) != layer.digest || blob.len() as u64 != layer.size {
        return Err(SignError::BadAttachment(format!(
            "the blob read for layer {} is not that layer",
            layer.digest
        )));
    }
    Ok(())
}

fn check_manifest(m: &ImageManifest) -> Result<(), SignError> {
    let bad = |s: String| Err(SignError::BadAttachment(s));
    if m.media_type() != &Some(MediaType::ImageManifest) {
        return bad("not an OCI image manifest (media type)".to_string());
    }
    if m.layers().len() > MAX_LAYERS {
        return bad(format!("more than {MAX_LAYERS} layers"));
    }
    for d in m.layers().iter().chain([m.config()]) {
        let digest = d.digest().to_string();
        if !valid_sha256_digest(&digest) {
            return bad(format!("digest `{digest}` is not sha256 and 64 hex digits"));
        }
    }
    Ok(())
}

fn valid_sha256_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn annotations_of(d: &Descriptor) -> BTreeMap<String, String> {
    d.annotations()
        .as_ref()
        .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn parse_digest(d: &str) -> Result<Digest, SignError> {
    Digest::from_str(d).map_err(|e| SignError::BadAttachment(e.to_string()))
}
