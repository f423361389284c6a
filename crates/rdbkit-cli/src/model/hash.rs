//! Hash commands, with the field TTLs of Redis 7.4+ (HPEXPIREAT, HPERSIST) and 8.0 (HSETEX,
//! HGETEX, HGETDEL).

use std::collections::BTreeMap;

use super::replay::{fail, float, int, text, Cmd, Flow, Replayer, R};
use super::string::human_float;
use super::{Bytes, MValue};

type H = BTreeMap<Bytes, (Bytes, Option<i64>)>;

fn hash<'r>(rp: &'r mut Replayer, key: &[u8]) -> Result<Option<&'r mut H>, Flow> {
    Ok(rp.get_mut(key, "hash")?.map(|k| match &mut k.value {
        MValue::Hash(h) => h,
        _ => unreachable!("checked by get_mut"),
    }))
}

fn hash_or_new<'r>(rp: &'r mut Replayer, key: &[u8]) -> Result<&'r mut H, Flow> {
    let k = rp.get_or_create(key, || MValue::Hash(BTreeMap::new()))?;
    match &mut k.value {
        MValue::Hash(h) => Ok(h),
        _ => unreachable!("checked by get_or_create"),
    }
}

/// HSET/HMSET key field value... (a field set loses its TTL)
pub fn hset(rp: &mut Replayer, c: &Cmd) -> R {
    let pairs = &c.a[1..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return fail("odd field/value list");
    }
    let h = hash_or_new(rp, c.arg(0)?)?;
    for p in pairs.chunks(2) {
        h.insert(p[0].to_vec(), (p[1].to_vec(), None));
    }
    Ok(())
}

/// HSETNX key field value
pub fn hsetnx(rp: &mut Replayer, c: &Cmd) -> R {
    let (f, v) = (c.arg(1)?, c.arg(2)?);
    let h = hash_or_new(rp, c.arg(0)?)?;
    h.entry(f.to_vec()).or_insert_with(|| (v.to_vec(), None));
    Ok(())
}

/// HDEL key field...
pub fn hdel(rp: &mut Replayer, c: &Cmd) -> R {
    let key = c.arg(0)?;
    if let Some(h) = hash(rp, key)? {
        for f in &c.a[1..] {
            h.remove(*f);
        }
    }
    rp.drop_if_empty(key);
    Ok(())
}

/// HINCRBY key field increment (the field keeps its TTL)
pub fn hincrby(rp: &mut Replayer, c: &Cmd) -> R {
    let by = c.int(2, "increment")?;
    let f = c.arg(1)?;
    let h = hash_or_new(rp, c.arg(0)?)?;
    let e = h.entry(f.to_vec()).or_insert_with(|| (b"0".to_vec(), None));
    let n = int(&e.0, "hash value")?
        .checked_add(by)
        .ok_or_else(|| Flow::Fail(format!("increment on field {} would overflow", text(f))))?;
    e.0 = n.to_string().into_bytes();
    Ok(())
}

/// HINCRBYFLOAT key field increment (propagated by the server as HSET of the result)
pub fn hincrbyfloat(rp: &mut Replayer, c: &Cmd) -> R {
    let by = float(c.arg(2)?)?;
    let f = c.arg(1)?;
    let h = hash_or_new(rp, c.arg(0)?)?;
    let e = h.entry(f.to_vec()).or_insert_with(|| (b"0".to_vec(), None));
    let n = float(&e.0)? + by;
    if !n.is_finite() {
        return fail("increment would produce NaN or Infinity");
    }
    e.0 = human_float(n);
    Ok(())
}

