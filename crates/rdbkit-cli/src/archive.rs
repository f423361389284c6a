//! Tar archives of backups (`tar cf`, `tar czf`, `tar --zstd -cf`, Python's `tarfile`): an
//! `appendonlydir/` with its manifest, a `dump.rdb`, or a whole data directory with both.
//!
//! An archive is read once, as a stream (it may come from a pipe). [`open`] reads it up to the
//! first manifest named `*.manifest` and pauses there ([`Paused`]); [`Paused::replay_parts`]
//! goes on in the same pass and hands the `appendonlydir/`'s parts over in manifest order: a
//! part that comes in that order is read into memory and handed over at once, never written
//! anywhere; only a part that comes early (before the manifest, or before a part that loads
//! earlier) is written to a private temporary directory (mode 0700, made on first use, removed
//! when the [`Spilled`] is dropped or on an interrupt) and handed over when its turn comes.
//! `verify` reads every backup of an archive in that pass ([`open_streaming`],
//! [`Paused::replay_parts_with`]): a standalone RDB member as it is read, the
//! `appendonlydir/`'s parts as they are handed over; it unpacks only a single-file AOF or a
//! second `appendonlydir/`. Consumers that read files (the AOF checker of a damaged manifest)
//! unpack every backup member — content starting with an RDB magic, a manifest, RESP, or empty
//! (an incr file with no command yet) — with [`Paused::unpack`]; other members are read through
//! and skipped. The total
//! written is capped ([`spill_limit`]: `--spill-limit`, `RDBKIT_SPILL_LIMIT`).
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

/// The cap set by `--spill-limit` (it wins over the environment).
static SPILL_FLAG: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Sets the cap from `--spill-limit SIZE` (bytes, or with a `K`/`M`/`G`/`T` suffix).
pub fn set_spill_limit(size: &str) -> Result<(), String> {
    let n = parse_size(size)
        .ok_or_else(|| format!("--spill-limit {size:?}: not a size (e.g. 500M, 20G)"))?;
    let _ = SPILL_FLAG.set(n);
    Ok(())
}

/// The cap on spilled bytes: `--spill-limit`, else `RDBKIT_SPILL_LIMIT` (bytes, or with a
/// `K`/`M`/`G`/`T` suffix), else [`DEFAULT_SPILL_LIMIT`].
pub fn spill_limit() -> Result<u64, String> {
    if let Some(n) = SPILL_FLAG.get() {
        return Ok(*n);
    }
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
    /// Made on the first member written (none when nothing was).
    dir: Option<tempfile::TempDir>,
    /// The archive's name, for messages.
    pub archive: String,
    /// Members written, in archive order.
    pub members: Vec<Member>,
    /// Members read through and not kept (not part of a backup), with why.
    pub skipped: Vec<String>,
    /// Standalone RDB members read in place (see [`open_streaming`]), in archive order.
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
        if let Some(d) = &self.dir {
            unregister_temp(d.path());
        }
    }
}

