//! `rdbkit restore --sync`: a full restore by replication. rdbkit plays a master for one
//! full synchronisation: it listens on a local port, tells the target `REPLICAOF host port`,
//! answers the replica handshake (`PING`, `AUTH`, `REPLCONF ...`, `PSYNC`/`SYNC`) of the server
//! (a connection from elsewhere, or announcing another port, is refused and the wait goes on)
//! with `+FULLRESYNC <replid> 0` and sends the backup: as it is when the server reads it so
//! (the raw path, [`raw`]: the file's own bytes, the deep check beside them and the end of the
//! transfer only once it passed), else converted on the fly for the target (`convert`'s
//! pipeline: [`crate::cmd::convert::write_rdb`]); in the EOF-marker format when the replica
//! announced `capa eof`, else a length-prefixed bulk (converted: written to a temporary file
//! first). The server then loads the RDB itself, as a replica does — the same load as a
//! restart, without the per-`RESTORE` work of a pipelined restore. rdbkit waits until the
//! replica reports the link up and the load finished, checks the key count of every db while
//! the server is still a replica (no key expires there), and sends `REPLICAOF NO ONE`. On any
//! failure after `REPLICAOF` it sends `REPLICAOF NO ONE` and reports the server's state. The
//! input is opened and validated (an RDB file's header, a streamed RDB's first 8 MB — all of
//! it when shorter —, an AOF replayed) before `REPLICAOF`.
//! `--diskless-load` sets `repl-diskless-load on-empty-db` for the sync and puts the server's
//! value back in every outcome.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use redis::{ConnectionAddr, ConnectionInfo};

use crate::cmd::convert::{write_rdb, Data, Plan, Summary};
use crate::failure::Failure;
use crate::filter::Filter;
use crate::input;

use super::raw;
use super::{connection_info, forced_target, server_version, target_for, url_names_db, Args};

/// How long the server has to connect to rdbkit and send `PSYNC` after `REPLICAOF`.
const HANDSHAKE: Duration = Duration::from_secs(30);
/// A replica's handshake commands are short; a longer one is refused.
const MAX_ARG: usize = 64 << 10;

/// What a synchronisation did, for the summary.
#[derive(Default)]
struct SyncReport {
    server: String,
    target: String,
    listen: String,
    /// `eof` (streamed) or `bulk` (length-prefixed).
    format: &'static str,
    /// `raw` (the backup's own bytes) or `converted`.
    transfer: &'static str,
    /// Why the backup was converted.
    converted_because: Option<String>,
    /// Raw path: keys sent whose expiry had passed (the server deletes them).
    expired_sent: u64,
    /// Connections to rdbkit's port that were not the server's replica link, refused.
    rejected: u64,
    /// `--diskless-load`: the server's `repl-diskless-load` before, and whether it was put back.
    diskless: Option<(String, bool)>,
    sum: Summary,
    /// Keys per db on the server after the load.
    loaded: Vec<(u64, u64)>,
    transfer_secs: f64,
    load_secs: f64,
    /// The server's state when a failure came after `REPLICAOF`.
    state: Option<String>,
}

/// Runs `restore --sync`.
pub(super) fn run(args: &Args) -> Result<(), Failure> {
    let started = Instant::now();
    let mut rep = SyncReport::default();
    let r = sync(args, &mut rep);
    let secs = started.elapsed().as_secs_f64();
    print_summary(args, &rep, secs, r.as_ref().err());
    match r {
        Err(f) if args.json => Err(Failure::Reported(f.code())),
        r => r,
    }
}

/// The flags a full synchronisation cannot honour.
fn refuse_flags(args: &Args) -> Result<(), Failure> {
    let bad = [
        (
            args.cluster,
            "--cluster (a cluster node cannot be made a replica of rdbkit)",
        ),
        (
            args.replace,
            "--replace (a full sync replaces the whole data set: --flush)",
        ),
        (
            args.skip_existing,
            "--skip-existing (a full sync replaces the whole data set)",
        ),
        (args.no_functions, "--no-functions"),
        (
            url_names_db(&args.url),
            "a /db in the URL (each key keeps its own db)",
        ),
    ];
    for (set, what) in bad {
        if set {
            return Err(Failure::Usage(format!("--sync does not go with {what}")));
        }
    }
    Ok(())
}

/// One field of an `INFO` reply.
fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::trim)
    })
}

/// The keys per db of `INFO keyspace` (`db0:keys=3,expires=0,...`).
fn keyspace(con: &mut redis::Connection) -> Result<Vec<(u64, u64)>, String> {
    let info: String = redis::cmd("INFO")
        .arg("keyspace")
        .query(con)
        .map_err(|e| format!("INFO keyspace: {e}"))?;
    let mut out = Vec::new();
    for l in info.lines() {
        let Some((db, rest)) = l.trim().split_once(':') else {
            continue;
        };
        let Some(db) = db.strip_prefix("db").and_then(|d| d.parse::<u64>().ok()) else {
            continue;
        };
        let keys = rest
            .split(',')
            .find_map(|kv| kv.strip_prefix("keys="))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        if keys > 0 {
            out.push((db, keys));
        }
    }
    Ok(out)
}

fn info(con: &mut redis::Connection, section: &str) -> Result<String, String> {
    redis::cmd("INFO")
        .arg(section)
        .query(con)
        .map_err(|e| format!("INFO {section}: {e}"))
}

