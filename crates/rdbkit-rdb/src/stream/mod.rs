//! Streams (types 15, 19, 21, Redis 8.6's 26 and 8.8's 27): listpack nodes keyed by master
//! ID, then the stream metadata, consumer groups with their PEL, consumers and (v5) NACK
//! zone, and (v4+) the idempotent-producer (IDMP) trailer.
//!
//! The v5 NACK zone closes each group, after its consumers: len n, n × 16-byte big-endian
//! stream ID — group PEL entries that were negatively acknowledged and belong to no consumer
//! (redis/librdb `elementStreamLP`, `ST_LOAD_NACK_ZONE_*`).

pub mod node;

use std::collections::HashSet;

use crate::cursor::Cursor;
use crate::error::{Error, Result};
use crate::length::{read_count, read_len};
use crate::listpack::Listpack;
use crate::string::{read_string, RdbString};
use crate::visit::{blob_err, read_blob, vis, BlobRef, Visitor, Walk};
use node::StreamNode;

pub use crate::types::{GroupMeta, StreamId, StreamMeta};

/// A length in one of its plain forms (6-, 14-, 32- or 64-bit) at `d[*p..]`, read without
/// the general reader's `Result` (a stream's metadata is ~10 lengths, and a small stream's
/// record is little more: the general reader was ~45 instructions a length, callgrind).
/// `None` for an encoded-string marker, a bad prefix byte or a length cut short: the general
/// reader then reads it again and reports it.
#[inline(always)]
fn lean_len_at(d: &[u8], p: &mut usize) -> Option<u64> {
    let at = *p;
    let b = *d.get(at)?;
    let (n, used) = match b >> 6 {
        0 => (u64::from(b), 1),
        1 => ((u64::from(b & 0x3f) << 8) | u64::from(*d.get(at + 1)?), 2),
        _ => match b {
            0x80 => (
                u64::from(u32::from_be_bytes(d.get(at + 1..at + 5)?.try_into().ok()?)),
                5,
            ),
            0x81 => (
                u64::from_be_bytes(d.get(at + 1..at + 9)?.try_into().ok()?),
                9,
            ),
            _ => return None,
        },
    };
    *p = at + used;
    Some(n)
}

/// Moves `c` to `to` (a position at or after its own, inside its data, found by a lean read).
#[inline(always)]
fn advance_to(c: &mut Cursor<'_>, to: usize) -> Option<()> {
    c.fixed(to - c.pos(), "").ok().map(|_| ())
}

/// [`lean_len_at`] at the cursor; nothing consumed on `None`.
#[inline(always)]
fn lean_len(c: &mut Cursor<'_>) -> Option<u64> {
    let mut p = c.pos();
    let n = lean_len_at(c.data(), &mut p)?;
    advance_to(c, p)?;
    Some(n)
}

/// [`read_len`], its common forms inline (see [`lean_len_at`]); the same value or error.
#[inline(always)]
fn read_len_lean(c: &mut Cursor<'_>, what: &'static str) -> Result<u64> {
    match lean_len(c) {
        Some(n) => Ok(n),
        None => read_len(c, what),
    }
}

/// [`read_count`], its common forms inline (see [`lean_len_at`]); the same value or error.
#[inline(always)]
fn read_count_lean(c: &mut Cursor<'_>, what: &'static str, min_size: u64) -> Result<u64> {
    let at = c.offset();
    match lean_len(c) {
        Some(n) => {
            c.check_count(n, min_size, what, at)?;
            Ok(n)
        }
        None => read_count(c, what, min_size),
    }
}

/// A node's listpack string (plain, or LZF-compressed) as [`read_string`] reads it, without
/// its `Result` (the general reader of an LZF string was ~220 instructions, callgrind); `None`,
/// nothing consumed, for any other form or any damage, which the general reader then reports.
#[inline(always)]
fn lean_blob<'a>(c: &mut Cursor<'a>) -> Option<RdbString<'a>> {
    let d = c.data();
    let mut p = c.pos();
    let b = *d.get(p)?;
    let (n, len) = if b == 0xc0 | crate::length::ENC_LZF {
        p += 1;
        let clen = lean_len_at(d, &mut p)?;
        let len = lean_len_at(d, &mut p)?;
        if len == 0
            || len
                > clen
                    .saturating_mul(crate::string::LZF_MAX_RATIO)
                    .saturating_add(64)
            || len > usize::MAX as u64
        {
            return None;
        }
        (clen, Some(len as usize))
    } else if b < 0xc0 {
        (lean_len_at(d, &mut p)?, None)
    } else {
        return None;
    };
    if n > (d.len() - p) as u64 {
        return None;
    }
    let bytes = &d[p..p + n as usize];
    advance_to(c, p + n as usize)?;
    Some(match len {
        Some(len) => RdbString::Lzf {
            compressed: bytes,
            len,
        },
        None => RdbString::Raw(bytes),
    })
}

