//! The packages an image's records name: a paragraph per package in
//! `var/lib/dpkg/status.d/<name>` (distroless, compose) or in `var/lib/dpkg/status` (a
//! Debian image: only those `ok installed`), parsed with `repo::deb822` and checked with
//! `package::valid_*` (a paragraph that breaks policy is a named warning and is skipped);
//! the `.deb`'s SHA256 and pool path from an SPDX SBOM in `usr/share/sbom/` where it lists
//! the package.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::package::{valid_architecture, valid_filename, valid_name, valid_sha256, valid_version};
use crate::repo::deb822::{self, Paragraph};

use super::layers::Records;
use super::{InstalledPackage, shown};

/// A file of `status.d` (one package's control paragraph).
pub const MAX_STATUS_D: u64 = 1 << 20;
/// `var/lib/dpkg/status` (a few MiB for thousands of packages).
pub const MAX_STATUS: u64 = 64 << 20;
/// An SBOM of `usr/share/sbom/`.
pub const MAX_SBOM: u64 = 16 << 20;

const STATUS: &str = "var/lib/dpkg/status";
const STATUS_D: &str = "var/lib/dpkg/status.d/";
const SBOM_DIR: &str = "usr/share/sbom/";

/// How much of the file at `path` (relative to the root) is read, when it is a record:
/// `status`, a package's file in `status.d` (not its `.md5sums`), an SBOM.
pub(crate) fn record_limit(path: &str) -> Option<u64> {
    if path == STATUS {
        return Some(MAX_STATUS);
    }
    if let Some(name) = path.strip_prefix(STATUS_D) {
        let package = !name.is_empty()
            && !name.contains('/')
            && !name.starts_with('.')
            && !name.ends_with(".md5sums");
        return package.then_some(MAX_STATUS_D);
    }
    let sbom = path
        .strip_prefix(SBOM_DIR)
        .is_some_and(|name| !name.contains('/') && name.ends_with(".spdx.json"));
    sbom.then_some(MAX_SBOM)
}

/// The packages of one platform's records, with the SBOM's hashes where it lists them; a
/// package recorded twice (in `status.d` and `status`) is taken once, from `status.d`.
pub(crate) fn packages(
    label: &str,
    platform: &str,
    records: &Records,
    warnings: &mut Vec<String>,
) -> Vec<InstalledPackage> {
    let warn = |warnings: &mut Vec<String>, path: &str, problem: &str| {
        warnings.push(format!("{label}: {platform}: `{path}`: {problem}"));
    };
    let sboms = Sboms::read(records, &mut |path, problem| warn(warnings, path, problem));
    if !records
        .keys()
        .any(|p| p == STATUS || p.starts_with(STATUS_D))
    {
        warnings.push(format!(
            "{label}: {platform}: no dpkg records (`/{STATUS}`, `/{STATUS_D}*`): not a Debian image?"
        ));
    }
    let mut found: BTreeMap<(String, String), InstalledPackage> = BTreeMap::new();
    let status_d = records.iter().filter(|(p, _)| p.starts_with(STATUS_D));
    for (path, bytes) in status_d.chain(records.get_key_value(STATUS)) {
        let Ok(text) = std::str::from_utf8(bytes) else {
            warn(warnings, path, "not UTF-8: not read");
            continue;
        };
        for paragraph in deb822::paragraphs(text) {
            let mut p = match package(&paragraph, path == STATUS) {
                Ok(Some(p)) => p,
                Ok(None) => continue,
                Err(problem) => {
                    warn(warnings, path, &format!("{problem}: skipped"));
                    continue;
                }
            };
            p.platform = platform.to_owned();
            let key = (p.name.clone(), p.architecture.clone());
            match found.get(&key) {
                Some(first) if first.version != p.version => warn(
                    warnings,
                    path,
                    &format!(
                        "{} {} recorded again as {}: the first kept",
                        p.name, first.version, p.version
                    ),
                ),
                Some(_) => {}
                None => {
                    sboms.fill(&mut p);
                    found.insert(key, p);
                }
            }
        }
    }
    found.into_values().collect()
}

/// The value of `field`, checked by `valid`.
fn field(p: &Paragraph, field: &str, valid: fn(&str) -> bool) -> Result<String, String> {
    match p.get(field) {
        None => Err(format!("a paragraph without `{field}`")),
        Some(v) if valid(&v) => Ok(v.into_owned()),
        Some(v) => Err(format!("invalid `{field}` {}", shown(&v))),
    }
}

