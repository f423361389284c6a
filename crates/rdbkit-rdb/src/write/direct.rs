//! Direct re-encoders: a stored hash, sorted set or list written into the ziplist encodings
//! an older target's `SAVE` chooses (hash/zset ziplists, quicklist nodes of ziplists) while
//! the value is walked, entry by entry, without an [`OwnedValue`](crate::OwnedValue) between
//! (a `Vec` per member: allocation and `free` were a quarter of a re-encode).
//!
//! The walk is the decoder's own ([`Value::visit`], shallow), so a damaged value fails with
//! the same error at the same offset as [`Value::to_owned_value`](crate::Value::to_owned_value).
//! The output is the same bytes as [`encode_value`](super::encode_value) of the decoded value:
//! whenever the value would take another path there (a hash or sorted set over the target's
//! ziplist thresholds, a sorted set not stored in score order, a field TTL, a target without
//! these encodings), the walk stops and [`Transcoded::Declined`] tells the caller to take the
//! `OwnedValue` path.
//!
//! Streams (formats 1-3) go to the stream re-encoder (`write/stream.rs`): their nodes are
//! copied as stored and only the metadata is rewritten, so the bytes are not
//! `encode_value`'s (which re-splits the nodes) but decode to the same value, and a loss of
//! stream metadata comes back as [`Transcoded::Stripped`].

use super::encode::types;
use super::lzf::encode_blob;
use super::stream::Outcome;
use super::target::{Target, Thresholds};
use super::transcode::push_score;
use crate::entry::{Entry, IntBuf};
use crate::length::encode_len;
use crate::value::Value;
use crate::visit::{Scratch, VisitResult, Visitor};
use crate::ziplist::Builder;

/// What the direct re-encoder (`transcode`, behind [`RdbWriter::key_value`](super::RdbWriter::key_value)) did with a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transcoded {
    /// The value's bytes were written; its type byte.
    Written(u8),
    /// The value's bytes were written without what the target cannot hold (a stream's
    /// metadata for an older stream format), as [`strip`](super::strip) then
    /// [`encode_value`](super::encode_value) write it; its type byte and the loss, which the
    /// caller accepts or refuses as on the `OwnedValue` path.
    Stripped(u8, super::encode::Loss),
    /// An empty collection (the servers drop them on load): nothing written.
    Empty,
    /// Not a value this path writes (see the module's notes): nothing written; take the
    /// [`OwnedValue`](crate::OwnedValue) path ([`encode_value`](super::encode_value)).
    Declined,
}

/// Buffers reused from value to value.
#[derive(Default, Debug)]
pub(crate) struct Bufs {
    /// The ziplist being built.
    pub(super) zl: Vec<u8>,
    /// A list's finished quicklist nodes (blobs), before their count is known.
    pub(super) nodes: Vec<u8>,
    /// The previous sorted-set member (order check).
    prev: Vec<u8>,
    /// The stream re-encoder's buffers.
    stream: super::stream::StreamBufs,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Hash,
    Zset,
    /// Quicklist (v1) nodes of ziplists.
    List,
}

/// Why the walk stopped on purpose (not a decoding error).
const DECLINED: &str = "declined by the direct re-encoder";

struct Zl<'a> {
    shape: Shape,
    th: &'a Thresholds,
    compress: bool,
    zl: &'a mut Vec<u8>,
    b: Builder,
    nodes: &'a mut Vec<u8>,
    node_count: u64,
    /// List: index of the current node's first element and its estimated bytes.
    node_first: usize,
    node_bytes: usize,
    /// Members (fields, elements) seen.
    members: usize,
    prev: &'a mut Vec<u8>,
    prev_score: f64,
    declined: bool,
}

impl Zl<'_> {
    fn decline(&mut self) -> VisitResult {
        self.declined = true;
        Err(DECLINED.into())
    }

    /// A sorted-set member and its score (`stored`: the entry the score was read from, when
    /// it came from a listpack or ziplist).
    fn zset_pair(&mut self, m: Entry<'_>, score: f64, stored: Option<Entry<'_>>) -> VisitResult {
        if self.shape != Shape::Zset {
            return self.decline();
        }
        self.members += 1;
        let mut ib = IntBuf::default();
        let mb = m.as_bytes(&mut ib);
        if self.members > self.th.zset_entries || mb.len() > self.th.zset_value {
            return self.decline();
        }
        // `encode_value` sorts by (score, member); a value stored in another order is left
        // to it.
        if self.members > 1
            && self
                .prev_score
                .total_cmp(&score)
                .then_with(|| self.prev.as_slice().cmp(mb))
                .is_gt()
        {
            return self.decline();
        }
        self.prev.clear();
        self.prev.extend_from_slice(mb);
        self.prev_score = score;
        self.b.push(self.zl, m);
        push_score(&mut self.b, self.zl, score, stored);
        Ok(())
    }

    /// Finishes the current list node into `nodes` and starts the next one.
    fn end_node(&mut self) {
        self.b.finish(self.zl);
        encode_blob(self.zl, self.compress, self.nodes);
        self.node_count += 1;
        self.zl.clear();
        self.b = Builder::start(self.zl);
    }
}

