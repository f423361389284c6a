//! # rdbkit-rdb
//!
//! A zero-copy, streaming decoder for Redis and Valkey RDB files: every version Redis 2.x
//! through 8.x and Valkey write, every opcode, type and compact encoding, with the trailing
//! CRC-64/REDIS verified and an optional deep validation equivalent to Redis's
//! `sanitize-dump-payload`.

pub mod entry;

// Compact encodings, each a zero-copy view over one blob.
pub mod crc64;
pub mod intset;
pub mod listpack;
pub mod lzf;
pub mod ziplist;
pub mod zipmap;

// Temporary until stream/mod.rs exists (R2 owns it and will declare `pub mod node;` there).
pub mod stream {
    pub mod node;
}

pub use entry::{BlobError, Entry, IntBuf};
