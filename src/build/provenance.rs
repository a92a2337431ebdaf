//! The in-toto statements `--attest` signs: SLSA provenance v1 (what the image was built
//! from: the spec chain and lock by hash, the build's parameters, every InRelease and
//! `.deb` by URL and hash) and the SPDX SBOM. No clock: the same build gives the same bytes.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use anyhow::Result;

use super::BuildOptions;
use super::plan::LevelPlan;
use super::variant::Variant;
use crate::fetch::Fetcher;
use crate::layer::Compression;
use crate::lock::{self, Lock};
use crate::mirror::Mirrors;
use crate::oci;
use crate::sbom;
use crate::sign::Statement;
use crate::spec::{Platform, Spec};

/// `_type` of every statement.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// The predicate type of the provenance.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// The predicate type of the SBOM statement.
pub const SPDX_DOCUMENT: &str = "https://spdx.dev/Document";
/// How compose builds, as SLSA's `buildType` (compose's own: a URN, no host).
pub const BUILD_TYPE: &str = "urn:compose:build:oci-image:v1";

/// The parameters a build was run with, as the provenance records them (and `compose
/// verify --image` rebuilds with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameters {
    pub platforms: Vec<Platform>,
    pub variant: Variant,
    pub compression: Compression,
    /// The `--annotation`s, full keys.
    pub annotations: BTreeMap<String, String>,
    pub source_date_epoch: Option<u64>,
}

impl Parameters {
    /// The parameters of `opts` for a build of `chain`'s platforms.
    pub fn of(opts: &BuildOptions, platforms: &[Platform]) -> Parameters {
        Parameters {
            platforms: platforms.to_vec(),
            variant: opts.variant,
            compression: opts.compression,
            annotations: opts.annotations.clone(),
            source_date_epoch: opts.source_date_epoch,
        }
    }

    fn to_json(&self) -> Value {
        let platforms: Vec<String> = self.platforms.iter().map(ToString::to_string).collect();
        json!({
            "platforms": platforms,
            "variant": self.variant.tag(),
            "compression": self.compression,
            "annotations": self.annotations,
            "SOURCE_DATE_EPOCH": self.source_date_epoch,
        })
    }

    /// The parameters a provenance's `externalParameters` records; what is missing or
    /// malformed, named.
    pub fn from_json(external: &Value) -> Result<Parameters, String> {
        let field = |key: &str| {
            external
                .get(key)
                .ok_or_else(|| format!("`externalParameters` has no `{key}`"))
        };
        let text = |key: &str| {
            field(key)?
                .as_str()
                .ok_or_else(|| format!("`externalParameters.{key}` is not a string"))
        };
        let platforms = field("platforms")?
            .as_array()
            .ok_or("`externalParameters.platforms` is not a list")?
            .iter()
            .map(|p| Platform::parse(p.as_str().unwrap_or_default()))
            .collect::<Result<Vec<_>, _>>()?;
        let compression = <Compression as clap::ValueEnum>::from_str(text("compression")?, false)?;
        let annotations = serde_json::from_value(field("annotations")?.clone())
            .map_err(|e| format!("`externalParameters.annotations`: {e}"))?;
        let epoch = field("SOURCE_DATE_EPOCH")?;
        let source_date_epoch = match epoch {
            Value::Null => None,
            v => Some(v.as_u64().ok_or("`SOURCE_DATE_EPOCH` is not a number")?),
        };
        Ok(Parameters {
            platforms,
            variant: Variant::parse(text("variant")?)?,
            compression,
            annotations,
            source_date_epoch,
        })
    }
}

/// What the provenance is made of.
pub struct Provenance<'a> {
    /// The image name (the subject's name).
    pub name: &'a str,
    /// `sha256:` of the image's top document (the subject).
    pub digest: &'a str,
    pub chain: &'a [Spec],
    /// The spec given to the build (its lock is beside it).
    pub spec: &'a Path,
    pub lock: &'a Lock,
    pub parameters: &'a Parameters,
    /// Every platform's plan (the `.deb`s, with the URLs they were fetched from).
    pub plans: &'a [Vec<LevelPlan>],
    pub mirrors: &'a Mirrors,
    /// Reads each locked suite's InRelease (the vendored directory's with `--vendor`).
    pub fetcher: &'a Fetcher,
}

