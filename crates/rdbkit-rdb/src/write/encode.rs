//! Re-encoding a logical value ([`OwnedValue`]) into the encoding a target's own `SAVE` would
//! choose with its default thresholds ([`crate::write::Thresholds`]).

use std::fmt;

use super::lzf::{encode_blob, encode_string};
use crate::entry::{parse_canonical_i64, Entry};
use crate::length::encode_len;
use crate::owned::{sort_zset, OwnedArrayValue, OwnedModuleItem, OwnedStream, OwnedValue};
use crate::stream::node::StreamId;
use crate::{intset, listpack, ziplist};

use super::target::Target;

/// Something a target cannot hold. The writer refuses such a value; a caller that accepts the
/// loss calls [`strip`] first (or leaves the key out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Loss {
    /// Hash field TTLs (Redis RDB < 12, Valkey < 9), or a field TTL a Redis target cannot
    /// hold (Valkey 9 keeps any positive 64-bit time; Redis only 1 ..= 2^48-1 ms): the fields
    /// are kept without (those) TTLs.
    FieldTtl,
    /// Stream metadata the target's stream format has no place for (7.0+ first/max-deleted
    /// ID, entries added, group entries-read below RDB 10; consumer active time below RDB
    /// 11; Redis 8.6+ IDMP and 8.8 NACK zones on re-encode): the entries, groups, PELs and
    /// consumers are kept.
    StreamMeta,
    /// A stream for a target without streams (RDB < 9): the key is left out.
    Streams,
    /// A module value (RDB < 8): the key is left out.
    Modules,
    /// A Redis 8.8 array (RDB < 14 or Valkey): the key is left out.
    Arrays,
    /// Function libraries (RDB < 10).
    Functions,
    /// Module AUX data (RDB < 9).
    ModuleAux,
    /// Redis 8.6 key metadata (opcode 243) for a target that has none.
    KeyMeta,
}

impl Loss {
    /// The name used by `rdbkit convert --drop`.
    pub fn name(self) -> &'static str {
        match self {
            Loss::FieldTtl => "field-ttl",
            Loss::StreamMeta => "stream-meta",
            Loss::Streams => "streams",
            Loss::Modules => "modules",
            Loss::Arrays => "arrays",
            Loss::Functions => "functions",
            Loss::ModuleAux => "module-aux",
            Loss::KeyMeta => "key-meta",
        }
    }

    /// Every kind, in a stable order.
    pub const ALL: [Loss; 8] = [
        Loss::FieldTtl,
        Loss::StreamMeta,
        Loss::Streams,
        Loss::Modules,
        Loss::Arrays,
        Loss::Functions,
        Loss::ModuleAux,
        Loss::KeyMeta,
    ];

    /// Parses a [`name`](Self::name).
    pub fn from_name(s: &str) -> Option<Loss> {
        Loss::ALL.into_iter().find(|l| l.name() == s)
    }

    /// True when accepting this loss leaves the whole key out (not just part of it).
    pub fn drops_key(self) -> bool {
        matches!(self, Loss::Streams | Loss::Modules | Loss::Arrays)
    }

    /// What is lost, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Loss::FieldTtl => {
                "hash field TTLs need RDB 12 (Redis 7.4+) or Valkey 9, and Redis holds only \
                 times from 1 to 2^48-1 ms"
            }
            Loss::StreamMeta => "stream metadata the target's stream format cannot hold",
            Loss::Streams => "streams need RDB 9 (Redis 5.0+)",
            Loss::Modules => "module values need RDB 8 (Redis 4.0+)",
            Loss::Arrays => "arrays need RDB 14 (Redis 8.8+)",
            Loss::Functions => "functions need RDB 10 (Redis 7.0+)",
            Loss::ModuleAux => "module AUX data needs RDB 9 (Redis 5.0+)",
            Loss::KeyMeta => "key metadata needs RDB 13 (Redis 8.6+)",
        }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.describe())
    }
}

