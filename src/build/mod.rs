//! The build, stage by stage: spec chain -> verified indexes (or the lock) -> plan ->
//! downloads -> extraction -> per-level root filesystems -> layers -> OCI image -> outputs.
//! `build()` is the list of those steps; each stage lives in the module named for it.

mod cached;
mod chain;
mod debs;
mod env;
mod error;
mod family;
mod files;
mod image;
mod indexes;
mod lockfile;
mod plan;
pub mod provenance;
mod refresh;
mod release;
mod report;
mod trees;
mod variant;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use rayon::prelude::*;

pub use chain::Chain;
pub use env::expand_env;
pub use error::BuildError;
pub use family::{family_names, family_outputs};
pub use files::FilesError;
pub use indexes::{Indexes, load_indexes, load_indexes_of, load_pinned_indexes, source_url};
pub(crate) use indexes::{index_of, pin_of};
pub use lockfile::{
    LockOptions, LockState, Refresh, current_lock, lock_chain, lock_of_chain, lock_of_loaded,
    lock_state, make_lock, pin_from_lock, refresh_chain,
};
pub use plan::{LevelPlan, plan_levels, plans_from_lock};
pub use refresh::{locked_entries, locked_platforms, only_locked};
pub(crate) use release::locked_release;
pub use report::{BuildReport, LayerReport, PackageReport, SourceReport};
pub use variant::{BUSYBOX_APPLETS, DEFAULT_PATH, Variant};

use crate::content;
use crate::fetch::{Cache, Fetcher};
use crate::layer::Compression;
use crate::layercache::{self, Key, LayerCache};
use crate::lock::{self, Lock};
use crate::mirror::Mirrors;
use crate::oci::{self, Image, Store};
use crate::progress::Progress;
use crate::publish::{self, Destination, Publication};
use crate::registry::{PushOptions, PushReport};
use crate::sbom;
use crate::sign::{self, Signing, SigningKey};
use crate::spec::Platform;
use image::{PlatformBuild, PlatformJob};
use report::{Finished, Timings};
use trees::Debs;

/// Everything a build needs, validated by the CLI.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub spec: PathBuf,
    /// Where the image goes; none means `oci:out/<name>:<variant>`.
    pub outputs: Vec<Destination>,
    /// `--annotation`s, full keys; they override the spec's.
    pub annotations: BTreeMap<String, String>,
    pub push: PushOptions,
    pub variant: Variant,
    pub compression: Compression,
    pub mirrors: Vec<String>,
    /// `--auth-file`s and `--insecure` for the mirrors.
    pub access: crate::mirror::Access,
    pub cache_dir: PathBuf,
    pub jobs: usize,
    pub offline: bool,
    /// Fail unless the spec's lock exists and matches the spec.
    pub locked: bool,
    pub platforms: Option<Vec<Platform>>,
    pub source_date_epoch: Option<u64>,
    pub progress: bool,
    /// Reuse and keep layers in the layer cache (off with `--no-layer-cache`).
    pub layer_cache: bool,
    /// `--layer-cache`: a cache shared between machines, searched after the local one.
    pub shared_layer_cache: Option<layercache::Shared>,
    /// `--snapshot`: every archive source read from the snapshot archive at this timestamp.
    pub snapshot: Option<String>,
    /// `--vendor DIR` (absolute): every input from this directory (`compose vendor`), its
    /// release files the lock's, no network.
    pub vendor: Option<PathBuf>,
    /// `--sign`: sign every output with this key (loaded before anything is built).
    pub sign: Option<Arc<SigningKey>>,
    /// `--attest`: sign the provenance and the SBOM as in-toto statements (needs a lock).
    pub attest: bool,
}

/// Run a whole build of one spec: the family of one.
pub fn build(opts: &BuildOptions) -> Result<BuildReport> {
    let mut reports = build_family(std::slice::from_ref(opts))?;
    Ok(reports.remove(0))
}

/// One spec of the run: its chain, outputs, usable lock, and (once planned) every
/// platform's plan.
struct SpecPlan {
    chain: Chain,
    outputs: Vec<Destination>,
    lock: Option<Lock>,
    plans: Vec<Vec<LevelPlan>>,
}

