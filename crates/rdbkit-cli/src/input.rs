//! Opening any input a subcommand takes: an RDB, an AOF (plain RESP or with an RDB preamble),
//! a 7.x manifest, an `appendonlydir/` (or the data directory holding it), `-` for standard
//! input, compressed files (gzip, zstd, bzip2, xz: decompressed as a stream, never to disk) and
//! tar archives of backups (see [`crate::archive`]). The kind comes from the content, never
//! from the name:
//!
//! | first bytes                      | kind                                   |
//! |----------------------------------|----------------------------------------|
//! | `1f 8b` / `28 b5 2f fd` / `BZh1`–`BZh9` / `fd 37 7a 58 5a 00` | gzip / zstd / bzip2 / xz: the kind of what it decompresses to |
//! | a tar header (`ustar` at 257, or a v7 header's checksum) | archive: the backup it holds |
//! | `REDIS` / `VALKEY`, aux `aof-preamble` 1 | AOF with an RDB preamble (4.0–6.2 rewrites) |
//! | `REDIS` / `VALKEY`               | RDB                                    |
//! | first non-`#` line `file ...`    | manifest                               |
//! | `*` or `#`                       | AOF (RESP)                             |
//! | a directory                      | AOF directory (its manifest)           |
//! | anything else                    | RDB (the decoder reports what is wrong)|
//!
//! Any path that is not a regular file or a directory (a pipe, a FIFO, `/dev/stdin`, a
//! `<(...)` process substitution) is opened once and read once, as a stream, like `-`.
//!
//! API for subcommands: [`open`] → [`Input`]; then either [`Input::with_rdb`] (streaming RDB
//! records through `&mut dyn RecordSource`: mmap for files, `io::Read` for streams) or
//! [`Input::load`] (the whole data set in memory, for AOFs replayed into [`crate::model`]).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rdbkit_rdb::{Options, RdbFile, RdbParser, RdbReader, Record, RecordSource, Scratch};

use crate::archive::{self, Found, Spilled};
use crate::failure::Failure;
use crate::model::{self, Dataset, Replayer};
pub use crate::sniff::{kind_of, Kind};

/// A compression layer, recognised by its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// `1f 8b` (every member of a multi-member file is read).
    Gzip,
    /// `28 b5 2f fd` (every frame).
    Zstd,
    /// `BZh1`–`BZh9` (every stream).
    Bzip2,
    /// `fd 37 7a 58 5a 00` (every stream).
    Xz,
}

impl Codec {
    /// The compression `head` starts with, if any.
    pub fn of(head: &[u8]) -> Option<Codec> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Codec::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Codec::Zstd)
        } else if head.len() >= 4
            && head.starts_with(b"BZh")
            && head.get(3).is_some_and(|d| (b'1'..=b'9').contains(d))
        {
            Some(Codec::Bzip2)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Some(Codec::Xz)
        } else {
            None
        }
    }

    /// `gzip`, `zstd`, `bzip2`, `xz`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
            Codec::Bzip2 => "bzip2",
            Codec::Xz => "xz",
        }
    }

    /// A decoder over `r` that reads every concatenated stream/frame/member, and fails when
    /// the compressed data ends early or is damaged (`gzip -t` semantics).
    fn decoder(self, r: Box<dyn Read + Send>) -> io::Result<Box<dyn Read + Send>> {
        let r = io::BufReader::with_capacity(1 << 17, r);
        Ok(match self {
            Codec::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
            Codec::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
            Codec::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(r)),
            Codec::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(r)),
        })
    }
}

/// Counts the bytes read through it into a shared counter (atomic: a decompressed stream may
/// be read on the read-ahead thread, see [`crate::readahead`]).
struct Counted<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.fetch_add(k as u64, Ordering::Relaxed);
        Ok(k)
    }
}

/// A decompressed stream: its errors say which compression failed, how far into the
/// compressed and the decompressed bytes, and whether the compressed data ended early.
pub struct Decompressed {
    inner: Box<dyn Read + Send>,
    /// The compression.
    pub codec: Codec,
    compressed_in: Arc<AtomicU64>,
    out: u64,
    /// An error met while sniffing the head, returned by the next read.
    pending: Option<io::Error>,
}

impl Decompressed {
    /// Wraps `r` (compressed data) in its decoder.
    pub fn new(codec: Codec, r: Box<dyn Read + Send>) -> io::Result<Decompressed> {
        let n = Arc::new(AtomicU64::new(0));
        let counted: Box<dyn Read + Send> = Box::new(Counted {
            inner: r,
            n: n.clone(),
        });
        Ok(Decompressed {
            inner: codec.decoder(counted)?,
            codec,
            compressed_in: n,
            out: 0,
            pending: None,
        })
    }

    /// Compressed bytes read so far.
    pub fn compressed_in(&self) -> u64 {
        self.compressed_in.load(Ordering::Relaxed)
    }

    /// Decompressed bytes returned so far.
    pub fn decompressed_out(&self) -> u64 {
        self.out
    }

    /// Reads the rest of the stream (after a consumer that stops at the end of its data, like
    /// the RDB decoder at its EOF record), so that a missing or damaged trailer is seen.
    /// Returns how many bytes were left.
    pub fn finish(&mut self) -> io::Result<u64> {
        io::copy(self, &mut io::sink())
    }
}

/// Whether an I/O error means the compressed data ended early.
pub fn is_truncation(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::UnexpectedEof
}

impl Read for Decompressed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        match self.inner.read(buf) {
            Ok(k) => {
                self.out += k as u64;
                Ok(k)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let what = if is_truncation(&e) {
                    "stream truncated (the compressed file ends early)"
                } else {
                    "stream damaged"
                };
                Err(io::Error::new(
                    if is_truncation(&e) {
                        io::ErrorKind::UnexpectedEof
                    } else {
                        io::ErrorKind::InvalidData
                    },
                    format!(
                        "{} {what}: {e} (after {} compressed bytes, {} bytes decompressed)",
                        self.codec.name(),
                        self.compressed_in.load(Ordering::Relaxed),
                        self.out
                    ),
                ))
            }
        }
    }
}

enum Src {
    Path(PathBuf),
    /// stdin, a pipe/FIFO, or a decompressed stream; its first bytes were read to sniff the
    /// kind and are chained back.
    Stream(Box<dyn Read>),
    /// A compressed stream, kept typed so that its end is checked.
    Compressed(Box<io::Chain<io::Cursor<Vec<u8>>, Decompressed>>),
    /// A tar archive read up to an `appendonlydir/`'s manifest: [`Input::load`] goes on in
    /// the same pass, its parts in manifest order (see [`archive::Paused`]).
    Archive(Box<archive::Paused>),
    /// A standalone RDB member of a tar archive, read in the archive's single pass (see
    /// [`archive::RdbMember`]); the rest of the archive is read after it.
    Member(Box<archive::RdbMember>),
}

