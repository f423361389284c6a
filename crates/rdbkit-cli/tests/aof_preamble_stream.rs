//! Issue 16: an AOF that starts with an RDB preamble, read from a pipe (`aof check -`,
//! `aof dump -`), is read as a stream: the RDB part by one pass of the library's stream reader
//! (a record at a time), which says where the RESP tail starts, then the tail over a window.
//! - Memory: a ~300 MB preamble AOF generated here (a million keys, 8 MiB strings, a 24 MiB
//!   string that streams through, then a RESP tail with 4 MiB values) is checked through a
//!   pipe with a peak RSS far below its size (before, it was copied whole to a temporary file
//!   and mapped, or read whole into memory by `aof dump -`).
//! - Verdicts: `aof check -` (text and `--json`) and `aof dump -` of every RDB-preamble AOF of
//!   the corpus and testdata, padded past the 64 KiB a stream is sniffed in (so the stream
//!   path runs), and of damaged copies (cut in the preamble, cut in the tail, a flipped byte in
//!   the base, a flipped byte in the tail), say exactly what the same commands say of the file.

#![cfg(target_os = "linux")]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use rdbkit_rdb::internals::crc64::Crc64;

/// An RDB string (length-prefixed, as `rdbSaveRawString` writes it uncompressed).
fn rdb_str(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n < 64 {
        out.push(n as u8);
    } else if n < 16384 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn set(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    write!(out, "*3\r\n$3\r\nSET\r\n${}\r\n", key.len()).unwrap();
    out.extend_from_slice(key);
    write!(out, "\r\n${}\r\n", value.len()).unwrap();
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[test]
fn aof_check_of_a_preamble_stream_holds_a_record_not_the_stream() {
    let mut child = Command::new(rdbkit_bin())
        .args(["aof", "check", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut crc = Crc64::new();
    let mut written = 0u64;
    let mut send = |block: &[u8], crc: Option<&mut Crc64>| {
        if let Some(c) = crc {
            c.update(block);
        }
        stdin.write_all(block).unwrap();
        block.len() as u64
    };
    // The RDB preamble: version 9, `aof-preamble 1`, db 0.
    let mut block = Vec::with_capacity(16 << 20);
    block.extend_from_slice(b"REDIS0009");
    block.push(0xfa);
    rdb_str(&mut block, b"aof-preamble");
    rdb_str(&mut block, b"1");
    block.extend_from_slice(&[0xfe, 0x00]);
    written += send(&block, Some(&mut crc));
    let mut keys = 0u64;
    let mid = vec![b'm'; 8 << 20];
    let huge = vec![b'h'; 24 << 20];
    for i in 0..20u64 {
        block.clear();
        for k in 0..50_000u64 {
            block.push(0);
            rdb_str(&mut block, format!("key:{i}:{k}").as_bytes());
            rdb_str(&mut block, b"a-small-value");
        }
        block.push(0);
        rdb_str(&mut block, format!("mid:{i}").as_bytes());
        rdb_str(&mut block, &mid);
        keys += 50_001;
        written += send(&block, Some(&mut crc));
    }
    // A string over the 16 MiB a record is held up to: it streams through.
    block.clear();
    block.push(0);
    rdb_str(&mut block, b"huge");
    rdb_str(&mut block, &huge);
    keys += 1;
    block.push(0xff);
    written += send(&block, Some(&mut crc));
    let rdb_len = written + 8;
    written += send(&crc.finish().to_le_bytes(), None);
    // The RESP tail.
    let big = vec![b'v'; 4 << 20];
    let mut commands = 0u64;
    let mut i = 0u64;
    while written < 300 << 20 {
        block.clear();
        for k in 0..20_000u64 {
            set(&mut block, format!("t:{i}:{k}").as_bytes(), b"value");
        }
        set(&mut block, format!("big:{i}").as_bytes(), &big);
        commands += 20_001;
        i += 1;
        written += send(&block, None);
    }
    let (hwm, out) = fed_child_peak(child, stdin);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let text = stdout.to_string();
    assert!(text.contains("\"strict\":{\"valid\":true"), "{text}");
    assert!(text.contains(&format!("\"size\":{written}")), "{text}");
    assert!(text.contains(&format!("\"ok_up_to\":{written}")), "{text}");
    assert!(text.contains(&format!("\"commands\":{commands}")), "{text}");
    assert!(text.contains("\"verdict\":\"loads\""), "{text}");
    assert!(rdb_len > 200 << 20, "an RDB part of {rdb_len} bytes");
    eprintln!(
        "aof check - of a {} MiB preamble stream ({keys} keys in its {} MiB RDB part): peak RSS \
         {hwm} KiB",
        written >> 20,
        rdb_len >> 20
    );
    // The RDB part: a million keys (16-byte fingerprints of the deep check's duplicate test),
    // 8 MiB records held by two readers (deep and the server's shallow one); the RESP tail's
    // windows. Far below the 300 MiB stream.
    assert!(
        hwm < 128 << 10,
        "peak RSS {hwm} KiB while checking a {} MiB stream ({keys} keys in its RDB part)",
        written >> 20
    );
}

fn corpus_preamble_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/aof"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/aof"),
    ];
    while let Some(d) = dirs.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if std::fs::read(&p).is_ok_and(|b| b.len() >= 9 && b.starts_with(b"REDIS")) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Runs rdbkit with the shared runner (stdin fed from a thread of its own: a dump writes
/// before it has read its input).
fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    run_with_timeout(
        Command::new(rdbkit_bin()).args(args),
        stdin,
        Duration::from_secs(300),
    )
}

/// The shared runner feeds standard input from a thread of its own: a child that writes
/// 10 MB before it reads any of its 10 MB of input finishes (fed on the calling thread, both
/// would block on full pipes forever).
#[test]
fn the_runner_feeds_stdin_while_it_reads_the_output() {
    let input = vec![b'x'; 10_000_000];
    let o = run_with_timeout(
        Command::new("sh").args(["-c", "head -c 10000000 /dev/zero; wc -c"]),
        Some(&input),
        Duration::from_secs(120),
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(o.stdout.len(), 10_000_000 + "10000000\n".len());
    assert!(o.stdout[..10_000_000].iter().all(|&b| b == 0));
    assert_eq!(
        &o.stdout[10_000_000..],
        b"10000000\n",
        "all the input was read"
    );
}

/// Status, stdout and stderr, the file's name shown as `-`.
fn view(o: &Output, name: &str) -> (Option<i32>, String, String) {
    let t = |b: &[u8]| String::from_utf8_lossy(b).replace(name, "-");
    (o.status.code(), t(&o.stdout), t(&o.stderr))
}

#[test]
fn preamble_streams_check_and_dump_like_the_file() {
    let files = corpus_preamble_files();
    if files.len() < 10 {
        assert!(
            std::env::var_os("CI").is_none(),
            "the corpus's RDB-preamble AOFs are needed under CI ({} found)",
            files.len()
        );
        eprintln!("skipped: the corpus's RDB-preamble AOFs are not at ../shared/corpus");
        return;
    }
    let t = TempDir::new("preamble-stream");
    let f = t.join("copy.aof");
    let name = f.to_str().unwrap().to_string();
    // RESP commands after the file's own bytes: past the 64 KiB sniffed, the stream path runs.
    let mut pad = Vec::new();
    while pad.len() < 80 << 10 {
        set(&mut pad, b"pad", b"x");
    }
    let mut compared = 0;
    for src in &files {
        let orig = std::fs::read(src).unwrap();
        let padded = [&orig[..], &pad].concat();
        let rdb_end = match rdbkit_aof::rdb_prefix::check(&orig, false) {
            Ok(p) => p.len,
            Err(_) => orig.len() / 2,
        };
        let mut variants: Vec<(&str, Vec<u8>)> = vec![("padded", padded.clone())];
        variants.push(("cut in the preamble", padded[..rdb_end / 2].to_vec()));
        variants.push((
            "cut in the tail",
            padded[..padded.len() - pad.len() / 3].to_vec(),
        ));
        let mut flip = padded.clone();
        flip[rdb_end * 2 / 3] ^= 0x5a;
        variants.push(("a flipped byte in the base", flip));
        let mut flip = padded.clone();
        let at = padded.len() - pad.len() / 2;
        flip[at] = b'!';
        variants.push(("a flipped byte in the tail", flip));
        for (what, bytes) in &variants {
            std::fs::write(&f, bytes).unwrap();
            for args in [
                &["aof", "check"][..],
                &["aof", "check", "--json"],
                &["aof", "dump", "--format", "jsonl"],
            ] {
                let on_file = run(&[args, &[name.as_str()]].concat(), None);
                let on_pipe = run(&[args, &["-"]].concat(), Some(bytes));
                assert_eq!(
                    view(&on_pipe, &name),
                    view(&on_file, &name),
                    "{args:?} {} ({what})",
                    src.display()
                );
                compared += 1;
            }
        }
    }
    assert!(compared >= 150, "{compared}");
}
