//! Semantic invariants shared by the fuzz targets (`fuzz/`), the stable replay of every input
//! that ever crashed one (`tests/fuzz_regressions.rs`) and the property tests.
//!
//! Every check takes arbitrary bytes. Malformed input is fine (the decoders must just report
//! it); a check panics only when an invariant breaks: two readers disagree, an offset leaves
//! the input, skipping a value ends elsewhere than decoding it, a fixed AOF is not a valid
//! prefix of the damaged one, a re-encoded value decodes differently, and so on. The library
//! code itself must never panic, so any panic is a finding.

pub mod aof;
pub mod gen;
pub mod rdb;
pub mod rewrite;

/// A fuzz target's check.
pub type Check = fn(&[u8]);

/// Every fuzz target, by the name of its file in `fuzz/fuzz_targets/` and of its directory in
/// `fuzz/regressions/`.
pub const TARGETS: &[(&str, Check)] = &[
    ("rdb_file", rdb::file),
    ("rdb_value", rdb::value),
    ("listpack", rdb::listpack),
    ("ziplist", rdb::ziplist),
    ("zipmap", rdb::zipmap),
    ("intset", rdb::intset),
    ("stream_node", rdb::stream_node),
    ("quicklist", rdb::quicklist),
    ("module", rdb::module),
    ("lzf", rdb::lzf),
    ("encodings", rdb::encodings),
    ("rdb_rewrite", rewrite::rewrite),
    ("resp", aof::resp),
    ("aof_manifest", aof::manifest),
    ("aof_check", aof::check),
    ("aof_fix", aof::fix),
];

/// The check of target `name`, if there is one.
pub fn check_for(name: &str) -> Option<Check> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}
