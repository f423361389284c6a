//! `rdbkit export`: the keyspace as tables that analytics engines read (Parquet, Arrow IPC,
//! CSV), one Hive partition per input: `DIR/<table>/backup=<name>/part-0.<ext>`.
//!
//! Everything is written into a staging folder inside DIR and moved into place only when
//! every input was read to its end: a damaged input exports nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rdbkit_rdb::write::{RdbWriter, Target, WriteError};
use rdbkit_rdb::{RdbParser, Record, RecordSource, Scratch};

use crate::cmd::size::prefix_of;
use crate::export::{partition_name, sync_dir, Codec, Format, Options, Table, TableKind, Values};
use crate::failure::Failure;
use crate::filter::{escape_key, Filter, FilterArgs};
use crate::input::{self, Progress};
use crate::memory::{Allocator, Model, Server, Shape};

#[derive(clap::Args)]
#[command(
    after_help = "Layout: one folder per table, one Hive partition per input:
  DIR/keys/backup=<name>/part-0.parquet      one row per key
  with --values also strings, list_items, set_members, zset_members, hash_fields,
  stream_entries (one row per value, item, member, field or stream entry field).
<name> is the input's file name (characters other than letters, digits, `.`, `_`, `-` \
become `_`), or --name. DuckDB reads every backup as one table:
  SELECT backup, sum(memory) FROM read_parquet('DIR/keys/**/*.parquet', hive_partitioning=true) \
GROUP BY backup;
Columns of `keys`: source, db, key (binary), type, encoding, expire_ms (timestamp ms UTC, null: \
no expiry), lfu_freq, lru_idle (null unless the file has them), bytes (serialized size), \
elements, largest_element (bytes), memory (the `rdbkit size` estimate), prefix_1..prefix_N \
(`rdbkit size`'s prefix rule at depth 1..N). Every table starts with source, db, key. The \
README's `rdbkit export` section has the whole schema. CSV: binary columns are escaped as \
`rdbkit keys` prints keys.

A partition that already exists is never overwritten (exit 1). Files are written to a staging \
folder in DIR, synced, and renamed into place once every input has been read to its end: a \
damaged input (exit 2) or an interrupted run leaves nothing behind. An AOF is replayed, then \
its keys are measured as rdbkit would write them in an RDB (`bytes` is that size).

Examples:
  rdbkit export dump-mon.rdb dump-tue.rdb -o analytics/
  rdbkit export shard*/dump.rdb --values --format parquet -o analytics/
  rdbkit export dump.rdb --format csv --type hash --prefix-depth 3 -o out/

Exit status: 0 success; 1 usage error, an input cannot be opened, a partition exists, or the \
output cannot be written; 2 an input is damaged or unsupported (nothing written)."
)]
pub struct Args {
    /// The output folder (created if missing).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// The file format.
    #[arg(long, value_enum, default_value_t = Format::Parquet)]
    pub format: Format,
    /// Also write the value tables (strings, list_items, set_members, zset_members,
    /// hash_fields, stream_entries).
    #[arg(long)]
    pub values: bool,
    /// Partition names, one per input in order (default: each input's file name).
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub name: Vec<String>,
    /// Parquet compression.
    #[arg(long, value_enum, default_value_t = Codec::Zstd)]
    pub compression: Codec,
    /// Rows per batch handed to the writer (memory in flight per table).
    #[arg(long, value_name = "N", default_value_t = 65536)]
    pub batch_rows: usize,
    /// Parquet row group size in MiB (encoded), the unit engines read in parallel.
    #[arg(long, value_name = "MIB", default_value_t = 128)]
    pub row_group_mib: usize,
    /// Key prefix separator for the prefix_N columns.
    #[arg(long, value_name = "SEP", default_value = ":")]
    pub prefix_separator: String,
    /// How many prefix columns (prefix_1..prefix_N).
    #[arg(long, value_name = "D", default_value_t = 2)]
    pub prefix_depth: usize,
    /// The server whose memory layout is estimated (default: the file's writer).
    #[arg(long, value_name = "SERVER", value_parser = clap::builder::PossibleValuesParser::new(Server::NAMES))]
    pub model: Option<String>,
    /// The allocator the server was built with (INFO memory: mem_allocator).
    #[arg(long, value_enum, default_value_t = Allocator::Jemalloc)]
    pub allocator: Allocator,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Do not verify the CRC-64 trailer.
    #[arg(long)]
    pub no_checksum: bool,
    /// No progress bar and no summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// RDB, AOF, manifest, appendonlydir/, compressed file, archive member, or `-`.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// A failure of the table writers (`crate::export`), whose messages mark an output error with
/// a leading NUL: that is an output that cannot be written (exit 1), any other a damaged
/// input (exit 2).
fn table_failure(m: String) -> Failure {
    match m.strip_prefix('\u{0}') {
        Some(rest) => Failure::Output(rest.to_string()),
        None => Failure::Damaged(m),
    }
}

/// Runs `rdbkit export`: one line per input on stderr (unless `--quiet`) when every input was
/// exported; nothing is exported when one fails.
pub fn run(args: Args) -> Result<(), Failure> {
    let lines = export(&args)?;
    if !args.quiet {
        for l in lines {
            eprintln!("{l}");
        }
    }
    Ok(())
}

/// The partition name of each input.
fn names(args: &Args) -> Result<Vec<String>, Failure> {
    if !args.name.is_empty() && args.name.len() != args.files.len() {
        return Err(Failure::Usage(format!(
            "--name gives {} names for {} inputs",
            args.name.len(),
            args.files.len()
        )));
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, f) in args.files.iter().enumerate() {
        let raw = match args.name.get(i) {
            Some(n) => n.clone(),
            None if f.as_os_str() == "-" => "stdin".to_string(),
            None => f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| f.display().to_string()),
        };
        let n = partition_name(&raw);
        if !seen.insert(n.clone()) {
            return Err(Failure::Usage(format!(
                "two inputs get the partition name backup={n}; name them with --name a,b,..."
            )));
        }
        out.push(n);
    }
    Ok(out)
}

