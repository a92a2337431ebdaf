//! Issue 16: `[certificates] add`, `[[accounts.*]]` and `[[directories]]` on the fixture
//! repository: the added CA verifies a leaf with `openssl verify` against the image's
//! bundle and `keytool` lists it in the image's Java trust store; bad inputs are refused.

use std::path::Path;

use crate::fixture::Env;
use crate::harness::{TarEntry, compose, repo_root, require, run, tool};

/// A CA (`NAME.pem`, `NAME.key`) made by openssl in `dir`.
pub(crate) fn make_ca(dir: &Path, name: &str) {
    let (pem, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    tool(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            pem.to_str().unwrap(),
            "-days",
            "30",
            "-subj",
            &format!("/CN={name} root"),
        ],
    );
}

/// A leaf certificate `leaf.pem` in `dir`, signed by the CA `ca`.
pub(crate) fn make_leaf(dir: &Path, ca: &str) -> String {
    let p = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    tool(
        "openssl",
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &p("leaf.key"),
            "-out",
            &p("leaf.csr"),
            "-subj",
            "/CN=app.corp",
        ],
    );
    tool(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            &p("leaf.csr"),
            "-CA",
            &p(&format!("{ca}.pem")),
            "-CAkey",
            &p(&format!("{ca}.key")),
            "-CAcreateserial",
            "-out",
            &p("leaf.pem"),
            "-days",
            "10",
        ],
    );
    p("leaf.pem")
}

fn write_entry(dir: &Path, name: &str, e: &TarEntry) -> String {
    let p = dir.join(name);
    fs_err::write(&p, &e.data).unwrap();
    p.to_str().unwrap().to_owned()
}

const BASE: &str = "[packages]\ninclude = [\"f-base-files\"]\n[generate]\njava-cacerts = true\n\
[certificates]\nadd = [\"certs/corp.pem\"]\n\
[[accounts.groups]]\nname = \"app\"\ngid = 10001\nmembers = [\"app\"]\n\
[[accounts.users]]\nname = \"app\"\nuid = 10001\ngid = 10001\nhome = \"/home/app\"\n\
[[directories]]\npath = \"/var/lib/app/data\"\nmode = \"0750\"\nuid = 10001\ngid = 10001\n";

const TOP: &str = "name = \"itop\"\nextends = \"ibase\"\n[packages]\ninclude = [\"f-libc\"]\n\
[certificates]\nadd = [\"certs/team.pem\"]\n\
[[accounts.users]]\nname = \"svc\"\nuid = 10002\ngid = 10001\n";

#[test]
#[ignore = "needs openssl and keytool"]
fn added_certificates_are_trusted_by_openssl_and_java_and_accounts_are_merged() {
    require(&["openssl", "keytool"]);
    let env = Env::new();
    let certs = env.path("certs");
    fs_err::create_dir_all(&certs).unwrap();
    for ca in ["corp", "team-a", "team-b"] {
        make_ca(&certs, ca);
    }
    let team = [certs.join("team-a.pem"), certs.join("team-b.pem")]
        .map(|p| fs_err::read_to_string(p).unwrap())
        .concat();
    fs_err::write(certs.join("team.pem"), team).unwrap();
    env.spec("ibase", BASE);
    let top = env.path("itop.toml");
    fs_err::write(&top, TOP).unwrap();
    let digest = env.build(&top, "a", &[]).digest();
    // Same inputs, same digest (every layer built again).
    assert_eq!(env.build(&top, "b", &["--no-layer-cache"]).digest(), digest);
    let img = crate::harness::read_image(&env.path("a"));
    let (lower, upper) = (&img.layers[0], &img.layers[1]);
    // The SBOM beside the output lists every added certificate's file, SHA1 and SHA256.
    let sbom: serde_json::Value =
        serde_json::from_slice(&fs_err::read(env.path("a.latest.spdx.json")).unwrap()).unwrap();
    let listed: Vec<String> = sbom["files"]
        .as_array()
        .expect("the SBOM lists files")
        .iter()
        .filter(|f| f["checksums"].as_array().is_some_and(|c| c.len() == 2))
        .map(|f| f["fileName"].as_str().unwrap_or_default().to_owned())
        .collect();
    for n in ["corp", "team-1", "team-2"] {
        let name = format!("./usr/local/share/ca-certificates/{n}.crt");
        assert!(listed.contains(&name), "{name} not in {listed:?}");
    }

    // Each level's layer: its own certificates, the whole bundle and store.
    assert!(lower.contains_key("usr/local/share/ca-certificates/corp.crt"));
    for n in ["team-1", "team-2"] {
        assert!(upper.contains_key(&format!("usr/local/share/ca-certificates/{n}.crt")));
    }
    let dir = env.path("");
    let leaf = make_leaf(&certs, "corp");
    for (layer, name) in [(lower, "lower"), (upper, "upper")] {
        let bundle = write_entry(
            &dir,
            &format!("{name}.crt"),
            &layer["etc/ssl/certs/ca-certificates.crt"],
        );
        assert!(tool("openssl", &["verify", "-CAfile", &bundle, &leaf]).contains(": OK"));
        let store = write_entry(
            &dir,
            &format!("{name}.jks"),
            &layer["etc/ssl/certs/java/cacerts"],
        );
        let list = tool(
            "keytool",
            &["-list", "-keystore", &store, "-storepass", "changeit"],
        );
        assert!(list.contains("compose:corp,"), "{list}");
        assert_eq!(list.contains("compose:team-2,"), name == "upper", "{list}");
    }
    // The team CA is trusted from the upper level only.
    let team_leaf = make_leaf(&certs, "team-b");
    let upper_bundle = dir.join("upper.crt");
    assert!(
        tool(
            "openssl",
            &[
                "verify",
                "-CAfile",
                upper_bundle.to_str().unwrap(),
                &team_leaf
            ]
        )
        .contains(": OK")
    );

    let text = |e: &TarEntry| String::from_utf8(e.data.clone()).unwrap();
    let passwd = text(&upper["etc/passwd"]);
    assert!(passwd.starts_with("root:x:0:0:"));
    assert!(passwd.ends_with(
        "app:x:10001:10001:app:/home/app:/sbin/nologin\nsvc:x:10002:10001:svc:/nonexistent:/sbin/nologin\n"
    ));
    assert!(text(&lower["etc/group"]).ends_with("nonroot:x:65532:\napp:x:10001:app\n"));
    let home = &lower["home/app"];
    assert_eq!((home.mode, home.uid, home.gid), (0o700, 10001, 10001));
    let data = &lower["var/lib/app/data"];
    assert_eq!((data.mode, data.uid, data.gid), (0o750, 10001, 10001));
    let parent = &lower["var/lib/app"];
    assert_eq!((parent.mode, parent.uid, parent.gid), (0o755, 0, 0));

    // The debug variant's layer adds none of it again.
    env.build(&top, "d", &["--variant", "debug"]).digest();
    let debug = crate::harness::read_image(&env.path("d"));
    assert_eq!(debug.layers.len(), 3);
    let added = debug.layers[2].keys().find(|p| {
        p.starts_with("usr/local/share/ca-certificates")
            || p.starts_with("etc/passwd")
            || p.starts_with("etc/ssl/certs/java")
    });
    assert_eq!(added, None);
    assert_eq!(debug.layer_digests[..2], img.layer_digests[..]);

    // The lock names each certificate file by its hash: a changed certificate makes it stale.
    env.lock(&top, &[]).success("compose");
    let lock = fs_err::read_to_string(top.with_extension("lock")).unwrap();
    assert!(lock.contains("\"certs/corp.pem\" = \"sha256:"), "{lock}");
    assert!(lock.contains("\"certs/team.pem\" = \"sha256:"), "{lock}");
    let check = || run(compose().args(["lock", "--check"]).arg(&top)).code;
    assert_eq!(check(), Some(0));
    make_ca(&certs, "corp");
    assert_ne!(check(), Some(0), "a new corp.pem leaves the lock stale");
    // And the layer cache (on, as for the first build) does not serve the old layer.
    assert_ne!(env.build(&top, "c", &[]).digest(), digest);
    let rebuilt = crate::harness::read_image(&env.path("c"));
    assert_ne!(
        rebuilt.layers[0]["etc/ssl/certs/ca-certificates.crt"].data,
        lower["etc/ssl/certs/ca-certificates.crt"].data
    );
}

