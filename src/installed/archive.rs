//! Where an image's files are: an OCI layout directory (read through
//! `oci::reader::LayoutReader`: no symlink followed, digests checked before they become
//! paths) or a tar (`oci-archive:`, `docker-archive:`) read in place: its regular entries
//! indexed by name once (bounded, no `..` or absolute name, no link followed), then each
//! read at its offset. Nothing is extracted.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::oci::reader::{LayoutReader, open_regular};

use super::{InstalledError, shown};

/// Entries a tar of an image may have (blobs, documents, directories: a few hundred at most
/// for an image of six platforms).
pub const MAX_ARCHIVE_ENTRIES: usize = 10_000;

/// A readable file of an image and its size.
pub(crate) type Opened<'a> = (Box<dyn Read + 'a>, u64);

/// The files of an image, by their names in a layout or archive (`index.json`,
/// `blobs/sha256/<hex>`, a docker archive's own paths).
pub(crate) trait Files: Sync {
    /// The image as the user named it, for messages.
    fn label(&self) -> &str;
    /// The regular file `name` (normalized: no `.`, `..` or empty part) and its size;
    /// `None` when there is none.
    fn open(&self, name: &str) -> Result<Option<Opened<'_>>, InstalledError>;
}

/// An OCI layout on disk.
pub(crate) struct LayoutDir {
    reader: LayoutReader,
    label: String,
}

impl LayoutDir {
    pub(crate) fn new(dir: &Path, label: &str) -> LayoutDir {
        LayoutDir {
            reader: LayoutReader::new(dir),
            label: label.to_owned(),
        }
    }
}

impl Files for LayoutDir {
    fn label(&self) -> &str {
        &self.label
    }

    fn open(&self, name: &str) -> Result<Option<Opened<'_>>, InstalledError> {
        let file = match name.strip_prefix("blobs/sha256/") {
            Some(hex) => self.reader.try_open(&format!("sha256:{hex}"))?,
            None if matches!(name, "index.json" | "oci-layout") => {
                open_regular(&self.reader.dir().join(name))?
            }
            // A layout has no other files compose reads.
            None => None,
        };
        let Some(file) = file else {
            return Ok(None);
        };
        let path = self.reader.dir().join(name);
        let size = file
            .metadata()
            .map_err(|source| InstalledError::Read { path, source })?
            .len();
        Ok(Some((Box::new(file), size)))
    }
}

/// Where a regular entry's bytes are in the tar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    offset: u64,
    size: u64,
}

/// A tar read in place (errors reading it name the image, that is the file).
pub(crate) struct Archive {
    file: std::fs::File,
    label: String,
    regular: BTreeMap<String, Span>,
    /// Names of entries that are not regular files (links, devices, sparse files): named
    /// as such when asked for, never followed.
    other: BTreeSet<String>,
}

impl Archive {
    /// Index the entries of the tar `path`: at most `MAX_ARCHIVE_ENTRIES`, names relative
    /// without `..`, each regular file's bytes inside the file.
    pub(crate) fn index(path: &Path, label: &str) -> Result<Archive, InstalledError> {
        let read_err = |source| InstalledError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = fs_err::File::open(path).map_err(read_err)?.into_parts().0;
        let length = file.metadata().map_err(read_err)?.len();
        let mut index = Index {
            label,
            regular: BTreeMap::new(),
            other: BTreeSet::new(),
        };
        let mut tar = tar::Archive::new(BufReader::new(&file));
        let mut count = 0usize;
        for entry in tar.entries_with_seek().map_err(read_err)? {
            let entry = entry.map_err(read_err)?;
            count += 1;
            if count > MAX_ARCHIVE_ENTRIES {
                return Err(InstalledError::TooManyEntries {
                    image: label.to_owned(),
                    limit: MAX_ARCHIVE_ENTRIES,
                });
            }
            let span = Span {
                offset: entry.raw_file_position(),
                size: entry.size(),
            };
            let kind = entry.header().entry_type();
            index.add(&entry.path_bytes(), kind, span, length)?;
        }
        drop(tar);
        Ok(Archive {
            file,
            label: label.to_owned(),
            regular: index.regular,
            other: index.other,
        })
    }

    fn entry_err(&self, name: &str, problem: &'static str) -> InstalledError {
        entry_err(&self.label, name, problem)
    }
}

fn entry_err(label: &str, name: &str, problem: &'static str) -> InstalledError {
    InstalledError::Entry {
        image: label.to_owned(),
        name: shown(name),
        problem,
    }
}

/// The entries of a tar being indexed.
struct Index<'a> {
    label: &'a str,
    regular: BTreeMap<String, Span>,
    other: BTreeSet<String>,
}

