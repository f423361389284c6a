//! `rdbkit verify`: prove backups restorable without a server. Finds the backups under the
//! given paths, decodes each one completely (deep validation, CRC-64, gzip CRC-32) on a pool
//! of worker threads, applies the operator's policies, and reports as text, JSON and
//! node_exporter textfile metrics.

pub mod against;
pub mod decode;
pub mod drill;
pub mod policy;
pub mod prometheus;
pub mod replay;
pub mod report;
mod tee;

use crate::progress::CountProgress;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Instant, UNIX_EPOCH};

/// What a backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Rdb,
    /// One append-only file (maybe with an RDB preamble).
    Aof,
    /// A 7.x `appendonlydir/` (manifest + base + incr files).
    AofDir,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Rdb => "rdb",
            Kind::Aof => "aof",
            Kind::AofDir => "appendonlydir",
        }
    }
}

/// One backup found on disk, before it is read.
#[derive(Debug, Clone)]
pub struct Backup {
    pub path: PathBuf,
    /// The file (or directory) name: the `backup` label.
    pub name: String,
    /// The name with its date stamp replaced by `*`: backups of one series are compared with
    /// each other (`dump-*.rdb.gz`, `appendonly-*.aof.gz`).
    pub series: String,
    /// The date stamp in the name (UTC), if any.
    pub name_time: Option<i64>,
    pub mtime: Option<i64>,
    pub is_dir: bool,
}

/// Where and why a backup is damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The file inside a multi-file backup (an appendonlydir), when it is not the backup itself.
    pub file: Option<String>,
    /// Byte offset in the decoded (decompressed) data.
    pub offset: Option<u64>,
    pub reason: String,
}

/// Where the save time of a backup came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// The RDB's `ctime` aux field: when the server wrote it.
    Ctime,
    /// The date stamp in the file name.
    Name,
    /// The file's modification time.
    Mtime,
}

impl TimeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeSource::Ctime => "ctime",
            TimeSource::Name => "name",
            TimeSource::Mtime => "mtime",
        }
    }
}

/// The verdict on one backup.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub backup: Backup,
    pub kind: Option<Kind>,
    pub gzip: bool,
    /// Bytes on disk (all files of a directory).
    pub size: u64,
    /// Bytes decoded (after decompression).
    pub data_bytes: u64,
    pub magic: Option<String>,
    pub version: Option<u32>,
    /// `redis 7.0.15` / `valkey 8.0.1`, from the aux fields.
    pub writer: Option<String>,
    pub ctime: Option<i64>,
    /// Keys per db in the RDB (for an AOF: in its RDB part only).
    pub keys: BTreeMap<u64, u64>,
    pub expires: u64,
    /// Commands in the AOF's RESP part(s).
    pub commands: Option<u64>,
    /// An AOF's keys were counted by replaying it (RDB part + commands) into the data model.
    pub keys_replayed: bool,
    /// Why an AOF's keys could not be counted (the replay stopped): its key counts are then
    /// those of its RDB part only, and the key policies fail for it instead of passing.
    pub keys_error: Option<String>,
    /// The backup could not be opened or read (its size, when known, is from its metadata).
    pub unreadable: bool,
    /// For a damaged AOF: what a real server does with it on start (it may still load it,
    /// losing the torn last command).
    pub server_verdict: Option<String>,
    pub checksum: Option<String>,
    pub notes: Vec<String>,
    pub damage: Option<Damage>,
    pub seconds: f64,
}

impl Outcome {
    pub fn new(backup: Backup) -> Outcome {
        Outcome {
            backup,
            kind: None,
            gzip: false,
            size: 0,
            data_bytes: 0,
            magic: None,
            version: None,
            writer: None,
            ctime: None,
            keys: BTreeMap::new(),
            expires: 0,
            commands: None,
            keys_replayed: false,
            keys_error: None,
            unreadable: false,
            server_verdict: None,
            checksum: None,
            notes: Vec::new(),
            damage: None,
            seconds: 0.0,
        }
    }

    pub fn valid(&self) -> bool {
        self.damage.is_none()
    }

    pub fn total_keys(&self) -> u64 {
        self.keys.values().sum()
    }

