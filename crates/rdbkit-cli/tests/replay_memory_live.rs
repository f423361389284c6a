//! `rdbkit info` and `rdbkit verify` replay an AOF read as a stream — an archive's
//! `appendonlydir/` parts, a compressed file — as they read it, holding a command (or an RDB
//! record) at a time, not the raw bytes (issue 16). A real Redis 7.0 (`appendonly yes`) takes
//! ~200 MiB of traffic on a few keys (1 MiB SETs of the same keys, APPEND then DEL, INCR): the
//! data set stays a few MiB while the incr part is ~200 MiB. Its `appendonlydir/` archived as
//! `tar --zstd`, and its incr file (the server started empty: it holds the whole data set) as
//! a gzip'd single-file AOF, is read by `info` and `verify`: the child's peak
//! RSS (`VmHWM`, polled from `/proc/PID/status` while it runs) stays far under the input's
//! size, and the verdict, commands and keys equal those of the unpacked directory. Before, each
//! part (or the decompressed file) was read whole into memory: the peak was above its size.

#![cfg(target_os = "linux")]

#[macro_use]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// Runs rdbkit with `args`, polling its peak RSS (KiB) until it exits.
fn run_peak(args: &[&str]) -> (u64, std::process::Output) {
    let mut child = Command::new(rdbkit_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let poll = std::thread::spawn(move || {
        let mut peak = 0u64;
        loop {
            if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                if let Some(v) = s
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                {
                    peak = peak.max(v);
                }
            }
            if rx.recv_timeout(Duration::from_millis(2)).is_ok() {
                return peak;
            }
        }
    });
    // Read the pipes while it runs (a full pipe would block it).
    let out = {
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let t = std::thread::spawn(move || {
            let mut e = Vec::new();
            std::io::Read::read_to_end(&mut { stderr }, &mut e).unwrap();
            e
        });
        let mut o = Vec::new();
        std::io::Read::read_to_end(&mut { stdout }, &mut o).unwrap();
        let e = t.join().unwrap();
        // Poll once more while the child is still there, then reap it.
        let status = child.wait().unwrap();
        std::process::Output {
            status,
            stdout: o,
            stderr: e,
        }
    };
    tx.send(()).unwrap();
    (poll.join().unwrap(), out)
}

fn verify_json(path: &Path) -> (u64, serde_json::Value) {
    let (peak, out) = run_peak(&["verify", path.to_str().unwrap(), "--json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "verify {}: not JSON ({e}): {text}\n{}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (peak, v)
}

/// The fields of a verdict that must not depend on how the backup was read.
fn verdict(v: &serde_json::Value) -> String {
    let b = &v["backups"][0];
    format!(
        "valid={} kind={} commands={} keys={} expires={} replayed={} damage={}",
        b["valid"],
        b["kind"],
        b["commands"],
        b["keys"],
        b["expires"],
        b["keys_replayed"],
        b["damage"]
    )
}

fn info_keys(path: &Path) -> (u64, String) {
    let (peak, out) = run_peak(&["info", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "info {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let keys = text
        .lines()
        .find(|l| l.starts_with("keys:"))
        .map(|l| l.split('(').next().unwrap_or(l).trim().to_string())
        .unwrap_or_else(|| panic!("no keys line: {text}"));
    (peak, keys)
}

#[test]
fn info_and_verify_replay_a_big_incr_part_in_bounded_memory() {
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let tmp = TempDir::new("replay-memory");
    let data = tmp.join("data");
    let server = Server::start(
        &bin,
        &data,
        &[
            "--appendonly",
            "yes",
            "--appendfsync",
            "no",
            "--auto-aof-rewrite-percentage",
            "0",
        ],
    );
    let mut c = server.client();
    let mut value = vec![0u8; 1 << 20];
    for (i, b) in value.iter_mut().enumerate() {
        *b = b"abcdefghijklmnopqrstuvwxyz0123456789"[i % 36];
    }
    const ROUNDS: usize = 200;
    for round in 0..ROUNDS {
        value[..8].copy_from_slice(format!("{round:08}").as_bytes());
        let key = format!("big:{}", round % 3).into_bytes();
        let mut cmds = vec![
            vec![b"SET".to_vec(), key, value.clone()],
            args!["APPEND", "log", "0123456789abcdef"],
            args!["INCR", "counter"],
        ];
        if round % 10 == 9 {
            cmds.push(args!["DEL", "log"]);
        }
        c.pipeline_ok(&cmds);
    }
    c.ok(args!["SET", "last", "value"]);
    drop(c);
    server.shutdown();
    let dir = data.join("appendonlydir");
    let size: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(size > 190 << 20, "the AOF holds {size} bytes");

    // As an operator archives it, and as one preamble AOF, gzip'd.
    tar_gnu(
        &[
            "--zstd",
            "-cf",
            "aof.tar.zst",
            "-C",
            "data",
            "appendonlydir",
        ],
        tmp.path(),
    );
    let archive = tmp.join("aof.tar.zst");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    // The server started empty: its incr file alone holds the data set, a single-file AOF.
    let incr = names.iter().find(|n| n.contains(".incr.")).unwrap();
    let gz = tmp.join("appendonly.aof.gz");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "gzip -1 < '{0}/{incr}' > '{1}'",
            dir.display(),
            gz.display()
        ))
        .status()
        .unwrap();
    assert!(st.success());

    let (_, want) = verify_json(&dir);
    let want = verdict(&want);
    assert!(want.starts_with("valid=true"), "{want}");
    let (_, want_keys) = info_keys(&dir);
    assert_eq!(
        want_keys, "keys:        5",
        "big:0..2, counter, last (log deleted)"
    );

    // Far under the input's size: a command and an RDB record at a time, the check's windows,
    // the data set (3 MiB of values).
    let bound = 96u64 << 10;
    let mib = size >> 20;
    let (peak, v) = verify_json(&archive);
    assert_eq!(verdict(&v), want, "verify of the tar.zst");
    assert!(
        peak < bound,
        "verify of a {mib} MiB AOF as tar.zst: peak RSS {peak} KiB"
    );
    for input in [&archive, &gz] {
        let (peak, keys) = info_keys(input);
        assert_eq!(keys, want_keys, "info of {}", input.display());
        assert!(
            peak < bound,
            "info of a {mib} MiB AOF as {}: peak RSS {peak} KiB",
            input.display()
        );
    }
}
