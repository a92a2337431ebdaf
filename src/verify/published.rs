//! `compose verify SPEC --image docker://HOST/REPO:TAG --key PUB.pem`: the image pulled into
//! a layout (every digest checked), its cosign signature and its attestations checked
//! against the key, and the provenance's spec chain and lock against the local files. The
//! rebuild and its comparison are the caller's (`compose verify` as for a layout).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageManifest};
use serde_json::Value;

use crate::build::provenance::{
    BUILD_TYPE, Parameters, SLSA_PROVENANCE_V1, SPDX_DOCUMENT, STATEMENT_V1,
};
use crate::lock;
use crate::reference::Reference;
use crate::registry::pull::{ACCEPT_MANIFEST, PullError, Puller};
use crate::registry::{PushOptions, RegistryError, Session};
use crate::sign::{SignError, VerifyingKey, cosign, dsse, payload};
use crate::spec::{Spec, SpecError};

/// Why a published image does not pass.
#[derive(Debug, thiserror::Error)]
pub enum PublishedError {
    #[error("`{reference}` has no signature of {digest} (no tag `{tag}`)")]
    Unsigned {
        reference: String,
        digest: String,
        tag: String,
    },
    #[error("no signature of {digest} in `{reference}` verifies with `{}`: {detail}", key.display())]
    Signature {
        reference: String,
        digest: String,
        key: PathBuf,
        detail: String,
    },
    #[error("`{reference}` has no attestations of {digest} (no tag `{tag}`)")]
    NoAttestations {
        reference: String,
        digest: String,
        tag: String,
    },
    #[error("no {what} attestation of {digest} verifies with `{}`{detail}", key.display())]
    MissingStatement {
        what: &'static str,
        digest: String,
        key: PathBuf,
        detail: String,
    },
    #[error("the provenance of {digest} is not compose's: {reason}")]
    Provenance { digest: String, reason: String },
    #[error("`{}` is not the file the image was built from: {local} here, {attested} in its provenance", file.display())]
    InputDiffers {
        file: PathBuf,
        local: String,
        attested: String,
    },
    #[error("`{}` is not among the image's inputs ({})", file.display(), attested.join(", "))]
    InputNotAttested {
        file: PathBuf,
        attested: Vec<String>,
    },
    #[error("the image was built from `{name}` too, which the spec chain of `{}` does not have", spec.display())]
    InputMissing { name: String, spec: PathBuf },
    #[error("the signatures or attestations of `{reference}` are malformed")]
    Attachment {
        reference: String,
        #[source]
        source: SignError,
    },
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Pull(#[from] PullError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl crate::error::Hint for PublishedError {
    fn hint(&self) -> Option<String> {
        use PublishedError::*;
        Some(match self {
            Unsigned { .. } | Signature { .. } => "check that `--key` is the public key of the `--sign` key the image was built with, and that the tag names the image you expect (someone may have pushed another)".into(),
            NoAttestations { .. } | MissingStatement { .. } => {
                "build and push it with `compose build --sign KEY --attest`".into()
            }
            InputDiffers { .. } | InputNotAttested { .. } | InputMissing { .. } => "check out the spec and lock the image was built from (the provenance lists them), or rebuild and push from these".into(),
            Provenance { .. } => "it was not made by `compose build --attest`".into(),
            Registry(e) | Pull(PullError::Registry(e)) => return e.hint(),
            _ => return None,
        })
    }
}

type Result<T, E = PublishedError> = std::result::Result<T, E>;

/// What `verify --image` checks against.
pub struct Published<'a> {
    pub image: &'a Reference,
    pub key: &'a VerifyingKey,
    /// The key file, for messages.
    pub key_path: &'a Path,
    pub spec: &'a Path,
    pub push: &'a PushOptions,
}

/// A published image that passed every check before the rebuild.
pub struct Checked {
    /// `sha256:` of its top document.
    pub digest: String,
    /// What the provenance says the image was built with.
    pub parameters: Parameters,
    /// One line per check passed (`signature: ...`).
    pub lines: Vec<String>,
}

/// Pull `p.image` into the layout `dir` (tagged with its tag) and check its signature, its
/// attestations and the provenance's inputs.
pub fn check(p: &Published, dir: &Path) -> Result<Checked> {
    let session = Session::open(p.image, p.push)?;
    let repository = format!("{}/{}", p.image.host, p.image.repository);
    let puller = Puller {
        session: &session,
        reference: repository.clone(),
    };
    let digest = puller.pull(&p.image.tag, dir)?;
    let mut lines = vec![format!("pulled: {} is {digest}", p.image)];
    lines.push(signature(p, &puller, &digest)?);
    let provenance = attestations(p, &puller, &digest)?;
    lines.push(format!(
        "attestations: ok (SLSA provenance and SPDX SBOM about {digest}, signed by `{}`)",
        p.key_path.display()
    ));
    let (parameters, line) = inputs(p.spec, &provenance, &digest)?;
    lines.push(line);
    Ok(Checked {
        digest,
        parameters,
        lines,
    })
}

