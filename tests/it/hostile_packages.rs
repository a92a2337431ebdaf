//! Hostile package contents, end to end: crafted `.deb`s in a signed repository made at test
//! time. Each refusal is one line, exit 1, with no output and nothing left beside it; each
//! accepted image is read back to prove that no entry of any layer lies under a symlink.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::harness::{Compose, Image, Run, TarEntry, compose, read_image, run};
use crate::support::hostile::{
    DebBuilder, Key, KeyKind, Package, ReleaseOpts, Repo, TarBuilder, flag,
};
use crate::support::server::Server;

/// A built (or refused) image and where it was made.
struct Outcome {
    run: Run,
    work: tempfile::TempDir,
    out: PathBuf,
    elapsed: Duration,
}

/// Publish `packages`, then build spec `base` (including `include`) and, when `top` is
/// given, a spec `top` extending it that includes those packages.
fn build_levels(packages: Vec<Package>, include: &[&str], top: Option<&[&str]>) -> Outcome {
    build_with(packages, include, top, None)
}

/// `compose`, or `compose` under `/usr/bin/time` writing its peak RSS (KiB) to `rss`.
fn command(rss: Option<&std::path::Path>) -> Compose {
    let mut c = compose();
    if let Some(rss) = rss {
        let rss = rss.to_str().expect("a UTF-8 temporary path");
        c.under(&["/usr/bin/time", "-o", rss, "-f", "%M"]);
    }
    c
}

fn build_with(
    packages: Vec<Package>,
    include: &[&str],
    top: Option<&[&str]>,
    rss: Option<&std::path::Path>,
) -> Outcome {
    let key = Key::generate(KeyKind::Good);
    let mut repo = Repo::new();
    for p in packages {
        repo.add(p);
    }
    repo.publish(&key, &ReleaseOpts::default());
    let server = Server::start(repo.root());
    let work = tempfile::tempdir().unwrap();
    let list = |names: &[&str]| {
        let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        format!("[packages]\ninclude = [{}]\n", quoted.join(", "))
    };
    let mut spec = Repo::spec(work.path(), "base", &key, &list(include));
    if let Some(top) = top {
        spec = work.path().join("top.toml");
        let text = format!("name = \"top\"\nextends = \"base\"\n{}", list(top));
        fs_err::write(&spec, text).unwrap();
    }
    let out = work.path().join("img");
    let start = Instant::now();
    let run = run(command(rss)
        .arg("build")
        .arg(&spec)
        .arg("--output")
        .arg(format!("oci:{}", out.display()))
        .arg("--cache-dir")
        .arg(work.path().join("cache"))
        .arg("--mirror")
        .arg(format!("hostile={}", server.url())));
    Outcome {
        run,
        work,
        out,
        elapsed: start.elapsed(),
    }
}

fn build(packages: Vec<Package>, include: &[&str]) -> Outcome {
    build_levels(packages, include, None)
}

/// A package `name` 1.0 whose data.tar (uncompressed) is `tar`.
fn package(name: &str, tar: Vec<u8>) -> Package {
    Package::new(
        name,
        "1.0",
        DebBuilder::new(name, "1.0", 4).data(tar).build(),
    )
}

impl Outcome {
    /// Refused with exactly `message` on one line, exit 1, no output, nothing beside it.
    fn refused(&self, message: &str) {
        self.run.fails_with(message);
        assert_eq!(self.run.code, Some(1), "{}", self.run.stderr);
        assert!(
            self.run
                .stderr
                .lines()
                .skip(1)
                .all(|l| l.is_empty() || l.starts_with("hint: ")),
            "one line (and hints): {}",
            self.run.stderr
        );
        assert!(!self.out.exists(), "no partial output");
        self.only_spec_cache_and(&[]);
    }

