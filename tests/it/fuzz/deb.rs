//! `.deb` reading: the fixture's packages with mutated ar headers (names, sizes), tar headers
//! of control.tar and data.tar (names, sizes, type flags, link names, checksums, PAX and GNU
//! extension records, sparse maps), compressed streams and truncations.

use std::io::{Read, Write};
use std::sync::OnceLock;

use compose::deb;
use proptest::prelude::*;
use proptest::sample::Index;

use super::{ByteEdit, byte_edit, check, no_panic};
use crate::harness::repo_root;

/// One member of an ar archive: its 60-byte header and its data.
#[derive(Debug, Clone)]
struct Member {
    header: Vec<u8>,
    data: Vec<u8>,
}

impl Member {
    fn name(&self) -> String {
        String::from_utf8_lossy(&self.header[..16])
            .trim_end()
            .trim_end_matches('/')
            .to_owned()
    }
}

/// Split an ar archive (the fixture's, so well formed) into members.
fn members(bytes: &[u8]) -> Vec<Member> {
    let mut out = Vec::new();
    let mut at = 8;
    while at + 60 <= bytes.len() {
        let header = bytes[at..at + 60].to_vec();
        let size: usize = String::from_utf8_lossy(&header[48..58])
            .trim()
            .parse()
            .unwrap();
        let data = bytes[at + 60..at + 60 + size].to_vec();
        at += 60 + size + size % 2;
        out.push(Member { header, data });
    }
    out
}

/// Serialize members with correct size fields; returns the archive and each header's offset.
fn archive(members: &[Member]) -> (Vec<u8>, Vec<usize>) {
    let mut out = b"!<arch>\n".to_vec();
    let mut offsets = Vec::new();
    for m in members {
        offsets.push(out.len());
        let mut header = m.header.clone();
        header.resize(60, b' ');
        header[48..58].copy_from_slice(format!("{:<10}", m.data.len()).as_bytes());
        out.extend(&header);
        out.extend(&m.data);
        if m.data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    (out, offsets)
}

fn decompress(name: &str, data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let ok = if name.ends_with(".xz") {
        liblzma::read::XzDecoder::new(data)
            .read_to_end(&mut out)
            .is_ok()
    } else if name.ends_with(".gz") {
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .is_ok()
    } else if name.ends_with(".zst") {
        zstd::stream::read::Decoder::new(data)
            .and_then(|mut d| d.read_to_end(&mut out))
            .is_ok()
    } else {
        out.extend_from_slice(data);
        name.ends_with(".tar")
    };
    ok.then_some(out)
}

fn compress(name: &str, tar: &[u8]) -> Vec<u8> {
    if name.ends_with(".xz") {
        let mut e = liblzma::write::XzEncoder::new(Vec::new(), 0);
        e.write_all(tar).unwrap();
        e.finish().unwrap()
    } else if name.ends_with(".gz") {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(tar).unwrap();
        e.finish().unwrap()
    } else if name.ends_with(".zst") {
        zstd::encode_all(tar, 1).unwrap()
    } else {
        tar.to_vec()
    }
}

/// A fixture `.deb`, its members and their decompressed tars (parsed once).
struct Seed {
    name: String,
    path: std::path::PathBuf,
    members: Vec<Member>,
    tars: Vec<Option<Vec<u8>>>,
}

fn seeds() -> &'static [Seed] {
    static SEEDS: OnceLock<Vec<Seed>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let pool = repo_root().join("tests/data/repo/pool/main/f");
        let mut paths: Vec<_> = walk(&pool);
        paths.sort();
        paths
            .into_iter()
            .map(|p| {
                let members = members(&fs_err::read(&p).unwrap());
                let tars = members
                    .iter()
                    .map(|m| decompress(&m.name(), &m.data))
                    .collect();
                Seed {
                    name: p.file_name().unwrap().to_string_lossy().into_owned(),
                    path: p.clone(),
                    members,
                    tars,
                }
            })
            .collect()
    })
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs_err::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "deb") {
            out.push(p);
        }
    }
    out
}

/// ar header fields: (offset, width).
#[derive(Debug, Clone, Copy)]
enum ArField {
    Name,
    Mtime,
    Mode,
    Size,
    Magic,
}

impl ArField {
    fn span(self) -> (usize, usize) {
        match self {
            ArField::Name => (0, 16),
            ArField::Mtime => (16, 12),
            ArField::Mode => (40, 8),
            ArField::Size => (48, 10),
            ArField::Magic => (58, 2),
        }
    }
}

