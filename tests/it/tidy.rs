//! Tidy checks: the documentation stays true to the code. ARCHITECTURE.md's code map names
//! every file of `src/` and only files that exist; every module opens with a `//!` line
//! saying what it is for; hints are data (`crate::error::Hint`), never text glued into a
//! message.

use std::path::Path;

use crate::harness::repo_root;

/// Every `.rs` file under `dir`, relative to the repository root (`src/oci/mod.rs`), sorted.
fn rust_files(dir: &str) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs_err::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let rel = path.strip_prefix(root).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let root = repo_root();
    let mut out = Vec::new();
    walk(&root, &root.join(dir), &mut out);
    out.sort();
    out
}

/// The bullets of ARCHITECTURE.md's `## Code map` section, each with its continuation lines.
fn code_map() -> Vec<String> {
    let text = fs_err::read_to_string(repo_root().join("ARCHITECTURE.md")).unwrap();
    let section = text
        .split("\n## Code map\n")
        .nth(1)
        .expect("ARCHITECTURE.md has a `## Code map` section");
    let section = section.split("\n## ").next().unwrap();
    let mut bullets: Vec<String> = Vec::new();
    for line in section.lines() {
        if let Some(bullet) = line.strip_prefix("- ") {
            bullets.push(bullet.to_owned());
        } else if line.starts_with("  ")
            && let Some(last) = bullets.last_mut()
        {
            last.push(' ');
            last.push_str(line.trim());
        }
    }
    bullets
}

/// Does the code map name `file` (`src/repo/deb822.rs`)? Either by its path, or, in the
/// bullet of its directory (`src/repo/`), by its module or file name in backticks
/// (`deb822`, `deb822.rs`); a directory's bullet names its `mod.rs`.
fn names(bullets: &[String], file: &str) -> bool {
    if bullets.iter().any(|b| b.contains(&format!("`{file}`"))) {
        return true;
    }
    let (dir, name) = file.rsplit_once('/').unwrap();
    let module = name.trim_end_matches(".rs");
    bullets.iter().any(|b| {
        b.starts_with(&format!("`{dir}/`"))
            && (module == "mod"
                || b.contains(&format!("`{module}`"))
                || b.contains(&format!("`{name}`"))
                || b.contains(&format!("`{module} ")))
    })
}

/// The `src/…` paths the code map names (a file or a directory ending in `/`).
fn named_paths(bullets: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for b in bullets {
        for quoted in b.split('`').skip(1).step_by(2) {
            if quoted.starts_with("src/") && !quoted.contains(' ') {
                out.push(quoted.to_owned());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn the_code_map_names_every_source_file() {
    let bullets = code_map();
    let missing: Vec<String> = rust_files("src")
        .into_iter()
        .filter(|f| !names(&bullets, f))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map does not name {missing:?}"
    );
}

#[test]
fn every_path_the_code_map_names_exists() {
    let root = repo_root();
    let gone: Vec<String> = named_paths(&code_map())
        .into_iter()
        .filter(|p| !root.join(p).exists())
        .collect();
    assert!(
        gone.is_empty(),
        "ARCHITECTURE.md's code map names paths that do not exist: {gone:?}"
    );
}

/// The first line of every file in `files` that does not open with `//!`.
fn undocumented(files: &[String]) -> Vec<&String> {
    let root = repo_root();
    files
        .iter()
        .filter(|f| {
            let text = fs_err::read_to_string(root.join(f)).unwrap();
            !text.starts_with("//!")
        })
        .collect()
}

#[test]
fn every_source_file_opens_with_its_purpose() {
    let files = rust_files("src");
    let bare = undocumented(&files);
    assert!(bare.is_empty(), "no `//!` line at the top of {bare:?}");
}

#[test]
fn every_test_and_xtask_file_opens_with_its_purpose() {
    let files: Vec<String> = ["tests", "xtask/src"]
        .iter()
        .flat_map(|d| rust_files(d))
        .collect();
    let bare = undocumented(&files);
    assert!(bare.is_empty(), "no `//!` line at the top of {bare:?}");
}

/// Hints are data: an error that can tell the user what to do implements
/// `crate::error::Hint`, and `error::render` prints the hint. A `\n\nhint:` inside a string
/// of `src/` is a hint glued into a message for another layer to split off again. Unit
/// tests (after a file's `#[cfg(test)]`) may assert on rendered output, which has them.
#[test]
fn no_hint_is_glued_into_a_message() {
    let root = repo_root();
    let glued: Vec<String> = rust_files("src")
        .into_iter()
        // The renderer itself writes the blank line and `hint:` before each hint.
        .filter(|f| f != "src/error.rs")
        .flat_map(|f| {
            let text = fs_err::read_to_string(root.join(&f)).unwrap();
            text.lines()
                .take_while(|l| l.trim() != "#[cfg(test)]")
                .enumerate()
                .filter(|(_, l)| l.contains("\\n\\nhint:"))
                .map(|(i, _)| format!("{f}:{}", i + 1))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(glued.is_empty(), "hints glued into strings at {glued:?}");
}

/// The tidy checks' own parsing, on a small code map.
#[test]
fn the_code_map_reader_finds_files_by_path_or_by_module() {
    let bullets = vec![
        "`src/main.rs`: the binary.".to_owned(),
        "`src/repo/`: `deb822` (parser), `keyring` (keys).".to_owned(),
        "`src/oci/mod.rs`: config, manifests.".to_owned(),
    ];
    assert!(names(&bullets, "src/main.rs"));
    assert!(names(&bullets, "src/repo/deb822.rs"));
    assert!(
        names(&bullets, "src/repo/mod.rs"),
        "by its directory's bullet"
    );
    assert!(names(&bullets, "src/oci/mod.rs"));
    assert!(!names(&bullets, "src/repo/release.rs"));
    assert!(!names(&bullets, "src/cli.rs"));
    assert_eq!(
        named_paths(&bullets),
        ["src/main.rs", "src/oci/mod.rs", "src/repo/"]
    );
}
