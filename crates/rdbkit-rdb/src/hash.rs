//! Hashes whose fields carry TTLs, stored field by field (the listpack forms go through the
//! generic listpack path): Redis 24 `HASH_METADATA` (min-expire, then relative ttl before each
//! field), Redis 22 `HASH_METADATA_PRE_GA` (absolute ttl before each field), and Valkey 22
//! `HASH_2` (absolute int64 expiry after each value, -1 = none). The same type byte 22 means
//! the pre-GA Redis layout or Valkey's; the caller picks by dialect.

use crate::cursor::Cursor;
use crate::error::{Error, Result};
use crate::length::{read_count, read_len};
use crate::string::read_string;
use crate::version::Type;
use crate::visit::{vis, Dups, Visitor, Walk};

/// `EB_EXPIRE_TIME_MAX`: field expiries must fit 48 bits.
pub const EXPIRE_TIME_MAX: i64 = (1 << 48) - 1;

pub(crate) fn walk_fields<V: Visitor + ?Sized>(
    c: &mut Cursor<'_>,
    t: Type,
    w: Option<&mut Walk<'_, V>>,
) -> Result<()> {
    let min_expire = if t == Type::HashMetadata {
        let at = c.offset();
        let m = c.u64_le("hash min-expire")?;
        // EB_EXPIRE_TIME_INVALID = 2^48 marks "no field has a TTL"
        if m > 1 << 48 {
            return Err(Error::invalid(
                at,
                format!("hash min-expire {m} is out of range"),
            ));
        }
        m
    } else {
        0
    };
    let n = read_count(c, "hash size", 2)?;
    let mut dups = Dups::new(w.as_ref().is_some_and(|w| w.deep)).in_base(c.data());
    let mut w = w;
    for _ in 0..n {
        let at = c.offset();
        let ttl_before = if t == Type::ValkeyHash2 {
            None
        } else {
            Some(read_len(c, "hash field TTL")?)
        };
        let fat = c.offset();
        let f = read_string(c, "hash field")?;
        let vat = c.offset();
        let v = read_string(c, "hash value")?;
        let expire = match ttl_before {
            Some(0) => None,
            Some(ttl) if t == Type::HashMetadata => {
                Some(ttl.wrapping_add(min_expire).wrapping_sub(1))
            }
            Some(ttl) => Some(ttl),
            None => {
                let eat = c.offset();
                match c.i64_le("hash field expiry")? {
                    -1 => None,
                    e if e < -1 => {
                        return Err(Error::invalid(
                            eat,
                            format!("hash field expiry {e} is invalid"),
                        ))
                    }
                    e => Some(e as u64),
                }
            }
        };
        if let Some(e) = expire {
            if e > EXPIRE_TIME_MAX as u64 && t != Type::ValkeyHash2 {
                return Err(Error::invalid(
                    at,
                    format!("hash field expire time {e} is out of range"),
                ));
            }
        }
        if let Some(w) = w.as_deref_mut() {
            let f = f.entry_in(&mut w.s.a, fat)?;
            let v = v.entry_in(&mut w.s.b, vat)?;
            dups.check(f, "hash field", fat)?;
            vis(w.v.hash_field(f, v, expire.map(|e| e as i64)), fat)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Entry;
    use crate::visit::{NoVisitor, Scratch, VisitResult};

    type Triplet = (Vec<u8>, Vec<u8>, Option<i64>);

    #[derive(Default)]
    struct Fields(Vec<Triplet>);
    impl Visitor for Fields {
        fn hash_field(&mut self, f: Entry<'_>, v: Entry<'_>, ttl: Option<i64>) -> VisitResult {
            self.0
                .push((f.to_cow().into_owned(), v.to_cow().into_owned(), ttl));
            Ok(())
        }
    }

    fn run(t: Type, b: &[u8], deep: bool) -> Result<Vec<Triplet>> {
        let mut v = Fields::default();
        let mut s = Scratch::new();
        let mut c = Cursor::new(b, 0);
        walk_fields(
            &mut c,
            t,
            Some(&mut Walk {
                v: &mut v,
                s: &mut s,
                deep,
            }),
        )?;
        // skipping lands on the same end
        let mut c2 = Cursor::new(b, 0);
        walk_fields::<NoVisitor>(&mut c2, t, None)?;
        assert_eq!(c.pos(), c2.pos());
        Ok(v.0)
    }

    #[test]
    fn redis_24_relative_ttl_before_field() {
        let mut b = 1000u64.to_le_bytes().to_vec();
        b.extend_from_slice(&[2, 1, 1, b'a', 1, b'1', 0, 1, b'b', 1, b'2']);
        let got = run(Type::HashMetadata, &b, true).unwrap();
        assert_eq!(got[0], (b"a".to_vec(), b"1".to_vec(), Some(1000)));
        assert_eq!(got[1], (b"b".to_vec(), b"2".to_vec(), None));
    }

    #[test]
    fn valkey_hash2_absolute_after_value() {
        let mut b = vec![2, 1, b'a', 1, b'1'];
        b.extend_from_slice(&5000i64.to_le_bytes());
        b.extend_from_slice(&[1, b'b', 1, b'2']);
        b.extend_from_slice(&(-1i64).to_le_bytes());
        let got = run(Type::ValkeyHash2, &b, true).unwrap();
        assert_eq!(got[0].2, Some(5000));
        assert_eq!(got[1].2, None);
        // -2 is refused
        let mut b = vec![1, 1, b'a', 1, b'1'];
        b.extend_from_slice(&(-2i64).to_le_bytes());
        assert!(run(Type::ValkeyHash2, &b, false).is_err());
    }

    #[test]
    fn malformed() {
        // pre-GA: absolute TTL beyond 48 bits
        let mut b = vec![1, 0x81];
        b.extend_from_slice(&(1u64 << 50).to_be_bytes());
        b.extend_from_slice(&[1, b'a', 1, b'1']);
        assert!(run(Type::HashMetadataPreGa, &b, false).is_err());
        // duplicate field under deep validation only
        let b = [2, 0, 1, b'a', 1, b'1', 0, 1, b'a', 1, b'2'];
        assert!(run(Type::HashMetadataPreGa, &b, false).is_ok());
        assert!(run(Type::HashMetadataPreGa, &b, true).is_err());
        // truncated
        assert!(run(Type::HashMetadataPreGa, &b[..6], false).is_err());
    }
}
