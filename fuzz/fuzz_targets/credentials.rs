//! libFuzzer entry; the properties are in `fuzz/checks/credentials.rs`, which the test suite also
//! replays (tests/api/fuzz_smoke.rs).
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::credentials::check(data));
