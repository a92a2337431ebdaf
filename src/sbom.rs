//! SPDX 2.3 software bills of materials: every package with version, architecture, purl,
//! the SHA256 of its `.deb` and, where its DEP-5 copyright file states one, its licence.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::content::Store;
use crate::deb::Deb;
use crate::package::Planned;
use crate::rootfs::doclinks;
use crate::tree::{Content, Kind};

/// One package as the SBOM lists it.
#[derive(Debug, Clone)]
pub struct SbomPackage<'a> {
    pub package: &'a Planned,
    /// Its declared licence (`declared_license`), as an SPDX expression.
    pub license: Option<String>,
    /// Where the `.deb` was downloaded from; `None` inside the image, whose bytes must not
    /// depend on the mirror (`NOASSERTION`; the pool path stays as the file name).
    pub url: Option<&'a str>,
}

/// What the SBOM beside an output says of the image itself (NTIA's minimum elements:
/// a version and a supplier). The SBOMs inside the layers have none: their bytes are part
/// of the image and cannot name its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageIdentity {
    /// `org.opencontainers.image.version` where set, else the image's digest.
    pub version: String,
    /// In SPDX form: `Organization: NAME` or `Person: NAME`.
    pub supplier: String,
}

/// A file of the image that no package ships (`[[files]]`), as the SBOM beside the
/// output lists it: SPDX 2.3 requires a SHA1 of every file, so it has both.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SbomFile {
    /// Absolute path in the image.
    pub path: String,
    pub sha256: String,
    pub sha1: String,
}

/// The supplier of an image whose spec names none (`[sbom] supplier`) and that has no
/// `org.opencontainers.image.vendor` annotation: its packages' supplier.
pub const DEFAULT_SUPPLIER: &str = "Organization: Debian";

/// `pkg:deb/debian/NAME@VERSION?arch=ARCH` (the epoch, if any, as a qualifier).
pub fn purl(entry: &Planned) -> String {
    let version = entry.version.to_string();
    let (epoch, version) = match version.split_once(':') {
        Some((e, v)) if e.chars().all(|c| c.is_ascii_digit()) => (Some(e.to_owned()), v.to_owned()),
        _ => (None, version),
    };
    let mut purl = format!(
        "pkg:deb/debian/{}@{}?arch={}",
        entry.name,
        version.replace('%', "%25"),
        entry.architecture
    );
    if let Some(e) = epoch {
        purl.push_str(&format!("&epoch={e}"));
    }
    purl
}

/// DEP-5 licence short names to SPDX identifiers.
fn spdx_id(dep5: &str) -> Option<&'static str> {
    let lower = dep5.trim().to_ascii_lowercase();
    Some(match lower.as_str() {
        "gpl-1" => "GPL-1.0-only",
        "gpl-1+" => "GPL-1.0-or-later",
        "gpl-2" => "GPL-2.0-only",
        "gpl-2+" => "GPL-2.0-or-later",
        "gpl-3" => "GPL-3.0-only",
        "gpl-3+" => "GPL-3.0-or-later",
        "lgpl-2" => "LGPL-2.0-only",
        "lgpl-2+" => "LGPL-2.0-or-later",
        "lgpl-2.1" => "LGPL-2.1-only",
        "lgpl-2.1+" => "LGPL-2.1-or-later",
        "lgpl-3" => "LGPL-3.0-only",
        "lgpl-3+" => "LGPL-3.0-or-later",
        "bsd-2-clause" => "BSD-2-Clause",
        "bsd-3-clause" => "BSD-3-Clause",
        "bsd-4-clause" => "BSD-4-Clause",
        "mit" | "expat" => "MIT",
        "apache-2.0" | "apache-2" => "Apache-2.0",
        "mpl-2.0" => "MPL-2.0",
        "mpl-1.1" => "MPL-1.1",
        "zlib" => "Zlib",
        "isc" => "ISC",
        "psf-2" | "psf-2.0" => "PSF-2.0",
        "python-2.0" => "Python-2.0",
        "openssl" => "OpenSSL",
        "artistic" | "artistic-1.0" => "Artistic-1.0",
        "artistic-2.0" => "Artistic-2.0",
        "curl" => "curl",
        "bsl-1.0" => "BSL-1.0",
        "0bsd" => "0BSD",
        "cc0-1.0" | "cc0" => "CC0-1.0",
        "ofl-1.1" => "OFL-1.1",
        "unicode-dfs-2016" => "Unicode-DFS-2016",
        "x11" => "X11",
        "ftl" => "FTL",
        "mpl-2.0-no-copyleft-exception" => "MPL-2.0-no-copyleft-exception",
        "bitstream-vera" => "Bitstream-Vera",
        _ => return None,
    })
}

