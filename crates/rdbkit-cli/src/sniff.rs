//! The one sniffer of rdbkit: the kind of an input from its first (decompressed) bytes, never
//! from its name. A leaf: [`crate::input`] (opening any input) and [`crate::archive`] (the
//! members of a tar archive) both classify with it.

use rdbkit_rdb::{Options, RdbParser, Record};

/// What an input holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An RDB snapshot (`REDIS` / `VALKEY` magic).
    Rdb,
    /// A single AOF file: RESP, maybe after an RDB preamble.
    Aof,
    /// A 7.x multi-part AOF manifest.
    Manifest,
    /// An `appendonlydir/` (or the data directory holding it): found by [`crate::input`],
    /// never by the bytes.
    Dir,
}

impl Kind {
    /// The name `info` and `verify` print.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Rdb => "rdb",
            Kind::Aof => "aof",
            Kind::Manifest => "aof-manifest",
            Kind::Dir => "aof-dir",
        }
    }
}

/// The kind of data that starts with `head` (decompressed), or `None` when it is neither an
/// RDB, an AOF nor a manifest. The one sniffer of rdbkit: every subcommand and `verify` use it.
pub fn kind_of(head: &[u8]) -> Option<Kind> {
    if rdbkit_rdb::is_rdb_magic(head) {
        return Some(if says_aof_preamble(head) {
            Kind::Aof
        } else {
            Kind::Rdb
        });
    }
    if rdbkit_aof::manifest::looks_like_manifest(head) {
        return Some(Kind::Manifest);
    }
    match head.first() {
        Some(b'*') | Some(b'#') => Some(Kind::Aof),
        _ => None,
    }
}

/// Whether an RDB's leading aux fields say `aof-preamble 1`: Redis 4.0–6.2 write it into the
/// RDB image that starts a rewritten single-file AOF (and 0 into a `dump.rdb`), so the file is
/// an AOF whose RESP tail must be read too. (7.x writes `aof-base` into a multi-part base,
/// which is a whole RDB on its own.) Aux fields come first; the scan stops at the first other
/// record or at the end of `head`.
fn says_aof_preamble(head: &[u8]) -> bool {
    aux_is(head, b"aof-preamble", b"1")
}

/// Whether the leading aux fields of the RDB that starts with `head` set `key` to `value`
/// (the scan stops at the first other record or at the end of `head`).
pub fn aux_is(head: &[u8], key: &[u8], value: &[u8]) -> bool {
    let opts = Options::default()
        .deep(false)
        .verify_checksum(false)
        .best_effort(true);
    let mut p = RdbParser::new(head, opts);
    while let Some(Ok(Record::Aux { key: k, value: v })) = p.next() {
        if k.as_ref() == key {
            return v.as_ref() == value;
        }
    }
    false
}
