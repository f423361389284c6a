//! RDB strings (`rdbGenericLoadStringObject`): raw, integer-encoded (INT8/16/32, little-endian)
//! or LZF-compressed. Reading one never copies: [`RdbString`] borrows from the input and LZF
//! data is only decompressed when the caller asks, into a buffer the caller reuses.

use crate::cursor::Cursor;
use crate::entry::{Entry, IntBuf};
use crate::error::{Error, ErrorKind, Result};
use crate::length::{read_len_or_enc, Len, ENC_INT16, ENC_INT32, ENC_INT8, ENC_LZF};
use crate::lzf;
use std::borrow::Cow;

/// LZF output grows at most 264 bytes per 3-byte back-reference: a claimed uncompressed
/// length beyond this is impossible, and refusing it keeps allocation tied to the input size.
pub const LZF_MAX_RATIO: u64 = 90;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// A string as stored in an RDB: plain bytes, an integer encoding, or LZF-compressed.
pub enum RdbString<'a> {
    /// Plain bytes.
    Raw(&'a [u8]),
    /// An integer encoding (rendered as decimal text where bytes are needed).
    Int(i64),
    /// LZF-compressed: the compressed bytes and the decompressed length.
    Lzf {
        /// The compressed bytes.
        compressed: &'a [u8],
        /// The decompressed length.
        len: usize,
    },
}

/// Reads one RDB string. `what` names it in errors ("key", "value", "listpack", ...).
#[inline]
pub fn read_string<'a>(c: &mut Cursor<'a>, what: &'static str) -> Result<RdbString<'a>> {
    // Most members and keys: a 6-bit length and the bytes, one bounds check.
    if let Some(s) = c.short_string() {
        return Ok(RdbString::Raw(s));
    }
    read_string_slow(c, what)
}

/// Every other form of [`read_string`], and its errors.
fn read_string_slow<'a>(c: &mut Cursor<'a>, what: &'static str) -> Result<RdbString<'a>> {
    let at = c.offset();
    match read_len_or_enc(c)? {
        Len::Plain(n) => Ok(RdbString::Raw(c.take(n, what, at)?)),
        Len::Encoded(ENC_INT8) => Ok(RdbString::Int(i64::from(c.u8("INT8 string")? as i8))),
        Len::Encoded(ENC_INT16) => Ok(RdbString::Int(i64::from(i16::from_le_bytes(
            c.array("INT16 string")?,
        )))),
        Len::Encoded(ENC_INT32) => Ok(RdbString::Int(i64::from(i32::from_le_bytes(
            c.array("INT32 string")?,
        )))),
        Len::Encoded(ENC_LZF) => {
            let clen = crate::length::read_len(c, "LZF compressed length")?;
            let len = crate::length::read_len(c, "LZF uncompressed length")?;
            let compressed = c.take(clen, "LZF compressed data", at)?;
            if len == 0
                || len > clen.saturating_mul(LZF_MAX_RATIO).saturating_add(64)
                || len > usize::MAX as u64
            {
                return Err(Error::new(
                    ErrorKind::BadEncoding(format!(
                        "LZF string claims {len} bytes from {clen} compressed bytes, which LZF cannot produce"
                    )),
                    at,
                ));
            }
            Ok(RdbString::Lzf {
                compressed,
                len: len as usize,
            })
        }
        Len::Encoded(e) => Err(Error::new(
            ErrorKind::BadEncoding(format!("unknown string encoding {e}")),
            at,
        )),
    }
}

/// Skips one RDB string without decompressing it.
#[inline]
pub fn skip_string(c: &mut Cursor<'_>, what: &'static str) -> Result<()> {
    read_string(c, what).map(|_| ())
}

