//! CLI hardening: a closed stdout ends every subcommand quietly with status 0; one exit-code
//! table (`keys` and `info` agree on a damaged AOF); key names, file names and server replies
//! are escaped (control bytes, C1 such as U+009B, bidi controls such as U+202E); a manifest
//! naming `.`, `..` or "" is refused with the reason.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{rdbkit_bin, run_rdbkit, run_with_timeout, TempDir};
use std::time::Duration;

fn testdata(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(p)
}

/// Runs rdbkit with its stdout a pipe whose read end is closed at once: every write fails
/// with EPIPE. Returns (exit code, stderr).
fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(rdbkit_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_is_a_quiet_exit_0_for_every_subcommand() {
    let rdb = testdata("rdb/sample.rdb");
    let rdb = rdb.to_str().unwrap();
    let aof = testdata("aof/appendonlydir");
    let aof = aof.to_str().unwrap();
    let runs: Vec<Vec<&str>> = vec![
        vec!["dump", rdb],
        vec!["dump", "--format", "resp", rdb],
        vec!["keys", rdb],
        vec!["keys", aof],
        vec!["info", rdb],
        vec!["info", "--json", aof],
        vec!["check", rdb],
        vec!["size", rdb],
        vec!["size", "--csv", rdb],
        vec!["diff", rdb, rdb],
        vec!["verify", rdb],
        vec!["verify", "--json", rdb, aof],
        vec!["aof", "check", aof],
        vec!["aof", "dump", aof],
    ];
    for args in runs {
        let (code, err) = with_closed_stdout(&args);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
        assert_eq!(code, Some(0), "{args:?}: {err}");
    }
}

#[test]
fn keys_and_info_share_the_exit_codes() {
    // A torn AOF: damaged input, exit 2 for both (keys used to say 1).
    let torn = testdata("aof/torn/appendonlydir");
    let torn = torn.to_str().unwrap();
    for sub in ["keys", "info"] {
        let out = run_rdbkit([sub, torn]);
        assert_eq!(out.status.code(), Some(2), "{sub} on a torn AOF");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    }
    // A missing input: exit 1 for both.
    for sub in ["keys", "info"] {
        assert_eq!(
            run_rdbkit([sub, "/nonexistent/x.rdb"]).status.code(),
            Some(1)
        );
    }
    // The table is in the top-level help.
    let help = String::from_utf8_lossy(&run_rdbkit(["--help"]).stdout).into_owned();
    assert!(help.contains("Exit status, every subcommand"), "{help}");
}

/// `size` on the one table (it was the last subcommand on a scheme of its own): usage errors
/// are 1 with the subcommand named, an input that cannot be opened or is an AOF 1, a damaged
/// RDB 2 (also after a sound one), an unwritable report or standard output 1.
#[test]
fn size_follows_the_exit_code_table() {
    let rdb = testdata("rdb/sample.rdb");
    let rdb = rdb.to_str().unwrap();
    let t = TempDir::new("size-codes");
    let damaged = t.join("damaged.rdb");
    std::fs::write(&damaged, b"REDIS0009\xfe\x00\x00\x05").unwrap();
    let damaged = damaged.to_str().unwrap();
    let aof = testdata("aof/appendonlydir");
    let html = t.join("no-such-dir/report.html");
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["size", "--now", "yesterday", rdb],
            1,
            "rdbkit size: bad time",
        ),
        (
            vec!["size", "--max-memory", "lots", rdb],
            1,
            "rdbkit size: bad size",
        ),
        (
            vec!["size", "--csv", rdb, rdb],
            1,
            "rdbkit size: --csv takes one file",
        ),
        (vec!["size", "-", "-"], 1, "rdbkit size: standard input"),
        (
            vec!["size", "/nonexistent/x.rdb"],
            1,
            "rdbkit: /nonexistent/x.rdb: ",
        ),
        (vec!["size", aof.to_str().unwrap()], 1, "this is an AOF"),
        (
            vec!["size", damaged],
            2,
            "damaged.rdb: at byte 12 (db 0): key length 5",
        ),
        (vec!["size", rdb, damaged], 2, "damaged.rdb: at byte 12"),
        (
            vec!["size", "--html", html.to_str().unwrap(), rdb],
            1,
            "rdbkit: writing ",
        ),
        (vec!["size", rdb], 0, ""),
    ];
    for (args, code, message) in cases {
        let out = run_rdbkit(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
        if code == 0 {
            assert!(err.is_empty(), "{args:?}: {err}");
        } else {
            assert_eq!(err.lines().count(), 1, "one line: {args:?}: {err}");
        }
    }
    assert!(!html.exists());
    // Standard output that cannot be written (a full disk): exit 1, the reason printed.
    if Path::new("/dev/full").exists() {
        for csv in [false, true] {
            let mut cmd = Command::new(rdbkit_bin());
            cmd.arg("size");
            if csv {
                cmd.arg("--csv");
            }
            let out = cmd
                .arg(rdb)
                .stdout(std::fs::File::create("/dev/full").unwrap())
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "csv {csv}: {err}");
            assert!(err.starts_with("rdbkit: writing output: "), "{err}");
        }
    }
}

