//! `rdbkit restore BACKUP URL`: streams a backup (any input rdbkit reads: RDB of any version,
//! gzip'd, `-`, an AOF or `appendonlydir/`, replayed) into a running server or cluster with
//! pipelined `RESTORE key ttl payload [REPLACE] ABSTTL [IDLETIME n | FREQ n]`, the payloads
//! written for the server's RDB version, and the commands of `dump --format resp` for a key
//! whose payload the server cannot take.

mod net;
mod raw;
mod replica;
pub mod tls;

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use rdbkit_rdb::write::{dump_payload, loss, strip, Loss, Target};
use rdbkit_rdb::{Options, OwnedValue, Record, RecordSource, Scratch};
use redis::{ConnectionInfo, IntoConnectionInfo};

use crate::failure::Failure;
use crate::filter::Filter;
use crate::input::{self, Progress};
use crate::model::MKey;
use crate::verify::against::show_key;
pub use net::key_slot;
use net::{pack, put_array, put_bulk, put_bulk_len, put_uint, Fleet, Kind};

/// Redis's default `proto-max-bulk-len` (512 MB): a larger payload is sent as commands.
const MAX_PAYLOAD: usize = 512 << 20;

#[derive(clap::Args)]
#[command(
    after_help = "URL: redis://[[user]:password@]host:port[/db], rediss://... for TLS \
(or --tls; --cacert, --cert/--key, --insecure as redis-cli names them). The password may instead come from the environment, RDBKIT_PASSWORD or \
REDISCLI_AUTH, so it stays out of `ps`. With /db every key goes into that database (the backup \
must then hold one database, or pick one with --db); without it each key goes to its own db.

Existing keys: by default every target key is checked with EXISTS first and nothing is written \
if any exists (exit 3); the RESTOREs are sent without REPLACE, so a key created meanwhile is \
refused by the server, never overwritten. --replace overwrites; --skip-existing leaves existing \
keys alone and counts them.

Cluster (--cluster, or found with INFO cluster): keys go to the master owning their hash slot \
(CRC16, {hash tags}) per CLUSTER SLOTS, one pipeline per node; MOVED and ASK are followed.

Hash field TTLs (Redis 7.4+) into a server without them (Redis before 7.4, Valkey before 9): \
the backup is checked first and refused naming the first such key (exit 1, nothing written), \
unless --drop field-ttl restores those hashes without their field TTLs (counted).

Keys the server cannot take as a RESTORE payload (payloads over 512 MB) are recreated with the \
commands of `dump --format resp`. Module values \
and 8.8 arrays that the server cannot take are skipped and counted.

Full restore by replication (--sync): the server becomes a replica of rdbkit for one full \
sync (REPLICAOF; rdbkit listens on 127.0.0.1, or --listen ADDR:PORT for a remote server) and \
loads the backup as a replica loads its master's RDB: as fast as a restart. A plain RDB file the \
server reads is sent as it is while its deep check runs, and the end of the transfer only once \
the check passed (a damaged backup: the link is closed first and the server discards it); \
anything else is converted on the fly for it (filters apply). The summary says which \
(transfer: raw or converted). Then REPLICAOF NO ONE, and the key count of every db is checked. \
--diskless-load sets repl-diskless-load on-empty-db for the sync and puts it back afterwards. \
Only the server may connect (its REPLCONF listening-port; a loopback peer for a local server). \
A standalone master only: refused for a cluster node or a replica, for a server holding any key \
or function library (exit 3, nothing changed; --flush to replace its data set) and for one with \
replicas attached (--force). With repl-diskless-load disabled (the default) the server writes \
the received RDB over its dbfilename (dump.rdb); with appendonly yes it rewrites its AOF after \
the load. On a failure after REPLICAOF the server is made a master again (REPLICAOF NO ONE) and \
the message says what it holds.

Exit status: 0 restored; 1 bad arguments, backup not readable, server unreachable, \
authentication or TLS failed, or field TTLs the server cannot keep (nothing written); 2 the backup is damaged (keys before the damage were \
restored, the summary says how many); 3 existing keys (default policy; nothing written); 4 the \
server refused a key (the error names it: OOM, BUSYKEY, ...) or the connection was lost \
mid-way (the summary says how many keys were confirmed).

