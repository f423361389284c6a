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

    // Restored as it is: equal in every db (0, 1, 15: 66 + 2 + 3 keys), in db 15 alone, and
    // on a sample.
    let (code, j) = against(&backup, &url, &[]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(j["equal"], true);
    assert_eq!(j["backup_keys"], 71);
    assert_eq!(j["compared"], 71);
    let dbs: Vec<u64> = j["dbs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["db"].as_u64().unwrap())
        .collect();
    assert_eq!(dbs, [0, 1, 15]);
    let (code, j) = against(&backup, &format!("{url}/15"), &[]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(j["backup_keys"], 3);
    assert_eq!(j["db"], 15);
    let (code, j) = against(&backup, &url, &["--db", "1"]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(j["backup_keys"], 2);
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

    // db 1 flushed on the server: the comparison of every db says so (it used to compare
    // db 0 alone and say EQUAL); db 0 named alone is unaffected.
    let (code, j) = against(&backup, &format!("{url}/0"), &[]);
    assert_eq!(code, Some(1));
    let before_flush = j["missing"].clone();
    c.ok(args!["SELECT", "1"]);
    c.ok(args!["FLUSHDB"]);
    c.ok(args!["SELECT", "0"]);
    let (code, j) = against(&backup, &url, &[]);
    assert_eq!(code, Some(1), "{j}");
    let db1 = j["dbs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["db"] == 1)
        .unwrap()
        .clone();
    assert_eq!(db1["equal"], false, "{j}");
    assert_eq!(db1["missing"].as_array().unwrap().len(), 2, "{db1}");
    assert_eq!(db1["server_keys"], 0);
    let (_, j) = against(&backup, &format!("{url}/0"), &[]);
    assert_eq!(j["missing"], before_flush);

    // Nothing but reads: every write the server counted since is one of ours.
    let after = command_calls(&mut c);
    let ours = [
        "set", "hset", "rpush", "zadd", "xadd", "pexpire", "del", "sadd", "flushdb",
    ];
    let reads = [
        "scan",
        "type",
        "pexpiretime",
        "pttl",
        "command|info",
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

fn dbs_of(j: &serde_json::Value) -> Vec<u64> {
    j["dbs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["db"].as_u64().unwrap())
        .collect()
}

/// On each real server: data in dbs 0, 2 and 5 written with `appendonly yes`; the server's own
/// `SAVE` and its AOF, each compared with the live server: equal in every db; after a FLUSHDB
/// of db 2 the RDB differs there (the AOF, which holds the FLUSHDB, is equal again); a password
/// in the URL is used and never printed.
#[test]
fn against_every_db_and_aof_backups_on_each_server() {
    for kind in ServerKind::ALL {
        let Some(bin) = kind.require() else { continue };
        let tmp = TempDir::new(&format!("verify-live-{}", kind.name()));
        let server = Server::start(
            &bin,
            tmp.path(),
            &[
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dbfilename",
                "dump.rdb",
            ],
        );
        let url = format!("redis://127.0.0.1:{}", server.port);
        let mut c = server.client();
        let mut expected_keys = 0u64;
        for db in [0u64, 2, 5] {
            c.ok(args!["SELECT", db]);
            for i in 0..20 {
                c.ok(args!["SET", format!("s:{db}:{i}"), format!("v{i}")]);
            }
            c.ok(args!["HSET", format!("h:{db}"), "f1", "a", "f2", "b"]);
            c.ok(args!["RPUSH", format!("l:{db}"), "x", "y", "z"]);
            c.ok(args!["SADD", format!("set:{db}"), "1", "2", "three"]);
            c.ok(args!["ZADD", format!("z:{db}"), "1.5", "m1", "-2", "m2"]);
            c.ok(args!["SET", format!("ttl:{db}"), "t", "PX", "86400000"]);
            c.ok(args!["XADD", format!("x:{db}"), "*", "f", "v"]);
            expected_keys += 26;
        }
        c.ok(args!["SELECT", 0]);
        c.ok(args!["SAVE"]);
        let rdb = tmp.join("dump.rdb");
        let aof = if kind == ServerKind::Redis62 {
            tmp.join("appendonly.aof")
        } else {
            tmp.join("appendonlydir")
        };
        assert!(aof.exists(), "{}: no {}", kind.name(), aof.display());

        for backup in [&rdb, &aof] {
            let (code, j) = against(backup, &url, &[]);
            assert_eq!(code, Some(0), "{}: {}: {j}", kind.name(), backup.display());
            assert_eq!(dbs_of(&j), [0, 2, 5], "{j}");
            assert_eq!(j["backup_keys"], expected_keys, "{j}");
            assert_eq!(j["server_keys"], expected_keys, "{j}");
            assert_eq!(j["replayed"], backup == &aof, "{j}");
        }
        // The whole data directory archived (dump.rdb + the AOF): the AOF is compared (what
        // `appendonly yes` loads), the archive read once; an appendonlydir/ whose parts come in
        // load order (manifest, base, incr files by sequence) is replayed without a temporary
        // file: a TMPDIR that does not exist proves it.
        let archive = tmp.join("data.tar.gz");
        // (A dump.rdb before the manifest is unpacked while the archive is read up to it: it
        // comes after, here, as in `tar cf data.tar appendonlydir dump.rdb`.)
        let mut members = Vec::new();
        if aof.is_dir() {
            let mut files: Vec<String> = std::fs::read_dir(&aof)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            let seq = |f: &str| -> u64 {
                f.split('.')
                    .filter_map(|x| x.parse().ok())
                    .next()
                    .unwrap_or(0)
            };
            files.sort_by_key(|f| (!f.ends_with(".manifest"), !f.contains(".base."), seq(f)));
            members.extend(files.iter().map(|f| format!("appendonlydir/{f}")));
        } else {
            members.push("appendonly.aof".into());
        }
        members.push("dump.rdb".into());
        let st = std::process::Command::new("tar")
            .args(["--no-recursion", "-czf", archive.to_str().unwrap()])
            .args(&members)
            .current_dir(tmp.path())
            .status()
            .expect("tar");
        assert!(st.success());
        let mut cmd = std::process::Command::new(rdbkit_bin());
        cmd.args([
            "verify",
            archive.to_str().unwrap(),
            "--against",
            &url,
            "--json",
        ]);
        if kind != ServerKind::Redis62 {
            cmd.env("TMPDIR", tmp.join("no-such-tmpdir"));
        }
        let o = run_with_timeout(&mut cmd, None, std::time::Duration::from_secs(120));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
        assert_eq!(o.status.code(), Some(0), "{}: archive: {j}", kind.name());
        assert_eq!(j["backup_keys"], expected_keys, "{j}");
        assert_eq!(j["replayed"], true, "{j}");

        c.ok(args!["SELECT", 2]);
        c.ok(args!["FLUSHDB"]);
        c.ok(args!["SELECT", 0]);
        let (code, j) = against(&rdb, &url, &[]);
        assert_eq!(code, Some(1), "{}: {j}", kind.name());
        let db2 = j["dbs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["db"] == 2)
            .unwrap()
            .clone();
        assert_eq!(db2["missing"].as_array().unwrap().len(), 26, "{db2}");
        assert_eq!(against(&rdb, &format!("{url}/0"), &[]).0, Some(0));
        let (code, j) = against(&aof, &url, &[]);
        assert_eq!(
            code,
            Some(0),
            "{}: the AOF holds the FLUSHDB: {j}",
            kind.name()
        );
        assert_eq!(dbs_of(&j), [0, 5], "{j}");

        // A password: used, never printed (text, JSON, errors).
        let pw = "s3cret-Pw0rd";
        c.ok(args!["CONFIG", "SET", "requirepass", pw]);
        let port = server.port;
        let with_pw = format!("redis://:{pw}@127.0.0.1:{port}/0");
        let (code, j) = against(&aof, &with_pw, &[]);
        assert_eq!(code, Some(0), "{j}");
        assert_eq!(j["server"], format!("redis://:***@127.0.0.1:{port}/0"));
        let runs = [
            run_rdbkit(["verify", aof.to_str().unwrap(), "--against", &with_pw]),
            run_rdbkit(["verify", rdb.to_str().unwrap(), "--against", &with_pw]),
            run_rdbkit([
                "verify",
                rdb.to_str().unwrap(),
                "--against",
                &format!("redis://:wr0ng-{pw}@127.0.0.1:{port}"),
            ]),
            run_rdbkit([
                "verify",
                rdb.to_str().unwrap(),
                "--against",
                &format!("redis://:{pw}@127.0.0.1:{port}/x"),
            ]),
        ];
        for (i, out) in runs.iter().enumerate() {
            let all = [&out.stdout[..], &out.stderr[..]].concat();
            let text = String::from_utf8_lossy(&all);
            assert!(!text.contains(pw), "run {i} printed the password: {text}");
            assert!(!text.contains("panicked"), "{text}");
        }
        assert_eq!(runs[0].status.code(), Some(0));
        assert_eq!(runs[2].status.code(), Some(2), "a wrong password: an error");
        assert_eq!(runs[3].status.code(), Some(2), "a bad db: an error");
        c.ok(args!["CONFIG", "SET", "requirepass", ""]);
        server.shutdown();
    }
}

/// A torn AOF backup: verify says DAMAGED (exit 2) and that a server would load it, losing the
/// last command at byte N; a real server given the copy truncates that file to exactly N.
#[test]
fn torn_aof_verdict_matches_the_server() {
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let tmp = TempDir::new("verify-torn-live");
    let dir = tmp.join("appendonlydir");
    std::fs::create_dir_all(&dir).unwrap();
    let src = testdata("aof/torn/appendonlydir");
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    let out = run_rdbkit(["verify", "--json", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let v = j["backups"][0]["server_verdict"]
        .as_str()
        .unwrap()
        .to_string();
    let at: u64 = v
        .split("at byte ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no offset in {v:?}"));
    let file = "appendonly.aof.3.incr.aof";
    assert!(
        v.contains("losing the last command") && v.contains(file),
        "{v}"
    );
    let server = Server::start(
        &bin,
        tmp.path(),
        &["--appendonly", "yes", "--appenddirname", "appendonlydir"],
    );
    let size = std::fs::metadata(dir.join(file)).unwrap().len();
    assert_eq!(
        size,
        at,
        "the server truncated {file} to {size}; verify said {at}\n{}",
        server.log_tail(20)
    );
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// A fake server on 127.0.0.1 (a fault injector): answers the handshake and INFO, and whatever
// the test's `reply` says to the rest (`None`: never answer).

type Reply = fn(&[Vec<u8>]) -> Option<Vec<u8>>;

fn read_command(r: &mut impl std::io::BufRead) -> Option<Vec<Vec<u8>>> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let n: usize = line.trim().strip_prefix('*')?.parse().ok()?;
    let mut args = Vec::with_capacity(n);
    for _ in 0..n {
        let mut l = String::new();
        r.read_line(&mut l).ok()?;
        let len: usize = l.trim().strip_prefix('$')?.parse().ok()?;
        let mut b = vec![0u8; len + 2];
        std::io::Read::read_exact(r, &mut b).ok()?;
        b.truncate(len);
        args.push(b);
    }
    Some(args)
}

fn fake_server(reply: Reply) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                let mut r = std::io::BufReader::new(s);
                while let Some(args) = read_command(&mut r) {
                    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
                    let out = match name.as_str() {
                        "CLIENT" | "SELECT" => Some(b"+OK\r\n".to_vec()),
                        "PING" => Some(b"+PONG\r\n".to_vec()),
                        "INFO" => {
                            let body = "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n";
                            Some(format!("${}\r\n{body}\r\n", body.len()).into_bytes())
                        }
                        _ => reply(&args),
                    };
                    match out {
                        Some(o) => {
                            if std::io::Write::write_all(&mut w, &o).is_err() {
                                return;
                            }
                        }
                        None => std::thread::sleep(Duration::from_secs(3600)),
                    }
                }
            });
        }
    });
    port
}

/// An RDB holding one key, db 0 `a` = `x` (checksum disabled).
fn one_key_rdb(tmp: &TempDir) -> std::path::PathBuf {
    let p = tmp.join("one.rdb");
    std::fs::write(&p, b"REDIS0009\xfe\x00\x00\x01a\x01x\xff\0\0\0\0\0\0\0\0").unwrap();
    let out = run_rdbkit(["check", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "a sound RDB");
    p
}

/// The key's reads: `a` is a string `x` without expiry.
fn one_key(args: &[Vec<u8>]) -> Option<Vec<u8>> {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    Some(match name.as_str() {
        "SCAN" => b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\na\r\n".to_vec(),
        "TYPE" => b"+string\r\n".to_vec(),
        "PEXPIRETIME" => b":-1\r\n".to_vec(),
        "GET" => b"$1\r\nx\r\n".to_vec(),
        "DBSIZE" => b":1\r\n".to_vec(),
        _ => b"-ERR unknown\r\n".to_vec(),
    })
}

use std::time::{Duration, Instant};

#[test]
fn fake_server_equal_then_each_fault() {
    let tmp = TempDir::new("verify-fake");
    let rdb = one_key_rdb(&tmp);
    let url = |port: u16| format!("redis://127.0.0.1:{port}");

    // The well-behaved fake: equal (so the faults below are the only difference).
    let (code, j) = against(&rdb, &url(fake_server(one_key)), &[]);
    assert_eq!(code, Some(0), "{j}");

    // DBSIZE says 5 while SCAN returns the one key: the full comparison is not EQUAL.
    let (code, j) = against(
        &rdb,
        &url(fake_server(|a| {
            if a[0].eq_ignore_ascii_case(b"DBSIZE") {
                Some(b":5\r\n".to_vec())
            } else {
                one_key(a)
            }
        })),
        &[],
    );
    assert_eq!(code, Some(1), "{j}");
    assert_eq!(j["equal"], false);
    let m = j["dbs"][0]["count_mismatch"].as_str().unwrap();
    assert!(m.contains("DBSIZE is 5"), "{m}");

    // A TYPE reply with terminal escapes and a C1 CSI: printed escaped.
    let port = fake_server(|a| {
        if a[0].eq_ignore_ascii_case(b"TYPE") {
            Some(
                "+str\x1b]0;pwned\x07\u{9b}31m\u{202e}ing\r\n"
                    .as_bytes()
                    .to_vec(),
            )
        } else {
            one_key(a)
        }
    });
    let out = run_rdbkit(["verify", rdb.to_str().unwrap(), "--against", &url(port)]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("type differs"), "{text}");
    assert!(
        !text.contains('\x1b') && !text.contains('\u{9b}') && !text.contains('\u{202e}'),
        "raw escapes printed: {text:?}"
    );
    assert!(
        text.contains("\\x1b]0;pwned\\x07\\xc2\\x9b31m\\xe2\\x80\\xaeing"),
        "{text}"
    );

    // SCAN that never returns cursor 0: bounded, a clear error.
    let port = fake_server(|a| {
        if a[0].eq_ignore_ascii_case(b"SCAN") {
            Some(b"*2\r\n$2\r\n17\r\n*0\r\n".to_vec())
        } else {
            one_key(a)
        }
    });
    let t = Instant::now();
    let out = run_with_timeout(
        std::process::Command::new(rdbkit_bin()).args([
            "verify",
            rdb.to_str().unwrap(),
            "--against",
            &url(port),
        ]),
        None,
        Duration::from_secs(120),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did not return cursor 0"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(120));

    // A server that stops answering: "timed out after N s".
    let port = fake_server(|a| {
        if a[0].eq_ignore_ascii_case(b"DBSIZE") {
            None
        } else {
            one_key(a)
        }
    });
    let out = run_with_timeout(
        std::process::Command::new(rdbkit_bin()).args([
            "verify",
            rdb.to_str().unwrap(),
            "--against",
            &url(port),
            "--timeout",
            "1",
        ]),
        None,
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("timed out after 1 s"), "{err}");
    assert!(!err.contains("Resource temporarily unavailable"), "{err}");
}

/// Redis 6.2 has no PEXPIRETIME, and its "unknown command" error quotes the key: with a binary
/// key that reply was not even parseable, so `--against` stopped with "Incompatible type". The
/// comparison asks `COMMAND INFO` once and reads expiries with PTTL there: the 6.2 corpus file
/// (binary keys, expiries in three dbs) is EQUAL to a 6.2 server that loaded it, and a changed
/// expiry is reported.
#[test]
fn against_redis_6_2_with_binary_keys_compares_expiries_through_pttl() {
    let Some(bin) = ServerKind::Redis62.require() else {
        return;
    };
    let Some(corpus) = corpus_dir() else { return };
    let tmp = TempDir::new("against-62");
    let backup = tmp.join("dump.rdb");
    std::fs::copy(corpus.join("rdb/6.2.14/base.rdb"), &backup).unwrap();
    let server = Server::start(&bin, tmp.path(), &["--dbfilename", "dump.rdb"]);
    let url = format!("redis://127.0.0.1:{}", server.port);
    let (code, j) = against(&backup, &url, &[]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(j["equal"], serde_json::json!(true), "{j}");
    assert!(
        j.to_string().contains("PTTL"),
        "the note says how expiries were read: {j}"
    );
    // A key with an expiry gets one an hour later: DIFFERENT, naming the expiry.
    let mut c = server.client();
    let keys = c.cmd(args!["KEYS", "*"]);
    let with_ttl = keys
        .array()
        .iter()
        .map(|k| k.bytes())
        .find(|k| c.cmd(vec![b"PTTL".to_vec(), k.clone()]).int() > 0)
        .expect("the 6.2 corpus file has keys with an expiry in db 0");
    let pttl = c.cmd(vec![b"PTTL".to_vec(), with_ttl.clone()]).int();
    c.ok(vec![
        b"PEXPIRE".to_vec(),
        with_ttl.clone(),
        (pttl + 3_600_000).to_string().into_bytes(),
    ]);
    let (code, j) = against(&backup, &url, &[]);
    assert_eq!(code, Some(1), "{j}");
    assert!(j.to_string().contains("expiry differs"), "{j}");
    server.shutdown();
}

/// `verify --against` over TLS, with `restore`'s flags: Debian's redis-server 7.0 loads
/// testdata/rdb/sample.rdb and listens with `--tls-port` (certificates made with the openssl
/// CLI, client certificates required). With `--cacert` and `--cert`/`--key` the comparison runs
/// over TLS and says equal; without the client certificate, or with a CA that did not sign the
/// server's certificate, it can't connect (exit 2, naming the server, never a password); TLS
/// flags on a redis:// URL or without `--against` are refused (exit 2); `--tls` on a redis://
/// URL and `--insecure` connect once the server stops asking for client certificates.
#[test]
fn against_over_tls_with_restores_flags() {
    let Some(bin) = require_tool("redis-server") else {
        return;
    };
    let Some(ossl) = require_tool("openssl") else {
        return;
    };
    let tmp = TempDir::new("verify-tls");
    let certs = tmp.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    make_certs(&ossl, &certs);
    let p = |f: &str| certs.join(f).to_str().unwrap().to_string();
    let backup = testdata("rdb/sample.rdb");
    let data = tmp.join("srv");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(&backup, data.join("dump.rdb")).unwrap();
    let tls_port = free_port().to_string();
    let server = Server::start(
        &bin,
        &data,
        &[
            "--dbfilename",
            "dump.rdb",
            "--tls-port",
            &tls_port,
            "--tls-cert-file",
            &p("server.crt"),
            "--tls-key-file",
            &p("server.key"),
            "--tls-ca-cert-file",
            &p("ca.crt"),
            "--tls-auth-clients",
            "yes",
        ],
    );
    let mut c = server.client();
    assert_eq!(c.cmd(args!["DBSIZE"]).int(), 66, "the server loaded it");
    let tls_url = format!("rediss://127.0.0.1:{tls_port}");
    let (ca, cert, key) = (p("ca.crt"), p("client.crt"), p("client.key"));
    let full = ["--cacert", ca.as_str(), "--cert", &cert, "--key", &key];
    let (code, j) = against(&backup, &tls_url, &full);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!((&j["equal"], &j["compared"]), (&true.into(), &71.into()));
    // A change made through the server is seen over TLS too.
    c.ok(args!["SET", "str:int:255", "256"]);
    let (code, j) = against(&backup, &tls_url, &full);
    assert_eq!(code, Some(1), "{j}");
    assert!(j["different"].to_string().contains("str:int:255"), "{j}");
    c.ok(args!["SET", "str:int:255", "255"]);

    let other = p("other-ca.crt");
    let run = |a: &[&str]| {
        let mut args = vec!["verify", backup.to_str().unwrap()];
        args.extend_from_slice(a);
        run_rdbkit(&args)
    };
    for (what, flags) in [
        ("no client certificate", vec!["--cacert", ca.as_str()]),
        (
            "wrong CA",
            vec!["--cacert", &other, "--cert", &cert, "--key", &key],
        ),
    ] {
        let mut a = vec!["--against", tls_url.as_str()];
        a.extend(flags);
        let o = run(&a);
        assert_eq!(o.status.code(), Some(2), "{what}: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("can't connect"), "{what}: {err}");
    }
    let plain = format!("redis://127.0.0.1:{}", server.port);
    let o = run(&["--against", &plain, "--cacert", &ca]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("need TLS"),
        "{o:?}"
    );
    let o = run(&["--cacert", &ca]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--against"),
        "{o:?}"
    );

    c.ok(args!["CONFIG", "SET", "tls-auth-clients", "no"]);
    let plain_form = format!("redis://127.0.0.1:{tls_port}");
    let (code, j) = against(&backup, &plain_form, &["--tls", "--cacert", &ca]);
    assert_eq!((code, &j["equal"]), (Some(0), &true.into()), "--tls: {j}");
    let (code, j) = against(&backup, &tls_url, &["--insecure"]);
    assert_eq!(
        (code, &j["equal"]),
        (Some(0), &true.into()),
        "--insecure: {j}"
    );
    // Without --insecure or the CA, the self-made CA is not trusted.
    let o = run(&["--against", &tls_url]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    server.shutdown();
}