/// What of `v` the target cannot hold, the first reason found (`None`: it can be written as
/// is).
pub fn loss(v: &OwnedValue, t: &Target) -> Option<Loss> {
    match v {
        OwnedValue::Hash(_) if v.has_field_ttl() && !t.has_field_ttl() => Some(Loss::FieldTtl),
        OwnedValue::Hash(h)
            if !t.is_valkey()
                && h.iter()
                    .any(|f| f.expire_ms.is_some_and(|e| !redis_field_ttl(e))) =>
        {
            Some(Loss::FieldTtl)
        }
        OwnedValue::Stream(s) => {
            let tv = t.stream_version();
            if tv == 0 {
                return Some(Loss::Streams);
            }
            stream_loss(s, tv).then_some(Loss::StreamMeta)
        }
        OwnedValue::Module(_) if !t.has_modules() => Some(Loss::Modules),
        OwnedValue::Array(_) if !t.has_arrays() => Some(Loss::Arrays),
        _ => None,
    }
}

/// A field expiry Redis can hold (`EB_EXPIRE_TIME_MAX` in Redis's `ebuckets.h`; 0 means "no
/// TTL" in listpackex).
fn redis_field_ttl(ms: i64) -> bool {
    (1..=crate::hash::EXPIRE_TIME_MAX).contains(&ms)
}

fn stream_loss(s: &OwnedStream, tv: u8) -> bool {
    let sv = s.meta.version;
    // IDMP (v4+) is not kept by the owned model; a NACK zone (v5) has no place below v5.
    sv >= 4 || s.groups.iter().any(|g| !g.nacked.is_empty()) || sv > tv
}

/// Removes from `v` what the target cannot hold (field TTLs, stream metadata). Returns the
/// loss when the value cannot be written at all ([`Loss::drops_key`]).
pub fn strip(v: &mut OwnedValue, t: &Target) -> Option<Loss> {
    match v {
        OwnedValue::Hash(h) if !t.has_field_ttl() => {
            for f in h.iter_mut() {
                f.expire_ms = None;
            }
            None
        }
        OwnedValue::Hash(h) if !t.is_valkey() => {
            for f in h.iter_mut() {
                if f.expire_ms.is_some_and(|e| !redis_field_ttl(e)) {
                    f.expire_ms = None;
                }
            }
            None
        }
        OwnedValue::Stream(s) => {
            let tv = t.stream_version();
            if tv == 0 {
                return Some(Loss::Streams);
            }
            let sv = s.meta.version.min(3).min(tv);
            s.meta.version = sv;
            for g in &mut s.groups {
                // A NACKed entry is a group PEL entry no consumer owns: below v5 every group
                // PEL entry has a consumer, so it leaves the PEL with the NACK zone.
                if !g.nacked.is_empty() {
                    let nacked: std::collections::HashSet<StreamId> =
                        g.nacked.iter().copied().collect();
                    g.pel.retain(|p| !nacked.contains(&p.id));
                }
                g.nacked.clear();
                if sv < 2 {
                    g.entries_read = None;
                }
                if sv < 3 {
                    for c in &mut g.consumers {
                        c.active_time_ms = None;
                    }
                }
            }
            if sv < 2 {
                s.meta.first_id = None;
                s.meta.max_deleted_id = None;
                s.meta.entries_added = None;
            }
            None
        }
        OwnedValue::Module(_) if !t.has_modules() => Some(Loss::Modules),
        OwnedValue::Array(_) if !t.has_arrays() => Some(Loss::Arrays),
        _ => None,
    }
}

/// RDB value type bytes the writer uses.
pub mod types {
    #![allow(missing_docs)]
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE_2: u8 = 7;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
    pub const VALKEY_HASH_2: u8 = 22;
    pub const HASH_METADATA: u8 = 24;
    pub const HASH_LISTPACK_EX: u8 = 25;
    pub const ARRAY: u8 = 28;
}

/// `EB_EXPIRE_TIME_INVALID`: a listpackex/metadata hash min-expire when no field has a TTL.
const EXPIRE_TIME_INVALID: u64 = 1 << 48;

