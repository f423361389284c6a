//! [`RdbParser`]: RDB data held in memory (a memory map or any slice) as a pull stream of
//! [`Record`]s, on the unit machine of [`crate::unit`], with a fast path for the most common
//! unit (a plain string key) and the CRC computed on a second thread.

use crate::cursor::Cursor;
use crate::error::{Error, Result};
use crate::record::{Header, KeyRecord, Options, Record};
use crate::string::{read_string, RdbString};
use crate::unit::{Core, Unit};
use crate::value::Value;
use crate::version::{Lookup, Type};
// The paths `parallel` uses for the duplicate-key confirmation.
pub(crate) use crate::unit::{duplicate_key_error, Confirm};

/// Looks for a key record of `key` in `db` that starts before `before` in `data` (an RDB from
/// its header): the byte-for-byte confirmation of a duplicate-key candidate.
pub(crate) fn find_earlier_key(
    data: &[u8],
    opts: Options,
    db: u64,
    key: &[u8],
    before: u64,
) -> Confirm {
    let opts = opts.deep(false).verify_checksum(false);
    let mut p = RdbParser::new(data, opts);
    while let Some(Ok(rec)) = p.next() {
        if let Record::Key(k) = rec {
            if k.offset >= before {
                break;
            }
            if k.db == db && k.key == key {
                return Confirm::Earlier;
            }
        }
    }
    Confirm::NotFound
}

/// Parses RDB data held in memory (a memory map or any slice).
pub struct RdbParser<'a> {
    data: &'a [u8],
    pos: usize,
    core: Core,
    failed: bool,
    /// CRC-64 of `data[..end]` computed on another thread: `(end, crc)`.
    crc_ahead: Option<std::sync::mpsc::Receiver<(usize, u64)>>,
    /// See [`RdbParser::defer_values`].
    defer_values: bool,
    deferred: Option<Value<'a>>,
    /// The mapped file the data comes from, to detect it shrinking under the parser.
    guard: Option<&'a crate::RdbFile>,
}

impl<'a> RdbParser<'a> {
    /// A parser of `data` (an RDB from its header) read with `opts`. Records borrow the
    /// parser (a lending `next`); [`into_records`](Self::into_records) gives an `Iterator`
    /// whose items borrow only `data`.
    ///
    /// ```
    /// use rdbkit_rdb::{Family, Options, RdbParser, Record};
    /// let data = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/rdb/sample.rdb"))?;
    /// let mut parser = RdbParser::new(&data, Options::default());
    /// let mut hashes = 0;
    /// while let Some(rec) = parser.next() {
    ///     if let Record::Key(k) = rec? {
    ///         if k.value.family() == Family::Hash {
    ///             hashes += 1;
    ///             assert!(k.value.len()? > 0);
    ///         }
    ///     }
    /// }
    /// assert!(hashes > 0);
    /// # Ok::<(), rdbkit_rdb::Error>(())
    /// ```
    pub fn new(data: &'a [u8], opts: Options) -> Self {
        let mut core = Core::new(opts);
        // A key record takes at least 3 bytes.
        core.keys_hint_cap = data.len() as u64 / 3;
        RdbParser {
            data,
            pos: 0,
            core,
            failed: false,
            crc_ahead: None,
            defer_values: false,
            deferred: None,
            guard: None,
        }
    }

    /// Leave duplicate keys to the caller (no key set here).
    pub(crate) fn keys_elsewhere(mut self) -> Self {
        self.core.keys_elsewhere = true;
        self
    }

    /// Data mapped from `file`: refuse what was read once the file shrank under the map.
    pub(crate) fn guarded_by(mut self, file: &'a crate::RdbFile) -> Self {
        self.guard = Some(file);
        self
    }

