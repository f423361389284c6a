//! The writer's LZF compressor: liblzf's greedy matcher in its `VERY_FAST` mode (Redis's
//! build: of the positions inside a match only the last two are hashed), with its hash table
//! and output buffer kept between calls. Any valid LZF decompresses the same in every server;
//! the output is not byte-for-byte [`crate::lzf::compress`]'s (which hashes every position
//! inside a match): on the bench's mixed file the re-encoded output is 0.003 % larger.
//!
//! `lzf::compress` allocates and zeroes a 16 Ki-entry table (128 KiB) for every string it is
//! given; a re-encode tries to compress every string over 20 bytes, so on a mixed file
//! (hash-table values of many short members) that `memset` was 70 % of the instructions.
//! Here the table is zeroed once per thread: an entry stores `base + position + 1`, and
//! `base` moves past every compressed input, so an entry left by an earlier input reads as
//! empty (`<= base`) without being cleared.

use std::cell::RefCell;

use crate::length::encode_len;

/// Table size, as `lzf::compress`: the hash of a 3-byte prefix has `HLOG` bits.
const HLOG: u32 = 14;
/// Longest literal run one control byte can announce.
const MAX_LIT: usize = 32;
/// Longest back-reference: 2 + 7 + 255.
const MAX_REF: usize = 264;
/// Farthest back-reference: 13 bits of distance - 1.
const MAX_OFF: usize = 1 << 13;

/// A reusable compressor (one per thread, [`with`]).
pub(crate) struct Lzf {
    /// `base + position + 1` of the last 3-byte sequence with each hash; `<= base`: none
    /// for the input being compressed.
    table: Box<[usize; 1 << HLOG]>,
    base: usize,
    out: Vec<u8>,
}

impl Lzf {
    fn new() -> Self {
        Lzf {
            table: Box::new([0; 1 << HLOG]),
            base: 0,
            out: Vec::new(),
        }
    }

    /// Compresses `src`; `None` when the result would not be shorter than the input.
    pub(crate) fn compress(&mut self, src: &[u8]) -> Option<&[u8]> {
        if src.len() < 4 {
            return None;
        }
        // Positions of this input are stored as base + p + 1 (p < len); reset long before
        // the sum could overflow (never on 64-bit in practice).
        if self.base > usize::MAX / 2 - src.len() {
            self.table.iter_mut().for_each(|e| *e = 0);
            self.base = 0;
        }
        let base = self.base;
        self.base += src.len() + 1;
        let limit = src.len() - 1; // output must stay strictly shorter than the input
        let out = &mut self.out;
        out.clear();
        out.reserve(limit);
        let table: &mut [usize; 1 << HLOG] = &mut self.table;
        let n = src.len();
        // The 3 bytes at p as one number (rolled forward a byte at a time in the loop).
        let at = |p: usize| -> u32 {
            (u32::from(src[p]) << 16) | (u32::from(src[p + 1]) << 8) | u32::from(src[p + 2])
        };
        let slot = |v: u32| -> usize { (v.wrapping_mul(2_654_435_761) >> (32 - HLOG)) as usize };
        let mut lit_start = 0;
        let mut ip = 0;
        // Positions with 3 bytes to hash: ip < end. `v` holds the 2 bytes at ip; the loop
        // shifts in the third (one load and one bound test a position).
        let end = n - 2;
        let mut v = (u32::from(src[0]) << 8) | u32::from(src[1]);
        while ip < end {
            v = ((v << 8) | u32::from(src[ip + 2])) & 0xFF_FFFF;
            let h = slot(v);
            let cand = table[h];
            table[h] = base + ip + 1;
            if cand > base {
                let r = cand - base - 1;
                let dist = ip - r;
                if dist <= MAX_OFF && src[r..r + 3] == src[ip..ip + 3] {
                    let max = (n - ip).min(MAX_REF);
                    let len = 3 + common_prefix(&src[r + 3..r + max], &src[ip + 3..ip + max]);
                    emit_literals(out, &src[lit_start..ip]);
                    let off = dist - 1;
                    let l2 = len - 2;
                    if l2 < 7 {
                        out.push(((l2 << 5) | (off >> 8)) as u8);
                    } else {
                        out.push(((7 << 5) | (off >> 8)) as u8);
                        out.push((l2 - 7) as u8);
                    }
                    out.push((off & 0xff) as u8);
                    // As liblzf's VERY_FAST mode (Redis's build): of the positions inside
                    // the match, only the last two are remembered.
                    ip += len;
                    lit_start = ip;
                    if out.len() >= limit {
                        return None;
                    }
                    if ip < end {
                        let w = at(ip - 2);
                        table[slot(w)] = base + ip - 1;
                        table[slot((w << 8 | u32::from(src[ip + 1])) & 0xFF_FFFF)] = base + ip;
                        v = (u32::from(src[ip]) << 8) | u32::from(src[ip + 1]);
                    }
                    continue;
                }
            }
            ip += 1;
        }
        emit_literals(out, &src[lit_start..]);
        if out.len() >= src.len() {
            return None;
        }
        Some(&self.out)
    }
}

