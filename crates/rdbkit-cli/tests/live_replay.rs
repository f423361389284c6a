//! Live tests of the AOF replay (issue 18), the oracle being the server itself, on each of
//! Redis 6.2, Debian's Redis 7.0 and Valkey 8.1 (`ServerKind`):
//! 1. coverage: every command the server's own `COMMAND` table flags `write` (subcommands
//!    too) is in rdbkit's replay table (`rdbkit replay-commands --plain`);
//! 2. randomized workloads: a seeded generator sends thousands of write commands of every
//!    kind (MULTI/EXEC, EVAL scripts, functions, expiries, consumer groups, big values,
//!    deletions, RESTORE, SORT STORE ...) to a server with `appendonly yes` (RDB preamble on
//!    and off, with a BGREWRITEAOF in the middle); then `rdbkit diff` of the server's own
//!    `SAVE` against rdbkit's replay of the AOF must find them equal, key by key (values,
//!    TTLs, stream metadata, groups, PELs, functions).
//!
//! Rerun a failure with `RDBKIT_LIVE_SEED=<seed> cargo test -p rdbkit-cli --test live_replay`.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

fn version_at_least(c: &mut Client, major: u32, minor: u32) -> bool {
    let info = c.ok(args!["INFO", "server"]).text();
    let v = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("0.0")
        .trim()
        .to_string();
    let mut it = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    let (ma, mi) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (ma, mi) >= (major, minor)
}

