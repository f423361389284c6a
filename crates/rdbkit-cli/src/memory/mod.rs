//! The memory model behind `rdbkit size`: what a server would answer to `MEMORY USAGE key
//! SAMPLES 0` for each key of an RDB file once it has loaded the file, per server version and
//! allocator.
//!
//! The model follows each server's `objectComputeSize` and `memoryCommand` (object.c) and what
//! its `rdbLoadObject` (rdb.c) builds from each stored type with the default configuration
//! (hash-max-listpack-entries 512 / value 64, zset-max-listpack-entries 128 / value 64,
//! set-max-intset-entries 512, set-max-listpack-entries 128 / value 64 on 7.2+,
//! list-max-listpack-size -2): a value stored in another encoding than the loading server
//! would use is sized as the server converts it (a 6.2 ziplist loaded by 7.0 becomes a
//! listpack, a 2.8 linked list becomes a quicklist of 8 KiB nodes, a small hashtable hash
//! becomes a listpack).
//!
//! What each server counts (64-bit builds):
//! - every key: the main dictionary's entry (24 bytes; Valkey 8.0: the entry with the key
//!   embedded, allocator-rounded; Valkey 8.1: none, the key is embedded in the value object) and
//!   the key's sds (header 1/3/5/9 bytes + length + 1, rounded to the allocator's class);
//! - the value object (`robj`, 16 bytes) and what hangs from it: strings (int: nothing more;
//!   embstr: 6.2 counts `len + 2`, 7.0+ the object and string in one allocation; raw: the sds);
//!   listpacks, ziplists and intsets (6.2 their exact length, 7.0+ the allocation); quicklists
//!   (40 + per node 32 + the node's allocation); hashtables (the `dict` struct, 8 bytes per
//!   bucket — loaded dicts are pre-sized to the next power of two — and per element a 24-byte
//!   entry plus the sds of each string); skiplists (the dict, the 32-level header node, and per
//!   member an sds, a dict entry and a node of 24 + 16 bytes per level, 1.33 levels on
//!   average, P = 1/4); streams (the struct, the listpacks' allocations, and per radix tree
//!   16 bytes per element + 244 per node as `streamRadixTreeMemoryUsage` counts them; per
//!   consumer group the group struct, its PEL tree and 24 bytes per pending entry; per
//!   consumer its struct, name length and PEL tree).
//! - Valkey 8.1 replaced the dict of the keyspace, sets, hashes and sorted sets with its
//!   open-addressing `hashtable` (64-byte buckets of 7 entries, no per-entry allocation; fitted
//!   against the real server: one bucket per 7 elements rounded up to a power of two, plus 1.6
//!   bytes per element of child buckets): a key is one allocation holding the object header,
//!   the key (and the expiry when set) and a string value when it all fits in 64 bytes; a set
//!   member is its sds; a hash field and its value share one allocation; a sorted-set member
//!   keeps its own sds beside its skiplist node. Stream radix trees count their real node
//!   allocations (`raxAllocSize`). Valkey 8.0 is modelled as Redis 7.2 with the key embedded
//!   in the dict entry (`dictEntryMemUsage`), from its source.
//!
//! Allocators: jemalloc (Redis's default; size classes 8, 16, 32, 48, ... four per doubling) or
//! glibc malloc (`malloc_usable_size`: chunks of 16-byte granularity with 8 bytes of overhead,
//! at least 24 usable bytes), which is what a `MALLOC=libc` build reports (INFO
//! `mem_allocator:libc`).

use std::collections::BTreeSet;
use std::fmt;

use rdbkit_rdb::{Entry, GroupMeta, KeyRecord, RdbString, StreamId, Type, VisitResult, Visitor};

/// The allocator whose size classes round each allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Allocator {
    /// jemalloc (Redis's default build).
    Jemalloc,
    /// glibc malloc (`MALLOC=libc` builds).
    Libc,
}

impl Allocator {
    /// Usable size of an allocation of `n` bytes (`zmalloc_size`).
    pub fn usable(self, n: u64) -> u64 {
        match self {
            Allocator::Jemalloc => jemalloc(n),
            Allocator::Libc => {
                let chunk = ((n + 8 + 15) & !15).max(32);
                chunk - 8
            }
        }
    }
}

impl Allocator {
    /// Usable size of a block allocated for `cap` bytes, filled to `len` bytes (reallocated when
    /// it grows past `cap`) and then shrunk to `len` (`lpShrinkToFit`): jemalloc moves it to the
    /// class of `len`; glibc splits the chunk in place only when at least 32 bytes come free.
    pub fn shrunk(self, cap: u64, len: u64) -> u64 {
        match self {
            Allocator::Jemalloc => jemalloc(len),
            Allocator::Libc => {
                let old = self.usable(cap.max(len));
                let new = self.usable(len);
                if old - new >= 32 {
                    new
                } else {
                    old
                }
            }
        }
    }
}

/// jemalloc's size class for `n` bytes (8, 16, 32, 48, ... 128, then four classes per
/// doubling).
pub fn jemalloc(n: u64) -> u64 {
    if n <= 8 {
        return 8;
    }
    if n <= 128 {
        return n.div_ceil(16) * 16;
    }
    let p = 63 - (n - 1).leading_zeros(); // 2^p < n <= 2^(p+1)
    let step = 1u64 << (p - 2);
    n.div_ceil(step) * step
}

/// The server whose loading and accounting is modelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Server {
    /// Redis 6.2 (and older writers' files loaded into it).
    Redis62,
    /// Redis 7.0.
    Redis70,
    /// Redis 7.2.
    Redis72,
    /// Redis 7.4 and later.
    Redis74,
    /// Valkey 8.0.
    Valkey80,
    /// Valkey 8.1 and later.
    Valkey81,
}

