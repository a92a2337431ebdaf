//! The in-house sections of a spec: `[certificates]`, `[[accounts.groups]]`,
//! `[[accounts.users]]` and `[[directories]]`, read and checked (certificate files are read
//! here, bounded, and parsed: a file without a certificate, with a private key or with an
//! expired certificate is refused).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use x509_cert::der::{Decode as _, Encode as _};

use super::{Invalid, SpecError};

/// Largest certificate file a spec may add.
pub const CERTIFICATE_FILE_LIMIT: u64 = 1 << 20;

/// `[certificates]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCertificates {
    #[serde(default)]
    add: Vec<Spanned<String>>,
}

/// `[accounts]`: `[[accounts.groups]]` and `[[accounts.users]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccounts {
    #[serde(default)]
    groups: Vec<Spanned<RawGroup>>,
    #[serde(default)]
    users: Vec<Spanned<RawUser>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    gid: u32,
    #[serde(default)]
    members: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: String,
    uid: u32,
    gid: u32,
    home: Option<String>,
    shell: Option<String>,
}

/// `[[directories]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDirectory {
    path: String,
    mode: Option<String>,
    #[serde(default)]
    uid: u32,
    #[serde(default)]
    gid: u32,
}

/// One certificate a spec adds, from a PEM file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// `<stem>` or `<stem>-<n>` when the file holds several: the file name under
    /// `/usr/local/share/ca-certificates/` (with `.crt`) and the Java alias (`compose:NAME`).
    pub name: String,
    /// The certificate as PEM (one block, `\n` line ends), as it goes into the CA bundle.
    pub pem: String,
    pub der: Vec<u8>,
    /// The index in the chain of the level that adds it.
    pub level: usize,
}

/// A certificate file a level names, with the SHA256 of its bytes (for the lock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFile {
    /// The path as the spec gives it (relative to the spec file): the lock's name for it.
    pub given: String,
    pub path: PathBuf,
    /// `sha256:HEX` of the file's bytes.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
    /// The spec that adds it (for error messages).
    pub spec: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Absolute path in the image, created owned by `uid:gid` mode 0700; `None`: `/nonexistent`.
    pub home: Option<String>,
    pub shell: String,
    pub spec: String,
    pub level: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory {
    /// Absolute, normalized (no `.`, `..`, empty or trailing components).
    pub path: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// What the in-house sections give a level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InHouse {
    /// This level's index in the chain (0 at the bottom).
    pub level: usize,
    /// Certificates of this level and the ones below, bottom first, file order then order
    /// in the file.
    pub certificates: Vec<Certificate>,
    /// The certificate files this level names.
    pub certificate_files: Vec<CertificateFile>,
    /// Groups and users of this level and the ones below (the defaults not included).
    pub groups: Vec<Group>,
    pub users: Vec<User>,
    /// Directories this level adds.
    pub directories: Vec<Directory>,
}

impl InHouse {
    /// The certificates this level adds.
    pub fn own_certificates(&self) -> impl Iterator<Item = &Certificate> {
        self.certificates.iter().filter(|c| c.level == self.level)
    }

    /// What a level above that adds nothing of its own has (the debug variant's level).
    pub fn inherited(&self) -> InHouse {
        InHouse {
            level: self.level + 1,
            certificate_files: Vec::new(),
            directories: Vec::new(),
            ..self.clone()
        }
    }

    /// The users this level adds.
    pub fn own_users(&self) -> impl Iterator<Item = &User> {
        self.users.iter().filter(|u| u.level == self.level)
    }
}

/// The accounts of every image: (name, id).
pub const DEFAULT_USERS: [(&str, u32); 3] = [("root", 0), ("nobody", 65534), ("nonroot", 65532)];
pub const DEFAULT_GROUPS: [(&str, u32); 5] = [
    ("root", 0),
    ("nobody", 65534),
    ("tty", 5),
    ("staff", 50),
    ("nonroot", 65532),
];

