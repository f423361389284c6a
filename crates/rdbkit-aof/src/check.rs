//! Two verdicts on an AOF:
//! - **strict**: exactly `redis-check-aof` 7.4's (`check_single` per file, `parts::check_layout` for a
//!   data set): the last sound offset (`ok_up_to`), the running `ok_up_to_line`, the reason;
//! - **lenient**: what the server itself does on start (`server_load`): load, truncate a short
//!   tail (`aof-load-truncated yes`, the default) or refuse.

use crate::cnum::{self, c_str};
use crate::commands;
use crate::manifest;
use crate::multipart::AofFile;
use crate::rdb_prefix::{self, RdbPrefix, RdbPrefixError};
use crate::resp::{
    annotation_timestamp, has_rdb_magic, plain_header, Core, LineState, Parsed, RespError,
    RespErrorKind,
};

/// How a strict single-file check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// 0 bytes: valid ("is empty").
    Empty,
    /// The RDB part failed validation: never fixable.
    RdbInvalid(RdbPrefixError),
    /// Parsed to the end or to an error: `diff == 0` is valid, `diff > 0` needs a cut.
    Checked,
    /// Timestamp mode: the first `#TS:` above T is at `offset` in the last file: cut there.
    /// `open_multi`: the cut lands inside the MULTI that starts there. Redis cuts at the
    /// annotation all the same, so the kept file ends in an open transaction, which the server
    /// drops on load (and a later plain check reports as `Reached EOF before reading EXEC`).
    TimestampCut {
        /// Where the cut goes (the annotation).
        offset: u64,
        /// Where the open MULTI starts, when the cut lands inside one.
        open_multi: Option<u64>,
    },
    /// Timestamp mode: that annotation is at offset 0 of its file.
    NothingBeforeTimestamp {
        /// Where the annotation is.
        offset: u64,
    },
    /// Timestamp mode: that annotation is in a file that isn't last.
    TimestampNotLast {
        /// Where the annotation is.
        offset: u64,
    },
    /// Timestamp mode: a `#TS:` line that isn't `#TS:<number>\r`.
    InvalidTimestampAnnotation {
        /// Where the line is.
        offset: u64,
    },
}

/// The strict verdict on one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleCheck {
    /// The file's size.
    pub size: u64,
    /// Bytes of whole commands (and the RDB preamble) from the start: a fix keeps these.
    pub ok_up_to: u64,
    /// The running line counter after this file (redis-check-aof's `ok_up_to_line`).
    pub ok_up_to_line: u64,
    /// The RDB preamble, when the file has one.
    pub rdb: Option<RdbPrefix>,
    /// The framing error, if any (a `FormatError` is what Redis calls "format error").
    pub error: Option<RespError>,
    /// Why the check stopped.
    pub stop: Stop,
    /// Whole commands before `ok_up_to`.
    pub commands: u64,
}

impl SingleCheck {
    /// Bytes a fix would cut (`size - ok_up_to`).
    pub fn diff(&self) -> u64 {
        self.size.saturating_sub(self.ok_up_to)
    }
    /// Sound as it is (nothing to cut, nothing refused).
    pub fn is_valid(&self) -> bool {
        match self.stop {
            Stop::Empty => true,
            Stop::Checked => self.diff() == 0,
            _ => false,
        }
    }
}

/// Options of a strict check.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// `--truncate-to-timestamp T`; 0 is off (as in Redis).
    pub to_timestamp: i64,
}

/// Checks one file's bytes like `checkSingleAof`. `preamble`: validate an RDB part first (the
/// tool decides this by the content's magic, and only for a base or a file given directly).
/// `line` is the running counter, carried across the files of a data set.
pub fn check_single(
    data: &[u8],
    preamble: bool,
    last_file: bool,
    opts: CheckOptions,
    line: &mut u64,
) -> SingleCheck {
    check_single_with(data, preamble, None, last_file, opts, line)
}

