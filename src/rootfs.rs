//! The root filesystem of one layer: packages merged (merged /usr, `[paths]` filters,
//! conflict checks) plus the files that maintainer scripts would have made.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::deb::Deb;
use crate::spec::{Partial, PathFilter};
use crate::tree::{Content, Kind};
/// The tree a level's files go into is `tree`'s; named here too for the callers that fill it.
use crate::tree::{Node, Tree};

pub mod doclinks;
pub mod generated;
pub mod inhouse;
pub mod jks;
pub mod md5sums;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("`/{path}` is shipped with different content by `{first}` and `{second}`")]
    Conflict {
        path: String,
        first: String,
        second: String,
    },
    #[error(
        "`{package}` ships `/{path}` inside `/{link}`, a symlink of its own (dpkg cannot unpack that either)"
    )]
    OwnSymlink {
        package: String,
        path: String,
        link: String,
    },
    #[error("`{package}` ships `/{path}`, but `/{parent}` is not a directory in the image")]
    NotADirectory {
        package: String,
        path: String,
        parent: String,
    },
    #[error("`{package}` ships `/{path}` through too many levels of symbolic links")]
    SymlinkLoop { package: String, path: String },
    #[error(
        "`{package}` ships `/{path}` through the symlink `/{link}`, which leads out of the image root"
    )]
    EscapesRoot {
        package: String,
        path: String,
        link: String,
    },
    #[error("`{package}` ships `/{path}` as a hard link to `/{target}`, which is {what}")]
    HardLink {
        package: String,
        path: String,
        target: String,
        what: &'static str,
    },
    #[error("`/{path}` lies under `/{parent}`, which is not a directory in the image")]
    NotATree { path: String, parent: String },
    #[error("cannot read `/{path}` from the build's file store")]
    Content {
        path: String,
        #[source]
        source: crate::content::ContentError,
    },
    #[error("invalid package name `{0}` (Debian policy: [a-z0-9][a-z0-9+.-]+)")]
    PackageName(String),
}

impl crate::error::Hint for RootfsError {
    fn hint(&self) -> Option<String> {
        match self {
            RootfsError::Conflict { .. } => Some(
                "exclude one of the packages, or drop the path with `[paths] exclude`".to_owned(),
            ),
            _ => None,
        }
    }
}

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
/// `packages` must be sorted by name (the order decides nothing but error messages and,
/// as dpkg's unpack order would, whether a path runs through another package's symlink).
///
/// A path that runs through a directory symlink of a lower layer or of an earlier package
/// lands where the symlink points, inside the image (`resolve`); through a symlink of the
/// same package it is refused, as dpkg (which renames symlinks into place at the end of a
/// package) fails on it. Hard links point at regular files of the same package. A doc
/// directory's symlink to another package's (`/usr/share/doc/libstdc++6 -> gcc-14-base`) that
/// the filters leave out stays where the copyright it leads to is kept (`doclinks::keep`).
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
    // Doc-directory symlinks the filters leave out (`doclinks::keep` decides at the end).
    let mut doc_links: Vec<(String, Node)> = Vec::new();
    let clamp_time = |t: u64| clamp.map_or(t, |c| t.min(c));
    for (name, deb) in packages {
        let only = partial.iter().find(|p| p.package == *name).map(|p| &p.keep);
        // This package's regular files by (resolved) path, for hard links.
        let mut files: BTreeMap<String, Content> = BTreeMap::new();
        // Whether each path of this package is (so far) a regular file.
        let mut own: BTreeMap<String, bool> = BTreeMap::new();
        let mut links: Vec<(String, String)> = Vec::new();
        for entry in &deb.entries {
            let Some(path) = place(&tree, lower, name, &entry.path, entry.kind == Kind::Dir)?
            else {
                continue;
            };
            let kind = match &entry.kind {
                Kind::HardLink(target) => {
                    let target = hard_link_target(&tree, lower, name, &path, target, &own)?;
                    links.push((path.clone(), target.clone()));
                    Kind::HardLink(target)
                }
                k => k.clone(),
            };
            if let Kind::File(data) = &kind {
                files.insert(path.clone(), data.clone());
            }
            own.insert(path.clone(), matches!(kind, Kind::File(_)));
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
            // A partial package still carries what `[paths] keep` asks for (its copyright:
            // licences travel with the binaries).
            if !filter.allows(&abs) || only.is_some_and(|o| !o.allows(&abs) && !filter.keeps(&abs))
            {
                if matches!(node.kind, Kind::Symlink(_))
                    && path
                        .rsplit_once('/')
                        .is_some_and(|(dir, _)| dir == doclinks::DOC)
                {
                    doc_links.push((path, node));
                }
                continue;
            }
            insert(&mut tree, lower, path, node)?;
        }
        copy_unlinked(&mut tree, name, &links, &own, &files)?;
    }
    doclinks::keep(&mut tree, lower, filter, doc_links);
    add_parents(&mut tree, lower, &dirs);
    canonicalize_hardlinks(&mut tree);
    check_tree(&tree, lower)?;
    Ok(tree)
}

