//! Reading a `.deb`: the ar container, `control.tar` (control and md5sums only) and the
//! streamed, decompressed `data.tar`. Maintainer scripts are never extracted, let alone run.

use std::io::{self, Read};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error("`{package}` is not a valid .deb: {reason}")]
    Format { package: String, reason: String },
    #[error("cannot read `{member}` of `{package}`")]
    Read {
        package: String,
        member: String,
        #[source]
        source: io::Error,
    },
    #[error("`{package}` contains `{path}`, which escapes the root filesystem")]
    UnsafePath { package: String, path: String },
    #[error("`{package}` contains `{path}` of an unsupported type (device or fifo)")]
    Unsupported { package: String, path: String },
}

/// What an entry of a data.tar is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File(Arc<[u8]>),
    Dir,
    /// Symlink with its target exactly as the package wrote it.
    Symlink(String),
    /// Hard link to another path of the same package (normalized like `Entry::path`).
    HardLink(String),
}

/// One file system entry of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Normalized relative path: no leading `./` or `/`, no trailing `/` (`usr/bin/python3`).
    pub path: String,
    pub kind: Kind,
    /// Permission bits including setuid/setgid/sticky (`0o7777` mask).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
}

/// The parts of a `.deb` that `compose` uses.
#[derive(Debug, Clone)]
pub struct Deb {
    /// The `control` file of control.tar.
    pub control: String,
    /// The `md5sums` file of control.tar, when the package has one.
    pub md5sums: Option<String>,
    pub entries: Vec<Entry>,
}

/// Normalize a tar path: strip `./` and `/`, refuse `..` and empty components.
pub fn normalize(path: &str) -> Option<String> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

fn decoder<'a>(name: &str, reader: impl Read + 'a, size: u64) -> io::Result<Box<dyn Read + 'a>> {
    Ok(if name.ends_with(".xz") {
        if size > 4 << 20 {
            // Large members: liblzma's threaded decoder (only helps multi-block streams).
            let stream = liblzma::stream::MtStreamBuilder::new()
                .threads(2)
                .memlimit_threading(1 << 30)
                .memlimit_stop(u64::MAX)
                .decoder()
                .map_err(io::Error::other)?;
            Box::new(liblzma::read::XzDecoder::new_stream(reader, stream))
        } else {
            Box::new(liblzma::read::XzDecoder::new(reader))
        }
    } else if name.ends_with(".zst") {
        Box::new(zstd::stream::read::Decoder::new(reader)?)
    } else if name.ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(reader))
    } else if name.ends_with(".tar") {
        Box::new(reader)
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unsupported compression of `{name}`"),
        ));
    })
}

/// Parse a `.deb` held in memory. `package` names it in errors.
pub fn read(package: &str, bytes: &[u8]) -> Result<Deb, DebError> {
    let format = |reason: String| DebError::Format {
        package: package.to_owned(),
        reason,
    };
    let mut archive = ar::Archive::new(bytes);
    let mut control = None;
    let mut md5sums = None;
    let mut entries = None;
    let mut saw_binary = false;
    while let Some(member) = archive.next_entry() {
        let member = member.map_err(|e| format(e.to_string()))?;
        let name = String::from_utf8_lossy(member.header().identifier())
            .trim_end_matches('/')
            .to_owned();
        let size = member.header().size();
        let read_err = |source| DebError::Read {
            package: package.to_owned(),
            member: name.clone(),
            source,
        };
        if name == "debian-binary" {
            saw_binary = true;
        } else if name.starts_with("control.tar") {
            let dec = decoder(&name, member, size).map_err(read_err)?;
            let (c, m) = read_control(dec).map_err(read_err)?;
            control = c;
            md5sums = m;
        } else if name.starts_with("data.tar") {
            let dec = decoder(&name, member, size).map_err(read_err)?;
            entries = Some(read_data(package, dec)?);
        }
    }
    if !saw_binary {
        return Err(format("missing `debian-binary`".into()));
    }
    Ok(Deb {
        control: control.ok_or_else(|| format("control.tar has no `control` file".into()))?,
        md5sums,
        entries: entries.ok_or_else(|| format("missing data.tar".into()))?,
    })
}

fn read_control(reader: impl Read) -> io::Result<(Option<String>, Option<String>)> {
    let mut control = None;
    let mut md5sums = None;
    let mut tar = tar::Archive::new(reader);
    for entry in tar.entries()? {
        let mut entry = entry?;
        let path = entry.path_bytes().into_owned();
        let name = normalize(&String::from_utf8_lossy(&path)).unwrap_or_default();
        let slot = match name.as_str() {
            "control" => &mut control,
            "md5sums" => &mut md5sums,
            _ => continue, // maintainer scripts and the rest are never read
        };
        let mut text = String::new();
        entry.read_to_string(&mut text)?;
        *slot = Some(text);
    }
    Ok((control, md5sums))
}

fn read_data(package: &str, reader: impl Read) -> Result<Vec<Entry>, DebError> {
    let io_err = |source| DebError::Read {
        package: package.to_owned(),
        member: "data.tar".into(),
        source,
    };
    let mut out = Vec::new();
    let mut tar = tar::Archive::new(reader);
    for entry in tar.entries().map_err(io_err)? {
        let mut entry = entry.map_err(io_err)?;
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let unsafe_path = || DebError::UnsafePath {
            package: package.to_owned(),
            path: raw_path.clone(),
        };
        let path = normalize(&raw_path).ok_or_else(unsafe_path)?;
        let header = entry.header();
        let mode = header.mode().map_err(io_err)? & 0o7777;
        let uid = header.uid().map_err(io_err)?;
        let gid = header.gid().map_err(io_err)?;
        let mtime = header.mtime().map_err(io_err)?;
        let link = || -> Result<String, DebError> {
            let l = entry
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            Ok(l)
        };
        let kind = match header.entry_type() {
            tar::EntryType::Directory => {
                if path.is_empty() {
                    continue; // the root itself
                }
                Kind::Dir
            }
            tar::EntryType::Symlink => Kind::Symlink(link()?),
            tar::EntryType::Link => {
                let target = link()?;
                Kind::HardLink(normalize(&target).ok_or_else(unsafe_path)?)
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut data = Vec::with_capacity(entry.size() as usize);
                entry.read_to_end(&mut data).map_err(io_err)?;
                Kind::File(data.into())
            }
            _ => {
                return Err(DebError::Unsupported {
                    package: package.to_owned(),
                    path: raw_path,
                });
            }
        };
        if path.is_empty() {
            return Err(unsafe_path());
        }
        out.push(Entry {
            path,
            kind,
            mode,
            uid,
            gid,
            mtime,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_paths() {
        assert_eq!(normalize("./usr/bin/").as_deref(), Some("usr/bin"));
        assert_eq!(normalize("/etc//x").as_deref(), Some("etc/x"));
        assert_eq!(normalize("./").as_deref(), Some(""));
        assert_eq!(normalize("./usr/../../etc"), None);
    }

    #[test]
    fn garbage_is_a_format_error() {
        let e = read("junk", b"not an ar archive").unwrap_err();
        assert!(e.to_string().contains("`junk` is not a valid .deb"), "{e}");
    }
}
