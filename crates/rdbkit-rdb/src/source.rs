//! Where the bytes come from: a file ([`crate::RdbFile`], in `file.rs`), any slice
//! ([`RdbParser`]), or any `io::Read` ([`RdbReader`]) — a pipe, `zcat`,
//! a socket — which buffers just enough for the current record; [`RecordSource`] over all of
//! them, and [`ValueBudget`] to bound what a caller holds.

use std::io::Read;

use crate::crc64::Crc64;
use crate::error::{Error, ErrorKind, Result};
use crate::parser::RdbParser;
use crate::record::{Options, Record};
use crate::unit::{Core, Unit};

/// Smallest read from the underlying source.
const MIN_READ: usize = 64 * 1024;

/// Default of [`RdbReader::hold_values_up_to`].
pub const DEFAULT_HOLD_UP_TO: u64 = 16 << 20;

/// A string value passed through without being held (see [`RdbReader::next`]).
struct StreamedKey {
    type_byte: u8,
    type_at: u64,
    key_at: u64,
    value_at: u64,
    streamed: crate::value::Streamed,
    end: u64,
    /// The value's LZF data is damaged: reported after the key's duplicate check, as the slice
    /// parser orders them (the key is noted before the value is validated).
    value_err: Option<Error>,
}

/// Parses an RDB from any `io::Read`, holding only the current record (plus read-ahead) in
/// memory. Yields exactly the records [`RdbParser`] yields for the same bytes.
pub struct RdbReader<R> {
    src: R,
    buf: Vec<u8>,
    /// First unconsumed byte of `buf`.
    start: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
    min_read: usize,
    core: Core,
    crc: Crc64,
    failed: bool,
    /// See [`RdbReader::hold_values_up_to`].
    hold_up_to: u64,
    /// See [`RdbReader::max_record_bytes`].
    budget: Option<(u64, &'static str)>,
    /// The key of a streamed string value.
    held_key: Vec<u8>,
}

impl<R: Read> RdbReader<R> {
    /// A reader of `src` (an RDB from its header) read with `opts`: a pipe, `zcat`, a socket
    /// or a file, holding only the current record.
    ///
    /// ```
    /// use rdbkit_rdb::{Options, RdbReader, Record};
    /// let f = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/rdb/sample.rdb"))?;
    /// let mut reader = RdbReader::new(std::io::BufReader::new(f), Options::default().deep(true));
    /// let mut keys = 0;
    /// while let Some(rec) = reader.next() {
    ///     match rec? {
    ///         Record::Key(_) => keys += 1,
    ///         Record::Eof { checksum, .. } => println!("{keys} keys, checksum {checksum:?}"),
    ///         _ => {}
    ///     }
    /// }
    /// assert!(keys > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(src: R, opts: Options) -> Self {
        let mut core = Core::new(opts);
        // A stream cannot be re-read to confirm a duplicate key: 128-bit fingerprints.
        core.set_keys_exact();
        RdbReader {
            src,
            buf: Vec::new(),
            start: 0,
            base: 0,
            eof: false,
            min_read: MIN_READ,
            core,
            crc: Crc64::new(),
            failed: false,
            hold_up_to: DEFAULT_HOLD_UP_TO,
            budget: None,
            held_key: Vec::new(),
        }
    }

    /// Records are held whole in memory up to about this many bytes (default 16 MiB). A key
    /// whose string value is bigger is not: the value streams through — CRC'd, and with deep
    /// validation its LZF data validated, as it passes — and its record carries its length
    /// only ([`crate::Value::streamed_len`]). Memory then stays bounded whatever a string's
    /// size. (Other records — a single huge listpack, a huge key — are still held whole: use
    /// [`max_record_bytes`](Self::max_record_bytes) to bound them.)
    pub fn hold_values_up_to(mut self, bytes: u64) -> Self {
        self.hold_up_to = bytes.max(1);
        self
    }

    /// For callers that need every value's content (a dump, a diff): refuse, with an error
    /// naming the key and its offset, any record that would need more than `bytes` of buffer
    /// instead of holding or streaming it. `flag` names the setting in the message (e.g.
    /// `--max-value-bytes`).
    pub fn max_record_bytes(mut self, bytes: u64, flag: &'static str) -> Self {
        self.budget = Some((bytes.max(1), flag));
        self
    }

