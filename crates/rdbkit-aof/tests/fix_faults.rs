//! Fault injection over every system call of the fix path: each call in turn fails (an I/O
//! error, or ENOSPC for a write), and after each failure the AOF is either untouched or exactly
//! the fixed file, the saved tail is complete or absent, and no temporary file is left.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use rdbkit_aof::fix::{self, FileOps, FixSession, RealOps, Stamp};

/// Real operations, but call number `fail_at` (0-based, counting every call) fails.
struct FailAt {
    fail_at: usize,
    calls: usize,
    log: Vec<&'static str>,
    failed: Option<&'static str>,
}

impl FailAt {
    fn step(&mut self, name: &'static str) -> io::Result<()> {
        let n = self.calls;
        self.calls += 1;
        self.log.push(name);
        if n == self.fail_at {
            self.failed = Some(name);
            let kind = if name == "write_all" {
                // ENOSPC
                io::Error::from_raw_os_error(28)
            } else {
                io::Error::from_raw_os_error(5) // EIO
            };
            return Err(kind);
        }
        Ok(())
    }
}

impl FileOps for FailAt {
    fn open_read(&mut self, path: &Path) -> io::Result<File> {
        self.step("open_read")?;
        RealOps.open_read(path)
    }
    fn open_rw(&mut self, path: &Path) -> io::Result<File> {
        self.step("open_rw")?;
        RealOps.open_rw(path)
    }
    fn try_lock(&mut self, f: &File) -> io::Result<bool> {
        self.step("try_lock")?;
        RealOps.try_lock(f)
    }
    fn stat(&mut self, f: &File) -> io::Result<Stamp> {
        self.step("stat")?;
        RealOps.stat(f)
    }
    fn read_at(&mut self, f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.step("read_at")?;
        RealOps.read_at(f, buf, offset)
    }
    fn create_new(&mut self, path: &Path) -> io::Result<File> {
        self.step("create_new")?;
        RealOps.create_new(path)
    }
    fn write_all(&mut self, f: &mut File, buf: &[u8]) -> io::Result<()> {
        if self.calls == self.fail_at {
            // A write that fails half-way: half of it lands first (as ENOSPC does).
            RealOps.write_all(f, &buf[..buf.len() / 2])?;
        }
        self.step("write_all")?;
        RealOps.write_all(f, buf)
    }
    fn sync(&mut self, f: &File) -> io::Result<()> {
        self.step("sync")?;
        RealOps.sync(f)
    }
    fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        self.step("sync_dir")?;
        RealOps.sync_dir(dir)
    }
    fn rename_noreplace(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        self.step("rename_noreplace")?;
        RealOps.rename_noreplace(from, to)
    }
    fn remove(&mut self, path: &Path) -> io::Result<()> {
        // Cleanup after an injected failure must work: only one fault per run.
        self.log.push("remove");
        self.calls += 1;
        RealOps.remove(path)
    }
    fn set_len(&mut self, f: &File, len: u64) -> io::Result<()> {
        self.step("set_len")?;
        RealOps.set_len(f, len)
    }
}

fn set(k: &str) -> Vec<u8> {
    format!("*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n$1\r\nv\r\n", k.len()).into_bytes()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn run_all_faults(with_backup: bool) {
    let mut data = Vec::new();
    for i in 0..2000 {
        data.extend(set(&format!("key:{i}")));
    }
    let keep = data.len();
    // A tail bigger than one read chunk, torn at the end.
    for i in 0..3000 {
        data.extend(set(&format!("tail:{i}")));
    }
    data.extend(b"*3\r\n$3\r\nSET\r\n$4\r\nto");
    let mut step = 0usize;
    let mut seen_failures = Vec::new();
    loop {
        let dir = tempfile::tempdir().unwrap();
        let path: PathBuf = dir.path().join("appendonly.aof");
        std::fs::write(&path, &data).unwrap();
        let backup = dir.path().join("tail.bin");
        let mut ops = FailAt {
            fail_at: step,
            calls: 0,
            log: Vec::new(),
            failed: None,
        };
        let r = FixSession::open(&path, &mut ops).and_then(|s| {
            let plan = fix::plan(&path, "appendonly.aof", s.bytes(), keep as u64);
            s.apply(&plan, with_backup.then_some(backup.as_path()))
        });
        let after = std::fs::read(&path).unwrap();
        let files = names(dir.path());
        let ctx = format!("step {step} ({:?}), calls {:?}: {r:?}", ops.failed, ops.log);
        assert!(
            after == data || after == data[..keep],
            "the AOF is neither untouched nor the fixed file: {ctx}"
        );
        assert!(
            !files.iter().any(|f| f.contains("rdbkit-tmp")),
            "a temporary file is left: {files:?}; {ctx}"
        );
        if files.iter().any(|f| f == "tail.bin") {
            assert_eq!(
                std::fs::read(&backup).unwrap(),
                &data[keep..],
                "a partial saved tail: {ctx}"
            );
            assert_eq!(after, &data[..keep], "a saved tail without a cut: {ctx}");
        }
        match (ops.failed, r) {
            (None, Ok(())) => {
                assert_eq!(after, &data[..keep]);
                assert_eq!(files.iter().any(|f| f == "tail.bin"), with_backup);
                break;
            }
            (None, Err(e)) => panic!("failed without a fault: {e}; {ctx}"),
            (Some(call), Ok(())) => panic!("a failed {call} went unnoticed; {ctx}"),
            (Some(call), Err(e)) => {
                let msg = e.to_string();
                if after == data {
                    assert!(
                        msg.contains("nothing") || msg.contains("Input/output error"),
                        "{msg}"
                    );
                } else {
                    // Cut, then a sync failed: the message says the cut happened.
                    assert!(msg.contains("truncated to"), "{msg}; {ctx}");
                }
                seen_failures.push(call);
            }
        }
        step += 1;
        assert!(step < 10_000, "the fix path never completes");
    }
    // Every kind of call of the path was made to fail at least once.
    let mut want = vec![
        "open_read",
        "open_rw",
        "try_lock",
        "stat",
        "read_at",
        "set_len",
        "sync",
        "sync_dir",
    ];
    if with_backup {
        want.extend(["create_new", "write_all", "rename_noreplace"]);
    }
    for w in want {
        assert!(
            seen_failures.contains(&w),
            "{w} never failed: {seen_failures:?}"
        );
    }
}

#[test]
fn every_failing_call_leaves_the_aof_untouched_or_fixed() {
    run_all_faults(false);
}

#[test]
fn every_failing_call_with_a_saved_tail_leaves_no_partial_file() {
    run_all_faults(true);
}
