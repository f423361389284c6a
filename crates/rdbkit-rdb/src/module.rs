//! Module values (type 7 `MODULE_2`) and module AUX data: a 64-bit module id (9-character
//! type name + 10-bit encoding version), then the annotated opcode stream the module's
//! `rdb_save` produced (`RM_SaveUnsigned` & co.), ended by opcode 0.

use std::fmt;

use crate::cursor::Cursor;
use crate::error::{Error, ErrorKind, Result};
use crate::length::read_len;
use crate::string::{read_string, RdbString};

/// Module payload opcode: end of the payload.
pub const OP_EOF: u64 = 0;
/// Module payload opcode: a signed integer.
pub const OP_SINT: u64 = 1;
/// Module payload opcode: an unsigned integer.
pub const OP_UINT: u64 = 2;
/// Module payload opcode: a 32-bit float.
pub const OP_FLOAT: u64 = 3;
/// Module payload opcode: a 64-bit double.
pub const OP_DOUBLE: u64 = 4;
/// Module payload opcode: a string.
pub const OP_STRING: u64 = 5;

const CHARSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A module type id: name and encoding version.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModuleId {
    /// The 64-bit id: a 54-bit name (9 characters of 6 bits) and a 10-bit encoding version.
    pub id: u64,
}

impl ModuleId {
    /// The 9-character type name (`moduleTypeNameByID`).
    pub fn name(&self) -> [u8; 9] {
        let mut out = [0u8; 9];
        let mut id = self.id >> 10;
        for slot in out.iter_mut().rev() {
            *slot = CHARSET[(id & 63) as usize];
            id >>= 6;
        }
        out
    }

    /// The module type's 9-character name as text.
    pub fn name_str(&self) -> String {
        String::from_utf8_lossy(&self.name()).into_owned()
    }

    /// The encoding version (the low 10 bits).
    pub fn encver(&self) -> u64 {
        self.id & 1023
    }

    /// Builds an id from a 9-character name (for tests and fixtures).
    pub fn from_name(name: &[u8; 9], encver: u64) -> Option<ModuleId> {
        let mut id = 0u64;
        for &ch in name {
            let pos = CHARSET.iter().position(|&c| c == ch)? as u64;
            id = (id << 6) | pos;
        }
        Some(ModuleId {
            id: (id << 10) | (encver & 1023),
        })
    }
}

impl fmt::Debug for ModuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name_str(), self.encver())
    }
}

/// One typed item of a module payload.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ModuleItem<'a> {
    /// SINT: the signed value.
    Signed(i64),
    /// UINT (also what `RM_SaveSigned` writes in RDB ≥ 9 test modules).
    Unsigned(u64),
    /// FLOAT: a 32-bit float.
    Float(f32),
    /// DOUBLE: a 64-bit double.
    Double(f64),
    /// STRING: a string (possibly LZF-compressed).
    String(RdbString<'a>),
}

/// Reads the next item of an opcode stream, `None` at opcode 0 (EOF). Unknown opcodes are
/// corruption (Redis's check tool would read on through garbage; we stop).
pub fn next_item<'a>(c: &mut Cursor<'a>) -> Result<Option<(ModuleItem<'a>, u64)>> {
    let at = c.offset();
    let op = read_len(c, "module opcode")?;
    let item_at = c.offset();
    let item = match op {
        OP_EOF => return Ok(None),
        OP_SINT => ModuleItem::Signed(read_len(c, "module signed value")? as i64),
        OP_UINT => ModuleItem::Unsigned(read_len(c, "module unsigned value")?),
        OP_FLOAT => ModuleItem::Float(f32::from_le_bytes(c.array("module float")?)),
        OP_DOUBLE => ModuleItem::Double(f64::from_le_bytes(c.array("module double")?)),
        OP_STRING => ModuleItem::String(read_string(c, "module string")?),
        other => {
            return Err(Error::new(
                ErrorKind::InvalidValue(format!("unknown module opcode {other} (expected 0..=5)")),
                at,
            ))
        }
    };
    Ok(Some((item, item_at)))
}

/// Walks an opcode stream to its EOF, calling `f` per item.
pub fn walk<'a>(
    c: &mut Cursor<'a>,
    mut f: impl FnMut(ModuleItem<'a>, u64) -> Result<()>,
) -> Result<()> {
    while let Some((item, at)) = next_item(c)? {
        f(item, at)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for n in [
            b"ReJSON-RL",
            b"scdtype00",
            b"ft_index0",
            b"Vk-Search",
            b"hellotype",
        ] {
            let id = ModuleId::from_name(n, 3).unwrap();
            assert_eq!(&id.name(), n);
            assert_eq!(id.encver(), 3);
        }
    }

    #[test]
    fn walks_items_and_rejects_unknown_opcodes() {
        // UINT 7, SINT (two's complement of -1), FLOAT 1.5, DOUBLE 2.5, STRING "ab", EOF
        let mut b = vec![
            2, 7, 1, 0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 3,
        ];
        b.extend_from_slice(&1.5f32.to_le_bytes());
        b.push(4);
        b.extend_from_slice(&2.5f64.to_le_bytes());
        b.extend_from_slice(&[5, 2, b'a', b'b', 0]);
        let mut items = Vec::new();
        walk(&mut Cursor::new(&b, 0), |i, _| {
            items.push(i);
            Ok(())
        })
        .unwrap();
        assert_eq!(
            items,
            vec![
                ModuleItem::Unsigned(7),
                ModuleItem::Signed(-1),
                ModuleItem::Float(1.5),
                ModuleItem::Double(2.5),
                ModuleItem::String(RdbString::Raw(b"ab"))
            ]
        );
        let e = walk(&mut Cursor::new(&[2, 1, 9, 0], 0), |_, _| Ok(())).unwrap_err();
        assert_eq!(e.offset, 2);
        // missing EOF
        assert!(walk(&mut Cursor::new(&[2, 1], 0), |_, _| Ok(())).is_err());
        // double cut short
        assert!(walk(&mut Cursor::new(&[4, 0, 0], 0), |_, _| Ok(())).is_err());
    }
}