Examples:
  rdbkit restore backup.rdb.gz redis://127.0.0.1:6379 --match 'user:42*'
  RDBKIT_PASSWORD=... rdbkit restore --replace dump.rdb redis://admin@127.0.0.1:6379/0
  rdbkit restore --cluster dump.rdb redis://127.0.0.1:7000
  rdbkit restore --sync dump.rdb redis://127.0.0.1:6379      # a fresh server, by replication"
)]
pub struct Args {
    /// From a pipe or a compressed stream, hold each value whole up to this many bytes (its
    /// decompressed size) and refuse a bigger one, naming the key; a file is mapped and needs no
    /// limit. Default 512 MiB, Redis's limit on one string (`proto-max-bulk-len`).
    #[arg(long, default_value_t = rdbkit_rdb::DEFAULT_MAX_VALUE_BYTES, value_name = "BYTES")]
    pub max_value_bytes: u64,
    /// Overwrite keys that exist on the server.
    #[arg(long, conflicts_with = "skip_existing")]
    pub replace: bool,
    /// Leave keys that exist on the server alone (counted).
    #[arg(long)]
    pub skip_existing: bool,
    /// Route keys by hash slot to the masters of a Redis Cluster (found automatically too).
    #[arg(long)]
    pub cluster: bool,
    /// Allow a server that is not on this machine.
    #[arg(long)]
    pub allow_remote: bool,
    /// The payload version: rdb-N or a server name (default: from the server's INFO).
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
    /// At most this many bytes of commands waiting for their replies, per node.
    #[arg(long, default_value_t = 8 << 20, value_name = "BYTES")]
    pub window: usize,
    /// Do not load the backup's function libraries.
    #[arg(long)]
    pub no_functions: bool,
    /// Accept these losses (as `convert --drop`): field-ttl restores hashes with field TTLs
    /// (Redis 7.4+) into a server without them: the fields keep their values and lose their
    /// TTLs (fields already expired are left out). Without it such a backup is refused before
    /// anything is written.
    #[arg(long, value_name = "KIND", value_delimiter = ',', value_parser = ["field-ttl"])]
    pub drop: Vec<String>,
    /// The old spelling of `--drop field-ttl` (hidden; still accepted).
    #[arg(long, hide = true)]
    pub drop_field_ttls: bool,
    /// Do not verify the backup's CRC-64 trailer.
    #[arg(long)]
    pub no_checksum: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Restore the whole (filtered) backup by replication: the server becomes a replica of
    /// rdbkit for one full sync and loads the RDB itself (the file as it is when the server
    /// reads it and nothing is filtered, else converted), then `REPLICAOF NO ONE`.
    /// A standalone master with no data (else --flush) and no replicas (else --force) only.
    #[arg(long, conflicts_with_all = ["cluster", "replace", "skip_existing", "no_functions"])]
    pub sync: bool,
    /// --sync: the ADDR:PORT rdbkit listens on and names in REPLICAOF (default 127.0.0.1 and a
    /// free port when the server is on a loopback address; required otherwise).
    #[arg(long, value_name = "ADDR:PORT", requires = "sync")]
    pub listen: Option<String>,
    /// --sync: replace what the server holds (a full sync flushes every db); without it a
    /// server with any key or function library is refused, nothing changed.
    #[arg(long, requires = "sync")]
    pub flush: bool,
    /// --sync: go on although replicas are attached to the server (they are disconnected and
    /// resynchronised with the restored data).
    #[arg(long, requires = "sync")]
    pub force: bool,
    /// --sync: load from the socket — `CONFIG SET repl-diskless-load on-empty-db` for the sync
    /// (an empty server then loads the RDB as it arrives instead of writing it to its
    /// dbfilename first); the server's value is put back afterwards, whatever happens. Refused,
    /// nothing changed, where CONFIG is renamed or not allowed.
    #[arg(long, requires = "sync")]
    pub diskless_load: bool,
    /// --sync: at most this many seconds for the server's load after the transfer.
    #[arg(long, default_value_t = 3600, value_name = "SECS", requires = "sync")]
    pub sync_timeout: u64,
    #[command(flatten)]
    pub filter: crate::filter::FilterArgs,
    #[command(flatten)]
    pub tls: tls::TlsArgs,
    /// The backup: RDB (also gzip'd), AOF, manifest, appendonlydir/, or `-`.
    pub input: PathBuf,
    /// The server: redis://[[user]:password@]host:port[/db], or rediss:// for TLS.
    pub url: String,
}

/// What a run did besides the server's replies.
#[derive(Default)]
struct Local {
    filtered: u64,
    unrestorable: u64,
    stream_meta: u64,
    /// Keys whose expiry has passed (not sent: the server would not create them).
    expired: u64,
    /// Function libraries a server before 7.0 cannot load.
    functions_unloadable: u64,
    /// Hashes restored without their field TTLs (--drop-field-ttls).
    field_ttls_dropped: u64,
    server: String,
    target: String,
}

/// The server's name and version from `INFO server` (`valkey_version` first).
fn server_version(con: &mut redis::Connection) -> Result<(String, String, bool), String> {
    let info: String = redis::cmd("INFO").arg("server").query(con).map_err(|e| {
        if e.code() == Some("NOAUTH") {
            format!(
                "the server needs a password (user:pass@ in the URL, or RDBKIT_PASSWORD / \
                     REDISCLI_AUTH in the environment): {e}"
            )
        } else {
            format!("INFO server: {e}")
        }
    })?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    let cluster: String = redis::cmd("INFO")
        .arg("cluster")
        .query(con)
        .unwrap_or_default();
    let is_cluster = cluster.lines().any(|l| l.trim() == "cluster_enabled:1");
    if let Some(v) = field("valkey_version:") {
        return Ok(("valkey".into(), v, is_cluster));
    }
    let v = field("redis_version:").ok_or("INFO server: no redis_version")?;
    Ok(("redis".into(), v, is_cluster))
}

/// The newest target a server of this version loads: the server table's entry for its
/// major.minor, or the newest entry not above it.
pub fn target_for(fork: &str, version: &str) -> Option<Target> {
    let mut it = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let want = (it.next()?, it.next().unwrap_or(0));
    let mut best: Option<((u32, u32), &str)> = None;
    for (name, t) in rdbkit_rdb::write::SERVER_NAMES {
        let Some(v) = name.strip_prefix(fork).and_then(|r| r.strip_prefix('-')) else {
            continue;
        };
        let mut p = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let have = (p.next().unwrap_or(0), p.next().unwrap_or(0));
        if have <= want && best.is_none_or(|(b, _)| have > b) {
            best = Some((have, t));
        }
    }
    Target::by_name(best?.1)
}

/// A key's RESTORE payload.
enum Payload<'a> {
    /// The value as stored in the input (type byte and encoding the server reads): framed with
    /// the target's version and the CRC-64 straight into the output buffer, never copied alone.
    Raw { type_byte: u8, raw: &'a [u8] },
    /// A payload re-encoded for the target.
    Owned(Vec<u8>),
}

