//! `rdbkit convert`: every corpus RDB (and testdata) converted to every target, read back, equals
//! the source's ground truth minus exactly the documented drops; lossy conversions refused by
//! default; damaged input leaves nothing; OUT is never overwritten without --force.
//! The corpus tests skip with a message when ../shared/corpus is absent (fail under CI=true).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{run_rdbkit, TempDir};
use serde_json::{json, Value};

pub fn corpus_rdb() -> Option<PathBuf> {
    common::corpus_dir().map(|c| c.join("rdb"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// (rdb, expected.jsonl, meta.json if any) for every corpus file and testdata's sample.
fn all_files(corpus: &Path) -> Vec<(PathBuf, PathBuf, Option<PathBuf>)> {
    let mut out = vec![(
        repo().join("testdata/rdb/sample.rdb"),
        repo().join("testdata/rdb/sample.expected.jsonl"),
        None,
    )];
    for f in common::corpus_rdbs(corpus) {
        let exp = f.with_extension("expected.jsonl");
        let meta = f.with_extension("meta.json");
        if exp.is_file() {
            out.push((f, exp, meta.is_file().then_some(meta)));
        }
    }
    out
}

/// The RDB version in a file's header.
fn header_version(rdb: &Path) -> u32 {
    let b = std::fs::read(rdb).unwrap();
    std::str::from_utf8(&b[5..9]).unwrap().parse().unwrap()
}

/// Stream format a server of RDB version `v` writes (0: none).
fn stream_version(v: u32) -> u8 {
    match v {
        0..=8 => 0,
        9 => 1,
        10 => 2,
        80.. => 3,
        _ => 3,
    }
}

/// What a target holds.
#[derive(Clone, Copy, Debug)]
struct Tgt {
    name: &'static str,
    version: u32,
    valkey: bool,
}

const TARGETS: &[Tgt] = &[
    Tgt {
        name: "rdb-6",
        version: 6,
        valkey: false,
    },
    Tgt {
        name: "rdb-7",
        version: 7,
        valkey: false,
    },
    Tgt {
        name: "rdb-8",
        version: 8,
        valkey: false,
    },
    Tgt {
        name: "rdb-9",
        version: 9,
        valkey: false,
    },
    Tgt {
        name: "rdb-10",
        version: 10,
        valkey: false,
    },
    Tgt {
        name: "rdb-11",
        version: 11,
        valkey: false,
    },
    Tgt {
        name: "rdb-12",
        version: 12,
        valkey: false,
    },
    Tgt {
        name: "rdb-13",
        version: 13,
        valkey: false,
    },
    Tgt {
        name: "rdb-14",
        version: 14,
        valkey: false,
    },
    Tgt {
        name: "rdb-15",
        version: 15,
        valkey: false,
    },
    Tgt {
        name: "valkey-9.0",
        version: 80,
        valkey: true,
    },
];

impl Tgt {
    fn streams(&self) -> u8 {
        stream_version(self.version)
    }
    fn field_ttl(&self) -> bool {
        self.valkey || self.version >= 12
    }
    fn modules(&self) -> bool {
        self.version >= 8
    }
    fn lru_lfu(&self) -> bool {
        self.version >= 9
    }
    fn functions(&self) -> bool {
        self.version >= 10
    }
}

/// A ground-truth line made comparable: no encoding, sets/hashes sorted, hashes without any
/// TTL as pairs, optional attributes removed as asked.
pub fn normalize(j: &mut Value, keep_lru_lfu: bool) {
    let o = j.as_object_mut().unwrap();
    o.remove("encoding");
    if !keep_lru_lfu {
        o.remove("lru_idle");
        o.remove("lfu_freq");
    }
    let ty = o["type"].as_str().unwrap().to_string();
    let v = o.get_mut("value").unwrap();
    match ty.as_str() {
        "set" => sort_json(v),
        "hash" => {
            let arr = v.as_array_mut().unwrap();
            if arr
                .iter()
                .all(|p| p.as_array().unwrap().get(2).is_none_or(Value::is_null))
            {
                for p in arr.iter_mut() {
                    p.as_array_mut().unwrap().truncate(2);
                }
            }
            sort_json(v);
        }
        _ => {}
    }
}

fn sort_json(v: &mut Value) {
    if let Some(a) = v.as_array_mut() {
        a.sort_by_key(|x| x.to_string());
    }
}

/// Drops the stream fields a v1 stream does not have.
fn strip_stream_v2(v: &mut Value) {
    let o = v.as_object_mut().unwrap();
    for f in ["first_id", "max_deleted_id", "entries_added"] {
        o.remove(f);
    }
    for g in o.get_mut("groups").unwrap().as_array_mut().unwrap() {
        g.as_object_mut().unwrap().remove("entries_read");
    }
}

fn read_jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn keyed(v: Vec<Value>) -> BTreeMap<String, Value> {
    v.into_iter()
        .map(|j| (format!("{}/{}", j["db"], j["key"]), j))
        .collect()
}

/// What the expected data set becomes on `t` with `--drop all`, and the drop counts.
fn expected_on(
    expected: &[Value],
    meta: Option<&Value>,
    src_version: u32,
    src_records: (u64, u64),
    t: &Tgt,
) -> (BTreeMap<String, Value>, BTreeMap<String, u64>) {
    let mut drops: BTreeMap<String, u64> = BTreeMap::new();
    let mut out = Vec::new();
    let src_sv = stream_version(src_version);
    for j in expected {
        let mut j = j.clone();
        let ty = j["type"].as_str().unwrap().to_string();
        match ty.as_str() {
            "stream" if t.streams() == 0 => {
                *drops.entry("streams".into()).or_default() += 1;
                continue;
            }
            "stream" if src_sv > t.streams() => {
                *drops.entry("stream-meta".into()).or_default() += 1;
                if t.streams() < 2 {
                    strip_stream_v2(&mut j["value"]);
                }
            }
            "module" if !t.modules() => {
                *drops.entry("modules".into()).or_default() += 1;
                continue;
            }
            "hash" if !t.field_ttl() => {
                let arr = j["value"].as_array_mut().unwrap();
                if arr.iter().any(|p| p.get(2).is_some_and(|x| !x.is_null())) {
                    *drops.entry("field-ttl".into()).or_default() += 1;
                }
                for p in arr.iter_mut() {
                    p.as_array_mut().unwrap().truncate(2);
                }
            }
            _ => {}
        }
        normalize(&mut j, t.lru_lfu());
        out.push(j);
    }
    let (nf, na) = match meta {
        Some(m) => (
            m["functions"].as_array().map_or(0, Vec::len) as u64,
            m["module_aux"].as_array().map_or(0, Vec::len) as u64,
        ),
        None => (src_records.0, src_records.1),
    };
    if nf > 0 && !t.functions() {
        drops.insert("functions".into(), nf);
    }
    if na > 0 && t.version < 9 {
        drops.insert("module-aux".into(), na);
    }
    (keyed(out), drops)
}

/// Converts, dumps the output, compares; returns the summary.
fn check_one(
    dir: &TempDir,
    rdb: &Path,
    exp: &[Value],
    meta: Option<&Value>,
    t: &Tgt,
    extra: &[&str],
) -> Value {
    let out = dir.join(format!("{}.rdb", t.name));
    let _ = std::fs::remove_file(&out);
    let mut args = vec![
        "convert".to_string(),
        rdb.display().to_string(),
        out.display().to_string(),
        "--target".into(),
        t.name.into(),
        "--drop".into(),
        "all".into(),
        "--json".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = run_rdbkit(&args);
    let ctx = format!("{} -> {} {extra:?}", rdb.display(), t.name);
    assert!(
        o.status.success(),
        "{ctx}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    // The file is what the target's header says, and passes the deep check.
    let chk = run_rdbkit(["check", out.to_str().unwrap()]);
    assert!(
        chk.status.success(),
        "{ctx}: check: {}{}",
        String::from_utf8_lossy(&chk.stdout),
        String::from_utf8_lossy(&chk.stderr)
    );
    let d = run_rdbkit(["dump", out.to_str().unwrap()]);
    assert!(
        d.status.success(),
        "{ctx}: dump: {}",
        String::from_utf8_lossy(&d.stderr)
    );
    let src_version = header_version(rdb);
    let (want, want_drops) = expected_on(exp, meta, src_version, functions_and_module_aux(rdb), t);
    let mut got = read_jsonl(&String::from_utf8_lossy(&d.stdout));
    for g in &mut got {
        normalize(g, t.lru_lfu());
        // A v1 source upgraded: the derived v2 fields are not in its ground truth.
        if g["type"] == "stream" && stream_version(src_version) < 2 {
            strip_stream_v2(&mut g["value"]);
        }
    }
    let mut got = keyed(got);
    // Module payloads (the ground truth names only the module): as the source's dump has them.
    if want.values().any(|w| w["type"] == "module") {
        let src = run_rdbkit(["dump", rdb.to_str().unwrap()]);
        for j in read_jsonl(&String::from_utf8_lossy(&src.stdout)) {
            if j["type"] == "module" {
                let k = format!("{}/{}", j["db"], j["key"]);
                let g = got
                    .get_mut(&k)
                    .unwrap_or_else(|| panic!("{ctx}: {k} missing"));
                assert_eq!(g["value"], j["value"], "{ctx}: {k} module payload");
                g["value"] = json!({"module": j["value"]["module"]});
            }
        }
    }
    let mut diffs = Vec::new();
    for (k, w) in &want {
        match got.get(k) {
            None => diffs.push(format!("{k}: missing")),
            Some(g) if g != w => diffs.push(format!("{k}: {}", show_diff(w, g))),
            _ => {}
        }
    }
    for k in got.keys() {
        if !want.contains_key(k) {
            diffs.push(format!("{k}: not expected"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{ctx}: {} difference(s):\n  {}",
        diffs.len(),
        diffs
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  ")
    );
    let dropped: BTreeMap<String, u64> =
        serde_json::from_value(summary["dropped"].clone()).unwrap();
    let dropped: BTreeMap<String, u64> =
        dropped.into_iter().filter(|(k, _)| k != "empty").collect();
    assert_eq!(dropped, want_drops, "{ctx}: drop counts");
    assert_eq!(
        summary["keys_written"].as_u64().unwrap(),
        want.len() as u64,
        "{ctx}"
    );
    summary
}

/// Where two key records differ: the first differing element of the value when both are
/// arrays of the same kind.
fn show_diff(w: &Value, g: &Value) -> String {
    if let (Some(a), Some(b)) = (w["value"].as_array(), g["value"].as_array()) {
        if let Some(i) = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i)) {
            return format!(
                "value[{i}] want {} got {} ({} vs {} elements)",
                cut(&format!("{:?}", a.get(i))),
                cut(&format!("{:?}", b.get(i))),
                a.len(),
                b.len()
            );
        }
    }
    format!(
        "\n    want {}\n    got  {}",
        cut(&w.to_string()),
        cut(&g.to_string())
    )
}

fn cut(s: &str) -> String {
    s.chars().take(400).collect()
}

/// Every corpus file (and testdata's sample) to every target: re-encoded, and (default)
/// passed through where the target reads the stored encoding.
#[test]
fn every_corpus_file_round_trips_to_every_target() {
    let Some(corpus) = corpus_rdb() else { return };
    let dir = TempDir::new("convert-rt");
    let mut n = 0;
    for (rdb, exp, meta) in all_files(&corpus) {
        let expected = read_jsonl(&std::fs::read_to_string(&exp).unwrap());
        let meta: Option<Value> =
            meta.map(|m| serde_json::from_str(&std::fs::read_to_string(m).unwrap()).unwrap());
        let base = rdb.file_stem().unwrap().to_string_lossy().into_owned();
        for t in TARGETS {
            check_one(&dir, &rdb, &expected, meta.as_ref(), t, &["--re-encode"]);
            n += 1;
            if base == "base" || base == "modules" || base == "sample" {
                let s = check_one(&dir, &rdb, &expected, meta.as_ref(), t, &[]);
                n += 1;
                // Same version: every key is copied as stored.
                if header_version(&rdb) == t.version && !t.valkey {
                    assert_eq!(s["re_encoded"], json!(0), "{} -> {}", rdb.display(), t.name);
                }
            }
        }
    }
    assert!(n > 200, "only {n} conversions");
}

/// A same-version conversion copies every record as stored: the same keys, type bytes,
/// value bytes, expiries and LRU/LFU.
#[test]
fn same_version_pass_through_is_byte_identical_per_record() {
    let Some(corpus) = corpus_rdb() else { return };
    let dir = TempDir::new("convert-same");
    for v in ["6.2.14", "7.0.15", "7.4.1", "valkey-8.1.8"] {
        for variant in ["base", "lfu", "modules"] {
            let src = corpus.join(v).join(format!("{variant}.rdb"));
            if !src.is_file() {
                continue;
            }
            let ver = header_version(&src);
            let out = dir.join(format!("{v}-{variant}.rdb"));
            let o = run_rdbkit([
                "convert",
                src.to_str().unwrap(),
                out.to_str().unwrap(),
                "--target",
                &format!("rdb-{ver}"),
            ]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let a = records(&src);
            let b = records(&out);
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(x, y, "{v} {variant}");
            }
        }
    }
}

/// Function libraries and module AUX records of a file without a meta.json.
fn functions_and_module_aux(p: &Path) -> (u64, u64) {
    use rdbkit_rdb::{Options, RdbFile, Record};
    let f = RdbFile::open(p).unwrap();
    let mut parser = f.parser(Options::default());
    let (mut nf, mut na) = (0, 0);
    while let Some(r) = parser.next() {
        match r.unwrap() {
            Record::Function { .. } | Record::FunctionPreGa { .. } => nf += 1,
            Record::ModuleAux { .. } => na += 1,
            _ => {}
        }
    }
    (nf, na)
}

type Rec = (
    u64,
    Vec<u8>,
    u8,
    Vec<u8>,
    Option<i64>,
    Option<u64>,
    Option<u8>,
);

fn records(p: &Path) -> Vec<Rec> {
    use rdbkit_rdb::{Options, RdbFile, Record};
    let f = RdbFile::open(p).unwrap();
    let mut parser = f.parser(Options::default());
    let mut out = Vec::new();
    while let Some(r) = parser.next() {
        if let Record::Key(k) = r.unwrap() {
            out.push((
                k.db,
                k.key.to_vec(),
                k.value.type_byte,
                k.value.raw().to_vec(),
                k.expire_ms,
                k.lru_idle,
                k.lfu_freq,
            ));
        }
    }
    out
}

/// Each kind of loss: refused by default (exit 3, no OUT, no temporary file), and with
/// `--drop KIND` exactly that kind is dropped and counted.
#[test]
fn every_lossy_case_refuses_by_default_and_drops_what_is_named() {
    let Some(corpus) = corpus_rdb() else { return };
    let cases: &[(&str, &str, &str)] = &[
        ("7.4.1/base.rdb", "rdb-11", "field-ttl"),
        ("7.4.1/base.rdb", "valkey-8.1", "field-ttl"),
        ("7.0.15/base.rdb", "rdb-9", "functions"),
        ("7.0.15/base.rdb", "rdb-9", "stream-meta"),
        ("5.0.14/base.rdb", "rdb-8", "streams"),
        ("4.0.14/modules.rdb", "rdb-7", "modules"),
        ("5.0.14/modules.rdb", "rdb-8", "module-aux"),
    ];
    for (src, target, kind) in cases {
        let dir = TempDir::new("convert-loss");
        let src = corpus.join(src);
        let out = dir.join("out.rdb");
        let run = |drop: Option<&str>| {
            let mut a = vec![
                "convert".to_string(),
                src.display().to_string(),
                out.display().to_string(),
                "--target".into(),
                target.to_string(),
                "--json".into(),
            ];
            if let Some(d) = drop {
                a.push("--drop".into());
                a.push(d.into());
            }
            run_rdbkit(&a)
        };
        // Every other kind is accepted, this one is not: refused.
        let others: Vec<&str> = [
            "field-ttl",
            "functions",
            "stream-meta",
            "streams",
            "modules",
            "module-aux",
        ]
        .into_iter()
        .filter(|k| k != kind)
        .collect();
        let o = run(Some(&others.join(",")));
        assert_eq!(
            o.status.code(),
            Some(3),
            "{kind}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(&format!("--drop {kind}")), "{err}");
        assert!(!out.exists(), "{kind}: OUT written");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "temp file left"
        );
        // Named: converted, that kind counted.
        let o = run(Some(&format!("{},{kind}", others.join(","))));
        assert!(
            o.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let s: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(s["dropped"][kind].as_u64().unwrap() > 0, "{kind}: {s}");
        // Just this kind named: the other losses of the file (if any) still refuse.
        std::fs::remove_file(&out).unwrap();
        let o = run(Some(kind));
        if o.status.success() {
            let s: Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(s["dropped"].as_object().unwrap().len(), 1, "{kind}: {s}");
        } else {
            assert_eq!(o.status.code(), Some(3));
            assert!(!out.exists());
        }
    }
}

/// A damaged source stops with the decoder's located error: no OUT, no temporary file.
#[test]
fn damaged_source_leaves_nothing() {
    let Some(corpus) = corpus_rdb() else { return };
    let mut n = 0;
    for v in ["6.2.14", "7.0.15", "7.4.1", "valkey-8.1.8"] {
        let cdir = corpus.join(v).join("corrupt");
        for e in std::fs::read_dir(&cdir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_none_or(|e| e != "rdb") {
                continue;
            }
            let dir = TempDir::new("convert-bad");
            let out = dir.join("out.rdb");
            let o = run_rdbkit([
                "convert",
                p.to_str().unwrap(),
                out.to_str().unwrap(),
                "--target",
                "rdb-9",
                "--drop",
                "all",
                "--re-encode",
            ]);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(!o.status.success(), "{}: accepted", p.display());
            assert!(matches!(o.status.code(), Some(1) | Some(2)), "{err}");
            assert!(
                err.contains(p.to_str().unwrap()),
                "error names the file: {err}"
            );
            assert!(!out.exists());
            assert_eq!(
                std::fs::read_dir(dir.path()).unwrap().count(),
                0,
                "temp file left"
            );
            n += 1;
        }
    }
    assert!(n > 4);
}

/// An existing OUT is kept without --force and replaced with it; OUT = IN is refused.
#[test]
fn out_is_never_overwritten_without_force() {
    let dir = TempDir::new("convert-force");
    let src = repo().join("testdata/rdb/sample.rdb");
    let out = dir.join("out.rdb");
    std::fs::write(&out, b"precious").unwrap();
    let args = |force: bool| {
        let mut a = vec![
            "convert".to_string(),
            src.display().to_string(),
            out.display().to_string(),
            "--target".into(),
            "rdb-11".into(),
            "--drop".into(),
            "all".into(),
        ];
        if force {
            a.push("--force".into());
        }
        a
    };
    let o = run_rdbkit(args(false));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    let o = run_rdbkit(args(true));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read(&out).unwrap().starts_with(b"REDIS0011"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // OUT = IN: refused even with --force, IN untouched.
    let copy = dir.join("in.rdb");
    std::fs::copy(&src, &copy).unwrap();
    let before = std::fs::read(&copy).unwrap();
    let o = run_rdbkit([
        "convert",
        copy.to_str().unwrap(),
        copy.to_str().unwrap(),
        "--target",
        "rdb-9",
        "--force",
        "--drop",
        "all",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read(&copy).unwrap(), before);
}

/// A read-only directory: the conversion fails and the old OUT stays as it was.
#[cfg(unix)]
#[test]
fn read_only_directory_keeps_old_out() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("convert-ro");
    let sub = dir.join("ro");
    std::fs::create_dir(&sub).unwrap();
    let out = sub.join("out.rdb");
    std::fs::write(&out, b"old").unwrap();
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(sub.join("probe"), b"x").is_ok() {
        let _ = std::fs::remove_file(sub.join("probe"));
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
        eprintln!("SKIPPED: running as a user that writes into read-only directories (root)");
        return;
    }
    let o = run_rdbkit([
        "convert",
        repo().join("testdata/rdb/sample.rdb").to_str().unwrap(),
        out.to_str().unwrap(),
        "--target",
        "rdb-10",
        "--force",
        "--drop",
        "all",
    ]);
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read(&out).unwrap(), b"old");
    assert_eq!(std::fs::read_dir(&sub).unwrap().count(), 1);
}

/// An AOF directory converted is its offline rewrite: the keys of its ground truth.
#[test]
fn aof_directory_becomes_one_rdb() {
    let dir = TempDir::new("convert-aof");
    let src = repo().join("testdata/aof/appendonlydir");
    let exp = repo().join("testdata/aof/appendonlydir.expected.jsonl");
    if !src.is_dir() || !exp.is_file() {
        panic!("testdata/aof/appendonlydir missing");
    }
    let out = dir.join("dump.rdb");
    let o = run_rdbkit([
        "convert",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "--target",
        "rdb-11",
        "--now",
        "2020-01-01",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d = run_rdbkit(["dump", out.to_str().unwrap()]);
    assert!(d.status.success());
    let mut got = read_jsonl(&String::from_utf8_lossy(&d.stdout));
    let mut want = read_jsonl(&std::fs::read_to_string(&exp).unwrap());
    for j in got.iter_mut().chain(want.iter_mut()) {
        normalize(j, false);
    }
    let (got, want) = (keyed(got), keyed(want));
    for (k, w) in &want {
        let g = got.get(k).unwrap_or_else(|| panic!("{k} missing"));
        assert_eq!(g, w, "{k}: {}", show_diff(w, g));
    }
    assert_eq!(got.len(), want.len());
}

// ---------------------------------------------------------------------------------------------
// Loaded by real servers

use common::{Client, Reply, Server, ServerKind};

fn b64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Bytes in the ground truth's JSON form.
fn bj(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => Value::String(s.into()),
        Err(_) => json!({ "base64": b64(b) }),
    }
}

fn score_json(s: f64) -> Value {
    if s == f64::INFINITY {
        json!("inf")
    } else if s == f64::NEG_INFINITY {
        json!("-inf")
    } else {
        json!(s)
    }
}

/// A ground-truth value reduced to what every server reports alike: zset scores as doubles,
/// streams as entries, length, last ID and groups (name, last delivered ID, PEL, consumers).
fn comparable(j: &mut Value) {
    let ty = j["type"].as_str().unwrap().to_string();
    let v = &mut j["value"];
    match ty.as_str() {
        "zset" => {
            for p in v.as_array_mut().unwrap() {
                if let Some(f) = p[1].as_f64() {
                    p[1] = json!(f);
                }
            }
        }
        "stream" => {
            let mut groups: Vec<Value> = v["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| {
                    let mut cons = g["consumers"].as_array().unwrap().clone();
                    cons.sort_by_key(|c| c["name"].to_string());
                    json!({"name": g["name"], "last_delivered_id": g["last_delivered_id"],
                           "pending": g["pending"], "consumers": cons})
                })
                .collect();
            groups.sort_by_key(|g| g["name"].to_string());
            *v = json!({"length": v["length"], "last_id": v["last_id"],
                        "entries": v["entries"], "groups": groups});
        }
        _ => {}
    }
}

/// Differences between the server's keyspace and `want`.
fn server_diffs(c: &mut Client, want: &BTreeMap<String, Value>) -> Vec<String> {
    let mut got = keyed(server_keyspace(c));
    let mut diffs = Vec::new();
    for (k, w) in want {
        let Some(g) = got.get_mut(k) else {
            diffs.push(format!("{k}: missing"));
            continue;
        };
        // PTTL is relative: an expiry within a minute of the truth is the same.
        if let (Some(a), Some(b)) = (g["expire_ms"].as_i64(), w["expire_ms"].as_i64()) {
            if (a - b).abs() < 60_000 {
                g["expire_ms"] = w["expire_ms"].clone();
            }
        }
        scores_close(w, g);
        if g != w {
            diffs.push(format!("{k}: {}", show_diff(w, g)));
        }
    }
    for k in got.keys() {
        if !want.contains_key(k) {
            diffs.push(format!("{k}: not expected"));
        }
    }
    diffs
}

/// The ground truth of `src` as a server of RDB version `v` holds it after the documented
/// drops (field TTLs, no streams below RDB 9), in [`comparable`] form.
fn want_on_server(src: &Path, v: u32) -> BTreeMap<String, Value> {
    let expected =
        read_jsonl(&std::fs::read_to_string(src.with_extension("expected.jsonl")).unwrap());
    let mut want: Vec<Value> = expected
        .into_iter()
        .filter(|j| j["type"] != "stream" || v >= 9)
        .collect();
    for j in &mut want {
        if j["type"] == "hash" {
            for p in j["value"].as_array_mut().unwrap() {
                p.as_array_mut().unwrap().truncate(2);
            }
        }
        normalize(j, false);
        comparable(j);
    }
    keyed(want)
}

/// `dump --format resp --restore --target` piped into Redis 6.2, Debian's 7.0 and Valkey 8.1
/// (their own `*-cli --pipe`): no error reply, every key equals the ground truth.
#[test]
fn restore_payloads_load_in_real_servers() {
    let Some(corpus) = corpus_rdb() else { return };
    let mut files: Vec<PathBuf> = [
        "3.2.13",
        "5.0.14",
        "6.2.14",
        "7.0.15",
        "7.2.6",
        "valkey-8.1.8",
    ]
    .iter()
    .map(|v| corpus.join(v).join("base.rdb"))
    .collect();
    files.push(repo().join("testdata/rdb/sample.rdb"));
    for kind in ServerKind::ALL {
        let Some(bin) = kind.require() else { continue };
        let cli = ["redis-cli", "valkey-cli"]
            .iter()
            .map(|n| bin.with_file_name(n))
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("redis-cli"));
        let v = kind.rdb_version();
        for src in &files {
            let want = want_on_server(src, v);
            let dir = TempDir::new("convert-restore");
            let mut a = vec![
                "dump".to_string(),
                "--format".into(),
                "resp".into(),
                "--restore".into(),
                "--target".into(),
                format!("rdb-{v}"),
                src.display().to_string(),
            ];
            if v < 10 {
                a.push("--no-functions".into());
            }
            let o = run_rdbkit(&a);
            let ctx = format!("{} restore rdb-{v} into {}", src.display(), kind.name());
            assert!(
                o.status.success(),
                "{ctx}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(text.contains("RESTORE"), "{ctx}: no RESTORE");
            let server = Server::start(&bin, dir.path(), &[]);
            let pipe = std::process::Command::new(&cli)
                .args(["-p", &server.port.to_string(), "--pipe"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut ch| {
                    use std::io::Write as _;
                    ch.stdin.take().unwrap().write_all(&o.stdout)?;
                    ch.wait_with_output()
                })
                .unwrap_or_else(|e| panic!("{ctx}: {}: {e}", cli.display()));
            let report = String::from_utf8_lossy(&pipe.stdout);
            assert!(report.contains("errors: 0"), "{ctx}: {report}");
            let mut c = server.client();
            let diffs = server_diffs(&mut c, &want);
            assert!(
                diffs.is_empty(),
                "{ctx}:\n  {}",
                diffs
                    .iter()
                    .take(8)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n  ")
            );
            server.shutdown();
        }
    }
}

/// serde_json's default float parsing is not always correctly rounded in the 17th digit: zset
/// scores within 1e-14 (relative) of the truth are taken as equal.
fn scores_close(w: &Value, g: &mut Value) {
    if w["type"] != "zset" {
        return;
    }
    let (Some(a), Some(b)) = (w["value"].as_array(), g["value"].as_array()) else {
        return;
    };
    let close = a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x[0] == y[0]
                && match (x[1].as_f64(), y[1].as_f64()) {
                    (Some(p), Some(q)) => (p - q).abs() <= 1e-14 * p.abs().max(q.abs()),
                    _ => x[1] == y[1],
                }
        });
    if close {
        g["value"] = w["value"].clone();
    }
}

fn texts(r: &Reply) -> Vec<Vec<u8>> {
    r.array().iter().map(Reply::bytes).collect()
}

fn cmd(c: &mut Client, a: &[&[u8]]) -> Reply {
    c.ok(a.iter().map(|x| x.to_vec()).collect())
}

/// Every key of a running server, in the ground truth's JSON shape (see [`comparable`]).
fn server_keyspace(c: &mut Client) -> Vec<Value> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut out = Vec::new();
    for db in 0..16u32 {
        cmd(c, &[b"SELECT", db.to_string().as_bytes()]);
        let mut keys = Vec::new();
        let mut cursor = b"0".to_vec();
        loop {
            let r = cmd(c, &[b"SCAN", &cursor, b"COUNT", b"1000"]);
            cursor = r.array()[0].bytes();
            keys.extend(texts(&r.array()[1]));
            if cursor == b"0" {
                break;
            }
        }
        for k in keys {
            let ty = cmd(c, &[b"TYPE", &k]).text();
            let pttl = cmd(c, &[b"PTTL", &k]).int();
            let value = match ty.as_str() {
                "string" => bj(&cmd(c, &[b"GET", &k]).bytes()),
                "list" => Value::Array(
                    texts(&cmd(c, &[b"LRANGE", &k, b"0", b"-1"]))
                        .iter()
                        .map(|b| bj(b))
                        .collect(),
                ),
                "set" => Value::Array(
                    texts(&cmd(c, &[b"SMEMBERS", &k]))
                        .iter()
                        .map(|b| bj(b))
                        .collect(),
                ),
                "zset" => Value::Array(
                    texts(&cmd(c, &[b"ZRANGE", &k, b"0", b"-1", b"WITHSCORES"]))
                        .chunks(2)
                        .map(|p| {
                            let s = String::from_utf8_lossy(&p[1]).to_string();
                            let f: f64 = match s.as_str() {
                                "inf" => f64::INFINITY,
                                "-inf" => f64::NEG_INFINITY,
                                _ => s.parse().unwrap(),
                            };
                            json!([bj(&p[0]), score_json(f)])
                        })
                        .collect(),
                ),
                "hash" => Value::Array(
                    texts(&cmd(c, &[b"HGETALL", &k]))
                        .chunks(2)
                        .map(|p| json!([bj(&p[0]), bj(&p[1])]))
                        .collect(),
                ),
                "stream" => server_stream(c, &k),
                other => panic!("key {}: type {other}", String::from_utf8_lossy(&k)),
            };
            let mut j = json!({"db": db, "key": bj(&k), "type": ty,
                               "expire_ms": if pttl >= 0 { json!(now + pttl) } else { Value::Null },
                               "value": value});
            normalize(&mut j, false);
            comparable(&mut j);
            out.push(j);
        }
    }
    cmd(c, &[b"SELECT", b"0"]);
    out
}

fn server_stream(c: &mut Client, k: &[u8]) -> Value {
    let entries: Vec<Value> = cmd(c, &[b"XRANGE", k, b"-", b"+"])
        .array()
        .iter()
        .map(|e| {
            let fv: Vec<Value> = texts(&e.array()[1])
                .chunks(2)
                .map(|p| json!([bj(&p[0]), bj(&p[1])]))
                .collect();
            json!([e.array()[0].text(), fv])
        })
        .collect();
    let info = cmd(c, &[b"XINFO", b"STREAM", k]);
    let mut groups = Vec::new();
    for g in cmd(c, &[b"XINFO", b"GROUPS", k]).array() {
        let name = g.field("name").unwrap().bytes();
        let n = g.field("pending").unwrap().int().max(1).to_string();
        let pending: Vec<Value> = cmd(c, &[b"XPENDING", k, &name, b"-", b"+", n.as_bytes()])
            .array()
            .iter()
            .map(|p| {
                json!([
                    p.array()[0].text(),
                    bj(&p.array()[1].bytes()),
                    p.array()[3].int()
                ])
            })
            .collect();
        let mut consumers = Vec::new();
        for cons in cmd(c, &[b"XINFO", b"CONSUMERS", k, &name]).array() {
            let cname = cons.field("name").unwrap().bytes();
            let n = cons.field("pending").unwrap().int().max(1).to_string();
            let ids: Vec<Value> = cmd(
                c,
                &[b"XPENDING", k, &name, b"-", b"+", n.as_bytes(), &cname],
            )
            .array()
            .iter()
            .map(|p| json!(p.array()[0].text()))
            .collect();
            consumers.push(json!({"name": bj(&cname), "pending": ids}));
        }
        groups.push(json!({"name": bj(&name),
            "last_delivered_id": g.field("last-delivered-id").unwrap().text(),
            "pending": pending, "consumers": consumers}));
    }
    json!({"length": info.field("length").unwrap().int(),
           "last_id": info.field("last-generated-id").unwrap().text(),
           "entries": entries, "groups": groups})
}

/// Corpus files of every version converted to RDB 9 / 10 / 11 (passed through where the
/// server reads the stored encoding, and everything re-encoded), loaded by Redis 6.2, Debian's
/// Redis 7.0 and Valkey 8.1 as their `dbfilename`; every key read back equals the source's
/// ground truth minus the documented drops (field TTLs, stream metadata the server's format
/// has no place for, functions below RDB 10).
#[test]
fn converted_files_load_in_real_servers() {
    let Some(corpus) = corpus_rdb() else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path().join("base.rdb")))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files.push(repo().join("testdata/rdb/sample.rdb"));
    for kind in ServerKind::ALL {
        let Some(bin) = kind.require() else { continue };
        let target = format!("rdb-{}", kind.rdb_version());
        for src in &files {
            let want = want_on_server(src, kind.rdb_version());
            for mode in [&[][..], &["--re-encode"][..]] {
                let dir = TempDir::new("convert-live");
                let out = dir.join("dump.rdb");
                let mut a = vec![
                    "convert".to_string(),
                    src.display().to_string(),
                    out.display().to_string(),
                    "--target".into(),
                    target.clone(),
                    "--drop".into(),
                    "field-ttl,stream-meta,functions".into(),
                ];
                a.extend(mode.iter().map(|s| s.to_string()));
                let o = run_rdbkit(&a);
                let ctx = format!(
                    "{} -> {} {mode:?} in {}",
                    src.display(),
                    target,
                    kind.name()
                );
                assert!(
                    o.status.success(),
                    "{ctx}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                let server = Server::start(&bin, dir.path(), &["--dbfilename", "dump.rdb"]);
                let mut c = server.client();
                let diffs = server_diffs(&mut c, &want);
                // Function libraries survive where the server has functions.
                if kind.rdb_version() >= 10 {
                    let (nf, _) = functions_and_module_aux(src);
                    let libs = c.ok(vec![b"FUNCTION".to_vec(), b"LIST".to_vec()]);
                    assert_eq!(libs.array().len() as u64, nf, "{ctx}: function libraries");
                }
                assert!(
                    diffs.is_empty(),
                    "{ctx}: {} difference(s):\n  {}\n--- server log ---\n{}",
                    diffs.len(),
                    diffs
                        .iter()
                        .take(8)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("\n  "),
                    server.log_tail(20)
                );
                server.shutdown();
            }
        }
    }
}

/// Every third-party RDB of the corpus (other writers, odd versions, Valkey 9, Redis 8.x types)
/// converted to RDB 9, RDB 12 and Valkey 9 (re-encoded): either a file that passes
/// `rdbkit check`, or a clean refusal (exit 1 or 2) that leaves no OUT.
#[test]
fn third_party_files_convert_or_fail_cleanly() {
    let Some(corpus) = corpus_rdb() else { return };
    let tp = corpus.join("../third_party");
    let mut files = Vec::new();
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rdb") {
                out.push(p);
            }
        }
    }
    walk(&tp, &mut files);
    files.sort();
    let dir = TempDir::new("convert-tp");
    let (mut ok, mut refused) = (0, 0);
    for f in &files {
        for t in ["rdb-9", "rdb-12", "valkey-9.0"] {
            let out = dir.join("out.rdb");
            let _ = std::fs::remove_file(&out);
            let o = run_rdbkit([
                "convert",
                f.to_str().unwrap(),
                out.to_str().unwrap(),
                "--target",
                t,
                "--drop",
                "all",
                "--re-encode",
            ]);
            match o.status.code() {
                Some(0) => {
                    let c = run_rdbkit(["check", out.to_str().unwrap()]);
                    assert!(
                        c.status.success(),
                        "{} -> {t}: output fails check",
                        f.display()
                    );
                    ok += 1;
                }
                Some(1) | Some(2) => {
                    assert!(!out.exists(), "{} -> {t}: OUT left", f.display());
                    refused += 1;
                }
                other => panic!(
                    "{} -> {t}: exit {other:?}: {}",
                    f.display(),
                    String::from_utf8_lossy(&o.stderr)
                ),
            }
        }
        assert_eq!(
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| e.as_ref().unwrap().path() != dir.join("out.rdb"))
                .count(),
            0,
            "temp file left"
        );
    }
    assert!(ok > 30, "{ok} converted, {refused} refused");
}

