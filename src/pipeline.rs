//! The build, stage by stage: spec -> verified indexes -> resolution -> downloads ->
//! extraction -> per-level root filesystems -> layers -> OCI layout.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use serde::Serialize;

use crate::deb::{self, Deb};
use crate::fetch::{Alternatives, Cache, FetchError, Fetcher, Item};
use crate::layer::{self, Compression, Layer};
use crate::lock::{self, Lock, LockedPackage, LockedSource};
use crate::mirror::Mirrors;
use crate::oci::{self, BlobRef, Image, ImageInput, ManifestEntry, OciPlatform, Store};
use crate::package::{Origin, PackageEntry};
use crate::progress::Progress;
use crate::publish::{self, Destination, Publication};
use crate::registry::{PushOptions, PushReport};
use crate::repo::keyring::Keyring;
use crate::repo::packages;
use crate::repo::release::{FileHash, Release};
use crate::resolve::{self, Universe};
use crate::rootfs::{self, Tree, generated};
use crate::sbom;
use crate::spec::{Location, Platform, Source, Spec, template};

/// The distroless image variants: `latest`, `nonroot`, `debug`, `debug-nonroot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Variant {
    /// Run as `nonroot` (65532) from `/home/nonroot`.
    pub nonroot: bool,
    /// Add a layer with Debian's `busybox-static` under `/busybox`, the entrypoint a shell.
    pub debug: bool,
}

/// Busybox applets linked into `/busybox` by the debug variant (Debian's busybox-static has
/// them all; the binary itself is never run to list them).
pub const BUSYBOX_APPLETS: &[&str] = &[
    "[",
    "[[",
    "ash",
    "awk",
    "base64",
    "basename",
    "cat",
    "chgrp",
    "chmod",
    "chown",
    "clear",
    "cmp",
    "cp",
    "cut",
    "date",
    "dd",
    "df",
    "diff",
    "dirname",
    "du",
    "echo",
    "egrep",
    "env",
    "expr",
    "false",
    "fgrep",
    "find",
    "free",
    "grep",
    "gunzip",
    "gzip",
    "head",
    "hexdump",
    "hostname",
    "id",
    "kill",
    "less",
    "ln",
    "ls",
    "md5sum",
    "mkdir",
    "mktemp",
    "more",
    "mv",
    "nc",
    "netstat",
    "nslookup",
    "od",
    "ping",
    "printenv",
    "printf",
    "ps",
    "pwd",
    "readlink",
    "realpath",
    "rm",
    "rmdir",
    "sed",
    "seq",
    "sh",
    "sha1sum",
    "sha256sum",
    "sleep",
    "sort",
    "stat",
    "strings",
    "tail",
    "tar",
    "tee",
    "test",
    "top",
    "touch",
    "tr",
    "true",
    "uname",
    "uniq",
    "uptime",
    "vi",
    "watch",
    "wc",
    "wget",
    "which",
    "whoami",
    "xargs",
    "zcat",
];

impl Variant {
    pub fn parse(text: &str) -> Result<Variant, String> {
        Ok(match text {
            "latest" => Variant::default(),
            "nonroot" => Variant {
                nonroot: true,
                debug: false,
            },
            "debug" => Variant {
                nonroot: false,
                debug: true,
            },
            "debug-nonroot" => Variant {
                nonroot: true,
                debug: true,
            },
            _ => {
                return Err(format!(
                    "unknown variant `{text}`: expected latest, nonroot, debug or debug-nonroot"
                ));
            }
        })
    }

    /// The tag distroless uses for this variant.
    pub fn tag(self) -> &'static str {
        match (self.debug, self.nonroot) {
            (false, false) => "latest",
            (false, true) => "nonroot",
            (true, false) => "debug",
            (true, true) => "debug-nonroot",
        }
    }

    /// The user the image runs as: root for `latest` and `debug`, `nonroot` (65532)
    /// otherwise, whatever the image (as distroless's tags).
    pub fn user(self) -> &'static str {
        if self.nonroot { "65532" } else { "0" }
    }

    /// The working directory that goes with `user`.
    pub fn workdir(self) -> &'static str {
        if self.nonroot { "/home/nonroot" } else { "/" }
    }

    /// Apply the variant to a chain: for debug, a layer on top with busybox and the spec's
    /// `[debug] include`, `/busybox` on `PATH`. The debug image starts what the chain starts
    /// (a runtime's entrypoint and cmd); a chain that starts nothing starts `/busybox/sh`.
    /// The user is not part of the chain: see `user`.
    pub fn apply(self, chain: &mut Vec<Spec>) {
        if !self.debug {
            return;
        }
        let mut debug = chain.last().expect("a chain has a level").clone();
        debug.name = format!("{}-debug", debug.name);
        debug.include = std::iter::once("busybox-static".to_owned())
            .chain(debug.debug_include.iter().cloned())
            .collect();
        debug.partial = Vec::new();
        debug.symlinks = std::iter::once("busybox")
            .chain(BUSYBOX_APPLETS.iter().copied())
            .map(|a| crate::spec::Symlink {
                path: format!("/busybox/{a}"),
                target: "/usr/bin/busybox".to_owned(),
            })
            .collect();
        if debug.config.entrypoint.is_none() && debug.config.cmd.is_none() {
            debug.config.entrypoint = Some(vec!["/busybox/sh".to_owned()]);
        }
        let path = debug
            .config
            .env
            .get("PATH")
            .cloned()
            .unwrap_or_else(|| DEFAULT_PATH.to_owned());
        debug
            .config
            .env
            .insert("PATH".to_owned(), format!("{path}:/busybox"));
        chain.push(debug);
    }
}

