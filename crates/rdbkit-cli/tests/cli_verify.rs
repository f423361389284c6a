//! `rdbkit verify` over a folder of real backups made in a temp dir from `testdata/` and the
//! shared corpus: good, gzip'd, truncated-gzip, torn-AOF and CRC-damaged; per-file verdicts,
//! exit codes, the JSON report, the Prometheus textfile (parsed), and the policies.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{run_rdbkit, TempDir};
use flate2::write::GzEncoder;
use flate2::Compression;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn testdata(p: &str) -> PathBuf {
    root().join("testdata").join(p)
}

/// The shared corpus, or `None` (skip) when absent; with CI=true its absence is a failure.
fn corpus() -> Option<PathBuf> {
    let c = root().join("../shared/corpus");
    if c.join("rdb").is_dir() {
        return Some(c);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "CI=true but the shared corpus is missing at {}",
            c.display()
        );
    }
    eprintln!("SKIPPED: the shared corpus is missing at {}", c.display());
    None
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn write(p: &Path, b: &[u8]) {
    std::fs::write(p, b).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn verify(args: &[&str]) -> (Output, serde_json::Value) {
    let mut a = vec!["verify", "--json"];
    a.extend_from_slice(args);
    let out = run_rdbkit(&a);
    let text = String::from_utf8_lossy(&out.stdout);
    let j: serde_json::Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, j)
}

fn by_name(j: &serde_json::Value) -> HashMap<String, serde_json::Value> {
    j["backups"]
        .as_array()
        .expect("backups")
        .iter()
        .map(|b| (b["name"].as_str().unwrap().to_string(), b.clone()))
        .collect()
}

/// Samples: (metric name, sorted labels) → value.
type Metrics = HashMap<(String, Vec<(String, String)>), f64>;

/// A label value as written (the parser keeps the escapes: `\\`, `\"`, `\n`).
fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut it = v.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => panic!("dangling backslash in label value {v:?}"),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses a textfile into (metric name, labels) → value.
fn parse_prom(text: &str) -> Metrics {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid exposition format");
    // Every family has HELP and TYPE.
    for name in [
        "rdbkit_backup_valid",
        "rdbkit_backup_keys",
        "rdbkit_backup_size_bytes",
        "rdbkit_backup_save_timestamp_seconds",
        "rdbkit_verify_duration_seconds",
        "rdbkit_verify_last_success_timestamp_seconds",
    ] {
        assert!(scrape.docs.contains_key(name), "no HELP for {name}");
        assert!(
            text.contains(&format!("# TYPE {name} gauge")),
            "no TYPE for {name}"
        );
    }
    scrape
        .samples
        .into_iter()
        .map(|s| {
            let mut labels: Vec<(String, String)> = s
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), unescape(v)))
                .collect();
            labels.sort();
            let v = match s.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                other => panic!("{}: not a gauge: {other:?}", s.metric),
            };
            ((s.metric, labels), v)
        })
        .collect()
}

fn metric(m: &Metrics, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut l: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    l.sort();
    m.get(&(name.to_string(), l)).copied()
}

