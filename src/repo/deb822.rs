//! A small, allocation-free parser for deb822 paragraphs (Packages, Release, control files).

use std::borrow::Cow;

/// One paragraph: `Field: value` lines, continuation lines start with a space or tab.
#[derive(Debug, Clone, Copy)]
pub struct Paragraph<'a> {
    raw: &'a str,
}

/// Iterate the paragraphs of `text` (separated by blank lines; `#` comment lines skipped).
pub fn paragraphs(text: &str) -> impl Iterator<Item = Paragraph<'_>> {
    let mut rest = text;
    std::iter::from_fn(move || {
        loop {
            // Skip blank lines.
            let trimmed = rest.trim_start_matches(['\n', '\r']);
            let trimmed = skip_blank_lines(trimmed);
            if trimmed.is_empty() {
                rest = trimmed;
                return None;
            }
            let end = find_paragraph_end(trimmed);
            let (para, tail) = trimmed.split_at(end);
            rest = tail;
            if para
                .lines()
                .any(|l| !l.starts_with('#') && !l.trim().is_empty())
            {
                return Some(Paragraph { raw: para });
            }
        }
    })
}

fn skip_blank_lines(mut s: &str) -> &str {
    loop {
        let line_end = s.find('\n').map_or(s.len(), |i| i + 1);
        if !s.is_empty() && s[..line_end].trim().is_empty() {
            s = &s[line_end..];
        } else {
            return s;
        }
    }
}

/// Byte offset where the paragraph starting at `s` ends (the start of its blank line).
fn find_paragraph_end(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut pos = 0;
    while let Some(nl) = memchr(b'\n', &bytes[pos..]) {
        let line_start = pos + nl + 1;
        let next_end = memchr(b'\n', &bytes[line_start..]).map_or(bytes.len(), |i| line_start + i);
        if bytes[line_start..next_end]
            .iter()
            .all(|b| b.is_ascii_whitespace())
        {
            return line_start;
        }
        pos = line_start;
    }
    bytes.len()
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

impl<'a> Paragraph<'a> {
    /// The paragraph's text as it appears in the file.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Fields in order: `(name, raw value)`; the raw value keeps continuation lines.
    pub fn fields(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        let raw = self.raw;
        let mut lines = raw.split_inclusive('\n').peekable();
        let mut offset = 0usize;
        std::iter::from_fn(move || {
            loop {
                let line = lines.next()?;
                let start = offset;
                offset += line.len();
                if line.starts_with('#') || line.starts_with([' ', '\t']) {
                    continue;
                }
                let colon = line.find(':')?;
                let name = &line[..colon];
                // Extend over continuation lines.
                let mut end = offset;
                while let Some(next) = lines.peek() {
                    if next.starts_with([' ', '\t']) || next.starts_with('#') {
                        end += next.len();
                        offset += next.len();
                        lines.next();
                    } else {
                        break;
                    }
                }
                let value = raw[start + colon + 1..end].trim();
                return Some((name, value));
            }
        })
    }

    /// The raw value of `field` (case-insensitive), trimmed; continuation lines included.
    pub fn get_raw(&self, field: &str) -> Option<&'a str> {
        self.fields()
            .find(|(name, _)| name.eq_ignore_ascii_case(field))
            .map(|(_, v)| v)
    }

    /// The value of `field` with continuation lines unfolded: leading whitespace removed and
    /// ` .` lines turned into empty lines.
    pub fn get(&self, field: &str) -> Option<Cow<'a, str>> {
        let raw = self.get_raw(field)?;
        if !raw.contains('\n') {
            return Some(Cow::Borrowed(raw));
        }
        let mut out = String::with_capacity(raw.len());
        for (i, line) in raw.lines().enumerate() {
            if line.starts_with('#') {
                continue;
            }
            if i > 0 {
                out.push('\n');
            }
            let l = line.trim_start();
            if l != "." {
                out.push_str(l.trim_end());
            }
        }
        Some(Cow::Owned(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_fields_and_continuations() {
        let text = "\n\n# leading comment\nPackage: a\nVersion: 1.0\nDescription: short\n more\n .\n end\n\n\n\nPackage: b\n# inner comment\nDepends: x,\n y\nmulti: Case\n";
        let ps: Vec<_> = paragraphs(text).collect();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("package").as_deref(), Some("a"));
        assert_eq!(
            ps[0].get("Description").as_deref(),
            Some("short\nmore\n\nend")
        );
        assert_eq!(ps[1].get("DEPENDS").as_deref(), Some("x,\ny"));
        assert_eq!(ps[1].get("Multi").as_deref(), Some("Case"));
        assert_eq!(ps[1].get("Version"), None);
        assert!(ps[1].raw().starts_with("Package: b"));
        let names: Vec<_> = ps[0].fields().map(|(n, _)| n).collect();
        assert_eq!(names, ["Package", "Version", "Description"]);
    }

    #[test]
    fn crlf_and_whitespace_only_separators() {
        let text = "A: 1\r\n \r\nB: 2\r\n";
        let ps: Vec<_> = paragraphs(text).collect();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("A").as_deref(), Some("1"));
        assert_eq!(ps[1].get("B").as_deref(), Some("2"));
    }
}