impl Index<'_> {
    /// One entry: a directory is skipped, a regular file kept at its span, any other kind
    /// remembered so that asking for it names it.
    fn add(
        &mut self,
        raw: &[u8],
        kind: tar::EntryType,
        span: Span,
        length: u64,
    ) -> Result<(), InstalledError> {
        let text = String::from_utf8_lossy(raw);
        let name = archive_name(&text).map_err(|problem| entry_err(self.label, &text, problem))?;
        if kind.is_dir() || name.is_empty() {
            return Ok(());
        }
        if self.regular.contains_key(&name) || self.other.contains(&name) {
            return Err(entry_err(self.label, &name, "appears twice"));
        }
        if !(kind.is_file() || kind.is_contiguous()) {
            self.other.insert(name);
            return Ok(());
        }
        if span
            .offset
            .checked_add(span.size)
            .is_none_or(|end| end > length)
        {
            return Err(entry_err(self.label, &name, "is cut short"));
        }
        self.regular.insert(name, span);
        Ok(())
    }
}

/// An entry name as a relative path without `.` parts; `..`, an absolute name or a NUL
/// is refused.
pub(crate) fn archive_name(text: &str) -> Result<String, &'static str> {
    if text.starts_with('/') {
        return Err("is an absolute path");
    }
    if text.contains('\0') {
        return Err("holds a NUL");
    }
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("climbs out with `..`"),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// The bytes of one entry, read at their offset (so several can be read at once).
struct At<'a> {
    file: &'a std::fs::File,
    pos: u64,
    end: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = usize::try_from(self.end.saturating_sub(self.pos)).unwrap_or(usize::MAX);
        let n = buf.len().min(left);
        if n == 0 {
            return Ok(0);
        }
        let got = self.file.read_at(&mut buf[..n], self.pos)?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl Files for Archive {
    fn label(&self) -> &str {
        &self.label
    }

    fn open(&self, name: &str) -> Result<Option<Opened<'_>>, InstalledError> {
        if self.other.contains(name) {
            return Err(self.entry_err(
                name,
                "is a link or special file, which compose does not follow",
            ));
        }
        let Some(span) = self.regular.get(name) else {
            return Ok(None);
        };
        let reader = At {
            file: &self.file,
            pos: span.offset,
            end: span.offset + span.size,
        };
        Ok(Some((Box::new(reader), span.size)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8])]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut b = tar::Builder::new(file.reopen().unwrap());
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // Written raw so that hostile names reach the reader as they are.
            let raw = &mut h.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            if *kind == tar::EntryType::Symlink {
                h.set_link_name("x").unwrap();
            }
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap();
        file
    }

    fn read_all(files: &dyn Files, name: &str) -> Option<Vec<u8>> {
        let (mut r, size) = files.open(name).unwrap()?;
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        assert_eq!(v.len() as u64, size);
        Some(v)
    }

    #[test]
    fn entries_are_read_in_place_by_their_normalized_names() {
        use tar::EntryType::*;
        let t = tar_of(&[
            ("./blobs/", Directory, b""),
            ("./blobs/sha256/ab", Regular, b"hello"),
            ("index.json", Regular, b"{}"),
            ("blobs/sha256/link", Symlink, b""),
        ]);
        let a = Archive::index(t.path(), "oci-archive:t").unwrap();
        assert_eq!(read_all(&a, "blobs/sha256/ab").unwrap(), b"hello");
        assert_eq!(read_all(&a, "index.json").unwrap(), b"{}");
        assert!(read_all(&a, "manifest.json").is_none());
        let e = a.open("blobs/sha256/link").err().unwrap();
        assert!(e.to_string().contains("does not follow"), "{e}");
    }

    #[test]
    fn hostile_names_and_duplicates_are_refused() {
        use tar::EntryType::*;
        for (entries, problem) in [
            (vec![("../x", Regular, &b""[..])], "climbs out"),
            (vec![("blobs/../../x", Regular, &b""[..])], "climbs out"),
            (vec![("/etc/passwd", Regular, &b""[..])], "absolute"),
            (
                vec![
                    ("index.json", Regular, &b"a"[..]),
                    ("./index.json", Regular, b"b"),
                ],
                "twice",
            ),
        ] {
            let t = tar_of(&entries);
            let e = Archive::index(t.path(), "t").err().unwrap();
            assert!(e.to_string().contains(problem), "{e}");
        }
    }

    #[test]
    fn names_are_normalized() {
        assert_eq!(archive_name("./a//b/./c").unwrap(), "a/b/c");
        assert_eq!(archive_name("a/..").unwrap_err(), "climbs out with `..`");
        assert!(archive_name("/a").is_err() && archive_name("a\0b").is_err());
    }
}
