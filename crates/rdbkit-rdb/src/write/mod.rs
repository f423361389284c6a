//! Writing RDB files and DUMP payloads (cargo feature `write`), sharing the version tables,
//! the length/string primitives, the compact-encoding builders and the CRC-64 with the
//! reader.
//!
//! * [`Target`]: which RDB version and magic to write, and the default thresholds of the
//!   target's `SAVE` ([`TARGETS`], [`SERVER_NAMES`]).
//! * [`RdbWriter`] over any `io::Write`: header, AUX fields, functions, module AUX,
//!   SELECTDB/RESIZEDB, keys with expiry and LRU/LFU, the EOF opcode and the CRC-64 trailer.
//! * Two ways to write a value: [`RdbWriter::key`] re-encodes a logical [`OwnedValue`] into the
//!   encoding the target's own `SAVE` would choose ([`encode_value`]);
//!   [`RdbWriter::key_raw`] copies the stored bytes when the target reads that encoding
//!   ([`Target::reads`]).
//! * [`dump_payload`]: a `DUMP`/`RESTORE` payload (`type | value | RDB version u16 LE |
//!   CRC-64 LE`).
//! * What a target cannot hold is a [`Loss`]: [`encode_value`] refuses, [`strip`] accepts.
//!
//! ```
//! use rdbkit_rdb::write::{RdbWriter, Target};
//! use rdbkit_rdb::{OwnedValue, Options, RdbParser, Record};
//! let target = Target::by_name("redis-6.2").unwrap();
//! let mut w = RdbWriter::new(Vec::new(), target)?;
//! w.select_db(0)?;
//! w.key(b"greeting", Some(4_102_444_800_000), None, None, &OwnedValue::String(b"hello".to_vec()))?;
//! let file = w.finish()?;
//! assert!(file.starts_with(b"REDIS0009"));
//! let mut p = RdbParser::new(&file, Options::default());
//! while let Some(rec) = p.next() {
//!     if let Record::Key(k) = rec? {
//!         assert_eq!(k.value.to_owned_value()?, OwnedValue::String(b"hello".to_vec()));
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod direct;
mod encode;
mod lzf;
mod stream;
mod target;
mod transcode;

use std::fmt;
use std::io::{self, Write};

use crate::crc64::{crc64, Crc64};
use crate::length::encode_len;
use crate::module::ModuleId;
use crate::owned::OwnedValue;
use crate::value::Value;
use crate::version::{Dialect, Type};
use crate::visit::Scratch;
use lzf::encode_string;

pub use direct::Transcoded;
pub use encode::{encode_value, loss, score_text, strip, types, Loss};
pub use target::{Target, Thresholds, SERVER_NAMES, TARGETS};

/// Opcodes the writer emits.
mod op {
    pub const KEY_META: u8 = 243;
    pub const SLOT_INFO: u8 = 244;
    pub const FUNCTION2: u8 = 245;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// A write failure: the output failed, or a value the target cannot hold.
#[derive(Debug)]
pub enum WriteError {
    /// The underlying writer failed.
    Io(io::Error),
    /// The target cannot hold this (see [`strip`]).
    Loss(Loss),
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Io(e) => write!(f, "write failed: {e}"),
            WriteError::Loss(l) => write!(f, "the target cannot hold this: {l}"),
        }
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WriteError::Io(e) => Some(e),
            WriteError::Loss(_) => None,
        }
    }
}

impl From<io::Error> for WriteError {
    fn from(e: io::Error) -> Self {
        WriteError::Io(e)
    }
}

/// Writes one RDB file for a [`Target`], streaming: records are staged in a 1 MiB buffer that
/// goes to the output (and the CRC-64) whenever it fills, [`finish`](Self::finish) writes the
/// rest and the trailer.
pub struct RdbWriter<W: Write> {
    out: W,
    crc: Crc64,
    target: Target,
    compress: bool,
    bytes: u64,
    buf: Vec<u8>,
    /// A re-encoded value's bytes, reused from key to key.
    body: Vec<u8>,
    /// The direct re-encoders' buffers ([`key_value`](RdbWriter::key_value)).
    direct: direct::Bufs,
    /// Output not yet given to `out` (nor to the CRC): up to [`STAGE`] bytes.
    staged: Vec<u8>,
    /// False for a [`fragment`](RdbWriter::fragment) writer: its bytes are CRC'd where
    /// they are put.
    digest: bool,
}

