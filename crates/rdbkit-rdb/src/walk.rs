//! Walking one value: find its end (skip: lengths only, nothing decompressed), or decode it
//! into a [`Visitor`] (zero-copy where the file allows; LZF blobs go through a reused
//! [`Scratch`]), optionally with Redis's deep sanitization rules.
//! The dispatch over every type and encoding lives here (`walk_in`); each encoding's own walker
//! is in its module.

use crate::cursor::Cursor;
use crate::dups::SmallDups;
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::intset::Intset;
use crate::length::{read_count, read_len};
use crate::listpack::Listpack;
use crate::module::{self, ModuleId, ModuleItem};
use crate::string::{read_string, RdbString};
use crate::template::HashTemplates;
use crate::version::Type;
use crate::visit::{blob_err, read_blob, vis, Dups, Visitor, Walk};
use crate::ziplist::Ziplist;
use crate::zipmap::Zipmap;
use crate::{array, hash, quicklist, stream, template};

/// A score as Redis reads it from a ziplist/listpack (`zzlGetScore`: integer, or text parsed
/// with `strtod`).
pub(crate) fn entry_score(e: Entry<'_>, at: u64) -> Result<f64> {
    match e {
        Entry::Int(i) => Ok(i as f64),
        Entry::Bytes(b) => parse_score_text(b).ok_or_else(|| {
            Error::invalid(
                at,
                format!(
                    "zset score {:?} is not a number",
                    String::from_utf8_lossy(b)
                ),
            )
        }),
    }
}

/// Parses a score written by `d2string`/`%.17g` (`inf`, `-inf`, `1e+308`, ...).
#[inline]
pub(crate) fn parse_score_text(b: &[u8]) -> Option<f64> {
    if let Some(v) = parse_plain_decimal(b) {
        return Some(v);
    }
    parse_score_slow(b)
}

