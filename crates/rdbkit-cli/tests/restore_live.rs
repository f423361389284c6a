//! Live tests of `rdbkit restore` against real servers on 127.0.0.1 (started and stopped here):
//! every shared-corpus RDB a server can hold restored into Redis 6.2, Debian's 7.0 and Valkey
//! 8.1 equals the ground truth key by key; `--match` touches no other key; the existing-key
//! policies; AUTH with a password and an ACL user; TLS (`rediss://`, certificates made with
//! openssl) into a server and a TLS cluster; a damaged backup; a server that is down; a wrong
//! password; a server out of memory; a connection reset mid-way (every key accounted for); real
//! 3-master clusters (ASK during a migration, MOVED after a resharding mid-restore, the
//! default existing-key policy across nodes); hash field TTLs into a server without them.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{
    assert_same_keyspace, header_version, loaded_by_server, loopback_url as url, make_certs,
    output_text as text, parse_dump, read_keyspace, run_with_timeout, summary_json as json_of,
    Client, KeyRec, Server, ServerKind, TempDir,
};
use serde_json::Value as J;

fn corpus_rdb() -> Option<PathBuf> {
    common::corpus_dir().map(|c| c.join("rdb"))
}

/// `rdbkit restore ARGS...` with `env` set (and RDBKIT_PASSWORD/REDISCLI_AUTH cleared otherwise).
fn restore(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(common::rdbkit_bin());
    c.arg("restore").args(args);
    c.env_remove("RDBKIT_PASSWORD").env_remove("REDISCLI_AUTH");
    for (k, v) in env {
        c.env(k, v);
    }
    run_with_timeout(&mut c, None, Duration::from_secs(300))
}

/// The ground truth of a corpus file, as `read_keyspace` records.
fn truth(rdb: &Path) -> Vec<KeyRec> {
    let jl = std::fs::read(rdb.with_extension("expected.jsonl")).expect("expected.jsonl");
    parse_dump(&jl).unwrap_or_else(|e| panic!("{}: {e}", rdb.display()))
}

fn clean(c: &mut Client, functions: bool) {
    c.ok(args!["FLUSHALL"]);
    if functions {
        c.ok(args!["FUNCTION", "FLUSH"]);
    }
}

/// Every corpus RDB (all variants but `modules`: no module is loaded) of an RDB version the
/// server reads, restored with default policy into an empty server: exit 0, the summary counts
/// as many keys as the ground truth (`expected.jsonl`) lists, and the server's keyspace equals,
/// key by key, the keyspace of the same server binary loading the file itself at start-up.
/// (Redis 6.2 is left out: the keyspace reader needs PEXPIRETIME, 7.0+.)
#[test]
fn every_corpus_file_restores_into_real_servers() {
    let Some(corpus) = corpus_rdb() else { return };
    for kind in [ServerKind::Redis70, ServerKind::Valkey81] {
        let Some(bin) = kind.require() else { continue };
        let dir = TempDir::new("restore-corpus");
        let server = Server::start(&bin, dir.path(), &[]);
        let mut c = server.client();
        let mut done = 0;
        let mut versions: Vec<PathBuf> = std::fs::read_dir(&corpus)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        versions.sort();
        for vdir in versions {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&vdir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "rdb"))
                .filter(|p| {
                    !p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with("modules")
                })
                .collect();
            files.sort();
            for rdb in files {
                let v = header_version(&rdb);
                if v > kind.rdb_version() {
                    continue;
                }
                clean(&mut c, kind.rdb_version() >= 10);
                let ctx = format!("{} into {}", rdb.display(), kind.name());
                let o = restore(&["--json", rdb.to_str().unwrap(), &url(server.port)], &[]);
                assert!(o.status.success(), "{ctx}: {}", text(&o));
                let j = json_of(&o);
                let lines = std::fs::read_to_string(rdb.with_extension("expected.jsonl"))
                    .unwrap()
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .count() as u64;
                assert_eq!(
                    j["keys_restored"].as_u64().unwrap() + j["keys_as_commands"].as_u64().unwrap(),
                    lines,
                    "{ctx}: summary counts"
                );
                let got = read_keyspace(&mut c, false);
                let want = loaded_by_server(&bin, &rdb);
                assert_same_keyspace(&ctx, &want, &got, false);
                done += 1;
            }
        }
        assert!(done > 10, "{}: only {done} files restored", kind.name());
        server.shutdown();
    }
}

