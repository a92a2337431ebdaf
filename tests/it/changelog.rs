//! `compose::changelog` against the real tool: `dpkg-parsechangelog --format rfc822` on the
//! changelogs of `tests/data/changelogs/` (a security upload naming 13 CVEs, a `+deb13u1`
//! upload naming one, a binNMU, a malformed one), with and without `--since`. Versions,
//! distributions, urgencies and the CVE ids of each entry's changes must agree; the one
//! difference is by design: an entry whose version is not a Debian version is skipped here
//! (dpkg prints `Version: unknown`). And `compose::tracker` on `tests/data/tracker/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use compose::changelog::{self, Changelog, cve_cmp, cve_ids};

use crate::harness::repo_root;
use crate::support::hostile::gzip;

/// One entry as compared: version, distributions, urgency, CVE ids.
type Seen = (String, String, String, Vec<String>);

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/data/changelogs").join(name)
}

/// What `dpkg-parsechangelog` prints for `file` (entries newer than `since`, or all).
fn dpkg(file: &Path, since: Option<&str>) -> Vec<Seen> {
    let mut cmd = Command::new("dpkg-parsechangelog");
    cmd.arg("-l").arg(file).args(["--format", "rfc822"]);
    match since {
        Some(v) => cmd.args(["--since", v]),
        None => cmd.arg("--all"),
    };
    let out = cmd.output().expect("dpkg-parsechangelog runs (dpkg-dev)");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    text.split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(paragraph)
        .collect()
}

/// An rfc822 paragraph of dpkg-parsechangelog: its fields, the CVE ids of `Changes`.
fn paragraph(p: &str) -> Seen {
    let field = |name: &str| {
        p.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_default()
            .to_owned()
    };
    let changes: String = p
        .lines()
        .skip_while(|l| !l.starts_with("Changes:"))
        .skip(1)
        .take_while(|l| l.starts_with(' '))
        .collect::<Vec<_>>()
        .join("\n");
    let mut cves: Vec<String> = cve_ids(&changes).into_iter().collect();
    cves.sort_by(|a, b| cve_cmp(a, b));
    // dpkg says `unknown` where the heading names no urgency.
    let urgency = field("Urgency").replace("unknown", "");
    (field("Version"), field("Distribution"), urgency, cves)
}

/// What compose reads from the gzip-compressed `file`.
fn ours(file: &Path, since: Option<&str>) -> (Changelog, Vec<Seen>) {
    let gz = gzip(&fs_err::read(file).unwrap());
    let since = since.map(|v| v.parse().unwrap());
    let c = changelog::read_gz(&gz[..], since.as_ref()).unwrap();
    let seen = c
        .entries
        .iter()
        .map(|e| {
            let dists = e.distributions.join(" ");
            (e.version.clone(), dists, e.urgency.clone(), e.cves.clone())
        })
        .collect();
    (c, seen)
}

/// Compare for each `since` (`None`: `--all`); the number of entries compose read each time.
fn agree(name: &str, sinces: &[Option<&str>]) -> Vec<usize> {
    let file = fixture(name);
    let mut counts = Vec::new();
    for &since in sinces {
        let want: Vec<Seen> = dpkg(&file, since)
            .into_iter()
            .filter(|(version, ..)| version != "unknown")
            .collect();
        let (c, seen) = ours(&file, since);
        assert_eq!(seen, want, "{name} since {since:?}");
        counts.push(seen.len());
        if !name.starts_with("malformed") {
            assert_eq!(c.warnings, Vec::<String>::new(), "{name} since {since:?}");
        }
    }
    counts
}

#[test]
#[ignore = "needs dpkg-parsechangelog (dpkg-dev)"]
fn changelogs_read_as_dpkg_parsechangelog_reads_them() {
    // The openssl security upload: thirteen CVEs above the locked version.
    let counts = agree(
        "openssl.changelog",
        &[
            Some("3.5.9-1~deb13u1"),
            Some("3.5.4-1~deb13u1"),
            Some("3.5.4-1~deb13u1+b1"),
            None,
        ],
    );
    assert_eq!(counts, [1, 3, 3, 7]);
    let (c, _) = ours(&fixture("openssl.changelog"), Some("3.5.9-1~deb13u1"));
    assert_eq!(c.entries[0].cves.len(), 13);
    assert!(c.reached);
    // The zstd +deb13u1 upload names one.
    let counts = agree(
        "zstd.changelog",
        &[Some("1.5.7+dfsg-1"), Some("1.5.5+dfsg2-1"), None],
    );
    assert_eq!(counts, [1, 4, 5]);
    let (c, _) = ours(&fixture("zstd.changelog"), Some("1.5.7+dfsg-1"));
    assert_eq!(c.entries[0].cves, ["CVE-2026-124851"]);
    // A binNMU on top of a source upload.
    let counts = agree(
        "python3.13-binnmu.changelog",
        &[Some("3.13.5-2"), Some("3.13.3-1"), None],
    );
    assert_eq!(counts, [1, 3, 4]);
    // Malformed: dpkg's entries but the one with an invalid version, with warnings.
    assert_eq!(agree("malformed.changelog", &[None]), [3]);
    let (c, _) = ours(&fixture("malformed.changelog"), None);
    assert_eq!(c.warnings.len(), 6, "{:?}", c.warnings);
}

