//! The decoder's error: what went wrong, at which absolute byte of the file, and in which db/key.

use std::fmt;

use crate::entry::BlobError;

/// What went wrong. The [`Error`] around it adds where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A fixed-size field runs past the end of the input.
    #[error("unexpected end of file: {what} needs {needed} bytes, only {left} left")]
    Truncated {
        /// The field.
        what: &'static str,
        /// Bytes it needs.
        needed: u64,
        /// Bytes left.
        left: u64,
    },
    /// A length prefix asks for more bytes than the input has left.
    #[error("{what} length {len} exceeds the {left} bytes left in the file")]
    BadLength {
        /// What the length is of.
        what: &'static str,
        /// The length read.
        len: u64,
        /// Bytes left.
        left: u64,
    },
    /// A length prefix that is malformed or impossible in its context.
    #[error("{0}")]
    BadEncoding(String),
    #[error("unknown value type {0}")]
    /// A type byte that no known dialect defines.
    UnknownType(u8),
    #[error("unknown opcode {0}")]
    /// An opcode byte that no known dialect defines.
    UnknownOpcode(u8),
    /// A type or opcode the format defines but this build cannot read (layout unverified,
    /// pre-release format, or a vendor extension that was not enabled).
    #[error("{0}")]
    Unsupported(String),
    #[error("bad magic: {0}")]
    /// The header is not `REDIS<digits>` or `VALKEY<digits>` (the reason).
    BadMagic(String),
    #[error("unsupported RDB version {0} (this build reads Redis 1-15 and Valkey 80-81; --best-effort reads newer files with the newest tables)")]
    /// A version newer than this build reads (without `best_effort`).
    UnsupportedVersion(u32),
    #[error("bad LZF data: {0}")]
    /// LZF-compressed data that does not decompress.
    Lzf(BlobError),
    /// A compact encoding (listpack, ziplist, intset, zipmap, stream node) is damaged.
    /// `blob_offset` is the file offset of the RDB string holding the blob.
    #[error("{err} (blob stored at byte {blob_offset}{})", if *.compressed { ", LZF-compressed: offset is in the decompressed bytes" } else { "" })]
    Blob {
        /// What is wrong inside the blob.
        err: BlobError,
        /// File offset of the RDB string holding the blob.
        blob_offset: u64,
        /// Whether the blob was LZF-compressed (then the blob error's offset is in the decompressed bytes).
        compressed: bool,
    },
    /// The CRC-64 trailer does not match the data.
    #[error("checksum mismatch: the file says {expected:016x}, the data gives {computed:016x}")]
    ChecksumMismatch {
        /// The trailer.
        expected: u64,
        /// The CRC-64 of the data.
        computed: u64,
    },
    #[error("I/O error: {0}")]
    /// Reading the input failed.
    Io(#[from] std::io::Error),
    #[error("{0}")]
    /// A value that decodes but breaks the format's rules (what Redis's sanitizer refuses).
    InvalidValue(String),
    /// A [`crate::Visitor`] callback asked to stop (returned [`crate::stop()`]): not damage of
    /// the file ([`crate::Value::walk`] turns it into [`std::ops::ControlFlow::Break`]).
    #[error("stopped by the visitor")]
    Stopped,
}

impl ErrorKind {
    /// True when the error only says "the input ended here": a streaming source reads more
    /// and tries again; at the real end of the input it is a truncated file.
    pub fn is_out_of_data(&self) -> bool {
        matches!(
            self,
            ErrorKind::Truncated { .. } | ErrorKind::BadLength { .. }
        )
    }
}

/// A decoding error with its place: the absolute byte offset in the file, and the db and key
/// being read when known.
#[derive(Debug)]
pub struct Error {
    /// What is wrong.
    pub kind: ErrorKind,
    /// Absolute byte offset in the input where it was found.
    pub offset: u64,
    /// The database of the key being read, when known.
    pub db: Option<u64>,
    /// The key being read, when known.
    pub key: Option<Vec<u8>>,
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    /// An I/O error (opening or reading the input) at offset 0.
    fn from(e: std::io::Error) -> Self {
        Error::new(ErrorKind::Io(e), 0)
    }
}