const AR_NAMES: &[&str] = &[
    "/N",
    "/0",
    "/1",
    "/9",
    "/99999999999",
    "//",
    "/",
    "#1/5",
    "#1/99999999",
    "#1/",
    "#1/-1",
    "/SYM64/",
    "debian-binary",
    "control.tar",
    "control.tar.gz",
    "control.tar.xz",
    "control.tar.zst",
    "data.tar",
    "data.tar.xz",
    "data.tar.gz",
    "data.tar.zst",
    "data.tar.bz2",
    "data.tar.xz/",
    "data.tar.lzma",
    "",
    "\u{e9}",
    "../../x",
];
const AR_NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "9999999999",
    "18446744073709551615",
    " ",
    "abc",
    "0x10",
    "1e3",
    "+5",
    "`\n",
    "\n",
];

/// Numbers for tar header fields, written in octal or in GNU base-256.
const TAR_NUMBERS: &[u64] = &[
    0,
    1,
    511,
    512,
    513,
    0o7777,
    0o77777777777,
    1 << 33,
    1 << 40,
    1 << 62,
    i64::MAX as u64,
    u64::MAX,
];

#[derive(Debug, Clone)]
pub(super) enum Value {
    Text(&'static str),
    Octal(u64),
    Base256(u64, bool),
    Bytes(Vec<u8>),
}

fn number() -> impl Strategy<Value = u64> {
    prop_oneof![prop::sample::select(TAR_NUMBERS), 0..4096u64, any::<u64>()]
}

fn tar_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => prop::sample::select(TAR_TEXT).prop_map(Value::Text),
        3 => number().prop_map(Value::Octal),
        1 => (number(), any::<bool>()).prop_map(|(n, neg)| Value::Base256(n, neg)),
        1 => prop::collection::vec(any::<u8>(), 0..12).prop_map(Value::Bytes),
    ]
}

const TAR_TEXT: &[&str] = &[
    "../../etc/passwd",
    "/etc/shadow",
    "./",
    "",
    ".",
    "..",
    "a/../../b",
    "\0",
    "usr//bin",
    "./usr/\u{e9}",
    "/",
    "../../../../etc",
    "dev/null",
    "9",
    "0000000\0",
    "       ",
    "-1",
    "ustar\0",
    "ustar ",
    "00",
    " \0",
    "./control",
    "./md5sums",
    "./usr/share/doc/x/copyright",
];

impl Value {
    /// The bytes for a field of `width`.
    fn bytes(&self, width: usize) -> Vec<u8> {
        let mut out = match self {
            Value::Text(t) => t.as_bytes().to_vec(),
            Value::Octal(n) => format!("{n:0w$o}\0", w = width.saturating_sub(1)).into_bytes(),
            Value::Base256(n, neg) => {
                let mut b = vec![if *neg { 0xff } else { 0x80 }; width.saturating_sub(8)];
                b.extend(n.to_be_bytes());
                b
            }
            Value::Bytes(b) => b.clone(),
        };
        out.resize(width, 0);
        out
    }
}

/// ustar and GNU header fields: (offset, width).
#[derive(Debug, Clone, Copy)]
pub(super) enum TarField {
    Name,
    Mode,
    Uid,
    Size,
    Mtime,
    Checksum,
    Linkname,
    Magic,
    Prefix,
    SparseOffset,
    SparseBytes,
    RealSize,
}

impl TarField {
    fn span(self) -> (usize, usize) {
        match self {
            TarField::Name => (0, 100),
            TarField::Mode => (100, 8),
            TarField::Uid => (108, 8),
            TarField::Size => (124, 12),
            TarField::Mtime => (136, 12),
            TarField::Checksum => (148, 8),
            TarField::Linkname => (157, 100),
            TarField::Magic => (257, 8),
            TarField::Prefix => (345, 155),
            TarField::SparseOffset => (386, 12),
            TarField::SparseBytes => (398, 12),
            TarField::RealSize => (483, 12),
        }
    }
}

const TYPEFLAGS: &[u8] = b"0123456\0gxLKSMVDNA7";

/// A PAX or GNU extension entry inserted before an entry.
#[derive(Debug, Clone)]
pub(super) enum Extension {
    /// `x` (or `g`) records; each record is well formed unless `len` lies about its length.
    Pax(bool, Vec<(&'static str, &'static str, Option<u8>)>),
    /// GNU `L` (long name) or `K` (long link name) with `data`; `size` as written, if it lies.
    Gnu(bool, Vec<u8>, Option<u64>),
}

