//! Files that maintainer scripts would have made, written natively and deterministically:
//! users and groups, home and temporary directories, merged-/usr symlinks, the CA bundle
//! and the dpkg `status.d` records that vulnerability scanners read.

use std::collections::BTreeMap;

use crate::content::Store;
use crate::deb::Deb;
use crate::rootfs::{RootfsError, jks};
use crate::spec::inhouse::Certificate;
use crate::tree::{Content, Kind, Node, Tree};

pub const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";

/// In distroless's order (its tests compare the whole file): root, nobody, tty, staff, nonroot.
pub const GROUP: &str = "root:x:0:\n\
nobody:x:65534:\n\
tty:x:5:\n\
staff:x:50:\n\
nonroot:x:65532:\n";

pub const NSSWITCH: &str = "passwd:         compat\n\
group:          compat\n\
shadow:         compat\n\
\n\
hosts:          files dns\n\
networks:       files\n\
\n\
protocols:      db files\n\
services:       db files\n\
ethers:         db files\n\
rpc:            db files\n";

/// The architectures whose dynamic loader (the ELF interpreter the kernel opens) is under
/// `/lib64`: amd64 (`ld-linux-x86-64.so.2`) and ppc64el (`ld64.so.2`). Their images get
/// the `/lib64 -> usr/lib64` symlink; arm64, armhf, riscv64 and s390x (`/lib/ld64.so.1`)
/// find theirs under `/lib`, and get none (debootstrap also makes `lib32`/`libx32` where
/// multilib packages need them; no distroless package does).
pub const LOADER_IN_LIB64: [&str; 2] = ["amd64", "ppc64el"];

/// The entries of the bottom layer of every image: accounts, standard directories and
/// the merged-/usr symlinks. Generated entries replace package entries at the same path.
pub fn base_files(tree: &mut Tree, debian_arch: &str, mtime: u64) {
    for dir in [
        "usr", "usr/bin", "usr/sbin", "usr/lib", "etc", "var", "var/lib",
    ] {
        tree.entry(dir.to_owned())
            .or_insert_with(|| Node::dir(0o755, 0, 0, mtime));
    }
    let mut put = |path: &str, node: Node| {
        tree.insert(path.to_owned(), node);
    };
    for dir in ["bin", "sbin", "lib"] {
        put(dir, Node::symlink(&format!("usr/{dir}"), mtime));
    }
    if LOADER_IN_LIB64.contains(&debian_arch) {
        put("lib64", Node::symlink("usr/lib64", mtime));
    }
    put(
        "etc/passwd",
        Node::file(PASSWD.as_bytes(), 0o644, mtime, None),
    );
    put(
        "etc/group",
        Node::file(GROUP.as_bytes(), 0o644, mtime, None),
    );
    put(
        "etc/nsswitch.conf",
        Node::file(NSSWITCH.as_bytes(), 0o644, mtime, None),
    );
    put("root", Node::dir(0o700, 0, 0, mtime));
    put("home", Node::dir(0o755, 0, 0, mtime));
    put("home/nonroot", Node::dir(0o700, 65532, 65532, mtime));
    put("tmp", Node::dir(0o1777, 0, 0, mtime));
    put("var/lib/dpkg", Node::dir(0o755, 0, 0, mtime));
    put("var/lib/dpkg/status.d", Node::dir(0o755, 0, 0, mtime));
}

/// `package` as a file name: a Debian package name, checked here where it becomes a path.
fn file_name(package: &str) -> Result<&str, RootfsError> {
    if crate::package::valid_name(package) {
        Ok(package)
    } else {
        Err(RootfsError::PackageName(package.escape_debug().to_string()))
    }
}

/// `/var/lib/dpkg/status.d/<package>` (the control stanza) and `<package>.md5sums`.
pub fn status_d(tree: &mut Tree, package: &str, deb: &Deb, mtime: u64) -> Result<(), RootfsError> {
    let package = file_name(package)?;
    let mut control = deb.control.trim_end().to_owned();
    control.push('\n');
    tree.insert(
        format!("var/lib/dpkg/status.d/{package}"),
        Node::file(control.into_bytes(), 0o644, mtime, Some(package)),
    );
    if let Some(md5) = &deb.md5sums {
        tree.insert(
            format!("var/lib/dpkg/status.d/{package}.md5sums"),
            Node::file(md5.as_bytes(), 0o644, mtime, Some(package)),
        );
    }
    Ok(())
}