    /// The work directory holds the specs, the cache and `extra`: nothing else was written.
    fn only_spec_cache_and(&self, extra: &[&str]) {
        let mut names: Vec<String> = fs_err::read_dir(self.work.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".toml"))
            .collect();
        names.sort();
        let mut expected: Vec<String> = ["cache"]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect();
        expected.sort();
        assert_eq!(
            names, expected,
            "only the cache (and the output) are written"
        );
    }

    /// The image, checked to be a tree in every layer.
    fn image(&self) -> Image {
        self.run.digest();
        self.only_spec_cache_and(&["img", "img.latest.spdx.json"]);
        let img = read_image(&self.out);
        assert_tree(&img);
        img
    }
}

/// No entry of any layer lies under a symlink or a file of its own layer or those below.
fn assert_tree(img: &Image) {
    let mut below: BTreeMap<String, TarEntry> = BTreeMap::new();
    for layer in &img.layers {
        for path in layer.keys() {
            let mut p = path.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                let e = layer.get(parent).or_else(|| below.get(parent));
                assert!(
                    e.is_none_or(|e| e.kind == tar::EntryType::Directory),
                    "`{path}` lies under `{parent}`, which is {:?}",
                    e.map(|e| e.kind)
                );
                p = parent;
            }
            assert!(
                !path.split('/').any(|c| c == ".." || c.is_empty()),
                "{path}"
            );
        }
        for (path, e) in layer {
            if e.kind == tar::EntryType::Link {
                let target = e.link.as_deref().unwrap();
                assert_eq!(
                    layer.get(target).map(|t| t.kind),
                    Some(tar::EntryType::Regular),
                    "hard link {path} -> {target}"
                );
            }
        }
        below.extend(layer.clone());
    }
}

#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn paths_through_another_packages_symlink_land_inside_the_root() {
    // An absolute target starts again at the image root; `..` may climb to it.
    let links = TarBuilder::new()
        .dir("./usr/")
        .dir("./usr/lib/")
        .symlink("./usr/lib/a", "/etc")
        .symlink("./usr/lib/b", "../../etc")
        .symlink("./usr/lib/c", "/usr/../etc/.")
        .finish();
    let files = TarBuilder::new()
        .dir("./usr/lib/a/")
        .file("./usr/lib/a/hosts", b"hosts\n")
        .file("./usr/lib/b/hostname", b"evil\n")
        .file("./usr/lib/c/passwd", b"root::0:0:root:/root:/bin/sh\n")
        .finish();
    let o = build(
        vec![package("aa-links", links), package("bb-files", files)],
        &["aa-links", "bb-files"],
    );
    let img = o.image();
    let fs = img.merged();
    assert_eq!(fs["etc/hosts"].data, b"hosts\n");
    assert_eq!(fs["etc/hostname"].data, b"evil\n");
    assert_eq!(fs["usr/lib/b"].link.as_deref(), Some("../../etc"));
    assert!(!fs.contains_key("usr/lib/a/hosts") && !fs.contains_key("usr/lib/c/passwd"));
    // The image's own /etc/passwd, generated in the bottom layer, wins there.
    let passwd = String::from_utf8_lossy(&fs["etc/passwd"].data).into_owned();
    assert!(
        passwd.starts_with("root:x:0:0:root:/root:/sbin/nologin\n"),
        "{passwd}"
    );
}

#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn paths_through_a_symlink_that_climbs_above_the_root_are_refused() {
    for target in ["../../../../../../etc", "/../../etc/."] {
        let links = TarBuilder::new()
            .dir("./usr/")
            .dir("./usr/lib/")
            .symlink("./usr/lib/up", target)
            .finish();
        let files = TarBuilder::new()
            .dir("./usr/")
            .dir("./usr/lib/")
            .file("./usr/lib/up/hostname", b"evil\n")
            .finish();
        build(
            vec![package("aa-links", links), package("bb-files", files)],
            &["aa-links", "bb-files"],
        )
        .refused("`bb-files` ships `/usr/lib/up/hostname` through the symlink `/usr/lib/up`, which leads out of the image root");
    }
}