/// How many leading bytes `a` and `b` (of equal length) have in common, 8 at a time.
#[inline]
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let x = u64::from_le_bytes(a[i..i + 8].try_into().expect("8 bytes"));
        let y = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let d = x ^ y;
        if d != 0 {
            return i + (d.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

fn emit_literals(out: &mut Vec<u8>, mut lit: &[u8]) {
    while !lit.is_empty() {
        let n = lit.len().min(MAX_LIT);
        out.push((n - 1) as u8);
        out.extend_from_slice(&lit[..n]);
        lit = &lit[n..];
    }
}

thread_local! {
    static LZF: RefCell<Lzf> = RefCell::new(Lzf::new());
}

/// Runs `f` with this thread's compressor.
fn with<R>(f: impl FnOnce(&mut Lzf) -> R) -> R {
    LZF.with(|c| f(&mut c.borrow_mut()))
}

/// [`crate::string::encode_blob`] with the reusable compressor (the same layout).
pub(crate) fn encode_blob(b: &[u8], compress: bool, out: &mut Vec<u8>) {
    if compress && b.len() > 20 {
        let done = with(|z| match z.compress(b) {
            Some(c) => {
                out.push(0xc3);
                encode_len(c.len() as u64, out);
                encode_len(b.len() as u64, out);
                out.extend_from_slice(c);
                true
            }
            None => false,
        });
        if done {
            return;
        }
    }
    encode_len(b.len() as u64, out);
    out.extend_from_slice(b);
}

/// [`crate::string::encode`] with the reusable compressor (the same layout: a canonical
/// integer of up to 11 bytes that fits 32 bits as INT8/16/32, else [`encode_blob`]).
pub(crate) fn encode_string(s: &[u8], compress: bool, out: &mut Vec<u8>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn data() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..3000),
            proptest::collection::vec(0u8..4, 0..5000),
            (proptest::collection::vec(any::<u8>(), 1..40), 1usize..200)
                .prop_map(|(chunk, n)| chunk.repeat(n)),
            proptest::collection::vec(any::<u8>(), 0..30),
        ]
    }

    /// `src` back from a compressed form, with the decoder's LZF.
    fn decompressed(c: &[u8], len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        crate::lzf::decompress_into(c, len, &mut out).expect("valid LZF");
        out
    }

    #[test]
    fn same_bytes_across_reuse_and_reset() {
        let mut z = Lzf::new();
        let text = b"echo-pvfb|".repeat(200);
        let inputs: Vec<Vec<u8>> = vec![
            text.clone(),
            b"abcabcabcabcabcabcabcabc".to_vec(),
            text[3..500].to_vec(),
            vec![7u8; 5000],
            text.clone(),
        ];
        let fresh = |i: &[u8]| Lzf::new().compress(i).map(<[u8]>::to_vec);
        for i in &inputs {
            let c = z.compress(i).map(<[u8]>::to_vec);
            assert_eq!(c, fresh(i));
            assert_eq!(decompressed(&c.unwrap(), i.len()), *i);
        }
        // Forced reset: the table restarts empty and the output stays the same.
        z.base = usize::MAX / 2 - 10;
        for i in &inputs {
            assert_eq!(z.compress(i).map(<[u8]>::to_vec), fresh(i));
        }
    }

    proptest! {
        #[test]
        fn compressed_strings_read_back(inputs in proptest::collection::vec(data(), 1..8)) {
            // One compressor over a sequence of inputs: stale table entries never leak (the
            // same bytes as a fresh compressor), and the decoder gives each input back.
            for input in &inputs {
                let c = with(|z| z.compress(input).map(<[u8]>::to_vec));
                prop_assert_eq!(&c, &Lzf::new().compress(input).map(<[u8]>::to_vec));
                if let Some(c) = &c {
                    prop_assert!(c.len() < input.len());
                    prop_assert_eq!(&decompressed(c, input.len()), input);
                }
                let mut a = Vec::new();
                encode_blob(input, true, &mut a);
                let mut cur = crate::cursor::Cursor::new(&a, 0);
                let s = crate::string::read_string(&mut cur, "blob").unwrap();
                prop_assert_eq!(cur.pos(), a.len());
                let mut buf = Vec::new();
                prop_assert_eq!(s.bytes_in(&mut buf, 0).unwrap(), input.as_slice());
                // Uncompressed and integer forms: the string module's bytes.
                let mut b = Vec::new();
                a.clear();
                encode_string(input, false, &mut a);
                crate::string::encode(input, false, &mut b);
                prop_assert_eq!(&a, &b);
            }
        }
    }
}