impl Visitor for Zl<'_> {
    fn string(&mut self, _: Entry<'_>) -> VisitResult {
        self.decline()
    }
    fn element(&mut self, e: Entry<'_>) -> VisitResult {
        if self.shape != Shape::List {
            return self.decline();
        }
        // As `encode_list` splits nodes: an estimated entry size (element + 11), a node
        // closed before an element that would take it over list-max-ziplist-size bytes or
        // past 65 535 elements.
        let i = self.members;
        let sz = e.logical_len() + 11;
        if i > self.node_first
            && (self.node_bytes + sz > self.th.list_node_bytes
                || i - self.node_first >= u16::MAX as usize)
        {
            self.end_node();
            self.node_first = i;
            self.node_bytes = 0;
        }
        self.node_bytes += sz;
        self.b.push(self.zl, e);
        self.members += 1;
        Ok(())
    }
    fn zset_member(&mut self, m: Entry<'_>, score: f64) -> VisitResult {
        self.zset_pair(m, score, None)
    }
    fn zset_member_stored(&mut self, m: Entry<'_>, score: f64, stored: Entry<'_>) -> VisitResult {
        self.zset_pair(m, score, Some(stored))
    }
    fn hash_field(&mut self, f: Entry<'_>, v: Entry<'_>, expire_ms: Option<i64>) -> VisitResult {
        if self.shape != Shape::Hash || expire_ms.is_some() {
            return self.decline();
        }
        self.members += 1;
        if self.members > self.th.hash_entries
            || f.logical_len() > self.th.hash_value
            || v.logical_len() > self.th.hash_value
        {
            return self.decline();
        }
        self.b.push(self.zl, f);
        self.b.push(self.zl, v);
        Ok(())
    }
    fn module_begin(&mut self, _: crate::ModuleId) -> VisitResult {
        self.decline()
    }
    fn stream_entry(&mut self, _: crate::StreamId) -> VisitResult {
        self.decline()
    }
    fn array_begin(&mut self, _: u64, _: Option<u64>) -> VisitResult {
        self.decline()
    }
}

/// Writes `v` for target `t` into `out` (the value's bytes, after the key) the way
/// [`encode_value`](super::encode_value) writes its decoded content, for the cases this
/// path takes: a hash or sorted set small enough for the target's ziplist (targets below
/// RDB 10), a list as quicklist nodes of ziplists (RDB 7-9). A decoding error is the one
/// [`Value::to_owned_value`](crate::Value::to_owned_value) gives; on
/// [`Transcoded::Declined`] or an error `out` is left as it was.
pub(crate) fn transcode(
    v: &Value<'_>,
    t: &Target,
    compress: bool,
    scratch: &mut Scratch,
    bufs: &mut Bufs,
    out: &mut Vec<u8>,
) -> crate::Result<Transcoded> {
    transcode_with(v, t, compress, scratch, bufs, out, true)
}

/// [`transcode`], with (`fast`) or without the listpack → ziplist fast path
/// (`write/transcode.rs`) tried first; without it, every value takes the visitor walk (the
/// reference the fast path is tested against).
pub(super) fn transcode_with(
    v: &Value<'_>,
    t: &Target,
    compress: bool,
    scratch: &mut Scratch,
    bufs: &mut Bufs,
    out: &mut Vec<u8>,
    fast: bool,
) -> crate::Result<Transcoded> {
    if v.ty.family() == "stream" {
        return Ok(
            match super::stream::transcode(v, t, compress, scratch, &mut bufs.stream, out)? {
                Outcome::Written(ty, None) => Transcoded::Written(ty),
                Outcome::Written(ty, Some(l)) => Transcoded::Stripped(ty, l),
                Outcome::Declined => Transcoded::Declined,
            },
        );
    }
    if t.is_valkey() || t.version >= 10 || v.streamed.is_some() {
        return Ok(Transcoded::Declined);
    }
    let shape = match v.ty.family() {
        "hash" => Shape::Hash,
        "zset" => Shape::Zset,
        "list" if t.version >= 7 => Shape::List,
        _ => return Ok(Transcoded::Declined),
    };
    if fast {
        let (zl, nodes) = (&mut bufs.zl, &mut bufs.nodes);
        match super::transcode::listpack_value(v, &t.thresholds, compress, scratch, zl, nodes, out)
        {
            Some(Some(ty)) => return Ok(Transcoded::Written(ty)),
            Some(None) => return Ok(Transcoded::Empty),
            None => {}
        }
    }
    bufs.zl.clear();
    bufs.nodes.clear();
    let b = Builder::start(&mut bufs.zl);
    let mut z = Zl {
        shape,
        th: &t.thresholds,
        compress,
        zl: &mut bufs.zl,
        b,
        nodes: &mut bufs.nodes,
        node_count: 0,
        node_first: 0,
        node_bytes: 0,
        members: 0,
        prev: &mut bufs.prev,
        prev_score: 0.0,
        declined: false,
    };
    if let Err(e) = v.visit(scratch, &mut z, false) {
        return if z.declined {
            Ok(Transcoded::Declined)
        } else {
            Err(e)
        };
    }
    if z.members == 0 {
        return Ok(Transcoded::Empty);
    }
    Ok(Transcoded::Written(match shape {
        Shape::Hash | Shape::Zset => {
            z.b.finish(z.zl);
            encode_blob(z.zl, compress, out);
            if shape == Shape::Hash {
                types::HASH_ZIPLIST
            } else {
                types::ZSET_ZIPLIST
            }
        }
        Shape::List => {
            z.end_node();
            encode_len(z.node_count, out);
            out.extend_from_slice(z.nodes);
            types::LIST_QUICKLIST
        }
    }))
}
