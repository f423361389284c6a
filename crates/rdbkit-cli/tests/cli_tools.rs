//! Integration tests of `rdbkit info`, `keys`, `size`, `diff` and `dump` filters on real files:
//! testdata/ (made by a real 7.0 server) and the shared corpus (every version). Inputs given as
//! paths, gzip'd and on standard input.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{rdbkit_bin, run_rdbkit, run_with_timeout, TempDir};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sample() -> PathBuf {
    repo().join("testdata/rdb/sample.rdb")
}

/// The shared corpus, or `None` (skip) when absent; with CI=true its absence fails.
fn corpus() -> Option<PathBuf> {
    common::corpus_dir()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).expect("utf-8 output")
}

fn with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    run_with_timeout(
        Command::new(rdbkit_bin()).args(args),
        Some(stdin),
        Duration::from_secs(120),
    )
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// (db, key as `rdbkit keys` escapes it, type, expire) of every line of an expected.jsonl.
type ExpKey = (u64, String, String, Option<i64>, serde_json::Value);

fn expected_keys(jsonl: &Path) -> Vec<ExpKey> {
    let text = std::fs::read_to_string(jsonl).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let key = match &v["key"] {
                serde_json::Value::String(s) => s.as_bytes().to_vec(),
                o => common::base64_decode(o["base64"].as_str().unwrap()).unwrap(),
            };
            (
                v["db"].as_u64().unwrap(),
                escape(&key),
                v["type"].as_str().unwrap().to_string(),
                v["expire_ms"].as_i64(),
                v.clone(),
            )
        })
        .collect()
}

/// The documented escaping of `rdbkit keys`, written independently.
fn escape(b: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        let valid = match std::str::from_utf8(rest) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&rest[..e.valid_up_to()]).unwrap(),
        };
        if valid.is_empty() {
            out.push_str(&format!("\\x{:02x}", b[i]));
            i += 1;
            continue;
        }
        let c = valid.chars().next().unwrap();
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
        i += c.len_utf8();
    }
    out
}

/// What `rdbkit keys --long` prints for an expected.jsonl's keys (db, type, key), sorted.
fn keys_long_lines(jsonl: &Path) -> Vec<String> {
    let mut want: Vec<String> = expected_keys(jsonl)
        .iter()
        .map(|e| format!("{}\t{}\t{}", e.0, e.2, e.1))
        .collect();
    want.sort();
    want
}

fn sorted_lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn keys_lists_every_key_from_path_gzip_and_stdin() {
    let exp = expected_keys(&repo().join("testdata/rdb/sample.expected.jsonl"));
    let want: Vec<String> = {
        let mut v: Vec<String> = exp.iter().map(|e| e.1.clone()).collect();
        v.sort();
        v
    };
    let path = sample();
    let out = ok(&run_rdbkit(["keys".as_ref(), path.as_os_str()]));
    assert_eq!(sorted_lines(&out), want);
    let raw = std::fs::read(&path).unwrap();
    // stdin, plain and gzip'd; a gzip'd file.
    assert_eq!(sorted_lines(&ok(&with_stdin(&["keys", "-"], &raw))), want);
    let gz = gzip(&raw);
    assert_eq!(sorted_lines(&ok(&with_stdin(&["keys", "-"], &gz))), want);
    let dir = TempDir::new("cli-keys-gz");
    let gzpath = dir.join("dump-20250124-020000.rdb.gz");
    std::fs::write(&gzpath, &gz).unwrap();
    assert_eq!(
        sorted_lines(&ok(&run_rdbkit(["keys".as_ref(), gzpath.as_os_str()]))),
        want
    );
    // Named like an AOF, still an RDB: the content decides.
    let odd = dir.join("not-really.aof");
    std::fs::write(&odd, &raw).unwrap();
    assert_eq!(
        sorted_lines(&ok(&run_rdbkit(["keys".as_ref(), odd.as_os_str()]))),
        want
    );
    // -0: raw bytes, NUL-terminated.
    let o = run_rdbkit(["keys".as_ref(), "-0".as_ref(), path.as_os_str()]);
    assert!(o.status.success());
    let needle = b"\x00\x00\xffbin\r\nkey\x00";
    assert!(o.stdout.windows(needle.len()).any(|w| w == needle));
    assert_eq!(o.stdout.iter().filter(|&&b| b == 0).count(), want.len() + 1);
}

