//! Opening any input a subcommand takes: an RDB, an AOF (plain RESP or with an RDB preamble),
//! a 7.x manifest, an `appendonlydir/` (or the data directory holding it), `-` for standard
//! input, and gzip'd files (decompressed as a stream, never to disk). The kind comes from the
//! content, never from the name:
//!
//! | first bytes                      | kind                                   |
//! |----------------------------------|----------------------------------------|
//! | `1f 8b`                          | gzip: the kind of what it decompresses to |
//! | `REDIS` / `VALKEY`, aux `aof-preamble` 1 | AOF with an RDB preamble (4.0–6.2 rewrites) |
//! | `REDIS` / `VALKEY`               | RDB                                    |
//! | first non-`#` line `file ...`    | manifest                               |
//! | `*` or `#`                       | AOF (RESP)                             |
//! | a directory                      | AOF directory (its manifest)           |
//! | anything else                    | RDB (the decoder reports what is wrong)|
//!
//! API for subcommands: [`open`] → [`Input`]; then either [`Input::with_rdb`] (streaming RDB
//! records through `&mut dyn RecordSource`: mmap for files, `io::Read` for stdin/gzip) or
//! [`Input::load`] (the whole data set in memory, for AOFs replayed into [`crate::model`]).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rdbkit_rdb::{Options, RdbFile, RdbParser, RdbReader, Record, RecordSource, Scratch};

use crate::model::{self, Dataset, Replayer};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Rdb,
    /// A single AOF file: RESP, maybe after an RDB preamble.
    Aof,
    Manifest,
    Dir,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Rdb => "rdb",
            Kind::Aof => "aof",
            Kind::Manifest => "aof-manifest",
            Kind::Dir => "aof-dir",
        }
    }
}

enum Src {
    Path(PathBuf),
    /// stdin or a gzip stream; its first bytes were read to sniff the kind and are chained back.
    Stream(Box<dyn Read>),
}

/// An opened input, kind known.
pub struct Input {
    /// How errors name it: the path, or `-`.
    pub name: String,
    pub kind: Kind,
    pub gzip: bool,
    /// Size in bytes when known (a plain file), for progress.
    pub size: Option<u64>,
    src: Src,
}

/// An input error: one line naming the file and, when known, the offset and key.
#[derive(Debug)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const SNIFF: usize = 4096;

fn kind_of(head: &[u8]) -> Option<Kind> {
    if head.starts_with(b"REDIS") || head.starts_with(b"VALKEY") {
        return Some(if says_aof_preamble(head) {
            Kind::Aof
        } else {
            Kind::Rdb
        });
    }
    if rdbkit_aof::manifest::looks_like_manifest(head) {
        return Some(Kind::Manifest);
    }
    match head.first() {
        Some(b'*') | Some(b'#') => Some(Kind::Aof),
        _ => None,
    }
}

/// Whether an RDB's leading aux fields say `aof-preamble 1`: Redis 4.0–6.2 write it into the
/// RDB image that starts a rewritten single-file AOF (and 0 into a `dump.rdb`), so the file is
/// an AOF whose RESP tail must be read too. (7.x writes `aof-base` into a multi-part base,
/// which is a whole RDB on its own.) Aux fields come first; the scan stops at the first other
/// record or at the end of `head`.
fn says_aof_preamble(head: &[u8]) -> bool {
    let opts = Options {
        deep: false,
        verify_checksum: false,
        best_effort: true,
    };
    let mut p = RdbParser::new(head, opts);
    while let Some(Ok(Record::Aux { key, value })) = p.next() {
        if key.as_ref() == b"aof-preamble" {
            return value.as_ref() == b"1";
        }
    }
    false
}