#[test]
fn every_write_command_of_the_server_is_in_the_replay_table() {
    let out = run_rdbkit(["replay-commands", "--plain"]);
    assert!(out.status.success(), "replay-commands failed");
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut known: BTreeSet<String> = BTreeSet::new();
    for line in listing.lines() {
        let mut f = line.split('\t');
        let name = f.next().unwrap_or_default().to_string();
        let _kind = f.next();
        let subs = f.next().unwrap_or_default();
        known.insert(name.clone());
        for s in subs.split_whitespace() {
            known.insert(format!("{name}|{s}"));
        }
    }
    for kind in ServerKind::ALL {
        let Some(bin) = kind.require() else { continue };
        let dir = TempDir::new(&format!("replay-cov-{}", kind.name()));
        let server = Server::start(&bin, dir.path(), &[]);
        let mut c = server.client();
        let table = c.ok(args!["COMMAND"]);
        let mut missing = Vec::new();
        let mut writes = 0;
        let visit = |e: &Reply, missing: &mut Vec<String>, writes: &mut usize| {
            let a = e.array();
            let name = a[0].text().to_ascii_uppercase();
            let flags: Vec<String> = a[2].array().iter().map(|f| f.text()).collect();
            if flags.iter().any(|f| f == "write") {
                *writes += 1;
                // A container's subcommand `xgroup|create` is listed as XGROUP|CREATE.
                if !known.contains(&name) {
                    missing.push(name.clone());
                }
            }
        };
        for e in table.array() {
            visit(e, &mut missing, &mut writes);
            // 7.0+: subcommands at index 9.
            if let Some(Reply::Array(Some(subs))) = e.array().get(9) {
                for s in subs {
                    visit(s, &mut missing, &mut writes);
                }
            }
        }
        server.shutdown();
        assert!(
            writes > 50,
            "{}: only {writes} write commands?",
            kind.name()
        );
        assert!(
            missing.is_empty(),
            "{}: write commands the replay table does not list: {missing:?}",
            kind.name()
        );
        eprintln!(
            "{}: all {writes} write commands are in the replay table",
            kind.name()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The randomized workload

struct Gen<'a> {
    rng: &'a mut Rng,
    v62: bool,
    v70: bool,
}

impl Gen<'_> {
    fn key(&mut self, p: &str) -> String {
        format!("{p}:{}", self.rng.below(8))
    }
    fn val(&mut self) -> Vec<u8> {
        match self.rng.below(10) {
            0 => self.rng.below(100_000).to_string().into_bytes(),
            1 => {
                let n = self.rng.range(70, 400) as usize;
                self.rng.bytes(n)
            }
            2 => format!("-{}", self.rng.below(1000)).into_bytes(),
            _ => {
                let n = self.rng.range(1, 12) as usize;
                self.rng.token(n).into_bytes()
            }
        }
    }
    fn member(&mut self) -> Vec<u8> {
        if self.rng.chance(30) {
            self.rng.below(300).to_string().into_bytes()
        } else {
            format!("m{}", self.rng.below(200)).into_bytes()
        }
    }
    fn score(&mut self) -> String {
        match self.rng.below(8) {
            0 => "-inf".into(),
            1 => "+inf".into(),
            2 => format!("{}", self.rng.below(100)),
            _ => format!("{:.3}", self.rng.unit() * 200.0 - 100.0),
        }
    }
    fn many(&mut self, lo: u64, hi: u64, f: fn(&mut Self) -> Vec<u8>) -> Vec<Vec<u8>> {
        let n = if self.rng.chance(3) {
            self.rng.range(130, 300)
        } else {
            self.rng.range(lo, hi)
        };
        (0..n).map(|_| f(self)).collect()
    }
    fn ttl_far(&mut self) -> String {
        (4_102_444_800_000u64 + self.rng.below(1_000_000_000)).to_string()
    }

    /// One random write command.
    fn command(&mut self) -> Vec<Vec<u8>> {
        let r = self.rng.below(100);
        let mut c: Vec<Vec<u8>> = match r {
            0..=2 => {
                let k = self.key("s");
                let mut a = args!["SET", k, self.val()];
                match self.rng.below(7) {
                    0 => a.extend(args!["EX", 100_000 + self.rng.below(1000)]),
                    1 => a.extend(args!["PXAT", self.ttl_far()]),
                    2 => a.push(b"KEEPTTL".to_vec()),
                    3 => a.push(b"NX".to_vec()),
                    4 if self.v62 => a.extend(args!["XX", "GET"]),
                    _ => {}
                }
                a
            }
            3 => args!["SETNX", self.key("s"), self.val()],
            4 => args!["SETEX", self.key("s"), 100_000 + self.rng.below(100), self.val()],
            5 => match self.rng.below(4) {
                0 => args!["GETSET", self.key("s"), self.val()],
                1 if self.v62 => args!["GETDEL", self.key("s")],
                2 if self.v62 => args!["GETEX", self.key("s"), "PERSIST"],
                _ => args!["PSETEX", self.key("s"), 100_000_000, self.val()],
            },
            6 => {
                let mut a = args![if self.rng.chance(50) { "MSET" } else { "MSETNX" }];
                for _ in 0..self.rng.range(1, 4) {
                    a.push(self.key("s").into_bytes());
                    a.push(self.val());
                }
                a
            }
            7 => args!["APPEND", self.key("s"), self.val()],
            8 => args!["SETRANGE", self.key("s"), self.rng.below(40), self.val()],
            9 => match self.rng.below(5) {
                0 => args!["INCR", self.key("n")],
                1 => args!["DECRBY", self.key("n"), self.rng.below(50)],
                2 => args!["INCRBY", self.key("n"), self.rng.below(50)],
                3 => args!["INCRBYFLOAT", self.key("f"), format!("{:.4}", self.rng.unit() * 10.0)],
                _ => args!["DECR", self.key("n")],
            },
            10 => args!["SETBIT", self.key("b"), self.rng.below(2000), self.rng.below(2)],
            11 => match self.rng.below(3) {
                0 => args!["BITOP", *self.rng.pick(&["AND", "OR", "XOR"]), self.key("b"), self.key("b"), self.key("b")],
                1 => args!["BITOP", "NOT", self.key("b"), self.key("b")],
                _ => args![
                    "BITFIELD", self.key("b"), "OVERFLOW", *self.rng.pick(&["WRAP", "SAT", "FAIL"]),
                    "INCRBY", *self.rng.pick(&["i5", "u8", "i16", "u63", "i64"]), format!("#{}", self.rng.below(10)),
                    self.rng.below(300) as i64 - 150, "SET", "u4", self.rng.below(100), self.rng.below(20)
                ],
            },
            12..=15 => {
                let cmd = *self.rng.pick(&["LPUSH", "RPUSH", "LPUSH", "RPUSHX", "LPUSHX"]);
                let mut a = args![cmd, self.key("l")];
                a.extend(self.many(1, 5, Self::val));
                a.push(format!("pv{}", self.rng.below(4)).into_bytes());
                a
            }
            16..=17 | 67..=71 => match self.rng.below(9) {
                0 => args!["LPOP", self.key("l")],
                1 if self.v62 => args!["RPOP", self.key("l"), self.rng.below(4)],
                2 => args!["LREM", self.key("l"), self.rng.below(5) as i64 - 2, self.val()],
                3 => args!["LSET", self.key("l"), self.rng.below(10) as i64 - 5, self.val()],
                4 => args![
                    "LINSERT",
                    self.key("l"),
                    *self.rng.pick(&["BEFORE", "AFTER"]),
                    format!("pv{}", self.rng.below(4)), self.val()],
                5 => args!["LTRIM", self.key("l"), self.rng.below(5), self.rng.below(200) as i64 - 20],
                6 if self.v62 => args!["LMOVE", self.key("l"), self.key("l"), *self.rng.pick(&["LEFT", "RIGHT"]), *self.rng.pick(&["LEFT", "RIGHT"])],
                7 if self.v70 => args!["LMPOP", 2, self.key("l"), self.key("l"), "RIGHT", "COUNT", 2],
                8 => args!["BLPOP", self.key("l"), self.key("l"), "0.01"],
                _ => args!["RPOPLPUSH", self.key("l"), self.key("l")],
            },
            18..=20 => {
                let mut a = args!["SADD", self.key("t")];
                a.extend(self.many(1, 6, Self::member));
                a
            }
            21..=22 => match self.rng.below(6) {
                0 => args!["SREM", self.key("t"), self.member(), self.member()],
                1 => args!["SPOP", self.key("t")],
                2 if self.v62 => args!["SPOP", self.key("t"), self.rng.below(4)],
                3 => args!["SMOVE", self.key("t"), self.key("t"), self.member()],
                _ => args![*self.rng.pick(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]), self.key("t"), self.key("t"), self.key("t")],
            },
            23..=26 => {
                let mut a = args!["ZADD", self.key("z")];
                match self.rng.below(6) {
                    0 => a.push(b"NX".to_vec()),
                    1 => a.push(b"XX".to_vec()),
                    2 if self.v62 => a.push(b"GT".to_vec()),
                    3 if self.v62 => a.push(b"LT".to_vec()),
                    4 => a.push(b"CH".to_vec()),
                    _ => {}
                }
                let n = if self.rng.chance(3) { 150 } else { self.rng.range(1, 5) };
                for _ in 0..n {
                    a.push(self.score().into_bytes());
                    a.push(self.member());
                }
                a
            }
            27..=29 => match self.rng.below(11) {
                0 => args!["ZINCRBY", self.key("z"), format!("{:.2}", self.rng.unit() * 4.0 - 2.0), self.member()],
                1 => args!["ZREM", self.key("z"), self.member(), self.member()],
                2 => args!["ZREMRANGEBYSCORE", self.key("z"), format!("({}", self.rng.below(50)), self.score()],
                3 => args!["ZREMRANGEBYRANK", self.key("z"), self.rng.below(5), self.rng.below(10)],
                4 => {
                    if self.rng.chance(50) {
                        args!["ZREMRANGEBYLEX", self.key("zl"), "[m1", "(m3"]
                    } else {
                        args!["ZADD", self.key("zl"), 0, self.member(), 0, self.member()]
                    }
                }
                5 => args![*self.rng.pick(&["ZPOPMIN", "ZPOPMAX"]), self.key("z"), self.rng.range(1, 4)],
                6 => args![
                    *self.rng.pick(&["ZUNIONSTORE", "ZINTERSTORE"]), self.key("z"), 2, self.key("z"), self.key("t"),
                    "WEIGHTS", format!("{:.1}", self.rng.unit() * 3.0), "2", "AGGREGATE", *self.rng.pick(&["SUM", "MIN", "MAX"])
                ],
                7 if self.v62 => args!["ZDIFFSTORE", self.key("z"), 2, self.key("z"), self.key("z")],
                8 if self.v62 => args!["ZRANGESTORE", self.key("z"), self.key("z"), "(1", "+inf", "BYSCORE", "LIMIT", 1, 5],
                9 => args!["GEOADD", self.key("z"), format!("{:.5}", self.rng.unit() * 360.0 - 180.0), format!("{:.5}", self.rng.unit() * 170.0 - 85.0), self.member()],
                _ => args!["BZPOPMIN", self.key("z"), "0.01"],
            },
            30..=33 => {
                let mut a = args!["HSET", self.key("h")];
                let n = if self.rng.chance(3) { 140 } else { self.rng.range(1, 4) };
                for _ in 0..n {
                    a.push(format!("f{}", self.rng.below(200)).into_bytes());
                    a.push(self.val());
                }
                a
            }
            34..=35 => match self.rng.below(5) {
                0 => args!["HSETNX", self.key("h"), format!("f{}", self.rng.below(200)), self.val()],
                1 => args!["HDEL", self.key("h"), format!("f{}", self.rng.below(200)), format!("f{}", self.rng.below(200))],
                2 => args!["HINCRBY", self.key("hn"), format!("f{}", self.rng.below(5)), self.rng.below(100) as i64 - 50],
                3 => args!["HINCRBYFLOAT", self.key("hn"), format!("g{}", self.rng.below(5)), format!("{:.3}", self.rng.unit())],
                _ => args!["HMSET", self.key("h"), "a", self.val(), "b", self.val()],
            },
            36..=40 | 60..=66 => self.stream_cmd(),
            41..=43 => match self.rng.below(6) {
                0 => args!["EXPIRE", self.any_key(), 100_000 + self.rng.below(1000)],
                1 => args!["PEXPIREAT", self.any_key(), self.ttl_far()],
                2 => args!["PERSIST", self.any_key()],
                3 => args!["EXPIREAT", self.any_key(), 4_102_444_800u64 + self.rng.below(100000)],
                4 => args!["PEXPIRE", self.any_key(), 100_000_000],
                _ => args!["EXPIRE", self.any_key(), 200_000],
            },
            44..=45 => args![*self.rng.pick(&["DEL", "UNLINK"]), self.any_key(), self.any_key()],
            46 => {
                let p = *self.rng.pick(&["s", "l", "t", "z", "h", "x"]);
                args![*self.rng.pick(&["RENAME", "RENAMENX"]), self.key(p), self.key(p)]
            }
            47 => args!["MOVE", self.any_key(), self.rng.below(3)],
            48 if self.v62 => {
                let mut a = args!["COPY", self.any_key(), self.any_key()];
                if self.rng.chance(50) {
                    a.extend(args!["DB", self.rng.below(3)]);
                }
                if self.rng.chance(50) {
                    a.push(b"REPLACE".to_vec());
                }
                a
            }
            49 => {
                let p = *self.rng.pick(&["l", "t", "z"]);
                args![
                "SORT", self.key(p), "BY", *self.rng.pick(&["n:*", "nosort", "hn:*->f1"]),
                "LIMIT", self.rng.below(3), self.rng.range(1, 20), *self.rng.pick(&["ASC", "DESC"]), "STORE", self.key("l")
            ]
            }
            50 => args!["SORT", self.key("t"), "GET", "#", "GET", "s:*", "STORE", self.key("l")],
            51 => args![
                "EVAL",
                "redis.call('SET', KEYS[1], ARGV[1]); redis.call('RPUSH', KEYS[2], ARGV[1]); \
                 if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('HINCRBY', KEYS[3], 'ev', 1) end; return 1",
                3, self.key("s"), self.key("l"), self.key("hn"), self.val()
            ],
            52 if self.v70 => args!["FCALL", "rk_bump", 2, self.key("n"), self.key("z"), self.rng.below(10)],
            53 => {
                // Dump a key of this db and restore it under another name.
                args!["__DUMP_RESTORE__", self.any_key(), self.any_key()]
            }
            56..=58 => {
                let mut a = args!["PFADD", self.key("p")];
                let n = if self.rng.chance(5) { self.rng.range(500, 3000) } else { self.rng.range(1, 20) };
                for _ in 0..n {
                    a.push(format!("e{}", self.rng.below(100_000)).into_bytes());
                }
                a
            }
            59 => match self.rng.below(3) {
                0 => args!["PFMERGE", self.key("p"), self.key("p"), self.key("p")],
                1 => args!["PFCOUNT", self.key("p")],
                _ => args!["PFDEBUG", "TODENSE", self.key("p")],
            },
            72..=74 => {
                let lon = format!("{:.4}", self.rng.unit() * 20.0);
                let lat = format!("{:.4}", self.rng.unit() * 20.0);
                let mut a = args!["GEOADD", "geo", lon, lat, self.member()];
                if self.rng.chance(50) {
                    let (lon, lat) = (self.rng.unit() * 20.0, self.rng.unit() * 20.0);
                    a.extend(args![format!("{lon:.4}"), format!("{lat:.4}"), self.member()]);
                }
                a
            }
            75 if self.v62 => {
                let mut a = args!["GEOSEARCHSTORE", self.key("gz"), "geo"];
                if self.rng.chance(50) {
                    a.extend(args!["FROMLONLAT", format!("{:.3}", self.rng.unit() * 20.0), format!("{:.3}", self.rng.unit() * 20.0)]);
                } else {
                    a.extend(args!["FROMMEMBER", self.member()]);
                }
                if self.rng.chance(50) {
                    a.extend(args!["BYRADIUS", self.rng.range(100, 1500), "km"]);
                } else {
                    a.extend(args!["BYBOX", self.rng.range(100, 2000), self.rng.range(100, 2000), "km"]);
                }
                if self.rng.chance(50) {
                    a.extend(args![*self.rng.pick(&["ASC", "DESC"]), "COUNT", self.rng.range(1, 10)]);
                }
                if self.rng.chance(50) {
                    a.push(b"STOREDIST".to_vec());
                }
                a
            }
            76 => args![
                "GEORADIUS", "geo", format!("{:.3}", self.rng.unit() * 20.0), format!("{:.3}", self.rng.unit() * 20.0),
                self.rng.range(100, 1500), "km", "COUNT", self.rng.range(1, 10), *self.rng.pick(&["STORE", "STOREDIST"]), self.key("gz")
            ],
            54 if self.rng.chance(10) => args!["FLUSHDB"],
            55 if self.rng.chance(20) => args!["SWAPDB", 0, self.rng.range(1, 3)],
            _ => args!["SET", self.key("s"), self.val()],
        };
        if c.is_empty() {
            c = args!["PING"];
        }
        c
    }

    fn any_key(&mut self) -> String {
        let p = *self
            .rng
            .pick(&["s", "n", "f", "b", "l", "t", "z", "h", "hn", "x"]);
        self.key(p)
    }

    fn stream_cmd(&mut self) -> Vec<Vec<u8>> {
        let k = format!("x:{}", self.rng.below(2));
        let g = format!("g{}", self.rng.below(2));
        let cons = format!("c{}", self.rng.below(3));
        match self.rng.below(12) {
            0..=3 => {
                let mut a = args!["XADD", k];
                if self.rng.chance(20) {
                    a.extend(args![
                        "MAXLEN",
                        *self.rng.pick(&["~", "="]),
                        self.rng.range(5, 200)
                    ]);
                }
                if self.v62 && self.rng.chance(10) {
                    a.push(b"NOMKSTREAM".to_vec());
                }
                a.push(b"*".to_vec());
                for _ in 0..self.rng.range(1, 4) {
                    a.push(format!("f{}", self.rng.below(5)).into_bytes());
                    a.push(self.val());
                }
                a
            }
            4 => args!["XTRIM", k, "MAXLEN", self.rng.range(3, 100)],
            5 => args!["XDEL", k, format!("{}-0", self.rng.below(10)), "0-1"],
            6 => args![
                "XGROUP",
                "CREATE",
                k,
                g,
                *self.rng.pick(&["$", "0"]),
                "MKSTREAM"
            ],
            7 => args![
                "XREADGROUP",
                "GROUP",
                g,
                cons,
                "COUNT",
                self.rng.range(1, 5),
                "STREAMS",
                k,
                ">"
            ],
            8 => args![
                "XREADGROUP",
                "GROUP",
                g,
                cons,
                "COUNT",
                2,
                "NOACK",
                "STREAMS",
                k,
                ">"
            ],
            9 => args!["__XACK__", k, g],
            10 => match self.rng.below(4) {
                0 => args!["XGROUP", "SETID", k, g, "$"],
                1 if self.v62 => args!["XGROUP", "CREATECONSUMER", k, g, cons],
                2 => args!["XGROUP", "DELCONSUMER", k, g, cons],
                _ => args!["XGROUP", "DESTROY", k, g],
            },
            _ => {
                if self.v62 {
                    args!["XAUTOCLAIM", k, g, cons, 0, "0", "COUNT", 3]
                } else {
                    args!["__XCLAIM__", k, g, cons]
                }
            }
        }
    }
}

