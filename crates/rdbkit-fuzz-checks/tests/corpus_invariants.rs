//! The fuzz targets' invariants over every file of the shared corpus (real RDB and AOF files
//! from every Redis/Valkey version, their damaged copies, third-party fixtures). With
//! `CI=true` a missing corpus is a failure.

use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    rdbkit_testkit::corpus_dir()
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Runs `check` on `data`, turning a panic into a message naming the file.
fn run(path: &Path, data: &[u8], check: fn(&[u8]), failures: &mut Vec<String>) {
    if let Err(e) = std::panic::catch_unwind(|| check(data)) {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        failures.push(format!("{}: {msg}", path.display()));
    }
}

#[test]
fn corpus_files_pass_the_fuzz_invariants() {
    let Some(root) = corpus() else { return };
    let mut all = Vec::new();
    files(&root, &mut all);
    all.sort();
    let (mut rdbs, mut aofs, mut manifests) = (0, 0, 0);
    let mut failures = Vec::new();
    for p in &all {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".json") || name.ends_with(".jsonl") || name.ends_with(".md") {
            continue;
        }
        let Ok(data) = std::fs::read(p) else { continue };
        if name.ends_with(".manifest") {
            manifests += 1;
            run(p, &data, rdbkit_fuzz_checks::aof::manifest, &mut failures);
            continue;
        }
        if data.starts_with(b"REDIS") || data.starts_with(b"VALKEY") {
            rdbs += 1;
            run(p, &data, rdbkit_fuzz_checks::rdb::file, &mut failures);
        }
        if name.contains(".aof") || data.first() == Some(&b'*') {
            aofs += 1;
            run(p, &data, rdbkit_fuzz_checks::aof::resp, &mut failures);
            run(p, &data, rdbkit_fuzz_checks::aof::check, &mut failures);
            run(p, &data, rdbkit_fuzz_checks::aof::fix, &mut failures);
        }
    }
    assert!(
        rdbs > 100 && aofs > 50 && manifests > 5,
        "corpus too small: {rdbs} RDB, {aofs} AOF, {manifests} manifests"
    );
    assert!(
        failures.is_empty(),
        "{} corpus files break an invariant:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
