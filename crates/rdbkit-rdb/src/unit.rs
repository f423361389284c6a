//! The unit state machine under both record sources ([`crate::RdbParser`] over a slice,
//! [`crate::RdbReader`] over an `io::Read`): one RDB file as a pull stream of [`Record`]s.
//!
//! The core (`Core::parse_unit`) reads one *unit* — an opcode with its payload, or a key
//! with its whole value — from a byte slice, without changing any state, so a streaming
//! source can retry a unit when its buffer ran dry. Key attributes (expire, idle, freq) are
//! units that only update state; everything else becomes a record.

use crate::cursor::Cursor;
use crate::error::{Error, ErrorKind, Result};
use crate::length::{read_count, read_len};
use crate::module::ModuleId;
use crate::record::{ChecksumStatus, Header, KeyRecord, Options, Record};
use crate::string::{read_string, RdbString};
use crate::template::{HashTemplates, TemplateFields};
use crate::value::{ModulePayload, Value};
use crate::version::{Dialect, Lookup, Magic, Opcode, Type};
use crate::visit::{NoVisitor, Scratch, Walk};
use crate::walk;

/// Key attributes waiting for their key.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Attrs {
    pub(crate) expire_ms: Option<i64>,
    pub(crate) lru_idle: Option<u64>,
    pub(crate) lfu_freq: Option<u8>,
    pub(crate) first_offset: Option<u64>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Attr {
    ExpireMs(i64),
    Idle(u64),
    Freq(u8),
}

