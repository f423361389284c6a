//! Replays every input that ever crashed a fuzz target (`fuzz/regressions/<target>/<file>`)
//! through the same checks the target runs, on stable, so a fixed bug stays fixed.

use std::path::Path;

#[test]
fn every_regression_passes_its_targets_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let mut ran = 0;
    let mut failures = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let target = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let check = rdbkit_fuzz_checks::check_for(&target)
            .unwrap_or_else(|| panic!("fuzz/regressions/{target}: no such fuzz target"));
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("regression dir")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).expect("regression input");
            // Run each several times: some findings were non-deterministic.
            let r = std::panic::catch_unwind(|| {
                for _ in 0..4 {
                    check(&data);
                }
            });
            ran += 1;
            if let Err(e) = r {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{target}/{}: {msg}", f.display()));
            }
        }
    }
    assert!(ran > 0, "no regression inputs under {}", root.display());
    assert!(
        failures.is_empty(),
        "{} regressions fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every fuzz target has a check, and every check a fuzz target file.
#[test]
fn targets_match_fuzz_targets_dir() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("fuzz/fuzz_targets")
        .map(|e| e.expect("entry").path())
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(String::from))
        .collect();
    files.sort();
    let mut names: Vec<String> = rdbkit_fuzz_checks::TARGETS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    names.sort();
    assert_eq!(files, names);
}

/// The checks pass on the project's own fixtures (real files written by a real server).
#[test]
fn checks_pass_on_fixtures() {
    let td = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let rdb = std::fs::read(td.join("rdb/sample.rdb")).expect("testdata/rdb/sample.rdb");
    rdbkit_fuzz_checks::rdb::file(&rdb);
    let mut aofs = 0;
    let mut stack = vec![td.join("aof")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("testdata/aof") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let data = std::fs::read(&p).expect("fixture");
            if name.ends_with(".manifest") {
                rdbkit_fuzz_checks::aof::manifest(&data);
            } else if name.contains(".aof") || name.ends_with(".rdb") {
                rdbkit_fuzz_checks::aof::resp(&data);
                rdbkit_fuzz_checks::aof::check(&data);
                rdbkit_fuzz_checks::aof::fix(&data);
                aofs += 1;
            }
        }
    }
    assert!(aofs > 0, "no AOF fixtures found");
}