impl Payload<'_> {
    /// The payload's length in bytes.
    fn len(&self) -> usize {
        match self {
            Payload::Raw { raw, .. } => 1 + raw.len() + 10,
            Payload::Owned(p) => p.len(),
        }
    }

    /// Appends the payload as one bulk string argument. A raw payload is the DUMP format:
    /// type byte, value, RDB version (2 bytes LE), CRC-64 of all of it (8 bytes LE).
    fn put(&self, out: &mut Vec<u8>, t: &Target) {
        match self {
            Payload::Raw { type_byte, raw } => {
                put_bulk_len(out, self.len());
                let start = out.len();
                out.push(*type_byte);
                out.extend_from_slice(raw);
                out.extend_from_slice(&(t.version as u16).to_le_bytes());
                let crc = rdbkit_rdb::internals::crc64::crc64(&out[start..]);
                out.extend_from_slice(&crc.to_le_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Payload::Owned(p) => put_bulk(out, p),
        }
    }
}

/// ABSTTL, IDLETIME and FREQ came with Redis 5.0 (RDB 9).
fn modern(t: &Target) -> bool {
    t.is_valkey() || t.version >= 9
}

/// Appends `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s | FREQ n]` to `out`, packed;
/// before 5.0 the TTL is set by a PEXPIREAT of its own (`expire_cmd`).
#[allow(clippy::too_many_arguments)]
fn put_restore(
    out: &mut Vec<u8>,
    t: &Target,
    key: &[u8],
    expire_ms: Option<i64>,
    idle: Option<u64>,
    freq: Option<u8>,
    payload: &Payload<'_>,
    replace: bool,
) {
    let modern = modern(t);
    let abs = expire_ms.filter(|_| modern);
    let extra = if !modern {
        0
    } else if idle.is_some() || freq.is_some() {
        2
    } else {
        0
    };
    let n = 4 + usize::from(replace) + usize::from(abs.is_some()) + extra;
    out.reserve(64 + key.len() + payload.len());
    // At most 8 arguments: one digit.
    out.extend_from_slice(&[b'*', b'0' + n as u8]);
    out.extend_from_slice(b"\r\n$7\r\nRESTORE\r\n");
    put_bulk(out, key);
    match abs {
        Some(e) => {
            let mut ttl = Vec::with_capacity(20);
            put_uint(&mut ttl, e.max(1) as u64);
            put_bulk(out, &ttl);
        }
        None => out.extend_from_slice(b"$1\r\n0\r\n"),
    }
    payload.put(out, t);
    if replace {
        out.extend_from_slice(b"$7\r\nREPLACE\r\n");
    }
    if abs.is_some() {
        out.extend_from_slice(b"$6\r\nABSTTL\r\n");
    }
    if modern {
        let mut num = Vec::with_capacity(20);
        if let Some(i) = idle {
            put_uint(&mut num, i);
            put_bulk(out, b"IDLETIME");
            put_bulk(out, &num);
        } else if let Some(f) = freq {
            put_uint(&mut num, u64::from(f));
            put_bulk(out, b"FREQ");
            put_bulk(out, &num);
        }
    }
}

/// The PEXPIREAT that sets a restored key's TTL on a server before 5.0 (no ABSTTL).
fn expire_cmd(t: &Target, key: &[u8], expire_ms: Option<i64>) -> Option<Vec<u8>> {
    match expire_ms {
        Some(e) if !modern(t) => Some(pack(&[
            b"PEXPIREAT".as_slice(),
            key,
            e.to_string().as_bytes(),
        ])),
        _ => None,
    }
}

/// The commands of `dump --format resp` that recreate one key (None: nothing can).
fn fallback_cmds(db: u64, key: &[u8], m: &MKey) -> Option<Vec<Vec<u8>>> {
    if let crate::model::MValue::Unknown { .. } = m.value {
        // An AOF key whose value the replay cannot reproduce: nothing to send (and no DEL of
        // what the server holds): counted as unrestorable.
        return None;
    }
    let mut w = crate::resp_out::RespWriter::new(Vec::new(), 1 << 20, 1024);
    // The fleet SELECTs; the writer's own SELECT is dropped below.
    w.key(db, key, m).ok()?;
    if w.skipped_modules + w.skipped_arrays > 0 {
        return None;
    }
    let buf = w.into_inner();
    let mut r = rdbkit_aof::resp::SliceReader::new(&buf, 0);
    let mut cmds = Vec::new();
    while let Ok(Some(rdbkit_aof::resp::Item::Command(c))) = r.next_item() {
        let args: Vec<&[u8]> = c.args().collect();
        if args
            .first()
            .is_some_and(|a| a.eq_ignore_ascii_case(b"SELECT"))
        {
            continue;
        }
        cmds.push(pack(&args));
    }
    Some(cmds)
}

/// The state of one run.
struct Run<'a> {
    fleet: Fleet,
    target: Target,
    replace: bool,
    filter: &'a Filter,
    /// URL /db: every key goes there.
    to_db: Option<u64>,
    /// The one source db allowed with /db or a cluster.
    only_db: Option<u64>,
    functions: bool,
    local: Local,
    scratch: Scratch,
    /// Keys expiring at or before this time (the clock now) are not sent.
    now_ms: i64,
    /// --drop-field-ttls.
    drop_field_ttls: bool,
    /// `target.reads(ty, type_byte)` by type byte, as last asked (the answer depends on the
    /// two only; a file has one type per type byte, so it is computed about once per type).
    reads_cache: [Option<(rdbkit_rdb::Type, bool)>; 256],
}

