//! Decode → re-encode → decode: every key of an input that decodes (deeply validated) is
//! written by the RDB writer for every target that can hold it (after stripping what the
//! target cannot), read back with deep validation and the checksum, and must equal the
//! source's logical value minus exactly what was stripped. And every key, damaged or not,
//! re-encoded straight from its stored entries ([`RdbWriter::key_value`]) gives the bytes (or
//! the decoding error) of the `OwnedValue` path, for every target — a stream, whose nodes it
//! copies as stored, the same type byte, loss and value read back.

use rdbkit_rdb::write::{loss, strip, RdbWriter, Transcoded, TARGETS};
use rdbkit_rdb::{
    ChecksumStatus, Options, OwnedValue, RdbParser, Record, Scratch, StreamId, Value,
};

/// The direct re-encoder against the `OwnedValue` path for one stored value, every target;
/// returns the decoded value.
fn direct_matches_owned(key: &[u8], value: &Value<'_>) -> rdbkit_rdb::Result<OwnedValue> {
    let owned = value.to_owned_value();
    let mut scratch = Scratch::new();
    for t in TARGETS {
        let mut direct = RdbWriter::<Vec<u8>>::fragment(*t);
        let r = direct.key_value(key, Some(7), None, None, value, &mut scratch);
        let bytes = direct.take_fragment();
        match (&r, &owned) {
            (Ok(Transcoded::Declined), _) => assert!(bytes.is_empty(), "{}", t.name),
            (Err(a), Err(b)) => {
                assert_eq!(a.to_string(), b.to_string(), "{}", t.name);
                assert!(bytes.is_empty(), "{}", t.name);
            }
            (Ok(Transcoded::Empty), Ok(v)) => {
                assert!(v.is_empty() && bytes.is_empty(), "{}", t.name)
            }
            // A stream: its nodes copied as stored, so not `key`'s bytes; the same type byte
            // and loss, and the value `key` writes once read back.
            (
                Ok(Transcoded::Written(ty) | Transcoded::Stripped(ty, _)),
                Ok(v @ OwnedValue::Stream(_)),
            ) => {
                let want_loss = match r {
                    Ok(Transcoded::Stripped(_, l)) => Some(l),
                    _ => None,
                };
                assert_eq!(loss(v, t), want_loss, "{}: loss", t.name);
                let mut stripped = v.clone();
                assert!(strip(&mut stripped, t).is_none(), "{}", t.name);
                let mut w = RdbWriter::<Vec<u8>>::fragment(*t);
                let want = w
                    .key(key, Some(7), None, None, &stripped)
                    .expect("written directly");
                assert_eq!(*ty, want, "{}: type byte", t.name);
                let mut f = RdbWriter::new(Vec::new(), *t).expect("Vec never fails");
                f.select_db(0).expect("Vec");
                let again = f.key_value(key, None, None, None, value, &mut scratch);
                assert_eq!(again.ok(), r.as_ref().ok().copied(), "{}", t.name);
                let file = f.finish().expect("Vec");
                assert_eq!(
                    read_back(&file, key, t.name),
                    expected_after(v, t),
                    "{}",
                    t.name
                );
            }
            (Ok(Transcoded::Written(ty)), Ok(v)) => {
                assert!(!v.is_empty() && loss(v, t).is_none(), "{}", t.name);
                let mut w = RdbWriter::<Vec<u8>>::fragment(*t);
                let want = w
                    .key(key, Some(7), None, None, v)
                    .expect("written directly");
                assert_eq!(*ty, want, "{}: type byte", t.name);
                assert_eq!(bytes, w.take_fragment(), "{}: bytes", t.name);
            }
            (r, o) => panic!("{}: direct {r:?}, owned path {o:?}", t.name),
        }
    }
    owned
}

/// The one key's value of `file` (read deeply, checksum verified), normalized.
fn read_back(file: &[u8], key: &[u8], target: &str) -> OwnedValue {
    let mut got = read_back_all(file, target);
    assert_eq!(got.len(), 1, "{target}: one key in the file");
    let (k, v) = got.pop().expect("one key");
    assert_eq!(k, key, "{target}");
    v
}

