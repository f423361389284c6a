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

use crate::entry::{parse_canonical_i64, Entry, IntBuf};
use crate::error::{Error, Result};

/// Members up to this many are checked by a linear scan over their hashes.
const LINEAR_MAX: usize = 24;

/// How a member is kept (the second word of [`Bufs::mems`], low 2 bits; the length above):
/// an integer (the first word; its decimal form is the member), bytes of the value's own
/// input (`Dups::base`, the first word their offset there: no copy), or bytes copied into the
/// arena (the first word their offset there).
const KIND_INT: u64 = 0;
const KIND_BASE: u64 = 1;
const KIND_ARENA: u64 = 2;

/// A member being checked: integers and the canonical decimal text of one are the same
/// member (Redis compares the strings: an integer entry `-7` equals the string `"-7"`), so
/// both are kept as the integer and never formatted; other bytes stay bytes.
#[derive(Clone, Copy)]
enum Member<'b> {
    Int(i64),
    Bytes(&'b [u8]),
}

impl<'b> Member<'b> {
    #[inline]
    fn of(e: Entry<'b>) -> Self {
        match e {
            Entry::Int(i) => Member::Int(i),
            Entry::Bytes(b) => {
                // Only text that starts like a number can be one (a byte's test for the rest).
                if matches!(b.first(), Some(c) if c.is_ascii_digit() || *c == b'-') {
                    if let Some(i) = parse_canonical_i64(b) {
                        return Member::Int(i);
                    }
                }
                Member::Bytes(b)
            }
        }
    }

    /// Whether two members are one.
    #[inline(always)]
    fn same(self, o: Member<'_>) -> bool {
        match (self, o) {
            (Member::Int(a), Member::Int(b)) => a == b,
            (Member::Bytes(a), Member::Bytes(b)) => a == b,
            _ => false,
        }
    }

    /// The entry this member was made of ([`Member::of`] of it is this member again).
    #[inline]
    fn entry(self) -> Entry<'b> {
        match self {
            Member::Int(i) => Entry::Int(i),
            Member::Bytes(b) => Entry::Bytes(b),
        }
    }

    #[inline]
    fn hash(self, seed: u64) -> u64 {
        match self {
            Member::Int(i) => fold(fold(seed ^ K2, (i as u64) ^ K0), K1),
            Member::Bytes(b) => hash(b, seed),
        }
    }
}

#[derive(Default)]
struct Bufs {
    arena: Vec<u8>,
    /// Each member: (integer or offset, kind | length << 2); see [`KIND_INT`].
    mems: Vec<(u64, u64)>,
    hashes: Vec<u64>,
    /// Open addressing: 0 = empty, otherwise member index + 1. Length is a power of two.
    table: Vec<u32>,
    seed: u64,
    /// Deferred mode (big values): member index where it began, and the offsets of the members
    /// from there on (for the error).
    deferred_from: Option<usize>,
    ats: Vec<u64>,
    /// [`Dups::finish`]'s partition of the hashes or bit sets (see [`any_equal`]).
    part: Vec<u64>,
}

thread_local! {
    static BUFS: Cell<Bufs> = Cell::new(Bufs::default());
}

/// Members from which a deferred [`Dups`] stops probing its table and sorts at the end.
const DEFER_FROM: usize = 4096;

/// The per-member buffers of a value up to this many members stay allocated for the next
/// value (~40 bytes a member: up to ~10 MiB a thread). Freeing them after every value of more
/// than 64 k members made each such value fault fresh heap pages in again (issue 15: ~37 k of
/// the ~86 k minor faults of a deep check of the full-scale mixed.rdb).
const KEEP_MEMBERS_MAX: usize = 1 << 18;

/// The members seen so far in one value; inert unless deep validation is on.
///
/// Members whose bytes lie inside `base` (the listpack, ziplist or file the value is read
/// from, set by [`in_base`](Self::in_base)) are remembered by their offset there and compared
/// in place; only others (LZF-decompressed strings of a plain encoding, whose buffer is reused
/// member by member) are copied.
pub(crate) struct Dups<'e> {
    on: bool,
    /// See [`Dups::new_deferred`].
    may_defer: bool,
    what: &'static str,
    base: &'e [u8],
    b: Bufs,
}

