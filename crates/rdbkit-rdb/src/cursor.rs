//! [`Cursor`]: a bounds-checked position in a byte slice that knows its absolute file offset.
//! Every read that would run past the end is an error (never a panic), and every length is
//! checked against what is left before anything is taken or allocated.

use crate::error::{Error, ErrorKind, Result};

#[derive(Clone, Debug)]
/// A bounds-checked read position in `data`, which starts at file offset `base`.
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    /// Absolute file offset of `data[0]`.
    base: u64,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `data`, whose first byte is at file offset `base`.
    pub fn new(data: &'a [u8], base: u64) -> Self {
        Cursor { data, pos: 0, base }
    }

    /// Absolute file offset of the next byte.
    #[inline]
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    #[inline]
    /// Bytes consumed so far (the position within `data`).
    pub fn pos(&self) -> usize {
        self.pos
    }

    #[inline]
    /// Bytes left after the position.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    #[inline]
    /// The whole slice the cursor reads.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    #[inline]
    /// Reads one byte; `what` names the field in the error.
    pub fn u8(&mut self, what: &'static str) -> Result<u8> {
        match self.data.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.truncated(what, 1)),
        }
    }

    #[inline]
    /// The next byte, without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// Exactly `n` bytes (a fixed-size field): a short input is [`ErrorKind::Truncated`].
    #[inline]
    pub fn fixed(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.truncated(what, n as u64));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline]
    /// Reads `N` bytes as an array; `what` names the field in the error.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let s = self.fixed(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// `n` bytes announced by a length prefix: too few left is [`ErrorKind::BadLength`],
    /// reported at `at` (the length prefix).
    #[inline]
    pub fn take(&mut self, n: u64, what: &'static str, at: u64) -> Result<&'a [u8]> {
        if n > self.remaining() as u64 {
            return Err(Error::new(
                ErrorKind::BadLength {
                    what,
                    len: n,
                    left: self.remaining() as u64,
                },
                at,
            ));
        }
        let n = n as usize;
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// The common RDB string: a 6-bit length prefix (`00xxxxxx`) and that many bytes, all
    /// inside the input. Consumes and returns the bytes; `None` (nothing consumed) for any
    /// other prefix or a string that does not fit, which the general reader then handles,
    /// errors included.
    #[inline(always)]
    pub fn short_string(&mut self) -> Option<&'a [u8]> {
        let &b = self.data.get(self.pos)?;
        if b >= 0x40 {
            return None;
        }
        let start = self.pos + 1;
        let end = start + usize::from(b);
        let s = self.data.get(start..end)?;
        self.pos = end;
        Some(s)
    }

    /// Reads a little-endian `i64`.
    pub fn i64_le(&mut self, what: &'static str) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian `u64`.
    pub fn u64_le(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A [`ErrorKind::Truncated`] error for `what` needing `needed` bytes at the position.
    pub fn truncated(&self, what: &'static str, needed: u64) -> Error {
        Error::new(
            ErrorKind::Truncated {
                what,
                needed,
                left: self.remaining() as u64,
            },
            self.offset(),
        )
    }

    /// Fails unless `n` items of at least `min_size` bytes each could still fit: keeps a count
    /// prefix from driving a long loop or an allocation the input cannot back.
    pub fn check_count(&self, n: u64, min_size: u64, what: &'static str, at: u64) -> Result<()> {
        let left = self.remaining() as u64;
        if n.saturating_mul(min_size) > left {
            return Err(Error::new(ErrorKind::BadLength { what, len: n, left }, at));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounds_checked() {
        let mut c = Cursor::new(&[1, 2, 3], 100);
        assert_eq!(c.u8("x").unwrap(), 1);
        assert_eq!(c.offset(), 101);
        let e = c.fixed(5, "field").unwrap_err();
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                needed: 5,
                left: 2,
                ..
            }
        ));
        assert_eq!(e.offset, 101);
        let e = c.take(1 << 60, "string", 100).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::BadLength { left: 2, .. }));
        assert_eq!(c.take(2, "string", 101).unwrap(), &[2, 3]);
        assert!(c.u8("x").is_err());
        assert!(c.check_count(u64::MAX, 2, "n", 0).is_err());
    }
}