/// Longest line of a copyright file read (one longer ends the search: no licence).
const MAX_LINE: u64 = 1 << 20;

/// The value of the first `License:` line of a machine-readable (DEP-5) copyright file,
/// read line by line (as `str::lines` splits them).
fn first_license(mut reader: impl BufRead) -> Option<String> {
    let mut line = Vec::new();
    let mut first = true;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .ok()?;
        if n == 0 || (n as u64 == MAX_LINE && !line.ends_with(b"\n")) {
            return None;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        if std::mem::take(&mut first) && !text.starts_with("Format:") {
            return None; // not machine-readable
        }
        if let Some(l) = text.strip_prefix("License:") {
            return Some(l.trim().to_owned());
        }
    }
}

/// The copyright file that speaks for `package`: its own `usr/share/doc/<package>/copyright`,
/// or, when its `usr/share/doc/<package>` is a symlink to another package's doc directory
/// (`libstdc++6 -> gcc-14-base`), the copyright there, shipped by one of `image`.
fn copyright_of<'d>(package: &str, deb: &'d Deb, image: &[&'d Deb]) -> Option<&'d Content> {
    let file_at = |deb: &'d Deb, path: &str| {
        deb.entries.iter().find_map(|e| match &e.kind {
            Kind::File(d) if e.path == path => Some(d),
            _ => None,
        })
    };
    let dir = format!("{}/{package}", doclinks::DOC);
    if let Some(own) = file_at(deb, &format!("{dir}/copyright")) {
        return Some(own);
    }
    let target = deb.entries.iter().find_map(|e| match &e.kind {
        Kind::Symlink(t) if e.path == dir => doclinks::points_to(&e.path, t),
        _ => None,
    })?;
    let path = doclinks::copyright(&target);
    image.iter().find_map(|d| file_at(d, &path))
}

/// The declared licence of a package as an SPDX expression, from the first `License:` of its
/// DEP-5 copyright file (`copyright_of`: the one its doc symlink leads to, in `image`, the
/// packages of the image up to its level); `None` when there is none or it does not map to
/// SPDX identifiers.
pub fn declared_license(package: &str, deb: &Deb, image: &[&Deb], store: &Store) -> Option<String> {
    let data = copyright_of(package, deb, image)?;
    let license = first_license(std::io::BufReader::new(store.open(data).ok()?))?;
    // `GPL-2+ or Artistic`, `GPL-2 with Classpath exception`, `MIT and BSD-3-clause`.
    let mut parts = Vec::new();
    let lower = license.to_ascii_lowercase();
    let mut rest = lower.as_str();
    let op_at = |s: &str| -> Option<(usize, &'static str, usize)> {
        [(" or ", "OR"), (" and ", "AND"), (", ", "AND")]
            .iter()
            .filter_map(|(pat, op)| s.find(pat).map(|i| (i, *op, pat.len())))
            .min_by_key(|(i, _, _)| *i)
    };
    loop {
        let (term, next) = match op_at(rest) {
            Some((i, op, len)) => (&rest[..i], Some((op, &rest[i + len..]))),
            None => (rest, None),
        };
        let id = if let Some((base, exception)) = term.split_once(" with ") {
            let exception = match exception.trim() {
                "classpath exception" | "classpath-exception" => "Classpath-exception-2.0",
                "gcc-exception-3.1" | "gcc runtime library exception" => "GCC-exception-3.1",
                "openssl exception" | "openssl-exception" => "openvpn-openssl-exception",
                _ => return None,
            };
            format!("{} WITH {exception}", spdx_id(base)?)
        } else {
            spdx_id(term)?.to_owned()
        };
        parts.push(id);
        match next {
            Some((op, tail)) => {
                parts.push(op.to_owned());
                rest = tail;
            }
            None => break,
        }
    }
    Some(parts.join(" "))
}

fn spdx_ref(index: usize, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("SPDXRef-Package-{index}-{clean}")
}

