//! Reading an image layout compose did not just write (an existing output whose other tags
//! are kept, the image `compose verify` checks) as untrusted input: only regular files and
//! directories inside it, never through a symlink, each JSON document at most
//! `MAX_DOCUMENT` bytes, and every digest `sha256:` and 64 lowercase hex digits before it
//! becomes a path.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::OciError;

/// The largest JSON document (`index.json`, a manifest, an index) read from a layout:
/// registries accept manifests up to 4 MiB.
pub const MAX_DOCUMENT: u64 = 4 << 20;

/// The most blobs an existing layout's other tags may reach.
pub const MAX_BLOBS: usize = 100_000;

/// The most descriptors (counted once per tag that reaches them) read from an existing
/// layout's documents.
pub const MAX_STEPS: usize = 1_000_000;

/// `sha256:` and 64 lowercase hex digits: the only digests that become paths.
pub fn valid_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Untrusted text for a one-line message: escaped, quoted, at most 80 characters.
fn shown(text: &str) -> String {
    let mut s: String = text.chars().take(80).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    format!("{s:?}")
}

fn entry(path: &Path, what: &str) -> OciError {
    OciError::LayoutEntry {
        path: path.to_path_buf(),
        what: what.to_owned(),
    }
}

fn read_err(path: &Path) -> impl FnOnce(std::io::Error) -> OciError {
    let path = path.to_path_buf();
    move |source| OciError::Read { path, source }
}

/// `path` as a regular file, opened without following a symlink (checked before and after
/// opening, by inode); `None` when it does not exist.
pub fn open_regular(path: &Path) -> Result<Option<std::fs::File>, OciError> {
    let before = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(path)(e)),
    };
    if before.file_type().is_symlink() {
        return Err(entry(
            path,
            "is a symbolic link, which compose does not follow inside a layout",
        ));
    }
    if !before.is_file() {
        return Err(entry(path, "is not a regular file"));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(read_err(path))?;
    let after = file.metadata().map_err(read_err(path))?;
    if (after.dev(), after.ino()) != (before.dev(), before.ino()) {
        return Err(entry(path, "changed while compose read it"));
    }
    Ok(Some(file))
}

/// A directory of a layout (`blobs`, `blobs/sha256`), not a symlink; `false` when missing.
fn real_dir(path: &Path) -> Result<bool, OciError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(entry(
            path,
            "is a symbolic link, which compose does not follow inside a layout",
        )),
        Ok(m) if m.is_dir() => Ok(true),
        Ok(_) => Err(entry(path, "is not a directory")),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(read_err(path)(e)),
    }
}

/// A JSON document of at most `MAX_DOCUMENT` bytes; `None` when missing.
fn read_document(path: &Path) -> Result<Option<Value>, OciError> {
    let Some(file) = open_regular(path)? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    file.take(MAX_DOCUMENT + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err(path))?;
    if bytes.len() as u64 > MAX_DOCUMENT {
        return Err(entry(
            path,
            &format!("is larger than {} MiB", MAX_DOCUMENT >> 20),
        ));
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| OciError::LayoutJson {
            path: path.to_path_buf(),
            source,
        })
}

/// The digest of a descriptor found in `named_in`, checked.
fn digest_of<'a>(desc: &'a Value, named_in: &Path) -> Result<&'a str, OciError> {
    match desc.get("digest") {
        Some(Value::String(d)) if valid_digest(d) => Ok(d),
        Some(Value::String(d)) => Err(OciError::LayoutDigest {
            path: named_in.to_path_buf(),
            digest: shown(d),
        }),
        _ => Err(entry(named_in, "has a descriptor without a digest")),
    }
}

/// The descriptors of an `index.json` (read from `path`): its `manifests`, each an object
/// with a valid digest.
pub fn parse_index(path: &Path, index: &Value) -> Result<Vec<Value>, OciError> {
    let Some(manifests) = index.get("manifests").and_then(Value::as_array) else {
        return Err(entry(path, "has no `manifests` list"));
    };
    for d in manifests {
        digest_of(d, path)?;
    }
    Ok(manifests.clone())
}

/// The descriptors of `DIR/index.json`.
pub fn read_index(dir: &Path) -> Result<Vec<Value>, OciError> {
    let path = dir.join("index.json");
    match read_document(&path)? {
        Some(index) => parse_index(&path, &index),
        None => Err(missing(&path)),
    }
}

/// `DIR/blobs/sha256`, after checking that neither `blobs` nor `blobs/sha256` is a symlink
/// or something else than a directory; `None` when missing.
fn blobs_dir(dir: &Path) -> Result<Option<PathBuf>, OciError> {
    let blobs = dir.join("blobs");
    let sha = blobs.join("sha256");
    Ok((real_dir(&blobs)? && real_dir(&sha)?).then_some(sha))
}

