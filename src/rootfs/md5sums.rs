//! `status.d/<package>.md5sums` kept true to the image: where compose changes the bytes at a
//! path a package shipped (os-release, a `[[files]]` entry with `replace = true`, a generated
//! file over a package's) the package's line names the new bytes, or goes when the path is no
//! longer a regular file; the files compose derives from a package (CA bundle, Java trust
//! store) get a line. Paths a `[paths]` filter leaves out keep their line, as distroless's
//! copied md5sums do.

use std::collections::BTreeMap;

use md5::Digest as _;

use crate::content::Store;
use crate::rootfs::{RootfsError, usrmerge};
use crate::tree::{Content, Kind, Tree};

/// `var/lib/dpkg/status.d/<package>.md5sums`, the package name checked where it becomes a
/// path.
pub fn key(package: &str) -> Result<String, RootfsError> {
    if crate::package::valid_name(package) {
        Ok(format!("var/lib/dpkg/status.d/{package}.md5sums"))
    } else {
        Err(RootfsError::PackageName(package.escape_debug().to_string()))
    }
}

/// The regular files the packages of a level put in its tree, by path, with the package and
/// the contents it shipped (a hard link: its file's), taken before compose adds its own.
#[derive(Debug, Default)]
pub struct Shipped(BTreeMap<String, (String, Content)>);

/// What the packages of `tree` (a level just assembled) shipped.
pub fn shipped(tree: &Tree) -> Shipped {
    Shipped(
        tree.iter()
            .filter_map(|(path, node)| {
                let package = node.package.clone()?;
                Some((path.clone(), (package, file_content(tree, path)?.clone())))
            })
            .collect(),
    )
}

/// The contents at `path` of `tree` when it is a regular file or a hard link to one.
fn file_content<'t>(tree: &'t Tree, path: &str) -> Option<&'t Content> {
    match &tree.get(path)?.kind {
        Kind::File(c) => Some(c),
        Kind::HardLink(target) => match &tree.get(target)?.kind {
            Kind::File(c) => Some(c),
            _ => None,
        },
        _ => None,
    }
}

/// The new contents of changed paths (`None`: no longer a regular file), by package.
type Changes = BTreeMap<String, BTreeMap<String, Option<Content>>>;

/// Bring the md5sums of every package in line with the level `tree` (on top of `lower`)
/// now that compose has added its files: a path a package of this level shipped (`shipped`)
/// or a lower level's package file this level replaces, whose contents are no longer the
/// package's, gets the MD5 of the image's bytes, or loses its line when the image has no
/// regular file there. Only lines the package has change (dpkg lists no conffiles); a
/// lower level's package gets its updated md5sums in this level.
pub fn follow(
    tree: &mut Tree,
    lower: &Tree,
    shipped: &Shipped,
    store: &Store,
    mtime: u64,
) -> Result<(), RootfsError> {
    let mut changes = Changes::new();
    for (path, (package, content)) in &shipped.0 {
        let now = file_content(tree, path);
        if now != Some(content) {
            changes
                .entry(package.clone())
                .or_default()
                .insert(path.clone(), now.cloned());
        }
    }
    for path in tree.keys() {
        let Some(package) = lower.get(path).and_then(|n| n.package.as_ref()) else {
            continue;
        };
        let Some(before) = file_content(lower, path) else {
            continue;
        };
        let now = file_content(tree, path);
        if now != Some(before) && !shipped.0.contains_key(path) {
            changes
                .entry(package.clone())
                .or_default()
                .insert(path.clone(), now.cloned());
        }
    }
    for (package, paths) in changes {
        set_lines(tree, lower, store, &package, &paths, false, mtime)?;
    }
    Ok(())
}

/// Add the files `compose` derived from `package` (CA bundle, keystore) to the package's
/// md5sums (a line it has for the path is changed), so scanners attribute them to it.
/// `lower` supplies the md5sums when the package lives in a lower layer (the updated copy
/// then goes in this one).
pub fn attribute(
    tree: &mut Tree,
    lower: &Tree,
    store: &Store,
    package: &str,
    paths: &[&str],
    mtime: u64,
) -> Result<(), RootfsError> {
    let paths: BTreeMap<String, Option<Content>> = paths
        .iter()
        .filter_map(|p| Some(((*p).to_owned(), Some(file_content(tree, p)?.clone()))))
        .collect();
    set_lines(tree, lower, store, package, &paths, true, mtime)
}

