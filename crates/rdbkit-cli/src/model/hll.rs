//! HyperLogLog commands. The server writes PFADD/PFMERGE/PFCOUNT/PFDEBUG verbatim; the
//! resulting string is Redis's sparse or dense HLL layout, which this replay does not rebuild
//! yet: the key becomes value-unknown (its type, a string, is known).

use super::replay::{Cmd, Flow, Replayer, R};

/// PFADD key element... / PFMERGE dst src... / PFCOUNT key... (updates the cached
/// cardinality) / PFDEBUG TODENSE key
pub fn pf(rp: &mut Replayer, c: &Cmd) -> R {
    if c.name == "PFCOUNT" {
        // PFCOUNT only rewrites the cached cardinality of keys that already exist.
        let exists = c.a.iter().any(|k| rp.db().contains_key(*k));
        if !exists {
            return Ok(());
        }
    }
    Err(Flow::Unknown(format!(
        "{} builds a HyperLogLog string, which this replay does not reproduce",
        c.name
    )))
}
