//! Command-line flags: parsed once by clap, then validated into the options of each command.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::build::{self, BuildError, BuildOptions, LockState, Variant};
use crate::error::Hinted;
use crate::fetch::Cache;
use crate::layer::Compression;
use crate::layercache;
use crate::publish::Destination;
use crate::registry::PushOptions;
use crate::registry::auth::{self, Credentials};
use crate::sign::SigningKey;
use crate::spec::Platform;

mod patch;

#[derive(Debug, Parser)]
#[command(
    name = "compose",
    version,
    about = "Build distroless OCI base images from Debian's archive",
    after_help = "Limits on what a mirror may send (bytes, or with a K, M, G or T suffix): COMPOSE_MAX_INDEX_SIZE (an index, compressed or decompressed; default 256M), COMPOSE_MAX_DEB_SIZE (a .deb; default 4G). SECURITY.md lists every check and limit."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Trust the CA certificates of this PEM file too, for compose's own connections to
    /// mirrors and registries (repeatable; they add to the system's)
    #[arg(long, global = true, value_name = "FILE")]
    ca_file: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the image each spec describes (several: a family in one run) and print its digest.
    Build(BuildArgs),
    /// Explain why a package is in an image (the dependency chain), or why it is not.
    Why(WhyArgs),
    /// Write the spec's lock (`SPEC.lock`): the exact packages by hash.
    Lock(LockArgs),
    /// Compare two locks or images: packages added, removed, upgraded and downgraded, and the
    /// CVEs each upgrade's changelog names.
    Diff(patch::DiffArgs),
    /// What a refresh of each spec's lock would take now: newer versions with their suite,
    /// urgency and the CVEs they fix; `--fail-on` sets the exit status for CI.
    Outdated(patch::OutdatedArgs),
    /// Rebuild from the lock in a clean place and check the digest of a layout, or of a
    /// published image after its signature, attestations and provenance.
    Verify(VerifyArgs),
    /// Copy the spec's locked inputs into DIR, for builds with no network (`build --vendor DIR`).
    Vendor(VendorArgs),
}

#[derive(Debug, clap::Args)]
struct VendorArgs {
    /// The spec file (its lock must exist and match it).
    spec: PathBuf,
    /// The directory to vendor into (made if missing; other specs' files are kept).
    dir: PathBuf,
    #[command(flatten)]
    archive: ArchiveArgs,
    /// Allow mirror credentials over plain HTTP to hosts that are not on this machine.
    #[arg(long)]
    insecure: bool,
}

