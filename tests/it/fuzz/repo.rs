//! Repository metadata: deb822 paragraphs, Release files, Packages indexes (and their
//! decompression and chunked parsing), relationship fields and the InRelease reader.

use std::path::Path;

use compose::package::{Version, parse_provides, parse_relations};
use compose::repo::deb822::paragraphs;
use compose::repo::keyring::Keyring;
use compose::repo::packages::{decompress, parse_packages};
use compose::repo::release::{Release, parse_date};
use proptest::prelude::*;
use proptest::sample::Index;

use super::{ByteEdit, byte_edit, check, fixture, no_panic};
use crate::harness::repo_root;

const PACKAGES: [&str; 2] = [
    "tests/data/repo/dists/testing/main/binary-amd64/Packages",
    "tests/data/repo/dists/testing-updates/main/binary-amd64/Packages",
];
const RELEASES: [&str; 2] = [
    "tests/data/repo/dists/testing/Release",
    "tests/data/repo/dists/testing-updates/Release",
];
const INRELEASES: [&str; 2] = [
    "tests/data/repo/dists/testing/InRelease",
    "tests/data/repo/dists/testing-updates/InRelease",
];

/// Pieces of text that stress deb822 and the values read from it.
const PIECES: &[&str] = &[
    "\n",
    "\n\n",
    "\r\n",
    "\r",
    " \n",
    "\t\n",
    " .\n",
    " ..\n",
    "#\n",
    "# c\n",
    ":",
    ": ",
    ":\n",
    "Package:",
    "Package: x\n",
    "Package:\n",
    "Version:",
    "\u{e9}",
    "\u{20ac}",
    "\u{1d11e}",
    "\u{feff}",
    "\u{2028}",
    "\u{85}",
    "\u{a0}",
    "\0",
    "\u{7f}",
    "\t",
    " ",
    // sizes
    "0",
    "-1",
    "+1",
    " 1",
    "0x10",
    "1e3",
    "\u{663}",
    "18446744073709551615",
    "18446744073709551616",
    "1000000000000000",
    "99999999999999999999999999999999",
    // versions
    "1:",
    ":1",
    "1:-",
    "-",
    "a",
    "1.0-",
    "99999999999999999999:1.0",
    "1:2:3",
    "1.0-1-1",
    "~",
    "1.0~~",
    "1 .0",
    "0:0",
    "1:\u{e9}",
    "-1:1",
    // hashes, names and paths
    "../../etc/passwd",
    "/abs",
    "pool/../../x",
    "a b",
    "a/./b",
    "pool/main/\u{e9}.deb",
    // relationships
    "a (>= 1",
    "a (>>)",
    "a ()",
    "(",
    ")",
    "a |",
    "| b",
    "a [",
    "a <",
    ",,,,",
    "a:",
    ":b",
    "a (= 1:)",
    "a (<< 1) [!amd64] <!nocheck>",
    "a:any (>= 1.0~rc1)",
    "a [[[",
    "a <<<",
];

/// What a mutated text file gets.
#[derive(Debug, Clone)]
pub(super) enum Piece {
    Text(&'static str),
    /// `unit` repeated: huge lines, many continuation lines, long runs of multibyte text.
    Repeat(&'static str, u16),
    /// A hash list line as in a Release file, with any of the pieces as size or path.
    HashLine(String, &'static str, &'static str),
    /// Bytes that are not UTF-8 (the pipeline reads text lossily).
    Bytes(Vec<u8>),
    Random(String),
}

fn piece() -> impl Strategy<Value = Piece> {
    let text = prop::sample::select(PIECES);
    let hash = prop_oneof![
        Just("a".repeat(64)),
        Just("\u{e9}".repeat(32)),
        Just("a".repeat(63)),
        Just("A".repeat(65)),
        "[0-9a-fA-Fg-z]{64}",
    ];
    prop_oneof![
        4 => text.clone().prop_map(Piece::Text),
        1 => (
            prop::sample::select(&["x", "\n", " x\n", "\u{e9}", "a,", "a|", "(", "#\n"][..]),
            0..u16::MAX
        )
            .prop_map(|(u, n)| Piece::Repeat(u, n)),
        1 => (hash, text.clone(), text).prop_map(|(h, s, p)| Piece::HashLine(h, s, p)),
        1 => prop::sample::select(vec![
            vec![0xffu8], vec![0xc3], vec![0xe2, 0x82], vec![0xf0, 0x9d, 0x84],
            vec![0xed, 0xa0, 0x80], vec![0xc0, 0x80], vec![0xc3, b'\n'],
        ]).prop_map(Piece::Bytes),
        1 => "\\PC{0,40}".prop_map(Piece::Random),
    ]
}

impl Piece {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Piece::Text(t) => t.as_bytes().to_vec(),
            Piece::Repeat(u, n) => u.repeat(*n as usize).into_bytes(),
            Piece::HashLine(h, s, p) => format!(" {h} {s} {p}\n").into_bytes(),
            Piece::Bytes(b) => b.clone(),
            Piece::Random(s) => s.as_bytes().to_vec(),
        }
    }
}