    /// Key counts describe the whole data set: an RDB, or an AOF replayed. (When an AOF
    /// can't be replayed, its count is the RDB part's alone.)
    pub fn keys_exact(&self) -> bool {
        self.kind == Some(Kind::Rdb) || self.keys_replayed
    }

    /// The save time. An RDB: its aux `ctime`, else the date in the name, else the mtime. An
    /// AOF: the date in the name, else the mtime, else the `ctime` of its RDB part (that is
    /// the last rewrite: the commands after it are newer).
    pub fn save_time(&self) -> Option<(i64, TimeSource)> {
        let ctime = self.ctime.map(|t| (t, TimeSource::Ctime));
        let name = self.backup.name_time.map(|t| (t, TimeSource::Name));
        let mtime = self.backup.mtime.map(|t| (t, TimeSource::Mtime));
        if self.kind == Some(Kind::Rdb) {
            ctime.or(name).or(mtime)
        } else {
            name.or(mtime).or(ctime)
        }
    }
}

/// A path given on the command line that holds no backup at all, or can't be read.
#[derive(Debug, Clone)]
pub struct PathProblem {
    pub path: PathBuf,
    pub reason: String,
    /// True when the path itself is missing or unreadable (exit 2), false when it is a
    /// readable folder without backups (a policy failure, exit 1).
    pub unreadable: bool,
}

fn mtime_of(md: &std::fs::Metadata) -> Option<i64> {
    md.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
}

/// The file name (the `backup` label, the JSON `name`; the text report escapes it).
fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

fn backup_at(path: &Path, md: &std::fs::Metadata) -> Backup {
    let name = name_of(path);
    let (name_time, series) = policy::date_in_name(&name);
    Backup {
        path: path.to_path_buf(),
        name,
        series,
        name_time,
        mtime: mtime_of(md),
        is_dir: md.is_dir(),
    }
}

/// A directory that is an `appendonlydir/` (it holds a manifest).
fn is_aof_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".manifest"))
    })
}

/// A file in a folder of backups that looks like one: `.rdb`/`.aof` in its name (so
/// `dump-20250124-020000.rdb.gz`), or an archive (`.tar*`, `.tgz`, `.tzst`,
/// `appendonlydir-*`), not hidden, not a temp file. (The name only picks files in a folder;
/// what a file is comes from its content.)
fn looks_like_backup_file(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !lower.starts_with('.')
        && !lower.ends_with(".tmp")
        && !lower.ends_with(".manifest")
        && (lower.contains(".rdb")
            || lower.contains(".aof")
            || lower.contains("appendonlydir")
            || lower.contains(".tar")
            || lower.ends_with(".tgz")
            || lower.ends_with(".tzst"))
}

/// Expands the paths given into backups: a file is a backup; an `appendonlydir/` is one; any
/// other folder holds backups (files named `*.rdb*`/`*.aof*`, and appendonlydir copies).
pub fn discover(paths: &[PathBuf]) -> (Vec<Backup>, Vec<PathProblem>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for p in paths {
        let md = match std::fs::metadata(p) {
            Ok(md) => md,
            Err(e) => {
                problems.push(PathProblem {
                    path: p.clone(),
                    reason: format!("{}: {e}", crate::escape::path(p)),
                    unreadable: true,
                });
                continue;
            }
        };
        if !md.is_dir() || is_aof_dir(p) {
            out.push(backup_at(p, &md));
            continue;
        }
        let rd = match std::fs::read_dir(p) {
            Ok(rd) => rd,
            Err(e) => {
                problems.push(PathProblem {
                    path: p.clone(),
                    reason: format!("{}: can't list the folder: {e}", crate::escape::path(p)),
                    unreadable: true,
                });
                continue;
            }
        };
        let before = out.len();
        let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        entries.sort();
        for e in entries {
            let name = name_of(&e);
            let md = match std::fs::metadata(&e) {
                Ok(md) => md,
                // A backup that is listed but can't be looked at (a dangling symlink, a
                // permission): unreadable, never silently left out.
                Err(err) if looks_like_backup_file(&name) => {
                    problems.push(PathProblem {
                        path: e.clone(),
                        reason: format!("{}: {err}", crate::escape::path(&e)),
                        unreadable: true,
                    });
                    continue;
                }
                Err(_) => continue,
            };
            if md.is_dir() {
                if is_aof_dir(&e) {
                    out.push(backup_at(&e, &md));
                }
            } else if md.is_file() && looks_like_backup_file(&name) {
                out.push(backup_at(&e, &md));
            }
        }
        if out.len() == before {
            problems.push(PathProblem {
                path: p.clone(),
                reason: format!(
                    "{}: no backup found (no *.rdb*, *.aof* file or appendonlydir in it)",
                    crate::escape::path(p)
                ),
                unreadable: false,
            });
        }
    }
    (out, problems)
}