/// The `PATH` every image gets unless its spec sets one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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
    pub cache_dir: PathBuf,
    pub jobs: usize,
    pub offline: bool,
    /// Fail unless the spec's lock exists and matches the spec.
    pub locked: bool,
    pub platforms: Option<Vec<Platform>>,
    pub source_date_epoch: Option<u64>,
    pub progress: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageReport {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The spec level (layer) that installed it.
    pub layer: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    pub url: String,
    pub suites: Vec<String>,
    pub components: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    pub digest: String,
    pub diff_id: String,
    pub size: u64,
    pub uncompressed_size: u64,
    pub spec: String,
    pub platform: String,
}

/// What `compose build` reports.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub name: String,
    pub digest: String,
    /// The first of `outputs`.
    pub output: String,
    pub outputs: Vec<String>,
    /// What each `docker://` output did.
    pub pushes: Vec<PushReport>,
    /// The annotations of the manifests and index.
    pub annotations: BTreeMap<String, String>,
    pub platforms: Vec<String>,
    /// The archives the packages came from, with mirrors resolved.
    pub sources: Vec<SourceReport>,
    pub packages: Vec<PackageReport>,
    pub layers: Vec<LayerReport>,
    /// Bytes of all blobs (compressed layers, configs, manifests).
    pub size: u64,
    /// Bytes of the layer tars (headers and padding included).
    pub uncompressed_size: u64,
    /// Bytes of file contents (what `du` would count, about what dpkg's Installed-Size says).
    pub content_size: u64,
    /// The SPDX document of the whole image, written beside the first local output.
    pub sbom: Option<String>,
}

/// Verified indexes of the sources of one platform.
pub struct Indexes {
    pub origins: Vec<Origin>,
    pub packages: Vec<PackageEntry>,
    /// `(location, suite, sha256 of the verified Release text, Date)` of every suite.
    pub releases: Vec<(String, String, String, String)>,
}

/// The `by-hash` copy of the index `name` of a suite
/// (`main/binary-amd64/by-hash/SHA256/<hex>`).
fn by_hash_url(base: &str, suite: &str, name: &str, sha256: &str) -> String {
    let dir = name.rsplit_once('/').map_or("", |(dir, _)| dir);
    format!("{base}/dists/{suite}/{dir}/by-hash/SHA256/{sha256}")
}

/// One level of one platform, resolved.
pub struct LevelPlan {
    /// The packages this level adds, sorted by name (partial packages included).
    pub entries: Vec<PackageEntry>,
    /// The download URL of each entry.
    pub urls: Vec<String>,
    /// How the resolver chose them.
    pub resolution: resolve::Resolution,
}

fn oci_platform(p: &Platform) -> OciPlatform {
    OciPlatform {
        os: p.os.clone(),
        architecture: p.architecture.clone(),
        variant: p.variant.clone(),
    }
}

pub fn source_url(source: &Source, mirrors: &Mirrors) -> Result<String> {
    Ok(match &source.location {
        Location::Url(u) => u.clone(),
        Location::Archive(a) => mirrors.resolve(a)?,
    })
}

