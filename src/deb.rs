//! Reading a `.deb`: the ar container, `control.tar` (control and md5sums only) and the
//! streamed, decompressed `data.tar`. Maintainer scripts are never extracted, let alone run.
//! Everything is bounded: member sizes by the bytes that are there, decompressed sizes by
//! the limits below, the files of data.tar by the package's own `Installed-Size`.

mod ar;
mod doc;

pub use doc::{CHANGELOG_LIMIT, DocChangelog, changelog};

use std::io::{self, Read};

use crate::content::{ContentError, Store};
use crate::package::{valid_architecture, valid_name, valid_version};
use crate::tree::{Content, Kind};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;

/// Decompressed size of control.tar (maintainer scripts and templates included).
pub const CONTROL_TAR_LIMIT: u64 = 64 * MIB;
/// Size of the `control` file.
pub const CONTROL_LIMIT: u64 = MIB;
/// Size of the `md5sums` file.
pub const MD5SUMS_LIMIT: u64 = 16 * MIB;
/// Entries of control.tar.
pub const CONTROL_ENTRIES: usize = 1024;
/// Entries of data.tar.
pub const DATA_ENTRIES: usize = 1 << 19;
/// Bytes of one path or link name (Linux's `PATH_MAX`).
pub const NAME_LIMIT: usize = 4096;
/// The files of one package, whatever its `Installed-Size` says.
pub const DATA_CEILING: u64 = 4 << 30;
/// The files of a package whose control has no `Installed-Size`.
pub const DATA_DEFAULT: u64 = 256 * MIB;
/// Memory the xz decoder may use (xz -9 needs 65 MiB, dpkg-deb's default -6 needs 9 MiB).
pub const XZ_MEMLIMIT: u64 = 256 * MIB;
/// Memory the threaded xz decoder may use before it decodes in one thread instead (it
/// buffers whole blocks: this bounds a package's in-flight decoding, whatever its size).
pub const XZ_THREADED_MEMLIMIT: u64 = 64 * MIB;
/// Largest zstd window accepted (2^27 = 128 MiB, zstd's default limit).
pub const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// How many bytes of files a package may hold: its `Installed-Size` (KiB) plus a quarter
/// plus 1 MiB, at most `DATA_CEILING`; `DATA_DEFAULT` when it states none.
pub fn data_limit(installed_kib: Option<u64>) -> u64 {
    installed_kib.map_or(DATA_DEFAULT, |k| {
        let bytes = k.saturating_mul(KIB);
        bytes
            .saturating_add(bytes / 4)
            .saturating_add(MIB)
            .min(DATA_CEILING)
    })
}

/// The decompressed data.tar stream (headers, long names, padding and files) may be at
/// most twice the file limit plus 16 MiB (`Installed-Size` counts at least 1 KiB per
/// file, about what its header and padding take).
pub fn stream_limit(data: u64) -> u64 {
    data.saturating_mul(2).saturating_add(16 * MIB)
}

#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error("`{package}` is not a valid .deb: {reason}")]
    Format { package: String, reason: String },
    #[error("cannot read `{member}` of `{package}`")]
    Read {
        package: String,
        member: String,
        #[source]
        source: io::Error,
    },
    #[error("`{package}` contains `{path}`, which escapes the root filesystem")]
    UnsafePath { package: String, path: String },
    #[error("`{package}` contains `{path}` of an unsupported type (device or fifo)")]
    Unsupported { package: String, path: String },
    #[error("`{package}` contains `{path}` with {reason}")]
    BadName {
        package: String,
        path: String,
        reason: String,
    },
    #[error("`{package}` exceeds a limit: {what}")]
    Limit { package: String, what: String },
    #[error(
        "`{package}` is not the package the index promised: its control says `{field}: {found}`, expected `{expected}`"
    )]
    Mismatch {
        package: String,
        field: &'static str,
        expected: String,
        found: String,
    },
    #[error("cannot store the files of `{package}`")]
    Store {
        package: String,
        #[source]
        source: ContentError,
    },
    #[error("`{package}` has an invalid `{field}` in its control file: `{value}`")]
    Invalid {
        package: String,
        field: &'static str,
        value: String,
    },
}

