//! Reports as a table for the terminal, JSON for programs, or markdown for a pull
//! request's description: the same facts in each.

use std::fmt::Write as _;

use super::{Change, Report};
use crate::lock::Change as Kind;

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Markdown,
}

/// Every report in `format`.
pub fn render(reports: &[Report], format: Format) -> String {
    match format {
        Format::Json => {
            let value = match reports {
                [one] => serde_json::to_value(one),
                all => serde_json::to_value(all),
            };
            let mut out = value
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or_default();
            out.push('\n');
            out
        }
        Format::Table => reports.iter().map(table).collect::<Vec<_>>().join("\n"),
        Format::Markdown => reports.iter().map(markdown).collect::<Vec<_>>().join("\n"),
    }
}

/// `amd64, arm64` for `linux/amd64`, `linux/arm64/v8`.
fn platforms(c: &Change) -> String {
    c.platforms
        .iter()
        .map(|p| p.split('/').nth(1).unwrap_or(p))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `trixie-security (security)`.
fn suite(c: &Change) -> String {
    match (&c.suite, c.kind) {
        (Some(s), Some(k)) => format!("{s} ({})", k.label()),
        (Some(s), None) => s.clone(),
        _ => "-".into(),
    }
}

/// One line: how many packages changed, how many of them are security updates, how many
/// CVEs they fix.
fn summary(r: &Report) -> String {
    let security = r.changes.iter().filter(|c| c.is_security()).count();
    let cves: std::collections::BTreeSet<&String> =
        r.changes.iter().flat_map(|c| &c.cves).collect();
    if r.changes.is_empty() {
        return format!("{}: all {} packages are current", r.title, r.packages);
    }
    format!(
        "{}: {} change{} ({} security, fixing {} CVE{}); {} of {} packages unchanged",
        r.title,
        r.changes.len(),
        if r.changes.len() == 1 { "" } else { "s" },
        security,
        cves.len(),
        if cves.len() == 1 { "" } else { "s" },
        r.unchanged,
        r.packages
    )
}

fn or_dash(v: Option<&str>) -> &str {
    v.unwrap_or("-")
}

fn change_word(k: &Kind) -> &'static str {
    match k {
        Kind::Added => "added",
        Kind::Removed => "removed",
        Kind::Upgraded => "upgraded",
        Kind::Downgraded => "downgraded",
        Kind::Rebuilt => "rebuilt",
    }
}

/// An aligned table, then each note.
fn table(r: &Report) -> String {
    let mut out = format!("{}\n", summary(r));
    if !r.changes.is_empty() {
        let head = [
            "PACKAGE",
            "PLATFORMS",
            "CHANGE",
            "VERSIONS",
            "SUITE",
            "URGENCY",
            "CVES",
        ];
        let rows: Vec<[String; 7]> = r
            .changes
            .iter()
            .map(|c| {
                [
                    c.name.clone(),
                    platforms(c),
                    change_word(&c.change).into(),
                    format!(
                        "{} -> {}",
                        or_dash(c.old.as_deref()),
                        or_dash(c.new.as_deref())
                    ),
                    suite(c),
                    or_dash(c.urgency.as_deref()).into(),
                    if c.cves.is_empty() {
                        "-".into()
                    } else {
                        c.cves.join(" ")
                    },
                ]
            })
            .collect();
        let mut widths = head.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.len());
            }
        }
        let line = |cells: Vec<&str>| {
            let mut l = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                if i + 1 == cells.len() {
                    l.push_str(cell);
                } else {
                    let _ = write!(l, "{cell:w$}  ");
                }
            }
            l.trim_end().to_owned() + "\n"
        };
        out.push_str(&line(head.to_vec()));
        for row in &rows {
            out.push_str(&line(row.iter().map(String::as_str).collect()));
        }
    }
    open_lines(r, &mut out, "");
    for c in &r.changes {
        for n in &c.notes {
            let _ = writeln!(out, "note: {n}");
        }
    }
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

/// The CVEs a tracker says are open in the old versions, one line each.
fn open_lines(r: &Report, out: &mut String, bullet: &str) {
    for o in &r.open {
        let label = o
            .label
            .as_deref()
            .map(|l| format!(", {l}"))
            .unwrap_or_default();
        let urgency = o.urgency.as_deref().unwrap_or("urgency unknown");
        let state = if o.fixed {
            "fixed by this update"
        } else {
            "still open"
        };
        let _ = writeln!(
            out,
            "{bullet}open in {} {}: {} ({urgency}{label}): {state}",
            o.source, o.version, o.id
        );
    }
}

