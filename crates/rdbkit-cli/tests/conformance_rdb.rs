//! Runs the shared conformance scoreboard (`shared/tools/conformance`) against this build for
//! RDB files: every real-server RDB must dump exactly as its ground truth and pass `check`,
//! every damaged copy must be rejected cleanly, and every third-party RDB row must be accepted
//! or rejected as MANIFEST.tsv expects. Skipped only when the shared tree is absent and CI is
//! not "true".

use std::path::{Path, PathBuf};
use std::process::Command;

fn tool() -> Option<PathBuf> {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let found = [
        ws.join("../shared/tools/conformance"),
        PathBuf::from("/work/shared/tools/conformance"),
    ]
    .into_iter()
    .find(|p| p.is_file() && p.with_file_name("../corpus/rdb").exists());
    if found.is_none() && std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but ../shared/tools/conformance or ../shared/corpus/rdb is missing");
    }
    found
}

fn run(only: &str) -> Option<String> {
    let tool = tool()?;
    let out = Command::new("python3")
        .arg(&tool)
        .args([
            "--bin",
            env!("CARGO_BIN_EXE_rdbkit"),
            "--only",
            only,
            "--summary",
        ])
        .output()
        .expect("python3 runs the conformance tool");
    Some(String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

fn count(text: &str, kind: &str) -> (usize, usize) {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{kind}: ")))
        .unwrap_or("");
    let nums: Vec<usize> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (
        nums.first().copied().unwrap_or(0),
        nums.get(1).copied().unwrap_or(usize::MAX),
    )
}

#[test]
fn every_server_rdb_matches_and_every_damaged_copy_is_rejected() {
    let Some(text) = run("rdb,corrupt") else {
        eprintln!("shared corpus not found: skipped");
        return;
    };
    let (rdb_ok, rdb_bad) = count(&text, "rdb");
    let (cor_ok, cor_bad) = count(&text, "corrupt");
    assert!(
        rdb_bad == 0 && cor_bad == 0,
        "conformance failures:\n{text}"
    );
    assert!(
        rdb_ok >= 90 && cor_ok >= 60,
        "too few files ran ({rdb_ok} rdb, {cor_ok} corrupt):\n{text}"
    );
}

#[test]
fn third_party_rdb_rows_pass() {
    let Some(text) = run("third_party") else {
        eprintln!("shared corpus not found: skipped");
        return;
    };
    // Only the RDB rows are judged here; AOF/manifest rows belong to conformance_aof.
    let failures: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .filter(|l| {
            let path = l
                .split_whitespace()
                .nth(2)
                .unwrap_or("")
                .trim_end_matches(':');
            !(path.ends_with(".aof") || path.ends_with(".manifest"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "third-party RDB rows failed:\n{}",
        failures.join("\n")
    );
    assert!(
        count(&text, "third_party").0 >= 180,
        "too few third-party rows ran:\n{text}"
    );
}