/// `DIR/blobs/sha256/<hex>` for the digest of `desc` (named in `named_in`), after checking
/// the digest and the directories; `None` when the directories are missing.
fn blob_path(dir: &Path, desc: &Value, named_in: &Path) -> Result<Option<PathBuf>, OciError> {
    let digest = digest_of(desc, named_in)?;
    Ok(blobs_dir(dir)?.map(|sha| sha.join(&digest["sha256:".len()..])))
}

/// The path of blob `digest` of the layout at `dir` when it is (still) a regular file that
/// no symlink leads to, else `None` (a digest `read_existing` checked).
pub fn regular_blob(dir: &Path, digest: &str) -> Result<Option<PathBuf>, OciError> {
    let desc = serde_json::json!({ "digest": digest });
    let Some(path) = blob_path(dir, &desc, &dir.join("index.json"))? else {
        return Ok(None);
    };
    Ok(open_regular(&path)?.map(|_| path))
}

fn missing(path: &Path) -> OciError {
    entry(path, "is missing")
}

/// The blob `desc` (named in `named_in`) points at, opened for reading.
pub fn open_blob(dir: &Path, desc: &Value, named_in: &Path) -> Result<std::fs::File, OciError> {
    let path = blob_path(dir, desc, named_in)?.ok_or_else(|| missing(&dir.join("blobs/sha256")))?;
    open_regular(&path)?.ok_or_else(|| missing(&path))
}

/// The JSON document (a manifest or an index) `desc` points at, and its path.
pub fn read_blob_json(
    dir: &Path,
    desc: &Value,
    named_in: &Path,
) -> Result<(Value, PathBuf), OciError> {
    let path = blob_path(dir, desc, named_in)?.ok_or_else(|| missing(&dir.join("blobs/sha256")))?;
    let doc = read_document(&path)?.ok_or_else(|| missing(&path))?;
    Ok((doc, path))
}

/// Whether a descriptor's media type is a manifest or an index (OCI or Docker), whose
/// blob names further blobs.
fn is_document(desc: &Value) -> bool {
    let media = desc["mediaType"].as_str().unwrap_or_default();
    [
        "manifest.v1+json",
        "image.index.v1+json",
        "manifest.v2+json",
        "manifest.list.v2+json",
    ]
    .iter()
    .any(|end| media.ends_with(end))
}

/// What an existing layout keeps beside the image written into it: the `index.json`
/// descriptors of its other tags and the digests of every blob they reach.
#[derive(Debug, Default)]
pub struct Kept {
    pub descriptors: Vec<Value>,
    pub blobs: BTreeSet<String>,
}

/// The blobs reachable from descriptors, each document read once.
struct Walk<'a> {
    dir: &'a Path,
    /// Every blob looked at (by digest and whether it was read as a document): the
    /// descriptors its document names, or `None` when missing.
    seen: BTreeMap<String, Option<Vec<Value>>>,
    /// Descriptors looked at so far, over all tags.
    steps: usize,
}

impl Walk<'_> {
    /// Every blob `desc` reaches, or `None` when one of them is missing.
    fn reach(
        &mut self,
        desc: &Value,
        named_in: &Path,
    ) -> Result<Option<BTreeSet<String>>, OciError> {
        let mut out = BTreeSet::new();
        let mut stack = vec![(desc.clone(), named_in.to_path_buf())];
        while let Some((d, from)) = stack.pop() {
            if d.is_null() {
                continue;
            }
            self.steps += 1;
            if self.steps > MAX_STEPS {
                return Err(entry(
                    self.dir,
                    &format!("has tags whose descriptors number more than {MAX_STEPS}"),
                ));
            }
            let digest = digest_of(&d, &from)?.to_owned();
            // A blob named once as a layer and once as a manifest is looked at as both.
            let key = format!("{digest} {}", is_document(&d));
            if !out.insert(digest.clone()) && self.seen.contains_key(&key) {
                continue;
            }
            if !self.seen.contains_key(&key) {
                if self.seen.len() >= MAX_BLOBS {
                    return Err(entry(
                        self.dir,
                        &format!("has tags that reach more than {MAX_BLOBS} blobs"),
                    ));
                }
                let children = self.look(&d, &from)?;
                self.seen.insert(key.clone(), children);
            }
            let Some(children) = &self.seen[&key] else {
                return Ok(None);
            };
            let path = blob_path(self.dir, &d, &from)?.unwrap_or_default();
            stack.extend(children.iter().map(|c| (c.clone(), path.clone())));
        }
        Ok(Some(out))
    }

    /// The descriptors the blob of `desc` names (none for a layer or config), or `None`
    /// when the blob is missing.
    fn look(&self, desc: &Value, named_in: &Path) -> Result<Option<Vec<Value>>, OciError> {
        let Some(path) = blob_path(self.dir, desc, named_in)? else {
            return Ok(None);
        };
        if !is_document(desc) {
            return Ok(open_regular(&path)?.map(|_| Vec::new()));
        }
        let Some(doc) = read_document(&path)? else {
            return Ok(None);
        };
        let mut children = vec![doc["config"].clone()];
        for list in ["layers", "manifests"] {
            children.extend(doc[list].as_array().into_iter().flatten().cloned());
        }
        Ok(Some(children))
    }
}

