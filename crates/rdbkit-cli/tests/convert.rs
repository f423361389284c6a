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
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let found = [
        ws.join("../shared/corpus/rdb"),
        PathBuf::from("/work/shared/corpus/rdb"),
    ]
    .into_iter()
    .find(|p| p.join("README.md").is_file());
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true but ../shared/corpus/rdb is missing");
        }
        eprintln!("SKIPPED: ../shared/corpus/rdb not found");
    }
    found
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
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(corpus)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for d in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&d)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "rdb"))
            .collect();
        files.sort();
        for f in files {
            let exp = f.with_extension("expected.jsonl");
            let meta = f.with_extension("meta.json");
            if exp.is_file() {
                out.push((f, exp, meta.is_file().then_some(meta)));
            }
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
    Tgt { name: "rdb-6", version: 6, valkey: false },
    Tgt { name: "rdb-7", version: 7, valkey: false },
    Tgt { name: "rdb-8", version: 8, valkey: false },
    Tgt { name: "rdb-9", version: 9, valkey: false },
    Tgt { name: "rdb-10", version: 10, valkey: false },
    Tgt { name: "rdb-11", version: 11, valkey: false },
    Tgt { name: "rdb-12", version: 12, valkey: false },
    Tgt { name: "rdb-13", version: 13, valkey: false },
    Tgt { name: "rdb-14", version: 14, valkey: false },
    Tgt { name: "rdb-15", version: 15, valkey: false },
    Tgt { name: "valkey-9.0", version: 80, valkey: true },
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
    assert!(d.status.success(), "{ctx}: dump: {}", String::from_utf8_lossy(&d.stderr));
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
                let g = got.get_mut(&k).unwrap_or_else(|| panic!("{ctx}: {k} missing"));
                assert_eq!(g["value"], j["value"], "{ctx}: {k} module payload");
                g["value"] = json!({"module": j["value"]["module"]});
            }
        }
    }
    let mut diffs = Vec::new();
    for (k, w) in &want {
        match got.get(k) {
            None => diffs.push(format!("{k}: missing")),
            Some(g) if g != w => diffs.push(format!(
                "{k}:\n    want {}\n    got  {}",
                cut(&w.to_string()),
                cut(&g.to_string())
            )),
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
        diffs.iter().take(8).cloned().collect::<Vec<_>>().join("\n  ")
    );
    let dropped: BTreeMap<String, u64> =
        serde_json::from_value(summary["dropped"].clone()).unwrap();
    let dropped: BTreeMap<String, u64> = dropped.into_iter().filter(|(k, _)| k != "empty").collect();
    assert_eq!(dropped, want_drops, "{ctx}: drop counts");
    assert_eq!(summary["keys_written"].as_u64().unwrap(), want.len() as u64, "{ctx}");
    summary
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

type Rec = (u64, Vec<u8>, u8, Vec<u8>, Option<i64>, Option<u64>, Option<u8>);

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
        assert_eq!(o.status.code(), Some(3), "{kind}: {}", String::from_utf8_lossy(&o.stderr));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(&format!("--drop {kind}")), "{err}");
        assert!(!out.exists(), "{kind}: OUT written");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "temp file left");
        // Named: converted, that kind counted.
        let o = run(Some(&format!("{},{kind}", others.join(","))));
        assert!(o.status.success(), "{kind}: {}", String::from_utf8_lossy(&o.stderr));
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
            assert!(err.contains(p.to_str().unwrap()), "error names the file: {err}");
            assert!(!out.exists());
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "temp file left");
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
    assert_eq!(keyed(got).keys().collect::<Vec<_>>(), keyed(want).keys().collect::<Vec<_>>());
}
