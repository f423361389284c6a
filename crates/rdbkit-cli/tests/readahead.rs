//! `rdbkit check` of a compressed stream decompresses on a thread of its own
//! (`src/readahead.rs`), making exactly the reads the checker makes: a damaged gzip/zstd copy
//! of a real server's RDB says what the single-threaded read says (`RDBKIT_READAHEAD=0`), to
//! the byte and to the `N bytes decompressed`, and no request of the checker is other than the
//! read made ahead (`RDBKIT_READAHEAD=trace` would say so on stderr). A FIFO of a `.gz` is read
//! once and checked.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

/// `p` in the shared corpus, or `None` (the test skips; under `CI=true` a missing corpus
/// fails).
fn corpus(p: &str) -> Option<PathBuf> {
    rdbkit_testkit::corpus_dir().map(|c| c.join(p))
}

fn run(args: &[&str], mode: &str) -> Output {
    let mut c = Command::new(rdbkit_bin());
    c.args(args).env("RDBKIT_READAHEAD", mode);
    run_with_timeout(&mut c, None, Duration::from_secs(120))
}

fn compress(tool: &Path, args: &[&str], data: &[u8]) -> Vec<u8> {
    let o = run_with_timeout(
        Command::new(tool).args(args),
        Some(data),
        Duration::from_secs(120),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

/// The same status, stdout and stderr with the read-ahead thread (tracing its requests) as
/// without it.
fn same_with_and_without(args: &[&str]) -> Output {
    let ahead = run(args, "trace");
    let alone = run(args, "0");
    assert_eq!(ahead.status.code(), alone.status.code(), "{args:?}");
    assert_eq!(
        String::from_utf8_lossy(&ahead.stdout),
        String::from_utf8_lossy(&alone.stdout),
        "{args:?}"
    );
    assert_eq!(
        String::from_utf8_lossy(&ahead.stderr),
        String::from_utf8_lossy(&alone.stderr),
        "{args:?}"
    );
    ahead
}

/// Valkey 8.0.1's `nocompress.rdb` (215 557 bytes: four 64 KiB fills) gzip'd and zstd'd,
/// damaged mid-file: the error is met at the same read, after the same bytes, as on one
/// thread — these are the messages `rdbkit check` gave before the thread existed (with 1 MiB
/// reads ahead it said `at byte 15865`).
#[test]
fn damaged_gzip_and_zstd_say_what_one_thread_says() {
    let Some(gzip) = require_tool("gzip") else {
        return;
    };
    let Some(zstd) = require_tool("zstd") else {
        return;
    };
    let Some(f) = corpus("rdb/valkey-8.0.1/nocompress.rdb") else {
        return;
    };
    let t = TempDir::new("readahead-damaged");
    let rdb = std::fs::read(f).unwrap();
    assert_eq!(rdb.len(), 215_557);
    for (tool, args, flip, want) in [
        (
            &gzip,
            vec!["-n", "-6", "-c"],
            43_557usize,
            "at byte 65536: I/O error: gzip stream damaged: corrupt deflate stream (after \
             109719 compressed bytes, 65536 bytes decompressed)",
        ),
        (
            &zstd,
            vec!["-q", "-19", "-c"],
            36_277,
            "at byte 49425: I/O error: zstd stream damaged: Data corruption detected (after \
             106796 compressed bytes, 49425 bytes decompressed)",
        ),
    ] {
        let mut z = compress(tool, &args, &rdb);
        let p = t.join(format!("nocompress-{}.bin", z.len()));
        z[flip] ^= 0xff;
        std::fs::write(&p, &z).unwrap();
        let o = same_with_and_without(&["check", s(&p)]);
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        // Another compressor build may compress differently: then the comparison above is
        // what is asserted.
        if [109_719, 106_796].contains(&z.len()) {
            assert_eq!(
                err.trim_end(),
                format!("rdbkit: {}: {want}", s(&p)),
                "{tool:?}"
            );
        }
        same_with_and_without(&["check", "--shallow", s(&p)]);
    }
}

/// Every RDB of the corpus, gzip'd and zstd'd, whole, with a byte flipped at three places and
/// cut at two: `check` and `check --shallow` say the same with and without the thread.
#[test]
fn every_corpus_rdb_compressed_and_damaged_says_the_same() {
    let Some(gzip) = require_tool("gzip") else {
        return;
    };
    let Some(zstd) = require_tool("zstd") else {
        return;
    };
    let Some(dir) = corpus("rdb") else {
        return;
    };
    let t = TempDir::new("readahead-corpus");
    let mut rdbs = Vec::new();
    for v in std::fs::read_dir(dir).unwrap() {
        let v = v.unwrap().path();
        if !v.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&v).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|x| x == "rdb") {
                rdbs.push(f);
            }
        }
    }
    rdbs.sort();
    assert!(rdbs.len() >= 30, "{}", rdbs.len());
    let mut runs = 0;
    for (i, f) in rdbs.iter().enumerate() {
        let data = std::fs::read(f).unwrap();
        for (tool, args) in [(&gzip, vec!["-n", "-c"]), (&zstd, vec!["-q", "-c"])] {
            let z = compress(tool, &args, &data);
            let mut copies = vec![z.clone()];
            for frac in [3, 5, 8] {
                let mut d = z.clone();
                let at = (d.len() * frac / 10).max(12).min(d.len() - 1);
                d[at] ^= 0x55;
                copies.push(d);
            }
            for frac in [4, 9] {
                copies.push(z[..z.len() * frac / 10].to_vec());
            }
            for (k, c) in copies.iter().enumerate() {
                let p = t.join(format!("{i}-{k}.bin"));
                std::fs::write(&p, c).unwrap();
                same_with_and_without(&["check", s(&p)]);
                same_with_and_without(&["check", "--shallow", s(&p)]);
                runs += 2;
            }
        }
    }
    assert!(runs > 300, "{runs}");
}

/// A FIFO holding a `.gz` of a real server's RDB is read once, on the thread, and checked: the
/// summary of the plain file.
#[test]
fn a_fifo_of_a_gz_is_read_once_and_checked() {
    let Some(gzip) = require_tool("gzip") else {
        return;
    };
    let Some(f) = corpus("rdb/valkey-8.0.1/nocompress.rdb") else {
        return;
    };
    let t = TempDir::new("readahead-fifo");
    let plain = run(&["check", s(&f)], "1");
    assert_eq!(plain.status.code(), Some(0));
    let z = compress(&gzip, &["-c"], &std::fs::read(&f).unwrap());
    let p = t.join("dump.rdb.gz");
    fifo(&p, z);
    let o = run(&["check", s(&p)], "trace");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stderr), "");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).replace(s(&p), "F"),
        String::from_utf8_lossy(&plain.stdout).replace(s(&f), "F")
    );
}

/// A FIFO whose content `check` refuses (a gzip'd manifest: its parts are beside it, not in a
/// stream) exits 2 with the reason at once. `check` asks whether the path opens, to tell
/// "cannot be opened" (1) from "damaged or refused" (2); a plain `open` of the FIFO, whose
/// writer is gone, waited for a new writer forever.
#[test]
fn a_refused_fifo_exits_at_once() {
    let Some(gzip) = require_tool("gzip") else {
        return;
    };
    let t = TempDir::new("readahead-fifo-refused");
    let z = compress(
        &gzip,
        &["-c"],
        b"file appendonly.aof.1.base.rdb seq 1 type b\n",
    );
    let p = t.join("manifest.gz");
    fifo(&p, z);
    let o = run(&["check", s(&p)], "1");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("a manifest names files beside it: give its path, not a stream"),
        "{err}"
    );
}
