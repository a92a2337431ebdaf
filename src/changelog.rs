//! Debian changelogs (`usr/share/doc/PKG/changelog.Debian.gz`), read as hostile input: the
//! entries above a version, each with its distributions, urgency and the CVE ids it names.
//!
//! The format is Debian policy 4.4's, as `dpkg-parsechangelog` reads it: a header
//! `package (version) dist1 dist2; urgency=medium[, key=value]`, indented change lines, a
//! trailer ` -- Name <email>  Date`. Reading stops at the first entry at or below the version
//! asked for; everything is bounded (bytes, line length, entries, CVE ids per entry), and a
//! malformed entry is a named warning, never a failure or a panic.

use std::collections::BTreeSet;
use std::io::{BufRead, Read};

use debversion::Version;
use serde::Serialize;

/// Decompressed bytes read from one changelog.
pub const MAX_BYTES: u64 = 16 << 20;
/// Bytes of one line (longer lines are cut: their end is not read as text).
pub const MAX_LINE: usize = 64 << 10;
/// Entries read above the version asked for.
pub const MAX_ENTRIES: usize = 10_000;
/// CVE ids kept per entry.
pub const MAX_CVES: usize = 1_000;
/// Warnings kept (one more says that others were left out).
pub const MAX_WARNINGS: usize = 20;

/// One changelog entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub package: String,
    pub version: String,
    pub distributions: Vec<String>,
    /// Lowercase, `""` when the header names none.
    pub urgency: String,
    /// `CVE-YYYY-NNNN...` ids named by the entry's change lines, each once, in numeric order.
    pub cves: Vec<String>,
}