/// A package built by `dpkg-deb -Z<compression>` from `root` (a directory holding `DEBIAN/`).
fn dpkg_deb(root: &Path, compression: &str) -> Vec<u8> {
    let out = root.with_extension("deb");
    let st = Command::new("dpkg-deb")
        .args(["--root-owner-group", &format!("-Z{compression}"), "--build"])
        .arg(root)
        .arg(&out)
        .output()
        .expect("dpkg-deb runs");
    assert!(st.status.success(), "{st:?}");
    fs_err::read(&out).unwrap()
}

/// A package directory for `dpkg-deb`: `name` 1.5.7+dfsg-1+deb13u1, amd64.
fn package_dir(dir: &Path, name: &str) -> PathBuf {
    let root = dir.join(name);
    fs_err::create_dir_all(root.join("DEBIAN")).unwrap();
    let control = format!(
        "Package: {name}\nVersion: 1.5.7+dfsg-1+deb13u1\nArchitecture: amd64\nMaintainer: t <t@example.org>\nDescription: t\n"
    );
    fs_err::write(root.join("DEBIAN/control"), control).unwrap();
    fs_err::create_dir_all(root.join("usr/share/doc")).unwrap();
    root
}

#[test]
#[ignore = "needs dpkg-deb"]
fn changelogs_come_out_of_packages_dpkg_deb_built() {
    use compose::deb::{DocChangelog, Identity};
    let dir = tempfile::tempdir().unwrap();
    let plan = |name| Identity {
        name,
        version: "1.5.7+dfsg-1+deb13u1",
        architecture: "amd64",
    };
    // libzstd1 ships the changelog; its doc directory also has upstream's changelog.gz.
    let root = package_dir(dir.path(), "libzstd1");
    let doc = root.join("usr/share/doc/libzstd1");
    fs_err::create_dir_all(&doc).unwrap();
    let text = fs_err::read(fixture("zstd.changelog")).unwrap();
    fs_err::write(doc.join("changelog.Debian.gz"), gzip(&text)).unwrap();
    fs_err::write(doc.join("changelog.gz"), gzip(b"upstream's")).unwrap();
    fs_err::write(doc.join("copyright"), "Format: x\n").unwrap();
    // zstd-dev's doc directory is a link to libzstd1's, as dh_installdocs --link-doc makes.
    let linked = package_dir(dir.path(), "zstd-dev");
    std::os::unix::fs::symlink("libzstd1", linked.join("usr/share/doc/zstd-dev")).unwrap();
    for compression in ["xz", "zstd", "gzip"] {
        let deb = dpkg_deb(&root, compression);
        let DocChangelog::File(gz) = compose::deb::changelog(&plan("libzstd1"), &deb[..]).unwrap()
        else {
            panic!("no changelog in the {compression} package")
        };
        let since = "1.5.7+dfsg-1".parse().unwrap();
        let c = changelog::read_gz(&gz[..], Some(&since)).unwrap();
        assert_eq!(c.entries[0].cves, ["CVE-2026-124851"], "{compression}");
        assert!(c.reached);
        let deb = dpkg_deb(&linked, compression);
        let got = compose::deb::changelog(&plan("zstd-dev"), &deb[..]).unwrap();
        assert_eq!(
            got,
            DocChangelog::LinkedTo("libzstd1".into()),
            "{compression}"
        );
    }
    // Asked for as another package, the control refuses it.
    let deb = dpkg_deb(&root, "xz");
    let e = compose::deb::changelog(&plan("libzstd-dev"), &deb[..]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`libzstd-dev` is not the package the index promised: its control says `Package: libzstd1`, expected `libzstd-dev`"
    );
}

/// `compose::tracker` on the fixture in the tracker's real shape: what a refresh of openssl
/// from 3.5.9-1~deb13u1 to 3.5.10-1~deb13u1 fixes on trixie, and what stays open.
#[test]
fn the_tracker_fixture_reads_as_the_patch_report_needs() {
    use compose::tracker;
    let file = fs_err::File::open(repo_root().join("tests/data/tracker/tracker.json")).unwrap();
    let wanted = ["openssl", "libzstd"]
        .map(str::to_owned)
        .into_iter()
        .collect();
    let t = tracker::read(file, "trixie", &wanted, tracker::MAX_TRACKER_SIZE).unwrap();
    let v = |s: &str| s.parse::<debversion::Version>().unwrap();
    let fixed: Vec<&str> = t
        .fixed_between("openssl", &v("3.5.9-1~deb13u1"), &v("3.5.10-1~deb13u1"))
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(fixed.len(), 14, "{fixed:?}");
    assert!(
        !fixed.contains(&"CVE-2026-22795"),
        "fixed long before: {fixed:?}"
    );
    let open: Vec<(&str, Option<&str>)> = t
        .open_in("openssl", &v("3.5.10-1~deb13u1"))
        .iter()
        .map(|c| (c.id.as_str(), c.label()))
        .collect();
    assert_eq!(
        open,
        [
            ("CVE-2026-40000", Some("no-dsa")),
            ("CVE-2026-40001", Some("unimportant"))
        ]
    );
    let zstd: Vec<&str> = t
        .fixed_between("libzstd", &v("1.5.7+dfsg-1"), &v("1.5.7+dfsg-1+deb13u1"))
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(zstd, ["CVE-2026-124851"]);
}
