//! The writer's LZF compressor: liblzf's greedy matcher in its `VERY_FAST` mode (Redis's
//! build: of the positions inside a match only the last two are hashed), with its hash table
//! and output buffer kept between calls. Any valid LZF decompresses the same in every server;
//! the output is not byte-for-byte [`crate::lzf::compress`]'s (which hashes every position
//! inside a match, in a bigger table) and, like Redis's `rdbSaveLzfStringObject`, is kept only
//! when it saves at least 4 bytes.
//!
//! Two compressors exist because they serve different callers: `lzf::compress` is the
//! library's public one-shot function (no `write` feature needed: `string::encode_blob`, the
//! fuzz invariants, the benches), allocating its table per call; this one keeps one table per
//! thread (zeroed once: an entry stores `base + position + 1`, and `base` moves past every
//! compressed input, so an entry left by an earlier input reads as empty, `<= base`) and is
//! tuned for the writer's many short ziplists (a re-encode compresses every string over 20
//! bytes: on a mixed file, mostly 64-255 bytes).
//!
//! The hot loop ([`scan`]) is kept out of line with raw-pointer loads: inlined, the caller's
//! live values spilled inside it (18 instructions a position instead of 12). Hashes are of the
//! 3 bytes at a position read as one 4-byte load; the output is written through a pointer into
//! a buffer reserved with slack past its limit (a literal run is copied 32 bytes at a time).

use std::cell::RefCell;

use crate::length::encode_len;

/// Table size: the hash of a 3-byte sequence has `HLOG` bits (8 Ki entries of 4 bytes: 32 KiB).
const HLOG: u32 = 13;
/// Longest literal run one control byte can announce.
const MAX_LIT: usize = 32;
/// Longest back-reference: 2 + 7 + 255.
const MAX_REF: usize = 264;
/// Farthest back-reference: 13 bits of distance - 1.
const MAX_OFF: usize = 1 << 13;
/// Bytes reserved past the output's limit: a literal run is copied 32 bytes at a time.
const SLACK: usize = MAX_LIT + 8;
/// Inputs from this size are stored uncompressed (positions are tagged in 32 bits); strings
/// this long need `proto-max-bulk-len` raised past its 512 MiB default.
const MAX_INPUT: usize = 1 << 31;

/// A reusable compressor (one per thread, [`with`]).
pub(crate) struct Lzf {
    /// `base + position + 1` of the last 3-byte sequence with each hash; `<= base`: none
    /// for the input being compressed.
    table: Box<[u32; 1 << HLOG]>,
    base: u32,
    out: Vec<u8>,
}

/// The table slot of the 3 bytes in the low bytes of `x` (a little-endian 4-byte load).
#[inline(always)]
fn slot(x: u32) -> usize {
    ((x << 8).wrapping_mul(2_654_435_761) >> (32 - HLOG)) as usize
}

/// The 4 bytes at `p`, little-endian; the caller guarantees `p + 4 <= src.len()`.
#[inline(always)]
fn load32(src: &[u8], p: usize) -> u32 {
    debug_assert!(p + 4 <= src.len());
    // SAFETY: p + 4 <= src.len() (every caller tests it or derives it from a tested bound).
    unsafe { (src.as_ptr().add(p) as *const u32).read_unaligned().to_le() }
}

/// The 8 bytes at `p`, little-endian; the caller guarantees `p + 8 <= src.len()`.
#[inline(always)]
fn load64(src: &[u8], p: usize) -> u64 {
    debug_assert!(p + 8 <= src.len());
    // SAFETY: p + 8 <= src.len() (the match extension's bound: p <= ip + max - 8 <= n - 8).
    unsafe { (src.as_ptr().add(p) as *const u64).read_unaligned().to_le() }
}

impl Lzf {
    fn new() -> Self {
        Lzf {
            table: Box::new([0; 1 << HLOG]),
            base: 0,
            out: Vec::new(),
        }
    }