/// [`check_single`], given the deep validation of the RDB part when it was already made
/// (`prefix`: what [`rdb_prefix::check`]`(data, true)` returned; used only with `preamble`).
pub fn check_single_with(
    data: &[u8],
    preamble: bool,
    prefix: Option<Result<RdbPrefix, RdbPrefixError>>,
    last_file: bool,
    opts: CheckOptions,
    line: &mut u64,
) -> SingleCheck {
    let size = data.len() as u64;
    let mut out = SingleCheck {
        size,
        ok_up_to: 0,
        ok_up_to_line: *line,
        rdb: None,
        error: None,
        stop: Stop::Checked,
        commands: 0,
    };
    if data.is_empty() {
        out.stop = Stop::Empty;
        return out;
    }
    let mut pos = 0usize;
    if preamble {
        match prefix.unwrap_or_else(|| rdb_prefix::check(data, true)) {
            Ok(p) => {
                pos = p.len;
                out.rdb = Some(p);
            }
            Err(e) => {
                out.stop = Stop::RdbInvalid(e);
                return out;
            }
        }
    }
    let mut w = Whole(data);
    resp_strict(&mut w, pos, last_file, opts, line, &mut out);
    out
}

/// The bytes a check reads: a whole file in memory ([`Whole`]), or a window of a stream that
/// the check slides along (`crate::stream`). Positions are indexes into [`data`](Self::data).
pub(crate) trait Window {
    /// The bytes held: `data()[0]` is the file's byte [`base`](Self::base).
    fn data(&self) -> &[u8];
    /// The file offset of `data()[0]`.
    fn base(&self) -> u64;
    /// No bytes follow `data()`.
    fn fin(&self) -> bool;
    /// Drops the bytes before `keep` and reads more (to the end of the stream, `fin`, when
    /// none follow). Returns how many bytes were dropped. `commands`: the strict check's whole
    /// commands so far (a stream keeps what a damaged-manifest verdict may need while 0).
    fn more(&mut self, keep: usize, commands: u64) -> usize;
}

/// A whole file's bytes: nothing follows them.
pub(crate) struct Whole<'a>(pub(crate) &'a [u8]);

impl Window for Whole<'_> {
    #[inline(always)]
    fn data(&self) -> &[u8] {
        self.0
    }
    #[inline(always)]
    fn base(&self) -> u64 {
        0
    }
    #[inline(always)]
    fn fin(&self) -> bool {
        true
    }
    fn more(&mut self, _keep: usize, _commands: u64) -> usize {
        0
    }
}

/// The strict check of the RESP part, from `pos` of `w` to its end (the loop of
/// `checkSingleAof`); fills `out` but its `size`.
pub(crate) fn resp_strict<W: Window>(
    w: &mut W,
    mut pos: usize,
    last_file: bool,
    opts: CheckOptions,
    line: &mut u64,
    out: &mut SingleCheck,
) {
    let mut st = LineState {
        line: *line,
        last_epos: 0,
    };
    let mut args = Vec::with_capacity(8);
    let mut multi: i64 = 0;
    let mut ok = w.base() + pos as u64;
    let mut in_txn = 0u64;
    let mut clean_eof = false;
    loop {
        if multi == 0 {
            ok = w.base() + pos as u64;
        }
        // A stream's record may run past the window: parsed again, from its start, once more
        // bytes are in (what the partial parse changed is undone).
        let saved = (st, multi);
        let data = w.data();
        let mut core = Core {
            st: &mut st,
            base: w.base(),
            fin: w.fin(),
        };
        let parsed = core.parse_item(data, pos, &mut args, |first| {
            let name = c_str(first);
            if name.eq_ignore_ascii_case(b"multi") {
                multi += 1;
                if multi != 1 {
                    return Some(RespErrorKind::UnexpectedMulti);
                }
            } else if name.eq_ignore_ascii_case(b"exec") {
                multi -= 1;
                if multi != 0 {
                    return Some(RespErrorKind::UnexpectedExec);
                }
            }
            None
        });
        match parsed {
            Parsed::Incomplete if !w.fin() => {
                (st, multi) = saved;
                pos -= w.more(pos, out.commands);
            }
            Parsed::Eof | Parsed::Incomplete => {
                clean_eof = true;
                break;
            }
            Parsed::Annotation { end } => {
                let text = data.get(pos..end).unwrap_or(&[]);
                if opts.to_timestamp != 0 && text.starts_with(b"#TS:") {
                    let offset = w.base() + pos as u64;
                    let stop = match annotation_timestamp(text) {
                        None => Some(Stop::InvalidTimestampAnnotation { offset }),
                        Some(ts) if ts <= opts.to_timestamp => None,
                        Some(_) if offset == 0 => Some(Stop::NothingBeforeTimestamp { offset }),
                        Some(_) if !last_file => Some(Stop::TimestampNotLast { offset }),
                        Some(_) => Some(Stop::TimestampCut {
                            offset,
                            open_multi: (multi != 0).then_some(ok),
                        }),
                    };
                    if let Some(stop) = stop {
                        out.stop = stop;
                        out.ok_up_to = offset;
                        out.ok_up_to_line = st.line;
                        *line = st.line;
                        return;
                    }
                }
                pos = end;
            }
            Parsed::Command { end } => {
                pos = end;
                if multi == 0 {
                    out.commands += in_txn + 1;
                    in_txn = 0;
                } else {
                    in_txn += 1;
                }
            }
            Parsed::Error(e) => {
                out.error = Some(e);
                break;
            }
        }
    }
    // EOF inside MULTI (at a record boundary, or where a `*`/`$` line should start).
    let eof_at_line = matches!(
        &out.error,
        Some(RespError {
            kind: RespErrorKind::EofAtLine,
            ..
        })
    );
    if multi != 0 && (clean_eof || eof_at_line) {
        out.error = Some(RespError {
            offset: st.last_epos,
            kind: RespErrorKind::EofInMulti,
        });
    }
    out.ok_up_to = ok;
    out.ok_up_to_line = st.line;
    *line = st.line;
}

