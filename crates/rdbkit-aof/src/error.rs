//! Errors: each names the file and, where there is one, the byte offset.

use std::path::{Path, PathBuf};

use crate::manifest::ManifestError;
use crate::rdb_prefix::RdbPrefixError;
use crate::resp::RespError;

/// An AOF error: the file, and what went wrong there.
#[derive(Debug)]
pub enum Error {
    /// Reading a file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest is invalid.
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong with it.
        source: ManifestError,
    },
    /// The RDB part (preamble or base) is not sane.
    Rdb {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: RdbPrefixError,
    },
    /// The RDB part (preamble or base) is damaged, read by [`crate::Aof::items`]: the
    /// decoder's error (offset, db, key and kind intact) is the `source()` (boxed here to keep
    /// this error small; `source()` gives the `rdbkit_rdb::Error` itself).
    RdbData {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        source: Box<rdbkit_rdb::Error>,
    },
    /// The RESP part is damaged.
    Resp {
        /// The file.
        path: PathBuf,
        /// The framing error.
        source: RespError,
    },
    /// No AOF at this path (no file, no manifest in the directory).
    NoAof(PathBuf),
    /// The operation was refused (it would lose data or cannot be done safely); the message says why.
    Refused {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Manifest { path, source } => {
                write!(f, "{}: bad AOF manifest: {source}", path.display())
            }
            Error::Rdb { path, source } => {
                write!(f, "{}: RDB part is not sane: {source}", path.display())
            }
            Error::RdbData { path, source } => write!(f, "{}: RDB part: {source}", path.display()),
            Error::Resp { path, source } => write!(f, "{}: {source}", path.display()),
            Error::NoAof(path) => write!(
                f,
                "{}: no AOF found (no manifest, no appendonlydir/, no appendonly.aof)",
                path.display()
            ),
            Error::Refused { path, message } => write!(f, "{}: {message}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Manifest { source, .. } => Some(source),
            Error::Rdb { source, .. } => Some(source),
            Error::RdbData { source, .. } => Some(&**source),
            Error::Resp { source, .. } => Some(source),
            Error::NoAof(_) | Error::Refused { .. } => None,
        }
    }
}

impl Error {
    /// An I/O error on `path`.
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
