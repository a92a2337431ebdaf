//! Packages indexes: decompression and parsing into `PackageEntry`, including the
//! relationship syntax of `Depends`, `Pre-Depends` and `Provides`.

use std::io::Read;
use std::str::FromStr;

use crate::package::{Constraint, Dependency, MultiArch, PackageEntry, Provide, Relation, Version};
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

/// Parse a Packages index. `origin` is recorded in every entry.
pub fn parse_packages(text: &str, origin: usize) -> Result<Vec<PackageEntry>, RepoError> {
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
        let mut deps = Vec::new();
        for (field, value) in [("Pre-Depends", pre_depends), ("Depends", depends)] {
            if let Some(v) = value {
                deps.extend(parse_relations(v).map_err(|_| bad(field, v))?);
            }
        }
        out.push(PackageEntry {
            name: name.to_owned(),
            version,
            architecture: arch.ok_or_else(|| missing("Architecture"))?.to_owned(),
            multi_arch,
            depends: deps,
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

/// A relationship field could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationError(pub String);

/// Parse one alternative: `name[:arch] [(op version)] [[archs]] [<profiles>]`.
fn parse_one(text: &str) -> Result<Dependency, RelationError> {
    let err = || RelationError(text.to_owned());
    // The version constraint first: `<<` must not be mistaken for a build profile.
    let (rest, constraint) = match text.find('(') {
        Some(open) => {
            let close = text[open..].find(')').ok_or_else(err)? + open;
            let inner = text[open + 1..close].trim();
            let op_len = inner
                .find(|c: char| !matches!(c, '<' | '>' | '='))
                .ok_or_else(err)?;
            let relation = match &inner[..op_len] {
                "<<" => Relation::Earlier,
                "<=" | "<" => Relation::EarlierEqual,
                "=" => Relation::Equal,
                ">=" | ">" => Relation::LaterEqual,
                ">>" => Relation::Later,
                _ => return Err(err()),
            };
            let version = Version::from_str(inner[op_len..].trim()).map_err(|_| err())?;
            (
                format!("{} {}", &text[..open], &text[close + 1..]),
                Some(Constraint { relation, version }),
            )
        }
        None => (text.to_owned(), None),
    };
    // Architecture restrictions and build profiles are dropped.
    let rest = strip_brackets(&rest, '[', ']');
    let rest = strip_brackets(&rest, '<', '>');
    let head = rest.trim();
    let (name, arch_qualifier) = match head.split_once(':') {
        Some((n, q)) => (n.trim(), Some(q.trim().to_owned())),
        None => (head, None),
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(err());
    }
    Ok(Dependency {
        name: name.to_owned(),
        arch_qualifier,
        constraint,
    })
}

fn strip_brackets(text: &str, open: char, close: char) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0;
    for c in text.chars() {
        if c == open {
            depth += 1;
        } else if c == close && depth > 0 {
            depth -= 1;
        } else if depth == 0 {
            out.push(c);
        }
    }
    out
}

/// Parse `Depends` syntax: comma-separated groups of `|`-separated alternatives.
pub fn parse_relations(text: &str) -> Result<Vec<Vec<Dependency>>, RelationError> {
    let mut groups = Vec::new();
    for group in text.split(',') {
        if group.trim().is_empty() {
            continue;
        }
        let alts = group
            .split('|')
            .map(parse_one)
            .collect::<Result<Vec<_>, _>>()?;
        groups.push(alts);
    }
    Ok(groups)
}

/// Parse `Provides`: `name [(= version)]`, comma-separated.
pub fn parse_provides(text: &str) -> Result<Vec<Provide>, RelationError> {
    let mut out = Vec::new();
    for item in text.split(',') {
        if item.trim().is_empty() {
            continue;
        }
        let dep = parse_one(item)?;
        let version = match dep.constraint {
            Some(Constraint {
                relation: Relation::Equal,
                version,
            }) => Some(version),
            Some(_) => return Err(RelationError(item.to_owned())),
            None => None,
        };
        out.push(Provide {
            name: dep.name,
            version,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn relations_with_alternatives_qualifiers_and_restrictions() {
        let r = parse_relations(
            "libc6 (>= 2.36), debconf (>= 0.5) | debconf-2.0, python3:any, foo [amd64] <!nocheck>, bar (<< 1:2.0~rc1) [!i386]",
        )
        .unwrap();
        assert_eq!(r.len(), 5);
        assert_eq!(r[0][0].name, "libc6");
        let c = r[0][0].constraint.as_ref().unwrap();
        assert_eq!((c.relation, &c.version), (Relation::LaterEqual, &v("2.36")));
        assert_eq!(r[1].len(), 2);
        assert_eq!(r[1][1].name, "debconf-2.0");
        assert_eq!(r[2][0].arch_qualifier.as_deref(), Some("any"));
        assert_eq!(r[3][0].name, "foo");
        assert_eq!(
            r[4][0].constraint.as_ref().unwrap().relation,
            Relation::Earlier
        );
        assert_eq!(r[4][0].to_string(), "bar (<< 1:2.0~rc1)");
        assert!(parse_relations("a (~~ 1)").is_err());
        assert!(parse_relations("a (>= 1").is_err());
    }

    #[test]
    fn provides_with_versions() {
        let p = parse_provides("awk, python3-foo (= 1.2-1)").unwrap();
        assert_eq!(
            p[0],
            Provide {
                name: "awk".into(),
                version: None
            }
        );
        assert_eq!(p[1].version, Some(v("1.2-1")));
        assert!(parse_provides("x (>= 1)").is_err());
    }

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
        assert_eq!(p.depends.len(), 2, "pre-depends then depends");
        assert_eq!(p.depends[0][0].name, "libc6");
        assert_eq!(p.depends[1][1].name, "libbaz");
        assert_eq!(p.provides[0].name, "foo-api");
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
