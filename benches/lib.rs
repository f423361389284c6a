//! Benchmarks live in `benches/benches/*.rs` (run with `cargo bench -p rdbkit-benches`); this
//! crate hosts them and builds their inputs in-process with the decoder's own encoders, so the
//! benchmarks need no files: deterministic RDB files of three kinds (many small keys; a mix of
//! types in their compact encodings, with expiries and streams; a few huge values, half
//! compressible) and an AOF-style RESP buffer.

use rdbkit_rdb::internals::entry::Entry;
use rdbkit_rdb::internals::length::encode_len;
use rdbkit_rdb::internals::stream::{encode_node, StreamId};
use rdbkit_rdb::internals::{crc64, intset, listpack};

/// A small deterministic generator (xorshift64*), so inputs are the same on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

/// JSON-lines text that LZF compresses to roughly half, like an application's event log.
pub fn json_lines(rng: &mut Rng, n: usize) -> Vec<u8> {
    const EVENTS: [&str; 6] = ["login", "logout", "purchase", "view", "click", "search"];
    let mut out = Vec::with_capacity(n + 200);
    let mut i = 0u64;
    while out.len() < n {
        i += 1;
        let x = rng.next_u64();
        out.extend_from_slice(
            format!(
                "{{\"ts\":{},\"user\":\"u{:07}\",\"event\":\"{}\",\"amount\":{}.{:02},\"session\":\"{:016x}\"}}\n",
                1_700_000_000_000u64 + i * 37,
                x % 9_999_991,
                EVENTS[(x % 6) as usize],
                x % 10_000,
                x % 100,
                x >> 7
            )
            .as_bytes(),
        );
    }
    out.truncate(n);
    out
}

pub use rdbkit_rdb::internals::string::encode as encode_string;

/// RDB type bytes used below (Redis 7.0, RDB version 10).
pub mod ty {
    pub const STRING: u8 = 0;
    pub const SET: u8 = 2;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const SET_INTSET: u8 = 11;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
}

/// Writes an RDB file: header, aux fields, SELECTDB/RESIZEDB, keys, EOF and CRC-64.
pub struct RdbBuilder {
    pub buf: Vec<u8>,
    pub keys: u64,
}

impl RdbBuilder {
    pub fn new(version: u32) -> Self {
        let mut buf = format!("REDIS{version:04}").into_bytes();
        for (k, v) in [
            ("redis-ver", "7.0.15"),
            ("redis-bits", "64"),
            ("aof-base", "0"),
        ] {
            buf.push(0xfa);
            encode_string(k.as_bytes(), false, &mut buf);
            encode_string(v.as_bytes(), false, &mut buf);
        }
        RdbBuilder { buf, keys: 0 }
    }

    pub fn select_db(&mut self, db: u64, size: u64, expires: u64) {
        self.buf.push(0xfe);
        encode_len(db, &mut self.buf);
        self.buf.push(0xfb);
        encode_len(size, &mut self.buf);
        encode_len(expires, &mut self.buf);
    }

    /// A key with its already-encoded value.
    pub fn key(&mut self, ty: u8, key: &[u8], expire_ms: Option<i64>, value: &[u8]) {
        if let Some(t) = expire_ms {
            self.buf.push(0xfc);
            self.buf.extend_from_slice(&t.to_le_bytes());
        }
        self.buf.push(ty);
        encode_string(key, false, &mut self.buf);
        self.buf.extend_from_slice(value);
        self.keys += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xff);
        let crc = crc64::crc64(&self.buf);
        self.buf.extend_from_slice(&crc.to_le_bytes());
        self.buf
    }
}

/// One blob (listpack/intset/...) saved as an RDB string.
pub fn blob(b: &[u8], compress: bool) -> Vec<u8> {
    let mut v = Vec::with_capacity(b.len() + 10);
    encode_string(b, compress, &mut v);
    v
}

/// `DEBUG POPULATE n key 20`-like: `key:N` → a 20-byte `value:N` string.
pub fn small_keys_rdb(n: u64) -> Vec<u8> {
    let mut b = RdbBuilder::new(10);
    b.select_db(0, n, 0);
    let mut v = Vec::new();
    for i in 0..n {
        v.clear();
        let s = format!("value:{i:014}");
        encode_string(s.as_bytes(), true, &mut v);
        b.key(ty::STRING, format!("key:{i}").as_bytes(), None, &v);
    }
    b.finish()
}

