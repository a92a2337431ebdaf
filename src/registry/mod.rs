//! Pushing images to OCI registries over the distribution API: blobs checked with HEAD and
//! uploaded only when missing (mounted from another repository of the registry when compose
//! pushed them there before), monolithic or chunked uploads, manifests and the index last,
//! retries (the `net` policy), and Basic or Bearer authentication.
//!
//! `session` reads and writes one repository piece by piece (the layer cache's shared tier);
//! `pull` copies an image from one into a layout, every digest checked.
//!
//! Its requests go through `net`: the client, the retry policy and the bounded reader.

pub mod auth;
mod helper;
pub mod pull;
mod session;

pub use session::Session;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;
use futures_util::{StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;

use crate::error::Hint;
use crate::net::{self, NetError, Transient};
use crate::oci::{BlobRef, Image, ManifestEntry, Store, sha256_digest};
use crate::reference::Reference;
use crate::reference::{MAX_NAME, valid_component};
use auth::{Challenge, Credentials};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid registry reference `{text}`: {reason}")]
    Reference { text: String, reason: String },
    #[error("cannot reach the registry at `{url}`")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the registry `{host}` refused {what}: HTTP {status}{detail}")]
    Status {
        host: String,
        what: String,
        status: u16,
        detail: String,
    },
    #[error("the registry `{host}` requires credentials")]
    NeedCredentials {
        host: String,
        /// The Docker config file given, if any (for the hint).
        config: Option<PathBuf>,
    },
    #[error("the registry `{host}` rejected the credentials of `{user}` from {from}")]
    BadCredentials {
        host: String,
        user: String,
        from: String,
    },
    #[error("the token service `{realm}` failed: {reason}")]
    Token { realm: String, reason: String },
    #[error("the registry `{host}` stored {what} as {got}, but compose computed {expected}")]
    DigestMismatch {
        host: String,
        what: String,
        expected: String,
        got: String,
    },
    #[error("cannot read `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run the credential helper `{helper}` for `{host}`")]
    CredHelperRun {
        helper: String,
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the credential helper `{helper}` failed for `{host}`: {reason}")]
    CredHelper {
        helper: String,
        host: String,
        reason: String,
    },
    #[error("`--creds` must be `USER:PASSWORD`")]
    CredsFlag,
    #[error("cannot read the Docker config `{}`: {reason}", path.display())]
    DockerConfig { path: PathBuf, reason: String },
    #[error(transparent)]
    Net(#[from] NetError),
}

impl Hint for RegistryError {
    fn hint(&self) -> Option<String> {
        match self {
            // An untrusted certificate has its own hint (`--ca-file`).
            RegistryError::Unreachable { source, .. }
                if net::client::untrusted_certificate(source) =>
            {
                None
            }
            RegistryError::Unreachable { .. } => Some(
                "check that the registry is running; a re-run uploads only what is still missing"
                    .to_owned(),
            ),
            RegistryError::NeedCredentials { host, config } => {
                let config = config.as_ref().map_or_else(
                    || "the Docker config file".to_owned(),
                    |p| format!("`{}`", p.display()),
                );
                Some(format!(
                    "pass `--creds USER:PASSWORD`, or name a credential helper for `{host}` (`credHelpers`) or add an `auths` entry for it in {config}"
                ))
            }
            RegistryError::CredHelperRun { helper, host, .. }
            | RegistryError::CredHelper { helper, host, .. } => Some(format!(
                "the Docker config file names `{helper}`: check that it is on PATH and that `echo {host} | {helper} get` answers, or pass `--creds USER:PASSWORD`"
            )),
            RegistryError::BadCredentials { .. } => {
                Some("check the user name and password".to_owned())
            }
            _ => None,
        }
    }
}

/// Worth starting the operation again: the network failed or the registry had trouble.
impl Transient for RegistryError {
    fn transient(&self) -> bool {
        match self {
            RegistryError::Unreachable { .. } => true,
            RegistryError::Status { status, .. } => net::transient_status(*status),
            RegistryError::Net(e) => e.transient(),
            _ => false,
        }
    }
}

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// `--creds`; otherwise the Docker config file (credential helpers, then `auths`).
    pub creds: Option<Credentials>,
    pub docker_config: Option<PathBuf>,
    /// Allow plain HTTP (and unverified TLS) to hosts that are not loopback.
    pub insecure: bool,
    /// Blobs larger than this go up in chunks of this size.
    pub chunk_size: u64,
    /// Concurrent blob uploads.
    pub jobs: usize,
    /// Where compose remembers which repository of a registry holds which blob (for mounts).
    pub known_blobs: PathBuf,
}

/// What one push did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PushReport {
    pub destination: String,
    /// The digest the registry returned for the tag (equal to the image's).
    pub digest: String,
    /// Blobs uploaded, and their bytes.
    pub uploaded: usize,
    pub uploaded_bytes: u64,
    /// Blobs the repository already had.
    pub existing: usize,
    /// Blobs mounted from another repository of the same registry.
    pub mounted: usize,
    /// The signature and attestation tags `--sign` added to (`sha256-<hex>.sig`, `.att`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attached: Vec<String>,
}