/// Fields whose values get replaced.
const FIELDS: &[&str] = &[
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
    "Suite",
    "Codename",
    "Date",
    "Acquire-By-Hash",
    "MD5Sum",
    "Description",
];

#[derive(Debug, Clone)]
pub(super) enum TextEdit {
    /// Insert at a position, or at the start of a line.
    Insert(Index, bool, Piece),
    /// Replace the value of the `nth` occurrence of a field (up to the end of its line).
    SetField(&'static str, Index, Piece),
    Bytes(ByteEdit),
}

pub(super) fn text_edit() -> impl Strategy<Value = TextEdit> {
    prop_oneof![
        3 => (any::<Index>(), any::<bool>(), piece())
            .prop_map(|(i, l, p)| TextEdit::Insert(i, l, p)),
        3 => (prop::sample::select(FIELDS), any::<Index>(), piece())
            .prop_map(|(f, i, p)| TextEdit::SetField(f, i, p)),
        1 => byte_edit().prop_map(TextEdit::Bytes),
    ]
}

/// Line starts in `bytes`.
pub(super) fn line_starts(bytes: &[u8]) -> Vec<usize> {
    std::iter::once(0)
        .chain(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect()
}

impl TextEdit {
    pub(super) fn apply(&self, bytes: &mut Vec<u8>) {
        match self {
            TextEdit::Insert(i, at_line, p) => {
                let at = if *at_line {
                    *i.get(&line_starts(bytes))
                } else {
                    i.index(bytes.len() + 1)
                };
                bytes.splice(at..at, p.bytes());
            }
            TextEdit::SetField(field, nth, p) => {
                let needle = format!("{field}:").into_bytes();
                let hits: Vec<usize> = line_starts(bytes)
                    .into_iter()
                    .filter(|&s| bytes[s..].starts_with(&needle))
                    .collect();
                if hits.is_empty() {
                    return;
                }
                let start = nth.get(&hits) + needle.len();
                let end = bytes[start..]
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(bytes.len(), |e| start + e);
                let mut value = b" ".to_vec();
                value.extend(p.bytes());
                bytes.splice(start..end, value);
            }
            TextEdit::Bytes(e) => e.apply(bytes),
        }
    }
}

/// A fixture text file (one of `seeds`) with up to `max` edits.
fn mutated_text(
    seeds: &'static [&'static str],
    max: usize,
) -> impl Strategy<Value = (usize, Vec<TextEdit>)> {
    (0..seeds.len(), prop::collection::vec(text_edit(), 0..=max))
}

fn apply_text(seed: &str, edits: &[TextEdit]) -> Vec<u8> {
    let mut bytes = fixture(seed);
    for e in edits {
        e.apply(&mut bytes);
    }
    bytes
}

/// Everything the pipeline does with a Packages index's text.
fn read_index(text: &str) {
    walk_paragraphs(text);
    if let Ok(entries) = parse_packages(text, 0) {
        for e in &entries {
            let _ = e.depends();
        }
    }
}

/// Every accessor of every paragraph.
fn walk_paragraphs(text: &str) {
    for p in paragraphs(text) {
        let _ = p.raw();
        for (name, _) in p.fields() {
            let _ = p.get(name);
            let _ = p.get_raw(name);
        }
        for f in FIELDS {
            let _ = p.get(f);
        }
    }
}

#[test]
fn packages_indexes_never_panic() {
    check(256, mutated_text(&PACKAGES, 6), |(seed, edits)| {
        let bytes = apply_text(PACKAGES[seed], &edits);
        no_panic("packages", &bytes, || {
            read_index(&String::from_utf8_lossy(&bytes))
        })
    });
}

#[test]
fn release_files_never_panic() {
    check(256, mutated_text(&RELEASES, 6), |(seed, edits)| {
        let bytes = apply_text(RELEASES[seed], &edits);
        no_panic("release", &bytes, || {
            let text = String::from_utf8_lossy(&bytes);
            walk_paragraphs(&text);
            read_release(&text);
        })
    });
}

/// Everything the pipeline does with a Release file's text.
fn read_release(text: &str) {
    if let Ok(r) = Release::parse(text) {
        for date in [&r.date, &r.valid_until].into_iter().flatten() {
            let _ = parse_date(date);
        }
    }
}

/// Release file dates: Debian's form with any part replaced.
fn date_text() -> impl Strategy<Value = String> {
    let part = |good: &'static str| {
        prop_oneof![
            3 => Just(good.to_owned()),
            1 => prop::sample::select(PIECES).prop_map(str::to_owned),
            1 => "\\PC{0,5}",
            1 => "[+-]?[0-9\u{e9}\u{20ac}]{0,5}",
        ]
    };
    let zone = prop_oneof![part("UTC"), "[+-][0-9\u{e9}\u{20ac}]{2,4}"];
    (
        part("Tue,"),
        part("14"),
        part("Nov"),
        part("2023"),
        part("22:13:20"),
        zone,
    )
        .prop_map(|(w, d, m, y, t, z)| format!("{w} {d} {m} {y} {t} {z}"))
}