#[test]
#[ignore = "needs openssl"]
fn bad_certificates_accounts_and_directories_are_refused() {
    require(&["openssl"]);
    let env = Env::new();
    let certs = env.path("certs");
    fs_err::create_dir_all(&certs).unwrap();
    make_ca(&certs, "corp");
    fs_err::write(certs.join("empty.pem"), "no certificate here\n").unwrap();
    let with_key = fs_err::read_to_string(certs.join("corp.pem")).unwrap()
        + &fs_err::read_to_string(certs.join("corp.key")).unwrap();
    fs_err::write(certs.join("withkey.pem"), with_key).unwrap();
    fs_err::copy(
        repo_root().join("tests/data/certs/expired.pem"),
        certs.join("old.pem"),
    )
    .unwrap();
    fs_err::create_dir_all(env.path("other")).unwrap();
    fs_err::copy(certs.join("corp.pem"), env.path("other/corp.pem")).unwrap();
    let pkgs = "[packages]\ninclude = [\"f-base-files\"]\n";
    for (body, needle) in [
        (
            "[certificates]\nadd = [\"certs/empty.pem\"]\n",
            "`certs/empty.pem`: holds no certificate",
        ),
        (
            "[certificates]\nadd = [\"certs/withkey.pem\"]\n",
            "`certs/withkey.pem`: holds a private key",
        ),
        (
            "[certificates]\nadd = [\"certs/old.pem\"]\n",
            "`certs/old.pem`: the certificate `CN=Expired Test CA` expired at 2020-02-01T00:00:00Z",
        ),
        (
            "[certificates]\nadd = [\"certs/missing.pem\"]\n",
            "missing.pem",
        ),
        (
            "[certificates]\nadd = [\"certs/corp.pem\", \"other/corp.pem\"]\n",
            "the name `corp` is already taken",
        ),
        (
            "[[accounts.users]]\nname = \"app\"\nuid = 65532\ngid = 0\n",
            "user `app` (uid 65532) clashes with user `nonroot` (65532) of the defaults",
        ),
        (
            "[[accounts.groups]]\nname = \"Bad\"\ngid = 7\n",
            "group name `Bad`",
        ),
        (
            "[[directories]]\npath = \"/var/../etc\"\n",
            "must be a plain absolute path",
        ),
        (
            "[[directories]]\npath = \"/x\"\nmode = \"999\"\n",
            "mode `999` must be octal",
        ),
    ] {
        let spec = env.spec("bad", &format!("{pkgs}{body}"));
        env.build(&spec, "out", &[]).fails_with(needle);
    }
    let spec = env.spec(
        "bad",
        &format!("{pkgs}[[directories]]\npath = \"/lib/app\"\n"),
    );
    env.build(&spec, "out", &[])
        .fails_with("directory `/lib/app`: `/lib` is a symlink in the image");
}
