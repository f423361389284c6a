//! The library API over the shared corpus: `RdbFile::records()` agrees with the lending
//! parser on every file, and `Value::len()` / `Value::family()` equal the servers' ground
//! truth (`*.expected.jsonl`) for every key.
//!
//! Needs `../shared/corpus` (or `RDBKIT_CORPUS`); with `CI=true` its absence fails the test.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rdbkit_rdb::{Family, Item, Options, RdbFile, Record};
use rdbkit_testkit::{files_under, json_bytes as bytes_of};

fn corpus() -> Option<PathBuf> {
    rdbkit_testkit::corpus_dir()
}

/// (db, key bytes, type byte, offset, end, expire) of every key, and the error text if any.
type Keys = Vec<(u64, Vec<u8>, u8, u64, u64, Option<i64>)>;

#[test]
fn records_iterator_agrees_with_the_lending_parser() {
    let Some(corpus) = corpus() else { return };
    let files = files_under(&corpus.join("rdb"), "rdb");
    assert!(files.len() > 50, "{} files", files.len());
    for path in &files {
        let file = RdbFile::open(path).unwrap();
        let mut lend: Keys = Vec::new();
        let mut lend_records = 0;
        let mut lend_err = None;
        let mut p = file.parser(Options::default());
        while let Some(r) = p.next() {
            match r {
                Ok(rec) => {
                    lend_records += 1;
                    if let Some(k) = rec.into_key() {
                        lend.push((
                            k.db,
                            k.key.to_vec(),
                            k.value.type_byte,
                            k.offset,
                            k.end,
                            k.expire_ms,
                        ));
                    }
                }
                Err(e) => lend_err = Some(e.to_string()),
            }
        }
        // Collected first, inspected after the iterator is gone: items borrow the file only.
        let items: Vec<_> = file.records(Options::default()).collect();
        let mut iter: Keys = Vec::new();
        let mut iter_err = None;
        for r in &items {
            match r {
                Ok(Item::Key(k)) => iter.push((
                    k.db,
                    k.key.to_vec(),
                    k.value.type_byte,
                    k.offset,
                    k.end,
                    k.expire_ms,
                )),
                Ok(_) => {}
                Err(e) => iter_err = Some(e.to_string()),
            }
        }
        let name = path.display();
        assert_eq!(iter, lend, "{name}: keys");
        assert_eq!(iter_err, lend_err, "{name}: error");
        assert_eq!(
            items.iter().filter(|r| r.is_ok()).count(),
            lend_records,
            "{name}: records"
        );
        // The same through the in-memory constructor.
        let mem = RdbFile::from_bytes(std::fs::read(path).unwrap());
        let n = mem
            .records(Options::default())
            .filter_map(|r| r.ok())
            .filter_map(|r| r.into_key())
            .count();
        assert_eq!(n, lend.len(), "{name}: keys in memory");
    }
}

/// The element count the ground truth shows for a key.
fn expected_len(ty: &str, v: &serde_json::Value) -> Option<u64> {
    Some(match ty {
        "string" => bytes_of(v).len() as u64,
        "list" | "set" | "zset" | "hash" => v.as_array()?.len() as u64,
        "stream" => v["length"].as_u64()?,
        "module" => 1,
        _ => return None,
    })
}

#[test]
fn len_and_family_equal_the_ground_truth() {
    let Some(corpus) = corpus() else { return };
    let files = files_under(&corpus.join("rdb"), "rdb");
    let mut checked = 0;
    for path in &files {
        let truth = path.with_extension("expected.jsonl");
        let Ok(text) = std::fs::read_to_string(&truth) else {
            continue;
        };
        let mut want: HashMap<(u64, Vec<u8>), (String, Option<u64>)> = HashMap::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let j: serde_json::Value = serde_json::from_str(line).unwrap();
            let ty = j["type"].as_str().unwrap().to_string();
            let n = expected_len(&ty, &j["value"]);
            want.insert((j["db"].as_u64().unwrap(), bytes_of(&j["key"])), (ty, n));
        }
        let file = RdbFile::open(path).unwrap();
        let mut seen = 0;
        for rec in file.records(Options::default()) {
            let Some(k) = rec.unwrap().into_key() else {
                continue;
            };
            let (ty, n) = want
                .get(&(k.db, k.key.to_vec()))
                .unwrap_or_else(|| panic!("{}: key {:?} not in the truth", path.display(), k.key));
            let fam = k.value.family();
            assert_eq!(fam.as_str(), ty, "{}: {:?}", path.display(), k.key);
            assert_eq!(ty.parse::<Family>().unwrap(), fam);
            assert_eq!(
                Some(k.value.len().unwrap()),
                *n,
                "{}: len of {:?} ({})",
                path.display(),
                String::from_utf8_lossy(&k.key),
                k.value.encoding()
            );
            seen += 1;
            checked += 1;
        }
        assert_eq!(seen, want.len(), "{}: keys", path.display());
    }
    assert!(checked > 1000, "{checked} keys checked");
}

