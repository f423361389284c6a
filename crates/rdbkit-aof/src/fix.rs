//! Truncating a file at the offset the strict check chose, without ever cutting bytes that were
//! not checked.
//!
//! Rules (the "one consistent view" of a fix):
//! - nothing is written unless asked;
//! - the file is held under an exclusive advisory lock (`flock`) for the whole fix; another fix
//!   holding it is a refusal, never a wait; it is opened read-only until the cut itself (so a
//!   fix in progress is not mistaken for a running server by another fix's detection);
//! - the file is read with plain reads (no shared mapping another process could truncate under
//!   the reader), and the plan and the cut are decided from those same bytes;
//! - right before `ftruncate` the file is verified to be exactly what was read: same inode, size,
//!   modification and change times, and the same bytes around the cut and in the whole removed
//!   tail; the cut is never beyond the current end (a fix never extends a file);
//! - a cut at offset 0 of a file whose content is not an AOF (gzip/bzip2/xz/zstd, an RDB, text)
//!   is refused;
//! - the removed bytes can be saved first (`backup_tail`): written to a temporary name beside
//!   it, fsync'd, then renamed into place without replacing anything, and removed again when
//!   the cut does not happen;
//! - after the cut the file and its directory are fsync'd.
//!
//! Every system call of this path goes through [`FileOps`], so a test can make any of them fail
//! and check that the file is then either untouched or exactly the fixed file, with no temporary
//! file left.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::resp::{Item, SliceReader};

/// What a cut removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixPlan {
    /// The file to cut.
    pub path: PathBuf,
    /// Its name as shown to the user (the manifest's name in a multi-part set).
    pub name: String,
    /// Size when checked.
    pub size: u64,
    /// The new size: the offset of the first removed byte.
    pub truncate_to: u64,
    /// `size - truncate_to`.
    pub removed_bytes: u64,
    /// Whole commands in the removed part (e.g. those of an unfinished MULTI, or those after a
    /// damaged record, found by resynchronising at the next line that starts with `*`).
    pub whole_commands: u64,
    /// The removed part ends in a partial (torn or malformed) record.
    pub partial: bool,
    /// Offset of the first removed command, if the removed part starts with one.
    pub first_removed_command: Option<u64>,
    /// Damaged stretches inside the removed part that the count had to skip (0: every byte of
    /// the removed part was read as commands, but for a final partial record).
    pub damaged_regions: u64,
    /// Bytes of the removed part that could not be read as commands (damaged stretches and the
    /// final partial record): the count of whole commands is a lower bound when this is not 0.
    pub unparsed_bytes: u64,
    /// Offset (in the file) of the first byte the count could not read, if any.
    pub count_stopped_at: Option<u64>,
}

/// Describes the cut of `data` (the file's current bytes) at `truncate_to`. The removed part is
/// read leniently: after a damaged record the count resumes at the next line that starts with
/// `*` and parses as a command, so a plan says what it really removes.
pub fn plan(path: &Path, name: &str, data: &[u8], truncate_to: u64) -> FixPlan {
    let size = data.len() as u64;
    let from = usize::try_from(truncate_to)
        .unwrap_or(usize::MAX)
        .min(data.len());
    let tail = data.get(from..).unwrap_or(&[]);
    let mut whole = 0u64;
    let mut first = None;
    let mut damaged_regions = 0u64;
    let mut unparsed = 0u64;
    let mut stopped_at = None;
    let mut partial = false;
    let mut pos = 0usize;
    while pos < tail.len() {
        let mut r = SliceReader::new(tail, pos);
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
        let stop = usize::try_from(r.position()).unwrap_or(tail.len());
        if stop >= tail.len() {
            break;
        }
        // Bytes from `stop` on are not a whole record: skip to the next line starting with '*'
        // after it (a torn or damaged record never counts as a command).
        stopped_at.get_or_insert(truncate_to + stop as u64);
        let next = next_command_start(tail, stop + 1);
        match next {
            Some(n) => {
                damaged_regions += 1;
                unparsed += (n - stop) as u64;
                pos = n;
            }
            None => {
                partial = true;
                unparsed += (tail.len() - stop) as u64;
                break;
            }
        }
    }
    if first.is_none() && !tail.is_empty() {
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
        damaged_regions,
        unparsed_bytes: unparsed,
        count_stopped_at: stopped_at,
    }
}

