//! The levels an image is made of: the spec's `extends` chain loaded, the variant applied,
//! the platforms defaulted. Every command starts here (`build`, `lock`, `why`).

use std::path::Path;

use anyhow::Result;

use super::error::BuildError;
use super::variant::Variant;
use crate::spec::{Location, Platform, Source, Spec};

/// A spec's chain, ready to plan.
#[derive(Debug, Clone)]
pub struct Chain {
    /// The image's name: the top spec's (the variant's level adds none).
    pub name: String,
    /// The levels, bottom first; the variant's own level (debug) last, when it has one.
    pub levels: Vec<Spec>,
    /// The variant applied to `levels`.
    pub variant: Variant,
    /// The platforms asked for, else the top spec's.
    pub platforms: Vec<Platform>,
}

impl Chain {
    /// Load the spec at `path` and its parents, apply `variant`, and take `platforms` (the
    /// top spec's when `None`).
    pub fn load(path: &Path, variant: Variant, platforms: Option<Vec<Platform>>) -> Result<Chain> {
        let mut levels = Spec::load(path)?;
        let name = levels.last().expect("a chain has a level").name.clone();
        variant.apply(&mut levels);
        let platforms = platforms.unwrap_or_else(|| {
            levels
                .last()
                .expect("a chain has a level")
                .platforms
                .clone()
        });
        Ok(Chain {
            name,
            levels,
            variant,
            platforms,
        })
    }

    /// `--snapshot`: every `archive` source of every level read at `timestamp` (checked
    /// strictly); a chain without one is refused, since nothing would be pinned.
    pub fn pin_snapshot(&mut self, timestamp: &str) -> Result<(), BuildError> {
        crate::snapshot::parse(timestamp).map_err(|message| BuildError::BadSnapshot { message })?;
        let mut pinned = false;
        for source in self.levels.iter_mut().flat_map(|l| &mut l.sources) {
            if let Location::Archive(name) = &source.location {
                if !crate::spec::valid_archive_name(name) {
                    return Err(BuildError::SnapshotArchiveName { name: name.clone() });
                }
                source.snapshot = Some(timestamp.to_owned());
                pinned = true;
            }
        }
        if !pinned {
            return Err(BuildError::SnapshotWithoutArchive {
                spec: self.name.clone(),
            });
        }
        Ok(())
    }

    /// The top level (the debug level for a debug variant).
    pub fn top(&self) -> &Spec {
        self.levels.last().expect("a chain has a level")
    }

    /// The spec's own levels, without the variant's.
    pub fn spec_levels(&self) -> &[Spec] {
        let own = self.levels.len() - usize::from(self.variant.debug);
        &self.levels[..own]
    }

    /// Every source of every level, once, in order.
    pub fn sources(&self) -> Vec<Source> {
        let mut sources: Vec<Source> = Vec::new();
        for spec in &self.levels {
            for s in &spec.sources {
                if !sources.contains(s) {
                    sources.push(s.clone());
                }
            }
        }
        sources
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "name = \"x\"\nplatforms = [\"linux/arm64\"]\n[[source]]\nurl = \"http://h/d\"\nsuites = [\"t\"]\ncomponents = [\"main\"]\n[packages]\ninclude = [\"a\"]\n";

    #[test]
    fn the_variant_adds_a_level_and_platforms_default_to_the_spec() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.toml");
        fs_err::write(&path, SPEC).unwrap();
        let debug = Variant {
            nonroot: false,
            debug: true,
        };
        let chain = Chain::load(&path, debug, None).unwrap();
        assert_eq!(chain.name, "x");
        assert_eq!(chain.top().name, "x-debug");
        assert_eq!(chain.spec_levels().len(), 1);
        assert_eq!(chain.platforms[0].debian_arch, "arm64");
        assert_eq!(
            chain.sources().len(),
            1,
            "the debug level shares its sources"
        );
        let amd64 = Platform::parse("linux/amd64").unwrap();
        let plain = Chain::load(&path, Variant::default(), Some(vec![amd64.clone()])).unwrap();
        assert_eq!(plain.levels.len(), 1);
        assert_eq!(plain.spec_levels().len(), 1);
        assert_eq!(plain.platforms, vec![amd64]);
    }
}
