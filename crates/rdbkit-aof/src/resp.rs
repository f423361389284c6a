//! Zero-copy RESP command reader with `redis-check-aof`'s exact grammar.
//!
//! The grammar (7.4's `checkSingleAof` loop), which every verdict in this crate depends on:
//! - a record starts with `*` (a command), `#` (an annotation line, up to 1023 bytes, never
//!   counted as a line) or anything else (a format error);
//! - `*N` and `$len` lines are read like `fgets` into a 128-byte buffer and parsed like `strtol`
//!   (leading blanks and a sign accepted); the parse must stop exactly at `\r\n`;
//! - `N <= 0` is a command without arguments; a `$len` outside `0..=LONG_MAX-2` is an error;
//! - each payload is followed by exactly `\r\n`;
//! - `ok_up_to_line` counts every `\r\n` consumed successfully.
//!
//! Lengths are never trusted beyond the bytes that remain: a huge `$len` is a short read, not an
//! allocation.

use std::io::{self, Read};

use crate::cnum;

/// `fgets` buffer of the `*N`/`$len` lines (redis-check-aof `readLong`).
const HEADER_LINE_BUF: usize = 128;
/// `fgets` buffer of an annotation line (`AOF_ANNOTATION_LINE_MAX_LEN`).
pub const ANNOTATION_LINE_BUF: usize = 1024;

/// What went wrong at a byte offset, worded like redis-check-aof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespErrorKind {
    /// EOF exactly where a `*N`/`$len` line should start. Redis prints no message for this.
    EofAtLine,
    /// The number is not followed by exactly `\r\n` (or a payload not followed by it). The two
    /// bytes Redis shows; 0 past the end of the line (Redis shows stale memory there).
    ExpectedCrlf {
        /// The two bytes found.
        got: [u8; 2],
    },
    /// A `$len` line that doesn't start with `$`.
    ExpectedPrefix {
        /// The prefix wanted.
        expected: u8,
        /// The byte found.
        got: u8,
    },
    /// A negative or absurd bulk length.
    BulkLenOutOfRange(i64),
    /// Fewer bytes left than `$len` + 2.
    ShortRead {
        /// The `$len` length + 2.
        expected: i64,
        /// Bytes left.
        got: u64,
    },
    /// A record starting with something other than `*` or `#`.
    FormatError {
        /// The first byte of the record.
        byte: u8,
    },
    /// MULTI inside an open MULTI.
    UnexpectedMulti,
    /// EXEC without MULTI.
    UnexpectedExec,
    /// The file ended inside a MULTI block.
    EofInMulti,
}

/// A RESP framing error: where the last low-level read began (Redis's `epos`) and what failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RespError {
    /// Where the last low-level read began (Redis's `epos`).
    pub offset: u64,
    /// What failed.
    pub kind: RespErrorKind,
}

fn c_char_hex(b: u8) -> String {
    // `%02x` of a (signed) char promoted to int.
    if b >= 0x80 {
        format!("ffffff{b:02x}")
    } else {
        format!("{b:02x}")
    }
}

impl RespErrorKind {
    /// The message redis-check-aof prints (without its `0x...: ` prefix). `path` is used by the
    /// MULTI/EXEC messages. `None` when Redis prints nothing.
    pub fn redis_message(&self, path: &str) -> Option<String> {
        Some(match self {
            RespErrorKind::EofAtLine => return None,
            RespErrorKind::ExpectedCrlf { got } => {
                format!(
                    "Expected \\r\\n, got: {}{}",
                    c_char_hex(got[0]),
                    c_char_hex(got[1])
                )
            }
            RespErrorKind::ExpectedPrefix { expected, got } => {
                format!(
                    "Expected prefix '{}', got: '{}'",
                    *expected as char, *got as char
                )
            }
            RespErrorKind::BulkLenOutOfRange(n) => {
                format!("Expected to read string of {n} bytes, which is not in the suitable range")
            }
            RespErrorKind::ShortRead { expected, got } => {
                format!("Expected to read {expected} bytes, got {got} bytes")
            }
            RespErrorKind::FormatError { byte } => {
                format!("format error (record starts with byte 0x{byte:02x}, expected '*' or '#')")
            }
            RespErrorKind::UnexpectedMulti => format!("Unexpected MULTI in AOF {path}"),
            RespErrorKind::UnexpectedExec => format!("Unexpected EXEC in AOF {path}"),
            RespErrorKind::EofInMulti => "Reached EOF before reading EXEC for MULTI".to_string(),
        })
    }
}

