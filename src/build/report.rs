//! What a build reports (`compose build --json`): the image, its outputs, pushes, platforms,
//! sources, packages, layers and sizes; and the stage timings of `COMPOSE_TIMINGS`.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use super::chain::Chain;
use super::image::PlatformBuild;
use super::indexes::source_url;
use super::plan::LevelPlan;
use crate::layer::Layer;
use crate::mirror::Mirrors;
use crate::oci::Image;
use crate::publish::Destination;
use crate::registry::PushReport;
use crate::spec::{Platform, Spec};

#[derive(Debug, Clone, Serialize)]
pub struct PackageReport {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The spec level (layer) that installed it.
    pub layer: String,
}

impl PackageReport {
    /// The packages of every level of one platform.
    pub fn of(levels: &[LevelPlan], chain: &[Spec]) -> Vec<PackageReport> {
        levels
            .iter()
            .zip(chain)
            .flat_map(|(level, spec)| {
                level.packages.iter().map(|p| PackageReport {
                    name: p.name.clone(),
                    version: p.version.to_string(),
                    architecture: p.architecture.clone(),
                    layer: spec.name.clone(),
                })
            })
            .collect()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    pub url: String,
    pub suites: Vec<String>,
    pub components: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    pub digest: String,
    pub diff_id: String,
    pub size: u64,
    pub uncompressed_size: u64,
    pub spec: String,
    pub platform: String,
    /// Whether the layer was not built for this image: it came from the layer cache, or an
    /// earlier image of the same run (a family build) built it.
    pub cached: bool,
}

impl LayerReport {
    /// The layers of one platform, one per level.
    pub fn of(
        layers: &[Layer],
        cached: &[bool],
        chain: &[Spec],
        platform: &Platform,
    ) -> Vec<LayerReport> {
        layers
            .iter()
            .zip(cached)
            .zip(chain)
            .map(|((l, cached), spec)| LayerReport {
                cached: *cached,
                digest: l.digest.clone(),
                diff_id: l.diff_id.clone(),
                size: l.size,
                uncompressed_size: l.uncompressed_size,
                spec: spec.name.clone(),
                platform: platform.to_string(),
            })
            .collect()
    }
}

/// What `compose build` reports.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub name: String,
    pub digest: String,
    /// The first of `outputs`.
    pub output: String,
    pub outputs: Vec<String>,
    /// What each `docker://` output did.
    pub pushes: Vec<PushReport>,
    /// The annotations of the manifests and index.
    pub annotations: BTreeMap<String, String>,
    pub platforms: Vec<String>,
    /// The archives the packages came from, with mirrors resolved.
    pub sources: Vec<SourceReport>,
    pub packages: Vec<PackageReport>,
    pub layers: Vec<LayerReport>,
    /// Bytes of all blobs (compressed layers, configs, manifests).
    pub size: u64,
    /// Bytes of the layer tars (headers and padding included).
    pub uncompressed_size: u64,
    /// Bytes of file contents (what `du` would count, about what dpkg's Installed-Size says).
    pub content_size: u64,
    /// The SPDX document of the whole image, written beside the first local output.
    pub sbom: Option<String>,
}

/// What a finished build hands to its report.
pub struct Finished<'a> {
    pub chain: &'a Chain,
    pub mirrors: &'a Mirrors,
    pub outputs: &'a [Destination],
    pub image: &'a Image,
    pub built: &'a [PlatformBuild],
    pub annotations: BTreeMap<String, String>,
    pub pushes: Vec<PushReport>,
}

impl BuildReport {
    pub fn new(f: Finished) -> Result<BuildReport> {
        let image = f.image;
        let mut size: u64 = image.blobs().iter().map(|b| b.size).sum();
        size += image
            .manifests
            .iter()
            .map(|m| m.bytes.len() as u64)
            .sum::<u64>();
        size += image.index.as_ref().map_or(0, |i| i.len() as u64);
        let sources = f
            .chain
            .sources()
            .iter()
            .map(|s| {
                let url = source_url(s, f.mirrors)?;
                Ok(SourceReport {
                    url: f
                        .mirrors
                        .reported(&url)
                        .unwrap_or_else(|| s.location.to_string()),
                    suites: s.suites.clone(),
                    components: s.components.clone(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(BuildReport {
            name: f.chain.name.clone(),
            digest: image.digest(),
            output: f.outputs[0].to_string(),
            outputs: f.outputs.iter().map(ToString::to_string).collect(),
            pushes: f.pushes,
            annotations: f.annotations,
            platforms: f.chain.platforms.iter().map(ToString::to_string).collect(),
            sources,
            packages: f
                .built
                .iter()
                .flat_map(|b| b.package_reports.clone())
                .collect(),
            layers: f
                .built
                .iter()
                .flat_map(|b| b.layer_reports.clone())
                .collect(),
            size,
            uncompressed_size: f
                .built
                .iter()
                .flat_map(|b| &b.layers)
                .map(|l| l.uncompressed_size)
                .sum(),
            content_size: f.built.iter().map(|b| b.content).sum(),
            sbom: f
                .outputs
                .iter()
                .find_map(Destination::sbom_path)
                .map(|p| p.display().to_string()),
        })
    }
}

/// Stage timings on stderr when `COMPOSE_TIMINGS` is set (for profiling; never in output).
pub(crate) struct Timings {
    start: std::time::Instant,
    enabled: bool,
}

impl Timings {
    pub(crate) fn new() -> Timings {
        Timings {
            start: std::time::Instant::now(),
            enabled: std::env::var_os("COMPOSE_TIMINGS").is_some(),
        }
    }

    pub(crate) fn mark(&self, stage: &str) {
        if self.enabled {
            eprintln!("{:>8.3}s {stage}", self.start.elapsed().as_secs_f64());
        }
    }
}
