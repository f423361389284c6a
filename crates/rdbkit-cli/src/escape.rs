//! The one escaping function for everything the tool prints that comes from outside: key names,
//! file names, server replies. The result is one printable line that can't drive a terminal:
//! valid UTF-8 as is, `\\` for a backslash, `\n` `\r` `\t`, and `\xHH` (each byte) for other
//! control characters (C0, DEL, and the C1 range U+0080–U+009F such as U+009B, the 8-bit CSI),
//! for the Unicode bidirectional controls (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069: they
//! reorder what a terminal shows), the line/paragraph separators U+2028/U+2029, and for bytes
//! that are not UTF-8. The mapping is reversible (a backslash is always escaped).

use std::path::Path;

/// Escapes bytes (a key, a file name, a server reply) for printing.
pub fn bytes(b: &[u8]) -> String {
    rdbkit_aof::escape::bytes(b)
}

/// Escapes text (e.g. a reply already decoded lossily).
pub fn text(s: &str) -> String {
    rdbkit_aof::escape::text(s)
}

/// Escapes a path for messages (its raw bytes: a name that is not UTF-8 stays reversible).
pub fn path(p: &Path) -> String {
    rdbkit_aof::escape::path(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_c1_and_bidi() {
        assert_eq!(bytes(b"plain"), "plain");
        assert_eq!(bytes(b"a\\b"), "a\\\\b");
        assert_eq!(bytes(b"\x00\xffbin\r\nkey"), "\\x00\\xffbin\\r\\nkey");
        assert_eq!(bytes("ключ".as_bytes()), "ключ");
        assert_eq!(bytes(b"\x1b[31mred"), "\\x1b[31mred");
        // U+009B (CSI as a C1 character) and U+202E (right-to-left override).
        assert_eq!(bytes("a\u{9b}31mb".as_bytes()), "a\\xc2\\x9b31mb");
        assert_eq!(
            bytes("evil\u{202e}txt.exe".as_bytes()),
            "evil\\xe2\\x80\\xaetxt.exe"
        );
        assert_eq!(
            bytes("\u{2066}x\u{2069}".as_bytes()),
            "\\xe2\\x81\\xa6x\\xe2\\x81\\xa9"
        );
        assert_eq!(
            path(Path::new("/tmp/\x1b]0;x\x07.rdb")),
            "/tmp/\\x1b]0;x\\x07.rdb"
        );
        // Ordinary non-ASCII text is kept.
        assert_eq!(text("café ✓ 日本"), "café ✓ 日本");
    }
}
