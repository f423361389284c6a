//! Issue 16: an archive holding a `dump.rdb` is read in the archive's single pass, the member
//! handed to the RDB reader as a stream, never unpacked: every corpus and testdata RDB archived
//! alone by GNU `tar` (plain, gzip, zstd) gives the output and exit status of the unpacked file
//! (`check`; `dump` and `verify --json` too on the gzip'd archive), and nothing is written to
//! `TMPDIR`; damaged copies (an archive cut inside the member, a gzip'd archive cut short, a
//! byte flipped in the member) are named with the member, as before; a `dump.rdb` packed before
//! the `appendonlydir/` still gives the AOF's verdict (what a server with `appendonly yes`
//! loads); a big member through a pipe is checked in bounded memory (`VmHWM`). And `rdbkit
//! check -` of an AOF stream (every corpus and testdata AOF, damaged ones included) prints what
//! `rdbkit check FILE` prints, checked as it is read.

#[macro_use]
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

/// Runs rdbkit with `TMPDIR` set to `tmp` (and `data` on its standard input).
fn run(args: &[&str], tmp: &Path, data: Option<&[u8]>) -> Output {
    run_hold(args, tmp, data, None)
}

/// [`run`] with `RDBKIT_HOLD_RDB_PART` set: `Some(0)` checks an archive's RDB member as a
/// stream (one core), the default holds it in memory (every core).
fn run_hold(args: &[&str], tmp: &Path, data: Option<&[u8]>, hold: Option<u64>) -> Output {
    let mut c = Command::new(rdbkit_bin());
    c.args(args).env("TMPDIR", tmp);
    if let Some(h) = hold {
        c.env("RDBKIT_HOLD_RDB_PART", h.to_string());
    }
    run_with_timeout(&mut c, data, Duration::from_secs(120))
}

/// The line a command prints on stderr when it reads the member in the archive's pass.
const NOTE: &str = "read in the archive's pass; nothing unpacked to disk";

/// Exit status, stdout and stderr, the names `from` replaced by `X`, without the one-pass note.
fn view(o: &Output, from: &[&str]) -> (Option<i32>, String, String) {
    let norm = |b: &[u8]| {
        let mut t = String::from_utf8_lossy(b).into_owned();
        for f in from {
            t = t.replace(f, "X");
        }
        t
    };
    let err: String = norm(&o.stderr)
        .lines()
        // An AOF's base archived alone is unpacked by `check` (it cannot know, when it meets
        // it, that no manifest follows): said on stderr, the rest the same.
        .filter(|l| !l.contains(NOTE) && !l.contains("unpacked to a private temporary"))
        .map(|l| format!("{l}\n"))
        .collect();
    (o.status.code(), norm(&o.stdout), err)
}

/// `verify --json`'s first verdict: valid, damage offset and reason, keys.
fn verdict(o: &Output, from: &[&str]) -> String {
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    let b = &j["backups"][0];
    let mut t = format!(
        "{} {} {} {}",
        b["valid"], b["damage"]["offset"], b["damage"]["reason"], b["keys"]["total"]
    );
    for f in from {
        t = t.replace(f, "X");
    }
    t
}

fn assert_empty(tmp: &Path, what: &str) {
    let left: Vec<_> = std::fs::read_dir(tmp).unwrap().flatten().collect();
    assert!(left.is_empty(), "{what}: left in TMPDIR: {left:?}");
}

/// The corpus's RDB files (none when it is missing: said, and a failure under CI) and
/// testdata's.
fn rdb_files() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(c) = rdbkit_testkit::corpus_subdir("rdb") {
        v.extend(rdbkit_testkit::files_under(&c, "rdb"));
    }
    if let Some(c) = rdbkit_testkit::corpus_subdir("third_party") {
        v.extend(rdbkit_testkit::files_under(&c, "rdb"));
    }
    v.push(testdata("rdb/sample.rdb"));
    v.push(testdata("rdb/redis-8.10-types.rdb"));
    v.retain(|p| std::fs::metadata(p).is_ok_and(|m| m.len() < (8 << 20)));
    v
}

