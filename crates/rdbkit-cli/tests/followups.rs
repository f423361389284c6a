//! Follow-up fixes: `size` on a stream holding a string too big to hold, `verify` on a file
//! that shrinks while it is read, `diff`'s value budget on streams, escaped file names in
//! `aof check`/`aof fix` messages.

mod common;

use std::io::Write;
use std::process::{Command, Output};
use std::time::Duration;

use rdbkit_testkit::rdb::string_key;

use common::{rdbkit_bin, run_rdbkit, run_with_timeout, Rng, TempDir};

/// An RDB holding `big` (a 20 MiB string, over the 16 MiB a stream holds) between ordinary
/// keys, in db 0 and db 3.
fn rdb_with_big_string() -> Vec<u8> {
    let mut rng = Rng::new(11);
    let mut body = b"\xfe\x00".to_vec();
    string_key(&mut body, b"small", b"v");
    string_key(&mut body, b"big", &rng.bytes(20 << 20));
    string_key(&mut body, b"mid", &rng.bytes(5000));
    body.extend_from_slice(b"\xfe\x03");
    string_key(&mut body, b"other", b"12345");
    rdbkit_testkit::rdb::file(9, &body)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    run_with_timeout(
        Command::new(rdbkit_bin()).args(args),
        Some(stdin),
        Duration::from_secs(300),
    )
}

fn json_ok(o: &Output, what: &str) -> serde_json::Value {
    assert!(
        o.status.success(),
        "{what}: exit {:?}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// `size` reads a 20 MiB string from a stream (plain and gzip'd on standard input, a gzip'd
/// file) without holding it, and gives the numbers it gives for the file itself.
#[test]
fn size_of_a_streamed_big_string_matches_the_file() {
    let tmp = TempDir::new("size-big");
    let raw = rdb_with_big_string();
    let path = tmp.join("big.rdb");
    std::fs::write(&path, &raw).unwrap();
    let gz = tmp.join("big.rdb.gz");
    std::fs::write(&gz, gzip(&raw)).unwrap();
    let p = path.to_str().unwrap();
    let from_file = json_ok(&run_rdbkit(["size", "--json", p]), "file");
    // The big string is ranked first by its length, not refused.
    let top = &from_file["top"][0];
    assert_eq!(top["key"], "big", "{from_file:#}");
    assert_eq!(
        top["len_largest_element"].as_u64(),
        Some(20 << 20),
        "{top:#}"
    );
    assert!(top["memory"].as_u64().unwrap() >= 20 << 20, "{top:#}");
    assert_eq!(from_file["total"]["keys"], 4, "{from_file:#}");
    for (what, o) in [
        ("stdin", with_stdin(&["size", "--json", "-"], &raw)),
        (
            "stdin gzip",
            with_stdin(&["size", "--json", "-"], &gzip(&raw)),
        ),
        (
            "gzip file",
            run_rdbkit(["size", "--json", gz.to_str().unwrap()]),
        ),
    ] {
        assert_eq!(json_ok(&o, what), from_file, "{what}");
    }
}

/// `verify` on a file another process truncates meanwhile: never killed by SIGBUS; either
/// OK (it finished first) or DAMAGED saying the file shrank — never damage made up from the
/// vanished pages (which read as zeros).
#[test]
fn file_truncated_under_verify_says_it_shrank() {
    use std::os::unix::process::ExitStatusExt;
    let tmp = TempDir::new("verify-trunc");
    let data = common::many_keys_rdb();
    let path = tmp.join("t.rdb");
    let mut shrank = 0;
    for round in 0..12u64 {
        std::fs::write(&path, &data).unwrap();
        let cut = 4096 * (1 + round);
        let child = Command::new(rdbkit_bin())
            .args(["verify", "-j", "1"])
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(5 + 4 * round));
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let o = child.wait_with_output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.signal(), None, "killed by a signal: {out}{err}");
        match o.status.code() {
            Some(0) => assert!(out.starts_with("OK"), "{out}"),
            Some(2) => {
                assert!(out.starts_with("DAMAGED"), "{out}{err}");
                // Whatever the parser met in the zeroed pages, the verdict is the shrink.
                if out.contains("the file shrank from") {
                    shrank += 1;
                } else {
                    // A run that mapped the file after the cut reads the short file: its
                    // damage lies at its end, never past it (zeros read as keys would be).
                    let at: u64 = out
                        .split("at byte ")
                        .nth(1)
                        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| panic!("no offset: {out}{err}"));
                    assert!(at <= cut, "{out}{err}");
                }
            }
            c => panic!("{c:?}: {out}{err}"),
        }
    }
    eprintln!("{shrank} of 12 runs saw the file shrink under the map");
    assert!(
        shrank > 0,
        "no run was cut while reading: the test proves nothing"
    );
}

/// The shared corpus of real servers' files, or `None` (skipped locally, a failure in CI).
fn corpus() -> Option<std::path::PathBuf> {
    common::corpus_dir()
}