impl std::fmt::Display for RespError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let msg = match &self.kind {
            RespErrorKind::EofAtLine => {
                "unexpected end of file where a '*'/'$' line should start".into()
            }
            RespErrorKind::UnexpectedMulti => "MULTI inside an open MULTI".into(),
            RespErrorKind::UnexpectedExec => "EXEC without MULTI".into(),
            k => k.redis_message("").unwrap_or_default(),
        };
        write!(f, "at byte offset {}: {}", self.offset, msg)
    }
}

impl std::error::Error for RespError {}

/// One command: its arguments (borrowed from the file's bytes, lifetime `'b`; the reader's
/// argument table is borrowed for `'r`) and where it lies. From a [`SliceReader`] the arguments
/// outlive the next call.
#[derive(Debug, Clone, Copy)]
pub struct Command<'r, 'b> {
    buf: &'b [u8],
    ranges: &'r [(usize, usize)],
    /// File offset of the `*`.
    pub start: u64,
    /// File offset just past the last `\r\n`.
    pub end: u64,
}

impl<'r, 'b: 'r> Command<'r, 'b> {
    /// Number of arguments (the command name included).
    pub fn argc(&self) -> usize {
        self.ranges.len()
    }
    /// Argument `i` (0 is the command name).
    pub fn arg(&self, i: usize) -> Option<&'b [u8]> {
        let &(s, e) = self.ranges.get(i)?;
        self.buf.get(s..e)
    }
    /// Every argument, in order.
    pub fn args(&self) -> impl Iterator<Item = &'b [u8]> + 'r {
        let buf = self.buf;
        self.ranges
            .iter()
            .map(move |&(s, e)| buf.get(s..e).unwrap_or(&[]))
    }
    /// The first argument, the command name.
    pub fn name(&self) -> Option<&'b [u8]> {
        self.arg(0)
    }
}

/// A `#` line. `text` is the line as `fgets` read it (at most 1023 bytes, with its newline).
#[derive(Debug, Clone, Copy)]
pub struct Annotation<'b> {
    /// File offset of the `#`.
    pub offset: u64,
    /// File offset just past the line.
    pub end: u64,
    /// The line's bytes.
    pub text: &'b [u8],
    /// `#TS:<n>` parsed the way the server and the tool do; `None` when not a valid `#TS:`.
    pub timestamp: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