/// The stream metadata after the nodes (length, last ID and, from version 2, first ID, max
/// deleted ID, entries added) in one lean read; `None`, nothing consumed, when any of it is
/// not a plain length (the field-by-field reads then report it).
#[allow(clippy::type_complexity)]
#[inline(always)]
fn lean_meta(
    c: &mut Cursor<'_>,
    version: u8,
) -> Option<(u64, StreamId, Option<(StreamId, StreamId, u64)>)> {
    let d = c.data();
    let mut p = c.pos();
    let length = lean_len_at(d, &mut p)?;
    let id = |p: &mut usize| -> Option<StreamId> {
        let ms = lean_len_at(d, p)?;
        let seq = lean_len_at(d, p)?;
        Some(StreamId { ms, seq })
    };
    let last = id(&mut p)?;
    let v2 = if version >= 2 {
        let first = id(&mut p)?;
        let maxdel = id(&mut p)?;
        let added = lean_len_at(d, &mut p)?;
        Some((first, maxdel, added))
    } else {
        None
    };
    advance_to(c, p)?;
    Some((length, last, v2))
}

#[inline]
fn read_id_lens(c: &mut Cursor<'_>, what: &'static str) -> Result<StreamId> {
    let ms = read_len_lean(c, what)?;
    let seq = read_len_lean(c, what)?;
    Ok(StreamId { ms, seq })
}

fn raw_id(c: &mut Cursor<'_>, what: &'static str) -> Result<StreamId> {
    let b: [u8; 16] = c.array(what)?;
    Ok(StreamId::from_be_bytes(&b))
}

/// Reads a string as bytes (decompressing into `buf` when needed).
fn name_in<'c>(s: RdbString<'c>, buf: &'c mut Vec<u8>, at: u64) -> Result<&'c [u8]> {
    s.bytes_in(buf, at)
}

