//! `rdbkit check`: decode everything with deep validation and the checksum, print a summary.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

use rdbkit_rdb::{ChecksumStatus, RdbFile, RdbReader, Record, RecordSource};

use crate::decode_args::{DecodeArgs, ThreadArgs};
use crate::failure::Failure;

#[derive(clap::Args)]
#[command(
    after_help = "Exit status: 0 the file is sound; 1 the file could not be opened; \
2 the file is damaged, truncated, has a bad checksum, or uses a format this build does not read."
)]
pub struct Args {
    /// --shallow (skip deep validation; deep by default), --no-checksum, --best-effort,
    /// --enterprise: the decode flags every subcommand shares.
    #[command(flatten)]
    pub decode: DecodeArgs,
    /// Print nothing when the file is sound.
    #[arg(short, long)]
    pub quiet: bool,
    /// --threads N: threads that validate values in a deep check of a file (default and
    /// maximum: one per core; 1 is the sequential check).
    #[command(flatten)]
    pub threads: ThreadArgs,
    /// The RDB file, or `-` for standard input. An AOF (a file, a manifest, an
    /// appendonlydir/, or a 4.0–6.2 AOF with an RDB preamble) is checked as `rdbkit aof check`
    /// does.
    pub file: PathBuf,
}

#[derive(Default)]
struct Summary {
    aux: Vec<(String, String)>,
    keys_per_db: BTreeMap<u64, (u64, u64)>,
    keys: u64,
    expires: u64,
    module_aux: u64,
    functions: u64,
    slot_info: u64,
    checksum: Option<ChecksumStatus>,
    end: u64,
    /// The db of the last key and its keys and expires not yet added to `keys_per_db` and
    /// the totals: a `BTreeMap` lookup per key was ~65 instructions a key, a call of `tally`
    /// with its totals ~40 (callgrind, 500 k small keys).
    cur_db: Option<u64>,
    cur_keys: u64,
    cur_expires: u64,
}

impl Summary {
    /// Adds the current db's pending counts to `keys_per_db`.
    /// Counts `keys` keys of `db`, `expires` of them with an expiry.
    #[inline(always)]
    fn count_keys(&mut self, db: u64, keys: u64, expires: u64) {
        if self.cur_db != Some(db) {
            self.settle();
            self.cur_db = Some(db);
        }
        self.cur_keys += keys;
        self.cur_expires += expires;
    }

    fn settle(&mut self) {
        if let Some(db) = self.cur_db.take() {
            let e = self.keys_per_db.entry(db).or_default();
            e.0 += self.cur_keys;
            e.1 += self.cur_expires;
            self.keys += self.cur_keys;
            self.expires += self.cur_expires;
        }
        self.cur_keys = 0;
        self.cur_expires = 0;
    }
}

/// Whether `path` can be opened for reading, asked without waiting: a FIFO whose writer already
/// went away (its content was read by the failed open) would block a plain `open` until a new
/// writer came — forever. `O_NONBLOCK` opens a FIFO at once and changes nothing else here: the
/// file is closed unread, and a missing file or a refused permission still fails.
fn opens_now(path: &std::path::Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .is_ok()
}