/// One record of an AOF's RESP part.
pub enum Item<'r, 'b> {
    /// A command (`*N` then `N` bulk strings).
    Command(Command<'r, 'b>),
    /// A `#` annotation line.
    Annotation(Annotation<'b>),
}

/// Parse state shared by every reader: the running line counter and the last `epos`.
#[derive(Debug, Clone, Copy)]
pub struct LineState {
    /// redis-check-aof's `line`: starts at 1, +1 per `\r\n` consumed successfully.
    pub line: u64,
    /// Where the last low-level read began (Redis's `epos`).
    pub last_epos: u64,
}

impl Default for LineState {
    fn default() -> Self {
        LineState {
            line: 1,
            last_epos: 0,
        }
    }
}

pub(crate) enum Parsed {
    Eof,
    Incomplete,
    Command { end: usize },
    Annotation { end: usize },
    Error(RespError),
}

enum Stop {
    Incomplete,
    Err(RespError),
}

enum Line {
    Eof,
    Incomplete,
    Chunk(usize),
}

/// `memchr(b'\n', window)` tuned for the short header lines (`*3`, `$5`) that make up most
/// of an AOF: a plain scan of the first 16 bytes, where memchr's setup costs more than it saves.
#[inline]
pub(crate) fn find_newline(window: &[u8]) -> Option<usize> {
    let head = window.get(..16).unwrap_or(window);
    match head.iter().position(|&b| b == b'\n') {
        Some(i) => Some(i),
        None => {
            memchr::memchr(b'\n', window.get(head.len()..).unwrap_or(&[])).map(|i| i + head.len())
        }
    }
}

/// A `<prefix><1 to 18 digits>\r\n` line at `pos` (the only form writers emit): its number
/// and the position after it. `None` for anything else (the callers' general paths read it).
#[inline(always)]
pub(crate) fn plain_header(data: &[u8], pos: usize, prefix: u8) -> Option<(i64, usize)> {
    let rest = data.get(pos..pos + 21)?;
    if rest[0] != prefix {
        return None;
    }
    let mut v: i64 = 0;
    let mut i = 1;
    while i < 19 && rest[i].is_ascii_digit() {
        v = v * 10 + i64::from(rest[i] - b'0');
        i += 1;
    }
    (i > 1 && rest[i] == b'\r' && rest[i + 1] == b'\n').then_some((v, pos + i + 2))
}

/// `fgets(buf, cap, fp)` at `pos`: the end of what it would read.
fn fgets(data: &[u8], pos: usize, cap: usize, fin: bool) -> Line {
    let rest = data.get(pos..).unwrap_or(&[]);
    if rest.is_empty() {
        return if fin { Line::Eof } else { Line::Incomplete };
    }
    let limit = cap - 1;
    let window = rest.get(..rest.len().min(limit)).unwrap_or(rest);
    if let Some(i) = find_newline(window) {
        return Line::Chunk(pos + i + 1);
    }
    if rest.len() >= limit {
        Line::Chunk(pos + limit)
    } else if fin {
        Line::Chunk(data.len())
    } else {
        Line::Incomplete
    }
}

/// The parsing core, over `data` (file offset `base` at `data[0]`). `fin`: no bytes follow
/// `data`; otherwise running into its end gives `Incomplete` (the caller reads more and retries).
/// `on_first` sees each command's first argument right after it is read (MULTI/EXEC tracking);
/// an error it returns is reported at that argument's payload offset.
pub(crate) struct Core<'s> {
    pub st: &'s mut LineState,
    pub base: u64,
    pub fin: bool,
}

