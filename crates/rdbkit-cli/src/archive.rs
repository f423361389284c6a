//! Tar archives of backups (`tar cf`, `tar czf`, `tar --zstd -cf`, Python's `tarfile`): an
//! `appendonlydir/` with its manifest, a `dump.rdb`, or a whole data directory with both.
//!
//! An archive is read once, as a stream (it may come from a pipe), and the members that can be
//! part of a backup (content starting with an RDB magic, a manifest, RESP, or empty: an incr
//! file with no command yet) are written to a private temporary directory (mode 0700, removed
//! when the [`Spilled`] is dropped), because the parts of an `appendonlydir/` must be read in
//! manifest order, which is rarely the archive's order. Other members are read through and
//! skipped. The total written is capped ([`spill_limit`], `RDBKIT_SPILL_LIMIT`).
//!
//! A hostile archive never writes outside that directory: a member with an absolute path, a
//! `..` component, a symbolic or hard link, a device, a FIFO, a GNU sparse file, a name seen
//! twice, or a size past the cap is refused with its name, before anything of it is written.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use rdbkit_aof::manifest::looks_like_manifest;

/// Temporary files and directories to remove if the process is interrupted (Ctrl-C,
/// SIGTERM, SIGHUP): a normal exit removes them when their owners are dropped.
static TEMPS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Registers `path` for removal on an interrupt (installing the handler once).
pub fn register_temp(path: &Path) {
    static HANDLER: std::sync::Once = std::sync::Once::new();
    HANDLER.call_once(|| {
        // If another handler is already set, the temp dirs are still removed on a normal exit.
        let _ = ctrlc::set_handler(|| {
            if let Ok(paths) = TEMPS.lock() {
                for p in paths.iter() {
                    let _ = fs::remove_dir_all(p).or_else(|_| fs::remove_file(p));
                }
            }
            eprintln!("rdbkit: interrupted; temporary files removed");
            std::process::exit(130);
        });
    });
    if let Ok(mut v) = TEMPS.lock() {
        v.push(path.to_path_buf());
    }
}

/// Unregisters `path` (its owner removes it).
pub fn unregister_temp(path: &Path) {
    if let Ok(mut v) = TEMPS.lock() {
        v.retain(|p| p != path);
    }
}

/// Default cap on the bytes an archive may spill to the temporary directory.
pub const DEFAULT_SPILL_LIMIT: u64 = 64 << 30;

/// The cap on spilled bytes: `RDBKIT_SPILL_LIMIT` (bytes, or with a `K`/`M`/`G`/`T` suffix),
/// else [`DEFAULT_SPILL_LIMIT`].
pub fn spill_limit() -> Result<u64, String> {
    match std::env::var("RDBKIT_SPILL_LIMIT") {
        Err(_) => Ok(DEFAULT_SPILL_LIMIT),
        Ok(v) => parse_size(&v)
            .ok_or_else(|| format!("RDBKIT_SPILL_LIMIT={v:?}: not a size (e.g. 500M, 20G)")),
    }
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (s.get(..i)?, 1u64 << 10),
        (i, 'm' | 'M') => (s.get(..i)?, 1 << 20),
        (i, 'g' | 'G') => (s.get(..i)?, 1 << 30),
        (i, 't' | 'T') => (s.get(..i)?, 1 << 40),
        _ => (s, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

/// Whether `head` (the first 512 bytes of the data, or more) is a tar header: the POSIX/GNU
/// `ustar` magic, or a pre-POSIX header whose checksum field matches its bytes.
pub fn is_tar(head: &[u8]) -> bool {
    let Some(block) = head.get(..512) else {
        return false;
    };
    if block.get(257..262) == Some(b"ustar") {
        return true;
    }
    if block.first().is_none_or(|&b| b == 0) {
        return false;
    }
    let Some(field) = block.get(148..156) else {
        return false;
    };
    let digits: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(b))
        .collect();
    let Some(stored) = std::str::from_utf8(&digits)
        .ok()
        .filter(|d| !d.is_empty())
        .and_then(|d| u32::from_str_radix(d, 8).ok())
    else {
        return false;
    };
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    sum == stored
}

/// A member written to the temporary directory.
#[derive(Debug, Clone)]
pub struct Member {
    /// Its path in the archive, normalised (`./` and trailing `/` dropped).
    pub name: String,
    /// Where it was written.
    pub path: PathBuf,
    /// Its first bytes (up to 4 KiB), to classify it.
    pub head: Vec<u8>,
}

/// What an archive holds, its backup members spilled to a private temporary directory.
pub struct Spilled {
    dir: tempfile::TempDir,
    /// The archive's name, for messages.
    pub archive: String,
    /// Members written, in archive order.
    pub members: Vec<Member>,
    /// Members read through and not kept (not part of a backup), with why.
    pub skipped: Vec<String>,
    /// Standalone RDB members read in place (see [`spill_streaming`]), in archive order.
    pub streamed: Vec<String>,
    /// Bytes written to the temporary directory.
    pub bytes: u64,
}

/// One backup found inside an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// An RDB file (a `dump.rdb`).
    Rdb { member: String, path: PathBuf },
    /// A single-file AOF (a 6.x `appendonly.aof`, RESP maybe after an RDB preamble).
    Aof { member: String, path: PathBuf },
    /// An `appendonlydir/`: the directory of a manifest.
    AofDir { member: String, path: PathBuf },
}

