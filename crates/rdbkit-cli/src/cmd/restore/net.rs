//! The wire side of `rdbkit restore`: one pipelined connection per node (the `redis` crate's
//! synchronous connection, commands packed by us and sent in batches), bounded in-flight bytes,
//! every reply matched to the key whose command it answers; cluster slot routing (CRC16 hash
//! slots with hash tags, `CLUSTER SLOTS`, `MOVED`/`ASK`).

use std::collections::VecDeque;
use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Value};

use crate::verify::against::show_key;

/// Bytes buffered per node before they are written to its socket.
const FLUSH_AT: usize = 256 << 10;
/// At most this many commands waiting for their replies per node.
const MAX_PENDING: usize = 20_000;

/// What a command is, for its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// SELECT or ASKING: +OK expected.
    Control,
    /// RESTORE of one key.
    Restore,
    /// One of the commands recreating a key; `last` marks the key's final command.
    Cmd { last: bool },
    /// EXISTS of one key (the existing-key check).
    Exists,
    /// FUNCTION LOAD of a library.
    Function,
}

struct Pending {
    kind: Kind,
    db: u64,
    /// The length of its key, whose bytes are in the node's `key_ring`.
    key_len: usize,
    len: usize,
    /// The packed command, kept in cluster mode to be re-sent after MOVED/ASK.
    cmd: Option<Vec<u8>>,
}

/// The keys of the pending commands, oldest first, end to end in one buffer (no allocation
/// per command).
#[derive(Default)]
struct KeyRing {
    buf: Vec<u8>,
    head: usize,
}

impl KeyRing {
    fn push(&mut self, key: &[u8]) {
        self.buf.extend_from_slice(key);
    }

    /// The oldest key, `len` bytes long.
    fn front(&self, len: usize) -> &[u8] {
        &self.buf[self.head..self.head + len]
    }

    /// Forgets the oldest key.
    fn pop(&mut self, len: usize) {
        self.head += len;
        if self.head >= self.buf.len() {
            self.buf.clear();
            self.head = 0;
        } else if self.head >= 1 << 20 && self.head * 2 >= self.buf.len() {
            self.buf.drain(..self.head);
            self.head = 0;
        }
    }

    /// Forgets the newest `len` bytes of keys.
    fn truncate_back(&mut self, len: usize) {
        self.buf.truncate(self.buf.len() - len);
        if self.head >= self.buf.len() {
            self.buf.clear();
            self.head = 0;
        }
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.head = 0;
    }
}

/// One server connection with its pipeline.
pub struct Node {
    /// `host:port`.
    pub addr: String,
    con: redis::Connection,
    out: Vec<u8>,
    /// Commands waiting for their reply, oldest first: the first `pending.len() - queued` were
    /// handed to the socket (whole or in part), the last `queued` are still in `out`.
    pending: VecDeque<Pending>,
    /// The keys of `pending`.
    key_ring: KeyRing,
    /// How many of the newest `pending` entries were never handed to the socket.
    queued: usize,
    /// Bytes handed to the socket whose replies are still owed.
    inflight: usize,
    db: Option<u64>,
    /// The oldest pending entries finish a key some of whose commands the server already
    /// confirmed (a key recreated with several commands).
    open_key: bool,
    /// Keys whose restore this node confirmed.
    pub keys: u64,
}

impl Node {
    fn new(addr: String, con: redis::Connection, db: Option<u64>) -> Node {
        Node {
            addr,
            con,
            out: Vec::new(),
            pending: VecDeque::new(),
            key_ring: KeyRing::default(),
            queued: 0,
            inflight: 0,
            db,
            open_key: false,
            keys: 0,
        }
    }

    /// Keys this node may hold without a reply saying so: of the commands handed to the socket
    /// (`popped`, whose reply was being read, then the sent part of `pending`), every key's
    /// final command, a key cut between sent and unsent commands, and a key whose earlier
    /// commands were confirmed but whose last one was not.
    fn unreplied_keys(&self, popped: Option<&Pending>) -> u64 {
        let sent = self.pending.len() - self.queued;
        let kinds = popped
            .into_iter()
            .chain(self.pending.iter().take(sent))
            .map(|p| p.kind);
        unreplied(kinds, self.open_key)
    }