pub(crate) fn walk<V: Visitor + ?Sized>(
    c: &mut Cursor<'_>,
    version: u8,
    mut w: Option<&mut Walk<'_, V>>,
) -> Result<()> {
    let n_nodes = read_count_lean(c, "stream listpack count", 2)?;
    let deep = w.as_ref().is_some_and(|w| w.deep);
    let mut prev: Option<StreamId> = None;
    for _ in 0..n_nodes {
        let key_at = c.offset();
        let key = read_string(c, "stream node key")?;
        let key = match key {
            RdbString::Raw(k) if k.len() == 16 => k,
            _ => {
                return Err(Error::invalid(
                    key_at,
                    format!(
                        "stream node key is {} bytes, not a 16-byte stream ID",
                        key.len()
                    ),
                ))
            }
        };
        let Some(w) = w.as_deref_mut() else {
            if lean_blob(c).is_none() {
                read_string(c, "stream listpack")?;
            }
            continue;
        };
        let at = c.offset();
        let b = match lean_blob(c) {
            Some(s) => BlobRef {
                compressed: s.is_compressed(),
                bytes: s.bytes_in(&mut w.s.a, at)?,
                at,
            },
            None => match read_blob(c, "stream listpack", Some(&mut w.s.a))? {
                Some(b) => b,
                None => continue,
            },
        };
        let err = blob_err(b.at, b.compressed);
        let lp = Listpack::new(b.bytes).map_err(&err)?;
        // A deep walk reads and checks the node in one walk of its listpack; a node that
        // fails it is read again the usual way (master entry, then the check) for the error.
        let (node, checked) = match deep.then(|| StreamNode::new_checked(key, lp)).flatten() {
            Some((node, last)) => (node, Some(last)),
            None => {
                if lp.iter().next().is_none() {
                    return Err(Error::invalid(b.at, "empty listpack inside stream"));
                }
                (StreamNode::new(key, lp).map_err(&err)?, None)
            }
        };
        vis(w.v.stream_node(node.master_id(), b.bytes.len()), b.at)?;
        if deep {
            let last = match checked {
                Some(last) => last,
                None => node.check().map_err(&err)?,
            };
            if let Some(p) = prev {
                if node.master_id() <= p {
                    return Err(Error::invalid(
                        key_at,
                        format!("stream node {} is not after entry {p}", node.master_id()),
                    ));
                }
            }
            if !w.v.wants_content() {
                // A checked node's entries walk cleanly and follow `prev` (each is at or
                // above the master ID, which is above `prev`): the entry loop below would
                // only move `prev` to the last entry, for a visitor that ignores them.
                prev = last.or(prev);
                continue;
            }
        }
        for e in node.entries() {
            let e = e.map_err(&err)?;
            if deep {
                if let Some(p) = prev {
                    if e.id <= p {
                        return Err(Error::invalid(
                            b.at,
                            format!("stream entry {} is not after entry {p}", e.id),
                        ));
                    }
                }
                prev = Some(e.id);
            }
            if e.deleted {
                continue;
            }
            vis(w.v.stream_entry(e.id), b.at)?;
            for fv in e.fields() {
                let (f, v) = fv.map_err(&err)?;
                vis(w.v.stream_field(f, v), b.at)?;
            }
        }
    }
    let meta_at = c.offset();
    let (length, last_id, (first_id, max_deleted_id, entries_added)) = match lean_meta(c, version) {
        Some((length, last, v2)) => (
            length,
            last,
            match v2 {
                Some((first, maxdel, added)) => (Some(first), Some(maxdel), Some(added)),
                None => (None, None, None),
            },
        ),
        None => {
            let length = read_len_lean(c, "stream length")?;
            let last_id = read_id_lens(c, "stream last ID")?;
            let v2 = if version >= 2 {
                let first = read_id_lens(c, "stream first ID")?;
                let maxdel = read_id_lens(c, "stream max deleted ID")?;
                let added = read_len_lean(c, "stream entries added")?;
                (Some(first), Some(maxdel), Some(added))
            } else {
                (None, None, None)
            };
            (length, last_id, v2)
        }
    };
    if length > 0 && n_nodes == 0 {
        return Err(Error::invalid(
            meta_at,
            format!("stream length {length} but no listpack nodes"),
        ));
    }
    if let Some(w) = w.as_deref_mut() {
        let meta = StreamMeta {
            version,
            length,
            last_id,
            first_id,
            max_deleted_id,
            entries_added,
        };
        vis(w.v.stream_meta(&meta), meta_at)?;
    }
    let n_groups = read_count_lean(c, "stream consumer group count", 3)?;
    let mut group_names: HashSet<Vec<u8>> = HashSet::new();
    for _ in 0..n_groups {
        let name_at = c.offset();
        let name = read_string(c, "consumer group name")?;
        let last_delivered_id = read_id_lens(c, "consumer group last ID")?;
        let entries_read = if version >= 2 {
            Some(read_len_lean(c, "consumer group entries read")?)
        } else {
            None
        };
        // Group PEL: IDs the consumers' PELs must be found in.
        let mut pel: Option<HashSet<StreamId>> = None;
        if let Some(w) = w.as_deref_mut() {
            let name = name_in(name, &mut w.s.b, name_at)?;
            if deep && !group_names.insert(name.to_vec()) {
                return Err(Error::invalid(name_at, "duplicate consumer group name"));
            }
            vis(
                w.v.stream_group(&GroupMeta {
                    name,
                    last_delivered_id,
                    entries_read,
                }),
                name_at,
            )?;
            pel = Some(HashSet::new());
        }
        let pel_n = read_count_lean(c, "consumer group PEL size", 17)?;
        for _ in 0..pel_n {
            let at = c.offset();
            let id = raw_id(c, "PEL stream ID")?;
            let delivery_time = c.i64_le("PEL delivery time")?;
            let count = read_len_lean(c, "PEL delivery count")?;
            if let (Some(w), Some(pel)) = (w.as_deref_mut(), pel.as_mut()) {
                if !pel.insert(id) {
                    return Err(Error::invalid(
                        at,
                        format!("duplicate group PEL entry {id}"),
                    ));
                }
                vis(w.v.stream_pel(id, delivery_time, count), at)?;
            }
        }
        let n_consumers = read_count_lean(c, "consumer count", 10)?;
        let mut owned: HashSet<StreamId> = HashSet::new();
        let mut consumer_names: HashSet<Vec<u8>> = HashSet::new();
        for _ in 0..n_consumers {
            let cat = c.offset();
            let cname = read_string(c, "consumer name")?;
            let seen = c.i64_le("consumer seen time")?;
            let active = if version >= 3 {
                Some(c.i64_le("consumer active time")?)
            } else {
                None
            };
            if let Some(w) = w.as_deref_mut() {
                let cname = name_in(cname, &mut w.s.b, cat)?;
                if deep && !consumer_names.insert(cname.to_vec()) {
                    return Err(Error::invalid(cat, "duplicate stream consumer"));
                }
                vis(w.v.stream_consumer(cname, seen, active), cat)?;
            }
            let cpel = read_count_lean(c, "consumer PEL size", 16)?;
            for _ in 0..cpel {
                let at = c.offset();
                let id = raw_id(c, "consumer PEL stream ID")?;
                if let (Some(w), Some(pel)) = (w.as_deref_mut(), pel.as_ref()) {
                    if !pel.contains(&id) {
                        return Err(Error::invalid(
                            at,
                            format!("consumer PEL entry {id} not found in the group PEL"),
                        ));
                    }
                    if !owned.insert(id) {
                        return Err(Error::invalid(
                            at,
                            format!("PEL entry {id} owned by two consumers"),
                        ));
                    }
                    vis(w.v.stream_consumer_pel(id), at)?;
                }
            }
        }
        let mut nacked: HashSet<StreamId> = HashSet::new();
        if version >= 5 {
            let n = read_count_lean(c, "consumer group NACK count", 16)?;
            for _ in 0..n {
                let at = c.offset();
                let id = raw_id(c, "NACKed stream ID")?;
                if let (Some(w), Some(pel)) = (w.as_deref_mut(), pel.as_ref()) {
                    if !pel.contains(&id) {
                        return Err(Error::invalid(
                            at,
                            format!("NACKed entry {id} not found in the group PEL"),
                        ));
                    }
                    if deep && owned.contains(&id) {
                        return Err(Error::invalid(
                            at,
                            format!("NACKed entry {id} is owned by a consumer"),
                        ));
                    }
                    if deep && !nacked.insert(id) {
                        return Err(Error::invalid(at, format!("duplicate NACKed entry {id}")));
                    }
                    vis(w.v.stream_nacked(id), at)?;
                }
            }
        }
        if deep {
            if let Some(pel) = &pel {
                // The smallest orphan (the first in a sorted PEL): a HashSet's iteration
                // order differs between runs, and the error must not. NACKed entries have
                // no consumer by design.
                if let Some(orphan) = pel
                    .iter()
                    .filter(|id| !owned.contains(id) && !nacked.contains(id))
                    .min()
                {
                    return Err(Error::invalid(
                        name_at,
                        format!("group PEL entry {orphan} has no consumer"),
                    ));
                }
            }
        }
        if let Some(w) = w.as_deref_mut() {
            vis(w.v.stream_group_end(), c.offset())?;
        }
    }
    if version >= 4 {
        skip_idmp(c)?;
    }
    Ok(())
}