/// One parsed unit, borrowing the bytes it came from.
pub(crate) enum Unit<'d> {
    Header(Header),
    Attr(Attr),
    Aux(RdbString<'d>, RdbString<'d>, u64),
    SelectDb(u64),
    ResizeDb(u64, u64),
    SlotInfo(u64, u64, u64),
    ModuleAux(ModuleId, u64, ModulePayload<'d>),
    Function(RdbString<'d>, u64),
    FunctionPreGa(RdbString<'d>, RdbString<'d>, RdbString<'d>, u64, u64),
    KeyMeta(u64, &'d [u8]),
    SlotImport(RdbString<'d>, u64, Vec<(u64, u64)>),
    /// A template read but not yet registered (`apply` moves the fields into the registry).
    HashTemplate(u64, Option<Box<TemplateFields>>),
    Enterprise(u8, u64),
    Key {
        key: RdbString<'d>,
        key_at: u64,
        type_at: u64,
        value: Value<'d>,
        end: u64,
    },
    Eof {
        offset: u64,
        trailer: Option<u64>,
        end: u64,
    },
}

impl Unit<'_> {
    /// False for units that only change state (header, key attributes).
    pub(crate) fn is_record(&self) -> bool {
        !matches!(self, Unit::Header(_) | Unit::Attr(_))
    }
}

/// Parser state shared by the slice and the streaming sources.
pub(crate) struct Core {
    pub(crate) opts: Options,
    pub(crate) header: Option<Header>,
    /// The header's dialect, one entry per type-position byte.
    pub(crate) table: Box<[Lookup; 256]>,
    pub(crate) db: Option<u64>,
    pub(crate) attrs: Attrs,
    pub(crate) done: bool,
    pub(crate) key_buf: Vec<u8>,
    pub(crate) scratch: Scratch,
    /// Hash templates (opcode 242) read so far.
    pub(crate) templates: HashTemplates,
    /// File offset of the current unit, for errors.
    pub(crate) unit_at: u64,
    /// Set by [`RdbParser::next`] for one `build`: leave this key's value to the caller's
    /// deep validation (see [`RdbParser::defer_values`]).
    pub(crate) skip_value_deep: bool,
    /// Deep validation: the keys seen so far, to refuse a key stored twice in one db.
    pub(crate) keys: Option<crate::dups::KeySet>,
    /// The source cannot be re-read to confirm a duplicate candidate (a stream).
    pub(crate) keys_exact: bool,
    /// Most keys a RESIZEDB hint may size the key set for (what the input can hold).
    pub(crate) keys_hint_cap: u64,
    /// The caller looks for duplicate keys itself ([`crate::parallel`], in batches).
    pub(crate) keys_elsewhere: bool,
}

/// What re-reading the file before a key found, for a duplicate candidate.
pub(crate) enum Confirm {
    /// An earlier key record holds the same key in the same db.
    Earlier,
    /// No earlier equal key: the fingerprints matched by chance.
    NotFound,
    /// The source cannot be re-read (its key set holds 128-bit fingerprints).
    CannotReread,
}

impl Core {
    pub(crate) fn new(opts: Options) -> Self {
        Core {
            opts,
            header: None,
            table: Box::new([Lookup::Unknown; 256]),
            db: None,
            attrs: Attrs::default(),
            done: false,
            key_buf: Vec::new(),
            scratch: Scratch::new(),
            templates: HashTemplates::new(),
            unit_at: 0,
            skip_value_deep: false,
            keys: None,
            keys_exact: false,
            keys_hint_cap: 1 << 20,
            keys_elsewhere: false,
        }
    }

    /// For a stream: duplicate keys are found without re-reading (see [`crate::dups::KeySet`]).
    pub(crate) fn set_keys_exact(&mut self) {
        self.keys_exact = true;
    }

    /// Deep validation: adds the key to the file's key set; false when it is a candidate
    /// duplicate (its fingerprint is there already; nothing added).
    #[inline]
    pub(crate) fn note_key(&mut self, db: u64, key: &[u8]) -> bool {
        if !self.opts.deep || self.keys_elsewhere {
            return true;
        }
        note_key(&mut self.keys, self.keys_exact, db, key)
    }

    /// What byte `b` means where a type or opcode is expected (after the header).
    pub(crate) fn lookup(&self, b: u8) -> Lookup {
        self.table[usize::from(b)]
    }

    /// Key error context: the db and (when it decodes) the key.
    pub(crate) fn with_key(&self, e: Error, key: RdbString<'_>, key_at: u64) -> Error {
        self.key_error(e, key, key_at)
    }

    pub(crate) fn deep(&self) -> bool {
        self.opts.deep
    }

    pub(crate) fn header(&self) -> Option<Header> {
        self.header
    }
    pub(crate) fn db(&self) -> Option<u64> {
        self.db
    }
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }
    pub(crate) fn set_unit_at(&mut self, at: u64) {
        self.unit_at = at;
    }

    /// Parses the unit at the start of `data` (file offset `base`). Pure: state is untouched.
    pub(crate) fn parse_unit<'d>(&self, data: &'d [u8], base: u64) -> Result<(Unit<'d>, usize)> {
        let mut c = Cursor::new(data, base);
        let unit = match &self.header {
            None => Unit::Header(parse_header(&mut c, self.opts.best_effort)?),
            Some(h) => self.parse_body_unit(&mut c, h)?,
        };
        Ok((unit, c.pos()))
    }

    fn parse_body_unit<'d>(&self, c: &mut Cursor<'d>, h: &Header) -> Result<Unit<'d>> {
        let at = c.offset();
        let b = c.u8("type or opcode")?;
        let d = &h.dialect;
        match self.table[usize::from(b)] {
            Lookup::Type(t) => {
                let key_at = c.offset();
                let key = read_string(c, "key")?;
                let vstart = c.pos();
                let voff = c.offset();
                walk::walk_in::<NoVisitor>(c, t, None, Some(&self.templates))
                    .map_err(|e| self.key_error(e, key, key_at))?;
                let data = &c.data()[vstart..c.pos()];
                let value = Value {
                    ty: t,
                    type_byte: b,
                    dialect: *d,
                    data,
                    offset: voff,
                    templates: None,
                    streamed: None,
                };
                Ok(Unit::Key {
                    key,
                    key_at,
                    type_at: at,
                    value,
                    end: c.offset(),
                })
            }
            Lookup::Opcode(op) => self.parse_opcode(c, op, b, at, h),
            Lookup::Unsupported(what) => {
                Err(Error::new(ErrorKind::Unsupported(what.to_string()), at))
            }
            Lookup::Unknown => {
                let mut e = Error::new(
                    if b >= 0xf0 {
                        ErrorKind::UnknownOpcode(b)
                    } else {
                        ErrorKind::UnknownType(b)
                    },
                    at,
                );
                if d.beyond_known {
                    e = Error::new(
                        ErrorKind::Unsupported(format!(
                            "stopped at unknown type/opcode {b}: RDB version {} is newer than this build (read with --best-effort)",
                            h.version
                        )),
                        at,
                    );
                }
                Err(e)
            }
        }
    }

    fn key_error(&self, e: Error, key: RdbString<'_>, key_at: u64) -> Error {
        let e = e.in_db(self.db);
        match key.to_cow(key_at) {
            Ok(k) => e.in_key(self.db, &k),
            Err(_) => e,
        }
    }

    fn parse_opcode<'d>(
        &self,
        c: &mut Cursor<'d>,
        op: Opcode,
        b: u8,
        at: u64,
        h: &Header,
    ) -> Result<Unit<'d>> {
        Ok(match op {
            Opcode::Eof => {
                let trailer = if h.dialect.has_crc() {
                    Some(c.u64_le("CRC-64 trailer")?)
                } else {
                    None
                };
                Unit::Eof {
                    offset: at,
                    trailer,
                    end: c.offset(),
                }
            }
            Opcode::SelectDb => Unit::SelectDb(read_len(c, "db number")?),
            Opcode::ExpireTime => {
                let secs = i32::from_le_bytes(c.array("expire time")?);
                Unit::Attr(Attr::ExpireMs(i64::from(secs) * 1000))
            }
            Opcode::ExpireTimeMs => Unit::Attr(Attr::ExpireMs(c.i64_le("expire time (ms)")?)),
            Opcode::ResizeDb => {
                Unit::ResizeDb(read_len(c, "db size")?, read_len(c, "expires size")?)
            }
            Opcode::Aux => {
                let k = read_string(c, "aux field name")?;
                let v_at = c.offset();
                let v = read_string(c, "aux field value")?;
                Unit::Aux(k, v, v_at)
            }
            Opcode::Freq => Unit::Attr(Attr::Freq(c.u8("LFU frequency")?)),
            Opcode::Idle => Unit::Attr(Attr::Idle(read_len(c, "LRU idle time")?)),
            Opcode::ModuleAux => {
                let id = ModuleId {
                    id: read_len(c, "module id")?,
                };
                let op_at = c.offset();
                let when_op = read_len(c, "module aux when opcode")?;
                if when_op != crate::module::OP_UINT {
                    return Err(Error::invalid(
                        op_at,
                        format!("module aux 'when' has opcode {when_op}, expected 2 (UINT)"),
                    ));
                }
                let when = read_len(c, "module aux when")?;
                let start = c.pos();
                let off = c.offset();
                crate::module::walk(c, |_, _| Ok(()))?;
                Unit::ModuleAux(
                    id,
                    when,
                    ModulePayload {
                        data: &c.data()[start..c.pos()],
                        offset: off,
                    },
                )
            }
            Opcode::FunctionPreGa => {
                // 7.0 release candidates: name, engine, has-description flag, [description], code.
                let n_at = c.offset();
                let name = read_string(c, "function name")?;
                let engine = read_string(c, "function engine")?;
                let d_at = c.offset();
                let has_desc = read_len(c, "function description flag")?;
                if has_desc > 1 {
                    return Err(Error::invalid(
                        d_at,
                        format!("function description flag {has_desc} (expected 0 or 1)"),
                    ));
                }
                if has_desc == 1 {
                    read_string(c, "function description")?;
                }
                let c_at = c.offset();
                let code = read_string(c, "function code")?;
                Unit::FunctionPreGa(name, engine, code, n_at, c_at)
            }
            Opcode::Function2 => {
                let v_at = c.offset();
                Unit::Function(read_string(c, "function library code")?, v_at)
            }
            Opcode::SlotInfo => Unit::SlotInfo(
                read_len(c, "slot id")?,
                read_len(c, "slot size")?,
                read_len(c, "slot expires size")?,
            ),
            Opcode::KeyMeta => {
                let n = read_count(c, "key metadata class count", 5)?;
                let start = c.pos();
                for _ in 0..n {
                    c.fixed(4, "key metadata class spec")?;
                    crate::module::walk(c, |_, _| Ok(()))?;
                }
                Unit::KeyMeta(n, &c.data()[start..c.pos()])
            }
            Opcode::SlotImport => {
                let j_at = c.offset();
                let job = read_string(c, "slot import job name")?;
                let n = read_count(c, "slot range count", 2)?;
                let mut ranges = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    ranges.push((
                        read_len(c, "slot range start")?,
                        read_len(c, "slot range end")?,
                    ));
                }
                Unit::SlotImport(job, j_at, ranges)
            }
            Opcode::HashTemplate => {
                let (id, fields) = crate::template::read_record(c, &self.templates)?;
                Unit::HashTemplate(id, Some(fields))
            }
            Opcode::EnterpriseRamLru | Opcode::EnterpriseSlotNum => {
                if !self.opts.enterprise {
                    let name = if b == 107 { "RAM_LRU" } else { "SLOT_NUM" };
                    return Err(Error::new(
                        ErrorKind::Unsupported(format!(
                            "opcode {b} ({name}) exists only in Redis Enterprise files; open-source Redis cannot load it (accept it with --enterprise)"
                        )),
                        at,
                    ));
                }
                Unit::Enterprise(b, read_len(c, "enterprise opcode value")?)
            }
        })
    }

    /// Applies a unit's state changes. Returns `None` for units that are not records
    /// (header, key attributes).
    pub(crate) fn apply<'d>(&mut self, unit: Unit<'d>, at: u64) -> Option<Unit<'d>> {
        match unit {
            Unit::Header(h) => {
                self.header = Some(h);
                *self.table = h.dialect.table();
                None
            }
            Unit::Attr(a) => {
                self.attrs.first_offset.get_or_insert(at);
                match a {
                    Attr::ExpireMs(t) => self.attrs.expire_ms = Some(t),
                    Attr::Idle(s) => self.attrs.lru_idle = Some(s),
                    Attr::Freq(f) => self.attrs.lfu_freq = Some(f),
                }
                None
            }
            Unit::SelectDb(db) => {
                self.db = Some(db);
                Some(unit)
            }
            Unit::ResizeDb(keys, _) if self.opts.deep && !self.keys_elsewhere => {
                // Size the key set once rather than rehash it on the way; a hint the input
                // cannot back sizes nothing beyond what it can.
                let n = keys.min(self.keys_hint_cap);
                self.keys_hint_cap -= n;
                let exact = self.keys_exact;
                self.keys
                    .get_or_insert_with(|| {
                        if exact {
                            crate::dups::KeySet::new_exact()
                        } else {
                            crate::dups::KeySet::new()
                        }
                    })
                    .reserve(n as usize);
                Some(unit)
            }
            Unit::Eof { .. } => {
                self.done = true;
                Some(unit)
            }
            Unit::HashTemplate(id, Some(fields)) => {
                self.templates.insert(id, fields);
                Some(Unit::HashTemplate(id, None))
            }
            other => Some(other),
        }
    }

    /// Turns a record unit into a [`Record`]: decompresses the key, runs deep validation.
    /// `crc(eof_offset)` gives the CRC-64 of the file through the EOF byte (for the EOF unit).
    /// `confirm(db, key, offset)` re-reads the file before `offset` for an earlier record of
    /// the same key (a duplicate candidate, deep validation only).
    pub(crate) fn build<'s, 'd: 's>(
        &'s mut self,
        unit: Unit<'d>,
        crc: impl FnOnce(u64) -> u64,
        confirm: impl FnOnce(u64, &[u8], u64) -> Confirm,
    ) -> Result<Record<'s>> {
        Ok(match unit {
            Unit::Key {
                key,
                key_at,
                type_at,
                mut value,
                end,
            } => {
                if matches!(value.ty, Type::HashTmplLpRef | Type::HashTmplArrayRef) {
                    value.templates = Some(&self.templates);
                }
                let attrs = std::mem::take(&mut self.attrs);
                let db = self.db.unwrap_or(0);
                let key = key
                    .bytes_in(&mut self.key_buf, key_at)
                    .map_err(|e| e.in_db(self.db))?;
                let offset = attrs.first_offset.unwrap_or(type_at);
                // Before the value's validation: the record's offset is lower than any error
                // inside its value, so the parallel check (which validates values elsewhere)
                // reaches the same verdict.
                if self.opts.deep
                    && !self.keys_elsewhere
                    && !note_key(&mut self.keys, self.keys_exact, db, key)
                    && !matches!(confirm(db, key, offset), Confirm::NotFound)
                {
                    return Err(duplicate_key_error(db, key, offset));
                }
                if self.opts.deep && !std::mem::take(&mut self.skip_value_deep) {
                    value
                        .visit(&mut self.scratch, &mut NoVisitor, true)
                        .map_err(|e| e.in_key(Some(db), key))?;
                }
                Record::Key(KeyRecord {
                    db,
                    key,
                    expire_ms: attrs.expire_ms,
                    lru_idle: attrs.lru_idle,
                    lfu_freq: attrs.lfu_freq,
                    value,
                    offset,
                    end,
                })
            }
            Unit::Aux(k, v, v_at) => Record::Aux {
                key: k.to_cow(v_at)?,
                value: v.to_cow(v_at)?,
            },
            Unit::SelectDb(db) => Record::SelectDb { db },
            Unit::ResizeDb(a, b) => Record::ResizeDb {
                db_size: a,
                expires_size: b,
            },
            Unit::SlotInfo(a, b, c) => Record::SlotInfo {
                slot: a,
                size: b,
                expires_size: c,
            },
            Unit::ModuleAux(module, when, payload) => {
                if self.opts.deep {
                    let mut scratch = std::mem::take(&mut self.scratch);
                    let r = walk::walk_module_payload(
                        &mut Cursor::new(payload.data, payload.offset),
                        module,
                        payload.offset,
                        Some(&mut Walk {
                            v: &mut NoVisitor,
                            s: &mut scratch,
                            deep: true,
                        }),
                    );
                    self.scratch = scratch;
                    r?;
                }
                Record::ModuleAux {
                    module,
                    when,
                    payload,
                }
            }
            Unit::Function(code, at) => Record::Function {
                code: code.to_cow(at)?,
            },
            Unit::FunctionPreGa(name, engine, code, n_at, c_at) => Record::FunctionPreGa {
                name: name.to_cow(n_at)?,
                engine: engine.to_cow(n_at)?,
                code: code.to_cow(c_at)?,
            },
            Unit::KeyMeta(classes, raw) => Record::KeyMeta { classes, raw },
            Unit::SlotImport(job, at, ranges) => Record::SlotImport {
                job: job.to_cow(at)?,
                ranges,
            },
            Unit::Enterprise(opcode, value) => Record::EnterpriseOpcode { opcode, value },
            Unit::HashTemplate(id, _) => Record::HashTemplate {
                id,
                fields: self.templates.get(id).unwrap_or_default(),
            },
            Unit::Eof {
                offset,
                trailer,
                end,
            } => {
                let checksum = match trailer {
                    None => ChecksumStatus::NotPresent,
                    Some(0) => ChecksumStatus::Disabled,
                    Some(t) if !self.opts.verify_checksum => ChecksumStatus::NotChecked(t),
                    Some(t) => {
                        let computed = crc(offset);
                        if computed != t {
                            return Err(Error::new(
                                ErrorKind::ChecksumMismatch {
                                    expected: t,
                                    computed,
                                },
                                offset + 1,
                            ));
                        }
                        ChecksumStatus::Verified(t)
                    }
                };
                Record::Eof {
                    offset,
                    checksum,
                    end,
                }
            }
            Unit::Header(_) | Unit::Attr(_) => {
                return Err(Error::invalid(
                    self.unit_at,
                    "internal: attribute unit built as a record",
                ))
            }
        })
    }
}

