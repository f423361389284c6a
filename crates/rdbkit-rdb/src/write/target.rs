//! Targets as data: which RDB version and magic a server loads, and the default encoding
//! thresholds its `SAVE` applies (each version's `redis.conf` / `src/config.c` defaults).
//!
//! | target | magic + version | servers | list | set | zset / hash small | stream |
//! |---|---|---|---|---|---|---|
//! | `rdb-6` | `REDIS0006` | Redis 2.6, 2.8, 3.0 | ziplist (512 entries / 64 B) or linkedlist | intset (512) or hashtable | ziplist 128/64, 512/64 | — |
//! | `rdb-7` | `REDIS0007` | Redis 3.2 | quicklist v1 (ziplist nodes, 8 KB) | intset or hashtable | ziplist | — |
//! | `rdb-8` | `REDIS0008` | Redis 4.0 | quicklist v1 | intset or hashtable | ziplist; big zsets as ZSET_2 | — |
//! | `rdb-9` | `REDIS0009` | Redis 5.0, 6.0, 6.2 | quicklist v1 | intset or hashtable | ziplist | v1 (type 15) |
//! | `rdb-10` | `REDIS0010` | Redis 7.0 | quicklist v2 (listpack nodes, 8 KB; PLAIN ≥ 1 GiB) | intset or hashtable | listpack | v2 (type 19) |
//! | `rdb-11` | `REDIS0011` | Redis 7.2, Valkey 7.2–8.1 | quicklist v2 | intset, listpack (128/64) or hashtable | listpack | v3 (type 21) |
//! | `rdb-12` | `REDIS0012` | Redis 7.4, 8.0–8.4 | quicklist v2 (PLAIN > 8 KB) | as 11 | listpack; field TTLs: listpackex (25) / metadata (24) | v3 |
//! | `rdb-13`..`rdb-15` | `REDIS0013`..`15` | Redis 8.6, 8.8, 8.10 | as 12 | as 12 | as 12 | v3 |
//! | `valkey-9.0` | `VALKEY080` | Valkey 9.0 | as 11 | as 11 | listpack; field TTLs: `HASH_2` (22) | v3 |

use crate::version::{Dialect, Lookup, Magic, Type};

/// Default encoding thresholds of a server version (its `SAVE` keeps values in these
/// encodings, so the writer re-encodes into them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// `hash-max-ziplist-entries` / `hash-max-listpack-entries`.
    pub hash_entries: usize,
    /// `hash-max-ziplist-value` / `hash-max-listpack-value` (bytes).
    pub hash_value: usize,
    /// `zset-max-ziplist-entries` / `zset-max-listpack-entries`.
    pub zset_entries: usize,
    /// `zset-max-ziplist-value` / `zset-max-listpack-value` (bytes).
    pub zset_value: usize,
    /// `set-max-intset-entries`.
    pub set_intset_entries: usize,
    /// `set-max-listpack-entries` (7.2+; 0 = no listpack sets).
    pub set_listpack_entries: usize,
    /// `set-max-listpack-value` (7.2+).
    pub set_listpack_value: usize,
    /// `list-max-ziplist-entries` (2.8: a list above it, or with a longer element, is a
    /// linked list).
    pub list_ziplist_entries: usize,
    /// `list-max-ziplist-value` (2.8).
    pub list_ziplist_value: usize,
    /// Quicklist node size limit in bytes (`list-max-ziplist-size` / `list-max-listpack-size`
    /// -2 = 8 KB).
    pub list_node_bytes: usize,
    /// Elements at least this big get a PLAIN quicklist node (quicklist v2 only).
    pub list_plain_threshold: usize,
    /// `stream-node-max-bytes`.
    pub stream_node_bytes: usize,
    /// `stream-node-max-entries`.
    pub stream_node_entries: usize,
}

const BASE: Thresholds = Thresholds {
    hash_entries: 512,
    hash_value: 64,
    zset_entries: 128,
    zset_value: 64,
    set_intset_entries: 512,
    set_listpack_entries: 0,
    set_listpack_value: 0,
    list_ziplist_entries: 512,
    list_ziplist_value: 64,
    list_node_bytes: 8192,
    list_plain_threshold: 1 << 30,
    stream_node_bytes: 4096,
    stream_node_entries: 100,
};

const V72: Thresholds = Thresholds {
    set_listpack_entries: 128,
    set_listpack_value: 64,
    ..BASE
};

const V74: Thresholds = Thresholds {
    // 7.4 puts every element above the node size limit (> 8192 bytes with the default -2,
    // quicklist.c isLargeElement) in its own PLAIN node.
    list_plain_threshold: 8193,
    ..V72
};