/// An opened input, kind known.
pub struct Input {
    /// How errors name it: the path, or `-`; `ARCHIVE:MEMBER` for a backup inside an archive.
    pub name: String,
    pub kind: Kind,
    /// gzip'd (kept for `info --json`'s `gzip` field; see [`Input::codec`]).
    pub gzip: bool,
    /// The compression, if any.
    pub codec: Option<Codec>,
    /// Size in bytes when known (a plain file), for progress.
    pub size: Option<u64>,
    src: Src,
    /// The archive this input was unpacked from (its temporary directory lives as long as
    /// the input).
    spilled: Option<Rc<Spilled>>,
}

/// An input error: one line naming the file and, when known, the offset and key.
#[derive(Debug)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<InputError> for Failure {
    /// An input that cannot be opened (exit 1).
    fn from(e: InputError) -> Failure {
        Failure::Open(e.0)
    }
}

const SNIFF: usize = 4096;

/// Reads up to `n` bytes (fewer only at the end of the input).
pub fn read_head(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// [`open`] for the reading subcommands (`info`, `keys`, `size`): also their decode options
/// (shallow; the checksum verified unless `no_checksum`). An input that cannot be opened is a
/// [`Failure::Open`](crate::failure::Failure::Open) (exit status 1).
pub fn open_for_reading(path: &Path, no_checksum: bool) -> Result<(Input, Options), Failure> {
    let inp = open(path)?;
    let opts = Options::default()
        .deep(false)
        .verify_checksum(!no_checksum)
        .best_effort(false);
    Ok((inp, opts))
}

/// A path opened once: its first bytes (decompressed when it is compressed) and the rest.
pub struct Sniffed {
    /// Bytes on disk, for a regular file.
    pub size: Option<u64>,
    /// A regular file (it can be opened again and memory-mapped).
    pub regular: bool,
    /// The compression, if any.
    pub codec: Option<Codec>,
    /// The first (decompressed) bytes, up to 4 KiB.
    pub head: Vec<u8>,
    /// The data after `head` (decompressed when compressed).
    pub rest: Rest,
}

/// The data after [`Sniffed::head`].
pub enum Rest {
    /// Not compressed: the rest of the file or stream.
    Plain(Box<dyn Read>),
    /// The rest of the decompressed stream (its compressed end is checked when read to EOF).
    Compressed(Decompressed),
}

impl Rest {
    /// `head` chained back in front: the whole (decompressed) data as one stream.
    pub fn with_head(self, head: Vec<u8>) -> Box<dyn Read> {
        match self {
            Rest::Plain(r) => Box::new(io::Cursor::new(head).chain(r)),
            Rest::Compressed(d) => Box::new(io::Cursor::new(head).chain(d)),
        }
    }
}

/// Opens `path` once (`-` = standard input; any path that is not a regular file is read as a
/// stream), detects a compression layer by its magic, and reads the first decompressed bytes.
/// Not for directories.
pub fn sniff(path: &Path) -> Result<Sniffed, InputError> {
    let name = crate::escape::path(path);
    let ioerr = |e: io::Error| InputError(format!("{name}: {e}"));
    let (mut r, size, regular): (Box<dyn Read + Send>, Option<u64>, bool) =
        if path.as_os_str() == "-" {
            (Box::new(io::stdin()), None, false)
        } else {
            let f = File::open(path).map_err(ioerr)?;
            let md = f.metadata().map_err(ioerr)?;
            if md.is_dir() {
                return Err(InputError(format!("{name}: a directory")));
            }
            let regular = md.is_file();
            (Box::new(f), regular.then_some(md.len()), regular)
        };
    let head = read_head(&mut r, SNIFF).map_err(ioerr)?;
    let Some(codec) = Codec::of(&head) else {
        return Ok(Sniffed {
            size,
            regular,
            codec: None,
            head,
            rest: Rest::Plain(r),
        });
    };
    let raw: Box<dyn Read + Send> = Box::new(io::Cursor::new(head).chain(r));
    let mut d = Decompressed::new(codec, raw).map_err(ioerr)?;
    // Damage met this early is reported by the consumer, where it reads (the first read
    // after the head returns it).
    let mut head = Vec::with_capacity(SNIFF);
    if let Err(e) = (&mut d).take(SNIFF as u64).read_to_end(&mut head) {
        d.pending = Some(e);
    }
    Ok(Sniffed {
        size,
        regular,
        codec: Some(codec),
        head,
        rest: Rest::Compressed(d),
    })
}

/// Opens `path` (`-` = stdin) and finds its kind from the content.
///
/// A tar archive that is a regular file and holds a single backup, a standalone RDB (a
/// `dump.rdb`), is surveyed first (its headers read, nothing written: see
/// [`archive::holds_one_rdb`]) and then read again with that member handed over as a stream
/// in the pass; other archives, and archives read from a pipe (which can be read only once,
/// and where an `appendonlydir/` after a `dump.rdb` would be the backup to read), are opened
/// as [`archive::open`] opens them.
pub fn open(path: &Path) -> Result<Input, InputError> {
    open_with(path, false)
}

/// [`open`] for a consumer that can take the AOF after having read the RDB (`check`: its
/// verdict is printed at the end): the first standalone RDB member of an archive, met before
/// any other backup, is handed over as a stream in the archive's single pass whatever follows
/// it, a pipe too; [`Input::take_member`] gives it, and [`archive::RdbMember::finish`] what
/// else the archive holds.
pub fn open_in_pass(path: &Path) -> Result<Input, InputError> {
    open_with(path, true)
}

/// Whether `path` can be read a second time: a regular file or a directory (not `-`, a pipe,
/// a FIFO, `/dev/stdin`, which are read once).
pub fn rereadable(path: &Path) -> bool {
    path.as_os_str() != "-" && std::fs::metadata(path).is_ok_and(|m| m.is_file() || m.is_dir())
}

fn open_with(path: &Path, in_pass: bool) -> Result<Input, InputError> {
    open_surveyed(path, in_pass, None)
}

/// [`open_with`]; `known`: the survey's answer from an earlier opening of the same archive
/// (then not surveyed again, and the one-pass note not repeated).
fn open_surveyed(path: &Path, in_pass: bool, known: Option<bool>) -> Result<Input, InputError> {
    let name = crate::escape::path(path);
    if path.as_os_str() != "-" && path.is_dir() {
        return Ok(Input {
            name,
            kind: Kind::Dir,
            gzip: false,
            codec: None,
            size: None,
            src: Src::Path(path.to_path_buf()),
            spilled: None,
        });
    }
    let mut s = sniff(path)?;
    if archive::is_tar(&s.head) {
        let limit = archive::spill_limit().map_err(InputError)?;
        let mut surveyed = known.unwrap_or(false);
        if !in_pass && s.regular && known.is_none() {
            // A survey of the headers (decompressing, nothing written), then the real pass.
            surveyed = archive::holds_one_rdb(&name, s.rest.with_head(s.head));
            s = sniff(path)?;
        }
        let codec = s.codec;
        let r = s.rest.with_head(s.head);
        let opened = if in_pass || surveyed {
            archive::open_rdb_in_pass(&name, r, limit, surveyed)
        } else {
            archive::open(&name, r, limit)
        };
        return from_opened_noting(&name, opened.map_err(InputError)?, codec, known.is_none());
    }
    // Unknown content is read as an RDB: the decoder names what is wrong and where.
    let kind = kind_of(&s.head).unwrap_or(Kind::Rdb);
    if s.codec.is_none() && s.regular {
        return Ok(Input {
            name,
            kind,
            gzip: false,
            codec: None,
            size: s.size,
            src: Src::Path(path.to_path_buf()),
            spilled: None,
        });
    }
    if kind == Kind::Manifest {
        return Err(InputError(format!(
            "{name}: a manifest names files beside it: give its path, not a stream"
        )));
    }
    let src = match s.rest {
        Rest::Plain(r) => Src::Stream(Box::new(io::Cursor::new(s.head).chain(r))),
        Rest::Compressed(d) => Src::Compressed(Box::new(io::Cursor::new(s.head).chain(d))),
    };
    Ok(Input {
        name,
        kind,
        gzip: s.codec == Some(Codec::Gzip),
        codec: s.codec,
        size: None,
        src,
        spilled: None,
    })
}

/// The input an opened archive gives (see [`from_archive`]).
pub fn from_opened(
    name: &str,
    opened: archive::Opened,
    codec: Option<Codec>,
) -> Result<Input, InputError> {
    from_opened_noting(name, opened, codec, true)
}

/// [`from_opened`]; `note`: say on stderr that a surveyed member is read in the pass.
fn from_opened_noting(
    name: &str,
    opened: archive::Opened,
    codec: Option<Codec>,
    note: bool,
) -> Result<Input, InputError> {
    match opened {
        archive::Opened::Spilled(sp) => from_archive(sp, codec),
        archive::Opened::Paused(p) => Ok(Input {
            name: format!("{name}:{}", p.dir_member()),
            kind: Kind::Dir,
            gzip: codec == Some(Codec::Gzip),
            codec,
            size: None,
            src: Src::Archive(p),
            spilled: None,
        }),
        archive::Opened::Rdb(m) => {
            if m.surveyed() && note {
                m.say_streamed();
            }
            Ok(Input {
                name: m.name(),
                kind: Kind::Rdb,
                gzip: codec == Some(Codec::Gzip),
                codec,
                size: Some(m.size()),
                src: Src::Member(m),
                spilled: None,
            })
        }
    }
}

/// Which backup of an archive a one-data-set subcommand reads: the only one; of an RDB and
/// an AOF, the AOF (what a server with `appendonly yes` loads), saying so on stderr.
fn from_archive(sp: Spilled, codec: Option<Codec>) -> Result<Input, InputError> {
    let found = sp.backups();
    let aofs: Vec<&Found> = found.iter().filter(|f| f.is_aof()).collect();
    let rdbs: Vec<&Found> = found.iter().filter(|f| !f.is_aof()).collect();
    let list = |v: &[&Found]| {
        v.iter()
            .map(|f| f.member().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let pick = match (aofs.as_slice(), rdbs.as_slice()) {
        ([], []) => {
            return Err(InputError(format!(
                "{}: the archive holds no RDB, AOF or appendonlydir/ (members: {})",
                sp.archive,
                if sp.skipped.is_empty() {
                    "none".to_string()
                } else {
                    sp.skipped.join(", ")
                }
            )))
        }
        ([a], rdbs) => {
            if !rdbs.is_empty() {
                eprintln!(
                    "rdbkit: {}: holds an AOF ({}) and an RDB ({}): reading the AOF, which a \
                     server with `appendonly yes` loads (with `appendonly no` it loads the RDB; \
                     `rdbkit verify` checks both)",
                    sp.archive,
                    a.member(),
                    list(rdbs)
                );
            }
            (*a).clone()
        }
        ([], [r]) => (*r).clone(),
        (a, r) => {
            return Err(InputError(format!(
                "{}: the archive holds several backups ({}): extract the one to read, or \
                 use `rdbkit verify`, which checks each",
                sp.archive,
                list(if a.len() > 1 { a } else { r })
            )))
        }
    };
    let (kind, path) = match &pick {
        Found::AofDir { path, .. } => (Kind::Dir, path.clone()),
        Found::Aof { path, .. } => (Kind::Aof, path.clone()),
        Found::Rdb { path, .. } => (Kind::Rdb, path.clone()),
    };
    let name = format!("{}:{}", sp.archive, pick.member());
    eprintln!(
        "rdbkit: {}: {} member(s), {} bytes, unpacked to a private temporary directory to read \
         them in load order (removed at exit; cap --spill-limit / RDBKIT_SPILL_LIMIT)",
        sp.archive,
        sp.members.len(),
        sp.bytes
    );
    let size = std::fs::metadata(&path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    Ok(Input {
        name,
        kind,
        gzip: codec == Some(Codec::Gzip),
        codec,
        size,
        src: Src::Path(path),
        spilled: Some(Rc::new(sp)),
    })
}

/// Formats an RDB error as one line with the input's name.
pub fn rdb_error(name: &str, e: &rdbkit_rdb::Error) -> InputError {
    InputError(format!("{name}: {e}"))
}

impl Input {
    /// The same input opened again, at its start, for a second pass (`restore`'s pass over the
    /// keys before it writes; `path` is what this input was opened from, which must be
    /// [`rereadable`]): a file or an archive's member unpacked earlier is the same path (not
    /// unpacked again); an archive's member read in the pass is read again without a second
    /// survey of the archive; a compressed file is decompressed again.
    pub fn reopen(&self, path: &Path) -> Result<Input, InputError> {
        match &self.src {
            Src::Path(p) => Ok(Input {
                name: self.name.clone(),
                kind: self.kind,
                gzip: self.gzip,
                codec: self.codec,
                size: self.size,
                src: Src::Path(p.clone()),
                spilled: self.spilled.clone(),
            }),
            Src::Member(m) if m.surveyed() => open_surveyed(path, false, Some(true)),
            _ => open(path),
        }
    }

    /// For subcommands with their own file path (mmap): the decompressed/stdin stream when the
    /// input is one (a compressed stream's end is checked when it is read to its end, see
    /// [`finish_stream`]), `None` for a path (see [`Input::path`]).
    ///
    /// An archive read as a stream up to an `appendonlydir/`'s manifest is unpacked here (see
    /// [`Input::unpack`]); if that fails, the stream returned reports why.
    pub fn take_stream(&mut self) -> Option<Box<dyn Read>> {
        if let Err(e) = self.unpack() {
            return Some(Box::new(Failed(Some(io::Error::other(e.0)))));
        }
        match std::mem::replace(&mut self.src, Src::Path(PathBuf::new())) {
            Src::Stream(r) => Some(r),
            Src::Compressed(c) => Some(c),
            // Read to its end (as a consumer of a stream does), the rest of the archive is
            // read: its damage, or another backup after it, is then an error.
            Src::Member(m) => Some(Box::new(MemberThenEnd(Some(m)))),
            a @ Src::Archive(_) => {
                self.src = a;
                None
            }
            p @ Src::Path(_) => {
                self.src = p;
                None
            }
        }
    }

    /// A compressed stream (a compressed file, or one read from a pipe) as a reader that can
    /// move to another thread (see [`crate::readahead`]): what [`Input::take_stream`] gives
    /// for it, the same reads giving the same results. `None` (the input left as it was) for
    /// any other input.
    pub fn take_compressed(&mut self) -> Option<Box<dyn Read + Send>> {
        match std::mem::replace(&mut self.src, Src::Path(PathBuf::new())) {
            Src::Compressed(c) => Some(c),
            other => {
                self.src = other;
                None
            }
        }
    }

    /// The first `n` bytes of the input (decompressed), read ahead and kept: a consumer reads
    /// them again, so a stream that cannot be read twice (a pipe, a compressed file) can be
    /// looked at before it is used (`restore --sync` validates it before it changes the
    /// server). `true` when the input ended within them (they are the whole input; for a
    /// compressed stream, its trailer was read too). An archive paused at a manifest: empty.
    pub fn read_ahead(&mut self, n: usize) -> io::Result<(Vec<u8>, bool)> {
        let mut head = Vec::new();
        let ended = match std::mem::replace(&mut self.src, Src::Path(PathBuf::new())) {
            Src::Path(p) => {
                File::open(&p)?.take(n as u64 + 1).read_to_end(&mut head)?;
                self.src = Src::Path(p);
                head.len() <= n
            }
            Src::Stream(mut r) => {
                let got = r.by_ref().take(n as u64 + 1).read_to_end(&mut head);
                self.src = Src::Stream(Box::new(io::Cursor::new(head.clone()).chain(r)));
                got?;
                head.len() <= n
            }
            Src::Compressed(mut c) => {
                let got = c.by_ref().take(n as u64 + 1).read_to_end(&mut head);
                let (_, d) = (*c).into_inner();
                self.src = Src::Compressed(Box::new(io::Cursor::new(head.clone()).chain(d)));
                got?;
                head.len() <= n
            }
            // Read as a stream (as `take_stream` gives it): its first bytes chained back.
            Src::Member(m) => {
                let mut r: Box<dyn Read> = Box::new(MemberThenEnd(Some(m)));
                let got = r.by_ref().take(n as u64 + 1).read_to_end(&mut head);
                self.src = Src::Stream(Box::new(io::Cursor::new(head.clone()).chain(r)));
                got?;
                head.len() <= n
            }
            a @ Src::Archive(_) => {
                self.src = a;
                false
            }
        };
        head.truncate(n);
        Ok((head, ended))
    }

    /// For consumers that read files (the AOF checker): an archive paused at an
    /// `appendonlydir/`'s manifest (see [`Input::load`], which reads it in one pass without
    /// writing it out) is read to its end, its backup members written to the private temporary
    /// directory; [`Input::path`] is then that copy. Other inputs are left as they are.
    pub fn unpack(&mut self) -> Result<(), InputError> {
        if !matches!(self.src, Src::Archive(_)) {
            return Ok(());
        }
        let Src::Archive(p) = std::mem::replace(&mut self.src, Src::Path(PathBuf::new())) else {
            return Ok(());
        };
        let sp = p.unpack().map_err(InputError)?;
        *self = from_archive(sp, self.codec)?;
        Ok(())
    }

    /// An archive paused at an `appendonlydir/`'s manifest (see [`archive::Paused`]), to
    /// look at before [`Input::take_archive`].
    pub fn paused_archive(&self) -> Option<&archive::Paused> {
        match &self.src {
            Src::Archive(p) => Some(p),
            _ => None,
        }
    }

    /// Takes a standalone RDB member of an archive read in the pass (see [`open_in_pass`]).
    pub fn take_member(&mut self) -> Option<Box<archive::RdbMember>> {
        match std::mem::replace(&mut self.src, Src::Path(PathBuf::new())) {
            Src::Member(m) => Some(m),
            other => {
                self.src = other;
                None
            }
        }
    }

    /// Takes an archive paused at an `appendonlydir/`'s manifest, for a consumer that reads
    /// its parts in one pass itself (the AOF check); the input is left empty.
    pub fn take_archive(&mut self) -> Option<Box<archive::Paused>> {
        match std::mem::replace(&mut self.src, Src::Path(PathBuf::new())) {
            Src::Archive(p) => Some(p),
            other => {
                self.src = other;
                None
            }
        }
    }

    /// The path to read for a file input (a member unpacked from an archive: its temporary
    /// copy, alive as long as this input); `None` for a stream.
    pub fn path(&self) -> Option<&Path> {
        match &self.src {
            Src::Path(p) => Some(p),
            _ => None,
        }
    }

    /// `s` (a message, a report) with the temporary directory of an archive's members
    /// replaced by the archive's name.
    pub fn rewrite(&self, s: &str) -> String {
        match &self.spilled {
            Some(sp) => sp.rewrite(s),
            None => s.to_string(),
        }
    }

    pub fn is_rdb(&self) -> bool {
        self.kind == Kind::Rdb
    }

    /// Streams the RDB's records into `f` (mmap for files, buffered `io::Read` otherwise). A
    /// compressed stream is then read to its end: a damaged or missing trailer is an error
    /// even when the RDB inside is whole.
    pub fn with_rdb<T>(
        self,
        opts: Options,
        f: impl FnOnce(&mut dyn RecordSource) -> T,
    ) -> Result<T, InputError> {
        self.with_rdb_within(opts, None, f)
    }

    /// [`with_rdb`](Self::with_rdb) for commands that write what they read (convert, split,
    /// merge, restore): every value's bytes must reach them, so a stream holds each value whole
    /// up to `max_value_bytes` (`--max-value-bytes`) and refuses a bigger one with an error
    /// naming the key — never a value streamed past them, written as nothing. A file is mapped
    /// and needs no limit.
    pub fn with_rdb_values<T>(
        self,
        opts: Options,
        max_value_bytes: u64,
        f: impl FnOnce(&mut dyn RecordSource) -> T,
    ) -> Result<T, InputError> {
        self.with_rdb_within(opts, Some(max_value_bytes), f)
    }

    fn with_rdb_within<T>(
        self,
        opts: Options,
        budget: Option<u64>,
        f: impl FnOnce(&mut dyn RecordSource) -> T,
    ) -> Result<T, InputError> {
        const FLAG: &str = "--max-value-bytes";
        fn held<R: std::io::Read, T>(
            r: R,
            opts: Options,
            budget: Option<u64>,
            f: impl FnOnce(&mut dyn RecordSource) -> T,
        ) -> T {
            match budget {
                None => f(&mut RdbReader::new(r, opts)),
                Some(b) => {
                    let mut reader = RdbReader::new(r, opts)
                        .hold_values_up_to(b)
                        .max_record_bytes(b.saturating_add(1 << 20), FLAG);
                    f(&mut rdbkit_rdb::ValueBudget::new(&mut reader, b, FLAG))
                }
            }
        }
        if self.kind != Kind::Rdb {
            return Err(InputError(format!(
                "{}: this is an AOF ({}), not an RDB file",
                self.name,
                self.kind.name()
            )));
        }
        match self.src {
            Src::Path(p) => {
                let file =
                    RdbFile::open(&p).map_err(|e| InputError(format!("{}: {e}", self.name)))?;
                let mut parser = file.parser(opts);
                Ok(f(&mut parser))
            }
            Src::Stream(r) => Ok(held(r, opts, budget, f)),
            Src::Member(m) => {
                let mut r = MemberThenEnd(Some(m));
                let t = held(&mut r, opts, budget, f);
                // Its errors name the archive and the member already.
                io::copy(&mut r, &mut io::sink()).map_err(|e| InputError(e.to_string()))?;
                Ok(t)
            }
            Src::Archive(_) => Err(InputError(format!(
                "{}: this is an AOF ({}), not an RDB file",
                self.name,
                self.kind.name()
            ))),
            Src::Compressed(mut c) => {
                let t = held(&mut *c, opts, budget, f);
                finish_stream(&self.name, &mut *c)?;
                Ok(t)
            }
        }
    }

    /// The whole data set in memory: an RDB decoded, or an AOF (any layout) replayed on top of
    /// its RDB preamble/base. `now_ms` anchors relative expiries found in an AOF.
    pub fn load(self, opts: Options, now_ms: i64) -> Result<Dataset, InputError> {
        self.load_within(opts, now_ms, None)
    }

    /// [`load`](Self::load) refusing, with an error naming the key and its offset, an RDB
    /// value (of the file, a stream, a preamble or a base) that needs more than
    /// `max_value_bytes` in memory, before it is decoded (`--max-value-bytes`).
    pub fn load_within(
        self,
        opts: Options,
        now_ms: i64,
        max_value_bytes: Option<u64>,
    ) -> Result<Dataset, InputError> {
        let budget = max_value_bytes;
        let mut rp = Replayer::new(now_ms);
        let name = self.name.clone();
        let sp = self.spilled.clone();
        let rewrite = |e: InputError| match &sp {
            Some(sp) => InputError(sp.rewrite(&e.0)),
            None => e,
        };
        rp.redis_7_0 = aof_server_is_redis_7_0();
        match (self.kind, self.src) {
            (Kind::Manifest | Kind::Dir, Src::Path(p)) => {
                let layout = rdbkit_aof::multipart::resolve(&p)
                    .map_err(|e| rewrite(InputError(format!("{name}: {e}"))))?;
                for f in layout.files() {
                    let data = rdbkit_aof::multipart::FileData::open(&f.path)
                        .map_err(|e| rewrite(InputError(format!("{e}"))))?;
                    replay_bytes(
                        &f.path.display().to_string(),
                        data.bytes(),
                        opts,
                        budget,
                        &mut rp,
                    )
                    .map_err(rewrite)?;
                }
            }
            (_, Src::Path(p)) => {
                rp.pre_7_0 = true; // a single-file AOF: written by a server before 7.0
                let data = rdbkit_aof::multipart::FileData::open(&p)
                    .map_err(|e| rewrite(InputError(format!("{e}"))))?;
                not_rdb_or_aof(self.kind, &name, data.bytes())?;
                replay_bytes(&name, data.bytes(), opts, budget, &mut rp)?;
            }
            // Streams are replayed as they are read (see [`replay_read`]): the same replay, and
            // the same errors, as of the bytes held whole.
            (_, Src::Stream(mut r)) => {
                rp.pre_7_0 = true;
                let io_err = |e: &io::Error| format!("{name}: {e}");
                let kind = Some(self.kind);
                replay_read(&name, &mut r, kind, opts, budget, &mut rp, &io_err, None)?;
            }
            (_, Src::Member(m)) => {
                // The same replay (an RDB, then any RESP after it) as on the unpacked member;
                // read to its end, the rest of the archive is read too.
                rp.pre_7_0 = true;
                let io_err = |e: &io::Error| e.to_string();
                let mut r = MemberThenEnd(Some(m));
                let kind = Some(self.kind);
                replay_read(&name, &mut r, kind, opts, budget, &mut rp, &io_err, None)?;
            }
            (_, Src::Archive(p)) => {
                let archive = p.spilled.archive.clone();
                let dir = p.dir_member();
                // The archive's reader words its own errors (see `archive::OnPart`).
                let io_err = |e: &io::Error| e.to_string();
                let read = p
                    .replay_parts(&mut |part, r| {
                        replay_read(part, r, None, opts, budget, &mut rp, &io_err, None)
                            .map_err(|e| e.0)
                    })
                    .map_err(InputError)?;
                report_streamed(&archive, &dir, &read)?;
            }
            (_, Src::Compressed(mut r)) => {
                let io_err = |e: &io::Error| format!("{name}: {e}");
                let kind = Some(self.kind);
                replay_read(&name, &mut *r, kind, opts, budget, &mut rp, &io_err, None)?;
            }
        }
        Ok(rp.ds)
    }
}

/// An archive's RDB member, then (when it is read past its end) the rest of the archive: an
/// error when the archive is damaged after it or holds another backup (an archive surveyed
/// as holding one RDB that changed since, see [`open`]).
struct MemberThenEnd(Option<Box<archive::RdbMember>>);

impl Read for MemberThenEnd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(m) = self.0.as_mut() else {
            return Ok(0);
        };
        let n = m.read(buf)?;
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        let Some(m) = self.0.take() else {
            return Ok(0);
        };
        let archive = m.archive().to_string();
        match m.finish().map_err(io::Error::other)? {
            None => Ok(0),
            Some(_) => Err(io::Error::other(format!(
                "{archive}: the archive changed while it was read (it held one RDB; it now \
                 holds other backups too)"
            ))),
        }
    }
}

/// A reader whose first read fails with the error it holds.
struct Failed(Option<io::Error>);

impl Read for Failed {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        match self.0.take() {
            Some(e) => Err(e),
            None => Ok(0),
        }
    }
}

/// After an archive's `appendonlydir/` was read in one pass: the other backups it holds (an
/// RDB: said on stderr, the AOF is what a server with `appendonly yes` loads; another AOF: an
/// error, as when the archive is unpacked), and how the parts were read.
pub fn report_streamed(
    archive: &str,
    dir: &str,
    read: &archive::PartsRead,
) -> Result<(), InputError> {
    let names = |aof: bool| {
        let mut v: Vec<&str> = read
            .others
            .iter()
            .filter(|o| o.1 == aof)
            .map(|o| o.0.as_str())
            .collect();
        v.dedup();
        v
    };
    let (aofs, rdbs) = (names(true), names(false));
    if !aofs.is_empty() {
        return Err(InputError(format!(
            "{archive}: the archive holds several backups ({dir}, {}): extract the one to read, \
             or use `rdbkit verify`, which checks each",
            aofs.join(", ")
        )));
    }
    if !rdbs.is_empty() {
        eprintln!(
            "rdbkit: {archive}: holds an AOF ({dir}) and an RDB ({}): reading the AOF, which a \
             server with `appendonly yes` loads (with `appendonly no` it loads the RDB; \
             `rdbkit verify` checks both)",
            rdbs.join(", ")
        );
    }
    let parts = read.streamed + read.spilled;
    if read.spilled == 0 {
        eprintln!(
            "rdbkit: {archive}: {dir}: {parts} part(s) read in one pass in manifest order; \
             nothing unpacked to disk"
        );
    } else {
        eprintln!(
            "rdbkit: {archive}: {dir}: {parts} part(s) read in one pass: {} streamed, {} \
             ({} bytes) unpacked to a private temporary directory first because the archive \
             holds them before the manifest or before a part that loads earlier (removed at \
             exit; cap --spill-limit / RDBKIT_SPILL_LIMIT)",
            read.streamed, read.spilled, read.spilled_bytes
        );
    }
    Ok(())
}

/// A private temporary file holding a stream, removed when dropped (or on an interrupt).
pub struct TempCopy(tempfile::NamedTempFile);

impl TempCopy {
    /// Its path.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for TempCopy {
    fn drop(&mut self) {
        archive::unregister_temp(self.0.path());
    }
}

/// A stream (an AOF read from a pipe or decompressed) copied to a private temporary file, for
/// the AOF checker, which works on a file's bytes; at most [`archive::spill_limit`] bytes.
pub fn stream_to_temp(name: &str, r: &mut dyn Read) -> Result<TempCopy, InputError> {
    let limit = archive::spill_limit().map_err(InputError)?;
    let t = tempfile::Builder::new()
        .prefix("rdbkit-stream-")
        .tempfile()
        .map_err(|e| InputError(format!("{name}: can't create a temporary file: {e}")))?;
    archive::register_temp(t.path());
    let mut t = TempCopy(t);
    let n = io::copy(&mut r.take(limit.saturating_add(1)), t.0.as_file_mut())
        .map_err(|e| InputError(format!("{name}: {e}")))?;
    if n > limit {
        return Err(InputError(format!(
            "{name}: more than {limit} bytes: past the cap on bytes kept in a temporary file \
             (raise it with RDBKIT_SPILL_LIMIT)"
        )));
    }
    Ok(t)
}

/// Reads a stream to its end after its consumer stopped (the RDB decoder stops at the EOF
/// record): a compressed stream's damaged or missing trailer is an error even when the data
/// inside is whole (`gzip -t` semantics). Plain streams are left as they are.
pub fn finish_stream(name: &str, r: &mut dyn Read) -> Result<(), InputError> {
    io::copy(r, &mut io::sink())
        .map(|_| ())
        .map_err(|e| InputError(format!("{name}: {e}")))
}

/// An AOF (or RDB) held in memory, replayed into a data set, as [`Input::load`] does.
pub fn load_bytes(
    name: &str,
    bytes: &[u8],
    opts: Options,
    now_ms: i64,
) -> Result<Dataset, InputError> {
    let mut rp = Replayer::new(now_ms);
    rp.redis_7_0 = aof_server_is_redis_7_0();
    replay_bytes(name, bytes, opts, None, &mut rp)?;
    Ok(rp.ds)
}

/// An AOF data set replayed part by part, in load order (an archive's parts as they come out
/// of it), as [`Input::load`] replays a directory's files.
pub struct PartsReplay(Replayer);

impl PartsReplay {
    /// A replay anchoring relative expiries at `now_ms` (see [`Input::load`]).
    pub fn new(now_ms: i64) -> PartsReplay {
        let mut rp = Replayer::new(now_ms);
        rp.redis_7_0 = aof_server_is_redis_7_0();
        PartsReplay(rp)
    }

    /// Replays the next part (`name` names it in errors), read from `r` to its end (a read
    /// error is `name: ERROR`). `on_rdb` sees each record of its RDB part, if any, as it is
    /// loaded (see [`replay_read`]).
    pub fn part(
        &mut self,
        name: &str,
        r: &mut dyn Read,
        opts: Options,
        on_rdb: Option<OnRdbRecord<'_>>,
    ) -> Result<(), InputError> {
        let io_err = |e: &io::Error| format!("{name}: {e}");
        replay_read(name, r, None, opts, None, &mut self.0, &io_err, on_rdb)
    }

    /// The data set.
    pub fn finish(self) -> Dataset {
        self.0.ds
    }
}

/// Content sniffed as neither RDB nor AOF (read as an RDB so that the decoder names the
/// problem) must not load as an empty AOF: an empty pipe or file is an error, not "no keys".
fn not_rdb_or_aof(kind: Kind, name: &str, bytes: &[u8]) -> Result<(), InputError> {
    if kind != Kind::Rdb || rdbkit_rdb::is_rdb_magic(bytes) {
        return Ok(());
    }
    Err(InputError(if bytes.is_empty() {
        format!("{name}: empty (0 bytes): neither an RDB nor an AOF")
    } else {
        format!(
            "{name}: at byte 0: neither an RDB nor an AOF (starts with {:?})",
            String::from_utf8_lossy(bytes.get(..bytes.len().min(9)).unwrap_or_default())
        )
    }))
}

/// Loads an RDB (or RDB preamble) then replays any RESP commands after it.
/// `RDBKIT_AOF_SERVER=redis-7.0`: the AOF is replayed as Redis 7.0.x loads it, where it differs
/// from 7.2+ and Valkey (the default; see the README's "AOF replay").
fn aof_server_is_redis_7_0() -> bool {
    std::env::var("RDBKIT_AOF_SERVER").is_ok_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        let v = v.strip_prefix("redis-").unwrap_or(&v);
        v == "7.0" || v.starts_with("7.0.")
    })
}

