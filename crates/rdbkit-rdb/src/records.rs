//! A real [`Iterator`] over RDB data held in memory ([`crate::RdbFile`] or any slice): items
//! borrow the input, not the parser, so they can be kept and collected.
//!
//! ```
//! use rdbkit_rdb::{Options, RdbParser};
//! let data = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/rdb/sample.rdb"))?;
//! let keys: Vec<Vec<u8>> = RdbParser::new(&data, Options::default())
//!     .into_records()
//!     .filter_map(|r| r.ok())
//!     .filter_map(|r| r.into_key())
//!     .map(|k| k.key.to_vec())
//!     .collect();
//! assert!(!keys.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;

use crate::error::{Error, ErrorKind, Result};
use crate::module::ModuleId;
use crate::parser::{RdbParser, Step};
use crate::record::{ChecksumStatus, KeyRecord, Options, Record};
use crate::string::RdbString;
use crate::unit::Unit;
use crate::value::{ModulePayload, Value};
use crate::version::Type;

/// A key with its attributes and its (lazily decoded) value, borrowing the input. Like
/// [`KeyRecord`], but the key is a [`Cow`]: borrowed from the input, owned when it was stored
/// LZF-compressed.
#[derive(Clone, Debug)]
pub struct Key<'a> {
    /// The database (SELECTDB before it; 0 when none).
    pub db: u64,
    /// The key's bytes: borrowed from the input, owned when stored LZF-compressed.
    pub key: Cow<'a, [u8]>,
    /// Absolute expiry, Unix ms.
    pub expire_ms: Option<i64>,
    /// LRU idle time in seconds (IDLE opcode).
    pub lru_idle: Option<u64>,
    /// LFU frequency (FREQ opcode).
    pub lfu_freq: Option<u8>,
    /// The value, decoded on demand.
    pub value: Value<'a>,
    /// File offset of the first attribute (expire/idle/freq) or of the type byte.
    pub offset: u64,
    /// File offset just past the value.
    pub end: u64,
}

impl<'a> From<KeyRecord<'a>> for Key<'a> {
    fn from(k: KeyRecord<'a>) -> Self {
        Key {
            db: k.db,
            key: Cow::Borrowed(k.key),
            expire_ms: k.expire_ms,
            lru_idle: k.lru_idle,
            lfu_freq: k.lfu_freq,
            value: k.value,
            offset: k.offset,
            end: k.end,
        }
    }
}

/// One thing in the file, as [`Records`] yields it: the records of [`Record`] (whose variants
/// document the fields) with the input's lifetime. The rarer records (Redis 7.0 RC functions, key metadata, slot imports,
/// hash templates, Enterprise opcodes) come as [`Item::Other`]; read them with the lending
/// [`RdbParser::next`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Item<'a> {
    /// A key with its value.
    Key(Key<'a>),
    /// [`Record::Aux`].
    #[allow(missing_docs)]
    Aux {
        key: Cow<'a, [u8]>,
        value: Cow<'a, [u8]>,
    },
    /// [`Record::SelectDb`].
    #[allow(missing_docs)]
    SelectDb { db: u64 },
    /// [`Record::ResizeDb`].
    #[allow(missing_docs)]
    ResizeDb { db_size: u64, expires_size: u64 },
    /// [`Record::SlotInfo`].
    #[allow(missing_docs)]
    SlotInfo {
        slot: u64,
        size: u64,
        expires_size: u64,
    },
    /// [`Record::ModuleAux`].
    #[allow(missing_docs)]
    ModuleAux {
        module: ModuleId,
        when: u64,
        payload: ModulePayload<'a>,
    },
    /// [`Record::Function`].
    #[allow(missing_docs)]
    Function { code: Cow<'a, [u8]> },
    /// A record of another kind, named (`"function-pre-ga"`, `"key-meta"`, `"slot-import"`,
    /// `"hash-template"`, `"enterprise-opcode"`).
    Other {
        /// What the record is.
        kind: &'static str,
    },
    /// The EOF opcode at `offset`, the checksum verdict, and the end of the RDB (past the
    /// trailer).
    Eof {
        /// File offset of the EOF opcode.
        offset: u64,
        /// What the CRC-64 trailer says.
        checksum: ChecksumStatus,
        /// File offset just past the RDB (its trailer included).
        end: u64,
    },
}

impl<'a> Item<'a> {
    /// The key, when this is a key record.
    pub fn into_key(self) -> Option<Key<'a>> {
        match self {
            Item::Key(k) => Some(k),
            _ => None,
        }
    }
}

impl<'r> Record<'r> {
    /// The key, when this is a key record.
    pub fn into_key(self) -> Option<KeyRecord<'r>> {
        match self {
            Record::Key(k) => Some(k),
            _ => None,
        }
    }
}