impl<'a> RdbString<'a> {
    /// Length of the logical bytes.
    pub fn len(&self) -> usize {
        match self {
            RdbString::Raw(b) => b.len(),
            RdbString::Int(i) => IntBuf::new().format(*i).len(),
            RdbString::Lzf { len, .. } => *len,
        }
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the string is LZF-compressed.
    pub fn is_compressed(&self) -> bool {
        matches!(self, RdbString::Lzf { .. })
    }

    /// The logical bytes: borrowed when raw, otherwise rendered/decompressed into `buf`.
    /// `at` is the file offset of the string, for errors.
    #[inline]
    pub fn bytes_in<'c>(&self, buf: &'c mut Vec<u8>, at: u64) -> Result<&'c [u8]>
    where
        'a: 'c,
    {
        // The raw case (most members) inline; the others through a call.
        match *self {
            RdbString::Raw(b) => Ok(b),
            _ => self.bytes_in_slow(buf, at),
        }
    }

    /// [`bytes_in`](Self::bytes_in) of an integer or LZF string.
    fn bytes_in_slow<'c>(&self, buf: &'c mut Vec<u8>, at: u64) -> Result<&'c [u8]>
    where
        'a: 'c,
    {
        match *self {
            RdbString::Raw(b) => Ok(b),
            RdbString::Int(i) => {
                buf.clear();
                buf.extend_from_slice(IntBuf::new().format(i));
                Ok(buf)
            }
            RdbString::Lzf { compressed, len } => {
                lzf::decompress_reusing(compressed, len, buf)
                    .map_err(|e| Error::new(ErrorKind::Lzf(e), at))?;
                if buf.len() != len {
                    return Err(Error::new(
                        ErrorKind::Lzf(crate::entry::BlobError::new(
                            "lzf",
                            buf.len(),
                            format!("decompressed to {} bytes, expected {len}", buf.len()),
                        )),
                        at,
                    ));
                }
                Ok(buf)
            }
        }
    }

    /// As an element: integers stay integers (no rendering), LZF is decompressed into `buf`.
    #[inline]
    pub fn entry_in<'c>(&self, buf: &'c mut Vec<u8>, at: u64) -> Result<Entry<'c>>
    where
        'a: 'c,
    {
        match *self {
            RdbString::Int(i) => Ok(Entry::Int(i)),
            RdbString::Raw(b) => Ok(Entry::Bytes(b)),
            RdbString::Lzf { .. } => Ok(Entry::Bytes(self.bytes_in_slow(buf, at)?)),
        }
    }

    /// The logical bytes, allocating only for integers and LZF.
    pub fn to_cow(&self, at: u64) -> Result<Cow<'a, [u8]>> {
        match *self {
            RdbString::Raw(b) => Ok(Cow::Borrowed(b)),
            _ => {
                let mut v = Vec::new();
                self.bytes_in(&mut v, at)?;
                Ok(Cow::Owned(v))
            }
        }
    }

    /// Checks LZF data without keeping the output.
    pub fn validate(&self, at: u64) -> Result<()> {
        if let RdbString::Lzf { compressed, len } = *self {
            lzf::validate(compressed, len).map_err(|e| Error::new(ErrorKind::Lzf(e), at))?;
        }
        Ok(())
    }
}

/// Encodes a string the way `rdbSaveRawString` does: a canonical integer of up to 11 bytes that
/// fits 32 bits as INT8/16/32, a string over 20 bytes LZF-compressed when `compress` and that
/// saves space, otherwise raw. The project's own writer for fixtures, benchmarks and fuzz seeds.
pub fn encode(s: &[u8], compress: bool, out: &mut Vec<u8>) {
    if s.len() <= 11 {
        if let Some(v) = crate::entry::parse_canonical_i64(s) {
            if let Ok(b) = i8::try_from(v) {
                out.push(0xc0);
                out.push(b as u8);
                return;
            } else if let Ok(h) = i16::try_from(v) {
                out.push(0xc1);
                out.extend_from_slice(&h.to_le_bytes());
                return;
            } else if let Ok(w) = i32::try_from(v) {
                out.push(0xc2);
                out.extend_from_slice(&w.to_le_bytes());
                return;
            }
        }
    }
    encode_blob(s, compress, out);
}