    /// The guard's verdict: an error when the mapped file shrank (`full`: also `fstat` it;
    /// otherwise only the fault flag).
    fn file_changed(guard: Option<&crate::RdbFile>, full: bool) -> Option<Error> {
        let g = guard?;
        if !full && !g.faulted() {
            return None;
        }
        g.check_unchanged().err()
    }

    /// With deep validation on: leave each key's value unvalidated and hand it over, with the
    /// data's lifetime, through [`take_deferred`](Self::take_deferred) after the key's record,
    /// so that values can be validated elsewhere (other threads: [`crate::parallel`]). Values
    /// that refer to the file's hash templates are still validated here (they borrow the
    /// parser's templates).
    pub fn defer_values(mut self, yes: bool) -> Self {
        self.defer_values = yes;
        self
    }

    /// The value of the key record just returned, when [`defer_values`](Self::defer_values)
    /// left its deep validation to the caller.
    pub fn take_deferred(&mut self) -> Option<Value<'a>> {
        self.deferred.take()
    }

    /// Computes the CRC-64 on a thread of `scope` while the caller decodes (the check is
    /// decode-bound, so the checksum comes for free on a second core). Assumes the usual
    /// layout (the 8-byte trailer ends the data); otherwise the CRC is computed at EOF as usual.
    pub fn crc_on_thread<'scope, 'env>(
        mut self,
        scope: &'scope std::thread::Scope<'scope, 'env>,
    ) -> Self
    where
        'a: 'env,
    {
        if !self.core.opts.verify_checksum || self.data.len() < 1 << 20 {
            return self;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let data = self.data;
        let end = data.len() - 8;
        scope.spawn(move || {
            // The receiver may be gone (the caller stopped early): nothing to do then.
            crate::trace::mark(9, "crc");
            let crc = crate::crc64::crc64(&data[..end]);
            crate::trace::mark(9, "crcd");
            crate::trace::cpu(9);
            let _ = tx.send((end, crc));
        });
        self.crc_ahead = Some(rx);
        self
    }

    /// The header, once the first record has been read.
    pub fn header(&self) -> Option<Header> {
        self.core.header
    }

    /// Reads the header now (it is otherwise read by the first `next`).
    pub fn read_header(&mut self) -> Result<Header> {
        if let Some(h) = self.core.header {
            return Ok(h);
        }
        let (unit, n) = self
            .core
            .parse_unit(self.data, 0)
            .inspect_err(|_| self.failed = true)?;
        self.pos = n;
        self.core.apply(unit, 0);
        self.core
            .header
            .ok_or_else(|| Error::invalid(0, "no header"))
    }

    /// Bytes consumed so far (after EOF: the whole RDB including its trailer).
    pub fn position(&self) -> u64 {
        self.pos as u64
    }

    /// The data parsed (the whole input).
    pub(crate) fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The current database (after a SELECTDB).
    pub fn db(&self) -> Option<u64> {
        self.core.db
    }

    /// The next record, or `None` after EOF or after an error.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Record<'_>>> {
        match self.step()? {
            Err(e) => Some(Err(e)),
            Ok(Step::Fast(k)) => Some(Ok(Record::Key(k))),
            Ok(Step::Unit(unit)) => Some(self.finish(unit)),
        }
    }

    /// Everything of `next` before the record is built: the next unit that makes a record.
    pub(crate) fn step(&mut self) -> Option<Result<Step<'a>>> {
        if self.core.done || self.failed {
            return None;
        }
        self.deferred = None;
        self.core.skip_value_deep = false;
        let guard = self.guard;
        if let Some(e) = Self::file_changed(guard, false) {
            self.failed = true;
            return Some(Err(e));
        }
        if let Some(k) = self.fast_string_key() {
            return Some(Ok(Step::Fast(k)));
        }
        let data: &'a [u8] = self.data;
        let unit = loop {
            let at = self.pos as u64;
            self.core.unit_at = at;
            let rest = data.get(self.pos..).unwrap_or_default();
            match self.core.parse_unit(rest, at) {
                Err(e) => {
                    self.failed = true;
                    if let Some(changed) = Self::file_changed(guard, true) {
                        return Some(Err(changed));
                    }
                    return Some(Err(e.in_db(self.core.db)));
                }
                Ok((unit, n)) => {
                    self.pos += n;
                    if let Some(u) = self.core.apply(unit, at) {
                        break u;
                    }
                }
            }
        };
        if matches!(unit, Unit::Eof { .. }) {
            if let Some(changed) = Self::file_changed(guard, true) {
                self.failed = true;
                return Some(Err(changed));
            }
        }
        Some(Ok(Step::Unit(unit)))
    }

    /// Builds the record of `unit` (the rest of `next`).
    pub(crate) fn finish(&mut self, unit: Unit<'a>) -> Result<Record<'_>> {
        let guard = self.guard;
        if self.defer_values && self.core.opts.deep {
            if let Unit::Key { value, .. } = &unit {
                if !matches!(value.ty, Type::HashTmplLpRef | Type::HashTmplArrayRef) {
                    self.deferred = Some(*value);
                    self.core.skip_value_deep = true;
                }
            }
        }
        let data = self.data;
        let opts = self.core.opts;
        let crc_ahead = &mut self.crc_ahead;
        let confirm = move |db, key: &[u8], before| find_earlier_key(data, opts, db, key, before);
        let r = self.core.build(
            unit,
            |eof| {
                let end = eof as usize + 1;
                // Wait for the other thread only here, at EOF: waiting on the first record
                // serialised the CRC before the decode (and then computed it a second time).
                match crc_ahead.take().and_then(|rx| rx.recv().ok()) {
                    Some((e, crc)) if e == end => crc,
                    _ => crate::crc64::crc64(data.get(..end).unwrap_or(data)),
                }
            },
            confirm,
        );
        if r.is_err() {
            self.failed = true;
            if let Some(changed) = Self::file_changed(guard, true) {
                return Err(changed);
            }
        }
        r
    }
}