/// A paragraph's package (its platform left empty); `None` when its `Status` says it is
/// not installed (required in `status`, where every package dpkg knows has a paragraph).
fn package(p: &Paragraph, needs_status: bool) -> Result<Option<InstalledPackage>, String> {
    let status = p.get("Status");
    let installed = status.as_deref().map(|s| {
        let words: Vec<&str> = s.split_whitespace().collect();
        matches!(words.as_slice(), [_, "ok", "installed"])
    });
    if installed == Some(false) || (needs_status && installed.is_none()) {
        return Ok(None);
    }
    let name = field(p, "Package", valid_name)?;
    let context = |e: String| format!("package {name}: {e}");
    let version = field(p, "Version", valid_version).map_err(context)?;
    let architecture = field(p, "Architecture", valid_architecture).map_err(context)?;
    let (source, source_version) = match p.get("Source") {
        None => (name.clone(), version.clone()),
        Some(s) => parse_source(&s)
            .map(|(s, v)| (s, v.unwrap_or_else(|| version.clone())))
            .map_err(context)?,
    };
    Ok(Some(InstalledPackage {
        platform: String::new(),
        name,
        version,
        architecture,
        source,
        source_version,
        sha256: None,
        filename: None,
    }))
}

/// `Source: NAME` or `Source: NAME (VERSION)`.
fn parse_source(text: &str) -> Result<(String, Option<String>), String> {
    let bad = || format!("invalid `Source` {}", shown(text));
    let (name, version) = match text.split_once(char::is_whitespace) {
        None => (text, None),
        Some((name, rest)) => {
            let inner = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .map(str::trim)
                .ok_or_else(bad)?;
            (name, Some(inner))
        }
    };
    if !valid_name(name) || version.is_some_and(|v| !valid_version(v)) {
        return Err(bad());
    }
    Ok((name.to_owned(), version.map(str::to_owned)))
}

/// The parts of an SPDX document compose reads.
#[derive(Debug, Deserialize)]
struct SpdxDocument {
    #[serde(default)]
    packages: Vec<SpdxPackage>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpdxPackage {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version_info: Option<String>,
    #[serde(default)]
    package_file_name: Option<String>,
    #[serde(default)]
    checksums: Vec<SpdxChecksum>,
    #[serde(default)]
    attribution_texts: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpdxChecksum {
    algorithm: String,
    checksum_value: String,
}

/// A `.deb` an SBOM lists: its architecture when the SBOM says it (compose writes
/// `architecture: ARCH` among the attribution texts), its SHA256 and pool path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    architecture: Option<String>,
    sha256: String,
    filename: Option<String>,
}

/// Every SBOM's `.deb`s by name and version.
#[derive(Debug, Default)]
struct Sboms {
    listed: BTreeMap<(String, String), Vec<Listed>>,
}

impl Sboms {
    fn read(records: &Records, warn: &mut dyn FnMut(&str, &str)) -> Sboms {
        let mut sboms = Sboms::default();
        let documents = records.iter().filter(|(p, _)| p.starts_with(SBOM_DIR));
        for (path, bytes) in documents {
            match serde_json::from_slice::<SpdxDocument>(bytes) {
                Ok(doc) => sboms.add(doc, &mut |problem| warn(path, problem)),
                Err(e) => warn(
                    path,
                    &format!("not an SPDX document ({e}): its hashes not used"),
                ),
            }
        }
        sboms
    }

    fn add(&mut self, doc: SpdxDocument, warn: &mut dyn FnMut(&str)) {
        for p in doc.packages {
            let sha256 = p
                .checksums
                .iter()
                .find(|c| c.algorithm == "SHA256")
                .map(|c| c.checksum_value.to_ascii_lowercase());
            let (Some(name), Some(version), Some(sha256)) = (p.name, p.version_info, sha256) else {
                continue;
            };
            if !valid_sha256(&sha256) {
                warn(&format!(
                    "package {}: invalid SHA256 {}: not used",
                    shown(&name),
                    shown(&sha256)
                ));
                continue;
            }
            let filename = match p.package_file_name {
                Some(f) if !valid_filename(&f) => {
                    warn(&format!(
                        "package {}: invalid file name {}: not used",
                        shown(&name),
                        shown(&f)
                    ));
                    None
                }
                f => f,
            };
            let architecture = p
                .attribution_texts
                .iter()
                .find_map(|t| t.strip_prefix("architecture: "))
                .map(str::to_owned);
            let entry = Listed {
                architecture,
                sha256,
                filename,
            };
            let list = self.listed.entry((name, version)).or_default();
            if !list.contains(&entry) {
                list.push(entry);
            }
        }
    }

