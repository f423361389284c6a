//! `check_rdb_prefix` on a big input (≥ 8 MiB) validates values on every core: it must give the
//! sequential deep read's verdict, on a sound file followed by an AOF tail and on damaged copies.

use rdbkit_rdb::internals::crc64;
use rdbkit_rdb::internals::string::{encode, encode_raw};
use rdbkit_rdb::{check_rdb_prefix, Options, RdbParser};

/// ~10 MiB: 30 000 string keys with compressible 1 KiB values (LZF-encoded), then EOF + CRC.
fn big_rdb() -> Vec<u8> {
    let mut b = b"REDIS0011".to_vec();
    b.extend_from_slice(&[0xfe, 0]);
    for i in 0..30_000u32 {
        b.push(0);
        encode_raw(format!("key:{i}").as_bytes(), &mut b);
        let v: Vec<u8> = (0..1024u32)
            .map(|j| b"abcdefgh"[((i + j / 16) % 8) as usize])
            .collect();
        encode(&v, true, &mut b);
    }
    b.push(0xff);
    let c = crc64::crc64(&b);
    b.extend_from_slice(&c.to_le_bytes());
    b
}

/// The sequential deep read: the error (offset, text) it stops on, if any.
fn sequential(data: &[u8]) -> Option<(u64, String)> {
    let opts = Options::default().deep(true);
    let mut p = RdbParser::new(data, opts);
    while let Some(r) = p.next() {
        if let Err(e) = r {
            return Some((e.offset, e.to_string()));
        }
        if p.position() as usize >= data.len() {
            break;
        }
    }
    None
}

#[test]
fn big_prefix_same_verdict_as_sequential() {
    let rdb = big_rdb();
    assert!(rdb.len() >= 8 << 20, "{} bytes", rdb.len());
    let mut with_tail = rdb.clone();
    with_tail.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
    let s = check_rdb_prefix(&with_tail, true).unwrap();
    assert_eq!(s.len, rdb.len());
    assert_eq!(s.keys, 30_000);

    // Damage inside LZF streams all over the file (the values, validated on the pool), and
    // in the middle of a record header.
    let mut refused = 0;
    for k in 1..24usize {
        let mut d = rdb.clone();
        let at = k * (rdb.len() / 24);
        for b in &mut d[at..at + 3] {
            *b ^= 0x5a;
        }
        let got = check_rdb_prefix(&d, true)
            .err()
            .map(|e| (e.offset, e.to_string()));
        assert_eq!(got, sequential(&d), "damage at {at}");
        refused += usize::from(got.is_some());
    }
    assert!(refused >= 20, "only {refused} damaged copies refused");
}
