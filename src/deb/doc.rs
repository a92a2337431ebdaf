//! The changelog a `.deb` ships (`usr/share/doc/PKG/changelog.Debian.gz`), read as `deb::read`
//! reads a package (the control checked against what the index or lock says it is, every
//! member bounded) but into memory, alone: nothing else of data.tar is kept.

use std::io::Read;

use super::{
    DATA_ENTRIES, DebError, Identity, NAME_LIMIT, ar, checked_control, data_limit, decoder, human,
    io_error, normalize, stream_limit,
};

/// The largest changelog read (compressed): Debian's longest are about 1 MiB.
pub const CHANGELOG_LIMIT: u64 = 8 << 20;

/// What a package says of its changelog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocChangelog {
    /// `changelog.Debian.gz` (or a native package's `changelog.gz`), compressed, as shipped.
    File(Vec<u8>),
    /// Its doc directory is a link to another package's (`libstdc++6` -> `gcc-14-base`).
    LinkedTo(String),
    /// Neither.
    Missing,
}

/// The changelog of the `.deb` streamed from `reader`, which must be `planned`.
pub fn changelog(planned: &Identity, reader: impl Read) -> Result<DocChangelog, DebError> {
    let package = planned.name;
    let format = |reason: String| DebError::Format {
        package: package.to_owned(),
        reason,
    };
    let mut ar = ar::Reader::new(reader);
    let (_, installed) = checked_control(planned, &mut ar)?;
    loop {
        match ar.next().map_err(format)? {
            Some((name, _)) if name.starts_with('_') => {}
            Some((name, size)) if name.starts_with("data.tar") => {
                let dec = decoder(&name, ar.data(), size, stream_limit(data_limit(installed)))
                    .map_err(|e| io_error(package, &name, e))?;
                return find(package, dec).map_err(|e| io_error(package, &name, e));
            }
            Some((name, _)) => return Err(format(format!("unexpected member `{name}`"))),
            None => return Err(format("missing `data.tar`".into())),
        }
    }
}

/// Look through data.tar for the package's changelog or its doc directory's link.
fn find(package: &str, reader: impl Read) -> std::io::Result<DocChangelog> {
    let dir = format!("usr/share/doc/{package}");
    let debian = format!("{dir}/changelog.Debian.gz");
    let native = format!("{dir}/changelog.gz");
    let mut fallback = None;
    let mut tar = tar::Archive::new(reader);
    for (i, entry) in tar.entries()?.enumerate() {
        if i >= DATA_ENTRIES {
            return Err(super::over(format!(
                "data.tar has more than {DATA_ENTRIES} entries"
            )));
        }
        let mut entry = entry?;
        let raw = entry.path_bytes();
        if raw.len() > NAME_LIMIT {
            continue;
        }
        let Some(path) = normalize(&String::from_utf8_lossy(&raw)) else {
            continue;
        };
        if path == dir && entry.header().entry_type().is_symlink() {
            let target = entry.link_name_bytes().unwrap_or_default();
            let target = String::from_utf8_lossy(&target);
            let last = target
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("");
            if crate::package::valid_name(last) {
                return Ok(DocChangelog::LinkedTo(last.to_owned()));
            }
            continue;
        }
        // An upstream `changelog.gz` is not Debian's: only a native package has no other.
        if (path == debian || path == native) && entry.header().entry_type().is_file() {
            if entry.size() > CHANGELOG_LIMIT {
                return Err(super::over(format!(
                    "`{path}` is larger than {}",
                    human(CHANGELOG_LIMIT)
                )));
            }
            let mut bytes = Vec::new();
            (&mut entry).take(CHANGELOG_LIMIT).read_to_end(&mut bytes)?;
            if path == debian {
                return Ok(DocChangelog::File(bytes));
            }
            fallback = Some(bytes);
        }
    }
    Ok(fallback.map_or(DocChangelog::Missing, DocChangelog::File))
}
