//! The TOML spec: raw parsing with serde, validation into `Spec`, and the `extends` chain.
//!
//! A spec file is parsed strictly (unknown keys and wrong types are errors with file, line and
//! column). `Spec::load` follows `extends` and returns the chain parent first; every level
//! carries its effective settings (inherited and merged) so later stages never look back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use toml::Spanned;

pub mod inhouse;
pub mod template;

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read spec `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid spec `{}`", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        /// What to do about it, when the user can do something.
        hint: Option<String>,
    },
    #[error("cannot read certificate file `{}` (named in `{}`)", path.display(), spec.display())]
    ReadCertificate {
        spec: PathBuf,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`extends` forms a cycle: {chain}")]
    Cycle { chain: String },
    #[error("cannot read `{}`, the source of `{image_path}` in `[[files]]`", path.display())]
    FileSource {
        path: PathBuf,
        image_path: String,
        #[source]
        source: std::io::Error,
    },
}

impl crate::error::Hint for SpecError {
    fn hint(&self) -> Option<String> {
        match self {
            SpecError::Invalid { hint, .. } => hint.clone(),
            _ => None,
        }
    }
}

/// The raw TOML document, as the user wrote it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSpec {
    name: Spanned<String>,
    extends: Option<Spanned<String>>,
    platforms: Option<Vec<Spanned<String>>>,
    #[serde(default, rename = "source")]
    sources: Vec<Spanned<RawSource>>,
    #[serde(default)]
    packages: RawPackages,
    #[serde(default)]
    paths: RawPaths,
    #[serde(default)]
    config: RawConfig,
    #[serde(default, rename = "symlink")]
    symlinks: Vec<Spanned<RawSymlink>>,
    #[serde(default)]
    generate: RawGenerate,
    #[serde(default)]
    debug: RawDebug,
    #[serde(default)]
    sbom: RawSbom,
    /// OCI annotations of the manifests and index; short keys name the predefined ones.
    #[serde(default)]
    annotations: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    certificates: inhouse::RawCertificates,
    #[serde(default)]
    accounts: inhouse::RawAccounts,
    #[serde(default)]
    directories: Vec<Spanned<inhouse::RawDirectory>>,
    /// `[[files]]`: files this level adds, from beside the spec or a URL.
    #[serde(default)]
    files: Vec<Spanned<RawFile>>,
}

/// One `[[files]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    path: String,
    source: Option<String>,
    url: Option<String>,
    sha256: Option<String>,
    mode: Option<String>,
    uid: Option<u64>,
    gid: Option<u64>,
    #[serde(default)]
    replace: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSymlink {
    path: String,
    target: String,
}

/// `[debug]`: what the debug variants add besides busybox.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDebug {
    #[serde(default)]
    include: Vec<Spanned<String>>,
}

/// `[sbom]`: what the SBOM beside the output says of the image itself.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSbom {
    supplier: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawGenerate {
    java_cacerts: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSource {
    archive: Option<String>,
    url: Option<String>,
    suites: Vec<String>,
    #[serde(default = "default_components")]
    components: Vec<String>,
    signed_by: Option<String>,
    /// apt's `Check-Valid-Until`: `false` for snapshot archives, whose release files are
    /// past their `Valid-Until` by design.
    #[serde(default = "default_true")]
    check_valid_until: bool,
    /// A snapshot archive's timestamp (`20261120T000000Z`): the archive as it was then.
    snapshot: Option<Spanned<String>>,
}

fn default_true() -> bool {
    true
}

fn default_components() -> Vec<String> {
    vec!["main".to_owned()]
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPackages {
    #[serde(default)]
    include: Vec<Spanned<String>>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
    /// Package -> globs: install only these paths of the package, without its dependencies.
    #[serde(default)]
    partial: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPaths {
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
    #[serde(default)]
    keep: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    /// Refused: the variant decides the user and working directory (read only to say so).
    user: Option<Spanned<toml::Value>>,
    workdir: Option<Spanned<toml::Value>>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Where a source's packages come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Location {
    /// A symbolic archive name (`debian`, `debian-security`), resolved by `mirror`.
    Archive(String),
    Url(String),
}

impl std::fmt::Display for Location {
    /// `archive:NAME` or the URL: how locks record a source, independent of the mirror.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Archive(a) => write!(f, "archive:{a}"),
            Location::Url(u) => f.write_str(u),
        }
    }
}

impl Location {
    /// The inverse of `Display`.
    pub fn parse(text: &str) -> Location {
        match text.strip_prefix("archive:") {
            Some(a) => Location::Archive(a.to_owned()),
            None => Location::Url(text.to_owned()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub location: Location,
    pub suites: Vec<String>,
    pub components: Vec<String>,
    /// Keyring for the InRelease signature; the Debian archive keyring when absent.
    pub signed_by: Option<PathBuf>,
    /// Whether a release file past its `Valid-Until` is refused (apt's default, `true`).
    pub check_valid_until: bool,
    /// For an `archive` source: the snapshot archive's timestamp (`20261120T000000Z`, checked
    /// by `snapshot::parse`) to read the archive at instead of its mirror (`mirror` makes
    /// the URL); `Valid-Until` is not enforced for it.
    pub snapshot: Option<String>,
}

impl Source {
    /// Whether a release file past its `Valid-Until` is refused: not for a snapshot, whose
    /// release files are old by design, nor where the spec turns the check off.
    pub fn enforces_valid_until(&self) -> bool {
        self.check_valid_until && self.snapshot.is_none()
    }
}

/// An OCI platform and the Debian architecture that serves it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    /// Debian's name for the architecture (`amd64`, `arm64`, `armhf`...).
    pub debian_arch: String,
}

impl Platform {
    /// Parse an OCI platform name such as `linux/amd64` or `linux/arm/v7`. The OCI fields are
    /// the ones Docker and distroless publish: arm64 is `arm64` variant `v8`, Debian's armhf
    /// is `arm` variant `v7` (`linux/arm` alone means v7, as for Docker), ppc64el is
    /// `ppc64le`.
    pub fn parse(text: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = text.split('/').collect();
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(*variant)),
            _ => return Err(format!("`{text}` is not a platform like `linux/amd64`")),
        };
        if os != "linux" {
            return Err(format!("unsupported operating system `{os}` in `{text}`"));
        }
        let (debian_arch, variant) = match (arch, variant) {
            ("amd64", None) => ("amd64", None),
            ("arm64", None | Some("v8")) => ("arm64", Some("v8")),
            ("arm", None | Some("v7")) => ("armhf", Some("v7")),
            ("arm", Some("v5")) => ("armel", Some("v5")),
            ("386", None) => ("i386", None),
            ("ppc64le", None) => ("ppc64el", None),
            ("s390x", None) => ("s390x", None),
            ("riscv64", None) => ("riscv64", None),
            _ => return Err(format!("unsupported platform `{text}`")),
        };
        Ok(Platform {
            os: os.to_owned(),
            architecture: arch.to_owned(),
            variant: variant.map(str::to_owned),
            debian_arch: debian_arch.to_owned(),
        })
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A path pattern of a spec (`[paths]`, `[packages.partial]`) as shell and gitignore globs
/// read it: `*` and `?` never match `/` (`/usr/share/doc/*/copyright` is a package's own
/// copyright, not `/usr/share/doc/p/examples/x/debian/copyright`), `**` as a whole component
/// matches any number of them.
pub fn path_glob(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern).literal_separator(true).build()
}

/// `[paths]` filters: globs on absolute paths inside the image (`path_glob`); `keep` wins
/// over `exclude`.
#[derive(Debug, Clone)]
pub struct PathFilter {
    pub exclude: Vec<String>,
    pub keep: Vec<String>,
    exclude_set: GlobSet,
    keep_set: GlobSet,
}

impl PathFilter {
    pub fn new(exclude: Vec<String>, keep: Vec<String>) -> Result<PathFilter, globset::Error> {
        let build = |globs: &[String]| -> Result<GlobSet, globset::Error> {
            let mut b = GlobSetBuilder::new();
            for g in globs {
                b.add(path_glob(g)?);
            }
            b.build()
        };
        Ok(PathFilter {
            exclude_set: build(&exclude)?,
            keep_set: build(&keep)?,
            exclude,
            keep,
        })
    }

    /// Whether the absolute path `path` (`/usr/share/doc/x`) stays in the image.
    pub fn allows(&self, path: &str) -> bool {
        !self.exclude_set.is_match(path) || self.keep_set.is_match(path)
    }

    /// Whether `keep` asks for the absolute path `path` (whatever `exclude` says).
    pub fn keeps(&self, path: &str) -> bool {
        self.keep_set.is_match(path)
    }
}

/// The OCI image configuration a spec asks for (merged along the chain). User and working
/// directory are not here: the variant decides them (`build::Variant`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// Values may name package versions (`template`), expanded per platform at build time.
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// A symlink the image gets (what `update-alternatives` would have made). `{arch}` in the
/// target stands for the Debian architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symlink {
    pub path: String,
    pub target: String,
}

/// Where the bytes of a `[[files]]` entry come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOrigin {
    /// A file beside the spec: `written` as in the spec, `path` resolved against the spec's
    /// directory, `size` when the spec was loaded.
    Source {
        written: String,
        path: PathBuf,
        size: u64,
    },
    /// Fetched, and accepted only with the spec's `sha256`.
    Url(String),
}

