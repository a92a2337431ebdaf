//! `deb::read` on arbitrary bytes, planned as the fixture's f-libc (seeds: the fixture's
//! `.deb`s; the others stop at the control check, which is fine for the ar and tar layers).
#![no_main]

use compose::deb::{Planned, read};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let planned = Planned {
        name: "f-libc",
        version: "1.0-1",
        architecture: "amd64",
    };
    let _ = read(&planned, data);
});
