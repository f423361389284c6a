//! The compact-encoding views against real blobs written by real servers.
//!
//! Independent of the record parser: every RDB string in a corpus file (raw or LZF) is found
//! by scanning for length prefixes, and those whose headers say listpack / ziplist / intset /
//! zipmap / stream node are decoded and deep-validated. Each small list, set, hash, zset and
//! stream in the ground truth (`*.expected.jsonl`) must then turn up among the decoded blobs.

use rdbkit_rdb::internals::entry::Entry;
use rdbkit_rdb::internals::intset::Intset;
use rdbkit_rdb::internals::listpack::Listpack;
use rdbkit_rdb::internals::lzf;
use rdbkit_rdb::internals::stream::StreamNode;
use rdbkit_rdb::internals::ziplist::Ziplist;
use rdbkit_rdb::internals::zipmap::Zipmap;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

type Bytes = Vec<u8>;

fn corpus() -> Option<PathBuf> {
    rdbkit_testkit::corpus_dir()
}

/// An RDB length at `i`: (value, bytes used). `None` for the encoded (0xC0) forms.
fn rdb_len(d: &[u8], i: usize) -> Option<(usize, usize)> {
    let b = *d.get(i)?;
    match b >> 6 {
        0 => Some(((b & 0x3F) as usize, 1)),
        1 => Some(((((b & 0x3F) as usize) << 8) | *d.get(i + 1)? as usize, 2)),
        2 if b == 0x80 => {
            let v = u32::from_be_bytes(d.get(i + 1..i + 5)?.try_into().ok()?);
            Some((v as usize, 5))
        }
        _ => None,
    }
}

/// The RDB string at `i` (plain or LZF), and where it ends.
fn rdb_string(d: &[u8], i: usize) -> Option<(Bytes, usize)> {
    if *d.get(i)? == 0xC3 {
        let (clen, a) = rdb_len(d, i + 1)?;
        let (ulen, b) = rdb_len(d, i + 1 + a)?;
        let start = i + 1 + a + b;
        let src = d.get(start..start.checked_add(clen)?)?;
        if ulen == 0 || ulen > 1 << 26 {
            return None;
        }
        lzf::validate(src, ulen).ok()?;
        let mut out = Vec::new();
        lzf::decompress_into(src, ulen, &mut out).ok()?;
        return Some((out, start + clen));
    }
    let (len, n) = rdb_len(d, i)?;
    let s = d.get(i + n..(i + n).checked_add(len)?)?;
    Some((s.to_vec(), i + n + len))
}

fn text(e: Entry) -> Bytes {
    e.to_cow().into_owned()
}

#[derive(Default)]
struct Found {
    /// listpacks and ziplists, as element lists
    seqs: Vec<Vec<Bytes>>,
    intsets: Vec<Vec<i64>>,
    zipmaps: Vec<Vec<(Bytes, Bytes)>>,
    /// live stream entries: id -> field lists seen with that id
    stream_entries: HashMap<String, Vec<Vec<(Bytes, Bytes)>>>,
    stream_nodes: usize,
}

fn scan(d: &[u8]) -> Found {
    let mut f = Found::default();
    for i in 0..d.len() {
        let Some((blob, end)) = rdb_string(d, i) else {
            continue;
        };
        let n = blob.len();
        if n >= 7
            && u32::from_le_bytes(blob[..4].try_into().unwrap()) as usize == n
            && blob[n - 1] == 0xFF
        {
            if let Ok(lp) = Listpack::new(&blob) {
                if lp.validate().is_ok() {
                    f.seqs.push(lp.iter().map(|e| text(e.unwrap())).collect());
                }
            }
            if let Ok(zl) = Ziplist::new(&blob) {
                if zl.validate().is_ok() {
                    f.seqs.push(zl.iter().map(|e| text(e.unwrap())).collect());
                }
            }
        }
        if let Ok(is) = Intset::new(&blob) {
            if is.validate().is_ok() {
                f.intsets.push(is.iter().collect());
            }
        }
        if n >= 4 && blob[n - 1] == 0xFF {
            if let Ok(zm) = Zipmap::new(&blob) {
                if zm.validate().is_ok() {
                    f.zipmaps.push(
                        zm.iter()
                            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
                            .collect(),
                    );
                }
            }
        }
        // A stream node: a 16-byte master ID string followed by a listpack string.
        if n == 16 && d[i] == 16 {
            if let Some((lpb, _)) = rdb_string(d, end) {
                if let Ok(lp) = Listpack::new(&lpb) {
                    if let Ok(node) = StreamNode::new(&blob, lp) {
                        if node.validate().is_ok() {
                            f.stream_nodes += 1;
                            for e in node.entries() {
                                let e = e.unwrap();
                                if e.deleted {
                                    continue;
                                }
                                let fields = e
                                    .fields()
                                    .map(|r| r.map(|(a, b)| (text(a), text(b))).unwrap())
                                    .collect();
                                f.stream_entries
                                    .entry(e.id.to_string())
                                    .or_default()
                                    .push(fields);
                            }
                        }
                    }
                }
            }
        }
    }
    f
}

