//! Drop-in `redis-check-aof` (Redis 7.4): its arguments, its output lines and its exit codes, on
//! every layout any version wrote.
//!
//! Deliberate differences from Redis's tool:
//! - a manifest whose first line is damaged is checked as an AOF (like 7.4), but `--fix` refuses
//!   to truncate it (Redis empties it) and exits 1 without changing anything;
//! - a huge bulk length is a short read (exit 1), never a crash;
//! - a plain check opens files read-only; a cut is fsync'd (file and directory);
//! - `--fix` and `--truncate-to-timestamp` read files with plain reads (never a shared map), and
//!   the cut is made under an exclusive `flock`, refused while another process has the file
//!   (or an AOF file of its directory) open for writing, and only if the locked file still
//!   checks to the same size and cut, verified again right before `ftruncate`
//!   ("Failed to truncate AOF NAME: the file changed since it was checked (...)");
//! - a cut at offset 0 of a file that is not an AOF (gzip/bzip2/xz/zstd data, an RDB, text that
//!   does not start with `*` or `#`) is refused before the prompt;
//! - a Valkey 9 `VALKEY` magic counts as an RDB preamble, like `REDIS`;
//! - `Expected \r\n, got: 00..` shows `00` where Redis shows a byte of stale memory.

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::Path;

use crate::check::{self, CheckOptions, Stop};
use crate::error::strerror;
use crate::manifest::{self, ManifestError};
use crate::multipart::FileData;
use crate::resp::RespErrorKind;
use crate::timestamp::parse_cli_timestamp;

/// The Redis version whose tool this mode reproduces.
pub const COMPATIBLE_WITH: &str = "7.4.1";

enum Ret {
    Ok,
    Empty,
    Truncated,
    TimestampTruncated,
}

struct Ctx<'a> {
    out: &'a mut dyn Write,
    stdin: &'a mut dyn BufRead,
    fix: bool,
    to_timestamp: i64,
    line: u64,
}

/// An early exit with this code (Redis calls `exit()` all over the place).
struct Exit(i32);

macro_rules! say {
    ($ctx:expr, $($arg:tt)*) => {
        // Output errors (a closed pipe) can't be reported anywhere better; Redis ignores them too.
        let _ = writeln!($ctx.out, $($arg)*);
    };
}

fn bytes_of(s: &OsString) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        s.as_os_str().as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        s.to_string_lossy().into_owned().into_bytes()
    }
}

/// Runs the tool: `args` excludes argv0. Returns the exit code.
pub fn run(argv0: &str, args: &[OsString], stdin: &mut dyn BufRead, out: &mut dyn Write) -> i32 {
    let code = match main(argv0, args, stdin, out) {
        Ok(()) => 0,
        Err(Exit(c)) => c,
    };
    let _ = out.flush();
    code
}

