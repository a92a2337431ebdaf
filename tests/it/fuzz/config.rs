//! The files compose reads from its user: specs (TOML, `extends` chains), locks and output
//! destinations. Trusted, but a typo must give an error, never a panic.

use compose::lock::Lock;
use compose::publish::Destination;
use compose::spec::Spec;
use proptest::prelude::*;

use super::repo::{TextEdit, text_edit};
use super::{check, fixture, no_panic};
use crate::harness::repo_root;

/// Specs and locks of `specs/` (the mutation seeds), smallest first.
fn seeds(ext: &str) -> Vec<String> {
    let mut out: Vec<(u64, String)> = fs_err::read_dir(repo_root().join("specs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .map(|p| {
            let size = p.metadata().unwrap().len();
            (size, p.file_name().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, n)| n).collect()
}

/// TOML-level pieces: quotes, brackets, tables, dotted keys, odd numbers and strings.
const TOML: &[&str] = &[
    "\"",
    "'",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "=",
    "\n",
    "[packages]\n",
    "[[source]]\n",
    "include = [\"\u{e9}\"]\n",
    "version = 99999999999999999999\n",
    "version = -1\n",
    "a.b.c = 1\n",
    "x = 1979-05-27T07:32:00Z\n",
    "x = inf\n",
    "x = \"\"\"\n",
    "\\u{d800}",
    "name = \"\"\n",
    "extends = \"../../x\"\n",
    "extends = \"\"\n",
    "platforms = [\"\"]\n",
    "platforms = [\"linux/amd64/v9\"]\n",
    "layers = []\n",
    "sha256 = \"\"\n",
    "version = \"1:\"\n",
];

fn toml_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => text_edit().prop_map(Edit::Text),
        2 => (any::<proptest::sample::Index>(), prop::sample::select(TOML))
            .prop_map(|(i, t)| Edit::Toml(i, t)),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    Text(TextEdit),
    /// Insert a TOML piece at a line start.
    Toml(proptest::sample::Index, &'static str),
}

impl Edit {
    fn apply(&self, bytes: &mut Vec<u8>) {
        match self {
            Edit::Text(e) => e.apply(bytes),
            Edit::Toml(i, t) => {
                let starts = super::repo::line_starts(bytes);
                let at = *i.get(&starts);
                bytes.splice(at..at, t.bytes());
            }
        }
    }
}

#[test]
fn specs_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let specs = seeds("toml");
    for s in &specs {
        fs_err::write(dir.path().join(s), fixture(&format!("specs/{s}"))).unwrap();
    }
    let edits = prop::collection::vec(toml_edit(), 1..4);
    check(128, (0..specs.len(), edits), |(seed, edits)| {
        let path = dir.path().join(&specs[seed]);
        let original = fixture(&format!("specs/{}", specs[seed]));
        let mut bytes = original.clone();
        for e in &edits {
            e.apply(&mut bytes);
        }
        fs_err::write(&path, &bytes).unwrap();
        let outcome = no_panic("spec", &bytes, || Spec::load(&path).map(|c| c.len()));
        fs_err::write(&path, &original).unwrap();
        outcome.map(drop)
    });
}

#[test]
fn locks_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    // The smaller locks: parsing a 30 KB lock 100 times is slow in a debug build.
    let locks: Vec<String> = seeds("lock").into_iter().take(6).collect();
    let edits = prop::collection::vec(toml_edit(), 1..4);
    check(128, (0..locks.len(), edits), |(seed, edits)| {
        let mut bytes = fixture(&format!("specs/{}", locks[seed]));
        for e in &edits {
            e.apply(&mut bytes);
        }
        let path = dir.path().join("x.lock");
        fs_err::write(&path, &bytes).unwrap();
        no_panic("lock", &bytes, || {
            if let Ok(lock) = Lock::read(&path) {
                let _ = compose::lock::diff(&lock, &lock);
                let _ = lock.to_toml();
            }
        })
    });
}

#[test]
fn destinations_never_panic() {
    let text = prop_oneof![
        "(oci|oci-archive|docker-archive|docker)?:?[a-z0-9./:@_-]{0,30}",
        "docker://[a-zA-Z0-9./:@_\u{e9}-]{0,40}",
        "\\PC{0,30}",
    ];
    check(512, text, |text| {
        no_panic("destination", text.as_bytes(), || {
            if let Ok(d) = Destination::parse(&text) {
                let _ = d.to_string();
            }
        })
    });
}

/// What a registry answers (`WWW-Authenticate`, token JSON) and references typed by the user.
#[test]
fn registry_answers_never_panic() {
    use compose::registry::auth::{parse_challenge, token_from_response};
    let challenge = prop_oneof![
        "(Basic|Bearer|bearer|BEARER|Digest)? ?((realm|service|scope|x)=(\"[^\"]{0,8}\"?|[a-z:/.,]{0,8}),? ?){0,4}",
        "[Bb]earer [\\\\\"=, a-z\u{e9}]{0,30}",
        "\\PC{0,40}",
    ];
    let token = prop_oneof![
        "\\{\"(token|access_token)\": ?(\"[^\"]{0,8}\"|[0-9]{1,3}|null|\\[\\]|\\{\\})\\}",
        "\\PC{0,20}",
    ];
    let reference = "[a-z0-9.:/@_-]{0,30}|\\PC{0,20}";
    check(512, (challenge, token, reference), |(c, t, r)| {
        no_panic("registry", c.as_bytes(), || {
            let _ = parse_challenge(&c);
            let _ = token_from_response(t.as_bytes());
            let _ = compose::reference::Reference::parse(&r);
            let _ = compose::registry::auth::Credentials::parse(&r);
        })
    });
}
