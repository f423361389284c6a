//! `rdbkit convert` re-encodes on worker threads in batches and writes in file order: over
//! many batches the output is byte for byte what a sequential conversion with the library
//! writes, and on damaged input the verdict is the first failure in file order (a value that
//! does not decode in an early batch wins over a record the parser refuses later), with no OUT
//! and no temporary file left.

mod common;

use std::path::Path;

use common::{run_rdbkit, TempDir};
use rdbkit_rdb::write::{RdbWriter, Target};
use rdbkit_rdb::{HashField, Options, OwnedValue, RdbParser, Record};

/// Keys in the source: well over two batches of keys to re-encode (2048 a batch).
const KEYS: usize = 7000;

/// An RDB 10 file (Redis 7.0) of small listpack hashes (re-encoded to ziplists for RDB 9),
/// strings (passed through), zsets and, now and then, a hash over the listpack limit or an
/// expiry; uncompressed so that a test can damage a value's bytes in place.
fn source() -> Vec<u8> {
    let t = Target::by_name("rdb-10").unwrap();
    let mut w = RdbWriter::new(Vec::new(), t).unwrap().compress(false);
    w.aux(b"redis-ver", b"7.0.15").unwrap();
    w.select_db(0).unwrap();
    for i in 0..KEYS {
        let key = format!("key:{i:05}");
        let v = match i % 5 {
            0 | 2 => OwnedValue::Hash(
                (0..(3 + i % 7))
                    .map(|f| HashField {
                        field: format!("field-{f}").into_bytes(),
                        value: if f % 2 == 0 {
                            format!("{}", i * f).into_bytes()
                        } else {
                            format!("value {i} {f} compressible compressible compressible")
                                .into_bytes()
                        },
                        expire_ms: None,
                    })
                    .collect(),
            ),
            1 => OwnedValue::String(format!("string value {i}").repeat(1 + i % 4).into_bytes()),
            3 => OwnedValue::ZSet(
                (0..(2 + i % 5))
                    .map(|m| {
                        (
                            format!("member-{m}").into_bytes(),
                            m as f64 * 1.5 + i as f64,
                        )
                    })
                    .collect(),
            ),
            _ if i % 500 == 4 => OwnedValue::Hash(
                (0..600)
                    .map(|f| HashField {
                        field: format!("f{f}").into_bytes(),
                        value: format!("v{}", f * i).into_bytes(),
                        expire_ms: None,
                    })
                    .collect(),
            ),
            _ => OwnedValue::String(format!("{i}").into_bytes()),
        };
        let expire = (i % 11 == 0).then_some(4_102_444_800_000 + i as i64);
        w.key(key.as_bytes(), expire, None, None, &v).unwrap();
    }
    w.finish().unwrap()
}

/// The conversion done key by key with the library, as `convert` did before it had workers:
/// pass-through where the target reads the stored encoding, re-encoded otherwise.
fn sequential(src: &[u8], t: Target) -> Vec<u8> {
    let mut w = RdbWriter::new(Vec::new(), t).unwrap();
    let mut p = RdbParser::new(src, Options::default().deep(false));
    let mut reencoded = 0;
    while let Some(rec) = p.next() {
        match rec.unwrap() {
            Record::Aux { key, value } => w.aux(&key, &value).unwrap(),
            Record::SelectDb { db } => w.select_db(db).unwrap(),
            Record::Key(k) => {
                let v = &k.value;
                if t.reads(v.ty, v.type_byte) {
                    w.key_raw(
                        k.key,
                        k.expire_ms,
                        k.lru_idle,
                        k.lfu_freq,
                        v.type_byte,
                        v.raw(),
                    )
                    .unwrap();
                } else {
                    reencoded += 1;
                    let owned = v.to_owned_value().unwrap();
                    w.key(k.key, k.expire_ms, k.lru_idle, k.lfu_freq, &owned)
                        .unwrap();
                }
            }
            Record::Eof { .. } => break,
            other => panic!("unexpected record {other:?}"),
        }
    }
    assert!(
        reencoded > 2 * 2048,
        "{reencoded} keys re-encoded: fewer than three batches"
    );
    w.finish().unwrap()
}

