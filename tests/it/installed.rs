//! Which Debian packages an existing image holds (`compose::installed::read`, what
//! `compose diff` reads images with): images compose built from the fixture, as a layout,
//! both archives, an index of two platforms, pulled from a static registry and from a real
//! one, each compared with its lock (version and `.deb` SHA256 per platform); hand-made
//! images for Debian's own `status` file, whiteouts and `docker save`'s older layout; and
//! hostile layouts and archives, each refused in one line, in bounded time and memory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use compose::installed::{self, ImagePackages, InstalledError};
use compose::registry::PushOptions;
use serde_json::{Value, json};

use crate::fixture::Env;
use crate::support::image::{
    Entry, Layout, OCI_INDEX, OCI_LAYER, archive_of, docker_save, gzip, header, registry_tree,
    tar_of, zstd,
};
use crate::support::server::Server;

/// How a pull logs in: nobody's Docker config, no credentials (the test registries are open).
fn pull_options(dir: &Path) -> PushOptions {
    PushOptions {
        creds: None,
        docker_config: Some(dir.join("no-docker-config.json")),
        insecure: false,
        chunk_size: 1 << 20,
        jobs: 2,
        known_blobs: dir.join("known-blobs.json"),
    }
}

fn read(text: &str) -> Result<ImagePackages, InstalledError> {
    let scratch = tempfile::tempdir().unwrap();
    installed::read(text, &pull_options(scratch.path()))
}

/// The refusal of `text`, as one line that says `needle`.
fn refused(text: &str, needle: &str) -> InstalledError {
    let e = anyhow::Error::new(read(text).expect_err(text));
    let rendered = compose::error::render(&e);
    let first = rendered.lines().next().unwrap();
    assert!(first.contains(needle), "{text}: {first}");
    e.downcast().unwrap()
}

/// Platform, name, version, architecture, `.deb` SHA256 and pool path.
type Row = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

/// The packages the lock gives the image's layers (not the debug variant's).
fn lock_rows(lock: &Path, layers: &[&str]) -> BTreeSet<Row> {
    let lock = compose::lock::Lock::read(lock).unwrap();
    lock.packages
        .iter()
        .filter(|p| layers.contains(&p.layer.as_str()))
        .map(|p| {
            (
                p.platform.clone(),
                p.name.clone(),
                p.version.clone(),
                p.architecture.clone(),
                Some(p.sha256.clone()),
                Some(p.filename.clone()),
            )
        })
        .collect()
}

fn rows(image: &ImagePackages) -> BTreeSet<Row> {
    image
        .packages
        .iter()
        .map(|p| {
            (
                p.platform.clone(),
                p.name.clone(),
                p.version.clone(),
                p.architecture.clone(),
                p.sha256.clone(),
                p.filename.clone(),
            )
        })
        .collect()
}

const LEVELS: &[&str] = &["fbase", "ftop"];

/// `fbase` (base files and libc, on `platforms`) and `ftop` on it (the tool): two layers,
/// each with its SBOM. Locked; the top spec's path.
fn two_levels(env: &Env, platforms: &str) -> PathBuf {
    env.spec_top(
        "fbase",
        platforms,
        "[packages]\ninclude = [\"f-base-files\", \"f-libc\"]\n",
    );
    let top = env.path("ftop.toml");
    fs_err::write(
        &top,
        "name = \"ftop\"\nextends = \"fbase\"\n[packages]\ninclude = [\"f-tool\"]\n",
    )
    .unwrap();
    env.lock(&top, &[]).success("the lock");
    top
}

/// An image and its packages agree with the lock it was built from, with no warning.
fn assert_matches_lock(image: &ImagePackages, lock: &BTreeSet<Row>, text: &str) {
    assert_eq!(rows(image), *lock, "{text}");
    assert!(image.warnings.is_empty(), "{text}: {:?}", image.warnings);
    for p in &image.packages {
        // The fixture's packages name no source: each is its own.
        assert_eq!((&p.source, &p.source_version), (&p.name, &p.version));
    }
}

