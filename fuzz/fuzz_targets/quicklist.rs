#![no_main]
//! The invariants are in `rdbkit_fuzz_checks::rdb::quicklist` (shared with the stable regression test);
//! see fuzz/README.md.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rdbkit_fuzz_checks::rdb::quicklist(data));
