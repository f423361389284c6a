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
    assert_same_keyspace, header_version, loaded_by_server, loopback_url as url,
    output_text as text, read_keyspace, run_with_timeout, server_loading, summary_json as json_of,
    Client, KeyRec, Server, ServerKind, TempDir,
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

/// SCANs every db: a master deletes the keys whose TTL has passed as SCAN meets them (the
/// raw path sends them as the file holds them; a replica loads them).
fn expire_passed(c: &mut Client) {
    for db in 0..16 {
        c.ok(args!["SELECT", db]);
        let mut cursor = b"0".to_vec();
        loop {
            let r = c.ok(args!["SCAN", cursor, "COUNT", 1000]);
            cursor = r.array()[0].bytes();
            if cursor == b"0" {
                break;
            }
        }
    }
    c.ok(args!["SELECT", 0]);
}

/// The summary of a file the server reads: sent raw, unless the check met a record the server
/// would not read as stored (then converted, saying which); every key sent counted per db.
fn assert_raw_unless_not_as_stored(ctx: &str, j: &serde_json::Value) {
    match j["transfer"].as_str() {
        Some("raw") => {
            assert!(j["converted_because"].is_null(), "{ctx}: {j}");
            let per_db: u64 = j["keys_per_db"]
                .as_object()
                .unwrap()
                .values()
                .map(|n| n.as_u64().unwrap())
                .sum();
            assert_eq!(
                per_db,
                j["keys_restored"].as_u64().unwrap() + j["keys_expired_sent"].as_u64().unwrap(),
                "{ctx}: {j}"
            );
        }
        Some("converted") => {
            let why = j["converted_because"].as_str().unwrap();
            assert!(
                why.contains("not read as stored") || why.contains("release-candidate"),
                "{ctx}: {j}"
            );
        }
        _ => panic!("{ctx}: {j}"),
    }
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
            // A file of a version the server reads goes as it is, but for what it would not
            // read as stored (found by the check, then converted).
            assert_raw_unless_not_as_stored(&ctx, &j);
            // Read first: SCAN deletes the keys already expired that the raw path sent.
            let got = read_keyspace(&mut c, false);
            let (role, keys) = role_and_keys(&mut c);
            assert_eq!(role, "master", "{ctx}");
            assert_eq!(j["keys_restored"].as_u64().unwrap(), keys, "{ctx}: {j}");
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
        assert_raw_unless_not_as_stored(&ctx, &j);
        expire_passed(&mut c);
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
    assert_eq!(j["transfer"], "converted", "{j}");
    assert!(
        j["converted_because"]
            .as_str()
            .unwrap()
            .contains("reads rdb-9 files, not REDIS10"),
        "{j}"
    );
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
    expire_passed(&mut c);
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
    expire_passed(&mut c);
    let (role, keys) = role_and_keys(&mut c);
    assert_eq!(role, "master");
    assert!(keys > 0);
    assert_eq!(j["keys_restored"].as_u64().unwrap(), keys);
    // The password off again, so the helper's SHUTDOWN is obeyed.
    c.ok(args!["CONFIG", "SET", "requirepass", ""]);
    server.shutdown();
}

/// `CONFIG GET name`'s value.
fn config(c: &mut Client, name: &str) -> String {
    c.ok(args!["CONFIG", "GET", name]).array()[1].text()
}

/// A copy of `rdb` with one byte changed in the middle of a value such that the deep check
/// (the library's, as `rdbkit check` runs it) refuses the file; `fix_crc` recomputes the CRC-64
/// trailer so that only the value is wrong. The first such byte from the middle of the file on.
fn damaged_copy(rdb: &Path, fix_crc: bool, out: &Path) -> u64 {
    let orig = std::fs::read(rdb).unwrap();
    let n = orig.len();
    let opts = rdbkit_rdb::Options::default().deep(true);
    for at in n / 2..n - 9 {
        let mut b = orig.clone();
        b[at] ^= 0x5a;
        if fix_crc {
            let crc = rdbkit_rdb::internals::crc64::crc64(&b[..n - 8]);
            b[n - 8..].copy_from_slice(&crc.to_le_bytes());
        } else {
            // A value's byte: with the CRC left as it was the checksum must not be the only
            // thing wrong — the value must be one the structure check refuses as well.
            let mut fixed = b.clone();
            let crc = rdbkit_rdb::internals::crc64::crc64(&fixed[..n - 8]);
            fixed[n - 8..].copy_from_slice(&crc.to_le_bytes());
            if rdbkit_rdb::parallel::check(&fixed, opts, 1, |_| {})
                .1
                .is_ok()
            {
                continue;
            }
        }
        if rdbkit_rdb::parallel::check(&b, opts, 1, |_| {}).1.is_err() {
            std::fs::write(out, &b).unwrap();
            return at as u64;
        }
    }
    panic!(
        "{}: no byte found whose change the deep check refuses",
        rdb.display()
    );
}