/// At least one simple-signing layer of `sha256-<hex>.sig` verifies with the key and names
/// this repository and digest.
fn signature(p: &Published, puller: &Puller, digest: &str) -> Result<String> {
    let tag = cosign::sig_tag(digest);
    let reference = puller.reference.clone();
    let manifest = attachment(puller, &tag)?.ok_or_else(|| PublishedError::Unsigned {
        reference: reference.clone(),
        digest: digest.to_owned(),
        tag: tag.clone(),
    })?;
    let mut problems = Vec::new();
    for (desc, layer) in layers(puller, &manifest, cosign::SIMPLESIGNING)? {
        let blob = puller.small_blob(desc, payload::MAX_PAYLOAD as u64)?;
        match cosign::verify_signature(p.key, &layer, &blob) {
            Ok(s) if s.docker_reference != reference => problems.push(format!(
                "a signature names the repository `{}`",
                s.docker_reference
            )),
            Ok(s) if s.manifest_digest != digest => {
                problems.push(format!("a signature names {}", s.manifest_digest))
            }
            Ok(_) => {
                return Ok(format!(
                    "signature: ok ({reference}@{digest}, signed by `{}`)",
                    p.key_path.display()
                ));
            }
            Err(e) => problems.push(why_not(e)),
        }
    }
    Err(PublishedError::Signature {
        reference,
        digest: digest.to_owned(),
        key: p.key_path.to_path_buf(),
        detail: problems
            .first()
            .cloned()
            .unwrap_or_else(|| "it has no simple-signing layer".into()),
    })
}

/// Why a signature or envelope does not count, for the message.
fn why_not(e: SignError) -> String {
    match e {
        SignError::BadSignature => "the signatures are by another key".to_owned(),
        e => e.to_string(),
    }
}

/// The attachment manifest tagged `tag`, checked (`None`: there is none).
fn attachment(puller: &Puller, tag: &str) -> Result<Option<ImageManifest>> {
    let Some(doc) = puller.document(tag, ACCEPT_MANIFEST)? else {
        return Ok(None);
    };
    cosign::parse_manifest(&doc.bytes)
        .map(Some)
        .map_err(|source| PublishedError::Attachment {
            reference: puller.reference.clone(),
            source,
        })
}

/// The layers of an attachment manifest of `media_type`, each with its descriptor (to
/// fetch it).
fn layers<'m>(
    puller: &Puller,
    manifest: &'m ImageManifest,
    media_type: &str,
) -> Result<Vec<(&'m Descriptor, cosign::Layer)>> {
    let read = cosign::layers(manifest).map_err(|source| PublishedError::Attachment {
        reference: puller.reference.clone(),
        source,
    })?;
    Ok(manifest
        .layers()
        .iter()
        .zip(read)
        .filter(|(_, l)| l.media_type == media_type)
        .collect())
}

/// Every DSSE envelope of `sha256-<hex>.att` opened with the key: a provenance and an SBOM
/// statement about `digest` must be among them; the provenance.
fn attestations(p: &Published, puller: &Puller, digest: &str) -> Result<Value> {
    let tag = cosign::att_tag(digest);
    let manifest = attachment(puller, &tag)?.ok_or_else(|| PublishedError::NoAttestations {
        reference: puller.reference.clone(),
        digest: digest.to_owned(),
        tag,
    })?;
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let (mut provenance, mut sbom, mut problems) = (None, false, Vec::new());
    for (desc, layer) in layers(puller, &manifest, cosign::DSSE)? {
        let blob = puller.small_blob(desc, dsse::MAX_ENVELOPE as u64)?;
        let opened = cosign::open_attestation(p.key, &layer, &blob).map_err(why_not);
        match opened.and_then(|s| statement(&s.statement, hex)) {
            Ok((kind, s)) if kind == SLSA_PROVENANCE_V1 => provenance = Some(s),
            Ok((kind, _)) if kind == SPDX_DOCUMENT => sbom = true,
            Ok(_) => {}
            Err(e) => problems.push(e),
        }
    }
    let missing = |what| PublishedError::MissingStatement {
        what,
        digest: digest.to_owned(),
        key: p.key_path.to_path_buf(),
        detail: problems
            .first()
            .map(|e| format!(": {e}"))
            .unwrap_or_default(),
    };
    let provenance = provenance.ok_or_else(|| missing("SLSA provenance"))?;
    if !sbom {
        return Err(missing("SPDX SBOM"));
    }
    Ok(provenance)
}