#[test]
fn release_dates_never_panic() {
    check(512, date_text(), |text| {
        no_panic("release-date", text.as_bytes(), || parse_date(&text))?;
        Ok(())
    });
}

/// Relationship fields: generated from their alphabet, or assembled from plausible parts.
fn relation_text() -> impl Strategy<Value = String> {
    let name = "[a-z0-9][a-z0-9+.-]{0,8}|[^,|]{0,4}";
    let op = prop::sample::select(
        &[
            "<<", "<=", "=", ">=", ">>", "<", ">", "=<", "==", "", "<<<", ">=>",
        ][..],
    );
    let version = "[0-9a-zA-Z.+~:-]{0,12}|\\PC{0,6}";
    let one = (
        name,
        prop::option::of("[a-z0-9:]{0,6}"),
        prop::option::of((op, version)),
        "( \\[[!a-z0-9 ]{0,8}\\]?)?( <[!a-z0-9 ]{0,8}>?)?",
    )
        .prop_map(|(n, q, c, r)| {
            let q = q.map(|q| format!(":{q}")).unwrap_or_default();
            let c = c.map(|(o, v)| format!(" ({o} {v})")).unwrap_or_default();
            format!("{n}{q}{c}{r}")
        });
    let list = prop::collection::vec(
        (
            one,
            prop::sample::select(&[", ", " | ", ",", "|", ",,", "\n "][..]),
        ),
        0..8,
    )
    .prop_map(|v| v.into_iter().map(|(a, s)| a + s).collect::<String>());
    prop_oneof![
        list,
        "[a-z0-9+.:<>=()\\[\\]!|, ~\t\n\u{e9}-]{0,80}",
        "\\PC{0,40}",
    ]
}

#[test]
fn relationship_fields_never_panic() {
    let reference: Version = "1.0-1".parse().unwrap();
    check(512, relation_text(), |text| {
        no_panic("relationships", text.as_bytes(), || {
            if let Ok(groups) = parse_relations(&text) {
                for dep in groups.iter().flatten() {
                    let _ = dep.to_string();
                    if let Some(c) = &dep.constraint {
                        let _ = c.matches(&reference);
                    }
                }
            }
            let _ = parse_provides(&text);
            if let Ok(v) = text.trim().parse::<Version>() {
                let _ = (v.to_string(), v.cmp(&reference));
            }
        })
    });
}

