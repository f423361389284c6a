use super::*;
use crate::owned::{HashField, OwnedConsumer, OwnedGroup, OwnedStream, PendingEntry};
use crate::stream::node::StreamId;
use crate::stream::StreamMeta;
use crate::{Options, RdbParser, Record};
use proptest::prelude::*;

fn deep() -> Options {
    Options::default()
        .deep(true)
        .verify_checksum(true)
        .best_effort(false)
}

/// Writes `values` for `t`, reads the file back with deep validation and the checksum, and
/// returns (type byte, value) per key.
fn round_trip(t: &Target, values: &[OwnedValue], compress: bool) -> Vec<(u8, OwnedValue)> {
    let mut w = RdbWriter::new(Vec::new(), *t).unwrap().compress(compress);
    w.aux(b"redis-ver", b"test").unwrap();
    w.select_db(0).unwrap();
    w.resize_db(values.len() as u64, 0).unwrap();
    for (i, v) in values.iter().enumerate() {
        w.key(
            format!("k{i}").as_bytes(),
            Some(4_102_444_800_000),
            Some(5),
            None,
            v,
        )
        .unwrap();
    }
    let bytes = w.bytes_written();
    let file = w.finish().unwrap();
    assert_eq!(bytes + 9, file.len() as u64, "EOF and CRC follow");
    let mut p = RdbParser::new(&file, deep());
    let mut out = Vec::new();
    while let Some(rec) = p.next() {
        match rec.unwrap_or_else(|e| panic!("{}: {e}", t.name)) {
            Record::Key(k) => {
                assert_eq!(k.expire_ms, Some(4_102_444_800_000));
                out.push((k.value.type_byte, k.value.to_owned_value().unwrap()));
            }
            Record::Eof { checksum, .. } => {
                assert!(matches!(checksum, crate::ChecksumStatus::Verified(_)))
            }
            _ => {}
        }
    }
    out
}

fn norm(mut v: OwnedValue) -> OwnedValue {
    v.normalize();
    if let OwnedValue::Set(s) = &mut v {
        s.dedup();
    }
    v
}

fn bytes_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (-100_000i64..100_000).prop_map(|i| i.to_string().into_bytes()),
        any::<i64>().prop_map(|i| i.to_string().into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..80),
        "[a-c]{0,300}".prop_map(String::into_bytes),
    ]
}

/// Hashes of 1 to `max - 1` fields without TTLs.
fn hash_strategy(max: usize) -> impl Strategy<Value = OwnedValue> {
    proptest::collection::btree_map(bytes_strategy(), bytes_strategy(), 1..max).prop_map(|m| {
        OwnedValue::Hash(
            m.into_iter()
                .map(|(field, value)| HashField {
                    field,
                    value,
                    expire_ms: None,
                })
                .collect(),
        )
    })
}

fn score_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-1000i64..1000).prop_map(|i| i as f64),
        any::<f64>().prop_filter("not NaN", |f| !f.is_nan()),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(f64::MAX),
        Just(5e-324),
    ]
}

fn value_strategy() -> impl Strategy<Value = OwnedValue> {
    let small = 0..20usize;
    let big = 0..700usize;
    prop_oneof![
        bytes_strategy().prop_map(OwnedValue::String),
        proptest::collection::vec(bytes_strategy(), 1..600).prop_map(OwnedValue::List),
        proptest::collection::btree_set(bytes_strategy(), 1..300)
            .prop_map(|s| OwnedValue::Set(s.into_iter().collect())),
        proptest::collection::btree_set(-70_000i64..70_000, 1..600).prop_map(|s| OwnedValue::Set(
            s.into_iter().map(|i| i.to_string().into_bytes()).collect()
        )),
        proptest::collection::btree_map(bytes_strategy(), score_strategy(), 1..200)
            .prop_map(|m| OwnedValue::ZSet(m.into_iter().collect())),
        hash_strategy(600),
        (small, big).prop_map(|(g, n)| OwnedValue::Stream(Box::new(make_stream(n, g)))),
    ]
}

