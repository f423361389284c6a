//! `rdbkit aof check|fix|dump` and the drop-in `redis-check-aof`. The logic lives in rdbkit-aof.

use std::ffi::OsString;
use std::io::{self, BufRead, Write};
use std::path::PathBuf;

use rdbkit_aof::check::CheckOptions;
use rdbkit_aof::dump::Format;
use rdbkit_aof::multipart;
use rdbkit_aof::{fix, report};

use crate::escape as esc;
use crate::failure::Failure;

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
        /// Cut even when another process (a running server) has the AOF, or an AOF file of its
        /// directory, open for writing. The lock and the re-verification still apply.
        #[arg(long)]
        force: bool,
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

/// Runs `rdbkit aof ...` (redis-check-aof's exit codes: see [`crate::failure::EXIT_CODES`]).
pub fn run(c: Command) -> Result<(), Failure> {
    match c {
        Command::Check { path, json } => {
            if let Some((text, valid)) = check_archive_path(&path, json)? {
                print!("{text}");
                return verdict(valid);
            }
            // `-`, a pipe or a FIFO: checked as it is read, in bounded memory
            // (`rdbkit_aof::stream`); one that starts with an RDB preamble or is a manifest is
            // read into a private temporary file (the checker works on a file's bytes),
            // reported under the name given.
            let temp = match check_stream(&path, json)? {
                Some(t) => t,
                None => return Ok(()),
            };
            let checked = temp.as_ref().map_or(path.as_path(), |t| t.path());
            let r = report::check_path(checked, CheckOptions::default());
            let text = if json {
                format!("{}\n", report::json(&r))
            } else {
                report::human(&r)
            };
            match &temp {
                Some(t) => print!("{}", text.replace(&esc::path(t.path()), &esc::path(&path))),
                None => print!("{text}"),
            }
            if temp.is_some() {
                return verdict(r.strict_valid());
            }
            match (&r.layout, r.strict_valid()) {
                (_, true) => Ok(()),
                (Err(_), _) if !path.exists() => Err(Failure::Reported(2)),
                _ => Err(Failure::Reported(1)),
            }
        }
        Command::Fix {
            path,
            yes,
            truncate_to_timestamp,
            backup_tail,
            force,
            json,
        } => fix_cmd(FixArgs {
            path,
            yes,
            to_timestamp: truncate_to_timestamp.unwrap_or(0),
            backup: backup_tail,
            force,
            json,
        }),
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
                        return Err(Failure::Trouble(e.to_string()));
                    }
                }
            } else {
                match multipart::resolve(&path) {
                    Ok(layout) => rdbkit_aof::dump::dump(&layout, format, &mut out),
                    Err(e) => {
                        return Err(Failure::Trouble(e.to_string()));
                    }
                }
            };
            let _ = out.flush();
            match r {
                Ok(_) => Ok(()),
                // A closed pipe (`| head`): the reader has what it wanted.
                Err(rdbkit_aof::Error::Io { source, .. })
                    if source.kind() == io::ErrorKind::BrokenPipe =>
                {
                    Ok(())
                }
                // redis-check-aof's rules: what cannot be dumped is "not valid", 1.
                Err(e) => Err(Failure::Open(e.to_string())),
            }
        }
    }
}

struct FixArgs {
    path: PathBuf,
    yes: bool,
    to_timestamp: i64,
    backup: Option<PathBuf>,
    force: bool,
    json: bool,
}

fn refusal_json(why: &str) -> String {
    let mut obj = Vec::new();
    obj.extend_from_slice(b"{\"fixed\":false,\"refused\":");
    rdbkit_aof::dump::json_str(&mut obj, why.as_bytes());
    obj.push(b'}');
    String::from_utf8_lossy(&obj).into_owned()
}

