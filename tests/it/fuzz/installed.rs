//! `installed::read` (how `compose diff` reads an image's packages): a layout whose layers
//! hold `status.d` records, a `status` file, a whiteout and an SBOM, with its records, tar
//! headers, compressed bytes and config mutated and every digest made right again, so the
//! mutations reach the layer and record parsers; and the same image as an `oci-archive` whose
//! bytes are mutated. Each read is `Ok` or `Err`, never a panic.

use std::path::Path;

use proptest::prelude::*;

use super::deb::{TarEdit, tar_edit};
use super::{ByteEdit, byte_edit, check, no_panic};
use crate::support::image::{Entry, Layout, OCI_LAYER, archive_of, gzip, tar_of, zstd};

const STATUS_D: &str = "Package: f-libc\nVersion: 1:1.0-2\nArchitecture: amd64\nSource: f-glibc (1.0-2)\nDescription: x\n more\n";
const STATUS: &str = "Package: libc6\nStatus: install ok installed\nVersion: 2.41-12\nArchitecture: amd64\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\nArchitecture: amd64\n";
const SBOM: &str = r#"{"packages":[{"name":"f-libc","versionInfo":"1:1.0-2","packageFileName":"pool/main/f/f-libc/x.deb","checksums":[{"algorithm":"SHA256","checksumValue":"0000000000000000000000000000000000000000000000000000000000000000"}],"attributionTexts":["architecture: amd64"]}]}"#;

#[derive(Debug, Clone)]
enum ImageEdit {
    /// The `status.d` record's text.
    Record(ByteEdit),
    /// The `status` file's text.
    Status(ByteEdit),
    Sbom(ByteEdit),
    /// The upper layer's tar (headers, extensions).
    Tar(TarEdit),
    /// The lower layer's compressed bytes.
    Compressed(ByteEdit),
    /// The config's JSON text.
    Config(ByteEdit),
}

fn image_edit() -> impl Strategy<Value = ImageEdit> {
    prop_oneof![
        2 => byte_edit().prop_map(ImageEdit::Record),
        1 => byte_edit().prop_map(ImageEdit::Status),
        1 => byte_edit().prop_map(ImageEdit::Sbom),
        3 => tar_edit().prop_map(ImageEdit::Tar),
        1 => byte_edit().prop_map(ImageEdit::Compressed),
        1 => byte_edit().prop_map(ImageEdit::Config),
    ]
}

/// The image with `edits` applied, every digest computed from the mutated bytes.
fn write(dir: &Path, edits: &[ImageEdit]) -> Vec<u8> {
    let (mut record, mut status, mut sbom) = (
        STATUS_D.as_bytes().to_vec(),
        STATUS.as_bytes().to_vec(),
        SBOM.as_bytes().to_vec(),
    );
    for e in edits {
        match e {
            ImageEdit::Record(b) => b.apply(&mut record),
            ImageEdit::Status(b) => b.apply(&mut status),
            ImageEdit::Sbom(b) => b.apply(&mut sbom),
            _ => {}
        }
    }
    let lower = tar_of(&[
        Entry::File("var/lib/dpkg/status", &status),
        Entry::File(
            "var/lib/dpkg/status.d/old",
            b"Package: old\nVersion: 1\nArchitecture: all\n",
        ),
    ]);
    let mut upper = tar_of(&[
        Entry::File("var/lib/dpkg/status.d/.wh.old", b""),
        Entry::File("var/lib/dpkg/status.d/f-libc", &record),
        Entry::Symlink("var/lib/dpkg/status.d/link", "f-libc"),
        Entry::File("usr/share/sbom/f.spdx.json", &sbom),
    ]);
    let mut compressed = gzip(&lower);
    for e in edits {
        match e {
            ImageEdit::Tar(t) => t.apply(&mut upper),
            ImageEdit::Compressed(b) => b.apply(&mut compressed),
            _ => {}
        }
    }
    let layout = Layout::new(dir);
    let layers = [
        layout.blob(OCI_LAYER, &compressed),
        layout.blob("application/vnd.oci.image.layer.v1.tar+zstd", &zstd(&upper)),
    ];
    let mut config = br#"{"os":"linux","architecture":"arm64","variant":"v8","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
    for e in edits {
        if let ImageEdit::Config(b) = e {
            b.apply(&mut config);
        }
    }
    let config = layout.blob("application/vnd.oci.image.config.v1+json", &config);
    let manifest = layout.manifest(&config, &layers);
    layout.tag(&[(manifest, Some("latest"))]);
    upper
}

fn options(dir: &Path) -> compose::registry::PushOptions {
    compose::registry::PushOptions {
        creds: None,
        docker_config: None,
        insecure: false,
        chunk_size: 1 << 20,
        jobs: 1,
        known_blobs: dir.join("known"),
    }
}

#[test]
fn images_read_for_their_packages_never_panic() {
    let root = tempfile::tempdir().unwrap();
    let edits = prop::collection::vec(image_edit(), 1..4);
    check(192, edits, |edits| {
        let dir = root.path().join("img");
        let _ = fs_err::remove_dir_all(&dir);
        let upper = write(&dir, &edits);
        no_panic("installed", &upper, || {
            let _ =
                compose::installed::read(&format!("oci:{}", dir.display()), &options(root.path()));
        })
    });
}

#[test]
fn archives_read_for_their_packages_never_panic() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("img");
    write(&dir, &[]);
    let seed = archive_of(&dir, &[]);
    let file = root.path().join("img.tar");
    let text = format!("oci-archive:{}", file.display());
    // The seed itself reads: the records, the SBOM's hash, the whiteout and the link.
    let good =
        compose::installed::read(&text_of(&file, &seed, &text), &options(root.path())).unwrap();
    let names: Vec<&str> = good.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["f-libc", "libc6"]);
    assert_eq!(good.packages[0].platform, "linux/arm64/v8");
    assert_eq!(good.packages[0].source_version, "1.0-2");
    assert_eq!(
        good.packages[0].sha256.as_deref(),
        Some("0".repeat(64).as_str())
    );
    assert_eq!(good.warnings.len(), 1, "{:?}", good.warnings);
    let edits = prop::collection::vec(byte_edit(), 1..4);
    check(192, edits, |edits| {
        let mut bytes = seed.clone();
        for e in &edits {
            e.apply(&mut bytes);
        }
        let text = text_of(&file, &bytes, &text);
        no_panic("installed-archive", &bytes, || {
            let _ = compose::installed::read(&text, &options(root.path()));
        })
    });
}

/// `bytes` written to `file`; `text` names it.
fn text_of(file: &Path, bytes: &[u8], text: &str) -> String {
    fs_err::write(file, bytes).unwrap();
    text.to_owned()
}
