//! `compose verify`: compare an image with its rebuild from the lock and, when they differ,
//! name the first differing layer and the first differing file in it.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::publish::Destination;

fn read_json(layout: &Path, digest: &str) -> Result<Value> {
    let path = layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    let bytes = fs_err::read(&path)?;
    serde_json::from_slice(&bytes).with_context(|| format!("invalid JSON in `{}`", path.display()))
}

/// The top descriptor of `tag` in a layout.
fn top(layout: &Path, tag: &str) -> Result<Value> {
    let index = fs_err::read(layout.join("index.json"))
        .with_context(|| format!("`{}` is not an OCI image layout", layout.display()))?;
    let index: Value = serde_json::from_slice(&index)?;
    index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .cloned()
        .with_context(|| format!("`{}` has no image tagged `{tag}`", layout.display()))
}

/// The manifests under a descriptor (itself, or those of an index), in order.
fn manifests(layout: &Path, desc: &Value) -> Result<Vec<Value>> {
    let digest = desc["digest"]
        .as_str()
        .context("descriptor without digest")?;
    let doc = read_json(layout, digest)?;
    if doc["manifests"].is_array() {
        let mut out = Vec::new();
        for d in doc["manifests"].as_array().into_iter().flatten() {
            out.push(read_json(layout, d["digest"].as_str().unwrap_or_default())?);
        }
        Ok(out)
    } else {
        Ok(vec![doc])
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

fn entries(layout: &Path, layer: &Value) -> Result<Vec<Entry>> {
    let digest = layer["digest"].as_str().unwrap_or_default();
    let path = layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    let blob = fs_err::read(&path)?;
    let media = layer["mediaType"].as_str().unwrap_or_default();
    let mut raw = Vec::new();
    if media.ends_with("+zstd") {
        zstd::stream::read::Decoder::new(&blob[..])?.read_to_end(&mut raw)?;
    } else if media.ends_with("+gzip") {
        flate2::read::GzDecoder::new(&blob[..]).read_to_end(&mut raw)?;
    } else {
        raw = blob;
    }
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(&raw[..]);
    for e in archive.entries()? {
        let mut e = e?;
        let h = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data)?;
        out.push(Entry {
            path: e.path()?.display().to_string(),
            kind: h.entry_type().as_byte(),
            mode: h.mode()?,
            uid: h.uid()?,
            gid: h.gid()?,
            mtime: h.mtime()?,
            link: e.link_name()?.map(|l| l.display().to_string()),
            content: hex::encode(Sha256::digest(&data)),
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
    for (a, b) in ma.iter().zip(&mb) {
        let (la, lb) = (
            a["layers"].as_array().cloned().unwrap_or_default(),
            b["layers"].as_array().cloned().unwrap_or_default(),
        );
        for (i, (x, y)) in la.iter().zip(&lb).enumerate() {
            if x["digest"] == y["digest"] {
                continue;
            }
            let diff = first_difference(&entries(dir, x)?, &entries(rebuilt, y)?);
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