/// What [`RdbParser::step`] found.
pub(crate) enum Step<'a> {
    /// A plain string key read by the fast path.
    Fast(KeyRecord<'a>),
    /// Any other unit, to build.
    Unit(Unit<'a>),
}

impl<'a> RdbParser<'a> {
    /// The most common unit, a string key (plain bytes) with a plain or integer string value,
    /// straight into a record without the general unit machinery: ~2x on files of many small
    /// strings. Anything else (an LZF key or value, an attribute, an opcode), and any damage,
    /// returns `None` and takes the general path, which reads it (and reports errors) as
    /// always. Deep validation has nothing to add for such a value.
    #[inline]
    fn fast_string_key(&mut self) -> Option<KeyRecord<'a>> {
        let dialect = self.core.header.as_ref()?.dialect;
        let data: &'a [u8] = self.data;
        let at = self.pos;
        let b = *data.get(at)?;
        if !matches!(self.core.table[usize::from(b)], Lookup::Type(Type::String)) {
            return None;
        }
        let body = data.get(at + 1..)?;
        // Keys and values under 64 bytes (one length byte) inline; others through read_string.
        let (key, kend) = match short_raw(body, 0) {
            Some(k) => k,
            None => {
                let mut c = Cursor::new(body, at as u64 + 1);
                let RdbString::Raw(key) = read_string(&mut c, "key").ok()? else {
                    return None;
                };
                (key, c.pos())
            }
        };
        let vstart = kend;
        let vend = match short_raw(body, vstart) {
            Some((_, e)) => e,
            None => {
                let mut c = Cursor::new(body.get(vstart..)?, 0);
                if let RdbString::Lzf { .. } = read_string(&mut c, "string value").ok()? {
                    return None;
                }
                vstart + c.pos()
            }
        };
        let voff = (at + 1 + vstart) as u64;
        let vdata = body.get(vstart..vend)?;
        // A duplicate candidate takes the general path, which confirms and reports it.
        if self.core.opts.deep && !self.core.note_key(self.core.db.unwrap_or(0), key) {
            return None;
        }
        let end = (at + 1 + vend) as u64;
        self.core.unit_at = at as u64;
        self.pos = at + 1 + vend;
        let attrs = std::mem::take(&mut self.core.attrs);
        Some(KeyRecord {
            db: self.core.db.unwrap_or(0),
            key,
            expire_ms: attrs.expire_ms,
            lru_idle: attrs.lru_idle,
            lfu_freq: attrs.lfu_freq,
            value: Value {
                ty: Type::String,
                type_byte: b,
                dialect,
                data: vdata,
                offset: voff,
                templates: None,
                streamed: None,
            },
            offset: attrs.first_offset.unwrap_or(at as u64),
            end,
        })
    }
}

