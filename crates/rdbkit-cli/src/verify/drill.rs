//! `rdbkit verify BACKUP --drill --server PATH`: a timed restore drill. Starts a throwaway
//! server (the given `redis-server`/`valkey-server` binary) on 127.0.0.1, a free port and a
//! private temporary directory, with the backup as its `dbfilename` (converted first with
//! `rdbkit convert` when the server cannot read it as is: gzip'd, an AOF, a newer RDB version
//! or the other fork), measures the time from start to the first answered PING (the RTO of a
//! restart restore), compares every key of every database with the loaded file (the `--against`
//! comparison), stops the server and reports pass/fail, the load time and the key count.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdbkit_rdb::{Options, Record};

use super::{against, prometheus};

/// What a drill found.
#[derive(Default)]
pub struct Drill {
    /// The backup as given.
    pub backup: String,
    /// `redis 7.0.15` / `valkey 8.1.8`.
    pub server: String,
    /// The target the backup was converted to first, if it was.
    pub converted: Option<String>,
    /// Seconds from the server's start to its first PONG.
    pub load_seconds: f64,
    /// Keys the loaded server holds (all databases).
    pub keys: u64,
    /// Keys compared.
    pub compared: u64,
    /// Differences (missing, extra, different), each one line.
    pub differences: Vec<String>,
    /// Why the drill could not run or the server refused the backup.
    pub error: Option<String>,
}

impl Drill {
    /// Passed: loaded, and equal.
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.differences.is_empty()
    }
}

/// `Redis server v=7.0.15 ...` → ("redis", "7.0.15").
fn server_version(bin: &Path) -> Result<(String, String), String> {
    let o = Command::new(bin)
        .arg("--version")
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let fork = if text.to_ascii_lowercase().starts_with("valkey") {
        "valkey"
    } else {
        "redis"
    };
    let v = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("v="))
        .ok_or_else(|| format!("{}: no version in {:?}", bin.display(), text.trim()))?;
    Ok((fork.to_string(), v.to_string()))
}

/// The backup's RDB header (magic, version) when it is a plain (not gzip'd) RDB file: the file
/// itself, not a member of an archive (copied as it is, the archive would not load).
fn plain_rdb_header(path: &Path) -> Option<(rdbkit_rdb::Magic, u32)> {
    let inp = crate::input::open(path).ok()?;
    if !inp.is_rdb() || inp.codec.is_some() || inp.name == "-" || inp.path() != Some(path) {
        return None;
    }
    let opts = Options::default()
        .deep(false)
        .verify_checksum(false)
        .best_effort(true);
    inp.with_rdb(opts, |src| {
        let _ = src.next_record();
        src.header().map(|h| (h.magic, h.version))
    })
    .ok()
    .flatten()
}

/// The databases holding keys in an RDB file.
fn dbs_of(path: &Path) -> Result<Vec<u64>, String> {
    let inp = crate::input::open(path).map_err(|e| e.to_string())?;
    let opts = Options::default()
        .deep(false)
        .verify_checksum(true)
        .best_effort(false);
    inp.with_rdb(opts, |src| {
        let mut dbs = Vec::new();
        while let Some(r) = src.next_record() {
            if let Record::Key(k) = r.map_err(|e| e.to_string())? {
                if dbs.last() != Some(&k.db) && !dbs.contains(&k.db) {
                    dbs.push(k.db);
                }
            }
        }
        Ok(dbs)
    })
    .map_err(|e| e.to_string())?
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn tail(path: &Path, n: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(n)..].join("\n")
}

