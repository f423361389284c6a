//! `rdbkit verify BACKUP --against redis://HOST:PORT[/db]`: after a restore drill, compare the
//! live server with the backup key by key, in every db either side holds (or the named ones).
//! The backup is an RDB (streamed) or an AOF (replayed). Read-only: INFO keyspace, SELECT, SCAN
//! (bounded), TYPE, PEXPIRETIME, DBSIZE and the typed reads (GET, LRANGE, SMEMBERS, ZRANGE,
//! HGETALL, XRANGE), pipelined in batches. The URL's password is never printed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use rdbkit_rdb::{Entry, KeyRecord, Scratch, StreamId, VisitResult, Visitor};
use redis::{ConnectionAddr, RedisResult, Value as RValue};

use crate::model::MValue;
use crate::time::now_ms;

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
    /// Redis 8.8 arrays: the type is compared, not the content (no server that holds arrays
    /// is available to test a content comparison against).
    Array,
    /// A key of an AOF backup whose value the replay cannot reproduce (why, and where): never
    /// reported equal.
    Unknown(String),
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
            Canon::Array => "array",
            Canon::Unknown(_) => "unknown",
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
            Canon::Module | Canon::Array | Canon::Unknown(_) => 0,
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
    use rdbkit_rdb::Family;
    let start = match k.value.ty.family_kind() {
        Family::String => Canon::Str(Vec::new()),
        Family::List => Canon::List(Vec::new()),
        Family::Set => Canon::Set(BTreeSet::new()),
        Family::Zset => Canon::Zset(BTreeMap::new()),
        Family::Hash => Canon::Hash(BTreeMap::new()),
        Family::Stream => Canon::Stream(Vec::new()),
        Family::Array => return Ok(Canon::Array),
        // Family::Module, and whatever family a later format adds: type compared only.
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

/// What the comparison found in one db.
#[derive(Debug, Default)]
pub struct DbDiff {
    /// The db number.
    pub db: u64,
    /// The backup's keys in this db (all of them, also when only a sample is compared).
    pub backup_keys: u64,
    /// The server's DBSIZE, read after the comparison.
    pub server_keys: u64,
    /// Keys whose type, expiry and value were compared.
    pub compared: u64,
    /// In the backup, not on the server.
    pub missing: Vec<Vec<u8>>,
    /// In the backup with an expiry that has passed since: gone on the server, as it should be.
    pub expired: u64,
    /// On the server, not in the backup (full comparison only).
    pub extra: Vec<Vec<u8>>,
    /// On both sides, different: the key and what differs.
    pub different: Vec<(Vec<u8>, String)>,
    /// The key counts don't add up (DBSIZE vs what the comparison saw): why, in words.
    pub count_mismatch: Option<String>,
}

impl DbDiff {
    pub fn equal(&self) -> bool {
        self.missing.is_empty()
            && self.extra.is_empty()
            && self.different.is_empty()
            && self.count_mismatch.is_none()
    }
}

/// What the comparison found.
#[derive(Debug, Default)]
pub struct Diff {
    /// The dbs compared, ascending.
    pub dbs: Vec<DbDiff>,
    /// The dbs were named (URL path or --db) rather than found on both sides.
    pub named: bool,
    /// `--sample N`: N keys compared, plus the counts.
    pub sample: Option<usize>,
    /// The backup is an AOF, replayed to get its data set.
    pub replayed: bool,
    /// What was not compared, and why.
    pub notes: Vec<String>,
}

impl Diff {
    pub fn equal(&self) -> bool {
        self.dbs.iter().all(DbDiff::equal)
    }
    fn sum(&self, f: impl Fn(&DbDiff) -> u64) -> u64 {
        self.dbs.iter().map(f).sum()
    }
}

/// The URL with its password (and any `password=`/`pass=` query parameter) replaced by `***`,
/// for every message, report and metric.
pub fn redact(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    // The userinfo runs to the last '@' before any query or fragment, so that a password
    // holding '/' or '@' (not percent-encoded) is still hidden whole.
    let before_query = rest.find(['?', '#']).unwrap_or(rest.len());
    let (authority, tail) = match rest.get(..before_query).and_then(|r| r.rfind('@')) {
        Some(at) => {
            let (userinfo, after) = rest.split_at(at);
            let host_end = after
                .get(1..)
                .and_then(|a| a.find(['/', '?', '#']))
                .map_or(after.len(), |i| i + 1);
            let (host, tail) = after.split_at(host_end);
            let userinfo = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => userinfo.to_string(),
            };
            (format!("{userinfo}{host}"), tail)
        }
        None => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (a, t) = rest.split_at(end);
            (a.to_string(), t)
        }
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let q: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _))
                        if k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("pass") =>
                    {
                        format!("{k}=***")
                    }
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", q.join("&"))
        }
        None => tail.to_string(),
    };
    let out = match scheme {
        Some(s) => format!("{s}://{authority}{tail}"),
        None => format!("{authority}{tail}"),
    };
    crate::escape::text(&out)
}

