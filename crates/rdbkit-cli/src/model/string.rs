//! String commands: SET and its forms, GET* that write, MSET*, INCR*/DECR*, APPEND, SETRANGE.

use super::replay::{fail, float, int, text, Cmd, Flow, Replayer, R};
use super::{MKey, MValue};

/// Longest string the server builds (`proto-max-bulk-len` default, SETRANGE/SETBIT/APPEND's
/// limit).
pub const MAX_STRING: usize = 512 << 20;

fn string_of<'r>(rp: &'r mut Replayer, key: &[u8]) -> Result<Option<&'r mut Vec<u8>>, Flow> {
    Ok(rp.get_mut(key, "string")?.map(|k| match &mut k.value {
        MValue::String(s) => s,
        _ => unreachable!("checked by get_mut"),
    }))
}

fn set_with(rp: &mut Replayer, key: &[u8], v: &[u8], expire: Option<i64>) {
    rp.db().insert(
        key.to_vec(),
        MKey {
            value: MValue::String(v.to_vec()),
            expire_ms: expire,
        },
    );
}

/// SET key value [NX|XX|IFEQ v] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]
pub fn set(rp: &mut Replayer, c: &Cmd) -> R {
    let (key, val) = (c.arg(0)?, c.arg(1)?);
    let mut expire = None;
    let (mut keepttl, mut nx, mut xx) = (false, false, false);
    let mut ifeq: Option<&[u8]> = None;
    let mut i = 2;
    while i < c.a.len() {
        let opt = c.word(i);
        match opt.as_str() {
            "EX" | "PX" | "EXAT" | "PXAT" => {
                let v = c.int(i + 1, &opt)?;
                expire = Some(match opt.as_str() {
                    "EX" => rp.now_ms.saturating_add(v.saturating_mul(1000)),
                    "PX" => rp.now_ms.saturating_add(v),
                    "EXAT" => v.saturating_mul(1000),
                    _ => v,
                });
                i += 2;
            }
            "KEEPTTL" => {
                keepttl = true;
                i += 1;
            }
            "NX" => {
                nx = true;
                i += 1;
            }
            "XX" => {
                xx = true;
                i += 1;
            }
            "IFEQ" => {
                ifeq = Some(c.arg(i + 1)?);
                i += 2;
            }
            "GET" => i += 1,
            _ => return fail(format!("unknown option {opt}")),
        }
    }
    let old = rp.db().get(key);
    let exists = old.is_some();
    if (nx && exists) || (xx && !exists) {
        return Ok(());
    }
    if let Some(want) = ifeq {
        match old.map(|k| &k.value) {
            Some(MValue::String(s)) if s.as_slice() == want => {}
            Some(MValue::Unknown { .. }) => {
                return Err(Flow::Unknown("IFEQ compared with an unknown value".into()))
            }
            _ => return Ok(()),
        }
    }
    let e = if keepttl {
        old.and_then(|k| k.expire_ms)
    } else {
        expire
    };
    set_with(rp, key, val, e);
    Ok(())
}

/// SETNX key value
pub fn setnx(rp: &mut Replayer, c: &Cmd) -> R {
    if rp.db().contains_key(c.arg(0)?) {
        return Ok(());
    }
    set_with(rp, c.arg(0)?, c.arg(1)?, None);
    Ok(())
}

/// SETEX key seconds value / PSETEX key ms value
pub fn setex(rp: &mut Replayer, c: &Cmd) -> R {
    let v = c.int(1, "ttl")?;
    let e = if c.name == "SETEX" {
        v.saturating_mul(1000)
    } else {
        v
    };
    let at = rp.now_ms.saturating_add(e);
    set_with(rp, c.arg(0)?, c.arg(2)?, Some(at));
    Ok(())
}

/// GETSET key value (the TTL is dropped)
pub fn getset(rp: &mut Replayer, c: &Cmd) -> R {
    string_of(rp, c.arg(0)?)?;
    set_with(rp, c.arg(0)?, c.arg(1)?, None);
    Ok(())
}

/// GETDEL key
pub fn getdel(rp: &mut Replayer, c: &Cmd) -> R {
    if string_of(rp, c.arg(0)?)?.is_some() {
        rp.db().remove(c.arg(0)?);
    }
    Ok(())
}

/// GETEX key [EX|PX|EXAT|PXAT t|PERSIST]
pub fn getex(rp: &mut Replayer, c: &Cmd) -> R {
    let key = c.arg(0)?;
    let opt = c.word(1);
    let at = match opt.as_str() {
        "" => return Ok(()),
        "PERSIST" => None,
        "EX" => Some(
            rp.now_ms
                .saturating_add(c.int(2, "ttl")?.saturating_mul(1000)),
        ),
        "PX" => Some(rp.now_ms.saturating_add(c.int(2, "ttl")?)),
        "EXAT" => Some(c.int(2, "time")?.saturating_mul(1000)),
        "PXAT" => Some(c.int(2, "time")?),
        o => return fail(format!("unknown option {o}")),
    };
    if let Some(k) = rp.get_mut(key, "string")? {
        k.expire_ms = at;
    }
    Ok(())
}