impl Core<'_> {
    fn consume_newline(&mut self, buf: &[u8], idx: usize, epos: u64) -> Result<(), Stop> {
        let a = buf.get(idx).copied();
        let b = buf.get(idx + 1).copied();
        if a == Some(b'\r') && b == Some(b'\n') {
            self.st.line += 1;
            Ok(())
        } else {
            Err(Stop::Err(RespError {
                offset: epos,
                kind: RespErrorKind::ExpectedCrlf {
                    got: [a.unwrap_or(0), b.unwrap_or(0)],
                },
            }))
        }
    }

    /// `readLong`: a `<prefix><number>\r\n` line at `pos`; returns the number and the next pos.
    #[inline]
    fn read_long(&mut self, data: &[u8], pos: usize, prefix: u8) -> Result<(i64, usize), Stop> {
        let epos = self.base + pos as u64;
        self.st.last_epos = epos;
        // Fast path: what every writer emits. It reads exactly what the general path below
        // reads (which also takes signs, spaces, NULs, overflow and short lines the way
        // redis-check-aof's fgets + strtol do).
        if let Some((v, end)) = plain_header(data, pos, prefix) {
            self.st.line += 1;
            return Ok((v, end));
        }
        let end = match fgets(data, pos, HEADER_LINE_BUF, self.fin) {
            Line::Eof => {
                return Err(Stop::Err(RespError {
                    offset: epos,
                    kind: RespErrorKind::EofAtLine,
                }))
            }
            Line::Incomplete => return Err(Stop::Incomplete),
            Line::Chunk(end) => end,
        };
        let chunk = data.get(pos..end).unwrap_or(&[]);
        let first = chunk.first().copied().unwrap_or(0);
        if first != prefix {
            return Err(Stop::Err(RespError {
                offset: epos,
                kind: RespErrorKind::ExpectedPrefix {
                    expected: prefix,
                    got: first,
                },
            }));
        }
        let r = cnum::strtol(chunk.get(1..).unwrap_or(&[]));
        self.consume_newline(chunk, 1 + r.end, epos)?;
        Ok((r.value, end))
    }

    /// `readString`: a `$len` line, then `len` bytes and `\r\n`. Returns the payload range.
    #[inline(always)]
    fn read_string(&mut self, data: &[u8], pos: usize) -> Result<(usize, usize), Stop> {
        let (len, p) = self.read_long(data, pos, b'$')?;
        if !(0..=i64::MAX - 2).contains(&len) {
            return Err(Stop::Err(RespError {
                offset: self.st.last_epos,
                kind: RespErrorKind::BulkLenOutOfRange(len),
            }));
        }
        let epos = self.base + p as u64;
        self.st.last_epos = epos;
        let avail = data.len().saturating_sub(p) as u64;
        let need = len as u64 + 2;
        if need > avail {
            if !self.fin {
                return Err(Stop::Incomplete);
            }
            return Err(Stop::Err(RespError {
                offset: epos,
                kind: RespErrorKind::ShortRead {
                    expected: len + 2,
                    got: avail,
                },
            }));
        }
        // need <= avail, so these fit in usize.
        let len = len as usize;
        let crlf = data.get(p + len..p + len + 2).unwrap_or(&[]);
        self.consume_newline(crlf, 0, epos)?;
        Ok((p, p + len))
    }

    #[inline(always)]
    pub(crate) fn parse_item<F>(
        &mut self,
        data: &[u8],
        pos: usize,
        args: &mut Vec<(usize, usize)>,
        mut on_first: F,
    ) -> Parsed
    where
        F: FnMut(&[u8]) -> Option<RespErrorKind>,
    {
        let Some(&b) = data.get(pos) else {
            return if self.fin {
                Parsed::Eof
            } else {
                Parsed::Incomplete
            };
        };
        match b {
            b'#' => {
                self.st.last_epos = self.base + pos as u64;
                match fgets(data, pos, ANNOTATION_LINE_BUF, self.fin) {
                    Line::Chunk(end) => Parsed::Annotation { end },
                    Line::Incomplete => Parsed::Incomplete,
                    Line::Eof => Parsed::Eof,
                }
            }
            b'*' => {
                args.clear();
                let (argc, mut p) = match self.read_long(data, pos, b'*') {
                    Ok(v) => v,
                    Err(Stop::Incomplete) => return Parsed::Incomplete,
                    Err(Stop::Err(e)) => return Parsed::Error(e),
                };
                let mut i: i64 = 0;
                while i < argc {
                    match self.read_string(data, p) {
                        Ok((s, e)) => {
                            args.push((s, e));
                            p = e + 2;
                            if i == 0 {
                                let arg = data.get(s..e).unwrap_or(&[]);
                                if let Some(kind) = on_first(arg) {
                                    return Parsed::Error(RespError {
                                        offset: self.st.last_epos,
                                        kind,
                                    });
                                }
                            }
                        }
                        Err(Stop::Incomplete) => return Parsed::Incomplete,
                        Err(Stop::Err(e)) => return Parsed::Error(e),
                    }
                    i += 1;
                }
                Parsed::Command { end: p }
            }
            other => Parsed::Error(RespError {
                offset: self.base + pos as u64,
                kind: RespErrorKind::FormatError { byte: other },
            }),
        }
    }
}

/// `#TS:<n>` → n, with the tool's rule: `strtol` must not overflow and must stop at `\r`.
pub fn annotation_timestamp(text: &[u8]) -> Option<i64> {
    let rest = text.strip_prefix(b"#TS:")?;
    let r = cnum::strtol(rest);
    let stop = cnum::c_str(rest).get(r.end).copied();
    (!r.overflow && stop == Some(b'\r')).then_some(r.value)
}

/// Where the RESP part of a file begins, after an RDB preamble if any.
pub fn has_rdb_magic(data: &[u8]) -> bool {
    rdbkit_rdb::is_rdb_magic(data)
}

/// Commands and annotations of one file held in memory (a memory map or a buffer).
pub struct SliceReader<'a> {
    data: &'a [u8],
    pos: usize,
    args: Vec<(usize, usize)>,
    st: LineState,
    failed: bool,
}

