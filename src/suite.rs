//! What kind of update a Debian suite carries: security, stable updates, a point release.
//! Decided from the suite's name alone (Debian's own naming), so every command agrees.

use serde::Serialize;

/// Where a newer version comes from, as a team deciding whether to rebuild sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SuiteKind {
    /// `trixie-security` (and the older `buster/updates`): Debian's security archive.
    Security,
    /// `trixie-updates`: stable updates released ahead of a point release.
    Updates,
    /// `trixie-backports`.
    Backports,
    /// `trixie-proposed-updates`: candidates for the next point release.
    ProposedUpdates,
    /// The release suite itself (`trixie`, `stable`): its versions change at point releases.
    PointRelease,
}

impl SuiteKind {
    /// The kind of `suite` (`trixie-security` -> `Security`).
    pub fn of(suite: &str) -> SuiteKind {
        let suite = suite.trim_end_matches('/');
        if suite.ends_with("-security") || suite.ends_with("/updates") {
            SuiteKind::Security
        } else if suite.ends_with("-proposed-updates") {
            SuiteKind::ProposedUpdates
        } else if suite.ends_with("-updates") {
            SuiteKind::Updates
        } else if suite.ends_with("-backports") || suite.ends_with("-backports-sloppy") {
            SuiteKind::Backports
        } else {
            SuiteKind::PointRelease
        }
    }

    pub fn is_security(self) -> bool {
        self == SuiteKind::Security
    }

    /// The word tables and markdown use.
    pub fn label(self) -> &'static str {
        match self {
            SuiteKind::Security => "security",
            SuiteKind::Updates => "updates",
            SuiteKind::Backports => "backports",
            SuiteKind::ProposedUpdates => "proposed-updates",
            SuiteKind::PointRelease => "point release",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_by_name() {
        for (suite, kind) in [
            ("trixie-security", SuiteKind::Security),
            ("bookworm-security", SuiteKind::Security),
            ("buster/updates", SuiteKind::Security),
            ("trixie-updates", SuiteKind::Updates),
            ("trixie-proposed-updates", SuiteKind::ProposedUpdates),
            ("trixie-backports", SuiteKind::Backports),
            ("trixie", SuiteKind::PointRelease),
            ("testing", SuiteKind::PointRelease),
            ("testing-security", SuiteKind::Security),
        ] {
            assert_eq!(SuiteKind::of(suite), kind, "{suite}");
        }
        assert!(SuiteKind::of("trixie-security").is_security());
        assert!(!SuiteKind::of("trixie-updates").is_security());
    }
}
