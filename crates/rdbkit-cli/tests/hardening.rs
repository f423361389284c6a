//! Decoder hardening (issue 10): duplicate keys refused by the deep check as redis-server
//! refuses them, `check --threads` capped, memory bounded on huge values read from a stream,
//! `--max-value-bytes` for the commands that hold a value.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{free_port, run_rdbkit, run_with_timeout, ServerKind, TempDir};

/// An RDB 9 file (the newest version all three test servers read) of `body`, with its CRC.
fn rdb9(body: &[u8]) -> Vec<u8> {
    let mut v = b"REDIS0009".to_vec();
    v.extend_from_slice(body);
    v.push(0xff);
    let crc = rdbkit_rdb::crc64::crc64(&v);
    v.extend_from_slice(&crc.to_le_bytes());
    v
}

fn string_key(out: &mut Vec<u8>, key: &[u8], val: &[u8]) {
    out.push(0);
    for s in [key, val] {
        rdbkit_rdb::length::encode_len(s.len() as u64, out);
        out.extend_from_slice(s);
    }
}

/// Starts `bin` on `dir/file` and returns (whether it came up, its log). A server that loads
/// the file is asked DBSIZE (of db 0), then stopped.
fn server_loads(bin: &Path, dir: &Path, file: &str) -> (Option<i64>, String) {
    let port = free_port();
    let log = dir.join(format!("{file}.log"));
    let mut child = Command::new(bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--daemonize", "no", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .args(["--dbfilename", file])
        .arg("--logfile")
        .arg(&log)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the server");
    let start = std::time::Instant::now();
    let mut dbsize = None;
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
        if let Ok(mut c) = common::Client::connect(port) {
            if let Ok(r) = c.try_cmd(vec![b"DBSIZE".to_vec()]) {
                if !r.is_error() {
                    dbsize = Some(r.int());
                    let _ = c.try_cmd(vec![b"SHUTDOWN".to_vec(), b"NOSAVE".to_vec()]);
                    let _ = child.wait();
                    break;
                }
            }
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} neither loaded nor refused {file}", bin.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (dbsize, std::fs::read_to_string(&log).unwrap_or_default())
}

fn check(args: &[&str], stdin: Option<&[u8]>) -> Output {
    run_with_timeout(
        Command::new(common::rdbkit_bin()).arg("check").args(args),
        stdin,
        Duration::from_secs(120),
    )
}

/// A key stored twice in one db: every real server refuses the file ("Duplicated key found in
/// RDB file") while it loads the same file without the repeat; `rdbkit check` refuses it too —
/// on one core, on several, and from a stream — naming the key and the repeat's offset.
#[test]
fn duplicate_keys_refused_like_the_servers() {
    let tmp = TempDir::new("dupkeys");
    let mut body = vec![0xfe, 0];
    for i in 0..5000 {
        string_key(&mut body, format!("key:{i}").as_bytes(), b"value");
    }
    // The same names in db 1 are other keys.
    body.extend_from_slice(&[0xfe, 1]);
    for i in 0..10 {
        string_key(&mut body, format!("key:{i}").as_bytes(), b"value");
    }
    let sound = rdb9(&body);
    body.extend_from_slice(&[0xfe, 0]);
    let repeat_at = 9 + body.len();
    string_key(&mut body, b"key:4321", b"again");
    let dup = rdb9(&body);
    std::fs::write(tmp.join("sound.rdb"), &sound).unwrap();
    std::fs::write(tmp.join("dup.rdb"), &dup).unwrap();
    // The example (checksum 0: disabled).
    let tiny: &[u8] = b"REDIS0009\0\x01a\x01x\0\x01a\x01x\xff\0\0\0\0\0\0\0\0";
    std::fs::write(tmp.join("tiny.rdb"), tiny).unwrap();

    let o = run_rdbkit(["check".as_ref(), tmp.join("sound.rdb").as_os_str()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = format!("at byte {repeat_at} (db 0, key \"key:4321\"): duplicate key");
    let dup_path = tmp.join("dup.rdb").display().to_string();
    for args in [
        vec![dup_path.as_str()],
        vec!["--threads", "1", dup_path.as_str()],
        vec!["--threads", "3", dup_path.as_str()],
    ] {
        let o = check(&args, None);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(&want), "{args:?}: {err}");
    }
    let o = check(&["-"], Some(&dup));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&want), "{err}");
    let o = check(&[tmp.join("tiny.rdb").to_str().unwrap()], None);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("at byte 14 (db 0, key \"a\"): duplicate key"),
        "{err}"
    );
    // --shallow reads only the structure, as redis-check-rdb does.
    let o = check(&["--shallow", &dup_path], None);
    assert!(o.status.success());

    for kind in ServerKind::ALL {
        let Some(bin) = kind.require() else { continue };
        let (n, log) = server_loads(&bin, tmp.path(), "sound.rdb");
        assert_eq!(n, Some(5000), "{} on sound.rdb:\n{log}", kind.name());
        for f in ["dup.rdb", "tiny.rdb"] {
            let (n, log) = server_loads(&bin, tmp.path(), f);
            assert_eq!(n, None, "{} loaded {f}", kind.name());
            assert!(
                log.contains("Duplicated key found in RDB file"),
                "{} on {f}:\n{log}",
                kind.name()
            );
        }
    }
}

/// `check --threads 100000` used to panic spawning threads: it is capped at the cores.
#[test]
fn check_threads_is_capped() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rdb/sample.rdb");
    let s = sample.to_str().unwrap();
    let base = check(&["--threads", "1", s], None);
    assert!(base.status.success());
    for n in ["0", "100000", &usize::MAX.to_string()] {
        let o = check(&["--threads", n, s], None);
        assert_eq!(
            (o.status.code(), &o.stdout, &o.stderr),
            (base.status.code(), &base.stdout, &base.stderr),
            "--threads {n}"
        );
    }
}
