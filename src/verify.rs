//! `compose verify`: compare an image with its rebuild from the lock and, when they differ,
//! name the first differing layer and the first differing file in it.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::oci::{self, existing};
use crate::publish::Destination;

/// The top descriptor of `tag` in a layout (read as untrusted: `oci::existing`).
fn top(layout: &Path, tag: &str) -> Result<Value> {
    let index = existing::read_index(layout)?;
    index
        .into_iter()
        .rev()
        .find(|d| d["annotations"][oci::REF_NAME] == tag)
        .with_context(|| format!("`{}` has no image tagged `{tag}`", layout.display()))
}

/// The manifests under a descriptor (itself, or those of an index), in order, with their
/// paths.
fn manifests(layout: &Path, desc: &Value) -> Result<Vec<(Value, PathBuf)>> {
    let (doc, path) = existing::read_blob_json(layout, desc, &layout.join("index.json"))?;
    if let Some(list) = doc["manifests"].as_array() {
        let mut out = Vec::new();
        for d in list {
            out.push(existing::read_blob_json(layout, d, &path)?);
        }
        Ok(out)
    } else {
        Ok(vec![(doc, path)])
    }
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

/// The entries of a layer, streamed (decompressed and hashed as they are read). `named_in`
/// is the manifest that names the layer.
fn entries(layout: &Path, layer: &Value, named_in: &Path) -> Result<Vec<Entry>> {
    let blob = std::io::BufReader::new(existing::open_blob(layout, layer, named_in)?);
    let media = layer["mediaType"].as_str().unwrap_or_default();
    let raw: Box<dyn Read> = if media.ends_with("+zstd") {
        Box::new(zstd::stream::read::Decoder::with_buffer(blob)?)
    } else if media.ends_with("+gzip") {
        Box::new(flate2::read::GzDecoder::new(blob))
    } else {
        Box::new(blob)
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

/// `None` when the image at `dest` has the rebuild's digest, else what differs.
pub fn compare(
    dir: &Path,
    dest: &Destination,
    rebuilt: &Path,
    tag: &str,
) -> Result<Option<String>> {
    let (theirs, ours) = (top(dir, tag)?, top(rebuilt, tag)?);
    if theirs["digest"] == ours["digest"] {
        return Ok(None);
    }
    let mut message = format!(
        "`{dest}` has {}, the rebuild from the lock has {}",
        theirs["digest"].as_str().unwrap_or("?"),
        ours["digest"].as_str().unwrap_or("?")
    );
    let (ma, mb) = (manifests(dir, &theirs)?, manifests(rebuilt, &ours)?);
    if ma.len() != mb.len() {
        message.push_str(&format!("; {} platform(s) against {}", ma.len(), mb.len()));
        return Ok(Some(message));
    }
    for ((a, pa), (b, pb)) in ma.iter().zip(&mb) {
        let (la, lb) = (
            a["layers"].as_array().cloned().unwrap_or_default(),
            b["layers"].as_array().cloned().unwrap_or_default(),
        );
        for (i, (x, y)) in la.iter().zip(&lb).enumerate() {
            if x["digest"] == y["digest"] {
                continue;
            }
            let diff = first_difference(&entries(dir, x, pa)?, &entries(rebuilt, y, pb)?);
            message.push_str(&format!(
                "\n  first differing layer: #{} ({} against {})\n  first differing file: {diff}",
                i + 1,
                x["digest"].as_str().unwrap_or("?"),
                y["digest"].as_str().unwrap_or("?")
            ));
            return Ok(Some(message));
        }
        if la.len() != lb.len() {
            message.push_str(&format!("\n  {} layer(s) against {}", la.len(), lb.len()));
            return Ok(Some(message));
        }
        if a["config"]["digest"] != b["config"]["digest"] {
            message.push_str("\n  the layers are identical; the image config differs (created, env, entrypoint...)");
            return Ok(Some(message));
        }
    }
    if message.is_empty() {
        bail!("the images differ in a way compose cannot explain");
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

    #[test]
    fn a_hostile_layout_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let l = dir.path().join("l");
        fs_err::create_dir_all(l.join("blobs/sha256")).unwrap();
        let dest = Destination::parse(&format!("oci:{}", l.display())).unwrap();
        let err = |l: &Path| {
            let e = compare(l, &dest, l, "latest").unwrap_err();
            let text = format!("{e:#}");
            assert!(!text.contains('\n'), "one line: {text}");
            text
        };
        assert!(err(&l).contains("index.json` is missing"));
        std::os::unix::fs::symlink("/etc/passwd", l.join("index.json")).unwrap();
        assert!(err(&l).contains("is a symbolic link"));
        fs_err::remove_file(l.join("index.json")).unwrap();
        let evil = r#"{"manifests":[{"digest":"sha256:../../../etc/passwd","annotations":{"org.opencontainers.image.ref.name":"latest"}}]}"#;
        fs_err::write(l.join("index.json"), evil).unwrap();
        assert!(err(&l).contains("names the invalid digest"));
        // A manifest naming a layer by a path.
        let manifest = r#"{"layers":[{"digest":"sha256:../x","mediaType":"application/vnd.oci.image.layer.v1.tar"}]}"#;
        let digest = crate::oci::sha256_digest(manifest.as_bytes());
        fs_err::write(l.join("blobs/sha256").join(&digest[7..]), manifest).unwrap();
        let index = format!(
            r#"{{"manifests":[{{"digest":"{digest}","annotations":{{"org.opencontainers.image.ref.name":"latest"}}}}]}}"#
        );
        fs_err::write(l.join("index.json"), index).unwrap();
        let other = dir.path().join("other");
        fs_err::create_dir_all(other.join("blobs/sha256")).unwrap();
        let layer = format!(
            r#"{{"layers":[{{"digest":"sha256:{}","mediaType":"application/vnd.oci.image.layer.v1.tar"}}]}}"#,
            "a".repeat(64)
        );
        let ldigest = crate::oci::sha256_digest(layer.as_bytes());
        fs_err::write(other.join("blobs/sha256").join(&ldigest[7..]), &layer).unwrap();
        fs_err::write(
            other.join("index.json"),
            format!(
                r#"{{"manifests":[{{"digest":"{ldigest}","annotations":{{"org.opencontainers.image.ref.name":"latest"}}}}]}}"#
            ),
        )
        .unwrap();
        let e = compare(&l, &dest, &other, "latest").unwrap_err();
        assert!(
            format!("{e:#}").contains("names the invalid digest \"sha256:../x\""),
            "{e:#}"
        );
    }
}