#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn a_path_through_a_lower_levels_symlink_meets_the_lower_files() {
    let links = TarBuilder::new()
        .dir("./usr/")
        .dir("./usr/lib/")
        .symlink("./usr/lib/x", "/etc")
        .finish();
    let files = TarBuilder::new()
        .file("./usr/lib/x/passwd", b"root::0:0::/:/bin/sh\n")
        .finish();
    let o = build_levels(
        vec![package("aa-links", links), package("bb-files", files)],
        &["aa-links"],
        Some(&["bb-files"]),
    );
    o.refused("`/etc/passwd` is shipped with different content by `compose` and `bb-files`");
}

#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn a_file_through_the_packages_own_symlink_is_refused_as_dpkg_does() {
    // The PAX linkpath, not the innocent ustar linkname, is what an extractor follows.
    let tar = TarBuilder::new()
        .dir("./usr/")
        .dir("./usr/lib/")
        .pax(&[("linkpath", b"../../../../etc")])
        .symlink("./usr/lib/x", "innocent")
        .file("./usr/lib/x/passwd", b"root::0:0::/:/bin/sh\n")
        .finish();
    build(vec![package("evil", tar)], &["evil"]).refused(
        "`evil` ships `/usr/lib/x/passwd` inside `/usr/lib/x`, a symlink of its own (dpkg cannot unpack that either)",
    );
}

#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn a_pax_linkpath_is_kept_as_the_link_target() {
    // The PAX `linkpath` is what an unpacker follows, whatever the ustar linkname says.
    let with = |linkpath: &[u8]| {
        let links = TarBuilder::new()
            .dir("./usr/")
            .dir("./usr/lib/")
            .pax(&[("linkpath", linkpath)])
            .symlink("./usr/lib/x", "innocent")
            .finish();
        let files = TarBuilder::new().file("./usr/lib/x/motd", b"hi\n").finish();
        build(
            vec![package("aa-links", links), package("bb-files", files)],
            &["aa-links", "bb-files"],
        )
    };
    let fs = with(b"../../etc").image().merged();
    assert_eq!(fs["usr/lib/x"].link.as_deref(), Some("../../etc"));
    assert_eq!(fs["etc/motd"].data, b"hi\n");
    with(b"../../../../etc").refused(
        "`bb-files` ships `/usr/lib/x/motd` through the symlink `/usr/lib/x`, which leads out of the image root",
    );
}

#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn hard_links_only_to_regular_files_shipped_before_them() {
    let base = || TarBuilder::new().dir("./usr/");
    let cases = [
        (
            // A link to a later symlink to /etc/shadow.
            base()
                .hardlink("./usr/h", "./usr/s")
                .symlink("./usr/s", "/etc/shadow")
                .finish(),
            "`evil` ships `/usr/h` as a hard link to `/usr/s`, which is not a regular file shipped before it",
        ),
        (
            base()
                .symlink("./usr/s", "/etc/shadow")
                .hardlink("./usr/h", "./usr/s")
                .finish(),
            "`evil` ships `/usr/h` as a hard link to `/usr/s`, which is a symlink",
        ),
        (
            base()
                .dir("./usr/d/")
                .hardlink("./usr/h", "./usr/d")
                .finish(),
            "`evil` ships `/usr/h` as a hard link to `/usr/d`, which is a directory",
        ),
        (
            base().hardlink("./usr/h", "./usr/missing").finish(),
            "`evil` ships `/usr/h` as a hard link to `/usr/missing`, which is not a regular file shipped before it",
        ),
    ];
    for (tar, message) in cases {
        build(vec![package("evil", tar)], &["evil"]).refused(message);
    }
}