#[test]
fn keys_filters() {
    let exp = expected_keys(&repo().join("testdata/rdb/sample.expected.jsonl"));
    let path = sample();
    let p = path.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut a = vec!["keys"];
        a.extend_from_slice(extra);
        a.push(p);
        sorted_lines(&ok(&run_rdbkit(&a)))
    };
    let pick = |f: &dyn Fn(&ExpKey) -> bool| {
        let mut v: Vec<String> = exp.iter().filter(|e| f(e)).map(|e| e.1.clone()).collect();
        v.sort();
        v
    };
    // --db (repeatable)
    assert_eq!(run(&["--db", "15"]), pick(&|e| e.0 == 15));
    assert_eq!(run(&["--db", "1", "--db", "15"]), pick(&|e| e.0 != 0));
    // --type
    assert_eq!(run(&["--type", "zset"]), pick(&|e| e.2 == "zset"));
    assert_eq!(
        run(&["--type", "set", "--type", "list"]),
        pick(&|e| e.2 == "set" || e.2 == "list")
    );
    // --match: Redis glob
    assert_eq!(
        run(&["--match", "str:int:*"]),
        pick(&|e| e.1.starts_with("str:int:"))
    );
    assert_eq!(
        run(&["--match", "str:int:[0-9]"]),
        vec!["str:int:0", "str:int:1"]
    );
    assert_eq!(
        run(&["--match", "str:int:[^-]*5"]),
        vec!["str:int:12345", "str:int:255", "str:int:65535"]
    );
    assert_eq!(run(&["--match", "db1?:*"]), vec!["db15:set", "db15:str"]);
    assert_eq!(run(&["--match", "\\*"]), Vec::<String>::new());
    // --min-size: the big ones only
    // (str:len:16384 is LZF-compressed: small on disk.)
    assert_eq!(
        run(&["--min-size", "1000"]),
        vec![
            "hash:big",
            "list:compressed",
            "set:bigint",
            "stream:main",
            "zset:skiplist"
        ]
    );
    // --skip-expired: the TTL keys are 2100-01-01 (+ a few ms)
    let ttl_keys = pick(&|e| e.3.is_some());
    assert_eq!(ttl_keys.len(), 6);
    assert_eq!(
        run(&["--skip-expired", "--now", "2099-12-31"]),
        pick(&|_| true)
    );
    assert_eq!(
        run(&["--skip-expired", "--now", "2100-01-02"]),
        pick(&|e| e.3.is_none())
    );
    // Just between two TTLs (ms precision).
    assert_eq!(
        run(&["--skip-expired", "--now", "4102444800003"]),
        pick(&|e| e.3.is_none_or(|t| t > 4102444800003))
    );
    // Combined, long form.
    let o = ok(&run_rdbkit([
        "keys", "--long", "--db", "0", "--type", "hash", "--match", "hash:*l*", p,
    ]));
    assert_eq!(
        o,
        "0\thash\thash:small\n0\thash\thash:ttl\n0\thash\thash:longval\n"
    );
    // Bad --now is a usage error.
    assert_eq!(
        run_rdbkit(["keys", "--now", "tomorrow", p]).status.code(),
        Some(1)
    );
}

#[test]
fn dump_filters_and_resp_commands() {
    let path = sample();
    let p = path.to_str().unwrap();
    let o = ok(&run_rdbkit(["dump", "--db", "15", "--type", "set", p]));
    assert_eq!(o.lines().count(), 1);
    assert!(o.contains("\"key\":\"db15:set\""));
    // RESP: parses back as commands, every one within the limit.
    let o = run_rdbkit(["dump", "--format", "resp", "--max-command-bytes", "300", p]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut names = std::collections::BTreeMap::<String, usize>::new();
    let mut n = 0;
    for (name, len, argc) in rdbkit_aof_reader(&o.stdout) {
        assert!(len <= 300 || argc <= 3, "{name} of {len} bytes");
        *names.entry(name).or_default() += 1;
        n += 1;
    }
    assert!(n > 100);
    for c in [
        "SELECT",
        "SET",
        "RPUSH",
        "SADD",
        "ZADD",
        "HSET",
        "XADD",
        "XSETID",
        "XGROUP",
        "XCLAIM",
        "PEXPIREAT",
        "APPEND",
    ] {
        assert!(names.contains_key(c), "no {c} in {names:?}");
    }
    assert_eq!(names["SELECT"], 3);
    assert_eq!(names["PEXPIREAT"], 6);
    assert_eq!(names["FUNCTION"], 1);
    let o = ok(&run_rdbkit([
        "dump",
        "--format",
        "resp",
        "--no-functions",
        "--db",
        "1",
        p,
    ]));
    assert!(!o.contains("FUNCTION"));
    assert!(o.starts_with("*2\r\n$6\r\nSELECT\r\n$1\r\n1\r\n"), "{o}");
}

/// Splits RESP output into (command name, encoded length, argc).
fn rdbkit_aof_reader(buf: &[u8]) -> impl Iterator<Item = (String, usize, usize)> + '_ {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if pos >= buf.len() {
            return None;
        }
        let start = pos;
        let line = |p: &mut usize| -> String {
            let e = buf[*p..].windows(2).position(|w| w == b"\r\n").unwrap() + *p;
            let s = String::from_utf8_lossy(&buf[*p..e]).into_owned();
            *p = e + 2;
            s
        };
        let h = line(&mut pos);
        let argc: usize = h[1..].parse().unwrap();
        let mut name = String::new();
        for i in 0..argc {
            let l: usize = line(&mut pos)[1..].parse().unwrap();
            if i == 0 {
                name = String::from_utf8_lossy(&buf[pos..pos + l]).into_owned();
            }
            pos += l + 2;
        }
        Some((name, pos - start, argc))
    })
}