/// [`Core::note_key`] on the fields (the key may borrow another field of the core).
fn note_key(keys: &mut Option<crate::dups::KeySet>, exact: bool, db: u64, key: &[u8]) -> bool {
    keys.get_or_insert_with(|| {
        if exact {
            crate::dups::KeySet::new_exact()
        } else {
            crate::dups::KeySet::new()
        }
    })
    .insert(db, key)
}

/// A key stored twice in one db, at the second record's `offset`. The same message from a map,
/// a stream and the parallel check (the fuzz targets compare them), so the earlier record's
/// offset is not part of it.
pub(crate) fn duplicate_key_error(db: u64, key: &[u8], offset: u64) -> Error {
    Error::invalid(
        offset,
        format!(
            "duplicate key: an earlier record of db {db} holds the same key; redis-server \
             refuses to load the file (\"Duplicated key found in RDB file\")"
        ),
    )
    .in_key(Some(db), key)
}

fn parse_header(c: &mut Cursor<'_>, best_effort: bool) -> Result<Header> {
    let head: [u8; 9] = c.array("RDB header")?;
    let (magic, digits) = if &head[..5] == b"REDIS" {
        (Magic::Redis, &head[5..])
    } else if &head[..6] == b"VALKEY" {
        (Magic::Valkey, &head[6..])
    } else {
        let shown: String = head
            .iter()
            .map(|&b| if b.is_ascii_graphic() { b as char } else { '.' })
            .collect();
        return Err(Error::new(
            ErrorKind::BadMagic(format!(
                "the file starts with {shown:?}, not REDIS or VALKEY"
            )),
            0,
        ));
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(Error::new(
            ErrorKind::BadMagic(format!(
                "version field {:?} is not a number",
                String::from_utf8_lossy(digits)
            )),
            5,
        ));
    }
    let version = digits
        .iter()
        .fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
    if magic == Magic::Redis && (80..=crate::version::VALKEY_MAX_VERSION).contains(&version) {
        return Err(Error::new(
            ErrorKind::BadMagic(format!(
                "RDB version {version} is a Valkey version but the magic is REDIS"
            )),
            5,
        ));
    }
    let dialect = match Dialect::new(magic, version) {
        Some(d) => d,
        None if best_effort && version > 0 => Dialect::best_effort(magic, version),
        None => return Err(Error::new(ErrorKind::UnsupportedVersion(version), 5)),
    };
    Ok(Header {
        magic,
        version,
        dialect,
    })
}
