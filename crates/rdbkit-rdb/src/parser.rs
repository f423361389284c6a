//! The record parser: one RDB file as a pull stream of [`Record`]s.
//!
//! The core (`Core::parse_unit`) reads one *unit* — an opcode with its payload, or a key
//! with its whole value — from a byte slice, without changing any state, so a streaming
//! source can retry a unit when its buffer ran dry. Key attributes (expire, idle, freq) are
//! units that only update state; everything else becomes a record.

use std::borrow::Cow;

use crate::error::{Error, ErrorKind, Result};
use crate::length::{read_count, read_len};
use crate::module::ModuleId;
use crate::reader::Cursor;
use crate::string::{read_string, RdbString};
use crate::template::{HashTemplates, TemplateFields};
use crate::value::{self, NoVisitor, Scratch, Visitor, Walk};
use crate::version::{Dialect, Lookup, Magic, Opcode, Type};

/// How to read a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Validate every compact encoding and value the way Redis's `sanitize-dump-payload yes`
    /// does (slower: every value is decoded).
    pub deep: bool,
    /// Compare the CRC-64 trailer with the data (a mismatch is an error).
    pub verify_checksum: bool,
    /// Read a version newer than this build knows with the newest tables, stopping at the
    /// first unknown byte.
    pub best_effort: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            deep: false,
            verify_checksum: true,
            best_effort: false,
        }
    }
}

/// What the CRC-64 trailer says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumStatus {
    /// The trailer matches the data.
    Verified(u64),
    /// The trailer is 0: the writer had `rdbchecksum no`.
    Disabled,
    /// RDB < 5: there is no trailer.
    NotPresent,
    /// Not compared (`verify_checksum: false`); the trailer value. (With verification on, a
    /// mismatch is an [`ErrorKind::ChecksumMismatch`] error, not a status.)
    NotChecked(u64),
}

/// The 9-byte header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub magic: Magic,
    pub version: u32,
    pub dialect: Dialect,
}

/// A key with its attributes and its (lazily decoded) value.
#[derive(Clone, Copy, Debug)]
pub struct KeyRecord<'r> {
    pub db: u64,
    pub key: &'r [u8],
    pub expire_ms: Option<i64>,
    pub lru_idle: Option<u64>,
    pub lfu_freq: Option<u8>,
    pub value: Value<'r>,
    /// File offset of the first attribute (expire/idle/freq) or of the type byte.
    pub offset: u64,
    /// File offset just past the value.
    pub end: u64,
}

/// A module AUX payload or module value payload, walked on demand.
#[derive(Clone, Copy, Debug)]
pub struct ModulePayload<'r> {
    pub data: &'r [u8],
    pub offset: u64,
}

impl<'r> ModulePayload<'r> {
    /// Walks the opcode stream.
    pub fn for_each(
        &self,
        f: impl FnMut(crate::module::ModuleItem<'r>, u64) -> Result<()>,
    ) -> Result<()> {
        crate::module::walk(&mut Cursor::new(self.data, self.offset), f)
    }
}

/// One thing in the file.
#[derive(Debug)]
pub enum Record<'r> {
    Aux {
        key: Cow<'r, [u8]>,
        value: Cow<'r, [u8]>,
    },
    SelectDb {
        db: u64,
    },
    ResizeDb {
        db_size: u64,
        expires_size: u64,
    },
    SlotInfo {
        slot: u64,
        size: u64,
        expires_size: u64,
    },
    ModuleAux {
        module: ModuleId,
        when: u64,
        payload: ModulePayload<'r>,
    },
    Function {
        code: Cow<'r, [u8]>,
    },
    /// Redis 7.0 release-candidate function (opcode 246): one function, not a library.
    FunctionPreGa {
        name: Cow<'r, [u8]>,
        engine: Cow<'r, [u8]>,
        code: Cow<'r, [u8]>,
    },
    /// Redis 8.6+ key metadata for the next key (class specs + module-style payloads, raw).
    KeyMeta {
        classes: u64,
        raw: &'r [u8],
    },
    /// Valkey 9 atomic slot migration job.
    SlotImport {
        job: Cow<'r, [u8]>,
        ranges: Vec<(u64, u64)>,
    },
    /// Redis 8.10 hash template (opcode 242): the field names later template-encoded hashes
    /// (types 30, 32) refer to by `id`. The parser keeps them and resolves those hashes.
    HashTemplate {
        id: u64,
        fields: &'r TemplateFields,
    },
    /// Redis Enterprise opcode 107 (RAM_LRU) or 121 (SLOT_NUM), when enabled.
    EnterpriseOpcode {
        opcode: u8,
        value: u64,
    },
    Key(KeyRecord<'r>),
    Eof {
        offset: u64,
        checksum: ChecksumStatus,
        end: u64,
    },
}

/// A value as stored: its type and bytes. Nothing is decoded until asked.
#[derive(Clone, Copy, Debug)]
pub struct Value<'r> {
    pub ty: Type,
    pub type_byte: u8,
    pub dialect: Dialect,
    data: &'r [u8],
    offset: u64,
    /// The file's hash templates, for the template-encoded hash types.
    templates: Option<&'r HashTemplates>,
    /// A string value too big to hold that a stream passed through (see
    /// [`Value::streamed_len`]): `data` is empty.
    streamed: Option<Streamed>,
}