/// A file a level adds (`[[files]]`), in that level's layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Absolute, normalized (`/etc/app/app.conf`).
    pub path: String,
    pub origin: FileOrigin,
    /// Lower-case hex: of the source file when the spec was loaded, or the spec's for a URL.
    pub sha256: String,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Whether it may replace a file that is already in the image.
    pub replace: bool,
}

/// A package of which only some paths are installed (`[packages.partial]`).
#[derive(Debug, Clone)]
pub struct Partial {
    pub package: String,
    pub keep: PathFilter,
}

/// One level of an `extends` chain with its effective settings.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub path: PathBuf,
    /// The raw bytes of the spec file (its hash goes into locks and history).
    pub text: String,
    pub platforms: Vec<Platform>,
    pub sources: Vec<Source>,
    /// Packages this level adds on top of its parent.
    pub include: Vec<String>,
    /// Effective excludes: the parent's, plus this level's, minus what this level includes.
    pub exclude: BTreeSet<String>,
    pub paths: PathFilter,
    pub config: ImageConfig,
    /// Symlinks this level adds.
    pub symlinks: Vec<Symlink>,
    /// Packages this level installs only in part.
    pub partial: Vec<Partial>,
    /// Generate `/etc/ssl/certs/java/cacerts` from the CA bundle (inherited).
    pub java_cacerts: bool,
    /// Packages the debug variants add to their layer besides busybox (`[debug] include`,
    /// the parent's then this level's).
    pub debug_include: Vec<String>,
    /// OCI annotations, full keys (inherited; a level overrides its parent's).
    pub annotations: BTreeMap<String, String>,
    /// `[sbom] supplier` in SPDX form (`Organization: ACME Corp`, `Person: Jane Doe`), the
    /// supplier of the image's own package in the SBOM beside the output (inherited).
    pub sbom_supplier: Option<String>,
    /// Files this level adds (`[[files]]`; not inherited: each in its own level's layer).
    pub files: Vec<File>,
    /// `[certificates]`, `[[accounts.*]]` and `[[directories]]` (see `inhouse`).
    pub inhouse: inhouse::InHouse,
}

/// The `org.opencontainers.image.*` annotations a short key may name.
const PREDEFINED_ANNOTATIONS: &[&str] = &[
    "created",
    "authors",
    "url",
    "documentation",
    "source",
    "version",
    "revision",
    "vendor",
    "licenses",
    "title",
    "description",
    "base.digest",
    "base.name",
];

/// The full annotation key for `key`: a predefined short name (`description`,
/// `base.name`) gets the `org.opencontainers.image.` prefix; any other key must be a
/// reverse-domain name of its own. `ref.name` is the tag of each output, never set here.
pub fn annotation_key(key: &str) -> Result<String, String> {
    let full = if PREDEFINED_ANNOTATIONS.contains(&key) {
        format!("org.opencontainers.image.{key}")
    } else if key.contains('.') && !key.starts_with('.') && !key.ends_with('.') {
        key.to_owned()
    } else {
        return Err(format!(
            "annotation `{key}` is neither a predefined name ({}) nor a reverse-domain key like `com.example.team`",
            PREDEFINED_ANNOTATIONS.join(", ")
        ));
    };
    if key == "ref.name" || full == "org.opencontainers.image.ref.name" {
        return Err(format!(
            "annotation `{key}` is the tag of each output; give it in `--output` instead"
        ));
    }
    Ok(full)
}

impl Spec {
    /// Load `path` and its `extends` ancestors; the result is the chain, parent first.
    pub fn load(path: &Path) -> Result<Vec<Spec>, SpecError> {
        let mut files = Vec::new();
        let mut seen = Vec::new();
        let mut next = Some(path.to_path_buf());
        while let Some(p) = next.take() {
            let canon = fs_err::canonicalize(&p).unwrap_or_else(|_| p.clone());
            if seen.contains(&canon) {
                seen.push(canon);
                let chain = seen
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" -> ");
                return Err(SpecError::Cycle { chain });
            }
            seen.push(canon);
            let text = fs_err::read_to_string(&p).map_err(|source| SpecError::Read {
                path: p.clone(),
                source,
            })?;
            let raw: RawSpec = toml::from_str(&text).map_err(|source| SpecError::Parse {
                path: p.clone(),
                source: Box::new(source),
            })?;
            if let Some(parent) = &raw.extends {
                let file = parent_file(&p, parent.get_ref());
                next = Some(file);
            }
            files.push((p, text, raw));
        }
        let mut chain: Vec<Spec> = Vec::new();
        for (path, text, raw) in files.into_iter().rev() {
            let spec = validate(path, text, raw, chain.last())?;
            chain.push(spec);
        }
        Ok(chain)
    }
}

