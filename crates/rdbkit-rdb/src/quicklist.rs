//! Quicklists: type 14 (v1, 3.2-6.2: nodes are ziplists) and type 18 (v2, 7.0+: per node a
//! container tag, 1 = PLAIN (the node is one raw element), 2 = PACKED (a listpack)).

use crate::cursor::Cursor;
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::length::{read_count, read_len};
use crate::listpack::Listpack;
use crate::string::{read_string, RdbString};
use crate::visit::{blob_err, vis, Visitor, Walk};
use crate::ziplist::Ziplist;

/// `QUICKLIST_NODE_CONTAINER_PLAIN` / `_PACKED`.
pub const CONTAINER_PLAIN: u64 = 1;
/// A node that holds a ziplist (quicklist v1) or listpack (v2) of elements.
pub const CONTAINER_PACKED: u64 = 2;

/// One quicklist node as stored: its container and its (possibly LZF-compressed) bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node<'a> {
    /// `CONTAINER_PACKED` for v1 (ziplist) nodes too.
    pub container: u64,
    /// The node's blob (or, for a PLAIN node, the element itself).
    pub data: RdbString<'a>,
    /// File offset of the node's string.
    pub offset: u64,
}

/// Iterates the nodes of a quicklist without decoding them (a lazy view).
pub struct Nodes<'a> {
    c: Cursor<'a>,
    left: u64,
    v2: bool,
    failed: bool,
}

impl<'a> Nodes<'a> {
    /// `c` is at the node count.
    pub(crate) fn new(mut c: Cursor<'a>, v2: bool) -> Result<Self> {
        let left = read_count(&mut c, "quicklist node count", if v2 { 2 } else { 1 })?;
        Ok(Nodes {
            c,
            left,
            v2,
            failed: false,
        })
    }
}

impl<'a> Iterator for Nodes<'a> {
    type Item = Result<Node<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 || self.failed {
            return None;
        }
        self.left -= 1;
        let r = read_node(&mut self.c, self.v2);
        self.failed = r.is_err();
        Some(r)
    }
}

fn read_node<'a>(c: &mut Cursor<'a>, v2: bool) -> Result<Node<'a>> {
    let container = if v2 {
        let at = c.offset();
        let k = read_len(c, "quicklist container")?;
        if k != CONTAINER_PLAIN && k != CONTAINER_PACKED {
            return Err(Error::invalid(
                at,
                format!("quicklist node container {k} (expected 1 PLAIN or 2 PACKED)"),
            ));
        }
        k
    } else {
        CONTAINER_PACKED
    };
    let offset = c.offset();
    let data = read_string(c, "quicklist node")?;
    Ok(Node {
        container,
        data,
        offset,
    })
}

pub(crate) fn walk<V: Visitor + ?Sized>(
    c: &mut Cursor<'_>,
    v2: bool,
    w: Option<&mut Walk<'_, V>>,
) -> Result<()> {
    let n = read_count(c, "quicklist node count", if v2 { 2 } else { 1 })?;
    let Some(w) = w else {
        for _ in 0..n {
            read_node(c, v2)?;
        }
        return Ok(());
    };
    for _ in 0..n {
        let node = read_node(c, v2)?;
        let at = node.offset;
        if node.container == CONTAINER_PLAIN {
            let e = node.data.entry_in(&mut w.s.a, at)?;
            vis(w.v.element(e), at)?;
            continue;
        }
        if let RdbString::Int(_) = node.data {
            return Err(Error::invalid(
                at,
                "packed quicklist node is stored as an integer, not a blob",
            ));
        }
        let compressed = node.data.is_compressed();
        let bytes = node.data.bytes_in(&mut w.s.a, at)?;
        let err = blob_err(at, compressed);
        // Empty nodes are legal-but-skipped (Redis drops them on load); iteration yields nothing.
        if v2 {
            let lp = Listpack::new(bytes).map_err(&err)?;
            if w.deep && !w.v.wants_content() {
                // A check: one validating walk instead of `validate` and then `iter`.
                let mut it = lp.checked_iter();
                let r = 'walk: {
                    for e in it.by_ref() {
                        let e = match e {
                            Ok(e) => e,
                            Err(x) => break 'walk Err(err(x)),
                        };
                        if let Err(x) = vis(w.v.element(e), at) {
                            break 'walk Err(x);
                        }
                    }
                    Ok(())
                };
                crate::visit::finish_checked(r, it, &err, false, 1, at)?;
                continue;
            }
            if w.deep {
                lp.validate().map_err(&err)?;
            }
            for e in lp.iter() {
                let e: Entry<'_> = e.map_err(&err)?;
                vis(w.v.element(e), at)?;
            }
        } else {
            let zl = Ziplist::new(bytes).map_err(&err)?;
            // v1 nodes are ziplists, which Redis always validates while converting them.
            zl.validate().map_err(&err)?;
            for e in zl.iter() {
                vis(w.v.element(e.map_err(&err)?), at)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::visit::{NoVisitor, Scratch};

    #[test]
    fn nodes_view_and_malformed_container() {
        // 2 nodes: PLAIN "abc", PACKED (fake bytes; the view does not decode)
        let b = [2u8, 1, 3, b'a', b'b', b'c', 2, 1, 0xff];
        let nodes: Vec<_> = Nodes::new(Cursor::new(&b, 10), true)
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[0].data, RdbString::Raw(b"abc"));
        assert_eq!(nodes[0].offset, 12);
        assert_eq!(nodes[1].container, CONTAINER_PACKED);
        // container 3 is corruption
        let b = [1u8, 3, 1, b'a'];
        let e = walk::<NoVisitor>(&mut Cursor::new(&b, 0), true, None).unwrap_err();
        assert_eq!(e.offset, 1);
        // node count larger than the input could hold
        let b = [0x80u8, 0xff, 0, 0, 0];
        assert!(walk::<NoVisitor>(&mut Cursor::new(&b, 0), false, None).is_err());
        // a PLAIN node decodes as one element
        struct Collect(Vec<Vec<u8>>);
        impl Visitor for Collect {
            fn element(&mut self, e: Entry<'_>) -> crate::visit::VisitResult {
                self.0.push(e.to_cow().into_owned());
                Ok(())
            }
        }
        let b = [1u8, 1, 3, b'x', b'y', b'z'];
        let mut v = Collect(Vec::new());
        let mut s = Scratch::new();
        walk(
            &mut Cursor::new(&b, 0),
            true,
            Some(&mut Walk {
                v: &mut v,
                s: &mut s,
                deep: true,
            }),
        )
        .unwrap();
        assert_eq!(v.0, vec![b"xyz".to_vec()]);
    }
}