const PAX_KEYS: &[&str] = &[
    "path",
    "linkpath",
    "size",
    "uid",
    "gid",
    "mtime",
    "uname",
    "GNU.sparse.size",
    "GNU.sparse.numblocks",
    "GNU.sparse.offset",
    "GNU.sparse.numbytes",
    "GNU.sparse.map",
    "GNU.sparse.name",
    "GNU.sparse.realsize",
    "GNU.sparse.major",
    "GNU.sparse.minor",
    "SCHILY.xattr.user.x",
    "",
    "=",
];
const PAX_VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "-1",
    "1.5",
    "1e999",
    "18446744073709551615",
    "18446744073709551616",
    "1099511627776",
    "../../../../etc",
    "/etc/shadow",
    "usr/bin/x",
    "0,1,2",
    "1,",
    ",",
    "1,99999999999",
    "\u{e9}",
    "\n",
    "=",
    "1 0",
];

fn extension() -> impl Strategy<Value = Extension> {
    let record = (
        prop::sample::select(PAX_KEYS),
        prop::sample::select(PAX_VALUES),
        prop::option::weighted(0.2, any::<u8>()),
    );
    prop_oneof![
        (any::<bool>(), prop::collection::vec(record, 1..4))
            .prop_map(|(g, r)| Extension::Pax(g, r)),
        (
            any::<bool>(),
            prop_oneof![
                prop::sample::select(TAR_TEXT).prop_map(|t| t.as_bytes().to_vec()),
                prop::collection::vec(any::<u8>(), 0..300),
            ],
            prop::option::weighted(0.3, number()),
        )
            .prop_map(|(k, d, s)| Extension::Gnu(k, d, s)),
    ]
}

/// One header block plus its data, padded to 512 bytes.
fn entry_block(typeflag: u8, data: &[u8], size: Option<u64>) -> Vec<u8> {
    let mut h = vec![0u8; 512];
    h[..13].copy_from_slice(b"././@LongLink");
    h[100..108].copy_from_slice(b"0000644\0");
    let size = size.unwrap_or(data.len() as u64);
    h[124..136].copy_from_slice(&Value::Octal(size).bytes(12));
    h[156] = typeflag;
    h[257..265].copy_from_slice(b"ustar  \0");
    set_checksum(&mut h);
    h.extend(data);
    h.resize(512 + data.len().div_ceil(512) * 512, 0);
    h
}

impl Extension {
    fn block(&self) -> Vec<u8> {
        match self {
            Extension::Pax(global, records) => {
                let mut data = Vec::new();
                for (k, v, lie) in records {
                    let body = format!(" {k}={v}\n");
                    let mut len = body.len() + 1;
                    len += (len + 1).to_string().len().saturating_sub(1);
                    let len = lie.map_or(len, |l| l as usize);
                    data.extend(format!("{len}{body}").into_bytes());
                }
                entry_block(if *global { b'g' } else { b'x' }, &data, None)
            }
            Extension::Gnu(link, data, size) => {
                entry_block(if *link { b'K' } else { b'L' }, data, *size)
            }
        }
    }
}