    /// The header, once the first record has been read.
    pub fn header(&self) -> Option<crate::Header> {
        self.core.header()
    }

    /// Smallest read from the source (default 64 KiB). Tiny values exercise the
    /// "record needs more bytes" path in tests.
    pub fn with_min_read(mut self, bytes: usize) -> Self {
        self.min_read = bytes.max(1);
        self
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.base + self.start as u64
    }

    /// The bytes read from the source but not consumed yet: after the EOF record, the first
    /// bytes of what follows the RDB (an AOF's RESP tail after its RDB preamble), which the
    /// source no longer holds.
    pub fn unread(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or(&[])
    }

    /// Reads more input: drops consumed bytes, then grows the buffer geometrically.
    fn fill(&mut self) -> Result<()> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.base += self.start as u64;
            self.start = 0;
        }
        let old = self.buf.len();
        // Grow geometrically: the unit being parsed needs more than everything buffered.
        let mut want = old.max(self.min_read);
        // Up to the hold limit (or the budget) and no further in one go: there the unit is
        // streamed (or refused) instead of buffered whole.
        let limit = self.budget.map_or(self.hold_up_to, |b| b.0);
        if (old as u64) < limit {
            want = want.min((limit - old as u64) as usize).max(1);
        }
        // Exactly what is asked: `read_to_end` alone would double the capacity.
        self.buf.reserve_exact(want);
        match self
            .src
            .by_ref()
            .take(want as u64)
            .read_to_end(&mut self.buf)
        {
            Ok(n) => {
                if n < want {
                    self.eof = true;
                }
                Ok(())
            }
            Err(e) => Err(Error::new(
                ErrorKind::Io(e),
                self.base + self.buf.len() as u64,
            )),
        }
    }

    /// Marks `n` bytes from `start` consumed and feeds them to the CRC (for the EOF unit only
    /// its opcode byte is covered, not the trailer).
    fn consume(&mut self, n: usize, is_eof: bool) {
        let covered = if is_eof { n.min(1) } else { n };
        self.crc.update(&self.buf[self.start..self.start + covered]);
        self.start += n;
    }

    #[allow(clippy::should_implement_trait)]
    /// The next record, or `None` after EOF or after an error (the lending form: a record borrows the reader).
    pub fn next(&mut self) -> Option<Result<Record<'_>>> {
        if self.core.is_done() || self.failed {
            return None;
        }
        let (n, is_eof) = loop {
            let at = self.base + self.start as u64;
            self.core.set_unit_at(at);
            match self.core.parse_unit(&self.buf[self.start..], at) {
                Ok((u, n)) => {
                    let is_eof = matches!(u, Unit::Eof { .. });
                    if u.is_record() {
                        break (n, is_eof);
                    }
                    self.core.apply(u, at);
                    self.consume(n, false);
                }
                Err(e) if e.kind.is_out_of_data() && !self.eof => {
                    let pending = (self.buf.len() - self.start) as u64;
                    if let Some((budget, flag)) = self.budget {
                        if pending >= budget {
                            self.failed = true;
                            return Some(Err(self.over_budget(at, budget, flag)));
                        }
                    } else if pending >= self.hold_up_to {
                        match self.stream_string(at) {
                            None => {}
                            Some(Err(e)) => {
                                self.failed = true;
                                return Some(Err(e.in_db(self.core.db())));
                            }
                            Some(Ok(sk)) => return Some(self.streamed_record(sk)),
                        }
                    }
                    if let Err(e) = self.fill() {
                        self.failed = true;
                        return Some(Err(e));
                    }
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e.in_db(self.core.db())));
                }
            }
        };
        let s = self.start;
        self.consume(n, is_eof);
        let crc_now = if is_eof { self.crc.finish() } else { 0 };
        let at = self.base + s as u64;
        let unit = match self.core.parse_unit(&self.buf[s..s + n], at) {
            Ok((u, _)) => u,
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        };
        let Some(unit) = self.core.apply(unit, at) else {
            self.failed = true;
            return Some(Err(Error::invalid(
                at,
                "internal: record unit changed on re-read",
            )));
        };
        let r = self.core.build(
            unit,
            |_| crc_now,
            |_, _, _| crate::unit::Confirm::CannotReread,
        );
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

