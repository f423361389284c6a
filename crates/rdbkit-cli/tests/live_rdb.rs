//! Live test (issue 2): a real `redis-server` (Debian's 7.0) takes a seeded random dataset across
//! every type and encoding it has, SAVEs, and `rdbkit dump --format jsonl` must give back every
//! key, type, encoding, value and expiry the server reports; `rdbkit check` must accept the file.
//!
//! Rerun a failure with `RDBKIT_LIVE_SEED=<seed> cargo test -p rdbkit-cli --test live_rdb`.

#[macro_use]
mod common;

use common::*;

/// Far-future absolute expiries (after 2100-01-01): nothing expires during the test.
const EXP_BASE: i64 = 4_102_444_800_000;

/// Batches commands and checks every reply is not an error.
struct Loader<'a> {
    c: &'a mut Client,
    cmds: Vec<Vec<Vec<u8>>>,
}

impl Loader<'_> {
    fn push(&mut self, cmd: Vec<Vec<u8>>) {
        self.cmds.push(cmd);
        if self.cmds.len() >= 500 {
            self.flush();
        }
    }
    fn flush(&mut self) {
        let cmds = std::mem::take(&mut self.cmds);
        self.c.pipeline_ok(&cmds);
    }
}

/// A value of one of many shapes: empty, small ints of every width, non-canonical numbers,
/// binary, UTF-8, short and long text, LZF-compressible runs.
fn value(rng: &mut Rng, max_len: usize) -> Vec<u8> {
    match rng.below(14) {
        0 => Vec::new(),
        1 | 2 => {
            let edges: [i64; 20] = [
                0,
                1,
                -1,
                12,
                127,
                -128,
                128,
                255,
                4095,
                -4096,
                32767,
                -32768,
                65535,
                8_388_607,
                -8_388_608,
                i32::MAX as i64,
                i32::MIN as i64,
                i32::MAX as i64 + 1,
                i64::MAX,
                i64::MIN,
            ];
            if rng.chance(50) {
                rng.pick(&edges).to_string().into_bytes()
            } else {
                let bits = rng.range(1, 63);
                let v = (rng.next_u64() >> (64 - bits)) as i64;
                (if rng.chance(50) { -v } else { v })
                    .to_string()
                    .into_bytes()
            }
        }
        3 => rng
            .pick(&[
                "007",
                "-0",
                "+5",
                "1e3",
                " 12",
                "12 ",
                "0x1f",
                "9223372036854775808",
                "-9223372036854775809",
                "3.14",
                "-0.0",
            ])
            .as_bytes()
            .to_vec(),
        4 | 5 => {
            let n = rng.range(1, 12.min(max_len as u64)) as usize;
            rng.token(n).into_bytes()
        }
        6 => {
            let n = rng.range(1, 60.min(max_len as u64)) as usize;
            rng.bytes(n)
        }
        7 => "héllo ✓ 键 😀 ключ".as_bytes().to_vec(),
        8 => b"\r\n\x00\xff*1\r\n$3\r\n".to_vec(),
        9 | 10 => {
            let n = rng.range(13, 80.min(max_len as u64).max(13)) as usize;
            rng.token(n).into_bytes()
        }
        11 => {
            // Compressible run (LZF when > 20 bytes and rdbcompression is on).
            let ulen = rng.range(1, 8) as usize;
            let unit = rng.token(ulen);
            let n = rng.range(20, max_len.max(21) as u64) as usize;
            unit.as_bytes().iter().cycle().take(n).copied().collect()
        }
        _ => {
            let n = rng.range(1, max_len.max(1) as u64) as usize;
            rng.bytes(n)
        }
    }
}

/// A key name: mostly `prefix:token`, sometimes binary.
fn key(rng: &mut Rng, prefix: &str, n: usize) -> Vec<u8> {
    let mut k = format!("{prefix}:{n}:").into_bytes();
    if rng.chance(10) {
        k.extend_from_slice(b"\x00\xff\r\n");
        k.extend(rng.bytes(3));
    } else {
        k.extend(rng.token(6).into_bytes());
    }
    k
}

