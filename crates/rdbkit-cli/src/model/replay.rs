//! The replay's state and the vocabulary of its handlers: [`Replayer`] (the data set being
//! built, the current database, the memory budget), [`Cmd`], [`Flow`], argument parsers. The
//! handlers of [`super::table`] work on it; the driver that dispatches a command to its
//! handler is [`super::apply`] (it imports the table; the table does not import it).

use std::collections::BTreeMap;

use rdbkit_rdb::StreamId;

use super::{Bytes, Dataset, MKey, MStream, MValue};

/// Why a command could not be replayed.
#[derive(Debug)]
pub struct ReplayError(pub String);

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The outcome of a handler that did not apply cleanly.
#[derive(Debug)]
pub enum Flow {
    /// The command is malformed or impossible (the replay stops with this message).
    Fail(String),
    /// The effect cannot be reproduced offline (the keys the command names become
    /// "value unknown" with this reason; the replay goes on).
    Unknown(String),
}

/// A handler's result.
pub type R = Result<(), Flow>;

/// A failure message.
pub fn fail<T>(msg: impl Into<String>) -> Result<T, Flow> {
    Err(Flow::Fail(msg.into()))
}

/// One command as handlers see it: the upper-cased name and the arguments after it.
pub struct Cmd<'c, 'a> {
    /// The command name, upper case (`SET`, `XGROUP`).
    pub name: &'c str,
    /// The arguments after the name.
    pub a: &'c [&'a [u8]],
}

impl Cmd<'_, '_> {
    /// Argument `i` or a "wrong number of arguments" failure.
    pub fn arg(&self, i: usize) -> Result<&[u8], Flow> {
        self.a
            .get(i)
            .copied()
            .ok_or_else(|| Flow::Fail(format!("{}: wrong number of arguments", self.name)))
    }
    /// Argument `i` as an integer.
    pub fn int(&self, i: usize, what: &str) -> Result<i64, Flow> {
        int(self.arg(i)?, what)
    }
    /// Argument `i` upper-cased (an option word).
    pub fn word(&self, i: usize) -> String {
        self.a
            .get(i)
            .map(|b| String::from_utf8_lossy(b).to_ascii_uppercase())
            .unwrap_or_default()
    }
}

/// The replay's memory budget when none is given: 4 GiB of estimated data-set memory.
pub const DEFAULT_BUDGET: u64 = 4 << 30;

static BUDGET: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(DEFAULT_BUDGET);

/// Sets the memory budget of every replay started afterwards (`--max-memory`).
pub fn set_budget(bytes: u64) {
    BUDGET.store(bytes, std::sync::atomic::Ordering::Relaxed);
}

/// Parses a size: bytes, or a number with a K/M/G/T suffix (powers of 1024, `B`/`iB` allowed).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("bad size {s:?} (use e.g. 512M, 4G)")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("bad size {s:?} (use e.g. 512M, 4G)"))
}

/// Replays write commands into a [`Dataset`], the way the server applies its AOF on load.
pub struct Replayer {
    /// The data set built so far.
    pub ds: Dataset,
    pub(super) db: u64,
    /// The time relative expiries (EXPIRE, SETEX) count from: the AOF's own `#TS:` when known,
    /// else the time of the replay (the server rewrites them to PEXPIREAT in the AOF since 2.6,
    /// so they are rare).
    pub now_ms: i64,
    /// Where the current command is (`file:offset`), for value-unknown reasons.
    pub(super) at: String,
    /// Commands queued by MULTI, applied at EXEC (a transaction the file does not finish is
    /// dropped, as the server drops it).
    pub(super) multi: Option<Vec<(String, Vec<Bytes>)>>,
    pub(super) budget: u64,
    pub(super) used: u64,
    /// Commands whose effect could not be reproduced: name -> count.
    pub unknown_commands: BTreeMap<String, u64>,
    /// Commands applied.
    pub commands: u64,
    /// The AOF is a single file (a server before 7.0 wrote it): where servers differ, the
    /// replay follows 6.2 (XCLAIM keeps a pending entry whose message was deleted).
    pub pre_7_0: bool,
    /// The server that loads the AOF is Redis 7.0.x (`RDBKIT_AOF_SERVER=redis-7.0`): XCLAIM
    /// creates its consumer only when it claims an entry. Redis 7.2+ and Valkey (the default)
    /// create it even when every ID names a deleted message.
    pub redis_7_0: bool,
}