#[test]
fn errors_compose() {
    // An io::Error converts, and RdbFile::open returns the crate's error.
    fn open(p: &Path) -> Result<usize, rdbkit_rdb::Error> {
        let f = RdbFile::open(p)?;
        let _ = std::fs::metadata(p)?;
        Ok(f.records(Options::default()).count())
    }
    let e = open(Path::new("/nonexistent/dump.rdb")).unwrap_err();
    assert!(matches!(e.kind, rdbkit_rdb::ErrorKind::Io(_)), "{e}");
    assert!(std::error::Error::source(&e).is_some());
    // Every cut of a real file short of its end is recognised as truncated.
    let data = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rdb/sample.rdb"),
    )
    .unwrap();
    for cut in 9..data.len() {
        let f = RdbFile::from_bytes(data[..cut].to_vec());
        let err = f
            .records(Options::default())
            .find_map(|r| r.err())
            .unwrap_or_else(|| panic!("cut at {cut}: no error"));
        assert!(err.is_truncated(), "cut at {cut}: {err}");
        assert!(!err.is_stopped());
    }
    // A record of the lending parser also converts.
    let f = RdbFile::from_bytes(data);
    let mut p = f.parser(Options::default());
    let mut n = 0;
    while let Some(r) = p.next() {
        if let Record::Key(_) = r.unwrap() {
            n += 1;
        }
    }
    assert!(n > 0);
}

fn score(v: &serde_json::Value) -> f64 {
    match v {
        serde_json::Value::String(s) if s == "inf" => f64::INFINITY,
        serde_json::Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        n => n.as_f64().unwrap(),
    }
}

fn by_rank(a: &(Vec<u8>, f64), b: &(Vec<u8>, f64)) -> std::cmp::Ordering {
    a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0))
}

#[test]
fn owned_values_equal_the_ground_truth() {
    use rdbkit_rdb::OwnedValue;
    let Some(corpus) = corpus() else { return };
    let files = files_under(&corpus.join("rdb"), "rdb");
    let mut checked = 0;
    for path in &files {
        let Ok(text) = std::fs::read_to_string(path.with_extension("expected.jsonl")) else {
            continue;
        };
        let mut want: HashMap<(u64, Vec<u8>), serde_json::Value> = HashMap::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let j: serde_json::Value = serde_json::from_str(line).unwrap();
            want.insert((j["db"].as_u64().unwrap(), bytes_of(&j["key"])), j);
        }
        let file = RdbFile::open(path).unwrap();
        for rec in file.records(Options::default()) {
            let Some(k) = rec.unwrap().into_key() else {
                continue;
            };
            let j = &want[&(k.db, k.key.to_vec())];
            let v = &j["value"];
            let what = format!("{}: {:?}", path.display(), String::from_utf8_lossy(&k.key));
            assert_eq!(k.expire_ms, j["expire_ms"].as_i64(), "{what}: expiry");
            match k.value.to_owned_value().unwrap() {
                OwnedValue::String(s) => assert_eq!(s, bytes_of(v), "{what}"),
                OwnedValue::List(l) => {
                    let w: Vec<_> = v.as_array().unwrap().iter().map(bytes_of).collect();
                    assert_eq!(l, w, "{what}");
                }
                OwnedValue::Set(mut s) => {
                    s.sort();
                    let w: Vec<_> = v.as_array().unwrap().iter().map(bytes_of).collect();
                    assert_eq!(s, w, "{what}");
                }
                OwnedValue::ZSet(mut z) => {
                    z.sort_by(by_rank);
                    let mut w: Vec<_> = v
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| (bytes_of(&p[0]), score(&p[1])))
                        .collect();
                    w.sort_by(by_rank);
                    assert_eq!(z.len(), w.len(), "{what}");
                    // serde_json's default float parsing (no `float_roundtrip`) may land one
                    // ulp off the 17-digit text of the ground truth.
                    for (g, e) in z.iter().zip(&w) {
                        let same =
                            g.1 == e.1 || (g.1 - e.1).abs() <= e.1.abs() * 2.0 * f64::EPSILON;
                        assert!(g.0 == e.0 && same, "{what}: {g:?} vs {e:?}");
                    }
                }
                OwnedValue::Hash(mut h) => {
                    h.sort_by(|a, b| a.field.cmp(&b.field));
                    let w: Vec<_> = v
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| {
                            (
                                bytes_of(&t[0]),
                                bytes_of(&t[1]),
                                t.get(2).and_then(|e| e.as_i64()),
                            )
                        })
                        .collect();
                    let got: Vec<_> = h
                        .into_iter()
                        .map(|f| (f.field, f.value, f.expire_ms))
                        .collect();
                    assert_eq!(got, w, "{what}");
                }
                OwnedValue::Stream(s) => {
                    assert_eq!(s.meta.length, v["length"].as_u64().unwrap(), "{what}");
                    assert_eq!(
                        s.entries.len(),
                        v["entries"].as_array().unwrap().len(),
                        "{what}"
                    );
                    assert_eq!(
                        s.groups.len(),
                        v["groups"].as_array().map_or(0, |g| g.len()),
                        "{what}"
                    );
                }
                OwnedValue::Module(_) => assert_eq!(j["type"], "module", "{what}"),
                other => panic!("{what}: unexpected {other:?}"),
            }
            checked += 1;
        }
    }
    assert!(checked > 1000, "{checked} values checked");
}
