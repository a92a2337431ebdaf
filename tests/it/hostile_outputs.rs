//! Output paths as an attacker (or an accident) leaves them: existing directories that are
//! not layouts, symlinks where an output goes, layouts whose index names digests like
//! `sha256:../../x`, image names outside the reference grammar, and a push that fails beside
//! local outputs. Each refusal is one line with exit 1, and every destination (and
//! everything around it) is left exactly as it was.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::fixture::Env;
use crate::harness::{Run, read_image_tag};

/// Everything under `root`, without following symlinks: each path with its kind, content
/// hash or link target, mode and inode (a file replaced by a copy shows).
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs_err::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let m = fs_err::symlink_metadata(&p).unwrap();
            let what = if m.file_type().is_symlink() {
                format!("link -> {}", fs_err::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p.clone());
                format!("dir {:o}", m.mode())
            } else {
                let bytes = fs_err::read(&p).unwrap();
                format!(
                    "file {:o} ino {} {}",
                    m.mode(),
                    m.ino(),
                    hex::encode(Sha256::digest(&bytes))
                )
            };
            out.insert(rel, what);
        }
    }
    out
}

/// A scratch area holding the outputs and a canary directory beside them; the whole work
/// directory is watched (but the cache) so that nothing appears outside the outputs.
struct Area {
    env: Env,
    spec: PathBuf,
}

impl Area {
    fn new() -> Area {
        let env = Env::new();
        let spec = env.spec(
            "hbase",
            "[packages]\ninclude = [\"f-base-files\", \"f-libc\"]\n",
        );
        fs_err::create_dir_all(env.path("area/canary")).unwrap();
        fs_err::write(env.path("area/canary/keep"), "canary").unwrap();
        Area { env, spec }
    }

    fn at(&self, rel: &str) -> PathBuf {
        self.env.path(&format!("area/{rel}"))
    }

    fn build(&self, outputs: &[String]) -> Run {
        self.env.build_to(&self.spec, outputs, &[])
    }

    /// Everything the build could touch: the work directory without the cache.
    fn state(&self) -> BTreeMap<String, String> {
        let mut s = snapshot(&self.env.path(""));
        s.retain(|k, _| k != "cache" && !k.starts_with("cache/"));
        s
    }

    /// Run a build that must fail with `needle` (exit 1, one line before any hint) and
    /// leave every file exactly as it was.
    fn refused(&self, outputs: &[String], needle: &str) -> Run {
        let before = self.state();
        let r = self.build(outputs);
        r.fails_with(needle);
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        let message = r.stderr.split("\n\nhint: ").next().unwrap();
        assert!(
            !message.trim_end().contains('\n'),
            "one line: {:?}",
            r.stderr
        );
        let after = self.state();
        assert_eq!(before, after, "{outputs:?} changed files:\n{}", r.stderr);
        r
    }

    /// A layout at `rel` holding an image tagged `old` (a real build).
    fn old_layout(&self, rel: &str) -> PathBuf {
        let dir = self.at(rel);
        let r = self.build(&[format!("oci:{}:old", dir.display())]);
        r.success("compose");
        dir
    }
}

fn oci(p: &Path) -> String {
    format!("oci:{}", p.display())
}

#[test]
fn a_bad_second_output_leaves_the_first_unwritten() {
    let a = Area::new();
    let good = a.at("good");
    fs_err::create_dir(a.at("adir")).unwrap();
    fs_err::write(a.at("adir/inside"), "x").unwrap();
    a.refused(
        &[
            oci(&good),
            format!("oci-archive:{}", a.at("adir").display()),
        ],
        "is a directory, and compose replaces only a file with an archive",
    );
    assert!(!good.exists());
    // An existing layout as the first output keeps its old content, too.
    let good = a.old_layout("good");
    a.refused(
        &[
            oci(&good),
            format!("docker-archive:{}", a.at("adir").display()),
        ],
        "is a directory",
    );
    assert_eq!(read_image_tag(&good, "old").layer_digests.len(), 1);
}

#[test]
fn outputs_are_not_written_through_symlinks() {
    let a = Area::new();
    let good = a.at("good");
    // The canary holds a layout: an `oci:` output that is a symlink to it is refused.
    let target = a.old_layout("canary/layout");
    std::os::unix::fs::symlink(&target, a.at("link")).unwrap();
    a.refused(&[oci(&good), oci(&a.at("link"))], "is a symbolic link");
    // A dangling one too, and an archive through one.
    std::os::unix::fs::symlink(a.at("canary/nothing"), a.at("dangling")).unwrap();
    a.refused(
        &[
            oci(&good),
            format!("oci-archive:{}", a.at("dangling").display()),
        ],
        "is a symbolic link",
    );
    std::os::unix::fs::symlink(a.at("canary/keep"), a.at("file-link")).unwrap();
    a.refused(
        &[
            oci(&good),
            format!("oci-archive:{}", a.at("file-link").display()),
        ],
        "is a symbolic link",
    );
    // An SBOM beside an output is written through no symlink either.
    std::os::unix::fs::symlink(a.at("canary/keep"), a.at("x.tar.spdx.json")).unwrap();
    a.refused(
        &[format!("oci-archive:{}", a.at("x.tar").display())],
        "x.tar.spdx.json` is a symbolic link",
    );
    assert!(!good.exists());
}