#[test]
fn a_layout_and_both_archives_hold_exactly_the_locked_packages() {
    let env = Env::new();
    let top = two_levels(&env, "");
    let layout = format!("oci:{}:v1", env.path("layout").display());
    let oci_archive = format!("oci-archive:{}:v1", env.path("img.oci.tar").display());
    let docker = format!("docker-archive:{}", env.path("img.docker.tar").display());
    let outputs = vec![
        layout.clone(),
        oci_archive.clone(),
        format!("{docker}:compose-fixture/ftop:v1"),
    ];
    let report = env.build_to(&top, &outputs, &["--locked", "--json"]).json();
    let digest = report["digest"].as_str().unwrap().to_owned();
    let lock = lock_rows(&env.path("ftop.lock"), LEVELS);
    let names: BTreeSet<&str> = lock.iter().map(|r| r.1.as_str()).collect();
    assert!(
        names.contains("f-tool") && names.contains("f-libc"),
        "{names:?}"
    );
    let untagged = format!("oci:{}", env.path("layout").display());
    for (text, top_digest) in [
        (layout.as_str(), Some(&digest)),
        (untagged.as_str(), Some(&digest)),
        (oci_archive.as_str(), Some(&digest)),
        (docker.as_str(), None),
        (outputs[2].as_str(), None),
    ] {
        let image = read(text).unwrap();
        assert_matches_lock(&image, &lock, text);
        assert_eq!(image.digest.as_ref(), top_digest, "{text}");
        assert_eq!(image.reference, text);
    }
    let e = refused(
        &format!("oci:{}:v2", env.path("layout").display()),
        "has no image tagged `v2` (its tags: \"v1\")",
    );
    assert!(
        compose::error::Hint::hint(&e)
            .unwrap()
            .contains("oci:DIR:TAG")
    );
    refused(
        &format!("{docker}:someone/else:v1"),
        "has no image tagged `someone/else:v1`",
    );
}

/// Two platforms: every platform's packages (`linux/arm64/v8` as the lock names it), from
/// the index in a layout, an archive, and a pull from a static registry serving the layout.
#[test]
fn every_platform_of_an_index_is_read_from_a_layout_an_archive_and_a_pull() {
    let env = Env::new();
    let top = two_levels(&env, "platforms = [\"linux/amd64\", \"linux/arm64\"]\n");
    let layout = format!("oci:{}:v1", env.path("layout").display());
    let archive = format!("oci-archive:{}:v1", env.path("img.oci.tar").display());
    let report = env
        .build_to(
            &top,
            &[layout.clone(), archive.clone()],
            &["--locked", "--json"],
        )
        .json();
    let digest = report["digest"].as_str().unwrap().to_owned();
    let lock = lock_rows(&env.path("ftop.lock"), LEVELS);
    let platforms: BTreeSet<&str> = lock.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(platforms, BTreeSet::from(["linux/amd64", "linux/arm64/v8"]));
    for text in [&layout, &archive] {
        assert_matches_lock(&read(text).unwrap(), &lock, text);
    }
    let served = tempfile::tempdir().unwrap();
    let index = compose::oci::reader::LayoutReader::new(&env.path("layout"))
        .tagged("v1")
        .unwrap()
        .unwrap();
    let top_desc = json!({"digest": index.digest().to_string()});
    registry_tree(
        &env.path("layout"),
        served.path(),
        "fixture/ftop",
        "v1",
        &top_desc,
    );
    let server = Server::start(served.path());
    let host = server.url().trim_start_matches("http://").to_owned();
    let pulled_text = format!("docker://{host}/fixture/ftop:v1");
    let pulled = read(&pulled_text).unwrap();
    assert_matches_lock(&pulled, &lock, &pulled_text);
    assert_eq!(pulled.digest.as_deref(), Some(digest.as_str()));
    refused(
        &format!("docker://{host}/fixture/ftop:v2"),
        "has no manifest `v2`",
    );
}

