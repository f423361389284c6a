//! Property: for every generated RDB file (header, AUX, SELECTDB/RESIZEDB, keys of several
//! types written with the crate's own encoders, EOF + CRC-64), the mapped reader (a real memory
//! map), the slice reader and the streaming `io::Read` reader yield the same records, deep
//! validation accepts the file, and every value decodes to exactly what was written.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rdbkit_fuzz_checks::gen::{GenFile, GenKey, GenValue};
use rdbkit_fuzz_checks::rdb::{self as checks, Recorder, Run};
use rdbkit_rdb::{Options, RdbFile, RdbParser, RdbReader, Record, Scratch};

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..max),
        // numbers (integer encodings), repetitive text (LZF), long strings (14/32-bit lengths)
        any::<i64>().prop_map(|i| i.to_string().into_bytes()),
        (0..4u8, 0..200usize).prop_map(|(b, n)| vec![b'a' + b; n]),
        proptest::collection::vec(any::<u8>(), 60..70),
        Just(Vec::new()),
    ]
}

fn unique<T: Clone, K: Ord>(v: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    let mut seen = BTreeMap::new();
    v.into_iter()
        .filter(|x| seen.insert(key(x), ()).is_none())
        .collect()
}

fn score() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("not NaN", |x| !x.is_nan()),
        (-1000i32..1000).prop_map(f64::from),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
    ]
}

fn value() -> impl Strategy<Value = GenValue> {
    let items = || proptest::collection::vec(bytes(30), 1..20);
    let pairs = || proptest::collection::vec((bytes(20), bytes(30)), 1..12);
    let zs = || proptest::collection::vec((bytes(20), score()), 1..12);
    prop_oneof![
        bytes(300).prop_map(GenValue::Str),
        (items(), 1..6usize).prop_map(|(v, n)| GenValue::List(v, n)),
        items().prop_map(|v| GenValue::Set(unique(v, |x| x.clone()))),
        proptest::collection::vec(any::<i64>(), 1..30).prop_map(|mut v| {
            v.sort_unstable();
            v.dedup();
            GenValue::Intset(v)
        }),
        items().prop_map(|v| GenValue::SetListpack(unique(v, |x| x.clone()))),
        zs().prop_map(|v| GenValue::Zset(unique(v, |x| x.0.clone()))),
        zs().prop_map(|v| GenValue::ZsetListpack(unique(v, |x| x.0.clone()))),
        pairs().prop_map(|v| GenValue::Hash(unique(v, |x| x.0.clone()))),
        pairs().prop_map(|v| GenValue::HashListpack(unique(v, |x| x.0.clone()))),
    ]
}

fn file() -> impl Strategy<Value = GenFile> {
    let key = (
        0..3u64,
        bytes(20),
        proptest::option::of(any::<i64>()),
        value(),
    )
        .prop_map(|(db, key, expire_ms, value)| GenKey {
            db,
            key,
            expire_ms,
            value,
        });
    (
        10..=12u32,
        proptest::collection::vec((bytes(10), bytes(20)), 0..3),
        proptest::collection::vec(key, 0..12),
        any::<bool>(),
    )
        .prop_map(|(version, aux, mut keys, compress)| {
            // Keys of one db together, as Redis writes them; a key once per db (a repeat is
            // a damaged file the deep check refuses, as redis-server does).
            keys.sort_by_key(|k| k.db);
            let mut seen = std::collections::HashSet::new();
            keys.retain(|k| seen.insert((k.db, k.key.clone())));
            GenFile {
                version,
                aux,
                keys,
                compress,
            }
        })
}

fn run_mapped(bytes: &[u8], opts: Options) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gen.rdb");
    std::fs::write(&path, bytes).expect("write");
    // SAFETY: a private temporary file nothing else writes.
    let f = unsafe { RdbFile::open_mmap(&path) }.expect("open");
    let mut p = f.parser(opts);
    checks::run_source(&mut p, f.bytes(), opts, false)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn readers_agree_and_decode_what_was_written(f in file(), min_read in 1usize..300) {
        let bytes = f.encode();
        // The shared fuzz invariants: slice vs io::Read, deep vs plain, skip vs decode.
        checks::file(&bytes);

        let opts = Options::default().deep(true).verify_checksum(true).best_effort(false);
        let slice = checks::run_source(&mut RdbParser::new(&bytes, opts), &bytes, opts, true);
        prop_assert!(slice.error.is_none(), "{:?}", slice.error);
        prop_assert_eq!(slice.eof_end, Some(bytes.len() as u64));
        prop_assert_eq!(slice.keys, f.keys.len() as u64);
        let mut r = RdbReader::new(checks::Chunked::new(&bytes, 5), opts).with_min_read(min_read);
        let stream = checks::run_source(&mut r, &bytes, opts, false);
        prop_assert!(checks::diff_runs(&slice, &stream).is_none(), "{:?}", checks::diff_runs(&slice, &stream));
        let mapped = run_mapped(&bytes, opts);
        prop_assert!(checks::diff_runs(&slice, &mapped).is_none(), "{:?}", checks::diff_runs(&slice, &mapped));

        // Content: every key, in order, with its db, expiry and value.
        let mut p = RdbParser::new(&bytes, opts);
        let mut keys = f.keys.iter();
        let mut aux = Vec::new();
        let mut scratch = Scratch::new();
        while let Some(rec) = p.next() {
            match rec.expect("generated file reads") {
                Record::Aux { key, value } => aux.push((key.into_owned(), value.into_owned())),
                Record::Key(k) => {
                    let want = keys.next().expect("more keys than written");
                    prop_assert_eq!(k.db, want.db);
                    prop_assert_eq!(k.key, &want.key[..]);
                    prop_assert_eq!(k.expire_ms, want.expire_ms);
                    let mut c = Recorder::default();
                    k.value.visit(&mut scratch, &mut c, true).expect("visit");
                    prop_assert_eq!(c.events, want.value.events());
                }
                _ => {}
            }
        }
        prop_assert!(keys.next().is_none(), "fewer keys than written");
        prop_assert_eq!(aux, f.aux.clone());
    }

    /// Any cut of a generated file is an error (never a panic or a partial success), and the
    /// slice and streaming readers agree on it.
    #[test]
    fn truncated_files_fail_the_same_way(f in file(), cut in any::<prop::sample::Index>()) {
        let bytes = f.encode();
        let n = cut.index(bytes.len());
        let part = &bytes[..n];
        checks::file(part);
        let opts = Options::default();
        let slice = checks::run_source(&mut RdbParser::new(part, opts), part, opts, false);
        prop_assert!(slice.error.is_some(), "a cut file read without error");
        prop_assert!(slice.eof_end.is_none());
    }
}
