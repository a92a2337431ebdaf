//! The OCI layout readers (`compose verify`, and the other tags kept from an existing output
//! layout): a layout (not trusted) with mutated `index.json`, manifest, and layer (JSON
//! values, digests, media types, tar headers, compressed bytes), compared against a good one.

use std::io::{Read, Write};
use std::path::Path;

use compose::publish::Destination;
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::deb::{TarEdit, tar_edit};
use super::{ByteEdit, byte_edit, check, no_panic};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const GZIP_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A layer tar: a directory, a file with `content`, a symlink and a hard link.
fn layer_tar(content: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(0);
    b.append_data(&mut h.clone(), "etc/", &[][..]).unwrap();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(content.len() as u64);
    b.append_data(&mut h.clone(), "etc/hostname", content)
        .unwrap();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h.clone(), "bin", "usr/bin").unwrap();
    h.set_entry_type(tar::EntryType::Link);
    b.append_link(&mut h, "etc/hostname2", "etc/hostname")
        .unwrap();
    b.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The files of a one-layer layout tagged `latest`: (path, bytes), the blobs by digest.
struct Files {
    index: Value,
    manifest: (String, Value),
    layer: (String, Vec<u8>),
    config: (String, Vec<u8>),
}

fn files(content: &[u8]) -> Files {
    let tar = layer_tar(content);
    let layer = gzip(&tar);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [digest(&tar)]},
    }))
    .unwrap();
    let manifest = json!({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(&config), "size": config.len()},
        "layers": [{"mediaType": GZIP_LAYER, "digest": digest(&layer), "size": layer.len()}],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": MANIFEST, "digest": digest(&manifest_bytes),
                       "size": manifest_bytes.len(),
                       "annotations": {"org.opencontainers.image.ref.name": "latest"}}],
    });
    Files {
        index,
        manifest: (digest(&manifest_bytes), manifest),
        layer: (digest(&layer), layer),
        config: (digest(&config), config),
    }
}

fn write(dir: &Path, f: &Files) {
    let blobs = dir.join("blobs/sha256");
    fs_err::create_dir_all(&blobs).unwrap();
    fs_err::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    fs_err::write(
        dir.join("index.json"),
        serde_json::to_vec(&f.index).unwrap(),
    )
    .unwrap();
    let blob = |d: &str| blobs.join(d.trim_start_matches("sha256:"));
    let manifest = serde_json::to_vec(&f.manifest.1).unwrap();
    fs_err::write(blob(&f.manifest.0), manifest).unwrap();
    fs_err::write(blob(&f.layer.0), &f.layer.1).unwrap();
    fs_err::write(blob(&f.config.0), &f.config.1).unwrap();
}

/// Hostile JSON values for any place of the documents.
fn json_value() -> impl Strategy<Value = Value> {
    let digests = prop::sample::select(vec![
        "sha256:../../x",
        "sha256:",
        "",
        "sha256:/etc/hostname",
        "../oci-layout",
        "sha256:..",
        "sha256:index.json",
        "sha512:00",
        "sha256:\u{0}",
        "sha256:../../../../../../../etc/passwd",
    ]);
    let media = prop::sample::select(vec![
        MANIFEST,
        GZIP_LAYER,
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.index.v1+json",
    ]);
    prop_oneof![
        digests.prop_map(|d| json!(d)),
        media.prop_map(|m| json!(m)),
        Just(Value::Null),
        Just(json!([])),
        Just(json!({})),
        Just(json!([{}])),
        Just(json!([null, 1, "x"])),
        any::<i64>().prop_map(|n| json!(n)),
        Just(json!(u64::MAX)),
        Just(json!(-1.5e300)),
        (1..200usize).prop_map(|d| serde_json::from_str(&format!(
            "{}{}",
            "[".repeat(d),
            "]".repeat(d)
        ))
        .unwrap_or(Value::Null)),
        "\\PC{0,12}".prop_map(|s| json!(s)),
    ]
}