/// Rewrite `package`'s md5sums (from `tree`, else `lower`) for `paths`: each line naming one
/// of them gets the MD5 of its new contents, or is dropped (`None`); with `add`, a path
/// without a line gets one. Written into `tree` when anything changed.
fn set_lines(
    tree: &mut Tree,
    lower: &Tree,
    store: &Store,
    package: &str,
    paths: &BTreeMap<String, Option<Content>>,
    add: bool,
    mtime: u64,
) -> Result<(), RootfsError> {
    let key = key(package)?;
    let text = match tree.get(&key).or_else(|| lower.get(&key)).map(|n| &n.kind) {
        Some(Kind::File(d)) => {
            let bytes = super::generated::read(store, &key, d, crate::deb::MD5SUMS_LIMIT)?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ if add => String::new(),
        _ => return Ok(()), // a package without md5sums
    };
    let new = rewrite(&text, paths, add, |path, content| {
        md5_of(store, path, content)
    })?;
    if new != text {
        tree.insert(
            key,
            crate::tree::Node::file(new.into_bytes(), 0o644, mtime, Some(package)),
        );
    }
    Ok(())
}

/// The image path an md5sums line names (`./bin/x` and `bin/x` are `usr/bin/x`).
fn image_path(listed: &str) -> Option<String> {
    usrmerge(&crate::deb::normalize(listed)?)
}

/// `text` (md5sums lines: `MD5  PATH`, or `MD5 *PATH`) with the line of each path of
/// `paths` given the MD5 of its new contents (`md5`, asked once per path named), or dropped
/// (`None`); with `add`, lines for the paths it lacked are appended (`MD5  PATH`). Every
/// other line stays byte for byte.
fn rewrite<E>(
    text: &str,
    paths: &BTreeMap<String, Option<Content>>,
    add: bool,
    mut md5: impl FnMut(&str, &Content) -> Result<String, E>,
) -> Result<String, E> {
    let mut out = String::with_capacity(text.len());
    let mut known: BTreeMap<&str, String> = BTreeMap::new();
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        let named = body
            .split_once(' ')
            .and_then(|(_, rest)| Some((rest, image_path(rest.strip_prefix([' ', '*'])?)?)));
        let Some((rest, path)) = named else {
            out.push_str(line);
            continue;
        };
        let Some((listed, content)) = paths.get_key_value(path.as_str()) else {
            out.push_str(line);
            continue;
        };
        let Some(content) = content else {
            continue; // no longer a regular file: the line goes
        };
        let sum = match known.get(listed.as_str()) {
            Some(sum) => sum.clone(),
            None => md5(listed, content)?,
        };
        out.push_str(&sum);
        known.insert(listed, sum);
        out.push(' ');
        out.push_str(rest);
        out.push('\n');
    }
    if add {
        for (path, content) in paths {
            let Some(content) = content else { continue };
            if !known.contains_key(path.as_str()) {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&format!("{}  {path}\n", md5(path, content)?));
            }
        }
    }
    Ok(out)
}

