//! `rdbkit size`: where the memory goes. Keys ranked by their estimated memory in a server
//! (default; or by serialized size, or element count), totals per database, type, encoding and
//! key prefix (the redis-rdb-tools memory-report idea, with the model in [`crate::memory`]).
//!
//! Memory stays flat: only the top N keys per ranking and the per-group totals are kept.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use rdbkit_rdb::{Record, Scratch};
use serde_json::json;

use crate::export::html::{Collector, FileFacts, Sums};
use crate::failure::Failure;
use crate::filter::{escape_key, Filter, FilterArgs};
use crate::input::{self, Progress};
use crate::memory::{Allocator, Model, Server, Shape};

#[derive(clap::Args)]
#[command(after_help = "Measures (--by, default memory):
  memory    the estimate of what the server answers to MEMORY USAGE key SAMPLES 0 once it has \
loaded the file (key, dict entry, object and value as that server lays them out; see the \
README's `rdbkit size` section for the model). The model follows the file's writer \
(redis-ver / valkey-ver aux field) unless --model names one; --allocator says how allocations \
are rounded (jemalloc size classes, Redis's default build, or glibc malloc for MALLOC=libc \
builds: INFO memory's mem_allocator tells).
  bytes     the key's serialized size in the file: expiry/idle/freq records, type byte, key and \
value, as stored (LZF-compressed parts count compressed).
  elements  list elements, set/zset members, hash fields, stream entries; 1 for a string.

Prefixes (--prefix-depth N, separator --prefix-separator): a key is cut at the separator into \
segments; segments that look like identifiers (all digits, a UUID, or 8+ hex digits with a \
digit among them) are folded to `*`; a last segment that is such an identifier is the key's \
own id and is left out; the prefix is the first N remaining segments. So user:42 and user:43 \
fall under `user:`, order:17:items and order:18:items under `order:*:items` (depth 3), and \
session:6f1c…-…:ttl under `session:*:ttl`.

Output: a table with human units (KiB, MiB, GiB; default); --json: the whole report, exact \
numbers; --csv: one row per key (all keys that pass the filters) with the columns of \
redis-rdb-tools' memory report — database,type,key,size_in_bytes,encoding,num_elements,\
len_largest_element,expiry — where size_in_bytes is the memory estimate as in rdb-tools, then \
file_bytes (the serialized size). Keys in CSV are escaped like `rdbkit keys` prints them.

Examples:
  rdbkit size dump.rdb --top 20
  rdbkit size dump.rdb --model valkey-8.1 --allocator libc
  rdbkit size dump.rdb.gz --prefix-separator : --prefix-depth 2 --json
  rdbkit size dump.rdb --csv --type hash > hashes.csv
  rdbkit size shard-*.rdb --html cluster.html

Several files (every shard of a cluster): one report over all of them — totals, groups, \
prefixes and the biggest keys aggregated across the files (each file's keys estimated with its \
own writer's model unless --model), plus a per-file table; --json adds `files` (each file's \
totals) and a `file` to every biggest key. --csv takes one file. A damaged file stops \
everything: nothing is printed or written, the message names the file, exit status 2.

Exit status: 0 success; 1 usage error or the input cannot be opened; 2 the file is damaged or \
unsupported.")]
pub struct Args {
    /// How many keys to list per ranking.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// What to rank keys and prefixes by.
    #[arg(long, value_enum, default_value_t = By::Memory)]
    pub by: By,
    /// The server whose memory layout is estimated (default: the file's writer).
    #[arg(long, value_name = "SERVER", value_parser = clap::builder::PossibleValuesParser::new(Server::NAMES))]
    pub model: Option<String>,
    /// The allocator the server was built with (INFO memory: mem_allocator).
    #[arg(long, value_enum, default_value_t = Allocator::Jemalloc)]
    pub allocator: Allocator,
    /// Report as JSON.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// One CSV row per key.
    #[arg(long)]
    pub csv: bool,
    /// Also write a self-contained HTML report (file facts, a zoomable treemap by prefix,
    /// breakdowns, keys by time to live relative to --now, biggest keys) to this file
    /// (replaced atomically if it exists).
    #[arg(long, value_name = "FILE", conflicts_with = "csv")]
    pub html: Option<PathBuf>,
    /// Group keys by prefix (see --prefix-depth).
    #[arg(long, value_name = "SEP", default_value = ":")]
    pub prefix_separator: String,
    /// How many separator-delimited segments form the prefix (0: no prefix report).
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
    /// RDB file(s) (also compressed, or `-` for standard input). Several files (every shard
    /// of a cluster, every part of a split backup): one report over all of them.
    #[arg(required = true, num_args = 1.., value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// What `size` ranks by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    /// The estimated memory in the server.
    Memory,
    /// The serialized size in the file.
    Bytes,
    /// The element count.
    Elements,
}

impl By {
    fn name(self) -> &'static str {
        match self {
            By::Memory => "memory",
            By::Bytes => "bytes",
            By::Elements => "elements",
        }
    }
    fn of_row(self, r: &KeyRow) -> u64 {
        match self {
            By::Memory => r.memory,
            By::Bytes => r.bytes,
            By::Elements => r.elements,
        }
    }
    fn of_total(self, t: &Total) -> u64 {
        match self {
            By::Memory => t.memory,
            By::Bytes => t.bytes,
            By::Elements => t.elements,
        }
    }
}

/// `n` bytes in binary units (`512 B`, `1.5 KiB`, `3.2 MiB`).
pub fn human(n: u64) -> String {
    const U: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < U.len() {
        v /= 1024.0;
        i += 1;
    }
    if v < 10.0 {
        format!("{v:.2} {}", U[i])
    } else if v < 100.0 {
        format!("{v:.1} {}", U[i])
    } else {
        format!("{v:.0} {}", U[i])
    }
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
    dataset: u64,
    expire: Option<i64>,
    /// the input it was read from (its index on the command line)
    file: usize,
}

#[derive(Default, Clone, Copy)]
struct Total {
    keys: u64,
    bytes: u64,
    elements: u64,
    memory: u64,
    dataset: u64,
}

impl Total {
    fn add(&mut self, r: &KeyRow) {
        self.keys += 1;
        self.bytes += r.bytes;
        self.elements += r.elements;
        self.memory += r.memory;
        self.dataset += r.dataset;
    }
}

/// (score, smaller (db, key, file index) ranks higher, slot in `rows`)
type Ranked = (u64, Reverse<(u64, Vec<u8>, usize)>, usize);

/// Keeps the N largest by a score, ties broken by (db, key, file) for stable output.
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
    fn offer(&mut self, score: u64, row: impl FnOnce() -> KeyRow, at: (u64, &[u8], usize)) {
        if self.n == 0 {
            return;
        }
        let (db, key, file) = at;
        let ord = (score, Reverse((db, key.to_vec(), file)));
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

/// True for a key segment that is an identifier rather than a name: all digits, a UUID, or
/// 8+ hex digits with at least one digit.
pub fn is_id_segment(seg: &[u8]) -> bool {
    if seg.is_empty() {
        return false;
    }
    if seg.iter().all(u8::is_ascii_digit) {
        return true;
    }
    let hexish = |b: &[u8]| b.iter().all(u8::is_ascii_hexdigit);
    if seg.len() == 36 {
        let parts: Vec<&[u8]> = seg.split(|&c| c == b'-').collect();
        let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        if lens == [8, 4, 4, 4, 12] && parts.iter().all(|p| hexish(p)) {
            return true;
        }
    }
    seg.len() >= 8 && hexish(seg) && seg.iter().any(u8::is_ascii_digit)
}

/// The group of `key` at `depth` (see `--help`): identifier segments folded to `*`, a last
/// identifier segment left out, the first `depth` segments kept.
pub fn prefix_of(key: &[u8], sep: &[u8], depth: usize) -> Vec<u8> {
    if sep.is_empty() || depth == 0 {
        return key.to_vec();
    }
    let mut segs: Vec<&[u8]> = Vec::new();
    let mut rest = key;
    while let Some(i) = rest.windows(sep.len()).position(|w| w == sep) {
        segs.push(&rest[..i]);
        rest = &rest[i + sep.len()..];
    }
    segs.push(rest);
    let n = segs.len();
    // the key's own identifier is no part of its group
    let mut keep = if n > 1 && is_id_segment(segs[n - 1]) {
        n - 1
    } else {
        n
    };
    let cut = keep > depth || keep < n;
    keep = keep.min(depth);
    let mut out = Vec::with_capacity(key.len());
    for (i, seg) in segs[..keep].iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(sep);
        }
        if is_id_segment(seg) {
            out.push(b'*');
        } else {
            out.extend_from_slice(seg);
        }
    }
    if cut {
        out.extend_from_slice(sep);
    }
    out
}

