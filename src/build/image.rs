//! The OCI image: each platform's layers (written into the store) and config, then the
//! manifests with the build's annotations and, for several platforms, the index.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use rayon::prelude::*;

use super::BuildOptions;
use super::env::expand_env;
use super::plan::LevelPlan;
use super::report::{LayerReport, PackageReport};
use super::trees::{Debs, level_trees};
use super::variant::DEFAULT_PATH;
use crate::layer::{self, Layer};
use crate::oci::{self, BlobRef, Image, ImageInput, ManifestEntry, OciPlatform, Store};
use crate::rootfs::generated;
use crate::spec::{Platform, Spec};
use crate::tree::Kind;
use crate::tree::Tree;

/// One platform's image before its manifest: layers (in the store), config, reports.
pub struct PlatformBuild {
    pub layers: Vec<Layer>,
    pub config: Vec<u8>,
    pub epoch: u64,
    /// Bytes of file contents.
    pub content: u64,
    pub layer_reports: Vec<LayerReport>,
    pub package_reports: Vec<PackageReport>,
}

pub fn oci_platform(p: &Platform) -> OciPlatform {
    OciPlatform {
        os: p.os.clone(),
        architecture: p.architecture.clone(),
        variant: p.variant.clone(),
    }
}

/// The annotations of every manifest and the index: title and created from the build, then
/// the spec's, then `--annotation`s.
pub fn annotations_for(
    name: &str,
    created: u64,
    spec: &BTreeMap<String, String>,
    cli: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::from([
        ("org.opencontainers.image.title".to_owned(), name.to_owned()),
        (
            "org.opencontainers.image.created".to_owned(),
            oci::rfc3339(created),
        ),
    ]);
    out.extend(spec.clone());
    out.extend(cli.clone());
    out
}

/// Trees, layers (into the store) and the image config of one platform.
pub fn build_platform(
    opts: &BuildOptions,
    chain: &[Spec],
    levels: &[LevelPlan],
    debs: &Debs,
    platform: &Platform,
    store: &Store,
    tick: &(dyn Fn() + Sync),
) -> Result<PlatformBuild> {
    let trees = level_trees(chain, levels, debs, platform, opts.source_date_epoch)?;
    let content = trees
        .iter()
        .flat_map(|(t, _)| t.values())
        .map(|n| match &n.kind {
            Kind::File(d) => d.size,
            _ => 0,
        })
        .sum::<u64>();
    let threads = opts.jobs as u32;
    let layers: Vec<Layer> = trees
        .par_iter()
        .enumerate()
        .map(|(i, (tree, _))| -> Result<Layer> {
            let scratch = store.scratch(&format!("layer-{}-{i}", platform.debian_arch));
            let l = layer::write(tree, &debs.files, opts.compression, threads, &scratch)
                .with_context(|| format!("cannot write layer `{}`", scratch.display()))?;
            store.adopt(&scratch, &l.digest)?;
            tick();
            Ok(l)
        })
        .collect::<Result<_>>()?;
    let epoch = trees.last().map(|(_, e)| *e).unwrap_or(0);
    let config = config(opts, chain, levels, &trees, &layers, platform, epoch)?;
    store.put_blob(&config)?;
    Ok(PlatformBuild {
        layer_reports: LayerReport::of(&layers, chain, platform),
        package_reports: PackageReport::of(levels, chain),
        layers,
        config,
        epoch,
        content,
    })
}

/// The image config of one platform: the variant's user and workdir, the top spec's
/// entrypoint, cmd, labels and environment, one history entry per layer.
fn config(
    opts: &BuildOptions,
    chain: &[Spec],
    levels: &[LevelPlan],
    trees: &[(Tree, u64)],
    layers: &[Layer],
    platform: &Platform,
    epoch: u64,
) -> Result<Vec<u8>> {
    let top = chain.last().expect("a chain has at least one level");
    let mut env = BTreeMap::from([("PATH".to_owned(), DEFAULT_PATH.to_owned())]);
    if trees
        .iter()
        .any(|(t, _)| t.contains_key(generated::CA_BUNDLE))
    {
        env.insert(
            "SSL_CERT_FILE".into(),
            "/etc/ssl/certs/ca-certificates.crt".into(),
        );
    }
    env.extend(
        expand_env(top, levels)
            .with_context(|| format!("cannot build `{}` for {platform}", top.name))?,
    );
    let history: Vec<(&Layer, String)> = layers
        .iter()
        .zip(chain.iter().zip(levels))
        .map(|(l, (spec, level))| {
            (
                l,
                format!("compose {}: {} packages", spec.name, level.packages.len()),
            )
        })
        .collect();
    Ok(oci::config_json(&ImageInput {
        platform: oci_platform(platform),
        created: epoch,
        user: Some(opts.variant.user()),
        workdir: Some(opts.variant.workdir()),
        entrypoint: top.config.entrypoint.as_deref(),
        cmd: top.config.cmd.as_deref(),
        env: &env,
        labels: &top.config.labels,
        layers: history,
    })?)
}

/// The manifest of every platform and, for more than one, the index, all in the store.
pub fn assemble(
    store: &Store,
    built: &[PlatformBuild],
    platforms: &[Platform],
    annotations: &BTreeMap<String, String>,
    created: u64,
) -> Result<Image> {
    let mut manifests = Vec::new();
    for (b, platform) in built.iter().zip(platforms) {
        let manifest =
            oci::manifest_json(&b.config, &b.layers.iter().collect::<Vec<_>>(), annotations)?;
        store.put_blob(&manifest)?;
        manifests.push(ManifestEntry {
            platform: oci_platform(platform),
            bytes: manifest,
            config: BlobRef {
                digest: oci::sha256_digest(&b.config),
                size: b.config.len() as u64,
                media_type: oci_spec::image::MediaType::ImageConfig.to_string(),
            },
            layers: b
                .layers
                .iter()
                .map(|l| BlobRef {
                    digest: l.digest.clone(),
                    size: l.size,
                    media_type: l.media_type.to_owned(),
                })
                .collect(),
        });
    }
    let index = if manifests.len() > 1 {
        let descs = manifests
            .iter()
            .map(|m| {
                oci::descriptor(
                    oci_spec::image::MediaType::ImageManifest,
                    &m.bytes,
                    Some(&m.platform),
                    &BTreeMap::new(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let index = oci::index_json(descs, annotations)?;
        store.put_blob(&index)?;
        Some(index)
    } else {
        None
    };
    Ok(Image {
        manifests,
        index,
        created,
    })
}