/// The raw path (a 7.0 file into Redis 7.0, no filter) is taken exactly when expected: `--match`,
/// `--target`, a gzip'd copy and `--no-checksum` convert, saying why; the raw restore equals the
/// server loading the file itself.
#[test]
fn the_raw_path_is_taken_exactly_when_nothing_needs_converting() {
    let Some(corpus) = corpus_rdb() else { return };
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let rdb = corpus.join("7.0.15/base.rdb");
    let r = rdb.to_str().unwrap();
    let dir = TempDir::new("sync-raw");
    let server = Server::start(&bin, &dir.join("s"), &[]);
    let mut c = server.client();
    let gz = dir.join("base.rdb.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::Write::write_all(&mut enc, &std::fs::read(&rdb).unwrap()).unwrap();
    enc.finish().unwrap();
    let cases: [(&[&str], &str, Option<&str>); 5] = [
        (&[r], "raw", None),
        (&["--match", "*", r], "converted", Some("a filter is given")),
        (
            &["--target", "redis-7.0", r],
            "converted",
            Some("--target given"),
        ),
        (&["--no-checksum", r], "converted", Some("--no-checksum")),
        (
            &[gz.to_str().unwrap()],
            "converted",
            Some("a compressed input"),
        ),
    ];
    let want = loaded_by_server(&bin, &rdb);
    for (extra, transfer, why) in cases {
        c.ok(args!["FLUSHALL"]);
        c.ok(args!["FUNCTION", "FLUSH"]);
        let mut a = vec!["--json"];
        a.extend_from_slice(extra);
        let port = url(server.port);
        a.push(&port);
        let o = sync(&a);
        assert!(o.status.success(), "{extra:?}: {}", text(&o));
        let j = json_of(&o);
        assert_eq!(j["transfer"], transfer, "{extra:?}: {j}");
        match why {
            None => assert!(j["converted_because"].is_null(), "{j}"),
            Some(w) => assert!(
                j["converted_because"].as_str().unwrap().contains(w),
                "{extra:?}: {j}"
            ),
        }
        let got = read_keyspace(&mut c, false);
        assert_same_keyspace(&format!("{extra:?}"), &want, &got, false);
        if transfer == "raw" {
            assert_eq!(
                j["bytes_sent"].as_u64().unwrap(),
                std::fs::metadata(&rdb).unwrap().len(),
                "the file as it is"
            );
        }
    }
    server.shutdown();
}

/// A damaged backup on the raw path — a byte changed in the middle of a value, the CRC-64 left
/// wrong, or recomputed so that only the deep check can tell — is refused (exit 2, the check's
/// verdict: the byte offset) before the end of the transfer: an empty server stays empty and a
/// master; a server holding a key, restored with `--flush`, still holds it (the flush is the
/// full sync's, which never completes), and its dump.rdb is untouched; a sound backup goes
/// through afterwards.
#[test]
fn a_damaged_backup_on_the_raw_path_leaves_the_server_as_it_was() {
    let Some(corpus) = corpus_rdb() else { return };
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let rdb = corpus.join("7.0.15/base.rdb");
    let dir = TempDir::new("sync-raw-damaged");
    let server = Server::start(&bin, &dir.join("s"), &[]);
    let mut c = server.client();
    for fix_crc in [false, true] {
        let bad = dir.join(format!("bad-{fix_crc}.rdb"));
        let at = damaged_copy(&rdb, fix_crc, &bad);
        let ctx = format!("byte {at} changed, CRC fixed: {fix_crc}");
        // An empty server.
        let o = sync(&["--json", bad.to_str().unwrap(), &url(server.port)]);
        assert_eq!(o.status.code(), Some(2), "{ctx}: {}", text(&o));
        let j = json_of(&o);
        assert_eq!(j["transfer"], "raw", "{ctx}: {j}");
        let err = j["error"].as_str().unwrap();
        assert!(err.contains("at byte"), "{ctx}: {j}");
        assert!(
            err.contains("the server is a master again and holds 0 key(s)"),
            "{ctx}: {j}"
        );
        assert_eq!(role_and_keys(&mut c), ("master".to_string(), 0), "{ctx}");
        // A server holding a key, --flush: it keeps it.
        c.ok(args!["SET", "mine", "keep"]);
        c.ok(args!["SAVE"]);
        let saved = std::fs::read(dir.join("s/dump.rdb")).unwrap();
        let o = sync(&[
            "--flush",
            "--json",
            bad.to_str().unwrap(),
            &url(server.port),
        ]);
        assert_eq!(o.status.code(), Some(2), "{ctx}: {}", text(&o));
        assert!(
            json_of(&o)["error"]
                .as_str()
                .unwrap()
                .contains("holds 1 key(s)"),
            "{ctx}: {}",
            text(&o)
        );
        assert_eq!(role_and_keys(&mut c), ("master".to_string(), 1), "{ctx}");
        assert_eq!(c.ok(args!["GET", "mine"]).bytes(), b"keep");
        assert_eq!(
            std::fs::read(dir.join("s/dump.rdb")).unwrap(),
            saved,
            "{ctx}: the server's dump.rdb was not replaced"
        );
        c.ok(args!["FLUSHALL"]);
    }
    let o = sync(&["--json", rdb.to_str().unwrap(), &url(server.port)]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(json_of(&o)["transfer"], "raw");
    assert_eq!(role_and_keys(&mut c).0, "master");
    server.shutdown();
}

/// `--diskless-load` sets `repl-diskless-load on-empty-db` for the sync (the server's log shows
/// it loading from the socket) and puts the server's value back: after a success, after a
/// damaged backup (exit 2; the empty server stays empty), and it is refused with nothing
/// changed where CONFIG is renamed away.
#[test]
fn diskless_load_puts_the_configuration_back() {
    let Some(corpus) = corpus_rdb() else { return };
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let rdb = corpus.join("7.0.15/base.rdb");
    let dir = TempDir::new("sync-diskless");
    let server = Server::start(&bin, &dir.join("s"), &[]);
    let mut c = server.client();
    for before in ["disabled", "swapdb"] {
        c.ok(args!["CONFIG", "SET", "repl-diskless-load", before]);
        c.ok(args!["FLUSHALL"]);
        c.ok(args!["FUNCTION", "FLUSH"]);
        let o = sync(&[
            "--diskless-load",
            "--json",
            rdb.to_str().unwrap(),
            &url(server.port),
        ]);
        assert!(o.status.success(), "{before}: {}", text(&o));
        let j = json_of(&o);
        assert_eq!(j["diskless_load"]["previous"], before, "{j}");
        assert_eq!(j["diskless_load"]["put_back"], true, "{j}");
        assert_eq!(config(&mut c, "repl-diskless-load"), before);
        assert!(j["keys_restored"].as_u64().unwrap() > 0);
    }
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(
        log.contains("Loading DB in memory"),
        "the server loaded from the socket: {}",
        server.log_tail(30)
    );
    // A damaged backup: refused, the configuration put back, the server empty and a master.
    c.ok(args!["CONFIG", "SET", "repl-diskless-load", "disabled"]);
    c.ok(args!["FLUSHALL"]);
    c.ok(args!["FUNCTION", "FLUSH"]);
    let bad = dir.join("bad.rdb");
    damaged_copy(&rdb, true, &bad);
    let o = sync(&[
        "--diskless-load",
        "--json",
        bad.to_str().unwrap(),
        &url(server.port),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let j = json_of(&o);
    assert_eq!(j["diskless_load"]["put_back"], true, "{j}");
    assert_eq!(config(&mut c, "repl-diskless-load"), "disabled");
    assert_eq!(role_and_keys(&mut c), ("master".to_string(), 0));
    server.shutdown();

    // CONFIG renamed away: refused before anything changed.
    let server = Server::start(&bin, &dir.join("r"), &["--rename-command", "CONFIG", ""]);
    let mut c = server.client();
    let o = sync(&["--diskless-load", rdb.to_str().unwrap(), &url(server.port)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--diskless-load"),
        "{}",
        text(&o)
    );
    assert_eq!(role_and_keys(&mut c), ("master".to_string(), 0));
    assert!(
        !std::fs::read_to_string(&server.log)
            .unwrap()
            .contains("REPLICAOF"),
        "the server was never pointed at rdbkit"
    );
    server.shutdown();
}

/// A connection to rdbkit's port that is not the server's replica link — here a client
/// announcing another listening port — gets an error and is closed, never `+FULLRESYNC`; the
/// restore goes on with the server's own connection. (Which comes first is the kernel's
/// business: the unit test of `accept_replica` covers the stray one first.) The input is a
/// 200 k-key RDB the server itself saved (`DEBUG POPULATE`, `SAVE`): rdbkit listens until the
/// server has loaded it, a window of many milliseconds on any machine (a small file's whole sync
/// takes ~3 ms, which a retrying client can miss).
#[test]
fn a_stray_connection_is_refused_and_the_restore_goes_on() {
    use std::io::{Read as _, Write as _};
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let dir = TempDir::new("sync-stray");
    let server = Server::start(&bin, &dir.join("s"), &[]);
    let mut c = server.client();
    c.ok(args!["DEBUG", "POPULATE", "200000", "k", "64"]);
    c.ok(args!["SAVE"]);
    let rdb = dir.join("populated.rdb");
    std::fs::copy(dir.join("s/dump.rdb"), &rdb).unwrap();
    c.ok(args!["FLUSHALL"]);
    let listen = common::free_port();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let restore_done = done.clone();
    let stray = std::thread::spawn(move || {
        // Retries on the real condition, rdbkit listening, for as long as the restore runs (it
        // listens from before REPLICAOF until the sync ends: at least until the server's
        // replication cron connects, so a 2 ms retry cannot miss it however loaded the
        // machine is); bounded by 120 s.
        let start = std::time::Instant::now();
        while !restore_done.load(std::sync::atomic::Ordering::SeqCst)
            && start.elapsed() < Duration::from_secs(120)
        {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", listen)) {
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let _ = s.write_all(
                    b"PING\r\nREPLCONF listening-port 1\r\nREPLCONF capa eof\r\nPSYNC ? -1\r\n",
                );
                let mut got = Vec::new();
                let _ = s.read_to_end(&mut got);
                return Some(got);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        None
    });
    let o = sync(&[
        "--json",
        "--listen",
        &format!("127.0.0.1:{listen}"),
        rdb.to_str().unwrap(),
        &url(server.port),
    ]);
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(o.status.success(), "{}", text(&o));
    let j = json_of(&o);
    let got = stray.join().unwrap().expect("the stray client connected");
    let got = String::from_utf8_lossy(&got);
    assert!(!got.contains("FULLRESYNC"), "{got}");
    if j["connections_refused"].as_u64().unwrap() > 0 {
        assert!(got.contains("-ERR rdbkit: listening-port 1"), "{got}");
    }
    expire_passed(&mut c);
    let (role, keys) = role_and_keys(&mut c);
    assert_eq!(role, "master");
    assert_eq!(j["keys_restored"].as_u64().unwrap(), keys);
    server.shutdown();
}

/// The input is opened and validated before `REPLICAOF`: a file that is no RDB, an RDB whose
/// header is damaged and an AOF that does not replay are refused with the server never
/// pointed at rdbkit.
#[test]
fn an_unreadable_input_is_refused_before_replicaof() {
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let dir = TempDir::new("sync-unreadable");
    let server = Server::start(&bin, &dir.join("s"), &[]);
    let mut c = server.client();
    let cases: [(&str, &[u8]); 3] = [
        ("garbage.rdb", b"this is not a backup at all\n"),
        ("header.rdb", b"REDIS00x0\xff\0\0\0\0\0\0\0\0"),
        (
            "bad.aof",
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nDEL\r\n$9999\r\nk\r\n",
        ),
    ];
    for (name, bytes) in cases {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        let o = sync(&["--json", p.to_str().unwrap(), &url(server.port)]);
        assert!(!o.status.success(), "{name}: {}", text(&o));
        assert!(
            !std::fs::read_to_string(&server.log)
                .unwrap()
                .contains("REPLICAOF"),
            "{name}: the server was never pointed at rdbkit: {}",
            text(&o)
        );
        assert_eq!(role_and_keys(&mut c), ("master".to_string(), 0));
    }
    server.shutdown();
}

/// `rdbkit restore --sync ARGS...` reading `stdin`.
fn sync_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut c = Command::new(common::rdbkit_bin());
    c.arg("restore").arg("--sync").args(args);
    c.env_remove("RDBKIT_PASSWORD").env_remove("REDISCLI_AUTH");
    run_with_timeout(&mut c, Some(stdin), Duration::from_secs(300))
}

fn gzipped(b: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, b).unwrap();
    enc.finish().unwrap()
}

/// A compressed or piped RDB — which goes the converted path, read once as a stream — is
/// validated before `REPLICAOF` as a plain file is: a gzip'd file that is no RDB, a gzip'd RDB
/// whose header is damaged, one cut after its aux fields, a truncated gzip, and the same on
/// standard input are refused (exit 2, "nothing changed") with the server untouched — a master
/// holding its one key, `repl-diskless-load` as it was (`--diskless-load` given), never
/// pointed at rdbkit (no `REPLICAOF` and no `MASTER <-> REPLICA sync` in its log). The sound
/// gzip'd RDB, from a file and from a pipe, restores to what the server loads from the file.
#[test]
fn a_bad_compressed_or_piped_input_is_refused_before_replicaof() {
    let Some(corpus) = corpus_rdb() else { return };
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let rdb = corpus.join("7.0.15/mini.rdb");
    let good = std::fs::read(&rdb).unwrap();
    let gz = gzipped(&good);
    let dir = TempDir::new("sync-streams");
    let server = Server::start(&bin, &dir.join("s"), &[]);
    let mut c = server.client();
    c.ok(args!["SET", "mine", "keep"]);
    let diskless = config(&mut c, "repl-diskless-load");
    let files: [(&str, Vec<u8>); 4] = [
        ("garbage.rdb.gz", gzipped(b"this is not a backup at all\n")),
        (
            "header.rdb.gz",
            gzipped(b"REDIS00x0\xfa\x09redis-ver\x057.0.0\xff"),
        ),
        ("cut.rdb.gz", gzipped(&good[..good.len().min(40)])),
        ("truncated.rdb.gz", gz[..gz.len() / 2].to_vec()),
    ];
    let port = url(server.port);
    let untouched = |c: &mut Client, ctx: &str, o: &Output| {
        assert_eq!(o.status.code(), Some(2), "{ctx}: {}", text(o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("nothing changed on the server"),
            "{ctx}: {}",
            text(o)
        );
        let log = std::fs::read_to_string(&server.log).unwrap();
        assert!(
            !log.contains("REPLICAOF") && !log.contains("MASTER <-> REPLICA sync"),
            "{ctx}: the server was pointed at rdbkit: {}",
            server.log_tail(20)
        );
        assert_eq!(role_and_keys(c), ("master".to_string(), 1), "{ctx}");
        assert_eq!(c.ok(args!["GET", "mine"]).bytes(), b"keep", "{ctx}");
        assert_eq!(config(c, "repl-diskless-load"), diskless, "{ctx}");
    };
    for (name, bytes) in &files {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        let o = sync(&["--flush", "--diskless-load", p.to_str().unwrap(), &port]);
        untouched(&mut c, name, &o);
        let o = sync_stdin(&["--flush", "--diskless-load", "-", &port], bytes);
        untouched(&mut c, &format!("{name} on stdin"), &o);
    }
    let o = sync_stdin(
        &["--flush", "--diskless-load", "-", &port],
        b"REDIS00x0\xff\0\0\0\0\0\0\0\0",
    );
    untouched(&mut c, "a damaged header on stdin", &o);

    // The sound backup, gzip'd, from a file and from a pipe.
    let want = loaded_by_server(&bin, &rdb);
    let p = dir.join("mini.rdb.gz");
    std::fs::write(&p, &gz).unwrap();
    for piped in [false, true] {
        c.ok(args!["FLUSHALL"]);
        c.ok(args!["SET", "mine", "keep"]);
        let o = if piped {
            sync_stdin(&["--flush", "--json", "-", &port], &gz)
        } else {
            sync(&["--flush", "--json", p.to_str().unwrap(), &port])
        };
        assert!(o.status.success(), "piped {piped}: {}", text(&o));
        assert_eq!(json_of(&o)["transfer"], "converted", "piped {piped}");
        let got = read_keyspace(&mut c, false);
        assert_same_keyspace(&format!("gzip'd, piped {piped}"), &want, &got, false);
        assert_eq!(role_and_keys(&mut c).0, "master");
    }
    server.shutdown();
}
