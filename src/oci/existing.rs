//! What an existing `oci:` output keeps beside the image written into it: the other tags
//! of the layout and every blob they reach, read through `reader::LayoutReader` (the layout
//! is untrusted) with a bound on the blobs and descriptors walked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use oci_spec::image::Descriptor;

use super::OciError;
use super::reader::{LayoutReader, entry, is_document, tag_of};

/// The most blobs an existing layout's other tags may reach.
pub const MAX_BLOBS: usize = 100_000;

/// The most descriptors (counted once per tag that reaches them) read from an existing
/// layout's documents.
pub const MAX_STEPS: usize = 1_000_000;

/// What an existing layout keeps beside the image written into it: the `index.json`
/// descriptors of its other tags and the digests of every blob they reach.
#[derive(Debug, Default)]
pub struct Kept {
    pub descriptors: Vec<Descriptor>,
    pub blobs: BTreeSet<String>,
}

/// The blobs reachable from descriptors, each document read once.
struct Walk<'a> {
    layout: &'a LayoutReader,
    /// Every blob looked at (by digest and whether it was read as a document): the
    /// descriptors its document names, or `None` when missing.
    seen: BTreeMap<String, Option<Vec<Descriptor>>>,
    /// Descriptors looked at so far, over all tags.
    steps: usize,
}

impl Walk<'_> {
    fn too_many(&self, what: String) -> OciError {
        entry(self.layout.dir(), &what)
    }

    /// Every blob `desc` reaches, or `None` when one of them is missing.
    fn reach(&mut self, desc: &Descriptor) -> Result<Option<BTreeSet<String>>, OciError> {
        let mut out = BTreeSet::new();
        let mut stack = vec![desc.clone()];
        while let Some(d) = stack.pop() {
            self.steps += 1;
            if self.steps > MAX_STEPS {
                return Err(self.too_many(format!(
                    "has tags whose descriptors number more than {MAX_STEPS}"
                )));
            }
            let digest = d.digest().to_string();
            // A blob named once as a layer and once as a manifest is looked at as both.
            let key = format!("{digest} {}", is_document(d.media_type()));
            if !out.insert(digest) && self.seen.contains_key(&key) {
                continue;
            }
            if !self.seen.contains_key(&key) {
                if self.seen.len() >= MAX_BLOBS {
                    return Err(
                        self.too_many(format!("has tags that reach more than {MAX_BLOBS} blobs"))
                    );
                }
                let children = self.layout.children(&d)?;
                self.seen.insert(key.clone(), children);
            }
            let Some(children) = &self.seen[&key] else {
                return Ok(None);
            };
            stack.extend(children.iter().cloned());
        }
        Ok(Some(out))
    }
}