/// A cell of a markdown table: no `|` or line break can end it early.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// A heading, the summary, a table, then each upgrade's changelog entries.
fn markdown(r: &Report) -> String {
    let mut out = format!("### {}\n\n{}\n\n", cell(&r.title), cell(&summary(r)));
    if !r.changes.is_empty() {
        out.push_str("| Package | Platforms | Change | Old | New | Suite | Urgency | CVEs |\n");
        out.push_str("|---|---|---|---|---|---|---|---|\n");
        for c in &r.changes {
            let cves = if c.cves.is_empty() {
                "-".to_owned()
            } else {
                c.cves.join(", ")
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&c.name),
                cell(&platforms(c)),
                change_word(&c.change),
                cell(or_dash(c.old.as_deref())),
                cell(or_dash(c.new.as_deref())),
                cell(&suite(c)),
                cell(or_dash(c.urgency.as_deref())),
                cell(&cves)
            );
        }
        out.push('\n');
    }
    for c in r.changes.iter().filter(|c| !c.entries.is_empty()) {
        let _ = writeln!(
            out,
            "#### {} {}\n",
            cell(&c.name),
            cell(or_dash(c.new.as_deref()))
        );
        for e in &c.entries {
            let cves = if e.cves.is_empty() {
                String::new()
            } else {
                format!(": {}", e.cves.join(", "))
            };
            let _ = writeln!(
                out,
                "- {} ({}; urgency {}){}",
                cell(&e.version),
                cell(&e.distributions.join(" ")),
                cell(if e.urgency.is_empty() {
                    "unknown"
                } else {
                    &e.urgency
                }),
                cves
            );
        }
        out.push('\n');
    }
    let mut rest = String::new();
    open_lines(r, &mut rest, "- ");
    for n in r.changes.iter().flat_map(|c| &c.notes).chain(&r.notes) {
        let _ = writeln!(rest, "- note: {}", cell(n));
    }
    if !rest.is_empty() {
        out.push_str("**Notes**\n\n");
        out.push_str(&rest);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            title: "python3 (specs/python3.lock)".into(),
            packages: 4,
            unchanged: 2,
            changes: vec![Change {
                name: "libssl3t64".into(),
                platforms: vec!["linux/amd64".into(), "linux/arm64/v8".into()],
                change: Kind::Upgraded,
                old: Some("3.5.9-1".into()),
                new: Some("3.5.10-1".into()),
                source: Some("openssl".into()),
                suite: Some("trixie-security".into()),
                kind: Some(crate::suite::SuiteKind::Security),
                urgency: Some("medium".into()),
                cves: vec!["CVE-2026-1111".into(), "CVE-2026-2222".into()],
                entries: vec![crate::changelog::Entry {
                    package: "openssl".into(),
                    version: "3.5.10-1".into(),
                    distributions: vec!["trixie-security".into()],
                    urgency: "medium".into(),
                    cves: vec!["CVE-2026-1111".into(), "CVE-2026-2222".into()],
                }],
                tracker_only: Vec::new(),
                notes: vec!["a | pipe".into()],
            }],
            open: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn the_table_lines_up_and_names_every_fact() {
        let t = render(&[report()], Format::Table);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "python3 (specs/python3.lock): 1 change (1 security, fixing 2 CVEs); 2 of 4 packages unchanged"
        );
        assert!(
            lines[1].starts_with("PACKAGE     PLATFORMS     CHANGE    VERSIONS             SUITE"),
            "{}",
            lines[1]
        );
        assert_eq!(
            lines[1].find("VERSIONS"),
            lines[2].find("3.5.9-1 -> 3.5.10-1")
        );
        assert!(
            lines[2].ends_with("medium   CVE-2026-1111 CVE-2026-2222"),
            "{}",
            lines[2]
        );
        assert_eq!(lines[3], "note: a | pipe");
    }

    #[test]
    fn markdown_cells_cannot_break_the_table() {
        let m = render(&[report()], Format::Markdown);
        assert!(m.contains("| libssl3t64 | amd64, arm64 | upgraded | 3.5.9-1 | 3.5.10-1 | trixie-security (security) | medium | CVE-2026-1111, CVE-2026-2222 |"), "{m}");
        assert!(m.contains(
            "- 3.5.10-1 (trixie-security; urgency medium): CVE-2026-1111, CVE-2026-2222"
        ));
        assert!(m.contains("- note: a \\| pipe"));
    }

    #[test]
    fn json_is_one_object_for_one_report() {
        let j: serde_json::Value =
            serde_json::from_str(&render(&[report()], Format::Json)).unwrap();
        assert_eq!(j["changes"][0]["kind"], "security");
        assert_eq!(j["changes"][0]["cves"][1], "CVE-2026-2222");
        let two: serde_json::Value =
            serde_json::from_str(&render(&[report(), report()], Format::Json)).unwrap();
        assert_eq!(two.as_array().unwrap().len(), 2);
    }
}
