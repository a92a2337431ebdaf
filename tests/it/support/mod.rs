//! Test infrastructure: a static HTTP server for the fixture repository.

pub mod server;
