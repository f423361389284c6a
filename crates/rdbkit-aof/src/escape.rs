//! The one escaping function for everything rdbkit prints that comes from outside: key names,
//! file names, server replies. The result is one printable line that can't drive a terminal:
//! valid UTF-8 as is, `\\` for a backslash, `\n` `\r` `\t`, and `\xHH` (each byte) for other
//! control characters (C0, DEL, and the C1 range U+0080–U+009F such as U+009B, the 8-bit CSI),
//! for the Unicode bidirectional controls (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069: they
//! reorder what a terminal shows), the line/paragraph separators U+2028/U+2029, and for bytes
//! that are not UTF-8. The mapping is reversible (a backslash is always escaped).

use std::fmt::Write as _;
use std::path::Path;

/// A character that is printed as the `\xHH` of its UTF-8 bytes.
fn must_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Escapes bytes (a key, a file name, a server reply) for printing.
pub fn bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        for ch in chunk.valid().chars() {
            match ch {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if must_escape(c) => {
                    let mut buf = [0u8; 4];
                    for x in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\x{x:02x}");
                    }
                }
                c => out.push(c),
            }
        }
        for x in chunk.invalid() {
            let _ = write!(out, "\\x{x:02x}");
        }
    }
    out
}

/// Escapes text (e.g. a reply already decoded lossily).
pub fn text(s: &str) -> String {
    bytes(s.as_bytes())
}

/// Escapes a path for messages (its raw bytes: a name that is not UTF-8 stays reversible).
pub fn path(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    bytes(p.as_os_str().as_bytes())
}
