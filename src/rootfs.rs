//! The root filesystem of one layer: packages merged (merged /usr, `[paths]` filters,
//! conflict checks) plus the files that maintainer scripts would have made.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::deb::{Deb, Kind};
use crate::spec::{Partial, PathFilter};

pub mod generated;
pub mod jks;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error(
        "`/{path}` is shipped with different content by `{first}` and `{second}`\n\nhint: exclude one of the packages, or drop the path with `[paths] exclude`"
    )]
    Conflict {
        path: String,
        first: String,
        second: String,
    },
}

/// One file system entry of a layer, and the package it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    /// The package that shipped it, or `None` for generated entries.
    pub package: Option<String>,
}

impl Node {
    pub fn dir(mode: u32, uid: u64, gid: u64, mtime: u64) -> Node {
        Node {
            kind: Kind::Dir,
            mode,
            uid,
            gid,
            mtime,
            package: None,
        }
    }

    pub fn file(data: impl Into<Arc<[u8]>>, mode: u32, mtime: u64, package: Option<&str>) -> Node {
        Node {
            kind: Kind::File(data.into()),
            mode,
            uid: 0,
            gid: 0,
            mtime,
            package: package.map(str::to_owned),
        }
    }

    pub fn symlink(target: &str, mtime: u64) -> Node {
        Node {
            kind: Kind::Symlink(target.to_owned()),
            mode: 0o777,
            uid: 0,
            gid: 0,
            mtime,
            package: None,
        }
    }

    /// Same content and metadata, whoever shipped it.
    fn same_as(&self, other: &Node) -> bool {
        self.kind == other.kind
            && self.mode == other.mode
            && self.uid == other.uid
            && self.gid == other.gid
    }
}

/// A layer's entries by normalized path (`usr/bin/python3`), in the byte order a tar gets.
pub type Tree = BTreeMap<String, Node>;

/// Top-level directories that merged /usr turns into symlinks to `usr/<dir>`.
pub const MERGED_DIRS: [&str; 7] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32", "libo32"];

/// Rewrite a package path for merged /usr: `bin/sh` -> `usr/bin/sh`. Returns `None` for the
/// top-level directories themselves (the image has its own symlinks there).
pub fn usrmerge(path: &str) -> Option<String> {
    let (top, rest) = path.split_once('/').unwrap_or((path, ""));
    if MERGED_DIRS.contains(&top) {
        if rest.is_empty() {
            None
        } else {
            Some(format!("usr/{path}"))
        }
    } else {
        Some(path.to_owned())
    }
}

/// Merge the packages of one layer. `lower` holds every entry of the layers beneath it;
/// entries identical to a lower one are left out, different ones are conflicts.
/// `packages` must be sorted by name (the order decides nothing but error messages).
pub fn assemble(
    packages: &[(&str, &Deb)],
    filter: &PathFilter,
    partial: &[Partial],
    lower: &Tree,
    clamp: Option<u64>,
) -> Result<Tree, RootfsError> {
    let mut tree = Tree::new();
    // Directory metadata seen in any package, to recreate parents of kept paths.
    let mut dirs: BTreeMap<String, Node> = BTreeMap::new();
    let clamp_time = |t: u64| clamp.map_or(t, |c| t.min(c));
    for (name, deb) in packages {
        let only = partial.iter().find(|p| p.package == *name).map(|p| &p.keep);
        // Contents of this package's regular files by (rewritten) path, for hard links.
        let mut files: BTreeMap<String, Arc<[u8]>> = BTreeMap::new();
        for entry in &deb.entries {
            let Some(path) = usrmerge(&entry.path) else {
                continue;
            };
            let mut kind = entry.kind.clone();
            if let Kind::File(data) = &kind {
                files.insert(path.clone(), data.clone());
            }
            if let Kind::HardLink(target) = &kind {
                let target = usrmerge(target).unwrap_or_default();
                kind = Kind::HardLink(target);
            }
            let node = Node {
                kind,
                mode: entry.mode,
                uid: entry.uid,
                gid: entry.gid,
                mtime: clamp_time(entry.mtime),
                package: Some((*name).to_owned()),
            };
            if node.kind == Kind::Dir {
                dirs.entry(path.clone()).or_insert_with(|| node.clone());
            }
            let abs = format!("/{path}");
            if !filter.allows(&abs) || only.is_some_and(|o| !o.allows(&abs)) {
                continue;
            }
            insert(&mut tree, lower, path, node)?;
        }
        // A hard link whose target was filtered out becomes a copy of the file.
        for node in tree.values_mut() {
            if node.package.as_deref() != Some(*name) {
                continue;
            }
            if let Kind::HardLink(target) = &node.kind
                && !filter.allows(&format!("/{target}"))
                && let Some(data) = files.get(target)
            {
                node.kind = Kind::File(data.clone());
            }
        }
    }
    add_parents(&mut tree, lower, &dirs);
    canonicalize_hardlinks(&mut tree);
    Ok(tree)
}