    /// Forgets every command waiting for a reply and everything not yet sent.
    fn clear(&mut self) {
        self.pending.clear();
        self.key_ring.clear();
        self.out.clear();
        self.queued = 0;
        self.inflight = 0;
        self.open_key = false;
    }
}

/// How a run ended badly.
#[derive(Debug)]
pub enum NetFail {
    /// The server refused a command (names the key).
    Server(String),
    /// The connection broke.
    Lost(String),
}

impl NetFail {
    /// The message.
    pub fn msg(&self) -> &str {
        match self {
            NetFail::Server(m) | NetFail::Lost(m) => m,
        }
    }
}

/// What the replies said.
#[derive(Default, Debug)]
pub struct Tally {
    /// Keys restored with RESTORE.
    pub restored: u64,
    /// Keys recreated with commands.
    pub as_commands: u64,
    /// Keys left alone because they exist (--skip-existing).
    pub skipped_existing: u64,
    /// Function libraries loaded.
    pub functions: u64,
    /// Function libraries left alone because they exist (--skip-existing).
    pub functions_skipped: u64,
    /// Keys the EXISTS check found (first few names, and how many).
    pub existing: Vec<(u64, Vec<u8>)>,
    /// How many keys the EXISTS check found.
    pub existing_count: u64,
    /// Bytes of commands written to the sockets.
    pub bytes_sent: u64,
    /// MOVED / ASK redirections followed.
    pub redirects: u64,
    /// Keys sent (or being sent) when the connection broke, without a reply: they may or may
    /// not be on the server.
    pub unconfirmed: u64,
}

fn is_key(k: Kind) -> bool {
    matches!(k, Kind::Restore | Kind::Cmd { last: true })
}

/// How many keys the commands `sent` (handed to a socket, oldest first, no reply read) may have
/// written: each key's final command, plus a key whose commands stop at the end of `sent`; with
/// nothing sent, the key whose earlier commands were confirmed (`open_key`).
fn unreplied(sent: impl Iterator<Item = Kind>, open_key: bool) -> u64 {
    let mut n = 0;
    let mut last = None;
    for k in sent {
        n += u64::from(is_key(k));
        last = Some(k);
    }
    match last {
        None => u64::from(open_key),
        Some(k) => n + u64::from(k == Kind::Cmd { last: false }),
    }
}

/// The set of connections a restore writes to.
pub struct Fleet {
    info: ConnectionInfo,
    /// Node connections.
    pub nodes: Vec<Node>,
    /// Cluster: slot -> node index; empty for a single server.
    slots: Vec<usize>,
    window: usize,
    /// `--skip-existing`: BUSYKEY and "already exists" are counted, not errors.
    pub skip_existing: bool,
    /// What the replies said so far.
    pub tally: Tally,
    /// The first fatal error; nothing more is sent after it.
    pub failed: Option<NetFail>,
    /// Cluster nodes may be on other hosts (`--allow-remote`).
    pub allow_remote: bool,
    /// Reading the replies owed after a failure: redirections are not followed.
    settling: bool,
}

/// CRC16 (XMODEM), as the cluster computes hash slots.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The hash slot of a key: CRC16 of the key, or of its `{tag}` when the braces enclose at least
/// one byte, modulo 16384.
pub fn key_slot(key: &[u8]) -> u16 {
    let mut k = key;
    if let Some(s) = key.iter().position(|&b| b == b'{') {
        if let Some(e) = key[s + 1..].iter().position(|&b| b == b'}') {
            if e > 0 {
                k = &key[s + 1..s + 1 + e];
            }
        }
    }
    crc16(k) % 16384
}

/// Appends the decimal digits of `n`.
pub fn put_uint(out: &mut Vec<u8>, mut n: u64) {
    if n < 10 {
        out.push(b'0' + n as u8);
        return;
    }
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends `*n\r\n`, the header of a command of `n` arguments.
pub fn put_array(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    put_uint(out, n as u64);
    out.extend_from_slice(b"\r\n");
}

/// Appends the header of a bulk string of `len` bytes: `$len\r\n`.
pub fn put_bulk_len(out: &mut Vec<u8>, len: usize) {
    out.push(b'$');
    put_uint(out, len as u64);
    out.extend_from_slice(b"\r\n");
}

/// Appends one bulk string argument.
pub fn put_bulk(out: &mut Vec<u8>, a: &[u8]) {
    put_bulk_len(out, a.len());
    out.extend_from_slice(a);
    out.extend_from_slice(b"\r\n");
}

/// Packs one command (RESP multibulk).
pub fn pack<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut b = Vec::with_capacity(16 + args.iter().map(|a| a.as_ref().len() + 16).sum::<usize>());
    put_array(&mut b, args.len());
    for a in args {
        put_bulk(&mut b, a.as_ref());
    }
    b
}