/// Sends one generated command, expanding the pseudo-commands that need a reply first.
fn send(c: &mut Client, cmd: Vec<Vec<u8>>) {
    match cmd[0].as_slice() {
        b"__DUMP_RESTORE__" => {
            let d = c.cmd(vec![b"DUMP".to_vec(), cmd[1].clone()]);
            if let Reply::Bulk(Some(p)) = d {
                c.cmd(args!["RESTORE", cmd[2].clone(), 0, p, "REPLACE"]);
            }
        }
        b"__XACK__" | b"__XCLAIM__" => {
            let p = c.cmd(args![
                "XPENDING",
                cmd[1].clone(),
                cmd[2].clone(),
                "-",
                "+",
                5
            ]);
            if let Reply::Array(Some(items)) = p {
                for it in items.iter().take(2) {
                    let id = it.array()[0].bytes();
                    if cmd[0] == b"__XACK__" {
                        c.cmd(args!["XACK", cmd[1].clone(), cmd[2].clone(), id]);
                    } else {
                        c.cmd(args![
                            "XCLAIM",
                            cmd[1].clone(),
                            cmd[2].clone(),
                            cmd[3].clone(),
                            0,
                            id
                        ]);
                    }
                }
            }
        }
        _ => {
            c.cmd(cmd);
        }
    }
}

