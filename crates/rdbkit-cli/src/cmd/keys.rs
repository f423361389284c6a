//! `rdbkit keys`: the names of the keys that pass the filters, one per line.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use rdbkit_rdb::Record;

use crate::filter::{escape_key, Filter, FilterArgs};
use crate::input::{self, Progress};

#[derive(clap::Args)]
#[command(
    after_help = "Key names are printed one per line, escaped so that every key is one printable \
line: valid UTF-8 as is, `\\\\` for a backslash, `\\n` `\\r` `\\t`, and `\\xHH` for other control \
bytes and bytes that are not UTF-8. With -0 the raw bytes are printed, each name followed by a NUL \
byte (for `xargs -0`). Keys come in file order (an AOF: by db, then key bytes).

Examples:
  rdbkit keys dump.rdb --match 'user:*' --db 0
  rdbkit keys dump-20250124.rdb.gz --type hash --min-size 1048576
  rdbkit keys appendonlydir/ --skip-expired --now 2025-01-24
  zcat dump.rdb.gz | rdbkit keys - -0 | xargs -0 -n 100 redis-cli DEL

Exit status (the same table for every subcommand, see `rdbkit --help`): 0 success; 1 usage \
error, or the input cannot be opened or output written; 2 the file is damaged or unsupported \
(an RDB: the keys before the damage are printed; an AOF: nothing, as it is replayed whole)."
)]
pub struct Args {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Print raw key bytes, each followed by a NUL byte.
    #[arg(short = '0', long = "print0")]
    pub print0: bool,
    /// Print `db<TAB>type<TAB>key` instead of the name alone.
    #[arg(short, long)]
    pub long: bool,
    /// Do not verify the CRC-64 trailer.
    #[arg(long)]
    pub no_checksum: bool,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    /// RDB, AOF, manifest, appendonlydir/, gzip'd file, or `-` for standard input.
    pub file: PathBuf,
}

pub fn run(args: Args) -> ExitCode {
    let filter = match Filter::new(&args.filter) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("rdbkit keys: {e}");
            return ExitCode::from(1);
        }
    };
    let (inp, opts) = match input::open_for_reading(&args.file, args.no_checksum) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let name = inp.name.clone();
    let print = |out: &mut BufWriter<io::StdoutLock<'_>>,
                 db: u64,
                 key: &[u8],
                 ty: &str|
     -> io::Result<()> {
        if args.long {
            write!(out, "{db}\t{ty}\t")?;
        }
        if args.print0 {
            out.write_all(key)?;
            out.write_all(b"\0")
        } else {
            out.write_all(escape_key(key).as_bytes())?;
            out.write_all(b"\n")
        }
    };
    let result: Result<Result<(), String>, input::InputError> = if inp.is_rdb() {
        let mut progress = Progress::new(inp.size, args.quiet);
        let r = inp.with_rdb(opts, |src| {
            while let Some(rec) = src.next_record() {
                let pos = src_pos_hint(&rec);
                match rec {
                    Err(e) => return Err(format!("{name}: {e}")),
                    Ok(Record::Key(k)) => {
                        progress.set(pos);
                        let ty = k.value.ty.family();
                        if filter.accepts(k.db, k.key, ty, k.expire_ms, Some(k.end - k.offset)) {
                            if let Err(e) = print(&mut out, k.db, k.key, ty) {
                                return Err(io_msg(e));
                            }
                        }
                    }
                    Ok(_) => {}
                }
            }
            Ok(())
        });
        progress.finish();
        r
    } else {
        // An AOF that can't be read through (damaged, or a command the replay can't apply) is
        // a damaged input: exit 2, as `info` says of it.
        match inp.load(opts, filter.now_ms) {
            Err(e) => Ok(Err(e.to_string())),
            Ok(ds) => Ok((|| {
                for (db, keys) in &ds.dbs {
                    for (key, k) in keys {
                        let ty = k.value.type_name();
                        if filter.accepts(*db, key, ty, k.expire_ms, None) {
                            print(&mut out, *db, key, ty).map_err(io_msg)?;
                        }
                    }
                }
                Ok(())
            })()),
        }
    };
    let flushed = out.flush();
    finish(result, flushed)
}

fn src_pos_hint(rec: &Result<Record<'_>, rdbkit_rdb::Error>) -> u64 {
    match rec {
        Ok(Record::Key(k)) => k.end,
        _ => 0,
    }
}

const PIPE: &str = "\u{0}pipe";

pub(crate) fn io_msg(e: io::Error) -> String {
    if e.kind() == io::ErrorKind::BrokenPipe {
        PIPE.into()
    } else {
        format!("\u{0}writing output: {e}")
    }
}

/// Maps a subcommand's outcome to the exit status: 0 ok, 1 open/write error, 2 damaged input.
pub(crate) fn finish(
    result: Result<Result<(), String>, input::InputError>,
    flushed: io::Result<()>,
) -> ExitCode {
    match result {
        Err(e) => {
            eprintln!("rdbkit: {e}");
            ExitCode::from(1)
        }
        Ok(Err(m)) if m == PIPE => ExitCode::SUCCESS,
        Ok(Err(m)) if m.starts_with('\u{0}') => {
            eprintln!("rdbkit: {}", &m[1..]);
            ExitCode::from(1)
        }
        Ok(Err(m)) => {
            eprintln!("rdbkit: {m}");
            ExitCode::from(2)
        }
        Ok(Ok(())) => match flushed {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                eprintln!("rdbkit: writing output: {e}");
                ExitCode::from(1)
            }
            _ => ExitCode::SUCCESS,
        },
    }
}