/// Runs `rdbkit check`: the summary (unless `--quiet`) when the file is sound, else the
/// failure (exit 2 for a damaged file, 1 for one that cannot be opened).
pub fn run(args: Args) -> Result<(), Failure> {
    let opts = args.decode.options(true);
    let mut sum = Summary::default();
    // stdin, pipes and compressed input (content-detected) stream; files are mapped.
    // An archive's `dump.rdb` is read in the archive's pass (see `check_member`).
    let mut inp = match crate::input::open_in_pass(&args.file) {
        Ok(inp) => inp,
        Err(e) => {
            // 1: can't be opened; 2: opened, but its content (an archive, a compressed
            // stream) is damaged or refused.
            let opens = args.file.as_os_str() == "-" || opens_now(&args.file);
            return Err(if opens {
                Failure::Damaged(e.0)
            } else {
                Failure::Open(e.0)
            });
        }
    };
    let name = inp.name.clone();
    if let Some(m) = inp.take_member() {
        return check_member(&args, opts, m, inp.codec);
    }
    if !inp.is_rdb() {
        return check_aof(&args, inp);
    }
    let compressed = inp.codec.is_some();
    // A compressed stream is decompressed on a thread of its own, with the very reads this
    // thread would make (see `crate::readahead`): the same results, errors included.
    let ahead = match crate::readahead::enabled()
        .then(|| inp.take_compressed())
        .flatten()
    {
        Some(src) => Some(
            crate::readahead::ReadAhead::spawn(src)
                .map_err(|e| Failure::Open(format!("{name}: can't start a thread: {e}")))?,
        ),
        None => None,
    };
    let stream = if ahead.is_some() {
        None
    } else {
        inp.take_stream()
    };
    let (r, header, total) = if let Some((mut ra, marker)) = ahead {
        let mut p = RdbReader::new(&mut ra, opts);
        let r = scan_marked(&mut p, &mut sum, &marker);
        let header = p.header();
        drop(p);
        if r.is_ok() {
            // The RDB is whole; the compressed stream must end cleanly too (gzip -t).
            crate::input::finish_stream(&name, &mut ra).map_err(|e| Failure::Damaged(e.0))?;
        }
        (r, header, None)
    } else if let Some(mut stream) = stream {
        let mut p = RdbReader::new(&mut stream, opts);
        let r = scan(&mut p, &mut sum);
        let header = p.header();
        drop(p);
        if r.is_ok() && compressed {
            // The RDB is whole; the compressed stream must end cleanly too (gzip -t).
            crate::input::finish_stream(&name, &mut stream).map_err(|e| Failure::Damaged(e.0))?;
        }
        (r, header, None)
    } else {
        let Some(path) = inp.path() else {
            return Err(Failure::Reported(1));
        };
        match RdbFile::open(path) {
            Err(e) => return Err(Failure::Open(format!("{name}: {e}"))),
            Ok(f) => {
                let (h, r) = check_bytes(&args, opts, f.bytes(), &mut sum);
                rdbkit_rdb::trace::mark(0, "checked");
                // A file truncated under the map: that, not what was read from it.
                let r = f.check_unchanged().and(r);
                let len = f.bytes().len() as u64;
                drop(f);
                rdbkit_rdb::trace::mark(0, "unmapped");
                rdbkit_rdb::trace::cpu(0);
                rdbkit_rdb::trace::dump();
                (r, h, Some(len))
            }
        }
    };
    r.map_err(|e| Failure::Damaged(format!("{name}: {e}")))?;
    sum.settle();
    if !args.quiet {
        print_summary(&name, header, &sum, total);
    }
    Ok(())
}

/// The check of an RDB's bytes (a mapped file, or an archive's member held in memory): deep,
/// records read on this core and values validated on every core, the CRC on another thread;
/// shallow, the CRC on a second core while this one decodes. Plain small string keys are
/// counted by runs (the lean path).
fn check_bytes(
    args: &Args,
    opts: rdbkit_rdb::Options,
    bytes: &[u8],
    sum: &mut Summary,
) -> (Option<rdbkit_rdb::Header>, Result<(), rdbkit_rdb::Error>) {
    let sum = std::cell::RefCell::new(sum);
    if opts.deep {
        // Capped at the cores available, as `verify -j` is at the backups given: a huge
        // request (`--threads 100000`) must not try to spawn that many threads.
        let threads = args
            .threads
            .threads
            .unwrap_or(usize::MAX)
            .clamp(1, rdbkit_rdb::parallel::max_threads());
        rdbkit_rdb::parallel::check_counting(
            bytes,
            opts,
            threads,
            |rec| tally(rec, &mut sum.borrow_mut()),
            |db, n| sum.borrow_mut().count_keys(db, n, 0),
        )
    } else {
        rdbkit_rdb::parallel::scan_counting(
            bytes,
            opts,
            |rec| tally(rec, &mut sum.borrow_mut()),
            |db, n| sum.borrow_mut().count_keys(db, n, 0),
        )
    }
}

