//! Which byte means what, per fork and version, as data.
//!
//! The type-byte position of an RDB holds either an opcode (250..255 and friends) or a value
//! type. Most bytes mean the same in every file that can contain them, but Redis and Valkey
//! diverged: type 22 is Redis's pre-GA `HASH_METADATA` but Valkey 9's `HASH_2`, opcode 243
//! is Redis 8.6's `KEY_META` but Valkey 9's `SLOT_IMPORT`, and opcode 242 is Redis 8.10's
//! `HASH_TEMPLATE` but Valkey 9.2's `UPDATE`. [`Dialect`] (magic + version) picks
//! the row of the `TYPES` / `OPCODES` tables that applies.

use std::fmt;

/// The 5- or 6-byte signature at the start of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Magic {
    /// `REDIS` + 4 digits.
    Redis,
    /// `VALKEY` + 3 digits (Valkey 9+).
    Valkey,
}

impl fmt::Display for Magic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Magic::Redis => "REDIS",
            Magic::Valkey => "VALKEY",
        })
    }
}

/// Newest Redis RDB version this build has tables for (Redis 8.10).
pub const REDIS_MAX_VERSION: u32 = 15;
/// Newest Valkey RDB version (Valkey 9.2).
pub const VALKEY_MAX_VERSION: u32 = 81;
/// Valkey reserves 12..=79 as Redis-private ("foreign") versions.
pub const VALKEY_FOREIGN_MIN: u32 = 12;
/// The last of the versions Valkey reserves as Redis-private.
pub const VALKEY_FOREIGN_MAX: u32 = 79;

/// Which family of tables a file is read with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fork {
    /// `REDIS` magic: Redis 1..=15 (and Valkey <= 8, which wrote 11 and below).
    Redis,
    /// `VALKEY` magic, version 80+.
    Valkey,
}

/// Magic + version: everything the byte tables depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dialect {
    /// `REDIS` or `VALKEY`.
    pub magic: Magic,
    /// The version digits.
    pub version: u32,
    /// Which fork's meaning the bytes take.
    pub fork: Fork,
    /// True when the version is newer than this build knows and the file is read with the
    /// newest tables anyway (`Options::best_effort`).
    pub beyond_known: bool,
}

impl Dialect {
    /// The dialect for a header, or `None` when this build does not know the version.
    pub fn new(magic: Magic, version: u32) -> Option<Dialect> {
        let fork = match magic {
            Magic::Redis if (1..=REDIS_MAX_VERSION).contains(&version) => Fork::Redis,
            Magic::Valkey if (80..=VALKEY_MAX_VERSION).contains(&version) => Fork::Valkey,
            _ => return None,
        };
        Some(Dialect {
            magic,
            version,
            fork,
            beyond_known: false,
        })
    }

    /// The newest tables of the fork the magic names, for a version this build does not know.
    pub fn best_effort(magic: Magic, version: u32) -> Dialect {
        let fork = match magic {
            Magic::Valkey => Fork::Valkey,
            Magic::Redis => Fork::Redis,
        };
        Dialect {
            magic,
            version,
            fork,
            beyond_known: true,
        }
    }

    /// [`lookup`](Self::lookup) for every byte at once (what the parser indexes per record).
    /// One pass over the rows, last to first, so that the first applicable row of a byte is
    /// the one left (as [`lookup`](Self::lookup) finds it): every parser builds this table
    /// once, and a byte-by-byte scan of the rows cost ~100 k instructions per parser (most of
    /// the work of reading a small file, e.g. the fuzz re-encoding checks' one-key files).
    pub fn table(&self) -> [Lookup; 256] {
        let mut t = [Lookup::Unknown; 256];
        for row in OPCODES.iter().chain(TYPES.iter()).rev() {
            if self.row_applies(row) {
                t[usize::from(row.byte)] = row.meaning();
            }
        }
        t
    }

    /// What byte `byte` means where a type or opcode is expected.
    pub fn lookup(&self, byte: u8) -> Lookup {
        OPCODES
            .iter()
            .chain(TYPES.iter())
            .find(|row| row.byte == byte && self.row_applies(row))
            .map_or(Lookup::Unknown, Row::meaning)
    }

    fn row_applies(&self, row: &Row) -> bool {
        // Redis's loader does not gate shared types/opcodes by version (files written by
        // patched or third-party writers use them early), so neither do we; `since` documents.
        match row.fork {
            Only::Both => true,
            Only::Redis => {
                self.fork == Fork::Redis && (self.beyond_known || self.version >= row.since)
            }
            Only::Valkey => {
                self.fork == Fork::Valkey && (self.beyond_known || self.version >= row.since)
            }
        }
    }

