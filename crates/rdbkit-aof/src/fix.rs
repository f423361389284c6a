//! Truncating a file at the offset the strict check chose.
//!
//! Rules: nothing is written unless asked; the file must still be the size it was when checked;
//! the removed bytes can be saved first (`backup_tail`, fsync'd); after the cut the file and its
//! directory are fsync'd, so the repair survives a crash right after it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::resp::{Item, SliceReader};

/// What a cut removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixPlan {
    pub path: PathBuf,
    pub name: String,
    /// Size when checked.
    pub size: u64,
    /// The new size: the offset of the first removed byte.
    pub truncate_to: u64,
    pub removed_bytes: u64,
    /// Whole commands in the removed part (e.g. those of an unfinished MULTI).
    pub whole_commands: u64,
    /// The removed part ends in a partial (torn or malformed) record.
    pub partial: bool,
    /// Offset of the first removed command, if the removed part starts with one.
    pub first_removed_command: Option<u64>,
}

/// Describes the cut of `data` (the file's current bytes) at `truncate_to`.
pub fn plan(path: &Path, name: &str, data: &[u8], truncate_to: u64) -> FixPlan {
    let size = data.len() as u64;
    let from = usize::try_from(truncate_to)
        .unwrap_or(usize::MAX)
        .min(data.len());
    let tail = data.get(from..).unwrap_or(&[]);
    let mut r = SliceReader::new(tail, 0);
    let mut whole = 0u64;
    let mut first = None;
    loop {
        match r.next_item() {
            Ok(Some(Item::Command(c))) => {
                whole += 1;
                first.get_or_insert(truncate_to + c.start);
            }
            Ok(Some(Item::Annotation(_))) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let partial = r.position() < tail.len() as u64;
    if first.is_none() && partial {
        first = Some(truncate_to);
    }
    FixPlan {
        path: path.to_path_buf(),
        name: name.to_string(),
        size,
        truncate_to,
        removed_bytes: size.saturating_sub(truncate_to),
        whole_commands: whole,
        partial,
        first_removed_command: first,
    }
}

/// fsync a directory, so a size change of a file in it is durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let d = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let f = retry(|| File::open(d))?;
    retry(|| f.sync_all())
}

/// Repeats a system call that a signal interrupted (`EINTR`): a writing tool must not give up,
/// or report a failure, because a signal arrived while it was copying or syncing.
fn retry<T>(mut op: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    loop {
        match op() {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// Copies up to `n` bytes from `from`'s position to `to`, with plain reads and writes (both
/// retried on `EINTR`; `io::copy`'s in-kernel copy between files has been seen to return it).
fn copy_exact(from: &mut File, to: &mut File, n: u64) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 1 << 16];
    let mut copied = 0u64;
    while copied < n {
        let want = (n - copied).min(buf.len() as u64) as usize;
        let got = retry(|| from.read(&mut buf[..want]))?;
        if got == 0 {
            break;
        }
        to.write_all(&buf[..got])?;
        copied += got as u64;
    }
    Ok(copied)
}

/// Applies a plan: checks the file is unchanged in size, optionally saves the tail to
/// `backup_tail` (created new, fsync'd), truncates, then fsyncs the file and its directory.
pub fn apply(plan: &FixPlan, backup_tail: Option<&Path>) -> Result<(), Error> {
    let io = |e| Error::io(&plan.path, e);
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&plan.path)
        .map_err(io)?;
    let now = f.metadata().map_err(io)?.len();
    if now != plan.size {
        return Err(Error::Refused {
            path: plan.path.clone(),
            message: format!(
                "the file changed size since it was checked ({} -> {now} bytes); nothing done",
                plan.size
            ),
        });
    }
    if let Some(backup) = backup_tail {
        let bio = |e| Error::io(backup, e);
        let mut out =
            retry(|| OpenOptions::new().write(true).create_new(true).open(backup)).map_err(bio)?;
        f.seek(SeekFrom::Start(plan.truncate_to)).map_err(io)?;
        let copied = copy_exact(&mut f, &mut out, plan.removed_bytes).map_err(bio)?;
        if copied != plan.removed_bytes {
            return Err(Error::Refused {
                path: plan.path.clone(),
                message: format!(
                    "could only read {copied} of {} tail bytes for the backup; nothing cut",
                    plan.removed_bytes
                ),
            });
        }
        out.flush().map_err(bio)?;
        retry(|| out.sync_all()).map_err(bio)?;
        if let Some(dir) = backup.parent() {
            sync_dir(dir).map_err(bio)?;
        }
    }
    truncate_file(&f, &plan.path, plan.truncate_to)
}

/// Truncates an open file to `len`, then fsyncs it and its directory.
pub fn truncate_file(f: &File, path: &Path, len: u64) -> Result<(), Error> {
    let io = |e| Error::io(path, e);
    retry(|| f.set_len(len)).map_err(io)?;
    retry(|| f.sync_all()).map_err(io)?;
    if let Some(dir) = path.parent() {
        sync_dir(dir).map_err(io)?;
    }
    Ok(())
}

/// Opens `path` read-write and truncates it to `len` (fsync'd), as `--fix` does after a yes.
pub fn truncate_path(path: &Path, len: u64) -> Result<(), Error> {
    let f = retry(|| OpenOptions::new().write(true).open(path)).map_err(|e| Error::io(path, e))?;
    truncate_file(&f, path, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: &[u8] = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";

    #[test]
    fn plan_counts_what_goes() {
        let mut d = SET.to_vec();
        d.extend(b"*1\r\n$5\r\nMULTI\r\n");
        d.extend(SET);
        d.extend(b"*3\r\n$3\r\nSE");
        let p = plan(Path::new("x"), "x", &d, SET.len() as u64);
        assert_eq!(p.whole_commands, 2);
        assert!(p.partial);
        assert_eq!(p.first_removed_command, Some(SET.len() as u64));
        assert_eq!(p.removed_bytes, d.len() as u64 - SET.len() as u64);
    }

    #[test]
    fn interrupted_calls_are_repeated() {
        let mut calls = 0;
        let r = retry(|| {
            calls += 1;
            if calls < 3 {
                Err(std::io::Error::from(std::io::ErrorKind::Interrupted))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r.unwrap(), 3);
        let e = retry(|| -> std::io::Result<()> { Err(std::io::ErrorKind::NotFound.into()) });
        assert_eq!(e.unwrap_err().kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn apply_truncates_and_backs_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.aof");
        let mut d = SET.to_vec();
        d.extend(b"*1\r\n$4\r\nPI");
        std::fs::write(&path, &d).unwrap();
        let p = plan(&path, "a.aof", &d, SET.len() as u64);
        let backup = dir.path().join("tail.bin");
        apply(&p, Some(&backup)).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), SET);
        assert_eq!(std::fs::read(&backup).unwrap(), b"*1\r\n$4\r\nPI");
        // A second apply with the stale plan refuses: the size changed.
        assert!(matches!(apply(&p, None), Err(Error::Refused { .. })));
        assert_eq!(std::fs::read(&path).unwrap(), SET);
    }
}