/// The model for `--model`, or else the file's writer (`redis-ver`/`valkey-ver`).
fn choose_model(args: &Args, writer: Option<(bool, &str)>) -> Model {
    let server = args
        .model
        .as_deref()
        .and_then(Server::parse)
        .unwrap_or_else(|| match writer {
            Some((valkey, ver)) => Server::from_writer(valkey, ver),
            None => Server::Redis62,
        });
    Model {
        server,
        alloc: args.allocator,
    }
}

/// Runs `rdbkit size`: the report of every file read, or the first file's failure (nothing
/// written then but the CSV rows already streamed).
pub fn run(args: Args) -> Result<(), Failure> {
    let filter = Filter::new(&args.filter).map_err(Failure::Usage)?;
    let multi = args.files.len() > 1;
    if multi && args.csv {
        return Err(Failure::Usage(
            "--csv takes one file (its columns are redis-rdb-tools', with no file column); \
             `rdbkit export FILE... --format csv` writes the keys of several files with their source"
                .into(),
        ));
    }
    if args.files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
        return Err(Failure::Usage(
            "standard input (`-`) can be read only once".into(),
        ));
    }
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut ranked = Top::new(args.top);
    let mut by_elements = Top::new(args.top);
    let mut per_db: BTreeMap<u64, Total> = BTreeMap::new();
    let mut per_type: BTreeMap<&'static str, Total> = BTreeMap::new();
    let mut per_enc: BTreeMap<(&'static str, &'static str), Total> = BTreeMap::new();
    let mut per_prefix: BTreeMap<Vec<u8>, Total> = BTreeMap::new();
    let mut all = Total::default();
    if args.csv {
        let _ = out.write_all(
            b"database,type,key,size_in_bytes,encoding,num_elements,len_largest_element,expiry,file_bytes\n",
        );
    }
    let sep = args.prefix_separator.as_bytes().to_vec();
    // the HTML page's prefix tree, expiry histogram and file facts (over every file)
    let mut html = args
        .html
        .as_ref()
        .map(|_| Collector::new(&sep, args.prefix_depth, filter.now_ms));
    // each file read: its name, totals, model and writer
    let mut files: Vec<FileDone> = Vec::new();
    let mut result: Result<(), Failure> = Ok(());
    for (fi, path) in args.files.iter().enumerate() {
        let (inp, opts) = input::open_for_reading(path, args.no_checksum)?;
        let name = inp.name.clone();
        let mut progress = Progress::new(inp.size, args.quiet);
        let mut writer: Option<(bool, String)> = None;
        let mut model: Option<Model> = None;
        let mut header = None;
        let mut file_total = Total::default();
        let r = inp.with_rdb(opts, |src| -> Result<(), Failure> {
            let mut scratch = Scratch::new();
            while let Some(rec) = src.next_record() {
                let k = match rec {
                    Err(e) => return Err(Failure::Rdb(e).in_file(&name)),
                    Ok(Record::Key(k)) => k,
                    Ok(Record::Aux { key, value }) => {
                        if let Some(h) = html.as_mut() {
                            h.aux(&key, &value);
                        }
                        let v = String::from_utf8_lossy(&value).into_owned();
                        match &key[..] {
                            b"valkey-ver" => writer = Some((true, v)),
                            b"redis-ver" if writer.is_none() => writer = Some((false, v)),
                            _ => {}
                        }
                        continue;
                    }
                    Ok(Record::Eof { checksum, .. }) => {
                        if let Some(h) = html.as_mut() {
                            h.checksum(&checksum);
                        }
                        continue;
                    }
                    Ok(_) => continue,
                };
                let m = *model.get_or_insert_with(|| {
                    choose_model(&args, writer.as_ref().map(|(v, s)| (*v, s.as_str())))
                });
                progress.set(k.end);
                let ty = k.value.ty.family();
                let bytes = k.end - k.offset;
                if !filter.accepts_key(&k) {
                    continue;
                }
                let mut shape = Shape::new(m, k.value.ty);
                match k.value.streamed_len() {
                    // A string too big to hold that the stream passed through (checked as it
                    // passed): its length is all the model needs.
                    Some(len) => shape.streamed_string(len),
                    None => k
                        .value
                        .visit(&mut scratch, &mut shape, false)
                        .map_err(|e| Failure::Rdb(e.in_key(Some(k.db), k.key)).in_file(&name))?,
                }
                let row = KeyRow {
                    db: k.db,
                    key: k.key.to_vec(),
                    ty,
                    encoding: k.value.encoding(),
                    bytes,
                    elements: shape.n,
                    largest: shape.largest,
                    memory: m.usage(&k, &shape),
                    dataset: m.dataset(&k, &shape),
                    expire: k.expire_ms,
                    file: fi,
                };
                if args.csv {
                    let line = format!(
                        "{},{},{},{},{},{},{},{},{}\n",
                        row.db,
                        row.ty,
                        csv_field(&escape_key(&row.key)),
                        row.memory,
                        row.encoding,
                        row.elements,
                        row.largest,
                        row.expire
                            .map(crate::filter::format_utc)
                            .unwrap_or_default(),
                        row.bytes
                    );
                    out.write_all(line.as_bytes()).map_err(Failure::Write)?;
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
                file_total.add(&row);
                if let Some(h) = html.as_mut() {
                    let s = Sums {
                        keys: 1,
                        memory: row.memory,
                        bytes: row.bytes,
                        elements: row.elements,
                    };
                    h.add(&row.key, row.expire, s);
                }
                let (score, e, db) = (args.by.of_row(&row), row.elements, row.db);
                let key = row.key.clone();
                if args.by != By::Elements {
                    let dup = KeyRow {
                        key: key.clone(),
                        ..row
                    };
                    by_elements.offer(e, || dup, (db, &key, fi));
                }
                ranked.offer(score, || row, (db, &key, fi));
            }
            header = src.header();
            Ok(())
        });
        progress.finish();
        if let Err(f) = r.map_err(Failure::from).and_then(|r| r) {
            // a damaged file: nothing is written (the page nor the report), the message
            // names the file
            result = Err(f);
            break;
        }
        let model = model
            .unwrap_or_else(|| choose_model(&args, writer.as_ref().map(|(v, s)| (*v, s.as_str()))));
        let writer = writer
            .as_ref()
            .map(|(v, s)| format!("{} {s}", if *v { "valkey" } else { "redis" }));
        if let Some(h) = html.as_mut() {
            h.end_file(FileFacts {
                name: &name,
                header,
                writer: writer.clone(),
                model: model.server.to_string(),
                allocator: alloc_name(model.alloc),
                totals: Sums {
                    keys: file_total.keys,
                    memory: file_total.memory,
                    bytes: file_total.bytes,
                    elements: file_total.elements,
                },
            });
        }
        files.push(FileDone {
            name,
            total: file_total,
            model,
            writer,
        });
    }
    let result = result.and_then(|()| {
        if args.csv {
            return Ok(());
        }
        // the model(s): one per file (its writer's) unless --model names one
        let mut servers: Vec<String> = Vec::new();
        for f in &files {
            let s = f.model.server.to_string();
            if !servers.contains(&s) {
                servers.push(s);
            }
        }
        let model_name = servers.join(", ");
        let model_desc = format!("{model_name}, {}", alloc_name(args.allocator));
        let by = args.by;
        let top = ranked.sorted();
        let top_e = by_elements.sorted();
        let mut prefixes: Vec<(&Vec<u8>, &Total)> = per_prefix.iter().collect();
        prefixes.sort_by(|a, b| by.of_total(b.1).cmp(&by.of_total(a.1)).then(a.0.cmp(b.0)));
        let file_totals: Vec<(String, Total)> = if multi {
            files.iter().map(|f| (f.name.clone(), f.total)).collect()
        } else {
            Vec::new()
        };
        let text = if args.json || args.html.is_some() {
            let row = |r: &KeyRow| {
                let mut o = json!({"db": r.db, "key": escape_key(&r.key), "type": r.ty, "encoding": r.encoding,
                       "memory": r.memory, "bytes": r.bytes, "elements": r.elements,
                       "len_largest_element": r.largest});
                if multi {
                    o["file"] = json!(files[r.file].name);
                }
                o
            };
            let tot = |t: &Total| {
                json!({"keys": t.keys, "memory": t.memory, "bytes": t.bytes, "elements": t.elements})
            };
            let mut total = tot(&all);
            total["dataset"] = json!(all.dataset);
            let mut j = json!({
                "model": model_name,
                "allocator": alloc_name(args.allocator),
                "by": by.name(),
                "total": total,
                "top": top.iter().map(row).collect::<Vec<_>>(),
                "dbs": per_db.iter().map(|(d, t)| (d.to_string(), tot(t))).collect::<serde_json::Map<_, _>>(),
                "types": per_type.iter().map(|(d, t)| (d.to_string(), tot(t))).collect::<serde_json::Map<_, _>>(),
                "encodings": per_enc.iter().map(|((ty, e), t)| (format!("{ty}/{e}"), tot(t))).collect::<serde_json::Map<_, _>>(),
                "prefixes": prefixes.iter().take(if args.html.is_some() && !args.json { crate::export::html::MAX_PREFIXES } else { args.top.max(1) * 5 }).map(|(p, t)| {
                    let mut o = tot(t);
                    o["prefix"] = json!(escape_key(p));
                    o
                }).collect::<Vec<_>>(),
            });
            j[format!("top_by_{}", by.name())] = j["top"].clone();
            if by != By::Elements {
                j["top_by_elements"] = json!(top_e.iter().map(row).collect::<Vec<_>>());
            }
            if multi {
                j["files"] = json!(files
                    .iter()
                    .map(|f| {
                        let mut o = tot(&f.total);
                        o["file"] = json!(f.name);
                        o["dataset"] = json!(f.total.dataset);
                        o["model"] = json!(f.model.server.to_string());
                        o["writer"] = json!(f.writer);
                        o
                    })
                    .collect::<Vec<_>>());
            }
            if let Some(path) = &args.html {
                let drawn = prefixes.len().min(crate::export::html::MAX_PREFIXES);
                let rest = prefixes[drawn..].iter().fold(Total::default(), |mut a, (_, t)| {
                    a.keys += t.keys;
                    a.memory += t.memory;
                    a
                });
                let mut h = j.clone();
                match &files[..] {
                    [one] => {
                        h["file"] = json!(one.name);
                        h["writer"] = json!(one.writer);
                    }
                    _ => {
                        h["file"] = json!(format!("{} files", files.len()));
                        h["writer"] = serde_json::Value::Null;
                    }
                }
                h["other"] = json!({"prefixes": prefixes.len() - drawn, "keys": rest.keys, "memory": rest.memory});
                if args.json {
                    h["prefixes"] = json!(prefixes.iter().take(drawn).map(|(p, t)| {
                        let mut o = tot(t);
                        o["prefix"] = json!(escape_key(p));
                        o
                    }).collect::<Vec<_>>());
                }
                if let Some(c) = html.take() {
                    c.finish(&mut h);
                }
                crate::export::html::write(path, &crate::export::html::render(&h))
                    .map_err(|e| Failure::Output(format!("writing {}: {e}", path.display())))?;
            }
            if args.json {
                serde_json::to_string_pretty(&j).unwrap_or_default() + "\n"
            } else {
                table(&model_desc, by, &all, &top, &top_e, &Groups {
                    per_db: &per_db,
                    per_type: &per_type,
                    per_enc: &per_enc,
                    prefixes: &prefixes,
                    n_prefixes: per_prefix.len(),
                    files: &file_totals,
                }, args.top)
            }
        } else {
            let groups = Groups {
                per_db: &per_db,
                per_type: &per_type,
                per_enc: &per_enc,
                prefixes: &prefixes,
                n_prefixes: per_prefix.len(),
                files: &file_totals,
            };
            table(&model_desc, by, &all, &top, &top_e, &groups, args.top)
        };
        out.write_all(text.as_bytes()).map_err(Failure::Write)
    });
    crate::failure::flushed(result, &mut out)
}

