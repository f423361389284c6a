//! `rdbkit convert` of a mapped file copies runs of pass-through records from the input in
//! one piece (issue 12); from a pipe it writes record by record. Both must give the same
//! exit status, messages, summary and output bytes, on generated files mixing records a run
//! takes (small plain string keys; keys whose stored head is what the writer writes) with
//! records that cut it (keys the writer stores otherwise: integer-like or compressible keys,
//! expiries in seconds; filtered keys; db switches; keys re-encoded for the target; values
//! at the staging buffer's edges) and on damaged copies of them (the same error, offset and
//! key).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::TempDir;
use rdbkit_rdb::write::{RdbWriter, Target};
use rdbkit_rdb::{HashField, OwnedValue};
use rdbkit_testkit::rdb::{file, key};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A length-prefixed plain string (the form every run record stores).
fn raw(s: &[u8], out: &mut Vec<u8>) {
    rdbkit_rdb::internals::length::encode_len(s.len() as u64, out);
    out.extend_from_slice(s);
}

/// An RDB 10 body of `n` records of the kinds a run meets; `big` adds values around the
/// writer's 64 KiB direct-write size and runs past 1 MiB.
fn body(rng: &mut Rng, n: usize, big: bool) -> Vec<u8> {
    let t = Target::by_name("rdb-10").unwrap();
    let mut b = Vec::new();
    // AUX, then db 0 with RESIZEDB.
    b.push(0xfa);
    raw(b"redis-ver", &mut b);
    raw(b"7.0.15", &mut b);
    b.extend_from_slice(&[0xfe, 0, 0xfb, 0x40, 0x10, 0]);
    for i in 0..n {
        let name = format!("k{i}:{}", rng.below(1000)).into_bytes();
        let mut val = vec![b'v'; rng.below(40) as usize];
        val.extend_from_slice(&name);
        match rng.below(24) {
            // Lean-run records: plain short key, short value or an integer value.
            0..=9 => {
                b.push(0);
                raw(&name, &mut b);
                if i % 3 == 0 {
                    b.extend_from_slice(&[0xc1, i as u8, 1]);
                } else {
                    raw(&val, &mut b);
                }
            }
            // A key the writer stores as an integer, stored plain.
            10 => key(
                0,
                format!("{}", rng.below(70000)).as_bytes(),
                b"\x01x",
                &mut b,
            ),
            11 => key(0, b"-5", b"\x01y", &mut b),
            // A compressible key over 20 bytes stored plain (the writer compresses it).
            12 => key(0, &[b'a'; 40], b"\x01z", &mut b),
            // A key over 20 bytes the writer's LZF cannot shrink.
            13 => {
                let k: Vec<u8> = (0..30).map(|_| rng.next() as u8).collect();
                key(0, &k, b"\x02ab", &mut b)
            }
            // Expiry in ms (written as stored), in seconds (written in ms).
            14 => {
                b.push(0xfc);
                b.extend_from_slice(&(1_900_000_000_000i64 + i as i64).to_le_bytes());
                key(0, &name, b"\x01e", &mut b);
            }
            15 => {
                b.push(0xfd);
                b.extend_from_slice(&(1_900_000_000u32 + i as u32).to_le_bytes());
                key(0, &name, b"\x01s", &mut b);
            }
            // LRU / LFU.
            16 => {
                b.extend_from_slice(&[0xf8, 0x05]);
                key(0, &name, b"\x01l", &mut b);
            }
            17 => {
                b.extend_from_slice(&[0xf9, 0x07]);
                key(0, &name, b"\x01f", &mut b);
            }
            // A db switch (with and without RESIZEDB).
            18 => {
                b.extend_from_slice(&[0xfe, rng.below(3) as u8]);
                if rng.below(2) == 0 {
                    b.extend_from_slice(&[0xfb, 0x05, 0x01]);
                }
            }
            // A small listpack hash (re-encoded for RDB 9), a longer plain value, an
            // integer-encoded key.
            19 | 20 => {
                let mut w = RdbWriter::<Vec<u8>>::fragment(t).compress(rng.below(2) == 0);
                let fields = (0..1 + rng.below(5))
                    .map(|j| HashField {
                        field: format!("f{j}").into_bytes(),
                        value: val.repeat(1 + j as usize),
                        expire_ms: None,
                    })
                    .collect();
                w.key(&name, None, None, None, &OwnedValue::Hash(fields))
                    .unwrap();
                b.extend_from_slice(&w.take_fragment());
            }
            21 => {
                b.push(0);
                raw(&name, &mut b);
                raw(&val.repeat(1 + rng.below(30) as usize), &mut b);
            }
            22 => key(0, b"", b"\x01e", &mut b),
            _ => {
                b.extend_from_slice(&[0x00, 0xc0, (i % 100) as u8]);
                raw(&val, &mut b);
            }
        }
        if big && rng.below(50) == 0 {
            // Values at the direct-write edge (64 KiB) of the staging buffer.
            let len = 65_536 - 8 + rng.below(16) as usize;
            b.push(0);
            raw(&name, &mut b);
            raw(&vec![b'x'; len], &mut b);
        }
    }
    b
}

