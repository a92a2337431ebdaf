//! Staying patched (issue 23), against signed repositories made at test time: a release
//! suite and a security suite in their own archives, as Debian publishes them. The mirror
//! moves (the security suite gains newer versions whose changelogs name CVEs, one of them
//! malformed; the release suite gains a point-release update), and the patch pipeline
//! `docs/patching.md` describes runs command by command: `outdated --fail-on security`,
//! `lock --update --security-only`, `diff --format markdown`, `build --locked --sign
//! --attest`, then `outdated` again.

use std::path::{Path, PathBuf};

use crate::harness::{Run, compose, openssl_keypair, run};
use crate::support::hostile::{
    DebBuilder, Key, KeyKind, Package, ReleaseOpts, Repo, TarBuilder, gzip,
};
use crate::support::server::Server;

const GPG: &str = "needs gpg (the repositories are signed at test time)";

/// `foo`'s changelog as its security upload ships it: the entry above 1.0-1 names three
/// CVEs (one in Debian's shortened form), the one at 1.0-1 one more that is not new.
const FOO_CHANGELOG: &str = "foo (1.0-1+deb1u1) stable-security; urgency=high

  * Non-maintainer upload by the Security Team.
  * Fix CVE-2026-1000: heap overflow in the parser.
  * Fix CVE-2026-1001/1002 (bounds of the length field).

 -- Security Team <team@security.invalid>  Mon, 07 Dec 2026 10:00:00 +0000

foo (1.0-1) unstable; urgency=medium

  * Initial release. Fixes CVE-2025-9999.

 -- Maintainer <maint@invalid>  Mon, 01 Jun 2026 10:00:00 +0000
";

