//! listpack (Redis 7+ `src/listpack.c`), a zero-copy view.
//!
//! `total_bytes u32 LE | num_elements u16 LE (65535 = unknown) | entries | 0xFF`. Each entry is
//! encoding+data followed by a *backlen*: the size of encoding+data written in 1-5 bytes so it
//! can be read right to left. Forward reading only needs the backlen's size, which follows from
//! the entry size; [`Listpack::validate`] also checks its bytes.

use crate::entry::{parse_canonical_i64, BlobError, Entry};

const CONTAINER: &str = "listpack";
/// Header: total bytes (4) + number of elements (2).
pub const HEADER_SIZE: usize = 6;
/// The element count Redis stores when the real count does not fit in 16 bits.
pub const COUNT_UNKNOWN: u16 = u16::MAX;
const EOF: u8 = 0xFF;

#[inline]
fn err(offset: usize, what: impl Into<std::borrow::Cow<'static, str>>) -> BlobError {
    BlobError::new(CONTAINER, offset, what)
}

/// A listpack whose header has been checked: the total-bytes field equals the blob length,
/// the blob holds at least a header and a terminator, and its last byte is 0xFF.
#[derive(Clone, Copy, Debug)]
pub struct Listpack<'a> {
    blob: &'a [u8],
}

impl<'a> Listpack<'a> {
    /// Checks the header only (Redis's `lpValidateIntegrity` with `deep = 0`).
    pub fn new(blob: &'a [u8]) -> Result<Self, BlobError> {
        if blob.len() < HEADER_SIZE + 1 {
            return Err(err(
                0,
                format!(
                    "blob of {} bytes is too short for a listpack (at least 7)",
                    blob.len()
                ),
            ));
        }
        let total = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]);
        if total as usize != blob.len() {
            return Err(err(
                0,
                format!(
                    "header total_bytes {total} does not match the blob length {}",
                    blob.len()
                ),
            ));
        }
        let last = blob[blob.len() - 1];
        if last != EOF {
            return Err(err(
                blob.len() - 1,
                format!("last byte is 0x{last:02x}, not the 0xFF terminator"),
            ));
        }
        Ok(Listpack { blob })
    }

    /// The element count from the header, `None` when it says 65535 (count by walking).
    #[inline]
    pub fn header_count(&self) -> Option<usize> {
        match u16::from_le_bytes([self.blob[4], self.blob[5]]) {
            COUNT_UNKNOWN => None,
            n => Some(n as usize),
        }
    }

    /// Iterates the elements front to back without allocating. Bounds are checked for every
    /// entry (a length never reaches past the terminator); backlens are not (see
    /// [`validate`](Self::validate)). Yields at most one error, then stops.
    #[inline]
    pub fn iter(&self) -> ListpackIter<'a> {
        ListpackIter {
            blob: self.blob,
            pos: HEADER_SIZE,
        }
    }

    /// Deep check, as Redis's `lpValidateIntegrity` with `deep = 1`: every entry's encoding and
    /// bounds, every backlen encodes the entry size exactly as Redis writes it, the terminator
    /// sits at the very end, and the header count matches unless it is 65535.
    /// Returns the number of elements.
    pub fn validate(&self) -> Result<usize, BlobError> {
        let blob = self.blob;
        let mut pos = HEADER_SIZE;
        let mut count: usize = 0;
        loop {
            let b = blob[pos]; // pos <= blob.len() - 1 holds throughout
            if b == EOF {
                check_terminator(blob, pos)?;
                break;
            }
            let (_, size) = decode_entry(blob, pos)?;
            check_backlen(blob, pos, size)?;
            pos += size + backlen_size(size);
            count += 1;
        }
        if let Some(h) = self.header_count() {
            if h != count {
                return Err(err(
                    4,
                    format!("header says {h} elements but the listpack holds {count}"),
                ));
            }
        }
        Ok(count)
    }

    /// [`validate`](Self::validate) and [`iter`](Self::iter) in one walk: yields every element
    /// with its backlen checked, then (at the terminator) the terminator and header-count
    /// checks. It yields exactly the error `validate` returns, at the same point of the walk,
    /// and the elements `iter` yields before it. After the walk, [`CheckedIter::elements`] is
    /// what `validate` returns.
    #[inline]
    pub fn checked_iter(&self) -> CheckedIter<'a> {
        CheckedIter {
            lp: *self,
            pos: HEADER_SIZE,
            count: 0,
            done: false,
            failed: false,
        }
    }

    /// The whole blob, header and terminator included.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.blob
    }

    /// An iterator starting at byte `pos`, which must be the start of an entry (or of the
    /// terminator) found by an earlier walk, e.g. [`ListpackIter::offset`].
    #[inline]
    pub fn iter_at(&self, pos: usize) -> ListpackIter<'a> {
        ListpackIter {
            blob: self.blob,
            pos: pos.clamp(HEADER_SIZE, self.blob.len() - 1),
        }
    }
}