/// Integer argument, parsed like Redis's `string2ll`.
pub fn int(b: &[u8], what: &str) -> Result<i64, Flow> {
    std::str::from_utf8(b)
        .ok()
        .filter(|s| !s.starts_with('+') && !s.is_empty())
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| Flow::Fail(format!("{what} {} is not an integer", text(b))))
}

/// A double argument the way `strtod` reads it (inf accepted, NaN refused).
pub fn float(b: &[u8]) -> Result<f64, Flow> {
    let s = std::str::from_utf8(b).unwrap_or("").trim_start();
    let v = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        x => x.parse::<f64>().ok(),
    };
    v.filter(|v| !v.is_nan())
        .ok_or_else(|| Flow::Fail(format!("{} is not a valid float", text(b))))
}

/// A stream ID `ms-seq` or `ms` (seq 0).
pub fn parse_id(b: &[u8]) -> Option<StreamId> {
    let s = std::str::from_utf8(b).ok()?;
    let (ms, seq) = match s.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => (s.parse().ok()?, 0),
    };
    Some(StreamId { ms, seq })
}

/// A key or value for messages.
pub fn text(b: &[u8]) -> String {
    crate::escape::bytes(b)
}

/// The estimated memory of a value: string bytes, 64 bytes per container element.
pub(super) fn est(v: &MValue) -> u64 {
    const E: u64 = 64;
    48 + match v {
        MValue::String(s) => s.len() as u64,
        MValue::List(l) => l.len() as u64 * E,
        MValue::Set(s) => s.len() as u64 * E,
        MValue::Zset(z) => z.len() as u64 * E,
        MValue::Hash(h) => h.len() as u64 * E,
        MValue::Stream(s) => {
            s.entries.len() as u64 * E
                + s.groups.values().map(|g| g.pel.len() as u64).sum::<u64>() * E
        }
        MValue::Array { elements, .. } => elements.len() as u64 * E,
        MValue::Module { payload, .. } => payload.len() as u64 * E,
        MValue::Unknown { .. } => 0,
    }
}

/// Which type a family name stands for (for a typed value-unknown).
pub(super) fn type_of(v: &MValue) -> Option<&'static str> {
    match v {
        MValue::Unknown { ty, .. } => *ty,
        other => Some(other.type_name()),
    }
}

impl Replayer {
    /// A replay starting from an empty data set; relative times count from `now_ms`.
    pub fn new(now_ms: i64) -> Replayer {
        Replayer {
            ds: Dataset::default(),
            db: 0,
            now_ms,
            at: String::new(),
            multi: None,
            budget: BUDGET.load(std::sync::atomic::Ordering::Relaxed),
            used: 0,
            unknown_commands: BTreeMap::new(),
            commands: 0,
            pre_7_0: false,
            redis_7_0: false,
        }
    }

    /// The current database.
    pub fn db(&mut self) -> &mut BTreeMap<Bytes, MKey> {
        self.ds.dbs.entry(self.db).or_default()
    }

    /// Re-estimates the memory of the whole data set (after FLUSHALL, SWAPDB, MOVE ...).
    pub(super) fn recount(&mut self) {
        self.used = self
            .ds
            .dbs
            .values()
            .flat_map(|d| d.values())
            .map(|k| est(&k.value))
            .sum();
    }

    /// Fails before a handler allocates `extra` bytes the budget does not allow.
    pub(super) fn reserve(&self, extra: u64, key: &[u8]) -> Result<(), Flow> {
        if self.used.saturating_add(extra) > self.budget {
            return fail(format!(
                "on key {} at {}: {extra} more bytes would exceed the replay memory budget of {} \
                 bytes ({} estimated in use; raise it with --max-memory)",
                text(key),
                self.at,
                self.budget,
                self.used
            ));
        }
        Ok(())
    }

    /// Charges memory a handler creates outside the keys its command names (COPY DB n).
    pub(super) fn charge(&mut self, v: &MValue) {
        self.used += est(v);
    }

    // --- typed access used by the handlers ---------------------------------------------------

    /// The value of `key` when it holds the `want` family; `None` when absent; a failure when
    /// it holds another type.
    pub(super) fn get_mut(&mut self, key: &[u8], want: &str) -> Result<Option<&mut MKey>, Flow> {
        match self.db().get_mut(key) {
            None => Ok(None),
            Some(k) if k.value.type_name() == want => Ok(Some(k)),
            Some(k) => fail(format!(
                "key {} holds a {}, not a {want} (WRONGTYPE)",
                text(key),
                k.value.type_name()
            )),
        }
    }

