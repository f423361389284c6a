//! One stream node (`src/t_stream.c`): the master ID (the rax key, 16 bytes,
//! big-endian ms then seq) plus a listpack holding delta-encoded entries.
//!
//! Listpack layout:
//! * master entry: `count` (live entries), `deleted`, `num_fields`, field₁..fieldₙ, `0`;
//! * then per entry: `flags` (bit 0 DELETED, bit 1 SAMEFIELDS), `ms_delta`, `seq_delta`,
//!   [unless SAMEFIELDS: `num_fields`, then field/value pairs] or, with SAMEFIELDS, the values
//!   only (field names come from the master entry), then `lp_count` (elements of this entry
//!   minus one, for walking backwards).
//!
//! IDs are `master + delta` in wrapping 64-bit arithmetic: `seq_delta` is negative whenever an
//! entry's ms is larger than the master's.

use crate::entry::{BlobError, Entry};
use crate::listpack::{self, CheckedIter, Listpack, ListpackIter};
pub use crate::types::StreamId;

const CONTAINER: &str = "stream node";
/// Entry flag: deleted (tombstone kept until the node is rewritten).
pub const FLAG_DELETED: i64 = 1;
/// Entry flag: the entry has exactly the master entry's fields, only values are stored.
pub const FLAG_SAMEFIELDS: i64 = 2;

#[inline]
fn err(offset: usize, what: impl Into<std::borrow::Cow<'static, str>>) -> BlobError {
    BlobError::new(CONTAINER, offset, what)
}

/// A parsed stream node: the master entry has been read; entries are read on demand.
#[derive(Clone, Copy, Debug)]
pub struct StreamNode<'a> {
    lp: Listpack<'a>,
    master: StreamId,
    count: u64,
    deleted: u64,
    master_fields: usize,
    /// Offset of the first master field name.
    master_fields_pos: usize,
    /// Offset of the first entry (just after the master's zero terminator).
    first_entry_pos: usize,
}

/// A front-to-back listpack walk the entry reader runs on: the plain iterator (entries for a
/// visitor) or the validating one (a deep check's single walk, see [`StreamNode::check`]).
trait LpWalk<'a>: Iterator<Item = Result<Entry<'a>, BlobError>> {
    fn offset(&self) -> Option<usize>;
}

impl<'a> LpWalk<'a> for ListpackIter<'a> {
    #[inline]
    fn offset(&self) -> Option<usize> {
        ListpackIter::offset(self)
    }
}

impl<'a> LpWalk<'a> for CheckedIter<'a> {
    #[inline]
    fn offset(&self) -> Option<usize> {
        CheckedIter::offset(self)
    }
}

/// Reads one listpack element that must be an integer (Redis's `lpGetIntegerIfValid`: an
/// integer encoding, or a string that is canonical decimal).
#[inline(always)]
fn next_int<'a>(it: &mut impl LpWalk<'a>, what: &str) -> Result<(i64, usize), BlobError> {
    let at = it.offset().unwrap_or(0);
    match it.next() {
        Some(Ok(e)) => match e.as_i64() {
            Some(v) => Ok((v, at)),
            None => Err(err(at, format!("{what} is not an integer ({e:?})"))),
        },
        Some(Err(e)) => Err(e),
        None => Err(err(
            at,
            format!("listpack ends where the {what} was expected"),
        )),
    }
}

/// Like [`next_int`], also requiring `>= 0`.
#[inline(always)]
fn next_count<'a>(it: &mut impl LpWalk<'a>, what: &str) -> Result<(u64, usize), BlobError> {
    let (v, at) = next_int(it, what)?;
    u64::try_from(v)
        .map(|v| (v, at))
        .map_err(|_| err(at, format!("{what} {v} is negative")))
}

/// Skips `n` elements; fails if the listpack ends first.
#[inline(always)]
fn skip_n<'a>(it: &mut impl LpWalk<'a>, n: u64, what: &str) -> Result<(), BlobError> {
    for i in 0..n {
        let at = it.offset().unwrap_or(0);
        match it.next() {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e),
            None => {
                return Err(err(
                    at,
                    format!("listpack ends after {i} of the {n} {what}"),
                ))
            }
        }
    }
    Ok(())
}

impl<'a> StreamNode<'a> {
    /// Reads the master ID from the 16-byte rax key and the master entry from the listpack.
    pub fn new(master_key: &'a [u8], lp: Listpack<'a>) -> Result<Self, BlobError> {
        let key: &[u8; 16] = master_key.try_into().map_err(|_| {
            err(
                0,
                format!(
                    "node key is {} bytes, a stream ID takes 16",
                    master_key.len()
                ),
            )
        })?;
        let master = StreamId::from_be_bytes(key);
        let mut it = lp.iter();
        if it.at_end() {
            return Err(err(listpack::HEADER_SIZE, "stream node listpack is empty"));
        }
        let (count, _) = next_count(&mut it, "master entry count")?;
        let (deleted, _) = next_count(&mut it, "master entry deleted count")?;
        let (master_fields, _) = next_count(&mut it, "master entry field count")?;
        let master_fields_pos = it.offset().unwrap_or(0);
        skip_n(&mut it, master_fields, "master field names")?;
        let (zero, at) = next_int(&mut it, "master entry terminator")?;
        if zero != 0 {
            return Err(err(
                at,
                format!("master entry terminator is {zero}, expected 0"),
            ));
        }
        let first_entry_pos = it.offset().unwrap_or(lp.as_bytes().len() - 1);
        Ok(StreamNode {
            lp,
            master,
            count,
            deleted,
            // master_fields elements were walked, so it fits in usize
            master_fields: master_fields as usize,
            master_fields_pos,
            first_entry_pos,
        })
    }

