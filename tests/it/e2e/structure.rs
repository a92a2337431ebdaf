//! The family's images read back: layers shared along the chains, files and config as
//! distroless has them, container-structure-test, SBOMs, what scanners read (md5sums,
//! copyrights, ScanCode), `compose why`, reproducibility.

use std::collections::BTreeMap;
use std::process::Command;

use super::{Built, ca_count, docker_archive, env_of, family, locked_python3, shared_cache, text};
use crate::harness::{TarEntry, compose, repo_root, require, run};
use crate::support::scancode;

#[test]
#[ignore = "needs the Debian archive (end to end)"]
fn layers_are_shared_along_the_chains() {
    let f = family();
    let img = |k: &str| &f.images[k].image;
    assert_eq!(img("static").layers.len(), 1);
    assert_eq!(
        img("python3").layers.len(),
        5,
        "static, base-nossl, base, cc, python3"
    );
    for (upper, lower) in [
        ("base-nossl", "static"),
        ("base", "base-nossl"),
        ("cc", "base"),
        ("python3", "cc"),
        ("nodejs", "cc"),
    ] {
        let n = img(lower).layer_digests.len();
        assert_eq!(
            img(upper).layer_digests[..n],
            img(lower).layer_digests[..],
            "{upper} shares {lower}'s layers"
        );
    }
    assert_eq!(
        img("python3-debug").layer_digests[..5],
        img("python3").layer_digests[..],
        "debug adds a layer on top"
    );
    assert_eq!(
        img("java21").layer_digests[..2],
        img("base-nossl").layer_digests[..]
    );
}

#[test]
#[ignore = "needs the Debian archive (end to end)"]
fn accounts_and_directories_are_distroless_s() {
    for (key, b) in &family().images {
        let fs = b.image.merged();
        assert!(
            text(&b.image, "etc/passwd")
                .contains("nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin"),
            "{key}"
        );
        // distroless's order (its tests compare the whole file).
        assert_eq!(
            text(&b.image, "etc/group"),
            "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n",
            "{key}"
        );
        assert_eq!(fs["tmp"].mode, 0o1777, "{key}");
        assert_eq!(
            (fs["home/nonroot"].uid, fs["home/nonroot"].mode),
            (65532, 0o700),
            "{key}"
        );
    }
}

/// os-release as distroless writes it, with the release the image carries.
#[test]
#[ignore = "needs the Debian archive (end to end)"]
fn os_release_names_the_release_of_the_image() {
    for (key, b) in &family().images {
        let release = match key.as_str() {
            "java11" => "11 (bullseye)",
            "java17" | "java17-debug-nonroot" | "python3-debian12" => "12 (bookworm)",
            _ => "13 (trixie)",
        };
        let os_release = text(&b.image, "usr/lib/os-release");
        let number = release.split(' ').next().unwrap();
        assert!(
            os_release.starts_with(&format!(
                "PRETTY_NAME=\"Distroless\"\nNAME=\"Debian GNU/Linux\"\nID=\"debian\"\nVERSION_ID=\"{number}\"\nVERSION=\"Debian GNU/Linux {release}\"\n"
            )),
            "{key}: {os_release}"
        );
        assert_eq!(
            b.image.merged()["etc/os-release"].link.as_deref(),
            Some("../usr/lib/os-release"),
            "{key}"
        );
    }
}

/// A layer carries a directory of a lower layer only as the lower layer has it.
#[test]
#[ignore = "needs the Debian archive (end to end)"]
fn an_upper_layer_never_rewrites_a_lower_layers_directory() {
    for (key, b) in &family().images {
        let mut below: BTreeMap<&str, &TarEntry> = BTreeMap::new();
        for layer in &b.image.layers {
            for (path, e) in layer {
                if let Some(l) = below.get(path.as_str())
                    && l.kind == tar::EntryType::Directory
                {
                    assert_eq!(
                        (e.kind, e.mode, e.uid, e.gid, e.mtime),
                        (l.kind, l.mode, l.uid, l.gid, l.mtime),
                        "{key}: /{path} re-written by an upper layer"
                    );
                }
            }
            below.extend(layer.iter().map(|(p, e)| (p.as_str(), e)));
        }
    }
}

