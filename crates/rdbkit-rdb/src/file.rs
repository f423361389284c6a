//! [`RdbFile`]: an RDB file's bytes, read into memory or (explicitly, `unsafe`) memory-mapped,
//! with the SIGBUS guard of `map_guard` on the map. Its parser ([`RdbFile::parser`]) is built in
//! `parser.rs` and its iterator ([`RdbFile::records`]) in `records.rs`, on top of this leaf.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, ErrorKind, Result};

/// Whether [`allow_mapping`] was called.
static MAPPING_ALLOWED: AtomicBool = AtomicBool::new(false);

/// Lets the safe constructors of this process ([`RdbFile::open`], and rdbkit-aof's file reads)
/// memory-map files instead of reading them into memory: what a tool reading multi-GB backups
/// wants, and what a program that cannot rule out other processes rewriting its files must not
/// do.
///
/// # Safety
///
/// The caller promises, for the rest of the process, what [`RdbFile::open_mmap`] asks of each
/// file: no other process modifies a file in place while it is mapped. (Truncation is caught
/// on Linux, see [`RdbFile`]; Redis and Valkey replace their RDB and AOF files by rename, which
/// leaves a map intact.)
pub unsafe fn allow_mapping() {
    MAPPING_ALLOWED.store(true, Ordering::Relaxed);
}

/// Whether [`allow_mapping`] was called: the safe constructors may map files.
pub fn mapping_allowed() -> bool {
    MAPPING_ALLOWED.load(Ordering::Relaxed)
}

/// An RDB file's bytes: read into memory ([`RdbFile::open`], [`RdbFile::from_bytes`]) or
/// memory-mapped ([`RdbFile::open_mmap`], or [`RdbFile::open`] after [`allow_mapping`]).
///
/// A map is read-only and private to this process. Redis writes a new RDB to a temporary
/// file and renames it over the old one, which leaves an open map intact. A file truncated
/// while it is mapped would make later reads fault (SIGBUS) and kill the process: on Linux the
/// map is protected against that (see `map_guard`): the vanished pages read as zeros and the
/// parser from [`RdbFile::parser`] reports the file as changed instead of anything it read
/// ([`RdbFile::check_unchanged`]; callers that parse [`RdbFile::bytes`] themselves should call
/// it when done). A file rewritten in place at the same size is not detected, and breaks the
/// promise [`RdbFile::open_mmap`] asks for: read such files into memory, or through
/// [`crate::RdbReader`].
pub struct RdbFile {
    map: Option<memmap2::Mmap>,
    /// The bytes of [`RdbFile::from_bytes`].
    owned: Option<Vec<u8>>,
    file: Option<File>,
    slot: Option<&'static crate::map_guard::Slot>,
}

impl Drop for RdbFile {
    fn drop(&mut self) {
        // Before the map goes: the handler must not touch an address range reused later.
        if let Some(slot) = self.slot.take() {
            slot.release();
        }
        if let Some(map) = self.map.take() {
            unmap(map);
        }
    }
}

/// Maps from which [`unmap`] releases the pages on two threads.
const UNMAP_SPLIT_FROM: usize = 64 << 20;

/// Unmaps `map`. Tearing down the page-table entries of a big map that was read whole is
/// ~30 ms for 471 MB (one entry per 4 KiB page), on the thread that unmaps, after all the
/// work: on a machine with two cores or more, the first half's entries are dropped on another
/// thread at the same time (`MADV_DONTNEED`, which leaves the file's pages in the page cache).
pub fn unmap(map: memmap2::Mmap) {
    #[cfg(target_os = "linux")]
    if map.len() >= UNMAP_SPLIT_FROM
        && std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
    {
        let half = map.len() / 2;
        // SAFETY: the map is being dropped: no reference into it is left (`bytes` borrows
        // `self`, which `drop` holds mutably), so dropping its pages (`MADV_DONTNEED`: later
        // reads would see the file's bytes again) cannot change anything a reader sees.
        let release = |from: usize, len: usize| unsafe {
            let _ = map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, len);
        };
        std::thread::scope(|s| {
            // A thread the system refuses: the whole map is unmapped here, as before.
            if let Ok(h) = std::thread::Builder::new().spawn_scoped(s, || release(0, half)) {
                release(half, map.len() - half);
                let _ = h.join();
            }
        });
    }
    drop(map);
}