impl<R: Read> RdbReader<R> {
    /// The error for a record at `at` that needs more than `budget` bytes: names the key when
    /// the record is a key whose name is buffered.
    fn over_budget(&self, at: u64, budget: u64, flag: &str) -> Error {
        let e = Error::new(
            ErrorKind::Unsupported(format!(
                "this record needs more than {budget} bytes in memory, over the {flag} limit \
                 (raise it to read the value)"
            )),
            at,
        );
        let data = &self.buf[self.start..];
        match data.first().map(|&b| self.core.lookup(b)) {
            Some(crate::version::Lookup::Type(_)) => {
                let mut c = crate::cursor::Cursor::new(&data[1..], at + 1);
                match crate::string::read_string(&mut c, "key") {
                    Ok(key) => self.core.with_key(e, key, at + 1),
                    Err(_) => e.in_db(self.core.db()),
                }
            }
            _ => e.in_db(self.core.db()),
        }
    }

    /// The unit at `at` (buffered from `start`, incomplete) when it is a key whose string value
    /// is too big to hold: reads the key and the value's length, then passes the value through
    /// (CRC, LZF validation) without holding it. `None`: not such a unit (or its key and length
    /// are not buffered yet): buffer more as usual.
    fn stream_string(&mut self, at: u64) -> Option<Result<StreamedKey>> {
        use crate::length::{read_len, read_len_or_enc, Len, ENC_LZF};
        let data = &self.buf[self.start..];
        let type_byte = *data.first()?;
        if !matches!(
            self.core.lookup(type_byte),
            crate::version::Lookup::Type(crate::version::Type::String)
        ) {
            return None;
        }
        let key_at = at + 1;
        let mut c = crate::cursor::Cursor::new(&data[1..], key_at);
        let key = match crate::string::read_string(&mut c, "key") {
            Ok(k) => k,
            Err(e) if e.kind.is_out_of_data() => return None,
            Err(e) => return Some(Err(e)),
        };
        let value_at = c.offset();
        let (payload, mut lzf) = match read_len_or_enc(&mut c) {
            Ok(Len::Plain(n)) => (n, None),
            Ok(Len::Encoded(ENC_LZF)) => {
                let lens = read_len(&mut c, "LZF compressed length")
                    .and_then(|cl| Ok((cl, read_len(&mut c, "LZF uncompressed length")?)));
                let (clen, len) = match lens {
                    Ok(l) => l,
                    Err(e) if e.kind.is_out_of_data() => return None,
                    Err(e) => return Some(Err(self.core.with_key(e, key, key_at))),
                };
                let impossible = len == 0
                    || len
                        > clen
                            .saturating_mul(crate::string::LZF_MAX_RATIO)
                            .saturating_add(64)
                    || usize::try_from(len).is_err()
                    || usize::try_from(clen).is_err();
                let v = if impossible {
                    Err(())
                } else {
                    crate::lzf::StreamValidator::new(clen as usize, len as usize).map_err(|_| ())
                };
                match v {
                    Ok(v) => (clen, Some((v, len))),
                    // The general path reports it exactly as the slice parser does.
                    Err(()) => return None,
                }
            }
            Ok(Len::Encoded(_)) => return None,
            Err(e) if e.kind.is_out_of_data() => return None,
            Err(e) => return Some(Err(self.core.with_key(e, key, key_at))),
        };
        let head = 1 + c.pos();
        let mut kb = Vec::new();
        // As the slice parser: a key that does not decompress is reported once the value's
        // bytes are known to be there (a short value is reported first), and the value of such
        // a key is not validated.
        let mut key_err = None;
        self.held_key.clear();
        match key.bytes_in(&mut kb, key_at) {
            Ok(k) => self.held_key.extend_from_slice(k),
            Err(e) => key_err = Some(e.in_db(self.core.db())),
        }
        let payload_at = at + head as u64;
        let end = payload_at.checked_add(payload)?;
        let deep = self.core.deep();
        let logical = lzf.as_ref().map_or(payload, |(_, len)| *len);
        let is_lzf = lzf.is_some();
        if !deep || key_err.is_some() {
            lzf = None;
        }
        // The type byte, key and length prefix; then the payload as it comes.
        self.crc.update(&self.buf[self.start..self.start + head]);
        self.start += head;
        let mut left = payload;
        let key_ok = key_err.is_none();
        let key_ctx = |e: Error, k: &[u8], db| {
            if key_ok {
                e.in_key(db, k)
            } else {
                e.in_db(db)
            }
        };
        // Damaged LZF data: the rest still streams through (a short value is reported first),
        // then the key's duplicate check, then this (the slice parser's order).
        let mut value_err = None;
        loop {
            let avail = (self.buf.len() - self.start) as u64;
            let n = avail.min(left) as usize;
            let piece = &self.buf[self.start..self.start + n];
            self.crc.update(piece);
            if let Some((v, _)) = lzf.as_mut() {
                if let Err(e) = v.feed(piece) {
                    let e = Error::new(ErrorKind::Lzf(e), value_at);
                    value_err = Some(key_ctx(e, &self.held_key, self.core.db()));
                    lzf = None;
                }
            }
            self.start += n;
            left -= n as u64;
            if left == 0 {
                break;
            }
            // Everything buffered is consumed: read the next piece into the same buffer.
            self.base += self.start as u64;
            self.buf.clear();
            self.start = 0;
            let want = left.min(self.min_read.max(1 << 20) as u64);
            match self.src.by_ref().take(want).read_to_end(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    // As the slice parser says it: at the string, what it needs and has.
                    let e = Error::new(
                        ErrorKind::BadLength {
                            what: if is_lzf {
                                "LZF compressed data"
                            } else {
                                "string value"
                            },
                            len: payload,
                            left: payload - left,
                        },
                        value_at,
                    );
                    return Some(Err(key_ctx(e, &self.held_key, self.core.db())));
                }
                Ok(_) => {}
                Err(e) => return Some(Err(Error::new(ErrorKind::Io(e), self.base))),
            }
        }
        if let Some(e) = key_err {
            return Some(Err(e));
        }
        if let Some((v, _)) = &lzf {
            if let Err(e) = v.finish() {
                let e = Error::new(ErrorKind::Lzf(e), value_at);
                value_err = Some(key_ctx(e, &self.held_key, self.core.db()));
            }
        }
        Some(Ok(StreamedKey {
            type_byte,
            type_at: at,
            key_at,
            value_at,
            streamed: crate::value::Streamed {
                len: logical,
                stored: end - value_at,
            },
            end,
            value_err,
        }))
    }

    /// The record of a key whose string value streamed through.
    fn streamed_record(&mut self, mut sk: StreamedKey) -> Result<Record<'_>> {
        let value_err = sk.value_err.take();
        if value_err.is_some() {
            self.failed = true;
        }
        let Some(dialect) = self.core.header().map(|h| h.dialect) else {
            self.failed = true;
            return Err(Error::invalid(sk.type_at, "internal: no header"));
        };
        let unit = Unit::Key {
            key: crate::string::RdbString::Raw(&self.held_key),
            key_at: sk.key_at,
            type_at: sk.type_at,
            value: crate::value::Value::streamed_string(
                sk.type_byte,
                dialect,
                sk.value_at,
                sk.streamed,
            ),
            end: sk.end,
        };
        self.core.set_unit_at(sk.type_at);
        let Some(unit) = self.core.apply(unit, sk.type_at) else {
            self.failed = true;
            return Err(Error::invalid(
                sk.type_at,
                "internal: key unit not a record",
            ));
        };
        let r = self
            .core
            .build(unit, |_| 0, |_, _, _| crate::unit::Confirm::CannotReread);
        if r.is_err() {
            self.failed = true;
        }
        match value_err {
            Some(e) if r.is_ok() => Err(e),
            _ => r,
        }
    }
}

