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

use super::encode::types;
use super::encode::{score_text_in, ScoreBuf};
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

/// The transcoded value (see the module's notes) written to `out`: `Some(Some(type byte))`,
/// or `Some(None)` for an empty collection (nothing written); `None`: take the visitor path
/// (`out` untouched). `zl` and `nodes` are buffers reused from value to value.
pub(super) fn listpack_value(
    v: &Value<'_>,
    th: &Thresholds,
    compress: bool,
    scratch: &mut Scratch,
    zl: &mut Vec<u8>,
    nodes: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Option<Option<u8>> {
    match v.ty {
        Type::HashListpack | Type::ZsetListpack => {
            let blob = match v.blob()? {
                RdbString::Int(_) => return None,
                s => s.bytes_in(&mut scratch.a, v.offset()).ok()?,
            };
            let lp = Listpack::new(blob).ok()?;
            zl.clear();
            let mut b = Builder::start(zl);
            let (members, ty) = if v.ty == Type::HashListpack {
                (hash(lp, th, &mut b, zl)?, types::HASH_ZIPLIST)
            } else {
                (zset(lp, th, &mut b, zl)?, types::ZSET_ZIPLIST)
            };
            if members == 0 {
                return Some(None);
            }
            b.finish(zl);
            encode_blob(zl, compress, out);
            Some(Some(ty))
        }
        Type::ListQuicklist2 => list(v, th, compress, scratch, zl, nodes, out),
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
    zl: &mut Vec<u8>,
    done: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Option<Option<u8>> {
    let nodes = v.quicklist_nodes()?.ok()?;
    zl.clear();
    done.clear();
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
        return Some(None);
    }
    b.finish(zl);
    encode_blob(zl, compress, done);
    node_count += 1;
    encode_len(node_count, out);
    out.extend_from_slice(done);
    Some(Some(types::LIST_QUICKLIST))
}

/// Pushes a sorted-set score into the ziplist as [`encode_value`](super::encode_value)
/// stores [`score_text_in`]'s text for it (`stored`: the entry the score was read from, when
/// it came from a listpack or ziplist).
#[inline]
pub(super) fn push_score(b: &mut Builder, zl: &mut Vec<u8>, score: f64, stored: Option<Entry<'_>>) {
    match stored {
        // The stored form when it is the one `score_text` gives the score (formatting the
        // double was a third of a sorted set's re-encode): an integer that the double holds
        // exactly (|i| <= 2^53: `score_text` writes its decimal, which the ziplist stores as
        // this integer) ...
        Some(Entry::Int(i)) if i.unsigned_abs() <= 1 << 53 => b.push(zl, Entry::Int(i)),
        // ... or text in the shortest plain form.
        Some(Entry::Bytes(t)) if is_shortest_score_text(t) => b.push_text(zl, t),
        _ if score.fract() == 0.0
            && score.abs() < 1e17
            && !(score == 0.0 && score.is_sign_negative()) =>
        {
            // score_text gives the integer's canonical decimal, which the ziplist stores as
            // this integer.
            b.push(zl, Entry::Int(score as i64));
        }
        _ => {
            let mut sb = ScoreBuf::default();
            b.push(zl, Entry::Bytes(score_text_in(score, &mut sb)));
        }
    }
}

/// Whether `t` is the text [`score_text_in`] writes for the double it reads as: a plain
/// decimal with a fraction (`-`? digits `.` digits: no leading zero before other digits, no
/// trailing zero after the point, no exponent, sign or space), of at most 15 significant
/// digits and 24 bytes. Two decimals of at most 15 significant digits (`DBL_DIG`) never read
/// as the same double, so the shortest decimal that reads back as this one (what `{}`
/// prints, in plain form) has these digits; and the double is not an integer (it reads back
/// as a decimal with a fraction). Redis's `d2string` writes such a score this way too
/// (`%.17g` in 6.2/7.0, the shortest form from 7.2), e.g. `0.125`, `523.5`, `-2.25`.
pub(crate) fn is_shortest_score_text(t: &[u8]) -> bool {
    if t.len() > 24 {
        return false;
    }
    let d = t.strip_prefix(b"-").unwrap_or(t);
    let Some(dot) = d.iter().position(|&c| c == b'.') else {
        return false;
    };
    let (int, frac) = (&d[..dot], &d[dot + 1..]);
    if int.is_empty()
        || frac.is_empty()
        || (int.len() > 1 && int[0] == b'0')
        || frac.last() == Some(&b'0')
        || !int.iter().chain(frac).all(u8::is_ascii_digit)
    {
        return false;
    }
    let significant = if int == b"0" {
        frac.len() - frac.iter().take_while(|&&c| c == b'0').count()
    } else {
        int.len() + frac.len()
    };
    significant <= 15
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
