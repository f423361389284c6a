//! Issue 17: the library's owned values (`Value::to_owned_value`, what the CLI's model is
//! built from) rendered in the CLI's JSON-lines shape equal, key by key, the value `rdbkit
//! dump` prints for every RDB of the shared corpus, and the servers' ground truth
//! (`*.expected.jsonl`, in its canonical order).
//!
//! Needs `../shared/corpus` (or `RDBKIT_CORPUS`); with `CI=true` its absence fails the test.

#[macro_use]
mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use common::*;
use rdbkit_rdb::{Options, OwnedArrayValue, OwnedModuleItem, OwnedValue, RdbFile, StreamId};
use serde_json::Value as Json;

/// A byte string as the CLI writes it (the one rule, shared with `rdbkit aof dump`).
fn bytes(b: &[u8]) -> String {
    let mut out = Vec::new();
    rdbkit_aof::dump::json_bytes(&mut out, b);
    String::from_utf8(out).unwrap()
}

/// A double as the CLI writes it.
fn num(d: f64) -> String {
    if d.is_nan() {
        "\"nan\"".into()
    } else if d == f64::INFINITY {
        "\"inf\"".into()
    } else if d == f64::NEG_INFINITY {
        "\"-inf\"".into()
    } else {
        format!("{d:?}")
    }
}

fn id(i: StreamId) -> String {
    format!("\"{}-{}\"", i.ms, i.seq)
}

fn join(v: impl Iterator<Item = String>) -> String {
    v.collect::<Vec<_>>().join(",")
}

/// An owned value in the shape of `rdbkit dump`'s `"value"` (crates/rdbkit-cli/src/jsonl.rs):
/// `triplets` for a hash stored as `listpackex` or with a field TTL.
fn render(v: &OwnedValue, triplets: bool) -> String {
    match v {
        OwnedValue::String(s) => bytes(s),
        OwnedValue::List(l) | OwnedValue::Set(l) => {
            format!("[{}]", join(l.iter().map(|e| bytes(e))))
        }
        OwnedValue::ZSet(z) => format!(
            "[{}]",
            join(z.iter().map(|(m, s)| format!("[{},{}]", bytes(m), num(*s))))
        ),
        OwnedValue::Hash(h) => format!(
            "[{}]",
            join(h.iter().map(|f| {
                let ttl = match (triplets, f.expire_ms) {
                    (false, _) => String::new(),
                    (true, Some(t)) => format!(",{t}"),
                    (true, None) => ",null".into(),
                };
                format!("[{},{}{ttl}]", bytes(&f.field), bytes(&f.value))
            }))
        ),
        OwnedValue::Stream(s) => {
            let m = &s.meta;
            let mut out = format!(
                "{{\"entries\":[{}],\"length\":{},\"last_id\":{}",
                join(s.entries.iter().map(|(i, fv)| format!(
                    "[{},[{}]]",
                    id(*i),
                    join(fv.iter().map(|(f, v)| format!("[{},{}]", bytes(f), bytes(v))))
                ))),
                m.length,
                id(m.last_id)
            );
            if let Some(i) = m.first_id {
                out += &format!(",\"first_id\":{}", id(i));
            }
            if let Some(i) = m.max_deleted_id {
                out += &format!(",\"max_deleted_id\":{}", id(i));
            }
            if let Some(n) = m.entries_added {
                out += &format!(",\"entries_added\":{n}");
            }
            let groups = join(s.groups.iter().map(|g| {
                let owner = |p: StreamId| {
                    g.consumers
                        .iter()
                        .rev()
                        .find(|c| c.pel.contains(&p))
                        .map_or("null".to_string(), |c| bytes(&c.name))
                };
                let mut o = format!(
                    "{{\"name\":{},\"last_delivered_id\":{}",
                    bytes(&g.name),
                    id(g.last_delivered_id)
                );
                match g.entries_read {
                    Some(u64::MAX) => o += ",\"entries_read\":null",
                    Some(n) => o += &format!(",\"entries_read\":{n}"),
                    None => {}
                }
                o += &format!(
                    ",\"pending\":[{}],\"consumers\":[{}]",
                    join(g.pel.iter().map(|p| format!(
                        "[{},{},{}]",
                        id(p.id),
                        owner(p.id),
                        p.delivery_count
                    ))),
                    join(g.consumers.iter().map(|c| format!(
                        "{{\"name\":{},\"pending\":[{}]}}",
                        bytes(&c.name),
                        join(c.pel.iter().map(|i| id(*i)))
                    )))
                );
                if m.version >= 5 {
                    o += &format!(",\"nacked\":[{}]", join(g.nacked.iter().map(|i| id(*i))));
                }
                o + "}"
            }));
            out + ",\"groups\":[" + &groups + "]}"
        }
        OwnedValue::Module(m) => format!(
            "{{\"module\":{},\"encver\":{},\"payload\":[{}]}}",
            bytes(&m.id.name()),
            m.id.encver(),
            join(m.items.iter().map(|i| match i {
                OwnedModuleItem::Signed(v) => format!("[\"uint\",{}]", *v as u64),
                OwnedModuleItem::Unsigned(v) => format!("[\"uint\",{v}]"),
                OwnedModuleItem::Float(f) => format!("[\"float\",{}]", num(f64::from(*f))),
                OwnedModuleItem::Double(d) => format!("[\"double\",{}]", num(*d)),
                OwnedModuleItem::String(s) => format!("[\"string\",{}]", bytes(s)),
            }))
        ),
        OwnedValue::Array(a) => format!(
            "{{\"insert_idx\":{},\"elements\":[{}]}}",
            a.insert_idx.map_or("null".into(), |i| format!("\"{i}\"")),
            join(a.elements.iter().map(|(i, e)| format!(
                "[\"{i}\",{}]",
                match e {
                    OwnedArrayValue::Str(s) => bytes(s),
                    OwnedArrayValue::Int(n) => format!("\"{n}\""),
                    OwnedArrayValue::Float(d) => num(*d),
                }
            )))
        ),
    }
}