    /// Compresses `src`; `None` when the result would not save at least 4 bytes (Redis's
    /// `rdbSaveLzfStringObject`: it then stores the string raw).
    pub(crate) fn compress(&mut self, src: &[u8]) -> Option<&[u8]> {
        let n = src.len();
        if n <= 4 || n >= MAX_INPUT {
            return None;
        }
        // Positions of this input are stored as base + p + 1 (p < n) in 32 bits: start over
        // (zero the table) before the sum could overflow, once every ~4 GiB compressed.
        if self.base as usize + n + 1 > u32::MAX as usize {
            self.table.iter_mut().for_each(|e| *e = 0);
            self.base = 0;
        }
        let base = self.base;
        self.base += n as u32 + 1;
        let tag0 = base + 1;
        let limit = n - 4;
        let table: &mut [u32; 1 << HLOG] = &mut self.table;
        self.out.clear();
        self.out.reserve(limit + SLACK);
        let dst = self.out.as_mut_ptr();
        let mut op = 0usize;
        let mut lit_start = 0usize;
        let mut ip = 0usize;
        while ip + 4 <= n {
            let (at, dist) = scan(src, ip, table, tag0, base);
            if dist == 0 {
                break;
            }
            ip = at;
            let r = ip - dist;
            // Extend the match 8 bytes at a time, then by bytes.
            let max = (n - ip).min(MAX_REF);
            let mut len = 3;
            while len + 8 <= max {
                let d = load64(src, r + len) ^ load64(src, ip + len);
                if d != 0 {
                    len += (d.trailing_zeros() / 8) as usize;
                    break;
                }
                len += 8;
            }
            if len + 8 > max {
                while len < max && src[r + len] == src[ip + len] {
                    len += 1;
                }
            }
            // The pending literals (a control byte every 32) and the 2- or 3-byte reference.
            let lit = ip - lit_start;
            if op + lit + (lit >> 5) + 4 > limit {
                return None;
            }
            op = emit_literals(dst, op, src, lit_start, lit);
            let off = dist - 1;
            let l2 = len - 2;
            // SAFETY: op + 3 <= limit (tested above), within the capacity reserved.
            unsafe {
                if l2 < 7 {
                    *dst.add(op) = ((l2 << 5) | (off >> 8)) as u8;
                    *dst.add(op + 1) = off as u8;
                    op += 2;
                } else {
                    *dst.add(op) = ((7 << 5) | (off >> 8)) as u8;
                    *dst.add(op + 1) = (l2 - 7) as u8;
                    *dst.add(op + 2) = off as u8;
                    op += 3;
                }
            }
            ip += len;
            lit_start = ip;
            // As liblzf's VERY_FAST mode (Redis's build): of the positions inside the
            // match, only the last two are remembered.
            if ip + 4 <= n {
                table[slot(load32(src, ip - 2))] = tag0.wrapping_add(ip as u32 - 2);
                table[slot(load32(src, ip - 1))] = tag0.wrapping_add(ip as u32 - 1);
            }
        }
        let lit = n - lit_start;
        if op + lit + (lit >> 5) + 1 > limit {
            return None;
        }
        op = emit_literals(dst, op, src, lit_start, lit);
        // SAFETY: the first `op` bytes were written (op <= limit <= capacity).
        unsafe { self.out.set_len(op) };
        Some(&self.out)
    }
}

/// From `ip` (`ip + 4 <= src.len()`), the first position whose 3 bytes were seen before
/// within reach: (position, distance back); distance 0: none up to the last position with 4
/// bytes. Every position scanned is entered in `table` (as `tag0 + position`). Kept out of
/// line: inlined, the caller's live values spilled in this loop.
#[inline(never)]
fn scan(
    src: &[u8],
    ip: usize,
    table: &mut [u32; 1 << HLOG],
    tag0: u32,
    base: u32,
) -> (usize, usize) {
    let n = src.len();
    debug_assert!(ip + 4 <= n);
    let s0 = src.as_ptr();
    // SAFETY: the caller passes ip + 4 <= n; `p` moves from `ip` to `last` (n - 4), so each 4-byte load at `p` is inside
    // `src`; a candidate's tag is above `base`, so it is a position of this input before `p`
    // (entries are made only for positions already passed) and `p - dist` is inside `src`;
    // `slot` is below 1 << HLOG (a 32-bit value shifted right by 32 - HLOG).
    unsafe {
        let last = s0.add(n - 4);
        let mut p = s0.add(ip);
        let mut tag = tag0.wrapping_add(ip as u32);
        loop {
            let x = (p as *const u32).read_unaligned().to_le();
            let h = slot(x);
            let cand = *table.get_unchecked(h);
            *table.get_unchecked_mut(h) = tag;
            if cand > base {
                let dist = tag.wrapping_sub(cand) as usize;
                if dist <= MAX_OFF
                    && ((p.sub(dist) as *const u32).read_unaligned().to_le() ^ x) << 8 == 0
                {
                    return (p.offset_from(s0) as usize, dist);
                }
            }
            if p == last {
                return (n - 3, 0);
            }
            p = p.add(1);
            tag = tag.wrapping_add(1);
        }
    }
}

/// Writes `src[start..start + len]` as literal runs at `dst + op`; returns the new `op`.
/// The caller has checked that `op + len + len / 32 + 1` is within the limit, so the 32-byte
/// copies stay within the slack reserved past it.
#[inline(always)]
fn emit_literals(
    dst: *mut u8,
    mut op: usize,
    src: &[u8],
    mut start: usize,
    mut len: usize,
) -> usize {
    debug_assert!(start + len <= src.len());
    while len > 0 {
        let k = len.min(MAX_LIT);
        // SAFETY: op + 1 + k <= limit (the caller's test), so op + 1 + MAX_LIT is within
        // limit + SLACK, the capacity reserved; start + k <= src.len() (callers pass a range
        // of src), and 32 bytes are read only when src has them.
        unsafe {
            *dst.add(op) = (k - 1) as u8;
            if start + MAX_LIT <= src.len() {
                std::ptr::copy_nonoverlapping(src.as_ptr().add(start), dst.add(op + 1), MAX_LIT);
            } else {
                std::ptr::copy_nonoverlapping(src.as_ptr().add(start), dst.add(op + 1), k);
            }
        }
        op += k + 1;
        start += k;
        len -= k;
    }
    op
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
        z.base = u32::MAX - 10;
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
                    prop_assert!(c.len() + 4 <= input.len());
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
