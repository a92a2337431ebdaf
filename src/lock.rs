//! Lock files: the exact `.deb`s (by SHA256) a spec resolved to, per platform and layer, with
//! the sources and Release hashes they came from and the hashes of the spec files. Sorted
//! TOML, stable formatting, reviewable in a diff; `diff` compares two of them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::package::{Planned, Version};
use crate::spec::Spec;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot read lock `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid lock `{}`", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("cannot write lock `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("lock `{}` has version {found}; this compose reads version {LOCK_VERSION}", path.display())]
    Version { path: PathBuf, found: u32 },
    #[error(
        "lock `{}` has an invalid `{field}` `{value}` for package `{package}`",
        path.display()
    )]
    Field {
        path: PathBuf,
        package: String,
        field: &'static str,
        value: String,
    },
    #[error(
        "lock `{}` has an invalid `snapshot` `{value}` for source `{location}`",
        path.display()
    )]
    Snapshot {
        path: PathBuf,
        location: String,
        value: String,
    },
    #[error("invalid version `{version}` of `{package}`")]
    InvalidVersion { package: String, version: String },
}

impl crate::error::Hint for LockError {
    fn hint(&self) -> Option<String> {
        match self {
            LockError::Field { .. } | LockError::Snapshot { .. } => {
                Some("regenerate it with `compose lock --update`".into())
            }
            _ => None,
        }
    }
}

pub const LOCK_VERSION: u32 = 1;

/// A lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Lock {
    pub version: u32,
    /// The image name.
    pub name: String,
    /// Layers bottom first (the spec chain, plus the debug variant's layer).
    pub layers: Vec<String>,
    /// Spec file name -> `sha256:` of its bytes, for the whole `extends` chain.
    pub inputs: BTreeMap<String, String>,
    #[serde(default, rename = "source")]
    pub sources: Vec<LockedSource>,
    #[serde(default, rename = "package")]
    pub packages: Vec<LockedPackage>,
    /// Every `[[files]]` file of the chain with its SHA256; absent when there is none, so
    /// locks of specs without files keep their bytes.
    #[serde(default, rename = "file", skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<LockedFile>,
}

/// One `[[files]]` file of one layer: where it comes from and the SHA256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedFile {
    pub layer: String,
    /// The absolute path in the image.
    pub path: String,
    /// The source file, relative to the spec, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub sha256: String,
    /// The size of a source file (a URL's is known once fetched: its SHA256 pins it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// A suite the packages were resolved from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedSource {
    /// `archive:NAME` or a URL.
    pub location: String,
    pub suite: String,
    /// `sha256:` of the verified Release text.
    pub release: String,
    pub date: String,
    /// The snapshot timestamp the suite was read at (`20261120T000000Z`), when it was;
    /// absent otherwise, so locks made without one keep their bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
}

impl LockedSource {
    /// A snapshot becomes part of a URL: a strict timestamp, of an archive whose name can
    /// be a URL component (a hand-edited lock must not reach elsewhere); `Err` is the value.
    fn check(&self) -> Result<(), &str> {
        let Some(t) = &self.snapshot else {
            return Ok(());
        };
        let archive = match crate::spec::Location::parse(&self.location) {
            crate::spec::Location::Archive(a) => a,
            crate::spec::Location::Url(_) => return Err(t),
        };
        if crate::snapshot::parse(t).is_err() || !crate::spec::valid_archive_name(&archive) {
            return Err(t);
        }
        Ok(())
    }
}

/// One `.deb` of one layer of one platform.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedPackage {
    pub platform: String,
    pub layer: String,
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// `archive:NAME` or a URL, as in the spec.
    pub source: String,
    pub suite: String,
    /// Path of the `.deb` in the archive (`pool/...`).
    pub filename: String,
    pub size: u64,
    pub sha256: String,
}

/// A field's name, its value, and the rule it must follow.
type FieldCheck<'a> = (&'static str, &'a str, fn(&str) -> bool);

impl LockedPackage {
    /// The lock's record of a planned package of one layer of one platform.
    pub fn new(platform: &str, layer: &str, p: &Planned) -> LockedPackage {
        LockedPackage {
            platform: platform.to_owned(),
            layer: layer.to_owned(),
            name: p.name.clone(),
            version: p.version.to_string(),
            architecture: p.architecture.clone(),
            source: p.source.clone(),
            suite: p.suite.clone(),
            filename: p.filename.clone(),
            size: p.size,
            sha256: p.sha256.clone(),
        }
    }

