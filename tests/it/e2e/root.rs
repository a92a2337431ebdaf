//! The images run for real as uid 65532 under umoci + runc, and a locked build with the
//! network cut off (`unshare --net`): all of it needs root, so `cargo xtask test` skips
//! this module by name when it does not run as root.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use super::{Built, PY_CHECK, ca_count, env_of, family, locked_python3, shared_cache, trust_class};
use crate::harness::{compose, require, run};

/// Unpack with umoci and run `args` with runc as `uid`; extra files are copied into the
/// rootfs first. Returns (exit code, stdout, stderr).
fn runc(
    b: &Built,
    name: &str,
    uid: u32,
    args: &[&str],
    files: &[(&Path, &str)],
) -> (i32, String, String) {
    static LOCK: Mutex<()> = Mutex::new(());
    let fam = family();
    let bundle = fam.work.join(format!("bundle-{name}"));
    let _ = fs_err::remove_dir_all(&bundle);
    let st = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{}", b.layout.display(), b.tag))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "umoci unpack: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    for (from, to) in files {
        let dest = bundle.join("rootfs").join(to.trim_start_matches('/'));
        fs_err::create_dir_all(dest.parent().unwrap()).unwrap();
        fs_err::copy(from, &dest).unwrap();
    }
    let cfg_path = bundle.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&fs_err::read(&cfg_path).unwrap()).unwrap();
    cfg["process"]["terminal"] = false.into();
    cfg["process"]["args"] = args.iter().map(|a| serde_json::Value::from(*a)).collect();
    cfg["process"]["user"] = serde_json::json!({"uid": uid, "gid": uid});
    fs_err::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new("runc")
        .arg("run")
        .arg("--bundle")
        .arg(&bundle)
        .arg(format!("compose-e2e-{name}-{}", std::process::id()))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run `args` in the image `key` as uid 65532 and assert it succeeds; returns stdout.
fn runs(key: &str, name: &str, args: &[&str], files: &[(&Path, &str)]) -> String {
    require(&["umoci", "runc"]);
    let (code, out, err) = runc(&family().images[key], name, 65532, args, files);
    assert_eq!(code, 0, "{key}: {args:?}:\nstdout: {out}\nstderr: {err}");
    out
}

#[test]
#[ignore = "needs the Debian archive, umoci, runc and root (end to end)"]
fn python3_runs_its_whole_stdlib_as_nonroot() {
    let out = runs("python3", "py", &["/usr/bin/python3", "-c", PY_CHECK], &[]);
    assert!(out.contains("python-ok"), "{out}");
}

#[test]
#[ignore = "needs the Debian archive, umoci, runc and root (end to end)"]
fn there_is_no_shell_to_run() {
    require(&["umoci", "runc"]);
    let b = &family().images["python3"];
    let (code, _, _) = runc(b, "py-sh", 65532, &["/bin/sh", "-c", "true"], &[]);
    assert_ne!(code, 0, "there is no shell to run");
}

/// Issue 12: Debian 12's python3 has distutils (python3-distutils, not the whole `python3`
/// package); issue 23: and no lib2to3, as distroless's (its `__main__` exits on import).
#[test]
#[ignore = "needs the Debian archive, umoci, runc and root (end to end)"]
fn python3_has_distutils_on_debian12() {
    let b = &family().images["python3-debian12"];
    let packages: Vec<&str> = b.report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(packages.contains(&"python3-distutils"), "{packages:?}");
    for p in [
        "python3",
        "python3.11",
        "python3-lib2to3",
        "dpkg",
        "readline-common",
    ] {
        assert!(!packages.contains(&p), "{p} is in python3-debian12");
    }
    let import = "import distutils.dist, distutils.util, distutils.core, distutils.command.build_py, importlib.util\n\
assert importlib.util.find_spec('lib2to3') is None\n\
print('distutils-ok', distutils.dist.Distribution().get_name())";
    let out = runs(
        "python3-debian12",
        "py12",
        &["/usr/bin/python3", "-c", import],
        &[],
    );
    assert!(out.contains("distutils-ok UNKNOWN"), "{out}");
}

#[test]
#[ignore = "needs the Debian archive, umoci, runc and root (end to end)"]
fn python3_debian12_runs_its_whole_stdlib() {
    let args = ["/usr/bin/python3", "-c", PY_CHECK];
    let out = runs("python3-debian12", "py12-all", &args, &[]);
    assert!(
        out.contains("python-ok") && out.contains("(3, 11)"),
        "{out}"
    );
    // distroless's own `import_everything`: every module and submodule; lib2to3's
    // `__main__` made it exit with status 2 (issue 23).
    let args = ["/usr/bin/python3", "-c", IMPORT_EVERYTHING];
    let out = runs("python3-debian12", "py12-every", &args, &[]);
    assert!(out.contains("imported-all"), "{out}");
}

