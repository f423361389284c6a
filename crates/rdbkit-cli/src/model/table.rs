//! The replay's command table: one row per command — name, arity, the keys it names, what it
//! creates, version notes, handler. `SUPPORTED`, the `diff` help, the README list and the
//! `rdbkit replay-commands` listing are all derived from it.

use super::replay::{Cmd, Replayer, R};
use super::{bits, hash, hll, keyspace as ks, list, set, stream, string, zset};

/// The handler replaying a command.
pub type Handler = fn(&mut Replayer, &Cmd) -> R;
/// The keys of the current db a command touches (arguments after the name).
pub type Keys = for<'a> fn(&[&'a [u8]]) -> Vec<&'a [u8]>;

/// How faithfully a command is replayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Replayed with the server's semantics.
    Replayed,
    /// Never written to an AOF as itself by the servers (they propagate another command);
    /// replayed when met anyway.
    Rewritten,
    /// Its effect cannot be reproduced offline: the keys it names become value-unknown.
    Unknown,
    /// Has no effect on the data set (accepted, ignored).
    NoEffect,
}

impl Kind {
    /// The word used in listings.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Replayed => "replayed",
            Kind::Rewritten => "replayed (servers propagate it rewritten)",
            Kind::Unknown => "value-unknown",
            Kind::NoEffect => "no effect on data",
        }
    }
}

/// One command of the table.
pub struct Spec {
    /// Upper-case name.
    pub name: &'static str,
    /// Redis's arity: exact argument count with the name when positive, minimum when negative.
    pub arity: i32,
    /// How it is replayed.
    pub kind: Kind,
    /// The type of value it creates (for a value-unknown key that did not exist).
    pub ty: Option<&'static str>,
    /// True when it replaces a key whatever it held (so an unknown value does not matter).
    pub overwrite: bool,
    /// True when its first key is a destination computed from the other keys (the STORE
    /// family): only that key's value depends on them.
    pub store: bool,
    /// Subcommands that write (container commands).
    pub subs: &'static [&'static str],
    /// The keys it touches.
    pub keys: Keys,
    /// Version notes: how servers propagate it.
    pub note: &'static str,
    /// The handler.
    pub handler: Handler,
}

impl Spec {
    /// Whether `argc` (with the name) fits the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        if self.arity >= 0 {
            argc == self.arity as usize
        } else {
            argc >= self.arity.unsigned_abs() as usize
        }
    }
    /// See [`Spec::overwrite`].
    pub fn overwrites(&self) -> bool {
        self.overwrite
    }
}

