//! Keyspace commands: DEL, expiries, RENAME, MOVE, COPY, SWAPDB, FLUSH*, SELECT, RESTORE, SORT
//! STORE, FUNCTION, scripts.

use rdbkit_rdb::{Options, RdbParser, Record, Scratch};

use super::replay::{fail, int, text, Cmd, Flow, Replayer, R};
use super::{Bytes, MKey, MValue};

fn db_index(b: &[u8]) -> Result<u64, Flow> {
    u64::try_from(int(b, "db")?).map_err(|_| Flow::Fail("db index is out of range".into()))
}

/// No effect on the data set (PING, SCRIPT LOAD/FLUSH, MULTI inside EXEC ...).
pub fn noop(_rp: &mut Replayer, _c: &Cmd) -> R {
    Ok(())
}

/// SELECT db
pub fn select(rp: &mut Replayer, c: &Cmd) -> R {
    rp.db = db_index(c.arg(0)?)?;
    Ok(())
}

/// FLUSHDB [ASYNC|SYNC]
pub fn flushdb(rp: &mut Replayer, _c: &Cmd) -> R {
    rp.db().clear();
    rp.recount();
    Ok(())
}

/// FLUSHALL [ASYNC|SYNC] (functions stay: FUNCTION FLUSH clears them)
pub fn flushall(rp: &mut Replayer, _c: &Cmd) -> R {
    rp.ds.dbs.clear();
    rp.recount();
    Ok(())
}

/// DEL/UNLINK key...
pub fn del(rp: &mut Replayer, c: &Cmd) -> R {
    let db = rp.db();
    for k in c.a {
        db.remove(*k);
    }
    Ok(())
}

/// EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT key time [NX|XX|GT|LT]. While loading, the server sets
/// a time already past too (the key is dropped later, by a DEL the AOF also holds).
pub fn expire(rp: &mut Replayer, c: &Cmd) -> R {
    let at = expire_at(rp.now_ms, c.name, c.int(1, "time")?);
    let cond = c.word(2);
    if let Some(k) = rp.db().get_mut(c.arg(0)?) {
        if expire_applies(&cond, k.expire_ms, at) {
            k.expire_ms = Some(at);
        }
    }
    Ok(())
}

/// The unix-ms deadline of an EXPIRE-family command (`name`: EXPIRE, PEXPIRE, EXPIREAT,
/// PEXPIREAT, or the same with a leading `H` for hash fields) given `t` at `now_ms`.
pub fn expire_at(now_ms: i64, name: &str, t: i64) -> i64 {
    match name.strip_prefix('H').unwrap_or(name) {
        "EXPIRE" => now_ms.saturating_add(t.saturating_mul(1000)),
        "PEXPIRE" => now_ms.saturating_add(t),
        "EXPIREAT" => t.saturating_mul(1000),
        _ => t,
    }
}

/// Whether an EXPIRE-family condition (`NX`, `XX`, `GT`, `LT`, or none) lets the deadline `at`
/// replace the current one `cur`.
pub fn expire_applies(cond: &str, cur: Option<i64>, at: i64) -> bool {
    match (cond, cur) {
        ("NX", cur) => cur.is_none(),
        ("XX", cur) => cur.is_some(),
        ("GT", Some(cur)) => at > cur,
        ("GT", None) => false,
        ("LT", Some(cur)) => at < cur,
        _ => true,
    }
}

/// PERSIST key
pub fn persist(rp: &mut Replayer, c: &Cmd) -> R {
    if let Some(k) = rp.db().get_mut(c.arg(0)?) {
        k.expire_ms = None;
    }
    Ok(())
}

/// RENAME/RENAMENX src dst (the TTL moves with the value)
pub fn rename(rp: &mut Replayer, c: &Cmd) -> R {
    let (src, dst) = (c.arg(0)?, c.arg(1)?);
    let db = rp.db();
    if !db.contains_key(src) {
        return fail(format!("no such key {}", text(src)));
    }
    if src == dst || (c.name == "RENAMENX" && db.contains_key(dst)) {
        return Ok(());
    }
    if let Some(v) = db.remove(src) {
        db.insert(dst.to_vec(), v);
    }
    Ok(())
}

