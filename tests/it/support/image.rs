//! Images made by hand, for what compose never writes: layers from listed entries
//! (whiteouts, links, huge or hostile ones), OCI layouts with any index, manifests and
//! configs, and the same image as an `oci-archive`, a `docker-archive` (`docker save`'s
//! layout before Docker 25) or a static registry tree served by `support::server`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// One entry of a hand-made layer.
#[derive(Debug, Clone)]
pub enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
}

/// A tar of `entries`, names written as given (`..` included).
pub fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let (name, kind, data, link) = match e {
            Entry::File(n, d) => (*n, tar::EntryType::Regular, *d, None),
            Entry::Dir(n) => (*n, tar::EntryType::Directory, &b""[..], None),
            Entry::Symlink(n, t) => (*n, tar::EntryType::Symlink, &b""[..], Some(*t)),
        };
        out.extend_from_slice(&header(name, kind, data.len() as u64, link));
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

/// A ustar header for `name` (at most 100 bytes, written raw), `size` bytes of data.
pub fn header(name: &str, kind: tar::EntryType, size: u64, link: Option<&str>) -> [u8; 512] {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(link) = link {
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    h.set_cksum();
    *h.as_bytes()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}

/// A descriptor of `bytes` as `media`.
pub fn descriptor(media: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media, "digest": sha256(bytes), "size": bytes.len()})
}

/// An OCI layout being written.
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        fs_err::create_dir_all(dir.join("blobs/sha256")).unwrap();
        fs_err::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout {
            dir: dir.to_path_buf(),
        }
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(&digest["sha256:".len()..])
    }

    /// `bytes` as a blob; its descriptor as `media`.
    pub fn blob(&self, media: &str, bytes: &[u8]) -> Value {
        let d = descriptor(media, bytes);
        fs_err::write(self.blob_path(d["digest"].as_str().unwrap()), bytes).unwrap();
        d
    }

    /// A config for `platform` (`linux/arm64/v8`) whose `diff_ids` are the tars'.
    pub fn config(&self, platform: &str, tars: &[&[u8]]) -> Value {
        let mut parts = platform.split('/');
        let mut config = json!({
            "os": parts.next().unwrap(),
            "architecture": parts.next().unwrap(),
            "rootfs": {"type": "layers", "diff_ids": tars.iter().map(|t| sha256(t)).collect::<Vec<_>>()},
            "config": {},
        });
        if let Some(v) = parts.next() {
            config["variant"] = json!(v);
        }
        self.blob(OCI_CONFIG, &serde_json::to_vec(&config).unwrap())
    }

    /// A manifest of `config` and `layers` (descriptors); its descriptor.
    pub fn manifest(&self, config: &Value, layers: &[Value]) -> Value {
        let m = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config,
            "layers": layers,
        });
        self.blob(OCI_MANIFEST, &serde_json::to_vec(&m).unwrap())
    }

    /// An image for `platform` of `layers`, each given as its tar and stored gzipped; the
    /// manifest's descriptor.
    pub fn image(&self, platform: &str, tars: &[Vec<u8>]) -> Value {
        let stored: Vec<Value> = tars
            .iter()
            .map(|t| self.blob(OCI_LAYER, &gzip(t)))
            .collect();
        let refs: Vec<&[u8]> = tars.iter().map(Vec::as_slice).collect();
        let config = self.config(platform, &refs);
        self.manifest(&config, &stored)
    }

    /// An index of `manifests` (descriptors); its descriptor.
    pub fn index(&self, manifests: &[Value]) -> Value {
        let i = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        self.blob(OCI_INDEX, &serde_json::to_vec(&i).unwrap())
    }

    /// `index.json` naming `tagged` (a descriptor and its tag, if any).
    pub fn tag(&self, tagged: &[(Value, Option<&str>)]) {
        let manifests: Vec<Value> = tagged
            .iter()
            .map(|(d, tag)| {
                let mut d = d.clone();
                if let Some(tag) = tag {
                    d["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
                }
                d
            })
            .collect();
        let index = json!({"schemaVersion": 2, "manifests": manifests});
        fs_err::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }
}

/// Every file under `dir` by its relative path (directories not listed), sorted.
pub fn files_under(dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs_err::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if fs_err::symlink_metadata(&p).unwrap().is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, p);
            }
        }
    }
    out
}

/// A tar of the regular files of `dir` (an `oci-archive` of a layout), plus `extra` raw
/// entries (name, kind, data, link) after them.
pub fn archive_of(dir: &Path, extra: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut add = |name: &str, kind, data: &[u8], link| {
        out.extend_from_slice(&header(name, kind, data.len() as u64, link));
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    };
    for (rel, path) in files_under(dir) {
        add(
            &rel,
            tar::EntryType::Regular,
            &fs_err::read(path).unwrap(),
            None,
        );
    }
    for (name, kind, data, link) in extra {
        add(name, *kind, data, *link);
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

/// `docker save` before Docker 25: `manifest.json`, the config as `<hex>.json`, each layer
/// uncompressed as `<n>/layer.tar`; `RepoTags` as given.
pub fn docker_save(platform: &str, tars: &[Vec<u8>], repo_tags: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let refs: Vec<&[u8]> = tars.iter().map(Vec::as_slice).collect();
    let layout = Layout::new(dir.path());
    let config_desc = layout.config(platform, &refs);
    let digest = config_desc["digest"].as_str().unwrap();
    let config = fs_err::read(layout.blob_path(digest)).unwrap();
    let mut entries: Vec<(String, Vec<u8>)> =
        vec![(format!("{}.json", &digest[7..]), config.clone())];
    let mut layers = Vec::new();
    for (i, t) in tars.iter().enumerate() {
        layers.push(format!("{i}/layer.tar"));
        entries.push((format!("{i}/layer.tar"), t.clone()));
    }
    let manifest = json!([{"Config": format!("{}.json", &digest[7..]), "RepoTags": repo_tags, "Layers": layers}]);
    entries.push((
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    ));
    let list: Vec<Entry> = entries
        .iter()
        .map(|(n, d)| Entry::File(n.as_str(), d.as_slice()))
        .collect();
    tar_of(&list)
}

/// A static registry tree under `root` for `REPO:TAG` from the layout `dir` (its descriptor
/// tagged `tag`): `v2/REPO/manifests/{TAG,DIGEST}` and `v2/REPO/blobs/DIGEST`, as
/// `support::server::Server` serves them to a pull.
pub fn registry_tree(dir: &Path, root: &Path, repo: &str, tag: &str, top: &Value) {
    let base = root.join("v2").join(repo);
    fs_err::create_dir_all(base.join("manifests")).unwrap();
    fs_err::create_dir_all(base.join("blobs")).unwrap();
    for (rel, path) in files_under(&dir.join("blobs/sha256")) {
        let bytes = fs_err::read(path).unwrap();
        let digest = format!("sha256:{rel}");
        let is_document = serde_json::from_slice::<Value>(&bytes)
            .is_ok_and(|v| v.get("manifests").is_some() || v.get("layers").is_some());
        if is_document {
            fs_err::write(base.join("manifests").join(&digest), &bytes).unwrap();
        }
        fs_err::write(base.join("blobs").join(&digest), &bytes).unwrap();
    }
    let top = fs_err::read(
        dir.join("blobs/sha256")
            .join(&top["digest"].as_str().unwrap()[7..]),
    )
    .unwrap();
    fs_err::write(base.join("manifests").join(tag), top).unwrap();
}