/// A push to a real registry (Debian's `docker-registry`) read back as `verify --image`
/// pulls: the same packages as the lock.
#[test]
#[ignore = "needs docker-registry"]
fn an_image_pushed_to_a_registry_is_read_back() {
    let registry = crate::support::registry::Registry::start(None);
    let env = Env::new();
    let top = two_levels(&env, "platforms = [\"linux/amd64\", \"linux/arm64\"]\n");
    let dest = format!("docker://{}/fixture/ftop:v1", registry.addr());
    let report = env
        .build_to(&top, std::slice::from_ref(&dest), &["--locked", "--json"])
        .json();
    let image = read(&dest).unwrap();
    assert_matches_lock(&image, &lock_rows(&env.path("ftop.lock"), LEVELS), &dest);
    assert_eq!(image.digest.as_deref(), report["digest"].as_str());
}

fn status_paragraph(name: &str, version: &str, arch: &str, extra: &str) -> String {
    format!("Package: {name}\nVersion: {version}\nArchitecture: {arch}\n{extra}")
}

/// A Debian image: `status` with installed and removed packages, then layers (zstd, plain
/// tar) that add `status.d` records, white one out and add an SBOM; invalid records are
/// named and skipped.
#[test]
fn a_debian_image_s_status_layers_and_whiteouts_give_what_its_top_holds() {
    let work = tempfile::tempdir().unwrap();
    let layout = Layout::new(&work.path().join("img"));
    let status = [
        status_paragraph(
            "libc6",
            "2.41-12",
            "amd64",
            "Status: install ok installed\nSource: glibc\n",
        ),
        status_paragraph(
            "oldlib",
            "1.0-1",
            "amd64",
            "Status: deinstall ok config-files\n",
        ),
        status_paragraph(
            "tzdata",
            "2025b-0+deb13u1",
            "all",
            "Status: install ok installed\nSource: tzdata (2025b-0+deb13u1)\n",
        ),
        status_paragraph(
            "libssl3t64",
            "3.5.9-1~deb13u1",
            "amd64",
            "Status: install ok installed\nSource: openssl (3.5.9-1~deb13u1)\n",
        ),
    ]
    .join("\n");
    let base = tar_of(&[
        Entry::Dir("var/lib/dpkg/"),
        Entry::File("var/lib/dpkg/status", status.as_bytes()),
        Entry::File(
            "var/lib/dpkg/status.d/busybox",
            status_paragraph("busybox", "1:1.37.0-6", "amd64", "").as_bytes(),
        ),
        Entry::File("var/lib/dpkg/status.d/busybox.md5sums", b"0 bin/busybox\n"),
    ]);
    let curl = status_paragraph("curl", "8.14.1-2", "amd64", "");
    let bad = status_paragraph("Bad_Name", "1", "amd64", "");
    let middle = tar_of(&[
        Entry::File("var/lib/dpkg/status.d/.wh.busybox", b""),
        Entry::File("var/lib/dpkg/status.d/curl", curl.as_bytes()),
        Entry::File("var/lib/dpkg/status.d/bad", bad.as_bytes()),
        Entry::Symlink("var/lib/dpkg/status.d/link", "curl"),
    ]);
    let sha = "12".repeat(32);
    let sbom = json!({"packages": [{
        "name": "curl", "versionInfo": "8.14.1-2", "packageFileName": "pool/main/c/curl/curl_8.14.1-2_amd64.deb",
        "checksums": [{"algorithm": "SHA256", "checksumValue": sha}], "attributionTexts": ["architecture: amd64"]
    }]});
    let sbom = serde_json::to_vec(&sbom).unwrap();
    let top = tar_of(&[Entry::File("./usr/share/sbom/img.spdx.json", &sbom)]);
    let layers = [
        layout.blob(OCI_LAYER, &gzip(&base)),
        layout.blob(
            "application/vnd.oci.image.layer.v1.tar+zstd",
            &zstd(&middle),
        ),
        layout.blob("application/vnd.oci.image.layer.v1.tar", &top),
    ];
    let config = layout.config("linux/amd64", &[&base, &middle, &top]);
    let manifest = layout.manifest(&config, &layers);
    layout.tag(&[(manifest, Some("latest"))]);
    let image = read(&format!("oci:{}", layout.dir.display())).unwrap();
    let got: Vec<String> = image
        .packages
        .iter()
        .map(|p| {
            format!(
                "{} {} {} {} {} {} {}",
                p.platform,
                p.name,
                p.version,
                p.architecture,
                p.source,
                p.source_version,
                p.sha256.as_deref().unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            format!("linux/amd64 curl 8.14.1-2 amd64 curl 8.14.1-2 {sha}"),
            "linux/amd64 libc6 2.41-12 amd64 glibc 2.41-12 -".to_owned(),
            "linux/amd64 libssl3t64 3.5.9-1~deb13u1 amd64 openssl 3.5.9-1~deb13u1 -".to_owned(),
            "linux/amd64 tzdata 2025b-0+deb13u1 all tzdata 2025b-0+deb13u1 -".to_owned(),
        ]
    );
    let curl = &image.packages[0];
    assert_eq!(
        curl.filename.as_deref(),
        Some("pool/main/c/curl/curl_8.14.1-2_amd64.deb")
    );
    assert_eq!(image.warnings.len(), 2, "{:?}", image.warnings);
    assert!(
        image.warnings[0].contains("status.d/link\" in layer 2")
            && image.warnings[0].contains("is not a regular file: not read"),
        "{:?}",
        image.warnings
    );
    assert!(
        image.warnings[1].contains("status.d/bad")
            && image.warnings[1].contains("invalid `Package` \"Bad_Name\""),
        "{:?}",
        image.warnings
    );
}

/// `docker save` before Docker 25: a config named `<hex>.json`, uncompressed layers checked
/// against its `diff_ids`.
#[test]
fn an_older_docker_save_archive_is_read_and_checked_by_its_diff_ids() {
    let work = tempfile::tempdir().unwrap();
    let record = status_paragraph("curl", "8.14.1-2", "arm64", "");
    let tar = tar_of(&[Entry::File("var/lib/dpkg/status.d/curl", record.as_bytes())]);
    let file = work.path().join("saved.tar");
    fs_err::write(
        &file,
        docker_save("linux/arm64", std::slice::from_ref(&tar), &["x/curl:1"]),
    )
    .unwrap();
    let text = format!("docker-archive:{}", file.display());
    let image = read(&text).unwrap();
    assert_eq!(image.packages.len(), 1);
    assert_eq!(image.packages[0].platform, "linux/arm64/v8");
    assert_eq!(image.digest, None);
    // Another tar under the same name: not the layer the config names.
    let mut other = tar.clone();
    other[600] ^= 1;
    let bytes = docker_save("linux/arm64", &[tar], &["x/curl:1"]);
    let forged = forge_layer(&bytes, "0/layer.tar", &other);
    fs_err::write(&file, forged).unwrap();
    refused(&text, "is not the tar its config names");
}

/// `archive` (a tar) with the entry `name`'s data replaced by `data` (of the same size).
fn forge_layer(archive: &[u8], name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = archive.to_vec();
    let mut pos = 0;
    while pos + 512 <= out.len() {
        let h = tar::Header::from_byte_slice(&out[pos..pos + 512]);
        let size = h.entry_size().unwrap() as usize;
        if h.path_bytes().as_ref() == name.as_bytes() {
            assert_eq!(size, data.len());
            out[pos + 512..pos + 512 + size].copy_from_slice(data);
            return out;
        }
        pos += 512 + size.div_ceil(512) * 512;
    }
    panic!("no {name} in the archive");
}

/// A one-platform layout of one gzipped layer holding `entries`, tagged `latest`; its
/// manifest's descriptor.
fn simple_layout(dir: &Path, entries: &[Entry]) -> (Layout, Value) {
    let layout = Layout::new(dir);
    let manifest = layout.image("linux/amd64", &[tar_of(entries)]);
    layout.tag(&[(manifest.clone(), Some("latest"))]);
    (layout, manifest)
}

fn curl_entries(record: &str) -> Vec<Entry<'_>> {
    vec![Entry::File("var/lib/dpkg/status.d/curl", record.as_bytes())]
}