/// `{"name": NAME, "digest": {"sha256": HEX}}` for an image.
fn subject(name: &str, digest: &str) -> Value {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    json!([{ "name": name, "digest": { "sha256": hex } }])
}

/// An in-toto Statement v1 of `predicate` about the image, as canonical JSON.
fn statement(name: &str, digest: &str, predicate_type: &str, predicate: Value) -> Vec<u8> {
    oci::canonical_json(&json!({
        "_type": STATEMENT_V1,
        "subject": subject(name, digest),
        "predicateType": predicate_type,
        "predicate": predicate,
    }))
}

/// The SBOM statement: the SPDX document as the predicate.
pub fn sbom_statement(name: &str, digest: &str, sbom: &[u8]) -> Vec<u8> {
    let document: Value = serde_json::from_slice(sbom).expect("compose's SBOM is JSON");
    statement(name, digest, SPDX_DOCUMENT, document)
}

/// `sha256:HEX` -> `{"sha256": HEX}`.
fn digest_set(digest: &str) -> Value {
    json!({ "sha256": digest.strip_prefix("sha256:").unwrap_or(digest) })
}

/// The SLSA provenance v1 statement. The lock file is read for its hash.
pub fn provenance(p: &Provenance) -> Result<Vec<u8>> {
    let lock_path = lock::path_for(p.spec);
    let lock_bytes = fs_err::read(&lock_path)?;
    let file_name = |path: &Path| {
        path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        )
    };
    let specs: Vec<Value> = lock::inputs(p.chain)
        .into_iter()
        .map(|(path, digest)| json!({ "path": path, "digest": digest_set(&digest) }))
        .collect();
    let mut external = p.parameters.to_json();
    external["specs"] = Value::Array(specs);
    external["lock"] = json!({
        "path": file_name(&lock_path),
        "digest": digest_set(&oci::sha256_digest(&lock_bytes)),
    });
    let predicate = json!({
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": external,
            "resolvedDependencies": dependencies(p)?,
        },
        "runDetails": {
            "builder": {
                "id": concat!("urn:compose:builder:", env!("CARGO_PKG_VERSION")),
                "version": { "compose": env!("CARGO_PKG_VERSION") },
            },
        },
    });
    Ok(statement(p.name, p.digest, SLSA_PROVENANCE_V1, predicate))
}

/// Every source's InRelease (the file's URL and hash as published, the lock's hash of its
/// text beside), then every `.deb` once, sorted. URLs as reported (`Mirrors::reported`): a
/// vendored build names the mirrors its directory was vendored from.
fn dependencies(p: &Provenance) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for source in p.chain.iter().flat_map(|s| &s.sources) {
        for suite in &source.suites {
            let location = source.location.to_string();
            let Some(pin) = p
                .lock
                .sources
                .iter()
                .find(|l| l.location == location && l.suite == *suite)
            else {
                continue;
            };
            if out.iter().any(|d: &Value| d["name"] == name_of(pin)) {
                continue;
            }
            let found = super::locked_release(p.fetcher, p.mirrors, source, suite, pin, None)?;
            let uri = p
                .mirrors
                .reported(&found.url)
                .unwrap_or_else(|| format!("{location}/dists/{suite}/InRelease"));
            out.push(json!({
                "name": name_of(pin),
                "uri": uri,
                "digest": { "sha256": hex::encode(Sha256::digest(&found.signed)) },
                "annotations": { "lockRelease": pin.release },
            }));
        }
    }
    let debs: BTreeMap<(&str, String, &str, &str), Value> = p
        .plans
        .iter()
        .flatten()
        .flat_map(|level| &level.packages)
        .map(|d| {
            let key = (
                d.name.as_str(),
                d.version.to_string(),
                d.architecture.as_str(),
                d.sha256.as_str(),
            );
            let uri = p
                .mirrors
                .reported(&d.url)
                .unwrap_or_else(|| format!("{}/{}", d.source, d.filename));
            let value = json!({
                "name": d.name,
                "uri": uri,
                "digest": { "sha256": d.sha256 },
                "annotations": {
                    "version": d.version.to_string(),
                    "architecture": d.architecture,
                    "purl": sbom::purl(d),
                },
            });
            (key, value)
        })
        .collect();
    out.extend(debs.into_values());
    out.extend(spec_files(p));
    Ok(out)
}

