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
    use super::super::direct::transcode_with;
    use super::super::target::TARGETS;
    use super::*;
    use crate::version::Dialect;
    use proptest::prelude::*;

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

    /// One listpack element as a test stores it.
    #[derive(Clone, Debug)]
    enum Item {
        /// As Redis stores the text (canonical decimal as an integer).
        Text(Vec<u8>),
        /// A string entry even when the text is canonical decimal (not what Redis writes).
        RawString(Vec<u8>),
    }

    /// A listpack of `items` (`unknown`: the header count 65535).
    fn listpack(items: &[Item], unknown: bool) -> Vec<u8> {
        let mut lp = vec![0; 6];
        for it in items {
            match it {
                Item::Text(t) => crate::listpack::push_entry(&mut lp, Entry::Bytes(t)),
                Item::RawString(t) => {
                    let t = &t[..t.len().min(63)];
                    lp.push(0x80 | t.len() as u8);
                    lp.extend_from_slice(t);
                    lp.push(t.len() as u8 + 1);
                }
            }
        }
        lp.push(0xFF);
        let n = lp.len() as u32;
        lp[..4].copy_from_slice(&n.to_le_bytes());
        let count = if unknown {
            u16::MAX
        } else {
            items.len() as u16
        };
        lp[4..6].copy_from_slice(&count.to_le_bytes());
        lp
    }

    /// The value bytes of a listpack hash/zset (one blob) or a quicklist v2 of these nodes.
    fn value_bytes(ty: Type, nodes: &[Vec<u8>], compress: bool) -> Vec<u8> {
        let mut v = Vec::new();
        if ty == Type::ListQuicklist2 {
            encode_len(nodes.len() as u64, &mut v);
            for n in nodes {
                encode_len(CONTAINER_PACKED, &mut v);
                crate::string::encode_blob(n, compress, &mut v);
            }
        } else {
            crate::string::encode_blob(&nodes[0], compress, &mut v);
        }
        v
    }

    /// The fast path against the visitor walk alone, for every target: the same result (type
    /// byte, bytes, error message and offset), and when the fast path answers, what the
    /// visitor path gives. Returns whether the fast path answered for some target.
    fn same_as_visitor_path(ty: Type, data: &[u8], compress: bool) -> bool {
        let v = Value {
            ty,
            type_byte: match ty {
                Type::HashListpack => 16,
                Type::ZsetListpack => 17,
                _ => 18,
            },
            dialect: Dialect::new(crate::version::Magic::Redis, 11).unwrap(),
            data,
            offset: 100,
            templates: None,
            streamed: None,
        };
        let mut answered = false;
        for t in TARGETS {
            let run = |fast: bool| {
                let (mut s, mut b, mut out) = (Scratch::new(), Bufs::default(), Vec::new());
                let r = transcode_with(&v, t, compress, &mut s, &mut b, &mut out, fast)
                    .map_err(|e| (e.offset, e.to_string()));
                (r, out)
            };
            let (slow, fast) = (run(false), run(true));
            assert_eq!(fast, slow, "{} from {ty:?}", t.name);
            let (mut s, mut b, mut out) = (Scratch::new(), Bufs::default(), Vec::new());
            if t.version < 10 && !t.is_valkey() && (ty != Type::ListQuicklist2 || t.version >= 7) {
                if let Some(r) =
                    listpack_value(&v, &t.thresholds, compress, &mut s, &mut b, &mut out)
                {
                    assert_eq!((Ok(r), out), slow, "{} from {ty:?}", t.name);
                    answered = true;
                }
            }
        }
        answered
    }

    fn item() -> impl Strategy<Value = Item> {
        let text = prop_oneof![
            Just(b"a".to_vec()),
            Just(b"field".to_vec()),
            Just(b"0".to_vec()),
            Just(b"12".to_vec()),
            Just(b"13".to_vec()),
            Just(b"-5".to_vec()),
            Just(b"127".to_vec()),
            Just(b"300".to_vec()),
            Just(b"-70000".to_vec()),
            Just(b"8388608".to_vec()),
            Just(b"3000000000".to_vec()),
            Just(b"9223372036854775807".to_vec()),
            Just(b"-9223372036854775808".to_vec()),
            Just(b"9007199254740993".to_vec()),
            Just(b"007".to_vec()),
            Just(b"-0".to_vec()),
            Just(b"1.5".to_vec()),
            Just(b"-2.25".to_vec()),
            Just(b"0.1".to_vec()),
            Just(b"1e5".to_vec()),
            Just(b"inf".to_vec()),
            Just(b"-inf".to_vec()),
            Just(b"nan".to_vec()),
            Just(vec![b'x'; 64]),
            Just(vec![b'y'; 300]),
            Just(vec![b'z'; 17_000]),
            proptest::collection::vec(any::<u8>(), 0..80),
        ];
        prop_oneof![
            8 => text.clone().prop_map(Item::Text),
            1 => text.prop_map(Item::RawString),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Hashes, sorted sets and quicklist v2 lists stored as listpacks (Redis's forms, and
        /// forms Redis does not write: canonical decimal as a string entry, the unknown
        /// count, out-of-order and NaN scores, odd counts), whole or with damaged bytes:
        /// the fast path answers exactly what the visitor walk answers.
        #[test]
        fn fast_path_gives_the_visitor_paths_answer(
            nodes in proptest::collection::vec(proptest::collection::vec(item(), 0..300), 1..4),
            sorted in any::<bool>(),
            unknown in any::<bool>(),
            compress in any::<bool>(),
            short in any::<bool>(),
            damage in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        ) {
            for ty in [Type::HashListpack, Type::ZsetListpack, Type::ListQuicklist2] {
                let mut nodes = nodes.clone();
                if short {
                    // no entry over the value limits: values up to the entry limits
                    for it in nodes.iter_mut().flatten() {
                        let (Item::Text(t) | Item::RawString(t)) = it;
                        t.truncate(20);
                    }
                }
                if ty != Type::ListQuicklist2 {
                    nodes.truncate(1);
                }
                if sorted && ty == Type::ZsetListpack {
                    // member/score pairs in score order, so most sets get past the order check
                    let mut pairs: Vec<(Item, f64, Item)> = nodes[0]
                        .chunks_exact(2)
                        .map(|p| {
                            let score = match &p[1] {
                                Item::Text(t) | Item::RawString(t) => crate::walk::parse_score_text(t),
                            };
                            (p[0].clone(), score.unwrap_or(0.0), p[1].clone())
                        })
                        .collect();
                    pairs.sort_by(|a, b| a.1.total_cmp(&b.1));
                    nodes[0] = pairs.into_iter().flat_map(|(m, _, s)| [m, s]).collect();
                }
                let lps: Vec<Vec<u8>> = nodes.iter().map(|n| listpack(n, unknown)).collect();
                let mut data = value_bytes(ty, &lps, compress);
                same_as_visitor_path(ty, &data, compress);
                for (i, b) in &damage {
                    let i = i.index(data.len());
                    data[i] = *b;
                }
                same_as_visitor_path(ty, &data, compress);
            }
        }
    }

    /// The values the fast path exists for take it (the proptest above would also pass if
    /// it never answered).
    #[test]
    fn redis_forms_take_the_fast_path() {
        let t = |s: &str| Item::Text(s.as_bytes().to_vec());
        let hash = [t("f1"), t("v"), t("f2"), t("17"), t("n"), t("-300")];
        let zset = [
            t("a"),
            t("1"),
            t("b"),
            t("1.5"),
            t("c"),
            t("1e5"),
            t("d"),
            t("inf"),
        ];
        for compress in [false, true] {
            let lp = listpack(&hash, false);
            assert!(same_as_visitor_path(
                Type::HashListpack,
                &value_bytes(Type::HashListpack, std::slice::from_ref(&lp), compress),
                compress
            ));
            let z = listpack(&zset, false);
            assert!(same_as_visitor_path(
                Type::ZsetListpack,
                &value_bytes(Type::ZsetListpack, &[z], compress),
                compress
            ));
            assert!(same_as_visitor_path(
                Type::ListQuicklist2,
                &value_bytes(Type::ListQuicklist2, &[lp.clone(), lp], compress),
                compress
            ));
        }
    }

    /// At and over the target's limits (entries, value bytes) and across quicklist node
    /// splits: the visitor path's answer, and the fast path answers under the limits.
    #[test]
    fn limits_and_node_splits() {
        let t = |s: String| Item::Text(s.into_bytes());
        for pairs in [1usize, 127, 128, 129, 511, 512, 513, 4000] {
            for len in [1usize, 63, 64, 65] {
                let items: Vec<Item> = (0..pairs)
                    .flat_map(|i| {
                        let mut m = format!("{i:0>len$}");
                        m.truncate(len.max(format!("{i}").len()));
                        [t(m), t(format!("{}", i % 7))]
                    })
                    .collect();
                let lp = listpack(&items, pairs * 2 > 65_534);
                for ty in [Type::HashListpack, Type::ZsetListpack, Type::ListQuicklist2] {
                    let answered = same_as_visitor_path(
                        ty,
                        &value_bytes(ty, std::slice::from_ref(&lp), false),
                        false,
                    );
                    // hash-max-ziplist-entries 512, -value 64
                    let under = pairs <= 512 && len <= 64;
                    if ty == Type::ListQuicklist2 || (under && ty == Type::HashListpack) {
                        assert!(answered, "{ty:?} {pairs} {len}");
                    }
                }
            }
        }
    }
}