/// One image built (its blobs in the run's store), not yet published.
struct BuiltImage {
    image: Image,
    built: Vec<PlatformBuild>,
    annotations: BTreeMap<String, String>,
    sbom: Vec<u8>,
}

/// Build several specs in one run (`compose build specs/*.toml`), one report each, in
/// order. Every spec is planned before anything is downloaded; each `.deb` any image still
/// needs is fetched and extracted once for all; a level two specs share (the same key) is
/// built once; every image is published only once all are built. The run's mirrors, cache,
/// jobs, `--offline`, progress and layer cache are the first spec's options.
pub fn build_family(family: &[BuildOptions]) -> Result<Vec<BuildReport>> {
    let Some(first) = family.first() else {
        return Ok(Vec::new());
    };
    let timings = Timings::new();
    let (mirrors, fetcher) = archive(first)?;
    let progress = Progress::new(first.progress);
    // Every spec loaded, then planned, first: a bad one fails the run before anything (its
    // indexes) or any package is downloaded.
    let mut specs = family.iter().map(load_spec).collect::<Result<Vec<_>>>()?;
    for (opts, spec) in family.iter().zip(&mut specs) {
        let lock = spec.lock.as_ref();
        spec.plans = plan_platforms(opts, &spec.chain, lock, &mirrors, &fetcher, &timings)?;
    }
    let parent = store_parent(specs.iter().flat_map(|s| &s.outputs), &first.cache_dir);
    let store = Store::create_in(&parent)?;
    // The layers the cache has, checked, into the store; only the rest need packages.
    let cache = layer_cache(first);
    let memo = cached::Memo::default();
    // Once more for each spec whose lock names packages no archive has: planned again.
    let (jobs, mut debs) = loop {
        let jobs: Vec<Vec<PlatformJob>> = family
            .iter()
            .zip(&specs)
            .map(|(opts, s)| platform_jobs(opts, &s.chain, &s.plans, &cache, &memo, &store))
            .collect();
        timings.mark("layer cache searched");
        let wanted = wanted(family, &specs, &jobs);
        let files = content::Store::create_in(&parent)?;
        match debs::fetch_debs(&fetcher, &mirrors, &wanted, &progress, files)? {
            Ok(debs) => break (jobs, debs),
            Err(gone) => {
                drop(wanted);
                drop(jobs);
                let replan = Replan {
                    mirrors: &mirrors,
                    fetcher: &fetcher,
                    timings: &timings,
                };
                replan.without_lock(family, &mut specs, gone)?;
            }
        }
    };
    let chains = specs.iter().map(|s| s.chain.levels.as_slice());
    debs.spec_files = files::store_files(chains, &fetcher, &debs.files)?;
    timings.mark("packages fetched and extracted");
    let run = Run {
        debs: &debs,
        store: &store,
        cache: &cache,
        progress: &progress,
        timings: &timings,
        mirrors: &mirrors,
    };
    let images = family
        .iter()
        .zip(&specs)
        .zip(jobs)
        .map(|((opts, s), jobs)| build_image(opts, s, jobs, &run))
        .collect::<Result<Vec<_>>>()?;
    // Only now, every image built, is any published: a failed build publishes nothing.
    let reports = family
        .iter()
        .zip(&specs)
        .zip(images)
        .map(|((opts, s), image)| publish_image(opts, s, image, &store, (&mirrors, &fetcher)))
        .collect::<Result<Vec<_>>>()?;
    timings.mark("published");
    Ok(reports)
}

/// What planning a spec again needs.
struct Replan<'a> {
    mirrors: &'a Mirrors,
    fetcher: &'a Fetcher,
    timings: &'a Timings,
}