impl std::fmt::Display for PushReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pushed {} ({}): {} blobs uploaded ({:.1} MiB), {} already there, {} mounted",
            self.destination,
            self.digest,
            self.uploaded,
            self.uploaded_bytes as f64 / 1_048_576.0,
            self.existing,
            self.mounted
        )?;
        match self.attached.len() {
            0 => Ok(()),
            n => write!(f, "; signatures or attestations added under {n} tags"),
        }
    }
}

/// The most read of a registry's token or error answer (a registry is not trusted).
const MAX_ANSWER: u64 = 1 << 20;
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Push `image` (its blobs in `store`) to every target: first every blob to every target,
/// then the manifests, so no tag anywhere points at an image with missing blobs.
pub fn push_all(
    store: &Store,
    image: &Image,
    targets: &[Reference],
    opts: &PushOptions,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<Vec<PushReport>, RegistryError> {
    let runtime = net::runtime()?;
    let mut known = KnownBlobs::load(&opts.known_blobs);
    let mut clients = targets
        .iter()
        .map(|t| Client::new(t, opts))
        .collect::<Result<Vec<_>, _>>()?;
    runtime.block_on(async {
        for (target, client) in targets.iter().zip(&mut clients) {
            if opts.insecure && !target.is_loopback() {
                client.pick_scheme().await;
            }
        }
        let mut reports = Vec::new();
        for (target, client) in targets.iter().zip(&clients) {
            let mut report = PushReport {
                destination: target.to_string(),
                ..PushReport::default()
            };
            let outcomes: Vec<Outcome> = futures_util::stream::iter(image.blobs())
                .map(|blob| {
                    let from =
                        known.repository_with(&target.host, &blob.digest, &target.repository);
                    let path = store.blob_path(&blob.digest);
                    async move { client.push_blob(&blob, &path, from, on_bytes).await }
                })
                .buffer_unordered(opts.jobs.max(1))
                .try_collect()
                .await?;
            for o in outcomes {
                match o {
                    Outcome::Existing => report.existing += 1,
                    Outcome::Mounted => report.mounted += 1,
                    Outcome::Uploaded(n) => {
                        report.uploaded += 1;
                        report.uploaded_bytes += n;
                    }
                }
            }
            known.record(&target.host, &target.repository, &image.blobs());
            reports.push(report);
        }
        known.save();
        for ((target, client), report) in targets.iter().zip(&clients).zip(&mut reports) {
            report.digest = client.push_documents(image, &target.tag).await?;
        }
        Ok(reports)
    })
}

enum Outcome {
    Existing,
    Mounted,
    Uploaded(u64),
}

#[derive(Debug, Default)]
struct AuthState {
    challenge: Option<Challenge>,
    /// Bearer tokens by the scopes they were issued for.
    tokens: HashMap<String, String>,
}

/// How one attempt of `Client::send` failed: `Final` failures (authentication) are not
/// tried again, whatever they are.
enum Attempt {
    Again(RegistryError),
    Final(RegistryError),
}

impl Attempt {
    fn into_error(self) -> RegistryError {
        match self {
            Attempt::Again(e) | Attempt::Final(e) => e,
        }
    }
}

impl Transient for Attempt {
    fn transient(&self) -> bool {
        matches!(self, Attempt::Again(e) if e.transient())
    }
}

/// A request that can be sent again (after a challenge, or a transient failure).
struct Req<'a> {
    method: Method,
    url: Url,
    content_type: Option<&'a str>,
    /// The `Accept` header (the manifest media type asked for).
    accept: Option<&'a str>,
    content_range: Option<String>,
    body: Option<bytes::Bytes>,
    /// Token scopes the request needs.
    scopes: Vec<String>,
    /// What the request does, for messages.
    what: String,
    /// Retry transient failures (idempotent requests only).
    retry: bool,
}

