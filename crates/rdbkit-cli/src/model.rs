//! An in-memory model of a data set: keys with owned values, built from RDB records (one key at
//! a time, for `dump --format resp`) or from a whole file (for `diff`), or by replaying an AOF's
//! write commands. Containers are kept in the form that compares by content: sets and hashes
//! sorted by bytes, zsets by member, streams with their groups by name.

use std::collections::BTreeMap;

use rdbkit_rdb::{
    ArrayValue, Entry, GroupMeta, KeyRecord, ModuleId, ModuleItem, RdbString, Scratch, StreamId,
    StreamMeta, VisitResult, Visitor,
};

pub type Bytes = Vec<u8>;

#[derive(Clone, Debug, PartialEq)]
pub enum MValue {
    String(Bytes),
    List(Vec<Bytes>),
    Set(BTreeMap<Bytes, ()>),
    /// member -> score
    Zset(BTreeMap<Bytes, f64>),
    /// field -> (value, field TTL in absolute ms)
    Hash(BTreeMap<Bytes, (Bytes, Option<i64>)>),
    Stream(Box<MStream>),
    /// Redis 8.8 sparse array (RDB type 28): the insert cursor and (index, element), ascending.
    Array {
        insert_idx: Option<u64>,
        elements: Vec<(u64, MArrayElem)>,
    },
    Module {
        name: String,
        encver: u64,
        /// The payload items rendered as text (compared, never replayed).
        payload: Vec<String>,
    },
}

impl MValue {
    pub fn type_name(&self) -> &'static str {
        match self {
            MValue::String(_) => "string",
            MValue::List(_) => "list",
            MValue::Set(_) => "set",
            MValue::Zset(_) => "zset",
            MValue::Hash(_) => "hash",
            MValue::Stream(_) => "stream",
            MValue::Array { .. } => "array",
            MValue::Module { .. } => "module",
        }
    }
}