/// Where the CA bundle goes (relative to the root).
pub const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// Largest certificate file read into the CA bundle or the Java trust store.
pub const CERTIFICATE_LIMIT: u64 = 1 << 20;
/// Largest os-release file read from base-files.
pub const OS_RELEASE_LIMIT: u64 = 1 << 20;

fn certificates(deb: &Deb) -> impl Iterator<Item = (&str, &Content)> {
    deb.entries.iter().filter_map(|e| match &e.kind {
        Kind::File(data)
            if e.path.starts_with("usr/share/ca-certificates/") && e.path.ends_with(".crt") =>
        {
            Some((e.path.as_str(), data))
        }
        _ => None,
    })
}

/// Read `content` (at `path`) from the store, at most `limit` bytes.
pub(super) fn read(
    store: &Store,
    path: &str,
    content: &Content,
    limit: u64,
) -> Result<Vec<u8>, RootfsError> {
    store
        .read(content, path, limit)
        .map_err(|source| RootfsError::Content {
            path: path.to_owned(),
            source,
        })
}

/// The certificate files of `deb`, in path order, with their contents.
fn certificate_files<'d>(
    deb: &'d Deb,
    store: &Store,
) -> Result<Vec<(&'d str, Vec<u8>)>, RootfsError> {
    let mut files: Vec<(&str, &Content)> = certificates(deb).collect();
    files.sort_by(|a, b| a.0.cmp(b.0));
    files
        .into_iter()
        .map(|(path, c)| Ok((path, read(store, path, c, CERTIFICATE_LIMIT)?)))
        .collect()
}

/// Whether a package ships certificates for the CA bundle (`ca-certificates` does).
pub fn ships_certificates(deb: &Deb) -> bool {
    certificates(deb).next().is_some()
}

/// `/etc/ssl/certs/ca-certificates.crt`: every certificate that `ca-certificates` ships
/// under `/usr/share/ca-certificates`, in path order, as `update-ca-certificates` does, then
/// the spec's `added` certificates (in their order). `package` is the one that ships them,
/// if the image has one. Returns the number of certificates.
pub fn ca_bundle(
    tree: &mut Tree,
    package: Option<(&str, &Deb)>,
    added: &[Certificate],
    store: &Store,
    mtime: u64,
) -> Result<usize, RootfsError> {
    let certs = match package {
        Some((_, deb)) => certificate_files(deb, store)?,
        None => Vec::new(),
    };
    let mut bundle = Vec::new();
    for (_, pem) in &certs {
        bundle.extend_from_slice(pem);
        if !pem.ends_with(b"\n") {
            bundle.push(b'\n');
        }
    }
    for c in added {
        bundle.extend_from_slice(c.pem.as_bytes());
    }
    for dir in ["etc/ssl", "etc/ssl/certs"] {
        tree.entry(dir.to_owned())
            .or_insert_with(|| Node::dir(0o755, 0, 0, mtime));
    }
    tree.insert(
        CA_BUNDLE.into(),
        Node::file(bundle, 0o644, mtime, package.map(|p| p.0)),
    );
    Ok(certs.len() + added.len())
}

/// Where the Java trust store goes.
pub const JAVA_CACERTS: &str = "etc/ssl/certs/java/cacerts";

/// `/usr/lib/os-release` as distroless writes it: `PRETTY_NAME="Distroless"`, then `NAME`,
/// `ID`, `VERSION_ID` and `VERSION="Debian GNU/Linux 13 (trixie)"`, every value quoted. The
/// release comes from base-files' own file (`VERSION_ID`, `VERSION_CODENAME`), so an image
/// says what it carries; the URLs are base-files' (Debian's), not distroless's. base-files'
/// `/etc/os-release` symlink to it stays. Returns whether base-files' file was found.
pub fn os_release(tree: &mut Tree, store: &Store) -> Result<bool, RootfsError> {
    let path = "usr/lib/os-release";
    let Some(node) = tree.get_mut(path) else {
        return Ok(false);
    };
    let Kind::File(data) = &node.kind else {
        return Ok(false);
    };
    let data = read(store, path, data, OS_RELEASE_LIMIT)?;
    node.kind = Kind::File(Content::inline(
        distroless_os_release(&String::from_utf8_lossy(&data)).into_bytes(),
    ));
    Ok(true)
}