/// The fix, in this order: lock the file that may be cut (the last of the data set) and read it
/// with plain reads; refuse while another process writes it (unless --force); check; re-check
/// the locked bytes (same size, same cut); plan from them; ask; cut (re-verified right before
/// `ftruncate`).
fn fix_cmd(a: FixArgs) -> Result<(), Failure> {
    let FixArgs {
        path,
        yes,
        to_timestamp,
        backup,
        force,
        json,
    } = a;
    // Never a shared mapping in a process that cuts files (no SIGBUS on a concurrent cut).
    multipart::read_without_mapping();
    let say = |text: &str, obj: &str| {
        if json {
            println!("{obj}");
        } else {
            println!("{text}");
        }
    };
    let refuse = |why: &str| {
        say(
            // The reason may hold a file's name: escaped in text, as it is in JSON.
            &format!("Refusing: {}. Nothing changed.", esc::text(why)),
            &refusal_json(why),
        );
        Failure::Reported(1)
    };
    // The file a fix may cut is the last one of the data set as redis-check-aof sees it: lock
    // it before anything is checked, so no other fix changes it between the check and the cut.
    let target = multipart::resolve_with(&path, multipart::Sniff::Tool)
        .ok()
        .and_then(|l| l.files().last().cloned());
    let mut ops = fix::RealOps;
    let mut session = None;
    if let Some(t) = &target {
        if t.path.is_file() {
            match fix::FixSession::open(&t.path, &mut ops) {
                Ok(s) => session = Some(s),
                Err(e @ rdbkit_aof::Error::Refused { .. }) => {
                    // It changed while it was read: name the writer if there is one.
                    let e = fix::refuse_if_written(&t.path, force).err().unwrap_or(e);
                    return Err(refuse(&e.to_string()));
                }
                Err(e) => {
                    return Err(Failure::Trouble(esc::text(&e.to_string())));
                }
            }
            if let Err(e) = fix::refuse_if_written(&t.path, force) {
                return Err(refuse(&e.to_string()));
            }
        }
    }
    if !force && !cfg!(target_os = "linux") && !json {
        println!("note: running-server detection is Linux-only; not checked");
    }
    let r = report::check_path(&path, CheckOptions { to_timestamp });
    let (layout, strict) = match (&r.strict_layout, &r.strict) {
        (Some(l), Ok(s)) => (l, s),
        _ => {
            if json {
                println!("{}", report::json(&r));
            } else {
                print!("{}", report::human(&r));
                println!("Nothing changed.");
            }
            return Err(Failure::Reported(if path.exists() { 1 } else { 2 }));
        }
    };
    if !json {
        print!("{}", report::human(&r));
    }
    if strict.valid {
        say("Nothing to fix.", "{\"fixed\":false,\"reason\":\"valid\"}");
        return Ok(());
    }
    let Some((idx, offset)) = strict.fixable else {
        let why = strict
            .refusal
            .clone()
            .unwrap_or_else(|| "not fixable".into());
        return Err(refuse(&why));
    };
    let (Some(file), Some(verdict)) = (layout.files().get(idx), strict.files.get(idx)) else {
        return Err(Failure::Reported(2));
    };
    let session = match session {
        Some(s) if target.as_ref().is_some_and(|t| t.path == file.path) => s,
        _ => {
            return Err(refuse(&format!(
                "{}: the file to cut is not the one locked before the check (the data set \
                 changed meanwhile?)",
                file.path.display()
            )))
        }
    };
    // Decide from the locked bytes: they must check to the same size and cut.
    if let Err(e) = fix::recheck(
        &file.path,
        session.bytes(),
        file.role != multipart::Role::Incr,
        CheckOptions { to_timestamp },
        verdict.check.size,
        offset,
    ) {
        return Err(refuse(&e.to_string()));
    }
    if let Some(why) = fix::refuse_cut(session.bytes(), offset) {
        return Err(refuse(&format!("{}: {why}", file.name)));
    }
    let plan = fix::plan(&file.path, &file.name, session.bytes(), offset);
    if !json {
        println!("Plan: {}", report::plan_human(&plan));
    }
    if !yes {
        if json {
            // The prompt goes to stderr: stdout stays one JSON object.
            eprint!("Continue? [y/N] ");
        } else {
            print!("Continue? [y/N] ");
            let _ = io::stdout().flush();
        }
        let mut answer = String::new();
        let _ = io::stdin().lock().read_line(&mut answer);
        if !answer.trim_start().starts_with(['y', 'Y']) {
            say(
                "Aborted. Nothing changed.",
                &report::plan_json(&plan, false),
            );
            return Err(Failure::Reported(1));
        }
    }
    match session.apply(&plan, backup.as_deref()) {
        Ok(()) => {
            let saved = backup
                .map(|b| format!(" (removed bytes saved to {})", esc::path(&b)))
                .unwrap_or_default();
            say(
                &format!(
                    "Truncated {} to {} bytes{saved}.",
                    esc::text(&plan.name),
                    plan.truncate_to
                ),
                &report::plan_json(&plan, true),
            );
            Ok(())
        }
        Err(e) => Err(Failure::Output(esc::text(&e.to_string()))),
    }
}

