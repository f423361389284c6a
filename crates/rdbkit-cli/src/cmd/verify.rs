//! `rdbkit verify`: prove backups restorable (for cron), with policies, a JSON report,
//! Prometheus textfile metrics, and a key-by-key comparison with a restored server.

use std::path::PathBuf;
use std::time::Instant;

use crate::failure::Failure;
use crate::time::now_secs;
use crate::verify::{self, against, policy, prometheus, report};

#[derive(clap::Args)]
#[command(
    after_help = "Exit status (for cron): 0 every backup is sound and every policy \
passed; 1 a policy failed (--max-age, --min-keys, --max-shrink, --expect-db, a folder without \
backups; with --against: the server differs from the backup); 2 a backup is damaged or could \
not be read (also: bad arguments, server unreachable). Details: docs/backup-verification.md"
)]
pub struct Args {
    /// Backups: `.rdb`/`.aof` files (gzip'd or not), `appendonlydir/`s, or folders of dated
    /// backups (`dump-20250124-020000.rdb.gz`, `appendonly-20250124-020000.aof.gz`).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Fail when the newest valid backup of a series was saved longer ago than this
    /// (`26h`, `2d`, `90m`). Save time: an RDB's `ctime`, else the date in the name, else mtime.
    #[arg(long, value_name = "DURATION", value_parser = policy::parse_duration)]
    pub max_age: Option<i64>,
    /// Fail when the newest backup (of each series) holds fewer keys than N (AOFs: counted by replaying them).
    #[arg(long, value_name = "N")]
    pub min_keys: Option<u64>,
    /// Fail when the newest backup lost more than this share of the keys of the one before it
    /// (`20%`; the order is by save time).
    #[arg(long, value_name = "PERCENT", value_parser = policy::parse_percent)]
    pub max_shrink: Option<f64>,
    /// Fail when the newest backup has no key in db N (repeatable).
    #[arg(long, value_name = "N")]
    pub expect_db: Vec<u64>,
    /// Apply --min-keys, --max-shrink and --expect-db to every backup, not only the newest.
    #[arg(long)]
    pub all: bool,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write node_exporter textfile-collector metrics to FILE (atomically).
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<PathBuf>,
    /// Backups decoded at a time (`-j`/`--jobs` before 0.2, still accepted).
    #[command(flatten)]
    pub threads: crate::decode_args::ThreadArgs,
    /// Print only problems (and nothing when all is well).
    #[arg(short, long)]
    pub quiet: bool,
    /// Compare the backup (an RDB, or an AOF replayed) key by key with a live server:
    /// redis://[:PASSWORD@]127.0.0.1:6379[/db]. Every db the backup or the server holds, or
    /// the URL's db and --db ones; rediss://... (or --tls) for TLS. Read-only (INFO, SELECT,
    /// SCAN, TYPE, DBSIZE, typed reads); the password is never printed.
    #[arg(long, value_name = "URL")]
    pub against: Option<String>,
    /// With --against: compare db N only (repeatable; also the URL's /N).
    #[arg(long = "db", value_name = "N", requires = "against")]
    pub against_db: Vec<u64>,
    /// With --against: give up on the server after SECONDS without an answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, requires = "against",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// With --against: compare N keys picked at random, plus the key counts.
    #[arg(long, value_name = "N", requires = "against")]
    pub sample: Option<usize>,
    /// With --against: allow a host other than loopback.
    #[arg(long, requires = "against")]
    pub allow_remote: bool,
    /// With --against: TLS (a rediss:// URL, or --tls), as `restore` connects: --cacert,
    /// --cert/--key, --insecure.
    #[command(flatten)]
    pub tls: crate::cmd::restore::tls::TlsArgs,
    /// Restore drill: load each backup into a throwaway --server on 127.0.0.1, time the load,
    /// compare every key, stop it (see docs/backup-verification.md).
    #[arg(long, requires = "server", conflicts_with = "against")]
    pub drill: bool,
    /// With --drill: the redis-server or valkey-server binary to load the backup with.
    #[arg(long, value_name = "PATH", requires = "drill")]
    pub server: Option<PathBuf>,
}

/// CPU time (user + system) of this process so far, all threads (Linux).
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the `(comm)`, which may hold spaces: state is field 3, utime 14, stime 15.
    let rest = s.get(s.rfind(')')? + 1..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux architecture that matters here.
    Some((utime + stime) / 100.0)
}

