//! `rdbkit dump --format jsonl` and `rdbkit check` on Redis 8.8/8.10 types: a sparse array
//! (28), a stream with a NACK zone (27), and template hashes (opcode 242, types 30 and 32).
//! Template-hash value bytes are Redis test vectors (its hash-template RESTORE tests).

use std::process::Command;

use rdbkit_rdb::internals::crc64;
use rdbkit_rdb::internals::length::encode_len;
use rdbkit_rdb::internals::string::{encode, encode_raw};

const BIN: &str = env!("CARGO_BIN_EXE_rdbkit");

fn id16(ms: u64, seq: u64) -> Vec<u8> {
    [ms.to_be_bytes(), seq.to_be_bytes()].concat()
}

fn rdb() -> Vec<u8> {
    rdb_with(42)
}

/// The file, with `first` as the array's element 0.
fn rdb_with(first: i64) -> Vec<u8> {
    let mut b = b"REDIS0015".to_vec();
    // HASH_TEMPLATE 5: field1, field2
    b.push(242);
    b.extend_from_slice(&[5, 2]);
    encode_raw(b"field1", &mut b);
    encode_raw(b"field2", &mut b);
    b.extend_from_slice(&[0xfe, 0]);
    b.push(32);
    encode_raw(b"refarr", &mut b);
    b.extend_from_slice(b"\x05\xc0\x01\xc0\x02");
    b.push(30);
    encode_raw(b"reflp", &mut b);
    b.extend_from_slice(b"\x0d\x0d\x00\x00\x00\x03\x00\x05\x01\x01\x01\x02\x01\xff");
    // array: 3 elements, insert index 7
    b.push(28);
    encode_raw(b"arr", &mut b);
    b.extend_from_slice(&[3, 1, 7, 0, 1]);
    b.extend_from_slice(&first.to_le_bytes());
    b.extend_from_slice(&[1, 2]);
    b.extend_from_slice(&0.25f64.to_le_bytes());
    encode_len(1 << 40, &mut b);
    b.push(0);
    encode(b"text", false, &mut b);
    // stream: no entries, group g with PEL 1-1, 1-2; consumer c owns 1-1; 1-2 is NACKed
    b.push(27);
    encode_raw(b"st", &mut b);
    b.extend_from_slice(&[0, 0, 1, 2, 0, 0, 0, 0, 2, 1]);
    encode_raw(b"g", &mut b);
    b.extend_from_slice(&[1, 2, 2, 2]);
    for seq in 1..=2 {
        b.extend_from_slice(&id16(1, seq));
        b.extend_from_slice(&5i64.to_le_bytes());
        b.push(1);
    }
    b.push(1);
    encode_raw(b"c", &mut b);
    b.extend_from_slice(&[0; 16]);
    b.push(1);
    b.extend_from_slice(&id16(1, 1));
    b.push(1);
    b.extend_from_slice(&id16(1, 2));
    b.extend_from_slice(&[0, 0, 0, 0, 0]);
    b.push(0xff);
    let c = crc64::crc64(&b);
    b.extend_from_slice(&c.to_le_bytes());
    b
}

#[test]
fn dump_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v15.rdb");
    std::fs::write(&path, rdb()).unwrap();
    let out = Command::new(BIN)
        .args(["dump", "--format", "jsonl"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            r#"{"db":0,"key":"refarr","type":"hash","encoding":"template-array","expire_ms":null,"value":[["field1","1"],["field2","2"]]}"#,
            r#"{"db":0,"key":"reflp","type":"hash","encoding":"template-listpack","expire_ms":null,"value":[["field1","1"],["field2","2"]]}"#,
            r#"{"db":0,"key":"arr","type":"array","encoding":"array","expire_ms":null,"value":{"insert_idx":"7","elements":[["0","42"],["1",0.25],["1099511627776","text"]]}}"#,
            r#"{"db":0,"key":"st","type":"stream","encoding":"stream","expire_ms":null,"value":{"entries":[],"length":0,"last_id":"1-2","first_id":"0-0","max_deleted_id":"0-0","entries_added":2,"groups":[{"name":"g","last_delivered_id":"1-2","entries_read":2,"pending":[["1-1","c",1],["1-2",null,1]],"consumers":[{"name":"c","pending":["1-1"]}],"nacked":["1-2"]}]}}"#,
        ]
    );
    for l in &lines {
        serde_json::from_str::<serde_json::Value>(l).unwrap();
    }
    let st = Command::new(BIN).arg("check").arg(&path).status().unwrap();
    assert!(st.success());
}

/// `diff` compares arrays element by element; `dump --format resp` skips them and says so
/// (no command recreates one), writing the other keys.
#[test]
fn diff_and_resp_dump_of_arrays() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.rdb");
    let b = dir.path().join("b.rdb");
    std::fs::write(&a, rdb()).unwrap();
    std::fs::write(&b, rdb_with(43)).unwrap();
    let out = Command::new(BIN)
        .arg("diff")
        .arg(&a)
        .arg(&a)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(BIN)
        .arg("diff")
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("arr") && text.contains("element [0] changed"),
        "{text}"
    );
    assert!(text.contains("0 added, 0 removed, 1 changed"), "{text}");

    let out = Command::new(BIN)
        .args(["dump", "--format", "resp"])
        .arg(&a)
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 array key(s) skipped"), "{err}");
    assert!(!err.contains("module"), "{err}");
    let resp = String::from_utf8_lossy(&out.stdout);
    assert!(
        resp.contains("refarr") && resp.contains("\r\nst\r\n"),
        "{resp}"
    );
    assert!(!resp.contains("\r\narr\r\n"), "{resp}");
}

/// `--type array` selects the arrays (it was refused: the filter knew no "array" family), and
/// `--type module` does not take arrays for module values.
#[test]
fn type_filter_knows_arrays() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v15.rdb");
    std::fs::write(&path, rdb()).unwrap();
    let keys = |ty: &str| {
        let out = Command::new(BIN)
            .args(["keys", "--type", ty])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{ty}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(keys("array"), "arr\n");
    assert_eq!(keys("module"), "");
    assert_eq!(keys("hash"), "refarr\nreflp\n");
}