/// The MD5 of a file, streamed from the store.
fn md5_of(store: &Store, path: &str, content: &Content) -> Result<String, RootfsError> {
    let error = |source| RootfsError::Content {
        path: path.to_owned(),
        source,
    };
    let mut hasher = md5::Md5::new();
    let mut reader = store.open(content).map_err(error)?;
    std::io::copy(&mut reader, &mut hasher)
        .map_err(|e| error(crate::content::ContentError::Source(e)))?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Node;

    fn md5(bytes: &[u8]) -> String {
        hex::encode(md5::Md5::digest(bytes))
    }

    fn text(tree: &Tree, path: &str) -> String {
        match &tree[path].kind {
            Kind::File(c) => String::from_utf8(c.inline.as_deref().unwrap().to_vec()).unwrap(),
            other => panic!("{path}: {other:?}"),
        }
    }

    fn shipped_file(package: &str, bytes: &[u8]) -> Node {
        Node::file(bytes, 0o644, 1, Some(package))
    }

    #[test]
    fn lines_change_go_or_come_and_the_rest_stays_byte_for_byte() {
        let new = Content::inline(&b"new"[..]);
        let paths = BTreeMap::from([
            ("usr/bin/x".to_owned(), Some(new.clone())),
            ("usr/lib/gone".to_owned(), None),
            ("etc/added".to_owned(), Some(new.clone())),
        ]);
        let text = "aaaa  bin/x\nbbbb *usr/lib/gone\nnot a line\n\ncccc  usr/share/keep me\ndddd  ./usr/bin/x";
        let sum = |_: &str, c: &Content| Ok::<_, ()>(md5(c.inline.as_deref().unwrap()));
        let m = md5(b"new");
        assert_eq!(
            rewrite(text, &paths, false, sum).unwrap(),
            format!("{m}  bin/x\nnot a line\n\ncccc  usr/share/keep me\n{m}  ./usr/bin/x\n")
        );
        assert_eq!(
            rewrite("", &paths, true, sum).unwrap(),
            format!("{m}  etc/added\n{m}  usr/bin/x\n")
        );
        // Nothing named: not a byte changes, and no MD5 is taken.
        let never = |_: &str, _: &Content| -> Result<String, ()> { panic!("hashed") };
        let other = BTreeMap::from([("usr/other".to_owned(), Some(new))]);
        assert_eq!(rewrite(text, &other, false, never).unwrap(), text);
    }

    /// Issue 23: what compose writes over a package's file (os-release, a `[[files]]` with
    /// `replace = true`, a symlink) is what the package's md5sums says, in this level and
    /// over a lower level's package.
    #[test]
    fn md5sums_follow_the_files_compose_changes() {
        let store = crate::content::tests::store();
        let mut lower = Tree::new();
        lower.insert(
            "usr/lib/os-release".into(),
            shipped_file("base-files", b"ID=debian\n"),
        );
        lower.insert("usr/bin/tool".into(), shipped_file("base-files", b"tool"));
        lower.insert("etc/kept".into(), shipped_file("base-files", b"kept"));
        let listed = format!(
            "{}  usr/lib/os-release\n{}  usr/bin/tool\n{}  etc/kept\n{}  usr/share/left-out\n",
            md5(b"ID=debian\n"),
            md5(b"tool"),
            md5(b"kept"),
            md5(b"left out by [paths]")
        );
        let key = key("base-files").unwrap();
        lower.insert(key.clone(), shipped_file("base-files", listed.as_bytes()));
        let shipped_below = shipped(&lower);
        // In the package's own level: os-release rewritten.
        let mut own = lower.clone();
        own.insert(
            "usr/lib/os-release".into(),
            shipped_file("base-files", b"PRETTY_NAME=\"Distroless\"\n"),
        );
        follow(&mut own, &Tree::new(), &shipped_below, &store, 9).unwrap();
        let expected = listed.replace(&md5(b"ID=debian\n"), &md5(b"PRETTY_NAME=\"Distroless\"\n"));
        assert_eq!(text(&own, &key), expected);
        assert_eq!(own[&key].mtime, 9);
        // A level above replaces one file and puts a symlink over another: its own copy of
        // the md5sums says so; the lower level's stays as it was.
        let mut upper = Tree::new();
        upper.insert(
            "usr/bin/tool".into(),
            Node::file(&b"mine"[..], 0o755, 2, None),
        );
        upper.insert("etc/kept".into(), Node::symlink("elsewhere", 2));
        follow(&mut upper, &lower, &Shipped::default(), &store, 2).unwrap();
        assert_eq!(
            text(&upper, &key),
            format!(
                "{}  usr/lib/os-release\n{}  usr/bin/tool\n{}  usr/share/left-out\n",
                md5(b"ID=debian\n"),
                md5(b"mine"),
                md5(b"left out by [paths]")
            )
        );
        assert_eq!(text(&lower, &key), listed);
        // Nothing changed: no copy.
        let mut same = Tree::new();
        same.insert(
            "usr/share/new".into(),
            Node::file(&b"x"[..], 0o644, 2, None),
        );
        follow(&mut same, &lower, &Shipped::default(), &store, 2).unwrap();
        assert!(!same.contains_key(&key));
    }

    #[test]
    fn derived_files_have_one_line_that_follows_their_bytes() {
        let store = crate::content::tests::store();
        let mut t = Tree::new();
        let key = key("ca-certificates").unwrap();
        t.insert(
            key.clone(),
            shipped_file("ca-certificates", b"1111  usr/share/x\n"),
        );
        t.insert(
            "etc/bundle".into(),
            Node::file(&b"A\n"[..], 0o644, 0, Some("ca-certificates")),
        );
        attribute(
            &mut t,
            &Tree::new(),
            &store,
            "ca-certificates",
            &["etc/bundle"],
            0,
        )
        .unwrap();
        assert_eq!(
            text(&t, &key),
            format!("1111  usr/share/x\n{}  etc/bundle\n", md5(b"A\n"))
        );
        // A level above that adds a certificate: the line changes, it is not added twice.
        let mut upper = Tree::new();
        upper.insert(
            "etc/bundle".into(),
            Node::file(&b"A\nB\n"[..], 0o644, 0, Some("ca-certificates")),
        );
        attribute(
            &mut upper,
            &t,
            &store,
            "ca-certificates",
            &["etc/bundle"],
            0,
        )
        .unwrap();
        assert_eq!(
            text(&upper, &key),
            format!("1111  usr/share/x\n{}  etc/bundle\n", md5(b"A\nB\n"))
        );
        assert!(attribute(&mut upper, &t, &store, "../x", &[], 0).is_err());
    }
}
