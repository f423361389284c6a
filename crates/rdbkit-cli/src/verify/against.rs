//! `rdbkit verify BACKUP --against redis://HOST:PORT[/db]`: after a restore drill, compare the
//! live server with the backup key by key. Read-only: SCAN, TYPE, PEXPIRETIME, DBSIZE and the
//! typed reads (GET, LRANGE, SMEMBERS, ZRANGE, HGETALL, XRANGE), pipelined in batches.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdbkit_rdb::{Entry, KeyRecord, Scratch, StreamId, VisitResult, Visitor};
use redis::{ConnectionAddr, RedisResult, Value as RValue};

/// Keys per pipeline.
const BATCH: usize = 200;

/// A value in a form both sides can be put in and compared.
#[derive(Debug, Clone, PartialEq)]
pub enum Canon {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    Zset(BTreeMap<Vec<u8>, f64>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    /// Entries: id, then field/value pairs in order.
    Stream(Vec<(String, Vec<Vec<u8>>)>),
    /// Module values: the type is compared, not the content.
    Module,
}

impl Canon {
    fn family(&self) -> &'static str {
        match self {
            Canon::Str(_) => "string",
            Canon::List(_) => "list",
            Canon::Set(_) => "set",
            Canon::Zset(_) => "zset",
            Canon::Hash(_) => "hash",
            Canon::Stream(_) => "stream",
            Canon::Module => "module",
        }
    }
    fn len(&self) -> usize {
        match self {
            Canon::Str(b) => b.len(),
            Canon::List(v) => v.len(),
            Canon::Set(v) => v.len(),
            Canon::Zset(v) => v.len(),
            Canon::Hash(v) => v.len(),
            Canon::Stream(v) => v.len(),
            Canon::Module => 0,
        }
    }
}

fn owned(e: Entry<'_>) -> Vec<u8> {
    e.to_cow().into_owned()
}

/// Collects a decoded value.
struct Collect {
    v: Canon,
}

impl Visitor for Collect {
    fn string(&mut self, s: Entry<'_>) -> VisitResult {
        self.v = Canon::Str(owned(s));
        Ok(())
    }
    fn element(&mut self, e: Entry<'_>) -> VisitResult {
        match &mut self.v {
            Canon::List(l) => l.push(owned(e)),
            Canon::Set(s) => {
                s.insert(owned(e));
            }
            _ => {}
        }
        Ok(())
    }
    fn zset_member(&mut self, member: Entry<'_>, score: f64) -> VisitResult {
        if let Canon::Zset(z) = &mut self.v {
            z.insert(owned(member), score);
        }
        Ok(())
    }
    fn hash_field(&mut self, f: Entry<'_>, v: Entry<'_>, _ttl: Option<i64>) -> VisitResult {
        if let Canon::Hash(h) = &mut self.v {
            h.insert(owned(f), owned(v));
        }
        Ok(())
    }
    fn stream_entry(&mut self, id: StreamId) -> VisitResult {
        if let Canon::Stream(s) = &mut self.v {
            s.push((format!("{}-{}", id.ms, id.seq), Vec::new()));
        }
        Ok(())
    }
    fn stream_field(&mut self, f: Entry<'_>, v: Entry<'_>) -> VisitResult {
        if let Canon::Stream(s) = &mut self.v {
            if let Some((_, fv)) = s.last_mut() {
                fv.push(owned(f));
                fv.push(owned(v));
            }
        }
        Ok(())
    }
}

fn canon_of(k: &KeyRecord<'_>, scratch: &mut Scratch) -> Result<Canon, String> {
    let start = match k.value.ty.family() {
        "string" => Canon::Str(Vec::new()),
        "list" => Canon::List(Vec::new()),
        "set" => Canon::Set(BTreeSet::new()),
        "zset" => Canon::Zset(BTreeMap::new()),
        "hash" => Canon::Hash(BTreeMap::new()),
        "stream" => Canon::Stream(Vec::new()),
        _ => return Ok(Canon::Module),
    };
    let mut c = Collect { v: start };
    k.value
        .visit(scratch, &mut c, false)
        .map_err(|e| e.to_string())?;
    Ok(c.v)
}

/// A key of the backup: its value and absolute expiry.
struct Expected {
    value: Canon,
    expire_ms: Option<i64>,
}

