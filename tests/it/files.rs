//! `[[files]]` (issue 16) on the fixture repository: a source file and a URL file (served on
//! 127.0.0.1) land in their own level's layer with the content, mode and owner given, in the
//! lock (sha256), the layer key and the SBOM beside the output; replacing a package's file
//! needs `replace = true`; a URL whose bytes do not match is refused.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::fixture::Env;
use crate::harness::{compose, read_image, require, run, tool};
use crate::support::server::Server;

const APP_CONF: &[u8] = b"listen = 8080\n";
const TARBALL: &[u8] = b"not really a tar, but bytes all the same\n";

/// `fbase` (packages) below `ftop` (a package and two files), the source file beside
/// `ftop.toml`, the URL file served beside the fixture repository. `extra` goes into `ftop`.
fn family(env: &Env, extra: &str) -> PathBuf {
    family_at(env, &env.server.url(), extra)
}

/// `family` with the URL file at `base` (`Server::PROXIED` for a build through the proxy).
fn family_at(env: &Env, base: &str, extra: &str) -> PathBuf {
    env.spec(
        "fbase",
        "[packages]\ninclude = [\"f-base-files\", \"f-libc\"]\n",
    );
    fs_err::create_dir_all(env.path("files")).unwrap();
    fs_err::write(env.path("files/app.conf"), APP_CONF).unwrap();
    fs_err::create_dir_all(env.served().join("extra")).unwrap();
    fs_err::write(env.served().join("extra/x.tar"), TARBALL).unwrap();
    let top = env.path("ftop.toml");
    let text = format!(
        r#"name = "ftop"
extends = "fbase"
[packages]
include = ["f-tool"]

[[files]]
path = "/etc/app/app.conf"
source = "files/app.conf"
mode = "0640"
uid = 65532
gid = 65533

[[files]]
path = "/opt/x.tar"
url = "{}/extra/x.tar"
sha256 = "{}"
{extra}"#,
        base,
        hex::encode(Sha256::digest(TARBALL)),
    );
    fs_err::write(&top, text).unwrap();
    top
}

#[test]
fn files_land_in_their_layer_as_given_and_in_lock_and_sbom() {
    let env = Env::new();
    let top = family(&env, "");
    env.lock(&top, &[]).success("compose lock");
    let lock: toml::Value =
        toml::from_str(&fs_err::read_to_string(env.path("ftop.lock")).unwrap()).unwrap();
    let files = lock["file"].as_array().expect("the lock lists the files");
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(files[0]["path"].as_str(), Some("/etc/app/app.conf"));
    assert_eq!(files[0]["source"].as_str(), Some("files/app.conf"));
    assert_eq!(
        files[0]["sha256"].as_str(),
        Some(hex::encode(Sha256::digest(APP_CONF)).as_str())
    );
    assert_eq!(files[0]["size"].as_integer(), Some(APP_CONF.len() as i64));
    assert!(files[1]["url"].as_str().unwrap().ends_with("/extra/x.tar"));
    assert_eq!(
        files[1]["sha256"].as_str(),
        Some(hex::encode(Sha256::digest(TARBALL)).as_str())
    );

    let a = env.build(&top, "a", &["--locked", "--json", "--no-layer-cache"]);
    a.success("compose build");
    let b = env.build(&top, "b", &["--locked", "--json", "--no-layer-cache"]);
    b.success("compose build");
    assert_eq!(
        a.json()["digest"],
        b.json()["digest"],
        "same inputs, same image"
    );
    let img = read_image(&env.path("a"));
    assert_eq!(img.layers.len(), 2);
    assert!(
        !img.layers[0].contains_key("etc/app/app.conf"),
        "not in the lower layer"
    );
    let layer = &img.layers[1];
    let conf = &layer["etc/app/app.conf"];
    assert_eq!(conf.data, APP_CONF);
    assert_eq!((conf.mode, conf.uid, conf.gid), (0o640, 65532, 65533));
    assert_eq!(
        conf.mtime, layer["usr/share/sbom/ftop.spdx.json"].mtime,
        "the level's epoch"
    );
    assert_eq!(layer["etc/app"].mode, 0o755);
    let tar = &layer["opt/x.tar"];
    assert_eq!(tar.data, TARBALL);
    assert_eq!((tar.mode, tar.uid, tar.gid), (0o644, 0, 0));

    let sbom: serde_json::Value =
        serde_json::from_slice(&fs_err::read(env.path("a.latest.spdx.json")).unwrap()).unwrap();
    let listed = sbom["files"].as_array().expect("the SBOM lists the files");
    let conf = listed
        .iter()
        .find(|f| f["fileName"] == "./etc/app/app.conf")
        .unwrap();
    let sums = conf["checksums"].as_array().unwrap();
    let sum =
        |alg: &str| sums.iter().find(|c| c["algorithm"] == alg).unwrap()["checksumValue"].clone();
    assert_eq!(sum("SHA1"), hex::encode(sha1::Sha1::digest(APP_CONF)));
    assert_eq!(sum("SHA256"), hex::encode(Sha256::digest(APP_CONF)));
    let id = &conf["SPDXID"];
    assert!(
        sbom["relationships"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["spdxElementId"] == "SPDXRef-Image"
                && r["relationshipType"] == "CONTAINS"
                && &r["relatedSpdxElement"] == id)
    );
}

