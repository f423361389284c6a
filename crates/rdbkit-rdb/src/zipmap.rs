//! zipmap (Redis ≤ 2.4 hashes, `src/zipmap.c`), a zero-copy view.
//!
//! `zmlen u8 (254 = unknown) | (len key, len free value, free bytes)* | 0xFF`, where `len` is
//! one byte (< 254) or 254 followed by a u32 LE, and `free` is one byte counting unused bytes
//! after the value.

use crate::entry::BlobError;

const CONTAINER: &str = "zipmap";
const BIGLEN: u8 = 254;
const END: u8 = 0xFF;

#[inline]
fn err(offset: usize, what: impl Into<std::borrow::Cow<'static, str>>) -> BlobError {
    BlobError::new(CONTAINER, offset, what)
}

/// A zipmap whose outer shape has been checked: at least 2 bytes and a final 0xFF.
#[derive(Clone, Copy, Debug)]
pub struct Zipmap<'a> {
    blob: &'a [u8],
}

impl<'a> Zipmap<'a> {
    /// Checks the header (Redis's `zipmapValidateIntegrity` with `deep = 0`).
    pub fn new(blob: &'a [u8]) -> Result<Self, BlobError> {
        if blob.len() < 2 {
            return Err(err(
                0,
                format!(
                    "blob of {} bytes is too short for a zipmap (at least 2)",
                    blob.len()
                ),
            ));
        }
        let last = blob[blob.len() - 1];
        if last != END {
            return Err(err(
                blob.len() - 1,
                format!("last byte is 0x{last:02x}, not the 0xFF end marker"),
            ));
        }
        Ok(Zipmap { blob })
    }

    /// The pair count from the header, `None` when it says 254 or more (count by walking).
    #[inline]
    pub fn header_count(&self) -> Option<usize> {
        let n = self.blob[0];
        (n < BIGLEN).then_some(n as usize)
    }

    /// Iterates the (field, value) pairs, skipping each value's free bytes. Bounds are checked
    /// for every length; yields at most one error, then stops.
    #[inline]
    pub fn iter(&self) -> ZipmapIter<'a> {
        ZipmapIter {
            blob: self.blob,
            pos: 1,
        }
    }

    /// Deep check, as Redis's `zipmapValidateIntegrity` with `deep = 1`: every length and
    /// free count stays inside the blob, the map is not empty, and the header count matches
    /// unless it is 254. Stricter than Redis in one point: the end marker must be the last
    /// byte (Redis stops at the first 0xFF key length). Returns the number of pairs.
    pub fn validate(&self) -> Result<usize, BlobError> {
        let mut count = 0usize;
        for pair in self.iter() {
            pair?;
            count += 1;
        }
        if count == 0 {
            return Err(err(1, "zipmap is empty"));
        }
        let h = self.blob[0];
        if h != BIGLEN && h as usize != count {
            return Err(err(
                0,
                format!("header says {h} pairs but the zipmap holds {count}"),
            ));
        }
        Ok(count)
    }

    /// The whole blob.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.blob
    }
}

impl<'a> IntoIterator for &Zipmap<'a> {
    type Item = Result<(&'a [u8], &'a [u8]), BlobError>;
    type IntoIter = ZipmapIter<'a>;
    fn into_iter(self) -> ZipmapIter<'a> {
        self.iter()
    }
}

/// Iterator over a zipmap's (field, value) pairs; see [`Zipmap::iter`].
#[derive(Clone, Debug)]
pub struct ZipmapIter<'a> {
    blob: &'a [u8],
    pos: usize,
}

/// Reads a length at `p` (`p < end`): returns (length, size of the length field).
#[inline]
fn read_len(blob: &[u8], p: usize, end: usize, what: &str) -> Result<(usize, usize), BlobError> {
    let b = blob[p];
    if b < BIGLEN {
        return Ok((b as usize, 1));
    }
    // 254 (and, as Redis reads it, 255 in a value position) is followed by a u32 LE
    if p + 5 > end {
        return Err(err(
            p,
            format!(
                "5-byte {what} length runs past the end of the zipmap ({} bytes left)",
                end - p
            ),
        ));
    }
    let v = u32::from_le_bytes([blob[p + 1], blob[p + 2], blob[p + 3], blob[p + 4]]);
    Ok((v as usize, 5))
}

