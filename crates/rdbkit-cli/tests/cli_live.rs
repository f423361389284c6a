//! Live tests against Debian's redis-server 7.0:
//! - `rdbkit dump --format resp` of every corpus RDB that 7.0 can load (RDB ≤ 10, no module
//!   types), piped with `redis-cli --pipe` into a fresh server, then SAVEd and dumped again,
//!   gives back exactly the corpus ground truth (keys, values, TTLs, stream groups);
//! - `rdbkit diff` of a file against a copy changed through a real server lists exactly the
//!   changes.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{require_tool, run_rdbkit, Server, TempDir};
use serde_json::Value as J;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn corpus() -> Option<PathBuf> {
    common::corpus_dir()
}

fn id_key(s: &str) -> (u64, u64) {
    let (a, b) = s.split_once('-').unwrap_or((s, "0"));
    (a.parse().unwrap_or(0), b.parse().unwrap_or(0))
}

/// A JSON line normalized for comparison with ground truth: no encoding/LFU/LRU; sets and
/// hashes sorted; scores as f64; stream groups/PEL/consumers sorted; stream fields the
/// expected side does not have dropped.
fn normalize(mut v: J, shape: Option<&J>) -> J {
    let o = v.as_object_mut().unwrap();
    o.remove("encoding");
    o.remove("lfu_freq");
    o.remove("lru_idle");
    let ty = o["type"].as_str().unwrap().to_string();
    let val = o.get_mut("value").unwrap();
    match ty.as_str() {
        "set" => val.as_array_mut().unwrap().sort_by_key(|x| x.to_string()),
        "hash" => val
            .as_array_mut()
            .unwrap()
            .sort_by_key(|x| x[0].to_string()),
        "zset" => {
            for p in val.as_array_mut().unwrap() {
                if let Some(f) = p[1].as_f64() {
                    p[1] = J::from(f);
                }
            }
        }
        "stream" => {
            let s = val.as_object_mut().unwrap();
            if let Some(shape) = shape.and_then(|x| x["value"].as_object()) {
                s.retain(|k, _| shape.contains_key(k));
            }
            let gshape = shape
                .and_then(|x| x["value"]["groups"].as_array())
                .and_then(|g| g.first())
                .and_then(|g| g.as_object())
                .cloned();
            if let Some(groups) = s.get_mut("groups").and_then(|g| g.as_array_mut()) {
                for g in groups.iter_mut() {
                    let go = g.as_object_mut().unwrap();
                    if let Some(gs) = &gshape {
                        go.retain(|k, _| gs.contains_key(k));
                    }
                    if let Some(p) = go.get_mut("pending").and_then(|p| p.as_array_mut()) {
                        p.sort_by_key(|e| id_key(e[0].as_str().unwrap()));
                    }
                    if let Some(cs) = go.get_mut("consumers").and_then(|p| p.as_array_mut()) {
                        cs.sort_by_key(|c| c["name"].to_string());
                        for c in cs.iter_mut() {
                            if let Some(p) = c["pending"].as_array_mut() {
                                p.sort_by_key(|e| id_key(e.as_str().unwrap()));
                            }
                        }
                    }
                }
                groups.sort_by_key(|g| g["name"].to_string());
            }
        }
        _ => {}
    }
    v
}

fn key_of(v: &J) -> (u64, String) {
    (v["db"].as_u64().unwrap(), v["key"].to_string())
}

fn parse_lines(s: &str) -> Vec<J> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Dumps `file` as RESP, pipes it into a fresh 7.0 server, SAVEs, and compares the saved file's
/// jsonl with the ground truth. Returns the differences.
fn round_trip(
    redis: &Path,
    cli: &Path,
    file: &Path,
    expected: &Path,
    tmp: &TempDir,
) -> Vec<String> {
    let resp = run_rdbkit([
        "dump".as_ref(),
        "--format".as_ref(),
        "resp".as_ref(),
        file.as_os_str(),
    ]);
    assert!(
        resp.status.success(),
        "{}: dump resp: {}",
        file.display(),
        String::from_utf8_lossy(&resp.stderr)
    );
    let dir = tmp.join(file.to_string_lossy().replace('/', "_"));
    let server = Server::start(redis, &dir, &[]);
    let mut child = Command::new(cli)
        .args(["-p", &server.port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&resp.stdout).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("errors: 0"),
        "{}: redis-cli --pipe reported errors:\n{text}",
        file.display()
    );
    let mut c = server.client();
    c.ok(args!["SAVE"]);
    let saved = dir.join("dump.rdb");
    let got = run_rdbkit(["dump".as_ref(), saved.as_os_str()]);
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    server.shutdown();
    let exp = parse_lines(&std::fs::read_to_string(expected).unwrap());
    let mut exp_map = std::collections::BTreeMap::new();
    for e in exp {
        exp_map.insert(key_of(&e), e);
    }
    let mut diffs = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for g in parse_lines(&String::from_utf8_lossy(&got.stdout)) {
        let k = key_of(&g);
        seen.insert(k.clone());
        match exp_map.get(&k) {
            None => diffs.push(format!("{k:?}: not expected")),
            Some(e) => {
                let ge = normalize(g.clone(), Some(e));
                let ee = normalize(e.clone(), None);
                if ge != ee {
                    diffs.push(format!("{k:?}:\n   got {ge}\n  want {ee}"));
                }
            }
        }
    }
    for k in exp_map.keys().filter(|k| !seen.contains(*k)) {
        diffs.push(format!("{k:?}: missing"));
    }
    diffs
}

