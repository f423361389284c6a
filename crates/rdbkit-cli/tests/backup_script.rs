//! The backup script of `docs/backup-verification.md`, run as written against a real Redis 7.0
//! (`appendonlydir/`) and 6.2 (`appendonly.aof`) on a loopback port: it must save a fresh RDB
//! (BGSAVE, waiting on `rdb_bgsave_in_progress:0` and a changed `rdb_last_save_time`), archive
//! or copy the AOF, compress with zstd, verify the new files, delete only then the backups past
//! retention, and write the Prometheus textfile. The files it writes must hold the server's keys.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

fn script() -> String {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/backup-verification.md");
    let text = std::fs::read_to_string(&doc).expect("docs/backup-verification.md");
    let start = text
        .find("<!-- backup-script: begin -->")
        .expect("the begin marker");
    let end = text
        .find("<!-- backup-script: end -->")
        .expect("the end marker");
    let block = &text[start..end];
    let body = block
        .split_once("```sh\n")
        .and_then(|(_, b)| b.rsplit_once("```"))
        .map(|(b, _)| b)
        .expect("a sh block between the markers");
    body.to_string()
}

fn keys_of(c: &mut Client, db: u64) -> Vec<String> {
    c.cmd(args!["SELECT", db]);
    let mut k: Vec<String> = c
        .cmd(args!["KEYS", "*"])
        .array()
        .iter()
        .map(|r| r.text())
        .collect();
    k.sort();
    k
}

fn run(kind: ServerKind) {
    let Some(bin) = kind.require() else { return };
    let (Some(_), Some(_), Some(_)) = (
        require_tool("redis-cli"),
        require_tool("zstd"),
        require_tool("tar"),
    ) else {
        return;
    };
    let t = TempDir::new(&format!("backup-script-{}", kind.name().replace(' ', "")));
    let data = t.join("data");
    let srv = Server::start(&bin, &data, &["--appendonly", "yes"]);
    let mut c = srv.client();
    for i in 0..300 {
        c.ok(args!["SET", format!("key:{i}"), format!("value-{i}")]);
    }
    c.ok(args!["SELECT", 2]);
    c.ok(args!["RPUSH", "queue", "a", "b", "c"]);
    c.ok(args!["HSET", "user:1", "name", "ann", "age", "42"]);
    let want0 = keys_of(&mut c, 0);
    let want2 = keys_of(&mut c, 2);
    let before: i64 = {
        let info = c.cmd(args!["INFO", "persistence"]).text();
        info.lines()
            .find_map(|l| l.strip_prefix("rdb_last_save_time:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("rdb_last_save_time")
    };

    let dst = t.join("backups");
    std::fs::create_dir_all(&dst).unwrap();
    // An old backup past retention (40 days): deleted only after the new files verified.
    let old = dst.join("dump-20200101-020000.rdb.zst");
    std::fs::write(&old, b"old").unwrap();
    let st = Command::new("touch")
        .args(["-d", "40 days ago"])
        .arg(&old)
        .status()
        .unwrap();
    assert!(st.success());
    let prom = t.join("rdbkit.prom");
    let script_path = t.join("backup-redis.sh");
    std::fs::write(&script_path, script()).unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg(&script_path)
        .env(
            "REDIS_CLI",
            format!("redis-cli -h 127.0.0.1 -p {}", srv.port),
        )
        .env("DST", &dst)
        .env("PROM", &prom)
        .env("RDBKIT", rdbkit_bin())
        .env("KEEP_DAYS", "30")
        .env("SAVE_TIMEOUT", "60");
    let o = run_with_timeout(&mut cmd, None, Duration::from_secs(180));
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}: stdout {out}\nstderr {err}",
        kind.name()
    );

    let files: Vec<PathBuf> = std::fs::read_dir(&dst)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(!old.exists(), "retention removed the old backup: {names:?}");
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    let rdb = files
        .iter()
        .find(|p| p.to_string_lossy().ends_with(".rdb.zst"))
        .expect("a dump-*.rdb.zst");
    let aof = files
        .iter()
        .find(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".tar.zst") || n.ends_with(".aof.zst")
        })
        .expect("the AOF backup");
    if kind == ServerKind::Redis62 {
        assert!(aof.to_string_lossy().ends_with(".aof.zst"), "{names:?}");
    } else {
        assert!(aof.to_string_lossy().ends_with(".tar.zst"), "{names:?}");
    }
    // The RDB is the fresh save: its ctime is after the save time seen before the script.
    let check = Command::new(rdbkit_bin())
        .arg("check")
        .arg(rdb)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout).into_owned();
    assert_eq!(check.status.code(), Some(0), "{text}");
    let ctime: i64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("ctime"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("ctime in {text}"));
    assert!(ctime > before, "a fresh save: ctime {ctime} > {before}");
    // Both backups hold the server's keys.
    for backup in [rdb, aof] {
        for (db, want) in [(0u64, &want0), (2, &want2)] {
            let o = Command::new(rdbkit_bin())
                .args(["keys", "--db", &db.to_string()])
                .arg(backup)
                .output()
                .unwrap();
            assert_eq!(
                o.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
            let mut got: Vec<String> = String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(String::from)
                .collect();
            got.sort();
            assert_eq!(&got, want, "{} db {db}", backup.display());
        }
    }
    // The metrics: every kept backup valid.
    let text = std::fs::read_to_string(&prom).expect("the textfile");
    let valid: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("rdbkit_backup_valid{"))
        .collect();
    assert!(valid.len() >= 2, "{text}");
    assert!(valid.iter().all(|l| l.ends_with(" 1")), "{text}");
    assert!(text.contains("rdbkit_verify_exit_code 0"), "{text}");
    srv.shutdown();
}

#[test]
fn backup_script_redis_70() {
    run(ServerKind::Redis70);
}

#[test]
fn backup_script_redis_62() {
    run(ServerKind::Redis62);
}
