//! The root filesystem of every level of one platform: the packages' files assembled on the
//! levels below, then the files compose generates (base files, os-release, `status.d`, CA
//! bundle, Java trust store, the level's SBOM, the spec's symlinks, its `[[files]]`).

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use super::error::BuildError;
use super::files::{StoredFiles, add_files};
use super::plan::LevelPlan;
use crate::content::Store;
use crate::deb::Deb;
use crate::rootfs::{self, generated, inhouse, md5sums};
use crate::sbom;
use crate::spec::{Platform, Spec};
use crate::tree::{Node, Tree};

/// The `.deb`s of a build, read, by SHA256 (`debs[sha256]`), and the store holding the
/// contents of their files (and nothing else: the store goes when the build ends).
pub struct Debs {
    pub by_sha256: BTreeMap<String, Deb>,
    pub files: Store,
    /// The `[[files]]` of the run's specs, in `files` too, by SHA256.
    pub spec_files: StoredFiles,
}

impl<Q: Ord + ?Sized> std::ops::Index<&Q> for Debs
where
    String: std::borrow::Borrow<Q>,
{
    type Output = Deb;

    fn index(&self, sha256: &Q) -> &Deb {
        &self.by_sha256[sha256]
    }
}

/// The package (name and contents) that ships the CA certificates, in levels `0..=upto`.
fn certificates_package<'d>(
    levels: &'d [LevelPlan],
    debs: &'d Debs,
    upto: usize,
) -> Option<(&'d str, &'d Deb)> {
    levels[..=upto]
        .iter()
        .flat_map(|l| l.packages.iter())
        .map(|p| (p.name.as_str(), &debs[&p.sha256]))
        .find(|(_, d)| generated::ships_certificates(d))
}

/// The packages of levels `0..=upto`, read: where a package's doc symlink may lead.
pub fn image_debs<'d>(levels: &[LevelPlan], debs: &'d Debs, upto: usize) -> Vec<&'d Deb> {
    levels
        .iter()
        .take(upto + 1)
        .flat_map(|l| l.packages.iter())
        .map(|p| &debs[&p.sha256])
        .collect()
}

/// The tree of every level of one platform, bottom first, with the level's epoch (the
/// `SOURCE_DATE_EPOCH`, else the newest mtime of the packages up to that level).
pub fn level_trees(
    chain: &[Spec],
    levels: &[LevelPlan],
    debs: &Debs,
    platform: &Platform,
    source_date_epoch: Option<u64>,
) -> Result<Vec<(Tree, u64)>> {
    let mut lower = Tree::new();
    let mut out = Vec::new();
    let mut newest = 0u64;
    for (i, (spec, level)) in chain.iter().zip(levels).enumerate() {
        let packages: Vec<(&str, &Deb)> = level
            .packages
            .iter()
            .map(|p| (p.name.as_str(), &debs[&p.sha256]))
            .collect();
        for (_, d) in &packages {
            newest = newest.max(d.entries.iter().map(|e| e.mtime).max().unwrap_or(0));
        }
        let epoch = source_date_epoch.unwrap_or(newest);
        let mut tree = rootfs::assemble(
            &packages,
            &spec.paths,
            &spec.partial,
            &lower,
            source_date_epoch,
        )
        .with_context(|| format!("cannot assemble the files of `{}`", spec.name))?;
        let level = Level {
            index: i,
            chain,
            levels,
            debs,
            packages: &packages,
            lower: &lower,
            epoch,
            files: &debs.files,
        };
        let shipped = md5sums::shipped(&tree);
        level.generate(&mut tree, platform)?;
        md5sums::follow(&mut tree, &lower, &shipped, &debs.files, epoch)?;
        rootfs::settle_dirs(&mut tree, &lower);
        inhouse::directories(&mut tree, &lower, &spec.inhouse, epoch)
            .with_context(|| format!("cannot make the directories of `{}`", spec.name))?;
        rootfs::check_tree(&tree, &lower)
            .with_context(|| format!("cannot assemble the files of `{}`", spec.name))?;
        for (path, node) in &tree {
            lower.insert(path.clone(), node.clone());
        }
        out.push((tree, epoch));
    }
    Ok(out)
}

/// One level being built, with what its generated files depend on.
struct Level<'a> {
    index: usize,
    chain: &'a [Spec],
    levels: &'a [LevelPlan],
    debs: &'a Debs,
    /// This level's packages, by name.
    packages: &'a [(&'a str, &'a Deb)],
    /// The files of the levels below.
    lower: &'a Tree,
    epoch: u64,
    /// The contents of the packages' files.
    files: &'a Store,
}

