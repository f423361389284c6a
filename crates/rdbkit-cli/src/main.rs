//! `rdbkit`: a thin command line over the rdbkit libraries. Each subcommand lives in its own
//! module under `cmd/` and exposes `Args` (clap) and `run(args) -> ExitCode`.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod archive;
mod cmd;
mod escape;
mod export;
mod filter;
mod input;
mod jsonl;
mod memory;
mod model;
mod resp_out;
mod restore_out;
mod verify;

/// The exit statuses of every subcommand (shown by `rdbkit --help`; the README has the same
/// table).
const EXIT_CODES: &str = "Exit status, every subcommand:
  0  success: the input is sound / the files are equal / every policy passed; also when the
     reader of the output goes away (`rdbkit keys ... | head`)
  1  usage error; an input that cannot be opened; output that cannot be written;
     `diff`: the files differ; `verify`: a policy failed, or the server differs (--against)
  2  an input is damaged or unsupported (an AOF whose commands can't be replayed included);
     `verify`: a backup is damaged or unreadable, or the server can't be reached;
     `diff`: an error
  (1 also: an input of a kind the subcommand does not take, e.g. `dump`/`size` of an AOF)
`aof check`/`aof fix` and the `redis-check-aof` drop-in keep redis-check-aof's codes:
0 valid or fixed, 1 not valid / refused / declined, 2 unreadable.";

#[derive(Parser)]
#[command(
    name = "rdbkit",
    version,
    about = "Check, dump and repair Redis/Valkey RDB and AOF files",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode a file and print every key (JSON lines).
    Dump(cmd::dump::Args),
    /// Decode everything with deep validation and the checksum; exit 0 when the file is sound.
    Check(cmd::check::Args),
    /// Prove backups restorable (cron): decode every backup, apply policies, write metrics;
    /// or compare a backup with a restored server (--against).
    Verify(cmd::verify::Args),
    /// Summarise a file: version, writer, aux fields, keys/expiries/types per db, checksum.
    Info(cmd::info::Args),
    /// Print the names of the keys that pass the filters (--db, --type, --match, ...).
    Keys(cmd::keys::Args),
    /// Keys ranked by estimated memory (or --by bytes/elements), totals per db/type/encoding/prefix.
    Size(cmd::size::Args),
    /// Keys added, removed and changed between two files (RDB or AOF, any version).
    Diff(cmd::diff::Args),
    /// Write any input (RDB of any version/fork, AOF, appendonlydir/) as an RDB file a target
    /// server loads: downgrade, cross-fork, filter, offline AOF rewrite.
    Convert(cmd::convert::Args),
    /// Restore a backup into a running server or cluster (pipelined RESTORE, filters, policies
    /// for existing keys).
    Restore(cmd::restore::Args),
    /// Split an RDB into one file per cluster slot range or per master of a nodes.conf.
    Split(cmd::split::Args),
    /// Merge several RDBs (per-shard backups) into one.
    Merge(cmd::merge::Args),
    /// Write the keyspace (and with --values every value) as Parquet, Arrow or CSV tables
    /// for DuckDB, Spark, pyarrow: one Hive partition per input.
    Export(cmd::export::Args),
    /// Check, fix and dump append-only files.
    #[command(subcommand)]
    Aof(cmd::aof::Command),
    /// The AOF replay's command table (Markdown, or one `NAME<TAB>kind<TAB>subcommands` line
    /// per command with --plain); the README's list is this output.
    #[command(name = "replay-commands", hide = true)]
    ReplayCommands {
        #[arg(long)]
        plain: bool,
    },
    /// Drop-in replacement for Redis 7.4's `redis-check-aof` (same arguments, output and exit codes).
    #[command(name = "redis-check-aof", disable_help_flag = true)]
    RedisCheckAof {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
}

/// Output to a closed pipe (`rdbkit dump ... | head`) ends the program quietly with status 0,
/// whichever subcommand was writing: Rust ignores SIGPIPE, so `print!` panics on EPIPE; this
/// hook turns that one panic into a clean exit and leaves every other panic to the default
/// hook. (Subcommands that write through their own handle treat `BrokenPipe` as success too.)
fn exit_quietly_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("os error 32") {
            std::process::exit(0);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    exit_quietly_on_closed_stdout();
    // SAFETY: rdbkit reads backups that servers replace by rename, never rewrite in place; a
    // file truncated under a map is caught (rdbkit-rdb's SIGBUS guard, the size check), and the
    // commands that write (aof fix, the drop-in's --fix) read without a map.
    unsafe { rdbkit_rdb::allow_mapping() };
    let mut argv: Vec<OsString> = std::env::args_os().collect();
    // Invoked as `redis-check-aof` (a symlink or a copy): behave exactly like Redis's tool.
    let argv0 = argv.first().cloned().unwrap_or_default();
    let invoked_as = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if invoked_as == "redis-check-aof" {
        return cmd::aof::drop_in(&argv0, argv.split_off(1));
    }
    // `rdbkit redis-check-aof ...` bypasses clap so that Redis's own argument rules apply.
    if argv.get(1).is_some_and(|a| a == "redis-check-aof") {
        let rest = argv.split_off(2);
        return cmd::aof::drop_in(&OsString::from("redis-check-aof"), rest);
    }
    let cli = Cli::parse_from(argv);
    match cli.command {
        Command::Dump(a) => cmd::dump::run(a),
        Command::Check(a) => cmd::check::run(a),
        Command::Verify(a) => cmd::verify::run(a),
        Command::Info(a) => cmd::info::run(a),
        Command::Keys(a) => cmd::keys::run(a),
        Command::Size(a) => cmd::size::run(a),
        Command::Diff(a) => cmd::diff::run(a),
        Command::Convert(a) => cmd::convert::run(a),
        Command::Restore(a) => cmd::restore::run(a),
        Command::Split(a) => cmd::split::run(a),
        Command::Merge(a) => cmd::merge::run(a),
        Command::Export(a) => cmd::export::run(a),
        Command::Aof(c) => cmd::aof::run(c),
        Command::ReplayCommands { plain } => model::table::print(plain),
        Command::RedisCheckAof { args } => {
            cmd::aof::drop_in(&OsString::from("redis-check-aof"), args)
        }
    }
}