/// The folder every test below starts from. Returns (dir, expected verdicts: name → valid).
fn build_folder(t: &TempDir, corpus: Option<&Path>) -> Vec<(&'static str, bool)> {
    let d = t.join("backups");
    std::fs::create_dir_all(&d).unwrap();
    let sample = read(&testdata("rdb/sample.rdb"));
    let mut v = Vec::new();
    // Good: plain and gzip'd.
    write(&d.join("dump-20250120-020000.rdb"), &sample);
    v.push(("dump-20250120-020000.rdb", true));
    write(&d.join("dump-20250121-020000.rdb.gz"), &gzip(&sample));
    v.push(("dump-20250121-020000.rdb.gz", true));
    // Truncated gzip stream (a copy cut short), and one missing only its 8-byte trailer.
    let gz = gzip(&sample);
    write(&d.join("dump-20250122-020000.rdb.gz"), &gz[..gz.len() / 2]);
    v.push(("dump-20250122-020000.rdb.gz", false));
    write(&d.join("dump-20250123-020000.rdb.gz"), &gz[..gz.len() - 8]);
    v.push(("dump-20250123-020000.rdb.gz", false));
    // CRC damage: one bit flipped in the middle of the data, and in the trailer.
    let mut bad = sample.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    write(&d.join("dump-20250124-020000.rdb"), &bad);
    v.push(("dump-20250124-020000.rdb", false));
    let mut bad = sample.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x80;
    write(&d.join("dump-20250125-020000.rdb.gz"), &gzip(&bad));
    v.push(("dump-20250125-020000.rdb.gz", false));
    // AOFs: a good appendonlydir copy, a torn one, a torn incr file gzip'd on its own.
    copy_dir(
        &testdata("aof/appendonlydir"),
        &d.join("appendonlydir-20250124-020000"),
    );
    v.push(("appendonlydir-20250124-020000", true));
    copy_dir(
        &testdata("aof/torn/appendonlydir"),
        &d.join("appendonlydir-20250125-020000"),
    );
    v.push(("appendonlydir-20250125-020000", false));
    let torn = read(&testdata(
        "aof/torn/appendonlydir/appendonly.aof.3.incr.aof",
    ));
    write(&d.join("appendonly-20250125-020000.aof.gz"), &gzip(&torn));
    v.push(("appendonly-20250125-020000.aof.gz", false));
    let good = read(&testdata("aof/appendonlydir/appendonly.aof.3.incr.aof"));
    write(&d.join("appendonly-20250124-020000.aof.gz"), &gzip(&good));
    v.push(("appendonly-20250124-020000.aof.gz", true));
    if let Some(c) = corpus {
        // Real files of other versions: a Valkey RDB gzip'd, a 7.4 base, a 6.2 AOF with an
        // RDB preamble gzip'd, and the corpus's own damaged copies.
        write(
            &d.join("valkey-20250120-020000.rdb.gz"),
            &gzip(&read(&c.join("rdb/valkey-8.0.1/base.rdb"))),
        );
        v.push(("valkey-20250120-020000.rdb.gz", true));
        write(
            &d.join("redis74-20250120-020000.rdb"),
            &read(&c.join("rdb/7.4.1/base.rdb")),
        );
        v.push(("redis74-20250120-020000.rdb", true));
        let pre = c.join("aof/6.2.14/single-preamble/appendonly.aof");
        write(
            &d.join("appendonly62-20250120-020000.aof.gz"),
            &gzip(&read(&pre)),
        );
        v.push(("appendonly62-20250120-020000.aof.gz", true));
        copy_dir(
            &c.join("aof/7.4.1/mp-rdb/appendonlydir"),
            &d.join("appendonlydir74-20250120-020000"),
        );
        v.push(("appendonlydir74-20250120-020000", true));
        for (case, name) in [
            ("flipped_value_byte", "corrupt74-20250120-020000.rdb.gz"),
            ("truncated_mid_key", "corrupt74-20250121-020000.rdb"),
        ] {
            let b = read(&c.join(format!("rdb/7.4.1/corrupt/{case}.rdb")));
            write(
                &d.join(name),
                &if name.ends_with(".gz") { gzip(&b) } else { b },
            );
            v.push((name, false));
        }
    }
    v
}