/// Redis 8.6 IDMP trailer: duration, max entries, producers × (pid, iids × (iid, id)),
/// then iids_added and iids_duplicates.
fn skip_idmp(c: &mut Cursor<'_>) -> Result<()> {
    read_len_lean(c, "IDMP duration")?;
    read_len_lean(c, "IDMP max entries")?;
    let producers = read_count_lean(c, "IDMP producer count", 2)?;
    for _ in 0..producers {
        read_string(c, "IDMP producer id")?;
        let n = read_count_lean(c, "IDMP id count", 3)?;
        for _ in 0..n {
            read_string(c, "IDMP iid")?;
            read_id_lens(c, "IDMP stream ID")?;
        }
    }
    read_len_lean(c, "IDMP iids added")?;
    read_len_lean(c, "IDMP iids duplicates")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::visit::{NoVisitor, Scratch};

    /// An empty stream (no nodes) with one group whose consumer owns an ID the group PEL lacks.
    fn stream_bytes(version: u8, consumer_id: u64) -> Vec<u8> {
        let mut b = vec![0u8, 0, 5, 1]; // 0 nodes, length 0, last id 5-1
        if version >= 2 {
            b.extend_from_slice(&[0, 0, 0, 0, 2]);
        }
        b.push(1); // 1 group
        b.extend_from_slice(&[1, b'g', 5, 1]);
        if version >= 2 {
            b.extend_from_slice(&[0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
            // entries_read = -1
        }
        b.push(1); // PEL of one
        b.extend_from_slice(&id_bytes(5, 1));
        b.extend_from_slice(&7i64.to_le_bytes());
        b.push(1);
        b.push(1); // one consumer
        b.extend_from_slice(&[1, b'c']);
        b.extend_from_slice(&8i64.to_le_bytes());
        if version >= 3 {
            b.extend_from_slice(&9i64.to_le_bytes());
        }
        b.push(1);
        b.extend_from_slice(&id_bytes(5, consumer_id));
        b
    }

    fn id_bytes(ms: u64, seq: u64) -> [u8; 16] {
        let mut a = [0u8; 16];
        a[..8].copy_from_slice(&ms.to_be_bytes());
        a[8..].copy_from_slice(&seq.to_be_bytes());
        a
    }

    #[test]
    fn groups_pel_consumers() {
        for v in 1..=3 {
            let b = stream_bytes(v, 1);
            let mut c = Cursor::new(&b, 0);
            walk::<NoVisitor>(&mut c, v, None).unwrap();
            assert_eq!(c.remaining(), 0, "v{v}");
            let mut s = Scratch::new();
            let mut c = Cursor::new(&b, 0);
            walk(
                &mut c,
                v,
                Some(&mut Walk {
                    v: &mut NoVisitor,
                    s: &mut s,
                    deep: true,
                }),
            )
            .unwrap();
            assert_eq!(c.remaining(), 0);
        }
    }

    #[test]
    fn consumer_pel_must_be_in_group_pel() {
        let b = stream_bytes(3, 2);
        let mut s = Scratch::new();
        let e = walk(
            &mut Cursor::new(&b, 0),
            3,
            Some(&mut Walk {
                v: &mut NoVisitor,
                s: &mut s,
                deep: false,
            }),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not found in the group PEL"), "{e}");
        // truncated anywhere: an error, never a panic
        for cut in 0..b.len() {
            assert!(walk::<NoVisitor>(&mut Cursor::new(&b[..cut], 0), 3, None).is_err());
        }
    }

    /// One node with a live and a deleted entry, then a second node whose entry goes backwards.
    fn stream_with_nodes(second_ms: u64) -> Vec<u8> {
        let id = |ms, seq| StreamId { ms, seq };
        let kv = |k: &str, v: &str| vec![(k.as_bytes().to_vec(), v.as_bytes().to_vec())];
        let (k1, lp1) = node::encode_node(
            id(10, 0),
            &[
                (id(10, 0), false, kv("a", "1")),
                (id(11, 5), true, kv("a", "2")),
            ],
        );
        let (k2, lp2) =
            node::encode_node(id(second_ms, 0), &[(id(second_ms, 0), false, kv("b", "x"))]);
        let mut b = vec![2u8];
        for (k, lp) in [(k1, lp1), (k2, lp2)] {
            crate::string::encode_raw(&k, &mut b);
            crate::string::encode_raw(&lp, &mut b);
        }
        b.extend_from_slice(&[2, 20, 0, 0]); // length 2, last id 20-0, 0 groups
        b
    }

    #[test]
    fn entries_skip_deleted_and_order_is_checked_when_deep() {
        #[derive(Default)]
        struct Ids(Vec<String>);
        impl Visitor for Ids {
            fn stream_entry(&mut self, id: StreamId) -> crate::visit::VisitResult {
                self.0.push(id.to_string());
                Ok(())
            }
            fn stream_field(
                &mut self,
                f: crate::Entry<'_>,
                v: crate::Entry<'_>,
            ) -> crate::visit::VisitResult {
                self.0.push(format!("{:?}={:?}", f.to_cow(), v.to_cow()));
                Ok(())
            }
        }
        let b = stream_with_nodes(20);
        let mut ids = Ids::default();
        let mut s = Scratch::new();
        let mut c = Cursor::new(&b, 0);
        walk(
            &mut c,
            1,
            Some(&mut Walk {
                v: &mut ids,
                s: &mut s,
                deep: true,
            }),
        )
        .unwrap();
        assert_eq!(c.remaining(), 0);
        assert_eq!(ids.0, vec!["10-0", "[97]=[49]", "20-0", "[98]=[120]"]);
        // skipping finds the same end
        let mut c2 = Cursor::new(&b, 0);
        walk::<NoVisitor>(&mut c2, 1, None).unwrap();
        assert_eq!(c2.pos(), c.pos());
        // second node before the first one's entries: fine without deep, refused with it
        let b = stream_with_nodes(5);
        let w = |deep| {
            walk(
                &mut Cursor::new(&b, 0),
                1,
                Some(&mut Walk {
                    v: &mut NoVisitor,
                    s: &mut Scratch::new(),
                    deep,
                }),
            )
        };
        assert!(w(false).is_ok());
        assert!(w(true).unwrap_err().to_string().contains("not after"));
    }

    #[test]
    fn node_key_must_be_16_bytes() {
        let b = [1u8, 3, 1, 2, 3, 1, 0];
        assert!(walk::<NoVisitor>(&mut Cursor::new(&b, 0), 1, None).is_err());
    }
}