#[test]
fn two_outputs_with_one_path_are_refused() {
    let a = Area::new();
    let p = a.at("same");
    a.refused(
        &[oci(&p), format!("oci-archive:{}", p.display())],
        "both write",
    );
    a.refused(
        &[
            format!("oci:{}:v1", p.display()),
            format!("oci:{}/../same:v2", a.at("canary").display()),
        ],
        "both write",
    );
    a.refused(
        &[oci(&p), format!("oci-archive:{}/x.tar", p.display())],
        "is inside",
    );
}

#[test]
fn an_existing_non_layout_directory_is_never_replaced() {
    let a = Area::new();
    fs_err::create_dir(a.at("precious")).unwrap();
    fs_err::write(a.at("precious/file"), "keep me").unwrap();
    a.refused(
        &[oci(&a.at("good")), oci(&a.at("precious"))],
        "is not an OCI image layout",
    );
    fs_err::write(a.at("plain"), "a file").unwrap();
    a.refused(&[oci(&a.at("plain"))], "is not an OCI image layout");
}

/// An existing layout whose `index.json` names a digest that is a path: refused before
/// anything is linked, so no file or hard link appears outside the outputs.
#[test]
fn a_layout_naming_a_path_as_digest_is_refused() {
    let a = Area::new();
    let layout = a.old_layout("evil");
    // What the digest points at, relative to the layout's blobs and to the staging one.
    fs_err::write(a.env.path("x"), "outside").unwrap();
    let index_path = layout.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&fs_err::read(&index_path).unwrap()).unwrap();
    let mut evil = index["manifests"][0].clone();
    evil["digest"] = "sha256:../../../x".into();
    evil["annotations"]["org.opencontainers.image.ref.name"] = "evil".into();
    index["manifests"].as_array_mut().unwrap().push(evil);
    fs_err::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let r = a.refused(
        &[oci(&a.at("good")), oci(&layout)],
        "names the invalid digest \"sha256:../../../x\"",
    );
    assert!(r.stderr.contains("index.json"), "{}", r.stderr);
    assert_eq!(
        fs_err::metadata(a.env.path("x")).unwrap().nlink(),
        1,
        "no hard link to the file outside"
    );
    // In a manifest rather than the index: the same.
    fs_err::write(
        &index_path,
        serde_json::to_vec(&{
            index["manifests"].as_array_mut().unwrap().pop();
            index.clone()
        })
        .unwrap(),
    )
    .unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let blob = layout.join("blobs/sha256").join(&digest[7..]);
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs_err::read(&blob).unwrap()).unwrap();
    manifest["layers"][0]["digest"] = "sha256:/etc/passwd".into();
    fs_err::remove_file(&blob).unwrap();
    fs_err::write(&blob, serde_json::to_vec(&manifest).unwrap()).unwrap();
    a.refused(
        &[oci(&a.at("good")), format!("oci:{}:new", layout.display())],
        "names the invalid digest \"sha256:/etc/passwd\"",
    );
}

#[test]
fn a_layout_whose_blobs_directory_is_a_symlink_is_refused() {
    let a = Area::new();
    let layout = a.old_layout("l1");
    fs_err::rename(layout.join("blobs"), a.at("canary/blobs")).unwrap();
    std::os::unix::fs::symlink(a.at("canary/blobs"), layout.join("blobs")).unwrap();
    a.refused(
        &[oci(&a.at("good")), format!("oci:{}:new", layout.display())],
        "blobs` is a symbolic link, which compose does not follow inside a layout",
    );
}

