//! `rdbkit size`: where the bytes are. The biggest keys by serialized size and by element count,
//! totals per database, type, encoding and key prefix, and an estimate of each key's memory in a
//! server (the redis-rdb-tools memory-report idea, with a simpler model, below).
//!
//! Memory stays flat: only the top N keys per ranking and the per-group totals are kept.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use rdbkit_rdb::{Entry, KeyRecord, Record, Scratch, StreamId, Type, VisitResult, Visitor};
use serde_json::json;

use crate::filter::{escape_key, Filter, FilterArgs};
use crate::input::{self, Progress};

#[derive(clap::Args)]
#[command(after_help = "Sizes:
  bytes     the key's serialized size in the file: expiry/idle/freq records, type byte, key and \
value, as stored (LZF-compressed parts count compressed).
  elements  list elements, set/zset members, hash fields, stream entries; 1 for a string.
  memory    an estimate of the server's memory for the key (64-bit, jemalloc size classes):
            per key 24 (dict entry) + key sds + 16 (robj) [+ 24 with an expiry];
            strings: 0 when an integer, else the sds; compact encodings (listpack, ziplist, \
intset, zipmap, listpackex): the blob's decoded length; quicklists: 40 + 32 per node + each \
element + 2; hashtable sets/hashes: a dict (96 + 8 per bucket, buckets = next power of two) + \
per element 24 + sds of each string; skiplist zsets: the dict + per member an sds + 40 + 16 \
per level (1.33 average); streams: the serialized value + 96 per group + 48 per pending entry; \
modules: the serialized value. An sds of n bytes is n + 3 (n < 256), n + 5 (< 65536) or n + 9, \
plus 1, rounded up to the allocator's size class. It is an estimate for comparing keys, not \
INFO's used_memory.

Output: a table (default); --json: the whole report; --csv: one row per key (all keys that pass \
the filters) with database,type,key,size_in_bytes,encoding,num_elements,len_largest_element,\
expiry,memory — the columns of redis-rdb-tools' memory report plus ours. Keys in CSV are escaped \
like `rdbkit keys` prints them.

Examples:
  rdbkit size dump.rdb --top 20
  rdbkit size dump.rdb.gz --prefix-separator : --prefix-depth 2 --json
  rdbkit size dump.rdb --csv --type hash > hashes.csv

Exit status: 0 success; 1 usage error or the input cannot be opened; 2 the file is damaged or \
unsupported.")]
pub struct Args {
    /// How many keys to list per ranking.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Report as JSON.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// One CSV row per key.
    #[arg(long)]
    pub csv: bool,
    /// Group keys by prefix up to the N-th separator (see --prefix-depth).
    #[arg(long, value_name = "SEP", default_value = ":")]
    pub prefix_separator: String,
    /// How many separator-delimited parts form the prefix (0: no prefix report).
    #[arg(long, value_name = "D", default_value_t = 1)]
    pub prefix_depth: usize,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Do not verify the CRC-64 trailer.
    #[arg(long)]
    pub no_checksum: bool,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    /// RDB file (also gzip'd, or `-` for standard input).
    pub file: PathBuf,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    n: u64,
    bytes: u64,
    largest: u64,
    str_bytes: u64,
    nodes: u64,
    groups: u64,
    pel: u64,
}

