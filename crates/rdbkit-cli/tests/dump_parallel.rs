//! `rdbkit dump --format jsonl --threads N` writes exactly what the sequential dump writes:
//! the same bytes on standard output, the same message on standard error and the same exit
//! status, on every corpus RDB (real Redis 2.8 → 8.0 and Valkey files), with and without
//! `--deep` and filters, and on damaged copies (where both stop at the same key with the same
//! error). `--batch-keys` (hidden) makes batches of one to three keys, so that even small files
//! are spread over the workers and come back out of order.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{corpus_dir, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_rdbkit");

/// (stdout, stderr, exit code) of `rdbkit dump ARGS FILE`.
fn dump(args: &[&str], file: &Path) -> (Vec<u8>, String, Option<i32>) {
    let out = Command::new(BIN)
        .arg("dump")
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    (
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

fn rdbs_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rdbs_under(&p, out);
        } else if p.extension().is_some_and(|e| e == "rdb") {
            out.push(p);
        }
    }
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rdb")
}

/// Every RDB of the corpus (sound and corrupt ones) and of testdata/rdb.
fn all_rdbs() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rdbs_under(&testdata(), &mut files);
    if let Some(c) = corpus_dir() {
        let before = files.len();
        rdbs_under(&c.join("rdb"), &mut files);
        assert!(
            files.len() - before > 100,
            "only {} corpus RDBs found",
            files.len() - before
        );
    }
    files
}

/// The parallel variants compared with `--threads 1` (plus `extra`).
const VARIANTS: &[&[&str]] = &[
    &["--threads", "2"],
    &["--threads", "3", "--batch-keys", "1"],
    &["--threads", "4", "--batch-keys", "3"],
    // A window of one batch per worker: the reading thread formats many batches itself, and
    // its batches and the workers' interleave (and stop) in every order.
    &["--threads", "2", "--batch-keys", "2", "--window", "1"],
];

fn same_as_sequential(file: &Path, extra: &[&str]) -> (Vec<u8>, Option<i32>) {
    let seq_args: Vec<&str> = ["--threads", "1"].iter().chain(extra).copied().collect();
    let want = dump(&seq_args, file);
    for v in VARIANTS {
        let args: Vec<&str> = v.iter().chain(extra).copied().collect();
        let got = dump(&args, file);
        assert!(
            got == want,
            "{} {args:?}: parallel differs from sequential\n stdout {} vs {} bytes, exit {:?} vs {:?}\n stderr {:?}\n vs     {:?}",
            file.display(),
            got.0.len(),
            want.0.len(),
            got.2,
            want.2,
            got.1,
            want.1
        );
    }
    (want.0, want.2)
}

#[test]
fn parallel_equals_sequential_on_every_corpus_rdb() {
    let files = all_rdbs();
    let (mut lines, mut failed) = (0usize, 0usize);
    for f in &files {
        let (out, code) = same_as_sequential(f, &[]);
        lines += out.iter().filter(|&&b| b == b'\n').count();
        failed += usize::from(code != Some(0));
        same_as_sequential(f, &["--deep"]);
    }
    // The comparison saw real output and real failures (the corpus's corrupt files).
    assert!(lines > 1000, "only {lines} lines dumped");
    if corpus_dir().is_some() {
        assert!(failed > 5, "only {failed} files refused");
    }
}

#[test]
fn filters_and_budget_match_sequential() {
    let mut files = Vec::new();
    rdbs_under(&testdata(), &mut files);
    if let Some(c) = corpus_dir() {
        for v in ["7.0.15", "8.0-m01", "2.8.24"] {
            rdbs_under(&c.join("rdb").join(v), &mut files);
        }
    }
    for f in &files {
        same_as_sequential(f, &["--match", "*a*"]);
        same_as_sequential(f, &["--type", "hash", "--type", "zset", "--deep"]);
        // A budget that some values exceed: both stop at the same key.
        same_as_sequential(f, &["--max-value-bytes", "40"]);
        same_as_sequential(f, &["--type", "string", "--max-value-bytes", "40"]);
    }
}

#[test]
fn damaged_copies_stop_at_the_same_key() {
    let mut sources = Vec::new();
    rdbs_under(&testdata(), &mut sources);
    if let Some(c) = corpus_dir() {
        for name in [
            "7.0.15/base.rdb",
            "6.2.14/base.rdb",
            "3.2.13/base.rdb",
            "8.0-m01/base.rdb",
        ] {
            let p = c.join("rdb").join(name);
            if p.is_file() {
                sources.push(p);
            }
        }
    }
    let tmp = TempDir::new("dump-par");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut refused, mut partial) = (0, 0);
    for src in &sources {
        let data = std::fs::read(src).unwrap();
        for i in 0..40 {
            let mut d = data.clone();
            let at = 9 + (rnd() as usize) % (d.len().saturating_sub(17).max(1));
            for k in 0..1 + (rnd() % 3) as usize {
                if let Some(b) = d.get_mut(at + k) {
                    *b = rnd() as u8;
                }
            }
            let f = tmp.path().join(format!("damaged-{i}.rdb"));
            std::fs::write(&f, &d).unwrap();
            // Without the checksum, damage inside a value is found by the worker formatting it.
            let extra: &[&str] = match i % 4 {
                0 => &[],
                1 => &["--deep"],
                2 => &["--no-checksum"],
                _ => &["--deep", "--no-checksum"],
            };
            let (out, code) = same_as_sequential(&f, extra);
            if code == Some(2) {
                refused += 1;
                partial += usize::from(!out.is_empty());
            }
        }
    }
    assert!(refused > 20, "only {refused} damaged copies refused");
    assert!(partial > 5, "only {partial} refusals after some output");
}