/// MOVE key db
pub fn move_key(rp: &mut Replayer, c: &Cmd) -> R {
    let key = c.arg(0)?;
    let to = db_index(c.arg(1)?)?;
    if to == rp.db {
        return fail("source and destination objects are the same");
    }
    if rp.ds.dbs.get(&to).is_some_and(|d| d.contains_key(key)) {
        return Ok(());
    }
    if let Some(v) = rp.db().remove(key) {
        rp.ds.dbs.entry(to).or_default().insert(key.to_vec(), v);
    }
    Ok(())
}

/// COPY src dst [DB n] [REPLACE]
pub fn copy(rp: &mut Replayer, c: &Cmd) -> R {
    let (src, dst) = (c.arg(0)?, c.arg(1)?);
    let mut to = rp.db;
    let mut replace = false;
    let mut i = 2;
    while i < c.a.len() {
        match c.word(i).as_str() {
            "DB" => {
                to = db_index(c.arg(i + 1)?)?;
                i += 1;
            }
            "REPLACE" => replace = true,
            o => return fail(format!("syntax error at {o}")),
        }
        i += 1;
    }
    let Some(v) = rp.db().get(src).cloned() else {
        return Ok(());
    };
    let dstdb = rp.ds.dbs.entry(to).or_default();
    if dstdb.contains_key(dst) && !replace {
        return Ok(());
    }
    if to != rp.db {
        rp.charge(&v.value);
    }
    rp.ds.dbs.entry(to).or_default().insert(dst.to_vec(), v);
    Ok(())
}

/// SWAPDB a b
pub fn swapdb(rp: &mut Replayer, c: &Cmd) -> R {
    let (x, y) = (db_index(c.arg(0)?)?, db_index(c.arg(1)?)?);
    let dx = rp.ds.dbs.remove(&x).unwrap_or_default();
    let dy = rp.ds.dbs.remove(&y).unwrap_or_default();
    rp.ds.dbs.insert(x, dy);
    rp.ds.dbs.insert(y, dx);
    Ok(())
}

/// A synthetic RDB around a DUMP payload's body so the RDB decoder reads it: the payload is
/// `type, value, RDB version (2 bytes LE), CRC-64 (8 bytes)`; checked here.
fn payload_body(p: &[u8]) -> Result<(u16, &[u8]), Flow> {
    if p.len() < 11 {
        return fail("DUMP payload version or checksum are wrong (too short)");
    }
    let (body, tail) = p.split_at(p.len() - 10);
    let ver = u16::from_le_bytes([tail[0], tail[1]]);
    let crc = u64::from_le_bytes(tail[2..10].try_into().unwrap_or_default());
    if crc != 0 && rdbkit_rdb::internals::crc64::crc64(&p[..p.len() - 8]) != crc {
        return fail("DUMP payload version or checksum are wrong (CRC mismatch)");
    }
    Ok((ver, body))
}

fn synthetic_rdb(ver: u16, records: &[u8]) -> Vec<u8> {
    let mut rdb = if ver >= 80 {
        format!("VALKEY{ver:03}").into_bytes()
    } else {
        format!("REDIS{ver:04}").into_bytes()
    };
    rdb.extend_from_slice(records);
    rdb.push(0xFF);
    rdb.extend_from_slice(&[0u8; 8]);
    rdb
}

/// Decodes a DUMP payload (what RESTORE receives) with the RDB decoder.
pub fn decode_payload(p: &[u8]) -> Result<MValue, Flow> {
    let (ver, body) = payload_body(p)?;
    let mut rec = vec![0xFE, 0x00, body[0], 0x01, b'k'];
    rec.extend_from_slice(&body[1..]);
    let rdb = synthetic_rdb(ver, &rec);
    let opts = Options::default()
        .deep(true)
        .verify_checksum(false)
        .best_effort(false);
    let mut parser = RdbParser::new(&rdb, opts);
    let mut scratch = Scratch::new();
    while let Some(r) = parser.next() {
        match r {
            Ok(Record::Key(k)) => {
                return super::from_record(&k, &mut scratch)
                    .map(|m| m.value)
                    .map_err(|e| Flow::Fail(format!("DUMP payload: {e}")))
            }
            Ok(_) => {}
            Err(e) => return fail(format!("DUMP payload: {e}")),
        }
    }
    fail("DUMP payload holds no value")
}