/// distroless's python3 `import_everything` test: every module and submodule but its skip
/// list (Windows modules, the regression tests, modules that exit when imported, what Debian
/// does not install) and what `PY_CHECK` skips (GUI, `antigravity`, `this`).
const IMPORT_EVERYTHING: &str = r#"
import importlib, pkgutil
skip = {'asyncio.windows_events', 'asyncio.windows_utils', 'ctypes.wintypes', 'distutils._msvccompiler',
        'distutils.command.bdist_msi', 'distutils.msvc9compiler', 'encodings.cp65001', 'encodings.mbcs',
        'encodings.oem', 'multiprocessing.popen_spawn_win32', 'winreg', 'test', 'unittest.__main__',
        'venv.__main__', 'dbm.gnu', 'lib2to3.pgen2.conv', 'turtle', 'tkinter', 'turtledemo', 'idlelib',
        'antigravity', 'this', '__main__'}
failed = []
for m in pkgutil.walk_packages():
    if m.name in skip or m.name.split('.')[0] in skip:
        continue
    try:
        importlib.import_module(m.name)
    except Exception as e:
        failed.append((m.name, repr(e)))
assert not failed, failed
print('imported-all')
"#;

/// Issue 12: Debian 13's python3 has ensurepip and venv (python3.13-venv, as distroless's:
/// without pip's wheels, so `--without-pip`).
#[test]
#[ignore = "needs the Debian archive, umoci, runc and root (end to end)"]
fn python3_makes_a_venv_on_debian13() {
    let venv = "import ensurepip, venv, subprocess, sys\n\
venv.create('/tmp/v', with_pip=False)\n\
out = subprocess.run(['/tmp/v/bin/python', '-c', 'import sys; print(sys.prefix)'], capture_output=True, text=True, check=True).stdout\n\
assert out.strip() == '/tmp/v', out\n\
print('venv-ok', ensurepip.__name__)";
    let out = runs("python3", "py-venv", &["/usr/bin/python3", "-c", venv], &[]);
    assert!(out.contains("venv-ok ensurepip"), "{out}");
}

const JAVA_KEYS: [&str; 4] = ["java21", "java17", "java11", "java21-debug-nonroot"];