/// Read the existing layout at `dir` (a directory, not a symlink) that an image tagged
/// `tag` is about to be written into: what of it to keep. An empty directory keeps
/// nothing; a directory without `oci-layout` is not a layout. The other tags are kept when
/// every blob they reach is there (a tag with missing blobs is dropped, as it was already
/// broken); anything that is not a regular file or directory, a document that is not JSON
/// or too large, or an invalid digest refuses the whole layout.
pub fn read_existing(dir: &Path, tag: &str) -> Result<Kept, OciError> {
    let empty = std::fs::read_dir(dir)
        .map_err(read_err(dir))?
        .next()
        .is_none();
    if empty {
        return Ok(Kept::default());
    }
    if open_regular(&dir.join("oci-layout"))?.is_none() {
        return Err(OciError::NotALayout {
            path: dir.to_path_buf(),
        });
    }
    let index_path = dir.join("index.json");
    let descriptors = read_index(dir)?;
    // Checked even when nothing is kept: a layout whose blobs lead elsewhere is refused.
    blobs_dir(dir)?;
    let mut walk = Walk {
        dir,
        seen: BTreeMap::new(),
        steps: 0,
    };
    let mut kept = Kept::default();
    for d in descriptors {
        if d["annotations"][super::REF_NAME].as_str() == Some(tag) {
            continue;
        }
        if let Some(blobs) = walk.reach(&d, &index_path)? {
            kept.blobs.extend(blobs);
            kept.descriptors.push(d);
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn digests_must_be_sha256_hex() {
        assert!(valid_digest(A));
        for bad in [
            "sha256:../../x",
            "sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &A[..70],
            &format!("{A}a"),
            "sha512:aaaa",
            &A.replace("sha256:", "sha256:/"),
            "",
        ] {
            assert!(!valid_digest(bad), "{bad}");
        }
    }

    fn layout(dir: &Path, index: &str) {
        fs_err::create_dir_all(dir.join("blobs/sha256")).unwrap();
        fs_err::write(dir.join("oci-layout"), super::super::layout::OCI_LAYOUT).unwrap();
        fs_err::write(dir.join("index.json"), index).unwrap();
    }

    fn message(e: OciError) -> String {
        let mut s = e.to_string();
        if let Some(src) = std::error::Error::source(&e) {
            s.push_str(&format!(": {src}"));
        }
        s
    }

    #[test]
    fn hostile_layouts_are_refused_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let l = dir.path().join("l");
        type Make<'a> = Box<dyn Fn() + 'a>;
        let cases: Vec<(Make, &str)> = vec![
            (
                Box::new(|| layout(&l, r#"{"manifests":[{"digest":"sha256:../../x"}]}"#)),
                "names the invalid digest \"sha256:../../x\"",
            ),
            (Box::new(|| layout(&l, "{not json")), "invalid JSON in"),
            (
                Box::new(|| layout(&l, r#"{"manifests":{}}"#)),
                "has no `manifests` list",
            ),
            (
                Box::new(|| layout(&l, &format!("[{}]", "[".repeat(200)))),
                "invalid JSON in",
            ),
            (
                Box::new(|| {
                    layout(&l, "");
                    fs_err::write(
                        l.join("index.json"),
                        vec![b' '; (MAX_DOCUMENT + 1) as usize],
                    )
                    .unwrap();
                }),
                "is larger than 4 MiB",
            ),
            (
                Box::new(|| {
                    layout(&l, "");
                    fs_err::remove_file(l.join("index.json")).unwrap();
                    std::os::unix::fs::symlink("/etc/passwd", l.join("index.json")).unwrap();
                }),
                "index.json` is a symbolic link",
            ),
            (
                Box::new(|| {
                    layout(&l, r#"{"manifests":[]}"#);
                    fs_err::remove_dir_all(l.join("blobs")).unwrap();
                    std::os::unix::fs::symlink("/etc", l.join("blobs")).unwrap();
                }),
                "blobs` is a symbolic link",
            ),
        ];
        for (make, needle) in cases {
            let _ = fs_err::remove_dir_all(&l);
            make();
            let m = message(read_existing(&l, "latest").unwrap_err());
            assert!(m.contains(needle), "{m:?} lacks {needle:?}");
            assert!(!m.contains('\n'), "one line: {m:?}");
        }
    }

    #[test]
    fn a_directory_that_is_not_a_layout_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            read_existing(dir.path(), "latest")
                .unwrap()
                .descriptors
                .is_empty()
        );
        fs_err::write(dir.path().join("precious"), b"x").unwrap();
        let e = read_existing(dir.path(), "latest").unwrap_err();
        assert!(matches!(e, OciError::NotALayout { .. }), "{e}");
        assert!(dir.path().join("precious").exists());
    }

    #[test]
    fn other_tags_are_kept_with_their_blobs_and_cycles_end() {
        let dir = tempfile::tempdir().unwrap();
        let l = dir.path();
        // A manifest that names itself (its digest is not checked) and a config blob.
        let cfg = format!("sha256:{}", "c".repeat(64));
        let manifest = format!(
            r#"{{"config":{{"digest":"{cfg}"}},"layers":[{{"digest":"{A}","mediaType":"application/vnd.oci.image.manifest.v1+json"}}]}}"#
        );
        layout(
            l,
            &format!(
                r#"{{"manifests":[{{"digest":"{A}","mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{{"org.opencontainers.image.ref.name":"old"}}}},{{"digest":"sha256:{}","annotations":{{"org.opencontainers.image.ref.name":"gone"}}}}]}}"#,
                "b".repeat(64)
            ),
        );
        fs_err::write(l.join("blobs/sha256").join(&A[7..]), manifest).unwrap();
        fs_err::write(l.join("blobs/sha256").join(&cfg[7..]), "{}").unwrap();
        let kept = read_existing(l, "latest").unwrap();
        assert_eq!(
            kept.descriptors.len(),
            1,
            "the tag with a missing blob is dropped"
        );
        assert_eq!(kept.blobs, BTreeSet::from([A.to_owned(), cfg.clone()]));
        // A blob that is a symlink refuses the layout.
        fs_err::remove_file(l.join("blobs/sha256").join(&cfg[7..])).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", l.join("blobs/sha256").join(&cfg[7..])).unwrap();
        let m = message(read_existing(l, "latest").unwrap_err());
        assert!(m.contains("is a symbolic link"), "{m}");
        // The tag being written is not read at all.
        assert!(read_existing(l, "old").unwrap().descriptors.is_empty());
    }

    /// Mutated `index.json` and manifest bytes (flipped, dropped and duplicated bytes, digits
    /// and quotes inserted) never panic the reader, and whatever it keeps has valid digests.
    #[test]
    fn mutated_layouts_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let l = dir.path();
        let cfg = format!("sha256:{}", "c".repeat(64));
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"digest":"{cfg}","size":2}},"layers":[{{"digest":"{cfg}","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip"}}]}}"#
        );
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"digest":"{A}","mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{{"org.opencontainers.image.ref.name":"old"}}}}]}}"#
        );
        layout(l, &index);
        fs_err::write(l.join("blobs/sha256").join(&cfg[7..]), "{}").unwrap();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..1000 {
            let (target, base) = if round % 2 == 0 {
                (l.join("index.json"), index.as_bytes())
            } else {
                (l.join("blobs/sha256").join(&A[7..]), manifest.as_bytes())
            };
            let mut bytes = base.to_vec();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % bytes.len().max(1);
                match next() % 5 {
                    0 => bytes[at] ^= 1 << (next() % 8),
                    1 => {
                        bytes.remove(at);
                    }
                    2 => bytes.insert(at, b"\"./0123456789abcdef:"[(next() % 20) as usize]),
                    3 => bytes.insert(at, bytes[at]),
                    _ => bytes.truncate(at),
                }
                if bytes.is_empty() {
                    break;
                }
            }
            fs_err::write(l.join("index.json"), &index).unwrap();
            fs_err::write(l.join("blobs/sha256").join(&A[7..]), &manifest).unwrap();
            fs_err::write(&target, &bytes).unwrap();
            if let Ok(kept) = read_existing(l, "new") {
                assert!(kept.blobs.iter().all(|d| valid_digest(d)));
            }
        }
    }
}
