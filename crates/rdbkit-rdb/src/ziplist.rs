//! ziplist (Redis ≤ 6.2 `src/ziplist.c`), a zero-copy view.
//!
//! `zlbytes u32 LE | zltail u32 LE | zllen u16 LE (0xFFFF = count by walking) | entries | 0xFF`.
//! Entry = prevlen (1 byte if < 254, else 0xFE + u32 LE) + encoding + data. String lengths in
//! the 14- and 32-bit forms are **big-endian**; integers are little-endian.

use crate::entry::{parse_canonical_i64, BlobError, Entry};

const CONTAINER: &str = "ziplist";
/// zlbytes (4) + zltail (4) + zllen (2).
pub const HEADER_SIZE: usize = 10;
/// The entry count Redis stores once the real count no longer fits in 16 bits.
pub const COUNT_UNKNOWN: u16 = u16::MAX;
const END: u8 = 0xFF;
const BIG_PREVLEN: u8 = 0xFE;

#[inline]
fn err(offset: usize, what: impl Into<std::borrow::Cow<'static, str>>) -> BlobError {
    BlobError::new(CONTAINER, offset, what)
}

/// A ziplist whose header has been checked (Redis's `ziplistValidateIntegrity` with
/// `deep = 0`): zlbytes equals the blob length, zltail points inside it, last byte 0xFF.
#[derive(Clone, Copy, Debug)]
pub struct Ziplist<'a> {
    blob: &'a [u8],
}

impl<'a> Ziplist<'a> {
    /// Checks the header and the end byte (`deep = 0`); the entries are checked by
    /// [`validate`](Self::validate) or as they are iterated.
    pub fn new(blob: &'a [u8]) -> Result<Self, BlobError> {
        if blob.len() < HEADER_SIZE + 1 {
            return Err(err(
                0,
                format!(
                    "blob of {} bytes is too short for a ziplist (at least 11)",
                    blob.len()
                ),
            ));
        }
        let zlbytes = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]);
        if zlbytes as usize != blob.len() {
            return Err(err(
                0,
                format!(
                    "header zlbytes {zlbytes} does not match the blob length {}",
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
        let zl = Ziplist { blob };
        if zl.tail_offset() > blob.len() - 1 {
            return Err(err(
                4,
                format!(
                    "header zltail {} points past the end marker at byte {}",
                    zl.tail_offset(),
                    blob.len() - 1
                ),
            ));
        }
        Ok(zl)
    }

    /// The entry count from the header, `None` when it says 0xFFFF (count by walking).
    #[inline]
    pub fn header_count(&self) -> Option<usize> {
        match u16::from_le_bytes([self.blob[8], self.blob[9]]) {
            COUNT_UNKNOWN => None,
            n => Some(n as usize),
        }
    }

    /// The zltail header field: offset of the last entry (10 for an empty ziplist).
    #[inline]
    pub fn tail_offset(&self) -> usize {
        u32::from_le_bytes([self.blob[4], self.blob[5], self.blob[6], self.blob[7]]) as usize
    }

    /// Iterates the entries front to back without allocating. Bounds are checked for every
    /// entry; prevlens and zltail are not (see [`validate`](Self::validate)). Yields at most
    /// one error, then stops.
    #[inline]
    pub fn iter(&self) -> ZiplistIter<'a> {
        ZiplistIter {
            blob: self.blob,
            pos: HEADER_SIZE,
        }
    }

    /// Deep check, as Redis's `ziplistValidateIntegrity` with `deep = 1`: every entry's
    /// encoding and bounds, every prevlen equals the previous entry's size (0 for the first),
    /// the end marker is the last byte, zltail points at the last entry, and the header count
    /// matches unless it is 0xFFFF. Returns the number of entries.
    pub fn validate(&self) -> Result<usize, BlobError> {
        let blob = self.blob;
        let mut pos = HEADER_SIZE;
        let mut prev_size = 0usize;
        let mut last_entry = None;
        let mut count = 0usize;
        while blob[pos] != END {
            let d = decode_entry(blob, pos)?;
            if d.prevlen != prev_size {
                return Err(err(
                    pos,
                    format!(
                        "prevlen {} does not match the previous entry's size {prev_size}",
                        d.prevlen
                    ),
                ));
            }
            last_entry = Some(pos);
            prev_size = d.size;
            pos += d.size;
            count += 1;
        }
        check_end(blob, pos)?;
        if let Some(last) = last_entry {
            if self.tail_offset() != last {
                return Err(err(
                    4,
                    format!(
                        "header zltail {} does not point at the last entry (byte {last})",
                        self.tail_offset()
                    ),
                ));
            }
        }
        if let Some(h) = self.header_count() {
            if h != count {
                return Err(err(
                    8,
                    format!("header says {h} entries but the ziplist holds {count}"),
                ));
            }
        }
        Ok(count)
    }

    /// The whole blob.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.blob
    }
}

