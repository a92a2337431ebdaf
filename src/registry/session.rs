//! One repository of a registry, read and written piece by piece (the layer cache's shared
//! tier): a manifest by tag (a 404 is `None`), a blob streamed into a writer up to a limit,
//! a blob pushed from a file (mounted from another repository when compose pushed it there
//! before), a manifest put under a tag, a manifest deleted. The same client, credentials,
//! retries and scheme rules as an image push.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use reqwest::Method;

use super::{Client, KnownBlobs, PushOptions, RegistryError};
use crate::net;
use crate::oci::BlobRef;
use crate::reference::Reference;

/// A repository of a registry, with its own small runtime. Its methods block; they may be
/// called from several threads at once.
pub struct Session {
    runtime: tokio::runtime::Runtime,
    client: Client,
    target: Reference,
    known_blobs: PathBuf,
    /// Held while the known-blobs file is read, added to and written back.
    known_lock: Mutex<()>,
}

impl Session {
    /// A session with `target`'s repository (its tag is not used). No request is sent yet,
    /// except the scheme probe of `--insecure` for a host that is not loopback.
    pub fn open(target: &Reference, opts: &PushOptions) -> Result<Session, RegistryError> {
        let runtime = net::runtime()?;
        let mut client = Client::new(target, opts)?;
        if opts.insecure && !target.is_loopback() {
            runtime.block_on(client.pick_scheme());
        }
        Ok(Session {
            runtime,
            client,
            target: target.clone(),
            known_blobs: opts.known_blobs.clone(),
            known_lock: Mutex::new(()),
        })
    }

    /// Whether the registry answers at all (and takes the credentials): `GET /v2/`, with
    /// its retries.
    pub fn ping(&self) -> Result<(), RegistryError> {
        let c = &self.client;
        let req = c.request(Method::GET, c.url("v2/"), "the version check".to_owned());
        self.runtime.block_on(async {
            let resp = c.send(&req).await?;
            match resp.status().as_u16() {
                200 => Ok(()),
                _ => Err(c.refusal(resp, &req.what).await),
            }
        })
    }

    /// The manifest tagged `tag` (asked for as `accept`), at most `limit` bytes; `None` when
    /// the repository has no such tag (or no such repository).
    pub fn manifest(
        &self,
        tag: &str,
        accept: &'static str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let c = &self.client;
        let url = c.url(&format!("v2/{}/manifests/{tag}", c.repository));
        let mut req = c.request(Method::GET, url, format!("the manifest `{tag}`"));
        req.accept = Some(accept);
        self.runtime.block_on(async {
            let resp = c.send(&req).await?;
            match resp.status().as_u16() {
                200 => Ok(Some(net::read_bounded(resp, limit).await?)),
                404 => Ok(None),
                _ => Err(c.refusal(resp, &req.what).await),
            }
        })
    }

    /// Stream the blob `digest` into `out`, at most `limit` bytes (more is an error); the
    /// bytes written. The caller checks the digest.
    pub fn blob(
        &self,
        digest: &str,
        limit: u64,
        out: &mut dyn Write,
    ) -> Result<u64, RegistryError> {
        let c = &self.client;
        let url = c.url(&format!("v2/{}/blobs/{digest}", c.repository));
        let req = c.request(Method::GET, url, format!("blob {digest}"));
        self.runtime.block_on(async {
            let resp = c.send(&req).await?;
            if resp.status().as_u16() != 200 {
                return Err(c.refusal(resp, &req.what).await);
            }
            Ok(net::body::stream_bounded(resp, limit, |chunk| out.write_all(chunk)).await?)
        })
    }

    /// Make sure the repository has `blob` (the file `path`): there already, mounted from
    /// a repository compose pushed it to, or uploaded. Remembered for later mounts.
    pub fn push_blob(&self, blob: &BlobRef, path: &Path) -> Result<(), RegistryError> {
        let t = &self.target;
        let mount = KnownBlobs::load(&self.known_blobs).repository_with(
            &t.host,
            &blob.digest,
            &t.repository,
        );
        self.runtime
            .block_on(self.client.push_blob(blob, path, mount, &|_| {}))?;
        // Read again: other threads of this build may have recorded blobs meanwhile.
        let _held = self.known_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut known = KnownBlobs::load(&self.known_blobs);
        known.record(&t.host, &t.repository, std::slice::from_ref(blob));
        known.save();
        Ok(())
    }

    /// The OCI image manifest tagged `tag` (signatures, attestations), at most `limit`
    /// bytes; `None` when there is no such tag.
    pub fn image_manifest(&self, tag: &str, limit: u64) -> Result<Option<Vec<u8>>, RegistryError> {
        self.manifest(tag, super::OCI_MANIFEST, limit)
    }

    /// Make sure the repository has the small blob `bytes` (a signature's payload, a
    /// config): written to a temporary file, then pushed as `push_blob` does.
    pub fn push_bytes(&self, media_type: &str, bytes: &[u8]) -> Result<(), RegistryError> {
        let io = |source| RegistryError::Io {
            path: std::env::temp_dir(),
            source,
        };
        let mut tmp = tempfile::NamedTempFile::new().map_err(io)?;
        tmp.write_all(bytes).map_err(io)?;
        let blob = BlobRef {
            digest: crate::oci::sha256_digest(bytes),
            size: bytes.len() as u64,
            media_type: media_type.to_owned(),
        };
        self.push_blob(&blob, tmp.path())
    }

    /// Put `bytes` (an OCI image manifest) under `tag`; the registry's digest of it.
    pub fn push_manifest(&self, tag: &str, bytes: &[u8]) -> Result<String, RegistryError> {
        self.runtime
            .block_on(self.client.put_manifest(tag, super::OCI_MANIFEST, bytes))
    }

    /// Delete the manifest `digest` (and so every tag on it). A registry that does not allow
    /// deletes refuses.
    pub fn delete_manifest(&self, digest: &str) -> Result<(), RegistryError> {
        let c = &self.client;
        let url = c.url(&format!("v2/{}/manifests/{digest}", c.repository));
        let req = c.request(Method::DELETE, url, format!("the deletion of {digest}"));
        self.runtime.block_on(async {
            let resp = c.send(&req).await?;
            match resp.status().as_u16() {
                200 | 202 | 404 => Ok(()),
                _ => Err(c.refusal(resp, &req.what).await),
            }
        })
    }
}