fn read_head(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// [`open`] for the reading subcommands (`info`, `keys`, `size`): also their decode options
/// (shallow; the checksum verified unless `no_checksum`). A failure is printed as one line and
/// becomes exit status 1.
pub fn open_for_reading(
    path: &Path,
    no_checksum: bool,
) -> Result<(Input, Options), std::process::ExitCode> {
    let inp = open(path).map_err(|e| {
        eprintln!("rdbkit: {e}");
        std::process::ExitCode::from(1)
    })?;
    let opts = Options {
        deep: false,
        verify_checksum: !no_checksum,
        best_effort: false,
    };
    Ok((inp, opts))
}

/// Opens `path` (`-` = stdin) and finds its kind from the content.
pub fn open(path: &Path) -> Result<Input, InputError> {
    let name = path.display().to_string();
    let ioerr = |e: io::Error| InputError(format!("{name}: {e}"));
    if path.as_os_str() == "-" {
        return open_stream(name, Box::new(io::stdin()), false);
    }
    if path.is_dir() {
        return Ok(Input {
            name,
            kind: Kind::Dir,
            gzip: false,
            size: None,
            src: Src::Path(path.to_path_buf()),
        });
    }
    let mut f = File::open(path).map_err(ioerr)?;
    let size = f.metadata().map_err(ioerr)?.len();
    let head = read_head(&mut f, SNIFF).map_err(ioerr)?;
    if head.starts_with(&GZIP_MAGIC) {
        let f = File::open(path).map_err(ioerr)?;
        let gz = flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(1 << 16, f));
        return open_stream(name, Box::new(gz), true);
    }
    // Unknown content is read as an RDB: the decoder names what is wrong and where.
    let kind = kind_of(&head).unwrap_or(Kind::Rdb);
    Ok(Input {
        name,
        kind,
        gzip: false,
        size: Some(size),
        src: Src::Path(path.to_path_buf()),
    })
}

fn open_stream(name: String, mut r: Box<dyn Read>, gzip: bool) -> Result<Input, InputError> {
    let head = read_head(&mut r, SNIFF).map_err(|e| InputError(format!("{name}: {e}")))?;
    if !gzip && head.starts_with(&GZIP_MAGIC) {
        let chained: Box<dyn Read> = Box::new(io::Cursor::new(head).chain(r));
        let gz = flate2::read::MultiGzDecoder::new(chained);
        return open_stream(name, Box::new(gz), true);
    }
    let kind = kind_of(&head).unwrap_or(Kind::Rdb);
    if kind == Kind::Manifest {
        return Err(InputError(format!(
            "{name}: a manifest names files beside it: give its path, not a stream"
        )));
    }
    Ok(Input {
        name,
        kind,
        gzip,
        size: None,
        src: Src::Stream(Box::new(io::Cursor::new(head).chain(r))),
    })
}

/// Formats an RDB error as one line with the input's name.
pub fn rdb_error(name: &str, e: &rdbkit_rdb::Error) -> InputError {
    InputError(format!("{name}: {e}"))
}

impl Input {
    /// For subcommands with their own file path (mmap): the decompressed/stdin stream when the
    /// input is one, `None` for a plain path (open it as usual).
    pub fn into_stream(self) -> Option<Box<dyn Read>> {
        match self.src {
            Src::Stream(r) => Some(r),
            Src::Path(_) => None,
        }
    }

    pub fn is_rdb(&self) -> bool {
        self.kind == Kind::Rdb
    }

