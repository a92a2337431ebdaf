//! Deterministic layer tarballs: sorted entries, numeric owners, no atime/ctime, PAX records
//! only for names that do not fit ustar, compressed with gzip (in parallel, see `gzip`) or
//! zstd at fixed settings.
//!
//! Nothing here knows about Debian: a layer is a `tree::Tree` in, a blob out, each file's
//! contents streamed from the `content::Store` (never held whole).

mod gzip;

use std::io::{self, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::content::Store;
use crate::tree::{Kind, Node, Tree};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// An entry `write_tar` refuses to write: the last line of defence, whatever the tree says.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("refusing to write `{path}` into a layer: {reason}")]
    Unsafe { path: String, reason: &'static str },
}

fn refuse(path: &str, reason: &'static str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        LayerError::Unsafe {
            path: path.escape_debug().to_string(),
            reason,
        },
    )
}

/// Why `path` cannot name an entry of a layer (relative, no empty, `.` or `..`
/// component, no NUL, no whiteout), whatever its length.
fn path_problem(path: &str) -> Option<&'static str> {
    if path.contains('\0') {
        Some("it contains a NUL byte")
    } else if path.starts_with('/') {
        Some("it is absolute")
    } else if path.split('/').any(|c| c == "..") {
        Some("it has a `..` component")
    } else if path.split('/').any(|c| c.is_empty() || c == ".") {
        Some("it has an empty or `.` component")
    } else if path.split('/').any(|c| c.starts_with(".wh.")) {
        Some("`.wh.` names are OCI whiteouts, which delete files of lower layers")
    } else {
        None
    }
}

/// Check one entry against the tree it comes from: a safe path, no parent in this layer
/// that is not a directory, a hard link only to a regular file (written before it), a
/// symlink target without NUL.
fn check_entry(tree: &Tree, path: &str, node: &Node) -> io::Result<()> {
    if let Some(reason) = path_problem(path) {
        return Err(refuse(path, reason));
    }
    let mut p = path;
    while let Some((parent, _)) = p.rsplit_once('/') {
        if tree.get(parent).is_some_and(|n| n.kind != Kind::Dir) {
            return Err(refuse(path, "a parent in the layer is not a directory"));
        }
        p = parent;
    }
    match &node.kind {
        Kind::HardLink(target) => {
            if let Some(reason) = path_problem(target) {
                return Err(refuse(target, reason));
            }
            if target.as_str() >= path
                || !matches!(tree.get(target).map(|n| &n.kind), Some(Kind::File(_)))
            {
                return Err(refuse(
                    path,
                    "a hard link must point at a regular file written before it",
                ));
            }
        }
        Kind::Symlink(target) if target.is_empty() || target.contains('\0') => {
            return Err(refuse(path, "its symlink target is empty or contains NUL"));
        }
        _ => {}
    }
    Ok(())
}

/// A written layer blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// `sha256:` digest of the compressed blob.
    pub digest: String,
    /// `sha256:` digest of the uncompressed tar (the config's `diff_ids`).
    pub diff_id: String,
    pub size: u64,
    pub uncompressed_size: u64,
    pub media_type: &'static str,
}

/// A writer that hashes (SHA256) and counts what passes through it: layer blobs as they
/// are written, and as the layer cache restores them.
pub struct Hashing<W> {
    inner: W,
    hash: Sha256,
    count: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W> Hashing<W> {
    pub fn new(inner: W) -> Self {
        Hashing {
            inner,
            hash: Sha256::new(),
            count: 0,
        }
    }
    /// `sha256:<hex>` of what was written so far.
    pub fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.hash.clone().finalize()))
    }
    /// Bytes written so far.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// Write `tree` as a compressed layer to `dest` (a file in the output's staging area).
