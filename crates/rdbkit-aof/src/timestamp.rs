//! `#TS:<unix seconds>` annotations and `--truncate-to-timestamp T`.
//!
//! The server writes `#TS:` lines when `aof-timestamp-enabled yes`. In timestamp mode the tool
//! cuts the last file at the start of the first annotation whose value exceeds T (semantics §6);
//! the scan itself is `check::check_single` with `CheckOptions::to_timestamp`.

pub use crate::resp::annotation_timestamp;

use crate::cnum;

/// Parses T like the tool: `strtol` base 10 over the whole argument (leading blanks and a sign
/// allowed, nothing may follow, no overflow). `None` → "Invalid timestamp, aborting...".
/// Note that an empty argument is 0, and T = 0 switches timestamp mode off.
pub fn parse_cli_timestamp(arg: &[u8]) -> Option<i64> {
    let r = cnum::strtol(arg);
    let consumed = if r.end == 0 { 0 } else { r.end };
    // `*endptr != '\0'`: the rest of the C string must be empty.
    let rest = cnum::c_str(arg).get(consumed..).unwrap_or(&[]);
    (!r.overflow && rest.is_empty()).then_some(r.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_timestamp() {
        assert_eq!(parse_cli_timestamp(b"1795637865"), Some(1795637865));
        assert_eq!(parse_cli_timestamp(b" +5"), Some(5));
        assert_eq!(parse_cli_timestamp(b"-5"), Some(-5));
        assert_eq!(parse_cli_timestamp(b""), Some(0));
        assert_eq!(parse_cli_timestamp(b"12abc"), None);
        assert_eq!(parse_cli_timestamp(b"5 "), None);
        assert_eq!(parse_cli_timestamp(b"abc"), None);
        assert_eq!(parse_cli_timestamp(b"99999999999999999999"), None);
    }
}
