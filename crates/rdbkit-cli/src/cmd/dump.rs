//! `rdbkit dump`: every key as one JSON object per line, in file order, streaming.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use rdbkit_rdb::{Options, RdbFile, RdbReader, Record, RecordSource, Scratch};

use crate::jsonl;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per key (the format of corpus/rdb/*.expected.jsonl).
    Jsonl,
}

#[derive(clap::Args)]
#[command(
    after_help = "Exit status: 0 the whole file was dumped; 1 the file could not be opened or \
written out; 2 the file is damaged or unsupported (keys before the damage are printed)."
)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: Format,
    /// Validate every value like `sanitize-dump-payload yes` while dumping.
    #[arg(long)]
    pub deep: bool,
    /// Do not verify the CRC-64 trailer.
    #[arg(long)]
    pub no_checksum: bool,
    /// Read an RDB version newer than this build knows, stopping at the first unknown byte.
    #[arg(long)]
    pub best_effort: bool,
    /// Accept Redis Enterprise opcodes 107 and 121.
    #[arg(long)]
    pub enterprise: bool,
    /// The RDB file, or `-` for standard input.
    pub file: PathBuf,
}

enum Fail {
    Open(io::Error),
    Rdb(rdbkit_rdb::Error),
    Write(io::Error),
}

pub fn run(args: Args) -> ExitCode {
    let opts = Options {
        deep: args.deep,
        verify_checksum: !args.no_checksum,
        best_effort: args.best_effort,
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let r = if args.file.as_os_str() == "-" {
        let stdin = io::stdin();
        let mut p = RdbReader::new(stdin.lock(), opts).enterprise_opcodes(args.enterprise);
        dump(&mut p, &mut out, args.deep)
    } else {
        match RdbFile::open(&args.file) {
            Err(e) => Err(Fail::Open(e)),
            Ok(f) => {
                let mut p = f.parser(opts).enterprise_opcodes(args.enterprise);
                dump(&mut p, &mut out, args.deep)
            }
        }
    };
    let flushed = out.flush();
    let name = args.file.display();
    match (r, flushed) {
        (Err(Fail::Open(e)), _) => {
            eprintln!("rdbkit: {name}: {e}");
            ExitCode::from(1)
        }
        (Err(Fail::Write(e)), _) | (Ok(()), Err(e)) => {
            if e.kind() == io::ErrorKind::BrokenPipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("rdbkit: writing output: {e}");
            ExitCode::from(1)
        }
        (Err(Fail::Rdb(e)), _) => {
            eprintln!("rdbkit: {name}: {e}");
            ExitCode::from(2)
        }
        (Ok(()), Ok(())) => ExitCode::SUCCESS,
    }
}

/// Pulls records from `src` and writes the keys.
fn dump(src: &mut impl RecordSource, out: &mut impl Write, deep: bool) -> Result<(), Fail> {
    let mut scratch = Scratch::new();
    let mut line = Vec::with_capacity(4096);
    while let Some(rec) = src.next_record() {
        if let Record::Key(k) = rec.map_err(Fail::Rdb)? {
            line.clear();
            jsonl::write_key(&mut line, &k, &mut scratch, deep)
                .map_err(|e| Fail::Rdb(e.in_key(Some(k.db), k.key)))?;
            out.write_all(&line).map_err(Fail::Write)?;
        }
    }
    Ok(())
}
