//! `aof fix` and the drop-in `redis-check-aof --fix` never cut data they did not check
//! (issue 10, defects 1, 2, 6 and the `--backup-tail` temp-name rule):
//! - two fixes racing on one file, over many iterations: the file always ends as one of the
//!   valid outcomes, never grows, and no process dies of a signal (SIGBUS);
//! - a process holding the AOF open for writing (a shell redirection; a live `redis-server`
//!   with appendonly writing) makes `fix` refuse, unless `--force`;
//! - files that are not AOFs (gzip, text) are never emptied;
//! - the plan counts the commands after a damaged byte;
//! - an existing `--backup-tail` file is never overwritten, and no temporary file is left.

#[macro_use]
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut o = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        o.extend(format!("${}\r\n", a.len()).bytes());
        o.extend(*a);
        o.extend(b"\r\n");
    }
    o
}

fn set(k: &str, v: &str) -> Vec<u8> {
    resp(&[b"SET", k.as_bytes(), v.as_bytes()])
}

fn rdbkit(args: &[&str], cwd: &Path, stdin: &str) -> Output {
    let mut child = Command::new(rdbkit_bin())
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// An AOF with two `#TS:` sections and a torn last command; returns (bytes, the plain fix's
/// cut, the cut of `--truncate-to-timestamp 150`).
fn torn_with_timestamps() -> (Vec<u8>, usize, usize) {
    let mut d = b"#TS:100\r\n".to_vec();
    for i in 0..200 {
        d.extend(set(&format!("a:{i}"), "x"));
    }
    let ts_cut = d.len();
    d.extend(b"#TS:200\r\n");
    for i in 0..200 {
        d.extend(set(&format!("b:{i}"), "y"));
    }
    let ok = d.len();
    d.extend(&set("torn", "zzzz")[..20]);
    (d, ok, ts_cut)
}

#[test]
fn racing_fixes_end_in_a_valid_outcome() {
    let t = TempDir::new("fix-race");
    let (data, ok, ts_cut) = torn_with_timestamps();
    let p = t.join("appendonly.aof");
    let ps = p.to_str().unwrap();
    let mut outcomes = [0usize; 3];
    for i in 0..60 {
        std::fs::write(&p, &data).unwrap();
        // Half the rounds: two plain fixes; the other half: a plain and a timestamp fix.
        let second: Vec<&str> = if i % 2 == 0 {
            vec!["aof", "fix", "--yes", ps]
        } else {
            vec!["aof", "fix", "--yes", "--truncate-to-timestamp", "150", ps]
        };
        let spawn = |args: &[&str]| -> Child {
            Command::new(rdbkit_bin())
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let a = spawn(&["aof", "fix", "--yes", ps]);
        let b = spawn(&second);
        let (oa, ob) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        for o in [&oa, &ob] {
            assert!(
                o.status.code().is_some(),
                "round {i}: a fix died of a signal: {:?}\n{}",
                o.status,
                text(o)
            );
            assert!(
                matches!(o.status.code(), Some(0 | 1)),
                "round {i}: {}",
                text(o)
            );
        }
        let after = std::fs::read(&p).unwrap();
        assert!(after.len() <= data.len(), "round {i}: the file grew");
        let which = if after == data[..ok] {
            1
        } else if after == data[..ts_cut] {
            2
        } else if after == data {
            0
        } else {
            panic!(
                "round {i}: the file is not a valid outcome ({} bytes; valid: {}, {ok}, {ts_cut})\n{}\n{}",
                after.len(),
                data.len(),
                text(&oa),
                text(&ob)
            );
        };
        assert!(
            which != 2 || i % 2 == 1,
            "round {i}: a timestamp cut without a timestamp fix"
        );
        // At least one fix ran (the other was refused by the lock or found nothing to do).
        assert!(
            oa.status.success() || ob.status.success(),
            "round {i}: both refused\n{}\n{}",
            text(&oa),
            text(&ob)
        );
        assert_ne!(which, 0, "round {i}: nothing was fixed");
        outcomes[which] += 1;
    }
    eprintln!("outcomes (untouched, plain cut, timestamp cut): {outcomes:?}");
}

/// A process holding a file open for writing (`sh -c 'exec sleep 60 >> FILE'`), killed on drop.
struct Holder(Child);

impl Holder {
    fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a [`Holder`] of `file` and waits until /proc shows it.
fn hold_for_writing(file: &Path) -> Holder {
    let holder = Holder(
        Command::new("sh")
            .arg("-c")
            .arg("exec sleep 60 >> \"$0\"")
            .arg(file)
            .spawn()
            .unwrap(),
    );
    let fd_dir = PathBuf::from(format!("/proc/{}/fd", holder.id()));
    let want = std::fs::canonicalize(file).unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let held = std::fs::read_dir(&fd_dir).into_iter().flatten().any(|e| {
            e.ok()
                .and_then(|e| std::fs::read_link(e.path()).ok())
                .is_some_and(|t| t == want)
        });
        if held {
            return holder;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the holder never opened {}", file.display());
}

#[cfg(target_os = "linux")]
#[test]
fn a_file_open_for_writing_elsewhere_is_refused_unless_forced() {
    let t = TempDir::new("fix-held");
    let (data, ok, _) = torn_with_timestamps();
    let p = t.join("appendonly.aof");
    std::fs::write(&p, &data).unwrap();
    let holder = hold_for_writing(&p);
    let ps = p.to_str().unwrap();

    let o = rdbkit(&["aof", "fix", "--yes", ps], t.path(), "");
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!("process {} (sleep)", holder.id()))
            && out.contains("open for writing")
            && out.contains("Nothing changed"),
        "{out}"
    );
    assert_eq!(std::fs::read(&p).unwrap(), data);

    // The drop-in gets the same protection.
    let o = rdbkit(&["redis-check-aof", "--fix", ps], t.path(), "y\n");
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("Failed to truncate AOF") && out.contains("open for writing"),
        "{out}"
    );
    assert_eq!(std::fs::read(&p).unwrap(), data);

    // A file of the same directory held for writing (a server that moved on to a new incr
    // file) counts too.
    drop(holder);
    let other = t.join("appendonly.aof.2.incr.aof");
    std::fs::write(&other, b"").unwrap();
    let holder = hold_for_writing(&other);
    let o = rdbkit(&["aof", "fix", "--yes", "--json", ps], t.path(), "");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["fixed"], false);
    assert!(
        j["refused"]
            .as_str()
            .unwrap()
            .contains("appendonly.aof.2.incr.aof"),
        "{j}"
    );
    assert_eq!(std::fs::read(&p).unwrap(), data);

    let o = rdbkit(&["aof", "fix", "--yes", "--force", ps], t.path(), "");
    drop(holder);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(std::fs::read(&p).unwrap(), &data[..ok]);
}