impl<'a> RdbParser<'a> {
    /// The lean path of [`crate::parallel`] on files of small strings: reads the run of
    /// records from here on that are a string key without attributes, a key of one length byte
    /// (under 64 bytes, plain) and a value of one length byte or an 8/16/32-bit integer, giving
    /// each to `f` as it is built, with the parser's state kept in registers across the run
    /// (the general `next` builds, wraps and moves each record: ~120 instructions a key on
    /// such a file, callgrind). Stops before the first other record (an attribute, an opcode,
    /// another type or encoding, damage, the end of the data), which the general path then
    /// reads and reports as always. Deep validation has nothing to add for such a value; the
    /// caller checks duplicate keys (only with [`keys_elsewhere`](Self::keys_elsewhere)).
    ///
    /// Stops after `limit` bytes too (at a record's end). Returns the run's bytes (`None` when
    /// it read nothing), its db, and the offset of its last record.
    #[inline]
    pub(crate) fn fast_run(
        &mut self,
        limit: usize,
        mut f: impl FnMut(&Record<'a>),
    ) -> Option<(&'a [u8], u64, u64)> {
        if self.core.done
            || self.failed
            || (self.core.opts.deep && !self.core.keys_elsewhere)
            || self.core.attrs.first_offset.is_some()
            // A mapped file that shrank: the general path reports it (as `step`, checked
            // once a run; a run read from vanished pages is refused at the next step).
            || Self::file_changed(self.guard, false).is_some()
        {
            return None;
        }
        let h = self.core.header.as_ref()?;
        let dialect = h.dialect;
        let db = self.core.db.unwrap_or(0);
        let data: &'a [u8] = self.data;
        let table = &*self.core.table;
        self.deferred = None;
        let start = self.pos;
        let stop = start.saturating_add(limit);
        let mut at = start;
        let mut last = None;
        // One record for the run, its changing fields updated in place (building, then
        // dropping, a record per key was ~13 instructions more a key).
        let mut rec = Record::Key(KeyRecord {
            db,
            key: &[],
            expire_ms: None,
            lru_idle: None,
            lfu_freq: None,
            value: Value {
                ty: Type::String,
                type_byte: 0,
                dialect,
                data: &[],
                offset: 0,
                templates: None,
                streamed: None,
            },
            offset: 0,
            end: 0,
        });
        while let Some(&b) = data.get(at) {
            if !matches!(table[usize::from(b)], Lookup::Type(Type::String)) {
                break;
            }
            let Some((key, kend)) = short_raw(data, at + 1) else {
                break;
            };
            let Some(&vb) = data.get(kend) else { break };
            let vend = kend
                + match vb {
                    0..=0x3f => 1 + usize::from(vb),
                    0xc0 => 2,
                    0xc1 => 3,
                    0xc2 => 5,
                    _ => break,
                };
            let Some(vdata) = data.get(kend..vend) else {
                break;
            };
            if let Record::Key(k) = &mut rec {
                k.key = key;
                k.value.type_byte = b;
                k.value.data = vdata;
                k.value.offset = kend as u64;
                k.offset = at as u64;
                k.end = vend as u64;
            }
            f(&rec);
            last = Some(at);
            at = vend;
            if at >= stop {
                break;
            }
        }
        let l = last?;
        self.core.unit_at = l as u64;
        self.pos = at;
        Some((data.get(start..at)?, db, l as u64))
    }
}

/// A raw string with a 6-bit length at `p`: its bytes and the position after it.
#[inline(always)]
fn short_raw(d: &[u8], p: usize) -> Option<(&[u8], usize)> {
    let n = usize::from(*d.get(p)?);
    if n >= 0x40 {
        return None;
    }
    let end = p + 1 + n;
    Some((d.get(p + 1..end)?, end))
}

impl crate::file::RdbFile {
    /// A parser of the bytes that reports the file as changed (see
    /// [`check_unchanged`](Self::check_unchanged)) instead of what it read from a file
    /// truncated under it.
    pub fn parser(&self, opts: Options) -> RdbParser<'_> {
        RdbParser::new(self.bytes(), opts).guarded_by(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::length::encode_len;
    use crate::string::encode_raw;
    use crate::View;

    /// A file: `REDIS<ver>` or `VALKEY<ver>`, `body`, EOF, and a CRC trailer for ver >= 5
    /// (`crc` overrides the computed one).
    fn file(magic: &str, body: &[u8], crc: Option<u64>) -> Vec<u8> {
        let mut v = magic.as_bytes().to_vec();
        v.extend_from_slice(body);
        v.push(0xff);
        let ver: u32 = magic
            .trim_start_matches(|c: char| c.is_ascii_alphabetic())
            .parse()
            .unwrap();
        if ver >= 5 {
            let c = crc.unwrap_or_else(|| crate::crc64::crc64(&v));
            v.extend_from_slice(&c.to_le_bytes());
        }
        v
    }

    fn all(data: &[u8], opts: Options) -> (Vec<String>, Option<Error>) {
        let mut p = RdbParser::new(data, opts);
        let mut out = Vec::new();
        while let Some(r) = p.next() {
            match r {
                Ok(Record::Key(k)) => out.push(format!(
                    "key {} {:?} exp={:?} freq={:?} idle={:?} {:?}",
                    k.db,
                    String::from_utf8_lossy(k.key),
                    k.expire_ms,
                    k.lfu_freq,
                    k.lru_idle,
                    k.value.ty
                )),
                Ok(r) => out.push(format!("{r:?}")),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    fn body_with_key() -> Vec<u8> {
        let mut b = vec![0xfa];
        encode_raw(b"redis-ver", &mut b);
        encode_raw(b"7.4.1", &mut b);
        b.extend_from_slice(&[0xfe, 3, 0xfb, 1, 1]); // SELECTDB 3, RESIZEDB 1 1
        b.push(0xfc);
        b.extend_from_slice(&4_102_444_800_000i64.to_le_bytes());
        b.extend_from_slice(&[0xf9, 7]); // FREQ 7
        b.push(0); // string
        encode_raw(b"k", &mut b);
        b.extend_from_slice(&[0xc0, 42]); // INT8 42
        b
    }

    #[test]
    fn records_attributes_and_checksum() {
        let f = file("REDIS0012", &body_with_key(), None);
        let (recs, err) = all(&f, Options::default());
        assert!(err.is_none(), "{err:?}");
        assert!(recs[0].starts_with("Aux"));
        assert_eq!(recs[1], "SelectDb { db: 3 }");
        assert_eq!(
            recs[3],
            "key 3 \"k\" exp=Some(4102444800000) freq=Some(7) idle=None String"
        );
        assert!(recs[4].contains("Verified"), "{}", recs[4]);
        let sum =
            crate::check_rdb_prefix(&[&f[..], b"*1\r\n$4\r\nPING\r\n"].concat(), true).unwrap();
        assert_eq!((sum.len, sum.keys, sum.version), (f.len(), 1, 12));
    }

    #[test]
    fn checksum_zero_wrong_and_unchecked() {
        let f = file("REDIS0009", &body_with_key(), Some(0));
        assert!(all(&f, Options::default())
            .0
            .last()
            .unwrap()
            .contains("Disabled"));
        let f = file("REDIS0009", &body_with_key(), Some(12345));
        let e = all(&f, Options::default()).1.unwrap();
        assert!(
            matches!(
                e.kind,
                ErrorKind::ChecksumMismatch {
                    expected: 12345,
                    ..
                }
            ),
            "{e}"
        );
        let opts = Options::default().verify_checksum(false);
        assert!(all(&f, opts)
            .0
            .last()
            .unwrap()
            .contains("NotChecked(12345)"));
        // version 4: no trailer at all
        let f = file("REDIS0004", &[], None);
        assert!(all(&f, Options::default())
            .0
            .last()
            .unwrap()
            .contains("NotPresent"));
    }

    #[test]
    fn expiretime_seconds_is_little_endian() {
        let mut b = vec![0xfe, 0, 0xfd];
        b.extend_from_slice(&1_700_000_000i32.to_le_bytes());
        b.push(0);
        encode_raw(b"k", &mut b);
        encode_raw(b"v", &mut b);
        let (recs, _) = all(&file("REDIS0006", &b, None), Options::default());
        assert!(recs[1].contains("exp=Some(1700000000000)"), "{recs:?}");
    }

    #[test]
    fn headers() {
        let e = |d: &[u8], o: Options| all(d, o).1.unwrap().kind;
        assert!(matches!(
            e(b"RUBIS0001\xff", Options::default()),
            ErrorKind::BadMagic(_)
        ));
        assert!(matches!(
            e(b"REDIS00x1\xff", Options::default()),
            ErrorKind::BadMagic(_)
        ));
        assert!(matches!(
            e(b"REDIS0080\xff", Options::default()),
            ErrorKind::BadMagic(_)
        ));
        assert!(matches!(
            e(b"REDIS0099\xff", Options::default()),
            ErrorKind::UnsupportedVersion(99)
        ));
        assert!(matches!(
            e(b"REDIS0000\xff", Options::default()),
            ErrorKind::UnsupportedVersion(0)
        ));
        assert!(matches!(
            e(b"REDIS", Options::default()),
            ErrorKind::Truncated { .. }
        ));
        // best effort: known things are read, the first unknown byte stops it with a message
        let be = Options::default().best_effort(true);
        let mut b = body_with_key();
        b.push(99);
        let f = file("REDIS0099", &b, None);
        let (recs, err) = all(&f, be);
        assert_eq!(recs.len(), 4);
        let err = err.unwrap();
        assert!(err.to_string().contains("newer than this build"), "{err}");
        // Valkey magic
        let (recs, err) = all(&file("VALKEY080", &[], None), Options::default());
        assert!(err.is_none() && recs.len() == 1);
    }

    #[test]
    fn forks_and_vendor_opcodes() {
        // Valkey SLOT_IMPORT (243): job name, 1 range 0..=100
        let mut b = vec![0xf3];
        encode_raw(&[b'a'; 40], &mut b);
        b.extend_from_slice(&[1, 0, 0x40, 100]);
        let (recs, err) = all(&file("VALKEY080", &b, None), Options::default());
        assert!(err.is_none(), "{err:?}");
        assert!(recs[0].starts_with("SlotImport") && recs[0].contains("ranges: [(0, 100)]"));
        // the same byte in a Redis 12 file is unknown
        let (_, err) = all(&file("REDIS0012", &b, None), Options::default());
        assert!(matches!(err.unwrap().kind, ErrorKind::UnknownOpcode(243)));
        // Redis Enterprise 107: refused unless enabled
        let b = [0xfe, 0, 107, 5];
        let f = file("REDIS0012", &b, None);
        let (_, err) = all(&f, Options::default());
        assert!(matches!(err.unwrap().kind, ErrorKind::Unsupported(_)));
        let mut p = RdbParser::new(&f, Options::default().enterprise(true));
        let mut saw = false;
        while let Some(r) = p.next() {
            saw |= matches!(
                r.unwrap(),
                Record::EnterpriseOpcode {
                    opcode: 107,
                    value: 5
                }
            );
        }
        assert!(saw);
        // module pre-GA (type 6) is refused clearly
        let mut b = vec![0xfe, 0, 6];
        encode_raw(b"k", &mut b);
        b.push(1);
        let e = all(&file("REDIS0008", &b, None), Options::default())
            .1
            .unwrap();
        assert!(
            matches!(e.kind, ErrorKind::Unsupported(_)) && e.key.as_deref() == Some(&b"k"[..]),
            "{e}"
        );
    }

    #[test]
    fn impossible_lengths_fail_before_allocating() {
        // a list claiming 2^60 elements, a string claiming 2^60 bytes
        for ty in [1u8, 0] {
            let mut b = vec![0xfe, 0, ty];
            encode_raw(b"k", &mut b);
            encode_len(1 << 60, &mut b);
            let e = all(&file("REDIS0009", &b, None), Options::default())
                .1
                .unwrap();
            assert!(matches!(e.kind, ErrorKind::BadLength { .. }), "{e}");
            assert_eq!(e.key.as_deref(), Some(&b"k"[..]));
        }
    }

    #[test]
    fn value_views() {
        let mut b = vec![0xfe, 0, 18];
        encode_raw(b"l", &mut b);
        b.extend_from_slice(&[2, 1]); // 2 nodes, PLAIN
        encode_raw(b"big", &mut b);
        b.push(1);
        encode_raw(b"other", &mut b);
        let f = file("REDIS0011", &b, None);
        let mut p = RdbParser::new(&f, Options::default().deep(true));
        while let Some(r) = p.next() {
            if let Record::Key(k) = r.unwrap() {
                assert_eq!(k.value.encoding(), "quicklist");
                assert!(matches!(
                    k.value.view(&mut Vec::new()).unwrap(),
                    View::Other
                ));
                let nodes: Vec<_> = k
                    .value
                    .quicklist_nodes()
                    .unwrap()
                    .unwrap()
                    .map(|n| n.unwrap().data)
                    .collect();
                assert_eq!(
                    nodes,
                    vec![RdbString::Raw(b"big"), RdbString::Raw(b"other")]
                );
            }
        }
    }

    #[test]
    fn crc_on_a_second_thread() {
        let mut b = vec![0xfe, 0, 0];
        encode_raw(b"big", &mut b);
        encode_raw(&vec![b'x'; 2 << 20], &mut b);
        let good = file("REDIS0011", &b, None);
        let status = |data: &[u8]| {
            std::thread::scope(|s| {
                let mut p = RdbParser::new(data, Options::default()).crc_on_thread(s);
                let mut last = None;
                while let Some(r) = p.next() {
                    last = Some(match r {
                        Ok(Record::Eof { checksum, .. }) => format!("{checksum:?}"),
                        Ok(_) => continue,
                        Err(e) => e.to_string(),
                    });
                }
                last
            })
        };
        assert!(status(&good).unwrap().starts_with("Verified"));
        // damaged data: caught by the thread's CRC
        let mut bad = good.clone();
        bad[1000] ^= 1;
        assert!(status(&bad).unwrap().contains("checksum mismatch"));
        // bytes after the trailer: the thread guessed the wrong end, the parser recomputes
        let mut trailing = good.clone();
        trailing.extend_from_slice(b"garbage!");
        assert!(status(&trailing).unwrap().starts_with("Verified"));
    }
}
