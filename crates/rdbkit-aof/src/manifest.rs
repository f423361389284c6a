//! The multi-part AOF manifest (`appendonly.aof.manifest`), parsed with the server's own rules
//! (Redis 7.4 `aofLoadManifestFromFile`): every error names the line and the reason, worded like
//! the server.

use nom::branch::alt;
use nom::bytes::complete::{tag, take, take_while, take_while_m_n};
use nom::combinator::{map, verify};
use nom::multi::many0;
use nom::sequence::preceded;
use nom::{IResult, Parser};

use crate::cnum::{self, c_str, is_c_space};

/// `MANIFEST_MAX_LINE`: `fgets` reads at most this many bytes per line.
pub const MANIFEST_MAX_LINE: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// The type of a manifest entry (`type b|h|i`).
pub enum FileType {
    /// `b`: the base file (RDB or AOF).
    Base,
    /// `h`: a history file, waiting for deletion (not loaded).
    History,
    /// `i`: an incremental AOF file.
    Incr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// One line of the manifest.
pub struct ManifestEntry {
    /// The file name as bytes (manifest names may hold any byte through `\xHH`).
    pub file: Vec<u8>,
    /// Its sequence number.
    pub seq: i64,
    /// Its type.
    pub file_type: FileType,
    /// 1-based line number in the manifest (comment lines count).
    pub line: usize,
}

impl ManifestEntry {
    /// The file name as text (invalid UTF-8 replaced).
    pub fn file_name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.file).into_owned()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
/// A parsed manifest.
pub struct Manifest {
    /// The base file, if any.
    pub base: Option<ManifestEntry>,
    /// History files (not loaded).
    pub history: Vec<ManifestEntry>,
    /// In manifest order (strictly increasing seq).
    pub incr: Vec<ManifestEntry>,
}

impl Manifest {
    /// Base then incr files: the load order. History entries are not part of the data set.
    pub fn load_order(&self) -> impl Iterator<Item = &ManifestEntry> {
        self.base.iter().chain(self.incr.iter())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// What is wrong with a manifest (each a message of the server's `aofLoadManifestFromFile`).
pub enum ManifestErrorKind {
    /// The manifest has no entry.
    Empty,
    /// A line longer than [`MANIFEST_MAX_LINE`].
    TooLongLine,
    /// A line that is not `key value` pairs.
    InvalidFormat,
    /// A file name holding a path separator.
    PathName,
    /// `.`, `..` or an empty name: not a file of the directory (the server's own error for it
    /// is an unhelpful `No such device` or `Is a directory` when it opens the directory).
    ReservedName,
    /// An unknown `type`.
    UnknownType,
    /// Two base files.
    DuplicateBase,
    /// Incremental files whose sequence numbers do not increase.
    NonMonotonic,
}

impl ManifestErrorKind {
    /// The server's wording.
    pub fn redis_message(self) -> &'static str {
        match self {
            ManifestErrorKind::Empty => "Found an empty AOF manifest",
            ManifestErrorKind::TooLongLine => "The AOF manifest file contains too long line",
            ManifestErrorKind::InvalidFormat => "Invalid AOF manifest file format",
            ManifestErrorKind::PathName => "File can't be a path, just a filename",
            ManifestErrorKind::ReservedName => {
                "File name can't be '.', '..' or empty: it would name the AOF directory or its parent, not a file in it"
            }
            ManifestErrorKind::UnknownType => "Unknown AOF file type",
            ManifestErrorKind::DuplicateBase => "Found duplicate base file information",
            ManifestErrorKind::NonMonotonic => "Found a non-monotonic sequence number",
        }
    }
}

/// A manifest the server refuses. `line`/`text` are set when Redis echoes the line (every error
/// but an empty manifest and a too-long line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}", match (line, text) {
    (Some(n), Some(t)) => format!("line {n} ('{t}'): "),
    (Some(n), None) => format!("line {n}: "),
    _ => String::new(),
}, kind.redis_message())]
pub struct ManifestError {
    /// What is wrong.
    pub kind: ManifestErrorKind,
    /// The 1-based line where it is, when known.
    pub line: Option<usize>,
    /// The line, trimmed, as the server prints it after `>>> `.
    pub text: Option<String>,
}

fn err(kind: ManifestErrorKind, line: Option<usize>, text: Option<&[u8]>) -> ManifestError {
    ManifestError {
        kind,
        line,
        text: text.map(|t| String::from_utf8_lossy(t).into_owned()),
    }
}

