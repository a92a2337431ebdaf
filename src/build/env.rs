//! The image's environment: the spec's `[config] env`, its package-version templates filled
//! from the platform's plan.

use std::collections::BTreeMap;

use super::error::BuildError;
use super::plan::LevelPlan;
use crate::package::Version;
use crate::spec::{Spec, template};

/// The spec's `[config] env` with every package version it names (`spec::template`) taken
/// from this platform's plan, so a build from the lock says what a resolved build says.
pub fn expand_env(
    top: &Spec,
    levels: &[LevelPlan],
) -> Result<BTreeMap<String, String>, BuildError> {
    let versions: BTreeMap<&str, &Version> = levels
        .iter()
        .flat_map(|l| l.packages.iter())
        .map(|p| (p.name.as_str(), &p.version))
        .collect();
    top.config
        .env
        .iter()
        .map(|(key, value)| {
            let pieces = template::parse(value).map_err(|message| BuildError::EnvTemplate {
                key: key.clone(),
                message,
            })?;
            let expanded =
                template::expand(&pieces, |p| versions.get(p).copied()).map_err(|p| {
                    BuildError::EnvPackage {
                        key: key.clone(),
                        spec: top.name.clone(),
                        package: p,
                        path: top.path.clone(),
                    }
                })?;
            Ok((key.clone(), expanded))
        })
        .collect()
}
