//! A neutral file tree: what a layer holds, by path. `rootfs` fills it from packages and
//! generated files, `layer` writes it as a tar; nothing here knows about Debian.

use std::collections::BTreeMap;
use std::sync::Arc;

/// What an entry of a tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File(Arc<[u8]>),
    Dir,
    /// Symlink with its target exactly as written (relative or absolute).
    Symlink(String),
    /// Hard link to another path of the same tree (a normalized path).
    HardLink(String),
}

/// One file system entry of a layer, and the package it came from (`None`: generated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    /// The package that shipped it, or `None` for generated entries.
    pub package: Option<String>,
}

impl Node {
    pub fn dir(mode: u32, uid: u64, gid: u64, mtime: u64) -> Node {
        Node {
            kind: Kind::Dir,
            mode,
            uid,
            gid,
            mtime,
            package: None,
        }
    }

    pub fn file(data: impl Into<Arc<[u8]>>, mode: u32, mtime: u64, package: Option<&str>) -> Node {
        Node {
            kind: Kind::File(data.into()),
            mode,
            uid: 0,
            gid: 0,
            mtime,
            package: package.map(str::to_owned),
        }
    }

    pub fn symlink(target: &str, mtime: u64) -> Node {
        Node {
            kind: Kind::Symlink(target.to_owned()),
            mode: 0o777,
            uid: 0,
            gid: 0,
            mtime,
            package: None,
        }
    }

    /// Same content and metadata, whoever shipped it.
    pub fn same_as(&self, other: &Node) -> bool {
        self.kind == other.kind
            && self.mode == other.mode
            && self.uid == other.uid
            && self.gid == other.gid
    }
}

/// A layer's entries by normalized path (`usr/bin/python3`), in the byte order a tar gets.
pub type Tree = BTreeMap<String, Node>;
