//! `compose outdated` and `compose diff`: what a refresh would change and what it fixes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::{ArchiveArgs, DEFAULT_CHUNK, RegistryArgs, push_options};
use crate::fetch::{Cache, Fetcher};
use crate::mirror::Mirrors;
use crate::patch::{self, FailOn, Format};

/// The exit status of `compose outdated --fail-on` when what it names is there: not 1 (an
/// error) or 2 (a usage error), so CI can tell "rebuild" from "could not check".
pub const EXIT_OUTDATED: u8 = 3;

#[derive(Debug, clap::Args)]
pub struct OutdatedArgs {
    /// The spec files (each with its lock; several: a family).
    #[arg(required = true)]
    spec: Vec<PathBuf>,
    /// How to print the report.
    #[arg(long, value_enum, default_value = "table", conflicts_with = "json")]
    format: Format,
    /// Print JSON (`--format json`).
    #[arg(long)]
    json: bool,
    /// Exit with status 3 when a newer version comes from a security suite or fixes a named
    /// CVE (`security`), or when there is any newer version (`any`).
    #[arg(long, value_enum, value_name = "WHAT")]
    fail_on: Option<FailOn>,
    /// The Debian security tracker's JSON (a file, or an `http(s)` URL fetched into the
    /// cache): CVEs changelogs do not name, and those still open in the locked versions.
    #[arg(long, value_name = "FILE|URL")]
    security_tracker: Option<String>,
    #[command(flatten)]
    archive: ArchiveArgs,
    /// Allow mirror credentials over plain HTTP to hosts that are not on this machine.
    #[arg(long)]
    insecure: bool,
    /// Use only the cache (indexes and changelogs); say what could not be seen.
    #[arg(long)]
    offline: bool,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// A lock file, or an image: `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
    /// `docker-archive:FILE`, `docker://HOST[:PORT]/REPO[:TAG]`.
    old: String,
    /// The same forms as OLD.
    new: String,
    /// How to print the report.
    #[arg(long, value_enum, default_value = "table", conflicts_with = "json")]
    format: Format,
    /// Print JSON (`--format json`).
    #[arg(long)]
    json: bool,
    /// The Debian security tracker's JSON (a file, or an `http(s)` URL fetched into the cache).
    #[arg(long, value_name = "FILE|URL")]
    security_tracker: Option<String>,
    /// The Debian release the tracker is read for (default: the locks' release).
    #[arg(long, value_name = "NAME", requires = "security_tracker")]
    release: Option<String>,
    #[command(flatten)]
    archive: ArchiveArgs,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Use only the cache for changelogs; say what could not be seen.
    #[arg(long)]
    offline: bool,
}

fn format_of(format: Format, json: bool) -> Format {
    if json { Format::Json } else { format }
}

#[allow(clippy::print_stdout)]
pub fn outdated(args: OutdatedArgs) -> Result<ExitCode> {
    let reports = patch::outdated(&patch::OutdatedOptions {
        specs: args.spec.clone(),
        mirrors: args.archive.mirror.clone(),
        access: args.archive.access(args.insecure),
        cache_dir: args.archive.cache_dir(),
        offline: args.offline,
        tracker: args.security_tracker.clone(),
    })?;
    print!(
        "{}",
        patch::render(&reports, format_of(args.format, args.json))
    );
    Ok(match args.fail_on {
        Some(f) if f.fails(&reports) => ExitCode::from(EXIT_OUTDATED),
        _ => ExitCode::SUCCESS,
    })
}

#[allow(clippy::print_stdout)]
pub fn diff(args: DiffArgs) -> Result<ExitCode> {
    let pull = push_options(&args.registry, DEFAULT_CHUNK, &args.archive)?;
    let cache = Cache::new(args.archive.cache_dir());
    let mut old = patch::side(&args.old, &pull, &cache)?;
    let mut new = patch::side(&args.new, &pull, &cache)?;
    patch::align(&mut old, &mut new);
    let mirrors = Mirrors::of_host(
        &args.archive.mirror,
        &args.archive.access(args.registry.insecure),
    )?;
    let fetcher = Fetcher::new(cache.clone(), 4, args.offline)?
        .with_credentials(mirrors.credentials().clone());
    let tracker = match &args.security_tracker {
        Some(t) => Some(patch::tracker_for(
            t,
            &fetcher,
            args.release.as_deref(),
            &[&old, &new],
        )?),
        None => None,
    };
    let cx = patch::Context {
        changelogs: patch::changelogs::Changelogs {
            cache: &cache,
            fetcher: &fetcher,
        },
        mirrors: &mirrors,
        tracker: tracker.as_ref(),
    };
    let title = format!("{} -> {}", args.old, args.new);
    let report = patch::compare(title, &old, &new, &cx)?;
    print!(
        "{}",
        patch::render(&[report], format_of(args.format, args.json))
    );
    Ok(ExitCode::SUCCESS)
}
