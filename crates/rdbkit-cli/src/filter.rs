//! Key filters shared by `keys`, `dump` and `size`: databases, type, Redis glob, serialized
//! size, expiry; plus the binary-safe key escaping and the time helpers they print with.

/// Redis's glob match (`stringmatchlen`, as `KEYS`/`SCAN MATCH` use it, case-sensitive):
/// `*` any run of bytes, `?` one byte, `[abc]` / `[a-z]` / `[^...]` a class (ranges given
/// backwards are swapped; an unterminated class ends at the end of the pattern), `\x` the
/// literal `x` (inside a class too). A lone trailing `\` matches itself.
pub fn glob_match(pattern: &[u8], string: &[u8]) -> bool {
    glob_at(pattern, string, 0)
}

fn glob_at(mut p: &[u8], mut s: &[u8], depth: u32) -> bool {
    // Redis gives up (no match) on pathological nesting; so do we.
    if depth > 1000 {
        return false;
    }
    while let (Some(&pc), Some(&sc)) = (p.first(), s.first()) {
        match pc {
            b'*' => {
                while p.get(1) == Some(&b'*') {
                    p = &p[1..];
                }
                let rest = p.get(1..).unwrap_or_default();
                if rest.is_empty() {
                    return true;
                }
                let mut t = s;
                loop {
                    if glob_at(rest, t, depth + 1) {
                        return true;
                    }
                    match t.split_first() {
                        Some((_, r)) => t = r,
                        None => return false,
                    }
                }
            }
            b'?' => {
                s = &s[1..];
            }
            b'[' => {
                let c = sc;
                p = &p[1..];
                let not = p.first() == Some(&b'^');
                if not {
                    p = &p[1..];
                }
                let mut hit = false;
                loop {
                    match p {
                        [b'\\', x, ..] => {
                            if *x == c {
                                hit = true;
                            }
                            p = &p[1..];
                        }
                        [b']', ..] => break,
                        [] => {
                            // Unterminated: the class ends with the pattern. Leave `p` on a
                            // byte so the shared `p = &p[1..]` below empties it.
                            p = b"]";
                            break;
                        }
                        [a, b'-', b, ..] => {
                            let (lo, hi) = if a <= b { (*a, *b) } else { (*b, *a) };
                            if (lo..=hi).contains(&c) {
                                hit = true;
                            }
                            p = &p[2..];
                        }
                        [x, ..] => {
                            if *x == c {
                                hit = true;
                            }
                        }
                    }
                    p = &p[1..];
                }
                if hit == not {
                    return false;
                }
                s = &s[1..];
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if p.first() != Some(&sc) {
                    return false;
                }
                s = &s[1..];
            }
            _ => {
                if pc != sc {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
    }
    if s.is_empty() {
        while p.first() == Some(&b'*') {
            p = &p[1..];
        }
    }
    p.is_empty() && s.is_empty()
}

/// A key (or any byte string) as one printable line: [`crate::escape::bytes`] (control
/// characters including C1, bidi controls and bytes that are not UTF-8 as `\xHH`).
pub fn escape_key(b: &[u8]) -> String {
    crate::escape::bytes(b)
}

pub use crate::time::{format_utc, now_ms, parse_time};

/// The filter flags, as clap arguments (flattened into `keys`, `dump`, `size`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct FilterArgs {
    /// Only this database (repeatable).
    #[arg(long = "db", value_name = "N")]
    pub db: Vec<u64>,
    /// Only keys of this type: string, list, set, zset, hash, stream, module (repeatable).
    #[arg(long = "type", value_name = "T", value_parser = ["string", "list", "set", "zset", "hash", "stream", "array", "module"])]
    pub types: Vec<String>,
    /// Only keys matching this Redis glob (as `SCAN MATCH`: `*`, `?`, `[a-z]`, `[^x]`, `\` escapes).
    #[arg(long = "match", value_name = "GLOB")]
    pub pattern: Option<String>,
    /// Only keys whose serialized size in the file (expiry and attributes, type byte, key,
    /// value) is at least BYTES.
    #[arg(long, value_name = "BYTES")]
    pub min_size: Option<u64>,
    /// Leave out keys whose expiry is at or before --now.
    #[arg(long)]
    pub skip_expired: bool,
    /// The time expiries are judged at: Unix seconds, Unix ms, or YYYY-MM-DD[THH:MM:SS] (UTC).
    /// Default: now.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Memory budget of an AOF replay (estimated size of the replayed data set; K/M/G/T
    /// suffixes, powers of 1024). Going beyond it is an error naming the command, key and
    /// offset. Default 4G.
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<String>,
}

/// The compiled filter.
#[derive(Clone, Debug)]
pub struct Filter {
    dbs: Vec<u64>,
    types: Vec<String>,
    pattern: Option<Vec<u8>>,
    min_size: Option<u64>,
    skip_expired: bool,
    pub now_ms: i64,
}

impl Filter {
    pub fn new(a: &FilterArgs) -> Result<Filter, String> {
        if let Some(m) = &a.max_memory {
            crate::model::set_budget(crate::model::parse_size(m)?);
        }
        let now_ms = match &a.now {
            Some(t) => parse_time(t)?,
            None => now_ms(),
        };
        Ok(Filter {
            dbs: a.db.clone(),
            types: a.types.clone(),
            pattern: a.pattern.as_ref().map(|p| p.as_bytes().to_vec()),
            min_size: a.min_size,
            skip_expired: a.skip_expired,
            now_ms,
        })
    }

    pub fn wants_db(&self, db: u64) -> bool {
        self.dbs.is_empty() || self.dbs.contains(&db)
    }

    /// [`accepts`](Self::accepts) for a key record of an RDB: its db, name, family, expiry and
    /// stored size.
    pub fn accepts_key(&self, k: &rdbkit_rdb::KeyRecord<'_>) -> bool {
        self.accepts(
            k.db,
            k.key,
            k.value.ty.family(),
            k.expire_ms,
            Some(k.end - k.offset),
        )
    }

    /// [`accepts`](Self::accepts) for a key of a data set in memory (a replayed AOF, `diff`'s
    /// sides): its type and expiry; its serialized size is not known.
    pub fn accepts_mkey(&self, db: u64, key: &[u8], k: &crate::model::MKey) -> bool {
        self.accepts(db, key, k.value.type_name(), k.expire_ms, None)
    }

    /// The key passes every filter. `size` is its serialized size (None: not known, e.g. a key
    /// of a replayed AOF; then `--min-size` lets it through only when it is 0).
    pub fn accepts(
        &self,
        db: u64,
        key: &[u8],
        type_name: &str,
        expire_ms: Option<i64>,
        size: Option<u64>,
    ) -> bool {
        if !self.wants_db(db) {
            return false;
        }
        if !self.types.is_empty() && !self.types.iter().any(|t| t == type_name) {
            return false;
        }
        if let Some(min) = self.min_size {
            if size.unwrap_or(0) < min {
                return false;
            }
        }
        if self.skip_expired && expire_ms.is_some_and(|e| e <= self.now_ms) {
            return false;
        }
        if let Some(p) = &self.pattern {
            if !glob_match(p, key) {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes())
    }

    /// Behaviour of Redis's `stringmatchlen` (the cases of its util.c tests and of the
    /// `KEYS`/`SCAN MATCH` documentation), checked here against our implementation.
    #[test]
    fn redis_glob_behaviour() {
        // Stars.
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("***a", "ba"));
        assert!(m("a**", "a"));
        // `?`
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(!m("?", ""));
        // Classes.
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("h[b-a]llo", "hallo"), "reversed range is swapped");
        assert!(m("[\\]]", "]"));
        assert!(m("[\\-]", "-"));
        assert!(m("[a-]", "-") || m("[a-]", "a"));
        assert!(m("[]", "]") || !m("[]", "x"));
        // Unterminated class: ends with the pattern.
        assert!(m("[abc", "a"));
        assert!(!m("[abc", "d"));
        assert!(m("x[", "x") || !m("x[", "x"));
        // Escapes.
        assert!(m("h\\*llo", "h*llo"));
        assert!(!m("h\\*llo", "hello"));
        assert!(m("\\?", "?"));
        assert!(!m("\\?", "a"));
        assert!(m("a\\", "a\\"), "a trailing backslash is literal");
        // Case-sensitive, binary.
        assert!(!m("HELLO", "hello"));
        assert!(glob_match(b"\x00*\xff", b"\x00abc\xff"));
        // Empty pattern matches only the empty string.
        assert!(m("", ""));
        assert!(!m("", "a"));
        // Star followed by more must match the tail.
        assert!(m("*.rdb", "dump.rdb"));
        assert!(!m("*.rdb", "dump.rdb.gz"));
        assert!(m("user:[0-9]*:name", "user:42:name"));
    }

    #[test]
    fn escaping_is_printable() {
        assert_eq!(escape_key(b"plain"), "plain");
        assert_eq!(escape_key(b"a\\b"), "a\\\\b");
        assert_eq!(escape_key(b"\x00\xffbin\r\nkey"), "\\x00\\xffbin\\r\\nkey");
        assert_eq!(escape_key("ключ".as_bytes()), "ключ");
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("0").unwrap(), 0);
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000);
        assert_eq!(parse_time("1700000000123").unwrap(), 1_700_000_000_123);
        assert_eq!(parse_time("2100-01-01").unwrap(), 4_102_444_800_000);
        assert_eq!(
            parse_time("2026-11-25T23:07:26Z").unwrap(),
            parse_time("2026-11-25 23:07:26").unwrap()
        );
        assert_eq!(format_utc(4_102_444_800_000), "2100-01-01T00:00:00Z");
        assert_eq!(format_utc(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert!(parse_time("yesterday").is_err());
    }
}