fn maybe_expire(rng: &mut Rng, l: &mut Loader, k: &[u8]) {
    match rng.below(10) {
        0 => l.push(args!["PEXPIREAT", k, EXP_BASE + rng.below(1 << 40) as i64]),
        1 => l.push(args!["EXPIRE", k, rng.range(86_400, 10 * 365 * 86_400)]),
        _ => {}
    }
}

fn strings(rng: &mut Rng, l: &mut Loader, n: usize) {
    for i in 0..n {
        let k = key(rng, "str", i);
        let v = match rng.below(12) {
            0 => {
                // Big: LZF-compressible, or random (stored raw even with compression on).
                let len = rng.range(1000, 300_000) as usize;
                if rng.chance(70) {
                    let ulen = rng.range(1, 40) as usize;
                    let unit = rng.token(ulen).into_bytes();
                    unit.iter().cycle().take(len).copied().collect()
                } else {
                    rng.bytes(len.min(20_000))
                }
            }
            1 => {
                // The length-prefix and LZF boundaries.
                let len = *rng.pick(&[20usize, 21, 44, 45, 63, 64, 16383, 16384]);
                let unit = rng.token(3).into_bytes();
                unit.iter().cycle().take(len).copied().collect()
            }
            _ => value(rng, 200),
        };
        l.push(args!["SET", k, v]);
        match rng.below(12) {
            0 => l.push(args!["APPEND", k, rng.token(5)]),
            1 => l.push(args!["SETRANGE", k, rng.below(30), rng.bytes(4)]),
            2 => {
                l.push(args!["SET", k, rng.below(1000)]);
                l.push(args!["INCRBYFLOAT", k, "0.25"]);
            }
            _ => {}
        }
        maybe_expire(rng, l, &k);
    }
}

fn lists(rng: &mut Rng, l: &mut Loader, n: usize) {
    for i in 0..n {
        let k = key(rng, "list", i);
        // Node size and compression are fixed when the list is created.
        l.push(args![
            "CONFIG",
            "SET",
            "list-max-listpack-size",
            *rng.pick(&[-2i64, -1, -3, 2, 5, 16, 128])
        ]);
        l.push(args![
            "CONFIG",
            "SET",
            "list-compress-depth",
            *rng.pick(&[0u64, 0, 1, 1, 2, 3])
        ]);
        // Elements at or over the packed threshold get their own PLAIN node (0 = default 1 GiB).
        l.push(args![
            "DEBUG",
            "QUICKLIST-PACKED-THRESHOLD",
            *rng.pick(&[0u64, 0, 300, 2000])
        ]);
        let len = match rng.below(4) {
            0 => rng.range(1, 8),
            1 => rng.range(100, 600),
            2 => rng.range(1000, 3000),
            _ => rng.range(9, 150),
        };
        let mut batch = Vec::new();
        for _ in 0..len {
            let v = if rng.chance(2) {
                value(rng, 5000)
            } else {
                value(rng, 70)
            };
            batch.push(v);
            if batch.len() == 100 {
                let cmd = if rng.chance(30) { "LPUSH" } else { "RPUSH" };
                let mut c = args![cmd, k];
                c.append(&mut batch);
                l.push(c);
            }
        }
        if !batch.is_empty() {
            let mut c = args!["RPUSH", k];
            c.append(&mut batch);
            l.push(c);
        }
        // Edits at both ends and inside: node splits and merges. Long enough to stay non-empty.
        if len >= 30 {
            for _ in 0..rng.below(4) {
                match rng.below(4) {
                    0 => l.push(args!["LSET", k, 0, value(rng, 100)]),
                    1 => l.push(args!["LREM", k, 2, value(rng, 8)]),
                    2 => l.push(args!["LPUSH", k, value(rng, 100)]),
                    _ => l.push(args!["LTRIM", k, rng.below(3), -1 - rng.below(3) as i64]),
                }
            }
        }
        maybe_expire(rng, l, &k);
    }
    l.push(args!["CONFIG", "SET", "list-max-listpack-size", -2]);
    l.push(args!["CONFIG", "SET", "list-compress-depth", 0]);
    l.push(args!["DEBUG", "QUICKLIST-PACKED-THRESHOLD", 0]);
}