/// Parses a manifest's bytes.
pub fn parse(data: &[u8]) -> Result<Manifest, ManifestError> {
    use ManifestErrorKind as K;
    let mut m = Manifest::default();
    let mut maxseq: i64 = 0;
    let mut pos = 0usize;
    let mut linenum = 0usize;
    loop {
        let rest = data.get(pos..).unwrap_or(&[]);
        if rest.is_empty() {
            if linenum == 0 {
                return Err(err(K::Empty, None, None));
            }
            return Ok(m);
        }
        // fgets(buf, MANIFEST_MAX_LINE + 1): through '\n', at most 1024 bytes.
        let window = rest
            .get(..rest.len().min(MANIFEST_MAX_LINE))
            .unwrap_or(rest);
        let chunk_len = memchr::memchr(b'\n', window).map_or(window.len(), |i| i + 1);
        let chunk = window.get(..chunk_len).unwrap_or(window);
        pos += chunk_len;
        linenum += 1;

        let buf = c_str(chunk);
        if chunk.first() == Some(&b'#') {
            continue;
        }
        if !buf.contains(&b'\n') {
            // The server echoes no line here; we still say which one.
            return Err(err(K::TooLongLine, Some(linenum), None));
        }
        let line = trim(buf);
        if line.is_empty() {
            return Err(err(K::InvalidFormat, Some(linenum), Some(line)));
        }
        let bad = |k| Err(err(k, Some(linenum), Some(line)));
        let tokens = match split_args(line) {
            Some(t) if t.len() >= 6 && t.len() % 2 == 0 => t,
            _ => return bad(K::InvalidFormat),
        };
        let mut file: Option<Vec<u8>> = None;
        let mut seq: i64 = 0;
        let mut file_type: u8 = 0;
        for pair in tokens.chunks(2) {
            let (Some(key), Some(value)) = (pair.first(), pair.get(1)) else {
                continue;
            };
            let key = c_str(key);
            if key.eq_ignore_ascii_case(b"file") {
                let name = c_str(value).to_vec();
                if name.contains(&b'/') || name.contains(&b'\\') {
                    return bad(K::PathName);
                }
                if name.is_empty() || name == b"." || name == b".." {
                    return bad(K::ReservedName);
                }
                file = Some(name);
            } else if key.eq_ignore_ascii_case(b"seq") {
                seq = cnum::atoll(value);
            } else if key.eq_ignore_ascii_case(b"type") {
                file_type = c_str(value).first().copied().unwrap_or(0);
            }
        }
        let (Some(file), true, true) = (file, seq != 0, file_type != 0) else {
            return bad(K::InvalidFormat);
        };
        let mk = |t| ManifestEntry {
            file,
            seq,
            file_type: t,
            line: linenum,
        };
        match file_type {
            b'b' => {
                if m.base.is_some() {
                    return bad(K::DuplicateBase);
                }
                m.base = Some(mk(FileType::Base));
            }
            b'h' => m.history.push(mk(FileType::History)),
            b'i' => {
                if seq <= maxseq {
                    return bad(K::NonMonotonic);
                }
                maxseq = seq;
                m.incr.push(mk(FileType::Incr));
            }
            _ => return bad(K::UnknownType),
        }
    }
}