    /// Valkey files may still carry Redis 7.4's SLOT_INFO: Valkey skips it.
    pub fn has_crc(&self) -> bool {
        self.version >= 5
    }
}

/// Result of looking a type-position byte up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// An opcode.
    Opcode(Opcode),
    /// A value type.
    Type(Type),
    /// Defined by the format, but this build does not read it; the name says what it is.
    Unsupported(&'static str),
    /// Not defined by any known dialect.
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Only {
    Both,
    Redis,
    Valkey,
}

#[derive(Clone, Copy, Debug)]
enum What {
    Op(Opcode),
    Type(Type),
    Unsupported(&'static str),
}

#[derive(Clone, Copy, Debug)]
struct Row {
    byte: u8,
    fork: Only,
    /// First version (of that fork, or the Redis numbering for `Both`) that writes it.
    since: u32,
    what: What,
}

impl Row {
    /// What the byte means where this row applies.
    fn meaning(&self) -> Lookup {
        match self.what {
            What::Op(op) => Lookup::Opcode(op),
            What::Type(t) => Lookup::Type(t),
            What::Unsupported(name) => Lookup::Unsupported(name),
        }
    }
}

const fn op(byte: u8, fork: Only, since: u32, o: Opcode) -> Row {
    Row {
        byte,
        fork,
        since,
        what: What::Op(o),
    }
}
const fn ty(byte: u8, fork: Only, since: u32, t: Type) -> Row {
    Row {
        byte,
        fork,
        since,
        what: What::Type(t),
    }
}
const fn unsup(byte: u8, fork: Only, since: u32, name: &'static str) -> Row {
    Row {
        byte,
        fork,
        since,
        what: What::Unsupported(name),
    }
}

/// Opcodes (Redis `RDB_OPCODE_*`, Valkey additions, Redis Enterprise extensions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// 0xFF: end of the RDB.
    Eof,
    /// 0xFE: select a database.
    SelectDb,
    /// 0xFD: expiry in seconds for the next key.
    ExpireTime,
    /// 0xFC: expiry in ms for the next key.
    ExpireTimeMs,
    /// 0xFB: db size hints.
    ResizeDb,
    /// 0xFA: an AUX field.
    Aux,
    /// 0xF9: LFU frequency for the next key.
    Freq,
    /// 0xF8: LRU idle time for the next key.
    Idle,
    /// 0xF7: a module's AUX payload.
    ModuleAux,
    /// 0xF6: a Redis 7.0 RC function.
    FunctionPreGa,
    /// 0xF5: a function library.
    Function2,
    /// 0xF4: cluster slot size hints.
    SlotInfo,
    /// Redis 8.6+: key metadata before a key.
    KeyMeta,
    /// Valkey 9+: atomic slot migration job.
    SlotImport,
    /// Redis 8.10+ (RDB 15): one hash template (id, sorted field names) that later
    /// `HASH_TMPL_*_REF` values point at.
    HashTemplate,
    /// Redis Enterprise `RAM_LRU` (107): one length.
    EnterpriseRamLru,
    /// Redis Enterprise `SLOT_NUM` (121): one length.
    EnterpriseSlotNum,
}

// Order matters only where two rows share a byte: the first that applies wins.
static OPCODES: &[Row] = &[
    op(255, Only::Both, 1, Opcode::Eof),
    op(254, Only::Both, 1, Opcode::SelectDb),
    op(253, Only::Both, 1, Opcode::ExpireTime),
    op(252, Only::Both, 3, Opcode::ExpireTimeMs),
    op(251, Only::Both, 7, Opcode::ResizeDb),
    op(250, Only::Both, 7, Opcode::Aux),
    op(249, Only::Both, 9, Opcode::Freq),
    op(248, Only::Both, 9, Opcode::Idle),
    op(247, Only::Both, 9, Opcode::ModuleAux),
    op(246, Only::Both, 10, Opcode::FunctionPreGa),
    op(245, Only::Both, 10, Opcode::Function2),
    op(244, Only::Redis, 12, Opcode::SlotInfo),
    op(244, Only::Valkey, 80, Opcode::SlotInfo),
    op(243, Only::Redis, 13, Opcode::KeyMeta),
    op(243, Only::Valkey, 80, Opcode::SlotImport),
    op(242, Only::Redis, 15, Opcode::HashTemplate),
    // Seen only in unmerged forkless-save drafts (an inline RESP command, replication streams
    // only); no loader source to verify it against.
    unsup(
        242,
        Only::Valkey,
        81,
        "Valkey 9.2 UPDATE opcode 242 (layout not verified)",
    ),
    op(121, Only::Redis, 1, Opcode::EnterpriseSlotNum),
    op(107, Only::Redis, 1, Opcode::EnterpriseRamLru),
];

/// Value types (`RDB_TYPE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Type {
    /// Type 0: a string.
    String,
    /// Type 1: a linked list.
    ListLinked,
    /// Type 2: a set.
    Set,
    /// Type 3: member + ASCII score.
    ZsetText,
    /// Type 4: a hash.
    Hash,
    /// Type 5: member + binary double.
    Zset2,
    /// Type 6: a module value of the 4.0 RCs.
    ModulePreGa,
    /// Type 7: a module value.
    Module2,
    /// Type 9: a zipmap hash.
    HashZipmap,
    /// Type 10: a ziplist list.
    ListZiplist,
    /// Type 11: an intset.
    SetIntset,
    /// Type 12: a ziplist zset.
    ZsetZiplist,
    /// Type 13: a ziplist hash.
    HashZiplist,
    /// Type 14: a quicklist of ziplists.
    ListQuicklist,
    /// Type 15: a stream (v1).
    StreamListpacks,
    /// Type 16: a listpack hash.
    HashListpack,
    /// Type 17: a listpack zset.
    ZsetListpack,
    /// Type 18: a quicklist of listpacks.
    ListQuicklist2,
    /// Type 19: a stream (v2, 7.0).
    StreamListpacks2,
    /// Type 20: a listpack set.
    SetListpack,
    /// Type 21: a stream (v3, 7.2).
    StreamListpacks3,
    /// Redis 22 (7.4 RCs): per-field absolute TTL before field, no min-expire.
    HashMetadataPreGa,
    /// Redis 23 (7.4 RCs): listpack of (field, value, ttl), no min-expire.
    HashListpackExPreGa,
    /// Redis 24: min-expire, then (relative ttl, field, value).
    HashMetadata,
    /// Redis 25: min-expire, then listpack of (field, value, ttl).
    HashListpackEx,
    /// Redis 26 (8.6): v3 + IDMP trailer.
    StreamListpacks4,
    /// Redis 27 (8.8): v4 + a NACK zone per consumer group.
    StreamListpacks5,
    /// Redis 28 (8.8): sparse array: count, optional insert index, (index, tagged value)s.
    Array,
    /// Redis 29 (8.10, DUMP form): inline field names, then a values listpack.
    HashTmplLp,
    /// Redis 30 (8.10, RDB form): a values listpack whose first entry is a template id.
    HashTmplLpRef,
    /// Redis 31 (8.10, DUMP form): inline field names, then one string per value.
    HashTmplArray,
    /// Redis 32 (8.10, RDB form): a template id, then one string per template field.
    HashTmplArrayRef,
    /// Valkey 22: (field, value, int64 expiry, -1 = none).
    ValkeyHash2,
}

