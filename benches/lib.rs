//! Benchmarks live in `benches/*.rs` (run with `cargo bench`); this crate only hosts them.