fn main(
    argv0: &str,
    args: &[OsString],
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), Exit> {
    let usage = |out: &mut dyn Write| {
        let _ = writeln!(
            out,
            "Usage: {argv0} [--fix|--truncate-to-timestamp $timestamp] <file.manifest|file.aof>"
        );
        Err(Exit(1))
    };
    let (filepath, fix, to_timestamp) = match args {
        [one] => {
            if one == "-v" || one == "--version" {
                let _ = writeln!(
                    out,
                    "redis-check-aof {COMPATIBLE_WITH} (rdbkit {})",
                    env!("CARGO_PKG_VERSION")
                );
                return Ok(());
            }
            (one, false, 0)
        }
        [flag, file] if flag == "--fix" => (file, true, 0),
        [flag, t, file] if flag == "--truncate-to-timestamp" => {
            match parse_cli_timestamp(&bytes_of(t)) {
                Some(t) => (file, false, t),
                None => {
                    let _ = writeln!(out, "Invalid timestamp, aborting...");
                    return Err(Exit(1));
                }
            }
        }
        _ => return usage(out),
    };
    if fix || to_timestamp != 0 {
        // Files that may be cut are read, never mapped (no SIGBUS if another process cuts
        // them meanwhile).
        crate::multipart::read_without_mapping();
    }
    let path_str = filepath.to_string_lossy().into_owned();
    let path = Path::new(filepath);
    let mut ctx = Ctx {
        out,
        stdin,
        fix,
        to_timestamp,
        line: 1,
    };

    // Names are printed escaped (crate::escape): an ordinary name as it is.
    let shown = crate::escape::path(path);
    if path.is_dir() {
        say!(ctx, "Cannot read file: {shown}");
        return Err(Exit(1));
    }
    let data = match FileData::open(path) {
        Ok(d) => d,
        Err(crate::error::Error::Io { source, .. }) => {
            say!(ctx, "Cannot open file {shown}: {}", strerror(&source));
            return Err(Exit(1));
        }
        Err(e) => {
            say!(
                ctx,
                "Cannot open file {shown}: {}",
                crate::escape::text(&e.to_string())
            );
            return Err(Exit(1));
        }
    };
    let bytes = data.bytes();
    if !bytes.is_empty() && manifest::looks_like_manifest(bytes) {
        let parsed = manifest::parse(bytes);
        drop(data);
        return check_multi_part(&mut ctx, &path_str, parsed);
    }
    let preamble = check::is_rdb(bytes);
    drop(data);
    say!(ctx, "Start checking Old-Style AOF");
    let ret = check_one(&mut ctx, &path_str, &path_str, true, preamble)?;
    print_style(&mut ctx, ret, &path_str, "AOF");
    Ok(())
}

/// C `dirname`.
fn c_dirname(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return if p.is_empty() { ".".into() } else { "/".into() };
    }
    match t.rfind('/') {
        None => ".".into(),
        Some(i) => {
            let d = t.get(..i).unwrap_or("").trim_end_matches('/');
            if d.is_empty() {
                "/".into()
            } else {
                d.into()
            }
        }
    }
}

fn log_prefix() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86400));
    let rem = secs.rem_euclid(86400);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mon = MONTHS
        .get((m as usize).wrapping_sub(1))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{}:C {:02} {} {} {:02}:{:02}:{:02}.{:03}",
        std::process::id(),
        d,
        mon,
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn print_manifest_error(ctx: &mut Ctx<'_>, e: &ManifestError) {
    let p = log_prefix();
    say!(ctx, "{p} # \n*** FATAL AOF MANIFEST FILE ERROR ***\n");
    if let (Some(n), Some(t)) = (e.line, &e.text) {
        say!(ctx, "{p} # Reading the manifest file, at line {n}\n");
        say!(ctx, "{p} # >>> '{t}'\n");
    }
    say!(ctx, "{p} # {}\n", e.kind.redis_message());
}

fn check_multi_part(
    ctx: &mut Ctx<'_>,
    manifest_path: &str,
    parsed: Result<manifest::Manifest, ManifestError>,
) -> Result<(), Exit> {
    say!(ctx, "Start checking Multi Part AOF");
    let m = match parsed {
        Ok(m) => m,
        Err(e) => {
            print_manifest_error(ctx, &e);
            return Err(Exit(1));
        }
    };
    let dir = c_dirname(manifest_path);
    let total = usize::from(m.base.is_some()) + m.incr.len();
    let mut n = 0usize;
    if let Some(base) = &m.base {
        let name = base.file_name_lossy();
        let path = format!("{dir}/{name}");
        n += 1;
        let last = n == total;
        let preamble = match FileData::open(Path::new(&path)) {
            Ok(d) => check::is_rdb(d.bytes()),
            Err(crate::error::Error::Io { source, .. }) => {
                let path = crate::escape::text(&path);
                say!(ctx, "Cannot open file {path}: {}", strerror(&source));
                return Err(Exit(1));
            }
            Err(e) => {
                let path = crate::escape::text(&path);
                let e = crate::escape::text(&e.to_string());
                say!(ctx, "Cannot open file {path}: {e}");
                return Err(Exit(1));
            }
        };
        say!(
            ctx,
            "Start to check BASE AOF ({} format).",
            if preamble { "RDB" } else { "RESP" }
        );
        let ret = check_one(ctx, &name, &path, last, preamble)?;
        print_style(ctx, ret, &name, "BASE AOF");
    }
    if !m.incr.is_empty() {
        say!(ctx, "Start to check INCR files.");
        for e in &m.incr {
            let name = e.file_name_lossy();
            let path = format!("{dir}/{name}");
            n += 1;
            let last = n == total;
            let ret = check_one(ctx, &name, &path, last, false)?;
            print_style(ctx, ret, &name, "INCR AOF");
        }
    }
    say!(ctx, "All AOF files and manifest are valid");
    Ok(())
}