#[test]
#[ignore = "needs pyspdxtools and ntia-checker"]
fn the_sbom_with_files_is_valid_spdx() {
    require(&["pyspdxtools", "ntia-checker"]);
    let env = Env::new();
    // Through the server as a proxy, so the SBOM's URLs have a host name SPDX accepts.
    let top = family_at(&env, Server::PROXIED, "");
    let out = format!("oci:{}", env.path("a").display());
    let mut cmd = compose();
    for (k, v) in env.server.as_proxy() {
        cmd.env(k, v);
    }
    let cache = env.path("cache");
    let mirror = format!("fixture={}", Server::PROXIED);
    cmd.args(["build", top.to_str().unwrap(), "--output", &out]);
    cmd.args(["--cache-dir", cache.to_str().unwrap(), "--mirror", &mirror]);
    run(&mut cmd).success("compose build");
    let p = env.path("a.latest.spdx.json");
    let p = p.to_str().unwrap();
    tool("pyspdxtools", &["-i", p]);
    let report: serde_json::Value =
        serde_json::from_str(&tool("ntia-checker", &["-r", "json", p])).unwrap();
    assert_eq!(report["isNtiaConformant"], true, "{report:#}");
}

#[test]
fn a_changed_source_file_makes_the_lock_stale_and_rebuilds_the_layer() {
    let env = Env::new();
    let top = family(&env, "");
    env.lock(&top, &[]).success("compose lock");
    let first = env.build(&top, "a", &["--json"]);
    first.success("compose build");
    fs_err::write(env.path("files/app.conf"), b"listen = 9090\n").unwrap();
    env.lock(&top, &["--check"]).fails_with("/etc/app/app.conf");
    let second = env.build(&top, "b", &["--json"]);
    second.success("compose build");
    let cached: Vec<bool> = second.json()["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["cached"].as_bool().unwrap())
        .collect();
    assert_eq!(
        cached,
        [true, false],
        "the same spec text, another file: the top layer rebuilt"
    );
    assert_eq!(
        read_image(&env.path("b")).layers[1]["etc/app/app.conf"].data,
        b"listen = 9090\n"
    );
}

#[test]
fn replacing_a_package_file_needs_replace() {
    let env = Env::new();
    let entry = "\n[[files]]\npath = \"/usr/share/f/tool.txt\"\nsource = \"files/app.conf\"\n";
    let top = family(&env, entry);
    env.build(&top, "a", &[])
        .fails_with("would replace the file of `package `f-tool``");
    let top = family(&env, &format!("{entry}replace = true\n"));
    env.build(&top, "a", &[]).success("compose build");
    let layer = &read_image(&env.path("a")).layers[1];
    assert_eq!(layer["usr/share/f/tool.txt"].data, APP_CONF);
    assert_eq!(
        layer["usr/share/f/tool.txt"].mode, 0o644,
        "the entry's mode"
    );
    // A file other paths are hard links to would change them too: refused even so.
    let linked =
        "\n[[files]]\npath = \"/usr/bin/ftool\"\nsource = \"files/app.conf\"\nreplace = true\n";
    let top = family(&env, linked);
    env.build(&top, "b", &[])
        .fails_with("`/usr/bin/ftool-alias` is a hard link to");
}

#[test]
fn a_path_through_a_symlink_or_not_plain_is_refused() {
    let env = Env::new();
    let top = family(
        &env,
        "\n[[files]]\npath = \"/bin/app\"\nsource = \"files/app.conf\"\n",
    );
    env.build(&top, "a", &[])
        .fails_with("lies under `/bin`, which is a symlink");
    let top = family(
        &env,
        "\n[[files]]\npath = \"/etc/../x\"\nsource = \"files/app.conf\"\n",
    );
    env.build(&top, "a", &[])
        .fails_with("absolute path of plain components");
    let top = family(
        &env,
        "\n[[files]]\npath = \"/etc/y\"\nurl = \"http://127.0.0.1:1/y\"\n",
    );
    env.build(&top, "a", &[]).fails_with("needs the `sha256`");
}

#[test]
fn a_url_file_with_other_bytes_is_refused() {
    let env = Env::new();
    let top = family(&env, "");
    let text = fs_err::read_to_string(&top).unwrap();
    let wrong = hex::encode(Sha256::digest(b"other"));
    fs_err::write(
        &top,
        text.replace(&hex::encode(Sha256::digest(TARBALL)), &wrong),
    )
    .unwrap();
    let r = env.build(&top, "a", &[]);
    r.fails_with(&format!(
        "has sha256 {}, but the spec pins {wrong}",
        hex::encode(Sha256::digest(TARBALL))
    ));
    r.stderr_has("/extra/x.tar");
    // Offline, the cache is all there is: the good file, once fetched, builds offline.
    let good = family(&env, "");
    let r = env.build(&good, "b", &["--offline"]);
    r.fails_with("`--offline` forbids downloading them");
    r.stderr_has("hint: run the same build once without `--offline`");
    r.stderr_has("cannot fetch `/opt/x.tar` of `[[files]]`");
    env.build(&good, "b", &[]).success("compose build");
    env.build(&good, "c", &["--offline"])
        .success("compose build --offline");
}

/// A lower level's files go into its own layer; an upper level's file at the same path
/// replaces it only with `replace = true`.
#[test]
fn each_level_has_its_own_files() {
    let env = Env::new();
    let top = family(&env, "");
    let base = env.path("fbase.toml");
    let text = fs_err::read_to_string(&base).unwrap();
    let lower = "\n[[files]]\npath = \"/etc/app/app.conf\"\nsource = \"files/base.conf\"\n";
    fs_err::write(env.path("files/base.conf"), b"base\n").unwrap();
    fs_err::write(&base, format!("{text}{lower}")).unwrap();
    env.build(&top, "a", &[]).fails_with(
        "would replace the file of `compose (a generated file or a lower level's `[[files]]`)`",
    );
    let text = fs_err::read_to_string(&top).unwrap();
    let replaced = text.replace("gid = 65533\n", "gid = 65533\nreplace = true\n");
    fs_err::write(&top, replaced).unwrap();
    env.build(&top, "a", &[]).success("compose build");
    let img = read_image(&env.path("a"));
    assert_eq!(img.layers[0]["etc/app/app.conf"].data, b"base\n");
    assert_eq!(img.layers[1]["etc/app/app.conf"].data, APP_CONF);
    assert_eq!(img.merged()["etc/app/app.conf"].data, APP_CONF);
}

/// `compose vendor` keeps a `url` file by its pinned sha256 (`files/sha256/<hex>`), so a
/// `--vendor` build with an empty cache and the server gone has it; a tampered copy is refused.
#[test]
fn vendored_url_files_build_without_the_server() {
    let env = Env::new();
    let top = family(&env, "");
    env.lock(&top, &[]).success("compose lock");
    let online = env.build(&top, "online", &[]).digest();
    let dir = env.path("vendored");
    crate::vendor::vendor(&env, &top, &dir).success("compose vendor");
    let kept = dir
        .join("files/sha256")
        .join(hex::encode(Sha256::digest(TARBALL)));
    assert_eq!(fs_err::read(&kept).unwrap(), TARBALL);
    fs_err::remove_file(env.served().join("extra/x.tar")).unwrap();
    let r = crate::vendor::vendored_build(&env, &top, &dir, "offline", "empty-cache");
    assert_eq!(r.digest(), online, "a vendored build is the online build");
    fs_err::write(&kept, b"other bytes\n").unwrap();
    crate::vendor::vendored_build(&env, &top, &dir, "tampered", "empty-cache-2")
        .fails_with("files/sha256");
}
