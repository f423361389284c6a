//! The direct stream re-encoder: a stream (RDB 9 `STREAM_LISTPACKS`, 10 `_2`, 11+ `_3`)
//! written for another stream format by copying its nodes as they are stored and rewriting
//! only the metadata around them, without an [`OwnedValue`](crate::OwnedValue) between.
//!
//! The node listpacks are the same format in the three stream types (Redis 5.0 to 8.x
//! `rdbSaveObject` writes each rax node as `16-byte master ID | listpack string`, and
//! `rdbLoadObject` reads them the same way for the three types): a downgrade or upgrade
//! changes only the metadata after them (7.0's first/max-deleted ID and entries-added, the
//! groups' entries-read, 7.2's consumer active time). So the node keys and their stored
//! strings (LZF-compressed or not, deleted entries and master entry included) are copied byte
//! for byte, as the source's server saved them — what any target's `SAVE` of the same nodes
//! writes, since a server saves its in-memory nodes as they are and loads nodes of any size.
//! The metadata is written by the rules of [`encode_value`](super::encode_value) after
//! [`strip`](super::strip): the same fields, defaults and loss
//! ([`Loss::StreamMeta`] when the source's format is newer than the target's).
//!
//! The value is first walked deep by the decoder ([`Value::visit`] with `deep`: every node
//! checked in one walk of its listpack — every entry and backlen, the master entry, the
//! counts, ascending IDs within and across nodes — and the groups' PELs; the entries are not
//! handed over unless a v1 source's first ID is needed). When the deep walk refuses, the
//! shallow walk of [`Value::to_owned_value`](crate::Value::to_owned_value) decides: a
//! damaged stream fails with its error at its offset, and nothing is written; a stream it
//! accepts is declined (copying its nodes would copy the damage), and the `OwnedValue` path
//! writes it anew from its entries, as before. (Until session 8 the shallow walk decoded
//! every entry, then each node was decompressed again for its deep check.)

use super::encode::{stream_type, types, write_id_lens, Loss};
use super::lzf::encode_string;
use super::target::Target;
use crate::cursor::Cursor;
use crate::entry::Entry;
use crate::length::{encode_len, read_count};
use crate::string::read_string;
use crate::types::{GroupMeta, StreamId, StreamMeta};
use crate::value::Value;
use crate::visit::{Scratch, VisitResult, Visitor};

/// Buffers reused from stream to stream.
#[derive(Default, Debug)]
pub(crate) struct StreamBufs {
    /// Stream metadata (length, IDs), then the group count.
    meta: Vec<u8>,
    /// The consumer groups as written.
    groups: Vec<u8>,
    /// The current group's PEL entries.
    pel: Vec<u8>,
    /// The current group's consumers.
    consumers: Vec<u8>,
    /// The current consumer's PEL IDs.
    cpel: Vec<u8>,
}

/// Collects the metadata of a stream being walked, written for the target's stream format.
struct Meta<'a> {
    /// The source's stream format (1-3).
    sv: u8,
    /// The target's stream format (1-3).
    tv: u8,
    compress: bool,
    b: &'a mut StreamBufs,
    /// The first live entry (a v1 source's first ID for a v2+ target).
    first_live: Option<StreamId>,
    groups: u64,
    pel: u64,
    consumers: u64,
    /// The current consumer's PEL size (`None`: no consumer open).
    cpel: Option<u64>,
    /// Whether the walk must hand over the entries (only the first live entry's ID is used:
    /// a v1 source's first ID for a v2+ target).
    content: bool,
}

impl Meta<'_> {
    /// Closes the current consumer (its PEL size, then its PEL IDs).
    fn end_consumer(&mut self) {
        if let Some(n) = self.cpel.take() {
            encode_len(n, &mut self.b.consumers);
            self.b.consumers.extend_from_slice(&self.b.cpel);
            self.b.cpel.clear();
        }
    }
}