#[test]
fn every_rdb_archived_alone_reads_in_the_pass_like_the_file() {
    if require_tool("tar").is_none() {
        return;
    }
    let zstd = require_tool("zstd").is_some();
    let t = TempDir::new("archive-rdb-stream");
    let tmp = t.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let w = t.join("w");
    let files = rdb_files();
    assert!(files.len() >= 2);
    let mut streamed = 0usize;
    for f in &files {
        let _ = std::fs::remove_dir_all(&w);
        std::fs::create_dir_all(&w).unwrap();
        let dump = w.join("dump.rdb");
        std::fs::copy(f, &dump).unwrap();
        let mut archives = vec![("-cf", w.join("a.tar")), ("-czf", w.join("a.tar.gz"))];
        if zstd {
            archives.push(("--zstd -cf", w.join("a.tar.zst")));
        }
        for (flag, a) in &archives {
            let mut args: Vec<&str> = flag.split(' ').collect();
            args.extend([s(a), "dump.rdb"]);
            tar_gnu(&args, &w);
        }
        let plain = s(&dump);
        let want = view(&run(&["check", plain], &tmp, None), &[plain]);
        for (i, (_, a)) in archives.iter().enumerate() {
            let member = format!("{}:dump.rdb", s(a));
            // Held in memory (the default), and as a stream on the gzip'd one.
            for hold in [None, Some(0)].into_iter().take(if i == 1 { 2 } else { 1 }) {
                let o = run_hold(&["check", s(a)], &tmp, None, hold);
                if String::from_utf8_lossy(&o.stderr).contains(NOTE) {
                    streamed += 1;
                }
                let got = view(&o, &[&member, s(a)]);
                assert_eq!(got, want, "check {} ({}, hold {hold:?})", s(a), f.display());
                assert_empty(&tmp, &format!("check {}", f.display()));
            }
        }
        // dump and verify on the gzip'd archive.
        let gz = s(&archives[1].1);
        let member = format!("{gz}:dump.rdb");
        let want = view(&run(&["dump", plain], &tmp, None), &[plain]);
        let got = view(&run(&["dump", gz], &tmp, None), &[&member, gz]);
        // `dump` names damage `ARCHIVE:dump.rdb` (tests/archive_errors.rs compares the lines).
        assert_eq!(got, want, "dump {}", f.display());
        let want = verdict(&run(&["verify", "--json", plain], &tmp, None), &[plain]);
        let got = verdict(&run(&["verify", "--json", gz], &tmp, None), &[&member, gz]);
        assert_eq!(got, want, "verify {}", f.display());
        assert_empty(&tmp, &format!("dump/verify {}", f.display()));
    }
    // Every RDB that is not an AOF's base or preamble was read as a stream.
    assert!(
        streamed >= files.len(),
        "{streamed} streamed of {}",
        files.len()
    );
}

#[test]
fn damaged_archives_of_an_rdb_name_the_member() {
    if require_tool("tar").is_none() {
        return;
    }
    let t = TempDir::new("archive-rdb-damage");
    let tmp = t.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let rdb = std::fs::read(testdata("rdb/sample.rdb")).unwrap();
    std::fs::write(t.join("dump.rdb"), &rdb).unwrap();
    let a = t.join("a.tar");
    tar_gnu(&["-cf", s(&a), "dump.rdb"], t.path());
    let whole = std::fs::read(&a).unwrap();
    // Cut inside the member (its header is the first 512 bytes).
    for cut in [600usize, 512 + rdb.len() / 2, 512 + rdb.len() - 1] {
        let p = t.join(format!("cut{cut}.tar"));
        std::fs::write(&p, &whole[..cut]).unwrap();
        let why = format!(
            "{}: member dump.rdb (header at byte 0): truncated: the archive ends {} bytes into \
             its {} bytes",
            s(&p),
            cut - 512,
            rdb.len()
        );
        for cmd in ["check", "dump", "info", "keys"] {
            let o = run(&[cmd, s(&p)], &tmp, None);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_ne!(o.status.code(), Some(0), "{cmd} cut {cut}: {err}");
            assert!(err.contains(&why), "{cmd} cut {cut}: {err}");
        }
        // Piped: the same.
        let o = run(&["check", "-"], &tmp, Some(&whole[..cut]));
        assert_eq!(o.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&o.stderr)
                .contains("member dump.rdb (header at byte 0): truncated"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let o = run(&["verify", s(&p)], &tmp, None);
        assert_eq!(o.status.code(), Some(2), "verify cut {cut}");
    }
    // A gzip'd archive cut short: the compressor says so, the member is named.
    let gz = t.join("a.tar.gz");
    tar_gnu(&["-czf", s(&gz), "dump.rdb"], t.path());
    let g = std::fs::read(&gz).unwrap();
    let cut = t.join("cut.tar.gz");
    std::fs::write(&cut, &g[..g.len() - 4]).unwrap();
    let o = run(&["check", s(&cut)], &tmp, None);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("gzip stream truncated"), "{err}");
    // A byte flipped inside a value: the unpacked file's verdict, offset and key.
    let mut bad = rdb.clone();
    let at = rdb.windows(8).position(|w| w == b"in db 15").unwrap();
    bad[at] ^= 0x20;
    let d = t.join("flip");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("dump.rdb"), &bad).unwrap();
    let fa = d.join("f.tar.gz");
    tar_gnu(&["-czf", s(&fa), "dump.rdb"], &d);
    let plain = d.join("dump.rdb");
    let member = format!("{}:dump.rdb", s(&fa));
    for cmd in ["check", "dump"] {
        let want = view(&run(&[cmd, s(&plain)], &tmp, None), &[s(&plain)]);
        let got = view(&run(&[cmd, s(&fa)], &tmp, None), &[&member, s(&fa)]);
        assert_eq!(want.0, Some(2), "{cmd}: {want:?}");
        assert_eq!(got, want, "{cmd}");
    }
    assert_empty(&tmp, "damaged archives");
}