/// Symlinks followed while resolving one path (Linux's limit).
const MAX_SYMLINKS: usize = 40;

/// Where a package's path lands: merged /usr applied, then `resolve`d. `None`: not placed
/// (a top-level merged-/usr directory or the root itself).
fn place(
    tree: &Tree,
    lower: &Tree,
    package: &str,
    path: &str,
    is_dir: bool,
) -> Result<Option<String>, RootfsError> {
    let Some(path) = usrmerge(path) else {
        return Ok(None);
    };
    let Some(resolved) = resolve(tree, lower, package, &path, is_dir)? else {
        return Ok(None);
    };
    Ok(usrmerge(&resolved))
}

/// Resolve the parent directories of `path` (and `path` itself when `follow_last`, for a
/// directory) through the symlinks of this level (`tree`) and the lower ones, as the
/// kernel would inside the image: an absolute target starts again at the image root, the
/// top-level merged-/usr directories are their symlinks (`lib` -> `usr/lib`). A target
/// whose `..` climbs above the root is refused (an unpacker on the host would leave the
/// root there), so is a symlink of `package` itself in this level (see `assemble`) and a
/// parent that is not a directory. `None` for the root.
pub fn resolve(
    tree: &Tree,
    lower: &Tree,
    package: &str,
    path: &str,
    follow_last: bool,
) -> Result<Option<String>, RootfsError> {
    let shown = |p: &str| p.escape_debug().to_string();
    let mut todo: VecDeque<&str> = path.split('/').collect();
    let last = if follow_last { None } else { todo.pop_back() };
    let mut at = Walked::default();
    let mut hops = 0;
    // The last symlink followed: only a symlink's target can hold `..`.
    let mut via = String::new();
    while let Some(part) = todo.pop_front() {
        match part {
            "" | "." => continue,
            ".." => {
                if !at.pop() {
                    return Err(RootfsError::EscapesRoot {
                        package: package.to_owned(),
                        path: shown(path),
                        link: shown(&via),
                    });
                }
                continue;
            }
            p if at.starts.is_empty() && MERGED_DIRS.contains(&p) => at.push("usr"),
            _ => {}
        }
        at.push(part);
        let (node, this_level) = match tree.get(&at.here) {
            Some(n) => (Some(n), true),
            None => (lower.get(&at.here), false),
        };
        match node.map(|n| &n.kind) {
            None | Some(Kind::Dir) => {}
            Some(Kind::Symlink(target)) => {
                if this_level && node.and_then(|n| n.package.as_deref()) == Some(package) {
                    return Err(RootfsError::OwnSymlink {
                        package: package.to_owned(),
                        path: shown(path),
                        link: shown(&at.here),
                    });
                }
                hops += 1;
                via.clone_from(&at.here);
                if hops > MAX_SYMLINKS {
                    return Err(RootfsError::SymlinkLoop {
                        package: package.to_owned(),
                        path: shown(path),
                    });
                }
                at.replace_last(target);
                walk_target_first(&mut todo, target);
            }
            Some(_) => {
                return Err(RootfsError::NotADirectory {
                    package: package.to_owned(),
                    path: shown(path),
                    parent: shown(&at.here),
                });
            }
        }
    }
    if let Some(last) = last {
        at.push(last);
    }
    Ok(Some(at.here).filter(|p| !p.is_empty()))
}

