//! A locked suite's InRelease as published: the copy whose verified text is the release the
//! lock names, wherever one is kept (a vendored directory, the cache, the mirror, the
//! snapshot archive). `compose vendor` copies it; `--attest` records its URL and hash.

use anyhow::Result;

use super::error::BuildError;
use super::indexes::{check_release, keyring_of, now, release_url, source_url};
use crate::fetch::Fetcher;
use crate::lock::LockedSource;
use crate::mirror::Mirrors;
use crate::repo::release::Release;
use crate::spec::{Location, Source};

/// The InRelease bytes the lock names, verified, and where they were found.
pub struct LockedRelease {
    /// The InRelease file as published.
    pub signed: Vec<u8>,
    pub release: Release,
    /// The URL of the copy (`URL/dists/SUITE/InRelease`, mirrors resolved).
    pub url: String,
}

/// The InRelease of `suite` of `source` the lock's `pin` names, verified as a locked build
/// verifies it (signature, suite, date; its text the lock's): `local` (a vendored
/// directory's copy) first, then the cache's (the last that passed, usually the one the lock
/// was made from), then the mirror's; when none is the lock's and a snapshot archive is
/// configured, the archive at the lock's snapshot, else around its release date.
pub(crate) fn locked_release(
    fetcher: &Fetcher,
    mirrors: &Mirrors,
    source: &Source,
    suite: &str,
    pin: &LockedSource,
    local: Option<Vec<u8>>,
) -> Result<LockedRelease> {
    let keyring = keyring_of(source)?;
    let now = now();
    let check = |signed: &[u8], url: &str| {
        check_release(
            signed,
            url,
            source,
            suite,
            &keyring,
            now,
            Some(&pin.release),
        )
    };
    let url = release_url(&source_url(source, mirrors)?, suite);
    let mut urls = vec![url.clone()];
    urls.extend(snapshot_urls(mirrors, source, suite, pin).filter(|u| *u != url));
    let mut last: Option<anyhow::Error> = None;
    for (i, url) in urls.iter().enumerate() {
        let first = if i == 0 { local.clone() } else { None };
        let copies = [first, fetcher.cache.get_signed(url)].into_iter().flatten();
        let live = std::iter::once_with(|| fetcher.get_signed(url).map_err(anyhow::Error::from));
        for signed in copies.map(Ok::<_, anyhow::Error>).chain(live) {
            match signed.and_then(|s| check(&s, url).map(|(release, _)| (s, release))) {
                Ok((signed, release)) => {
                    return Ok(LockedRelease {
                        signed,
                        release,
                        url: url.clone(),
                    });
                }
                Err(e) => last = Some(e),
            }
        }
    }
    Err(BuildError::NoLockedRelease {
        location: source.location.to_string(),
        suite: suite.to_owned(),
        source: last.unwrap_or_else(|| anyhow::anyhow!("no copy")).into(),
    }
    .into())
}

/// The InRelease URLs of `suite` in the snapshot archive, when one is configured and the
/// source is an archive: at the lock's snapshot, else around the lock's release date.
fn snapshot_urls<'a>(
    mirrors: &'a Mirrors,
    source: &Source,
    suite: &'a str,
    pin: &LockedSource,
) -> impl Iterator<Item = String> + 'a {
    let archive = match (&source.location, mirrors.has_snapshot()) {
        (Location::Archive(a), true) if crate::spec::valid_archive_name(a) => Some(a.clone()),
        _ => None,
    };
    let stamps = match &pin.snapshot {
        Some(t) => vec![t.clone()],
        None => crate::snapshot::around_release_date(&pin.date),
    };
    archive
        .into_iter()
        .flat_map(move |a| stamps.clone().into_iter().map(move |t| (a.clone(), t)))
        .filter_map(move |(a, t)| mirrors.snapshot(&a, &t).ok())
        .map(move |base| release_url(&base, suite))
}