/// The distroless form of an os-release file (see `os_release`).
pub fn distroless_os_release(debian: &str) -> String {
    let fields: BTreeMap<&str, &str> = debian
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let unquoted = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim(), unquoted)
        })
        .collect();
    let name = fields.get("NAME").copied().unwrap_or("Debian GNU/Linux");
    let mut out = vec![
        ("PRETTY_NAME", "Distroless".to_owned()),
        ("NAME", name.to_owned()),
        (
            "ID",
            fields.get("ID").copied().unwrap_or("debian").to_owned(),
        ),
    ];
    if let Some(id) = fields.get("VERSION_ID") {
        out.push(("VERSION_ID", (*id).to_owned()));
        let version = match fields.get("VERSION_CODENAME") {
            Some(codename) => format!("{name} {id} ({codename})"),
            None => format!("{name} {id}"),
        };
        out.push(("VERSION", version));
    }
    for key in ["HOME_URL", "SUPPORT_URL", "BUG_REPORT_URL"] {
        if let Some(v) = fields.get(key) {
            out.push((key, (*v).to_owned()));
        }
    }
    out.iter()
        .map(|(k, v)| format!("{k}=\"{}\"\n", v.replace(['"', '\\', '`', '$'], "")))
        .collect()
}

/// `/etc/ssl/certs/java/cacerts`: a JKS keystore (password `changeit`) with every certificate
/// that `ca-certificates` ships, aliased like Debian's `ca-certificates-java` does, then the
/// spec's `added` certificates (alias `compose:NAME`). `package` ships Debian's, if the
/// image has one. Returns the number of certificates.
pub fn java_cacerts(
    tree: &mut Tree,
    package: Option<(&str, &Deb)>,
    added: &[Certificate],
    store: &Store,
    mtime: u64,
) -> Result<usize, RootfsError> {
    let files = match package {
        Some((_, deb)) => certificate_files(deb, store)?,
        None => Vec::new(),
    };
    let mut certs = Vec::new();
    for (path, pem) in files {
        let stem = path
            .rsplit('/')
            .next()
            .unwrap_or(path)
            .trim_end_matches(".crt");
        let alias = format!("debian:{}.pem", stem.to_lowercase());
        certs.extend(jks::pem_certificates(
            &String::from_utf8_lossy(&pem),
            &alias,
        ));
    }
    certs.extend(added.iter().map(|c| jks::Cert {
        alias: format!("compose:{}", c.name),
        der: c.der.clone(),
    }));
    for dir in ["etc/ssl", "etc/ssl/certs", "etc/ssl/certs/java"] {
        tree.entry(dir.to_owned())
            .or_insert_with(|| Node::dir(0o755, 0, 0, mtime));
    }
    tree.insert(
        JAVA_CACERTS.into(),
        Node::file(
            jks::keystore(&certs, mtime),
            0o644,
            mtime,
            package.map(|p| p.0),
        ),
    );
    Ok(certs.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deb::Entry;

    #[test]
    fn accounts_and_directories_match_distroless() {
        let mut t = Tree::new();
        base_files(&mut t, "amd64", 7);
        assert!(PASSWD.contains("nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin"));
        let home = &t["home/nonroot"];
        assert_eq!((home.uid, home.gid, home.mode), (65532, 65532, 0o700));
        assert_eq!(t["tmp"].mode, 0o1777);
        assert_eq!(t["root"].mode, 0o700);
        assert_eq!(t["lib64"].kind, Kind::Symlink("usr/lib64".into()));
        assert!(t.values().all(|n| n.mtime == 7));
        let mut arm = Tree::new();
        base_files(&mut arm, "arm64", 7);
        assert!(!arm.contains_key("lib64"));
        // The loader's directory decides: /lib64 on ppc64el, /lib on s390x (`ld64.so.1`).
        for (arch, lib64) in [
            ("armhf", false),
            ("ppc64el", true),
            ("riscv64", false),
            ("s390x", false),
        ] {
            let mut t = Tree::new();
            base_files(&mut t, arch, 7);
            assert_eq!(t.contains_key("lib64"), lib64, "{arch}");
        }
    }

    #[test]
    fn group_lists_accounts_in_distroless_order() {
        let names: Vec<&str> = GROUP
            .lines()
            .map(|l| l.split(':').next().unwrap())
            .collect();
        assert_eq!(names, ["root", "nobody", "tty", "staff", "nonroot"]);
        assert!(GROUP.ends_with("nonroot:x:65532:\n"));
        let mut t = Tree::new();
        base_files(&mut t, "amd64", 0);
        assert_eq!(t["etc/group"].kind, Kind::File(GROUP.as_bytes().into()));
    }

    /// Base-files' file as bookworm ships it (URLs replaced).
    const BOOKWORM_OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"
NAME=\"Debian GNU/Linux\"
VERSION_ID=\"12\"
VERSION=\"12 (bookworm)\"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL=\"https://www.example.org/\"
SUPPORT_URL=\"https://www.example.org/support\"
BUG_REPORT_URL=\"https://bugs.example.org/\"
";

    #[test]
    fn os_release_is_distroless_with_the_release_base_files_carries() {
        let mut t = Tree::new();
        let store = crate::content::tests::store();
        assert!(!os_release(&mut t, &store).unwrap());
        t.insert(
            "usr/lib/os-release".into(),
            Node::file(BOOKWORM_OS_RELEASE.as_bytes(), 0o644, 5, Some("base-files")),
        );
        assert!(os_release(&mut t, &store).unwrap());
        let Kind::File(data) = &t["usr/lib/os-release"].kind else {
            panic!("not a file")
        };
        assert_eq!(
            std::str::from_utf8(data.inline.as_deref().unwrap()).unwrap(),
            "PRETTY_NAME=\"Distroless\"
NAME=\"Debian GNU/Linux\"
ID=\"debian\"
VERSION_ID=\"12\"
VERSION=\"Debian GNU/Linux 12 (bookworm)\"
HOME_URL=\"https://www.example.org/\"
SUPPORT_URL=\"https://www.example.org/support\"
BUG_REPORT_URL=\"https://bugs.example.org/\"
"
        );
        // The package's metadata stays; the release follows the file, not a table.
        assert_eq!(
            (t["usr/lib/os-release"].mode, t["usr/lib/os-release"].mtime),
            (0o644, 5)
        );
        let trixie = BOOKWORM_OS_RELEASE
            .replace("12", "13")
            .replace("bookworm", "trixie");
        assert!(
            distroless_os_release(&trixie)
                .contains("\nVERSION_ID=\"13\"\nVERSION=\"Debian GNU/Linux 13 (trixie)\"\n")
        );
        let bullseye =
            "NAME='Debian GNU/Linux'\nVERSION_ID=11\nVERSION_CODENAME=bullseye\nID=debian\n";
        assert!(
            distroless_os_release(bullseye)
                .contains("VERSION=\"Debian GNU/Linux 11 (bullseye)\"\n")
        );
        // A release without a number (testing, sid) gets no VERSION rather than a wrong one.
        let sid = distroless_os_release("NAME=\"Debian GNU/Linux\"\nID=debian\n");
        assert_eq!(
            sid,
            "PRETTY_NAME=\"Distroless\"\nNAME=\"Debian GNU/Linux\"\nID=\"debian\"\n"
        );
    }

    #[test]
    fn ca_bundle_concatenates_in_path_order() {
        let cert = |p: &str, body: &str| Entry {
            path: p.into(),
            kind: Kind::File(body.as_bytes().into()),
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
        };
        let deb = Deb {
            control: "Package: ca-certificates\n".into(),
            md5sums: None,
            entries: vec![
                cert("usr/share/ca-certificates/m/b.crt", "B\n"),
                cert("usr/share/ca-certificates/m/a.crt", "A"),
                cert("usr/share/doc/ca-certificates/README", "no"),
            ],
        };
        let mut t = Tree::new();
        let store = crate::content::tests::store();
        assert_eq!(
            ca_bundle(&mut t, Some(("ca-certificates", &deb)), &[], &store, 0).unwrap(),
            2
        );
        assert_eq!(
            t["etc/ssl/certs/ca-certificates.crt"].kind,
            Kind::File(b"A\nB\n"[..].into())
        );
        status_d(&mut t, "ca-certificates", &deb, 0).unwrap();
        assert_eq!(
            t["var/lib/dpkg/status.d/ca-certificates"].kind,
            Kind::File(b"Package: ca-certificates\n"[..].into())
        );
    }

    #[test]
    fn package_names_are_checked_where_they_become_paths() {
        let deb = Deb {
            control: String::new(),
            md5sums: Some(String::new()),
            entries: vec![],
        };
        let mut t = Tree::new();
        let evil = format!("{}/../../../etc/passwd", "a".repeat(100));
        let e = status_d(&mut t, &evil, &deb, 0).unwrap_err();
        assert!(
            e.to_string().starts_with("invalid package name `aaaa"),
            "{e}"
        );
        assert!(t.is_empty());
    }
}