/// One writable target: magic, version, thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// The canonical name (`rdb-10`, `valkey-9.0`).
    pub name: &'static str,
    /// Header magic.
    pub magic: Magic,
    /// RDB version written in the header and in DUMP payloads.
    pub version: u32,
    /// The servers that write (and load) it.
    pub servers: &'static str,
    /// Default encoding thresholds.
    pub thresholds: Thresholds,
}

/// Every target the writer knows, oldest first.
pub static TARGETS: &[Target] = &[
    t("rdb-6", Magic::Redis, 6, "Redis 2.6, 2.8, 3.0", BASE),
    t("rdb-7", Magic::Redis, 7, "Redis 3.2", BASE),
    t("rdb-8", Magic::Redis, 8, "Redis 4.0", BASE),
    t("rdb-9", Magic::Redis, 9, "Redis 5.0, 6.0, 6.2", BASE),
    t("rdb-10", Magic::Redis, 10, "Redis 7.0", BASE),
    t(
        "rdb-11",
        Magic::Redis,
        11,
        "Redis 7.2, Valkey 7.2, 8.0, 8.1",
        V72,
    ),
    t("rdb-12", Magic::Redis, 12, "Redis 7.4, 8.0, 8.2, 8.4", V74),
    t("rdb-13", Magic::Redis, 13, "Redis 8.6", V74),
    t("rdb-14", Magic::Redis, 14, "Redis 8.8", V74),
    t("rdb-15", Magic::Redis, 15, "Redis 8.10", V74),
    t("valkey-9.0", Magic::Valkey, 80, "Valkey 9.0", V72),
];

const fn t(
    name: &'static str,
    magic: Magic,
    version: u32,
    servers: &'static str,
    thresholds: Thresholds,
) -> Target {
    Target {
        name,
        magic,
        version,
        servers,
        thresholds,
    }
}

/// Server names and the target each maps to.
pub static SERVER_NAMES: &[(&str, &str)] = &[
    ("redis-2.6", "rdb-6"),
    ("redis-2.8", "rdb-6"),
    ("redis-3.0", "rdb-6"),
    ("redis-3.2", "rdb-7"),
    ("redis-4.0", "rdb-8"),
    ("redis-5.0", "rdb-9"),
    ("redis-6.0", "rdb-9"),
    ("redis-6.2", "rdb-9"),
    ("redis-7.0", "rdb-10"),
    ("redis-7.2", "rdb-11"),
    ("redis-7.4", "rdb-12"),
    ("redis-8.0", "rdb-12"),
    ("redis-8.2", "rdb-12"),
    ("redis-8.4", "rdb-12"),
    ("redis-8.6", "rdb-13"),
    ("redis-8.8", "rdb-14"),
    ("redis-8.10", "rdb-15"),
    ("valkey-7.2", "rdb-11"),
    ("valkey-8.0", "rdb-11"),
    ("valkey-8.1", "rdb-11"),
    ("valkey-9.0", "valkey-9.0"),
];

impl Target {
    /// A target by name: `rdb-N`, a server name (`redis-6.2`, `valkey-8.1`), or `valkey-9.0`.
    pub fn by_name(name: &str) -> Option<Target> {
        let lower = name.to_ascii_lowercase();
        let canonical = SERVER_NAMES
            .iter()
            .find(|(s, _)| *s == lower)
            .map(|(_, t)| *t)
            .unwrap_or(lower.as_str());
        TARGETS.iter().find(|t| t.name == canonical).copied()
    }

    /// The target with this RDB version and magic.
    pub fn by_version(magic: Magic, version: u32) -> Option<Target> {
        TARGETS
            .iter()
            .find(|t| t.magic == magic && t.version == version)
            .copied()
    }

    /// The 9-byte header (`REDIS0011`, `VALKEY080`).
    pub fn header(&self) -> Vec<u8> {
        match self.magic {
            Magic::Redis => format!("REDIS{:04}", self.version).into_bytes(),
            Magic::Valkey => format!("VALKEY{:03}", self.version).into_bytes(),
        }
    }

    /// The dialect this target's files are read with.
    pub fn dialect(&self) -> Dialect {
        Dialect::new(self.magic, self.version).expect("every target is a known dialect")
    }

    /// True for the Valkey-magic targets.
    pub fn is_valkey(&self) -> bool {
        self.magic == Magic::Valkey
    }