/// A package whose data.tar holds `usr/share/doc/NAME/changelog.Debian.gz` (`changelog` as
/// given: plain text is gzipped, `Err` bytes are written as they are).
fn package(
    name: &str,
    version: &str,
    source: &str,
    changelog: Result<&str, &[u8]>,
    depends: &str,
) -> Package {
    let gz = match changelog {
        Ok(text) => gzip(text.as_bytes()),
        Err(raw) => raw.to_vec(),
    };
    let doc = format!("./usr/share/doc/{name}/");
    let tar = TarBuilder::new()
        .dir("./")
        .dir("./usr/")
        .dir("./usr/share/")
        .dir("./usr/share/doc/")
        .dir(&doc)
        .file(&format!("{doc}changelog.Debian.gz"), &gz)
        .file(&format!("{doc}copyright"), b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: MIT\n")
        .finish();
    let deb = DebBuilder::new(name, version, 8).data_gz(&tar).build();
    let mut p = Package::new(name, version, deb).field("Source", source);
    if !depends.is_empty() {
        p = p.field("Depends", depends);
    }
    p
}

fn release(suite: &str) -> ReleaseOpts {
    ReleaseOpts {
        suite: Some(suite.into()),
        codename: Some(suite.into()),
        ..ReleaseOpts::default()
    }
}

/// The two archives, their servers and a workspace with the spec.
struct Archive {
    key: Key,
    stable: Repo,
    security: Repo,
    stable_server: Server,
    security_server: Server,
    work: tempfile::TempDir,
    spec: PathBuf,
}

impl Archive {
    /// Published before the mirror moves: `app` needs `libfoo`, `libbar` and `tzx`; `libbar`
    /// already has a security update.
    fn new() -> Archive {
        crate::harness::require(&["gpg"]);
        let key = Key::generate(KeyKind::Good);
        let mut stable = Repo::with_suite("stable");
        stable
            .add(package("app", "1.0", "app", Ok("app (1.0) unstable; urgency=low\n\n  * Initial.\n\n -- M <m@invalid>  Mon, 01 Jun 2026 10:00:00 +0000\n"), "libfoo (>= 1.0), libbar, tzx"))
            .add(package("libfoo", "1.0-1", "foo", Ok(FOO_CHANGELOG.split("foo (1.0-1) ").nth(1).map(|rest| format!("foo (1.0-1) {rest}")).unwrap().as_str()), ""))
            .add(package("libbar", "2.0-1", "bar", Ok("bar (2.0-1) unstable; urgency=low\n\n  * Initial.\n\n -- M <m@invalid>  Mon, 01 Jun 2026 10:00:00 +0000\n"), ""))
            .add(package("tzx", "2026a-1", "tzx", Ok("tzx (2026a-1) unstable; urgency=low\n\n  * 2026a.\n\n -- M <m@invalid>  Mon, 01 Jun 2026 10:00:00 +0000\n"), ""));
        stable.publish(&key, &release("stable"));
        let mut security = Repo::with_suite("stable-security");
        security.add(package("libbar", "2.0-1+deb1u1", "bar", Ok("bar (2.0-1+deb1u1) stable-security; urgency=medium\n\n  * Fix CVE-2026-3000.\n\n -- S <s@invalid>  Mon, 01 Jul 2026 10:00:00 +0000\n"), ""));
        security.publish(&key, &release("stable-security"));
        let stable_server = Server::start(stable.root());
        let security_server = Server::start(security.root());
        let work = tempfile::tempdir().unwrap();
        let spec = work.path().join("app.toml");
        fs_err::write(
            &spec,
            format!(
                "name = \"app\"\n\n[[source]]\narchive = \"fixture\"\nsuites = [\"stable\"]\ncomponents = [\"main\"]\nsigned-by = \"{k}\"\n\n[[source]]\narchive = \"fixture-security\"\nsuites = [\"stable-security\"]\ncomponents = [\"main\"]\nsigned-by = \"{k}\"\n\n[packages]\ninclude = [\"app\"]\n",
                k = key.keyring.display()
            ),
        )
        .unwrap();
        Archive {
            key,
            stable,
            security,
            stable_server,
            security_server,
            work,
            spec,
        }
    }

    /// The mirror moves: the security suite gains `libfoo` 1.0-1+deb1u1 (three CVEs) and
    /// `libbar` 2.0-1+deb1u2 (a changelog that is not gzip), the release suite a
    /// point-release `tzx`.
    fn moves(&mut self) {
        self.security
            .add(package(
                "libfoo",
                "1.0-1+deb1u1",
                "foo",
                Ok(FOO_CHANGELOG),
                "",
            ))
            .add(package(
                "libbar",
                "2.0-1+deb1u2",
                "bar",
                Err(b"\x1f\x8b this is no gzip stream"),
                "",
            ));
        self.security
            .publish(&self.key, &release("stable-security"));
        self.stable.packages_mut().retain(|p| p.name != "tzx");
        self.stable
            .add(package("tzx", "2026b-1", "tzx", Ok("tzx (2026b-1) stable; urgency=medium\n\n  * 2026b.\n\n -- M <m@invalid>  Mon, 01 Dec 2026 10:00:00 +0000\n\ntzx (2026a-1) unstable; urgency=low\n\n  * 2026a.\n\n -- M <m@invalid>  Mon, 01 Jun 2026 10:00:00 +0000\n"), ""));
        self.stable.publish(&self.key, &release("stable"));
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    fn lock_path(&self) -> PathBuf {
        self.spec.with_extension("lock")
    }

    /// `compose ARGS` with both mirrors and the workspace's cache (unless `cache` is given).
    fn compose(&self, args: &[&str]) -> Run {
        self.compose_with_cache(args, &self.path("cache"))
    }

    fn compose_with_cache(&self, args: &[&str], cache: &Path) -> Run {
        run(compose()
            .args(args)
            .arg("--mirror")
            .arg(format!("fixture={}", self.stable_server.url()))
            .arg("--mirror")
            .arg(format!("fixture-security={}", self.security_server.url()))
            .arg("--cache-dir")
            .arg(cache))
    }
}

fn spec_arg(a: &Archive) -> String {
    a.spec.display().to_string()
}

/// The change of package `name` in a report's JSON.
fn change(report: &serde_json::Value, name: &str) -> serde_json::Value {
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no change of {name}: {report:#}"))
        .clone()
}

/// The version of `name` in a lock's text.
fn locked_version(lock: &str, name: &str) -> String {
    let doc: toml::Value = toml::from_str(lock).unwrap();
    doc["package"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some(name))
        .map(|p| p["version"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[test]
#[ignore = "needs gpg (the repositories are signed at test time)"]
fn the_patch_pipeline_names_what_each_update_fixes_and_moves_only_security_updates() {
    let _ = GPG;
    let mut a = Archive::new();
    let spec = spec_arg(&a);
    a.compose(&["lock", &spec]).success("lock");
    let old_lock = fs_err::read_to_string(a.lock_path()).unwrap();
    assert_eq!(locked_version(&old_lock, "libbar"), "2.0-1+deb1u1");
    let old_image = format!("oci:{}:old", a.path("image").display());
    a.compose(&["build", &spec, "--locked", "--output", &old_image])
        .success("old build");
    // Nothing newer yet: exit 0 whatever --fail-on says.
    let current = a.compose(&["outdated", &spec, "--fail-on", "any"]);
    current.success("outdated before the mirror moves");
    current.stdout_has("all 4 packages are current");

    a.moves();
    // 1. outdated: the table, then exit 3 for --fail-on security.
    let out = a.compose(&["outdated", &spec, "--fail-on", "security"]);
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    out.stdout_has("3 changes (2 security, fixing 3 CVEs); 1 of 4 packages unchanged");
    let line = |name: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}: {}", out.stdout))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        line("libfoo"),
        "libfoo amd64 upgraded 1.0-1 -> 1.0-1+deb1u1 stable-security (security) high CVE-2026-1000 CVE-2026-1001 CVE-2026-1002"
    );
    assert_eq!(
        line("tzx"),
        "tzx amd64 upgraded 2026a-1 -> 2026b-1 stable (point release) medium -"
    );
    assert_eq!(
        line("libbar"),
        "libbar amd64 upgraded 2.0-1+deb1u1 -> 2.0-1+deb1u2 stable-security (security) - -"
    );
    // The malformed changelog is a named note, not a failure.
    out.stdout_has("note: changelog of `libbar`");
    let json = a
        .compose(&["outdated", &spec, "--json"])
        .success("json")
        .json();
    let foo = change(&json, "libfoo");
    assert_eq!(foo["source"], "foo");
    assert_eq!(foo["kind"], "security");
    assert_eq!(foo["entries"].as_array().unwrap().len(), 1);
    assert_eq!(foo["entries"][0]["version"], "1.0-1+deb1u1");
    assert_eq!(
        a.compose(&["outdated", &spec, "--fail-on", "any"]).code,
        Some(3)
    );

    // 2. why explains the locked image, naming the newer version.
    let why = a.compose(&["why", &spec, "libfoo"]);
    why.success("why");
    why.stdout_has("libfoo 1.0-1 (amd64) is in `app`");
    why.stdout_has("newer: 1.0-1+deb1u1 in stable-security (security)");

    // 3. lock --update --security-only: the two security updates move, tzx stays.
    a.compose(&["lock", "--update", "--security-only", &spec])
        .success("security-only");
    let new_lock = fs_err::read_to_string(a.lock_path()).unwrap();
    assert_eq!(locked_version(&new_lock, "libfoo"), "1.0-1+deb1u1");
    assert_eq!(locked_version(&new_lock, "libbar"), "2.0-1+deb1u2");
    assert_eq!(locked_version(&new_lock, "tzx"), "2026a-1");
    assert_eq!(locked_version(&new_lock, "app"), "1.0");

    // 4. diff --format markdown: exactly the patch, with its CVEs.
    let old_path = a.path("old.lock");
    fs_err::write(&old_path, &old_lock).unwrap();
    let old_arg = old_path.display().to_string();
    let new_arg = a.lock_path().display().to_string();
    let md = a.compose(&["diff", &old_arg, &new_arg, "--format", "markdown"]);
    md.success("diff");
    md.stdout_has("| libfoo | amd64 | upgraded | 1.0-1 | 1.0-1+deb1u1 | stable-security (security) | high | CVE-2026-1000, CVE-2026-1001, CVE-2026-1002 |");
    md.stdout_has("| libbar | amd64 | upgraded | 2.0-1+deb1u1 | 2.0-1+deb1u2 | stable-security (security) | - | - |");
    assert!(!md.stdout.contains("| tzx |"), "{}", md.stdout);
    check_markdown(&md.stdout);

    // 5. build --locked --sign --attest, then nothing security-related is left.
    let (private, _public) = openssl_keypair(a.work.path(), "release");
    let new_image = format!("oci:{}:new", a.path("image").display());
    a.compose(&[
        "build",
        &spec,
        "--locked",
        "--sign",
        &private.display().to_string(),
        "--attest",
        "--output",
        &new_image,
    ])
    .success("signed build");
    let after = a.compose(&["outdated", &spec, "--fail-on", "security"]);
    after.success("outdated after the patch");
    after.stdout_has("1 change (0 security, fixing 0 CVEs)");

    // 6. The same diff between the two images (packages from status.d, .debs by the SBOM's
    // hashes, changelogs from the cache).
    let images = a
        .compose(&["diff", &old_image, &new_image, "--json"])
        .success("image diff")
        .json();
    let names: Vec<&str> = images["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["libbar", "libfoo"]);
    assert_eq!(images["changes"][1]["cves"].as_array().unwrap().len(), 3);

    // 7. Offline with an empty cache: the command says what it could not see.
    let empty = a.path("empty-cache");
    let offline = a.compose_with_cache(&["diff", &old_arg, &new_arg, "--offline"], &empty);
    offline.success("offline diff");
    offline.stdout_has("changelog of `libfoo` 1.0-1+deb1u1 not in the cache (`--offline`)");
}

/// Render markdown with a real parser (markdown-it-py, CommonMark with GitHub's tables, as
/// a pull request shows it) and check the table is a table: every row of the report a
/// `<tr>`, the CVEs in their own cell, the notes outside the changelog list.
fn check_markdown(md: &str) {
    crate::harness::require(&["python3", "markdown-it"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.md");
    fs_err::write(&file, md).unwrap();
    let html = crate::harness::tool(
        "python3",
        &[
            "-c",
            "import sys; from markdown_it import MarkdownIt; print(MarkdownIt('commonmark').enable('table').render(open(sys.argv[1]).read()))",
            file.to_str().unwrap(),
        ],
    );
    assert!(html.contains("<table>"), "{html}");
    assert!(
        html.contains("<td>CVE-2026-1000, CVE-2026-1001, CVE-2026-1002</td>"),
        "{html}"
    );
    assert_eq!(html.matches("<tr>").count(), 3, "{html}");
    assert!(html.contains("<p><strong>Notes</strong></p>"), "{html}");
}

#[test]
#[ignore = "needs gpg (the repositories are signed at test time)"]
fn the_security_tracker_adds_cves_changelogs_do_not_name_and_lists_open_ones() {
    let mut a = Archive::new();
    let spec = spec_arg(&a);
    a.compose(&["lock", &spec]).success("lock");
    a.moves();
    let tracker = a.path("tracker.json");
    fs_err::write(
        &tracker,
        r#"{
 "foo": {
  "CVE-2026-1003": {"description": "not in the changelog", "scope": "remote",
    "releases": {"stable": {"status": "resolved", "repositories": {"stable": "1.0-1"}, "fixed_version": "1.0-1+deb1u1", "urgency": "high"}}},
  "CVE-2026-2000": {"releases": {"stable": {"status": "open", "repositories": {"stable": "1.0-1"}, "urgency": "low", "nodsa": "Minor issue", "nodsa_reason": ""}}},
  "CVE-2026-2001": {"releases": {"stable": {"status": "open", "repositories": {"stable": "1.0-1"}, "urgency": "low", "nodsa": "Minor issue", "nodsa_reason": "postponed"}}},
  "TEMP-0000000-ABCDEF": {"releases": {"stable": {"status": "open", "urgency": "unimportant"}}}
 },
 "unrelated": {"CVE-2026-9": {"releases": {"stable": {"status": "open"}}}}
}"#,
    )
    .unwrap();
    let t = tracker.display().to_string();
    let json = a
        .compose(&["outdated", &spec, "--json", "--security-tracker", &t])
        .success("outdated with a tracker")
        .json();
    let foo = change(&json, "libfoo");
    assert_eq!(foo["tracker_only"], serde_json::json!(["CVE-2026-1003"]));
    assert_eq!(foo["cves"].as_array().unwrap().len(), 4);
    let open: Vec<(String, String, bool)> = json["open"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap().to_owned(),
                o["label"].as_str().unwrap_or("").to_owned(),
                o["fixed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(
        open.contains(&("CVE-2026-2000".into(), "no-dsa".into(), false)),
        "{open:?}"
    );
    assert!(
        open.contains(&("CVE-2026-2001".into(), "postponed".into(), false)),
        "{open:?}"
    );
    assert!(
        !open
            .iter()
            .any(|(id, ..)| id.starts_with("TEMP") || id == "CVE-2026-9"),
        "{open:?}"
    );

    // From a URL (served on 127.0.0.1), cached: then --offline reads the cached copy.
    let served = tempfile::tempdir().unwrap();
    fs_err::copy(&tracker, served.path().join("json")).unwrap();
    let server = Server::start(served.path());
    let url = format!("{}/json", server.url());
    a.compose(&["outdated", &spec, "--security-tracker", &url])
        .success("tracker by URL")
        .stdout_has("CVE-2026-1003");
    drop(server);
    a.compose(&["outdated", &spec, "--offline", "--security-tracker", &url])
        .success("tracker from the cache")
        .stdout_has("open in foo 1.0-1: CVE-2026-2000");

    // Hostile tracker files: one line, exit 1, never a panic.
    for (name, body) in [
        ("not-json", "this is not json".to_owned()),
        ("wrong-type", r#"{"foo": ["a list"]}"#.to_owned()),
        (
            "deep",
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
        ),
    ] {
        let bad = a.path(name);
        fs_err::write(&bad, body).unwrap();
        let r = a.compose(&[
            "outdated",
            &spec,
            "--security-tracker",
            &bad.display().to_string(),
        ]);
        r.fails_with("security tracker");
        assert_eq!(r.code, Some(1), "{name}: {}", r.stderr);
        // The error on one line, then its hint.
        let first = r.stderr.lines().next().unwrap_or_default();
        assert!(first.contains("security tracker"), "{name}: {}", r.stderr);
        assert!(r.stderr.lines().count() <= 3, "{name}: {}", r.stderr);
    }
}

#[test]
fn lock_update_keeps_every_platform_of_the_lock() {
    let env = crate::fixture::Env::new();
    let spec = env.spec(
        "two",
        "[packages]\ninclude = [\"f-tool\"]\nexclude = [\"f-openssl\", \"f-debconf\"]\n",
    );
    env.lock(&spec, &["--platform", "linux/amd64,linux/arm64"])
        .success("lock two platforms");
    let platforms = |text: &str| -> Vec<String> {
        let doc: toml::Value = toml::from_str(text).unwrap();
        let mut p: Vec<String> = doc["package"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["platform"].as_str().unwrap().to_owned())
            .collect();
        p.dedup();
        p
    };
    let lock = spec.with_extension("lock");
    assert_eq!(
        platforms(&fs_err::read_to_string(&lock).unwrap()),
        ["linux/amd64", "linux/arm64/v8"]
    );
    env.lock(&spec, &["--update"]).success("update");
    assert_eq!(
        platforms(&fs_err::read_to_string(&lock).unwrap()),
        ["linux/amd64", "linux/arm64/v8"]
    );
    // `--platform` still says otherwise.
    env.lock(&spec, &["--update", "--platform", "linux/arm64"])
        .success("one platform");
    assert_eq!(
        platforms(&fs_err::read_to_string(&lock).unwrap()),
        ["linux/arm64/v8"]
    );
    // --security-only needs a lock to keep.
    let fresh = env.spec(
        "fresh",
        "[packages]\ninclude = [\"f-tool\"]\nexclude = [\"f-openssl\", \"f-debconf\"]\n",
    );
    env.lock(&fresh, &["--update", "--security-only"])
        .fails_with("does not exist");
}

/// `deb::changelog` on `.deb`s made by hand: which file it takes, a doc directory that is a
/// link, and hostile packages (another package's control, a changelog claiming 9 MiB).
#[test]
fn a_debs_changelog_is_found_bounded_and_checked() {
    use compose::deb::{DocChangelog, Identity, changelog};
    let id = Identity {
        name: "libfoo",
        version: "1.0-1",
        architecture: "amd64",
    };
    let deb = |tar: TarBuilder| {
        DebBuilder::new("libfoo", "1.0-1", 8)
            .data_gz(&tar.finish())
            .build()
    };
    let doc = || {
        TarBuilder::new()
            .dir("./")
            .dir("./usr/")
            .dir("./usr/share/")
            .dir("./usr/share/doc/")
    };
    let read = |bytes: Vec<u8>| changelog(&id, bytes.as_slice());
    // The Debian changelog wins over an upstream changelog.gz; a native package has only that.
    let both = doc()
        .dir("./usr/share/doc/libfoo/")
        .file("./usr/share/doc/libfoo/changelog.gz", b"upstream")
        .file("./usr/share/doc/libfoo/changelog.Debian.gz", b"debian");
    assert_eq!(
        read(deb(both)).unwrap(),
        DocChangelog::File(b"debian".to_vec())
    );
    let native = doc()
        .dir("./usr/share/doc/libfoo/")
        .file("./usr/share/doc/libfoo/changelog.gz", b"native");
    assert_eq!(
        read(deb(native)).unwrap(),
        DocChangelog::File(b"native".to_vec())
    );
    // A doc directory that is another package's.
    for target in ["gcc-14-base", "/usr/share/doc/gcc-14-base/"] {
        let linked = doc().symlink("./usr/share/doc/libfoo", target);
        assert_eq!(
            read(deb(linked)).unwrap(),
            DocChangelog::LinkedTo("gcc-14-base".into())
        );
    }
    let evil_link = doc().symlink("./usr/share/doc/libfoo", "../../../etc/Bad Name");
    assert_eq!(read(deb(evil_link)).unwrap(), DocChangelog::Missing);
    assert_eq!(read(deb(doc())).unwrap(), DocChangelog::Missing);
    // Another package than the index promised.
    let other = DebBuilder::new("libbar", "1.0-1", 8)
        .data_gz(&doc().finish())
        .build();
    let e = changelog(&id, other.as_slice()).unwrap_err();
    assert!(
        e.to_string().contains("not the package the index promised"),
        "{e}"
    );
    // A changelog claiming more than the limit is refused before it is read.
    let header = TarBuilder::header(
        b"./usr/share/doc/libfoo/changelog.Debian.gz",
        b'0',
        compose::deb::CHANGELOG_LIMIT + 1,
        b"",
        0o644,
    );
    let huge = doc().dir("./usr/share/doc/libfoo/").raw(header, b"");
    let e = read(deb(huge)).unwrap_err();
    assert!(e.to_string().contains("exceeds a limit"), "{e}");
}