fn parent_file(child: &Path, name: &str) -> PathBuf {
    let dir = child.parent().unwrap_or(Path::new("."));
    let file = if name.ends_with(".toml") {
        name.to_owned()
    } else {
        format!("{name}.toml")
    };
    dir.join(file)
}

/// Line and column (1-based) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

/// `e` (a source URL with `user:password@`) with the hint of where credentials belong: a
/// spec is committed and its URLs reach the lock, the SBOM and the provenance.
fn with_credentials(mut e: SpecError) -> SpecError {
    if let SpecError::Invalid { hint, .. } = &mut e {
        *hint = Some("a spec is shared and its URLs are recorded: write the URL without them, and the credentials in /etc/apt/auth.conf, a file of /etc/apt/auth.conf.d or a file given with `--auth-file` (`machine HOST[/PATH] login USER password PASS`)".to_owned());
    }
    e
}

/// Makes a `SpecError::Invalid` at a span of the spec's text.
type Invalid<'a> = &'a dyn Fn(std::ops::Range<usize>, String) -> SpecError;

fn validate(
    path: PathBuf,
    text: String,
    raw: RawSpec,
    parent: Option<&Spec>,
) -> Result<Spec, SpecError> {
    let invalid = |span: std::ops::Range<usize>, message: String| {
        let (line, column) = line_col(&text, span.start);
        SpecError::Invalid {
            path: path.clone(),
            line,
            column,
            message,
            hint: None,
        }
    };
    let name = validate_name(&raw.name, &invalid)?;
    let platforms = validate_platforms(raw.platforms.as_deref(), parent, &invalid)?;
    let sources = validate_sources(&raw.sources, &path, parent, &invalid)?;
    let (include, exclude) = validate_packages(&raw.packages, parent, &invalid)?;
    let paths = validate_paths(&raw.paths, parent, &invalid)?;
    let config = validate_config(raw.config, parent, &path, &text)?;
    let symlinks = validate_symlinks(&raw.symlinks, &invalid)?;
    let partial = validate_partial(&raw.packages.partial, &invalid)?;
    let mut annotations = parent.map(|p| p.annotations.clone()).unwrap_or_default();
    for (key, value) in &raw.annotations {
        let full = annotation_key(key).map_err(|m| invalid(value.span(), m))?;
        annotations.insert(full, value.get_ref().clone());
    }
    let debug_include = validate_debug_include(&raw.debug.include, &exclude, parent, &invalid)?;
    let java_cacerts = raw
        .generate
        .java_cacerts
        .unwrap_or_else(|| parent.is_some_and(|p| p.java_cacerts));
    let sbom_supplier = match &raw.sbom.supplier {
        Some(s) => Some(spdx_supplier(s.get_ref()).map_err(|m| invalid(s.span(), m))?),
        None => parent.and_then(|p| p.sbom_supplier.clone()),
    };
    let files = validate_files(&raw.files, &path, &invalid)?;
    let inhouse = inhouse::validate(
        inhouse::Raw {
            certificates: &raw.certificates,
            accounts: &raw.accounts,
            directories: &raw.directories,
        },
        &name,
        &path,
        parent.map(|p| &p.inhouse),
        &invalid,
        inhouse::now(),
    )?;

    Ok(Spec {
        name,
        path,
        text,
        platforms,
        sources,
        include,
        exclude,
        paths,
        config,
        symlinks,
        partial,
        java_cacerts,
        debug_include,
        annotations,
        sbom_supplier,
        files,
        inhouse,
    })
}

/// A supplier in SPDX form: `Person: NAME` and `Organization: NAME` as given, any other
/// name an organization. One line, not empty.
pub fn spdx_supplier(name: &str) -> Result<String, String> {
    let name = name.trim();
    let (kind, bare) = match (
        name.strip_prefix("Person:"),
        name.strip_prefix("Organization:"),
    ) {
        (Some(rest), _) => ("Person", rest.trim()),
        (_, Some(rest)) => ("Organization", rest.trim()),
        _ => ("Organization", name),
    };
    if bare.is_empty() || bare.chars().any(char::is_control) {
        return Err(format!(
            "`sbom.supplier` must be a name on one line (`ACME Corp`, `Person: Jane Doe`), not `{}`",
            name.escape_debug()
        ));
    }
    Ok(format!("{kind}: {bare}"))
}

/// The name becomes file names (`out/NAME`, the SBOM's): one plain path component.
fn validate_name(raw_name: &Spanned<String>, invalid: Invalid) -> Result<String, SpecError> {
    let name = raw_name.get_ref().clone();
    // The name becomes file names (`out/NAME`, the SBOM's): one plain path component.
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || name.len() > 128
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(invalid(
            raw_name.span(),
            format!(
                "`name` must start with a letter or digit, then letters, digits, `-`, `_` or `.` (at most 128), not `{}`",
                name.escape_debug()
            ),
        ));
    }
    Ok(name)
}

fn validate_platforms(
    raw: Option<&[Spanned<String>]>,
    parent: Option<&Spec>,
    invalid: Invalid,
) -> Result<Vec<Platform>, SpecError> {
    let platforms = match raw {
        Some(list) => {
            if list.is_empty() {
                return Err(invalid(0..0, "`platforms` must not be empty".into()));
            }
            let mut out = Vec::new();
            for p in list {
                let platform = Platform::parse(p.get_ref()).map_err(|m| invalid(p.span(), m))?;
                if !out.contains(&platform) {
                    out.push(platform);
                }
            }
            out
        }
        None => match parent {
            Some(p) => p.platforms.clone(),
            None => vec![Platform::parse("linux/amd64").expect("valid platform")],
        },
    };
    Ok(platforms)
}