pub(super) struct Raw<'a> {
    pub certificates: &'a RawCertificates,
    pub accounts: &'a RawAccounts,
    pub directories: &'a [Spanned<RawDirectory>],
}

/// Validate the in-house sections of the spec `name` at `path` on its parent's.
pub(super) fn validate(
    raw: Raw,
    name: &str,
    path: &Path,
    parent: Option<&InHouse>,
    invalid: Invalid,
    now: i64,
) -> Result<InHouse, SpecError> {
    let level = parent.map_or(0, |p| p.level + 1);
    let mut out = InHouse {
        level,
        ..parent.cloned().unwrap_or_default()
    };
    out.level = level;
    out.certificate_files.clear();
    out.directories.clear();
    validate_certificates(raw.certificates, path, &mut out, invalid, now)?;
    validate_groups(&raw.accounts.groups, name, &mut out, invalid)?;
    validate_users(&raw.accounts.users, name, &mut out, invalid)?;
    for d in raw.directories {
        out.directories.push(validate_directory(d, invalid)?);
    }
    Ok(out)
}

fn validate_certificates(
    raw: &RawCertificates,
    spec_path: &Path,
    out: &mut InHouse,
    invalid: Invalid,
    now: i64,
) -> Result<(), SpecError> {
    for entry in &raw.add {
        let given = entry.get_ref();
        let fail = |m: String| invalid(entry.span(), m);
        let file = spec_path.parent().unwrap_or(Path::new(".")).join(given);
        let stem = cert_stem(given).map_err(&fail)?;
        let bytes = read_certificate_file(&file, &fail).map_err(|source| {
            SpecError::ReadCertificate {
                spec: spec_path.to_path_buf(),
                path: file.clone(),
                source,
            }
        })??;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| fail(format!("certificate file `{given}` is not PEM text")))?;
        let ders = parse_pem(text, now).map_err(|m| fail(format!("`{given}`: {m}")))?;
        let several = ders.len() > 1;
        for (i, der) in ders.into_iter().enumerate() {
            let name = if several {
                format!("{stem}-{}", i + 1)
            } else {
                stem.clone()
            };
            if out.certificates.iter().any(|c| c.name == name) {
                return Err(fail(format!(
                    "certificate file `{given}`: the name `{name}` is already taken by another added certificate (rename the file)"
                )));
            }
            out.certificates.push(Certificate {
                name,
                pem: to_pem(&der),
                der,
                level: out.level,
            });
        }
        out.certificate_files.push(CertificateFile {
            given: given.clone(),
            path: file,
            sha256: crate::oci::sha256_digest(&bytes),
        });
    }
    Ok(())
}

/// The stem of a certificate file's name, the base of its names in the image.
fn cert_stem(given: &str) -> Result<String, String> {
    let base = given.rsplit('/').next().unwrap_or(given);
    let stem = base
        .strip_suffix(".pem")
        .or_else(|| base.strip_suffix(".crt"))
        .unwrap_or(base);
    if stem.is_empty()
        || stem.len() > 100
        || stem.starts_with('.')
        || !stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "certificate file `{}`: its name must be letters, digits, `-`, `_` or `.` (it names the certificate in the image)",
            given.escape_debug()
        ));
    }
    Ok(stem.to_owned())
}

