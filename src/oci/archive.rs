//! Single-file outputs: `oci-archive` (an image layout in a tar) and `docker-archive` (what
//! `docker save` writes and `docker load` reads). Both are deterministic tars written next
//! to their destination and renamed into place.

use std::collections::BTreeSet;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::layout::{index_document, oci_layout};
use super::{Image, OciError, Staged, Tagged, canonical_json, parent_dir};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OciError {
    let path = path.to_path_buf();
    move |source| OciError::Io { path, source }
}

/// A tar whose entries have fixed owners, modes and mtime: the same entries always give the
/// same bytes.
struct Tar {
    builder: tar::Builder<BufWriter<tempfile::NamedTempFile>>,
    mtime: u64,
    dest: PathBuf,
}

impl Tar {
    fn create(dest: &Path, mtime: u64) -> Result<Tar, OciError> {
        let dir = parent_dir(dest);
        fs_err::create_dir_all(&dir).map_err(io(&dir))?;
        let tmp = tempfile::Builder::new()
            .prefix(".compose-archive-")
            .tempfile_in(&dir)
            .map_err(io(&dir))?;
        crate::interrupt::register(tmp.path());
        let mut builder = tar::Builder::new(BufWriter::new(tmp));
        builder.mode(tar::HeaderMode::Deterministic);
        Ok(Tar {
            builder,
            mtime,
            dest: dest.to_path_buf(),
        })
    }

    fn header(&self, kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(self.mtime);
        h
    }

    fn dir(&mut self, path: &str) -> Result<(), OciError> {
        let mut h = self.header(tar::EntryType::Directory, 0, 0o755);
        let dest = self.dest.clone();
        self.builder
            .append_data(&mut h, path, std::io::empty())
            .map_err(io(&dest))
    }

    fn bytes(&mut self, path: &str, data: &[u8]) -> Result<(), OciError> {
        let mut h = self.header(tar::EntryType::Regular, data.len() as u64, 0o644);
        let dest = self.dest.clone();
        self.builder
            .append_data(&mut h, path, data)
            .map_err(io(&dest))
    }

    fn file(&mut self, path: &str, src: &Path) -> Result<(), OciError> {
        let f = fs_err::File::open(src).map_err(io(src))?;
        let size = f.metadata().map_err(io(src))?.len();
        let mut h = self.header(tar::EntryType::Regular, size, 0o644);
        let dest = self.dest.clone();
        self.builder.append_data(&mut h, path, f).map_err(io(&dest))
    }

    /// `blobs/sha256/<hex>` of every blob of `image`, from the store.
    fn blobs(&mut self, store: &super::Store, image: &Image) -> Result<(), OciError> {
        self.dir("blobs/")?;
        self.dir("blobs/sha256/")?;
        for digest in image.all_digests() {
            self.file(&blob_name(&digest), &store.blob_path(&digest))?;
        }
        Ok(())
    }

    fn finish(self) -> Result<Staged, OciError> {
        let dest = self.dest;
        let mut out = self.builder.into_inner().map_err(io(&dest))?;
        out.flush().map_err(io(&dest))?;
        let tmp = out.into_inner().map_err(|e| OciError::Io {
            path: dest.clone(),
            source: e.into_error(),
        })?;
        let path = tmp.into_temp_path().keep().map_err(|e| OciError::Io {
            path: dest.clone(),
            source: e.error,
        })?;
        Ok(Staged::new(path, &dest, false))
    }
}

/// One image of a docker archive's `manifest.json` (what `docker load` reads; not an OCI
/// document, so oci-spec has no type for it).
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

fn blob_name(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

/// `oci-archive:FILE[:TAG]`: the image layout of `image`, tagged `tag`, and the `extra`
/// manifests under their tags, as one tar.
pub fn oci_archive(
    store: &super::Store,
    image: &Image,
    dest: &Path,
    tag: &str,
    extra: &[Tagged],
) -> Result<Staged, OciError> {
    let mut tar = Tar::create(dest, image.created)?;
    tar.bytes("oci-layout", &oci_layout()?)?;
    let mut manifests = vec![image.top_descriptor(Some(tag))?];
    for t in extra {
        manifests.push(t.descriptor()?);
    }
    tar.bytes("index.json", &index_document(manifests)?)?;
    tar.blobs(store, image)?;
    let mut written: BTreeSet<String> = image.all_digests().into_iter().collect();
    for t in extra {
        for (digest, bytes) in t.documents() {
            if written.insert(digest.clone()) {
                tar.bytes(&blob_name(&digest), bytes)?;
            }
        }
    }
    tar.finish()
}

/// `docker-archive:FILE[:REPO:TAG]`: `manifest.json` for `docker load` (and skopeo), plus the
/// same blobs as an OCI layout, as `docker save` writes since Docker 25. One platform only.
pub fn docker_archive(
    store: &super::Store,
    image: &Image,
    dest: &Path,
    reference: Option<&str>,
) -> Result<Staged, OciError> {
    let [m] = image.manifests.as_slice() else {
        return Err(OciError::DockerArchivePlatforms {
            count: image.manifests.len(),
        });
    };
    let mut tar = Tar::create(dest, image.created)?;
    tar.blobs(store, image)?;
    // `publish` passes `REPO:TAG` with the tag always spelled out.
    let tag = reference.map(|r| crate::reference::split_tag(r).1);
    let top = image.top_descriptor(tag)?;
    tar.bytes("index.json", &index_document(vec![top])?)?;
    let manifest = [DockerManifest {
        config: blob_name(&m.config.digest),
        repo_tags: reference.map(|r| vec![r.to_owned()]).unwrap_or_default(),
        layers: m.layers.iter().map(|l| blob_name(&l.digest)).collect(),
    }];
    tar.bytes("manifest.json", &canonical_json(&manifest))?;
    tar.bytes("oci-layout", &oci_layout()?)?;
    tar.finish()
}