/// The entries of a changelog above a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changelog {
    /// Newest first: every entry whose version is newer than `since`.
    pub entries: Vec<Entry>,
    /// Malformed entries skipped, limits hit: one line each.
    pub warnings: Vec<String>,
    /// An entry at or below `since` was found (false: the list may be incomplete).
    pub reached: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangelogError {
    #[error("cannot read the changelog")]
    Read(#[source] std::io::Error),
    #[error("the changelog is not gzip-compressed text")]
    NotGzip(#[source] std::io::Error),
    #[error("the changelog has no entry")]
    Empty,
}

/// Read a gzip-compressed changelog (`changelog.Debian.gz`) down to `since`.
pub fn read_gz(gz: impl Read, since: Option<&Version>) -> Result<Changelog, ChangelogError> {
    let mut decoder = flate2::read::GzDecoder::new(gz);
    // A first read tells a stream that is not gzip from one that breaks later.
    let mut head = [0u8; 1];
    let n = decoder.read(&mut head).map_err(ChangelogError::NotGzip)?;
    let text = std::io::Cursor::new(head[..n].to_vec()).chain(decoder);
    parse(std::io::BufReader::new(text), since)
}

/// The header of an entry, parsed.
struct Header {
    package: String,
    version: String,
    distributions: Vec<String>,
    urgency: String,
}

/// `package (version) dists; urgency=...`, or why it is not one.
fn header(line: &str) -> Result<Header, String> {
    let (package, rest) = line
        .split_once(' ')
        .ok_or_else(|| "no version".to_owned())?;
    if !crate::package::valid_name(package) {
        return Err(format!("invalid package name `{}`", shown(package)));
    }
    let rest = rest.trim_start();
    let rest = rest
        .strip_prefix('(')
        .ok_or_else(|| "no `(version)`".to_owned())?;
    let (version, rest) = rest
        .split_once(')')
        .ok_or_else(|| "no `)` after the version".to_owned())?;
    if !crate::package::valid_version(version) || version.parse::<Version>().is_err() {
        return Err(format!("invalid version `{}`", shown(version)));
    }
    let (dists, fields) = rest
        .split_once(';')
        .ok_or_else(|| "no `;` before the urgency".to_owned())?;
    let distributions: Vec<String> = dists.split_whitespace().map(str::to_owned).collect();
    if distributions.is_empty() {
        return Err("no distribution".to_owned());
    }
    let urgency = fields
        .split(',')
        .filter_map(|f| f.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("urgency"))
        .map(|(_, v)| {
            // `urgency=high (security fix)`: the word alone.
            v.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    Ok(Header {
        package: package.to_owned(),
        version: version.to_owned(),
        distributions,
        urgency,
    })
}

/// At most 80 characters of hostile text, escaped.
fn shown(text: &str) -> String {
    let cut: String = text.chars().take(80).collect();
    cut.escape_debug().to_string()
}

/// Lines of `text`, each cut at `MAX_LINE` bytes (what follows the cut, to the end of the
/// line, is skipped unread into memory), within `MAX_BYTES` in all.
struct Lines<R> {
    inner: std::io::Take<R>,
    /// A line was cut or the byte limit reached.
    cut: bool,
}

impl<R: BufRead> Lines<R> {
    fn next_line(&mut self) -> Result<Option<String>, ChangelogError> {
        let mut buf = Vec::new();
        loop {
            let chunk = self.inner.fill_buf().map_err(ChangelogError::Read)?;
            if chunk.is_empty() {
                if self.inner.limit() == 0 {
                    self.cut = true;
                }
                return Ok((!buf.is_empty()).then(|| String::from_utf8_lossy(&buf).into_owned()));
            }
            let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let room = MAX_LINE.saturating_sub(buf.len());
            if take > room {
                self.cut = true;
            }
            buf.extend_from_slice(&chunk[..take.min(room)]);
            self.inner.consume(take);
            if done {
                while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    buf.pop();
                }
                return Ok(Some(String::from_utf8_lossy(&buf).into_owned()));
            }
        }
    }
}

/// Parse a changelog's text down to `since` (every entry when `None`).
pub fn parse(text: impl BufRead, since: Option<&Version>) -> Result<Changelog, ChangelogError> {
    let mut lines = Lines {
        inner: text.take(MAX_BYTES),
        cut: false,
    };
    let mut log = Changelog {
        entries: Vec::new(),
        warnings: Vec::new(),
        reached: false,
    };
    let mut current: Option<Open> = None;
    let mut seen_header = false;
    let mut number = 0usize;
    while let Some(line) = lines.next_line()? {
        number += 1;
        if !line.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            if let Some(open) = current.as_mut() {
                open.line(&line);
            }
            continue;
        }
        match header(&line) {
            Ok(h) => {
                close(&mut log, current.take());
                seen_header = true;
                if log.entries.len() >= MAX_ENTRIES {
                    // A limit is always named, whatever the other warnings.
                    let message = format!("more than {MAX_ENTRIES} entries: the rest is not read");
                    log.warnings.push(message);
                    return Ok(log);
                }
                let version: Option<Version> = h.version.parse().ok();
                if let (Some(since), Some(v)) = (since, &version)
                    && v <= since
                {
                    log.reached = true;
                    return Ok(log);
                }
                current = Some(Open::new(h));
            }
            // A heading that is not one (an invalid version, no `;`): its entry is skipped,
            // changes and all.
            Err(why) if line.contains('(') => {
                close(&mut log, current.take());
                warn(&mut log, format!("line {number}: entry skipped: {why}"));
            }
            // A stray line (old changelogs end in free text): the entry goes on.
            Err(why) => warn(
                &mut log,
                format!("line {number}: not an entry header ({why})"),
            ),
        }
    }
    close(&mut log, current.take());
    if lines.cut {
        log.warnings.push(format!(
            "lines longer than {MAX_LINE} bytes or more than {MAX_BYTES} bytes: cut"
        ));
    }
    if !seen_header {
        return Err(ChangelogError::Empty);
    }
    Ok(log)
}

/// The entry being read.
struct Open {
    entry: Entry,
    cves: BTreeSet<String>,
    /// It has a change line; it has its ` -- Name <email>  Date` trailer.
    changes: bool,
    trailer: bool,
}

impl Open {
    fn new(h: Header) -> Open {
        Open {
            entry: Entry {
                package: h.package,
                version: h.version,
                distributions: h.distributions,
                urgency: h.urgency,
                cves: Vec::new(),
            },
            cves: BTreeSet::new(),
            changes: false,
            trailer: false,
        }
    }

    /// An indented (or empty) line of the entry.
    fn line(&mut self, line: &str) {
        let text = line.trim_start();
        if text.starts_with("-- ") {
            self.trailer = true;
            return;
        }
        self.changes |= !text.is_empty();
        for id in cve_ids(text) {
            if self.cves.len() < MAX_CVES {
                self.cves.insert(id);
            }
        }
    }
}

/// The entry read, kept; an entry without changes or trailer is named.
fn close(log: &mut Changelog, open: Option<Open>) {
    let Some(mut open) = open else { return };
    let version = shown(&open.entry.version);
    if !open.changes {
        warn(log, format!("entry {version} lists no change"));
    }
    if !open.trailer {
        warn(log, format!("entry {version} has no ` -- ` trailer"));
    }
    open.entry.cves = sorted_ids(std::mem::take(&mut open.cves));
    log.entries.push(open.entry);
}

/// CVE ids in numeric order (`CVE-2026-35190` before `CVE-2026-107493`), each once.
pub fn sorted_ids(ids: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = ids
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    out.sort_by(|a, b| cve_cmp(a, b));
    out
}

/// The order of CVE ids: by year, then number, then as text.
pub fn cve_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |id: &str| -> (u64, u64) {
        let mut parts = id
            .split('-')
            .skip(1)
            .map(|p| p.parse::<u64>().unwrap_or(u64::MAX));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    };
    key(a).cmp(&key(b)).then_with(|| a.cmp(b))
}

/// Whether `id` is exactly one CVE id as Debian writes it (`CVE-YYYY-NNNN...`).
pub fn valid_cve(id: &str) -> bool {
    let ids = cve_ids(id);
    ids.len() == 1 && ids.contains(id)
}

fn warn(log: &mut Changelog, message: String) {
    match log.warnings.len() {
        n if n < MAX_WARNINGS => log.warnings.push(message),
        n if n == MAX_WARNINGS => log.warnings.push("more warnings left out".to_owned()),
        _ => {}
    }
}

/// The CVE ids `text` names, as Debian writes them: `CVE-2024-1234`, lowercase `cve-`, and
/// the shortened lists `CVE-2014-7185/4650/1912` (each number after a `/` of the same year).
pub fn cve_ids(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 4 <= bytes.len() {
        if !bytes[i..i + 4].eq_ignore_ascii_case(b"CVE-")
            || (i > 0 && bytes[i - 1].is_ascii_alphanumeric())
        {
            i += 1;
            continue;
        }
        let year_start = i + 4;
        let year_end = digits_end(bytes, year_start);
        if year_end - year_start != 4 || bytes.get(year_end) != Some(&b'-') {
            i = year_end.max(i + 1);
            continue;
        }
        let year = &text[year_start..year_end];
        let mut at = year_end + 1;
        let mut first = true;
        loop {
            let end = digits_end(bytes, at);
            let n = end - at;
            let trailing_alnum = bytes.get(end).is_some_and(|b| b.is_ascii_alphanumeric());
            if !(4..=19).contains(&n) || trailing_alnum {
                break;
            }
            out.insert(format!("CVE-{year}-{}", &text[at..end]));
            first = false;
            // `/NNNN`: another id of the same year.
            if bytes.get(end) == Some(&b'/') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
                at = end + 1;
                continue;
            }
            at = end;
            break;
        }
        i = if first { year_end } else { at };
    }
    out
}

