//! intset (`src/intset.c`), a zero-copy view.
//!
//! `encoding u32 LE (2, 4 or 8 = element width) | length u32 LE | length × signed LE ints`,
//! strictly ascending.

use crate::entry::BlobError;

const CONTAINER: &str = "intset";
/// encoding (4) + length (4).
pub const HEADER_SIZE: usize = 8;

#[inline]
fn err(offset: usize, what: impl Into<std::borrow::Cow<'static, str>>) -> BlobError {
    BlobError::new(CONTAINER, offset, what)
}

/// An intset whose header has been checked: the encoding is 2, 4 or 8 and the blob is exactly
/// header + length × width bytes. Every element can then be read without further checks.
#[derive(Clone, Copy, Debug)]
pub struct Intset<'a> {
    /// The elements, `len × width` bytes.
    data: &'a [u8],
    width: usize,
    blob: &'a [u8],
}

impl<'a> Intset<'a> {
    /// Checks the header (Redis's `intsetValidateIntegrity` before its emptiness check; see
    /// [`validate`](Self::validate)).
    pub fn new(blob: &'a [u8]) -> Result<Self, BlobError> {
        if blob.len() < HEADER_SIZE {
            return Err(err(
                0,
                format!(
                    "blob of {} bytes is too short for an intset header (8)",
                    blob.len()
                ),
            ));
        }
        let enc = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]);
        let width = match enc {
            2 | 4 | 8 => enc as usize,
            _ => return Err(err(0, format!("encoding {enc} is not 2, 4 or 8"))),
        };
        let len = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]);
        let need = HEADER_SIZE as u64 + u64::from(len) * width as u64;
        if need != blob.len() as u64 {
            return Err(err(
                4,
                format!(
                    "length {len} × width {width} + 8 = {need} bytes does not match the blob length {}",
                    blob.len()
                ),
            ));
        }
        Ok(Intset {
            data: &blob[HEADER_SIZE..],
            width,
            blob,
        })
    }

    /// Element width in bytes: 2, 4 or 8.
    #[inline]
    pub fn width(&self) -> usize {
        self.width
    }

    /// The number of elements (the header's length).
    #[inline]
    pub fn len(&self) -> usize {
        self.data.len() / self.width
    }

    /// Whether the intset holds no element (an intset Redis rejects; see
    /// [`validate`](Self::validate)).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The elements in stored order (ascending when valid).
    #[inline]
    pub fn iter(&self) -> IntsetIter<'a> {
        IntsetIter {
            chunks: self.data.chunks_exact(self.width),
        }
    }

    /// The element at position `i` in stored order, `None` past the end.
    #[inline]
    pub fn get(&self, i: usize) -> Option<i64> {
        let start = i.checked_mul(self.width)?;
        self.data.get(start..start + self.width).map(read)
    }

    /// Deep check, as Redis's `intsetValidateIntegrity`: the set is not empty (Redis rejects
    /// an empty intset even without deep sanitization) and the elements are strictly
    /// ascending (no duplicates). Like Redis, it does not require the smallest width.
    pub fn validate(&self) -> Result<(), BlobError> {
        if self.is_empty() {
            return Err(err(4, "intset is empty"));
        }
        let mut it = self.iter();
        let Some(mut prev) = it.next() else {
            return Ok(());
        };
        for (i, cur) in it.enumerate() {
            if cur <= prev {
                let idx = i + 1;
                return Err(err(
                    HEADER_SIZE + idx * self.width,
                    format!(
                        "element {idx} ({cur}) is not greater than element {} ({prev}): intsets must be strictly ascending",
                        idx - 1
                    ),
                ));
            }
            prev = cur;
        }
        Ok(())
    }

    /// The whole blob.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.blob
    }
}

#[inline(always)]
fn read(c: &[u8]) -> i64 {
    match *c {
        [a, b] => i64::from(i16::from_le_bytes([a, b])),
        [a, b, c, d] => i64::from(i32::from_le_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => i64::from_le_bytes([a, b, c, d, e, f, g, h]),
        _ => 0, // unreachable: chunks always have the checked width
    }
}

/// Iterator over an intset's elements; infallible once [`Intset::new`] succeeded.
#[derive(Clone, Debug)]
pub struct IntsetIter<'a> {
    chunks: std::slice::ChunksExact<'a, u8>,
}

