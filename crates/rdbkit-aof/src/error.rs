//! Errors: each names the file and, where there is one, the byte offset.

use std::path::{Path, PathBuf};

use crate::manifest::ManifestError;
use crate::rdb_prefix::RdbPrefixError;
use crate::resp::RespError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: bad AOF manifest: {source}", path.display())]
    Manifest {
        path: PathBuf,
        source: ManifestError,
    },
    #[error("{}: RDB part is not sane: {source}", path.display())]
    Rdb {
        path: PathBuf,
        source: RdbPrefixError,
    },
    /// The RDB part (preamble or base) is damaged, read by [`crate::Aof::items`]: the
    /// decoder's error (offset, db, key and kind intact) is the `source()`.
    #[error("{}: RDB part: {source}", path.display())]
    RdbData {
        path: PathBuf,
        source: Box<rdbkit_rdb::Error>,
    },
    #[error("{}: {source}", path.display())]
    Resp { path: PathBuf, source: RespError },
    #[error("{}: no AOF found (no manifest, no appendonlydir/, no appendonly.aof)", .0.display())]
    NoAof(PathBuf),
    #[error("{}: {message}", path.display())]
    Refused { path: PathBuf, message: String },
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// `strerror(errno)` for an I/O error, without Rust's " (os error N)" suffix.
pub fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s.get(..i).unwrap_or(&s).to_string(),
        None => s,
    }
}