/// Opens a connection to `info` (AUTH and SELECT done by the crate).
pub fn open(info: &ConnectionInfo) -> Result<redis::Connection, String> {
    let client = redis::Client::open(info.clone()).map_err(|e| format!("{e}"))?;
    let con = client
        .get_connection_with_timeout(Duration::from_secs(10))
        .map_err(|e| describe_connect(info.addr(), &e))?;
    let _ = con.set_read_timeout(Some(Duration::from_secs(120)));
    let _ = con.set_write_timeout(Some(Duration::from_secs(120)));
    Ok(con)
}

fn describe_connect(addr: &ConnectionAddr, e: &redis::RedisError) -> String {
    let s = e.to_string();
    if s.contains("WRONGPASS") || s.contains("invalid password") || s.contains("invalid username") {
        format!("{addr}: authentication failed: {s}")
    } else if s.contains("NOAUTH") {
        format!("{addr}: the server needs a password (user:pass@ in the URL, or RDBKIT_PASSWORD / REDISCLI_AUTH): {s}")
    } else {
        format!("can't connect to {addr}: {s}")
    }
}

fn addr_of(a: &ConnectionAddr) -> String {
    match a {
        ConnectionAddr::Tcp(h, p) => format!("{h}:{p}"),
        ConnectionAddr::TcpTls { host, port, .. } => format!("{host}:{port}"),
        other => other.to_string(),
    }
}

impl Fleet {
    /// A single server.
    pub fn single(info: ConnectionInfo, con: redis::Connection, window: usize) -> Fleet {
        let db = info.redis_settings().db();
        let addr = addr_of(info.addr());
        let mut f = Fleet::empty(info, window);
        f.nodes.push(Node::new(addr, con, u64::try_from(db).ok()));
        f
    }

    fn empty(info: ConnectionInfo, window: usize) -> Fleet {
        Fleet {
            info,
            nodes: Vec::new(),
            slots: Vec::new(),
            window: window.max(1 << 16),
            skip_existing: false,
            tally: Tally::default(),
            failed: None,
            allow_remote: false,
            settling: false,
        }
    }

    /// A cluster: the slot table from `CLUSTER SLOTS` of the node `con` is connected to, one
    /// connection per master.
    pub fn cluster(
        info: ConnectionInfo,
        mut con: redis::Connection,
        window: usize,
        allow_remote: bool,
    ) -> Result<Fleet, String> {
        let mut f = Fleet::empty(info, window);
        f.allow_remote = allow_remote;
        f.slots = vec![usize::MAX; 16384];
        f.load_slots(&mut con)?;
        if let Some(s) = f.slots.iter().position(|&n| n == usize::MAX) {
            return Err(format!(
                "the cluster does not cover every slot (slot {s} has no node): fix the cluster first"
            ));
        }
        Ok(f)
    }

    fn load_slots(&mut self, con: &mut redis::Connection) -> Result<(), String> {
        let v: Value = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query(con)
            .map_err(|e| format!("CLUSTER SLOTS: {e}"))?;
        let Value::Array(ranges) = v else {
            return Err(format!("CLUSTER SLOTS: unexpected reply {v:?}"));
        };
        let seed_host = match self.info.addr() {
            ConnectionAddr::Tcp(h, _) => h.clone(),
            ConnectionAddr::TcpTls { host, .. } => host.clone(),
            _ => "127.0.0.1".to_string(),
        };
        for r in ranges {
            let Value::Array(r) = r else { continue };
            let (Some(Value::Int(a)), Some(Value::Int(b)), Some(Value::Array(m))) =
                (r.first(), r.get(1), r.get(2))
            else {
                return Err("CLUSTER SLOTS: unexpected range entry".into());
            };
            let host = match m.first() {
                Some(Value::BulkString(h)) if !h.is_empty() => {
                    String::from_utf8_lossy(h).into_owned()
                }
                _ => seed_host.clone(),
            };
            let Some(Value::Int(port)) = m.get(1) else {
                return Err("CLUSTER SLOTS: a node without a port".into());
            };
            let idx = self.node_for(&host, *port as u16)?;
            for s in (*a).max(0)..=(*b).min(16383) {
                self.slots[s as usize] = idx;
            }
        }
        Ok(())
    }

