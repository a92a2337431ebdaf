//! The integration tests: one binary, modules by theme, fixtures under `tests/data/`.

mod apt;
mod attest;
mod auth;
mod e2e;
mod family;
mod files;
mod fixture;
mod fuzz;
mod harness;
mod hostile;
mod hostile_outputs;
mod hostile_packages;
mod hostile_repo;
mod inhouse;
mod installed;
mod layer_cache;
mod network;
mod patching;
mod publish;
mod scanners;
mod sign;
mod snapshot;
mod specs;
mod support;
mod tidy;
mod vendor;