/// RESTORE/RESTORE-ASKING key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]
pub fn restore(rp: &mut Replayer, c: &Cmd) -> R {
    let key = c.arg(0)?;
    let ttl = c.int(1, "ttl")?;
    let (mut replace, mut abs) = (false, false);
    for i in 3..c.a.len() {
        match c.word(i).as_str() {
            "REPLACE" => replace = true,
            "ABSTTL" => abs = true,
            _ => {}
        }
    }
    if !replace && rp.db().contains_key(key) {
        return fail("BUSYKEY target key name already exists");
    }
    let value = decode_payload(c.arg(2)?)?;
    let expire_ms = match ttl {
        0 => None,
        t if abs => Some(t),
        t => Some(rp.now_ms.saturating_add(t)),
    };
    rp.db().insert(key.to_vec(), MKey { value, expire_ms });
    Ok(())
}

/// MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH ..] [KEYS key...]: the local
/// effect is a delete unless COPY (servers propagate it as DEL).
pub fn migrate(rp: &mut Replayer, c: &Cmd) -> R {
    if c.a.iter().any(|a| a.eq_ignore_ascii_case(b"COPY")) {
        return Ok(());
    }
    let keys: Vec<Bytes> = super::table::migrate_keys(c.a)
        .into_iter()
        .map(|k| k.to_vec())
        .collect();
    let db = rp.db();
    for k in keys {
        db.remove(&k);
    }
    Ok(())
}

fn lookup_pattern(rp: &mut Replayer, pat: &[u8], elem: &[u8]) -> Option<Bytes> {
    if pat == b"#" {
        return Some(elem.to_vec());
    }
    let star = pat.iter().position(|&b| b == b'*')?;
    let after = &pat[star + 1..];
    let (post, field) = match after.windows(2).position(|w| w == b"->") {
        Some(f) if f + 2 < after.len() => (&after[..f], Some(&after[f + 2..])),
        _ => (after, None),
    };
    let mut key = pat[..star].to_vec();
    key.extend_from_slice(elem);
    key.extend_from_slice(post);
    match (rp.db().get(&key).map(|k| &k.value), field) {
        (Some(MValue::Hash(h)), Some(f)) => h.get(f).map(|v| v.0.clone()),
        (Some(MValue::String(s)), None) => Some(s.clone()),
        _ => None,
    }
}

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern...] [ASC|DESC] [ALPHA] STORE dst
pub fn sort(rp: &mut Replayer, c: &Cmd) -> R {
    let key = c.arg(0)?;
    let (mut by, mut gets, mut desc, mut alpha, mut store) = (None, Vec::new(), false, false, None);
    let (mut lstart, mut lcount) = (0i64, -1i64);
    let mut dontsort = false;
    let mut i = 1;
    while i < c.a.len() {
        match c.word(i).as_str() {
            "ASC" => desc = false,
            "DESC" => desc = true,
            "ALPHA" => alpha = true,
            "LIMIT" => {
                lstart = c.int(i + 1, "offset")?;
                lcount = c.int(i + 2, "count")?;
                i += 2;
            }
            "STORE" => {
                store = Some(c.arg(i + 1)?);
                i += 1;
            }
            "BY" => {
                let p = c.arg(i + 1)?;
                dontsort = !p.contains(&b'*');
                by = Some(p);
                i += 1;
            }
            "GET" => {
                gets.push(c.arg(i + 1)?);
                i += 1;
            }
            o => return fail(format!("syntax error at {o}")),
        }
        i += 1;
    }
    let Some(dst) = store else {
        return Ok(()); // a read
    };
    let (mut items, is_set): (Vec<Bytes>, bool) = match rp.db().get(key).map(|k| &k.value) {
        None => (Vec::new(), false),
        Some(MValue::List(l)) => (l.iter().cloned().collect(), false),
        Some(MValue::Set(s)) => (s.keys().cloned().collect(), true),
        Some(MValue::Zset(z)) => {
            let mut v: Vec<(&Bytes, f64)> = z.iter().map(|(m, s)| (m, *s)).collect();
            v.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(b.0)));
            (v.into_iter().map(|(m, _)| m.clone()).collect(), false)
        }
        Some(_) => return fail("WRONGTYPE"),
    };
    if dontsort && is_set {
        dontsort = false;
        alpha = true;
        by = None;
    }
    if !dontsort {
        let mut keyed: Vec<(Bytes, Option<Bytes>, f64)> = Vec::new();
        for it in items.drain(..) {
            let byval = match by {
                Some(p) => lookup_pattern(rp, p, &it),
                None => Some(it.clone()),
            };
            let score = if alpha {
                0.0
            } else {
                match &byval {
                    Some(v) => std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.trim_start().parse::<f64>().ok())
                        .filter(|f| !f.is_nan())
                        .ok_or_else(|| {
                            Flow::Fail("One or more scores can't be converted into double".into())
                        })?,
                    None => 0.0,
                }
            };
            keyed.push((it, byval, score));
        }
        let mut tie = false;
        keyed.sort_by(|a, b| {
            let o = if !alpha {
                a.2.total_cmp(&b.2).then_with(|| a.0.cmp(&b.0))
            } else if by.is_some() {
                let o = a.1.cmp(&b.1);
                if o.is_eq() && a.0 != b.0 {
                    tie = true;
                }
                o
            } else {
                a.0.cmp(&b.0)
            };
            if desc {
                o.reverse()
            } else {
                o
            }
        });
        if tie {
            return Err(Flow::Unknown(
                "SORT BY ... ALPHA with equal weights orders them by the server's qsort".into(),
            ));
        }
        items = keyed.into_iter().map(|k| k.0).collect();
    } else if desc {
        items.reverse();
    }
    let n = items.len() as i64;
    let start = lstart.max(0).min(n);
    let count = lcount.max(-1).min(n);
    let end = if count < 0 { n - 1 } else { start + count - 1 };
    let (start, end) = if start >= n {
        (n - 1, n - 2)
    } else {
        (start, end.min(n - 1))
    };
    let mut out = Vec::new();
    if start <= end {
        for it in &items[start as usize..=end as usize] {
            if gets.is_empty() {
                out.push(it.clone());
            }
            for g in &gets {
                out.push(lookup_pattern(rp, g, it).unwrap_or_default());
            }
        }
    }
    rp.db().remove(dst);
    if !out.is_empty() {
        rp.put(dst, MValue::List(out.into()));
    }
    Ok(())
}

