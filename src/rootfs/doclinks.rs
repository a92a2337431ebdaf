//! A package's `/usr/share/doc/<package>` symlink to another package's doc directory
//! (`libstdc++6 -> gcc-14-base`): where it points, and keeping it in the image where the
//! copyright it leads to is kept, so scanners that follow it (Syft) find the licence.

use crate::spec::PathFilter;
use crate::tree::{Kind, Node, Tree};

/// Where packages keep their documentation (relative to the root).
pub const DOC: &str = "usr/share/doc";

/// The doc directory a symlink at `path` (`usr/share/doc/libstdc++6`) with `target`
/// (`gcc-14-base`, `/usr/share/doc/gcc-14-base`, `../doc/gcc-14-base`) points to: another
/// directory right under `usr/share/doc` named as a package is named, else `None`.
pub fn points_to(path: &str, target: &str) -> Option<String> {
    let (parent, name) = path.rsplit_once('/')?;
    if parent != DOC || !crate::package::valid_name(name) {
        return None;
    }
    let mut at: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        DOC.split('/').collect()
    };
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                at.pop()?;
            }
            p => at.push(p),
        }
    }
    let dir = at.pop()?;
    (at.join("/") == DOC && dir != name && crate::package::valid_name(dir)).then(|| dir.to_owned())
}

/// The copyright file of the doc directory `dir` (`usr/share/doc/<dir>/copyright`).
pub fn copyright(dir: &str) -> String {
    format!("{DOC}/{dir}/copyright")
}

/// Of the doc symlinks `filter` left out of a level (`links`, by path), put back in `tree`
/// each one through which `filter` keeps the copyright (`/usr/share/doc/<package>/copyright`
/// is a kept path) and whose target's copyright is a file of the image (this level or
/// `lower`). A link over something the image already has at or under its path stays out.
pub fn keep(tree: &mut Tree, lower: &Tree, filter: &PathFilter, links: Vec<(String, Node)>) {
    for (path, node) in links {
        let Kind::Symlink(target) = &node.kind else {
            continue;
        };
        let Some(dir) = points_to(&path, target) else {
            continue;
        };
        if !filter.keeps(&format!("/{path}/copyright")) {
            continue;
        }
        let file = copyright(&dir);
        let is_file = |t: &Tree| {
            t.get(&file)
                .is_some_and(|n| matches!(n.kind, Kind::File(_) | Kind::HardLink(_)))
        };
        if !(is_file(tree) || is_file(lower)) || occupied(tree, &path) || occupied(lower, &path) {
            continue;
        }
        tree.insert(path, node);
    }
}

/// Whether `tree` has an entry at `path` or under it.
fn occupied(tree: &Tree, path: &str) -> bool {
    let prefix = format!("{path}/");
    tree.contains_key(path)
        || tree
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_doc_link_points_to_a_sibling_doc_directory_only() {
        let at = |target: &str| points_to("usr/share/doc/libstdc++6", target);
        for target in [
            "gcc-14-base",
            "gcc-14-base/",
            "./gcc-14-base",
            "/usr/share/doc/gcc-14-base",
            "../doc/gcc-14-base",
        ] {
            assert_eq!(at(target).as_deref(), Some("gcc-14-base"), "{target}");
        }
        for target in [
            "",
            ".",
            "..",
            "libstdc++6",
            "/etc",
            "../../../../../etc",
            "gcc-14-base/sub",
            "/usr/share/gcc-14-base",
            "Bad_Name",
        ] {
            assert_eq!(at(target), None, "{target}");
        }
        assert_eq!(points_to("usr/share/doc/p/q", "r"), None, "not a doc dir");
        assert_eq!(points_to("usr/lib/p", "r"), None);
    }

    #[test]
    fn a_doc_link_stays_where_the_copyright_it_leads_to_is_kept() {
        let filter = |keep: &[&str]| {
            PathFilter::new(
                vec!["/usr/share/doc/**".into()],
                keep.iter().map(|s| (*s).to_owned()).collect(),
            )
            .unwrap()
        };
        let link = || {
            vec![(
                "usr/share/doc/libstdc++6".to_owned(),
                Node::symlink("gcc-14-base", 0),
            )]
        };
        let copyright = Node::file(&b"Format: x\n"[..], 0o644, 0, Some("gcc-14-base"));
        let mut lower = Tree::new();
        lower.insert("usr/share/doc/gcc-14-base/copyright".into(), copyright);
        let kept = filter(&["/usr/share/doc/*/copyright"]);
        let mut t = Tree::new();
        keep(&mut t, &lower, &kept, link());
        assert_eq!(
            t["usr/share/doc/libstdc++6"].kind,
            Kind::Symlink("gcc-14-base".into())
        );
        // Not when the copyright is not a kept path, nor when the target has none.
        let mut t = Tree::new();
        keep(&mut t, &lower, &filter(&[]), link());
        assert!(t.is_empty());
        keep(&mut t, &Tree::new(), &kept, link());
        assert!(t.is_empty());
        // Nor over a directory the image already has there.
        let mut t = Tree::new();
        t.insert(
            "usr/share/doc/libstdc++6/copyright".into(),
            Node::file(&b"own"[..], 0o644, 0, None),
        );
        keep(&mut t, &lower, &kept, link());
        assert!(!t.contains_key("usr/share/doc/libstdc++6"));
    }
}