fn tables(args: &Args) -> Vec<TableKind> {
    let mut v = vec![TableKind::Keys];
    if args.values {
        v.extend(TableKind::VALUES);
    }
    v
}

fn partition(root: &Path, t: TableKind, name: &str) -> PathBuf {
    root.join(t.name()).join(format!("backup={name}"))
}

fn export(args: &Args) -> Result<Vec<String>, Failure> {
    let filter = Filter::new(&args.filter).map_err(Failure::Usage)?;
    if args.batch_rows == 0 || args.row_group_mib == 0 {
        return Err(Failure::Usage(
            "--batch-rows and --row-group-mib must be > 0".into(),
        ));
    }
    let names = names(args)?;
    let tabs = tables(args);
    let exists = |names: &[String]| -> Result<(), Failure> {
        for n in names {
            for t in &tabs {
                let p = partition(&args.output, *t, n);
                if p.exists() {
                    return Err(Failure::Usage(format!(
                        "{} exists: not overwritten (remove it, or export under another --name)",
                        p.display()
                    )));
                }
            }
        }
        Ok(())
    };
    exists(&names)?;
    let created = !args.output.exists();
    std::fs::create_dir_all(&args.output)
        .map_err(|e| Failure::Output(format!("creating {}: {e}", args.output.display())))?;
    let staging = tempfile::Builder::new()
        .prefix(".rdbkit-export-")
        .tempdir_in(&args.output)
        .map_err(|e| {
            Failure::Output(format!(
                "creating a staging folder in {}: {e}",
                args.output.display()
            ))
        })?;
    // Ctrl-C / SIGTERM: the staging folder goes too
    crate::archive::register_temp(staging.path());
    let opts = Options {
        format: args.format,
        codec: args.compression,
        batch_rows: args.batch_rows,
        row_group_bytes: args.row_group_mib.saturating_mul(1 << 20),
    };
    let mut report = Vec::new();
    let result = (|| -> Result<(), Failure> {
        for (file, name) in args.files.iter().zip(&names) {
            let n = export_one(args, &filter, opts, file, name, staging.path())?;
            report.push(format!(
                "{}: {n} keys -> {}",
                file.display(),
                partition(&args.output, TableKind::Keys, name).display()
            ));
        }
        // one consistent view: nothing appeared under the names while we were reading
        exists(&names)?;
        for n in &names {
            for t in &tabs {
                let to = partition(&args.output, *t, n);
                let parent = args.output.join(t.name());
                std::fs::create_dir_all(&parent)
                    .map_err(|e| Failure::Output(format!("creating {}: {e}", parent.display())))?;
                std::fs::rename(partition(staging.path(), *t, n), &to)
                    .map_err(|e| Failure::Output(format!("moving into {}: {e}", to.display())))?;
                sync_dir(&parent)
                    .map_err(|e| Failure::Output(format!("syncing {}: {e}", parent.display())))?;
            }
        }
        let _ = sync_dir(&args.output);
        Ok(())
    })();
    crate::archive::unregister_temp(staging.path());
    drop(staging);
    if result.is_err() && created {
        let _ = std::fs::remove_dir(&args.output); // only if still empty
    }
    result.map(|()| report)
}