/// A string value that [`crate::RdbReader`] checked as it passed without holding it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Streamed {
    /// Its logical length.
    pub(crate) len: u64,
    /// Bytes it occupies in the file (length prefix included).
    pub(crate) stored: u64,
}

impl<'r> Value<'r> {
    /// The value's bytes as stored (after the key).
    pub fn raw(&self) -> &'r [u8] {
        self.data
    }

    /// For a string value that a stream ([`crate::RdbReader`]) passed through without holding
    /// it (a value bigger than [`crate::RdbReader::hold_values_up_to`]): its length. Such a
    /// value was CRC'd and (deep validation) validated as it passed; its `raw()` is empty, and
    /// asking for its content (`visit` with a visitor that wants content, `view`, `string`) is
    /// an error or `None`.
    pub fn streamed_len(&self) -> Option<u64> {
        self.streamed.map(|s| s.len)
    }

    /// Bytes the value occupies in the file (`raw().len()`, or the size of a streamed string).
    pub fn stored_len(&self) -> u64 {
        self.streamed.map_or(self.data.len() as u64, |s| s.stored)
    }

    /// About how many bytes decoding the value's content needs in memory: a string's length
    /// (decompressed), a compact blob's decompressed size, the sum of a quicklist's nodes
    /// decompressed, else the stored size (for the plain collection encodings, whose LZF
    /// elements are decompressed one at a time). For budgets ([`crate::source::ValueBudget`]).
    pub fn content_len(&self) -> u64 {
        let stored = self.stored_len();
        if let Some(s) = self.streamed {
            return s.len;
        }
        if let Some(s) = self.string() {
            return s.len() as u64;
        }
        if let Some(b) = self.blob() {
            return (b.len() as u64).max(stored);
        }
        if let Some(Ok(nodes)) = self.quicklist_nodes() {
            let mut total = 0u64;
            for n in nodes {
                match n {
                    Ok(n) => total = total.saturating_add(n.data.len() as u64),
                    Err(_) => break,
                }
            }
            return total.max(stored);
        }
        stored
    }

    /// A string value that a stream passed through (see [`Value::streamed_len`]).
    pub(crate) fn streamed_string(
        type_byte: u8,
        dialect: Dialect,
        offset: u64,
        streamed: Streamed,
    ) -> Value<'static> {
        Value {
            ty: Type::String,
            type_byte,
            dialect,
            data: &[],
            offset,
            templates: None,
            streamed: Some(streamed),
        }
    }

    fn not_held(&self) -> Error {
        Error::new(
            ErrorKind::Unsupported(format!(
                "this string value of {} bytes was streamed without being held in memory \
                 (RdbReader::hold_values_up_to): its content is not available",
                self.streamed.map_or(0, |s| s.len)
            )),
            self.offset,
        )
    }

    /// File offset of the value's first byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn cursor(&self) -> Cursor<'r> {
        Cursor::new(self.data, self.offset)
    }

    /// The value's family (string, list, set, zset, hash, stream, array, module).
    pub fn family(&self) -> crate::Family {
        self.ty.family_kind()
    }

    /// Decodes the value into `visitor` (no deep validation): `Continue` when the whole value
    /// was visited, `Break` when a callback returned [`crate::stop()`]. Any other callback
    /// `Err` is an [`ErrorKind::InvalidValue`] error.
    pub fn walk<V: Visitor + ?Sized>(&self, visitor: &mut V) -> Result<std::ops::ControlFlow<()>> {
        match self.visit(&mut Scratch::new(), visitor, false) {
            Ok(()) => Ok(std::ops::ControlFlow::Continue(())),
            Err(e) if e.is_stopped() => Ok(std::ops::ControlFlow::Break(())),
            Err(e) => Err(e),
        }
    }

    /// The element count Redis reports for the value: `STRLEN` of a string, `LLEN`, `SCARD`,
    /// `ZCARD`, `HLEN` (fields, with or without TTL), `XLEN` of a stream, the element count of
    /// an array; 1 for a module value. Read from the encoding's header or length prefix where
    /// it stores one (plain encodings, intsets, listpacks/ziplists/zipmaps under 65535
    /// entries, arrays); a quicklist sums its nodes' headers; otherwise (streams, huge
    /// compact blobs) the value is walked without decoding its content.
    pub fn len(&self) -> Result<u64> {
        use crate::version::Type as T;
        if let Some(n) = self.streamed_len() {
            return Ok(n);
        }
        let per = match self.ty {
            T::String => {
                return match read_string(&mut self.cursor(), "string value")? {
                    RdbString::Int(i) => Ok(i.to_string().len() as u64),
                    s => Ok(s.len() as u64),
                };
            }
            T::ListLinked | T::Set | T::ZsetText | T::Zset2 | T::Hash => {
                return read_len(&mut self.cursor(), "element count");
            }
            T::ModulePreGa | T::Module2 => return Ok(1),
            T::ListZiplist | T::SetIntset | T::SetListpack => Some(1),
            T::ZsetZiplist | T::ZsetListpack | T::HashZiplist | T::HashListpack => Some(2),
            T::HashListpackExPreGa | T::HashListpackEx => Some(3),
            T::HashZipmap => Some(2),
            _ => None,
        };
        if let Some(per) = per {
            let mut buf = Vec::new();
            let n = match self.view(&mut buf)? {
                View::Intset(i) => Some(i.len()),
                View::Listpack(l) => l.header_count(),
                View::Ziplist(z) => z.header_count(),
                View::Zipmap(z) => z.header_count().map(|n| n * 2),
                _ => None,
            };
            if let Some(n) = n {
                return Ok((n / per) as u64);
            }
        }
        if let Some(nodes) = self.quicklist_nodes() {
            let mut total = 0u64;
            let mut buf = Vec::new();
            for node in nodes? {
                let node = node?;
                let n = match node.container {
                    crate::quicklist::CONTAINER_PACKED => {
                        let bytes = node.data.bytes_in(&mut buf, node.offset)?;
                        if self.ty == T::ListQuicklist {
                            crate::ziplist::Ziplist::new(bytes)
                                .ok()
                                .and_then(|z| z.header_count())
                        } else {
                            crate::listpack::Listpack::new(bytes)
                                .ok()
                                .and_then(|l| l.header_count())
                        }
                    }
                    _ => Some(1),
                };
                match n {
                    Some(n) => total += n as u64,
                    None => return self.len_by_walk(),
                }
            }
            return Ok(total);
        }
        self.len_by_walk()
    }

    /// Whether [`len`](Self::len) is 0 (an empty string; collections are never stored empty,
    /// except a stream trimmed to nothing).
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// [`len`](Self::len) by walking the value.
    fn len_by_walk(&self) -> Result<u64> {
        let mut c = Counter(0);
        match self.walk(&mut c)? {
            std::ops::ControlFlow::Continue(()) | std::ops::ControlFlow::Break(()) => Ok(c.0),
        }
    }

    /// Decodes the value into `visitor`, reusing `scratch` for LZF data.
    pub fn visit<V: Visitor + ?Sized>(
        &self,
        scratch: &mut Scratch,
        visitor: &mut V,
        deep: bool,
    ) -> Result<()> {
        self.decode_len(scratch, visitor, deep).map(|_| ())
    }

    /// Like [`visit`](Self::visit), and returns how many bytes the full decode consumed,
    /// which always equals `raw().len()` (the length the skipping walk found).
    pub fn decode_len<V: Visitor + ?Sized>(
        &self,
        scratch: &mut Scratch,
        visitor: &mut V,
        deep: bool,
    ) -> Result<usize> {
        if self.streamed.is_some() {
            // Already validated while it streamed: a validating walk has nothing to add.
            return if visitor.wants_content() {
                Err(self.not_held())
            } else {
                Ok(0)
            };
        }
        let mut c = self.cursor();
        value::walk_in(
            &mut c,
            self.ty,
            Some(&mut Walk {
                v: visitor,
                s: scratch,
                deep,
            }),
            self.templates,
        )?;
        Ok(c.pos())
    }

    /// For strings: the stored string (raw, integer or LZF).
    pub fn string(&self) -> Option<RdbString<'r>> {
        if self.ty != Type::String {
            return None;
        }
        read_string(&mut self.cursor(), "string value").ok()
    }

    /// For the single-blob encodings (ziplist, listpack, intset, zipmap): the stored blob.
    /// Build a view with e.g. `Listpack::new(blob.bytes_in(&mut buf, value.offset())?)`.
    pub fn blob(&self) -> Option<RdbString<'r>> {
        let mut c = self.cursor();
        match self.ty {
            Type::HashZipmap
            | Type::ListZiplist
            | Type::SetIntset
            | Type::ZsetZiplist
            | Type::HashZiplist
            | Type::HashListpack
            | Type::ZsetListpack
            | Type::SetListpack
            | Type::HashListpackExPreGa => read_string(&mut c, "blob").ok(),
            Type::HashListpackEx => {
                c.i64_le("min-expire").ok()?;
                read_string(&mut c, "blob").ok()
            }
            _ => None,
        }
    }

    /// A zero-copy view of a string or single-blob value: borrowed from the file when stored
    /// plainly, from `buf` when LZF-compressed (or an integer rendered as text). Multi-part
    /// values (quicklists, plain collections, streams, modules) give [`View::Other`]: use
    /// [`visit`](Self::visit), [`quicklist_nodes`](Self::quicklist_nodes) or
    /// [`module`](Self::module).
    pub fn view<'c>(&self, buf: &'c mut Vec<u8>) -> Result<View<'c>>
    where
        'r: 'c,
    {
        if self.streamed.is_some() {
            return Err(self.not_held());
        }
        let err = |e| Error::blob(e, self.offset, false);
        if let Some(s) = self.string() {
            return Ok(View::String(s.bytes_in(buf, self.offset)?));
        }
        let Some(blob) = self.blob() else {
            return Ok(View::Other);
        };
        let bytes = blob.bytes_in(buf, self.offset)?;
        Ok(match self.ty {
            Type::SetIntset => View::Intset(crate::intset::Intset::new(bytes).map_err(err)?),
            Type::HashZipmap => View::Zipmap(crate::zipmap::Zipmap::new(bytes).map_err(err)?),
            Type::ListZiplist | Type::ZsetZiplist | Type::HashZiplist => {
                View::Ziplist(crate::ziplist::Ziplist::new(bytes).map_err(err)?)
            }
            _ => View::Listpack(crate::listpack::Listpack::new(bytes).map_err(err)?),
        })
    }

    /// For quicklists: the nodes, undecoded.
    pub fn quicklist_nodes(&self) -> Option<Result<crate::quicklist::Nodes<'r>>> {
        match self.ty {
            Type::ListQuicklist => Some(crate::quicklist::Nodes::new(self.cursor(), false)),
            Type::ListQuicklist2 => Some(crate::quicklist::Nodes::new(self.cursor(), true)),
            _ => None,
        }
    }

    /// For module values: the module id and its payload.
    pub fn module(&self) -> Option<(ModuleId, ModulePayload<'r>)> {
        if self.ty != Type::Module2 {
            return None;
        }
        let mut c = self.cursor();
        let id = ModuleId {
            id: read_len(&mut c, "module id").ok()?,
        };
        let p = c.pos();
        Some((
            id,
            ModulePayload {
                data: self.data.get(p..)?,
                offset: self.offset + p as u64,
            },
        ))
    }

    /// `OBJECT ENCODING` as the writing server would have reported it.
    pub fn encoding(&self) -> &'static str {
        if self.streamed.is_some() {
            // Far longer than an embstr; an integer is never streamed.
            return "raw";
        }
        match self.ty {
            Type::String => match self.string() {
                Some(RdbString::Int(_)) => "int",
                Some(RdbString::Raw(b)) if crate::entry::parse_canonical_i64(b).is_some() => "int",
                Some(s) if s.len() <= 44 => "embstr",
                _ => "raw",
            },
            Type::ListLinked => "linkedlist",
            Type::ListZiplist => "ziplist",
            Type::ListQuicklist => "quicklist",
            Type::ListQuicklist2 => {
                // 7.2+ saves a listpack-encoded list as a single PACKED node.
                let single_packed = self.dialect.version >= 11 && {
                    let mut c = self.cursor();
                    matches!(read_len(&mut c, "n"), Ok(1)) && matches!(read_len(&mut c, "c"), Ok(2))
                };
                if single_packed {
                    "listpack"
                } else {
                    "quicklist"
                }
            }
            Type::Set | Type::ZsetText | Type::Zset2 => {
                if self.ty == Type::Set {
                    "hashtable"
                } else {
                    "skiplist"
                }
            }
            Type::SetIntset => "intset",
            Type::SetListpack | Type::ZsetListpack | Type::HashListpack => "listpack",
            Type::ZsetZiplist | Type::HashZiplist => "ziplist",
            Type::HashZipmap => "zipmap",
            Type::Hash | Type::HashMetadata | Type::HashMetadataPreGa | Type::ValkeyHash2 => {
                "hashtable"
            }
            Type::HashListpackEx | Type::HashListpackExPreGa => "listpackex",
            // OBJECT ENCODING of Redis 8.10's template hashes.
            Type::HashTmplLp | Type::HashTmplLpRef => "template-listpack",
            Type::HashTmplArray | Type::HashTmplArrayRef => "template-array",
            Type::StreamListpacks
            | Type::StreamListpacks2
            | Type::StreamListpacks3
            | Type::StreamListpacks4
            | Type::StreamListpacks5 => "stream",
            Type::Array => "array",
            Type::Module2 | Type::ModulePreGa => "raw",
        }
    }

    /// True for the sorted-set encodings whose members are not stored in rank order
    /// (hash-table order in type 3, highest score first in type 5).
    pub fn zset_needs_sort(&self) -> bool {
        matches!(self.ty, Type::ZsetText | Type::Zset2)
    }
}

