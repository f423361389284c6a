//! `rdbkit split` and `rdbkit merge` over the shared corpus: split into three slot ranges →
//! every part holds only keys of its slots (CRC16 recomputed here) and passes `check`; merge
//! of the parts → `rdbkit diff --db 0` against the original finds no difference; a key in two
//! inputs fails the merge (nothing written) unless `--on-duplicate` says which wins; outputs
//! are never overwritten without `--force`.

#[macro_use]
mod common;

use std::path::PathBuf;

use common::{run_rdbkit, TempDir};

fn corpus_rdb() -> Option<PathBuf> {
    common::corpus_dir().map(|c| c.join("rdb"))
}

/// CRC16/XMODEM, written from the cluster specification (independent of the tool's).
fn slot(key: &[u8]) -> u16 {
    let k = match key.iter().position(|&b| b == b'{') {
        Some(s) => match key[s + 1..].iter().position(|&b| b == b'}') {
            Some(e) if e > 0 => &key[s + 1..s + 1 + e],
            _ => key,
        },
        None => key,
    };
    let mut crc: u16 = 0;
    for &b in k {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

#[test]
fn crc16_matches_the_specification_example() {
    // The cluster specification: CRC16 of "123456789" is 0x31C3.
    let mut crc: u16 = 0;
    for &b in b"123456789" {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    assert_eq!(crc, 0x31C3);
    assert_eq!(slot(b"{user1000}.following"), slot(b"{user1000}.followers"));
}

/// (db, key) of every line of `rdbkit dump` output.
fn dump_keys(out: &str) -> Vec<(u64, Vec<u8>)> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let j = common::parse_json(l).unwrap();
            let db = match j.get("db") {
                Some(common::Json::Num(n)) => n.parse().unwrap(),
                other => panic!("no db: {other:?}"),
            };
            (db, common::json_bytes(j.get("key").unwrap()).unwrap())
        })
        .collect()
}

fn ok(args: &[&str]) -> String {
    let o = run_rdbkit(args);
    assert!(
        o.status.success(),
        "rdbkit {args:?}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn split_then_merge_equals_the_original() {
    let Some(corpus) = corpus_rdb() else { return };
    let ranges = [(0u16, 5460u16), (5461, 10922), (10923, 16383)];
    let mut done = 0;
    for v in [
        "2.8.24",
        "5.0.14",
        "6.2.14",
        "7.0.15",
        "7.4.1",
        "valkey-8.1.8",
    ] {
        for variant in ["base", "nocompress", "lfu"] {
            let src = corpus.join(v).join(format!("{variant}.rdb"));
            if !src.is_file() {
                continue;
            }
            let ctx = src.display().to_string();
            let dir = TempDir::new("split");
            let parts = dir.join("parts");
            let s = src.to_str().unwrap();
            ok(&[
                "split",
                s,
                parts.to_str().unwrap(),
                "--slots",
                "0-5460,5461-10922,10923-16383",
            ]);
            let mut files = Vec::new();
            let mut total = 0;
            for (a, b) in ranges {
                let f = parts.join(format!("slots-{a}-{b}.rdb"));
                ok(&["check", f.to_str().unwrap()]);
                let keys = dump_keys(&ok(&["dump", f.to_str().unwrap()]));
                for (db, key) in &keys {
                    let sl = slot(key);
                    assert!(
                        *db == 0 && (a..=b).contains(&sl),
                        "{ctx}: key {:?} (slot {sl}, db {db}) in part {a}-{b}",
                        String::from_utf8_lossy(key),
                    );
                }
                total += keys.len();
                files.push(f.to_str().unwrap().to_string());
            }
            let orig = dump_keys(&ok(&["dump", "--db", "0", s]));
            assert_eq!(total, orig.len(), "{ctx}: every db-0 key in one part");
            let merged = dir.join("merged.rdb");
            let mut a: Vec<&str> = vec!["merge"];
            a.extend(files.iter().map(String::as_str));
            a.extend(["-o", merged.to_str().unwrap()]);
            ok(&a);
            let d = run_rdbkit(["diff", "--db", "0", s, merged.to_str().unwrap()]);
            assert_eq!(
                d.status.code(),
                Some(0),
                "{ctx}: {}{}",
                String::from_utf8_lossy(&d.stdout),
                String::from_utf8_lossy(&d.stderr)
            );
            done += 1;
        }
    }
    assert!(done >= 10, "only {done} files");
}

/// `rdbkit diff`'s summary line (stderr) and listing (stdout), whatever its exit status.
fn ok_or_diff(args: &[&str]) -> String {
    let o = run_rdbkit(args);
    assert!(o.status.code().is_some_and(|c| c <= 1), "{args:?}");
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    )
}

#[test]
fn merge_duplicates_and_existing_outputs() {
    let Some(corpus) = corpus_rdb() else { return };
    let src = corpus.join("7.0.15/base.rdb");
    let s = src.to_str().unwrap();
    let dir = TempDir::new("merge-dup");
    let parts = dir.join("parts");
    let p = parts.to_str().unwrap();
    ok(&["split", s, p, "--slots", "0-8191,8192-16383"]);
    let part = parts.join("slots-0-8191.rdb");
    let pt = part.to_str().unwrap();
    // Splitting again: the parts exist.
    let o = run_rdbkit(["split", s, p, "--slots", "0-8191,8192-16383"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    ok(&["split", s, p, "--slots", "0-8191,8192-16383", "--force"]);

    let out = dir.join("m.rdb");
    let o = run_rdbkit(["merge", s, pt, "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("is in") && err.contains("nothing written"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left"
    );

    // A changed copy of one key (saved by a real server) wins with `last`, loses with `first`.
    let first = dump_keys(&ok(&["dump", "--type", "string", pt]));
    let victim = first.first().expect("a string").1.clone();
    if let Some(bin) = common::ServerKind::Redis70.require() {
        let sdir = dir.join("server");
        let server = common::Server::start(&bin, &sdir, &[]);
        let mut c = server.client();
        c.ok(args!["SET", victim.clone(), "changed"]);
        c.ok(args!["SAVE"]);
        server.shutdown();
        let changed = sdir.join("dump.rdb");
        for (policy, changes) in [("first", 0), ("last", 1)] {
            let o = dir.join(format!("m-{policy}.rdb"));
            ok(&[
                "merge",
                pt,
                changed.to_str().unwrap(),
                "-o",
                o.to_str().unwrap(),
                "--on-duplicate",
                policy,
            ]);
            let d = ok_or_diff(&["diff", pt, o.to_str().unwrap()]);
            assert!(
                d.contains(&format!("0 added, 0 removed, {changes} changed")),
                "{policy}: {d}"
            );
            let o2 = run_rdbkit([
                "merge",
                pt,
                changed.to_str().unwrap(),
                "-o",
                o.to_str().unwrap(),
                "--on-duplicate",
                policy,
            ]);
            assert_eq!(o2.status.code(), Some(1), "not overwritten without --force");
        }
    }
    // Merged with a file of another version: written as the newest input's version.
    let old = corpus.join("5.0.14/base.rdb");
    let o = dir.join("mixed.rdb");
    let j = ok(&[
        "merge",
        old.to_str().unwrap(),
        pt,
        "-o",
        o.to_str().unwrap(),
        "--on-duplicate",
        "last",
        "--json",
    ]);
    assert!(j.contains("\"target\":\"rdb-10\""), "{j}");
    ok(&["check", o.to_str().unwrap()]);
}