/// `sdstrim(line, " \t\r\n")`.
fn trim(s: &[u8]) -> &[u8] {
    let is_trim = |b: &u8| matches!(*b, b' ' | b'\t' | b'\r' | b'\n');
    let start = s.iter().position(|b| !is_trim(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !is_trim(b)).map_or(start, |i| i + 1);
    s.get(start..end).unwrap_or(&[])
}

/// Redis 7.2+ `fileIsManifest`: after `#` lines, the first line starts with `file`.
pub fn looks_like_manifest(data: &[u8]) -> bool {
    let mut pos = 0usize;
    while let Some(rest) = data.get(pos..).filter(|r| !r.is_empty()) {
        let window = rest
            .get(..rest.len().min(MANIFEST_MAX_LINE))
            .unwrap_or(rest);
        let chunk_len = memchr::memchr(b'\n', window).map_or(window.len(), |i| i + 1);
        let chunk = window.get(..chunk_len).unwrap_or(window);
        pos += chunk_len;
        if chunk.first() == Some(&b'#') {
            continue;
        }
        return chunk.starts_with(b"file");
    }
    false
}

/// Whether some line of `data` is a well-formed manifest entry (used to refuse "fixing" a
/// manifest whose first line is damaged, which Redis would truncate to nothing).
pub fn has_manifest_entry_line(data: &[u8]) -> bool {
    data.split(|&b| b == b'\n').any(|l| {
        let l = trim(c_str(l));
        match split_args(l) {
            Some(t) if t.len() >= 6 && t.len() % 2 == 0 => {
                let keys: Vec<&[u8]> = t.iter().step_by(2).map(|k| k.as_slice()).collect();
                ["file", "seq", "type"]
                    .iter()
                    .all(|want| keys.iter().any(|k| k.eq_ignore_ascii_case(want.as_bytes())))
            }
            _ => false,
        }
    })
}

// ---- sdssplitargs, as nom parsers -------------------------------------------------------------

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

fn first(s: &[u8]) -> u8 {
    s.first().copied().unwrap_or(0)
}

/// `\xHH` inside double quotes.
fn hex_escape(i: &[u8]) -> IResult<&[u8], u8> {
    map(
        preceded(
            tag(&b"\\x"[..]),
            take_while_m_n(2, 2, |c: u8| c.is_ascii_hexdigit()),
        ),
        |h: &[u8]| hex_val(first(h)) * 16 + hex_val(h.get(1).copied().unwrap_or(0)),
    )
    .parse(i)
}

/// `\n \r \t \b \a`, or `\c` for any other c.
fn char_escape(i: &[u8]) -> IResult<&[u8], u8> {
    map(
        preceded(tag(&b"\\"[..]), take(1usize)),
        |c: &[u8]| match first(c) {
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'b' => 0x08,
            b'a' => 0x07,
            other => other,
        },
    )
    .parse(i)
}

fn one_byte_except(stop: u8) -> impl Fn(&[u8]) -> IResult<&[u8], u8> {
    move |i| map(verify(take(1usize), |c: &[u8]| first(c) != stop), first).parse(i)
}

/// A closing quote must be followed by a blank or the end of the line.
fn closed(i: &[u8]) -> IResult<&[u8], ()> {
    match i.first() {
        Some(&c) if !is_c_space(c) => Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::Verify,
        ))),
        _ => Ok((i, ())),
    }
}

fn double_quoted(i: &[u8]) -> IResult<&[u8], Vec<u8>> {
    let (i, _) = tag(&b"\""[..]).parse(i)?;
    let (i, v) = many0(alt((hex_escape, char_escape, one_byte_except(b'"')))).parse(i)?;
    let (i, _) = tag(&b"\""[..]).parse(i)?;
    let (i, _) = closed(i)?;
    Ok((i, v))
}

fn single_quoted(i: &[u8]) -> IResult<&[u8], Vec<u8>> {
    let (i, _) = tag(&b"'"[..]).parse(i)?;
    let (i, v) = many0(alt((
        map(tag(&b"\\'"[..]), |_| b'\''),
        one_byte_except(b'\''),
    )))
    .parse(i)?;
    let (i, _) = tag(&b"'"[..]).parse(i)?;
    let (i, _) = closed(i)?;
    Ok((i, v))
}

/// One token: unquoted bytes, optionally ending in a quoted part (which ends the token).
fn token(i: &[u8]) -> IResult<&[u8], Vec<u8>> {
    let (i, plain) =
        take_while(|c: u8| !matches!(c, b' ' | b'\n' | b'\r' | b'\t' | 0 | b'"' | b'\''))
            .parse(i)?;
    let mut out = plain.to_vec();
    if matches!(i.first(), Some(b'"') | Some(b'\'')) {
        let (i, q) = alt((double_quoted, single_quoted)).parse(i)?;
        out.extend(q);
        return Ok((i, out));
    }
    Ok((i, out))
}