impl Run<'_> {
    /// Whether the target reads a value stored as `ty` under `type_byte` (its bytes can be
    /// passed through): `Target::reads`, remembered per type byte.
    fn reads(&mut self, ty: rdbkit_rdb::Type, type_byte: u8) -> bool {
        let slot = &mut self.reads_cache[type_byte as usize];
        match *slot {
            Some((t, r)) if t == ty => r,
            _ => {
                let r = self.target.reads(ty, type_byte);
                *slot = Some((ty, r));
                r
            }
        }
    }

    fn dest_db(&mut self, db: u64) -> Result<u64, Failure> {
        if self.to_db.is_none() && !self.fleet.is_cluster() {
            return Ok(db);
        }
        match self.only_db {
            None => self.only_db = Some(db),
            Some(d) if d != db => {
                return Err(Failure::Usage(format!(
                    "the backup holds keys of db {d} and db {db}, and the target has one database \
                     ({}): choose one with --db N",
                    if self.fleet.is_cluster() {
                        "a cluster"
                    } else {
                        "the URL names it"
                    }
                )))
            }
            _ => {}
        }
        Ok(self.to_db.unwrap_or(0))
    }

    fn net(&mut self) -> Failure {
        match self.fleet.failed.take() {
            Some(f) => Failure::Server(f.msg().to_string()),
            None => Failure::Server("the connection failed".into()),
        }
    }

    /// Sends one key: RESTORE when `payload` is some and fits, else the commands.
    #[allow(clippy::too_many_arguments)]
    fn key(
        &mut self,
        db: u64,
        key: &[u8],
        expire_ms: Option<i64>,
        idle: Option<u64>,
        freq: Option<u8>,
        payload: Option<Payload<'_>>,
        model: impl FnOnce(&mut Scratch) -> Result<MKey, Failure>,
    ) -> Result<(), Failure> {
        let db = self.dest_db(db)?;
        if expire_ms.is_some_and(|e| e <= self.now_ms) {
            // The server would answer OK and create nothing: not sent, counted.
            self.local.expired += 1;
            return Ok(());
        }
        if let Some(p) = payload.filter(|p| p.len() <= MAX_PAYLOAD) {
            let (t, replace) = (self.target, self.replace);
            let sent = self.fleet.send_with(Kind::Restore, db, key, |out| {
                put_restore(out, &t, key, expire_ms, idle, freq, &p, replace)
            });
            let sent = sent.and_then(|()| match expire_cmd(&t, key, expire_ms) {
                Some(c) => self.fleet.send(Kind::Control, db, key, &c),
                None => Ok(()),
            });
            if sent.is_err() {
                return Err(self.net());
            }
            return Ok(());
        }
        let m = model(&mut self.scratch)?;
        let Some(cmds) = fallback_cmds(db, key, &m) else {
            self.local.unrestorable += 1;
            return Ok(());
        };
        if !self.replace {
            // Commands would overwrite: the key must not exist (asked now, in order).
            self.fleet
                .send_with(Kind::Exists, db, key, |out| put_exists(out, key))
                .map_err(|_| self.net())?;
            let before = self.fleet.tally.existing_count;
            self.fleet.drain().map_err(|_| self.net())?;
            if self.fleet.tally.existing_count > before {
                if self.fleet.skip_existing {
                    self.fleet.tally.existing_count = before;
                    self.fleet.tally.existing.pop();
                    self.fleet.tally.skipped_existing += 1;
                    return Ok(());
                }
                return Err(Failure::Server(format!(
                    "db {db} key {}: exists on the server (created since the check); stopped",
                    show_key(key)
                )));
            }
        }
        let last = cmds.len().saturating_sub(1);
        for (i, c) in cmds.into_iter().enumerate() {
            if self
                .fleet
                .send(Kind::Cmd { last: i == last }, db, key, &c)
                .is_err()
            {
                return Err(self.net());
            }
        }
        Ok(())
    }

    fn function(&mut self, code: &[u8]) -> Result<(), Failure> {
        if !self.functions {
            return Ok(());
        }
        if !self.target.is_valkey() && self.target.version < 10 {
            // FUNCTION came with Redis 7.0: reported, not loadable.
            self.local.functions_unloadable += 1;
            return Ok(());
        }
        let mut args: Vec<&[u8]> = vec![b"FUNCTION", b"LOAD"];
        if self.replace {
            args.push(b"REPLACE");
        }
        args.push(code);
        self.fleet
            .send_all(Kind::Function, &pack(&args))
            .map_err(|_| self.net())
    }
}

/// The payload of an RDB key for `t` (None: only commands can recreate it). Field TTLs the
/// target cannot keep are dropped (`drop_ttls`, counted) or refused (naming the key).
fn rdb_payload<'k>(
    k: &rdbkit_rdb::KeyRecord<'k>,
    name: &str,
    run: &mut Run<'_>,
) -> Result<Option<Payload<'k>>, Failure> {
    let t = run.target;
    let v = &k.value;
    if run.reads(v.ty, v.type_byte) {
        return Ok(Some(Payload::Raw {
            type_byte: v.type_byte,
            raw: v.raw(),
        }));
    }
    let mut owned = v
        .to_owned_value_in(&mut run.scratch)
        .map_err(|e| damaged(name, e.in_key(Some(k.db), k.key)))?;
    fit(&mut owned, &t, run, k.db, k.key)?;
    Ok(match loss(&owned, &t) {
        None => dump_payload(&owned, &t, true).ok().map(Payload::Owned),
        Some(_) => None,
    })
}

/// Makes `v` fit the target where restore may: stream metadata the target has no place for is
/// stripped (counted); field TTLs it cannot keep are stripped with --drop-field-ttls (fields
/// already expired are left out, counted), else refused naming the key.
fn fit(
    v: &mut OwnedValue,
    t: &Target,
    run: &mut Run<'_>,
    db: u64,
    key: &[u8],
) -> Result<(), Failure> {
    match loss(v, t) {
        Some(Loss::StreamMeta) => {
            strip(v, t);
            run.local.stream_meta += 1;
        }
        Some(Loss::FieldTtl) if run.drop_field_ttls => {
            if let OwnedValue::Hash(h) = v {
                let now = run.now_ms;
                h.retain(|f| f.expire_ms.is_none_or(|e| e > now));
            }
            strip(v, t);
            run.local.field_ttls_dropped += 1;
        }
        Some(Loss::FieldTtl) => return Err(field_ttl_refusal(run, db, key)),
        _ => {}
    }
    Ok(())
}

/// The refusal of a hash with field TTLs the server cannot keep.
fn field_ttl_refusal(run: &Run<'_>, db: u64, key: &[u8]) -> Failure {
    Failure::Usage(format!(
        "db {db} key {}: a hash with field TTLs (Redis 7.4+), and {} ({}) has no field TTLs; \
         nothing written (--drop field-ttl restores such hashes without them)",
        show_key(key),
        if run.local.server.is_empty() {
            "the server"
        } else {
            &run.local.server
        },
        run.target.name
    ))
}