#[test]
fn a_layout_whose_index_is_a_symlink_to_a_file_outside_is_refused() {
    let a = Area::new();
    let layout = a.old_layout("l2");
    fs_err::remove_file(layout.join("index.json")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", layout.join("index.json")).unwrap();
    a.refused(
        &[oci(&a.at("good")), oci(&layout)],
        "index.json` is a symbolic link",
    );
}

#[test]
fn a_layout_with_a_blob_of_another_tag_as_a_symlink_is_refused() {
    let a = Area::new();
    let layout = a.old_layout("l3");
    let img = read_image_tag(&layout, "old");
    let blob = layout.join("blobs/sha256").join(&img.layer_digests[0][7..]);
    fs_err::rename(&blob, a.at("canary/layer")).unwrap();
    std::os::unix::fs::symlink(a.at("canary/layer"), &blob).unwrap();
    a.refused(
        &[oci(&a.at("good")), format!("oci:{}:new", layout.display())],
        "is a symbolic link",
    );
}

#[test]
fn a_layout_index_that_is_not_json_or_too_large_is_refused() {
    let a = Area::new();
    let layout = a.old_layout("l4");
    // An index cut short after its first key (`\x7b` is the opening brace).
    fs_err::write(layout.join("index.json"), "\x7b\"manifests\": [").unwrap();
    a.refused(&[oci(&layout)], "invalid JSON in");
    fs_err::write(layout.join("index.json"), vec![b' '; 5 << 20]).unwrap();
    a.refused(&[oci(&layout)], "is larger than 4 MiB");
}

#[test]
fn docker_archive_names_follow_the_reference_grammar() {
    let a = Area::new();
    for name in [
        "../../evil",
        "a/../../evil",
        "Upper/case",
        "repo:bad/tag",
        "repo:.dot",
        "a..b",
        "repo@sha256:00",
    ] {
        a.refused(
            &[
                oci(&a.at("good")),
                format!("docker-archive:{}:{name}", a.at("img.tar").display()),
            ],
            &format!("invalid image name `{name}`"),
        );
    }
    a.refused(
        &[format!("oci:{}:a..b", a.at("good").display())],
        "invalid tag `a..b`",
    );
    // A docker archive without a name is named after the spec, whose names may hold
    // capitals: refused before anything is staged.
    let upper = a.env.spec(
        "Upper",
        "[packages]\ninclude = [\"f-base-files\", \"f-libc\"]\n",
    );
    let before = a.state();
    let r = a.env.build_to(
        &upper,
        &[
            oci(&a.at("good")),
            format!("docker-archive:{}", a.at("img.tar").display()),
        ],
        &[],
    );
    r.fails_with("would name the image `Upper:latest`, which is not a valid image name");
    assert_eq!(r.code, Some(1));
    assert_eq!(before, a.state(), "nothing staged, nothing left");
}

/// A push that fails (nothing listens on port 1) beside a local layout and archive that
/// already exist: both keep their old content, and nothing staged is left.
#[test]
fn a_failed_push_leaves_local_outputs_as_they_were() {
    let a = Area::new();
    let layout = a.old_layout("layout");
    let archive = a.at("img.tar");
    fs_err::write(&archive, "old archive").unwrap();
    let before = snapshot(&a.at(""));
    let r = a.build(&[
        format!("oci:{}:new", layout.display()),
        format!("oci-archive:{}", archive.display()),
        "docker://127.0.0.1:1/x:v1".to_owned(),
    ]);
    r.fails_with("cannot reach the registry at `http://127.0.0.1:1/");
    assert_eq!(r.code, Some(1));
    assert_eq!(before, snapshot(&a.at("")), "nothing changed, nothing left");
    // The same outputs without the push are written, the old tag kept beside the new one.
    let r = a.build(&[
        format!("oci:{}:new", layout.display()),
        format!("oci-archive:{}", archive.display()),
    ]);
    r.success("compose");
    read_image_tag(&layout, "old");
    read_image_tag(&layout, "new");
    assert_ne!(fs_err::read(&archive).unwrap(), b"old archive");
    let names: Vec<String> = fs_err::read_dir(a.at(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".compose-"))
        .collect();
    assert!(names.is_empty(), "temporaries left: {names:?}");
}

/// The commit itself fails half-way: while the push is held, the place an archive goes
/// becomes a directory. The layout, already renamed into place by then, is taken out again
/// and its earlier content put back; nothing staged or set aside is left.
#[test]
#[ignore = "needs docker-registry"]
fn a_commit_that_fails_half_way_puts_everything_back() {
    let registry = crate::support::registry::Registry::start(None);
    let proxy = crate::support::registry::Proxy::start(&registry.addr());
    let a = Area::new();
    let layout = a.old_layout("layout");
    let archive = a.at("img.tar");
    let before = a.state();
    proxy.pause();
    let child = crate::harness::compose()
        .arg("build")
        .arg(&a.spec)
        .arg("--output")
        .arg(format!("oci:{}:new", layout.display()))
        .arg("--output")
        .arg(format!("oci-archive:{}", archive.display()))
        .arg("--output")
        .arg(format!("docker://{}/held:v1", proxy.url_host()))
        .arg("--cache-dir")
        .arg(a.env.path("cache"))
        .arg("--mirror")
        .arg(format!("fixture={}", a.env.server.url()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while proxy.requests().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the push never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    fs_err::create_dir(&archive).unwrap();
    fs_err::write(archive.join("inside"), "mine").unwrap();
    let mut before = before;
    let after_mkdir = a.state();
    before.extend(
        after_mkdir
            .iter()
            .filter(|(k, _)| k.ends_with("img.tar") || k.ends_with("img.tar/inside"))
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    proxy.resume();
    let r = Run::of(child.wait_with_output().unwrap());
    r.fails_with("changed during the build; no output was written");
    assert_eq!(r.code, Some(1));
    assert_eq!(before, a.state(), "everything as it was:\n{}", r.stderr);
    read_image_tag(&layout, "old");
}