#[test]
#[ignore = "needs the Debian archive (end to end)"]
fn system_files_are_in_place() {
    for (key, b) in &family().images {
        let fs = b.image.merged();
        // A partial package keeps its copyright (the C.UTF-8 locale of libc-bin).
        if fs.contains_key("var/lib/dpkg/status.d/libc-bin") {
            assert!(
                fs.contains_key("usr/share/doc/libc-bin/copyright"),
                "{key}: libc-bin's copyright"
            );
        }
        assert!(text(&b.image, "etc/nsswitch.conf").contains("hosts:          files dns"));
        assert!(
            text(&b.image, "etc/ssl/certs/ca-certificates.crt")
                .matches("BEGIN CERTIFICATE")
                .count()
                > 100,
            "{key}"
        );
        assert!(
            fs.contains_key("etc/services") && fs.contains_key("usr/share/zoneinfo/UTC"),
            "{key}"
        );
    }
}

/// Scanners see every package, with md5sums; derived files are attributed.
#[test]
#[ignore = "needs the Debian archive (end to end)"]
fn status_d_names_every_package_with_its_md5sums() {
    for (key, b) in &family().images {
        for p in b.report["packages"].as_array().unwrap() {
            let name = p["name"].as_str().unwrap();
            let stanza = text(&b.image, &format!("var/lib/dpkg/status.d/{name}"));
            assert!(
                stanza.contains(&format!("Package: {name}\n")),
                "{key}: {name}"
            );
        }
        assert!(
            text(&b.image, "var/lib/dpkg/status.d/ca-certificates.md5sums")
                .contains("etc/ssl/certs/ca-certificates.crt")
        );
        assert!(
            !b.image.merged().contains_key("var/lib/dpkg/status"),
            "{key}: distroless has only status.d"
        );
    }
}

