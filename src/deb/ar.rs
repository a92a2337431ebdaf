//! The `ar` container of a `.deb`, read by hand: `!<arch>\n`, then members of a 60-byte
//! header and their data padded to an even length. dpkg never writes GNU or BSD long names
//! (`/`, `//`, `/N`, `#1/N`), so they are refused; the `ar` crate panicked on `/N` without a
//! `//` table.

/// One member: its name (without the GNU `/` terminator) and its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
}

const MAGIC: &[u8] = b"!<arch>\n";
const HEADER: usize = 60;

/// The members of `bytes`, in order. Errors are reasons for `DebError::Format`.
pub fn members(bytes: &[u8]) -> Result<Vec<Member<'_>>, String> {
    let mut rest = bytes
        .strip_prefix(MAGIC)
        .ok_or("not an ar archive (no `!<arch>` magic)")?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        if rest.len() < HEADER {
            return Err(format!(
                "truncated ar member header ({} of 60 bytes)",
                rest.len()
            ));
        }
        let (header, tail) = rest.split_at(HEADER);
        let name = name(&header[..16])?;
        if &header[58..60] != b"`\n" {
            return Err(format!("bad header end of ar member `{name}`"));
        }
        let size = std::str::from_utf8(&header[48..58])
            .ok()
            .map(|s| s.trim_end_matches(' '))
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| format!("bad size field of ar member `{name}`"))?;
        if size > tail.len() as u64 {
            return Err(format!(
                "ar member `{name}` claims {size} bytes but only {} remain",
                tail.len()
            ));
        }
        let (data, after) = tail.split_at(size as usize);
        out.push(Member { name, data });
        // Members are padded to an even length; the last pad byte may be missing.
        rest = if size % 2 == 1 && !after.is_empty() {
            &after[1..]
        } else {
            after
        };
    }
    Ok(out)
}

fn name(field: &[u8]) -> Result<&str, String> {
    let shown = String::from_utf8_lossy(field).escape_debug().to_string();
    let text = std::str::from_utf8(field)
        .map_err(|_| format!("ar member name `{shown}` is not ASCII"))?
        .trim_end_matches(' ');
    if text.starts_with('/') || text.starts_with("#1/") {
        return Err(format!(
            "ar member name `{}` is a GNU/BSD long or special name, which .debs do not use",
            text.escape_debug()
        ));
    }
    let text = text.strip_suffix('/').unwrap_or(text);
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_graphic() && b != b'/') {
        return Err(format!("bad ar member name `{shown}`"));
    }
    Ok(text)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An ar member header and its padded data (for tests here and in `deb`).
    pub(crate) fn member(name: &str, data: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            0,
            0,
            0,
            100644,
            data.len()
        )
        .into_bytes();
        assert_eq!(out.len(), 60);
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
        out
    }

    pub(crate) fn archive(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for (n, d) in members {
            out.extend(member(n, d));
        }
        out
    }

    #[test]
    fn reads_members_with_padding_and_gnu_terminators() {
        let a = archive(&[("debian-binary", b"2.0\n"), ("control.tar/", b"abc")]);
        let m = members(&a).unwrap();
        assert_eq!(
            m,
            [
                Member {
                    name: "debian-binary",
                    data: b"2.0\n"
                },
                Member {
                    name: "control.tar",
                    data: b"abc"
                }
            ]
        );
        // Odd last member without its pad byte.
        let mut short = archive(&[("x", b"abc")]);
        short.pop();
        assert_eq!(members(&short).unwrap()[0].data, b"abc");
    }

    #[test]
    fn long_names_lies_and_truncation_are_refused() {
        // `/N` without a `//` table: the `ar` crate panicked here.
        let e = members(&archive(&[("/1", b"x")])).unwrap_err();
        assert!(e.contains("GNU/BSD long or special name"), "{e}");
        for n in ["/", "//", "#1/20"] {
            assert!(members(&archive(&[(n, b"x")])).is_err(), "{n}");
        }
        let mut lie = archive(&[("data.tar", b"xy")]);
        let field = format!("{:<10}", 9_999_999_999u64);
        lie[8 + 48..8 + 58].copy_from_slice(field.as_bytes());
        let e = members(&lie).unwrap_err();
        assert!(e.contains("claims 9999999999 bytes"), "{e}");
        assert!(
            members(b"!<arch>\nshort")
                .unwrap_err()
                .contains("truncated")
        );
        assert!(members(b"garbage").is_err());
        let mut bad = archive(&[("x", b"")]);
        bad[8 + 48] = b'-';
        assert!(members(&bad).unwrap_err().contains("bad size"));
    }
}