fn none<'a>(_: &[&'a [u8]]) -> Vec<&'a [u8]> {
    Vec::new()
}
fn first<'a>(a: &[&'a [u8]]) -> Vec<&'a [u8]> {
    a.iter().take(1).copied().collect()
}
fn first2<'a>(a: &[&'a [u8]]) -> Vec<&'a [u8]> {
    a.iter().take(2).copied().collect()
}
fn all<'a>(a: &[&'a [u8]]) -> Vec<&'a [u8]> {
    a.to_vec()
}
fn all_but_last<'a>(a: &[&'a [u8]]) -> Vec<&'a [u8]> {
    a[..a.len().saturating_sub(1)].to_vec()
}
fn second<'a>(a: &[&'a [u8]]) -> Vec<&'a [u8]> {
    a.iter().skip(1).take(1).copied().collect()
}
fn pairs<'a>(a: &[&'a [u8]]) -> Vec<&'a [u8]> {
    a.iter().step_by(2).copied().collect()
}
/// `numkeys key...` at `at`.
fn numkeys_at<'a>(a: &[&'a [u8]], at: usize) -> Vec<&'a [u8]> {
    let n = a
        .get(at)
        .and_then(|b| std::str::from_utf8(b).ok()?.parse::<usize>().ok())
        .unwrap_or(0);
    a.iter().skip(at + 1).take(n).copied().collect()
}
fn numkeys0<'a>(a: &[&'a [u8]]) -> Vec<&'a [u8]> {
    numkeys_at(a, 0)
}
fn numkeys1<'a>(a: &[&'a [u8]]) -> Vec<&'a [u8]> {
    numkeys_at(a, 1)
}
/// dst numkeys key...
fn dst_numkeys<'a>(a: &[&'a [u8]]) -> Vec<&'a [u8]> {
    let mut v = first(a);
    v.extend(numkeys_at(a, 1));
    v
}
/// The key after a STORE/STOREDIST word, then the source (none without STORE: a read).
fn with_store<'a>(a: &[&'a [u8]]) -> Vec<&'a [u8]> {
    let mut v = Vec::new();
    for w in a.windows(2) {
        if w[0].eq_ignore_ascii_case(b"STORE") || w[0].eq_ignore_ascii_case(b"STOREDIST") {
            v.push(w[1]);
        }
    }
    if !v.is_empty() {
        v.extend(first(a));
    }
    v
}
fn sort_keys<'a>(a: &[&'a [u8]]) -> Vec<&'a [u8]> {
    let mut v = Vec::new();
    for w in a.windows(2) {
        if w[0].eq_ignore_ascii_case(b"STORE") {
            v.push(w[1]);
        }
    }
    if !v.is_empty() {
        v.extend(first(a));
    }
    v
}
fn bitop_keys<'a>(a: &[&'a [u8]]) -> Vec<&'a [u8]> {
    a.iter().skip(1).copied().collect()
}
fn pfdebug_keys<'a>(a: &[&'a [u8]]) -> Vec<&'a [u8]> {
    second(a)
}
/// MIGRATE host port key|"" db timeout ... [KEYS key...]
pub fn migrate_keys<'a>(a: &[&'a [u8]]) -> Vec<&'a [u8]> {
    if let Some(p) = a.iter().position(|x| x.eq_ignore_ascii_case(b"KEYS")) {
        return a[p + 1..].to_vec();
    }
    a.get(2)
        .filter(|k| !k.is_empty())
        .copied()
        .into_iter()
        .collect()
}
fn xgroup_keys<'a>(a: &[&'a [u8]]) -> Vec<&'a [u8]> {
    a.iter().skip(1).take(1).copied().collect()
}
fn blmpop_keys<'a>(a: &[&'a [u8]]) -> Vec<&'a [u8]> {
    numkeys_at(a, 1)
}

macro_rules! spec {
    ($name:literal, $arity:expr, $kind:ident, $ty:expr, $ow:expr, $keys:expr, $h:expr, $note:literal) => {
        Spec {
            name: $name,
            arity: $arity,
            kind: Kind::$kind,
            ty: $ty,
            overwrite: $ow,
            store: false,
            subs: &[],
            keys: $keys,
            note: $note,
            handler: $h,
        }
    };
}

const S: Option<&str> = Some("string");
const L: Option<&str> = Some("list");
const SE: Option<&str> = Some("set");
const Z: Option<&str> = Some("zset");
const H: Option<&str> = Some("hash");
const X: Option<&str> = Some("stream");