    /// The index of the node at host:port, connecting on first use.
    fn node_for(&mut self, host: &str, port: u16) -> Result<usize, String> {
        let addr = format!("{host}:{port}");
        if let Some(i) = self.nodes.iter().position(|n| n.addr == addr) {
            return Ok(i);
        }
        let info = super::tls::node_addr(self.info.addr(), host, port)
            .into_connection_info()
            .map_err(|e| format!("{addr}: {e}"))?;
        let info = info.set_redis_settings(self.info.redis_settings().clone().set_db(0));
        if !crate::verify::against::is_local(info.addr()) && !self.allow_remote {
            return Err(format!(
                "the cluster names node {addr}, not a loopback address: pass --allow-remote"
            ));
        }
        let con = open(&info)?;
        self.nodes.push(Node::new(addr, con, Some(0)));
        Ok(self.nodes.len() - 1)
    }

    /// True in cluster mode.
    pub fn is_cluster(&self) -> bool {
        !self.slots.is_empty()
    }

    fn route(&self, key: &[u8]) -> usize {
        if self.slots.is_empty() {
            0
        } else {
            self.slots[key_slot(key) as usize]
        }
    }

    /// Queues one packed command for `key` of `db` on the node that owns it.
    pub fn send(&mut self, kind: Kind, db: u64, key: &[u8], cmd: &[u8]) -> Result<(), ()> {
        self.send_with(kind, db, key, |out| out.extend_from_slice(cmd))
    }

    /// Queues one command for `key` of `db` on the node that owns it, `write` appending it
    /// (packed) straight to the node's output buffer.
    pub fn send_with(
        &mut self,
        kind: Kind,
        db: u64,
        key: &[u8],
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), ()> {
        let n = self.route(key);
        self.send_to(n, kind, db, key, write)
    }

    /// Queues a command on every node (function libraries).
    pub fn send_all(&mut self, kind: Kind, cmd: &[u8]) -> Result<(), ()> {
        for n in 0..self.nodes.len() {
            let db = self.nodes[n].db.unwrap_or(0);
            self.send_to(n, kind, db, b"", |out| out.extend_from_slice(cmd))?;
        }
        Ok(())
    }

    fn send_to(
        &mut self,
        n: usize,
        kind: Kind,
        db: u64,
        key: &[u8],
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), ()> {
        if self.failed.is_some() {
            return Err(());
        }
        if !self.is_cluster() && self.nodes[n].db != Some(db) {
            let sel = pack(&[b"SELECT".to_vec(), db.to_string().into_bytes()]);
            self.push(n, Kind::Control, db, b"", &sel);
            self.nodes[n].db = Some(db);
        }
        self.push_with(n, kind, db, key, write);
        let node = &self.nodes[n];
        if node.out.len() >= FLUSH_AT {
            self.flush(n)?;
        }
        let node = &self.nodes[n];
        if node.inflight > self.window || node.pending.len() > MAX_PENDING {
            let target = self.window / 2;
            while self.nodes[n].inflight > target || self.nodes[n].pending.len() > MAX_PENDING / 2 {
                self.read_one(n)?;
            }
        }
        Ok(())
    }

    fn push(&mut self, n: usize, kind: Kind, db: u64, key: &[u8], cmd: &[u8]) {
        self.push_with(n, kind, db, key, |out| out.extend_from_slice(cmd));
    }

    fn push_with(
        &mut self,
        n: usize,
        kind: Kind,
        db: u64,
        key: &[u8],
        write: impl FnOnce(&mut Vec<u8>),
    ) {
        let cluster = self.is_cluster();
        let node = &mut self.nodes[n];
        let start = node.out.len();
        write(&mut node.out);
        let len = node.out.len() - start;
        node.queued += 1;
        node.key_ring.push(key);
        node.pending.push_back(Pending {
            kind,
            db,
            key_len: key.len(),
            len,
            cmd: cluster.then(|| node.out[start..].to_vec()),
        });
    }