/// What a replay's RDB part shows to an [`OnRdbRecord`].
pub enum RdbSeen<'a, 'r> {
    /// A record, as it is loaded.
    Record(&'a Record<'r>),
    /// The RDB part is read (to its end, or to its first error): its header, if read. The
    /// callback may answer when the RESP after it counts relative expiries from.
    End(Option<rdbkit_rdb::Header>),
}

/// Sees the records of a replay's RDB part (see [`PartsReplay::part`]).
pub type OnRdbRecord<'a> = &'a mut dyn FnMut(RdbSeen<'_, '_>) -> Option<i64>;

/// A reader that keeps its first error: a consumer that stops at it, or at damage in the bytes
/// before it, leaves the error to be reported as the stream's.
struct KeepFirst<'r> {
    inner: &'r mut dyn Read,
    err: Option<io::Error>,
}

impl Read for KeepFirst<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = &self.err {
            return Err(io::Error::new(e.kind(), e.to_string()));
        }
        match self.inner.read(buf) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.err = Some(e);
                Err(copy)
            }
            r => r,
        }
    }
}

/// [`replay_bytes`] of what `r` holds, read as a stream in one pass: the RDB part (a file, a
/// preamble, a base) by [`RdbReader`], holding a record at a time, then the RESP after it by
/// the AOF crate's stream reader, holding a command at a time, at the same offsets. The raw
/// bytes are never held whole: memory is the data set built plus those buffers.
///
/// The errors are those of the bytes read whole first: a read error anywhere in the stream
/// (`io_err` words it) wins over damage the replay met before it, so after damage the rest is
/// read through. `kind`: the sniffed kind, for [`not_rdb_or_aof`] (`None`: not checked);
/// `on_rdb`: shown each RDB record as it is loaded (`verify` counts aux fields and keys).
#[allow(clippy::too_many_arguments)]
fn replay_read(
    name: &str,
    r: &mut dyn Read,
    kind: Option<Kind>,
    opts: Options,
    budget: Option<u64>,
    rp: &mut Replayer,
    io_err: &dyn Fn(&io::Error) -> String,
    on_rdb: Option<OnRdbRecord<'_>>,
) -> Result<(), InputError> {
    let mut src = KeepFirst {
        inner: r,
        err: None,
    };
    let res = replay_stream(name, &mut src, kind, opts, budget, rp, on_rdb);
    if res.is_err() && src.err.is_none() {
        let _ = io::copy(&mut src, &mut io::sink());
    }
    match src.err {
        Some(e) => Err(InputError(io_err(&e))),
        None => res,
    }
}

