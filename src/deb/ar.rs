//! The `ar` container of a `.deb`, read by hand: `!<arch>\n`, then members of a 60-byte
//! header and their data padded to an even length. dpkg never writes GNU or BSD long names
//! (`/`, `//`, `/N`, `#1/N`), so they are refused; the `ar` crate panicked on `/N` without a
//! `//` table.

use std::io::{self, Read};

const MAGIC: &[u8] = b"!<arch>\n";
const HEADER: usize = 60;

/// An ar archive read as a stream: `next` gives each member's name and size, `data` its
/// bytes (what is left unread is skipped by the next `next`). Errors are reasons for
/// `DebError::Format`.
pub struct Reader<R> {
    inner: R,
    started: bool,
    /// The current member: its name, bytes not yet read, and whether a pad byte follows.
    name: String,
    left: u64,
    pad: bool,
}

fn read_error(e: &io::Error) -> String {
    format!("cannot read the archive: {e}")
}

impl<R: Read> Reader<R> {
    pub fn new(inner: R) -> Reader<R> {
        Reader {
            inner,
            started: false,
            name: String::new(),
            left: 0,
            pad: false,
        }
    }

    /// Read into `buf` until it is full or the stream ends; the number of bytes read.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, String> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(read_error(&e)),
            }
        }
        Ok(got)
    }

    /// The next member's name (without the GNU `/` terminator) and size, or `None` at the
    /// end of the archive.
    pub fn next(&mut self) -> Result<Option<(String, u64)>, String> {
        if !self.started {
            self.started = true;
            let mut magic = [0u8; 8];
            if self.fill(&mut magic)? != 8 || magic != MAGIC {
                return Err("not an ar archive (no `!<arch>` magic)".into());
            }
        }
        self.skip()?;
        let mut header = [0u8; HEADER];
        match self.fill(&mut header)? {
            0 => return Ok(None),
            HEADER => {}
            n => return Err(format!("truncated ar member header ({n} of 60 bytes)")),
        }
        let name = name(&header[..16])?.to_owned();
        if &header[58..60] != b"`\n" {
            return Err(format!("bad header end of ar member `{name}`"));
        }
        let size = std::str::from_utf8(&header[48..58])
            .ok()
            .map(|s| s.trim_end_matches(' '))
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| format!("bad size field of ar member `{name}`"))?;
        self.name.clone_from(&name);
        self.left = size;
        self.pad = size % 2 == 1;
        Ok(Some((name, size)))
    }

    /// Skip what is left of the current member and its pad byte (which the last member may
    /// lack).
    fn skip(&mut self) -> Result<(), String> {
        let want = self.left;
        let skipped = io::copy(&mut (&mut self.inner).take(want), &mut io::sink())
            .map_err(|e| read_error(&e))?;
        self.left = 0;
        if skipped < want {
            return Err(format!(
                "ar member `{}` claims {want} more bytes but only {skipped} remain",
                self.name
            ));
        }
        if std::mem::take(&mut self.pad) {
            self.fill(&mut [0u8; 1])?;
        }
        Ok(())
    }

    /// The bytes of the current member (they end early if the archive does: the decoders
    /// and the tar reader then fail).
    pub fn data(&mut self) -> Data<'_, R> {
        Data { reader: self }
    }
}

/// The data of the current member of a `Reader`.
pub struct Data<'a, R> {
    reader: &'a mut Reader<R>,
}

impl<R: Read> Read for Data<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = &mut *self.reader;
        let n = buf.len().min(usize::try_from(r.left).unwrap_or(usize::MAX));
        if n == 0 {
            return Ok(0);
        }
        let got = r.inner.read(&mut buf[..n])?;
        r.left -= got as u64;
        Ok(got)
    }
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

    /// Every member, read whole.
    fn members(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
        let mut r = Reader::new(bytes);
        let mut out = Vec::new();
        while let Some((name, _)) = r.next()? {
            let mut data = Vec::new();
            r.data().read_to_end(&mut data).unwrap();
            out.push((name, data));
        }
        Ok(out)
    }

    #[test]
    fn reads_members_with_padding_and_gnu_terminators() {
        let a = archive(&[("debian-binary", b"2.0\n"), ("control.tar/", b"abc")]);
        let m = members(&a).unwrap();
        assert_eq!(
            m,
            [
                ("debian-binary".to_owned(), b"2.0\n".to_vec()),
                ("control.tar".to_owned(), b"abc".to_vec()),
            ]
        );
        // Odd last member without its pad byte.
        let mut short = archive(&[("x", b"abc")]);
        short.pop();
        assert_eq!(members(&short).unwrap()[0].1, b"abc");
        // Members left unread are skipped.
        let mut r = Reader::new(&a[..]);
        assert_eq!(r.next().unwrap().unwrap().0, "debian-binary");
        assert_eq!(r.next().unwrap().unwrap(), ("control.tar".to_owned(), 3));
        assert_eq!(r.next().unwrap(), None);
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
        let e = Reader::new(&lie[..])
            .next()
            .and_then(|_| Reader::new(&lie[..]).next());
        assert!(e.is_ok(), "the header alone is not read past");
        let mut r = Reader::new(&lie[..]);
        r.next().unwrap();
        let e = r.next().unwrap_err();
        assert!(e.contains("claims 9999999999 more bytes"), "{e}");
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