/// A realistic mix of `n` keys in 7.0's compact encodings: integers, short strings,
/// compressible JSON strings (20% with a TTL), listpack hashes and zsets, single-node quicklists,
/// intsets, hash-table sets, plus a few big hashes/zsets and streams with a consumer group.
pub fn mixed_rdb(n: u64) -> Vec<u8> {
    let mut rng = Rng::new(7);
    let mut b = RdbBuilder::new(10);
    b.select_db(0, n, n / 20);
    let mut v = Vec::new();
    for i in 0..n {
        v.clear();
        let key = format!(
            "{}:{i}",
            ["int", "str", "json", "hash", "zset", "list", "intset", "set"][(i % 8) as usize]
        );
        let mut expire = None;
        let t = match i % 8 {
            0 => {
                encode_string((rng.below(1 << 30)).to_string().as_bytes(), true, &mut v);
                ty::STRING
            }
            1 => {
                encode_string(
                    format!("value-{i}-{}", rng.below(1000)).as_bytes(),
                    true,
                    &mut v,
                );
                ty::STRING
            }
            2 => {
                let s = format!(
                    "{{\"id\":{i},\"user\":\"user{i}\",\"email\":\"user{i}@example.com\",\"score\":{},\"tags\":[\"alpha\",\"beta\"],\"bio\":\"{}\"}}",
                    rng.below(10_000),
                    "lorem ipsum dolor sit amet ".repeat(2 + (i % 9) as usize)
                );
                encode_string(s.as_bytes(), true, &mut v);
                if i % 5 == 0 {
                    expire = Some(1_900_000_000_000 + i as i64);
                }
                ty::STRING
            }
            3 => {
                let items: Vec<Vec<u8>> = (0..4 + i % 12)
                    .flat_map(|f| {
                        [
                            format!("field{f}").into_bytes(),
                            format!("v{}", rng.below(100_000)).into_bytes(),
                        ]
                    })
                    .collect();
                let refs: Vec<&[u8]> = items.iter().map(|x| x.as_slice()).collect();
                v.extend_from_slice(&blob(&listpack::encode(&refs), true));
                ty::HASH_LISTPACK
            }
            4 => {
                let mut items: Vec<Entry> = Vec::new();
                let names: Vec<Vec<u8>> = (0..4 + i % 12)
                    .map(|m| format!("member{m}").into_bytes())
                    .collect();
                for (s, m) in names.iter().enumerate() {
                    items.push(Entry::Bytes(m));
                    items.push(Entry::Int(s as i64 * 10 + 1));
                }
                v.extend_from_slice(&blob(&listpack::encode_entries(&items), true));
                ty::ZSET_LISTPACK
            }
            5 => {
                let items: Vec<Vec<u8>> = (0..5 + i % 20)
                    .map(|e| format!("item-{}", i + e).into_bytes())
                    .collect();
                let refs: Vec<&[u8]> = items.iter().map(|x| x.as_slice()).collect();
                encode_len(1, &mut v);
                encode_len(2, &mut v); // PACKED
                v.extend_from_slice(&blob(&listpack::encode(&refs), true));
                ty::LIST_QUICKLIST_2
            }
            6 => {
                let mut ints: Vec<i64> =
                    (0..5 + i % 20).map(|f| (i * 100 + f * 37) as i64).collect();
                ints.sort_unstable();
                ints.dedup();
                v.extend_from_slice(&blob(&intset::encode(&ints), false));
                ty::SET_INTSET
            }
            _ => {
                let m = 4 + i % 8;
                encode_len(m, &mut v);
                for f in 0..m {
                    encode_string(format!("m{f}:{i}").as_bytes(), true, &mut v);
                }
                ty::SET
            }
        };
        b.key(t, key.as_bytes(), expire, &v);
    }
    // A few big collections in their hash-table encodings.
    for s in 0..4u64 {
        v.clear();
        let m = 20_000u64;
        encode_len(m, &mut v);
        for f in 0..m {
            encode_string(format!("f{f}").as_bytes(), true, &mut v);
            encode_string(format!("value-{}", f * 7 + s).as_bytes(), true, &mut v);
        }
        b.key(ty::HASH, format!("bighash:{s}").as_bytes(), None, &v);
        v.clear();
        encode_len(m, &mut v);
        for f in 0..m {
            encode_string(format!("m{f}").as_bytes(), true, &mut v);
            v.extend_from_slice(&(f as f64 * 1.5).to_le_bytes());
        }
        b.key(ty::ZSET_2, format!("bigzset:{s}").as_bytes(), None, &v);
    }
    for s in 0..2u64 {
        let value = stream_value(&mut rng, 200, 100);
        b.key(
            ty::STREAM_LISTPACKS_2,
            format!("stream:{s}").as_bytes(),
            None,
            &value,
        );
    }
    b.finish()
}