/// The next offset at or after `from` that begins a line with `*` and parses as a command.
fn next_command_start(data: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at < data.len() {
        let rest = data.get(at..)?;
        let i = memchr::memchr(b'*', rest)? + at;
        if i == 0 || data.get(i - 1) == Some(&b'\n') {
            let mut r = SliceReader::new(data, i);
            if let Ok(Some(Item::Command(_))) = r.next_item() {
                return Some(i);
            }
        }
        at = i + 1;
    }
    None
}

// The refusal is part of the verdict (`check` gives it too): it lives there.
pub use crate::check::refuse_cut;

// ---- the system calls of the fix path ------------------------------------------------------------

/// Identity and state of an open file: if any of this changes, the file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Size in bytes.
    pub len: u64,
    /// Device and inode (0 where unknown).
    pub dev_ino: (u64, u64),
    /// Modification time (seconds, nanoseconds).
    pub mtime: (i64, i64),
    /// Status change time (seconds, nanoseconds).
    pub ctime: (i64, i64),
}

impl Stamp {
    /// The stamp of `m`.
    pub fn of(m: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Stamp {
                len: m.len(),
                dev_ino: (m.dev(), m.ino()),
                mtime: (m.mtime(), m.mtime_nsec()),
                ctime: (m.ctime(), m.ctime_nsec()),
            }
        }
        #[cfg(not(unix))]
        {
            let t = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .unwrap_or_default();
            Stamp {
                len: m.len(),
                dev_ino: (0, 0),
                mtime: (t.as_secs() as i64, i64::from(t.subsec_nanos())),
                ctime: (0, 0),
            }
        }
    }
}

/// Every file operation of the fix path. [`RealOps`] does them; a test implementation can fail
/// any of them (fault injection).
pub trait FileOps {
    /// Opens an existing file for reading (the file to fix is read and locked through this).
    fn open_read(&mut self, path: &Path) -> io::Result<File>;
    /// Opens an existing file for reading and writing (only for the cut itself).
    fn open_rw(&mut self, path: &Path) -> io::Result<File>;
    /// Takes an exclusive advisory lock without waiting; `Ok(false)` when another holds it.
    fn try_lock(&mut self, f: &File) -> io::Result<bool>;
    /// The file's current stamp (`fstat`).
    fn stat(&mut self, f: &File) -> io::Result<Stamp>;
    /// Reads at an offset (`pread`); 0 at the end of the file.
    fn read_at(&mut self, f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Creates a new file, failing if the name exists (`O_CREAT|O_EXCL`).
    fn create_new(&mut self, path: &Path) -> io::Result<File>;
    /// Writes all of `buf`.
    fn write_all(&mut self, f: &mut File, buf: &[u8]) -> io::Result<()>;
    /// `fsync`.
    fn sync(&mut self, f: &File) -> io::Result<()>;
    /// `fsync` of a directory.
    fn sync_dir(&mut self, dir: &Path) -> io::Result<()>;
    /// Renames `from` to `to`, failing if `to` exists (never replaces a file).
    fn rename_noreplace(&mut self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove(&mut self, path: &Path) -> io::Result<()>;
    /// `ftruncate` (the fix never calls it with a length beyond the file's end).
    fn set_len(&mut self, f: &File, len: u64) -> io::Result<()>;
}

/// The real system calls, each repeated when a signal interrupts it (`EINTR`).
#[derive(Debug, Default, Clone, Copy)]
pub struct RealOps;

impl FileOps for RealOps {
    fn open_read(&mut self, path: &Path) -> io::Result<File> {
        retry(|| File::open(path))
    }
    fn open_rw(&mut self, path: &Path) -> io::Result<File> {
        retry(|| OpenOptions::new().read(true).write(true).open(path))
    }
    fn try_lock(&mut self, f: &File) -> io::Result<bool> {
        loop {
            match f.try_lock() {
                Ok(()) => return Ok(true),
                Err(std::fs::TryLockError::WouldBlock) => return Ok(false),
                Err(std::fs::TryLockError::Error(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(std::fs::TryLockError::Error(e)) => return Err(e),
            }
        }
    }
    fn stat(&mut self, f: &File) -> io::Result<Stamp> {
        retry(|| f.metadata()).map(|m| Stamp::of(&m))
    }
    fn read_at(&mut self, f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileExt;
            retry(|| f.read_at(buf, offset))
        }
        #[cfg(windows)]
        {
            use std::os::windows::fs::FileExt;
            retry(|| f.seek_read(buf, offset))
        }
    }
    fn create_new(&mut self, path: &Path) -> io::Result<File> {
        retry(|| OpenOptions::new().write(true).create_new(true).open(path))
    }
    fn write_all(&mut self, f: &mut File, buf: &[u8]) -> io::Result<()> {
        // `write_all` repeats EINTR itself.
        f.write_all(buf)?;
        f.flush()
    }
    fn sync(&mut self, f: &File) -> io::Result<()> {
        retry(|| f.sync_all())
    }
    fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        sync_dir(dir)
    }
    fn rename_noreplace(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        rename_noreplace(from, to)
    }
    fn remove(&mut self, path: &Path) -> io::Result<()> {
        retry(|| std::fs::remove_file(path))
    }
    fn set_len(&mut self, f: &File, len: u64) -> io::Result<()> {
        retry(|| f.set_len(len))
    }
}

/// Renames without replacing: `renameat2(RENAME_NOREPLACE)` on Linux; elsewhere (or where the
/// file system lacks it) a hard link then the removal of the old name.
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        match retry(|| {
            renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE).map_err(io::Error::from)
        }) {
            Ok(()) => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error())
                    || e.raw_os_error() == Some(rustix::io::Errno::NOSYS.raw_os_error()) => {}
            Err(e) => return Err(e),
        }
    }
    retry(|| std::fs::hard_link(from, to))?;
    retry(|| std::fs::remove_file(from))
}

