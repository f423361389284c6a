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
        Err(e) => Err(prefix_error(&e)),
    }
}

/// The error of an RDB part, as [`check`] words it.
fn prefix_error(e: &rdbkit_rdb::Error) -> RdbPrefixError {
    let mut message = e.kind.to_string();
    if let Some(k) = &e.key {
        message.push_str(&format!(" (key {:?})", String::from_utf8_lossy(k)));
    }
    RdbPrefixError {
        offset: Some(e.offset),
        message,
    }
}

/// [`check`] of the RDB at the start of the stream `r`, read once, holding a record at a time
/// (`rdbkit_rdb::RdbReader`: its memory is the duplicate-key set of a deep check plus the
/// largest record; a string value over 16 MiB streams through). The same verdict, offsets and
/// messages as [`check`] of the same bytes. With it, the bytes read past the RDB (the first
/// bytes of the RESP tail, which `r` no longer holds); after an error, what follows the RDB
/// is unknown and left in `r`.
pub fn check_stream<R: std::io::Read>(
    r: R,
    deep: bool,
) -> (Result<RdbPrefix, RdbPrefixError>, Vec<u8>) {
    use rdbkit_rdb::{Options, RdbReader, Record};
    let opts = Options::default()
        .deep(deep)
        .verify_checksum(true)
        .best_effort(false);
    let mut p = RdbReader::new(r, opts);
    let mut keys = 0u64;
    let end = loop {
        match p.next() {
            Some(Ok(Record::Key(_))) => keys += 1,
            Some(Ok(Record::Eof { checksum, end, .. })) => break Ok((checksum, end)),
            Some(Ok(_)) => {}
            Some(Err(e)) => break Err(prefix_error(&e)),
            None => {
                // As the slice parser ends a file with no EOF opcode.
                let e = rdbkit_rdb::Error::new(
                    rdbkit_rdb::ErrorKind::Truncated {
                        what: "RDB (no EOF opcode)",
                        needed: 1,
                        left: 0,
                    },
                    p.position(),
                );
                break Err(prefix_error(&e));
            }
        }
    };
    match end {
        Ok((checksum, end)) => (
            Ok(RdbPrefix {
                len: end as usize,
                version: p.header().map_or(0, |h| h.version),
                keys,
                checksum,
            }),
            p.unread().to_vec(),
        ),
        Err(e) => (Err(e), Vec::new()),
    }
}
