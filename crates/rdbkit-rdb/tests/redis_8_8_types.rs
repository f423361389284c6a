//! Redis 8.8 / 8.10 value types (RDB 14, 15): type 27 streams with NACK zones, type 28 sparse
//! arrays, opcode 242 hash templates and template hashes (types 29-32).
//!
//! Layouts verified against redis/librdb `src/lib/parser.c` and `src/lib/defines.h` at commit
//! b7889d64194b92ceff61fa92e24c92c92babd6f4 (v2.3.0+, RDB v14/v15 support). The template-hash
//! payload bytes marked "Redis test vector" are the DUMP payloads (type byte + value, without
//! the RDB-version/CRC footer) of Redis's own hash-template test suite (RESTORE tests).

use rdbkit_rdb::internals::crc64;
use rdbkit_rdb::internals::length::encode_len;
use rdbkit_rdb::internals::string::{encode, encode_raw};
use rdbkit_rdb::{Entry, Options, RdbParser, RdbReader, Record, Scratch};
use rdbkit_testkit::rdb::file;
use rdbkit_testkit::visit::{Ev, Recorder};

/// What the tests assert on of what a visitor saw (hash fields, arrays, PELs, NACK zones), as
/// text.
fn digest(events: &[Ev]) -> Vec<String> {
    let txt = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    events
        .iter()
        .filter_map(|e| {
            Some(match e {
                Ev::Field(f, v, ttl) => format!("{}={} {ttl:?}", txt(f), txt(v)),
                Ev::ArrayBegin(count, insert_idx) => format!("array {count} {insert_idx:?}"),
                Ev::ArrayStr(idx, s) => format!("{idx}:s:{}", txt(s)),
                Ev::ArrayInt(idx, i) => format!("{idx}:i:{i}"),
                Ev::ArrayFloat(idx, d) => format!("{idx}:f:{}", f64::from_bits(*d)),
                Ev::StreamPel(id, _t, n) => format!("pel {id} {n}"),
                Ev::StreamConsumerPel(id) => format!("cpel {id}"),
                Ev::StreamNacked(id) => format!("nack {id}"),
                Ev::StreamGroupEnd => "group end".into(),
                _ => return None,
            })
        })
        .collect()
}

fn template(id: u64, fields: &[&[u8]], out: &mut Vec<u8>) {
    out.push(242);
    encode_len(id, out);
    encode_len(fields.len() as u64, out);
    for f in fields {
        encode_raw(f, out);
    }
}

fn key(ty: u8, name: &str, value: &[u8], out: &mut Vec<u8>) {
    rdbkit_testkit::rdb::key(ty, name.as_bytes(), value, out)
}

fn id16(ms: u64, seq: u64) -> Vec<u8> {
    [ms.to_be_bytes(), seq.to_be_bytes()].concat()
}

/// A type-27 stream value: no entries, one group "g" whose PEL holds 5-1..5-4; consumer "c"
/// owns 5-1 and 5-4, the NACK zone lists `nacked`; then an empty IDMP trailer.
fn stream_v5(nacked: &[u64]) -> Vec<u8> {
    let mut b = vec![0u8, 0, 5, 4]; // 0 nodes, length 0, last id 5-4
    b.extend_from_slice(&[0, 0, 0, 0, 4]); // first id, max deleted id, entries added
    b.push(1); // one group
    encode_raw(b"g", &mut b);
    b.extend_from_slice(&[5, 4, 4]); // last delivered 5-4, entries read 4
    b.push(4); // PEL of 4
    for seq in 1..=4 {
        b.extend_from_slice(&id16(5, seq));
        b.extend_from_slice(&1000i64.to_le_bytes());
        b.push(seq as u8);
    }
    b.push(1); // one consumer
    encode_raw(b"c", &mut b);
    b.extend_from_slice(&7i64.to_le_bytes());
    b.extend_from_slice(&8i64.to_le_bytes());
    b.push(2);
    b.extend_from_slice(&id16(5, 1));
    b.extend_from_slice(&id16(5, 4));
    encode_len(nacked.len() as u64, &mut b); // NACK zone
    for &seq in nacked {
        b.extend_from_slice(&id16(5, seq));
    }
    b.extend_from_slice(&[0, 0, 0, 0, 0]); // IDMP: duration, max, 0 producers, added, dups
    b
}