    /// The node's master ID (its rax key): entry IDs are stored as deltas from it.
    #[inline]
    pub fn master_id(&self) -> StreamId {
        self.master
    }

    /// Live (not deleted) entries according to the master entry.
    #[inline]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Deleted entries still present, according to the master entry.
    #[inline]
    pub fn deleted(&self) -> u64 {
        self.deleted
    }

    /// The master entry's field names.
    pub fn master_fields(&self) -> std::iter::Take<ListpackIter<'a>> {
        self.lp
            .iter_at(self.master_fields_pos)
            .take(self.master_fields)
    }

    /// The node's listpack.
    #[inline]
    pub fn listpack(&self) -> Listpack<'a> {
        self.lp
    }

    /// Every entry in the node, deleted ones included (check [`StreamEntry::deleted`]).
    /// Yields at most one error, then stops.
    pub fn entries(&self) -> StreamEntries<'a> {
        StreamEntries {
            it: self.lp.iter_at(self.first_entry_pos),
            master: self.master,
            master_fields: self.master_fields,
            master_fields_pos: self.master_fields_pos,
            lp: self.lp,
            done: false,
        }
    }

    /// Deep check, as Redis's `streamValidateListpackIntegrity` in deep mode (every listpack
    /// entry and backlen, integer-valued headers, each entry's lp_count, exactly
    /// count + deleted entries and nothing after them), plus checks Redis does not make
    /// but that every Redis-written node satisfies: the number of entries flagged deleted
    /// equals `deleted`, IDs are strictly ascending and none is below the master ID.
    pub fn validate(&self) -> Result<(), BlobError> {
        self.check().map(|_| ())
    }

    /// [`validate`](Self::validate) in one walk of the listpack (each entry decoded once, its
    /// backlen checked as it is read), returning the last entry's ID (`None` for a node
    /// without entries). The verdict is `validate`'s as two walks would give it: an error of
    /// the entry check (an ID out of order, a bad lp-count, a count mismatch) is reported
    /// only once the rest of the listpack has walked without a structural error.
    pub fn check(&self) -> Result<Option<StreamId>, BlobError> {
        let mut it = self.lp.checked_iter();
        let r = self.check_entries(&mut it);
        match r {
            Err(e) if !it.failed() => {
                // The structural walk (what `Listpack::validate` checks) decides first.
                for x in it.by_ref() {
                    x?;
                }
                Err(e)
            }
            r => r,
        }
    }

    /// [`new`](Self::new) and [`check`](Self::check) in one validating walk of the listpack
    /// (a small node's master entry was read twice, ~400 instructions a node of the
    /// multi-part AOF's small streams, callgrind): the node and the last entry's ID when both
    /// would succeed, `None` when either would fail (the caller then runs them for the error,
    /// which depends on which fails first).
    pub fn new_checked(master_key: &'a [u8], lp: Listpack<'a>) -> Option<(Self, Option<StreamId>)> {
        let key: &[u8; 16] = master_key.try_into().ok()?;
        if let Some(r) = Self::new_checked_lean(key, lp) {
            return Some(r);
        }
        let mut it = lp.checked_iter();
        if it.at_end() {
            return None;
        }
        let (count, _) = next_count(&mut it, "master entry count").ok()?;
        let (deleted, _) = next_count(&mut it, "master entry deleted count").ok()?;
        let (master_fields, _) = next_count(&mut it, "master entry field count").ok()?;
        let master_fields_pos = it.offset()?;
        skip_n(&mut it, master_fields, "master field names").ok()?;
        let (zero, _) = next_int(&mut it, "master entry terminator").ok()?;
        if zero != 0 {
            return None;
        }
        let node = StreamNode {
            lp,
            master: StreamId::from_be_bytes(key),
            count,
            deleted,
            master_fields: usize::try_from(master_fields).ok()?,
            master_fields_pos,
            first_entry_pos: it.offset()?,
        };
        let last = node.check_after_master(&mut it).ok()?;
        Some((node, last))
    }

    /// [`new_checked`](Self::new_checked) for the encodings a server writes in a small node
    /// (integers of any width, strings of a 6- or 12-bit length, backlens of 1 or 2 bytes),
    /// decoded straight from the bytes (the validating iterator yields an `Entry` an element
    /// and is asked for its offset: ~95 instructions an element, ~1 150 a one-entry node of
    /// the multi-part AOF's small streams, callgrind). It accepts a subset of what the
    /// validating walk accepts and computes the same node and last ID; anything else (a
    /// 32-bit string, a string where an integer is read, an unusual backlen, any damage):
    /// `None`, and the caller takes the general walk, which decides.
    #[inline(never)]
    fn new_checked_lean(key: &[u8; 16], lp: Listpack<'a>) -> Option<(Self, Option<StreamId>)> {
        let blob = lp.as_bytes();
        // `Listpack::new` checked the length, the total and the terminator byte.
        let end = blob.len() - 1;
        let mut pos = listpack::HEADER_SIZE;
        // Elements walked (for the header count).
        let mut n = 0usize;
        // The next element, which must be an integer.
        let int = |pos: &mut usize, n: &mut usize| -> Option<i64> {
            let (v, next) = lean_elem(blob, end, *pos)?;
            *pos = next;
            *n += 1;
            v
        };
        let count = u64::try_from(int(&mut pos, &mut n)?).ok()?;
        let deleted = u64::try_from(int(&mut pos, &mut n)?).ok()?;
        let master_fields = usize::try_from(int(&mut pos, &mut n)?).ok()?;
        let master_fields_pos = pos;
        for _ in 0..master_fields {
            pos = lean_elem(blob, end, pos)?.1;
            n += 1;
        }
        if int(&mut pos, &mut n)? != 0 {
            return None;
        }
        let first_entry_pos = pos;
        let master = StreamId::from_be_bytes(key);
        let (mut live, mut dead) = (0u64, 0u64);
        let mut prev: Option<StreamId> = None;
        while pos < end {
            let flags = int(&mut pos, &mut n)?;
            let ms_delta = int(&mut pos, &mut n)?;
            let seq_delta = int(&mut pos, &mut n)?;
            let id = StreamId {
                ms: master.ms.wrapping_add(ms_delta as u64),
                seq: master.seq.wrapping_add(seq_delta as u64),
            };
            let expected = if flags & FLAG_SAMEFIELDS != 0 {
                for _ in 0..master_fields {
                    pos = lean_elem(blob, end, pos)?.1;
                    n += 1;
                }
                master_fields as u64 + 3
            } else {
                let f = u64::try_from(int(&mut pos, &mut n)?).ok()?;
                if f > (end - pos) as u64 {
                    return None;
                }
                for _ in 0..f * 2 {
                    pos = lean_elem(blob, end, pos)?.1;
                    n += 1;
                }
                f * 2 + 4
            };
            if u64::try_from(int(&mut pos, &mut n)?).ok()? != expected
                || id < master
                || prev.is_some_and(|p| id <= p)
            {
                return None;
            }
            prev = Some(id);
            if flags & FLAG_DELETED != 0 {
                dead += 1;
            } else {
                live += 1;
            }
        }
        // `pos == end`: the terminator, at the very end; the header count, unless 65535.
        if pos != end
            || live != count
            || dead != deleted
            || lp.header_count().is_some_and(|h| h != n)
        {
            return None;
        }
        let node = StreamNode {
            lp,
            master,
            count,
            deleted,
            master_fields,
            master_fields_pos,
            first_entry_pos,
        };
        Some((node, prev))
    }

    /// The entry check of [`check`](Self::check) over the validating walk `it`, from the
    /// listpack's first element.
    fn check_entries(&self, it: &mut CheckedIter<'a>) -> Result<Option<StreamId>, BlobError> {
        // The master entry (count, deleted, field count, names, 0) was read by `new`.
        skip_n(it, 4 + self.master_fields as u64, "master entry elements")?;
        self.check_after_master(it)
    }

    /// The entry check from the first entry on (`it` stands after the master entry). Not
    /// inlined: inside [`new_checked`](Self::new_checked) its element reads were no longer
    /// inlined (+6 M instructions on the `--small` mixed.rdb, callgrind).
    #[inline(never)]
    fn check_after_master(&self, it: &mut CheckedIter<'a>) -> Result<Option<StreamId>, BlobError> {
        let mut live = 0u64;
        let mut dead = 0u64;
        let mut prev: Option<StreamId> = None;
        loop {
            if it.at_end() {
                // Surface a misplaced terminator or a wrong header count, if any.
                if let Some(Err(e)) = it.next() {
                    return Err(e);
                }
                break;
            }
            let e = read_entry(
                it,
                self.master,
                self.master_fields,
                self.lp,
                self.master_fields_pos,
            )?;
            let at = e.start;
            if e.id < self.master {
                return Err(err(
                    at,
                    format!(
                        "entry ID {} is below the node's master ID {}",
                        e.id, self.master
                    ),
                ));
            }
            if let Some(p) = prev {
                if e.id <= p {
                    return Err(err(
                        at,
                        format!(
                            "entry ID {} does not follow the previous entry ID {p}",
                            e.id
                        ),
                    ));
                }
            }
            prev = Some(e.id);
            if e.deleted {
                dead += 1;
            } else {
                live += 1;
            }
            // Redis walks exactly count + deleted entries and then expects the terminator.
            if live + dead > self.count.saturating_add(self.deleted) {
                return Err(err(
                    at,
                    format!(
                        "node holds more than the count + deleted = {} entries announced by the master entry",
                        self.count.saturating_add(self.deleted)
                    ),
                ));
            }
        }
        if live != self.count || dead != self.deleted {
            return Err(err(
                listpack::HEADER_SIZE,
                format!(
                    "master entry says {} live and {} deleted entries, the node holds {live} live and {dead} deleted",
                    self.count, self.deleted
                ),
            ));
        }
        Ok(prev)
    }
}