#[derive(Debug, clap::Args)]
struct LockArgs {
    /// The spec file.
    spec: PathBuf,
    /// Resolve again even when the lock matches the spec (every platform of the current lock
    /// is kept unless `--platform` says otherwise).
    #[arg(long, conflicts_with = "check")]
    update: bool,
    /// With `--update`: move only the packages a security suite has a newer version of (and
    /// whatever their new versions need); every other package keeps its locked version.
    #[arg(long, requires = "update")]
    security_only: bool,
    /// Only check (offline) that the lock exists and matches the spec; exit 1 otherwise.
    #[arg(long)]
    check: bool,
    #[command(flatten)]
    archive: ArchiveArgs,
    /// Allow mirror credentials over plain HTTP to hosts that are not on this machine.
    #[arg(long)]
    insecure: bool,
    /// Override the spec's platforms.
    #[arg(long, value_delimiter = ',')]
    platform: Vec<String>,
    /// Read every `archive` source from the snapshot archive at this time
    /// (`20261120T000000Z`; the archive from `--mirror snapshot=URL` or
    /// `COMPOSE_MIRROR_SNAPSHOT`); the lock records it.
    #[arg(long, value_name = "TIMESTAMP")]
    snapshot: Option<String>,
    /// Resolve from a directory `compose vendor` wrote, with no network (its release files
    /// must be those the current lock names, when there is one).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["mirror", "check"])]
    vendor: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// The spec file (its lock is used).
    spec: PathBuf,
    /// The image to check: `oci:DIR[:TAG]`.
    #[arg(
        long,
        short,
        required_unless_present = "image",
        conflicts_with = "image"
    )]
    output: Option<String>,
    /// A published image to check: `docker://HOST[:PORT]/REPO[:TAG]`: its signature and
    /// attestations (by `--key`), the provenance's spec chain and lock against the local
    /// ones, then a rebuild with the provenance's parameters.
    #[arg(long, requires = "key", value_name = "docker://HOST/REPO:TAG")]
    image: Option<String>,
    /// The public key (PEM) the image's signature and attestations must verify with.
    #[arg(long, requires = "image", value_name = "PUB.pem")]
    key: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Annotations the image was built with (`KEY=VALUE`, repeatable; with `--image`, the
    /// provenance's).
    #[arg(long, value_name = "KEY=VALUE", conflicts_with = "image")]
    annotation: Vec<String>,
    /// Image variant (with `--image`, the provenance's).
    #[arg(long, default_value = "latest", conflicts_with = "image")]
    variant: String,
    /// Layer compression the image was built with (with `--image`, the provenance's).
    #[arg(long, value_enum, default_value = "gzip", conflicts_with = "image")]
    compression: Compression,
    #[command(flatten)]
    archive: ArchiveArgs,
    /// Use only the cache.
    #[arg(long)]
    offline: bool,
    /// Rebuild from a directory `compose vendor` wrote, with no network for the inputs.
    #[arg(long, value_name = "DIR", conflicts_with = "mirror")]
    vendor: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct WhyArgs {
    /// The spec file.
    spec: PathBuf,
    /// The package to explain.
    package: String,
    /// Image variant: latest, nonroot, debug or debug-nonroot.
    #[arg(long, default_value = "latest")]
    variant: String,
    #[command(flatten)]
    archive: ArchiveArgs,
    /// Allow mirror credentials over plain HTTP to hosts that are not on this machine.
    #[arg(long)]
    insecure: bool,
    /// Use only the cache.
    #[arg(long)]
    offline: bool,
    /// The platform to explain (default: the spec's first).
    #[arg(long)]
    platform: Option<String>,
}

/// How registries are reached: shared by every command that pushes or pulls.
#[derive(Debug, Default, clap::Args)]
struct RegistryArgs {
    /// Registry credentials, `USER:PASSWORD` [default: the `auths` of $DOCKER_CONFIG/config.json
    /// or ~/.docker/config.json].
    #[arg(
        long,
        env = "COMPOSE_CREDS",
        hide_env_values = true,
        value_name = "USER:PASSWORD"
    )]
    creds: Option<String>,
    /// Allow plain HTTP and unverified TLS to registries that are not on this machine, and
    /// mirror credentials over plain HTTP to such hosts.
    #[arg(long)]
    insecure: bool,
}

/// Where packages come from and where they are kept: shared by every command that fetches.
#[derive(Debug, clap::Args)]
struct ArchiveArgs {
    /// Mirror for a symbolic archive name, `NAME=URL` (repeatable).
    #[arg(long, value_name = "NAME=URL")]
    mirror: Vec<String>,
    /// Cache directory [default: $COMPOSE_CACHE_DIR, $XDG_CACHE_HOME/compose, ~/.cache/compose].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Mirror credentials in apt's netrc format (`machine HOST[:PORT][/PATH] login USER
    /// password PASS`), read before /etc/apt/auth.conf and /etc/apt/auth.conf.d (repeatable).
    #[arg(long, value_name = "FILE")]
    auth_file: Vec<PathBuf>,
}

impl ArchiveArgs {
    fn cache_dir(&self) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(Cache::default_root)
    }

    /// The mirrors' credentials files, and whether they may go over plain HTTP.
    fn access(&self, insecure: bool) -> crate::mirror::Access {
        crate::mirror::Access {
            auth_files: self.auth_file.clone(),
            insecure,
        }
    }
}