/// A size for messages: `1.5 MiB`, `300 KiB`, `12 bytes`.
pub fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= MIB => format!("{:.1} MiB", b as f64 / MIB as f64),
        b if b >= KIB => format!("{:.1} KiB", b as f64 / KIB as f64),
        b => format!("{b} bytes"),
    }
}

/// An untrusted string made safe for a one-line message.
fn shown(s: &str) -> String {
    s.escape_debug().to_string()
}

/// One file system entry of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Normalized relative path: no leading `./` or `/`, no trailing `/` (`usr/bin/python3`).
    pub path: String,
    pub kind: Kind,
    /// Permission bits including setuid/setgid/sticky (`0o7777` mask).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
}

/// The parts of a `.deb` that `compose` uses.
#[derive(Debug, Clone)]
pub struct Deb {
    /// The `control` file of control.tar.
    pub control: String,
    /// The `md5sums` file of control.tar, when the package has one.
    pub md5sums: Option<String>,
    pub entries: Vec<Entry>,
}

/// What a `.deb` must say it is: the name, version and architecture of its
/// `package::Planned` (from a signed index or the lock); its control must agree.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub architecture: &'a str,
}

/// Normalize a tar path: strip `./` and `/`, refuse `..` and empty components.
pub fn normalize(path: &str) -> Option<String> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// A limit was crossed while reading (carried inside an `io::Error` through the decoders
/// and the tar reader).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct LimitExceeded(String);

fn over(what: String) -> io::Error {
    io::Error::other(LimitExceeded(what))
}

/// A reader that fails as soon as more than `left` bytes would come through.
struct Bounded<R> {
    inner: R,
    left: u64,
    what: String,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(over(self.what.clone())),
            };
        }
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let got = self.inner.read(&mut buf[..n])?;
        self.left -= got as u64;
        Ok(got)
    }
}

/// The limit message inside `e`, if a limit (ours, xz's memory limit, zstd's window) ended it.
fn limit_in(e: &io::Error) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(l) = err.downcast_ref::<LimitExceeded>() {
            return Some(l.0.clone());
        }
        if let Some(liblzma::stream::Error::MemLimit) = err.downcast_ref() {
            return Some(format!(
                "its xz stream needs more memory than {}",
                human(XZ_MEMLIMIT)
            ));
        }
        if err.to_string().contains("requires too much memory") {
            return Some(format!(
                "its zstd stream needs a window larger than {}",
                human(1 << ZSTD_WINDOW_LOG_MAX)
            ));
        }
        cur = match err.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner),
            None => err.source(),
        };
    }
    None
}

fn io_error(package: &str, member: &str, source: io::Error) -> DebError {
    match limit_in(&source) {
        Some(what) => DebError::Limit {
            package: package.to_owned(),
            what,
        },
        None => DebError::Read {
            package: package.to_owned(),
            member: member.to_owned(),
            source,
        },
    }
}

/// The decompressed stream of member `name` (`size` bytes compressed), failing after
/// `limit` bytes.
fn decoder<'a>(
    name: &str,
    data: impl Read + 'a,
    size: u64,
    limit: u64,
) -> io::Result<Box<dyn Read + 'a>> {
    let ext = name.split_once(".tar").map_or("?", |(_, e)| e);
    let inner: Box<dyn Read + 'a> = match ext {
        ".xz" if size > 4 << 20 => {
            // Large members: liblzma's threaded decoder (only helps multi-block streams).
            let stream = liblzma::stream::MtStreamBuilder::new()
                .threads(2)
                .memlimit_threading(XZ_THREADED_MEMLIMIT)
                .memlimit_stop(XZ_MEMLIMIT)
                .decoder()
                .map_err(io::Error::from)?;
            Box::new(liblzma::read::XzDecoder::new_stream(data, stream))
        }
        ".xz" => {
            let stream = liblzma::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, 0)
                .map_err(io::Error::from)?;
            Box::new(liblzma::read::XzDecoder::new_stream(data, stream))
        }
        ".zst" => {
            let mut d = zstd::stream::read::Decoder::new(data)?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
            Box::new(d)
        }
        ".gz" => Box::new(flate2::read::GzDecoder::new(data)),
        "" => Box::new(data),
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unsupported compression of `{}`", shown(name)),
            ));
        }
    };
    Ok(Box::new(Bounded {
        inner,
        left: limit,
        what: format!("decompressed `{name}` is larger than {}", human(limit)),
    }))
}