fn sets(rng: &mut Rng, l: &mut Loader, n: usize) {
    for i in 0..n {
        let k = key(rng, "set", i);
        // Around set-max-intset-entries (512) for the int sets. The first two sets, whatever
        // the seed: many strings (hashtable), a few small integers (intset).
        let kind = match i {
            0 => 3,
            1 => 0,
            _ => rng.below(5),
        };
        let len = match (i, rng.below(3)) {
            (0, _) => rng.range(513, 530),
            (1, _) | (_, 0) => rng.range(1, 10),
            (_, 1) => rng.range(500, 530),
            _ => rng.range(11, 200),
        };
        let mut c = args!["SADD", k];
        for _ in 0..len {
            let m = match kind {
                0 => (rng.below(60_000) as i64 - 30_000).to_string().into_bytes(),
                1 => (rng.next_u64() as i32 as i64).to_string().into_bytes(),
                2 => (rng.next_u64() as i64).to_string().into_bytes(),
                _ => value(rng, 100),
            };
            c.push(m);
        }
        l.push(c);
        if rng.chance(20) {
            l.push(args!["SREM", k, "0", "1", "-1"]);
        }
        maybe_expire(rng, l, &k);
    }
}

fn score(rng: &mut Rng) -> f64 {
    match rng.below(10) {
        0 => *rng.pick(&[
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.0,
            5e-324,
            -5e-324,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            0.1,
            1.0 / 3.0,
            1e300,
            -1e-300,
        ]),
        1 | 2 => (rng.below(2000) as i64 - 1000) as f64,
        3 => (rng.below(2000) as f64 - 1000.0) / 8.0,
        4 => {
            let f = f64::from_bits(rng.next_u64());
            if f.is_finite() {
                f
            } else {
                1.5
            }
        }
        _ => (rng.unit() - 0.5) * 1e6,
    }
}

fn zsets(rng: &mut Rng, l: &mut Loader, n: usize) {
    for i in 0..n {
        let k = key(rng, "zset", i);
        // Around zset-max-listpack-entries (128) and -value (64).
        // The first two zsets: surely one skiplist, one listpack.
        let len = match (i, rng.below(3)) {
            (0, _) => rng.range(200, 300),
            (1, _) | (_, 0) => rng.range(1, 12),
            (_, 1) => rng.range(120, 140),
            _ => rng.range(13, 300),
        };
        let long = rng.chance(15);
        let mut c = args!["ZADD", k];
        for j in 0..len {
            c.push(score(rng).to_arg());
            let mut m = value(rng, if long { 100 } else { 40 });
            m.extend_from_slice(format!("#{j}").as_bytes()); // distinct members
            c.push(m);
        }
        l.push(c);
        if rng.chance(20) {
            l.push(args!["ZINCRBY", k, 2.5, "#0"]);
        }
        maybe_expire(rng, l, &k);
    }
}

fn hashes(rng: &mut Rng, l: &mut Loader, n: usize) {
    for i in 0..n {
        let k = key(rng, "hash", i);
        // Around hash-max-listpack-entries (128 upstream, 512 in Debian's 7.0) and -value (64);
        // the first two hashes are surely one hashtable and one listpack, whatever the seed.
        let len = match (i, rng.below(3)) {
            (0, _) => rng.range(520, 600),
            (1, _) | (_, 0) => rng.range(1, 12),
            (_, 1) => rng.range(120, 140),
            _ => rng.range(13, 300),
        };
        let long = rng.chance(15);
        let mut c = args!["HSET", k];
        for j in 0..len {
            let mut f = value(rng, 30);
            f.extend_from_slice(format!("#{j}").as_bytes());
            c.push(f);
            c.push(value(rng, if long { 100 } else { 50 }));
        }
        l.push(c);
        if rng.chance(20) {
            l.push(args!["HINCRBY", k, "counter", 7]);
            l.push(args!["HDEL", k, "#1"]);
        }
        maybe_expire(rng, l, &k);
    }
}

