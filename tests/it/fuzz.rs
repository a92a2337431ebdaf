//! Fuzzed parsers: property tests (proptest) that feed every parser of untrusted input with
//! the fixture's real files, mutated where their structure lives (headers, names, sizes,
//! armor, continuation lines, chunk boundaries), and with generated text. Each call must
//! return `Ok` or `Err`, never panic, and finish quickly.
//!
//! Bounded for CI: a fixed number of cases per property and a fixed RNG seed, so every run
//! tries the same inputs. For a longer local run: `PROPTEST_CASES=20000 PROPTEST_RNG_SEED=7
//! cargo test --test it fuzz::`. Failures are not persisted; a panicking input is written to
//! `target/tmp/fuzz-<property>.bin` (the last one written is the shrunk, minimal one).

mod changelog;
mod config;
mod deb;
mod installed;
mod layout;
mod repo;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

use crate::harness::repo_root;

/// The seed used unless `PROPTEST_RNG_SEED` says otherwise ("compose" in ASCII).
const SEED: u64 = 0x0063_6f6d_706f_7365;

/// One call taking longer than this is a failure (a hang or a quadratic blow-up): generous,
/// as CI runs unoptimized code on a shared machine.
const SLOW: Duration = Duration::from_secs(30);

/// proptest's configuration for a property: `cases` unless `PROPTEST_CASES` is set, the fixed
/// seed unless `PROPTEST_RNG_SEED` is set, no failure files in the source tree.
fn config(cases: u32) -> Config {
    let base = Config::default();
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        base.cases
    } else {
        cases
    };
    let rng_seed = match base.rng_seed {
        RngSeed::Random => RngSeed::Fixed(SEED),
        fixed => fixed,
    };
    Config {
        cases,
        rng_seed,
        failure_persistence: None,
        max_shrink_iters: 4096,
        max_shrink_time: 120_000,
        ..base
    }
}

/// Run `property` over `strategy` with `config(cases)`; panics with proptest's report (the
/// minimal failing input) when a case fails.
fn check<S: Strategy>(
    cases: u32,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut runner = TestRunner::new(config(cases));
    if let Err(e) = runner.run(&strategy, property) {
        panic!("{e}");
    }
}

/// Call `f`; a panic (or a call slower than `SLOW`) becomes a failed case naming `property`,
/// the panic message and the file where `input` was written.
fn no_panic<T>(property: &str, input: &[u8], f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    let start = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(f));
    let elapsed = start.elapsed();
    let problem = match &outcome {
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            format!("panicked: {message}")
        }
        Ok(_) if elapsed > SLOW => format!("took {elapsed:?}"),
        Ok(_) => String::new(),
    };
    if problem.is_empty() {
        return Ok(outcome.unwrap_or_else(|_| unreachable!()));
    }
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-{property}.bin"));
    let saved = match fs_err::write(&path, input) {
        Ok(()) => format!("input ({} bytes) in {}", input.len(), path.display()),
        Err(e) => format!("input not saved: {e}"),
    };
    Err(TestCaseError::fail(format!(
        "{property} {problem}; {saved}"
    )))
}

/// A fixture file's bytes (`rel` under the repository root).
fn fixture(rel: &str) -> Vec<u8> {
    fs_err::read(repo_root().join(rel)).unwrap()
}

/// A byte-level edit at a position chosen by an `Index`.
#[derive(Debug, Clone)]
enum ByteEdit {
    /// XOR the byte with a non-zero mask.
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, Vec<u8>),
    Delete(Index, u8),
    Truncate(Index),
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        (any::<Index>(), 1..=255u8).prop_map(|(i, m)| ByteEdit::Flip(i, m)),
        (any::<Index>(), interesting_byte()).prop_map(|(i, b)| ByteEdit::Set(i, b)),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| ByteEdit::Insert(i, b)),
        (any::<Index>(), 1..64u8).prop_map(|(i, n)| ByteEdit::Delete(i, n)),
        any::<Index>().prop_map(ByteEdit::Truncate),
    ]
}

fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(vec![
            0u8, 0x7f, 0x80, 0xff, b'0', b'7', b'8', b'9', b' ', b'\n', b'/', b'.', b'-'
        ]),
        any::<u8>(),
    ]
}

impl ByteEdit {
    /// Apply to `bytes`, positions within `range` (clamped to the buffer).
    fn apply_in(&self, bytes: &mut Vec<u8>, range: std::ops::Range<usize>) {
        let end = range.end.min(bytes.len());
        let start = range.start.min(end);
        let len = end - start;
        let at = |i: &Index| start + if len == 0 { 0 } else { i.index(len) };
        match self {
            ByteEdit::Flip(i, m) if len > 0 => bytes[at(i)] ^= m,
            ByteEdit::Set(i, b) if len > 0 => bytes[at(i)] = *b,
            ByteEdit::Insert(i, b) => {
                let p = at(i);
                bytes.splice(p..p, b.iter().copied());
            }
            ByteEdit::Delete(i, n) if len > 0 => {
                let p = at(i);
                bytes.drain(p..(p + *n as usize).min(bytes.len()));
            }
            ByteEdit::Truncate(i) => bytes.truncate(at(i)),
            _ => {}
        }
    }

    fn apply(&self, bytes: &mut Vec<u8>) {
        self.apply_in(bytes, 0..bytes.len());
    }
}
