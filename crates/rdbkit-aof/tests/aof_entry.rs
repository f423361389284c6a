//! `Aof::open` / `items()` / `check()` over every layout of the shared AOF corpus: the
//! commands equal `*.commands.jsonl`, the RDB part's keys come first and are all there, and
//! the verdict agrees with the real `redis-check-aof`.
//!
//! Needs `../shared/corpus` (or `RDBKIT_CORPUS`); with `CI=true` its absence fails the test.

use std::path::PathBuf;

use rdbkit_aof::{Aof, AofItem};

fn corpus() -> Option<PathBuf> {
    rdbkit_testkit::corpus_dir()
}

#[test]
fn items_of_every_layout_equal_the_ground_truth() {
    let Some(corpus) = corpus() else { return };
    let aof_dir = corpus.join("aof");
    let mut layouts = 0;
    let versions = rdbkit_testkit::sorted_subdirs(&aof_dir);
    for ver in versions {
        let mut metas: Vec<_> = std::fs::read_dir(&ver)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".meta.json"))
            .collect();
        metas.sort();
        for meta_path in metas {
            let meta: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
            let variant = meta["variant"].as_str().unwrap();
            let dir = ver.join(variant);
            let input = dir.join(meta["input_path"].as_str().unwrap());
            let name = input.display().to_string();
            let want: Vec<Vec<Vec<u8>>> =
                std::fs::read_to_string(ver.join(format!("{variant}.commands.jsonl")))
                    .unwrap()
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(|l| {
                        let v: serde_json::Value = serde_json::from_str(l).unwrap();
                        v.as_array()
                            .unwrap()
                            .iter()
                            .map(rdbkit_testkit::json_bytes)
                            .collect()
                    })
                    .collect();
            // The RDB parts' key counts, read by the decoder on its own.
            let aof = Aof::open(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut base_keys = 0u64;
            for f in aof.files() {
                let b = std::fs::read(&f.path).unwrap();
                if rdbkit_rdb::is_rdb_magic(&b) {
                    base_keys += rdbkit_rdb::check_rdb_prefix(&b, false).unwrap().keys;
                }
            }
            let mut got = Vec::new();
            let mut keys = 0u64;
            let mut stamps = 0;
            for item in aof.items() {
                match item.unwrap_or_else(|e| panic!("{name}: {e}")) {
                    AofItem::Command(argv) => got.push(argv),
                    AofItem::RdbKey(k) => {
                        assert!(got.is_empty(), "{name}: a base key after a command");
                        assert!(!k.key.is_empty() || k.value.family() == "string");
                        keys += 1;
                    }
                    AofItem::Timestamp(_) => stamps += 1,
                    _ => {}
                }
            }
            assert_eq!(got.len(), want.len(), "{name}: command count");
            assert!(got == want, "{name}: commands differ");
            assert_eq!(keys, base_keys, "{name}: RDB part keys");
            if variant == "mp-ts" {
                assert!(stamps > 0, "{name}: no #TS annotation");
            }
            // The verdict equals the real tool's on the untouched data set.
            let tool: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(ver.join(format!("{variant}.verdict.json"))).unwrap(),
            )
            .unwrap();
            let v = aof.check().unwrap();
            assert_eq!(
                v.valid,
                tool["exit_code"].as_i64() == Some(0),
                "{name}: verdict"
            );
            if v.valid {
                assert_eq!(v.commands as usize, want.len(), "{name}: commands checked");
                assert!(v.fixable.is_none() && v.refusal.is_none());
            }
            layouts += 1;
        }
    }
    assert!(layouts >= 25, "{layouts} layouts");
}

#[test]
fn a_damaged_base_keeps_the_decoders_error_as_source() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/aof/appendonlydir");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("appendonlydir");
    std::fs::create_dir(&dir).unwrap();
    let mut base_len = 0;
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        let mut b = std::fs::read(e.path()).unwrap();
        if e.file_name().to_string_lossy().ends_with(".base.rdb") {
            base_len = b.len();
            b.truncate(b.len() / 2);
        }
        std::fs::write(dir.join(e.file_name()), b).unwrap();
    }
    assert!(base_len > 0, "testdata has an RDB base");
    let aof = Aof::open(&dir).unwrap();
    let err = aof
        .items()
        .find_map(|i| i.err())
        .expect("the cut base fails");
    assert!(err.to_string().contains(".base.rdb"), "{err}");
    let source = std::error::Error::source(&err).expect("a source");
    let rdb = source
        .downcast_ref::<rdbkit_rdb::Error>()
        .expect("the decoder's error");
    assert!(rdb.is_truncated(), "{rdb}");
    assert!(
        rdb.offset > 0 && rdb.offset <= (base_len / 2) as u64,
        "{rdb}"
    );
    assert!(!aof.check().unwrap().valid);
}