#[test]
fn resp_dump_restores_into_redis_7_0() {
    let Some(redis) = require_tool("redis-server") else {
        return;
    };
    let Some(cli) = require_tool("redis-cli") else {
        return;
    };
    let tmp = TempDir::new("cli-live-resp");
    let mut files = vec![(
        repo().join("testdata/rdb/sample.rdb"),
        repo().join("testdata/rdb/sample.expected.jsonl"),
    )];
    if let Some(c) = corpus() {
        for v in ["2.8.24", "3.2.13", "4.0.14", "5.0.14", "6.2.14", "7.0.15"] {
            for variant in [
                "base",
                "mini",
                "nocompress",
                "nochecksum",
                "bigstring",
                "empty",
                "lfu",
                "lru",
                "repl",
            ] {
                let f = c.join(format!("rdb/{v}/{variant}.rdb"));
                if f.is_file() {
                    files.push((f, c.join(format!("rdb/{v}/{variant}.expected.jsonl"))));
                }
            }
        }
        assert!(files.len() > 40, "corpus files missing: {}", files.len());
    }
    let mut failures = Vec::new();
    for (f, e) in &files {
        let d = round_trip(&redis, &cli, f, e, &tmp);
        if !d.is_empty() {
            failures.push(format!(
                "{}: {} difference(s)\n  {}",
                f.display(),
                d.len(),
                d.iter().take(5).cloned().collect::<Vec<_>>().join("\n  ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn diff_lists_exactly_the_changes_made_through_a_server() {
    let Some(redis) = require_tool("redis-server") else {
        return;
    };
    let tmp = TempDir::new("cli-live-diff");
    let a = repo().join("testdata/rdb/sample.rdb");
    let dir = tmp.join("srv");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&a, dir.join("dump.rdb")).unwrap();
    let server = Server::start(&redis, &dir, &["--dbfilename", "dump.rdb"]);
    let mut c = server.client();
    c.ok(args!["SET", "new:key", "fresh"]);
    c.ok(args!["DEL", "str:short"]);
    c.ok(args!["HSET", "hash:small", "name", "delta", "added", "1"]);
    c.ok(args!["HDEL", "hash:small", "neg"]);
    c.ok(args!["SADD", "set:strs", "gamma"]);
    c.ok(args!["SREM", "set:strs", "alpha"]);
    c.ok(args!["ZADD", "zset:small", "99", "neg"]);
    c.ok(args!["RPUSH", "list:small", "tail"]);
    c.ok(args!["PEXPIREAT", "str:utf8", 4102444800999i64]);
    c.ok(args!["PERSIST", "str:ttl"]);
    c.ok(args!["XADD", "stream:main", "1800000000000-0", "f", "v"]);
    c.ok(args!["SELECT", 15]);
    c.ok(args!["SET", "db15:str", 12345]);
    c.ok(args!["SAVE"]);
    server.shutdown();
    let b = dir.join("dump.rdb");
    let o = run_rdbkit(["diff".as_ref(), a.as_os_str(), b.as_os_str()]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let got = String::from_utf8(o.stdout).unwrap();
    let want = "\
~ db=0 key=hash:small type=hash
    field +added
    field name: charlie -> delta
    field -neg
~ db=0 key=list:small type=list
    length: 7 -> 8; first difference at index 7
+ db=0 key=new:key type=string
~ db=0 key=set:strs type=set
    member +gamma
    member -alpha
~ db=0 key=str:short type=string
~ db=0 key=str:ttl type=string
    ttl: 2100-01-01T00:00:00.001Z -> none
~ db=0 key=str:utf8 type=string
    ttl: none -> 2100-01-01T00:00:00.999Z
~ db=0 key=stream:main type=stream
    entry +1800000000000-0
    last_id: 1700000039000-0 -> 1800000000000-0
    entries_added: 45 -> 46
~ db=0 key=zset:small type=zset
    score neg: -2.5 -> 99
~ db=15 key=db15:str type=string
    value: 8 bytes -> 5 bytes
";
    assert_eq!(
        got,
        want.replace(
            "~ db=0 key=str:short type=string\n",
            "- db=0 key=str:short type=string\n"
        )
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// An AOF directory replayed by rdbkit equals what the server loads from it (the server's
/// SAVE of it): `rdbkit diff DIR dump.rdb` is empty. Then one change through the server shows.
#[test]
fn diff_aof_dir_against_the_servers_own_load() {
    let Some(redis) = require_tool("redis-server") else {
        return;
    };
    let tmp = TempDir::new("cli-live-aofdiff");
    let mut dirs = vec![
        repo().join("testdata/aof/appendonlydir"),
        repo().join("testdata/aof/ts/appendonlydir"),
    ];
    if let Some(c) = corpus() {
        for v in ["mp-aof", "mp-rdb", "mp-ts"] {
            dirs.push(c.join(format!("aof/7.0.15/{v}/appendonlydir")));
        }
    }
    for (i, d) in dirs.iter().enumerate() {
        let data = tmp.join(format!("d{i}"));
        copy_dir(d, &data.join("appendonlydir"));
        let server = Server::start(
            &redis,
            &data,
            &["--appendonly", "yes", "--appenddirname", "appendonlydir"],
        );
        let mut c = server.client();
        c.ok(args!["SAVE"]);
        let saved = tmp.join(format!("d{i}.rdb"));
        std::fs::copy(data.join("dump.rdb"), &saved).unwrap();
        // The original directory (not the server's copy, which it may have rewritten).
        let o = run_rdbkit(["diff".as_ref(), d.as_os_str(), saved.as_os_str()]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}: {}{}",
            d.display(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        c.ok(args!["SET", "diff:probe", "x"]);
        c.ok(args!["SAVE"]);
        std::fs::copy(data.join("dump.rdb"), &saved).unwrap();
        let o = run_rdbkit(["diff".as_ref(), d.as_os_str(), saved.as_os_str()]);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "+ db=0 key=diff:probe type=string\n"
        );
        server.shutdown();
    }
}