/// A value's logical type, as Redis's `TYPE` names it: what [`Type`]s (encodings) of one
/// family have in common.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Family {
    /// `string`.
    String,
    /// `list`.
    List,
    /// `set`.
    Set,
    /// `zset` (sorted set).
    Zset,
    /// `hash`.
    Hash,
    /// `stream`.
    Stream,
    /// Redis 8.8 sparse arrays.
    Array,
    /// A module type's value.
    Module,
}

impl Family {
    /// Redis's name (`string`, `list`, `set`, `zset`, `hash`, `stream`, `array`, `module`).
    pub fn as_str(self) -> &'static str {
        match self {
            Family::String => "string",
            Family::List => "list",
            Family::Set => "set",
            Family::Zset => "zset",
            Family::Hash => "hash",
            Family::Stream => "stream",
            Family::Array => "array",
            Family::Module => "module",
        }
    }

    /// Every family.
    pub const ALL: [Family; 8] = [
        Family::String,
        Family::List,
        Family::Set,
        Family::Zset,
        Family::Hash,
        Family::Stream,
        Family::Array,
        Family::Module,
    ];
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `--type string|list|...` on a command line (cargo feature `clap`).
#[cfg(feature = "clap")]
impl clap::ValueEnum for Family {
    fn value_variants<'a>() -> &'a [Self] {
        &Family::ALL
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

/// The name is not one of [`Family::as_str`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown type family {0:?} (expected string, list, set, zset, hash, stream, array or module)"
)]
pub struct UnknownFamily(pub String);

