//! The two things every compact encoding yields: an element ([`Entry`]) and, when the bytes are
//! wrong, a [`BlobError`] that says where inside the blob it went wrong.

use std::borrow::Cow;
use std::fmt;

/// One element of a compact encoding (listpack, ziplist, zipmap, intset): either the bytes as
/// stored, borrowed from the blob, or an integer that Redis stored in binary form and that
/// stands for its decimal text.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entry<'a> {
    /// A string element, borrowed.
    Bytes(&'a [u8]),
    /// An integer element (stored in its integer encoding).
    Int(i64),
}

impl<'a> Entry<'a> {
    /// The logical bytes of the element. Integers are rendered as decimal text into `buf`.
    #[inline]
    pub fn as_bytes<'b>(&'b self, buf: &'b mut IntBuf) -> &'b [u8]
    where
        'a: 'b,
    {
        match self {
            Entry::Bytes(b) => b,
            Entry::Int(i) => buf.format(*i),
        }
    }

    /// The logical bytes, allocating only for integers.
    pub fn to_cow(&self) -> Cow<'a, [u8]> {
        match *self {
            Entry::Bytes(b) => Cow::Borrowed(b),
            Entry::Int(i) => Cow::Owned(i.to_string().into_bytes()),
        }
    }

    /// Length in bytes of the logical (decimal) form.
    pub fn logical_len(&self) -> usize {
        match self {
            Entry::Bytes(b) => b.len(),
            Entry::Int(i) => IntBuf::new().format(*i).len(),
        }
    }

    /// The element as an integer, when it is one or when its bytes are canonical decimal.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Entry::Int(i) => Some(i),
            Entry::Bytes(b) => parse_canonical_i64(b),
        }
    }
}

impl fmt::Debug for Entry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Bytes(b) => write!(f, "Bytes({:?})", String::from_utf8_lossy(b)),
            Entry::Int(i) => write!(f, "Int({i})"),
        }
    }
}

/// A stack buffer for rendering an `i64` as decimal text without allocating.
#[derive(Clone, Copy)]
pub struct IntBuf([u8; 20]);

impl Default for IntBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl IntBuf {
    /// An empty buffer.
    pub const fn new() -> Self {
        IntBuf([0; 20])
    }

    /// Writes `v` in decimal and returns the text.
    pub fn format(&mut self, v: i64) -> &[u8] {
        let mut n = v.unsigned_abs();
        let mut i = self.0.len();
        loop {
            i -= 1;
            self.0[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if v < 0 {
            i -= 1;
            self.0[i] = b'-';
        }
        &self.0[i..]
    }
}

/// Redis's strict `string2ll`: the bytes are the canonical decimal form of an `i64`
/// (no `+`, no leading zeros, no spaces, `-0` refused). This is the test Redis uses to decide
/// whether a string is stored as an integer.
pub fn parse_canonical_i64(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    if b == b"0" {
        return Some(0);
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// What went wrong inside one compact blob (a listpack, ziplist, intset, zipmap, LZF stream,
/// stream node). `offset` is relative to the start of the blob; the RDB reader adds the blob's
/// position in the file and the key being read when it turns this into its own error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{container}: {what} (at byte {offset} of the {container})")]
pub struct BlobError {
    /// The encoding (`"listpack"`, `"ziplist"`, ...).
    pub container: &'static str,
    /// Offset within the blob (the decompressed bytes when it was LZF-compressed).
    pub offset: usize,
    /// What is wrong.
    pub what: Cow<'static, str>,
}

impl BlobError {
    /// An error in `container` at byte `offset` of the blob.
    pub fn new(container: &'static str, offset: usize, what: impl Into<Cow<'static, str>>) -> Self {
        BlobError {
            container,
            offset,
            what: what.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_integers() {
        assert_eq!(parse_canonical_i64(b"0"), Some(0));
        assert_eq!(parse_canonical_i64(b"-1"), Some(-1));
        assert_eq!(parse_canonical_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_canonical_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_canonical_i64(b"9223372036854775808"), None);
        for bad in [&b""[..], b"-0", b"01", b"+1", b" 1", b"1 ", b"-", b"1a"] {
            assert_eq!(parse_canonical_i64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn intbuf_formats_extremes() {
        let mut b = IntBuf::new();
        assert_eq!(b.format(i64::MIN), b"-9223372036854775808");
        assert_eq!(b.format(0), b"0");
        assert_eq!(b.format(-7), b"-7");
    }
}