/// The resolved prefix of a path being resolved, and where each of its components starts.
#[derive(Default)]
struct Walked {
    here: String,
    starts: Vec<usize>,
}

impl Walked {
    fn push(&mut self, part: &str) {
        self.starts.push(self.here.len());
        if !self.here.is_empty() {
            self.here.push('/');
        }
        self.here.push_str(part);
    }

    /// Drop the last component; `false` at the root.
    fn pop(&mut self) -> bool {
        let Some(start) = self.starts.pop() else {
            return false;
        };
        self.here.truncate(start);
        true
    }

    /// The last component is a symlink to `target`: drop it, and everything when the
    /// target is absolute (it starts again at the image root).
    fn replace_last(&mut self, target: &str) {
        self.here.truncate(self.starts.pop().unwrap_or(0));
        if target.starts_with('/') {
            self.here.clear();
            self.starts.clear();
        }
    }
}

/// Put the components of a symlink's `target` first in what is still to walk.
fn walk_target_first<'a>(todo: &mut VecDeque<&'a str>, target: &'a str) {
    for part in target.split('/').rev() {
        todo.push_front(part);
    }
}

/// The resolved target of a hard link at `path`: it must be a regular file the package
/// shipped before the link (tar order), never a symlink, a directory or a missing path.
fn hard_link_target(
    tree: &Tree,
    lower: &Tree,
    package: &str,
    path: &str,
    target: &str,
    own: &BTreeMap<String, bool>,
) -> Result<String, RootfsError> {
    let resolved = place(tree, lower, package, target, false)?;
    let refuse = |what| RootfsError::HardLink {
        package: package.to_owned(),
        path: path.escape_debug().to_string(),
        target: target.escape_debug().to_string(),
        what,
    };
    let Some(resolved) = resolved else {
        return Err(refuse("a directory"));
    };
    match own.get(&resolved) {
        Some(true) => Ok(resolved),
        Some(false) => Err(refuse(
            match tree.get(&resolved).or_else(|| lower.get(&resolved)) {
                Some(n) if matches!(n.kind, Kind::Symlink(_)) => "a symlink",
                Some(n) if n.kind == Kind::Dir => "a directory",
                _ => "not a regular file",
            },
        )),
        None => Err(refuse("not a regular file shipped before it")),
    }
}

/// After a package: each of its hard links must still point at a regular file (a later
/// entry may have replaced it); a link whose target is not in this layer (filtered out, or
/// identical to a lower layer's file) becomes a copy of the file.
fn copy_unlinked(
    tree: &mut Tree,
    package: &str,
    links: &[(String, String)],
    own: &BTreeMap<String, bool>,
    files: &BTreeMap<String, Content>,
) -> Result<(), RootfsError> {
    for (path, target) in links {
        if own.get(target) != Some(&true) {
            return Err(RootfsError::HardLink {
                package: package.to_owned(),
                path: path.escape_debug().to_string(),
                target: target.escape_debug().to_string(),
                what: "replaced by a later entry that is not a regular file",
            });
        }
        let target_is_file = matches!(tree.get(target).map(|n| &n.kind), Some(Kind::File(_)));
        if let Some(node) = tree.get_mut(path)
            && node.package.as_deref() == Some(package)
            && matches!(node.kind, Kind::HardLink(_))
            && !target_is_file
            && let Some(data) = files.get(target)
        {
            node.kind = Kind::File(data.clone());
        }
    }
    Ok(())
}