impl Level<'_> {
    fn spec(&self) -> &Spec {
        &self.chain[self.index]
    }

    /// Every file compose generates in this level, in the order they were always added.
    fn generate(&self, tree: &mut Tree, platform: &Platform) -> Result<()> {
        let epoch = self.epoch;
        if self.index == 0 {
            generated::base_files(tree, &platform.debian_arch, epoch);
        }
        generated::os_release(tree, self.files)?;
        for (name, d) in self.packages {
            generated::status_d(tree, name, d, epoch)?;
        }
        self.ca_bundle(tree)?;
        self.java_cacerts(tree)?;
        let own = &self.spec().inhouse;
        inhouse::certificate_files(tree, own, epoch);
        let parent = self.index.checked_sub(1).map(|i| &self.chain[i].inhouse);
        inhouse::accounts(tree, own, parent, epoch);
        self.sbom(tree);
        for link in &self.spec().symlinks {
            let path = link.path.trim_start_matches('/').to_owned();
            let target = link.target.replace("{arch}", &platform.debian_arch);
            tree.insert(path, Node::symlink(&target, epoch));
        }
        add_files(tree, self.lower, self.spec(), &self.debs.spec_files, epoch)?;
        Ok(())
    }

    /// Whether this level's spec adds certificates (`[certificates] add`).
    fn adds_certificates(&self) -> bool {
        self.spec().inhouse.own_certificates().next().is_some()
    }

    /// The CA bundle, in the level whose packages ship Debian's certificates and in each
    /// level that adds certificates (Debian's, from whichever level has them, then every
    /// certificate the spec and its parents add).
    fn ca_bundle(&self, tree: &mut Tree) -> Result<()> {
        let own_package = self
            .packages
            .iter()
            .find(|(_, d)| generated::ships_certificates(d))
            .copied();
        if own_package.is_none() && !self.adds_certificates() {
            return Ok(());
        }
        let package =
            own_package.or_else(|| certificates_package(self.levels, self.debs, self.index));
        let added = &self.spec().inhouse.certificates;
        generated::ca_bundle(tree, package, added, self.files, self.epoch)?;
        if let Some((name, _)) = package {
            let derived = [generated::CA_BUNDLE];
            md5sums::attribute(tree, self.lower, self.files, name, &derived, self.epoch)?;
        }
        Ok(())
    }

    /// The Java trust store, in the first level that asks for it and in each level above
    /// that adds certificates.
    fn java_cacerts(&self, tree: &mut Tree) -> Result<()> {
        let i = self.index;
        let spec = self.spec();
        let parent_has_cacerts = i > 0 && self.chain[i - 1].java_cacerts;
        if !spec.java_cacerts || (parent_has_cacerts && !self.adds_certificates()) {
            return Ok(());
        }
        let added = &spec.inhouse.certificates;
        let package = certificates_package(self.levels, self.debs, i);
        if package.is_none() && added.is_empty() {
            return Err(BuildError::NoCertificates {
                spec: spec.name.clone(),
            }
            .into());
        }
        generated::java_cacerts(tree, package, added, self.files, self.epoch)?;
        let Some((name, _)) = package else {
            return Ok(()); // a store of the spec's certificates only
        };
        md5sums::attribute(
            tree,
            self.lower,
            self.files,
            name,
            &[generated::JAVA_CACERTS],
            self.epoch,
        )?;
        Ok(())
    }

    /// This level's SBOM, inside its own layer (so the layer stays shared by the family).
    fn sbom(&self, tree: &mut Tree) {
        let spec = self.spec();
        let image = image_debs(self.levels, self.debs, self.index);
        let sbom_packages: Vec<sbom::SbomPackage> = self.levels[self.index]
            .packages
            .iter()
            .map(|p| sbom::SbomPackage {
                package: p,
                license: sbom::declared_license(&p.name, &self.debs[&p.sha256], &image, self.files),
                url: None,
            })
            .collect();
        if sbom_packages.is_empty() {
            return;
        }
        let epoch = self.epoch;
        let created = crate::oci::rfc3339(epoch);
        let doc = sbom::document(&spec.name, &sbom_packages, &[], &created, None);
        for dir in ["usr", "usr/share", "usr/share/sbom"] {
            tree.entry(dir.to_owned())
                .or_insert_with(|| Node::dir(0o755, 0, 0, epoch));
        }
        tree.insert(
            format!("usr/share/sbom/{}.spdx.json", spec.name),
            Node::file(doc, 0o644, epoch, None),
        );
    }
}
