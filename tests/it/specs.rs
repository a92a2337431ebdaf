//! The shipped specs: every one parses, and every committed lock matches its spec (offline:
//! `compose lock --check` compares hashes only).

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
