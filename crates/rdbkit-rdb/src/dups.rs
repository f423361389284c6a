//! Duplicate detection for deep validation (`sanitize-dump-payload`): set members, hash fields
//! and zset members must be unique.
//!
//! The hot path of a deep check: every member of every small hash/set/zset goes through here.
//! A `HashSet<Vec<u8>>` per value cost an allocation per member plus SipHash and was ~40% of
//! `rdbkit check` on a mixed-type file. This keeps the members' bytes in one arena, compares
//! 64-bit hashes (a linear scan for small values, an open-addressing table for big ones) and
//! confirms every hash match byte for byte, so a collision can cost time but never a false
//! verdict. The buffers are reused across values (thread-local), so the steady state
//! allocates nothing.

use std::cell::Cell;

use crate::entry::{Entry, IntBuf};
use crate::error::{Error, Result};

/// Members up to this many are checked by a linear scan over their hashes.
const LINEAR_MAX: usize = 24;

#[derive(Default)]
struct Bufs {
    arena: Vec<u8>,
    /// (start, len) of each member in `arena`.
    spans: Vec<(usize, usize)>,
    hashes: Vec<u64>,
    /// Open addressing: 0 = empty, otherwise member index + 1. Length is a power of two.
    table: Vec<u32>,
    seed: u64,
}

thread_local! {
    static BUFS: Cell<Bufs> = Cell::new(Bufs::default());
}

/// The members seen so far in one value; inert unless deep validation is on.
pub(crate) struct Dups {
    on: bool,
    b: Bufs,
}

impl Dups {
    pub fn new(deep: bool) -> Self {
        let mut b = if deep {
            BUFS.with(Cell::take)
        } else {
            Bufs::default()
        };
        if deep && b.seed == 0 {
            // A per-thread random seed keeps crafted inputs from forcing collisions.
            use std::hash::{BuildHasher, RandomState};
            b.seed = RandomState::new().hash_one(0x5eed_u64) | 1;
        }
        Dups { on: deep, b }
    }

    #[inline]
    pub fn check(&mut self, e: Entry<'_>, what: &str, at: u64) -> Result<()> {
        if !self.on {
            return Ok(());
        }
        let mut ib = IntBuf::new();
        let bytes = e.as_bytes(&mut ib);
        if self.b.insert(bytes) {
            Ok(())
        } else {
            Err(Error::invalid(
                at,
                format!("duplicate {what} {:?}", String::from_utf8_lossy(bytes)),
            ))
        }
    }
}

impl Drop for Dups {
    fn drop(&mut self) {
        if self.on {
            let mut b = std::mem::take(&mut self.b);
            b.arena.clear();
            b.spans.clear();
            b.hashes.clear();
            b.table.clear();
            // Do not keep a huge value's buffers alive for the rest of the file.
            if b.arena.capacity() > 1 << 22 {
                b.arena = Vec::new();
            }
            if b.hashes.capacity() > 1 << 16 {
                b.hashes = Vec::new();
                b.spans = Vec::new();
                b.table = Vec::new();
            }
            BUFS.with(|c| c.set(b));
        }
    }
}

impl Bufs {
    #[inline]
    fn member(&self, i: usize) -> &[u8] {
        let (s, n) = self.spans[i];
        &self.arena[s..s + n]
    }

    /// Adds `bytes`; false when an equal member was already there.
    #[inline]
    fn insert(&mut self, bytes: &[u8]) -> bool {
        let h = hash(bytes, self.seed);
        let n = self.hashes.len();
        if n < LINEAR_MAX {
            for i in 0..n {
                if self.hashes[i] == h && self.member(i) == bytes {
                    return false;
                }
            }
        } else {
            if self.table.len() < 2 * (n + 1) {
                self.grow();
            }
            let mask = self.table.len() - 1;
            let mut slot = (h as usize) & mask;
            loop {
                let t = self.table[slot];
                if t == 0 {
                    break;
                }
                let i = (t - 1) as usize;
                if self.hashes[i] == h && self.member(i) == bytes {
                    return false;
                }
                slot = (slot + 1) & mask;
            }
            // Beyond 4 G members (not a real file) the table stops growing: scan instead.
            match u32::try_from(n + 1) {
                Ok(v) => self.table[slot] = v,
                Err(_) => {
                    if (0..n).any(|i| self.hashes[i] == h && self.member(i) == bytes) {
                        return false;
                    }
                }
            }
        }
        self.spans.push((self.arena.len(), bytes.len()));
        self.arena.extend_from_slice(bytes);
        self.hashes.push(h);
        true
    }

