//! The owned logical value of a key: what a value *means*, independent of how the file
//! stored it (ziplist, listpack, intset, quicklist, hash table, ...). Built from any stored
//! [`Value`] with [`Value::to_owned_value`]; written back in any encoding by the `write`
//! module (cargo feature `write`).
//!
//! Containers keep the order the file gave: lists head to tail, sets and hashes in stored
//! order, sorted sets in stored order (see [`Value::zset_needs_sort`]; use
//! [`OwnedValue::normalize`] for a canonical order that compares by content), streams by ID.
//!
//! ```no_run
//! use rdbkit_rdb::{OwnedValue, RdbFile, Options, Record};
//! let file = RdbFile::open("dump.rdb")?;
//! let mut parser = file.parser(Options::default());
//! while let Some(rec) = parser.next() {
//!     if let Record::Key(k) = rec? {
//!         if let OwnedValue::Hash(fields) = k.value.to_owned_value()? {
//!             for f in fields {
//!                 println!("{:?} = {:?} (ttl {:?})", f.field, f.value, f.expire_ms);
//!             }
//!         }
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::entry::Entry;
use crate::error::Result;
use crate::module::{ModuleId, ModuleItem};
use crate::string::RdbString;
use crate::types::{ArrayValue, GroupMeta, StreamId, StreamMeta};
use crate::value::Value;
use crate::visit::{Scratch, VisitResult, Visitor};

/// The logical content of one value.
#[derive(Clone, Debug, PartialEq)]
pub enum OwnedValue {
    /// A string (integers rendered as their decimal text).
    String(Vec<u8>),
    /// List elements, head to tail.
    List(Vec<Vec<u8>>),
    /// Set members, in stored order.
    Set(Vec<Vec<u8>>),
    /// Sorted-set members with their scores, in stored order.
    ZSet(Vec<(Vec<u8>, f64)>),
    /// Hash fields, in stored order, each with its optional field TTL (Redis 7.4+ HFE,
    /// Valkey 9 `HASH_2`).
    Hash(Vec<HashField>),
    /// A stream with its metadata and consumer groups.
    Stream(Box<OwnedStream>),
    /// A module value: its type id and the typed items its `rdb_save` wrote.
    Module(OwnedModule),
    /// A Redis 8.8 sparse array.
    Array(OwnedArray),
}

/// One hash field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashField {
    /// The field name.
    pub field: Vec<u8>,
    /// Its value.
    pub value: Vec<u8>,
    /// Absolute field expiry in Unix ms, when the field has a TTL.
    pub expire_ms: Option<i64>,
}

/// One stream entry: its ID and field/value pairs.
pub type StreamEntryOwned = (StreamId, Vec<(Vec<u8>, Vec<u8>)>);

/// A stream: live entries by ID, metadata and consumer groups.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnedStream {
    /// Live (not deleted) entries in ID order: ID and field/value pairs.
    pub entries: Vec<StreamEntryOwned>,
    /// Length, last ID and (v2+) first ID, max deleted ID, entries added; `version` is the
    /// stream format generation the source stored.
    pub meta: StreamMeta,
    /// Consumer groups in stored order.
    pub groups: Vec<OwnedGroup>,
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedGroup {
    /// Group name.
    pub name: Vec<u8>,
    /// Last delivered ID.
    pub last_delivered_id: StreamId,
    /// Entries read (v2+; `Some(u64::MAX)` is Redis's "unknown").
    pub entries_read: Option<u64>,
    /// The group's pending entries list, in stored (ID) order.
    pub pel: Vec<PendingEntry>,
    /// Consumers in stored order.
    pub consumers: Vec<OwnedConsumer>,
    /// Redis 8.8 (stream v5) NACK zone: pending IDs owned by no consumer.
    pub nacked: Vec<StreamId>,
}

/// One entry of a group's PEL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingEntry {
    /// The pending entry's ID.
    pub id: StreamId,
    /// Last delivery time, Unix ms.
    pub delivery_time_ms: i64,
    /// Delivery count.
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedConsumer {
    /// Consumer name.
    pub name: Vec<u8>,
    /// Seen time, Unix ms.
    pub seen_time_ms: i64,
    /// Active time (stream v3+), Unix ms.
    pub active_time_ms: Option<i64>,
    /// IDs this consumer owns (each also in the group PEL).
    pub pel: Vec<StreamId>,
}