/// Insert one entry, checking it against this layer and the lower ones.
pub fn insert(tree: &mut Tree, lower: &Tree, path: String, node: Node) -> Result<(), RootfsError> {
    let conflict = |other: &Node| RootfsError::Conflict {
        path: path.clone(),
        first: other.package.clone().unwrap_or_else(|| "compose".into()),
        second: node.package.clone().unwrap_or_else(|| "compose".into()),
    };
    if let Some(old) = lower.get(&path) {
        if old.kind == Kind::Dir && node.kind == Kind::Dir {
            return Ok(()); // already there; re-added below only as a parent if needed
        }
        if old.same_as(&node) {
            return Ok(());
        }
        return Err(conflict(old));
    }
    match tree.get(&path) {
        None => {
            tree.insert(path, node);
        }
        Some(old) if old.kind == Kind::Dir && node.kind == Kind::Dir => {}
        Some(old) if old.same_as(&node) => {}
        // Two hard links of different packages to identical files are identical too.
        Some(old) => return Err(conflict(old)),
    }
    Ok(())
}

/// Every entry's parent directories must be in the layer (tar extractors create missing
/// ones with arbitrary metadata). Metadata comes from the lower layer, then the packages.
pub fn add_parents(tree: &mut Tree, lower: &Tree, dirs: &BTreeMap<String, Node>) {
    let mut needed = BTreeSet::new();
    for path in tree.keys() {
        let mut p = path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            needed.insert(parent.to_owned());
            p = parent;
        }
    }
    for parent in needed {
        if tree.contains_key(&parent) {
            continue;
        }
        let node = lower
            .get(&parent)
            .filter(|n| n.kind == Kind::Dir)
            .or_else(|| dirs.get(&parent))
            .cloned()
            .unwrap_or_else(|| Node::dir(0o755, 0, 0, 0));
        tree.insert(parent, node);
    }
}

