//! Signatures and attestations beside a published image, where cosign keeps them: for each
//! signed digest (the top document, and each platform manifest under an index) a
//! `sha256-<hex>.sig` manifest, and the top's `sha256-<hex>.att`; pushed to a registry
//! (added to what is there) or handed to `oci` as extra tagged manifests of a layout.

use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageManifest};

use crate::oci::reader::{LayoutReader, tag_of};
use crate::oci::{Image, OciError, Tagged};
use crate::reference::{self, Reference};
use crate::registry::{PushOptions, RegistryError, Session};
use crate::sign::cosign::{self, Attachment};
use crate::sign::{SignError, Signing};

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("cannot sign `{dest}`")]
    Registry {
        dest: String,
        #[source]
        source: RegistryError,
    },
    #[error("cannot add to the signatures tagged `{tag}` at `{dest}`")]
    Existing {
        dest: String,
        tag: String,
        #[source]
        source: SignError,
    },
    #[error("cannot read the signatures tagged `{tag}` in `{}`", dir.display())]
    Layout {
        dir: PathBuf,
        tag: String,
        #[source]
        source: OciError,
    },
}

/// The digests a signature covers: the top document, then each platform manifest when the
/// top is an index (containers/image checks the manifest it copies, `--all` or not).
pub fn signed_digests(image: &Image) -> Vec<String> {
    let mut digests = vec![image.digest()];
    if image.index.is_some() {
        digests.extend(image.manifests.iter().map(|m| m.digest()));
    }
    digests
}

/// The identity a registry destination's signatures name: `HOST[:PORT]/REPO`, no tag.
pub fn identity(target: &Reference) -> String {
    format!("{}/{}", target.host, target.repository)
}

/// The identities a layout's signatures name: the repository of every registry
/// destination of the same build, or, when there is none, the image's name without its tag.
pub fn layout_identities(targets: &[Reference], docker_name: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for id in targets.iter().map(identity) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        ids.push(reference::split_tag(docker_name).0.to_owned());
    }
    ids
}

/// What to attach, by tag: one signature per identity for each signed digest, and the
/// statements (if any) as attestations of the top digest.
fn attachments(
    signing: &Signing,
    image: &Image,
    identities: &[String],
) -> Vec<(String, Vec<Attachment>)> {
    let key = &signing.key;
    let mut out: Vec<(String, Vec<Attachment>)> = signed_digests(image)
        .iter()
        .map(|d| {
            let sigs = identities
                .iter()
                .map(|id| Attachment::signature(key, id, d))
                .collect();
            (cosign::sig_tag(d), sigs)
        })
        .collect();
    if !signing.statements.is_empty() {
        let atts = signing
            .statements
            .iter()
            .map(|s| Attachment::attestation(key, s))
            .collect();
        out.push((cosign::att_tag(&image.digest()), atts));
    }
    out
}

/// The attachment manifests for a local output: a layout (`existing`: its directory and
/// the descriptors of its other tags that stay, from `oci::existing::read_existing`), each
/// added to the manifest the layout already has under that tag, whose blobs stay with it;
/// or an archive (`None`: nothing to add to).
pub fn for_local(
    signing: &Signing,
    image: &Image,
    identities: &[String],
    existing: Option<(&Path, &[Descriptor])>,
) -> Result<Vec<Tagged>, AttachError> {
    attachments(signing, image, identities)
        .into_iter()
        .map(|(tag, new)| {
            let old = match existing {
                Some((dir, kept)) => kept_manifest(dir, kept, &tag)?,
                None => None,
            };
            let built =
                cosign::manifest(old.as_ref(), &new).map_err(|source| AttachError::Existing {
                    dest: existing.map_or("an archive".to_owned(), |(d, _)| {
                        format!("oci:{}", d.display())
                    }),
                    tag: tag.clone(),
                    source,
                })?;
            Ok(Tagged {
                tag,
                manifest: built.manifest,
                blobs: built.blobs.into_iter().map(|b| b.bytes).collect(),
            })
        })
        .collect()
}

/// The manifest a layout keeps under `tag`, read as untrusted.
fn kept_manifest(
    dir: &Path,
    kept: &[Descriptor],
    tag: &str,
) -> Result<Option<ImageManifest>, AttachError> {
    let Some(d) = kept.iter().find(|d| tag_of(d) == Some(tag)) else {
        return Ok(None);
    };
    LayoutReader::new(dir)
        .manifest(d)
        .map(Some)
        .map_err(|source| AttachError::Layout {
            dir: dir.to_path_buf(),
            tag: tag.to_owned(),
            source,
        })
}