/// Runs `rdbkit verify` (its statuses: see the exit-code table).
pub fn run(args: Args) -> Result<(), Failure> {
    if let (true, Some(server)) = (args.drill, &args.server) {
        let prom = args.prometheus.as_deref();
        return reported(verify::drill::run(
            &args.paths,
            server,
            args.json,
            prom,
            args.quiet,
        ));
    }
    if let Some(url) = &args.against {
        return run_against(&args, url);
    }
    let t = &args.tls;
    if t.tls || t.cacert.is_some() || t.cert.is_some() || t.insecure {
        return Err(Failure::Trouble(
            "--tls/--cacert/--cert/--key/--insecure go with --against (the server compared)".into(),
        ));
    }
    let t0 = Instant::now();
    let cpu0 = cpu_seconds();
    let jobs = args.threads.count();
    let (backups, problems) = verify::discover(&args.paths);
    let outcomes = verify::verify_all(&backups, jobs, args.quiet || args.json);
    let policies = policy::Policies {
        max_age: args.max_age,
        min_keys: args.min_keys,
        max_shrink: args.max_shrink,
        expect_db: args.expect_db.clone(),
        all: args.all,
    };
    let now = now_secs();
    let failures = policy::check(&outcomes, &problems, &policies, now as i64);
    let damaged = outcomes.iter().any(|o| !o.valid()) || problems.iter().any(|p| p.unreadable);
    let code: u8 = if damaged {
        2
    } else if !failures.is_empty() {
        1
    } else {
        0
    };
    let seconds = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu0).map(|(a, b)| a - b);
    let summary = report::Summary {
        outcomes: &outcomes,
        problems: &problems,
        failures: &failures,
        exit_code: code,
        seconds,
        cpu_seconds: cpu,
        jobs: jobs.clamp(1, backups.len().max(1)),
    };
    let mut code = code;
    if let Some(path) = &args.prometheus {
        let last = if code == 0 {
            now
        } else {
            prometheus::previous_last_success(path).unwrap_or(0.0)
        };
        let text = prometheus::render(&outcomes, seconds, last, code);
        if let Err(e) = prometheus::write_atomic(path, &text) {
            // Reported now; the report below still goes out, with status 2.
            let f = Failure::Output(format!("can't write {}: {e}", crate::escape::path(path)));
            eprintln!("rdbkit: {f}");
            code = 2;
        }
    }
    if args.json {
        println!(
            "{}",
            report::json(&report::Summary {
                exit_code: code,
                ..summary
            })
        );
    } else if !(args.quiet && code == 0) {
        let text = report::human(&report::Summary {
            exit_code: code,
            ..summary
        });
        if args.quiet {
            // Problems only: drop the OK lines.
            for l in text.lines() {
                if !l.starts_with("OK ") {
                    println!("{l}");
                }
            }
        } else {
            print!("{text}");
        }
    }
    reported(code)
}

/// A status decided and reported by the verification (0 is success).
fn reported(code: u8) -> Result<(), Failure> {
    match code {
        0 => Ok(()),
        c => Err(Failure::Reported(c)),
    }
}

fn run_against(args: &Args, url: &str) -> Result<(), Failure> {
    let [backup] = args.paths.as_slice() else {
        return Err(Failure::Trouble(
            "--against compares one backup (an RDB or an AOF, gzip'd or not)".into(),
        ));
    };
    let name = crate::escape::path(backup);
    let opts = against::Options {
        sample: args.sample,
        allow_remote: args.allow_remote,
        dbs: args.against_db.clone(),
        timeout: std::time::Duration::from_secs(args.timeout),
        tls: args.tls.clone(),
    };
    match against::compare(backup, url, &opts) {
        Ok(d) => {
            if args.json {
                println!("{}", against::json(&d, &name, url));
            } else if !(args.quiet && d.equal()) {
                print!("{}", against::human(&d, &name, url));
            }
            reported(if d.equal() { 0 } else { 1 })
        }
        // Every message names the server by its redacted URL only; make sure no password
        // slipped through from a library's error text either.
        Err(e) => Err(Failure::Trouble(scrub(&e, url))),
    }
}

/// `msg` with the URL's password (if any) replaced by `***`.
fn scrub(msg: &str, url: &str) -> String {
    let mut m = msg.to_string();
    for pw in against::password_of(url) {
        m = m.replace(pw, "***");
    }
    m
}