impl Replan<'_> {
    /// The specs whose lock names packages that neither the mirror nor a snapshot archive
    /// has: with `--locked` an error naming them; else a warning, and each is planned from
    /// today's indexes as a build without a lock (the lock is left as it is: a build never
    /// writes it; `compose lock --update` does).
    fn without_lock(
        &self,
        family: &[BuildOptions],
        specs: &mut [SpecPlan],
        gone: Vec<debs::Gone>,
    ) -> Result<()> {
        for g in gone {
            let at = family
                .iter()
                .position(|o| o.spec == g.spec)
                .expect("a gone package's spec is of the run");
            let (opts, spec) = (&family[at], &mut specs[at]);
            let lock = lock::path_for(&opts.spec);
            if opts.locked {
                return Err(BuildError::LockedPackagesGone {
                    lock,
                    missing: g.missing,
                    spec: g.spec,
                    snapshot: self.mirrors.has_snapshot(),
                }
                .into());
            }
            eprintln!(
                "warning: `{}` names packages that neither the mirror nor a snapshot archive has: {}; resolving the image from the current indexes instead, so it will differ from the locked one (run `compose lock --update {}` to lock what is there now, or pass `--mirror {}=URL` to build the locked packages)",
                lock.display(),
                g.missing.join(", "),
                opts.spec.display(),
                crate::mirror::SNAPSHOT,
            );
            spec.lock = None;
            let (mirrors, fetcher, timings) = (self.mirrors, self.fetcher, self.timings);
            spec.plans = plan_platforms(opts, &spec.chain, None, mirrors, fetcher, timings)?;
        }
        Ok(())
    }
}

/// Where the run's inputs come from: the mirrors, or the vendored directory of `--vendor`.
fn archive(first: &BuildOptions) -> Result<(Mirrors, Fetcher)> {
    let cache = Cache::new(first.cache_dir.clone());
    let vendor = first.vendor.as_deref();
    let archive = (&first.mirrors[..], &first.access);
    archive_of(vendor, archive, cache, first.jobs, first.offline)
}

/// The mirrors and fetcher of a command: the vendored directory `vendor` (no network), or the
/// mirrors of `flags`, the environment and apt.
fn archive_of(
    vendor: Option<&Path>,
    (flags, access): (&[String], &crate::mirror::Access),
    cache: Cache,
    jobs: usize,
    offline: bool,
) -> Result<(Mirrors, Fetcher)> {
    Ok(match vendor {
        Some(dir) => (
            Mirrors::vendored(dir),
            Fetcher::vendored(cache, jobs, dir.to_path_buf())?,
        ),
        None => {
            let mirrors = Mirrors::of_host(flags, access)?;
            let credentials = mirrors.credentials().clone();
            let fetcher = Fetcher::new(cache, jobs, offline)?.with_credentials(credentials);
            (mirrors, fetcher)
        }
    })
}

/// What every image of the run builds with.
struct Run<'a> {
    debs: &'a Debs,
    store: &'a Store,
    cache: &'a LayerCache,
    progress: &'a Progress,
    timings: &'a Timings,
    /// What reports name (`Mirrors::reported`).
    mirrors: &'a Mirrors,
}

/// One spec's chain, outputs and usable lock (nothing downloaded), not yet planned.
fn load_spec(opts: &BuildOptions) -> Result<SpecPlan> {
    let mut chain = Chain::load(&opts.spec, opts.variant, opts.platforms.clone())?;
    if let Some(t) = &opts.snapshot {
        chain.pin_snapshot(t)?;
    }
    let outputs = outputs(opts, &chain)?;
    // The lock, when there is one that matches the spec: no indexes, no resolution.
    let lock = lockfile::usable_lock(&opts.spec, &chain.levels, opts.locked)?;
    if let Some(lock) = &lock {
        lockfile::pin_from_lock(&mut chain, lock);
    }
    Ok(SpecPlan {
        chain,
        outputs,
        lock,
        plans: Vec::new(),
    })
}

/// The plans whose packages the run still needs: every platform of every image with a
/// layer that neither the cache nor the run has, with the spec whose lock they came from.
fn wanted<'a>(
    family: &'a [BuildOptions],
    specs: &'a [SpecPlan],
    jobs: &[Vec<PlatformJob<'a>>],
) -> Vec<debs::Wanted<'a>> {
    family
        .iter()
        .zip(specs)
        .zip(jobs)
        .flat_map(|((opts, s), jobs)| {
            let locked = s.lock.as_ref().map(|l| (opts.spec.as_path(), l));
            jobs.iter()
                .filter(|j| !j.all_cached())
                .map(move |j| debs::Wanted {
                    levels: j.levels,
                    locked,
                })
        })
        .collect()
}

