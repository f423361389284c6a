//! A value as stored ([`Value`]): its type and bytes, located by walking lengths only. Nothing
//! is decoded until asked: [`Value::view`] (zero-copy views of compact blobs),
//! [`Value::visit`] (everything, through a [`Visitor`]), [`Value::len`] (the element count
//! from the encoding's header), [`Value::to_owned_value`](crate::Value::to_owned_value).

use crate::cursor::Cursor;
use crate::error::{Error, ErrorKind, Result};
use crate::length::read_len;
use crate::module::ModuleId;
use crate::string::{read_string, RdbString};
use crate::template::HashTemplates;
use crate::version::{Dialect, Type};
use crate::visit::{self, Scratch, Visitor, Walk};
use crate::walk;

/// A module AUX payload or module value payload, walked on demand.
#[derive(Clone, Copy, Debug)]
pub struct ModulePayload<'r> {
    /// The payload's bytes (after the module id for a value).
    pub data: &'r [u8],
    /// File offset of `data`.
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

/// A value as stored: its type and bytes. Nothing is decoded until asked.
#[derive(Clone, Copy, Debug)]
pub struct Value<'r> {
    /// The type (the encoding), as the header's dialect reads the type byte.
    pub ty: Type,
    /// The type byte as stored.
    pub type_byte: u8,
    /// The file's dialect (magic and version).
    pub dialect: Dialect,
    pub(crate) data: &'r [u8],
    pub(crate) offset: u64,
    /// The file's hash templates, for the template-encoded hash types.
    pub(crate) templates: Option<&'r HashTemplates>,
    /// A string value too big to hold that a stream passed through (see
    /// [`Value::streamed_len`]): `data` is empty.
    pub(crate) streamed: Option<Streamed>,
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
    ///
    /// ```
    /// use rdbkit_rdb::{Entry, Item, Options, RdbFile, VisitResult, Visitor};
    /// /// The first element of every list.
    /// struct First(Option<Vec<u8>>);
    /// impl Visitor for First {
    ///     fn element(&mut self, e: Entry<'_>) -> VisitResult {
    ///         self.0 = Some(e.to_cow().into_owned());
    ///         rdbkit_rdb::stop() // enough: end the walk, not an error
    ///     }
    /// }
    /// let file = RdbFile::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/rdb/sample.rdb"))?;
    /// let mut lists = 0;
    /// for rec in file.records(Options::default()) {
    ///     if let Item::Key(k) = rec? {
    ///         if k.value.family() == rdbkit_rdb::Family::List {
    ///             lists += 1;
    ///             let mut first = First(None);
    ///             k.value.walk(&mut first)?; // ControlFlow::Break after the first element
    ///             assert!(first.0.is_some());
    ///         }
    ///     }
    /// }
    /// assert!(lists > 0);
    /// # Ok::<(), rdbkit_rdb::Error>(())
    /// ```
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
        walk::walk_in(
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
#[non_exhaustive]
pub enum View<'c> {
    /// A string value: its bytes (decompressed, or an integer rendered as text).
    String(&'c [u8]),
    /// An intset (set of integers).
    Intset(crate::intset::Intset<'c>),
    /// Listpack sets, zsets (member, score), hashes (field, value[, ttl]).
    Listpack(crate::listpack::Listpack<'c>),
    /// A ziplist (lists, zsets and hashes written by Redis < 7.0).
    Ziplist(crate::ziplist::Ziplist<'c>),
    /// A zipmap (hashes written by Redis < 2.6).
    Zipmap(crate::zipmap::Zipmap<'c>),
    /// Any other encoding: use [`Value::visit`] or the type's accessor.
    Other,
}

/// Counts what [`Value::len`] counts, for the encodings it has to walk.
struct Counter(u64);

impl Visitor for Counter {
    fn element(&mut self, _: crate::Entry<'_>) -> visit::VisitResult {
        self.0 += 1;
        Ok(())
    }
    fn zset_member(&mut self, _: crate::Entry<'_>, _: f64) -> visit::VisitResult {
        self.0 += 1;
        Ok(())
    }
    fn hash_field(
        &mut self,
        _: crate::Entry<'_>,
        _: crate::Entry<'_>,
        _: Option<i64>,
    ) -> visit::VisitResult {
        self.0 += 1;
        Ok(())
    }
    fn stream_meta(&mut self, meta: &crate::StreamMeta) -> visit::VisitResult {
        self.0 = meta.length;
        visit::stop()
    }
    fn array_begin(&mut self, count: u64, _: Option<u64>) -> visit::VisitResult {
        self.0 = count;
        visit::stop()
    }
}