fn b64(s: &str) -> Bytes {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("bad base64"),
        }
    };
    let clean: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::new();
    for chunk in clean.chunks(4) {
        let mut acc = 0u32;
        for (k, &c) in chunk.iter().enumerate() {
            acc |= val(c) << (18 - 6 * k);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

fn jbytes(v: &Value) -> Bytes {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Object(o) => b64(o["base64"].as_str().unwrap()),
        other => panic!("not a byte string: {other}"),
    }
}

fn pairs(seq: &[Bytes]) -> Option<Vec<(Bytes, Bytes)>> {
    seq.len().is_multiple_of(2).then(|| {
        seq.chunks(2)
            .map(|c| (c[0].clone(), c[1].clone()))
            .collect()
    })
}

fn score(s: &[u8]) -> Option<f64> {
    match s {
        b"inf" => Some(f64::INFINITY),
        b"-inf" => Some(f64::NEG_INFINITY),
        _ => std::str::from_utf8(s).ok()?.parse().ok(),
    }
}

fn jscore(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        v => v.as_f64().unwrap(),
    }
}

#[derive(Default, Debug)]
struct Tally {
    checked: HashMap<&'static str, usize>,
    missing: Vec<String>,
}

fn check_file(rdb: &Path, tally: &mut Tally) {
    let data = std::fs::read(rdb).unwrap();
    let found = scan(&data);
    let expected = rdb.with_extension("expected.jsonl");
    let Ok(lines) = std::fs::read_to_string(&expected) else {
        return;
    };
    let seqs: HashSet<&Vec<Bytes>> = found.seqs.iter().collect();
    for line in lines.lines() {
        let k: Value = serde_json::from_str(line).unwrap();
        let ty = k["type"].as_str().unwrap();
        let enc = k["encoding"].as_str().unwrap();
        let v = &k["value"];
        let (kind, ok): (&'static str, bool) = match (ty, enc) {
            ("list", "listpack" | "ziplist") => {
                let want: Vec<Bytes> = v.as_array().unwrap().iter().map(jbytes).collect();
                ("list", seqs.contains(&want))
            }
            ("set", "intset") => {
                let mut want: Vec<Bytes> = v.as_array().unwrap().iter().map(jbytes).collect();
                want.sort();
                let hit = found.intsets.iter().any(|s| {
                    let mut got: Vec<Bytes> =
                        s.iter().map(|x| x.to_string().into_bytes()).collect();
                    got.sort();
                    got == want
                });
                ("intset", hit)
            }
            ("set", "listpack") => {
                let mut want: Vec<Bytes> = v.as_array().unwrap().iter().map(jbytes).collect();
                want.sort();
                let hit = found.seqs.iter().any(|s| {
                    let mut got = s.clone();
                    got.sort();
                    got == want
                });
                ("set listpack", hit)
            }
            ("hash", "listpack" | "ziplist" | "zipmap")
                if v.as_array()
                    .unwrap()
                    .iter()
                    .all(|p| p.as_array().unwrap().len() == 2) =>
            {
                let mut want: Vec<(Bytes, Bytes)> = v
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| (jbytes(&p[0]), jbytes(&p[1])))
                    .collect();
                want.sort();
                let hit = found
                    .seqs
                    .iter()
                    .filter_map(|s| pairs(s))
                    .chain(found.zipmaps.iter().cloned())
                    .any(|mut got| {
                        got.sort();
                        got == want
                    });
                ("hash", hit)
            }
            ("zset", "listpack" | "ziplist") => {
                let want: Vec<(Bytes, f64)> = v
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| (jbytes(&p[0]), jscore(&p[1])))
                    .collect();
                let hit = found.seqs.iter().filter_map(|s| pairs(s)).any(|got| {
                    got.len() == want.len()
                        && got.iter().zip(&want).all(|((m, s), (wm, ws))| {
                            m == wm
                                && score(s).is_some_and(|x| x == *ws || (x.is_nan() && ws.is_nan()))
                        })
                });
                ("zset", hit)
            }
            ("stream", _) => {
                let entries = v["entries"].as_array().unwrap();
                let hit = entries.iter().all(|e| {
                    let id = e[0].as_str().unwrap();
                    let want: Vec<(Bytes, Bytes)> = e[1]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| (jbytes(&p[0]), jbytes(&p[1])))
                        .collect();
                    found
                        .stream_entries
                        .get(id)
                        .is_some_and(|c| c.contains(&want))
                });
                ("stream", hit)
            }
            _ => continue,
        };
        *tally.checked.entry(kind).or_default() += 1;
        if !ok {
            tally
                .missing
                .push(format!("{}: {kind} {}", rdb.display(), k["key"]));
        }
    }
}