/// Read the existing layout at `dir` (a directory, not a symlink) that an image tagged
/// `tag` is about to be written into: what of it to keep. An empty directory keeps
/// nothing; a directory without `oci-layout` is not a layout. The other tags are kept when
/// every blob they reach is there (a tag with missing blobs is dropped, as it was already
/// broken); anything that is not a regular file or directory, a document that is not JSON,
/// not an OCI document or too large, or an invalid digest refuses the whole layout.
pub fn read_existing(dir: &Path, tag: &str) -> Result<Kept, OciError> {
    let empty = std::fs::read_dir(dir)
        .map_err(|source| OciError::Read {
            path: dir.to_path_buf(),
            source,
        })?
        .next()
        .is_none();
    if empty {
        return Ok(Kept::default());
    }
    let layout = LayoutReader::new(dir);
    if !layout.has_marker()? {
        return Err(OciError::NotALayout {
            path: dir.to_path_buf(),
        });
    }
    let index = layout.index()?;
    // Checked even when nothing is kept: a layout whose blobs lead elsewhere is refused.
    layout.blobs_dir()?;
    let mut walk = Walk {
        layout: &layout,
        seen: BTreeMap::new(),
        steps: 0,
    };
    let mut kept = Kept::default();
    for d in index.manifests() {
        if tag_of(d) == Some(tag) {
            continue;
        }
        if let Some(blobs) = walk.reach(d)? {
            kept.blobs.extend(blobs);
            kept.descriptors.push(d.clone());
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::layout::oci_layout;
    use crate::oci::reader::{MAX_DOCUMENT, valid_digest};

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

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
        fs_err::write(dir.join("oci-layout"), oci_layout().unwrap()).unwrap();
        fs_err::write(dir.join("index.json"), index).unwrap();
    }

    /// A descriptor of `digest` as JSON, tagged `tag` when given.
    fn desc(digest: &str, media: &str, tag: Option<&str>) -> String {
        let annotations = tag.map_or(String::new(), |t| {
            format!(r#","annotations":{{"org.opencontainers.image.ref.name":"{t}"}}"#)
        });
        format!(r#"{{"mediaType":"{media}","digest":"{digest}","size":2{annotations}}}"#)
    }

    fn index(descs: &[String]) -> String {
        format!(r#"{{"schemaVersion":2,"manifests":[{}]}}"#, descs.join(","))
    }

    fn message(e: OciError) -> String {
        let mut s = e.to_string();
        if let Some(src) = std::error::Error::source(&e) {
            s.push_str(&format!(": {src}"));
        }
        s
    }

    /// The layout `make` leaves in a fresh directory is refused with one line holding
    /// `needle`.
    fn refused(make: impl Fn(&Path), needle: &str) {
        let dir = tempfile::tempdir().unwrap();
        let l = dir.path().join("l");
        make(&l);
        let m = message(read_existing(&l, "latest").unwrap_err());
        assert!(m.contains(needle), "{m:?} lacks {needle:?}");
        assert!(!m.contains('\n'), "one line: {m:?}");
    }

    #[test]
    fn a_path_as_digest_is_refused() {
        refused(
            |l| layout(l, &index(&[desc("sha256:../../x", MANIFEST, None)])),
            "names the invalid digest \"sha256:../../x\"",
        );
    }

    #[test]
    fn an_index_that_is_not_json_is_refused() {
        refused(|l| layout(l, "not json"), "invalid JSON in");
    }

    #[test]
    fn an_index_that_is_not_an_oci_index_is_refused() {
        refused(
            |l| layout(l, r#"{"schemaVersion":2,"manifests":{}}"#),
            "index.json` is not an OCI image index",
        );
    }

    #[test]
    fn a_deeply_nested_index_is_refused() {
        refused(
            |l| layout(l, &format!("[{}]", "[".repeat(200))),
            "invalid JSON in",
        );
    }

    #[test]
    fn an_oversized_index_is_refused() {
        refused(
            |l| layout(l, &" ".repeat((MAX_DOCUMENT + 1) as usize)),
            "is larger than 4 MiB",
        );
    }

    #[test]
    fn a_symlinked_index_is_refused() {
        refused(
            |l| {
                layout(l, "");
                fs_err::remove_file(l.join("index.json")).unwrap();
                std::os::unix::fs::symlink("/etc/passwd", l.join("index.json")).unwrap();
            },
            "index.json` is a symbolic link",
        );
    }

    #[test]
    fn symlinked_blobs_are_refused() {
        refused(
            |l| {
                layout(l, &index(&[]));
                fs_err::remove_dir_all(l.join("blobs")).unwrap();
                std::os::unix::fs::symlink("/etc", l.join("blobs")).unwrap();
            },
            "blobs` is a symbolic link",
        );
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

    /// A layout with a tag `old` whose manifest names itself (its digest is not checked) and
    /// a config blob, and a tag `gone` whose manifest is missing. Returns the config digest.
    fn two_tags(l: &Path) -> String {
        let cfg = format!("sha256:{}", "c".repeat(64));
        let config = "application/vnd.oci.image.config.v1+json";
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{},"layers":[{}]}}"#,
            desc(&cfg, config, None),
            desc(A, MANIFEST, None)
        );
        let gone = format!("sha256:{}", "b".repeat(64));
        layout(
            l,
            &index(&[
                desc(A, MANIFEST, Some("old")),
                desc(&gone, MANIFEST, Some("gone")),
            ]),
        );
        fs_err::write(l.join("blobs/sha256").join(&A[7..]), manifest).unwrap();
        fs_err::write(l.join("blobs/sha256").join(&cfg[7..]), "{}").unwrap();
        cfg
    }

    #[test]
    fn other_tags_are_kept_with_their_blobs_and_cycles_end() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = two_tags(dir.path());
        let kept = read_existing(dir.path(), "latest").unwrap();
        assert_eq!(
            kept.descriptors.len(),
            1,
            "the tag with a missing blob is dropped"
        );
        assert_eq!(kept.blobs, BTreeSet::from([A.to_owned(), cfg]));
    }

    #[test]
    fn a_blob_that_is_a_symlink_refuses_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = two_tags(dir.path());
        let blob = dir.path().join("blobs/sha256").join(&cfg[7..]);
        fs_err::remove_file(&blob).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", &blob).unwrap();
        let m = message(read_existing(dir.path(), "latest").unwrap_err());
        assert!(m.contains("is a symbolic link"), "{m}");
    }

    #[test]
    fn the_tag_being_written_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        two_tags(dir.path());
        let kept = read_existing(dir.path(), "old").unwrap();
        assert!(kept.descriptors.is_empty());
    }

    /// One mutation of `bytes` (a flipped, dropped or duplicated byte, a digit or quote
    /// inserted, a cut), with `next` as the source of randomness.
    fn mutate(bytes: &mut Vec<u8>, next: &mut impl FnMut() -> u64) {
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
    }

    /// Mutated `index.json` and manifest bytes never panic the reader, and whatever it
    /// keeps has valid digests.
    #[test]
    fn mutated_layouts_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let l = dir.path();
        let cfg = format!("sha256:{}", "c".repeat(64));
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{},"layers":[{}]}}"#,
            desc(&cfg, "application/vnd.oci.image.config.v1+json", None),
            desc(&cfg, "application/vnd.oci.image.layer.v1.tar+gzip", None)
        );
        let index = index(&[desc(A, MANIFEST, Some("old"))]);
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
                mutate(&mut bytes, &mut next);
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