/// A data directory archived with its `dump.rdb` first: the one-data-set commands read the
/// `appendonlydir/` after it, as when the AOF comes first, and nothing is unpacked for the RDB.
#[test]
fn a_dump_rdb_before_the_appendonlydir_gives_the_aofs_verdict() {
    if require_tool("tar").is_none() {
        return;
    }
    let t = TempDir::new("archive-rdb-first");
    let tmp = t.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let data = t.join("data");
    std::fs::create_dir_all(data.join("appendonlydir")).unwrap();
    for e in std::fs::read_dir(testdata("aof/appendonlydir")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), data.join("appendonlydir").join(e.file_name())).unwrap();
    }
    std::fs::copy(testdata("rdb/sample.rdb"), data.join("dump.rdb")).unwrap();
    let rdb_first = t.join("rdb-first.tar");
    let aof_first = t.join("aof-first.tar");
    tar_gnu(&["-cf", s(&rdb_first), "dump.rdb", "appendonlydir"], &data);
    tar_gnu(&["-cf", s(&aof_first), "appendonlydir", "dump.rdb"], &data);
    for cmd in [
        &["check"][..],
        &["keys", "--long"],
        &["info", "--now", "2026-01-01T00:00:00Z"],
    ] {
        let mut a = cmd.to_vec();
        a.push(s(&aof_first));
        let want = view(&run(&a, &tmp, None), &[s(&aof_first)]);
        let mut b = cmd.to_vec();
        b.push(s(&rdb_first));
        let got = view(&run(&b, &tmp, None), &[s(&rdb_first)]);
        assert_eq!(want.0, Some(0), "{cmd:?}: {want:?}");
        assert!(want.2.contains("appendonly yes"), "{cmd:?}: {want:?}");
        assert_eq!(got, want, "{cmd:?}");
        assert_empty(&tmp, &format!("{cmd:?}"));
    }
    // Through a pipe too (read once: the RDB checked as it came, then the AOF).
    let piped = |a: &Path| {
        let bytes = std::fs::read(a).unwrap();
        view(&run(&["check", "-"], &tmp, Some(&bytes)), &[])
    };
    let want = piped(&aof_first);
    assert_eq!(want.0, Some(0), "{want:?}");
    assert_eq!(piped(&rdb_first), want);
    assert_empty(&tmp, "piped");
}