/// The staging buffer's size.
const STAGE: usize = 1 << 20;
/// Writes of this size or more skip the staging buffer (one copy fewer for big values).
const DIRECT: usize = 64 << 10;

impl<W: Write> RdbWriter<W> {
    /// Starts a file: writes the header (`REDIS0009`, `VALKEY080`, ...). LZF compression is
    /// on, as with the servers' default `rdbcompression yes`.
    pub fn new(out: W, target: Target) -> io::Result<Self> {
        let mut w = RdbWriter {
            out,
            crc: Crc64::new(),
            target,
            compress: true,
            bytes: 0,
            buf: Vec::with_capacity(1 << 16),
            body: Vec::new(),
            direct: direct::Bufs::default(),
            // Grown by use up to STAGE: allocated whole up front, its 1 MiB was most of the
            // cost of writing a small file (the fuzz re-encoding check writes thousands; under
            // the address sanitizer every such allocation maps and poisons 1 MiB).
            staged: Vec::new(),
            digest: true,
        };
        let header = target.header();
        w.put(&header)?;
        Ok(w)
    }

    /// A writer of records only (no header, no EOF, no CRC): what it writes is taken with
    /// [`take_fragment`](RdbWriter::take_fragment) and put into a file's stream, in order,
    /// with [`put_fragment`](Self::put_fragment). For encoding keys on worker threads.
    pub fn fragment(target: Target) -> RdbWriter<Vec<u8>> {
        RdbWriter {
            out: Vec::new(),
            crc: Crc64::new(),
            target,
            compress: true,
            bytes: 0,
            buf: Vec::with_capacity(1 << 10),
            body: Vec::new(),
            direct: direct::Bufs::default(),
            staged: Vec::new(),
            digest: false,
        }
    }

    /// Records written by another writer for the same target ([`RdbWriter::fragment`]),
    /// copied into this file's stream as they are.
    pub fn put_fragment(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.put(bytes)
    }

    /// `rdbcompression`: LZF-compress strings and blobs over 20 bytes when that pays.
    pub fn compress(mut self, yes: bool) -> Self {
        self.compress = yes;
        self
    }

