//! Live tests of `rdbkit restore --sync` (a full restore by replication: the server becomes a
//! replica of rdbkit for one full sync) against real servers on 127.0.0.1, started and stopped
//! here: every shared-corpus RDB a server can hold, restored into Debian's Redis 7.0 and Valkey
//! 8.1, equals key by key what the same server binary holds after loading the file itself, and
//! Redis 6.2.14 holds every key of the older files with the same DUMP; the server is a master
//! again afterwards; a non-empty server, a replica and a server with replicas are refused with
//! nothing changed; a backup that fails mid-transfer leaves the server a master holding what
//! it held; `--match` restores exactly the matching keys.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{
    assert_same_keyspace, header_version, loopback_url as url, output_text as text, read_keyspace,
    run_with_timeout, server_loading, summary_json as json_of, Client, KeyRec, Server, ServerKind,
    TempDir,
};

fn corpus_rdb() -> Option<PathBuf> {
    common::corpus_dir().map(|c| c.join("rdb"))
}

/// `rdbkit restore --sync ARGS...`.
fn sync(args: &[&str]) -> Output {
    let mut c = Command::new(common::rdbkit_bin());
    c.arg("restore").arg("--sync").args(args);
    c.env_remove("RDBKIT_PASSWORD").env_remove("REDISCLI_AUTH");
    run_with_timeout(&mut c, None, Duration::from_secs(300))
}

/// `role` of INFO replication, and the number of keys of INFO keyspace.
fn role_and_keys(c: &mut Client) -> (String, u64) {
    let repl = c.ok(args!["INFO", "replication"]).text();
    let role = repl
        .lines()
        .find_map(|l| l.strip_prefix("role:"))
        .unwrap_or("?")
        .trim()
        .to_string();
    let ks = c.ok(args!["INFO", "keyspace"]).text();
    let keys = ks
        .lines()
        .filter_map(|l| l.split_once("keys=").map(|(_, r)| r))
        .map(|r| r.split(',').next().unwrap().parse::<u64>().unwrap())
        .sum();
    (role, keys)
}

fn corpus_files(corpus: &Path, max_version: u32) -> Vec<PathBuf> {
    common::corpus_rdbs(corpus)
        .into_iter()
        .filter(|p| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("modules")
        })
        .filter(|p| header_version(p) <= max_version)
        .collect()
}

/// Every corpus RDB (no `modules` variant: no module is loaded) of an RDB version the server
/// reads, restored by replication into an empty Redis 7.0 and Valkey 8.1: exit 0, the server a
/// master again, its keyspace equal key by key (type, value, TTL) to what the same binary holds
/// after loading the file at start-up, and the summary's per-db counts equal to the server's.
#[test]
fn every_corpus_file_restores_by_replication() {
    let Some(corpus) = corpus_rdb() else { return };
    for kind in [ServerKind::Redis70, ServerKind::Valkey81] {
        let Some(bin) = kind.require() else { continue };
        let dir = TempDir::new("sync-corpus");
        let server = Server::start(&bin, dir.path(), &[]);
        let mut c = server.client();
        let mut done = 0;
        for rdb in corpus_files(&corpus, kind.rdb_version()) {
            c.ok(args!["FLUSHALL"]);
            c.ok(args!["FUNCTION", "FLUSH"]);
            let ctx = format!("{} into {} by replication", rdb.display(), kind.name());
            let o = sync(&["--json", rdb.to_str().unwrap(), &url(server.port)]);
            assert!(
                o.status.success(),
                "{ctx}: {}\n{}",
                text(&o),
                server.log_tail(30)
            );
            let j = json_of(&o);
            assert_eq!(j["mode"], "sync", "{ctx}");
            assert_eq!(j["format"], "eof", "{ctx}: the servers announce capa eof");
            let (role, keys) = role_and_keys(&mut c);
            assert_eq!(role, "master", "{ctx}");
            assert_eq!(j["keys_restored"].as_u64().unwrap(), keys, "{ctx}: {j}");
            let got = read_keyspace(&mut c, false);
            let (_odir, o_srv) = server_loading(&bin, &rdb);
            let want = read_keyspace(&mut o_srv.client(), false);
            o_srv.shutdown();
            assert_same_keyspace(&ctx, &want, &got, false);
            done += 1;
        }
        assert!(done > 10, "{}: only {done} files restored", kind.name());
        server.shutdown();
    }
}