/// One element of a sparse array, typed as the RDB stores it.
#[derive(Clone, Debug, PartialEq)]
pub enum MArrayElem {
    Str(Bytes),
    Int(i64),
    Float(f64),
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct MStream {
    pub entries: Vec<(StreamId, Vec<(Bytes, Bytes)>)>,
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: Option<StreamId>,
    pub max_deleted_id: Option<StreamId>,
    pub entries_added: Option<u64>,
    pub groups: BTreeMap<Bytes, MGroup>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct MGroup {
    pub last_delivered_id: StreamId,
    /// `Some(u64::MAX)` = Redis's "unknown" (-1).
    pub entries_read: Option<u64>,
    /// id -> (consumer, delivery time ms, delivery count)
    pub pel: BTreeMap<StreamId, (Bytes, i64, u64)>,
    /// Every consumer, also those with nothing pending.
    pub consumers: BTreeMap<Bytes, ()>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MKey {
    pub value: MValue,
    pub expire_ms: Option<i64>,
}

/// A whole data set: db -> key -> value, plus function libraries.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    pub dbs: BTreeMap<u64, BTreeMap<Bytes, MKey>>,
    pub functions: Vec<Bytes>,
}

fn own(e: Entry<'_>) -> Bytes {
    e.to_cow().into_owned()
}

/// Decodes one RDB key into the model.
pub fn from_record(k: &KeyRecord<'_>, scratch: &mut Scratch) -> Result<MKey, rdbkit_rdb::Error> {
    let family = k.value.ty.family();
    let mut b = Builder {
        value: match family {
            "string" => MValue::String(Vec::new()),
            "list" => MValue::List(Vec::new()),
            "set" => MValue::Set(BTreeMap::new()),
            "zset" => MValue::Zset(BTreeMap::new()),
            "hash" => MValue::Hash(BTreeMap::new()),
            "stream" => MValue::Stream(Box::default()),
            "array" => MValue::Array {
                insert_idx: None,
                elements: Vec::new(),
            },
            _ => MValue::Module {
                name: String::new(),
                encver: 0,
                payload: Vec::new(),
            },
        },
        group: None,
        consumer: None,
    };
    k.value
        .visit(scratch, &mut b, false)
        .map_err(|e| e.in_key(Some(k.db), k.key))?;
    Ok(MKey {
        value: b.value,
        expire_ms: k.expire_ms,
    })
}

struct Builder {
    value: MValue,
    group: Option<(Bytes, MGroup)>,
    consumer: Option<Bytes>,
}

impl Visitor for Builder {
    fn string(&mut self, s: Entry<'_>) -> VisitResult {
        self.value = MValue::String(own(s));
        Ok(())
    }
    fn element(&mut self, e: Entry<'_>) -> VisitResult {
        match &mut self.value {
            MValue::List(l) => l.push(own(e)),
            MValue::Set(s) => {
                s.insert(own(e), ());
            }
            _ => {}
        }
        Ok(())
    }
    fn zset_member(&mut self, m: Entry<'_>, score: f64) -> VisitResult {
        if let MValue::Zset(z) = &mut self.value {
            z.insert(own(m), score);
        }
        Ok(())
    }
    fn hash_field(&mut self, f: Entry<'_>, v: Entry<'_>, ttl: Option<i64>) -> VisitResult {
        if let MValue::Hash(h) = &mut self.value {
            h.insert(own(f), (own(v), ttl));
        }
        Ok(())
    }
    fn module_begin(&mut self, id: ModuleId) -> VisitResult {
        if let MValue::Module { name, encver, .. } = &mut self.value {
            *name = id.name_str();
            *encver = id.encver();
        }
        Ok(())
    }
    fn module_item(&mut self, item: ModuleItem<'_>) -> VisitResult {
        if let MValue::Module { payload, .. } = &mut self.value {
            payload.push(match item {
                ModuleItem::Signed(v) => format!("uint {}", v as u64),
                ModuleItem::Unsigned(v) => format!("uint {v}"),
                ModuleItem::Float(f) => format!("float {f:?}"),
                ModuleItem::Double(d) => format!("double {d:?}"),
                ModuleItem::String(RdbString::Raw(b)) => {
                    format!("string {}", crate::filter::escape_key(b))
                }
                ModuleItem::String(RdbString::Int(i)) => format!("string {i}"),
                ModuleItem::String(RdbString::Lzf { .. }) => "string <lzf>".into(),
            });
        }
        Ok(())
    }
    fn array_begin(&mut self, _count: u64, insert_idx: Option<u64>) -> VisitResult {
        if let MValue::Array { insert_idx: i, .. } = &mut self.value {
            *i = insert_idx;
        }
        Ok(())
    }
    fn array_element(&mut self, idx: u64, v: ArrayValue<'_>) -> VisitResult {
        if let MValue::Array { elements, .. } = &mut self.value {
            elements.push((
                idx,
                match v {
                    ArrayValue::Str(e) => MArrayElem::Str(own(e)),
                    ArrayValue::Int(i) => MArrayElem::Int(i),
                    ArrayValue::Float(f) => MArrayElem::Float(f),
                },
            ));
        }
        Ok(())
    }
    fn stream_entry(&mut self, id: StreamId) -> VisitResult {
        if let MValue::Stream(s) = &mut self.value {
            s.entries.push((id, Vec::new()));
        }
        Ok(())
    }
    fn stream_field(&mut self, f: Entry<'_>, v: Entry<'_>) -> VisitResult {
        if let MValue::Stream(s) = &mut self.value {
            if let Some((_, fv)) = s.entries.last_mut() {
                fv.push((own(f), own(v)));
            }
        }
        Ok(())
    }
    fn stream_meta(&mut self, m: &StreamMeta) -> VisitResult {
        if let MValue::Stream(s) = &mut self.value {
            s.length = m.length;
            s.last_id = m.last_id;
            s.first_id = m.first_id;
            s.max_deleted_id = m.max_deleted_id;
            s.entries_added = m.entries_added;
        }
        Ok(())
    }
    fn stream_group(&mut self, g: &GroupMeta<'_>) -> VisitResult {
        self.group = Some((
            g.name.to_vec(),
            MGroup {
                last_delivered_id: g.last_delivered_id,
                entries_read: g.entries_read,
                ..MGroup::default()
            },
        ));
        Ok(())
    }
    fn stream_pel(&mut self, id: StreamId, t: i64, count: u64) -> VisitResult {
        if let Some((_, g)) = &mut self.group {
            g.pel.insert(id, (Vec::new(), t, count));
        }
        Ok(())
    }
    fn stream_consumer(&mut self, name: &[u8], _seen: i64, _active: Option<i64>) -> VisitResult {
        if let Some((_, g)) = &mut self.group {
            g.consumers.insert(name.to_vec(), ());
        }
        self.consumer = Some(name.to_vec());
        Ok(())
    }
    fn stream_consumer_pel(&mut self, id: StreamId) -> VisitResult {
        if let (Some((_, g)), Some(c)) = (&mut self.group, &self.consumer) {
            if let Some(p) = g.pel.get_mut(&id) {
                p.0.clone_from(c);
            }
        }
        Ok(())
    }
    fn stream_group_end(&mut self) -> VisitResult {
        if let (Some((name, g)), MValue::Stream(s)) = (self.group.take(), &mut self.value) {
            s.groups.insert(name, g);
        }
        self.consumer = None;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// AOF replay

/// Why a command could not be replayed.
#[derive(Debug)]
pub struct ReplayError(pub String);

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Replays write commands into a [`Dataset`], the way the server applies its AOF on load.
pub struct Replayer {
    pub ds: Dataset,
    db: u64,
    /// The time relative expiries (EXPIRE, SETEX) count from: the AOF's own `#TS:` when known,
    /// else the time of the replay (the server rewrites them to PEXPIREAT in the AOF since 2.6,
    /// so they are rare).
    pub now_ms: i64,
}

fn text(b: &[u8]) -> String {
    crate::filter::escape_key(b)
}

fn int(b: &[u8], what: &str) -> Result<i64, ReplayError> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| ReplayError(format!("{what} {} is not an integer", text(b))))
}

fn score(b: &[u8]) -> Result<f64, ReplayError> {
    let s = std::str::from_utf8(b).unwrap_or("");
    let v = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        x => x.parse::<f64>().ok(),
    };
    v.filter(|v| !v.is_nan())
        .ok_or_else(|| ReplayError(format!("score {} is not a number", text(b))))
}

fn parse_id(b: &[u8]) -> Option<StreamId> {
    let s = std::str::from_utf8(b).ok()?;
    let (ms, seq) = match s.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => (s.parse().ok()?, 0),
    };
    Some(StreamId { ms, seq })
}