/// Read a certificate file: a regular file (a symlink is not followed), at most
/// `CERTIFICATE_FILE_LIMIT` bytes. The outer error is I/O, the inner one a refusal.
fn read_certificate_file(
    file: &Path,
    fail: &dyn Fn(String) -> SpecError,
) -> Result<Result<Vec<u8>, SpecError>, std::io::Error> {
    use std::io::Read as _;
    let shown = file.display();
    let too_large = || {
        fail(format!(
            "certificate file `{shown}` is larger than {CERTIFICATE_FILE_LIMIT} bytes"
        ))
    };
    let meta = fs_err::symlink_metadata(file)?;
    if !meta.is_file() {
        return Ok(Err(fail(format!(
            "certificate file `{shown}` is not a regular file (symlinks are not followed)"
        ))));
    }
    if meta.len() > CERTIFICATE_FILE_LIMIT {
        return Ok(Err(too_large()));
    }
    let mut bytes = Vec::new();
    fs_err::File::open(file)?
        .take(CERTIFICATE_FILE_LIMIT + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > CERTIFICATE_FILE_LIMIT {
        return Ok(Err(too_large()));
    }
    Ok(Ok(bytes))
}

/// The DER of every certificate of a PEM text, in order. Refused: no certificate, a block
/// that is not a certificate (a private key above all), a block that does not decode, a
/// certificate not valid at `now` (seconds since the epoch).
pub fn parse_pem(text: &str, now: i64) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let label_end = block[11..]
            .find("-----")
            .ok_or("a PEM block has no end of its `BEGIN` line")?;
        let label = &block[11..11 + label_end];
        let end_line = format!("-----END {label}-----");
        let end = block
            .find(&end_line)
            .ok_or_else(|| format!("the `{label}` block has no `END` line"))?;
        let pem = &block[..end + end_line.len()];
        rest = &block[end + end_line.len()..];
        if label.contains("PRIVATE KEY") {
            return Err(format!(
                "holds a private key (`{label}`): a trust anchor is a certificate only; keep the key out of the spec"
            ));
        }
        if label != "CERTIFICATE" {
            return Err(format!("holds a `{label}` block, not a certificate"));
        }
        let (_, der) = x509_cert::der::pem::decode_vec(pem.as_bytes())
            .map_err(|e| format!("a certificate block does not decode: {e}"))?;
        check_certificate(&der, now)?;
        out.push(der);
    }
    if out.is_empty() {
        return Err("holds no certificate (`-----BEGIN CERTIFICATE-----`)".into());
    }
    Ok(out)
}

/// A certificate that parses and is valid at `now`.
fn check_certificate(der: &[u8], now: i64) -> Result<(), String> {
    let cert = x509_cert::Certificate::from_der(der)
        .map_err(|e| format!("a certificate does not parse: {e}"))?;
    // Re-encoding gives the same bytes: no trailing data, DER as the bundle will carry it.
    if cert.to_der().ok().as_deref() != Some(der) {
        return Err("a certificate is not in DER form".into());
    }
    let validity = &cert.tbs_certificate.validity;
    let secs = |t: x509_cert::time::Time| t.to_unix_duration().as_secs() as i64;
    let subject = cert.tbs_certificate.subject.to_string();
    if secs(validity.not_after) < now {
        return Err(format!(
            "the certificate `{subject}` expired at {} (checked against the current time)",
            crate::oci::rfc3339(secs(validity.not_after).max(0) as u64)
        ));
    }
    if secs(validity.not_before) > now {
        return Err(format!(
            "the certificate `{subject}` is not valid before {}",
            crate::oci::rfc3339(secs(validity.not_before).max(0) as u64)
        ));
    }
    Ok(())
}

/// One PEM block, 64 columns, `\n` line ends.
fn to_pem(der: &[u8]) -> String {
    x509_cert::der::pem::encode_string("CERTIFICATE", x509_cert::der::pem::LineEnding::LF, der)
        .expect("a certificate encodes as PEM")
}

/// A POSIX-ish account name: `[a-z_][a-z0-9_-]*`, at most 32 characters.
pub fn valid_account_name(name: &str) -> bool {
    name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
}

fn check_name(name: &str, what: &str) -> Result<(), String> {
    if valid_account_name(name) {
        Ok(())
    } else {
        Err(format!(
            "{what} name `{}` must be `[a-z_][a-z0-9_-]*`, at most 32 characters",
            name.escape_debug()
        ))
    }
}