/// In a tar, a hard link must follow the file it links to. Make the first path of each
/// group (in tar order) hold the data and the others link to it.
fn canonicalize_hardlinks(tree: &mut Tree) {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, node) in tree.iter() {
        if let Kind::HardLink(target) = &node.kind {
            groups.entry(target.clone()).or_default().push(path.clone());
        }
    }
    for (target, links) in groups {
        let Some(holder) = tree.get(&target).cloned() else {
            // Target missing from this layer: each link becomes a dangling entry we cannot
            // write; drop them (this only happens when a filter removed both).
            for l in links {
                tree.remove(&l);
            }
            continue;
        };
        if !matches!(holder.kind, Kind::File(_)) {
            continue;
        }
        let first = links
            .iter()
            .chain(std::iter::once(&target))
            .min()
            .expect("non-empty")
            .clone();
        for path in links.iter().chain(std::iter::once(&target)) {
            let node = tree.get_mut(path).expect("present");
            if *path == first {
                node.kind = holder.kind.clone();
            } else {
                node.kind = Kind::HardLink(first.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deb::Entry;

    fn filter(exclude: &[&str], keep: &[&str]) -> PathFilter {
        PathFilter::new(
            exclude.iter().map(|s| s.to_string()).collect(),
            keep.iter().map(|s| s.to_string()).collect(),
        )
        .unwrap()
    }

    fn file(path: &str, data: &str) -> Entry {
        Entry {
            path: path.into(),
            kind: Kind::File(data.as_bytes().into()),
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 100,
        }
    }

    fn deb(entries: Vec<Entry>) -> Deb {
        Deb {
            control: String::new(),
            md5sums: None,
            entries,
        }
    }

    #[test]
    fn usrmerge_rewrites_top_level_dirs() {
        assert_eq!(usrmerge("bin/sh").as_deref(), Some("usr/bin/sh"));
        assert_eq!(usrmerge("lib64/ld.so").as_deref(), Some("usr/lib64/ld.so"));
        assert_eq!(usrmerge("bin"), None);
        assert_eq!(usrmerge("etc/passwd").as_deref(), Some("etc/passwd"));
        assert_eq!(usrmerge("library/x").as_deref(), Some("library/x"));
    }

    #[test]
    fn conflicts_name_both_packages_and_identical_files_merge() {
        let a = deb(vec![file("usr/share/x", "one")]);
        let b = deb(vec![file("usr/share/x", "two")]);
        let c = deb(vec![file("usr/share/x", "one")]);
        let f = filter(&[], &[]);
        let e = assemble(&[("a", &a), ("b", &b)], &f, &[], &Tree::new(), None).unwrap_err();
        assert!(e.to_string().contains("`a` and `b`"), "{e}");
        let t = assemble(&[("a", &a), ("c", &c)], &f, &[], &Tree::new(), None).unwrap();
        assert_eq!(t["usr/share/x"].package.as_deref(), Some("a"));
        // Against a lower layer: identical is skipped, different is a conflict.
        let t2 = assemble(&[("c", &c)], &f, &[], &t, None).unwrap();
        assert!(!t2.contains_key("usr/share/x"));
        assert!(assemble(&[("b", &b)], &f, &[], &t, None).is_err());
    }

    #[test]
    fn filters_keep_wins_and_parents_are_added() {
        let d = deb(vec![
            file("usr/share/doc/p/copyright", "c"),
            file("usr/share/doc/p/changelog.gz", "x"),
            file("bin/tool", "t"),
        ]);
        let f = filter(&["/usr/share/doc/**"], &["/usr/share/doc/*/copyright"]);
        let t = assemble(&[("p", &d)], &f, &[], &Tree::new(), Some(50)).unwrap();
        let paths: Vec<_> = t.keys().cloned().collect();
        assert_eq!(
            paths,
            [
                "usr",
                "usr/bin",
                "usr/bin/tool",
                "usr/share",
                "usr/share/doc",
                "usr/share/doc/p",
                "usr/share/doc/p/copyright"
            ]
        );
        assert_eq!(t["usr/bin/tool"].mtime, 50, "mtime clamped");
    }

    #[test]
    fn hard_links_point_at_the_first_path() {
        let mut link = file("usr/bin/a-alias", "");
        link.kind = Kind::HardLink("usr/bin/z".into());
        let d = deb(vec![file("usr/bin/z", "data"), link]);
        let t = assemble(&[("p", &d)], &filter(&[], &[]), &[], &Tree::new(), None).unwrap();
        assert!(matches!(t["usr/bin/a-alias"].kind, Kind::File(_)));
        assert_eq!(
            t["usr/bin/z"].kind,
            Kind::HardLink("usr/bin/a-alias".into())
        );
        // Target filtered out: the link becomes a copy.
        let mut link = file("usr/bin/alias", "");
        link.kind = Kind::HardLink("usr/bin/real".into());
        let d = deb(vec![file("usr/bin/real", "data"), link]);
        let t = assemble(
            &[("p", &d)],
            &filter(&["/usr/bin/real"], &[]),
            &[],
            &Tree::new(),
            None,
        )
        .unwrap();
        assert_eq!(t["usr/bin/alias"].kind, Kind::File(b"data"[..].into()));
    }

    #[test]
    fn partial_packages_keep_only_their_globs() {
        let d = deb(vec![
            file("usr/lib/locale/C.utf8/LC_CTYPE", "ctype"),
            file("usr/bin/locale", "prog"),
        ]);
        let partial = [Partial {
            package: "libc-bin".into(),
            keep: filter(&["/**"], &["/usr/lib/locale/C.utf8/**"]),
        }];
        let t = assemble(
            &[("libc-bin", &d)],
            &filter(&[], &[]),
            &partial,
            &Tree::new(),
            None,
        )
        .unwrap();
        assert!(t.contains_key("usr/lib/locale/C.utf8/LC_CTYPE"));
        assert!(!t.contains_key("usr/bin/locale"));
        assert!(t.contains_key("usr/lib/locale"), "parents are kept");
    }
}