/// A multi-byte character placed across the 4 MiB boundary where `parse_packages` cuts a large
/// index into chunks, inside a long `Description` paragraph (`shift` bytes before it).
fn straddling_index(c: char, shift: usize, tail: &str) -> String {
    const CHUNK: usize = 4 << 20;
    let sha = "a".repeat(64);
    let head = format!(
        "Package: first\nVersion: 1\nArchitecture: all\nFilename: pool/first.deb\nSize: 1\nSHA256: {sha}\nDescription: x\n"
    );
    let mut text = head;
    let line = " padding padding padding padding padding padding padding padding\n";
    while text.len() + line.len() < CHUNK - 8 {
        text.push_str(line);
    }
    text.push(' ');
    while text.len() < CHUNK - shift {
        text.push('x');
    }
    text.push(c);
    text.push_str(tail);
    text.push_str(&format!(
        "\n\nPackage: second\nVersion: 1\nArchitecture: all\nFilename: pool/second.deb\nSize: 1\nSHA256: {sha}\n"
    ));
    text
}

/// Every width of character at every offset across the cut, before paragraph ends of every
/// kind (exhaustive: 4 MiB per case is too slow for many random cases).
#[test]
fn packages_index_chunk_boundary_never_panics() {
    for c in ['\u{e9}', '\u{20ac}', '\u{1d11e}'] {
        for shift in 1..c.len_utf8() {
            for tail in ["\n", "\n\n", "x\n \u{e9}\n\n", ""] {
                let text = straddling_index(c, shift, tail);
                assert!(!text.is_char_boundary(4 << 20));
                no_panic("packages-chunks", text.as_bytes(), || {
                    let _ = parse_packages(&text, 0);
                })
                .unwrap();
            }
        }
    }
}

/// The exact reproducer of the chunk-boundary panic: a 2-byte character starting one byte
/// before 4 MiB.
#[test]
fn packages_index_with_a_character_across_4_mib_parses() {
    let text = straddling_index('\u{e9}', 1, "\n");
    assert!(!text.is_char_boundary(4 << 20));
    let entries = parse_packages(&text, 0).unwrap();
    let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["first", "second"]);
}

/// A compressed index of the fixture with byte edits, targeted at the first and last bytes
/// (gzip and xz headers, trailers) or anywhere.
#[derive(Debug, Clone)]
enum Region {
    Head,
    Tail,
    Anywhere,
}

#[test]
fn compressed_indexes_never_panic() {
    const NAMES: [&str; 4] = [
        "tests/data/repo/dists/testing/main/binary-amd64/Packages.gz",
        "tests/data/repo/dists/testing/main/binary-amd64/Packages.xz",
        "tests/data/repo/dists/testing-updates/main/binary-amd64/Packages.gz",
        "tests/data/repo/dists/testing-updates/main/binary-amd64/Packages.xz",
    ];
    let region = prop_oneof![
        Just(Region::Head),
        Just(Region::Tail),
        Just(Region::Anywhere)
    ];
    let edits = prop::collection::vec((region, byte_edit()), 1..5);
    check(
        256,
        (0..NAMES.len(), edits, any::<bool>()),
        |(seed, edits, swap)| {
            let mut bytes = fixture(NAMES[seed]);
            for (region, e) in &edits {
                let n = bytes.len();
                let range = match region {
                    Region::Head => 0..32.min(n),
                    Region::Tail => n.saturating_sub(32)..n,
                    Region::Anywhere => 0..n,
                };
                e.apply_in(&mut bytes, range);
            }
            // The name decides the decoder: also feed gzip to the xz decoder and back.
            let name = match (NAMES[seed].ends_with(".gz"), swap) {
                (true, false) | (false, true) => "Packages.gz",
                _ => "Packages.xz",
            };
            no_panic("decompress", &bytes, || {
                if let Ok(text) = decompress(name, &bytes, 64 << 20) {
                    read_index(&String::from_utf8_lossy(&text));
                }
            })
        },
    );
}

