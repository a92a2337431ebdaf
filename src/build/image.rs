//! The OCI image: each platform's layers (written into the store) and config, then the
//! manifests with the build's annotations and, for several platforms, the index.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use rayon::prelude::*;

use super::BuildOptions;
use super::cached::{self, CachedLevel, LevelMeta, Memo};
use super::env::expand_env;
use super::plan::LevelPlan;
use super::report::{LayerReport, PackageReport};
use super::trees::{Debs, image_debs, level_trees};
use super::variant::DEFAULT_PATH;
use crate::layer::{self, Layer};
use crate::layercache::{Key, LayerCache};
use crate::oci::{self, BlobRef, Image, ImageInput, ManifestEntry, OciPlatform, Store};
use crate::rootfs::generated;
use crate::sbom;
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
    /// The declared licence of every package, by `.deb` SHA256.
    pub licenses: BTreeMap<String, Option<String>>,
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

/// One platform to build: its plan, the cache keys of its levels, the levels the cache
/// had (their blobs already in the store) and the run's memo of the layers it has.
pub struct PlatformJob<'a> {
    pub platform: &'a Platform,
    pub levels: &'a [LevelPlan],
    pub keys: Vec<Key>,
    pub cached: Vec<Option<CachedLevel>>,
    pub memo: &'a Memo,
}

impl PlatformJob<'_> {
    /// Whether every layer came from the cache (then no `.deb` is read).
    pub fn all_cached(&self) -> bool {
        self.cached.iter().all(Option::is_some)
    }

    /// Take every missing level an earlier image of the run has written since the job was
    /// made (then it is not written again, nor its trees assembled when none is missing).
    fn take_from_memo(&mut self) {
        for (hit, key) in self.cached.iter_mut().zip(&self.keys) {
            if hit.is_none() {
                *hit = self.memo.get(key);
            }
        }
    }
}

/// One level's layer, in the store, with its record.
struct BuiltLevel {
    layer: Layer,
    meta: LevelMeta,
    cached: bool,
}

/// Layers (into the store, the cache and the memo) and the image config of one platform.
/// The trees are assembled only when a layer is missing from the cache and from the layers
/// this run already wrote (an earlier image of the family); such a layer is never written
/// again.
pub fn build_platform(
    opts: &BuildOptions,
    chain: &[Spec],
    mut job: PlatformJob,
    debs: &Debs,
    store: &Store,
    cache: &LayerCache,
    tick: &(dyn Fn() + Sync),
) -> Result<PlatformBuild> {
    let (platform, levels) = (job.platform, job.levels);
    job.take_from_memo();
    let built: Vec<BuiltLevel> = if job.all_cached() {
        job.cached
            .into_iter()
            .flatten()
            .map(|c| {
                tick();
                BuiltLevel {
                    layer: c.layer,
                    meta: c.meta,
                    cached: true,
                }
            })
            .collect()
    } else {
        let trees = level_trees(chain, levels, debs, platform, opts.source_date_epoch)?;
        trees
            .par_iter()
            .zip(job.cached)
            .enumerate()
            .map(|(i, ((tree, epoch), hit))| -> Result<BuiltLevel> {
                let built = match hit {
                    Some(c) => BuiltLevel {
                        layer: c.layer,
                        meta: c.meta,
                        cached: true,
                    },
                    None => {
                        let meta = level_meta(tree, *epoch, levels, i, debs);
                        let name = format!("layer-{}-{i}", platform.debian_arch);
                        let layer = write_layer(opts, tree, debs, store, &name)?;
                        cached::save(cache, &job.keys[i], &layer, &meta, store);
                        let kept = CachedLevel {
                            layer: layer.clone(),
                            meta: meta.clone(),
                        };
                        job.memo.put(&job.keys[i], kept);
                        BuiltLevel {
                            layer,
                            meta,
                            cached: false,
                        }
                    }
                };
                tick();
                Ok(built)
            })
            .collect::<Result<_>>()?
    };
    let epoch = built.last().map(|b| b.meta.epoch).unwrap_or(0);
    let ca_bundle = built.iter().any(|b| b.meta.ca_bundle);
    let layers: Vec<Layer> = built.iter().map(|b| b.layer.clone()).collect();
    let config = config(opts, chain, levels, ca_bundle, &layers, platform, epoch)?;
    store.put_blob(&config)?;
    let cached: Vec<bool> = built.iter().map(|b| b.cached).collect();
    Ok(PlatformBuild {
        layer_reports: LayerReport::of(&layers, &cached, chain, platform),
        package_reports: PackageReport::of(levels, chain),
        content: built.iter().map(|b| b.meta.content).sum(),
        licenses: built.into_iter().flat_map(|b| b.meta.licenses).collect(),
        layers,
        config,
        epoch,
    })
}

/// The record of a level built from its tree: what the config and the SBOM need of it.
fn level_meta(tree: &Tree, epoch: u64, levels: &[LevelPlan], i: usize, debs: &Debs) -> LevelMeta {
    let image = image_debs(levels, debs, i);
    LevelMeta {
        epoch,
        content: tree
            .values()
            .map(|n| match &n.kind {
                Kind::File(d) => d.size,
                _ => 0,
            })
            .sum(),
        ca_bundle: tree.contains_key(generated::CA_BUNDLE),
        licenses: levels[i]
            .packages
            .iter()
            .map(|p| {
                let license =
                    sbom::declared_license(&p.name, &debs[&p.sha256], &image, &debs.files);
                (p.sha256.clone(), license)
            })
            .collect(),
    }
}

/// Write `tree` as a layer into the store.
fn write_layer(
    opts: &BuildOptions,
    tree: &Tree,
    debs: &Debs,
    store: &Store,
    name: &str,
) -> Result<Layer> {
    let scratch = store.scratch(name);
    let threads = opts.jobs as u32;
    let l = layer::write(tree, &debs.files, opts.compression, threads, &scratch)
        .with_context(|| format!("cannot write layer `{}`", scratch.display()))?;
    store.adopt(&scratch, &l.digest)?;
    Ok(l)
}

/// The image config of one platform: the variant's user and workdir, the top spec's
/// entrypoint, cmd, labels and environment, one history entry per layer.
fn config(
    opts: &BuildOptions,
    chain: &[Spec],
    levels: &[LevelPlan],
    ca_bundle: bool,
    layers: &[Layer],
    platform: &Platform,
    epoch: u64,
) -> Result<Vec<u8>> {
    let top = chain.last().expect("a chain has at least one level");
    let mut env = BTreeMap::from([("PATH".to_owned(), DEFAULT_PATH.to_owned())]);
    if ca_bundle {
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