/// The layer `tree` on top of `lower` is a tree: every parent of every entry is a
/// directory (never a symlink, which an unpacker would follow, nor a file), a
/// non-directory never replaces a lower directory, and every hard link points at a regular
/// file of this layer.
pub fn check_tree(tree: &Tree, lower: &Tree) -> Result<(), RootfsError> {
    let not_a_tree = |path: &str, parent: &str| RootfsError::NotATree {
        path: path.escape_debug().to_string(),
        parent: parent.escape_debug().to_string(),
    };
    for (path, node) in tree {
        let mut p = path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            let kind = tree
                .get(parent)
                .or_else(|| lower.get(parent))
                .map(|n| &n.kind);
            if !matches!(kind, None | Some(Kind::Dir)) {
                return Err(not_a_tree(path, parent));
            }
            p = parent;
        }
        if node.kind != Kind::Dir && lower.get(path).is_some_and(|n| n.kind == Kind::Dir) {
            let prefix = format!("{path}/");
            if let Some((child, _)) = lower.range(prefix.clone()..).next()
                && child.starts_with(&prefix)
            {
                return Err(not_a_tree(child, path));
            }
        }
        if let Kind::HardLink(target) = &node.kind
            && !matches!(tree.get(target).map(|n| &n.kind), Some(Kind::File(_)))
        {
            return Err(RootfsError::HardLink {
                package: node.package.clone().unwrap_or_else(|| "compose".into()),
                path: path.escape_debug().to_string(),
                target: target.escape_debug().to_string(),
                what: "not a regular file of the layer",
            });
        }
    }
    Ok(())
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
    if node.kind != Kind::Dir {
        // A directory of this layer (its children may come before their parent entry).
        let prefix = format!("{path}/");
        if let Some((k, child)) = tree.range(prefix.clone()..).next()
            && k.starts_with(&prefix)
        {
            return Err(conflict(child));
        }
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

/// A level's layer carries a directory that a lower level already has only as that level
/// has it (mode, owner, mtime; a tar entry would re-write them) and only as the parent of
/// something of its own. Generated files of an upper level (the CA bundle's `/etc/ssl`, the
/// SBOM's `/usr/share/sbom`) use this to leave the lower directories alone.
pub fn settle_dirs(tree: &mut Tree, lower: &Tree) {
    tree.retain(|path, node| {
        node.kind != Kind::Dir || !lower.get(path).is_some_and(|n| n.kind == Kind::Dir)
    });
    add_parents(tree, lower, &BTreeMap::new());
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
    use crate::rootfs::generated;

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

    /// Issue 23: a package whose doc directory is a symlink to another package's keeps it
    /// where that copyright is kept, whichever of the two is unpacked first.
    #[test]
    fn doc_links_stay_where_the_copyright_they_lead_to_is_kept() {
        let mut link = file("usr/share/doc/libncursesw6", "");
        link.kind = Kind::Symlink("libtinfo6".into());
        let ncurses = deb(vec![file("usr/lib/libncursesw.so.6", "n"), link]);
        let tinfo = deb(vec![
            file("usr/share/doc/libtinfo6/copyright", "c"),
            file("usr/share/doc/libtinfo6/changelog.gz", "x"),
        ]);
        let f = filter(&["/usr/share/doc/**"], &["/usr/share/doc/*/copyright"]);
        let both = [("libncursesw6", &ncurses), ("libtinfo6", &tinfo)];
        let t = assemble(&both, &f, &[], &Tree::new(), None).unwrap();
        let kept = &t["usr/share/doc/libncursesw6"];
        assert_eq!(kept.kind, Kind::Symlink("libtinfo6".into()));
        assert_eq!(kept.package.as_deref(), Some("libncursesw6"));
        assert!(!t.contains_key("usr/share/doc/libtinfo6/changelog.gz"));
        // The target's copyright in a lower level counts too.
        let lower = assemble(&both[1..], &f, &[], &Tree::new(), None).unwrap();
        let t = assemble(&both[..1], &f, &[], &lower, None).unwrap();
        assert_eq!(t["usr/share/doc/libncursesw6"].kind, kept.kind);
        // Without the target's copyright in the image, or with no copyright kept, it goes.
        let t = assemble(&both[..1], &f, &[], &Tree::new(), None).unwrap();
        assert!(!t.contains_key("usr/share/doc/libncursesw6"));
        let no_copyright = filter(&["/usr/share/doc/**"], &[]);
        let t = assemble(&both, &no_copyright, &[], &Tree::new(), None).unwrap();
        assert!(!t.keys().any(|k| k.starts_with("usr/share/doc")), "{t:?}");
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
        // What `[paths] keep` asks for stays too (issue 12: licences travel with binaries),
        // and nothing else the level's filter would allow.
        let d = deb(vec![
            file("usr/lib/locale/C.utf8/LC_CTYPE", "ctype"),
            file("usr/share/doc/libc-bin/copyright", "licence"),
            file("usr/share/doc/libc-bin/changelog.gz", "log"),
        ]);
        let f = filter(&["/usr/share/doc/**"], &["/usr/share/doc/*/copyright"]);
        let t = assemble(&[("libc-bin", &d)], &f, &partial, &Tree::new(), None).unwrap();
        assert!(t.contains_key("usr/share/doc/libc-bin/copyright"));
        assert!(!t.contains_key("usr/share/doc/libc-bin/changelog.gz"));
    }

    #[test]
    fn upper_levels_carry_lower_directories_as_the_lower_level_has_them() {
        let mut lower = Tree::new();
        lower.insert("etc".into(), Node::dir(0o755, 0, 0, 10));
        lower.insert("etc/ssl".into(), Node::dir(0o755, 0, 0, 10));
        lower.insert("usr".into(), Node::dir(0o755, 0, 0, 10));
        lower.insert("usr/share".into(), Node::dir(0o755, 0, 0, 10));
        let mut t = Tree::new();
        // What a generator of an upper level writes with its own epoch.
        t.insert("etc".into(), Node::dir(0o755, 0, 0, 99));
        t.insert("etc/ssl".into(), Node::dir(0o700, 0, 0, 99));
        t.insert("etc/ssl/new".into(), Node::dir(0o755, 0, 0, 99));
        t.insert(
            "etc/ssl/new/f".into(),
            Node::file(&b"x"[..], 0o644, 99, None),
        );
        t.insert("usr/share".into(), Node::dir(0o755, 0, 0, 99));
        settle_dirs(&mut t, &lower);
        assert_eq!(t["etc"], lower["etc"]);
        assert_eq!(t["etc/ssl"], lower["etc/ssl"]);
        assert_eq!(
            t["etc/ssl/new"].mtime, 99,
            "a new directory keeps its own metadata"
        );
        assert!(
            !t.contains_key("usr/share") && !t.contains_key("usr"),
            "a lower directory with nothing new under it stays out of the layer"
        );
    }

    fn entry(path: &str, kind: Kind) -> Entry {
        Entry {
            kind,
            ..file(path, "")
        }
    }

    fn link(path: &str, target: &str) -> Entry {
        entry(path, Kind::Symlink(target.into()))
    }

    fn one(d: &Deb, lower: &Tree) -> Result<Tree, RootfsError> {
        assemble(&[("p", d)], &filter(&[], &[]), &[], lower, None)
    }

    /// A lower layer with merged /usr, `/etc/passwd` and `usr/lib/x -> /etc`.
    fn lower_with(link_target: &str) -> Tree {
        let mut t = Tree::new();
        generated::base_files(&mut t, "amd64", 0);
        t.insert("usr/lib/x".into(), Node::symlink(link_target, 0));
        t
    }

    fn entries_through_symlinks(tree: &Tree, lower: &Tree) -> Vec<String> {
        tree.keys()
            .filter(|p| {
                let mut q = p.as_str();
                let mut bad = false;
                while let Some((parent, _)) = q.rsplit_once('/') {
                    let n = tree.get(parent).or_else(|| lower.get(parent));
                    bad |= n.is_some_and(|n| n.kind != Kind::Dir);
                    q = parent;
                }
                bad
            })
            .cloned()
            .collect()
    }

    #[test]
    fn paths_through_lower_symlinks_are_resolved_inside_the_root() {
        for target in ["/etc", "../../etc", "/usr/../etc/.", "/usr/lib/../../etc"] {
            let lower = lower_with(target);
            let d = deb(vec![file("usr/lib/x/hosts", "h")]);
            let t = one(&d, &lower).unwrap();
            assert!(t.contains_key("etc/hosts"), "{target}: {:?}", t.keys());
            assert!(!t.contains_key("usr/lib/x/hosts"));
            assert!(entries_through_symlinks(&t, &lower).is_empty());
            // The image's own /etc/passwd: as for any path, a conflict.
            let d = deb(vec![file("usr/lib/x/passwd", "root::0:0::/:/bin/sh\n")]);
            let e = one(&d, &lower).unwrap_err().to_string();
            assert!(
                e.contains("`/etc/passwd` is shipped with different content by `compose` and `p`"),
                "{e}"
            );
        }
    }

    #[test]
    fn symlinks_that_climb_above_the_root_are_refused() {
        for target in [
            "../../../etc",
            "../../../../../etc",
            "/../etc",
            "/usr/../../etc",
        ] {
            let lower = lower_with(target);
            let d = deb(vec![file("usr/lib/x/hosts", "h")]);
            let e = one(&d, &lower).unwrap_err().to_string();
            assert_eq!(
                e,
                "`p` ships `/usr/lib/x/hosts` through the symlink `/usr/lib/x`, which leads out of the image root",
                "{target}"
            );
        }
    }

    #[test]
    fn symlinks_of_earlier_packages_are_followed_own_symlinks_refused() {
        let a = deb(vec![link("usr/lib/x", "/etc")]);
        let b = deb(vec![file("usr/lib/x/conf", "c")]);
        let f = filter(&[], &[]);
        let t = assemble(&[("a", &a), ("b", &b)], &f, &[], &Tree::new(), None).unwrap();
        assert!(t.contains_key("etc/conf") && !t.contains_key("usr/lib/x/conf"));
        // The other order: `usr/lib/x` is a directory when `a` comes; its symlink conflicts.
        let e = assemble(&[("b", &b), ("a", &a)], &f, &[], &Tree::new(), None).unwrap_err();
        assert!(
            e.to_string()
                .contains("`/usr/lib/x` is shipped with different content"),
            "{e}"
        );
        // One package: symlink then a file through it, refused as dpkg fails on it.
        let d = deb(vec![
            link("usr/lib/x", "/etc"),
            file("usr/lib/x/passwd", "x"),
        ]);
        let e = one(&d, &Tree::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`p` ships `/usr/lib/x/passwd` inside `/usr/lib/x`, a symlink of its own (dpkg cannot unpack that either)"
        );
    }

    #[test]
    fn bad_parents_and_loops_are_refused() {
        let mut lower = lower_with("/etc");
        lower.insert("usr/lib/f".into(), Node::file(&b"f"[..], 0o644, 0, None));
        lower.insert("usr/lib/l1".into(), Node::symlink("l2", 0));
        lower.insert("usr/lib/l2".into(), Node::symlink("/usr/lib/l1", 0));
        let e = one(&deb(vec![file("usr/lib/f/g", "")]), &lower).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`p` ships `/usr/lib/f/g`, but `/usr/lib/f` is not a directory in the image"
        );
        let e = one(&deb(vec![file("usr/lib/x/passwd/g", "")]), &lower).unwrap_err();
        assert!(
            e.to_string().contains("`/etc/passwd` is not a directory"),
            "{e}"
        );
        let e = one(&deb(vec![file("usr/lib/l1/g", "")]), &lower).unwrap_err();
        assert!(
            e.to_string().contains("too many levels of symbolic links"),
            "{e}"
        );
    }

    #[test]
    fn merged_usr_keeps_working() {
        let mut lower = Tree::new();
        generated::base_files(&mut lower, "amd64", 0);
        lower.insert("usr/lib/jvm".into(), Node::dir(0o755, 0, 0, 0));
        lower.insert(
            "usr/lib/jvm/default".into(),
            Node::symlink("/lib/jvm/real", 0),
        );
        let d = deb(vec![
            entry("lib", Kind::Dir),
            entry("lib/x86_64-linux-gnu", Kind::Dir),
            file("lib/x86_64-linux-gnu/libc.so.6", "c"),
            file("usr/lib/jvm/default/release", "r"),
            entry("bin", Kind::Dir),
            file("bin/sh", "sh"),
        ]);
        let t = one(&d, &lower).unwrap();
        assert!(t.contains_key("usr/lib/x86_64-linux-gnu/libc.so.6"));
        assert!(t.contains_key("usr/lib/jvm/real/release"));
        assert!(t.contains_key("usr/bin/sh"));
        assert!(entries_through_symlinks(&t, &lower).is_empty());
    }

    #[test]
    fn hard_links_only_to_earlier_regular_files_of_the_package() {
        let hl = |p: &str, t: &str| entry(p, Kind::HardLink(t.into()));
        let cases = [
            (
                vec![link("usr/s", "/etc/shadow"), hl("usr/h", "usr/s")],
                "a symlink",
            ),
            (
                vec![entry("usr/d", Kind::Dir), hl("usr/h", "usr/d")],
                "a directory",
            ),
            (
                vec![hl("usr/h", "usr/missing")],
                "not a regular file shipped before it",
            ),
            // The target turns into a symlink to /etc/shadow after the link.
            (
                vec![
                    file("usr/t", "x"),
                    hl("usr/h", "usr/t"),
                    link("usr/t", "/etc/shadow"),
                ],
                "",
            ),
        ];
        for (entries, what) in cases {
            let e = one(&deb(entries), &Tree::new()).unwrap_err().to_string();
            assert!(
                e.contains("`p` ships `/usr/h` as a hard link to `/usr/")
                    || e.contains("`/usr/t` is shipped"),
                "{e}"
            );
            assert!(e.contains(what), "{e}");
        }
        // Identical to a lower file: the link becomes a copy, never a dangling link.
        let mut lower = Tree::new();
        lower.insert("usr".into(), Node::dir(0o755, 0, 0, 0));
        lower.insert("usr/t".into(), Node::file(&b"x"[..], 0o644, 100, Some("q")));
        let t = one(&deb(vec![file("usr/t", "x"), hl("usr/h", "usr/t")]), &lower).unwrap();
        assert_eq!(t["usr/h"].kind, Kind::File(b"x"[..].into()));
    }

    #[test]
    fn check_tree_catches_generated_entries_under_symlinks() {
        let mut t = Tree::new();
        t.insert("etc".into(), Node::symlink("/tmp", 0));
        t.insert("etc/passwd".into(), Node::file(&b""[..], 0o644, 0, None));
        let e = check_tree(&t, &Tree::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`/etc/passwd` lies under `/etc`, which is not a directory in the image"
        );
        let mut lower = Tree::new();
        lower.insert("opt".into(), Node::dir(0o755, 0, 0, 0));
        lower.insert("opt/a".into(), Node::dir(0o755, 0, 0, 0));
        let mut t = Tree::new();
        t.insert("opt".into(), Node::symlink("/usr", 0));
        assert!(check_tree(&t, &lower).is_err());
    }
}
