//! `compose`: build distroless OCI base images straight from Debian's package archive.
//!
//! The pipeline, one module per stage: `spec` -> `repo` -> `resolve` -> `fetch` -> `deb` ->
//! `rootfs` -> `layer` -> `oci` -> `publish` (`registry` for pushes), driven by `build`
//! and the `cli`.

pub mod atomic;
pub mod attach;
pub mod build;
pub mod changelog;
pub mod cli;
pub mod content;
pub mod deb;
pub mod error;
pub mod fetch;
pub mod installed;
pub mod interrupt;
pub mod layer;
pub mod layercache;
pub mod lock;
pub mod mirror;
pub mod net;
pub mod oci;
pub mod package;
pub mod patch;
pub mod progress;
pub mod publish;
pub mod reference;
pub mod registry;
pub mod repo;
pub mod resolve;
pub mod rootfs;
pub mod sbom;
pub mod sign;
pub mod snapshot;
pub mod spec;
pub mod suite;
pub mod tracker;
pub mod tree;
pub mod vendor;
pub mod verify;
pub mod why;
