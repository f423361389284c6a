//! `rdbkit keys`: the names of the keys that pass the filters, one per line.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use rdbkit_rdb::Record;

use crate::failure::Failure;
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
    #[command(flatten)]
    pub decode: crate::decode_args::DecodeArgs,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    /// RDB, AOF, manifest, appendonlydir/, gzip'd file, or `-` for standard input.
    pub file: PathBuf,
}

/// Runs `rdbkit keys`.
pub fn run(args: Args) -> Result<(), Failure> {
    let filter = Filter::new(&args.filter).map_err(Failure::Usage)?;
    let (inp, opts) = (input::open(&args.file)?, args.decode.options(false));
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let name = inp.name.clone();
    let print = |out: &mut BufWriter<io::StdoutLock<'_>>,
                 db: u64,
                 key: &[u8],
                 ty: &str|
     -> Result<(), Failure> {
        let mut w = || -> io::Result<()> {
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
        w().map_err(Failure::Write)
    };
    let result = if inp.is_rdb() {
        let mut progress = Progress::new(inp.size, args.quiet);
        let r = inp.with_rdb(opts, |src| {
            while let Some(rec) = src.next_record() {
                if let Record::Key(k) = rec.map_err(|e| Failure::Rdb(e).in_file(&name))? {
                    progress.set(k.end);
                    if filter.accepts_key(&k) {
                        print(&mut out, k.db, k.key, k.value.ty.family())?;
                    }
                }
            }
            Ok(())
        });
        progress.finish();
        r.map_err(Failure::from).and_then(|r| r)
    } else {
        // An AOF that can't be read through (damaged, or a command the replay can't apply) is
        // a damaged input: exit 2, as `info` says of it.
        match inp.load(opts, filter.now_ms) {
            Err(e) => Err(Failure::Damaged(e.to_string())),
            Ok(ds) => (|| {
                for (db, keys) in &ds.dbs {
                    for (key, k) in keys {
                        if filter.accepts_mkey(*db, key, k) {
                            print(&mut out, *db, key, k.value.type_name())?;
                        }
                    }
                }
                Ok(())
            })(),
        }
    };
    crate::failure::flushed(result, &mut out)
}