/// Refuses a target that a full synchronisation must not touch: a cluster node, a replica, a
/// master with replicas (unless `--force`), a non-empty data set (unless `--flush`).
fn preconditions(con: &mut redis::Connection, args: &Args, cluster: bool) -> Result<(), Failure> {
    if cluster {
        return Err(Failure::Usage(
            "--sync: the server runs in cluster mode, where REPLICAOF cannot point a node at \
             rdbkit; restore without --sync (pipelined RESTORE, slot routing)"
                .into(),
        ));
    }
    let repl = info(con, "replication").map_err(Failure::Usage)?;
    if field(&repl, "role") != Some("master") {
        return Err(Failure::Usage(format!(
            "--sync: the server is a replica (of {}:{}); a full sync would detach it from its \
             master. Restore into the master, or without --sync",
            field(&repl, "master_host").unwrap_or("?"),
            field(&repl, "master_port").unwrap_or("?")
        )));
    }
    let replicas = field(&repl, "connected_slaves")
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    if replicas > 0 && !args.force {
        return Err(Failure::Usage(format!(
            "--sync: the server has {replicas} replica(s) attached; while it is a replica of \
             rdbkit they are disconnected, and then fully resynchronised with the restored data \
             set (and a Sentinel watching it may see its master turn into a replica and fail \
             over); --force to go on"
        )));
    }
    let tls_repl: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("tls-replication")
        .query(con)
        .unwrap_or_default();
    if tls_repl.get(1).is_some_and(|v| v == "yes") {
        return Err(Failure::Usage(
            "--sync: the server has tls-replication yes: it would connect to rdbkit with TLS,              which rdbkit does not serve; restore without --sync"
                .into(),
        ));
    }
    let keys = keyspace(con).map_err(Failure::Usage)?;
    let functions: Vec<redis::Value> = redis::cmd("FUNCTION")
        .arg("LIST")
        .query(con)
        .unwrap_or_default();
    if (!keys.is_empty() || !functions.is_empty()) && !args.flush {
        let dbs: Vec<String> = keys.iter().map(|(d, n)| format!("db {d}: {n}")).collect();
        let mut what = dbs.join(", ");
        if !functions.is_empty() {
            if !what.is_empty() {
                what.push_str(", ");
            }
            what.push_str(&format!("{} function librar(ies)", functions.len()));
        }
        return Err(Failure::Refused(format!(
            "--sync: the server is not empty ({what}); a full sync replaces its whole data set. \
             Nothing changed; --flush to replace it, or restore without --sync"
        )));
    }
    Ok(())
}

/// The address rdbkit listens on and names in `REPLICAOF`: `--listen`, else 127.0.0.1 (port
/// chosen by the system) when the server is on this machine.
fn listen_addr(args: &Args, info: &ConnectionInfo) -> Result<String, Failure> {
    if let Some(l) = &args.listen {
        return Ok(l.clone());
    }
    match info.addr() {
        ConnectionAddr::Tcp(..) if crate::verify::against::is_local(info.addr()) => {
            Ok("127.0.0.1:0".into())
        }
        _ => Err(Failure::Usage(
            "--sync: the server is not on a loopback address: give --listen ADDR:PORT, an \
             address of this machine the server can connect to"
                .into(),
        )),
    }
}

/// 40 random hex characters (a replication ID, the EOF mark).
fn random_hex40() -> String {
    let mut s = String::with_capacity(48);
    while s.len() < 40 {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id()));
        s.push_str(&format!("{:016x}", h.finish()));
    }
    s.truncate(40);
    s
}

/// One command of the replica: a RESP array of bulk strings, or an inline command.
fn read_command(r: &mut BufReader<TcpStream>) -> Result<Vec<Vec<u8>>, String> {
    let mut line = Vec::new();
    loop {
        line.clear();
        r.by_ref()
            .take(MAX_ARG as u64)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("reading the replica's handshake: {e}"))?;
        if line.is_empty() {
            return Err("the server closed its connection to rdbkit during the handshake".into());
        }
        if !line.ends_with(b"\n") {
            return Err("the replica sent a handshake line too long".into());
        }
        let l = trim_crlf(&line);
        if !l.is_empty() {
            break;
        }
    }
    let l = trim_crlf(&line).to_vec();
    let Some(n) = l.strip_prefix(b"*") else {
        return Ok(l
            .split(|b| b.is_ascii_whitespace())
            .filter(|a| !a.is_empty())
            .map(<[u8]>::to_vec)
            .collect());
    };
    let n: usize = parse_num(n)
        .filter(|&n| n <= 64)
        .ok_or("a bad handshake command")?;
    let mut args = Vec::with_capacity(n);
    for _ in 0..n {
        line.clear();
        r.by_ref()
            .take(64)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("reading the replica's handshake: {e}"))?;
        let len = trim_crlf(&line)
            .strip_prefix(b"$")
            .and_then(parse_num)
            .filter(|&n| n <= MAX_ARG)
            .ok_or("a bad handshake argument")?;
        let mut a = vec![0; len + 2];
        r.read_exact(&mut a)
            .map_err(|e| format!("reading the replica's handshake: {e}"))?;
        a.truncate(len);
        args.push(a);
    }
    Ok(args)
}

fn trim_crlf(l: &[u8]) -> &[u8] {
    let l = l.strip_suffix(b"\n").unwrap_or(l);
    l.strip_suffix(b"\r").unwrap_or(l)
}

fn parse_num(b: &[u8]) -> Option<usize> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// The replica's connection after its `PSYNC`/`SYNC`: whether it takes the EOF-marker format,
/// and whether it asked with `PSYNC` (then it expects `+FULLRESYNC`).
struct Replica {
    stream: TcpStream,
    eof: bool,
    psync: bool,
}

/// Who may connect as the replica: the server's own port(s) as its `REPLCONF listening-port`
/// announces them, and a loopback peer when the server is on a loopback address.
pub(super) struct Expect {
    /// The server's `tcp_port`, and its `replica-announce-port` when set.
    pub(super) ports: Vec<u16>,
    /// The server is on this machine: its connection comes from a loopback address (or from
    /// the address rdbkit listens on, `--listen` naming one of this machine's interfaces).
    pub(super) loopback: bool,
    /// The address rdbkit listens on.
    pub(super) local: Option<IpAddr>,
}

