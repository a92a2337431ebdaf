//! Test infrastructure: a static HTTP server for the fixture repository, and a real
//! registry with a fault-injecting proxy for pushes, and Debian 13's skopeo (sigstore).

pub mod hostile;
pub mod registry;
pub mod server;
pub mod skopeo;