/// Iterator over a node's entries; see [`StreamNode::entries`].
#[derive(Clone, Debug)]
pub struct StreamEntries<'a> {
    it: ListpackIter<'a>,
    lp: Listpack<'a>,
    master: StreamId,
    master_fields: usize,
    master_fields_pos: usize,
    done: bool,
}

impl<'a> StreamEntries<'a> {
    #[inline]
    fn read(&mut self) -> Result<StreamEntry<'a>, BlobError> {
        read_entry(
            &mut self.it,
            self.master,
            self.master_fields,
            self.lp,
            self.master_fields_pos,
        )
    }
}

/// One element at `pos` of a listpack whose terminator is at `end`, for
/// [`StreamNode::new_checked_lean`]: its integer value (`None` for a string) and where the
/// next element starts, when it is encoded as `listpack::decode_entry` decodes it and its
/// backlen is the one Redis writes (1 or 2 bytes) and ends at or before the terminator;
/// `None` for anything else (the terminator, a 32-bit string, an invalid byte, damage).
#[inline(always)]
fn lean_elem(blob: &[u8], end: usize, pos: usize) -> Option<(Option<i64>, usize)> {
    let b = *blob.get(pos)?;
    let at = |i: usize| blob.get(pos + i).copied();
    let (v, size) = match b {
        0x00..=0x7F => (Some(i64::from(b)), 1),
        0x80..=0xBF => (None, 1 + usize::from(b & 0x3F)),
        0xC0..=0xDF => {
            let u = (i64::from(b & 0x1F) << 8) | i64::from(at(1)?);
            (Some(if u >= 1 << 12 { u - (1 << 13) } else { u }), 2)
        }
        0xE0..=0xEF => (
            None,
            2 + ((usize::from(b & 0x0F) << 8) | usize::from(at(1)?)),
        ),
        0xF1 => (Some(i64::from(i16::from_le_bytes([at(1)?, at(2)?]))), 3),
        0xF2 => (
            Some(i64::from(
                i32::from_le_bytes([0, at(1)?, at(2)?, at(3)?]) >> 8,
            )),
            4,
        ),
        0xF3 => (
            Some(i64::from(i32::from_le_bytes([
                at(1)?,
                at(2)?,
                at(3)?,
                at(4)?,
            ]))),
            5,
        ),
        0xF4 => (
            Some(i64::from_le_bytes(
                blob.get(pos + 1..pos + 9)?.try_into().ok()?,
            )),
            9,
        ),
        _ => return None,
    };
    let back = pos + size;
    if size <= 127 {
        if back + 1 > end || usize::from(*blob.get(back)?) != size {
            return None;
        }
        Some((v, back + 1))
    } else if size < 16383 {
        if back + 2 > end
            || usize::from(*blob.get(back)?) != size >> 7
            || usize::from(*blob.get(back + 1)?) != (size & 127) | 128
        {
            return None;
        }
        Some((v, back + 2))
    } else {
        None
    }
}