/// Every command the replay knows, in the order of the docs.
pub static COMMANDS: &[Spec] = &[
    // strings
    spec!("SET", -3, Replayed, S, true, first, string::set, "NX/XX/GET/EX/PX/EXAT/PXAT/KEEPTTL, Valkey 8.1 IFEQ; 7.0+ propagate EX/PX as PXAT"),
    spec!("SETNX", 3, Replayed, S, false, first, string::setnx, ""),
    spec!("SETEX", 4, Replayed, S, true, first, string::setex, "relative TTL from the AOF's #TS or the replay time; servers propagate SET ... PXAT (7.0+) or SET + PEXPIREAT"),
    spec!("PSETEX", 4, Replayed, S, true, first, string::setex, "as SETEX"),
    spec!("GETSET", 3, Replayed, S, false, first, string::getset, "6.2+ propagate SET"),
    spec!("GETDEL", 2, Rewritten, S, false, first, string::getdel, "propagated as DEL"),
    spec!("GETEX", -2, Rewritten, S, false, first, string::getex, "propagated as PEXPIREAT/PERSIST"),
    spec!("MSET", -3, Replayed, S, true, pairs, string::mset, ""),
    spec!("MSETNX", -3, Replayed, S, false, pairs, string::msetnx, ""),
    spec!("APPEND", 3, Replayed, S, false, first, string::append, ""),
    spec!("SETRANGE", 4, Replayed, S, false, first, string::setrange, "512 MB limit and the replay memory budget checked before growing"),
    spec!("INCR", 2, Replayed, S, false, first, string::incr, ""),
    spec!("DECR", 2, Replayed, S, false, first, string::incr, ""),
    spec!("INCRBY", 3, Replayed, S, false, first, string::incr, ""),
    spec!("DECRBY", 3, Replayed, S, false, first, string::incr, ""),
    spec!("INCRBYFLOAT", 3, Rewritten, S, false, first, string::incrbyfloat, "propagated as SET (7.0+: SET ... KEEPTTL) of the result; a verbatim one is formatted like ld2string in double precision"),
    spec!("SETBIT", 4, Replayed, S, false, first, bits::setbit, ""),
    Spec {
        store: true,
        ..spec!("BITOP", -4, Replayed, S, false, bitop_keys, bits::bitop, "AND/OR/XOR/NOT")
    },
    spec!("BITFIELD", -2, Replayed, S, false, first, bits::bitfield, "SET/INCRBY with OVERFLOW WRAP/SAT/FAIL"),
    // HyperLogLog
    spec!("PFADD", -2, Replayed, S, false, first, hll::pfadd, "the HLL string bytes as Redis writes them (sparse, dense past hll-sparse-max-bytes 3000, the default)"),
    spec!("PFMERGE", -2, Replayed, S, false, all, hll::pfmerge, "as PFADD"),
    spec!("PFCOUNT", -2, Replayed, S, false, all, hll::pfcount, "stores the cached cardinality of a single HLL"),
    spec!("PFDEBUG", -3, Replayed, S, false, pfdebug_keys, hll::pfdebug, "TODENSE/GETREG convert an HLL to dense"),
    // lists
    spec!("LPUSH", -3, Replayed, L, false, first, list::lpush, ""),
    spec!("RPUSH", -3, Replayed, L, false, first, list::lpush, ""),
    spec!("LPUSHX", -3, Replayed, L, false, first, list::lpush, ""),
    spec!("RPUSHX", -3, Replayed, L, false, first, list::lpush, ""),
    spec!("LPOP", -2, Replayed, L, false, first, list::lpop, "with COUNT (6.2+)"),
    spec!("RPOP", -2, Replayed, L, false, first, list::lpop, "with COUNT (6.2+)"),
    spec!("BLPOP", -3, Rewritten, L, false, all_but_last, list::blpop, "propagated as LPOP"),
    spec!("BRPOP", -3, Rewritten, L, false, all_but_last, list::blpop, "propagated as RPOP"),
    spec!("LMPOP", -4, Rewritten, L, false, numkeys0, list::lmpop, "propagated as LPOP/RPOP key count"),
    spec!("BLMPOP", -5, Rewritten, L, false, blmpop_keys, list::lmpop, "propagated as LPOP/RPOP key count"),
    spec!("RPOPLPUSH", 3, Replayed, L, false, first2, list::lmove, ""),
    spec!("BRPOPLPUSH", 4, Rewritten, L, false, first2, list::lmove, "propagated as RPOPLPUSH"),
    spec!("LMOVE", 5, Replayed, L, false, first2, list::lmove, ""),
    spec!("BLMOVE", 6, Rewritten, L, false, first2, list::lmove, "propagated as LMOVE"),
    spec!("LSET", 4, Replayed, L, false, first, list::lset, ""),
    spec!("LINSERT", 5, Replayed, L, false, first, list::linsert, ""),
    spec!("LREM", 4, Replayed, L, false, first, list::lrem, ""),
    spec!("LTRIM", 4, Replayed, L, false, first, list::ltrim, ""),
    // sets
    spec!("SADD", -3, Replayed, SE, false, first, set::sadd, ""),
    spec!("SREM", -3, Replayed, SE, false, first, set::srem, ""),
    spec!("SMOVE", 4, Replayed, SE, false, first2, set::smove, ""),
    spec!("SPOP", -2, Unknown, SE, false, first, set::spop, "3.2+ propagate SREM/DEL/UNLINK of what was popped; a verbatim SPOP (older) is random"),
    Spec {
        store: true,
        ..spec!("SINTERSTORE", -3, Replayed, SE, false, all, set::sstore, "")
    },
    Spec {
        store: true,
        ..spec!("SUNIONSTORE", -3, Replayed, SE, false, all, set::sstore, "")
    },
    Spec {
        store: true,
        ..spec!("SDIFFSTORE", -3, Replayed, SE, false, all, set::sstore, "")
    },
    // sorted sets
    spec!("ZADD", -4, Replayed, Z, false, first, zset::zadd, "NX/XX/GT/LT/CH/INCR"),
    spec!("ZINCRBY", 4, Replayed, Z, false, first, zset::zincrby, "double arithmetic like the server"),
    spec!("ZREM", -3, Replayed, Z, false, first, zset::zrem, ""),
    spec!("ZREMRANGEBYSCORE", 4, Replayed, Z, false, first, zset::zremrange, ""),
    spec!("ZREMRANGEBYRANK", 4, Replayed, Z, false, first, zset::zremrange, ""),
    spec!("ZREMRANGEBYLEX", 4, Replayed, Z, false, first, zset::zremrange, ""),
    spec!("ZPOPMIN", -2, Replayed, Z, false, first, zset::zpop, ""),
    spec!("ZPOPMAX", -2, Replayed, Z, false, first, zset::zpop, ""),
    spec!("BZPOPMIN", -3, Rewritten, Z, false, all_but_last, zset::bzpop, "propagated as ZPOPMIN"),
    spec!("BZPOPMAX", -3, Rewritten, Z, false, all_but_last, zset::bzpop, "propagated as ZPOPMAX"),
    spec!("ZMPOP", -4, Rewritten, Z, false, numkeys0, zset::zmpop, "propagated as ZPOPMIN/ZPOPMAX key count"),
    spec!("BZMPOP", -5, Rewritten, Z, false, blmpop_keys, zset::zmpop, "propagated as ZPOPMIN/ZPOPMAX key count"),
    Spec {
        store: true,
        ..spec!("ZUNIONSTORE", -4, Replayed, Z, false, dst_numkeys, zset::zstore, "WEIGHTS, AGGREGATE; sets count as score 1")
    },
    Spec {
        store: true,
        ..spec!("ZINTERSTORE", -4, Replayed, Z, false, dst_numkeys, zset::zstore, "WEIGHTS, AGGREGATE; sets count as score 1")
    },
    Spec {
        store: true,
        ..spec!("ZDIFFSTORE", -4, Replayed, Z, false, dst_numkeys, zset::zstore, "")
    },
    Spec {
        store: true,
        ..spec!("ZRANGESTORE", -5, Replayed, Z, false, first2, zset::zrangestore, "by rank, BYSCORE, BYLEX, REV, LIMIT")
    },
    spec!("GEOADD", -5, Rewritten, Z, false, first, zset::geoadd, "3.2+ propagate ZADD of the geohash scores"),
    Spec {
        store: true,
        ..spec!("GEORADIUS", -6, Replayed, Z, false, with_store, zset::geostore, "with STORE/STOREDIST (ANY, or COUNT cutting between equal distances: value-unknown)")
    },
    Spec {
        store: true,
        ..spec!("GEORADIUSBYMEMBER", -5, Replayed, Z, false, with_store, zset::geostore, "as GEORADIUS")
    },
    Spec {
        store: true,
        ..spec!("GEOSEARCHSTORE", -8, Replayed, Z, false, first2, zset::geostore, "FROMMEMBER/FROMLONLAT, BYRADIUS/BYBOX, COUNT, STOREDIST (as GEORADIUS)")
    },
    // hashes
    spec!("HSET", -4, Replayed, H, false, first, hash::hset, "a field set loses its TTL"),
    spec!("HMSET", -4, Replayed, H, false, first, hash::hset, ""),
    spec!("HSETNX", 4, Replayed, H, false, first, hash::hsetnx, ""),
    spec!("HDEL", -3, Replayed, H, false, first, hash::hdel, ""),
    spec!("HINCRBY", 4, Replayed, H, false, first, hash::hincrby, ""),
    spec!("HINCRBYFLOAT", 4, Rewritten, H, false, first, hash::hincrbyfloat, "propagated as HSET of the result"),
    spec!("HEXPIRE", -6, Rewritten, H, false, first, hash::hexpire, "7.4+: propagated as HPEXPIREAT (HDEL when already past)"),
    spec!("HPEXPIRE", -6, Rewritten, H, false, first, hash::hexpire, "7.4+: propagated as HPEXPIREAT"),
    spec!("HEXPIREAT", -6, Rewritten, H, false, first, hash::hexpire, "7.4+: propagated as HPEXPIREAT"),
    spec!("HPEXPIREAT", -6, Replayed, H, false, first, hash::hexpire, "7.4+, NX/XX/GT/LT"),
    spec!("HPERSIST", -5, Replayed, H, false, first, hash::hpersist, "7.4+"),
    spec!("HSETEX", -6, Replayed, H, false, first, hash::hsetex, "8.0+, FNX/FXX, EX/PX/EXAT/PXAT/KEEPTTL"),
    spec!("HGETEX", -5, Rewritten, H, false, first, hash::hgetex, "8.0+: propagated as HPEXPIREAT/HPERSIST/HDEL"),
    spec!("HGETDEL", -5, Rewritten, H, false, first, hash::hgetdel, "8.0+: propagated as HDEL"),
    // streams
    spec!("XADD", -5, Replayed, X, false, first, stream::xadd, "NOMKSTREAM, MAXLEN/MINID = (servers rewrite ~ to = and * to the id)"),
    spec!("XTRIM", -4, Replayed, X, false, first, stream::xtrim, "exact trimming (servers rewrite ~)"),
    spec!("XDEL", -3, Replayed, X, false, first, stream::xdel, "max_deleted_id and first_id like 7.0+"),
    spec!("XSETID", -3, Replayed, X, false, first, stream::xsetid, "ENTRIESADDED/MAXDELETEDID (7.0+)"),
    Spec {
        subs: &["CREATE", "SETID", "DESTROY", "CREATECONSUMER", "DELCONSUMER"],
        ..spec!("XGROUP", -2, Replayed, X, false, xgroup_keys, stream::xgroup, "MKSTREAM, ENTRIESREAD (7.0+)")
    },
    spec!("XCLAIM", -6, Replayed, X, false, first, stream::xclaim, "the form servers propagate for XREADGROUP/XCLAIM/XAUTOCLAIM (TIME, RETRYCOUNT, FORCE, JUSTID, LASTID)"),
    spec!("XACK", -4, Replayed, X, false, first, stream::xack, ""),
    spec!("XACKDEL", -6, Unknown, X, false, first, stream::xreadgroup, "8.2+, not replayed"),
    spec!("XREADGROUP", -7, Unknown, X, false, none, stream::xreadgroup, "never propagated as itself (XCLAIM, XGROUP SETID/CREATECONSUMER)"),
    spec!("XAUTOCLAIM", -6, Unknown, X, false, first, stream::xreadgroup, "never propagated as itself (XCLAIM)"),
    // keyspace
    spec!("DEL", -2, Replayed, None, true, all, ks::del, "also what servers write for expired and evicted keys"),
    spec!("UNLINK", -2, Replayed, None, true, all, ks::del, ""),
    spec!("EXPIRE", -3, Replayed, None, true, first, ks::expire, "relative: from the AOF's #TS or the replay time; servers propagate PEXPIREAT"),
    spec!("PEXPIRE", -3, Replayed, None, true, first, ks::expire, "as EXPIRE"),
    spec!("EXPIREAT", -3, Replayed, None, true, first, ks::expire, ""),
    spec!("PEXPIREAT", -3, Replayed, None, true, first, ks::expire, "NX/XX/GT/LT (7.0+)"),
    spec!("PERSIST", 2, Replayed, None, true, first, ks::persist, ""),
    spec!("RENAME", 3, Replayed, None, true, first2, ks::rename, "the TTL moves with the value"),
    spec!("RENAMENX", 3, Replayed, None, true, first2, ks::rename, ""),
    spec!("MOVE", 3, Replayed, None, true, none, ks::move_key, ""),
    spec!("COPY", -3, Replayed, None, true, first2, ks::copy, "DB, REPLACE (6.2+)"),
    spec!("SWAPDB", 3, Replayed, None, true, none, ks::swapdb, ""),
    spec!("FLUSHDB", -1, Replayed, None, true, none, ks::flushdb, ""),
    spec!("FLUSHALL", -1, Replayed, None, true, none, ks::flushall, ""),
    spec!("SELECT", 2, Replayed, None, true, none, ks::select, ""),
    spec!("RESTORE", -4, Replayed, None, true, first, ks::restore, "the DUMP payload decoded by the RDB decoder (CRC checked); REPLACE, ABSTTL"),
    spec!("RESTORE-ASKING", -4, Replayed, None, true, first, ks::restore, "as RESTORE"),
    spec!("MIGRATE", -6, Rewritten, None, true, migrate_keys, ks::migrate, "propagated as DEL of the migrated keys"),
    Spec {
        store: true,
        ..spec!("SORT", -2, Replayed, L, false, sort_keys, ks::sort, "with STORE (numeric or binary ALPHA order, BY, GET, LIMIT)")
    },
    Spec {
        subs: &["LOAD", "DELETE", "FLUSH", "RESTORE"],
        ..spec!("FUNCTION", -2, Replayed, None, true, none, ks::function, "7.0+")
    },
    spec!("EVAL", -3, Unknown, None, false, numkeys1, ks::script, "Redis < 5 wrote scripts verbatim; later servers propagate their effects"),
    spec!("EVALSHA", -3, Unknown, None, false, numkeys1, ks::script, "as EVAL"),
    spec!("EVAL_RO", -3, NoEffect, None, true, none, ks::noop, "read-only"),
    spec!("EVALSHA_RO", -3, NoEffect, None, true, none, ks::noop, "read-only"),
    spec!("FCALL", -3, Unknown, None, false, numkeys1, ks::script, "servers propagate the effects"),
    spec!("FCALL_RO", -3, NoEffect, None, true, none, ks::noop, "read-only"),
    spec!("SCRIPT", -2, NoEffect, None, true, none, ks::noop, "SCRIPT LOAD/FLUSH (Redis < 5 AOFs)"),
    spec!("PING", -1, NoEffect, None, true, none, ks::noop, ""),
    spec!("MULTI", 1, NoEffect, None, true, none, ks::noop, "transactions are applied at EXEC; an unfinished one is dropped like the server does"),
    spec!("EXEC", 1, NoEffect, None, true, none, ks::noop, ""),
];

