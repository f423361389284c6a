//! Which files make up an AOF data set, in load order, and iterating their commands.
//!
//! Inputs: a single (pre-7.0 style) file, a 7.x manifest, an `appendonlydir/`, or a data
//! directory holding either. Load order is the server's: the base, then the incr files in
//! manifest order; history entries are ignored. The upgrade path: a top-level `appendonly.aof`
//! with no directory or manifest beside it is the whole data set (the server adopts it as base).

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::manifest::{self, Manifest};
use crate::resp::{has_rdb_magic, Item, SliceReader};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// What part a file plays in a data set.
pub enum Role {
    /// A pre-7.0 style file, or any file checked on its own.
    Single,
    /// The base file (RDB or AOF), loaded first.
    Base,
    /// An incremental AOF file, loaded after the base in manifest order.
    Incr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// A file of a data set.
pub struct AofFile {
    /// The name as the manifest gives it (or the path, for a single file).
    pub name: String,
    /// Its path.
    pub path: PathBuf,
    /// Its role.
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// What an AOF path holds.
pub enum Layout {
    /// One file: pre-7.0 AOF (maybe with an RDB preamble), or a base/incr file given directly.
    Single(AofFile),
    /// A manifest and the files it lists (base, then incr, in load order).
    MultiPart {
        /// The manifest's path.
        manifest_path: PathBuf,
        /// The manifest.
        manifest: Manifest,
        /// The files it names, in load order.
        files: Vec<AofFile>,
    },
}

impl Layout {
    /// The files, in load order.
    pub fn files(&self) -> &[AofFile] {
        match self {
            Layout::Single(f) => std::slice::from_ref(f),
            Layout::MultiPart { files, .. } => files,
        }
    }
}

static READ_WITHOUT_MAP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// From now on, [`FileData::open`] reads files with plain reads instead of mapping them: a
/// process that fixes files calls this first, so a file truncated by another process while it
/// is read gives a short read, never a `SIGBUS` (a shared mapping of a file that shrinks faults
/// on the pages past its new end).
pub fn read_without_mapping() {
    READ_WITHOUT_MAP.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Whether [`read_without_mapping`] was called.
pub fn reads_without_mapping() -> bool {
    READ_WITHOUT_MAP.load(std::sync::atomic::Ordering::Relaxed)
}

/// The bytes of a file: memory-mapped, read into memory (see [`read_without_mapping`]), or
/// empty.
pub struct FileData {
    map: Option<memmap2::Mmap>,
    owned: Vec<u8>,
}

impl FileData {
    /// Reads the file at `path` into memory, or maps it when the process allowed mapping
    /// ([`rdbkit_rdb::allow_mapping`], an `unsafe` promise that no other process modifies the
    /// file in place meanwhile) and did not ask for plain reads ([`read_without_mapping`]).
    pub fn open(path: &Path) -> Result<FileData, Error> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len == 0 {
            return Ok(FileData {
                map: None,
                owned: Vec::new(),
            });
        }
        if READ_WITHOUT_MAP.load(std::sync::atomic::Ordering::Relaxed)
            || !rdbkit_rdb::mapping_allowed()
        {
            use std::io::Read;
            let mut owned = Vec::new();
            owned
                .try_reserve_exact(usize::try_from(len).unwrap_or(usize::MAX))
                .map_err(|_| Error::io(path, std::io::ErrorKind::OutOfMemory.into()))?;
            // At most the size seen: a file that grows meanwhile is read as it was.
            file.take(len)
                .read_to_end(&mut owned)
                .map_err(|e| Error::io(path, e))?;
            return Ok(FileData { map: None, owned });
        }
        // SAFETY: the map is read-only and private to this process, and the process promised
        // (`rdbkit_rdb::allow_mapping`, unsafe) that no other process modifies its files in
        // place while they are mapped. Truncation by another process (a live server rewriting
        // its AOF) could still fault the read; the checking commands are meant for files no
        // server is writing, as redis-check-aof is, and every command that writes (fix, the
        // drop-in's --fix) reads without a map instead (`read_without_mapping`). Mapping avoids
        // copying multi-GB AOFs into memory (1.1 GB AOFs are routine).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Ok(FileData {
            map: Some(map),
            owned: Vec::new(),
        })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.map {
            Some(m) => m,
            None => &self.owned,
        }
    }
}

impl Drop for FileData {
    /// Tearing down the page-table entries of a big map read whole is ~15 ms for 377 MB, on the
    /// thread that drops it: the decoder's `unmap` (the one `RdbFile` uses) releases a big
    /// map's halves on two threads.
    fn drop(&mut self) {
        if let Some(map) = self.map.take() {
            rdbkit_rdb::internals::unmap(map);
        }
    }
}

fn name_from_bytes(b: &[u8]) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        PathBuf::from(std::ffi::OsStr::from_bytes(b))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(b).into_owned())
    }
}