    fn flush(&mut self, n: usize) -> Result<(), ()> {
        let node = &mut self.nodes[n];
        if node.out.is_empty() {
            return Ok(());
        }
        let len = node.out.len();
        // From here on these commands count as sent: any part of them may reach the server.
        node.queued = 0;
        node.inflight += len;
        if let Err(e) = node.con.send_packed_command(&node.out) {
            let addr = node.addr.clone();
            return self.lose(
                n,
                None,
                format!("connection to {addr} lost while sending: {e}"),
            );
        }
        let node = &mut self.nodes[n];
        node.out.clear();
        self.tally.bytes_sent += len as u64;
        Ok(())
    }

    /// The connection to node `n` broke: every key sent to it without a reply (and `popped`,
    /// whose reply was being read) is counted unconfirmed there and then, whatever later takes
    /// the failure; what was never sent is dropped.
    fn lose(&mut self, n: usize, popped: Option<Pending>, msg: String) -> Result<(), ()> {
        let node = &mut self.nodes[n];
        self.tally.unconfirmed += node.unreplied_keys(popped.as_ref());
        node.clear();
        self.fail(NetFail::Lost(msg))
    }

    fn fail(&mut self, f: NetFail) -> Result<(), ()> {
        if self.failed.is_none() {
            self.failed = Some(f);
        }
        Err(())
    }

    /// Reads the reply of node `n`'s oldest command.
    fn read_one(&mut self, n: usize) -> Result<(), ()> {
        if !self.nodes[n].out.is_empty() {
            self.flush(n)?;
        }
        let node = &mut self.nodes[n];
        let Some(p) = node.pending.pop_front() else {
            return Ok(());
        };
        let r = node.con.recv_response();
        node.inflight = node.inflight.saturating_sub(p.len);
        // The common replies, without copying the key out.
        match (&r, p.kind) {
            (Ok(Value::Okay), Kind::Restore) => {
                node.key_ring.pop(p.key_len);
                node.keys += 1;
                self.tally.restored += 1;
                return Ok(());
            }
            (Ok(Value::Int(0)), Kind::Exists) | (Ok(Value::Okay), Kind::Control) => {
                node.key_ring.pop(p.key_len);
                return Ok(());
            }
            _ => {}
        }
        let key = node.key_ring.front(p.key_len).to_vec();
        node.key_ring.pop(p.key_len);
        let addr = node.addr.clone();
        let who = || {
            if key.is_empty() {
                String::new()
            } else {
                format!("db {} key {}: ", p.db, show_key(&key))
            }
        };
        let (code, err, detail) = match r {
            Ok(Value::ServerError(e)) => (
                e.code().to_string(),
                e.to_string(),
                e.details().unwrap_or("").to_string(),
            ),
            Ok(Value::Int(i)) if p.kind == Kind::Exists => {
                if i > 0 {
                    self.tally.existing_count += 1;
                    if self.tally.existing.len() < 10 {
                        self.tally.existing.push((p.db, key));
                    }
                }
                return Ok(());
            }
            Ok(_) => {
                match p.kind {
                    Kind::Restore => {
                        self.tally.restored += 1;
                        self.nodes[n].keys += 1;
                    }
                    Kind::Cmd { last } => {
                        self.nodes[n].open_key = !last;
                        if last {
                            self.tally.as_commands += 1;
                            self.nodes[n].keys += 1;
                        }
                    }
                    Kind::Function => self.tally.functions += 1,
                    _ => {}
                }
                return Ok(());
            }
            Err(e)
                if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() =>
            {
                let msg = format!(
                    "connection to {addr} lost: {e} (waiting for the reply about {}the command)",
                    who()
                );
                return self.lose(n, Some(p), msg);
            }
            Err(e) => (
                e.code().unwrap_or("").to_string(),
                e.to_string(),
                e.detail().unwrap_or("").to_string(),
            ),
        };
        // A server error.
        if matches!(p.kind, Kind::Cmd { .. }) {
            self.nodes[n].open_key = false;
        }
        if self.is_cluster() && (code == "MOVED" || code == "ASK") {
            if self.settling {
                // Not run by this node, and nothing more is sent after a failure.
                self.tally.redirects += 1;
                return Ok(());
            }
            return self.redirect(&detail, code == "ASK", p, &key);
        }
        if self.skip_existing && code == "BUSYKEY" && p.kind == Kind::Restore {
            self.tally.skipped_existing += 1;
            return Ok(());
        }
        if self.skip_existing && p.kind == Kind::Function && err.contains("already exists") {
            self.tally.functions_skipped += 1;
            return Ok(());
        }
        let what = match p.kind {
            Kind::Function => "loading a function library".to_string(),
            _ => who().trim_end_matches(": ").to_string(),
        };
        let hint = if code == "BUSYKEY" {
            " (it exists on the server: --replace to overwrite, --skip-existing to keep it)"
        } else if code == "OOM" {
            " (the server is out of memory: raise maxmemory or restore less)"
        } else {
            ""
        };
        self.fail(NetFail::Server(format!(
            "{addr}: {what}: the server refused it: {err}{hint}"
        )))
    }