fn print_style(ctx: &mut Ctx<'_>, ret: Ret, name: &str, kind: &str) {
    let name = crate::escape::text(name);
    match ret {
        Ret::Ok => {
            say!(ctx, "{kind} {name} is valid");
        }
        Ret::Empty => {
            say!(ctx, "{kind} {name} is empty");
        }
        Ret::TimestampTruncated => {
            say!(
                ctx,
                "Successfully truncated AOF {name} to timestamp {}",
                ctx.to_timestamp
            );
        }
        Ret::Truncated => {
            say!(ctx, "Successfully truncated AOF {name}");
        }
    }
}

/// `checkSingleAof`: `name` is what most messages show, `path` what the rest show (both
/// escaped there, [`crate::escape`]).
fn check_one(
    ctx: &mut Ctx<'_>,
    name_raw: &str,
    path_raw: &str,
    last: bool,
    preamble: bool,
) -> Result<Ret, Exit> {
    let name = crate::escape::text(name_raw);
    let path = crate::escape::text(path_raw);
    let data = match FileData::open(Path::new(path_raw)) {
        Ok(d) => d,
        Err(crate::error::Error::Io { source, .. }) => {
            say!(
                ctx,
                "Cannot open file {path}: {}, aborting...",
                strerror(&source)
            );
            return Err(Exit(1));
        }
        Err(e) => {
            let e = crate::escape::text(&e.to_string());
            say!(ctx, "Cannot open file {path}: {e}, aborting...");
            return Err(Exit(1));
        }
    };
    let opts = CheckOptions {
        to_timestamp: ctx.to_timestamp,
    };
    let c = check::check_single(data.bytes(), preamble, last, opts, &mut ctx.line);
    // Only a cut we are about to offer needs this (it scans the whole file).
    let damaged_manifest = ctx.fix
        && last
        && c.stop == Stop::Checked
        && c.diff() > 0
        && check::is_damaged_manifest(name_raw, data.bytes(), &c);
    // A cut at offset 0 of a file that is not an AOF (gzip, an RDB, text) is refused.
    let not_an_aof = if ctx.fix && last {
        crate::fix::refuse_cut(data.bytes(), c.ok_up_to)
    } else {
        None
    };
    // Nothing below reads the mapping; unmap before any truncation.
    drop(data);
    if c.stop == Stop::Empty {
        return Ok(Ret::Empty);
    }
    if preamble {
        say!(ctx, "[offset 0] Checking RDB file {path}");
        match (&c.stop, &c.rdb) {
            (Stop::RdbInvalid(e), _) => {
                say!(ctx, "--- RDB ERROR DETECTED ---");
                say!(ctx, "[offset {}] {}", e.offset.unwrap_or(0), e.message);
                say!(ctx, "RDB preamble of AOF file is not sane, aborting.");
                return Err(Exit(1));
            }
            (_, Some(p)) => {
                say!(ctx, "[offset {}] Checksum OK", p.len);
                say!(ctx, "[offset {}] \\o/ RDB looks OK! \\o/", p.len);
                say!(ctx, "[info] {} keys read", p.keys);
                say!(ctx, "RDB preamble is OK, proceeding with AOF tail...");
            }
            _ => {}
        }
    }
    if let Some(RespErrorKind::FormatError { .. }) = c.error.as_ref().map(|e| &e.kind) {
        say!(ctx, "AOF {name} format error");
    }
    let t = ctx.to_timestamp;
    match c.stop {
        Stop::NothingBeforeTimestamp { .. } => {
            say!(
                ctx,
                "AOF {path} has nothing before timestamp {t}, aborting..."
            );
            return Err(Exit(1));
        }
        Stop::TimestampNotLast { offset } => {
            say!(ctx, "Failed to truncate AOF {path} to timestamp {t} to offset {offset} because it is not the last file.");
            say!(
                ctx,
                "If you insist, please delete all files after this file according to the manifest file and delete the corresponding records in manifest file manually. Then re-run redis-check-aof."
            );
            return Err(Exit(1));
        }
        Stop::InvalidTimestampAnnotation { .. } => {
            say!(ctx, "Invalid timestamp annotation");
            return Err(Exit(1));
        }
        Stop::TimestampCut { offset, .. } => {
            if let Err(e) = safe_cut(path_raw, preamble, t, &c, offset) {
                let e = crate::escape::text(&e.to_string());
                say!(ctx, "Failed to truncate AOF {path} to timestamp {t}: {e}");
                return Err(Exit(1));
            }
            return Ok(Ret::TimestampTruncated);
        }
        Stop::Empty | Stop::RdbInvalid(_) | Stop::Checked => {}
    }
    if let Some(e) = &c.error {
        if !matches!(e.kind, RespErrorKind::FormatError { .. }) {
            if let Some(msg) = e.kind.redis_message(&path) {
                say!(ctx, "0x{:>16x}: {msg}", e.offset);
            }
        }
    }
    let diff = c.diff();
    if diff == 0 && t != 0 {
        say!(ctx, "Truncate nothing in AOF {name} to timestamp {t}");
        return Ok(Ret::Ok);
    }
    say!(
        ctx,
        "AOF analyzed: filename={name}, size={}, ok_up_to={}, ok_up_to_line={}, diff={diff}",
        c.size,
        c.ok_up_to,
        c.ok_up_to_line
    );
    if diff == 0 {
        return Ok(Ret::Ok);
    }
    if !ctx.fix {
        say!(
            ctx,
            "AOF {name} is not valid. Use the --fix option to try fixing it."
        );
        return Err(Exit(1));
    }
    if !last {
        say!(
            ctx,
            "Failed to truncate AOF {name} because it is not the last file"
        );
        return Err(Exit(1));
    }
    if damaged_manifest {
        say!(
            ctx,
            "Refusing to truncate {name}: it is an AOF manifest whose first line is damaged, not an AOF \
             (redis-check-aof would truncate it to {} bytes). Repair the manifest by hand.",
            c.ok_up_to
        );
        return Err(Exit(1));
    }
    if let Some(why) = not_an_aof {
        say!(ctx, "Refusing to truncate {name}: {why}.");
        return Err(Exit(1));
    }
    say!(
        ctx,
        "This will shrink the AOF {name} from {} bytes, with {diff} bytes, to {} bytes",
        c.size,
        c.ok_up_to
    );
    let _ = write!(ctx.out, "Continue? [y/N]: ");
    let _ = ctx.out.flush();
    let mut answer = [0u8; 1];
    let got = ctx.stdin.read(&mut answer).unwrap_or(0);
    if got == 0 || !answer[0].eq_ignore_ascii_case(&b'y') {
        say!(ctx, "Aborting...");
        return Err(Exit(1));
    }
    if let Err(e) = safe_cut(path_raw, preamble, t, &c, c.ok_up_to) {
        let e = crate::escape::text(&e.to_string());
        say!(ctx, "Failed to truncate AOF {name}: {e}");
        return Err(Exit(1));
    }
    Ok(Ret::Truncated)
}