#[test]
fn archive_entries_that_climb_out_or_are_links_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let record = status_paragraph("curl", "1", "amd64", "");
    let (layout, manifest) = simple_layout(&work.path().join("img"), &curl_entries(&record));
    let file = work.path().join("img.tar");
    let text = format!("oci-archive:{}", file.display());
    fs_err::write(&file, archive_of(&layout.dir, &[])).unwrap();
    assert_eq!(read(&text).unwrap().packages.len(), 1);
    use tar::EntryType::{Regular, Symlink};
    for (extra, needle) in [
        (
            ("../../etc/passwd", Regular, &b"x"[..], None),
            "climbs out with `..`",
        ),
        (
            ("blobs/../../x", Regular, &b"x"[..], None),
            "climbs out with `..`",
        ),
        (
            ("/etc/passwd", Regular, &b"x"[..], None),
            "is an absolute path",
        ),
        (("index.json", Regular, &b"{}"[..], None), "appears twice"),
    ] {
        fs_err::write(&file, archive_of(&layout.dir, &[extra])).unwrap();
        refused(&text, needle);
    }
    // The manifest's blob as a symlink entry, pointing at a copy of its bytes.
    let digest = manifest["digest"].as_str().unwrap();
    let blob = layout.blob_path(digest);
    let bytes = fs_err::read(&blob).unwrap();
    fs_err::remove_file(&blob).unwrap();
    fs_err::write(layout.dir.join("copy"), &bytes).unwrap();
    let name = format!("blobs/sha256/{}", &digest[7..]);
    let link = ((name.as_str(), Symlink, &b""[..], Some("../../copy")),);
    fs_err::write(&file, archive_of(&layout.dir, &[link.0])).unwrap();
    refused(
        &text,
        "is a link or special file, which compose does not follow",
    );
}

