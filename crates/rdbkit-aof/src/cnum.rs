//! The C library's number parsing, as Redis's tools use it: `strtol`/`strtoll` (base 10) and
//! `atoi`/`atoll`. Redis's verdicts depend on their laxness (leading blanks, a sign, stopping at
//! the first non-digit), so we reproduce it exactly rather than using `str::parse`.

/// `isspace` in the C locale: space, `\t`, `\n`, `\v`, `\f`, `\r`.
pub(crate) fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The part of `s` a C string function sees: everything before the first NUL.
pub(crate) fn c_str(s: &[u8]) -> &[u8] {
    match memchr::memchr(0, s) {
        Some(i) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

/// Result of `strtol(s, &end, 10)` on a 64-bit `long`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StrtolResult {
    pub value: i64,
    /// Index of `*end` in `s`. 0 when no digits were found (C sets `end = s`).
    pub end: usize,
    /// `errno == ERANGE`: the value saturated to `i64::MIN`/`i64::MAX`.
    pub overflow: bool,
}

/// `strtol(s, &end, 10)`; `s` is treated as a C string (it stops at a NUL).
pub(crate) fn strtol(s: &[u8]) -> StrtolResult {
    let s = c_str(s);
    let mut i = 0;
    while s.get(i).copied().is_some_and(is_c_space) {
        i += 1;
    }
    let mut neg = false;
    if let Some(&c @ (b'+' | b'-')) = s.get(i) {
        neg = c == b'-';
        i += 1;
    }
    let digits_start = i;
    let mut value: i64 = 0;
    let mut overflow = false;
    while let Some(&c) = s.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        if !overflow {
            let d = i64::from(c - b'0');
            let next = value.checked_mul(10).and_then(|v| {
                if neg {
                    v.checked_sub(d)
                } else {
                    v.checked_add(d)
                }
            });
            match next {
                Some(v) => value = v,
                None => {
                    overflow = true;
                    value = if neg { i64::MIN } else { i64::MAX };
                }
            }
        }
        i += 1;
    }
    if i == digits_start {
        return StrtolResult {
            value: 0,
            end: 0,
            overflow: false,
        };
    }
    StrtolResult {
        value,
        end: i,
        overflow,
    }
}

/// `atoll(s)`: `strtoll` without the end pointer (glibc saturates on overflow).
pub(crate) fn atoll(s: &[u8]) -> i64 {
    strtol(s).value
}

/// `atoi(s)`: glibc computes `(int) strtol(s)`, so large values wrap to 32 bits.
pub(crate) fn atoi(s: &[u8]) -> i32 {
    strtol(s).value as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtol_like_c() {
        assert_eq!(
            strtol(b"12\r\n"),
            StrtolResult {
                value: 12,
                end: 2,
                overflow: false
            }
        );
        assert_eq!(strtol(b" +7x").value, 7);
        assert_eq!(strtol(b" +7x").end, 3);
        assert_eq!(strtol(b"-5").value, -5);
        assert_eq!(strtol(b"\r\n").end, 0);
        assert_eq!(strtol(b"+").end, 0);
        assert_eq!(strtol(b"").end, 0);
        assert_eq!(strtol(b"04").value, 4);
        let big = strtol(b"99999999999999999999999\r\n");
        assert!(big.overflow);
        assert_eq!(big.value, i64::MAX);
        assert_eq!(big.end, 23);
        assert_eq!(strtol(b"-99999999999999999999999").value, i64::MIN);
        assert_eq!(strtol(b"1\x002").end, 1);
        assert_eq!(atoi(b"4294967297"), 1);
        assert_eq!(atoll(b"  -3junk"), -3);
    }
}
