//! What `outdated` and `diff` read about CVEs: changelogs (the fixtures of
//! `tests/data/changelogs/`, plain and gzip-compressed) and the security tracker's JSON
//! (`tests/data/tracker/tracker.json`), mutated where their structure lives (headings,
//! trailers, CVE ids; brackets, quotes, types). Never a panic; what is kept is well-formed.

use std::collections::BTreeSet;

use compose::changelog::{self, valid_cve};
use compose::package::valid_version;
use compose::tracker;
use proptest::prelude::*;
use proptest::sample::Index;

use super::repo::line_starts;
use super::{ByteEdit, byte_edit, check, fixture, no_panic};
use crate::support::hostile::gzip;

const CHANGELOGS: &[&str] = &[
    "openssl.changelog",
    "zstd.changelog",
    "python3.13-binnmu.changelog",
    "malformed.changelog",
];

/// Pieces of a changelog's structure.
const CHANGELOG_PIECES: &[&str] = &[
    "pkg (1.0-1) unstable; urgency=low\n",
    "pkg (1:2.0~rc1-1+b1) trixie-security bookworm; urgency=HIGH, binary-only=yes\n",
    "pkg (\u{e9}) x;\n",
    "pkg () ;\n",
    " -- A <a@example.org>  Mon, 02 Nov 2026 22:00:00 +0100\n",
    " -- \n",
    "  * CVE-2014-7185/4650/1912, cve-2024-1234\n",
    "CVE-2024-",
    "/12345",
    "(",
    ")",
    ";",
    "urgency=",
    "\t",
    "\r",
    "\n",
    "Old Changelog:\n",
    "Local variables:\n",
    "# \n",
    "\u{0}",
];

/// Pieces of JSON.
const JSON_PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ",",
    ":",
    "null",
    "true",
    "1e999",
    "-0",
    "\"CVE-2026-0001\": ",
    "\"TEMP-0000000-ABCDEF\": ",
    "\"trixie\": ",
    "\"status\": ",
    "\"fixed_version\": \"0\"",
    "\"fixed_version\": \"x y\"",
    "\\u0000",
    "\\ud800",
    "\u{e9}",
];

#[derive(Debug, Clone)]
enum Edit {
    /// Insert a piece at a line start, or anywhere.
    Piece(Index, bool, &'static str),
    Bytes(ByteEdit),
}

fn edit(pieces: &'static [&'static str]) -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<Index>(), any::<bool>(), prop::sample::select(pieces))
            .prop_map(|(i, l, p)| Edit::Piece(i, l, p)),
        1 => byte_edit().prop_map(Edit::Bytes),
    ]
}

impl Edit {
    fn apply(&self, bytes: &mut Vec<u8>) {
        match self {
            Edit::Piece(i, at_line, p) => {
                let at = if *at_line {
                    *i.get(&line_starts(bytes))
                } else {
                    i.index(bytes.len() + 1)
                };
                bytes.splice(at..at, p.bytes());
            }
            Edit::Bytes(e) => e.apply(bytes),
        }
    }
}

#[test]
fn changelogs_never_panic() {
    let edits = prop::collection::vec(edit(CHANGELOG_PIECES), 1..6);
    let sinces = [
        None,
        Some("1.0"),
        Some("3.5.9-1~deb13u1"),
        Some("1.5.7+dfsg-1"),
    ];
    check(
        256,
        (0..CHANGELOGS.len(), edits, 0..sinces.len()),
        |(seed, edits, since)| {
            let mut bytes = fixture(&format!("tests/data/changelogs/{}", CHANGELOGS[seed]));
            for e in &edits {
                e.apply(&mut bytes);
            }
            let since = sinces[since].map(|v| v.parse().unwrap());
            let gz = gzip(&bytes);
            let (plain, packed) = no_panic("changelog", &bytes, || {
                let plain = changelog::parse(&bytes[..], since.as_ref());
                let packed = changelog::read_gz(&gz[..], since.as_ref());
                (plain, packed)
            })?;
            prop_assert_eq!(format!("{plain:?}"), format!("{packed:?}"));
            if let Ok(c) = plain {
                prop_assert!(c.warnings.len() <= changelog::MAX_WARNINGS + 1);
                for e in &c.entries {
                    prop_assert!(valid_version(&e.version), "{:?}", e);
                    prop_assert!(e.cves.iter().all(|c| valid_cve(c)), "{:?}", e);
                    prop_assert!(!e.urgency.contains(char::is_whitespace), "{:?}", e);
                }
            }
            Ok(())
        },
    );
}

#[test]
fn tracker_data_never_panics() {
    let original = fixture("tests/data/tracker/tracker.json");
    let sources: BTreeSet<String> = ["openssl", "libzstd", "glibc", "python3.13"]
        .map(String::from)
        .into();
    let edits = prop::collection::vec(edit(JSON_PIECES), 1..6);
    check(256, edits, |edits| {
        let mut bytes = original.clone();
        for e in &edits {
            e.apply(&mut bytes);
        }
        let read = no_panic("tracker", &bytes, || {
            tracker::read(&bytes[..], "trixie", &sources, tracker::MAX_TRACKER_SIZE)
        })?;
        if let Ok(t) = read {
            for source in &sources {
                for c in t.cves(source) {
                    prop_assert!(valid_cve(&c.id), "{:?}", c);
                    let fixed = c.fixed_version.as_deref();
                    prop_assert!(fixed.is_none_or(valid_version), "{:?}", c);
                }
                let v = "1.0".parse().unwrap();
                let _ = (t.open_in(source, &v), t.fixed_between(source, &v, &v));
            }
        }
        Ok(())
    });
}
