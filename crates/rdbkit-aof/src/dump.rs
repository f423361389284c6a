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
                    // Worded as the dump of a file says it (`Error::Rdb`).
                    message: format!("RDB part is not sane: {m}"),
                });
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
    let mark = out.len();
    // The UTF-8 check is fused with the escaping: ASCII runs are proved by the same scan.
    if !escape_into(out, b, false) {
        out.truncate(mark);
        out.extend_from_slice(b"{\"base64\":\"");
        base64(out, b);
        out.extend_from_slice(b"\"}");
    }
}

/// One bit (the high one) per byte of `w` that needs escaping (below 0x20, `"` or `\\`).
/// Bytes above a flagged one may be flagged wrongly (a borrow), the lowest flag never is: it
/// marks the first byte to escape.
#[inline(always)]
fn escape_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    below_space | has_zero(w ^ (ONES * u64::from(b'"'))) | has_zero(w ^ (ONES * u64::from(b'\\')))
}

/// `s` (valid UTF-8) as a JSON string. Copies runs of plain bytes at once (found 8 bytes at a
/// time); only `"`, `\\` and control characters are escaped.
pub fn json_str(out: &mut Vec<u8>, s: &[u8]) {
    escape_into(out, s, true);
}

/// Per byte: 0 when it is copied as it is, else the character after the backslash of its
/// escape (`u` for `\u00XX`).
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = b'u';
        c += 1;
    }
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Input bytes escaped per reservation of the output (at most 6 output bytes each).
const CHUNK: usize = 4096;

/// Appends `s` as a JSON string; unless `utf8` (the caller knows it is valid UTF-8), checks
/// that it is UTF-8 and returns false if not (`out` then holds a partial string: the caller
/// truncates it). Measured (callgrind, `dump --format jsonl` of the bench's mixed.rdb): the
/// former run-copying loop (`extend_from_slice` per run, a separate `from_utf8` pass) cost ~10
/// instructions per output byte on JSON-in-JSON values; this writes straight into the reserved
/// tail of `out`, 8 plain bytes per store, escapes through a table, and proves ASCII runs
/// UTF-8 in the same scan.
fn escape_into(out: &mut Vec<u8>, s: &[u8], mut utf8: bool) -> bool {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const PAD: u64 = u64::from_le_bytes([b'a'; 8]);
    out.push(b'"');
    let mut i = 0;
    while i < s.len() {
        let end = s.len().min(i + CHUNK);
        // Every input byte becomes at most 6 output bytes; a word may run 7 bytes past `end`
        // and every word is stored whole, 8 bytes past the output.
        let room = (end - i + 8) * 6 + 8;
        out.reserve(room);
        let dst = &mut out.spare_capacity_mut()[..room];
        let mut o = 0;
        while i < end {
            let rest = &s[i..];
            // The next 8 bytes; at the end of `s`, padded with a plain byte.
            let (word, n) = match rest.first_chunk::<8>() {
                Some(w) => (u64::from_le_bytes(*w), 8),
                None if s.len() >= 8 => {
                    // The last 8 bytes of `s`, shifted past those already written.
                    let n = rest.len();
                    let last = s.last_chunk::<8>().expect("8 bytes");
                    let w = u64::from_le_bytes(*last) >> (8 * (8 - n));
                    (w | (PAD << (8 * n)), n)
                }
                None => {
                    // A short string, a byte at a time (a variable-length copy would be a
                    // `memcpy` call).
                    let mut w = PAD;
                    for (k, &c) in rest.iter().enumerate() {
                        w = (w & !(0xff << (8 * k))) | (u64::from(c) << (8 * k));
                    }
                    (w, rest.len())
                }
            };
            let high = if utf8 { 0 } else { word & HIGH };
            let mask = escape_mask(word) | high;
            // The whole word is stored; only the bytes up to the first to escape count.
            let d: &mut [std::mem::MaybeUninit<u8>; 8] =
                (&mut dst[o..o + 8]).try_into().expect("8 bytes");
            *d = word.to_le_bytes().map(std::mem::MaybeUninit::new);
            if mask == 0 {
                o += n;
                i += n;
                continue;
            }
            // The padding is never flagged: the first flagged byte is one of `s`.
            let k = (mask.trailing_zeros() / 8) as usize;
            o += k;
            i += k;
            let c = s[i];
            if c >= 0x80 {
                // A character boundary (everything before was ASCII or escaped): the rest
                // of `s` is checked once, then copied as it is.
                if std::str::from_utf8(&s[i..]).is_err() {
                    return false;
                }
                utf8 = true;
                continue;
            }
            match ESCAPE[usize::from(c)] {
                b'u' => {
                    let e = [
                        b'\\',
                        b'u',
                        b'0',
                        b'0',
                        HEX[usize::from(c >> 4)],
                        HEX[usize::from(c & 15)],
                    ];
                    for (d, e) in dst[o..o + 6].iter_mut().zip(e) {
                        d.write(e);
                    }
                    o += 6;
                }
                e => {
                    dst[o].write(b'\\');
                    dst[o + 1].write(e);
                    o += 2;
                }
            }
            i += 1;
        }
        // SAFETY: the first `o` bytes of the spare capacity were written just above (every
        // byte below `o` was stored before `o` moved past it), and `o` <= `room` <= the
        // capacity left.
        unsafe { out.set_len(out.len() + o) };
    }
    out.push(b'"');
    true
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

    fn json_bytes_simple(b: &[u8]) -> Vec<u8> {
        if std::str::from_utf8(b).is_ok() {
            json_str_simple(b)
        } else {
            [&b"{\"base64\":\""[..], &base64_simple(b), b"\"}"].concat()
        }
    }

    /// Strings longer than one reservation chunk, with the first non-ASCII character, an
    /// invalid byte and escapes on either side of chunk boundaries.
    #[test]
    fn long_strings_match_the_definitions() {
        let base: Vec<u8> = b"{\"id\":1,\"bio\":\"lorem ipsum\\n\"}\x01\t"
            .iter()
            .copied()
            .cycle()
            .take(3 * CHUNK + 77)
            .collect();
        for at in [
            0,
            7,
            8,
            CHUNK - 1,
            CHUNK,
            CHUNK + 3,
            2 * CHUNK + 5,
            base.len() - 1,
        ] {
            let mut utf8 = base.clone();
            utf8.splice(at..at, "é€😀".bytes());
            let mut bad = utf8.clone();
            bad.insert(at + 3, 0xff);
            let mut cut = base.clone();
            cut.insert(at, 0xc3);
            for s in [&base, &utf8, &bad, &cut] {
                let mut o = Vec::new();
                json_bytes(&mut o, s);
                assert_eq!(o, json_bytes_simple(s), "at {at}");
                if std::str::from_utf8(s).is_ok() {
                    let mut o = Vec::new();
                    json_str(&mut o, s);
                    assert_eq!(o, json_str_simple(s), "at {at}");
                }
            }
        }
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
                let mut o = b"z".to_vec();
                json_bytes(&mut o, &s);
                assert_eq!(&o[1..], json_bytes_simple(&s), "{s:?}");
                let mut o = b"y".to_vec();
                base64(&mut o, &s);
                assert_eq!(&o[1..], base64_simple(&s), "{s:?}");
            }
        }
    }
}