/// One image: every platform's layers and config, the manifests (and index), the SBOM.
fn build_image(
    opts: &BuildOptions,
    spec: &SpecPlan,
    jobs: Vec<PlatformJob>,
    run: &Run,
) -> Result<BuiltImage> {
    let chain = &spec.chain;
    let built = build_platforms(opts, chain, jobs, run)?;
    let created = built.iter().map(|b| b.epoch).max().unwrap_or(0);
    let top = chain.top();
    let annotations =
        image::annotations_for(&chain.name, created, &top.annotations, &opts.annotations);
    let image = image::assemble(run.store, &built, &chain.platforms, &annotations, created)?;
    let identity = image_identity(top, &annotations, &image);
    let files = sbom_files(&chain.levels, &run.debs.spec_files);
    let sbom = image_sbom(
        &chain.name,
        &spec.plans,
        &built,
        &files,
        created,
        &identity,
        run.mirrors,
    );
    Ok(BuiltImage {
        image,
        built,
        annotations,
        sbom,
    })
}

/// Write one built image to its outputs, then report it.
fn publish_image(
    opts: &BuildOptions,
    spec: &SpecPlan,
    image: BuiltImage,
    store: &Store,
    (mirrors, fetcher): (&Mirrors, &Fetcher),
) -> Result<BuildReport> {
    let chain = &spec.chain;
    let statements = match opts.attest {
        true => provenance::attestations(opts, spec, &image, mirrors, fetcher)?,
        false => Vec::new(),
    };
    let pushes = publish(opts, chain, store, &image, &spec.outputs, statements)?;
    BuildReport::new(Finished {
        chain,
        mirrors,
        outputs: &spec.outputs,
        image: &image.image,
        built: &image.built,
        annotations: image.annotations,
        pushes,
    })
}

/// The build's outputs (`oci:out/<name>:<variant>` when none is given), refusing a
/// `docker-archive:` for more than one platform.
fn outputs(opts: &BuildOptions, chain: &Chain) -> Result<Vec<Destination>, BuildError> {
    let outputs = if opts.outputs.is_empty() {
        vec![Destination::Layout {
            dir: PathBuf::from("out").join(&chain.name),
            tag: opts.variant.tag().into(),
        }]
    } else {
        opts.outputs.clone()
    };
    let platforms = chain.platforms.len();
    if platforms > 1
        && let Some(d) = outputs
            .iter()
            .find(|d| matches!(d, Destination::DockerArchive { .. }))
    {
        return Err(BuildError::OnePlatformOutput {
            output: d.to_string(),
            platforms,
        });
    }
    Ok(outputs)
}

/// Every platform's plan, each on its own (its own architecture's indexes), in parallel:
/// from the lock where it has the platform, else resolved from today's indexes.
fn plan_platforms(
    opts: &BuildOptions,
    chain: &Chain,
    lock: Option<&Lock>,
    mirrors: &Mirrors,
    fetcher: &Fetcher,
    timings: &Timings,
) -> Result<Vec<Vec<LevelPlan>>> {
    let sources = chain.sources();
    let lock_path = lock::path_for(&opts.spec);
    chain
        .platforms
        .par_iter()
        .map(|platform| -> Result<Vec<LevelPlan>> {
            let name = platform.to_string();
            let locked = lock.filter(|l| l.packages.iter().any(|p| p.platform == name));
            if let (Some(lock), None) = (lock, locked) {
                unlocked_platform(opts, chain, lock, platform)?;
            }
            let levels = match locked {
                Some(l) if opts.vendor.is_some() => {
                    crate::vendor::check_platform(
                        fetcher, mirrors, &sources, platform, l, &lock_path,
                    )?;
                    plans_from_lock(l, &lock_path, &chain.levels, &name, mirrors)?
                }
                Some(l) => plans_from_lock(l, &lock_path, &chain.levels, &name, mirrors)?,
                None => {
                    let indexes = load_indexes(fetcher, mirrors, &sources, platform)?;
                    timings.mark("indexes loaded");
                    plan_levels(&chain.levels, &indexes, &platform.debian_arch)?
                }
            };
            timings.mark("resolved");
            Ok(levels)
        })
        .collect()
}

