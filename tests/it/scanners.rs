//! What vulnerability and licence scanners read, on an image of the fixture repository
//! (issue 23): every `status.d/<pkg>.md5sums` line names the bytes the image holds (after
//! os-release is rewritten, `[[files]]` replace package files and a `[[symlink]]` goes over
//! one), only each package's own copyright is kept (no nested `debian/copyright`), a doc
//! directory that is a symlink to another package's stays with the copyright it leads to
//! and gives the package its licence in the SBOM; ScanCode over the unpacked image reports
//! exactly the lock's packages.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use md5::Digest as _;

use crate::fixture::Env;
use crate::harness::{Image, read_image};
use crate::support::scancode::{self, bytes};

const PROVIDER: &[u8] = b"the in-house provider\n";
const TOOL_TXT: &[u8] = b"the in-house tool.txt\n";

/// `scanbase` (os-release, the tool, the CA bundle, filters as the shipped specs have them,
/// a `[[files]]` over a file of its own packages) below `scan` (a package whose doc
/// directory is a symlink, a `[[files]]` over a lower level's package file and a
/// `[[symlink]]` over a lower hard link). Returns the top spec.
fn specs(env: &Env) -> PathBuf {
    fs_err::create_dir_all(env.path("files")).unwrap();
    fs_err::write(env.path("files/provider"), PROVIDER).unwrap();
    fs_err::write(env.path("files/tool.txt"), TOOL_TXT).unwrap();
    env.spec(
        "scanbase",
        r#"[packages]
include = ["f-os-base", "f-tool", "f-ca-certificates"]
exclude = ["f-openssl", "f-debconf"]

[paths]
exclude = ["/usr/share/doc/**", "/usr/share/man/**", "/usr/share/locale/**"]
keep = ["/usr/share/doc/*/copyright"]

[[files]]
path = "/usr/share/f/provider"
source = "files/provider"
replace = true
"#,
    );
    let top = env.path("scan.toml");
    let text = r#"name = "scan"
extends = "scanbase"

[packages]
include = ["f-libstdc"]

[[files]]
path = "/usr/share/f/tool.txt"
source = "files/tool.txt"
replace = true

[[symlink]]
path = "/usr/bin/ftool-alias"
target = "ftool"
"#;
    fs_err::write(&top, text).unwrap();
    top
}

/// The scan image, built once from its lock, with its lock's `(name, version)` pairs and the
/// SBOM beside the output.
struct Built {
    image: Image,
    locked: BTreeSet<(String, String)>,
    sbom: serde_json::Value,
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let env = Env::new();
        let top = specs(&env);
        env.lock(&top, &[]).success("compose lock");
        let lock: toml::Value =
            toml::from_str(&fs_err::read_to_string(env.path("scan.lock")).unwrap()).unwrap();
        let locked = lock["package"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["layer"].as_str() != Some("scan-debug")) // the debug variant's
            .map(|p| {
                let field = |k: &str| p[k].as_str().unwrap().to_owned();
                (field("name"), field("version"))
            })
            .collect();
        env.build(&top, "img", &["--locked"]).digest();
        let sbom = fs_err::read(env.path("img.latest.spdx.json")).unwrap();
        Built {
            image: read_image(&env.path("img")),
            locked,
            sbom: serde_json::from_slice(&sbom).unwrap(),
        }
    })
}

fn md5(bytes: &[u8]) -> String {
    hex::encode(md5::Md5::digest(bytes))
}

/// `(md5, image path)` of each line of an md5sums file (`bin/x` is `usr/bin/x`).
fn lines(text: &[u8]) -> Vec<(String, String)> {
    String::from_utf8(text.to_vec())
        .unwrap()
        .lines()
        .map(|l| {
            let (sum, path) = l.split_once("  ").unwrap();
            let path = match path.split_once('/') {
                Some(("bin" | "sbin" | "lib" | "lib64", _)) => format!("usr/{path}"),
                _ => path.to_owned(),
            };
            (sum.to_owned(), path)
        })
        .collect()
}

