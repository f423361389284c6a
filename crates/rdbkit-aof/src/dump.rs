//! Writing a data set's commands out: JSON lines (`{"file":..,"offset":N,"args":[..]}`, byte
//! strings as JSON strings when UTF-8, else `{"base64":..}`) or RESP.

use std::io::{self, Write};

use crate::error::Error;
use crate::multipart::{for_each_command, Layout};
use crate::resp::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Resp,
}

/// Writes every command of `layout` to `out`; returns how many.
pub fn dump(layout: &Layout, format: Format, out: &mut dyn Write) -> Result<u64, Error> {
    let mut line = Vec::with_capacity(256);
    for_each_command(layout, |loc, cmd| {
        line.clear();
        match format {
            Format::Jsonl => {
                line.extend_from_slice(b"{\"file\":");
                json_str(&mut line, loc.file.name.as_bytes());
                line.extend_from_slice(format!(",\"offset\":{},\"args\":[", loc.offset).as_bytes());
                for (i, a) in cmd.args().enumerate() {
                    if i > 0 {
                        line.push(b',');
                    }
                    json_bytes(&mut line, a);
                }
                line.extend_from_slice(b"]}\n");
            }
            Format::Resp => write_resp(&mut line, cmd),
        }
        out.write_all(&line)
    })
}

/// Writes every command read from a stream (`rdbkit aof dump -`); `name` labels them.
pub fn dump_stream<R: io::Read>(
    input: R,
    name: &str,
    format: Format,
    out: &mut dyn Write,
) -> Result<u64, Error> {
    use crate::resp::{Item, StreamError, StreamReader};
    let path = std::path::Path::new(name);
    let mut r = StreamReader::new(input);
    let mut line = Vec::with_capacity(256);
    let mut n = 0u64;
    loop {
        let cmd = match r.next_item() {
            Ok(Some(Item::Command(c))) => c,
            Ok(Some(Item::Annotation(_))) => continue,
            Ok(None) => return Ok(n),
            Err(StreamError::Io(e)) => return Err(Error::io(path, e)),
            Err(StreamError::Resp(e)) => {
                return Err(Error::Resp {
                    path: path.to_path_buf(),
                    source: e,
                })
            }
            Err(StreamError::Rdb(m)) => {
                return Err(Error::Refused {
                    path: path.to_path_buf(),
                    message: format!("RDB preamble: {m}"),
                })
            }
        };
        line.clear();
        match format {
            Format::Jsonl => {
                line.extend_from_slice(b"{\"file\":");
                json_str(&mut line, name.as_bytes());
                line.extend_from_slice(format!(",\"offset\":{},\"args\":[", cmd.start).as_bytes());
                for (i, a) in cmd.args().enumerate() {
                    if i > 0 {
                        line.push(b',');
                    }
                    json_bytes(&mut line, a);
                }
                line.extend_from_slice(b"]}\n");
            }
            Format::Resp => write_resp(&mut line, &cmd),
        }
        out.write_all(&line).map_err(|e| Error::io(path, e))?;
        n += 1;
    }
}

/// A command in RESP, as the server writes it.
pub fn write_resp(out: &mut Vec<u8>, cmd: &Command<'_, '_>) {
    out.extend_from_slice(format!("*{}\r\n", cmd.argc()).as_bytes());
    for a in cmd.args() {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// A byte string as JSON: a string when UTF-8, else `{"base64":"..."}`.
pub fn json_bytes(out: &mut Vec<u8>, b: &[u8]) {
    if std::str::from_utf8(b).is_ok() {
        json_str(out, b);
    } else {
        out.extend_from_slice(b"{\"base64\":\"");
        base64(out, b);
        out.extend_from_slice(b"\"}");
    }
}

/// `s` (valid UTF-8) as a JSON string. Copies runs of plain bytes at once; only `"`, `\\` and
/// control characters are escaped.
pub fn json_str(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut run = 0;
    for (i, &c) in s.iter().enumerate() {
        if c >= 0x20 && c != b'"' && c != b'\\' {
            continue;
        }
        out.extend_from_slice(s.get(run..i).unwrap_or_default());
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(c >> 4)],
                HEX[usize::from(c & 15)],
            ]),
        }
        run = i + 1;
    }
    out.extend_from_slice(s.get(run..).unwrap_or_default());
    out.push(b'"');
}

/// Standard base64 with padding.
pub fn base64(out: &mut Vec<u8>, b: &[u8]) {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in b.chunks(3) {
        let n = match *chunk {
            [a, b, c] => (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c),
            [a, b] => (u32::from(a) << 16) | (u32::from(b) << 8),
            [a] => u32::from(a) << 16,
            _ => 0,
        };
        let sym = |shift: u32| T[((n >> shift) & 63) as usize];
        out.push(sym(18));
        out.push(sym(12));
        out.push(if chunk.len() > 1 { sym(6) } else { b'=' });
        out.push(if chunk.len() > 2 { sym(0) } else { b'=' });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        let mut o = Vec::new();
        base64(&mut o, b"\xff\x00a");
        assert_eq!(o, b"/wBh");
        o.clear();
        base64(&mut o, b"ab");
        assert_eq!(o, b"YWI=");
        o.clear();
        json_bytes(&mut o, b"a\"\n\x01\xc3\xa9");
        assert_eq!(o, "\"a\\\"\\n\\u0001é\"".as_bytes());
        o.clear();
        json_bytes(&mut o, b"\xff");
        assert_eq!(o, b"{\"base64\":\"/w==\"}");
    }
}