impl<'a> IntoIterator for &Listpack<'a> {
    type Item = Result<Entry<'a>, BlobError>;
    type IntoIter = ListpackIter<'a>;
    fn into_iter(self) -> ListpackIter<'a> {
        self.iter()
    }
}

#[cold]
fn terminator_early(blob: &[u8], pos: usize) -> BlobError {
    err(
        pos,
        format!(
            "0xFF terminator at byte {pos} but the listpack is {} bytes long ({} bytes follow it)",
            blob.len(),
            blob.len() - 1 - pos
        ),
    )
}

#[inline]
fn check_terminator(blob: &[u8], pos: usize) -> Result<(), BlobError> {
    if pos + 1 == blob.len() {
        Ok(())
    } else {
        Err(terminator_early(blob, pos))
    }
}

/// Size in bytes of the backlen that follows an entry of `size` bytes (encoding + data).
/// Note Redis's boundaries: 16383 already takes 3 bytes.
#[inline]
pub fn backlen_size(size: usize) -> usize {
    if size <= 127 {
        1
    } else if size < 16383 {
        2
    } else if size < 2_097_151 {
        3
    } else if size < 268_435_455 {
        4
    } else {
        5
    }
}

/// The backlen of an entry of `size` bytes, exactly as Redis writes it: the byte at the lowest
/// address holds the most significant 7 bits with its high bit clear, every later byte has
/// its high bit set.
#[inline]
fn backlen_bytes(size: usize) -> ([u8; 5], usize) {
    let n = backlen_size(size);
    let size = size as u64;
    let mut b = [0u8; 5];
    for (j, slot) in b.iter_mut().take(n).enumerate() {
        let chunk = ((size >> (7 * (n - 1 - j))) & 127) as u8;
        *slot = if j == 0 { chunk } else { chunk | 128 };
    }
    (b, n)
}

fn push_backlen(out: &mut Vec<u8>, size: usize) {
    let (b, n) = backlen_bytes(size);
    out.extend_from_slice(&b[..n]);
}

#[cold]
fn bad_backlen(blob: &[u8], at: usize, n: usize, size: usize) -> BlobError {
    let bytes = &blob[at..at + n];
    // Read it the way Redis does: right to left, 7 bits per byte, stop at a clear high bit.
    let mut val: u64 = 0;
    let mut terminated = false;
    for (i, &b) in bytes.iter().rev().enumerate() {
        val |= u64::from(b & 127) << (7 * i);
        if b & 128 == 0 {
            terminated = true;
            break;
        }
    }
    if terminated {
        err(
            at,
            format!("backlen {val} does not match entry size {size} (backlen bytes {bytes:02x?})"),
        )
    } else {
        err(
            at,
            format!("backlen bytes {bytes:02x?} are not a valid encoding of entry size {size}"),
        )
    }
}

#[inline(always)]
fn check_backlen(blob: &[u8], pos: usize, size: usize) -> Result<(), BlobError> {
    let at = pos + size;
    if size <= 127 {
        // the common case: entries up to 127 bytes, a 1-byte backlen
        if blob[at] as usize == size {
            return Ok(());
        }
    } else if size < 16383 {
        // 128..16382 bytes: two bytes, the high 7 bits first (decode_entry checked at + 2
        // <= terminator)
        if blob[at] as usize == size >> 7 && blob[at + 1] as usize == (size & 127) | 128 {
            return Ok(());
        }
    }
    check_backlen_slow(blob, at, size)
}

