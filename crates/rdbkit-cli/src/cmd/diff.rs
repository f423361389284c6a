//! `rdbkit diff A B`: keys added, removed and changed between two data sets, whatever their
//! versions and layouts (RDB, AOF, manifest, appendonlydir/, gzip'd, stdin). Values are compared
//! by content, not encoding. Both data sets are loaded into memory.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::PathBuf;

use rdbkit_rdb::{Options, StreamId};

use crate::failure::Failure;
use crate::filter::{escape_key, format_utc, Filter, FilterArgs};
use crate::input;
use crate::model::{Dataset, MArrayElem, MKey, MStream, MValue};

#[derive(clap::Args)]
#[command(after_help = "Output (stable, sorted by db then key bytes):
  + db=0 key=NAME type=T            a key only in B
  - db=0 key=NAME type=T            a key only in A
  ~ db=0 key=NAME type=T            a key in both, changed; then one indented line per change:
      type: string -> hash
      ttl: none -> 2100-01-01T00:00:00Z
      value: 12 bytes -> 15 bytes          (strings)
      length: 3 -> 4; first difference at index 2   (lists)
      member +X / member -X / score X: 1 -> 2       (sets, zsets)
      field +F / field -F / field F: value changed / field F ttl: ... (hashes)
      entry +ID / entry -ID / last_id / group G: ...  (streams)
Key names are escaped like `rdbkit keys` prints them. A summary goes to stderr (not with --quiet).