impl Expect {
    /// From the server's `INFO server` and `CONFIG GET replica-announce-port` (a server where
    /// CONFIG is refused: its `tcp_port` alone).
    fn of(con: &mut redis::Connection, info_c: &ConnectionInfo) -> Result<Expect, Failure> {
        let server = info(con, "server").map_err(Failure::Usage)?;
        let mut ports = Vec::new();
        if let Some(p) = field(&server, "tcp_port").and_then(|p| p.parse::<u16>().ok()) {
            ports.push(p);
        }
        let announced: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("replica-announce-port")
            .query(con)
            .unwrap_or_default();
        if let Some(p) = announced.get(1).and_then(|p| p.parse::<u16>().ok()) {
            if p != 0 {
                ports.push(p);
            }
        }
        if ports.is_empty() {
            return Err(Failure::Usage(
                "--sync: the server's INFO has no tcp_port (how its replica link would be told \
                 from another connection)"
                    .into(),
            ));
        }
        Ok(Expect {
            ports,
            loopback: crate::verify::against::is_local(info_c.addr()),
            local: None,
        })
    }
}

/// Waits for the server to connect and answers its handshake up to `PSYNC`/`SYNC`. A
/// connection that is not the server's replica link (from a non-loopback address when the
/// server is local, silent, not a replica's handshake, or announcing another listening port)
/// is answered with an error and closed, and the wait goes on until [`HANDSHAKE`] has passed;
/// `rejected` counts them.
fn accept_replica(
    listener: &TcpListener,
    expect: &Expect,
    rejected: &mut u64,
) -> Result<Replica, Failure> {
    let deadline = Instant::now() + HANDSHAKE;
    listener
        .set_nonblocking(true)
        .map_err(|e| Failure::Server(format!("listening: {e}")))?;
    let mut last = String::new();
    loop {
        if crate::cmd::convert::interrupted() {
            return Err(Failure::Interrupted(
                "interrupted while waiting for the server's connection".into(),
            ));
        }
        match listener.accept() {
            Ok((s, peer)) => match handshake(s, peer.ip(), expect, deadline) {
                Ok(r) => return Ok(r),
                Err(e) => {
                    *rejected += 1;
                    last = format!(" (refused a connection from {peer}: {e})");
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(Failure::Server(format!(
                        "the server did not connect to rdbkit within {} s after REPLICAOF \
                         (can it reach {}? see its log){last}",
                        HANDSHAKE.as_secs(),
                        listener.local_addr().map_or("?".into(), |a| a.to_string())
                    )));
                }
                // Polling the listener (accept has no timeout of its own).
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                return Err(Failure::Server(format!(
                    "accepting the server's connection: {e}"
                )))
            }
        }
    }
}

/// A replica's handshake commands come at once: a connection silent this long is not one.
const SILENT: Duration = Duration::from_secs(2);

/// One connection's handshake up to `PSYNC`/`SYNC`, refused (an error, closed) unless it is
/// the server's replica link.
fn handshake(
    stream: TcpStream,
    peer: IpAddr,
    expect: &Expect,
    deadline: Instant,
) -> Result<Replica, String> {
    if expect.loopback && !peer.is_loopback() && Some(peer) != expect.local {
        return Err("not from a loopback address, and the server is on one".into());
    }
    let fail = |e: std::io::Error| format!("the server's connection to rdbkit: {e}");
    stream.set_nonblocking(false).map_err(fail)?;
    let left = deadline.saturating_duration_since(Instant::now());
    stream
        .set_read_timeout(Some(SILENT.min(left).max(Duration::from_millis(100))))
        .map_err(fail)?;
    stream
        .set_write_timeout(Some(Duration::from_secs(120)))
        .map_err(fail)?;
    let _ = stream.set_nodelay(true);
    let mut r = BufReader::new(stream.try_clone().map_err(fail)?);
    let mut w = stream.try_clone().map_err(fail)?;
    let mut eof = false;
    let mut port: Option<u16> = None;
    let refuse = |w: &mut TcpStream, why: String| {
        let _ = w.write_all(format!("-ERR rdbkit: {why}\r\n").as_bytes());
        why
    };
    loop {
        let cmd = read_command(&mut r)?;
        let name = cmd
            .first()
            .map(|c| c.to_ascii_uppercase())
            .unwrap_or_default();
        let reply: &[u8] = match name.as_slice() {
            b"PING" => b"+PONG\r\n",
            b"AUTH" => b"+OK\r\n",
            b"REPLCONF" => {
                let mut it = cmd.iter().skip(1);
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    if k.eq_ignore_ascii_case(b"capa") && v.eq_ignore_ascii_case(b"eof") {
                        eof = true;
                    }
                    if k.eq_ignore_ascii_case(b"listening-port") {
                        port = std::str::from_utf8(v).ok().and_then(|p| p.parse().ok());
                    }
                }
                b"+OK\r\n"
            }
            b"PSYNC" | b"SYNC" => {
                if !r.buffer().is_empty() {
                    return Err(refuse(
                        &mut w,
                        "more after PSYNC than a replica sends".into(),
                    ));
                }
                match port {
                    Some(p) if expect.ports.contains(&p) => {}
                    Some(p) => {
                        return Err(refuse(
                            &mut w,
                            format!(
                                "listening-port {p} is not the server's ({})",
                                show_ports(&expect.ports)
                            ),
                        ))
                    }
                    None => {
                        return Err(refuse(
                            &mut w,
                            "no REPLCONF listening-port (the server's replica link sends it)"
                                .into(),
                        ))
                    }
                }
                stream.set_read_timeout(Some(HANDSHAKE)).map_err(fail)?;
                return Ok(Replica {
                    stream,
                    eof,
                    psync: name == b"PSYNC",
                });
            }
            // What a replica may also ask (a newer handshake step) is answered with an
            // error, as a master that does not know it would.
            _ => b"-ERR rdbkit serves a full synchronisation only\r\n",
        };
        w.write_all(reply).map_err(fail)?;
    }
}

fn show_ports(p: &[u16]) -> String {
    let v: Vec<String> = p.iter().map(u16::to_string).collect();
    v.join(" or ")
}