/// fsync a directory, so a size change of a file in it (or a new name) is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
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
fn retry<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

// ---- the locked session ------------------------------------------------------------------------

/// A file opened for fixing: locked, read once with plain reads, and cut only if it is still
/// exactly what was read.
pub struct FixSession<'o> {
    ops: &'o mut dyn FileOps,
    path: PathBuf,
    file: File,
    data: Vec<u8>,
    stamp: Stamp,
}

fn refused(path: &Path, message: impl Into<String>) -> Error {
    Error::Refused {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// How much of the file before the cut is compared again right before the cut (the removed
/// tail is always compared whole).
const VERIFY_BEFORE_CUT: u64 = 64 * 1024;
const CHUNK: usize = 1 << 16;

impl<'o> FixSession<'o> {
    /// Opens `path` (read-only: a fix in progress is not a "writer" to another fix's
    /// running-server detection until its cut), takes the exclusive lock (refusing when another
    /// fix holds it) and reads the whole file with plain reads. Refuses when the file changes
    /// while it is read (it grows, shrinks, or its times change).
    pub fn open(path: &Path, ops: &'o mut dyn FileOps) -> Result<FixSession<'o>, Error> {
        let io = |e| Error::io(path, e);
        let file = ops.open_read(path).map_err(io)?;
        if !ops.try_lock(&file).map_err(io)? {
            return Err(refused(
                path,
                "another process holds the fix lock on this file (another `rdbkit aof fix` or \
                 `redis-check-aof --fix` is running on it); nothing done",
            ));
        }
        let stamp = ops.stat(&file).map_err(io)?;
        let mut data = Vec::new();
        data.try_reserve_exact(usize::try_from(stamp.len).unwrap_or(usize::MAX))
            .map_err(|_| {
                refused(
                    path,
                    format!(
                        "cannot hold its {} bytes in memory; nothing done",
                        stamp.len
                    ),
                )
            })?;
        let mut buf = vec![0u8; CHUNK];
        let mut off = 0u64;
        while off < stamp.len {
            let want = usize::try_from(stamp.len - off).unwrap_or(CHUNK).min(CHUNK);
            let got = ops.read_at(&file, &mut buf[..want], off).map_err(io)?;
            if got == 0 {
                return Err(changed(path, "it shrank while it was read"));
            }
            data.extend_from_slice(&buf[..got]);
            off += got as u64;
        }
        let mut probe = [0u8; 1];
        if ops.read_at(&file, &mut probe, off).map_err(io)? != 0 {
            return Err(changed(
                path,
                "it grew while it was read (is a server still writing it?)",
            ));
        }
        if ops.stat(&file).map_err(io)? != stamp {
            return Err(changed(path, "it was modified while it was read"));
        }
        Ok(FixSession {
            ops,
            path: path.to_path_buf(),
            file,
            data,
            stamp,
        })
    }

    /// The bytes read: decide the cut and the plan from these.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// Verifies the file is still exactly what was read: same stamp, same bytes from up to
    /// 64 KiB before `cut` to the end.
    fn verify_unchanged(&mut self, cut: u64) -> Result<(), Error> {
        let io = |e| Error::io(&self.path, e);
        let now = self.ops.stat(&self.file).map_err(io)?;
        if now != self.stamp {
            return Err(changed(
                &self.path,
                &if now.len != self.stamp.len {
                    format!("its size went from {} to {} bytes", self.stamp.len, now.len)
                } else {
                    "it was modified or replaced".to_string()
                },
            ));
        }
        let mut off = cut.saturating_sub(VERIFY_BEFORE_CUT);
        let mut buf = vec![0u8; CHUNK];
        while off < self.stamp.len {
            let want = usize::try_from(self.stamp.len - off)
                .unwrap_or(CHUNK)
                .min(CHUNK);
            let got = self
                .ops
                .read_at(&self.file, &mut buf[..want], off)
                .map_err(io)?;
            let start = usize::try_from(off).unwrap_or(usize::MAX);
            let expect = self.data.get(start..start.saturating_add(got));
            if got == 0 || expect != buf.get(..got) {
                return Err(changed(
                    &self.path,
                    &format!("its bytes at offset {off} differ from the checked ones"),
                ));
            }
            off += got as u64;
        }
        Ok(())
    }

    /// Applies `plan`, which must have been made from [`bytes`](Self::bytes): optionally
    /// saves the removed bytes to `backup_tail` (a new file; temp name, fsync, rename, so it is
    /// complete or absent), verifies the file is unchanged, truncates, and fsyncs the file and
    /// its directory. On any failure before the cut nothing is changed and the saved tail is
    /// removed again; a failure after the cut says so. A plan that removes nothing writes
    /// nothing; a cut beyond the end is refused.
    pub fn apply(mut self, plan: &FixPlan, backup_tail: Option<&Path>) -> Result<(), Error> {
        let size = self.data.len() as u64;
        if plan.path != self.path || plan.size != size {
            return Err(changed(
                &self.path,
                &format!(
                    "the plan was made for {} bytes of {}, the locked file has {size}",
                    plan.size,
                    plan.path.display()
                ),
            ));
        }
        if plan.truncate_to == size {
            // Nothing to remove: nothing is written.
            return Ok(());
        }
        if plan.truncate_to > size {
            return Err(refused(
                &self.path,
                format!(
                    "the cut at offset {} is not inside the file ({size} bytes): a fix never \
                     extends a file; nothing done",
                    plan.truncate_to
                ),
            ));
        }
        if let Some(why) = refuse_cut(&self.data, plan.truncate_to) {
            return Err(refused(&self.path, format!("{why}; nothing done")));
        }
        let cut = plan.truncate_to;
        let saved = match backup_tail {
            Some(b) => Some(self.save_tail(b, cut)?),
            None => None,
        };
        let undo_backup = |s: &mut Self, e: Error| -> Error {
            match &saved {
                Some(b) => match s.ops.remove(b) {
                    Ok(()) => e,
                    Err(re) => refused(
                        &s.path,
                        format!(
                            "{e}; nothing cut, but the saved tail {} could not be removed: {re}",
                            b.display()
                        ),
                    ),
                },
                None => e,
            }
        };
        // The descriptor that cuts: the same file (device and inode) as the locked one.
        let rw = match self.ops.open_rw(&self.path) {
            Ok(f) => f,
            Err(e) => {
                let e = refused(
                    &self.path,
                    format!("cannot open it for writing ({e}); nothing cut"),
                );
                return Err(undo_backup(&mut self, e));
            }
        };
        match self.ops.stat(&rw) {
            Ok(st) if st.dev_ino == self.stamp.dev_ino => {}
            Ok(_) => {
                let e = changed(&self.path, "the name now points to another file");
                return Err(undo_backup(&mut self, e));
            }
            Err(e) => {
                let e = Error::io(&self.path, e);
                return Err(undo_backup(&mut self, e));
            }
        }
        if let Err(e) = self.verify_unchanged(cut) {
            return Err(undo_backup(&mut self, e));
        }
        if let Err(e) = self.ops.set_len(&rw, cut) {
            let e = refused(
                &self.path,
                format!("the truncation to {cut} bytes failed ({e}); nothing cut"),
            );
            return Err(undo_backup(&mut self, e));
        }
        let after = |what: &str, e: io::Error| {
            refused(
                &self.path,
                format!(
                    "truncated to {cut} bytes, but {what} failed ({e}): the cut may not survive a \
                     crash; run the fix again to confirm"
                ),
            )
        };
        if let Err(e) = self.ops.sync(&rw) {
            return Err(after("the fsync of the file", e));
        }
        if let Some(dir) = self.path.parent() {
            let dir = dir.to_path_buf();
            if let Err(e) = self.ops.sync_dir(&dir) {
                return Err(after("the fsync of its directory", e));
            }
        }
        Ok(())
    }

    /// Writes the bytes from `cut` to the end to `backup` (complete or absent). Returns the
    /// final path.
    fn save_tail(&mut self, backup: &Path, cut: u64) -> Result<PathBuf, Error> {
        let bio = |e| Error::io(backup, e);
        if backup.symlink_metadata().is_ok() {
            return Err(refused(
                backup,
                "the --backup-tail file already exists; it is never overwritten; nothing done",
            ));
        }
        let dir = backup
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let base = backup
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "tail".into());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmp = dir.join(format!(
            ".{base}.rdbkit-tmp.{}.{nanos:09}",
            std::process::id()
        ));
        let mut out = self.ops.create_new(&tmp).map_err(bio)?;
        let start = usize::try_from(cut).unwrap_or(usize::MAX);
        let tail = self.data.get(start..).unwrap_or(&[]);
        let r = (|| {
            self.ops.write_all(&mut out, tail)?;
            self.ops.sync(&out)?;
            drop(out);
            self.ops.rename_noreplace(&tmp, backup)
        })();
        if let Err(e) = r {
            let cleanup = self.ops.remove(&tmp);
            let mut msg = format!("saving the removed bytes failed ({e}); nothing cut");
            if let Err(re) = cleanup {
                msg.push_str(&format!(
                    "; the partial temporary file {} could not be removed: {re}",
                    tmp.display()
                ));
            }
            return Err(refused(backup, msg));
        }
        if let Err(e) = self.ops.sync_dir(&dir) {
            let mut msg =
                format!("the fsync of the directory of the saved tail failed ({e}); nothing cut");
            if let Err(re) = self.ops.remove(backup) {
                msg.push_str(&format!(
                    "; {} could not be removed: {re}",
                    backup.display()
                ));
            }
            return Err(refused(backup, msg));
        }
        Ok(backup.to_path_buf())
    }
}

fn changed(path: &Path, what: &str) -> Error {
    refused(
        path,
        format!("the file changed since it was checked ({what}); nothing done"),
    )
}

/// The cut a strict check of the last file chose, if any: the end of the valid part, or the
/// timestamp cut.
pub fn cut_of(c: &crate::check::SingleCheck) -> Option<u64> {
    use crate::check::Stop;
    match c.stop {
        Stop::Checked if c.diff() > 0 => Some(c.ok_up_to),
        Stop::TimestampCut { offset, .. } => Some(offset),
        _ => None,
    }
}

/// Checks the locked bytes again (as the last file, the RDB preamble validated when
/// `allow_preamble` and the bytes start with an RDB magic) and requires the same size and cut
/// as the first check: the cut is decided from the bytes that will be cut.
pub fn recheck(
    path: &Path,
    bytes: &[u8],
    allow_preamble: bool,
    opts: crate::check::CheckOptions,
    checked_size: u64,
    checked_cut: u64,
) -> Result<(), Error> {
    let preamble = allow_preamble && crate::check::is_rdb(bytes);
    let mut line = 1;
    let c = crate::check::check_single(bytes, preamble, true, opts, &mut line);
    let cut = cut_of(&c);
    if bytes.len() as u64 != checked_size || cut != Some(checked_cut) {
        return Err(changed(
            path,
            &format!(
                "checked: {checked_size} bytes, cut at offset {checked_cut}; now: {} bytes, {}",
                bytes.len(),
                cut.map_or_else(|| "nothing to cut".into(), |c| format!("cut at offset {c}"))
            ),
        ));
    }
    Ok(())
}

/// What [`fix_checked`] is told about the fix.
#[derive(Debug, Clone, Copy, Default)]
pub struct FixOptions<'a> {
    /// Save the removed bytes here first.
    pub backup_tail: Option<&'a Path>,
    /// Cut even when another process has the file (or an AOF file of its directory) open for
    /// writing.
    pub force: bool,
}

/// Refuses when another process has `path`, or an AOF file of its directory, open for writing
/// (a running server), unless `force`. Linux only; elsewhere it cannot look and lets the fix go
/// on (the lock and the re-verification still apply).
pub fn refuse_if_written(path: &Path, force: bool) -> Result<(), Error> {
    if force {
        return Ok(());
    }
    let scan = crate::writers::scan(&[path.to_path_buf()]);
    if scan.writers.is_empty() {
        return Ok(());
    }
    let who: Vec<String> = scan.writers.iter().map(ToString::to_string).collect();
    Err(refused(
        path,
        format!(
            "{}: is a server running on this AOF? Stop it (or let it finish) first; --force \
             cuts anyway; nothing done",
            who.join("; ")
        ),
    ))
}

/// What the first check of the file to cut found.
#[derive(Debug, Clone, Copy)]
pub struct Checked {
    /// The file's size then.
    pub size: u64,
    /// The cut it chose.
    pub cut: u64,
    /// Whether an RDB preamble is validated (a base or a file given directly; not an incr).
    pub allow_preamble: bool,
    /// The options of that check (`--truncate-to-timestamp`).
    pub check: crate::check::CheckOptions,
}

/// The whole fix of a file checked earlier (the drop-in's `--fix` after its yes): refuses
/// when a process writes it (unless `force`), locks it, re-reads and re-checks it, and cuts
/// only if the check still gives the same size and cut. Returns the plan applied.
pub fn fix_checked(
    ops: &mut dyn FileOps,
    path: &Path,
    name: &str,
    checked: Checked,
    opts: FixOptions<'_>,
) -> Result<FixPlan, Error> {
    let s = match FixSession::open(path, ops) {
        Ok(s) => s,
        // It changed while it was read: name the writer if there is one.
        Err(e @ Error::Refused { .. }) => {
            return Err(refuse_if_written(path, opts.force).err().unwrap_or(e))
        }
        Err(e) => return Err(e),
    };
    refuse_if_written(path, opts.force)?;
    recheck(
        path,
        s.bytes(),
        checked.allow_preamble,
        checked.check,
        checked.size,
        checked.cut,
    )?;
    let p = plan(path, name, s.bytes(), checked.cut);
    s.apply(&p, opts.backup_tail)?;
    Ok(p)
}

/// Applies a plan made from the file's bytes: locks the file, reads it again, and cuts only if
/// a plan made from the locked bytes is the same plan (see [`FixSession`]).
pub fn apply(plan: &FixPlan, backup_tail: Option<&Path>) -> Result<(), Error> {
    apply_with(&mut RealOps, plan, backup_tail)
}

/// [`apply`] through the given file operations.
pub fn apply_with(
    ops: &mut dyn FileOps,
    plan: &FixPlan,
    backup_tail: Option<&Path>,
) -> Result<(), Error> {
    let s = FixSession::open(&plan.path, ops)?;
    let again = self::plan(&plan.path, &plan.name, s.bytes(), plan.truncate_to);
    if &again != plan {
        return Err(changed(
            &plan.path,
            &format!(
                "size {} -> {} bytes, or other bytes after offset {}",
                plan.size,
                s.bytes().len(),
                plan.truncate_to
            ),
        ));
    }
    s.apply(plan, backup_tail)
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
        assert_eq!(p.damaged_regions, 0);
        assert_eq!(p.unparsed_bytes, 10);
        assert_eq!(p.first_removed_command, Some(SET.len() as u64));
        assert_eq!(p.removed_bytes, d.len() as u64 - SET.len() as u64);
    }

    #[test]
    fn plan_counts_past_a_damaged_byte() {
        let mut d = SET.repeat(3);
        let bad = SET.len() + 5;
        d[bad] = b'X'; // "$3" -> "$X": the second command is damaged
        d.extend(SET.repeat(997));
        let p = plan(Path::new("x"), "x", &d, SET.len() as u64);
        assert_eq!(p.whole_commands, 998, "{p:?}");
        assert_eq!(p.damaged_regions, 1);
        assert_eq!(p.unparsed_bytes, SET.len() as u64);
        assert_eq!(p.count_stopped_at, Some(SET.len() as u64));
        assert!(!p.partial);
    }

    #[test]
    fn non_aof_content_is_never_emptied() {
        for d in [
            &[0x1f, 0x8b, 8, 0][..],
            b"BZh91AY",
            &[0x28, 0xb5, 0x2f, 0xfd, 0],
            b"REDIS0011\xfa",
            b"hello world\n",
        ] {
            assert!(refuse_cut(d, 0).is_some(), "{d:?}");
            assert!(refuse_cut(d, 1).is_none());
        }
        assert!(refuse_cut(b"*1\r\n$4\r\nPI", 0).is_none());
        assert!(refuse_cut(b"#TS:1\r\nxx", 0).is_none());
        assert!(refuse_cut(b"", 0).is_none());
    }

    #[test]
    fn interrupted_calls_are_repeated() {
        let mut calls = 0;
        let r = retry(|| {
            calls += 1;
            if calls < 3 {
                Err(io::Error::from(io::ErrorKind::Interrupted))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r.unwrap(), 3);
        let e = retry(|| -> io::Result<()> { Err(io::ErrorKind::NotFound.into()) });
        assert_eq!(e.unwrap_err().kind(), io::ErrorKind::NotFound);
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
        // Only the two files: no temporary left.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_held_lock_is_a_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.aof");
        let mut d = SET.to_vec();
        d.extend(b"*1");
        std::fs::write(&path, &d).unwrap();
        let other = File::open(&path).unwrap();
        other.lock().unwrap();
        let p = plan(&path, "a.aof", &d, SET.len() as u64);
        let e = apply(&p, None).unwrap_err().to_string();
        assert!(e.contains("another process holds the fix lock"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), d);
        drop(other);
        apply(&p, None).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), SET);
    }

    #[test]
    fn a_change_after_the_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.aof");
        let mut d = SET.to_vec();
        d.extend(b"*1\r\n$4\r\nPI");
        std::fs::write(&path, &d).unwrap();
        let mut ops = RealOps;
        let s = FixSession::open(&path, &mut ops).unwrap();
        let p = plan(&path, "a.aof", s.bytes(), SET.len() as u64);
        // The torn command is completed by a writer after the read: never cut.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"NG\r\n").unwrap();
        let e = s.apply(&p, None).unwrap_err().to_string();
        assert!(e.contains("changed since it was checked"), "{e}");
        let mut whole = d.clone();
        whole.extend(b"NG\r\n");
        assert_eq!(std::fs::read(&path).unwrap(), whole);
    }

    #[test]
    fn an_existing_backup_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.aof");
        let mut d = SET.to_vec();
        d.extend(b"*1");
        std::fs::write(&path, &d).unwrap();
        let backup = dir.path().join("tail.bin");
        std::fs::write(&backup, b"precious").unwrap();
        let p = plan(&path, "a.aof", &d, SET.len() as u64);
        assert!(apply(&p, Some(&backup)).is_err());
        assert_eq!(std::fs::read(&backup).unwrap(), b"precious");
        assert_eq!(std::fs::read(&path).unwrap(), d);
    }
}