impl Visitor for Counts {
    fn string(&mut self, s: Entry<'_>) -> VisitResult {
        self.n = 1;
        self.add(s.logical_len());
        Ok(())
    }
    fn element(&mut self, e: Entry<'_>) -> VisitResult {
        self.n += 1;
        self.add(e.logical_len());
        Ok(())
    }
    fn zset_member(&mut self, m: Entry<'_>, _s: f64) -> VisitResult {
        self.n += 1;
        self.add(m.logical_len());
        Ok(())
    }
    fn hash_field(&mut self, f: Entry<'_>, v: Entry<'_>, _t: Option<i64>) -> VisitResult {
        self.n += 1;
        self.add(f.logical_len());
        self.add(v.logical_len());
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
    fn stream_group(&mut self, _g: &rdbkit_rdb::GroupMeta<'_>) -> VisitResult {
        self.groups += 1;
        Ok(())
    }
    fn stream_pel(&mut self, _id: StreamId, _t: i64, _c: u64) -> VisitResult {
        self.pel += 1;
        Ok(())
    }
}

impl Counts {
    fn add(&mut self, len: usize) {
        let l = len as u64;
        self.bytes += l;
        self.largest = self.largest.max(l);
        self.str_bytes += sds(len);
    }
}

/// jemalloc's size class for `n` bytes (8, 16, 32, 48, ... four classes per doubling).
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

fn sds(n: usize) -> u64 {
    let hdr = if n < 256 {
        3
    } else if n < 65536 {
        5
    } else {
        9
    };
    jemalloc(n as u64 + hdr + 1)
}

fn dict(n: u64) -> u64 {
    96 + 8 * n.max(1).next_power_of_two()
}

/// The memory estimate (see --help).
fn memory(k: &KeyRecord<'_>, c: &Counts, scratch_len: Option<usize>) -> u64 {
    let base = 24 + sds(k.key.len()) + 16 + if k.expire_ms.is_some() { 24 } else { 0 };
    let v = &k.value;
    let val = match v.ty {
        Type::String => match v.encoding() {
            "int" => 0,
            _ => c.str_bytes,
        },
        Type::ListQuicklist | Type::ListQuicklist2 => 40 + 32 * c.nodes.max(1) + c.bytes + 2 * c.n,
        Type::ListLinked => 48 + c.n * (40 + 16) + c.str_bytes,
        Type::Set
        | Type::Hash
        | Type::HashMetadata
        | Type::HashMetadataPreGa
        | Type::ValkeyHash2 => dict(c.n) + 24 * c.n + c.str_bytes,
        Type::ZsetText | Type::Zset2 => dict(c.n) + c.n * (24 + 40 + 21) + c.str_bytes,
        Type::StreamListpacks
        | Type::StreamListpacks2
        | Type::StreamListpacks3
        | Type::StreamListpacks4 => v.raw().len() as u64 + 96 * c.groups + 48 * c.pel,
        Type::Module2 | Type::ModulePreGa => v.raw().len() as u64,
        _ => jemalloc(scratch_len.unwrap_or(v.raw().len()) as u64),
    };
    base + val
}

struct KeyRow {
    db: u64,
    key: Vec<u8>,
    ty: &'static str,
    encoding: &'static str,
    bytes: u64,
    elements: u64,
    largest: u64,
    memory: u64,
    expire: Option<i64>,
}

#[derive(Default, Clone, Copy)]
struct Total {
    keys: u64,
    bytes: u64,
    elements: u64,
    memory: u64,
}

impl Total {
    fn add(&mut self, r: &KeyRow) {
        self.keys += 1;
        self.bytes += r.bytes;
        self.elements += r.elements;
        self.memory += r.memory;
    }
}

/// (score, smaller (db, key) ranks higher, slot in `rows`)
type Ranked = (u64, Reverse<(u64, Vec<u8>)>, usize);

/// Keeps the N largest by a score, ties broken by (db, key) for stable output.
struct Top {
    n: usize,
    heap: BinaryHeap<Reverse<Ranked>>,
    rows: Vec<Option<KeyRow>>,
}

impl Top {
    fn new(n: usize) -> Top {
        Top {
            n,
            heap: BinaryHeap::new(),
            rows: Vec::new(),
        }
    }
    fn offer(&mut self, score: u64, row: impl FnOnce() -> KeyRow, db: u64, key: &[u8]) {
        if self.n == 0 {
            return;
        }
        let ord = (score, Reverse((db, key.to_vec())));
        if self.heap.len() == self.n {
            match self.heap.peek() {
                Some(Reverse((s, k, _))) if (*s, k.clone()) >= ord => return,
                _ => {}
            }
            if let Some(Reverse((_, _, slot))) = self.heap.pop() {
                self.rows[slot] = Some(row());
                self.heap.push(Reverse((ord.0, ord.1, slot)));
            }
            return;
        }
        self.rows.push(Some(row()));
        self.heap.push(Reverse((ord.0, ord.1, self.rows.len() - 1)));
    }
    fn sorted(self) -> Vec<KeyRow> {
        let mut v: Vec<_> = self.heap.into_vec();
        v.sort_by(|a, b| b.0.cmp(&a.0));
        let mut rows = self.rows;
        v.into_iter()
            .filter_map(|Reverse((_, _, slot))| rows.get_mut(slot).and_then(Option::take))
            .collect()
    }
}

fn prefix_of(key: &[u8], sep: &[u8], depth: usize) -> Vec<u8> {
    if sep.is_empty() || depth == 0 {
        return key.to_vec();
    }
    let mut found = 0;
    let mut i = 0;
    while i + sep.len() <= key.len() {
        if &key[i..i + sep.len()] == sep {
            found += 1;
            if found == depth {
                return key[..i + sep.len()].to_vec();
            }
            i += sep.len();
        } else {
            i += 1;
        }
    }
    key.to_vec()
}

pub fn run(args: Args) -> ExitCode {
    let filter = match Filter::new(&args.filter) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("rdbkit size: {e}");
            return ExitCode::from(1);
        }
    };
    let (inp, opts) = match input::open_for_reading(&args.file, args.no_checksum) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let name = inp.name.clone();
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut by_bytes = Top::new(args.top);
    let mut by_elements = Top::new(args.top);
    let mut per_db: BTreeMap<u64, Total> = BTreeMap::new();
    let mut per_type: BTreeMap<&'static str, Total> = BTreeMap::new();
    let mut per_enc: BTreeMap<(&'static str, &'static str), Total> = BTreeMap::new();
    let mut per_prefix: BTreeMap<Vec<u8>, Total> = BTreeMap::new();
    let mut all = Total::default();
    let mut progress = Progress::new(inp.size, args.quiet);
    if args.csv {
        let _ = out.write_all(
            b"database,type,key,size_in_bytes,encoding,num_elements,len_largest_element,expiry,memory\n",
        );
    }
    let sep = args.prefix_separator.as_bytes().to_vec();
    let r = inp.with_rdb(opts, false, |src| -> Result<(), String> {
        let mut scratch = Scratch::new();
        while let Some(rec) = src.next_record() {
            let k = match rec {
                Err(e) => return Err(format!("{name}: {e}")),
                Ok(Record::Key(k)) => k,
                Ok(_) => continue,
            };
            progress.set(k.end);
            let ty = k.value.ty.family();
            let bytes = k.end - k.offset;
            if !filter.accepts(k.db, k.key, ty, k.expire_ms, Some(bytes)) {
                continue;
            }
            let mut c = Counts::default();
            k.value
                .visit(&mut scratch, &mut c, false)
                .map_err(|e| format!("{name}: {}", e.in_key(Some(k.db), k.key)))?;
            if let Some(Ok(nodes)) = k.value.quicklist_nodes() {
                c.nodes = nodes.count() as u64;
            }
            let blob_len = k.value.blob().map(|b| b.len());
            let row = KeyRow {
                db: k.db,
                key: k.key.to_vec(),
                ty,
                encoding: k.value.encoding(),
                bytes,
                elements: c.n,
                largest: c.largest,
                memory: memory(&k, &c, blob_len),
                expire: k.expire_ms,
            };
            if args.csv {
                let line = format!(
                    "{},{},{},{},{},{},{},{},{}\n",
                    row.db,
                    row.ty,
                    csv_field(&escape_key(&row.key)),
                    row.bytes,
                    row.encoding,
                    row.elements,
                    row.largest,
                    row.expire
                        .map(crate::filter::format_utc)
                        .unwrap_or_default(),
                    row.memory
                );
                out.write_all(line.as_bytes())
                    .map_err(crate::cmd::keys::io_msg)?;
                continue;
            }
            per_db.entry(row.db).or_default().add(&row);
            per_type.entry(row.ty).or_default().add(&row);
            per_enc.entry((row.ty, row.encoding)).or_default().add(&row);
            if args.prefix_depth > 0 {
                per_prefix
                    .entry(prefix_of(&row.key, &sep, args.prefix_depth))
                    .or_default()
                    .add(&row);
            }
            all.add(&row);
            let (b, e, db) = (row.bytes, row.elements, row.db);
            let key = row.key.clone();
            let dup = KeyRow {
                key: key.clone(),
                ..row
            };
            by_bytes.offer(b, || dup, db, &key);
            by_elements.offer(e, || row, db, &key);
        }
        Ok(())
    });
    progress.finish();
    let result = r.map(|inner| {
        inner?;
        if args.csv {
            return Ok(());
        }
        let top_b = by_bytes.sorted();
        let top_e = by_elements.sorted();
        let text = if args.json {
            let row = |r: &KeyRow| {
                json!({"db": r.db, "key": escape_key(&r.key), "type": r.ty, "encoding": r.encoding,
                       "bytes": r.bytes, "elements": r.elements, "len_largest_element": r.largest,
                       "memory": r.memory})
            };
            let tot = |t: &Total| {
                json!({"keys": t.keys, "bytes": t.bytes, "elements": t.elements, "memory": t.memory})
            };
            let mut prefixes: Vec<(&Vec<u8>, &Total)> = per_prefix.iter().collect();
            prefixes.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(b.0)));
            let j = json!({
                "total": tot(&all),
                "top_by_bytes": top_b.iter().map(row).collect::<Vec<_>>(),
                "top_by_elements": top_e.iter().map(row).collect::<Vec<_>>(),
                "dbs": per_db.iter().map(|(d, t)| (d.to_string(), tot(t))).collect::<serde_json::Map<_, _>>(),
                "types": per_type.iter().map(|(d, t)| (d.to_string(), tot(t))).collect::<serde_json::Map<_, _>>(),
                "encodings": per_enc.iter().map(|((ty, e), t)| (format!("{ty}/{e}"), tot(t))).collect::<serde_json::Map<_, _>>(),
                "prefixes": prefixes.iter().take(args.top.max(1) * 5).map(|(p, t)| {
                    let mut o = tot(t);
                    o["prefix"] = json!(escape_key(p));
                    o
                }).collect::<Vec<_>>(),
            });
            serde_json::to_string_pretty(&j).unwrap_or_default() + "\n"
        } else {
            table(&all, &top_b, &top_e, &per_db, &per_type, &per_enc, &per_prefix, args.top)
        };
        out.write_all(text.as_bytes())
            .map_err(crate::cmd::keys::io_msg)
    });
    let flushed = out.flush();
    crate::cmd::keys::finish(result, flushed)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[allow(clippy::too_many_arguments)]
