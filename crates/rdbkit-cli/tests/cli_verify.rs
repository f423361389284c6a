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
    common::corpus_dir()
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

/// Keys per db in a ground truth (`*.expected.jsonl`: the data set read back from the server).
fn truth_counts(p: &Path) -> std::collections::BTreeMap<u64, u64> {
    let mut m = std::collections::BTreeMap::new();
    for l in std::fs::read_to_string(p).unwrap().lines() {
        let j: serde_json::Value = serde_json::from_str(l).unwrap();
        *m.entry(j["db"].as_u64().unwrap()).or_default() += 1;
    }
    m
}

#[test]
fn aof_backups_get_the_key_policies_and_metrics() {
    let t = TempDir::new("verify-aof-policy");
    let d = t.join("b");
    std::fs::create_dir_all(&d).unwrap();
    let truth = truth_counts(&testdata("aof/appendonlydir.expected.jsonl"));
    let total: u64 = truth.values().sum();
    let old = d.join("appendonlydir-20261205-020000");
    copy_dir(&testdata("aof/appendonlydir"), &old);
    let p = d.to_str().unwrap();
    let prom = t.join("m.prom");
    let prom_s = prom.to_str().unwrap();

    // The replayed counts are the server's own (read back when the fixture was made).
    let (out, j) = verify(&[p, "--prometheus", prom_s]);
    assert_eq!(out.status.code(), Some(0), "{j}");
    let b = &j["backups"][0];
    assert_eq!(b["keys_replayed"], true, "{b}");
    assert_eq!(b["keys_exact"], true);
    assert_eq!(b["total_keys"], total);
    for (db, n) in &truth {
        assert_eq!(b["keys"][db.to_string()], *n, "db {db}: {b}");
    }
    let m = parse_prom(&std::fs::read_to_string(&prom).unwrap());
    let name = "appendonlydir-20261205-020000";
    for (db, n) in &truth {
        let got = metric(
            &m,
            "rdbkit_backup_keys",
            &[("backup", name), ("db", &db.to_string())],
        );
        assert_eq!(got, Some(*n as f64), "db {db}");
    }
    assert_eq!(
        metric(&m, "rdbkit_backup_keys_counted", &[("backup", name)]),
        Some(1.0)
    );
    // --min-keys, --expect-db on the replayed counts.
    let (out, j) = verify(&[p, "--min-keys", &(total + 1).to_string()]);
    assert_eq!(out.status.code(), Some(1), "{j}");
    assert_eq!(j["policy_failures"][0]["policy"], "min-keys");
    assert!(j["policy_failures"][0]["message"]
        .as_str()
        .unwrap()
        .contains(&format!("holds {total} keys")));
    let (out, j) = verify(&[p, "--min-keys", &total.to_string(), "--expect-db", "3"]);
    assert_eq!(out.status.code(), Some(0), "{j}");
    assert_eq!(verify(&[p, "--expect-db", "4"]).0.status.code(), Some(1));

    // A newer backup whose replay stops (a module's command, unknown offline): every key
    // policy asked for fails for it, saying why; no key metric for it.
    let new = d.join("appendonlydir-20261206-020000");
    copy_dir(&testdata("aof/appendonlydir"), &new);
    let last = new.join("appendonly.aof.3.incr.aof");
    let mut bytes = read(&last);
    bytes.extend_from_slice(b"*3\r\n$9\r\nMYMOD.SET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    write(&last, &bytes);
    let (out, j) = verify(&[p, "--prometheus", prom_s]);
    assert_eq!(out.status.code(), Some(0), "no key policy asked: {j}");
    let nb = by_name(&j);
    let newest = &nb["appendonlydir-20261206-020000"];
    assert_eq!(newest["valid"], true);
    assert_eq!(newest["keys_exact"], false);
    assert!(
        newest["keys_error"].as_str().unwrap().contains("MYMOD.SET"),
        "{newest}"
    );
    let m = parse_prom(&std::fs::read_to_string(&prom).unwrap());
    let newname = "appendonlydir-20261206-020000";
    assert_eq!(
        metric(&m, "rdbkit_backup_keys_counted", &[("backup", newname)]),
        Some(0.0)
    );
    assert!(
        !m.keys()
            .any(|(n, l)| n == "rdbkit_backup_keys" && l.iter().any(|(_, v)| v == newname)),
        "no key count for a backup whose keys are unknown"
    );
    for policy in [
        &["--min-keys", "1"][..],
        &["--max-shrink", "50%"],
        &["--expect-db", "0"],
    ] {
        let (out, j) = verify(&[&[p][..], policy].concat());
        assert_eq!(out.status.code(), Some(1), "{policy:?}: {j}");
        let f = &j["policy_failures"][0];
        assert_eq!(f["subject"], newname, "{j}");
        let msg = f["message"].as_str().unwrap();
        assert!(
            msg.contains("can't be checked") && msg.contains("MYMOD.SET"),
            "{msg}"
        );
    }
    // The text report says it too.
    let out = run_rdbkit(["verify", p, "--min-keys", "1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("keys not counted"), "{text}");
    assert!(!text.contains("in the RDB part,"), "{text}");
}

#[test]
fn a_torn_aof_backup_reports_the_server_verdict_too() {
    let t = TempDir::new("verify-torn");
    let dir = t.join("appendonlydir");
    copy_dir(&testdata("aof/torn/appendonlydir"), &dir);
    // redis-check-aof (7.0.15, recorded beside the fixture) says: ok up to 1327 of the last file.
    let tool = std::fs::read_to_string(testdata("aof/torn.redis-check-aof.txt")).unwrap();
    assert!(tool.contains("ok_up_to=1327"), "{tool}");
    let (out, j) = verify(&[dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "still damaged: {j}");
    let v = j["backups"][0]["server_verdict"].as_str().unwrap();
    assert!(
        v.contains("a server would load it, losing the last command at byte 1327 of")
            && v.contains("appendonly.aof.3.incr.aof"),
        "{v}"
    );
    let out = run_rdbkit(["verify", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DAMAGED"), "{text}");
    assert!(
        text.contains("losing the last command at byte 1327"),
        "{text}"
    );
    assert!(text.contains("exit 2"), "{text}");
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|r| r.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(true)
}

#[test]
fn an_unreadable_backup_is_unreadable_not_empty() {
    let t = TempDir::new("verify-unreadable");
    // A path that exists but can't be opened for reading: a socket (ENXIO), even for root.
    let sock = t.join("dump.rdb");
    let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let (out, j) = verify(&[sock.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{j}");
    assert_eq!(j["backups"][0]["unreadable"], true, "{j}");
    let out = run_rdbkit(["verify", sock.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("unreadable"), "{text}");
    assert!(!text.contains(", 0 B"), "{text}");
    // In a folder, a backup that can't even be looked at (a dangling symlink) is unreadable,
    // not left out.
    let folder = t.join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(testdata("rdb/sample.rdb"), folder.join("dump-20250101.rdb")).unwrap();
    std::os::unix::fs::symlink(t.join("gone.rdb"), folder.join("dump-20250102.rdb")).unwrap();
    let (out, j) = verify(&[folder.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{j}");
    let errs = j["path_errors"].as_array().unwrap();
    assert_eq!(errs.len(), 1, "{j}");
    assert!(errs[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("dump-20250102.rdb"));
    // A file without read permission (not for root, who reads it anyway): its real size.
    if !is_root() {
        use std::os::unix::fs::PermissionsExt;
        let f = t.join("locked.rdb");
        std::fs::copy(testdata("rdb/sample.rdb"), &f).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o000)).unwrap();
        let (out, j) = verify(&[f.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(j["backups"][0]["unreadable"], true);
        assert_eq!(
            j["backups"][0]["size_bytes"],
            std::fs::metadata(testdata("rdb/sample.rdb")).unwrap().len()
        );
    }
}

#[test]
fn against_an_aof_the_replay_cannot_read_says_which_command() {
    let t = TempDir::new("verify-against-aof");
    let dir = t.join("appendonlydir");
    copy_dir(&testdata("aof/appendonlydir"), &dir);
    let last = dir.join("appendonly.aof.3.incr.aof");
    let mut bytes = read(&last);
    let at = bytes.len();
    bytes.extend_from_slice(b"*3\r\n$9\r\nMYMOD.SET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    write(&last, &bytes);
    // The backup is read before any connection: no server is needed for this verdict (the
    // port is never contacted).
    let out = run_rdbkit([
        "verify",
        dir.to_str().unwrap(),
        "--against",
        "redis://:pw-not-shown@127.0.0.1:1/0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("MYMOD.SET"), "{err}");
    assert!(err.contains(&at.to_string()), "the offset {at}: {err}");
    assert!(!err.contains("pw-not-shown"), "{err}");
}