/// Parse a `.deb` streamed from `reader`, which must be the package `planned` names, each
/// regular file streamed into `store`. As dpkg: `debian-binary` (2.x) first, then
/// `control.tar*`, then `data.tar*`; members whose name starts with `_` are skipped. The
/// archive is read to its end.
pub fn read(planned: &Identity, reader: impl Read, store: &Store) -> Result<Deb, DebError> {
    let package = planned.name;
    let format = |reason: String| DebError::Format {
        package: package.to_owned(),
        reason,
    };
    let mut ar = ar::Reader::new(reader);
    let next = |ar: &mut ar::Reader<_>, prefix: &str| loop {
        match ar.next().map_err(format)? {
            Some((name, _)) if name.starts_with('_') => continue,
            Some((name, size)) if name == prefix || name.starts_with(&format!("{prefix}.")) => {
                return Ok((name, size));
            }
            Some((name, _)) => {
                return Err(format(format!(
                    "expected member `{prefix}`, found `{name}`"
                )));
            }
            None => return Err(format(format!("missing `{prefix}`"))),
        }
    };
    next(&mut ar, "debian-binary")?;
    let mut binary = Vec::new();
    ar.data()
        .take(2)
        .read_to_end(&mut binary)
        .map_err(|e| io_error(package, "debian-binary", e))?;
    if binary != b"2." {
        return Err(format(
            "unsupported `debian-binary` (not format 2.x)".into(),
        ));
    }
    let (name, size) = next(&mut ar, "control.tar")?;
    let dec = decoder(&name, ar.data(), size, CONTROL_TAR_LIMIT)
        .map_err(|e| io_error(package, &name, e))?;
    let (control, md5sums) = read_control(dec).map_err(|e| io_error(package, &name, e))?;
    let control = control.ok_or_else(|| format("control.tar has no `control` file".into()))?;
    let installed = check_control(planned, &control)?;
    let limit = data_limit(installed);
    let (name, size) = next(&mut ar, "data.tar")?;
    let dec = decoder(&name, ar.data(), size, stream_limit(limit))
        .map_err(|e| io_error(package, &name, e))?;
    let budget = Budget {
        files: limit,
        entries: DATA_ENTRIES,
        installed,
    };
    let entries = read_data(package, dec, budget, store)?;
    // The rest of the archive (as when it was read whole, every header must be sound).
    while ar.next().map_err(format)?.is_some() {}
    Ok(Deb {
        control,
        md5sums,
        entries,
    })
}

/// The `control` file of a `.deb` streamed from `reader`, checked against `planned` as
/// `read` checks it; data.tar is not read (a caller hashing the file drains the rest).
pub fn control(planned: &Identity, reader: impl Read) -> Result<String, DebError> {
    checked_control(planned, &mut ar::Reader::new(reader)).map(|(control, _)| control)
}

/// The members of `ar` up to `control.tar` (`debian-binary` and `_` members skipped), its
/// `control` checked against `planned`: the control and its `Installed-Size` (KiB).
fn checked_control<R: Read>(
    planned: &Identity,
    ar: &mut ar::Reader<R>,
) -> Result<(String, Option<u64>), DebError> {
    let package = planned.name;
    let format = |reason: String| DebError::Format {
        package: package.to_owned(),
        reason,
    };
    loop {
        match ar.next().map_err(format)? {
            Some((name, size)) if name.starts_with("control.tar") => {
                let dec = decoder(&name, ar.data(), size, CONTROL_TAR_LIMIT)
                    .map_err(|e| io_error(package, &name, e))?;
                let (control, _) = read_control(dec).map_err(|e| io_error(package, &name, e))?;
                let control =
                    control.ok_or_else(|| format("control.tar has no `control` file".into()))?;
                let installed = check_control(planned, &control)?;
                return Ok((control, installed));
            }
            Some((name, _)) if name == "debian-binary" || name.starts_with('_') => continue,
            Some((name, _)) => {
                return Err(format(format!(
                    "expected member `control.tar`, found `{name}`"
                )));
            }
            None => return Err(format("missing `control.tar`".into())),
        }
    }
}