    /// The package this record plans, downloaded from `base` (its source's URL).
    pub fn planned(&self, base: &str) -> Result<Planned, LockError> {
        let version = self
            .version
            .parse()
            .map_err(|_| LockError::InvalidVersion {
                package: self.name.clone(),
                version: self.version.clone(),
            })?;
        Ok(Planned {
            name: self.name.clone(),
            version,
            architecture: self.architecture.clone(),
            source: self.source.clone(),
            suite: self.suite.clone(),
            filename: self.filename.clone(),
            size: self.size,
            sha256: self.sha256.clone(),
            url: format!("{base}/{}", self.filename),
        })
    }

    /// The fields that become paths and URLs follow the rules an index's fields do (a lock
    /// is trusted, but a hand-edited one must not reach outside the archive or the cache).
    fn check(&self) -> Result<(), (&'static str, &str)> {
        use crate::package::{
            valid_architecture, valid_filename, valid_name, valid_sha256, valid_version,
        };
        let checks: [FieldCheck<'_>; 5] = [
            ("name", &self.name, valid_name),
            ("version", &self.version, valid_version),
            ("architecture", &self.architecture, valid_architecture),
            ("filename", &self.filename, valid_filename),
            ("sha256", &self.sha256, valid_sha256),
        ];
        match checks.into_iter().find(|(_, value, ok)| !ok(value)) {
            Some((field, value, _)) => Err((field, value)),
            None => Ok(()),
        }
    }
}

/// The lock file of a spec: `specs/python3.toml` -> `specs/python3.lock`.
pub fn path_for(spec: &Path) -> PathBuf {
    spec.with_extension("lock")
}

/// Hashes of every spec file of a chain (the debug level shares its top's file), and of
/// every certificate file the specs add (by the path each spec gives).
pub fn inputs(chain: &[Spec]) -> BTreeMap<String, String> {
    let certificates = chain.iter().flat_map(|s| {
        s.inhouse
            .certificate_files
            .iter()
            .map(|f| (f.given.clone(), f.sha256.clone()))
    });
    chain
        .iter()
        .map(|s| {
            let name = s
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| s.path.display().to_string());
            (name, crate::oci::sha256_digest(s.text.as_bytes()))
        })
        .chain(certificates)
        .collect()
}

/// The `[[files]]` of every level of a chain, in the lock's order.
pub fn files(chain: &[Spec]) -> Vec<LockedFile> {
    let mut out: Vec<LockedFile> = chain
        .iter()
        .flat_map(|s| s.files.iter().map(move |f| (s, f)))
        .map(|(s, f)| {
            let (source, url, size) = match &f.origin {
                crate::spec::FileOrigin::Source { written, size, .. } => {
                    (Some(written.clone()), None, Some(*size))
                }
                crate::spec::FileOrigin::Url(url) => (None, Some(url.clone()), None),
            };
            LockedFile {
                layer: s.name.clone(),
                path: f.path.clone(),
                source,
                url,
                sha256: f.sha256.clone(),
                size,
            }
        })
        .collect();
    out.sort();
    out
}

