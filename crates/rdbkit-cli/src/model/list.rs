//! List commands.

use std::collections::VecDeque;

use super::replay::{fail, Cmd, Flow, Replayer, R};
use super::{Bytes, MValue};

fn list<'r>(rp: &'r mut Replayer, key: &[u8]) -> Result<Option<&'r mut VecDeque<Bytes>>, Flow> {
    Ok(rp.get_mut(key, "list")?.map(|k| match &mut k.value {
        MValue::List(l) => l,
        _ => unreachable!("checked by get_mut"),
    }))
}

fn push(rp: &mut Replayer, key: &[u8], vals: &[&[u8]], left: bool) -> R {
    let k = rp.get_or_create(key, || MValue::List(VecDeque::new()))?;
    let MValue::List(l) = &mut k.value else {
        unreachable!()
    };
    if left {
        for v in vals {
            l.push_front(v.to_vec());
        }
    } else {
        l.extend(vals.iter().map(|v| v.to_vec()));
    }
    Ok(())
}

/// LPUSH/RPUSH key element...; LPUSHX/RPUSHX only onto an existing list.
pub fn lpush(rp: &mut Replayer, c: &Cmd) -> R {
    let key = c.arg(0)?;
    c.arg(1)?;
    if c.name.ends_with('X') && list(rp, key)?.is_none() {
        return Ok(());
    }
    push(rp, key, &c.a[1..], c.name.starts_with('L'))
}

fn pop_n(rp: &mut Replayer, key: &[u8], left: bool, n: usize) -> Result<Vec<Bytes>, Flow> {
    let Some(l) = list(rp, key)? else {
        return Ok(Vec::new());
    };
    let n = n.min(l.len());
    let out = if left {
        l.drain(..n).collect()
    } else {
        let t = l.split_off(l.len() - n);
        t.into_iter().rev().collect()
    };
    rp.drop_if_empty(key);
    Ok(out)
}

/// LPOP/RPOP key [count]
pub fn lpop(rp: &mut Replayer, c: &Cmd) -> R {
    let n = match c.a.get(1) {
        Some(_) => usize::try_from(c.int(1, "count")?)
            .map_err(|_| Flow::Fail("count is negative".into()))?,
        None => 1,
    };
    pop_n(rp, c.arg(0)?, c.name.starts_with('L'), n)?;
    Ok(())
}

/// BLPOP/BRPOP key... timeout: pops one element from the first non-empty list.
pub fn blpop(rp: &mut Replayer, c: &Cmd) -> R {
    let left = c.name == "BLPOP";
    for key in &c.a[..c.a.len().saturating_sub(1)] {
        if list(rp, key)?.is_some() {
            pop_n(rp, key, left, 1)?;
            return Ok(());
        }
    }
    Ok(())
}

/// LMPOP numkeys key... LEFT|RIGHT [COUNT n]; BLMPOP timeout numkeys ...
pub fn lmpop(rp: &mut Replayer, c: &Cmd) -> R {
    let base = usize::from(c.name == "BLMPOP");
    let nk = usize::try_from(c.int(base, "numkeys")?)
        .map_err(|_| Flow::Fail("numkeys is negative".into()))?;
    let keys =
        c.a.get(base + 1..base + 1 + nk)
            .ok_or_else(|| Flow::Fail("fewer keys than numkeys".into()))?;
    let left = c.word(base + 1 + nk) == "LEFT";
    let count = if c.word(base + 2 + nk) == "COUNT" {
        usize::try_from(c.int(base + 3 + nk, "count")?).unwrap_or(0)
    } else {
        1
    };
    for key in keys {
        if list(rp, key)?.is_some() {
            pop_n(rp, key, left, count)?;
            return Ok(());
        }
    }
    Ok(())
}

/// LMOVE/BLMOVE src dst LEFT|RIGHT LEFT|RIGHT; RPOPLPUSH/BRPOPLPUSH src dst
pub fn lmove(rp: &mut Replayer, c: &Cmd) -> R {
    let (src, dst) = (c.arg(0)?, c.arg(1)?);
    let (from_left, to_left) = if c.name.contains("RPOPLPUSH") {
        (false, true)
    } else {
        (c.word(2) == "LEFT", c.word(3) == "LEFT")
    };
    if list(rp, src)?.is_none() {
        return Ok(());
    }
    list(rp, dst)?; // a wrong-typed destination fails before anything moves
    let item = pop_n(rp, src, from_left, 1)?;
    push(rp, dst, &[item[0].as_slice()], to_left)
}

fn index(l: &VecDeque<Bytes>, i: i64) -> Option<usize> {
    let len = l.len() as i64;
    let i = if i < 0 { len + i } else { i };
    (0..len).contains(&i).then_some(i as usize)
}

/// LSET key index element
pub fn lset(rp: &mut Replayer, c: &Cmd) -> R {
    let i = c.int(1, "index")?;
    let v = c.arg(2)?.to_vec();
    let Some(l) = list(rp, c.arg(0)?)? else {
        return fail("no such key");
    };
    let Some(i) = index(l, i) else {
        return fail("index out of range");
    };
    l[i] = v;
    Ok(())
}

/// LINSERT key BEFORE|AFTER pivot element
pub fn linsert(rp: &mut Replayer, c: &Cmd) -> R {
    let after = match c.word(1).as_str() {
        "BEFORE" => false,
        "AFTER" => true,
        o => return fail(format!("bad position {o}")),
    };
    let (pivot, v) = (c.arg(2)?, c.arg(3)?.to_vec());
    if let Some(l) = list(rp, c.arg(0)?)? {
        if let Some(p) = l.iter().position(|e| e.as_slice() == pivot) {
            l.insert(p + usize::from(after), v);
        }
    }
    Ok(())
}

/// LREM key count element
pub fn lrem(rp: &mut Replayer, c: &Cmd) -> R {
    let key = c.arg(0)?;
    let count = c.int(1, "count")?;
    let v = c.arg(2)?;
    if let Some(l) = list(rp, key)? {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs() as usize
        };
        let mut removed = 0;
        // A negative count removes from the tail: the same walk over the reversed list.
        let from_tail = count < 0;
        if from_tail {
            l.make_contiguous().reverse();
        }
        l.retain(|e| {
            if removed < limit && e.as_slice() == v {
                removed += 1;
                false
            } else {
                true
            }
        });
        if from_tail {
            l.make_contiguous().reverse();
        }
    }
    rp.drop_if_empty(key);
    Ok(())
}

/// LTRIM key start stop
pub fn ltrim(rp: &mut Replayer, c: &Cmd) -> R {
    let key = c.arg(0)?;
    let (st, en) = (c.int(1, "start")?, c.int(2, "stop")?);
    if let Some(l) = list(rp, key)? {
        let len = l.len() as i64;
        let st = if st < 0 { (len + st).max(0) } else { st };
        let en = if en < 0 { len + en } else { en };
        if st > en || st >= len {
            l.clear();
        } else {
            let en = en.min(len - 1);
            l.truncate(en as usize + 1);
            l.drain(..st as usize);
        }
    }
    rp.drop_if_empty(key);
    Ok(())
}
