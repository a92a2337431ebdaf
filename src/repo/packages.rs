//! Packages indexes: decompression and parsing into `PackageEntry`, including the
//! relationship syntax of `Depends`, `Pre-Depends` and `Provides`.

use std::io::Read;
use std::str::FromStr;

use crate::package::{MultiArch, PackageEntry, Version, parse_provides};
use crate::repo::RepoError;
use crate::repo::deb822::paragraphs;

/// Decompress an index by the suffix of its name (`.xz`, `.gz`, or none).
pub fn decompress(name: &str, bytes: &[u8]) -> Result<Vec<u8>, RepoError> {
    let err = |source| RepoError::Decompress {
        name: name.to_owned(),
        source,
    };
    let mut out = Vec::with_capacity(bytes.len() * 6);
    if name.ends_with(".xz") {
        liblzma::read::XzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(err)?;
    } else if name.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(err)?;
    } else {
        out.extend_from_slice(bytes);
    }
    Ok(out)
}

/// The fields `parse_packages` reads; `slim` keeps only these.
const FIELDS: [&str; 10] = [
    "Package",
    "Version",
    "Architecture",
    "Multi-Arch",
    "Pre-Depends",
    "Depends",
    "Provides",
    "Filename",
    "Size",
    "SHA256",
];

/// A Packages index reduced to the fields `compose` reads: about a third of the size, and
/// no decompression on the next build (the cache keeps it next to the verified original).
pub fn slim(text: &str) -> String {
    let mut out = String::with_capacity(text.len() / 3);
    for para in paragraphs(text) {
        for (field, value) in para.fields() {
            if FIELDS.contains(&field) {
                out.push_str(field);
                out.push_str(": ");
                out.push_str(value);
                out.push('\n');
            }
        }
        out.push('\n');
    }
    out
}

/// Parse a Packages index. `origin` is recorded in every entry. Large indexes are cut at
/// paragraph boundaries and parsed in parallel; the result keeps the file's order.
pub fn parse_packages(text: &str, origin: usize) -> Result<Vec<PackageEntry>, RepoError> {
    use rayon::prelude::*;
    const CHUNK: usize = 4 << 20;
    let mut chunks = Vec::new();
    let mut rest = text;
    while rest.len() > CHUNK {
        let cut = rest[CHUNK..]
            .find("\n\n")
            .map_or(rest.len(), |i| CHUNK + i + 1);
        let (head, tail) = rest.split_at(cut);
        chunks.push(head);
        rest = tail;
    }
    chunks.push(rest);
    let parts: Vec<Vec<PackageEntry>> = chunks
        .par_iter()
        .map(|c| parse_chunk(c, origin))
        .collect::<Result<_, _>>()?;
    Ok(parts.into_iter().flatten().collect())
}