/// The fields after `FIELDS n`, starting the search at argument `from`.
fn fields<'c, 'a>(c: &'c Cmd<'c, 'a>, from: usize) -> Result<&'c [&'a [u8]], Flow> {
    let fi = (from..c.a.len())
        .find(|&i| c.a[i].eq_ignore_ascii_case(b"FIELDS"))
        .ok_or_else(|| Flow::Fail("no FIELDS".into()))?;
    let n = usize::try_from(c.int(fi + 1, "numfields")?)
        .map_err(|_| Flow::Fail("numfields is negative".into()))?;
    c.a.get(fi + 2..fi + 2 + n)
        .ok_or_else(|| Flow::Fail("fewer fields than numfields".into()))
}

/// HEXPIRE/HPEXPIRE/HEXPIREAT/HPEXPIREAT key time [NX|XX|GT|LT] FIELDS n field...
pub fn hexpire(rp: &mut Replayer, c: &Cmd) -> R {
    let at = super::keyspace::expire_at(rp.now_ms, c.name, c.int(1, "time")?);
    let cond = c.word(2);
    let fs = fields(c, 2)?;
    if let Some(h) = hash(rp, c.arg(0)?)? {
        for f in fs {
            if let Some(e) = h.get_mut(*f) {
                if super::keyspace::expire_applies(&cond, e.1, at) {
                    e.1 = Some(at);
                }
            }
        }
    }
    Ok(())
}

/// HPERSIST key FIELDS n field...
pub fn hpersist(rp: &mut Replayer, c: &Cmd) -> R {
    let fs = fields(c, 1)?;
    if let Some(h) = hash(rp, c.arg(0)?)? {
        for f in fs {
            if let Some(e) = h.get_mut(*f) {
                e.1 = None;
            }
        }
    }
    Ok(())
}

/// A TTL option (EX/PX/EXAT/PXAT/PERSIST/KEEPTTL) at argument `i`: Some(Some(at)) set,
/// Some(None) clear, None keep.
fn ttl_opt(rp: &Replayer, c: &Cmd, i: usize) -> Result<Option<Option<i64>>, Flow> {
    Ok(match c.word(i).as_str() {
        "EX" => Some(Some(
            rp.now_ms
                .saturating_add(c.int(i + 1, "ttl")?.saturating_mul(1000)),
        )),
        "PX" => Some(Some(rp.now_ms.saturating_add(c.int(i + 1, "ttl")?))),
        "EXAT" => Some(Some(c.int(i + 1, "time")?.saturating_mul(1000))),
        "PXAT" => Some(Some(c.int(i + 1, "time")?)),
        "PERSIST" => Some(None),
        _ => None,
    })
}

/// HSETEX key [FNX|FXX] [EX|PX|EXAT|PXAT t|KEEPTTL] FIELDS n field value...
pub fn hsetex(rp: &mut Replayer, c: &Cmd) -> R {
    let key = c.arg(0)?;
    let (mut fnx, mut fxx, mut keep, mut ttl) = (false, false, false, None);
    let mut i = 1;
    while i < c.a.len() {
        match c.word(i).as_str() {
            "FNX" => fnx = true,
            "FXX" => fxx = true,
            "KEEPTTL" => keep = true,
            "FIELDS" => break,
            _ => {
                ttl = ttl_opt(rp, c, i)?.flatten();
                i += 1;
            }
        }
        i += 1;
    }
    let n = usize::try_from(c.int(i + 1, "numfields")?)
        .map_err(|_| Flow::Fail("numfields is negative".into()))?;
    let fv =
        c.a.get(i + 2..i + 2 + 2 * n)
            .ok_or_else(|| Flow::Fail("fewer field/value pairs than numfields".into()))?;
    let existing = hash(rp, key)?;
    let present = |f: &[u8]| existing.as_ref().is_some_and(|h| h.contains_key(f));
    let all = fv.chunks(2).all(|p| present(p[0]));
    let none = fv.chunks(2).all(|p| !present(p[0]));
    if (fnx && !none) || (fxx && !all) {
        return Ok(());
    }
    let h = hash_or_new(rp, key)?;
    for p in fv.chunks(2) {
        let old = h.get(p[0]).and_then(|e| e.1);
        h.insert(p[0].to_vec(), (p[1].to_vec(), if keep { old } else { ttl }));
    }
    Ok(())
}

/// HGETEX key [EX|PX|EXAT|PXAT t|PERSIST] FIELDS n field...
pub fn hgetex(rp: &mut Replayer, c: &Cmd) -> R {
    let Some(set) = ttl_opt(rp, c, 1)? else {
        return Ok(());
    };
    let fs = fields(c, 1)?;
    if let Some(h) = hash(rp, c.arg(0)?)? {
        for f in fs {
            if let Some(e) = h.get_mut(*f) {
                e.1 = set;
            }
        }
    }
    Ok(())
}

/// HGETDEL key FIELDS n field...
pub fn hgetdel(rp: &mut Replayer, c: &Cmd) -> R {
    let key = c.arg(0)?;
    let fs = fields(c, 1)?;
    if let Some(h) = hash(rp, key)? {
        for f in fs {
            h.remove(*f);
        }
    }
    rp.drop_if_empty(key);
    Ok(())
}
