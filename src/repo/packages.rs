//! Packages indexes: decompression and parsing into `PackageEntry`, including the
//! relationship syntax of `Depends`, `Pre-Depends` and `Provides`.

use std::io::Read;
use std::str::FromStr;

use crate::package::{
    MultiArch, PackageEntry, Priority, Version, parse_provides, valid_architecture, valid_filename,
    valid_name, valid_sha256, valid_version,
};
use crate::repo::RepoError;
use crate::repo::deb822::paragraphs;

/// The memory liblzma may use to decode an index (xz -9 needs 65 MiB).
const XZ_MEMLIMIT: u64 = 256 << 20;

/// Decompress an index by the suffix of its name (`.xz`, `.gz`, or none), refusing one that
/// holds more than `limit` bytes as soon as the decoder passes it.
pub fn decompress(name: &str, bytes: &[u8], limit: u64) -> Result<Vec<u8>, RepoError> {
    let err = |source| RepoError::Decompress {
        name: name.to_owned(),
        source,
    };
    let reader: Box<dyn Read + '_> = if name.ends_with(".xz") {
        let stream =
            liblzma::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, liblzma::stream::CONCATENATED)
                .map_err(|e| err(e.into()))?;
        Box::new(liblzma::read::XzDecoder::new_stream(bytes, stream))
    } else if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    // A guess from the real input, not from any number the input states.
    let guess = bytes.len().saturating_mul(6).min(256 << 20);
    read_bounded(reader, guess, limit)
        .map_err(err)?
        .ok_or_else(|| RepoError::IndexTooLarge {
            name: name.to_owned(),
            limit,
        })
}