impl<'a> IntoIterator for &Ziplist<'a> {
    type Item = Result<Entry<'a>, BlobError>;
    type IntoIter = ZiplistIter<'a>;
    fn into_iter(self) -> ZiplistIter<'a> {
        self.iter()
    }
}

#[inline]
fn check_end(blob: &[u8], pos: usize) -> Result<(), BlobError> {
    if pos + 1 == blob.len() {
        Ok(())
    } else {
        Err(err(
            pos,
            format!(
                "0xFF end marker at byte {pos} but the ziplist is {} bytes long ({} bytes follow it)",
                blob.len(),
                blob.len() - 1 - pos
            ),
        ))
    }
}

struct Decoded<'a> {
    entry: Entry<'a>,
    prevlen: usize,
    /// Whole entry: prevlen field + encoding + data.
    size: usize,
}

#[cold]
fn past_end(pos: usize, what: &str, len: u64, left: usize) -> BlobError {
    err(
        pos,
        format!("{what} {len} runs past the end of the ziplist ({left} bytes left)"),
    )
}

/// Decodes the entry at `pos` (`pos < blob.len() - 1`, `blob[pos] != 0xFF`). Guarantees that
/// the entry ends at or before the end marker.
#[inline(always)]
fn decode_entry(blob: &[u8], pos: usize) -> Result<Decoded<'_>, BlobError> {
    let end = blob.len() - 1;
    let left = end - pos;
    let first = blob[pos];
    let (prevlen, plsize) = if first < BIG_PREVLEN {
        (first as usize, 1)
    } else {
        if left < 5 {
            return Err(past_end(pos, "5-byte prevlen of size", 5, left));
        }
        let v = u32::from_le_bytes([blob[pos + 1], blob[pos + 2], blob[pos + 3], blob[pos + 4]]);
        (v as usize, 5)
    };
    let p = pos + plsize;
    if p >= end {
        return Err(err(
            pos,
            "entry has a prevlen but no encoding byte before the end marker",
        ));
    }
    let left = end - p; // bytes from the encoding byte up to the end marker
    let enc = blob[p];
    let (entry, body) = match enc >> 6 {
        0 => {
            let len = (enc & 0x3F) as usize;
            (string(blob, p, 1, len, left)?, 1 + len)
        }
        1 => {
            if left < 2 {
                return Err(past_end(p, "14-bit string header of size", 2, left));
            }
            // big-endian 14 bits
            let len = (((enc & 0x3F) as usize) << 8) | blob[p + 1] as usize;
            (string(blob, p, 2, len, left)?, 2 + len)
        }
        2 => {
            if left < 5 {
                return Err(past_end(p, "32-bit string header of size", 5, left));
            }
            // big-endian 32 bits; Redis ignores the low 6 bits of the encoding byte
            let len =
                u32::from_be_bytes([blob[p + 1], blob[p + 2], blob[p + 3], blob[p + 4]]) as usize;
            (string(blob, p, 5, len, left)?, 5 + len)
        }
        _ => {
            let (v, n) = match enc {
                0xC0 => (
                    i64::from(i16::from_le_bytes(int_bytes::<2>(blob, p, left)?)),
                    2,
                ),
                0xD0 => (
                    i64::from(i32::from_le_bytes(int_bytes::<4>(blob, p, left)?)),
                    4,
                ),
                0xE0 => (i64::from_le_bytes(int_bytes::<8>(blob, p, left)?), 8),
                0xF0 => {
                    let d = int_bytes::<3>(blob, p, left)?;
                    (i64::from(i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8), 3)
                }
                0xFE => (i64::from(int_bytes::<1>(blob, p, left)?[0] as i8), 1),
                0xF1..=0xFD => (i64::from(enc & 0x0F) - 1, 0),
                _ => return Err(err(p, format!("invalid entry encoding byte 0x{enc:02x}"))),
            };
            (Entry::Int(v), 1 + n)
        }
    };
    Ok(Decoded {
        entry,
        prevlen,
        size: plsize + body,
    })
}