/// Default for a command's `--max-value-bytes`: 512 MiB, Redis's own limit on one string
/// (`proto-max-bulk-len`).
pub const DEFAULT_MAX_VALUE_BYTES: u64 = 512 << 20;

/// A [`RecordSource`] that refuses, with an error naming the key and its offset, a key whose
/// value needs more than `budget` bytes to decode ([`crate::Value::content_len`]): for
/// commands that hold a value's content (a dump, a diff). Wrap an [`RdbReader`] made with the
/// same [`RdbReader::max_record_bytes`] so that a stream never buffers more either.
pub struct ValueBudget<'s, S: ?Sized> {
    inner: &'s mut S,
    budget: u64,
    flag: &'static str,
    refused: bool,
}

impl<'s, S: RecordSource + ?Sized> ValueBudget<'s, S> {
    /// Whether the last error was this budget's refusal (not damage found by the source).
    pub fn refused(&self) -> bool {
        self.refused
    }

    /// `flag` names the setting in the error (e.g. `--max-value-bytes`).
    pub fn new(inner: &'s mut S, budget: u64, flag: &'static str) -> Self {
        ValueBudget {
            inner,
            budget,
            flag,
            refused: false,
        }
    }
}

impl<S: RecordSource + ?Sized> RecordSource for ValueBudget<'_, S> {
    fn next_record(&mut self) -> Option<Result<Record<'_>>> {
        let (budget, flag) = (self.budget, self.flag);
        let r = self.inner.next_record();
        if let Some(Ok(Record::Key(k))) = &r {
            let need = k.value.content_len();
            if need > budget {
                let e = Error::new(
                    ErrorKind::Unsupported(format!(
                        "this value needs {need} bytes in memory, over the {flag} limit of \
                         {budget} (raise it to read the value)"
                    )),
                    k.offset,
                )
                .in_key(Some(k.db), k.key);
                self.refused = true;
                return Some(Err(e));
            }
        }
        r
    }
    fn header(&self) -> Option<crate::Header> {
        self.inner.header()
    }
    fn position(&self) -> u64 {
        self.inner.position()
    }
}

