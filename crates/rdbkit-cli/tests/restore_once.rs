//! Issue 16: `rdbkit restore` opens its input once. Against a real Redis 7.0 on a loopback
//! port: an archived `dump.rdb` (a regular file) restored with the default policy (a pass over
//! the keys, then the restore) is surveyed once — the one-pass note is said once, where the
//! input opened a second time surveyed the archive again and said it twice — and restores what
//! the unpacked file restores; a FIFO (an RDB, and a tar of it) is read once with
//! `--skip-existing`/`--replace` (a server without hash field TTLs: the field-TTL pass opened
//! the input again, which on a FIFO waits forever for a writer: the run would time out); the
//! default policy on a FIFO is refused at once, nothing written.

#[macro_use]
mod common;

use std::path::Path;
use std::process::Output;

use common::*;

fn run(args: &[&str], tmp: &Path) -> Output {
    run_in_tmp(args, tmp, 60)
}

fn dbsize(c: &mut Client) -> i64 {
    let mut n = 0;
    for db in 0..16 {
        c.cmd(args!["SELECT", db]);
        match c.cmd(args!["DBSIZE"]) {
            Reply::Int(k) => n += k,
            r => panic!("DBSIZE: {r:?}"),
        }
    }
    c.cmd(args!["SELECT", 0]);
    n
}

fn flush(c: &mut Client) {
    c.cmd(args!["FLUSHALL"]);
    c.cmd(args!["FUNCTION", "FLUSH"]);
}

const NOTE: &str = "member dump.rdb read in the archive's pass; nothing unpacked to disk";

#[test]
fn restore_reads_an_archive_once_and_a_fifo_once() {
    if require_tool("tar").is_none() {
        return;
    }
    let Some((_d, server)) = redis70("restore-once-server") else {
        return;
    };
    let url = loopback_url(server.port);
    let mut c = Client::connect(server.port).unwrap();
    let t = TempDir::new("restore-once");
    let tmp = t.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let rdb = std::fs::read(testdata("rdb/sample.rdb")).unwrap();
    std::fs::write(t.join("dump.rdb"), &rdb).unwrap();
    let a = t.join("a.tar.gz");
    tar_gnu(&["-czf", s(&a), "dump.rdb"], t.path());
    let plain = t.join("dump.rdb");

    // The unpacked file: what a restore gives.
    flush(&mut c);
    let o = run(&["restore", s(&plain), &url], &tmp);
    assert_eq!(o.status.code(), Some(0), "{}", output_text(&o));
    let want = dbsize(&mut c);
    assert!(want > 10, "{want} keys");

    // The archive, default policy: surveyed once, the same keys.
    flush(&mut c);
    let o = run(&["restore", s(&a), &url], &tmp);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{}", output_text(&o));
    assert_eq!(err.matches(NOTE).count(), 1, "one survey, one note: {err}");
    assert_eq!(dbsize(&mut c), want);
    // Again: the pass over the keys finds them (exit 3, nothing written).
    let o = run(&["restore", s(&a), &url], &tmp);
    assert_eq!(o.status.code(), Some(3), "{}", output_text(&o));

    // FIFOs, read once: an RDB with --skip-existing, a tar of it with --replace.
    let tar = std::fs::read(t.join("a.tar.gz")).unwrap();
    for (i, (data, flag)) in [(&rdb, "--skip-existing"), (&tar, "--replace")]
        .into_iter()
        .enumerate()
    {
        flush(&mut c);
        let f = t.join(format!("fifo{i}"));
        fifo(&f, data.clone());
        let o = run(&["restore", flag, s(&f), &url], &tmp);
        assert_eq!(o.status.code(), Some(0), "{flag}: {}", output_text(&o));
        assert_eq!(dbsize(&mut c), want, "{flag}");
    }
    // The default policy on a FIFO: refused at once (it would need a second read).
    flush(&mut c);
    let f = t.join("fifo-default");
    fifo(&f, rdb.clone());
    let o = run(&["restore", s(&f), &url], &tmp);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("a stream is read once"), "{err}");
    assert_eq!(dbsize(&mut c), 0);
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().flatten().collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
}
