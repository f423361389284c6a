//! Running-server detection: which other processes hold an AOF file, or a file of its
//! directory, open for writing.
//!
//! Linux only: it reads `/proc/<pid>/fd/*` (where each descriptor points) and
//! `/proc/<pid>/fdinfo/*` (its open flags). It sees the processes this user may inspect (all
//! of them as root; one's own otherwise), so a server running as another user is found only
//! when the fix runs as root or as that user. Elsewhere [`scan`] reports that it could not look.

use std::path::{Path, PathBuf};

/// A process holding a file open for writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    /// Its process id.
    pub pid: u32,
    /// Its command name (`/proc/<pid>/comm`), e.g. `redis-server`.
    pub command: String,
    /// The file it holds open for writing.
    pub file: PathBuf,
}

/// The result of a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// False where the platform gives no way to look (not Linux, or no `/proc`).
    pub supported: bool,
    /// The writers found.
    pub writers: Vec<Writer>,
}

impl std::fmt::Display for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "process {} ({}) has {} open for writing",
            self.pid,
            self.command,
            self.file.display()
        )
    }
}

/// Whether `candidate` is one of the watched files: one of `files`, or a file of one of the
/// `dirs` whose name marks it as part of an AOF (`*.aof`, `*.aof.*`, `*.manifest`), which
/// catches a server that has moved on to a new incr file or is rewriting.
fn watched(candidate: &Path, files: &[PathBuf], dirs: &[PathBuf]) -> bool {
    if files.iter().any(|f| f == candidate) {
        return true;
    }
    let (Some(parent), Some(name)) = (candidate.parent(), candidate.file_name()) else {
        return false;
    };
    let name = name.to_string_lossy();
    dirs.iter().any(|d| d == parent)
        && (name.ends_with(".aof") || name.contains(".aof.") || name.ends_with(".manifest"))
}

/// Processes other than this one holding any of `paths`, or an AOF-like file in the directory
/// of any of them, open for writing (`O_WRONLY` or `O_RDWR`).
pub fn scan(paths: &[PathBuf]) -> Scan {
    let files: Vec<PathBuf> = paths
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs.dedup();
    scan_proc(Path::new("/proc"), &files, &dirs)
}

#[cfg(target_os = "linux")]
fn scan_proc(proc_root: &Path, files: &[PathBuf], dirs: &[PathBuf]) -> Scan {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Scan {
            supported: false,
            writers: Vec::new(),
        };
    };
    let me = std::process::id();
    let mut writers = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let pdir = e.path();
        // Another user's process: not readable, skipped (see the module's documentation).
        let Ok(fds) = std::fs::read_dir(pdir.join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if !watched(&target, files, dirs) {
                continue;
            }
            // The descriptor closed between `readlink` and here (a process exiting, e.g. a
            // fix refused by the lock): it holds nothing any more, so it is no writer. Any
            // other failure to read its flags counts as writing (below).
            let info = match std::fs::read_to_string(pdir.join("fdinfo").join(fd.file_name())) {
                Ok(info) => info,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(_) => String::new(),
            };
            let flags = info
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok());
            // O_ACCMODE: 1 O_WRONLY, 2 O_RDWR. Unknown flags count as writing (be safe).
            if flags.is_none_or(|f| f & 3 != 0) {
                let command = std::fs::read_to_string(pdir.join("comm"))
                    .map(|s| s.trim_end().to_string())
                    .unwrap_or_else(|_| "?".into());
                writers.push(Writer {
                    pid,
                    command,
                    file: target,
                });
            }
        }
    }
    writers.sort_by(|a, b| (a.pid, &a.file).cmp(&(b.pid, &b.file)));
    writers.dedup();
    Scan {
        supported: true,
        writers,
    }
}