/// A type-19 stream value: `nodes` listpack nodes of `per_node` entries, then the metadata
/// and one consumer group with an empty PEL.
pub fn stream_value(rng: &mut Rng, nodes: u64, per_node: u64) -> Vec<u8> {
    let mut v = Vec::new();
    encode_len(nodes, &mut v);
    let mut ms = 1_700_000_000_000u64;
    let mut first = None;
    let mut last = StreamId { ms, seq: 0 };
    for _ in 0..nodes {
        let mut entries = Vec::new();
        for _ in 0..per_node {
            ms += 1 + rng.below(3);
            let id = StreamId { ms, seq: 0 };
            first.get_or_insert(id);
            last = id;
            entries.push((
                id,
                false,
                vec![
                    (
                        b"sensor".to_vec(),
                        format!("s{}", rng.below(50)).into_bytes(),
                    ),
                    (b"temp".to_vec(), rng.below(40).to_string().into_bytes()),
                    (b"ok".to_vec(), b"yes".to_vec()),
                ],
            ));
        }
        let (key, lp) = encode_node(entries[0].0, &entries);
        encode_string(&key, false, &mut v);
        encode_string(&lp, true, &mut v);
    }
    let first = first.unwrap_or(last);
    encode_len(nodes * per_node, &mut v);
    for id in [last, first, StreamId { ms: 0, seq: 0 }] {
        encode_len(id.ms, &mut v);
        encode_len(id.seq, &mut v);
    }
    encode_len(nodes * per_node, &mut v); // entries added
    encode_len(1, &mut v); // one group
    encode_string(b"g1", false, &mut v);
    encode_len(last.ms, &mut v);
    encode_len(last.seq, &mut v);
    encode_len(nodes * per_node, &mut v); // entries read
    encode_len(0, &mut v); // PEL
    encode_len(0, &mut v); // consumers
    v
}

/// `n` huge values of 1-2 MiB, half JSON lines (LZF-compressed), half random (stored raw).
pub fn big_values_rdb(n: u64) -> Vec<u8> {
    let mut rng = Rng::new(11);
    let mut b = RdbBuilder::new(10);
    b.select_db(0, n, 0);
    let mut v = Vec::new();
    for i in 0..n {
        v.clear();
        let size = (1 << 20) + rng.below(1 << 20) as usize;
        let s = if i % 2 == 0 {
            json_lines(&mut rng, size)
        } else {
            rng.bytes(size)
        };
        encode_string(&s, true, &mut v);
        b.key(ty::STRING, format!("big:{i}").as_bytes(), None, &v);
    }
    b.finish()
}

/// An AOF body: `n` commands as a server writes them (SET/HSET/LPUSH/SADD/ZADD and
/// MULTI/EXEC blocks), in RESP.
pub fn resp_commands(n: u64) -> Vec<u8> {
    let mut rng = Rng::new(3);
    let mut out = Vec::new();
    let cmd = |out: &mut Vec<u8>, args: &[&[u8]]| {
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
    };
    cmd(&mut out, &[b"SELECT", b"0"]);
    let mut i = 0;
    while i < n {
        let k = format!("key:{:012}", rng.below(1_000_000));
        let val = rng
            .bytes(32)
            .iter()
            .map(|b| b'a' + b % 26)
            .collect::<Vec<u8>>();
        match i % 6 {
            0 => cmd(&mut out, &[b"SET", k.as_bytes(), &val]),
            1 => cmd(&mut out, &[b"HSET", k.as_bytes(), b"field", &val]),
            2 => cmd(&mut out, &[b"LPUSH", k.as_bytes(), &val]),
            3 => cmd(&mut out, &[b"SADD", k.as_bytes(), &val]),
            4 => cmd(&mut out, &[b"ZADD", k.as_bytes(), b"1.5", &val]),
            _ => {
                cmd(&mut out, &[b"MULTI"]);
                cmd(&mut out, &[b"SET", k.as_bytes(), &val]);
                cmd(&mut out, &[b"INCR", b"counter"]);
                cmd(&mut out, &[b"EXEC"]);
                i += 3;
            }
        }
        i += 1;
    }
    out
}

/// Thread CPU clocks for the floor examples (`examples/floor.rs`, `examples/floor_aof.rs`):
/// the time a primitive took on its thread, whatever the machine's load.
pub mod clock {
    /// This thread's CPU time in ns (`CLOCK_THREAD_CPUTIME_ID`: time the thread ran, whatever
    /// the load).
    pub fn cpu_ns() -> u64 {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid timespec the call writes.
        let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
        assert_eq!(r, 0, "clock_gettime");
        t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
    }

    /// The best (least) CPU time of `reps` runs of `f`, in seconds.
    pub fn best(reps: usize, mut f: impl FnMut()) -> f64 {
        (0..reps)
            .map(|_| {
                let t = cpu_ns();
                f();
                cpu_ns() - t
            })
            .min()
            .unwrap_or(0) as f64
            / 1e9
    }
}
