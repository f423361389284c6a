//! The visitor side of a walk: the [`Visitor`] trait a caller implements, the [`Scratch`]
//! buffers the walker reuses, and the small helpers every encoding's walker shares (`Walk`,
//! `vis`, `blob_err`, `read_blob`). A leaf for the encodings: they import this module, never
//! `value` or `walk` (which import them).

use crate::cursor::Cursor;
use crate::entry::{BlobError, Entry};
use crate::error::{Error, Result};
use crate::module::{ModuleId, ModuleItem};
use crate::string::{read_string, RdbString};
use crate::types::{ArrayValue, GroupMeta, StreamId, StreamMeta};

/// Why a visitor refused an item; the walker turns it into an [`Error`] at the current offset.
pub type VisitResult = std::result::Result<(), String>;

/// Receives the logical content of a value. Every method has a do-nothing default, so a
/// visitor implements only what it needs.
#[allow(unused_variables)]
pub trait Visitor {
    /// False for visitors that ignore content (a validating walk): plain strings and list
    /// elements are then only checked (LZF walked without materialising), not decoded.
    fn wants_content(&self) -> bool {
        true
    }
    /// A string value.
    fn string(&mut self, s: Entry<'_>) -> VisitResult {
        Ok(())
    }
    /// A list element (head to tail) or a set member.
    fn element(&mut self, e: Entry<'_>) -> VisitResult {
        Ok(())
    }
    /// A sorted-set member, in file order (see [`Value::zset_needs_sort`](crate::Value::zset_needs_sort)).
    fn zset_member(&mut self, member: Entry<'_>, score: f64) -> VisitResult {
        Ok(())
    }
    /// A sorted-set member of a listpack or ziplist, with `stored`: the entry its `score` was
    /// read from (an integer, or the score's text). For a visitor that writes scores out
    /// again (it can copy the stored form instead of formatting `score`). The default calls
    /// [`zset_member`](Self::zset_member); sorted sets of other encodings (scores stored as
    /// binary doubles or length-prefixed text) only get `zset_member`.
    fn zset_member_stored(
        &mut self,
        member: Entry<'_>,
        score: f64,
        stored: Entry<'_>,
    ) -> VisitResult {
        self.zset_member(member, score)
    }
    /// A hash field; `expire_ms` is the field's absolute TTL when it has one.
    fn hash_field(
        &mut self,
        field: Entry<'_>,
        value: Entry<'_>,
        expire_ms: Option<i64>,
    ) -> VisitResult {
        Ok(())
    }
    /// A module value begins (its module type).
    fn module_begin(&mut self, id: ModuleId) -> VisitResult {
        Ok(())
    }
    /// One module payload item; strings arrive decompressed (`RdbString::Raw` or `Int`).
    fn module_item(&mut self, item: ModuleItem<'_>) -> VisitResult {
        Ok(())
    }
    /// A stream listpack node: its master ID and the listpack's decoded length in bytes
    /// (before its entries are visited). For memory estimates.
    fn stream_node(&mut self, master_id: StreamId, listpack_len: usize) -> VisitResult {
        Ok(())
    }
    /// A live (not deleted) stream entry begins.
    fn stream_entry(&mut self, id: StreamId) -> VisitResult {
        Ok(())
    }
    /// A field of the current stream entry.
    fn stream_field(&mut self, field: Entry<'_>, value: Entry<'_>) -> VisitResult {
        Ok(())
    }
    /// Stream metadata (after all entries).
    fn stream_meta(&mut self, meta: &StreamMeta) -> VisitResult {
        Ok(())
    }
    /// A consumer group (after the stream's metadata), then its PEL, consumers and NACK zone.
    fn stream_group(&mut self, group: &GroupMeta<'_>) -> VisitResult {
        Ok(())
    }
    /// One entry of the current group's PEL.
    fn stream_pel(
        &mut self,
        id: StreamId,
        delivery_time_ms: i64,
        delivery_count: u64,
    ) -> VisitResult {
        Ok(())
    }
    /// A consumer of the current group (name, seen time, active time when stored), then its PEL.
    fn stream_consumer(
        &mut self,
        name: &[u8],
        seen_time_ms: i64,
        active_time_ms: Option<i64>,
    ) -> VisitResult {
        Ok(())
    }
    /// One ID of the current consumer's PEL.
    fn stream_consumer_pel(&mut self, id: StreamId) -> VisitResult {
        Ok(())
    }
    /// One ID of the current group's NACK zone (Redis 8.8 streams, type 27): a group PEL
    /// entry that was negatively acknowledged and is owned by no consumer. After the
    /// consumers, before [`stream_group_end`](Self::stream_group_end).
    fn stream_nacked(&mut self, id: StreamId) -> VisitResult {
        Ok(())
    }
    /// The current group ends.
    fn stream_group_end(&mut self) -> VisitResult {
        Ok(())
    }
    /// A sparse array (Redis 8.8, type 28) begins: its element count and the last insert
    /// position (`None` when the array has none).
    fn array_begin(&mut self, count: u64, insert_idx: Option<u64>) -> VisitResult {
        Ok(())
    }
    /// One array element, in file order.
    fn array_element(&mut self, idx: u64, value: ArrayValue<'_>) -> VisitResult {
        Ok(())
    }
}