#[test]
fn every_md5sums_line_names_the_bytes_the_image_holds() {
    let fs = built().image.merged();
    let mut checked = 0;
    let status_d = "var/lib/dpkg/status.d/";
    let records = fs
        .range(status_d.to_owned()..)
        .take_while(|(k, _)| k.starts_with(status_d));
    for (key, entry) in records {
        let Some(package) = key
            .strip_prefix(status_d)
            .and_then(|k| k.strip_suffix(".md5sums"))
        else {
            continue;
        };
        for (sum, path) in lines(&entry.data) {
            match bytes(&fs, &path) {
                Some(data) => {
                    assert_eq!(md5(data), sum, "{package}: /{path}");
                    checked += 1;
                }
                // Left out by `[paths]`: the line stays, as distroless's copied md5sums.
                None => assert!(
                    ["usr/share/doc/", "usr/share/man/", "usr/share/locale/"]
                        .iter()
                        .any(|d| path.starts_with(d)),
                    "{package}: /{path} is listed but not a file of the image"
                ),
            }
        }
    }
    assert!(checked >= 10, "only {checked} lines checked");
    let listed =
        |package: &str| lines(&fs[&format!("var/lib/dpkg/status.d/{package}.md5sums")].data);
    let os_release = bytes(&fs, "usr/lib/os-release").unwrap();
    assert!(os_release.starts_with(b"PRETTY_NAME=\"Distroless\"\n"));
    assert!(listed("f-os-base").contains(&(md5(os_release), "usr/lib/os-release".into())));
    assert!(listed("f-provider").contains(&(md5(PROVIDER), "usr/share/f/provider".into())));
    let tool = listed("f-tool");
    assert!(tool.contains(&(md5(TOOL_TXT), "usr/share/f/tool.txt".into())));
    assert!(
        !tool.iter().any(|(_, p)| p == "usr/bin/ftool-alias"),
        "a symlink now: {tool:?}"
    );
    let bundle = bytes(&fs, "etc/ssl/certs/ca-certificates.crt").unwrap();
    let ca = listed("f-ca-certificates");
    let bundle_lines: Vec<_> = ca
        .iter()
        .filter(|(_, p)| p == "etc/ssl/certs/ca-certificates.crt")
        .collect();
    assert_eq!(
        bundle_lines,
        [&(md5(bundle), "etc/ssl/certs/ca-certificates.crt".into())]
    );
}

/// The lower layer keeps the md5sums of what it holds; the level that changed a lower
/// package's file carries that package's updated md5sums.
#[test]
fn a_lower_packages_md5sums_change_in_the_layer_that_changes_its_file() {
    let layers = &built().image.layers;
    let key = "var/lib/dpkg/status.d/f-tool.md5sums";
    let below = lines(&layers[0][key].data);
    let above = lines(&layers[1][key].data);
    let original = md5(bytes(&layers[0], "usr/share/f/tool.txt").unwrap());
    assert!(below.contains(&(original, "usr/share/f/tool.txt".into())));
    assert!(below.iter().any(|(_, p)| p == "usr/bin/ftool-alias"));
    assert!(above.contains(&(md5(TOOL_TXT), "usr/share/f/tool.txt".into())));
    assert_eq!(above.len() + 1, below.len(), "only the alias's line goes");
}

#[test]
fn only_own_copyrights_and_doc_links_to_kept_ones_stay() {
    let fs = built().image.merged();
    let docs: Vec<&String> = fs
        .keys()
        .filter(|k| k.starts_with("usr/share/doc/"))
        .collect();
    assert_eq!(
        docs,
        [
            "usr/share/doc/f-base-files",
            "usr/share/doc/f-base-files/copyright",
            "usr/share/doc/f-gcc-base",
            "usr/share/doc/f-gcc-base/copyright",
            "usr/share/doc/f-libstdc",
            "usr/share/doc/f-os-base",
            "usr/share/doc/f-os-base/copyright",
        ],
        "no nested debian/copyright, no changelog"
    );
    let link = &fs["usr/share/doc/f-libstdc"];
    assert_eq!(
        (link.kind, link.link.as_deref()),
        (tar::EntryType::Symlink, Some("f-gcc-base"))
    );
}

#[test]
fn the_sbom_gives_a_doc_linked_package_the_licence_it_points_to() {
    let b = built();
    let inside: serde_json::Value =
        serde_json::from_slice(&b.image.layers[1]["usr/share/sbom/scan.spdx.json"].data).unwrap();
    for (which, doc) in [("beside the output", &b.sbom), ("in the layer", &inside)] {
        let declared = |name: &str| {
            doc["packages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("{which}: no {name}"))["licenseDeclared"]
                .clone()
        };
        assert_eq!(
            declared("f-libstdc"),
            "GPL-3.0-or-later WITH GCC-exception-3.1",
            "{which}"
        );
        assert_eq!(declared("f-gcc-base"), declared("f-libstdc"), "{which}");
    }
    assert_eq!(
        b.sbom["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "f-os-base")
            .unwrap()["licenseDeclared"],
        "GPL-2.0-or-later"
    );
}

/// ScanCode over the unpacked image: exactly the lock's packages, by name and version, and
/// nothing made up from a nested `debian/copyright`.
#[test]
#[ignore = "needs scancode"]
fn scancode_reports_exactly_the_locked_packages() {
    let b = built();
    let dir = tempfile::tempdir().unwrap();
    scancode::assert_sees_exactly(&b.image.merged(), dir.path(), &b.locked, "scan");
}
