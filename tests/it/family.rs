//! A family in one run (`compose build base.toml tool.toml awk.toml --output oci:DIR/{name}`):
//! each `.deb` is downloaded once, the shared lower layer is built once (layer cache or not),
//! each image is the one its spec makes alone, and one failing spec publishes nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use crate::fixture::Env;
use crate::harness::{Run, compose, read_image, run};

/// `fbase` (libc, base files, certificates) and two tops on it: `ftool` (the tool) and
/// `fawk` (an awk), in that order.
fn family(env: &Env) -> Vec<PathBuf> {
    let base = env.spec(
        "fbase",
        "[packages]\ninclude = [\"f-base-files\", \"f-libc\", \"f-ca-certificates\"]\n",
    );
    let top = |name: &str, package: &str| {
        let path = env.path(&format!("{name}.toml"));
        let text = format!(
            "name = \"{name}\"\nextends = \"fbase\"\n[packages]\ninclude = [\"{package}\"]\n"
        );
        fs_err::write(&path, text).unwrap();
        path
    };
    vec![base, top("ftool", "f-tool"), top("fawk", "f-mawk")]
}

/// `compose build SPECS... --output oci:<work>/<out>/{name} [extra]`.
fn build_family(env: &Env, specs: &[PathBuf], out: &str, extra: &[&str]) -> Run {
    run(compose()
        .arg("build")
        .args(specs)
        .arg("--output")
        .arg(format!("oci:{}/{{name}}", env.path(out).display()))
        .arg("--cache-dir")
        .arg(env.path("cache"))
        .arg("--mirror")
        .arg(format!("fixture={}", env.server.url()))
        .args(extra))
}

/// How many times each `.deb` was asked of the server.
fn debs_asked(env: &Env) -> BTreeMap<String, usize> {
    let mut asked = BTreeMap::new();
    for path in env.server.requests() {
        if path.ends_with(".deb") {
            *asked.entry(path).or_insert(0) += 1;
        }
    }
    asked
}

fn layer_field(report: &Value, field: &str) -> Vec<Value> {
    report["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l[field].clone())
        .collect()
}

/// The `--json` array: one object per spec, in order, each with the name and digest.
fn family_reports(run: &Run, names: &[&str]) -> Vec<Value> {
    let all = run.json();
    let all = all.as_array().expect("several specs print a JSON array");
    let got: Vec<&str> = all.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(got, names);
    for r in all {
        assert!(r["digest"].as_str().unwrap().starts_with("sha256:"));
    }
    all.clone()
}

/// The family shares its lower layer: the same digest in every image; the first image built
/// it and the others took it (`cached`), each top built its own.
fn assert_shared_lower_layer(reports: &[Value]) {
    let lower = layer_field(&reports[0], "digest")[0].clone();
    assert_eq!(layer_field(&reports[0], "cached"), [false]);
    for top in &reports[1..] {
        assert_eq!(layer_field(top, "digest")[0], lower, "{}", top["name"]);
        assert_eq!(layer_field(top, "cached"), [true, false], "{}", top["name"]);
    }
}

#[test]
fn a_family_downloads_each_deb_once_and_builds_the_shared_layer_once() {
    let env = Env::new();
    let specs = family(&env);
    let together = build_family(&env, &specs, "out", &["--json"]);
    let reports = family_reports(&together, &["fbase", "ftool", "fawk"]);
    let asked = debs_asked(&env);
    assert!(asked.len() >= 5, "{asked:?}");
    assert!(asked.values().all(|n| *n == 1), "each .deb once: {asked:?}");
    assert_shared_lower_layer(&reports);
    // Every image is in its own layout, the one its report names.
    for (r, name) in reports.iter().zip(["fbase", "ftool", "fawk"]) {
        let layout = env.path(&format!("out/{name}"));
        assert_eq!(read_image(&layout).manifest_digest, r["digest"]);
        assert_eq!(r["output"], format!("oci:{}:latest", layout.display()));
    }

    // Without the layer cache, the run still builds the lower layer once.
    let uncached = build_family(&env, &specs, "nocache", &["--json", "--no-layer-cache"]);
    let uncached = family_reports(&uncached, &["fbase", "ftool", "fawk"]);
    assert_shared_lower_layer(&uncached);
    // And each image is the one its spec makes alone.
    for (i, spec) in specs.iter().enumerate() {
        assert_eq!(uncached[i]["digest"], reports[i]["digest"]);
        let out = format!("alone-{i}");
        let alone = env.build(spec, &out, &["--no-layer-cache"]).digest();
        assert_eq!(alone, reports[i]["digest"].as_str().unwrap(), "{spec:?}");
    }
}

#[test]
fn a_family_prints_one_line_per_image_in_the_order_given() {
    let env = Env::new();
    let specs = family(&env);
    let order = [specs[2].clone(), specs[0].clone(), specs[1].clone()];
    let r = build_family(&env, &order, "out", &[]);
    r.success("compose build");
    let lines: Vec<(&str, &str)> = r
        .stdout
        .lines()
        .map(|l| l.split_once("  ").expect("`<digest>  <name>`"))
        .collect();
    let names: Vec<&str> = lines.iter().map(|(_, n)| *n).collect();
    assert_eq!(names, ["fawk", "fbase", "ftool"]);
    for (digest, name) in lines {
        let layout = env.path(&format!("out/{name}"));
        assert_eq!(read_image(&layout).manifest_digest, digest);
    }
    // One spec: the digest alone, and `{name}` works there too.
    let one = build_family(&env, &specs[..1], "one", &[]).digest();
    assert_eq!(read_image(&env.path("one/fbase")).manifest_digest, one);
}

#[test]
fn several_specs_need_name_in_every_output_and_distinct_names() {
    let env = Env::new();
    let specs = family(&env);
    let r = env.build_to(
        &specs[0],
        &[format!("oci:{}", env.path("same").display())],
        &[specs[1].to_str().unwrap()],
    );
    r.fails_with("has no `{name}`, and the build has 2 specs");
    r.stderr_has("hint: ");
    assert_eq!(
        r.stderr.lines().filter(|l| l.starts_with("error")).count(),
        1
    );

    // A copy of `ftool` under another file name: two specs of one name.
    let twin = env.path("twin.toml");
    fs_err::copy(&specs[1], &twin).unwrap();
    let r = build_family(&env, &[specs[1].clone(), twin.clone()], "out", &[]);
    r.fails_with("both make image `ftool`");
    r.stderr_has(&specs[1].display().to_string());
    r.stderr_has(&twin.display().to_string());
    assert!(debs_asked(&env).is_empty(), "nothing downloaded");
    assert!(!env.path("out").exists() && !env.path("same").exists());
}

fn nothing_published(env: &Env, out: &str) {
    let dir = env.path(out);
    let left: Vec<_> = match fs_err::read_dir(&dir) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name()).collect(),
        Err(_) => Vec::new(),
    };
    assert!(left.is_empty(), "{}: {left:?}", dir.display());
}

