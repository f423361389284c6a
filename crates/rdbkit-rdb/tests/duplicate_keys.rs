//! The deep check refuses a key stored twice in one db (redis-server aborts loading such a file
//! with "Duplicated key found in RDB file"), from a slice, from a stream and on several cores;
//! the same key in two dbs, and chance fingerprint matches, are not duplicates.

use rdbkit_rdb::{Options, RdbParser, RdbReader, Record, RecordSource};

fn deep() -> Options {
    Options::default().deep(true)
}

/// The verdict of every reader: the slice parser, the streaming reader fed in small pieces,
/// and the parallel check on 1–3 threads. All must agree; returns it.
fn verdict(data: &[u8]) -> Result<u64, String> {
    fn run(p: &mut dyn RecordSource) -> Result<u64, String> {
        let mut keys = 0;
        while let Some(r) = p.next_record() {
            if let Record::Key(_) = r.map_err(|e| e.to_string())? {
                keys += 1;
            }
        }
        Ok(keys)
    }
    let slice = run(&mut RdbParser::new(data, deep()));
    let stream = run(&mut RdbReader::new(data, deep()).with_min_read(7));
    assert_eq!(slice, stream, "stream disagrees");
    for threads in [1, 2, 3] {
        let mut keys = 0;
        let (_, r) = rdbkit_rdb::parallel::check_batched(data, deep(), threads, 1, |r| {
            keys += u64::from(matches!(r, Record::Key(_)));
        });
        let got = r.map(|()| keys).map_err(|e| e.to_string());
        assert_eq!(
            got.as_ref().err(),
            slice.as_ref().err(),
            "parallel ({threads} threads) disagrees"
        );
    }
    // The shallow read has no key set: it accepts what deep refuses only for this reason.
    slice
}

/// An RDB 9 file of `body`.
fn file(body: &[u8]) -> Vec<u8> {
    rdbkit_testkit::rdb::file(9, body)
}

#[test]
fn the_issue_example_is_refused_with_key_and_offset() {
    // printf 'REDIS0009\0\1a\1x\0\1a\1x\377\0\0\0\0\0\0\0\0' (checksum disabled)
    let data = b"REDIS0009\0\x01a\x01x\0\x01a\x01x\xff\0\0\0\0\0\0\0\0";
    let e = verdict(data).unwrap_err();
    assert!(
        e.starts_with("at byte 14 (db 0, key \"a\"): duplicate key"),
        "{e}"
    );
    // The shallow read does not look for duplicates (nor does redis-check-rdb).
    let mut p = RdbParser::new(data, Options::default());
    while let Some(r) = p.next() {
        r.unwrap();
    }
}

#[test]
fn same_key_in_other_dbs_is_fine_and_the_first_repeat_is_reported() {
    let mut b = Vec::new();
    for db in [0u8, 1, 2] {
        b.extend_from_slice(&[0xfe, db]);
        for i in 0..3000 {
            rdbkit_testkit::rdb::string_key(&mut b, format!("key:{i}").as_bytes(), b"v");
        }
    }
    // db 0 again (a second SELECTDB of a db): its keys are still db 0's.
    let sound = file(&b);
    assert_eq!(verdict(&sound), Ok(9000));
    b.extend_from_slice(&[0xfe, 0]);
    rdbkit_testkit::rdb::string_key(&mut b, b"new", b"v");
    let at = b.len() + 9;
    // An expiry before the repeated key: the record (and the error) starts at the expiry.
    b.push(0xfc);
    b.extend_from_slice(&4_102_444_800_000i64.to_le_bytes());
    rdbkit_testkit::rdb::string_key(&mut b, b"key:2999", b"other value");
    rdbkit_testkit::rdb::string_key(&mut b, b"key:5", b"a later repeat is not reported");
    let e = verdict(&file(&b)).unwrap_err();
    assert!(
        e.starts_with(&format!(
            "at byte {at} (db 0, key \"key:2999\"): duplicate key"
        )),
        "{e}"
    );
}

#[test]
fn lzf_and_long_keys_are_compared_decompressed() {
    // The key "aaaa...a" (100 bytes) stored once plainly and once LZF-compressed.
    let key = vec![b'a'; 100];
    let mut b = vec![0xfe, 0, 0];
    b.extend_from_slice(&[0x40, 100]);
    b.extend_from_slice(&key);
    b.extend_from_slice(&[1, b'v']);
    b.push(0);
    let lzf = rdbkit_rdb::internals::lzf::compress(&key).expect("compressible");
    b.push(0xc3);
    rdbkit_rdb::internals::length::encode_len(lzf.len() as u64, &mut b);
    rdbkit_rdb::internals::length::encode_len(100, &mut b);
    b.extend_from_slice(&lzf);
    b.extend_from_slice(&[1, b'w']);
    let e = verdict(&file(&b)).unwrap_err();
    assert!(e.contains("duplicate key"), "{e}");
}

#[test]
fn a_repeat_before_damage_is_the_verdict() {
    // key:7 repeated, then (in the same batch of the parallel check) an unknown type byte.
    let mut b = vec![0xfe, 0];
    for i in 0..10 {
        rdbkit_testkit::rdb::string_key(&mut b, format!("key:{i}").as_bytes(), b"v");
    }
    let at = 9 + b.len();
    rdbkit_testkit::rdb::string_key(&mut b, b"key:7", b"again");
    rdbkit_testkit::rdb::string_key(&mut b, b"key:11", b"v");
    b.push(99);
    let e = verdict(&file(&b)).unwrap_err();
    assert!(
        e.starts_with(&format!(
            "at byte {at} (db 0, key \"key:7\"): duplicate key"
        )),
        "{e}"
    );
    // Damage first, then a repeat: the damage.
    let mut b = vec![0xfe, 0];
    rdbkit_testkit::rdb::string_key(&mut b, b"a", b"v");
    b.push(99);
    rdbkit_testkit::rdb::string_key(&mut b, b"a", b"v");
    let e = verdict(&file(&b)).unwrap_err();
    assert!(e.contains("unknown") || e.contains("type 99"), "{e}");
}
