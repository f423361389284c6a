//! `rdbkit merge A B ... -o OUT`: the keys of several RDBs (per-shard backups) in one RDB,
//! streaming (a first pass records only which file holds each key), written atomically like
//! `convert`. A key present in two inputs fails the merge before anything is written unless
//! `--on-duplicate first|last` says which copy wins.

use std::collections::HashMap;
use std::path::PathBuf;

use rdbkit_rdb::write::{Target, WriteError};
use rdbkit_rdb::{Options, Record, Scratch};

use super::split::AtomicRdb;
use crate::failure::Failure;
use crate::filter::escape_key;

/// Which copy of a key present in several inputs is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OnDuplicate {
    /// Fail, naming the key (nothing written).
    Fail,
    /// The copy in the earliest input on the command line.
    First,
    /// The copy in the latest input on the command line.
    Last,
}

#[derive(clap::Args)]
#[command(after_help = "Examples:
  rdbkit merge node-a.rdb node-b.rdb node-c.rdb -o whole.rdb
  rdbkit merge old.rdb fixes.rdb -o merged.rdb --on-duplicate last --target redis-7.0

The output's version is the newest input's (--target to choose); aux fields are the first \
input's; function libraries of every input are kept once each.

Exit status: 0 written; 1 bad arguments, an input not readable, OUT exists (without --force) or \
could not be written, or a key present twice (without --on-duplicate); 2 an input is damaged \
(nothing written); 3 the target cannot hold a key (nothing written).")]
pub struct Args {
    /// From a pipe or a compressed stream, hold each value whole up to this many bytes (its
    /// decompressed size) and refuse a bigger one, naming the key; a file is mapped and needs no
    /// limit. Default 512 MiB, Redis's limit on one string (`proto-max-bulk-len`).
    #[arg(long, default_value_t = rdbkit_rdb::DEFAULT_MAX_VALUE_BYTES, value_name = "BYTES")]
    pub max_value_bytes: u64,
    /// The file to write.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// A key in several inputs: fail (default), or keep the first or the last input's copy.
    #[arg(long, value_enum, default_value = "fail")]
    pub on_duplicate: OnDuplicate,
    /// The output's version (default: the newest input's).
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
    /// Replace OUT when it exists.
    #[arg(long)]
    pub force: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Do not verify the inputs' CRC-64 trailers.
    #[arg(long)]
    pub no_checksum: bool,
    /// The input RDB files (also gzip'd).
    #[arg(required = true, num_args = 2..)]
    pub inputs: Vec<PathBuf>,
}

/// Runs `merge`.
pub fn run(args: Args) -> Result<(), Failure> {
    merge(&args)
}

fn opts(args: &Args) -> Options {
    Options::default()
        .deep(false)
        .verify_checksum(!args.no_checksum)
        .best_effort(false)
}