/// Every `[[files]]` file by its path in the image and SHA256 (a `url` file's URL too, as
/// written, without credentials), with its layer and, for a source file, its path as the
/// spec writes it.
fn spec_files(p: &Provenance) -> Vec<Value> {
    let mut out = Vec::new();
    for spec in p.chain {
        for f in &spec.files {
            let mut value = json!({
                "name": f.path,
                "digest": { "sha256": f.sha256 },
                "annotations": { "layer": spec.name },
            });
            match &f.origin {
                crate::spec::FileOrigin::Url(url) => {
                    value["uri"] = json!(crate::mirror::without_credentials(url));
                }
                crate::spec::FileOrigin::Source { written, .. } => {
                    value["annotations"]["source"] = json!(written);
                }
            }
            out.push(value);
        }
    }
    out
}

/// The dependency name of a locked suite's InRelease: `LOCATION/SUITE/InRelease`.
fn name_of(pin: &lock::LockedSource) -> String {
    format!("{}/{}/InRelease", pin.location, pin.suite)
}

/// `--attest`: the provenance and the SBOM statement of a built image. Needs the spec's lock
/// (`--attest` builds `--locked`).
pub(super) fn attestations(
    opts: &BuildOptions,
    spec: &super::SpecPlan,
    image: &super::BuiltImage,
    mirrors: &Mirrors,
    fetcher: &Fetcher,
) -> Result<Vec<Statement>> {
    let Some(lock) = &spec.lock else {
        anyhow::bail!("`--attest` needs the spec's lock");
    };
    let chain = &spec.chain;
    let digest = image.image.digest();
    let provenance = provenance(&Provenance {
        name: &chain.name,
        digest: &digest,
        chain: &chain.levels,
        spec: &opts.spec,
        lock,
        parameters: &Parameters::of(opts, &chain.platforms),
        plans: &spec.plans,
        mirrors,
        fetcher,
    })?;
    Ok(vec![
        Statement {
            predicate_type: SLSA_PROVENANCE_V1.to_owned(),
            statement: provenance,
        },
        Statement {
            predicate_type: SPDX_DOCUMENT.to_owned(),
            statement: sbom_statement(&chain.name, &digest, &image.sbom),
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_read_back_as_written() {
        let p = Parameters {
            platforms: vec![
                Platform::parse("linux/amd64").unwrap(),
                Platform::parse("linux/arm/v7").unwrap(),
            ],
            variant: Variant::parse("debug-nonroot").unwrap(),
            compression: Compression::Zstd,
            annotations: BTreeMap::from([("com.example.x".into(), "y".into())]),
            source_date_epoch: Some(1_700_000_000),
        };
        assert_eq!(Parameters::from_json(&p.to_json()).unwrap(), p);
        let none = Parameters {
            source_date_epoch: None,
            ..p
        };
        assert_eq!(Parameters::from_json(&none.to_json()).unwrap(), none);
        let mut bad = none.to_json();
        bad["compression"] = json!("lz4");
        assert!(Parameters::from_json(&bad).is_err());
        assert!(
            Parameters::from_json(&json!({}))
                .unwrap_err()
                .contains("no `platforms`")
        );
    }

    #[test]
    fn statements_are_in_toto_v1_about_the_image() {
        let s = sbom_statement("img", &format!("sha256:{}", "a".repeat(64)), b"{\"x\":1}\n");
        let v: Value = serde_json::from_slice(&s).unwrap();
        assert_eq!(v["_type"], STATEMENT_V1);
        assert_eq!(v["predicateType"], SPDX_DOCUMENT);
        assert_eq!(v["subject"][0]["name"], "img");
        assert_eq!(v["subject"][0]["digest"]["sha256"], "a".repeat(64));
        assert_eq!(v["predicate"]["x"], 1);
    }
}