/// Encodes `v` for target `t` into `out` (the value's bytes, after the key) and returns the
/// type byte. `compress`: LZF-compress strings and blobs over 20 bytes when that pays, as
/// `rdbcompression yes` does. Fails with the [`Loss`] when the target cannot hold `v` (call
/// [`strip`] first to accept it).
pub fn encode_value(
    v: &OwnedValue,
    t: &Target,
    compress: bool,
    out: &mut Vec<u8>,
) -> Result<u8, Loss> {
    if let Some(l) = loss(v, t) {
        return Err(l);
    }
    let th = &t.thresholds;
    let v10 = t.is_valkey() || t.version >= 10;
    Ok(match v {
        OwnedValue::String(s) => {
            encode_string(s, compress, out);
            types::STRING
        }
        OwnedValue::List(l) => encode_list(l, t, compress, out),
        OwnedValue::Set(s) => {
            let all_ints: Option<Vec<i64>> = s.iter().map(|m| parse_canonical_i64(m)).collect();
            match all_ints {
                Some(ints) if s.len() <= th.set_intset_entries => {
                    encode_blob(&intset::encode(&ints), compress, out);
                    types::SET_INTSET
                }
                _ if s.len() <= th.set_listpack_entries
                    && s.iter().all(|m| m.len() <= th.set_listpack_value) =>
                {
                    let items: Vec<&[u8]> = s.iter().map(|m| m.as_slice()).collect();
                    encode_blob(&listpack::encode(&items), compress, out);
                    types::SET_LISTPACK
                }
                _ => {
                    encode_len(s.len() as u64, out);
                    for m in s {
                        encode_string(m, compress, out);
                    }
                    types::SET
                }
            }
        }
        OwnedValue::ZSet(z) => {
            let mut z = z.clone();
            sort_zset(&mut z);
            if z.len() <= th.zset_entries && z.iter().all(|(m, _)| m.len() <= th.zset_value) {
                let texts: Vec<Vec<u8>> = z.iter().map(|(_, s)| score_text(*s)).collect();
                let mut items: Vec<&[u8]> = Vec::with_capacity(z.len() * 2);
                for ((m, _), s) in z.iter().zip(&texts) {
                    items.push(m);
                    items.push(s);
                }
                if v10 {
                    encode_blob(&listpack::encode(&items), compress, out);
                    types::ZSET_LISTPACK
                } else {
                    encode_blob(&ziplist::encode(&items), compress, out);
                    types::ZSET_ZIPLIST
                }
            } else if t.is_valkey() || t.version >= 8 {
                // Redis saves a skiplist from the tail: highest score first.
                encode_len(z.len() as u64, out);
                for (m, s) in z.iter().rev() {
                    encode_string(m, compress, out);
                    out.extend_from_slice(&s.to_le_bytes());
                }
                types::ZSET_2
            } else {
                encode_len(z.len() as u64, out);
                for (m, s) in z.iter().rev() {
                    encode_string(m, compress, out);
                    if s.is_nan() {
                        out.push(253);
                    } else if *s == f64::INFINITY {
                        out.push(254);
                    } else if *s == f64::NEG_INFINITY {
                        out.push(255);
                    } else {
                        let txt = score_text(*s);
                        out.push(txt.len() as u8);
                        out.extend_from_slice(&txt);
                    }
                }
                types::ZSET
            }
        }
        OwnedValue::Hash(h) => {
            let small = h.len() <= th.hash_entries
                && h.iter()
                    .all(|f| f.field.len() <= th.hash_value && f.value.len() <= th.hash_value);
            if v.has_field_ttl() {
                if t.is_valkey() {
                    encode_len(h.len() as u64, out);
                    for f in h {
                        encode_string(&f.field, compress, out);
                        encode_string(&f.value, compress, out);
                        out.extend_from_slice(&f.expire_ms.unwrap_or(-1).to_le_bytes());
                    }
                    return Ok(types::VALKEY_HASH_2);
                }
                let min = h
                    .iter()
                    .filter_map(|f| f.expire_ms)
                    .min()
                    .map_or(EXPIRE_TIME_INVALID, |m| m as u64);
                if small {
                    // rdb.c saves 0 for "no TTL" as a listpackex min-expire.
                    let min = if min == EXPIRE_TIME_INVALID { 0 } else { min };
                    // listpackex keeps fields with a TTL first, by expiry, then the others.
                    let mut order: Vec<_> = h.iter().collect();
                    order.sort_by_key(|f| f.expire_ms.map_or((1, 0), |e| (0, e)));
                    let mut entries: Vec<Entry<'_>> = Vec::with_capacity(h.len() * 3);
                    for f in order {
                        entries.push(Entry::Bytes(&f.field));
                        entries.push(Entry::Bytes(&f.value));
                        entries.push(Entry::Int(f.expire_ms.unwrap_or(0)));
                    }
                    out.extend_from_slice(&min.to_le_bytes());
                    encode_blob(&listpack::encode_entries(&entries), compress, out);
                    types::HASH_LISTPACK_EX
                } else {
                    out.extend_from_slice(&min.to_le_bytes());
                    encode_len(h.len() as u64, out);
                    for f in h {
                        let ttl = match f.expire_ms {
                            None => 0,
                            Some(e) => (e as u64).wrapping_sub(min).wrapping_add(1),
                        };
                        encode_len(ttl, out);
                        encode_string(&f.field, compress, out);
                        encode_string(&f.value, compress, out);
                    }
                    types::HASH_METADATA
                }
            } else if small {
                let mut items: Vec<&[u8]> = Vec::with_capacity(h.len() * 2);
                for f in h {
                    items.push(&f.field);
                    items.push(&f.value);
                }
                if v10 {
                    encode_blob(&listpack::encode(&items), compress, out);
                    types::HASH_LISTPACK
                } else {
                    encode_blob(&ziplist::encode(&items), compress, out);
                    types::HASH_ZIPLIST
                }
            } else {
                encode_len(h.len() as u64, out);
                for f in h {
                    encode_string(&f.field, compress, out);
                    encode_string(&f.value, compress, out);
                }
                types::HASH
            }
        }
        OwnedValue::Stream(s) => encode_stream(s, t, compress, out),
        OwnedValue::Module(m) => {
            encode_len(m.id.id, out);
            for item in &m.items {
                match item {
                    OwnedModuleItem::Signed(x) => {
                        encode_len(crate::module::OP_SINT, out);
                        encode_len(*x as u64, out);
                    }
                    OwnedModuleItem::Unsigned(x) => {
                        encode_len(crate::module::OP_UINT, out);
                        encode_len(*x, out);
                    }
                    OwnedModuleItem::Float(x) => {
                        encode_len(crate::module::OP_FLOAT, out);
                        out.extend_from_slice(&x.to_le_bytes());
                    }
                    OwnedModuleItem::Double(x) => {
                        encode_len(crate::module::OP_DOUBLE, out);
                        out.extend_from_slice(&x.to_le_bytes());
                    }
                    OwnedModuleItem::String(s) => {
                        encode_len(crate::module::OP_STRING, out);
                        encode_string(s, compress, out);
                    }
                }
            }
            encode_len(crate::module::OP_EOF, out);
            types::MODULE_2
        }
        OwnedValue::Array(a) => {
            encode_len(a.elements.len() as u64, out);
            match a.insert_idx {
                None => encode_len(0, out),
                Some(i) => {
                    encode_len(1, out);
                    encode_len(i, out);
                }
            }
            for (idx, e) in &a.elements {
                encode_len(*idx, out);
                match e {
                    OwnedArrayValue::Str(s) => {
                        encode_len(crate::array::TAG_SDS, out);
                        encode_string(s, compress, out);
                    }
                    OwnedArrayValue::Int(i) => {
                        encode_len(crate::array::TAG_INT, out);
                        out.extend_from_slice(&i.to_le_bytes());
                    }
                    OwnedArrayValue::Float(f) => {
                        encode_len(crate::array::TAG_FLOAT, out);
                        out.extend_from_slice(&f.to_le_bytes());
                    }
                }
            }
            types::ARRAY
        }
    })
}

