//! # rdbkit-rdb
//!
//! A zero-copy, streaming decoder for Redis and Valkey RDB files: every version Redis 2.x
//! through 8.x and Valkey write, every opcode, type and compact encoding, with the trailing
//! CRC-64/REDIS verified and an optional deep validation equivalent to Redis's
//! `sanitize-dump-payload`.
//!
//! * **Sources**: [`RdbFile`] (a memory map), [`RdbParser`] (any slice) and [`RdbReader`]
//!   (any `io::Read`, buffering only the current record) yield the same [`Record`]s through a
//!   lending `next()`; [`RecordSource`] abstracts over them.
//! * **Records** borrow from the input: AUX, SELECTDB, RESIZEDB, SLOT_INFO, MODULE_AUX,
//!   functions, KEY_META / SLOT_IMPORT, keys ([`KeyRecord`]) and EOF with its
//!   [`ChecksumStatus`]. Key attributes (expire, LRU idle, LFU freq) are folded into the key.
//! * **Values** ([`Value`]) are located by walking lengths only; nothing is decoded or
//!   decompressed until asked: [`Value::view`] (zero-copy listpack/ziplist/intset/zipmap views),
//!   [`Value::quicklist_nodes`], [`Value::module`], or [`Value::visit`] with a [`Visitor`] for
//!   every type, streams included.
//! * **Owned values**: [`Value::to_owned_value`] gives the logical content as an
//!   [`OwnedValue`] (string, list, set, zset, hash with field TTLs, stream with its metadata
//!   and groups, module, array), whatever the encoding.
//! * **Writing** (cargo feature `write`): `write::RdbWriter` writes RDB files for a chosen
//!   target version/fork (pass-through or re-encoded into the target's own encodings), and
//!   `write::dump_payload` builds `DUMP`/`RESTORE` payloads.
//! * **Which byte means what** depends on magic and version ([`version`]): Redis and Valkey
//!   disagree on type 22 and opcodes 242 and 243.
//! * **Errors** ([`Error`]) carry the absolute byte offset, db and key.
//!
//! ```no_run
//! use rdbkit_rdb::{RdbFile, Options, Record};
//! let file = RdbFile::open("dump.rdb")?;
//! let mut parser = file.parser(Options::default());
//! while let Some(rec) = parser.next() {
//!     if let Record::Key(k) = rec? {
//!         println!("db {} key {:?} type {}", k.db, String::from_utf8_lossy(k.key), k.value.ty.family());
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod dups;
pub mod entry;
mod file;

// Compact encodings, each a zero-copy view over one blob.
pub mod crc64;
pub mod intset;
pub mod listpack;
pub mod lzf;
mod map_guard;
pub mod ziplist;
pub mod zipmap;

// The RDB format proper.
pub mod array;
pub mod cursor;
pub mod error;
pub mod hash;
pub mod length;
pub mod module;
pub mod owned;
pub mod parallel;
pub mod parser;
mod prefix;
pub mod quicklist;
mod record;
pub mod records;
pub mod source;
pub mod stream;
pub mod string;
pub mod template;
mod unit;
pub mod value;
pub mod version;
mod visit;
mod walk;
#[cfg(feature = "write")]
pub mod write;

pub use array::ArrayValue;
pub use entry::{BlobError, Entry, IntBuf};
pub use error::{Error, ErrorKind};
pub use file::{allow_mapping, mapping_allowed, RdbFile};
pub use module::{ModuleId, ModuleItem};
pub use owned::{
    HashField, OwnedArray, OwnedArrayValue, OwnedConsumer, OwnedGroup, OwnedModule,
    OwnedModuleItem, OwnedStream, OwnedValue, PendingEntry,
};
pub use parser::RdbParser;
pub use prefix::{check_rdb_prefix, PrefixSummary};
pub use record::{ChecksumStatus, Header, KeyRecord, Options, Record};
pub use records::{Item, Key, Records};
pub use source::{RdbReader, RecordSource};
pub use stream::node::StreamId;
pub use stream::{GroupMeta, StreamMeta};
pub use string::RdbString;
pub use template::HashTemplates;
pub use value::{ModulePayload, Value, View};
pub use version::{Dialect, Family, Magic, Type, UnknownFamily};
pub use visit::{stop, Scratch, VisitResult, Visitor};

/// Whether `head` starts with an RDB magic (`REDIS`, or Valkey 9's `VALKEY`): the one test
/// every rdbkit tool uses to tell an RDB (or an AOF's RDB preamble) from other content. It
/// says nothing about the version digits that follow.
pub fn is_rdb_magic(head: &[u8]) -> bool {
    head.starts_with(b"REDIS") || head.starts_with(b"VALKEY")
}
