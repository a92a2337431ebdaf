//! The Debian security tracker's JSON export, read as hostile input: per source package and
//! CVE, one release's `status`, `fixed_version`, `urgency` and no-DSA labels. The file is
//! large (about 100 MB): it is streamed, only the source packages asked for are kept (the
//! rest is skipped without building values), and bytes, CVEs and nesting are bounded.
//!
//! Its shape: `{ "SRCPKG": { "CVE-…": { "description": …, "releases": { "trixie": {
//! "status": "resolved"|"open"|"undetermined", "repositories": {…}, "fixed_version": "VER",
//! "urgency": "low"|…|"unimportant"|"end-of-life", "nodsa": "reason",
//! "nodsa_reason": "postponed"|"ignored"|"" } } } } }`; ids other than `CVE-…` (`TEMP-…`)
//! are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Read;

use debversion::Version;
use serde::Serialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

/// Bytes read from the tracker's data (five times today's export).
pub const MAX_TRACKER_SIZE: u64 = 512 << 20;
/// CVE entries kept, over every source package asked for.
pub const MAX_TRACKER_CVES: usize = 1_000_000;
/// Bytes of one kept string (a version, a status, a label).
const MAX_FIELD: usize = 4096;

/// One CVE of one source package, for one release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackerCve {
    pub id: String,
    pub status: String,
    pub fixed_version: Option<String>,
    pub urgency: Option<String>,
    pub nodsa: Option<String>,
    pub nodsa_reason: Option<String>,
}

impl TrackerCve {
    /// Debian's label, as the tracker gives it: `unimportant`, `end-of-life` (urgency),
    /// `postponed`, `ignored` (no-DSA reason), `no-dsa` (a no-DSA note otherwise).
    pub fn label(&self) -> Option<&str> {
        let urgency = self.urgency.as_deref().unwrap_or("");
        if matches!(urgency, "unimportant" | "end-of-life") {
            return Some(urgency);
        }
        if let Some(r @ ("postponed" | "ignored")) = self.nodsa_reason.as_deref() {
            return Some(r);
        }
        self.nodsa
            .as_deref()
            .is_some_and(|n| !n.is_empty())
            .then_some("no-dsa")
    }

    /// The version that fixed it, unless it never affected the release (`0`).
    fn fixed(&self) -> Option<Version> {
        let v = self.fixed_version.as_deref()?;
        if v == "0" {
            return None;
        }
        v.parse().ok()
    }
}

/// The CVEs of the source packages asked for, for one release.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    by_source: BTreeMap<String, Vec<TrackerCve>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    #[error("the security tracker's data is not what its JSON export holds")]
    Json(#[source] serde_json::Error),
    #[error("the security tracker's data is larger than {limit} bytes")]
    TooLarge { limit: u64 },
}

impl crate::error::Hint for TrackerError {
    fn hint(&self) -> Option<String> {
        Some(
            "give `--security-tracker` the tracker's JSON export (its `/tracker/data/json`), or leave it out: changelogs are read without it"
                .into(),
        )
    }
}

impl Tracker {
    /// Every CVE the tracker lists for `source`.
    pub fn cves(&self, source: &str) -> &[TrackerCve] {
        self.by_source.get(source).map_or(&[], Vec::as_slice)
    }

    /// CVEs resolved by a version in `(old, new]`.
    pub fn fixed_between(&self, source: &str, old: &Version, new: &Version) -> Vec<&TrackerCve> {
        self.cves(source)
            .iter()
            .filter(|c| c.status == "resolved")
            .filter(|c| c.fixed().is_some_and(|f| &f > old && &f <= new))
            .collect()
    }

    /// CVEs still open in `version`: open or undetermined, or resolved only by a later one.
    pub fn open_in(&self, source: &str, version: &Version) -> Vec<&TrackerCve> {
        self.cves(source)
            .iter()
            .filter(|c| match c.status.as_str() {
                "open" | "undetermined" => true,
                "resolved" => c.fixed().is_some_and(|f| &f > version),
                _ => false,
            })
            .collect()
    }
}