/// Whether the tool takes the file for an RDB (`fileIsRDB`; Valkey 9's magic too).
pub fn is_rdb(data: &[u8]) -> bool {
    data.len() >= 8 && has_rdb_magic(data)
}

/// The strict verdict on one file of a data set.
#[derive(Debug, Clone)]
pub struct FileVerdict {
    /// The file.
    pub file: AofFile,
    /// Whether it is the data set's last file (the only one a fix may cut).
    pub last: bool,
    /// Its verdict.
    pub check: SingleCheck,
}

/// The strict verdict on a whole data set, file by file, stopping where Redis's tool stops.
#[derive(Debug, Clone)]
pub struct StrictVerdict {
    /// The files checked, in load order, up to the first that fails.
    pub files: Vec<FileVerdict>,
    /// Everything sound.
    pub valid: bool,
    /// A cut the tool would make (last file only): file index and offset.
    pub fixable: Option<(usize, u64)>,
    /// Why it can't be fixed (a non-last file, an RDB part, a missing file...).
    pub refusal: Option<String>,
}

// ---- the server's own verdict on load ------------------------------------------------------------

/// What the server (7.x, `aof-load-truncated yes`) does with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Load {
    /// Nothing to load (an empty file).
    Empty,
    /// Loads whole.
    Loaded {
        /// Commands loaded.
        commands: u64,
    },
    /// Short read: the server truncates the file to `valid_up_to` and loads what precedes.
    Truncated {
        /// Bytes kept.
        valid_up_to: u64,
        /// Commands loaded.
        commands: u64,
        /// What ended the file early.
        reason: String,
    },
    /// The server refuses to start.
    Failed {
        /// Where the fatal error is.
        offset: u64,
        /// The server's message.
        reason: String,
    },
}

/// A stream's window ends before what is being read does: read more and parse again.
struct More;

/// `fgets` at `pos` into a `cap` buffer: where the line ends, `None` at the end of the data.
fn fgets_end(data: &[u8], pos: usize, cap: usize, fin: bool) -> Result<Option<usize>, More> {
    let rest = data.get(pos..).unwrap_or(&[]);
    if rest.is_empty() {
        return if fin { Ok(None) } else { Err(More) };
    }
    let window = rest.get(..rest.len().min(cap - 1)).unwrap_or(rest);
    match crate::resp::find_newline(window) {
        Some(i) => Ok(Some(pos + i + 1)),
        None if window.len() < cap - 1 && !fin => Err(More),
        None => Ok(Some(pos + window.len())),
    }
}

/// Models `loadSingleAppendOnlyFile` of Redis 7.4, with its command table (top-level names;
/// `module.command` names are assumed to come from a loaded module).
/// What the general path of a `*` line decided, when not a count.
enum Cont {
    /// A `#` annotation line: read on.
    Skip,
    /// The load ends here: the verdict, given `valid_up_to` and the command count.
    Stop(Box<dyn FnOnce(u64, u64) -> Load>),
}