/// True when the RDB key is a hash whose field TTLs the target cannot keep (and restore would
/// send it: accepted by the filters, not expired).
fn rdb_key_has_field_ttl(
    k: &rdbkit_rdb::KeyRecord<'_>,
    run: &mut Run<'_>,
) -> Result<bool, rdbkit_rdb::Error> {
    let t = run.target;
    if run.drop_field_ttls
        || t.has_field_ttl()
        || k.value.ty.family() != "hash"
        || run.reads(k.value.ty, k.value.type_byte)
        || k.expire_ms.is_some_and(|e| e <= run.now_ms)
    {
        return Ok(false);
    }
    let owned = k
        .value
        .to_owned_value_in(&mut run.scratch)
        .map_err(|e| e.in_key(Some(k.db), k.key))?;
    Ok(owned.has_field_ttl())
}

/// Whether a file with this header may hold hash field TTLs (Redis RDB 12+, Valkey 9+).
fn header_may_hold_field_ttls(h: rdbkit_rdb::Header) -> bool {
    h.magic == rdbkit_rdb::Magic::Valkey || h.version >= 12
}

/// Runs the command.
pub fn run(mut args: Args) -> Result<(), Failure> {
    args.drop_field_ttls |= args.drop.iter().any(|d| d == "field-ttl");
    if args.sync {
        return replica::run(&args);
    }
    let started = Instant::now();
    let mut out = Outcome::default();
    let r = restore(&args, &mut out);
    let secs = started.elapsed().as_secs_f64();
    print_summary(&args, &out, secs, r.as_ref().err());
    match r {
        // --json: the summary holds the error and the status; nothing more is printed.
        Err(f) if args.json => Err(Failure::Reported(f.code())),
        r => r,
    }
}

/// What is reported.
#[derive(Default)]
struct Outcome {
    tally: net::Tally,
    local: Local,
    nodes: Vec<(String, u64)>,
    cluster: bool,
}

fn connection_info(args: &Args) -> Result<ConnectionInfo, Failure> {
    let info = args
        .url
        .as_str()
        .into_connection_info()
        .map_err(|e| Failure::Usage(format!("bad server URL: {e}")))?;
    let mut info = tls::apply(info, &args.tls).map_err(Failure::Usage)?;
    if info.redis_settings().password().is_none() {
        let pw = std::env::var("RDBKIT_PASSWORD")
            .ok()
            .or_else(|| std::env::var("REDISCLI_AUTH").ok())
            .filter(|p| !p.is_empty());
        if let Some(pw) = pw {
            let s = info.redis_settings().clone().set_password(pw);
            info = info.set_redis_settings(s);
        }
    }
    if !args.allow_remote && !crate::verify::against::is_local(info.addr()) {
        return Err(Failure::Usage(format!(
            "refusing to write to {}: not a loopback address (127.0.0.0/8, ::1, localhost); pass \
             --allow-remote to restore into another host",
            info.addr()
        )));
    }
    Ok(info)
}

/// The payload version `--target` names, if given.
fn forced_target(args: &Args) -> Result<Option<Target>, Failure> {
    match &args.target {
        None => Ok(None),
        Some(t) => Target::by_name(t).map(Some).ok_or_else(|| {
            Failure::Usage(format!(
                "--target {t:?}: unknown (see rdbkit convert --help)"
            ))
        }),
    }
}