/// A module value: type id and payload items.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnedModule {
    /// Module type name and encoding version.
    pub id: ModuleId,
    /// The items in the order the module saved them.
    pub items: Vec<OwnedModuleItem>,
}

/// One typed module payload item.
#[derive(Clone, Debug, PartialEq)]
pub enum OwnedModuleItem {
    /// `RM_SaveSigned` (SINT opcode).
    Signed(i64),
    /// `RM_SaveUnsigned` (UINT opcode).
    Unsigned(u64),
    /// `RM_SaveFloat`.
    Float(f32),
    /// `RM_SaveDouble`.
    Double(f64),
    /// `RM_SaveStringBuffer` / `RM_SaveString` (integers rendered as text).
    String(Vec<u8>),
}

/// A Redis 8.8 sparse array.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnedArray {
    /// The last insert position, when the array has one.
    pub insert_idx: Option<u64>,
    /// (index, element) in stored order.
    pub elements: Vec<(u64, OwnedArrayValue)>,
}

/// One array element.
#[derive(Clone, Debug, PartialEq)]
pub enum OwnedArrayValue {
    /// A string.
    Str(Vec<u8>),
    /// An integer.
    Int(i64),
    /// A double.
    Float(f64),
}

impl OwnedValue {
    /// Redis's family name (`TYPE key`): `string`, `list`, `set`, `zset`, `hash`, `stream`,
    /// `module`, `array`.
    pub fn family(&self) -> &'static str {
        match self {
            OwnedValue::String(_) => "string",
            OwnedValue::List(_) => "list",
            OwnedValue::Set(_) => "set",
            OwnedValue::ZSet(_) => "zset",
            OwnedValue::Hash(_) => "hash",
            OwnedValue::Stream(_) => "stream",
            OwnedValue::Module(_) => "module",
            OwnedValue::Array(_) => "array",
        }
    }

    /// Element count: string length, list/set/zset/hash size, stream length, module items,
    /// array elements.
    pub fn len(&self) -> usize {
        match self {
            OwnedValue::String(s) => s.len(),
            OwnedValue::List(l) | OwnedValue::Set(l) => l.len(),
            OwnedValue::ZSet(z) => z.len(),
            OwnedValue::Hash(h) => h.len(),
            OwnedValue::Stream(s) => s.entries.len(),
            OwnedValue::Module(m) => m.items.len(),
            OwnedValue::Array(a) => a.elements.len(),
        }
    }

    /// True when [`len`](Self::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True for a hash with at least one field TTL.
    pub fn has_field_ttl(&self) -> bool {
        matches!(self, OwnedValue::Hash(h) if h.iter().any(|f| f.expire_ms.is_some()))
    }

    /// Puts unordered containers in a canonical order so that two values compare equal when
    /// their content is: sets and hashes by bytes, sorted sets by rank (score, then member),
    /// groups, consumers and PELs by name/ID.
    pub fn normalize(&mut self) {
        match self {
            OwnedValue::Set(s) => s.sort(),
            OwnedValue::Hash(h) => h.sort_by(|a, b| a.field.cmp(&b.field)),
            OwnedValue::ZSet(z) => sort_zset(z),
            OwnedValue::Stream(s) => {
                s.groups.sort_by(|a, b| a.name.cmp(&b.name));
                for g in &mut s.groups {
                    g.pel.sort_by_key(|p| p.id);
                    g.nacked.sort();
                    g.consumers.sort_by(|a, b| a.name.cmp(&b.name));
                    for c in &mut g.consumers {
                        c.pel.sort();
                    }
                }
            }
            _ => {}
        }
    }
}

/// Sorts sorted-set members into rank order (score, then member bytes), as the server's
/// skiplist and listpack hold them.
pub fn sort_zset(z: &mut [(Vec<u8>, f64)]) {
    z.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
}

impl Value<'_> {
    /// Decodes the whole value into an [`OwnedValue`] (shallow validation; errors carry the
    /// byte offset).
    pub fn to_owned_value(&self) -> Result<OwnedValue> {
        self.to_owned_value_in(&mut Scratch::new())
    }

    /// [`to_owned_value`](Self::to_owned_value) reusing `scratch` for LZF-compressed data.
    pub fn to_owned_value_in(&self, scratch: &mut Scratch) -> Result<OwnedValue> {
        let mut b = Builder::new(self.ty.family());
        self.visit(scratch, &mut b, false)?;
        Ok(b.finish())
    }
}

