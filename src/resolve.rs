//! Dependency resolution: a pure function from the spec's package requests and the indexes to a package set.