    /// True when the target's loader reads value type `ty` (stored under `type_byte`), so a
    /// value stored that way can be copied byte for byte.
    pub fn reads(&self, ty: Type, type_byte: u8) -> bool {
        if matches!(
            ty,
            // Template hashes point at file-level templates; pre-GA layouts no GA loader reads.
            Type::HashTmplLp
                | Type::HashTmplLpRef
                | Type::HashTmplArray
                | Type::HashTmplArrayRef
                | Type::HashMetadataPreGa
                | Type::HashListpackExPreGa
                | Type::ModulePreGa
        ) {
            return false;
        }
        if self.dialect().lookup(type_byte) != Lookup::Type(ty) {
            return false;
        }
        // The type tables do not gate the shared types by version; the loaders of older
        // servers do (an unknown type is "Unknown RDB encoding type").
        self.version_has(ty)
    }

    fn version_has(&self, ty: Type) -> bool {
        let v = if self.is_valkey() { 11 } else { self.version };
        let since = match ty {
            Type::Zset2 | Type::Module2 => 8,
            Type::ListQuicklist => 7,
            Type::StreamListpacks => 9,
            Type::HashListpack
            | Type::ZsetListpack
            | Type::ListQuicklist2
            | Type::StreamListpacks2 => 10,
            Type::SetListpack | Type::StreamListpacks3 => 11,
            Type::HashMetadata | Type::HashListpackEx => 12,
            Type::StreamListpacks4 => 13,
            Type::StreamListpacks5 | Type::Array => 14,
            Type::ValkeyHash2 => return self.is_valkey(),
            _ => 1,
        };
        v >= since
    }

    /// Stream format generation written by re-encoding: 1 (RDB 9), 2 (RDB 10), 3 (RDB 11+),
    /// 0 when the target has no streams.
    pub fn stream_version(&self) -> u8 {
        match self.version {
            _ if self.is_valkey() => 3,
            0..=8 => 0,
            9 => 1,
            10 => 2,
            _ => 3,
        }
    }

    /// Functions (`FUNCTION2` opcode 245): RDB 10+.
    pub fn has_functions(&self) -> bool {
        self.is_valkey() || self.version >= 10
    }

    /// Module values (`MODULE_2`): RDB 8+; module AUX: RDB 9+.
    pub fn has_modules(&self) -> bool {
        self.is_valkey() || self.version >= 8
    }

    /// Hash field TTLs: Redis RDB 12+ (types 24/25) and Valkey 9 (`HASH_2`).
    pub fn has_field_ttl(&self) -> bool {
        self.is_valkey() || self.version >= 12
    }

    /// Redis 8.8 sparse arrays: RDB 14+.
    pub fn has_arrays(&self) -> bool {
        !self.is_valkey() && self.version >= 14
    }

    /// AUX fields, RESIZEDB: RDB 7+. (Older loaders stop at opcode 250.)
    pub fn has_aux(&self) -> bool {
        self.is_valkey() || self.version >= 7
    }

    /// LRU/LFU opcodes (IDLE 248, FREQ 249): RDB 9+.
    pub fn has_lru_lfu(&self) -> bool {
        self.is_valkey() || self.version >= 9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve() {
        assert_eq!(Target::by_name("redis-6.2").unwrap().version, 9);
        assert_eq!(Target::by_name("valkey-8.1").unwrap().version, 11);
        assert_eq!(Target::by_name("RDB-10").unwrap().name, "rdb-10");
        assert_eq!(
            Target::by_name("valkey-9.0").unwrap().header(),
            b"VALKEY080"
        );
        assert_eq!(Target::by_name("rdb-9").unwrap().header(), b"REDIS0009");
        assert!(Target::by_name("rdb-5").is_none());
        for (_, t) in SERVER_NAMES {
            assert!(Target::by_name(t).is_some(), "{t}");
        }
    }

    #[test]
    fn what_each_reads() {
        let r9 = Target::by_name("rdb-9").unwrap();
        let r10 = Target::by_name("rdb-10").unwrap();
        let v9 = Target::by_name("valkey-9.0").unwrap();
        assert!(r9.reads(Type::ListQuicklist, 14));
        assert!(!r9.reads(Type::ListQuicklist2, 18));
        assert!(r10.reads(Type::ListQuicklist2, 18));
        assert!(!r10.reads(Type::SetListpack, 20));
        assert!(v9.reads(Type::ValkeyHash2, 22));
        assert!(!v9.reads(Type::HashListpackEx, 25));
        assert!(!Target::by_name("rdb-12")
            .unwrap()
            .reads(Type::ValkeyHash2, 22));
    }
}
