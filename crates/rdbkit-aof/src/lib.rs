//! # rdbkit-aof
//!
//! Reads Redis/Valkey append-only files in every layout, and checks and fixes them with the same
//! verdicts and truncation points as `redis-check-aof`.
//!
//! - [`Aof`]: open any layout, iterate the whole data set ([`AofItem`]), get the verdict;
//! - [`resp`]: zero-copy command reader (over a memory map or any `io::Read`) with the tool's
//!   exact grammar;
//! - [`manifest`]: the 7.x manifest with the server's rules;
//! - [`multipart`]: which files make up a data set, in load order;
//! - [`parts`]: a data set checked part by part in load order (archives, parallel checks);
//! - [`check`]: the strict `redis-check-aof` 7.4 verdict and the server's lenient one on load;
//! - [`fix`]: truncation under a lock, re-verified right before the cut (with an optional saved
//!   tail, fsync'd);
//! - [`writers`]: running-server detection (other processes writing the AOF; Linux);
//! - [`timestamp`]: `#TS:` annotations and `--truncate-to-timestamp`;
//! - [`dump`]: commands out as JSON lines or RESP;
//! - [`stream`]: both verdicts on an AOF read from a pipe, in bounded memory;
//! - [`drop_in`]: a drop-in `redis-check-aof`.

#![deny(missing_docs)]

mod aof;
mod cnum;
mod commands;

pub mod check;
pub mod drop_in;
pub mod dump;
pub mod error;
pub mod escape;
pub mod fix;
pub mod manifest;
pub mod multipart;
pub mod parts;
pub mod rdb_prefix;
pub mod report;
pub mod resp;
pub mod stream;
pub mod timestamp;
pub mod writers;

pub use aof::{Aof, AofItem, Cut, Items, RdbKey, Verdict};
pub use error::Error;