/// The socket as the conversion's sink, counting the bytes that went through it.
struct Counted {
    out: TcpStream,
    n: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Write for Counted {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let k = self.out.write(b)?;
        self.n
            .fetch_add(k as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(k)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Streams the converted backup to the replica: `+FULLRESYNC`, then the RDB in the EOF-marker
/// format, or (a replica without `capa eof`) written to a temporary file first and sent as a
/// length-prefixed bulk (the file is removed when done or on failure).
fn transfer(rep: &mut Replica, inp: Data, plan: Plan<'_>) -> Result<Summary, Failure> {
    let io = |e: std::io::Error| Failure::Server(format!("sending to the server: {e}"));
    fullresync(rep)?;
    if rep.eof {
        let mark = random_hex40();
        rep.stream
            .write_all(format!("$EOF:{mark}\r\n").as_bytes())
            .map_err(io)?;
        let n = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let sink = Box::new(Counted {
            out: rep.stream.try_clone().map_err(io)?,
            n: n.clone(),
        });
        let (mut sum, mut sink) = write_rdb(inp, sink, plan)?;
        sum.bytes = n.load(std::sync::atomic::Ordering::Relaxed);
        sink.write_all(mark.as_bytes()).map_err(io)?;
        sink.flush().map_err(io)?;
        return Ok(sum);
    }
    // The length must come first: the RDB goes to a temporary file, with a newline to the
    // replica every second meanwhile (as a master does during its BGSAVE) so it does not time
    // out.
    let tmp = tempfile::Builder::new()
        .prefix(".rdbkit-sync.")
        .suffix(".rdb")
        .tempfile()
        .map_err(|e| Failure::Usage(format!("a temporary file for the RDB: {e}")))?;
    let file = tmp
        .as_file()
        .try_clone()
        .map_err(|e| Failure::Usage(format!("the temporary file: {e}")))?;
    let done = std::sync::atomic::AtomicBool::new(false);
    let mut keepalive = rep.stream.try_clone().map_err(io)?;
    let mut sum = std::thread::scope(|s| {
        let ticker = s.spawn(|| {
            let mut last = Instant::now();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if last.elapsed() >= Duration::from_secs(1) {
                    if keepalive.write_all(b"\n").is_err() {
                        break;
                    }
                    last = Instant::now();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let r = write_rdb(inp, Box::new(file), plan);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = ticker.join();
        r
    })?
    .0;
    let mut f = tmp
        .reopen()
        .map_err(|e| Failure::Usage(format!("the temporary file: {e}")))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    sum.bytes = len;
    rep.stream
        .write_all(format!("${len}\r\n").as_bytes())
        .map_err(io)?;
    std::io::copy(&mut f, &mut rep.stream).map_err(io)?;
    rep.stream.flush().map_err(io)?;
    Ok(sum)
}

/// `+FULLRESYNC <replid> 0` to a replica that asked with `PSYNC`.
fn fullresync(rep: &mut Replica) -> Result<(), Failure> {
    if rep.psync {
        let head = format!("+FULLRESYNC {} 0\r\n", random_hex40());
        rep.stream
            .write_all(head.as_bytes())
            .map_err(|e| Failure::Server(format!("sending to the server: {e}")))?;
    }
    Ok(())
}

/// Waits until the server reports the link to rdbkit up and nothing loading, or fails when the
/// server drops the connection (it refused the RDB: its log says why) or `timeout` passes.
fn wait_loaded(
    con: &mut redis::Connection,
    rep: &mut Replica,
    port: u16,
    timeout: Duration,
) -> Result<(), Failure> {
    let deadline = Instant::now() + timeout;
    let _ = rep.stream.set_nonblocking(true);
    let mut buf = [0u8; 4096];
    loop {
        // The replica's REPLCONF ACKs are read and dropped; end of stream means it gave up.
        match rep.stream.read(&mut buf) {
            Ok(0) => {
                return Err(Failure::Server(
                    "the server closed the replication link before reporting the load done (it \
                     refused or failed to load the RDB: see its log)"
                        .into(),
                ))
            }
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => {
                return Err(Failure::Server(format!(
                    "the replication link broke before the load was done: {e}"
                )))
            }
        }
        if crate::cmd::convert::interrupted() {
            return Err(Failure::Interrupted(
                "interrupted while the server was loading".into(),
            ));
        }
        let all = info(con, "all").map_err(Failure::Server)?;
        let up = field(&all, "master_link_status") == Some("up")
            && field(&all, "master_port") == Some(port.to_string().as_str())
            && field(&all, "loading") == Some("0");
        if up {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Failure::Server(format!(
                "the server did not report the load done within {} s (--sync-timeout)",
                timeout.as_secs()
            )));
        }
        // Polling INFO: the server reports the load's end nowhere else.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `REPLICAOF a b` (`SLAVEOF a b` on a server before Redis 5, which does not know REPLICAOF).
fn replicaof(con: &mut redis::Connection, a: &str, b: &str) -> redis::RedisResult<String> {
    match redis::cmd("REPLICAOF").arg(a).arg(b).query(con) {
        Err(e) if e.to_string().contains("unknown command") => {
            redis::cmd("SLAVEOF").arg(a).arg(b).query(con)
        }
        r => r,
    }
}

/// `REPLICAOF NO ONE`, retried while the server answers `LOADING` (bounded).
fn detach(con: &mut redis::Connection) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match replicaof(con, "NO", "ONE") {
            Ok(_) => return Ok(()),
            Err(e) if e.code() == Some("LOADING") && Instant::now() < deadline => {
                // The server answers LOADING until its load ends: asked again.
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// After a failure past `REPLICAOF`: makes the server a master again and says what it holds.
fn recover(con: &mut redis::Connection, master: &str) -> String {
    match detach(con) {
        Ok(()) => {
            let role = info(con, "replication")
                .ok()
                .and_then(|i| field(&i, "role").map(str::to_string))
                .unwrap_or_else(|| "?".into());
            let keys = keyspace(con)
                .map(|k| k.iter().map(|(_, n)| n).sum::<u64>().to_string())
                .unwrap_or_else(|_| "?".into());
            format!("REPLICAOF NO ONE sent: the server is a {role} again and holds {keys} key(s)")
        }
        Err(e) => format!(
            "REPLICAOF NO ONE failed ({e}): the server may still be a replica of {master}, \
             where nothing listens any more: run REPLICAOF NO ONE on it (REPLICAOF is not kept \
             across a restart unless CONFIG REWRITE was run)"
        ),
    }
}

/// A failure with the server's state appended.
fn noted(f: Failure, state: &str) -> Failure {
    match f {
        Failure::Damaged(m) => Failure::Damaged(format!("{m}; {state}")),
        Failure::Refused(m) => Failure::Refused(format!("{m}; {state}")),
        Failure::Usage(m) => Failure::Usage(format!("{m}; {state}")),
        Failure::Interrupted(m) => Failure::Interrupted(format!("{m}; {state}")),
        f => Failure::Server(format!("{f}; {state}")),
    }
}

/// The backup, opened and validated before the server's role changes.
enum Backup {
    /// A plain RDB file: mapped (its header read), and opened for the conversion too.
    File {
        file: rdbkit_rdb::RdbFile,
        header: (rdbkit_rdb::Magic, u32),
        inp: input::Input,
    },
    /// An RDB from a stream (a pipe, a compressed file, an archive's member): its first
    /// [`READ_AHEAD`] bytes validated (see [`validate_stream`]), then converted as it streams;
    /// damage further on is found then (the server keeps its data).
    Stream(input::Input),
    /// An AOF, replayed.
    Replayed(crate::model::Dataset),
}

fn open_backup(args: &Args, opts: rdbkit_rdb::Options, now_ms: i64) -> Result<Backup, Failure> {
    let inp = input::open(&args.input).map_err(|e| Failure::Usage(e.to_string()))?;
    let name = inp.name.clone();
    if !inp.is_rdb() {
        // Replayed now, before REPLICAOF: a damaged AOF leaves the server untouched.
        let ds = inp
            .load(opts, now_ms)
            .map_err(|e| Failure::Damaged(format!("{e}; nothing changed on the server")))?;
        return Ok(Backup::Replayed(ds));
    }
    let path = match (&inp.codec, inp.path()) {
        (None, Some(p)) => p.to_path_buf(),
        _ => {
            let mut inp = inp;
            validate_stream(&mut inp, opts)?;
            return Ok(Backup::Stream(inp));
        }
    };
    let file =
        rdbkit_rdb::RdbFile::open(&path).map_err(|e| Failure::Open(format!("{name}: {e}")))?;
    let header = raw::header_of(&file)
        .map_err(|e| Failure::Damaged(format!("{name}: {e}; nothing changed on the server")))?;
    Ok(Backup::File { file, header, inp })
}

/// How much of a streamed RDB is read ahead (and held) to be validated before `REPLICAOF`.
const READ_AHEAD: usize = 8 << 20;

/// Validates a streamed RDB (a pipe, a compressed file) before the server's role changes:
/// its first [`READ_AHEAD`] bytes are read ahead (kept for the conversion, which reads them
/// again) and decoded — magic, version, aux fields and every record they hold whole. A stream
/// that ends within them is checked to its end (EOF record, CRC-64, the compressed trailer);
/// a longer one up to the record the window cuts, the rest found as it streams (the server
/// keeps its data then).
fn validate_stream(inp: &mut input::Input, opts: rdbkit_rdb::Options) -> Result<(), Failure> {
    let name = inp.name.clone();
    let refuse = |e: &dyn std::fmt::Display| {
        Failure::Damaged(format!("{name}: {e}; nothing changed on the server"))
    };
    let (head, ended) = inp.read_ahead(READ_AHEAD).map_err(|e| refuse(&e))?;
    let mut p = rdbkit_rdb::RdbParser::new(&head, opts);
    while let Some(r) = p.next() {
        match r {
            Ok(rdbkit_rdb::Record::Eof { .. }) => break,
            Ok(_) => {}
            // The window ends inside a record of a longer stream: what follows is read as it
            // streams.
            Err(e) if !ended && e.kind.is_out_of_data() => break,
            Err(e) => return Err(refuse(&e)),
        }
    }
    if ended && p.header().is_none() {
        return Err(refuse(&"empty input (not an RDB)"));
    }
    Ok(())
}

/// `--diskless-load`: `CONFIG SET repl-diskless-load on-empty-db`, returning the value to put
/// back; refused (nothing changed) where CONFIG is renamed, forbidden or the server has no such
/// setting (before Redis 6.0).
fn set_diskless(con: &mut redis::Connection) -> Result<String, Failure> {
    let refused = |what: &str, e: &dyn std::fmt::Display| {
        Failure::Usage(format!(
            "--diskless-load: {what} refused ({e}): the server's configuration cannot be set \
             for the sync and put back; nothing changed (run without --diskless-load)"
        ))
    };
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("repl-diskless-load")
        .query(con)
        .map_err(|e| refused("CONFIG GET repl-diskless-load", &e))?;
    let Some(prev) = v.get(1).cloned() else {
        return Err(refused(
            "CONFIG GET repl-diskless-load",
            &"the server has no such setting (Redis 6.0+, Valkey)",
        ));
    };
    if prev != "on-empty-db" {
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("repl-diskless-load")
            .arg("on-empty-db")
            .query::<()>(con)
            .map_err(|e| refused("CONFIG SET repl-diskless-load on-empty-db", &e))?;
    }
    Ok(prev)
}

/// Puts `repl-diskless-load` back (CONFIG SET is served while the server loads).
fn reset_diskless(con: &mut redis::Connection, prev: &str) -> Result<(), String> {
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("repl-diskless-load")
        .arg(prev)
        .query::<()>(con)
        .map_err(|e| e.to_string())
}

/// `--diskless-load`: the server's value put back (`out.diskless`); the failure to say if not.
fn put_back(con: &mut redis::Connection, out: &mut SyncReport) -> Option<String> {
    let (prev, done) = out.diskless.as_mut()?;
    match reset_diskless(con, prev) {
        Ok(()) => {
            *done = true;
            None
        }
        Err(e) => Some(format!(
            "CONFIG SET repl-diskless-load {prev} failed ({e}): put it back by hand"
        )),
    }
}

fn sync(args: &Args, out: &mut SyncReport) -> Result<(), Failure> {
    refuse_flags(args)?;
    let mut fargs = args.filter.clone();
    // Keys whose TTL has passed are not sent (a replica would load them, and DBSIZE would
    // count them), as the pipelined restore leaves them out.
    fargs.skip_expired = true;
    let filter = Filter::new(&fargs).map_err(Failure::Usage)?;
    let forced = forced_target(args)?;
    let info_c = connection_info(args)?;
    let listen = listen_addr(args, &info_c)?;
    let opts = rdbkit_rdb::Options::default()
        .deep(false)
        .verify_checksum(!args.no_checksum)
        .best_effort(false);
    let backup = open_backup(args, opts, filter.now_ms)?;
    let mut con = super::net::open(&info_c).map_err(Failure::Usage)?;
    let (fork, version, cluster) = server_version(&mut con).map_err(Failure::Usage)?;
    let target = forced
        .or_else(|| target_for(&fork, &version))
        .ok_or_else(|| {
            Failure::Usage(format!(
                "{fork} {version}: no RDB version known for it (--target to choose one)"
            ))
        })?;
    out.server = format!("{fork} {version}");
    out.target = target.name.to_string();
    preconditions(&mut con, args, cluster)?;
    let mut expect = Expect::of(&mut con, &info_c)?;
    let (header, compressed) = match &backup {
        Backup::File { header, .. } => (Some(*header), false),
        Backup::Stream(inp) => (None, inp.codec.is_some()),
        Backup::Replayed(_) => (None, false),
    };
    out.converted_because = raw::converted_because(
        args.no_checksum,
        &args.filter,
        header,
        compressed,
        &target,
        forced.is_some(),
    );
    out.transfer = if out.converted_because.is_none() {
        "raw"
    } else {
        "converted"
    };
    // As the pipelined restore: stream metadata the target has no place for is stripped, and
    // function libraries a server before 7.0 cannot load are left out (both counted).
    let mut allowed = vec![
        rdbkit_rdb::write::Loss::StreamMeta,
        rdbkit_rdb::write::Loss::Functions,
    ];
    if args.drop_field_ttls {
        allowed.push(rdbkit_rdb::write::Loss::FieldTtl);
    }
    let plan = Plan {
        target,
        allowed,
        // An AOF's keys whose value the replay cannot reproduce: skipped and counted, as the
        // pipelined restore skips them (never refused half-way through a transfer).
        drop_unknown: true,
        re_encode: false,
        compress: true,
        filter: &filter,
        filtering: true,
        opts,
        max_value_bytes: args.max_value_bytes,
        quiet: args.quiet || args.json,
    };
    let listener = TcpListener::bind(&listen)
        .map_err(|e| Failure::Usage(format!("--sync: cannot listen on {listen}: {e}")))?;
    let local: SocketAddr = listener
        .local_addr()
        .map_err(|e| Failure::Usage(format!("listening: {e}")))?;
    let host = local.ip().to_string();
    let port = local.port();
    out.listen = format!("{host}:{port}");
    expect.local = Some(local.ip());
    // Ctrl-C / SIGTERM from here on: stop, make the server a master again and put its
    // configuration back.
    crate::cmd::convert::stop_on_interrupt();
    if args.diskless_load {
        let prev = set_diskless(&mut con)?;
        out.diskless = Some((prev, false));
    }
    // A server loading from the socket works while the check runs: the check keeps to one core.
    let diskless = redis::cmd("CONFIG")
        .arg("GET")
        .arg("repl-diskless-load")
        .query::<Vec<String>>(&mut con)
        .ok()
        .and_then(|v| v.get(1).cloned())
        .is_some_and(|v| v != "disabled");
    if let Err(e) = replicaof(&mut con, &host, &port.to_string()) {
        // Refused: the server did not change (a failed REPLICAOF leaves it as it was).
        let state = put_back(&mut con, out).unwrap_or_else(|| "the server is unchanged".into());
        return Err(Failure::Usage(format!(
            "REPLICAOF {host} {port}: {e}; {state}"
        )));
    }
    let t0 = Instant::now();
    let mut rejected = 0;
    let r = (|| {
        let mut rep = accept_replica(&listener, &expect, &mut rejected)?;
        out.format = if rep.eof { "eof" } else { "bulk" };
        let fail = |f: Failure| match f {
            // The conversion's sink is the server's connection: a write that fails is the
            // server's side (exit 4), not a file of ours.
            Failure::Usage(m) if m.starts_with("writing: ") => Failure::Server(format!(
                "sending the RDB to the server: {}",
                &m["writing: ".len()..]
            )),
            f => f,
        };
        out.sum = match backup {
            Backup::File { file, inp, .. } if out.transfer == "raw" => {
                fullresync(&mut rep)?;
                let sent = raw::send(
                    &mut rep.stream,
                    &file,
                    &raw::Send {
                        name: &inp.name,
                        framing: if rep.eof {
                            raw::Framing::Eof
                        } else {
                            raw::Framing::Bulk
                        },
                        mark: &random_hex40(),
                        target: &target,
                        now_ms: filter.now_ms,
                        threads: if diskless {
                            1
                        } else {
                            rdbkit_rdb::parallel::max_threads()
                        },
                    },
                )?;
                match sent {
                    raw::Raw::Done { sum, expired } => {
                        out.expired_sent = expired;
                        sum
                    }
                    raw::Raw::Convert(why) => {
                        // The link was closed before the end: the replica discarded the
                        // transfer and connects again; this time the backup goes converted.
                        out.transfer = "converted";
                        out.converted_because = Some(why);
                        drop(rep);
                        rep = accept_replica(&listener, &expect, &mut rejected)?;
                        out.format = if rep.eof { "eof" } else { "bulk" };
                        transfer(&mut rep, Data::Input(inp), plan).map_err(fail)?
                    }
                }
            }
            Backup::File { inp, .. } | Backup::Stream(inp) => {
                transfer(&mut rep, Data::Input(inp), plan).map_err(fail)?
            }
            Backup::Replayed(ds) => transfer(&mut rep, Data::Replayed(ds), plan).map_err(fail)?,
        };
        drop(listener);
        out.transfer_secs = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let timeout = Duration::from_secs(args.sync_timeout);
        wait_loaded(&mut con, &mut rep, port, timeout)?;
        out.load_secs = t1.elapsed().as_secs_f64();
        // Counted while the server is still a replica: no key expires there meanwhile.
        out.loaded = keyspace(&mut con).map_err(Failure::Server)?;
        Ok::<_, Failure>(rep)
    })();
    out.rejected = rejected;
    match r {
        Err(f) => {
            let mut state = recover(&mut con, &out.listen);
            if let Some(c) = put_back(&mut con, out) {
                state = format!("{state}; {c}");
            }
            out.state = Some(state.clone());
            Err(noted(f, &state))
        }
        Ok(rep) => {
            let d = detach(&mut con);
            drop(rep);
            let cfg = put_back(&mut con, out);
            if let Err(e) = d {
                let mut state = format!(
                    "the data is loaded, but REPLICAOF NO ONE failed ({e}): the server is still \
                     a replica of {}, where nothing listens any more: run REPLICAOF NO ONE on it",
                    out.listen
                );
                if let Some(c) = cfg {
                    state = format!("{state}; {c}");
                }
                out.state = Some(state.clone());
                return Err(Failure::Server(state));
            }
            if let Some(c) = cfg {
                out.state = Some(format!("the data is loaded, the server a master; {c}"));
                return Err(Failure::Server(c));
            }
            let mut written = out.sum.per_db.clone();
            written.sort_unstable();
            written.retain(|&(_, n)| n > 0);
            if written != out.loaded {
                return Err(Failure::Server(format!(
                    "the server loaded {} but rdbkit wrote {}; the server is a master again",
                    show_counts(&out.loaded),
                    show_counts(&written)
                )));
            }
            Ok(())
        }
    }
}

fn show_counts(c: &[(u64, u64)]) -> String {
    if c.is_empty() {
        return "no keys".into();
    }
    let v: Vec<String> = c.iter().map(|(d, n)| format!("db {d}: {n}")).collect();
    v.join(", ")
}

fn print_summary(args: &Args, r: &SyncReport, secs: f64, err: Option<&Failure>) {
    let keys = r.sum.keys_written;
    let rate = if secs > 0.0 { keys as f64 / secs } else { 0.0 };
    let dropped: serde_json::Map<String, serde_json::Value> = r
        .sum
        .dropped
        .iter()
        .map(|(k, n)| (k.to_string(), serde_json::json!(n)))
        .collect();
    if args.json {
        let per_db: serde_json::Map<String, serde_json::Value> = r
            .loaded
            .iter()
            .map(|(d, n)| (d.to_string(), serde_json::json!(n)))
            .collect();
        let j = serde_json::json!({
            "input": args.input.display().to_string(),
            "mode": "sync",
            "server": r.server,
            "target": r.target,
            "listen": r.listen,
            "format": r.format,
            "transfer": r.transfer,
            "converted_because": r.converted_because,
            "keys_expired_sent": r.expired_sent,
            "connections_refused": r.rejected,
            "diskless_load": r.diskless.as_ref().map(|(prev, back)| serde_json::json!({
                "previous": prev,
                "put_back": back,
            })),
            "ok": err.is_none(),
            "exit_code": err.map_or(0, |e| e.code()),
            "error": err.map(|e| e.to_string()),
            "server_state": r.state,
            "keys_restored": keys,
            "keys_per_db": per_db,
            "keys_filtered_out": r.sum.filtered,
            "dropped": dropped,
            "functions_loaded": r.sum.functions,
            "bytes_sent": r.sum.bytes,
            "transfer_seconds": (r.transfer_secs * 1000.0).round() / 1000.0,
            "load_seconds": (r.load_secs * 1000.0).round() / 1000.0,
            "seconds": (secs * 1000.0).round() / 1000.0,
            "keys_per_second": rate.round(),
        });
        println!("{j}");
        return;
    }
    let mut s = std::io::stdout().lock();
    let _ = writeln!(
        s,
        "{} -> {} ({}, RDB {}) by replication from {}: {} keys restored ({}), {} filtered out or \
         expired, {} function libraries; {} bytes sent in {:.3}s, loaded in {:.3}s, {:.3}s in all \
         ({:.0} keys/s)",
        args.input.display(),
        args.url.rsplit('@').next().unwrap_or(&args.url),
        if r.server.is_empty() { "?" } else { &r.server },
        if r.target.is_empty() { "?" } else { &r.target },
        if r.listen.is_empty() { "?" } else { &r.listen },
        keys,
        show_counts(&r.loaded),
        r.sum.filtered,
        r.sum.functions,
        r.sum.bytes,
        r.transfer_secs,
        r.load_secs,
        secs,
        rate
    );
    match (&r.converted_because, r.transfer) {
        (_, "raw") => {
            let _ = writeln!(
                s,
                "  sent as it is (raw: the file's own bytes; its deep check passed before the \
                 end of the transfer){}",
                if r.expired_sent > 0 {
                    format!(
                        "; {} key(s) already expired were sent too (the server deletes them as \
                         it expires keys)",
                        r.expired_sent
                    )
                } else {
                    String::new()
                }
            );
        }
        (Some(why), _) => {
            let _ = writeln!(s, "  converted for the server: {why}");
        }
        _ => {}
    }
    if let Some((prev, back)) = &r.diskless {
        let _ = writeln!(
            s,
            "  --diskless-load: repl-diskless-load was {prev}; {}",
            if *back {
                "put back"
            } else {
                "NOT put back (see the error)"
            }
        );
    }
    if r.rejected > 0 {
        let _ = writeln!(
            s,
            "  {} connection(s) to rdbkit's port that were not the server's were refused",
            r.rejected
        );
    }
    for (k, n) in &r.sum.dropped {
        let _ = writeln!(
            s,
            "  {k}: {n} (not kept: the server cannot hold it; stream-meta is stripped, the rest \
             left out)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads what `transfer` sends for a replica with or without `capa eof`.
    fn transferred(eof: bool) -> (Vec<u8>, Summary) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (stream, _) = l.accept().unwrap();
        let reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            client.read_to_end(&mut v).unwrap();
            v
        });
        let mut rep = Replica {
            stream,
            eof,
            psync: true,
        };
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rdb/sample.rdb");
        let inp = input::open(&path).unwrap();
        let filter = Filter::new(&crate::filter::FilterArgs {
            skip_expired: true,
            ..Default::default()
        })
        .unwrap();
        let plan = Plan {
            target: rdbkit_rdb::write::Target::by_name("rdb-10").unwrap(),
            allowed: vec![rdbkit_rdb::write::Loss::StreamMeta],
            drop_unknown: false,
            re_encode: false,
            compress: true,
            filter: &filter,
            filtering: true,
            opts: rdbkit_rdb::Options::default().deep(false),
            max_value_bytes: 1 << 20,
            quiet: true,
        };
        let sum = transfer(&mut rep, inp.into(), plan).unwrap();
        drop(rep);
        (reader.join().unwrap(), sum)
    }

    /// `+FULLRESYNC <40 hex> 0`, then the same RDB as an EOF-marked stream (`$EOF:<mark>`, the
    /// RDB, the mark) or a length-prefixed bulk from the temporary file; the RDB is whole (its
    /// CRC-64 checks) and its size is the summary's byte count.
    #[test]
    fn eof_marked_and_length_prefixed_transfers_carry_the_same_rdb() {
        let (a, sa) = transferred(true);
        let (b, sb) = transferred(false);
        let head = |v: &[u8]| {
            let end = v.windows(2).position(|w| w == b"\r\n").unwrap();
            let line = std::str::from_utf8(&v[..end]).unwrap().to_string();
            (line, end + 2)
        };
        let mut rdbs = Vec::new();
        for (v, eof) in [(&a, true), (&b, false)] {
            let (line, at) = head(v);
            let id = line
                .strip_prefix("+FULLRESYNC ")
                .unwrap()
                .strip_suffix(" 0")
                .unwrap();
            assert_eq!(id.len(), 40);
            assert!(id.bytes().all(|c| c.is_ascii_hexdigit()));
            let mut rest = &v[at..];
            while rest.first() == Some(&b'\n') {
                rest = &rest[1..]; // keep-alive newlines while the file is written
            }
            let (line, at) = head(rest);
            let body = &rest[at..];
            let rdb = if eof {
                let mark = line.strip_prefix("$EOF:").unwrap();
                assert_eq!(mark.len(), 40);
                body.strip_suffix(mark.as_bytes()).unwrap().to_vec()
            } else {
                let len: usize = line.strip_prefix('$').unwrap().parse().unwrap();
                assert_eq!(body.len(), len);
                body.to_vec()
            };
            rdbs.push(rdb);
        }
        assert_eq!(rdbs[0], rdbs[1]);
        assert!(rdbs[0].starts_with(b"REDIS0010"));
        assert_eq!(sa.bytes, rdbs[0].len() as u64);
        assert_eq!(sb.bytes, rdbs[0].len() as u64);
        assert_eq!(sa.keys_written, sb.keys_written);
        assert!(sa.keys_written > 0);
        // The stream parses to its end, CRC-64 included.
        let mut n = 0;
        let mut p = rdbkit_rdb::RdbParser::new(&rdbs[0], rdbkit_rdb::Options::default());
        while let Some(r) = p.next() {
            if let rdbkit_rdb::Record::Key(_) = r.unwrap() {
                n += 1;
            }
        }
        assert_eq!(n, sa.keys_written);
    }

    /// Connections that are not the server's replica link come first and are refused — one
    /// announcing another port, one without `REPLCONF listening-port`, one silent — then the
    /// server's (its port announced) is taken; a non-loopback peer is refused when the server
    /// is local.
    #[test]
    fn only_the_servers_replica_link_is_taken() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let hello = |port: Option<u16>| {
            let mut c = TcpStream::connect(addr).unwrap();
            let mut m = b"PING\r\n".to_vec();
            if let Some(p) = port {
                m.extend_from_slice(format!("REPLCONF listening-port {p}\r\n").as_bytes());
            }
            m.extend_from_slice(b"REPLCONF capa eof capa psync2\r\nPSYNC ? -1\r\n");
            c.write_all(&m).unwrap();
            c
        };
        let mut strays = vec![hello(Some(1)), hello(None)];
        let _silent = TcpStream::connect(addr).unwrap();
        let mut good = hello(Some(6379));
        let expect = Expect {
            ports: vec![6379],
            loopback: true,
            local: Some(addr.ip()),
        };
        let mut rejected = 0;
        let rep = accept_replica(&l, &expect, &mut rejected).unwrap();
        assert_eq!(rejected, 3);
        assert!(rep.eof && rep.psync);
        for s in &mut strays {
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            let got = String::from_utf8_lossy(&got).to_string();
            assert!(got.contains("-ERR rdbkit: "), "{got}");
            assert!(!got.contains("FULLRESYNC"), "{got}");
        }
        drop(rep);
        let mut got = Vec::new();
        good.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"+PONG\r\n+OK\r\n+OK\r\n");
        // A peer that is not on this machine, the server being local.
        let c = TcpStream::connect(addr).unwrap();
        let (s, _) = l.accept().unwrap();
        let far: IpAddr = "192.0.2.7".parse().unwrap();
        let e = handshake(s, far, &expect, Instant::now() + HANDSHAKE)
            .err()
            .unwrap();
        assert!(e.contains("loopback"), "{e}");
        drop(c);
    }

    #[test]
    fn handshake_commands_resp_and_inline() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        c.write_all(b"*3\r\n$8\r\nREPLCONF\r\n$4\r\ncapa\r\n$3\r\neof\r\n\r\nPING\r\n*2\r\n$1\r\nx\r\n$99999999\r\n")
            .unwrap();
        let mut r = BufReader::new(s);
        assert_eq!(
            read_command(&mut r).unwrap(),
            vec![b"REPLCONF".to_vec(), b"capa".to_vec(), b"eof".to_vec()]
        );
        assert_eq!(read_command(&mut r).unwrap(), vec![b"PING".to_vec()]);
        // An argument longer than a handshake has is refused, not allocated.
        assert!(read_command(&mut r).is_err());
    }
}