/// Check the control's `Package`, `Version` and `Architecture` against the plan (and
/// Debian policy); returns its `Installed-Size` (KiB), if any.
fn check_control(planned: &Identity, control: &str) -> Result<Option<u64>, DebError> {
    let para = crate::repo::deb822::paragraphs(control).next();
    let get = |f: &str| {
        para.and_then(|p| p.get(f))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    type Check<'a> = (&'static str, &'a str, fn(&str) -> bool);
    let fields: [Check; 3] = [
        ("Package", planned.name, valid_name),
        ("Version", planned.version, valid_version),
        ("Architecture", planned.architecture, valid_architecture),
    ];
    for (field, expected, valid) in fields {
        let found = get(field);
        if !valid(&found) {
            return Err(DebError::Invalid {
                package: planned.name.to_owned(),
                field,
                value: shown(&found),
            });
        }
        if found != expected {
            return Err(DebError::Mismatch {
                package: planned.name.to_owned(),
                field,
                expected: shown(expected),
                found,
            });
        }
    }
    let size = get("Installed-Size");
    if size.is_empty() {
        return Ok(None);
    }
    if size.len() > 20 || !size.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DebError::Invalid {
            package: planned.name.to_owned(),
            field: "Installed-Size",
            value: shown(&size),
        });
    }
    Ok(Some(size.parse().unwrap_or(u64::MAX)))
}

fn read_control(reader: impl Read) -> io::Result<(Option<String>, Option<String>)> {
    let mut control = None;
    let mut md5sums = None;
    let mut tar = tar::Archive::new(reader);
    for (i, entry) in tar.entries()?.enumerate() {
        if i >= CONTROL_ENTRIES {
            return Err(over(format!(
                "control.tar has more than {CONTROL_ENTRIES} entries"
            )));
        }
        let entry = entry?;
        let path = entry.path_bytes().into_owned();
        let name = normalize(&String::from_utf8_lossy(&path)).unwrap_or_default();
        let (slot, limit) = match name.as_str() {
            "control" => (&mut control, CONTROL_LIMIT),
            "md5sums" => (&mut md5sums, MD5SUMS_LIMIT),
            _ => continue, // maintainer scripts and the rest are never read
        };
        let too_big = || over(format!("`{name}` is larger than {}", human(limit)));
        if entry.size() > limit {
            return Err(too_big());
        }
        let mut text = String::new();
        entry.take(limit + 1).read_to_string(&mut text)?;
        if text.len() as u64 > limit {
            return Err(too_big());
        }
        *slot = Some(text);
    }
    Ok((control, md5sums))
}

/// What data.tar may hold: bytes of files and entries.
#[derive(Debug, Clone, Copy)]
struct Budget {
    files: u64,
    entries: usize,
    /// The `Installed-Size` the file limit comes from, for messages.
    installed: Option<u64>,
}

impl Budget {
    fn files_message(&self) -> String {
        let from = match self.installed {
            Some(k) if data_limit(Some(k)) < DATA_CEILING => {
                format!("its Installed-Size of {k} KiB plus 25% and 1 MiB")
            }
            Some(_) => "the ceiling for any package".into(),
            None => "the limit for a package without Installed-Size".into(),
        };
        format!(
            "data.tar holds more than {} of files ({from})",
            human(self.files)
        )
    }
}

fn read_data(
    package: &str,
    reader: impl Read,
    budget: Budget,
    store: &Store,
) -> Result<Vec<Entry>, DebError> {
    let io_err = |source| io_error(package, "data.tar", source);
    let mut out = Vec::new();
    let mut left = budget.files;
    let mut tar = tar::Archive::new(reader);
    for (i, entry) in tar.entries().map_err(io_err)?.enumerate() {
        if i >= budget.entries {
            return Err(DebError::Limit {
                package: package.to_owned(),
                what: format!("data.tar has more than {} entries", budget.entries),
            });
        }
        let mut entry = entry.map_err(io_err)?;
        if let Some(e) = data_entry(package, &mut entry, &mut left, &budget, store)? {
            out.push(e);
        }
    }
    Ok(out)
}