/// The input-lifetime parts of a unit, kept before the parser builds its record.
pub(crate) enum Saved<'a> {
    Key(RdbString<'a>, Value<'a>),
    Aux(RdbString<'a>, RdbString<'a>, u64),
    Function(RdbString<'a>, u64),
    ModuleAux(ModulePayload<'a>),
    None,
}

impl<'a> Saved<'a> {
    pub(crate) fn of(unit: &Unit<'a>) -> Self {
        match unit {
            Unit::Key { key, value, .. } => Saved::Key(*key, *value),
            Unit::Aux(k, v, at) => Saved::Aux(*k, *v, *at),
            Unit::Function(c, at) => Saved::Function(*c, *at),
            Unit::ModuleAux(_, _, p) => Saved::ModuleAux(*p),
            _ => Saved::None,
        }
    }

    /// The item of the record the parser built from the unit.
    pub(crate) fn into_item(self, rec: Record<'_>) -> Result<Item<'a>> {
        Ok(match (rec, self) {
            (Record::Key(k), Saved::Key(key, value)) => {
                if matches!(value.ty, Type::HashTmplLpRef | Type::HashTmplArrayRef) {
                    return Err(Error::new(
                        ErrorKind::Unsupported(
                            "a template-encoded hash (Redis 8.10+) refers to the parser's \
                             templates: read it with the lending RdbParser::next"
                                .into(),
                        ),
                        k.offset,
                    )
                    .in_key(Some(k.db), k.key));
                }
                let key = match key {
                    RdbString::Raw(b) => Cow::Borrowed(b),
                    _ => Cow::Owned(k.key.to_vec()),
                };
                Item::Key(Key {
                    db: k.db,
                    key,
                    expire_ms: k.expire_ms,
                    lru_idle: k.lru_idle,
                    lfu_freq: k.lfu_freq,
                    value,
                    offset: k.offset,
                    end: k.end,
                })
            }
            (Record::Aux { .. }, Saved::Aux(k, v, at)) => Item::Aux {
                key: k.to_cow(at)?,
                value: v.to_cow(at)?,
            },
            (Record::Function { .. }, Saved::Function(c, at)) => Item::Function {
                code: c.to_cow(at)?,
            },
            (Record::ModuleAux { module, when, .. }, Saved::ModuleAux(payload)) => {
                Item::ModuleAux {
                    module,
                    when,
                    payload,
                }
            }
            (Record::SelectDb { db }, _) => Item::SelectDb { db },
            (
                Record::ResizeDb {
                    db_size,
                    expires_size,
                },
                _,
            ) => Item::ResizeDb {
                db_size,
                expires_size,
            },
            (
                Record::SlotInfo {
                    slot,
                    size,
                    expires_size,
                },
                _,
            ) => Item::SlotInfo {
                slot,
                size,
                expires_size,
            },
            (
                Record::Eof {
                    offset,
                    checksum,
                    end,
                },
                _,
            ) => Item::Eof {
                offset,
                checksum,
                end,
            },
            (Record::FunctionPreGa { .. }, _) => Item::Other {
                kind: "function-pre-ga",
            },
            (Record::KeyMeta { .. }, _) => Item::Other { kind: "key-meta" },
            (Record::SlotImport { .. }, _) => Item::Other {
                kind: "slot-import",
            },
            (Record::HashTemplate { .. }, _) => Item::Other {
                kind: "hash-template",
            },
            (Record::EnterpriseOpcode { .. }, _) => Item::Other {
                kind: "enterprise-opcode",
            },
            (Record::Key(_) | Record::Aux { .. } | Record::Function { .. }, _)
            | (Record::ModuleAux { .. }, _) => {
                return Err(Error::invalid(
                    0,
                    "internal: a record and its unit disagree",
                ))
            }
        })
    }
}

/// An [`Iterator`] of [`Item`]s over data in memory ([`crate::RdbFile::records`],
/// [`RdbParser::into_records`]). It ends after the EOF record or after the first error.
pub struct Records<'a> {
    parser: RdbParser<'a>,
}

impl<'a> Records<'a> {
    /// The parser underneath (its header, position, db).
    pub fn parser(&self) -> &RdbParser<'a> {
        &self.parser
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Item<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.parser.next_item()
    }
}

impl<'a> RdbParser<'a> {
    /// This parser as an [`Iterator`] whose items borrow the data, not the parser.
    pub fn into_records(self) -> Records<'a> {
        Records { parser: self }
    }

    /// The next record with the data's lifetime (see [`crate::Records`]).
    pub(crate) fn next_item(&mut self) -> Option<Result<Item<'a>>> {
        match self.step()? {
            Err(e) => Some(Err(e)),
            Ok(Step::Fast(k)) => Some(Ok(Item::Key(k.into()))),
            Ok(Step::Unit(unit)) => {
                let saved = Saved::of(&unit);
                Some(self.finish(unit).and_then(|r| saved.into_item(r)))
            }
        }
    }
}

impl crate::file::RdbFile {
    /// The records as a real [`Iterator`]; its items borrow this file, not the iterator, so
    /// they can be collected:
    ///
    /// ```
    /// use rdbkit_rdb::{Options, RdbFile};
    /// let file = RdbFile::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/rdb/sample.rdb"))?;
    /// let keys: Vec<Vec<u8>> = file
    ///     .records(Options::default())
    ///     .filter_map(|r| r.ok())
    ///     .filter_map(|r| r.into_key())
    ///     .map(|k| k.key.to_vec())
    ///     .collect();
    /// assert!(!keys.is_empty());
    /// # Ok::<(), rdbkit_rdb::Error>(())
    /// ```
    pub fn records(&self, opts: Options) -> Records<'_> {
        self.parser(opts).into_records()
    }
}