impl<'e> Dups<'e> {
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
        Dups {
            on: deep,
            may_defer: false,
            what: "",
            base: &[],
            b,
        }
    }

    /// For the hash-table encodings, whose values can hold millions of members: past
    /// [`DEFER_FROM`] members the hashes are only collected and sorted by [`finish`](Self::finish),
    /// which the caller must call after the last member (a table probe per member is a cache
    /// miss there: ~40% of a deep check of a file with big sets). A duplicate is then reported
    /// at the value's end, with the offset of its second occurrence.
    pub fn new_deferred(deep: bool) -> Self {
        let mut d = Dups::new(deep);
        d.may_defer = true;
        d
    }

    /// Members found inside `base` (which outlives this check) are not copied.
    pub fn in_base(mut self, base: &'e [u8]) -> Self {
        self.base = base;
        self
    }

    #[inline(always)]
    pub fn check(&mut self, e: Entry<'_>, what: &'static str, at: u64) -> Result<()> {
        if !self.on {
            return Ok(());
        }
        let m = Member::of(e);
        if self.may_defer && self.b.hashes.len() >= DEFER_FROM {
            self.what = what;
            self.b.push_deferred(m, self.base, at);
            return Ok(());
        }
        if self.b.insert(m, self.base) {
            Ok(())
        } else {
            let mut ib = IntBuf::new();
            let bytes = e.as_bytes(&mut ib);
            Err(Error::invalid(
                at,
                format!("duplicate {what} {:?}", String::from_utf8_lossy(bytes)),
            ))
        }
    }

    /// Ends a deferred check: sorts the hashes and confirms equal ones byte for byte.
    pub fn finish(&mut self) -> Result<()> {
        let Some(from) = self.b.deferred_from else {
            return Ok(());
        };
        // Members with equal hashes are the only candidates: when no two hashes are equal (the
        // usual case, checked cheaply), no two members are, and nothing else is needed.
        if !any_equal(&self.b.hashes, &mut self.b.part) {
            return Ok(());
        }
        let b = &self.b;
        let base = self.base;
        // (hash, index) pairs sorted by value: no indirection in the comparisons.
        let mut order: Vec<(u64, usize)> =
            b.hashes.iter().enumerate().map(|(i, &h)| (h, i)).collect();
        order.sort_unstable();
        // The first duplicate in file order: the smallest index that repeats an earlier member.
        let mut first: Option<usize> = None;
        for run in order.chunk_by(|x, y| x.0 == y.0) {
            // Equal hashes: almost always a run of one, unless members repeat. A run is in
            // index order, so `j` is the later of any pair; one match is enough for it, which
            // keeps a value of a million copies of one member linear, not quadratic.
            for (x, &(_, j)) in run.iter().enumerate() {
                let mj = b.member(j, base);
                if run[..x].iter().any(|&(_, i)| b.same(i, mj, base)) {
                    first = Some(first.map_or(j, |f| f.min(j)));
                }
            }
        }
        match first {
            None => Ok(()),
            Some(i) => {
                let at = b.ats.get(i.saturating_sub(from)).copied().unwrap_or(0);
                let text = match b.member(i, base) {
                    Member::Int(v) => String::from_utf8_lossy(IntBuf::new().format(v)).into_owned(),
                    Member::Bytes(m) => String::from_utf8_lossy(m).into_owned(),
                };
                Err(Error::invalid(
                    at,
                    format!("duplicate {} {:?}", self.what, text),
                ))
            }
        }
    }
}

/// The seed of [`SmallDups`]' hashes. Fixed: a crafted value can make its hashes collide,
/// which costs a byte comparison per member of at most [`LINEAR_MAX`], never a wrong verdict.
const SMALL_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// The duplicate check of a listpack/ziplist value whose members all live in the blob (`'e`):
/// up to [`LINEAR_MAX`] members are kept as they are in arrays of this struct (on the stack)
/// and scanned linearly, as [`Dups`] scans them, without its thread-local buffers, offsets
/// and kinds; the member that would be the next one moves them all into a [`Dups`], which
/// goes on. The verdict is [`Dups`]' (the first member equal to an earlier one, the same
/// error); issue 15: ~270 instructions a member of the small listpack hashes and zsets of a
/// mixed file went to the general check's buffers.
pub(crate) struct SmallDups<'e> {
    on: bool,
    n: usize,
    hashes: [u64; LINEAR_MAX],
    mems: [Member<'e>; LINEAR_MAX],
    base: &'e [u8],
    big: Option<Dups<'e>>,
}

impl<'e> SmallDups<'e> {
    /// Inert unless `deep`; members beyond [`LINEAR_MAX`] are kept by offset in `base`.
    #[inline]
    pub fn new(deep: bool, base: &'e [u8]) -> Self {
        SmallDups {
            on: deep,
            n: 0,
            hashes: [0; LINEAR_MAX],
            mems: [Member::Int(0); LINEAR_MAX],
            base,
            big: None,
        }
    }

    /// [`Dups::check`] of a member that lives as long as the blob.
    #[inline(always)]
    pub fn check(&mut self, e: Entry<'e>, what: &'static str, at: u64) -> Result<()> {
        if !self.on {
            return Ok(());
        }
        if let Some(big) = &mut self.big {
            return big.check(e, what, at);
        }
        let m = Member::of(e);
        let h = m.hash(SMALL_SEED);
        let n = self.n;
        for i in 0..n {
            if self.hashes[i] == h && self.mems[i].same(m) {
                return Err(duplicate(e, what, at));
            }
        }
        if n < LINEAR_MAX {
            self.hashes[n] = h;
            self.mems[n] = m;
            self.n = n + 1;
            Ok(())
        } else {
            self.spill(e, what, at)
        }
    }

    /// Moves the members into a [`Dups`] (all distinct: none fails) and checks `e` there.
    #[cold]
    fn spill(&mut self, e: Entry<'e>, what: &'static str, at: u64) -> Result<()> {
        let mut big = Dups::new(true).in_base(self.base);
        for m in &self.mems[..self.n] {
            big.check(m.entry(), what, at)?;
        }
        let r = big.check(e, what, at);
        self.big = Some(big);
        r
    }
}