    /// The value of `key`, created empty with `make` when absent.
    pub(super) fn get_or_create(
        &mut self,
        key: &[u8],
        make: fn() -> MValue,
    ) -> Result<&mut MKey, Flow> {
        let want = make().type_name();
        let db = self.db();
        let k = db.entry(key.to_vec()).or_insert_with(|| MKey {
            value: make(),
            expire_ms: None,
        });
        if k.value.type_name() != want {
            return fail(format!(
                "key {} holds a {}, not a {want} (WRONGTYPE)",
                text(key),
                k.value.type_name()
            ));
        }
        Ok(k)
    }

    /// Removes `key` when it is an empty container (the server never keeps one).
    pub(super) fn drop_if_empty(&mut self, key: &[u8]) {
        let empty = match self.db().get(key).map(|k| &k.value) {
            Some(MValue::List(l)) => l.is_empty(),
            Some(MValue::Set(s)) => s.is_empty(),
            Some(MValue::Zset(z)) => z.is_empty(),
            Some(MValue::Hash(h)) => h.is_empty(),
            _ => false,
        };
        if empty {
            self.db().remove(key);
        }
    }

    /// Sets `key` to `value` with no TTL (what the server's `setKey` does).
    pub(super) fn put(&mut self, key: &[u8], value: MValue) {
        self.db().insert(
            key.to_vec(),
            MKey {
                value,
                expire_ms: None,
            },
        );
    }