#[test]
fn a_failing_spec_publishes_nothing() {
    let env = Env::new();
    let specs = family(&env);
    // Fails at build time, after the images before it are built: its env names a package
    // the image does not have.
    let bad = env.path("fbad.toml");
    fs_err::write(
        &bad,
        "name = \"fbad\"\nextends = \"fbase\"\n[packages]\ninclude = [\"f-mawk\"]\n[config]\nenv = { V = \"{version:f-jdk}\" }\n",
    )
    .unwrap();
    let r = build_family(&env, &[specs[0].clone(), specs[1].clone(), bad], "out", &[]);
    r.fails_with("names package `f-jdk`, which is not in the image");
    assert!(
        !debs_asked(&env).is_empty(),
        "it failed building, not planning"
    );
    nothing_published(&env, "out");

    // Refused before any spec is planned: not even an index is downloaded for the first.
    let env = Env::new();
    let specs = family(&env);
    let two = env.spec_top(
        "ftwo",
        "platforms = [\"linux/amd64\", \"linux/arm64\"]\n",
        "[packages]\ninclude = [\"f-libc\"]\n",
    );
    let r = run(compose()
        .arg("build")
        .args([&specs[0], &two])
        .arg("--output")
        .arg(format!(
            "docker-archive:{}/{{name}}.tar",
            env.path("out").display()
        ))
        .arg("--cache-dir")
        .arg(env.path("cache"))
        .arg("--mirror")
        .arg(format!("fixture={}", env.server.url())));
    r.fails_with("can hold one platform, and the build has 2");
    assert_eq!(env.server.requests(), Vec::<String>::new());
    nothing_published(&env, "out");

    // Fails when planned: nothing is downloaded at all.
    let env = Env::new();
    let specs = family(&env);
    let absent = env.spec("fabsent", "[packages]\ninclude = [\"f-absent\"]\n");
    let r = build_family(&env, &[specs[0].clone(), absent], "out", &[]);
    r.fails_with("f-absent");
    assert!(debs_asked(&env).is_empty(), "{:?}", debs_asked(&env));
    nothing_published(&env, "out");
}