/// count 4, insert_idx 49; int, float, SDS and SMALLSTR elements at ascending indexes.
fn array_value() -> Vec<u8> {
    let mut b = vec![4, 1, 49];
    b.extend_from_slice(&[0, 1]);
    b.extend_from_slice(&(-7i64).to_le_bytes());
    b.extend_from_slice(&[1, 2]);
    b.extend_from_slice(&1.5f64.to_le_bytes());
    b.extend_from_slice(&[2, 0]);
    encode(b"hello world", false, &mut b);
    encode_len(70000, &mut b);
    b.push(3);
    encode(b"x", false, &mut b);
    b
}

// Redis test vectors (value bytes after the type byte).
/// TMPL_ARRAY: fields_fmt 1 (raw), 2 fields, values 1 and 2.
const SELF_ARRAY: &[u8] = b"\x01\x02\x06field1\x06field2\xc0\x01\xc0\x02";
/// TMPL_LP: fields_fmt 0, fields listpack [field1, field2], values listpack [id 0, 1, 2].
const SELF_LP: &[u8] = b"\x00\x17\x17\x00\x00\x00\x02\x00\x86field1\x07\x86field2\x07\xff\x0d\x0d\x00\x00\x00\x03\x00\x00\x01\x01\x01\x02\x01\xff";
/// TMPL_LP_REF: values listpack [id 5, 1, 2].
const REF_LP: &[u8] = b"\x0d\x0d\x00\x00\x00\x03\x00\x05\x01\x01\x01\x02\x01\xff";
/// TMPL_ARRAY_REF: id 5, values 1 and 2.
const REF_ARRAY: &[u8] = b"\x05\xc0\x01\xc0\x02";

fn good_body() -> Vec<u8> {
    let mut b = vec![0xfa];
    encode_raw(b"redis-ver", &mut b);
    encode_raw(b"8.10.0", &mut b);
    template(5, &[b"field1", b"field2"], &mut b);
    template(0, &[b"z", b"aa", b"abc"], &mut b);
    b.extend_from_slice(&[0xfe, 0]);
    key(32, "refarr", REF_ARRAY, &mut b);
    key(30, "reflp", REF_LP, &mut b);
    key(31, "selfarr", SELF_ARRAY, &mut b);
    key(29, "selflp", SELF_LP, &mut b);
    let mut refarr0 = vec![0];
    for v in [&b"1"[..], b"two", b"3"] {
        encode(v, false, &mut refarr0);
    }
    key(32, "refarr0", &refarr0, &mut b);
    key(28, "arr", &array_value(), &mut b);
    key(27, "stream", &stream_v5(&[2, 3]), &mut b);
    b
}

/// Every key: name, encoding and what a visitor saw; decode consumes what skip found.
fn read_all(data: &[u8], deep: bool) -> Result<Vec<String>, rdbkit_rdb::Error> {
    let opts = Options::default().deep(deep);
    let mut p = RdbParser::new(data, opts);
    let mut out = Vec::new();
    let mut s = Scratch::new();
    while let Some(r) = p.next() {
        match r? {
            Record::Key(k) => {
                let mut d = Recorder::default();
                let n = k.value.decode_len(&mut s, &mut d, deep)?;
                assert_eq!(n, k.value.raw().len());
                out.push(format!(
                    "{} {} {}: {}",
                    String::from_utf8_lossy(k.key),
                    k.value.ty.family(),
                    k.value.encoding(),
                    digest(&d.events).join(", ")
                ));
            }
            Record::HashTemplate { id, fields } => {
                out.push(format!("template {id} {}", fields.len()))
            }
            _ => {}
        }
    }
    Ok(out)
}

