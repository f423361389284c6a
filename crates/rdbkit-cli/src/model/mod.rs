//! An in-memory model of a data set: keys with owned values, built from RDB records (one key at
//! a time, for `dump --format resp`) or from a whole file (for `diff`), or by replaying an AOF's
//! write commands. Containers are kept in the form that compares by content: sets and hashes
//! sorted by bytes, zsets by member, streams with their groups by name.

use std::collections::{BTreeMap, VecDeque};

mod bits;
mod hash;
mod hll;
mod keyspace;
mod list;
mod replay;
mod set;
mod stream;
mod string;
pub mod table;
mod zset;

pub use replay::{parse_size, set_budget, Replayer};

use rdbkit_rdb::{
    ArrayValue, Entry, GroupMeta, KeyRecord, ModuleId, ModuleItem, RdbString, Scratch, StreamId,
    StreamMeta, VisitResult, Visitor,
};

pub type Bytes = Vec<u8>;

#[derive(Clone, Debug, PartialEq)]
pub enum MValue {
    String(Bytes),
    /// A deque: AOFs push on both ends.
    List(VecDeque<Bytes>),
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
    /// A key an AOF command touched whose value cannot be reproduced offline (e.g. a Redis < 5
    /// `EVAL` propagated verbatim): the key exists (or may), its value is not known.
    Unknown {
        /// The key's type when it is known (e.g. the command only works on lists).
        ty: Option<&'static str>,
        /// Why, with the command and where: `EVAL at appendonly.aof:1234`.
        reason: String,
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
            MValue::Unknown { ty, .. } => ty.unwrap_or("unknown"),
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

impl Dataset {
    /// The keys whose value the replay could not reproduce: (db, key, reason).
    pub fn unknown_keys(&self) -> impl Iterator<Item = (u64, &[u8], &str)> {
        self.dbs.iter().flat_map(|(db, keys)| {
            keys.iter().filter_map(move |(k, v)| match &v.value {
                MValue::Unknown { reason, .. } => Some((*db, k.as_slice(), reason.as_str())),
                _ => None,
            })
        })
    }
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
            "list" => MValue::List(VecDeque::new()),
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
            MValue::List(l) => l.push_back(own(e)),
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

/// The library name from a function library's `#!<engine> name=<lib>` first line.
pub fn library_name(code: &[u8]) -> String {
    let first = code.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(first);
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("name="))
        .map(str::to_string)
        .unwrap_or_else(|| "(unnamed)".into())
}