fn check_id(id: u32, what: &str) -> Result<(), String> {
    if id == u32::MAX {
        Err(format!("{what} {id} is reserved (it means \"no id\")"))
    } else {
        Ok(())
    }
}

/// The first account among `defaults` and `levels` (name, id, whose) with this name or id.
fn clash<'a>(
    name: &str,
    id: u32,
    defaults: &[(&'a str, u32)],
    levels: impl Iterator<Item = (&'a str, u32, &'a str)>,
) -> Option<String> {
    let hit = |n: &str, i: u32| n == name || i == id;
    if let Some((n, i)) = defaults.iter().find(|(n, i)| hit(n, *i)) {
        return Some(format!("`{n}` ({i}) of the defaults"));
    }
    levels
        .into_iter()
        .find(|(n, i, _)| hit(n, *i))
        .map(|(n, i, spec)| format!("`{n}` ({i}) of spec `{spec}`"))
}

fn validate_groups(
    raw: &[Spanned<RawGroup>],
    spec: &str,
    out: &mut InHouse,
    invalid: Invalid,
) -> Result<(), SpecError> {
    for g in raw {
        let fail = |m: String| invalid(g.span(), m);
        let RawGroup { name, gid, members } = g.get_ref();
        check_name(name, "group").map_err(&fail)?;
        check_id(*gid, "gid").map_err(&fail)?;
        for m in members {
            check_name(m, "member").map_err(&fail)?;
        }
        let others = out
            .groups
            .iter()
            .map(|g| (g.name.as_str(), g.gid, g.spec.as_str()));
        if let Some(other) = clash(name, *gid, &DEFAULT_GROUPS, others) {
            return Err(fail(format!(
                "group `{name}` (gid {gid}) clashes with group {other}: names and gids must be unique"
            )));
        }
        out.groups.push(Group {
            name: name.clone(),
            gid: *gid,
            members: members.clone(),
            spec: spec.to_owned(),
        });
    }
    Ok(())
}

fn validate_users(
    raw: &[Spanned<RawUser>],
    spec: &str,
    out: &mut InHouse,
    invalid: Invalid,
) -> Result<(), SpecError> {
    for u in raw {
        let fail = |m: String| invalid(u.span(), m);
        let RawUser {
            name,
            uid,
            gid,
            home,
            shell,
        } = u.get_ref();
        check_name(name, "user").map_err(&fail)?;
        check_id(*uid, "uid").map_err(&fail)?;
        check_id(*gid, "gid").map_err(&fail)?;
        let others = out
            .users
            .iter()
            .map(|u| (u.name.as_str(), u.uid, u.spec.as_str()));
        if let Some(other) = clash(name, *uid, &DEFAULT_USERS, others) {
            return Err(fail(format!(
                "user `{name}` (uid {uid}) clashes with user {other}: names and uids must be unique"
            )));
        }
        let known_gid = DEFAULT_GROUPS.iter().any(|(_, g)| g == gid)
            || out.groups.iter().any(|g| g.gid == *gid);
        if !known_gid {
            return Err(fail(format!(
                "user `{name}`: no group has gid {gid} (add it under `[[accounts.groups]]`)"
            )));
        }
        let home = home
            .as_deref()
            .map(|h| image_path(h).map_err(|m| fail(format!("user `{name}` home: {m}"))))
            .transpose()?;
        let shell = shell.clone().unwrap_or_else(|| "/sbin/nologin".into());
        if !shell.starts_with('/') || shell.contains([':', '\n']) {
            return Err(fail(format!(
                "user `{name}`: shell `{}` must be an absolute path without `:`",
                shell.escape_debug()
            )));
        }
        out.users.push(User {
            name: name.clone(),
            uid: *uid,
            gid: *gid,
            home,
            shell,
            spec: spec.to_owned(),
            level: out.level,
        });
    }
    Ok(())
}

/// An absolute path in the image, normalized; refused: relative, `..`, `.`, empty
/// components, `:` or control characters (the path may go into `/etc/passwd`), the root.
pub fn image_path(path: &str) -> Result<String, String> {
    let shown = path.escape_debug();
    let Some(rel) = path.strip_prefix('/') else {
        return Err(format!("`{shown}` must be an absolute path"));
    };
    let parts: Vec<&str> = rel.trim_end_matches('/').split('/').collect();
    if rel.trim_end_matches('/').is_empty()
        || parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
        || path.contains(|c: char| c == ':' || c.is_control())
        || path.len() > 1024
    {
        return Err(format!(
            "`{shown}` must be a plain absolute path below `/` (no `.`, `..`, `//` or `:`)"
        ));
    }
    Ok(format!("/{}", parts.join("/")))
}

fn validate_directory(
    raw: &Spanned<RawDirectory>,
    invalid: Invalid,
) -> Result<Directory, SpecError> {
    let fail = |m: String| invalid(raw.span(), m);
    let RawDirectory {
        path,
        mode,
        uid,
        gid,
    } = raw.get_ref();
    let path = image_path(path).map_err(|m| fail(format!("directory {m}")))?;
    let mode = match mode {
        None => 0o755,
        Some(m) => parse_mode(m).map_err(&fail)?,
    };
    check_id(*uid, "uid").map_err(&fail)?;
    check_id(*gid, "gid").map_err(&fail)?;
    Ok(Directory {
        path,
        mode,
        uid: *uid,
        gid: *gid,
    })
}

/// A mode as an octal string (`"0750"`, `"750"`, `"1777"`), at most `07777`.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let bad = || {
        format!(
            "mode `{}` must be octal digits like \"0750\"",
            text.escape_debug()
        )
    };
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(bad());
    }
    let mode = u32::from_str_radix(text, 8).map_err(|_| bad())?;
    if mode > 0o7777 { Err(bad()) } else { Ok(mode) }
}