/// A standalone RDB member of an archive (a `dump.rdb`), checked as the archive is read, held
/// in memory up to the hold of an archive's RDB part (see [`crate::cmd::aof::hold_rdb_part`]:
/// its deep check then runs on every core), else as a stream (one core, memory bounded by its
/// largest record): the same summary and verdict as on the unpacked file. The rest of the archive is read
/// after it: damage there is the verdict (as when the archive is unpacked first), and an AOF
/// after it is what is checked (a server with `appendonly yes` loads it; said on stderr), as
/// [`crate::input::open`] would have read it — the RDB's own verdict is then dropped.
fn check_member(
    args: &Args,
    opts: rdbkit_rdb::Options,
    mut m: Box<crate::archive::RdbMember>,
    codec: Option<crate::input::Codec>,
) -> Result<(), Failure> {
    let (name, archive, size) = (m.name(), m.archive().to_string(), m.size());
    let mut sum = Summary::default();
    let (r, header) = if size <= crate::cmd::aof::hold_rdb_part() as u64 {
        // Held in memory (no disk), so that its deep check runs on every core as for the
        // unpacked file: the same code on the same bytes. A member cut short is the archive's
        // damage, said by `finish` below.
        let mut data = Vec::new();
        let held = data
            .try_reserve(size.min(64 << 20) as usize)
            .map_err(|_| Failure::Damaged(format!("{name}: out of memory")))
            .map(|()| std::io::Read::read_to_end(&mut *m, &mut data));
        match held? {
            Ok(_) => {
                let (h, r) = check_bytes(args, opts, &data, &mut sum);
                (r, h)
            }
            Err(_) => (Ok(()), None),
        }
    } else {
        let mut p = RdbReader::new(&mut *m, opts);
        let r = scan(&mut p, &mut sum);
        (r, p.header())
    };
    let (said, member) = (m.surveyed(), m.member());
    match m.finish().map_err(Failure::Damaged)? {
        None if !said => crate::archive::say_streamed(&archive, &member),
        None => {}
        Some(opened) => {
            let inp = crate::input::from_opened(&archive, opened, codec)
                .map_err(|e| Failure::Damaged(e.0))?;
            if inp.is_rdb() {
                return Err(Failure::Damaged(format!(
                    "{archive}: the archive holds several backups: extract the one to read, or \
                     use `rdbkit verify`, which checks each"
                )));
            }
            return check_aof(args, inp);
        }
    }
    r.map_err(|e| Failure::Damaged(format!("{name}: {e}")))?;
    sum.settle();
    if !args.quiet {
        print_summary(&name, header, &sum, Some(size));
    }
    Ok(())
}

/// An AOF (any layout, or a single file with an RDB preamble) given to `rdbkit check`: the
/// same verdict as `rdbkit aof check` (which validates an RDB part deeply too), with this
/// command's exit codes.
fn check_aof(args: &Args, mut inp: crate::input::Input) -> Result<(), Failure> {
    let name = inp.name.clone();
    let kind = inp.kind.name();
    // A stream whose content is not an AOF's (a manifest) is read once into a private
    // temporary file: the AOF checker works on a file's bytes.
    let mut temp = None;
    // An archive read up to an appendonlydir/'s manifest: its parts are checked as they come,
    // in one pass (see `aof::check_archive`).
    if inp.paused_archive().is_some_and(crate::cmd::aof::one_pass) {
        if let Some(p) = inp.take_archive() {
            let opts = rdbkit_aof::check::CheckOptions::default();
            let r = crate::cmd::aof::check_archive(p, opts).map_err(Failure::Damaged)?;
            return report_aof(args, &name, kind, &r);
        }
    }
    // Otherwise (a damaged manifest): unpacked, the checker reads files.
    inp.unpack().map_err(|e| Failure::Damaged(e.0))?;
    if let Some(mut stream) = inp.take_stream() {
        // A stream (a pipe, stdin, a compressed file): checked as it is read, in bounded
        // memory, both verdicts (`rdbkit_aof::stream`), as `rdbkit aof check -` does.
        use rdbkit_aof::stream::{check_stream, Streamed};
        let opts = rdbkit_aof::check::CheckOptions::default();
        match check_stream(&mut stream, std::path::Path::new(&name), opts) {
            Ok(Streamed::Report(r)) => return report_aof(args, &name, kind, &r),
            // Not an AOF's content (a manifest): what the checker makes of it as a file.
            Ok(Streamed::NotStreamed(head)) => {
                let mut r = std::io::Read::chain(std::io::Cursor::new(head), stream);
                let t = crate::input::stream_to_temp(&name, &mut r)
                    .map_err(|e| Failure::Damaged(e.0))?;
                temp = Some(t);
            }
            Err(e) => return Err(Failure::Damaged(format!("{name}: {e}"))),
        }
    }
    let path = match (&temp, inp.path()) {
        (Some(t), _) => t.path().to_path_buf(),
        (None, Some(p)) => p.to_path_buf(),
        (None, None) => return Err(Failure::Reported(1)),
    };
    let r = rdbkit_aof::report::check_path(&path, rdbkit_aof::check::CheckOptions::default());
    let valid = r.strict_valid();
    if !args.quiet || !valid {
        println!("{name}: an AOF ({kind}): checked as `rdbkit aof check` does");
        let mut text = inp.rewrite(&rdbkit_aof::report::human(&r));
        if let Some(t) = &temp {
            text = text.replace(&t.path().display().to_string(), &name);
        }
        print!("{text}");
    }
    // The verdict is printed above: the status only.
    match (&r.layout, valid) {
        (_, true) => Ok(()),
        (Err(_), _) if !args.file.exists() => Err(Failure::Reported(1)),
        _ => Err(Failure::Reported(2)),
    }
}

