//! What the layer cache needs from a build: the key of every level (the digest of everything
//! that decides its layer's bytes), the record kept beside each layer (what the image config
//! and the SBOM need, so a build whose layers all hit reads no `.deb`), restoring hits, and
//! the run's memo of the layers already in its store (a family builds a shared level once).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::BuildOptions;
use super::plan::LevelPlan;
use crate::layer::Layer;
use crate::layercache::{Entry, Key, LayerCache};
use crate::oci::Store;
use crate::spec::{Platform, Spec};

/// Bump when what compose writes into a layer changes in a way the binary's own hash
/// would not show (it always does; this documents the format of the key itself).
const KEY_FORMAT: &str = "compose layer key v1";

/// The build's record of one level's layer, kept in its cache entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelMeta {
    /// The level's epoch (mtimes and the config's `created`).
    pub epoch: u64,
    /// Bytes of file contents in the level.
    pub content: u64,
    /// Whether the level holds the CA bundle (the config then sets `SSL_CERT_FILE`).
    pub ca_bundle: bool,
    /// The declared licence of each of the level's packages, by `.deb` SHA256.
    pub licenses: BTreeMap<String, Option<String>>,
}

/// A level whose layer came from the cache: the blob is in the build's store, checked.
#[derive(Debug, Clone)]
pub struct CachedLevel {
    pub layer: Layer,
    pub meta: LevelMeta,
}

/// The layers of this run already in its store, by key: the ones restored from the cache
/// and the ones written. Consulted before the cache, so a level two specs of a family share
/// (the same key: the same chain below) is restored or built once per run, cache or not.
#[derive(Debug, Default)]
pub struct Memo(Mutex<HashMap<Key, CachedLevel>>);

impl Memo {
    /// The level under `key`, if this run already has its blob in the store.
    pub fn get(&self, key: &Key) -> Option<CachedLevel> {
        self.lock().get(key).cloned()
    }

    /// Remember a level whose blob is now in the run's store.
    pub fn put(&self, key: &Key, level: CachedLevel) {
        self.lock().insert(key.clone(), level);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, CachedLevel>> {
        // A panic elsewhere cannot leave the map half-written: take it as it is.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The SHA256 of the running compose binary: any change to compose (a release, a local
/// edit) changes every key, so no layer written by other code is ever reused.
fn compose_identity() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let exe = std::env::current_exe().and_then(|p| {
            let mut f = fs_err::File::open(p)?;
            let mut h = <sha2::Sha256 as sha2::Digest>::new();
            std::io::copy(&mut f, &mut h)?;
            Ok(hex::encode(sha2::Digest::finalize(h)))
        });
        // Without its own bytes, the version alone (a cache across builds of one version).
        exe.unwrap_or_else(|_| format!("version {}", env!("CARGO_PKG_VERSION")))
    })
}

/// What of one level's spec decides its layer. Destructured whole, so a new spec field
/// does not compile until someone decides whether it belongs in the key.
fn spec_part(spec: &Spec) -> String {
    let Spec {
        name,
        path: _,      // where the spec is: never in the layer
        text: _,      // its bytes: what they decide is below
        platforms: _, // the platform being built is keyed on its own
        sources: _,   // the packages are keyed by SHA256 (a `snapshot` only decides which)
        include: _,   // resolved into the packages
        exclude: _,   // resolved into the packages
        paths,
        config: _, // the image config, not the layer
        symlinks,
        partial,
        java_cacerts,
        debug_include: _, // resolved into the packages
        annotations: _,   // the manifests, not the layer
        sbom_supplier: _, // the SBOM beside the output only; a layer's SBOM never has it
        files,
        inhouse,
    } = spec;
    let mut part = format!(
        "{name}\n{paths:?}\n{symlinks:?}\n{partial:?}\n{java_cacerts}\n{}",
        inhouse_part(inhouse)
    );
    // Each file by what lands in the layer: its bytes by SHA256, never where they came from.
    for f in files {
        let crate::spec::File {
            path,
            origin: _, // the bytes are keyed by `sha256`
            sha256,
            mode,
            uid,
            gid,
            replace,
        } = f;
        part.push_str(&format!(
            "\nfile {path} {sha256} {mode:o} {uid} {gid} {replace}"
        ));
    }
    part
}