/// The server's reading of a record's first line at `pos` (fgets into a `cap` buffer, then
/// `atoi`), for lines other than the plain `*<n>\r\n`: `None` at the end of the data.
fn server_argc(
    data: &[u8],
    pos: &mut usize,
    cap: usize,
    base: u64,
    fin: bool,
) -> Result<Option<Result<i64, Cont>>, More> {
    let Some(end) = fgets_end(data, *pos, cap, fin)? else {
        return Ok(None);
    };
    let start = base + *pos as u64;
    let line = data.get(*pos..end).unwrap_or(&[]);
    *pos = end;
    match line.first() {
        Some(b'#') => return Ok(Some(Err(Cont::Skip))),
        Some(b'*') => {}
        _ => {
            return Ok(Some(Err(Cont::Stop(Box::new(move |_, _| Load::Failed {
                offset: start,
                reason:
                    "Bad file format reading the append only file (record doesn't start with '*')"
                        .into(),
            })))))
        }
    }
    let cline = c_str(line);
    if cline.len() < 2 {
        if end >= data.len() {
            if !fin {
                return Err(More);
            }
            return Ok(Some(Err(Cont::Stop(Box::new(|valid_up_to, commands| {
                Load::Truncated {
                    valid_up_to,
                    commands,
                    reason: "short read in a '*' line".into(),
                }
            })))));
        }
        return Ok(Some(Err(Cont::Stop(Box::new(move |_, _| Load::Failed {
            offset: start,
            reason: "Unrecoverable error reading the append only file".into(),
        })))));
    }
    Ok(Some(Ok(i64::from(cnum::atoi(
        cline.get(1..).unwrap_or(&[]),
    )))))
}

/// What the server (7.x, `aof-load-truncated yes`) does with one file's bytes `data`.
pub fn server_load(data: &[u8]) -> Load {
    server_load_after(data, None)
}

/// [`server_load`], given where the RDB part ends when a deep validation of it passed
/// (`rdb_len`: the [`RdbPrefix::len`] of [`rdb_prefix::check`]`(data, true)`): the server's
/// shallower reading of it then passes to the same end, and is not made again.
pub fn server_load_after(data: &[u8], rdb_len: Option<usize>) -> Load {
    if data.is_empty() {
        return Load::Empty;
    }
    let mut pos = 0usize;
    if let Some(len) = rdb_len.filter(|_| rdbkit_rdb::is_rdb_magic(data)) {
        pos = len;
    } else if rdbkit_rdb::is_rdb_magic(data) {
        match rdb_prefix::check(data, false) {
            Ok(p) => pos = p.len,
            Err(e) => {
                return Load::Failed {
                    offset: e.offset.unwrap_or(0),
                    reason: format!("RDB part not loadable: {e}"),
                }
            }
        }
    }
    server_resp(&mut Whole(data), pos)
}

/// The server's load of the RESP part so far.
struct ServerState {
    /// Redis starts `valid_up_to` at 0, not after the RDB part: a torn first command after a
    /// preamble makes the server truncate the whole file.
    valid_up_to: u64,
    valid_before_multi: u64,
    in_multi: bool,
    commands: u64,
}

/// How the server's reading of one record ended.
enum Rec {
    /// The end of the data, at a record boundary.
    Eof,
    /// Read on at this position.
    Next(usize),
    /// The load ends here.
    Done(Load),
    /// A stream's window ends inside the record.
    More,
}

/// The server's reading of the RESP part of `w` from `pos` (the loop of
/// `loadSingleAppendOnlyFile`).
pub(crate) fn server_resp<W: Window>(w: &mut W, mut pos: usize) -> Load {
    let mut s = ServerState {
        valid_up_to: 0,
        valid_before_multi: 0,
        in_multi: false,
        commands: 0,
    };
    // AOFs repeat commands: the last known name settles most lookups. (Copied: a stream's
    // window moves. Only a name looked up is copied. Kept apart from `s`, whose fields then
    // stay in registers.)
    let mut last_known = Vec::new();
    loop {
        match server_record(w.data(), pos, w.base(), w.fin(), &mut s, &mut last_known) {
            Rec::Next(end) => pos = end,
            Rec::Eof => break,
            Rec::Done(load) => return load,
            Rec::More => pos -= w.more(pos, u64::MAX),
        }
    }
    if s.in_multi {
        return Load::Truncated {
            valid_up_to: s.valid_before_multi,
            commands: s.commands,
            reason: "EOF inside MULTI: incomplete transaction reverted".into(),
        };
    }
    Load::Loaded {
        commands: s.commands,
    }
}