fn table(
    all: &Total,
    top_b: &[KeyRow],
    top_e: &[KeyRow],
    per_db: &BTreeMap<u64, Total>,
    per_type: &BTreeMap<&'static str, Total>,
    per_enc: &BTreeMap<(&'static str, &'static str), Total>,
    per_prefix: &BTreeMap<Vec<u8>, Total>,
    top: usize,
) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "total: {} keys, {} bytes serialized, {} elements, ~{} bytes in memory",
        all.keys, all.bytes, all.elements, all.memory
    );
    let rows = |s: &mut String, title: &str, v: &[KeyRow]| {
        let _ = writeln!(s, "\n{title}");
        let _ = writeln!(
            s,
            "{:>4} {:<7} {:<11} {:>12} {:>10} {:>12}  key",
            "db", "type", "encoding", "bytes", "elements", "memory"
        );
        for r in v {
            let _ = writeln!(
                s,
                "{:>4} {:<7} {:<11} {:>12} {:>10} {:>12}  {}",
                r.db,
                r.ty,
                r.encoding,
                r.bytes,
                r.elements,
                r.memory,
                escape_key(&r.key)
            );
        }
    };
    rows(&mut s, &format!("biggest keys by bytes (top {top})"), top_b);
    rows(
        &mut s,
        &format!("biggest keys by elements (top {top})"),
        top_e,
    );
    let group = |s: &mut String, title: &str, v: Vec<(String, Total)>| {
        let _ = writeln!(s, "\n{title}");
        let _ = writeln!(
            s,
            "{:<24} {:>10} {:>14} {:>12} {:>14}",
            "", "keys", "bytes", "elements", "memory"
        );
        for (k, t) in v {
            let _ = writeln!(
                s,
                "{:<24} {:>10} {:>14} {:>12} {:>14}",
                k, t.keys, t.bytes, t.elements, t.memory
            );
        }
    };
    group(
        &mut s,
        "per database",
        per_db
            .iter()
            .map(|(k, t)| (format!("db {k}"), *t))
            .collect(),
    );
    group(
        &mut s,
        "per type",
        per_type.iter().map(|(k, t)| (k.to_string(), *t)).collect(),
    );
    group(
        &mut s,
        "per encoding",
        per_enc
            .iter()
            .map(|((ty, e), t)| (format!("{ty}/{e}"), *t))
            .collect(),
    );
    if !per_prefix.is_empty() {
        let mut p: Vec<(&Vec<u8>, &Total)> = per_prefix.iter().collect();
        p.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(b.0)));
        group(
            &mut s,
            &format!("top prefixes by bytes (of {})", p.len()),
            p.into_iter()
                .take(top.max(1) * 2)
                .map(|(k, t)| (escape_key(k), *t))
                .collect(),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes() {
        assert_eq!(jemalloc(1), 8);
        assert_eq!(jemalloc(17), 32);
        assert_eq!(jemalloc(129), 160);
        assert_eq!(jemalloc(1025), 1280);
        assert_eq!(sds(5), 16);
    }

    #[test]
    fn prefixes() {
        assert_eq!(prefix_of(b"user:1:name", b":", 1), b"user:");
        assert_eq!(prefix_of(b"user:1:name", b":", 2), b"user:1:");
        assert_eq!(prefix_of(b"plain", b":", 1), b"plain");
    }
}