/// `diff --max-value-bytes` covers a stream (`-` plain and gzip'd, a FIFO) as it covers a
/// file: Redis 7.0's file with a 1 MiB string is refused by key and offset, one line, exit 2;
/// within the budget the stream and the file compare equal.
#[test]
fn diff_value_budget_on_streams() {
    let Some(c) = corpus() else { return };
    let f = c.join("rdb/7.0.15/bigstring.rdb");
    let raw = std::fs::read(&f).unwrap();
    let fs = f.to_str().unwrap();
    let want = "at byte 85 (db 0, key \"str:huge:9w3jc4\"): this value needs 1048576 bytes in \
                memory, over the --max-value-bytes limit of 100000";
    // The file (checked before loading) gives the reference line.
    let o = run_rdbkit(["diff", "--max-value-bytes", "100000", fs, fs]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(want), "{err}");
    let tmp = TempDir::new("diff-budget");
    let fifo = tmp.join("pipe");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let feeder = {
        let (fifo, raw) = (fifo.clone(), raw.clone());
        std::thread::spawn(move || {
            // The reader may stop early: a broken pipe ends the feed.
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .open(&fifo)
                .and_then(|mut w| w.write_all(&raw));
        })
    };
    let fifo_s = fifo.to_str().unwrap();
    for (what, o) in [
        (
            "stdin",
            with_stdin(&["diff", "--max-value-bytes", "100000", "-", fs], &raw),
        ),
        (
            "stdin gzip",
            with_stdin(
                &["diff", "--max-value-bytes", "100000", "-", fs],
                &gzip(&raw),
            ),
        ),
        (
            "fifo",
            run_rdbkit(["diff", "--max-value-bytes", "100000", fifo_s, fs]),
        ),
    ] {
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{what}: {err}");
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        assert!(err.contains(want), "{what}: {err}");
        assert!(o.stdout.is_empty(), "{what}");
    }
    feeder.join().unwrap();
    // Within the budget (the default) the stream loads, equal to the file.
    for (what, data) in [("stdin", raw.clone()), ("stdin gzip", gzip(&raw))] {
        let o = with_stdin(&["diff", "-", fs], &data);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{what}: {err}");
        assert!(
            err.contains("0 added, 0 removed, 0 changed"),
            "{what}: {err}"
        );
    }
}

/// The subcommand list says what `size` ranks by.
#[test]
fn size_description_says_estimated_memory() {
    let o = run_rdbkit(["--help"]);
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("size "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("ranked by estimated memory"), "{line}");
}

/// Runs `rdbkit ARGS` in `dir` with `stdin`.
fn in_dir(args: &[&str], dir: &std::path::Path, stdin: &str) -> Output {
    run_with_timeout(
        Command::new(rdbkit_bin()).args(args).current_dir(dir),
        Some(stdin.as_bytes()),
        Duration::from_secs(60),
    )
}

/// `aof check`, `aof fix` (declined) and the `redis-check-aof` drop-in print a file name
/// holding an escape sequence escaped (`\x1b`), and otherwise exactly what they print for an
/// ordinary name — which for the drop-in is what Redis's own `redis-check-aof` prints.
#[test]
fn aof_messages_escape_file_names() {
    let Some(c) = corpus() else { return };
    let damaged = std::fs::read(
        c.join("aof/7.0.15/cases/mp-aof--last-trunc-crlf/appendonlydir/appendonly.aof.4.incr.aof"),
    )
    .unwrap();
    let tmp = TempDir::new("aof-names");
    let evil = "x\x1b[2Jy.aof";
    let shown = "x\\x1b[2Jy.aof";
    std::fs::write(tmp.join(evil), &damaged).unwrap();
    std::fs::write(tmp.join("plain.aof"), &damaged).unwrap();
    let runs: Vec<(Vec<&str>, Vec<&str>, &str)> = vec![
        (
            vec!["aof", "check", evil],
            vec!["aof", "check", "plain.aof"],
            "",
        ),
        (
            vec!["aof", "fix", evil],
            vec!["aof", "fix", "plain.aof"],
            "n\n",
        ),
        (
            vec!["aof", "check", "missing\x1b[2J"],
            vec!["aof", "check", "missing"],
            "",
        ),
        (
            vec!["redis-check-aof", evil],
            vec!["redis-check-aof", "plain.aof"],
            "",
        ),
        (
            vec!["redis-check-aof", "--fix", evil],
            vec!["redis-check-aof", "--fix", "plain.aof"],
            "n\n",
        ),
        (
            vec!["redis-check-aof", "missing\x1b[2J"],
            vec!["redis-check-aof", "missing"],
            "",
        ),
    ];
    for (bad, good, stdin) in &runs {
        let o = in_dir(bad, tmp.path(), stdin);
        let p = in_dir(good, tmp.path(), stdin);
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        assert!(
            !o.stdout.contains(&0x1b) && !o.stderr.contains(&0x1b),
            "{bad:?}: a raw escape: {out}{err}"
        );
        assert_eq!(o.status.code(), p.status.code(), "{bad:?}: {out}{err}");
        let plain_name = good.last().unwrap();
        let bad_shown = bad.last().unwrap().replace('\x1b', "\\x1b");
        let want = String::from_utf8_lossy(&p.stdout).replace(plain_name, &bad_shown);
        assert_eq!(out, want, "{bad:?}");
        assert!(
            out.contains(&bad_shown) || err.contains(&bad_shown),
            "{out}{err}"
        );
    }
    assert!(
        String::from_utf8_lossy(&in_dir(&["aof", "check", evil], tmp.path(), "").stdout)
            .contains(&format!("{shown} [file]: size 757, ok_up_to 743"))
    );
    // Nothing was cut (the fixes were declined).
    assert_eq!(std::fs::read(tmp.join(evil)).unwrap(), damaged);
    // The drop-in's output for an ordinary name is Redis's own.
    if let Some(real) = common::require_tool("redis-check-aof") {
        let ours = in_dir(&["redis-check-aof", "plain.aof"], tmp.path(), "");
        let theirs = run_with_timeout(
            Command::new(real).arg("plain.aof").current_dir(tmp.path()),
            None,
            Duration::from_secs(60),
        );
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout)
        );
        assert_eq!(ours.status.code(), theirs.status.code());
    }
}