/// One record at `pos` of `data` (file offset `base` at `data[0]`; `fin`: nothing follows).
#[inline(always)]
fn server_record(
    data: &[u8],
    mut pos: usize,
    base: u64,
    fin: bool,
    s: &mut ServerState,
    last_known: &mut Vec<u8>,
) -> Rec {
    const BUF: usize = 1024;
    let truncated = |s: &ServerState, why: &str| {
        Rec::Done(Load::Truncated {
            valid_up_to: s.valid_up_to,
            commands: s.commands,
            reason: why.to_string(),
        })
    };
    let start = pos;
    // The plain `*<n>\r\n` line of every writer, else the server's fgets + atoi (which read
    // the plain line alike: a window ending inside it takes the general path, to the same end).
    // (`atoi` gives an int: a count beyond it takes the general path.)
    let plain = plain_header(data, pos, b'*').filter(|&(n, _)| n <= i64::from(i32::MAX));
    let argc = if let Some((n, end)) = plain {
        pos = end;
        n
    } else {
        match server_argc(data, &mut pos, BUF, base, fin) {
            Err(More) => return Rec::More,
            Ok(None) => return Rec::Eof,
            Ok(Some(Ok(n))) => n,
            Ok(Some(Err(Cont::Skip))) => return Rec::Next(pos),
            Ok(Some(Err(Cont::Stop(l)))) => return Rec::Done(l(s.valid_up_to, s.commands)),
        }
    };
    if argc < 1 {
        return Rec::Done(Load::Failed {
            offset: base + start as u64,
            reason: format!("Bad file format: argument count {argc}"),
        });
    }
    let mut first_arg = (0usize, 0usize);
    for j in 0..argc {
        let (len, lend) = match plain_header(data, pos, b'$') {
            Some(h) => h,
            None => {
                let lend = match fgets_end(data, pos, BUF, fin) {
                    Err(More) => return Rec::More,
                    Ok(None) => return truncated(s, "short read before a '$' line"),
                    Ok(Some(lend)) => lend,
                };
                let l = data.get(pos..lend).unwrap_or(&[]);
                if l.first() != Some(&b'$') {
                    return Rec::Done(Load::Failed {
                        offset: base + pos as u64,
                        reason: "Bad file format: expected '$'".into(),
                    });
                }
                (cnum::strtol(l.get(1..).unwrap_or(&[])).value, lend)
            }
        };
        if len < 0 {
            return Rec::Done(Load::Failed {
                offset: base + pos as u64,
                reason: format!("bulk length {len}: the server would abort allocating it"),
            });
        }
        pos = lend;
        let avail = data.len().saturating_sub(pos) as u64;
        if len as u64 > avail {
            if !fin {
                return Rec::More;
            }
            return truncated(s, "short read in a bulk payload");
        }
        let len = len as usize;
        if j == 0 {
            first_arg = (pos, pos + len);
        }
        pos += len;
        // The two bytes after a payload are skipped unchecked.
        if data.len().saturating_sub(pos) < 2 {
            if !fin {
                return Rec::More;
            }
            return truncated(s, "short read after a bulk payload");
        }
        pos += 2;
    }
    let name = c_str(data.get(first_arg.0..first_arg.1).unwrap_or(&[]));
    let known = (!last_known.is_empty() && name.eq_ignore_ascii_case(last_known))
        || ((commands::known_to_redis_74(name) || commands::looks_like_module_command(name)) && {
            last_known.clear();
            last_known.extend_from_slice(name);
            true
        });
    if !known {
        return Rec::Done(Load::Failed {
            offset: base + start as u64,
            reason: format!(
                "Unknown command '{}' reading the append only file",
                String::from_utf8_lossy(name)
            ),
        });
    }
    if name.eq_ignore_ascii_case(b"multi") {
        s.valid_before_multi = s.valid_up_to;
        s.in_multi = true;
    } else if name.eq_ignore_ascii_case(b"exec") && s.in_multi {
        s.in_multi = false;
    }
    s.commands += 1;
    s.valid_up_to = base + pos as u64;
    Rec::Next(pos)
}

