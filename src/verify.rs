//! `compose verify`: compare an image with its rebuild from the lock and, when they differ,
//! name the first differing layer and the first differing file in it. `published`: the
//! checks of an image in a registry (signature, attestations, provenance inputs).

pub mod published;

use std::io::Read;
use std::path::Path;

use std::path::PathBuf;

use oci_spec::image::{Descriptor, ImageManifest, MediaType};
use sha2::{Digest, Sha256};

use crate::oci::OciError;
use crate::oci::reader::LayoutReader;
use crate::publish::Destination;

/// Why two images cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("`{}` has no image tagged `{tag}`", layout.display())]
    NoTag { layout: PathBuf, tag: String },
    #[error("cannot read the layer {digest} of `{}`", layout.display())]
    Layer {
        layout: PathBuf,
        digest: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Layout(#[from] OciError),
}

type Result<T> = std::result::Result<T, VerifyError>;

/// The top descriptor of `tag` in a layout (read as untrusted: `oci::reader`).
fn top(layout: &LayoutReader, tag: &str) -> Result<Descriptor> {
    layout.tagged(tag)?.ok_or_else(|| VerifyError::NoTag {
        layout: layout.dir().to_path_buf(),
        tag: tag.to_owned(),
    })
}

/// One tar entry, reduced to what makes it differ.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    path: String,
    kind: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: Option<String>,
    content: String,
}

