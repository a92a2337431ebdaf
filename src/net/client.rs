//! HTTP clients built in one place: rustls on the `ring` provider, compose's user agent,
//! connect and read timeouts, proxies from the environment (`HTTPS_PROXY`, `NO_PROXY`, as
//! reqwest reads them), and the small tokio runtime they run on.

use std::time::Duration;

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

/// A client for `peer`.
pub fn client(peer: Peer) -> Result<reqwest::Client, NetError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (read_timeout, insecure) = match peer {
        Peer::Mirror => (Duration::from_secs(60), false),
        // A registry may take a while to answer the PUT of a large blob.
        Peer::Registry { insecure } => (Duration::from_secs(120), insecure),
    };
    reqwest::Client::builder()
        .user_agent(concat!("compose/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(read_timeout)
        .tls_danger_accept_invalid_certs(insecure)
        .build()
        .map_err(NetError::Client)
}

/// The runtime requests run on: two worker threads (the work is waiting, not computing).
pub fn runtime() -> Result<tokio::runtime::Runtime, NetError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(NetError::Runtime)
}