    /// Streams the RDB's records into `f` (mmap for files, buffered `io::Read` otherwise).
    pub fn with_rdb<T>(
        self,
        opts: Options,
        enterprise: bool,
        f: impl FnOnce(&mut dyn RecordSource) -> T,
    ) -> Result<T, InputError> {
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
                let mut parser = file.parser(opts).enterprise_opcodes(enterprise);
                Ok(f(&mut parser))
            }
            Src::Stream(r) => {
                let mut reader = RdbReader::new(r, opts).enterprise_opcodes(enterprise);
                Ok(f(&mut reader))
            }
        }
    }

    /// The whole data set in memory: an RDB decoded, or an AOF (any layout) replayed on top of
    /// its RDB preamble/base. `now_ms` anchors relative expiries found in an AOF.
    pub fn load(self, opts: Options, now_ms: i64) -> Result<Dataset, InputError> {
        let mut rp = Replayer::new(now_ms);
        let name = self.name.clone();
        match (self.kind, self.src) {
            (Kind::Manifest | Kind::Dir, Src::Path(p)) => {
                let layout = rdbkit_aof::multipart::resolve(&p)
                    .map_err(|e| InputError(format!("{name}: {e}")))?;
                for f in layout.files() {
                    let data = rdbkit_aof::multipart::FileData::open(&f.path)
                        .map_err(|e| InputError(format!("{e}")))?;
                    replay_bytes(&f.path.display().to_string(), data.bytes(), opts, &mut rp)?;
                }
            }
            (_, Src::Path(p)) => {
                rp.pre_7_0 = true; // a single-file AOF: written by a server before 7.0
                let data = rdbkit_aof::multipart::FileData::open(&p)
                    .map_err(|e| InputError(format!("{e}")))?;
                replay_bytes(&name, data.bytes(), opts, &mut rp)?;
            }
            (_, Src::Stream(mut r)) => {
                rp.pre_7_0 = true;
                let mut buf = Vec::new();
                r.read_to_end(&mut buf)
                    .map_err(|e| InputError(format!("{name}: {e}")))?;
                replay_bytes(&name, &buf, opts, &mut rp)?;
            }
        }
        Ok(rp.ds)
    }
}

/// Loads an RDB (or RDB preamble) then replays any RESP commands after it.
fn replay_bytes(
    name: &str,
    bytes: &[u8],
    opts: Options,
    rp: &mut Replayer,
) -> Result<(), InputError> {
    let mut start = 0usize;
    if bytes.starts_with(b"REDIS") || bytes.starts_with(b"VALKEY") {
        let mut p = RdbParser::new(bytes, opts);
        start = load_rdb(&mut p, &mut rp.ds).map_err(|e| rdb_error(name, &e))?;
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
    let mut scratch = Scratch::new();
    while let Some(rec) = src.next_record() {
        match rec? {
            Record::Key(k) => {
                let v = model::from_record(&k, &mut scratch)?;
                ds.dbs.entry(k.db).or_default().insert(k.key.to_vec(), v);
            }
            Record::Function { code } => ds.functions.push(code.into_owned()),
            Record::Eof { end, .. } => return Ok(end as usize),
            _ => {}
        }
    }
    Ok(src.position() as usize)
}

/// A progress bar on stderr for long work: drawn only when stderr is a terminal, `--quiet` is
/// off, and the work has already taken a second.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    start: std::time::Instant,
    shown: bool,
    tick: u32,
}

impl Progress {
    pub fn new(total: Option<u64>, quiet: bool) -> Progress {
        use std::io::IsTerminal;
        let bar = (!quiet && io::stderr().is_terminal()).then(|| {
            let b = match total {
                Some(n) => indicatif::ProgressBar::with_draw_target(
                    Some(n),
                    indicatif::ProgressDrawTarget::hidden(),
                ),
                None => indicatif::ProgressBar::hidden(),
            };
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
            ) {
                b.set_style(style);
            }
            b
        });
        Progress {
            bar,
            start: std::time::Instant::now(),
            shown: false,
            tick: 0,
        }
    }

    /// Reports the byte position (cheap: looks at the clock every 1024 calls).
    pub fn set(&mut self, pos: u64) {
        let Some(bar) = &self.bar else { return };
        self.tick = self.tick.wrapping_add(1);
        if !self.tick.is_multiple_of(1024) {
            return;
        }
        if !self.shown && self.start.elapsed().as_millis() >= 1000 {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            self.shown = true;
        }
        bar.set_position(pos);
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