#[inline(always)]
fn int_bytes<const N: usize>(blob: &[u8], p: usize, left: usize) -> Result<[u8; N], BlobError> {
    if 1 + N > left {
        return Err(past_end(p, "integer entry of size", (1 + N) as u64, left));
    }
    let mut d = [0u8; N];
    d.copy_from_slice(&blob[p + 1..p + 1 + N]);
    Ok(d)
}

#[inline(always)]
fn string(
    blob: &[u8],
    p: usize,
    hdr: usize,
    len: usize,
    left: usize,
) -> Result<Entry<'_>, BlobError> {
    let room = left - hdr; // hdr <= left checked by the caller
    if len > room {
        return Err(past_end(p, "string length", len as u64, room));
    }
    Ok(Entry::Bytes(&blob[p + hdr..p + hdr + len]))
}

/// Front-to-back iterator over a ziplist's entries; see [`Ziplist::iter`].
#[derive(Clone, Debug)]
pub struct ZiplistIter<'a> {
    blob: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for ZiplistIter<'a> {
    type Item = Result<Entry<'a>, BlobError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let blob = self.blob;
        let &b = blob.get(self.pos)?;
        if b == END {
            let pos = self.pos;
            self.pos = blob.len();
            return check_end(blob, pos).err().map(Err);
        }
        match decode_entry(blob, self.pos) {
            Ok(d) => {
                self.pos += d.size;
                Some(Ok(d.entry))
            }
            Err(e) => {
                self.pos = blob.len();
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for ZiplistIter<'_> {}

/// An entry's header as written: prevlen, encoding and (for integers) the value's bytes, at
/// most 5 + 1 + 8 = 14 of its 16 bytes.
struct Head {
    h: [u8; 16],
    n: usize,
}

impl Head {
    /// Starts with the prevlen: one byte below 254, else 0xFE and the length (4 bytes LE).
    #[inline(always)]
    fn prevlen(prev: usize) -> Head {
        let mut h = [0u8; 16];
        let n = if prev < BIG_PREVLEN as usize {
            h[0] = prev as u8;
            1
        } else {
            h[0] = BIG_PREVLEN;
            h[1..5].copy_from_slice(&(prev as u32).to_le_bytes());
            5
        };
        Head { h, n }
    }

    /// The smallest integer encoding of `v` (immediates for 0..=12), as `zipTryEncoding`.
    #[inline(always)]
    fn int(&mut self, v: i64) {
        let n = self.n & 7;
        if (0..=12).contains(&v) {
            self.h[n] = 0xF1 + v as u8;
            self.n = n + 1;
            return;
        }
        let (tag, width) = if i8::try_from(v).is_ok() {
            (0xFE, 1)
        } else if i16::try_from(v).is_ok() {
            (0xC0, 2)
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            (0xF0, 3)
        } else if i32::try_from(v).is_ok() {
            (0xD0, 4)
        } else {
            (0xE0, 8)
        };
        self.h[n] = tag;
        // little-endian: the low `width` bytes are the value in that width
        self.h[n + 1..n + 9].copy_from_slice(&v.to_le_bytes());
        self.n = n + 1 + width;
    }

    /// A string encoding of `len` bytes (the lengths big-endian).
    #[inline(always)]
    fn str(&mut self, len: usize) {
        let n = self.n & 7;
        if len <= 0x3F {
            self.h[n] = len as u8;
            self.n = n + 1;
        } else if len <= 0x3FFF {
            self.h[n] = 0x40 | (len >> 8) as u8;
            self.h[n + 1] = len as u8;
            self.n = n + 2;
        } else {
            self.h[n] = 0x80;
            self.h[n + 1..n + 5].copy_from_slice(&(len as u32).to_be_bytes());
            self.n = n + 5;
        }
    }
}

/// Writes a ziplist exactly as Redis's `ziplistPush` (tail) would: strings of 1-31 bytes that
/// are canonical decimal become the smallest integer encoding (immediates for 0..=12).
pub fn encode(items: &[&[u8]]) -> Vec<u8> {
    let entries: Vec<Entry> = items.iter().map(|s| Entry::Bytes(s)).collect();
    encode_entries(&entries)
}

/// Like [`encode`], for elements that may already be integers.
pub fn encode_entries(items: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut b = Builder::start(&mut out);
    for e in items {
        b.push(&mut out, *e);
    }
    b.finish(&mut out);
    out
}

/// A ziplist written entry by entry at the end of a buffer (what [`encode_entries`] does,
/// without a slice of entries first): [`start`](Self::start), [`push`](Self::push) each
/// entry, [`finish`](Self::finish).
#[derive(Clone, Copy, Debug)]
pub struct Builder {
    start: usize,
    prev: usize,
    tail: usize,
    count: usize,
}

impl Builder {
    /// Reserves the header at the end of `out`.
    pub fn start(out: &mut Vec<u8>) -> Builder {
        let start = out.len();
        out.resize(start + HEADER_SIZE, 0);
        Builder {
            start,
            prev: 0,
            tail: HEADER_SIZE,
            count: 0,
        }
    }

    /// Appends one entry as `ziplistPush` (tail) would: `Bytes` of 1-31 bytes that are
    /// canonical decimal become the smallest integer encoding.
    #[inline(always)]
    pub fn push(&mut self, out: &mut Vec<u8>, e: Entry<'_>) {
        let mut h = Head::prevlen(self.prev);
        let data: &[u8] = match e {
            Entry::Int(v) => {
                h.int(v);
                &[]
            }
            Entry::Bytes(s) => match parse_canonical_i64(s).filter(|_| s.len() < 32) {
                Some(v) => {
                    h.int(v);
                    &[]
                }
                None => {
                    h.str(s.len());
                    s
                }
            },
        };
        self.put(out, &h, data);
    }

    /// Appends `s` as a string entry, for text known not to be a canonical integer (what
    /// [`push`](Self::push) of `Entry::Bytes(s)` writes then, without testing it).
    #[inline]
    pub fn push_text(&mut self, out: &mut Vec<u8>, s: &[u8]) {
        debug_assert!(parse_canonical_i64(s).is_none());
        let mut h = Head::prevlen(self.prev);
        h.str(s.len());
        self.put(out, &h, s);
    }

    /// Writes one entry: its header, then its string bytes. The header goes in as one
    /// 16-byte store and the length is set after (was: a `Vec::push` a header byte, an
    /// `extend_from_slice` a part: a third of a transcoded entry's instructions).
    #[inline(always)]
    fn put(&mut self, out: &mut Vec<u8>, h: &Head, data: &[u8]) {
        let at = out.len();
        self.tail = at - self.start;
        let size = h.n + data.len();
        out.reserve(h.h.len() + data.len());
        // SAFETY: `reserve` made room for 16 + data.len() bytes from `at`, and h.n <= 14, so
        // both copies stay inside the allocation (the 16-byte header store may reach past
        // the entry's end, into capacity that the data copy then overwrites or that stays
        // unused beyond the new length); the bytes up to at + size are initialised before
        // the length covers them.
        unsafe {
            let p = out.as_mut_ptr().add(at);
            std::ptr::copy_nonoverlapping(h.h.as_ptr(), p, h.h.len());
            std::ptr::copy_nonoverlapping(data.as_ptr(), p.add(h.n), data.len());
            out.set_len(at + size);
        }
        self.prev = size;
        self.count += 1;
    }

    /// Entries pushed so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Writes the end marker and the header.
    pub fn finish(self, out: &mut Vec<u8>) {
        out.push(END);
        let zl = &mut out[self.start..];
        let total = u32::try_from(zl.len()).unwrap_or(u32::MAX);
        zl[..4].copy_from_slice(&total.to_le_bytes());
        zl[4..8].copy_from_slice(&(self.tail as u32).to_le_bytes());
        let n = u16::try_from(self.count).unwrap_or(COUNT_UNKNOWN);
        zl[8..10].copy_from_slice(&n.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fix_total(mut zl: Vec<u8>) -> Vec<u8> {
        let n = zl.len() as u32;
        zl[..4].copy_from_slice(&n.to_le_bytes());
        zl
    }

    #[test]
    fn redis_header_comment_example() {
        // From ziplist.c's header comment: a ziplist holding "2" and "5".
        let zl = [
            0x0f, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0xf3, 0x02, 0xf6,
            0xff,
        ];
        let z = Ziplist::new(&zl).unwrap();
        assert_eq!(z.validate().unwrap(), 2);
        let v: Vec<Entry> = z.iter().map(Result::unwrap).collect();
        assert_eq!(v, [Entry::Int(2), Entry::Int(5)]);
        assert_eq!(encode(&[b"2", b"5"]), zl);
        // ... then "Hello World" appended
        let mut zl2 = zl[..14].to_vec();
        zl2.extend_from_slice(&[0x02, 0x0b]);
        zl2.extend_from_slice(b"Hello World");
        zl2.push(0xff);
        let zl2 = fix_total(zl2);
        let mut zl2 = zl2;
        zl2[4] = 14;
        zl2[8] = 3;
        let z = Ziplist::new(&zl2).unwrap();
        assert_eq!(z.validate().unwrap(), 3);
        assert_eq!(encode(&[b"2", b"5", b"Hello World"]), zl2);
    }

    #[test]
    fn big_endian_string_lengths() {
        let s = vec![b'q'; 300];
        let zl = encode(&[&s]);
        // prevlen 0, then 0x40|0x01, 0x2c: 300 = 0x012c big-endian
        assert_eq!(&zl[10..13], &[0x00, 0x41, 0x2c]);
        let s = vec![b'q'; 20000];
        let zl = encode(&[b"a", &s, b"b"]);
        assert_eq!(&zl[13..19], &[0x03, 0x80, 0x00, 0x00, 0x4e, 0x20]);
        let z = Ziplist::new(&zl).unwrap();
        assert_eq!(z.validate().unwrap(), 3);
        // the third entry has a 5-byte prevlen
        let third = 10 + 3 + 1 + 5 + 20000;
        assert_eq!(zl[third], 0xFE);
        assert_eq!(z.tail_offset(), third);
    }

    #[test]
    fn integer_encodings() {
        for (v, enc) in [
            (0i64, 0xF1u8),
            (12, 0xFD),
            (13, 0xFE),
            (-1, 0xFE),
            (-128, 0xFE),
            (128, 0xC0),
            (-32768, 0xC0),
            (32768, 0xF0),
            (-8_388_608, 0xF0),
            (8_388_608, 0xD0),
            (i32::MIN as i64, 0xD0),
            (i32::MAX as i64 + 1, 0xE0),
            (i64::MIN, 0xE0),
            (i64::MAX, 0xE0),
        ] {
            let text = v.to_string();
            let zl = encode(&[text.as_bytes()]);
            assert_eq!(zl[11], enc, "{v}");
            let z = Ziplist::new(&zl).unwrap();
            z.validate().unwrap();
            assert_eq!(z.iter().next().unwrap().unwrap(), Entry::Int(v));
        }
        // Redis only tries integers for strings shorter than 32 bytes; "007" stays a string
        let zl = encode(&[b"007"]);
        assert_eq!(
            Ziplist::new(&zl).unwrap().iter().next().unwrap().unwrap(),
            Entry::Bytes(b"007")
        );
    }

    #[test]
    fn malformed() {
        assert!(Ziplist::new(&[11, 0, 0, 0, 10, 0, 0, 0, 0, 0])
            .unwrap_err()
            .what
            .contains("too short"));
        let empty = encode(&[]);
        assert_eq!(empty, [11, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0xFF]);
        assert_eq!(Ziplist::new(&empty).unwrap().validate().unwrap(), 0);
        let mut bad = empty.clone();
        bad[0] = 12;
        assert!(Ziplist::new(&bad).unwrap_err().what.contains("zlbytes 12"));
        let mut bad = empty.clone();
        bad[4] = 11;
        assert!(Ziplist::new(&bad).unwrap_err().what.contains("zltail 11"));
        let mut bad = empty.clone();
        bad[10] = 0;
        assert!(Ziplist::new(&bad).unwrap_err().what.contains("0x00"));

        // wrong prevlen
        let mut zl = encode(&[b"abc", b"de"]);
        assert_eq!(zl[15], 5);
        zl[15] = 4;
        let z = Ziplist::new(&zl).unwrap();
        assert_eq!(z.iter().count(), 2);
        let e = z.validate().unwrap_err();
        assert_eq!(e.offset, 15);
        assert!(
            e.what
                .contains("prevlen 4 does not match the previous entry's size 5"),
            "{e}"
        );

        // wrong zltail
        let mut zl = encode(&[b"abc", b"de"]);
        zl[4] = 10;
        let e = Ziplist::new(&zl).unwrap().validate().unwrap_err();
        assert!(
            e.what
                .contains("zltail 10 does not point at the last entry (byte 15)"),
            "{e}"
        );

        // count mismatch, and 0xFFFF accepted
        let mut zl = encode(&[b"abc", b"de"]);
        zl[8] = 1;
        assert!(Ziplist::new(&zl)
            .unwrap()
            .validate()
            .unwrap_err()
            .what
            .contains("header says 1 entries"));
        zl[8] = 0xFF;
        zl[9] = 0xFF;
        assert_eq!(Ziplist::new(&zl).unwrap().validate().unwrap(), 2);

        // string past the end
        let mut zl = encode(&[b"abc"]);
        zl[11] = 10;
        let z = Ziplist::new(&zl).unwrap();
        let e = z.iter().next().unwrap().unwrap_err();
        assert!(
            e.what
                .contains("string length 10 runs past the end of the ziplist (3 bytes left)"),
            "{e}"
        );

        // invalid encodings
        for enc in [0xC1u8, 0xD5, 0xFF] {
            let zl = fix_total(vec![0, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0, enc, 0, 0, 0xFF]);
            let e = Ziplist::new(&zl).unwrap().validate().unwrap_err();
            assert!(
                e.what.contains("invalid entry encoding byte"),
                "{enc:x}: {e}"
            );
        }
        // end marker early
        let mut zl = encode(&[b"a", b"b"]);
        zl[13] = 0xFF;
        let z = Ziplist::new(&zl).unwrap();
        assert!(z.validate().unwrap_err().what.contains("bytes follow it"));
    }

    fn element() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..80),
            any::<i64>().prop_map(|v| v.to_string().into_bytes()),
            (-300i64..300).prop_map(|v| v.to_string().into_bytes()),
            Just(b"-0".to_vec()),
            Just(b"".to_vec()),
            prop_oneof![
                Just(63usize),
                Just(64),
                Just(253),
                Just(254),
                Just(16383),
                Just(16384)
            ]
            .prop_map(|n| vec![b'z'; n]),
        ]
    }

    proptest! {
        #[test]
        fn roundtrip(v in proptest::collection::vec(element(), 0..30)) {
            let refs: Vec<&[u8]> = v.iter().map(|x| x.as_slice()).collect();
            let zl = encode(&refs);
            let z = Ziplist::new(&zl).unwrap();
            prop_assert_eq!(z.validate().unwrap(), v.len());
            let got: Vec<Vec<u8>> = z.iter().map(|e| e.unwrap().to_cow().into_owned()).collect();
            prop_assert_eq!(got, v);
        }

        #[test]
        fn mutations_never_panic(v in proptest::collection::vec(element(), 1..8), idx in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
            let refs: Vec<&[u8]> = v.iter().map(|x| x.as_slice()).collect();
            let mut zl = encode(&refs);
            let i = 8 + idx % (zl.len() - 8);
            zl[i] = byte;
            if let Ok(z) = Ziplist::new(&zl) {
                let _ = z.validate();
                prop_assert!(z.iter().count() <= zl.len());
            }
            let t = fix_total(zl[..(cut % zl.len()).max(11)].to_vec());
            if let Ok(z) = Ziplist::new(&t) {
                let _ = z.validate();
                prop_assert!(z.iter().count() <= t.len());
            }
        }
    }
}