/// Issue 23: every md5sums line of a file the image holds names its bytes (base-files'
/// rewritten os-release included); a line whose file `[paths]` left out stays.
#[test]
#[ignore = "needs the Debian archive (end to end)"]
fn md5sums_name_the_bytes_each_image_holds() {
    use md5::Digest as _;
    for (key, b) in &family().images {
        let fs = b.image.merged();
        let mut checked = 0;
        for (record, e) in &fs {
            if !(record.starts_with("var/lib/dpkg/status.d/") && record.ends_with(".md5sums")) {
                continue;
            }
            for line in String::from_utf8_lossy(&e.data).lines() {
                let (sum, listed) = line.split_once("  ").unwrap();
                let path = match listed.split_once('/') {
                    Some(("bin" | "sbin" | "lib" | "lib64", _)) => format!("usr/{listed}"),
                    _ => listed.to_owned(),
                };
                if let Some(data) = scancode::bytes(&fs, &path) {
                    assert_eq!(
                        hex::encode(md5::Md5::digest(data)),
                        sum,
                        "{key}: {record}: {path}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "{key}: only {checked} lines");
        let os_release = text(&b.image, "usr/lib/os-release");
        assert!(
            text(&b.image, "var/lib/dpkg/status.d/base-files.md5sums").contains(&format!(
                "{:x}  usr/lib/os-release\n",
                md5::Md5::digest(os_release.as_bytes())
            )),
            "{key}"
        );
    }
}

/// Issue 23: only each package's own copyright is kept (no nested `debian/copyright`), and
/// a doc directory that is a symlink to another package's stays, with that copyright.
#[test]
#[ignore = "needs the Debian archive (end to end)"]
fn only_own_copyrights_and_doc_links_to_them_are_kept() {
    for (key, b) in &family().images {
        let fs = b.image.merged();
        for (path, e) in fs.range("usr/share/doc/".to_owned()..) {
            let Some(rest) = path.strip_prefix("usr/share/doc/") else {
                break;
            };
            match rest.split('/').collect::<Vec<_>>()[..] {
                [_] | [_, "copyright"] => {}
                _ => panic!("{key}: /{path}"),
            }
            // A doc directory's symlink (`libstdc++6 -> gcc-14-base`) or a copyright's
            // (`node-acorn-bigint/copyright -> ../node-acorn/copyright`) leads to one.
            if e.kind == tar::EntryType::Symlink {
                let target = e.link.as_deref().unwrap();
                let dir = path.rsplit_once('/').unwrap().0;
                let mut at: Vec<&str> = dir.split('/').collect();
                for part in target.split('/') {
                    match part {
                        ".." => drop(at.pop()),
                        "." | "" => {}
                        p => at.push(p),
                    }
                }
                let mut led_to = at.join("/");
                if !led_to.ends_with("/copyright") {
                    led_to.push_str("/copyright");
                }
                assert!(
                    fs.get(&led_to)
                        .is_some_and(|c| c.kind == tar::EntryType::Regular),
                    "{key}: /{path} -> {target}: no /{led_to}"
                );
            }
        }
    }
    let links = |key: &str| -> Vec<(String, String)> {
        family().images[key]
            .image
            .merged()
            .into_iter()
            .filter(|(p, e)| p.starts_with("usr/share/doc/") && e.kind == tar::EntryType::Symlink)
            .map(|(p, e)| (p, e.link.unwrap()))
            .collect()
    };
    let link = |p: &str, t: &str| (format!("usr/share/doc/{p}"), t.to_owned());
    assert_eq!(
        links("python3"),
        [
            link("libgcc-s1", "gcc-14-base"),
            link("libgomp1", "gcc-14-base"),
            link("libncursesw6", "libtinfo6"),
            link("libpython3.13-stdlib", "libpython3.13-minimal"),
            link("libstdc++6", "gcc-14-base"),
        ]
    );
}

/// Issue 23: ScanCode (`--package --system-package`, distroless's `status.d`) sees every
/// package of the image with its exact version, and nothing else.
#[test]
#[ignore = "needs the Debian archive and scancode (end to end)"]
fn scancode_sees_exactly_the_packages_of_each_image() {
    let f = family();
    for key in ["base", "python3", "java21", "nodejs"] {
        let b = &f.images[key];
        let expected = b.report["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let field = |k: &str| p[k].as_str().unwrap().to_owned();
                (field("name"), field("version"))
            })
            .collect();
        let dir = f.work.join(format!("scancode-{key}"));
        scancode::assert_sees_exactly(&b.image.merged(), &dir, &expected, key);
        let _ = fs_err::remove_dir_all(&dir);
    }
}

/// No shell outside debug images; a busybox shell in them, and (issue 12) a runtime's debug
/// image starts the runtime, as distroless's do.
#[test]
#[ignore = "needs the Debian archive (end to end)"]
fn only_debug_images_have_a_shell() {
    for (key, b) in &family().images {
        let fs = b.image.merged();
        assert!(
            !(fs.contains_key("usr/bin/sh")
                || fs.contains_key("usr/bin/bash")
                || fs.contains_key("usr/bin/dash")),
            "{key} has a shell"
        );
        if !key.contains("debug") {
            assert!(!fs.keys().any(|k| k.starts_with("busybox")), "{key}");
            continue;
        }
        assert!(
            fs.contains_key("busybox/sh") && fs.contains_key("usr/bin/busybox"),
            "{key}"
        );
        let starts = &b.image.config["config"]["Entrypoint"];
        let want = if key.starts_with("python3") {
            serde_json::json!(["/usr/bin/python3.13"])
        } else if key.starts_with("java") {
            serde_json::json!(["/usr/bin/java", "-jar"])
        } else {
            serde_json::json!(["/busybox/sh"])
        };
        assert_eq!(starts, &want, "{key}");
        assert!(
            env_of(&b.image)
                .iter()
                .any(|e| e.starts_with("PATH=") && e.ends_with(":/busybox")),
            "{key}: busybox on the PATH"
        );
    }
}

#[test]
#[ignore = "needs the Debian archive (end to end)"]
fn the_environment_has_the_path_and_the_ca_bundle() {
    for (key, b) in &family().images {
        let env = env_of(&b.image);
        assert!(
            env.iter().any(|e| e.starts_with("PATH=/usr/local/sbin")),
            "{key}"
        );
        assert!(
            env.contains(&"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"),
            "{key}"
        );
    }
}

/// Issue 12: the variant decides the user, whatever the image (python3 and nodejs
/// included): root for latest and debug, 65532 for the nonroot ones.
#[test]
#[ignore = "needs the Debian archive (end to end)"]
fn the_variant_decides_the_user_and_workdir() {
    for (key, b) in &family().images {
        let cfg = &b.image.config["config"];
        let nonroot = key.contains("nonroot") || key == "java11";
        let (user, workdir) = if nonroot {
            ("65532", "/home/nonroot")
        } else {
            ("0", "/")
        };
        assert_eq!(cfg["User"], user, "{key}");
        assert_eq!(cfg["WorkingDir"], workdir, "{key}");
    }
}

#[test]
#[ignore = "needs the Debian archive (end to end)"]
fn java_images_carry_their_version_locale_fonts_and_keystore() {
    for (key, b) in family()
        .images
        .iter()
        .filter(|(k, _)| k.starts_with("java"))
    {
        let fs = b.image.merged();
        let env = env_of(&b.image);
        // The full version (`21.0.9`), compared with `java -version` in
        // `root::java_images_run_and_trust_the_ca_bundle`.
        let version = key.trim_start_matches("java").split('-').next().unwrap();
        let java_version = env
            .iter()
            .find_map(|e| e.strip_prefix("JAVA_VERSION="))
            .unwrap_or_else(|| panic!("{key}: no JAVA_VERSION"));
        assert!(
            java_version.starts_with(&format!("{version}."))
                && java_version.split('.').all(|n| n.parse::<u32>().is_ok()),
            "{key}: JAVA_VERSION={java_version}"
        );
        assert!(env.contains(&"LANG=C.UTF-8"), "{key}");
        assert!(
            fs.keys()
                .any(|k| k.starts_with("usr/lib/locale/C.") && k.ends_with("LC_CTYPE")),
            "{key}: C.UTF-8 locale"
        );
        assert!(
            fs.keys()
                .any(|k| k.starts_with("usr/share/fonts/truetype/dejavu/")),
            "{key}: fonts"
        );
        assert!(
            fs.contains_key("usr/bin/java") && fs["usr/bin/java"].kind == tar::EntryType::Symlink,
            "{key}"
        );
        assert_eq!(
            b.image.config["config"]["Entrypoint"],
            serde_json::json!(["/usr/bin/java", "-jar"]),
            "{key}"
        );
        // Debug images carry the JDK (`[debug] include`), the others no compiler.
        assert_eq!(
            fs.keys().any(|k| k.ends_with("/bin/javac")),
            key.contains("debug"),
            "{key}: javac"
        );
        let ks = &fs["etc/ssl/certs/java/cacerts"].data;
        assert_eq!(&ks[..4], &[0xFE, 0xED, 0xFE, 0xED], "{key}: JKS magic");
    }
}

#[test]
#[ignore = "needs the Debian archive (end to end)"]
fn python3_links_its_interpreter_and_ships_no_pyc() {
    for (key, b) in family()
        .images
        .iter()
        .filter(|(k, _)| k.starts_with("python3"))
    {
        let fs = b.image.merged();
        let python = if key == "python3-debian12" {
            "python3.11"
        } else {
            "python3.13"
        };
        assert_eq!(fs["usr/bin/python3"].link.as_deref(), Some(python), "{key}");
        assert!(
            !fs.keys().any(|k| k.ends_with(".pyc")),
            "{key}: no .pyc files"
        );
    }
}

/// The SBOM inside the image covers every level.
#[test]
#[ignore = "needs the Debian archive (end to end)"]
fn every_layer_carries_its_sbom() {
    for (key, b) in &family().images {
        let sboms = b
            .image
            .merged()
            .keys()
            .filter(|k| k.starts_with("usr/share/sbom/") && k.ends_with(".spdx.json"))
            .count();
        assert_eq!(sboms, b.image.layers.len(), "{key}: one SBOM per layer");
    }
}

/// container-structure-test on a docker-archive of each image (its `tar` driver).
#[test]
#[ignore = "needs the Debian archive and container-structure-test (end to end)"]
fn family_passes_container_structure_test() {
    require(&["container-structure-test"]);
    let f = family();
    // Every kind of image once (our own reader checks every image above); the Java images
    // share their structure, and CST's tar driver unpacks 200 MB per Java image.
    for key in [
        "static",
        "base-nossl",
        "base",
        "cc",
        "python3",
        "python3-debug",
        "nodejs",
        "java17",
        "java21-debug-nonroot",
    ] {
        let b = &f.images[key];
        let archive = docker_archive(key);
        let yaml = cst_config(key, b);
        let cfg_file = f.work.join(format!("{key}.cst.yaml"));
        fs_err::write(&cfg_file, &yaml).unwrap();
        let out = Command::new("container-structure-test")
            .args(["test", "--driver", "tar", "--image"])
            .arg(&archive)
            .arg("--config")
            .arg(&cfg_file)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{key}: container-structure-test failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("Failed:   0")
                || stdout.contains("FAIL: 0")
                || !stdout.contains("FAIL"),
            "{key}: {stdout}"
        );
    }
}

/// The container-structure-test config for image `key` of the family: the files and
/// metadata distroless's own tests check.
fn cst_config(key: &str, b: &Built) -> String {
    let debug = key.contains("debug");
    let mut yaml = String::from("schemaVersion: '2.0.0'\nfileExistenceTests:\n");
    let exist = |name: &str, path: &str, should: bool, extra: &str| {
        format!("- name: '{name}'\n  path: '{path}'\n  shouldExist: {should}\n{extra}")
    };
    yaml += &exist("tmp", "/tmp", true, "  permissions: 'dtrwxrwxrwx'\n");
    // Ownership is checked on our own reading of the layers: CST's tar driver cannot.
    yaml += &exist(
        "home",
        "/home/nonroot",
        true,
        "  permissions: 'drwx------'\n",
    );
    yaml += &exist("root home", "/root", true, "  permissions: 'drwx------'\n");
    yaml += &exist("ca bundle", "/etc/ssl/certs/ca-certificates.crt", true, "");
    yaml += &exist("os-release", "/etc/os-release", true, "");
    yaml += &exist("libc status", "/var/lib/dpkg/status.d/base-files", true, "");
    yaml += &exist("no shell", "/bin/sh", false, "");
    yaml += &exist("busybox shell", "/busybox/sh", debug, "");
    yaml += &exist("no dpkg status", "/var/lib/dpkg/status", false, "");
    yaml += "fileContentTests:\n";
    yaml += "- name: 'passwd'\n  path: '/etc/passwd'\n  expectedContents: ['root:x:0:0:root:/root:/sbin/nologin\\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\\n']\n";
    // As distroless's own tests (base/testdata/base.yaml, static/testdata/debian13.yaml).
    yaml += "- name: 'group'\n  path: '/etc/group'\n  expectedContents: ['^root:x:0:\\nnobody:x:65534:\\ntty:x:5:\\nstaff:x:50:\\nnonroot:x:65532:\\n$']\n";
    let version = if key.starts_with("java17") {
        "12 \\(bookworm\\)"
    } else {
        "13 \\(trixie\\)"
    };
    yaml += &format!(
        "- name: 'os-release'\n  path: '/etc/os-release'\n  expectedContents: ['PRETTY_NAME=\"Distroless\"', '.*\\nVERSION=\"Debian GNU/Linux {version}\"\\n']\n"
    );
    let cfg = &b.image.config["config"];
    yaml += "metadataTest:\n  envVars:\n  - key: 'SSL_CERT_FILE'\n    value: '/etc/ssl/certs/ca-certificates.crt'\n";
    yaml += &format!("  user: '{}'\n", cfg["User"].as_str().unwrap_or(""));
    if let Some(ep) = cfg["Entrypoint"].as_array() {
        let list: Vec<String> = ep
            .iter()
            .map(|v| format!("'{}'", v.as_str().unwrap()))
            .collect();
        yaml += &format!("  entrypoint: [{}]\n", list.join(", "));
    }
    yaml
}

#[test]
#[ignore = "needs the Debian archive, pyspdxtools and ntia-checker (end to end)"]
fn sboms_validate_and_name_every_package() {
    require(&["pyspdxtools", "ntia-checker"]);
    let f = family();
    for (key, b) in &f.images {
        let path = b.report["sbom"].as_str().unwrap();
        // The NTIA minimum elements (issue 15): the image's own package too.
        let ntia = Command::new("ntia-checker")
            .args(["-r", "json", path])
            .output()
            .unwrap();
        let ntia: serde_json::Value = serde_json::from_slice(&ntia.stdout).unwrap();
        assert_eq!(ntia["isNtiaConformant"], true, "{key}: {ntia:#}");
        let out = Command::new("pyspdxtools")
            .arg("-i")
            .arg(path)
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && !all.to_lowercase().contains("invalid"),
            "{key}: {all}"
        );
        let doc: serde_json::Value = serde_json::from_slice(&fs_err::read(path).unwrap()).unwrap();
        let n = b.report["packages"].as_array().unwrap().len();
        assert_eq!(
            doc["packages"].as_array().unwrap().len(),
            n + 1,
            "{key}: every package and the image"
        );
        let libc = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "libc6");
        if let Some(libc) = libc {
            let purl = libc["externalRefs"][0]["referenceLocator"]
                .as_str()
                .unwrap();
            assert!(
                purl.starts_with("pkg:deb/debian/libc6@") && purl.contains("arch=amd64"),
                "{purl}"
            );
            if !key.starts_with("java1") && !key.contains("-debian1") {
                // trixie's libc6 has a DEP-5 copyright file (bullseye's and bookworm's do not).
                assert_eq!(libc["licenseDeclared"], "LGPL-2.1-or-later", "{key}");
            }
            assert_eq!(
                libc["checksums"][0]["checksumValue"]
                    .as_str()
                    .unwrap()
                    .len(),
                64
            );
        }
    }
}