    /// Rebuilds the table at 4× the members (load factor ≤ 1/2 until the next growth).
    fn grow(&mut self) {
        let n = self.hashes.len();
        let size = (4 * (n + 1)).next_power_of_two();
        self.table.clear();
        self.table.resize(size, 0);
        let mask = size - 1;
        for (i, &h) in self.hashes.iter().enumerate() {
            let Ok(v) = u32::try_from(i + 1) else { break };
            let mut slot = (h as usize) & mask;
            while self.table[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            self.table[slot] = v;
        }
    }
}

#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

const K0: u64 = 0x243f_6a88_85a3_08d3;
const K1: u64 = 0x1319_8a2e_0370_7344;
const K2: u64 = 0xa409_3822_299f_31d0;

/// A seeded folded-multiply hash (in the style of foldhash/wyhash): fast on short members.
#[inline]
fn hash(b: &[u8], seed: u64) -> u64 {
    let mut h = fold(seed ^ K0, (b.len() as u64) ^ K1);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = fold(h ^ u64::from_le_bytes(w), K2);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = fold(h ^ u64::from_le_bytes(w), K1);
    }
    fold(h, K0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_duplicates_small_and_large() {
        for n in [
            0usize,
            1,
            5,
            LINEAR_MAX - 1,
            LINEAR_MAX,
            LINEAR_MAX + 1,
            1000,
            70_000,
        ] {
            let mut d = Dups::new(true);
            for i in 0..n {
                d.check(Entry::Bytes(format!("m{i}").as_bytes()), "member", 0)
                    .unwrap();
            }
            // Integers are compared by their decimal form, like Redis's listpack strings.
            d.check(Entry::Int(-7), "member", 0).unwrap();
            assert!(d.check(Entry::Bytes(b"-7"), "member", 9).is_err());
            if n > 0 {
                let e = d
                    .check(
                        Entry::Bytes(format!("m{}", n / 2).as_bytes()),
                        "set member",
                        42,
                    )
                    .unwrap_err();
                assert_eq!(e.offset, 42);
                assert!(e.to_string().contains("duplicate set member"), "{e}");
            }
            // Prefixes and the empty member are distinct members.
            d.check(Entry::Bytes(b""), "member", 0).unwrap();
            d.check(Entry::Bytes(b"m"), "member", 0).unwrap();
            assert!(d.check(Entry::Bytes(b""), "member", 0).is_err());
        }
    }

    #[test]
    fn buffers_are_reused_and_reset() {
        {
            let mut d = Dups::new(true);
            d.check(Entry::Bytes(b"a"), "m", 0).unwrap();
        }
        // A new value starts empty.
        let mut d = Dups::new(true);
        d.check(Entry::Bytes(b"a"), "m", 0).unwrap();
        // Off: never complains.
        let mut off = Dups::new(false);
        off.check(Entry::Bytes(b"a"), "m", 0).unwrap();
        off.check(Entry::Bytes(b"a"), "m", 0).unwrap();
    }

    #[test]
    fn hash_separates_lengths_and_tails() {
        let s = 12345;
        assert_ne!(hash(b"", s), hash(b"\0", s));
        assert_ne!(hash(b"abcdefgh", s), hash(b"abcdefgh\0", s));
        assert_ne!(hash(b"abcdefghi", s), hash(b"abcdefghj", s));
    }
}
