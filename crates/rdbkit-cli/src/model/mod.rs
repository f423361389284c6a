//! An in-memory model of a data set: keys with owned values, built from RDB records (one key at
//! a time, for `dump --format resp`) or from a whole file (for `diff`), or by replaying an AOF's
//! write commands. Containers are kept in the form that compares by content: sets and hashes
//! sorted by bytes, zsets by member, streams with their groups by name.
//!
//! The library's [`OwnedValue`] is the model's currency at its edges: an RDB value comes in
//! only as `Value::to_owned_value` → [`MValue::from`], and goes out to the writer only as
//! [`MValue::to_owned_value`]. Inside, the replay keeps its own mutable containers
//! (`VecDeque` lists pushed on both ends, `BTreeMap` sets/hashes/zsets updated by member,
//! streams with groups and PELs by name and ID): the library's `Vec`s in file order would make
//! every `SADD`/`HSET`/`ZADD`/`LPUSH` a linear scan or shift. A sparse array's elements are
//! the library's `OwnedArrayValue`; the "value unknown" state ([`MValue::Unknown`]) is the
//! CLI's own.

use std::collections::{BTreeMap, VecDeque};

mod apply;
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
    HashField, KeyRecord, OwnedArray, OwnedConsumer, OwnedGroup, OwnedModuleItem, OwnedStream,
    OwnedValue, PendingEntry, Scratch, StreamId, StreamMeta,
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

/// One element of a sparse array: the library's type.
pub use rdbkit_rdb::OwnedArrayValue as MArrayElem;

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

/// Decodes one RDB key into the model: the library's [`OwnedValue`]
/// (`Value::to_owned_value_in`), taken into the replay's containers by [`MValue::from`].
pub fn from_record(k: &KeyRecord<'_>, scratch: &mut Scratch) -> Result<MKey, rdbkit_rdb::Error> {
    let v = k
        .value
        .to_owned_value_in(scratch)
        .map_err(|e| e.in_key(Some(k.db), k.key))?;
    Ok(MKey {
        value: MValue::from(v),
        expire_ms: k.expire_ms,
    })
}

/// The way in from the library's owned value: containers moved (no byte copied) into the
/// replay's mutable, content-ordered structures; a module's payload rendered as the text it
/// is compared by.
impl From<OwnedValue> for MValue {
    fn from(v: OwnedValue) -> MValue {
        match v {
            OwnedValue::String(s) => MValue::String(s),
            OwnedValue::List(l) => MValue::List(l.into()),
            OwnedValue::Set(s) => MValue::Set(s.into_iter().map(|m| (m, ())).collect()),
            OwnedValue::ZSet(z) => MValue::Zset(z.into_iter().collect()),
            OwnedValue::Hash(h) => MValue::Hash(
                h.into_iter()
                    .map(|f| (f.field, (f.value, f.expire_ms)))
                    .collect(),
            ),
            OwnedValue::Stream(s) => MValue::Stream(Box::new(MStream::from(*s))),
            OwnedValue::Array(a) => MValue::Array {
                insert_idx: a.insert_idx,
                elements: a.elements,
            },
            OwnedValue::Module(m) => MValue::Module {
                name: m.id.name_str(),
                encver: m.id.encver(),
                payload: m
                    .items
                    .into_iter()
                    .map(|item| match item {
                        OwnedModuleItem::Signed(v) => format!("uint {}", v as u64),
                        OwnedModuleItem::Unsigned(v) => format!("uint {v}"),
                        OwnedModuleItem::Float(f) => format!("float {f:?}"),
                        OwnedModuleItem::Double(d) => format!("double {d:?}"),
                        OwnedModuleItem::String(b) => {
                            format!("string {}", crate::escape::bytes(&b))
                        }
                    })
                    .collect(),
            },
        }
    }
}

impl From<OwnedStream> for MStream {
    fn from(s: OwnedStream) -> MStream {
        MStream {
            entries: s.entries,
            length: s.meta.length,
            last_id: s.meta.last_id,
            first_id: s.meta.first_id,
            max_deleted_id: s.meta.max_deleted_id,
            entries_added: s.meta.entries_added,
            groups: s
                .groups
                .into_iter()
                .map(|g| {
                    let mut pel: BTreeMap<StreamId, (Bytes, i64, u64)> = g
                        .pel
                        .iter()
                        .map(|p| (p.id, (Vec::new(), p.delivery_time_ms, p.delivery_count)))
                        .collect();
                    let mut consumers = BTreeMap::new();
                    for c in g.consumers {
                        for id in &c.pel {
                            if let Some(p) = pel.get_mut(id) {
                                p.0.clone_from(&c.name);
                            }
                        }
                        consumers.insert(c.name, ());
                    }
                    (
                        g.name,
                        MGroup {
                            last_delivered_id: g.last_delivered_id,
                            entries_read: g.entries_read,
                            pel,
                            consumers,
                        },
                    )
                })
                .collect(),
        }
    }
}

impl MValue {
    /// The way out to the library's owned value (for the writer: `convert`, `restore`,
    /// `export`): `None` for a module value (a replay holds no payload to write) and for a
    /// value the replay could not reproduce.
    pub fn to_owned_value(&self) -> Option<OwnedValue> {
        Some(match self {
            MValue::Unknown { .. } | MValue::Module { .. } => return None,
            MValue::String(s) => OwnedValue::String(s.clone()),
            MValue::List(l) => OwnedValue::List(l.iter().cloned().collect()),
            MValue::Set(s) => OwnedValue::Set(s.keys().cloned().collect()),
            MValue::Zset(z) => OwnedValue::ZSet(z.iter().map(|(m, s)| (m.clone(), *s)).collect()),
            MValue::Hash(h) => OwnedValue::Hash(
                h.iter()
                    .map(|(f, (v, ttl))| HashField {
                        field: f.clone(),
                        value: v.clone(),
                        expire_ms: *ttl,
                    })
                    .collect(),
            ),
            MValue::Stream(s) => OwnedValue::Stream(Box::new(OwnedStream {
                entries: s.entries.clone(),
                meta: StreamMeta {
                    version: if s.first_id.is_some() { 2 } else { 1 },
                    length: s.length,
                    last_id: s.last_id,
                    first_id: s.first_id,
                    max_deleted_id: s.max_deleted_id,
                    entries_added: s.entries_added,
                },
                groups: s
                    .groups
                    .iter()
                    .map(|(name, g)| OwnedGroup {
                        name: name.clone(),
                        last_delivered_id: g.last_delivered_id,
                        entries_read: g.entries_read,
                        pel: g
                            .pel
                            .iter()
                            .map(|(id, (_, t, n))| PendingEntry {
                                id: *id,
                                delivery_time_ms: *t,
                                delivery_count: *n,
                            })
                            .collect(),
                        consumers: g
                            .consumers
                            .keys()
                            .map(|c| OwnedConsumer {
                                name: c.clone(),
                                seen_time_ms: 0,
                                active_time_ms: None,
                                pel: g
                                    .pel
                                    .iter()
                                    .filter(|(_, (owner, _, _))| owner == c)
                                    .map(|(id, _)| *id)
                                    .collect(),
                            })
                            .collect(),
                        nacked: Vec::new(),
                    })
                    .collect(),
            })),
            MValue::Array {
                insert_idx,
                elements,
            } => OwnedValue::Array(OwnedArray {
                insert_idx: *insert_idx,
                elements: elements.clone(),
            }),
        })
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