impl Found {
    /// The member (file or directory) in the archive.
    pub fn member(&self) -> &str {
        match self {
            Found::Rdb { member, .. }
            | Found::Aof { member, .. }
            | Found::AofDir { member, .. } => member,
        }
    }

    /// Where it is in the temporary directory.
    pub fn path(&self) -> &Path {
        match self {
            Found::Rdb { path, .. } | Found::Aof { path, .. } | Found::AofDir { path, .. } => path,
        }
    }

    /// Whether it is an AOF (either layout).
    pub fn is_aof(&self) -> bool {
        !matches!(self, Found::Rdb { .. })
    }
}

impl Drop for Spilled {
    fn drop(&mut self) {
        unregister_temp(self.dir.path());
    }
}

impl Spilled {
    /// A message or path with the temporary directory replaced by `ARCHIVE:`, so that errors
    /// name the member, never the temporary path.
    pub fn rewrite(&self, s: &str) -> String {
        let root = self.dir.path().display().to_string();
        s.replace(&format!("{root}/"), &format!("{}:", self.archive))
            .replace(&root, &self.archive)
    }

    /// The backups the archive holds: each manifest's directory is an `appendonlydir/`;
    /// members outside those are RDBs (content with an RDB magic, no `aof-preamble`) or
    /// single-file AOFs (RESP, or an RDB preamble with `aof-preamble 1`); empty ones are
    /// ignored. In archive order.
    pub fn backups(&self) -> Vec<Found> {
        let mut out = Vec::new();
        let dirs: Vec<String> = self
            .members
            .iter()
            .filter(|m| looks_like_manifest(&m.head))
            .map(|m| parent_of(&m.name))
            .collect();
        let mut seen_dirs: Vec<&String> = Vec::new();
        for m in &self.members {
            let dir = parent_of(&m.name);
            if let Some(d) = dirs.iter().find(|d| **d == dir) {
                if !seen_dirs.contains(&d) {
                    seen_dirs.push(d);
                    let member = if d.is_empty() {
                        ".".into()
                    } else {
                        format!("{d}/")
                    };
                    out.push(Found::AofDir {
                        member,
                        path: self.dir.path().join(d),
                    });
                }
                continue;
            }
            if m.head.is_empty() {
                continue;
            }
            let found = match crate::input::kind_of(&m.head) {
                Some(crate::input::Kind::Rdb) => Found::Rdb {
                    member: m.name.clone(),
                    path: m.path.clone(),
                },
                Some(crate::input::Kind::Aof) => Found::Aof {
                    member: m.name.clone(),
                    path: m.path.clone(),
                },
                _ => continue,
            };
            out.push(found);
        }
        out
    }
}

fn parent_of(name: &str) -> String {
    match name.rfind('/') {
        Some(i) => name.get(..i).unwrap_or_default().to_string(),
        None => String::new(),
    }
}