#[test]
fn corpus_blobs_match_ground_truth() {
    let Some(corpus) = corpus() else { return };
    let mut tally = Tally::default();
    let versions = rdbkit_testkit::sorted_subdirs(&corpus.join("rdb"));
    for v in &versions {
        for variant in ["mini", "nocompress", "base", "nochecksum"] {
            let f = v.join(format!("{variant}.rdb"));
            if f.exists() {
                check_file(&f, &mut tally);
            }
        }
    }
    eprintln!("{tally:?}");
    assert!(
        tally.missing.is_empty(),
        "not found among the decoded blobs:\n{}",
        tally.missing.join("\n")
    );
    for kind in ["list", "intset", "set listpack", "hash", "zset", "stream"] {
        let n = tally.checked.get(kind).copied().unwrap_or(0);
        assert!(n >= 5, "only {n} {kind} keys checked");
    }
}

#[test]
fn third_party_zipmaps() {
    let Some(corpus) = corpus() else { return };
    let tp = corpus.join("third_party");
    let cases: &[(&str, &[(&str, &str)])] = &[
        (
            "HDT3213__rdb/cases/zipmap_that_doesnt_compress.rdb",
            &[("MKD1G6", "2"), ("YNNXK", "F7TI")],
        ),
        (
            "HDT3213__rdb/cases/zipmap_that_compresses_easily.rdb",
            &[("a", "aa"), ("aa", "aaaa"), ("aaaaa", "aaaaaaaaaaaaaa")],
        ),
        (
            "redis__redis/tests/assets/hash-zipmap.rdb",
            &[("f1", "v1"), ("f2", "v2")],
        ),
    ];
    for (path, want) in cases {
        let data = std::fs::read(tp.join(path)).unwrap();
        let found = scan(&data);
        let want: Vec<(Bytes, Bytes)> = want
            .iter()
            .map(|(a, b)| (a.as_bytes().to_vec(), b.as_bytes().to_vec()))
            .collect();
        assert!(found.zipmaps.contains(&want), "{path}: {:?}", found.zipmaps);
    }
    // Count byte 0xFF: Redis's integrity check refuses it, and so do we.
    let data = std::fs::read(tp.join("HDT3213__rdb/cases/zipmap_big_len.rdb")).unwrap();
    let mut refused = 0;
    for i in 0..data.len() {
        if let Some((blob, _)) = rdb_string(&data, i) {
            if blob.len() > 20 && blob[0] == 0xFF {
                if let Ok(zm) = Zipmap::new(&blob) {
                    let e = zm.validate().unwrap_err();
                    assert!(
                        e.what
                            .contains("header says 255 pairs but the zipmap holds 2"),
                        "{e}"
                    );
                    assert_eq!(zm.iter().count(), 2);
                    refused += 1;
                }
            }
        }
    }
    assert_eq!(refused, 1);
}