/// Places of the JSON documents mutations aim at.
const INDEX_PATHS: &[&str] = &[
    "/manifests",
    "/manifests/0",
    "/manifests/0/digest",
    "/manifests/0/mediaType",
    "/manifests/0/annotations",
    "/manifests/0/annotations/org.opencontainers.image.ref.name",
    "/schemaVersion",
];
const MANIFEST_PATHS: &[&str] = &[
    "/layers",
    "/layers/0",
    "/layers/0/digest",
    "/layers/0/mediaType",
    "/config",
    "/config/digest",
    "/manifests",
    "/mediaType",
];

#[derive(Debug, Clone)]
enum LayoutEdit {
    Index(&'static str, Value),
    Manifest(&'static str, Value),
    /// Edit the layer's tar (compressed again).
    LayerTar(TarEdit),
    /// Edit the layer's compressed bytes.
    LayerBytes(ByteEdit),
    /// Edit the raw bytes of `index.json` (broken JSON, invalid UTF-8).
    IndexBytes(ByteEdit),
}

fn layout_edit() -> impl Strategy<Value = LayoutEdit> {
    prop_oneof![
        2 => (prop::sample::select(INDEX_PATHS), json_value())
            .prop_map(|(p, v)| LayoutEdit::Index(p, v)),
        2 => (prop::sample::select(MANIFEST_PATHS), json_value())
            .prop_map(|(p, v)| LayoutEdit::Manifest(p, v)),
        3 => tar_edit().prop_map(LayoutEdit::LayerTar),
        1 => byte_edit().prop_map(LayoutEdit::LayerBytes),
        1 => byte_edit().prop_map(LayoutEdit::IndexBytes),
    ]
}

fn set(doc: &mut Value, path: &str, v: &Value) {
    if let Some(slot) = doc.pointer_mut(path) {
        *slot = v.clone();
    }
}

/// Write the mutated layout into `dir` (the blobs keep their original names).
fn mutated(dir: &Path, edits: &[LayoutEdit]) -> Vec<u8> {
    let mut f = files(b"image\n");
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&f.layer.1[..])
        .read_to_end(&mut tar)
        .unwrap();
    let mut tar_changed = false;
    for e in edits {
        match e {
            LayoutEdit::Index(p, v) => set(&mut f.index, p, v),
            LayoutEdit::Manifest(p, v) => set(&mut f.manifest.1, p, v),
            LayoutEdit::LayerTar(t) => {
                t.apply(&mut tar);
                tar_changed = true;
            }
            _ => {}
        }
    }
    if tar_changed {
        f.layer.1 = gzip(&tar);
    }
    let mut index = serde_json::to_vec(&f.index).unwrap();
    for e in edits {
        match e {
            LayoutEdit::LayerBytes(b) => b.apply(&mut f.layer.1),
            LayoutEdit::IndexBytes(b) => b.apply(&mut index),
            _ => {}
        }
    }
    write(dir, &f);
    fs_err::write(dir.join("index.json"), &index).unwrap();
    index
}

#[test]
fn existing_layouts_never_panic() {
    let root = tempfile::tempdir().unwrap();
    // Nested, so that `../` in a digest stays inside the scratch directory.
    let work = root.path().join("a/b/c/d");
    let ours = work.join("ours");
    write(&ours, &files(b"rebuild\n"));
    let dest = Destination::parse("oci:theirs").unwrap();
    let edits = prop::collection::vec(layout_edit(), 1..4);
    check(256, edits, |edits| {
        let theirs = work.join("theirs");
        let _ = fs_err::remove_dir_all(&theirs);
        let index = mutated(&theirs, &edits);
        no_panic("layout", &index, || {
            let _ = compose::verify::compare(&theirs, &dest, &ours, "latest");
            // What `oci:DIR:TAG` keeps of an existing layout's other tags.
            let _ = compose::oci::existing::read_existing(&theirs, "other");
            let _ = compose::oci::existing::read_existing(&theirs, "latest");
        })
    });
}

/// The good pair differs in one file, which `compare` names.
#[test]
fn verify_names_the_differing_file_of_the_seed_layouts() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    write(&a, &files(b"image\n"));
    write(&b, &files(b"rebuild\n"));
    let dest = Destination::parse("oci:a").unwrap();
    let m = compose::verify::compare(&a, &dest, &b, "latest")
        .unwrap()
        .unwrap();
    assert!(
        m.contains("first differing file: `etc/hostname` (content differs)"),
        "{m}"
    );
}
