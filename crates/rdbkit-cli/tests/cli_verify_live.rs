//! Live test of `rdbkit verify BACKUP --against`: a real `redis-server` (Debian's, on 127.0.0.1
//! and a free port) loads a backup (testdata/rdb/sample.rdb as its dump.rdb); the comparison
//! says equal; after a few keys are changed, deleted and added through the server it reports
//! exactly those; and it never wrote anything to the server.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;

fn testdata(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(p)
}

fn against(backup: &Path, url: &str, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut a = vec![
        "verify",
        backup.to_str().unwrap(),
        "--against",
        url,
        "--json",
    ];
    a.extend_from_slice(extra);
    let out = run_rdbkit(&a);
    let text = String::from_utf8_lossy(&out.stdout);
    let j = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), j)
}

fn strings(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// `cmdstat_<name>` → calls, from INFO commandstats.
fn command_calls(c: &mut Client) -> std::collections::BTreeMap<String, u64> {
    let info = c.cmd(args!["INFO", "commandstats"]).text();
    info.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("cmdstat_")?;
            let (name, stats) = rest.split_once(':')?;
            let calls = stats
                .split(',')
                .find_map(|kv| kv.strip_prefix("calls="))?
                .parse()
                .ok()?;
            Some((name.to_string(), calls))
        })
        .collect()
}

#[test]
fn against_a_restored_server() {
    let Some(bin) = require_tool("redis-server") else {
        return;
    };
    let tmp = TempDir::new("verify-live");
    let backup = testdata("rdb/sample.rdb");
    std::fs::copy(&backup, tmp.join("dump.rdb")).unwrap();
    let server = Server::start(&bin, tmp.path(), &["--dbfilename", "dump.rdb"]);
    let url = format!("redis://127.0.0.1:{}", server.port);
    let mut c = server.client();
    assert_eq!(
        c.cmd(args!["DBSIZE"]).int(),
        66,
        "the server loaded the backup"
    );

    // Restored as it is: equal, in db 0 and db 15, and on a sample.
    let (code, j) = against(&backup, &url, &[]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(j["equal"], true);
    assert_eq!(j["backup_keys"], 66);
    assert_eq!(j["compared"], 66);
    let (code, j) = against(&backup, &format!("{url}/15"), &[]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(j["backup_keys"], 3);
    let (code, j) = against(&backup, &url, &["--sample", "10"]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(j["compared"], 10);

    // Change, delete and add a few keys.
    let before = command_calls(&mut c);
    c.ok(args!["SET", "str:int:255", "256"]);
    c.ok(args!["HSET", "hash:small", "added-field", "1"]);
    c.ok(args!["RPUSH", "list:small", "tail"]);
    c.ok(args!["ZADD", "zset:skiplist", "12345", "new-member"]);
    c.ok(args!["XADD", "stream:main", "*", "f", "v"]);
    c.ok(args!["PEXPIRE", "set:int64", "900000000"]);
    c.ok(args!["DEL", "str:lzf:20", "list:compressed"]);
    c.ok(args!["SET", "added:one", "x"]);
    c.ok(args!["SADD", "added:two", "a", "b"]);
    let changed: BTreeSet<String> = [
        "str:int:255",
        "hash:small",
        "list:small",
        "zset:skiplist",
        "stream:main",
        "set:int64",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    let (code, j) = against(&backup, &url, &[]);
    assert_eq!(code, Some(1), "differences: exit 1\n{j}");
    assert_eq!(j["equal"], false);
    assert_eq!(
        strings(&j["missing"]),
        ["list:compressed", "str:lzf:20"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    assert_eq!(
        strings(&j["extra"]),
        ["added:one", "added:two"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    let different: BTreeSet<String> = j["different"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(different, changed, "{j}");
    let why = |k: &str| {
        j["different"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["key"] == k)
            .map(|d| d["why"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert!(why("str:int:255").contains("\"255\" in the backup, \"256\" on the server"));
    assert!(why("set:int64").contains("expiry differs"));

    // Text output says the same, line by line.
    let out = run_rdbkit(["verify", backup.to_str().unwrap(), "--against", &url]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("MISSING   \"str:lzf:20\""), "{text}");
    assert!(text.contains("EXTRA     \"added:two\""), "{text}");
    assert!(text.contains("DIFFERENT \"hash:small\""), "{text}");

    // Nothing but reads: every write the server counted since is one of ours.
    let after = command_calls(&mut c);
    let ours = [
        "set", "hset", "rpush", "zadd", "xadd", "pexpire", "del", "sadd",
    ];
    let reads = [
        "scan",
        "type",
        "pexpiretime",
        "dbsize",
        "get",
        "lrange",
        "smembers",
        "zrange",
        "hgetall",
        "xrange",
        "select",
        "client|setinfo",
        "info",
        "ping",
        "hello",
    ];
    for (name, calls) in &after {
        let old = before.get(name).copied().unwrap_or(0);
        if calls == &old {
            continue;
        }
        assert!(
            reads.contains(&name.as_str()) || ours.contains(&name.as_str()),
            "rdbkit sent {name} ({} calls)",
            calls - old
        );
        if ours.contains(&name.as_str()) {
            let expected = match name.as_str() {
                "set" => 2,
                _ => 1,
            };
            assert_eq!(calls - old, expected, "{name}: only the test's own calls");
        }
    }

    // (A non-loopback host is refused before any connection: unit test `loopback_only`;
    // no test here sends anything off this machine.)
    server.shutdown();
}
