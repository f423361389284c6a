//! Test support shared by rdbkit's tests, benches and fuzz checks (not published).
//!
//! [`corpus_dir`] is the one locator of the shared corpus of files written by real Redis and
//! Valkey servers (`rdb/`, `aof/`, each with a README and the servers' ground truth):
//!
//! 1. `$RDBKIT_CORPUS` when set;
//! 2. else `../shared/corpus` beside the workspace (the checkout's parent directory).
//!
//! A corpus is a directory holding `rdb/README.md`. Without one a test is skipped with a
//! message on stderr; with `CI=true` its absence is a failure (a panic naming the path), so CI
//! never passes by skipping.
//!
//! [`visit::Recorder`] is the value-recording visitor (tests, fuzz checks), [`rdb`] the
//! hand-written test RDB files.

#![deny(missing_docs)]

pub mod rdb;
pub mod visit;

use std::path::{Path, PathBuf};

/// The workspace root (the directory of the top `Cargo.toml`).
pub fn workspace_dir() -> PathBuf {
    // This crate lives at `<workspace>/crates/rdbkit-testkit`.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the corpus is looked for: `$RDBKIT_CORPUS`, else `../shared/corpus` beside the
/// workspace.
pub fn corpus_location() -> PathBuf {
    match std::env::var_os("RDBKIT_CORPUS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_dir().join("../shared/corpus"),
    }
}

/// Whether the tests run under CI (`CI=true`): what they need must be there.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// The shared corpus, or `None` when it is missing (the caller skips its test; a message
/// says so on stderr). Under `CI=true` a missing corpus panics instead.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = corpus_location();
    if dir.join("rdb/README.md").is_file() {
        return Some(dir);
    }
    if in_ci() {
        panic!(
            "CI=true but the corpus is missing at {} (set RDBKIT_CORPUS)",
            dir.display()
        );
    }
    eprintln!(
        "SKIPPED: no corpus at {} (set RDBKIT_CORPUS)",
        dir.display()
    );
    None
}

/// `sub` of the shared corpus (`"rdb"`, `"aof"`), or `None` as [`corpus_dir`] says.
pub fn corpus_subdir(sub: &str) -> Option<PathBuf> {
    corpus_dir().map(|d| d.join(sub))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_corpus_where_the_workspace_keeps_it() {
        // Locally the corpus may be absent (then `None`, and CI=true panics instead).
        if let Some(d) = corpus_dir() {
            assert!(d.join("rdb/README.md").is_file());
            assert!(d.join("aof").is_dir());
        }
        assert!(workspace_dir().join("Cargo.toml").is_file());
    }
}
