//! One platform's layers read bottom up for the few files that say what the image holds
//! (`dpkg::record_limit` names them): each layer streamed once (gzip, zstd or plain tar,
//! told by its first bytes), its entries bounded in number, the bytes read (compressed and
//! unpacked, all platforms) in total, the headers between two entries (PAX records, GNU long
//! names) in bytes; a later layer's file, or its
//! whiteout (`.wh.NAME`, `.wh..wh..opq`), hides what lower layers had there, as overlayfs
//! does. A layer counts only once its bytes (or its tar) have the digest the image names.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use super::archive::Files;
use super::dpkg::record_limit;
use super::walk::{Layer, PlatformImage};
use super::{InstalledError, shown};

/// Entries of all layers of one platform.
pub const MAX_ENTRIES: u64 = 1_000_000;
/// Bytes read from an image's layers, compressed and unpacked, all platforms together.
pub const MAX_READ: u64 = 64 << 30;
/// What the records read from one platform's layers may take (their bytes and names).
pub const MAX_KEPT: u64 = 256 << 20;
/// Bytes the tar reader may read between two entries beyond the previous entry's data:
/// headers, PAX records, GNU long names (which it holds in memory).
const MAX_BETWEEN: u64 = 1 << 20;

/// The records of an image (`var/lib/dpkg/status.d/...`) by path, as the top layer sees them.
pub(crate) type Records = BTreeMap<String, Vec<u8>>;

/// What a limit stopped, for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trip {
    Read,
    Between,
}

/// The limits on a layer's streams, shared by the readers and the loop over the entries.
struct Gate<'a> {
    /// Bytes the tar reader may still read before the next entry (`u64::MAX` while an
    /// entry's data is read).
    window: Cell<u64>,
    /// Bytes the image's layers may still be read for (`MAX_READ` at first).
    left: &'a AtomicU64,
    tripped: Cell<Option<Trip>>,
}

/// A stream of a layer read through the gate: its bytes as stored, or (`windowed`) its tar.
struct Gated<'g, 'a, R> {
    inner: R,
    gate: &'g Gate<'a>,
    windowed: bool,
}

impl<R: Read> Read for Gated<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let left = self.gate.left.load(Ordering::Relaxed);
        let window = if self.windowed {
            self.gate.window.get()
        } else {
            u64::MAX
        };
        let allowed = window.min(left);
        if allowed == 0 {
            // At a limit: fine if the stream ends here.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            let trip = if window < left {
                Trip::Between
            } else {
                Trip::Read
            };
            self.gate.tripped.set(Some(trip));
            return Err(io::Error::other("a limit of the layer's streams"));
        }
        let n = buf
            .len()
            .min(usize::try_from(allowed).unwrap_or(usize::MAX));
        let got = self.inner.read(&mut buf[..n])? as u64;
        if self.windowed {
            self.gate.window.set(window.saturating_sub(got));
        }
        // Other platforms read at the same time: never below zero.
        let _ = self
            .gate
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| {
                Some(l.saturating_sub(got))
            });
        Ok(got as usize)
    }
}

/// A reader that hashes what passes through it.
struct Hashed<R> {
    inner: R,
    hash: Sha256,
    count: u64,
}

impl<R> Hashed<R> {
    fn new(inner: R) -> Self {
        Hashed {
            inner,
            hash: Sha256::new(),
            count: 0,
        }
    }

    fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.hash.clone().finalize()))
    }
}

impl<R: Read> Read for Hashed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// What one platform's layers have used of the limits so far.
#[derive(Debug, Default)]
struct Budget {
    entries: u64,
    kept: u64,
}

/// What one layer changes: lower records it hides, and the records it adds.
#[derive(Debug, Default)]
struct Changes {
    hidden: BTreeSet<String>,
    added: Records,
}