impl Server {
    /// All models, in `--model` spelling.
    pub const NAMES: &'static [&'static str] = &[
        "redis-6.2",
        "redis-7.0",
        "redis-7.2",
        "redis-7.4",
        "valkey-8.0",
        "valkey-8.1",
    ];

    /// Parses `redis-7.0`, `valkey-8.1`, ...
    pub fn parse(s: &str) -> Option<Server> {
        Some(match s {
            "redis-6.2" => Server::Redis62,
            "redis-7.0" => Server::Redis70,
            "redis-7.2" => Server::Redis72,
            "redis-7.4" => Server::Redis74,
            "valkey-8.0" => Server::Valkey80,
            "valkey-8.1" => Server::Valkey81,
            _ => return None,
        })
    }

    /// The model for a file written by `redis-ver`/`valkey-ver` `ver` (older servers map to
    /// the oldest model, newer ones to the newest of their fork).
    pub fn from_writer(valkey: bool, ver: &str) -> Server {
        let mut it = ver.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let (maj, min) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
        if valkey {
            return if (maj, min) >= (8, 1) {
                Server::Valkey81
            } else if maj >= 8 {
                Server::Valkey80
            } else {
                Server::Redis72
            };
        }
        match (maj, min) {
            (0..=6, _) => Server::Redis62,
            (7, 0) | (7, 1) => Server::Redis70,
            (7, 2) | (7, 3) => Server::Redis72,
            _ => Server::Redis74,
        }
    }

    fn name(self) -> &'static str {
        Server::NAMES[self as usize]
    }
    fn ge70(self) -> bool {
        self >= Server::Redis70
    }
    fn valkey81(self) -> bool {
        self == Server::Valkey81
    }
    /// sizeof(dict) of the value dicts.
    fn dict_struct(self) -> u64 {
        if self.ge70() {
            56
        } else {
            96
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A server version and an allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Model {
    /// The loading server.
    pub server: Server,
    /// The allocator it was built with.
    pub alloc: Allocator,
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = match self.alloc {
            Allocator::Jemalloc => "jemalloc",
            Allocator::Libc => "libc",
        };
        write!(f, "{}, {a}", self.server)
    }
}

const HASH_MAX_ENTRIES: u64 = 512;
const ZSET_MAX_ENTRIES: u64 = 128;
const SET_MAX_INTSET: u64 = 512;
const SET_MAX_LISTPACK: u64 = 128;
const MAX_VALUE: u64 = 64;
const LIST_NODE_BYTES: u64 = 8192;

/// sds header size for a string of `n` bytes (types 5, 8, 16, 32).
fn sds_hdr(n: u64) -> u64 {
    if n == 0 {
        3
    } else if n < 32 {
        1
    } else if n < 256 {
        3
    } else if n < 65536 {
        5
    } else {
        9
    }
}

/// Bytes a listpack entry takes (encoding + data + back-length).
fn lp_entry(e: &Elem) -> u64 {
    let enc = match e.int {
        Some(v) if (0..=127).contains(&v) => 1,
        Some(v) if (-4096..4096).contains(&v) => 2,
        Some(v) if i16::try_from(v).is_ok() => 3,
        Some(v) if (-(1 << 23)..(1 << 23)).contains(&v) => 4,
        Some(v) if i32::try_from(v).is_ok() => 5,
        Some(_) => 9,
        None if e.len < 64 => 1 + e.len,
        None if e.len < 4096 => 2 + e.len,
        None => 5 + e.len,
    };
    let back = match enc {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    };
    enc + back
}

/// Bytes a ziplist entry takes after an entry of `prev` bytes.
fn zl_entry(e: &Elem, prev: u64) -> u64 {
    let p = if prev < 254 { 1 } else { 5 };
    let body = match e.int {
        Some(v) if (0..=12).contains(&v) => 1,
        Some(v) if i8::try_from(v).is_ok() => 2,
        Some(v) if i16::try_from(v).is_ok() => 3,
        Some(v) if (-(1 << 23)..(1 << 23)).contains(&v) => 4,
        Some(v) if i32::try_from(v).is_ok() => 5,
        Some(_) => 9,
        None if e.len < 64 => 1 + e.len,
        None if e.len < 16384 => 2 + e.len,
        None => 5 + e.len,
    };
    p + body
}

/// One element as the server sees it: its length as a string and its value when it is a
/// canonical integer.
#[derive(Clone, Copy)]
struct Elem {
    len: u64,
    int: Option<i64>,
}

impl Elem {
    fn of(e: Entry<'_>) -> Elem {
        Elem {
            len: e.logical_len() as u64,
            int: e.as_i64().filter(|_| e.logical_len() <= 20),
        }
    }
    /// A score as a listpack/ziplist holds it: `d2string` — an integer when integral, else
    /// `%.17g` (`g17`: ziplists written by Redis up to 7.0) or the shortest round-trip form.
    fn of_score(s: f64, g17: bool) -> Elem {
        if s.fract() == 0.0 && s.abs() < 9.0e15 {
            let i = s as i64;
            Elem {
                len: i.to_string().len() as u64,
                int: Some(i),
            }
        } else {
            let len = if g17 {
                g17_len(s)
            } else {
                format!("{s:?}").len()
            };
            Elem {
                len: len as u64,
                int: None,
            }
        }
    }
}

/// Length of C's `%.17g` rendering of `s`: from one `%.16e` rendering (the 17 significant
/// digits, rounded once, and the exponent X), written into a stack buffer — the fixed form
/// that `%g` picks for -4 <= X < 17 has the same digits, so its length is counted, not
/// formatted (the export's keys table computes this for every zset score: two formats and
/// two allocations a score were a third of its instructions).
fn g17_len(s: f64) -> usize {
    if s.is_infinite() {
        return if s < 0.0 { 4 } else { 3 };
    }
    if s.is_nan() {
        return 3;
    }
    if let Some(len) = g17_fixed_len(s) {
        return len;
    }
    let mut buf = [0u8; 40];
    let n = {
        let mut w = &mut buf[..];
        // 1 sign + 18 mantissa characters + "e-324": always fits.
        let _ = std::io::Write::write_fmt(&mut w, format_args!("{s:.16e}"));
        40 - w.len()
    };
    let sci = &buf[..n];
    let sign = usize::from(sci[0] == b'-');
    let e_at = sci.iter().position(|&c| c == b'e').unwrap_or(n);
    let x: i32 = std::str::from_utf8(&sci[e_at + 1..])
        .ok()
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    // Significant digits once trailing zeros are dropped (at least the first).
    let digits = sci[sign..e_at]
        .iter()
        .filter(|c| c.is_ascii_digit())
        .count();
    let zeros = sci[sign..e_at]
        .iter()
        .rev()
        .take_while(|&&c| c == b'0')
        .count();
    let k = (digits - zeros).max(1);
    if !(-4..17).contains(&x) {
        // d[.ddd]e±XX (at least two exponent digits).
        let mant = if k > 1 { k + 1 } else { 1 };
        let exp = if x.abs() >= 100 { 3 } else { 2 };
        sign + mant + 2 + exp
    } else if x >= 0 {
        // x + 1 integer digits, then the rest of the 17 after a point, trailing zeros dropped.
        let int = x as usize + 1;
        let frac = k.saturating_sub(int);
        sign + int + if frac > 0 { 1 + frac } else { 0 }
    } else {
        // 0.000ddd: a zero, the point, -x-1 zeros, the digits.
        sign + 2 + (-x - 1) as usize + k
    }
}

/// [`g17_len`] for a normal double whose `%.17g` takes the fixed form (-4 <= X < 17, the
/// scores applications store), without formatting: its 17 significant digits are
/// `round(|s| * 10^(16-X))`, computed exactly in 128-bit integers (`|s| = m * 2^q`, so it is
/// `m * 5^p` shifted by `p + q` bits, p = 16-X <= 20: under 2^100), rounded half to even as the
/// formatter rounds. `None` outside that range (the formatter decides).
fn g17_fixed_len(s: f64) -> Option<usize> {
    let a = s.abs();
    if !a.is_normal() || !(1e-4..1e17).contains(&a) {
        return None;
    }
    let bits = a.to_bits();
    let m = u128::from((bits & ((1u64 << 52) - 1)) | (1u64 << 52));
    let q = ((bits >> 52) & 0x7ff) as i32 - 1075;
    const TEN16: u128 = 10_000_000_000_000_000;
    let mut x = a.log10().floor() as i32;
    for _ in 0..4 {
        if !(-4..17).contains(&x) {
            return None;
        }
        let p = 16 - x;
        let n = m * 5u128.pow(p as u32);
        let t = p + q;
        let d = if t >= 0 {
            n << t
        } else {
            let sh = (-t) as u32;
            if sh >= 127 {
                return None;
            }
            let (d, rem, half) = (n >> sh, n & ((1u128 << sh) - 1), 1u128 << (sh - 1));
            d + u128::from(rem > half || (rem == half && d & 1 == 1))
        };
        if d < TEN16 {
            x -= 1;
        } else if d >= 10 * TEN16 {
            x += 1;
        } else {
            let mut k: usize = 17;
            let mut d = d;
            while d % 10 == 0 {
                d /= 10;
                k -= 1;
            }
            let sign = usize::from(s < 0.0);
            return Some(if x >= 0 {
                let int = x as usize + 1;
                let frac = k.saturating_sub(int);
                sign + int + if frac > 0 { 1 + frac } else { 0 }
            } else {
                sign + 2 + (-x - 1) as usize + k
            });
        }
    }
    None
}

/// A list being packed into quicklist nodes the way pushes fill them.
#[derive(Default)]
struct Packer {
    nodes: u64,
    cur: u64,
    cur_count: u64,
    alloc_sum: u64,
}

/// Per-key facts the model needs, gathered by visiting the value.
pub struct Shape {
    model: Model,
    /// Elements (list elements, members, fields, stream entries); 1 for a string.
    pub n: u64,
    /// Sum of the logical lengths of all strings.
    pub bytes: u64,
    /// Longest element.
    pub largest: u64,
    max_len: u64,
    all_int: bool,
    int_width: u64,
    lp: u64,
    zl: u64,
    zl_prev: u64,
    sds: u64,
    zset_nodes: u64,
    field_ttls: u64,
    packer_lp: Packer,
    packer_zl: Packer,
    zl_prev_node: u64,
    stream_nodes: Vec<[u8; 16]>,
    stream_lp: u64,
    stream_last_lp: u64,
    groups: Vec<Group>,
    vk_fields: u64,
    g17: bool,
    node_avg: u64,
}

#[derive(Default)]
struct Group {
    name: Vec<u8>,
    pel: Vec<[u8; 16]>,
    consumers: Vec<(Vec<u8>, Vec<[u8; 16]>)>,
}

impl Shape {
    /// An empty shape for `model`.
    pub fn new(model: Model, ty: Type) -> Shape {
        Shape {
            g17: ty == Type::ZsetZiplist || model.server < Server::Redis72,
            node_avg: zset_node(model.alloc),
            model,
            n: 0,
            bytes: 0,
            largest: 0,
            max_len: 0,
            all_int: true,
            int_width: 2,
            lp: 0,
            zl: 0,
            zl_prev: 0,
            sds: 0,
            zset_nodes: 0,
            field_ttls: 0,
            packer_lp: Packer::default(),
            packer_zl: Packer::default(),
            zl_prev_node: 0,
            stream_nodes: Vec::new(),
            stream_lp: 0,
            stream_last_lp: 0,
            groups: Vec::new(),
            vk_fields: 0,
        }
    }

    /// Records a string value of `len` bytes whose content was not held (a string that a
    /// stream passed through, [`rdbkit_rdb::Value::streamed_len`]): the same shape that
    /// visiting it would give.
    pub fn streamed_string(&mut self, len: u64) {
        self.n = 1;
        self.bytes = len;
        self.largest = len;
    }

    fn sds_of(&self, len: u64) -> u64 {
        self.model.alloc.usable(sds_hdr(len) + len + 1)
    }

    fn elem(&mut self, e: Elem) {
        self.bytes += e.len;
        self.largest = self.largest.max(e.len);
        self.max_len = self.max_len.max(e.len);
        match e.int {
            Some(v) => {
                let w = if i16::try_from(v).is_ok() {
                    2
                } else if i32::try_from(v).is_ok() {
                    4
                } else {
                    8
                };
                self.int_width = self.int_width.max(w);
            }
            None => self.all_int = false,
        }
        let l = lp_entry(&e);
        self.lp += l;
        let z = zl_entry(&e, self.zl_prev);
        self.zl += z;
        self.zl_prev = z;
        self.sds += self.sds_of(e.len);
        // quicklist packing by pushes (fill -2: nodes up to 8 KiB)
        let a = self.model.alloc;
        pack(&mut self.packer_lp, l, 8, a);
        let zp = if self.zl_prev_node < 254 { 1 } else { 5 };
        let z_node = if self.packer_zl.cur_count == 0 {
            z - zp + 1
        } else {
            z
        };
        self.zl_prev_node = z;
        pack(&mut self.packer_zl, z_node, 0, a);
    }
}

fn pack(p: &mut Packer, entry: u64, overhead: u64, a: Allocator) {
    let hdr = 7;
    if p.cur_count > 0 && p.cur + entry + overhead <= LIST_NODE_BYTES {
        p.cur += entry;
        p.cur_count += 1;
        return;
    }
    if p.cur_count > 0 {
        p.alloc_sum += a.usable(p.cur);
    }
    p.nodes += 1;
    p.cur = hdr + entry;
    p.cur_count = 1;
}

impl Packer {
    fn finish(&self, a: Allocator) -> (u64, u64) {
        if self.cur_count == 0 {
            return (self.nodes, self.alloc_sum);
        }
        (self.nodes, self.alloc_sum + a.usable(self.cur))
    }
}

impl Visitor for Shape {
    fn string(&mut self, s: Entry<'_>) -> VisitResult {
        self.streamed_string(s.logical_len() as u64);
        Ok(())
    }
    fn element(&mut self, e: Entry<'_>) -> VisitResult {
        self.n += 1;
        self.elem(Elem::of(e));
        Ok(())
    }
    fn zset_member(&mut self, m: Entry<'_>, score: f64) -> VisitResult {
        self.n += 1;
        let e = Elem::of(m);
        self.elem(e);
        let s = Elem::of_score(score, self.g17);
        self.lp += lp_entry(&s);
        let z = zl_entry(&s, self.zl_prev);
        self.zl += z;
        self.zl_prev = z;
        self.zset_nodes += self.node_avg;
        Ok(())
    }
    fn hash_field(&mut self, f: Entry<'_>, v: Entry<'_>, t: Option<i64>) -> VisitResult {
        self.n += 1;
        let (f, v) = (Elem::of(f), Elem::of(v));
        self.elem(f);
        self.elem(v);
        if t.is_some() {
            self.field_ttls += 1;
        }
        self.vk_fields += self
            .model
            .alloc
            .usable(1 + sds_hdr(f.len) + f.len + 1 + sds_hdr(v.len) + v.len + 1);
        Ok(())
    }
    fn stream_node(&mut self, master_id: StreamId, listpack_len: usize) -> VisitResult {
        self.stream_nodes.push(master_id.to_be_bytes());
        let a = self.model.alloc.usable(listpack_len as u64);
        self.stream_lp += a;
        self.stream_last_lp = a;
        Ok(())
    }
    fn stream_entry(&mut self, _id: StreamId) -> VisitResult {
        self.n += 1;
        Ok(())
    }
    fn stream_field(&mut self, f: Entry<'_>, v: Entry<'_>) -> VisitResult {
        self.bytes += (f.logical_len() + v.logical_len()) as u64;
        Ok(())
    }
    fn stream_group(&mut self, g: &GroupMeta<'_>) -> VisitResult {
        self.groups.push(Group {
            name: g.name.to_vec(),
            ..Group::default()
        });
        Ok(())
    }
    fn stream_pel(&mut self, id: StreamId, _t: i64, _c: u64) -> VisitResult {
        if let Some(g) = self.groups.last_mut() {
            g.pel.push(id.to_be_bytes());
        }
        Ok(())
    }
    fn stream_consumer(&mut self, name: &[u8], _s: i64, _a: Option<i64>) -> VisitResult {
        if let Some(g) = self.groups.last_mut() {
            g.consumers.push((name.to_vec(), Vec::new()));
        }
        Ok(())
    }
    fn stream_consumer_pel(&mut self, id: StreamId) -> VisitResult {
        if let Some(c) = self.groups.last_mut().and_then(|g| g.consumers.last_mut()) {
            c.1.push(id.to_be_bytes());
        }
        Ok(())
    }
}

/// Expected allocation of a skiplist node (levels drawn with P = 1/4, at most 32).
fn zset_node(a: Allocator) -> u64 {
    let mut e = 0.0;
    let mut p = 0.75;
    for level in 1..=32u64 {
        e += p * a.usable(24 + 16 * level) as f64;
        p *= 0.25;
    }
    e.round() as u64
}

/// For the non-empty, sorted `keys` below a rax node: when all share their first byte, the
/// length of the compressed run (as long as all keys share it and none ends inside it).
fn compressed_run(keys: &[&[u8]]) -> Option<usize> {
    let first = keys[0][0];
    if !keys.iter().all(|k| k[0] == first) {
        return None;
    }
    let mut l = 1;
    while !keys.iter().any(|k| k.len() == l) {
        let c = keys[0][l];
        if !keys.iter().all(|k| k[l] == c) {
            break;
        }
        l += 1;
    }
    Some(l)
}

/// For the non-empty, sorted `keys` below a branching rax node: `f` of each edge's keys (those
/// sharing a first byte), that byte removed.
fn for_each_edge(keys: &[&[u8]], mut f: impl FnMut(&[&[u8]])) {
    let mut i = 0;
    while i < keys.len() {
        let c = keys[i][0];
        let mut j = i;
        while j < keys.len() && keys[j][0] == c {
            j += 1;
        }
        let sub: Vec<&[u8]> = keys[i..j].iter().map(|k| &k[1..]).collect();
        f(&sub);
        i = j;
    }
}

/// Nodes of a rax holding `keys` (sorted, distinct): one per branching point, key end and
/// compressed run, as `raxInsert` builds it.
fn rax_nodes(keys: &[[u8; 16]]) -> u64 {
    fn count(keys: &[&[u8]]) -> u64 {
        let rest: Vec<&[u8]> = keys.iter().copied().filter(|k| !k.is_empty()).collect();
        if rest.is_empty() {
            return 1;
        }
        if let Some(l) = compressed_run(&rest) {
            let next: Vec<&[u8]> = rest.iter().map(|k| &k[l..]).collect();
            return 1 + count(&next);
        }
        let mut total = 1;
        for_each_edge(&rest, |sub| total += count(sub));
        total
    }
    let set: BTreeSet<&[u8; 16]> = keys.iter().collect();
    let v: Vec<&[u8]> = set.into_iter().map(|k| &k[..]).collect();
    count(&v)
}

/// Valkey 8.1's `raxAllocSize`: the allocations of the tree (its 32-byte struct and each
/// node: 4-byte header, the edge bytes padded to 8, a child pointer per edge (one for a
/// compressed run) and a value pointer on key nodes).
fn rax_alloc(keys: &[[u8; 16]], a: Allocator, head: u64) -> u64 {
    let v: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    rax_alloc_of(&v, a, head)
}

/// [`rax_alloc`] of keys of any length; `head` is `sizeof(rax)`.
fn rax_alloc_of(keys: &[&[u8]], a: Allocator, head: u64) -> u64 {
    fn walk(keys: &[&[u8]], a: Allocator, depth: u32) -> u64 {
        if depth > 64 {
            // names nested deeper than any real tree (a crafted file): a leaf per key
            return keys.len() as u64 * a.usable(16);
        }
        let is_key = keys.iter().any(|k| k.is_empty());
        let rest: Vec<&[u8]> = keys.iter().copied().filter(|k| !k.is_empty()).collect();
        let node = |size: u64, ptrs: u64| {
            let pad = (8 - ((size + 4) % 8)) & 7;
            a.usable(4 + size + pad + 8 * ptrs + if is_key { 8 } else { 0 })
        };
        if rest.is_empty() {
            return node(0, 0);
        }
        if let Some(l) = compressed_run(&rest) {
            let next: Vec<&[u8]> = rest.iter().map(|k| &k[l..]).collect();
            return node(l as u64, 1) + walk(&next, a, depth + 1);
        }
        let mut total = 0;
        let mut edges = 0;
        for_each_edge(&rest, |sub| {
            total += walk(sub, a, depth + 1);
            edges += 1;
        });
        total + node(edges, edges)
    }
    let set: BTreeSet<&[u8]> = keys.iter().copied().collect();
    let v: Vec<&[u8]> = set.into_iter().collect();
    a.usable(head) + walk(&v, a, 0)
}

/// `streamRadixTreeMemoryUsage`: 16 per element + (4 + 8 * 30) per node.
fn rax_usage(keys: &[[u8; 16]]) -> u64 {
    keys.len() as u64 * 16 + rax_nodes(keys) * 244
}

fn pow2_slots(n: u64) -> u64 {
    n.max(4).next_power_of_two()
}

/// Valkey 8.1's hashtable: 64-byte buckets of 7 entries, plus child buckets.
fn vk_hashtable(n: u64) -> u64 {
    let buckets = n.div_ceil(7).max(1).next_power_of_two();
    64 * buckets + n * 8 / 5 + 48
}

impl Model {
    /// The key's overhead in the keyspace as `MEMORY USAGE` counts it (dict entry + key sds),
    /// or for Valkey 8.1 the object allocation with the embedded key (without a value).
    fn key_part(&self, k: &KeyRecord<'_>, real: bool) -> u64 {
        let kl = k.key.len() as u64;
        let a = self.alloc;
        let entry = if real { a.usable(24) } else { 24 };
        match self.server {
            Server::Valkey81 => 0, // in the object allocation
            Server::Valkey80 => a.usable(24 + sds_hdr(kl) + kl + 1),
            _ => entry + a.usable(sds_hdr(kl) + kl + 1),
        }
    }

    /// The estimate of `MEMORY USAGE key SAMPLES 0` on the modelled server after it loaded the
    /// file.
    pub fn usage(&self, k: &KeyRecord<'_>, s: &Shape) -> u64 {
        self.key_part(k, false) + self.value(k, s, false)
    }

    /// What the key adds to INFO memory's `used_memory_dataset` (the usage without the
    /// keyspace's own dict entry and object header, which INFO counts as overhead).
    ///
    /// Unlike [`usage`](Self::usage) (which adds `sizeof` of the structures, as the server's
    /// `MEMORY USAGE` does), every allocation is rounded to the allocator's class here; the
    /// server subtracts `sizeof(dictEntry) + sizeof(robj)` per key and `sizeof(dictEntry)` per
    /// expiry from `used_memory` as overhead, so the rounding differences stay in the dataset.
    pub fn dataset(&self, k: &KeyRecord<'_>, s: &Shape) -> u64 {
        let a = self.alloc;
        let real = self.key_part(k, true) + self.value(k, s, true);
        let exp = k.expire_ms.is_some();
        match self.server {
            Server::Valkey81 => real.saturating_sub(16),
            _ => {
                let e = if exp { a.usable(24) - 24 } else { 0 };
                (real + e).saturating_sub(40)
            }
        }
    }

    fn value(&self, k: &KeyRecord<'_>, s: &Shape, real: bool) -> u64 {
        let a = self.alloc;
        let sv = self.server;
        let v = &k.value;
        let robj = if real { a.usable(16) } else { 16 };
        match v.ty {
            Type::String => {
                let len = s.bytes;
                let is_int = match v.string() {
                    Some(RdbString::Int(_)) => true,
                    Some(RdbString::Raw(b)) => {
                        b.len() <= 20
                            && rdbkit_rdb::internals::entry::parse_canonical_i64(b).is_some()
                    }
                    _ => false,
                };
                if sv.valkey81() {
                    let kl = k.key.len() as u64;
                    let exp = if k.expire_ms.is_some() { 8 } else { 0 };
                    let head = 16 + exp + 1 + sds_hdr(kl) + kl + 1;
                    if is_int {
                        return a.usable(head);
                    }
                    let emb = head + 3 + len + 1;
                    if emb <= 64 {
                        return a.usable(emb);
                    }
                    return a.usable(head) + s.sds_of(len);
                }
                if is_int {
                    robj
                } else if len <= 44 {
                    if sv.ge70() {
                        a.usable(robj + 3 + len + 1)
                    } else {
                        if real {
                            a.usable(16 + 3 + len + 1)
                        } else {
                            len + 2 + robj
                        }
                    }
                } else {
                    robj + s.sds_of(len)
                }
            }
            _ if sv.valkey81() => self.vk_head(k) + self.collection(k, s, real) - robj,
            _ => self.collection(k, s, real),
        }
    }

    /// Valkey 8.1's object allocation for a collection (header + embedded key + expiry).
    fn vk_head(&self, k: &KeyRecord<'_>) -> u64 {
        let kl = k.key.len() as u64;
        let exp = if k.expire_ms.is_some() { 8 } else { 0 };
        self.alloc.usable(16 + exp + 1 + sds_hdr(kl) + kl + 1)
    }

    fn collection(&self, k: &KeyRecord<'_>, s: &Shape, real: bool) -> u64 {
        let a = self.alloc;
        let sv = self.server;
        let v = &k.value;
        let z = |n: u64| if real { a.usable(n) } else { n };
        let robj = z(16);
        let dict = |n: u64| z(sv.dict_struct()) + z(8 * pow2_slots(n));
        // a compact blob as the server holds it: 6.2 counts the exact length of its
        // ziplists and intsets, 7.0+ the allocation.
        let compact = |len: u64| {
            if sv.ge70() || real {
                a.usable(len)
            } else {
                len
            }
        };
        let blob_len = || -> Option<u64> { v.blob().map(|b| b.len() as u64) };
        let lp_len = 7 + s.lp;
        let zl_len = 11 + s.zl;
        // A small zset or hash kept in one blob: the file's own when its encoding is the
        // server's (`lp` from 7.0, else `zl`), else the server's re-encoding of the elements.
        let small = |lp: Type, zl: Type| -> u64 {
            let same = if sv.ge70() { v.ty == lp } else { v.ty == zl };
            robj + match blob_len() {
                Some(l) if same => compact(l),
                // a ziplist converted into a listpack of its size, then shrunk
                Some(cap) if sv.ge70() => a.shrunk(cap, lp_len),
                _ if sv.ge70() => compact(lp_len),
                _ => compact(zl_len),
            }
        };
        let n = s.n;
        match v.ty {
            Type::ListQuicklist | Type::ListQuicklist2 | Type::ListZiplist | Type::ListLinked => {
                let mut nodes: Vec<(u64, bool)> = Vec::new(); // (decoded length, packed)
                let mut zl_total = 0u64;
                if let Some(Ok(it)) = v.quicklist_nodes() {
                    for node in it.flatten() {
                        let packed =
                            node.container == rdbkit_rdb::internals::quicklist::CONTAINER_PACKED;
                        let len = node.data.len() as u64;
                        nodes.push((len, packed));
                        zl_total += len;
                    }
                } else if v.ty == Type::ListZiplist {
                    let l = blob_len().unwrap_or(zl_len);
                    nodes.push((l, true));
                    zl_total = l;
                }
                let v2 = v.ty == Type::ListQuicklist2;
                if v.ty == Type::ListLinked {
                    // pushed one by one into fill -2 nodes
                    let (cnt, sum) = if sv.ge70() {
                        s.packer_lp.finish(a)
                    } else {
                        s.packer_zl.finish(a)
                    };
                    if sv >= Server::Redis72 && !sv.valkey81() && cnt == 1 {
                        return robj + a.usable(lp_len);
                    }
                    let sum = if sv.ge70() {
                        sum
                    } else {
                        // 6.2 counts the exact ziplist lengths
                        zl_len + 11 * cnt.saturating_sub(1)
                    };
                    return robj + z(40) + z(32) * cnt + sum;
                }
                // ziplist nodes converted to listpacks (7.0+): scale by the element sizes
                let conv = |len: u64| -> u64 {
                    if v2 || !sv.ge70() || zl_total == 0 {
                        len
                    } else {
                        (len as u128 * lp_len as u128 / zl_len.max(1) as u128) as u64
                    }
                };
                let from_old = v.ty == Type::ListZiplist && sv.valkey81();
                if sv >= Server::Redis72 && !from_old && nodes.len() == 1 && nodes[0].1 {
                    let l = conv(nodes[0].0);
                    if l <= LIST_NODE_BYTES {
                        // the node's listpack becomes the value
                        let alloc = if v2 {
                            a.usable(l)
                        } else {
                            a.shrunk(nodes[0].0, l)
                        };
                        return robj + alloc;
                    }
                }
                let mut sum = 0;
                for (len, _) in &nodes {
                    let node = if v2 || !sv.ge70() {
                        compact(*len)
                    } else {
                        a.shrunk(*len, conv(*len))
                    };
                    sum += z(32) + node;
                }
                robj + z(40) + sum
            }
            Type::SetIntset | Type::Set | Type::SetListpack => {
                if s.all_int && n <= SET_MAX_INTSET {
                    let l = 8 + s.int_width * n;
                    return robj + compact(l);
                }
                if sv >= Server::Redis72 && n <= SET_MAX_LISTPACK && s.max_len <= MAX_VALUE {
                    let l = if v.ty == Type::SetListpack {
                        blob_len().unwrap_or(lp_len)
                    } else {
                        lp_len
                    };
                    return robj + a.usable(l);
                }
                if sv.valkey81() {
                    return robj + vk_hashtable(n) + s.sds;
                }
                robj + dict(n) + z(24) * n + s.sds
            }
            Type::ZsetZiplist | Type::ZsetListpack | Type::ZsetText | Type::Zset2 => {
                if n <= ZSET_MAX_ENTRIES && s.max_len <= MAX_VALUE {
                    return small(Type::ZsetListpack, Type::ZsetZiplist);
                }
                let header = a.usable(24 + 32 * 16);
                let per = s.sds + s.zset_nodes;
                let index = if sv.valkey81() {
                    vk_hashtable(n)
                } else {
                    dict(n) + z(24) * n
                };
                robj + z(16) + z(32) + index + header + per
            }
            Type::HashZipmap
            | Type::HashZiplist
            | Type::HashListpack
            | Type::HashListpackEx
            | Type::HashListpackExPreGa
            | Type::Hash
            | Type::HashMetadata
            | Type::HashMetadataPreGa
            | Type::ValkeyHash2 => {
                if n <= HASH_MAX_ENTRIES && s.max_len <= MAX_VALUE {
                    let ttl = s.field_ttls > 0 && sv >= Server::Redis74;
                    if ttl {
                        // listpackex: a listpack of field, value, ttl triples (a TTL takes 10
                        // bytes, none 2) + its 32-byte struct
                        let l = match blob_len() {
                            Some(l) if v.ty == Type::HashListpackEx => l,
                            _ => lp_len + 2 * (n - s.field_ttls) + 10 * s.field_ttls,
                        };
                        return robj + a.usable(32) + a.usable(l);
                    }
                    return small(Type::HashListpack, Type::HashZiplist);
                }
                if sv.valkey81() {
                    // one allocation per field with its value
                    return robj + vk_hashtable(n) + s.vk_fields;
                }
                let ttl = if s.field_ttls > 0 && sv >= Server::Redis74 {
                    // field sds with an embedded expiry (hfield) + the dict metadata
                    8 * s.field_ttls + 32
                } else {
                    0
                };
                robj + dict(n) + z(24) * n + s.sds + ttl
            }
            Type::StreamListpacks
            | Type::StreamListpacks2
            | Type::StreamListpacks3
            | Type::StreamListpacks4
            | Type::StreamListpacks5 => {
                let st = if sv.ge70() { 80 } else { 40 };
                let cg = if sv.ge70() { 40 } else { 32 };
                let consumer = if sv >= Server::Redis72 { 32 } else { 24 };
                // MEMORY USAGE: Redis's streamRadixTreeMemoryUsage, Valkey 8.1's raxAllocSize;
                // the allocations themselves for the dataset.
                let head = if sv.valkey81() { 32 } else { 24 };
                let rax = |keys: &[[u8; 16]]| {
                    if sv.valkey81() || real {
                        rax_alloc(keys, a, head)
                    } else {
                        rax_usage(keys)
                    }
                };
                let mut t = robj + z(st) + rax(&s.stream_nodes) + s.stream_lp;
                if real && !s.groups.is_empty() {
                    let names: Vec<&[u8]> = s.groups.iter().map(|g| &g.name[..]).collect();
                    t += rax_alloc_of(&names, a, head);
                }
                for g in &s.groups {
                    t += z(cg) + rax(&g.pel) + z(24) * g.pel.len() as u64;
                    if real {
                        let names: Vec<&[u8]> = g.consumers.iter().map(|c| &c.0[..]).collect();
                        t += rax_alloc_of(&names, a, head);
                    }
                    for (name, pel) in &g.consumers {
                        let name = if real {
                            s.sds_of(name.len() as u64)
                        } else {
                            name.len() as u64
                        };
                        t += z(consumer) + name + rax(pel);
                    }
                }
                t
            }
            _ => robj + v.raw().len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The length of `%.17g` as the two formatted forms give it (the reference
    /// [`g17_len`] must equal).
    fn g17_len_formatted(s: f64) -> usize {
        if s.is_infinite() {
            return if s < 0.0 { 4 } else { 3 };
        }
        if s.is_nan() {
            return 3;
        }
        let sci = format!("{s:.16e}");
        let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
        let x: i32 = exp.parse().unwrap_or(0);
        if !(-4..17).contains(&x) {
            let m = mant.trim_end_matches('0').trim_end_matches('.');
            let e = format!("{}{:02}", if x < 0 { '-' } else { '+' }, x.abs());
            m.len() + 1 + e.len()
        } else {
            let f = format!("{:.*}", (16 - x).max(0) as usize, s);
            let f = if f.contains('.') {
                f.trim_end_matches('0').trim_end_matches('.').to_string()
            } else {
                f
            };
            f.len()
        }
    }

    /// `g17_len` counts what formatting both forms gives, for edge values (every power of ten
    /// around the -4 and 17 exponent switches, carries to a new digit, subnormals, the
    /// extremes, signs) and a million pseudo-random doubles of every magnitude.
    #[test]
    fn g17_len_is_the_formatted_length() {
        let mut vals = vec![
            0.1,
            0.5,
            1.5,
            -2.25,
            1e-5,
            1e-4,
            // The doubles just below 1e-4 and 1e17 (their 17 digits carry to a new one).
            f64::from_bits(1e-4f64.to_bits() - 1),
            0.00012345,
            1e16,
            1e17,
            f64::from_bits(1e17f64.to_bits() - 1),
            12345678901234567.0,
            123456789012345678.0,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            1e100,
            1e-100,
            1.0 / 3.0,
            2.0 / 3.0,
            0.30000000000000004,
            std::f64::consts::PI * 1e15,
        ];
        // Dyadic values: exact expansions long enough for a tie at the 18th digit.
        for n in 0..80 {
            let p = 2f64.powi(-n);
            vals.extend([
                p,
                3.0 * p,
                1.0 + p,
                1e5 + p,
                (2f64.powi(53) - 1.0) * p,
                0.0001 + p,
            ]);
        }
        for e in -320..=308 {
            let p = 10f64.powi(e);
            vals.extend([p, -p, p * 0.999_999_999_999_999_9, p * 1.5, p / 3.0]);
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..1_000_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = f64::from_bits(x);
            if v.is_finite() {
                vals.push(v);
            }
            // Scores as applications write them: modest magnitudes, few decimals.
            vals.push((x % 10_000_000) as f64 / 1000.0);
            // Full mantissas over the whole fixed-form range (1e-4 .. 1e17), both signs.
            let f = (x >> 11) as f64 / (1u64 << 53) as f64;
            let v = 1e-4 * 10f64.powf(21.0 * f);
            vals.push(if x & 1 == 1 { -v } else { v });
        }
        for v in vals {
            assert_eq!(g17_len(v), g17_len_formatted(v), "{v:e}");
        }
    }

    #[test]
    fn allocators() {
        assert_eq!(jemalloc(1), 8);
        assert_eq!(jemalloc(17), 32);
        assert_eq!(jemalloc(129), 160);
        assert_eq!(jemalloc(1025), 1280);
        // glibc: 16-byte chunks with 8 bytes overhead, 24 usable at least
        assert_eq!(Allocator::Libc.usable(3), 24);
        assert_eq!(Allocator::Libc.usable(45), 56);
        assert_eq!(Allocator::Libc.usable(104), 104);
        assert_eq!(Allocator::Libc.usable(1006), 1016);
    }

    #[test]
    fn rax_shapes() {
        let id = |ms: u64, seq: u64| StreamId { ms, seq }.to_be_bytes();
        // one key: the root's compressed run + the key node
        assert_eq!(rax_nodes(&[id(1, 0)]), 2);
        assert_eq!(rax_nodes(&[]), 1);
        // two keys differing in the last byte: run, branch node, two leaves
        assert_eq!(rax_nodes(&[id(1, 0), id(1, 1)]), 4);
    }

    #[test]
    fn rax_of_deeply_nested_names_is_bounded() {
        // "a", "aa", "aaa", ...: one branch point per name; no deep recursion
        let names: Vec<Vec<u8>> = (1..5000).map(|n| vec![b'a'; n]).collect();
        let refs: Vec<&[u8]> = names.iter().map(|n| &n[..]).collect();
        let total = rax_alloc_of(&refs, Allocator::Jemalloc, 24);
        assert!(total > 5000 * 16, "{total}");
    }

    #[test]
    fn writers() {
        assert_eq!(Server::from_writer(false, "7.0.15"), Server::Redis70);
        assert_eq!(Server::from_writer(false, "2.8.24"), Server::Redis62);
        assert_eq!(Server::from_writer(true, "8.1.8"), Server::Valkey81);
        assert_eq!(Server::from_writer(false, "8.0.0"), Server::Redis74);
    }
}
