//! Test infrastructure: a static HTTP server for the fixture repository, and a real
//! registry with a fault-injecting proxy for pushes, and Debian 13's skopeo (sigstore), and
//! images made by hand (layouts, archives, registry trees).

pub mod hostile;
pub mod image;
pub mod registry;
pub mod server;
pub mod skopeo;