/// A reader that fails once more than `left` bytes come through.
struct Counted<R> {
    inner: R,
    left: u64,
    over: bool,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            self.over = true;
            return Err(std::io::Error::other("past the limit"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Read the tracker's JSON from `reader` (at most `limit` bytes), keeping the CVEs of
/// `sources` for `release`.
pub fn read(
    reader: impl Read,
    release: &str,
    sources: &BTreeSet<String>,
    limit: u64,
) -> Result<Tracker, TrackerError> {
    let mut counted = Counted {
        inner: reader,
        left: limit,
        over: false,
    };
    let mut kept = 0usize;
    let result = {
        let mut de = serde_json::Deserializer::from_reader(&mut counted);
        let seed = Top {
            release,
            sources,
            kept: &mut kept,
        };
        seed.deserialize(&mut de).and_then(|t| de.end().map(|()| t))
    };
    match result {
        Ok(by_source) => Ok(Tracker { by_source }),
        Err(_) if counted.over => Err(TrackerError::TooLarge { limit }),
        Err(e) => Err(TrackerError::Json(e)),
    }
}

/// The whole document: source packages.
struct Top<'a> {
    release: &'a str,
    sources: &'a BTreeSet<String>,
    kept: &'a mut usize,
}

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = BTreeMap<String, Vec<TrackerCve>>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = BTreeMap<String, Vec<TrackerCve>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of source packages")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(source) = map.next_key::<String>()? {
            if !self.sources.contains(&source) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let cves = map.next_value_seed(Source {
                release: self.release,
                kept: &mut *self.kept,
            })?;
            out.entry(source).or_insert_with(Vec::new).extend(cves);
        }
        Ok(out)
    }
}

/// One source package: its CVEs.
struct Source<'a> {
    release: &'a str,
    kept: &'a mut usize,
}

impl<'de> DeserializeSeed<'de> for Source<'_> {
    type Value = Vec<TrackerCve>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Source<'_> {
    type Value = Vec<TrackerCve>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of CVEs")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(id) = map.next_key::<String>()? {
            let wanted = id.starts_with("CVE-")
                && id.len() <= 32
                && !crate::changelog::cve_ids(&id).is_empty();
            if !wanted {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let found = map.next_value_seed(Cve {
                release: self.release,
            })?;
            if let Some(r) = found {
                if *self.kept >= MAX_TRACKER_CVES {
                    return Err(serde::de::Error::custom(format!(
                        "more than {MAX_TRACKER_CVES} CVEs for the packages asked for"
                    )));
                }
                *self.kept += 1;
                out.push(r.into_cve(id)?);
            }
        }
        Ok(out)
    }
}

/// One CVE: its entry for the release, if any.
struct Cve<'a> {
    release: &'a str,
}

