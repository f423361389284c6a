//! Redis 8.10 (RDB 15) template hashes: hashes whose field names are stored once, in a
//! template, and whose keys store only the values.
//!
//! * Opcode 242 `HASH_TEMPLATE` (top level, before the keys that use it): len id, len n
//!   (> 0), n × string field name, strictly ascending by (length, bytes) — Redis's
//!   `sdscmplen` order.
//! * Type 30 `HASH_TMPL_LP_REF`: one string = a listpack whose first entry is the template id
//!   (an integer) followed by one value per template field.
//! * Type 32 `HASH_TMPL_ARRAY_REF`: len id, then one string per template field.
//! * Types 29 `HASH_TMPL_LP` / 31 `HASH_TMPL_ARRAY` (what DUMP writes; Redis loads them from a
//!   file too): len fields_fmt — 0: one string = a listpack of field names, 1: len n + n
//!   strings — then the values as in 30 (listpack with a leading id entry, the id ignored) or
//!   32 (n strings).
//!
//! The REF forms cannot be read without the registry the 242 records built, so the walkers
//! take it as an argument.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::cursor::Cursor;
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::length::{read_count, read_len};
use crate::listpack::Listpack;
use crate::string::{read_string, RdbString};
use crate::version::Type;
use crate::visit::{blob_err, read_blob, vis, Visitor, Walk};

/// The field names of one template, in order.
pub type TemplateFields = [Box<[u8]>];

/// Templates read so far, by id (filled by opcode 242 records as the file is read).
#[derive(Clone, Debug, Default)]
pub struct HashTemplates {
    map: HashMap<u64, Box<TemplateFields>>,
}

impl HashTemplates {
    /// No templates yet.
    pub fn new() -> Self {
        Self::default()
    }
    /// The fields of template `id`.
    pub fn get(&self, id: u64) -> Option<&TemplateFields> {
        self.map.get(&id).map(|f| &**f)
    }
    /// Templates registered.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    /// Whether no template is registered.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    pub(crate) fn contains(&self, id: u64) -> bool {
        self.map.contains_key(&id)
    }
    pub(crate) fn insert(&mut self, id: u64, fields: Box<TemplateFields>) {
        self.map.insert(id, fields);
    }
}

/// Redis's template order (`sdscmplen`): shorter first, then bytes.
fn in_order(prev: &[u8], next: &[u8]) -> bool {
    (prev.len(), prev) < (next.len(), next)
}

fn check_order(prev: Option<&[u8]>, next: &[u8], at: u64) -> Result<()> {
    match prev {
        Some(p) if !in_order(p, next) => Err(Error::invalid(
            at,
            format!(
                "hash template fields not strictly sorted: {:?} after {:?}",
                String::from_utf8_lossy(next),
                String::from_utf8_lossy(p)
            ),
        )),
        _ => Ok(()),
    }
}

/// Reads the body of a `HASH_TEMPLATE` record (after the opcode byte). `known` is the registry
/// so far: an id seen before is an error, as in Redis's loader.
pub(crate) fn read_record(
    c: &mut Cursor<'_>,
    known: &HashTemplates,
) -> Result<(u64, Box<TemplateFields>)> {
    let id_at = c.offset();
    let id = read_len(c, "hash template id")?;
    if known.contains(id) {
        return Err(Error::invalid(
            id_at,
            format!("duplicate hash template id {id}"),
        ));
    }
    let n_at = c.offset();
    let n = read_count(c, "hash template field count", 1)?;
    if n == 0 {
        return Err(Error::invalid(
            n_at,
            format!("hash template {id} has zero fields"),
        ));
    }
    let mut fields: Vec<Box<[u8]>> = Vec::with_capacity(n.min(1024) as usize);
    for _ in 0..n {
        let at = c.offset();
        let f = read_string(c, "hash template field")?.to_cow(at)?;
        check_order(fields.last().map(|f| &**f), &f, at)?;
        fields.push(f.into_owned().into_boxed_slice());
    }
    Ok((id, fields.into_boxed_slice()))
}