/// A (field, value) pair borrowed from the blob.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

impl<'a> ZipmapIter<'a> {
    #[inline]
    fn pair(&self, p: usize) -> Result<(Pair<'a>, usize), BlobError> {
        let blob = self.blob;
        let end = blob.len() - 1; // the final 0xFF, which every field must leave in place
        let (klen, ks) = read_len(blob, p, end, "field")?;
        let kstart = p + ks;
        let left = end - kstart;
        if klen > left {
            return Err(err(
                p,
                format!("field length {klen} runs past the end of the zipmap ({left} bytes left)"),
            ));
        }
        let key = &blob[kstart..kstart + klen];
        let v = kstart + klen;
        if v >= end {
            return Err(err(v, "zipmap ends where a value length was expected"));
        }
        let (vlen, vs) = read_len(blob, v, end, "value")?;
        let free_at = v + vs;
        if free_at >= end {
            return Err(err(v, "zipmap ends where a value's free byte was expected"));
        }
        let free = blob[free_at] as usize;
        let vstart = free_at + 1;
        let left = end - vstart;
        if vlen > left {
            return Err(err(
                v,
                format!("value length {vlen} runs past the end of the zipmap ({left} bytes left)"),
            ));
        }
        if vlen + free > left {
            return Err(err(
                free_at,
                format!(
                    "{free} free bytes after the {vlen}-byte value run past the end of the zipmap ({} bytes left)",
                    left - vlen
                ),
            ));
        }
        Ok(((key, &blob[vstart..vstart + vlen]), vstart + vlen + free))
    }
}