/// Reads one entry (flags to lp-count) from `it`, which stands at its flags element.
#[inline(always)]
fn read_entry<'a>(
    it: &mut impl LpWalk<'a>,
    master: StreamId,
    master_fields: usize,
    lp: Listpack<'a>,
    master_fields_pos: usize,
) -> Result<StreamEntry<'a>, BlobError> {
    {
        let (flags, start) = next_int(it, "entry flags")?;
        let (ms_delta, _) = next_int(it, "entry ms delta")?;
        let (seq_delta, _) = next_int(it, "entry seq delta")?;
        let id = StreamId {
            ms: master.ms.wrapping_add(ms_delta as u64),
            seq: master.seq.wrapping_add(seq_delta as u64),
        };
        let samefields = flags & FLAG_SAMEFIELDS != 0;
        let (num_fields, expected_lp_count) = if samefields {
            let n = master_fields as u64;
            skip_n(it, n, "entry values")?;
            (n, n + 3)
        } else {
            let (n, _) = next_count(it, "entry field count")?;
            let elements = n.saturating_mul(2);
            skip_n(it, elements, "entry fields and values")?;
            (n, elements.saturating_add(4))
        };
        let (lp_count, at) = next_int(it, "entry lp-count")?;
        if u64::try_from(lp_count).ok() != Some(expected_lp_count) {
            return Err(err(
                at,
                format!(
                    "entry lp-count {lp_count} does not match its {expected_lp_count} elements"
                ),
            ));
        }
        Ok(StreamEntry {
            id,
            deleted: flags & FLAG_DELETED != 0,
            flags,
            start,
            // Walked above, so it fits in usize.
            num_fields: num_fields as usize,
            samefields,
            lp,
            master_fields_pos,
        })
    }
}

impl<'a> Iterator for StreamEntries<'a> {
    type Item = Result<StreamEntry<'a>, BlobError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.it.at_end() {
            self.done = true;
            // Surface a misplaced terminator, if any.
            return self.it.next().and_then(|r| r.err()).map(Err);
        }
        let r = self.read();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

