//! Hand-written test RDB files: [`file`] frames a body (magic, version, EOF opcode, CRC-64),
//! [`key`] and [`string_key`] write one key record into a body. For a file with aux fields,
//! RESIZEDB and many keys, the benches' `RdbBuilder` (`rdbkit-benches`) is the bigger writer.

use rdbkit_rdb::internals::crc64::crc64;
use rdbkit_rdb::internals::length::encode_len;

/// An RDB file of `body` (records after the header): `REDIS` and the four-digit `version`,
/// the body, the EOF opcode and the CRC-64 of all before it.
pub fn file(version: u32, body: &[u8]) -> Vec<u8> {
    let mut v = format!("REDIS{version:04}").into_bytes();
    v.extend_from_slice(body);
    v.push(0xff);
    let c = crc64(&v);
    v.extend_from_slice(&c.to_le_bytes());
    v
}

/// Appends a key record to `out`: the type byte `ty`, the key `name` (a length-prefixed
/// string) and the already-encoded `value`.
pub fn key(ty: u8, name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    out.push(ty);
    encode_len(name.len() as u64, out);
    out.extend_from_slice(name);
    out.extend_from_slice(value);
}

/// Appends a string key (type 0) `key` = `val` to `out`, both plain length-prefixed strings.
pub fn string_key(out: &mut Vec<u8>, key: &[u8], val: &[u8]) {
    out.push(0);
    for s in [key, val] {
        encode_len(s.len() as u64, out);
        out.extend_from_slice(s);
    }
}

#[cfg(test)]
mod tests {
    use rdbkit_rdb::{Options, RdbParser, Record};

    #[test]
    fn a_written_file_reads_back_with_its_checksum() {
        let mut body = vec![0xfe, 0];
        super::string_key(&mut body, b"k", &[b'v'; 100]);
        super::key(0, b"k2", b"\x01x", &mut body);
        let f = super::file(9, &body);
        let opts = Options::default().deep(true).verify_checksum(true);
        let mut keys = Vec::new();
        let mut p = RdbParser::new(&f, opts);
        while let Some(r) = p.next() {
            if let Record::Key(k) = r.unwrap() {
                keys.push(k.key.to_vec());
            }
        }
        assert_eq!(keys, [b"k".to_vec(), b"k2".to_vec()]);
    }
}
