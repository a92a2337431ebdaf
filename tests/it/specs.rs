//! The shipped specs: every one parses, and every committed lock matches its spec (offline:
//! `compose lock --check` compares hashes only). The examples under `specs/examples/` are
//! templates to copy (a lock pins an archive at one moment: users lock their copy), so they
//! are not walked for locks; they must parse.

use crate::harness::{compose, repo_root, run};

#[test]
fn every_shipped_spec_has_a_matching_lock() {
    let mut checked = 0;
    for e in fs_err::read_dir(repo_root().join("specs")).unwrap() {
        let spec = e.unwrap().path();
        if spec.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        compose::spec::Spec::load(&spec).unwrap_or_else(|e| panic!("{}: {e}", spec.display()));
        let r = run(compose().args(["lock", "--check"]).arg(&spec));
        assert_eq!(
            r.code,
            Some(0),
            "{}: {}\nrun `cargo xtask locks`",
            spec.display(),
            r.stderr
        );
        checked += 1;
    }
    assert!(checked >= 17, "{checked} specs");
}

/// Every example under `specs/examples/` loads with its chain (`extends = "../base.toml"`)
/// and its `[[files]]` sources, and has no lock (see the module's comment).
#[test]
fn the_example_specs_parse() {
    let dir = repo_root().join("specs/examples");
    let mut checked = 0;
    for e in fs_err::read_dir(&dir).unwrap() {
        let spec = e.unwrap().path();
        if spec.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let chain =
            compose::spec::Spec::load(&spec).unwrap_or_else(|e| panic!("{}: {e}", spec.display()));
        assert!(chain.len() > 1, "{} extends a shipped spec", spec.display());
        assert!(
            !compose::lock::path_for(&spec).exists(),
            "{}",
            spec.display()
        );
        checked += 1;
    }
    let app = compose::spec::Spec::load(&dir.join("app.toml")).unwrap();
    let files = &app.last().unwrap().files;
    assert_eq!(files[0].path, "/etc/app/app.conf");
    assert_eq!((files[0].mode, files[0].uid), (0o640, 65532));
    assert!(checked >= 1);
}