#[test]
fn a_symlinked_blob_in_a_layout_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let record = status_paragraph("curl", "1", "amd64", "");
    let (layout, manifest) = simple_layout(&work.path().join("img"), &curl_entries(&record));
    let text = format!("oci:{}", layout.dir.display());
    assert_eq!(read(&text).unwrap().packages.len(), 1);
    let digest = manifest["digest"].as_str().unwrap();
    let blob = layout.blob_path(digest);
    let elsewhere = work.path().join("elsewhere");
    fs_err::rename(&blob, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &blob).unwrap();
    refused(&text, "is a symbolic link, which compose does not follow");
}

/// A layer (or config) whose bytes are not its digest is refused, in a layout and an
/// archive; so is a config whose bytes changed.
#[test]
fn a_layer_or_config_that_is_not_its_digest_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let record = status_paragraph("curl", "1", "amd64", "");
    let (layout, manifest) = simple_layout(&work.path().join("img"), &curl_entries(&record));
    let m: Value = serde_json::from_slice(
        &fs_err::read(layout.blob_path(manifest["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let layer = layout.blob_path(m["layers"][0]["digest"].as_str().unwrap());
    let good = fs_err::read(&layer).unwrap();
    // A byte of the compressed stream changed: the same size, other bytes.
    let mut forged = good.clone();
    forged[good.len() / 2] ^= 0x55;
    fs_err::write(&layer, &forged).unwrap();
    let text = format!("oci:{}", layout.dir.display());
    refused(&text, "is not the bytes of its digest");
    let file = work.path().join("img.tar");
    fs_err::write(&file, archive_of(&layout.dir, &[])).unwrap();
    refused(
        &format!("oci-archive:{}", file.display()),
        "is not the bytes of its digest",
    );
    fs_err::write(&layer, &good).unwrap();
    assert_eq!(read(&text).unwrap().packages[0].version, "1");
    let config = layout.blob_path(m["config"]["digest"].as_str().unwrap());
    let mut bytes = fs_err::read(&config).unwrap();
    let at = bytes.iter().position(|b| *b == b'4').unwrap(); // amd64 -> amd65
    bytes[at + 1] = b'5';
    fs_err::write(&config, &bytes).unwrap();
    refused(&text, "is not the bytes of its digest");
}

/// A layer whose `status.d` record (or `status`) is 100 MB: refused by its header, at once.
#[test]
fn a_status_file_of_100_mb_is_refused_at_once() {
    for (path, limit) in [
        ("var/lib/dpkg/status.d/huge", "1024 KiB"),
        ("var/lib/dpkg/status", "65536 KiB"),
    ] {
        let work = tempfile::tempdir().unwrap();
        let huge = vec![b'a'; 100 << 20];
        let (layout, _) = simple_layout(&work.path().join("img"), &[Entry::File(path, &huge)]);
        drop(huge);
        let start = Instant::now();
        refused(
            &format!("oci:{}", layout.dir.display()),
            &format!("larger than {limit}, which compose does not read"),
        );
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
    }
}

/// A layout whose one layer has a million and one empty entries (a few hundred KiB
/// compressed), its path.
fn million_entries_layout(dir: &Path) -> PathBuf {
    let layout = Layout::new(dir);
    let one = header("a", tar::EntryType::Regular, 0, None);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut block = Vec::with_capacity(512 * 1024);
    for _ in 0..1024 {
        block.extend_from_slice(&one);
    }
    // 977 blocks of 1024 entries, and 1001 more: 1,000,049 entries.
    for _ in 0..977 {
        std::io::Write::write_all(&mut e, &block).unwrap();
    }
    std::io::Write::write_all(&mut e, &block[..1001 * 512]).unwrap();
    std::io::Write::write_all(&mut e, &[0; 1024]).unwrap();
    let stored = e.finish().unwrap();
    let layer = layout.blob(OCI_LAYER, &stored);
    let config = layout.blob(
        "application/vnd.oci.image.config.v1+json",
        br#"{"os":"linux","architecture":"amd64"}"#,
    );
    let manifest = layout.manifest(&config, &[layer]);
    layout.tag(&[(manifest, Some("latest"))]);
    layout.dir
}

#[test]
fn a_layer_of_a_million_entries_stops_in_bounded_time() {
    let work = tempfile::tempdir().unwrap();
    let dir = million_entries_layout(&work.path().join("img"));
    let start = Instant::now();
    refused(&format!("oci:{}", dir.display()), "past 1000000 entries");
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
}

/// The same, in a process of its own under `/usr/bin/time`: the peak memory stays small
/// (nothing is kept per entry).
#[test]
#[ignore = "needs /usr/bin/time"]
fn a_layer_of_a_million_entries_stops_in_small_memory() {
    crate::harness::require(&["/usr/bin/time"]);
    let rss = tempfile::NamedTempFile::new().unwrap();
    let out = std::process::Command::new("/usr/bin/time")
        .arg("-o")
        .arg(rss.path())
        .args(["-f", "%M"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "installed::a_layer_of_a_million_entries_stops_in_bounded_time",
            "--exact",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
    let text = fs_err::read_to_string(rss.path()).unwrap();
    let kib: u64 = text.lines().last().unwrap().trim().parse().unwrap();
    assert!(kib < 100 << 10, "peak RSS {kib} KiB");
}

#[test]
fn an_archive_of_too_many_entries_is_refused_at_the_limit() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("many.tar");
    let one = header("x", tar::EntryType::Directory, 0, None);
    let mut bytes = Vec::new();
    for _ in 0..=installed::MAX_ARCHIVE_ENTRIES {
        bytes.extend_from_slice(&one);
    }
    bytes.extend_from_slice(&[0; 1024]);
    fs_err::write(&file, bytes).unwrap();
    let start = Instant::now();
    refused(
        &format!("oci-archive:{}", file.display()),
        &format!("has more than {} entries", installed::MAX_ARCHIVE_ENTRIES),
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

/// An index whose blob names itself cannot have its digest; a chain of indexes deeper than
/// `MAX_DEPTH` is refused, in a layout and in a pull.
#[test]
fn an_index_that_names_itself_or_nests_too_deep_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let record = status_paragraph("curl", "1", "amd64", "");
    let (layout, manifest) = simple_layout(&work.path().join("img"), &curl_entries(&record));
    let text = format!("oci:{}", layout.dir.display());
    // A blob named `sha256:X` listing `sha256:X`: X is what it was meant to hash to.
    let fake = format!("sha256:{}", "5".repeat(64));
    let body = |size: usize| {
        serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_INDEX, "digest": fake, "size": size}]}))
        .unwrap()
    };
    let len = body(0).len();
    let len = body(len).len();
    fs_err::write(layout.blob_path(&fake), body(len)).unwrap();
    layout.tag(&[(
        json!({"mediaType": OCI_INDEX, "digest": fake, "size": len}),
        Some("latest"),
    )]);
    refused(&text, "is not the bytes of its digest");
    // Each index real, around the last: five levels.
    let mut top = manifest;
    for _ in 0..installed::MAX_DEPTH {
        top = layout.index(&[top]);
    }
    layout.tag(&[(top.clone(), Some("latest"))]);
    refused(
        &text,
        &format!("nests indexes deeper than {}", installed::MAX_DEPTH),
    );
    let served = tempfile::tempdir().unwrap();
    registry_tree(&layout.dir, served.path(), "deep", "v1", &top);
    let server = Server::start(served.path());
    let host = server.url().trim_start_matches("http://").to_owned();
    refused(
        &format!("docker://{host}/deep:v1"),
        &format!(
            "nests indexes deeper than {}",
            compose::registry::pull::MAX_NESTING
        ),
    );
}

/// A layout with two images and no `latest` needs a tag; a config that is not an image's
/// is skipped with a warning.
#[test]
fn which_image_of_a_layout_is_read() {
    let work = tempfile::tempdir().unwrap();
    let record = status_paragraph("curl", "1", "amd64", "");
    let (layout, manifest) = simple_layout(&work.path().join("img"), &curl_entries(&record));
    let artifact_config = layout.blob("application/vnd.example.config+json", b"{}");
    let artifact = layout.manifest(&artifact_config, &[]);
    layout.tag(&[(manifest.clone(), Some("a")), (artifact.clone(), Some("b"))]);
    let text = format!("oci:{}", layout.dir.display());
    refused(
        &text,
        "holds 2 images and none is tagged `latest` (its tags: \"a\", \"b\")",
    );
    assert_eq!(read(&format!("{text}:a")).unwrap().packages.len(), 1);
    let index = layout.index(&[manifest, artifact]);
    layout.tag(&[(index, None)]);
    let image = read(&text).unwrap();
    assert_eq!(image.packages.len(), 1);
    assert_eq!(image.warnings.len(), 1, "{:?}", image.warnings);
    assert!(
        image.warnings[0].contains("is not an image"),
        "{:?}",
        image.warnings
    );
}