fn set_checksum(h: &mut [u8]) {
    h[148..156].fill(b' ');
    let sum: u32 = h[..512].iter().map(|b| u32::from(*b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// Offsets of the header blocks of a tar (best effort on mutated input).
fn headers(tar: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at..at + 512].iter().any(|b| *b != 0) {
        out.push(at);
        let field = String::from_utf8_lossy(&tar[at + 124..at + 136]);
        let size = u64::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
            .unwrap_or(0);
        let Some(next) = (size.div_ceil(512) * 512)
            .checked_add(512 + at as u64)
            .and_then(|n| usize::try_from(n).ok())
        else {
            break;
        };
        at = next;
    }
    out
}

#[derive(Debug, Clone)]
pub(super) enum TarEdit {
    Field(Index, TarField, Value, bool),
    Typeflag(Index, u8, bool),
    Insert(Index, Extension),
    /// Cut at a header (optionally inside it, `bytes` into it).
    Cut(Index, u16),
    Bytes(ByteEdit),
}

fn tar_field() -> impl Strategy<Value = TarField> {
    use TarField::*;
    prop::sample::select(vec![
        Name,
        Mode,
        Uid,
        Size,
        Size,
        Size,
        Mtime,
        Checksum,
        Linkname,
        Magic,
        Prefix,
        SparseOffset,
        SparseBytes,
        RealSize,
    ])
}

pub(super) fn tar_edit() -> impl Strategy<Value = TarEdit> {
    prop_oneof![
        4 => (any::<Index>(), tar_field(), tar_value(), prop::bool::weighted(0.9))
            .prop_map(|(i, f, v, c)| TarEdit::Field(i, f, v, c)),
        2 => (any::<Index>(), prop::sample::select(TYPEFLAGS), prop::bool::weighted(0.9))
            .prop_map(|(i, t, c)| TarEdit::Typeflag(i, t, c)),
        2 => (any::<Index>(), extension()).prop_map(|(i, e)| TarEdit::Insert(i, e)),
        1 => (any::<Index>(), 0..1024u16).prop_map(|(i, n)| TarEdit::Cut(i, n)),
        1 => byte_edit().prop_map(TarEdit::Bytes),
    ]
}

impl TarEdit {
    pub(super) fn apply(&self, tar: &mut Vec<u8>) {
        let hs = headers(tar);
        let pick = |i: &Index| (!hs.is_empty()).then(|| *i.get(&hs));
        match self {
            TarEdit::Field(i, f, v, fix) => {
                let Some(h) = pick(i) else { return };
                let (off, width) = f.span();
                tar[h + off..h + off + width].copy_from_slice(&v.bytes(width));
                if *fix && !matches!(f, TarField::Checksum) {
                    set_checksum(&mut tar[h..h + 512]);
                }
            }
            TarEdit::Typeflag(i, t, fix) => {
                let Some(h) = pick(i) else { return };
                tar[h + 156] = *t;
                if *fix {
                    set_checksum(&mut tar[h..h + 512]);
                }
            }
            TarEdit::Insert(i, e) => {
                let at = pick(i).unwrap_or(0);
                tar.splice(at..at, e.block());
            }
            TarEdit::Cut(i, n) => {
                let at = pick(i).unwrap_or(0) + *n as usize;
                tar.truncate(at);
            }
            TarEdit::Bytes(e) => e.apply(tar),
        }
    }
}

#[derive(Debug, Clone)]
enum DebEdit {
    /// Edit the (decompressed) tar of a member, then compress it again.
    Tar(Index, TarEdit),
    /// Edit a member's compressed bytes.
    Stream(Index, ByteEdit),
    /// Insert a member: a name and data (a `//` name table, a BSD long name, a duplicate).
    ArInsert(Index, &'static str, Vec<u8>),
    ArDrop(Index),
    /// Overwrite a field of a member's ar header.
    ArField(Index, ArField, &'static str),
    /// Edit the serialized archive anywhere, or in the first 8 + 60 bytes.
    Raw(bool, ByteEdit),
}

fn deb_edit() -> impl Strategy<Value = DebEdit> {
    let ar_field = prop_oneof![
        3 => Just(ArField::Name).prop_flat_map(|f| (Just(f), prop::sample::select(AR_NAMES))),
        3 => Just(ArField::Size).prop_flat_map(|f| (Just(f), prop::sample::select(AR_NUMBERS))),
        1 => prop::sample::select(vec![ArField::Mtime, ArField::Mode, ArField::Magic])
            .prop_flat_map(|f| (Just(f), prop::sample::select(AR_NUMBERS))),
    ];
    let table = prop_oneof![
        Just(b"debian-binary/\n".to_vec()),
        Just(b"data.tar.xz/\ncontrol.tar.xz/\n".to_vec()),
        prop::collection::vec(any::<u8>(), 0..40),
    ];
    prop_oneof![
        6 => (any::<Index>(), tar_edit()).prop_map(|(i, e)| DebEdit::Tar(i, e)),
        2 => (any::<Index>(), byte_edit()).prop_map(|(i, e)| DebEdit::Stream(i, e)),
        1 => (any::<Index>(), prop::sample::select(AR_NAMES), table)
            .prop_map(|(i, n, d)| DebEdit::ArInsert(i, n, d)),
        1 => any::<Index>().prop_map(DebEdit::ArDrop),
        4 => (any::<Index>(), ar_field).prop_map(|(i, (f, v))| DebEdit::ArField(i, f, v)),
        2 => (any::<bool>(), byte_edit()).prop_map(|(h, e)| DebEdit::Raw(h, e)),
    ]
}

/// Apply `edits` to the seed in stages (tars, streams, members, headers, raw bytes), so each
/// edit lands on the structure it aims at.
fn mutate(seed: &Seed, edits: &[DebEdit]) -> Vec<u8> {
    let mut members = seed.members.clone();
    let mut tars = seed.tars.clone();
    let tar_members: Vec<usize> = (0..tars.len()).filter(|i| tars[*i].is_some()).collect();
    let mut changed = vec![false; members.len()];
    for e in edits {
        if let DebEdit::Tar(i, edit) = e
            && !tar_members.is_empty()
        {
            let m = *i.get(&tar_members);
            edit.apply(tars[m].as_mut().unwrap());
            changed[m] = true;
        }
    }
    for (m, member) in members.iter_mut().enumerate() {
        if changed[m] {
            member.data = compress(&member.name(), tars[m].as_ref().unwrap());
        }
    }
    for e in edits {
        match e {
            DebEdit::Stream(i, edit) => edit.apply(&mut i.get_mut(&mut members).data),
            DebEdit::ArInsert(i, name, data) => {
                let m = Member {
                    header: ar_header(name),
                    data: data.clone(),
                };
                members.insert(i.index(members.len() + 1), m);
            }
            DebEdit::ArDrop(i) if members.len() > 1 => {
                members.remove(i.index(members.len()));
            }
            _ => {}
        }
    }
    let (mut bytes, offsets) = archive(&members);
    for e in edits {
        if let DebEdit::ArField(i, field, value) = e
            && !offsets.is_empty()
        {
            let (off, width) = field.span();
            let at = *i.get(&offsets) + off;
            let mut v = value.as_bytes().to_vec();
            v.resize(width, b' ');
            bytes[at..at + width].copy_from_slice(&v);
        }
    }
    for e in edits {
        if let DebEdit::Raw(head, edit) = e {
            let end = if *head { 68 } else { bytes.len() };
            edit.apply_in(&mut bytes, 0..end);
        }
    }
    bytes
}

/// An ar header for `name` (the size is filled in by `archive`).
fn ar_header(name: &str) -> Vec<u8> {
    let mut h = format!("{name:<16}").into_bytes();
    h.truncate(16);
    h.extend(format!("{:<12}{:<6}{:<6}{:<8}{:<10}`\n", 0, 0, 0, 100644, 0).into_bytes());
    h
}

/// What the plan says of a fixture package, from its file name (`NAME_VERSION_ARCH.deb`).
/// A content store of its own for one read, removed when dropped.
fn store() -> compose::content::Store {
    compose::content::Store::create_in(&std::env::temp_dir()).unwrap()
}

fn planned(file: &str) -> deb::Identity<'_> {
    let mut parts = file.trim_end_matches(".deb").splitn(3, '_');
    deb::Identity {
        name: parts.next().unwrap(),
        version: parts.next().unwrap(),
        architecture: parts.next().unwrap(),
    }
}

/// Read a mutated `.deb` the way the pipeline does.
/// Whether it parsed.
fn read(name: &str, bytes: &[u8]) -> Result<bool, TestCaseError> {
    no_panic("deb", bytes, || {
        match deb::read(&planned(name), bytes, &store()) {
            Ok(d) => {
                let _ = (d.control.len(), d.md5sums.map(|m| m.len()), d.entries.len());
                true
            }
            Err(_) => false,
        }
    })
}

#[test]
fn debs_never_panic() {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    let (cases, parsed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let edits = prop::collection::vec(deb_edit(), 1..4);
    check(512, (0..seeds().len(), edits), |(seed, edits)| {
        let seed = &seeds()[seed];
        let ok = read(&seed.name, &mutate(seed, &edits))?;
        cases.fetch_add(1, Relaxed);
        parsed.fetch_add(usize::from(ok), Relaxed);
        Ok(())
    });
    // The mutations must not all be refused at the door: some reach the end of data.tar.
    let (cases, parsed) = (cases.into_inner(), parsed.into_inner());
    eprintln!("{parsed} of {cases} mutated packages parsed");
    assert!(
        parsed * 20 >= cases,
        "{parsed} of {cases} mutated packages parsed"
    );
}

/// Truncations at every header boundary of the ar archive and of each tar (recompressed).
#[test]
fn truncated_debs_never_panic() {
    for seed in seeds() {
        let (bytes, offsets) = archive(&seed.members);
        for &o in &offsets {
            for cut in [o, o + 16, o + 48, o + 59, o + 60, o + 61] {
                read(&seed.name, &bytes[..cut.min(bytes.len())]).unwrap();
            }
        }
        for (m, tar) in seed.tars.iter().enumerate() {
            let Some(tar) = tar else { continue };
            for h in headers(tar) {
                for cut in [h, h + 100, h + 124, h + 156, h + 511, h + 512, h + 1024] {
                    let mut members = seed.members.clone();
                    let name = members[m].name();
                    members[m].data = compress(&name, &tar[..cut.min(tar.len())]);
                    read(&seed.name, &archive(&members).0).unwrap();
                }
            }
        }
    }
}

/// The seeds read as they are (so the mutations start from packages that parse).
#[test]
fn seed_debs_read() {
    assert!(seeds().len() >= 10);
    for seed in seeds() {
        let bytes = archive(&seed.members).0;
        assert_eq!(bytes, fs_err::read(&seed.path).unwrap(), "{}", seed.name);
        let d = deb::read(&planned(&seed.name), &bytes[..], &store()).unwrap();
        assert!(d.control.contains("Package:"), "{}", seed.name);
    }
}

/// An ar member named `/N` (a GNU long-name reference) in an archive without a `//` table.
#[test]
fn deb_with_an_ar_long_name_reference_is_refused() {
    let mut members = seeds()[0].members.clone();
    members[1].header[..16].copy_from_slice(b"/1              ");
    let bytes = archive(&members).0;
    let e = deb::read(&planned(&seeds()[0].name), &bytes[..], &store()).unwrap_err();
    assert!(
        e.to_string()
            .contains("is not a valid .deb: ar member name `/1`"),
        "{e}"
    );
}

/// What compose reads from package files besides the tars: a DEP-5 copyright's `License`
/// (for the SBOM) and PEM certificates (for the CA bundle and the Java trust store).
#[test]
fn package_files_never_panic() {
    use compose::deb::{Deb, Entry};
    use compose::tree::Kind;
    let words = prop::sample::select(vec![
        "gpl-2+",
        "GPL-2",
        " or ",
        " and ",
        ", ",
        " with ",
        "classpath exception",
        "mit",
        "bsd-3-clause",
        "\u{e9}",
        "",
        " ",
        "with",
        "or",
        "\n",
        "License:",
        "Apache-2.0",
    ]);
    let license = prop::collection::vec(words, 0..10).prop_map(|w| w.concat());
    let pem_line = prop::sample::select(vec![
        "-----BEGIN CERTIFICATE-----",
        "-----END CERTIFICATE-----",
        "MIIB",
        "====",
        "A",
        "-----BEGIN CERTIFICATE----- ",
        "\u{e9}",
        "",
    ]);
    let pem = prop::collection::vec(pem_line, 0..12).prop_map(|l| l.join("\n"));
    check(256, (license, pem), |(license, pem)| {
        let text = format!("Format: x\nLicense: {license}\n");
        let deb = Deb {
            control: String::new(),
            md5sums: None,
            entries: vec![Entry {
                path: "usr/share/doc/x/copyright".into(),
                kind: Kind::File(text.as_bytes().into()),
                mode: 0o644,
                uid: 0,
                gid: 0,
                mtime: 0,
            }],
        };
        no_panic("package-files", text.as_bytes(), || {
            let _ = compose::sbom::declared_license("x", &deb, &[&deb], &store());
            let _ = compose::rootfs::doclinks::points_to("usr/share/doc/x", &license);
            let certs = compose::rootfs::jks::pem_certificates(&pem, "x");
            let _ = compose::rootfs::jks::keystore(&certs, 0);
        })
    });
}

/// A data.tar entry whose header claims 4 EiB (the stream holds a few bytes; 1 TiB aborts too where
/// the kernel does not overcommit): an error, not an
/// allocation of the claimed size (which aborts the process).
#[test]
fn deb_whose_tar_entry_claims_4_eib_is_refused() {
    let seed = seeds()
        .iter()
        .find(|s| s.name.starts_with("f-mawk"))
        .unwrap();
    let data = seed
        .members
        .iter()
        .position(|m| m.name().starts_with("data.tar"))
        .unwrap();
    let mut tar = seed.tars[data].clone().unwrap();
    let file = headers(&tar)
        .into_iter()
        .find(|h| tar[h + 156] == b'0')
        .unwrap();
    tar[file + 124..file + 136].copy_from_slice(&Value::Base256(1 << 62, false).bytes(12));
    set_checksum(&mut tar[file..file + 512]);
    let mut members = seed.members.clone();
    members[data].data = compress(&members[data].name(), &tar);
    let e = deb::read(&planned(&seed.name), &archive(&members).0[..], &store()).unwrap_err();
    assert!(e.to_string().contains("`f-mawk` exceeds a limit"), "{e}");
}