/// Streams: several nodes, varied field sets, XDEL/XTRIM, groups with pending entries,
/// XCLAIM with a retry count, XAUTOCLAIM, idle consumers, ENTRIESREAD, XSETID, empty streams.
fn streams(rng: &mut Rng, l: &mut Loader, n: usize) {
    for i in 0..n {
        let k = key(rng, "stream", i);
        l.push(args![
            "CONFIG",
            "SET",
            "stream-node-max-entries",
            *rng.pick(&[3u64, 10, 100])
        ]);
        let len = match rng.below(4) {
            0 => rng.range(1, 5),
            1 => rng.range(200, 600),
            _ => rng.range(6, 120),
        };
        let mut ms = 1_600_000_000_000u64 + rng.below(100_000_000_000);
        let mut seq = 0u64;
        let mut ids = Vec::new();
        for _ in 0..len {
            if rng.chance(60) {
                ms += rng.range(1, 5000);
                seq = 0;
            } else {
                seq += 1;
            }
            let id = format!("{ms}-{seq}");
            let mut c = args!["XADD", k, id];
            match rng.below(4) {
                0 | 1 => {
                    // Same fields as the node's master entry.
                    c.extend(args![
                        "sensor",
                        format!("s{}", rng.below(5)),
                        "temp",
                        rng.below(100) as i64 - 50
                    ]);
                }
                2 => {
                    c.extend(args!["sensor", value(rng, 20), "extra", value(rng, 40)]);
                }
                _ => {
                    for f in 0..rng.range(1, 6) {
                        c.push(format!("f{f}-{}", rng.token(2)).into_bytes());
                        c.push(value(rng, 60));
                    }
                }
            }
            l.push(c);
            ids.push(id);
        }
        // Groups before the deletions, so some pending entries get deleted too.
        let ngroups = rng.below(4);
        for g in 0..ngroups {
            let gname = format!("g{g}-{}", rng.token(3));
            let start = match rng.below(3) {
                0 => "0".to_string(),
                1 => "$".to_string(),
                _ => rng.pick(&ids).clone(),
            };
            let mut c = args!["XGROUP", "CREATE", k, gname, start];
            if rng.chance(30) {
                c.extend(args!["ENTRIESREAD", rng.below(len)]);
            }
            l.push(c);
            for cidx in 0..rng.below(4) {
                let cname = format!("c{cidx}-{}", rng.token(2));
                l.push(args![
                    "XREADGROUP",
                    "GROUP",
                    gname,
                    cname,
                    "COUNT",
                    rng.range(1, 40),
                    "STREAMS",
                    k,
                    ">"
                ]);
            }
            for _ in 0..rng.below(5) {
                l.push(args!["XACK", k, gname, rng.pick(&ids)]);
            }
            if rng.chance(50) {
                let id = rng.pick(&ids).clone();
                l.push(args![
                    "XCLAIM",
                    k,
                    gname,
                    "claimer",
                    0,
                    id,
                    "RETRYCOUNT",
                    rng.below(20)
                ]);
            }
            if rng.chance(30) {
                l.push(args!["XAUTOCLAIM", k, gname, "auto", 0, "0-0", "COUNT", 3]);
            }
            if rng.chance(30) {
                l.push(args!["XGROUP", "CREATECONSUMER", k, gname, "idle-one"]);
            }
        }
        for _ in 0..rng.below(6) {
            l.push(args!["XDEL", k, rng.pick(&ids)]);
        }
        match rng.below(6) {
            0 => l.push(args!["XTRIM", k, "MAXLEN", rng.below(len + 1)]),
            1 => l.push(args!["XTRIM", k, "MINID", rng.pick(&ids)]),
            2 => l.push(args!["XTRIM", k, "MAXLEN", 0]), // empty, but the key stays
            3 => {
                let next = format!("{}-5", ms + 10);
                l.push(args![
                    "XSETID",
                    k,
                    next,
                    "ENTRIESADDED",
                    len + 10,
                    "MAXDELETEDID",
                    "1-1"
                ]);
            }
            _ => {}
        }
        maybe_expire(rng, l, &k);
    }
    // An empty stream made with MKSTREAM, with a group.
    let k = key(rng, "stream-mk", 0);
    l.push(args!["XGROUP", "CREATE", k, "g", "$", "MKSTREAM"]);
    l.push(args!["CONFIG", "SET", "stream-node-max-entries", 100]);
}