/// A run of records read by a source's lean path ([`RecordSource::lean_run`]): string keys
/// without attributes, each record stored as its type byte (0), the key's one-byte length
/// (under 64) and its bytes, then the value (a one-byte length under 64 and its bytes, or an
/// 8/16/32-bit integer).
#[derive(Clone, Copy, Debug)]
pub struct LeanRun<'r> {
    /// The whole input (the run is `input[start..end]`).
    pub input: &'r [u8],
    /// File offset of the run's first record.
    pub start: u64,
    /// File offset just past its last record.
    pub end: u64,
    /// The db of its keys.
    pub db: u64,
    /// Its number of keys.
    pub keys: u64,
}

/// Either source, for code that takes both (a lending "iterator" of records).
pub trait RecordSource {
    /// The next record, or `None` after EOF or after an error.
    fn next_record(&mut self) -> Option<Result<Record<'_>>>;
    /// The header, once read.
    fn header(&self) -> Option<crate::Header>;
    /// Bytes consumed so far.
    fn position(&self) -> u64;
    /// [`next_record`](Self::next_record), with the whole input beside the record when the
    /// source holds it in memory (a mapped file or a slice: a record's `offset..end` indexes
    /// it), to copy records as they are stored; `None` from a stream.
    fn next_with_input(&mut self) -> (Option<Result<Record<'_>>>, Option<&[u8]>) {
        (self.next_record(), None)
    }
    /// The lean path of a source over data in memory: reads the run of records from here on
    /// that [`LeanRun`] describes, up to `limit` bytes (stopping at a record's end), giving
    /// `on_key` each key with its record's file offsets (start, end). `None` when no such
    /// record comes next, or the source has none (a stream): read the next record with
    /// [`next_record`](Self::next_record), which reports whatever stopped the run. The run's
    /// records are those `next_record` would have given, with the same verdicts (a
    /// validation without deep checks: [`Options::deep`] off).
    fn lean_run(
        &mut self,
        limit: usize,
        on_key: &mut dyn FnMut(&[u8], u64, u64),
    ) -> Option<LeanRun<'_>> {
        let _ = (limit, on_key);
        None
    }
}

