//! ScanCode (PyPI `scancode-toolkit`) as a scanner sees an image: the merged file system
//! unpacked on disk, `scancode --package --system-package` over it (which reads `status.d`
//! as distroless's installed database), the `(name, version)` of every package it reports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::harness::{TarEntry, require};

/// The bytes at `path` of a merged file system: a regular file's, a hard link's file's.
pub fn bytes<'a>(fs: &'a BTreeMap<String, TarEntry>, path: &str) -> Option<&'a [u8]> {
    let e = fs.get(path)?;
    match e.kind {
        tar::EntryType::Regular => Some(&e.data),
        tar::EntryType::Link => bytes(fs, e.link.as_deref()?),
        _ => None,
    }
}

/// Write a merged file system under `root` as an unpacker would (hard links as copies).
pub fn unpack(fs: &BTreeMap<String, TarEntry>, root: &Path) {
    fs_err::create_dir_all(root).unwrap();
    for (path, e) in fs {
        let dest = root.join(path);
        match e.kind {
            tar::EntryType::Directory => fs_err::create_dir_all(&dest).unwrap(),
            tar::EntryType::Symlink => {
                std::os::unix::fs::symlink(e.link.as_deref().unwrap(), &dest).unwrap();
            }
            _ => fs_err::write(&dest, bytes(fs, path).unwrap()).unwrap(),
        }
    }
}

/// Unpack `fs` into `dir`, scan it, and assert ScanCode reports exactly `expected` as its
/// Debian packages, by name and version (nothing made up, say, from a nested
/// `debian/copyright`; the npm packages it finds inside nodejs's modules are another
/// matter), its only scan errors on `status.d/*.md5sums` (ScanCode reads every file of
/// `status.d` as a control stanza, so each one is a package without a name it fails to
/// assemble).
pub fn assert_sees_exactly(
    fs: &BTreeMap<String, TarEntry>,
    dir: &Path,
    expected: &BTreeSet<(String, String)>,
    what: &str,
) {
    require(&["scancode"]);
    let root = dir.join("rootfs");
    unpack(fs, &root);
    let out = dir.join("scan.json");
    let run = std::process::Command::new("scancode")
        .args([
            "--package",
            "--system-package",
            "--processes",
            "1",
            "--json",
        ])
        .arg(&out)
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{what}: scancode: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let scan: serde_json::Value = serde_json::from_slice(&fs_err::read(&out).unwrap()).unwrap();
    let reported: BTreeSet<(String, String)> = scan["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "deb")
        .map(|p| {
            let field = |k: &str| p[k].as_str().unwrap_or("(none)").to_owned();
            (field("name"), field("version"))
        })
        .collect();
    assert_eq!(&reported, expected, "{what}");
    for f in scan["files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        if !f["scan_errors"].as_array().unwrap().is_empty() {
            assert!(
                path.contains("/var/lib/dpkg/status.d/") && path.ends_with(".md5sums"),
                "{what}: {path}: {}",
                f["scan_errors"]
            );
        }
    }
}
