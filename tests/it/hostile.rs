//! Checks of the hostile repository builder itself (`support::hostile`): each key variant is
//! what gpg itself calls it, and an honest package from such a repository builds. The tests
//! of compose's refusals live in `hostile_*` modules.

use std::process::Command;

use crate::harness::{compose, read_image, run};
use crate::support::hostile::{
    self, DebBuilder, Key, KeyKind, Package, ReleaseOpts, Repo, TarBuilder,
};
use crate::support::server::Server;

/// gpg's `--status-fd` verdict on the InRelease of `repo` against `key`'s exported keyring.
fn gpg_verdict(repo: &Repo, key: &Key) -> String {
    crate::harness::require(&["gpgv"]);
    let home = tempfile::tempdir().unwrap();
    let inrelease = repo
        .root()
        .join("dists")
        .join(hostile::SUITE)
        .join("InRelease");
    let out = Command::new("gpgv")
        .env("GNUPGHOME", home.path())
        .args(["--status-fd", "1", "--keyring"])
        .arg(&key.keyring)
        .arg(&inrelease)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs gpg and gpgv (the hostile repository is signed at test time)"]
fn key_variants_are_what_gpg_says() {
    let cases = [
        (KeyKind::Good, None, "GOODSIG"),
        (KeyKind::Expired, None, "EXPKEYSIG"),
        (KeyKind::Revoked, None, "REVKEYSIG"),
        (KeyKind::SubkeyExpired, None, "EXPKEYSIG"),
        (KeyKind::SubkeyRevoked, None, "REVKEYSIG"),
        (KeyKind::Rsa, Some("SHA1"), "GOODSIG"),
    ];
    for (kind, digest, status) in cases {
        let key = Key::generate(kind);
        let repo = Repo::new();
        repo.publish(
            &key,
            &ReleaseOpts {
                digest,
                ..ReleaseOpts::default()
            },
        );
        let verdict = gpg_verdict(&repo, &key);
        assert!(verdict.contains(status), "{kind:?}: {verdict}");
        if digest == Some("SHA1") {
            // VALIDSIG's 8th field is the hash algorithm: 2 is SHA-1.
            let valid = verdict.lines().find(|l| l.contains("VALIDSIG")).unwrap();
            assert_eq!(valid.split(' ').nth(9), Some("2"), "{valid}");
        }
    }
}

#[test]
#[ignore = "needs gpg (the hostile repository is signed at test time)"]
fn an_honest_package_from_a_hostile_repository_builds() {
    let key = Key::generate(KeyKind::Good);
    let mut repo = Repo::new();
    let data = TarBuilder::new()
        .dir("./")
        .dir("./usr/")
        .dir("./usr/share/")
        .file("./usr/share/honest.txt", b"hello\n")
        .finish();
    repo.add(Package::new(
        "honest",
        "1.0",
        DebBuilder::new("honest", "1.0", 1).data(data).build(),
    ));
    repo.publish(&key, &ReleaseOpts::default());
    let server = Server::start(repo.root());
    let work = tempfile::tempdir().unwrap();
    let spec = Repo::spec(
        work.path(),
        "honest",
        &key,
        "[packages]\ninclude = [\"honest\"]\n",
    );
    let out = work.path().join("img");
    run(compose()
        .arg("build")
        .arg(&spec)
        .arg("--output")
        .arg(format!("oci:{}", out.display()))
        .arg("--cache-dir")
        .arg(work.path().join("cache"))
        .arg("--mirror")
        .arg(format!("hostile={}", server.url())))
    .digest();
    let fs = read_image(&out).merged();
    assert_eq!(fs["usr/share/honest.txt"].data, b"hello\n");
}