/// Redis 7.4's `redis-check-aof`: same arguments, output lines and exit codes.
pub fn drop_in(argv0: &OsString, args: Vec<OsString>) -> Result<(), Failure> {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let code = rdbkit_aof::drop_in::run(&argv0.to_string_lossy(), &args, &mut input, &mut out);
    let _ = out.flush();
    match u8::try_from(code).unwrap_or(1) {
        0 => Ok(()),
        c => Err(Failure::Reported(c)),
    }
}

/// A verdict already printed: valid (exit 0) or not (exit 1).
/// `aof check` of a stream (`-`, a pipe, a FIFO; `Ok(Some(None))` for a file or a
/// directory): the report printed, or the stream's copy in a temporary file when it is not
/// checked as it is read (see [`rdbkit_aof::stream`]). `Ok(None)`: reported and valid.
fn check_stream(
    path: &std::path::Path,
    json: bool,
) -> Result<Option<Option<crate::input::TempCopy>>, Failure> {
    use rdbkit_aof::stream::Streamed;
    let is_stream = path.as_os_str() == "-"
        || std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir());
    if !is_stream {
        return Ok(Some(None));
    }
    let trouble = |e: &dyn std::fmt::Display| Failure::Trouble(esc::text(&e.to_string()));
    let name = path.display().to_string();
    let sniffed = crate::input::sniff(path).map_err(|e| trouble(&e))?;
    let mut r = sniffed.rest.with_head(sniffed.head);
    match rdbkit_aof::stream::check_stream(&mut r, path, CheckOptions::default()) {
        Ok(Streamed::Report(rep)) => {
            if json {
                println!("{}", report::json(&rep));
            } else {
                print!("{}", report::human(&rep));
            }
            verdict(rep.strict_valid()).map(|()| None)
        }
        Ok(Streamed::NotStreamed(head)) => {
            let mut r = io::Read::chain(io::Cursor::new(head), r);
            crate::input::stream_to_temp(&name, &mut r)
                .map(|t| Some(Some(t)))
                .map_err(|e| trouble(&e))
        }
        Err(e) => Err(trouble(&format!("{name}: {e}"))),
    }
}

fn verdict(valid: bool) -> Result<(), Failure> {
    if valid {
        Ok(())
    } else {
        Err(Failure::Reported(1))
    }
}

/// `aof check` of a tar archive (a file whose content is one, compressed or not; not a pipe,
/// which is read as an AOF stream as before): the `appendonlydir/` it holds checked in one
/// pass ([`check_archive`]), or — an archive without a manifest, or with a damaged one — its
/// backup unpacked to the private temporary directory and checked there, paths shown as
/// `ARCHIVE:MEMBER`. The report's text (JSON with `json`) and whether redis-check-aof finds
/// it valid; `None`: not an archive.
fn check_archive_path(
    path: &std::path::Path,
    json: bool,
) -> Result<Option<(String, bool)>, Failure> {
    let is_file = path.as_os_str() != "-" && std::fs::metadata(path).is_ok_and(|m| m.is_file());
    if !is_file {
        return Ok(None);
    }
    let head = crate::input::sniff(path).map(|s| crate::archive::is_tar(&s.head));
    if !head.unwrap_or(false) {
        return Ok(None);
    }
    let mut inp = crate::input::open(path).map_err(|e| Failure::Damaged(e.0))?;
    let opts = CheckOptions::default();
    if inp.paused_archive().is_some_and(one_pass) {
        if let Some(p) = inp.take_archive() {
            let r = check_archive(p, opts).map_err(Failure::Damaged)?;
            return Ok(Some((render(&r, json), r.strict_valid())));
        }
    }
    inp.unpack().map_err(|e| Failure::Damaged(e.0))?;
    let Some(p) = inp.path() else {
        return Err(Failure::Damaged(format!(
            "{}: the archive holds no AOF to check",
            inp.name
        )));
    };
    let r = report::check_path(p, opts);
    let valid = r.strict_valid();
    Ok(Some((inp.rewrite(&render(&r, json)), valid)))
}

fn render(r: &report::Report, json: bool) -> String {
    if json {
        format!("{}\n", report::json(r))
    } else {
        report::human(r)
    }
}