fn merge(args: &Args) -> Result<(), Failure> {
    for i in &args.inputs {
        if i.as_os_str() == "-" {
            return Err(Failure::Usage(
                "merge reads every input twice: `-` cannot be one".into(),
            ));
        }
    }
    // Pass 1: which input holds each key (the winner), and the newest version.
    let mut owner: HashMap<(u64, Vec<u8>), usize> = HashMap::new();
    let mut newest: Option<Target> = None;
    let mut dups = 0u64;
    for (i, path) in args.inputs.iter().enumerate() {
        let inp = crate::input::open(path).map_err(|e| Failure::Usage(e.to_string()))?;
        let name = inp.name.clone();
        inp.with_rdb_values(
            opts(args),
            args.max_value_bytes,
            |src| -> Result<(), Failure> {
                while let Some(rec) = src.next_record() {
                    let rec =
                        rec.map_err(|e| Failure::Damaged(format!("{name}: {e}; nothing written")))?;
                    if let Record::Key(k) = rec {
                        let id = (k.db, k.key.to_vec());
                        match owner.get_mut(&id) {
                            None => {
                                owner.insert(id, i);
                            }
                            Some(prev) => {
                                dups += 1;
                                match args.on_duplicate {
                                    OnDuplicate::Fail => {
                                        return Err(Failure::Usage(format!(
                                        "db {} key \"{}\" is in {} and in {name}; nothing written \
                                         (--on-duplicate first|last to choose)",
                                        k.db,
                                        escape_key(k.key),
                                        args.inputs[*prev].display()
                                    )))
                                    }
                                    OnDuplicate::First => {}
                                    OnDuplicate::Last => *prev = i,
                                }
                            }
                        }
                    }
                }
                if let Some(h) = src.header() {
                    if let Some(t) = Target::by_version(h.magic, h.version) {
                        let newer = newest.is_none_or(|n| {
                            (t.is_valkey(), t.version) > (n.is_valkey(), n.version)
                        });
                        if newer {
                            newest = Some(t);
                        }
                    }
                }
                Ok(())
            },
        )
        .map_err(|e| {
            Failure::Usage(format!("{e} (merge reads RDB files: convert an AOF first)"))
        })??;
    }
    let target = match &args.target {
        Some(t) => Target::by_name(t).ok_or_else(|| {
            Failure::Usage(format!(
                "--target {t:?}: unknown (see rdbkit convert --help)"
            ))
        })?,
        None => newest.ok_or_else(|| {
            Failure::Usage("no writer for the inputs' RDB version: --target to choose one".into())
        })?,
    };
    let mut out = AtomicRdb::create(&args.output, target, args.force)?;
    let mut scratch = Scratch::new();
    let mut functions: Vec<Vec<u8>> = Vec::new();
    // Pass 2: write the winners, input by input.
    for (i, path) in args.inputs.iter().enumerate() {
        let inp = crate::input::open(path).map_err(|e| Failure::Usage(e.to_string()))?;
        let name = inp.name.clone();
        inp.with_rdb_values(
            opts(args),
            args.max_value_bytes,
            |src| -> Result<(), Failure> {
                while let Some(rec) = src.next_record() {
                    let rec =
                        rec.map_err(|e| Failure::Damaged(format!("{name}: {e}; nothing written")))?;
                    match rec {
                        Record::Aux { key, value } if i == 0 => out
                            .w
                            .aux(&key, &value)
                            .map_err(|e| Failure::Usage(format!("writing: {e}")))?,
                        Record::Function { code }
                            if !functions.iter().any(|f| f.as_slice() == code.as_ref()) =>
                        {
                            match out.w.function(&code) {
                                Ok(()) => functions.push(code.to_vec()),
                                Err(WriteError::Io(e)) => {
                                    return Err(Failure::Usage(format!("writing: {e}")))
                                }
                                Err(WriteError::Loss(l)) => {
                                    return Err(Failure::Refused(format!(
                                        "a function library of {name}: {}",
                                        l.describe()
                                    )))
                                }
                            }
                        }
                        Record::Key(k) if owner.get(&(k.db, k.key.to_vec())) == Some(&i) => {
                            out.key(&k, &mut scratch)?;
                        }
                        Record::Eof { .. } => break,
                        _ => {}
                    }
                }
                Ok(())
            },
        )
        .map_err(|e| Failure::Usage(e.to_string()))??;
    }
    let keys = out.keys;
    let bytes = out.commit()?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "output": args.output.display().to_string(),
                "target": target.name,
                "inputs": args.inputs.len(),
                "keys_written": keys,
                "duplicates": dups,
                "functions": functions.len(),
                "bytes": bytes,
            })
        );
    } else {
        println!(
            "{} ({}): {keys} keys from {} inputs ({dups} duplicate(s) resolved), {} function libraries, {bytes} bytes",
            args.output.display(),
            target.name,
            args.inputs.len(),
            functions.len()
        );
    }
    Ok(())
}