/// The commands the replay knows (for help and errors).
pub const SUPPORTED: &str = "SET SETEX PSETEX APPEND SETRANGE INCR INCRBY DECR DECRBY DEL UNLINK \
EXPIRE PEXPIRE EXPIREAT PEXPIREAT PERSIST RENAME MOVE COPY SWAPDB RPUSH LPUSH LPOP RPOP LTRIM \
RPOPLPUSH LMOVE SADD SREM SMOVE ZADD ZREM HSET HMSET HDEL HINCRBY HPEXPIREAT HPERSIST XADD XDEL XSETID XGROUP \
FUNCTION SELECT FLUSHDB FLUSHALL MULTI EXEC";

impl Replayer {
    fn drop_if_empty(&mut self, key: &[u8]) {
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

    pub fn new(now_ms: i64) -> Replayer {
        Replayer {
            ds: Dataset::default(),
            db: 0,
            now_ms,
        }
    }

    fn db(&mut self) -> &mut BTreeMap<Bytes, MKey> {
        self.ds.dbs.entry(self.db).or_default()
    }

    fn container<'a>(
        map: &'a mut BTreeMap<Bytes, MKey>,
        key: &[u8],
        make: fn() -> MValue,
    ) -> &'a mut MKey {
        map.entry(key.to_vec()).or_insert_with(|| MKey {
            value: make(),
            expire_ms: None,
        })
    }

    /// Applies one command (args[0] is the name).
    pub fn apply(&mut self, args: &[&[u8]]) -> Result<(), ReplayError> {
        let Some((name, a)) = args.split_first() else {
            return Ok(());
        };
        let cmd = String::from_utf8_lossy(name).to_ascii_uppercase();
        let need = |n: usize| -> Result<(), ReplayError> {
            if a.len() < n {
                Err(ReplayError(format!(
                    "{cmd}: wrong number of arguments ({})",
                    a.len()
                )))
            } else {
                Ok(())
            }
        };
        let wrongtype = |key: &[u8]| {
            ReplayError(format!(
                "{cmd} against key {} holding the wrong kind of value",
                text(key)
            ))
        };
        match cmd.as_str() {
            "MULTI" | "EXEC" | "PING" => {}
            "SELECT" => {
                need(1)?;
                self.db = u64::try_from(int(a[0], "db")?)
                    .map_err(|_| ReplayError("SELECT: negative db".into()))?;
            }
            "FLUSHDB" => {
                self.db().clear();
            }
            "FLUSHALL" => self.ds.dbs.clear(),
            "SET" => {
                need(2)?;
                let mut expire = None;
                let mut keepttl = false;
                let mut i = 2;
                while i < a.len() {
                    let opt = String::from_utf8_lossy(a[i]).to_ascii_uppercase();
                    match opt.as_str() {
                        "EX" | "PX" | "EXAT" | "PXAT" => {
                            let v = int(a.get(i + 1).copied().unwrap_or(b""), &opt)?;
                            expire = Some(match opt.as_str() {
                                "EX" => self.now_ms + v * 1000,
                                "PX" => self.now_ms + v,
                                "EXAT" => v * 1000,
                                _ => v,
                            });
                            i += 2;
                        }
                        "KEEPTTL" => {
                            keepttl = true;
                            i += 1;
                        }
                        "NX" | "XX" | "GET" => i += 1,
                        _ => return Err(ReplayError(format!("SET: unsupported option {opt}"))),
                    }
                }
                let key = a[0];
                let old = self.db().get(key).and_then(|k| k.expire_ms);
                let e = if keepttl { old } else { expire };
                self.db().insert(
                    key.to_vec(),
                    MKey {
                        value: MValue::String(a[1].to_vec()),
                        expire_ms: e,
                    },
                );
            }
            "SETEX" | "PSETEX" => {
                need(3)?;
                let v = int(a[1], "ttl")?;
                let e = if cmd == "SETEX" { v * 1000 } else { v };
                let now = self.now_ms;
                self.db().insert(
                    a[0].to_vec(),
                    MKey {
                        value: MValue::String(a[2].to_vec()),
                        expire_ms: Some(now + e),
                    },
                );
            }
            "DEL" | "UNLINK" => {
                need(1)?;
                let db = self.db();
                for k in a {
                    db.remove(*k);
                }
            }
            "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" => {
                need(2)?;
                let v = int(a[1], "time")?;
                let at = match cmd.as_str() {
                    "EXPIRE" => self.now_ms + v * 1000,
                    "PEXPIRE" => self.now_ms + v,
                    "EXPIREAT" => v * 1000,
                    _ => v,
                };
                if let Some(k) = self.db().get_mut(a[0]) {
                    k.expire_ms = Some(at);
                }
            }
            "PERSIST" => {
                need(1)?;
                if let Some(k) = self.db().get_mut(a[0]) {
                    k.expire_ms = None;
                }
            }
            "RPUSH" | "LPUSH" => {
                need(2)?;
                let k = Self::container(self.db(), a[0], || MValue::List(Vec::new()));
                let MValue::List(l) = &mut k.value else {
                    return Err(wrongtype(a[0]));
                };
                for v in &a[1..] {
                    if cmd == "RPUSH" {
                        l.push(v.to_vec());
                    } else {
                        l.insert(0, v.to_vec());
                    }
                }
            }
            "SADD" => {
                need(2)?;
                let k = Self::container(self.db(), a[0], || MValue::Set(BTreeMap::new()));
                let MValue::Set(s) = &mut k.value else {
                    return Err(wrongtype(a[0]));
                };
                for v in &a[1..] {
                    s.insert(v.to_vec(), ());
                }
            }
            "ZADD" => {
                need(3)?;
                let mut i = 1;
                while i < a.len()
                    && matches!(
                        String::from_utf8_lossy(a[i]).to_ascii_uppercase().as_str(),
                        "NX" | "XX" | "GT" | "LT" | "CH"
                    )
                {
                    i += 1;
                }
                if i < a.len() && String::from_utf8_lossy(a[i]).eq_ignore_ascii_case("INCR") {
                    return Err(ReplayError(
                        "ZADD INCR is not supported by the replay".into(),
                    ));
                }
                let pairs = a.get(i..).unwrap_or_default();
                if pairs.len() % 2 != 0 || pairs.is_empty() {
                    return Err(ReplayError("ZADD: odd score/member list".into()));
                }
                let mut parsed = Vec::new();
                for p in pairs.chunks(2) {
                    if let [s, m] = p {
                        parsed.push((m.to_vec(), score(s)?));
                    }
                }
                let k = Self::container(self.db(), a[0], || MValue::Zset(BTreeMap::new()));
                let MValue::Zset(z) = &mut k.value else {
                    return Err(wrongtype(a[0]));
                };
                for (m, s) in parsed {
                    z.insert(m, s);
                }
            }
            "HSET" | "HMSET" => {
                need(3)?;
                let pairs = &a[1..];
                if pairs.len() % 2 != 0 {
                    return Err(ReplayError(format!("{cmd}: odd field/value list")));
                }
                let k = Self::container(self.db(), a[0], || MValue::Hash(BTreeMap::new()));
                let MValue::Hash(h) = &mut k.value else {
                    return Err(wrongtype(a[0]));
                };
                for p in pairs.chunks(2) {
                    if let [f, v] = p {
                        h.insert(f.to_vec(), (v.to_vec(), None));
                    }
                }
            }
            "HDEL" => {
                need(2)?;
                let db = self.db();
                let mut empty = false;
                if let Some(MKey {
                    value: MValue::Hash(h),
                    ..
                }) = db.get_mut(a[0])
                {
                    for f in &a[1..] {
                        h.remove(*f);
                    }
                    empty = h.is_empty();
                }
                if empty {
                    db.remove(a[0]);
                }
            }
            "XADD" => {
                need(4)?;
                // The AOF form: XADD key [NOMKSTREAM] [MAXLEN|MINID ...] id field value ...
                let mut i = 1;
                loop {
                    let opt = String::from_utf8_lossy(a.get(i).copied().unwrap_or(b""))
                        .to_ascii_uppercase();
                    match opt.as_str() {
                        "NOMKSTREAM" => i += 1,
                        "MAXLEN" | "MINID" => {
                            return Err(ReplayError(
                                "XADD with MAXLEN/MINID trimming is not supported by the replay"
                                    .into(),
                            ))
                        }
                        _ => break,
                    }
                }
                let id = a
                    .get(i)
                    .and_then(|b| parse_id(b))
                    .ok_or_else(|| ReplayError("XADD: the AOF must carry an explicit id".into()))?;
                let fv = a.get(i + 1..).unwrap_or_default();
                if fv.is_empty() || fv.len() % 2 != 0 {
                    return Err(ReplayError("XADD: odd field/value list".into()));
                }
                let k = Self::container(self.db(), a[0], || MValue::Stream(Box::default()));
                let MValue::Stream(s) = &mut k.value else {
                    return Err(wrongtype(a[0]));
                };
                let pairs = fv
                    .chunks(2)
                    .filter_map(|p| match p {
                        [f, v] => Some((f.to_vec(), v.to_vec())),
                        _ => None,
                    })
                    .collect();
                s.entries.push((id, pairs));
                s.length += 1;
                s.last_id = id;
                if s.first_id.is_none() || s.length == 1 {
                    s.first_id = Some(id);
                }
                s.entries_added = Some(s.entries_added.unwrap_or(0) + 1);
            }
            "HPEXPIREAT" | "HPERSIST" => {
                // HPEXPIREAT key ms [NX|XX|GT|LT] FIELDS n field...; HPERSIST key FIELDS n field...
                need(3)?;
                let at = if cmd == "HPEXPIREAT" {
                    Some(int(a[1], "time")?)
                } else {
                    None
                };
                let fi = a
                    .iter()
                    .position(|x| x.eq_ignore_ascii_case(b"FIELDS"))
                    .ok_or_else(|| ReplayError(format!("{cmd}: no FIELDS")))?;
                let fields = a.get(fi + 2..).unwrap_or_default();
                if let Some(MKey {
                    value: MValue::Hash(h),
                    ..
                }) = self.db().get_mut(a[0])
                {
                    for f in fields {
                        if let Some(e) = h.get_mut(*f) {
                            e.1 = at;
                        }
                    }
                }
            }
            "INCR" | "DECR" | "INCRBY" | "DECRBY" => {
                need(1)?;
                let by = match cmd.as_str() {
                    "INCR" => 1,
                    "DECR" => -1,
                    "INCRBY" => int(a.get(1).copied().unwrap_or(b""), "increment")?,
                    _ => -int(a.get(1).copied().unwrap_or(b""), "decrement")?,
                };
                let k = Self::container(self.db(), a[0], || MValue::String(b"0".to_vec()));
                let MValue::String(v) = &mut k.value else {
                    return Err(wrongtype(a[0]));
                };
                let n = int(v, "value")?
                    .checked_add(by)
                    .ok_or_else(|| ReplayError(format!("{cmd} on {}: overflow", text(a[0]))))?;
                *v = n.to_string().into_bytes();
            }
            "APPEND" => {
                need(2)?;
                let k = Self::container(self.db(), a[0], || MValue::String(Vec::new()));
                let MValue::String(v) = &mut k.value else {
                    return Err(wrongtype(a[0]));
                };
                v.extend_from_slice(a[1]);
            }
            "SETRANGE" => {
                need(3)?;
                let off = usize::try_from(int(a[1], "offset")?)
                    .map_err(|_| ReplayError("SETRANGE: negative offset".into()))?;
                if off.saturating_add(a[2].len()) > 512 << 20 {
                    return Err(ReplayError("SETRANGE beyond 512 MB".into()));
                }
                let k = Self::container(self.db(), a[0], || MValue::String(Vec::new()));
                let MValue::String(v) = &mut k.value else {
                    return Err(wrongtype(a[0]));
                };
                if v.len() < off + a[2].len() {
                    v.resize(off + a[2].len(), 0);
                }
                v[off..off + a[2].len()].copy_from_slice(a[2]);
            }
            "LPOP" | "RPOP" => {
                need(1)?;
                let n = match a.get(1) {
                    Some(c) => usize::try_from(int(c, "count")?).unwrap_or(0),
                    None => 1,
                };
                if let Some(MKey {
                    value: MValue::List(l),
                    ..
                }) = self.db().get_mut(a[0])
                {
                    let n = n.min(l.len());
                    if cmd == "LPOP" {
                        l.drain(..n);
                    } else {
                        l.truncate(l.len() - n);
                    }
                }
                self.drop_if_empty(a[0]);
            }
            "LTRIM" => {
                need(3)?;
                let (st, en) = (int(a[1], "start")?, int(a[2], "stop")?);
                if let Some(MKey {
                    value: MValue::List(l),
                    ..
                }) = self.db().get_mut(a[0])
                {
                    let len = l.len() as i64;
                    let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i };
                    let (s2, e2) = (norm(st), norm(en).min(len - 1));
                    if s2 > e2 || s2 >= len {
                        l.clear();
                    } else {
                        l.truncate(e2 as usize + 1);
                        l.drain(..s2 as usize);
                    }
                }
                self.drop_if_empty(a[0]);
            }
            "RPOPLPUSH" | "LMOVE" => {
                need(2)?;
                let (from_left, to_left) = if cmd == "RPOPLPUSH" {
                    (false, true)
                } else {
                    let side = |i: usize| {
                        String::from_utf8_lossy(a.get(i).copied().unwrap_or(b""))
                            .eq_ignore_ascii_case("LEFT")
                    };
                    (side(2), side(3))
                };
                let item = match self.db().get_mut(a[0]) {
                    Some(MKey {
                        value: MValue::List(l),
                        ..
                    }) if !l.is_empty() => {
                        if from_left {
                            Some(l.remove(0))
                        } else {
                            l.pop()
                        }
                    }
                    _ => None,
                };
                self.drop_if_empty(a[0]);
                if let Some(item) = item {
                    let k = Self::container(self.db(), a[1], || MValue::List(Vec::new()));
                    let MValue::List(l) = &mut k.value else {
                        return Err(wrongtype(a[1]));
                    };
                    if to_left {
                        l.insert(0, item)
                    } else {
                        l.push(item)
                    }
                }
            }
            "SREM" | "ZREM" => {
                need(2)?;
                match self.db().get_mut(a[0]).map(|k| &mut k.value) {
                    Some(MValue::Set(s)) => a[1..].iter().for_each(|m| {
                        s.remove(*m);
                    }),
                    Some(MValue::Zset(z)) => a[1..].iter().for_each(|m| {
                        z.remove(*m);
                    }),
                    _ => {}
                }
                self.drop_if_empty(a[0]);
            }
            "SMOVE" => {
                need(3)?;
                let moved = match self.db().get_mut(a[0]) {
                    Some(MKey {
                        value: MValue::Set(s),
                        ..
                    }) => s.remove(a[2]).is_some(),
                    _ => false,
                };
                self.drop_if_empty(a[0]);
                if moved {
                    let k = Self::container(self.db(), a[1], || MValue::Set(BTreeMap::new()));
                    let MValue::Set(s) = &mut k.value else {
                        return Err(wrongtype(a[1]));
                    };
                    s.insert(a[2].to_vec(), ());
                }
            }
            "HINCRBY" => {
                need(3)?;
                let by = int(a[2], "increment")?;
                let k = Self::container(self.db(), a[0], || MValue::Hash(BTreeMap::new()));
                let MValue::Hash(h) = &mut k.value else {
                    return Err(wrongtype(a[0]));
                };
                let e = h
                    .entry(a[1].to_vec())
                    .or_insert_with(|| (b"0".to_vec(), None));
                let n = int(&e.0, "hash value")?
                    .checked_add(by)
                    .ok_or_else(|| ReplayError("HINCRBY overflow".into()))?;
                e.0 = n.to_string().into_bytes();
            }
            "RENAME" | "MOVE" | "COPY" => {
                need(2)?;
                let Some(v) = self.db().get(a[0]).cloned() else {
                    return Ok(());
                };
                match cmd.as_str() {
                    "RENAME" => {
                        self.db().remove(a[0]);
                        self.db().insert(a[1].to_vec(), v);
                    }
                    "MOVE" => {
                        let to = u64::try_from(int(a[1], "db")?)
                            .map_err(|_| ReplayError("MOVE: negative db".into()))?;
                        let dst = self.ds.dbs.entry(to).or_default();
                        if !dst.contains_key(a[0]) {
                            dst.insert(a[0].to_vec(), v);
                            self.db().remove(a[0]);
                        }
                    }
                    _ => {
                        // COPY src dst [DB n] [REPLACE]
                        let mut to = self.db;
                        let mut replace = false;
                        let mut i = 2;
                        while i < a.len() {
                            let o = String::from_utf8_lossy(a[i]).to_ascii_uppercase();
                            if o == "DB" {
                                to =
                                    u64::try_from(int(a.get(i + 1).copied().unwrap_or(b""), "db")?)
                                        .map_err(|_| ReplayError("COPY: negative db".into()))?;
                                i += 1;
                            } else if o == "REPLACE" {
                                replace = true;
                            }
                            i += 1;
                        }
                        let dst = self.ds.dbs.entry(to).or_default();
                        if replace || !dst.contains_key(a[1]) {
                            dst.insert(a[1].to_vec(), v);
                        }
                    }
                }
            }
            "SWAPDB" => {
                need(2)?;
                let x = u64::try_from(int(a[0], "db")?)
                    .map_err(|_| ReplayError("SWAPDB: negative db".into()))?;
                let y = u64::try_from(int(a[1], "db")?)
                    .map_err(|_| ReplayError("SWAPDB: negative db".into()))?;
                let dx = self.ds.dbs.remove(&x).unwrap_or_default();
                let dy = self.ds.dbs.remove(&y).unwrap_or_default();
                self.ds.dbs.insert(x, dy);
                self.ds.dbs.insert(y, dx);
            }
            "XSETID" => {
                need(2)?;
                let id = parse_id(a[1]).ok_or_else(|| ReplayError("XSETID: bad id".into()))?;
                let mut added = None;
                let mut maxdel = None;
                let mut i = 2;
                while i + 1 < a.len() {
                    match String::from_utf8_lossy(a[i]).to_ascii_uppercase().as_str() {
                        "ENTRIESADDED" => {
                            added =
                                Some(u64::try_from(int(a[i + 1], "entries_added")?).unwrap_or(0))
                        }
                        "MAXDELETEDID" => maxdel = parse_id(a[i + 1]),
                        _ => {}
                    }
                    i += 2;
                }
                if let Some(MKey {
                    value: MValue::Stream(s),
                    ..
                }) = self.db().get_mut(a[0])
                {
                    s.last_id = id;
                    if added.is_some() {
                        s.entries_added = added;
                    }
                    if maxdel.is_some() {
                        s.max_deleted_id = maxdel;
                    }
                }
            }
            "XGROUP" => {
                need(3)?;
                let sub = String::from_utf8_lossy(a[0]).to_ascii_uppercase();
                let (key, group) = (a[1], a[2]);
                let mk = sub == "CREATE" && a.iter().any(|x| x.eq_ignore_ascii_case(b"MKSTREAM"));
                if mk {
                    Self::container(self.db(), key, || MValue::Stream(Box::default()));
                }
                let Some(MKey {
                    value: MValue::Stream(s),
                    ..
                }) = self.db().get_mut(key)
                else {
                    return Ok(());
                };
                let last = s.last_id;
                let pid = |b: Option<&&[u8]>| match b {
                    Some(&b"$") => Some(last),
                    Some(b) => parse_id(b),
                    None => None,
                };
                let entries_read = a
                    .iter()
                    .position(|x| x.eq_ignore_ascii_case(b"ENTRIESREAD"))
                    .and_then(|i| a.get(i + 1))
                    .and_then(|v| std::str::from_utf8(v).ok()?.parse::<i64>().ok())
                    .map(|v| if v < 0 { u64::MAX } else { v as u64 });
                match sub.as_str() {
                    "CREATE" => {
                        let id = pid(a.get(3))
                            .ok_or_else(|| ReplayError("XGROUP CREATE: bad id".into()))?;
                        s.groups.entry(group.to_vec()).or_insert(MGroup {
                            last_delivered_id: id,
                            entries_read,
                            ..MGroup::default()
                        });
                    }
                    "SETID" => {
                        if let Some(g) = s.groups.get_mut(group) {
                            g.last_delivered_id = pid(a.get(3))
                                .ok_or_else(|| ReplayError("XGROUP SETID: bad id".into()))?;
                            g.entries_read = entries_read.or(g.entries_read);
                        }
                    }
                    "DESTROY" => {
                        s.groups.remove(group);
                    }
                    "CREATECONSUMER" => {
                        if let (Some(g), Some(c)) = (s.groups.get_mut(group), a.get(3)) {
                            g.consumers.insert(c.to_vec(), ());
                        }
                    }
                    "DELCONSUMER" => {
                        if let (Some(g), Some(c)) = (s.groups.get_mut(group), a.get(3)) {
                            g.consumers.remove(*c);
                            g.pel.retain(|_, p| p.0.as_slice() != *c);
                        }
                    }
                    other => {
                        return Err(ReplayError(format!(
                            "XGROUP {other} is not supported by the AOF replay"
                        )))
                    }
                }
            }
            "XDEL" => {
                need(2)?;
                if let Some(MKey {
                    value: MValue::Stream(s),
                    ..
                }) = self.db().get_mut(a[0])
                {
                    for idb in &a[1..] {
                        if let Some(id) = parse_id(idb) {
                            let before = s.entries.len();
                            s.entries.retain(|(e, _)| *e != id);
                            if s.entries.len() < before {
                                s.length = s.length.saturating_sub(1);
                                if s.max_deleted_id.is_none_or(|m| m < id) {
                                    s.max_deleted_id = Some(id);
                                }
                            }
                        }
                    }
                    s.first_id = s.entries.first().map(|e| e.0).or(Some(StreamId::default()));
                }
            }
            "FUNCTION" => {
                need(1)?;
                let sub = String::from_utf8_lossy(a[0]).to_ascii_uppercase();
                match sub.as_str() {
                    "LOAD" => {
                        let code = a.last().copied().unwrap_or_default();
                        let name = |c: &[u8]| crate::cmd::info::library_name(c);
                        let n = name(code);
                        self.ds.functions.retain(|f| name(f) != n);
                        self.ds.functions.push(code.to_vec());
                    }
                    "FLUSH" => self.ds.functions.clear(),
                    "DELETE" => {
                        let n = String::from_utf8_lossy(a.get(1).copied().unwrap_or_default())
                            .into_owned();
                        self.ds
                            .functions
                            .retain(|f| crate::cmd::info::library_name(f) != n);
                    }
                    other => {
                        return Err(ReplayError(format!(
                            "FUNCTION {other} is not supported by the AOF replay"
                        )))
                    }
                }
            }
            other => {
                return Err(ReplayError(format!(
                    "command {other} is not supported by the AOF replay (supported: {SUPPORTED})"
                )))
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(r: &mut Replayer, cmds: &[&[&str]]) {
        for c in cmds {
            let a: Vec<&[u8]> = c.iter().map(|s| s.as_bytes()).collect();
            r.apply(&a).unwrap();
        }
    }

    #[test]
    fn replay_basic() {
        let mut r = Replayer::new(1000);
        run(
            &mut r,
            &[
                &["SELECT", "1"],
                &["SET", "a", "1", "PXAT", "5000"],
                &["RPUSH", "l", "x", "y"],
                &["LPUSH", "l", "w"],
                &["HSET", "h", "f", "v"],
                &["ZADD", "z", "1.5", "m"],
                &["SADD", "s", "b", "a"],
                &["XADD", "st", "1-1", "f", "v"],
                &["SELECT", "0"],
                &["SET", "gone", "x"],
                &["DEL", "gone"],
            ],
        );
        let db1 = &r.ds.dbs[&1];
        assert_eq!(db1[b"a".as_slice()].expire_ms, Some(5000));
        assert_eq!(
            db1[b"l".as_slice()].value,
            MValue::List(vec![b"w".to_vec(), b"x".to_vec(), b"y".to_vec()])
        );
        assert!(r.ds.dbs[&0].is_empty());
        let err = r
            .apply(&[b"LINSERT", b"l", b"BEFORE", b"x", b"y"])
            .unwrap_err();
        assert!(err.0.contains("LINSERT"), "{err}");
    }
}