/// `rdbkit convert` of `input` (a path, or the bytes through a pipe) into `dir`/out.rdb: exit
/// status, stdout with the input's name and `--json`'s `input` taken out, stderr likewise, and
/// the output's bytes (or `None`), with what else is left in `dir`.
fn convert(
    dir: &Path,
    input: &Path,
    piped: bool,
    args: &[&str],
) -> (Option<i32>, String, String, Option<Vec<u8>>, usize) {
    let out = dir.join("out.rdb");
    let mut c = Command::new(env!("CARGO_BIN_EXE_rdbkit"));
    c.arg("convert").arg("-q").args(args);
    let name = input.display().to_string();
    let o = if piped {
        let data = std::fs::read(input).unwrap();
        let mut child = c
            .arg("-")
            .arg(&out)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let feeder = std::thread::spawn(move || {
            // The converter may stop reading early (damaged input): a broken pipe is fine.
            let _ = stdin.write_all(&data);
        });
        let o = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        o
    } else {
        c.arg(input).arg(&out).output().unwrap()
    };
    let text = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .replace(&format!("\"input\":\"{name}\""), "")
            .replace("\"input\":\"-\"", "")
            .replace(&name, "IN")
            .replace(&dir.display().to_string(), "DIR")
            .replace("-: ", "IN: ")
            .replace("- -> ", "IN -> ")
    };
    let bytes = std::fs::read(&out).ok();
    let _ = std::fs::remove_file(&out);
    let left = std::fs::read_dir(dir).unwrap().count();
    (
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr),
        bytes,
        left,
    )
}

/// Mapped (runs) and piped (record by record) conversions agree on `data` for each target and
/// filter; returns how many of them failed (a damaged input's verdict).
fn same_both_ways(tmp: &Path, data: &[u8], cases: &[Vec<&str>]) -> usize {
    let input = tmp.join("in.rdb");
    std::fs::write(&input, data).unwrap();
    let (a, b) = (tmp.join("a"), tmp.join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let mut failed = 0;
    for args in cases {
        let mapped = convert(&a, &input, false, args);
        let piped = convert(&b, &input, true, args);
        assert_eq!(
            mapped.0, piped.0,
            "{args:?}: exit status; {mapped:?} vs {piped:?}"
        );
        assert_eq!(mapped.1, piped.1, "{args:?}: stdout");
        assert_eq!(mapped.2, piped.2, "{args:?}: stderr");
        assert!(mapped.3 == piped.3, "{args:?}: output bytes differ");
        assert_eq!((mapped.4, piped.4), (0, 0), "{args:?}: files left behind");
        if mapped.0 != Some(0) {
            failed += 1;
        } else {
            assert!(mapped.3.is_some());
        }
    }
    failed
}

fn cases() -> Vec<Vec<&'static str>> {
    vec![
        vec!["--target", "rdb-10", "--json"],
        vec!["--target", "rdb-10", "--no-compress"],
        vec!["--target", "rdb-9", "--json"],
        vec!["--target", "rdb-11", "--db", "0"],
        vec!["--target", "rdb-10", "--match", "k1*", "--json"],
        vec!["--target", "rdb-12", "--re-encode"],
        vec!["--target", "rdb-7", "--drop", "all"],
        vec![
            "--target",
            "rdb-10",
            "--skip-expired",
            "--now",
            "1900000000500",
            "--json",
        ],
    ]
}

#[test]
fn runs_copied_from_a_file_equal_the_record_by_record_copy() {
    let tmp = TempDir::new("convert-runs");
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let cases = cases();
    for round in 0..12 {
        let data = file(10, &body(&mut rng, 300 + 200 * round, round % 4 == 3));
        assert_eq!(
            same_both_ways(tmp.path(), &data, &cases),
            0,
            "round {round}: a sound file fails"
        );
    }
    // A run longer than the 1 MiB a run holds, and longer than the staging buffer.
    let mut b = vec![0xfe, 0];
    for i in 0..60_000 {
        rdbkit_testkit::rdb::string_key(&mut b, format!("key:{i:06}").as_bytes(), b"value");
    }
    let data = file(10, &b);
    assert_eq!(same_both_ways(tmp.path(), &data, &cases), 0);
    let (code, _, _, out, _) = convert(tmp.path(), &tmp.path().join("in.rdb"), false, &cases[0]);
    assert_eq!((code, out.as_deref()), (Some(0), Some(&data[..])));
}

#[test]
fn a_damaged_record_cuts_a_run_with_the_same_verdict() {
    let tmp = TempDir::new("convert-runs-damaged");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let cases = [
        vec!["--target", "rdb-10", "--json"],
        vec!["--target", "rdb-9", "--drop", "all"],
        vec!["--target", "rdb-10", "--db", "1"],
        vec!["--target", "rdb-10", "--no-checksum"],
    ];
    let mut failed = 0;
    for round in 0..40 {
        let mut data = file(10, &body(&mut rng, 200, round % 10 == 9));
        let at = 30 + rng.below(data.len() as u64 - 30) as usize;
        match round % 3 {
            0 => data.truncate(at),
            1 => data[at] = rng.next() as u8,
            _ => data[at] ^= 0x40,
        }
        failed += same_both_ways(tmp.path(), &data, &cases);
    }
    assert!(
        failed > 40,
        "only {failed} of the damaged conversions failed"
    );
}