#[inline(never)]
fn check_backlen_slow(blob: &[u8], at: usize, size: usize) -> Result<(), BlobError> {
    let n = backlen_size(size);
    let bytes = &blob[at..at + n]; // decode_entry checked at + n <= terminator
    let (expect, _) = backlen_bytes(size);
    if bytes == &expect[..n] {
        Ok(())
    } else {
        Err(bad_backlen(blob, at, n, size))
    }
}

#[cold]
fn past_end(pos: usize, what: &str, len: u64, left: usize) -> BlobError {
    err(
        pos,
        format!("{what} {len} runs past the end of the listpack ({left} bytes left)"),
    )
}

/// Decodes the entry starting at `pos` (which must be `< blob.len() - 1`, not the terminator).
/// Returns the element and the size of encoding + data; guarantees that the entry and its
/// backlen end at or before the terminator.
#[inline(always)]
fn decode_entry(blob: &[u8], pos: usize) -> Result<(Entry<'_>, usize), BlobError> {
    let end = blob.len() - 1; // index of the terminator
    let left = end - pos; // bytes available for this entry including its backlen
    let b = blob[pos];
    // (element, encoding+data size, header size for strings)
    let (entry, size) = match b {
        0x00..=0x7F => (Entry::Int(i64::from(b)), 1),
        0x80..=0xBF => {
            let len = (b & 0x3F) as usize;
            return string_entry(blob, pos, 1, len, left);
        }
        0xC0..=0xDF => {
            let lo = blob[pos + 1]; // pos < end, so pos + 1 <= end
            let u = ((u16::from(b & 0x1F) << 8) | u16::from(lo)) as i64;
            // two's complement over 13 bits
            let v = if u >= 1 << 12 { u - (1 << 13) } else { u };
            (Entry::Int(v), 2)
        }
        0xE0..=0xEF => {
            if left < 2 {
                return Err(past_end(pos, "12-bit string header of size", 2, left));
            }
            let len = (((b & 0x0F) as usize) << 8) | blob[pos + 1] as usize;
            return string_entry(blob, pos, 2, len, left);
        }
        0xF0 => {
            if left < 5 {
                return Err(past_end(pos, "32-bit string header of size", 5, left));
            }
            let len =
                u32::from_le_bytes([blob[pos + 1], blob[pos + 2], blob[pos + 3], blob[pos + 4]]);
            return string_entry(blob, pos, 5, len as usize, left);
        }
        0xF1 => {
            let d = int_bytes::<2>(blob, pos, left)?;
            (Entry::Int(i64::from(i16::from_le_bytes(d))), 3)
        }
        0xF2 => {
            let d = int_bytes::<3>(blob, pos, left)?;
            // sign-extend 24 bits
            let v = i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8;
            (Entry::Int(i64::from(v)), 4)
        }
        0xF3 => {
            let d = int_bytes::<4>(blob, pos, left)?;
            (Entry::Int(i64::from(i32::from_le_bytes(d))), 5)
        }
        0xF4 => {
            let d = int_bytes::<8>(blob, pos, left)?;
            (Entry::Int(i64::from_le_bytes(d)), 9)
        }
        _ => return Err(err(pos, format!("invalid entry encoding byte 0x{b:02x}"))),
    };
    // ints: encoding+data plus a 1-byte backlen
    if size + 1 > left {
        return Err(past_end(
            pos,
            "integer entry of size",
            (size + 1) as u64,
            left,
        ));
    }
    Ok((entry, size))
}

#[inline(always)]
fn int_bytes<const N: usize>(blob: &[u8], pos: usize, left: usize) -> Result<[u8; N], BlobError> {
    if N + 2 > left {
        return Err(past_end(pos, "integer entry of size", (N + 2) as u64, left));
    }
    let mut d = [0u8; N];
    d.copy_from_slice(&blob[pos + 1..pos + 1 + N]);
    Ok(d)
}

#[inline(always)]
fn string_entry(
    blob: &[u8],
    pos: usize,
    hdr: usize,
    len: usize,
    left: usize,
) -> Result<(Entry<'_>, usize), BlobError> {
    // hdr <= left was checked by the caller; the string must leave room for its backlen.
    let room = left - hdr;
    if len > room {
        return Err(past_end(pos, "string length", len as u64, room));
    }
    let size = hdr + len;
    if size + backlen_size(size) > left {
        return Err(err(
            pos,
            format!(
                "backlen of the {size}-byte entry runs past the end of the listpack ({} bytes left)",
                left - size
            ),
        ));
    }
    Ok((Entry::Bytes(&blob[pos + hdr..pos + size]), size))
}