/// Write commands the servers have that never reach an AOF as themselves, or change nothing
/// an RDB or this model holds, with the reason (for the coverage listing and test).
pub static NOT_PROPAGATED: &[(&str, &str)] = &[];

/// The row of a command (upper-case name).
pub fn lookup(name: &str) -> Option<&'static Spec> {
    COMMANDS.iter().find(|s| s.name == name)
}

/// The space-separated names of the commands replayed (kinds Replayed and Rewritten).
pub fn supported() -> String {
    COMMANDS
        .iter()
        .filter(|s| matches!(s.kind, Kind::Replayed | Kind::Rewritten))
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The table as Markdown (README section "Replayed commands").
pub fn markdown() -> String {
    let mut s = String::from("| command | replay | notes |\n| --- | --- | --- |\n");
    for c in COMMANDS {
        let name = if c.subs.is_empty() {
            format!("`{}`", c.name)
        } else {
            format!("`{}` {}", c.name, c.subs.join("/"))
        };
        s.push_str(&format!("| {name} | {} | {} |\n", c.kind.word(), c.note));
    }
    s
}

/// Prints the table for `rdbkit replay-commands`.
pub fn print(plain: bool) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = String::new();
    if plain {
        for c in COMMANDS {
            out.push_str(&format!(
                "{}\t{}\t{}\n",
                c.name,
                c.kind.word(),
                c.subs.join(" ")
            ));
        }
        for (n, why) in NOT_PROPAGATED {
            out.push_str(&format!("{n}\tnot propagated: {why}\t\n"));
        }
    } else {
        out = markdown();
    }
    std::io::stdout().write_all(out.as_bytes())
}
