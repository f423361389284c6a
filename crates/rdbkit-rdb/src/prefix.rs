//! [`check_rdb_prefix`]: the RDB at the start of an AOF (its preamble, a `.base.rdb`), read
//! through its EOF and CRC trailer; a big deep check goes through [`crate::parallel`].

use crate::error::{Error, ErrorKind, Result};
use crate::parser::RdbParser;
use crate::record::{ChecksumStatus, Options, Record};

/// What [`check_rdb_prefix`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefixSummary {
    /// Bytes from 0 through the 8-byte CRC trailer (through the EOF byte when version < 5):
    /// whatever follows (an AOF's RESP tail) starts here.
    pub len: usize,
    /// The RDB version of the header.
    pub version: u32,
    /// Keys read.
    pub keys: u64,
    /// What the CRC-64 trailer says.
    pub checksum: ChecksumStatus,
}

/// Reads the RDB at the start of `data` (an AOF preamble, a `.base.rdb`) through its EOF and
/// CRC trailer, verifying the checksum, optionally with deep validation.
pub fn check_rdb_prefix(data: &[u8], deep: bool) -> Result<PrefixSummary> {
    // A big deep check validates values on every core (same verdict as the loop below).
    if deep && data.len() >= 8 << 20 {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let opts = Options::default()
            .deep(deep)
            .verify_checksum(true)
            .best_effort(false);
        let (mut keys, mut eof) = (0u64, None);
        let (header, r) = crate::parallel::check(data, opts, threads, |rec| match rec {
            Record::Key(_) => keys += 1,
            Record::Eof { checksum, end, .. } => eof = Some((*checksum, *end)),
            _ => {}
        });
        r?;
        if let Some((checksum, end)) = eof {
            return Ok(PrefixSummary {
                len: end as usize,
                version: header.map_or(0, |h| h.version),
                keys,
                checksum,
            });
        }
    }
    let mut p = RdbParser::new(
        data,
        Options::default()
            .deep(deep)
            .verify_checksum(true)
            .best_effort(false),
    );
    let mut keys = 0u64;
    while let Some(rec) = p.next() {
        match rec? {
            Record::Key(_) => keys += 1,
            Record::Eof { checksum, end, .. } => {
                let version = p.header().map(|h| h.version).unwrap_or(0);
                return Ok(PrefixSummary {
                    len: end as usize,
                    version,
                    keys,
                    checksum,
                });
            }
            _ => {}
        }
    }
    Err(Error::new(
        ErrorKind::Truncated {
            what: "RDB (no EOF opcode)",
            needed: 1,
            left: 0,
        },
        p.position(),
    ))
}