    /// The SHA256 and pool path of `p`'s `.deb`, when exactly one listing matches it (its
    /// architecture, or none named).
    fn fill(&self, p: &mut InstalledPackage) {
        let Some(list) = self.listed.get(&(p.name.clone(), p.version.clone())) else {
            return;
        };
        let same: Vec<&Listed> = list
            .iter()
            .filter(|l| l.architecture.as_deref() == Some(&p.architecture))
            .collect();
        let any: Vec<&Listed> = list.iter().filter(|l| l.architecture.is_none()).collect();
        let chosen = match (same.as_slice(), any.as_slice()) {
            ([one], _) | ([], [one]) => one,
            _ => return,
        };
        p.sha256 = Some(chosen.sha256.clone());
        p.filename = chosen.filename.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(files: &[(&str, &str)]) -> Records {
        files
            .iter()
            .map(|(p, t)| ((*p).to_owned(), t.as_bytes().to_vec()))
            .collect()
    }

    fn read(files: &[(&str, &str)]) -> (Vec<InstalledPackage>, Vec<String>) {
        let mut w = Vec::new();
        let p = packages("oci:x", "linux/amd64", &records(files), &mut w);
        (p, w)
    }

    #[test]
    fn records_are_the_status_files_and_sboms() {
        assert_eq!(record_limit("var/lib/dpkg/status"), Some(MAX_STATUS));
        assert_eq!(
            record_limit("var/lib/dpkg/status.d/libc6"),
            Some(MAX_STATUS_D)
        );
        assert_eq!(record_limit("var/lib/dpkg/status.d/libc6.md5sums"), None);
        assert_eq!(record_limit("var/lib/dpkg/status.d/.hidden"), None);
        assert_eq!(record_limit("var/lib/dpkg/status.d/a/b"), None);
        assert_eq!(record_limit("var/lib/dpkg/status-old"), None);
        assert_eq!(
            record_limit("usr/share/sbom/base.spdx.json"),
            Some(MAX_SBOM)
        );
        assert_eq!(record_limit("usr/share/sbom/x/base.spdx.json"), None);
        assert_eq!(record_limit("usr/share/doc/x"), None);
    }

    #[test]
    fn status_d_and_status_paragraphs_become_packages() {
        let (p, w) = read(&[
            (
                "var/lib/dpkg/status.d/libssl3t64",
                "Package: libssl3t64\nVersion: 3.5.9-1~deb13u1\nArchitecture: amd64\nSource: openssl (3.5.9-1~deb13u1)\n",
            ),
            (
                "var/lib/dpkg/status.d/tzdata",
                "Package: tzdata\nVersion: 2025b-4\nArchitecture: all\nSource: tzdata-legacy\n",
            ),
            (
                "var/lib/dpkg/status",
                "Package: libc6\nStatus: install ok installed\nVersion: 2.41-12\nArchitecture: amd64\nSource: glibc\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\nArchitecture: amd64\n\nPackage: nostatus\nVersion: 1\nArchitecture: amd64\n\nPackage: tzdata\nStatus: install ok installed\nVersion: 2024a-1\nArchitecture: all\n",
            ),
        ]);
        let got: Vec<(&str, &str, &str, &str, &str)> = p
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.version.as_str(),
                    p.architecture.as_str(),
                    p.source.as_str(),
                    p.source_version.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("libc6", "2.41-12", "amd64", "glibc", "2.41-12"),
                (
                    "libssl3t64",
                    "3.5.9-1~deb13u1",
                    "amd64",
                    "openssl",
                    "3.5.9-1~deb13u1"
                ),
                ("tzdata", "2025b-4", "all", "tzdata-legacy", "2025b-4"),
            ]
        );
        assert!(
            p.iter()
                .all(|p| p.platform == "linux/amd64" && p.sha256.is_none())
        );
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("tzdata 2025b-4 recorded again as 2024a-1"),
            "{w:?}"
        );
    }

    #[test]
    fn paragraphs_that_break_policy_are_named_and_skipped() {
        let (p, w) = read(&[
            (
                "var/lib/dpkg/status.d/a",
                "Package: ../../etc\nVersion: 1\nArchitecture: amd64\n",
            ),
            (
                "var/lib/dpkg/status.d/b",
                "Package: bb\nVersion: 1 2\nArchitecture: amd64\n",
            ),
            (
                "var/lib/dpkg/status.d/c",
                "Package: cc\nVersion: 1\nArchitecture: AMD64\n",
            ),
            (
                "var/lib/dpkg/status.d/d",
                "Package: dd\nVersion: 1\nArchitecture: amd64\nSource: dd (x y)\n",
            ),
            ("var/lib/dpkg/status.d/e", "Version: 1\n"),
            (
                "var/lib/dpkg/status.d/f",
                "Package: ff\nVersion: 1\nArchitecture: amd64\n",
            ),
        ]);
        assert_eq!(
            p.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["ff"]
        );
        assert_eq!(w.len(), 5, "{w:?}");
        assert!(w[0].contains("invalid `Package` \"../../etc\""), "{w:?}");
        assert!(w[1].contains("package bb: invalid `Version`"), "{w:?}");
        assert!(w[3].contains("invalid `Source`"), "{w:?}");
        assert!(w[4].contains("without `Package`"), "{w:?}");
        assert!(
            w.iter()
                .all(|w| !w.contains('\n') && w.ends_with("skipped")),
            "{w:?}"
        );
        let mut bad = records(&[]);
        bad.insert("var/lib/dpkg/status.d/x".into(), vec![0xff, 0xfe]);
        let mut w = Vec::new();
        assert!(packages("i", "p", &bad, &mut w).is_empty());
        assert!(w[0].contains("not UTF-8"), "{w:?}");
        let (p, w) = read(&[("usr/share/sbom/x.spdx.json", "{}")]);
        assert!(p.is_empty());
        assert_eq!(
            w,
            [
                "oci:x: linux/amd64: no dpkg records (`/var/lib/dpkg/status`, `/var/lib/dpkg/status.d/*`): not a Debian image?"
            ]
        );
    }

    #[test]
    fn sources_parse_with_and_without_a_version() {
        assert_eq!(parse_source("glibc").unwrap(), ("glibc".into(), None));
        assert_eq!(
            parse_source("openssl (3.5.9-1~deb13u1)").unwrap(),
            ("openssl".into(), Some("3.5.9-1~deb13u1".into()))
        );
        for bad in ["Glibc", "x (1", "x 1", "x ()", "x (1) y"] {
            assert!(parse_source(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_sbom_gives_the_deb_s_hash_and_pool_path() {
        let sha = "ab".repeat(32);
        let sbom = format!(
            r#"{{"packages":[
              {{"SPDXID":"SPDXRef-Image","name":"img"}},
              {{"name":"f-libc","versionInfo":"1.0-1","packageFileName":"pool/main/f/f-libc/f-libc_1.0-1_amd64.deb",
                "checksums":[{{"algorithm":"SHA256","checksumValue":"{}"}}],"attributionTexts":["architecture: amd64"]}},
              {{"name":"f-libc","versionInfo":"1.0-1","checksums":[{{"algorithm":"SHA256","checksumValue":"{}"}}],
                "attributionTexts":["architecture: arm64"]}},
              {{"name":"f-tool","versionInfo":"1.0-1","packageFileName":"../../x",
                "checksums":[{{"algorithm":"SHA256","checksumValue":"{}"}}]}},
              {{"name":"f-bad","versionInfo":"1","checksums":[{{"algorithm":"SHA256","checksumValue":"zz"}}]}}
            ]}}"#,
            sha.to_uppercase(),
            "cd".repeat(32),
            "ef".repeat(32),
        );
        let (p, w) = read(&[
            ("usr/share/sbom/base.spdx.json", &sbom),
            ("usr/share/sbom/broken.spdx.json", "{"),
            (
                "var/lib/dpkg/status.d/f-libc",
                "Package: f-libc\nVersion: 1.0-1\nArchitecture: amd64\n",
            ),
            (
                "var/lib/dpkg/status.d/f-tool",
                "Package: f-tool\nVersion: 1.0-1\nArchitecture: amd64\n",
            ),
            (
                "var/lib/dpkg/status.d/f-other",
                "Package: f-other\nVersion: 1\nArchitecture: amd64\n",
            ),
        ]);
        let libc = p.iter().find(|p| p.name == "f-libc").unwrap();
        assert_eq!(libc.sha256.as_deref(), Some(sha.as_str()));
        assert_eq!(
            libc.filename.as_deref(),
            Some("pool/main/f/f-libc/f-libc_1.0-1_amd64.deb")
        );
        let tool = p.iter().find(|p| p.name == "f-tool").unwrap();
        assert_eq!(tool.sha256, Some("ef".repeat(32)));
        assert_eq!(tool.filename, None);
        assert!(
            p.iter()
                .find(|p| p.name == "f-other")
                .unwrap()
                .sha256
                .is_none()
        );
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w.iter().any(|w| w.contains("invalid file name")), "{w:?}");
        assert!(w.iter().any(|w| w.contains("invalid SHA256")), "{w:?}");
        assert!(
            w.iter()
                .any(|w| w.contains("broken.spdx.json") && w.contains("not an SPDX document")),
            "{w:?}"
        );
    }
}