/// Where a values listpack was (for its errors).
struct At {
    at: u64,
    compressed: bool,
}

/// The values listpack of types 29 and 30, read (decompressed into `buf` when LZF) and, when
/// `deep`, validated. `None`: see `read_blob`.
fn values_listpack<'a, 'c>(
    c: &mut Cursor<'a>,
    buf: &'c mut Vec<u8>,
    deep: bool,
) -> Result<Option<(Listpack<'c>, At)>>
where
    'a: 'c,
{
    let Some(b) = read_blob(c, "template hash listpack", Some(buf))? else {
        return Ok(None);
    };
    let err = blob_err(b.at, b.compressed);
    let lp = Listpack::new(b.bytes).map_err(&err)?;
    if deep {
        lp.validate().map_err(&err)?;
    }
    Ok(Some((
        lp,
        At {
            at: b.at,
            compressed: b.compressed,
        },
    )))
}

/// Walks a value of types 29..=32. `reg` is the registry (needed to skip type 32 and to
/// decode 30 and 32).
pub(crate) fn walk<V: Visitor + ?Sized>(
    c: &mut Cursor<'_>,
    t: Type,
    w: Option<&mut Walk<'_, V>>,
    reg: Option<&HashTemplates>,
) -> Result<()> {
    match t {
        Type::HashTmplLpRef => {
            let Some(w) = w else {
                return read_string(c, "template hash listpack").map(|_| ());
            };
            let Some((lp, b)) = values_listpack(c, &mut w.s.a, w.deep)? else {
                return Ok(());
            };
            let err = blob_err(b.at, b.compressed);
            let mut it = lp.iter();
            let id = match it.next().transpose().map_err(&err)? {
                Some(Entry::Int(id)) if id >= 0 => id as u64,
                Some(_) => {
                    return Err(Error::invalid(
                        b.at,
                        "template hash listpack: the first entry (template id) is not a non-negative integer",
                    ))
                }
                None => return Err(Error::invalid(b.at, "template hash listpack is empty")),
            };
            let fields = lookup(reg, id, b.at)?;
            emit_lp_values(
                it.map(|r| r.map_err(&err)),
                fields.iter().map(|f| &**f),
                fields.len(),
                &mut *w.v,
                b.at,
            )
        }
        Type::HashTmplArrayRef => {
            let at = c.offset();
            let id = read_len(c, "hash template id")?;
            let fields = lookup(reg, id, at)?;
            c.check_count(fields.len() as u64, 1, "template hash values", at)?;
            match w {
                None => {
                    for _ in 0..fields.len() {
                        read_string(c, "template hash value")?;
                    }
                    Ok(())
                }
                Some(w) => {
                    for f in fields.iter() {
                        let vat = c.offset();
                        let v = read_string(c, "template hash value")?.entry_in(&mut w.s.a, vat)?;
                        vis(w.v.hash_field(Entry::Bytes(f), v, None), vat)?;
                    }
                    Ok(())
                }
            }
        }
        _ => walk_self_contained(c, t, w),
    }
}

fn lookup(reg: Option<&HashTemplates>, id: u64, at: u64) -> Result<&TemplateFields> {
    reg.and_then(|r| r.get(id)).ok_or_else(|| {
        Error::invalid(
            at,
            format!("template-encoded hash refers to hash template {id}, which no earlier HASH_TEMPLATE record defined"),
        )
    })
}

/// The values listpack of types 29/30 after its id entry: exactly one value per field.
fn emit_lp_values<'e, 'f, V: Visitor + ?Sized>(
    mut values: impl Iterator<Item = Result<Entry<'e>>>,
    fields: impl Iterator<Item = &'f [u8]>,
    n: usize,
    v: &mut V,
    at: u64,
) -> Result<()> {
    for (seen, f) in fields.enumerate() {
        let Some(val) = values.next().transpose()? else {
            return Err(Error::invalid(
                at,
                format!("template hash listpack has {seen} values for {n} template fields"),
            ));
        };
        vis(v.hash_field(Entry::Bytes(f), val, None), at)?;
    }
    let extra = values.count();
    if extra > 0 {
        return Err(Error::invalid(
            at,
            format!(
                "template hash listpack has {} values for {n} template fields",
                n + extra
            ),
        ));
    }
    Ok(())
}

/// Types 29 and 31: the template travels with the value.
fn walk_self_contained<V: Visitor + ?Sized>(
    c: &mut Cursor<'_>,
    t: Type,
    mut w: Option<&mut Walk<'_, V>>,
) -> Result<()> {
    let fmt_at = c.offset();
    let fmt = read_len(c, "hash template fields format")?;
    // Field names are needed to decode, and (format 0 + type 31) their count to skip.
    let need_names = w.is_some() || (fmt == 0 && t == Type::HashTmplArray);
    let mut names: Vec<Cow<'_, [u8]>> = Vec::new();
    let n: u64 = match fmt {
        0 => {
            let at = c.offset();
            let s = read_string(c, "hash template field listpack")?;
            if !need_names {
                0
            } else {
                let compressed = s.is_compressed();
                let bytes = blob_bytes(s, at)?;
                let err = blob_err(at, compressed);
                let lp = Listpack::new(&bytes).map_err(&err)?;
                if w.as_ref().is_some_and(|w| w.deep) {
                    lp.validate().map_err(&err)?;
                }
                for e in lp.iter() {
                    let f = e.map_err(&err)?.to_cow().into_owned();
                    check_order(names.last().map(|f| &**f), &f, at)?;
                    names.push(Cow::Owned(f));
                }
                if names.is_empty() {
                    return Err(Error::invalid(at, "hash template with zero fields"));
                }
                names.len() as u64
            }
        }
        1 => {
            let n_at = c.offset();
            let n = read_count(c, "hash template field count", 1)?;
            if n == 0 {
                return Err(Error::invalid(n_at, "hash template with zero fields"));
            }
            for _ in 0..n {
                let at = c.offset();
                let s = read_string(c, "hash template field")?;
                if need_names {
                    let f = s.to_cow(at)?;
                    check_order(names.last().map(|f| &**f), &f, at)?;
                    names.push(f);
                }
            }
            n
        }
        _ => {
            return Err(Error::invalid(
                fmt_at,
                format!("unknown hash template fields format {fmt} (expected 0 or 1)"),
            ))
        }
    };
    if t == Type::HashTmplLp {
        let Some(w) = w.as_deref_mut() else {
            return read_string(c, "template hash listpack").map(|_| ());
        };
        let Some((lp, b)) = values_listpack(c, &mut w.s.a, w.deep)? else {
            return Ok(());
        };
        let err = blob_err(b.at, b.compressed);
        let mut it = lp.iter();
        match it.next().transpose().map_err(&err)? {
            Some(Entry::Int(_)) => {}
            Some(_) => {
                return Err(Error::invalid(
                    b.at,
                    "template hash listpack: the first entry (template id) is not an integer",
                ))
            }
            None => return Err(Error::invalid(b.at, "template hash listpack is empty")),
        }
        return emit_lp_values(
            it.map(|r| r.map_err(&err)),
            names.iter().map(|f| &**f),
            names.len(),
            &mut *w.v,
            b.at,
        );
    }
    // HASH_TMPL_ARRAY: one string per field.
    let at = c.offset();
    c.check_count(n, 1, "template hash values", at)?;
    match w {
        None => {
            for _ in 0..n {
                read_string(c, "template hash value")?;
            }
        }
        Some(w) => {
            for f in &names {
                let vat = c.offset();
                let v = read_string(c, "template hash value")?.entry_in(&mut w.s.a, vat)?;
                vis(w.v.hash_field(Entry::Bytes(f), v, None), vat)?;
            }
        }
    }
    Ok(())
}

/// A blob's bytes, decompressed when needed (integers are not blobs).
fn blob_bytes<'a>(s: RdbString<'a>, at: u64) -> Result<Cow<'a, [u8]>> {
    if let RdbString::Int(_) = s {
        return Err(Error::invalid(
            at,
            "hash template field listpack is stored as an integer, not a blob",
        ));
    }
    s.to_cow(at)
}