    /// The target being written.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Appends to the staging buffer; a full buffer goes out with one CRC update and one
    /// write (per-record CRC calls and writes were 20 % of a pass-through conversion).
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.bytes += b.len() as u64;
        if self.staged.len() + b.len() <= STAGE && b.len() < DIRECT {
            self.staged.extend_from_slice(b);
            return Ok(());
        }
        self.drain()?;
        if b.len() >= DIRECT {
            if self.digest {
                self.crc.update(b);
            }
            return self.out.write_all(b);
        }
        self.staged.extend_from_slice(b);
        Ok(())
    }

    /// Sends the staging buffer to the output (CRC first).
    fn drain(&mut self) -> io::Result<()> {
        if self.staged.is_empty() {
            return Ok(());
        }
        if self.digest {
            self.crc.update(&self.staged);
        }
        let r = self.out.write_all(&self.staged);
        self.staged.clear();
        r
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        let buf = std::mem::take(&mut self.buf);
        let r = self.put(&buf);
        self.buf = buf;
        self.buf.clear();
        r
    }

    /// An AUX field (RDB 7+; nothing is written for older targets, whose loaders have no AUX
    /// opcode).
    pub fn aux(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        if !self.target.has_aux() {
            return Ok(());
        }
        self.buf.clear();
        self.buf.push(op::AUX);
        encode_string(key, false, &mut self.buf);
        encode_string(value, false, &mut self.buf);
        self.flush_buf()
    }

    /// A function library (`FUNCTION2`, RDB 10+). Fails with [`Loss::Functions`] below.
    pub fn function(&mut self, code: &[u8]) -> Result<(), WriteError> {
        if !self.target.has_functions() {
            return Err(WriteError::Loss(Loss::Functions));
        }
        self.buf.clear();
        self.buf.push(op::FUNCTION2);
        encode_string(code, self.compress, &mut self.buf);
        Ok(self.flush_buf()?)
    }

    /// A module AUX record: module id, `when`, and the payload's opcode stream as stored
    /// (ending with its EOF opcode). RDB 9+; fails with [`Loss::ModuleAux`] below.
    pub fn module_aux(
        &mut self,
        id: ModuleId,
        when: u64,
        payload: &[u8],
    ) -> Result<(), WriteError> {
        if !(self.target.is_valkey() || self.target.version >= 9) {
            return Err(WriteError::Loss(Loss::ModuleAux));
        }
        self.buf.clear();
        self.buf.push(op::MODULE_AUX);
        encode_len(id.id, &mut self.buf);
        encode_len(2, &mut self.buf); // RDB_MODULE_OPCODE_UINT, then `when`
        encode_len(when, &mut self.buf);
        self.buf.extend_from_slice(payload);
        Ok(self.flush_buf()?)
    }

    /// Redis 8.6 key metadata for the next key (opcode 243): the class count and the class
    /// specs with their payloads as stored. Redis RDB 13+; fails with [`Loss::KeyMeta`]
    /// elsewhere.
    pub fn key_meta(&mut self, classes: u64, raw: &[u8]) -> Result<(), WriteError> {
        if self.target.is_valkey() || self.target.version < 13 {
            return Err(WriteError::Loss(Loss::KeyMeta));
        }
        self.buf.clear();
        self.buf.push(op::KEY_META);
        encode_len(classes, &mut self.buf);
        self.buf.extend_from_slice(raw);
        Ok(self.flush_buf()?)
    }

    /// SLOT_INFO (cluster slot sizes; Redis RDB 12+ and Valkey 9). Returns false, writing
    /// nothing, for other targets: the server recomputes it.
    pub fn slot_info(&mut self, slot: u64, size: u64, expires_size: u64) -> io::Result<bool> {
        if !(self.target.is_valkey() || self.target.version >= 12) {
            return Ok(false);
        }
        self.buf.clear();
        self.buf.push(op::SLOT_INFO);
        encode_len(slot, &mut self.buf);
        encode_len(size, &mut self.buf);
        encode_len(expires_size, &mut self.buf);
        self.flush_buf()?;
        Ok(true)
    }

    /// SELECTDB.
    pub fn select_db(&mut self, db: u64) -> io::Result<()> {
        self.buf.clear();
        self.buf.push(op::SELECTDB);
        encode_len(db, &mut self.buf);
        self.flush_buf()
    }

    /// RESIZEDB (hash table size hints; RDB 7+, nothing for older targets).
    pub fn resize_db(&mut self, db_size: u64, expires_size: u64) -> io::Result<()> {
        if !self.target.has_aux() {
            return Ok(());
        }
        self.buf.clear();
        self.buf.push(op::RESIZEDB);
        encode_len(db_size, &mut self.buf);
        encode_len(expires_size, &mut self.buf);
        self.flush_buf()
    }

    /// A key whose value is re-encoded from its logical content into the encoding the
    /// target's `SAVE` would choose. Fails with the [`Loss`] when the target cannot hold the
    /// value (nothing is written then). Returns the type byte written.
    pub fn key(
        &mut self,
        key: &[u8],
        expire_ms: Option<i64>,
        lru_idle: Option<u64>,
        lfu_freq: Option<u8>,
        value: &OwnedValue,
    ) -> Result<u8, WriteError> {
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        let ty = encode_value(value, &self.target, self.compress, &mut body);
        let r = self.key_encoded(key, expire_ms, lru_idle, lfu_freq, ty, &body);
        self.body = body;
        r
    }

    fn key_encoded(
        &mut self,
        key: &[u8],
        expire_ms: Option<i64>,
        lru_idle: Option<u64>,
        lfu_freq: Option<u8>,
        ty: Result<u8, Loss>,
        body: &[u8],
    ) -> Result<u8, WriteError> {
        let ty = ty.map_err(WriteError::Loss)?;
        self.head_in_buf(key, expire_ms, lru_idle, lfu_freq, ty);
        self.flush_buf()?;
        self.put(body)?;
        Ok(ty)
    }

    /// A key whose value bytes are copied as stored (`type_byte` and the bytes after the
    /// key, [`Value::raw`](crate::Value::raw)). Check [`Target::reads`] first: the writer
    /// does not look inside.
    pub fn key_raw(
        &mut self,
        key: &[u8],
        expire_ms: Option<i64>,
        lru_idle: Option<u64>,
        lfu_freq: Option<u8>,
        type_byte: u8,
        raw: &[u8],
    ) -> io::Result<()> {
        // A short key and a value that fit the staging buffer go straight into it (not
        // through `buf` and a second copy: a quarter of a pass-through of small keys). A key
        // of up to 20 bytes is never compressed, so `encode_string` writes the same bytes
        // either way.
        if key.len() <= 20
            && raw.len() < DIRECT
            && self.staged.len() + 40 + key.len() + raw.len() <= STAGE
        {
            let staged = &mut self.staged;
            let before = staged.len();
            put_key_head(
                &self.target,
                false,
                staged,
                key,
                expire_ms,
                lru_idle,
                lfu_freq,
                type_byte,
            );
            staged.extend_from_slice(raw);
            self.bytes += (staged.len() - before) as u64;
            return Ok(());
        }
        self.head_in_buf(key, expire_ms, lru_idle, lfu_freq, type_byte);
        self.flush_buf()?;
        self.put(raw)
    }

    /// Whether [`key_raw`](Self::key_raw) of this key writes `stored` before the value, byte
    /// for byte: the input's bytes from the key record's offset to its value (attributes, type
    /// byte, key as stored). The record can then be copied from the input as it is (a run of
    /// such records in one piece, [`put_fragment`](Self::put_fragment)).
    #[allow(clippy::too_many_arguments)]
    pub fn key_head_is(
        &mut self,
        stored: &[u8],
        key: &[u8],
        expire_ms: Option<i64>,
        lru_idle: Option<u64>,
        lfu_freq: Option<u8>,
        type_byte: u8,
    ) -> bool {
        // The common case without building the head: no attributes and a key written as
        // its one-byte length and its bytes.
        if expire_ms.is_none()
            && lru_idle.is_none()
            && lfu_freq.is_none()
            && self.writes_short_key_as_is(key)
        {
            return stored.len() == key.len() + 2
                && stored[0] == type_byte
                && usize::from(stored[1]) == key.len()
                && &stored[2..] == key;
        }
        self.head_in_buf(key, expire_ms, lru_idle, lfu_freq, type_byte);
        self.buf == stored
    }

    /// Whether [`key_raw`](Self::key_raw) writes this key (without attributes) as its one-byte
    /// length and its bytes — as the records of a [`LeanRun`](crate::LeanRun) store their keys
    /// (under 64 bytes): not as an integer (a canonical 32-bit one of up to 11 bytes), not
    /// LZF-compressed (over 20 bytes, when compressing: never said to be stored as is).
    #[inline]
    pub fn writes_short_key_as_is(&self, key: &[u8]) -> bool {
        if key.len() >= 64 || (key.len() > 20 && self.compress) {
            return false;
        }
        // A canonical integer starts with a digit or '-' (the test first: parsing every key
        // was 30 instructions a key of a lean run).
        key.len() > 11
            || !matches!(key.first(), Some(b'0'..=b'9' | b'-'))
            || !matches!(crate::entry::parse_canonical_i64(key), Some(v) if i32::try_from(v).is_ok())
    }

    /// Writes EOF and the CRC-64 trailer, flushes, and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.put(&[op::EOF])?;
        self.drain()?;
        let crc = self.crc.finish();
        self.bytes += 8;
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> RdbWriter<W> {
    /// `buf` cleared and filled with the key's head as this writer writes it (attributes,
    /// type byte, key).
    fn head_in_buf(
        &mut self,
        key: &[u8],
        expire_ms: Option<i64>,
        lru_idle: Option<u64>,
        lfu_freq: Option<u8>,
        type_byte: u8,
    ) {
        self.buf.clear();
        put_key_head(
            &self.target,
            self.compress,
            &mut self.buf,
            key,
            expire_ms,
            lru_idle,
            lfu_freq,
            type_byte,
        );
    }
}