impl<'a> Iterator for ZipmapIter<'a> {
    type Item = Result<(&'a [u8], &'a [u8]), BlobError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let blob = self.blob;
        let &b = blob.get(self.pos)?;
        if b == END {
            let pos = self.pos;
            self.pos = blob.len();
            if pos + 1 != blob.len() {
                return Some(Err(err(
                    pos,
                    format!(
                        "0xFF end marker at byte {pos} but the zipmap is {} bytes long ({} bytes follow it)",
                        blob.len(),
                        blob.len() - 1 - pos
                    ),
                )));
            }
            return None;
        }
        match self.pair(self.pos) {
            Ok((kv, next)) => {
                self.pos = next;
                Some(Ok(kv))
            }
            Err(e) => {
                self.pos = blob.len();
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for ZipmapIter<'_> {}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < BIGLEN as usize {
        out.push(len as u8);
    } else {
        out.push(BIGLEN);
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
}

/// Writes a zipmap as Redis 2.x's `zipmapSet` would for fresh keys (free = 0).
pub fn encode(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = vec![pairs.len().min(BIGLEN as usize) as u8];
    for (k, v) in pairs {
        push_len(&mut out, k.len());
        out.extend_from_slice(k);
        push_len(&mut out, v.len());
        out.push(0);
        out.extend_from_slice(v);
    }
    out.push(END);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn redis_comment_example() {
        let zm = b"\x02\x03foo\x03\x00bar\x05hello\x05\x00world\xff";
        assert_eq!(encode(&[(b"foo", b"bar"), (b"hello", b"world")]), zm);
        let z = Zipmap::new(zm).unwrap();
        assert_eq!(z.header_count(), Some(2));
        assert_eq!(z.validate().unwrap(), 2);
        let v: Vec<_> = z.iter().map(Result::unwrap).collect();
        assert_eq!(v, [(&b"foo"[..], &b"bar"[..]), (b"hello", b"world")]);
    }

    #[test]
    fn free_bytes_are_skipped() {
        // "foo" => "hi" with 2 free bytes left from an earlier "bar!"
        let zm = b"\x02\x03foo\x02\x02hi??\x01k\x01\x00v\xff";
        let z = Zipmap::new(zm).unwrap();
        let v: Vec<_> = z.iter().map(Result::unwrap).collect();
        assert_eq!(v, [(&b"foo"[..], &b"hi"[..]), (b"k", b"v")]);
        assert_eq!(z.validate().unwrap(), 2);
    }

    #[test]
    fn long_lengths() {
        let big = vec![b'v'; 300];
        let zm = encode(&[(b"k", &big)]);
        assert_eq!(&zm[3..8], &[254, 0x2c, 0x01, 0, 0]);
        let z = Zipmap::new(&zm).unwrap();
        assert_eq!(z.iter().next().unwrap().unwrap().1, &big[..]);
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..300)
            .map(|i| (format!("f{i}").into_bytes(), vec![]))
            .collect();
        let refs: Vec<(&[u8], &[u8])> = pairs
            .iter()
            .map(|(a, b)| (a.as_slice(), b.as_slice()))
            .collect();
        let zm = encode(&refs);
        assert_eq!(zm[0], 254);
        let z = Zipmap::new(&zm).unwrap();
        assert_eq!(z.header_count(), None);
        assert_eq!(z.validate().unwrap(), 300);
    }

    #[test]
    fn malformed() {
        assert!(Zipmap::new(b"\xff").unwrap_err().what.contains("too short"));
        assert!(Zipmap::new(b"\x00\x00").unwrap_err().what.contains("0x00"));
        assert!(Zipmap::new(b"\x00\xff")
            .unwrap()
            .validate()
            .unwrap_err()
            .what
            .contains("empty"));
        let cases: &[(&[u8], &str)] = &[
            (
                b"\x01\x09foo\xff",
                "field length 9 runs past the end of the zipmap (3 bytes left)",
            ),
            (b"\x01\x03foo\xff", "ends where a value length was expected"),
            (
                b"\x01\x03foo\x01\xff",
                "ends where a value's free byte was expected",
            ),
            (
                b"\x01\x03foo\x05\x00ab\xff",
                "value length 5 runs past the end",
            ),
            (
                b"\x01\x03foo\x01\x04a\xff",
                "4 free bytes after the 1-byte value run past the end",
            ),
            (
                b"\x01\xfe\x01\x00\xff",
                "5-byte field length runs past the end",
            ),
            (b"\x01\x01a\x01\x00b\xffzz\xff", "bytes follow it"),
            (
                b"\x02\x01a\x01\x00b\xff",
                "header says 2 pairs but the zipmap holds 1",
            ),
        ];
        for &(zm, msg) in cases {
            let e = Zipmap::new(zm).unwrap().validate().unwrap_err();
            assert!(e.what.contains(msg), "{zm:?}: {e}");
        }
    }

    proptest! {
        #[test]
        fn roundtrip(v in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..300), proptest::collection::vec(any::<u8>(), 0..300)), 1..20)) {
            let refs: Vec<(&[u8], &[u8])> = v.iter().map(|(a, b)| (a.as_slice(), b.as_slice())).collect();
            let zm = encode(&refs);
            let z = Zipmap::new(&zm).unwrap();
            prop_assert_eq!(z.validate().unwrap(), v.len());
            let got: Vec<(&[u8], &[u8])> = z.iter().map(Result::unwrap).collect();
            prop_assert_eq!(got, refs);
        }

        #[test]
        fn mutations_never_panic(v in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..10), proptest::collection::vec(any::<u8>(), 0..10)), 1..5), idx in any::<usize>(), byte in any::<u8>()) {
            let refs: Vec<(&[u8], &[u8])> = v.iter().map(|(a, b)| (a.as_slice(), b.as_slice())).collect();
            let mut zm = encode(&refs);
            let i = idx % zm.len();
            zm[i] = byte;
            if let Ok(z) = Zipmap::new(&zm) {
                let _ = z.validate();
                prop_assert!(z.iter().count() <= zm.len());
            }
        }
    }
}
