//! A neutral file tree: what a layer holds, by path. `rootfs` fills it from packages and
//! generated files, `layer` writes it as a tar; nothing here knows about Debian or reads a
//! file: a regular file is its `Content` (digest and size).

use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// A regular file's contents, named by SHA256 and size (two contents are equal when those
/// are). Package files live in the build's `content::Store`; small generated files carry
/// their bytes (`inline`). The digest is what a layer cache can key on.
#[derive(Debug, Clone)]
pub struct Content {
    pub sha256: [u8; 32],
    pub size: u64,
    pub inline: Option<Arc<[u8]>>,
}

impl PartialEq for Content {
    fn eq(&self, other: &Content) -> bool {
        self.sha256 == other.sha256 && self.size == other.size
    }
}

impl Eq for Content {}

impl Content {
    /// Contents held by the tree itself (a generated file).
    pub fn inline(bytes: impl Into<Arc<[u8]>>) -> Content {
        let bytes: Arc<[u8]> = bytes.into();
        Content {
            sha256: Sha256::digest(&bytes).into(),
            size: bytes.len() as u64,
            inline: Some(bytes),
        }
    }

    /// Contents kept in a store under their digest.
    pub fn stored(sha256: [u8; 32], size: u64) -> Content {
        Content {
            sha256,
            size,
            inline: None,
        }
    }
}

impl From<&[u8]> for Content {
    fn from(bytes: &[u8]) -> Content {
        Content::inline(bytes)
    }
}

impl From<Vec<u8>> for Content {
    fn from(bytes: Vec<u8>) -> Content {
        Content::inline(bytes)
    }
}

/// What an entry of a tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File(Content),
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

    /// A generated file holding `data`.
    pub fn file(data: impl Into<Arc<[u8]>>, mode: u32, mtime: u64, package: Option<&str>) -> Node {
        Node {
            kind: Kind::File(Content::inline(data)),
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