fn digits_end(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENSSL: &str = "openssl (3.5.10-1~deb13u1) trixie-security; urgency=medium

  * New upstream release.
    - Fixes CVE-2026-35190, CVE-2026-84785 and cve-2026-9999.
    - CVE-2014-7185/4650/1912 in one line.

 -- Security Team <team@security.invalid>  Mon, 07 Dec 2026 10:00:00 +0000

openssl (3.5.9-1~deb13u1) trixie-security; urgency=high (security fix)

  * CVE-2026-1234

 -- Security Team <team@security.invalid>  Mon, 01 Nov 2026 10:00:00 +0000

openssl (3.5.1-1) unstable; urgency=medium

  * CVE-2025-0001 (older than asked)

 -- Maintainer <m@invalid>  Mon, 01 Jun 2025 10:00:00 +0000
";

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn entries_above_a_version_with_their_cves() {
        let log = parse(OPENSSL.as_bytes(), Some(&v("3.5.9-1~deb13u1"))).unwrap();
        assert!(log.reached);
        assert_eq!(log.entries.len(), 1);
        let e = &log.entries[0];
        assert_eq!(e.package, "openssl");
        assert_eq!(e.version, "3.5.10-1~deb13u1");
        assert_eq!(e.distributions, ["trixie-security"]);
        assert_eq!(e.urgency, "medium");
        assert_eq!(
            e.cves,
            [
                "CVE-2014-1912",
                "CVE-2014-4650",
                "CVE-2014-7185",
                "CVE-2026-9999",
                "CVE-2026-35190",
                "CVE-2026-84785"
            ]
        );
        let all = parse(OPENSSL.as_bytes(), Some(&v("3.5.1-1"))).unwrap();
        assert_eq!(all.entries.len(), 2);
        assert_eq!(all.entries[1].urgency, "high");
        let everything = parse(OPENSSL.as_bytes(), None).unwrap();
        assert_eq!(everything.entries.len(), 3);
        assert!(!everything.reached);
        assert!(everything.warnings.is_empty(), "{:?}", everything.warnings);
    }

    #[test]
    fn cve_forms() {
        let ids = |t: &str| cve_ids(t).into_iter().collect::<Vec<_>>();
        assert_eq!(ids("fix CVE-2024-1234."), ["CVE-2024-1234"]);
        assert_eq!(ids("(CVE-2024-12345678)"), ["CVE-2024-12345678"]);
        assert_eq!(
            ids("CVE-2024-123 CVE-24-1234 XCVE-2024-1234 CVE-2024-1234x"),
            Vec::<String>::new()
        );
        assert_eq!(
            ids("CVE-2024-1111/2222"),
            ["CVE-2024-1111", "CVE-2024-2222"]
        );
        assert_eq!(ids("CVE-2024-1111/"), ["CVE-2024-1111"]);
        assert_eq!(
            ids("cve-2024-1111,CVE-2024-2222"),
            ["CVE-2024-1111", "CVE-2024-2222"]
        );
        assert_eq!(ids("CVE-"), Vec::<String>::new());
        assert_eq!(ids("ÄCVE-2024-1111 é"), ["CVE-2024-1111"]);
    }

    #[test]
    fn malformed_entries_are_warnings() {
        let text = "pkg (1.2-1) unstable; urgency=low\n\n  * CVE-2026-0001\nbroken header without parentheses\n  * CVE-2026-0002\n\n -- M <m@invalid>  Mon, 01 Jun 2026 10:00:00 +0000\n\nother (not a version!) unstable; urgency=low\n  * CVE-2026-0003\npkg (1.1-1) unstable\n  * no `;`: skipped, CVE-2026-0004\npkg (1.0-1) unstable; urgency=low\n";
        let log = parse(text.as_bytes(), None).unwrap();
        // A stray line leaves its entry going on; a heading that is no heading skips its
        // entry, changes and all; an entry without changes or trailer is named.
        let versions: Vec<&str> = log.entries.iter().map(|e| e.version.as_str()).collect();
        assert_eq!(versions, ["1.2-1", "1.0-1"], "{log:?}");
        assert_eq!(log.entries[0].cves, ["CVE-2026-0001", "CVE-2026-0002"]);
        assert!(log.entries[1].cves.is_empty());
        assert_eq!(
            log.warnings,
            [
                "line 4: not an entry header (no `(version)`)",
                "line 9: entry skipped: invalid version `not a version!`",
                "line 11: entry skipped: no `;` before the urgency",
                "entry 1.0-1 lists no change",
                "entry 1.0-1 has no ` -- ` trailer",
            ]
        );
    }

    #[test]
    fn hostile_input_is_bounded() {
        // Not gzip.
        assert!(matches!(
            read_gz(&b"plain text"[..], None),
            Err(ChangelogError::NotGzip(_))
        ));
        // No entry at all.
        assert!(matches!(
            parse(&b"\x00\x01binary"[..], None),
            Err(ChangelogError::Empty)
        ));
        // An endless line: cut, not held whole.
        let long = format!(
            "pkg (1.0) unstable; urgency=low\n  * {}\n",
            "A".repeat(10 << 20)
        );
        let log = parse(long.as_bytes(), None).unwrap();
        assert_eq!(log.entries.len(), 1);
        assert!(log.warnings.iter().any(|w| w.contains("cut")));
        // Entries past the limit.
        let many: String = (0..MAX_ENTRIES + 5)
            .map(|i| {
                format!(
                    "pkg (1.{}) unstable; urgency=low\n  * x\n",
                    MAX_ENTRIES + 10 - i
                )
            })
            .collect();
        let log = parse(many.as_bytes(), None).unwrap();
        assert_eq!(log.entries.len(), MAX_ENTRIES);
        assert!(log.warnings.iter().any(|w| w.contains("more than")));
        // A gzip bomb stops at MAX_BYTES of text.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut e, b"pkg (1.0) unstable; urgency=low\n").unwrap();
        for _ in 0..64 {
            std::io::Write::write_all(&mut e, &vec![b' '; 1 << 20]).unwrap();
        }
        let bomb = e.finish().unwrap();
        let log = read_gz(bomb.as_slice(), None).unwrap();
        assert_eq!(log.entries.len(), 1);
        assert!(log.warnings.iter().any(|w| w.contains("cut")));
    }
}