/// MSET key value [key value ...]
pub fn mset(rp: &mut Replayer, c: &Cmd) -> R {
    if !c.a.len().is_multiple_of(2) {
        return fail("odd key/value list");
    }
    for p in c.a.chunks(2) {
        set_with(rp, p[0], p[1], None);
    }
    Ok(())
}

/// MSETNX key value [key value ...]: all or nothing.
pub fn msetnx(rp: &mut Replayer, c: &Cmd) -> R {
    if !c.a.len().is_multiple_of(2) {
        return fail("odd key/value list");
    }
    if c.a.chunks(2).any(|p| rp.db().contains_key(p[0])) {
        return Ok(());
    }
    mset(rp, c)
}

/// INCR/DECR/INCRBY/DECRBY key [n]
pub fn incr(rp: &mut Replayer, c: &Cmd) -> R {
    let by = match c.name {
        "INCR" => 1,
        "DECR" => -1,
        "INCRBY" => c.int(1, "increment")?,
        _ => c
            .int(1, "decrement")?
            .checked_neg()
            .ok_or_else(|| Flow::Fail("decrement would overflow".into()))?,
    };
    let key = c.arg(0)?;
    let cur = match string_of(rp, key)? {
        Some(v) => int(v, "value")?,
        None => 0,
    };
    let n = cur
        .checked_add(by)
        .ok_or_else(|| Flow::Fail(format!("increment on {} would overflow", text(key))))?;
    store_keep_ttl(rp, key, n.to_string().into_bytes());
    Ok(())
}

fn store_keep_ttl(rp: &mut Replayer, key: &[u8], v: Vec<u8>) {
    let db = rp.db();
    match db.get_mut(key) {
        Some(k) => k.value = MValue::String(v),
        None => {
            db.insert(
                key.to_vec(),
                MKey {
                    value: MValue::String(v),
                    expire_ms: None,
                },
            );
        }
    }
}

/// Formats a double as Redis's human-friendly `ld2string` does for INCRBYFLOAT and
/// HINCRBYFLOAT results: fixed notation with 17 decimals, trailing zeros and dot removed.
/// (Redis computes in `long double`; the server propagates these commands as SET/HSET of the
/// result, so only a verbatim copy — a Redis < 5 script — would reach this path.)
pub fn human_float(v: f64) -> Vec<u8> {
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s.into_bytes()
}

/// INCRBYFLOAT key increment
pub fn incrbyfloat(rp: &mut Replayer, c: &Cmd) -> R {
    let key = c.arg(0)?;
    let by = float(c.arg(1)?)?;
    let cur = match string_of(rp, key)? {
        Some(v) => float(v)?,
        None => 0.0,
    };
    let n = cur + by;
    if !n.is_finite() {
        return fail("increment would produce NaN or Infinity");
    }
    store_keep_ttl(rp, key, human_float(n));
    Ok(())
}

/// APPEND key value
pub fn append(rp: &mut Replayer, c: &Cmd) -> R {
    let key = c.arg(0)?;
    let cur = string_of(rp, key)?.map_or(0, |v| v.len());
    if cur + c.arg(1)?.len() > MAX_STRING {
        return fail(format!("string {} would exceed 512 MB", text(key)));
    }
    let k = rp.get_or_create(key, || MValue::String(Vec::new()))?;
    if let MValue::String(v) = &mut k.value {
        v.extend_from_slice(c.a[1]);
    }
    Ok(())
}

/// Grows the string at `key` (created when absent) to at least `len` bytes, checking the
/// server's 512 MB limit first.
pub fn grow_string<'r>(
    rp: &'r mut Replayer,
    key: &[u8],
    len: usize,
    what: &str,
) -> Result<&'r mut Vec<u8>, Flow> {
    if len > MAX_STRING {
        return fail(format!(
            "{what} on key {} would grow it to {len} bytes, beyond the 512 MB limit",
            text(key)
        ));
    }
    let cur = string_of(rp, key)?.map_or(0, |v| v.len());
    rp.reserve(len.saturating_sub(cur) as u64, key)?;
    let k = rp.get_or_create(key, || MValue::String(Vec::new()))?;
    let MValue::String(v) = &mut k.value else {
        unreachable!("checked by get_or_create")
    };
    if v.len() < len {
        v.resize(len, 0);
    }
    Ok(v)
}

/// SETRANGE key offset value
pub fn setrange(rp: &mut Replayer, c: &Cmd) -> R {
    let key = c.arg(0)?;
    let off = usize::try_from(c.int(1, "offset")?)
        .map_err(|_| Flow::Fail("offset is out of range".into()))?;
    let val = c.arg(2)?;
    if val.is_empty() {
        return Ok(()); // no key created, nothing changed
    }
    let end = off.saturating_add(val.len());
    let v = grow_string(rp, key, end, &format!("SETRANGE at offset {off}"))?;
    v[off..end].copy_from_slice(val);
    Ok(())
}
