//! Snapshot archive timestamps (`20261120T000000Z`): checked strictly, and made from a
//! release file's `Date`. Where a snapshot archive lives is `mirror`'s business; this module
//! knows only the time format its URLs use (`<base>/archive/<archive>/<TIMESTAMP>/`).

use crate::repo::release;

/// The shape every message shows.
pub const EXAMPLE: &str = "20261120T000000Z";

/// Seconds since the epoch of a snapshot timestamp: `YYYYMMDDTHHMMSSZ`, UTC, a real date and
/// time (no 30 February, no hour 24, no leap second), from 1970 on. `Err` says why not.
pub fn parse(text: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "`{}` is not a snapshot timestamp: expected `YYYYMMDDTHHMMSSZ` in UTC, such as `{EXAMPLE}`",
            text.escape_debug()
        )
    };
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(part).ok()?.parse().ok())
            .flatten()
    };
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return Err(bad());
    }
    let fields = (
        digits(0..4),
        digits(4..6),
        digits(6..8),
        digits(9..11),
        digits(11..13),
        digits(13..15),
    );
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = fields else {
        return Err(bad());
    };
    if y < 1970 || !(1..=12).contains(&mo) || d < 1 || h > 23 || mi > 59 || s > 59 {
        return Err(bad());
    }
    let secs = release::days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
    // A day past the month's end comes back as another date.
    if format(secs) != text {
        return Err(bad());
    }
    Ok(secs)
}

/// The timestamp of `secs` since the epoch.
pub fn format(secs: i64) -> String {
    let (y, m, d) = release::civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// The timestamp of a release file's `Date` (`Sat, 21 Nov 2026 09:15:44 UTC` ->
/// `20261121T091544Z`), `None` when it is not a date.
pub fn of_release_date(date: &str) -> Option<String> {
    release::parse_date(date).map(format)
}

/// Where a snapshot archive has what a release file of `date` listed: at that time, then a
/// day later (a snapshot archive imports a mirror some hours after its release file is
/// dated, so what was new in that release may be there only from the next import on, and
/// the pool keeps a replaced file for a while). Empty when `date` is not a date.
pub fn around_release_date(date: &str) -> Vec<String> {
    release::parse_date(date)
        .map(|d| vec![format(d), format(d + 86_400)])
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_strict_real_dates() {
        assert_eq!(parse("19700101T000000Z"), Ok(0));
        assert_eq!(parse("20231114T221320Z"), Ok(1_700_000_000));
        assert_eq!(format(1_700_000_000), "20231114T221320Z");
        assert!(parse("20240229T120000Z").is_ok(), "a leap day");
        for bad in [
            "",
            "20261120",
            "20261120T000000",
            "20261120t000000Z",
            "2026-11-20T00:00:00Z",
            "20261120T000000Z ",
            "20230229T000000Z",
            "20261131T000000Z",
            "20261300T000000Z",
            "20261120T240000Z",
            "20261120T006000Z",
            "20261120T000060Z",
            "19691231T235959Z",
            "+0261120T000000Z",
            "２0261120T000000Z",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("YYYYMMDDTHHMMSSZ"), "{bad}: {e}");
        }
    }

    #[test]
    fn release_dates_become_timestamps() {
        assert_eq!(
            of_release_date("Sat, 21 Nov 2026 09:15:44 UTC").as_deref(),
            Some("20261121T091544Z")
        );
        assert_eq!(
            of_release_date("Sat, 21 Nov 2026 10:15:44 +0100").as_deref(),
            Some("20261121T091544Z")
        );
        assert_eq!(of_release_date("yesterday"), None);
        assert_eq!(
            around_release_date("Sat, 21 Nov 2026 09:15:44 UTC"),
            ["20261121T091544Z", "20261122T091544Z"]
        );
        assert!(around_release_date("").is_empty());
    }
}
