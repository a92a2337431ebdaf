//! The Release file (the signed text of InRelease): suite facts and the SHA256 of every index.

use std::collections::BTreeMap;

use crate::repo::RepoError;
use crate::repo::deb822::paragraphs;

/// Size and hash of one file listed in a Release file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHash {
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Release {
    pub origin: Option<String>,
    pub label: Option<String>,
    pub suite: Option<String>,
    pub codename: Option<String>,
    pub version: Option<String>,
    pub date: Option<String>,
    /// Until when the file may be used (security archives set it; apt checks it).
    pub valid_until: Option<String>,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
    pub acquire_by_hash: bool,
    /// Path relative to `dists/<suite>/` -> size and hash.
    pub sha256: BTreeMap<String, FileHash>,
}

impl Release {
    pub fn parse(text: &str) -> Result<Release, RepoError> {
        let para = paragraphs(text)
            .next()
            .ok_or(RepoError::MissingField("SHA256"))?;
        let get = |f: &str| para.get(f).map(|v| v.into_owned());
        let list = |f: &str| {
            para.get(f)
                .map(|v| v.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let mut sha256 = BTreeMap::new();
        let hashes = para
            .get("SHA256")
            .ok_or(RepoError::MissingField("SHA256"))?;
        for line in hashes.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [hash, size, path] = parts[..] else {
                return Err(RepoError::BadHashLine(line.to_owned()));
            };
            let size = size
                .parse()
                .map_err(|_| RepoError::BadHashLine(line.to_owned()))?;
            if !crate::package::valid_sha256(hash) {
                return Err(RepoError::BadHashLine(line.to_owned()));
            }
            sha256.insert(
                path.to_owned(),
                FileHash {
                    size,
                    sha256: hash.to_ascii_lowercase(),
                },
            );
        }
        Ok(Release {
            origin: get("Origin"),
            label: get("Label"),
            suite: get("Suite"),
            codename: get("Codename"),
            version: get("Version"),
            date: get("Date"),
            valid_until: get("Valid-Until"),
            architectures: list("Architectures"),
            components: list("Components"),
            acquire_by_hash: get("Acquire-By-Hash").is_some_and(|v| v == "yes"),
            sha256,
        })
    }
}

/// How far ahead of this machine's clock a release file's `Date` (or a signature) may be:
/// clocks drift a little, a mirror cannot sign for the future.
pub const CLOCK_SKEW: i64 = 5 * 60;

impl Release {
    /// As apt: the file must not be dated in the future (beyond `CLOCK_SKEW`), nor past its
    /// `Valid-Until` unless `check_valid_until` is off (snapshot archives). `now` is seconds
    /// since the epoch; this decides acceptance only, nothing in the image depends on it.
    pub fn check_dates(&self, now: i64, check_valid_until: bool) -> Result<(), RepoError> {
        let parse = |field: &'static str, value: &Option<String>| -> Result<_, RepoError> {
            value
                .as_deref()
                .map(|v| {
                    parse_date(v).ok_or_else(|| RepoError::BadDate {
                        field,
                        value: crate::repo::packages::shown(v),
                    })
                })
                .transpose()
        };
        let date = parse("Date", &self.date)?;
        let valid_until = parse("Valid-Until", &self.valid_until)?;
        let shown_date = || self.date.clone().unwrap_or_else(|| "(no date)".to_owned());
        if let Some(d) = date
            && d > now.saturating_add(CLOCK_SKEW)
        {
            return Err(RepoError::NotYetValid {
                date: shown_date(),
                now: format_date(now),
            });
        }
        if check_valid_until
            && let Some(v) = valid_until
            && v < now
        {
            return Err(RepoError::Expired {
                valid_until: self.valid_until.clone().unwrap_or_default(),
                date: shown_date(),
                now: format_date(now),
            });
        }
        Ok(())
    }