fn convert(src: &Path, out: &Path, target: &str) -> std::process::Output {
    run_rdbkit([
        "convert",
        "-q",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "--target",
        target,
    ])
}

#[test]
fn many_batches_write_what_the_sequential_conversion_writes() {
    let dir = TempDir::new("convert-pipeline");
    let src = dir.join("src.rdb");
    let bytes = source();
    std::fs::write(&src, &bytes).unwrap();
    for target in ["rdb-9", "rdb-6", "rdb-10"] {
        let out = dir.join(format!("out-{target}.rdb"));
        let o = convert(&src, &out, target);
        assert!(
            o.status.success(),
            "{target}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let want = if target == "rdb-10" {
            // Same version: every record passes through, the file comes back as it was.
            bytes.clone()
        } else {
            sequential(&bytes, Target::by_name(target).unwrap())
        };
        let got = std::fs::read(&out).unwrap();
        assert_eq!(got.len(), want.len(), "{target}: size");
        if let Some(at) = got.iter().zip(&want).position(|(a, b)| a != b) {
            panic!("{target}: output differs from the sequential conversion at byte {at}");
        }
    }
}

/// (offset, bytes) of key number `n`'s stored value.
fn value_at(file: &[u8], n: usize) -> (usize, usize) {
    let mut p = RdbParser::new(file, Options::default().deep(false));
    let mut i = 0;
    while let Some(rec) = p.next() {
        if let Record::Key(k) = rec.unwrap() {
            if i == n {
                return (k.value.offset() as usize, k.value.raw().len());
            }
            i += 1;
        }
    }
    panic!("no key {n}");
}

/// The first failure in file order, as the sequential conversion met it: the parser's error,
/// or the first re-encoded value that does not decode.
fn first_failure(file: &[u8], t: Target) -> String {
    let opts = Options::default().deep(false).best_effort(false);
    let mut p = RdbParser::new(file, opts);
    while let Some(rec) = p.next() {
        match rec {
            Err(e) => return e.to_string(),
            Ok(Record::Key(k)) => {
                let v = &k.value;
                if !t.reads(v.ty, v.type_byte) {
                    if let Err(e) = v.to_owned_value() {
                        return e.in_key(Some(k.db), k.key).to_string();
                    }
                }
            }
            Ok(_) => {}
        }
    }
    panic!("the damaged file converts");
}

#[test]
fn the_first_failure_in_file_order_is_reported_across_batches() {
    let t = Target::by_name("rdb-9").unwrap();
    let clean = source();
    // Key 5000 (a listpack hash: re-encoded, in the third batch) gets a broken listpack end
    // marker; key 6500 a type byte no loader knows (refused by the parser, later in the file).
    let (hash_at, hash_len) = value_at(&clean, 5000);
    let (str_at, _) = value_at(&clean, 6501);
    // Key 2500 (a hash of the first batch) damaged too: the first batch's verdict is met while
    // the second batch (holding key 5000) is still being read, and must win over it.
    let (early_at, early_len) = value_at(&clean, 2500);
    let cases: Vec<(&str, Vec<(usize, u8)>)> = vec![
        ("value", vec![(hash_at + hash_len - 1, 0x00)]),
        (
            "value-then-value",
            vec![
                (early_at + early_len - 1, 0x00),
                (hash_at + hash_len - 1, 0x00),
            ],
        ),
        (
            "value-then-record",
            vec![(hash_at + hash_len - 1, 0x00), (str_at - 11, 0x7f)],
        ),
        ("record", vec![(str_at - 11, 0x7f)]),
    ];
    for (name, edits) in cases {
        let mut bad = clean.clone();
        for &(at, b) in &edits {
            bad[at] = b;
        }
        let want = first_failure(&bad, t);
        let dir = TempDir::new("convert-pipeline-bad");
        let src = dir.join("src.rdb");
        std::fs::write(&src, &bad).unwrap();
        let out = dir.join("out.rdb");
        let o = convert(&src, &out, "rdb-9");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(&want), "{name}: want {want:?}, got {err}");
        assert!(!out.exists(), "{name}: OUT written");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 1, "{name}: temporary file left: {left:?}");
    }
}