fn own(e: Entry<'_>) -> Vec<u8> {
    e.to_cow().into_owned()
}

/// The visitor that builds an [`OwnedValue`].
struct Builder {
    value: OwnedValue,
}

impl Builder {
    fn new(family: &str) -> Builder {
        let value = match family {
            "string" => OwnedValue::String(Vec::new()),
            "list" => OwnedValue::List(Vec::new()),
            "set" => OwnedValue::Set(Vec::new()),
            "zset" => OwnedValue::ZSet(Vec::new()),
            "hash" => OwnedValue::Hash(Vec::new()),
            "stream" => OwnedValue::Stream(Box::new(OwnedStream {
                entries: Vec::new(),
                meta: StreamMeta {
                    version: 1,
                    length: 0,
                    last_id: StreamId::default(),
                    first_id: None,
                    max_deleted_id: None,
                    entries_added: None,
                },
                groups: Vec::new(),
            })),
            "array" => OwnedValue::Array(OwnedArray {
                insert_idx: None,
                elements: Vec::new(),
            }),
            _ => OwnedValue::Module(OwnedModule {
                id: ModuleId { id: 0 },
                items: Vec::new(),
            }),
        };
        Builder { value }
    }

    fn finish(self) -> OwnedValue {
        self.value
    }

    fn stream(&mut self) -> Option<&mut OwnedStream> {
        match &mut self.value {
            OwnedValue::Stream(s) => Some(s),
            _ => None,
        }
    }

    fn group(&mut self) -> Option<&mut OwnedGroup> {
        self.stream().and_then(|s| s.groups.last_mut())
    }
}

