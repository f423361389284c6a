//! The RDB part of an AOF (an old-style preamble or a 7.x `.base.rdb`), validated by
//! `rdbkit-rdb`, which also tells where the RESP tail begins (just past the CRC-64 trailer).

pub use rdbkit_rdb::ChecksumStatus;

/// What the RDB part held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdbPrefix {
    /// Length of the RDB part, through the CRC-64 trailer: the RESP tail starts here.
    pub len: usize,
    /// The RDB version.
    pub version: u32,
    /// Keys read.
    pub keys: u64,
    /// What the CRC-64 trailer says.
    pub checksum: ChecksumStatus,
}

/// Why the RDB part is not sane.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", offset.map(|o| format!("at byte offset {o}: ")).unwrap_or_default())]
pub struct RdbPrefixError {
    /// Where the decoder stopped, when known.
    pub offset: Option<u64>,
    /// What is wrong.
    pub message: String,
}

/// Validates the RDB at the start of `data` (`deep`: sanitize payloads too, as
/// redis-check-aof's RDB checker does), with its CRC-64.
pub fn check(data: &[u8], deep: bool) -> Result<RdbPrefix, RdbPrefixError> {
    match rdbkit_rdb::check_rdb_prefix(data, deep) {
        Ok(s) => Ok(RdbPrefix {
            len: s.len,
            version: s.version,
            keys: s.keys,
            checksum: s.checksum,
        }),
        Err(e) => {
            let mut message = e.kind.to_string();
            if let Some(k) = &e.key {
                message.push_str(&format!(" (key {:?})", String::from_utf8_lossy(k)));
            }
            Err(RdbPrefixError {
                offset: Some(e.offset),
                message,
            })
        }
    }
}