fn validate_sources(
    raw: &[Spanned<RawSource>],
    path: &Path,
    parent: Option<&Spec>,
    invalid: Invalid,
) -> Result<Vec<Source>, SpecError> {
    let mut sources = Vec::new();
    for s in raw {
        let span = s.span();
        let s = s.get_ref();
        let location = match (&s.archive, &s.url) {
            (Some(a), None) => Location::Archive(a.clone()),
            (None, Some(u)) => {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(invalid(
                        span,
                        format!("source url `{u}` must be http or https"),
                    ));
                }
                if crate::mirror::without_credentials(u) != *u {
                    return Err(with_credentials(invalid(
                        span,
                        format!(
                            "source url `{}` carries credentials",
                            crate::mirror::without_credentials(u)
                        ),
                    )));
                }
                Location::Url(u.trim_end_matches('/').to_owned())
            }
            (Some(_), Some(_)) => {
                return Err(invalid(
                    span,
                    "a source names either `archive` or `url`, not both".into(),
                ));
            }
            (None, None) => {
                return Err(invalid(
                    span,
                    "a source needs `archive` (a symbolic mirror name) or `url`".into(),
                ));
            }
        };
        if s.suites.is_empty() || s.components.is_empty() {
            return Err(invalid(
                span,
                "a source needs at least one suite and one component".into(),
            ));
        }
        let signed_by = s.signed_by.as_ref().map(|k| {
            let k = Path::new(k);
            if k.is_absolute() {
                k.to_path_buf()
            } else {
                path.parent().unwrap_or(Path::new(".")).join(k)
            }
        });
        let snapshot = validate_snapshot(s.snapshot.as_ref(), &location, invalid)?;
        sources.push(Source {
            location,
            suites: s.suites.clone(),
            components: s.components.clone(),
            signed_by,
            check_valid_until: s.check_valid_until,
            snapshot,
        });
    }
    if sources.is_empty() {
        match parent {
            Some(p) => sources = p.sources.clone(),
            None => {
                return Err(invalid(
                    0..0,
                    "missing `[[source]]`: a spec without `extends` needs at least one source"
                        .into(),
                ));
            }
        }
    }
    Ok(sources)
}

/// A source's `snapshot`: a strict timestamp, on an `archive` source (a snapshot archive is
/// laid out by archive name; a URL source names its server itself).
fn validate_snapshot(
    raw: Option<&Spanned<String>>,
    location: &Location,
    invalid: Invalid,
) -> Result<Option<String>, SpecError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let text = raw.get_ref();
    crate::snapshot::parse(text).map_err(|m| invalid(raw.span(), m))?;
    match location {
        Location::Archive(name) if valid_archive_name(name) => Ok(Some(text.clone())),
        Location::Archive(name) => Err(invalid(
            raw.span(),
            format!(
                "archive `{}` cannot be read from a snapshot archive: its name must be letters, digits, `-`, `_` or `.`",
                name.escape_debug()
            ),
        )),
        Location::Url(u) => {
            let mut e = invalid(
                raw.span(),
                format!("`snapshot` is for `archive` sources, and this one has `url = \"{u}\"`"),
            );
            if let SpecError::Invalid { hint, .. } = &mut e {
                *hint = Some(
                    "name the archive (`archive = \"debian\"`) and give the snapshot archive with `--mirror snapshot=URL` or `COMPOSE_MIRROR_SNAPSHOT`, or point `url` at the snapshot itself"
                        .into(),
                );
            }
            Err(e)
        }
    }
}

/// An archive name that can be one component of a snapshot URL (`debian`, `debian-security`).
pub fn valid_archive_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `packages.include` and the effective `packages.exclude` (the parent's, less what this
/// level includes).
fn validate_packages(
    raw: &RawPackages,
    parent: Option<&Spec>,
    invalid: Invalid,
) -> Result<(Vec<String>, BTreeSet<String>), SpecError> {
    let mut include = Vec::new();
    for p in &raw.include {
        let n = p.get_ref();
        if n.is_empty() || n.contains(char::is_whitespace) {
            return Err(invalid(p.span(), format!("invalid package name `{n}`")));
        }
        if !include.contains(n) {
            include.push(n.clone());
        }
    }
    if parent.is_none() && include.is_empty() {
        return Err(invalid(
            0..0,
            "missing `packages.include`: name at least one package".into(),
        ));
    }
    let mut exclude: BTreeSet<String> = parent.map(|p| p.exclude.clone()).unwrap_or_default();
    for p in &raw.exclude {
        let n = p.get_ref();
        let bare = n.split('=').next().unwrap_or(n);
        if include.iter().any(|i| i.split('=').next() == Some(bare)) {
            return Err(invalid(
                p.span(),
                format!("package `{n}` is both included and excluded"),
            ));
        }
        exclude.insert(n.clone());
    }
    for i in &include {
        exclude.remove(i.split('=').next().unwrap_or(i));
    }
    Ok((include, exclude))
}

fn validate_paths(
    raw: &RawPaths,
    parent: Option<&Spec>,
    invalid: Invalid,
) -> Result<PathFilter, SpecError> {
    let mut path_exclude = parent.map(|p| p.paths.exclude.clone()).unwrap_or_default();
    let mut path_keep = parent.map(|p| p.paths.keep.clone()).unwrap_or_default();
    for (list, out) in [
        (&raw.exclude, &mut path_exclude),
        (&raw.keep, &mut path_keep),
    ] {
        for g in list {
            let glob = g.get_ref();
            if !glob.starts_with('/') {
                return Err(invalid(
                    g.span(),
                    format!("path glob `{glob}` must be absolute (start with `/`)"),
                ));
            }
            path_glob(glob).map_err(|e| invalid(g.span(), format!("invalid glob: {e}")))?;
            if !out.contains(glob) {
                out.push(glob.clone());
            }
        }
    }
    PathFilter::new(path_exclude, path_keep).map_err(|e| invalid(0..0, e.to_string()))
}

/// `[config]`, on the parent's; `user` and `workdir` are refused (the variant decides).
fn validate_config(
    rc: RawConfig,
    parent: Option<&Spec>,
    path: &Path,
    text: &str,
) -> Result<ImageConfig, SpecError> {
    let mut config = parent.map(|p| p.config.clone()).unwrap_or_default();
    if let Some(e) = rc.entrypoint {
        config.entrypoint = Some(e);
    }
    if let Some(c) = rc.cmd {
        config.cmd = Some(c);
    }
    for (key, value) in [("user", &rc.user), ("workdir", &rc.workdir)] {
        if let Some(v) = value {
            let (line, column) = line_col(text, v.span().start);
            return Err(SpecError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                message: format!(
                    "`config.{key}` is not a spec setting: the variant decides it (root from `/` for `latest` and `debug`, 65532 from `/home/nonroot` for `nonroot` and `debug-nonroot`)"
                ),
                hint: Some(format!(
                    "remove `{key}` and build with `--variant nonroot` for an unprivileged image"
                )),
            });
        }
    }
    for (key, value) in rc.env {
        template::parse(value.get_ref()).map_err(|m| {
            let (line, column) = line_col(text, value.span().start);
            SpecError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                message: format!("`config.env.{key}`: {m}"),
                hint: None,
            }
        })?;
        config.env.insert(key, value.into_inner());
    }
    config.labels.extend(rc.labels);
    Ok(config)
}

fn validate_symlinks(
    raw: &[Spanned<RawSymlink>],
    invalid: Invalid,
) -> Result<Vec<Symlink>, SpecError> {
    let mut symlinks = Vec::new();
    for l in raw {
        let RawSymlink { path: link, target } = l.get_ref();
        if !link.starts_with('/') || link.len() < 2 || link.ends_with('/') || target.is_empty() {
            return Err(invalid(
                l.span(),
                "a symlink needs an absolute `path` and a non-empty `target`".into(),
            ));
        }
        symlinks.push(Symlink {
            path: link.clone(),
            target: target.clone(),
        });
    }
    Ok(symlinks)
}