    /// A stream by name (absent -> None).
    pub(super) fn stream_mut(&mut self, key: &[u8]) -> Result<Option<&mut MStream>, Flow> {
        Ok(self
            .get_mut(key, "stream")?
            .and_then(|k| match &mut k.value {
                MValue::Stream(s) => Some(&mut **s),
                _ => None,
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(r: &mut Replayer, cmds: &[&[&str]]) {
        for c in cmds {
            let a: Vec<&[u8]> = c.iter().map(|s| s.as_bytes()).collect();
            r.apply(&a).unwrap_or_else(|e| panic!("{c:?}: {e}"));
        }
    }

    fn list(r: &Replayer, db: u64, k: &str) -> Vec<String> {
        match &r.ds.dbs[&db][k.as_bytes()].value {
            MValue::List(l) => l
                .iter()
                .map(|v| String::from_utf8_lossy(v).into())
                .collect(),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn lists_transactions_and_unknown_values() {
        let mut r = Replayer::new(1000);
        run(
            &mut r,
            &[
                &["SELECT", "1"],
                &["SET", "a", "1", "PXAT", "5000"],
                &["RPUSH", "l", "x", "y", "x"],
                &["LPUSH", "l", "w", "v"],
                &["LINSERT", "l", "AFTER", "y", "z"],
                &["LREM", "l", "-1", "x"],
                &["LSET", "l", "0", "V"],
                &["MULTI"],
                &["RPUSH", "l", "in-exec"],
                &["EXEC"],
                &["MULTI"],
                &["RPUSH", "l", "never"],
            ],
        );
        assert_eq!(list(&r, 1, "l"), ["V", "w", "x", "y", "z", "in-exec"]);
        assert_eq!(r.ds.dbs[&1][b"a".as_slice()].expire_ms, Some(5000));
        // A verbatim EVAL: the keys it names become unknown; a later write to one stays unknown,
        // a SET replaces it.
        r.at = "f.aof:99".into();
        run(
            &mut r,
            &[
                &["EXEC"],
                &["EVAL", "return 1", "2", "l", "n"],
                &["RPUSH", "l", "more"],
                &["SET", "n", "known"],
            ],
        );
        match &r.ds.dbs[&1][b"l".as_slice()].value {
            MValue::Unknown { ty, reason } => {
                assert_eq!(*ty, Some("list"));
                assert!(reason.contains("EVAL at f.aof:99"), "{reason}");
            }
            v => panic!("{v:?}"),
        }
        assert_eq!(
            r.ds.dbs[&1][b"n".as_slice()].value,
            MValue::String(b"known".to_vec())
        );
        // Unknown commands are an error naming them.
        let err = r.apply(&[b"NOSUCHCMD", b"x"]).unwrap_err();
        assert!(err.0.contains("NOSUCHCMD"), "{err}");
    }

    /// A rewrite's XCLAIM of a pending entry whose message was deleted: 7.2+ and Valkey create
    /// the consumer anyway, 7.0 does not (found by live_replay against Valkey 8.1).
    #[test]
    fn xclaim_of_a_deleted_message_and_the_consumer() {
        for (redis_7_0, expect) in [(false, vec!["c0"]), (true, vec![])] {
            let mut r = Replayer::new(0);
            r.redis_7_0 = redis_7_0;
            run(
                &mut r,
                &[
                    &["XADD", "s", "5-0", "f", "v"],
                    &["XGROUP", "CREATE", "s", "g", "0"],
                    &[
                        "XCLAIM",
                        "s",
                        "g",
                        "c0",
                        "0",
                        "1-0",
                        "TIME",
                        "7",
                        "RETRYCOUNT",
                        "1",
                        "JUSTID",
                        "FORCE",
                    ],
                ],
            );
            let MValue::Stream(st) = &r.ds.dbs[&0][b"s".as_slice()].value else {
                panic!("not a stream")
            };
            let g = &st.groups[b"g".as_slice()];
            let names: Vec<String> = g
                .consumers
                .keys()
                .map(|k| String::from_utf8_lossy(k).into())
                .collect();
            assert_eq!(names, expect, "redis_7_0 = {redis_7_0}");
            assert!(g.pel.is_empty());
        }
    }

    #[test]
    fn hash_field_ttls_and_hll() {
        let mut r = Replayer::new(0);
        run(
            &mut r,
            &[
                &["HSET", "h", "a", "1", "b", "2", "c", "3"],
                &["HPEXPIREAT", "h", "9000", "NX", "FIELDS", "2", "a", "b"],
                &["HPEXPIREAT", "h", "5000", "GT", "FIELDS", "1", "a"],
                &["HPEXPIREAT", "h", "5000", "LT", "FIELDS", "1", "b"],
                &["HSET", "h", "c", "x"],
                &["HPERSIST", "h", "FIELDS", "1", "a"],
                &[
                    "HSETEX", "h", "FNX", "PXAT", "7000", "FIELDS", "1", "d", "4",
                ],
                &[
                    "HSETEX", "h", "FNX", "PXAT", "7000", "FIELDS", "1", "a", "no",
                ],
                &["HGETDEL", "g", "FIELDS", "1", "x"],
                &["PFADD", "hll", "a", "b", "c"],
                &["PFCOUNT", "hll"],
            ],
        );
        match &r.ds.dbs[&0][b"h".as_slice()].value {
            MValue::Hash(h) => {
                let f = |k: &str| h[k.as_bytes()].clone();
                assert_eq!(f("a"), (b"1".to_vec(), None));
                assert_eq!(f("b"), (b"2".to_vec(), Some(5000)));
                assert_eq!(f("c"), (b"x".to_vec(), None));
                assert_eq!(f("d"), (b"4".to_vec(), Some(7000)));
            }
            v => panic!("{v:?}"),
        }
        match &r.ds.dbs[&0][b"hll".as_slice()].value {
            MValue::String(s) => {
                assert_eq!(&s[..5], b"HYLL\x01");
                // PFCOUNT stored a valid cached cardinality: 3.
                assert_eq!(&s[8..16], &3u64.to_le_bytes());
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn zsets_streams_and_budget() {
        let mut r = Replayer::new(0);
        run(
            &mut r,
            &[
                &["ZADD", "z", "1", "a", "2", "b", "3", "c"],
                &["ZADD", "z", "GT", "0", "a", "5", "b"],
                &["ZINCRBY", "z", "0.5", "c"],
                &["ZUNIONSTORE", "u", "2", "z", "z", "WEIGHTS", "1", "2"],
                &["ZPOPMIN", "z"],
                &["XADD", "s", "1-1", "f", "v"],
                &["XADD", "s", "MAXLEN", "=", "1", "2-1", "f", "v"],
                &["XDEL", "s", "2-1"],
            ],
        );
        match &r.ds.dbs[&0][b"u".as_slice()].value {
            MValue::Zset(z) => assert_eq!(z[b"c".as_slice()], 10.5),
            v => panic!("{v:?}"),
        }
        match &r.ds.dbs[&0][b"s".as_slice()].value {
            MValue::Stream(s) => {
                assert!(s.entries.is_empty());
                assert_eq!(s.entries_added, Some(2));
                assert_eq!(s.max_deleted_id, Some(StreamId { ms: 2, seq: 1 }));
                assert_eq!(s.first_id, Some(StreamId::default()));
            }
            v => panic!("{v:?}"),
        }
        let mut r = Replayer::new(0);
        r.budget = 1 << 20;
        let err = r
            .apply(&[b"SETRANGE", b"big", b"5000000", b"x"])
            .unwrap_err();
        assert!(err.0.contains("budget") && err.0.contains("big"), "{err}");
        assert!(r.ds.dbs.get(&0).is_none_or(|d| d.is_empty()));
    }
}