/// The dataset: every type in databases 0, 1, 15 and a random one; empty keys; a function.
fn populate(c: &mut Client, rng: &mut Rng) {
    let mut l = Loader {
        c,
        cmds: Vec::new(),
    };
    let other = rng.range(2, 14);
    for (db, scale) in [(0u32, 4usize), (1, 1), (other as u32, 1), (15, 1)] {
        l.push(args!["SELECT", db]);
        strings(rng, &mut l, 15 * scale);
        lists(rng, &mut l, 4 * scale);
        sets(rng, &mut l, 4 * scale);
        zsets(rng, &mut l, 4 * scale);
        hashes(rng, &mut l, 4 * scale);
        streams(rng, &mut l, 2 * scale);
        // The empty key, and an empty value.
        l.push(args!["SET", "", value(rng, 10)]);
        l.push(args!["SET", "empty-value", ""]);
    }
    l.push(args!["SELECT", 0]);
    l.push(args![
        "FUNCTION",
        "LOAD",
        "#!lua name=livelib\nredis.register_function('live_echo', function(keys, args) return args[1] end)"
    ]);
    l.flush();
}

#[test]
fn live_rdb_dump_matches_server() {
    let Some(server_bin) = require_tool("redis-server") else {
        return;
    };
    let seed = seed_from_env();
    let _guard = SeedGuard {
        test: "live_rdb_dump_matches_server",
        seed,
    };
    eprintln!("live_rdb seed = {seed}");
    let tmp = TempDir::new("live-rdb");
    let server = Server::start(&server_bin, tmp.path(), &[]);
    let mut c = server.client();
    let mut rng = Rng::new(seed);
    populate(&mut c, &mut rng);

    let expected = read_keyspace(&mut c, true);
    let kinds: std::collections::BTreeSet<String> = expected
        .iter()
        .map(|r| format!("{}/{}", r.kind, r.encoding.as_deref().unwrap_or("?")))
        .collect();
    eprintln!("{} keys; type/encoding seen: {kinds:?}", expected.len());
    for must in [
        "string/int",
        "string/embstr",
        "string/raw",
        "list/quicklist",
        "set/intset",
        "set/hashtable",
        "zset/listpack",
        "zset/skiplist",
        "hash/listpack",
        "hash/hashtable",
        "stream/stream",
    ] {
        assert!(
            kinds.contains(must),
            "seed {seed}: the dataset has no {must} (coverage of the generator)"
        );
    }

    // The same dataset saved twice: with LZF (strings and compressed quicklist nodes), and without.
    for (file, compression) in [("compressed.rdb", "yes"), ("plain.rdb", "no")] {
        c.ok(args!["CONFIG", "SET", "rdbcompression", compression]);
        c.ok(args!["SAVE"]);
        // dbfilename is a protected config: keep each save under its own name by copying.
        let path = tmp.join(file);
        std::fs::copy(tmp.join("dump.rdb"), &path).expect("copy dump.rdb");
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        eprintln!("{file}: {size} bytes");

        let out = run_rdbkit([
            std::ffi::OsStr::new("dump"),
            "--format".as_ref(),
            "jsonl".as_ref(),
            path.as_os_str(),
        ]);
        assert!(
            out.status.success(),
            "seed {seed}: `rdbkit dump --format jsonl {}` failed ({}):\n{}",
            path.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let got = parse_dump(&out.stdout).unwrap_or_else(|e| panic!("seed {seed}: {file}: {e}"));
        assert_same_keyspace(
            &format!("seed {seed}: {file} (rdbcompression {compression})"),
            &expected,
            &got,
            true,
        );

        let out = run_rdbkit([std::ffi::OsStr::new("check"), path.as_os_str()]);
        assert!(
            out.status.success(),
            "seed {seed}: `rdbkit check {}` exited {}:\nstdout:\n{}\nstderr:\n{}",
            path.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // rdbchecksum is immutable: a second server loads the file and saves it without a checksum
    // (the trailer is 8 zero bytes, which `check` must accept). Its own keyspace is the truth.
    let tmp2 = TempDir::new("live-rdb-nochecksum");
    std::fs::copy(tmp.join("compressed.rdb"), tmp2.join("dump.rdb")).expect("copy rdb");
    let server2 = Server::start(&server_bin, tmp2.path(), &["--rdbchecksum", "no"]);
    let mut c2 = server2.client();
    let expected2 = read_keyspace(&mut c2, true);
    c2.ok(args!["SAVE"]);
    let path = tmp2.join("dump.rdb");
    let bytes = std::fs::read(&path).expect("read nochecksum rdb");
    assert!(
        bytes.ends_with(&[0u8; 8]),
        "rdbchecksum no: the trailer is 8 zero bytes"
    );
    let out = run_rdbkit([
        std::ffi::OsStr::new("dump"),
        "--format".as_ref(),
        "jsonl".as_ref(),
        path.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "seed {seed}: `rdbkit dump --format jsonl {}` (no checksum) failed ({}):\n{}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let got = parse_dump(&out.stdout).unwrap_or_else(|e| panic!("seed {seed}: nochecksum: {e}"));
    assert_same_keyspace(
        &format!("seed {seed}: saved with rdbchecksum no"),
        &expected2,
        &got,
        true,
    );
    let out = run_rdbkit([std::ffi::OsStr::new("check"), path.as_os_str()]);
    assert!(
        out.status.success(),
        "seed {seed}: `rdbkit check {}` (rdbchecksum no) exited {}:\nstdout:\n{}\nstderr:\n{}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    drop(c2);
    server2.shutdown();

    // Saving changed nothing on the server.
    let after = read_keyspace(&mut c, true);
    assert_same_keyspace(
        &format!("seed {seed}: server after SAVE"),
        &expected,
        &after,
        true,
    );
    drop(c);
    server.shutdown();
}

/// The bundled sample (testdata/make-fixtures.sh) against its ground truth, no server needed.
#[test]
fn sample_rdb_matches_its_ground_truth() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rdb");
    let rdb = root.join("sample.rdb");
    let expected_text = std::fs::read(root.join("sample.expected.jsonl"))
        .expect("testdata/rdb/sample.expected.jsonl");
    let expected = parse_dump(&expected_text).expect("sample.expected.jsonl parses");
    let out = run_rdbkit([
        std::ffi::OsStr::new("dump"),
        "--format".as_ref(),
        "jsonl".as_ref(),
        rdb.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "`rdbkit dump --format jsonl {}` failed ({}):\n{}",
        rdb.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let got = parse_dump(&out.stdout).unwrap_or_else(|e| panic!("sample.rdb: {e}"));
    assert_same_keyspace("testdata/rdb/sample.rdb", &expected, &got, true);
    let out = run_rdbkit([std::ffi::OsStr::new("check"), rdb.as_os_str()]);
    assert!(
        out.status.success(),
        "`rdbkit check {}` exited {}:\n{}{}",
        rdb.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