impl Spilled {
    /// A message or path with the temporary directory replaced by `ARCHIVE:`, so that errors
    /// name the member, never the temporary path.
    pub fn rewrite(&self, s: &str) -> String {
        let Some(d) = &self.dir else {
            return s.to_string();
        };
        let root = d.path().display().to_string();
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
            .filter(|m| is_manifest(Path::new(&m.name), &m.head))
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
                    let root = self.dir.as_ref().map(|t| t.path().to_path_buf());
                    out.push(Found::AofDir {
                        member,
                        path: root.unwrap_or_default().join(d),
                    });
                }
                continue;
            }
            if m.head.is_empty() {
                continue;
            }
            let found = match crate::sniff::kind_of(&m.head) {
                Some(crate::sniff::Kind::Rdb) => Found::Rdb {
                    member: m.name.clone(),
                    path: m.path.clone(),
                },
                Some(crate::sniff::Kind::Aof) => Found::Aof {
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

/// Whether a member is an AOF manifest: named `*.manifest` (as the server and `verify` on a
/// directory find it, so a manifest whose first line is damaged is still one: the data set is
/// then refused as the server refuses it), or with a manifest's content.
fn is_manifest(rel: &Path, head: &[u8]) -> bool {
    rel.extension().is_some_and(|x| x == "manifest") || looks_like_manifest(head)
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
/// [`open_streaming`].
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

/// The (decompressed) tar stream, counting the bytes read: a walk over its members can stop
/// after one member ([`Flow::Pause`]) and a later walk go on at the next header, in the same
/// single pass (tar members are 512-byte aligned and the `tar` crate reads no further ahead
/// than the header or data it hands out).
pub struct TarStream {
    inner: Box<dyn Read>,
    pos: u64,
}

impl TarStream {
    /// The tar data (decompressed), from its first header.
    pub fn new(inner: Box<dyn Read>) -> TarStream {
        TarStream { inner, pos: 0 }
    }

    /// Skips the padding after the last member read, to the next 512-byte header.
    fn align(&mut self) -> io::Result<()> {
        let pad = (512 - self.pos % 512) % 512;
        let n = io::copy(&mut (&mut *self).take(pad), &mut io::sink())?;
        if n < pad {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

impl Read for TarStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.pos += k as u64;
        Ok(k)
    }
}

/// A member a walk hands to its handler: a regular file that passed the safety checks and
/// can be part of a backup.
pub struct MemberCtx<'a> {
    /// The archive's name.
    pub archive: &'a str,
    /// Its path in the archive, normalised to safe relative components.
    pub rel: &'a Path,
    /// Its name as read (control bytes escaped), for messages.
    pub shown: &'a str,
    /// Its size from the header (never trusted to allocate).
    pub size: u64,
    /// Its first bytes (up to 4 KiB); the reader handed with it gives the rest.
    pub head: &'a [u8],
    /// Offset of its header in the (decompressed) tar stream.
    pub at: u64,
}

impl MemberCtx<'_> {
    /// A message naming the archive, the member and its header offset.
    pub fn what(&self, why: &str) -> String {
        format!(
            "{}: member {} (header at byte {}): {why}",
            self.archive, self.shown, self.at
        )
    }

    /// The whole member in memory (`head` then the rest of `r`), or an error naming it when
    /// the archive ends inside it. Memory grows with the bytes actually read, never with the
    /// size the header claims.
    pub fn read_all(&self, r: &mut dyn Read) -> Result<Vec<u8>, String> {
        let mut data = Vec::new();
        data.try_reserve(self.size.min(64 << 20) as usize)
            .map_err(|_| self.what("out of memory"))?;
        data.extend_from_slice(self.head);
        let rest = self.size.saturating_sub(self.head.len() as u64);
        r.take(rest)
            .read_to_end(&mut data)
            .map_err(|err| self.what(&format!("can't be read: {err}")))?;
        if (data.len() as u64) < self.size {
            return Err(self.what(&format!(
                "truncated: the archive ends {} bytes into its {} bytes",
                data.len(),
                self.size
            )));
        }
        Ok(data)
    }
}

/// What a walk does after a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the next member.
    Next,
    /// Stop here; the stream is left at the next header (see [`TarStream`]).
    Pause,
    /// Stop inside this member: the stream is left right after what the handler read of it
    /// (its head), the rest of its data not read (see [`RdbMember`]).
    Inside,
}

/// Walks the members of `ts` from where it stands: refuses hostile members (with their name
/// and header offset), reads through and lists in `skipped` the members that cannot be part
/// of a backup, and hands every other regular file to `f` with a reader over the rest of its
/// data (what `f` leaves unread is read through; an archive that ends inside a member is an
/// error). Returns `true` when the archive ended (its compressed end checked too), `false`
/// when `f` paused it ([`Flow::Pause`], or [`Flow::Inside`]: the member's data left unread).
fn walk(
    name: &str,
    ts: &mut TarStream,
    last: &mut String,
    skipped: &mut Vec<String>,
    f: &mut dyn FnMut(&MemberCtx<'_>, &mut dyn Read) -> Result<Flow, String>,
) -> Result<bool, String> {
    let base = ts.pos;
    let mut ar = tar::Archive::new(&mut *ts);
    let entries = ar
        .entries()
        .map_err(|e| format!("{name}: not a readable tar archive: {e}"))?;
    let mut paused = false;
    for e in entries {
        let mut e = e.map_err(|err| {
            format!("{name}: tar archive damaged or truncated after member {last}: {err}")
        })?;
        let raw = e.path_bytes().into_owned();
        let shown = show(&raw);
        let at = base + e.raw_header_position();
        let what = |why: &str| format!("{name}: member {shown} (header at byte {at}): {why}");
        let ty = e.header().entry_type();
        let rel = safe_relative(&raw).map_err(|why| what(&why))?;
        use tar::EntryType as T;
        match ty {
            T::Directory => {
                *last = shown;
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
            || is_manifest(&rel, &head)
            || matches!(head.first(), Some(b'*') | Some(b'#'));
        let mut read = head.len() as u64;
        let flow = if keep {
            let ctx = MemberCtx {
                archive: name,
                rel: &rel,
                shown: &shown,
                size,
                head: &head,
                at,
            };
            let mut c = CountedRef {
                inner: &mut e,
                n: 0,
            };
            let flow = f(&ctx, &mut c)?;
            if flow == Flow::Inside {
                // The caller reads the rest of this member, then walks on.
                return Ok(false);
            }
            read += c.n;
            flow
        } else {
            skipped.push(format!("{shown} (not an RDB, AOF or manifest)"));
            Flow::Next
        };
        // Read through what is left of it (the archive is a stream).
        read += io::copy(&mut e, &mut io::sink())
            .map_err(|err| what(&format!("can't be read: {err}")))?;
        if read < size {
            return Err(what(&format!(
                "truncated: the archive ends {read} bytes into its {size} bytes"
            )));
        }
        *last = shown;
        if flow == Flow::Pause {
            paused = true;
            break;
        }
    }
    if paused {
        ts.align().map_err(|err| {
            format!("{name}: tar archive damaged or truncated after member {last}: {err}")
        })?;
        return Ok(false);
    }
    // The end-of-archive blocks were read; a compressed archive must also end cleanly.
    io::copy(&mut ar.into_inner(), &mut io::sink())
        .map_err(|err| format!("{name}: after the last member ({last}): {err}"))?;
    Ok(true)
}

impl Spilled {
    fn new(name: &str) -> Spilled {
        Spilled {
            dir: None,
            archive: name.to_string(),
            members: Vec::new(),
            skipped: Vec::new(),
            streamed: Vec::new(),
            bytes: 0,
        }
    }

    /// The private temporary directory, made (and registered for removal) on first use.
    fn root(&mut self) -> Result<PathBuf, String> {
        if let Some(d) = &self.dir {
            return Ok(d.path().to_path_buf());
        }
        let d = tempfile::Builder::new()
            .prefix("rdbkit-archive-")
            .tempdir()
            .map_err(|e| {
                format!(
                    "{}: can't create a temporary directory to unpack into: {e}",
                    self.archive
                )
            })?;
        register_temp(d.path());
        let p = d.path().to_path_buf();
        self.dir = Some(d);
        Ok(p)
    }

    /// Whether a member of this name was already kept (spilled or streamed).
    fn has(&self, rel: &Path) -> bool {
        self.members.iter().any(|m| Path::new(&m.name) == rel)
            || self.streamed.iter().any(|m| Path::new(m) == rel)
    }

    /// Writes the member (its head, then the rest of `r`) to the temporary directory, within
    /// the cap.
    fn write(&mut self, ctx: &MemberCtx<'_>, r: &mut dyn Read, limit: u64) -> Result<(), String> {
        let size = ctx.size;
        if size > limit.saturating_sub(self.bytes) {
            return Err(ctx.what(&format!(
                "{size} bytes would pass the cap on unpacked bytes ({} already, cap {limit}; \
                 raise it with --spill-limit or RDBKIT_SPILL_LIMIT, e.g. --spill-limit 200G)",
                self.bytes
            )));
        }
        if self.has(ctx.rel) {
            return Err(
                ctx.what("a second member with this name: refused (which one is the backup?)")
            );
        }
        let path = self.root()?.join(ctx.rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|err| ctx.what(&format!("can't create its directory: {err}")))?;
        }
        // create_new: never follows or replaces anything already there.
        let mut f: File = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|err| ctx.what(&format!("can't unpack: {err}")))?;
        f.write_all(ctx.head)
            .map_err(|err| ctx.what(&format!("can't unpack: {err}")))?;
        let rest = size.saturating_sub(ctx.head.len() as u64);
        let n = io::copy(&mut r.take(rest), &mut f)
            .map_err(|err| ctx.what(&format!("can't be read: {err}")))?;
        if n < rest {
            return Err(ctx.what(&format!(
                "truncated: the archive ends {} bytes into its {size} bytes",
                ctx.head.len() as u64 + n
            )));
        }
        self.bytes += size;
        self.members.push(Member {
            name: ctx.rel.display().to_string(),
            path,
            head: ctx.head.to_vec(),
        });
        Ok(())
    }
}

/// The error a part the manifest names and the archive lacks gives (`name`: its
/// `ARCHIVE:MEMBER` name), as reading the unpacked directory says it.
pub fn missing_part(name: &str) -> String {
    rdbkit_aof::Error::io(Path::new(name), io::Error::from_raw_os_error(2)).to_string()
}

/// An archive read up to the manifest of an `appendonlydir/` (the members before it written to
/// the temporary directory), the rest not read yet: [`Paused::replay_parts`] goes on in the
/// same pass, handing over the parts in manifest order.
pub struct Paused {
    ts: TarStream,
    /// The members read so far (none written when the manifest came first).
    pub spilled: Spilled,
    /// The manifest's path in the archive.
    pub manifest: PathBuf,
    manifest_bytes: Vec<u8>,
    last: String,
    limit: u64,
}

/// An archive opened for reading: wholly unpacked, or paused at an `appendonlydir/`'s
/// manifest.
pub enum Opened {
    /// No manifest named `*.manifest` was met: every backup member is in the temporary
    /// directory.
    Spilled(Spilled),
    /// Paused right after a manifest; its parts are still to come (or were written out).
    Paused(Box<Paused>),
    /// Paused inside a standalone RDB member met before any other backup (see
    /// [`open_rdb_in_pass`]): its data is read from the [`RdbMember`].
    Rdb(Box<RdbMember>),
}

/// The largest manifest held in memory (a server's is a few lines per AOF file).
const MAX_MANIFEST: u64 = 64 << 20;

/// Reads the archive `r` up to the first manifest named `*.manifest` (an `appendonlydir/`: a
/// server with `appendonly yes` loads it, whatever else the archive holds), writing the backup
/// members before it to the temporary directory (within `limit` bytes); an archive with no
/// such manifest is read to its end.
pub fn open(name: &str, r: Box<dyn Read>, limit: u64) -> Result<Opened, String> {
    open_streaming(name, r, limit, None)
}

/// Whether a member is a standalone RDB (a `dump.rdb`): RDB content that is not the base of an
/// `appendonlydir/` (no `aof-preamble` 1, no `aof-base` 1), in a directory whose manifest (if
/// any) was not met before it.
fn standalone_rdb(ctx: &MemberCtx<'_>, manifest_dirs: &[PathBuf]) -> bool {
    let dir = ctx.rel.parent().map(Path::to_path_buf).unwrap_or_default();
    crate::sniff::kind_of(ctx.head) == Some(crate::sniff::Kind::Rdb)
        && !crate::sniff::aux_is(ctx.head, b"aof-base", b"1")
        && !manifest_dirs.contains(&dir)
}

/// [`open`], handing a standalone RDB member (see [`standalone_rdb`]) met before the manifest
/// to `stream_rdb` as it is read (its name is then in [`Spilled::streamed`]), instead of
/// writing it out: `verify` reads a whole data directory's archive (`dump.rdb` +
/// `appendonlydir/`) in one pass.
pub fn open_streaming(
    name: &str,
    r: Box<dyn Read>,
    limit: u64,
    stream_rdb: Option<StreamRdb<'_>>,
) -> Result<Opened, String> {
    let sp = Spilled::new(name);
    let ts = TarStream::new(r);
    open_from(sp, ts, String::from("(the start)"), limit, stream_rdb, None)
}

/// [`open`] for a one-data-set command that reads an RDB as a stream: a standalone RDB member
/// (see [`standalone_rdb`]) met before any other backup member and before any manifest is
/// handed over as it is read ([`Opened::Rdb`]: nothing written), the rest of the archive read
/// after it ([`RdbMember::finish`]). `surveyed`: the archive is known to hold that one RDB
/// ([`holds_one_rdb`]), so an `appendonlydir/`'s base (`aof-base` 1) is one too.
pub fn open_rdb_in_pass(
    name: &str,
    r: Box<dyn Read>,
    limit: u64,
    surveyed: bool,
) -> Result<Opened, String> {
    let sp = Spilled::new(name);
    let ts = TarStream::new(r);
    let start = String::from("(the start)");
    open_from(sp, ts, start, limit, None, Some(surveyed))
}

/// The walk of [`open_streaming`] and [`open_rdb_in_pass`] from where `ts` stands (`sp`: what
/// was kept so far): up to the first manifest named `*.manifest`, or (`inside`) into the first
/// standalone RDB member when no backup member was kept before it (`inside == Some(true)`:
/// any RDB that is not an AOF's preamble, see [`lone_rdb`]).
fn open_from(
    mut sp: Spilled,
    mut ts: TarStream,
    mut last: String,
    limit: u64,
    mut stream_rdb: Option<StreamRdb<'_>>,
    inside: Option<bool>,
) -> Result<Opened, String> {
    let name = sp.archive.clone();
    let mut manifest: Option<(PathBuf, Vec<u8>)> = None;
    let mut member: Option<(PathBuf, String, u64, u64, Vec<u8>)> = None;
    let mut skipped = Vec::new();
    let ended = walk(&name, &mut ts, &mut last, &mut skipped, &mut |ctx, r| {
        // By its name, as the server finds it (a damaged one too: it then refuses it).
        let named = ctx.rel.extension().is_some_and(|x| x == "manifest");
        if named && !sp.has(ctx.rel) {
            if ctx.size > MAX_MANIFEST {
                return Err(ctx.what(&format!(
                    "a manifest of {} bytes: refused (more than {MAX_MANIFEST} bytes is not a \
                     manifest a server wrote)",
                    ctx.size
                )));
            }
            manifest = Some((ctx.rel.to_path_buf(), ctx.read_all(r)?));
            return Ok(Flow::Pause);
        }
        let rdb = match inside {
            None => false,
            Some(true) => lone_rdb(ctx),
            Some(false) => standalone_rdb(ctx, &[]),
        };
        if rdb && !sp.has(ctx.rel) && sp.members.iter().all(|m| m.head.is_empty()) {
            let at = ctx.at;
            member = Some((
                ctx.rel.to_path_buf(),
                ctx.shown.to_string(),
                at,
                ctx.size,
                ctx.head.to_vec(),
            ));
            return Ok(Flow::Inside);
        }
        if let Some(cb) = stream_rdb.as_mut() {
            if !sp.has(ctx.rel) && standalone_rdb(ctx, &[]) {
                let mut data = io::Cursor::new(ctx.head).chain(r);
                cb(&ctx.rel.display().to_string(), &mut data);
                sp.streamed.push(ctx.rel.display().to_string());
                return Ok(Flow::Next);
            }
        }
        sp.write(ctx, r, limit)?;
        Ok(Flow::Next)
    })?;
    sp.skipped.extend(skipped);
    if let Some((rel, shown, at, size, head)) = member {
        let left = size.saturating_sub(head.len() as u64);
        return Ok(Opened::Rdb(Box::new(RdbMember {
            ts: Some(ts),
            spilled: Some(sp),
            rel,
            shown,
            at,
            size,
            head,
            served: 0,
            left,
            err: None,
            limit,
            surveyed: inside == Some(true),
        })));
    }
    match manifest {
        Some((path, bytes)) if !ended => Ok(Opened::Paused(Box::new(Paused {
            ts,
            spilled: sp,
            manifest: path,
            manifest_bytes: bytes,
            last,
            limit,
        }))),
        _ => Ok(Opened::Spilled(sp)),
    }
}

/// An RDB member that is not an AOF (no `aof-preamble` 1): alone in an archive, a one-data-set
/// command reads it as an RDB, an `appendonlydir/`'s base (`aof-base` 1) too.
fn lone_rdb(ctx: &MemberCtx<'_>) -> bool {
    crate::sniff::kind_of(ctx.head) == Some(crate::sniff::Kind::Rdb)
}

/// Whether the archive `r` holds a single backup, an RDB member (see [`lone_rdb`]), and ends
/// cleanly: a survey of its headers (each member's data read
/// through, nothing written), stopped at the first manifest or second backup. Any damage is
/// `false`: the caller then opens it as [`open`] does, which reports it.
pub fn holds_one_rdb(name: &str, r: Box<dyn Read>) -> bool {
    let mut ts = TarStream::new(r);
    let (mut last, mut skipped) = (String::new(), Vec::new());
    let (mut rdbs, mut others) = (0usize, 0usize);
    let ended = walk(name, &mut ts, &mut last, &mut skipped, &mut |ctx, _| {
        if ctx.head.is_empty() {
            return Ok(Flow::Next);
        }
        if !is_manifest(ctx.rel, ctx.head) && lone_rdb(ctx) {
            rdbs += 1;
        } else {
            others += 1;
        }
        Ok(if rdbs > 1 || others > 0 {
            Flow::Pause
        } else {
            Flow::Next
        })
    });
    matches!(ended, Ok(true)) && rdbs == 1 && others == 0
}

/// Says on stderr that an archive's RDB member was read as a stream in the archive's pass.
pub fn say_streamed(archive: &str, member: &str) {
    eprintln!(
        "rdbkit: {archive}: member {member} read in the archive's pass; nothing unpacked to disk"
    );
}

/// A standalone RDB member (a `dump.rdb`) read as a stream in the archive's single pass (see
/// [`open_rdb_in_pass`]): its bytes, then [`finish`](Self::finish) reads the rest of the
/// archive. A read error or an archive that ends inside it is named with the member.
pub struct RdbMember {
    ts: Option<TarStream>,
    spilled: Option<Spilled>,
    rel: PathBuf,
    shown: String,
    at: u64,
    size: u64,
    head: Vec<u8>,
    /// Bytes of `head` handed out.
    served: usize,
    /// Bytes of the member still unread in `ts`.
    left: u64,
    /// The first read error (worded with the member), returned again by `finish`.
    err: Option<String>,
    limit: u64,
    surveyed: bool,
}

impl RdbMember {
    /// `ARCHIVE:MEMBER`, as errors name it.
    pub fn name(&self) -> String {
        format!(
            "{}:{}",
            self.spilled.as_ref().map_or("", |s| s.archive.as_str()),
            self.rel.display()
        )
    }

    /// The archive's name.
    pub fn archive(&self) -> &str {
        self.spilled.as_ref().map_or("", |s| s.archive.as_str())
    }

    /// Whether the archive was surveyed first and holds this RDB alone (see
    /// [`open_rdb_in_pass`]).
    pub fn surveyed(&self) -> bool {
        self.surveyed
    }

    /// Says on stderr that the member is read as a stream in the archive's pass.
    pub fn say_streamed(&self) {
        say_streamed(self.archive(), &self.member());
    }

    /// The member's path in the archive.
    pub fn member(&self) -> String {
        self.rel.display().to_string()
    }

    /// The member's size (from its header).
    pub fn size(&self) -> u64 {
        self.size
    }

    fn what(&self, why: &str) -> String {
        format!(
            "{}: member {} (header at byte {}): {why}",
            self.archive(),
            self.shown,
            self.at
        )
    }

    /// Reads what is left of the member, then the rest of the archive (its hostile members
    /// refused, its end checked, a compressed end too). `Ok(None)`: the member was the
    /// archive's only backup. `Ok(Some(opened))`: the archive holds other backups after it
    /// (an `appendonlydir/`, another RDB or AOF), opened as [`open`] opens them, the member
    /// listed among them (not written anywhere): a one-data-set command then reads what
    /// [`open`] would have read.
    pub fn finish(mut self) -> Result<Option<Opened>, String> {
        if let Some(e) = self.err.take() {
            return Err(e);
        }
        let mut rest = io::sink();
        io::copy(&mut self, &mut rest).map_err(|_| self.err.clone().unwrap_or_default())?;
        let (Some(mut ts), Some(mut sp)) = (self.ts.take(), self.spilled.take()) else {
            return Ok(None);
        };
        let last = self.shown.clone();
        ts.align().map_err(|err| {
            format!(
                "{}: tar archive damaged or truncated after member {last}: {err}",
                sp.archive
            )
        })?;
        // Listed as a backup the archive holds (for the messages and for `backups`), with no
        // path: it was read, not written.
        sp.streamed.push(self.rel.display().to_string());
        sp.members.push(Member {
            name: self.rel.display().to_string(),
            path: PathBuf::new(),
            head: std::mem::take(&mut self.head),
        });
        let opened = open_from(sp, ts, last, self.limit, None, None)?;
        Ok(match opened {
            Opened::Spilled(sp) if sp.backups().len() == 1 => None,
            o => Some(o),
        })
    }
}

impl Read for RdbMember {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = &self.err {
            return Err(io::Error::other(e.clone()));
        }
        if let Some(h) = self.head.get(self.served..).filter(|h| !h.is_empty()) {
            let n = h.len().min(buf.len());
            buf[..n].copy_from_slice(&h[..n]);
            self.served += n;
            return Ok(n);
        }
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let Some(ts) = self.ts.as_mut() else {
            return Ok(0);
        };
        let want = (buf.len() as u64).min(self.left) as usize;
        let res = loop {
            match ts.read(&mut buf[..want]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        match res {
            Ok(0) => {
                let got = self.size - self.left;
                let e = self.what(&format!(
                    "truncated: the archive ends {got} bytes into its {} bytes",
                    self.size
                ));
                self.err = Some(e.clone());
                Err(io::Error::new(io::ErrorKind::UnexpectedEof, e))
            }
            Ok(n) => {
                self.left -= n as u64;
                Ok(n)
            }
            Err(err) => {
                let e = self.what(&format!("can't be read: {err}"));
                self.err = Some(e.clone());
                Err(io::Error::new(err.kind(), e))
            }
        }
    }
}

/// Called with each part of an `appendonlydir/` (its `ARCHIVE:MEMBER` name and a reader of
/// its bytes), in load order, by [`Paused::replay_parts`]. The reader fails as reading the
/// whole member first fails ([`MemberCtx::read_all`]'s errors: the archive ending inside it,
/// a read error); whatever the callback leaves unread is read through after it, and such an
/// error then wins over what the callback returns (damage it met before the archive's).
pub type OnPart<'a> = &'a mut dyn FnMut(&str, &mut dyn Read) -> Result<(), String>;

/// Called with each part of an `appendonlydir/` (its `ARCHIVE:MEMBER` name and a reader of its
/// bytes, to be read to the end), in load order, by [`Paused::stream_parts`]. A read error
/// makes the replay fail naming the member, whatever the callback returns.
pub type OnPartRead<'a> = &'a mut dyn FnMut(&str, &mut dyn Read) -> Result<(), String>;

/// How the parts are handed over: whole, or as a reader.
enum Sink<'a> {
    Bytes(OnPart<'a>),
    Read(OnPartRead<'a>),
}

impl Sink<'_> {
    /// Hands over a member read from the archive (`ctx`, `r`: the walk's).
    fn member(&mut self, ctx: &MemberCtx<'_>, shown: &str, r: &mut dyn Read) -> Result<(), String> {
        match self {
            Sink::Bytes(f) => {
                let mut g = WholeMember {
                    ctx,
                    inner: io::Cursor::new(ctx.head).chain(r),
                    got: 0,
                    err: None,
                };
                let res = f(shown, &mut g);
                if g.err.is_none() {
                    let _ = io::copy(&mut g, &mut io::sink());
                }
                match g.err {
                    Some(e) => Err(e),
                    None => res,
                }
            }
            Sink::Read(f) => {
                let mut g = ReadError {
                    inner: io::Cursor::new(ctx.head).chain(r),
                    err: None,
                };
                let res = f(shown, &mut g);
                // A read error is the archive's (what `read_all` says of it).
                if let Some(e) = g.err {
                    return Err(ctx.what(&format!("can't be read: {e}")));
                }
                res
            }
        }
    }

    /// Hands over a part written to the temporary directory (`path`).
    fn spilled(&mut self, shown: &str, path: &Path) -> Result<u64, String> {
        match self {
            Sink::Bytes(f) => {
                let data = rdbkit_aof::multipart::FileData::open(path)
                    .map_err(|e| format!("{shown}: {e}"))?;
                f(shown, &mut data.bytes())?;
                Ok(data.bytes().len() as u64)
            }
            Sink::Read(f) => {
                let file = std::fs::File::open(path)
                    .map_err(|e| format!("{shown}: {}", rdbkit_aof::Error::io(path, e)))?;
                let mut g = ReadError {
                    inner: io::BufReader::with_capacity(1 << 20, file),
                    err: None,
                };
                let res = f(shown, &mut g);
                if let Some(e) = g.err {
                    return Err(format!("{shown}: {}", rdbkit_aof::Error::io(path, e)));
                }
                res?;
                Ok(std::fs::metadata(path).map_or(0, |m| m.len()))
            }
        }
    }
}

/// A member's bytes as [`MemberCtx::read_all`] reads them (`head`, then the rest), failing
/// with its errors: a read error, or the archive ending inside the member.
struct WholeMember<'c, R> {
    ctx: &'c MemberCtx<'c>,
    inner: R,
    got: u64,
    err: Option<String>,
}

impl<R: Read> Read for WholeMember<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = &self.err {
            return Err(io::Error::other(e.clone()));
        }
        match self.inner.read(buf) {
            Ok(0) if !buf.is_empty() && self.got < self.ctx.size => {
                let e = self.ctx.what(&format!(
                    "truncated: the archive ends {} bytes into its {} bytes",
                    self.got, self.ctx.size
                ));
                self.err = Some(e.clone());
                Err(io::Error::new(io::ErrorKind::UnexpectedEof, e))
            }
            Ok(n) => {
                self.got += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(err) => {
                let e = self.ctx.what(&format!("can't be read: {err}"));
                self.err = Some(e.clone());
                Err(io::Error::new(err.kind(), e))
            }
        }
    }
}

/// A reader that keeps its first error (a consumer may word it its own way).
struct ReadError<R> {
    inner: R,
    err: Option<io::Error>,
}

impl<R: Read> Read for ReadError<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.err.get_or_insert(e);
                Err(copy)
            }
        }
    }
}