An AOF is replayed in memory on top of its RDB preamble or base: every write command Redis \
2.8-8.0 and Valkey 7.2-8.1 propagate (`rdbkit replay-commands` lists them). A key whose value \
cannot be reproduced offline (a pre-5.0 verbatim EVAL, PFADD's HyperLogLog bytes, a geo search \
STORE) is \"value unknown (COMMAND at FILE:OFFSET)\": it is always reported as changed, with the \
reason. --max-memory bounds the replay's memory (default 4G).

Examples:
  rdbkit diff dump-20250123.rdb.gz dump-20250124.rdb.gz
  rdbkit diff backup.rdb /var/lib/redis/appendonlydir --db 0 --match 'session:*'

Exit status: 0 the data sets are equal; 1 they differ; 2 an error (usage, unreadable or damaged \
input, unsupported AOF command).")]
pub struct Args {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Do not compare key TTLs (nor hash field TTLs).
    #[arg(long)]
    pub ignore_ttl: bool,
    /// How many changed elements to list per key.
    #[arg(long, default_value_t = 10)]
    pub max_changes: usize,
    #[command(flatten)]
    pub decode: crate::decode_args::DecodeArgs,
    /// No summary on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    /// Refuse, with an error naming the key and its offset, an RDB value that needs more than
    /// this many bytes in memory (its decompressed size), checked before loading an RDB file.
    /// Default 512 MiB, Redis's limit on one string (`proto-max-bulk-len`).
    #[arg(long, default_value_t = rdbkit_rdb::DEFAULT_MAX_VALUE_BYTES, value_name = "BYTES")]
    pub max_value_bytes: u64,
    /// The old data set.
    pub a: PathBuf,
    /// The new data set.
    pub b: PathBuf,
}

fn load(p: &std::path::Path, opts: Options, now: i64, budget: u64) -> Result<Dataset, String> {
    let inp = input::open(p).map_err(|e| e.to_string())?;
    // An RDB file (mapped, not a stream): every value within the budget before any is
    // decoded into memory — a clean error naming the key instead of an allocation failure.
    // A stream (`-`, compressed, a pipe) is checked value by value as it is loaded.
    if inp.is_rdb() && inp.size.is_some() && !inp.gzip {
        check_budget(p, &inp.name, budget)?;
    }
    inp.load_within(opts, now, Some(budget))
        .map_err(|e| e.to_string())
}

/// A shallow pass over an RDB file that refuses a value over `budget` bytes (see
/// `--max-value-bytes`). Damage is left to the load, which reports it as usual.
fn check_budget(p: &std::path::Path, name: &str, budget: u64) -> Result<(), String> {
    let Ok(f) = rdbkit_rdb::RdbFile::open(p) else {
        return Ok(());
    };
    let opts = Options::default()
        .deep(false)
        .verify_checksum(false)
        .best_effort(true);
    let mut parser = f.parser(opts.enterprise(true));
    let mut src = rdbkit_rdb::ValueBudget::new(&mut parser, budget, "--max-value-bytes");
    use rdbkit_rdb::RecordSource as _;
    while let Some(r) = src.next_record() {
        if let Err(e) = r {
            let msg = format!("{name}: {e}");
            return if src.refused() { Err(msg) } else { Ok(()) };
        }
    }
    Ok(())
}

/// Runs `rdbkit diff` (every error exits 2, see [`Failure::code_in`]).
pub fn run(args: Args) -> Result<(), Failure> {
    let filter = Filter::new(&args.filter).map_err(Failure::Usage)?;
    if args.filter.min_size.is_some() {
        // Sizes are those of one file's encoding; they do not compare across files or AOFs.
        return Err(Failure::Usage(
            "--min-size does not apply to diff (sizes differ by encoding)".into(),
        ));
    }
    if args.a.as_os_str() == "-" && args.b.as_os_str() == "-" {
        return Err(Failure::Usage("only one side can be standard input".into()));
    }
    let opts = args.decode.options(false);
    let (a, b) = match (
        load(&args.a, opts, filter.now_ms, args.max_value_bytes),
        load(&args.b, opts, filter.now_ms, args.max_value_bytes),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return Err(Failure::Damaged(e)),
    };
    let mut out = String::new();
    let (mut added, mut removed, mut changed) = (0u64, 0u64, 0u64);
    let empty = BTreeMap::new();
    let dbs: BTreeSet<u64> = a.dbs.keys().chain(b.dbs.keys()).copied().collect();
    for db in dbs {
        let ka = a.dbs.get(&db).unwrap_or(&empty);
        let kb = b.dbs.get(&db).unwrap_or(&empty);
        let keys: BTreeSet<&Vec<u8>> = ka.keys().chain(kb.keys()).collect();
        for key in keys {
            let pass = |k: &MKey| filter.accepts_mkey(db, key, k);
            let (va, vb) = (
                ka.get(key).filter(|k| pass(k)),
                kb.get(key).filter(|k| pass(k)),
            );
            let name = escape_key(key);
            match (va, vb) {
                (None, None) => {}
                (None, Some(v)) => {
                    added += 1;
                    let _ = writeln!(out, "+ db={db} key={name} type={}", v.value.type_name());
                }
                (Some(v), None) => {
                    removed += 1;
                    let _ = writeln!(out, "- db={db} key={name} type={}", v.value.type_name());
                }
                (Some(x), Some(y)) => {
                    let changes = key_changes(x, y, args.ignore_ttl, args.max_changes);
                    if !changes.is_empty() {
                        changed += 1;
                        let _ = writeln!(out, "~ db={db} key={name} type={}", y.value.type_name());
                        for c in changes {
                            let _ = writeln!(out, "    {c}");
                        }
                    }
                }
            }
        }
    }
    let fa: BTreeSet<&Vec<u8>> = a.functions.iter().collect();
    let fb: BTreeSet<&Vec<u8>> = b.functions.iter().collect();
    let mut fchanged = false;
    for f in fa.symmetric_difference(&fb) {
        fchanged = true;
        let sign = if fb.contains(f) { '+' } else { '-' };
        let first = f.split(|&c| c == b'\n').next().unwrap_or_default();
        let _ = writeln!(out, "{sign} function {}", escape_key(first));
    }
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush())
    {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Err(Failure::Write(e));
        }
    }
    if !args.quiet {
        eprintln!("{added} added, {removed} removed, {changed} changed");
    }
    if added + removed + changed > 0 || fchanged {
        // The verdict "they differ", printed above.
        Err(Failure::Reported(1))
    } else {
        Ok(())
    }
}

fn ttl(t: Option<i64>) -> String {
    t.map(format_utc).unwrap_or_else(|| "none".into())
}

fn sid(i: StreamId) -> String {
    format!("{}-{}", i.ms, i.seq)
}