/// Front-to-back iterator over a listpack's elements; see [`Listpack::iter`].
#[derive(Clone, Debug)]
pub struct ListpackIter<'a> {
    blob: &'a [u8],
    /// Start of the next entry; `blob.len()` once finished.
    pos: usize,
}

impl<'a> ListpackIter<'a> {
    /// Byte offset of the next entry (or of the terminator), `None` once the iterator has
    /// finished.
    #[inline]
    pub fn offset(&self) -> Option<usize> {
        (self.pos < self.blob.len()).then_some(self.pos)
    }

    /// True when the next call to `next` would find the terminator (or the iterator is done).
    #[inline]
    pub fn at_end(&self) -> bool {
        self.blob.get(self.pos).is_none_or(|&b| b == EOF)
    }

    /// Advances past one element and returns the offset it started at. (Named so that it
    /// does not collide with `Iterator::skip`.)
    #[inline]
    pub fn skip_entry(&mut self) -> Option<Result<usize, BlobError>> {
        let at = self.pos;
        self.next().map(|r| r.map(|_| at))
    }
}

impl<'a> Iterator for ListpackIter<'a> {
    type Item = Result<Entry<'a>, BlobError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let blob = self.blob;
        let &b = blob.get(self.pos)?;
        if b == EOF {
            let pos = self.pos;
            self.pos = blob.len();
            return check_terminator(blob, pos).err().map(Err);
        }
        match decode_entry(blob, self.pos) {
            Ok((e, size)) => {
                self.pos += size + backlen_size(size);
                Some(Ok(e))
            }
            Err(e) => {
                self.pos = blob.len();
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for ListpackIter<'_> {}

/// A deep-validating iterator; see [`Listpack::checked_iter`].
#[derive(Clone, Debug)]
pub struct CheckedIter<'a> {
    lp: Listpack<'a>,
    pos: usize,
    count: usize,
    done: bool,
    failed: bool,
}

impl CheckedIter<'_> {
    /// Elements yielded so far (after a complete walk without error: the listpack's count).
    /// (Not `count`, which `Iterator::count` would shadow on a value.)
    #[inline]
    pub fn elements(&self) -> usize {
        self.count
    }

    /// Whether the walk yielded an error (and so ended).
    #[inline]
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Byte offset of the next entry (or of the terminator), `None` once the walk has ended.
    #[inline]
    pub fn offset(&self) -> Option<usize> {
        (!self.done).then_some(self.pos)
    }

    /// True when the next call to `next` would find the terminator (or the walk has ended).
    #[inline]
    pub fn at_end(&self) -> bool {
        self.done || self.lp.blob[self.pos] == EOF
    }

    #[cold]
    fn fail<T>(&mut self, e: BlobError) -> Option<Result<T, BlobError>> {
        self.done = true;
        self.failed = true;
        Some(Err(e))
    }
}

impl<'a> Iterator for CheckedIter<'a> {
    type Item = Result<Entry<'a>, BlobError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let blob = self.lp.blob;
        let pos = self.pos;
        // pos <= blob.len() - 1 holds until done, as in `validate`.
        if blob[pos] == EOF {
            self.done = true;
            if let Err(e) = check_terminator(blob, pos) {
                return self.fail(e);
            }
            if let Some(h) = self.lp.header_count() {
                if h != self.count {
                    let n = self.count;
                    return self.fail(err(
                        4,
                        format!("header says {h} elements but the listpack holds {n}"),
                    ));
                }
            }
            return None;
        }
        match decode_entry(blob, pos) {
            Ok((e, size)) => {
                if let Err(x) = check_backlen(blob, pos, size) {
                    return self.fail(x);
                }
                self.pos = pos + size + backlen_size(size);
                self.count += 1;
                Some(Ok(e))
            }
            Err(x) => self.fail(x),
        }
    }
}

impl std::iter::FusedIterator for CheckedIter<'_> {}