/// The SPDX `files` entries of `files` and the image's `CONTAINS` relationship to each.
fn file_entries(files: &[SbomFile]) -> (Vec<Value>, Vec<Value>) {
    let mut entries = Vec::new();
    let mut contains = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let clean: String = f
            .path
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let id = format!("SPDXRef-File-{i}{clean}");
        entries.push(json!({
            "SPDXID": id,
            "fileName": format!(".{}", f.path),
            "checksums": [
                {"algorithm": "SHA1", "checksumValue": f.sha1},
                {"algorithm": "SHA256", "checksumValue": f.sha256},
            ],
            "licenseConcluded": "NOASSERTION",
            "copyrightText": "NOASSERTION",
        }));
        contains.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    (entries, contains)
}

/// The SPDX 2.3 JSON document for `packages` (in the given order), created at `created`;
/// the image's own package has the version and supplier of `image` where given.
pub fn document(
    name: &str,
    packages: &[SbomPackage],
    files: &[SbomFile],
    created: &str,
    image: Option<&ImageIdentity>,
) -> Vec<u8> {
    // The namespace must be unique per document: derive it from its content.
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    for p in packages {
        h.update(p.package.name.as_bytes());
        h.update(p.package.sha256.as_bytes());
    }
    for f in files {
        h.update(f.path.as_bytes());
        h.update(f.sha256.as_bytes());
    }
    let ns = hex::encode(h.finalize());
    let mut pkgs = vec![json!({
        "SPDXID": "SPDXRef-Image",
        "name": name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "CONTAINER",
    })];
    if let (Some(image), Some(Value::Object(own))) = (image, pkgs.first_mut()) {
        own.insert("versionInfo".into(), json!(image.version));
        own.insert("supplier".into(), json!(image.supplier));
    }
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Image",
    })];
    for (i, p) in packages.iter().enumerate() {
        let id = spdx_ref(i, &p.package.name);
        let license = p.license.as_deref().unwrap_or("NOASSERTION");
        pkgs.push(json!({
            "SPDXID": id,
            "name": p.package.name,
            "versionInfo": p.package.version.to_string(),
            "supplier": "Organization: Debian",
            "downloadLocation": p.url.unwrap_or("NOASSERTION"),
            "packageFileName": p.package.filename,
            "filesAnalyzed": false,
            "checksums": [{"algorithm": "SHA256", "checksumValue": p.package.sha256}],
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": license,
            "copyrightText": "NOASSERTION",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": purl(p.package),
            }],
            "attributionTexts": [format!("architecture: {}", p.package.architecture)],
        }));
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    let mut doc: BTreeMap<&str, Value> = BTreeMap::from([
        ("spdxVersion", json!("SPDX-2.3")),
        ("dataLicense", json!("CC0-1.0")),
        ("SPDXID", json!("SPDXRef-DOCUMENT")),
        ("name", json!(name)),
        (
            "documentNamespace",
            json!(format!("https://spdx.org/spdxdocs/compose/{name}-{ns}")),
        ),
        (
            "creationInfo",
            json!({"created": created, "creators": [concat!("Tool: compose-", env!("CARGO_PKG_VERSION"))]}),
        ),
        ("packages", Value::Array(pkgs)),
        ("relationships", Value::Array(relationships)),
    ]);
    if !files.is_empty() {
        // SPDX: a package `CONTAINS` files only when its files are analyzed (these are the
        // ones compose put there itself, by their checksums).
        if let Some(Value::Array(p)) = doc.get_mut("packages")
            && let Some(Value::Object(own)) = p.first_mut()
        {
            own.insert("filesAnalyzed".into(), json!(true));
        }
        let (entries, contains) = file_entries(files);
        doc.insert("files", Value::Array(entries));
        if let Some(Value::Array(r)) = doc.get_mut("relationships") {
            r.extend(contains);
        }
    }
    let mut out = serde_json::to_vec_pretty(&doc).expect("JSON serializes");
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deb::Entry;

    fn deb_with_copyright(pkg: &str, text: &str) -> Deb {
        Deb {
            control: String::new(),
            md5sums: None,
            entries: vec![Entry {
                path: format!("usr/share/doc/{pkg}/copyright"),
                kind: Kind::File(crate::tree::Content::inline(text.as_bytes())),
                mode: 0o644,
                uid: 0,
                gid: 0,
                mtime: 0,
            }],
        }
    }

    #[test]
    fn licences_map_to_spdx_expressions() {
        let dep5 = |l: &str| {
            let text = format!(
                "Format: https://example.invalid/copyright-format/1.0/\n\nFiles: *\nLicense: {l}\n"
            );
            declared_license(
                "p",
                &deb_with_copyright("p", &text),
                &[],
                &crate::content::tests::store(),
            )
        };
        assert_eq!(dep5("GPL-2+").as_deref(), Some("GPL-2.0-or-later"));
        assert_eq!(
            dep5("GPL-2+ or Artistic").as_deref(),
            Some("GPL-2.0-or-later OR Artistic-1.0")
        );
        assert_eq!(dep5("Expat").as_deref(), Some("MIT"));
        assert_eq!(
            dep5("GPL-2 with Classpath exception").as_deref(),
            Some("GPL-2.0-only WITH Classpath-exception-2.0")
        );
        assert_eq!(dep5("Something-odd"), None);
        let free_form = deb_with_copyright("p", "This is free software.\nLicense: GPL-2\n");
        assert_eq!(
            declared_license("p", &free_form, &[], &crate::content::tests::store()),
            None
        );
    }

    /// Issue 23: a package whose doc directory is a symlink to another's (`libstdc++6 ->
    /// gcc-14-base`) has the licence of the copyright there, when the image has it.
    #[test]
    fn a_doc_symlink_leads_to_the_licence_of_the_package_it_points_to() {
        let store = crate::content::tests::store();
        let gcc = deb_with_copyright(
            "gcc-14-base",
            "Format: https://example.invalid/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-3+ with GCC-exception-3.1\n",
        );
        let linked = |target: &str| Deb {
            control: String::new(),
            md5sums: None,
            entries: vec![Entry {
                path: "usr/share/doc/libstdc++6".into(),
                kind: Kind::Symlink(target.into()),
                mode: 0o777,
                uid: 0,
                gid: 0,
                mtime: 0,
            }],
        };
        let libstdcxx = linked("gcc-14-base");
        assert_eq!(
            declared_license("libstdc++6", &libstdcxx, &[&gcc, &libstdcxx], &store).as_deref(),
            Some("GPL-3.0-or-later WITH GCC-exception-3.1")
        );
        assert_eq!(
            declared_license("libstdc++6", &libstdcxx, &[&libstdcxx], &store),
            None,
            "the image does not have the copyright it points to"
        );
        for elsewhere in [
            "/etc",
            "../../../../usr/share/doc/gcc-14-base/x",
            "libstdc++6",
        ] {
            let d = linked(elsewhere);
            assert_eq!(
                declared_license("libstdc++6", &d, &[&gcc, &d], &store),
                None,
                "{elsewhere}"
            );
        }
    }

    /// The image's own package has a version and supplier only where given: the SBOMs in
    /// the layers (none given) keep their bytes, the one beside the output names both.
    #[test]
    fn the_image_package_names_version_and_supplier_only_beside_the_output() {
        let image = |doc: &[u8]| -> Value {
            serde_json::from_slice::<Value>(doc).unwrap()["packages"][0].clone()
        };
        let inside = image(&document("img", &[], &[], "2024-01-01T00:00:00Z", None));
        assert_eq!(inside["SPDXID"], "SPDXRef-Image");
        assert!(inside.get("versionInfo").is_none() && inside.get("supplier").is_none());
        let identity = ImageIdentity {
            version: "1.2".into(),
            supplier: "Organization: ACME".into(),
        };
        let beside = image(&document(
            "img",
            &[],
            &[],
            "2024-01-01T00:00:00Z",
            Some(&identity),
        ));
        assert_eq!(beside["versionInfo"], "1.2");
        assert_eq!(beside["supplier"], "Organization: ACME");
    }

    #[test]
    fn purls_carry_arch_and_epoch() {
        let e = Planned {
            name: "zlib1g".into(),
            version: "1:1.3.dfsg-3".parse().unwrap(),
            architecture: "amd64".into(),
            source: "archive:debian".into(),
            suite: "trixie".into(),
            filename: String::new(),
            size: 0,
            sha256: String::new(),
            url: String::new(),
        };
        assert_eq!(
            purl(&e),
            "pkg:deb/debian/zlib1g@1.3.dfsg-3?arch=amd64&epoch=1"
        );
    }
}
