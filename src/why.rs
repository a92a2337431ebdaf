//! `compose why SPEC PACKAGE`: the dependency chain that pulled a package into an image, or
//! why it is not there (excluded on purpose, or simply not needed).

use std::fmt::Write as _;

use anyhow::Result;

use crate::build::{
    Chain, LevelPlan, LockState, Variant, load_indexes, lock_state, locked_entries, only_locked,
    plan_levels,
};
use crate::fetch::{Cache, Fetcher};
use crate::lock::Lock;
use crate::mirror::Mirrors;
use crate::package::Planned;
use crate::resolve::{self, Reason, Resolution, Why};
use crate::spec::{Platform, Spec};

/// What `why` needs.
#[derive(Debug, Clone)]
pub struct WhyOptions {
    pub spec: std::path::PathBuf,
    pub package: String,
    pub variant: Variant,
    pub mirrors: Vec<String>,
    /// `--auth-file`s and `--insecure` for the mirrors.
    pub access: crate::mirror::Access,
    pub cache: Cache,
    pub offline: bool,
    pub platform: Option<Platform>,
}

/// The explanation, as lines of text. `Ok((true, text))` when the package is in the image.
/// With a lock that matches the spec (and has the platform), the image explained is the one
/// the lock builds: the chain is resolved from the locked packages alone, and a newer
/// version today's indexes offer is named. Without one, the spec is resolved afresh.
pub fn explain(opts: &WhyOptions) -> Result<(bool, String)> {
    let chain = Chain::load(
        &opts.spec,
        opts.variant,
        opts.platform.clone().map(|p| vec![p]),
    )?;
    let platform = &chain.platforms[0];
    let mirrors = Mirrors::of_host(&opts.mirrors, &opts.access)?;
    let fetcher = Fetcher::new(opts.cache.clone(), 4, opts.offline)?
        .with_credentials(mirrors.credentials().clone());
    let mut indexes = load_indexes(&fetcher, &mirrors, &chain.sources(), platform)?;
    let mut out = String::new();
    let lock = locked(opts, &chain, platform, &mut out)?;
    let levels = match &lock {
        Some(lock) => {
            let entries = locked_entries(lock, platform, &mut indexes, &fetcher, &mirrors)?;
            plan_levels(
                &chain.levels,
                &only_locked(&indexes, entries),
                &platform.debian_arch,
            )?
        }
        None => plan_levels(&chain.levels, &indexes, &platform.debian_arch)?,
    };
    let name = opts.package.as_str();
    for (spec, level) in chain.levels.iter().zip(&levels) {
        if let Some(planned) = level.packages.iter().find(|p| p.name == name) {
            installed(&mut out, &chain.top().name, spec, level, planned)?;
            if lock.is_some() {
                newer(&mut out, &indexes, planned, &opts.spec)?;
            }
            return Ok((true, out));
        }
    }
    absent(&mut out, &chain, &levels, name)?;
    Ok((false, out))
}

/// The spec's lock when it matches the spec and has `platform` (the first line of the text
/// says which image is explained).
fn locked(
    opts: &WhyOptions,
    chain: &Chain,
    platform: &Platform,
    out: &mut String,
) -> Result<Option<Lock>> {
    let path = crate::lock::path_for(&opts.spec);
    let lock = match lock_state(&path, &chain.levels)? {
        LockState::Fresh(lock) => lock,
        LockState::Missing => {
            writeln!(out, "(no lock: resolved afresh from today's indexes)")?;
            return Ok(None);
        }
        LockState::Stale { .. } => {
            writeln!(
                out,
                "(`{}` does not match the spec: resolved afresh from today's indexes)",
                path.display()
            )?;
            return Ok(None);
        }
    };
    let name = platform.to_string();
    if !lock.packages.iter().any(|p| p.platform == name) {
        writeln!(
            out,
            "(`{}` has no {name}: resolved afresh from today's indexes)",
            path.display()
        )?;
        return Ok(None);
    }
    writeln!(out, "(the image `{}` locks, {name})", path.display())?;
    Ok(Some(lock))
}

/// A newer version of a locked package that today's indexes offer, as `outdated` would
/// report it.
fn newer(
    out: &mut String,
    indexes: &crate::build::Indexes,
    planned: &Planned,
    spec: &std::path::Path,
) -> std::fmt::Result {
    let best = indexes
        .packages
        .iter()
        .filter(|e| e.name == planned.name && e.version > planned.version)
        .filter(|e| e.architecture == planned.architecture)
        .max_by(|a, b| a.version.cmp(&b.version));
    let Some(best) = best else {
        return Ok(());
    };
    let suite = indexes
        .origins
        .get(best.origin)
        .map(|o| o.suite.clone())
        .unwrap_or_default();
    writeln!(
        out,
        "  newer: {} in {suite} ({}); see `compose outdated {}`",
        best.version,
        crate::suite::SuiteKind::of(&suite).label(),
        spec.display()
    )
}

/// How a level planned from the indexes chose its packages.
fn resolution(level: &LevelPlan) -> &Resolution {
    level
        .resolution
        .as_ref()
        .expect("`why` plans from the indexes")
}

/// Why `planned`, in layer `spec` of `image`, is there.
fn installed(
    out: &mut String,
    image: &str,
    spec: &Spec,
    level: &LevelPlan,
    planned: &Planned,
) -> std::fmt::Result {
    let name = planned.name.as_str();
    writeln!(
        out,
        "{name} {} ({}) is in `{image}`, layer `{}`",
        planned.version, planned.architecture, spec.name
    )?;
    let resolution = resolution(level);
    let Why::Chosen(path) = resolve::why(resolution, name) else {
        return writeln!(
            out,
            "  listed in `packages.partial` of {}",
            spec.path.display()
        );
    };
    for pair in path.windows(2) {
        let dependency = match resolution.reasons.get(&pair[0]) {
            Some(Reason::DependencyOf { dependency, .. }) => dependency.clone(),
            _ => String::new(),
        };
        writeln!(out, "  {} <- {} (Depends: {dependency})", pair[0], pair[1])?;
    }
    let root = path.last().expect("a chain has a package");
    let requested = |n: &str| resolution.reasons.get(n) == Some(&Reason::Requested);
    if root == name && requested(name) {
        writeln!(
            out,
            "  requested by `packages.include` of {}",
            spec.path.display()
        )
    } else if requested(root) {
        writeln!(
            out,
            "  {root} is requested by `packages.include` of {}",
            spec.path.display()
        )
    } else {
        writeln!(out, "  {root} is needed by a lower layer's package")
    }
}

/// Why `name` is not in the image: excluded somewhere, or never needed.
fn absent(out: &mut String, chain: &Chain, levels: &[LevelPlan], name: &str) -> std::fmt::Result {
    // The top level's name (`NAME-debug` for a debug variant).
    let image = &chain.top().name;
    for (spec, level) in chain.levels.iter().zip(levels) {
        if let Why::Excluded(by) = resolve::why(resolution(level), name) {
            return writeln!(
                out,
                "{name} is not in `{image}`: excluded by `packages.exclude` (effective in `{}`), although {} depend on it",
                spec.name,
                by.join(", ")
            );
        }
    }
    writeln!(
        out,
        "{name} is not in `{image}`: no package of the image depends on it{}",
        if chain.levels.iter().any(|s| s.exclude.contains(name)) {
            " (it is also listed in `packages.exclude`)"
        } else {
            ""
        }
    )
}