fn wait_rewrite(c: &mut Client) {
    let t = Instant::now();
    loop {
        let info = c.ok(args!["INFO", "persistence"]).text();
        let busy = info.lines().any(|l| {
            l.trim() == "aof_rewrite_in_progress:1" || l.trim() == "aof_rewrite_scheduled:1"
        });
        if !busy {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "BGREWRITEAOF did not finish"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn workload(kind: ServerKind, bin: &Path, preamble: bool, seed: u64, n: usize) {
    let dir = TempDir::new(&format!("replay-{}-{preamble}", kind.name()));
    let server = Server::start(
        bin,
        dir.path(),
        &[
            "--appendonly",
            "yes",
            "--aof-use-rdb-preamble",
            if preamble { "yes" } else { "no" },
            "--appendfsync",
            "always",
            "--hz",
            "1",
        ],
    );
    let mut c = server.client();
    let v62 = version_at_least(&mut c, 6, 2);
    let v70 = version_at_least(&mut c, 7, 0);
    if v70 {
        c.ok(args![
            "FUNCTION",
            "LOAD",
            "#!lua name=rklib\nredis.register_function('rk_bump', function(keys, args) \
             redis.call('INCRBY', keys[1], args[1]); redis.call('ZINCRBY', keys[2], args[1], 'fn'); \
             return 1 end)"
        ]);
    }
    let mut rng = Rng::new(seed);
    let mut g = Gen {
        rng: &mut rng,
        v62,
        v70,
    };
    for i in 0..n {
        if i == n / 2 {
            c.ok(args!["BGREWRITEAOF"]);
            wait_rewrite(&mut c);
        }
        if g.rng.chance(3) {
            c.ok(args!["SELECT", g.rng.below(3)]);
        }
        if g.rng.chance(4) {
            c.ok(args!["MULTI"]);
            for _ in 0..g.rng.range(2, 6) {
                let cmd = g.command();
                if cmd[0].starts_with(b"__") {
                    continue;
                }
                c.cmd(cmd);
            }
            c.cmd(args!["EXEC"]);
        } else {
            let cmd = g.command();
            send(&mut c, cmd);
        }
    }
    // The generator draws some commands rarely (ZINCRBY ~0.3 % of steps; an XCLAIM needs a
    // pending entry): some seeds draw none after the rewrite (seed 1796657229315314199 on 6.2
    // drew no ZINCRBY, seed 1796668356720289206 no XCLAIM). One of each on keys of their own
    // keeps the check below meaningful for every seed; the random workload stays as drawn.
    c.ok(args!["ZINCRBY", "rk:tail:z", "1.5", "m"]);
    c.ok(args!["PFADD", "rk:tail:h", "a", "b"]);
    c.ok(args!["SET", "rk:tail:s", "abc"]);
    c.ok(args!["SETRANGE", "rk:tail:s", "1", "XY"]);
    if let Reply::Bulk(Some(p)) = c.ok(args!["DUMP", "rk:tail:s"]) {
        c.ok(args!["RESTORE", "rk:tail:r", 0, p, "REPLACE"]);
    }
    let id = c.ok(args!["XADD", "rk:tail:x", "*", "f", "v"]).bytes();
    c.ok(args!["XGROUP", "CREATE", "rk:tail:x", "g", "0"]);
    c.ok(args![
        "XREADGROUP",
        "GROUP",
        "g",
        "c1",
        "COUNT",
        1,
        "STREAMS",
        "rk:tail:x",
        ">"
    ]);
    c.ok(args!["XCLAIM", "rk:tail:x", "g", "c2", 0, id]);
    c.ok(args!["MULTI"]);
    c.cmd(args!["INCR", "rk:tail:n"]);
    c.ok(args!["EXEC"]);
    wait_rewrite(&mut c);
    let keys_live = c.ok(args!["DBSIZE"]).int();
    server.shutdown();
    // The oracle: the same server started on the AOF it wrote, then its own SAVE. (The live
    // server's memory is not quite it: Redis 6.2 computes the PEXPIREAT it writes for an
    // EXPIRE/SETEX with a second mstime(), often 1 ms later than the TTL it set in memory,
    // and a server loading an AOF gets the AOF's version.)
    let aof = if v70 {
        dir.join("appendonlydir")
    } else {
        dir.join("appendonly.aof")
    };
    let server = Server::start(
        bin,
        dir.path(),
        &[
            "--appendonly",
            "yes",
            "--aof-use-rdb-preamble",
            if preamble { "yes" } else { "no" },
            "--dbfilename",
            "reload.rdb",
            "--hz",
            "1",
        ],
    );
    let mut c = server.client();
    c.ok(args!["SAVE"]);
    let keys = c.ok(args!["DBSIZE"]).int();
    server.shutdown();
    let rdb = dir.join("reload.rdb");
    // Where servers differ in how they load an AOF, the replay follows 7.2+/Valkey unless told
    // the loader is 7.0 (XCLAIM of a deleted message: 7.0 does not create the consumer).
    let mut cmd = std::process::Command::new(rdbkit_bin());
    cmd.args([
        "diff".as_ref(),
        "--max-changes".as_ref(),
        "5".as_ref(),
        rdb.as_os_str(),
        aof.as_os_str(),
    ]);
    if matches!(kind, ServerKind::Redis70) {
        cmd.env("RDBKIT_AOF_SERVER", "redis-7.0");
    } else {
        cmd.env_remove("RDBKIT_AOF_SERVER");
    }
    let out = run_with_timeout(&mut cmd, None, Duration::from_secs(300));
    let _ = keys_live;
    // The AOF tail must hold the commands this test is about (not only a rewrite's SETs).
    let mut text = Vec::new();
    let files: Vec<std::path::PathBuf> = if aof.is_dir() {
        std::fs::read_dir(&aof)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    } else {
        vec![aof.clone()]
    };
    for f in files {
        text.extend(std::fs::read(f).unwrap());
    }
    let must: &[&str] = if preamble || n < 1000 {
        &["EXEC"]
    } else {
        &["PFADD", "XCLAIM", "ZINCRBY", "SETRANGE", "RESTORE", "EXEC"]
    };
    for cmd in must {
        let needle = format!("\r\n{cmd}\r\n");
        assert!(
            text.windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle.as_bytes())),
            "{}: seed {seed}: the AOF holds no {cmd}",
            kind.name()
        );
    }
    assert!(
        out.status.code() == Some(0),
        "{} (preamble {preamble}), seed {seed}: the replay of the AOF differs from the server's \
         SAVE (exit {:?}):\n{}\n{}",
        kind.name(),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .take(60)
            .collect::<Vec<_>>()
            .join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "{} preamble={preamble} seed={seed}: {n} steps, replay equals SAVE ({keys} keys in the last db)",
        kind.name()
    );
}

#[test]
fn replay_of_a_random_workload_equals_the_servers_save() {
    let seed = seed_from_env();
    let n: usize = std::env::var("RDBKIT_REPLAY_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    for kind in ServerKind::ALL {
        let Some(bin) = kind.require() else { continue };
        for preamble in [true, false] {
            workload(kind, &bin, preamble, seed ^ preamble as u64, n);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Docs, memory budget, value-unknown (no server needed)

/// The README's command list is the replay table's own output.
#[test]
fn readme_lists_the_replay_table() {
    let out = run_rdbkit(["replay-commands"]);
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .expect("README.md");
    let (a, b) = (
        readme
            .find("<!-- replay-commands:begin -->\n")
            .expect("begin marker"),
        readme
            .find("<!-- replay-commands:end -->")
            .expect("end marker"),
    );
    let inside = &readme[a + "<!-- replay-commands:begin -->\n".len()..b];
    assert_eq!(
        inside, table,
        "README's replay table is stale: paste `rdbkit replay-commands` between the markers"
    );
}

fn resp(cmds: &[&[&[u8]]]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in cmds {
        out.extend_from_slice(format!("*{}\r\n", c.len()).as_bytes());
        for a in *c {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// Issue 10 defect 4, replay part: 40 × `SETRANGE key 500000000 x` would need 20 GB; under a
/// 1.5 GB address-space limit the replay stops cleanly at the budget, naming key and offset.
#[test]
fn setrange_beyond_the_memory_budget_is_a_clean_error() {
    let Some(prlimit) = require_tool("prlimit") else {
        return;
    };
    let dir = TempDir::new("replay-budget");
    let f = dir.join("big.aof");
    let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
    for i in 0..40 {
        cmds.push(vec![
            b"SETRANGE".to_vec(),
            format!("k{i}").into_bytes(),
            b"500000000".to_vec(),
            b"x".to_vec(),
        ]);
    }
    let refs: Vec<Vec<&[u8]>> = cmds
        .iter()
        .map(|c| c.iter().map(|a| a.as_slice()).collect())
        .collect();
    let refs2: Vec<&[&[u8]]> = refs.iter().map(|c| c.as_slice()).collect();
    std::fs::write(&f, resp(&refs2)).unwrap();
    let out = run_with_timeout(
        std::process::Command::new(prlimit)
            .arg("--as=1500000000")
            .arg(rdbkit_bin())
            .args(["keys", "--max-memory", "1G"])
            .arg(&f),
        None,
        Duration::from_secs(120),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    // One exit-code table: an AOF that can't be replayed (here: within the budget) is 2.
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("SETRANGE")
            && err.contains("key k2")
            && err.contains("budget")
            && err.contains("big.aof:"),
        "{err}"
    );
    // The default budget (4G) stops it too, before 20 GB.
    let out = run_with_timeout(
        std::process::Command::new(rdbkit_bin())
            .args(["info"])
            .arg(&f),
        None,
        Duration::from_secs(120),
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("budget")
            || String::from_utf8_lossy(&out.stderr).contains("budget")
    );
}

/// A verbatim EVAL (Redis < 5) makes the keys it names value-unknown, with the offset; `keys`
/// still lists them, `info` says why, `diff` never calls them equal.
#[test]
fn verbatim_eval_marks_its_keys_value_unknown() {
    let dir = TempDir::new("replay-unknown");
    let f = dir.join("old.aof");
    let data = resp(&[
        &[b"SELECT", b"0"],
        &[b"RPUSH", b"l", b"a"],
        &[
            b"EVAL",
            b"redis.call('RPUSH', KEYS[1], 'b')",
            b"2",
            b"l",
            b"other",
        ],
        &[b"LPUSH", b"l", b"z"],
        &[b"SET", b"ok", b"1"],
    ]);
    std::fs::write(&f, data).unwrap();
    let out = run_rdbkit(["keys".as_ref(), "--long".as_ref(), f.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        keys, "0\tlist\tl\n0\tstring\tok\n0\tunknown\tother\n",
        "{keys}"
    );
    let out = run_rdbkit(["info".as_ref(), f.as_os_str()]);
    let info = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(info.contains("value unknown: 2 keys"), "{info}");
    assert!(
        info.contains("EVAL at ") && info.contains("old.aof:"),
        "{info}"
    );
    let out = run_rdbkit(["diff".as_ref(), f.as_os_str(), f.as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("value unknown in A"));
}