/// `sdssplitargs`: `None` for unbalanced quotes or a closing quote followed by a non-blank.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut i = c_str(line);
    let mut out = Vec::new();
    loop {
        while i.first().copied().is_some_and(is_c_space) {
            i = i.get(1..).unwrap_or(&[]);
        }
        if i.is_empty() {
            return Some(out);
        }
        let (rest, tok) = token(i).ok()?;
        out.push(tok);
        // What follows a token is a blank (skipped above) or the end.
        i = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Option<Vec<String>> {
        split_args(s.as_bytes()).map(|v| {
            v.into_iter()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .collect()
        })
    }

    #[test]
    fn splitargs_like_redis() {
        assert_eq!(
            toks("file a seq 1 type b").unwrap(),
            ["file", "a", "seq", "1", "type", "b"]
        );
        assert_eq!(
            toks("  \"a b\\x41\\n\" 'it\\'s' x\"y\"").unwrap(),
            ["a bA\n", "it's", "xy"]
        );
        assert_eq!(toks("\"\"").unwrap(), [""]);
        assert!(toks("\"abc").is_none());
        assert!(toks("\"abc\"d").is_none());
        assert!(toks("'abc").is_none());
        assert!(toks("\"a\\").is_none());
        assert_eq!(toks("\"\\xzz\"").unwrap(), ["xzz"]);
        assert_eq!(toks("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn parses_a_real_manifest() {
        let m = parse(
            b"file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.1.incr.aof seq 1 type h\n\
              file appendonly.aof.2.incr.aof seq 2 type i\nfile appendonly.aof.3.incr.aof seq 3 type i\n",
        )
        .unwrap();
        assert_eq!(m.base.as_ref().unwrap().file, b"appendonly.aof.2.base.rdb");
        assert_eq!(m.history.len(), 1);
        let order: Vec<_> = m.load_order().map(|e| e.file_name_lossy()).collect();
        assert_eq!(
            order,
            [
                "appendonly.aof.2.base.rdb",
                "appendonly.aof.2.incr.aof",
                "appendonly.aof.3.incr.aof"
            ]
        );
    }

    #[test]
    fn server_rules() {
        use ManifestErrorKind as K;
        let e = |s: &[u8]| parse(s).unwrap_err();
        assert_eq!(e(b"").kind, K::Empty);
        assert_eq!(e(b"file a seq 1 type b").kind, K::TooLongLine);
        assert_eq!(e(b"file a seq 1 type b").line, Some(1));
        let x = e(b"# c\nfile a seq 1 type b\n\n");
        assert_eq!(
            (x.kind, x.line, x.text.as_deref()),
            (K::InvalidFormat, Some(3), Some(""))
        );
        let x = e(b"file a seq 1 type x\n");
        assert_eq!(
            (x.kind, x.line, x.text.as_deref()),
            (K::UnknownType, Some(1), Some("file a seq 1 type x"))
        );
        assert_eq!(e(b"file a/b seq 1 type i\n").kind, K::PathName);
        assert_eq!(e(b"file a\\\\b seq 1 type i\n").kind, K::PathName);
        // `.`, `..` and "" name the directory or its parent: refused, saying why.
        for name in [&b"."[..], b"..", b"\"\""] {
            let line = [&b"file "[..], name, b" seq 1 type b\n"].concat();
            let x = e(&line);
            assert_eq!(x.kind, K::ReservedName, "{}", String::from_utf8_lossy(name));
            assert!(x.to_string().contains("can't be '.', '..' or empty"), "{x}");
        }
        assert_eq!(e(b"file a seq 0 type i\n").kind, K::InvalidFormat);
        assert_eq!(e(b"file a seq x type i\n").kind, K::InvalidFormat);
        assert_eq!(e(b"file a seq 1 type i extra\n").kind, K::InvalidFormat);
        assert_eq!(e(b"file a seq 1\n").kind, K::InvalidFormat);
        assert_eq!(
            e(b"file a seq 1 type b\nfile b seq 2 type b\n").kind,
            K::DuplicateBase
        );
        let x = e(b"file a seq 3 type i\n#c\nfile b seq 2 type i\n");
        assert_eq!((x.kind, x.line), (K::NonMonotonic, Some(3)));
        let long = format!("file {} seq 1 type i\n", "a".repeat(1100));
        assert_eq!(e(long.as_bytes()).kind, K::TooLongLine);
        // Accepted: CRLF, case-insensitive keys, unknown keys, "type base", quoted names, a
        // comment without a final newline.
        let m =
            parse(b"FILE \"a\\x2eaof\" Seq 1 TYPE base foo bar\r\nfile c seq 5 type incr\n# end")
                .unwrap();
        assert_eq!(m.base.unwrap().file, b"a.aof");
        assert_eq!(m.incr[0].seq, 5);
        assert!(looks_like_manifest(b"# x\nfile a seq 1 type b\n"));
        assert!(!looks_like_manifest(b"fiel a seq 1 type b\nfile b\n"));
        assert!(has_manifest_entry_line(
            b"fiel a seq 1 type b\nfile b seq 1 type i\n"
        ));
        assert!(!has_manifest_entry_line(b"*1\r\n$4\r\nPING\r\n"));
    }
}
