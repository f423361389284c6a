//! The plain data types the visitor hands out for streams and arrays ([`StreamId`],
//! [`StreamMeta`], [`GroupMeta`], [`ArrayValue`]): a leaf that `visit` and the encodings
//! (`stream`, `array`) import, so that the visitor does not import the walkers that import it.

use std::fmt;

use crate::entry::Entry;

/// A stream entry ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// The milliseconds part (the Unix time in ms of the `XADD`, unless the ID was given).
    pub ms: u64,
    /// The sequence number within that millisecond.
    pub seq: u64,
}

impl StreamId {
    /// Decodes the 16-byte big-endian form used for rax keys and PEL entries.
    #[inline]
    pub fn from_be_bytes(b: &[u8; 16]) -> Self {
        let mut ms = [0u8; 8];
        let mut seq = [0u8; 8];
        ms.copy_from_slice(&b[..8]);
        seq.copy_from_slice(&b[8..]);
        StreamId {
            ms: u64::from_be_bytes(ms),
            seq: u64::from_be_bytes(seq),
        }
    }

    /// The 16-byte big-endian form.
    #[inline]
    pub fn to_be_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Stream-level metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamMeta {
    /// 1 (Redis 5-6.2), 2 (7.0), 3 (7.2+), 4 (8.6, IDMP), 5 (8.8, NACK zones).
    pub version: u8,
    /// Live entries (`XLEN`).
    pub length: u64,
    /// The largest ID ever added (`last_id`; new entries must be greater).
    pub last_id: StreamId,
    /// v2+ only.
    pub first_id: Option<StreamId>,
    /// v2+ only: the largest ID ever deleted (`XDEL`, `XTRIM`).
    pub max_deleted_id: Option<StreamId>,
    /// v2+ only: entries ever added, deleted ones included.
    pub entries_added: Option<u64>,
}

/// A consumer group header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupMeta<'a> {
    /// The group's name.
    pub name: &'a [u8],
    /// The last ID delivered to the group (`XGROUP SETID`, `XREADGROUP`).
    pub last_delivered_id: StreamId,
    /// v2+ only; `Some(u64::MAX)` is Redis's "invalid/unknown" (-1).
    pub entries_read: Option<u64>,
}

/// One array element as stored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ArrayValue<'a> {
    /// Tags 0 and 3 (the string may be an RDB integer-encoded string).
    Str(Entry<'a>),
    /// Tag 1.
    Int(i64),
    /// Tag 2.
    Float(f64),
}
