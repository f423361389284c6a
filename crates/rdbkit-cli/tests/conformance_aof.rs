//! Runs the shared conformance scoreboard (`shared/tools/conformance`) against this build:
//! every AOF verdict of the corpus (546 cases from ten server builds) and the third-party AOF and
//! manifest rows. Skipped only when the shared tree is absent and CI is not "true".

use std::path::{Path, PathBuf};
use std::process::Command;

fn tool() -> Option<PathBuf> {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        ws.join("../shared/tools/conformance"),
        PathBuf::from("/work/shared/tools/conformance"),
    ];
    let found = candidates
        .into_iter()
        .find(|p| p.is_file() && p.with_file_name("../corpus/aof").exists());
    if found.is_none() && std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but ../shared/tools/conformance or ../shared/corpus/aof is missing");
    }
    found
}

fn run(only: &str) -> Option<(bool, String)> {
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
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Some((out.status.success(), text))
}

#[test]
fn every_aof_verdict_matches() {
    let Some((ok, text)) = run("aof") else {
        eprintln!("shared corpus not found: skipped");
        return;
    };
    let last = text.lines().last().unwrap_or("");
    assert!(
        ok && last.ends_with(" 0 failed"),
        "conformance --only aof failed:\n{text}"
    );
    let passed: usize = last
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 546, "only {passed} AOF cases ran:\n{text}");
}

#[test]
fn third_party_aof_rows_pass() {
    let Some((_, text)) = run("third_party") else {
        eprintln!("shared corpus not found: skipped");
        return;
    };
    // Only the AOF/manifest rows are this crate's; RDB rows are judged elsewhere.
    let failures: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .filter(|l| {
            let path = l
                .split_whitespace()
                .nth(2)
                .unwrap_or("")
                .trim_end_matches(':');
            path.ends_with(".aof") || path.ends_with(".manifest")
        })
        .collect();
    assert!(
        failures.is_empty(),
        "third-party AOF rows failed:\n{}",
        failures.join("\n")
    );
    assert!(
        text.contains("third_party:"),
        "no third-party rows ran:\n{text}"
    );
}