/// What the server does on start with a whole data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerVerdict {
    /// Starts with the data (nothing changed on disk).
    Loads,
    /// Starts with an empty data set (no files, or all empty).
    StartsEmpty {
        /// Why.
        reason: String,
    },
    /// Starts after truncating `file` to `offset`: whatever followed is lost.
    TruncatesAndLoads {
        /// The file cut.
        file: String,
        /// Where it is cut.
        offset: u64,
        /// Why.
        reason: String,
    },
    /// Refuses to start.
    Refuses {
        /// The file refused, when one is to blame.
        file: Option<String>,
        /// Where, when known.
        offset: Option<u64>,
        /// The server's reason.
        reason: String,
    },
}

/// True when `data` (checked as an AOF) is really a manifest whose first line is damaged:
/// Redis's `--fix` would truncate it to nothing; we refuse instead.
/// Judged from the check `c` of `data`: the file holds no command and fails with a format error
/// (a manifest line is not RESP), and it is named `*.manifest` or holds a manifest entry line.
pub fn is_damaged_manifest(name: &str, data: &[u8], c: &SingleCheck) -> bool {
    c.commands == 0
        && matches!(
            c.error,
            Some(RespError {
                kind: RespErrorKind::FormatError { .. },
                ..
            })
        )
        && (name.ends_with(".manifest") || manifest::has_manifest_entry_line(data))
}