/// The in-house sections of a level: certificates by their bytes (hashed: their contents
/// decide the layer, the files' paths do not), accounts and directories as validated.
fn inhouse_part(inhouse: &crate::spec::inhouse::InHouse) -> String {
    let crate::spec::inhouse::InHouse {
        level,
        certificates,
        certificate_files: _, // where the files are: their certificates are below
        groups,
        users,
        directories,
    } = inhouse;
    let certificates: Vec<String> = certificates
        .iter()
        .map(|c| {
            let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&c.der));
            format!("{} {} {digest}", c.level, c.name)
        })
        .collect();
    format!("{level}\n{certificates:?}\n{groups:?}\n{users:?}\n{directories:?}")
}

/// The key of every level of one platform, bottom first: each covers its level's spec and
/// packages, the platform, compression, `SOURCE_DATE_EPOCH`, compose itself, and the key
/// of the level below (so a change below changes every key above).
pub fn level_keys(
    opts: &BuildOptions,
    chain: &[Spec],
    levels: &[LevelPlan],
    platform: &Platform,
) -> Vec<Key> {
    let mut below = String::new();
    let mut keys = Vec::with_capacity(levels.len());
    for (i, (spec, level)) in chain.iter().zip(levels).enumerate() {
        let packages: String = level
            .packages
            .iter()
            .map(|p| format!("{} {} {} {}\n", p.name, p.version, p.architecture, p.sha256))
            .collect();
        let parts = [
            KEY_FORMAT.to_owned(),
            compose_identity().to_owned(),
            format!("{platform} {}", platform.debian_arch),
            opts.compression.media_type().to_owned(),
            format!("{:?}", opts.source_date_epoch),
            i.to_string(),
            below.clone(),
            spec_part(spec),
            packages,
        ];
        let key = Key::of(parts.iter().map(String::as_bytes));
        below = key.to_string();
        keys.push(key);
    }
    keys
}

/// Look every key up, in the run's memo first, and copy each cache hit's blob into the
/// store through its digest check (then into the memo), in parallel. A miss, or a hit whose
/// blob or record is not right, is `None`.
pub fn restore(
    cache: &LayerCache,
    memo: &Memo,
    keys: &[Vec<Key>],
    store: &Store,
    opts: &BuildOptions,
) -> Vec<Vec<Option<CachedLevel>>> {
    keys.par_iter()
        .map(|platform| {
            platform
                .par_iter()
                .map(|key| {
                    memo.get(key).or_else(|| {
                        let hit = restore_one(cache, key, store, opts)?;
                        memo.put(key, hit.clone());
                        Some(hit)
                    })
                })
                .collect()
        })
        .collect()
}

fn restore_one(
    cache: &LayerCache,
    key: &Key,
    store: &Store,
    opts: &BuildOptions,
) -> Option<CachedLevel> {
    let (tier, entry) = cache.lookup(key)?;
    let media_type = opts.compression.media_type();
    let meta: LevelMeta = serde_json::from_value(entry.meta.clone()).ok()?;
    if entry.media_type != media_type {
        return None;
    }
    let scratch = store.scratch(&format!("cached-{key}"));
    if !cache.restore(tier, key, &entry, &scratch) {
        return None;
    }
    if let Err(e) = store.adopt(&scratch, &entry.digest) {
        eprintln!("warning: {e}");
        return None;
    }
    Some(CachedLevel {
        layer: Layer {
            digest: entry.digest,
            diff_id: entry.diff_id,
            size: entry.size,
            uncompressed_size: entry.uncompressed_size,
            media_type,
        },
        meta,
    })
}

/// Keep a layer just written (its blob in the store) in the cache.
pub fn save(cache: &LayerCache, key: &Key, layer: &Layer, meta: &LevelMeta, store: &Store) {
    if !cache.is_enabled() {
        return;
    }
    let entry = Entry {
        digest: layer.digest.clone(),
        diff_id: layer.diff_id.clone(),
        size: layer.size,
        uncompressed_size: layer.uncompressed_size,
        media_type: layer.media_type.to_owned(),
        meta: serde_json::to_value(meta).expect("a level record serializes"),
    };
    cache.save(key, &entry, &store.blob_path(&entry.digest));
}
