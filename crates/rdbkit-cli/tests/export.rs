//! `rdbkit export` read back by real engines: every shared-corpus RDB (and testdata) exported
//! as Parquet with --values and as CSV, then read with DuckDB (keys table, Hive partitions)
//! and pyarrow (value tables) by `export_check.py`, which compares them with
//! `rdbkit dump --format jsonl`, the ground truth and `rdbkit size --csv`. Damaged input:
//! nothing written, exit 2. Skipped with a message when python's duckdb/pyarrow or the corpus
//! are missing; a failure under CI=true.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run_rdbkit, TempDir};

fn ws() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

fn skip(what: &str) {
    if ci() {
        panic!("CI=true but {what}");
    }
    eprintln!("SKIPPED: {what}; with CI=true this is a failure");
}

/// `PYTHONPATH` for python3 with duckdb and pyarrow (`.ci/py`), or None (skipped).
fn engines() -> Option<PathBuf> {
    let py = ws().join(".ci/py");
    let ok = Command::new("python3")
        .env("PYTHONPATH", &py)
        .args(["-c", "import duckdb, pyarrow.parquet"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip("python3 cannot import duckdb and pyarrow (PYTHONPATH=.ci/py; .ci/run installs them)");
        return None;
    }
    Some(py)
}

fn corpus() -> Option<PathBuf> {
    common::corpus_dir().map(|c| c.join("rdb"))
}

fn ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Exports `rdb` (partition `name`) and checks it with both engines against dump/size and
/// the ground truth when there is one.
/// Returns the number of keys.
fn check_file(py: &Path, tmp: &TempDir, rdb: &Path, name: &str, expected: Option<&Path>) -> usize {
    let pq = tmp.join("pq");
    let csv = tmp.join("csv");
    let r = rdb.to_str().unwrap();
    ok(
        &run_rdbkit([
            "export",
            r,
            "--values",
            "-q",
            "--name",
            name,
            "-o",
            pq.to_str().unwrap(),
        ]),
        &format!("export {r}"),
    );
    ok(
        &run_rdbkit([
            "export",
            r,
            "--format",
            "csv",
            "-q",
            "--name",
            name,
            "-o",
            csv.to_str().unwrap(),
        ]),
        &format!("export --format csv {r}"),
    );
    let dump = run_rdbkit(["dump", r, "--format", "jsonl"]);
    ok(&dump, "dump");
    let dump_path = tmp.join(format!("{name}.dump.jsonl"));
    std::fs::write(&dump_path, &dump.stdout).unwrap();
    let size = run_rdbkit(["size", r, "--csv", "-q"]);
    ok(&size, "size --csv");
    let size_path = tmp.join(format!("{name}.size.csv"));
    std::fs::write(&size_path, &size.stdout).unwrap();
    let mut cmd = Command::new("python3");
    cmd.env("PYTHONPATH", py)
        .arg(ws().join("crates/rdbkit-cli/tests/export_check.py"))
        .args([&pq, &csv])
        .arg(name)
        .args([&dump_path, &size_path]);
    if let Some(e) = expected {
        cmd.arg(e);
    }
    let out = cmd.output().expect("python3 runs");
    assert!(
        out.status.success(),
        "{r}: export differs:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dump.stdout.iter().filter(|&&c| c == b'\n').count()
}

#[test]
fn every_corpus_rdb_reads_back_equal_in_duckdb_and_pyarrow() {
    let Some(py) = engines() else { return };
    let Some(corpus) = corpus() else { return };
    let tmp = TempDir::new("export-corpus");
    let (mut n, mut with_keys) = (0, 0);
    for f in common::corpus_rdbs(&corpus) {
        let exp = f.with_extension("expected.jsonl");
        let version = f.parent().and_then(|v| v.file_name()).unwrap();
        let name = format!(
            "{}-{}",
            version.to_string_lossy(),
            f.file_stem().unwrap().to_string_lossy()
        );
        if check_file(&py, &tmp, &f, &name, exp.is_file().then_some(exp.as_path())) > 0 {
            with_keys += 1;
        }
        n += 1;
    }
    assert!(n >= 90, "only {n} corpus files found");
    // every file went into one folder: DuckDB reads all of them as one table (a file without
    // keys has an empty part: no row carries its partition name)
    let out = Command::new("python3")
        .env("PYTHONPATH", &py)
        .args([
            "-c",
            "import duckdb,sys; print(duckdb.sql(\"SELECT count(DISTINCT backup) FROM \
             read_parquet('\" + sys.argv[1] + \"/keys/**/*.parquet', hive_partitioning=true)\").fetchall()[0][0])",
        ])
        .arg(tmp.join("pq"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        with_keys.to_string(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn testdata_reads_back_equal() {
    let Some(py) = engines() else { return };
    let tmp = TempDir::new("export-testdata");
    let td = ws().join("testdata/rdb");
    let n = check_file(
        &py,
        &tmp,
        &td.join("sample.rdb"),
        "sample",
        Some(&td.join("sample.expected.jsonl")),
    );
    assert!(n > 0);
    check_file(
        &py,
        &tmp,
        &td.join("redis-8.10-types.rdb"),
        "types810",
        None,
    );
}

#[test]
fn damaged_input_writes_nothing_and_exits_2() {
    let Some(corpus) = corpus() else { return };
    let tmp = TempDir::new("export-damaged");
    let good = corpus.join("7.4.1/base.rdb");
    let bytes = std::fs::read(&good).unwrap();
    // cut in the middle of the keyspace
    let bad = tmp.join("cut.rdb");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let out_dir = tmp.join("out");
    let out = run_rdbkit([
        "export",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
        "--values",
        "-o",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cut.rdb") && err.contains("nothing exported"),
        "{err}"
    );
    assert!(
        !out_dir.exists(),
        "a failed export left {}",
        out_dir.display()
    );
    // into an existing folder: it is left as it was (no staging folder either)
    std::fs::create_dir(&out_dir).unwrap();
    std::fs::write(out_dir.join("keep"), b"x").unwrap();
    let out = run_rdbkit([
        "export",
        bad.to_str().unwrap(),
        "-o",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let left: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("keep")]);
    // an existing partition is never overwritten
    let ok1 = run_rdbkit([
        "export",
        good.to_str().unwrap(),
        "-q",
        "-o",
        out_dir.to_str().unwrap(),
    ]);
    ok(&ok1, "export");
    let part = out_dir.join("keys/backup=base.rdb/part-0.parquet");
    let before = std::fs::read(&part).unwrap();
    let again = run_rdbkit([
        "export",
        good.to_str().unwrap(),
        "-o",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not overwritten"));
    assert_eq!(std::fs::read(&part).unwrap(), before);
}

#[test]
fn aof_is_replayed_and_exported() {
    let Some(py) = engines() else { return };
    let tmp = TempDir::new("export-aof");
    let aof = tmp.join("a.aof");
    std::fs::write(
        &aof,
        b"*3\r\n$3\r\nSET\r\n$6\r\nuser:\xff\r\n$1\r\nv\r\n\
          *4\r\n$4\r\nZADD\r\n$1\r\nz\r\n$4\r\n-inf\r\n$1\r\na\r\n\
          *4\r\n$4\r\nZADD\r\n$1\r\nz\r\n$3\r\ninf\r\n$1\r\nb\r\n\
          *4\r\n$5\r\nRPUSH\r\n$1\r\nl\r\n$1\r\nx\r\n$1\r\ny\r\n\
          *3\r\n$9\r\nPEXPIREAT\r\n$1\r\nl\r\n$13\r\n4102444800000\r\n",
    )
    .unwrap();
    let out_dir = tmp.join("out");
    ok(
        &run_rdbkit([
            "export",
            aof.to_str().unwrap(),
            "--values",
            "-q",
            "-o",
            out_dir.to_str().unwrap(),
        ]),
        "export aof",
    );
    let script = "import duckdb,sys; d=sys.argv[1]; \
        print(duckdb.sql(f\"SELECT key, type, epoch_ms(expire_ms), prefix_1 FROM read_parquet('{d}/keys/**/*.parquet') ORDER BY key\").fetchall()); \
        print(duckdb.sql(f\"SELECT member, score FROM read_parquet('{d}/zset_members/**/*.parquet') ORDER BY score\").fetchall()); \
        print(duckdb.sql(f\"SELECT index, value FROM read_parquet('{d}/list_items/**/*.parquet') ORDER BY index\").fetchall())";
    let out = Command::new("python3")
        .env("PYTHONPATH", &py)
        .args(["-c", script])
        .arg(&out_dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text,
        "[(b'l', 'list', 4102444800000, 'l'), (b'user:\\xff', 'string', None, 'user:'), (b'z', 'zset', None, 'z')]\n\
         [(b'a', -inf), (b'b', inf)]\n\
         [(0, b'x'), (1, b'y')]\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn size_html_report_is_self_contained_and_carries_the_report() {
    let tmp = TempDir::new("size-html");
    let td = ws().join("testdata/rdb/sample.rdb");
    let html = tmp.join("report.html");
    let out = run_rdbkit([
        "size",
        td.to_str().unwrap(),
        "-q",
        "--json",
        "--prefix-depth",
        "1",
        "--html",
        html.to_str().unwrap(),
    ]);
    ok(&out, "size --html");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    // nothing is fetched when the page opens
    for bad in ["http://", "https://", " src=", "<link", "@import", "url("] {
        assert!(!page.contains(bad), "the page references {bad}");
    }
    let start = page.find("type=\"application/json\">").unwrap() + 24;
    let end = start + page[start..].find("</script>").unwrap();
    let data: serde_json::Value =
        serde_json::from_str(&page[start..end].replace("<\\/", "</")).unwrap();
    assert_eq!(data["total"], json["total"]);
    assert_eq!(data["types"], json["types"]);
    assert_eq!(data["top"], json["top"]);
    // every prefix is drawn or counted in "other", and the memory adds up
    let drawn: u64 = data["prefixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["memory"].as_u64().unwrap())
        .sum();
    assert_eq!(
        drawn + data["other"]["memory"].as_u64().unwrap(),
        json["total"]["memory"].as_u64().unwrap()
    );
    assert!(data["file"].as_str().unwrap().ends_with("sample.rdb"));
    // the rendered page is checked in headless Chromium by tests/html_report.rs
}

#[test]
fn arrow_ipc_reads_back_in_pyarrow() {
    let Some(py) = engines() else { return };
    let tmp = TempDir::new("export-arrow");
    let td = ws().join("testdata/rdb/sample.rdb");
    let out_dir = tmp.join("out");
    ok(
        &run_rdbkit([
            "export",
            td.to_str().unwrap(),
            "--format",
            "arrow",
            "--values",
            "-q",
            "-o",
            out_dir.to_str().unwrap(),
        ]),
        "export --format arrow",
    );
    let dump = run_rdbkit(["dump", td.to_str().unwrap(), "--format", "jsonl"]);
    ok(&dump, "dump");
    let want: Vec<serde_json::Value> = String::from_utf8_lossy(&dump.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let script = "import pyarrow.ipc as ipc, sys, json; \
        t = ipc.open_file(sys.argv[1]).read_all(); \
        print(json.dumps([[r['db'], r['type'], r['encoding'], r['key'].decode('utf-8', 'replace')] for r in t.to_pylist()]))";
    let out = Command::new("python3")
        .env("PYTHONPATH", &py)
        .args(["-c", script])
        .arg(out_dir.join("keys/backup=sample.rdb/part-0.arrow"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g[0], w["db"]);
        assert_eq!(g[1], w["type"]);
        assert_eq!(g[2], w["encoding"]);
        if let Some(k) = w["key"].as_str() {
            assert_eq!(g[3].as_str().unwrap(), k);
        }
    }
}