/// The records of `image` after its last layer, its layers' reading charged to `left`
/// (shared by the image's platforms).
pub(crate) fn records(
    files: &dyn Files,
    image: &PlatformImage,
    left: &AtomicU64,
    warnings: &mut Vec<String>,
) -> Result<Records, InstalledError> {
    let mut kept = Records::new();
    let mut budget = Budget::default();
    for (i, layer) in image.layers.iter().enumerate() {
        let reading = Reading {
            files,
            layer,
            what: format!(
                "layer {} ({}) of {}",
                i + 1,
                layer.digest.as_deref().unwrap_or(&layer.name),
                image.platform
            ),
        };
        let changes = reading.read(&kept, &mut budget, left, warnings)?;
        for path in changes.hidden {
            kept.remove(&path);
        }
        kept.extend(changes.added);
    }
    Ok(kept)
}

/// One layer being read.
struct Reading<'a> {
    files: &'a dyn Files,
    layer: &'a Layer,
    /// `layer N (DIGEST) of PLATFORM`, for messages.
    what: String,
}

impl Reading<'_> {
    fn invalid(&self, problem: String) -> InstalledError {
        InstalledError::Invalid {
            image: self.files.label().to_owned(),
            what: self.what.clone(),
            problem,
        }
    }

    fn unreadable(&self, gate: &Gate, source: io::Error) -> InstalledError {
        match gate.tripped.get() {
            Some(Trip::Read) => self.invalid(format!(
                "takes the image's layers past {} GiB read, compressed and unpacked",
                MAX_READ >> 30
            )),
            Some(Trip::Between) => self.invalid(format!(
                "has tar headers (PAX records, long names) of more than {} MiB",
                MAX_BETWEEN >> 20
            )),
            None => InstalledError::Unreadable {
                image: self.files.label().to_owned(),
                what: self.what.clone(),
                source,
            },
        }
    }

    /// The layer's changes, once its bytes (and tar, for a docker archive) are checked.
    /// Bytes that are not the layer's digest are named so, whatever else went wrong with
    /// them.
    fn read(
        &self,
        lower: &Records,
        budget: &mut Budget,
        left: &AtomicU64,
        warnings: &mut Vec<String>,
    ) -> Result<Changes, InstalledError> {
        let (reader, size) =
            self.files
                .open(&self.layer.name)?
                .ok_or_else(|| InstalledError::Missing {
                    image: self.files.label().to_owned(),
                    what: self.what.clone(),
                })?;
        if let Some(expected) = self.layer.size.filter(|s| *s != size) {
            return Err(self.invalid(format!("is {size} bytes, not {expected}")));
        }
        let gate = Gate {
            window: Cell::new(u64::MAX),
            left,
            tripped: Cell::new(None),
        };
        let mut raw = Hashed::new(Gated {
            inner: reader,
            gate: &gate,
            windowed: false,
        });
        let unpacked = self.unpack(&mut raw, &gate, lower, budget, warnings);
        let rest = io::copy(&mut raw, &mut io::sink());
        if let Some(digest) = &self.layer.digest
            && rest.is_ok()
            && (raw.digest() != *digest || raw.count != size)
        {
            return Err(self.invalid(format!(
                "is not the bytes of its digest (they are {})",
                raw.digest()
            )));
        }
        let changes = unpacked?;
        rest.map_err(|e| self.unreadable(&gate, e))?;
        Ok(changes)
    }

    /// The changes of the layer's tar (checked against its `diff_id`, when it has one).
    fn unpack<R: Read>(
        &self,
        raw: &mut Hashed<R>,
        gate: &Gate,
        lower: &Records,
        budget: &mut Budget,
        warnings: &mut Vec<String>,
    ) -> Result<Changes, InstalledError> {
        let mut changes = Changes::default();
        let tar_in = decoder(BufReader::with_capacity(1 << 16, raw))
            .map_err(|e| self.unreadable(gate, e))?;
        let mut tar_in = Hashed::new(Gated {
            inner: tar_in,
            gate,
            windowed: true,
        });
        let mut tar = tar::Archive::new(&mut tar_in);
        self.entries(&mut tar, gate, lower, &mut changes, budget, warnings)?;
        if let Some(diff_id) = &self.layer.diff_id {
            let tar_in = tar.into_inner();
            gate.window.set(u64::MAX);
            io::copy(tar_in, &mut io::sink()).map_err(|e| self.unreadable(gate, e))?;
            if tar_in.digest() != *diff_id {
                return Err(self.invalid(format!(
                    "is not the tar its config names ({diff_id}; it is {})",
                    tar_in.digest()
                )));
            }
        }
        Ok(changes)
    }

    /// Every entry of the layer's tar, the gate's window opened before each header.
    fn entries<R: Read>(
        &self,
        tar: &mut tar::Archive<R>,
        gate: &Gate,
        lower: &Records,
        changes: &mut Changes,
        budget: &mut Budget,
        warnings: &mut Vec<String>,
    ) -> Result<(), InstalledError> {
        let mut entries = tar.entries().map_err(|e| self.unreadable(gate, e))?;
        // The previous entry's data, which the tar reader skips before the next header.
        let mut pending = 0u64;
        loop {
            gate.window.set(MAX_BETWEEN.saturating_add(pending));
            let next = entries.next();
            gate.window.set(u64::MAX);
            let Some(entry) = next else {
                return Ok(());
            };
            let mut entry = entry.map_err(|e| self.unreadable(gate, e))?;
            budget.entries += 1;
            if budget.entries > MAX_ENTRIES {
                return Err(self.invalid(format!("takes the image past {MAX_ENTRIES} entries")));
            }
            let header = entry.header();
            let stored = if header.entry_type().is_gnu_sparse() {
                header.entry_size().unwrap_or(0)
            } else {
                entry.size()
            };
            pending = stored.saturating_add(511) & !511;
            self.entry(&mut entry, gate, lower, changes, budget, warnings)?;
        }
    }

    /// One entry: a whiteout hides lower records, a file or link hides what lower layers had
    /// at its path (and under it), a record is read within its limit.
    fn entry<R: Read>(
        &self,
        entry: &mut tar::Entry<R>,
        gate: &Gate,
        lower: &Records,
        changes: &mut Changes,
        budget: &mut Budget,
        warnings: &mut Vec<String>,
    ) -> Result<(), InstalledError> {
        // A name that climbs out or is not UTF-8 can be no record (and hides none).
        let Some(path) = layer_path(&entry.path_bytes()) else {
            return Ok(());
        };
        let (dir, base) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        if base == ".wh..wh..opq" {
            hide(lower, &format!("{dir}/"), &mut changes.hidden);
            return Ok(());
        }
        if let Some(name) = base.strip_prefix(".wh.") {
            let target = if dir.is_empty() {
                name.to_owned()
            } else {
                format!("{dir}/{name}")
            };
            hide_at(lower, &target, &mut changes.hidden);
            return Ok(());
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            if lower.contains_key(&path) {
                changes.hidden.insert(path);
            }
            return Ok(());
        }
        hide_at(lower, &path, &mut changes.hidden);
        let Some(limit) = record_limit(&path) else {
            return Ok(());
        };
        changes.added.remove(&path);
        if kind.is_file() || kind.is_contiguous() {
            let bytes = self.record(entry, &path, limit, gate)?;
            self.keep(path, bytes, changes, budget)
        } else if kind.is_hard_link()
            && let Some(bytes) = link_target(entry)
                .and_then(|t| changes.added.get(&t))
                .cloned()
        {
            self.keep(path, bytes, changes, budget)
        } else {
            warnings.push(format!(
                "{}: {} in {} is not a regular file: not read",
                self.files.label(),
                shown(&path),
                self.what
            ));
            Ok(())
        }
    }

    /// A record's bytes, refused past `limit` (before reading, when its header says so).
    fn record<R: Read>(
        &self,
        entry: &mut tar::Entry<R>,
        path: &str,
        limit: u64,
        gate: &Gate,
    ) -> Result<Vec<u8>, InstalledError> {
        let too_large = || {
            self.invalid(format!(
                "has {} larger than {} KiB, which compose does not read",
                shown(path),
                limit >> 10
            ))
        };
        if entry.size() > limit {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        entry
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.unreadable(gate, e))?;
        if bytes.len() as u64 > limit {
            return Err(too_large());
        }
        Ok(bytes)
    }

    /// `bytes` kept as the record at `path`, charged to the platform's budget (with its name).
    fn keep(
        &self,
        path: String,
        bytes: Vec<u8>,
        changes: &mut Changes,
        budget: &mut Budget,
    ) -> Result<(), InstalledError> {
        budget.kept += bytes.len() as u64 + path.len() as u64 + 64;
        if budget.kept > MAX_KEPT {
            return Err(self.invalid(format!(
                "takes the image's dpkg records past {} MiB",
                MAX_KEPT >> 20
            )));
        }
        changes.added.insert(path, bytes);
        Ok(())
    }
}