impl std::iter::FusedIterator for StreamEntries<'_> {}

/// One entry of a stream node.
#[derive(Clone, Copy, Debug)]
pub struct StreamEntry<'a> {
    /// The entry's ID (the node's master ID plus the stored deltas).
    pub id: StreamId,
    /// Flag bit 0: deleted entries stay in the node until it is rewritten; XRANGE skips them.
    pub deleted: bool,
    /// The raw flags element.
    pub flags: i64,
    /// Offset of the entry's flags element in the listpack.
    start: usize,
    num_fields: usize,
    samefields: bool,
    lp: Listpack<'a>,
    master_fields_pos: usize,
}

impl<'a> StreamEntry<'a> {
    /// The (field, value) pairs. SAMEFIELDS entries take the field names from the master
    /// entry. No allocation.
    pub fn fields(&self) -> StreamFields<'a> {
        // Skip flags, ms delta, seq delta and, unless SAMEFIELDS, the field count.
        let mut vals = self.lp.iter_at(self.start);
        let skip = if self.samefields { 3 } else { 4 };
        for _ in 0..skip {
            // Already walked by StreamEntries, cannot fail.
            let _ = vals.next();
        }
        StreamFields {
            vals,
            master: self
                .samefields
                .then(|| self.lp.iter_at(self.master_fields_pos)),
            remaining: self.num_fields,
        }
    }

    /// The number of (field, value) pairs of the entry.
    #[inline]
    pub fn num_fields(&self) -> usize {
        self.num_fields
    }

    /// True when the entry stores only values and borrows the master entry's field names.
    #[inline]
    pub fn same_fields(&self) -> bool {
        self.samefields
    }

    /// Offset of the entry's first element (its flags) in the node's listpack.
    #[inline]
    pub fn offset(&self) -> usize {
        self.start
    }
}

/// Iterator over one entry's (field, value) pairs; see [`StreamEntry::fields`].
#[derive(Clone, Debug)]
pub struct StreamFields<'a> {
    vals: ListpackIter<'a>,
    master: Option<ListpackIter<'a>>,
    remaining: usize,
}

impl<'a> Iterator for StreamFields<'a> {
    type Item = Result<(Entry<'a>, Entry<'a>), BlobError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let at = self.vals.offset().unwrap_or(0);
        let field = match &mut self.master {
            Some(m) => m.next(),
            None => self.vals.next(),
        };
        let value = self.vals.next();
        match (field, value) {
            (Some(Ok(f)), Some(Ok(v))) => Some(Ok((f, v))),
            (Some(Err(e)), _) | (_, Some(Err(e))) => {
                self.remaining = 0;
                Some(Err(e))
            }
            _ => {
                self.remaining = 0;
                Some(Err(err(at, "listpack ends inside the entry's fields")))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining))
    }
}

