//! The packages of every level of one platform: resolved from the indexes, or read back from
//! the lock (no indexes, no resolution).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result};

use super::error::BuildError;
use super::indexes::Indexes;
use crate::lock::Lock;
use crate::mirror::Mirrors;
use crate::package::{PackageEntry, Planned};
use crate::resolve::{self, Universe};
use crate::spec::{Location, Spec};

/// One level of one platform, planned.
#[derive(Debug, Clone)]
pub struct LevelPlan {
    /// The packages this level adds, sorted by name (partial packages included).
    pub packages: Vec<Planned>,
    /// How the resolver chose them; `None` for a level read from the lock.
    pub resolution: Option<resolve::Resolution>,
}

/// The packages a level may choose from: all of the indexes, or (for a level whose sources
/// are not all of the chain's) those of its own sources.
fn level_packages(spec: &Spec, indexes: &Indexes) -> Option<Vec<PackageEntry>> {
    let allowed: Vec<bool> = indexes
        .origins
        .iter()
        .map(|o| {
            spec.sources
                .iter()
                .any(|s| s.suites.contains(&o.suite) && s.components.contains(&o.component))
        })
        .collect();
    if allowed.iter().all(|&a| a) {
        return None;
    }
    Some(
        indexes
            .packages
            .iter()
            .filter(|p| allowed[p.origin])
            .cloned()
            .collect(),
    )
}

/// Resolve every level of the chain for one platform, each on top of the ones below.
pub fn plan_levels(chain: &[Spec], indexes: &Indexes, arch: &str) -> Result<Vec<LevelPlan>> {
    // Levels usually share their sources; a level with others sees only its own.
    let shared = Universe::new(&indexes.packages, arch);
    let mut plans: Vec<LevelPlan> = Vec::new();
    for spec in chain {
        let filtered = level_packages(spec, indexes);
        let own;
        let (packages, universe): (&[PackageEntry], &Universe) = match &filtered {
            None => (&indexes.packages, &shared),
            Some(filtered) => {
                own = Universe::new(filtered, arch);
                (filtered, &own)
            }
        };
        // Packages of the lower levels, by file hash (unique per .deb).
        let lower: BTreeSet<&str> = plans
            .iter()
            .flat_map(|p| p.packages.iter())
            .map(|p| p.sha256.as_str())
            .collect();
        // Names first: a hash lookup per entry, the hashes compared only for those names.
        let names: std::collections::HashSet<&str> = plans
            .iter()
            .flat_map(|p| p.packages.iter())
            .map(|p| p.name.as_str())
            .collect();
        let installed: Vec<usize> = packages
            .iter()
            .enumerate()
            .filter(|(_, p)| names.contains(p.name.as_str()) && lower.contains(p.sha256.as_str()))
            .map(|(i, _)| i)
            .collect();
        let plan = plan_level(spec, packages, universe, &installed, indexes)?;
        plans.push(plan);
    }
    Ok(plans)
}

/// One level: the resolution of its request on top of `installed`, then its partial
/// packages (the best version, none of its dependencies).
fn plan_level(
    spec: &Spec,
    packages: &[PackageEntry],
    universe: &Universe,
    installed: &[usize],
    indexes: &Indexes,
) -> Result<LevelPlan> {
    let request = resolve::Request {
        include: &spec.include,
        exclude: &spec.exclude,
        installed,
    };
    let resolution = resolve::resolve(universe, &request)
        .with_context(|| format!("cannot resolve the packages of `{}`", spec.name))?;
    let mut chosen = resolution.chosen.clone();
    for part in &spec.partial {
        let taken = |id: usize| chosen.contains(&id) || installed.contains(&id);
        match universe.best(&part.package) {
            Some(id) if !taken(id) => chosen.push(id),
            Some(_) => {}
            None => {
                return Err(BuildError::NoPartial {
                    package: part.package.clone(),
                    spec: spec.name.clone(),
                }
                .into());
            }
        }
    }
    let mut planned: Vec<Planned> = chosen
        .iter()
        .map(|&i| Planned::of_entry(&packages[i], &indexes.origins[packages[i].origin]))
        .collect();
    planned.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(LevelPlan {
        packages: planned,
        resolution: Some(resolution),
    })
}

/// The levels of one platform as a lock records them, each package from its source's
/// mirror, or from the snapshot archive at the timestamp the lock recorded for its suite.
pub fn plans_from_lock(
    lock: &Lock,
    lock_path: &Path,
    chain: &[Spec],
    platform: &str,
    mirrors: &Mirrors,
) -> Result<Vec<LevelPlan>> {
    let mut urls: BTreeMap<(&str, &str), String> = BTreeMap::new();
    let mut levels = Vec::new();
    for spec in chain {
        if !lock.layers.contains(&spec.name) {
            return Err(BuildError::LockWithoutLayer {
                lock: lock_path.to_path_buf(),
                layer: spec.name.clone(),
            }
            .into());
        }
        let mut packages = Vec::new();
        for p in lock
            .packages
            .iter()
            .filter(|p| p.platform == platform && p.layer == spec.name)
        {
            let key = (p.source.as_str(), p.suite.as_str());
            let base = match urls.get(&key) {
                Some(u) => u.clone(),
                None => {
                    let snapshot = lock
                        .sources
                        .iter()
                        .find(|s| s.location == p.source && s.suite == p.suite)
                        .and_then(|s| s.snapshot.as_deref());
                    let u = mirrors.url_at(&Location::parse(&p.source), snapshot)?;
                    urls.insert(key, u.clone());
                    u
                }
            };
            let planned = p
                .planned(&base)
                .with_context(|| format!("`{}`", lock_path.display()))?;
            packages.push(planned);
        }
        levels.push(LevelPlan {
            packages,
            resolution: None,
        });
    }
    Ok(levels)
}