/// The parts of an InRelease file that mutations aim at.
const ARMOR: &[&str] = &[
    "-----BEGIN PGP SIGNED MESSAGE-----",
    "-----BEGIN PGP SIGNED MESSAGE----",
    "----BEGIN PGP SIGNED MESSAGE-----",
    "-----BEGIN PGP SIGNED MESSAGE----- ",
    "-----BEGIN PGP SIGNATURE-----",
    "-----END PGP SIGNATURE-----",
    "-----END PGP SIGNED MESSAGE-----",
    "-----BEGIN PGP MESSAGE-----",
    "-----BEGIN PGP PUBLIC KEY BLOCK-----",
    "-----BEGIN -----",
    "-----",
    "-----BEGIN PGP SIGNATURE",
    "- -----BEGIN PGP SIGNATURE-----",
    "- ",
    "-",
    "--",
    "- - -",
    "- -",
    "Hash: SHA1",
    "Hash: MD5",
    "Hash: SHA256, SHA512",
    "Hash: SHA256,SHA1",
    "Hash:",
    "Hash: ",
    "Hash: UNKNOWN",
    "Comment: x",
    "Version: GnuPG",
    "Charset: UTF-8",
    "NotAHeader",
    "",
    " ",
    "\r",
    "=",
    "==",
    "=3J1B",
    "=AAAA",
    "=!!!!",
    "====",
    "AAAA",
    "////",
    "iHUE",
    "=\u{e9}",
];

#[derive(Debug, Clone)]
enum InEdit {
    /// Replace the line at `Index` with an armor piece.
    Line(Index, &'static str),
    /// Insert an armor piece as a new line.
    NewLine(Index, &'static str),
    /// Repeat a line many times (an endless header block, many dash-escaped lines).
    RepeatLine(Index, u16),
    /// Edit the bytes of the signature packet (base64-decoded, re-encoded with or without a
    /// correct checksum).
    Packet(ByteEdit, bool),
    Text(TextEdit),
}

fn in_edit() -> impl Strategy<Value = InEdit> {
    let armor = prop::sample::select(ARMOR);
    prop_oneof![
        3 => (any::<Index>(), armor.clone()).prop_map(|(i, a)| InEdit::Line(i, a)),
        2 => (any::<Index>(), armor).prop_map(|(i, a)| InEdit::NewLine(i, a)),
        1 => (any::<Index>(), 0..20_000u16).prop_map(|(i, n)| InEdit::RepeatLine(i, n)),
        3 => (byte_edit(), any::<bool>()).prop_map(|(e, c)| InEdit::Packet(e, c)),
        2 => text_edit().prop_map(InEdit::Text),
    ]
}

/// Split an InRelease into lines without their `\n`.
fn lines_of(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
}

fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0x00b7_04ce;
    for b in data {
        crc ^= u32::from(*b) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= 0x0186_4cfb;
            }
        }
    }
    crc & 0x00ff_ffff
}

/// Decode the signature block's base64, edit the packet, encode it again.
fn edit_packet(bytes: &mut Vec<u8>, edit: &ByteEdit, fix_checksum: bool) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut lines = lines_of(bytes);
    let Some(begin) = lines
        .iter()
        .position(|l| l.starts_with(b"-----BEGIN PGP SIGNATURE"))
    else {
        return;
    };
    let Some(end) = lines[begin..]
        .iter()
        .position(|l| l.starts_with(b"-----END PGP SIGNATURE"))
        .map(|e| begin + e)
    else {
        return;
    };
    let body: Vec<u8> = lines[begin + 1..end]
        .iter()
        .filter(|l| !l.starts_with(b"=") && !l.contains(&b':'))
        .flat_map(|l| l.iter().copied().filter(|b| !b.is_ascii_whitespace()))
        .collect();
    let Ok(mut packet) = b64.decode(&body) else {
        return;
    };
    let head = packet.len().min(48);
    edit.apply_in(&mut packet, 0..head);
    let checksum = if fix_checksum {
        crc24(&packet)
    } else {
        crc24(&packet) ^ 1
    };
    let mut block = vec![Vec::new()];
    block.extend(
        b64.encode(&packet)
            .as_bytes()
            .chunks(64)
            .map(<[u8]>::to_vec),
    );
    block.push(format!("={}", b64.encode(&checksum.to_be_bytes()[1..])).into_bytes());
    lines.splice(begin + 1..end, block);
    *bytes = lines.join(&b'\n');
}

