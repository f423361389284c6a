//! The value-recording visitor: [`Recorder`] keeps, owned and in order, everything a
//! [`Visitor`] is told about a value ([`Ev`]), so that two decodes of one value (mapped and
//! streamed, shallow and deep, before and after a rewrite) compare with `==`, and a test can
//! render what it asserts on.

use rdbkit_rdb::{
    ArrayValue, Entry, GroupMeta, ModuleId, ModuleItem, StreamId, StreamMeta, VisitResult, Visitor,
};

/// One thing a [`Visitor`] was told, owned.
#[derive(Clone, Debug, PartialEq)]
pub enum Ev {
    /// A string value.
    Str(Vec<u8>),
    /// A list or set element.
    Elem(Vec<u8>),
    /// A zset member and the score's bits (so -0.0 and 0.0 differ, and NaN equals itself).
    Zset(Vec<u8>, u64),
    /// A hash field, its value and its field TTL (absolute ms).
    Field(Vec<u8>, Vec<u8>, Option<i64>),
    /// A module value's 64-bit module id.
    ModuleBegin(u64),
    /// A module payload item, as its `Debug` text.
    ModuleItem(String),
    /// A stream entry's ID.
    StreamEntry(StreamId),
    /// A field and value of the current stream entry.
    StreamField(Vec<u8>, Vec<u8>),
    /// A pending entry of a consumer group: ID, delivery time (ms), delivery count.
    StreamPel(StreamId, i64, u64),
    /// An ID a consumer owns in its group's PEL.
    StreamConsumerPel(StreamId),
    /// An ID of a group's NACK zone (RDB type 27).
    StreamNacked(StreamId),
    /// The end of a consumer group.
    StreamGroupEnd,
    /// A sparse array's element count and insert cursor.
    ArrayBegin(u64, Option<u64>),
    /// A sparse array's string element at an index.
    ArrayStr(u64, Vec<u8>),
    /// A sparse array's integer element at an index.
    ArrayInt(u64, i64),
    /// A sparse array's float element at an index (its bits).
    ArrayFloat(u64, u64),
    /// Stream metadata, a group's metadata or a consumer, as `Debug` text.
    Other(String),
}

/// Collects every event of a value walk (every [`Visitor`] callback but `stream_node`, whose
/// node boundaries are the file's layout, not the value).
#[derive(Default, Debug)]
pub struct Recorder {
    /// What the visitor was told, in order.
    pub events: Vec<Ev>,
}

/// An entry's bytes, owned (an integer entry as its decimal text).
pub fn owned(e: Entry<'_>) -> Vec<u8> {
    e.to_cow().into_owned()
}

impl Recorder {
    fn push(&mut self, e: Ev) -> VisitResult {
        self.events.push(e);
        Ok(())
    }
}

impl Visitor for Recorder {
    fn string(&mut self, s: Entry<'_>) -> VisitResult {
        self.push(Ev::Str(owned(s)))
    }
    fn element(&mut self, e: Entry<'_>) -> VisitResult {
        self.push(Ev::Elem(owned(e)))
    }
    fn zset_member(&mut self, member: Entry<'_>, score: f64) -> VisitResult {
        self.push(Ev::Zset(owned(member), score.to_bits()))
    }
    fn hash_field(
        &mut self,
        field: Entry<'_>,
        value: Entry<'_>,
        expire_ms: Option<i64>,
    ) -> VisitResult {
        self.push(Ev::Field(owned(field), owned(value), expire_ms))
    }
    fn module_begin(&mut self, id: ModuleId) -> VisitResult {
        self.push(Ev::ModuleBegin(id.id))
    }
    fn module_item(&mut self, item: ModuleItem<'_>) -> VisitResult {
        self.push(Ev::ModuleItem(format!("{item:?}")))
    }
    fn stream_entry(&mut self, id: StreamId) -> VisitResult {
        self.push(Ev::StreamEntry(id))
    }
    fn stream_field(&mut self, field: Entry<'_>, value: Entry<'_>) -> VisitResult {
        self.push(Ev::StreamField(owned(field), owned(value)))
    }
    fn stream_meta(&mut self, meta: &StreamMeta) -> VisitResult {
        self.push(Ev::Other(format!("{meta:?}")))
    }
    fn stream_group(&mut self, group: &GroupMeta<'_>) -> VisitResult {
        self.push(Ev::Other(format!("{group:?}")))
    }
    fn stream_pel(
        &mut self,
        id: StreamId,
        delivery_time_ms: i64,
        delivery_count: u64,
    ) -> VisitResult {
        self.push(Ev::StreamPel(id, delivery_time_ms, delivery_count))
    }
    fn stream_consumer(
        &mut self,
        name: &[u8],
        seen_time_ms: i64,
        active_time_ms: Option<i64>,
    ) -> VisitResult {
        self.push(Ev::Other(format!(
            "consumer {name:?} {seen_time_ms} {active_time_ms:?}"
        )))
    }
    fn stream_consumer_pel(&mut self, id: StreamId) -> VisitResult {
        self.push(Ev::StreamConsumerPel(id))
    }
    fn stream_nacked(&mut self, id: StreamId) -> VisitResult {
        self.push(Ev::StreamNacked(id))
    }
    fn stream_group_end(&mut self) -> VisitResult {
        self.push(Ev::StreamGroupEnd)
    }
    fn array_begin(&mut self, count: u64, insert_idx: Option<u64>) -> VisitResult {
        self.push(Ev::ArrayBegin(count, insert_idx))
    }
    fn array_element(&mut self, idx: u64, value: ArrayValue<'_>) -> VisitResult {
        self.push(match value {
            ArrayValue::Str(e) => Ev::ArrayStr(idx, owned(e)),
            ArrayValue::Int(i) => Ev::ArrayInt(idx, i),
            ArrayValue::Float(d) => Ev::ArrayFloat(idx, d.to_bits()),
        })
    }
}
