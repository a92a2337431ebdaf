//! deb822 paragraphs and the Release parser (seeds: the fixture's Release files).
#![no_main]

use compose::repo::deb822::paragraphs;
use compose::repo::release::Release;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for p in paragraphs(&text) {
        for (name, _) in p.fields() {
            let _ = p.get(name);
        }
    }
    let _ = Release::parse(&text);
});