/// A key record up to its value: attributes, type byte, key (as [`RdbWriter::key_raw`]
/// writes it; `compress` matters only for keys over 20 bytes).
#[allow(clippy::too_many_arguments)]
#[inline]
fn put_key_head(
    target: &Target,
    compress: bool,
    out: &mut Vec<u8>,
    key: &[u8],
    expire_ms: Option<i64>,
    lru_idle: Option<u64>,
    lfu_freq: Option<u8>,
    type_byte: u8,
) {
    put_key_attrs(target, out, expire_ms, lru_idle, lfu_freq);
    out.push(type_byte);
    encode_string(key, compress, out);
}

/// A key's expiry, LRU idle time and LFU frequency opcodes (the last two only for targets
/// that have them).
fn put_key_attrs(
    target: &Target,
    out: &mut Vec<u8>,
    expire_ms: Option<i64>,
    lru_idle: Option<u64>,
    lfu_freq: Option<u8>,
) {
    if let Some(e) = expire_ms {
        out.push(op::EXPIRETIME_MS);
        out.extend_from_slice(&e.to_le_bytes());
    }
    if target.has_lru_lfu() {
        if let Some(i) = lru_idle {
            out.push(op::IDLE);
            encode_len(i, out);
        }
        if let Some(f) = lfu_freq {
            out.push(op::FREQ);
            out.push(f);
        }
    }
}