impl<'a> SliceReader<'a> {
    /// Reads RESP from `start` (0, or just past an RDB preamble's CRC trailer).
    pub fn new(data: &'a [u8], start: usize) -> Self {
        SliceReader {
            data,
            pos: start,
            args: Vec::with_capacity(8),
            st: LineState::default(),
            failed: false,
        }
    }

    /// Offset of the next record (after the last one returned).
    pub fn position(&self) -> u64 {
        self.pos as u64
    }

    /// Where the reader is within a MULTI block (what a check reports at EOF).
    pub fn line_state(&self) -> LineState {
        self.st
    }

    /// The next command or annotation; `Ok(None)` at a clean end of file. After an error the
    /// reader stays at the failed record and returns `Ok(None)`.
    pub fn next_item(&mut self) -> Result<Option<Item<'_, 'a>>, RespError> {
        if self.failed {
            return Ok(None);
        }
        let mut core = Core {
            st: &mut self.st,
            base: 0,
            fin: true,
        };
        let start = self.pos;
        match core.parse_item(self.data, start, &mut self.args, |_| None) {
            Parsed::Eof | Parsed::Incomplete => Ok(None),
            Parsed::Error(e) => {
                self.failed = true;
                Err(e)
            }
            Parsed::Annotation { end } => {
                self.pos = end;
                let text = self.data.get(start..end).unwrap_or(&[]);
                Ok(Some(Item::Annotation(Annotation {
                    offset: start as u64,
                    end: end as u64,
                    text,
                    timestamp: annotation_timestamp(text),
                })))
            }
            Parsed::Command { end } => {
                self.pos = end;
                Ok(Some(Item::Command(Command {
                    buf: self.data,
                    ranges: &self.args,
                    start: start as u64,
                    end: end as u64,
                })))
            }
        }
    }
}

/// An error from the streaming reader.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("read error: {0}")]
    /// Reading failed.
    Io(#[from] io::Error),
    #[error("{0}")]
    /// The RESP framing is damaged.
    Resp(RespError),
    #[error("RDB preamble: {0}")]
    /// The RDB preamble is damaged (the message).
    Rdb(String),
}

/// The same reader over any `io::Read`: buffers only the record being parsed (a command is
/// never larger in memory than the bytes it really occupies in the stream).
pub struct StreamReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Bytes of `buf` already returned.
    consumed: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
    started: bool,
    args: Vec<(usize, usize)>,
    st: LineState,
    failed: bool,
}

const STREAM_CHUNK: usize = 64 * 1024;

/// A reader that keeps its first error (the RDB reader words it as damage; the stream's
/// reader reports it as a read error).
struct KeepError<R> {
    inner: R,
    err: Option<io::Error>,
}

impl<R: Read> Read for KeepError<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.err.get_or_insert(e);
                Err(copy)
            }
            r => r,
        }
    }
}

impl<R: Read> StreamReader<R> {
    /// A reader of `inner`, from its first byte.
    pub fn new(inner: R) -> Self {
        StreamReader {
            inner,
            buf: Vec::new(),
            consumed: 0,
            base: 0,
            eof: false,
            started: false,
            args: Vec::with_capacity(8),
            st: LineState::default(),
            failed: false,
        }
    }

