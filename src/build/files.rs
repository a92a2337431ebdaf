//! A spec's `[[files]]`: their bytes into the build's `content::Store` (a source file beside
//! the spec, or a URL through `fetch::Fetcher`, checked against the SHA256 it is pinned
//! to), then into the tree of their own level (parents made, no path through a symlink, no
//! file of the image replaced unless `replace = true`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use sha1::{Digest, Sha1};

use crate::content::Store;
use anyhow::Context;

use crate::fetch::{Fetcher, MAX_SPEC_FILE};
use crate::spec::{File, FileOrigin, Spec};
use crate::tree::{Content, Kind, Node, Tree};

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` changed since the spec was loaded (sha256 {actual}, was {expected})", path.display())]
    Changed {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("cannot keep `{path}` of `[[files]]` in the build's file store")]
    Store {
        path: String,
        #[source]
        source: crate::content::ContentError,
    },
    #[error("`{path}` of `[[files]]` in `{spec}` would replace the file of `{owner}`")]
    Replaces {
        spec: String,
        path: String,
        owner: String,
    },
    #[error(
        "`{path}` of `[[files]]` in `{spec}` would replace a file that `/{link}` is a hard link to"
    )]
    Linked {
        spec: String,
        path: String,
        link: String,
    },
    #[error("`{path}` of `[[files]]` in `{spec}` is a directory of the image")]
    Directory { spec: String, path: String },
    #[error(
        "`{path}` of `[[files]]` in `{spec}` lies under `/{parent}`, which is {what} in the image"
    )]
    Parent {
        spec: String,
        path: String,
        parent: String,
        what: &'static str,
    },
}

impl crate::error::Hint for FilesError {
    fn hint(&self) -> Option<String> {
        match self {
            FilesError::Replaces { .. } => Some(
                "set `replace = true` on the entry if the image should have your file instead"
                    .to_owned(),
            ),
            FilesError::Changed { .. } => Some("run the build again".to_owned()),
            _ => None,
        }
    }
}

/// A `[[files]]` file in the store: its contents and its SHA1 (for the SBOM).
#[derive(Debug, Clone)]
pub struct Stored {
    pub content: Content,
    pub sha1: String,
}

/// The stored files of a run, by SHA256 (hex).
pub type StoredFiles = BTreeMap<String, Stored>;

/// Put every `[[files]]` file of `chains` into `store` (each once, by SHA256), checked
/// against the SHA256 the spec has for it.
pub fn store_files<'a>(
    chains: impl IntoIterator<Item = &'a [Spec]>,
    fetcher: &Fetcher,
    store: &Store,
) -> anyhow::Result<StoredFiles> {
    let mut stored = StoredFiles::new();
    for file in chains.into_iter().flatten().flat_map(|s| &s.files) {
        if stored.contains_key(&file.sha256) {
            continue;
        }
        let one = store_one(file, fetcher, store)?;
        stored.insert(file.sha256.clone(), one);
    }
    Ok(stored)
}

/// One file into the store (a fetch error stays the `FetchError` it is, for its hint).
fn store_one(file: &File, fetcher: &Fetcher, store: &Store) -> anyhow::Result<Stored> {
    let path = match &file.origin {
        FileOrigin::Source { path, .. } => path.clone(),
        FileOrigin::Url(url) => fetcher
            .get_pinned(url, &file.sha256, MAX_SPEC_FILE)
            .with_context(|| format!("cannot fetch `{}` of `[[files]]`", file.path))?,
    };
    let read = |source| FilesError::Read {
        path: path.clone(),
        source,
    };
    let opened = fs_err::File::open(&path).map_err(read)?;
    let mut reader = Sha1Reader {
        inner: opened.take(MAX_SPEC_FILE.bytes + 1),
        sha1: Sha1::new(),
    };
    let content = store.put(&mut reader).map_err(|source| FilesError::Store {
        path: file.path.clone(),
        source,
    })?;
    let actual = hex::encode(content.sha256);
    if actual != file.sha256 {
        return Err(FilesError::Changed {
            path,
            expected: file.sha256.clone(),
            actual,
        }
        .into());
    }
    Ok(Stored {
        content,
        sha1: hex::encode(reader.sha1.finalize()),
    })
}

/// Hashes what passes through with SHA1.
struct Sha1Reader<R> {
    inner: R,
    sha1: Sha1,
}

impl<R: Read> Read for Sha1Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha1.update(&buf[..n]);
        Ok(n)
    }
}

/// Add `spec`'s files to its level's `tree` on top of `lower`, with mtime `epoch`; missing
/// parents are made (root, 0755).
pub fn add_files(
    tree: &mut Tree,
    lower: &Tree,
    spec: &Spec,
    stored: &StoredFiles,
    epoch: u64,
) -> Result<(), FilesError> {
    for file in &spec.files {
        let key = file.path.trim_start_matches('/').to_owned();
        check_parents(tree, lower, spec, file, &key, epoch)?;
        if let Some(old) = tree.get(&key).or_else(|| lower.get(&key)) {
            if old.kind == Kind::Dir {
                return Err(FilesError::Directory {
                    spec: spec.name.clone(),
                    path: file.path.clone(),
                });
            }
            if !file.replace {
                return Err(FilesError::Replaces {
                    spec: spec.name.clone(),
                    path: file.path.clone(),
                    owner: old.package.clone().map_or_else(
                        || "compose (a generated file or a lower level's `[[files]]`)".to_owned(),
                        |p| format!("package `{p}`"),
                    ),
                });
            }
        }
        // The file other paths of this layer are hard links to: they would change with it.
        if let Some((link, _)) = tree
            .iter()
            .find(|(_, n)| matches!(&n.kind, Kind::HardLink(t) if *t == key))
        {
            return Err(FilesError::Linked {
                spec: spec.name.clone(),
                path: file.path.clone(),
                link: link.clone(),
            });
        }
        let content = stored
            .get(&file.sha256)
            .expect("every file of the chain is stored")
            .content
            .clone();
        let node = Node {
            kind: Kind::File(content),
            mode: file.mode,
            uid: file.uid,
            gid: file.gid,
            mtime: epoch,
            package: None,
        };
        tree.insert(key, node);
    }
    Ok(())
}

/// Every parent of `key` is a directory of the image, or missing (then made).
fn check_parents(
    tree: &mut Tree,
    lower: &Tree,
    spec: &Spec,
    file: &File,
    key: &str,
    epoch: u64,
) -> Result<(), FilesError> {
    let mut parents: Vec<&str> = Vec::new();
    let mut p = key;
    while let Some((parent, _)) = p.rsplit_once('/') {
        parents.push(parent);
        p = parent;
    }
    for parent in parents.into_iter().rev() {
        match tree
            .get(parent)
            .or_else(|| lower.get(parent))
            .map(|n| &n.kind)
        {
            None => {
                tree.insert(parent.to_owned(), Node::dir(0o755, 0, 0, epoch));
            }
            Some(Kind::Dir) => {}
            Some(other) => {
                return Err(FilesError::Parent {
                    spec: spec.name.clone(),
                    path: file.path.clone(),
                    parent: parent.to_owned(),
                    what: if matches!(other, Kind::Symlink(_)) {
                        "a symlink"
                    } else {
                        "not a directory"
                    },
                });
            }
        }
    }
    Ok(())
}
