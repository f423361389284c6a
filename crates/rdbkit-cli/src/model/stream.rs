//! Stream commands, as the server propagates them (XADD with an explicit id and exact
//! trimming, XCLAIM for what XREADGROUP/XAUTOCLAIM did, XGROUP, XSETID).

use rdbkit_rdb::StreamId;

use super::replay::{fail, parse_id, Cmd, Flow, Replayer, R};
use super::{MGroup, MStream, MValue};

fn bad_id(b: &[u8]) -> Flow {
    Flow::Fail(format!("invalid stream ID {}", super::replay::text(b)))
}

enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// Parses `MAXLEN|MINID [=|~] threshold [LIMIT n]` at `i`; returns the trim and the next index.
fn parse_trim(c: &Cmd, i: usize) -> Result<(Trim, usize), Flow> {
    let kind = c.word(i);
    let mut j = i + 1;
    let mut approx = false;
    match c.a.get(j).copied() {
        Some(b"=") => j += 1,
        Some(b"~") => {
            approx = true;
            j += 1
        }
        _ => {}
    }
    let th = c.arg(j)?;
    j += 1;
    if c.word(j) == "LIMIT" {
        j += 2;
    }
    let t = if kind == "MAXLEN" {
        Trim::MaxLen(
            u64::try_from(super::replay::int(th, "MAXLEN")?)
                .map_err(|_| Flow::Fail("MAXLEN is negative".into()))?,
        )
    } else {
        Trim::MinId(parse_id(th).ok_or_else(|| bad_id(th))?)
    };
    if approx {
        // Servers rewrite `~` to `=` with the resulting length before propagating; a
        // verbatim `~` trims whole radix-tree nodes, which depends on the server's layout.
        return Err(Flow::Unknown(
            "approximate (~) trimming depends on the server's node layout".into(),
        ));
    }
    Ok((t, j))
}

fn trim(s: &mut MStream, t: &Trim) {
    let n = match t {
        Trim::MaxLen(max) => s.entries.len().saturating_sub(*max as usize),
        Trim::MinId(min) => s.entries.iter().take_while(|(id, _)| id < min).count(),
    };
    if n == 0 {
        return;
    }
    s.entries.drain(..n);
    s.length = s.entries.len() as u64;
    s.first_id = Some(s.entries.first().map(|e| e.0).unwrap_or_default());
}

fn new_stream() -> MValue {
    MValue::Stream(Box::new(MStream {
        first_id: Some(StreamId::default()),
        max_deleted_id: Some(StreamId::default()),
        entries_added: Some(0),
        ..MStream::default()
    }))
}