/// A path or link name as an extractor would use it: at most `NAME_LIMIT` bytes, no NUL.
fn checked_name(package: &str, path: &str, raw: &[u8]) -> Result<String, DebError> {
    let text = String::from_utf8_lossy(raw).into_owned();
    let reason = if raw.len() > NAME_LIMIT {
        format!("a name longer than {NAME_LIMIT} bytes")
    } else if raw.contains(&0) {
        "a NUL byte in its name".to_owned()
    } else {
        return Ok(text);
    };
    Err(DebError::BadName {
        package: package.to_owned(),
        path: shown(if path.is_empty() { &text } else { path }),
        reason,
    })
}

fn data_entry<R: Read>(
    package: &str,
    entry: &mut tar::Entry<R>,
    left: &mut u64,
    budget: &Budget,
    store: &Store,
) -> Result<Option<Entry>, DebError> {
    let io_err = |source| io_error(package, "data.tar", source);
    let raw_path = checked_name(package, "", &entry.path_bytes())?;
    let unsafe_path = || DebError::UnsafePath {
        package: package.to_owned(),
        path: shown(&raw_path),
    };
    let path = normalize(&raw_path).ok_or_else(unsafe_path)?;
    if path.split('/').any(|c| c.starts_with(".wh.")) {
        return Err(DebError::BadName {
            package: package.to_owned(),
            path: shown(&raw_path),
            reason: "an OCI whiteout name (`.wh.`), which would delete files of lower layers"
                .into(),
        });
    }
    let header = entry.header();
    let mode = header.mode().map_err(io_err)? & 0o7777;
    let uid = header.uid().map_err(io_err)?;
    let gid = header.gid().map_err(io_err)?;
    let mtime = header.mtime().map_err(io_err)?;
    let entry_type = header.entry_type();
    // `link_name_bytes` is the PAX `linkpath` (or GNU long link) when there is one: the
    // name an extractor uses, whatever the ustar field says.
    let link = match entry.link_name_bytes() {
        Some(l) => checked_name(package, &raw_path, &l)?,
        None => String::new(),
    };
    let kind = match entry_type {
        tar::EntryType::Directory if path.is_empty() => return Ok(None), // the root itself
        tar::EntryType::Directory => Kind::Dir,
        tar::EntryType::Symlink if link.is_empty() => {
            return Err(DebError::BadName {
                package: package.to_owned(),
                path: shown(&raw_path),
                reason: "an empty symlink target".into(),
            });
        }
        tar::EntryType::Symlink => Kind::Symlink(link),
        tar::EntryType::Link => match normalize(&link) {
            Some(t) if !t.is_empty() => Kind::HardLink(t),
            _ => return Err(unsafe_path()),
        },
        tar::EntryType::Regular | tar::EntryType::Continuous => {
            Kind::File(file_data(package, entry, left, budget, store)?)
        }
        _ => {
            return Err(DebError::Unsupported {
                package: package.to_owned(),
                path: shown(&raw_path),
            });
        }
    };
    if path.is_empty() {
        return Err(unsafe_path());
    }
    Ok(Some(Entry {
        path,
        kind,
        mode,
        uid,
        gid,
        mtime,
    }))
}

