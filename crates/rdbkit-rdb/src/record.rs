//! What a file is made of: the [`Record`]s a source yields (keys with their attributes,
//! opcodes, EOF with its [`ChecksumStatus`]), the [`Header`], and the [`Options`] that say how to
//! read it.

use std::borrow::Cow;

use crate::module::ModuleId;
use crate::template::TemplateFields;
use crate::value::{ModulePayload, Value};
use crate::version::{Dialect, Magic};

/// How to read a file. Built from [`Options::default`] (shallow, checksum verified) with the
/// builder methods, so that a future option is not a breaking change:
///
/// ```
/// use rdbkit_rdb::Options;
/// let opts = Options::default().deep(true).enterprise(true);
/// assert!(opts.deep && opts.verify_checksum && opts.enterprise && !opts.best_effort);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Validate every compact encoding and value the way Redis's `sanitize-dump-payload yes`
    /// does (slower: every value is decoded).
    pub deep: bool,
    /// Compare the CRC-64 trailer with the data (a mismatch is an error).
    pub verify_checksum: bool,
    /// Read a version newer than this build knows with the newest tables, stopping at the
    /// first unknown byte.
    pub best_effort: bool,
    /// Accept Redis Enterprise opcodes 107 (RAM_LRU) and 121 (SLOT_NUM) instead of failing
    /// (open-source Redis cannot load them).
    pub enterprise: bool,
}

impl Options {
    /// The defaults, usable in a `const`: shallow, checksum verified, known versions only, no
    /// Enterprise opcodes (the same as [`Options::default`]).
    pub const fn new() -> Self {
        Options {
            deep: false,
            verify_checksum: true,
            best_effort: false,
            enterprise: false,
        }
    }
    /// Sets [`deep`](Self::deep): validate every value as `sanitize-dump-payload yes` does.
    #[must_use]
    pub const fn deep(mut self, yes: bool) -> Self {
        self.deep = yes;
        self
    }
    /// Sets [`verify_checksum`](Self::verify_checksum): compare the CRC-64 trailer.
    #[must_use]
    pub const fn verify_checksum(mut self, yes: bool) -> Self {
        self.verify_checksum = yes;
        self
    }
    /// Sets [`best_effort`](Self::best_effort): read newer versions with the newest tables.
    #[must_use]
    pub const fn best_effort(mut self, yes: bool) -> Self {
        self.best_effort = yes;
        self
    }
    /// Sets [`enterprise`](Self::enterprise): accept Redis Enterprise opcodes 107 and 121.
    #[must_use]
    pub const fn enterprise(mut self, yes: bool) -> Self {
        self.enterprise = yes;
        self
    }
}

impl Default for Options {
    fn default() -> Self {
        Options::new()
    }
}

/// What the CRC-64 trailer says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumStatus {
    /// The trailer matches the data.
    Verified(u64),
    /// The trailer is 0: the writer had `rdbchecksum no`.
    Disabled,
    /// RDB < 5: there is no trailer.
    NotPresent,
    /// Not compared (`verify_checksum: false`); the trailer value. (With verification on, a
    /// mismatch is an [`crate::ErrorKind::ChecksumMismatch`] error, not a status.)
    NotChecked(u64),
}

/// The 9-byte header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// `REDIS` or `VALKEY`.
    pub magic: Magic,
    /// The version digits.
    pub version: u32,
    /// What each type and opcode byte means for this magic and version.
    pub dialect: Dialect,
}

/// A key with its attributes and its (lazily decoded) value.
#[derive(Clone, Copy, Debug)]
pub struct KeyRecord<'r> {
    /// The database (the last SELECTDB; 0 when none).
    pub db: u64,
    /// The key's bytes as stored (decompressed into the parser's buffer when LZF).
    pub key: &'r [u8],
    /// Absolute expiry, Unix ms (EXPIRETIME/EXPIRETIME_MS before the key).
    pub expire_ms: Option<i64>,
    /// LRU idle time in seconds (IDLE before the key).
    pub lru_idle: Option<u64>,
    /// LFU frequency (FREQ before the key).
    pub lfu_freq: Option<u8>,
    /// The value, decoded on demand.
    pub value: Value<'r>,
    /// File offset of the first attribute (expire/idle/freq) or of the type byte.
    pub offset: u64,
    /// File offset just past the value.
    pub end: u64,
}

/// One thing in the file.
#[derive(Debug)]
#[non_exhaustive]
pub enum Record<'r> {
    /// An AUX field (`redis-ver`, `ctime`, ...).
    Aux {
        /// The field name.
        key: Cow<'r, [u8]>,
        /// The field value.
        value: Cow<'r, [u8]>,
    },
    /// SELECTDB: the keys after it are in `db`.
    SelectDb {
        /// The database number.
        db: u64,
    },
    /// RESIZEDB: the db's size hints.
    ResizeDb {
        /// Keys in the db.
        db_size: u64,
        /// Keys with an expiry.
        expires_size: u64,
    },
    /// SLOT_INFO (cluster): a slot's size hints.
    SlotInfo {
        /// The slot.
        slot: u64,
        /// Keys in the slot.
        size: u64,
        /// Keys with an expiry in the slot.
        expires_size: u64,
    },
    /// MODULE_AUX: a module's auxiliary payload.
    ModuleAux {
        /// The module type.
        module: ModuleId,
        /// When the module asked for it to be saved (before or after the keys).
        when: u64,
        /// The payload, walked on demand.
        payload: ModulePayload<'r>,
    },
    /// A function library's code (Redis 7.0+).
    Function {
        /// The library's code.
        code: Cow<'r, [u8]>,
    },
    /// Redis 7.0 release-candidate function (opcode 246): one function, not a library.
    FunctionPreGa {
        /// The function's name.
        name: Cow<'r, [u8]>,
        /// The engine (`LUA`).
        engine: Cow<'r, [u8]>,
        /// The function's code.
        code: Cow<'r, [u8]>,
    },
    /// Redis 8.6+ key metadata for the next key (class specs + module-style payloads, raw).
    KeyMeta {
        /// How many metadata classes follow.
        classes: u64,
        /// The metadata, undecoded.
        raw: &'r [u8],
    },
    /// Valkey 9 atomic slot migration job.
    SlotImport {
        /// The job's name.
        job: Cow<'r, [u8]>,
        /// The slot ranges (first, last) it imports.
        ranges: Vec<(u64, u64)>,
    },
    /// Redis 8.10 hash template (opcode 242): the field names later template-encoded hashes
    /// (types 30, 32) refer to by `id`. The parser keeps them and resolves those hashes.
    HashTemplate {
        /// The template id.
        id: u64,
        /// The field names.
        fields: &'r TemplateFields,
    },
    /// Redis Enterprise opcode 107 (RAM_LRU) or 121 (SLOT_NUM), when enabled.
    EnterpriseOpcode {
        /// The opcode byte.
        opcode: u8,
        /// Its value.
        value: u64,
    },
    /// A key with its attributes and value.
    Key(KeyRecord<'r>),
    /// The EOF opcode at `offset`, the checksum verdict, and the end of the RDB (past the trailer).
    Eof {
        /// File offset of the EOF opcode.
        offset: u64,
        /// What the CRC-64 trailer says.
        checksum: ChecksumStatus,
        /// File offset just past the RDB (its trailer included).
        end: u64,
    },
}