/// The cut, with `rdbkit aof fix`'s protection: refused while another process writes the file
/// or holds the fix lock, and only if the locked file still checks to the same size and cut.
fn safe_cut(
    path: &str,
    preamble: bool,
    to_timestamp: i64,
    c: &check::SingleCheck,
    cut: u64,
) -> Result<(), crate::error::Error> {
    let checked = crate::fix::Checked {
        size: c.size,
        cut,
        allow_preamble: preamble,
        check: CheckOptions { to_timestamp },
    };
    let opts = crate::fix::FixOptions::default();
    crate::fix::fix_checked(
        &mut crate::fix::RealOps,
        Path::new(path),
        path,
        checked,
        opts,
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirname_like_c() {
        assert_eq!(
            c_dirname("appendonlydir/appendonly.aof.manifest"),
            "appendonlydir"
        );
        assert_eq!(c_dirname("x.manifest"), ".");
        assert_eq!(c_dirname("/x"), "/");
        assert_eq!(c_dirname("a//b/"), "a");
        assert_eq!(c_dirname(""), ".");
    }

    #[test]
    fn civil() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20417), (2025, 11, 25));
    }

    fn run_str(args: &[&str], stdin: &str) -> (i32, String) {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let mut out = Vec::new();
        let mut input = std::io::Cursor::new(stdin.as_bytes().to_vec());
        let code = run("redis-check-aof", &args, &mut input, &mut out);
        (code, String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn arguments() {
        assert_eq!(run_str(&[], "").0, 1);
        assert!(run_str(&["--bogus", "x"], "")
            .1
            .starts_with("Usage: redis-check-aof [--fix|"));
        assert_eq!(
            run_str(&["--truncate-to-timestamp", "12abc", "x"], "").1,
            "Invalid timestamp, aborting...\n"
        );
        assert_eq!(run_str(&["-v"], "").0, 0);
        let (c, o) = run_str(&["/nonexistent/x.aof"], "");
        assert_eq!(
            (c, o.as_str()),
            (
                1,
                "Cannot open file /nonexistent/x.aof: No such file or directory\n"
            )
        );
    }

    #[test]
    fn fix_prompt_and_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("appendonly.aof");
        let ps = p.to_str().unwrap();
        std::fs::write(&p, b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPI").unwrap();
        let (c, o) = run_str(&[ps], "");
        assert_eq!(c, 1);
        assert!(o.contains(&format!("0x              16: Expected to read 6 bytes, got 2 bytes\nAOF analyzed: filename={ps}, size=24, ok_up_to=14, ok_up_to_line=6, diff=10\n")), "{o}");
        let (c, o) = run_str(&["--fix", ps], "n\n");
        assert_eq!(c, 1);
        assert!(o.ends_with("Continue? [y/N]: Aborting...\n"));
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 24);
        let (c, o) = run_str(&["--fix", ps], "Yes\n");
        assert_eq!(c, 0, "{o}");
        assert!(o.ends_with(&format!("Successfully truncated AOF {ps}\n")));
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 14);
    }

    #[test]
    fn refuses_to_empty_a_damaged_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("appendonly.aof.manifest");
        let ps = p.to_str().unwrap();
        let text = b"fiel a.base.rdb seq 1 type b\nfile a.1.incr.aof seq 1 type i\n";
        std::fs::write(&p, text).unwrap();
        let (c, o) = run_str(&[ps], "");
        assert_eq!(c, 1);
        assert!(
            o.contains("format error") && o.contains("ok_up_to=0"),
            "{o}"
        );
        let (c, _) = run_str(&["--fix", ps], "y\n");
        assert_eq!(c, 1);
        assert_eq!(std::fs::read(&p).unwrap(), text);
    }
}