impl Error {
    /// True when the input ended too early: a fixed-size field or a length prefix runs past
    /// the end of the input (a truncated file, or a copy still being written), or the input
    /// ends before its EOF record.
    pub fn is_truncated(&self) -> bool {
        match &self.kind {
            ErrorKind::Truncated { .. } | ErrorKind::BadLength { .. } => true,
            ErrorKind::Io(e) => e.kind() == std::io::ErrorKind::UnexpectedEof,
            _ => false,
        }
    }

    /// True when a [`crate::Visitor`] stopped the walk ([`ErrorKind::Stopped`]): not damage.
    pub fn is_stopped(&self) -> bool {
        matches!(self.kind, ErrorKind::Stopped)
    }

    /// An error of `kind` at byte `offset` of the input.
    pub fn new(kind: ErrorKind, offset: u64) -> Self {
        Error {
            kind,
            offset,
            db: None,
            key: None,
        }
    }

    pub(crate) fn invalid(offset: u64, what: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidValue(what.into()), offset)
    }

    pub(crate) fn blob(err: BlobError, blob_offset: u64, compressed: bool) -> Self {
        // For an uncompressed blob the offset inside it maps onto the file directly.
        let offset = if compressed {
            blob_offset
        } else {
            blob_offset + err.offset as u64
        };
        Error::new(
            ErrorKind::Blob {
                err,
                blob_offset,
                compressed,
            },
            offset,
        )
    }

    /// Adds the db and key, unless already set by an inner layer.
    pub fn in_key(mut self, db: Option<u64>, key: &[u8]) -> Self {
        if self.db.is_none() {
            self.db = db;
        }
        if self.key.is_none() {
            self.key = Some(key.to_vec());
        }
        self
    }

    /// The same error in database `db` (when it has none yet).
    pub fn in_db(mut self, db: Option<u64>) -> Self {
        if self.db.is_none() {
            self.db = db;
        }
        self
    }
}

/// Writes `key` the way redis-cli shows binary strings: printable ASCII as is, the rest as
/// `\xHH`, cut after 64 bytes.
pub fn write_key_repr(f: &mut impl fmt::Write, key: &[u8]) -> fmt::Result {
    f.write_char('"')?;
    for &b in key.iter().take(64) {
        match b {
            b'"' => f.write_str("\\\"")?,
            b'\\' => f.write_str("\\\\")?,
            b'\n' => f.write_str("\\n")?,
            b'\r' => f.write_str("\\r")?,
            b'\t' => f.write_str("\\t")?,
            0x20..=0x7e => f.write_char(b as char)?,
            _ => write!(f, "\\x{b:02x}")?,
        }
    }
    if key.len() > 64 {
        write!(f, "...({} bytes)", key.len())?;
    }
    f.write_char('"')
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (ErrorKind::Io(e), 0, None, None) = (&self.kind, self.offset, self.db, &self.key) {
            // Opening or reading the input failed before any byte: the OS's words alone, as
            // `io::Error` shows them (`RdbFile::open` callers print it after the file name).
            return write!(f, "{e}");
        }
        write!(f, "at byte {}", self.offset)?;
        match (&self.db, &self.key) {
            (Some(db), Some(k)) => {
                write!(f, " (db {db}, key ")?;
                write_key_repr(f, k)?;
                f.write_str(")")?;
            }
            (None, Some(k)) => {
                f.write_str(" (key ")?;
                write_key_repr(f, k)?;
                f.write_str(")")?;
            }
            (Some(db), None) => write!(f, " (db {db})")?,
            (None, None) => {}
        }
        write!(f, ": {}", self.kind)
    }
}

/// A result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_offset_db_and_key() {
        let e = Error::new(
            ErrorKind::BadLength {
                what: "string",
                len: 3221225472,
                left: 212,
            },
            1234,
        )
        .in_key(Some(0), b"foo");
        assert_eq!(
            e.to_string(),
            "at byte 1234 (db 0, key \"foo\"): string length 3221225472 exceeds the 212 bytes left in the file"
        );
        let e = Error::new(ErrorKind::UnknownType(60), 9).in_key(None, b"a\x00\n");
        assert_eq!(
            e.to_string(),
            "at byte 9 (key \"a\\x00\\n\"): unknown value type 60"
        );
    }
}