/// Issue 12: JAVA_VERSION is the version `java -version` prints (`openjdk version
/// "21.0.9"`), the one its build line starts with (`build 21.0.9+10-...`).
#[test]
#[ignore = "needs the Debian archive, umoci, runc and root (end to end)"]
fn java_version_is_the_configs_java_version() {
    require(&["umoci", "runc"]);
    for key in JAVA_KEYS {
        let b = &family().images[key];
        let name = format!("{key}-version");
        let (code, out, err) = runc(b, &name, 65532, &["/usr/bin/java", "-version"], &[]);
        assert_eq!(code, 0, "{key} java -version: {err}");
        let version = key.trim_start_matches("java").split('-').next().unwrap();
        assert!(
            err.contains(&format!("version \"{version}")),
            "{key}: {out}{err}"
        );
        let printed = err
            .split("version \"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("{key}: {err}"));
        let env = env_of(&b.image);
        assert!(
            env.contains(&format!("JAVA_VERSION={printed}").as_str()),
            "{key}: java -version says {printed}, the config {env:?}"
        );
        assert!(err.contains(&format!("(build {printed}+")), "{key}: {err}");
    }
}

/// A class compiled here runs on every Java image, trusts every CA of the bundle, speaks
/// UTF-8 and draws text with DejaVu Sans.
#[test]
#[ignore = "needs the Debian archive, javac, umoci, runc and root (end to end)"]
fn java_images_run_a_class_and_trust_the_ca_bundle() {
    let class = trust_class().join("Trust.class");
    for key in JAVA_KEYS {
        let args = ["/usr/bin/java", "-cp", "/app", "Trust"];
        let out = runs(
            key,
            &format!("{key}-trust"),
            &args,
            &[(&class, "/app/Trust.class")],
        );
        let bundle = ca_count(&family().images[key].image);
        assert!(out.contains(&format!("cas={bundle} ")), "{key}: {out}");
        assert!(
            out.contains("encoding=UTF-8") && out.contains("font=DejaVu Sans"),
            "{key}: {out}"
        );
    }
}

/// Issue 12: the Java debug image carries the JDK (`[debug] include`): its javac reports the
/// image's JAVA_VERSION, compiles a class in the image, and the JRE runs it.
#[test]
#[ignore = "needs the Debian archive, umoci, runc and root (end to end)"]
fn java_debug_image_compiles_with_its_jdk() {
    let f = family();
    let b = &f.images["java21-debug-nonroot"];
    let src = f.work.join("hello-src");
    fs_err::create_dir_all(&src).unwrap();
    let hello = src.join("Hello.java");
    fs_err::write(
        &hello,
        "public class Hello {\n    public static void main(String[] a) {\n        System.out.println(\"hello \" + Runtime.version().feature());\n    }\n}\n",
    )
    .unwrap();
    let java_version = env_of(&b.image)
        .iter()
        .find_map(|e| e.strip_prefix("JAVA_VERSION="))
        .unwrap()
        .to_owned();
    let jdk = "/usr/lib/jvm/java-21-openjdk-amd64/bin";
    let script = format!(
        "{jdk}/javac -version && {jdk}/javac -d /tmp/out /app/Hello.java && java -cp /tmp/out Hello"
    );
    let out = runs(
        "java21-debug-nonroot",
        "javac",
        &["/busybox/sh", "-c", &script],
        &[(&hello, "/app/Hello.java")],
    );
    assert!(out.contains(&format!("javac {java_version}\n")), "{out}");
    assert_eq!(out.lines().last(), Some("hello 21"), "{out}");
}

const NODE_JS: &str = "const c=require('crypto');console.log(c.createHash('sha256').update('x').digest('hex'), process.getuid())";

#[test]
#[ignore = "needs the Debian archive, umoci, runc and root (end to end)"]
fn nodejs_runs_as_nonroot() {
    let out = runs("nodejs", "node", &["/usr/bin/node", "-e", NODE_JS], &[]);
    assert_eq!(
        out.trim(),
        "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881 65532"
    );
}

/// distroless keeps node at /nodejs/bin/node: commands written for it run here too.
#[test]
#[ignore = "needs the Debian archive, umoci, runc and root (end to end)"]
fn nodejs_runs_from_distroless_s_path() {
    let args = ["/nodejs/bin/node", "-p", "process.version"];
    let out = runs("nodejs", "node-path", &args, &[]);
    assert!(out.trim().starts_with('v'), "{out}");
}

#[test]
#[ignore = "needs the Debian archive, umoci, runc and root (end to end)"]
fn debug_images_run_their_busybox_shell() {
    for key in ["python3-debug", "java21-debug-nonroot"] {
        let args = ["/busybox/sh", "-c", "echo ok; ls /busybox | wc -l"];
        let out = runs(key, key, &args, &[]);
        assert!(out.starts_with("ok\n"), "{key}: {out}");
    }
}

/// Issue 4: a build from the lock with the network really cut off (`unshare --net`) and a
/// warm cache gives the same digest as the resolved build.
#[test]
#[ignore = "needs the Debian archive, unshare and root (end to end)"]
fn a_locked_build_without_network_reproduces_the_digest() {
    require(&["unshare"]);
    let f = family();
    let spec = locked_python3();
    // Warm the cache with the locked packages first.
    run(compose()
        .args(["build", "--locked", "--cache-dir"])
        .arg(shared_cache())
        .arg("--output")
        .arg(format!("oci:{}", f.work.join("locked-warm").display()))
        .arg(spec))
    .success("the locked build");
    let offline = run(compose()
        .under(&["unshare", "--net", "--"])
        .args(["build", "--locked", "--offline", "--cache-dir"])
        .arg(shared_cache())
        .arg("--output")
        .arg(format!("oci:{}", f.work.join("locked-offline").display()))
        .arg(spec));
    assert_eq!(
        offline.digest(),
        f.images["python3"].digest,
        "no network, same bytes"
    );
}

/// Without the network and without `--offline` a build fails cleanly.
#[test]
#[ignore = "needs the Debian archive, unshare and root (end to end)"]
fn without_network_a_build_fails_cleanly() {
    require(&["unshare"]);
    let f = family();
    let r = run(compose()
        .under(&["unshare", "--net", "--"])
        .args(["build", "--locked", "--cache-dir"])
        .arg(f.work.join("empty-cache"))
        .arg("--output")
        .arg(format!("oci:{}", f.work.join("no-network").display()))
        .arg(locked_python3()));
    r.fails_with("download of");
}

/// Issue 15: `static` locked, vendored (`compose vendor`), then built from the vendored
/// directory alone with the network cut off and an empty cache: the family's digest.
#[test]
#[ignore = "needs the Debian archive, unshare and root (end to end)"]
fn a_vendored_build_without_network_reproduces_the_digest() {
    require(&["unshare"]);
    let f = family();
    // Its own copy, so that its lock changes no other test's build.
    let spec = f.work.join("vendored-spec/static.toml");
    fs_err::create_dir_all(spec.parent().unwrap()).unwrap();
    fs_err::copy(f.specs.join("static.toml"), &spec).unwrap();
    run(compose()
        .arg("lock")
        .arg(&spec)
        .arg("--cache-dir")
        .arg(shared_cache()))
    .success("compose lock static");
    let dir = f.work.join("vendored-static");
    run(compose()
        .arg("vendor")
        .arg(&spec)
        .arg(&dir)
        .arg("--cache-dir")
        .arg(shared_cache()))
    .success("compose vendor static");
    let offline = run(compose()
        .under(&["unshare", "--net", "--"])
        .arg("build")
        .arg(&spec)
        .arg("--vendor")
        .arg(&dir)
        .arg("--cache-dir")
        .arg(f.work.join("vendored-empty-cache"))
        .arg("--output")
        .arg(format!(
            "oci:{}",
            f.work.join("vendored-static-out").display()
        )));
    assert_eq!(
        offline.digest(),
        f.images["static"].digest,
        "from the vendored directory, no network: the same bytes"
    );
}
