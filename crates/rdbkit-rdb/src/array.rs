//! Redis 8.8 (RDB 14) sparse arrays, type 28 `ARRAY`:
//!
//! ```text
//! len count (> 0)
//! len insert_idx_flag (0 or 1), [len insert_idx]       # the last ARINSERT position
//! count × ( len index,                                   # a plain length, never all-ones
//!           len tag,                                     # AR_RDB_TAG_*
//!           tag 0 SDS / 3 SMALLSTR: string
//!           tag 1 INT:   8-byte LE signed integer
//!           tag 2 FLOAT: 8-byte LE IEEE double )
//! ```

use crate::cursor::Cursor;
use crate::error::{Error, Result};
use crate::length::{read_count, read_len, read_len_or_enc, Len};
use crate::string::read_string;
use crate::types::ArrayValue;
use crate::visit::{vis, Visitor, Walk};

/// `AR_RDB_TAG_SDS`: a heap string.
pub const TAG_SDS: u64 = 0;
/// `AR_RDB_TAG_INT`: an integer, 8 bytes little-endian.
pub const TAG_INT: u64 = 1;
/// `AR_RDB_TAG_FLOAT`: a double, 8 bytes little-endian.
pub const TAG_FLOAT: u64 = 2;
/// `AR_RDB_TAG_SMALLSTR`: a short string (stored inline in memory; an RDB string on disk).
pub const TAG_SMALLSTR: u64 = 3;

pub(crate) fn walk<V: Visitor + ?Sized>(
    c: &mut Cursor<'_>,
    mut w: Option<&mut Walk<'_, V>>,
) -> Result<()> {
    let at = c.offset();
    // index, tag and payload: at least 3 bytes each
    let n = read_count(c, "array element count", 3)?;
    if n == 0 {
        return Err(Error::invalid(at, "array with zero elements"));
    }
    let flag_at = c.offset();
    let insert_idx = match read_len(c, "array insert index flag")? {
        0 => None,
        1 => Some(read_len(c, "array insert index")?),
        f => {
            return Err(Error::invalid(
                flag_at,
                format!("array insert index flag {f} (expected 0 or 1)"),
            ))
        }
    };
    let deep = w.as_ref().is_some_and(|w| w.deep);
    if let Some(w) = w.as_deref_mut() {
        vis(w.v.array_begin(n, insert_idx), at)?;
    }
    let mut prev: Option<u64> = None;
    for _ in 0..n {
        let at = c.offset();
        let idx = match read_len_or_enc(c)? {
            Len::Plain(i) if i != u64::MAX => i,
            Len::Plain(_) => return Err(Error::invalid(at, "array index 2^64-1 is out of range")),
            Len::Encoded(e) => {
                return Err(Error::invalid(
                    at,
                    format!("array index: expected a length, found string encoding marker {e}"),
                ))
            }
        };
        if deep {
            if let Some(p) = prev {
                if idx <= p {
                    return Err(Error::invalid(
                        at,
                        format!("array index {idx} is not after index {p}"),
                    ));
                }
            }
            prev = Some(idx);
        }
        let tag_at = c.offset();
        let tag = read_len(c, "array element tag")?;
        let vat = c.offset();
        match tag {
            TAG_INT => {
                let i = c.i64_le("array integer element")?;
                if let Some(w) = w.as_deref_mut() {
                    vis(w.v.array_element(idx, ArrayValue::Int(i)), vat)?;
                }
            }
            TAG_FLOAT => {
                let d = f64::from_le_bytes(c.array("array float element")?);
                if let Some(w) = w.as_deref_mut() {
                    vis(w.v.array_element(idx, ArrayValue::Float(d)), vat)?;
                }
            }
            TAG_SDS | TAG_SMALLSTR => {
                let s = read_string(c, "array string element")?;
                if let Some(w) = w.as_deref_mut() {
                    let e = s.entry_in(&mut w.s.a, vat)?;
                    vis(w.v.array_element(idx, ArrayValue::Str(e)), vat)?;
                }
            }
            _ => {
                return Err(Error::invalid(
                    tag_at,
                    format!("unknown array element tag {tag} (expected 0..=3)"),
                ))
            }
        }
    }
    Ok(())
}