/// Whether an archive paused at an `appendonlydir/`'s manifest can be checked in one pass
/// ([`check_archive`]): its manifest parses (a damaged one is checked as the unpacked
/// directory is: the tool then reads the manifest itself as an AOF).
pub fn one_pass(p: &crate::archive::Paused) -> bool {
    rdbkit_aof::manifest::parse(p.manifest_bytes()).is_ok()
}

/// An archive's RDB part (a base) up to this size is held in memory while it is checked, so
/// its deep validation runs on every core as for the unpacked directory; a bigger one is
/// checked as a stream (one core, memory bounded by its largest record). Measured on the
/// bench multi-part set (377 MB base, 2 cores): held 4.1 s, streamed 11.7 s, for 432 against
/// 398 MiB peak — the stream reader holds a record whole, and the bench base's biggest are
/// tens of MiB. RESP parts are always streamed. `RDBKIT_HOLD_RDB_PART=BYTES` overrides it
/// (0 streams every part).
const HOLD_RDB_PART: usize = 512 << 20;

/// The hold of an archive's RDB part or member: [`HOLD_RDB_PART`], or
/// `RDBKIT_HOLD_RDB_PART=BYTES` (0: stream every one).
pub fn hold_rdb_part() -> usize {
    std::env::var("RDBKIT_HOLD_RDB_PART")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(HOLD_RDB_PART)
}

/// Checks the `appendonlydir/` of an archive paused at its manifest in one pass, as the
/// archive is read: each part (base, then incr files, in manifest order; a part the archive
/// holds early is unpacked to the private temporary directory and checked when its turn comes)
/// is checked as a stream ([`rdbkit_aof::stream::check_part_stream`]: a RESP part never held
/// whole; an RDB part held up to [`HOLD_RDB_PART`], else read once holding a record at a
/// time), which gives both verdicts exactly as checking the unpacked directory does. Files are named `ARCHIVE:MEMBER`. `Err`: the archive
/// itself is damaged or refused (a member cut short, a hostile member...), one line naming the
/// member.
pub fn check_archive(
    p: Box<crate::archive::Paused>,
    opts: CheckOptions,
) -> Result<report::Report, String> {
    use std::path::Path;
    let archive = p.spilled.archive.clone();
    let dir_member = p.dir_member();
    let m = rdbkit_aof::manifest::parse(p.manifest_bytes())
        .map_err(|e| format!("{archive}:{}: manifest: {e}", p.manifest.display()))?;
    let shown = |rel: &Path| PathBuf::from(format!("{archive}:{}", rel.display()));
    let manifest_path = shown(&p.manifest);
    let files = multipart::files_of(&manifest_path, &m);
    let dir = p
        .manifest
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from(&archive), shown);
    let mut mc = rdbkit_aof::parts::MultiCheck::new(files.len(), opts);
    let mut handed = 0usize;
    let hold = hold_rdb_part();
    let read = p.stream_parts(&mut |name, r| {
        let Some(f) = files.get(handed) else {
            return Err(format!("{name}: not a part of the manifest"));
        };
        if f.path != Path::new(name) {
            return Err(format!(
                "{name}: handed over in place of {}",
                f.path.display()
            ));
        }
        handed += 1;
        let w = mc.want();
        let last = handed == files.len();
        match rdbkit_aof::stream::check_part_stream(r, f, last, opts, w, hold) {
            Ok(v) => {
                mc.add(f, v);
                Ok(())
            }
            // The archive's reader failed: the replay names the member.
            Err(e) => Err(format!("{name}: {e}")),
        }
    })?;
    // A part the manifest names and the archive lacks: as the unpacked directory's check
    // says it (every verdict sees the part missing).
    match &read.missing {
        Some(missing) => match files.get(handed).filter(|f| f.path == Path::new(missing)) {
            Some(f) => mc.missing(
                f,
                rdbkit_aof::Error::io(&f.path, io::Error::from_raw_os_error(2)),
            ),
            None => return Err(crate::archive::missing_part(missing)),
        },
        None => {
            crate::input::report_streamed(&archive, &dir_member, &read).map_err(|e| e.0)?;
        }
    }
    let layout = multipart::Layout::MultiPart {
        manifest_path,
        manifest: m,
        files,
    };
    let (strict, server) = mc.finish();
    Ok(report::Report {
        path: dir,
        layout: Ok(layout.clone()),
        strict_layout: strict.is_ok().then(|| layout.clone()),
        strict: strict.map_err(|e| e.to_string()),
        server,
    })
}