impl RdbWriter<Vec<u8>> {
    /// A key whose stored value is re-encoded straight from its stored entries, without an
    /// [`OwnedValue`] between, when the target's `SAVE` would write it as a ziplist (a small
    /// hash or sorted set for a target below RDB 10) or as quicklist nodes of ziplists (a
    /// list, RDB 7-9): the same bytes as [`key`](Self::key) of its decoded value, and on a
    /// damaged value the error [`Value::to_owned_value`] gives. A stream (formats 1-3, for
    /// any target with streams) is written with its nodes copied as stored and its metadata
    /// as `key` writes it after [`strip`]: the same value once decoded, and
    /// [`Transcoded::Stripped`] names the loss to accept or refuse. Writes nothing unless it
    /// returns [`Transcoded::Written`] or [`Transcoded::Stripped`]; on
    /// [`Transcoded::Declined`] take the `OwnedValue` path.
    pub fn key_value(
        &mut self,
        key: &[u8],
        expire_ms: Option<i64>,
        lru_idle: Option<u64>,
        lfu_freq: Option<u8>,
        value: &Value<'_>,
        scratch: &mut Scratch,
    ) -> crate::Result<Transcoded> {
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        let r = direct::transcode(
            value,
            &self.target,
            self.compress,
            scratch,
            &mut self.direct,
            &mut body,
        );
        if let Ok(Transcoded::Written(ty) | Transcoded::Stripped(ty, _)) = r {
            // Writing to memory does not fail.
            self.key_encoded(key, expire_ms, lru_idle, lfu_freq, Ok(ty), &body)
                .expect("writing to memory");
        }
        self.body = body;
        r
    }