/// A visitor that ignores everything (a validating walk).
pub struct NoVisitor;
impl Visitor for NoVisitor {
    fn wants_content(&self) -> bool {
        false
    }
}

/// Buffers the walker reuses for LZF-decompressed data and rendered strings.
#[derive(Default, Debug)]
pub struct Scratch {
    pub(crate) a: Vec<u8>,
    pub(crate) b: Vec<u8>,
}

impl Scratch {
    /// Empty buffers.
    pub fn new() -> Self {
        Self::default()
    }
}

pub(crate) struct Walk<'w, V: Visitor + ?Sized> {
    pub v: &'w mut V,
    pub s: &'w mut Scratch,
    pub deep: bool,
}

/// What [`stop`] returns: recognised by the walker, never shown.
const STOP: &str = "\u{0}rdbkit: the visitor stopped the walk";

/// For a [`Visitor`] callback: end the walk early, without it counting as damage. The walk
/// then ends with an [`ErrorKind::Stopped`](crate::ErrorKind::Stopped) error
/// ([`Error::is_stopped`]), which [`Value::walk`](crate::Value::walk) turns into
/// [`ControlFlow::Break`](std::ops::ControlFlow::Break). (Any other `Err` from a callback
/// means "this value is invalid" and is reported as such.)
pub fn stop() -> VisitResult {
    Err(STOP.to_string())
}

/// Turns a visitor's refusal into an error at `at`.
#[inline]
pub(crate) fn vis(r: VisitResult, at: u64) -> Result<()> {
    r.map_err(|m| {
        if m == STOP {
            Error::new(crate::ErrorKind::Stopped, at)
        } else {
            Error::invalid(at, m)
        }
    })
}

/// The end of a single validating walk ([`crate::listpack::Listpack::checked_iter`]) that stands for
/// `validate`, then the element count's tuple check, then the iteration: `r` is what the
/// iteration part returned. A structural error the walk met is the verdict; an error of the
/// iteration part (a duplicate, a bad score or TTL, a visitor's refusal) is only reported
/// once the rest of the listpack has been walked without a structural error and the count
/// makes whole tuples, exactly as the two walks would report.
pub(crate) fn finish_checked(
    r: Result<()>,
    mut it: crate::listpack::CheckedIter<'_>,
    err: &impl Fn(crate::BlobError) -> Error,
    zset: bool,
    tuple: usize,
    at: u64,
) -> Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if it.failed() => Err(e),
        Err(e) => {
            for x in it.by_ref() {
                x.map_err(err)?;
            }
            check_tuples(it.elements(), zset, tuple, at)?;
            Err(e)
        }
    }
}

/// A blob's entry count must make whole member/score pairs (`zset`) or field/value(/TTL)
/// tuples.
pub(crate) fn check_tuples(n: usize, zset: bool, tuple: usize, at: u64) -> Result<()> {
    if n.is_multiple_of(tuple) {
        Ok(())
    } else if zset {
        Err(Error::invalid(
            at,
            format!("zset blob has {n} entries, not member/score pairs"),
        ))
    } else {
        Err(Error::invalid(
            at,
            format!("hash blob has {n} entries, not a multiple of {tuple}"),
        ))
    }
}

/// A blob error at a blob stored at `at`.
#[inline]
pub(crate) fn blob_err(at: u64, compressed: bool) -> impl Fn(BlobError) -> Error {
    move |e| Error::blob(e, at, compressed)
}

pub(crate) use crate::dups::Dups;

/// Reads a blob string and, when walking, returns its bytes (decompressed into `buf`).
pub(crate) struct BlobRef<'c> {
    pub bytes: &'c [u8],
    pub at: u64,
    pub compressed: bool,
}

#[inline]
pub(crate) fn read_blob<'a, 'c>(
    c: &mut Cursor<'a>,
    what: &'static str,
    buf: Option<&'c mut Vec<u8>>,
) -> Result<Option<BlobRef<'c>>>
where
    'a: 'c,
{
    let at = c.offset();
    let s = read_string(c, what)?;
    match buf {
        None => Ok(None),
        Some(buf) => {
            let compressed = s.is_compressed();
            if let RdbString::Int(_) = s {
                return Err(Error::invalid(
                    at,
                    format!("{what} is stored as an integer, not a blob"),
                ));
            }
            let bytes = s.bytes_in(buf, at)?;
            Ok(Some(BlobRef {
                bytes,
                at,
                compressed,
            }))
        }
    }
}
