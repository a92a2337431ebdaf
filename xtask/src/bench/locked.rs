//! The packages of a built image, read from its spec's lock: one platform's packages of the
//! levels the image has (the `-debug` level of the lock only when the image is a debug one).

use std::path::Path;

use anyhow::{Context, Result};

/// One locked `.deb` of the image.
pub struct Package {
    pub platform: String,
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub sha256: String,
}

/// What a build's `--json` report says about the image: its platforms and levels.
pub struct Built {
    pub platforms: Vec<String>,
    pub levels: Vec<String>,
}

impl Built {
    pub fn of(report: &serde_json::Value) -> Result<Built> {
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        };
        let platforms = strings(&report["platforms"]);
        let mut levels = Vec::new();
        for layer in report["layers"].as_array().context("report lists layers")? {
            let spec = layer["spec"].as_str().context("a layer names its spec")?;
            if !levels.iter().any(|l| l == spec) {
                levels.push(spec.to_owned());
            }
        }
        Ok(Built { platforms, levels })
    }
}

/// The packages of `built` in `spec`'s lock (`SPEC.lock`), platform by platform.
pub fn packages(spec: &Path, built: &Built) -> Result<Vec<Package>> {
    let lock = spec.with_extension("lock");
    let text =
        std::fs::read_to_string(&lock).with_context(|| format!("reading {}", lock.display()))?;
    let doc: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", lock.display()))?;
    let field = |p: &toml::Value, key: &str| -> Result<String> {
        p.get(key)
            .and_then(toml::Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("{}: a package without `{key}`", lock.display()))
    };
    let mut out = Vec::new();
    for p in doc
        .get("package")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
    {
        let platform = field(p, "platform")?;
        let layer = field(p, "layer")?;
        if built.platforms.contains(&platform) && built.levels.contains(&layer) {
            out.push(Package {
                platform,
                name: field(p, "name")?,
                version: field(p, "version")?,
                architecture: field(p, "architecture")?,
                sha256: field(p, "sha256")?,
            });
        }
    }
    Ok(out)
}

/// The Debian architecture of `platform` as its locked packages name it (`all` aside).
pub fn architecture<'a>(packages: &'a [Package], platform: &str) -> Option<&'a str> {
    packages
        .iter()
        .filter(|p| p.platform == platform && p.architecture != "all")
        .map(|p| p.architecture.as_str())
        .next()
}