fn validate_partial(
    raw: &BTreeMap<String, Vec<String>>,
    invalid: Invalid,
) -> Result<Vec<Partial>, SpecError> {
    let mut partial = Vec::new();
    for (package, globs) in raw {
        if globs.iter().any(|g| !g.starts_with('/')) {
            return Err(invalid(
                0..0,
                format!("`packages.partial.{package}` globs must be absolute paths"),
            ));
        }
        // Keep only the listed paths: exclude everything, keep the globs.
        let keep = PathFilter::new(vec!["/**".into()], globs.clone()).map_err(|e| {
            invalid(
                0..0,
                format!("invalid glob in `packages.partial.{package}`: {e}"),
            )
        })?;
        partial.push(Partial {
            package: package.clone(),
            keep,
        });
    }
    Ok(partial)
}

/// An absolute image path of plain components (no `.`, `..`, empty or control-character
/// component), without its trailing part: `/etc/app/app.conf`.
fn valid_image_path(path: &str) -> bool {
    path.strip_prefix('/').is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".." && !c.chars().any(char::is_control))
    })
}

fn validate_files(
    raw: &[Spanned<RawFile>],
    spec_path: &Path,
    invalid: Invalid,
) -> Result<Vec<File>, SpecError> {
    let mut files: Vec<File> = Vec::new();
    for f in raw {
        let span = f.span();
        let r = f.get_ref();
        let fail = |m: String| invalid(span.clone(), m);
        if !valid_image_path(&r.path) {
            return Err(fail(format!(
                "`[[files]] path` must be an absolute path of plain components (no `.`, `..` or `//`), not `{}`",
                r.path.escape_debug()
            )));
        }
        if files.iter().any(|other| other.path == r.path) {
            return Err(fail(format!("`{}` is in `[[files]]` twice", r.path)));
        }
        let mode = match &r.mode {
            None => 0o644,
            Some(m) => u32::from_str_radix(m, 8)
                .ok()
                .filter(|&v| v <= 0o7777 && !m.is_empty())
                .ok_or_else(|| {
                    fail(format!(
                        "`mode` of `{}` must be an octal string up to `7777` (`\"0640\"`), not `{}`",
                        r.path,
                        m.escape_debug()
                    ))
                })?,
        };
        let (origin, sha256) = file_origin(r, spec_path, &fail)?;
        files.push(File {
            path: r.path.clone(),
            origin,
            sha256,
            mode,
            uid: r.uid.unwrap_or(0),
            gid: r.gid.unwrap_or(0),
            replace: r.replace,
        });
    }
    Ok(files)
}

/// Where a file's bytes come from, and their SHA256: a source file is hashed now (as a
/// stream, within `fetch::MAX_SPEC_FILE`); a URL needs the spec's.
fn file_origin(
    r: &RawFile,
    spec_path: &Path,
    fail: &dyn Fn(String) -> SpecError,
) -> Result<(FileOrigin, String), SpecError> {
    match (&r.source, &r.url, &r.sha256) {
        (Some(source), None, None) => {
            if source.is_empty() || Path::new(source).is_absolute() {
                return Err(fail(format!(
                    "`source` of `{}` must be a path relative to the spec file",
                    r.path
                )));
            }
            let dir = spec_path.parent().unwrap_or(Path::new("."));
            let path = dir.join(source);
            let (sha256, size) = hash_source(&path).map_err(|source| SpecError::FileSource {
                path: path.clone(),
                image_path: r.path.clone(),
                source,
            })?;
            let written = source.clone();
            Ok((
                FileOrigin::Source {
                    written,
                    path,
                    size,
                },
                sha256,
            ))
        }
        (None, Some(url), Some(sha256)) => {
            let sha256 = sha256.to_ascii_lowercase();
            if !crate::package::valid_sha256(&sha256) {
                return Err(fail(format!(
                    "`sha256` of `{}` must be 64 hex digits",
                    r.path
                )));
            }
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(fail(format!(
                    "`url` of `{}` must be an `https://` (or `http://`) URL",
                    r.path
                )));
            }
            Ok((FileOrigin::Url(url.clone()), sha256))
        }
        (None, Some(_), None) => Err(fail(format!(
            "`url` of `{}` needs the `sha256` of its bytes",
            r.path
        ))),
        (Some(_), _, Some(_)) => Err(fail(format!(
            "`sha256` of `{}` is for a `url`; a `source` file is hashed by compose",
            r.path
        ))),
        _ => Err(fail(format!(
            "`{}` in `[[files]]` needs exactly one of `source` and `url`",
            r.path
        ))),
    }
}

/// The SHA256 (hex) and size of a regular file (never through a symlink), read as a
/// stream, refused past `fetch::MAX_SPEC_FILE`.
fn hash_source(path: &Path) -> std::io::Result<(String, u64)> {
    use sha2::Digest;
    let meta = fs_err::symlink_metadata(path)?;
    let limit = crate::fetch::MAX_SPEC_FILE.bytes;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > limit {
        return Err(std::io::Error::other(format!(
            "larger than the limit of {} for {}",
            crate::fetch::human_size(limit),
            crate::fetch::MAX_SPEC_FILE.what
        )));
    }
    let file = fs_err::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let size = std::io::copy(&mut std::io::Read::take(file, limit + 1), &mut hasher)?;
    if size > limit {
        return Err(std::io::Error::other("grew past the limit while read"));
    }
    Ok((hex::encode(hasher.finalize()), size))
}

fn validate_debug_include(
    raw: &[Spanned<String>],
    exclude: &BTreeSet<String>,
    parent: Option<&Spec>,
    invalid: Invalid,
) -> Result<Vec<String>, SpecError> {
    let mut debug_include = parent.map(|p| p.debug_include.clone()).unwrap_or_default();
    for p in raw {
        let n = p.get_ref();
        let bare = n.split('=').next().unwrap_or(n);
        if !crate::package::valid_name(bare) {
            return Err(invalid(
                p.span(),
                format!("`debug.include`: invalid package name `{n}`"),
            ));
        }
        if exclude.contains(bare) {
            return Err(invalid(
                p.span(),
                format!("package `{n}` is in `debug.include` and excluded"),
            ));
        }
        if !debug_include.contains(n) {
            debug_include.push(n.clone());
        }
    }
    Ok(debug_include)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        fs_err::write(&p, text).unwrap();
        p
    }

    const BASE: &str = r#"