/// All of `reader`, or `None` as soon as it holds more than `limit` bytes; the buffer never
/// grows past `limit + 1` bytes (no doubling beyond it).
fn read_bounded(
    mut reader: impl Read,
    guess: usize,
    limit: u64,
) -> std::io::Result<Option<Vec<u8>>> {
    let cap = usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(guess.min(cap));
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(Some(out)),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if (out.len() + n) as u64 > limit {
            return Ok(None);
        }
        if out.capacity() - out.len() < n {
            let want = out.capacity().saturating_mul(2).max(out.len() + n).min(cap);
            out.reserve_exact(want - out.len());
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Parse a Packages index. `origin` is recorded in every entry. Large indexes are cut at
/// paragraph boundaries and parsed in parallel; the result keeps the file's order.
pub fn parse_packages(text: &str, origin: usize) -> Result<Vec<PackageEntry>, RepoError> {
    use rayon::prelude::*;
    const CHUNK: usize = 4 << 20;
    let mut chunks = Vec::new();
    let mut rest = text;
    while rest.len() > CHUNK {
        // Search bytes, not `str`: CHUNK may fall inside a multi-byte character. The cut
        // itself is just after a `\n`, always a character boundary.
        let cut = find_blank_line(&rest.as_bytes()[CHUNK..]).map_or(rest.len(), |i| CHUNK + i + 1);
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

fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\n\n")
}

/// The largest `Size` an index may state: nothing real comes near it, and no sum of sizes
/// can overflow below it.
pub const MAX_PACKAGE_SIZE: u64 = 1 << 40;

/// The fields of one paragraph that `compose` reads, as written.
#[derive(Default)]
struct Fields<'a> {
    name: Option<&'a str>,
    version: Option<&'a str>,
    arch: Option<&'a str>,
    multi_arch: MultiArch,
    pre_depends: Option<&'a str>,
    depends: Option<&'a str>,
    provides: Option<&'a str>,
    filename: Option<&'a str>,
    size: Option<&'a str>,
    sha256: Option<&'a str>,
    priority: Priority,
    essential: bool,
    protected: bool,
}

impl<'a> Fields<'a> {
    fn of(para: &crate::repo::deb822::Paragraph<'a>) -> Fields<'a> {
        let mut f = Fields::default();
        for (field, value) in para.fields() {
            match field {
                "Package" => f.name = Some(value),
                "Version" => f.version = Some(value),
                "Architecture" => f.arch = Some(value),
                "Multi-Arch" => {
                    f.multi_arch = match value {
                        "same" => MultiArch::Same,
                        "foreign" => MultiArch::Foreign,
                        "allowed" => MultiArch::Allowed,
                        _ => MultiArch::No,
                    }
                }
                "Pre-Depends" => f.pre_depends = Some(value),
                "Depends" => f.depends = Some(value),
                "Provides" => f.provides = Some(value),
                "Filename" => f.filename = Some(value),
                "Size" => f.size = Some(value),
                "SHA256" => f.sha256 = Some(value),
                // Read as apt reads them: they only rank providers (see `Priority`).
                "Priority" => f.priority = Priority::parse(value),
                "Essential" => f.essential = value.eq_ignore_ascii_case("yes"),
                "Protected" | "Important" => f.protected = value.eq_ignore_ascii_case("yes"),
                _ => {}
            }
        }
        f
    }
}

/// A value for an error message: control characters escaped, at most 100 characters.
pub(crate) fn shown(value: &str) -> String {
    let escaped: String = value.escape_debug().collect();
    match escaped.char_indices().nth(100) {
        Some((cut, _)) => format!("{}...", &escaped[..cut]),
        None => escaped,
    }
}

/// One paragraph as an entry, every field that can reach a path or a URL checked against
/// Debian policy first. A paragraph without `Package` is skipped (as apt does).
fn entry(f: Fields<'_>, origin: usize) -> Result<Option<PackageEntry>, RepoError> {
    let Some(name) = f.name else { return Ok(None) };
    let missing = |field| RepoError::PackageField {
        package: shown(name),
        field,
    };
    let bad = |field, value: &str| RepoError::PackageValue {
        package: shown(name),
        field,
        value: shown(value),
    };
    if !valid_name(name) {
        return Err(bad("Package", name));
    }
    let version_text = f.version.ok_or_else(|| missing("Version"))?;
    if !valid_version(version_text) {
        return Err(bad("Version", version_text));
    }
    let version = Version::from_str(version_text).map_err(|_| bad("Version", version_text))?;
    let arch = f.arch.ok_or_else(|| missing("Architecture"))?;
    if !valid_architecture(arch) {
        return Err(bad("Architecture", arch));
    }
    let sha256 = f.sha256.ok_or_else(|| missing("SHA256"))?;
    if !valid_sha256(sha256) {
        return Err(bad("SHA256", sha256));
    }
    let filename = f.filename.ok_or_else(|| missing("Filename"))?;
    if !valid_filename(filename) {
        return Err(bad("Filename", filename));
    }
    let size_text = f.size.ok_or_else(|| missing("Size"))?;
    let size: u64 = size_text.parse().map_err(|_| bad("Size", size_text))?;
    if size > MAX_PACKAGE_SIZE {
        return Err(RepoError::PackageTooLarge {
            package: name.to_owned(),
            size,
            limit: MAX_PACKAGE_SIZE,
        });
    }
    // Relationships are parsed when the resolver visits the package: most never are.
    let depends_raw = match (f.pre_depends, f.depends) {
        (Some(p), Some(d)) => format!("{p}, {d}"),
        (Some(x), None) | (None, Some(x)) => x.to_owned(),
        (None, None) => String::new(),
    };
    Ok(Some(PackageEntry {
        name: name.to_owned(),
        version,
        architecture: arch.to_owned(),
        multi_arch: f.multi_arch,
        depends_raw,
        provides: match f.provides {
            Some(p) => parse_provides(p).map_err(|_| bad("Provides", p))?,
            None => Vec::new(),
        },
        filename: filename.to_owned(),
        size,
        sha256: sha256.to_ascii_lowercase(),
        origin,
        priority: f.priority,
        essential: f.essential,
        protected: f.protected,
    }))
}

fn parse_chunk(text: &str, origin: usize) -> Result<Vec<PackageEntry>, RepoError> {
    let mut out = Vec::new();
    for para in paragraphs(text) {
        if let Some(e) = entry(Fields::of(&para), origin)? {
            out.push(e);
        }
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
            "Package: libfoo\nVersion: 1.0-1\nArchitecture: amd64\nMulti-Arch: same\nPre-Depends: libc6\nDepends: libbar (>= 2) | libbaz\nProvides: foo-api (= 1)\nFilename: pool/main/f/foo/libfoo_1.0-1_amd64.deb\nSize: 1234\nSHA256: {sha}\nPriority: Important\nProtected: yes\nDescription: x\n continued\n\nPackage: bare\nVersion: 2\nArchitecture: all\nFilename: pool/main/b/bare_2_all.deb\nSize: 1\nSHA256: {sha}\nEssential: yes\nPriority: source\n\nPackage: unranked\nVersion: 2\nArchitecture: all\nFilename: pool/main/u/unranked_2_all.deb\nSize: 1\nSHA256: {sha}\nEssential: no\n\nPackage: broken\nVersion: 1\n"
        );
        let e = parse_packages(&text, 3).unwrap_err();
        assert!(
            e.to_string()
                .contains("`broken` lacks the `Architecture` field"),
            "{e}"
        );
        let text = text.split("\n\nPackage: broken").next().unwrap();
        let p = parse_packages(text, 3).unwrap();
        assert_eq!(p.len(), 3);
        // What ranks providers: apt's reading of Priority, Essential and Protected.
        let ranks: Vec<_> = p
            .iter()
            .map(|e| (e.priority, e.essential, e.protected))
            .collect();
        assert_eq!(
            ranks,
            [
                (Priority::Important, false, true),
                (Priority::Extra, true, false),
                (Priority::Unset, false, false)
            ]
        );
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
    fn decompression_by_suffix_within_the_limit() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"Package: a\n").unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decompress("Packages.gz", &gz, 11).unwrap(), b"Package: a\n");
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(b"Package: b\n").unwrap();
        let xz = xz.finish().unwrap();
        assert_eq!(decompress("Packages.xz", &xz, 11).unwrap(), b"Package: b\n");
        assert!(decompress("Packages.xz", b"garbage", 100).is_err());
        for (name, data) in [("Packages.gz", &gz), ("Packages.xz", &xz)] {
            let e = decompress(name, data, 10).unwrap_err();
            let hint = crate::error::Hint::hint(&e).unwrap_or_default();
            let e = e.to_string();
            assert!(
                e.starts_with(&format!(
                    "`{name}` decompresses to more than the limit of 10 bytes for an index"
                )),
                "{e}"
            );
            assert!(hint.contains("COMPOSE_MAX_INDEX_SIZE"), "{hint}");
        }
        assert!(decompress("Packages", b"Package: c\n", 5).is_err());
    }

    #[test]
    fn a_bomb_stops_at_the_limit_without_expanding() {
        use std::io::Write;
        // 1 GiB of zeros in about 1 MB of gzip: refused after limit + 1 bytes of output.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            gz.write_all(&zeros).unwrap();
        }
        let gz = gz.finish().unwrap();
        let e = decompress("Packages.gz", &gz, 1 << 20).unwrap_err();
        assert!(
            matches!(e, RepoError::IndexTooLarge { limit, .. } if limit == 1 << 20),
            "{e}"
        );
    }

    #[test]
    fn xz_decoding_has_a_memory_limit() {
        use std::io::Write;
        // A stream whose dictionary (1.5 GiB) needs more than XZ_MEMLIMIT to decode.
        let mut opts = liblzma::stream::LzmaOptions::new_preset(1).unwrap();
        opts.dict_size(1536 << 20);
        let mut filters = liblzma::stream::Filters::new();
        filters.lzma2(&opts);
        let stream =
            liblzma::stream::Stream::new_stream_encoder(&filters, liblzma::stream::Check::Crc64)
                .unwrap();
        let mut xz = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
        xz.write_all(b"Package: a\n").unwrap();
        let xz = xz.finish().unwrap();
        let e = decompress("Packages.xz", &xz, 1 << 30).unwrap_err();
        assert!(
            e.to_string().starts_with("cannot decompress `Packages.xz`"),
            "{e}"
        );
    }

    #[test]
    fn a_multibyte_character_across_the_chunk_boundary_is_no_panic() {
        let sha = "d".repeat(64);
        let para = |i: usize, desc: &str| {
            format!(
                "Package: p{i}\nVersion: 1\nArchitecture: all\nDescription: {desc}\nFilename: pool/p{i}.deb\nSize: 1\nSHA256: {sha}\n\n"
            )
        };
        // Place a 3-byte `€` so that byte 4 MiB falls on its second, then its third byte.
        for shift in 0..2 {
            let mut text = String::new();
            let mut i = 0;
            while text.len() < (4 << 20) - 200 {
                text.push_str(&para(i, "padding"));
                i += 1;
            }
            let head = format!("Package: p{i}\nVersion: 1\nArchitecture: all\nDescription: ");
            let fill = (4 << 20) - text.len() - head.len() - 1 - shift;
            text.push_str(&head);
            text.push_str(&"x".repeat(fill));
            text.push('€');
            text.push_str(&format!(
                "\nFilename: pool/p{i}.deb\nSize: 1\nSHA256: {sha}\n\n"
            ));
            text.push_str(&para(i + 1, "after"));
            assert!(!text.is_char_boundary(4 << 20));
            let p = parse_packages(&text, 0).unwrap();
            assert_eq!(p.len(), i + 2);
        }
    }

    fn one(fields: &str) -> Result<Vec<PackageEntry>, RepoError> {
        let sha = "e".repeat(64);
        let base = [
            ("Package", "good-pkg".to_owned()),
            ("Version", "1:2.0-1".to_owned()),
            ("Architecture", "amd64".to_owned()),
            (
                "Filename",
                "pool/main/g/good/good-pkg_2.0-1_amd64.deb".to_owned(),
            ),
            ("Size", "10".to_owned()),
            ("SHA256", sha),
        ];
        let mut text = String::new();
        for (k, v) in base {
            let over = fields
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k}: ")).map(str::to_owned));
            text.push_str(&format!("{k}: {}\n", over.unwrap_or(v)));
        }
        parse_packages(&text, 0)
    }

    #[test]
    fn fields_that_reach_paths_and_urls_are_checked() {
        assert_eq!(one("").unwrap()[0].name, "good-pkg");
        for (fields, needle) in [
            (
                "Package: ../../etc",
                "package `../../etc` has an invalid `Package` value `../../etc`",
            ),
            ("Package: A", "invalid `Package` value `A`"),
            (
                "Version: 1.0/../x",
                "package `good-pkg` has an invalid `Version` value `1.0/../x`",
            ),
            (
                "Architecture: amd64/../..",
                "invalid `Architecture` value `amd64/../..`",
            ),
            (
                "Filename: /etc/passwd",
                "invalid `Filename` value `/etc/passwd`",
            ),
            (
                "Filename: pool/../../x.deb",
                "invalid `Filename` value `pool/../../x.deb`",
            ),
            ("Filename: pool/%2e%2e/x.deb", "invalid `Filename`"),
            ("Filename: pool//x.deb", "invalid `Filename`"),
            ("Filename: pool/x.deb?a=b", "invalid `Filename`"),
            (
                "Filename: pool/x\u{1b}[2J.deb",
                "invalid `Filename` value `pool/x\\u{1b}[2J.deb`",
            ),
            ("SHA256: abc", "invalid `SHA256` value `abc`"),
            ("Size: -1", "invalid `Size` value `-1`"),
            ("Size: 18446744073709551616", "invalid `Size`"),
            (
                "Size: 1000000000000000",
                "package `good-pkg` states a size of 1000000000000000 bytes, more than any package may have (1 TiB)",
            ),
            (
                "Size: 18446744073709551615",
                "states a size of 18446744073709551615 bytes",
            ),
        ] {
            let e = one(fields).unwrap_err().to_string();
            assert!(e.contains(needle), "{fields}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
        assert_eq!(one("Size: 1099511627776").unwrap()[0].size, 1 << 40);
        // Long values are cut in messages.
        let e = one(&format!("Filename: /{}", "a".repeat(5000)))
            .unwrap_err()
            .to_string();
        assert!(e.len() < 300, "{e}");
    }
}
