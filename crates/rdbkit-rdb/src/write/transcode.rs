//! Listpack → ziplist transcoding: the fast path of the direct re-encoder (`write/direct.rs`)
//! for the values a Redis 7+ file stores as listpacks (hashes, sorted sets, quicklist v2
//! nodes) and an older target stores as ziplists.
//!
//! One loop over the source listpack's entries (the decoder's own [`Listpack::iter`], so an
//! entry is read exactly as the decoder reads it) writes each entry straight into the
//! ziplist (`ziplist::Builder`), with none of the walk's per-entry machinery between (visitor
//! calls, the shallow walk's duplicate-check plumbing, per-pair `Result` mapping).
//!
//! It only ever writes what the visitor path (`direct::transcode`) writes: the same
//! thresholds, node splits, score forms and order check, and it gives up — `None`, `out`
//! untouched — on anything it does not prove on the way: a damaged or unusual entry or blob,
//! an odd pair count, a NaN or unparsable score, a value over the target's ziplist limits,
//! a sorted set out of score order, a PLAIN quicklist node. The caller then takes the
//! visitor path from the start of the value, so every error, offset and decline is the one
//! that path gives.

use super::direct::{push_score, Bufs, Transcoded};
use super::encode::types;
use super::lzf::encode_blob;
use super::target::Thresholds;
use crate::entry::{Entry, IntBuf};
use crate::length::encode_len;
use crate::listpack::Listpack;
use crate::quicklist::CONTAINER_PACKED;
use crate::string::RdbString;
use crate::value::Value;
use crate::version::Type;
use crate::visit::Scratch;
use crate::walk::entry_score;
use crate::ziplist::Builder;

/// Whether entry `e`'s logical (decimal for integers) form is at most `max` bytes.
#[inline]
fn fits(e: Entry<'_>, max: usize) -> bool {
    match e {
        Entry::Bytes(b) => b.len() <= max,
        // an i64's decimal form is at most 20 bytes
        Entry::Int(i) => max >= 20 || dec_len(i) <= max,
    }
}