impl RecordSource for RdbParser<'_> {
    fn next_record(&mut self) -> Option<Result<Record<'_>>> {
        self.next()
    }
    fn next_with_input(&mut self) -> (Option<Result<Record<'_>>>, Option<&[u8]>) {
        let input = self.data();
        (self.next(), Some(input))
    }
    fn lean_run(
        &mut self,
        limit: usize,
        on_key: &mut dyn FnMut(&[u8], u64, u64),
    ) -> Option<LeanRun<'_>> {
        let start = self.position();
        let mut keys = 0;
        let (run, db, _) = self.fast_run(limit, |r| {
            if let Record::Key(k) = r {
                keys += 1;
                on_key(k.key, k.offset, k.end);
            }
        })?;
        Some(LeanRun {
            input: self.data(),
            start,
            end: start + run.len() as u64,
            db,
            keys,
        })
    }
    fn header(&self) -> Option<crate::Header> {
        RdbParser::header(self)
    }
    fn position(&self) -> u64 {
        RdbParser::position(self)
    }
}

impl<R: Read> RecordSource for RdbReader<R> {
    fn next_record(&mut self) -> Option<Result<Record<'_>>> {
        self.next()
    }
    fn header(&self) -> Option<crate::Header> {
        RdbReader::header(self)
    }
    fn position(&self) -> u64 {
        RdbReader::position(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (records as text without value bytes, error offset) of a run.
    /// A key record as the tests compare it (a streamed string says "raw" — only big strings
    /// are, in real use — so a string's encoding is left out).
    fn key_line(k: &crate::KeyRecord<'_>) -> String {
        format!(
            "key {} {:?} {} {} {:?} {}",
            k.db,
            k.key,
            k.offset,
            k.end,
            k.value.ty,
            if k.value.ty == crate::Type::String {
                "-"
            } else {
                k.value.encoding()
            }
        )
    }

    fn run(p: &mut dyn RecordSource) -> (Vec<String>, Option<(u64, String)>) {
        let mut out = Vec::new();
        while let Some(r) = p.next_record() {
            match r {
                Ok(Record::Key(k)) => out.push(key_line(&k)),
                Ok(Record::Eof { checksum, end, .. }) => {
                    out.push(format!("eof {checksum:?} {end}"))
                }
                Ok(_) => out.push("other".into()),
                Err(e) => return (out, Some((e.offset, format!("{:?}", e.kind)))),
            }
        }
        (out, None)
    }

    /// With every string value streamed (hold limit 1 byte), the stream gives the slice
    /// parser's records and verdicts, on the fixtures and on damaged copies of them (the
    /// error's kind may differ for LZF data: the offsets may not).
    #[test]
    fn streamed_strings_give_the_slice_verdict() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rdb");
        let f = std::fs::read(root.join("sample.rdb")).unwrap();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut streamed = 0;
        let mut refused = 0;
        for round in 0..400 {
            let mut d = f.clone();
            if round > 0 {
                let at = 10 + (rnd() as usize) % (d.len() - 10);
                if round % 3 == 0 {
                    d.truncate(at);
                } else {
                    d[at] = rnd() as u8;
                }
            }
            for deep in [false, true] {
                let opts = Options::default().deep(deep);
                let want = run(&mut RdbParser::new(&d, opts));
                let mut r = RdbReader::new(&d[..], opts)
                    .with_min_read(1 + round % 5)
                    .hold_values_up_to(1);
                let got = run(&mut r);
                assert_eq!(got.0, want.0, "round {round} deep {deep}");
                assert_eq!(
                    got.1.as_ref().map(|e| e.0),
                    want.1.as_ref().map(|e| e.0),
                    "round {round} deep {deep}: {:?} vs {:?}",
                    got.1,
                    want.1
                );
                refused += usize::from(want.1.is_some());
            }
            // Streamed values say their length and refuse to give content.
            let mut r = RdbReader::new(&d[..], Options::default())
                .with_min_read(3)
                .hold_values_up_to(1);
            while let Some(Ok(rec)) = r.next() {
                if let Record::Key(k) = rec {
                    if let Some(n) = k.value.streamed_len() {
                        streamed += 1;
                        assert!(k.value.raw().is_empty() && n > 0);
                        assert!(k.value.view(&mut Vec::new()).is_err());
                    }
                }
            }
        }
        assert!(streamed > 1000 && refused > 300, "{streamed} {refused}");
    }

    /// Lean runs and records in turn give the records `next_record` alone gives (keys, their
    /// offsets, the verdict), on a file of small strings with other records between and on
    /// damaged copies of it; a stream has no lean path.
    #[test]
    fn lean_runs_give_the_records_of_next() {
        let mut body = vec![0xfe, 0];
        for i in 0..400u32 {
            match i % 9 {
                0 => body.extend_from_slice(&[0xfc, 1, 2, 3, 4, 5, 6, 7, 0]),
                4 => body.extend_from_slice(&[0xfe, (i % 3) as u8]),
                _ => {}
            }
            crate::string::encode_raw(format!("key:{i}").as_bytes(), {
                body.push(0);
                &mut body
            });
            if i % 5 == 0 {
                body.extend_from_slice(&[0xc1, i as u8, 0]);
            } else {
                crate::string::encode_raw(&vec![b'v'; (i % 70) as usize], &mut body);
            }
        }
        let mut f = b"REDIS0010".to_vec();
        f.extend_from_slice(&body);
        f.push(0xff);
        f.extend_from_slice(&crate::crc64::crc64(&f).to_le_bytes());
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut lean_keys = 0;
        for round in 0..300 {
            let mut d = f.clone();
            if round > 0 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = 10 + (state as usize) % (d.len() - 10);
                if round % 2 == 0 {
                    d.truncate(at);
                } else {
                    d[at] ^= (state >> 32) as u8 | 1;
                }
            }
            let opts = Options::default();
            let want = run(&mut RdbParser::new(&d, opts));
            let mut p = RdbParser::new(&d, opts);
            let mut got = Vec::new();
            let err = loop {
                let mut keys = Vec::new();
                let lr = p.lean_run(64 + round, &mut |k, s, e| keys.push((k.to_vec(), s, e)));
                if let Some(lr) = lr {
                    assert_eq!(lr.keys as usize, keys.len());
                    assert_eq!((keys[0].1, keys.last().unwrap().2), (lr.start, lr.end));
                    assert!(lr.input.len() >= lr.end as usize);
                    lean_keys += keys.len();
                    for (k, s, e) in keys {
                        // The layout LeanRun documents: type byte 0, key length, key, value.
                        let rec = &lr.input[s as usize..e as usize];
                        assert_eq!((rec[0], &rec[2..2 + usize::from(rec[1])]), (0, &k[..]));
                        got.push(format!("key {} {k:?} {s} {e} String -", lr.db));
                    }
                    continue;
                }
                let (r, input) = p.next_with_input();
                assert!(input.is_some_and(|i| i.len() == d.len()));
                match r {
                    None => break None,
                    Some(Ok(Record::Key(k))) => got.push(key_line(&k)),
                    Some(Ok(Record::Eof { checksum, end, .. })) => {
                        got.push(format!("eof {checksum:?} {end}"))
                    }
                    Some(Ok(_)) => got.push("other".into()),
                    Some(Err(e)) => break Some((e.offset, format!("{:?}", e.kind))),
                }
            };
            assert_eq!(got, want.0, "round {round}");
            assert_eq!(err, want.1, "round {round}");
            let mut r = RdbReader::new(&d[..], opts);
            assert!(r.lean_run(1 << 20, &mut |_, _, _| {}).is_none());
        }
        assert!(lean_keys > 10_000, "{lean_keys}");
    }

    #[test]
    fn budget_names_the_key() {
        let mut f = b"REDIS0009\xfe\x00\x00".to_vec();
        crate::string::encode_raw(b"big", &mut f);
        crate::string::encode_raw(&[b'x'; 300], &mut f);
        f.push(0xff);
        f.extend_from_slice(&crate::crc64::crc64(&f).to_le_bytes());
        let budget = |b: u64| {
            let mut r = RdbReader::new(&f[..], Options::default())
                .with_min_read(1)
                .max_record_bytes(b, "--max-value-bytes");
            while let Some(rec) = r.next() {
                if let Err(e) = rec {
                    return Some(e.to_string());
                }
            }
            None
        };
        let e = budget(200).expect("refused");
        assert!(
            e.starts_with("at byte 11 (db 0, key \"big\"): this record needs more than 200 bytes")
                && e.contains("over the --max-value-bytes limit"),
            "{e}"
        );
        assert_eq!(budget(400), None);
    }
}