/// The same vector, emptied, for borrows of another lifetime (its allocation reused).
fn recycle<'b>(mut v: Vec<&[u8]>) -> Vec<&'b [u8]> {
    v.clear();
    v.into_iter().map(|_| -> &'b [u8] { &[] }).collect()
}

fn replay_stream(
    name: &str,
    src: &mut KeepFirst<'_>,
    kind: Option<Kind>,
    opts: Options,
    budget: Option<u64>,
    rp: &mut Replayer,
    mut on_rdb: Option<OnRdbRecord<'_>>,
) -> Result<(), InputError> {
    // Read errors are reported by the caller (kept by `src`): any message will do here.
    let io_fail = |e: io::Error| InputError(format!("{name}: {e}"));
    let head = read_head(src, 16).map_err(io_fail)?;
    if let Some(kind) = kind {
        not_rdb_or_aof(kind, name, &head)?;
    }
    let mut r = io::Cursor::new(head).chain(src);
    let mut start = 0u64;
    let mut unread = Vec::new();
    if rdbkit_rdb::is_rdb_magic(r.get_ref().0.get_ref()) {
        // Every value is held whole (the data set holds it anyway); with a budget, a string
        // value past it streams through to be refused by its size, as the slice path refuses
        // it, rather than buffered first.
        let hold = budget.map_or(u64::MAX, |b| b.saturating_add(1 << 20));
        let mut reader = RdbReader::new(&mut r, opts).hold_values_up_to(hold);
        let loaded = match budget {
            Some(b) => {
                let mut src = rdbkit_rdb::ValueBudget::new(&mut reader, b, "--max-value-bytes");
                load_rdb_seen(&mut src, &mut rp.ds, &mut on_rdb)
            }
            None => load_rdb_seen(&mut reader, &mut rp.ds, &mut on_rdb),
        };
        if let Some(now) = on_rdb
            .as_mut()
            .and_then(|f| f(RdbSeen::End(reader.header())))
        {
            rp.now_ms = now;
        }
        start = loaded.map_err(|e| rdb_error(name, &e))? as u64;
        let pos = reader.position();
        let left = reader.unread();
        // The RESP starts where the RDB ends (its EOF record's end is where the reader is).
        let skip = usize::try_from(start.saturating_sub(pos)).unwrap_or(usize::MAX);
        unread.extend_from_slice(left.get(skip.min(left.len())..).unwrap_or_default());
        start = start.max(pos);
    }
    let mut rd = rdbkit_aof::resp::StreamReader::resp_at(io::Cursor::new(unread).chain(r), start);
    let mut spare: Vec<&[u8]> = Vec::new();
    loop {
        match rd.next_item() {
            Ok(Some(rdbkit_aof::resp::Item::Command(c))) => {
                let mut args = recycle(std::mem::take(&mut spare));
                args.extend(c.args());
                rp.apply_at(name, c.start, &args)
                    .map_err(|e| InputError(format!("{name}: at byte offset {}: {e}", c.start)))?;
                spare = recycle(args);
            }
            Ok(Some(rdbkit_aof::resp::Item::Annotation(a))) => {
                if let Some(ts) = a.timestamp {
                    rp.now_ms = ts.saturating_mul(1000);
                }
            }
            Ok(None) => return Ok(()),
            Err(rdbkit_aof::resp::StreamError::Resp(e)) => {
                return Err(InputError(format!("{name}: {e}")))
            }
            Err(e) => return Err(InputError(format!("{name}: {e}"))),
        }
    }
}

fn replay_bytes(
    name: &str,
    bytes: &[u8],
    opts: Options,
    budget: Option<u64>,
    rp: &mut Replayer,
) -> Result<(), InputError> {
    let mut start = 0usize;
    if rdbkit_rdb::is_rdb_magic(bytes) {
        let mut p = RdbParser::new(bytes, opts);
        start = match budget {
            Some(b) => {
                let mut src = rdbkit_rdb::ValueBudget::new(&mut p, b, "--max-value-bytes");
                load_rdb(&mut src, &mut rp.ds)
            }
            None => load_rdb(&mut p, &mut rp.ds),
        }
        .map_err(|e| rdb_error(name, &e))?;
    }
    let mut r = rdbkit_aof::resp::SliceReader::new(bytes, start);
    let mut args: Vec<&[u8]> = Vec::new();
    loop {
        match r.next_item() {
            Ok(Some(rdbkit_aof::resp::Item::Command(c))) => {
                args.clear();
                args.extend(c.args());
                rp.apply_at(name, c.start, &args)
                    .map_err(|e| InputError(format!("{name}: at byte offset {}: {e}", c.start)))?;
            }
            Ok(Some(rdbkit_aof::resp::Item::Annotation(a))) => {
                if let Some(ts) = a.timestamp {
                    rp.now_ms = ts.saturating_mul(1000);
                }
            }
            Ok(None) => return Ok(()),
            Err(e) => return Err(InputError(format!("{name}: {e}"))),
        }
    }
}

/// Decodes every key of an RDB into `ds`; returns the offset just past the file (its trailer).
pub fn load_rdb(src: &mut dyn RecordSource, ds: &mut Dataset) -> Result<usize, rdbkit_rdb::Error> {
    load_rdb_seen(src, ds, &mut None)
}

/// [`load_rdb`], `on_rdb` seeing each record first.
fn load_rdb_seen(
    src: &mut dyn RecordSource,
    ds: &mut Dataset,
    on_rdb: &mut Option<OnRdbRecord<'_>>,
) -> Result<usize, rdbkit_rdb::Error> {
    let mut scratch = Scratch::new();
    // With a callback, the records after one the data model can't hold are still shown to it
    // (the first error is returned at the end).
    let mut failed: Option<rdbkit_rdb::Error> = None;
    while let Some(rec) = src.next_record() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => return Err(failed.unwrap_or(e)),
        };
        if let Some(f) = on_rdb.as_mut() {
            f(RdbSeen::Record(&rec));
        }
        if failed.is_some() {
            if matches!(rec, Record::Eof { .. }) {
                break;
            }
            continue;
        }
        let loaded = load_record(rec, ds, &mut scratch);
        match loaded {
            Ok(Some(end)) => return Ok(end),
            Ok(None) => {}
            Err(e) if on_rdb.is_some() => failed = Some(e),
            Err(e) => return Err(e),
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(src.position() as usize),
    }
}