name = "base"
[[source]]
archive = "debian"
suites = ["trixie"]
[packages]
include = ["libc6"]
exclude = ["debconf", "libgcc-s1"]
[paths]
exclude = ["/usr/share/doc/**"]
[config]
env = { PATH = "/usr/bin" }
[debug]
include = ["gdb"]
"#;

    fn err(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "s.toml", text);
        let e = Spec::load(&p).unwrap_err();
        // As the user sees it: the chain on one line, then any hint.
        crate::error::render(&e.into())
            .trim_start_matches("error: ")
            .to_owned()
    }

    #[test]
    fn files_take_one_origin_an_octal_mode_and_plain_absolute_paths() {
        let f = |body: &str| {
            err(&format!(
                "name = \"x\"\n[[source]]\narchive = \"debian\"\nsuites = [\"trixie\"]\n[packages]\ninclude = [\"a\"]\n[[files]]\n{body}"
            ))
        };
        let sha = "a".repeat(64);
        let m = f("path = \"/a\"\n");
        assert!(m.contains("exactly one of `source` and `url`"), "{m}");
        assert!(f("path = \"/a\"\nurl = \"https://h/a\"\n").contains("needs the `sha256`"));
        let both =
            format!("path = \"/a\"\nsource = \"s\"\nurl = \"https://h/a\"\nsha256 = \"{sha}\"\n");
        assert!(f(&both).contains("a `source` file is hashed by compose"));
        let short = "path = \"/a\"\nurl = \"https://h/a\"\nsha256 = \"ab\"\n";
        assert!(f(short).contains("64 hex digits"));
        for path in ["a", "/", "/a/../b", "/a//b", "/a/./b", "/a/"] {
            let m = f(&format!("path = \"{path}\"\nsource = \"s\"\n"));
            assert!(m.contains("plain components"), "{path}: {m}");
        }
        let mode =
            format!("path = \"/a\"\nurl = \"https://h/a\"\nsha256 = \"{sha}\"\nmode = \"0999\"\n");
        assert!(f(&mode).contains("octal string"));
        assert!(f("path = \"/a\"\nsource = \"/etc/passwd\"\n").contains("relative to the spec"));
        assert!(f("path = \"/a\"\nsource = \"missing\"\n").contains("cannot read"));
        // A source beside the spec: hashed when the spec loads, defaults filled.
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("c.conf"), b"x").unwrap();
        let text = "name = \"x\"\n[[source]]\narchive = \"debian\"\nsuites = [\"trixie\"]\n[packages]\ninclude = [\"a\"]\n[[files]]\npath = \"/etc/c.conf\"\nsource = \"c.conf\"\n";
        let spec = Spec::load(&write(dir.path(), "s.toml", text))
            .unwrap()
            .remove(0);
        let file = &spec.files[0];
        assert_eq!(
            (file.mode, file.uid, file.gid, file.replace),
            (0o644, 0, 0, false)
        );
        assert_eq!(
            file.sha256,
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"x"))
        );
        let twice = format!("{text}[[files]]\npath = \"/etc/c.conf\"\nsource = \"c.conf\"\n");
        let e = Spec::load(&write(dir.path(), "t.toml", &twice)).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }

    #[test]
    fn unknown_key_names_file_line_and_column() {
        let msg = err("name = \"x\"\nflavour = 1\n");
        assert!(msg.contains("s.toml"), "{msg}");
        assert!(msg.contains("line 2, column 1"), "{msg}");
        assert!(msg.contains("unknown field `flavour`"), "{msg}");
    }

    #[test]
    fn wrong_type_is_an_error_with_position() {
        let msg = err("name = \"x\"\n[packages]\ninclude = \"libc6\"\n");
        assert!(msg.contains("line 3, column 11"), "{msg}");
        assert!(msg.contains("invalid type"), "{msg}");
    }

    #[test]
    fn names_are_one_plain_path_component() {
        for bad in ["..", ".", ".hidden", "-x", "a/b", "", &"a".repeat(129)] {
            let msg = err(&format!(
                "name = \"{bad}\"\n[[source]]\narchive = \"debian\"\nsuites = [\"trixie\"]\ncomponents = [\"main\"]\n[packages]\ninclude = [\"a\"]\n"
            ));
            assert!(
                msg.contains("`name` must start with a letter or digit"),
                "{bad}: {msg}"
            );
        }
    }

    #[test]
    fn missing_required_key() {
        let msg = err("[packages]\ninclude = [\"a\"]\n");
        assert!(msg.contains("missing field `name`"), "{msg}");
    }

    #[test]
    fn validation_errors_point_at_the_value() {
        let msg =
            err("name = \"x\"\n[[source]]\nsuites = [\"trixie\"]\n[packages]\ninclude = [\"a\"]\n");
        assert!(msg.contains("s.toml:2:1"), "{msg}");
        assert!(msg.contains("needs `archive`"), "{msg}");
        let msg = err(
            "name = \"x\"\nplatforms = [\"linux/sparc\"]\n[[source]]\nurl = \"http://h/d\"\nsuites = [\"t\"]\n[packages]\ninclude = [\"a\"]\n",
        );
        assert!(msg.contains("s.toml:2:14: unsupported platform"), "{msg}");
        let msg = err(
            "name = \"x\"\n[[source]]\nurl = \"http://h/d\"\nsuites = [\"t\"]\n[packages]\ninclude = [\"a\"]\nexclude = [\"a\"]\n",
        );
        assert!(msg.contains("both included and excluded"), "{msg}");
        let msg = err(
            "name = \"x\"\n[[source]]\nurl = \"https://u:hunter2@h/d\"\nsuites = [\"t\"]\n[packages]\ninclude = [\"a\"]\n",
        );
        assert!(msg.contains("`https://h/d` carries credentials"), "{msg}");
        assert!(
            msg.contains("--auth-file") && !msg.contains("hunter2"),
            "{msg}"
        );
        let msg = err(
            "name = \"x\"\n[[source]]\nurl = \"http://h/d\"\nsuites = [\"t\"]\n[packages]\ninclude = [\"a\"]\n[config]\nenv = { V = \"{major:jre}\" }\n",
        );
        assert!(
            msg.contains("s.toml:8:13: `config.env.V`: unknown field `major`"),
            "{msg}"
        );
        let msg = err(
            "name = \"x\"\n[[source]]\nurl = \"http://h/d\"\nsuites = [\"t\"]\n[packages]\ninclude = [\"a\"]\n[paths]\nexclude = [\"usr/share\"]\n",
        );
        assert!(msg.contains("must be absolute"), "{msg}");
    }

    /// Issue 12: the variant decides the user, as distroless's tags do.
    #[test]
    fn user_and_workdir_are_refused_with_a_hint() {
        for (line, column, key) in [
            ("user = \"65532\"", 8, "user"),
            ("workdir = \"/w\"", 11, "workdir"),
        ] {
            let msg = err(&format!(
                "name = \"x\"\n[[source]]\nurl = \"http://h/d\"\nsuites = [\"t\"]\n[packages]\ninclude = [\"a\"]\n[config]\n{line}\n"
            ));
            assert!(
                msg.contains(&format!("s.toml:8:{column}: `config.{key}` is not a spec setting: the variant decides it")),
                "{msg}"
            );
            assert!(msg.contains("\n\nhint: remove `"), "{msg}");
            assert!(msg.contains("--variant nonroot"), "{msg}");
            assert_eq!(msg.lines().count(), 3, "one line, then the hint: {msg}");
        }
    }

    #[test]
    fn debug_include_names_packages_that_are_not_excluded() {
        let head = "name = \"x\"\n[[source]]\nurl = \"http://h/d\"\nsuites = [\"t\"]\n[packages]\ninclude = [\"a\"]\nexclude = [\"gdb\"]\n[debug]\n";
        let msg = err(&format!("{head}include = [\"Not A Name\"]\n"));
        assert!(
            msg.contains("s.toml:9:12: `debug.include`: invalid package name `Not A Name`"),
            "{msg}"
        );
        let msg = err(&format!("{head}include = [\"gdb\"]\n"));
        assert!(
            msg.contains("s.toml:9:12: package `gdb` is in `debug.include` and excluded"),
            "{msg}"
        );
        let msg = err(&format!("{head}exclude = [\"gdb\"]\n"));
        assert!(msg.contains("unknown field `exclude`"), "{msg}");
    }

    #[test]
    fn check_valid_until_is_a_boolean_that_defaults_to_true() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "base.toml", BASE);
        assert!(Spec::load(&p).unwrap()[0].sources[0].check_valid_until);
        let snapshot = BASE.replace(
            "suites = [\"trixie\"]",
            "suites = [\"trixie\"]\ncheck-valid-until = false",
        );
        let p = write(dir.path(), "snapshot.toml", &snapshot);
        assert!(!Spec::load(&p).unwrap()[0].sources[0].check_valid_until);
        let msg = err(&BASE.replace(
            "suites = [\"trixie\"]",
            "suites = [\"trixie\"]\ncheck-valid-until = \"no\"",
        ));
        assert!(msg.contains("line 6, column 21"), "{msg}");
        assert!(
            msg.contains("invalid type: string \"no\", expected a boolean"),
            "{msg}"
        );
    }

    #[test]
    fn a_snapshot_is_a_strict_timestamp_of_an_archive_source_and_is_inherited() {
        let dir = tempfile::tempdir().unwrap();
        let pinned = BASE.replace(
            "suites = [\"trixie\"]",
            "suites = [\"trixie\"]\nsnapshot = \"20261120T000000Z\"",
        );
        write(dir.path(), "base.toml", &pinned);
        let child = write(
            dir.path(),
            "child.toml",
            "name = \"child\"\nextends = \"base\"\n[packages]\ninclude = [\"x\"]\n",
        );
        let chain = Spec::load(&child).unwrap();
        for level in &chain {
            let source = &level.sources[0];
            assert_eq!(source.snapshot.as_deref(), Some("20261120T000000Z"));
            assert!(source.check_valid_until && !source.enforces_valid_until());
        }
        let base = Spec::load(&write(dir.path(), "plain.toml", BASE)).unwrap();
        assert!(base[0].sources[0].enforces_valid_until());
        let msg = err(&BASE.replace(
            "suites = [\"trixie\"]",
            "suites = [\"trixie\"]\nsnapshot = \"20261131T000000Z\"",
        ));
        assert!(
            msg.contains("s.toml:6:12: `20261131T000000Z` is not a snapshot timestamp"),
            "{msg}"
        );
        let msg = err(&BASE.replace(
            "archive = \"debian\"\nsuites = [\"trixie\"]",
            "url = \"http://h/d\"\nsuites = [\"trixie\"]\nsnapshot = \"20261120T000000Z\"",
        ));
        assert!(msg.contains("`snapshot` is for `archive` sources"), "{msg}");
        assert!(
            msg.contains("hint: ") && msg.contains("--mirror snapshot=URL"),
            "{msg}"
        );
        let msg = err(&BASE.replace(
            "archive = \"debian\"\nsuites = [\"trixie\"]",
            "archive = \"a/b\"\nsuites = [\"trixie\"]\nsnapshot = \"20261120T000000Z\"",
        ));
        assert!(
            msg.contains("cannot be read from a snapshot archive"),
            "{msg}"
        );
    }

    #[test]
    fn extends_merges_parent_settings() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "base.toml", BASE);
        let child = write(
            dir.path(),
            "cc.toml",
            r#"
name = "cc"
extends = "base"
[packages]
include = ["libgcc-s1", "libstdc++6"]
exclude = ["gcc-14-base"]
[paths]
keep = ["/usr/share/doc/*/copyright"]
[config]
entrypoint = ["/bin/x"]
env = { LANG = "C.UTF-8" }
[debug]
include = ["strace", "gdb"]
[annotations]
description = "C runtime"
"com.example.team" = "platform"
[sbom]
supplier = "ACME Corp"
"#,
        );
        let chain = Spec::load(&child).unwrap();
        assert_eq!(chain[0].sbom_supplier, None);
        assert_eq!(
            chain[1].sbom_supplier.as_deref(),
            Some("Organization: ACME Corp")
        );
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0].name, "base");
        let cc = &chain[1];
        assert_eq!(cc.sources, chain[0].sources);
        assert_eq!(cc.include, vec!["libgcc-s1", "libstdc++6"]);
        let ex: Vec<_> = cc.exclude.iter().cloned().collect();
        assert_eq!(ex, vec!["debconf", "gcc-14-base"]);
        assert!(!cc.paths.allows("/usr/share/doc/libc6/changelog.gz"));
        assert!(cc.paths.allows("/usr/share/doc/libc6/copyright"));
        assert!(chain[0].paths.allows("/usr/lib/x"));
        assert_eq!(cc.debug_include, vec!["gdb", "strace"]);
        assert_eq!(chain[0].debug_include, vec!["gdb"]);
        assert_eq!(cc.config.env.len(), 2);
        assert_eq!(cc.platforms[0].debian_arch, "amd64");
        assert_eq!(
            cc.annotations
                .get("org.opencontainers.image.description")
                .map(String::as_str),
            Some("C runtime")
        );
        assert_eq!(
            cc.annotations.get("com.example.team").map(String::as_str),
            Some("platform")
        );
    }

    #[test]
    fn sbom_suppliers_take_the_spdx_form() {
        assert_eq!(
            spdx_supplier("ACME Corp").unwrap(),
            "Organization: ACME Corp"
        );
        assert_eq!(
            spdx_supplier("Person:  Jane Doe").unwrap(),
            "Person: Jane Doe"
        );
        assert_eq!(
            spdx_supplier("Organization: ACME").unwrap(),
            "Organization: ACME"
        );
        assert!(spdx_supplier("Person: ").is_err());
        assert!(spdx_supplier("a\nb").is_err());
    }

    #[test]
    fn annotation_keys_expand_or_are_refused() {
        assert_eq!(
            annotation_key("base.name").unwrap(),
            "org.opencontainers.image.base.name"
        );
        assert_eq!(annotation_key("io.example.x").unwrap(), "io.example.x");
        assert!(
            annotation_key("colour")
                .unwrap_err()
                .contains("reverse-domain")
        );
        assert!(annotation_key("ref.name").is_err());
        assert!(annotation_key("org.opencontainers.image.ref.name").is_err());
        let dir = tempfile::tempdir().unwrap();
        let bad = write(
            dir.path(),
            "bad.toml",
            "name = \"x\"\n[[source]]\nurl = \"http://h/d\"\nsuites = [\"t\"]\n[packages]\ninclude = [\"a\"]\n[annotations]\ncolour = \"red\"\n",
        );
        let msg = Spec::load(&bad).unwrap_err().to_string();
        assert!(
            msg.contains("8:10") && msg.contains("reverse-domain"),
            "{msg}"
        );
    }

    #[test]
    fn accounts_clash_across_levels_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "base.toml",
            &format!(
                "{BASE}\n[[accounts.groups]]\nname = \"app\"\ngid = 10001\n[[accounts.users]]\nname = \"app\"\nuid = 10001\ngid = 10001\n"
            ),
        );
        let top = dir.path().join("top.toml");
        fs_err::write(
            &top,
            "name = \"top\"\nextends = \"base\"\n[[accounts.users]]\nname = \"web\"\nuid = 10001\ngid = 10001\n",
        )
        .unwrap();
        let e = Spec::load(&top).unwrap_err().to_string();
        assert!(
            e.ends_with("user `web` (uid 10001) clashes with user `app` (10001) of spec `base`: names and uids must be unique"),
            "{e}"
        );
        fs_err::write(
            &top,
            "name = \"top\"\nextends = \"base\"\n[[directories]]\npath = \"/srv/x/\"\nmode = \"2750\"\n[[accounts.users]]\nname = \"web\"\nuid = 10002\ngid = 10001\n",
        )
        .unwrap();
        let chain = Spec::load(&top).unwrap();
        let own: Vec<&str> = chain[1]
            .inhouse
            .own_users()
            .map(|u| u.name.as_str())
            .collect();
        assert_eq!(own, ["web"]);
        assert_eq!(chain[1].inhouse.users.len(), 2);
        let d = &chain[1].inhouse.directories[0];
        assert_eq!((d.path.as_str(), d.mode, d.uid), ("/srv/x", 0o2750, 0));
        assert!(chain[0].inhouse.directories.is_empty());
    }

    #[test]
    fn extends_cycle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.toml", "name = \"a\"\nextends = \"b\"\n");
        let b = write(dir.path(), "b.toml", "name = \"b\"\nextends = \"a\"\n");
        let e = Spec::load(&b).unwrap_err();
        assert!(matches!(e, SpecError::Cycle { .. }), "{e}");
    }

    #[test]
    fn platforms_map_to_debian_architectures() {
        let p = Platform::parse("linux/arm64").unwrap();
        assert_eq!(
            (p.debian_arch.as_str(), p.variant.as_deref()),
            ("arm64", Some("v8"))
        );
        assert_eq!(
            Platform::parse("linux/arm/v7").unwrap().debian_arch,
            "armhf"
        );
        assert!(Platform::parse("windows/amd64").is_err());
        assert_eq!(p.to_string(), "linux/arm64/v8");
        // distroless's six platforms: (name, OCI architecture, variant, Debian architecture).
        for (name, arch, variant, debian) in [
            ("linux/amd64", "amd64", None, "amd64"),
            ("linux/arm64/v8", "arm64", Some("v8"), "arm64"),
            ("linux/arm", "arm", Some("v7"), "armhf"),
            ("linux/arm/v7", "arm", Some("v7"), "armhf"),
            ("linux/s390x", "s390x", None, "s390x"),
            ("linux/ppc64le", "ppc64le", None, "ppc64el"),
            ("linux/riscv64", "riscv64", None, "riscv64"),
        ] {
            let p = Platform::parse(name).unwrap();
            assert_eq!(
                (
                    p.os.as_str(),
                    p.architecture.as_str(),
                    p.variant.as_deref(),
                    p.debian_arch.as_str()
                ),
                ("linux", arch, variant, debian),
                "{name}"
            );
        }
        for bad in [
            "linux/ppc64el",
            "linux/armhf",
            "linux/arm/v8",
            "linux/s390x/v1",
        ] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    /// Issue 23: `*` stops at `/` (shell and gitignore globs), `**` crosses it, in `[paths]`
    /// and in `[packages.partial]` alike.
    #[test]
    fn a_star_in_a_path_glob_stays_within_one_component() {
        let dir = tempfile::tempdir().unwrap();
        let text = BASE.replace(
            "[paths]\n",
            "[packages.partial]\nlibc-bin = [\"/usr/lib/locale/*/LC_CTYPE\", \"/usr/share/i18n/**\"]\n[paths]\nkeep = [\"/usr/share/doc/*/copyright\"]\n",
        );
        let spec = Spec::load(&write(dir.path(), "s.toml", &text)).unwrap();
        let spec = spec.last().unwrap();
        let paths = &spec.paths;
        assert!(paths.allows("/usr/share/doc/libc6/copyright"));
        for nested in [
            "/usr/share/doc/ca-certificates/examples/ca-certificates-local/debian/copyright",
            "/usr/share/doc/p/x/copyright",
        ] {
            assert!(!paths.keeps(nested) && !paths.allows(nested), "{nested}");
        }
        assert!(!paths.allows("/usr/share/doc/libc6/changelog.gz"));
        assert!(!paths.allows("/usr/share/doc/a/b/c/d"), "`**` crosses `/`");
        let partial = &spec.partial[0].keep;
        assert!(partial.allows("/usr/lib/locale/C.utf8/LC_CTYPE"));
        assert!(!partial.allows("/usr/lib/locale/C.utf8/x/LC_CTYPE"));
        assert!(partial.allows("/usr/share/i18n/charmaps/UTF-8.gz"));
        assert!(!partial.allows("/usr/bin/locale"));
        // The patterns the shipped specs use mean what they meant.
        let shipped = PathFilter::new(
            vec![
                "/usr/lib/jvm/*/lib/ct.sym".into(),
                "/usr/lib/jvm/*/man/**".into(),
                "/usr/lib/python3.*/test/**".into(),
            ],
            Vec::new(),
        )
        .unwrap();
        for gone in [
            "/usr/lib/jvm/java-21-openjdk-amd64/lib/ct.sym",
            "/usr/lib/jvm/java-21-openjdk-amd64/man/man1/java.1.gz",
            "/usr/lib/python3.13/test/support/__init__.py",
        ] {
            assert!(!shipped.allows(gone), "{gone}");
        }
        assert!(shipped.allows("/usr/lib/jvm/java-21-openjdk-amd64/lib/modules"));
    }
}