/// The error of a duplicate member `e`.
#[cold]
fn duplicate(e: Entry<'_>, what: &'static str, at: u64) -> Error {
    let mut ib = IntBuf::new();
    let bytes = e.as_bytes(&mut ib);
    Error::invalid(
        at,
        format!("duplicate {what} {:?}", String::from_utf8_lossy(bytes)),
    )
}

/// Bits of the hash that pick a bucket in [`any_equal`] at most (4096 buckets: the counts stay
/// in L1 and the scatter's 4096 write positions in L2, whatever the member count).
const PART_BITS_MAX: u32 = 12;

/// Whether two of `hashes` are equal. Up to [`FILTER_MAX`] hashes, a bit filter
/// ([`any_equal_filtered`]); beyond, a radix partition by the top bits (one counting pass, one
/// scatter into `part`), then each bucket (about 8 hashes, at most a few hundred for millions
/// of members) sorted and scanned for neighbours: a few instructions per member where sorting
/// all (hash, index) pairs cost ~250 (callgrind, a deep check of a file with 20 000-member sets).
fn any_equal(hashes: &[u64], part: &mut Vec<u64>) -> bool {
    let n = hashes.len();
    if n < 2 {
        return false;
    }
    if n <= FILTER_MAX {
        return any_equal_filtered(hashes, part);
    }
    let bits = ((n / 8).max(2).ilog2()).min(PART_BITS_MAX);
    let shift = 64 - bits;
    let buckets = 1usize << bits;
    // starts[b] = first slot of bucket b in `part` (after the prefix sum), starts[buckets] = n.
    let mut starts = vec![0usize; buckets + 1];
    for &h in hashes {
        starts[(h >> shift) as usize + 1] += 1;
    }
    for b in 0..buckets {
        starts[b + 1] += starts[b];
    }
    part.clear();
    part.resize(n, 0);
    let mut next: Vec<usize> = starts[..buckets].to_vec();
    for &h in hashes {
        let b = (h >> shift) as usize;
        part[next[b]] = h;
        next[b] += 1;
    }
    for b in 0..buckets {
        let bucket = &mut part[starts[b]..starts[b + 1]];
        bucket.sort_unstable();
        if bucket.windows(2).any(|w| w[0] == w[1]) {
            return true;
        }
    }
    false
}

/// Hashes up to this many take [`any_equal_filtered`]: its two bit sets (16 bits a hash each)
/// stay within 1 MiB, about the L2 cache; past it the radix partition's sequential passes miss
/// the cache less.
const FILTER_MAX: usize = 1 << 18;

/// [`any_equal`] by a bit filter: each hash sets the bit its low bits pick in a set of 16 bits
/// a hash, without branches, and marks it in a second set when it was already set (two hashes
/// on one bit: equal, or a 1-in-16 chance). No marked bit: no two hashes are equal. Otherwise
/// (in a big value, some bit is nearly always shared) only the hashes on marked bits, about 1
/// in 16, are sorted and compared: ~16 instructions a hash in all, against ~60 for the radix
/// partition and its buckets' sorts (callgrind, 20 000-member values).
fn any_equal_filtered(hashes: &[u64], part: &mut Vec<u64>) -> bool {
    let bits = (hashes.len() * 16).next_power_of_two().max(64);
    let words = bits / 64;
    let mask = bits - 1;
    part.clear();
    part.resize(2 * words, 0);
    let (seen, marked) = part.split_at_mut(words);
    let mut any = 0u64;
    for &h in hashes {
        let i = (h as usize) & mask;
        let (w, b) = (i >> 6, 1u64 << (i & 63));
        let s = seen[w];
        marked[w] |= s & b;
        any |= s & b;
        seen[w] = s | b;
    }
    if any == 0 {
        return false;
    }
    let mut cands: Vec<u64> = hashes
        .iter()
        .copied()
        .filter(|&h| {
            let i = (h as usize) & mask;
            marked[i >> 6] & (1u64 << (i & 63)) != 0
        })
        .collect();
    cands.sort_unstable();
    cands.windows(2).any(|w| w[0] == w[1])
}

impl Drop for Dups<'_> {
    fn drop(&mut self) {
        if self.on {
            let mut b = std::mem::take(&mut self.b);
            b.arena.clear();
            b.mems.clear();
            b.hashes.clear();
            b.table.clear();
            b.ats.clear();
            b.part.clear();
            b.deferred_from = None;
            // Do not keep a huge value's buffers alive for the rest of the file.
            if b.arena.capacity() > 1 << 22 {
                b.arena = Vec::new();
            }
            if b.hashes.capacity() > KEEP_MEMBERS_MAX {
                b.hashes = Vec::new();
                b.mems = Vec::new();
                b.table = Vec::new();
                b.ats = Vec::new();
                b.part = Vec::new();
            }
            BUFS.with(|c| c.set(b));
        }
    }
}