#[test]
fn folder_verdicts_exit_codes_and_metrics() {
    let c = corpus();
    let t = TempDir::new("verify-folder");
    let expected = build_folder(&t, c.as_deref());
    let prom = t.join("rdbkit.prom");
    let (out, j) = verify(&[
        t.join("backups").to_str().unwrap(),
        "--prometheus",
        prom.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "a damaged backup: exit 2\n{j}");
    assert_eq!(j["exit_code"], 2);
    let got = by_name(&j);
    assert_eq!(
        got.len(),
        expected.len(),
        "every backup found: {:?}",
        got.keys()
    );
    for (name, valid) in &expected {
        let b = &got[*name];
        assert_eq!(b["valid"], *valid, "{name}: {b}");
        if *valid {
            assert!(b["damage"].is_null());
        } else {
            let why = b["damage"]["reason"].as_str().unwrap();
            assert!(!why.is_empty(), "{name}: a reason");
        }
    }
    // Where and why.
    let reason = |n: &str| got[n]["damage"]["reason"].as_str().unwrap().to_string();
    assert!(reason("dump-20250122-020000.rdb.gz").contains("gzip stream truncated"));
    assert!(reason("dump-20250123-020000.rdb.gz").contains("gzip"));
    assert!(reason("dump-20250124-020000.rdb").contains("checksum mismatch"));
    assert!(reason("dump-20250125-020000.rdb.gz").contains("checksum mismatch"));
    assert!(reason("appendonly-20250125-020000.aof.gz").contains("redis-check-aof"));
    assert_eq!(
        got["appendonlydir-20250125-020000"]["damage"]["file"],
        "appendonly.aof.3.incr.aof"
    );
    assert!(got["dump-20250122-020000.rdb.gz"]["damage"]["offset"].is_u64());
    // What a good one says.
    let g = &got["dump-20250121-020000.rdb.gz"];
    assert_eq!(g["gzip"], true);
    assert_eq!(g["version"], 10);
    assert!(g["writer"].as_str().unwrap().starts_with("redis "));
    assert_eq!(g["save_time_source"], "ctime");
    assert_eq!(g["keys"]["0"], 66);
    assert_eq!(g["keys"]["1"], 2);
    assert_eq!(g["keys"]["15"], 3);
    assert_eq!(g["total_keys"], 71);
    assert!(g["checksum"].as_str().unwrap().starts_with("ok "));
    // AOFs: keys counted by replaying them, matching what the server read back.
    let a = &got["appendonlydir-20250124-020000"];
    assert_eq!(a["keys_replayed"], true);
    assert_eq!(
        a["total_keys"], 64,
        "testdata/aof/appendonlydir.expected.jsonl"
    );
    if let Some(c) = &c {
        let truth =
            std::fs::read_to_string(c.join("aof/6.2.14/single-preamble.expected.jsonl")).unwrap();
        let mut per_db: std::collections::BTreeMap<String, u64> = Default::default();
        for l in truth.lines() {
            let j: serde_json::Value = serde_json::from_str(l).unwrap();
            *per_db.entry(j["db"].to_string()).or_default() += 1;
        }
        let b = &got["appendonly62-20250120-020000.aof.gz"];
        let keys: std::collections::BTreeMap<String, u64> = b["keys"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect();
        assert_eq!(keys, per_db, "{b}");
    }
    if c.is_some() {
        assert!(got["valkey-20250120-020000.rdb.gz"]["writer"]
            .as_str()
            .unwrap()
            .starts_with("valkey "));
        assert_eq!(got["valkey-20250120-020000.rdb.gz"]["magic"], "REDIS");
        assert!(
            got["appendonly62-20250120-020000.aof.gz"]["commands"]
                .as_u64()
                .unwrap()
                > 0
        );
    }

    // The textfile.
    let text = std::fs::read_to_string(&prom).unwrap();
    let m = parse_prom(&text);
    for (name, valid) in &expected {
        assert_eq!(
            metric(&m, "rdbkit_backup_valid", &[("backup", name)]),
            Some(if *valid { 1.0 } else { 0.0 }),
            "{name}"
        );
        assert!(metric(&m, "rdbkit_backup_size_bytes", &[("backup", name)]).unwrap() > 0.0);
    }
    let b = "dump-20250121-020000.rdb.gz";
    assert_eq!(
        metric(&m, "rdbkit_backup_keys", &[("backup", b), ("db", "15")]),
        Some(3.0)
    );
    let ctime = got[b]["ctime"].as_f64().unwrap();
    assert_eq!(
        metric(&m, "rdbkit_backup_save_timestamp_seconds", &[("backup", b)]),
        Some(ctime)
    );
    assert!(metric(&m, "rdbkit_verify_duration_seconds", &[]).unwrap() >= 0.0);
    assert_eq!(
        metric(&m, "rdbkit_verify_last_success_timestamp_seconds", &[]),
        Some(0.0)
    );
    // No temp file left behind.
    let left: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // Only the good ones: exit 0, and the last success time moves; then a failing run keeps it.
    let good = t.join("good");
    std::fs::create_dir_all(&good).unwrap();
    for (name, valid) in &expected {
        if *valid {
            let from = t.join("backups").join(name);
            if from.is_dir() {
                copy_dir(&from, &good.join(name));
            } else {
                std::fs::copy(&from, good.join(name)).unwrap();
            }
        }
    }
    let (out, j) = verify(&[
        good.to_str().unwrap(),
        "--prometheus",
        prom.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{j}");
    let m = parse_prom(&std::fs::read_to_string(&prom).unwrap());
    let last = metric(&m, "rdbkit_verify_last_success_timestamp_seconds", &[]).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - last).abs() < 600.0,
        "last success {last} vs now {now}"
    );
    let (out, _) = verify(&[
        t.join("backups").to_str().unwrap(),
        "--prometheus",
        prom.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let m = parse_prom(&std::fs::read_to_string(&prom).unwrap());
    assert_eq!(
        metric(&m, "rdbkit_verify_last_success_timestamp_seconds", &[]),
        Some((last * 1000.0).round() / 1000.0),
        "a failed run keeps the previous success time"
    );
    assert_eq!(metric(&m, "rdbkit_verify_exit_code", &[]), Some(2.0));

    // The text report names each damaged file and why.
    let out = run_rdbkit(["verify", t.join("backups").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("DAMAGED") && text.contains("checksum mismatch"),
        "{text}"
    );
}

#[test]
fn label_values_are_escaped() {
    let t = TempDir::new("verify-label");
    let name = "dump \"a\\b\" 20250124-020000.rdb";
    std::fs::copy(testdata("rdb/sample.rdb"), t.join(name)).unwrap();
    let prom = t.join("m.prom");
    let out = run_rdbkit([
        "verify",
        t.path().to_str().unwrap(),
        "--prometheus",
        prom.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let m = parse_prom(&std::fs::read_to_string(&prom).unwrap());
    assert_eq!(
        metric(&m, "rdbkit_backup_valid", &[("backup", name)]),
        Some(1.0)
    );
}

#[test]
fn policies() {
    let t = TempDir::new("verify-policy");
    let d = t.join("b");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(
        testdata("rdb/sample.rdb"),
        d.join("dump-20250124-020000.rdb"),
    )
    .unwrap();
    let p = d.to_str().unwrap();
    let code = |extra: &[&str]| {
        let (out, j) = verify(&[&[p], extra].concat());
        (out.status.code(), j)
    };
    assert_eq!(code(&[]).0, Some(0));
    // sample.rdb: 71 keys in dbs 0, 1, 15.
    assert_eq!(code(&["--min-keys", "71"]).0, Some(0));
    let (c, j) = code(&["--min-keys", "72"]);
    assert_eq!(c, Some(1));
    assert_eq!(j["policy_failures"][0]["policy"], "min-keys");
    assert_eq!(code(&["--expect-db", "15", "--expect-db", "0"]).0, Some(0));
    let (c, j) = code(&["--expect-db", "3"]);
    assert_eq!(c, Some(1));
    assert!(j["policy_failures"][0]["message"]
        .as_str()
        .unwrap()
        .contains("db 3"));
    // Save time is the ctime (when the fixture was made): years is fine, a minute is not.
    assert_eq!(code(&["--max-age", "5000w"]).0, Some(0));
    let (c, j) = code(&["--max-age", "60s"]);
    assert_eq!(c, Some(1));
    assert_eq!(j["policy_failures"][0]["policy"], "max-age");
    // An AOF has no ctime: the date in the name counts (2025-01-24 is long ago).
    let a = t.join("a");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::copy(
        testdata("aof/appendonlydir/appendonly.aof.3.incr.aof"),
        a.join("appendonly-20250124-020000.aof"),
    )
    .unwrap();
    let (out, j) = verify(&[a.to_str().unwrap(), "--max-age", "26h"]);
    assert_eq!(out.status.code(), Some(1), "{j}");
    assert_eq!(j["backups"][0]["save_time_source"], "name");
    assert_eq!(j["backups"][0]["save_time"], 1_737_684_000);
    // A folder with no backup at all is a failure too; a missing path is exit 2.
    let empty = t.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert_eq!(verify(&[empty.to_str().unwrap()]).0.status.code(), Some(1));
    assert_eq!(
        verify(&[t.join("nope").to_str().unwrap()]).0.status.code(),
        Some(2)
    );
    // A damaged backup outranks a policy failure.
    let gz = gzip(&read(&testdata("rdb/sample.rdb")));
    write(&d.join("dump-20250125-020000.rdb.gz"), &gz[..100]);
    assert_eq!(code(&["--min-keys", "1000"]).0, Some(2));
}

#[test]
fn max_shrink_against_the_previous_backup() {
    let Some(c) = corpus() else { return };
    let t = TempDir::new("verify-shrink");
    // base.rdb (120 keys) saved before mini.rdb (24 keys): by ctime, the newer lost 80%.
    std::fs::copy(
        c.join("rdb/7.4.1/base.rdb"),
        t.join("dump-20250124-020000.rdb"),
    )
    .unwrap();
    std::fs::copy(
        c.join("rdb/7.4.1/mini.rdb"),
        t.join("dump-20250125-020000.rdb"),
    )
    .unwrap();
    let p = t.path().to_str().unwrap();
    let (out, j) = verify(&[p, "--max-shrink", "20%"]);
    assert_eq!(out.status.code(), Some(1), "{j}");
    let f = &j["policy_failures"][0];
    assert_eq!(f["policy"], "max-shrink");
    assert_eq!(f["subject"], "dump-20250125-020000.rdb");
    assert!(
        f["message"].as_str().unwrap().contains("80.0% fewer"),
        "{f}"
    );
    assert_eq!(verify(&[p, "--max-shrink", "85%"]).0.status.code(), Some(0));
}