pub fn write(
    tree: &Tree,
    files: &Store,
    compression: Compression,
    threads: u32,
    dest: &Path,
) -> io::Result<Layer> {
    let file = fs_err::File::create(dest)?;
    let mut outer = Hashing::new(io::BufWriter::with_capacity(1 << 20, file));
    let (diff_id, uncompressed_size) = match compression {
        Compression::Gzip => {
            let mut inner = Hashing::new(gzip::ParallelGzip::new(&mut outer)?);
            write_tar(tree, files, &mut inner)?;
            let r = (inner.digest(), inner.count);
            inner.inner.finish()?;
            r
        }
        Compression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(&mut outer, 3)?;
            // Always >= 1 worker: the output is identical for any worker count >= 1.
            enc.multithread(threads.max(1))?;
            enc.include_checksum(false)?;
            let mut inner = Hashing::new(enc);
            write_tar(tree, files, &mut inner)?;
            let r = (inner.digest(), inner.count);
            inner.inner.finish()?;
            r
        }
    };
    outer.flush()?;
    Ok(Layer {
        digest: outer.digest(),
        diff_id,
        size: outer.count,
        uncompressed_size,
        media_type: compression.media_type(),
    })
}

/// The uncompressed tar stream of `tree`, its files' contents from `files`.
pub fn write_tar(tree: &Tree, files: &Store, out: &mut impl Write) -> io::Result<()> {
    for (path, node) in tree {
        check_entry(tree, path, node)?;
        let mut header = tar::Header::new_ustar();
        let mut pax: Vec<(&str, String)> = Vec::new();
        let name = if node.kind == Kind::Dir {
            format!("{path}/")
        } else {
            path.clone()
        };
        if header.set_path(&name).is_err() || name.len() > 255 {
            pax.push(("path", name.clone()));
            // A fresh header: the failed `set_path` may have filled the ustar prefix.
            header = tar::Header::new_ustar();
            header.set_path(ustar_fallback(&name))?;
        }
        header.set_mode(node.mode);
        header.set_uid(node.uid);
        header.set_gid(node.gid);
        header.set_mtime(node.mtime);
        let data = match &node.kind {
            Kind::File(data) => {
                header.set_entry_type(tar::EntryType::Regular);
                Some(data)
            }
            Kind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                None
            }
            Kind::Symlink(target) | Kind::HardLink(target) => {
                header.set_entry_type(if matches!(node.kind, Kind::Symlink(_)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                });
                if target.len() > 100 || header.set_link_name_literal(target).is_err() {
                    // Empty rather than a truncated name that could mean another path:
                    // an extractor that ignores PAX fails instead of linking elsewhere.
                    pax.push(("linkpath", target.clone()));
                    header.set_link_name_literal("")?;
                }
                None
            }
        };
        let size = data.map_or(0, |d| d.size);
        header.set_size(size);
        header.set_cksum();
        if !pax.is_empty() {
            write_pax(out, &pax, node.mtime)?;
        }
        out.write_all(header.as_bytes())?;
        if let Some(data) = data {
            let mut reader = files.open(data).map_err(io::Error::other)?;
            if io::copy(&mut reader, out)? != size {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the stored contents of `{path}` are shorter than {size} bytes"),
                ));
            }
        }
        pad(out, size)?;
    }
    out.write_all(&[0u8; 1024])?;
    Ok(())
}

/// The ustar name beside a PAX `path`: the first 99 bytes, cut back so that the last
/// (partial) component is neither empty, `.` nor `..`.
fn ustar_fallback(name: &str) -> &str {
    let mut end = name.len().min(99);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let cut = name[..end].trim_end_matches(['.', '/']);
    if cut.is_empty() { "@LongName" } else { cut }
}

fn pad(out: &mut impl Write, len: u64) -> io::Result<()> {
    let rem = (512 - len % 512) % 512;
    out.write_all(&[0u8; 512][..rem as usize])
}

