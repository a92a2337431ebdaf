//! HTTP clients built in one place: rustls on the `ring` provider, compose's user agent,
//! connect and read timeouts, proxies from the environment (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `NO_PROXY` and their lower-case forms, as reqwest reads them, for mirrors and registries
//! alike), the system's trust anchors plus those of `--ca-file` (`trust`), and the small
//! tokio runtime they run on.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::{PemObject as _, SectionKind};

use super::NetError;

/// Who a client talks to, which decides its timeouts and certificate checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A Debian mirror: every byte is checked against a signature, TLS is verified.
    Mirror,
    /// An OCI registry; `insecure` (`--insecure`) accepts any certificate.
    Registry { insecure: bool },
}

/// The longest wait for a connection to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a probe of a registry's scheme may take (`--insecure`: HTTPS, else plain HTTP).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest `--ca-file` read (a whole system bundle is about 200 KiB).
const MAX_CA_FILE: u64 = 4 << 20;

/// Trust anchors added to the system's by `--ca-file`, for every client made after `trust`.
static EXTRA_ROOTS: Mutex<Vec<reqwest::Certificate>> = Mutex::new(Vec::new());

/// A client for `peer`.
pub fn client(peer: Peer) -> Result<reqwest::Client, NetError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (read_timeout, insecure) = match peer {
        Peer::Mirror => (Duration::from_secs(60), false),
        // A registry may take a while to answer the PUT of a large blob.
        Peer::Registry { insecure } => (Duration::from_secs(120), insecure),
    };
    let extra = EXTRA_ROOTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    reqwest::Client::builder()
        .user_agent(concat!("compose/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(read_timeout)
        .tls_certs_merge(extra)
        .tls_danger_accept_invalid_certs(insecure)
        .build()
        .map_err(NetError::Client)
}

/// Add the certificates of `files` (`--ca-file`, PEM) to the trust anchors of every client
/// made from now on; they add to the system's, never replace them. A file is refused whole
/// when it is larger than 4 MiB, holds anything but certificates (a private key above all),
/// holds none, or holds one that does not parse.
pub fn trust(files: &[PathBuf]) -> Result<(), NetError> {
    let mut certs = Vec::new();
    for path in files {
        for der in read_ca_file(path)? {
            certs.push(
                reqwest::Certificate::from_der(&der)
                    .map_err(|_| bad(path, "a certificate does not parse"))?,
            );
        }
    }
    *EXTRA_ROOTS.lock().unwrap_or_else(|e| e.into_inner()) = certs;
    Ok(())
}

fn bad(path: &Path, reason: &'static str) -> NetError {
    NetError::CaFile {
        path: path.to_path_buf(),
        reason,
    }
}

/// The DER certificates of one PEM file, each checked to parse as a trust anchor.
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, NetError> {
    let io = |source| NetError::CaFileIo {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    fs_err::File::open(path)
        .map_err(io)?
        .take(MAX_CA_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_CA_FILE {
        return Err(bad(path, "it is larger than 4 MiB"));
    }
    let mut certs = Vec::new();
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(&bytes) {
        match section.map_err(|_| bad(path, "it is not valid PEM"))? {
            (SectionKind::Certificate, der) => certs.push(CertificateDer::from(der)),
            (
                SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey,
                _,
            ) => return Err(bad(path, "it holds a private key")),
            _ => return Err(bad(path, "it holds something other than certificates")),
        }
    }
    if certs.is_empty() {
        return Err(bad(path, "it holds no PEM certificate"));
    }
    let mut store = rustls::RootCertStore::empty();
    for der in &certs {
        store
            .add(der.clone())
            .map_err(|_| bad(path, "a certificate does not parse"))?;
    }
    Ok(certs)
}

/// The hint for a link of an error chain that is a certificate the system does not trust.
pub fn certificate_hint(link: &(dyn std::error::Error + 'static)) -> Option<String> {
    // An I/O error shows its inner error's message but skips it in the chain, and the TLS
    // error sits inside more than one.
    let mut inner = link;
    let tls = loop {
        if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
            break tls;
        }
        inner = inner.downcast_ref::<std::io::Error>()?.get_ref()?;
    };
    matches!(tls, rustls::Error::InvalidCertificate(_)).then(|| {
        "if a private CA (or a proxy that intercepts TLS) signed the server's certificate, add it with `--ca-file FILE` (PEM)".to_owned()
    })
}

/// Whether `err` or one of its causes is a certificate the system does not trust.
pub fn untrusted_certificate(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut link = Some(err);
    while let Some(e) = link {
        if certificate_hint(e).is_some() {
            return true;
        }
        link = e.source();
    }
    false
}

/// The runtime requests run on: two worker threads (the work is waiting, not computing).
pub fn runtime() -> Result<tokio::runtime::Runtime, NetError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(NetError::Runtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        fs_err::write(&path, text).unwrap();
        (dir, path)
    }

    fn refusal(text: &str) -> String {
        let (_dir, path) = file(text);
        let e = read_ca_file(&path).unwrap_err();
        assert!(e.to_string().contains("ca.pem"), "{e}");
        e.to_string()
    }

    #[test]
    fn ca_files_hold_certificates_only() {
        assert!(refusal("").contains("no PEM certificate"));
        assert!(refusal("hello\n").contains("no PEM certificate"));
        assert!(
            refusal("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .contains("private key")
        );
        assert!(
            refusal("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .contains("does not parse")
        );
        assert!(refusal("-----BEGIN CERTIFICATE-----\nAAAA\n").contains("not valid PEM"));
        let e = read_ca_file(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn a_large_ca_file_is_refused() {
        let (_dir, path) = file(&"#".repeat(MAX_CA_FILE as usize + 1));
        assert!(
            read_ca_file(&path)
                .unwrap_err()
                .to_string()
                .contains("4 MiB")
        );
    }
}