#[cfg(target_os = "linux")]
#[test]
fn a_live_server_writing_its_aof_makes_fix_refuse() {
    let Some(bin) = ServerKind::Redis70.require() else {
        return;
    };
    let t = TempDir::new("fix-live");
    let server = Server::start(
        &bin,
        t.path(),
        &[
            "--appendonly",
            "yes",
            "--appenddirname",
            "appendonlydir",
            "--appendfsync",
            "always",
        ],
    );
    let port = server.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut c = Client::connect(port).unwrap();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                c.ok(args!["SET", format!("k:{n}"), "v".repeat(100)]);
                n += 1;
            }
            n
        })
    };
    let dir = t.join("appendonlydir");
    let start = Instant::now();
    while !dir.is_dir() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let before: u64 = names(&dir)
        .iter()
        .map(|n| std::fs::metadata(dir.join(n)).unwrap().len())
        .sum();
    // (The drop-in `redis-check-aof --fix` cuts nothing in a valid AOF, so it has nothing to
    // refuse here; its refusal is tested with a held file above.)
    let mut outs = Vec::new();
    for args in [
        vec!["aof", "fix", "--yes", "appendonlydir"],
        vec!["aof", "fix", "--yes", "--truncate-to-timestamp", "1", "."],
    ] {
        let o = rdbkit(&args, t.path(), "y\n");
        outs.push((args, o));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(written > 0);
    for (args, o) in &outs {
        let out = text(o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {out}");
        assert!(
            out.contains("(redis-server)") && out.contains("open for writing"),
            "{args:?}: {out}\n{}",
            server.log_tail(20)
        );
    }
    let after: u64 = names(&dir)
        .iter()
        .map(|n| std::fs::metadata(dir.join(n)).unwrap().len())
        .sum();
    assert!(after >= before, "the AOF shrank: {before} -> {after}");
    server.shutdown();
    // The server's files are whole: nothing was cut under it.
    let o = rdbkit(&["aof", "check", "appendonlydir"], t.path(), "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn files_that_are_not_aofs_are_never_emptied() {
    let t = TempDir::new("fix-not-aof");
    let (data, _, _) = torn_with_timestamps();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&data).unwrap();
    let gz = gz.finish().unwrap();
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("a.aof.gz", gz, "decompress it first"),
        ("notes.txt", b"hello, this is not an AOF\n".to_vec(), "0x68"),
        ("a.aof.bz2", b"BZh91AY&SY\x00\x01".to_vec(), "bzip2"),
    ];
    for (name, bytes, why) in cases {
        let p = t.join(name);
        std::fs::write(&p, &bytes).unwrap();
        let o = rdbkit(&["aof", "fix", "--yes", name], t.path(), "");
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {out}");
        assert!(
            out.contains("which would empty the file") && out.contains(why),
            "{name}: {out}"
        );
        let o = rdbkit(&["redis-check-aof", "--fix", name], t.path(), "y\n");
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {out}");
        assert!(out.contains("Refusing to truncate"), "{name}: {out}");
        assert_eq!(std::fs::read(&p).unwrap(), bytes, "{name} changed");
    }
}