/// An opened statement's predicate type and JSON, when it is an in-toto Statement v1 about
/// the image `hex`; else why not.
fn statement(payload: &[u8], hex: &str) -> Result<(String, Value), String> {
    let s: Value = serde_json::from_slice(payload).map_err(|_| "a statement is not JSON")?;
    if s["_type"] != STATEMENT_V1 {
        return Err("a statement is not an in-toto Statement v1".into());
    }
    let about = s["subject"]
        .as_array()
        .is_some_and(|subjects| subjects.iter().any(|x| x["digest"]["sha256"] == hex));
    if !about {
        return Err("a statement is about another image".into());
    }
    let kind = s["predicateType"].as_str().unwrap_or_default().to_owned();
    Ok((kind, s))
}

/// The provenance's spec chain and lock against the local files (the first that differs
/// named); the parameters to rebuild with, and the check's line.
fn inputs(spec: &Path, provenance: &Value, digest: &str) -> Result<(Parameters, String)> {
    let bad = |reason: String| PublishedError::Provenance {
        digest: digest.to_owned(),
        reason,
    };
    let definition = &provenance["predicate"]["buildDefinition"];
    if definition["buildType"] != BUILD_TYPE {
        return Err(bad(format!("its build type is not `{BUILD_TYPE}`")));
    }
    let external = &definition["externalParameters"];
    let mut attested: BTreeMap<String, String> = BTreeMap::new();
    for s in external["specs"].as_array().into_iter().flatten() {
        let (Some(path), Some(hash)) = (s["path"].as_str(), s["digest"]["sha256"].as_str()) else {
            return Err(bad("a spec without a path or sha256".into()));
        };
        attested.insert(path.to_owned(), format!("sha256:{hash}"));
    }
    let chain = Spec::load(spec)?;
    let dir = spec.parent().unwrap_or(Path::new("."));
    let local = lock::inputs(&chain);
    compare_inputs(&local, &attested, dir, spec)?;
    let lock_path = lock::path_for(spec);
    let bytes = fs_err::read(&lock_path).map_err(|source| PublishedError::Read {
        path: lock_path.clone(),
        source,
    })?;
    let lock_hash = crate::oci::sha256_digest(&bytes);
    let attested_lock = external["lock"]["digest"]["sha256"]
        .as_str()
        .map(|h| format!("sha256:{h}"))
        .ok_or_else(|| bad("no lock".into()))?;
    if attested_lock != lock_hash {
        return Err(PublishedError::InputDiffers {
            file: lock_path,
            local: lock_hash,
            attested: attested_lock,
        });
    }
    let parameters = Parameters::from_json(external).map_err(bad)?;
    let line = format!(
        "provenance inputs: ok ({} and `{}` have the attested sha256)",
        local
            .keys()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", "),
        lock_path.display()
    );
    Ok((parameters, line))
}

/// Every local spec file attested with its hash, and every attested one present.
fn compare_inputs(
    local: &BTreeMap<String, String>,
    attested: &BTreeMap<String, String>,
    dir: &Path,
    spec: &Path,
) -> Result<()> {
    for (name, hash) in local {
        match attested.get(name) {
            Some(h) if h == hash => {}
            Some(h) => {
                return Err(PublishedError::InputDiffers {
                    file: dir.join(name),
                    local: hash.clone(),
                    attested: h.clone(),
                });
            }
            None => {
                return Err(PublishedError::InputNotAttested {
                    file: dir.join(name),
                    attested: attested.keys().cloned().collect(),
                });
            }
        }
    }
    if let Some(name) = attested.keys().find(|n| !local.contains_key(*n)) {
        return Err(PublishedError::InputMissing {
            name: name.clone(),
            spec: spec.to_path_buf(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The first spec file that differs, is not attested, or is attested but absent here, named.
    #[test]
    fn spec_inputs_are_compared_by_name_and_hash() {
        let (dir, spec) = (Path::new("specs"), Path::new("specs/app.toml"));
        let local = map(&[("base.toml", "sha256:a"), ("app.toml", "sha256:b")]);
        assert!(compare_inputs(&local, &local, dir, spec).is_ok());
        let changed = map(&[("base.toml", "sha256:a"), ("app.toml", "sha256:c")]);
        let e = compare_inputs(&local, &changed, dir, spec).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`specs/app.toml` is not the file the image was built from: sha256:b here, sha256:c in its provenance"
        );
        let fewer = map(&[("app.toml", "sha256:b")]);
        let e = compare_inputs(&local, &fewer, dir, spec).unwrap_err();
        assert!(matches!(e, PublishedError::InputNotAttested { .. }), "{e}");
        let more = map(&[("app.toml", "sha256:b")]);
        let e = compare_inputs(&more, &local, dir, spec).unwrap_err();
        assert!(e.to_string().contains("built from `base.toml` too"), "{e}");
    }
}