/// `compose why` explains a package, an excluded one and an absent one.
#[test]
#[ignore = "needs the Debian archive (end to end)"]
fn why_explains_a_package_an_excluded_one_and_an_absent_one() {
    family();
    let why = |pkg: &str| {
        run(compose()
            .current_dir(repo_root())
            .args(["why", "specs/python3.toml", pkg, "--cache-dir"])
            .arg(shared_cache()))
    };
    why("libzstd1")
        .success("compose why libzstd1")
        .stdout_has("layer `base`")
        .stdout_has("libzstd1 <- libssl3t64");
    why("debconf").stdout_has("excluded").stdout_has("tzdata");
    why("perl-base").stdout_has("no package of the image depends on it");
}

#[test]
#[ignore = "needs the Debian archive and skopeo (end to end)"]
fn builds_are_reproducible_across_machines_state() {
    require(&["skopeo"]);
    let f = family();
    // Another (cold) cache, cwd, TZ, umask, locale and --jobs 1: same digests.
    for key in ["python3", "java17"] {
        let b = &f.images[key];
        let other = tempfile::tempdir().unwrap();
        let again = f.work.join(format!("{key}-again"));
        let r = run(compose()
            .current_dir(other.path())
            .env("TZ", "America/St_Johns")
            .env("LC_ALL", "C.UTF-8")
            .umask(0o027)
            .arg("build")
            .arg(f.specs.join(format!("{key}.toml")))
            .args(["--jobs", "1", "--output"])
            .arg(format!("oci:{}:latest", again.display()))
            .arg("--cache-dir")
            .arg(other.path().join("cache")));
        assert_eq!(
            r.digest(),
            b.digest,
            "{key}: same bytes from another cache, cwd, TZ, umask, locale and --jobs"
        );
        // skopeo reads the layout and agrees on the digest.
        let o = Command::new("skopeo")
            .arg("inspect")
            .arg(format!("oci:{}:latest", again.display()))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "skopeo: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["Digest"].as_str(), Some(b.digest.as_str()));
    }
}