/// Encodes a blob (listpack, ziplist, intset, quicklist node): never integer-encoded, but
/// LZF-compressed like any other string when `compress` and it pays.
pub fn encode_blob(b: &[u8], compress: bool, out: &mut Vec<u8>) {
    if compress && b.len() > 20 {
        if let Some(c) = lzf::compress(b) {
            out.push(0xc3);
            crate::length::encode_len(c.len() as u64, out);
            crate::length::encode_len(b.len() as u64, out);
            out.extend_from_slice(&c);
            return;
        }
    }
    encode_raw(b, out);
}

/// Encodes a raw string (`rdbSaveRawString` without compression or int encoding). For tests.
pub fn encode_raw(s: &[u8], out: &mut Vec<u8>) {
    crate::length::encode_len(s.len() as u64, out);
    out.extend_from_slice(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rd(b: &[u8]) -> Result<RdbString<'_>> {
        read_string(&mut Cursor::new(b, 0), "value")
    }

    #[test]
    fn encode_round_trips() {
        let long = b"abcabcabcabcabcabcabcabcabcabcabcabc".to_vec();
        for (s, compress) in [
            (&b"12"[..], false),
            (b"-129", false),
            (b"2147483647", false),
            (b"2147483648", false),
            (b"007", false),
            (b"", false),
            (&long[..], true),
            (&long[..], false),
        ] {
            let mut out = Vec::new();
            encode(s, compress, &mut out);
            let mut buf = Vec::new();
            assert_eq!(rd(&out).unwrap().bytes_in(&mut buf, 0).unwrap(), s);
        }
        let mut out = Vec::new();
        encode(&long, true, &mut out);
        assert_eq!(out[0], 0xc3, "compressible text is LZF-encoded");
    }

    #[test]
    fn raw_and_ints() {
        assert_eq!(rd(&[3, b'a', b'b', b'c']).unwrap(), RdbString::Raw(b"abc"));
        assert_eq!(rd(&[0xc0, 0xff]).unwrap(), RdbString::Int(-1));
        assert_eq!(rd(&[0xc1, 0x00, 0x80]).unwrap(), RdbString::Int(-32768));
        assert_eq!(
            rd(&[0xc2, 0xff, 0xff, 0xff, 0x7f]).unwrap(),
            RdbString::Int(i64::from(i32::MAX))
        );
        let mut buf = Vec::new();
        assert_eq!(RdbString::Int(-12).bytes_in(&mut buf, 0).unwrap(), b"-12");
        assert_eq!(RdbString::Int(-12).len(), 3);
    }

    #[test]
    fn malformed() {
        // length beyond the input
        let e = rd(&[0x80, 0xc0, 0, 0, 0, 1, 2]).unwrap_err();
        assert!(
            matches!(
                e.kind,
                ErrorKind::BadLength {
                    len: 3221225472,
                    left: 2,
                    ..
                }
            ),
            "{e}"
        );
        // unknown encoding 4
        assert!(matches!(
            rd(&[0xc4]).unwrap_err().kind,
            ErrorKind::BadEncoding(_)
        ));
        // INT32 cut short
        assert!(matches!(
            rd(&[0xc2, 1]).unwrap_err().kind,
            ErrorKind::Truncated { .. }
        ));
        // LZF claiming 2^60 bytes from 2 compressed bytes: refused before any allocation
        let mut v = vec![0xc3, 2];
        crate::length::encode_len(1 << 60, &mut v);
        v.extend_from_slice(&[0, b'a']);
        assert!(matches!(
            rd(&v).unwrap_err().kind,
            ErrorKind::BadEncoding(_)
        ));
        // LZF compressed data cut short
        assert!(matches!(
            rd(&[0xc3, 10, 20, 0]).unwrap_err().kind,
            ErrorKind::BadLength { .. }
        ));
    }
}