fn parse_chunk(text: &str, origin: usize) -> Result<Vec<PackageEntry>, RepoError> {
    let mut out = Vec::new();
    for para in paragraphs(text) {
        let mut name = None;
        let mut version = None;
        let mut arch = None;
        let mut multi_arch = MultiArch::No;
        let mut pre_depends = None;
        let mut depends = None;
        let mut provides = None;
        let mut filename = None;
        let mut size = None;
        let mut sha256 = None;
        for (field, value) in para.fields() {
            match field {
                "Package" => name = Some(value),
                "Version" => version = Some(value),
                "Architecture" => arch = Some(value),
                "Multi-Arch" => {
                    multi_arch = match value {
                        "same" => MultiArch::Same,
                        "foreign" => MultiArch::Foreign,
                        "allowed" => MultiArch::Allowed,
                        _ => MultiArch::No,
                    }
                }
                "Pre-Depends" => pre_depends = Some(value),
                "Depends" => depends = Some(value),
                "Provides" => provides = Some(value),
                "Filename" => filename = Some(value),
                "Size" => size = Some(value),
                "SHA256" => sha256 = Some(value),
                _ => {}
            }
        }
        let Some(name) = name else { continue };
        let missing = |field| RepoError::PackageField {
            package: name.to_owned(),
            field,
        };
        let bad = |field, value: &str| RepoError::PackageValue {
            package: name.to_owned(),
            field,
            value: value.to_owned(),
        };
        let version_text = version.ok_or_else(|| missing("Version"))?;
        let version = Version::from_str(version_text).map_err(|_| bad("Version", version_text))?;
        let sha256 = sha256.ok_or_else(|| missing("SHA256"))?;
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("SHA256", sha256));
        }
        let size_text = size.ok_or_else(|| missing("Size"))?;
        // Relationships are parsed when the resolver visits the package: most never are.
        let depends_raw = match (pre_depends, depends) {
            (Some(p), Some(d)) => format!("{p}, {d}"),
            (Some(x), None) | (None, Some(x)) => x.to_owned(),
            (None, None) => String::new(),
        };
        out.push(PackageEntry {
            name: name.to_owned(),
            version,
            architecture: arch.ok_or_else(|| missing("Architecture"))?.to_owned(),
            multi_arch,
            depends_raw,
            provides: match provides {
                Some(p) => parse_provides(p).map_err(|_| bad("Provides", p))?,
                None => Vec::new(),
            },
            filename: filename.ok_or_else(|| missing("Filename"))?.to_owned(),
            size: size_text.parse().map_err(|_| bad("Size", size_text))?,
            sha256: sha256.to_ascii_lowercase(),
            origin,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_index_parses_and_checks_fields() {
        let sha = "a".repeat(64);
        let text = format!(
            "Package: libfoo\nVersion: 1.0-1\nArchitecture: amd64\nMulti-Arch: same\nPre-Depends: libc6\nDepends: libbar (>= 2) | libbaz\nProvides: foo-api (= 1)\nFilename: pool/main/f/foo/libfoo_1.0-1_amd64.deb\nSize: 1234\nSHA256: {sha}\nDescription: x\n continued\n\nPackage: broken\nVersion: 1\n"
        );
        let e = parse_packages(&text, 3).unwrap_err();
        assert!(
            e.to_string().contains("`broken` lacks the `SHA256` field"),
            "{e}"
        );
        let text = text.split("\n\nPackage: broken").next().unwrap();
        let p = parse_packages(text, 3).unwrap();
        assert_eq!(p.len(), 1);
        let p = &p[0];
        assert_eq!((p.name.as_str(), p.origin, p.size), ("libfoo", 3, 1234));
        assert_eq!(p.multi_arch, MultiArch::Same);
        let deps = p.depends().unwrap();
        assert_eq!(deps.len(), 2, "pre-depends then depends");
        assert_eq!(deps[0][0].name, "libc6");
        assert_eq!(deps[1][1].name, "libbaz");
        assert_eq!(p.provides[0].name, "foo-api");
    }

    #[test]
    fn large_indexes_parse_in_chunks_in_order() {
        let sha = "d".repeat(64);
        let text: String = (0..40_000)
            .map(|i| format!("Package: p{i}\nVersion: 1\nArchitecture: all\nDescription: padding padding padding padding padding padding\nFilename: pool/p{i}.deb\nSize: 1\nSHA256: {sha}\n\n"))
            .collect();
        assert!(text.len() > 8 << 20, "several chunks");
        let p = parse_packages(&text, 0).unwrap();
        assert_eq!(p.len(), 40_000);
        assert!(p.iter().enumerate().all(|(i, e)| e.name == format!("p{i}")));
    }

    #[test]
    fn slim_keeps_what_the_parser_reads() {
        let sha = "c".repeat(64);
        let text = format!(
            "Package: a\nVersion: 1\nArchitecture: all\nDescription: long\n text\nDepends: b (>= 1)\nFilename: pool/a.deb\nSize: 1\nSHA256: {sha}\nTag: x\n\nPackage: b\nVersion: 2\nArchitecture: all\nFilename: pool/b.deb\nSize: 2\nSHA256: {sha}\n"
        );
        let s = slim(&text);
        assert!(!s.contains("Description") && !s.contains("Tag"));
        assert_eq!(
            parse_packages(&s, 0).unwrap(),
            parse_packages(&text, 0).unwrap()
        );
    }

    #[test]
    fn decompression_by_suffix() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"Package: a\n").unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decompress("Packages.gz", &gz).unwrap(), b"Package: a\n");
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(b"Package: b\n").unwrap();
        let xz = xz.finish().unwrap();
        assert_eq!(decompress("Packages.xz", &xz).unwrap(), b"Package: b\n");
        assert!(decompress("Packages.xz", b"garbage").is_err());
    }
}
