//! `rdbkit`: a thin command line over the rdbkit libraries. Each subcommand lives in its own
//! module under `cmd/` and exposes `Args` (clap) and `run(args) -> Result<(), Failure>`; the
//! outcome becomes the exit status once, here ([`failure::exit`]).

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod archive;
mod cmd;
mod decode_args;
mod escape;
mod export;
mod failure;
mod filter;
mod input;
mod jsonl;
mod memory;
mod model;
mod progress;
mod readahead;
mod resp_out;
mod restore_out;
mod sniff;
mod time;
mod verify;

use failure::{Failure, EXIT_CODES};

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
    /// Cap on the bytes an archive may unpack to its private temporary directory (members it
    /// holds out of load order, or files a checker reads), e.g. 500M, 200G; default 64G or
    /// RDBKIT_SPILL_LIMIT.
    #[arg(long, global = true, value_name = "SIZE")]
    spill_limit: Option<String>,
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
        return failure::exit(
            "redis-check-aof",
            cmd::aof::drop_in(&argv0, argv.split_off(1)),
        );
    }
    // `rdbkit redis-check-aof ...` bypasses clap so that Redis's own argument rules apply.
    if argv.get(1).is_some_and(|a| a == "redis-check-aof") {
        let rest = argv.split_off(2);
        let outcome = cmd::aof::drop_in(&OsString::from("redis-check-aof"), rest);
        return failure::exit("redis-check-aof", outcome);
    }
    // clap's own exit (2 on a usage error) would disagree with the table: its errors go
    // through the one failure path too (`--help`/`--version` print to stdout, exit 0).
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => {
            let sub = argv.get(1).and_then(|a| a.to_str()).unwrap_or_default();
            let known = Cli::command()
                .get_subcommands()
                .any(|c| c.get_name() == sub);
            return failure::clap_exit(&e, if known { sub } else { "" });
        }
    };
    if let Some(size) = &cli.spill_limit {
        if let Err(e) = archive::set_spill_limit(size) {
            return failure::exit("", Err(Failure::Trouble(e)));
        }
    }
    let (name, outcome) = match cli.command {
        Command::Verify(a) => ("verify", cmd::verify::run(a)),
        Command::Info(a) => ("info", cmd::info::run(a)),
        Command::Keys(a) => ("keys", cmd::keys::run(a)),
        Command::Diff(a) => ("diff", cmd::diff::run(a)),
        Command::Aof(c) => ("aof", cmd::aof::run(c)),
        Command::ReplayCommands { plain } => (
            "replay-commands",
            model::table::print(plain).map_err(Failure::Write),
        ),
        Command::RedisCheckAof { args } => (
            "redis-check-aof",
            cmd::aof::drop_in(&OsString::from("redis-check-aof"), args),
        ),
        Command::Dump(a) => ("dump", cmd::dump::run(a)),
        Command::Check(a) => ("check", cmd::check::run(a)),
        Command::Convert(a) => ("convert", cmd::convert::run(a)),
        Command::Restore(a) => ("restore", cmd::restore::run(a)),
        Command::Split(a) => ("split", cmd::split::run(a)),
        Command::Merge(a) => ("merge", cmd::merge::run(a)),
        Command::Export(a) => ("export", cmd::export::run(a)),
        Command::Size(a) => ("size", cmd::size::run(a)),
    };
    failure::exit(name, outcome)
}