/// Seconds since 1970: what certificates' validity is checked against (never written into
/// the image).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_must_all_be_certificates() {
        let now = 1_800_000_000;
        assert!(
            parse_pem("", now)
                .unwrap_err()
                .contains("holds no certificate")
        );
        let key = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        assert!(
            parse_pem(key, now)
                .unwrap_err()
                .contains("holds a private key")
        );
        let other = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(
            parse_pem(other, now)
                .unwrap_err()
                .contains("`PUBLIC KEY` block")
        );
        let garbled = "-----BEGIN CERTIFICATE-----\nMIIBfixtureA\n-----END CERTIFICATE-----\n";
        assert!(parse_pem(garbled, now).unwrap_err().contains("does not"));
        let open = "-----BEGIN CERTIFICATE-----\nAAAA\n";
        assert!(parse_pem(open, now).unwrap_err().contains("no `END` line"));
    }

    #[test]
    fn names_modes_and_paths() {
        for ok in ["app", "_x", "a-b_9"] {
            assert!(valid_account_name(ok), "{ok}");
        }
        for bad in ["", "App", "9a", "a:b", "a b", &"a".repeat(33)] {
            assert!(!valid_account_name(bad), "{bad}");
        }
        assert_eq!(parse_mode("0750"), Ok(0o750));
        assert_eq!(parse_mode("1777"), Ok(0o1777));
        for bad in ["", "8", "0x1", "77777", "-1"] {
            assert!(parse_mode(bad).is_err(), "{bad}");
        }
        assert_eq!(image_path("/var/lib/app/").unwrap(), "/var/lib/app");
        for bad in ["var", "/", "/a/../b", "/a//b", "/a/./b", "/a:b", "/a\nb"] {
            assert!(image_path(bad).is_err(), "{bad}");
        }
        assert_eq!(cert_stem("certs/corp-root.pem").unwrap(), "corp-root");
        assert!(cert_stem("certs/ev il.pem").is_err());
    }
}
