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
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
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
            architectures: list("Architectures"),
            components: list("Components"),
            acquire_by_hash: get("Acquire-By-Hash").is_some_and(|v| v == "yes"),
            sha256,
        })
    }
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
}