/// Fetch and verify InRelease and the Packages indexes of `sources` for `platform`.
pub fn load_indexes(
    fetcher: &Fetcher,
    mirrors: &Mirrors,
    sources: &[Source],
    platform: &Platform,
) -> Result<Indexes> {
    let arch = platform.debian_arch.as_str();
    // Every suite's InRelease, fetched and verified in parallel, kept in spec order.
    let mut suites = Vec::new();
    for source in sources {
        let url = source_url(source, mirrors)?;
        let keyring = Arc::new(match &source.signed_by {
            Some(path) => Keyring::from_files(&[path.as_path()])?,
            None => Keyring::debian()?,
        });
        for suite in &source.suites {
            suites.push((source, url.clone(), suite, keyring.clone()));
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let releases: Vec<(Release, String)> = suites
        .par_iter()
        .map(|(source, url, suite, keyring)| {
            verified_release(fetcher, source, url, suite, keyring, now)
        })
        .collect::<Result<_>>()?;
    let release_facts = suites
        .iter()
        .zip(&releases)
        .map(|((source, _, suite, _), (release, hash))| {
            (
                source.location.to_string(),
                (*suite).clone(),
                hash.clone(),
                release.date.clone().unwrap_or_default(),
            )
        })
        .collect();
    let mut origins = Vec::new();
    // Every copy of each index the suite lists, best first: gzip (40% larger than xz but it
    // decodes four times faster, which matters more than the bytes on any link faster than a
    // few MB/s), then xz, then uncompressed; each by its hash (`by-hash/SHA256/...`) where the
    // suite offers it, then by name. apt goes down such a list too: a mirror caught mid-sync
    // serves the file its InRelease names under `by-hash/` while the plain path already (or
    // still) holds another version, and a stale cache may hold one form but not another.
    let mut groups = Vec::new();
    let mut names = Vec::new();
    for ((source, url, suite, _), (release, _)) in suites.iter().zip(&releases) {
        check_architecture(release, suite, url, platform)?;
        for component in &source.components {
            let base = format!("{component}/binary-{arch}/Packages");
            let listed: Vec<(String, FileHash)> = ["gz", "xz"]
                .iter()
                .map(|ext| format!("{base}.{ext}"))
                .chain(std::iter::once(base.clone()))
                .filter_map(|name| release.sha256.get(&name).map(|h| (name, h.clone())))
                .collect();
            if listed.is_empty() {
                bail!(
                    "suite `{suite}` of `{url}` has no `{base}` index\n\nhint: check the component and platform names in the spec"
                );
            }
            origins.push(Origin {
                location: source.location.to_string(),
                url: url.clone(),
                suite: (*suite).clone(),
                component: component.clone(),
                architecture: arch.to_owned(),
            });
            let (group, copy_names) = index_copies(url, suite, release, &base, listed);
            groups.push(group);
            names.push(copy_names);
        }
    }
    let parsed = read_indexes(fetcher, &groups, &names)?;
    Ok(Indexes {
        releases: release_facts,
        origins,
        packages: parsed.into_iter().flatten().collect(),
    })
}

/// A suite whose signed release file names its architectures must name `platform`'s: a
/// Debian release has only some ports (riscv64 from Debian 13 on; a release in LTS keeps
/// fewer in its security suite), and building a platform without its security updates
/// would be worse than not building it.
fn check_architecture(
    release: &Release,
    suite: &str,
    url: &str,
    platform: &Platform,
) -> Result<()> {
    let arch = &platform.debian_arch;
    if release.architectures.is_empty() || release.architectures.contains(arch) {
        return Ok(());
    }
    let listed: Vec<&str> = release
        .architectures
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "all")
        .collect();
    bail!(
        "suite `{suite}` of `{url}` has no `{arch}` packages, so it cannot build `{platform}`: its release file lists {}\n\nhint: this Debian release does not carry `{platform}`; leave it out of the spec's `platforms` (or `--platform`)",
        listed.join(", ")
    )
}

/// The copies of one index, best first (each by hash where the suite offers it, then by
/// name), and the name of each copy.
fn index_copies(
    url: &str,
    suite: &str,
    release: &Release,
    base: &str,
    listed: Vec<(String, FileHash)>,
) -> (Alternatives, Vec<String>) {
    let mut copies = Vec::new();
    let mut names = Vec::new();
    for (name, hash) in listed {
        let by_name = Item {
            url: format!("{url}/dists/{suite}/{name}"),
            sha256: hash.sha256.clone(),
            size: hash.size,
        };
        if release.acquire_by_hash {
            copies.push(Item {
                url: by_hash_url(url, suite, &name, &hash.sha256),
                ..by_name.clone()
            });
            names.push(name.clone());
        }
        copies.push(by_name);
        names.push(name);
    }
    let group = Alternatives {
        what: format!("{url}/dists/{suite}/{base}"),
        copies,
    };
    (group, names)
}

/// Every index of `groups` (copies named by `names`), decompressed and parsed.
///
/// Nothing but verified files comes from the cache: the decompressed index is kept under the
/// SHA256 the release file lists for the plain `Packages` (when it lists it, as Debian does),
/// checked on read like any blob, so a warm build neither downloads nor decompresses, and a
/// rewritten cache file costs a download, never a package no signature covers.
fn read_indexes(
    fetcher: &Fetcher,
    groups: &[Alternatives],
    names: &[Vec<String>],
) -> Result<Vec<Vec<PackageEntry>>> {
    let limit = fetcher.limits().index;
    let plain: Vec<Option<&Item>> = groups
        .iter()
        .zip(names)
        .map(|(g, n)| {
            g.copies
                .iter()
                .zip(n)
                .find(|(_, name)| !name.ends_with(".gz") && !name.ends_with(".xz"))
                .map(|(copy, _)| copy)
        })
        .collect();
    let warm: Vec<Option<Vec<u8>>> = plain
        .par_iter()
        .map(|p| {
            p.filter(|c| c.size <= limit.bytes)
                .and_then(|c| fetcher.cache.get(&c.sha256, c.size))
        })
        .collect();
    let missing: Vec<Alternatives> = groups
        .iter()
        .zip(&warm)
        .filter(|(_, w)| w.is_none())
        .map(|(g, _)| g.clone())
        .collect();
    let mut fetched = fetcher.get_first(&missing, limit, &|_| {})?.into_iter();
    enum Input {
        /// The decompressed index, from the cache.
        Warm(Vec<u8>),
        /// The position of the copy in its group, and its bytes.
        Fetched(usize, Vec<u8>),
    }
    let inputs: Vec<Input> = warm
        .into_iter()
        .map(|w| match w {
            Some(full) => Input::Warm(full),
            None => {
                let (n, raw) = fetched.next().expect("every missing index was fetched");
                Input::Fetched(n, raw)
            }
        })
        .collect();
    inputs
        .into_par_iter()
        .enumerate()
        .map(|(i, input)| -> Result<Vec<PackageEntry>> {
            let (url, full) = match input {
                Input::Warm(full) => (&plain[i].expect("a warm index is plain").url, full),
                Input::Fetched(n, raw) => {
                    let url = &groups[i].copies[n].url;
                    let full = packages::decompress(&names[i][n], &raw, limit.bytes)
                        .with_context(|| format!("cannot read index `{url}`"))?;
                    let listed = plain[i].filter(|p| {
                        p.size == full.len() as u64 && oci::sha256_digest(&full)[7..] == p.sha256
                    });
                    if let Some(p) = listed {
                        fetcher.cache.put(&p.sha256, &full)?;
                    }
                    (url, full)
                }
            };
            let text = String::from_utf8_lossy(&full);
            packages::parse_packages(&text, i).with_context(|| format!("invalid index `{url}`"))
        })
        .collect()
}

/// The Release of `suite`: its InRelease fetched (or, offline, read from the cache), its
/// signature checked against the keyring, its suite and dates checked as apt does (on every
/// use, the cached copy included); with the SHA256 of its text for the lock.
fn verified_release(
    fetcher: &Fetcher,
    source: &Source,
    url: &str,
    suite: &str,
    keyring: &Keyring,
    now: i64,
) -> Result<(Release, String)> {
    let release_url = format!("{url}/dists/{suite}/InRelease");
    let signed = fetcher
        .get_signed(&release_url)
        .with_context(|| format!("cannot get the release file of suite `{suite}`"))?;
    let text = keyring
        .verify_inrelease(&signed, now)
        .with_context(|| format!("`{release_url}` failed signature verification"))?;
    let release =
        Release::parse(&text).with_context(|| format!("invalid release file `{release_url}`"))?;
    release
        .check_suite(suite)
        .and_then(|()| release.check_dates(now, source.check_valid_until))
        .with_context(|| format!("`{release_url}` refused"))?;
    if !fetcher.offline() {
        fetcher.cache.put_signed(&release_url, &signed)?;
    }
    Ok((release, oci::sha256_digest(text.as_bytes())))
}

/// Resolve every level of the chain for one platform, each on top of the ones below.
pub fn plan_levels(chain: &[Spec], indexes: &Indexes, arch: &str) -> Result<Vec<LevelPlan>> {
    // Levels usually share their sources; a level with others sees only its own.
    let shared = Universe::new(&indexes.packages, arch);
    let mut plans: Vec<LevelPlan> = Vec::new();
    for spec in chain {
        let allowed: Vec<bool> = indexes
            .origins
            .iter()
            .map(|o| {
                spec.sources
                    .iter()
                    .any(|s| s.suites.contains(&o.suite) && s.components.contains(&o.component))
            })
            .collect();
        let filtered: Vec<PackageEntry>;
        let own: Universe;
        let (packages, universe): (&[PackageEntry], &Universe) = if allowed.iter().all(|&a| a) {
            (&indexes.packages, &shared)
        } else {
            filtered = indexes
                .packages
                .iter()
                .filter(|p| allowed[p.origin])
                .cloned()
                .collect();
            own = Universe::new(&filtered, arch);
            (&filtered, &own)
        };
        // Packages of the lower levels, by file hash (unique per .deb).
        let lower: BTreeSet<&str> = plans
            .iter()
            .flat_map(|p| p.entries.iter())
            .map(|e| e.sha256.as_str())
            .collect();
        let installed: Vec<usize> = packages
            .iter()
            .enumerate()
            .filter(|(_, p)| lower.contains(p.sha256.as_str()))
            .map(|(i, _)| i)
            .collect();
        let request = resolve::Request {
            include: &spec.include,
            exclude: &spec.exclude,
            installed: &installed,
        };
        let resolution = resolve::resolve(universe, &request)
            .with_context(|| format!("cannot resolve the packages of `{}`", spec.name))?;
        let mut chosen = resolution.chosen.clone();
        // Partial packages: the best version, none of its dependencies.
        for part in &spec.partial {
            let taken = |id: usize| chosen.contains(&id) || installed.contains(&id);
            match universe.best(&part.package) {
                Some(id) if !taken(id) => chosen.push(id),
                Some(_) => {}
                None => bail!(
                    "package `{}` of `packages.partial` in `{}` is not in any source",
                    part.package,
                    spec.name
                ),
            }
        }
        let mut entries: Vec<PackageEntry> = chosen.iter().map(|&i| packages[i].clone()).collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let urls = entries
            .iter()
            .map(|e| format!("{}/{}", indexes.origins[e.origin].url, e.filename))
            .collect();
        plans.push(LevelPlan {
            entries,
            urls,
            resolution,
        });
    }
    Ok(plans)
}

/// The levels of one platform as a lock records them.
fn plans_from_lock(
    lock: &Lock,
    lock_path: &std::path::Path,
    chain: &[Spec],
    platform: &Platform,
    mirrors: &Mirrors,
) -> Result<Vec<LevelPlan>> {
    let name = platform.to_string();
    let mut urls: BTreeMap<String, String> = BTreeMap::new();
    let mut levels = Vec::new();
    for spec in chain {
        if !lock.layers.contains(&spec.name) {
            bail!(
                "`{}` has no layer `{}`\n\nhint: run `compose lock --update`",
                lock_path.display(),
                spec.name
            );
        }
        let mut entries = Vec::new();
        let mut level_urls = Vec::new();
        for p in lock
            .packages
            .iter()
            .filter(|p| p.platform == name && p.layer == spec.name)
        {
            let base = match urls.get(&p.source) {
                Some(u) => u.clone(),
                None => {
                    let u = match crate::spec::Location::parse(&p.source) {
                        crate::spec::Location::Archive(a) => mirrors.resolve(&a)?,
                        crate::spec::Location::Url(u) => u,
                    };
                    urls.insert(p.source.clone(), u.clone());
                    u
                }
            };
            let version = p.version.parse().map_err(|_| {
                anyhow::anyhow!(
                    "`{}`: invalid version `{}` of `{}`",
                    lock_path.display(),
                    p.version,
                    p.name
                )
            })?;
            entries.push(PackageEntry {
                name: p.name.clone(),
                version,
                architecture: p.architecture.clone(),
                multi_arch: Default::default(),
                depends_raw: String::new(),
                provides: Vec::new(),
                filename: p.filename.clone(),
                size: p.size,
                sha256: p.sha256.clone(),
                origin: 0,
                priority: Default::default(),
                essential: false,
                protected: false,
            });
            level_urls.push(format!("{base}/{}", p.filename));
        }
        levels.push(LevelPlan {
            entries,
            urls: level_urls,
            resolution: resolve::Resolution {
                chosen: Vec::new(),
                reasons: BTreeMap::new(),
                excluded: BTreeMap::new(),
            },
        });
    }
    Ok(levels)
}

/// What `compose lock` needs.
#[derive(Debug, Clone)]
pub struct LockOptions {
    pub spec: PathBuf,
    pub mirrors: Vec<String>,
    pub cache_dir: PathBuf,
    pub platforms: Option<Vec<Platform>>,
}

/// Resolve a spec (its debug variant's layer included, so every variant builds from the
/// lock) for every platform, and return the lock.
pub fn make_lock(opts: &LockOptions) -> Result<Lock> {
    let plain = Spec::load(&opts.spec)?;
    let name = plain.last().expect("non-empty chain").name.clone();
    let mut chain = plain.clone();
    Variant {
        nonroot: false,
        debug: true,
    }
    .apply(&mut chain);
    let platforms = opts
        .platforms
        .clone()
        .unwrap_or_else(|| chain.last().expect("non-empty chain").platforms.clone());
    let mirrors = Mirrors::new(&opts.mirrors, std::path::Path::new("/"))?;
    let fetcher = Fetcher::new(Cache::new(opts.cache_dir.clone()), 4, false)?;
    let sources = chain_sources(&chain);
    let mut lock = Lock {
        version: lock::LOCK_VERSION,
        name,
        layers: chain.iter().map(|s| s.name.clone()).collect(),
        inputs: lock::inputs(&chain),
        sources: Vec::new(),
        packages: Vec::new(),
    };
    let mut debug_locked = true;
    for platform in &platforms {
        let indexes = load_indexes(&fetcher, &mirrors, &sources, platform)?;
        // The debug variant's layer is locked too when the sources carry busybox-static.
        let levels = match plan_levels(&chain, &indexes, &platform.debian_arch) {
            Ok(levels) => levels,
            Err(e) => {
                let levels = plan_levels(&plain, &indexes, &platform.debian_arch)?;
                eprintln!("note: the debug variant is not locked: {e:#}");
                debug_locked = false;
                levels
            }
        };
        // Every package the environment names is in the image (debug layer included).
        expand_env(plain.last().expect("non-empty chain"), &levels)?;
        for (location, suite, release, date) in &indexes.releases {
            lock.sources.push(LockedSource {
                location: location.clone(),
                suite: suite.clone(),
                release: release.clone(),
                date: date.clone(),
            });
        }
        for (spec, level) in chain.iter().zip(&levels) {
            for e in &level.entries {
                let origin = &indexes.origins[e.origin];
                lock.packages.push(LockedPackage {
                    platform: platform.to_string(),
                    layer: spec.name.clone(),
                    name: e.name.clone(),
                    version: e.version.to_string(),
                    architecture: e.architecture.clone(),
                    source: origin.location.clone(),
                    suite: origin.suite.clone(),
                    filename: e.filename.clone(),
                    size: e.size,
                    sha256: e.sha256.clone(),
                });
            }
        }
    }
    if !debug_locked {
        let debug = &chain.last().expect("non-empty chain").name;
        lock.layers.retain(|l| l != debug);
        lock.packages.retain(|p| &p.layer != debug);
        lock.inputs = lock::inputs(&plain);
    }
    lock.normalize();
    Ok(lock)
}

/// Every source of every level of a chain, once, in order.
pub fn chain_sources(chain: &[Spec]) -> Vec<Source> {
    let mut sources: Vec<Source> = Vec::new();
    for spec in chain {
        for s in &spec.sources {
            if !sources.contains(s) {
                sources.push(s.clone());
            }
        }
    }
    sources
}

/// Stage timings on stderr when `COMPOSE_TIMINGS` is set (for profiling; never in output).
struct Timings {
    start: std::time::Instant,
    enabled: bool,
}

impl Timings {
    fn new() -> Timings {
        Timings {
            start: std::time::Instant::now(),
            enabled: std::env::var_os("COMPOSE_TIMINGS").is_some(),
        }
    }

    fn mark(&self, stage: &str) {
        if self.enabled {
            eprintln!("{:>8.3}s {stage}", self.start.elapsed().as_secs_f64());
        }
    }
}

/// The lock for a build: the spec's, when it exists and matches the spec.
fn usable_lock(
    opts: &BuildOptions,
    chain: &[Spec],
    lock_path: &std::path::Path,
) -> Result<Option<Lock>> {
    if !lock_path.is_file() {
        if opts.locked {
            bail!(
                "`--locked` needs `{}`, which does not exist\n\nhint: run `compose lock {}`",
                lock_path.display(),
                opts.spec.display()
            );
        }
        return Ok(None);
    }
    let l = Lock::read(lock_path)?;
    let stale = l.stale_inputs(chain);
    if stale.is_empty() {
        return Ok(Some(l));
    }
    if opts.locked {
        bail!(
            "`{}` is stale: {} changed since it was made\n\nhint: review the change, then run `compose lock --update {}`",
            lock_path.display(),
            stale.join(", "),
            opts.spec.display()
        );
    }
    eprintln!(
        "warning: `{}` is stale ({} changed); resolving again (run `compose lock --update`)",
        lock_path.display(),
        stale.join(", ")
    );
    Ok(None)
}

/// One platform's image before its manifest: layers (in the store), config, reports.
struct PlatformBuild {
    layers: Vec<Layer>,
    config: Vec<u8>,
    epoch: u64,
    content: u64,
    layer_reports: Vec<LayerReport>,
    package_reports: Vec<PackageReport>,
}

/// The annotations of every manifest and the index: title and created from the build, then
/// the spec's, then `--annotation`s.
fn annotations_for(
    name: &str,
    created: u64,
    spec: &BTreeMap<String, String>,
    cli: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::from([
        ("org.opencontainers.image.title".to_owned(), name.to_owned()),
        (
            "org.opencontainers.image.created".to_owned(),
            oci::rfc3339(created),
        ),
    ]);
    out.extend(spec.clone());
    out.extend(cli.clone());
    out
}

/// Run a whole build.
pub fn build(opts: &BuildOptions) -> Result<BuildReport> {
    let timings = Timings::new();
    let mut chain = Spec::load(&opts.spec)?;
    let name = chain
        .last()
        .expect("a chain has at least one level")
        .name
        .clone();
    opts.variant.apply(&mut chain);
    let top = chain.last().expect("a chain has at least one level");
    let platforms = opts
        .platforms
        .clone()
        .unwrap_or_else(|| top.platforms.clone());
    let outputs = if opts.outputs.is_empty() {
        vec![Destination::Layout {
            dir: PathBuf::from("out").join(&name),
            tag: opts.variant.tag().into(),
        }]
    } else {
        opts.outputs.clone()
    };
    if platforms.len() > 1
        && let Some(d) = outputs
            .iter()
            .find(|d| matches!(d, Destination::DockerArchive { .. }))
    {
        bail!(
            "`{d}` can hold one platform, and the build has {}\n\nhint: pass `--platform` with one platform for this output, or use `oci-archive:`, which holds them all",
            platforms.len()
        );
    }
    let mirrors = Mirrors::new(&opts.mirrors, std::path::Path::new("/"))?;
    let fetcher = Fetcher::new(Cache::new(opts.cache_dir.clone()), opts.jobs, opts.offline)?;
    let progress = Progress::new(opts.progress);

    let sources = chain_sources(&chain);

    // The lock, when there is one that matches the spec: no indexes, no resolution.
    let lock_path = lock::path_for(&opts.spec);
    let lock = usable_lock(opts, &chain, &lock_path)?;

    // Every platform resolves on its own (its own architecture's indexes), in parallel.
    let plans: Vec<Vec<LevelPlan>> = platforms
        .par_iter()
        .map(|platform| -> Result<Vec<LevelPlan>> {
            let locked_platform = lock.as_ref().filter(|l| {
                l.packages
                    .iter()
                    .any(|p| p.platform == platform.to_string())
            });
            if lock.is_some() && locked_platform.is_none() {
                if opts.locked {
                    bail!(
                        "`{}` has no packages for platform `{platform}`\n\nhint: add it to the spec's `platforms` and run `compose lock --update {}`",
                        lock_path.display(),
                        opts.spec.display()
                    );
                }
                // The other platforms still come from the lock; this one from today's
                // indexes, as a build without a lock would (issue 12: locks keep amd64 and
                // arm64 unless a spec asks for more).
                let mut all: Vec<String> = Vec::new();
                let locked = lock.iter().flat_map(|l| l.packages.iter().map(|p| &p.platform));
                for name in locked.cloned().chain(platforms.iter().map(ToString::to_string)) {
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
            }
            let levels = match locked_platform {
                Some(l) => plans_from_lock(l, &lock_path, &chain, platform, &mirrors)?,
                None => {
                    let indexes =
                        load_indexes(&fetcher, &mirrors, &sources, platform)?;
                    timings.mark("indexes loaded");
                    plan_levels(&chain, &indexes, &platform.debian_arch)?
                }
            };
            timings.mark("resolved");
            Ok(levels)
        })
        .collect::<Result<_>>()?;

    // Download every .deb once, whatever platform or level wants it.
    let mut items: Vec<Item> = Vec::new();
    // What each .deb must say it is (name, version, architecture).
    let mut names: Vec<(String, String, String)> = Vec::new();
    let mut seen = BTreeSet::new();
    for level in plans.iter().flatten() {
        for (e, url) in level.entries.iter().zip(&level.urls) {
            if seen.insert(e.sha256.clone()) {
                items.push(Item {
                    url: url.clone(),
                    sha256: e.sha256.clone(),
                    size: e.size,
                });
                names.push((
                    e.name.clone(),
                    e.version.to_string(),
                    e.architecture.clone(),
                ));
            }
        }
    }

    let total: u64 = items.iter().map(|i| i.size).sum();
    let bar = progress.bytes("download", total);
    let blobs = fetcher.get_all(&items, &|n| bar.inc(n)).map_err(|e| match e {
        FetchError::NotFound { .. } if lock.is_some() => anyhow::anyhow!(
            "{e}: the mirror no longer has this locked version (Debian's mirrors keep only the newest)\n\nhint: point `--mirror` at a snapshot archive of the lock's date, or run `compose lock --update {}`",
            opts.spec.display()
        ),
        e => e.into(),
    })?;
    bar.finish();
    timings.mark("packages fetched");

    let bar = progress.count("extract", items.len() as u64);
    let debs: Vec<Deb> = blobs
        .par_iter()
        .zip(names.par_iter())
        .map(|(bytes, (name, version, architecture))| {
            let planned = deb::Planned {
                name,
                version,
                architecture,
            };
            let d = deb::read(&planned, bytes);
            bar.inc(1);
            d
        })
        .collect::<Result<_, _>>()?;
    bar.finish();
    drop(blobs);
    timings.mark("packages extracted");
    let debs: BTreeMap<String, Deb> = items.iter().map(|i| i.sha256.clone()).zip(debs).collect();

    // The blobs go to a store beside the first local output (so layouts can hard-link
    // them), else in the cache directory.
    let store_parent = outputs
        .iter()
        .find_map(Destination::local_path)
        .map_or_else(|| opts.cache_dir.join("tmp"), oci::parent_dir);
    let store = Store::create_in(&store_parent)?;
    let level_count: usize = plans.iter().map(Vec::len).sum();
    let bar = progress.count("compress", level_count as u64);
    let built: Vec<PlatformBuild> = plans
        .par_iter()
        .zip(&platforms)
        .map(|(levels, platform)| {
            let b = build_platform(opts, &chain, levels, &debs, platform, &store, &|| {
                bar.inc(1)
            });
            timings.mark("layers written");
            b
        })
        .collect::<Result<_>>()?;
    bar.finish();

    let image_created = built.iter().map(|b| b.epoch).max().unwrap_or(0);
    let annotations = annotations_for(&name, image_created, &top.annotations, &opts.annotations);
    let mut manifests = Vec::new();
    for (b, platform) in built.iter().zip(&platforms) {
        let manifest = oci::manifest_json(
            &b.config,
            &b.layers.iter().collect::<Vec<_>>(),
            &annotations,
        )?;
        store.put_blob(&manifest)?;
        manifests.push(ManifestEntry {
            platform: oci_platform(platform),
            bytes: manifest,
            config: BlobRef {
                digest: oci::sha256_digest(&b.config),
                size: b.config.len() as u64,
                media_type: oci_spec::image::MediaType::ImageConfig.to_string(),
            },
            layers: b
                .layers
                .iter()
                .map(|l| BlobRef {
                    digest: l.digest.clone(),
                    size: l.size,
                    media_type: l.media_type.to_owned(),
                })
                .collect(),
        });
    }
    let index = if manifests.len() > 1 {
        let descs = manifests
            .iter()
            .map(|m| {
                oci::descriptor(
                    oci_spec::image::MediaType::ImageManifest,
                    &m.bytes,
                    Some(&m.platform),
                    &BTreeMap::new(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let index = oci::index_json(descs, &annotations)?;
        store.put_blob(&index)?;
        Some(index)
    } else {
        None
    };
    let image = Image {
        manifests,
        index,
        created: image_created,
    };

    // The whole image's SBOM, written beside every local output.
    let sbom_packages: Vec<sbom::SbomPackage> = plans
        .iter()
        .flatten()
        .flat_map(|l| l.entries.iter().zip(&l.urls))
        .map(|(e, url)| sbom::SbomPackage {
            entry: e,
            deb: &debs[&e.sha256],
            url: Some(url),
        })
        .collect();
    let sbom_doc = sbom::document(&name, &sbom_packages, &oci::rfc3339(image_created));
    let push_total: u64 = if outputs
        .iter()
        .any(|d| matches!(d, Destination::Registry(_)))
    {
        image.blobs().iter().map(|b| b.size).sum()
    } else {
        0
    };
    let bar = Progress::new(opts.progress && push_total > 0).bytes("push", push_total);
    let pushes = publish::publish(
        &store,
        &image,
        &Publication {
            destinations: &outputs,
            docker_name: format!("{name}:{}", opts.variant.tag()),
            push: &opts.push,
            sbom: &sbom_doc,
            on_push_bytes: &|n| bar.inc(n),
        },
    )?;
    bar.finish();
    for p in &pushes {
        eprintln!("{p}");
    }
    timings.mark("published");

    let mut size: u64 = image.blobs().iter().map(|b| b.size).sum();
    size += image
        .manifests
        .iter()
        .map(|m| m.bytes.len() as u64)
        .sum::<u64>();
    size += image.index.as_ref().map_or(0, |i| i.len() as u64);
    Ok(BuildReport {
        name,
        digest: image.digest(),
        output: outputs[0].to_string(),
        outputs: outputs.iter().map(ToString::to_string).collect(),
        pushes,
        annotations,
        platforms: platforms.iter().map(ToString::to_string).collect(),
        sources: sources
            .iter()
            .map(|s| {
                Ok(SourceReport {
                    url: source_url(s, &mirrors)?,
                    suites: s.suites.clone(),
                    components: s.components.clone(),
                })
            })
            .collect::<Result<_>>()?,
        packages: built
            .iter()
            .flat_map(|b| b.package_reports.clone())
            .collect(),
        layers: built.iter().flat_map(|b| b.layer_reports.clone()).collect(),
        size,
        uncompressed_size: built
            .iter()
            .flat_map(|b| &b.layers)
            .map(|l| l.uncompressed_size)
            .sum(),
        content_size: built.iter().map(|b| b.content).sum(),
        sbom: outputs
            .iter()
            .find_map(Destination::sbom_path)
            .map(|p| p.display().to_string()),
    })
}

/// Trees, layers (into the store) and the image config of one platform.
fn build_platform(
    opts: &BuildOptions,
    chain: &[Spec],
    levels: &[LevelPlan],
    debs: &BTreeMap<String, Deb>,
    platform: &Platform,
    store: &Store,
    tick: &(dyn Fn() + Sync),
) -> Result<PlatformBuild> {
    let top = chain.last().expect("a chain has at least one level");
    let trees = level_trees(chain, levels, debs, platform, opts.source_date_epoch)?;
    let content = trees
        .iter()
        .flat_map(|(t, _)| t.values())
        .map(|n| match &n.kind {
            crate::deb::Kind::File(d) => d.len() as u64,
            _ => 0,
        })
        .sum::<u64>();
    let threads = opts.jobs as u32;
    let layers: Vec<Layer> = trees
        .par_iter()
        .enumerate()
        .map(|(i, (tree, _))| -> Result<Layer> {
            let scratch = store.scratch(&format!("layer-{}-{i}", platform.debian_arch));
            let l = layer::write(tree, opts.compression, threads, &scratch)
                .with_context(|| format!("cannot write layer `{}`", scratch.display()))?;
            store.adopt(&scratch, &l.digest)?;
            tick();
            Ok(l)
        })
        .collect::<Result<_>>()?;

    let epoch = trees.last().map(|(_, e)| *e).unwrap_or(0);
    let mut env = BTreeMap::from([("PATH".to_owned(), DEFAULT_PATH.to_owned())]);
    if trees
        .iter()
        .any(|(t, _)| t.contains_key(generated::CA_BUNDLE))
    {
        env.insert(
            "SSL_CERT_FILE".into(),
            "/etc/ssl/certs/ca-certificates.crt".into(),
        );
    }
    env.extend(
        expand_env(top, levels)
            .with_context(|| format!("cannot build `{}` for {platform}", top.name))?,
    );
    let history: Vec<(&Layer, String)> = layers
        .iter()
        .zip(chain.iter().zip(levels))
        .map(|(l, (spec, level))| {
            (
                l,
                format!("compose {}: {} packages", spec.name, level.entries.len()),
            )
        })
        .collect();
    let config = oci::config_json(&ImageInput {
        platform: oci_platform(platform),
        created: epoch,
        user: Some(opts.variant.user()),
        workdir: Some(opts.variant.workdir()),
        entrypoint: top.config.entrypoint.as_deref(),
        cmd: top.config.cmd.as_deref(),
        env: &env,
        labels: &top.config.labels,
        layers: history,
    })?;
    store.put_blob(&config)?;
    let layer_reports = layers
        .iter()
        .zip(chain)
        .map(|(l, spec)| LayerReport {
            digest: l.digest.clone(),
            diff_id: l.diff_id.clone(),
            size: l.size,
            uncompressed_size: l.uncompressed_size,
            spec: spec.name.clone(),
            platform: platform.to_string(),
        })
        .collect();
    let package_reports = levels
        .iter()
        .zip(chain)
        .flat_map(|(level, spec)| {
            level.entries.iter().map(|e| PackageReport {
                name: e.name.clone(),
                version: e.version.to_string(),
                architecture: e.architecture.clone(),
                layer: spec.name.clone(),
            })
        })
        .collect();
    Ok(PlatformBuild {
        layers,
        config,
        epoch,
        content,
        layer_reports,
        package_reports,
    })
}

/// The spec's `[config] env` with every package version it names (`spec::template`) taken
/// from this platform's plan, so a build from the lock says what a resolved build says.
pub fn expand_env(top: &Spec, levels: &[LevelPlan]) -> Result<BTreeMap<String, String>> {
    let versions: BTreeMap<&str, &crate::package::Version> = levels
        .iter()
        .flat_map(|l| l.entries.iter())
        .map(|e| (e.name.as_str(), &e.version))
        .collect();
    top.config
        .env
        .iter()
        .map(|(key, value)| {
            let pieces = template::parse(value)
                .map_err(|m| anyhow::anyhow!("`config.env.{key}`: {m}"))?;
            let expanded = template::expand(&pieces, |p| versions.get(p).copied()).map_err(|p| {
                anyhow::anyhow!(
                    "`config.env.{key}` of `{}` names package `{p}`, which is not in the image\n\nhint: name a package of the image (`compose why {} {p}` says why it is not)",
                    top.name,
                    top.path.display()
                )
            })?;
            Ok((key.clone(), expanded))
        })
        .collect()
}

/// The package (name and contents) that ships the CA certificates, in levels `0..=upto`.
fn certificates_package<'d>(
    levels: &'d [LevelPlan],
    debs: &'d BTreeMap<String, Deb>,
    upto: usize,
) -> Option<(&'d str, &'d Deb)> {
    levels[..=upto]
        .iter()
        .flat_map(|l| l.entries.iter())
        .map(|e| (e.name.as_str(), &debs[&e.sha256]))
        .find(|(_, d)| generated::ships_certificates(d))
}

/// The tree of every level of one platform, bottom first, with the level's epoch (the
/// `SOURCE_DATE_EPOCH`, else the newest mtime of the packages up to that level).
fn level_trees(
    chain: &[Spec],
    levels: &[LevelPlan],
    debs: &BTreeMap<String, Deb>,
    platform: &Platform,
    source_date_epoch: Option<u64>,
) -> Result<Vec<(Tree, u64)>> {
    let mut lower = Tree::new();
    let mut out = Vec::new();
    let mut newest = 0u64;
    for (i, (spec, level)) in chain.iter().zip(levels).enumerate() {
        let packages: Vec<(&str, &Deb)> = level
            .entries
            .iter()
            .map(|e| (e.name.as_str(), &debs[&e.sha256]))
            .collect();
        for (_, d) in &packages {
            newest = newest.max(d.entries.iter().map(|e| e.mtime).max().unwrap_or(0));
        }
        let epoch = source_date_epoch.unwrap_or(newest);
        let mut tree = rootfs::assemble(
            &packages,
            &spec.paths,
            &spec.partial,
            &lower,
            source_date_epoch,
        )
        .with_context(|| format!("cannot assemble the files of `{}`", spec.name))?;
        if i == 0 {
            generated::base_files(&mut tree, &platform.debian_arch, epoch);
        }
        generated::os_release(&mut tree);
        for (name, d) in &packages {
            generated::status_d(&mut tree, name, d, epoch)?;
        }
        if let Some((name, d)) = packages
            .iter()
            .find(|(_, d)| generated::ships_certificates(d))
        {
            generated::ca_bundle(&mut tree, name, d, epoch);
            generated::attribute(&mut tree, &lower, name, &[generated::CA_BUNDLE], epoch)?;
        }
        // The Java trust store, in the first level that asks for it.
        let parent_has_cacerts = i > 0 && chain[i - 1].java_cacerts;
        if spec.java_cacerts && !parent_has_cacerts {
            let (name, d) = certificates_package(levels, debs, i).with_context(|| {
                format!(
                    "`{}` asks for `generate.java-cacerts` but no package in the image ships certificates",
                    spec.name
                )
            })?;
            generated::java_cacerts(&mut tree, name, d, epoch);
            generated::attribute(&mut tree, &lower, name, &[generated::JAVA_CACERTS], epoch)?;
        }
        // This level's SBOM, inside its own layer (so the layer stays shared by the family).
        let sbom_packages: Vec<sbom::SbomPackage> = level
            .entries
            .iter()
            .map(|e| sbom::SbomPackage {
                entry: e,
                deb: &debs[&e.sha256],
                url: None,
            })
            .collect();
        if !sbom_packages.is_empty() {
            let doc = sbom::document(&spec.name, &sbom_packages, &crate::oci::rfc3339(epoch));
            for dir in ["usr", "usr/share", "usr/share/sbom"] {
                tree.entry(dir.to_owned())
                    .or_insert_with(|| rootfs::Node::dir(0o755, 0, 0, epoch));
            }
            tree.insert(
                format!("usr/share/sbom/{}.spdx.json", spec.name),
                rootfs::Node::file(doc, 0o644, epoch, None),
            );
        }
        for link in &spec.symlinks {
            let path = link.path.trim_start_matches('/').to_owned();
            let target = link.target.replace("{arch}", &platform.debian_arch);
            tree.insert(path, rootfs::Node::symlink(&target, epoch));
        }
        rootfs::settle_dirs(&mut tree, &lower);
        rootfs::check_tree(&tree, &lower)
            .with_context(|| format!("cannot assemble the files of `{}`", spec.name))?;
        for (path, node) in &tree {
            lower.insert(path.clone(), node.clone());
        }
        out.push((tree, epoch));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hash_copies_live_beside_the_index() {
        assert_eq!(
            by_hash_url(
                "http://m/debian",
                "trixie",
                "main/binary-arm64/Packages.gz",
                "ab12"
            ),
            "http://m/debian/dists/trixie/main/binary-arm64/by-hash/SHA256/ab12"
        );
    }
}