/// A base file of each version restored with `--match` into a server holding other keys:
/// only matching keys appear, every other key keeps its value.
#[test]
fn match_restores_only_matching_keys_and_touches_nothing_else() {
    let Some(corpus) = corpus_rdb() else { return };
    let Some((_dir, server)) = common::redis70("restore-match") else {
        return;
    };
    let rdb = corpus.join("7.0.15/base.rdb");
    let mut c = server.client();
    // Keys of our own, one of them named like a backup key that the pattern leaves out.
    let all = truth(&rdb);
    let outside = all
        .iter()
        .find(|k| !k.key.starts_with(b"hash:"))
        .expect("a non-hash key")
        .key
        .clone();
    c.ok(args!["SET", outside.clone(), "mine"]);
    c.ok(args!["SET", "unrelated", "keep"]);
    c.ok(args!["SELECT", 5]);
    c.ok(args!["SET", "db5key", "keep5"]);
    c.ok(args!["SELECT", 0]);
    let before = read_keyspace(&mut c, false);
    let o = restore(
        &[
            "--match",
            "hash:*",
            "--json",
            rdb.to_str().unwrap(),
            &url(server.port),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let mut want: Vec<KeyRec> = all
        .iter()
        .filter(|k| k.key.starts_with(b"hash:"))
        .cloned()
        .collect();
    assert!(want.len() >= 3, "the pattern selects some keys");
    want.extend(before);
    want.sort_by(|a, b| (a.db, &a.key).cmp(&(b.db, &b.key)));
    let got = read_keyspace(&mut c, false);
    assert_same_keyspace("--match hash:*", &want, &got, false);
    let j = json_of(&o);
    assert_eq!(
        j["keys_filtered_out"].as_u64().unwrap() as usize,
        all.len() - (want.len() - 3)
    );
    server.shutdown();
}

/// Default policy: one key of the backup exists → exit 3, nothing written. --skip-existing keeps
/// it and restores the rest (counted); --replace overwrites it.
#[test]
fn existing_keys_default_skip_and_replace() {
    let Some(corpus) = corpus_rdb() else { return };
    let Some((_dir, server)) = common::redis70("restore-exists") else {
        return;
    };
    let rdb = corpus.join("7.0.15/base.rdb");
    let all = truth(&rdb);
    let victim = all
        .iter()
        .find(|k| k.kind == "string")
        .expect("a string")
        .key
        .clone();
    let mut c = server.client();
    c.ok(args!["SET", victim.clone(), "mine"]);
    let u = url(server.port);
    let r = rdb.to_str().unwrap();

    let o = restore(&[r, &u], &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("exist") && err.contains("nothing written"),
        "{err}"
    );
    assert_eq!(c.ok(args!["DBSIZE"]).int(), 1, "nothing written");
    assert_eq!(c.ok(args!["GET", victim.clone()]).bytes(), b"mine");

    let o = restore(&["--skip-existing", "--json", r, &u], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let j = json_of(&o);
    assert_eq!(j["keys_skipped_existing"], 1, "{j}");
    assert_eq!(c.ok(args!["GET", victim.clone()]).bytes(), b"mine");
    assert_eq!(read_keyspace(&mut c, false).len(), all.len());

    let o = restore(&["--replace", r, &u], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_same_keyspace("--replace", &all, &read_keyspace(&mut c, false), false);
    server.shutdown();
}

/// requirepass: no password → exit 1 (says a password is needed); wrong password → exit 1
/// (authentication failed), the password never printed; RDBKIT_PASSWORD and REDISCLI_AUTH work;
/// an ACL user in the URL works; an ACL user without write rights stops at the first key.
#[test]
fn auth_password_env_and_acl_user() {
    let Some(corpus) = corpus_rdb() else { return };
    let Some((_dir, server)) = common::redis70("restore-auth") else {
        return;
    };
    let rdb = corpus.join("7.0.15/mini.rdb");
    let r = rdb.to_str().unwrap();
    server
        .client()
        .ok(args!["CONFIG", "SET", "requirepass", "s3cret-pw"]);
    let u = url(server.port);

    let o = restore(&[r, &u], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("password"),
        "{}",
        text(&o)
    );

    let wrong = format!("redis://:not-the-pw@127.0.0.1:{}", server.port);
    let o = restore(&[r, &wrong], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        !text(&o).contains("not-the-pw"),
        "password printed: {}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("authentication failed"),
        "{}",
        text(&o)
    );

    let o = restore(&[r, &u], &[("RDBKIT_PASSWORD", "s3cret-pw")]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("s3cret-pw"));
    let o = restore(&["--replace", r, &u], &[("REDISCLI_AUTH", "s3cret-pw")]);
    assert!(o.status.success(), "{}", text(&o));

    let mut c = Client::connect(server.port).unwrap();
    c.ok(args!["AUTH", "s3cret-pw"]);
    let want = truth(&rdb);
    assert_same_keyspace("password", &want, &read_keyspace(&mut c, false), false);
    c.ok(args!["FLUSHALL"]);
    c.ok(args![
        "ACL", "SETUSER", "restorer", "on", ">acl-pw", "~*", "+@all"
    ]);
    c.ok(args![
        "ACL", "SETUSER", "reader", "on", ">ro-pw", "~*", "+@read", "+exists", "+info", "+select"
    ]);
    let acl = format!("redis://restorer:acl-pw@127.0.0.1:{}", server.port);
    let o = restore(&[r, &acl], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_same_keyspace("ACL user", &want, &read_keyspace(&mut c, false), false);
    c.ok(args!["FLUSHALL"]);
    let ro = format!("redis://reader:ro-pw@127.0.0.1:{}", server.port);
    let o = restore(&[r, &ro], &[]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("key") && err.to_lowercase().contains("noperm"),
        "{err}"
    );
    assert_eq!(c.ok(args!["DBSIZE"]).int(), 0);
    // So that the helper's SHUTDOWN (no AUTH) is obeyed.
    c.ok(args!["CONFIG", "SET", "requirepass", ""]);
    server.shutdown();
}

/// A backup truncated in the middle of a key: the default policy's check reads it first and
/// writes nothing (exit 2); with --replace the keys before the damage are restored, the damaged
/// one is not sent, and the summary's count equals what the server holds.
#[test]
fn damaged_backup_stops_before_the_damaged_key() {
    let Some(corpus) = corpus_rdb() else { return };
    let Some((_dir, server)) = common::redis70("restore-damaged") else {
        return;
    };
    let rdb = corpus.join("7.0.15/corrupt/truncated_mid_key.rdb");
    let r = rdb.to_str().unwrap();
    let mut c = server.client();
    let u = url(server.port);
    let o = restore(&[r, &u], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(c.ok(args!["DBSIZE"]).int(), 0, "nothing written");
    let o = restore(&["--replace", "--json", r, &u], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let j = json_of(&o);
    let n = j["keys_restored"].as_u64().unwrap() + j["keys_as_commands"].as_u64().unwrap();
    assert!(n > 0, "keys before the damage restored: {j}");
    assert_eq!(c.ok(args!["DBSIZE"]).int() as u64, n, "{j}");
    assert!(j["error"].as_str().unwrap().contains("at byte"), "{j}");
    // Every key on the server equals the ground truth of the undamaged file.
    let full = truth(&corpus.join("7.0.15/mini.rdb"));
    let got = read_keyspace(&mut c, false);
    for g in &got {
        let w = full
            .iter()
            .find(|w| w.db == g.db && w.key == g.key)
            .expect("a key of the file");
        assert_eq!(
            (&w.kind, &w.expire_ms, &w.value),
            (&g.kind, &g.expire_ms, &g.value)
        );
    }
    server.shutdown();
}

/// Nothing listens: exit 1 with "can't connect"; a remote address is refused without
/// --allow-remote.
#[test]
fn server_down_and_remote_refused() {
    let Some(corpus) = corpus_rdb() else { return };
    let rdb = corpus.join("7.0.15/mini.rdb");
    let port = common::free_port();
    let o = restore(&[rdb.to_str().unwrap(), &url(port)], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("can't connect"),
        "{}",
        text(&o)
    );
    // TEST-NET-1, never contacted: refused before connecting.
    let o = restore(&[rdb.to_str().unwrap(), "redis://192.0.2.1:6379"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--allow-remote"),
        "{}",
        text(&o)
    );
}

/// maxmemory 1mb + noeviction: the restore stops with the server's OOM error naming the key
/// (exit 4); the summary's count equals what the server holds.
#[test]
fn server_out_of_memory() {
    let Some(corpus) = corpus_rdb() else { return };
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let rdb = corpus.join("7.0.15/base.rdb");
    let dir = TempDir::new("restore-oom");
    let server = Server::start(
        &bin,
        dir.path(),
        &["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"],
    );
    let mut c = server.client();
    // Fill the server close to its limit.
    c.ok(args!["DEBUG", "POPULATE", 20000, "fill", 64]);
    let before = c.ok(args!["DBSIZE"]).int() as u64;
    let o = restore(
        &[
            "--json",
            "--no-functions",
            rdb.to_str().unwrap(),
            &url(server.port),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let j = json_of(&o);
    let e = j["error"].as_str().unwrap();
    assert!(e.contains("OOM") && e.contains("key"), "{j}");
    let n = j["keys_restored"].as_u64().unwrap();
    assert_eq!(c.ok(args!["DBSIZE"]).int() as u64, before + n, "{j}");
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// Cluster

struct Node {
    child: Child,
    /// The plain port (the tests' own client).
    port: u16,
    /// The TLS port (also the cluster's announced port) when the cluster speaks TLS, else 0.
    tls_port: u16,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(self.port) {
            let _ = c.send(args!["SHUTDOWN", "NOSAVE"]);
            let _ = c.read();
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port p in 20000..30000 with p and p+10000 (the cluster bus) free.
fn cluster_port(seed: &mut u64) -> u16 {
    loop {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let p = 20000 + ((*seed >> 33) % 10000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.1", p + 10000)).is_ok()
        {
            return p;
        }
    }
}

/// A real 3-master cluster of `bin` on loopback (directories n0..n2 in `dir`), created with
/// `redis-cli --cluster create` and waited for until every node reports `cluster_state:ok`.
fn start_cluster(bin: &Path, cli: &Path, dir: &Path, salt: u64) -> Vec<Node> {
    start_cluster_with(bin, cli, dir, salt, None)
}

/// The same with `tls` (a directory of `make_certs` files): every node also listens with TLS,
/// the cluster bus and the announced ports are TLS (`tls-cluster yes`), client certificates
/// required; `port` stays a plain port for the tests' own client.
fn start_cluster_with(
    bin: &Path,
    cli: &Path,
    dir: &Path,
    salt: u64,
    tls: Option<&Path>,
) -> Vec<Node> {
    let mut seed = std::process::id() as u64 ^ salt;
    let mut nodes = Vec::new();
    let cert = |f: &str| tls.unwrap().join(f).to_str().unwrap().to_string();
    for i in 0..3 {
        let (port, tls_port) = match tls {
            None => (cluster_port(&mut seed), 0),
            Some(_) => (common::free_port(), cluster_port(&mut seed)),
        };
        let d = dir.join(format!("n{i}"));
        std::fs::create_dir_all(&d).unwrap();
        let mut cmd = Command::new(bin);
        if tls.is_some() {
            cmd.args(["--tls-port", &tls_port.to_string(), "--tls-cluster", "yes"])
                .args(["--tls-cert-file", &cert("server.crt")])
                .args(["--tls-key-file", &cert("server.key")])
                .args(["--tls-ca-cert-file", &cert("ca.crt")]);
        }
        let child = cmd
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--cluster-enabled",
                "yes",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        nodes.push(Node {
            child,
            port,
            tls_port,
        });
    }
    for n in &nodes {
        let start = Instant::now();
        while Client::connect(n.port).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "node did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let mut create = Command::new(cli);
    if tls.is_some() {
        create.args(["--tls", "--cacert", &cert("ca.crt")]).args([
            "--cert",
            &cert("client.crt"),
            "--key",
            &cert("client.key"),
        ]);
    }
    create.args(["--cluster", "create"]);
    for n in &nodes {
        let p = if tls.is_some() { n.tls_port } else { n.port };
        create.arg(format!("127.0.0.1:{p}"));
    }
    create.arg("--cluster-yes");
    let o = run_with_timeout(&mut create, None, Duration::from_secs(60));
    assert!(o.status.success(), "cluster create: {}", text(&o));
    // Wait until every node sees the cluster as ok.
    for n in &nodes {
        let start = Instant::now();
        loop {
            let mut c = Client::connect(n.port).unwrap();
            let info = c.ok(args!["CLUSTER", "INFO"]).text();
            if info.contains("cluster_state:ok") {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "cluster not ok: {info}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    nodes
}

/// A real 3-master cluster (Debian's redis-server 7.0 and redis-cli), a backup of 100k keys
/// (saved by a real server after DEBUG POPULATE): the restore finds the cluster by itself, every
/// node holds only keys of its own slots, the total is 100k, and sampled values are equal.
#[test]
fn cluster_of_three_masters_gets_every_key_on_its_owner() {
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let Some(cli) = common::require_tool("redis-cli") else {
        return;
    };
    let dir = TempDir::new("restore-cluster");
    // The backup: 100k keys saved by a standalone server.
    let src_dir = dir.join("src");
    let src = Server::start(&bin, &src_dir, &[]);
    let mut c = src.client();
    c.ok(args!["DEBUG", "POPULATE", 100000, "key"]);
    c.ok(args!["SET", "{user42}:a", "tagged-a"]);
    c.ok(args!["SET", "{user42}:b", "tagged-b"]);
    c.ok(args!["SAVE"]);
    src.shutdown();
    let backup = src_dir.join("dump.rdb");
    assert!(backup.is_file());

    let nodes = start_cluster(&bin, &cli, dir.path(), 0x9e37_79b9);
    // A slot being migrated during the restore: its owner B answers ASK for keys it does not
    // have, the importing node C takes them after ASKING.
    let mut a = Client::connect(nodes[0].port).unwrap();
    let slot = a.ok(args!["CLUSTER", "KEYSLOT", "key:1"]).int();
    let owner_port = a
        .ok(args!["CLUSTER", "SLOTS"])
        .array()
        .iter()
        .find_map(|r| {
            let r = r.array();
            (r[0].int() <= slot && slot <= r[1].int()).then(|| r[2].array()[1].int() as u16)
        });
    let owner_port = owner_port.expect("slot owner");
    let b = nodes.iter().position(|n| n.port == owner_port).unwrap();
    let cn = (b + 1) % 3;
    let seed_node = (b + 2) % 3;
    let id = |i: usize| {
        Client::connect(nodes[i].port)
            .unwrap()
            .ok(args!["CLUSTER", "MYID"])
            .text()
    };
    let (b_id, c_id) = (id(b), id(cn));
    Client::connect(nodes[cn].port).unwrap().ok(args![
        "CLUSTER",
        "SETSLOT",
        slot,
        "IMPORTING",
        b_id.clone()
    ]);
    Client::connect(nodes[b].port).unwrap().ok(args![
        "CLUSTER",
        "SETSLOT",
        slot,
        "MIGRATING",
        c_id.clone()
    ]);
    let o = restore(
        &[
            "--json",
            backup.to_str().unwrap(),
            &url(nodes[seed_node].port),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let j = json_of(&o);
    assert_eq!(j["cluster"], true, "{j}");
    assert_eq!(j["keys_restored"], 100002, "{j}");
    let moved_keys = Client::connect(nodes[cn].port)
        .unwrap()
        .ok(args!["CLUSTER", "COUNTKEYSINSLOT", slot])
        .int();
    assert!(
        moved_keys > 0,
        "keys of slot {slot} went to the importing node"
    );
    assert_eq!(
        Client::connect(nodes[b].port)
            .unwrap()
            .ok(args!["CLUSTER", "COUNTKEYSINSLOT", slot])
            .int(),
        0
    );
    assert!(j["redirects"].as_i64().unwrap() >= moved_keys, "{j}");
    // Finish the migration so that every node agrees C owns the slot.
    for i in [cn, b, seed_node] {
        Client::connect(nodes[i].port).unwrap().ok(args![
            "CLUSTER",
            "SETSLOT",
            slot,
            "NODE",
            c_id.clone()
        ]);
    }
    let mut total = 0i64;
    for n in &nodes {
        let mut c = Client::connect(n.port).unwrap();
        let size = c.ok(args!["DBSIZE"]).int();
        assert!(size > 20000, "node {} holds {size} keys", n.port);
        total += size;
        // Every key of the node is in one of its own slots: the counts per owned slot add up
        // to DBSIZE.
        let slots = c.ok(args!["CLUSTER", "SLOTS"]);
        let mut owned = 0i64;
        for r in slots.array() {
            let a = r.array();
            if a[2].array()[1].int() != n.port as i64 {
                continue;
            }
            let cmds: Vec<Vec<Vec<u8>>> = (a[0].int()..=a[1].int())
                .map(|s| args!["CLUSTER", "COUNTKEYSINSLOT", s])
                .collect();
            owned += c.pipeline_ok(&cmds).iter().map(|r| r.int()).sum::<i64>();
        }
        assert_eq!(owned, size, "node {}: keys outside its slots", n.port);
        // Sampled values, read from the owner (a MOVED reply is an error here).
        for i in (0..100000).step_by(997) {
            let k = format!("key:{i}");
            let slot = c.ok(args!["CLUSTER", "KEYSLOT", k.clone()]).int();
            let mine = slots.array().iter().any(|r| {
                let a = r.array();
                a[0].int() <= slot && slot <= a[1].int() && a[2].array()[1].int() == n.port as i64
            });
            if mine {
                assert_eq!(c.ok(args!["GET", k]).text(), format!("value:{i}"));
            }
        }
    }
    assert_eq!(total, 100002);
    // The two tagged keys share a slot, hence a node.
    let mut holders = 0;
    for n in &nodes {
        let mut c = Client::connect(n.port).unwrap();
        let r = c.cmd(args!["EXISTS", "{user42}:a", "{user42}:b"]);
        // MOVED: not this node's slot.
        let e = if r.is_error() { 0 } else { r.int() };
        assert!(e == 0 || e == 2, "tagged keys split across nodes");
        holders += (e == 2) as u32;
    }
    assert_eq!(holders, 1);

    // `rdbkit split --nodes` with the cluster's own nodes.conf: one file per master, holding
    // exactly as many keys as that master got.
    let parts = dir.join("parts");
    let conf = dir.join("n0/nodes.conf");
    let o = common::run_rdbkit([
        "split",
        backup.to_str().unwrap(),
        parts.to_str().unwrap(),
        "--nodes",
        conf.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let j = json_of(&o);
    for n in &nodes {
        let f = parts.join(format!("node-127.0.0.1-{}.rdb", n.port));
        let part = j["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["file"] == f.to_str().unwrap())
            .unwrap_or_else(|| panic!("no part for {}: {j}", n.port));
        let mut c = Client::connect(n.port).unwrap();
        assert_eq!(part["keys"].as_i64().unwrap(), c.ok(args!["DBSIZE"]).int());
    }
}

/// The server drops the connection mid-way (a command over its `client-query-buffer-limit`):
/// exit 4, "connection ... lost"; the server holds every key the summary says it confirmed, and
/// no more than those plus the ones it reports as sent without a reply.
#[test]
fn connection_lost_mid_way() {
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let dir = TempDir::new("restore-lost");
    // The backup: 200 small keys, then a 3 MB incompressible string, then 200 more keys.
    let src = Server::start(&bin, &dir.join("src"), &[]);
    let mut c = src.client();
    for i in 0..200 {
        c.ok(args!["SET", format!("a:{i:03}"), "x"]);
    }
    let mut rng = common::Rng::new(7);
    c.ok(args!["SET", "big", rng.bytes(3 << 20)]);
    for i in 0..200 {
        c.ok(args!["SET", format!("z:{i:03}"), "y"]);
    }
    c.ok(args!["SAVE"]);
    src.shutdown();
    let backup = dir.join("src/dump.rdb");

    let dst = Server::start(&bin, &dir.join("dst"), &[]);
    let mut c = dst.client();
    c.ok(args!["CONFIG", "SET", "client-query-buffer-limit", "1mb"]);
    let o = restore(&["--json", backup.to_str().unwrap(), &url(dst.port)], &[]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let j = json_of(&o);
    assert!(j["error"].as_str().unwrap().contains("lost"), "{j}");
    // Confirmed keys are on the server; keys sent without a reply may be (the server drops a
    // closing client's unsent replies).
    let held = c.ok(args!["DBSIZE"]).int() as u64;
    let confirmed = j["keys_restored"].as_u64().unwrap();
    let unconfirmed = j["keys_unconfirmed"].as_u64().unwrap();
    assert!(
        confirmed <= held && held <= confirmed + unconfirmed,
        "{held} held: {j}"
    );
    assert!(held < 401, "{j}");
    assert_eq!(c.ok(args!["EXISTS", "big"]).int(), 0);
    dst.shutdown();
}

/// AOF backups (7.0 multi-part `appendonlydir/`s of the corpus) are replayed and restored: the
/// server's keyspace equals that of the same server loading the AOF itself at start-up.
#[test]
fn aof_directories_restore_like_the_server_loads_them() {
    let Some(corpus) = corpus_rdb() else { return };
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let aof = corpus.parent().unwrap().join("aof/7.0.15");
    for variant in ["mp-aof", "mp-rdb", "mp-ts"] {
        let src = aof.join(variant).join("appendonlydir");
        let dir = TempDir::new("restore-aof");
        // The oracle: the server loading a copy of the directory.
        let odir = dir.join("oracle");
        std::fs::create_dir_all(odir.join("appendonlydir")).unwrap();
        for e in std::fs::read_dir(&src).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, odir.join("appendonlydir").join(p.file_name().unwrap())).unwrap();
        }
        let oracle = Server::start(&bin, &odir, &["--appendonly", "yes"]);
        let want = read_keyspace(&mut oracle.client(), false);
        oracle.shutdown();
        assert!(!want.is_empty(), "{variant}: the oracle holds keys");

        let dst = Server::start(&bin, &dir.join("dst"), &[]);
        let o = restore(&["--json", src.to_str().unwrap(), &url(dst.port)], &[]);
        assert!(o.status.success(), "{variant}: {}", text(&o));
        let got = read_keyspace(&mut dst.client(), false);
        assert_same_keyspace(variant, &want, &got, false);
        dst.shutdown();
    }
}

/// Redis 6.2 (RDB 9): every corpus base/lfu file of RDB 9 or older restores (exit 0) and each
/// key (type, content, TTL or not) equals what the same 6.2 binary holds after loading the file
/// itself (the keyspace reader of tests/common needs 7.0's PEXPIRETIME); a 7.0 backup is restored into
/// 6.2 with payloads re-encoded for RDB 9 (stream metadata 6.2 cannot hold stripped and
/// counted, function libraries reported as not loadable) and its keys all arrive.
#[test]
fn redis_6_2_takes_older_files_and_downgraded_payloads() {
    let Some(corpus) = corpus_rdb() else { return };
    let Some(bin) = ServerKind::Redis62.require() else {
        return;
    };
    let dir = TempDir::new("restore-62");
    let server = Server::start(&bin, dir.path(), &[]);
    let mut c = server.client();
    for v in ["2.8.24", "3.2.13", "4.0.14", "5.0.14", "6.2.14", "7.0.15"] {
        for variant in ["base", "lfu"] {
            let rdb = corpus.join(v).join(format!("{variant}.rdb"));
            if !rdb.is_file() {
                continue;
            }
            c.ok(args!["FLUSHALL"]);
            let ctx = format!("{} into redis-6.2", rdb.display());
            let o = restore(&["--json", rdb.to_str().unwrap(), &url(server.port)], &[]);
            assert!(o.status.success(), "{ctx}: {}", text(&o));
            let j = json_of(&o);
            let jl = std::fs::read_to_string(rdb.with_extension("expected.jsonl")).unwrap();
            let mut dbs: Vec<u64> = Vec::new();
            for l in jl.lines().filter(|l| !l.trim().is_empty()) {
                let db = serde_json::from_str::<J>(l).unwrap()["db"]
                    .as_u64()
                    .unwrap();
                if !dbs.contains(&db) {
                    dbs.push(db);
                }
            }
            let n = jl.lines().filter(|l| !l.trim().is_empty()).count() as u64;
            assert_eq!(j["keys_restored"].as_u64().unwrap(), n, "{ctx}: {j}");
            if v == "7.0.15" {
                assert_eq!(j["target"], "rdb-9", "{ctx}");
                assert!(j["functions_unloadable"].as_u64().unwrap() > 0 || variant != "base");
                continue;
            }
            // The oracle: the same server binary loading the file; every key's DUMP (the
            // value as that server holds it) and whether it has a TTL must be equal.
            let (_odir, oracle) = common::server_loading(&bin, &rdb);
            let mut oc = oracle.client();
            let mut compared = 0;
            for db in dbs {
                oc.ok(args!["SELECT", db]);
                c.ok(args!["SELECT", db]);
                assert_eq!(
                    oc.ok(args!["DBSIZE"]).int(),
                    c.ok(args!["DBSIZE"]).int(),
                    "{ctx} db {db}"
                );
                compared += common::assert_same_keys_by_value(&ctx, &mut oc, &mut c, db);
                c.ok(args!["SELECT", 0]);
            }
            assert_eq!(compared, n, "{ctx}");
            oracle.shutdown();
        }
    }
    server.shutdown();
}

/// A key whose TTL passed between the backup and the restore is not sent and is counted.
#[test]
fn expired_keys_are_counted_not_sent() {
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let dir = TempDir::new("restore-expired");
    let src = Server::start(&bin, &dir.join("src"), &[]);
    let mut c = src.client();
    c.ok(args!["SET", "short", "v", "PX", 300]);
    c.ok(args!["SET", "long", "v", "EX", 3600]);
    c.ok(args!["SET", "forever", "v"]);
    c.ok(args!["SAVE"]);
    src.shutdown();
    std::thread::sleep(Duration::from_millis(600));
    let dst = Server::start(&bin, &dir.join("dst"), &[]);
    let backup = dir.join("src/dump.rdb");
    let o = restore(&["--json", backup.to_str().unwrap(), &url(dst.port)], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let j = json_of(&o);
    assert_eq!(j["keys_expired"], 1, "{j}");
    assert_eq!(j["keys_restored"], 2, "{j}");
    let mut c = dst.client();
    assert_eq!(c.ok(args!["EXISTS", "short", "long", "forever"]).int(), 2);
    let ttl = c.ok(args!["PTTL", "long"]).int();
    assert!(
        ttl > 3_500_000 && ttl <= 3_600_000,
        "absolute expiry kept: {ttl}"
    );
    dst.shutdown();
}

/// `rediss://` into Debian's redis-server 7.0 listening with `--tls-port` (certificates made
/// here with the openssl CLI, client certificates required): with `--cacert` and
/// `--cert`/`--key` the backups (a small one, and one of large strings spanning many TLS records)
/// land key by key as the ground truth says; without the client certificate, with a CA that did
/// not sign the server's certificate, with an unreadable `--cacert` or with TLS flags on a
/// redis:// URL it exits 1 and writes nothing; `--tls` on a redis:// URL and `--insecure` (no
/// CA) connect once the server stops asking for client certificates.
#[test]
fn tls_rediss_with_ca_and_client_certificate() {
    let Some(corpus) = corpus_rdb() else { return };
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let Some(ossl) = common::require_tool("openssl") else {
        return;
    };
    let dir = TempDir::new("restore-tls");
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    make_certs(&ossl, &certs);
    let p = |f: &str| certs.join(f).to_str().unwrap().to_string();
    let tls_port = common::free_port().to_string();
    let server = Server::start(
        &bin,
        &dir.join("srv"),
        &[
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
    let tls_url = format!("rediss://127.0.0.1:{tls_port}");
    let (ca, cert, key) = (p("ca.crt"), p("client.crt"), p("client.key"));
    let full = ["--cacert", &ca, "--cert", &cert, "--key", &key];

    for name in ["base", "bigstring"] {
        let rdb = corpus.join(format!("7.0.15/{name}.rdb"));
        let mut a = vec!["--json"];
        a.extend(full);
        a.extend([rdb.to_str().unwrap(), &tls_url]);
        let o = restore(&a, &[]);
        assert!(o.status.success(), "{name}: {}", text(&o));
        let want = truth(&rdb);
        let j = json_of(&o);
        assert_eq!(
            j["keys_restored"].as_u64().unwrap() + j["keys_as_commands"].as_u64().unwrap(),
            want.len() as u64,
            "{name}: {j}"
        );
        assert_same_keyspace(name, &want, &read_keyspace(&mut c, false), false);
        clean(&mut c, true);
    }

    let rdb = corpus.join("7.0.15/mini.rdb");
    let r = rdb.to_str().unwrap();
    let other = p("other-ca.crt");
    let refused: Vec<(&str, Vec<&str>, &str)> = vec![
        ("no client certificate", vec!["--cacert", &ca], "connect"),
        (
            "wrong CA",
            vec!["--cacert", &other, "--cert", &cert, "--key", &key],
            "connect",
        ),
        (
            "unreadable --cacert",
            vec!["--cacert", "/nonexistent/ca.pem"],
            "/nonexistent/ca.pem",
        ),
    ];
    for (what, flags, says) in &refused {
        let mut a = flags.clone();
        a.extend([r, &tls_url]);
        let o = restore(&a, &[]);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{what}: {err}");
        assert_eq!(c.ok(args!["DBSIZE"]).int(), 0, "{what}: nothing written");
    }
    let o = restore(&["--cacert", &ca, r, &url(server.port)], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("need TLS"),
        "{}",
        text(&o)
    );

    // Without client certificates: --tls on a redis:// URL with the CA, then --insecure alone.
    c.ok(args!["CONFIG", "SET", "tls-auth-clients", "no"]);
    let plain_form = format!("redis://127.0.0.1:{tls_port}");
    let o = restore(&["--tls", "--cacert", &ca, r, &plain_form], &[]);
    assert!(o.status.success(), "--tls: {}", text(&o));
    let want = truth(&rdb);
    assert_same_keyspace("--tls", &want, &read_keyspace(&mut c, false), false);
    // Unverified, the server's certificate is not checked (the CA is not given)...
    let o = restore(&["--insecure", "--replace", r, &tls_url], &[]);
    assert!(o.status.success(), "--insecure: {}", text(&o));
    // ...and verified against the system's trust store, it is refused.
    let o = restore(&["--replace", r, &tls_url], &[]);
    assert_eq!(o.status.code(), Some(1), "system trust store: {}", text(&o));
    assert_same_keyspace("--insecure", &want, &read_keyspace(&mut c, false), false);
    server.shutdown();
}

/// The master owning `slot` according to node `port`'s CLUSTER SLOTS.
fn slot_owner(port: u16, slot: i64) -> u16 {
    Client::connect(port)
        .unwrap()
        .ok(args!["CLUSTER", "SLOTS"])
        .array()
        .iter()
        .find_map(|r| {
            let r = r.array();
            (r[0].int() <= slot && slot <= r[1].int()).then(|| r[2].array()[1].int() as u16)
        })
        .expect("slot owner")
}

/// How many times node `port` ran CLUSTER SLOTS since its statistics were reset.
fn cluster_slots_calls(port: u16) -> u64 {
    let info = Client::connect(port)
        .unwrap()
        .ok(args!["INFO", "commandstats"])
        .text();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_cluster|slots:calls="))
        .and_then(|v| v.split(',').next())
        .map_or(0, |v| v.parse().unwrap())
}

/// The output of a spawned child whose stdout/stderr are piped, killed after `limit`.
fn wait_output(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the restore did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A slot moves between the restore's CLUSTER SLOTS and its writes: the backup comes on
/// standard input, the first 16 KiB (keys of other slots) before the move and the rest after
/// it. The restore, holding the old map, sends the slot's keys to the old owner, which answers
/// MOVED; they land on the new owner (none on the old), every key is restored, the redirections
/// are counted. Then the cluster default policy end to end: one key of the backup on its owner
/// node makes the restore fail with exit 3 naming it, nothing else written on any node;
/// `--skip-existing` then restores the rest and counts the one key.
#[test]
fn cluster_moved_mid_restore_and_the_default_policy() {
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let Some(cli) = common::require_tool("redis-cli") else {
        return;
    };
    let dir = TempDir::new("restore-moved");
    // The backup: 4000 filler keys, then 40 keys of one hash slot ({resharded}), in that order
    // (`rdbkit merge` writes its inputs' keys in command-line order).
    let mut parts = Vec::new();
    for (name, setup) in [("filler", 0), ("resharded", 1)] {
        let d = dir.join(name);
        let s = Server::start(&bin, &d, &[]);
        let mut c = s.client();
        if setup == 0 {
            c.ok(args!["DEBUG", "POPULATE", 4000, "fill"]);
        } else {
            for i in 0..40 {
                c.ok(args!["RPUSH", format!("{{resharded}}:{i}"), "a", i]);
            }
        }
        c.ok(args!["SAVE"]);
        s.shutdown();
        parts.push(d.join("dump.rdb"));
    }
    let backup = dir.join("backup.rdb");
    let o = common::run_rdbkit([
        "merge",
        parts[0].to_str().unwrap(),
        parts[1].to_str().unwrap(),
        "-o",
        backup.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "merge: {}", text(&o));
    let bytes = std::fs::read(&backup).unwrap();
    let head = 16 << 10;
    assert!(bytes.len() > 3 * head, "the filler outgrows the first read");

    let nodes = start_cluster(&bin, &cli, dir.path(), 0x51ed_27a3);
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    let slot = Client::connect(ports[0])
        .unwrap()
        .ok(args!["CLUSTER", "KEYSLOT", "{resharded}"])
        .int();
    // No filler key shares the slot (it would be sent before the move).
    let fill: Vec<Vec<Vec<u8>>> = (0..4000)
        .map(|i| args!["CLUSTER", "KEYSLOT", format!("fill:{i}")])
        .collect();
    let mut c0 = Client::connect(ports[0]).unwrap();
    assert!(c0.pipeline_ok(&fill).iter().all(|r| r.int() != slot));
    let b = ports
        .iter()
        .position(|&p| p == slot_owner(ports[0], slot))
        .unwrap();
    let (cn, seed_node) = ((b + 1) % 3, (b + 2) % 3);
    let id = |i: usize| {
        Client::connect(ports[i])
            .unwrap()
            .ok(args!["CLUSTER", "MYID"])
            .text()
    };
    let (b_id, c_id) = (id(b), id(cn));
    Client::connect(ports[seed_node])
        .unwrap()
        .ok(args!["CONFIG", "RESETSTAT"]);

    let mut child = Command::new(common::rdbkit_bin())
        .args([
            "restore",
            "--json",
            "--replace",
            "-",
            &url(ports[seed_node]),
        ])
        .env_remove("RDBKIT_PASSWORD")
        .env_remove("REDISCLI_AUTH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    use std::io::Write as _;
    stdin.write_all(&bytes[..head]).unwrap();
    // The restore has its slot map once the seed node has answered its CLUSTER SLOTS.
    let start = Instant::now();
    while cluster_slots_calls(ports[seed_node]) == 0 {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("restore exited early: {st}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the restore never asked for CLUSTER SLOTS"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Move the (still empty) slot from B to C as a resharding does: C imports it and takes it
    // (which bumps its config epoch above B's, so no late gossip of B's claim wins), then B and
    // the seed node learn it.
    Client::connect(ports[cn]).unwrap().ok(args![
        "CLUSTER",
        "SETSLOT",
        slot,
        "IMPORTING",
        b_id.clone()
    ]);
    for &i in &[cn, b, seed_node] {
        Client::connect(ports[i]).unwrap().ok(args![
            "CLUSTER",
            "SETSLOT",
            slot,
            "NODE",
            c_id.clone()
        ]);
    }
    for &p in &ports {
        assert_eq!(slot_owner(p, slot), ports[cn], "node {p} sees the move");
    }
    stdin.write_all(&bytes[head..]).unwrap();
    drop(stdin);
    let o = wait_output(child, Duration::from_secs(120));
    assert!(o.status.success(), "{}", text(&o));
    let j = json_of(&o);
    assert_eq!(j["cluster"], true, "{j}");
    assert_eq!(j["keys_restored"], 4040, "{j}");
    assert!(j["redirects"].as_u64().unwrap() >= 1, "{j}");
    let count = |i: usize| {
        Client::connect(ports[i])
            .unwrap()
            .ok(args!["CLUSTER", "COUNTKEYSINSLOT", slot])
            .int()
    };
    assert_eq!(
        count(cn),
        40,
        "every key of the moved slot on its new owner"
    );
    assert_eq!(count(b), 0, "none on the old owner");
    let mut total = 0;
    for &p in &ports {
        total += Client::connect(p).unwrap().ok(args!["DBSIZE"]).int();
    }
    assert_eq!(total, 4040);
    let mut c = Client::connect(ports[cn]).unwrap();
    assert_eq!(
        c.ok(args!["LRANGE", "{resharded}:7", 0, -1]).array().len(),
        2,
        "values intact"
    );

    // The default policy, end to end: one key of the backup exists on its owner.
    for &p in &ports {
        Client::connect(p).unwrap().ok(args!["FLUSHALL"]);
    }
    c.ok(args!["SET", "{resharded}:7", "already here"]);
    let f = backup.to_str().unwrap();
    let o = restore(&["--json", f, &url(ports[seed_node])], &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let j = json_of(&o);
    let err = j["error"].as_str().unwrap();
    assert!(
        err.contains("1 key(s)") && err.contains("{resharded}:7"),
        "{err}"
    );
    assert_eq!(j["keys_restored"], 0, "{j}");
    let sizes: Vec<i64> = ports
        .iter()
        .map(|&p| Client::connect(p).unwrap().ok(args!["DBSIZE"]).int())
        .collect();
    assert_eq!(sizes.iter().sum::<i64>(), 1, "nothing written: {sizes:?}");
    assert_eq!(c.ok(args!["GET", "{resharded}:7"]).text(), "already here");
    let o = restore(
        &["--json", "--skip-existing", f, &url(ports[seed_node])],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let j = json_of(&o);
    assert_eq!(j["keys_restored"], 4039, "{j}");
    assert_eq!(j["keys_skipped_existing"], 1, "{j}");
    assert_eq!(c.ok(args!["GET", "{resharded}:7"]).text(), "already here");
}

/// Hash field TTLs (Redis 7.4) into Debian's 7.0, which has none: the 7.4.1 corpus backup is
/// refused before anything is written, naming a field-TTL hash, whether the existing-key check
/// reads it (default policy), a pass of its own does (--replace) or it comes on standard input;
/// keys without field TTLs (a `listpackex` hash whose TTLs were all removed included) pass
/// without the flag; with --drop field-ttl (or the old --drop-field-ttls) the whole backup
/// lands, the server's keyspace equal to the ground truth without field TTLs, and the hashes that
/// lost them are counted. The same for a 7.4.1 multi-part AOF (replayed).
#[test]
fn field_ttls_into_an_older_server_refused_up_front_or_dropped() {
    let Some(corpus) = corpus_rdb() else { return };
    let Some((_dir, server)) = common::redis70("restore-hfe") else {
        return;
    };
    let rdb = corpus.join("7.4.1/base.rdb");
    let r = rdb.to_str().unwrap();
    // The ground truth without field TTLs: what a server without them holds.
    let mut jl = Vec::new();
    for line in std::fs::read(rdb.with_extension("expected.jsonl"))
        .unwrap()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
    {
        let mut j: J = serde_json::from_slice(line).unwrap();
        if j["type"] == "hash" {
            // (Hash lines hold strings and integers only: re-serialized exactly.)
            for f in j["value"].as_array_mut().unwrap() {
                f.as_array_mut().unwrap().truncate(2);
            }
            serde_json::to_writer(&mut jl, &j).unwrap();
        } else {
            // Other lines verbatim: scores must not go through a float round trip.
            jl.extend_from_slice(line);
        }
        jl.push(b'\n');
    }
    let want = parse_dump(&jl).unwrap();
    let with_ttl: Vec<&str> = ["hfe:keyttl:", "hfe:large:", "hfe:small:"].to_vec();
    let u = url(server.port);
    let mut c = server.client();

    let refused = |o: &Output, what: &str, c: &mut Client| {
        assert_eq!(o.status.code(), Some(1), "{what}: {}", text(o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("--drop field-ttl"), "{what}: {err}");
        assert!(err.contains("nothing written"), "{what}: {err}");
        assert_eq!(c.ok(args!["DBSIZE"]).int(), 0, "{what}: nothing written");
    };
    for (what, flags) in [("default policy", vec![]), ("--replace", vec!["--replace"])] {
        let mut a = flags.clone();
        a.extend([r, &u]);
        let o = restore(&a, &[]);
        refused(&o, what, &mut c);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            with_ttl.iter().any(|k| err.contains(k)) && err.contains("field TTLs"),
            "{what}: names a field-TTL hash: {err}"
        );
    }
    let mut stdin = Command::new(common::rdbkit_bin());
    stdin
        .args(["restore", "--replace", "-", &u])
        .env_remove("RDBKIT_PASSWORD")
        .env_remove("REDISCLI_AUTH");
    let o = run_with_timeout(
        &mut stdin,
        Some(&std::fs::read(&rdb).unwrap()),
        Duration::from_secs(120),
    );
    refused(&o, "standard input", &mut c);
    assert!(String::from_utf8_lossy(&o.stderr).contains("standard input"));

    // Keys without field TTLs are restored without the flag.
    let o = restore(&["--json", "--match", "hfe:persisted:*", r, &u], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(json_of(&o)["keys_restored"], 1, "{}", text(&o));
    clean(&mut c, true);

    let o = restore(&["--json", "--drop", "field-ttl", r, &u], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let j = json_of(&o);
    assert_eq!(j["hashes_field_ttls_dropped"], 3, "{j}");
    assert_eq!(
        j["keys_restored"].as_u64().unwrap() + j["keys_as_commands"].as_u64().unwrap(),
        want.len() as u64,
        "{j}"
    );
    let got = read_keyspace(&mut c, false);
    assert_same_keyspace("--drop field-ttl", &want, &got, false);
    for k in &with_ttl {
        assert!(
            got.iter().any(|g| g.key.starts_with(k.as_bytes())),
            "{k} restored"
        );
    }

    // An AOF (7.4.1 multi-part, HPEXPIREAT replayed): refused up front the same way, restored
    // without field TTLs with the flag (here its old spelling, a hidden alias).
    clean(&mut c, true);
    let aof = corpus
        .parent()
        .unwrap()
        .join("aof/7.4.1/mp-aof/appendonlydir");
    let a = aof.to_str().unwrap();
    let o = restore(&[a, &u], &[]);
    refused(&o, "AOF", &mut c);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("hfe:"),
        "{}",
        text(&o)
    );
    let o = restore(&["--json", "--drop-field-ttls", a, &u], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(json_of(&o)["hashes_field_ttls_dropped"], 1, "{}", text(&o));
    server.shutdown();
}

/// A 3-master cluster speaking TLS (`tls-cluster yes`, client certificates required): a
/// `rediss://` restore with `--cacert`/`--cert`/`--key` reaches every master named by CLUSTER
/// SLOTS (their TLS ports) with the same certificates, and every key lands on its owner.
#[test]
fn tls_cluster_gets_every_key_on_its_owner() {
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let Some(cli) = common::require_tool("redis-cli") else {
        return;
    };
    let Some(ossl) = common::require_tool("openssl") else {
        return;
    };
    let dir = TempDir::new("restore-tls-cluster");
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    make_certs(&ossl, &certs);
    let src_dir = dir.join("src");
    let src = Server::start(&bin, &src_dir, &[]);
    src.client().ok(args!["DEBUG", "POPULATE", 3000, "key"]);
    src.client().ok(args!["SAVE"]);
    src.shutdown();
    let backup = src_dir.join("dump.rdb");

    let nodes = start_cluster_with(&bin, &cli, dir.path(), 0x7a3c_11e5, Some(&certs));
    let p = |f: &str| certs.join(f).to_str().unwrap().to_string();
    let (ca, cert, key) = (p("ca.crt"), p("client.crt"), p("client.key"));
    let seed_url = format!("rediss://127.0.0.1:{}", nodes[1].tls_port);
    let o = restore(
        &[
            "--json",
            "--cacert",
            &ca,
            "--cert",
            &cert,
            "--key",
            &key,
            backup.to_str().unwrap(),
            &seed_url,
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let j = json_of(&o);
    assert_eq!(j["cluster"], true, "{j}");
    assert_eq!(j["keys_restored"], 3000, "{j}");
    let mut total = 0;
    for n in &nodes {
        let mut c = Client::connect(n.port).unwrap();
        let size = c.ok(args!["DBSIZE"]).int();
        assert_eq!(
            j["nodes"][format!("127.0.0.1:{}", n.tls_port)].as_i64(),
            Some(size),
            "per-node count over TLS: {j}"
        );
        assert!(size > 500, "node {} holds {size}", n.port);
        total += size;
        // Every key of the node is its own: GET of a sample answers, not MOVED.
        for i in (0..3000).step_by(97) {
            let k = format!("key:{i}");
            let r = c.cmd(args!["GET", k]);
            assert!(
                r.is_error() || r.text() == format!("value:{i}"),
                "{}",
                n.port
            );
        }
    }
    assert_eq!(total, 3000);
}