struct Client {
    http: reqwest::Client,
    base: Url,
    host: String,
    repository: String,
    creds: Option<Credentials>,
    /// `--docker-config`, named in the hint when credentials are missing.
    docker_config: Option<PathBuf>,
    chunk_size: u64,
    state: Mutex<AuthState>,
}

impl Client {
    fn new(target: &Reference, opts: &PushOptions) -> Result<Client, RegistryError> {
        // Loopback registries speak plain HTTP; `--insecure` ones are probed (`pick_scheme`).
        let plain = target.is_loopback();
        let http = net::client(net::Peer::Registry {
            insecure: opts.insecure,
        })?;
        let scheme = if plain { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{}/", target.host)).map_err(|e| {
            RegistryError::Reference {
                text: target.to_string(),
                reason: e.to_string(),
            }
        })?;
        let creds = match &opts.creds {
            Some(c) => Some(c.clone()),
            None => match &opts.docker_config {
                Some(p) => auth::from_docker_config(p, &target.host)?,
                None => None,
            },
        };
        Ok(Client {
            http,
            base,
            host: target.host.clone(),
            repository: target.repository.clone(),
            creds,
            docker_config: opts.docker_config.clone(),
            chunk_size: opts.chunk_size.max(1),
            state: Mutex::new(AuthState::default()),
        })
    }

    /// For `--insecure`: HTTPS (certificates unchecked) when the registry answers it, else
    /// plain HTTP, as Docker treats insecure registries.
    async fn pick_scheme(&mut self) {
        let probe = self.url("v2/");
        let tls = self
            .http
            .get(probe)
            .timeout(net::client::PROBE_TIMEOUT)
            .send()
            .await;
        if tls.is_err() {
            let _ = self.base.set_scheme("http");
        }
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).expect("registry paths are valid")
    }

    fn push_scope(&self) -> String {
        format!("repository:{}:pull,push", self.repository)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn authorization(&self, scopes: &[String]) -> Option<String> {
        let state = self.state();
        match state.challenge.as_ref()? {
            Challenge::Basic => self.creds.as_ref().map(basic),
            Challenge::Bearer { .. } => state
                .tokens
                .get(&scopes.join(" "))
                .map(|t| format!("Bearer {t}")),
        }
    }

    fn auth_failed(&self) -> RegistryError {
        match &self.creds {
            Some(c) => RegistryError::BadCredentials {
                host: self.host.clone(),
                user: c.user.clone(),
                from: c.from.clone(),
            },
            None => RegistryError::NeedCredentials {
                host: self.host.clone(),
                config: self.docker_config.clone(),
            },
        }
    }

    /// Send `req`, answering one authentication challenge; when `req.retry`, a transient
    /// failure (including a transient status) is tried again by the `net` policy.
    async fn send(&self, req: &Req<'_>) -> Result<reqwest::Response, RegistryError> {
        // Across attempts: a second challenge after one was answered is a refusal.
        let answered_challenge = AtomicBool::new(false);
        let once = || self.send_once(req, &answered_challenge);
        let sent = if req.retry {
            net::retry(once).await
        } else {
            once().await
        };
        sent.map_err(Attempt::into_error)
    }

    async fn send_once(
        &self,
        req: &Req<'_>,
        answered_challenge: &AtomicBool,
    ) -> Result<reqwest::Response, Attempt> {
        loop {
            let resp = self.build(req).send().await.map_err(|source| {
                Attempt::Again(RegistryError::Unreachable {
                    url: req.url.to_string(),
                    source: source.without_url(),
                })
            })?;
            if resp.status() == StatusCode::UNAUTHORIZED {
                if answered_challenge.swap(true, Ordering::Relaxed) {
                    return Err(Attempt::Final(self.auth_failed()));
                }
                // The token service has had its own retries.
                self.answer_challenge(&resp, &req.scopes)
                    .await
                    .map_err(Attempt::Final)?;
                continue;
            }
            if req.retry && net::transient_status(resp.status().as_u16()) {
                return Err(Attempt::Again(self.refusal(resp, &req.what).await));
            }
            return Ok(resp);
        }
    }

    /// The request `req` describes, with the authorization known for its scopes.
    fn build(&self, req: &Req<'_>) -> reqwest::RequestBuilder {
        let mut rb = self.http.request(req.method.clone(), req.url.clone());
        if let Some(ct) = req.content_type {
            rb = rb.header(reqwest::header::CONTENT_TYPE, ct);
        }
        if let Some(accept) = req.accept {
            rb = rb.header(reqwest::header::ACCEPT, accept);
        }
        if let Some(range) = &req.content_range {
            rb = rb.header(reqwest::header::CONTENT_RANGE, range);
        }
        if let Some(body) = &req.body {
            rb = rb.body(body.clone());
        } else if matches!(req.method, Method::PUT | Method::POST | Method::PATCH) {
            rb = rb.header(reqwest::header::CONTENT_LENGTH, "0");
        }
        if let Some(a) = self.authorization(&req.scopes) {
            rb = rb.header(reqwest::header::AUTHORIZATION, a);
        }
        rb
    }

    /// Take up the challenge of a 401 answer: Basic with the credentials, or a Bearer token
    /// for `scopes`; anything else is a refusal.
    async fn answer_challenge(
        &self,
        resp: &reqwest::Response,
        scopes: &[String],
    ) -> Result<(), RegistryError> {
        let challenge = resp
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(auth::parse_challenge);
        match challenge {
            Some(Challenge::Basic) if self.creds.is_some() => {
                self.state().challenge = Some(Challenge::Basic);
            }
            Some(Challenge::Bearer { realm, service }) => {
                let token = self.token(&realm, service.as_deref(), scopes).await?;
                let mut state = self.state();
                state.challenge = Some(Challenge::Bearer { realm, service });
                state.tokens.insert(scopes.join(" "), token);
            }
            _ => return Err(self.auth_failed()),
        }
        Ok(())
    }

    /// A Bearer token for `scopes` from the token service, with the credentials if any.
    async fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<String, RegistryError> {
        let fail = |reason: String| RegistryError::Token {
            realm: realm.to_owned(),
            reason,
        };
        let mut url = Url::parse(realm).map_err(|e| fail(e.to_string()))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            for s in scopes {
                q.append_pair("scope", s);
            }
        }
        let resp = net::retry(|| {
            let mut rb = self.http.get(url.clone());
            if let Some(c) = &self.creds {
                rb = rb.header(reqwest::header::AUTHORIZATION, basic(c));
            }
            rb.send()
        })
        .await
        .map_err(|source| RegistryError::Unreachable {
            url: realm.to_owned(),
            source: source.without_url(),
        })?;
        match resp.status().as_u16() {
            200 => {}
            401 | 403 => return Err(self.auth_failed()),
            s => return Err(fail(format!("HTTP {s}"))),
        }
        let body = net::read_bounded(resp, MAX_ANSWER)
            .await
            .map_err(|e| fail(e.to_string()))?;
        auth::token_from_response(&body).ok_or_else(|| fail("the answer holds no token".into()))
    }

    /// The error for an unexpected answer, with the registry's own error message.
    async fn refusal(&self, resp: reqwest::Response, what: &str) -> RegistryError {
        let status = resp.status().as_u16();
        // Only the start of an error answer is read: it is shown, not trusted.
        let body = net::read_bounded(resp, MAX_ANSWER)
            .await
            .unwrap_or_default();
        let detail = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                let e = v["errors"].as_array()?.first()?.clone();
                Some(format!(
                    ": {} {}",
                    e["code"].as_str().unwrap_or_default(),
                    e["message"].as_str().unwrap_or_default()
                ))
            })
            .unwrap_or_default();
        RegistryError::Status {
            host: self.host.clone(),
            what: what.to_owned(),
            status,
            detail,
        }
    }

    fn request(&self, method: Method, url: Url, what: String) -> Req<'static> {
        Req {
            retry: matches!(method, Method::GET | Method::HEAD),
            method,
            url,
            content_type: None,
            accept: None,
            content_range: None,
            body: None,
            scopes: vec![self.push_scope()],
            what,
        }
    }

    /// Make sure the repository has `blob`: there already, mounted, or uploaded. A failed
    /// upload starts again from a new session.
    async fn push_blob(
        &self,
        blob: &BlobRef,
        path: &Path,
        mount_from: Option<String>,
        on_bytes: &(dyn Fn(u64) + Sync),
    ) -> Result<Outcome, RegistryError> {
        let what = format!("blob {}", blob.digest);
        let head = self.request(
            Method::HEAD,
            self.url(&format!("v2/{}/blobs/{}", self.repository, blob.digest)),
            format!("a check of {what}"),
        );
        let resp = self.send(&head).await?;
        match resp.status().as_u16() {
            200 => return Ok(Outcome::Existing),
            404 => {}
            _ => return Err(self.refusal(resp, &head.what).await),
        }
        net::retry(|| self.upload(blob, path, mount_from.as_deref(), on_bytes)).await
    }

    async fn upload(
        &self,
        blob: &BlobRef,
        path: &Path,
        mount_from: Option<&str>,
        on_bytes: &(dyn Fn(u64) + Sync),
    ) -> Result<Outcome, RegistryError> {
        let what = format!("the upload of blob {}", blob.digest);
        let mut start = self.url(&format!("v2/{}/blobs/uploads/", self.repository));
        let mut req = self.request(Method::POST, start.clone(), what.clone());
        if let Some(from) = mount_from {
            start
                .query_pairs_mut()
                .append_pair("mount", &blob.digest)
                .append_pair("from", from);
            req.url = start;
            req.scopes.push(format!("repository:{from}:pull"));
        }
        let resp = self.send(&req).await?;
        let location = match resp.status().as_u16() {
            201 if mount_from.is_some() => return Ok(Outcome::Mounted),
            202 => self.location(&resp, &what)?,
            _ => return Err(self.refusal(resp, &what).await),
        };
        let (mut location, last) = self
            .patch_chunks(blob, path, location, &what, on_bytes)
            .await?;
        let n = last.len() as u64;
        location
            .query_pairs_mut()
            .append_pair("digest", &blob.digest);
        let mut put = self.request(Method::PUT, location, what.clone());
        put.content_type = Some("application/octet-stream");
        put.body = Some(last.into());
        let resp = self.send(&put).await?;
        if resp.status().as_u16() != 201 {
            return Err(self.refusal(resp, &what).await);
        }
        self.check_digest(&resp, &blob.digest, &format!("blob {}", blob.digest))?;
        on_bytes(n);
        Ok(Outcome::Uploaded(blob.size))
    }

    /// Send all but the last chunk of `blob` (none when it fits in one) to the upload session
    /// at `location`; the session's next location and the last chunk, for the closing PUT.
    async fn patch_chunks(
        &self,
        blob: &BlobRef,
        path: &Path,
        mut location: Url,
        what: &str,
        on_bytes: &(dyn Fn(u64) + Sync),
    ) -> Result<(Url, Vec<u8>), RegistryError> {
        use tokio::io::AsyncReadExt;
        let io = |source| RegistryError::Io {
            path: path.to_path_buf(),
            source,
        };
        if blob.size <= self.chunk_size {
            return Ok((location, tokio::fs::read(path).await.map_err(io)?));
        }
        let mut file = tokio::fs::File::open(path).await.map_err(io)?;
        let mut offset = 0u64;
        loop {
            let mut chunk = Vec::with_capacity(self.chunk_size as usize);
            (&mut file)
                .take(self.chunk_size)
                .read_to_end(&mut chunk)
                .await
                .map_err(io)?;
            if offset + chunk.len() as u64 >= blob.size {
                return Ok((location, chunk));
            }
            let n = chunk.len() as u64;
            let mut patch = self.request(Method::PATCH, location, what.to_owned());
            patch.content_type = Some("application/octet-stream");
            patch.content_range = Some(format!("{offset}-{}", offset + n - 1));
            patch.body = Some(chunk.into());
            let resp = self.send(&patch).await?;
            if resp.status().as_u16() != 202 {
                return Err(self.refusal(resp, what).await);
            }
            location = self.location(&resp, what)?;
            offset += n;
            on_bytes(n);
        }
    }

    /// The `Location` of an upload session, absolute.
    fn location(&self, resp: &reqwest::Response, what: &str) -> Result<Url, RegistryError> {
        resp.headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| self.base.join(l).ok())
            .ok_or_else(|| RegistryError::Status {
                host: self.host.clone(),
                what: what.to_owned(),
                status: resp.status().as_u16(),
                detail: ": no upload location in the answer".into(),
            })
    }

    fn check_digest(
        &self,
        resp: &reqwest::Response,
        expected: &str,
        what: &str,
    ) -> Result<String, RegistryError> {
        let got = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(expected);
        if got != expected {
            return Err(RegistryError::DigestMismatch {
                host: self.host.clone(),
                what: what.to_owned(),
                expected: expected.to_owned(),
                got: got.to_owned(),
            });
        }
        Ok(got.to_owned())
    }

    async fn put_manifest(
        &self,
        reference: &str,
        media_type: &'static str,
        bytes: &[u8],
    ) -> Result<String, RegistryError> {
        let digest = sha256_digest(bytes);
        let what = format!("the manifest {digest}");
        let mut put = self.request(
            Method::PUT,
            self.url(&format!("v2/{}/manifests/{reference}", self.repository)),
            what.clone(),
        );
        put.retry = true;
        put.content_type = Some(media_type);
        put.body = Some(bytes::Bytes::copy_from_slice(bytes));
        let resp = self.send(&put).await?;
        if resp.status().as_u16() != 201 {
            return Err(self.refusal(resp, &what).await);
        }
        self.check_digest(&resp, &digest, &what)
    }

    /// Every manifest by digest, then the top document by tag; the registry's digest of it.
    async fn push_documents(&self, image: &Image, tag: &str) -> Result<String, RegistryError> {
        match &image.index {
            None => self.put_manifest(tag, OCI_MANIFEST, image.top()).await,
            Some(index) => {
                for m in &image.manifests {
                    self.put_manifest(&ManifestEntry::digest(m), OCI_MANIFEST, &m.bytes)
                        .await?;
                }
                self.put_manifest(tag, OCI_INDEX, index).await
            }
        }
    }
}