/// What [`Paused::replay_parts`] did, for its message.
#[derive(Debug, Default)]
pub struct PartsRead {
    /// Parts handed over as the archive was read, never written anywhere.
    pub streamed: usize,
    /// Parts written to the temporary directory first (the archive holds them before the
    /// manifest or before a part that loads earlier), and their bytes.
    pub spilled: usize,
    /// Bytes of those.
    pub spilled_bytes: u64,
    /// Other backups met after the manifest: (member, is an AOF).
    pub others: Vec<(String, bool)>,
    /// The first part the manifest names and the archive lacks (`ARCHIVE:MEMBER`), if any
    /// ([`Paused::replay_parts_with`] only: [`Paused::replay_parts`] makes it an error).
    pub missing: Option<String>,
}

impl Paused {
    /// The manifest's bytes, as the archive holds them.
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest_bytes
    }

    /// The `appendonlydir/` as a member name (`appendonlydir/`, or `.` at the archive's root).
    pub fn dir_member(&self) -> String {
        match self.manifest.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(d) => format!("{}/", d.display()),
            None => ".".into(),
        }
    }

    /// Goes on reading the archive and hands every part of the manifest to `on_part` (its
    /// `ARCHIVE:MEMBER` name and bytes), in the manifest's load order (base, then incr files):
    /// a part that comes in that order is read in memory and handed over at once; one that
    /// comes before a part that loads earlier is written to the temporary directory (within
    /// the cap) and handed over when its turn comes. Members outside the directory are read
    /// through (backups among them are listed in [`PartsRead::others`]). Errors are one line
    /// naming the archive and member.
    pub fn replay_parts(self, on_part: OnPart<'_>) -> Result<PartsRead, String> {
        let (read, _) = self.replay_parts_with(on_part, None)?;
        match read.missing {
            Some(part) => Err(missing_part(&part)),
            None => Ok(read),
        }
    }

    /// [`replay_parts`](Self::replay_parts) for a consumer of every backup the archive holds
    /// (`verify`): with `on_other`, a standalone RDB member met after the manifest is handed to
    /// it as it is read, and the other backup members outside the `appendonlydir/` (a
    /// single-file AOF, another `appendonlydir/`) are written to the temporary directory; the
    /// [`Spilled`] returned holds them (and keeps them until it is dropped). A part the archive
    /// lacks ends the parts handed over and is named in [`PartsRead::missing`].
    pub fn replay_parts_with(
        self,
        on_part: OnPart<'_>,
        on_other: Option<StreamRdb<'_>>,
    ) -> Result<(PartsRead, Spilled), String> {
        self.replay(Sink::Bytes(on_part), on_other)
    }

    /// [`replay_parts`](Self::replay_parts) handing each part over as a reader of its bytes
    /// instead of in memory: a consumer that reads a part as a stream (`check`: see
    /// `rdbkit_aof::stream::check_part_stream`) holds none of it. A part the archive lacks
    /// ends the parts handed over and is named in [`PartsRead::missing`].
    pub fn stream_parts(self, on_part: OnPartRead<'_>) -> Result<PartsRead, String> {
        Ok(self.replay(Sink::Read(on_part), None)?.0)
    }

    fn replay(
        mut self,
        mut sink: Sink<'_>,
        mut on_other: Option<StreamRdb<'_>>,
    ) -> Result<(PartsRead, Spilled), String> {
        let archive = self.spilled.archive.clone();
        let shown = |p: &Path| format!("{archive}:{}", p.display());
        let m = rdbkit_aof::manifest::parse(&self.manifest_bytes).map_err(|source| {
            format!(
                "{archive}:{}: {}",
                self.dir_member(),
                rdbkit_aof::Error::Manifest {
                    path: PathBuf::from(shown(&self.manifest)),
                    source,
                }
            )
        })?;
        let parts = rdbkit_aof::multipart::files_of(&self.manifest, &m);
        let dir = self
            .manifest
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut out = PartsRead::default();
        // Backups outside the directory: (member, is an AOF).
        let other = |rel: &Path, head: &[u8]| match crate::sniff::kind_of(head) {
            Some(crate::sniff::Kind::Rdb) => Some((rel.display().to_string(), false)),
            Some(crate::sniff::Kind::Aof) => Some((rel.display().to_string(), true)),
            Some(_) => Some((
                match rel.parent() {
                    Some(p) if !p.as_os_str().is_empty() => format!("{}/", p.display()),
                    _ => ".".into(),
                },
                true,
            )),
            None => None,
        };
        for m in &self.spilled.members {
            if Path::new(&m.name).parent() != Some(dir.as_path()) && !m.head.is_empty() {
                out.others.extend(other(Path::new(&m.name), &m.head));
            }
        }
        let mut next = 0usize;
        let sp = &mut self.spilled;
        // Hands over the parts already written out whose turn has come.
        let drain = |sp: &Spilled, next: &mut usize, out: &mut PartsRead, sink: &mut Sink| {
            while let Some(f) = parts.get(*next) {
                let Some(m) = sp.members.iter().find(|m| Path::new(&m.name) == f.path) else {
                    break;
                };
                out.spilled_bytes += sink.spilled(&shown(&f.path), &m.path)?;
                out.spilled += 1;
                *next += 1;
            }
            Ok::<(), String>(())
        };
        drain(sp, &mut next, &mut out, &mut sink)?;
        let mut skipped = Vec::new();
        let (limit, manifest) = (self.limit, self.manifest.clone());
        walk(
            &archive,
            &mut self.ts,
            &mut self.last,
            &mut skipped,
            &mut |ctx, r| {
                let in_dir = ctx.rel.parent().is_some_and(|p| p == dir);
                match parts.iter().position(|f| f.path == ctx.rel) {
                    Some(_) if sp.has(ctx.rel) => Err(ctx.what(
                        "a second member with this name: refused (which one is the backup?)",
                    )),
                    Some(i) if i == next => {
                        sp.streamed.push(ctx.rel.display().to_string());
                        sink.member(ctx, &shown(ctx.rel), r)?;
                        out.streamed += 1;
                        next += 1;
                        drain(sp, &mut next, &mut out, &mut sink)?;
                        Ok(Flow::Next)
                    }
                    // Before its turn (or a part whose turn passed: refused as a second one).
                    Some(_) => {
                        sp.write(ctx, r, limit)?;
                        Ok(Flow::Next)
                    }
                    None if ctx.rel == manifest => Err(ctx.what(
                        "a second member with this name: refused (which one is the backup?)",
                    )),
                    None if in_dir && is_manifest(ctx.rel, ctx.head) => Err(ctx.what(&format!(
                        "a second manifest beside {0}: refused, either could be the backup's: \
                         extract the archive and name the manifest to read (`rdbkit aof check \
                         DIR/{1}`), or pack the archive again without the other",
                        manifest.display(),
                        manifest.file_name().unwrap_or_default().to_string_lossy()
                    ))),
                    None if in_dir => {
                        sp.skipped
                            .push(format!("{} (not named by the manifest)", ctx.shown));
                        Ok(Flow::Next)
                    }
                    None => {
                        if !ctx.head.is_empty() {
                            out.others.extend(other(ctx.rel, ctx.head));
                        }
                        let Some(cb) = on_other.as_mut() else {
                            return Ok(Flow::Next);
                        };
                        if sp.has(ctx.rel) {
                            return Err(ctx.what(
                                "a second member with this name: refused (which one is the \
                                 backup?)",
                            ));
                        }
                        let manifest_dirs: Vec<PathBuf> = sp
                            .members
                            .iter()
                            .filter(|m| is_manifest(Path::new(&m.name), &m.head))
                            .map(|m| PathBuf::from(parent_of(&m.name)))
                            .collect();
                        if standalone_rdb(ctx, &manifest_dirs) {
                            let mut data = io::Cursor::new(ctx.head).chain(r);
                            cb(&ctx.rel.display().to_string(), &mut data);
                            sp.streamed.push(ctx.rel.display().to_string());
                        } else {
                            sp.write(ctx, r, limit)?;
                        }
                        Ok(Flow::Next)
                    }
                }
            },
        )?;
        self.spilled.skipped.extend(skipped);
        out.missing = parts.get(next).map(|f| shown(&f.path));
        Ok((out, self.spilled))
    }

    /// Reads the rest of the archive writing every backup member out (the manifest too): for
    /// consumers that read files (the AOF checker on a damaged manifest).
    pub fn unpack(mut self) -> Result<Spilled, String> {
        let archive = self.spilled.archive.clone();
        let ctx = MemberCtx {
            archive: &archive,
            rel: &self.manifest,
            shown: &self.manifest.display().to_string(),
            size: self.manifest_bytes.len() as u64,
            head: &self.manifest_bytes,
            at: 0,
        };
        self.spilled.write(&ctx, &mut io::empty(), self.limit)?;
        let mut skipped = Vec::new();
        let (sp, limit) = (&mut self.spilled, self.limit);
        walk(
            &archive,
            &mut self.ts,
            &mut self.last,
            &mut skipped,
            &mut |ctx, r| {
                sp.write(ctx, r, limit)?;
                Ok(Flow::Next)
            },
        )?;
        self.spilled.skipped.extend(skipped);
        Ok(self.spilled)
    }
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