impl Bufs {
    /// Member `i` as it was checked.
    #[inline]
    fn member<'b>(&'b self, i: usize, base: &'b [u8]) -> Member<'b> {
        let (a, t) = self.mems[i];
        let (s, n) = (a as usize, (t >> 2) as usize);
        match t & 3 {
            KIND_INT => Member::Int(a as i64),
            KIND_BASE => Member::Bytes(&base[s..s + n]),
            _ => Member::Bytes(&self.arena[s..s + n]),
        }
    }

    /// Whether member `i` is `m`.
    #[inline]
    fn same(&self, i: usize, m: Member<'_>, base: &[u8]) -> bool {
        match (self.member(i, base), m) {
            (Member::Int(a), Member::Int(b)) => a == b,
            (Member::Bytes(a), Member::Bytes(b)) => a == b,
            _ => false,
        }
    }

    /// Remembers `m` (after its hash was pushed by the caller).
    #[inline]
    fn keep(&mut self, m: Member<'_>, base: &[u8]) {
        let v = match m {
            Member::Int(i) => (i as u64, KIND_INT),
            Member::Bytes(b) => {
                let n = b.len() as u64;
                // Inside `base` (compared by address only): kept as its offset there.
                let off = (b.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
                if off <= base.len() && b.len() <= base.len() - off {
                    (off as u64, KIND_BASE | n << 2)
                } else {
                    let s = self.arena.len() as u64;
                    self.arena.extend_from_slice(b);
                    (s, KIND_ARENA | n << 2)
                }
            }
        };
        self.mems.push(v);
    }

    /// Adds `m`; false when an equal member was already there.
    #[inline]
    fn insert(&mut self, m: Member<'_>, base: &[u8]) -> bool {
        let h = m.hash(self.seed);
        let n = self.hashes.len();
        if n < LINEAR_MAX {
            for i in 0..n {
                if self.hashes[i] == h && self.same(i, m, base) {
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
                if self.hashes[i] == h && self.same(i, m, base) {
                    return false;
                }
                slot = (slot + 1) & mask;
            }
            // Beyond 4 G members (not a real file) the table stops growing: scan instead.
            match u32::try_from(n + 1) {
                Ok(v) => self.table[slot] = v,
                Err(_) => {
                    if (0..n).any(|i| self.hashes[i] == h && self.same(i, m, base)) {
                        return false;
                    }
                }
            }
        }
        self.keep(m, base);
        self.hashes.push(h);
        true
    }

    /// Deferred mode: only remembers the member (checked by [`Dups::finish`]).
    #[inline]
    fn push_deferred(&mut self, m: Member<'_>, base: &[u8], at: u64) {
        self.deferred_from.get_or_insert(self.hashes.len());
        let h = m.hash(self.seed);
        self.keep(m, base);
        self.hashes.push(h);
        self.ats.push(at);
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

/// The keys of a whole file, for the deep check's duplicate-key test (`redis-server` refuses a
/// file that holds one key twice in a db: "Duplicated key found in RDB file").
///
/// Compact: one 64-bit fingerprint of (db, key) per key in an open-addressing table (load
/// ≤ 3/4: under 11 bytes a key, ~64 MB for 5 M keys), never the keys themselves. A fingerprint
/// match is only a *candidate*: the caller confirms it byte for byte by re-reading the earlier
/// key (an in-memory file is rescanned up to the candidate: a cost paid once per real duplicate,
/// which ends the check, or per chance 64-bit collision, ~1e-6 on a 5 M-key file, with a seed
/// per process that a crafted file cannot aim at). A stream cannot be re-read, so
/// [`KeySet::new_exact`] keeps a second, independently seeded 64-bit fingerprint per key: a
/// match of both (128 bits) is taken as the duplicate it is (a chance match: ~1e-25).
pub(crate) struct KeySet {
    /// 0 = empty, else the fingerprint (never 0).
    table: Vec<u64>,
    /// Streams only: the second fingerprint of the key in the same slot of `table`.
    second: Vec<u64>,
    exact: bool,
    len: usize,
    seed: u64,
    seed2: u64,
}

impl KeySet {
    /// For an in-memory file: candidates are confirmed by the caller.
    pub fn new() -> Self {
        use std::hash::{BuildHasher, RandomState};
        let st = RandomState::new();
        KeySet {
            table: Vec::new(),
            second: Vec::new(),
            exact: false,
            len: 0,
            seed: st.hash_one(0x6b65_7973_u64) | 1,
            seed2: st.hash_one(0x7365_636f_6e64_u64) | 1,
        }
    }

    /// For a stream: 128-bit fingerprints, a match needs no confirmation.
    pub fn new_exact() -> Self {
        KeySet {
            exact: true,
            ..KeySet::new()
        }
    }

    /// Keys inserted.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes of memory held.
    #[cfg(test)]
    pub fn heap_bytes(&self) -> usize {
        (self.table.capacity() + self.second.capacity()) * 8
    }

    /// Adds (db, key) and returns true, or returns false without adding when an equal
    /// fingerprint is already there (a candidate duplicate).
    #[inline]
    pub fn insert(&mut self, db: u64, key: &[u8]) -> bool {
        let (h, h2) = self.fingerprint(db, key);
        self.insert_fp(h, h2)
    }

    /// The fingerprints of (db, key) (the second one 0 unless exact).
    #[inline]
    pub fn fingerprint(&self, db: u64, key: &[u8]) -> (u64, u64) {
        let h = hash(key, fold(self.seed ^ db, K2)).max(1);
        let h2 = if self.exact {
            hash(key, fold(self.seed2 ^ db, K1))
        } else {
            0
        };
        (h, h2)
    }

    /// [`insert`](Self::insert) of a [`fingerprint`](Self::fingerprint).
    #[inline]
    pub fn insert_fp(&mut self, h: u64, h2: u64) -> bool {
        if 4 * (self.len + 1) > 3 * self.table.len() {
            self.grow();
        }
        let mask = self.table.len() - 1;
        let mut slot = (h as usize) & mask;
        loop {
            let t = self.table[slot];
            if t == 0 {
                break;
            }
            if t == h && (!self.exact || self.second[slot] == h2) {
                return false;
            }
            slot = (slot + 1) & mask;
        }
        self.table[slot] = h;
        if self.exact {
            self.second[slot] = h2;
        }
        self.len += 1;
        true
    }

    /// Makes room for `more` keys without growing on the way (the RESIZEDB hint; the caller
    /// bounds it by what the input can hold).
    pub fn reserve(&mut self, more: usize) {
        let want = self.len.saturating_add(more);
        while 4 * want > 3 * self.table.len() {
            self.grow();
        }
    }

    /// Doubles the table (at least 1024 slots) and re-inserts every fingerprint.
    fn grow(&mut self) {
        let size = (self.table.len() * 2).max(1024);
        let old = std::mem::replace(&mut self.table, vec![0; size]);
        let old2 = std::mem::take(&mut self.second);
        if self.exact {
            self.second = vec![0; size];
        }
        let mask = size - 1;
        for (i, &h) in old.iter().enumerate() {
            if h == 0 {
                continue;
            }
            let mut slot = (h as usize) & mask;
            while self.table[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            self.table[slot] = h;
            if self.exact {
                self.second[slot] = old2[i];
            }
        }
    }
}

/// Bits of a key fingerprint that pick its partition in [`KeyPrints`].
const KEY_PART_BITS: u32 = 8;
const KEY_PARTS: usize = 1 << KEY_PART_BITS;

/// The deferred duplicate-key check of the parallel deep check ([`crate::parallel`]): the
/// reading thread only appends each key's 64-bit fingerprint of (db, key) to one of 256
/// partitions (by its top bits: no table, no cache miss per key); at the end the partitions
/// are searched for equal fingerprints on every core ([`KeyPrints::repeats`]), each in a small
/// table that stays in cache. Memory: 8 bytes a key (bounded by the file: a key record takes at
/// least 3 bytes). An equal pair is only a candidate: the caller confirms it byte for byte by
/// re-reading the file, so a chance 64-bit collision never reports a false duplicate.
pub(crate) struct KeyPrints {
    parts: Box<[Vec<u64>; KEY_PARTS]>,
    seed: u64,
}

impl KeyPrints {
    /// Empty, with a per-process random seed that a crafted file cannot aim at.
    pub fn new() -> Self {
        use std::hash::{BuildHasher, RandomState};
        KeyPrints {
            parts: Box::new(std::array::from_fn(|_| Vec::new())),
            seed: RandomState::new().hash_one(0x6b65_7973_u64) | 1,
        }
    }

    /// An empty store with the same seed (for another thread: their fingerprints compare).
    #[cfg(test)]
    pub fn sibling(&self) -> Self {
        KeyPrints {
            parts: Box::new(std::array::from_fn(|_| Vec::new())),
            seed: self.seed,
        }
    }

    /// The fingerprint of (db, key).
    #[inline]
    pub fn fingerprint(&self, db: u64, key: &[u8]) -> u64 {
        hash(key, fold(self.seed ^ db, K2))
    }

    /// Appends a fingerprint.
    #[inline]
    pub fn push(&mut self, h: u64) {
        self.parts[(h >> (64 - KEY_PART_BITS)) as usize].push(h);
    }

    /// Makes room for `more` keys (the RESIZEDB hint; the caller bounds it by what the input
    /// can hold).
    pub fn reserve(&mut self, more: usize) {
        let each = more / KEY_PARTS;
        // Partitions differ by a few standard deviations (sqrt(each)) at most.
        let each = each + each / 16 + 64;
        for p in self.parts.iter_mut() {
            p.reserve(each);
        }
    }

    /// Fingerprints pushed.
    pub fn count(&self) -> usize {
        self.parts.iter().map(Vec::len).sum()
    }

    /// The fingerprints pushed more than once (sorted, each once), searched on `threads`
    /// threads (the calling one included): the partitions are handed out one at a time, and
    /// each is put into a table of twice its size (reused: see [`part_repeats`]). `others`
    /// are [`sibling`](Self::sibling)s filled on other threads: their partitions join this
    /// one's.
    pub fn repeats(&self, others: &[KeyPrints], threads: usize) -> Vec<u64> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Mutex;
        let total = self.count() + others.iter().map(KeyPrints::count).sum::<usize>();
        // Below this many keys a thread costs more than it saves.
        let threads = if total < 1 << 16 { 1 } else { threads };
        let next = AtomicUsize::new(0);
        let found = Mutex::new(Vec::new());
        let run = || {
            let mut table: Vec<u64> = Vec::new();
            let mut mine = Vec::new();
            let mut parts: Vec<&[u64]> = Vec::with_capacity(1 + others.len());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= KEY_PARTS {
                    break;
                }
                parts.clear();
                parts.push(&self.parts[i]);
                parts.extend(others.iter().map(|o| o.parts[i].as_slice()));
                part_repeats(i, &parts, &mut table, &mut mine);
            }
            if !mine.is_empty() {
                found
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .append(&mut mine);
            }
        };
        std::thread::scope(|s| {
            for _ in 1..threads.min(KEY_PARTS) {
                // A thread the system refuses is one fewer helper.
                if std::thread::Builder::new().spawn_scoped(s, run).is_err() {
                    break;
                }
            }
            run();
        });
        let mut v = found.into_inner().unwrap_or_else(|p| p.into_inner());
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Appends to `out` the fingerprints that occur more than once in `parts` (one partition,
/// from several threads' stores, all with the top bits `id`). `table` is reused from partition to partition without clearing it:
/// a slot is taken only when it holds a fingerprint of this partition (its top bits are `id`),
/// so what earlier partitions left reads as empty (clearing it was a `memset` of 16 bytes a
/// key). Each partition is searched once.
fn part_repeats(id: usize, parts: &[&[u64]], table: &mut Vec<u64>, out: &mut Vec<u64>) {
    let n: usize = parts.iter().map(|p| p.len()).sum();
    if n < 2 {
        return;
    }
    let want = (2 * n).next_power_of_two();
    if table.len() < want {
        table.clear();
        table.resize(want, 0);
    }
    let mask = table.len() - 1;
    let id = id as u64;
    let mine = |t: u64| t != 0 && t >> (64 - KEY_PART_BITS) == id;
    // 0 marks an empty slot (partition 0): a fingerprint 0 is counted aside.
    let mut zeros = 0usize;
    for &h in parts.iter().flat_map(|p| p.iter()) {
        if h == 0 {
            zeros += 1;
            continue;
        }
        let mut slot = (h as usize) & mask;
        loop {
            let t = table[slot];
            if !mine(t) {
                table[slot] = h;
                break;
            }
            if t == h {
                out.push(h);
                break;
            }
            slot = (slot + 1) & mask;
        }
    }
    if zeros > 1 {
        out.push(0);
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

#[inline(always)]
fn r64(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]))
}

#[inline(always)]
fn r32(b: &[u8], i: usize) -> u64 {
    u64::from(u32::from_le_bytes(b[i..i + 4].try_into().unwrap_or([0; 4])))
}

/// A seeded folded-multiply hash (in the style of foldhash/wyhash): fast on short members.
///
/// The words it folds cover every byte, with overlapping reads at the tail instead of a
/// zero-padded copy (which called `memcpy` for each member and key: ~45 instructions of a
/// ~240-instruction duplicate-key check per key, callgrind on small.rdb); with the length
/// folded in first, the words and the length determine the input, so only the folding itself
/// can collide.
#[inline]
fn hash(b: &[u8], seed: u64) -> u64 {
    let n = b.len();
    let h = fold(seed ^ K0, (n as u64) ^ K1);
    if n < 8 {
        let w = if n >= 4 {
            (r32(b, 0) << 32) | r32(b, n - 4)
        } else if n > 0 {
            (u64::from(b[0]) << 16) | (u64::from(b[n / 2]) << 8) | u64::from(b[n - 1])
        } else {
            0
        };
        return fold(fold(h ^ w, K2), K0);
    }
    let mut h = h;
    let mut i = 0;
    while i + 8 < n {
        h = fold(h ^ r64(b, i), K2);
        i += 8;
    }
    fold(fold(h ^ r64(b, n - 8), K1), K0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`SmallDups`] gives [`Dups`]' verdict member by member — the same member refused, with
    /// the same error — below, at and past its spill into a [`Dups`], for integers, their
    /// decimal text and other bytes.
    #[test]
    fn small_dups_gives_the_verdict_of_dups() {
        let texts: Vec<Vec<u8>> = (0..200u32)
            .map(|i| match i % 4 {
                0 => format!("m{}", i % 61).into_bytes(),
                1 => format!("{}", i % 53).into_bytes(),
                2 => format!("-0{}", i % 7).into_bytes(),
                _ => format!("field:{}", i % 89).into_bytes(),
            })
            .collect();
        let mut seed = 0x1234_5678_u64;
        for round in 0..400 {
            let n = round % 70;
            let members: Vec<Entry<'_>> = (0..n)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let r = (seed >> 33) as usize;
                    if r.is_multiple_of(5) {
                        Entry::Int((r % 53) as i64)
                    } else {
                        Entry::Bytes(&texts[r % texts.len()])
                    }
                })
                .collect();
            let mut small = SmallDups::new(true, &[]);
            let mut dups = Dups::new(true);
            for (i, &e) in members.iter().enumerate() {
                let a = small
                    .check(e, "member", i as u64)
                    .map_err(|e| e.to_string());
                let b = dups.check(e, "member", i as u64).map_err(|e| e.to_string());
                assert_eq!(a, b, "round {round}, member {i}");
                if a.is_err() {
                    break;
                }
            }
        }
    }

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
    fn deferred_finds_the_first_duplicate_at_the_end() {
        for (n, dup_of, dup_at) in [
            (10usize, 3usize, 7u64),
            (DEFER_FROM * 3, 5, 99),
            (DEFER_FROM * 3, DEFER_FROM + 9, 1234),
        ] {
            let mut d = Dups::new_deferred(true);
            for i in 0..n {
                d.check(
                    Entry::Bytes(format!("m{i}").as_bytes()),
                    "set member",
                    i as u64,
                )
                .unwrap();
            }
            d.finish().unwrap();
            // Two duplicates after the last member: the first one is reported.
            let r = d.check(
                Entry::Bytes(format!("m{dup_of}").as_bytes()),
                "set member",
                dup_at,
            );
            let r2 = d.check(Entry::Bytes(b"m0"), "set member", dup_at + 1);
            let e = r.and(r2).and_then(|()| d.finish()).unwrap_err();
            assert_eq!(e.offset, dup_at, "{e}");
            assert!(
                e.to_string()
                    .contains(&format!("duplicate set member \"m{dup_of}\"")),
                "{e}"
            );
        }
        // Not deferred: never waits for finish.
        let mut d = Dups::new(true);
        for i in 0..DEFER_FROM + 10 {
            d.check(Entry::Int(i as i64), "member", 0).unwrap();
        }
        assert!(d.check(Entry::Int(1), "member", 0).is_err());
    }

    #[test]
    fn many_copies_of_one_member_stay_linear() {
        // A hostile set: distinct members up to the deferral, then 300 000 copies of one
        // member. Pairwise comparison of the run of equal hashes would be ~4.5e10 compares.
        let mut d = Dups::new_deferred(true);
        for i in 0..DEFER_FROM {
            d.check(Entry::Int(i as i64), "set member", i as u64)
                .unwrap();
        }
        for k in 0..300_000u64 {
            d.check(Entry::Bytes(b"x"), "set member", 1_000_000 + k)
                .unwrap();
        }
        let e = d.finish().unwrap_err();
        assert_eq!(e.offset, 1_000_001, "{e}");
        assert!(e.to_string().contains("duplicate set member \"x\""), "{e}");
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
    fn members_in_base_and_integers_compare_as_redis_strings() {
        // Members inside the base are kept by offset; others (a reused buffer) are copied.
        let base = b"alphabetagamma-7007".to_vec();
        let fill = |deferred: bool| {
            let mut d = if deferred {
                Dups::new_deferred(true)
            } else {
                Dups::new(true)
            }
            .in_base(&base);
            let mut buf = Vec::new();
            for i in 0..DEFER_FROM as i64 + 10 {
                buf.clear();
                buf.extend_from_slice(format!("x{i}").as_bytes());
                d.check(Entry::Bytes(&buf), "m", 0).unwrap();
            }
            d.check(Entry::Bytes(&base[0..5]), "m", 0).unwrap(); // alpha
            d.check(Entry::Bytes(&base[5..9]), "m", 0).unwrap(); // beta
            d.check(Entry::Bytes(&base[14..16]), "m", 0).unwrap(); // "-7"
            d.check(Entry::Int(7), "m", 0).unwrap();
            // "07" is not the integer 7's text; "-0" not 0's.
            d.check(Entry::Bytes(&base[16..18]), "m", 0).unwrap(); // "00"
            d.check(Entry::Bytes(b"07"), "m", 0).unwrap();
            d.check(Entry::Bytes(b"-0"), "m", 0).unwrap();
            d.check(Entry::Int(0), "m", 0).unwrap();
            d.check(Entry::Int(i64::MIN), "m", 0).unwrap();
            d
        };
        for deferred in [false, true] {
            fill(deferred).finish().unwrap();
            // Repeats: the same bytes elsewhere, an integer as text and text as an integer.
            for (e, text) in [
                (Entry::Bytes(b"alpha"), Some("alpha")),
                (Entry::Int(-7), Some("-7")),
                (Entry::Bytes(b"7"), Some("7")),
                (Entry::Bytes(b"x17"), Some("x17")),
                (Entry::Bytes(b"00"), Some("00")),
                (
                    Entry::Bytes(b"-9223372036854775808"),
                    Some("-9223372036854775808"),
                ),
                (Entry::Bytes(&base[9..11]), None),
                (Entry::Bytes(b"+7"), None),
                (Entry::Int(70), None),
            ] {
                let mut d = fill(deferred);
                let r = d.check(e, "set member", 5).and_then(|()| d.finish());
                match text {
                    None => r.unwrap(),
                    Some(text) => {
                        let e = r.unwrap_err();
                        assert_eq!(e.offset, 5);
                        assert!(
                            e.to_string()
                                .contains(&format!("duplicate set member \"{text}\"")),
                            "{deferred} {e}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn any_equal_finds_every_repeat() {
        let mut part = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for n in [
            0usize,
            1,
            2,
            3,
            15,
            16,
            17,
            4095,
            4096,
            40_000,
            100_000,
            FILTER_MAX + 1,
        ] {
            let hs: Vec<u64> = (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                })
                .collect();
            assert!(!any_equal(&hs, &mut part), "{n}");
            // A repeat anywhere (first/last, same bucket or not) is found.
            for (i, j) in [(0, n.wrapping_sub(1)), (n / 3, n / 2), (1, 2)] {
                if i < n && j < n && i != j {
                    let mut d = hs.clone();
                    d[j] = d[i];
                    assert!(any_equal(&d, &mut part), "{n} {i} {j}");
                }
            }
            // Equal low bits (one bit of the filter), distinct hashes: no repeat.
            let same_low: Vec<u64> = (0..n as u64).map(|i| i << 40).collect();
            assert!(!any_equal(&same_low, &mut part), "{n}");
            // Equal top bits (one bucket), distinct hashes: no repeat.
            let same_top: Vec<u64> = (0..n as u64).map(|i| i * 3).collect();
            assert!(!any_equal(&same_top, &mut part), "{n}");
            if n > 1 {
                let mut d = same_top.clone();
                d[n - 1] = 0;
                assert!(any_equal(&d, &mut part), "{n}");
            }
        }
    }

    #[test]
    fn hash_sees_every_byte() {
        // Every length up to 40 and every byte position: flipping one bit changes the hash.
        for n in 0..40usize {
            let base: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37)).collect();
            let h = hash(&base, 99);
            for i in 0..n {
                for bit in [0, 7] {
                    let mut d = base.clone();
                    d[i] ^= 1 << bit;
                    assert_ne!(hash(&d, 99), h, "len {n} byte {i} bit {bit}");
                }
            }
        }
    }

    #[test]
    fn hash_separates_lengths_and_tails() {
        let s = 12345;
        assert_ne!(hash(b"", s), hash(b"\0", s));
        assert_ne!(hash(b"abcdefgh", s), hash(b"abcdefgh\0", s));
        assert_ne!(hash(b"abcdefghi", s), hash(b"abcdefghj", s));
    }

    #[test]
    fn key_prints_find_every_repeat_and_no_other() {
        let kp0 = KeyPrints::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for n in [0usize, 1, 2, 300, 70_000, 200_000] {
            for threads in [1, 2, 3] {
                let mut kp = KeyPrints::new();
                kp.reserve(n);
                let hs: Vec<u64> = (0..n)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x
                    })
                    .collect();
                for &h in &hs {
                    kp.push(h);
                }
                assert_eq!(kp.count(), n);
                assert!(kp.repeats(&[], threads).is_empty(), "{n}");
                // Repeats anywhere, a triple, and fingerprint 0 (the table's empty mark).
                if n >= 300 {
                    for &h in [hs[0], hs[n / 2], hs[n / 2], hs[n - 1], 0, 0].iter() {
                        kp.push(h);
                    }
                    let mut want = vec![hs[0], hs[n / 2], hs[n - 1], 0];
                    want.sort_unstable();
                    assert_eq!(kp.repeats(&[], threads), want, "{n}");
                    // Split over siblings (other threads' stores): the same repeats.
                    let mut a = kp.sibling();
                    let mut b = kp.sibling();
                    for (i, &h) in hs
                        .iter()
                        .chain(&[hs[0], hs[n / 2], hs[n / 2], hs[n - 1], 0, 0])
                        .enumerate()
                    {
                        if i % 3 == 0 {
                            a.push(h)
                        } else {
                            b.push(h)
                        }
                    }
                    let empty = kp.sibling();
                    assert_eq!(empty.repeats(&[a, b], threads), want, "{n}");
                }
            }
        }
        // (db, key) fingerprints: the db counts, every key byte counts.
        assert_ne!(kp0.fingerprint(0, b"k1"), kp0.fingerprint(1, b"k1"));
        assert_ne!(kp0.fingerprint(0, b"k1"), kp0.fingerprint(0, b"k2"));
        assert_eq!(kp0.fingerprint(3, b"key"), kp0.fingerprint(3, b"key"));
    }

    #[test]
    fn key_set_separates_dbs_and_finds_repeats() {
        for mut ks in [KeySet::new(), KeySet::new_exact()] {
            for i in 0..20_000u64 {
                assert!(ks.insert(i % 3, format!("k{i}").as_bytes()));
            }
            assert_eq!(ks.len(), 20_000);
            // The same key in another db is a different key.
            assert!(ks.insert(7, b"k1"));
            assert!(!ks.insert(1, b"k1"));
            assert!(!ks.insert(1, b"k19999"));
            assert!(ks.insert(2, b"k19999"));
            assert!(ks.insert(0, b""));
            assert!(!ks.insert(0, b""));
            assert!(ks.heap_bytes() <= 20_002 * 8 * 4, "{}", ks.heap_bytes());
        }
    }
}
