//! `rdbkit dump`: every key as one JSON object per line, in file order, streaming.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use rdbkit_rdb::ValueBudget;
use rdbkit_rdb::{Record, RecordSource, Scratch};

use crate::decode_args::{DecodeArgs, ThreadArgs};
use crate::failure::{flushed, Failure};
use crate::jsonl;

mod par;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per key (the format of corpus/rdb/*.expected.jsonl).
    Jsonl,
    /// The commands that recreate each key (SET, RPUSH, SADD, ZADD, HSET, XADD + groups,
    /// PEXPIREAT, HPEXPIREAT, SELECT, FUNCTION LOAD), for `redis-cli --pipe`.
    Resp,
}

#[derive(clap::Args)]
#[command(after_help = "Examples:
  rdbkit dump dump.rdb > keys.jsonl
  rdbkit dump --db 0 --match 'user:*' --skip-expired dump-20250124-020000.rdb.gz
  rdbkit dump --format resp --db 2 backup.rdb | redis-cli --pipe

--format resp writes, per key, SELECT (when the db changes), DEL (containers), SET (+ APPEND \
for strings over --max-command-bytes), RPUSH/SADD/ZADD/HSET in batches, HPEXPIREAT for field \
TTLs, XADD per entry + XSETID + XGROUP CREATE/CREATECONSUMER + XCLAIM ... FORCE JUSTID for the \
pending entries of streams, PEXPIREAT for key TTLs; and FUNCTION LOAD REPLACE for function \
libraries (--no-functions to leave them out). Module values and Redis 8.8 arrays cannot be \
recreated by commands this build knows: they are skipped and counted on stderr.

Exit status: 0 the whole file was dumped; 1 the file could not be opened or \
written out; 2 the file is damaged or unsupported (keys before the damage are printed).")]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: Format,
    /// --deep (validate every value while dumping; shallow by default), --no-checksum,
    /// --best-effort, --enterprise: the decode flags every subcommand shares.
    #[command(flatten)]
    pub decode: DecodeArgs,
    #[command(flatten)]
    pub filter: crate::filter::FilterArgs,
    /// --format resp: no command larger than this many bytes (a single larger element gets
    /// a command of its own; a larger string is split into SET + APPEND).
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub max_command_bytes: usize,
    /// --format resp: leave out FUNCTION LOAD of the file's function libraries.
    #[arg(long)]
    pub no_functions: bool,
    /// --format resp: at most this many elements per command.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub max_command_items: usize,
    /// Refuse, with an error naming the key and its offset, a value that needs more than
    /// this many bytes in memory to print (its decompressed size); a stream never buffers
    /// more than about this much for one record. Default 512 MiB, Redis's limit on one
    /// string (`proto-max-bulk-len`).
    #[arg(long, default_value_t = rdbkit_rdb::DEFAULT_MAX_VALUE_BYTES, value_name = "BYTES")]
    pub max_value_bytes: u64,
    /// --format resp: one RESTORE key ttl payload REPLACE ABSTTL [IDLETIME|FREQ] per key
    /// (exact encoding, faster to load), falling back to commands for a key whose payload
    /// the target cannot take.
    #[arg(long)]
    pub restore: bool,
    /// --restore: the RDB version of the payloads: rdb-N or a server name (redis-6.2,
    /// valkey-8.1, ...; see `rdbkit convert --help`). Default: the file's own version.
    #[arg(long, value_name = "TARGET", requires = "restore")]
    pub target: Option<String>,
    /// --threads N: with --format jsonl of a file, threads that decode and format values
    /// (default and maximum: one per core; 1 is the sequential dump). The output is the same
    /// whatever the number. Standard input, compressed input and --format resp are dumped on
    /// one thread.
    #[command(flatten)]
    pub threads: ThreadArgs,
    /// Tests only: keys per batch of a parallel dump (default 1024), so that small files are
    /// spread over the workers too.
    #[arg(long, hide = true, value_name = "N")]
    pub batch_keys: Option<usize>,
    /// Tests only: batches in flight per worker of a parallel dump (default 4); a window of 1
    /// makes the reading thread format batches itself often.
    #[arg(long, hide = true, value_name = "N")]
    pub window: Option<usize>,
    /// The RDB file (also gzip'd), or `-` for standard input.
    pub file: PathBuf,
}

/// Runs `rdbkit dump`: keys before a damage are written, then the damage is the failure
/// (exit 2); a reader that goes away is success.
pub fn run(args: Args) -> Result<(), Failure> {
    let deep = args.decode.deep_or(false);
    let opts = args.decode.options(false);
    let filter = crate::filter::Filter::new(&args.filter).map_err(Failure::Usage)?;
    let target = match &args.target {
        None => None,
        Some(t) => Some(rdbkit_rdb::write::Target::by_name(t).ok_or_else(|| {
            Failure::Usage(format!(
                "--target {t:?}: unknown (see rdbkit convert --help)"
            ))
        })?),
    };
    if args.restore && !matches!(args.format, Format::Resp) {
        return Err(Failure::Usage("--restore needs --format resp".into()));
    }
    // Capped at the cores available (at least 4, so that the parallel path can be tested on
    // any machine): a huge request must not try to spawn that many threads.
    let threads = args
        .threads
        .threads
        .unwrap_or_else(rdbkit_rdb::parallel::max_threads)
        .clamp(1, rdbkit_rdb::parallel::max_threads().max(4));
    let how = How {
        restore: args.restore.then_some(target),
        format: args.format,
        filter: &filter,
        max_bytes: args.max_command_bytes,
        max_items: args.max_command_items,
        functions: !args.no_functions,
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    // Any input: a path or `-`, gzip'd or not, the kind found from the content.
    let budget = args.max_value_bytes;
    const FLAG: &str = "--max-value-bytes";
    let opened = crate::input::open(&args.file);
    // The damage names the input as every command does: the path as `escape::path` spells
    // it, `ARCHIVE:MEMBER` for a backup read inside an archive.
    let name = match &opened {
        Ok(inp) => inp.name.clone(),
        Err(_) => crate::escape::path(&args.file),
    };
    let r = match opened {
        Err(e) => Err(Failure::from(e)),
        Ok(inp) if !inp.is_rdb() => Err(Failure::Open(format!(
            "{}: this is an AOF ({}), not an RDB file (for AOFs: rdbkit aof dump)",
            inp.name,
            inp.kind.name()
        ))),
        Ok(mut inp) => match inp.take_stream() {
            // A stream buffers one record at most about the budget (plus its key and header).
            Some(mut stream) => {
                let r = {
                    let mut rd = rdbkit_rdb::RdbReader::new(&mut stream, opts)
                        .max_record_bytes(budget.saturating_add(1 << 20), FLAG);
                    let mut src = ValueBudget::new(&mut rd, budget, FLAG);
                    dump(&mut src, &mut out, deep, &how, 0)
                };
                // A compressed stream is read to its end: a damaged trailer is damage.
                r.and_then(|()| {
                    crate::input::finish_stream(&inp.name, &mut stream).map_err(Failure::from)
                })
            }
            None => {
                // A file, or an archive's member unpacked to its temporary copy.
                let path = inp.path().unwrap_or(&args.file).to_path_buf();
                match rdbkit_rdb::RdbFile::open(&path) {
                    Err(e) => Err(Failure::Open(format!("{}: {e}", inp.name))),
                    Ok(f) => {
                        // In parallel first (jsonl); what it stops at is left to the
                        // sequential dump, which skips the keys already written.
                        let from = if threads > 1
                            && how.restore.is_none()
                            && matches!(how.format, Format::Jsonl)
                        {
                            let p = f.parser(opts).defer_values(true);
                            let accepts = |k: &rdbkit_rdb::Key<'_>| {
                                filter.accepts(
                                    k.db,
                                    &k.key,
                                    k.value.ty.family(),
                                    k.expire_ms,
                                    Some(k.end - k.offset),
                                )
                            };
                            let batch_keys = args.batch_keys.unwrap_or(par::BATCH_KEYS).max(1);
                            match par::dump_jsonl(
                                p,
                                &accepts,
                                deep,
                                budget,
                                threads,
                                par::Tuning {
                                    batch_keys,
                                    window: args.window.unwrap_or(par::IN_FLIGHT_PER_WORKER),
                                },
                                &mut out,
                            ) {
                                Ok(par::Outcome::Done) => Ok(None),
                                Ok(par::Outcome::Stopped { from }) => Ok(Some(from)),
                                Err(e) => Err(Failure::Write(e)),
                            }
                        } else {
                            Ok(Some(0))
                        };
                        match from {
                            Err(e) => Err(e),
                            Ok(None) => Ok(()),
                            Ok(Some(from)) => {
                                let mut p = f.parser(opts);
                                let mut src = ValueBudget::new(&mut p, budget, FLAG);
                                dump(&mut src, &mut out, deep, &how, from)
                            }
                        }
                    }
                }
            }
        },
    };
    // A flush error counts only when the dump itself succeeded.
    flushed(r.map_err(|f| f.in_file(&name)), &mut out)
}

/// Format and filter of a dump.
struct How<'f> {
    /// --restore, with its --target.
    restore: Option<Option<rdbkit_rdb::write::Target>>,
    format: Format,
    filter: &'f crate::filter::Filter,
    max_bytes: usize,
    max_items: usize,
    functions: bool,
}

/// Pulls records from `src` and writes the keys; jsonl keys whose record starts before
/// `skip_before` are not written again (a parallel dump wrote them).
fn dump(
    src: &mut (impl RecordSource + ?Sized),
    out: &mut impl Write,
    deep: bool,
    how: &How<'_>,
    skip_before: u64,
) -> Result<(), Failure> {
    if let Some(target) = how.restore {
        let r = crate::restore_out::dump_restore(
            src,
            how.filter,
            out,
            how.max_bytes,
            how.max_items,
            how.functions,
            target,
        )
        .map_err(open_unless_rdb_or_write)?;
        if r.stream_meta > 0 {
            eprintln!(
                "rdbkit: {} stream(s) restored without the metadata the target's stream format has no place for",
                r.stream_meta
            );
        }
        if r.fallback > 0 {
            eprintln!(
                "rdbkit: {} key(s) written as commands: the target cannot take their RESTORE payload",
                r.fallback
            );
        }
        if r.skipped.modules + r.skipped.arrays > 0 {
            eprintln!(
                "rdbkit: {} module and {} array key(s) skipped: the target cannot take their payload and no command recreates them",
                r.skipped.modules, r.skipped.arrays
            );
        }
        return Ok(());
    }
    if let Format::Resp = how.format {
        use crate::resp_out::dump_resp;
        let (_, skipped) = dump_resp(
            src,
            how.filter,
            out,
            how.max_bytes,
            how.max_items,
            how.functions,
        )
        .map_err(open_unless_rdb_or_write)?;
        if skipped.modules > 0 {
            eprintln!(
                "rdbkit: {} module key(s) skipped: RESP cannot recreate module values",
                skipped.modules
            );
        }
        if skipped.arrays > 0 {
            eprintln!(
                "rdbkit: {} array key(s) skipped: no command this build knows recreates Redis 8.8 arrays",
                skipped.arrays
            );
        }
        return Ok(());
    }
    let mut scratch = Scratch::new();
    let mut line = Vec::with_capacity(4096);
    while let Some(rec) = src.next_record() {
        if let Record::Key(k) = rec.map_err(Failure::Rdb)? {
            if k.offset < skip_before {
                continue;
            }
            let size = Some(k.end - k.offset);
            if !how
                .filter
                .accepts(k.db, k.key, k.value.ty.family(), k.expire_ms, size)
            {
                continue;
            }
            line.clear();
            jsonl::write_key(&mut line, &k, &mut scratch, deep)
                .map_err(|e| Failure::Rdb(e.in_key(Some(k.db), k.key)))?;
            out.write_all(&line).map_err(Failure::Write)?;
        }
    }
    Ok(())
}

/// A failure of the RESP writers as `dump` reports it: a damaged input ([`Failure::Rdb`],
/// exit 2) and an output error ([`Failure::Write`]) as they are; anything else stopped the
/// dump before it could read the input (exit 1, as an input that cannot be opened).
fn open_unless_rdb_or_write(f: Failure) -> Failure {
    match f {
        f @ (Failure::Rdb(_) | Failure::Write(_)) => f,
        other => Failure::Open(other.to_string()),
    }
}