/// An AOF checked in one pass (an archive's parts, or a stream): its report printed as
/// `rdbkit aof check` prints it (unless `-q` and sound), the status from the strict verdict.
fn report_aof(
    args: &Args,
    name: &str,
    kind: &str,
    r: &rdbkit_aof::report::Report,
) -> Result<(), Failure> {
    let valid = r.strict_valid();
    if !args.quiet || !valid {
        println!("{name}: an AOF ({kind}): checked as `rdbkit aof check` does");
        print!("{}", rdbkit_aof::report::human(r));
    }
    if valid {
        Ok(())
    } else {
        Err(Failure::Reported(2))
    }
}

fn scan(p: &mut impl RecordSource, sum: &mut Summary) -> Result<(), rdbkit_rdb::Error> {
    while let Some(rec) = p.next_record() {
        tally(&rec?, sum);
    }
    Ok(())
}

/// [`scan`] of a stream read ahead: after each record (but the EOF record), the reader learns
/// where the checker stands (see [`crate::readahead::Marker::at`]).
fn scan_marked<R: io::Read>(
    p: &mut RdbReader<R>,
    sum: &mut Summary,
    marker: &crate::readahead::Marker,
) -> Result<(), rdbkit_rdb::Error> {
    while let Some(rec) = p.next() {
        let eof = {
            let rec = rec?;
            tally(&rec, sum);
            matches!(rec, Record::Eof { .. })
        };
        if !eof {
            marker.at(p.position());
        }
    }
    Ok(())
}

#[inline(always)]
fn tally(rec: &Record<'_>, sum: &mut Summary) {
    // Keys first, and their counts in the current db's counters.
    if let Record::Key(k) = rec {
        sum.count_keys(k.db, 1, u64::from(k.expire_ms.is_some()));
        return;
    }
    match rec {
        Record::Aux { key, value } => sum.aux.push((
            String::from_utf8_lossy(key).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        )),
        Record::ModuleAux { .. } => sum.module_aux += 1,
        Record::Function { .. } | Record::FunctionPreGa { .. } => sum.functions += 1,
        Record::SlotInfo { .. } => sum.slot_info += 1,
        Record::Eof { checksum, end, .. } => {
            sum.checksum = Some(*checksum);
            sum.end = *end;
        }
        _ => {}
    }
}

pub use crate::time::utc;

fn print_summary(
    name: &str,
    header: Option<rdbkit_rdb::Header>,
    sum: &Summary,
    total: Option<u64>,
) {
    use std::fmt::Write as _;
    let mut o = String::new();
    macro_rules! w {
        ($($t:tt)*) => {{
            let _ = writeln!(o, $($t)*);
        }};
    }
    match header {
        Some(h) => w!("{name}: RDB version {} ({} magic)", h.version, h.magic),
        None => w!("{name}:"),
    }
    for (k, v) in &sum.aux {
        match k.as_str() {
            "ctime" => match v.parse::<i64>() {
                Ok(t) => w!("  ctime      {v} ({})", utc(t)),
                Err(_) => w!("  ctime      {v}"),
            },
            "lua" => w!("  lua script ({} bytes)", v.len()),
            // Valkey 8 cluster mode: one per slot, inside the db sections
            "slot-info" => {}
            _ => w!("  {k:<10} {v}"),
        }
    }
    let slot_aux = sum.aux.iter().filter(|(k, _)| k == "slot-info").count();
    if slot_aux > 0 {
        w!("  slot-info  {slot_aux} records");
    }
    for (db, (keys, exp)) in &sum.keys_per_db {
        w!("  db {db}: {keys} keys, {exp} with an expiry");
    }
    w!("  total: {} keys, {} expires", sum.keys, sum.expires);
    if sum.functions > 0 || sum.module_aux > 0 || sum.slot_info > 0 {
        w!(
            "  {} function libraries, {} module aux records, {} slot info records",
            sum.functions,
            sum.module_aux,
            sum.slot_info
        );
    }
    let cs = match sum.checksum {
        Some(ChecksumStatus::Verified(c)) => format!("OK ({c:016x})"),
        Some(ChecksumStatus::Disabled) => "disabled by the writer (trailer is 0)".into(),
        Some(ChecksumStatus::NotPresent) => "none (RDB version < 5)".into(),
        Some(ChecksumStatus::NotChecked(c)) => format!("not checked ({c:016x})"),
        None => "n/a".into(),
    };
    w!("  checksum: {cs}");
    if let Some(t) = total {
        if t > sum.end {
            w!(
                "  note: {} bytes after the end of the RDB (ignored)",
                t - sum.end
            );
        }
    }
    if sum.aux.iter().any(|(k, v)| k == "aof-base" && v == "1") {
        w!("  note: aof-base 1: this is the base of a multi-part AOF; `rdbkit check` on its appendonlydir/ checks the whole data set");
    }
    w!("  RDB looks OK");
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = io::Write::write_all(&mut io::stdout().lock(), o.as_bytes());
}