/// A stream of `n` entries (fields varying every 7th entry), `groups` groups with PELs.
fn make_stream(n: usize, groups: usize) -> OwnedStream {
    let entries: Vec<crate::owned::StreamEntryOwned> = (0..n)
        .map(|i| {
            let id = StreamId {
                ms: 1_700_000_000_000 + (i as u64 / 3),
                seq: i as u64 % 3,
            };
            let mut f = vec![(b"field".to_vec(), format!("v{i}").into_bytes())];
            if i % 7 == 0 {
                f.push((b"extra".to_vec(), i.to_string().into_bytes()));
            }
            (id, f)
        })
        .collect();
    let last = entries.last().map(|e| e.0).unwrap_or_default();
    let groups = (0..groups.min(3))
        .map(|g| {
            let pel: Vec<PendingEntry> = entries
                .iter()
                .take(g * 2)
                .map(|e| PendingEntry {
                    id: e.0,
                    delivery_time_ms: 1_700_000_000_000,
                    delivery_count: 2,
                })
                .collect();
            OwnedGroup {
                name: format!("g{g}").into_bytes(),
                last_delivered_id: last,
                entries_read: Some(n as u64),
                consumers: vec![OwnedConsumer {
                    name: b"alice".to_vec(),
                    seen_time_ms: 1_700_000_000_001,
                    active_time_ms: Some(1_700_000_000_002),
                    pel: pel.iter().map(|p| p.id).collect(),
                }],
                pel,
                nacked: Vec::new(),
            }
        })
        .collect();
    OwnedStream {
        meta: StreamMeta {
            version: 3,
            length: n as u64,
            last_id: last,
            first_id: Some(entries.first().map(|e| e.0).unwrap_or_default()),
            max_deleted_id: Some(StreamId::default()),
            entries_added: Some(n as u64),
        },
        entries,
        groups,
    }
}