/// Redis 6.2.14 (RDB 9): every corpus file of RDB 9 or older restored by replication; each key
/// has the type, content and TTL-or-not it has in the same binary loading the file itself (the keyspace reader of tests/common needs 7.0's PEXPIRETIME).
/// A 7.0 file (RDB 10) is converted for RDB 9 on the way and all its keys arrive (its function
/// libraries left out and counted).
#[test]
fn redis_6_2_restores_by_replication() {
    let Some(corpus) = corpus_rdb() else { return };
    let Some(bin) = ServerKind::Redis62.require() else {
        return;
    };
    let dir = TempDir::new("sync-62");
    let server = Server::start(&bin, dir.path(), &[]);
    let mut c = server.client();
    let mut done = 0;
    for rdb in corpus_files(&corpus, 9) {
        c.ok(args!["FLUSHALL"]);
        let ctx = format!("{} into redis-6.2 by replication", rdb.display());
        let o = sync(&["--json", rdb.to_str().unwrap(), &url(server.port)]);
        assert!(o.status.success(), "{ctx}: {}", text(&o));
        let j = json_of(&o);
        let (role, keys) = role_and_keys(&mut c);
        assert_eq!(role, "master", "{ctx}");
        assert_eq!(j["keys_restored"].as_u64().unwrap(), keys, "{ctx}: {j}");
        let (_odir, o_srv) = server_loading(&bin, &rdb);
        let mut oc = o_srv.client();
        assert_eq!(role_and_keys(&mut oc).1, keys, "{ctx}: key count");
        let mut compared = 0;
        for db in 0..16 {
            compared += common::assert_same_keys_by_value(&ctx, &mut oc, &mut c, db);
        }
        c.ok(args!["SELECT", 0]);
        assert_eq!(compared, keys, "{ctx}");
        o_srv.shutdown();
        done += 1;
    }
    assert!(done > 10, "only {done} files restored into 6.2");
    // A 7.0 backup, converted for RDB 9 on the way.
    let rdb = corpus.join("7.0.15/base.rdb");
    c.ok(args!["FLUSHALL"]);
    let o = sync(&["--json", rdb.to_str().unwrap(), &url(server.port)]);
    assert!(o.status.success(), "{}", text(&o));
    let j = json_of(&o);
    assert_eq!(j["target"], "rdb-9");
    // Function libraries 6.2 cannot load are left out, counted (as the pipelined restore).
    assert!(j["dropped"]["functions"].as_u64().unwrap() > 0, "{j}");
    let expected = std::fs::read_to_string(rdb.with_extension("expected.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count() as u64;
    assert_eq!(j["keys_restored"].as_u64().unwrap(), expected, "{j}");
    assert_eq!(role_and_keys(&mut c), ("master".to_string(), expected));
    server.shutdown();
}

/// A server holding a key is refused (exit 3), nothing changed: the key is there, the server
/// a master that never pointed at rdbkit (its log has no REPLICAOF). `--flush` replaces its
/// data set. A replica, and a master with a replica attached, are refused (exit 1) unchanged;
/// `--force` goes on with the replica attached.
#[test]
fn refusals_leave_the_server_as_it_was() {
    let Some(corpus) = corpus_rdb() else { return };
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let rdb = corpus.join("7.0.15/base.rdb");
    let r = rdb.to_str().unwrap();
    let dir = TempDir::new("sync-refuse");
    let server = Server::start(&bin, &dir.join("m"), &[]);
    let mut c = server.client();
    c.ok(args!["SET", "mine", "keep"]);
    let o = sync(&[r, &url(server.port)]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not empty"),
        "{}",
        text(&o)
    );
    assert_eq!(role_and_keys(&mut c), ("master".to_string(), 1));
    assert_eq!(c.ok(args!["GET", "mine"]).bytes(), b"keep");
    assert!(
        !std::fs::read_to_string(&server.log)
            .unwrap()
            .contains("REPLICAOF"),
        "the server was never pointed at rdbkit"
    );
    // A function library alone makes the server not empty too.
    c.ok(args!["DEL", "mine"]);
    c.ok(args![
        "FUNCTION",
        "LOAD",
        "#!lua name=mylib\nredis.register_function('f', function() return 1 end)"
    ]);
    let o = sync(&[r, &url(server.port)]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    c.ok(args!["SET", "mine", "keep"]);

    // A replica is refused; so is its master while the replica is attached.
    let replica = Server::start(&bin, &dir.join("r"), &[]);
    let mut rc = replica.client();
    rc.ok(args!["REPLICAOF", "127.0.0.1", u32::from(server.port)]);
    // Bounded wait on the real condition: the master counts its replica once it is online.
    let mut attached = false;
    for _ in 0..500 {
        let i = c.ok(args!["INFO", "replication"]).text();
        if i.contains("connected_slaves:1") && i.contains("state=online") {
            attached = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(attached, "the replica attached: {}", replica.log_tail(20));
    let o = sync(&["--flush", r, &url(replica.port)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is a replica"),
        "{}",
        text(&o)
    );
    let o = sync(&["--flush", r, &url(server.port)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("replica(s) attached"),
        "{}",
        text(&o)
    );
    assert_eq!(role_and_keys(&mut c), ("master".to_string(), 1));
    rc.ok(args!["REPLICAOF", "NO", "ONE"]);
    replica.shutdown();

    // --flush: the data set is replaced by the backup's.
    let o = sync(&["--flush", "--json", r, &url(server.port)]);
    assert!(o.status.success(), "{}", text(&o));
    let j = json_of(&o);
    let (role, keys) = role_and_keys(&mut c);
    assert_eq!(role, "master");
    assert_eq!(j["keys_restored"].as_u64().unwrap(), keys);
    assert!(c.ok(args!["EXISTS", "mine"]).int() == 0, "flushed");
    assert_eq!(
        c.ok(args!["FUNCTION", "LIST"]).array().len(),
        // The backup's own libraries replaced ours.
        j["functions_loaded"].as_u64().unwrap() as usize
    );
    server.shutdown();
}

/// A backup damaged part-way fails while it streams (exit 2): the server, which held one key
/// (`--flush`), is a master again holding that key (a replica keeps its data until the whole
/// RDB has arrived), and the message says so; a sound backup is taken afterwards.
#[test]
fn a_failure_mid_transfer_leaves_a_master() {
    let Some(corpus) = corpus_rdb() else { return };
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let dir = TempDir::new("sync-fail");
    let server = Server::start(&bin, dir.path(), &[]);
    let mut c = server.client();
    c.ok(args!["SET", "mine", "keep"]);
    let damaged = corpus.join("7.0.15/corrupt/truncated_mid_key.rdb");
    let o = sync(&[
        "--flush",
        "--json",
        damaged.to_str().unwrap(),
        &url(server.port),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let j = json_of(&o);
    let err = j["error"].as_str().unwrap();
    assert!(err.contains("at byte"), "{j}");
    assert!(
        err.contains("the server is a master again and holds 1 key(s)"),
        "{j}"
    );
    assert_eq!(role_and_keys(&mut c), ("master".to_string(), 1));
    assert_eq!(c.ok(args!["GET", "mine"]).bytes(), b"keep");
    // It still takes a sound backup afterwards.
    let rdb = corpus.join("7.0.15/mini.rdb");
    let o = sync(&[
        "--flush",
        "--json",
        rdb.to_str().unwrap(),
        &url(server.port),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(c.ok(args!["EXISTS", "mine"]).int(), 0);
    server.shutdown();
}

/// `--match` with `--sync` restores exactly the matching keys: the server's keyspace equals
/// the oracle's (the server loading the whole file) restricted to them.
#[test]
fn match_restores_exactly_the_filtered_keys() {
    let Some(corpus) = corpus_rdb() else { return };
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let rdb = corpus.join("7.0.15/base.rdb");
    let dir = TempDir::new("sync-match");
    let server = Server::start(&bin, dir.path(), &[]);
    let mut c = server.client();
    let o = sync(&[
        "--match",
        "hash:*",
        "--json",
        rdb.to_str().unwrap(),
        &url(server.port),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let j = json_of(&o);
    let got = read_keyspace(&mut c, false);
    let (_odir, o_srv) = server_loading(&bin, &rdb);
    let all = read_keyspace(&mut o_srv.client(), false);
    o_srv.shutdown();
    let want: Vec<KeyRec> = all
        .iter()
        .filter(|k| k.key.starts_with(b"hash:"))
        .cloned()
        .collect();
    assert!(want.len() >= 3, "the pattern selects some keys");
    assert!(all.len() > want.len(), "and leaves some out");
    assert_same_keyspace("--sync --match hash:*", &want, &got, false);
    assert_eq!(j["keys_restored"].as_u64().unwrap() as usize, want.len());
    assert_eq!(role_and_keys(&mut c).0, "master");
    server.shutdown();
}

/// The server stopped mid-transfer: rdbkit reads the backup from a pipe, half of it written;
/// once the server's log shows it receiving the RDB, the server is shut down and the rest is
/// written. rdbkit's next write to the server fails: exit 4, and the error says that
/// `REPLICAOF NO ONE` could not be sent, so the server's state is for the operator to check.
#[test]
fn the_server_stopped_mid_transfer() {
    use std::io::Write as _;
    use std::process::Stdio;
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let dir = TempDir::new("sync-stop");
    let server = Server::start(&bin, dir.path(), &[]);
    let rdb = common::many_keys_rdb();
    let mut child = Command::new(common::rdbkit_bin())
        .args(["restore", "--sync", "--json", "-", &url(server.port)])
        .env_remove("RDBKIT_PASSWORD")
        .env_remove("REDISCLI_AUTH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&rdb[..rdb.len() / 2]).unwrap();
    // Bounded wait on the real condition: the server says it receives the streamed RDB.
    let mut receiving = false;
    for _ in 0..1500 {
        if std::fs::read_to_string(&server.log)
            .unwrap_or_default()
            .contains("receiving streamed RDB")
        {
            receiving = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(receiving, "the server receives: {}", server.log_tail(20));
    server.shutdown();
    // rdbkit may already have given up reading: a failed write here is expected.
    let _ = stdin.write_all(&rdb[rdb.len() / 2..]);
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let j = json_of(&o);
    let err = j["error"].as_str().unwrap();
    assert!(err.contains("sending the RDB to the server"), "{j}");
    assert!(err.contains("REPLICAOF NO ONE failed"), "{j}");
    assert!(j["server_state"].as_str().is_some(), "{j}");
}

/// A server with `requirepass`: the password from RDBKIT_PASSWORD serves the control
/// connection, and the server's replica connection to rdbkit needs none; every key arrives.
/// A wrong password: exit 1, the server unchanged (a master, empty).
#[test]
fn password_for_the_control_connection() {
    let Some(corpus) = corpus_rdb() else { return };
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let rdb = corpus.join("7.0.15/mini.rdb");
    let dir = TempDir::new("sync-auth");
    let server = Server::start(&bin, dir.path(), &[]);
    let mut c = server.client();
    c.ok(args!["CONFIG", "SET", "requirepass", "s3cret"]);
    let run = |pw: &str| {
        let mut c = Command::new(common::rdbkit_bin());
        c.args([
            "restore",
            "--sync",
            "--json",
            rdb.to_str().unwrap(),
            &url(server.port),
        ]);
        c.env("RDBKIT_PASSWORD", pw).env_remove("REDISCLI_AUTH");
        run_with_timeout(&mut c, None, Duration::from_secs(300))
    };
    let o = run("wrong");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(role_and_keys(&mut c), ("master".to_string(), 0));
    let o = run("s3cret");
    assert!(o.status.success(), "{}", text(&o));
    let j = json_of(&o);
    let (role, keys) = role_and_keys(&mut c);
    assert_eq!(role, "master");
    assert!(keys > 0);
    assert_eq!(j["keys_restored"].as_u64().unwrap(), keys);
    // The password off again, so the helper's SHUTDOWN is obeyed.
    c.ok(args!["CONFIG", "SET", "requirepass", ""]);
    server.shutdown();
}