impl Lock {
    /// Sort everything into its canonical order: sources by location and suite, packages by
    /// platform, layer (bottom first) and name.
    pub fn normalize(&mut self) {
        self.sources.sort();
        self.sources.dedup();
        self.files.sort();
        let order: BTreeMap<&str, usize> = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_str(), i))
            .collect();
        self.packages.sort_by(|a, b| {
            (
                a.platform.as_str(),
                order.get(a.layer.as_str()),
                a.name.as_str(),
            )
                .cmp(&(
                    b.platform.as_str(),
                    order.get(b.layer.as_str()),
                    b.name.as_str(),
                ))
        });
    }

    pub fn to_toml(&self) -> String {
        let mut me = self.clone();
        me.normalize();
        let body = toml::to_string_pretty(&me).expect("locks serialize");
        format!(
            "# Generated by `compose lock`: the exact packages of this image. Refresh with\n# `compose lock --update`; review changes with `compose diff`.\n{body}"
        )
    }

    pub fn read(path: &Path) -> Result<Lock, LockError> {
        let text = fs_err::read_to_string(path).map_err(|source| LockError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let lock: Lock = toml::from_str(&text).map_err(|source| LockError::Parse {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        if lock.version != LOCK_VERSION {
            return Err(LockError::Version {
                path: path.to_path_buf(),
                found: lock.version,
            });
        }
        for s in &lock.sources {
            s.check().map_err(|value| LockError::Snapshot {
                path: path.to_path_buf(),
                location: s.location.escape_debug().to_string(),
                value: value.escape_debug().to_string(),
            })?;
        }
        for p in &lock.packages {
            p.check().map_err(|(field, value)| LockError::Field {
                path: path.to_path_buf(),
                package: p.name.escape_debug().to_string(),
                field,
                value: value.escape_debug().to_string(),
            })?;
        }
        Ok(lock)
    }

    /// Write whole or not at all (`atomic::write`: a temporary file, then a rename).
    pub fn write(&self, path: &Path) -> Result<(), LockError> {
        crate::atomic::write(path, self.to_toml().as_bytes()).map_err(|source| LockError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Whether the lock was made from exactly these spec files.
    pub fn matches(&self, chain: &[Spec]) -> bool {
        self.inputs == inputs(chain) && self.files == files(chain)
    }

    /// The spec files whose hash differs from the lock's (or that it does not know).
    pub fn stale_inputs(&self, chain: &[Spec]) -> Vec<String> {
        let now = inputs(chain);
        let mut out: BTreeSet<String> = BTreeSet::new();
        for (k, v) in &now {
            if self.inputs.get(k) != Some(v) {
                out.insert(k.clone());
            }
        }
        for k in self.inputs.keys() {
            if !now.contains_key(k) {
                out.insert(k.clone());
            }
        }
        // A file of `[[files]]` whose bytes (or origin) changed, or that came or went.
        let (locked, current) = (&self.files, files(chain));
        for f in locked.iter().filter(|f| !current.contains(f)) {
            out.insert(format!("`{}` of `[[files]]` in `{}`", f.path, f.layer));
        }
        for f in current.iter().filter(|f| !locked.contains(f)) {
            out.insert(format!("`{}` of `[[files]]` in `{}`", f.path, f.layer));
        }
        out.into_iter().collect()
    }
}

/// How a package changed between two locks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Removed,
    Upgraded,
    Downgraded,
    /// Same version, other bytes (a rebuilt or re-signed package).
    Rebuilt,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffRow {
    pub platform: String,
    pub name: String,
    pub change: Change,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Packages added, removed, upgraded, downgraded (and rebuilt) per platform, sorted.
pub fn diff(old: &Lock, new: &Lock) -> Vec<DiffRow> {
    let index = |l: &Lock| -> BTreeMap<(String, String), (String, String)> {
        l.packages
            .iter()
            .map(|p| {
                (
                    (p.platform.clone(), p.name.clone()),
                    (p.version.clone(), p.sha256.clone()),
                )
            })
            .collect()
    };
    let (a, b) = (index(old), index(new));
    let keys: BTreeSet<&(String, String)> = a.keys().chain(b.keys()).collect();
    let mut rows = Vec::new();
    for key in keys {
        let change = match (a.get(key), b.get(key)) {
            (None, Some(_)) => Change::Added,
            (Some(_), None) => Change::Removed,
            (Some((va, ha)), Some((vb, hb))) => {
                let ord = match (va.parse::<Version>(), vb.parse::<Version>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    _ => va.cmp(vb),
                };
                match ord {
                    std::cmp::Ordering::Less => Change::Upgraded,
                    std::cmp::Ordering::Greater => Change::Downgraded,
                    std::cmp::Ordering::Equal if ha != hb => Change::Rebuilt,
                    std::cmp::Ordering::Equal => continue,
                }
            }
            (None, None) => continue,
        };
        rows.push(DiffRow {
            platform: key.0.clone(),
            name: key.1.clone(),
            change,
            old: a.get(key).map(|v| v.0.clone()),
            new: b.get(key).map(|v| v.0.clone()),
        });
    }
    rows
}

/// The diff as an aligned table.
pub fn diff_table(rows: &[DiffRow]) -> String {
    if rows.is_empty() {
        return "no package changed\n".to_owned();
    }
    let w_name = rows.iter().map(|r| r.name.len()).max().unwrap_or(7).max(7);
    let w_old = rows
        .iter()
        .map(|r| r.old.as_deref().unwrap_or("-").len())
        .max()
        .unwrap_or(3)
        .max(3);
    let mut out = format!(
        "{:<14} {:<w_name$} {:<10} {:<w_old$}    {}\n",
        "PLATFORM", "PACKAGE", "CHANGE", "OLD", "NEW"
    );
    for r in rows {
        let change = serde_json::to_value(&r.change)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<14} {:<w_name$} {:<10} {:<w_old$} -> {}\n",
            r.platform,
            r.name,
            change,
            r.old.as_deref().unwrap_or("-"),
            r.new.as_deref().unwrap_or("-"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: &str, sha: &str) -> LockedPackage {
        LockedPackage {
            platform: "linux/amd64".into(),
            layer: "base".into(),
            name: name.into(),
            version: version.into(),
            architecture: "amd64".into(),
            source: "archive:debian".into(),
            suite: "trixie".into(),
            filename: format!("pool/main/{name}.deb"),
            size: 1,
            sha256: sha.into(),
        }
    }

    fn lock(packages: Vec<LockedPackage>) -> Lock {
        Lock {
            version: LOCK_VERSION,
            name: "base".into(),
            layers: vec!["static".into(), "base".into()],
            inputs: BTreeMap::from([("base.toml".into(), "sha256:00".into())]),
            sources: vec![LockedSource {
                location: "archive:debian".into(),
                suite: "trixie".into(),
                release: "sha256:11".into(),
                date: "Sat, 08 Nov 2025".into(),
                snapshot: None,
            }],
            packages,
            files: Vec::new(),
        }
    }

    /// A locked package and the plan it records are one another, URL from the source's.
    #[test]
    fn locked_packages_are_plans() {
        let locked = pkg("zlib1g", "1:1.3.dfsg-3", &"a".repeat(64));
        let planned = locked.planned("http://m/debian").unwrap();
        assert_eq!(planned.url, "http://m/debian/pool/main/zlib1g.deb");
        assert_eq!(planned.version.to_string(), "1:1.3.dfsg-3");
        assert_eq!(LockedPackage::new("linux/amd64", "base", &planned), locked);
        let bad = LockedPackage {
            version: "not a version!".into(),
            ..locked
        };
        assert!(matches!(
            bad.planned("http://m/debian"),
            Err(LockError::InvalidVersion { .. })
        ));
    }

    #[test]
    fn toml_round_trip_is_sorted_and_stable() {
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let mut l = lock(vec![
            pkg("zlib1g", "1:1.3", &a),
            pkg("libc6", "2.41-12", &b),
        ]);
        l.packages[1].layer = "static".into();
        let text = l.to_toml();
        assert!(text.starts_with("# Generated by `compose lock`"));
        let back: Lock = toml::from_str(&text).unwrap();
        assert_eq!(back.packages[0].name, "libc6", "bottom layer first");
        assert_eq!(back.to_toml(), text, "stable formatting");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        l.write(&p).unwrap();
        assert_eq!(Lock::read(&p).unwrap().to_toml(), text);
        fs_err::write(&p, text.replace("version = 1", "version = 9")).unwrap();
        assert!(matches!(
            Lock::read(&p),
            Err(LockError::Version { found: 9, .. })
        ));
        // A hand-edited filename or hash never reaches a URL or a cache path.
        for (from, to, field) in [
            ("pool/main/libc6.deb", "pool/../../x.deb", "filename"),
            (b.as_str(), "../../etc/passwd", "sha256"),
            ("\"libc6\"", "\"libc6/..\"", "name"),
        ] {
            fs_err::write(&p, text.replacen(from, to, 1)).unwrap();
            let e = Lock::read(&p).unwrap_err();
            assert!(
                matches!(e, LockError::Field { field: f, .. } if f == field),
                "{e}"
            );
        }
    }

    #[test]
    fn diff_classifies_changes() {
        let old = lock(vec![
            pkg("libc6", "2.41-12", "a"),
            pkg("libssl3t64", "3.5.1-1", "b"),
            pkg("gone", "1", "c"),
            pkg("tzdata", "2025b-4", "d"),
            pkg("same", "1", "e"),
            pkg("rebuilt", "1", "f"),
        ]);
        let new = lock(vec![
            pkg("libc6", "2.41-12+deb13u1", "a2"),
            pkg("libssl3t64", "3.5.1~rc1-1", "b2"),
            pkg("tzdata", "2025b-4", "d"),
            pkg("added", "2", "g"),
            pkg("same", "1", "e"),
            pkg("rebuilt", "1", "f2"),
        ]);
        let rows = diff(&old, &new);
        let got: Vec<(&str, Change)> = rows
            .iter()
            .map(|r| (r.name.as_str(), r.change.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("added", Change::Added),
                ("gone", Change::Removed),
                ("libc6", Change::Upgraded),
                ("libssl3t64", Change::Downgraded),
                ("rebuilt", Change::Rebuilt),
            ]
        );
        let table = diff_table(&rows);
        assert!(
            table.contains("libc6") && table.contains("2.41-12 -> 2.41-12+deb13u1"),
            "{table}"
        );
        assert_eq!(diff_table(&[]), "no package changed\n");
    }
}
