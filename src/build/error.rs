//! The refusals of the build stages, each with what the user can do about it (`Hint`).

use std::path::PathBuf;

use crate::error::Hint;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("suite `{suite}` of `{url}` has no `{index}` index")]
    NoIndex {
        suite: String,
        url: String,
        index: String,
    },
    #[error(
        "suite `{suite}` of `{url}` has no `{arch}` packages, so it cannot build `{platform}`: its release file lists {listed}"
    )]
    NoArchitecture {
        suite: String,
        url: String,
        arch: String,
        platform: String,
        listed: String,
    },
    #[error("package `{package}` of `packages.partial` in `{spec}` is not in any source")]
    NoPartial { package: String, spec: String },
    #[error("`{}` has no layer `{layer}`", lock.display())]
    LockWithoutLayer { lock: PathBuf, layer: String },
    #[error("`{}` has no packages for platform `{platform}`", lock.display())]
    LockWithoutPlatform {
        lock: PathBuf,
        platform: String,
        spec: PathBuf,
    },
    #[error("`--locked` needs `{}`, which does not exist", lock.display())]
    LockedWithoutLock { lock: PathBuf, spec: PathBuf },
    #[error("`{}` is stale: {} changed since it was made", lock.display(), changed.join(", "))]
    LockedStale {
        lock: PathBuf,
        changed: Vec<String>,
        spec: PathBuf,
    },
    /// `compose lock --check` of a spec without a lock.
    #[error("`{}` does not exist", lock.display())]
    NoLock { lock: PathBuf, spec: PathBuf },
    /// `compose lock --check` of a spec whose lock is stale.
    #[error("`{}` does not match the spec: {} changed", lock.display(), changed.join(", "))]
    StaleLock {
        lock: PathBuf,
        changed: Vec<String>,
        spec: PathBuf,
    },
    /// Packages of the lock that neither the mirror nor a snapshot archive has, for a build
    /// that may use nothing but the lock (`--locked`).
    #[error(
        "`{}` names packages that neither the mirror nor a snapshot archive has: {}",
        lock.display(),
        missing.join(", ")
    )]
    LockedPackagesGone {
        lock: PathBuf,
        missing: Vec<String>,
        spec: PathBuf,
        /// Whether a snapshot archive was asked too.
        snapshot: bool,
    },
    #[error("`--snapshot`: {message}")]
    BadSnapshot { message: String },
    #[error("`--snapshot` pins `archive` sources, and `{spec}` has none")]
    SnapshotWithoutArchive { spec: String },
    #[error(
        "archive `{name}` cannot be read from a snapshot archive: its name is not one URL component"
    )]
    SnapshotArchiveName { name: String },
    #[error("`{output}` can hold one platform, and the build has {platforms}")]
    OnePlatformOutput { output: String, platforms: usize },
    #[error("`config.env.{key}` of `{spec}` names package `{package}`, which is not in the image")]
    EnvPackage {
        key: String,
        spec: String,
        package: String,
        path: PathBuf,
    },
    #[error("`config.env.{key}`: {message}")]
    EnvTemplate { key: String, message: String },
    #[error(
        "`{spec}` asks for `generate.java-cacerts` but no package in the image ships certificates"
    )]
    NoCertificates { spec: String },
    #[error("`--output {output}` has no `{{name}}`, and the build has {specs} specs")]
    FamilyOutput { output: String, specs: usize },
    #[error("`{}` and `{}` both make image `{name}`", first.display(), second.display())]
    SameName {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// A release file pinned by the lock (`--vendor`, `compose vendor`) is another one.
    #[error(
        "`{url}` is not the release file the lock names: its text has {found}, the lock {locked}"
    )]
    ReleaseNotLocked {
        url: String,
        locked: String,
        found: String,
    },
    #[error(
        "no copy of the release file the lock names for suite `{suite}` of `{location}` is left"
    )]
    NoLockedRelease {
        location: String,
        suite: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Hint for BuildError {
    fn hint(&self) -> Option<String> {
        use BuildError::*;
        Some(match self {
            NoIndex { .. } => "check the component and platform names in the spec".into(),
            NoArchitecture { platform, .. } => format!(
                "this Debian release does not carry `{platform}`; leave it out of the spec's `platforms` (or `--platform`)"
            ),
            LockWithoutLayer { .. } => "run `compose lock --update`".into(),
            LockWithoutPlatform { spec, .. } => format!(
                "add it to the spec's `platforms` and run `compose lock --update {}`",
                spec.display()
            ),
            LockedWithoutLock { spec, .. } | NoLock { spec, .. } => {
                format!("run `compose lock {}`", spec.display())
            }
            LockedStale { spec, .. } => format!(
                "review the change, then run `compose lock --update {}`",
                spec.display()
            ),
            StaleLock { spec, .. } => format!("run `compose lock --update {}`", spec.display()),
            LockedPackagesGone {
                spec,
                snapshot: false,
                ..
            } => format!(
                "give a snapshot archive that has them (`--mirror {}=URL` or `{}`), or run `compose lock --update {}`",
                crate::mirror::SNAPSHOT,
                crate::mirror::env_var(crate::mirror::SNAPSHOT),
                spec.display()
            ),
            LockedPackagesGone { spec, .. } => format!(
                "the snapshot archive does not have them at the lock's date either; run `compose lock --update {}`",
                spec.display()
            ),
            SnapshotWithoutArchive { .. } => "a `url` source names its server itself; point it at the snapshot, or name the archive (`archive = \"debian\"`)".into(),
            OnePlatformOutput { .. } => "pass `--platform` with one platform for this output, or use `oci-archive:`, which holds them all".into(),
            EnvPackage { package, path, .. } => format!(
                "name a package of the image (`compose why {} {package}` says why it is not)",
                path.display()
            ),
            FamilyOutput { .. } => "with several specs, every output names its image with `{name}` (`--output oci:out/{name}`)".into(),
            SameName { .. } => {
                "give each spec its own `name`, or build them in separate runs".into()
            }
            ReleaseNotLocked { .. } => "vendor the spec again (`compose vendor SPEC DIR`); if the mirror has moved on since the lock was made, run `compose lock --update SPEC` first".into(),
            NoLockedRelease { .. } => "lock what the mirror publishes now (`compose lock --update SPEC`), or pass `--mirror snapshot=URL` so that the lock's release is read from the snapshot archive".into(),
            NoPartial { .. }
            | EnvTemplate { .. }
            | NoCertificates { .. }
            | BadSnapshot { .. }
            | SnapshotArchiveName { .. } => return None,
        })
    }
}