fn restore(args: &Args, out: &mut Outcome) -> Result<(), Failure> {
    let filter = Filter::new(&args.filter).map_err(Failure::Usage)?;
    let forced = forced_target(args)?;
    let info = connection_info(args)?;
    let url_db = url_names_db(&args.url);
    let inp = input::open(&args.input).map_err(|e| Failure::Usage(e.to_string()))?;
    let mut con = net::open(&info).map_err(Failure::Usage)?;
    let (fork, version, detected) = server_version(&mut con).map_err(Failure::Usage)?;
    let target = match forced.or_else(|| target_for(&fork, &version)) {
        Some(t) => t,
        None => {
            return Err(Failure::Usage(format!(
                "{fork} {version}: no RDB version known for it (--target to choose one)"
            )))
        }
    };
    out.local.server = format!("{fork} {version}");
    out.local.target = target.name.to_string();
    let cluster = args.cluster || detected;
    let mut fleet = if cluster {
        Fleet::cluster(info.clone(), con, args.window, args.allow_remote).map_err(Failure::Usage)?
    } else {
        Fleet::single(info.clone(), con, args.window)
    };
    fleet.skip_existing = args.skip_existing;
    out.cluster = cluster;
    let opts = Options::default()
        .deep(false)
        .verify_checksum(!args.no_checksum)
        .best_effort(false);
    let mut run = Run {
        fleet,
        target,
        replace: args.replace,
        filter: &filter,
        to_db: url_db.then(|| info.redis_settings().db() as u64),
        only_db: None,
        functions: !args.no_functions,
        local: Local {
            server: out.local.server.clone(),
            target: out.local.target.clone(),
            ..Local::default()
        },
        scratch: Scratch::new(),
        now_ms: crate::filter::now_ms(),
        drop_field_ttls: args.drop_field_ttls,
        reads_cache: [None; 256],
    };
    let r = if inp.is_rdb() {
        restore_rdb(args, inp, opts, &mut run)
    } else {
        restore_aof(args, inp, opts, &mut run)
    };
    let r = match r {
        Ok(()) => run.fleet.drain().map_err(|_| run.net()),
        Err(e @ (Failure::Damaged(_) | Failure::Usage(_) | Failure::Refused(_))) => {
            // What was queued before a damaged key is sound: send it and read every reply.
            let _ = run.fleet.drain();
            match run.fleet.failed.take() {
                Some(f) => Err(Failure::Server(format!("{e}; and {}", f.msg()))),
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    if r.is_err() {
        // Count what the server confirmed of what was sent (a lost connection counted its
        // unconfirmed keys when it broke); nothing more is sent.
        run.fleet.settle();
    }
    run.local.server = std::mem::take(&mut out.local.server);
    run.local.target = std::mem::take(&mut out.local.target);
    out.tally = std::mem::take(&mut run.fleet.tally);
    out.nodes = run
        .fleet
        .nodes
        .iter()
        .map(|n| (n.addr.clone(), n.keys))
        .collect();
    out.local = run.local;
    r
}

/// Whether the URL has a `/db` path.
fn url_names_db(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split_once('/')
        .is_some_and(|(_, p)| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn damaged(name: &str, e: rdbkit_rdb::Error) -> Failure {
    Failure::Damaged(format!("{name}: {e}; stopped before that key"))
}

fn restore_rdb(
    args: &Args,
    inp: input::Input,
    opts: Options,
    run: &mut Run<'_>,
) -> Result<(), Failure> {
    let name = inp.name.clone();
    let size = inp.size;
    // A file can be read twice; standard input, a pipe or a FIFO only once.
    let twice = input::rereadable(&args.input);
    if !args.replace && !args.skip_existing {
        // The existing-key check: a first pass over the keys (the input opened again, an
        // archive not surveyed again nor a member unpacked again: see `Input::reopen`).
        if !twice {
            return Err(Failure::Usage(format!(
                "{name}: a stream is read once and the default policy checks every key before \
                 writing: pass --replace or --skip-existing, or give a file"
            )));
        }
        let again = inp
            .reopen(&args.input)
            .map_err(|e| Failure::Usage(e.to_string()))?;
        again
            .with_rdb(opts, |src| check_existing_rdb(src, run, &name))
            .map_err(|e| Failure::Usage(e.to_string()))??;
    } else if !run.target.has_field_ttl() && !args.drop_field_ttls && twice {
        // No existing-key pass to look for field TTLs on the way: a pass of its own, when the
        // file's version can hold them.
        let again = inp
            .reopen(&args.input)
            .map_err(|e| Failure::Usage(e.to_string()))?;
        again
            .with_rdb(opts, |src| check_field_ttls_rdb(src, run, &name))
            .map_err(|e| Failure::Usage(e.to_string()))??;
    }
    // A file was checked for field TTLs above; a stream cannot be.
    let checked = twice;
    let mut progress = Progress::new(size, args.quiet || args.json);
    let r = inp
        .with_rdb_values(opts, args.max_value_bytes, |src| {
            send_rdb(src, run, &name, &mut progress, checked)
        })
        .map_err(|e| Failure::Usage(e.to_string()))?;
    progress.finish();
    r
}

/// Looks for a hash whose field TTLs the target cannot keep among the keys restore would send;
/// fails naming the first (nothing is sent).
fn check_field_ttls_rdb(
    src: &mut dyn RecordSource,
    run: &mut Run<'_>,
    name: &str,
) -> Result<(), Failure> {
    loop {
        // The header is known once the first record is read.
        let hdr = src.header();
        if hdr.is_some_and(|h| !header_may_hold_field_ttls(h)) {
            break;
        }
        let Some(rec) = src.next_record() else { break };
        if let Record::Key(k) = rec.map_err(|e| damaged(name, e))? {
            if !run.filter.accepts_key(&k) {
                continue;
            }
            let db = run.dest_db(k.db)?;
            if rdb_key_has_field_ttl(&k, run).map_err(|e| damaged(name, e))? {
                return Err(field_ttl_refusal(run, db, k.key));
            }
        }
    }
    run.only_db = None;
    Ok(())
}

/// Checks every key the filters accept with EXISTS, pipelined (as many in flight as the window
/// allows, no round trip per batch); fails naming the first few.
/// Also refuses a hash whose field TTLs the target cannot keep, naming it.
fn check_existing_rdb(
    src: &mut dyn RecordSource,
    run: &mut Run<'_>,
    name: &str,
) -> Result<(), Failure> {
    while let Some(rec) = src.next_record() {
        if let Record::Key(k) = rec.map_err(|e| damaged(name, e))? {
            if !run.filter.accepts_key(&k) {
                continue;
            }
            let db = run.dest_db(k.db)?;
            if rdb_key_has_field_ttl(&k, run).map_err(|e| damaged(name, e))? {
                return Err(field_ttl_refusal(run, db, k.key));
            }
            run.fleet
                .send_with(Kind::Exists, db, k.key, |out| put_exists(out, k.key))
                .map_err(|_| run.net())?;
        }
    }
    finish_check(run)
}

/// Appends `EXISTS key`, packed.
fn put_exists(out: &mut Vec<u8>, key: &[u8]) {
    put_array(out, 2);
    put_bulk(out, b"EXISTS");
    put_bulk(out, key);
}

fn finish_check(run: &mut Run<'_>) -> Result<(), Failure> {
    run.fleet.drain().map_err(|_| run.net())?;
    run.only_db = None;
    let t = &run.fleet.tally;
    if t.existing_count > 0 {
        let names: Vec<String> = t
            .existing
            .iter()
            .map(|(db, k)| format!("db {db} {}", show_key(k)))
            .collect();
        return Err(Failure::Refused(format!(
            "{} key(s) of the backup exist on the server ({}{}); nothing written (--replace to \
             overwrite them, --skip-existing to keep them)",
            t.existing_count,
            names.join(", "),
            if t.existing_count as usize > names.len() {
                ", ..."
            } else {
                ""
            }
        )));
    }
    Ok(())
}

fn send_rdb(
    src: &mut dyn RecordSource,
    run: &mut Run<'_>,
    name: &str,
    progress: &mut Progress,
    checked: bool,
) -> Result<(), Failure> {
    // Standard input is read once: whether it may hold field TTLs the server cannot keep is
    // decided from its header before the first thing is sent (its first key or function).
    let mut decided = checked || run.target.has_field_ttl() || run.drop_field_ttls;
    loop {
        let hdr = src.header();
        let Some(rec) = src.next_record() else { break };
        let rec = rec.map_err(|e| damaged(name, e))?;
        if !decided && matches!(rec, Record::Key(_) | Record::Function { .. }) {
            decided = true;
            if let Some(h) = hdr.filter(|&h| header_may_hold_field_ttls(h)) {
                return Err(Failure::Usage(format!(
                    "{name}: an RDB {} may hold hash field TTLs, which {} ({}) cannot keep, and \
                     standard input cannot be checked before writing; nothing written (give a \
                     file, or --drop field-ttl to restore such hashes without them)",
                    h.version, run.local.server, run.target.name
                )));
            }
        }
        match rec {
            Record::Key(k) => {
                progress.set(k.end);
                if !run.filter.accepts_key(&k) {
                    run.local.filtered += 1;
                    continue;
                }
                if k.expire_ms.is_some_and(|e| e <= run.now_ms) {
                    // The server would answer OK and create nothing: not sent, counted.
                    run.dest_db(k.db)?;
                    run.local.expired += 1;
                    continue;
                }
                let payload = rdb_payload(&k, name, run)?;
                run.key(
                    k.db,
                    k.key,
                    k.expire_ms,
                    k.lru_idle,
                    k.lfu_freq,
                    payload,
                    |s| crate::model::from_record(&k, s).map_err(|e| damaged(name, e)),
                )?;
            }
            Record::Function { code } => run.function(&code)?,
            Record::Eof { .. } => break,
            _ => {}
        }
    }
    Ok(())
}

fn restore_aof(
    args: &Args,
    inp: input::Input,
    opts: Options,
    run: &mut Run<'_>,
) -> Result<(), Failure> {
    let ds = inp
        .load(opts, run.filter.now_ms)
        .map_err(|e| Failure::Damaged(format!("{e}; nothing written")))?;
    let accepted = |run: &Run<'_>, db: u64, key: &[u8], mk: &MKey| {
        run.filter
            .accepts(db, key, mk.value.type_name(), mk.expire_ms, None)
    };
    if !run.target.has_field_ttl() && !args.drop_field_ttls {
        // Hashes with field TTLs the server cannot keep: refused before anything is sent.
        for (db, keys) in &ds.dbs {
            for (key, mk) in keys {
                if mk.value.type_name() != "hash"
                    || mk.expire_ms.is_some_and(|e| e <= run.now_ms)
                    || !accepted(run, *db, key, mk)
                {
                    continue;
                }
                let v = crate::cmd::convert::model_to_owned(&mk.value);
                if v.is_some_and(|v| v.has_field_ttl()) {
                    let d = run.dest_db(*db)?;
                    return Err(field_ttl_refusal(run, d, key));
                }
            }
        }
    }
    if !args.replace && !args.skip_existing {
        for (db, keys) in &ds.dbs {
            for (key, mk) in keys {
                if !accepted(run, *db, key, mk) {
                    continue;
                }
                let d = run.dest_db(*db)?;
                run.fleet
                    .send_with(Kind::Exists, d, key, |out| put_exists(out, key))
                    .map_err(|_| run.net())?;
            }
        }
        finish_check(run)?;
    }
    for code in &ds.functions {
        run.function(code)?;
    }
    for (db, keys) in &ds.dbs {
        for (key, mk) in keys {
            if !accepted(run, *db, key, mk) {
                run.local.filtered += 1;
                continue;
            }
            let t = run.target;
            let payload = match crate::cmd::convert::model_to_owned(&mk.value) {
                Some(mut v) if mk.expire_ms.is_none_or(|e| e > run.now_ms) => {
                    fit(&mut v, &t, run, *db, key)?;
                    dump_payload(&v, &t, true).ok().map(Payload::Owned)
                }
                _ => None,
            };
            run.key(*db, key, mk.expire_ms, None, None, payload, |_| {
                Ok(mk.clone())
            })?;
        }
    }
    Ok(())
}

fn print_summary(args: &Args, o: &Outcome, secs: f64, err: Option<&Failure>) {
    let t = &o.tally;
    let keys = t.restored + t.as_commands;
    let rate = if secs > 0.0 { keys as f64 / secs } else { 0.0 };
    if args.json {
        let nodes: serde_json::Map<String, serde_json::Value> = o
            .nodes
            .iter()
            .map(|(a, n)| (a.clone(), serde_json::json!(n)))
            .collect();
        let j = serde_json::json!({
            "input": args.input.display().to_string(),
            "server": o.local.server,
            "target": o.local.target,
            "cluster": o.cluster,
            "ok": err.is_none(),
            "exit_code": err.map_or(0, |e| e.code()),
            "error": err.map(|e| e.to_string()),
            "keys_restored": t.restored,
            "keys_as_commands": t.as_commands,
            "keys_skipped_existing": t.skipped_existing,
            "keys_unconfirmed": t.unconfirmed,
            "keys_existing_found": t.existing_count,
            "keys_unrestorable": o.local.unrestorable,
            "keys_filtered_out": o.local.filtered,
            "keys_expired": o.local.expired,
            "streams_without_metadata": o.local.stream_meta,
            "functions_loaded": t.functions,
            "functions_skipped_existing": t.functions_skipped,
            "functions_unloadable": o.local.functions_unloadable,
            "hashes_field_ttls_dropped": o.local.field_ttls_dropped,
            "redirects": t.redirects,
            "nodes": nodes,
            "bytes_sent": t.bytes_sent,
            "seconds": (secs * 1000.0).round() / 1000.0,
            "keys_per_second": rate.round(),
        });
        println!("{j}");
        return;
    }
    let mut s = std::io::stdout().lock();
    let _ = writeln!(
        s,
        "{} -> {} ({}, payloads {}): {} keys restored ({} by RESTORE, {} as commands), {} skipped (exist), {} expired, {} unrestorable, {} filtered out, {} function libraries; {} bytes sent in {:.3}s ({:.0} keys/s)",
        args.input.display(),
        o.nodes.first().map_or("?", |n| n.0.as_str()),
        if o.local.server.is_empty() { "?" } else { &o.local.server },
        if o.local.target.is_empty() { "?" } else { &o.local.target },
        keys,
        t.restored,
        t.as_commands,
        t.skipped_existing,
        o.local.expired,
        o.local.unrestorable,
        o.local.filtered,
        t.functions,
        t.bytes_sent,
        secs,
        rate
    );
    if o.cluster {
        for (a, n) in &o.nodes {
            let _ = writeln!(s, "  node {a}: {n} keys");
        }
        if t.redirects > 0 {
            let _ = writeln!(s, "  {} MOVED/ASK redirections followed", t.redirects);
        }
    }
    if t.unconfirmed > 0 {
        let _ = writeln!(
            s,
            "  {} key(s) sent without a reply before the connection broke: they may or may not be on the server",
            t.unconfirmed
        );
    }
    if o.local.functions_unloadable > 0 {
        let _ = writeln!(
            s,
            "  {} function librar(ies) not loaded: the server has no FUNCTION (Redis 7.0+)",
            o.local.functions_unloadable
        );
    }
    if o.local.field_ttls_dropped > 0 {
        let _ = writeln!(
            s,
            "  {} hash(es) restored without their field TTLs (--drop field-ttl)",
            o.local.field_ttls_dropped
        );
    }
    if o.local.stream_meta > 0 {
        let _ = writeln!(
            s,
            "  {} stream(s) restored without metadata the server's stream format has no place for",
            o.local.stream_meta
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_slots_as_the_cluster_specification() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(key_slot(b"foo"), 12182);
        // CRC16 of "123456789" is 0x31C3 (12739), below 16384.
        assert_eq!(key_slot(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        // An empty first tag: the whole key is hashed, not "bar".
        assert_ne!(key_slot(b"foo{}{bar}"), key_slot(b"bar"));
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
    }

    #[test]
    fn payload_version_from_the_server_version() {
        let t = |f: &str, v: &str| target_for(f, v).map(|t| t.name);
        assert_eq!(t("redis", "7.0.15"), Some("rdb-10"));
        assert_eq!(t("redis", "6.2.14"), Some("rdb-9"));
        assert_eq!(t("redis", "6.0.9"), Some("rdb-9"));
        assert_eq!(t("redis", "7.2.4"), Some("rdb-11"));
        assert_eq!(t("redis", "7.4.1"), Some("rdb-12"));
        assert_eq!(t("redis", "2.8.24"), Some("rdb-6"));
        assert_eq!(t("valkey", "8.1.8"), Some("rdb-11"));
        // A minor release between table entries takes the one below it.
        assert_eq!(t("redis", "7.1.0"), Some("rdb-10"));
        assert_eq!(t("redis", "2.4.0"), None);
    }

    /// The RESTORE framed straight into the output buffer is byte for byte the command packed
    /// from its arguments, the payload sealed by the writer's `dump_payload_raw`.
    #[test]
    fn restore_framed_in_place_as_packed_from_its_arguments() {
        let raw: &[u8] = b"\x05hello";
        for name in [
            "rdb-6",
            "rdb-9",
            "rdb-10",
            "rdb-12",
            "valkey-8.1",
            "valkey-9.0",
        ] {
            let Some(t) = Target::by_name(name) else {
                continue;
            };
            for (expire, idle, freq, replace) in [
                (None, None, None, false),
                (Some(1_700_000_000_123i64), None, None, true),
                (Some(-5), Some(12u64), None, false),
                (None, None, Some(7u8), true),
                (Some(9), Some(0), Some(3), true),
            ] {
                let payload = rdbkit_rdb::write::dump_payload_raw(0, raw, &t);
                let m = modern(&t);
                let ttl = match expire {
                    Some(e) if m => e.max(1).to_string(),
                    _ => "0".to_string(),
                };
                let mut args: Vec<Vec<u8>> = vec![
                    b"RESTORE".to_vec(),
                    b"k:1".to_vec(),
                    ttl.into_bytes(),
                    payload.clone(),
                ];
                if replace {
                    args.push(b"REPLACE".to_vec());
                }
                if m {
                    if expire.is_some() {
                        args.push(b"ABSTTL".to_vec());
                    }
                    if let Some(i) = idle {
                        args.push(b"IDLETIME".to_vec());
                        args.push(i.to_string().into_bytes());
                    } else if let Some(f) = freq {
                        args.push(b"FREQ".to_vec());
                        args.push(f.to_string().into_bytes());
                    }
                }
                let want = pack(&args);
                for p in [
                    Payload::Raw { type_byte: 0, raw },
                    Payload::Owned(payload.clone()),
                ] {
                    assert_eq!(p.len(), payload.len());
                    let mut out = b"prefix".to_vec();
                    put_restore(&mut out, &t, b"k:1", expire, idle, freq, &p, replace);
                    assert_eq!(&out[6..], &want[..], "{name} {expire:?} {idle:?} {freq:?}");
                }
                assert_eq!(
                    expire_cmd(&t, b"k:1", expire).is_some(),
                    expire.is_some() && !m
                );
            }
        }
        let mut n = Vec::new();
        for v in [0u64, 7, 10, 12345, u64::MAX] {
            n.clear();
            put_uint(&mut n, v);
            assert_eq!(n, v.to_string().into_bytes());
        }
    }

    #[test]
    fn url_db_path() {
        assert!(url_names_db("redis://127.0.0.1:6379/3"));
        assert!(url_names_db("redis://u:p@127.0.0.1:6379/0"));
        assert!(!url_names_db("redis://127.0.0.1:6379"));
        assert!(!url_names_db("redis://127.0.0.1:6379/"));
    }
}