impl std::str::FromStr for Family {
    type Err = UnknownFamily;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Family::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFamily(s.to_string()))
    }
}

impl Type {
    /// The typed family ([`Type::family`] is its name).
    pub fn family_kind(self) -> Family {
        match self.family() {
            "string" => Family::String,
            "list" => Family::List,
            "set" => Family::Set,
            "zset" => Family::Zset,
            "hash" => Family::Hash,
            "stream" => Family::Stream,
            "array" => Family::Array,
            _ => Family::Module,
        }
    }

    /// Redis's family name (`type` of `TYPE key`).
    pub fn family(self) -> &'static str {
        use Type::*;
        match self {
            String => "string",
            ListLinked | ListZiplist | ListQuicklist | ListQuicklist2 => "list",
            Set | SetIntset | SetListpack => "set",
            ZsetText | Zset2 | ZsetZiplist | ZsetListpack => "zset",
            Hash | HashZipmap | HashZiplist | HashListpack | HashMetadataPreGa
            | HashListpackExPreGa | HashMetadata | HashListpackEx | ValkeyHash2 | HashTmplLp
            | HashTmplLpRef | HashTmplArray | HashTmplArrayRef => "hash",
            StreamListpacks | StreamListpacks2 | StreamListpacks3 | StreamListpacks4
            | StreamListpacks5 => "stream",
            Array => "array",
            ModulePreGa | Module2 => "module",
        }
    }

    /// Stream format generation (1..=5), 0 for other types.
    pub fn stream_version(self) -> u8 {
        match self {
            Type::StreamListpacks => 1,
            Type::StreamListpacks2 => 2,
            Type::StreamListpacks3 => 3,
            Type::StreamListpacks4 => 4,
            Type::StreamListpacks5 => 5,
            _ => 0,
        }
    }
}