/// The password in a URL's userinfo (`redis://user:PASSWORD@host`), found as [`redact`] finds
/// it (to the last '@' before any query), or in a `password=`/`pass=` query parameter.
pub fn password_of(url: &str) -> Vec<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let before_query = rest.find(['?', '#']).unwrap_or(rest.len());
    let mut out = Vec::new();
    if let Some(userinfo) = rest
        .get(..before_query)
        .and_then(|r| r.rfind('@').and_then(|at| r.get(..at)))
    {
        if let Some((_, pw)) = userinfo.split_once(':') {
            out.push(pw);
        }
    }
    if let Some(query) = rest.get(before_query..).and_then(|q| q.strip_prefix('?')) {
        for kv in query.split(['&', '#']) {
            if let Some((k, v)) = kv.split_once('=') {
                if k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("pass") {
                    out.push(v);
                }
            }
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

/// The db named in the URL's path (`redis://host:port/2`), if any.
fn db_in_url(url: &str) -> Result<Option<u64>, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok(None);
    };
    if scheme.contains("unix") {
        return Ok(None);
    }
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let Some((_, path)) = rest.split_once('/') else {
        return Ok(None);
    };
    let path = path.trim_matches('/');
    if path.is_empty() {
        return Ok(None);
    }
    path.parse::<u64>()
        .map(Some)
        .map_err(|_| format!("bad db {:?} in the server URL {}", path, redact(url)))
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

/// A server error in words; a timeout says how long was waited.
fn server_error(e: &redis::RedisError, timeout: Duration) -> String {
    if e.is_timeout() {
        format!(
            "the server did not answer: timed out after {} s (--timeout)",
            timeout.as_secs()
        )
    } else {
        format!("server error: {e}")
    }
}

/// Opens a read connection, refusing a non-loopback host unless `allow_remote`. The
/// connection and every read time out after `timeout`.
pub fn connect(
    url: &str,
    allow_remote: bool,
    timeout: Duration,
    tls: &crate::cmd::restore::tls::TlsArgs,
) -> Result<redis::Connection, String> {
    use redis::IntoConnectionInfo;
    let info = url
        .into_connection_info()
        .map_err(|e| format!("bad server URL {}: {e}", redact(url)))?;
    let info = crate::cmd::restore::tls::apply(info, tls)?;
    let client =
        redis::Client::open(info).map_err(|e| format!("bad server URL {}: {e}", redact(url)))?;
    let info = client.get_connection_info();
    if !allow_remote && !is_local(info.addr()) {
        return Err(format!(
            "refusing to connect to {}: not a loopback address (127.0.0.0/8, ::1, localhost); \
             pass --allow-remote to compare with another host",
            crate::escape::text(&info.addr().to_string())
        ));
    }
    let addr = crate::escape::text(&info.addr().to_string());
    let con = client
        .get_connection_with_timeout(timeout)
        .map_err(|e| format!("can't connect to {addr}: {}", server_error(&e, timeout)))?;
    con.set_read_timeout(Some(timeout))
        .and_then(|_| con.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("{addr}: {}", server_error(&e, timeout)))?;
    Ok(con)
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

/// The backup's keys (of the dbs `want` accepts): all of them, or a uniform sample; and the
/// count of keys per db.
struct BackupKeys {
    keys: HashMap<(u64, Vec<u8>), Expected>,
    per_db: BTreeMap<u64, u64>,
}

/// Reservoir sampling over the keys as they come.
struct Sampler {
    sample: Option<usize>,
    reservoir: Vec<(u64, Vec<u8>)>,
    seen: u64,
    rng: Rng,
}

impl Sampler {
    /// Whether to keep this key, and which earlier one it evicts.
    fn offer(&mut self, db: u64, key: &[u8]) -> (bool, Option<(u64, Vec<u8>)>) {
        self.seen += 1;
        match self.sample {
            None => (true, None),
            Some(n) if self.reservoir.len() < n => {
                self.reservoir.push((db, key.to_vec()));
                (true, None)
            }
            Some(_) => {
                let j = self.rng.below(self.seen) as usize;
                match self.reservoir.get_mut(j) {
                    Some(old) => (true, Some(std::mem::replace(old, (db, key.to_vec())))),
                    None => (false, None),
                }
            }
        }
    }
}

fn canon_of_model(v: &MValue) -> Canon {
    match v {
        MValue::String(b) => Canon::Str(b.clone()),
        MValue::List(l) => Canon::List(l.iter().cloned().collect()),
        MValue::Set(s) => Canon::Set(s.keys().cloned().collect()),
        MValue::Zset(z) => Canon::Zset(z.clone()),
        MValue::Hash(h) => {
            Canon::Hash(h.iter().map(|(f, (v, _))| (f.clone(), v.clone())).collect())
        }
        MValue::Stream(st) => Canon::Stream(
            st.entries
                .iter()
                .map(|(id, fv)| {
                    (
                        format!("{}-{}", id.ms, id.seq),
                        fv.iter()
                            .flat_map(|(f, v)| [f.clone(), v.clone()])
                            .collect(),
                    )
                })
                .collect(),
        ),
        MValue::Array { .. } => Canon::Array,
        MValue::Module { .. } => Canon::Module,
        // Never equal to what the server holds: the backup does not know the value.
        MValue::Unknown { reason, .. } => Canon::Unknown(reason.clone()),
    }
}

/// Reads the backup: an RDB streamed (deep validation, checksums), an AOF replayed.
fn read_backup(
    inp: crate::input::Input,
    is_aof: bool,
    want: &dyn Fn(u64) -> bool,
    sample: Option<usize>,
    seed: u64,
) -> Result<BackupKeys, String> {
    let mut out = BackupKeys {
        keys: HashMap::new(),
        per_db: BTreeMap::new(),
    };
    let mut sampler = Sampler {
        sample,
        reservoir: Vec::new(),
        seen: 0,
        rng: Rng(seed | 1),
    };
    if is_aof {
        let ds = super::replay::load_input(inp, now_ms())?;
        for (db, keys) in &ds.dbs {
            if !want(*db) {
                continue;
            }
            for (key, k) in keys {
                *out.per_db.entry(*db).or_default() += 1;
                let (keep, evict) = sampler.offer(*db, key);
                if let Some(old) = evict {
                    out.keys.remove(&old);
                }
                if keep {
                    out.keys.insert(
                        (*db, key.clone()),
                        Expected {
                            value: canon_of_model(&k.value),
                            expire_ms: k.expire_ms,
                        },
                    );
                }
            }
        }
        return Ok(out);
    }
    let mut scratch = Scratch::new();
    super::decode::for_each_key(inp, |k| {
        if !want(k.db) {
            return Ok(());
        }
        *out.per_db.entry(k.db).or_default() += 1;
        let (keep, evict) = sampler.offer(k.db, k.key);
        if let Some(old) = evict {
            out.keys.remove(&old);
        }
        if !keep {
            return Ok(());
        }
        let value =
            canon_of(k, &mut scratch).map_err(|e| format!("key {}: {e}", show_key(k.key)))?;
        out.keys.insert(
            (k.db, k.key.to_vec()),
            Expected {
                value,
                expire_ms: k.expire_ms,
            },
        );
        Ok(())
    })?;
    Ok(out)
}

/// A key (or a short value) in quotes for the report: [`crate::escape::bytes`] (C0, C1, bidi
/// and non-UTF-8 bytes as `\xHH`), a `"` as `\"`, and the first 256 bytes of a longer one.
pub fn show_key(k: &[u8]) -> String {
    const SHOWN: usize = 256;
    let head = k.get(..k.len().min(SHOWN)).unwrap_or(k);
    let mut s = format!("\"{}\"", crate::escape::bytes(head).replace('"', "\\\""));
    if k.len() > SHOWN {
        s.push_str(&format!("...({} bytes)", k.len()));
    }
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

/// How to compare.
pub struct Options {
    /// Compare N keys picked at random (plus the key counts) instead of all.
    pub sample: Option<usize>,
    /// Allow a host that is not loopback.
    pub allow_remote: bool,
    /// The dbs to compare (besides the URL's); empty: every db the backup or the server holds.
    pub dbs: Vec<u64>,
    /// Connect and read timeout.
    pub timeout: Duration,
    /// TLS (`--tls`, `--cacert`, `--cert`/`--key`, `--insecure`: `restore`'s flags).
    pub tls: crate::cmd::restore::tls::TlsArgs,
}

/// SCAN calls allowed per db before giving up on a server that never returns cursor 0: far
/// more than a real server needs (with COUNT 1000 it visits ~1000 buckets a call, and its table
/// holds at most a few buckets per key).
fn scan_call_limit(dbsize: u64) -> u64 {
    10_000 + dbsize / 100
}

/// The dbs the server holds keys in (INFO keyspace: `db3:keys=...`).
fn server_dbs(con: &mut redis::Connection, timeout: Duration) -> Result<BTreeSet<u64>, String> {
    let info: Vec<u8> = redis::cmd("INFO")
        .arg("keyspace")
        .query(con)
        .map_err(|e| server_error(&e, timeout))?;
    Ok(String::from_utf8_lossy(&info)
        .lines()
        .filter_map(|l| {
            let (name, _) = l.split_once(':')?;
            name.strip_prefix("db")?.parse().ok()
        })
        .collect())
}

/// Compares the backup with the server: every db either holds (or the named ones).
pub fn compare(backup: &std::path::Path, url: &str, opts: &Options) -> Result<Diff, String> {
    // Opened once: an archive is read in one pass, the kind learnt on the way.
    let inp = crate::input::open(backup).map_err(|e| e.to_string())?;
    let is_aof = !inp.is_rdb();
    let mut named: BTreeSet<u64> = opts.dbs.iter().copied().collect();
    if let Some(db) = db_in_url(url)? {
        named.insert(db);
    }
    let timeout = opts.timeout;
    let q = |e: redis::RedisError| server_error(&e, timeout);
    // The backup first: a damaged one (or an AOF the replay can't read through) is the
    // verdict, whatever the server.
    let seed = now_ms() as u64;
    let want = |db: u64| named.is_empty() || named.contains(&db);
    let b = read_backup(inp, is_aof, &want, opts.sample, seed)?;
    let mut con = connect(url, opts.allow_remote, timeout, &opts.tls)?;
    let dbs: BTreeSet<u64> = if named.is_empty() {
        let mut s = server_dbs(&mut con, timeout)?;
        s.extend(b.per_db.keys().copied());
        if s.is_empty() {
            s.insert(0);
        }
        s
    } else {
        named.clone()
    };
    let mut d = Diff {
        named: !named.is_empty(),
        sample: opts.sample,
        replayed: is_aof,
        ..Diff::default()
    };
    // Redis < 7.0 has no PEXPIRETIME; its error reply quotes the (maybe binary) key, which the
    // client cannot even parse: ask once, with COMMAND INFO, and use PTTL there instead.
    let mut pexpiretime_ok = has_command(&mut con, "PEXPIRETIME");
    for db in dbs {
        redis::cmd("SELECT")
            .arg(db)
            .query::<()>(&mut con)
            .map_err(|e| format!("can't select db {db}: {}", q(e)))?;
        let mut dd = DbDiff {
            db,
            backup_keys: b.per_db.get(&db).copied().unwrap_or(0),
            ..DbDiff::default()
        };
        let expected: BTreeMap<&Vec<u8>, &Expected> = b
            .keys
            .iter()
            .filter(|((kdb, _), _)| *kdb == db)
            .map(|((_, k), e)| (k, e))
            .collect();
        compare_db(
            &mut con,
            &mut dd,
            &expected,
            opts.sample.is_some(),
            timeout,
            &mut pexpiretime_ok,
        )?;
        d.dbs.push(dd);
    }
    if !pexpiretime_ok {
        d.notes.push(format!(
            "the server has no PEXPIRETIME (Redis < 7.0): expiries were compared through PTTL, \
             to within {PTTL_SLACK_MS} ms"
        ));
    }
    if b.keys
        .values()
        .any(|e| matches!(e.value, Canon::Module | Canon::Array))
    {
        d.notes
            .push("module and array values: only their presence and type were compared".into());
    }
    if is_aof {
        d.notes.push(
            "the backup is an AOF: its data set is the replay of its commands on its RDB part"
                .into(),
        );
    }
    Ok(d)
}

/// How far apart an expiry read through PTTL may be from the backup's (the time between the
/// clock read and the server's answer).
const PTTL_SLACK_MS: u64 = 2_000;

/// Whether the server knows `name` (`COMMAND INFO name`: an array, or nil when unknown).
fn has_command(con: &mut redis::Connection, name: &str) -> bool {
    matches!(
        redis::cmd("COMMAND").arg("INFO").arg(name).query::<RValue>(con),
        Ok(RValue::Array(v)) if v.first().is_some_and(|x| !matches!(x, RValue::Nil))
    )
}

/// One db (already selected): SCAN (full comparison), TYPE + PEXPIRETIME, typed reads, DBSIZE.
fn compare_db(
    con: &mut redis::Connection,
    d: &mut DbDiff,
    expected: &BTreeMap<&Vec<u8>, &Expected>,
    sampled: bool,
    timeout: Duration,
    pexpiretime_ok: &mut bool,
) -> Result<(), String> {
    let q = |e: redis::RedisError| server_error(&e, timeout);
    let db = d.db;
    let dbsize_before = redis::cmd("DBSIZE").query::<u64>(con).map_err(q)?;
    // The server's keys: all of them (SCAN), or just the sample's.
    let mut present: HashSet<Vec<u8>> = HashSet::new();
    if !sampled {
        let mut cursor: u64 = 0;
        let limit = scan_call_limit(dbsize_before);
        let mut calls = 0u64;
        loop {
            if calls >= limit {
                return Err(format!(
                    "db {db}: the server's SCAN did not return cursor 0 after {calls} calls \
                     ({} distinct keys returned, DBSIZE {dbsize_before}): giving up (a server \
                     finishes a scan in far fewer calls)",
                    present.len()
                ));
            }
            calls += 1;
            let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query(con)
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
    let keys: Vec<&Vec<u8>> = expected.keys().copied().collect();
    for chunk in keys.chunks(BATCH) {
        let now = now.max(now_ms()); // per batch: PTTL answers are relative to it
                                     // Round 1: type and expiry.
        let mut p = redis::pipe();
        p.ignore_errors();
        for k in chunk {
            p.cmd("TYPE").arg(k.as_slice());
            p.cmd(if *pexpiretime_ok {
                "PEXPIRETIME"
            } else {
                "PTTL"
            })
            .arg(k.as_slice());
        }
        let r: Vec<RedisResult<RValue>> = p.query(con).map_err(q)?;
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
            if let Canon::Unknown(why) = &exp.value {
                d.different.push((
                    (*k).clone(),
                    format!("value unknown in the backup ({why}): not comparable"),
                ));
                continue;
            }
            let family = exp.value.family();
            let server_family = ty.as_str();
            // A module value's TYPE is the module's own type name.
            let builtin = ["string", "list", "set", "zset", "hash", "stream", "array"];
            let same_type = if family == "module" {
                !builtin.contains(&server_family)
            } else {
                server_family == family
            };
            if !same_type {
                d.different.push((
                    (*k).clone(),
                    format!(
                        "type differs: {family} in the backup, {} on the server",
                        crate::escape::text(server_family)
                    ),
                ));
                continue;
            }
            if let Some(Ok(RValue::Int(t))) = r.get(2 * i + 1) {
                // PEXPIRETIME: absolute ms. PTTL (Redis < 7.0): ms left, made absolute with
                // the clock read before the batch, so equal within PTTL_SLACK_MS.
                let (server_exp, same) = if *pexpiretime_ok {
                    let e = (*t >= 0).then_some(*t);
                    (e, e == exp.expire_ms)
                } else {
                    let e = (*t >= 0).then_some(now.saturating_add(*t));
                    let same = match (e, exp.expire_ms) {
                        (Some(a), Some(b)) => a.abs_diff(b) <= PTTL_SLACK_MS,
                        (a, b) => a == b,
                    };
                    (e, same)
                };
                if !same {
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
        let r: Vec<RedisResult<RValue>> = p.query(con).map_err(q)?;
        for ((k, exp), got) in asked.into_iter().zip(r) {
            d.compared += 1;
            let family = exp.value.family();
            match got.map(|v| canon_from_server(family, &v)) {
                Ok(Some(v)) if v == exp.value => {}
                Ok(Some(v)) => d.different.push((k.clone(), describe(&exp.value, &v))),
                Ok(None) => d
                    .different
                    .push((k.clone(), format!("unexpected reply reading the {family}"))),
                Err(e) => d.different.push((
                    k.clone(),
                    format!("can't read: {}", crate::escape::text(&e.to_string())),
                )),
            }
        }
    }
    // The counts must add up: the server holds what the backup holds (less what expired since),
    // less the missing keys, plus the extra ones.
    d.server_keys = redis::cmd("DBSIZE").query::<u64>(con).map_err(q)?;
    let accounted =
        (d.backup_keys + d.extra.len() as u64).saturating_sub(d.expired + d.missing.len() as u64);
    if sampled {
        if d.server_keys + d.expired != d.backup_keys {
            d.count_mismatch = Some(format!(
                "key counts differ: {} in the backup's db {db}, {} on the server (DBSIZE)",
                d.backup_keys, d.server_keys
            ));
        }
    } else if d.server_keys != accounted {
        d.count_mismatch = Some(format!(
            "key counts differ: the server's DBSIZE is {} but the comparison accounts for {accounted} \
             keys in db {db} ({} in the backup, {} expired since, {} missing, {} extra; SCAN returned {})",
            d.server_keys,
            d.backup_keys,
            d.expired,
            d.missing.len(),
            d.extra.len(),
            present.len()
        ));
    }
    d.missing.sort();
    d.different.sort();
    Ok(())
}

/// The comparison as text.
pub fn human(d: &Diff, backup: &str, url: &str) -> String {
    let mut s = String::new();
    for dd in &d.dbs {
        let db = dd.db;
        for k in &dd.missing {
            let _ = writeln!(
                s,
                "MISSING   {} (db {db}: in the backup, not on the server)",
                show_key(k)
            );
        }
        for k in &dd.extra {
            let _ = writeln!(
                s,
                "EXTRA     {} (db {db}: on the server, not in the backup)",
                show_key(k)
            );
        }
        for (k, why) in &dd.different {
            let _ = writeln!(s, "DIFFERENT {} (db {db}): {why}", show_key(k));
        }
        if let Some(m) = &dd.count_mismatch {
            let _ = writeln!(s, "COUNT     db {db}: {m}");
        }
    }
    for n in &d.notes {
        let _ = writeln!(s, "note: {n}");
    }
    for dd in &d.dbs {
        let _ = writeln!(
            s,
            "  db {}: {} keys in the backup, {} on the server; compared {}: {} missing, {} extra, {} different, {} expired since the save{}",
            dd.db,
            dd.backup_keys,
            dd.server_keys,
            dd.compared,
            dd.missing.len(),
            dd.extra.len(),
            dd.different.len(),
            dd.expired,
            if dd.equal() { "" } else { ": DIFFERENT" }
        );
    }
    let backup_keys = d.sum(|x| x.backup_keys);
    let scope = match d.sample {
        Some(n) => format!(
            "a sample of {} of the backup's {backup_keys} keys",
            n.min(backup_keys as usize)
        ),
        None => format!("all {backup_keys} keys of the backup"),
    };
    let dbs: Vec<String> = d.dbs.iter().map(|x| x.db.to_string()).collect();
    let _ = writeln!(
        s,
        "{} vs {} ({} {}): compared {scope}; server holds {} keys; {} missing, {} extra, {} different, {} expired since the save: {}",
        crate::escape::text(backup),
        redact(url),
        if dbs.len() == 1 { "db" } else { "dbs" },
        dbs.join(", "),
        d.sum(|x| x.server_keys),
        d.sum(|x| x.missing.len() as u64),
        d.sum(|x| x.extra.len() as u64),
        d.sum(|x| x.different.len() as u64),
        d.sum(|x| x.expired),
        if d.equal() { "EQUAL" } else { "DIFFERENT" }
    );
    s
}

fn json_keys(o: &mut Vec<u8>, keys: &[Vec<u8>]) {
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        rdbkit_aof::dump::json_bytes(o, k);
    }
}

fn json_different(o: &mut Vec<u8>, db: u64, list: &[(Vec<u8>, String)], first: &mut bool) {
    for (k, why) in list {
        if !std::mem::take(first) {
            o.push(b',');
        }
        o.extend_from_slice(format!("{{\"db\":{db},\"key\":").as_bytes());
        rdbkit_aof::dump::json_bytes(o, k);
        o.extend_from_slice(b",\"why\":");
        rdbkit_aof::dump::json_str(o, why.as_bytes());
        o.push(b'}');
    }
}

/// The comparison as one JSON object: totals, the keys of every db (`missing`/`extra` as
/// keys, `different` with their db), and `dbs` with each db's own counts and lists.
pub fn json(d: &Diff, backup: &str, url: &str) -> String {
    let mut o = Vec::new();
    let js = |o: &mut Vec<u8>, s: &str| rdbkit_aof::dump::json_str(o, s.as_bytes());
    o.extend_from_slice(b"{\"backup\":");
    js(&mut o, backup);
    o.extend_from_slice(b",\"server\":");
    js(&mut o, &redact(url));
    let single = match d.dbs.as_slice() {
        [one] if d.named => one.db.to_string(),
        _ => "null".into(),
    };
    o.extend_from_slice(
        format!(
            ",\"db\":{single},\"equal\":{},\"replayed\":{},\"backup_keys\":{},\"server_keys\":{},\"compared\":{},\"expired\":{},\"sample\":{},\"missing\":[",
            d.equal(),
            d.replayed,
            d.sum(|x| x.backup_keys),
            d.sum(|x| x.server_keys),
            d.sum(|x| x.compared),
            d.sum(|x| x.expired),
            d.sample.map_or("null".into(), |n| n.to_string())
        )
        .as_bytes(),
    );
    let all = |f: &dyn Fn(&DbDiff) -> &Vec<Vec<u8>>| -> Vec<Vec<u8>> {
        d.dbs.iter().flat_map(|x| f(x).iter().cloned()).collect()
    };
    json_keys(&mut o, &all(&|x| &x.missing));
    o.extend_from_slice(b"],\"extra\":[");
    json_keys(&mut o, &all(&|x| &x.extra));
    o.extend_from_slice(b"],\"different\":[");
    let mut first = true;
    for x in &d.dbs {
        json_different(&mut o, x.db, &x.different, &mut first);
    }
    o.extend_from_slice(b"],\"dbs\":[");
    for (i, x) in d.dbs.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.extend_from_slice(
            format!(
                "{{\"db\":{},\"equal\":{},\"backup_keys\":{},\"server_keys\":{},\"compared\":{},\"expired\":{},\"count_mismatch\":",
                x.db,
                x.equal(),
                x.backup_keys,
                x.server_keys,
                x.compared,
                x.expired
            )
            .as_bytes(),
        );
        match &x.count_mismatch {
            Some(m) => js(&mut o, m),
            None => o.extend_from_slice(b"null"),
        }
        o.extend_from_slice(b",\"missing\":[");
        json_keys(&mut o, &x.missing);
        o.extend_from_slice(b"],\"extra\":[");
        json_keys(&mut o, &x.extra);
        o.extend_from_slice(b"],\"different\":[");
        let mut first = true;
        json_different(&mut o, x.db, &x.different, &mut first);
        o.extend_from_slice(b"]}");
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

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("redis://:s3cret@127.0.0.1:6379/2"),
            "redis://:***@127.0.0.1:6379/2"
        );
        assert_eq!(
            redact("redis://admin:p@ss:w/rd@localhost:6379"),
            "redis://admin:***@localhost:6379"
        );
        assert_eq!(redact("redis://user@h:1/0"), "redis://user@h:1/0");
        assert_eq!(
            redact("redis+unix:///run/redis.sock?db=1&pass=s3cret"),
            "redis+unix:///run/redis.sock?db=1&pass=***"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert!(!redact("redis://:s3cret@[::1]:6379").contains("s3cret"));
        assert_eq!(
            password_of("redis://admin:p@ss:w/rd@localhost:6379"),
            ["p@ss:w/rd"]
        );
        assert_eq!(password_of("redis+unix:///s.sock?pass=x1"), ["x1"]);
        assert!(password_of("redis://127.0.0.1:6379/0").is_empty());
    }

    #[test]
    fn keys_are_shown_escaped() {
        assert_eq!(show_key(b"plain"), "\"plain\"");
        assert_eq!(
            show_key("q\"\u{9b}\u{202e}é".as_bytes()),
            "\"q\\\"\\xc2\\x9b\\xe2\\x80\\xaeé\""
        );
        assert!(show_key(&[b'a'; 300]).ends_with("...(300 bytes)"));
    }

    #[test]
    fn db_from_the_url() {
        assert_eq!(db_in_url("redis://127.0.0.1:6379"), Ok(None));
        assert_eq!(db_in_url("redis://127.0.0.1:6379/"), Ok(None));
        assert_eq!(db_in_url("redis://:pw@127.0.0.1:6379/15"), Ok(Some(15)));
        assert!(db_in_url("redis://:pw@127.0.0.1:6379/x")
            .unwrap_err()
            .contains(":***@"));
    }
}