#[derive(Debug, clap::Args)]
struct BuildArgs {
    /// The spec files (`specs/python3.toml`; several build a family in one run, each `.deb`
    /// and each shared layer once).
    #[arg(required = true)]
    spec: Vec<PathBuf>,
    /// Where the image goes (repeatable): `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
    /// `docker-archive:FILE[:REPO:TAG]` or `docker://HOST[:PORT]/REPO[:TAG]`; `{name}` is the
    /// spec's name, and with several specs every output needs it (`oci:out/{name}`)
    /// [default: `oci:out/<name>:<variant>`].
    #[arg(long, short, value_name = "DEST")]
    output: Vec<String>,
    /// An annotation of the manifests and index, `KEY=VALUE` (repeatable); short keys such as
    /// `version` or `source` name `org.opencontainers.image.*`.
    #[arg(long, value_name = "KEY=VALUE")]
    annotation: Vec<String>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Blobs larger than this are pushed in chunks of this size (`512K`, `8M`, bytes).
    #[arg(long, default_value = "8M", value_name = "SIZE")]
    push_chunk_size: String,
    /// Image variant: latest, nonroot, debug (busybox shell) or debug-nonroot.
    #[arg(long, default_value = "latest")]
    variant: String,
    /// Layer compression.
    #[arg(long, value_enum, default_value = "gzip")]
    compression: Compression,
    #[command(flatten)]
    archive: ArchiveArgs,
    /// Worker threads for extraction and compression [default: number of CPUs].
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Use only the cache; fail naming what is missing.
    #[arg(long)]
    offline: bool,
    /// Fail unless the spec's lock exists and matches the spec.
    #[arg(long)]
    locked: bool,
    /// Override the spec's platforms (`linux/amd64,linux/arm64`).
    #[arg(long, value_delimiter = ',')]
    platform: Vec<String>,
    /// Read every `archive` source from the snapshot archive at this time
    /// (`20261120T000000Z`; the archive from `--mirror snapshot=URL` or
    /// `COMPOSE_MIRROR_SNAPSHOT`), overriding the spec's `snapshot`.
    #[arg(long, value_name = "TIMESTAMP")]
    snapshot: Option<String>,
    /// Print one JSON object instead of the digest (several specs: an array of them).
    #[arg(long)]
    json: bool,
    /// Build every layer from its packages: neither reuse nor keep layers in the layer
    /// cache (`layers/` in the cache directory).
    #[arg(long)]
    no_layer_cache: bool,
    /// A layer cache shared between machines, searched after the local one and given every
    /// new layer: `docker://HOST[:PORT]/REPO` (credentials as for pushes) or `oci:DIR`.
    #[arg(long, value_name = "REF", conflicts_with = "no_layer_cache")]
    layer_cache: Option<String>,
    /// Build from a directory `compose vendor` wrote, with no network: the lock is required,
    /// every release file must be the lock's, and every file is checked as from a mirror.
    #[arg(long, value_name = "DIR", conflicts_with = "mirror")]
    vendor: Option<PathBuf>,
    /// Sign the image at every output as cosign does (`sha256-<hex>.sig` beside it): a PEM
    /// ECDSA P-256 private key (PKCS#8 or SEC1), or a cosign key (`cosign generate-key-pair`,
    /// password in $COSIGN_PASSWORD).
    #[arg(long, env = "COMPOSE_SIGN_KEY", value_name = "KEY")]
    sign: Option<PathBuf>,
    /// Attach signed in-toto attestations (SLSA provenance, the SPDX SBOM) beside the
    /// image (`sha256-<hex>.att`); needs `--sign` and the spec's lock (it builds `--locked`).
    #[arg(long, requires = "sign")]
    attest: bool,
}

