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
    /// mismatch is an [`ErrorKind::ChecksumMismatch`] error, not a status.)
    NotChecked(u64),
}

/// The 9-byte header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub magic: Magic,
    pub version: u32,
    pub dialect: Dialect,
}

/// A key with its attributes and its (lazily decoded) value.
#[derive(Clone, Copy, Debug)]
pub struct KeyRecord<'r> {
    pub db: u64,
    pub key: &'r [u8],
    pub expire_ms: Option<i64>,
    pub lru_idle: Option<u64>,
    pub lfu_freq: Option<u8>,
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
    Aux {
        key: Cow<'r, [u8]>,
        value: Cow<'r, [u8]>,
    },
    SelectDb {
        db: u64,
    },
    ResizeDb {
        db_size: u64,
        expires_size: u64,
    },
    SlotInfo {
        slot: u64,
        size: u64,
        expires_size: u64,
    },
    ModuleAux {
        module: ModuleId,
        when: u64,
        payload: ModulePayload<'r>,
    },
    Function {
        code: Cow<'r, [u8]>,
    },
    /// Redis 7.0 release-candidate function (opcode 246): one function, not a library.
    FunctionPreGa {
        name: Cow<'r, [u8]>,
        engine: Cow<'r, [u8]>,
        code: Cow<'r, [u8]>,
    },
    /// Redis 8.6+ key metadata for the next key (class specs + module-style payloads, raw).
    KeyMeta {
        classes: u64,
        raw: &'r [u8],
    },
    /// Valkey 9 atomic slot migration job.
    SlotImport {
        job: Cow<'r, [u8]>,
        ranges: Vec<(u64, u64)>,
    },
    /// Redis 8.10 hash template (opcode 242): the field names later template-encoded hashes
    /// (types 30, 32) refer to by `id`. The parser keeps them and resolves those hashes.
    HashTemplate {
        id: u64,
        fields: &'r TemplateFields,
    },
    /// Redis Enterprise opcode 107 (RAM_LRU) or 121 (SLOT_NUM), when enabled.
    EnterpriseOpcode {
        opcode: u8,
        value: u64,
    },
    Key(KeyRecord<'r>),
    Eof {
        offset: u64,
        checksum: ChecksumStatus,
        end: u64,
    },
}