#[test]
fn decodes_every_new_type() {
    let f = file(15, &good_body());
    let got = read_all(&f, true).unwrap();
    let want = [
        "template 5 2",
        "template 0 3",
        "refarr hash template-array: field1=1 None, field2=2 None",
        "reflp hash template-listpack: field1=1 None, field2=2 None",
        "selfarr hash template-array: field1=1 None, field2=2 None",
        "selflp hash template-listpack: field1=1 None, field2=2 None",
        "refarr0 hash template-array: z=1 None, aa=two None, abc=3 None",
        "arr array array: array 4 Some(49), 0:i:-7, 1:f:1.5, 2:s:hello world, 70000:s:x",
        "stream stream stream: pel 5-1 1, pel 5-2 2, pel 5-3 3, pel 5-4 4, cpel 5-1, cpel 5-4, nack 5-2, nack 5-3, group end",
    ];
    assert_eq!(got, want);
    assert_eq!(read_all(&f, false).unwrap(), want);
}

/// `testdata/rdb/redis-8.10-types.rdb` is this file, committed so that the fuzz seeds
/// (`fuzz/seed.sh`) and the CLI tests reach the RDB 15 types. Regenerate it with
/// `RDBKIT_WRITE_FIXTURE=1 cargo test -p rdbkit-rdb --test redis_8_8_types`.
#[test]
fn committed_fixture_is_this_file() {
    let f = file(15, &good_body());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/rdb/redis-8.10-types.rdb");
    if std::env::var_os("RDBKIT_WRITE_FIXTURE").is_some() {
        std::fs::write(&path, &f).unwrap();
    }
    assert_eq!(std::fs::read(&path).unwrap(), f, "{}", path.display());
}

#[test]
fn streaming_reader_agrees_and_truncation_never_panics() {
    let f = file(15, &good_body());
    let mut r = RdbReader::new(&f[..], Options::default()).with_min_read(1);
    let mut n = 0;
    while let Some(rec) = r.next() {
        if let Record::Key(k) = rec.unwrap() {
            let mut d = Recorder::default();
            k.value.visit(&mut Scratch::new(), &mut d, true).unwrap();
            n += 1;
        }
    }
    assert_eq!(n, 7);
    for cut in 0..f.len() - 1 {
        let opts = Options::default().deep(true).verify_checksum(false);
        let mut p = RdbParser::new(&f[..cut], opts);
        let mut failed = false;
        while let Some(r) = p.next() {
            failed |= r.is_err();
        }
        assert!(failed, "a file cut at {cut} must fail");
    }
}

