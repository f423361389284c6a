//! Set commands.

use std::collections::BTreeMap;

use super::replay::{Cmd, Flow, Replayer, R};
use super::{Bytes, MValue};

type Set = BTreeMap<Bytes, ()>;

fn set<'r>(rp: &'r mut Replayer, key: &[u8]) -> Result<Option<&'r mut Set>, Flow> {
    Ok(rp.get_mut(key, "set")?.map(|k| match &mut k.value {
        MValue::Set(s) => s,
        _ => unreachable!("checked by get_mut"),
    }))
}

/// SADD key member...
pub fn sadd(rp: &mut Replayer, c: &Cmd) -> R {
    c.arg(1)?;
    let k = rp.get_or_create(c.arg(0)?, || MValue::Set(BTreeMap::new()))?;
    if let MValue::Set(s) = &mut k.value {
        for m in &c.a[1..] {
            s.insert(m.to_vec(), ());
        }
    }
    Ok(())
}

/// SREM key member...
pub fn srem(rp: &mut Replayer, c: &Cmd) -> R {
    let key = c.arg(0)?;
    if let Some(s) = set(rp, key)? {
        for m in &c.a[1..] {
            s.remove(*m);
        }
    }
    rp.drop_if_empty(key);
    Ok(())
}

/// SPOP key [count]: the server propagates the members it popped as SREM (3.2+); a verbatim
/// SPOP (older servers) picked them at random.
pub fn spop(rp: &mut Replayer, c: &Cmd) -> R {
    if set(rp, c.arg(0)?)?.is_none() {
        return Ok(());
    }
    Err(Flow::Unknown(
        "SPOP removes random members (servers since 3.2 propagate it as SREM)".into(),
    ))
}

/// SMOVE src dst member
pub fn smove(rp: &mut Replayer, c: &Cmd) -> R {
    let (src, dst, m) = (c.arg(0)?, c.arg(1)?, c.arg(2)?);
    set(rp, dst)?;
    let moved = match set(rp, src)? {
        Some(s) => s.remove(m).is_some(),
        None => false,
    };
    rp.drop_if_empty(src);
    if moved {
        let k = rp.get_or_create(dst, || MValue::Set(BTreeMap::new()))?;
        if let MValue::Set(s) = &mut k.value {
            s.insert(m.to_vec(), ());
        }
    }
    Ok(())
}

/// SINTERSTORE/SUNIONSTORE/SDIFFSTORE dst key...
pub fn sstore(rp: &mut Replayer, c: &Cmd) -> R {
    let dst = c.arg(0)?;
    c.arg(1)?;
    let mut sets: Vec<Option<Set>> = Vec::new();
    for k in &c.a[1..] {
        sets.push(set(rp, k)?.map(|s| s.clone()));
    }
    let out: Set = match c.name {
        "SINTERSTORE" => {
            if sets.iter().any(|s| s.is_none()) {
                Set::new()
            } else {
                let mut it = sets.into_iter().flatten();
                let first = it.next().unwrap_or_default();
                let rest: Vec<Set> = it.collect();
                first
                    .into_iter()
                    .filter(|(m, _)| rest.iter().all(|s| s.contains_key(m)))
                    .collect()
            }
        }
        "SUNIONSTORE" => sets.into_iter().flatten().flatten().collect(),
        _ => {
            let mut it = sets.into_iter();
            let mut first = it.next().flatten().unwrap_or_default();
            for s in it.flatten() {
                first.retain(|m, _| !s.contains_key(m));
            }
            first
        }
    };
    rp.db().remove(dst);
    if !out.is_empty() {
        rp.put(dst, MValue::Set(out));
    }
    Ok(())
}