/// Stops the server (SHUTDOWN NOSAVE, then kill after 20 s).
fn stop(child: &mut Child, port: u16) {
    if let Ok(c) = redis::Client::open(format!("redis://127.0.0.1:{port}")) {
        if let Ok(mut con) = c.get_connection_with_timeout(Duration::from_secs(2)) {
            let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").arg("NOSAVE").query(&mut con);
        }
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

/// Runs one drill.
pub fn drill(backup: &Path, server: &Path, timeout: Duration) -> Drill {
    let mut d = Drill {
        backup: backup.display().to_string(),
        ..Drill::default()
    };
    if let Err(e) = drill_into(&mut d, backup, server, timeout) {
        d.error = Some(e);
    }
    d
}

fn drill_into(
    d: &mut Drill,
    backup: &Path,
    server: &Path,
    timeout: Duration,
) -> Result<(), String> {
    let (fork, version) = server_version(server)?;
    d.server = format!("{fork} {version}");
    let target = crate::cmd::restore::target_for(&fork, &version)
        .ok_or_else(|| format!("{}: no RDB version known for it", d.server))?;
    let dir = tempfile::Builder::new()
        .prefix("rdbkit-drill-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let file = dir.path().join("dump.rdb");
    // Loaded as is when the server reads it: a plain RDB of its fork (Valkey reads Redis RDBs
    // up to 11) and a version not above its own.
    let readable = plain_rdb_header(backup).is_some_and(|(m, v)| {
        use rdbkit_rdb::Magic;
        match (m, target.magic) {
            (Magic::Redis, Magic::Redis) => v <= target.version,
            (Magic::Redis, Magic::Valkey) => v <= 11,
            (Magic::Valkey, Magic::Valkey) => v <= target.version,
            (Magic::Valkey, Magic::Redis) => false,
        }
    });
    if readable {
        std::fs::copy(backup, &file).map_err(|e| format!("copying the backup: {e}"))?;
    } else {
        let exe = std::env::current_exe().map_err(|e| format!("rdbkit itself: {e}"))?;
        let o = Command::new(exe)
            .arg("convert")
            .arg("--quiet")
            .arg("--target")
            .arg(target.name)
            .arg(backup)
            .arg(&file)
            .output()
            .map_err(|e| format!("rdbkit convert: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "converting the backup to {} for {} failed: {}",
                target.name,
                d.server,
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        d.converted = Some(target.name.to_string());
    }
    let dbs = dbs_of(&file)?;
    let port = free_port()?;
    let log = dir.path().join("server.log");
    let start = Instant::now();
    let mut child = Command::new(server)
        .arg("--port")
        .arg(port.to_string())
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(["--daemonize", "no", "--dbfilename", "dump.rdb"])
        .arg("--dir")
        .arg(dir.path())
        .arg("--logfile")
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", server.display()))?;
    let url = format!("redis://127.0.0.1:{port}");
    // Ready: the first PONG (a loading server answers -LOADING).
    let ready = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break Err(format!(
                "the server exited ({st}) while loading the backup:\n{}",
                tail(&log, 15)
            ));
        }
        if start.elapsed() > timeout {
            break Err(format!(
                "the server did not become ready within {timeout:?}:\n{}",
                tail(&log, 15)
            ));
        }
        let pong = redis::Client::open(url.as_str())
            .ok()
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)).ok())
            .and_then(|mut con| redis::cmd("PING").query::<String>(&mut con).ok());
        if pong.as_deref() == Some("PONG") {
            break Ok(start.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let r = ready.and_then(|secs| {
        d.load_seconds = secs;
        compare_all(d, &file, &url, &dbs)
    });
    stop(&mut child, port);
    r
}

/// Every db the backup or the drill server holds (or `dbs` when named), compared key by key
/// with `verify --against`'s comparison.
fn compare_all(d: &mut Drill, file: &Path, url: &str, dbs: &[u64]) -> Result<(), String> {
    let opts = against::Options {
        sample: None,
        allow_remote: false,
        dbs: dbs.to_vec(),
        timeout: Duration::from_secs(60),
        tls: Default::default(),
    };
    let diff = against::compare(file, url, &opts)?;
    for db in &diff.dbs {
        d.keys += db.server_keys;
        d.compared += db.compared;
        let n = db.db;
        for k in &db.missing {
            d.differences
                .push(format!("db {n} {}: missing", against::show_key(k)));
        }
        for k in &db.extra {
            d.differences
                .push(format!("db {n} {}: extra", against::show_key(k)));
        }
        for (k, why) in &db.different {
            d.differences
                .push(format!("db {n} {}: {why}", against::show_key(k)));
        }
        if let Some(why) = &db.count_mismatch {
            d.differences.push(format!("db {n}: {why}"));
        }
    }
    Ok(())
}

/// The three gauge families, one sample per drill (labels: backup, server).
fn metrics(drills: &[Drill]) -> String {
    type Get = fn(&Drill) -> f64;
    let families: [(&str, &str, Get); 3] = [
        (
            "rdbkit_restore_drill_success",
            "1 when the backup loaded into the server and every key matched",
            |d| if d.passed() { 1.0 } else { 0.0 },
        ),
        (
            "rdbkit_restore_drill_load_seconds",
            "Seconds from the server's start to ready with the backup loaded",
            |d| d.load_seconds,
        ),
        (
            "rdbkit_restore_drill_keys",
            "Keys the drill server held after loading",
            |d| d.keys as f64,
        ),
    ];
    let mut s = String::new();
    for (name, help, get) in families {
        s.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for d in drills {
            s.push_str(&format!(
                "{name}{{backup=\"{}\",server=\"{}\"}} {}\n",
                prometheus::escape_label(&d.backup),
                prometheus::escape_label(&d.server),
                get(d)
            ));
        }
    }
    s
}

fn json(d: &Drill) -> String {
    serde_json::json!({
        "backup": d.backup,
        "server": d.server,
        "passed": d.passed(),
        "converted_to": d.converted,
        "load_seconds": d.load_seconds,
        "keys": d.keys,
        "compared": d.compared,
        "differences": d.differences,
        "error": d.error,
    })
    .to_string()
}

/// `verify --drill`: one drill per backup, printed; returns the exit status: 0 all passed, 1 a
/// difference, 2 a backup the server could not load (or the drill could not run).
pub fn run(
    paths: &[PathBuf],
    server: &Path,
    as_json: bool,
    prom: Option<&Path>,
    quiet: bool,
) -> u8 {
    let mut code = 0u8;
    let mut drills = Vec::new();
    let mut out = std::io::stdout().lock();
    for p in paths {
        let d = drill(p, server, Duration::from_secs(3600));
        let c = match (&d.error, d.differences.is_empty()) {
            (Some(_), _) => 2,
            (None, false) => 1,
            (None, true) => 0,
        };
        code = code.max(c);
        if as_json {
            let _ = writeln!(out, "{}", json(&d));
            drills.push(d);
            continue;
        }
        if quiet && c == 0 {
            drills.push(d);
            continue;
        }
        let conv = d
            .converted
            .as_ref()
            .map(|t| format!(" (converted to {t} first: the server cannot read it as is)"))
            .unwrap_or_default();
        match &d.error {
            Some(e) => {
                let _ = writeln!(out, "DRILL FAIL {} on {}{conv}: {e}", d.backup, d.server);
            }
            None => {
                for l in d.differences.iter().take(50) {
                    let _ = writeln!(out, "  {l}");
                }
                let _ = writeln!(
                    out,
                    "DRILL {} {} on {}{conv}: loaded in {:.3}s, {} keys, {} compared, {} difference(s)",
                    if c == 0 { "PASS" } else { "FAIL" },
                    d.backup,
                    d.server,
                    d.load_seconds,
                    d.keys,
                    d.compared,
                    d.differences.len()
                );
            }
        }
        drills.push(d);
    }
    if let Some(path) = prom {
        if let Err(e) = prometheus::write_atomic(path, &metrics(&drills)) {
            eprintln!("rdbkit: can't write {}: {e}", path.display());
            code = 2;
        }
    }
    code
}