/// A platform the lock does not have: an error with `--locked`, else a warning, and the
/// platform is resolved from today's indexes as a build without a lock would (issue 12:
/// locks keep amd64 and arm64 unless a spec asks for more).
fn unlocked_platform(
    opts: &BuildOptions,
    chain: &Chain,
    lock: &Lock,
    platform: &Platform,
) -> Result<(), BuildError> {
    let lock_path = lock::path_for(&opts.spec);
    if opts.locked {
        return Err(BuildError::LockWithoutPlatform {
            lock: lock_path,
            platform: platform.to_string(),
            spec: opts.spec.clone(),
        });
    }
    let mut all: Vec<String> = Vec::new();
    let locked = lock.packages.iter().map(|p| &p.platform);
    for name in locked
        .cloned()
        .chain(chain.platforms.iter().map(ToString::to_string))
    {
        if !all.contains(&name) {
            all.push(name);
        }
    }
    eprintln!(
        "warning: `{}` has no packages for platform `{platform}`; resolving it from the current indexes (to lock it: `compose lock --update --platform {} {}`)",
        lock_path.display(),
        all.join(","),
        opts.spec.display()
    );
    Ok(())
}

/// Where the build's blobs go: beside the first local output (so layouts can hard-link
/// them), else in the cache directory.
fn store_parent<'a>(
    outputs: impl IntoIterator<Item = &'a Destination>,
    cache_dir: &Path,
) -> PathBuf {
    outputs
        .into_iter()
        .find_map(Destination::local_path)
        .map_or_else(|| cache_dir.join("tmp"), oci::parent_dir)
}

/// The layer cache of this build: compose's cache directory's `layers/`, then the shared
/// cache of `--layer-cache` (a hit there is written back locally); none with
/// `--no-layer-cache`. A shared cache that cannot be opened is a warning.
fn layer_cache(opts: &BuildOptions) -> LayerCache {
    if !opts.layer_cache {
        return LayerCache::none();
    }
    let mut tiers: Vec<Box<dyn layercache::Tier>> = vec![Box::new(layercache::LocalDir::new(
        opts.cache_dir.join("layers"),
    ))];
    match &opts.shared_layer_cache {
        None => {}
        Some(layercache::Shared::Layout(dir)) => {
            tiers.push(Box::new(layercache::OciDir::new(dir.clone())));
        }
        Some(layercache::Shared::Registry(target)) => {
            match layercache::RegistryTier::open(target, &opts.push) {
                Ok(tier) => tiers.push(Box::new(tier)),
                Err(e) => layercache::warn(&e),
            }
        }
    }
    LayerCache::new(tiers)
}

/// Every platform's job: its plan, the cache key of each level, and each level the run
/// already has or the cache had, restored into the store.
fn platform_jobs<'a>(
    opts: &BuildOptions,
    chain: &'a Chain,
    plans: &'a [Vec<LevelPlan>],
    cache: &LayerCache,
    memo: &'a cached::Memo,
    store: &Store,
) -> Vec<PlatformJob<'a>> {
    let keys: Vec<Vec<Key>> = plans
        .iter()
        .zip(&chain.platforms)
        .map(|(levels, p)| cached::level_keys(opts, &chain.levels, levels, p))
        .collect();
    let hits = cached::restore(cache, memo, &keys, store, opts);
    plans
        .iter()
        .zip(&chain.platforms)
        .zip(keys)
        .zip(hits)
        .map(|(((levels, platform), keys), cached)| PlatformJob {
            platform,
            levels,
            keys,
            cached,
            memo,
        })
        .collect()
}

/// Every platform's trees, layers and config, in parallel.
fn build_platforms(
    opts: &BuildOptions,
    chain: &Chain,
    jobs: Vec<PlatformJob>,
    run: &Run,
) -> Result<Vec<PlatformBuild>> {
    let level_count: usize = jobs.iter().map(|j| j.levels.len()).sum();
    let bar = run.progress.count("compress", level_count as u64);
    let (debs, store, cache) = (run.debs, run.store, run.cache);
    let built = jobs
        .into_par_iter()
        .map(|job| {
            let tick = || bar.inc(1);
            let b = image::build_platform(opts, &chain.levels, job, debs, store, cache, &tick);
            run.timings.mark("layers written");
            b
        })
        .collect::<Result<_>>()?;
    bar.finish();
    Ok(built)
}