    /// Takes what a [`fragment`](RdbWriter::fragment) writer has written so far (the writer
    /// goes on empty).
    pub fn take_fragment(&mut self) -> Vec<u8> {
        let mut v = std::mem::take(&mut self.out);
        if v.is_empty() {
            return std::mem::take(&mut self.staged);
        }
        v.extend_from_slice(&self.staged);
        self.staged.clear();
        v
    }

    /// [`take_fragment`](Self::take_fragment), the writer going on with `spare` (emptied) as
    /// its buffer: a buffer used before keeps its capacity (no regrowth from empty).
    pub fn take_fragment_with(&mut self, mut spare: Vec<u8>) -> Vec<u8> {
        spare.clear();
        let v = self.take_fragment();
        self.staged = spare;
        v
    }

    /// Hands what a [`fragment`](RdbWriter::fragment) writer has written so far to `f` and
    /// goes on empty, keeping its buffers (no allocation a call, as
    /// [`take_fragment`](Self::take_fragment) has once its buffer is taken).
    pub fn drain_fragment<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> R {
        let r = if self.out.is_empty() {
            f(&self.staged)
        } else {
            self.out.extend_from_slice(&self.staged);
            f(&self.out)
        };
        self.out.clear();
        self.staged.clear();
        r
    }

    /// Bytes written since the last [`take_fragment`](Self::take_fragment).
    pub fn fragment_len(&self) -> usize {
        self.out.len() + self.staged.len()
    }
}

/// A stored value detached from its file (its bytes copied), so that another thread can
/// decode and re-encode it; errors keep the file offsets of the original.
#[derive(Clone, Debug)]
pub struct Detached {
    /// Where the value's bytes are in `data` (all of it), and what the parser said of it.
    at: DetachedIn,
    data: Vec<u8>,
}

/// Whether `v` decodes without its file (not a template-encoded hash, not a string a stream
/// passed through without holding it).
fn detachable(v: &Value<'_>) -> bool {
    !(v.streamed.is_some()
        || matches!(
            v.ty,
            Type::HashTmplLp | Type::HashTmplLpRef | Type::HashTmplArray | Type::HashTmplArrayRef
        ))
}

/// A [`Detached`] value whose bytes were appended to a buffer of the caller's (many values
/// in one allocation, e.g. a batch's), given back by [`value`](Self::value) of that buffer.
#[derive(Clone, Copy, Debug)]
pub struct DetachedIn {
    ty: Type,
    type_byte: u8,
    dialect: Dialect,
    start: usize,
    len: usize,
    offset: u64,
}

impl DetachedIn {
    /// Appends the value's bytes to `buf`; `None` (nothing appended) for a value that needs
    /// its file to be decoded, as [`Detached::new`].
    pub fn new(v: &Value<'_>, buf: &mut Vec<u8>) -> Option<DetachedIn> {
        if !detachable(v) {
            return None;
        }
        let start = buf.len();
        buf.extend_from_slice(v.data);
        Some(DetachedIn {
            ty: v.ty,
            type_byte: v.type_byte,
            dialect: v.dialect,
            start,
            len: v.data.len(),
            offset: v.offset,
        })
    }

    /// The value, as the file's parser gave it, from the buffer [`new`](Self::new) appended
    /// it to. Panics if `buf` is shorter than that buffer was then.
    pub fn value<'a>(&self, buf: &'a [u8]) -> Value<'a> {
        Value {
            ty: self.ty,
            type_byte: self.type_byte,
            dialect: self.dialect,
            data: &buf[self.start..self.start + self.len],
            offset: self.offset,
            templates: None,
            streamed: None,
        }
    }

    /// Bytes of the value.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the value has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Detached {
    /// `None` for a value that needs its file to be decoded (a template-encoded hash, a
    /// string a stream passed through without holding it).
    pub fn new(v: &Value<'_>) -> Option<Detached> {
        let mut data = Vec::with_capacity(v.data.len());
        let at = DetachedIn::new(v, &mut data)?;
        Some(Detached { at, data })
    }

    /// The value, as the file's parser gave it.
    pub fn value(&self) -> Value<'_> {
        self.at.value(&self.data)
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when no bytes are held.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// A `DUMP` payload for `RESTORE`: the value re-encoded for `target`, then the target's RDB
/// version (u16 LE) and the CRC-64 of everything before it (u64 LE). Fails with the
/// [`Loss`] when the target cannot hold the value.
pub fn dump_payload(value: &OwnedValue, target: &Target, compress: bool) -> Result<Vec<u8>, Loss> {
    let mut body = Vec::new();
    let ty = encode_value(value, target, compress, &mut body)?;
    let mut out = Vec::with_capacity(body.len() + 11);
    out.push(ty);
    out.extend_from_slice(&body);
    Ok(seal_payload(out, target))
}