    fn redirect(&mut self, err: &str, ask: bool, p: Pending, key: &[u8]) -> Result<(), ()> {
        self.tally.redirects += 1;
        let target = err.split_whitespace().nth(1).unwrap_or("");
        let slot: Option<usize> = err.split_whitespace().next().and_then(|s| s.parse().ok());
        let Some((host, port)) = target
            .rsplit_once(':')
            .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h.to_string(), p)))
        else {
            return self.fail(NetFail::Server(format!("unreadable redirection: {err}")));
        };
        let host = if host.is_empty() {
            "127.0.0.1".to_string()
        } else {
            host
        };
        let idx = match self.node_for(&host, port) {
            Ok(i) => i,
            Err(e) => return self.fail(NetFail::Lost(e)),
        };
        if !ask {
            if let Some(s) = slot.filter(|&s| s < 16384) {
                self.slots[s] = idx;
            }
        }
        let Some(cmd) = p.cmd else {
            return self.fail(NetFail::Server(format!(
                "redirection without a command: {err}"
            )));
        };
        if ask {
            self.push(idx, Kind::Control, p.db, b"", &pack(&[b"ASKING"]));
        }
        self.push(idx, p.kind, p.db, key, &cmd);
        Ok(())
    }

    /// Sends everything queued and reads every reply (also those of redirected commands).
    pub fn drain(&mut self) -> Result<(), ()> {
        loop {
            let mut any = false;
            for n in 0..self.nodes.len() {
                while !self.nodes[n].pending.is_empty() {
                    any = true;
                    self.flush(n)?;
                    self.read_one(n)?;
                }
            }
            if !any {
                return Ok(());
            }
        }
    }

    /// After a failure: drops what was never sent and reads the replies owed for what was,
    /// so that every key sent is counted as confirmed (restored), refused, or unconfirmed (a
    /// connection broke before its reply). Nothing more is sent; the first failure is kept.
    pub fn settle(&mut self) {
        let first = self.failed.take();
        self.settling = true;
        for n in 0..self.nodes.len() {
            let node = &mut self.nodes[n];
            let sent = node.pending.len() - node.queued;
            let unsent_keys: usize = node.pending.iter().skip(sent).map(|p| p.key_len).sum();
            node.key_ring.truncate_back(unsent_keys);
            node.pending.truncate(sent);
            node.queued = 0;
            node.out.clear();
            while !self.nodes[n].pending.is_empty() {
                self.failed = None;
                // A lost connection counts its own unconfirmed keys and clears the node.
                let _ = self.read_one(n);
            }
            let node = &mut self.nodes[n];
            if node.open_key {
                // Some commands of a key ran, its last one was never sent.
                self.tally.unconfirmed += 1;
                node.open_key = false;
            }
        }
        self.settling = false;
        self.failed = first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreplied_keys_count_every_key_that_may_be_on_the_server() {
        use Kind::*;
        let c = |last| Cmd { last };
        // RESTOREs and SELECT: one per RESTORE.
        assert_eq!(unreplied([Control, Restore, Restore].into_iter(), false), 2);
        // A key recreated with commands, whole: one; cut after its first command: one.
        assert_eq!(
            unreplied([c(false), c(false), c(true)].into_iter(), false),
            1
        );
        assert_eq!(unreplied([Restore, c(false)].into_iter(), false), 2);
        // The rest of a key whose first commands were confirmed: counted once.
        assert_eq!(unreplied([c(true), Restore].into_iter(), true), 2);
        assert_eq!(unreplied(std::iter::empty(), true), 1);
        assert_eq!(unreplied(std::iter::empty(), false), 0);
        // EXISTS and FUNCTION LOAD are not keys.
        assert_eq!(unreplied([Exists, Function].into_iter(), false), 0);
    }
}
