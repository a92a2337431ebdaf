//! `[config] env` values that name the version of a package of the image:
//! `{upstream-version:openjdk-21-jre-headless|before:+}` becomes `21.0.9` on the platform
//! whose plan (resolved or locked) has `openjdk-21-jre-headless 21.0.9+10-1~deb13u1`.
//!
//! Grammar: literal text, `{{` and `}}` for braces, and `{FIELD:PACKAGE}` or
//! `{FIELD:PACKAGE|before:SEPARATOR}`. `version` is the Debian version, `upstream-version`
//! that without its epoch and Debian revision; `before:S` keeps what precedes the first `S`.
//! The syntax is checked when the spec loads; the package when the image is planned.

use crate::package::Version;

/// Which part of a package's version a placeholder takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The whole Debian version (`1:2.3+4-5`).
    Version,
    /// Without epoch and Debian revision (`2.3+4`).
    UpstreamVersion,
}

/// One piece of a parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Package {
        field: Field,
        package: String,
        /// Keep only what precedes the first occurrence of this.
        before: Option<String>,
    },
}

/// Parse a value; the error says what is wrong (without the key, which the caller adds).
pub fn parse(value: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = value;
    while let Some(i) = rest.find(['{', '}']) {
        text.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{") {
            text.push('{');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            text.push('}');
            rest = after;
        } else if tail.starts_with('}') {
            return Err("`}` without `{` (write `}}` for a literal brace)".into());
        } else {
            let end = tail
                .find('}')
                .ok_or("`{` without `}` (write `{{` for a literal brace)")?;
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(placeholder(&tail[1..end])?);
            rest = &tail[end + 1..];
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

fn placeholder(inner: &str) -> Result<Piece, String> {
    let (spec, filter) = match inner.split_once('|') {
        Some((s, f)) => (s, Some(f)),
        None => (inner, None),
    };
    let (field, package) = spec.split_once(':').ok_or_else(|| {
        format!("`{{{inner}}}` is not `{{upstream-version:PACKAGE}}` or `{{version:PACKAGE}}`")
    })?;
    let field = match field {
        "version" => Field::Version,
        "upstream-version" => Field::UpstreamVersion,
        other => {
            return Err(format!(
                "unknown field `{other}` in `{{{inner}}}`: expected `version` or `upstream-version`"
            ));
        }
    };
    if !crate::package::valid_name(package) {
        return Err(format!(
            "`{package}` in `{{{inner}}}` is not a Debian package name"
        ));
    }
    let before = match filter {
        None => None,
        Some(f) => match f.strip_prefix("before:") {
            Some(sep) if !sep.is_empty() => Some(sep.to_owned()),
            _ => {
                return Err(format!(
                    "unknown filter `{f}` in `{{{inner}}}`: expected `before:SEPARATOR`"
                ));
            }
        },
    };
    Ok(Piece::Package {
        field,
        package: package.to_owned(),
        before,
    })
}

/// The value with every placeholder replaced, versions from `lookup`; the error names the
/// first package `lookup` does not know.
pub fn expand<'v>(
    pieces: &[Piece],
    lookup: impl Fn(&str) -> Option<&'v Version>,
) -> Result<String, String> {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Package {
                field,
                package,
                before,
            } => {
                let v = lookup(package).ok_or_else(|| package.clone())?;
                let full = match field {
                    Field::Version => v.to_string(),
                    Field::UpstreamVersion => v.upstream_version.clone(),
                };
                let cut = match before {
                    Some(sep) => full.split(sep.as_str()).next().unwrap_or(""),
                    None => &full,
                };
                out.push_str(cut);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn expand_with(value: &str, name: &str, version: &str) -> Result<String, String> {
        let version = v(version);
        expand(&parse(value)?, |p| (p == name).then_some(&version))
    }

    #[test]
    fn fields_and_the_before_filter() {
        let jre = "openjdk-21-jre-headless";
        let debian = "21.0.9+10-1~deb13u1";
        for (template, want) in [
            ("{upstream-version:openjdk-21-jre-headless}", "21.0.9+10"),
            (
                "{upstream-version:openjdk-21-jre-headless|before:+}",
                "21.0.9",
            ),
            ("{version:openjdk-21-jre-headless}", debian),
            (
                "v{version:openjdk-21-jre-headless|before:-}!",
                "v21.0.9+10!",
            ),
            ("{{literal}} 1", "{literal} 1"),
            ("plain", "plain"),
            ("", ""),
        ] {
            assert_eq!(
                expand_with(template, jre, debian).unwrap(),
                want,
                "{template}"
            );
        }
        // Four components (bookworm's 17.0.21.1), an epoch, no separator to cut at.
        assert_eq!(
            expand_with(
                "{upstream-version:jre|before:+}",
                "jre",
                "17.0.21.1+2-1~deb12u1"
            )
            .unwrap(),
            "17.0.21.1"
        );
        assert_eq!(
            expand_with("{upstream-version:zz|before:+}", "zz", "1:1.3.1-2").unwrap(),
            "1.3.1"
        );
        assert_eq!(
            expand_with("{version:zz}", "zz", "1:1.3.1-2").unwrap(),
            "1:1.3.1-2"
        );
    }

    #[test]
    fn a_package_not_in_the_image_is_named() {
        assert_eq!(
            expand_with("{version:absent}", "present", "1.0-1").unwrap_err(),
            "absent"
        );
    }

    #[test]
    fn bad_syntax_is_refused_with_the_reason() {
        for (bad, why) in [
            ("{upstream-version:jre", "`{` without `}`"),
            ("x}", "`}` without `{`"),
            ("{jre}", "is not `{upstream-version:PACKAGE}`"),
            ("{major:jre}", "unknown field `major`"),
            ("{version:Bad_Name}", "not a Debian package name"),
            ("{version:}", "not a Debian package name"),
            ("{version:jre|after:+}", "unknown filter `after:+`"),
            ("{version:jre|before:}", "unknown filter `before:`"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
