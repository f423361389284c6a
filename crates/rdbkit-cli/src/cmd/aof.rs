//! `rdbkit aof check|fix|dump` and the drop-in `redis-check-aof`. The logic lives in rdbkit-aof.

use std::ffi::OsString;
use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use rdbkit_aof::check::CheckOptions;
use rdbkit_aof::dump::Format;
use rdbkit_aof::multipart::{self, FileData};
use rdbkit_aof::{fix, report};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Check an AOF file, a manifest or an appendonlydir/: redis-check-aof's verdict and the
    /// server's own on start. Exit 0 when valid, 1 when not, 2 when it can't be read.
    Check {
        path: PathBuf,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Cut the damaged tail of the last file exactly where redis-check-aof --fix would (asks
    /// first). Refuses, changing nothing, when the damage is not in the last file.
    Fix {
        path: PathBuf,
        /// Don't ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Cut at the first `#TS:` annotation later than T (unix seconds) instead.
        #[arg(long, value_name = "T", allow_hyphen_values = true)]
        truncate_to_timestamp: Option<i64>,
        /// Save the removed bytes to FILE (created new, fsync'd) before cutting.
        #[arg(long, value_name = "FILE")]
        backup_tail: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Print the commands of the data set in load order.
    Dump {
        /// A file, manifest or directory; `-` reads one AOF from standard input.
        path: PathBuf,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: DumpFormat,
    },
}

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum DumpFormat {
    /// One JSON object per command: {"file":..,"offset":N,"args":[..]}.
    Jsonl,
    /// RESP, as the server writes it.
    Resp,
}

pub fn run(c: Command) -> ExitCode {
    match c {
        Command::Check { path, json } => {
            // `-`, a pipe or a FIFO: read once into a private temporary file (the checker
            // works on a file's bytes), reported under the name given.
            let temp = match crate::input::stream_of(&path) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("rdbkit: {e}");
                    return ExitCode::from(2);
                }
            };
            let checked = temp.as_ref().map_or(path.as_path(), |t| t.path());
            let r = report::check_path(checked, CheckOptions::default());
            let text = if json {
                format!("{}\n", report::json(&r))
            } else {
                report::human(&r)
            };
            match &temp {
                Some(t) => print!(
                    "{}",
                    text.replace(&t.path().display().to_string(), &path.display().to_string())
                ),
                None => print!("{text}"),
            }
            if temp.is_some() {
                return ExitCode::from(if r.strict_valid() { 0 } else { 1 });
            }
            match (&r.layout, r.strict_valid()) {
                (_, true) => ExitCode::SUCCESS,
                (Err(_), _) if !path.exists() => ExitCode::from(2),
                _ => ExitCode::from(1),
            }
        }
        Command::Fix {
            path,
            yes,
            truncate_to_timestamp,
            backup_tail,
            json,
        } => fix_cmd(
            path,
            yes,
            truncate_to_timestamp.unwrap_or(0),
            backup_tail,
            json,
        ),
        Command::Dump { path, format } => {
            let format = match format {
                DumpFormat::Jsonl => Format::Jsonl,
                DumpFormat::Resp => Format::Resp,
            };
            let stdout = io::stdout();
            let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
            let is_stream = path.as_os_str() == "-"
                || std::fs::metadata(&path).is_ok_and(|m| !m.is_file() && !m.is_dir());
            let r = if is_stream {
                // `-`, a pipe or a FIFO: opened once, read once.
                match crate::input::sniff(&path) {
                    Ok(s) => rdbkit_aof::dump::dump_stream(
                        s.rest.with_head(s.head),
                        &path.display().to_string(),
                        format,
                        &mut out,
                    ),
                    Err(e) => {
                        eprintln!("rdbkit: {e}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                match multipart::resolve(&path) {
                    Ok(layout) => rdbkit_aof::dump::dump(&layout, format, &mut out),
                    Err(e) => {
                        eprintln!("rdbkit: {e}");
                        return ExitCode::from(2);
                    }
                }
            };
            let _ = out.flush();
            match r {
                Ok(_) => ExitCode::SUCCESS,
                // A closed pipe (`| head`): the reader has what it wanted.
                Err(rdbkit_aof::Error::Io { source, .. })
                    if source.kind() == io::ErrorKind::BrokenPipe =>
                {
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("rdbkit: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

fn fix_cmd(
    path: PathBuf,
    yes: bool,
    to_timestamp: i64,
    backup: Option<PathBuf>,
    json: bool,
) -> ExitCode {
    let r = report::check_path(&path, CheckOptions { to_timestamp });
    let say = |text: &str, obj: &str| {
        if json {
            println!("{obj}");
        } else {
            println!("{text}");
        }
    };
    let (layout, strict) = match (&r.strict_layout, &r.strict) {
        (Some(l), Ok(s)) => (l, s),
        _ => {
            if json {
                println!("{}", report::json(&r));
            } else {
                print!("{}", report::human(&r));
                println!("Nothing changed.");
            }
            return ExitCode::from(if path.exists() { 1 } else { 2 });
        }
    };
    if !json {
        print!("{}", report::human(&r));
    }
    if strict.valid {
        say("Nothing to fix.", "{\"fixed\":false,\"reason\":\"valid\"}");
        return ExitCode::SUCCESS;
    }
    let Some((idx, offset)) = strict.fixable else {
        let why = strict
            .refusal
            .clone()
            .unwrap_or_else(|| "not fixable".into());
        let mut obj = Vec::new();
        obj.extend_from_slice(b"{\"fixed\":false,\"refused\":");
        rdbkit_aof::dump::json_str(&mut obj, why.as_bytes());
        obj.push(b'}');
        say(
            &format!("Refusing: {why}. Nothing changed."),
            &String::from_utf8_lossy(&obj),
        );
        return ExitCode::from(1);
    };
    let Some(file) = layout.files().get(idx) else {
        return ExitCode::from(2);
    };
    let plan = match FileData::open(&file.path) {
        Ok(d) => fix::plan(&file.path, &file.name, d.bytes(), offset),
        Err(e) => {
            eprintln!("rdbkit: {e}");
            return ExitCode::from(2);
        }
    };
    if !json {
        println!("Plan: {}", report::plan_human(&plan));
    }
    if !yes {
        print!("Continue? [y/N] ");
        let _ = io::stdout().flush();
        let mut answer = String::new();
        let _ = io::stdin().lock().read_line(&mut answer);
        if !answer.trim_start().starts_with(['y', 'Y']) {
            say(
                "Aborted. Nothing changed.",
                &report::plan_json(&plan, false),
            );
            return ExitCode::from(1);
        }
    }
    match fix::apply(&plan, backup.as_deref()) {
        Ok(()) => {
            let saved = backup
                .map(|b| format!(" (removed bytes saved to {})", b.display()))
                .unwrap_or_default();
            say(
                &format!(
                    "Truncated {} to {} bytes{saved}.",
                    plan.name, plan.truncate_to
                ),
                &report::plan_json(&plan, true),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rdbkit: {e}");
            ExitCode::from(1)
        }
    }
}

/// Redis 7.4's `redis-check-aof`: same arguments, output lines and exit codes.
pub fn drop_in(argv0: &OsString, args: Vec<OsString>) -> ExitCode {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let code = rdbkit_aof::drop_in::run(&argv0.to_string_lossy(), &args, &mut input, &mut out);
    let _ = out.flush();
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