/// The files a manifest names, in load order, resolved against the manifest's directory.
pub fn files_of(manifest_path: &Path, m: &Manifest) -> Vec<AofFile> {
    let dir = manifest_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    m.load_order()
        .map(|e| AofFile {
            name: e.file_name_lossy(),
            path: dir.join(name_from_bytes(&e.file)),
            role: if e.file_type == manifest::FileType::Base {
                Role::Base
            } else {
                Role::Incr
            },
        })
        .collect()
}

fn find_manifest(dir: &Path) -> Option<PathBuf> {
    let preferred = dir.join("appendonly.aof.manifest");
    if preferred.is_file() {
        return Some(preferred);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "manifest"))
        .collect();
    found.sort();
    (found.len() == 1).then(|| found.remove(0))
}

/// How a file given directly is recognised as a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    /// As the server knows it: by its name (`*.manifest`) or its content.
    Server,
    /// As redis-check-aof 7.2+ decides: by content only (the first non-`#` line starts with
    /// `file`); an empty or damaged manifest is then checked as a plain AOF.
    Tool,
}

/// Resolves PATH (a file, a manifest, an `appendonlydir/` or a data directory) to a layout, the
/// way the server sees it. A manifest that the server would refuse is an error here.
pub fn resolve(path: &Path) -> Result<Layout, Error> {
    resolve_with(path, Sniff::Server)
}

/// [`resolve`], choosing how a manifest is recognised.
pub fn resolve_with(path: &Path, sniff: Sniff) -> Result<Layout, Error> {
    if path.is_dir() {
        if let Some(m) = find_manifest(path) {
            return resolve_file(&m, sniff);
        }
        let sub = path.join("appendonlydir");
        if sub.is_dir() {
            if let Some(m) = find_manifest(&sub) {
                // The server's upgrade rule: a manifest with no base and no incr, next to a
                // top-level appendonly.aof, yields to that file.
                let top = path.join("appendonly.aof");
                let data = std::fs::read(&m).map_err(|e| Error::io(&m, e))?;
                let empty =
                    manifest::parse(&data).is_ok_and(|x| x.base.is_none() && x.incr.is_empty());
                if !(empty && top.is_file()) {
                    return resolve_file(&m, sniff);
                }
            }
        }
        let top = path.join("appendonly.aof");
        if top.is_file() {
            return Ok(Layout::Single(AofFile {
                name: top.display().to_string(),
                path: top,
                role: Role::Single,
            }));
        }
        return Err(Error::NoAof(path.to_path_buf()));
    }
    resolve_file(path, sniff)
}

fn resolve_file(path: &Path, sniff: Sniff) -> Result<Layout, Error> {
    let head = read_head(path)?;
    let by_name = sniff == Sniff::Server && path.extension().is_some_and(|x| x == "manifest");
    if manifest::looks_like_manifest(&head) || by_name {
        return resolve_manifest(path);
    }
    Ok(Layout::Single(AofFile {
        name: path.display().to_string(),
        path: path.to_path_buf(),
        role: Role::Single,
    }))
}

fn read_head(path: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = Vec::new();
    f.take(64 * 1024)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    Ok(head)
}

fn resolve_manifest(path: &Path) -> Result<Layout, Error> {
    let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let m = manifest::parse(&data).map_err(|e| Error::Manifest {
        path: path.to_path_buf(),
        source: e,
    })?;
    let files = files_of(path, &m);
    Ok(Layout::MultiPart {
        manifest_path: path.to_path_buf(),
        manifest: m,
        files,
    })
}

/// Where a command of the data set lies.
#[derive(Debug, Clone, Copy)]
pub struct Located<'f> {
    /// The file.
    pub file: &'f AofFile,
    /// Offset of the command's first byte.
    pub offset: u64,
    /// Offset just past it.
    pub end: u64,
}

/// Calls `f` for every command of the data set, across files in load order (RDB parts hold no
/// commands and are validated, not iterated). Stops at the first framing error, with its file.
pub fn for_each_command<F>(layout: &Layout, mut f: F) -> Result<u64, Error>
where
    F: FnMut(Located<'_>, &crate::resp::Command<'_, '_>) -> std::io::Result<()>,
{
    let mut n = 0u64;
    for file in layout.files() {
        let data = FileData::open(&file.path)?;
        let bytes = data.bytes();
        let start = if has_rdb_magic(bytes) {
            crate::rdb_prefix::check(bytes, false)
                .map_err(|e| Error::Rdb {
                    path: file.path.clone(),
                    source: e,
                })?
                .len
        } else {
            0
        };
        let mut r = SliceReader::new(bytes, start);
        loop {
            match r.next_item() {
                Ok(Some(Item::Command(c))) => {
                    n += 1;
                    f(
                        Located {
                            file,
                            offset: c.start,
                            end: c.end,
                        },
                        &c,
                    )
                    .map_err(|e| Error::io(&file.path, e))?;
                }
                Ok(Some(Item::Annotation(_))) => {}
                Ok(None) => break,
                Err(e) => {
                    return Err(Error::Resp {
                        path: file.path.clone(),
                        source: e,
                    })
                }
            }
        }
    }
    Ok(n)
}