/// FUNCTION LOAD [REPLACE] code | DELETE name | FLUSH | RESTORE payload [FLUSH|APPEND|REPLACE]
pub fn function(rp: &mut Replayer, c: &Cmd) -> R {
    let name = |code: &[u8]| super::library_name(code);
    match c.word(0).as_str() {
        "LOAD" => {
            let code = *c.a.last().unwrap_or(&&b""[..]);
            let n = name(code);
            rp.ds.functions.retain(|f| name(f) != n);
            rp.ds.functions.push(code.to_vec());
        }
        "FLUSH" => rp.ds.functions.clear(),
        "DELETE" => {
            let n = String::from_utf8_lossy(c.arg(1)?).into_owned();
            rp.ds.functions.retain(|f| name(f) != n);
        }
        "RESTORE" => {
            let (ver, body) = payload_body(c.arg(1)?)?;
            let rdb = synthetic_rdb(ver, body);
            let opts = Options::default()
                .deep(false)
                .verify_checksum(false)
                .best_effort(false);
            let mut parser = RdbParser::new(&rdb, opts);
            let mut libs = Vec::new();
            while let Some(r) = parser.next() {
                match r {
                    Ok(Record::Function { code }) => libs.push(code.into_owned()),
                    Ok(_) => {}
                    Err(e) => return fail(format!("FUNCTION RESTORE payload: {e}")),
                }
            }
            match c.word(2).as_str() {
                "FLUSH" => rp.ds.functions.clear(),
                "REPLACE" => {
                    let names: Vec<String> = libs.iter().map(|l| name(l)).collect();
                    rp.ds.functions.retain(|f| !names.contains(&name(f)));
                }
                _ => {
                    if libs
                        .iter()
                        .any(|l| rp.ds.functions.iter().any(|f| name(f) == name(l)))
                    {
                        return fail("library already exists");
                    }
                }
            }
            rp.ds.functions.extend(libs);
        }
        "KILL" | "STATS" | "LIST" | "DUMP" | "HELP" => {}
        o => return fail(format!("FUNCTION {o} is not a subcommand that writes")),
    }
    Ok(())
}

/// EVAL/EVALSHA/EVAL_RO/FCALL/FCALL_RO verbatim (Redis < 5 replicated scripts verbatim; later
/// servers propagate their effects): the keys the script names become value-unknown.
pub fn script(_rp: &mut Replayer, c: &Cmd) -> R {
    Err(Flow::Unknown(format!(
        "{} runs a script this replay does not execute (servers since 5.0 propagate a script's \
         effects instead)",
        c.name
    )))
}
