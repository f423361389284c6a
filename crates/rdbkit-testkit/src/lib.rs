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
//! hand-written test RDB files; [`sorted_subdirs`], [`files_under`] walk the corpus in a stable
//! order and [`json_bytes`] reads a byte string of its ground truth.

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

/// The subdirectories of `dir` (a corpus's version directories), sorted.
pub fn sorted_subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

/// Every file below `dir` (recursively) whose extension is `ext`, in sorted path order (a
/// directory's entries sorted, each subdirectory where its name sorts).
pub fn files_under(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    let mut out = Vec::new();
    for p in entries {
        if p.is_dir() {
            out.extend(files_under(&p, ext));
        } else if p.extension().is_some_and(|e| e == ext) {
            out.push(p);
        }
    }
    out
}

/// A byte string of the corpus's ground truth: a JSON string (its UTF-8 bytes), or
/// `{"base64": ...}` for bytes that are not UTF-8. Anything else panics, naming it.
pub fn json_bytes(v: &serde_json::Value) -> Vec<u8> {
    match v {
        serde_json::Value::String(s) => s.as_bytes().to_vec(),
        serde_json::Value::Object(o) => base64(o["base64"].as_str().expect("a base64 string")),
        other => panic!("not a byte string: {other}"),
    }
}

/// Standard base64 (padding optional) decoded; a character outside the alphabet panics.
pub fn base64(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = A.iter().position(|&a| a == c).expect("base64 digit") as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
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

    #[test]
    fn ground_truth_bytes() {
        assert_eq!(base64("aGVsbG8gd29ybGQ="), b"hello world");
        assert_eq!(base64("AP8"), [0, 255]);
        let j: serde_json::Value =
            serde_json::from_str(r#"["k\u00e9", {"base64": "AAH/"}]"#).unwrap();
        assert_eq!(json_bytes(&j[0]), "k\u{e9}".as_bytes());
        assert_eq!(json_bytes(&j[1]), [0, 1, 255]);
    }

    #[test]
    fn walks_in_sorted_order() {
        let crates = workspace_dir().join("crates");
        let dirs = sorted_subdirs(&crates);
        assert!(dirs.windows(2).all(|w| w[0] < w[1]));
        assert!(dirs.contains(&crates.join("rdbkit-testkit")));
        let rs = files_under(&crates.join("rdbkit-testkit"), "rs");
        assert!(rs.contains(&crates.join("rdbkit-testkit/src/lib.rs")));
        assert!(rs.iter().all(|p| p.extension().unwrap() == "rs"));
    }
}