    /// The file must be the one of the suite asked for: its `Suite` or its `Codename` is
    /// `asked` (`stable` / `trixie`, `stable-updates` / `trixie-updates`). A file naming
    /// neither is taken as it is (apt does too); one naming others is refused, so that a
    /// mirror cannot answer for `trixie` with an older suite's signed file.
    pub fn check_suite(&self, asked: &str) -> Result<(), RepoError> {
        if self.suite.is_none() && self.codename.is_none() {
            return Ok(());
        }
        if self.suite.as_deref() == Some(asked) || self.codename.as_deref() == Some(asked) {
            return Ok(());
        }
        let shown = |v: &Option<String>| {
            v.as_deref()
                .map_or_else(|| "none".to_owned(), crate::repo::packages::shown)
        };
        Err(RepoError::WrongSuite {
            asked: asked.to_owned(),
            suite: shown(&self.suite),
            codename: shown(&self.codename),
        })
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A release file date, RFC 2822 as Debian writes it (`Tue, 14 Nov 2023 22:13:20 UTC`; the
/// weekday is optional, the zone `UTC`, `GMT`, `Z` or `+hhmm`/`-hhmm`), as seconds since the
/// epoch.
pub fn parse_date(text: &str) -> Option<i64> {
    let text = text.trim();
    let rest = match text.split_once(',') {
        Some((weekday, rest)) if weekday.len() == 3 => rest,
        Some(_) => return None,
        None => text,
    };
    let parts: Vec<&str> = rest.split_whitespace().collect();
    let [day, month, year, time, zone] = parts[..] else {
        return None;
    };
    let num = |s: &str, max: i64| {
        (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i64>().ok())
            .flatten()
            .filter(|&n| n <= max)
    };
    let day = num(day, 31).filter(|&d| d >= 1)?;
    let month = MONTHS.iter().position(|&m| m == month)? as i64 + 1;
    let year = num(year, 9999).filter(|&y| y >= 1970)?;
    let [h, m, s] = time.split(':').collect::<Vec<_>>()[..] else {
        return None;
    };
    let (h, m, s) = (num(h, 23)?, num(m, 59)?, num(s, 60)?);
    let offset = match zone {
        "UTC" | "GMT" | "Z" | "UT" => 0,
        _ => {
            let (sign, digits) = match zone.as_bytes().first()? {
                b'+' => (1, &zone[1..]),
                b'-' => (-1, &zone[1..]),
                _ => return None,
            };
            if digits.len() != 4 || !digits.is_ascii() {
                return None;
            }
            sign * (num(&digits[..2], 23)? * 3600 + num(&digits[2..], 59)? * 60)
        }
    };
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s - offset)
}

/// Seconds since the epoch as a release file writes dates (`Tue, 14 Nov 2023 22:13:20 UTC`).
pub fn format_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let t = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} UTC",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hash_list_and_facts() {
        let h = "b".repeat(64);
        let text = format!(
            "Origin: Debian\nSuite: stable\nCodename: trixie\nVersion: 13.2\nArchitectures: all amd64 arm64\nComponents: main contrib\nAcquire-By-Hash: yes\nMD5Sum:\n 0123 10 main/x\nSHA256:\n {h}   123 main/binary-amd64/Packages.xz\n {h} 9 main/binary-amd64/Packages\n"
        );
        let r = Release::parse(&text).unwrap();
        assert_eq!(r.codename.as_deref(), Some("trixie"));
        assert_eq!(r.architectures, ["all", "amd64", "arm64"]);
        assert!(r.acquire_by_hash);
        assert_eq!(r.sha256.len(), 2);
        assert_eq!(r.sha256["main/binary-amd64/Packages.xz"].size, 123);
        assert!(Release::parse("Origin: x\n").is_err());
        assert!(Release::parse("SHA256:\n zz 1 a\n").is_err());
    }

    #[test]
    fn dates_parse_and_format_as_debian_writes_them() {
        assert_eq!(
            parse_date("Tue, 14 Nov 2023 22:13:20 UTC"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_date("14 Nov 2023 22:13:20 GMT"), Some(1_700_000_000));
        assert_eq!(
            parse_date("Tue, 14 Nov 2023 23:13:20 +0100"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_date("Thu, 1 Jan 1970 00:00:00 UTC"), Some(0));
        // Four bytes, not four digits: refused, not sliced inside a character.
        assert_eq!(parse_date("Tue, 14 Nov 2023 22:13:20 +1\u{e9}1"), None);
        assert_eq!(parse_date("Tue, 14 Nov 2023 22:13:20 -0\u{20ac}"), None);
        assert_eq!(
            parse_date("Sat, 29 Feb 2020 00:00:00 UTC"),
            Some(1_582_934_400)
        );
        for bad in [
            "",
            "yesterday",
            "Tue, 14 Nov 2023 22:13:20",
            "Tue, 14 Foo 2023 22:13:20 UTC",
            "Tue, 32 Nov 2023 22:13:20 UTC",
            "Tue, 14 Nov 2023 24:13:20 UTC",
            "Tue, 14 Nov 99999999999999999999 22:13:20 UTC",
            "Tue, 14 Nov 2023 22:13 UTC",
            "Tue, 14 Nov 2023 22:13:20 +01",
            "Tuesday, 14 Nov 2023 22:13:20 UTC",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
        assert_eq!(format_date(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 UTC");
        assert_eq!(format_date(0), "Thu, 01 Jan 1970 00:00:00 UTC");
        for t in [0, 951_782_400, 1_582_934_400, 4_102_444_800, 1_700_000_000] {
            assert_eq!(parse_date(&format_date(t)), Some(t));
        }
    }

    #[test]
    fn dates_in_the_future_and_expired_files_are_refused() {
        let now = 1_700_000_000;
        let release = |date: &str, until: Option<&str>| Release {
            date: Some(date.to_owned()),
            valid_until: until.map(str::to_owned),
            ..Release::default()
        };
        let r = release(&format_date(now - 86_400), Some(&format_date(now + 60)));
        r.check_dates(now, true).unwrap();
        release(&format_date(now + CLOCK_SKEW), None)
            .check_dates(now, true)
            .unwrap();
        let e = release(&format_date(now + CLOCK_SKEW + 1), None)
            .check_dates(now, true)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("release file is not valid yet: it is dated Tue, 14 Nov 2023 22:18:21 UTC, and this machine's clock says Tue, 14 Nov 2023 22:13:20 UTC"),
            "{e}"
        );
        let stale = release(&format_date(now - 10 * 86_400), Some(&format_date(now - 1)));
        let e = stale.check_dates(now, true).unwrap_err();
        let hint = crate::error::Hint::hint(&e).unwrap_or_default();
        let e = e.to_string();
        assert!(
            e.starts_with("release file expired on Tue, 14 Nov 2023 22:13:19 UTC (it is dated Sat, 04 Nov 2023 22:13:20 UTC, and this machine's clock says Tue, 14 Nov 2023 22:13:20 UTC)"),
            "{e}"
        );
        assert!(hint.contains("check-valid-until = false"), "{hint}");
        stale.check_dates(now, false).unwrap();
        // A future date is refused even for snapshots.
        assert!(
            release(&format_date(now + 86_400), None)
                .check_dates(now, false)
                .is_err()
        );
        let e = release("soon", None).check_dates(now, true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "release file has an invalid `Date` date `soon`"
        );
        let e = release(&format_date(now), Some("never"))
            .check_dates(now, false)
            .unwrap_err();
        assert!(e.to_string().contains("`Valid-Until`"), "{e}");
        Release::default().check_dates(now, true).unwrap();
    }

    #[test]
    fn the_suite_or_codename_must_be_the_one_asked_for() {
        let r = |suite: Option<&str>, codename: Option<&str>| Release {
            suite: suite.map(str::to_owned),
            codename: codename.map(str::to_owned),
            ..Release::default()
        };
        let trixie = r(Some("stable"), Some("trixie"));
        trixie.check_suite("stable").unwrap();
        trixie.check_suite("trixie").unwrap();
        let updates = r(Some("testing-updates"), Some("forky-updates"));
        updates.check_suite("testing-updates").unwrap();
        updates.check_suite("forky-updates").unwrap();
        assert!(updates.check_suite("testing").is_err());
        let e = r(Some("oldstable"), Some("bookworm"))
            .check_suite("s")
            .unwrap_err();
        assert!(
            e.to_string().starts_with("release file is for suite `oldstable` (codename `bookworm`), not for the `s` asked for"),
            "{e}"
        );
        let e = r(Some("oldstable"), None).check_suite("s").unwrap_err();
        assert!(e.to_string().contains("(codename `none`)"), "{e}");
        r(None, None).check_suite("anything").unwrap();
    }
}
