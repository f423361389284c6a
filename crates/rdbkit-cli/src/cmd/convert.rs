//! `rdbkit convert IN OUT --target T`: writes the data set of any input rdbkit reads (an RDB of
//! any version or fork, gzip'd, `-`, an AOF or `appendonlydir/`, replayed) as an RDB file the
//! target server loads. Values the target reads as stored are copied byte for byte
//! (pass-through); the others are re-encoded from their logical content into the encoding the
//! target's own `SAVE` would choose. What the target cannot hold is refused unless `--drop`
//! names it. OUT is written to a temporary file beside it, fsynced and renamed; an existing OUT
//! is replaced only with `--force`; IN is never modified.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};

use rdbkit_rdb::write::{
    strip, DetachedIn, Loss, RdbWriter, Target, Transcoded, WriteError, SERVER_NAMES, TARGETS,
};
use rdbkit_rdb::{Options, OwnedValue, Record, RecordSource, Scratch};

use crate::failure::Failure;
use crate::filter::{escape_key, Filter};
use crate::input::{self, Progress};

#[derive(clap::Args)]
#[command(after_help = after_help())]
pub struct Args {
    /// From a pipe or a compressed stream, hold each value whole up to this many bytes (its
    /// decompressed size) and refuse a bigger one, naming the key; a file is mapped and needs no
    /// limit. Default 512 MiB, Redis's limit on one string (`proto-max-bulk-len`).
    #[arg(long, default_value_t = rdbkit_rdb::DEFAULT_MAX_VALUE_BYTES, value_name = "BYTES")]
    pub max_value_bytes: u64,
    /// The target: rdb-6 .. rdb-15, valkey-9.0, or a server name (redis-6.2, redis-7.0,
    /// valkey-8.1, ...; see below).
    #[arg(long, value_name = "TARGET")]
    pub target: String,
    /// Accept these losses (comma-separated, repeatable): field-ttl, stream-meta, streams,
    /// modules, arrays, functions, module-aux, key-meta, or all.
    #[arg(long, value_name = "KIND[,KIND...]", value_delimiter = ',')]
    pub drop: Vec<String>,
    /// Replace OUT when it exists.
    #[arg(long)]
    pub force: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Re-encode every value, even those the target could read as stored.
    #[arg(long)]
    pub re_encode: bool,
    /// Do not LZF-compress re-encoded strings and blobs (`rdbcompression no`).
    #[arg(long)]
    pub no_compress: bool,
    /// Do not verify the input's CRC-64 trailer.
    #[arg(long)]
    pub no_checksum: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub filter: crate::filter::FilterArgs,
    /// The input: RDB (also gzip'd), AOF, manifest, appendonlydir/, or `-`.
    pub input: PathBuf,
    /// The RDB file to write.
    pub output: PathBuf,
}

fn after_help() -> String {
    let mut s = String::from("Targets:\n");
    for t in TARGETS {
        let names: Vec<&str> = SERVER_NAMES
            .iter()
            .filter(|(_, n)| *n == t.name)
            .map(|(s, _)| *s)
            .collect();
        s.push_str(&format!(
            "  {:<11} {}  {}\n",
            t.name,
            String::from_utf8_lossy(&t.header()),
            names.join(", ")
        ));
    }
    s.push_str("\nLosses (--drop):\n");
    for l in Loss::ALL {
        s.push_str(&format!("  {:<12} {}\n", l.name(), l.describe()));
    }
    s.push_str(&format!(
        "  {:<12} keys of an AOF whose value the replay cannot reproduce (e.g. a Redis < 5.0 \
         EVAL propagated verbatim): the key is left out\n",
        VALUE_UNKNOWN
    ));
    s.push_str(
        "\nExamples:
  rdbkit convert dump.rdb dump-6.2.rdb --target redis-6.2
  rdbkit convert redis74.rdb valkey.rdb --target valkey-8.1 --drop field-ttl
  rdbkit convert appendonlydir/ dump.rdb --target rdb-11          # offline AOF rewrite
  rdbkit convert --db 0 --match 'user:*' --skip-expired prod.rdb.gz staging.rdb --target rdb-10

Exit status: 0 written; 1 bad arguments, input not readable, OUT exists (without --force) or \
could not be written; 2 the input is damaged; 3 a loss the target cannot hold and --drop does \
not name (nothing written); 130 interrupted (Ctrl-C: the temporary file is removed, an old OUT \
is kept).",
    );
    s
}

/// What was done, for the summary.
#[derive(Default)]
pub(crate) struct Summary {
    pub(crate) keys_written: u64,
    passed_through: u64,
    re_encoded: u64,
    pub(crate) filtered: u64,
    /// Loss kind -> keys (or records) affected.
    pub(crate) dropped: BTreeMap<&'static str, u64>,
    pub(crate) functions: u64,
    pub(crate) bytes: u64,
    /// Keys written per db, in the order the dbs came (`restore --sync` checks `DBSIZE`).
    pub(crate) per_db: Vec<(u64, u64)>,
}

impl Summary {
    /// Counts one key written into `db`.
    fn wrote(&mut self, db: u64) {
        self.wrote_many(db, 1);
    }

    /// Adds the counts of `o` (the writer's share: re-encoded keys and their verdicts).
    fn merge(&mut self, o: Summary) {
        self.passed_through += o.passed_through;
        self.re_encoded += o.re_encoded;
        self.filtered += o.filtered;
        self.functions += o.functions;
        for (k, n) in o.dropped {
            *self.dropped.entry(k).or_default() += n;
        }
        for (db, n) in o.per_db {
            self.wrote_many(db, n);
        }
    }

    /// Counts `keys` keys written into `db`.
    fn wrote_many(&mut self, db: u64, keys: u64) {
        self.keys_written += keys;
        match self.per_db.last_mut() {
            Some((d, n)) if *d == db => *n += keys,
            _ => match self.per_db.iter_mut().find(|(d, _)| *d == db) {
                Some((_, n)) => *n += keys,
                None => self.per_db.push((db, keys)),
            },
        }
    }
}

/// Set by Ctrl-C / SIGTERM: the conversion stops at the next record and removes its temporary
/// file (an existing OUT is never touched before the final rename).
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// From now on Ctrl-C / SIGTERM stop a conversion at its next record instead of ending the
/// process (`convert` removes its temporary file, `restore --sync` detaches the server).
pub(crate) fn stop_on_interrupt() {
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed));
}

/// Whether Ctrl-C / SIGTERM came since [`stop_on_interrupt`].
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

fn check_interrupt() -> Result<(), Failure> {
    if INTERRUPTED.load(Ordering::Relaxed) {
        Err(Failure::Interrupted(
            "interrupted: nothing written (the temporary file is removed)".into(),
        ))
    } else {
        Ok(())
    }
}

/// Accepts `loss` (counted in `sum`) when `allowed` names it, or refuses naming `what`.
fn accept_loss(
    allowed: &[Loss],
    target: &Target,
    sum: &mut Summary,
    loss: Loss,
    what: &str,
) -> Result<(), Failure> {
    if allowed.contains(&loss) {
        *sum.dropped.entry(loss.name()).or_default() += 1;
        Ok(())
    } else {
        Err(Failure::Refused(format!(
            "{what}: target {} cannot hold it: {}; nothing written (--drop {} to convert without it)",
            target.name,
            loss.describe(),
            loss.name()
        )))
    }
}