/// A hard link's target as a layer path.
fn link_target<R: Read>(entry: &tar::Entry<R>) -> Option<String> {
    layer_path(&entry.link_name_bytes()?)
}

/// The lower records at `path` or under it.
fn hide_at(lower: &Records, path: &str, hidden: &mut BTreeSet<String>) {
    if lower.contains_key(path) {
        hidden.insert(path.to_owned());
    }
    hide(lower, &format!("{path}/"), hidden);
}

/// The lower records under `prefix` (which ends with `/`; `/` alone: all of them).
fn hide(lower: &Records, prefix: &str, hidden: &mut BTreeSet<String>) {
    let prefix = prefix.strip_prefix('/').unwrap_or(prefix);
    let under = lower
        .range::<str, _>((
            std::ops::Bound::Included(prefix),
            std::ops::Bound::Unbounded,
        ))
        .take_while(|(k, _)| k.starts_with(prefix));
    hidden.extend(under.map(|(k, _)| k.clone()));
}

/// A layer entry's name as a path relative to the root (`./` and `/` dropped); `None` for
/// a name that climbs with `..`, is empty or is not UTF-8.
fn layer_path(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The layer's tar: gzip and zstd told by their magic numbers, else a plain tar.
fn decoder<'a, R: Read + 'a>(mut input: BufReader<R>) -> io::Result<Box<dyn Read + 'a>> {
    let head = input.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(Box::new(flate2::bufread::MultiGzDecoder::new(input)));
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let mut d = zstd::stream::read::Decoder::with_buffer(input)?;
        d.window_log_max(crate::deb::ZSTD_WINDOW_LOG_MAX)?;
        return Ok(Box::new(d));
    }
    Ok(Box::new(input))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::installed::archive::Opened;

    /// Layers in memory, by name.
    struct Mem(BTreeMap<String, Vec<u8>>);

    impl Files for Mem {
        fn label(&self) -> &str {
            "mem"
        }
        fn open(&self, name: &str) -> Result<Option<Opened<'_>>, InstalledError> {
            Ok(self
                .0
                .get(name)
                .map(|b| (Box::new(b.as_slice()) as Box<dyn Read>, b.len() as u64)))
        }
    }

    enum E<'a> {
        File(&'a str, &'a [u8]),
        Dir(&'a str),
        Symlink(&'a str),
        HardLink(&'a str, &'a str),
    }

    fn tar(entries: &[E]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(0);
            match e {
                E::File(path, data) => {
                    h.set_size(data.len() as u64);
                    b.append_data(&mut h, path, *data).unwrap();
                }
                E::Dir(path) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    b.append_data(&mut h, path, io::empty()).unwrap();
                }
                E::Symlink(path) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    b.append_link(&mut h, path, "elsewhere").unwrap();
                }
                E::HardLink(path, target) => {
                    h.set_entry_type(tar::EntryType::Link);
                    b.append_link(&mut h, path, target).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut e, data).unwrap();
        e.finish().unwrap()
    }

    fn digest(bytes: &[u8]) -> String {
        crate::oci::sha256_digest(bytes)
    }

    /// An image of `layers` (each as stored), named and checked by their digests.
    fn image(layers: &[Vec<u8>]) -> (Mem, PlatformImage) {
        let mut files = BTreeMap::new();
        let mut refs = Vec::new();
        for bytes in layers {
            let d = digest(bytes);
            let name = format!("blobs/sha256/{}", &d[7..]);
            files.insert(name.clone(), bytes.clone());
            refs.push(Layer {
                name,
                size: Some(bytes.len() as u64),
                digest: Some(d),
                diff_id: None,
            });
        }
        let image = PlatformImage {
            platform: "linux/amd64".into(),
            layers: refs,
        };
        (Mem(files), image)
    }

    fn read(layers: &[Vec<u8>]) -> Result<(Records, Vec<String>), InstalledError> {
        let (files, image) = image(layers);
        let mut warnings = Vec::new();
        let left = AtomicU64::new(MAX_READ);
        records(&files, &image, &left, &mut warnings).map(|r| (r, warnings))
    }

    const D: &str = "var/lib/dpkg/status.d";

    #[test]
    fn later_layers_and_whiteouts_decide_what_is_left() {
        let p = |n: &str| format!("{D}/{n}");
        let base = tar(&[
            E::Dir("var/lib/dpkg/status.d/"),
            E::File(&p("a"), b"Package: a\n"),
            E::File(&p("a.md5sums"), b"x"),
            E::File(&p("b"), b"Package: b\n"),
            E::File(&p("c"), b"Package: c\n"),
            E::File("var/lib/dpkg/status", b"Package: s\n"),
            E::File("usr/bin/tool", b"binary"),
        ]);
        // zstd: `b` whited out, `c` replaced, `d` added.
        let middle = tar(&[
            E::File(&p(".wh.b"), b""),
            E::File(&p("c"), b"Package: c\nVersion: 2\n"),
            E::File(&p("d"), b"Package: d\n"),
            E::File("./var/lib/dpkg/.wh.status", b""),
        ]);
        let middle = zstd::encode_all(middle.as_slice(), 3).unwrap();
        // gzip: the directory made opaque, then `e` in it; `d` hard-linked as `f`.
        let top = gzip(&tar(&[
            E::File(&p(".wh..wh..opq"), b""),
            E::File(&p("e"), b"Package: e\n"),
            E::HardLink(&p("f"), &p("e")),
            E::Symlink(&p("g")),
        ]));
        let (r, w) = read(&[base.clone(), middle.clone(), top]).unwrap();
        let names: Vec<&str> = r.keys().map(String::as_str).collect();
        assert_eq!(names, [p("e"), p("f")]);
        assert_eq!(r[&p("f")], b"Package: e\n");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("status.d/g") && w[0].contains("not a regular file"),
            "{w:?}"
        );
        let (r, _) = read(&[base, middle]).unwrap();
        let names: Vec<&str> = r.keys().map(String::as_str).collect();
        assert_eq!(names, [p("a"), p("c"), p("d")]);
        assert_eq!(r[&p("c")], b"Package: c\nVersion: 2\n");
    }

    #[test]
    fn a_file_or_a_whiteout_above_a_directory_hides_all_of_it() {
        let base = tar(&[E::File(&format!("{D}/a"), b"Package: a\n")]);
        let (r, _) = read(&[base.clone(), tar(&[E::File("var/.wh.lib", b"")])]).unwrap();
        assert!(r.is_empty());
        let (r, _) = read(&[base.clone(), tar(&[E::File("var/lib/dpkg/status.d", b"")])]).unwrap();
        assert!(r.is_empty());
        let (r, _) = read(&[base, tar(&[E::File(".wh..wh..opq", b"")])]).unwrap();
        assert!(r.is_empty());
    }

    #[test]
    fn a_layer_counts_only_with_its_digest() {
        let layer = gzip(&tar(&[E::File(&format!("{D}/a"), b"Package: a\n")]));
        let (files, mut image) = image(&[layer]);
        image.layers[0].digest = Some(digest(b"other"));
        let e = records(&files, &image, &AtomicU64::new(MAX_READ), &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("not the bytes of its digest"), "{e}");
        image.layers[0].digest = None;
        image.layers[0].diff_id = Some(digest(b"other"));
        let e = records(&files, &image, &AtomicU64::new(MAX_READ), &mut Vec::new()).unwrap_err();
        assert!(
            e.to_string().contains("not the tar its config names"),
            "{e}"
        );
        image.layers[0].size = Some(1);
        let e = records(&files, &image, &AtomicU64::new(MAX_READ), &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("bytes, not 1"), "{e}");
    }

    #[test]
    fn a_docker_layer_is_checked_by_its_tar() {
        let tar = tar(&[E::File(&format!("{D}/a"), b"Package: a\n")]);
        let (files, mut image) = image(&[gzip(&tar)]);
        image.layers[0].diff_id = Some(digest(&tar));
        let r = records(&files, &image, &AtomicU64::new(MAX_READ), &mut Vec::new()).unwrap();
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn a_record_past_its_limit_is_refused_before_it_is_read() {
        let mut h = tar::Header::new_gnu();
        h.set_path(format!("{D}/big")).unwrap();
        h.set_size(100 << 20);
        h.set_mode(0o644);
        h.set_cksum();
        // The header alone: its claim is refused before any data is asked for.
        let e = read(&[h.as_bytes().to_vec()]).unwrap_err();
        assert!(e.to_string().contains("larger than 1024 KiB"), "{e}");
    }

    #[test]
    fn long_headers_between_entries_are_bounded() {
        let mut b = tar::Builder::new(Vec::new());
        let mut pax = Vec::new();
        let value = "a".repeat(2 << 20);
        let record_len = format!(" path={value}\n").len();
        let mut len = record_len + 1;
        while format!("{len}").len() + record_len != len {
            len = format!("{len}").len() + record_len;
        }
        pax.extend_from_slice(format!("{len} path={value}\n").as_bytes());
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(pax.len() as u64);
        h.set_cksum();
        b.append(&h, pax.as_slice()).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(0);
        b.append_data(&mut h, "x", io::empty()).unwrap();
        let e = read(&[gzip(&b.into_inner().unwrap())]).unwrap_err();
        assert!(e.to_string().contains("more than 1 MiB"), "{e}");
    }

    #[test]
    fn what_the_layers_read_is_charged_to_one_budget() {
        let bomb = gzip(&tar(&[E::File("usr/lib/big", &vec![0u8; 8 << 20])]));
        assert!(bomb.len() < 1 << 20);
        let (files, image) = image(&[bomb]);
        let left = AtomicU64::new(4 << 20);
        let e = records(&files, &image, &left, &mut Vec::new()).unwrap_err();
        assert!(
            e.to_string().contains("GiB read, compressed and unpacked"),
            "{e}"
        );
        let left = AtomicU64::new(16 << 20);
        records(&files, &image, &left, &mut Vec::new()).unwrap();
        assert!(left.load(Ordering::Relaxed) < 8 << 20);
    }

    #[test]
    fn paths_are_normalized_and_dot_dot_is_no_record() {
        assert_eq!(layer_path(b"./var//lib/./x").as_deref(), Some("var/lib/x"));
        assert_eq!(layer_path(b"/var/lib").as_deref(), Some("var/lib"));
        assert_eq!(layer_path(b"var/../var/lib/dpkg/status"), None);
        assert_eq!(layer_path(b"./"), None);
        assert_eq!(layer_path(&[0xff, b'a']), None);
    }
}