impl<'de> DeserializeSeed<'de> for Cve<'_> {
    type Value = Option<ReleaseEntry>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Cve<'_> {
    type Value = Option<ReleaseEntry>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a CVE object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "releases" {
                out = map.next_value_seed(Releases {
                    release: self.release,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// `releases`: the entry of one of them.
struct Releases<'a> {
    release: &'a str,
}

impl<'de> DeserializeSeed<'de> for Releases<'_> {
    type Value = Option<ReleaseEntry>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Releases<'_> {
    type Value = Option<ReleaseEntry>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of releases")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == self.release {
                out = Some(map.next_value::<ReleaseEntry>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// What the tracker says of one CVE in one release (unknown fields skipped).
#[derive(serde::Deserialize)]
struct ReleaseEntry {
    status: String,
    #[serde(default)]
    fixed_version: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    nodsa: Option<String>,
    #[serde(default)]
    nodsa_reason: Option<String>,
}

impl ReleaseEntry {
    /// The kept CVE; a field longer than `MAX_FIELD` is an error.
    fn into_cve<E: serde::de::Error>(self, id: String) -> Result<TrackerCve, E> {
        let fields = [
            Some(&self.status),
            self.fixed_version.as_ref(),
            self.urgency.as_ref(),
            self.nodsa.as_ref(),
            self.nodsa_reason.as_ref(),
        ];
        if fields.iter().flatten().any(|f| f.len() > MAX_FIELD) {
            return Err(E::custom(format!(
                "a field of `{id}` is longer than {MAX_FIELD} bytes"
            )));
        }
        Ok(TrackerCve {
            id,
            status: self.status,
            fixed_version: self.fixed_version,
            urgency: self.urgency,
            nodsa: self.nodsa,
            nodsa_reason: self.nodsa_reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = r#"{
      "openssl": {
        "CVE-2026-0001": {"description": "x", "scope": "remote", "debianbug": 1,
          "releases": {
            "trixie": {"status": "resolved", "repositories": {"trixie": "3.5.9-1"}, "fixed_version": "3.5.10-1", "urgency": "medium"},
            "bookworm": {"status": "open", "repositories": {"bookworm": "3.0.1-1"}, "urgency": "medium"}}},
        "CVE-2026-0002": {"releases": {"trixie": {"status": "open", "urgency": "low", "nodsa": "Minor issue", "nodsa_reason": ""}}},
        "CVE-2026-0003": {"releases": {"trixie": {"status": "open", "urgency": "low", "nodsa": "x", "nodsa_reason": "postponed"}}},
        "CVE-2026-0004": {"releases": {"trixie": {"status": "resolved", "fixed_version": "0", "urgency": "unimportant"}}},
        "CVE-2026-0005": {"releases": {"trixie": {"status": "undetermined", "urgency": "not yet assigned"}}},
        "TEMP-0000000-1": {"releases": {"trixie": {"status": "open"}}}
      },
      "zlib": {"CVE-2026-0009": {"releases": {"trixie": {"status": "open"}}}}
    }"#;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn wanted(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn fixed_and_open_cves_of_one_release() {
        let t = read(DATA.as_bytes(), "trixie", &wanted(&["openssl"]), 1 << 20).unwrap();
        assert_eq!(t.cves("openssl").len(), 5);
        assert!(t.cves("zlib").is_empty(), "not asked for");
        let fixed: Vec<&str> = t
            .fixed_between("openssl", &v("3.5.9-1"), &v("3.5.10-1"))
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(fixed, ["CVE-2026-0001"]);
        let open: Vec<(&str, Option<&str>)> = t
            .open_in("openssl", &v("3.5.9-1"))
            .iter()
            .map(|c| (c.id.as_str(), c.label()))
            .collect();
        assert_eq!(
            open,
            [
                ("CVE-2026-0001", None),
                ("CVE-2026-0002", Some("no-dsa")),
                ("CVE-2026-0003", Some("postponed")),
                ("CVE-2026-0005", None)
            ]
        );
        assert!(
            !t.open_in("openssl", &v("3.5.10-1"))
                .iter()
                .any(|c| c.id == "CVE-2026-0001")
        );
        let bookworm = read(DATA.as_bytes(), "bookworm", &wanted(&["openssl"]), 1 << 20).unwrap();
        assert_eq!(bookworm.cves("openssl").len(), 1);
    }

    #[test]
    fn hostile_data_is_one_error() {
        let w = wanted(&["openssl"]);
        for bad in [
            "not json",
            r#"["a list"]"#,
            r#"{"openssl": ["a list"]}"#,
            r#"{"openssl": {"CVE-2026-0001": {"releases": {"trixie": {"status": 7}}}}}"#,
            r#"{"openssl": {}} trailing"#,
        ] {
            assert!(
                matches!(
                    read(bad.as_bytes(), "trixie", &w, 1 << 20),
                    Err(TrackerError::Json(_))
                ),
                "{bad}"
            );
        }
        let deep = format!(
            "{{\"openssl\": {}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(matches!(
            read(deep.as_bytes(), "trixie", &w, 1 << 20),
            Err(TrackerError::Json(_))
        ));
        // Deep nesting under a package nobody asked for is skipped without recursion (serde_json
        // ignores a value with a stack of its own, bounded by the bytes read).
        let deep = format!(
            "{{\"other\": {}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let skipped = read(deep.as_bytes(), "trixie", &w, 1 << 20).unwrap();
        assert!(skipped.cves("other").is_empty());
        assert!(matches!(
            read(DATA.as_bytes(), "trixie", &w, 100),
            Err(TrackerError::TooLarge { limit: 100 })
        ));
        let huge = format!(
            r#"{{"openssl": {{"CVE-2026-0001": {{"releases": {{"trixie": {{"status": "{}"}}}}}}}}}}"#,
            "x".repeat(10_000)
        );
        assert!(read(huge.as_bytes(), "trixie", &w, 1 << 20).is_err());
    }

    #[test]
    fn many_cves_stop_at_the_limit() {
        let mut text = String::from("{\"openssl\": {");
        for i in 0..(MAX_TRACKER_CVES + 1) {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&format!(
                "\"CVE-2026-{i:07}\": {{\"releases\": {{\"trixie\": {{\"status\": \"open\"}}}}}}"
            ));
        }
        text.push_str("}}");
        let e = read(text.as_bytes(), "trixie", &wanted(&["openssl"]), u64::MAX).unwrap_err();
        assert!(e.source_text().contains("more than"), "{e}");
    }

    trait SourceText {
        fn source_text(&self) -> String;
    }

    impl SourceText for TrackerError {
        fn source_text(&self) -> String {
            match self {
                TrackerError::Json(e) => e.to_string(),
                other => other.to_string(),
            }
        }
    }
}