fn parse(s: &str) -> Json {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

/// Scores: the ground truth's text and Rust's shortest form may parse one ulp apart.
fn same_score(a: &Json, b: &Json) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y || (x - y).abs() <= y.abs() * 2.0 * f64::EPSILON,
        _ => a == b,
    }
}

#[test]
fn owned_values_in_the_jsonl_shape_equal_dump_and_the_ground_truth() {
    let Some(corpus) = corpus_dir() else {
        return;
    };
    let files: Vec<_> = rdbkit_testkit::files_under(&corpus.join("rdb"), "rdb")
        .into_iter()
        .filter(|p| p.with_extension("expected.jsonl").is_file())
        .collect();
    assert!(files.len() > 50, "{} corpus RDBs", files.len());
    let (mut keys, mut families) = (0usize, std::collections::BTreeSet::new());
    for path in &files {
        let what = path.display().to_string();
        // rdbkit dump: the CLI's JSON lines, by (db, key).
        let o = run_with_timeout(
            Command::new(rdbkit_bin()).arg("dump").arg(path),
            None,
            Duration::from_secs(120),
        );
        assert_eq!(o.status.code(), Some(0), "{what}: dump failed");
        let mut dumped: HashMap<(u64, String), Json> = HashMap::new();
        for line in String::from_utf8(o.stdout).unwrap().lines() {
            let j = parse(line);
            let k = (j["db"].as_u64().unwrap(), j["key"].to_string());
            dumped.insert(k, j);
        }
        let mut truth: HashMap<(u64, String), Json> = HashMap::new();
        for line in std::fs::read_to_string(path.with_extension("expected.jsonl"))
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty())
        {
            let j = parse(line);
            truth.insert((j["db"].as_u64().unwrap(), j["key"].to_string()), j);
        }
        let file = RdbFile::open(path).unwrap();
        let mut seen = 0;
        for rec in file.records(Options::default()) {
            let Some(k) = rec.unwrap().into_key() else {
                continue;
            };
            let key = (k.db, parse(&bytes(&k.key)).to_string());
            let at = format!("{what}: db {} key {}", key.0, key.1);
            let mut owned = k.value.to_owned_value().unwrap();
            let triplets = k.value.encoding() == "listpackex" || owned.has_field_ttl();
            if let OwnedValue::ZSet(z) = &mut owned {
                if k.value.zset_needs_sort() {
                    z.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
                }
            }
            // 1. Exactly what `rdbkit dump` prints for the key.
            let d = dumped
                .get(&key)
                .unwrap_or_else(|| panic!("{at}: not dumped"));
            assert_eq!(d["type"].as_str(), Some(owned.family()), "{at}");
            assert_eq!(parse(&render(&owned, triplets)), d["value"], "{at}");
            // 2. The server's ground truth, in its canonical order.
            let t = truth
                .get(&key)
                .unwrap_or_else(|| panic!("{at}: not in the truth"));
            assert_eq!(t["type"].as_str(), Some(owned.family()), "{at}");
            assert_eq!(t["expire_ms"].as_i64(), k.expire_ms, "{at}");
            owned.normalize();
            let mine = parse(&render(&owned, triplets));
            let want = &t["value"];
            match &owned {
                OwnedValue::String(_) | OwnedValue::List(_) | OwnedValue::Set(_) => {
                    assert_eq!(&mine, want, "{at}")
                }
                OwnedValue::Hash(_) => assert_eq!(&mine, want, "{at}"),
                OwnedValue::ZSet(_) => {
                    let by_member = |v: &Json| {
                        let mut v = v.as_array().unwrap().clone();
                        v.sort_by_key(|p| p[0].to_string());
                        v
                    };
                    let (a, b) = (by_member(&mine), by_member(want));
                    assert_eq!(a.len(), b.len(), "{at}");
                    for (x, y) in a.iter().zip(&b) {
                        assert!(x[0] == y[0] && same_score(&x[1], &y[1]), "{at}: {x} vs {y}");
                    }
                }
                OwnedValue::Stream(_) => {
                    for f in ["entries", "length", "last_id"] {
                        assert_eq!(mine[f], want[f], "{at}: {f}");
                    }
                    let names = |v: &Json| -> Vec<Json> {
                        let mut n: Vec<Json> = v["groups"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|g| g["name"].clone())
                            .collect();
                        n.sort_by_key(|x| x.to_string());
                        n
                    };
                    assert_eq!(names(&mine), names(want), "{at}: groups");
                }
                OwnedValue::Module(_) => {
                    assert_eq!(mine["module"], want["module"], "{at}")
                }
                OwnedValue::Array(_) => {}
            }
            families.insert(owned.family());
            seen += 1;
        }
        assert_eq!(seen, dumped.len(), "{what}: keys dumped");
        assert_eq!(seen, truth.len(), "{what}: keys in the truth");
        keys += seen;
    }
    assert!(keys > 1000, "{keys} keys checked");
    for f in ["string", "list", "set", "zset", "hash", "stream", "module"] {
        assert!(families.contains(f), "no {f} in the corpus: {families:?}");
    }
}
