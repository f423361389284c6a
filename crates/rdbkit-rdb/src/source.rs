//! Where the bytes come from: a memory-mapped file ([`RdbFile`]), any slice
//! ([`RdbParser`]), or any `io::Read` ([`RdbReader`]) — a pipe, `zcat`,
//! a socket — which buffers just enough for the current record.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::crc64::Crc64;
use crate::error::{Error, ErrorKind, Result};
use crate::parser::{ChecksumStatus, Core, Options, RdbParser, Record, Unit};

/// An RDB file mapped into memory.
///
/// The map is read-only and private to this process. Like every memory-mapped reader, it
/// assumes the file is not truncated or rewritten while it is open: Redis writes a new RDB to
/// a temporary file and renames it over the old one, which leaves an open map intact, but a
/// concurrent `truncate` would make later reads fault (SIGBUS). For files that might change
/// underneath, read them through [`RdbReader`] instead.
pub struct RdbFile {
    map: Option<memmap2::Mmap>,
}

impl RdbFile {
    pub fn open(path: impl AsRef<Path>) -> io::Result<RdbFile> {
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            // Zero-length maps are an error on some platforms; an empty file is just empty.
            return Ok(RdbFile { map: None });
        }
        // SAFETY: the map is read-only; the only hazard is another process truncating or
        // modifying the file while it is mapped, which the type's documentation rules out
        // (Redis replaces RDB files by rename, never in place).
        let map = unsafe { memmap2::Mmap::map(&file)? };
        #[cfg(unix)]
        {
            // A hint only: sequential read-ahead suits a front-to-back decoder.
            let _ = map.advise(memmap2::Advice::Sequential);
        }
        Ok(RdbFile { map: Some(map) })
    }

    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or_default()
    }

    pub fn parser(&self, opts: Options) -> RdbParser<'_> {
        RdbParser::new(self.bytes(), opts)
    }
}

/// Smallest read from the underlying source.
const MIN_READ: usize = 64 * 1024;

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
}

impl<R: Read> RdbReader<R> {
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
        }
    }

    /// Accept Redis Enterprise opcodes 107 (RAM_LRU) and 121 (SLOT_NUM) instead of failing.
    pub fn enterprise_opcodes(mut self, yes: bool) -> Self {
        self.core.set_enterprise(yes);
        self
    }

    /// The header, once the first record has been read.
    pub fn header(&self) -> Option<crate::parser::Header> {
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

    /// Reads more input: drops consumed bytes, then grows the buffer geometrically.
    fn fill(&mut self) -> Result<()> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.base += self.start as u64;
            self.start = 0;
        }
        let old = self.buf.len();
        // Grow geometrically: the unit being parsed needs more than everything buffered.
        let want = old.max(self.min_read);
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
            |_, _, _| crate::parser::Confirm::CannotReread,
        );
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

/// Either source, for code that takes both (a lending "iterator" of records).
pub trait RecordSource {
    fn next_record(&mut self) -> Option<Result<Record<'_>>>;
    fn header(&self) -> Option<crate::parser::Header>;
    /// Bytes consumed so far.
    fn position(&self) -> u64;
}

impl RecordSource for RdbParser<'_> {
    fn next_record(&mut self) -> Option<Result<Record<'_>>> {
        self.next()
    }
    fn header(&self) -> Option<crate::parser::Header> {
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
    fn header(&self) -> Option<crate::parser::Header> {
        RdbReader::header(self)
    }
    fn position(&self) -> u64 {
        RdbReader::position(self)
    }
}

/// What [`check_rdb_prefix`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefixSummary {
    /// Bytes from 0 through the 8-byte CRC trailer (through the EOF byte when version < 5):
    /// whatever follows (an AOF's RESP tail) starts here.
    pub len: usize,
    pub version: u32,
    pub keys: u64,
    pub checksum: ChecksumStatus,
}

/// Reads the RDB at the start of `data` (an AOF preamble, a `.base.rdb`) through its EOF and
/// CRC trailer, verifying the checksum, optionally with deep validation.
pub fn check_rdb_prefix(data: &[u8], deep: bool) -> Result<PrefixSummary> {
    // A big deep check validates values on every core (same verdict as the loop below).
    if deep && data.len() >= 8 << 20 {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let opts = Options {
            deep,
            verify_checksum: true,
            best_effort: false,
        };
        let (mut keys, mut eof) = (0u64, None);
        let (header, r) = crate::parallel::check(data, opts, false, threads, |rec| match rec {
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
        Options {
            deep,
            verify_checksum: true,
            best_effort: false,
        },
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