#[test]
fn the_plan_counts_the_commands_after_a_damaged_byte() {
    let t = TempDir::new("fix-count");
    let mut d = Vec::new();
    let mut starts = Vec::new();
    for i in 0..1000 {
        starts.push(d.len());
        d.extend(set(&format!("key:{i:04}"), "value"));
    }
    // "$3\r\nSET" of command 2 becomes "$3\r\nSXT"... no: damage its first length digit.
    let bad = starts[2] + 5;
    assert_eq!(d[bad], b'3');
    d[bad] = b'x';
    std::fs::write(t.join("a.aof"), &d).unwrap();
    let o = rdbkit(&["aof", "fix", "a.aof"], t.path(), "n\n");
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "removing {} bytes: 997 whole commands, the first removed at offset {}",
            d.len() - starts[2],
            starts[3]
        )) && out.contains("counted past 1 damaged stretch"),
        "{out}"
    );
    let o = rdbkit(&["aof", "fix", "--json", "a.aof"], t.path(), "n\n");
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["whole_commands_removed"], 997, "{j}");
    assert_eq!(j["damaged_regions"], 1);
    assert_eq!(j["count_stopped_at"], starts[2]);
    assert_eq!(std::fs::read(t.join("a.aof")).unwrap(), d);
}

#[test]
fn an_existing_backup_tail_blocks_nothing_but_is_never_overwritten() {
    let t = TempDir::new("fix-backup");
    let (data, ok, _) = torn_with_timestamps();
    std::fs::write(t.join("a.aof"), &data).unwrap();
    std::fs::write(t.join("tail.bin"), b"precious").unwrap();
    let o = rdbkit(
        &["aof", "fix", "--yes", "--backup-tail", "tail.bin", "a.aof"],
        t.path(),
        "",
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("never overwritten"), "{}", text(&o));
    assert_eq!(std::fs::read(t.join("tail.bin")).unwrap(), b"precious");
    assert_eq!(std::fs::read(t.join("a.aof")).unwrap(), data);
    let o = rdbkit(
        &["aof", "fix", "--yes", "--backup-tail", "tail2.bin", "a.aof"],
        t.path(),
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(std::fs::read(t.join("a.aof")).unwrap(), &data[..ok]);
    assert_eq!(std::fs::read(t.join("tail2.bin")).unwrap(), &data[ok..]);
    assert_eq!(names(t.path()), ["a.aof", "tail.bin", "tail2.bin"]);
}

/// A file that shrinks and grows under the fix (another process truncating it while it is
/// read): the fix gives a clean answer (fixed, or refused), never dies of a signal (`SIGBUS`
/// from a shared mapping whose file shrank), and never leaves anything but one of the
/// versions the other process wrote or the fixed prefix of one.
#[test]
fn a_file_truncated_while_it_is_read_is_a_clean_refusal() {
    let t = TempDir::new("fix-shrink");
    let mut data = Vec::new();
    for i in 0..150_000 {
        data.extend(set(&format!("key:{i:06}"), "some value of a few bytes"));
    }
    let ok = data.len();
    data.extend(&set("torn", "zzzz")[..20]);
    let p = t.join("appendonly.aof");
    std::fs::write(&p, &data).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let chaos = {
        let (p, data, stop) = (p.clone(), data.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rounds = 0u32;
            let mut rng = Rng::new(seed_from_env());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Shrink to a small prefix, then write the whole file back (same inode), at
                // varying moments of the fix's reads.
                let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
                f.set_len(4096).unwrap();
                std::thread::sleep(Duration::from_micros(rng.below(10_000)));
                let mut f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
                f.write_all(&data).unwrap();
                std::thread::sleep(Duration::from_micros(rng.below(30_000)));
                rounds += 1;
            }
            rounds
        })
    };
    let mut answers = [0u32; 2];
    for i in 0..25 {
        let o = rdbkit(&["aof", "fix", "--yes", p.to_str().unwrap()], t.path(), "");
        assert!(
            o.status.code().is_some(),
            "round {i}: the fix died of a signal: {:?}\n{}",
            o.status,
            text(&o)
        );
        match o.status.code() {
            Some(0) => answers[0] += 1,
            Some(1) => answers[1] += 1,
            _ => panic!("round {i}: {}", text(&o)),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = chaos.join().unwrap();
    assert!(rounds > 0);
    let after = std::fs::read(&p).unwrap();
    assert!(after.len() <= data.len(), "the file grew");
    assert!(
        data.starts_with(&after) || after.len() == ok,
        "the file is neither a version the writer made nor a fixed one ({} bytes)",
        after.len()
    );
    eprintln!("fixed/refused: {answers:?} over {rounds} rewrites");
}