/// One record into `ds`; `Some(end)` at the EOF record.
fn load_record(
    rec: Record<'_>,
    ds: &mut Dataset,
    scratch: &mut Scratch,
) -> Result<Option<usize>, rdbkit_rdb::Error> {
    {
        match rec {
            // A value streamed past the reader's hold (a key longer than the slack above
            // `--max-value-bytes`): its content was not kept.
            Record::Key(k) if k.value.streamed_len().is_some() => {
                return Err(rdbkit_rdb::Error::new(
                    rdbkit_rdb::ErrorKind::Unsupported(
                        "this record needs more bytes in memory than --max-value-bytes and its \
                         key allow (raise it to read the value)"
                            .into(),
                    ),
                    k.offset,
                )
                .in_key(Some(k.db), k.key));
            }
            Record::Key(k) => {
                let v = model::from_record(&k, scratch)?;
                ds.dbs.entry(k.db).or_default().insert(k.key.to_vec(), v);
            }
            Record::Function { code } => ds.functions.push(code.into_owned()),
            Record::Eof { end, .. } => return Ok(Some(end as usize)),
            _ => {}
        }
    }
    Ok(None)
}

pub use crate::progress::Progress;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_by_magic() {
        assert_eq!(Codec::of(&[0x1f, 0x8b, 8]), Some(Codec::Gzip));
        assert_eq!(Codec::of(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Some(Codec::Zstd));
        assert_eq!(Codec::of(b"BZh91AY&SY"), Some(Codec::Bzip2));
        assert_eq!(Codec::of(b"BZh0"), None);
        assert_eq!(
            Codec::of(&[0xfd, b'7', b'z', b'X', b'Z', 0, 0]),
            Some(Codec::Xz)
        );
        assert_eq!(Codec::of(b"REDIS0011"), None);
        assert_eq!(Codec::of(b""), None);
    }

    #[test]
    fn kinds_by_content() {
        assert_eq!(kind_of(b"REDIS0011\xff"), Some(Kind::Rdb));
        assert_eq!(kind_of(b"*1\r\n$4\r\nPING\r\n"), Some(Kind::Aof));
        assert_eq!(
            kind_of(b"file appendonly.aof.1.base.rdb seq 1 type b\n"),
            Some(Kind::Manifest)
        );
        assert_eq!(kind_of(b""), None);
        assert_eq!(kind_of(b"hello"), None);
    }

    #[test]
    fn tar_headers() {
        let mut h = tar::Header::new_ustar();
        h.set_path("dump.rdb").unwrap();
        h.set_size(3);
        h.set_cksum();
        assert!(archive::is_tar(h.as_bytes()));
        let mut old = tar::Header::new_old();
        old.set_path("dump.rdb").unwrap();
        old.set_size(3);
        old.set_cksum();
        assert!(archive::is_tar(old.as_bytes()));
        let mut bad = *old.as_bytes();
        bad[0] ^= 1;
        assert!(!archive::is_tar(&bad));
        assert!(!archive::is_tar(&[0u8; 512]));
        assert!(!archive::is_tar(b"REDIS0011"));
    }
}
