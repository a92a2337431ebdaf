//! The InRelease reader with the fixture's key (seeds: the fixture's InRelease files).
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use compose::repo::keyring::Keyring;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    static RING: OnceLock<Keyring> = OnceLock::new();
    let ring = RING.get_or_init(|| {
        let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/keys/fixture-archive.gpg");
        Keyring::from_files(&[&key]).unwrap()
    });
    if let Ok(text) = ring.verify_inrelease(data, 1_700_000_000) {
        if let Ok(r) = compose::repo::release::Release::parse(&text) {
            let _ = r.date.as_deref().map(compose::repo::release::parse_date);
        }
    }
});