/// Shows a member name with control bytes escaped.
pub fn show(name: &[u8]) -> String {
    let s = String::from_utf8_lossy(name);
    s.chars()
        .map(|c| {
            if c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The member's path as safe relative components, or why it is refused.
fn safe_relative(raw: &[u8]) -> Result<PathBuf, String> {
    use std::os::unix::ffi::OsStrExt;
    let p = Path::new(std::ffi::OsStr::from_bytes(raw));
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(
                    "an absolute path: refused (a member must stay inside the archive)".into(),
                )
            }
            Component::ParentDir => {
                return Err(
                    "a `..` component: refused (a member must stay inside the archive)".into(),
                )
            }
        }
    }
    Ok(out)
}

/// Bytes of a member that decide whether it is kept.
const HEAD: usize = 4096;

/// Called with a standalone RDB member (its name and its data, read in place), see
/// [`spill_streaming`].
pub type StreamRdb<'a> = &'a mut dyn FnMut(&str, &mut dyn Read);

/// Counts the bytes read through a borrowed reader.
struct CountedRef<'r> {
    inner: &'r mut dyn Read,
    n: u64,
}

impl Read for CountedRef<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        Ok(k)
    }
}

/// Reads the archive from `r` once and writes its backup members to a new private temporary
/// directory. `name` names the archive in messages; at most `limit` bytes are written.
pub fn spill(name: &str, r: impl Read, limit: u64) -> Result<Spilled, String> {
    spill_streaming(name, r, limit, None)
}

