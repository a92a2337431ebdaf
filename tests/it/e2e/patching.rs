//! Staying patched against the real archive: python3's lock of 2026-11-26
//! (`tests/data/locks/python3-20261126.lock`, kept as it was committed: the mirror only moves
//! further from it) is behind the security suite; `compose outdated` must name each security
//! update with exactly the CVE ids of the changelog entries above the locked version (as
//! `dpkg-parsechangelog --since` reads the same `.deb`), and `lock --update --security-only`
//! must move exactly those packages, on every platform of the old lock.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use super::shared_cache;
use crate::harness::{compose, repo_root, run};

/// The CVE ids `dpkg-parsechangelog` prints for the entries of `changelog` above `since`.
fn dpkg_cves(changelog: &Path, since: &str) -> (BTreeSet<String>, String) {
    let out = Command::new("dpkg-parsechangelog")
        .arg("-l")
        .arg(changelog)
        .args(["--since", since, "-S", "Changes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut ids = BTreeSet::new();
    for (i, _) in text.match_indices("CVE-") {
        let id: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let parts: Vec<&str> = id.split('-').collect();
        if parts.len() == 3 && parts[1].len() == 4 && parts[2].len() >= 4 {
            ids.insert(id);
        }
    }
    (ids, text)
}

/// Whether `text` names CVEs in Debian's shortened form (`CVE-YYYY-NNNN/NNNN`).
fn shortened_form(text: &str) -> bool {
    text.match_indices("CVE-").any(|(i, _)| {
        let rest = &text[i + 4..];
        let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
        let year = digits(rest);
        year == 4
            && rest[4..].starts_with('-')
            && rest[5..]
                .get(digits(&rest[5..])..)
                .is_some_and(|after| after.starts_with('/'))
    })
}

/// `usr/share/doc/NAME/changelog.Debian.gz` of the `.deb` at `deb`, unpacked with dpkg-deb
/// into `dir`; `None` when the doc directory is another package's.
fn changelog_of(deb: &Path, name: &str, dir: &Path) -> Option<std::path::PathBuf> {
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
    let gz = dir.join(format!("usr/share/doc/{name}/changelog.Debian.gz"));
    if !gz.is_file() {
        return None;
    }
    let plain = dir.join(format!("{name}.changelog"));
    let out = Command::new("gzip").arg("-dc").arg(&gz).output().unwrap();
    fs_err::write(&plain, out.stdout).unwrap();
    Some(plain)
}

#[test]
#[ignore = "needs the Debian archive through the machine's mirror, dpkg-parsechangelog (dpkg-dev)"]
fn an_old_lock_is_told_its_security_updates_with_the_cves_dpkg_reads() {
    crate::harness::require(&["dpkg-parsechangelog", "dpkg-deb", "gzip"]);
    let dir = tempfile::tempdir().unwrap();
    for entry in fs_err::read_dir(repo_root().join("specs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            fs_err::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let lock = dir.path().join("python3.lock");
    fs_err::copy(
        repo_root().join("tests/data/locks/python3-20261126.lock"),
        &lock,
    )
    .unwrap();
    let spec = dir.path().join("python3.toml");
    let outdated = run(compose()
        .arg("outdated")
        .arg(&spec)
        .args(["--json", "--cache-dir"])
        .arg(shared_cache()));
    let report = outdated.json();
    let security: Vec<&serde_json::Value> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "security")
        .collect();
    assert!(
        !security.is_empty(),
        "the lock of 2026-11-26 has no security update: {report:#}"
    );
    // Every security update is on both platforms of the lock.
    for c in &security {
        assert_eq!(
            c["platforms"],
            serde_json::json!(["linux/amd64", "linux/arm64/v8"]),
            "{c:#}"
        );
    }
    // The security-only refresh moves exactly those packages, both platforms kept.
    let old = fs_err::read_to_string(&lock).unwrap();
    run(compose()
        .arg("lock")
        .args(["--update", "--security-only", "--cache-dir"])
        .arg(shared_cache())
        .arg(&spec))
    .success("lock --update --security-only");
    let new = fs_err::read_to_string(&lock).unwrap();
    let packages = |text: &str| -> Vec<(String, String, String, String, String)> {
        let doc: toml::Value = toml::from_str(text).unwrap();
        doc["package"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let f = |k: &str| p[k].as_str().unwrap().to_owned();
                (
                    f("platform"),
                    f("name"),
                    f("version"),
                    f("sha256"),
                    f("architecture"),
                )
            })
            .collect()
    };
    let (before, after) = (packages(&old), packages(&new));
    assert_eq!(before.len(), after.len());
    let moved: BTreeSet<(String, String)> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b.2 != a.2)
        .map(|(b, a)| (b.1.clone(), a.2.clone()))
        .collect();
    let expected: BTreeSet<(String, String)> = security
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["new"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        moved, expected,
        "security-only moved other packages than outdated named"
    );
    // Each update's CVE ids are those dpkg-parsechangelog reads above the locked version.
    let unpack = tempfile::tempdir().unwrap();
    for c in &security {
        let name = c["name"].as_str().unwrap();
        let row = after.iter().find(|p| p.1 == name).unwrap();
        let deb = shared_cache().join("sha256").join(&row.3);
        let into = unpack.path().join(name);
        let Some(changelog) = changelog_of(&deb, name, &into) else {
            crate::harness::report_skip(&format!(
                "{name}: its doc directory is another package's; its changelog is compared there"
            ));
            continue;
        };
        let (ids, text) = dpkg_cves(&changelog, c["old"].as_str().unwrap());
        let ours: BTreeSet<String> = c["cves"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        // Debian's shortened forms (`CVE-2014-7185/4650`) name more ids than a plain scan:
        // only where the changes hold one may ours be a strict superset.
        if shortened_form(&text) {
            assert!(
                ours.is_superset(&ids),
                "{name}: ours {ours:?}, dpkg {ids:?}"
            );
        } else {
            assert_eq!(ours, ids, "{name}: ours {ours:?}, dpkg {ids:?}");
        }
    }
}