/// Parse the command line and run the command.
pub fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    crate::net::trust(&cli.ca_file)?;
    match cli.command {
        Command::Build(args) => build(args),
        Command::Why(args) => why(args),
        Command::Lock(args) => lock(args),
        Command::Diff(args) => patch::diff(args),
        Command::Outdated(args) => patch::outdated(args),
        Command::Verify(args) => verify(args),
        Command::Vendor(args) => vendor(args),
    }
}

fn parse_platforms(list: &[String]) -> Result<Option<Vec<Platform>>> {
    if list.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        list.iter()
            .map(|p| Platform::parse(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)?,
    ))
}

#[allow(clippy::print_stdout)]
fn lock(args: LockArgs) -> Result<ExitCode> {
    use crate::lock;
    let path = lock::path_for(&args.spec);
    let platforms = parse_platforms(&args.platform)?;
    let chain = build::lock_chain(&args.spec, platforms.clone(), args.snapshot.as_deref())?;
    let state = build::lock_state(&path, &chain.levels)?;
    if args.check {
        return match state {
            LockState::Missing => Err(BuildError::NoLock {
                lock: path,
                spec: args.spec,
            }
            .into()),
            LockState::Stale { changed, .. } => Err(BuildError::StaleLock {
                lock: path,
                changed,
                spec: args.spec,
            }
            .into()),
            LockState::Fresh(_) => {
                println!("{} is up to date", path.display());
                Ok(ExitCode::SUCCESS)
            }
        };
    }
    if !args.update && matches!(state, LockState::Fresh(_)) {
        println!("{} is up to date", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let new = build::make_lock(&build::LockOptions {
        spec: args.spec.clone(),
        mirrors: args.archive.mirror.clone(),
        access: args.archive.access(args.insecure),
        cache_dir: args.archive.cache_dir(),
        platforms,
        snapshot: args.snapshot.clone(),
        vendor: args.vendor.as_deref().map(vendor_dir).transpose()?,
        refresh: if args.security_only {
            build::Refresh::SecurityOnly
        } else {
            build::Refresh::All
        },
        offline: false,
    })?;
    new.write(&path)?;
    match state {
        LockState::Fresh(old) | LockState::Stale { lock: old, .. } => {
            print!("{}", lock::diff_table(&lock::diff(&old, &new)))
        }
        LockState::Missing => {
            println!("wrote {} ({} packages)", path.display(), new.packages.len())
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::print_stdout)]
fn verify(args: VerifyArgs) -> Result<ExitCode> {
    crate::interrupt::install().context("cannot watch for interrupts")?;
    if let Some(image) = &args.image {
        return verify_image(&args, image);
    }
    let output = args.output.as_deref().unwrap_or_default();
    let dest = Destination::parse(output).map_err(anyhow::Error::msg)?;
    let Destination::Layout { dir, tag } = &dest else {
        return Err(Hinted::new(
            format!("`compose verify` checks an `oci:DIR[:TAG]` layout, not `{dest}`"),
            "copy the image into a layout first (`skopeo copy ... oci:DIR:TAG`), or check a published image with `--image docker://... --key PUB.pem`",
        )
        .into());
    };
    let scratch = tempfile::tempdir().context("cannot make a temporary directory")?;
    let params = build::provenance::Parameters {
        platforms: Vec::new(),
        variant: parse_variant(&args.variant)?,
        compression: args.compression,
        annotations: parse_annotations(&args.annotation)?,
        source_date_epoch: source_date_epoch()?,
    };
    let rebuilt = scratch.path().join("rebuild");
    let report = build::build(&rebuild_options(&args, &params, &rebuilt, tag)?)?;
    match crate::verify::compare(dir, &dest, &rebuilt, tag)? {
        None => {
            println!("{}", report.digest);
            Ok(ExitCode::SUCCESS)
        }
        // Through `error::render` like every other error.
        Some(difference) => Err(anyhow::Error::msg(difference)),
    }
}

/// The build `compose verify` compares with: from the lock, every layer from its packages,
/// into the layout `dir` tagged `tag`. No platforms in `params`: the spec's.
fn rebuild_options(
    args: &VerifyArgs,
    params: &build::provenance::Parameters,
    dir: &std::path::Path,
    tag: &str,
) -> Result<BuildOptions> {
    Ok(BuildOptions {
        spec: args.spec.clone(),
        outputs: vec![Destination::Layout {
            dir: dir.to_path_buf(),
            tag: tag.to_owned(),
        }],
        annotations: params.annotations.clone(),
        push: push_options(&RegistryArgs::default(), DEFAULT_CHUNK, &args.archive)?,
        variant: params.variant,
        compression: params.compression,
        mirrors: args.archive.mirror.clone(),
        access: args.archive.access(args.registry.insecure),
        cache_dir: args.archive.cache_dir(),
        jobs: default_jobs(),
        offline: args.offline,
        locked: true,
        platforms: (!params.platforms.is_empty()).then(|| params.platforms.clone()),
        source_date_epoch: params.source_date_epoch,
        progress: std::io::stderr().is_terminal(),
        // A rebuild from the packages themselves: never from layers a cache kept.
        layer_cache: false,
        shared_layer_cache: None,
        // The lock says where each suite was read.
        snapshot: None,
        vendor: args.vendor.as_deref().map(vendor_dir).transpose()?,
        sign: None,
        attest: false,
    })
}

/// `compose verify SPEC --image docker://... --key PUB.pem`: pull, signature, attestations,
/// provenance inputs, then the rebuild with the provenance's parameters; one line each.
#[allow(clippy::print_stdout)]
fn verify_image(args: &VerifyArgs, image: &str) -> Result<ExitCode> {
    let dest = Destination::parse(image).map_err(anyhow::Error::msg)?;
    let Destination::Registry(reference) = &dest else {
        anyhow::bail!("`--image` names a `docker://HOST[:PORT]/REPO[:TAG]`, not `{dest}`");
    };
    let key_path = args.key.clone().unwrap_or_default();
    let key = crate::sign::VerifyingKey::load(&key_path)?;
    let push = push_options(&args.registry, DEFAULT_CHUNK, &args.archive)?;
    let scratch = tempfile::tempdir().context("cannot make a temporary directory")?;
    let pulled = scratch.path().join("pulled");
    let checked = crate::verify::published::check(
        &crate::verify::published::Published {
            image: reference,
            key: &key,
            key_path: &key_path,
            spec: &args.spec,
            push: &push,
        },
        &pulled,
    )?;
    for line in &checked.lines {
        println!("{line}");
    }
    let rebuilt = scratch.path().join("rebuild");
    let opts = rebuild_options(args, &checked.parameters, &rebuilt, &reference.tag)?;
    build::build(&opts)?;
    match crate::verify::compare(&pulled, &dest, &rebuilt, &reference.tag)? {
        None => {
            println!("rebuild: ok (the rebuild from the lock is {})", checked.digest);
            Ok(ExitCode::SUCCESS)
        }
        Some(difference) => Err(Hinted::new(
            format!("rebuild: {difference}"),
            "the image under this tag was not built from this spec and lock as its provenance says: do not use it",
        )
        .into()),
    }
}

fn why(args: WhyArgs) -> Result<ExitCode> {
    let opts = crate::why::WhyOptions {
        spec: args.spec,
        package: args.package,
        variant: parse_variant(&args.variant)?,
        mirrors: args.archive.mirror.clone(),
        access: args.archive.access(args.insecure),
        cache: Cache::new(args.archive.cache_dir()),
        offline: args.offline,
        platform: args
            .platform
            .as_deref()
            .map(Platform::parse)
            .transpose()
            .map_err(anyhow::Error::msg)?,
    };
    let (_, text) = crate::why::explain(&opts)?;
    #[allow(clippy::print_stdout)]
    {
        print!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_variant(text: &str) -> Result<Variant> {
    Variant::parse(text).map_err(anyhow::Error::msg)
}

/// Worker threads when `--jobs` is not given: one per CPU.
fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn source_date_epoch() -> Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().parse().with_context(|| {
            format!("`SOURCE_DATE_EPOCH` must be seconds since 1970, not `{v}`")
        })?)),
        _ => Ok(None),
    }
}

const DEFAULT_CHUNK: u64 = 8 << 20;

/// `8M`, `512K`, `1G` or plain bytes.
fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let (num, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_uppercase()),
        _ => (t, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        _ => anyhow::bail!("`{text}` is not a size like `8M`"),
    };
    let n: u64 = num
        .parse()
        .with_context(|| format!("`{text}` is not a size like `8M`"))?;
    match n.checked_shl(shift) {
        Some(v) if v > 0 => Ok(v),
        _ => anyhow::bail!("`{text}` is not a size like `8M`"),
    }
}

