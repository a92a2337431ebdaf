//! The one door to the network: HTTP clients and their runtime (`client`), the retry policy
//! every request follows (`retry`), and the bounded reader every response body goes through
//! (`body`). `fetch` (mirrors) and `registry` (pushes) use these and build nothing of their own.

pub mod body;
pub mod client;
pub mod retry;

pub use body::{read_bounded, stream_bounded};
pub use client::{Peer, client, runtime, trust};
pub use retry::{Transient, retry, transient_status};

/// What can go wrong in the network layer itself (the callers say which URL it concerned).
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot start the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error("cannot read the CA file `{}`", path.display())]
    CaFileIo {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot use `{}` as a CA file: {reason}", path.display())]
    CaFile {
        path: std::path::PathBuf,
        reason: &'static str,
    },
    #[error("cannot start the network runtime")]
    Runtime(#[source] std::io::Error),
    #[error("the answer is longer than {limit} bytes")]
    TooLong { limit: u64 },
    #[error("the answer was cut short: got {got} of {expected} bytes")]
    Truncated { got: u64, expected: u64 },
    /// Where a streamed body went refused it (a full disk).
    #[error("cannot keep the answer")]
    Sink(#[source] std::io::Error),
    /// The connection failed while the body was read (the message is reqwest's).
    #[error(transparent)]
    Read(reqwest::Error),
}

impl Transient for NetError {
    fn transient(&self) -> bool {
        matches!(self, NetError::Read(_) | NetError::Truncated { .. })
    }
}