/// Issue 4: a lock, then a build from it gives the same digest as the resolved build (the
/// same without the network: `root::a_locked_build_without_network_reproduces_the_digest`).
#[test]
#[ignore = "needs the Debian archive (end to end)"]
fn a_locked_build_reproduces_the_resolved_digest() {
    let f = family();
    let online = run(compose()
        .args(["build", "--locked", "--cache-dir"])
        .arg(shared_cache())
        .arg("--output")
        .arg(format!("oci:{}", f.work.join("locked-online").display()))
        .arg(locked_python3()));
    assert_eq!(
        online.digest(),
        f.images["python3"].digest,
        "the lock reproduces the resolved build"
    );
}

/// keytool accepts the keystore compose wrote and counts every certificate of the bundle.
#[test]
#[ignore = "needs the Debian archive and keytool (end to end)"]
fn java_keystores_hold_every_certificate_of_the_bundle() {
    require(&["keytool"]);
    let f = family();
    for key in ["java21", "java17", "java11", "java21-debug-nonroot"] {
        let b = &f.images[key];
        let ks = f.work.join(format!("{key}.cacerts"));
        fs_err::write(&ks, &b.image.merged()["etc/ssl/certs/java/cacerts"].data).unwrap();
        let kt = Command::new("keytool")
            .args(["-list", "-storepass", "changeit", "-keystore"])
            .arg(&ks)
            .output()
            .unwrap();
        let kt_out = String::from_utf8_lossy(&kt.stdout);
        assert!(kt.status.success(), "keytool: {kt_out}");
        let bundle = ca_count(&b.image);
        assert!(
            kt_out.contains(&format!("Your keystore contains {bundle} entries")),
            "{key}: {kt_out}"
        );
    }
}