/// Verifies every backup, `jobs` at a time (largest first, so one big file doesn't finish
/// last on its own). Results come back in the input order (an archive gives one result per
/// backup it holds).
pub fn verify_all(backups: &[Backup], jobs: usize, quiet: bool) -> Vec<Outcome> {
    let mut order: Vec<usize> = (0..backups.len()).collect();
    let size = |b: &Backup| std::fs::metadata(&b.path).map(|m| m.len()).unwrap_or(0);
    order.sort_by_key(|&i| std::cmp::Reverse(backups.get(i).map_or(0, size)));
    let slots: Vec<Mutex<Option<Vec<Outcome>>>> =
        backups.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let progress = CountProgress::new(backups.len(), quiet);
    let workers = jobs.clamp(1, backups.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = order.get(k) else { break };
                let Some(b) = backups.get(i) else { break };
                let o = verify_guarded(b);
                progress.tick(&b.name);
                if let Some(slot) = slots.get(i) {
                    if let Ok(mut g) = slot.lock() {
                        *g = Some(o);
                    }
                }
            });
        }
    });
    progress.finish();
    slots
        .into_iter()
        .zip(backups)
        .flat_map(|(m, b)| {
            m.into_inner().ok().flatten().unwrap_or_else(|| {
                let mut o = Outcome::new(b.clone());
                o.damage = Some(Damage {
                    file: None,
                    offset: None,
                    reason: "internal error: no verdict".into(),
                });
                vec![o]
            })
        })
        .collect()
}

/// A damaged backup that can't even be opened is shown as unreadable (with its size from the
/// metadata when that is known), not as an empty file.
fn mark_unreadable(o: &mut Outcome) {
    let p = &o.backup.path;
    if !can_reopen(p) {
        return; // a pipe or FIFO was read once, as a stream: opening it again would block
    }
    let open = if o.backup.is_dir {
        std::fs::read_dir(p).map(|_| ())
    } else {
        std::fs::File::open(p).map(|_| ())
    };
    if open.is_err() {
        o.unreadable = true;
        if let Ok(md) = std::fs::metadata(p) {
            if !md.is_dir() {
                o.size = md.len();
            }
        }
    }
}

/// Whether `path` can be opened a second time without consuming or waiting on anything: not a
/// FIFO (read once, as a stream). A path whose metadata can't be read counts as reopenable (the
/// open then fails and says why).
fn can_reopen(path: &std::path::Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).map_or(true, |m| !m.file_type().is_fifo())
}

/// One backup (an archive: one verdict per backup inside), with a decoder bug (a panic)
/// turned into a verdict rather than a crash.
fn verify_guarded(b: &Backup) -> Vec<Outcome> {
    let t = Instant::now();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode::verify(b)));
    let mut o = r.unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let mut o = Outcome::new(b.clone());
        o.damage = Some(Damage {
            file: None,
            offset: None,
            reason: format!(
                "internal error while decoding (a bug in rdbkit, please report): {msg}"
            ),
        });
        vec![o]
    });
    let secs = t.elapsed().as_secs_f64();
    for x in &mut o {
        // A backup inside an archive (`ARCHIVE:MEMBER`) got its server verdict while it was
        // read, and its path is the archive's: it is not reopened here.
        let in_archive = x.backup.name != b.name;
        if !x.valid() && !in_archive {
            mark_unreadable(x);
            if !x.unreadable && can_reopen(&x.backup.path) {
                x.server_verdict = replay::server_verdict(x);
            }
        }
        x.seconds = secs;
    }
    o
}