#[test]
fn info_on_sample_and_corpus() {
    let path = sample();
    let o = ok(&run_rdbkit([
        "info".as_ref(),
        "--json".as_ref(),
        "--now".as_ref(),
        "2100-01-02".as_ref(),
        path.as_os_str(),
    ]));
    let j: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(j["rdb_version"], 10);
    assert_eq!(j["writer"], "redis 7.0.15");
    assert_eq!(j["checksum"]["status"], "ok");
    let exp = expected_keys(&repo().join("testdata/rdb/sample.expected.jsonl"));
    for db in [0u64, 1, 15] {
        let n = exp.iter().filter(|e| e.0 == db).count();
        let x = exp.iter().filter(|e| e.0 == db && e.3.is_some()).count();
        let d = &j["dbs"][db.to_string()];
        assert_eq!(d["keys"].as_u64(), Some(n as u64), "db {db}");
        assert_eq!(d["expires"].as_u64(), Some(x as u64), "db {db}");
        assert_eq!(d["expired"].as_u64(), Some(x as u64), "db {db}");
    }
    assert_eq!(j["functions"][0], "rdbkit_fixture");
    assert_eq!(j["dbs"]["0"]["types"]["set"]["encodings"]["intset"], 3);
    // Text form, stdin gzip'd.
    let raw = std::fs::read(&path).unwrap();
    let t = ok(&with_stdin(
        &["info", "--now", "2026-01-01", "-"],
        &gzip(&raw),
    ));
    assert!(t.contains("kind:        rdb (gzip)"), "{t}");
    assert!(t.contains("format:      REDIS version 10"), "{t}");
    assert!(t.contains("db 15: keys=3 expires=0 expired=0"), "{t}");

    let Some(c) = corpus() else { return };
    for dir in std::fs::read_dir(c.join("rdb")).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for variant in ["base", "modules", "repl"] {
            let f = dir.join(format!("{variant}.rdb"));
            if !f.is_file() {
                continue;
            }
            let meta: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(dir.join(format!("{variant}.meta.json"))).unwrap(),
            )
            .unwrap();
            let o = ok(&run_rdbkit([
                "info".as_ref(),
                "--json".as_ref(),
                f.as_os_str(),
            ]));
            let j: serde_json::Value = serde_json::from_str(&o).unwrap();
            let ctx = f.display().to_string();
            assert_eq!(j["rdb_version"], meta["rdb_version"], "{ctx}");
            assert_eq!(j["keys"], meta["key_count"], "{ctx}");
            if let Some(per) = meta["keys_per_db"].as_object() {
                for (db, n) in per {
                    assert_eq!(&j["dbs"][db]["keys"], n, "{ctx} db {db}");
                }
            }
            if let Some(funcs) = meta["functions"].as_array() {
                let mut got: Vec<String> = j["functions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect();
                let mut want: Vec<String> = funcs
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect();
                got.sort();
                want.sort();
                assert_eq!(got, want, "{ctx}");
            }
            let want_ck = if meta["checksum"].is_null() {
                "disabled"
            } else {
                "ok"
            };
            if meta["rdb_version"].as_u64().unwrap() >= 5 {
                assert_eq!(j["checksum"]["status"], want_ck, "{ctx}");
            }
            if let Some(aux) = meta["aux"].as_object() {
                for (k, v) in aux {
                    assert_eq!(&j["aux"][k], v, "{ctx} aux {k}");
                }
            }
            if variant == "modules" {
                let mods = j["module_types"].as_object().unwrap();
                assert!(!mods.is_empty(), "{ctx}: no module types reported");
            }
        }
    }
}