/// Writes a node as Redis's `streamAppendItem` would: the master entry takes the first entry's
/// field names, entries whose fields equal them (same count and order) are SAMEFIELDS,
/// deleted entries are flagged and counted in `deleted`. Returns (16-byte key, listpack).
#[allow(clippy::type_complexity)]
pub fn encode_node(
    master: StreamId,
    entries: &[(StreamId, bool, Vec<(Vec<u8>, Vec<u8>)>)],
) -> (Vec<u8>, Vec<u8>) {
    let live = entries.iter().filter(|e| !e.1).count() as i64;
    let dead = entries.len() as i64 - live;
    let master_fields: Vec<&[u8]> = entries
        .first()
        .map(|e| e.2.iter().map(|(f, _)| f.as_slice()).collect())
        .unwrap_or_default();
    let mut items: Vec<Entry> = vec![
        Entry::Int(live),
        Entry::Int(dead),
        Entry::Int(master_fields.len() as i64),
    ];
    items.extend(master_fields.iter().map(|f| Entry::Bytes(f)));
    items.push(Entry::Int(0));
    for (id, deleted, fields) in entries {
        let same = fields.len() == master_fields.len()
            && fields
                .iter()
                .zip(&master_fields)
                .all(|((f, _), m)| f.as_slice() == *m);
        let mut flags = 0;
        if *deleted {
            flags |= FLAG_DELETED;
        }
        if same {
            flags |= FLAG_SAMEFIELDS;
        }
        items.push(Entry::Int(flags));
        items.push(Entry::Int(id.ms.wrapping_sub(master.ms) as i64));
        items.push(Entry::Int(id.seq.wrapping_sub(master.seq) as i64));
        let n = fields.len() as i64;
        if same {
            items.extend(fields.iter().map(|(_, v)| Entry::Bytes(v)));
            items.push(Entry::Int(n + 3));
        } else {
            items.push(Entry::Int(n));
            for (f, v) in fields {
                items.push(Entry::Bytes(f));
                items.push(Entry::Bytes(v));
            }
            items.push(Entry::Int(2 * n + 4));
        }
    }
    (
        master.to_be_bytes().to_vec(),
        listpack::encode_entries(&items),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Fields = Vec<(Vec<u8>, Vec<u8>)>;

    fn fv(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(f, v)| (f.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    fn owned(e: &StreamEntry) -> Fields {
        e.fields()
            .map(|r| {
                let (f, v) = r.unwrap();
                (f.to_cow().into_owned(), v.to_cow().into_owned())
            })
            .collect()
    }

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    #[test]
    fn stream_id_basics() {
        let i = id(1_700_000_000_000, 5);
        assert_eq!(i.to_string(), "1700000000000-5");
        assert_eq!(StreamId::from_be_bytes(&i.to_be_bytes()), i);
        assert_eq!(i.to_be_bytes()[15], 5);
        assert!(id(1, 9) < id(2, 0));
    }

    #[test]
    fn decode_samefields_deleted_and_negative_seq_delta() {
        let master = id(1000, 7);
        let entries = vec![
            (master, false, fv(&[("name", "alice"), ("age", "30")])),
            (id(1000, 8), true, fv(&[("name", "bob"), ("age", "41")])),
            (id(1005, 0), false, fv(&[("other", "x")])),
            (
                id(u64::MAX, u64::MAX),
                false,
                fv(&[("name", "z"), ("age", "-1")]),
            ),
        ];
        let (key, lp) = encode_node(master, &entries);
        let node = StreamNode::new(&key, Listpack::new(&lp).unwrap()).unwrap();
        assert_eq!(node.master_id(), master);
        assert_eq!((node.count(), node.deleted()), (3, 1));
        let mf: Vec<_> = node.master_fields().map(|e| e.unwrap()).collect();
        assert_eq!(mf, [Entry::Bytes(b"name"), Entry::Bytes(b"age")]);
        node.validate().unwrap();
        let got: Vec<StreamEntry> = node.entries().map(Result::unwrap).collect();
        assert_eq!(got.len(), 4);
        for (g, (i, d, f)) in got.iter().zip(&entries) {
            assert_eq!(g.id, *i);
            assert_eq!(g.deleted, *d);
            assert_eq!(g.num_fields(), f.len());
            assert_eq!(&owned(g), f);
        }
        assert!(got[0].same_fields() && got[1].same_fields() && !got[2].same_fields());
        // "30" is stored as an integer
        assert_eq!(got[0].fields().nth(1).unwrap().unwrap().1, Entry::Int(30));
    }

    fn node_from(items: &[Entry]) -> Result<(), BlobError> {
        let lp = listpack::encode_entries(items);
        let key = id(10, 0).to_be_bytes();
        let node = StreamNode::new(&key, Listpack::new(&lp).unwrap())?;
        node.validate()
    }

    use Entry::{Bytes as B, Int as I};

    #[test]
    fn malformed_nodes() {
        let lp = listpack::encode(&[]);
        let e = StreamNode::new(&[0; 16], Listpack::new(&lp).unwrap()).unwrap_err();
        assert!(e.what.contains("empty"));
        let lp = listpack::encode(&[b"1"]);
        assert!(StreamNode::new(&[0; 15], Listpack::new(&lp).unwrap())
            .unwrap_err()
            .what
            .contains("15 bytes"));

        let good = [
            I(1),
            I(0),
            I(1),
            B(b"f"),
            I(0),
            I(2),
            I(0),
            I(0),
            B(b"v"),
            I(4),
        ];
        node_from(&good).unwrap();
        let cases: Vec<(Vec<Entry>, &str)> = vec![
            (vec![I(1), I(0), I(1), B(b"f"), I(1)], "terminator is 1"),
            (
                vec![B(b"x"), I(0), I(0), I(0)],
                "master entry count is not an integer",
            ),
            (
                vec![I(-1), I(0), I(0), I(0)],
                "master entry count -1 is negative",
            ),
            (
                vec![I(1), I(0), I(3), B(b"f")],
                "listpack ends after 1 of the 3 master field names",
            ),
            (
                vec![
                    I(1),
                    I(0),
                    I(1),
                    B(b"f"),
                    I(0),
                    I(2),
                    I(0),
                    I(0),
                    B(b"v"),
                    I(5),
                ],
                "lp-count 5 does not match its 4 elements",
            ),
            (
                vec![
                    I(2),
                    I(0),
                    I(1),
                    B(b"f"),
                    I(0),
                    I(2),
                    I(0),
                    I(0),
                    B(b"v"),
                    I(4),
                ],
                "says 2 live and 0 deleted entries, the node holds 1 live",
            ),
            (
                vec![
                    I(0),
                    I(1),
                    I(1),
                    B(b"f"),
                    I(0),
                    I(2),
                    I(0),
                    I(0),
                    B(b"v"),
                    I(4),
                ],
                "says 0 live and 1 deleted entries, the node holds 1 live and 0 deleted",
            ),
            (
                vec![
                    I(0),
                    I(0),
                    I(1),
                    B(b"f"),
                    I(0),
                    I(3),
                    I(0),
                    I(0),
                    B(b"v"),
                    I(4),
                ],
                "more than the count + deleted = 0",
            ),
            (
                vec![
                    I(1),
                    I(0),
                    I(1),
                    B(b"f"),
                    I(0),
                    I(2),
                    I(-1),
                    I(0),
                    B(b"v"),
                    I(4),
                ],
                "below the node's master ID 10-0",
            ),
            (
                vec![
                    I(2),
                    I(0),
                    I(1),
                    B(b"f"),
                    I(0),
                    I(2),
                    I(0),
                    I(0),
                    B(b"v"),
                    I(4),
                    I(2),
                    I(0),
                    I(0),
                    B(b"w"),
                    I(4),
                ],
                "does not follow the previous entry ID 10-0",
            ),
            (
                vec![
                    I(1),
                    I(0),
                    I(1),
                    B(b"f"),
                    I(0),
                    I(0),
                    I(0),
                    I(0),
                    I(2),
                    B(b"a"),
                ],
                "listpack ends after 1 of the 4 entry fields and values",
            ),
            (
                vec![I(1), I(0), I(1), B(b"f"), I(0), I(2), I(0), I(0), B(b"v")],
                "listpack ends where the entry lp-count",
            ),
        ];
        for (items, msg) in cases {
            let e = node_from(&items).unwrap_err();
            assert!(e.what.contains(msg), "{items:?}: {e}");
        }
        // wrapping seq: ms bigger than master, seq below master's seq
        node_from(&[
            I(1),
            I(0),
            I(1),
            B(b"f"),
            I(0),
            I(2),
            I(1),
            I(-5),
            B(b"v"),
            I(4),
        ])
        .unwrap();
        let lp = listpack::encode_entries(&[
            I(1),
            I(0),
            I(1),
            B(b"f"),
            I(0),
            I(2),
            I(1),
            I(-5),
            B(b"v"),
            I(4),
        ]);
        let key = id(10, 7).to_be_bytes();
        let node = StreamNode::new(&key, Listpack::new(&lp).unwrap()).unwrap();
        node.validate().unwrap();
        assert_eq!(node.entries().next().unwrap().unwrap().id, id(11, 2));
    }

    /// A node of the generated entries (ID steps from the master ID 1000-7), then the
    /// mutations applied to its listpack past the header.
    fn mutated_node(
        steps: Vec<(u64, u64, bool, bool, Fields)>,
        muts: Vec<(usize, u8)>,
    ) -> (Vec<u8>, Vec<u8>) {
        let master = id(1000, 7);
        let mut cur = master;
        let mut entries = Vec::new();
        for (dms, dseq, deleted, keep, f) in steps {
            cur = if dms == 0 {
                id(cur.ms, cur.seq + dseq + 1)
            } else {
                id(cur.ms + dms, dseq)
            };
            entries.push((cur, deleted && keep, f));
        }
        let (key, mut lp) = encode_node(master, &entries);
        for (i, b) in muts {
            let i = 6 + i % (lp.len() - 6);
            lp[i] = b;
        }
        (key, lp)
    }

    fn arb_fields() -> impl Strategy<Value = Fields> {
        let s = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..20),
            any::<i64>().prop_map(|v| v.to_string().into_bytes()),
            Just(b"".to_vec()),
            Just(vec![b'x'; 64]),
        ];
        proptest::collection::vec((s.clone(), s), 0..5)
    }

    proptest! {
        #[test]
        fn roundtrip(master_ms in any::<u64>(), master_seq in any::<u64>(),
                     steps in proptest::collection::vec((0u64..3, 0u64..1000, any::<bool>(), any::<bool>(), arb_fields()), 1..20)) {
            let master = id(master_ms, master_seq);
            let mut cur = master;
            let mut entries = Vec::new();
            let mut first_fields: Option<Fields> = None;
            for (i, (dms, dseq, del, reuse, fields)) in steps.into_iter().enumerate() {
                if i > 0 {
                    if dms > 0 {
                        match cur.ms.checked_add(dms) { Some(m) => cur = id(m, dseq), None => break }
                    } else {
                        match cur.seq.checked_add(dseq + 1) { Some(s) => cur.seq = s, None => break }
                    }
                }
                let fields = match (&first_fields, reuse) {
                    (Some(ff), true) => ff.iter().map(|(f, _)| (f.clone(), b"val".to_vec())).collect(),
                    _ => fields,
                };
                if first_fields.is_none() { first_fields = Some(fields.clone()); }
                entries.push((cur, del, fields));
            }
            let (key, lp) = encode_node(master, &entries);
            let node = StreamNode::new(&key, Listpack::new(&lp).unwrap()).unwrap();
            node.validate().unwrap();
            let got: Vec<StreamEntry> = node.entries().map(Result::unwrap).collect();
            prop_assert_eq!(got.len(), entries.len());
            for (g, (i, d, f)) in got.iter().zip(&entries) {
                prop_assert_eq!(g.id, *i);
                prop_assert_eq!(g.deleted, *d);
                prop_assert_eq!(&owned(g), f);
            }
        }

        #[test]
        fn mutations_never_panic(fields in arb_fields(), idx in any::<usize>(), byte in any::<u8>()) {
            let master = id(5, 5);
            let entries = vec![(master, false, fields.clone()), (id(6, 0), true, fields)];
            let (key, mut lp) = encode_node(master, &entries);
            let i = 6 + idx % (lp.len() - 6);
            lp[i] = byte;
            if let Ok(l) = Listpack::new(&lp) {
                if let Ok(node) = StreamNode::new(&key, l) {
                    let _ = node.validate();
                    let n = node.entries().take(1000).count();
                    prop_assert!(n <= lp.len());
                    for e in node.entries().flatten() {
                        prop_assert!(e.fields().take(1000).count() <= lp.len());
                    }
                }
            }
        }

        /// The single-walk check gives the two walks' verdict (listpack first, then the
        /// entries): the same error at the same offset, on one to three mutated bytes.
        #[test]
        fn one_walk_check_is_the_two_walks(steps in proptest::collection::vec((0u64..3, 0u64..1000, any::<bool>(), any::<bool>(), arb_fields()), 1..8),
                                          muts in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4)) {
            let (key, lp) = mutated_node(steps, muts);
            if let Ok(l) = Listpack::new(&lp) {
                if let Ok(node) = StreamNode::new(&key, l) {
                    let two = two_walks(&node);
                    let one = node.check();
                    prop_assert_eq!(format!("{:?}", one), format!("{:?}", two));
                }
            }
        }
    }

    proptest! {
        /// `new_checked` succeeds exactly when `new` and then `check` both succeed, with the
        /// same node and last ID (mutations anywhere in the listpack, the master entry
        /// included; a damaged node's error comes from `new` and `check` as before).
        #[test]
        fn new_checked_is_new_then_check(steps in proptest::collection::vec((0u64..3, 0u64..1000, any::<bool>(), any::<bool>(), arb_fields()), 0..6),
                                         muts in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4)) {
            let (key, lp) = mutated_node(steps, muts);
            if let Ok(l) = Listpack::new(&lp) {
                let old = StreamNode::new(&key, l).and_then(|n| n.check().map(|last| (n, last)));
                let one = StreamNode::new_checked(&key, l);
                match (old, one) {
                    (Ok((a, la)), Some((b, lb))) => {
                        prop_assert_eq!(la, lb);
                        prop_assert_eq!(
                            (a.master, a.count, a.deleted, a.master_fields, a.master_fields_pos, a.first_entry_pos),
                            (b.master, b.count, b.deleted, b.master_fields, b.master_fields_pos, b.first_entry_pos)
                        );
                    }
                    (Err(_), None) => {}
                    (old, one) => prop_assert!(false, "new+check {:?}, new_checked {:?}", old.map(|x| x.1), one.map(|x| x.1)),
                }
            }
        }
    }

    proptest! {
        /// The lean walk of `new_checked` accepts only nodes that `new` and then `check`
        /// accept, with the same node and last ID, and accepts every node a server writes
        /// (the unmutated ones: integers, short strings).
        #[test]
        fn lean_is_new_then_check(steps in proptest::collection::vec((0u64..3, 0u64..1000, any::<bool>(), any::<bool>(), arb_fields()), 0..6),
                                  muts in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4)) {
            let unmutated = muts.is_empty();
            let (key, lp) = mutated_node(steps, muts);
            if let Ok(l) = Listpack::new(&lp) {
                let key16: &[u8; 16] = key.as_slice().try_into().unwrap();
                let lean = StreamNode::new_checked_lean(key16, l);
                let old = StreamNode::new(&key, l).and_then(|n| n.check().map(|last| (n, last)));
                if unmutated {
                    prop_assert!(old.is_ok() && lean.is_some(), "a sound node: {:?} / {:?}", old.map(|x| x.1), lean.map(|x| x.1));
                }
                if let Some((b, lb)) = lean {
                    let (a, la) = old.expect("lean accepted a node the general walk refuses");
                    prop_assert_eq!(la, lb);
                    prop_assert_eq!(
                        (a.master, a.count, a.deleted, a.master_fields, a.master_fields_pos, a.first_entry_pos),
                        (b.master, b.count, b.deleted, b.master_fields, b.master_fields_pos, b.first_entry_pos)
                    );
                }
            }
        }
    }

    /// `validate` as it was before the single walk: `Listpack::validate`, then the entries.
    fn two_walks(node: &StreamNode<'_>) -> Result<Option<StreamId>, BlobError> {
        node.lp.validate()?;
        let (mut live, mut dead, mut prev) = (0u64, 0u64, None::<StreamId>);
        for e in node.entries() {
            let e = e?;
            if e.id < node.master {
                return Err(err(
                    e.start,
                    format!(
                        "entry ID {} is below the node's master ID {}",
                        e.id, node.master
                    ),
                ));
            }
            if let Some(p) = prev {
                if e.id <= p {
                    return Err(err(
                        e.start,
                        format!(
                            "entry ID {} does not follow the previous entry ID {p}",
                            e.id
                        ),
                    ));
                }
            }
            prev = Some(e.id);
            if e.deleted {
                dead += 1
            } else {
                live += 1
            }
            if live + dead > node.count.saturating_add(node.deleted) {
                return Err(err(e.start, format!("node holds more than the count + deleted = {} entries announced by the master entry", node.count.saturating_add(node.deleted))));
            }
        }
        if live != node.count || dead != node.deleted {
            return Err(err(listpack::HEADER_SIZE, format!("master entry says {} live and {} deleted entries, the node holds {live} live and {dead} deleted", node.count, node.deleted)));
        }
        Ok(prev)
    }
}