/// The image's own version and supplier, for the SBOM beside it: the
/// `org.opencontainers.image.version` annotation (spec or `--annotation`), else the image's
/// digest; `[sbom] supplier`, else the `org.opencontainers.image.vendor` annotation, else
/// `sbom::DEFAULT_SUPPLIER`.
fn image_identity(
    top: &crate::spec::Spec,
    annotations: &BTreeMap<String, String>,
    image: &Image,
) -> sbom::ImageIdentity {
    let annotation = |key: &str| annotations.get(&format!("org.opencontainers.image.{key}"));
    let vendor = annotation("vendor").and_then(|v| crate::spec::spdx_supplier(v).ok());
    let supplier = top.sbom_supplier.clone().or(vendor);
    sbom::ImageIdentity {
        version: annotation("version")
            .cloned()
            .unwrap_or_else(|| image.digest()),
        supplier: supplier.unwrap_or_else(|| sbom::DEFAULT_SUPPLIER.to_owned()),
    }
}

/// The whole image's SBOM (every package of every platform, with its download URL).
fn image_sbom(
    name: &str,
    plans: &[Vec<LevelPlan>],
    built: &[PlatformBuild],
    files: &[sbom::SbomFile],
    created: u64,
    identity: &sbom::ImageIdentity,
    mirrors: &Mirrors,
) -> Vec<u8> {
    let licenses: BTreeMap<&str, &Option<String>> = built
        .iter()
        .flat_map(|b| &b.licenses)
        .map(|(sha256, l)| (sha256.as_str(), l))
        .collect();
    let planned: Vec<_> = plans.iter().flatten().flat_map(|l| &l.packages).collect();
    // The URL a package has on its mirror (`NOASSERTION` when there is none to name).
    let urls: Vec<Option<String>> = planned.iter().map(|p| mirrors.reported(&p.url)).collect();
    let packages: Vec<sbom::SbomPackage> = planned
        .iter()
        .zip(&urls)
        .map(|(p, url)| sbom::SbomPackage {
            package: p,
            license: licenses.get(p.sha256.as_str()).copied().cloned().flatten(),
            url: url.as_deref(),
        })
        .collect();
    sbom::document(
        name,
        &packages,
        files,
        &oci::rfc3339(created),
        Some(identity),
    )
}

/// The `[[files]]` of every level of `chain`, as the SBOM beside the output lists them.
fn sbom_files(chain: &[crate::spec::Spec], stored: &files::StoredFiles) -> Vec<sbom::SbomFile> {
    let mut out: Vec<sbom::SbomFile> = chain
        .iter()
        .flat_map(|s| &s.files)
        .map(|f| sbom::SbomFile {
            path: f.path.clone(),
            sha256: f.sha256.clone(),
            sha1: stored[&f.sha256].sha1.clone(),
        })
        .collect();
    // The certificates each level installs under /usr/local/share/ca-certificates/.
    for spec in chain {
        for c in spec.inhouse.own_certificates() {
            out.push(sbom::SbomFile {
                path: format!(
                    "/{}/{}.crt",
                    crate::rootfs::inhouse::LOCAL_CERTIFICATES,
                    c.name
                ),
                sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(c.pem.as_bytes())),
                sha1: hex::encode(<sha1::Sha1 as sha1::Digest>::digest(c.pem.as_bytes())),
            });
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Write the image (and its SBOM, signatures and `statements`) to every output, pushes
/// included.
fn publish(
    opts: &BuildOptions,
    chain: &Chain,
    store: &Store,
    built: &BuiltImage,
    outputs: &[Destination],
    statements: Vec<sign::Statement>,
) -> Result<Vec<PushReport>> {
    let image = &built.image;
    let pushing = outputs
        .iter()
        .any(|d| matches!(d, Destination::Registry(_)));
    let push_total: u64 = if pushing {
        image.blobs().iter().map(|b| b.size).sum()
    } else {
        0
    };
    let bar = Progress::new(opts.progress && push_total > 0).bytes("push", push_total);
    let pushes = publish::publish(
        store,
        image,
        &Publication {
            destinations: outputs,
            docker_name: format!("{}:{}", chain.name, opts.variant.tag()),
            push: &opts.push,
            sbom: &built.sbom,
            on_push_bytes: &|n| bar.inc(n),
            signing: opts.sign.as_ref().map(|key| Signing {
                key: key.clone(),
                statements,
            }),
        },
    )?;
    bar.finish();
    for p in &pushes {
        eprintln!("{p}");
    }
    Ok(pushes)
}