impl Iterator for IntsetIter<'_> {
    type Item = i64;
    #[inline]
    fn next(&mut self) -> Option<i64> {
        self.chunks.next().map(read)
    }
    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

impl ExactSizeIterator for IntsetIter<'_> {}
impl DoubleEndedIterator for IntsetIter<'_> {
    fn next_back(&mut self) -> Option<i64> {
        self.chunks.next_back().map(read)
    }
}

/// Writes an intset as Redis would hold these values: sorted, duplicates removed, in the
/// smallest width that fits every value.
pub fn encode(values: &[i64]) -> Vec<u8> {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.dedup();
    let width: usize = if v.iter().all(|&x| i16::try_from(x).is_ok()) {
        2
    } else if v.iter().all(|&x| i32::try_from(x).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(HEADER_SIZE + v.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    for x in v {
        out.extend_from_slice(&x.to_le_bytes()[..width]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn widths_and_values() {
        let b = encode(&[3, -1, 3, 2]);
        assert_eq!(b, [2, 0, 0, 0, 3, 0, 0, 0, 0xFF, 0xFF, 2, 0, 3, 0]);
        let s = Intset::new(&b).unwrap();
        assert_eq!((s.width(), s.len(), s.is_empty()), (2, 3, false));
        assert_eq!(s.iter().collect::<Vec<_>>(), [-1, 2, 3]);
        assert_eq!(s.get(2), Some(3));
        assert_eq!(s.get(3), None);
        assert_eq!(s.get(usize::MAX), None);
        s.validate().unwrap();
        assert_eq!(Intset::new(&encode(&[40000])).unwrap().width(), 4);
        assert_eq!(
            Intset::new(&encode(&[i32::MIN as i64 - 1]))
                .unwrap()
                .width(),
            8
        );
        let ext = encode(&[i64::MIN, i64::MAX, 0]);
        assert_eq!(
            Intset::new(&ext).unwrap().iter().collect::<Vec<_>>(),
            [i64::MIN, 0, i64::MAX]
        );
    }

    #[test]
    fn malformed() {
        assert!(Intset::new(&[2, 0, 0])
            .unwrap_err()
            .what
            .contains("too short"));
        assert!(Intset::new(&[3, 0, 0, 0, 0, 0, 0, 0])
            .unwrap_err()
            .what
            .contains("encoding 3"));
        let e = Intset::new(&[2, 0, 0, 0, 2, 0, 0, 0, 1, 0]).unwrap_err();
        assert!(
            e.what
                .contains("length 2 × width 2 + 8 = 12 bytes does not match the blob length 10"),
            "{e}"
        );
        // huge length never overflows
        assert!(Intset::new(&[8, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
        // empty: structurally fine, but Redis refuses it
        let empty = Intset::new(&[4, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        assert!(empty.is_empty());
        assert!(empty.validate().unwrap_err().what.contains("empty"));
        // out of order and duplicates
        let b = [2, 0, 0, 0, 3, 0, 0, 0, 1, 0, 5, 0, 4, 0];
        let e = Intset::new(&b).unwrap().validate().unwrap_err();
        assert_eq!(e.offset, 12);
        assert!(
            e.what
                .contains("element 2 (4) is not greater than element 1 (5)"),
            "{e}"
        );
        let b = [2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 1, 0];
        assert!(Intset::new(&b).unwrap().validate().is_err());
        // a wider-than-needed encoding is accepted, as Redis does
        let b = [8, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        Intset::new(&b).unwrap().validate().unwrap();
    }

    proptest! {
        #[test]
        fn roundtrip(v in proptest::collection::vec(prop_oneof![any::<i64>(), any::<i16>().prop_map(i64::from), any::<i32>().prop_map(i64::from)], 1..100)) {
            let b = encode(&v);
            let s = Intset::new(&b).unwrap();
            s.validate().unwrap();
            let mut want = v.clone();
            want.sort_unstable();
            want.dedup();
            prop_assert_eq!(s.iter().collect::<Vec<_>>(), want.clone());
            prop_assert_eq!(s.iter().rev().count(), want.len());
            for (i, x) in want.iter().enumerate() {
                prop_assert_eq!(s.get(i), Some(*x));
            }
        }

        #[test]
        fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(s) = Intset::new(&b) {
                let _ = s.validate();
                prop_assert_eq!(s.iter().count(), s.len());
            }
        }
    }
}