struct Lim<'a> {
    out: &'a mut Vec<String>,
    n: usize,
    max: usize,
}

impl Lim<'_> {
    fn push(&mut self, s: String) {
        self.n += 1;
        if self.n <= self.max {
            self.out.push(s);
        }
    }
}

/// The changes from `a` to `b`, one line each.
pub fn key_changes(a: &MKey, b: &MKey, ignore_ttl: bool, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    // A value the AOF replay could not reproduce is never reported as equal.
    for (side, v) in [("A", &a.value), ("B", &b.value)] {
        if let MValue::Unknown { reason, .. } = v {
            out.push(format!("value unknown in {side}: {reason}"));
        }
    }
    if !out.is_empty() {
        return out;
    }
    if a.value.type_name() != b.value.type_name() {
        out.push(format!(
            "type: {} -> {}",
            a.value.type_name(),
            b.value.type_name()
        ));
        return out;
    }
    if !ignore_ttl && a.expire_ms != b.expire_ms {
        out.push(format!("ttl: {} -> {}", ttl(a.expire_ms), ttl(b.expire_ms)));
    }
    let mut l = Lim {
        out: &mut out,
        n: 0,
        max,
    };
    match (&a.value, &b.value) {
        (MValue::String(x), MValue::String(y)) if x != y => {
            l.push(format!("value: {} bytes -> {} bytes", x.len(), y.len()));
        }
        (MValue::List(x), MValue::List(y)) if x != y => {
            let at = x
                .iter()
                .zip(y)
                .position(|(p, q)| p != q)
                .unwrap_or(x.len().min(y.len()));
            l.push(format!(
                "length: {} -> {}; first difference at index {at}",
                x.len(),
                y.len()
            ));
        }
        (MValue::Set(x), MValue::Set(y)) => {
            for m in y.keys().filter(|m| !x.contains_key(*m)) {
                l.push(format!("member +{}", escape_key(m)));
            }
            for m in x.keys().filter(|m| !y.contains_key(*m)) {
                l.push(format!("member -{}", escape_key(m)));
            }
        }
        (MValue::Zset(x), MValue::Zset(y)) => {
            for (m, s) in y {
                match x.get(m) {
                    None => l.push(format!("member +{} (score {s})", escape_key(m))),
                    Some(o) if o != s => l.push(format!("score {}: {o} -> {s}", escape_key(m))),
                    _ => {}
                }
            }
            for m in x.keys().filter(|m| !y.contains_key(*m)) {
                l.push(format!("member -{}", escape_key(m)));
            }
        }
        (MValue::Hash(x), MValue::Hash(y)) => {
            for (f, (v, t)) in y {
                match x.get(f) {
                    None => l.push(format!("field +{}", escape_key(f))),
                    Some((ov, ot)) => {
                        if ov != v {
                            l.push(format!(
                                "field {}: {} -> {}",
                                escape_key(f),
                                short(ov),
                                short(v)
                            ));
                        }
                        if !ignore_ttl && ot != t {
                            l.push(format!(
                                "field {} ttl: {} -> {}",
                                escape_key(f),
                                ttl(*ot),
                                ttl(*t)
                            ));
                        }
                    }
                }
            }
            for f in x.keys().filter(|f| !y.contains_key(*f)) {
                l.push(format!("field -{}", escape_key(f)));
            }
        }
        (MValue::Stream(x), MValue::Stream(y)) => stream_changes(x, y, &mut l),
        (
            MValue::Array {
                insert_idx: xi,
                elements: x,
            },
            MValue::Array {
                insert_idx: yi,
                elements: y,
            },
        ) => {
            if xi != yi {
                l.push(format!("insert index: {xi:?} -> {yi:?}"));
            }
            let ys: BTreeMap<u64, &MArrayElem> = y.iter().map(|(i, e)| (*i, e)).collect();
            let xs: BTreeMap<u64, &MArrayElem> = x.iter().map(|(i, e)| (*i, e)).collect();
            for (i, e) in &xs {
                match ys.get(i) {
                    None => l.push(format!("element -[{i}]")),
                    Some(f) if f != e => l.push(format!("element [{i}] changed")),
                    _ => {}
                }
            }
            for i in ys.keys().filter(|i| !xs.contains_key(*i)) {
                l.push(format!("element +[{i}]"));
            }
        }
        (MValue::Module { .. }, MValue::Module { .. }) if a.value != b.value => {
            l.push("module value changed".into());
        }
        _ => {}
    }
    let (n, max) = (l.n, l.max);
    if n > max {
        out.push(format!("... and {} more", n - max));
    }
    out
}

