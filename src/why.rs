//! `compose why SPEC PACKAGE`: the dependency chain that pulled a package into an image, or
//! why it is not there (excluded on purpose, or simply not needed).

use std::fmt::Write as _;

use anyhow::Result;

use crate::fetch::{Cache, Fetcher};
use crate::mirror::Mirrors;
use crate::pipeline::{self, Variant};
use crate::resolve::{Reason, Why};
use crate::spec::{Platform, Spec};

/// What `why` needs.
#[derive(Debug, Clone)]
pub struct WhyOptions {
    pub spec: std::path::PathBuf,
    pub package: String,
    pub variant: Variant,
    pub mirrors: Vec<String>,
    pub cache: Cache,
    pub offline: bool,
    pub platform: Option<Platform>,
}

/// The explanation, as lines of text. `Ok((true, text))` when the package is in the image.
pub fn explain(opts: &WhyOptions) -> Result<(bool, String)> {
    let mut chain = Spec::load(&opts.spec)?;
    opts.variant.apply(&mut chain);
    let platform = opts
        .platform
        .clone()
        .unwrap_or_else(|| chain.last().expect("non-empty chain").platforms[0].clone());
    let mirrors = Mirrors::new(&opts.mirrors, std::path::Path::new("/"))?;
    let fetcher = Fetcher::new(opts.cache.clone(), 4, opts.offline)?;
    let sources = pipeline::chain_sources(&chain);
    let indexes = pipeline::load_indexes(&fetcher, &mirrors, &sources, &platform)?;
    let levels = pipeline::plan_levels(&chain, &indexes, &platform.debian_arch)?;
    let name = opts.package.as_str();
    let mut out = String::new();
    let image = &chain.last().expect("non-empty chain").name;
    for (spec, level) in chain.iter().zip(&levels) {
        let Some(entry) = level.entries.iter().find(|e| e.name == name) else {
            continue;
        };
        writeln!(
            out,
            "{name} {} ({}) is in `{image}`, layer `{}`",
            entry.version, entry.architecture, spec.name
        )?;
        match pipeline_why(&level.resolution, name) {
            Why::Chosen(path) => {
                for pair in path.windows(2) {
                    let dependency = match level.resolution.reasons.get(&pair[0]) {
                        Some(Reason::DependencyOf { dependency, .. }) => dependency.clone(),
                        _ => String::new(),
                    };
                    writeln!(out, "  {} <- {} (Depends: {dependency})", pair[0], pair[1])?;
                }
                let root = path.last().expect("non-empty chain");
                if root == name && level.resolution.reasons.get(name) == Some(&Reason::Requested) {
                    writeln!(
                        out,
                        "  requested by `packages.include` of {}",
                        spec.path.display()
                    )?;
                } else if level.resolution.reasons.get(root) == Some(&Reason::Requested) {
                    writeln!(
                        out,
                        "  {root} is requested by `packages.include` of {}",
                        spec.path.display()
                    )?;
                } else {
                    writeln!(out, "  {root} is needed by a lower layer's package")?;
                }
            }
            _ => writeln!(
                out,
                "  listed in `packages.partial` of {}",
                spec.path.display()
            )?,
        }
        return Ok((true, out));
    }
    // Not installed: excluded somewhere, or never needed.
    for (spec, level) in chain.iter().zip(&levels) {
        if let Why::Excluded(by) = pipeline_why(&level.resolution, name) {
            writeln!(
                out,
                "{name} is not in `{image}`: excluded by `packages.exclude` (effective in `{}`), although {} depend on it",
                spec.name,
                by.join(", ")
            )?;
            return Ok((false, out));
        }
    }
    writeln!(
        out,
        "{name} is not in `{image}`: no package of the image depends on it{}",
        if chain.iter().any(|s| s.exclude.contains(name)) {
            " (it is also listed in `packages.exclude`)"
        } else {
            ""
        }
    )?;
    Ok((false, out))
}

fn pipeline_why(resolution: &crate::resolve::Resolution, name: &str) -> Why {
    crate::resolve::why(resolution, name)
}