/// Exports one input into `staging`; returns the number of keys exported.
fn export_one(
    args: &Args,
    filter: &Filter,
    opts: Options,
    file: &Path,
    name: &str,
    staging: &Path,
) -> Result<u64, Failure> {
    let (inp, ropts) = input::open_for_reading(file, args.no_checksum)
        .map_err(|f| Failure::Open(f.to_string()))?;
    let source = file.display().to_string();
    // Errors name the input as every command does (`ARCHIVE:MEMBER` inside an archive); the
    // tables' source column keeps the path given.
    let label = inp.name.clone();
    let part =
        |t: TableKind| partition(staging, t, name).join(format!("part-0.{}", opts.format.ext()));
    let mut keys = Table::create(
        TableKind::Keys,
        args.prefix_depth,
        opts,
        part(TableKind::Keys),
    )
    .map_err(table_failure)?;
    let mut values = if args.values {
        let mut v = Vec::new();
        for t in TableKind::VALUES {
            v.push(Table::create(t, args.prefix_depth, opts, part(t)).map_err(table_failure)?);
        }
        Some(Values::new(v, &source))
    } else {
        None
    };
    let mut w = Walk {
        args,
        filter,
        source: &source,
        label: &label,
        keys: &mut keys,
        values: values.as_mut(),
        exported: 0,
    };
    if inp.is_rdb() {
        let mut progress = Progress::new(inp.size, args.quiet);
        let r = inp
            .with_rdb(ropts, |src| w.walk(src, None, &mut progress))
            .map_err(|e| Failure::Damaged(e.0))?;
        progress.finish();
        r?;
    } else {
        let ds = inp
            .load(ropts, filter.now_ms)
            .map_err(|e| Failure::Damaged(e.0))?;
        let bytes = replay_to_rdb(&source, ds)?;
        let mut p = RdbParser::new(&bytes, ropts);
        let mut progress = Progress::new(None, true);
        w.walk(&mut p, Some(()), &mut progress)?;
    }
    let n = w.exported;
    keys.finish().map_err(table_failure)?;
    if let Some(v) = values {
        for t in v.tables {
            t.finish().map_err(table_failure)?;
        }
    }
    Ok(n)
}

/// A replayed AOF as an RDB in memory (the newest Redis format, which holds every type the
/// replay models but Valkey arrays): the keys table is measured on it as on any RDB.
fn replay_to_rdb(source: &str, ds: crate::model::Dataset) -> Result<Vec<u8>, Failure> {
    let target =
        Target::by_name("rdb-15").ok_or_else(|| Failure::Output("no rdb-15 target".into()))?;
    let io = |e: std::io::Error| Failure::Output(format!("{source}: encoding the replay: {e}"));
    let mut w = RdbWriter::new(Vec::new(), target).map_err(io)?;
    for (db, keys) in &ds.dbs {
        w.select_db(*db).map_err(io)?;
        for (key, mk) in keys {
            let what = || format!("{source}: db {db} key \"{}\"", escape_key(key));
            let Some(v) = crate::cmd::convert::model_to_owned(&mk.value) else {
                return Err(Failure::Damaged(format!(
                    "{}: the replay has no value to export (a module value, or a value it \
                         could not reproduce)",
                    what()
                )));
            };
            match w.key(key, mk.expire_ms, None, None, &v) {
                Ok(_) => {}
                Err(WriteError::Io(e)) => return Err(io(e)),
                Err(WriteError::Loss(l)) => {
                    return Err(Failure::Damaged(format!(
                        "{}: cannot be exported: {l}",
                        what()
                    )))
                }
            }
        }
    }
    w.finish().map_err(io)
}

struct Walk<'a> {
    args: &'a Args,
    filter: &'a Filter,
    source: &'a str,
    /// How errors name the input (see [`input::Input::name`]).
    label: &'a str,
    keys: &'a mut Table,
    values: Option<&'a mut Values>,
    exported: u64,
}