fn basic(c: &Credentials) -> String {
    let raw = format!("{}:{}", c.user, c.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Which repository of each registry compose last pushed each blob to: a hint for
/// cross-repository mounts (a registry that no longer has the blob just starts an upload).
/// It only ever saves network traffic; a lost or corrupt file changes nothing else.
#[derive(Debug, Default)]
struct KnownBlobs {
    path: PathBuf,
    /// host -> digest -> repository.
    map: BTreeMap<String, BTreeMap<String, String>>,
}

impl KnownBlobs {
    /// The file is a hint, not a trust root: one that is too large, unreadable or not the
    /// expected JSON is ignored, and entries whose repository is not a valid name are dropped.
    /// At worst a rewritten file costs a failed mount (then an upload).
    fn load(path: &Path) -> KnownBlobs {
        const MAX: u64 = 64 << 20;
        let small = fs_err::metadata(path).is_ok_and(|m| m.len() <= MAX);
        let mut map: BTreeMap<String, BTreeMap<String, String>> = small
            .then(|| fs_err::read(path).ok())
            .flatten()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        for blobs in map.values_mut() {
            // Digests only ever match our own blobs' digests; repositories go to the registry.
            blobs.retain(|_, repository| repository.split('/').all(valid_component));
        }
        KnownBlobs {
            path: path.to_path_buf(),
            map,
        }
    }

    /// A repository of `host` (other than `not`) compose pushed `digest` to. The file is in
    /// the cache, so a name outside the reference grammar (which would end up in a token
    /// scope) is ignored.
    fn repository_with(&self, host: &str, digest: &str, not: &str) -> Option<String> {
        self.map
            .get(host)?
            .get(digest)
            .filter(|r| r.as_str() != not && r.len() <= MAX_NAME)
            .filter(|r| r.split('/').all(valid_component))
            .cloned()
    }

    fn record(&mut self, host: &str, repository: &str, blobs: &[BlobRef]) {
        let m = self.map.entry(host.to_owned()).or_default();
        for b in blobs {
            m.insert(b.digest.clone(), repository.to_owned());
        }
    }

    /// Best effort: a cache that cannot be written only costs a later upload.
    fn save(&self) {
        let Some(dir) = self.path.parent() else {
            return;
        };
        let _ = fs_err::create_dir_all(dir);
        let bytes = serde_json::to_vec(&self.map).expect("maps serialize");
        let _ = crate::atomic::write(&self.path, &bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_credentials_hint_at_where_to_put_them() {
        let render = |config: Option<&str>| {
            crate::error::render(&anyhow::Error::new(RegistryError::NeedCredentials {
                host: "h:1".into(),
                config: config.map(PathBuf::from),
            }))
        };
        let start = "error: the registry `h:1` requires credentials\n\nhint: pass `--creds USER:PASSWORD`, or name a credential helper for `h:1` (`credHelpers`) or add an `auths` entry for it in";
        assert_eq!(render(None), format!("{start} the Docker config file"));
        assert_eq!(render(Some("/d/c.json")), format!("{start} `/d/c.json`"));
    }

    #[test]
    fn a_rewritten_known_blobs_file_is_only_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known-blobs.json");
        let digest = format!("sha256:{}", "a".repeat(64));
        let other = format!("sha256:{}", "b".repeat(64));
        let text = serde_json::json!({
            "r.example:5000": {
                digest.clone(): "team/base",
                other.clone(): "../../x?mount=1",
                "sha256:../../etc": "Team Base",
            }
        });
        fs_err::write(&path, text.to_string()).unwrap();
        let known = KnownBlobs::load(&path);
        assert_eq!(
            known.repository_with("r.example:5000", &digest, "team/app"),
            Some("team/base".to_owned())
        );
        assert_eq!(
            known.repository_with("r.example:5000", &other, "team/app"),
            None
        );
        assert_eq!(known.map["r.example:5000"].len(), 1);
        for junk in [
            &b"not json"[..],
            b"[1,2]",
            b"{\"h\": {\"d\": 5}}",
            &[0xff; 10],
        ] {
            fs_err::write(&path, junk).unwrap();
            assert!(KnownBlobs::load(&path).map.is_empty());
        }
        fs_err::File::create(&path)
            .unwrap()
            .set_len(1 << 40)
            .unwrap();
        assert!(
            KnownBlobs::load(&path).map.is_empty(),
            "a huge file is not read"
        );
    }

    #[test]
    fn known_blobs_suggest_other_repositories_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known.json");
        let blob = BlobRef {
            digest: "sha256:aa".into(),
            size: 1,
            media_type: "x".into(),
        };
        let mut k = KnownBlobs::load(&path);
        k.record("h:1", "python3", std::slice::from_ref(&blob));
        k.save();
        let k = KnownBlobs::load(&path);
        assert_eq!(
            k.repository_with("h:1", "sha256:aa", "cc").as_deref(),
            Some("python3")
        );
        assert_eq!(k.repository_with("h:1", "sha256:aa", "python3"), None);
        assert_eq!(k.repository_with("h:2", "sha256:aa", "cc"), None);
        // A rewritten cache file cannot put another scope into a token request.
        let mut k = KnownBlobs::load(&path);
        let evil = BlobRef {
            digest: "sha256:ee".into(),
            size: 1,
            media_type: "x".into(),
        };
        k.record(
            "h:1",
            "x:pull,push repository:y",
            std::slice::from_ref(&evil),
        );
        assert_eq!(k.repository_with("h:1", "sha256:ee", "cc"), None);
        fs_err::write(&path, "not json").unwrap();
        assert!(KnownBlobs::load(&path).map.is_empty());
    }
}