/// The data of a regular file, charged to the package's budget before it is read, streamed
/// into `store` (never held whole: the header's size bounds the read, not a buffer).
fn file_data<R: Read>(
    package: &str,
    entry: &mut tar::Entry<R>,
    left: &mut u64,
    budget: &Budget,
    store: &Store,
) -> Result<Content, DebError> {
    let size = entry.size();
    if size > *left {
        return Err(DebError::Limit {
            package: package.to_owned(),
            what: budget.files_message(),
        });
    }
    let data = store.put(entry.take(size)).map_err(|e| match e {
        ContentError::Source(e) => io_error(package, "data.tar", e),
        e => DebError::Store {
            package: package.to_owned(),
            source: e,
        },
    })?;
    if data.size != size {
        return Err(DebError::Format {
            package: package.to_owned(),
            reason: "data.tar ends inside a file".into(),
        });
    }
    *left -= size;
    Ok(data)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A raw ustar header; sizes that do not fit 11 octal digits use base-256.
    pub(crate) fn header(name: &[u8], kind: u8, size: u64, link: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        if size < 0o77777777777 {
            h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
        } else {
            h[124] = 0x80;
            h[128..136].copy_from_slice(&size.to_be_bytes());
        }
        h[136..148].copy_from_slice(b"00000000144\0");
        h[156] = kind;
        h[157..157 + link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        h
    }

    fn padded(mut v: Vec<u8>) -> Vec<u8> {
        v.resize(v.len().div_ceil(512) * 512, 0);
        v
    }

    /// One tar member: header and padded data.
    pub(crate) fn member(name: &[u8], kind: u8, data: &[u8], link: &[u8]) -> Vec<u8> {
        let mut v = header(name, kind, data.len() as u64, link);
        v.extend(padded(data.to_vec()));
        v
    }

    /// A PAX extended header carrying `records`.
    pub(crate) fn pax(records: &[(&str, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (k, v) in records {
            let rest = k.len() + v.len() + 3;
            let mut len = rest + 1;
            while len.to_string().len() + rest != len {
                len += 1;
            }
            body.extend(format!("{len} {k}=").as_bytes());
            body.extend(*v);
            body.push(b'\n');
        }
        member(b"PaxHeader", b'x', &body, b"")
    }

    pub(crate) fn tar(members: &[Vec<u8>]) -> Vec<u8> {
        let mut v: Vec<u8> = members.concat();
        v.extend([0u8; 1024]);
        v
    }

    pub(crate) const CONTROL: &str =
        "Package: pk\nVersion: 1.0-1\nArchitecture: all\nInstalled-Size: 4\n";

    /// A .deb with uncompressed members (`data_name` picks the data compression).
    pub(crate) fn deb(control: &str, data_name: &str, data: &[u8]) -> Vec<u8> {
        let ctl = tar(&[
            member(b"./control", b'0', control.as_bytes(), b""),
            member(b"./md5sums", b'0', b"abc  usr/x\n", b""),
            member(b"./postinst", b'0', b"#!/bin/sh\nrm -rf /\n", b""),
        ]);
        ar::tests::archive(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar", &ctl),
            (data_name, data),
        ])
    }

    const PLAN: Identity = Identity {
        name: "pk",
        version: "1.0-1",
        architecture: "all",
    };

    /// `read` of a `.deb` in memory, into a store of its own.
    fn read(planned: &Identity, bytes: &[u8]) -> Result<Deb, DebError> {
        super::read(planned, bytes, &crate::content::tests::store())
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn normalize_paths() {
        assert_eq!(normalize("./usr/bin/").as_deref(), Some("usr/bin"));
        assert_eq!(normalize("/etc//x").as_deref(), Some("etc/x"));
        assert_eq!(normalize("./").as_deref(), Some(""));
        assert_eq!(normalize("./usr/../../etc"), None);
    }

    #[test]
    fn garbage_is_a_format_error() {
        let e = read(&PLAN, b"not an ar archive").unwrap_err();
        assert!(e.to_string().contains("`pk` is not a valid .deb"), "{e}");
    }

    #[test]
    fn reads_control_md5sums_and_entries() {
        let data = tar(&[
            member(b"./", b'5', b"", b""),
            member(b"./usr/", b'5', b"", b""),
            member(b"./usr/x", b'0', b"hello", b""),
            member(b"./usr/y", b'1', b"", b"./usr/x"),
            member(b"./usr/z", b'2', b"", b"x"),
        ]);
        let d = read(&PLAN, &deb(CONTROL, "data.tar.gz", &gz(&data))).unwrap();
        assert_eq!(d.control, CONTROL);
        assert_eq!(d.md5sums.as_deref(), Some("abc  usr/x\n"));
        let kinds: Vec<_> = d.entries.iter().map(|e| (&e.path[..], &e.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("usr", &Kind::Dir),
                ("usr/x", &Kind::File(Content::inline(&b"hello"[..]))),
                ("usr/y", &Kind::HardLink("usr/x".into())),
                ("usr/z", &Kind::Symlink("x".into())),
            ]
        );
    }

    #[test]
    fn ar_slash_n_member_is_an_error_not_a_panic() {
        let mut bytes = deb(CONTROL, "data.tar", &tar(&[]));
        // Rename `debian-binary` to `/1` (a GNU long-name reference without a `//` table).
        bytes[8..24].copy_from_slice(b"/1              ");
        let e = read(&PLAN, &bytes).unwrap_err().to_string();
        assert!(e.contains("GNU/BSD long or special name"), "{e}");
    }

    #[test]
    fn members_out_of_order_or_unknown_are_refused() {
        let data = tar(&[]);
        let b = ar::tests::archive(&[("debian-binary", b"2.0\n"), ("data.tar", &data)]);
        let e = read(&PLAN, &b).unwrap_err().to_string();
        assert!(
            e.contains("expected member `control.tar`, found `data.tar`"),
            "{e}"
        );
        let b = ar::tests::archive(&[("debian-binary", b"3.0\n")]);
        assert!(read(&PLAN, &b).unwrap_err().to_string().contains("2.x"));
        let b = deb(CONTROL, "data.tar.bz2", &data);
        let e = read(&PLAN, &b).unwrap_err();
        assert!(
            format!("{e:?}").contains("unsupported compression"),
            "{e:?}"
        );
    }

    #[test]
    fn a_terabyte_claim_is_refused_before_reading() {
        let data = [header(b"./big", b'0', 1 << 40, b""), vec![0; 1024]].concat();
        let t = std::time::Instant::now();
        let e = read(&PLAN, &deb(CONTROL, "data.tar", &data)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`pk` exceeds a limit: data.tar holds more than 1.0 MiB of files (its Installed-Size of 4 KiB plus 25% and 1 MiB)"
        );
        assert!(t.elapsed().as_secs() < 2);
    }

    #[test]
    fn decompression_bombs_stop_at_the_limits() {
        // 20 MiB of files for a package that says 4 KiB.
        let data = tar(&[member(b"./zeros", b'0', &vec![0u8; 20 << 20], b"")]);
        let e = read(&PLAN, &deb(CONTROL, "data.tar.gz", &gz(&data))).unwrap_err();
        assert!(e.to_string().contains("more than 1.0 MiB of files"), "{e}");
        // 80 MiB of PAX record: no file data, but the stream itself is bounded.
        let big = [header(b"PaxHeader", b'x', 80 << 20, b""), vec![0; 80 << 20]].concat();
        let e = read(&PLAN, &deb(CONTROL, "data.tar.gz", &gz(&big))).unwrap_err();
        assert!(
            e.to_string()
                .contains("decompressed `data.tar.gz` is larger than 18.0 MiB"),
            "{e}"
        );
        // control.tar members have small fixed limits.
        let ctl = format!("{CONTROL}Description: x\n {}\n", "y".repeat(1 << 20));
        let e = read(&PLAN, &deb(&ctl, "data.tar", &tar(&[]))).unwrap_err();
        assert!(
            e.to_string().contains("`control` is larger than 1.0 MiB"),
            "{e}"
        );
    }

    #[test]
    fn too_many_entries_are_refused() {
        let data = tar(&[
            member(b"a", b'0', b"", b""),
            member(b"b", b'0', b"", b""),
            member(b"c", b'0', b"", b""),
        ]);
        let budget = Budget {
            files: 100,
            entries: 2,
            installed: None,
        };
        let store = crate::content::tests::store();
        let e = read_data("pk", &data[..], budget, &store).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`pk` exceeds a limit: data.tar has more than 2 entries"
        );
    }

    #[test]
    fn pax_names_are_the_ones_checked() {
        // The PAX linkpath wins over an innocent ustar linkname, as in extractors.
        let data = tar(&[
            pax(&[("linkpath", b"../../../../etc")]),
            member(b"./usr/lib/x", b'2', b"", b"innocent"),
        ]);
        let d = read(&PLAN, &deb(CONTROL, "data.tar", &data)).unwrap();
        assert_eq!(d.entries[0].kind, Kind::Symlink("../../../../etc".into()));
        // A long PAX path with `..` escapes.
        let long = format!("./usr/{}/../../../etc/passwd", "d".repeat(120));
        let data = tar(&[
            pax(&[("path", long.as_bytes())]),
            member(b"./usr/innocent", b'0', b"x", b""),
        ]);
        let e = read(&PLAN, &deb(CONTROL, "data.tar", &data)).unwrap_err();
        assert!(
            e.to_string().contains("which escapes the root filesystem"),
            "{e}"
        );
        // A GNU long name (`L`) with `..`.
        let long = format!("./usr/{}/../../../etc/shadow", "e".repeat(120));
        let data = tar(&[
            member(b"././@LongLink", b'L', long.as_bytes(), b""),
            member(b"./usr/innocent", b'0', b"x", b""),
        ]);
        let e = read(&PLAN, &deb(CONTROL, "data.tar", &data)).unwrap_err();
        assert!(
            e.to_string().contains("which escapes the root filesystem"),
            "{e}"
        );
        // An OCI whiteout would hide files of the layers below.
        let data = tar(&[member(b"./usr/lib/.wh..wh..opq", b'0', b"", b"")]);
        let e = read(&PLAN, &deb(CONTROL, "data.tar", &data)).unwrap_err();
        assert!(e.to_string().contains("an OCI whiteout name"), "{e}");
        // NUL inside a PAX path.
        let data = tar(&[
            pax(&[("path", b"./usr/a\0/etc/passwd")]),
            member(b"./usr/innocent", b'0', b"x", b""),
        ]);
        let e = read(&PLAN, &deb(CONTROL, "data.tar", &data)).unwrap_err();
        assert!(e.to_string().contains("a NUL byte in its name"), "{e}");
        // Hard links outside the root and over-long names.
        let data = tar(&[member(b"./usr/l", b'1', b"", b"../../etc/shadow")]);
        assert!(read(&PLAN, &deb(CONTROL, "data.tar", &data)).is_err());
        let long = "a/".repeat(NAME_LIMIT);
        let data = tar(&[
            pax(&[("path", long.as_bytes())]),
            member(b"x", b'0', b"", b""),
        ]);
        let e = read(&PLAN, &deb(CONTROL, "data.tar", &data)).unwrap_err();
        assert!(e.to_string().contains("longer than 4096 bytes"), "{e}");
    }

    #[test]
    fn the_control_must_be_the_planned_package() {
        let data = tar(&[]);
        let other = CONTROL.replace("Version: 1.0-1", "Version: 2.0-1");
        let e = read(&PLAN, &deb(&other, "data.tar", &data)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`pk` is not the package the index promised: its control says `Version: 2.0-1`, expected `1.0-1`"
        );
        let evil = CONTROL.replace("Package: pk", "Package: ../../etc");
        let e = read(&PLAN, &deb(&evil, "data.tar", &data)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`pk` has an invalid `Package` in its control file: `../../etc`"
        );
        let arch = CONTROL.replace("all", "amd64");
        assert!(read(&PLAN, &deb(&arch, "data.tar", &data)).is_err());
    }

    #[test]
    fn data_limits() {
        assert_eq!(data_limit(Some(1024)), (1 << 20) + (1 << 18) + (1 << 20));
        assert_eq!(data_limit(Some(u64::MAX)), DATA_CEILING);
        assert_eq!(data_limit(None), DATA_DEFAULT);
    }

    #[test]
    fn xz_streams_get_a_memory_limit() {
        let data = tar(&[member(b"./x", b'0', b"hello", b"")]);
        let mut xz = Vec::new();
        liblzma::read::XzEncoder::new(&data[..], 0)
            .read_to_end(&mut xz)
            .unwrap();
        assert!(read(&PLAN, &deb(CONTROL, "data.tar.xz", &xz)).is_ok());
        // Block header at 12: size, flags, filter 0x21, 1 property byte (the dictionary
        // size), padding, CRC32. Claim a 4 GiB dictionary and fix the CRC.
        assert_eq!(&xz[12..16], &[0x02, 0x00, 0x21, 0x01]);
        xz[16] = 40;
        let mut crc = flate2::Crc::new();
        crc.update(&xz[12..20]);
        xz[20..24].copy_from_slice(&crc.sum().to_le_bytes());
        let e = read(&PLAN, &deb(CONTROL, "data.tar.xz", &xz)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`pk` exceeds a limit: its xz stream needs more memory than 256.0 MiB"
        );
    }
}