#[cfg(not(target_os = "linux"))]
fn scan_proc(_proc_root: &Path, _files: &[PathBuf], _dirs: &[PathBuf]) -> Scan {
    Scan {
        supported: false,
        writers: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_names() {
        let files = vec![PathBuf::from("/d/x.bin")];
        let dirs = vec![PathBuf::from("/d")];
        assert!(watched(Path::new("/d/x.bin"), &files, &dirs));
        assert!(watched(Path::new("/d/appendonly.aof"), &files, &dirs));
        assert!(watched(
            Path::new("/d/appendonly.aof.3.incr.aof"),
            &files,
            &dirs
        ));
        assert!(watched(
            Path::new("/d/appendonly.aof.manifest"),
            &files,
            &dirs
        ));
        assert!(!watched(Path::new("/d/dump.rdb"), &files, &dirs));
        assert!(!watched(Path::new("/e/appendonly.aof"), &files, &dirs));
    }

    /// A fake `/proc` entry: `pid/fd/3` links to `target`; `fdinfo` as given (None: the
    /// descriptor closed after its link was read).
    #[cfg(target_os = "linux")]
    fn fake_proc(root: &Path, pid: u32, target: &Path, fdinfo: Option<&str>) {
        let pdir = root.join(pid.to_string());
        std::fs::create_dir_all(pdir.join("fd")).unwrap();
        std::fs::create_dir_all(pdir.join("fdinfo")).unwrap();
        std::os::unix::fs::symlink(target, pdir.join("fd").join("3")).unwrap();
        std::fs::write(pdir.join("comm"), "rdbkit\n").unwrap();
        if let Some(info) = fdinfo {
            std::fs::write(pdir.join("fdinfo").join("3"), info).unwrap();
        }
    }

    /// A descriptor that closes between `readlink` and `fdinfo` (the other fix of a race
    /// exiting) is no writer; one whose flags say writing, or cannot be parsed, is. (A fix
    /// refused by the lock, exiting while the lock holder scanned, made the holder refuse too:
    /// both refused, `aof_fix_safety::racing_fixes_end_in_a_valid_outcome` under load.)
    #[cfg(target_os = "linux")]
    #[test]
    fn a_descriptor_closed_during_the_scan_is_not_a_writer() {
        let root = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let p = data.path().join("appendonly.aof");
        std::fs::write(&p, b"").unwrap();
        fake_proc(root.path(), 900_001, &p, None);
        fake_proc(root.path(), 900_002, &p, Some("pos:\t0\nflags:\t0100000\n"));
        fake_proc(root.path(), 900_003, &p, Some("pos:\t0\nflags:\t0100001\n"));
        fake_proc(root.path(), 900_004, &p, Some("pos:\t0\n"));
        let s = scan_proc(root.path(), std::slice::from_ref(&p), &[]);
        let pids: Vec<u32> = s.writers.iter().map(|w| w.pid).collect();
        assert_eq!(pids, vec![900_003, 900_004], "{s:?}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_child_writing_the_file_is_found_and_a_reader_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("appendonly.aof");
        std::fs::write(&p, b"*1\r\n$4\r\nPING\r\n").unwrap();
        // A reader (`tail -f`-like: opened read-only) is not a writer.
        let mut reader = std::process::Command::new("sh")
            .arg("-c")
            .arg("exec sleep 30 < \"$0\"")
            .arg(&p)
            .spawn()
            .unwrap();
        let mut writer = std::process::Command::new("sh")
            .arg("-c")
            .arg("exec sleep 30 >> \"$0\"")
            .arg(&p)
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let found = loop {
            let s = scan(std::slice::from_ref(&p));
            assert!(s.supported);
            if s.writers.iter().any(|w| w.pid == writer.id())
                || std::time::Instant::now() > deadline
            {
                break s;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let _ = writer.kill();
        let _ = reader.kill();
        let _ = writer.wait();
        let _ = reader.wait();
        assert!(
            found.writers.iter().any(|w| w.pid == writer.id()),
            "{found:?}"
        );
        assert!(
            !found.writers.iter().any(|w| w.pid == reader.id()),
            "{found:?}"
        );
    }
}