/// Powers of ten that `f64` holds exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The common score text, `-?digits(.digits)?` with at most 15 digits in all, as
/// `str::parse::<f64>` reads it: the digits as an integer below 2^53 and a power of ten that
/// `f64` holds exactly, so one correctly rounded division gives the correctly rounded value
/// (Clinger's fast path, the one `core`'s parser takes first). `None`: anything else (the
/// general parser decides).
#[inline]
fn parse_plain_decimal(b: &[u8]) -> Option<f64> {
    let (neg, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut m: u64 = 0;
    let mut frac: Option<usize> = None;
    for (i, &c) in digits.iter().enumerate() {
        let d = c.wrapping_sub(b'0');
        if d < 10 {
            m = m * 10 + u64::from(d);
        } else if c == b'.' && frac.is_none() && i > 0 && i + 1 < digits.len() {
            frac = Some(digits.len() - 1 - i);
        } else {
            return None;
        }
    }
    let k = frac.unwrap_or(0);
    if digits.len() - usize::from(frac.is_some()) > 15 {
        return None;
    }
    // m < 10^15 < 2^53: exact as f64; k <= 15: POW10[k] exact.
    let v = m as f64 / POW10[k];
    Some(if neg { -v } else { v })
}

/// [`parse_score_text`]'s general case.
fn parse_score_slow(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    let s = s.trim_matches(|c: char| c.is_ascii_whitespace());
    match s {
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => s.parse::<f64>().ok(),
    }
}

fn check_score(score: f64, at: u64) -> Result<f64> {
    if score.is_nan() {
        return Err(Error::invalid(at, "zset score is NaN"));
    }
    Ok(score)
}
/// Walks a value of type `t` starting at the cursor. With `w = None` it only finds the end.
/// `templates`: the hash templates read so far (needed by types 30 and 32).
pub(crate) fn walk_in<V: Visitor + ?Sized>(
    c: &mut Cursor<'_>,
    t: Type,
    w: Option<&mut Walk<'_, V>>,
    templates: Option<&HashTemplates>,
) -> Result<()> {
    match t {
        Type::String => {
            let at = c.offset();
            let s = read_string(c, "string value")?;
            if let Some(w) = w {
                if !w.v.wants_content() {
                    // Validate LZF without materialising it (a check, not a decode).
                    return s.validate(at);
                }
                let e = s.entry_in(&mut w.s.a, at)?;
                vis(w.v.string(e), at)?;
            }
            Ok(())
        }
        Type::ListLinked | Type::Set => {
            let n = read_count(c, if t == Type::Set { "set size" } else { "list length" }, 1)?;
            let mut dups =
                Dups::new_deferred(t == Type::Set && w.as_ref().is_some_and(|w| w.deep))
                    .in_base(c.data());
            match w {
                None => {
                    for _ in 0..n {
                        read_string(c, "element")?;
                    }
                }
                Some(w) if t == Type::ListLinked && !w.v.wants_content() => {
                    for _ in 0..n {
                        let at = c.offset();
                        read_string(c, "element")?.validate(at)?;
                    }
                }
                Some(w) => {
                    for _ in 0..n {
                        let at = c.offset();
                        let e = read_string(c, "element")?.entry_in(&mut w.s.a, at)?;
                        dups.check(e, "set member", at)?;
                        vis(w.v.element(e), at)?;
                    }
                }
            }
            dups.finish()
        }
        Type::ZsetText | Type::Zset2 => {
            let n = read_count(c, "zset size", 2)?;
            let mut dups = Dups::new_deferred(w.as_ref().is_some_and(|w| w.deep)).in_base(c.data());
            let mut w = w;
            for _ in 0..n {
                let at = c.offset();
                let m = read_string(c, "zset member")?;
                let score_at = c.offset();
                let score = if t == Type::Zset2 {
                    f64::from_le_bytes(c.array("zset score")?)
                } else {
                    let len = c.u8("zset score length")?;
                    match len {
                        253 => f64::NAN,
                        254 => f64::INFINITY,
                        255 => f64::NEG_INFINITY,
                        _ => {
                            let txt = c.take(u64::from(len), "zset score text", score_at)?;
                            parse_score_text(txt).ok_or_else(|| {
                                Error::invalid(
                                    score_at,
                                    format!("zset score {:?} is not a number", String::from_utf8_lossy(txt)),
                                )
                            })?
                        }
                    }
                };
                if let Some(w) = w.as_deref_mut() {
                    let score = check_score(score, score_at)?;
                    let e = m.entry_in(&mut w.s.a, at)?;
                    dups.check(e, "zset member", at)?;
                    vis(w.v.zset_member(e, score), at)?;
                }
            }
            dups.finish()
        }
        Type::Hash => {
            let n = read_count(c, "hash size", 2)?;
            let mut dups = Dups::new_deferred(w.as_ref().is_some_and(|w| w.deep)).in_base(c.data());
            match w {
                None => {
                    for _ in 0..n {
                        read_string(c, "hash field")?;
                        read_string(c, "hash value")?;
                    }
                }
                Some(w) => {
                    for _ in 0..n {
                        let at = c.offset();
                        let f = read_string(c, "hash field")?;
                        let vat = c.offset();
                        let v = read_string(c, "hash value")?;
                        let f = f.entry_in(&mut w.s.a, at)?;
                        let v = v.entry_in(&mut w.s.b, vat)?;
                        dups.check(f, "hash field", at)?;
                        vis(w.v.hash_field(f, v, None), at)?;
                    }
                }
            }
            dups.finish()
        }
        Type::ModulePreGa => Err(Error::new(
            crate::error::ErrorKind::Unsupported(
                "module value type 6 (MODULE pre-GA, Redis 4.0 release candidates) has no annotations and cannot be read; Redis refuses it too"
                    .into(),
            ),
            c.offset(),
        )),
        Type::Module2 => {
            let at = c.offset();
            let id = ModuleId { id: read_len(c, "module id")? };
            walk_module_payload(c, id, at, w)
        }
        Type::HashZipmap => {
            let Some(w) = w else { return read_string(c, "zipmap").map(|_| ()) };
            let Some(b) = read_blob(c, "zipmap", Some(&mut w.s.a))? else { return Ok(()) };
            let err = blob_err(b.at, b.compressed);
            let zm = Zipmap::new(b.bytes).map_err(&err)?;
            // Redis converts zipmaps on load and so always validates them, deep or not.
            zm.validate().map_err(&err)?;
            let mut dups = Dups::new(w.deep).in_base(b.bytes);
            for pair in zm.iter() {
                let (f, v) = pair.map_err(&err)?;
                dups.check(Entry::Bytes(f), "hash field", b.at)?;
                vis(w.v.hash_field(Entry::Bytes(f), Entry::Bytes(v), None), b.at)?;
            }
            Ok(())
        }
        Type::ListZiplist | Type::ZsetZiplist | Type::HashZiplist => {
            let Some(w) = w else { return read_string(c, "ziplist").map(|_| ()) };
            let Some(b) = read_blob(c, "ziplist", Some(&mut w.s.a))? else { return Ok(()) };
            let err = blob_err(b.at, b.compressed);
            let zl = Ziplist::new(b.bytes).map_err(&err)?;
            // Redis converts ziplists to listpacks on load and so always validates them.
            let count = Some(zl.validate().map_err(&err)?);
            let mut it = zl.iter();
            match t {
                Type::ListZiplist => {
                    for e in it {
                        vis(w.v.element(e.map_err(&err)?), b.at)?;
                    }
                    Ok(())
                }
                Type::ZsetZiplist => pairs_as_zset(&mut it, &err, count, &mut *w.v, w.deep, b.at, b.bytes),
                _ => pairs_as_hash(&mut it, &err, count, &mut *w.v, w.deep, b.at, 2, b.bytes),
            }
        }
        Type::SetIntset => {
            let Some(w) = w else { return read_string(c, "intset").map(|_| ()) };
            let Some(b) = read_blob(c, "intset", Some(&mut w.s.a))? else { return Ok(()) };
            let err = blob_err(b.at, b.compressed);
            let is = Intset::new(b.bytes).map_err(&err)?;
            if w.deep {
                is.validate().map_err(&err)?;
            } else if is.is_empty() {
                // Redis's shallow intset check refuses an empty set too.
                return Err(err(crate::BlobError::new("intset", 0, "empty intset")));
            }
            for i in is.iter() {
                vis(w.v.element(Entry::Int(i)), b.at)?;
            }
            Ok(())
        }
        Type::HashListpack | Type::ZsetListpack | Type::SetListpack | Type::HashListpackExPreGa | Type::HashListpackEx => {
            if t == Type::HashListpackEx {
                c.i64_le("hash min-expire")?;
            }
            let Some(w) = w else { return read_string(c, "listpack").map(|_| ()) };
            let Some(b) = read_blob(c, "listpack", Some(&mut w.s.a))? else { return Ok(()) };
            let err = blob_err(b.at, b.compressed);
            let lp = Listpack::new(b.bytes).map_err(&err)?;
            let tuple = match t {
                Type::SetListpack => 1,
                Type::ZsetListpack | Type::HashListpack => 2,
                _ => 3,
            };
            if w.deep && !w.v.wants_content() {
                // A check: one validating walk instead of `validate` and then `iter`.
                let mut it = lp.checked_iter();
                // Entries stay `Result<Entry, BlobError>` (small) and become an `Error` only on
                // failure: no per-entry adapter. The walks take `&mut CheckedIter` and call its
                // `next` (inlined) directly, not through `<&mut I as Iterator>::next`, which
                // stayed a call per entry.
                let r = match t {
                    Type::SetListpack => set_members(&mut it, &err, &mut *w.v, true, b.at, b.bytes),
                    Type::ZsetListpack => pairs_as_zset(&mut it, &err, None, &mut *w.v, true, b.at, b.bytes),
                    _ => pairs_as_hash(&mut it, &err, None, &mut *w.v, true, b.at, tuple, b.bytes),
                };
                return crate::visit::finish_checked(r, it, &err, t == Type::ZsetListpack, tuple, b.at);
            }
            let count = if w.deep { Some(lp.validate().map_err(&err)?) } else { None };
            let mut it = lp.iter();
            match t {
                Type::SetListpack => set_members(&mut it, &err, &mut *w.v, w.deep, b.at, b.bytes),
                Type::ZsetListpack => pairs_as_zset(&mut it, &err, count, &mut *w.v, w.deep, b.at, b.bytes),
                _ => pairs_as_hash(&mut it, &err, count, &mut *w.v, w.deep, b.at, tuple, b.bytes),
            }
        }
        Type::ListQuicklist | Type::ListQuicklist2 => quicklist::walk(c, t == Type::ListQuicklist2, w),
        Type::HashMetadataPreGa | Type::HashMetadata | Type::ValkeyHash2 => hash::walk_fields(c, t, w),
        Type::StreamListpacks
        | Type::StreamListpacks2
        | Type::StreamListpacks3
        | Type::StreamListpacks4
        | Type::StreamListpacks5 => stream::walk(c, t.stream_version(), w),
        Type::Array => array::walk(c, w),
        Type::HashTmplLp | Type::HashTmplLpRef | Type::HashTmplArray | Type::HashTmplArrayRef => {
            template::walk(c, t, w, templates)
        }
    }
}

pub(crate) fn walk_module_payload<V: Visitor + ?Sized>(
    c: &mut Cursor<'_>,
    id: ModuleId,
    at: u64,
    w: Option<&mut Walk<'_, V>>,
) -> Result<()> {
    match w {
        None => module::walk(c, |_, _| Ok(())),
        Some(w) => {
            vis(w.v.module_begin(id), at)?;
            module::walk(c, |item, at| {
                let item = match item {
                    ModuleItem::String(s @ RdbString::Lzf { .. }) => {
                        let b = s.bytes_in(&mut w.s.a, at)?;
                        return vis(w.v.module_item(ModuleItem::String(RdbString::Raw(b))), at);
                    }
                    other => other,
                };
                vis(w.v.module_item(item), at)
            })
        }
    }
}

fn set_members<'e, V: Visitor + ?Sized, E>(
    it: &mut impl Iterator<Item = std::result::Result<Entry<'e>, E>>,
    err: &impl Fn(E) -> Error,
    v: &mut V,
    deep: bool,
    at: u64,
    base: &'e [u8],
) -> Result<()> {
    let mut dups = SmallDups::new(deep, base);
    // Not `for e in it`: that calls `<&mut I as Iterator>::next`, kept out of line.
    #[allow(clippy::while_let_on_iterator)]
    while let Some(e) = it.next() {
        let e = e.map_err(err)?;
        dups.check(e, "set member", at)?;
        vis(v.element(e), at)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn pairs_as_zset<'e, V: Visitor + ?Sized, E>(
    it: &mut impl Iterator<Item = std::result::Result<Entry<'e>, E>>,
    err: &impl Fn(E) -> Error,
    count: Option<usize>,
    v: &mut V,
    deep: bool,
    at: u64,
    base: &'e [u8],
) -> Result<()> {
    if let Some(n) = count {
        crate::visit::check_tuples(n, true, 2, at)?;
    }
    let mut dups = SmallDups::new(deep, base);
    while let Some(m) = it.next() {
        let m = m.map_err(err)?;
        let s = it
            .next()
            .ok_or_else(|| Error::invalid(at, "zset blob ends with a member without a score"))?
            .map_err(err)?;
        let score = check_score(entry_score(s, at)?, at)?;
        dups.check(m, "zset member", at)?;
        vis(v.zset_member_stored(m, score, s), at)?;
    }
    Ok(())
}

/// Field/value pairs (`tuple` = 2) or field/value/ttl triplets (`tuple` = 3, TTL 0 = none).
#[allow(clippy::too_many_arguments)]
fn pairs_as_hash<'e, V: Visitor + ?Sized, E>(
    it: &mut impl Iterator<Item = std::result::Result<Entry<'e>, E>>,
    err: &impl Fn(E) -> Error,
    count: Option<usize>,
    v: &mut V,
    deep: bool,
    at: u64,
    tuple: usize,
    base: &'e [u8],
) -> Result<()> {
    if let Some(n) = count {
        crate::visit::check_tuples(n, false, tuple, at)?;
    }
    let mut dups = SmallDups::new(deep, base);
    while let Some(f) = it.next() {
        let f = f.map_err(err)?;
        let val = it
            .next()
            .ok_or_else(|| Error::invalid(at, "hash blob ends with a field without a value"))?
            .map_err(err)?;
        let ttl = if tuple == 3 {
            let t = it
                .next()
                .ok_or_else(|| Error::invalid(at, "hash blob ends with a field without a TTL"))?
                .map_err(err)?;
            match t {
                Entry::Int(0) => None,
                Entry::Int(ms) if ms > 0 && ms <= hash::EXPIRE_TIME_MAX => Some(ms),
                other => {
                    return Err(Error::invalid(
                        at,
                        format!("hash field TTL {other:?} is not a valid expire time"),
                    ))
                }
            }
        } else {
            None
        };
        dups.check(f, "hash field", at)?;
        vis(v.hash_field(f, val, ttl), at)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::visit::{NoVisitor, Scratch};
    use proptest::prelude::*;

    /// Wants content: takes the two-walk path (`validate`, then `iter`).
    struct Content;
    impl Visitor for Content {}

    fn deep_walk<V: Visitor>(v: &mut V, t: Type, value: &[u8]) -> Result<()> {
        let mut s = Scratch::new();
        let mut w = Walk {
            v,
            s: &mut s,
            deep: true,
        };
        walk_in(&mut Cursor::new(value, 100), t, Some(&mut w), None)
    }

    /// The fast path reads every plain decimal exactly as the general parser does.
    #[test]
    fn plain_decimal_scores_parse_as_str_parse() {
        let cases = [
            "0",
            "-0",
            "1",
            "-1",
            "251.125",
            "0.1",
            "-0.3",
            "123456789012345",
            "12345678901234.5",
            "1234567890123456",
            "0.000000000000001",
            "9007199254740993",
            "1.",
            ".5",
            "-",
            "",
            "1.2.3",
            "1e5",
            "+1",
            " 1",
            "007",
            "-007.50",
            "999999999999999",
            "3.14159265358979",
        ];
        for t in cases {
            let fast = parse_plain_decimal(t.as_bytes());
            let slow = parse_score_slow(t.as_bytes());
            if let Some(v) = fast {
                assert_eq!(Some(v.to_bits()), slow.map(f64::to_bits), "{t:?}");
            }
            assert_eq!(
                parse_score_text(t.as_bytes()).map(f64::to_bits),
                slow.map(f64::to_bits),
                "{t:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn score_text_fast_path_agrees(int in 0u64..10_000_000_000_000_000, frac in 0usize..18, neg: bool) {
            let digits = int.to_string();
            let mut t = String::new();
            if neg {
                t.push('-');
            }
            if frac > 0 && frac < digits.len() {
                t.push_str(&digits[..digits.len() - frac]);
                t.push('.');
                t.push_str(&digits[digits.len() - frac..]);
            } else {
                t.push_str(&digits);
            }
            prop_assert_eq!(
                parse_score_text(t.as_bytes()).map(f64::to_bits),
                parse_score_slow(t.as_bytes()).map(f64::to_bits),
                "{}", t
            );
        }
    }

    fn verdict(r: Result<()>) -> Option<(u64, String)> {
        r.err().map(|e| (e.offset, e.to_string()))
    }

    /// The single validating walk of a check gives the two walks' verdict, whatever the damage.
    fn same_verdict(t: Type, lp: &[u8]) -> Option<(u64, String)> {
        let mut value = Vec::new();
        if t == Type::ListQuicklist2 {
            value.push(1); // one node
            value.push(crate::quicklist::CONTAINER_PACKED as u8);
        }
        if t == Type::HashListpackEx {
            value.extend_from_slice(&0i64.to_le_bytes()); // min-expire
        }
        crate::string::encode_raw(lp, &mut value);
        let one = verdict(deep_walk(&mut NoVisitor, t, &value));
        let two = verdict(deep_walk(&mut Content, t, &value));
        assert_eq!(one, two, "{t:?} {lp:02x?}");
        one
    }

    #[test]
    fn error_order_of_the_single_walk() {
        let fix = |mut lp: Vec<u8>| {
            let n = lp.len() as u32;
            lp[..4].copy_from_slice(&n.to_le_bytes());
            lp
        };
        // a duplicate field, then a bad backlen: the structural error wins
        let mut lp = crate::listpack::encode(&[b"f", b"1", b"f", b"2", b"g", b"3"]);
        let last = lp.len() - 2;
        lp[last] = 9;
        let v = same_verdict(Type::HashListpack, &lp).unwrap();
        assert!(v.1.contains("backlen"), "{v:?}");
        // a duplicate and a header count that is wrong: the count wins
        let mut lp = crate::listpack::encode(&[b"f", b"1", b"f", b"2"]);
        lp[4] = 6;
        let v = same_verdict(Type::HashListpack, &lp).unwrap();
        assert!(v.1.contains("header says 6"), "{v:?}");
        // a duplicate and an odd count: the tuple check wins
        let lp = crate::listpack::encode(&[b"f", b"1", b"f", b"2", b"x"]);
        let v = same_verdict(Type::HashListpack, &lp).unwrap();
        assert!(v.1.contains("not a multiple of 2"), "{v:?}");
        let lp = crate::listpack::encode(&[b"m", b"1", b"m", b"2", b"x"]);
        let v = same_verdict(Type::ZsetListpack, &lp).unwrap();
        assert!(v.1.contains("not member/score pairs"), "{v:?}");
        // only a duplicate
        let lp = crate::listpack::encode(&[b"a", b"b", b"a"]);
        let v = same_verdict(Type::SetListpack, &lp).unwrap();
        assert!(v.1.contains("duplicate set member"), "{v:?}");
        // a bad score before a terminator in the middle
        let mut lp = crate::listpack::encode(&[b"m", b"abc", b"n", b"1"]);
        let at = lp.len() - 3;
        lp[at] = 0xFF;
        let v = same_verdict(Type::ZsetListpack, &fix(lp)).unwrap();
        assert!(v.1.contains("terminator"), "{v:?}");
        // valid values
        for t in [Type::HashListpack, Type::ZsetListpack, Type::SetListpack] {
            let lp = crate::listpack::encode(&[b"a", b"1", b"b", b"2"]);
            assert_eq!(same_verdict(t, &lp), None);
        }
        let lp = crate::listpack::encode(&[b"a", b"1", b"0", b"b", b"2", b"0"]);
        assert_eq!(same_verdict(Type::HashListpackEx, &lp), None);
        assert_eq!(same_verdict(Type::ListQuicklist2, &lp), None);
    }

    fn element() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(b"a".to_vec()),
            Just(b"b".to_vec()),
            Just(b"0".to_vec()),
            Just(b"1.5".to_vec()),
            Just(b"nan".to_vec()),
            Just(b"-7".to_vec()),
            Just(b"1700000000000".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..200),
        ]
    }

    proptest! {
        #[test]
        fn single_walk_gives_the_two_walks_verdict(
            items in proptest::collection::vec(element(), 0..12),
            t in prop_oneof![
                Just(Type::SetListpack),
                Just(Type::ZsetListpack),
                Just(Type::HashListpack),
                Just(Type::HashListpackEx),
                Just(Type::ListQuicklist2),
            ],
            damage in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3),
        ) {
            let refs: Vec<&[u8]> = items.iter().map(|x| x.as_slice()).collect();
            let mut lp = crate::listpack::encode(&refs);
            for (i, b) in damage {
                let i = 4 + i % (lp.len() - 4);
                lp[i] = b;
            }
            same_verdict(t, &lp);
        }
    }
}