#[test]
fn info_and_keys_on_aof_dir() {
    let dir = repo().join("testdata/aof/appendonlydir");
    let exp = expected_keys(&repo().join("testdata/aof/appendonlydir.expected.jsonl"));
    let mut want: Vec<String> = exp.iter().map(|e| e.1.clone()).collect();
    want.sort();
    let o = ok(&run_rdbkit(["keys".as_ref(), dir.as_os_str()]));
    assert_eq!(sorted_lines(&o), want);
    let manifest = dir.join("appendonly.aof.manifest");
    let o = ok(&run_rdbkit(["keys".as_ref(), manifest.as_os_str()]));
    assert_eq!(sorted_lines(&o), want);
    let o = ok(&run_rdbkit([
        "info".as_ref(),
        "--json".as_ref(),
        dir.as_os_str(),
    ]));
    let j: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(j["kind"], "aof-dir");
    assert_eq!(j["keys"].as_u64().unwrap() as usize, want.len());
}

#[test]
fn size_report() {
    let path = sample();
    let o = ok(&run_rdbkit([
        "size".as_ref(),
        "--json".as_ref(),
        "--top".as_ref(),
        "3".as_ref(),
        path.as_os_str(),
    ]));
    let j: serde_json::Value = serde_json::from_str(&o).unwrap();
    let exp = expected_keys(&repo().join("testdata/rdb/sample.expected.jsonl"));
    assert_eq!(j["total"]["keys"].as_u64(), Some(exp.len() as u64));
    // Ranked by estimated memory by default, biggest first.
    assert_eq!(j["by"], "memory");
    let top = j["top"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    let m: Vec<u64> = top.iter().map(|r| r["memory"].as_u64().unwrap()).collect();
    assert!(m[0] >= m[1] && m[1] >= m[2], "{m:?}");
    assert_eq!(j["top_by_memory"], j["top"]);
    // --by bytes: the serialized size.
    let o = ok(&run_rdbkit([
        "size".as_ref(),
        "--json".as_ref(),
        "--by".as_ref(),
        "bytes".as_ref(),
        "--top".as_ref(),
        "3".as_ref(),
        path.as_os_str(),
    ]));
    let jb: serde_json::Value = serde_json::from_str(&o).unwrap();
    let top = jb["top_by_bytes"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    let b: Vec<u64> = top.iter().map(|r| r["bytes"].as_u64().unwrap()).collect();
    assert!(b[0] >= b[1] && b[1] >= b[2], "{b:?}");
    let te = j["top_by_elements"].as_array().unwrap();
    assert!(te[0]["elements"].as_u64().unwrap() >= 150, "{te:?}");
    assert_eq!(j["dbs"]["15"]["keys"], 3);
    assert_eq!(j["types"]["stream"]["keys"], 6);
    // Prefix totals add up to the total.
    let sum: u64 = j["prefixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["keys"].as_u64().unwrap())
        .sum();
    assert!(sum <= exp.len() as u64);
    // CSV: a header and one row per key; filters apply.
    let csv = ok(&run_rdbkit([
        "size".as_ref(),
        "--csv".as_ref(),
        "--db".as_ref(),
        "0".as_ref(),
        path.as_os_str(),
    ]));
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "database,type,key,size_in_bytes,encoding,num_elements,len_largest_element,expiry,file_bytes"
    );
    assert_eq!(lines.count(), exp.iter().filter(|e| e.0 == 0).count());
    // Table form.
    let t = ok(&run_rdbkit([
        "size".as_ref(),
        "--prefix-depth".as_ref(),
        "2".as_ref(),
        path.as_os_str(),
    ]));
    assert!(t.contains("biggest keys by memory (top 10)"), "{t}");
    assert!(t.contains(" KiB "), "{t}");
    assert!(t.contains("str:int:"), "{t}");

    let Some(c) = corpus() else { return };
    let big = c.join("rdb/7.0.15/bigstring.rdb");
    let o = ok(&run_rdbkit([
        "size".as_ref(),
        "--json".as_ref(),
        "--top".as_ref(),
        "1".as_ref(),
        big.as_os_str(),
    ]));
    let j: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(j["top"][0]["elements"], 1);
    assert_eq!(j["top"][0]["type"], "string");
    assert!(j["top"][0]["memory"].as_u64().unwrap() >= 1 << 20);
}

#[test]
fn diff_self_is_empty_and_across_versions() {
    let path = sample();
    let o = run_rdbkit(["diff".as_ref(), path.as_os_str(), path.as_os_str()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.stdout.is_empty());
    // Against its gzip'd self on stdin.
    let raw = std::fs::read(&path).unwrap();
    let o = with_stdin(&["diff", path.to_str().unwrap(), "-"], &gzip(&raw));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let Some(c) = corpus() else { return };
    // base and nocompress hold the same data set (different encodings on disk).
    for v in ["6.2.14", "7.0.15", "7.4.1"] {
        let a = c.join(format!("rdb/{v}/base.rdb"));
        let b = c.join(format!("rdb/{v}/nocompress.rdb"));
        let o = run_rdbkit(["diff".as_ref(), a.as_os_str(), b.as_os_str()]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{v}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
    // Different data sets differ, exit 1.
    let a = c.join("rdb/7.0.15/mini.rdb");
    let o = run_rdbkit(["diff".as_ref(), a.as_os_str(), path.as_os_str()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout)
        .lines()
        .any(|l| l.starts_with("+ db=0 key=hash:big type=hash")));
    // A missing file is exit 2.
    assert_eq!(
        run_rdbkit(["diff", "/nonexistent.rdb", "/nonexistent2.rdb"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn unknown_input_is_one_clear_line() {
    let dir = TempDir::new("cli-bad");
    let f = dir.join("x.rdb");
    std::fs::write(&f, b"hello world").unwrap();
    let o = run_rdbkit(["keys".as_ref(), f.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("bad magic") && e.contains("x.rdb"), "{e}");
    assert_eq!(e.lines().count(), 1);
    // An AOF given to dump: exit 1, pointing to `aof dump`.
    let aof = repo().join("testdata/aof/appendonlydir");
    let o = run_rdbkit(["dump".as_ref(), aof.as_os_str()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("rdbkit aof dump"));
    // dump reads gzip'd input too.
    let raw = std::fs::read(sample()).unwrap();
    let gz = dir.join("s.rdb.gz");
    std::fs::write(&gz, gzip(&raw)).unwrap();
    let a = ok(&run_rdbkit(["dump".as_ref(), gz.as_os_str()]));
    let b = ok(&run_rdbkit(["dump".as_ref(), sample().as_os_str()]));
    assert_eq!(a, b);
    // check too: a gzip'd file and a gzip'd stream.
    let c = ok(&run_rdbkit(["check".as_ref(), gz.as_os_str()]));
    assert!(c.contains("RDB looks OK"), "{c}");
    let c = ok(&with_stdin(&["check", "-"], &gzip(&raw)));
    assert!(c.contains("RDB looks OK"), "{c}");
    // A damaged RDB: exit 2, the error names the offset and key.
    let Some(c) = corpus() else { return };
    let bad = c.join("rdb/7.0.15/corrupt/bad_length_prefix.rdb");
    let o = run_rdbkit(["keys".as_ref(), bad.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("at byte ") && e.contains(&bad.display().to_string()),
        "{e}"
    );
}

/// Every multi-part AOF of the corpus (every version, every layout) replays to exactly the keys
/// and types of its ground truth.
#[test]
fn keys_of_corpus_aof_dirs_match_ground_truth() {
    let Some(c) = corpus() else { return };
    let mut n = 0;
    for v in std::fs::read_dir(c.join("aof")).unwrap() {
        let v = v.unwrap().path();
        for layout in ["mp-aof", "mp-rdb", "mp-ts"] {
            let d = v.join(layout);
            let exp = v.join(format!("{layout}.expected.jsonl"));
            if !d.is_dir() || !exp.is_file() {
                continue;
            }
            let want = keys_long_lines(&exp);
            let o = ok(&run_rdbkit([
                "keys".as_ref(),
                "--long".as_ref(),
                d.as_os_str(),
            ]));
            assert_eq!(sorted_lines(&o), want, "{}", d.display());
            n += 1;
        }
    }
    assert!(n >= 9, "only {n} corpus AOF sets found");
}

/// A 4.0–6.2 single-file AOF with an RDB preamble (`aof-preamble 1`) is an AOF, not an RDB:
/// `keys` and `info` replay its RESP tail on top of the RDB part (all the keys of the ground
/// truth, not only the preamble's), `check` gives the AOF verdict, and `dump` (an RDB dump)
/// refuses it rather than print the preamble's keys alone.
#[test]
fn preamble_aof_files_are_read_as_aofs() {
    let Some(c) = corpus() else { return };
    let mut n = 0;
    for v in std::fs::read_dir(c.join("aof")).unwrap() {
        let v = v.unwrap().path();
        let f = v.join("single-preamble/appendonly.aof");
        let exp = v.join("single-preamble.expected.jsonl");
        if !f.is_file() || !exp.is_file() || !std::fs::read(&f).unwrap().starts_with(b"REDIS") {
            continue;
        }
        let want = keys_long_lines(&exp);
        let o = run_rdbkit(["keys".as_ref(), "--long".as_ref(), f.as_os_str()]);
        let err = String::from_utf8_lossy(&o.stderr);
        if err.contains("command EVAL is not supported") {
            // Redis < 5 propagates scripts as EVAL: the replay can't know their effects, and
            // says so with the offset (the 4.0 corpus file); exit 2, as `info` says of it.
            assert_eq!(o.status.code(), Some(2));
            assert!(err.contains("at byte offset"), "{err}");
        } else {
            assert_eq!(sorted_lines(&ok(&o)), want, "{}", f.display());
            n += 1;
        }

        let o = ok(&run_rdbkit(["check".as_ref(), f.as_os_str()]));
        assert!(
            o.contains("an AOF (aof)") && o.contains("verdict: valid"),
            "{o}"
        );

        let o = run_rdbkit(["dump".as_ref(), f.as_os_str()]);
        assert_eq!(o.status.code(), Some(1), "{}", f.display());
        assert!(o.stdout.is_empty());
        assert!(String::from_utf8_lossy(&o.stderr).contains("rdbkit aof dump"));
    }
    assert!(n >= 2, "only {n} single-file preamble AOFs replayed");
}

/// `rdbkit check` on AOF paths: the AOF verdict with check's exit codes (0 sound, 2 damaged),
/// and a multi-part base given alone is an RDB with a note pointing at its directory.
#[test]
fn check_takes_aofs() {
    let d = repo().join("testdata/aof");
    let o = ok(&run_rdbkit([
        "check".as_ref(),
        d.join("appendonlydir").as_os_str(),
    ]));
    assert!(
        o.contains("an AOF (aof-dir)") && o.contains("verdict: valid"),
        "{o}"
    );
    let torn = d.join("torn/appendonlydir");
    let o = run_rdbkit(["check".as_ref(), torn.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("NOT valid")
            && out.contains("would cut appendonly.aof.3.incr.aof at offset 1327"),
        "{out}"
    );
    // -q prints the verdict only when it is bad.
    let o = run_rdbkit([
        "check".as_ref(),
        "-q".as_ref(),
        d.join("appendonlydir").as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());
    let base = d.join("appendonlydir/appendonly.aof.2.base.rdb");
    let o = ok(&run_rdbkit(["check".as_ref(), base.as_os_str()]));
    assert!(
        o.contains("RDB looks OK") && o.contains("the base of a multi-part AOF"),
        "{o}"
    );
}

/// `check` on one core and on several gives the same output and exit code, on every RDB of the
/// corpus (the damaged ones under `corrupt/` included) and on the bundled fixtures.
#[test]
fn check_threads_agree() {
    let mut files = vec![sample(), repo().join("testdata/rdb/redis-8.10-types.rdb")];
    if let Some(c) = corpus() {
        let mut dirs = vec![c.join("rdb")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rdb") {
                    files.push(p);
                }
            }
        }
    }
    let mut refused = 0;
    for f in &files {
        let run = |t: &str| {
            let o = run_rdbkit([
                "check".as_ref(),
                "--threads".as_ref(),
                t.as_ref(),
                f.as_os_str(),
            ]);
            (o.status.code(), o.stdout, o.stderr)
        };
        let one = run("1");
        assert_eq!(run("2"), one, "{}", f.display());
        assert_eq!(run("3"), one, "{}", f.display());
        refused += usize::from(one.0 == Some(2));
    }
    if files.len() > 2 {
        assert!(refused >= 20, "only {refused} damaged files refused");
    }
}