fn parse_annotations(list: &[String]) -> Result<BTreeMap<String, String>> {
    list.iter()
        .map(|a| {
            let (k, v) = a
                .split_once('=')
                .with_context(|| format!("`--annotation {a}` must be `KEY=VALUE`"))?;
            Ok((
                crate::spec::annotation_key(k).map_err(anyhow::Error::msg)?,
                v.to_owned(),
            ))
        })
        .collect()
}

fn push_options(
    registry: &RegistryArgs,
    chunk_size: u64,
    archive: &ArchiveArgs,
) -> Result<PushOptions> {
    Ok(PushOptions {
        creds: registry
            .creds
            .as_deref()
            .map(Credentials::parse)
            .transpose()
            .map_err(anyhow::Error::msg)?,
        docker_config: auth::docker_config_path(),
        insecure: registry.insecure,
        chunk_size,
        jobs: 4,
        known_blobs: archive.cache_dir().join("registry-blobs.json"),
    })
}

/// `--vendor DIR`, absolute (it becomes `file:` URLs, so it must be UTF-8).
fn vendor_dir(dir: &std::path::Path) -> Result<PathBuf> {
    let dir =
        std::path::absolute(dir).with_context(|| format!("cannot resolve `{}`", dir.display()))?;
    if dir.to_str().is_none() {
        anyhow::bail!("`--vendor {}`: the path must be UTF-8", dir.display());
    }
    Ok(dir)
}