/// One input file once read: its name, totals, model and writer.
struct FileDone {
    name: String,
    total: Total,
    model: Model,
    writer: Option<String>,
}

fn alloc_name(a: Allocator) -> &'static str {
    match a {
        Allocator::Jemalloc => "jemalloc",
        Allocator::Libc => "libc",
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

struct Groups<'a> {
    per_db: &'a BTreeMap<u64, Total>,
    per_type: &'a BTreeMap<&'static str, Total>,
    per_enc: &'a BTreeMap<(&'static str, &'static str), Total>,
    prefixes: &'a [(&'a Vec<u8>, &'a Total)],
    n_prefixes: usize,
    /// each file's totals, when there are several
    files: &'a [(String, Total)],
}

fn table(
    model: &str,
    by: By,
    all: &Total,
    top: &[KeyRow],
    top_e: &[KeyRow],
    g: &Groups<'_>,
    n: usize,
) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "total: {} keys, ~{} in memory (model {model}), {} serialized, {} elements",
        all.keys,
        human(all.memory),
        human(all.bytes),
        all.elements
    );
    let rows = |s: &mut String, title: &str, v: &[KeyRow]| {
        let _ = writeln!(s, "\n{title}");
        let _ = writeln!(
            s,
            "{:>4} {:<7} {:<11} {:>10} {:>10} {:>10}  key{}",
            "db",
            "type",
            "encoding",
            "memory",
            "bytes",
            "elements",
            if g.files.is_empty() { "" } else { "  [file]" }
        );
        for r in v {
            let file = match g.files.get(r.file) {
                Some((name, _)) => format!("  [{name}]"),
                None => String::new(),
            };
            let _ = writeln!(
                s,
                "{:>4} {:<7} {:<11} {:>10} {:>10} {:>10}  {}{file}",
                r.db,
                r.ty,
                r.encoding,
                human(r.memory),
                human(r.bytes),
                r.elements,
                escape_key(&r.key)
            );
        }
    };
    rows(
        &mut s,
        &format!("biggest keys by {} (top {n})", by.name()),
        top,
    );
    if by != By::Elements {
        rows(
            &mut s,
            &format!("biggest keys by elements (top {n})"),
            top_e,
        );
    }
    let group = |s: &mut String, title: &str, v: Vec<(String, Total)>| {
        let _ = writeln!(s, "\n{title}");
        let _ = writeln!(
            s,
            "{:<24} {:>10} {:>10} {:>10} {:>12}",
            "", "keys", "memory", "bytes", "elements"
        );
        for (k, t) in v {
            let _ = writeln!(
                s,
                "{:<24} {:>10} {:>10} {:>10} {:>12}",
                k,
                t.keys,
                human(t.memory),
                human(t.bytes),
                t.elements
            );
        }
    };
    if !g.files.is_empty() {
        group(&mut s, "per file", g.files.to_vec());
    }
    group(
        &mut s,
        "per database",
        g.per_db
            .iter()
            .map(|(k, t)| (format!("db {k}"), *t))
            .collect(),
    );
    group(
        &mut s,
        "per type",
        g.per_type
            .iter()
            .map(|(k, t)| (k.to_string(), *t))
            .collect(),
    );
    group(
        &mut s,
        "per encoding",
        g.per_enc
            .iter()
            .map(|((ty, e), t)| (format!("{ty}/{e}"), *t))
            .collect(),
    );
    if !g.prefixes.is_empty() {
        group(
            &mut s,
            &format!("top prefixes by {} (of {})", by.name(), g.n_prefixes),
            g.prefixes
                .iter()
                .take(n.max(1) * 2)
                .map(|(k, t)| (escape_key(k), **t))
                .collect(),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(1536), "1.50 KiB");
        assert_eq!(human(300 * 1024), "300 KiB");
        assert_eq!(human(5 << 30), "5.00 GiB");
    }

    #[test]
    fn prefixes() {
        assert_eq!(prefix_of(b"user:42", b":", 2), b"user:");
        assert_eq!(prefix_of(b"user:43", b":", 1), b"user:");
        assert_eq!(prefix_of(b"user:1:name", b":", 1), b"user:");
        assert_eq!(prefix_of(b"user:1:name", b":", 2), b"user:*:");
        assert_eq!(prefix_of(b"order:17:items", b":", 3), b"order:*:items");
        assert_eq!(prefix_of(b"order:17:items:3", b":", 3), b"order:*:items:");
        assert_eq!(
            prefix_of(b"s:6f1c2a9e-1b2c-4d5e-8f90-123456789abc:ttl", b":", 3),
            b"s:*:ttl"
        );
        assert_eq!(prefix_of(b"cache:deadbeef01", b":", 2), b"cache:");
        assert_eq!(prefix_of(b"plain", b":", 1), b"plain");
        assert_eq!(prefix_of(b"a:b:c", b":", 1), b"a:");
        assert!(!is_id_segment(b"items"));
        assert!(!is_id_segment(b"deadbeef"));
    }
}