/// `rdbkit dump` of a file, normalized, by key.
fn dump_keyed(p: &Path) -> BTreeMap<String, Value> {
    let d = run_rdbkit(["dump", p.to_str().unwrap()]);
    assert!(
        d.status.success(),
        "{}: {}",
        p.display(),
        String::from_utf8_lossy(&d.stderr)
    );
    let mut v = read_jsonl(&String::from_utf8_lossy(&d.stdout));
    for j in &mut v {
        normalize(j, true);
    }
    keyed(v)
}

/// The lossless paths: Valkey 9 `HASH_2` field TTLs become Redis 7.4 HFE types and back;
/// Redis 8.10 template hashes become plain hashes; Redis 8.8 arrays are re-encoded for RDB
/// 14+ and refused below unless `--drop arrays` (counted).
#[test]
fn lossless_paths_between_forks_and_new_types() {
    let dir = TempDir::new("convert-lossless");
    let conv = |src: &Path, out: &Path, target: &str, extra: &[&str]| {
        let mut a = vec![
            "convert".to_string(),
            src.display().to_string(),
            out.display().to_string(),
            "--target".into(),
            target.into(),
            "--json".into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        run_rdbkit(&a)
    };
    if let Some(corpus) = corpus_rdb() {
        let v9 = corpus.join("../third_party/HDT3213__rdb/cases/valkey_hash2_with_hfe.rdb");
        let src = dump_keyed(&v9);
        assert!(src
            .values()
            .any(|j| j["value"].to_string().contains("2715785640000")));
        let r12 = dir.join("r12.rdb");
        let o = conv(&v9, &r12, "rdb-12", &[]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(dump_keyed(&r12), src, "HASH_2 -> Redis 7.4 HFE");
        let back = dir.join("back.rdb");
        let o = conv(&r12, &back, "valkey-9.0", &[]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(std::fs::read(&back).unwrap().starts_with(b"VALKEY080"));
        assert_eq!(dump_keyed(&back), src, "Redis 7.4 HFE -> HASH_2");
        // Valkey 8.1 cannot hold them: refused, then dropped when named.
        let o = conv(&r12, &dir.join("v81.rdb"), "valkey-8.1", &[]);
        assert_eq!(o.status.code(), Some(3));
    }
    let t = repo().join("testdata/rdb/redis-8.10-types.rdb");
    let src = dump_keyed(&t);
    let arrays = src.values().filter(|j| j["type"] == "array").count() as u64;
    assert!(arrays > 0);
    let o = conv(&t, &dir.join("r12t.rdb"), "rdb-12", &[]);
    assert_eq!(o.status.code(), Some(3), "arrays refused below RDB 14");
    // Its Redis 8.8 stream (NACK zones) has no place in RDB 12's stream format either.
    let streams = src.values().filter(|j| j["type"] == "stream").count() as u64;
    let o = conv(
        &t,
        &dir.join("r12t.rdb"),
        "rdb-12",
        &["--drop", "arrays,stream-meta"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["dropped"]["arrays"].as_u64(), Some(arrays));
    assert_eq!(s["dropped"]["stream-meta"].as_u64(), Some(streams));
    let plain = |m: &BTreeMap<String, Value>| -> BTreeMap<String, Value> {
        m.iter()
            .filter(|(_, j)| j["type"] != "array" && j["type"] != "stream")
            .map(|(k, j)| (k.clone(), j.clone()))
            .collect()
    };
    let got = dump_keyed(&dir.join("r12t.rdb"));
    assert_eq!(
        plain(&got),
        plain(&src),
        "template hashes become plain hashes"
    );
    // RDB 14 holds arrays: passed through as stored, or re-encoded by the writer.
    let out = dir.join("r14.rdb");
    let o = conv(&t, &out, "rdb-14", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(dump_keyed(&out), src, "rdb-14 pass-through");
    std::fs::remove_file(&out).unwrap();
    let o = conv(
        &t,
        &out,
        "rdb-14",
        &["--re-encode", "--drop", "stream-meta"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = dump_keyed(&out);
    let arrays_of = |m: &BTreeMap<String, Value>| -> Vec<Value> {
        m.values()
            .filter(|j| j["type"] == "array")
            .cloned()
            .collect()
    };
    assert_eq!(arrays_of(&got), arrays_of(&src), "arrays re-encoded");
    assert_eq!(plain(&got), plain(&src));
}

/// Every AOF layout of the corpus (single file, RDB preamble, multi-part, with timestamps)
/// converted to RDB 12 is its offline rewrite: the data set equals the AOF's ground truth.
/// Layouts using a command the replay does not support yet are reported and skipped.
#[test]
fn aof_corpus_converts_to_its_data_set() {
    let Some(corpus) = corpus_rdb() else { return };
    let aof = corpus.join("../aof");
    let dir = TempDir::new("convert-aofs");
    let (mut ok, mut unsupported) = (0, Vec::new());
    let versions = rdbkit_testkit::sorted_subdirs(&aof);
    for v in versions {
        for e in std::fs::read_dir(&v).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(layout) = name.strip_suffix(".expected.jsonl") else {
                continue;
            };
            let src = v.join(layout);
            let out = dir.join("out.rdb");
            let _ = std::fs::remove_file(&out);
            let o = run_rdbkit([
                "convert",
                src.to_str().unwrap(),
                out.to_str().unwrap(),
                "--target",
                "rdb-12",
            ]);
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            if err.contains("not supported by the AOF replay") {
                unsupported.push(format!("{}: {}", src.display(), err.trim()));
                continue;
            }
            // Keys the replay cannot reproduce (a Redis < 5.0 EVAL propagated verbatim) are
            // refused by default (exit 3, nothing written), then left out and counted with
            // --drop value-unknown: the rest must still be the ground truth.
            let mut dropped_unknown = 0u64;
            if err.contains("value unknown") {
                assert_eq!(o.status.code(), Some(3), "{}: {err}", src.display());
                assert!(
                    !out.exists(),
                    "{}: OUT written despite the refusal",
                    src.display()
                );
                let o = run_rdbkit([
                    "convert",
                    src.to_str().unwrap(),
                    out.to_str().unwrap(),
                    "--target",
                    "rdb-12",
                    "--drop",
                    "value-unknown",
                    "--json",
                ]);
                assert!(
                    o.status.success(),
                    "{}: {}",
                    src.display(),
                    String::from_utf8_lossy(&o.stderr)
                );
                let sum: Value = serde_json::from_slice(&o.stdout).unwrap();
                dropped_unknown = sum["dropped"]["value-unknown"].as_u64().unwrap_or(0);
                assert!(dropped_unknown > 0, "{}: {sum}", src.display());
            } else {
                assert!(o.status.success(), "{}: {err}", src.display());
            }
            let mut want = read_jsonl(&std::fs::read_to_string(e.path()).unwrap());
            for j in &mut want {
                // The AOF ground truth lists field TTLs beside the pairs.
                if let Some(fe) = j.as_object_mut().unwrap().remove("field_expire_ms") {
                    let ttl: BTreeMap<String, Value> = fe
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| (p[0].to_string(), p[1].clone()))
                        .collect();
                    for p in j["value"].as_array_mut().unwrap() {
                        let t = ttl.get(&p[0].to_string()).cloned().unwrap_or(Value::Null);
                        p.as_array_mut().unwrap().push(t);
                    }
                }
                normalize(j, false);
            }
            let mut got = read_jsonl(&String::from_utf8_lossy(
                &run_rdbkit(["dump", out.to_str().unwrap()]).stdout,
            ));
            for j in &mut got {
                normalize(j, false);
            }
            let (mut got, want) = (keyed(got), keyed(want));
            let mut missing = 0u64;
            for (k, w) in &want {
                let Some(g) = got.get_mut(k) else {
                    assert!(dropped_unknown > 0, "{}: {k} missing", src.display());
                    missing += 1;
                    continue;
                };
                if w["type"] == "stream" {
                    // The ground truth has the entries, length and last ID (and groups when any).
                    let o = g["value"].as_object_mut().unwrap();
                    let keep: Vec<String> =
                        w["value"].as_object().unwrap().keys().cloned().collect();
                    o.retain(|f, _| keep.contains(f));
                }
                assert_eq!(g, w, "{}: {k}: {}", src.display(), show_diff(w, g));
            }
            assert_eq!(missing, dropped_unknown, "{}: keys left out", src.display());
            assert_eq!(
                got.len() as u64 + missing,
                want.len() as u64,
                "{}",
                src.display()
            );
            ok += 1;
        }
    }
    if !unsupported.is_empty() {
        eprintln!(
            "AOF layouts the replay cannot convert yet ({}):\n  {}",
            unsupported.len(),
            unsupported.join("\n  ")
        );
    }
    assert!(ok >= 20, "{ok} layouts converted");
}

/// LFU frequencies and LRU idle times survive a conversion: loaded by each server with the
/// matching `maxmemory-policy`, `OBJECT FREQ` / `OBJECT IDLETIME` of every key are the ground
/// truth's (idle times may have grown by the seconds the test took).
#[test]
fn lru_and_lfu_survive_in_real_servers() {
    let Some(corpus) = corpus_rdb() else { return };
    for kind in ServerKind::ALL {
        let Some(bin) = kind.require() else { continue };
        let target = format!("rdb-{}", kind.rdb_version());
        for (variant, policy) in [("lfu", "allkeys-lfu"), ("lru", "allkeys-lru")] {
            for v in ["6.2.14", "7.0.15", "7.2.6"] {
                let src = corpus.join(v).join(format!("{variant}.rdb"));
                let dir = TempDir::new("convert-lfu");
                let out = dir.join("dump.rdb");
                let o = run_rdbkit([
                    "convert",
                    src.to_str().unwrap(),
                    out.to_str().unwrap(),
                    "--target",
                    &target,
                    "--drop",
                    "all",
                    "--re-encode",
                ]);
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                let server = Server::start(
                    &bin,
                    dir.path(),
                    &["--dbfilename", "dump.rdb", "--maxmemory-policy", policy],
                );
                let mut c = server.client();
                let ctx = format!("{v} {variant} -> {} in {}", target, kind.name());
                let mut n = 0;
                for j in read_jsonl(
                    &std::fs::read_to_string(src.with_extension("expected.jsonl")).unwrap(),
                ) {
                    if j["type"] == "stream" && kind.rdb_version() < 9 {
                        continue;
                    }
                    let key = match &j["key"] {
                        Value::String(s) => s.as_bytes().to_vec(),
                        other => common::base64_decode(other["base64"].as_str().unwrap()).unwrap(),
                    };
                    let db = j["db"].to_string();
                    cmd(&mut c, &[b"SELECT", db.as_bytes()]);
                    if let Some(f) = j["lfu_freq"].as_i64() {
                        let got = cmd(&mut c, &[b"OBJECT", b"FREQ", &key]).int();
                        assert_eq!(got, f, "{ctx}: {} freq", j["key"]);
                        n += 1;
                    }
                    if let Some(i) = j["lru_idle"].as_i64() {
                        let got = cmd(&mut c, &[b"OBJECT", b"IDLETIME", &key]).int();
                        assert!(
                            got >= i && got < i + 120,
                            "{ctx}: {} idle {got} vs {i}",
                            j["key"]
                        );
                        n += 1;
                    }
                }
                assert!(n > 20, "{ctx}: {n} keys checked");
                server.shutdown();
            }
        }
    }
}

/// Ctrl-C (SIGINT) in the middle of a conversion: exit 130, the old OUT as it was, no
/// temporary file left.
#[cfg(unix)]
#[test]
fn interrupt_keeps_old_out_and_removes_temp_file() {
    use std::io::Write as _;
    let Some(corpus) = corpus_rdb() else { return };
    let data = std::fs::read(corpus.join("7.0.15/base.rdb")).unwrap();
    let dir = TempDir::new("convert-int");
    let out = dir.join("out.rdb");
    std::fs::write(&out, b"old").unwrap();
    let mut child = std::process::Command::new(common::rdbkit_bin())
        .args([
            "convert",
            "-",
            out.to_str().unwrap(),
            "--target",
            "rdb-9",
            "--drop",
            "all",
            "--force",
        ])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&data[..data.len() / 2]).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    // The temporary file exists while the conversion runs.
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "temporary file beside OUT"
    );
    let st = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    std::thread::sleep(std::time::Duration::from_millis(200));
    let _ = stdin.write_all(&data[data.len() / 2..]);
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"old");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "temporary file left"
    );
}