#[allow(clippy::print_stdout)]
fn vendor(args: VendorArgs) -> Result<ExitCode> {
    let report = crate::vendor::vendor(&crate::vendor::VendorOptions {
        spec: args.spec.clone(),
        dir: args.dir.clone(),
        mirrors: args.archive.mirror.clone(),
        access: args.archive.access(args.insecure),
        cache_dir: args.archive.cache_dir(),
        jobs: default_jobs(),
    })?;
    println!(
        "vendored {} into {}: {} files, {} new",
        args.spec.display(),
        args.dir.display(),
        report.files,
        report.new
    );
    Ok(ExitCode::SUCCESS)
}

/// `--layer-cache`, parsed; a registry cache needs the network `--offline` forbids.
fn shared_layer_cache(text: Option<&str>, offline: bool) -> Result<Option<layercache::Shared>> {
    let Some(text) = text else {
        return Ok(None);
    };
    let shared = layercache::Shared::parse(text)?;
    if offline && matches!(shared, layercache::Shared::Registry(_)) {
        anyhow::bail!(
            "`--offline` uses no network: a `docker://` `--layer-cache` cannot be used with it"
        );
    }
    Ok(Some(shared))
}

fn build(args: BuildArgs) -> Result<ExitCode> {
    crate::interrupt::install().context("cannot watch for interrupts")?;
    let names = build::family_names(&args.spec)?;
    let family_outputs = build::family_outputs(&args.output, &names)?;
    // Every destination is checked before the build starts (and again before it is
    // written): a build that cannot be written is refused at once.
    for outputs in &family_outputs {
        crate::publish::check(outputs)?;
    }
    let annotations = parse_annotations(&args.annotation)?;
    let push = push_options(
        &args.registry,
        parse_size(&args.push_chunk_size)?,
        &args.archive,
    )?;
    let platforms = parse_platforms(&args.platform)?;
    let jobs = match args.jobs {
        Some(0) => anyhow::bail!("`--jobs` must be at least 1"),
        Some(n) => n,
        None => default_jobs(),
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build_global()
        .context("cannot start worker threads")?;
    let variant = parse_variant(&args.variant)?;
    let vendor = args.vendor.as_deref().map(vendor_dir).transpose()?;
    let shared_layer_cache = shared_layer_cache(args.layer_cache.as_deref(), args.offline)?;
    if vendor.is_some() && matches!(shared_layer_cache, Some(layercache::Shared::Registry(_))) {
        anyhow::bail!(
            "`--vendor` uses no network: a `docker://` `--layer-cache` cannot be used with it"
        );
    }
    let sign = signing_key(args.sign.as_deref())?;
    let opts = BuildOptions {
        spec: PathBuf::new(),
        outputs: Vec::new(),
        annotations,
        push,
        variant,
        compression: args.compression,
        mirrors: args.archive.mirror.clone(),
        access: args.archive.access(args.registry.insecure),
        cache_dir: args.archive.cache_dir(),
        jobs,
        offline: args.offline,
        // A vendored directory holds the lock's files and no others; the provenance names
        // the lock, and `verify --image` rebuilds from it.
        locked: args.locked || args.attest || vendor.is_some(),
        platforms,
        source_date_epoch: source_date_epoch()?,
        progress: std::io::stderr().is_terminal(),
        layer_cache: !args.no_layer_cache,
        shared_layer_cache,
        snapshot: args.snapshot.clone(),
        vendor,
        sign,
        attest: args.attest,
    };
    let family: Vec<BuildOptions> = args
        .spec
        .iter()
        .zip(family_outputs)
        .map(|(spec, outputs)| BuildOptions {
            spec: spec.clone(),
            outputs,
            ..opts.clone()
        })
        .collect();
    let reports = build::build_family(&family)?;
    print_reports(&reports, args.json)?;
    Ok(ExitCode::SUCCESS)
}

/// The `--sign` key, loaded before anything is built (a wrong password fails at once); an
/// encrypted key's password comes from `COSIGN_PASSWORD`, as for cosign.
fn signing_key(path: Option<&std::path::Path>) -> Result<Option<Arc<SigningKey>>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let password = std::env::var("COSIGN_PASSWORD").ok();
    let key = SigningKey::load(path, password.as_deref())?;
    Ok(Some(Arc::new(key)))
}

/// One spec: its digest, or its JSON object. Several: `<digest>  <name>` lines, or a JSON
/// array of the objects, in the order given.
#[allow(clippy::print_stdout)]
fn print_reports(reports: &[build::BuildReport], json: bool) -> Result<()> {
    match (reports, json) {
        ([one], true) => println!("{}", serde_json::to_string_pretty(one)?),
        ([one], false) => println!("{}", one.digest),
        (all, true) => println!("{}", serde_json::to_string_pretty(all)?),
        (all, false) => {
            for r in all {
                println!("{}  {}", r.digest, r.name);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("8M").unwrap(), 8 << 20);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        for bad in ["", "0", "M", "8X", "-1M"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn annotations_parse() {
        let a = parse_annotations(&["version=1.2".into(), "com.example.x=a=b".into()]).unwrap();
        assert_eq!(a["org.opencontainers.image.version"], "1.2");
        assert_eq!(a["com.example.x"], "a=b");
        assert!(parse_annotations(&["version".into()]).is_err());
        assert!(parse_annotations(&["colour=red".into()]).is_err());
    }
}
