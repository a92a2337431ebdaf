//! Issue 16 on the real archive: a spec on top of `java-base` adds a made-up CA; `keytool`
//! lists it in the image's Java trust store beside Debian's, and `openssl verify` accepts a
//! leaf it signed against the image's CA bundle.

use super::{ca_count, shared_cache, specs_without_locks};
use crate::harness::{compose, read_image, require, run, tool};
use crate::inhouse::{make_ca, make_leaf};

#[test]
#[ignore = "needs the Debian archive (end to end), openssl and keytool"]
fn an_added_ca_joins_debians_in_the_bundle_and_the_java_trust_store() {
    require(&["openssl", "keytool"]);
    let dir = tempfile::tempdir().unwrap();
    let specs = specs_without_locks(dir.path());
    make_ca(&specs, "corp");
    let spec = specs.join("corp-java.toml");
    fs_err::write(
        &spec,
        "name = \"corp-java\"\nextends = \"java-base\"\n[certificates]\nadd = [\"corp.pem\"]\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    run(compose()
        .arg("build")
        .arg(&spec)
        .arg("--output")
        .arg(format!("oci:{}", out.display()))
        .arg("--cache-dir")
        .arg(shared_cache()))
    .digest();
    let img = read_image(&out);
    let top = img.layers.last().unwrap();
    let write = |path: &str, name: &str| {
        let p = dir.path().join(name);
        fs_err::write(&p, &top[path].data).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let store = write("etc/ssl/certs/java/cacerts", "cacerts");
    let list = tool(
        "keytool",
        &["-list", "-keystore", &store, "-storepass", "changeit"],
    );
    assert!(list.contains("compose:corp,"), "{list}");
    assert!(list.contains("debian:"), "Debian's stay: {list}");
    let bundle = write("etc/ssl/certs/ca-certificates.crt", "bundle.crt");
    let leaf = make_leaf(&specs, "corp");
    assert!(tool("openssl", &["verify", "-CAfile", &bundle, &leaf]).contains(": OK"));
    // Debian's certificates first, then the added one.
    assert!(ca_count(&img) > 100);
    let corp = fs_err::read_to_string(specs.join("corp.pem")).unwrap();
    let text = String::from_utf8(top["etc/ssl/certs/ca-certificates.crt"].data.clone()).unwrap();
    assert!(text.ends_with(&corp), "the added CA comes last");
}