static TYPES: &[Row] = &[
    ty(0, Only::Both, 1, Type::String),
    ty(1, Only::Both, 1, Type::ListLinked),
    ty(2, Only::Both, 1, Type::Set),
    ty(3, Only::Both, 1, Type::ZsetText),
    ty(4, Only::Both, 1, Type::Hash),
    ty(5, Only::Both, 8, Type::Zset2),
    ty(6, Only::Both, 8, Type::ModulePreGa),
    ty(7, Only::Both, 8, Type::Module2),
    // Zipmap/ziplist/intset came with 2.4 (RDB 2), but 2.4 still wrote REDIS0001 for some builds.
    ty(9, Only::Both, 1, Type::HashZipmap),
    ty(10, Only::Both, 1, Type::ListZiplist),
    ty(11, Only::Both, 1, Type::SetIntset),
    ty(12, Only::Both, 1, Type::ZsetZiplist),
    ty(13, Only::Both, 1, Type::HashZiplist),
    ty(14, Only::Both, 7, Type::ListQuicklist),
    ty(15, Only::Both, 9, Type::StreamListpacks),
    ty(16, Only::Both, 10, Type::HashListpack),
    ty(17, Only::Both, 10, Type::ZsetListpack),
    ty(18, Only::Both, 10, Type::ListQuicklist2),
    ty(19, Only::Both, 10, Type::StreamListpacks2),
    ty(20, Only::Both, 11, Type::SetListpack),
    ty(21, Only::Both, 11, Type::StreamListpacks3),
    ty(22, Only::Redis, 12, Type::HashMetadataPreGa),
    ty(22, Only::Valkey, 80, Type::ValkeyHash2),
    ty(23, Only::Redis, 12, Type::HashListpackExPreGa),
    unsup(
        23,
        Only::Valkey,
        81,
        "unsupported type 23 (Valkey 9.2 PATH_HASH): layout not verified",
    ),
    ty(24, Only::Redis, 12, Type::HashMetadata),
    ty(25, Only::Redis, 12, Type::HashListpackEx),
    ty(26, Only::Redis, 13, Type::StreamListpacks4),
    ty(27, Only::Redis, 14, Type::StreamListpacks5),
    ty(28, Only::Redis, 14, Type::Array),
    ty(29, Only::Redis, 15, Type::HashTmplLp),
    ty(30, Only::Redis, 15, Type::HashTmplLpRef),
    ty(31, Only::Redis, 15, Type::HashTmplArray),
    ty(32, Only::Redis, 15, Type::HashTmplArrayRef),
    unsup(
        33,
        Only::Redis,
        15,
        "unsupported type 33 (Redis Enterprise GCRA): not an open format",
    ),
    // KeyDB's one private object type (scheduled scripts); its layout is not verified here.
    unsup(
        64,
        Only::Redis,
        9,
        "unsupported type 64 (KeyDB CRON): a KeyDB-only type, not in Redis or Valkey files",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The table built in one pass over the rows says what the row-by-row lookup says, for
    /// every byte of every dialect (both forks, every version, the tables past the newest).
    #[test]
    fn table_is_lookup_for_every_byte() {
        let mut dialects = Vec::new();
        for v in 1..=REDIS_MAX_VERSION + 1 {
            dialects.extend(Dialect::new(Magic::Redis, v));
            dialects.push(Dialect::best_effort(Magic::Redis, v));
        }
        for v in 80..=VALKEY_MAX_VERSION + 1 {
            dialects.extend(Dialect::new(Magic::Valkey, v));
            dialects.push(Dialect::best_effort(Magic::Valkey, v));
        }
        assert!(dialects.len() > 30);
        for d in dialects {
            let t = d.table();
            for b in 0..=255u8 {
                assert_eq!(t[usize::from(b)], d.lookup(b), "{d:?} byte {b}");
            }
        }
    }

    #[test]
    fn forks_disagree_on_22_and_243() {
        let r12 = Dialect::new(Magic::Redis, 12).unwrap();
        let r13 = Dialect::new(Magic::Redis, 13).unwrap();
        let v80 = Dialect::new(Magic::Valkey, 80).unwrap();
        assert_eq!(r12.lookup(22), Lookup::Type(Type::HashMetadataPreGa));
        assert_eq!(v80.lookup(22), Lookup::Type(Type::ValkeyHash2));
        assert_eq!(r13.lookup(243), Lookup::Opcode(Opcode::KeyMeta));
        assert_eq!(v80.lookup(243), Lookup::Opcode(Opcode::SlotImport));
        assert_eq!(r12.lookup(243), Lookup::Unknown);
        assert_eq!(v80.lookup(24), Lookup::Unknown);
        assert_eq!(v80.lookup(21), Lookup::Type(Type::StreamListpacks3));
        let r14 = Dialect::new(Magic::Redis, 14).unwrap();
        let r15 = Dialect::new(Magic::Redis, 15).unwrap();
        let v81 = Dialect::new(Magic::Valkey, 81).unwrap();
        assert_eq!(r14.lookup(28), Lookup::Type(Type::Array));
        assert_eq!(r14.lookup(27), Lookup::Type(Type::StreamListpacks5));
        assert_eq!(r15.lookup(32), Lookup::Type(Type::HashTmplArrayRef));
        assert!(matches!(r15.lookup(33), Lookup::Unsupported(_)));
        // 242: Redis 8.10 HASH_TEMPLATE, Valkey 9.2 UPDATE (refused), nothing before
        assert_eq!(r15.lookup(242), Lookup::Opcode(Opcode::HashTemplate));
        assert_eq!(r14.lookup(242), Lookup::Unknown);
        assert!(matches!(v81.lookup(242), Lookup::Unsupported(_)));
        assert!(matches!(v81.lookup(23), Lookup::Unsupported(_)));
        assert_eq!(v81.lookup(28), Lookup::Unknown);
    }

    #[test]
    fn versions_gate_types() {
        let r6 = Dialect::new(Magic::Redis, 6).unwrap();
        // shared bytes are not version-gated (as in Redis's loader)
        assert_eq!(r6.lookup(250), Lookup::Opcode(Opcode::Aux));
        assert_eq!(r6.lookup(255), Lookup::Opcode(Opcode::Eof));
        // fork-specific ones are
        assert_eq!(r6.lookup(24), Lookup::Unknown);
        assert_eq!(r6.lookup(243), Lookup::Unknown);
        assert!(Dialect::new(Magic::Redis, 16).is_none());
        assert!(Dialect::new(Magic::Redis, 0).is_none());
        assert!(Dialect::new(Magic::Valkey, 11).is_none());
        let be = Dialect::best_effort(Magic::Redis, 99);
        assert_eq!(be.lookup(26), Lookup::Type(Type::StreamListpacks4));
    }
}

#[cfg(all(test, feature = "clap"))]
mod clap_tests {
    use super::Family;

    #[test]
    fn every_family_is_a_command_line_value() {
        for f in Family::ALL {
            assert_eq!(
                <Family as clap::ValueEnum>::from_str(f.as_str(), false),
                Ok(f)
            );
        }
        assert!(<Family as clap::ValueEnum>::from_str("arrays", false).is_err());
    }
}