/// Appends one element encoded like Redis's `lpAppend`: canonical decimal strings (see
/// [`parse_canonical_i64`]) become the smallest integer encoding, other strings use the 6-,
/// 12- or 32-bit string encodings. Adds the backlen.
pub fn push_entry(out: &mut Vec<u8>, e: Entry<'_>) {
    let start = out.len();
    match e {
        Entry::Int(v) => push_int(out, v),
        Entry::Bytes(s) => match parse_canonical_i64(s) {
            Some(v) => push_int(out, v),
            None => push_str(out, s),
        },
    }
    let size = out.len() - start;
    push_backlen(out, size);
}

fn push_int(out: &mut Vec<u8>, v: i64) {
    if (0..=127).contains(&v) {
        out.push(v as u8);
    } else if (-4096..=4095).contains(&v) {
        let u = (v as u16) & 0x1FFF;
        out.push(0xC0 | (u >> 8) as u8);
        out.push(u as u8);
    } else if let Ok(x) = i16::try_from(v) {
        out.push(0xF1);
        out.extend_from_slice(&x.to_le_bytes());
    } else if (-(1 << 23)..(1 << 23)).contains(&v) {
        out.push(0xF2);
        out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
    } else if let Ok(x) = i32::try_from(v) {
        out.push(0xF3);
        out.extend_from_slice(&x.to_le_bytes());
    } else {
        out.push(0xF4);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn push_str(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 64 {
        out.push(0x80 | len as u8);
    } else if len < 4096 {
        out.push(0xE0 | (len >> 8) as u8);
        out.push(len as u8);
    } else {
        out.push(0xF0);
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    out.extend_from_slice(s);
}

/// Writes a listpack exactly as Redis would for these elements appended in order.
pub fn encode(items: &[&[u8]]) -> Vec<u8> {
    build(items.len(), |out| {
        for s in items {
            push_entry(out, Entry::Bytes(s));
        }
    })
}

/// Like [`encode`], for elements that may already be integers. `Entry::Bytes` that are
/// canonical decimal are stored as integers, as Redis does.
pub fn encode_entries(items: &[Entry]) -> Vec<u8> {
    build(items.len(), |out| {
        for e in items {
            push_entry(out, *e);
        }
    })
}

fn build(count: usize, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_SIZE];
    body(&mut out);
    out.push(EOF);
    let total = u32::try_from(out.len()).unwrap_or(u32::MAX);
    out[..4].copy_from_slice(&total.to_le_bytes());
    let n = u16::try_from(count).unwrap_or(COUNT_UNKNOWN);
    out[4..6].copy_from_slice(&n.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::IntBuf;
    use proptest::prelude::*;

    fn items(lp: &Listpack) -> Vec<Vec<u8>> {
        lp.iter()
            .map(|e| e.unwrap().to_cow().into_owned())
            .collect()
    }

    #[test]
    fn redis_encodings_byte_for_byte() {
        // Values from Redis's listpack.c unit tests / header comment.
        let lp = encode(&[
            b"hello", b"1024", b"-1", b"127", b"128", b"-4096", b"4095", b"4096",
        ]);
        let l = Listpack::new(&lp).unwrap();
        assert_eq!(l.validate().unwrap(), 8);
        assert_eq!(&lp[6..13], &[0x85, b'h', b'e', b'l', b'l', b'o', 6]);
        // 1024 -> 13-bit int: 0xC4 0x00, backlen 2
        assert_eq!(&lp[13..16], &[0xC4, 0x00, 2]);
        // -1 -> 13-bit 0x1FFF
        assert_eq!(&lp[16..19], &[0xDF, 0xFF, 2]);
        assert_eq!(&lp[19..21], &[127, 1]);
        assert_eq!(&lp[21..24], &[0xC0, 0x80, 2]);
        assert_eq!(&lp[24..27], &[0xD0, 0x00, 2]);
        assert_eq!(&lp[27..30], &[0xCF, 0xFF, 2]);
        assert_eq!(&lp[30..34], &[0xF1, 0x00, 0x10, 3]);
        let got: Vec<Entry> = l.iter().map(Result::unwrap).collect();
        assert_eq!(
            got,
            vec![
                Entry::Bytes(b"hello"),
                Entry::Int(1024),
                Entry::Int(-1),
                Entry::Int(127),
                Entry::Int(128),
                Entry::Int(-4096),
                Entry::Int(4095),
                Entry::Int(4096)
            ]
        );
    }

    #[test]
    fn backlen_boundaries() {
        let mut v = Vec::new();
        push_backlen(&mut v, 127);
        assert_eq!(v, [127]);
        v.clear();
        push_backlen(&mut v, 128);
        assert_eq!(v, [1, 0x80]);
        v.clear();
        push_backlen(&mut v, 16382);
        assert_eq!(v, [127, 0xFE]);
        v.clear();
        // Redis quirk: 16383 uses three bytes.
        push_backlen(&mut v, 16383);
        assert_eq!(v, [0, 0xFF, 0xFF]);
        v.clear();
        push_backlen(&mut v, 300_000_000);
        assert_eq!(v.len(), 5);
        for size in [1usize, 127, 128, 16382, 16383, 16384, 2_097_150, 2_097_151] {
            let s = vec![b'x'; size.saturating_sub(5)];
            let lp = encode(&[&s]);
            Listpack::new(&lp).unwrap().validate().unwrap();
        }
    }

    #[test]
    fn header_checks() {
        assert!(Listpack::new(&[7, 0, 0, 0, 0, 0])
            .unwrap_err()
            .what
            .contains("too short"));
        assert!(Listpack::new(&[8, 0, 0, 0, 0, 0, 0xFF])
            .unwrap_err()
            .what
            .contains("total_bytes 8"));
        assert!(Listpack::new(&[7, 0, 0, 0, 0, 0, 0xFE])
            .unwrap_err()
            .what
            .contains("0xfe"));
        let empty = encode(&[]);
        assert_eq!(empty, [7, 0, 0, 0, 0, 0, 0xFF]);
        let l = Listpack::new(&empty).unwrap();
        assert_eq!(l.header_count(), Some(0));
        assert_eq!(l.validate().unwrap(), 0);
        assert_eq!(l.iter().count(), 0);
    }

    fn fix_total(mut lp: Vec<u8>) -> Vec<u8> {
        let n = lp.len() as u32;
        lp[..4].copy_from_slice(&n.to_le_bytes());
        lp
    }

    #[test]
    fn malformed_entries() {
        // string length past the end
        let mut lp = encode(&[b"abc"]);
        lp[6] = 0x80 | 40;
        let l = Listpack::new(&lp).unwrap();
        let e = l.iter().next().unwrap().unwrap_err();
        assert_eq!(e.offset, 6);
        assert!(
            e.what
                .contains("string length 40 runs past the end of the listpack (4 bytes left)"),
            "{e}"
        );
        assert_eq!(l.validate().unwrap_err(), e);
        // the iterator stops after the error
        let mut it = l.iter();
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
        // offsets, skipping, end detection
        let lp2 = encode(&[b"ab", b"300"]);
        let l2 = Listpack::new(&lp2).unwrap();
        let mut it = l2.iter();
        assert_eq!(it.offset(), Some(6));
        assert_eq!(it.skip_entry().unwrap().unwrap(), 6);
        assert_eq!(it.skip_entry().unwrap().unwrap(), 10);
        assert!(it.at_end());
        assert_eq!(it.offset(), Some(13));
        assert!(it.skip_entry().is_none());
        assert_eq!(it.offset(), None);
        assert_eq!(l2.iter_at(10).next().unwrap().unwrap(), Entry::Int(300));

        // bad backlen: iter is fine, validate is not
        let mut lp = encode(&[b"hello", b"x"]);
        lp[12] = 5;
        let l = Listpack::new(&lp).unwrap();
        assert_eq!(l.iter().count(), 2);
        let e = l.validate().unwrap_err();
        assert_eq!(e.offset, 12);
        assert!(
            e.what.contains("backlen 5 does not match entry size 6"),
            "{e}"
        );

        // invalid encoding byte
        let lp = fix_total(vec![0, 0, 0, 0, 1, 0, 0xF5, 1, 0xFF]);
        let e = Listpack::new(&lp).unwrap().validate().unwrap_err();
        assert!(e.what.contains("invalid entry encoding byte 0xf5"), "{e}");

        // terminator in the middle
        let mut lp = encode(&[b"a", b"b"]);
        lp[9] = 0xFF;
        let l = Listpack::new(&lp).unwrap();
        let r: Vec<_> = l.iter().collect();
        assert_eq!(r.len(), 2);
        assert!(r[1]
            .as_ref()
            .unwrap_err()
            .what
            .contains("3 bytes follow it"));
        assert!(l.validate().is_err());

        // count mismatch
        let mut lp = encode(&[b"a", b"b"]);
        lp[4] = 3;
        let e = Listpack::new(&lp).unwrap().validate().unwrap_err();
        assert!(
            e.what
                .contains("header says 3 elements but the listpack holds 2"),
            "{e}"
        );
        lp[4] = 0xFF;
        lp[5] = 0xFF;
        let l = Listpack::new(&lp).unwrap();
        assert_eq!(l.header_count(), None);
        assert_eq!(l.validate().unwrap(), 2);

        // integers truncated by the terminator
        for enc in [0xC0u8, 0xF1, 0xF2, 0xF3, 0xF4, 0xE0, 0xF0] {
            let lp = fix_total(vec![0, 0, 0, 0, 1, 0, enc, 1, 0xFF]);
            let l = Listpack::new(&lp).unwrap();
            assert!(l.iter().next().unwrap().is_err(), "{enc:x}");
            assert!(l.validate().is_err());
        }
        // a string whose backlen would overlap the terminator
        let lp = fix_total(vec![0, 0, 0, 0, 1, 0, 0x81, b'a', 0xFF]);
        let e = Listpack::new(&lp).unwrap().validate().unwrap_err();
        assert!(
            e.what.contains("backlen of the 2-byte entry runs past"),
            "{e}"
        );
    }

    #[test]
    fn integer_widths_decode() {
        for v in [
            0i64,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            32767,
            -32768,
            32768,
            8_388_607,
            -8_388_608,
            8_388_608,
            i32::MAX as i64,
            i32::MIN as i64,
            i32::MAX as i64 + 1,
            i64::MAX,
            i64::MIN,
        ] {
            let lp = encode_entries(&[Entry::Int(v)]);
            let l = Listpack::new(&lp).unwrap();
            l.validate().unwrap();
            assert_eq!(l.iter().next().unwrap().unwrap(), Entry::Int(v));
            let mut b = IntBuf::new();
            let text = b.format(v).to_vec();
            assert_eq!(encode(&[&text]), lp);
        }
    }

    fn element() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..80),
            any::<i64>().prop_map(|v| v.to_string().into_bytes()),
            (-5000i64..5000).prop_map(|v| v.to_string().into_bytes()),
            Just(b"007".to_vec()),
            Just(b"-0".to_vec()),
            Just(b"".to_vec()),
            Just(b"9223372036854775808".to_vec()),
            prop_oneof![Just(63usize), Just(64), Just(4095), Just(4096), Just(16380)]
                .prop_map(|n| vec![b'z'; n]),
        ]
    }

    proptest! {
        #[test]
        fn roundtrip(v in proptest::collection::vec(element(), 0..40)) {
            let refs: Vec<&[u8]> = v.iter().map(|x| x.as_slice()).collect();
            let lp = encode(&refs);
            let l = Listpack::new(&lp).unwrap();
            prop_assert_eq!(l.validate().unwrap(), v.len());
            prop_assert_eq!(items(&l), v.clone());
            for (e, orig) in l.iter().zip(&v) {
                let e = e.unwrap();
                prop_assert_eq!(matches!(e, Entry::Int(_)), parse_canonical_i64(orig).is_some());
            }
            let entries: Vec<Entry> = l.iter().map(Result::unwrap).collect();
            prop_assert_eq!(encode_entries(&entries), lp);
        }

        #[test]
        fn mutations_never_panic(v in proptest::collection::vec(element(), 1..8), idx in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
            let refs: Vec<&[u8]> = v.iter().map(|x| x.as_slice()).collect();
            let mut lp = encode(&refs);
            let i = 6 + idx % (lp.len() - 6);
            lp[i] = byte;
            if let Ok(l) = Listpack::new(&lp) {
                let _ = l.validate();
                let n = l.iter().take(10_000).count();
                prop_assert!(n <= lp.len());
            }
            let cut = cut % lp.len();
            let t = fix_total(lp[..cut.max(7)].to_vec());
            if let Ok(l) = Listpack::new(&t) {
                let _ = l.validate();
                prop_assert!(l.iter().count() <= t.len());
            }
        }
    }
}