/// A path from a tar for a message: control characters (a newline, an escape sequence)
/// escaped, so an image cannot forge lines of the report.
fn printable(path: &str) -> String {
    path.chars()
        .map(|c| {
            if c.is_control() || c == '\\' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The entries of a layer, streamed (decompressed and hashed as they are read).
fn entries(layout: &LayoutReader, layer: &Descriptor) -> Result<Vec<Entry>> {
    let blob = std::io::BufReader::new(layout.open(layer.digest().as_ref())?);
    read_entries(layer.media_type(), blob).map_err(|source| VerifyError::Layer {
        layout: layout.dir().to_path_buf(),
        digest: layer.digest().to_string(),
        source,
    })
}

/// The entries of the layer `blob`, compressed as `media` says.
fn read_entries(media: &MediaType, blob: impl std::io::BufRead) -> std::io::Result<Vec<Entry>> {
    let raw: Box<dyn Read> = match media {
        MediaType::ImageLayerZstd | MediaType::ImageLayerNonDistributableZstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(blob)?)
        }
        MediaType::ImageLayerGzip | MediaType::ImageLayerNonDistributableGzip => {
            Box::new(flate2::read::GzDecoder::new(blob))
        }
        _ => Box::new(blob),
    };
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(raw);
    for e in archive.entries()? {
        let mut e = e?;
        let h = e.header().clone();
        let mut hash = Sha256::new();
        std::io::copy(&mut e, &mut hash)?;
        out.push(Entry {
            path: printable(&e.path()?.display().to_string()),
            kind: h.entry_type().as_byte(),
            mode: h.mode()?,
            uid: h.uid()?,
            gid: h.gid()?,
            mtime: h.mtime()?,
            link: e.link_name()?.map(|l| l.display().to_string()),
            content: hex::encode(hash.finalize()),
        });
    }
    Ok(out)
}

fn first_difference(a: &[Entry], b: &[Entry]) -> String {
    for (x, y) in a.iter().zip(b) {
        if x == y {
            continue;
        }
        if x.path != y.path {
            return format!(
                "`{}` in the image, `{}` in the rebuild (the file lists differ)",
                x.path, y.path
            );
        }
        let what = if x.content != y.content {
            "content"
        } else if x.mtime != y.mtime {
            "mtime"
        } else if x.mode != y.mode {
            "mode"
        } else if (x.uid, x.gid) != (y.uid, y.gid) {
            "owner"
        } else {
            "type or link"
        };
        return format!("`{}` ({what} differs)", x.path);
    }
    match a.len().cmp(&b.len()) {
        std::cmp::Ordering::Greater => format!("`{}` is only in the image", a[b.len()].path),
        std::cmp::Ordering::Less => format!("`{}` is only in the rebuild", b[a.len()].path),
        std::cmp::Ordering::Equal => {
            "the files are identical; the tar headers or compression differ".to_owned()
        }
    }
}

/// What differs between two manifests of one platform, if anything: the first differing
/// layer and file, the layer count or the config.
fn manifest_difference(
    (theirs, a): (&LayoutReader, &ImageManifest),
    (ours, b): (&LayoutReader, &ImageManifest),
) -> Result<Option<String>> {
    let (la, lb) = (a.layers(), b.layers());
    for (i, (x, y)) in la.iter().zip(lb).enumerate() {
        if x.digest() == y.digest() {
            continue;
        }
        let diff = first_difference(&entries(theirs, x)?, &entries(ours, y)?);
        return Ok(Some(format!(
            "\n  first differing layer: #{} ({} against {})\n  first differing file: {diff}",
            i + 1,
            x.digest(),
            y.digest()
        )));
    }
    if la.len() != lb.len() {
        return Ok(Some(format!(
            "\n  {} layer(s) against {}",
            la.len(),
            lb.len()
        )));
    }
    if a.config().digest() != b.config().digest() {
        return Ok(Some(
            "\n  the layers are identical; the image config differs (created, env, entrypoint...)"
                .to_owned(),
        ));
    }
    Ok(None)
}

/// `None` when the image at `dest` has the rebuild's digest, else what differs.
pub fn compare(
    dir: &Path,
    dest: &Destination,
    rebuilt: &Path,
    tag: &str,
) -> Result<Option<String>> {
    let (theirs, ours) = (LayoutReader::new(dir), LayoutReader::new(rebuilt));
    let (their_top, our_top) = (top(&theirs, tag)?, top(&ours, tag)?);
    if their_top.digest() == our_top.digest() {
        return Ok(None);
    }
    let mut message = format!(
        "`{dest}` has {}, the rebuild from the lock has {}",
        their_top.digest(),
        our_top.digest()
    );
    let (ma, mb) = (
        theirs.manifests_under(&their_top)?,
        ours.manifests_under(&our_top)?,
    );
    if ma.len() != mb.len() {
        message.push_str(&format!("; {} platform(s) against {}", ma.len(), mb.len()));
        return Ok(Some(message));
    }
    for ((_, a), (_, b)) in ma.iter().zip(&mb) {
        if let Some(diff) = manifest_difference((&theirs, a), (&ours, b))? {
            message.push_str(&diff);
            return Ok(Some(message));
        }
    }
    Ok(Some(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layout to verify that is hostile gives a one-line error, reading nothing outside.
    #[test]
    fn paths_in_messages_are_printable() {
        assert_eq!(printable("usr/bin/x"), "usr/bin/x");
        assert_eq!(printable("a\nerror: b\u{1b}[2J"), "a\\nerror: b\\u{1b}[2J");
        assert_eq!(printable("a\\n"), "a\\\\n");
    }

    const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

    /// A layout at `l` whose `index.json` tags `digest` (a manifest) `latest`.
    fn layout(l: &Path, digest: &str) {
        fs_err::create_dir_all(l.join("blobs/sha256")).unwrap();
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{MANIFEST}","digest":"{digest}","size":1,"annotations":{{"org.opencontainers.image.ref.name":"latest"}}}}]}}"#
        );
        fs_err::write(l.join("index.json"), index).unwrap();
    }

    /// A manifest with one layer of `layer_digest`, stored in the layout at `l`; its digest.
    fn manifest(l: &Path, layer_digest: &str) -> String {
        let m = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{}","size":2}},"layers":[{{"digest":"{layer_digest}","mediaType":"{LAYER}","size":1}}]}}"#,
            "c".repeat(64)
        );
        let digest = crate::oci::sha256_digest(m.as_bytes());
        fs_err::write(l.join("blobs/sha256").join(&digest[7..]), m).unwrap();
        digest
    }

    /// `compare` of `l` against `other` fails in one line; the line.
    fn refusal(l: &Path, other: &Path) -> String {
        let dest = Destination::parse(&format!("oci:{}", l.display())).unwrap();
        let text = format!("{:#}", compare(l, &dest, other, "latest").unwrap_err());
        assert!(!text.contains('\n'), "one line: {text}");
        text
    }

    #[test]
    fn a_layout_without_an_index_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        let e = refusal(dir.path(), dir.path());
        assert!(e.contains("index.json` is missing"), "{e}");
    }

    #[test]
    fn a_symlinked_index_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("index.json")).unwrap();
        let e = refusal(dir.path(), dir.path());
        assert!(e.contains("is a symbolic link"), "{e}");
    }

    #[test]
    fn an_index_naming_a_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        layout(dir.path(), "sha256:../../../etc/passwd");
        let e = refusal(dir.path(), dir.path());
        assert!(e.contains("names the invalid digest"), "{e}");
    }

    #[test]
    fn a_manifest_naming_a_layer_by_a_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (l, other) = (dir.path().join("l"), dir.path().join("other"));
        fs_err::create_dir_all(l.join("blobs/sha256")).unwrap();
        layout(&l, &manifest(&l, "sha256:../x"));
        fs_err::create_dir_all(other.join("blobs/sha256")).unwrap();
        layout(
            &other,
            &manifest(&other, &format!("sha256:{}", "a".repeat(64))),
        );
        let e = refusal(&l, &other);
        assert!(
            e.contains("names the invalid digest \"sha256:../x\""),
            "{e}"
        );
    }
}
