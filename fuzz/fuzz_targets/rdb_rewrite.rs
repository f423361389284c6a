#![no_main]
//! Decode any input, re-encode what decodes for every target, decode again: equal. The
//! invariants are in `rdbkit_fuzz_checks::rewrite::rewrite`; see fuzz/README.md.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rdbkit_fuzz_checks::rewrite::rewrite(data));
