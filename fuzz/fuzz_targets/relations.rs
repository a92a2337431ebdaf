//! Relationship fields and versions (seeds: `Depends` lines of the fixture).
#![no_main]

use compose::package::{Version, parse_provides, parse_relations};

libfuzzer_sys::fuzz_target!(|text: &str| {
    if let Ok(groups) = parse_relations(text) {
        for dep in groups.iter().flatten() {
            let _ = dep.to_string();
        }
    }
    let _ = parse_provides(text);
    let _ = text.parse::<Version>();
});