impl RdbFile {
    /// Opens the file at `path`: reads it into memory (like [`RdbFile::read`]), or maps it when
    /// the process called [`allow_mapping`]. An I/O error is an [`ErrorKind::Io`] at offset 0.
    ///
    /// ```
    /// use rdbkit_rdb::{Options, RdbFile, Record};
    /// let file = RdbFile::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/rdb/sample.rdb"))?;
    /// let mut parser = file.parser(Options::default());
    /// let mut keys = 0;
    /// while let Some(rec) = parser.next() {
    ///     if let Record::Key(_) = rec? {
    ///         keys += 1;
    ///     }
    /// }
    /// assert!(keys > 0);
    /// # Ok::<(), rdbkit_rdb::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<RdbFile> {
        if mapping_allowed() {
            // SAFETY: the caller of `allow_mapping` made `open_mmap`'s promise for every file
            // of this process.
            return unsafe { Self::open_mmap(path) };
        }
        Self::read(path)
    }

    /// Maps the file at `path` into memory (no copy: for multi-GB files). An I/O error is an
    /// [`ErrorKind::Io`] at offset 0.
    ///
    /// # Safety
    ///
    /// No other process may modify the file in place while it is mapped (the bytes of a
    /// `&[u8]` would change under the reader). Truncation is survivable on Linux (see the
    /// type's documentation); replacing the file by rename, as Redis and Valkey do, is safe.
    pub unsafe fn open_mmap(path: impl AsRef<Path>) -> Result<RdbFile> {
        Ok(Self::open_io(path)?)
    }

    /// RDB data already in memory (read from a pipe, a network, a decompressor): the same
    /// parser and iterator as a mapped file, with no map.
    pub fn from_bytes(bytes: Vec<u8>) -> RdbFile {
        RdbFile {
            map: None,
            owned: Some(bytes),
            file: None,
            slot: None,
        }
    }

    /// Reads the whole file at `path` into memory ([`RdbFile::from_bytes`]): no map, so a
    /// file changed by another process while it is read cannot affect what was read.
    pub fn read(path: impl AsRef<Path>) -> Result<RdbFile> {
        Ok(Self::from_bytes(std::fs::read(path)?))
    }

    fn open_io(path: impl AsRef<Path>) -> io::Result<RdbFile> {
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            // Zero-length maps are an error on some platforms; an empty file is just empty.
            return Ok(RdbFile {
                owned: None,
                map: None,
                file: None,
                slot: None,
            });
        }
        // SAFETY: the map is read-only; the only hazard is another process truncating or
        // modifying the file while it is mapped: the caller of `open_mmap` promised it does
        // not happen (truncation is caught by `map_guard`).
        let map = unsafe { memmap2::Mmap::map(&file)? };
        #[cfg(unix)]
        {
            // A hint only: sequential read-ahead suits a front-to-back decoder.
            let _ = map.advise(memmap2::Advice::Sequential);
        }
        let slot = crate::map_guard::register(map.as_ptr(), map.len());
        Ok(RdbFile {
            owned: None,
            map: Some(map),
            file: Some(file),
            slot,
        })
    }

    /// The file's bytes (mapped, or those given to [`RdbFile::from_bytes`]).
    pub fn bytes(&self) -> &[u8] {
        match (&self.map, &self.owned) {
            (Some(m), _) => m,
            (None, Some(v)) => v,
            (None, None) => &[],
        }
    }

    /// Whether a read of the map faulted (cheap: one atomic load).
    pub(crate) fn faulted(&self) -> bool {
        self.slot.is_some_and(|s| s.faulted())
    }

    /// An error when the file shrank since it was mapped (a read of a vanished page faulted,
    /// or its size is now smaller): then nothing read from [`bytes`](Self::bytes) can be
    /// trusted.
    pub fn check_unchanged(&self) -> Result<()> {
        let mapped = self.bytes().len() as u64;
        let now = self
            .file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| m.len());
        let shrank = now.is_some_and(|n| n < mapped);
        if !self.faulted() && !shrank {
            return Ok(());
        }
        let now = now.map_or_else(|| "unknown".to_string(), |n| format!("{n}"));
        Err(Error::new(
            ErrorKind::Io(io::Error::other(format!(
                "the file shrank from {mapped} to {now} bytes while it was being read (another \
                 process truncated or is rewriting it): nothing read from it can be trusted; \
                 read a copy that is not being written"
            ))),
            now.parse().unwrap_or(0),
        ))
    }
}