impl Walk<'_> {
    /// Every key of `src` into the tables. `replayed`: the source is a replayed AOF.
    fn walk(
        &mut self,
        src: &mut dyn RecordSource,
        replayed: Option<()>,
        progress: &mut Progress,
    ) -> Result<(), Failure> {
        let name = self.source;
        let label = self.label;
        let sep = self.args.prefix_separator.as_bytes().to_vec();
        let mut writer: Option<(bool, String)> = None;
        let mut model: Option<Model> = None;
        let mut scratch = Scratch::new();
        while let Some(rec) = src.next_record() {
            let k = match rec {
                Err(e) => return Err(Failure::Damaged(format!("{label}: {e}; nothing exported"))),
                Ok(Record::Key(k)) => k,
                Ok(Record::Aux { key, value }) => {
                    let v = String::from_utf8_lossy(&value).into_owned();
                    match &key[..] {
                        b"valkey-ver" => writer = Some((true, v)),
                        b"redis-ver" if writer.is_none() => writer = Some((false, v)),
                        _ => {}
                    }
                    continue;
                }
                Ok(_) => continue,
            };
            let m = *model.get_or_insert_with(|| Model {
                server: self
                    .args
                    .model
                    .as_deref()
                    .and_then(Server::parse)
                    .unwrap_or_else(|| match (&writer, replayed) {
                        (Some((valkey, ver)), None) => Server::from_writer(*valkey, ver),
                        _ => Server::Redis62,
                    }),
                alloc: self.args.allocator,
            });
            progress.set(k.end);
            let ty = k.value.ty.family();
            let bytes = k.end - k.offset;
            if !self.filter.accepts_key(&k) {
                continue;
            }
            let in_key = |e: rdbkit_rdb::Error| {
                Failure::Damaged(format!(
                    "{label}: {}; nothing exported",
                    e.in_key(Some(k.db), k.key)
                ))
            };
            let mut shape = Shape::new(m, k.value.ty);
            k.value
                .visit(&mut scratch, &mut shape, false)
                .map_err(in_key)?;
            let t = &mut *self.keys;
            t.head(name, k.db, k.key);
            t.str(3, ty);
            t.str(4, k.value.encoding());
            t.ts(5, k.expire_ms);
            t.i64(6, k.lfu_freq.map(i64::from));
            t.i64(7, k.lru_idle.map(|v| v as i64));
            t.i64(8, Some(bytes as i64));
            t.i64(9, Some(shape.n as i64));
            t.i64(10, Some(shape.largest as i64));
            t.i64(11, Some(m.usage(&k, &shape) as i64));
            for d in 1..=self.args.prefix_depth {
                let p = prefix_of(k.key, &sep, d);
                match printable_ascii(&p) {
                    Some(s) => t.str(11 + d, s),
                    None => t.str(11 + d, &escape_key(&p)),
                }
            }
            t.end_row().map_err(table_failure)?;
            self.exported += 1;
            if let Some(v) = self.values.as_deref_mut() {
                v.begin(k.db, k.key, ty == "list");
                if let Err(e) = k.value.visit(&mut scratch, v, false) {
                    return Err(match v.take_error() {
                        Some(w) => table_failure(w),
                        None => in_key(e),
                    });
                }
            }
        }
        Ok(())
    }
}
/// `b` as text when escaping leaves it as it is (printable ASCII, no backslash: most key
/// prefixes), so the prefix columns skip the escaper's copy and character loop.
fn printable_ascii(b: &[u8]) -> Option<&str> {
    if b.iter().all(|&c| (0x20..0x7f).contains(&c) && c != b'\\') {
        std::str::from_utf8(b).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the shortcut takes a prefix as it is, the escaper gives the same text; it declines
    /// whatever the escaper changes or that is not ASCII.
    #[test]
    fn printable_ascii_is_what_escaping_leaves() {
        for b in 0u8..=255 {
            let one = [b'a', b, b'z'];
            match printable_ascii(&one) {
                Some(s) => assert_eq!(s, escape_key(&one), "{b:#x}"),
                None => assert!(!(0x20..0x7f).contains(&b) || b == b'\\', "{b:#x}"),
            }
        }
        assert_eq!(printable_ascii(b"user:*:"), Some("user:*:"));
        assert_eq!(printable_ascii("ключ:".as_bytes()), None);
        assert_eq!(printable_ascii(b""), Some(""));
    }
}