/// What the comparison found.
#[derive(Debug, Default)]
pub struct Diff {
    pub db: i64,
    pub backup_keys: u64,
    pub server_keys: u64,
    pub compared: u64,
    pub sample: Option<usize>,
    pub missing: Vec<Vec<u8>>,
    /// In the backup with an expiry that has passed since: gone on the server, as it should be.
    pub expired: u64,
    pub extra: Vec<Vec<u8>>,
    pub different: Vec<(Vec<u8>, String)>,
    pub notes: Vec<String>,
}

impl Diff {
    pub fn equal(&self) -> bool {
        self.missing.is_empty()
            && self.extra.is_empty()
            && self.different.is_empty()
            && (self.sample.is_none() || self.server_keys + self.expired == self.backup_keys)
    }
}

/// The host of a Redis URL is this machine.
pub fn is_local(addr: &ConnectionAddr) -> bool {
    let host = match addr {
        ConnectionAddr::Tcp(h, _) => h,
        ConnectionAddr::TcpTls { host, .. } => host,
        ConnectionAddr::Unix(_) => return true,
        _ => return false,
    };
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Opens a read connection, refusing a non-loopback host unless `allow_remote`.
pub fn connect(url: &str, allow_remote: bool) -> Result<(redis::Connection, i64), String> {
    let client = redis::Client::open(url).map_err(|e| format!("bad server URL {url:?}: {e}"))?;
    let info = client.get_connection_info();
    if !allow_remote && !is_local(info.addr()) {
        return Err(format!(
            "refusing to connect to {}: not a loopback address (127.0.0.0/8, ::1, localhost); \
             pass --allow-remote to compare with another host",
            info.addr()
        ));
    }
    let db = info.redis_settings().db();
    let con = client
        .get_connection_with_timeout(Duration::from_secs(10))
        .map_err(|e| format!("can't connect to {}: {e}", info.addr()))?;
    let _ = con.set_read_timeout(Some(Duration::from_secs(60)));
    Ok((con, db))
}

/// A tiny deterministic generator for the sample (xorshift64*).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// Reads the backup's keys of `db`: all of them, or a uniform sample of `sample`.
fn read_backup(
    path: &std::path::Path,
    db: u64,
    sample: Option<usize>,
    seed: u64,
) -> Result<(HashMap<Vec<u8>, Expected>, u64), String> {
    let mut keys: HashMap<Vec<u8>, Expected> = HashMap::new();
    let mut reservoir: Vec<Vec<u8>> = Vec::new();
    let mut seen = 0u64;
    let mut rng = Rng(seed | 1);
    let mut scratch = Scratch::new();
    super::decode::for_each_key(path, |k| {
        if k.db != db {
            return Ok(());
        }
        seen += 1;
        let slot = match sample {
            None => None,
            Some(n) if reservoir.len() < n => {
                reservoir.push(k.key.to_vec());
                None
            }
            Some(_) => {
                let j = rng.below(seen) as usize;
                match reservoir.get_mut(j) {
                    Some(old) => Some(std::mem::replace(old, k.key.to_vec())),
                    None => return Ok(()),
                }
            }
        };
        if let Some(old) = slot {
            keys.remove(&old);
        }
        let value =
            canon_of(k, &mut scratch).map_err(|e| format!("key {}: {e}", show_key(k.key)))?;
        keys.insert(
            k.key.to_vec(),
            Expected {
                value,
                expire_ms: k.expire_ms,
            },
        );
        Ok(())
    })?;
    Ok((keys, seen))
}

pub fn show_key(k: &[u8]) -> String {
    let mut s = String::new();
    let _ = rdbkit_rdb::error::write_key_repr(&mut s, k);
    s
}

fn bytes_of(v: &RValue) -> Option<Vec<u8>> {
    match v {
        RValue::BulkString(b) => Some(b.clone()),
        RValue::SimpleString(s) => Some(s.as_bytes().to_vec()),
        RValue::Okay => Some(b"OK".to_vec()),
        RValue::Int(i) => Some(i.to_string().into_bytes()),
        RValue::Double(d) => Some(d.to_string().into_bytes()),
        _ => None,
    }
}

fn items(v: &RValue) -> Option<&[RValue]> {
    match v {
        RValue::Array(a) | RValue::Set(a) => Some(a),
        _ => None,
    }
}

fn parse_score(v: &RValue) -> Option<f64> {
    if let RValue::Double(d) = v {
        return Some(*d);
    }
    let b = bytes_of(v)?;
    let s = std::str::from_utf8(&b).ok()?;
    match s {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// The server's reply to the typed read for `family`, in canonical form.
fn canon_from_server(family: &str, v: &RValue) -> Option<Canon> {
    let list = || -> Option<Vec<Vec<u8>>> { items(v)?.iter().map(bytes_of).collect() };
    let pairs = || -> Option<Vec<(&RValue, &RValue)>> {
        match v {
            RValue::Map(m) => Some(m.iter().map(|(a, b)| (a, b)).collect()),
            _ => {
                let it = items(v)?;
                if it.len() % 2 != 0 {
                    return None;
                }
                Some(
                    it.chunks(2)
                        .filter_map(|c| Some((c.first()?, c.get(1)?)))
                        .collect(),
                )
            }
        }
    };
    Some(match family {
        "string" => Canon::Str(bytes_of(v)?),
        "list" => Canon::List(list()?),
        "set" => Canon::Set(list()?.into_iter().collect()),
        "zset" => Canon::Zset(
            pairs()?
                .into_iter()
                .map(|(m, s)| Some((bytes_of(m)?, parse_score(s)?)))
                .collect::<Option<_>>()?,
        ),
        "hash" => Canon::Hash(
            pairs()?
                .into_iter()
                .map(|(f, x)| Some((bytes_of(f)?, bytes_of(x)?)))
                .collect::<Option<_>>()?,
        ),
        "stream" => Canon::Stream(
            items(v)?
                .iter()
                .map(|e| {
                    let e = items(e)?;
                    let id = String::from_utf8(bytes_of(e.first()?)?).ok()?;
                    let fv = match e.get(1)? {
                        RValue::Nil => Vec::new(),
                        x => items(x)?.iter().map(bytes_of).collect::<Option<_>>()?,
                    };
                    Some((id, fv))
                })
                .collect::<Option<_>>()?,
        ),
        _ => Canon::Module,
    })
}

fn read_cmd(pipe: &mut redis::Pipeline, family: &str, key: &[u8]) -> bool {
    match family {
        "string" => pipe.cmd("GET").arg(key),
        "list" => pipe.cmd("LRANGE").arg(key).arg(0).arg(-1),
        "set" => pipe.cmd("SMEMBERS").arg(key),
        "zset" => pipe.cmd("ZRANGE").arg(key).arg(0).arg(-1).arg("WITHSCORES"),
        "hash" => pipe.cmd("HGETALL").arg(key),
        "stream" => pipe.cmd("XRANGE").arg(key).arg("-").arg("+"),
        _ => return false,
    };
    true
}

/// How two values differ, in a few words.
fn describe(expected: &Canon, got: &Canon) -> String {
    match (expected, got) {
        (Canon::Str(a), Canon::Str(b)) if a.len() <= 64 && b.len() <= 64 => format!(
            "string value differs: {} in the backup, {} on the server",
            show_key(a),
            show_key(b)
        ),
        (Canon::Str(a), Canon::Str(b)) => format!(
            "string value differs ({} bytes in the backup, {} on the server)",
            a.len(),
            b.len()
        ),
        (Canon::Hash(a), Canon::Hash(b)) => {
            let changed = a.iter().filter(|(f, v)| b.get(*f) != Some(v)).count();
            let added = b.keys().filter(|f| !a.contains_key(*f)).count();
            format!("hash differs: {changed} fields missing or changed, {added} added")
        }
        (a, b) if a.len() != b.len() => format!(
            "{} differs: {} items in the backup, {} on the server",
            a.family(),
            a.len(),
            b.len()
        ),
        (a, _) => format!("{} content differs (same length)", a.family()),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Compares the keys of the backup's db (the URL's, default 0) with the server.
pub fn compare(
    backup: &std::path::Path,
    url: &str,
    sample: Option<usize>,
    allow_remote: bool,
) -> Result<Diff, String> {
    if let Ok(i) = crate::input::open(backup) {
        let aof_name = backup
            .to_string_lossy()
            .to_ascii_lowercase()
            .contains(".aof");
        if !i.is_rdb() || aof_name {
            return Err(format!(
                "{}: --against compares an RDB backup; this is an AOF ({}): restore it, then \
                 compare the server with an RDB it saves, or use `rdbkit diff`",
                backup.display(),
                i.kind.name()
            ));
        }
    }
    let (mut con, db) = connect(url, allow_remote)?;
    let db_u = u64::try_from(db).map_err(|_| format!("bad db {db} in {url:?}"))?;
    let seed = now_ms() as u64;
    let (expected, backup_keys) = read_backup(backup, db_u, sample, seed)?;
    let mut d = Diff {
        db,
        backup_keys,
        sample,
        ..Diff::default()
    };
    let q = |e: redis::RedisError| format!("server error: {e}");
    d.server_keys = redis::cmd("DBSIZE").query::<u64>(&mut con).map_err(q)?;

    // The server's keys: all of them (SCAN), or just the sample's.
    let mut present: HashSet<Vec<u8>> = HashSet::new();
    if sample.is_none() {
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query(&mut con)
                .map_err(q)?;
            present.extend(batch);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let mut extra: Vec<Vec<u8>> = present
            .iter()
            .filter(|k| !expected.contains_key(*k))
            .cloned()
            .collect();
        extra.sort();
        d.extra = extra;
    }

    let now = now_ms();
    let mut keys: Vec<&Vec<u8>> = expected.keys().collect();
    keys.sort();
    let mut pexpiretime_ok = true;
    for chunk in keys.chunks(BATCH) {
        // Round 1: type and expiry.
        let mut p = redis::pipe();
        p.ignore_errors();
        for k in chunk {
            p.cmd("TYPE").arg(k.as_slice());
            p.cmd("PEXPIRETIME").arg(k.as_slice());
        }
        let r: Vec<RedisResult<RValue>> = p.query(&mut con).map_err(q)?;
        let mut to_read: Vec<(&Vec<u8>, &Expected)> = Vec::new();
        for (i, k) in chunk.iter().enumerate() {
            let Some(exp) = expected.get(*k) else {
                continue;
            };
            let ty = r
                .get(2 * i)
                .and_then(|x| x.as_ref().ok())
                .and_then(bytes_of)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            if ty == "none" {
                if exp.expire_ms.is_some_and(|t| t <= now) {
                    d.expired += 1;
                } else {
                    d.missing.push((*k).clone());
                }
                continue;
            }
            let family = exp.value.family();
            let server_family = ty.as_str();
            // A module value's TYPE is the module's own type name.
            let builtin = ["string", "list", "set", "zset", "hash", "stream"];
            let same_type = if family == "module" {
                !builtin.contains(&server_family)
            } else {
                server_family == family
            };
            if !same_type {
                d.different.push((
                    (*k).clone(),
                    format!("type differs: {family} in the backup, {server_family} on the server"),
                ));
                continue;
            }
            match r.get(2 * i + 1) {
                Some(Ok(RValue::Int(t))) => {
                    let server_exp = (*t >= 0).then_some(*t);
                    if server_exp != exp.expire_ms {
                        d.different.push((
                            (*k).clone(),
                            format!(
                                "expiry differs: {} in the backup, {} on the server",
                                exp.expire_ms.map_or("none".into(), |t| format!("{t} ms")),
                                server_exp.map_or("none".into(), |t| format!("{t} ms"))
                            ),
                        ));
                        continue;
                    }
                }
                _ => pexpiretime_ok = false,
            }
            to_read.push((k, exp));
        }
        // Round 2: the values.
        let mut p = redis::pipe();
        p.ignore_errors();
        let mut asked = Vec::new();
        for (k, exp) in &to_read {
            if read_cmd(&mut p, exp.value.family(), k) {
                asked.push((*k, *exp));
            } else {
                d.compared += 1;
            }
        }
        if asked.is_empty() {
            continue;
        }
        let r: Vec<RedisResult<RValue>> = p.query(&mut con).map_err(q)?;
        for ((k, exp), got) in asked.into_iter().zip(r) {
            d.compared += 1;
            let family = exp.value.family();
            match got.map(|v| canon_from_server(family, &v)) {
                Ok(Some(v)) if v == exp.value => {}
                Ok(Some(v)) => d.different.push((k.clone(), describe(&exp.value, &v))),
                Ok(None) => d
                    .different
                    .push((k.clone(), format!("unexpected reply reading the {family}"))),
                Err(e) => d.different.push((k.clone(), format!("can't read: {e}"))),
            }
        }
    }
    if !pexpiretime_ok {
        d.notes
            .push("the server has no PEXPIRETIME (Redis < 7.0): expiries were not compared".into());
    }
    if expected.values().any(|e| e.value == Canon::Module) {
        d.notes
            .push("module values: only their presence and type were compared".into());
    }
    d.missing.sort();
    d.different.sort();
    Ok(d)
}

/// The comparison as text.
pub fn human(d: &Diff, backup: &str, url: &str) -> String {
    let mut s = String::new();
    for k in &d.missing {
        let _ = writeln!(
            s,
            "MISSING   {} (in the backup, not on the server)",
            show_key(k)
        );
    }
    for k in &d.extra {
        let _ = writeln!(
            s,
            "EXTRA     {} (on the server, not in the backup)",
            show_key(k)
        );
    }
    for (k, why) in &d.different {
        let _ = writeln!(s, "DIFFERENT {}: {why}", show_key(k));
    }
    for n in &d.notes {
        let _ = writeln!(s, "note: {n}");
    }
    let scope = match d.sample {
        Some(n) => format!(
            "a sample of {} of the backup's {} keys",
            n.min(d.backup_keys as usize),
            d.backup_keys
        ),
        None => format!("all {} keys of the backup", d.backup_keys),
    };
    let _ = writeln!(
        s,
        "{backup} vs {url} (db {}): compared {scope}; server holds {} keys; {} missing, {} extra, {} different, {} expired since the save: {}",
        d.db,
        d.server_keys,
        d.missing.len(),
        d.extra.len(),
        d.different.len(),
        d.expired,
        if d.equal() { "EQUAL" } else { "DIFFERENT" }
    );
    if d.sample.is_some() && d.server_keys + d.expired != d.backup_keys {
        let _ = writeln!(
            s,
            "key counts differ: {} in the backup's db {}, {} on the server",
            d.backup_keys, d.db, d.server_keys
        );
    }
    s
}

/// The comparison as one JSON object.
pub fn json(d: &Diff, backup: &str, url: &str) -> String {
    use rdbkit_aof::dump::json_bytes;
    let mut o = Vec::new();
    let js = |o: &mut Vec<u8>, s: &str| rdbkit_aof::dump::json_str(o, s.as_bytes());
    o.extend_from_slice(b"{\"backup\":");
    js(&mut o, backup);
    o.extend_from_slice(b",\"server\":");
    js(&mut o, url);
    o.extend_from_slice(
        format!(
            ",\"db\":{},\"equal\":{},\"backup_keys\":{},\"server_keys\":{},\"compared\":{},\"expired\":{},\"sample\":{},\"missing\":[",
            d.db,
            d.equal(),
            d.backup_keys,
            d.server_keys,
            d.compared,
            d.expired,
            d.sample.map_or("null".into(), |n| n.to_string())
        )
        .as_bytes(),
    );
    for (i, k) in d.missing.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        json_bytes(&mut o, k);
    }
    o.extend_from_slice(b"],\"extra\":[");
    for (i, k) in d.extra.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        json_bytes(&mut o, k);
    }
    o.extend_from_slice(b"],\"different\":[");
    for (i, (k, why)) in d.different.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.extend_from_slice(b"{\"key\":");
        json_bytes(&mut o, k);
        o.extend_from_slice(b",\"why\":");
        js(&mut o, why);
        o.push(b'}');
    }
    o.extend_from_slice(b"],\"notes\":[");
    for (i, n) in d.notes.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        js(&mut o, n);
    }
    o.extend_from_slice(b"]}");
    String::from_utf8_lossy(&o).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only() {
        let local =
            |u: &str| is_local(redis::Client::open(u).unwrap().get_connection_info().addr());
        assert!(local("redis://127.0.0.1:6379/0"));
        assert!(local("redis://127.0.0.2:6379"));
        assert!(local("redis://localhost:6379"));
        assert!(local("redis://[::1]:6379"));
        assert!(!local("redis://10.0.0.5:6379"));
        assert!(!local("redis://cache.example.com:6379"));
    }
}
