//! `rdbkit verify --drill --server PATH` against Debian's redis-server 7.0 and Valkey 8.1: a
//! corpus backup of the server's own version passes (loaded as is); an older one passes; a
//! gzip'd one is converted first and says so; a backup whose data the server refuses (module
//! values with no module loaded) fails with exit 2 and the server's reason; the Prometheus
//! textfile holds the three drill gauges with the right values.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};

use common::{run_rdbkit, ServerKind, TempDir};
use serde_json::Value as J;

fn corpus_rdb() -> Option<PathBuf> {
    common::corpus_dir().map(|c| c.join("rdb"))
}

fn lines_of(p: &Path) -> u64 {
    std::fs::read_to_string(p.with_extension("expected.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count() as u64
}

#[test]
fn drills_pass_fail_and_write_metrics() {
    let Some(corpus) = corpus_rdb() else { return };
    for (kind, own) in [
        (ServerKind::Redis70, "7.0.15"),
        (ServerKind::Valkey81, "valkey-8.1.8"),
    ] {
        let Some(bin) = kind.require() else { continue };
        let dir = TempDir::new("drill");
        let same = corpus.join(own).join("base.rdb");
        let older = corpus.join("5.0.14/lfu.rdb");
        let gz = dir.join("backup.rdb.gz");
        {
            use std::io::Write;
            let e = flate2_free_gzip(&std::fs::read(&same).unwrap());
            std::fs::File::create(&gz).unwrap().write_all(&e).unwrap();
        }
        let bad = corpus.join(own).join("modules.rdb");
        let prom = dir.join("drill.prom");
        let o = run_rdbkit([
            "verify",
            "--drill",
            "--server",
            bin.to_str().unwrap(),
            "--json",
            "--prometheus",
            prom.to_str().unwrap(),
            same.to_str().unwrap(),
            older.to_str().unwrap(),
            gz.to_str().unwrap(),
            bad.to_str().unwrap(),
        ]);
        let out = String::from_utf8_lossy(&o.stdout);
        let ctx = format!(
            "{}: {out}\n{}",
            kind.name(),
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(o.status.code(), Some(2), "{ctx}");
        let r: Vec<J> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(r.len(), 4, "{ctx}");
        for (j, file, converted) in [
            (&r[0], &same, false),
            (&r[1], &older, false),
            (&r[2], &same, true),
        ] {
            assert_eq!(j["passed"], true, "{ctx}");
            assert_eq!(j["keys"].as_u64().unwrap(), lines_of(file), "{ctx}");
            assert_eq!(j["compared"], j["keys"], "{ctx}");
            assert!(j["load_seconds"].as_f64().unwrap() > 0.0, "{ctx}");
            assert_eq!(j["converted_to"].is_string(), converted, "{ctx}");
        }
        assert_eq!(r[3]["passed"], false, "{ctx}");
        let err = r[3]["error"].as_str().unwrap();
        assert!(err.contains("module"), "{ctx}");

        let text = std::fs::read_to_string(&prom).unwrap();
        let scrape =
            prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
        let get = |name: &str, backup: &Path| -> f64 {
            let s = scrape
                .samples
                .iter()
                .find(|s| {
                    s.metric == name && s.labels.get("backup") == Some(backup.to_str().unwrap())
                })
                .unwrap_or_else(|| panic!("{name} for {}: {text}", backup.display()));
            match s.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => panic!("not a gauge"),
            }
        };
        assert_eq!(get("rdbkit_restore_drill_success", &same), 1.0);
        assert_eq!(get("rdbkit_restore_drill_success", &bad), 0.0);
        assert_eq!(
            get("rdbkit_restore_drill_keys", &same),
            lines_of(&same) as f64
        );
        assert!(get("rdbkit_restore_drill_load_seconds", &same) > 0.0);

        // Text output: PASS lines and the load time; exit 0 when all pass.
        let o = run_rdbkit([
            "verify",
            "--drill",
            "--server",
            bin.to_str().unwrap(),
            same.to_str().unwrap(),
        ]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{out}");
        assert!(
            out.starts_with("DRILL PASS") && out.contains("loaded in"),
            "{out}"
        );
    }
}

/// gzip without a dependency in the tests: `gzip -c` of the bytes.
fn flate2_free_gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut ch = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip");
    ch.stdin.take().unwrap().write_all(data).unwrap();
    ch.wait_with_output().unwrap().stdout
}
