//! The two sides `compose diff` compares: a lock file, or an image whose packages are read
//! from its `status.d` (and compose's SBOM inside it), both as a `Lock`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use crate::fetch::Cache;
use crate::lock::{LOCK_VERSION, Lock, LockedPackage};
use crate::registry::PushOptions;

/// One side of a comparison.
#[derive(Debug, Clone)]
pub struct Side {
    /// How the side is named in messages (`specs/python3.lock`, `oci:out/python3`).
    pub what: String,
    pub lock: Lock,
    /// Source packages the side states (an image's `Source:`), by platform and package.
    pub sources: BTreeMap<(String, String), String>,
    /// What reading it could not see.
    pub notes: Vec<String>,
}

impl Side {
    /// A lock as a side.
    pub fn of_lock(what: String, lock: Lock) -> Side {
        Side {
            what,
            lock,
            sources: BTreeMap::new(),
            notes: Vec::new(),
        }
    }
}

/// `text` as a side: an image reference (`oci:`, `oci-archive:`, `docker-archive:`,
/// `docker://`), else the path of a lock file. An image's `.deb`s are known by the SHA256
/// its SBOM gives, and can be fetched (for their changelogs) when the cache has a copy.
pub fn side(text: &str, pull: &PushOptions, cache: &Cache) -> Result<Side> {
    if !crate::installed::looks_like_image(text) {
        let lock = Lock::read(Path::new(text))?;
        return Ok(Side::of_lock(text.to_owned(), lock));
    }
    let image = crate::installed::read(text, pull)?;
    let mut sources = BTreeMap::new();
    let mut packages = Vec::new();
    for p in image.packages {
        // An image names its `.deb`s by hash only: the size to fetch one by is the cached
        // copy's (checked with the hash when used), else unknown.
        let sha256 = p.sha256.unwrap_or_default();
        let size = cache.cached_size(&sha256).unwrap_or(0);
        sources.insert((p.platform.clone(), p.name.clone()), p.source.clone());
        packages.push(LockedPackage {
            platform: p.platform,
            layer: String::new(),
            name: p.name,
            version: p.version,
            architecture: p.architecture,
            source: String::new(),
            suite: String::new(),
            filename: p.filename.unwrap_or_default(),
            size,
            sha256,
        });
    }
    let notes = image
        .warnings
        .iter()
        .map(|w| format!("{text}: {w}"))
        .collect();
    Ok(Side {
        what: text.to_owned(),
        lock: Lock {
            version: LOCK_VERSION,
            name: image.reference,
            layers: Vec::new(),
            inputs: BTreeMap::new(),
            sources: Vec::new(),
            packages,
            files: Vec::new(),
        },
        sources,
        notes,
    })
}

/// A lock also records its debug variant's layer (`NAME-debug`, on top); an image built
/// without that variant does not hold it. Compared with such an image, the lock's side
/// leaves that layer out, so its packages do not show as removed (or added).
pub fn align(a: &mut Side, b: &mut Side) {
    fn drop_debug(lock_side: &mut Side, image: &Side) {
        let Some(top) = lock_side.lock.layers.last().cloned() else {
            return;
        };
        if !top.ends_with("-debug") {
            return;
        }
        let held = lock_side
            .lock
            .packages
            .iter()
            .filter(|p| p.layer == top)
            .any(|p| {
                image
                    .lock
                    .packages
                    .iter()
                    .any(|i| i.platform == p.platform && i.name == p.name)
            });
        if !held {
            lock_side.lock.packages.retain(|p| p.layer != top);
            lock_side.notes.push(format!(
                "{}: the debug layer `{top}` is left out (the image does not hold it)",
                lock_side.what
            ));
        }
    }
    let is_image = |s: &Side| s.lock.layers.is_empty();
    match (is_image(a), is_image(b)) {
        (false, true) => drop_debug(a, b),
        (true, false) => drop_debug(b, a),
        _ => {}
    }
}