/// See [`Value::view`].
#[derive(Clone, Copy, Debug)]
pub enum View<'c> {
    String(&'c [u8]),
    Intset(crate::intset::Intset<'c>),
    /// Listpack sets, zsets (member, score), hashes (field, value[, ttl]).
    Listpack(crate::listpack::Listpack<'c>),
    Ziplist(crate::ziplist::Ziplist<'c>),
    Zipmap(crate::zipmap::Zipmap<'c>),
    Other,
}

/// Key attributes waiting for their key.
#[derive(Clone, Copy, Debug, Default)]
struct Attrs {
    expire_ms: Option<i64>,
    lru_idle: Option<u64>,
    lfu_freq: Option<u8>,
    first_offset: Option<u64>,
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
    opts: Options,
    enterprise: bool,
    header: Option<Header>,
    /// The header's dialect, one entry per type-position byte.
    table: Box<[Lookup; 256]>,
    db: Option<u64>,
    attrs: Attrs,
    done: bool,
    key_buf: Vec<u8>,
    scratch: Scratch,
    /// Hash templates (opcode 242) read so far.
    templates: HashTemplates,
    /// File offset of the current unit, for errors.
    unit_at: u64,
    /// Set by [`RdbParser::next`] for one `build`: leave this key's value to the caller's
    /// deep validation (see [`RdbParser::defer_values`]).
    skip_value_deep: bool,
    /// Deep validation: the keys seen so far, to refuse a key stored twice in one db.
    keys: Option<crate::dups::KeySet>,
    /// The source cannot be re-read to confirm a duplicate candidate (a stream).
    keys_exact: bool,
    /// Most keys a RESIZEDB hint may size the key set for (what the input can hold).
    keys_hint_cap: u64,
    /// The caller looks for duplicate keys itself ([`crate::parallel`], in batches).
    keys_elsewhere: bool,
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
            enterprise: false,
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

    pub(crate) fn set_enterprise(&mut self, yes: bool) {
        self.enterprise = yes;
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
                value::walk_in::<NoVisitor>(c, t, None, Some(&self.templates))
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
                if !self.enterprise {
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
                    let r = value::walk_module_payload(
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

/// Looks for a key record of `key` in `db` that starts before `before` in `data` (an RDB from
/// its header): the byte-for-byte confirmation of a duplicate-key candidate.
pub(crate) fn find_earlier_key(
    data: &[u8],
    opts: Options,
    enterprise: bool,
    db: u64,
    key: &[u8],
    before: u64,
) -> Confirm {
    let opts = Options {
        deep: false,
        verify_checksum: false,
        ..opts
    };
    let mut p = RdbParser::new(data, opts).enterprise_opcodes(enterprise);
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

    /// Accept Redis Enterprise opcodes 107 (RAM_LRU) and 121 (SLOT_NUM) instead of failing.
    pub fn enterprise_opcodes(mut self, yes: bool) -> Self {
        self.core.enterprise = yes;
        self
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
            let _ = tx.send((end, crate::crc64::crc64(&data[..end])));
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

    /// The next record with the data's lifetime (see [`crate::Records`]).
    pub(crate) fn next_item(&mut self) -> Option<Result<crate::records::Item<'a>>> {
        match self.step()? {
            Err(e) => Some(Err(e)),
            Ok(Step::Fast(k)) => Some(Ok(crate::records::Item::Key(k.into()))),
            Ok(Step::Unit(unit)) => {
                let saved = crate::records::Saved::of(&unit);
                Some(self.finish(unit).and_then(|r| saved.into_item(r)))
            }
        }
    }

    /// Everything of `next` before the record is built: the next unit that makes a record.
    fn step(&mut self) -> Option<Result<Step<'a>>> {
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
    fn finish(&mut self, unit: Unit<'a>) -> Result<Record<'_>> {
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
        let (opts, enterprise) = (self.core.opts, self.core.enterprise);
        let crc_ahead = &mut self.crc_ahead;
        let confirm =
            move |db, key: &[u8], before| find_earlier_key(data, opts, enterprise, db, key, before);
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

/// Counts what [`Value::len`] counts, for the encodings it has to walk.
struct Counter(u64);

impl Visitor for Counter {
    fn element(&mut self, _: crate::Entry<'_>) -> value::VisitResult {
        self.0 += 1;
        Ok(())
    }
    fn zset_member(&mut self, _: crate::Entry<'_>, _: f64) -> value::VisitResult {
        self.0 += 1;
        Ok(())
    }
    fn hash_field(
        &mut self,
        _: crate::Entry<'_>,
        _: crate::Entry<'_>,
        _: Option<i64>,
    ) -> value::VisitResult {
        self.0 += 1;
        Ok(())
    }
    fn stream_meta(&mut self, meta: &crate::StreamMeta) -> value::VisitResult {
        self.0 = meta.length;
        value::stop()
    }
    fn array_begin(&mut self, count: u64, _: Option<u64>) -> value::VisitResult {
        self.0 = count;
        value::stop()
    }
}

/// What [`RdbParser::step`] found.
enum Step<'a> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::length::encode_len;
    use crate::string::encode_raw;

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
        let opts = Options {
            verify_checksum: false,
            ..Options::default()
        };
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
        let be = Options {
            best_effort: true,
            ..Options::default()
        };
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
        let mut p = RdbParser::new(&f, Options::default()).enterprise_opcodes(true);
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
        let mut p = RdbParser::new(
            &f,
            Options {
                deep: true,
                ..Options::default()
            },
        );
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