/// Sign `image` at `target` (pushed already): each attachment manifest fetched (bounded,
/// checked), the new layers added, the new blobs and the manifest pushed. A tag that
/// already has every layer is left alone. The tags written.
pub fn push(
    signing: &Signing,
    image: &Image,
    target: &Reference,
    opts: &PushOptions,
) -> Result<Vec<String>, AttachError> {
    let dest = target.to_string();
    let reg = |source| AttachError::Registry {
        dest: dest.clone(),
        source,
    };
    let session = Session::open(target, opts).map_err(reg)?;
    let mut written = Vec::new();
    for (tag, new) in attachments(signing, image, &[identity(target)]) {
        let existing_or = |source| AttachError::Existing {
            dest: dest.clone(),
            tag: tag.clone(),
            source,
        };
        let existing = session
            .image_manifest(&tag, cosign::MAX_MANIFEST as u64)
            .map_err(reg)?
            .map(|bytes| cosign::parse_manifest(&bytes))
            .transpose()
            .map_err(existing_or)?;
        let built = cosign::manifest(existing.as_ref(), &new).map_err(existing_or)?;
        if built.added == 0 {
            continue;
        }
        for blob in &built.blobs {
            session
                .push_bytes(&blob.media_type, &blob.bytes)
                .map_err(reg)?;
        }
        session.push_manifest(&tag, &built.manifest).map_err(reg)?;
        written.push(tag);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::oci::{BlobRef, ManifestEntry, OciPlatform};
    use crate::sign::{SigningKey, Statement, dsse};

    const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg0a9rbLPmHLI372It
eu+ToD0eOP8K7rMEuDUCJaWMq9GhRANCAASlwWFojTKzEUhCxGgiFK41NS/0Kg70
MUvOM8e8DxxtHwKRn7lTly5JSKWqrxZO98/h7yKaHNj6DVyTifGOUeEx
-----END PRIVATE KEY-----
";

    fn entry(arch: &str) -> ManifestEntry {
        let blob = BlobRef {
            digest: crate::oci::sha256_digest(arch.as_bytes()),
            size: 1,
            media_type: "x".into(),
        };
        ManifestEntry {
            platform: OciPlatform {
                os: "linux".into(),
                architecture: arch.into(),
                variant: None,
            },
            bytes: format!("{{\"m\":\"{arch}\"}}").into_bytes(),
            config: blob,
            layers: Vec::new(),
        }
    }

    fn signing(statements: Vec<Statement>) -> Signing {
        let key = SigningKey::from_pem(Path::new("k"), KEY, None).unwrap();
        Signing {
            key: Arc::new(key),
            statements,
        }
    }

    #[test]
    fn an_index_and_each_manifest_are_signed_and_statements_attested_on_the_top() {
        let image = Image {
            manifests: vec![entry("amd64"), entry("arm64")],
            index: Some(b"{\"i\":1}".to_vec()),
            created: 0,
        };
        let digests = signed_digests(&image);
        assert_eq!(digests.len(), 3);
        assert_eq!(digests[0], image.digest());
        let st = Statement {
            predicate_type: "https://spdx.dev/Document".into(),
            statement: b"{\"s\":1}".to_vec(),
        };
        let s = signing(vec![st]);
        let ids = ["127.0.0.1:5000/a".to_owned(), "127.0.0.1:5000/b".to_owned()];
        let tagged = for_local(&s, &image, &ids, None).unwrap();
        let tags: Vec<&str> = tagged.iter().map(|t| t.tag.as_str()).collect();
        let mut expected: Vec<String> = digests.iter().map(|d| cosign::sig_tag(d)).collect();
        expected.push(cosign::att_tag(&image.digest()));
        assert_eq!(tags, expected);
        for t in &tagged[..3] {
            let m = cosign::parse_manifest(&t.manifest).unwrap();
            assert_eq!(
                cosign::layers(&m).unwrap().len(),
                2,
                "one signature per identity"
            );
        }
        let att = cosign::parse_manifest(&tagged[3].manifest).unwrap();
        let layers = cosign::layers(&att).unwrap();
        assert_eq!(layers[0].media_type, cosign::DSSE);
        assert_eq!(
            layers[0].annotations["predicateType"],
            "https://spdx.dev/Document"
        );
        let envelope = tagged[3]
            .blobs
            .iter()
            .find(|b| crate::oci::sha256_digest(b) == layers[0].digest)
            .unwrap();
        let opened = dsse::open(&s.key.verifying_key(), envelope).unwrap();
        assert_eq!(opened.payload, b"{\"s\":1}");
    }

    #[test]
    fn layouts_are_signed_for_each_registry_repository_or_the_image_name() {
        let r = |s: &str| Reference::parse(s).unwrap();
        let targets = [
            r("127.0.0.1:5000/x/app:v1"),
            r("127.0.0.1:5000/x/app:latest"),
            r("[::1]:5000/y:v1"),
        ];
        assert_eq!(
            layout_identities(&targets, "app:latest"),
            ["127.0.0.1:5000/x/app", "[::1]:5000/y"]
        );
        assert_eq!(layout_identities(&[], "app:latest"), ["app"]);
    }
}