#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn unsafe_names_are_refused() {
    let long = format!("./usr/share/{}/../../../../etc/passwd", "d".repeat(100));
    let cases = [
        (
            TarBuilder::new()
                .pax(&[("path", long.as_bytes())])
                .file("./usr/share/innocent", b"x")
                .finish(),
            format!("`evil` contains `{long}`, which escapes the root filesystem"),
        ),
        (
            TarBuilder::new()
                .pax(&[("path", b"./usr/a\0/../../etc/passwd")])
                .file("./usr/share/innocent", b"x")
                .finish(),
            "`evil` contains `./usr/a\\0/../../etc/passwd` with a NUL byte in its name".to_owned(),
        ),
        (
            TarBuilder::new()
                .file("./usr/lib/.wh..wh..opq", b"")
                .finish(),
            "`evil` contains `./usr/lib/.wh..wh..opq` with an OCI whiteout name (`.wh.`), which would delete files of lower layers".to_owned(),
        ),
        (
            TarBuilder::new()
                .hardlink("./usr/l", "../../etc/shadow")
                .finish(),
            "`evil` contains `./usr/l`, which escapes the root filesystem".to_owned(),
        ),
    ];
    for (tar, message) in cases {
        build(vec![package("evil", tar)], &["evil"]).refused(&message);
    }
}

#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn a_terabyte_tar_claim_stops_at_once() {
    let tar = TarBuilder::new()
        .raw(
            TarBuilder::header(b"./big", flag::FILE, 1 << 40, b"", 0o644),
            b"",
        )
        .unfinished();
    let deb = DebBuilder::new("big", "1.0", 1).data(tar).build();
    assert!(deb.len() < 1024, "{}", deb.len());
    let o = build(vec![Package::new("big", "1.0", deb)], &["big"]);
    o.refused(
        "`big` exceeds a limit: data.tar holds more than 1.0 MiB of files (its Installed-Size of 1 KiB plus 25% and 1 MiB)",
    );
    assert!(o.elapsed < Duration::from_secs(30), "{:?}", o.elapsed);
}

/// A zstd stream of `header` then `zeros` zero bytes in RLE blocks: 4 bytes per 128 KiB.
fn zstd_bomb(header: &[u8], zeros: u64) -> Vec<u8> {
    let mut out = zstd::stream::encode_all(header, 3).unwrap();
    out.extend_from_slice(&0xFD2F_B528u32.to_le_bytes());
    out.extend_from_slice(&[0x00, 0x38]); // no content size; 128 KiB window
    let blocks = zeros / (128 << 10);
    for i in 0..blocks {
        let last = u32::from(i + 1 == blocks);
        let h = ((128u32 << 10) << 3) | (1 << 1) | last;
        out.extend_from_slice(&h.to_le_bytes()[..3]);
        out.push(0);
    }
    out
}

/// Two 20 GiB bombs in a 700 KiB `data.tar.zst` and the message that stops each: 20 GiB
/// behind a PAX header (no file data to charge: the stream bound stops it), and 20 GiB of
/// one file whose header tells the truth.
fn bombs() -> Vec<(Package, &'static str)> {
    let pax = TarBuilder::header(b"././@PaxHeader", flag::PAX, 20 << 30, b"", 0o644);
    let file = TarBuilder::header(b"./zeros", flag::FILE, 20 << 30, b"", 0o644);
    let cases = [
        (
            pax,
            "`bomb` exceeds a limit: decompressed `data.tar.zst` is larger than 18.0 MiB",
        ),
        (
            file,
            "`bomb` exceeds a limit: data.tar holds more than 1.0 MiB of files",
        ),
    ];
    cases
        .into_iter()
        .map(|(header, message)| {
            let data = zstd_bomb(&header, 20 << 30);
            assert!(data.len() < 700 << 10, "{}", data.len());
            let deb = DebBuilder::new("bomb", "1.0", 1)
                .member(b"data.tar.zst", data)
                .build();
            (Package::new("bomb", "1.0", deb), message)
        })
        .collect()
}