fn io_fail(what: &str) -> impl Fn(io::Error) -> Failure + '_ {
    move |e| Failure::Usage(format!("{what}: {e}"))
}

/// The conversion state shared by the RDB and AOF paths.
struct Conv<'a, W: Write> {
    w: RdbWriter<W>,
    target: Target,
    allowed: Vec<Loss>,
    /// `--drop value-unknown`: an AOF's value-unknown keys are left out (counted).
    drop_unknown: bool,
    re_encode: bool,
    sum: Summary,
    filter: &'a Filter,
    /// The db last written with SELECTDB.
    db_written: Option<u64>,
    /// [`Target::reads`] per type byte, once asked (a table walk per key otherwise).
    reads_cache: [Option<(rdbkit_rdb::Type, bool)>; 256],
}

impl<W: Write> Conv<'_, W> {
    /// [`Target::reads`], cached per type byte.
    fn reads(&mut self, ty: rdbkit_rdb::Type, type_byte: u8) -> bool {
        match self.reads_cache[type_byte as usize] {
            Some((t, r)) if t == ty => r,
            _ => {
                let r = self.target.reads(ty, type_byte);
                self.reads_cache[type_byte as usize] = Some((ty, r));
                r
            }
        }
    }

    /// Accepts `loss` (counted) or refuses naming `what`.
    fn accept(&mut self, loss: Loss, what: &str) -> Result<(), Failure> {
        accept_loss(&self.allowed, &self.target, &mut self.sum, loss, what)
    }

    fn select(&mut self, db: u64) -> Result<(), Failure> {
        if self.db_written != Some(db) {
            self.w.select_db(db).map_err(io_fail("writing"))?;
            self.db_written = Some(db);
        }
        Ok(())
    }

    fn owned_key(
        &mut self,
        db: u64,
        key: &[u8],
        expire_ms: Option<i64>,
        lru: Option<u64>,
        lfu: Option<u8>,
        mut v: OwnedValue,
    ) -> Result<(), Failure> {
        let family = v.family();
        let what = || format!("db {db} key \"{}\" ({family})", escape_key(key));
        if let Some(l) = rdbkit_rdb::write::loss(&v, &self.target) {
            self.accept(l, &what())?;
            if strip(&mut v, &self.target).is_some() {
                return Ok(());
            }
        }
        self.select(db)?;
        match self.w.key(key, expire_ms, lru, lfu, &v) {
            Ok(_) => {
                self.sum.wrote(db);
                self.sum.re_encoded += 1;
                Ok(())
            }
            Err(WriteError::Io(e)) => Err(Failure::Usage(format!("writing: {e}"))),
            Err(WriteError::Loss(l)) => Err(Failure::Refused(format!("{}: {l}", what()))),
        }
    }
}

/// Runs `convert`: the summary when the file is written.
pub fn run(args: Args) -> Result<(), Failure> {
    let sum = convert(&args)?;
    print_summary(&args, &sum);
    Ok(())
}

/// The `--drop` kind for an AOF's value-unknown keys: a limit of the replay, not of the
/// target, so it is the CLI's own kind beside the library's [`Loss`] kinds.
const VALUE_UNKNOWN: &str = "value-unknown";

/// The losses `--drop` names, and whether it names [`VALUE_UNKNOWN`] (`all` names every kind).
fn parse_drops(kinds: &[String]) -> Result<(Vec<Loss>, bool), Failure> {
    let mut out = Vec::new();
    let mut unknown = false;
    for k in kinds {
        let k = k.trim();
        if k == "all" {
            out.extend(Loss::ALL);
            unknown = true;
        } else if k == VALUE_UNKNOWN {
            unknown = true;
        } else if let Some(l) = Loss::from_name(k) {
            out.push(l);
        } else {
            let names: Vec<&str> = Loss::ALL.iter().map(|l| l.name()).collect();
            return Err(Failure::Usage(format!(
                "--drop {k:?}: not a kind of loss (one of {}, {VALUE_UNKNOWN}, all)",
                names.join(", ")
            )));
        }
    }
    Ok((out, unknown))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn convert(args: &Args) -> Result<Summary, Failure> {
    let target = Target::by_name(&args.target).ok_or_else(|| {
        let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
        Failure::Usage(format!(
            "--target {:?}: unknown (one of {}, or a server name such as redis-6.2, valkey-8.1; see --help)",
            args.target,
            names.join(", ")
        ))
    })?;
    let (allowed, drop_unknown) = parse_drops(&args.drop)?;
    let filter = Filter::new(&args.filter).map_err(Failure::Usage)?;
    let out_path = &args.output;
    if args.input.as_os_str() != "-" && same_file(&args.input, out_path) {
        return Err(Failure::Usage(format!(
            "{}: OUT is the input file; the input is never modified",
            out_path.display()
        )));
    }
    if out_path.exists() && !args.force {
        return Err(Failure::Usage(format!(
            "{}: exists; not overwritten (--force to replace it)",
            out_path.display()
        )));
    }
    let dir = match out_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let inp = input::open(&args.input).map_err(|e| Failure::Usage(e.to_string()))?;
    // A temporary file beside OUT: removed on any failure (dropped), renamed on success.
    let tmp = tempfile::Builder::new()
        .prefix(&format!(
            ".{}.",
            out_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ))
        .suffix(".rdbkit-tmp")
        .tempfile_in(&dir)
        .map_err(|e| {
            Failure::Usage(format!(
                "{}: cannot create a file there: {e}",
                dir.display()
            ))
        })?;
    // Ctrl-C / SIGTERM stop at the next record; the temporary file is then dropped (removed).
    stop_on_interrupt();
    let file = tmp
        .as_file()
        .try_clone()
        .map_err(io_fail("temporary file"))?;
    // As a server's SAVE leaves it (tempfile creates 0600).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io_fail("temporary file"))?;
    }
    // The file's writer stages 1 MiB before each write: no BufWriter in between (it would
    // copy every chunk once more).
    let plan = Plan {
        target,
        allowed,
        drop_unknown,
        re_encode: args.re_encode,
        compress: !args.no_compress,
        filter: &filter,
        filtering: filter_active(&args.filter),
        opts: Options::default()
            .deep(false)
            .verify_checksum(!args.no_checksum)
            .best_effort(false),
        max_value_bytes: args.max_value_bytes,
        quiet: args.quiet || args.json,
    };
    let (mut sum, _) = write_rdb(inp, Box::new(WriteBack::new(file)), plan)?;
    let file = tmp.as_file();
    sum.bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    file.sync_all().map_err(io_fail("fsync"))?;
    if args.force {
        tmp.persist(out_path)
            .map_err(|e| Failure::Usage(format!("{}: {}", out_path.display(), e.error)))?;
    } else {
        // Never replaces a file that appeared meanwhile.
        tmp.persist_noclobber(out_path)
            .map_err(|e| Failure::Usage(format!("{}: {}", out_path.display(), e.error)))?;
    }
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(sum)
}

/// The temporary file's writeback is started after every this many bytes written, so that the
/// final fsync finds little left to write (Redis's `rdb-save-incremental-fsync` uses 4 MiB).
const WRITEBACK_BYTES: u64 = 32 << 20;

