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
//! * **Which byte means what** depends on magic and version ([`Dialect`], [`Type`]): Redis and Valkey
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

#![deny(missing_docs)]

// The layout: every module is private; what a user needs is re-exported below, once, at the
// root (as gimli-rs/object's `read` does). `internals` gives benches, fuzz checks and the CLI
// the low-level pieces (cursor, length and string codecs, encoders) without making them API.
//
// Reading a file: `file` (RdbFile: bytes in memory or mapped, with `map_guard`), `source`
// (RdbReader over any io::Read, RecordSource, ValueBudget), `parser` (RdbParser over a slice)
// on `unit` (the unit state machine shared by both), `records` (the Iterator), `record` (what
// they yield, Options), `prefix` (an AOF's RDB preamble), `parallel` (the deep check on
// every core). Values: `value` (Value, View), `visit` (Visitor, Scratch: the leaf the
// encodings import), `types` (StreamId, StreamMeta, GroupMeta, ArrayValue: the plain data the
// visitor hands out, a leaf below `visit`), `walk` (the dispatch over every type), `owned`
// (OwnedValue). No module imports one that imports it back: `.ci/import_circles.py`. Formats,
// each in its own module: `cursor`, `length`, `string`, `lzf`, `crc64`, `entry`, `listpack`,
// `ziplist`, `intset`, `zipmap`, `quicklist`, `hash`, `template`, `array`, `module`,
// `stream` (+ `stream::node`), `version` (dispatch tables as data), `dups` (duplicates).

mod array;
mod crc64;
mod cursor;
mod dups;
mod entry;
mod error;
mod file;
mod hash;
mod intset;
mod length;
mod listpack;
mod lzf;
mod map_guard;
mod module;
mod owned;
pub mod parallel;
mod parser;
mod prefix;
mod quicklist;
mod record;
mod records;
mod source;
mod stream;
mod string;
mod template;
#[doc(hidden)]
pub mod trace;
mod types;
mod unit;
mod value;
mod version;
mod visit;
mod walk;
#[cfg(feature = "write")]
pub mod write;
mod ziplist;
mod zipmap;

pub use entry::{BlobError, Entry, IntBuf};
pub use error::{Error, ErrorKind, Result};
pub use file::{allow_mapping, mapping_allowed, RdbFile};
pub use intset::{Intset, IntsetIter};
pub use listpack::{Listpack, ListpackIter};
pub use module::{ModuleId, ModuleItem};
pub use owned::{
    HashField, OwnedArray, OwnedArrayValue, OwnedConsumer, OwnedGroup, OwnedModule,
    OwnedModuleItem, OwnedStream, OwnedValue, PendingEntry, StreamEntryOwned,
};
pub use parser::RdbParser;
pub use prefix::{check_rdb_prefix, PrefixSummary};
pub use quicklist::{Node as QuicklistNode, Nodes as QuicklistNodes};
pub use record::{ChecksumStatus, Header, KeyRecord, Options, Record};
pub use records::{Item, Key, Records};
pub use source::{
    LeanRun, RdbReader, RecordSource, ValueBudget, DEFAULT_HOLD_UP_TO, DEFAULT_MAX_VALUE_BYTES,
};
pub use string::RdbString;
pub use template::{HashTemplates, TemplateFields};
pub use types::{ArrayValue, GroupMeta, StreamId, StreamMeta};
pub use value::{ModulePayload, Value, View};
pub use version::{Dialect, Family, Fork, Magic, Type, UnknownFamily};
pub use visit::{stop, NoVisitor, Scratch, VisitResult, Visitor};
pub use ziplist::{Ziplist, ZiplistIter};
pub use zipmap::{Zipmap, ZipmapIter};

/// Low-level pieces for rdbkit's own benches, fuzz checks, tests and CLI: the byte cursor, the
/// length and string codecs, the compact-encoding modules with their encoders. Not part of the
/// API: anything here may change in any release.
#[doc(hidden)]
#[allow(missing_docs)]
pub mod internals {
    pub use crate::cursor::Cursor;
    pub use crate::error::write_key_repr;
    /// Unmaps a map, a big one's pages released on two threads (also `rdbkit-aof`'s part maps).
    pub use crate::file::unmap;
    pub mod crc64 {
        pub use crate::crc64::*;
    }
    pub mod entry {
        pub use crate::entry::*;
    }
    pub mod intset {
        pub use crate::intset::*;
    }
    pub mod length {
        pub use crate::length::*;
    }
    pub mod listpack {
        pub use crate::listpack::*;
    }
    pub mod lzf {
        pub use crate::lzf::*;
    }
    pub mod module {
        pub use crate::module::*;
    }
    pub mod quicklist {
        pub use crate::quicklist::*;
    }
    pub mod stream {
        pub use crate::stream::node::*;
        pub use crate::stream::*;
    }
    pub mod string {
        pub use crate::string::*;
    }
    pub mod version {
        pub use crate::version::*;
    }
    pub mod ziplist {
        pub use crate::ziplist::*;
    }
    pub mod zipmap {
        pub use crate::zipmap::*;
    }
}

/// Whether `head` starts with an RDB magic (`REDIS`, or Valkey 9's `VALKEY`): the one test
/// every rdbkit tool uses to tell an RDB (or an AOF's RDB preamble) from other content. It
/// says nothing about the version digits that follow.
pub fn is_rdb_magic(head: &[u8]) -> bool {
    head.starts_with(b"REDIS") || head.starts_with(b"VALKEY")
}