/// A 256 MiB `dump.rdb` in a tar archive written through a pipe: `check -` reads it as a
/// stream, its peak resident memory far below the member's size.
#[cfg(target_os = "linux")]
#[test]
fn a_big_rdb_member_through_a_pipe_is_checked_in_bounded_memory() {
    const KEYS: usize = 256 * 1024;
    let mut body = Vec::with_capacity(KEYS * 1040);
    body.extend_from_slice(&[0xfe, 0]);
    let value = vec![b'v'; 1000];
    for i in 0..KEYS {
        rdbkit_testkit::rdb::string_key(&mut body, format!("key:{i:08}").as_bytes(), &value);
    }
    let rdb = rdbkit_testkit::rdb::file(9, &body);
    drop(body);
    // A ustar header for `dump.rdb`, the data, its padding and the two end blocks.
    let mut h = [0u8; 512];
    h[..8].copy_from_slice(b"dump.rdb");
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{:011o}\0", rdb.len()).as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut child = Command::new(rdbkit_bin())
        .args(["check", "-"])
        // Past the hold of an RDB member (a bigger one than the default 512 MiB hold).
        .env("RDBKIT_HOLD_RDB_PART", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&h).unwrap();
    for c in rdb.chunks(1 << 20) {
        stdin.write_all(c).unwrap();
    }
    let pad = (512 - rdb.len() % 512) % 512;
    stdin.write_all(&vec![0u8; pad + 1024]).unwrap();
    let (hwm, out) = fed_child_peak(child, stdin);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("total: {KEYS} keys")), "{text}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(NOTE),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        hwm < 96 << 10,
        "peak RSS {hwm} KiB while checking a {} MiB member",
        rdb.len() >> 20
    );
}

/// `rdbkit check -` of an AOF (RESP, an RDB preamble, a multi-part set's files one by one):
/// what `rdbkit check FILE` prints, the name aside, and its exit status — for every corpus and
/// testdata AOF, the corpus's damaged cases included, and a copy cut short.
#[test]
fn check_of_an_aof_stream_prints_what_check_of_the_file_prints() {
    let t = TempDir::new("check-aof-stream");
    let tmp = t.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut files = Vec::new();
    if let Some(c) = rdbkit_testkit::corpus_subdir("aof") {
        files.extend(rdbkit_testkit::files_under(&c, "aof"));
    }
    files.extend(rdbkit_testkit::files_under(&testdata("aof"), "aof"));
    let cut = t.join("cut.aof");
    if let Some(f) = files
        .iter()
        .find(|f| std::fs::metadata(f).is_ok_and(|m| m.len() > 100))
    {
        let b = std::fs::read(f).unwrap();
        std::fs::write(&cut, &b[..b.len() * 2 / 3]).unwrap();
        files.push(cut.clone());
    }
    files.retain(|p| std::fs::metadata(p).is_ok_and(|m| m.len() < (8 << 20)));
    assert!(!files.is_empty());
    let mut damaged = 0;
    for f in &files {
        let name = s(f);
        let want = view(&run(&["check", name], &tmp, None), &[name]);
        let bytes = std::fs::read(f).unwrap();
        let o = run(&["check", "-"], &tmp, Some(&bytes));
        let got = (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout)
                .replace("-: an AOF", "X: an AOF")
                .replace("\n-: ", "\nX: ")
                .replace(" - ", " X "),
            String::from_utf8_lossy(&o.stderr).replace("-:", "X:"),
        );
        assert_eq!(got, want, "{name}");
        damaged += usize::from(want.0 != Some(0));
        assert_empty(&tmp, name);
    }
    assert!(damaged >= 1, "a damaged copy at least");
}

/// `verify --drill` of an uncompressed tar of a `dump.rdb`: the member, not the archive, is
/// what the scratch server loads (the archive was copied as the server's `dump.rdb` before, and
/// the server refused it: "Wrong signature").
#[test]
fn a_drill_of_an_archived_dump_rdb_loads_the_member() {
    let (Some(server), Some(_)) = (require_tool("redis-server"), require_tool("tar")) else {
        return;
    };
    let t = TempDir::new("archive-rdb-drill");
    let tmp = t.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::copy(testdata("rdb/sample.rdb"), t.join("dump.rdb")).unwrap();
    let a = t.join("a.tar");
    tar_gnu(&["-cf", s(&a), "dump.rdb"], t.path());
    let o = run(
        &["verify", "--drill", "--server", s(&server), s(&a)],
        &tmp,
        None,
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("DRILL PASS"), "{text}");
    assert!(
        text.contains("71 keys, 71 compared, 0 difference(s)"),
        "{text}"
    );
    assert_empty(&tmp, "drill");
}