/// Every key of `file` with its value (read deeply, checksum verified), normalized, in order.
fn read_back_all(file: &[u8], target: &str) -> Vec<(Vec<u8>, OwnedValue)> {
    let mut rp = RdbParser::new(
        file,
        Options::default()
            .deep(true)
            .verify_checksum(true)
            .best_effort(false),
    );
    let mut got = Vec::new();
    let mut eof = false;
    while let Some(rec) = rp.next() {
        match rec.unwrap_or_else(|e| panic!("{target}: re-encoded file unreadable: {e}")) {
            Record::Key(k) => {
                let mut v = k.value.to_owned_value().expect("decoded once");
                v.normalize();
                got.push((k.key.to_vec(), v));
            }
            Record::Eof { checksum, .. } => {
                assert!(matches!(checksum, ChecksumStatus::Verified(_)));
                eof = true;
            }
            _ => {}
        }
    }
    assert!(
        eof,
        "{target}: the re-encoded file ends with its EOF record"
    );
    got
}

/// What `t` gives back for `v` once the writer filled in what a newer stream format needs.
fn expected_after(v: &OwnedValue, t: &rdbkit_rdb::write::Target) -> OwnedValue {
    let mut e = v.clone();
    strip(&mut e, t);
    if let OwnedValue::Stream(s) = &mut e {
        let tv = t.stream_version();
        if s.meta.version < 2 && tv >= 2 {
            s.meta.first_id = Some(s.entries.first().map(|e| e.0).unwrap_or_default());
            s.meta.max_deleted_id = Some(StreamId::default());
            s.meta.entries_added = Some(s.meta.length);
            for g in &mut s.groups {
                g.entries_read = Some(u64::MAX);
            }
        }
        if tv >= 3 {
            for g in &mut s.groups {
                for c in &mut g.consumers {
                    c.active_time_ms = c.active_time_ms.or(Some(c.seen_time_ms));
                }
            }
        }
        s.meta.version = tv;
    }
    e.normalize();
    e
}

/// The check (see the module docs).
pub fn rewrite(data: &[u8]) {
    let opts = Options::default()
        .deep(true)
        .verify_checksum(false)
        .best_effort(false);
    let mut p = RdbParser::new(data, opts);
    let mut values = Vec::new();
    while let Some(rec) = p.next() {
        match rec {
            Ok(Record::Key(k)) => match direct_matches_owned(k.key, &k.value) {
                Ok(v)
                    if !v.is_empty()
                        || matches!(v, OwnedValue::String(_) | OwnedValue::Stream(_)) =>
                {
                    values.push((k.key.to_vec(), v))
                }
                _ => {}
            },
            Ok(_) => {}
            Err(_) => break,
        }
        if values.len() >= 64 {
            break;
        }
    }
    // Per target, one file holding every value the target can hold as it is, each key in a
    // db of its own (the same name may come from two dbs of the input), read back once.
    for t in TARGETS {
        let mut wr = RdbWriter::new(Vec::new(), *t).expect("Vec never fails");
        let mut written = Vec::new();
        for (db, (key, v)) in values.iter().enumerate() {
            let mut w = v.clone();
            if strip(&mut w, t).is_some() {
                continue;
            }
            wr.select_db(db as u64).expect("Vec");
            wr.key(key, None, None, None, &w)
                .unwrap_or_else(|e| panic!("{}: stripped value refused: {e}", t.name));
            written.push((key, v));
        }
        if written.is_empty() {
            continue;
        }
        let file = wr.finish().expect("Vec");
        let got = read_back_all(&file, t.name);
        assert_eq!(
            got.len(),
            written.len(),
            "target {}: keys read back",
            t.name
        );
        for ((gk, got), (key, v)) in got.iter().zip(&written) {
            assert_eq!(gk, *key, "target {}", t.name);
            let want = expected_after(v, t);
            // A NaN (a module's double) is not equal to itself: compare as printed then.
            if *got != want {
                assert_eq!(format!("{got:?}"), format!("{want:?}"), "target {}", t.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn testdata_rewrites() {
        let p =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rdb/sample.rdb");
        super::rewrite(&std::fs::read(p).unwrap());
    }

    /// Every real-server file of the shared corpus (when present).
    #[test]
    fn corpus_rewrites() {
        let Some(root) = rdbkit_testkit::corpus_subdir("rdb") else {
            return;
        };
        let dirs = std::fs::read_dir(&root).expect("the corpus's rdb/ directory");
        let mut n = 0;
        for d in dirs.flatten() {
            for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
                let p = f.path();
                if p.extension().is_some_and(|e| e == "rdb") {
                    let data = std::fs::read(&p).unwrap();
                    if let Err(e) = std::panic::catch_unwind(|| super::rewrite(&data)) {
                        panic!("{}: {e:?}", p.display());
                    }
                    n += 1;
                }
            }
        }
        assert!(n > 50, "{n} files");
    }
}