impl Visitor for Meta<'_> {
    fn wants_content(&self) -> bool {
        self.content
    }
    fn stream_entry(&mut self, id: StreamId) -> VisitResult {
        if self.first_live.is_none() {
            self.first_live = Some(id);
        }
        Ok(())
    }
    fn stream_field(&mut self, _: Entry<'_>, _: Entry<'_>) -> VisitResult {
        Ok(())
    }
    fn stream_meta(&mut self, m: &StreamMeta) -> VisitResult {
        // As `strip` then `encode_stream`: 7.0's fields kept from a v2+ source, derived for
        // a v1 source (what Redis 7.0's loader derives for a type-15 stream).
        let out = &mut self.b.meta;
        encode_len(m.length, out);
        write_id_lens(m.last_id, out);
        if self.tv >= 2 {
            let keep = self.sv >= 2;
            let first = m
                .first_id
                .filter(|_| keep)
                .unwrap_or_else(|| self.first_live.unwrap_or_default());
            write_id_lens(first, out);
            write_id_lens(m.max_deleted_id.filter(|_| keep).unwrap_or_default(), out);
            encode_len(m.entries_added.filter(|_| keep).unwrap_or(m.length), out);
        }
        Ok(())
    }
    fn stream_group(&mut self, g: &GroupMeta<'_>) -> VisitResult {
        self.groups += 1;
        let out = &mut self.b.groups;
        encode_string(g.name, self.compress, out);
        write_id_lens(g.last_delivered_id, out);
        if self.tv >= 2 {
            let read = g.entries_read.filter(|_| self.sv >= 2);
            encode_len(read.unwrap_or(u64::MAX), out);
        }
        self.pel = 0;
        self.consumers = 0;
        self.b.pel.clear();
        self.b.consumers.clear();
        Ok(())
    }
    fn stream_pel(&mut self, id: StreamId, delivery_time_ms: i64, count: u64) -> VisitResult {
        self.pel += 1;
        let out = &mut self.b.pel;
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&delivery_time_ms.to_le_bytes());
        encode_len(count, out);
        Ok(())
    }
    fn stream_consumer(&mut self, name: &[u8], seen: i64, active: Option<i64>) -> VisitResult {
        self.end_consumer();
        self.consumers += 1;
        let out = &mut self.b.consumers;
        encode_string(name, self.compress, out);
        out.extend_from_slice(&seen.to_le_bytes());
        if self.tv >= 3 {
            let active = active.filter(|_| self.sv >= 3).unwrap_or(seen);
            out.extend_from_slice(&active.to_le_bytes());
        }
        self.cpel = Some(0);
        Ok(())
    }
    fn stream_consumer_pel(&mut self, id: StreamId) -> VisitResult {
        if let Some(n) = self.cpel.as_mut() {
            *n += 1;
        }
        self.b.cpel.extend_from_slice(&id.to_be_bytes());
        Ok(())
    }
    fn stream_group_end(&mut self) -> VisitResult {
        self.end_consumer();
        let b = &mut *self.b;
        encode_len(self.pel, &mut b.groups);
        b.groups.extend_from_slice(&b.pel);
        encode_len(self.consumers, &mut b.groups);
        b.groups.extend_from_slice(&b.consumers);
        Ok(())
    }
}

/// A [`Meta`] collector for a new walk (its buffers cleared).
fn meta(sv: u8, tv: u8, compress: bool, b: &mut StreamBufs, content: bool) -> Meta<'_> {
    b.meta.clear();
    b.groups.clear();
    b.cpel.clear();
    Meta {
        sv,
        tv,
        compress,
        b,
        first_live: None,
        groups: 0,
        pel: 0,
        consumers: 0,
        cpel: None,
        content,
    }
}

/// What [`transcode`] did.
pub(crate) enum Outcome {
    /// Written (the type byte), with the loss stripped if any.
    Written(u8, Option<Loss>),
    /// Not a stream this path writes: nothing written.
    Declined,
}

/// Writes stream `v` for target `t` into `out` (the value's bytes, after the key): its
/// nodes as stored, its metadata as [`encode_value`](super::encode_value) writes it after
/// [`strip`](super::strip). Declines a value that is not a stream of format 1-3 (Redis 8.6's
/// IDMP and 8.8's NACK zone streams take the `OwnedValue` path), a target without streams, a
/// node that fails the deep check, and a compressed node when `compress` is off. A decoding error is the one [`Value::to_owned_value`](crate::Value::to_owned_value)
/// gives; on an error or [`Outcome::Declined`] `out` is left as it was.
pub(crate) fn transcode(
    v: &Value<'_>,
    t: &Target,
    compress: bool,
    scratch: &mut Scratch,
    bufs: &mut StreamBufs,
    out: &mut Vec<u8>,
) -> crate::Result<Outcome> {
    let sv = match v.type_byte {
        types::STREAM_LISTPACKS => 1,
        types::STREAM_LISTPACKS_2 => 2,
        types::STREAM_LISTPACKS_3 => 3,
        _ => return Ok(Outcome::Declined),
    };
    let tv = t.stream_version();
    if tv == 0 || v.streamed.is_some() {
        return Ok(Outcome::Declined);
    }
    // The deep walk: every node checked in one walk of its listpack (its entries skipped
    // unless a v1 source's first ID is needed), the nodes in order, the groups' PELs. When it
    // refuses, the shallow walk (what `to_owned_value` does) decides: its error, or a stream
    // it accepts but whose damage copying would copy — declined, rebuilt by the `OwnedValue`
    // path from its entries.
    let mut m = meta(sv, tv, compress, bufs, sv == 1 && tv >= 2);
    if v.visit(scratch, &mut m, true).is_err() {
        let mut m = meta(sv, tv, compress, bufs, true);
        v.visit(scratch, &mut m, false)?;
        return Ok(Outcome::Declined);
    }
    let n_groups = m.groups;
    // The nodes: the node count, then every (key, listpack string) as stored, one span.
    let mut c = Cursor::new(v.data, v.offset);
    let n = read_count(&mut c, "stream listpack count", 2)?;
    let start = c.pos();
    for _ in 0..n {
        read_string(&mut c, "stream node key")?;
        let lp = read_string(&mut c, "stream listpack")?;
        // Without compression (`rdbcompression no`) a compressed node is not copied.
        if !compress && lp.is_compressed() {
            return Ok(Outcome::Declined);
        }
    }
    encode_len(n, out);
    out.extend_from_slice(&v.data[start..c.pos()]);
    out.extend_from_slice(&bufs.meta);
    encode_len(n_groups, out);
    out.extend_from_slice(&bufs.groups);
    let loss = (sv > tv).then_some(Loss::StreamMeta);
    Ok(Outcome::Written(stream_type(tv), loss))
}