/// Why a cut at offset 0 of `data` must not happen, if it must not: the file is not an AOF
/// (compressed, an RDB, text). A cut elsewhere keeps the file's head, which checked as an AOF.
pub fn refuse_cut(data: &[u8], truncate_to: u64) -> Option<String> {
    if truncate_to != 0 || data.is_empty() {
        return None;
    }
    let what = if data.starts_with(&[0x1f, 0x8b]) {
        "gzip-compressed data: decompress it first (e.g. `gzip -dk FILE`), then check or fix the \
         decompressed AOF"
            .to_string()
    } else if data.starts_with(b"BZh") {
        "bzip2-compressed data: decompress it first (`bzip2 -dk FILE`)".into()
    } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        "zstd-compressed data: decompress it first (`zstd -d FILE`)".into()
    } else if data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        "xz-compressed data: decompress it first (`xz -dk FILE`)".into()
    } else if crate::resp::has_rdb_magic(data) {
        "an RDB file, not an AOF (an RDB preamble is only valid at the head of a base or \
         single-file AOF)"
            .into()
    } else if data[0] != b'*' && data[0] != b'#' {
        format!(
            "not an AOF: it starts with byte 0x{:02x}, where an AOF starts with '*' or '#'",
            data[0]
        )
    } else {
        return None;
    };
    Some(format!(
        "not cutting at offset 0, which would empty the file: its content is {what}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chk(data: &[u8]) -> SingleCheck {
        let mut line = 1;
        check_single(data, false, true, CheckOptions::default(), &mut line)
    }

    const SET: &[u8] = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
    const MULTI: &[u8] = b"*1\r\n$5\r\nMULTI\r\n";
    const EXEC: &[u8] = b"*1\r\n$4\r\nexec\r\n";

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn valid_and_counts() {
        let d = cat(&[SET, MULTI, SET, EXEC, b"#TS:1\r\n", b"*0\r\n"]);
        let c = chk(&d);
        assert!(c.is_valid());
        assert_eq!(c.commands, 5);
        assert_eq!(c.ok_up_to_line, 1 + 7 + 3 + 7 + 3 + 1);
    }

    #[test]
    fn multi_rollback_and_errors() {
        let d = cat(&[SET, MULTI, SET]);
        let c = chk(&d);
        assert_eq!(c.ok_up_to, SET.len() as u64);
        assert_eq!(c.error.unwrap().kind, RespErrorKind::EofInMulti);
        let d = cat(&[SET, EXEC, SET]);
        let c = chk(&d);
        assert_eq!(c.ok_up_to, SET.len() as u64);
        assert_eq!(
            c.error.as_ref().unwrap().kind,
            RespErrorKind::UnexpectedExec
        );
        assert_eq!(c.error.unwrap().offset, SET.len() as u64 + 8);
        let d = cat(&[MULTI, SET, MULTI, EXEC]);
        let c = chk(&d);
        assert_eq!(c.ok_up_to, 0);
        assert_eq!(c.error.unwrap().kind, RespErrorKind::UnexpectedMulti);
        // EOF right after `*N\r\n`: no message, still invalid.
        let d = cat(&[SET, b"*3\r\n"]);
        let c = chk(&d);
        assert_eq!((c.ok_up_to, c.diff()), (SET.len() as u64, 4));
        assert_eq!(c.error.unwrap().kind, RespErrorKind::EofAtLine);
        // Same inside MULTI: EOF-in-MULTI, at the failed line's offset.
        let d = cat(&[MULTI, b"*3\r\n"]);
        let c = chk(&d);
        assert_eq!(
            c.error.unwrap(),
            RespError {
                offset: d.len() as u64,
                kind: RespErrorKind::EofInMulti
            }
        );
        let c = chk(b"*1\r\n$4\r\nPING\r\nxx");
        assert_eq!(c.ok_up_to, 14);
        assert_eq!(
            c.error.unwrap().kind,
            RespErrorKind::FormatError { byte: b'x' }
        );
    }

    #[test]
    fn timestamps() {
        let d = cat(&[b"#TS:10\r\n", SET, b"#TS:20\r\n", SET, b"#TS:30\r\n", SET]);
        let mut line = 1;
        let o = |t| CheckOptions { to_timestamp: t };
        let c = check_single(&d, false, true, o(20), &mut line);
        assert_eq!(
            c.stop,
            Stop::TimestampCut {
                offset: (8 + SET.len() + 8 + SET.len()) as u64,
                open_multi: None
            }
        );
        // A cut inside a transaction: Redis cuts at the annotation anyway.
        let in_txn = cat(&[SET, MULTI, SET, b"#TS:30\r\n", SET, EXEC]);
        let c = check_single(&in_txn, false, true, o(20), &mut line);
        assert_eq!(
            c.stop,
            Stop::TimestampCut {
                offset: (SET.len() * 2 + MULTI.len()) as u64,
                open_multi: Some(SET.len() as u64)
            }
        );
        let c = check_single(&d, false, false, o(20), &mut line);
        assert!(matches!(c.stop, Stop::TimestampNotLast { .. }));
        let c = check_single(&d, false, true, o(5), &mut line);
        assert_eq!(c.stop, Stop::NothingBeforeTimestamp { offset: 0 });
        let c = check_single(&d, false, true, o(30), &mut line);
        assert!(c.is_valid());
        let c = check_single(b"#TS:x\r\n", false, true, o(30), &mut line);
        assert_eq!(c.stop, Stop::InvalidTimestampAnnotation { offset: 0 });
        // Plain check ignores the bad annotation.
        assert!(chk(b"#TS:x\r\n").is_valid());
    }

    #[test]
    fn server_is_lenient() {
        // `$3\r\nGETXY`: the server swallows XY as the CRLF.
        let d = b"*1\r\n$3\r\nGETXY";
        assert!(!chk(d).is_valid());
        assert_eq!(server_load(d), Load::Loaded { commands: 1 });
        let d = b"*2junk\r\n$3\r\nGET\r\n$1\r\nb\r\n";
        assert!(!chk(d).is_valid());
        assert_eq!(server_load(d), Load::Loaded { commands: 1 });
        let d = cat(&[SET, b"*3\r\n$3\r\nSE"]);
        assert_eq!(
            server_load(&d),
            Load::Truncated {
                valid_up_to: SET.len() as u64,
                commands: 1,
                reason: "short read in a bulk payload".into()
            }
        );
        let d = cat(&[SET, MULTI, SET]);
        assert!(
            matches!(server_load(&d), Load::Truncated { valid_up_to, .. } if valid_up_to == SET.len() as u64)
        );
        assert!(matches!(server_load(b"*0\r\n"), Load::Failed { .. }));
        assert!(matches!(server_load(b"x"), Load::Failed { .. }));
        // The strict tool never looks commands up; the server refuses unknown ones.
        let d = b"*1\r\n$4\r\nSETT\r\n";
        assert!(chk(d).is_valid());
        assert!(matches!(server_load(d), Load::Failed { offset: 0, .. }));
        assert_eq!(
            server_load(b"*1\r\n$8\r\nJSON.SET\r\n"),
            Load::Loaded { commands: 1 }
        );
    }
}
