//! `split` and `merge` report the size of each file they wrote: the bytes on disk, the EOF
//! opcode and the checksum included (it was one byte short: the EOF opcode was not counted).
//! The outputs pass `check`; merging the parts gives back every db-0 key.

mod common;

use std::path::{Path, PathBuf};

use common::{run_rdbkit, TempDir};

fn testdata(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(p)
}

fn ok(args: &[&str]) -> String {
    let o = run_rdbkit(args);
    assert!(
        o.status.success(),
        "rdbkit {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn split_and_merge_report_the_bytes_on_disk() {
    let t = TempDir::new("split-sizes");
    let parts = t.join("parts");
    let out = ok(&[
        "split",
        testdata("rdb/sample.rdb").to_str().unwrap(),
        parts.to_str().unwrap(),
        "--slots",
        "0-8191,8192-16383",
    ]);
    let mut files = Vec::new();
    for line in out.lines().filter(|l| l.ends_with(" bytes")) {
        let (path, rest) = line.split_once(": ").unwrap();
        let bytes: u64 = rest
            .trim_end_matches(" bytes")
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let on_disk = std::fs::metadata(path).unwrap().len();
        assert_eq!(bytes, on_disk, "{line}");
        ok(&["check", path]);
        files.push(path.to_string());
    }
    assert_eq!(files.len(), 2, "{out}");
    let merged = t.join("merged.rdb");
    let mut args = vec!["merge"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["-o", merged.to_str().unwrap(), "--json"]);
    let out = ok(&args);
    let on_disk = std::fs::metadata(&merged).unwrap().len();
    assert!(
        out.contains(&format!("\"bytes\":{on_disk}")),
        "{out} vs {on_disk}"
    );
    ok(&["check", merged.to_str().unwrap()]);
}