/// A score as text for a ziplist/listpack or a type-3 zset: integers as integers (stored as
/// listpack/ziplist integers, like Redis's `d2string`), others in the shortest form that
/// reads back to the same double.
pub fn score_text(s: f64) -> Vec<u8> {
    score_text_in(s, &mut ScoreBuf::default()).to_vec()
}

/// Room for a score's text ([`score_text_in`]): a plain form longer than 24 bytes is not
/// used, and the exponent form is at most 24 bytes.
#[derive(Default)]
pub(crate) struct ScoreBuf {
    bytes: [u8; 32],
    len: usize,
}

impl fmt::Write for ScoreBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > 24 {
            return Err(fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// [`score_text`] into a buffer: the same bytes, without allocating (the re-encoders write
/// a score per sorted-set member).
pub(crate) fn score_text_in(s: f64, buf: &mut ScoreBuf) -> &[u8] {
    use std::fmt::Write as _;
    if s == f64::INFINITY {
        return b"inf";
    }
    if s == f64::NEG_INFINITY {
        return b"-inf";
    }
    if s.is_nan() {
        return b"nan";
    }
    buf.len = 0;
    if s.fract() == 0.0 && s.abs() < 1e17 && !(s == 0.0 && s.is_sign_negative()) {
        // An integer of at most 18 characters: always fits.
        let _ = write!(buf, "{}", s as i64);
        return &buf.bytes[..buf.len];
    }
    if write!(buf, "{s}").is_err() {
        buf.len = 0;
        // At most 24 bytes ("-1.2345678901234567e-308").
        write!(buf, "{s:e}").expect("an f64 in exponent form fits 24 bytes");
    }
    &buf.bytes[..buf.len]
}

fn encode_list(l: &[Vec<u8>], t: &Target, compress: bool, out: &mut Vec<u8>) -> u8 {
    let th = &t.thresholds;
    let v = if t.is_valkey() { 11 } else { t.version };
    if v < 7 {
        if l.len() <= th.list_ziplist_entries && l.iter().all(|e| e.len() <= th.list_ziplist_value)
        {
            let items: Vec<&[u8]> = l.iter().map(|e| e.as_slice()).collect();
            encode_blob(&ziplist::encode(&items), compress, out);
            return types::LIST_ZIPLIST;
        }
        encode_len(l.len() as u64, out);
        for e in l {
            encode_string(e, compress, out);
        }
        return types::LIST;
    }
    let v2 = v >= 10;
    // Nodes: (plain, elements).
    let mut nodes: Vec<(bool, &[Vec<u8>])> = Vec::new();
    let mut start = 0;
    let mut bytes = 0usize;
    for (i, e) in l.iter().enumerate() {
        if v2 && e.len() >= th.list_plain_threshold {
            if start < i {
                nodes.push((false, &l[start..i]));
            }
            nodes.push((true, &l[i..i + 1]));
            start = i + 1;
            bytes = 0;
            continue;
        }
        // Entry overhead: encoding header + backlen (listpack) or prevlen (ziplist).
        let sz = e.len() + 11;
        if i > start && (bytes + sz > th.list_node_bytes || i - start >= u16::MAX as usize) {
            nodes.push((false, &l[start..i]));
            start = i;
            bytes = 0;
        }
        bytes += sz;
    }
    if start < l.len() {
        nodes.push((false, &l[start..]));
    }
    encode_len(nodes.len() as u64, out);
    for (plain, elems) in nodes {
        let items: Vec<&[u8]> = elems.iter().map(|e| e.as_slice()).collect();
        if v2 {
            encode_len(if plain { 1 } else { 2 }, out);
            if plain {
                encode_blob(items[0], compress, out);
            } else {
                encode_blob(&listpack::encode(&items), compress, out);
            }
        } else {
            encode_blob(&ziplist::encode(&items), compress, out);
        }
    }
    if v2 {
        types::LIST_QUICKLIST_2
    } else {
        types::LIST_QUICKLIST
    }
}

/// A stream ID as two lengths (ms, seq), as the stream metadata stores it.
pub(super) fn write_id_lens(id: StreamId, out: &mut Vec<u8>) {
    encode_len(id.ms, out);
    encode_len(id.seq, out);
}

fn encode_stream(s: &OwnedStream, t: &Target, compress: bool, out: &mut Vec<u8>) -> u8 {
    let th = &t.thresholds;
    let sv = t.stream_version();
    // Nodes of at most stream-node-max-entries entries and about stream-node-max-bytes.
    let mut nodes: Vec<&[crate::owned::StreamEntryOwned]> = Vec::new();
    let mut start = 0;
    let mut bytes = 0usize;
    for (i, (_, fields)) in s.entries.iter().enumerate() {
        let sz: usize = fields
            .iter()
            .map(|(f, v)| f.len() + v.len() + 22)
            .sum::<usize>()
            + 20;
        if i > start && (i - start >= th.stream_node_entries || bytes + sz > th.stream_node_bytes) {
            nodes.push(&s.entries[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += sz;
    }
    if start < s.entries.len() {
        nodes.push(&s.entries[start..]);
    }
    encode_len(nodes.len() as u64, out);
    for node in nodes {
        let master = node[0].0;
        let master_fields: Vec<&[u8]> = node[0].1.iter().map(|(f, _)| f.as_slice()).collect();
        let mut e: Vec<Entry<'_>> = Vec::new();
        e.push(Entry::Int(node.len() as i64));
        e.push(Entry::Int(0));
        e.push(Entry::Int(master_fields.len() as i64));
        e.extend(master_fields.iter().map(|f| Entry::Bytes(f)));
        e.push(Entry::Int(0));
        for (id, fields) in node {
            let same = fields.len() == master_fields.len()
                && fields.iter().zip(&master_fields).all(|((f, _), m)| f == m);
            let flags = if same {
                crate::stream::node::FLAG_SAMEFIELDS
            } else {
                0
            };
            e.push(Entry::Int(flags));
            e.push(Entry::Int(id.ms.wrapping_sub(master.ms) as i64));
            e.push(Entry::Int(id.seq.wrapping_sub(master.seq) as i64));
            if same {
                e.extend(fields.iter().map(|(_, v)| Entry::Bytes(v)));
                e.push(Entry::Int(fields.len() as i64 + 3));
            } else {
                e.push(Entry::Int(fields.len() as i64));
                for (f, v) in fields {
                    e.push(Entry::Bytes(f));
                    e.push(Entry::Bytes(v));
                }
                e.push(Entry::Int(fields.len() as i64 * 2 + 4));
            }
        }
        crate::string::encode_raw(&master.to_be_bytes(), out);
        encode_blob(&listpack::encode_entries(&e), compress, out);
    }
    let m = &s.meta;
    encode_len(m.length, out);
    write_id_lens(m.last_id, out);
    if sv >= 2 {
        // A v1 source: what Redis 7.0's loader derives for a type-15 stream.
        let first = m
            .first_id
            .unwrap_or_else(|| s.entries.first().map(|e| e.0).unwrap_or_default());
        write_id_lens(first, out);
        write_id_lens(m.max_deleted_id.unwrap_or_default(), out);
        encode_len(m.entries_added.unwrap_or(m.length), out);
    }
    encode_len(s.groups.len() as u64, out);
    for g in &s.groups {
        encode_string(&g.name, compress, out);
        write_id_lens(g.last_delivered_id, out);
        if sv >= 2 {
            encode_len(g.entries_read.unwrap_or(u64::MAX), out);
        }
        encode_len(g.pel.len() as u64, out);
        for p in &g.pel {
            out.extend_from_slice(&p.id.to_be_bytes());
            out.extend_from_slice(&p.delivery_time_ms.to_le_bytes());
            encode_len(p.delivery_count, out);
        }
        encode_len(g.consumers.len() as u64, out);
        for c in &g.consumers {
            encode_string(&c.name, compress, out);
            out.extend_from_slice(&c.seen_time_ms.to_le_bytes());
            if sv >= 3 {
                out.extend_from_slice(&c.active_time_ms.unwrap_or(c.seen_time_ms).to_le_bytes());
            }
            encode_len(c.pel.len() as u64, out);
            for id in &c.pel {
                out.extend_from_slice(&id.to_be_bytes());
            }
        }
    }
    stream_type(sv)
}

/// The type byte of stream format `sv` (1-3).
pub(super) fn stream_type(sv: u8) -> u8 {
    match sv {
        1 => types::STREAM_LISTPACKS,
        2 => types::STREAM_LISTPACKS_2,
        _ => types::STREAM_LISTPACKS_3,
    }
}