/// A `DUMP` payload from a stored value's bytes (pass-through; check [`Target::reads`]).
pub fn dump_payload_raw(type_byte: u8, raw: &[u8], target: &Target) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 11);
    out.push(type_byte);
    out.extend_from_slice(raw);
    seal_payload(out, target)
}

fn seal_payload(mut out: Vec<u8>, target: &Target) -> Vec<u8> {
    out.extend_from_slice(&(target.version as u16).to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod pass_through_tests {
    use super::*;

    /// `writes_short_key_as_is` says true only for keys `key_raw` writes as their one-byte
    /// length and bytes, and `key_head_is` compares with what `key_raw` writes.
    #[test]
    fn key_tests_agree_with_key_raw() {
        let mut keys: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"0".to_vec(),
            b"-1".to_vec(),
            b"01".to_vec(),
            b"-0".to_vec(),
            b"2147483647".to_vec(),
            b"2147483648".to_vec(),
            b"-2147483648".to_vec(),
            b"-2147483649".to_vec(),
            b"12345678901".to_vec(),
            b"key:1".to_vec(),
            vec![b'a'; 20],
            vec![b'a'; 21],
            vec![b'a'; 63],
            (0..40u8).collect(),
        ];
        for i in 0..2000u32 {
            keys.push(format!("{}", i.wrapping_mul(2_654_435_761) as i32 >> (i % 31)).into_bytes());
        }
        let target = Target::by_name("rdb-10").unwrap();
        for compress in [true, false] {
            let mut w = RdbWriter::<Vec<u8>>::fragment(target).compress(compress);
            for k in &keys {
                let start = w.fragment_len();
                w.key_raw(k, None, None, None, 0, b"\x01v").unwrap();
                let rec = w.take_fragment()[start..].to_vec();
                let head = &rec[..rec.len() - 2];
                let mut plain = vec![0, k.len() as u8];
                plain.extend_from_slice(k);
                if w.writes_short_key_as_is(k) {
                    assert_eq!(head, &plain[..], "{k:?} compress {compress}");
                }
                assert!(w.key_head_is(head, k, None, None, None, 0));
                // Another type byte, a byte more or less: not the same head.
                let mut other = head.to_vec();
                other[0] = 1;
                assert!(!w.key_head_is(&other, k, None, None, None, 0));
                assert!(!w.key_head_is(&head[..head.len() - 1], k, None, None, None, 0));
                other[0] = 0;
                other.push(b'x');
                assert!(!w.key_head_is(&other, k, None, None, None, 0));
                assert_eq!(
                    w.key_head_is(&plain, k, None, None, None, 0),
                    head == &plain[..]
                );
                let mut attrs = vec![op::EXPIRETIME_MS];
                attrs.extend_from_slice(&7i64.to_le_bytes());
                attrs.extend_from_slice(head);
                assert!(w.key_head_is(&attrs, k, Some(7), None, None, 0));
                assert!(!w.key_head_is(&attrs, k, Some(8), None, None, 0));
            }
        }
        let w = RdbWriter::<Vec<u8>>::fragment(target);
        assert!(!w.writes_short_key_as_is(b"123") && w.writes_short_key_as_is(b"key:1"));
        assert!(!w.writes_short_key_as_is(&[b'a'; 21]));
        assert!(w.compress(false).writes_short_key_as_is(&[b'a'; 21]));
    }
}