/// [`spill`], except that a standalone RDB member — an RDB (no `aof-preamble` 1, no `aof-base`
/// 1: not the base of an `appendonlydir/`) outside any directory whose manifest came before
/// it — is given to `stream_rdb` as it is read, in one pass, instead of being written out. Its
/// name is then in [`Spilled::streamed`].
pub fn spill_streaming(
    name: &str,
    r: impl Read,
    limit: u64,
    mut stream_rdb: Option<StreamRdb<'_>>,
) -> Result<Spilled, String> {
    let dir = tempfile::Builder::new()
        .prefix("rdbkit-archive-")
        .tempdir()
        .map_err(|e| format!("{name}: can't create a temporary directory to unpack into: {e}"))?;
    register_temp(dir.path());
    let mut out = Spilled {
        dir,
        archive: name.to_string(),
        members: Vec::new(),
        skipped: Vec::new(),
        streamed: Vec::new(),
        bytes: 0,
    };
    let mut manifest_dirs: Vec<PathBuf> = Vec::new();
    let mut ar = tar::Archive::new(r);
    let entries = ar
        .entries()
        .map_err(|e| format!("{name}: not a readable tar archive: {e}"))?;
    let mut last = String::from("(the start)");
    for e in entries {
        let mut e = e.map_err(|err| {
            format!("{name}: tar archive damaged or truncated after member {last}: {err}")
        })?;
        let raw = e.path_bytes().into_owned();
        let shown = show(&raw);
        let at = e.raw_header_position();
        let what = |why: &str| format!("{name}: member {shown} (header at byte {at}): {why}");
        let ty = e.header().entry_type();
        let rel = safe_relative(&raw).map_err(|why| what(&why))?;
        use tar::EntryType as T;
        match ty {
            T::Directory => {
                last = shown;
                continue;
            }
            T::Regular | T::Continuous if rel.as_os_str().is_empty() => {
                return Err(what("a file with an empty name: refused"));
            }
            T::Regular | T::Continuous => {}
            T::Symlink | T::Link => {
                let target = e
                    .link_name_bytes()
                    .map(|t| show(&t))
                    .unwrap_or_else(|| "?".into());
                return Err(what(&format!(
                    "a {} to {target}: refused (links in a backup archive could point outside it)",
                    if ty == T::Symlink {
                        "symbolic link"
                    } else {
                        "hard link"
                    }
                )));
            }
            T::Char | T::Block | T::Fifo => {
                return Err(what("a device or FIFO: refused (not part of a backup)"));
            }
            T::GNUSparse => {
                return Err(what("a GNU sparse file: refused (not part of a backup)"));
            }
            other => {
                return Err(what(&format!(
                    "member type {:?}: refused (only files and directories are read)",
                    other.as_byte() as char
                )));
            }
        }
        let size = e.size();
        let mut head = Vec::with_capacity(HEAD.min(size as usize));
        (&mut e)
            .take(HEAD as u64)
            .read_to_end(&mut head)
            .map_err(|err| what(&format!("can't be read: {err}")))?;
        let keep = head.is_empty()
            || rdbkit_rdb::is_rdb_magic(&head)
            || looks_like_manifest(&head)
            || matches!(head.first(), Some(b'*') | Some(b'#'));
        if !keep {
            // Read through it (the archive is a stream) without keeping it.
            let n = io::copy(&mut e, &mut io::sink())
                .map_err(|err| what(&format!("can't be read: {err}")))?;
            if (head.len() as u64).saturating_add(n) < size {
                return Err(what(&format!(
                    "truncated: the archive ends {} bytes into its {size} bytes",
                    head.len() as u64 + n
                )));
            }
            out.skipped
                .push(format!("{shown} (not an RDB, AOF or manifest)"));
            last = shown;
            continue;
        }
        let dir = rel.parent().map(Path::to_path_buf).unwrap_or_default();
        if looks_like_manifest(&head) {
            manifest_dirs.push(dir.clone());
        }
        if let Some(cb) = stream_rdb.as_mut() {
            let standalone = crate::input::kind_of(&head) == Some(crate::input::Kind::Rdb)
                && !crate::input::aux_is(&head, b"aof-base", b"1")
                && !manifest_dirs.contains(&dir);
            if standalone {
                let member = rel.display().to_string();
                let consumed = {
                    let mut c = CountedRef {
                        inner: &mut e,
                        n: 0,
                    };
                    {
                        let mut data = io::Cursor::new(&head[..]).chain(&mut c);
                        cb(&member, &mut data);
                    }
                    c.n
                };
                let rest = io::copy(&mut e, &mut io::sink())
                    .map_err(|err| what(&format!("can't be read: {err}")))?;
                let total = head.len() as u64 + consumed + rest;
                if total < size {
                    return Err(what(&format!(
                        "truncated: the archive ends {total} bytes into its {size} bytes"
                    )));
                }
                out.streamed.push(member);
                last = shown;
                continue;
            }
        }
        if size > limit.saturating_sub(out.bytes) {
            return Err(what(&format!(
                "{size} bytes would pass the cap on unpacked bytes ({} already, cap {limit}; \
                 raise it with RDBKIT_SPILL_LIMIT, e.g. RDBKIT_SPILL_LIMIT=200G)",
                out.bytes
            )));
        }
        if out.members.iter().any(|m| Path::new(&m.name) == rel) {
            return Err(what(
                "a second member with this name: refused (which one is the backup?)",
            ));
        }
        let path = out.dir.path().join(&rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|err| what(&format!("can't create its directory: {err}")))?;
        }
        // create_new: never follows or replaces anything already there.
        let mut f: File = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|err| what(&format!("can't unpack: {err}")))?;
        f.write_all(&head)
            .map_err(|err| what(&format!("can't unpack: {err}")))?;
        let rest = size.saturating_sub(head.len() as u64);
        let n = io::copy(&mut (&mut e).take(rest), &mut f)
            .map_err(|err| what(&format!("can't be read: {err}")))?;
        if n < rest {
            return Err(what(&format!(
                "truncated: the archive ends {} bytes into its {size} bytes",
                head.len() as u64 + n
            )));
        }
        out.bytes += size;
        let display = rel.display().to_string();
        out.members.push(Member {
            name: display,
            path,
            head,
        });
        last = shown;
    }
    // The end-of-archive blocks were read; a compressed archive must also end cleanly.
    io::copy(&mut ar.into_inner(), &mut io::sink())
        .map_err(|err| format!("{name}: after the last member ({last}): {err}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10"), Some(10));
        assert_eq!(parse_size("2K"), Some(2048));
        assert_eq!(parse_size("3g"), Some(3 << 30));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn unsafe_paths_are_refused() {
        assert!(safe_relative(b"/etc/passwd").is_err());
        assert!(safe_relative(b"a/../../b").is_err());
        assert!(safe_relative(b"./").unwrap().as_os_str().is_empty());
        assert_eq!(
            safe_relative(b"./appendonlydir/x.aof").unwrap(),
            PathBuf::from("appendonlydir/x.aof")
        );
    }
}