fn err_of(version: u32, body: &[u8], deep: bool) -> String {
    match read_all(&file(version, body), deep) {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn types_belong_to_their_versions() {
    // type 28 in an RDB 13 file, opcode 242 in an RDB 14 file: unknown there
    let mut b = vec![0xfe, 0];
    key(28, "arr", &array_value(), &mut b);
    assert!(err_of(13, &b, false).contains("28"));
    let mut b = Vec::new();
    template(1, &[b"a"], &mut b);
    assert!(err_of(14, &b, false).contains("242"));
    // Valkey 9.2: 242 and 23 stay refused by name
    let mut v = b"VALKEY081".to_vec();
    v.extend_from_slice(&b);
    v.push(0xff);
    v.extend_from_slice(&crc64::crc64(&v).to_le_bytes());
    let e = RdbParser::new(&v, Options::default())
        .find_map(|r| r.err())
        .unwrap();
    assert!(e.to_string().contains("UPDATE"), "{e}");
}

trait FindErr {
    fn find_map<T>(self, f: impl FnMut(Result<(), rdbkit_rdb::Error>) -> Option<T>) -> Option<T>;
}
impl FindErr for RdbParser<'_> {
    fn find_map<T>(
        mut self,
        mut f: impl FnMut(Result<(), rdbkit_rdb::Error>) -> Option<T>,
    ) -> Option<T> {
        while let Some(r) = self.next() {
            if let Some(t) = f(r.map(|_| ())) {
                return Some(t);
            }
        }
        None
    }
}

#[test]
fn malformed_templates() {
    let with = |pre: &dyn Fn(&mut Vec<u8>), ty: u8, v: &[u8]| {
        let mut b = Vec::new();
        pre(&mut b);
        b.extend_from_slice(&[0xfe, 0]);
        key(ty, "k", v, &mut b);
        b
    };
    let t5 = |b: &mut Vec<u8>| template(5, &[b"field1", b"field2"], b);
    // REF to a template never defined (Redis: "Invalid hash template ID 5")
    let e = err_of(15, &with(&|_| {}, 32, REF_ARRAY), false);
    assert!(e.contains("hash template 5"), "{e}");
    let e = err_of(15, &with(&|_| {}, 30, REF_LP), true);
    assert!(
        e.contains("hash template 5") && e.contains("key \"k\""),
        "{e}"
    );
    // duplicate id, zero fields, unsorted fields (length first, then bytes)
    let e = err_of(
        15,
        &with(
            &|b| {
                t5(b);
                t5(b)
            },
            32,
            REF_ARRAY,
        ),
        false,
    );
    assert!(e.contains("duplicate hash template id 5"), "{e}");
    let e = err_of(15, &with(&|b| template(5, &[], b), 32, REF_ARRAY), false);
    assert!(e.contains("zero fields"), "{e}");
    for bad in [
        &[&b"field2"[..], b"field1"][..],
        &[b"ab", b"c"],
        &[b"a", b"a"],
    ] {
        let e = err_of(15, &with(&|b| template(5, bad, b), 32, REF_ARRAY), false);
        assert!(e.contains("not strictly sorted"), "{e}");
    }
    // REF listpack with the wrong number of values, or a non-integer id
    let short = rdbkit_rdb::internals::listpack::encode_entries(&[Entry::Int(5), Entry::Int(1)]);
    let mut v = Vec::new();
    encode_raw(&short, &mut v);
    let e = err_of(15, &with(&t5, 30, &v), false);
    assert!(e.contains("1 values for 2 template fields"), "{e}");
    let long = rdbkit_rdb::internals::listpack::encode_entries(&[
        Entry::Int(5),
        Entry::Int(1),
        Entry::Int(2),
        Entry::Int(3),
    ]);
    let mut v = Vec::new();
    encode_raw(&long, &mut v);
    let e = err_of(15, &with(&t5, 30, &v), false);
    assert!(e.contains("3 values for 2"), "{e}");
    let strid = rdbkit_rdb::internals::listpack::encode_entries(&[
        Entry::Bytes(b"x"),
        Entry::Int(1),
        Entry::Int(2),
    ]);
    let mut v = Vec::new();
    encode_raw(&strid, &mut v);
    let e = err_of(15, &with(&t5, 30, &v), false);
    assert!(e.contains("not a non-negative integer"), "{e}");
    // Redis test vectors of corrupt DUMP payloads (self-contained forms)
    let lp_count = b"\x00\x17\x17\x00\x00\x00\x02\x00\x86field1\x07\x86field2\x07\xff\x0b\x0b\x00\x00\x00\x02\x00\x00\x01\x01\x01\xff";
    assert!(err_of(15, &with(&|_| {}, 29, lp_count), false).contains("1 values for 2"));
    let lp_empty = b"\x00\x17\x17\x00\x00\x00\x02\x00\x86field1\x07\x86field2\x07\xff\x07\x07\x00\x00\x00\x00\x00\xff";
    assert!(err_of(15, &with(&|_| {}, 29, lp_empty), false).contains("is empty"));
    let lp_strid = b"\x00\x17\x17\x00\x00\x00\x02\x00\x86field1\x07\x86field2\x07\xff\x0e\x0e\x00\x00\x00\x03\x00\x81x\x02\x01\x01\x02\x01\xff";
    assert!(err_of(15, &with(&|_| {}, 29, lp_strid), false).contains("not an integer"));
    let lp_zero = b"\x00\x07\x07\x00\x00\x00\x00\x00\xff\x0d\x0d\x00\x00\x00\x03\x00\x00\x01\x01\x01\x02\x01\xff";
    assert!(err_of(15, &with(&|_| {}, 29, lp_zero), false).contains("zero fields"));
    let arr_zero = b"\x01\x00\x06field1\x06field2\xc0\x01\xc0\x02";
    assert!(err_of(15, &with(&|_| {}, 31, arr_zero), false).contains("zero fields"));
    let unsorted = b"\x01\x02\x06field2\x06field1\xc0\x01\xc0\x02";
    assert!(err_of(15, &with(&|_| {}, 31, unsorted), false).contains("not strictly sorted"));
    let badfmt = b"\x02\x02\x06field1\x06field2\xc0\x01\xc0\x02";
    assert!(err_of(15, &with(&|_| {}, 31, badfmt), false).contains("fields format 2"));
}

#[test]
fn malformed_arrays() {
    let arr = |v: &[u8]| {
        let mut b = vec![0xfe, 0];
        key(28, "a", v, &mut b);
        b
    };
    let one = |idx: &[u8], tag: u8| {
        let mut v = vec![1, 0];
        v.extend_from_slice(idx);
        v.push(tag);
        v.extend_from_slice(&[0xc0, 1]);
        v
    };
    assert!(err_of(14, &arr(&[0, 0]), false).contains("zero elements"));
    assert!(err_of(14, &arr(&[1, 2, 0, 0, 0xc0, 1]), false).contains("flag 2"));
    assert!(err_of(14, &arr(&one(&[0], 9)), false).contains("unknown array element tag 9"));
    assert!(err_of(14, &arr(&one(&[0xc0], 0)), false).contains("encoding marker"));
    let mut max = vec![0x81];
    max.extend_from_slice(&u64::MAX.to_be_bytes());
    assert!(err_of(14, &arr(&one(&max, 0)), false).contains("out of range"));
    // a count beyond the bytes left is refused before any loop
    assert!(err_of(14, &arr(&[0x80, 0x10, 0, 0, 0, 0]), false).contains("array element count"));
    // indexes must ascend (deep only)
    let mut v = vec![2, 0, 5, 0, 0xc0, 1, 5, 0, 0xc0, 2];
    assert!(read_all(&file(14, &arr(&v)), false).is_ok());
    assert!(err_of(14, &arr(&v), true).contains("not after index 5"));
    v[6] = 6;
    assert!(read_all(&file(14, &arr(&v)), true).is_ok());
}

#[test]
fn malformed_nack_zones() {
    let st = |v: &[u8]| {
        let mut b = vec![0xfe, 0];
        key(27, "s", v, &mut b);
        b
    };
    // a NACKed ID must be in the group PEL
    assert!(err_of(14, &st(&stream_v5(&[9])), false).contains("not found in the group PEL"));
    // deep: not owned by a consumer, no duplicates, and every unowned PEL entry is NACKed
    assert!(err_of(14, &st(&stream_v5(&[1, 2, 3])), true).contains("owned by a consumer"));
    assert!(err_of(14, &st(&stream_v5(&[2, 2, 3])), true).contains("duplicate NACKed"));
    assert!(err_of(14, &st(&stream_v5(&[2])), true).contains("5-3 has no consumer"));
    assert!(read_all(&file(14, &st(&stream_v5(&[2]))), false).is_ok());
    // the NACK count is bounded by the bytes left
    let mut v = stream_v5(&[]);
    let n = v.len();
    v.truncate(n - 6);
    v.extend_from_slice(&[0x40, 0xff]);
    assert!(err_of(14, &st(&v), false).contains("NACK count"));
}