/// `convert`'s temporary file: the kernel is asked to start writing each [`WRITEBACK_BYTES`]
/// out as soon as they are written (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, which does not
/// wait), as a server's `SAVE` does with `rdb-save-incremental-fsync yes`: the disk works while
/// the rest is converted, and the fsync before the rename waits only for the last part. What is
/// durable is still decided by that fsync (its error is the one reported).
struct WriteBack {
    file: std::fs::File,
    written: u64,
    started: u64,
}

impl WriteBack {
    fn new(file: std::fs::File) -> Self {
        WriteBack {
            file,
            written: 0,
            started: 0,
        }
    }

    #[cfg(target_os = "linux")]
    fn start_writeback(&mut self) {
        use std::os::unix::io::AsRawFd;
        let (from, len) = (self.started, self.written - self.started);
        // SAFETY: a plain system call on a file descriptor this value owns (open for its
        // lifetime); no memory is passed. Its result is only advice: an error (none expected
        // on a regular file) leaves the pages to the fsync, which reports any write error.
        unsafe {
            libc::sync_file_range(
                self.file.as_raw_fd(),
                from as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
        self.started = self.written;
    }

    #[cfg(not(target_os = "linux"))]
    fn start_writeback(&mut self) {
        self.started = self.written;
    }
}

impl Write for WriteBack {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= WRITEBACK_BYTES {
            self.start_writeback();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Where a conversion's RDB goes: the temporary file of `convert`, or the replica's socket of
/// `restore --sync`.
pub(crate) type Sink = Box<dyn Write + Send>;

/// What a conversion writes, besides its input and its output.
pub(crate) struct Plan<'a> {
    /// The RDB version and fork written.
    pub(crate) target: Target,
    /// The losses accepted (counted), the others refused.
    pub(crate) allowed: Vec<Loss>,
    /// An AOF's value-unknown keys are left out (counted) rather than refused.
    pub(crate) drop_unknown: bool,
    /// Re-encode values the target could read as stored.
    pub(crate) re_encode: bool,
    /// LZF-compress re-encoded strings.
    pub(crate) compress: bool,
    /// The keys written.
    pub(crate) filter: &'a Filter,
    /// Some filter is active (RESIZEDB and slot sizes are then left out).
    pub(crate) filtering: bool,
    /// The reader's options.
    pub(crate) opts: Options,
    /// `--max-value-bytes`.
    pub(crate) max_value_bytes: u64,
    /// No progress bar.
    pub(crate) quiet: bool,
}

/// Writes the data set of `inp` as one RDB for `plan.target` into `sink` (header to CRC
/// trailer, flushed) and returns what was written and the sink; the one conversion pipeline of
/// `convert` and `restore --sync`.
pub(crate) fn write_rdb(
    inp: impl Into<Data>,
    sink: Sink,
    plan: Plan<'_>,
) -> Result<(Summary, Sink), Failure> {
    let inp = inp.into();
    let target = plan.target;
    let out = RdbWriter::new(sink, target).map_err(io_fail("writing"))?;
    let mut pipe = Pipeline::new(out, plan.compress);
    let mut conv = Conv {
        w: RdbWriter::<Vec<u8>>::fragment(target).compress(plan.compress),
        target,
        allowed: plan.allowed,
        drop_unknown: plan.drop_unknown,
        re_encode: plan.re_encode,
        sum: Summary::default(),
        filter: plan.filter,
        db_written: None,
        reads_cache: [None; 256],
    };
    let opts = plan.opts;
    let inp = match inp {
        Data::Replayed(ds) => {
            from_replay(ds, &mut conv, &mut pipe)?;
            return finish_rdb(conv, pipe);
        }
        Data::Input(inp) => inp,
    };
    let mut progress = Progress::new(inp.size, plan.quiet);
    if inp.is_rdb() {
        let name = inp.name.clone();
        let filtering = plan.filtering;
        inp.with_rdb_values(opts, plan.max_value_bytes, |src| {
            let r = from_rdb(src, &mut conv, &mut pipe, &name, filtering, &mut progress);
            // Keys still being re-encoded come before whatever stopped the loop: their
            // verdict (a damaged value, a refused loss) is the one to report.
            let done = pipe.finish_batches(&mut conv, &name);
            done.and(r)
        })
        .map_err(|e| Failure::Usage(e.to_string()))??;
    } else {
        let ds = inp
            .load(opts, plan.filter.now_ms)
            .map_err(|e| Failure::Damaged(e.to_string()))?;
        from_replay(ds, &mut conv, &mut pipe)?;
    }
    progress.finish();
    finish_rdb(conv, pipe)
}

/// What [`write_rdb`] reads: an input (an RDB streamed, an AOF replayed), or a data set
/// replayed already (`restore --sync` replays an AOF before it changes the server's role).
pub(crate) enum Data {
    Input(input::Input),
    Replayed(crate::model::Dataset),
}

impl From<input::Input> for Data {
    fn from(i: input::Input) -> Data {
        Data::Input(i)
    }
}

/// The end of [`write_rdb`]: the last fragment, the trailer, the summary.
fn finish_rdb(mut conv: Conv<'_, Vec<u8>>, mut pipe: Pipeline) -> Result<(Summary, Sink), Failure> {
    check_interrupt()?;
    pipe.take_from(&mut conv.w)?;
    let mut sum = std::mem::take(&mut conv.sum);
    let out = pipe.into_out();
    sum.bytes = out.bytes_written();
    let sink = out.finish().map_err(io_fail("writing"))?;
    Ok((sum, sink))
}

pub(crate) fn filter_active(a: &crate::filter::FilterArgs) -> bool {
    !a.db.is_empty()
        || !a.types.is_empty()
        || a.pattern.is_some()
        || a.min_size.is_some()
        || a.skip_expired
}

fn from_rdb(
    src: &mut dyn RecordSource,
    conv: &mut Conv<'_, Vec<u8>>,
    pipe: &mut Pipeline,
    name: &str,
    filtering: bool,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let damaged = |e: rdbkit_rdb::Error| Failure::Damaged(format!("{name}: {e}"));
    let mut scratch = Scratch::new();
    // RESIZEDB is written only when nothing is filtered out (it would be wrong otherwise; it
    // is a hint the server does without).
    let mut pending_resize: Option<(u64, u64)> = None;
    let mut pending_meta: Option<(u64, Vec<u8>)> = None;
    // Records whose output is their input, byte for byte, are not written one by one: they
    // make a run of the input, copied in one piece when something else comes.
    let mut run = Run::default();
    // The source's lean path (runs of small plain string keys) when each of its keys would
    // be passed through as stored: no filter, nothing re-encoded.
    let lean = !filtering && !conv.re_encode && conv.reads(rdbkit_rdb::Type::String, 0);
    // The records of a lean run whose key the writer would not write as stored (an integer,
    // a compressed key): written one by one.
    let mut odd: Vec<(u64, u64)> = Vec::new();
    loop {
        if lean && pending_meta.is_none() {
            odd.clear();
            let w = &conv.w;
            let lr = src.lean_run(RUN_BYTES, &mut |key, start, end| {
                if !w.writes_short_key_as_is(key) {
                    odd.push((start, end));
                }
            });
            if let Some(lr) = lr {
                check_interrupt()?;
                if conv.w.fragment_len() >= FRAGMENT_BYTES {
                    pipe.take_from(&mut conv.w)?;
                }
                if pipe.full() {
                    pipe.launch(conv, name)?;
                }
                progress.set(lr.end);
                if conv.db_written != Some(lr.db) || pending_resize.is_some() {
                    run.flush(lr.input, conv, pipe)?;
                    conv.select(lr.db)?;
                    if let Some((a, b)) = pending_resize.take() {
                        conv.w.resize_db(a, b).map_err(io_fail("writing"))?;
                    }
                }
                let mut from = lr.start;
                for &(start, end) in &odd {
                    run.add(from, start, lr.input, conv, pipe)?;
                    run.flush(lr.input, conv, pipe)?;
                    // As the lean run stores it: type byte, key length and key, value.
                    let rec = &lr.input[start as usize..end as usize];
                    let key_end = 2 + usize::from(rec[1]);
                    conv.w
                        .key_raw(&rec[2..key_end], None, None, None, rec[0], &rec[key_end..])
                        .map_err(io_fail("writing"))?;
                    from = end;
                }
                run.add(from, lr.end, lr.input, conv, pipe)?;
                conv.sum.wrote_many(lr.db, lr.keys);
                conv.sum.passed_through += lr.keys;
                continue;
            }
        }
        let (rec, input) = src.next_with_input();
        let Some(rec) = rec else {
            break;
        };
        check_interrupt()?;
        if conv.w.fragment_len() >= FRAGMENT_BYTES {
            pipe.take_from(&mut conv.w)?;
        }
        if pipe.full() {
            pipe.launch(conv, name)?;
        }
        let rec = rec.map_err(damaged)?;
        if !matches!(rec, Record::Key(_)) {
            // Whatever it writes comes after the run.
            run.flush_from(input, conv, pipe)?;
        }
        match rec {
            Record::Aux { key, value } => conv.w.aux(&key, &value).map_err(io_fail("writing"))?,
            Record::SelectDb { db } => {
                pending_resize = None;
                if conv.filter.wants_db(db) && !filtering {
                    conv.select(db)?;
                }
            }
            Record::ResizeDb {
                db_size,
                expires_size,
            } => pending_resize = Some((db_size, expires_size)),
            Record::SlotInfo {
                slot,
                size,
                expires_size,
            } => {
                if !filtering {
                    conv.w
                        .slot_info(slot, size, expires_size)
                        .map_err(io_fail("writing"))?;
                }
            }
            Record::ModuleAux {
                module,
                when,
                payload,
            } => match conv.w.module_aux(module, when, payload.data) {
                Ok(()) => {}
                Err(WriteError::Loss(l)) => {
                    conv.accept(l, &format!("module AUX of {}", module.name_str()))?
                }
                Err(WriteError::Io(e)) => return Err(Failure::Usage(format!("writing: {e}"))),
            },
            Record::Function { code } => match conv.w.function(&code) {
                Ok(()) => conv.sum.functions += 1,
                Err(WriteError::Loss(l)) => conv.accept(l, "a function library")?,
                Err(WriteError::Io(e)) => return Err(Failure::Usage(format!("writing: {e}"))),
            },
            Record::FunctionPreGa { name, .. } => conv.accept(
                Loss::Functions,
                &format!(
                    "Redis 7.0 release-candidate function {:?} (no GA server loads it)",
                    String::from_utf8_lossy(&name)
                ),
            )?,
            Record::KeyMeta { classes, raw } => pending_meta = Some((classes, raw.to_vec())),
            Record::Key(k) => {
                progress.set(k.end);
                let meta = pending_meta.take();
                let family = k.value.ty.family();
                // Without a filter every key passes (`filter_active`): no call a key.
                if filtering
                    && !conv.filter.accepts(
                        k.db,
                        k.key,
                        family,
                        k.expire_ms,
                        Some(k.end - k.offset),
                    )
                {
                    conv.sum.filtered += 1;
                    continue;
                }
                let v = &k.value;
                let through = !conv.re_encode && conv.reads(v.ty, v.type_byte);
                // Copied from the input as part of a run when nothing is written before it
                // (key metadata, SELECTDB, RESIZEDB) and its record as written is its record
                // as stored (same attributes, same key encoding).
                if through
                    && meta.is_none()
                    && conv.db_written == Some(k.db)
                    && (pending_resize.is_none() || filtering)
                {
                    if let Some(input) = input {
                        let (start, vstart, end) =
                            (k.offset as usize, v.offset() as usize, k.end as usize);
                        let raw = v.raw();
                        let stored = input.get(vstart..end).is_some_and(|s| {
                            std::ptr::eq(s.as_ptr(), raw.as_ptr()) && s.len() == raw.len()
                        });
                        if stored
                            && start <= vstart
                            && conv.w.key_head_is(
                                &input[start..vstart],
                                k.key,
                                k.expire_ms,
                                k.lru_idle,
                                k.lfu_freq,
                                v.type_byte,
                            )
                        {
                            pending_resize = None;
                            run.add(k.offset, k.end, input, conv, pipe)?;
                            conv.sum.wrote(k.db);
                            conv.sum.passed_through += 1;
                            continue;
                        }
                    }
                }
                run.flush_from(input, conv, pipe)?;
                if let Some((classes, raw)) = meta {
                    match conv.w.key_meta(classes, &raw) {
                        Ok(()) => {}
                        Err(WriteError::Loss(l)) => conv.accept(
                            l,
                            &format!("db {} key \"{}\" metadata", k.db, escape_key(k.key)),
                        )?,
                        Err(WriteError::Io(e)) => {
                            return Err(Failure::Usage(format!("writing: {e}")))
                        }
                    }
                }
                conv.select(k.db)?;
                if let Some((a, b)) = pending_resize.take() {
                    if !filtering {
                        conv.w.resize_db(a, b).map_err(io_fail("writing"))?;
                    }
                }
                if through {
                    // A big value with nothing waiting before it goes straight to the file
                    // (no copy into the fragment).
                    let direct = v.raw().len() >= DIRECT_BYTES && pipe.direct();
                    let raw: &[u8] = if direct { &[] } else { v.raw() };
                    conv.w
                        .key_raw(k.key, k.expire_ms, k.lru_idle, k.lfu_freq, v.type_byte, raw)
                        .map_err(io_fail("writing"))?;
                    if direct {
                        pipe.take_from(&mut conv.w)?;
                        pipe.put_direct(v.raw())?;
                    }
                    conv.sum.wrote(k.db);
                    conv.sum.passed_through += 1;
                    continue;
                }
                if let Some(d) = DetachedIn::new(v, &mut pipe.cur.data) {
                    // Decoded and re-encoded on a worker; written here in file order.
                    pipe.take_from(&mut conv.w)?;
                    let data = &mut pipe.cur.data;
                    let start = data.len();
                    data.extend_from_slice(k.key);
                    let key = start..data.len();
                    pipe.job(Job {
                        db: k.db,
                        key,
                        expire_ms: k.expire_ms,
                        lru: k.lru_idle,
                        lfu: k.lfu_freq,
                        value: d,
                    });
                    continue;
                }
                let owned = v
                    .to_owned_value_in(&mut scratch)
                    .map_err(|e| damaged(e.in_key(Some(k.db), k.key)))?;
                if owned.is_empty() && owned.family() != "string" && owned.family() != "stream" {
                    // The server drops empty collections on load; so do we (counted).
                    *conv.sum.dropped.entry("empty").or_default() += 1;
                    continue;
                }
                conv.owned_key(k.db, k.key, k.expire_ms, k.lru_idle, k.lfu_freq, owned)?;
            }
            Record::Eof { .. } => break,
            // Templates are resolved into plain hashes; slot-migration jobs and Enterprise
            // opcodes are server state, not data.
            Record::HashTemplate { .. }
            | Record::SlotImport { .. }
            | Record::EnterpriseOpcode { .. } => {}
            // A record kind newer than this writer: refused by name, never dropped silently.
            other => {
                return Err(Failure::Damaged(format!(
                    "{name}: a record this converter does not know: {other:?}"
                )))
            }
        }
    }
    // Every record after a run flushes it (the EOF record too).
    if !run.is_empty() {
        return Err(Failure::Damaged(format!(
            "{name}: the input ended without its EOF record"
        )));
    }
    Ok(())
}

/// The most input a [`Run`] holds before it is copied (a run goes straight from the input to
/// the file when nothing waits before it; otherwise into the batch, which this bounds).
const RUN_BYTES: usize = 1 << 20;

/// A run of the input (file offsets `start..end`) whose records are passed through as stored:
/// the output's next bytes, after everything written so far, copied in one piece (one CRC
/// update, one write) when something else is written.
#[derive(Default)]
struct Run {
    start: u64,
    end: u64,
}

impl Run {
    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Appends `input[start..end]`: extends the run when it follows it (up to [`RUN_BYTES`]),
    /// else copies the run and starts another.
    fn add(
        &mut self,
        start: u64,
        end: u64,
        input: &[u8],
        conv: &mut Conv<'_, Vec<u8>>,
        pipe: &mut Pipeline,
    ) -> Result<(), Failure> {
        if start == end {
            return Ok(());
        }
        if self.end == start && !self.is_empty() && end - self.start <= RUN_BYTES as u64 {
            self.end = end;
            return Ok(());
        }
        self.flush(input, conv, pipe)?;
        (self.start, self.end) = (start, end);
        Ok(())
    }

    /// [`flush`](Self::flush) with the input a source gave beside its record (a run exists only
    /// where it gave one).
    fn flush_from(
        &mut self,
        input: Option<&[u8]>,
        conv: &mut Conv<'_, Vec<u8>>,
        pipe: &mut Pipeline,
    ) -> Result<(), Failure> {
        match input {
            Some(input) => self.flush(input, conv, pipe),
            None if self.is_empty() => Ok(()),
            None => Err(Failure::Usage(
                "internal: a run of the input without the input".into(),
            )),
        }
    }

    /// Copies the run into the output: straight from the input to the file when it is big and
    /// nothing waits before it, else after the records written so far.
    fn flush(
        &mut self,
        input: &[u8],
        conv: &mut Conv<'_, Vec<u8>>,
        pipe: &mut Pipeline,
    ) -> Result<(), Failure> {
        if self.is_empty() {
            return Ok(());
        }
        let bytes = &input[self.start as usize..self.end as usize];
        self.start = self.end;
        if bytes.len() >= DIRECT_BYTES && pipe.direct() {
            pipe.take_from(&mut conv.w)?;
            pipe.put_direct(bytes)
        } else {
            conv.w.put_fragment(bytes).map_err(io_fail("writing"))
        }
    }
}

/// A passed-through value of this size or more goes straight to the file when nothing waits
/// before it (as [`RdbWriter`] writes such values without staging them).
const DIRECT_BYTES: usize = 64 << 10;
/// A fragment writer hands its bytes on once it holds this much.
const FRAGMENT_BYTES: usize = 1 << 20;
/// A batch of keys to re-encode is sent to the workers at this many keys ...
const BATCH_KEYS: usize = 2048;
/// ... or this many bytes held (value bytes and the output waiting behind them): with one
/// batch being encoded while the next is read, memory stays at about twice this plus the
/// largest value.
const BATCH_BYTES: usize = 8 << 20;

/// A key to re-encode on a worker: the key and the stored value's bytes, detached from the
/// input into its batch's buffer ([`Batch::data`]: one allocation a batch, not two a key).
struct Job {
    db: u64,
    /// The key's bytes in the batch's buffer.
    key: std::ops::Range<usize>,
    expire_ms: Option<i64>,
    lru: Option<u64>,
    lfu: Option<u8>,
    value: DetachedIn,
}

/// What a worker made of a [`Job`]; the main thread acts on it in file order, as the
/// sequential conversion did key by key.
enum Done {
    /// The value does not decode: the decoder's located error.
    Damaged(rdbkit_rdb::Error),
    /// An empty collection (the servers drop them on load).
    Empty,
    /// The target cannot hold the key at all (`loss` is to be accepted or refused).
    Dropped { family: &'static str, loss: Loss },
    /// The key's record (attributes, type, key, value), after accepting `loss` if any: these
    /// bytes of the worker's output (one buffer a worker and batch, not a `Vec` a key).
    Written {
        family: &'static str,
        loss: Option<Loss>,
        record: std::ops::Range<usize>,
    },
    /// The encoder refused what was left after stripping.
    Refused { family: &'static str, loss: Loss },
}

/// Decodes and re-encodes one key, as [`from_rdb`] and [`Conv::owned_key`] do inline; a
/// written record is appended to `frag`'s output.
fn run_job(
    job: &Job,
    data: &[u8],
    target: &Target,
    scratch: &mut Scratch,
    frag: &mut RdbWriter<Vec<u8>>,
) -> Done {
    // Hashes, sorted sets and lists bound for a ziplist encoding are re-encoded straight
    // from their stored entries (same bytes, same errors); the rest through an OwnedValue.
    let value = job.value.value(data);
    let key = &data[job.key.clone()];
    let start = frag.fragment_len();
    match frag.key_value(key, job.expire_ms, job.lru, job.lfu, &value, scratch) {
        Ok(Transcoded::Written(_)) => {
            return Done::Written {
                family: value.ty.family(),
                loss: None,
                record: start..frag.fragment_len(),
            }
        }
        // A stream written for an older stream format: its loss, accepted or refused on
        // the main thread as for the OwnedValue path.
        Ok(Transcoded::Stripped(_, l)) => {
            return Done::Written {
                family: value.ty.family(),
                loss: Some(l),
                record: start..frag.fragment_len(),
            }
        }
        Ok(Transcoded::Empty) => return Done::Empty,
        Err(e) => return Done::Damaged(e.in_key(Some(job.db), key)),
        Ok(Transcoded::Declined) => {}
    }
    let mut v = match value.to_owned_value_in(scratch) {
        Ok(v) => v,
        Err(e) => return Done::Damaged(e.in_key(Some(job.db), key)),
    };
    let family = v.family();
    if v.is_empty() && family != "string" && family != "stream" {
        return Done::Empty;
    }
    let loss = rdbkit_rdb::write::loss(&v, target);
    if let Some(l) = loss {
        if strip(&mut v, target).is_some() {
            return Done::Dropped { family, loss: l };
        }
    }
    match frag.key(key, job.expire_ms, job.lru, job.lfu, &v) {
        Ok(_) => Done::Written {
            family,
            loss,
            record: start..frag.fragment_len(),
        },
        Err(WriteError::Loss(l)) => Done::Refused { family, loss: l },
        // A Vec never fails.
        Err(WriteError::Io(e)) => unreachable!("writing to memory: {e}"),
    }
}

/// One piece of the output in file order: bytes ready (in the batch's [`Batch::out`]), or
/// the record of the batch's job i.
enum Seg {
    Bytes(std::ops::Range<usize>),
    Job(usize),
}

/// The batch being filled.
#[derive(Default)]
struct Batch {
    segs: Vec<Seg>,
    jobs: Vec<Job>,
    /// The jobs' keys and values.
    data: Vec<u8>,
    /// The records written between the jobs.
    out: Vec<u8>,
    bytes: usize,
}

/// A batch's buffers are used again for a later batch unless they grew past this (a huge
/// value's), so memory stays bounded by the batches in use.
const REUSE_BYTES: usize = 2 * BATCH_BYTES;

/// Jobs a worker takes at a time from a batch (the next chunk of the oldest batch with any
/// left): the pool balances itself whatever each key costs.
const CHUNK_JOBS: usize = 16;

/// Batches sent and not yet written, besides the one the writer holds: the reader waits for
/// the writer beyond this. With the one being filled, at most `FLIGHT + 2` batches are held,
/// each up to [`BATCH_BYTES`] plus its last value, and their re-encoded records.
const FLIGHT: usize = 3;

/// A chunk's verdicts (one a job) and its records (a [`Done::Written`] is a range of them).
type ChunkOut = (Vec<Done>, Vec<u8>);

/// A batch's jobs, shared by the workers (a chunk at a time) and the writer (once all chunks
/// are done: the writer then holds the only reference).
struct Work {
    jobs: Vec<Job>,
    data: Vec<u8>,
    chunks: usize,
    /// The next chunk to take; changed only under [`Shared::queue`]'s lock.
    next: AtomicUsize,
    /// Chunks done (their results stored): the worker that finishes the last one wakes the
    /// writer (one wake-up a batch, not one a chunk: a `Condvar` notification is a system
    /// call whether anyone waits or not).
    finished: AtomicUsize,
    results: Mutex<Vec<Option<ChunkOut>>>,
}

/// What the reader sends the writer, in file order: a batch's segments, the records between
/// its jobs, and its jobs.
struct Landing {
    segs: Vec<Seg>,
    out: Vec<u8>,
    work: Arc<Work>,
}

/// The state the reader, the workers and the writer share.
struct Shared {
    /// The output: written by the writer, batch by batch, and by the reader when nothing
    /// waits before what it writes ([`Pipeline::direct`]).
    out: Mutex<Option<RdbWriter<Sink>>>,
    /// Batches with chunks not yet taken, oldest first.
    queue: Mutex<VecDeque<Arc<Work>>>,
    /// A batch was queued, or the pool stops.
    work_cv: Condvar,
    /// Signalled whenever a worker is done with a chunk (the writer waits on it).
    done_lock: Mutex<()>,
    done_cv: Condvar,
    /// Batches written so far.
    written: AtomicU64,
    /// The writer met a failure (or the pipeline is dropped): the rest is not written and
    /// the workers skip their jobs.
    failed: AtomicBool,
    /// The workers end once the queue is empty.
    shutdown: AtomicBool,
    /// A worker panicked: the writer must not wait for it.
    panicked: AtomicBool,
    /// Chunk buffers written, for the workers' next chunks.
    spare_chunks: Mutex<Vec<Vec<u8>>>,
    /// Batch buffers written (`data`, `out`), for the reader's next batches.
    spare_batches: Mutex<Vec<(Vec<u8>, Vec<u8>)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock means a thread panicked: that panic is propagated where it is joined.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Marks the pool as broken when a worker unwinds, so that the writer stops waiting for it.
struct PanicGuard<'a>(&'a Shared);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.panicked.store(true, Ordering::SeqCst);
            let _g = lock(&self.0.done_lock);
            self.0.done_cv.notify_all();
        }
    }
}

/// A worker: takes the next chunk of the oldest batch, decodes and re-encodes its keys into
/// one buffer, and hands the chunk's verdicts and records to the batch. Its decoder scratch,
/// fragment writer and compressor table (thread-local) live as long as the conversion.
fn worker(sh: Arc<Shared>, target: Target, compress: bool) {
    let _guard = PanicGuard(&sh);
    let mut scratch = Scratch::new();
    let mut frag = RdbWriter::<Vec<u8>>::fragment(target).compress(compress);
    loop {
        let (work, c) = {
            let mut q = lock(&sh.queue);
            loop {
                if let Some(w) = q.front() {
                    let c = w.next.fetch_add(1, Ordering::Relaxed);
                    let w = Arc::clone(w);
                    if c + 1 >= w.chunks {
                        q.pop_front();
                    }
                    break (w, c);
                }
                if sh.shutdown.load(Ordering::SeqCst) {
                    return;
                }
                q = sh.work_cv.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        let jobs = &work.jobs[c * CHUNK_JOBS..work.jobs.len().min((c + 1) * CHUNK_JOBS)];
        let mut done = Vec::with_capacity(jobs.len());
        if !sh.failed.load(Ordering::Relaxed) {
            for j in jobs {
                done.push(run_job(j, &work.data, &target, &mut scratch, &mut frag));
            }
        }
        let spare = lock(&sh.spare_chunks).pop().unwrap_or_default();
        let out = frag.take_fragment_with(spare);
        lock(&work.results)[c] = Some((done, out));
        let last = work.finished.fetch_add(1, Ordering::AcqRel) + 1 == work.chunks;
        drop(work);
        if last {
            let _g = lock(&sh.done_lock);
            sh.done_cv.notify_all();
        }
    }
}

/// The writer's share of the summary and of the verdicts: what the sequential conversion
/// did at each re-encoded key, in file order.
struct Verdicts {
    target: Target,
    allowed: Vec<Loss>,
    sum: Summary,
    name: String,
}

/// The writer: writes each batch in file order once its jobs are done (the output's CRC
/// and `write` calls are here, off the reading thread), applying each job's verdict. After
/// a failure it writes nothing more and only drains what the reader still sends.
fn writer(sh: Arc<Shared>, rx: mpsc::Receiver<Landing>, mut v: Verdicts) -> WriterEnd {
    let mut res = Ok(());
    for l in rx {
        if res.is_err() {
            continue;
        }
        wait_done(&sh, &l.work);
        if sh.failed.load(Ordering::SeqCst) {
            // Dropped early: the workers may have skipped this batch's jobs.
            continue;
        }
        let r = {
            let mut out = lock(&sh.out);
            let out = out
                .as_mut()
                .expect("the output is the writer's while batches are sent");
            write_segs(&sh, out, l.segs, l.out, l.work, &mut v)
        };
        match r {
            Ok(()) => {
                sh.written.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => {
                sh.failed.store(true, Ordering::SeqCst);
                res = Err(e);
            }
        }
    }
    (v.sum, res)
}

/// What the writer ends with: its share of the summary, and the first failure it met.
type WriterEnd = (Summary, Result<(), Failure>);

/// Waits until every chunk of `work` is done (a worker may still hold its reference for a
/// moment: the writer reads the batch through its own).
fn wait_done(sh: &Shared, work: &Work) {
    if work.finished.load(Ordering::Acquire) == work.chunks {
        return;
    }
    let mut g = lock(&sh.done_lock);
    loop {
        if work.finished.load(Ordering::Acquire) == work.chunks {
            return;
        }
        if sh.panicked.load(Ordering::SeqCst) {
            panic!("a re-encoding worker panicked");
        }
        g = sh.done_cv.wait(g).unwrap_or_else(|e| e.into_inner());
    }
}

/// Writes a batch's segments in order, applying each job's verdict as the sequential
/// conversion would have at that key.
fn write_segs(
    sh: &Shared,
    w: &mut RdbWriter<Sink>,
    segs: Vec<Seg>,
    mut out: Vec<u8>,
    work: Arc<Work>,
    v: &mut Verdicts,
) -> Result<(), Failure> {
    let mut chunks = std::mem::take(&mut *lock(&work.results));
    let (jobs, data) = (&work.jobs, &work.data);
    let mut at = 0;
    let mut done = Vec::new().into_iter();
    let mut record_buf = 0;
    for seg in segs {
        match seg {
            Seg::Bytes(r) => w.put_fragment(&out[r]).map_err(io_fail("writing"))?,
            Seg::Job(i) => {
                // Jobs come in order: chunk i / CHUNK_JOBS, its (i % CHUNK_JOBS)th verdict.
                debug_assert_eq!(i, at);
                if i % CHUNK_JOBS == 0 {
                    let (d, _) = chunks[i / CHUNK_JOBS]
                        .as_mut()
                        .expect("a re-encoding worker panicked");
                    done = std::mem::take(d).into_iter();
                    record_buf = i / CHUNK_JOBS;
                }
                at += 1;
                let job = &jobs[i];
                let key = &data[job.key.clone()];
                let what =
                    |family: &str| format!("db {} key \"{}\" ({family})", job.db, escape_key(key));
                match done.next().expect("one verdict per job") {
                    Done::Damaged(e) => return Err(Failure::Damaged(format!("{}: {e}", v.name))),
                    Done::Empty => *v.sum.dropped.entry("empty").or_default() += 1,
                    Done::Dropped { family, loss } => {
                        accept_loss(&v.allowed, &v.target, &mut v.sum, loss, &what(family))?
                    }
                    Done::Refused { family, loss } => {
                        return Err(Failure::Refused(format!("{}: {loss}", what(family))))
                    }
                    Done::Written {
                        family,
                        loss,
                        record,
                    } => {
                        if let Some(l) = loss {
                            accept_loss(&v.allowed, &v.target, &mut v.sum, l, &what(family))?;
                        }
                        let (_, recs) = chunks[record_buf].as_ref().expect("chunk");
                        w.put_fragment(&recs[record]).map_err(io_fail("writing"))?;
                        v.sum.wrote(job.db);
                        v.sum.re_encoded += 1;
                    }
                }
            }
        }
    }
    {
        let mut spare = lock(&sh.spare_chunks);
        for (_, b) in chunks.into_iter().flatten() {
            if b.capacity() <= FRAGMENT_BYTES && spare.len() < 64 {
                spare.push(b);
            }
        }
    }
    // Used again when no worker still holds the batch (the last one drops it at once).
    let Ok(Work { mut data, .. }) = Arc::try_unwrap(work) else {
        return Ok(());
    };
    if data.capacity() <= REUSE_BYTES && out.capacity() <= REUSE_BYTES {
        let mut spare = lock(&sh.spare_batches);
        if spare.len() < FLIGHT + 2 {
            data.clear();
            out.clear();
            spare.push((data, out));
        }
    }
    Ok(())
}

/// Re-encoding on a pool of worker threads with the output in file order. The reading thread
/// reads and passes records through into batches and sends each batch (at most [`FLIGHT`]
/// waiting); the workers, spawned once for the conversion, take the batches' jobs a chunk at a
/// time, oldest batch first; the writer thread writes each batch once its jobs are done,
/// applying their verdicts. Before the first key to re-encode nothing is spawned and the
/// reading thread writes the output itself, as it does whenever nothing waits to be written.
struct Pipeline {
    sh: Arc<Shared>,
    compress: bool,
    cur: Batch,
    /// To the writer; `None` until the first batch with jobs, and after [`Self::stop`].
    tx: Option<mpsc::SyncSender<Landing>>,
    writer: Option<std::thread::JoinHandle<WriterEnd>>,
    workers: Vec<std::thread::JoinHandle<()>>,
    /// Batches sent to the writer.
    sent: u64,
}

impl Pipeline {
    fn new(out: RdbWriter<Sink>, compress: bool) -> Self {
        Pipeline {
            sh: Arc::new(Shared {
                out: Mutex::new(Some(out)),
                queue: Mutex::new(VecDeque::new()),
                work_cv: Condvar::new(),
                done_lock: Mutex::new(()),
                done_cv: Condvar::new(),
                written: AtomicU64::new(0),
                failed: AtomicBool::new(false),
                shutdown: AtomicBool::new(false),
                panicked: AtomicBool::new(false),
                spare_chunks: Mutex::new(Vec::new()),
                spare_batches: Mutex::new(Vec::new()),
            }),
            compress,
            cur: Batch::default(),
            tx: None,
            writer: None,
            workers: Vec::new(),
            sent: 0,
        }
    }

    /// Writes `bytes` to the output now (only when [`direct`](Self::direct)).
    fn put_direct(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let mut out = lock(&self.sh.out);
        let out = out.as_mut().expect("the output");
        out.put_fragment(bytes).map_err(io_fail("writing"))
    }

    /// What `w` has written so far: output bytes that come next in file order (`w` goes on
    /// empty, its buffers kept).
    fn take_from(&mut self, w: &mut RdbWriter<Vec<u8>>) -> Result<(), Failure> {
        if w.fragment_len() == 0 {
            return Ok(());
        }
        if self.direct() {
            let mut out = lock(&self.sh.out);
            let out = out.as_mut().expect("the output");
            return w
                .drain_fragment(|b| out.put_fragment(b))
                .map_err(io_fail("writing"));
        }
        let cur = &mut self.cur;
        w.drain_fragment(|b| {
            let start = cur.out.len();
            cur.out.extend_from_slice(b);
            cur.bytes += b.len();
            cur.segs.push(Seg::Bytes(start..cur.out.len()));
        });
        Ok(())
    }

    /// True when output goes to the file at once (nothing is waiting to be written before
    /// it: the current batch is empty and every batch sent is written).
    fn direct(&self) -> bool {
        self.cur.segs.is_empty() && self.sh.written.load(Ordering::SeqCst) == self.sent
    }

    fn job(&mut self, job: Job) {
        self.cur.bytes += job.value.len() + job.key.len();
        self.cur.segs.push(Seg::Job(self.cur.jobs.len()));
        self.cur.jobs.push(job);
    }

    fn full(&self) -> bool {
        self.cur.jobs.len() >= BATCH_KEYS || self.cur.bytes >= BATCH_BYTES
    }

    /// Spawns the writer and the workers (once).
    fn start<W: Write>(&mut self, conv: &Conv<'_, W>, name: &str) {
        if self.tx.is_some() {
            return;
        }
        let (tx, rx) = mpsc::sync_channel(FLIGHT);
        let v = Verdicts {
            target: conv.target,
            allowed: conv.allowed.clone(),
            sum: Summary::default(),
            name: name.to_string(),
        };
        let sh = Arc::clone(&self.sh);
        self.writer = Some(std::thread::spawn(move || writer(sh, rx, v)));
        self.tx = Some(tx);
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        for _ in 0..n {
            let sh = Arc::clone(&self.sh);
            let (target, compress) = (conv.target, self.compress);
            self.workers
                .push(std::thread::spawn(move || worker(sh, target, compress)));
        }
    }

    /// Sends the current batch: its jobs to the workers, the batch to the writer (waiting
    /// while [`FLIGHT`] batches wait for it).
    fn launch<W: Write>(&mut self, conv: &mut Conv<'_, W>, name: &str) -> Result<(), Failure> {
        if self.cur.segs.is_empty() {
            return Ok(());
        }
        if self.sh.failed.load(Ordering::SeqCst) {
            // The writer has the failure to report (it comes first in file order).
            return Err(Failure::Usage("internal: the writer stopped".into()));
        }
        self.start(conv, name);
        let batch = std::mem::take(&mut self.cur);
        if let Some((data, out)) = lock(&self.sh.spare_batches).pop() {
            (self.cur.data, self.cur.out) = (data, out);
        }
        let chunks = batch.jobs.len().div_ceil(CHUNK_JOBS);
        let work = Arc::new(Work {
            jobs: batch.jobs,
            data: batch.data,
            chunks,
            next: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            results: Mutex::new((0..chunks).map(|_| None).collect()),
        });
        if chunks > 0 {
            lock(&self.sh.queue).push_back(Arc::clone(&work));
            self.sh.work_cv.notify_all();
        }
        self.sent += 1;
        let tx = self.tx.as_ref().expect("started");
        if tx
            .send(Landing {
                segs: batch.segs,
                out: batch.out,
                work,
            })
            .is_err()
        {
            // The writer is gone (it panicked): joined in `stop`.
            return Err(Failure::Usage("internal: the writer stopped".into()));
        }
        Ok(())
    }

    /// Writes every batch (the ones sent, then the current one) and stops the threads: the
    /// first failure in file order among the batches, else `Ok`.
    fn finish_batches<W: Write>(
        &mut self,
        conv: &mut Conv<'_, W>,
        name: &str,
    ) -> Result<(), Failure> {
        let r = self.launch(conv, name);
        if let Some((sum, res)) = self.stop(true) {
            conv.sum.merge(sum);
            res?;
        }
        r
    }

    /// Closes the writer's channel, waits for it (it writes what was sent, unless it failed)
    /// and ends the workers. Its summary and verdict; a panic on a thread is propagated when
    /// `propagate`.
    fn stop(&mut self, propagate: bool) -> Option<WriterEnd> {
        drop(self.tx.take());
        let r = match self.writer.take().map(|h| h.join()) {
            None => None,
            Some(Ok(r)) => Some(r),
            Some(Err(p)) => {
                self.end_workers();
                if propagate {
                    std::panic::resume_unwind(p);
                }
                return None;
            }
        };
        self.end_workers();
        r
    }

    fn end_workers(&mut self) {
        self.sh.shutdown.store(true, Ordering::SeqCst);
        {
            let _q = lock(&self.sh.queue);
            self.sh.work_cv.notify_all();
        }
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }

    /// The output, once every batch is written.
    fn into_out(mut self) -> RdbWriter<Sink> {
        self.stop(true);
        lock(&self.sh.out).take().expect("the output")
    }
}

impl Drop for Pipeline {
    /// On an early return: nothing more is written, the threads end.
    fn drop(&mut self) {
        if self.tx.is_some() || !self.workers.is_empty() {
            self.sh.failed.store(true, Ordering::SeqCst);
            self.stop(false);
        }
    }
}

/// Writes a replayed data set (an AOF's offline rewrite).
fn from_replay(
    ds: crate::model::Dataset,
    conv: &mut Conv<'_, Vec<u8>>,
    pipe: &mut Pipeline,
) -> Result<(), Failure> {
    for code in &ds.functions {
        match conv.w.function(code) {
            Ok(()) => conv.sum.functions += 1,
            Err(WriteError::Loss(l)) => conv.accept(l, "a function library")?,
            Err(WriteError::Io(e)) => return Err(Failure::Usage(format!("writing: {e}"))),
        }
    }
    for (db, keys) in ds.dbs {
        for (key, mk) in keys {
            check_interrupt()?;
            if conv.w.fragment_len() >= FRAGMENT_BYTES {
                pipe.take_from(&mut conv.w)?;
            }
            if let crate::model::MValue::Unknown { reason, .. } = &mk.value {
                // Nothing to write, and nothing may be lost silently: refused (exit 3)
                // unless --drop names it.
                if conv.drop_unknown {
                    *conv.sum.dropped.entry(VALUE_UNKNOWN).or_default() += 1;
                    continue;
                }
                return Err(Failure::Refused(format!(
                    "db {db} key \"{}\": value unknown ({reason}); the replay cannot \
                     reproduce it; nothing written (--drop {VALUE_UNKNOWN} to convert without it)",
                    escape_key(&key)
                )));
            }
            let v = mk.value.to_owned_value();
            let family = v.as_ref().map_or("module", |v| v.family());
            if !conv.filter.accepts(db, &key, family, mk.expire_ms, None) {
                conv.sum.filtered += 1;
                continue;
            }
            match v {
                Some(v) => conv.owned_key(db, &key, mk.expire_ms, None, None, v)?,
                None => conv.accept(
                    Loss::Modules,
                    &format!(
                        "db {db} key \"{}\" (module value from an AOF: no payload to write)",
                        escape_key(&key)
                    ),
                )?,
            }
        }
    }
    Ok(())
}

/// The replay model's way out to the library's owned values (`None`: a module value, whose
/// payload a replay does not have): [`crate::model::MValue::to_owned_value`].
pub(crate) fn model_to_owned(v: &crate::model::MValue) -> Option<OwnedValue> {
    v.to_owned_value()
}

fn print_summary(args: &Args, s: &Summary) {
    let target = Target::by_name(&args.target).map_or("?", |t| t.name);
    if args.json {
        let j = serde_json::json!({
            "input": args.input.display().to_string(),
            "output": args.output.display().to_string(),
            "target": target,
            "keys_written": s.keys_written,
            "passed_through": s.passed_through,
            "re_encoded": s.re_encoded,
            "filtered_out": s.filtered,
            "functions": s.functions,
            "dropped": s.dropped,
            "bytes": s.bytes,
        });
        println!("{j}");
        return;
    }
    println!(
        "{} -> {} ({target}): {} keys written ({} passed through, {} re-encoded), {} filtered out, {} function libraries, {} bytes",
        args.input.display(),
        args.output.display(),
        s.keys_written,
        s.passed_through,
        s.re_encoded,
        s.filtered,
        s.functions,
        s.bytes
    );
    for (kind, n) in &s.dropped {
        println!("  dropped ({kind}): {n}");
    }
}