#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn decompression_bombs_stop_quickly() {
    for (package, message) in bombs() {
        let o = build(vec![package], &["bomb"]);
        o.refused(message);
        assert!(o.elapsed < Duration::from_secs(60), "{:?}", o.elapsed);
    }
}

#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time) and /usr/bin/time"]
fn decompression_bombs_stop_in_small_memory() {
    crate::harness::require(&["/usr/bin/time"]);
    for (package, message) in bombs() {
        let rss_dir = tempfile::tempdir().unwrap();
        let rss = rss_dir.path().join("rss");
        let o = build_with(vec![package], &["bomb"], None, Some(&rss));
        o.refused(message);
        // GNU time writes "Command exited with non-zero status 1" first.
        let text = fs_err::read_to_string(&rss).unwrap();
        let kib: u64 = text.lines().last().unwrap().trim().parse().unwrap();
        assert!(kib < 200 << 10, "peak RSS {kib} KiB");
        eprintln!("{message}: peak RSS {kib} KiB in {:?}", o.elapsed);
    }
}

#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn too_many_entries_are_refused() {
    let one = TarBuilder::header(b"./a", flag::FILE, 0, b"", 0o644);
    let mut tar = Vec::with_capacity((1 << 19) * 512 + 2048);
    for _ in 0..=(1 << 19) {
        tar.extend_from_slice(&one);
    }
    tar.extend_from_slice(&[0u8; 1024]);
    // Installed-Size large enough that the stream bound is not what stops it.
    let deb = DebBuilder::new("many", "1.0", 400_000)
        .data_gz(&tar)
        .build();
    let o = build(vec![Package::new("many", "1.0", deb)], &["many"]);
    o.refused("`many` exceeds a limit: data.tar has more than 524288 entries");
}

#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn an_ar_member_named_slash_n_is_an_error_not_a_panic() {
    let deb = DebBuilder::new("arn", "1.0", 1)
        .member(b"/1", b"x".to_vec())
        .build();
    build(vec![Package::new("arn", "1.0", deb)], &["arn"]).refused(
        "`arn` is not a valid .deb: ar member name `/1` is a GNU/BSD long or special name, which .debs do not use",
    );
}

#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn the_control_must_match_the_index() {
    let data = || TarBuilder::new().dir("./usr/").finish();
    let cases = [
        (
            DebBuilder::new("ctl", "2.0", 1),
            "`ctl` is not the package the index promised: its control says `Version: 2.0`, expected `1.0`",
        ),
        (
            DebBuilder::new("other", "1.0", 1),
            "`ctl` is not the package the index promised: its control says `Package: other`, expected `ctl`",
        ),
        (
            DebBuilder::with_control("Package: ctl\nVersion: 1.0\nArchitecture: amd64/../..\n"),
            "`ctl` has an invalid `Architecture` in its control file: `amd64/../..`",
        ),
    ];
    for (deb, message) in cases {
        let deb = deb.data(data()).build();
        build(vec![Package::new("ctl", "1.0", deb)], &["ctl"]).refused(message);
    }
}

#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn a_long_package_name_with_dot_dot_never_becomes_a_path() {
    // The case: a name over 99 bytes (a PAX record in the layer) with `../`.
    let evil = format!("x{}/../../../../etc/passwd", "a".repeat(100));
    let deb = DebBuilder::new(&evil, "1.0", 1)
        .data(TarBuilder::new().dir("./usr/").finish())
        .build();
    let good = DebBuilder::new("good", "1.0", 1)
        .data(TarBuilder::new().dir("./usr/").finish())
        .build();
    let o = build(
        vec![
            Package::new(&evil, "1.0", deb),
            Package::new("good", "1.0", good).field("Depends", &evil),
        ],
        &["good"],
    );
    // Refused where the index is parsed, before the name is used anywhere (values are cut at
    // 100 bytes in messages).
    let shown = format!("{}...", &evil[..100]);
    o.refused(&format!(
        "package `{shown}` has an invalid `Package` value `{shown}`"
    ));
}