impl Visitor for Builder {
    fn string(&mut self, s: Entry<'_>) -> VisitResult {
        self.value = OwnedValue::String(own(s));
        Ok(())
    }
    fn element(&mut self, e: Entry<'_>) -> VisitResult {
        if let OwnedValue::List(l) | OwnedValue::Set(l) = &mut self.value {
            l.push(own(e));
        }
        Ok(())
    }
    fn zset_member(&mut self, m: Entry<'_>, score: f64) -> VisitResult {
        if let OwnedValue::ZSet(z) = &mut self.value {
            z.push((own(m), score));
        }
        Ok(())
    }
    fn hash_field(&mut self, f: Entry<'_>, v: Entry<'_>, expire_ms: Option<i64>) -> VisitResult {
        if let OwnedValue::Hash(h) = &mut self.value {
            h.push(HashField {
                field: own(f),
                value: own(v),
                expire_ms,
            });
        }
        Ok(())
    }
    fn module_begin(&mut self, id: ModuleId) -> VisitResult {
        if let OwnedValue::Module(m) = &mut self.value {
            m.id = id;
        }
        Ok(())
    }
    fn module_item(&mut self, item: ModuleItem<'_>) -> VisitResult {
        if let OwnedValue::Module(m) = &mut self.value {
            m.items.push(match item {
                ModuleItem::Signed(v) => OwnedModuleItem::Signed(v),
                ModuleItem::Unsigned(v) => OwnedModuleItem::Unsigned(v),
                ModuleItem::Float(f) => OwnedModuleItem::Float(f),
                ModuleItem::Double(d) => OwnedModuleItem::Double(d),
                ModuleItem::String(RdbString::Raw(b)) => OwnedModuleItem::String(b.to_vec()),
                ModuleItem::String(RdbString::Int(i)) => {
                    OwnedModuleItem::String(i.to_string().into_bytes())
                }
                ModuleItem::String(RdbString::Lzf { .. }) => {
                    // The walker decompresses module strings before calling the visitor.
                    return Err("module string still compressed".into());
                }
            });
        }
        Ok(())
    }
    fn stream_entry(&mut self, id: StreamId) -> VisitResult {
        if let Some(s) = self.stream() {
            s.entries.push((id, Vec::new()));
        }
        Ok(())
    }
    fn stream_field(&mut self, f: Entry<'_>, v: Entry<'_>) -> VisitResult {
        if let Some((_, fv)) = self.stream().and_then(|s| s.entries.last_mut()) {
            fv.push((own(f), own(v)));
        }
        Ok(())
    }
    fn stream_meta(&mut self, meta: &StreamMeta) -> VisitResult {
        if let Some(s) = self.stream() {
            s.meta = *meta;
        }
        Ok(())
    }
    fn stream_group(&mut self, g: &GroupMeta<'_>) -> VisitResult {
        if let Some(s) = self.stream() {
            s.groups.push(OwnedGroup {
                name: g.name.to_vec(),
                last_delivered_id: g.last_delivered_id,
                entries_read: g.entries_read,
                pel: Vec::new(),
                consumers: Vec::new(),
                nacked: Vec::new(),
            });
        }
        Ok(())
    }
    fn stream_pel(
        &mut self,
        id: StreamId,
        delivery_time_ms: i64,
        delivery_count: u64,
    ) -> VisitResult {
        if let Some(g) = self.group() {
            g.pel.push(PendingEntry {
                id,
                delivery_time_ms,
                delivery_count,
            });
        }
        Ok(())
    }
    fn stream_consumer(
        &mut self,
        name: &[u8],
        seen_time_ms: i64,
        active_time_ms: Option<i64>,
    ) -> VisitResult {
        if let Some(g) = self.group() {
            g.consumers.push(OwnedConsumer {
                name: name.to_vec(),
                seen_time_ms,
                active_time_ms,
                pel: Vec::new(),
            });
        }
        Ok(())
    }
    fn stream_consumer_pel(&mut self, id: StreamId) -> VisitResult {
        if let Some(c) = self.group().and_then(|g| g.consumers.last_mut()) {
            c.pel.push(id);
        }
        Ok(())
    }
    fn stream_nacked(&mut self, id: StreamId) -> VisitResult {
        if let Some(g) = self.group() {
            g.nacked.push(id);
        }
        Ok(())
    }
    fn array_begin(&mut self, _count: u64, insert_idx: Option<u64>) -> VisitResult {
        if let OwnedValue::Array(a) = &mut self.value {
            a.insert_idx = insert_idx;
        }
        Ok(())
    }
    fn array_element(&mut self, idx: u64, v: ArrayValue<'_>) -> VisitResult {
        if let OwnedValue::Array(a) = &mut self.value {
            a.elements.push((
                idx,
                match v {
                    ArrayValue::Str(e) => OwnedArrayValue::Str(own(e)),
                    ArrayValue::Int(i) => OwnedArrayValue::Int(i),
                    ArrayValue::Float(f) => OwnedArrayValue::Float(f),
                },
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{Options, RdbParser, Record};
    use std::path::PathBuf;

    fn testdata() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rdb")
    }

    /// Every key of the sample file decodes into an owned value of its own family, with the
    /// element counts of the ground truth.
    #[test]
    fn sample_file_owned_values_match_ground_truth() {
        let dir = testdata();
        let data = std::fs::read(dir.join("sample.rdb")).expect("testdata/rdb/sample.rdb");
        let truth = std::fs::read_to_string(dir.join("sample.expected.jsonl")).unwrap();
        let mut expected = std::collections::BTreeMap::new();
        for line in truth.lines() {
            let j: serde_json::Value = serde_json::from_str(line).unwrap();
            let key = j["key"].as_str().map(|s| s.as_bytes().to_vec());
            let n = match &j["value"] {
                serde_json::Value::Array(a) => Some(a.len()),
                serde_json::Value::String(s) => Some(s.len()),
                _ => None,
            };
            if let Some(k) = key {
                expected.insert(
                    (j["db"].as_u64().unwrap(), k),
                    (j["type"].as_str().unwrap().to_string(), n),
                );
            }
        }
        let mut p = RdbParser::new(&data, Options::default());
        let mut seen = 0;
        while let Some(rec) = p.next() {
            if let Record::Key(k) = rec.unwrap() {
                let v = k.value.to_owned_value().unwrap();
                assert_eq!(v.family(), k.value.ty.family());
                if let Some((ty, n)) = expected.get(&(k.db, k.key.to_vec())) {
                    assert_eq!(ty, v.family());
                    if let (Some(n), false) = (n, ty == "stream") {
                        assert_eq!(*n, v.len(), "key {:?}", String::from_utf8_lossy(k.key));
                    }
                    seen += 1;
                }
            }
        }
        assert!(seen > 5, "only {seen} keys compared");
    }
}