/// Length of `i`'s decimal form (what [`Entry::logical_len`] gives an integer).
#[inline]
fn dec_len(i: i64) -> usize {
    let mut n = i.unsigned_abs();
    let mut len = usize::from(i < 0) + 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// The transcoded value (see the module's notes), or `None`: take the visitor path.
pub(super) fn listpack_value(
    v: &Value<'_>,
    th: &Thresholds,
    compress: bool,
    scratch: &mut Scratch,
    bufs: &mut Bufs,
    out: &mut Vec<u8>,
) -> Option<Transcoded> {
    match v.ty {
        Type::HashListpack | Type::ZsetListpack => {
            let blob = match v.blob()? {
                RdbString::Int(_) => return None,
                s => s.bytes_in(&mut scratch.a, v.offset()).ok()?,
            };
            let lp = Listpack::new(blob).ok()?;
            bufs.zl.clear();
            let mut b = Builder::start(&mut bufs.zl);
            let (members, ty) = if v.ty == Type::HashListpack {
                (hash(lp, th, &mut b, &mut bufs.zl)?, types::HASH_ZIPLIST)
            } else {
                (zset(lp, th, &mut b, &mut bufs.zl)?, types::ZSET_ZIPLIST)
            };
            if members == 0 {
                return Some(Transcoded::Empty);
            }
            b.finish(&mut bufs.zl);
            encode_blob(&bufs.zl, compress, out);
            Some(Transcoded::Written(ty))
        }
        Type::ListQuicklist2 => list(v, th, compress, scratch, bufs, out),
        _ => None,
    }
}

/// A hash's field/value pairs; the number of pairs.
#[inline]
fn hash(lp: Listpack<'_>, th: &Thresholds, b: &mut Builder, zl: &mut Vec<u8>) -> Option<usize> {
    let mut it = lp.iter();
    let mut members = 0;
    while let Some(f) = it.next() {
        let f = f.ok()?;
        let val = it.next()?.ok()?;
        members += 1;
        if members > th.hash_entries || !fits(f, th.hash_value) || !fits(val, th.hash_value) {
            return None;
        }
        b.push(zl, f);
        b.push(zl, val);
    }
    Some(members)
}

/// A sorted set's member/score pairs, in (score, member) order; the number of pairs.
#[inline]
fn zset(lp: Listpack<'_>, th: &Thresholds, b: &mut Builder, zl: &mut Vec<u8>) -> Option<usize> {
    let mut it = lp.iter();
    let mut members = 0;
    let mut prev: Option<(f64, Entry<'_>)> = None;
    while let Some(m) = it.next() {
        let m = m.ok()?;
        let s = it.next()?.ok()?;
        let score = entry_score(s, 0).ok()?;
        if score.is_nan() {
            return None;
        }
        members += 1;
        if members > th.zset_entries || !fits(m, th.zset_value) {
            return None;
        }
        if let Some((ps, pm)) = prev {
            match ps.total_cmp(&score) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Greater => return None,
                std::cmp::Ordering::Equal => {
                    let (mut x, mut y) = (IntBuf::new(), IntBuf::new());
                    if pm.as_bytes(&mut x) > m.as_bytes(&mut y) {
                        return None;
                    }
                }
            }
        }
        prev = Some((score, m));
        b.push(zl, m);
        push_score(b, zl, score, Some(s));
    }
    Some(members)
}

/// A quicklist v2 of listpack nodes as quicklist v1 nodes of ziplists, split where
/// `encode_list` splits them.
fn list(
    v: &Value<'_>,
    th: &Thresholds,
    compress: bool,
    scratch: &mut Scratch,
    bufs: &mut Bufs,
    out: &mut Vec<u8>,
) -> Option<Transcoded> {
    let nodes = v.quicklist_nodes()?.ok()?;
    bufs.zl.clear();
    bufs.nodes.clear();
    let (zl, done) = (&mut bufs.zl, &mut bufs.nodes);
    let mut b = Builder::start(zl);
    let mut node_count: u64 = 0;
    let (mut members, mut node_first, mut node_bytes) = (0usize, 0usize, 0usize);
    for node in nodes {
        let node = node.ok()?;
        if node.container != CONTAINER_PACKED || matches!(node.data, RdbString::Int(_)) {
            return None;
        }
        let bytes = node.data.bytes_in(&mut scratch.a, node.offset).ok()?;
        for e in Listpack::new(bytes).ok()?.iter() {
            let e = e.ok()?;
            // As `Zl::element`: an estimated entry size (element + 11), a node closed
            // before an element that would take it over the node size or past 65 535
            // elements.
            let sz = match e {
                Entry::Bytes(s) => s.len(),
                Entry::Int(i) => dec_len(i),
            } + 11;
            if members > node_first
                && (node_bytes + sz > th.list_node_bytes
                    || members - node_first >= u16::MAX as usize)
            {
                b.finish(zl);
                encode_blob(zl, compress, done);
                node_count += 1;
                zl.clear();
                b = Builder::start(zl);
                node_first = members;
                node_bytes = 0;
            }
            node_bytes += sz;
            b.push(zl, e);
            members += 1;
        }
    }
    if members == 0 {
        return Some(Transcoded::Empty);
    }
    b.finish(zl);
    encode_blob(zl, compress, done);
    node_count += 1;
    encode_len(node_count, out);
    out.extend_from_slice(done);
    Some(Transcoded::Written(types::LIST_QUICKLIST))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_lengths() {
        for i in [
            0i64,
            9,
            10,
            -1,
            -9,
            -10,
            99,
            100,
            12345,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
            -999_999_999,
        ] {
            assert_eq!(dec_len(i), Entry::Int(i).logical_len(), "{i}");
        }
    }
}