/// The value a target gives back: what [`strip`] keeps.
fn expected_for(v: &OwnedValue, t: &Target) -> OwnedValue {
    let mut e = v.clone();
    strip(&mut e, t);
    if let OwnedValue::Stream(s) = &mut e {
        s.meta.version = t.stream_version();
        if t.stream_version() >= 2 && s.meta.first_id.is_none() {
            s.meta.first_id = Some(s.entries.first().map(|e| e.0).unwrap_or_default());
        }
        if t.stream_version() >= 3 {
            for g in &mut s.groups {
                for c in &mut g.consumers {
                    c.active_time_ms = c.active_time_ms.or(Some(c.seen_time_ms));
                }
            }
        }
    }
    norm(e)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Every generated value, written for every target (stripped of what the target cannot
    /// hold), reads back equal under deep validation, with and without compression.
    #[test]
    fn encode_decode_every_target(v in value_strategy(), compress in any::<bool>()) {
        for t in TARGETS {
            let mut w = v.clone();
            if strip(&mut w, t).is_some() {
                continue;
            }
            let got = round_trip(t, std::slice::from_ref(&w), compress);
            prop_assert_eq!(got.len(), 1);
            prop_assert_eq!(norm(got[0].1.clone()), expected_for(&v, t), "target {}", t.name);
        }
    }

    /// Hashes with field TTLs: kept on the targets that hold them (listpackex, metadata,
    /// Valkey HASH_2), refused elsewhere.
    #[test]
    fn field_ttls(n in 1usize..700, ttl_every in 1usize..5) {
        let h = OwnedValue::Hash((0..n).map(|i| HashField {
            field: format!("f{i}").into_bytes(),
            value: format!("v{i}").into_bytes(),
            expire_ms: (i % ttl_every == 0).then_some(4_102_444_800_000 + i as i64),
        }).collect());
        for t in TARGETS {
            if !t.has_field_ttl() {
                prop_assert_eq!(loss(&h, t), Some(Loss::FieldTtl));
                let mut out = Vec::new();
                prop_assert_eq!(encode_value(&h, t, true, &mut out), Err(Loss::FieldTtl));
                continue;
            }
            let got = round_trip(t, std::slice::from_ref(&h), true);
            let expect_ty = if t.is_valkey() { types::VALKEY_HASH_2 } else if n <= 512 { types::HASH_LISTPACK_EX } else { types::HASH_METADATA };
            prop_assert_eq!(got[0].0, expect_ty);
            prop_assert_eq!(norm(got[0].1.clone()), norm(h.clone()));
        }
    }
}

#[test]
fn encodings_follow_the_targets_thresholds() {
    let t = |n: &str| Target::by_name(n).unwrap();
    let ints = OwnedValue::Set((0..10).map(|i| i.to_string().into_bytes()).collect());
    let strs = OwnedValue::Set((0..10).map(|i| format!("m{i}").into_bytes()).collect());
    let list = OwnedValue::List((0..10).map(|i| format!("e{i}").into_bytes()).collect());
    let zset = OwnedValue::ZSet(
        (0..10)
            .map(|i| (format!("m{i}").into_bytes(), i as f64))
            .collect(),
    );
    let bigz = OwnedValue::ZSet(
        (0..200)
            .map(|i| (format!("m{i}").into_bytes(), i as f64 / 3.0))
            .collect(),
    );
    let hash = OwnedValue::Hash(vec![HashField {
        field: b"f".to_vec(),
        value: b"v".to_vec(),
        expire_ms: None,
    }]);
    let cases = [
        ("rdb-6", &ints, types::SET_INTSET),
        ("rdb-10", &strs, types::SET),
        ("rdb-11", &strs, types::SET_LISTPACK),
        ("rdb-6", &list, types::LIST_ZIPLIST),
        ("rdb-9", &list, types::LIST_QUICKLIST),
        ("rdb-10", &list, types::LIST_QUICKLIST_2),
        ("rdb-9", &zset, types::ZSET_ZIPLIST),
        ("rdb-10", &zset, types::ZSET_LISTPACK),
        ("rdb-7", &bigz, types::ZSET),
        ("rdb-8", &bigz, types::ZSET_2),
        ("rdb-9", &hash, types::HASH_ZIPLIST),
        ("rdb-12", &hash, types::HASH_LISTPACK),
    ];
    for (name, v, ty) in cases {
        let got = round_trip(&t(name), std::slice::from_ref(v), true);
        assert_eq!(got[0].0, ty, "{name} {v:?}");
        assert_eq!(norm(got[0].1.clone()), norm((*v).clone()), "{name}");
    }
    // A long list is split into 8 KB nodes.
    let long = OwnedValue::List(
        (0..5000)
            .map(|i| format!("element-{i}").into_bytes())
            .collect(),
    );
    let mut out = Vec::new();
    encode_value(&long, &t("rdb-10"), false, &mut out).unwrap();
    assert!(out[0] > 5, "{} nodes", out[0]);
    // 7.4 puts an element over 8 KB in a PLAIN node; 7.0 does not.
    let plain = OwnedValue::List(vec![vec![b'x'; 10_000], b"y".to_vec()]);
    let mut out = Vec::new();
    encode_value(&plain, &t("rdb-12"), false, &mut out).unwrap();
    assert_eq!(&out[..2], &[2, 1], "2 nodes, the first PLAIN");
    assert_eq!(
        round_trip(&t("rdb-12"), std::slice::from_ref(&plain), true)[0].1,
        plain
    );
}

#[test]
fn streams_lose_metadata_only_when_asked() {
    let s = OwnedValue::Stream(Box::new(make_stream(250, 2)));
    for t in TARGETS {
        match t.stream_version() {
            0 => assert_eq!(loss(&s, t), Some(Loss::Streams)),
            1 | 2 => assert_eq!(loss(&s, t), Some(Loss::StreamMeta), "{}", t.name),
            _ => assert_eq!(loss(&s, t), None, "{}", t.name),
        }
    }
}

#[test]
fn dump_payload_layout() {
    let t = Target::by_name("rdb-10").unwrap();
    let p = dump_payload(&OwnedValue::String(b"hello".to_vec()), &t, true).unwrap();
    assert_eq!(p[0], types::STRING);
    assert_eq!(&p[1..7], b"\x05hello");
    assert_eq!(&p[7..9], &10u16.to_le_bytes());
    assert_eq!(crc64(&p[..9]).to_le_bytes(), p[9..17]);
}

#[test]
fn scores_read_back() {
    for s in [
        0.1,
        -0.0,
        1e300,
        -1e-300,
        5e-324,
        f64::MAX,
        3.0,
        1e17,
        123456789.125,
    ] {
        let txt = score_text(s);
        let back = crate::walk::parse_score_text(&txt).unwrap();
        assert_eq!(
            back.to_bits(),
            s.to_bits(),
            "{s} -> {}",
            String::from_utf8_lossy(&txt)
        );
    }
}

/// What the `OwnedValue` path makes of a stored value (the direct re-encoder's reference):
/// its decoding error, `Empty`, or the type byte and bytes `encode_value` writes.
fn owned_path(v: &Value<'_>, t: &Target, compress: bool) -> Result<Transcoded, String> {
    let o = v.to_owned_value().map_err(|e| e.to_string())?;
    if o.is_empty() && o.family() != "string" && o.family() != "stream" {
        return Ok(Transcoded::Empty);
    }
    let mut out = Vec::new();
    match encode_value(&o, t, compress, &mut out) {
        Ok(ty) => Ok(Transcoded::Written(ty)),
        Err(_) => Ok(Transcoded::Declined),
    }
}

/// The direct re-encoder against the `OwnedValue` path for one stored value and target:
/// written means the same type byte and bytes; a decoding error is the same error. Returns
/// whether the direct path wrote the value.
fn same_as_owned_path(v: &Value<'_>, t: &Target, compress: bool) -> bool {
    let mut bufs = direct::Bufs::default();
    let mut got = Vec::new();
    let direct = direct::transcode(
        v,
        t,
        compress,
        &mut crate::Scratch::new(),
        &mut bufs,
        &mut got,
    )
    .map_err(|e| e.to_string());
    let owned = owned_path(v, t, compress);
    match (&direct, &owned) {
        (Ok(Transcoded::Written(a)), Ok(Transcoded::Written(b))) => {
            assert_eq!(a, b, "type byte, {} from {:?}", t.name, v.ty);
            let mut want = Vec::new();
            let o = v.to_owned_value().unwrap();
            encode_value(&o, t, compress, &mut want).unwrap();
            assert_eq!(got, want, "bytes, {} from {:?}", t.name, v.ty);
            true
        }
        (Ok(Transcoded::Declined), _) => {
            assert!(got.is_empty(), "nothing written when declined");
            false
        }
        (a, b) => {
            assert_eq!(a, b, "{} from {:?}", t.name, v.ty);
            assert!(got.is_empty() || a.is_ok());
            false
        }
    }
}

/// Writes `v` for `src` and returns the file (one key).
fn stored(v: &OwnedValue, src: &Target) -> Vec<u8> {
    let mut w = RdbWriter::new(Vec::new(), *src).unwrap();
    w.select_db(0).unwrap();
    w.key(b"k", None, None, None, v).unwrap();
    w.finish().unwrap()
}

/// Runs `f` on the stored value of the one key of `file`.
fn with_value<R>(file: &[u8], f: impl FnOnce(&Value<'_>) -> R) -> R {
    let mut p = RdbParser::new(file, Options::default());
    while let Some(rec) = p.next() {
        if let Record::Key(k) = rec.unwrap() {
            return f(&k.value);
        }
    }
    panic!("no key");
}

fn collection_strategy() -> impl Strategy<Value = OwnedValue> {
    prop_oneof![
        proptest::collection::vec(bytes_strategy(), 1..400).prop_map(OwnedValue::List),
        proptest::collection::btree_map(bytes_strategy(), score_strategy(), 1..160)
            .prop_map(|m| OwnedValue::ZSet(m.into_iter().collect())),
        proptest::collection::vec((bytes_strategy(), -3i64..3), 1..160).prop_map(|m| {
            // Scores with ties (member order decides) and fractions.
            OwnedValue::ZSet(
                m.into_iter()
                    .map(|(k, s)| (k, s as f64 / 4.0 + 1e17 * (s == 2) as i64 as f64))
                    .collect(),
            )
        }),
        hash_strategy(200),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The direct re-encoder (`RdbWriter::key_value`) writes what `encode_value` writes for
    /// the decoded value — every stored form (as each target stores it) to every target,
    /// with and without compression — and a damaged value fails with the decoder's error.
    #[test]
    fn direct_transcoder_writes_what_the_owned_path_writes(
        v in collection_strategy(),
        compress in any::<bool>(),
        flip in any::<proptest::sample::Index>(),
        xor in 1u8..=255,
    ) {
        for src in TARGETS {
            if crate::write::loss(&v, src).is_some() {
                continue;
            }
            let file = stored(&v, src);
            with_value(&file, |val| {
                for t in TARGETS {
                    same_as_owned_path(val, t, compress);
                }
                // One damaged byte in the stored value.
                let mut data = val.data.to_vec();
                let i = flip.index(data.len());
                data[i] ^= xor;
                let bad = Value { data: &data, ..*val };
                for t in TARGETS {
                    same_as_owned_path(&bad, t, compress);
                }
            });
        }
    }
}

/// The cases the direct path exists for: a Redis 7.0 listpack hash and sorted set and a
/// quicklist-2 list, to RDB 7-9 (and declined for a sorted set stored out of order).
#[test]
fn direct_transcoder_takes_redis_7_values_to_older_targets() {
    let src = Target::by_name("rdb-10").unwrap();
    let hash = OwnedValue::Hash(
        (0..100)
            .map(|i| HashField {
                field: format!("field:{i}").into_bytes(),
                value: if i % 2 == 0 {
                    i.to_string().into_bytes()
                } else {
                    format!("value-{i}-{}", "x".repeat(i % 40)).into_bytes()
                },
                expire_ms: None,
            })
            .collect(),
    );
    let zset = OwnedValue::ZSet(
        (0..100)
            .map(|i| {
                (
                    format!("m{i}").into_bytes(),
                    [i as f64, i as f64 / 3.0, -1e17, 1e300][i % 4],
                )
            })
            .collect(),
    );
    let list = OwnedValue::List(
        (0..3000)
            .map(|i| format!("{}{i}", "e".repeat(i % 90)).into_bytes())
            .collect(),
    );
    for (v, ty) in [
        (&hash, types::HASH_LISTPACK),
        (&zset, types::ZSET_LISTPACK),
        (&list, types::LIST_QUICKLIST_2),
    ] {
        let file = stored(v, &src);
        with_value(&file, |val| {
            assert_eq!(val.type_byte, ty);
            for name in ["rdb-7", "rdb-8", "rdb-9"] {
                let t = Target::by_name(name).unwrap();
                for compress in [true, false] {
                    assert!(same_as_owned_path(val, &t, compress), "{name} {ty}");
                }
            }
            for name in ["rdb-10", "rdb-11", "valkey-9.0"] {
                let t = Target::by_name(name).unwrap();
                assert!(!same_as_owned_path(val, &t, true), "{name}: not this path");
            }
        });
    }
    // Stored highest score first (a skiplist's order): left to the OwnedValue path.
    let big: Vec<(Vec<u8>, f64)> = (0..200)
        .map(|i| (vec![b'a'; i % 7 + 1], i as f64))
        .collect();
    let big_file = stored(&OwnedValue::ZSet(big), &src);
    with_value(&big_file, |val| {
        assert_eq!(val.type_byte, types::ZSET_2);
        assert!(!same_as_owned_path(
            val,
            &Target::by_name("rdb-9").unwrap(),
            true
        ));
    });
}

/// The one key's value of a file written by `w` (read deeply when `deep`, checksum
/// verified).
fn read_back(w: RdbWriter<Vec<u8>>, deep_check: bool) -> OwnedValue {
    let file = w.finish().unwrap();
    let mut p = RdbParser::new(&file, deep().deep(deep_check));
    let mut got = None;
    while let Some(rec) = p.next() {
        if let Record::Key(k) = rec.unwrap() {
            got = Some(norm(k.value.to_owned_value().unwrap()));
        }
    }
    got.expect("one key")
}

/// The stream re-encoder (`RdbWriter::key_value` on a stream: nodes copied as stored,
/// metadata rewritten) against the `OwnedValue` path (`strip`, then `key`) for one stored
/// stream and target: the same decoding error, or the same type byte and loss and the same
/// value read back (deep validation, checksum).
fn stream_same_as_owned_path(file: &[u8], v: &Value<'_>, t: &Target, compress: bool) {
    let owned = v.to_owned_value();
    let mut w = RdbWriter::new(Vec::new(), *t).unwrap().compress(compress);
    w.select_db(0).unwrap();
    let w0 = w.bytes_written();
    // Whether the source passes the deep check (a damaged byte may leave a stream that
    // decodes but whose IDs are not ascending: both paths write it as it is).
    let sound = {
        let mut p = RdbParser::new(file, deep().verify_checksum(false));
        let mut ok = true;
        while let Some(r) = p.next() {
            ok &= r.is_ok();
        }
        ok
    };
    let r = w.key_value(b"k", None, None, None, v, &mut crate::Scratch::new());
    match (&r, owned) {
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{}", t.name),
        // A target without streams, or a node the deep check refuses (copying it would copy
        // the damage): nothing written, the `OwnedValue` path decides.
        (Ok(Transcoded::Declined), o) => {
            assert_eq!(w.bytes_written(), w0, "{}: nothing written", t.name);
            // (`compress` off: a compressed node is not copied either.)
            let compressed_node = !compress && {
                let mut c = crate::cursor::Cursor::new(v.data, 0);
                let n = crate::length::read_len(&mut c, "n").unwrap_or(0);
                (0..n).any(|_| {
                    crate::string::read_string(&mut c, "key").is_ok()
                        && crate::string::read_string(&mut c, "lp").is_ok_and(|s| s.is_compressed())
                })
            };
            assert!(
                t.stream_version() == 0 || compressed_node || (o.is_ok() && !sound),
                "{}",
                t.name
            );
        }
        (Ok(Transcoded::Written(ty) | Transcoded::Stripped(ty, _)), Ok(o)) => {
            let got_loss = match r {
                Ok(Transcoded::Stripped(_, l)) => Some(l),
                _ => None,
            };
            let ty = *ty;
            assert_eq!(loss(&o, t), got_loss, "{}: loss", t.name);
            let mut s = o.clone();
            assert!(strip(&mut s, t).is_none());
            let mut old = RdbWriter::new(Vec::new(), *t).unwrap().compress(compress);
            old.select_db(0).unwrap();
            let want_ty = old.key(b"k", None, None, None, &s).unwrap();
            assert_eq!(ty, want_ty, "{}: type byte", t.name);
            assert_eq!(
                read_back(w, sound),
                read_back(old, sound),
                "{}: value read back",
                t.name
            );
        }
        (r, o) => panic!("{}: direct {r:?}, owned path {o:?}", t.name),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Streams of every stream format (as RDB 9, 10 and 11 store them, compressed or not,
    /// several nodes) to every target, with and without compression, and with one damaged
    /// byte: the stream re-encoder gives what the `OwnedValue` path gives.
    #[test]
    fn stream_transcoder_writes_what_the_owned_path_writes(
        n in 0usize..700,
        groups in 0usize..4,
        src_compress in any::<bool>(),
        compress in any::<bool>(),
        flip in any::<proptest::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let v = OwnedValue::Stream(Box::new(make_stream(n, groups)));
        for src in ["rdb-9", "rdb-10", "rdb-11"] {
            let src = Target::by_name(src).unwrap();
            let mut s = v.clone();
            strip(&mut s, &src);
            let mut w = RdbWriter::new(Vec::new(), src).unwrap().compress(src_compress);
            w.select_db(0).unwrap();
            w.key(b"k", None, None, None, &s).unwrap();
            let file = w.finish().unwrap();
            with_value(&file, |val| {
                for t in TARGETS {
                    stream_same_as_owned_path(&file, val, t, compress);
                }
                // One damaged byte in the stored value (and the same file damaged alike).
                let i = flip.index(val.data.len());
                let mut data = val.data.to_vec();
                data[i] ^= xor;
                let mut bad_file = file.clone();
                bad_file[val.offset as usize + i] ^= xor;
                let bad = Value { data: &data, ..*val };
                for t in TARGETS {
                    stream_same_as_owned_path(&bad_file, &bad, t, compress);
                }
            });
        }
    }
}

/// Score texts as a listpack or ziplist may hold them: the shortest form, Redis 6.2/7.0's
/// `%.17g`-like long forms, fixed decimals with trailing zeros, and forms `strtod` reads but no
/// server writes (sign, spaces, exponent, leading zeros).
fn score_text_strategy() -> impl Strategy<Value = Vec<u8>> {
    let f = any::<f64>().prop_filter("not NaN", |f| !f.is_nan());
    prop_oneof![
        f.clone().prop_map(|f| format!("{f}").into_bytes()),
        (f, 0usize..20).prop_map(|(f, n)| format!("{f:.n$}").into_bytes()),
        (-2000i64..2000, 0u32..5)
            .prop_map(|(i, k)| format!("{}", i as f64 / 2f64.powi(k as i32)).into_bytes()),
        (-2000i64..2000, 0u32..5).prop_map(|(i, k)| format!(
            "{:.17}",
            i as f64 / 10f64.powi(k as i32)
        )
        .into_bytes()),
        (
            any::<bool>(),
            proptest::collection::vec(b'0'..=b'9', 0..10),
            proptest::collection::vec(b'0'..=b'9', 0..14),
        )
            .prop_map(|(neg, i, f)| {
                let mut t = if neg { b"-".to_vec() } else { Vec::new() };
                t.extend_from_slice(&i);
                t.push(b'.');
                t.extend_from_slice(&f);
                t
            }),
        proptest::sample::select(vec![
            "5.0",
            "+1.5",
            " 2.5",
            "1e3",
            "-0",
            "0",
            "0.0",
            "-0.5",
            "inf",
            "-inf",
            "000.5",
            "0.10000000000000001",
            "3.1400000000000001",
            "9007199254740993",
            "-9007199254740993",
            "9007199254740992",
            "100000000000000000",
            "1.5e-7",
            "0.0000001",
            "123456789012345.5",
            "12345678901234.5",
            "0.000000000000000000001",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// A text `is_shortest_score_text` accepts is what `score_text` writes for its double.
    #[test]
    fn shortest_score_text_is_score_text(t in score_text_strategy()) {
        if transcode::is_shortest_score_text(&t) {
            let s = crate::walk::parse_score_text(&t).expect("reads as a number");
            let written = score_text(s);
            prop_assert_eq!(
                String::from_utf8_lossy(&written),
                String::from_utf8_lossy(&t)
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Sorted sets whose listpack or ziplist holds scores in any text form (or as integers,
    /// within and beyond 2^53): the direct re-encoder, which copies a stored score when it is
    /// what `score_text` writes, writes what `encode_value` writes for the decoded value.
    #[test]
    fn direct_transcoder_copies_stored_scores_as_score_text_writes_them(
        texts in proptest::collection::vec(score_text_strategy(), 1..140),
        shuffle in any::<bool>(),
        compress in any::<bool>(),
    ) {
        let mut pairs: Vec<(f64, Vec<u8>)> = texts
            .into_iter()
            .map(|t| (crate::walk::parse_score_text(&t).unwrap_or(f64::NAN), t))
            .collect();
        if !shuffle {
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let members: Vec<Vec<u8>> = (0..pairs.len()).map(|i| format!("m{i:04}").into_bytes()).collect();
        let mut items: Vec<&[u8]> = Vec::new();
        for (m, (_, t)) in members.iter().zip(&pairs) {
            items.push(m);
            items.push(t);
        }
        for (src, ty, blob) in [
            ("rdb-10", types::ZSET_LISTPACK, crate::listpack::encode(&items)),
            ("rdb-9", types::ZSET_ZIPLIST, crate::ziplist::encode(&items)),
        ] {
            let mut raw = Vec::new();
            crate::string::encode_blob(&blob, false, &mut raw);
            let mut w = RdbWriter::new(Vec::new(), Target::by_name(src).unwrap()).unwrap();
            w.select_db(0).unwrap();
            w.key_raw(b"k", None, None, None, ty, &raw).unwrap();
            let file = w.finish().unwrap();
            with_value(&file, |val| {
                for name in ["rdb-7", "rdb-8", "rdb-9"] {
                    same_as_owned_path(val, &Target::by_name(name).unwrap(), compress);
                }
            });
        }
    }
}

/// A value detached on its own (`Detached`) or into a shared buffer (`DetachedIn`, several
/// in one) decodes as the value in its file, with the file's offsets.
#[test]
fn detached_values_decode_as_in_their_file() {
    let src = Target::by_name("rdb-10").unwrap();
    let zset = OwnedValue::ZSet(
        (0..50)
            .map(|i| (format!("m{i}").into_bytes(), i as f64 / 8.0))
            .collect(),
    );
    let file = stored(&zset, &src);
    with_value(&file, |val| {
        let want = val.to_owned_value().unwrap();
        let d = Detached::new(val).unwrap();
        assert_eq!(d.len(), val.data.len());
        assert_eq!(d.value().offset, val.offset);
        assert_eq!(d.value().to_owned_value().unwrap(), want);
        let mut buf = b"before".to_vec();
        let a = DetachedIn::new(val, &mut buf).unwrap();
        let b = DetachedIn::new(val, &mut buf).unwrap();
        assert_eq!(buf.len(), 6 + 2 * val.data.len());
        for x in [a, b] {
            assert_eq!(x.len(), val.data.len());
            assert_eq!(x.value(&buf).data, val.data);
            assert_eq!(x.value(&buf).offset, val.offset);
            assert_eq!(x.value(&buf).to_owned_value().unwrap(), want);
        }
    });
}

// The listpack → ziplist fast path (`write/transcode.rs`) against the visitor walk alone.

use crate::entry::Entry;
use crate::listpack::push_entry as lp_push_entry;
use crate::quicklist::CONTAINER_PACKED;
use crate::version::{Dialect, Type};
use crate::visit::Scratch;
use direct::transcode_with;
use transcode::listpack_value;

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
            Item::Text(t) => lp_push_entry(&mut lp, Entry::Bytes(t)),
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
            let (mut s, mut b, mut out) = (Scratch::new(), direct::Bufs::default(), Vec::new());
            let r = transcode_with(&v, t, compress, &mut s, &mut b, &mut out, fast)
                .map_err(|e| (e.offset, e.to_string()));
            (r, out)
        };
        let (slow, fast) = (run(false), run(true));
        assert_eq!(fast, slow, "{} from {ty:?}", t.name);
        let (mut s, mut zl, mut nodes, mut out) =
            (Scratch::new(), Vec::new(), Vec::new(), Vec::new());
        if t.version < 10 && !t.is_valkey() && (ty != Type::ListQuicklist2 || t.version >= 7) {
            if let Some(r) = listpack_value(
                &v,
                &t.thresholds,
                compress,
                &mut s,
                &mut zl,
                &mut nodes,
                &mut out,
            ) {
                let r = r.map_or(Transcoded::Empty, Transcoded::Written);
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