fn short(v: &[u8]) -> String {
    if v.len() <= 40 {
        escape_key(v)
    } else {
        format!("{}... ({} bytes)", escape_key(&v[..32]), v.len())
    }
}

fn stream_changes(x: &MStream, y: &MStream, l: &mut Lim<'_>) {
    type Fields = Vec<(Vec<u8>, Vec<u8>)>;
    let ex: BTreeMap<StreamId, &Fields> = x.entries.iter().map(|(i, f)| (*i, f)).collect();
    let ey: BTreeMap<StreamId, &Fields> = y.entries.iter().map(|(i, f)| (*i, f)).collect();
    for (i, f) in &ey {
        match ex.get(i) {
            None => l.push(format!("entry +{}", sid(*i))),
            Some(o) if o != f => l.push(format!("entry {}: fields changed", sid(*i))),
            _ => {}
        }
    }
    for i in ex.keys().filter(|i| !ey.contains_key(*i)) {
        l.push(format!("entry -{}", sid(*i)));
    }
    if x.last_id != y.last_id {
        l.push(format!("last_id: {} -> {}", sid(x.last_id), sid(y.last_id)));
    }
    // Metadata only some versions store is compared when both sides have it.
    if let (Some(p), Some(q)) = (x.entries_added, y.entries_added) {
        if p != q {
            l.push(format!("entries_added: {p} -> {q}"));
        }
    }
    if let (Some(p), Some(q)) = (x.max_deleted_id, y.max_deleted_id) {
        if p != q {
            l.push(format!("max_deleted_id: {} -> {}", sid(p), sid(q)));
        }
    }
    for (name, g) in &y.groups {
        let n = escape_key(name);
        let Some(o) = x.groups.get(name) else {
            l.push(format!("group +{n}"));
            continue;
        };
        if o.last_delivered_id != g.last_delivered_id {
            l.push(format!(
                "group {n} last_delivered_id: {} -> {}",
                sid(o.last_delivered_id),
                sid(g.last_delivered_id)
            ));
        }
        if let (Some(p), Some(q)) = (o.entries_read, g.entries_read) {
            if p != q {
                let show = |v: u64| {
                    if v == u64::MAX {
                        "-1".to_string()
                    } else {
                        v.to_string()
                    }
                };
                l.push(format!(
                    "group {n} entries_read: {} -> {}",
                    show(p),
                    show(q)
                ));
            }
        }
        for c in g.consumers.keys().filter(|c| !o.consumers.contains_key(*c)) {
            l.push(format!("group {n} consumer +{}", escape_key(c)));
        }
        for c in o.consumers.keys().filter(|c| !g.consumers.contains_key(*c)) {
            l.push(format!("group {n} consumer -{}", escape_key(c)));
        }
        for (id, (c, _, cnt)) in &g.pel {
            match o.pel.get(id) {
                None => l.push(format!(
                    "group {n} pending +{} ({})",
                    sid(*id),
                    escape_key(c)
                )),
                Some((oc, _, ocnt)) if oc != c || ocnt != cnt => l.push(format!(
                    "group {n} pending {}: {} x{ocnt} -> {} x{cnt}",
                    sid(*id),
                    escape_key(oc),
                    escape_key(c)
                )),
                _ => {}
            }
        }
        for id in o.pel.keys().filter(|i| !g.pel.contains_key(*i)) {
            l.push(format!("group {n} pending -{}", sid(*id)));
        }
    }
    for name in x.groups.keys().filter(|n| !y.groups.contains_key(*n)) {
        l.push(format!("group -{}", escape_key(name)));
    }
}