impl InEdit {
    fn apply(&self, bytes: &mut Vec<u8>) {
        let mut lines = lines_of(bytes);
        match self {
            InEdit::Line(i, a) => *i.get_mut(&mut lines) = a.as_bytes().to_vec(),
            InEdit::NewLine(i, a) => lines.insert(i.index(lines.len() + 1), a.as_bytes().to_vec()),
            InEdit::RepeatLine(i, n) => {
                let at = i.index(lines.len());
                let line = lines[at].clone();
                lines.splice(at..at, std::iter::repeat_n(line, *n as usize));
            }
            InEdit::Packet(e, fix) => return edit_packet(bytes, e, *fix),
            InEdit::Text(e) => return e.apply(bytes),
        }
        *bytes = lines.join(&b'\n');
    }
}

/// The clock the pipeline verifies signatures against.
fn now() -> i64 {
    let since = std::time::UNIX_EPOCH.elapsed().unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

fn fixture_keyring() -> Keyring {
    let key = repo_root().join("tests/data/keys/fixture-archive.gpg");
    Keyring::from_files(&[&key]).unwrap()
}

#[test]
fn inrelease_files_never_panic() {
    let keyring = fixture_keyring();
    // The seeds themselves verify: mutations start from a good signature.
    for seed in INRELEASES {
        keyring.verify_inrelease(&fixture(seed), now()).unwrap();
    }
    // What a signature covers: the text with trailing whitespace of each line dropped.
    let canonical = |t: &str| t.lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
    let signed: Vec<String> = INRELEASES
        .iter()
        .map(|seed| canonical(&keyring.verify_inrelease(&fixture(seed), now()).unwrap()))
        .collect();
    let edits = prop::collection::vec(in_edit(), 1..4);
    check(256, (0..INRELEASES.len(), edits), |(seed, edits)| {
        let mut bytes = fixture(INRELEASES[seed]);
        for e in &edits {
            e.apply(&mut bytes);
        }
        let mut verified = None;
        no_panic("inrelease", &bytes, || {
            if let Ok(text) = keyring.verify_inrelease(&bytes, now()) {
                walk_paragraphs(&text);
                read_release(&text);
                verified = Some(text);
            }
        })?;
        // A mutation that still verifies may not have changed what the release file says.
        if let Some(text) = verified {
            prop_assert_eq!(canonical(&text), signed[seed].clone());
        }
        Ok(())
    });
}

#[test]
fn keyring_files_never_panic() {
    const KEYS: [&str; 2] = [
        "tests/data/keys/fixture-archive.gpg",
        "tests/data/keys/fixture-archive.asc",
    ];
    let dir = tempfile::tempdir().unwrap();
    let edits = prop::collection::vec(byte_edit(), 1..4);
    check(128, (0..KEYS.len(), edits), |(seed, edits)| {
        let mut bytes = fixture(KEYS[seed]);
        for e in &edits {
            e.apply(&mut bytes);
        }
        let path = dir.path().join(Path::new(KEYS[seed]).file_name().unwrap());
        fs_err::write(&path, &bytes).unwrap();
        no_panic("keyring", &bytes, || {
            if let Ok(ring) = Keyring::from_files(&[&path]) {
                let _ = ring.verify_inrelease(&fixture(INRELEASES[0]), now());
            }
        })
    });
}

/// Every prefix of each InRelease and every line-boundary prefix of each Packages index.
#[test]
fn truncated_metadata_never_panics() {
    let keyring = fixture_keyring();
    for seed in INRELEASES {
        let bytes = fixture(seed);
        for cut in 0..bytes.len() {
            no_panic("inrelease-prefix", &bytes[..cut], || {
                let _ = keyring.verify_inrelease(&bytes[..cut], now());
            })
            .unwrap();
        }
    }
    for seed in PACKAGES {
        let bytes = fixture(seed);
        for cut in line_starts(&bytes) {
            for end in [cut, cut + 1, cut + 9] {
                let part = &bytes[..end.min(bytes.len())];
                no_panic("packages-prefix", part, || {
                    read_index(&String::from_utf8_lossy(part))
                })
                .unwrap();
            }
        }
    }
}

/// A zone of four bytes whose second character is multi-byte (`+1é1`).
#[test]
fn release_date_with_a_multibyte_zone_is_refused() {
    assert_eq!(parse_date("Tue, 14 Nov 2023 22:13:20 +1\u{e9}1"), None);
    assert_eq!(
        parse_date("Tue, 14 Nov 2023 22:13:20 +0100"),
        Some(1_699_996_400)
    );
}
