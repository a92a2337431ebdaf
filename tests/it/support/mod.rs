//! Test infrastructure: a static HTTP server for the fixture repository, and a real
//! registry with a fault-injecting proxy for pushes, Debian 13's skopeo (sigstore), images
//! made by hand (layouts, archives, registry trees), and ScanCode over an unpacked image.

pub mod hostile;
pub mod image;
pub mod registry;
pub mod scancode;
pub mod server;
pub mod skopeo;