    /// A reader of RESP only (no RDB preamble looked for) from `inner`, whose first byte is at
    /// offset `base` of the file (the RESP after an RDB part the caller read itself): the
    /// offsets it reports are the file's, as [`SliceReader::new`]`(data, base)` reports them.
    pub fn resp_at(inner: R, base: u64) -> Self {
        let mut r = StreamReader::new(inner);
        r.started = true;
        r.base = base;
        r
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.consumed > 0 {
            self.buf.drain(..self.consumed);
            self.base += self.consumed as u64;
            self.consumed = 0;
        }
        let old = self.buf.len();
        // Grow geometrically and fill the whole new region before returning: a caller re-parses
        // the pending command after each fill, so filling only what one small `read` returned
        // (a pipe or zcat gives 4 KiB at a time) would make a big command quadratic.
        let grow = STREAM_CHUNK.max(old);
        self.buf.resize(old + grow, 0);
        let mut filled = old;
        while filled < self.buf.len() {
            match self
                .inner
                .read(self.buf.get_mut(filled..).unwrap_or(&mut []))
            {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(filled);
                    return Err(e);
                }
            }
        }
        self.buf.truncate(filled);
        Ok(())
    }

    /// Skips an RDB preamble (validated as the server reads it, not deeply) at the start of
    /// the stream: read once by `rdb_prefix::check_stream`, holding a record at a time, which
    /// says where the RESP tail starts.
    fn start(&mut self) -> Result<(), StreamError> {
        self.started = true;
        while self.buf.len() < 6 && !self.eof {
            self.fill()?;
        }
        if has_rdb_magic(&self.buf) {
            let held = std::mem::take(&mut self.buf);
            let mut src = KeepError {
                inner: io::Cursor::new(held).chain(&mut self.inner),
                err: None,
            };
            let (summary, unread) = crate::rdb_prefix::check_stream(&mut src, false);
            // A read error is the stream's, as anywhere else in it.
            if let Some(e) = src.err {
                return Err(StreamError::Io(e));
            }
            let summary = summary.map_err(|e| StreamError::Rdb(e.to_string()))?;
            self.buf = unread;
            self.base = summary.len as u64;
            self.consumed = 0;
            // The preamble's reader saw the end of the stream or not: `fill` finds out.
            self.eof = false;
        }
        Ok(())
    }

    /// The next record, or `None` at the end (the lending form: it borrows the reader).
    pub fn next_item(&mut self) -> Result<Option<Item<'_, '_>>, StreamError> {
        if !self.started {
            self.start()?;
        }
        if self.failed {
            return Ok(None);
        }
        loop {
            let saved = self.st;
            let mut core = Core {
                st: &mut self.st,
                base: self.base,
                fin: self.eof,
            };
            match core.parse_item(&self.buf, self.consumed, &mut self.args, |_| None) {
                Parsed::Incomplete => {
                    self.st = saved;
                    self.fill()?;
                }
                Parsed::Eof => return Ok(None),
                Parsed::Error(e) => {
                    self.failed = true;
                    return Err(StreamError::Resp(e));
                }
                Parsed::Annotation { end } => {
                    let start = self.consumed;
                    self.consumed = end;
                    let text = self.buf.get(start..end).unwrap_or(&[]);
                    return Ok(Some(Item::Annotation(Annotation {
                        offset: self.base + start as u64,
                        end: self.base + end as u64,
                        text,
                        timestamp: annotation_timestamp(text),
                    })));
                }
                Parsed::Command { end } => {
                    let start = self.consumed;
                    self.consumed = end;
                    return Ok(Some(Item::Command(Command {
                        buf: &self.buf,
                        ranges: &self.args,
                        start: self.base + start as u64,
                        end: self.base + end as u64,
                    })));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(data: &[u8]) -> (Vec<Vec<Vec<u8>>>, Option<RespError>, u64) {
        let mut r = SliceReader::new(data, 0);
        let mut out = Vec::new();
        loop {
            match r.next_item() {
                Ok(Some(Item::Command(c))) => out.push(c.args().map(|a| a.to_vec()).collect()),
                Ok(Some(Item::Annotation(_))) => {}
                Ok(None) => return (out, None, r.line_state().line),
                Err(e) => return (out, Some(e), r.line_state().line),
            }
        }
    }

    #[test]
    fn reads_commands_and_counts_lines() {
        let (cmds, err, line) = collect(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n#TS:5\r\n*0\r\n");
        assert_eq!(cmds, vec![vec![b"GET".to_vec(), b"k".to_vec()], vec![]]);
        assert!(err.is_none());
        assert_eq!(line, 1 + 5 + 1);
    }

    #[test]
    fn lax_numbers() {
        let (cmds, err, _) = collect(b"* 1\r\n$04\r\nPING\r\n*+1\r\n$+1\r\nx\r\n*-5\r\n*\r\n");
        assert!(err.is_none(), "{err:?}");
        assert_eq!(cmds.len(), 4);
    }

    #[test]
    fn malformed_inputs() {
        let e = collect(b"*1\r\n$-1\r\n").1.unwrap();
        assert_eq!(e.kind, RespErrorKind::BulkLenOutOfRange(-1));
        assert_eq!(e.offset, 4);
        let e = collect(b"*1\r\n$999999999999\r\nabc\r\n").1.unwrap();
        assert_eq!(
            e.kind,
            RespErrorKind::ShortRead {
                expected: 1_000_000_000_001,
                got: 5
            }
        );
        assert_eq!(e.offset, 19);
        let e = collect(b"*1\r\n$3\r\nfooXY").1.unwrap();
        assert_eq!(e.kind, RespErrorKind::ExpectedCrlf { got: *b"XY" });
        let e = collect(b"*2junk\r\n").1.unwrap();
        assert_eq!(e.kind, RespErrorKind::ExpectedCrlf { got: *b"ju" });
        let e = collect(b"*1\r\n").1.unwrap();
        assert_eq!(e.kind, RespErrorKind::EofAtLine);
        assert_eq!(e.offset, 4);
        let e = collect(b"*1\r\n$3").1.unwrap();
        assert_eq!(e.kind, RespErrorKind::ExpectedCrlf { got: [0, 0] });
        let e = collect(b"*1\r\nx3\r\n").1.unwrap();
        assert_eq!(
            e.kind,
            RespErrorKind::ExpectedPrefix {
                expected: b'$',
                got: b'x'
            }
        );
        let e = collect(b"\n").1.unwrap();
        assert_eq!(e.kind, RespErrorKind::FormatError { byte: b'\n' });
        let e = collect(b"*1\r\n$3\r\nab\xff\r").1.unwrap();
        assert_eq!(
            e.kind,
            RespErrorKind::ShortRead {
                expected: 5,
                got: 4
            }
        );
        assert_eq!(
            RespErrorKind::ExpectedCrlf { got: [0xff, 0x0a] }
                .redis_message("")
                .unwrap(),
            "Expected \\r\\n, got: ffffffff0a"
        );
        // A line longer than the 128-byte buffer can't end in \r\n.
        let mut long = b"*1".to_vec();
        long.extend(std::iter::repeat_n(b'0', 200));
        long.extend(b"\r\n");
        assert!(matches!(
            collect(&long).1.unwrap().kind,
            RespErrorKind::ExpectedCrlf { .. }
        ));
    }

    #[test]
    fn annotations() {
        assert_eq!(annotation_timestamp(b"#TS:123\r\n"), Some(123));
        assert_eq!(annotation_timestamp(b"#TS:\r\n"), Some(0));
        assert_eq!(annotation_timestamp(b"#TS:12x\r\n"), None);
        assert_eq!(annotation_timestamp(b"#TS:12"), None);
        assert_eq!(annotation_timestamp(b"#XX:12\r\n"), None);
        // An annotation at EOF without newline is fine.
        let (cmds, err, line) = collect(b"#hello");
        assert!(cmds.is_empty() && err.is_none());
        assert_eq!(line, 1);
    }

    #[test]
    fn stream_reader_matches_slice_reader() {
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = out.len().min(self.0.len()).min(3);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let data = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n#TS:1\r\n*1\r\n$5\r\nMULTI\r\n*1\r\n$3\r\nab";
        let mut s = StreamReader::new(Trickle(data));
        let mut got = Vec::new();
        let err = loop {
            match s.next_item() {
                Ok(Some(Item::Command(c))) => got.push((
                    c.start,
                    c.end,
                    c.args().map(|a| a.to_vec()).collect::<Vec<_>>(),
                )),
                Ok(Some(Item::Annotation(a))) => assert_eq!(a.timestamp, Some(1)),
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, 0);
        assert_eq!(got[1].0, 38);
        assert_eq!(got[1].2, vec![b"MULTI".to_vec()]);
        match err {
            Some(StreamError::Resp(e)) => assert_eq!(
                e.kind,
                RespErrorKind::ShortRead {
                    expected: 5,
                    got: 2
                }
            ),
            other => panic!("{other:?}"),
        }
    }
}