fn stream<'r>(rp: &'r mut Replayer, key: &[u8]) -> Result<Option<&'r mut MStream>, Flow> {
    rp.stream_mut(key)
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] n [LIMIT c]] id|* field value...
pub fn xadd(rp: &mut Replayer, c: &Cmd) -> R {
    let key = c.arg(0)?;
    let (mut nomk, mut tr) = (false, None);
    let mut i = 1;
    loop {
        match c.word(i).as_str() {
            "NOMKSTREAM" => {
                nomk = true;
                i += 1
            }
            "MAXLEN" | "MINID" => {
                let (t, j) = parse_trim(c, i)?;
                tr = Some(t);
                i = j;
            }
            _ => break,
        }
    }
    let idb = c.arg(i)?;
    let fv = c.a.get(i + 1..).unwrap_or_default();
    if fv.is_empty() || fv.len() % 2 != 0 {
        return fail("odd field/value list");
    }
    if nomk && stream(rp, key)?.is_none() {
        return Ok(());
    }
    let now = rp.now_ms.max(0) as u64;
    let k = rp.get_or_create(key, new_stream)?;
    let MValue::Stream(s) = &mut k.value else {
        unreachable!()
    };
    let last = s.last_id;
    let id = match idb {
        b"*" => {
            if now > last.ms {
                StreamId { ms: now, seq: 0 }
            } else {
                StreamId {
                    ms: last.ms,
                    seq: last.seq + 1,
                }
            }
        }
        _ if idb.ends_with(b"-*") => {
            let ms: u64 = std::str::from_utf8(&idb[..idb.len() - 2])
                .ok()
                .and_then(|x| x.parse().ok())
                .ok_or_else(|| bad_id(idb))?;
            let seq = if ms == last.ms { last.seq + 1 } else { 0 };
            StreamId { ms, seq }
        }
        _ => parse_id(idb).ok_or_else(|| bad_id(idb))?,
    };
    if id <= last && !(id == StreamId::default() && last == id && s.entries_added == Some(0)) {
        return fail("the ID is equal or smaller than the target stream top item");
    }
    s.entries.push((
        id,
        fv.chunks(2)
            .map(|p| (p[0].to_vec(), p[1].to_vec()))
            .collect(),
    ));
    s.length += 1;
    s.entries_added = Some(s.entries_added.unwrap_or(0) + 1);
    s.last_id = id;
    if s.length == 1 {
        s.first_id = Some(id);
    }
    if let Some(t) = tr {
        trim(s, &t);
    }
    Ok(())
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
pub fn xtrim(rp: &mut Replayer, c: &Cmd) -> R {
    let (t, _) = parse_trim(c, 1)?;
    if let Some(s) = stream(rp, c.arg(0)?)? {
        trim(s, &t);
    }
    Ok(())
}

/// XDEL key id...
pub fn xdel(rp: &mut Replayer, c: &Cmd) -> R {
    let mut ids = Vec::new();
    for b in &c.a[1..] {
        ids.push(parse_id(b).ok_or_else(|| bad_id(b))?);
    }
    let Some(s) = stream(rp, c.arg(0)?)? else {
        return Ok(());
    };
    let mut deleted = false;
    let mut first = false;
    for id in ids {
        if let Ok(p) = s.entries.binary_search_by(|e| e.0.cmp(&id)) {
            s.entries.remove(p);
            s.length = s.length.saturating_sub(1);
            deleted = true;
            if s.first_id == Some(id) {
                first = true;
            }
            if s.max_deleted_id.unwrap_or_default() < id {
                s.max_deleted_id = Some(id);
            }
        }
    }
    if deleted {
        if s.entries.is_empty() {
            s.first_id = Some(StreamId::default());
        } else if first {
            s.first_id = s.entries.first().map(|e| e.0);
        }
    }
    Ok(())
}

/// XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id]
pub fn xsetid(rp: &mut Replayer, c: &Cmd) -> R {
    let idb = c.arg(1)?;
    let id = parse_id(idb).ok_or_else(|| bad_id(idb))?;
    let (mut added, mut maxdel) = (None, None);
    let mut i = 2;
    while i < c.a.len() {
        match c.word(i).as_str() {
            "ENTRIESADDED" => {
                added = Some(
                    u64::try_from(c.int(i + 1, "ENTRIESADDED")?)
                        .map_err(|_| Flow::Fail("entries_added must be positive".into()))?,
                )
            }
            "MAXDELETEDID" => {
                let b = c.arg(i + 1)?;
                maxdel = Some(parse_id(b).ok_or_else(|| bad_id(b))?)
            }
            o => return fail(format!("syntax error at {o}")),
        }
        i += 2;
    }
    let Some(s) = stream(rp, c.arg(0)?)? else {
        return fail("no such key");
    };
    s.last_id = id;
    if added.is_some() {
        s.entries_added = added;
    }
    if maxdel.is_some() {
        s.max_deleted_id = maxdel;
    }
    Ok(())
}

fn group_id(s: &MStream, b: &[u8]) -> Result<StreamId, Flow> {
    if b == b"$" {
        Ok(s.last_id)
    } else {
        parse_id(b).ok_or_else(|| bad_id(b))
    }
}

/// XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER key group ...
pub fn xgroup(rp: &mut Replayer, c: &Cmd) -> R {
    let sub = c.word(0);
    if sub == "HELP" {
        return Ok(());
    }
    let (key, group) = (c.arg(1)?, c.arg(2)?);
    let mut entries_read: Option<u64> = None;
    let mut mkstream = false;
    let mut i = 4;
    while i < c.a.len() {
        match c.word(i).as_str() {
            "MKSTREAM" => mkstream = true,
            "ENTRIESREAD" => {
                let v = c.int(i + 1, "ENTRIESREAD")?;
                entries_read = Some(if v < 0 { u64::MAX } else { v as u64 });
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    if sub == "CREATE" && mkstream && stream(rp, key)?.is_none() {
        rp.get_or_create(key, new_stream)?;
    }
    let Some(s) = stream(rp, key)? else {
        return fail(format!("XGROUP {sub}: no such key"));
    };
    match sub.as_str() {
        "CREATE" => {
            let id = group_id(s, c.arg(3)?)?;
            if s.groups.contains_key(group) {
                return fail("BUSYGROUP consumer group name already exists");
            }
            s.groups.insert(
                group.to_vec(),
                MGroup {
                    last_delivered_id: id,
                    entries_read: Some(entries_read.unwrap_or(u64::MAX)),
                    ..MGroup::default()
                },
            );
        }
        "SETID" => {
            let id = group_id(s, c.arg(3)?)?;
            let Some(g) = s.groups.get_mut(group) else {
                return fail("NOGROUP no such consumer group");
            };
            g.last_delivered_id = id;
            g.entries_read = Some(entries_read.unwrap_or(u64::MAX));
        }
        "DESTROY" => {
            s.groups.remove(group);
        }
        "CREATECONSUMER" | "DELCONSUMER" => {
            let name = c.arg(3)?;
            let Some(g) = s.groups.get_mut(group) else {
                return fail("NOGROUP no such consumer group");
            };
            if sub == "CREATECONSUMER" {
                g.consumers.insert(name.to_vec(), ());
            } else {
                g.consumers.remove(name);
                g.pel.retain(|_, p| p.0.as_slice() != name);
            }
        }
        o => {
            return fail(format!(
                "XGROUP {o} is not a subcommand the server propagates"
            ))
        }
    }
    Ok(())
}

/// XCLAIM key group consumer min-idle id... [IDLE ms] [TIME ms] [RETRYCOUNT n] [FORCE]
/// [JUSTID] [LASTID id] (the form the server propagates for XREADGROUP/XCLAIM/XAUTOCLAIM)
pub fn xclaim(rp: &mut Replayer, c: &Cmd) -> R {
    let (key, group, consumer) = (c.arg(0)?, c.arg(1)?, c.arg(2)?);
    let minidle = c.int(3, "min-idle-time")?;
    let mut ids = Vec::new();
    let mut i = 4;
    while let Some(id) = c.a.get(i).and_then(|b| parse_id(b)) {
        ids.push(id);
        i += 1;
    }
    let now = rp.now_ms;
    let pre7 = rp.pre_7_0;
    let redis_7_0 = rp.redis_7_0;
    let (mut force, mut justid, mut time, mut retry, mut lastid) = (false, false, None, None, None);
    while i < c.a.len() {
        match c.word(i).as_str() {
            "FORCE" => force = true,
            "JUSTID" => justid = true,
            "IDLE" => {
                time = Some(now - c.int(i + 1, "IDLE")?);
                i += 1;
            }
            "TIME" => {
                time = Some(c.int(i + 1, "TIME")?);
                i += 1;
            }
            "RETRYCOUNT" => {
                retry = Some(c.int(i + 1, "RETRYCOUNT")?);
                i += 1;
            }
            "LASTID" => {
                let b = c.arg(i + 1)?;
                lastid = Some(parse_id(b).ok_or_else(|| bad_id(b))?);
                i += 1;
            }
            o => return fail(format!("unrecognized XCLAIM option {o}")),
        }
        i += 1;
    }
    let Some(s) = stream(rp, key)? else {
        return fail("no such key");
    };
    let exists: Vec<bool> = ids
        .iter()
        .map(|id| s.entries.binary_search_by(|e| e.0.cmp(id)).is_ok())
        .collect();
    let Some(g) = s.groups.get_mut(group) else {
        return fail("NOGROUP no such consumer group");
    };
    if let Some(l) = lastid {
        if l > g.last_delivered_id {
            g.last_delivered_id = l;
        }
    }
    // 7.2+ and Valkey create the consumer before looking at the IDs (a rewrite's XCLAIM of a
    // pending entry whose message was deleted still leaves the consumer); 7.0 and 6.2 only
    // when an entry is claimed.
    if !pre7 && !redis_7_0 {
        g.consumers.entry(consumer.to_vec()).or_insert(());
    }
    let delivery = match time {
        Some(t) if t >= 0 && t <= now => t,
        Some(t) if t >= 0 && now <= 0 => t,
        _ => now,
    };
    for (id, exists) in ids.into_iter().zip(exists) {
        // 7.0+ drop the pending entry of a deleted message; 6.2 claims it like any other.
        if !exists && !pre7 {
            g.pel.remove(&id);
            continue;
        }
        let nack = match g.pel.get_mut(&id) {
            Some(n) => n,
            None if force && exists => g.pel.entry(id).or_insert((Vec::new(), 0, 0)),
            None => continue,
        };
        if !nack.0.is_empty() && minidle > 0 && now - nack.1 < minidle {
            continue;
        }
        nack.0 = consumer.to_vec();
        nack.1 = delivery;
        match retry {
            Some(r) if r >= 0 => nack.2 = r as u64,
            _ if !justid => nack.2 += 1,
            _ => {}
        }
        g.consumers.insert(consumer.to_vec(), ());
    }
    Ok(())
}

/// XACK key group id...
pub fn xack(rp: &mut Replayer, c: &Cmd) -> R {
    let mut ids = Vec::new();
    for b in &c.a[2..] {
        ids.push(parse_id(b).ok_or_else(|| bad_id(b))?);
    }
    if let Some(s) = stream(rp, c.arg(0)?)? {
        if let Some(g) = s.groups.get_mut(c.arg(1)?) {
            for id in ids {
                g.pel.remove(&id);
            }
        }
    }
    Ok(())
}

/// XREADGROUP / XAUTOCLAIM: the server never propagates them as such (it writes XCLAIM,
/// XGROUP SETID and XGROUP CREATECONSUMER instead); a verbatim one depends on the time.
pub fn xreadgroup(_rp: &mut Replayer, c: &Cmd) -> R {
    Err(Flow::Unknown(format!(
        "{} is propagated by servers as XCLAIM/XGROUP; a verbatim one depends on the time and \
         on the clients",
        c.name
    )))
}
