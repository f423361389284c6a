//! RDB length encoding (`rdbLoadLenByRef`): 6-bit, 14-bit big-endian, 0x80 + 32-bit BE,
//! 0x81 + 64-bit BE, or `11xxxxxx` = "encoded string" marker with a 6-bit encoding id.

use crate::cursor::Cursor;
use crate::error::{Error, ErrorKind, Result};

/// `RDB_ENC_INT8`, `RDB_ENC_INT16`, `RDB_ENC_INT32`, `RDB_ENC_LZF`.
pub const ENC_INT8: u8 = 0;
/// Special string encoding 1: a 16-bit integer.
pub const ENC_INT16: u8 = 1;
/// Special string encoding 2: a 32-bit integer.
pub const ENC_INT32: u8 = 2;
/// Special string encoding 3: an LZF-compressed string.
pub const ENC_LZF: u8 = 3;

/// A decoded length prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Len {
    /// A plain length (any u64: all-ones is legal on disk).
    Plain(u64),
    /// `11xxxxxx`: the low 6 bits name a special string encoding.
    Encoded(u8),
}

/// Reads a length or an encoded-string marker.
#[inline]
pub fn read_len_or_enc(c: &mut Cursor<'_>) -> Result<Len> {
    let at = c.offset();
    let b = c.u8("length")?;
    match b >> 6 {
        0 => Ok(Len::Plain(u64::from(b & 0x3f))),
        1 => {
            let b2 = c.u8("14-bit length")?;
            Ok(Len::Plain((u64::from(b & 0x3f) << 8) | u64::from(b2)))
        }
        3 => Ok(Len::Encoded(b & 0x3f)),
        _ => match b {
            0x80 => Ok(Len::Plain(u64::from(u32::from_be_bytes(
                c.array("32-bit length")?,
            )))),
            0x81 => Ok(Len::Plain(u64::from_be_bytes(c.array("64-bit length")?))),
            _ => Err(Error::new(
                ErrorKind::BadEncoding(format!("invalid length prefix byte 0x{b:02x}")),
                at,
            )),
        },
    }
}

/// Reads a plain length; an encoded-string marker here is an error.
#[inline]
pub fn read_len(c: &mut Cursor<'_>, what: &'static str) -> Result<u64> {
    let at = c.offset();
    match read_len_or_enc(c)? {
        Len::Plain(n) => Ok(n),
        Len::Encoded(e) => Err(Error::new(
            ErrorKind::BadEncoding(format!(
                "{what}: expected a length, found string encoding marker {e}"
            )),
            at,
        )),
    }
}

/// Reads a length that must fit a `usize` and count items of at least `min_size` bytes that
/// still fit in the input.
pub fn read_count(c: &mut Cursor<'_>, what: &'static str, min_size: u64) -> Result<u64> {
    let at = c.offset();
    let n = read_len(c, what)?;
    c.check_count(n, min_size, what, at)?;
    Ok(n)
}

/// Encodes a length the way `rdbSaveLen` does (shortest form). For tests and fixtures.
pub fn encode_len(n: u64, out: &mut Vec<u8>) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rd(b: &[u8]) -> Result<Len> {
        read_len_or_enc(&mut Cursor::new(b, 0))
    }

    #[test]
    fn all_forms() {
        assert_eq!(rd(&[0x3f]).unwrap(), Len::Plain(63));
        assert_eq!(rd(&[0x41, 0x02]).unwrap(), Len::Plain(0x102));
        assert_eq!(rd(&[0x80, 0, 1, 0, 0]).unwrap(), Len::Plain(65536));
        assert_eq!(
            rd(&[0x81, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap(),
            Len::Plain(1 << 32)
        );
        // all-ones is a real value (stream entries_read = -1), not an error
        assert_eq!(
            rd(&[0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap(),
            Len::Plain(u64::MAX)
        );
        assert_eq!(rd(&[0xc3]).unwrap(), Len::Encoded(3));
    }

    #[test]
    fn round_trips() {
        for n in [
            0,
            1,
            63,
            64,
            16383,
            16384,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
            u64::MAX,
        ] {
            let mut v = Vec::new();
            encode_len(n, &mut v);
            assert_eq!(rd(&v).unwrap(), Len::Plain(n), "{n}");
        }
    }

    #[test]
    fn malformed() {
        assert!(matches!(
            rd(&[0x82]).unwrap_err().kind,
            ErrorKind::BadEncoding(_)
        ));
        assert!(matches!(
            rd(&[0x40]).unwrap_err().kind,
            ErrorKind::Truncated { .. }
        ));
        assert!(matches!(
            rd(&[0x80, 1, 2]).unwrap_err().kind,
            ErrorKind::Truncated { .. }
        ));
        assert!(matches!(
            rd(&[]).unwrap_err().kind,
            ErrorKind::Truncated { .. }
        ));
        assert!(read_len(&mut Cursor::new(&[0xc0], 0), "x").is_err());
        // a count whose items cannot fit in what is left
        let e = read_count(
            &mut Cursor::new(&[0x81, 0x10, 0, 0, 0, 0, 0, 0, 0, 1], 0),
            "n",
            1,
        )
        .unwrap_err();
        assert!(matches!(e.kind, ErrorKind::BadLength { .. }));
    }
}