/// One spelling for accepting the loss of hash field TTLs: `--drop field-ttl`, as `convert`
/// has it; `restore`'s old `--drop-field-ttls` is still accepted (hidden), to the same effect:
/// both runs against a port nothing listens on end the same way.
#[test]
fn drop_field_ttl_is_spelled_one_way() {
    let convert = String::from_utf8_lossy(&run_rdbkit(["convert", "--help"]).stdout).into_owned();
    assert!(convert.contains("field-ttl"), "{convert}");
    let restore = String::from_utf8_lossy(&run_rdbkit(["restore", "--help"]).stdout).into_owned();
    assert!(restore.contains("--drop <KIND>"), "{restore}");
    assert!(!restore.contains("--drop-field-ttls"), "{restore}");
    let rdb = testdata("rdb/sample.rdb");
    let url = format!("redis://127.0.0.1:{}", common::free_port());
    let run = |flags: &[&str]| {
        let mut a = vec!["restore"];
        a.extend(flags);
        a.extend([rdb.to_str().unwrap(), url.as_str()]);
        let o = run_rdbkit(&a);
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let new = run(&["--drop", "field-ttl"]);
    let old = run(&["--drop-field-ttls"]);
    assert!(!new.1.contains("unexpected argument"), "{new:?}");
    assert_eq!(new, old);
    assert_ne!(new.0, Some(0), "nothing listens there: {new:?}");
    // Other kinds of loss are not restore's: refused by name.
    let (code, err) = run(&["--drop", "streams"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("field-ttl"), "{err}");
}

/// A sound RDB (version 9) holding the given keys in db 0, each = "v".
fn rdb_with_keys(keys: &[&[u8]]) -> Vec<u8> {
    let mut b = b"\xfe\x00".to_vec();
    for k in keys {
        rdbkit_testkit::rdb::string_key(&mut b, k, b"v");
    }
    rdbkit_testkit::rdb::file(9, &b)
}

#[test]
fn keys_file_names_and_messages_are_escaped() {
    let t = TempDir::new("escape");
    let csi = "c1\u{9b}31mred".as_bytes();
    let rlo = "bidi\u{202e}txt.exe".as_bytes();
    let esc: &[u8] = b"esc\x1b]0;title\x07";
    let f = t.join("keys.rdb");
    std::fs::write(&f, rdb_with_keys(&[csi, rlo, esc, b"plain"])).unwrap();
    let out = run_rdbkit(["check", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "a sound RDB");
    let out = run_rdbkit(["keys", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "c1\\xc2\\x9b31mred",
            "bidi\\xe2\\x80\\xaetxt.exe",
            "esc\\x1b]0;title\\x07",
            "plain"
        ]
    );
    // -0 still gives the raw bytes.
    let out = run_rdbkit(["keys", "-0", f.to_str().unwrap()]);
    assert!(out.stdout.windows(csi.len()).any(|w| w == csi));

    // A file name with a terminal escape: every message prints it escaped.
    let evil = t.join("dump\x1b[2J\u{202e}.rdb");
    std::fs::write(&evil, b"REDIS0009\xfe\x00\x00\x05").unwrap(); // damaged
    let name_escaped = "dump\\x1b[2J\\xe2\\x80\\xae.rdb";
    for args in [
        vec!["verify", evil.to_str().unwrap()],
        vec!["keys", evil.to_str().unwrap()],
        vec!["info", evil.to_str().unwrap()],
        vec!["check", evil.to_str().unwrap()],
        vec!["dump", evil.to_str().unwrap()],
        vec!["size", evil.to_str().unwrap()],
    ] {
        let out = run_rdbkit(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let all =
            String::from_utf8_lossy(&[&out.stdout[..], &out.stderr[..]].concat()).into_owned();
        assert!(
            !all.contains('\x1b') && !all.contains('\u{202e}'),
            "{args:?}: raw: {all:?}"
        );
        assert!(all.contains(name_escaped), "{args:?}: {all}");
    }
}

#[test]
fn manifest_names_dot_dotdot_and_empty_are_refused_with_the_reason() {
    let t = TempDir::new("manifest-names");
    for (i, name) in [".", "..", "\"\""].iter().enumerate() {
        let dir = t.join(format!("appendonlydir{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(
            testdata("aof/appendonlydir/appendonly.aof.2.incr.aof"),
            dir.join("appendonly.aof.2.incr.aof"),
        )
        .unwrap();
        std::fs::write(
            dir.join("appendonly.aof.manifest"),
            format!("file {name} seq 1 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"),
        )
        .unwrap();
        let out = run_rdbkit(["verify", dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("can't be '.', '..' or empty"),
            "{name}: {text}"
        );
        assert!(!text.contains("No such device"), "{text}");
        let out = run_rdbkit(["aof", "check", dir.to_str().unwrap()]);
        let all =
            String::from_utf8_lossy(&[&out.stdout[..], &out.stderr[..]].concat()).into_owned();
        assert!(all.contains("can't be '.', '..' or empty"), "{name}: {all}");
    }
}

/// A string value bigger than a stream holds (16 MiB) read from a pipe by a command that writes
/// it: every byte reaches the output (it was once streamed past and written as nothing, exit 0),
/// and one over `--max-value-bytes` is refused, naming the key, with no output left.
#[test]
fn writers_from_a_pipe_keep_big_values_whole() {
    let dir = TempDir::new("big-pipe");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let big: Vec<u8> = (0..(17usize << 20))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut b = Vec::new();
    rdbkit_testkit::rdb::string_key(&mut b, b"big", &big);
    rdbkit_testkit::rdb::string_key(&mut b, b"small", b"v");
    let rdb = rdbkit_testkit::rdb::file(9, &b);
    let out = dir.path().join("out.rdb");
    let run = |args: &[&std::ffi::OsStr]| {
        run_with_timeout(
            Command::new(rdbkit_bin()).args(args),
            Some(&rdb),
            Duration::from_secs(120),
        )
    };
    let o = run(&[
        "convert".as_ref(),
        "-".as_ref(),
        out.as_os_str(),
        "--target".as_ref(),
        "rdb-9".as_ref(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The same as converting the file itself (mapped, never streamed).
    let src = dir.path().join("in.rdb");
    std::fs::write(&src, &rdb).unwrap();
    let from_file = dir.path().join("from-file.rdb");
    let o = run_rdbkit([
        "convert".as_ref(),
        src.as_os_str(),
        from_file.as_os_str(),
        "--target".as_ref(),
        "rdb-9".as_ref(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let piped = std::fs::read(&out).unwrap();
    assert!(piped.len() > big.len(), "{} bytes written", piped.len());
    assert!(
        piped == std::fs::read(&from_file).unwrap(),
        "pipe and file convert alike"
    );
    let parts = dir.path().join("parts");
    let o = run(&[
        "split".as_ref(),
        "-".as_ref(),
        parts.as_os_str(),
        "--slots".as_ref(),
        "0-16383".as_ref(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let part = std::fs::read(parts.join("slots-0-16383.rdb")).unwrap();
    assert!(
        part.windows(1 << 12).any(|w| w == &big[..1 << 12]) && part.len() > big.len(),
        "the split part holds the big value ({} bytes)",
        part.len()
    );
    let refused = dir.path().join("refused.rdb");
    let o = run(&[
        "convert".as_ref(),
        "-".as_ref(),
        refused.as_os_str(),
        "--target".as_ref(),
        "rdb-9".as_ref(),
        "--max-value-bytes".as_ref(),
        "1000000".as_ref(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("\"big\"") && err.contains("--max-value-bytes"),
        "{err}"
    );
    assert!(!refused.exists());
}
