//! Writing a data set's commands out: JSON lines (`{"file":..,"offset":N,"args":[..]}`, byte
//! strings as JSON strings when UTF-8, else `{"base64":..}`) or RESP.

use std::io::{self, Write};

use crate::error::Error;
use crate::multipart::{for_each_command, Layout};
use crate::resp::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// How [`crate::dump`] writes commands.
pub enum Format {
    /// One JSON object a line.
    Jsonl,
    /// RESP, as the AOF holds it (replayable with `redis-cli --pipe`).
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

/// Whether a byte must be escaped in a JSON string.
#[inline(always)]
fn needs_escape(c: u8) -> bool {
    c < 0x20 || c == b'"' || c == b'\\'
}

/// Whether any of the 8 bytes of `w` needs escaping (SWAR: a byte below 0x20, `"` or `\`).
#[inline(always)]
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    (below_space | has_zero(w ^ (ONES * u64::from(b'"'))) | has_zero(w ^ (ONES * u64::from(b'\\'))))
        != 0
}

/// `s` (valid UTF-8) as a JSON string. Copies runs of plain bytes at once (found 8 bytes at a
/// time); only `"`, `\\` and control characters are escaped.
pub fn json_str(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut run = 0;
    let mut i = 0;
    while i < s.len() {
        // Skip 8 plain bytes at a time.
        if let Some(w) = s.get(i..i + 8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            if !word_needs_escape(u64::from_le_bytes(b)) {
                i += 8;
                continue;
            }
        }
        let c = s[i];
        if !needs_escape(c) {
            i += 1;
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
        i += 1;
        run = i;
    }
    out.extend_from_slice(s.get(run..).unwrap_or_default());
    out.push(b'"');
}

/// Standard base64 with padding, written into the output's reserved tail.
pub fn base64(out: &mut Vec<u8>, b: &[u8]) {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let start = out.len();
    out.resize(start + b.len().div_ceil(3) * 4, 0);
    let dst = &mut out[start..];
    let whole = b.chunks_exact(3);
    let rest = whole.remainder();
    let mut d = dst.chunks_exact_mut(4);
    for (src, o) in whole.zip(&mut d) {
        let n = (u32::from(src[0]) << 16) | (u32::from(src[1]) << 8) | u32::from(src[2]);
        o[0] = T[(n >> 18) as usize & 63];
        o[1] = T[(n >> 12) as usize & 63];
        o[2] = T[(n >> 6) as usize & 63];
        o[3] = T[n as usize & 63];
    }
    if let Some(o) = d.next() {
        let n = match *rest {
            [a, b] => (u32::from(a) << 16) | (u32::from(b) << 8),
            [a] => u32::from(a) << 16,
            _ => 0,
        };
        o[0] = T[(n >> 18) as usize & 63];
        o[1] = T[(n >> 12) as usize & 63];
        o[2] = if rest.len() > 1 {
            T[(n >> 6) as usize & 63]
        } else {
            b'='
        };
        o[3] = b'=';
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

    /// The byte-at-a-time definitions the fast versions must match.
    fn json_str_simple(s: &[u8]) -> Vec<u8> {
        let mut o = vec![b'"'];
        for &c in s {
            match c {
                b'"' => o.extend_from_slice(b"\\\""),
                b'\\' => o.extend_from_slice(b"\\\\"),
                b'\n' => o.extend_from_slice(b"\\n"),
                b'\r' => o.extend_from_slice(b"\\r"),
                b'\t' => o.extend_from_slice(b"\\t"),
                c if c < 0x20 => o.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
                c => o.push(c),
            }
        }
        o.push(b'"');
        o
    }

    fn base64_simple(b: &[u8]) -> Vec<u8> {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bits = String::new();
        for x in b {
            bits.push_str(&format!("{x:08b}"));
        }
        while !bits.len().is_multiple_of(6) {
            bits.push('0');
        }
        let mut o: Vec<u8> = (0..bits.len() / 6)
            .map(|i| T[usize::from_str_radix(&bits[i * 6..i * 6 + 6], 2).unwrap()])
            .collect();
        while !o.len().is_multiple_of(4) {
            o.push(b'=');
        }
        o
    }

    #[test]
    fn fast_writers_match_the_definitions() {
        // Every escape class at every position of an 8-byte word, and runs across words.
        let specials: &[u8] = b"\"\\\n\r\t\x00\x1f\x7f a\xc3\xa9~";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for len in 0..80usize {
            for _ in 0..40 {
                let s: Vec<u8> = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        if state.is_multiple_of(3) {
                            specials[(state >> 8) as usize % specials.len()]
                        } else {
                            state as u8
                        }
                    })
                    .collect();
                let mut o = b"x".to_vec();
                json_str(&mut o, &s);
                assert_eq!(&o[1..], json_str_simple(&s), "{s:?}");
                let mut o = b"y".to_vec();
                base64(&mut o, &s);
                assert_eq!(&o[1..], base64_simple(&s), "{s:?}");
            }
        }
    }
}
