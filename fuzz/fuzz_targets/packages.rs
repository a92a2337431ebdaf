//! A Packages index: decompressed by the first byte's choice (within 64 MiB), parsed,
//! relationships parsed (seeds: the fixture's Packages, Packages.gz, Packages.xz).
#![no_main]

use compose::repo::packages::{decompress, parse_packages};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((kind, body)) = data.split_first() else {
        return;
    };
    let name = match kind % 3 {
        0 => "Packages",
        1 => "Packages.gz",
        _ => "Packages.xz",
    };
    let Ok(text) = decompress(name, body, 64 << 20) else {
        return;
    };
    let text = String::from_utf8_lossy(&text);
    if let Ok(entries) = parse_packages(&text, 0) {
        for e in &entries {
            let _ = e.depends();
        }
    }
});