/// A PAX extended header (`x`) carrying long names; its own fields are fixed.
fn write_pax(out: &mut impl Write, records: &[(&str, String)], mtime: u64) -> io::Result<()> {
    let mut body = Vec::new();
    for (key, value) in records {
        // "<len> <key>=<value>\n" where len counts itself.
        let rest = key.len() + value.len() + 3;
        let mut len = rest + 1;
        while len.to_string().len() + rest != len {
            len += 1;
        }
        body.extend_from_slice(format!("{len} {key}={value}\n").as_bytes());
    }
    let mut h = tar::Header::new_ustar();
    h.set_path("././@PaxHeader")?;
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_size(body.len() as u64);
    h.set_cksum();
    out.write_all(h.as_bytes())?;
    out.write_all(&body)?;
    pad(out, body.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_are_oci_specs() {
        use oci_spec::image::MediaType;
        assert_eq!(
            Compression::Gzip.media_type(),
            MediaType::ImageLayerGzip.to_string()
        );
        assert_eq!(
            Compression::Zstd.media_type(),
            MediaType::ImageLayerZstd.to_string()
        );
    }

    fn sample() -> Tree {
        let mut t = Tree::new();
        let long = format!("usr/share/{}/file", "d".repeat(150));
        t.insert("usr".into(), Node::dir(0o755, 0, 0, 5));
        t.insert("usr/bin".into(), Node::dir(0o755, 0, 0, 5));
        t.insert(
            "usr/bin/a".into(),
            Node::file(&b"hello"[..], 0o4755, 5, None),
        );
        t.insert(
            "usr/bin/b".into(),
            Node {
                kind: Kind::HardLink("usr/bin/a".into()),
                ..Node::file(&b""[..], 0o4755, 5, None)
            },
        );
        t.insert("bin".into(), Node::symlink("usr/bin", 5));
        t.insert(long, Node::file(&b"x"[..], 0o644, 5, None));
        t.insert(
            "usr/lnk".into(),
            Node::symlink(&format!("/{}", "t".repeat(120)), 5),
        );
        t
    }

    #[test]
    fn tar_is_deterministic_and_readable() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        write_tar(&sample(), &crate::content::tests::store(), &mut a).unwrap();
        write_tar(&sample(), &crate::content::tests::store(), &mut b).unwrap();
        assert_eq!(a, b);
        let mut ar = tar::Archive::new(&a[..]);
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!(h.mtime().unwrap(), 5);
            assert_eq!(h.username().unwrap(), Some(""));
            let link = e.link_name().unwrap().map(|l| l.display().to_string());
            seen.push((
                e.path().unwrap().display().to_string(),
                h.entry_type(),
                link,
                h.mode().unwrap(),
            ));
        }
        assert_eq!(seen[0].0, "bin");
        assert_eq!(seen[0].2.as_deref(), Some("usr/bin"));
        assert!(
            seen.iter()
                .any(|s| s.0.len() > 150 && s.0.ends_with("/file")),
            "long path via PAX"
        );
        assert!(
            seen.iter()
                .any(|s| s.2.as_deref().is_some_and(|l| l.len() == 121)),
            "long link via PAX"
        );
        let b = seen.iter().find(|s| s.0 == "usr/bin/b").unwrap();
        assert_eq!(
            (b.1, b.2.as_deref(), b.3),
            (tar::EntryType::Link, Some("usr/bin/a"), 0o4755)
        );
    }

    #[test]
    fn compressed_layers_are_byte_stable_across_thread_counts() {
        let dir = tempfile::tempdir().unwrap();
        for c in [Compression::Gzip, Compression::Zstd] {
            let one = write(
                &sample(),
                &crate::content::tests::store(),
                c,
                1,
                &dir.path().join("1"),
            )
            .unwrap();
            let two = write(
                &sample(),
                &crate::content::tests::store(),
                c,
                2,
                &dir.path().join("2"),
            )
            .unwrap();
            assert_eq!(one, two);
            assert_eq!(
                fs_err::read(dir.path().join("1")).unwrap(),
                fs_err::read(dir.path().join("2")).unwrap()
            );
            let bytes = fs_err::read(dir.path().join("1")).unwrap();
            assert_eq!(
                one.digest,
                format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
            );
            assert_eq!(one.size, bytes.len() as u64);
        }
    }

    fn refused(tree: &Tree) -> String {
        let e = write_tar(tree, &crate::content::tests::store(), &mut Vec::new()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        e.to_string()
    }

    fn with(path: &str, node: Node) -> Tree {
        let mut t = Tree::new();
        t.insert(path.into(), node);
        t
    }

    #[test]
    fn unsafe_paths_are_refused_whatever_their_length() {
        let f = || Node::file(&b"x"[..], 0o644, 0, None);
        let long = format!(
            "var/lib/dpkg/status.d/{}/../../../../etc/passwd",
            "a".repeat(100)
        );
        for (path, why) in [
            ("usr/../etc/passwd", "a `..` component"),
            ("/etc/passwd", "absolute"),
            ("usr//x", "empty or `.` component"),
            ("usr/./x", "empty or `.` component"),
            ("usr/x\0y", "NUL"),
            ("usr/.wh..wh..opq", "OCI whiteouts"),
            (long.as_str(), "a `..` component"),
        ] {
            let e = refused(&with(path, f()));
            assert!(
                e.starts_with("refusing to write `") && e.contains(why),
                "{path}: {e}"
            );
        }
        let e = refused(&with("usr/l", Node::symlink("a\0b", 0)));
        assert!(e.contains("empty or contains NUL"), "{e}");
    }

    #[test]
    fn entries_under_non_directories_and_bad_hard_links_are_refused() {
        let mut t = with("etc", Node::symlink("/tmp", 0));
        t.insert("etc/passwd".into(), Node::file(&b"x"[..], 0o644, 0, None));
        assert!(refused(&t).contains("a parent in the layer is not a directory"));
        let hl = |target: &str| Node {
            kind: Kind::HardLink(target.into()),
            ..Node::file(&b""[..], 0o644, 0, None)
        };
        for target in ["a/shadow", "a", "a/missing", "z/later"] {
            let mut t = with("a", Node::dir(0o755, 0, 0, 0));
            t.insert("a/shadow".into(), Node::symlink("/etc/shadow", 0));
            t.insert("z/later".into(), Node::file(&b"x"[..], 0o644, 0, None));
            t.insert("b".into(), hl(target));
            assert!(
                refused(&t).contains("a hard link must point at a regular file"),
                "{target}"
            );
        }
        let e = refused(&with("b", hl("../etc/shadow")));
        assert!(
            e.contains("`../etc/shadow`") && e.contains("`..` component"),
            "{e}"
        );
    }

    #[test]
    fn long_names_have_safe_ustar_fields() {
        let long_target = format!("/{}", "t".repeat(120));
        // Cut at 99 bytes, the ustar name would end in `/..`.
        let long_name = format!("usr/{}/..x/{}", "d".repeat(92), "e".repeat(200));
        let mut t = with("usr", Node::dir(0o755, 0, 0, 0));
        t.insert("usr/lnk".into(), Node::symlink(&long_target, 0));
        t.insert(long_name.clone(), Node::file(&b"x"[..], 0o644, 0, None));
        let mut out = Vec::new();
        write_tar(&t, &crate::content::tests::store(), &mut out).unwrap();
        let mut ar = tar::Archive::new(&out[..]);
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let ustar = String::from_utf8_lossy(&e.header().path_bytes()).into_owned();
            assert!(
                path_problem(ustar.trim_end_matches('/')).is_none(),
                "{ustar}"
            );
            if path == long_name {
                assert_eq!(ustar, format!("usr/{}", "d".repeat(92)));
            }
            if path == "usr/lnk" {
                assert_eq!(
                    e.link_name().unwrap().unwrap().display().to_string(),
                    long_target
                );
                assert!(e.header().link_name_bytes().is_none_or(|l| l.is_empty()));
            }
        }
        assert_eq!(ustar_fallback("usr/.."), "usr");
        assert_eq!(ustar_fallback("..."), "@LongName");
    }
}
