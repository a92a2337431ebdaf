//! Verified repository metadata: InRelease signatures, Release hashes and Packages indexes.
//!
//! This module does no network I/O itself: `fetch` hands it bytes, it verifies and parses them.

pub mod deb822;
pub mod keyring;
pub mod packages;
pub mod release;
