//! Both verdicts on one AOF read from a stream (standard input, a pipe, a decompressor) in one
//! pass, in memory that does not grow with the stream: the bytes are read in 1 MiB chunks
//! and handed to two threads, redis-check-aof's check (`check::resp_strict`) and the
//! server's reading (`check::server_resp`), each over a window of the stream that holds the
//! record being parsed (so memory is bounded by the largest command, as the server's own
//! `sdsnewlen` of each argument is, plus a few chunks). The verdicts are those
//! [`check_part`] gives for the same bytes held whole, byte for byte (a property test below,
//! every chunk size down to one byte).
//!
//! A stream that starts with an RDB preamble (or a base's RDB part, [`check_part_stream`]) is
//! streamed too: the RDB part is read once by `rdbkit_rdb`'s stream reader — deeply for
//! redis-check-aof's verdict, shallowly for the server's, each on its own thread, holding a
//! record at a time (plus the deep check's duplicate-key fingerprints) — which tells where the
//! RESP tail starts; the tail is then checked over a window from that offset. Not streamed
//! (the caller reads it as a file): a stream that looks like a manifest (it names other
//! files). A stream that fits in its first 64 KiB is checked as a slice.

use std::io::{self, Read};
use std::path::Path;
use std::sync::{mpsc, Arc};

use crate::check::{self, is_damaged_manifest, refuse_cut, CheckOptions, SingleCheck, Stop};
use crate::manifest::{has_manifest_entry_line, looks_like_manifest};
use crate::multipart::{AofFile, Layout, Role};
use crate::parts::{check_part, MultiCheck, PartVerdict, Want};
use crate::report::Report;

/// What [`check_stream`] made of a stream.
pub enum Streamed {
    /// Both verdicts, as [`crate::report::check_path`] gives them for a file of these bytes.
    Report(Box<Report>),
    /// Not checked as a stream (a manifest): the bytes read so far, to be put back in front of
    /// the rest of the stream by the caller.
    NotStreamed(Vec<u8>),
}

/// The sizes a stream is read in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    /// The first window (at most [`SNIFF`], the bytes read first to tell the kind); when it
    /// is all of them, a stream that ends within them is checked as a slice.
    pub head: usize,
    /// Then read and handed over in chunks of this size.
    pub chunk: usize,
}

/// The bytes read first, to tell the kind.
const SNIFF: usize = 64 << 10;

const SIZES: Sizes = Sizes {
    head: SNIFF,
    chunk: 1 << 20,
};

/// Chunks in flight to each checking thread.
const IN_FLIGHT: usize = 4;

/// Both verdicts on the AOF that `r` holds, named `name` in the report (`-` for standard
/// input). A read error is returned as is (nothing is said of the part read).
pub fn check_stream(r: &mut dyn Read, name: &Path, opts: CheckOptions) -> io::Result<Streamed> {
    let file = AofFile {
        name: name.display().to_string(),
        path: name.to_path_buf(),
        role: Role::Single,
    };
    let v = match stream_part(r, &file, opts, SIZES)? {
        Ok(v) => v,
        Err(head) => return Ok(Streamed::NotStreamed(head)),
    };
    let mut m = MultiCheck::new(1, opts);
    m.add(&file, v);
    let (strict, server) = m.finish();
    let layout = Layout::Single(file);
    Ok(Streamed::Report(Box::new(Report {
        path: name.to_path_buf(),
        layout: Ok(layout.clone()),
        strict_layout: strict.is_ok().then_some(layout),
        strict: strict.map_err(|e| e.to_string()),
        server,
    })))
}

/// [`check_stream`] reading `head` bytes first and then chunks of `chunk` bytes (both at
/// least 1): for the fuzz invariant that the streamed verdicts are the whole file's at every
/// window size (`rdbkit-fuzz-checks`).
#[doc(hidden)]
pub fn check_stream_sized(
    r: &mut dyn Read,
    name: &Path,
    opts: CheckOptions,
    head: usize,
    chunk: usize,
) -> io::Result<Option<String>> {
    let file = AofFile {
        name: name.display().to_string(),
        path: name.to_path_buf(),
        role: Role::Single,
    };
    let sizes = Sizes {
        head: head.max(1),
        chunk: chunk.max(1),
    };
    Ok(stream_part(r, &file, opts, sizes)?
        .ok()
        .map(|v| verdict_json(&file, opts, v)))
}

/// The verdicts of one part on its own as `report::json` prints them.
#[doc(hidden)]
pub fn verdict_json(file: &AofFile, opts: CheckOptions, v: PartVerdict) -> String {
    let mut m = MultiCheck::new(1, opts);
    m.add(file, v);
    let (strict, server) = m.finish();
    let layout = Layout::Single(file.clone());
    crate::report::json(&Report {
        path: file.path.clone(),
        layout: Ok(layout.clone()),
        strict_layout: strict.is_ok().then_some(layout),
        strict: strict.map_err(|e| e.to_string()),
        server,
    })
}

/// Reads up to `n` bytes (fewer only at the end of `r`).
fn read_up_to(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        match r.read(buf.get_mut(filled..).unwrap_or(&mut [])) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// [`check_part`]'s verdicts on the stream `r` as the single (last) file `file`, or the head
/// read when it is not streamed (a manifest).
pub(crate) fn stream_part(
    r: &mut dyn Read,
    file: &AofFile,
    opts: CheckOptions,
    sizes: Sizes,
) -> io::Result<Result<PartVerdict, Vec<u8>>> {
    // The kind is told from the first 64 KiB, as `multipart::resolve` tells a file's.
    let sniffed = read_up_to(r, SNIFF)?;
    if looks_like_manifest(&sniffed) && !rdbkit_rdb::is_rdb_magic(&sniffed) {
        return Ok(Err(sniffed));
    }
    part_after_head(sniffed, r, file, true, opts, Want::BOTH, sizes).map(Ok)
}

/// [`check_part`]'s verdicts on one part of a data set read from a stream (an archive's
/// member): `file` its entry in the layout, `last` whether it is the data set's last file,
/// `want` the verdicts still needed (see [`crate::parts::MultiCheck::want`]). Memory does not
/// grow with the part: an RDB part (a base's, or a preamble) is checked by a pass of
/// `rdbkit_rdb`'s stream reader (deep for redis-check-aof's verdict, shallow for the
/// server's, each on its own thread), which tells where its RESP tail starts; the tail is then
/// checked over a window as any RESP stream is. The same verdicts, offsets and messages as
/// [`check_part`] of the part's bytes held whole. `r` is read to its end; a read error is
/// returned as is.
///
/// `hold_rdb`: a part that starts with an RDB and ends within this many bytes is read into
/// memory and checked by [`check_part`] instead, whose deep validation runs on every core
/// (the stream reader's runs on one); 0 streams every part.
pub fn check_part_stream(
    r: &mut dyn Read,
    file: &AofFile,
    last: bool,
    opts: CheckOptions,
    want: Want,
    hold_rdb: usize,
) -> io::Result<PartVerdict> {
    let mut sniffed = read_up_to(r, SNIFF)?;
    if hold_rdb > sniffed.len() && rdbkit_rdb::is_rdb_magic(&sniffed) {
        let want_more = (hold_rdb - sniffed.len()) as u64;
        r.take(want_more).read_to_end(&mut sniffed)?;
        if (sniffed.len() as u64) < hold_rdb as u64 {
            return Ok(check_part(file, &sniffed, last, opts, want));
        }
    }
    part_after_head(sniffed, r, file, last, opts, want, SIZES)
}

/// The verdicts of a part whose first bytes, `sniffed` (all of them when fewer than
/// [`SNIFF`]), were read from `r`.
fn part_after_head(
    sniffed: Vec<u8>,
    r: &mut dyn Read,
    file: &AofFile,
    last: bool,
    opts: CheckOptions,
    want: Want,
    sizes: Sizes,
) -> io::Result<PartVerdict> {
    if sniffed.is_empty() || (sniffed.len() < SNIFF && sizes.head >= SNIFF) {
        return Ok(check_part(file, &sniffed, last, opts, want));
    }
    // What each verdict reads first: redis-check-aof validates an RDB part (deeply) at the
    // head of a base or a single file only; the server reads one wherever it is.
    let strict_rdb = file.role != Role::Incr && check::is_rdb(&sniffed);
    let server_rdb = rdbkit_rdb::is_rdb_magic(&sniffed);
    // The window starts with `sizes.head` of them (all, but in tests); the rest follows in
    // chunks, then the rest of the stream.
    let at = sizes.head.min(sniffed.len());
    let head = sniffed.get(..at).unwrap_or(&[]).to_vec();
    let mut rest = io::Cursor::new(sniffed);
    rest.set_position(at as u64);
    let mut r = io::Read::chain(rest, r);
    let r: &mut dyn Read = &mut r;
    let head = Arc::new(head);
    let (to_strict, strict_rx) = mpsc::sync_channel::<Arc<Vec<u8>>>(IN_FLIGHT);
    let (to_server, server_rx) = mpsc::sync_channel::<Arc<Vec<u8>>>(IN_FLIGHT);
    let (strict_rx, server_rx) = (
        want.strict.then_some(strict_rx),
        want.server.then_some(server_rx),
    );
    let (strict, load, read) = std::thread::scope(|s| {
        let strict = strict_rx.map(|rx| {
            s.spawn(|| {
                let feed = Feed::new(&head, rx, true);
                let mut c = SingleCheck {
                    size: 0,
                    ok_up_to: 0,
                    ok_up_to_line: 0,
                    rdb: None,
                    error: None,
                    stop: Stop::Checked,
                    commands: 0,
                };
                let mut line = 0u64;
                let mut w = if strict_rdb {
                    let (w, prefix) = feed.past_rdb(true, sizes.chunk);
                    match prefix {
                        Ok(p) => c.rdb = Some(p),
                        Err(e) => c.stop = Stop::RdbInvalid(e),
                    }
                    w
                } else {
                    feed.window(Vec::new(), 0, sizes.chunk)
                };
                if c.stop == Stop::Checked {
                    check::resp_strict(&mut w, 0, last, opts, &mut line, &mut c);
                }
                // The size is the whole stream's; the manifest scan, when still on, reads it all.
                w.drain(c.commands);
                c.size = w.tally.received;
                let entry_line = w.tally.scan.map(ManifestScan::finish);
                (c, entry_line, w.tally.first)
            })
        });
        let server = server_rx.map(|rx| {
            s.spawn(|| {
                let feed = Feed::new(&head, rx, false);
                if !server_rdb {
                    return check::server_resp(&mut feed.window(Vec::new(), 0, sizes.chunk), 0);
                }
                // The server's own reading of the RDB part: not deep (`server_load_after`).
                let (mut w, prefix) = feed.past_rdb(false, sizes.chunk);
                match prefix {
                    Ok(_) => check::server_resp(&mut w, 0),
                    Err(e) => check::Load::Failed {
                        offset: e.offset.unwrap_or(0),
                        reason: format!("RDB part not loadable: {e}"),
                    },
                }
            })
        });
        let read = pump(r, sizes.chunk, &to_strict, &to_server);
        drop((to_strict, to_server));
        let strict = strict.map(|t| t.join());
        let load = server.map(|t| t.join());
        (strict, load, read)
    });
    read?;
    let strict = match strict {
        Some(Ok(c)) => Some(c),
        None => None,
        Some(Err(_)) => return Err(io::Error::other("a checking thread panicked")),
    };
    let load = match load {
        Some(Ok(l)) => Some(l),
        None => None,
        Some(Err(_)) => return Err(io::Error::other("a checking thread panicked")),
    };
    let mut damaged_manifest = false;
    let mut refusal = None;
    let strict = strict.map(|(c, entry_line, first)| {
        if last && c.diff() > 0 {
            // `is_damaged_manifest` of the bytes held whole, its line scan made on the way.
            let lines: &[u8] = if entry_line == Some(true) {
                b"file a seq 1 type b\n"
            } else {
                b""
            };
            damaged_manifest = is_damaged_manifest(&file.name, lines, &c);
            refusal = refuse_cut(&first, c.ok_up_to);
        }
        c
    });
    Ok(PartVerdict {
        strict,
        load,
        empty: false,
        damaged_manifest,
        refuse_cut: refusal,
    })
}

/// Reads `r` to its end in chunks, handing each to both threads (a thread that is done, or
/// was never started, no longer takes them).
fn pump(
    r: &mut dyn Read,
    chunk: usize,
    a: &mpsc::SyncSender<Arc<Vec<u8>>>,
    b: &mpsc::SyncSender<Arc<Vec<u8>>>,
) -> io::Result<()> {
    let (mut a_on, mut b_on) = (true, true);
    loop {
        let c = read_up_to(r, chunk)?;
        let last = c.len() < chunk;
        if !c.is_empty() {
            let c = Arc::new(c);
            a_on = a_on && a.send(Arc::clone(&c)).is_ok();
            b_on = b_on && b.send(c).is_ok();
        }
        if last {
            return Ok(());
        }
        if !(a_on || b_on) {
            // Neither verdict needs more: the rest is read through (the stream is one pass).
            io::copy(r, &mut io::sink())?;
            return Ok(());
        }
    }
}

/// What a checking thread has received of the stream, whatever read it: its size, its first
/// bytes, the manifest line scan.
struct Tally {
    /// Bytes of the stream received so far.
    received: u64,
    /// The line scan of a damaged-manifest verdict, while it may still matter.
    scan: Option<ManifestScan>,
    /// The stream's first bytes (what `refuse_cut` looks at).
    first: Vec<u8>,
}

impl Tally {
    /// Counts a chunk received (and keeps what the verdict may need of it).
    fn note(&mut self, c: &Arc<Vec<u8>>) {
        let room = FIRST - self.first.len();
        self.first.extend_from_slice(&c[..c.len().min(room)]);
        self.received += c.len() as u64;
        if let Some(s) = &mut self.scan {
            s.add(Arc::clone(c));
        }
    }
}

/// A checking thread's end of the stream before its window: the chunks as an `io::Read`, for
/// the RDB part's reader.
struct Feed {
    rx: mpsc::Receiver<Arc<Vec<u8>>>,
    tally: Tally,
    /// The chunk being read, and how far.
    cur: Arc<Vec<u8>>,
    pos: usize,
}

impl Feed {
    fn new(head: &Arc<Vec<u8>>, rx: mpsc::Receiver<Arc<Vec<u8>>>, scan: bool) -> Feed {
        let mut tally = Tally {
            received: 0,
            scan: scan.then(ManifestScan::default),
            first: Vec::with_capacity(FIRST),
        };
        tally.note(head);
        Feed {
            rx,
            tally,
            cur: Arc::clone(head),
            pos: 0,
        }
    }

    /// The window over the rest of the stream: `held` (bytes already read from this feed, the
    /// stream's byte `base` first), then what the feed holds, then the chunks to come.
    fn window(self, mut held: Vec<u8>, base: u64, chunk: usize) -> StreamWindow {
        held.extend_from_slice(self.cur.get(self.pos..).unwrap_or(&[]));
        let mut buf = Vec::with_capacity(held.len().max(chunk) * 2);
        buf.extend_from_slice(&held);
        StreamWindow {
            rx: self.rx,
            buf,
            base,
            fin: false,
            chunk,
            tally: self.tally,
        }
    }

    /// Reads the RDB part at the head of the stream (`deep` or not) with
    /// [`rdb_prefix::check_stream`]; the window over what follows it (after an error: over
    /// nothing, the rest of the stream still to be drained).
    fn past_rdb(
        mut self,
        deep: bool,
        chunk: usize,
    ) -> (
        StreamWindow,
        Result<crate::rdb_prefix::RdbPrefix, crate::rdb_prefix::RdbPrefixError>,
    ) {
        let (prefix, unread) = crate::rdb_prefix::check_stream(&mut self, deep);
        match prefix {
            Ok(p) => {
                let base = p.len as u64;
                (self.window(unread, base, chunk), Ok(p))
            }
            Err(e) => {
                self.pos = self.cur.len();
                let base = self.tally.received;
                (self.window(Vec::new(), base, chunk), Err(e))
            }
        }
    }
}

impl Read for Feed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.cur.len() {
            match self.rx.recv() {
                Ok(c) => {
                    self.tally.note(&c);
                    self.cur = c;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let rest = self.cur.get(self.pos..).unwrap_or(&[]);
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

/// A checking thread's window of the stream.
struct StreamWindow {
    rx: mpsc::Receiver<Arc<Vec<u8>>>,
    buf: Vec<u8>,
    base: u64,
    fin: bool,
    chunk: usize,
    /// What was received.
    tally: Tally,
}

/// How many first bytes a window keeps.
const FIRST: usize = 8;

impl StreamWindow {
    fn take(&mut self, c: Arc<Vec<u8>>) {
        self.buf.extend_from_slice(&c);
        self.tally.note(&c);
    }

    /// Receives the rest of the stream, keeping none of it (the manifest scan still reads it
    /// while `commands` is 0).
    fn drain(&mut self, commands: u64) {
        if commands > 0 {
            self.tally.scan = None;
        }
        self.buf = Vec::new();
        while let Ok(c) = self.rx.recv() {
            self.tally.note(&c);
        }
    }
}

impl check::Window for StreamWindow {
    fn data(&self) -> &[u8] {
        &self.buf
    }
    fn base(&self) -> u64 {
        self.base
    }
    fn fin(&self) -> bool {
        self.fin
    }
    fn more(&mut self, keep: usize, commands: u64) -> usize {
        if commands > 0 {
            // A damaged-manifest verdict needs a file with no whole command.
            self.tally.scan = None;
        }
        self.buf.drain(..keep);
        self.base += keep as u64;
        // At least one chunk; a record longer than the window doubles it (a record is parsed
        // again from its start after each read: geometric growth keeps that linear).
        let want = (self.buf.len() * 2).max(self.chunk);
        while self.buf.len() < want {
            match self.rx.recv() {
                Ok(c) => self.take(c),
                Err(_) => {
                    self.fin = true;
                    break;
                }
            }
        }
        keep
    }
}

/// [`has_manifest_entry_line`] over a stream, line by line. Chunks are held (not copied) while
/// the check has no whole command yet, up to [`PENDING`] bytes, and scanned only if the
/// verdict needs it; a line is examined in its first [`LINE_CAP`] bytes (a manifest line is a
/// few dozen; a longer line with no NUL in them is judged by them).
#[derive(Default)]
struct ManifestScan {
    pending: Vec<Arc<Vec<u8>>>,
    pending_bytes: usize,
    line: Vec<u8>,
    found: bool,
}

const PENDING: usize = 8 << 20;
const LINE_CAP: usize = 1 << 20;

impl ManifestScan {
    fn add(&mut self, c: Arc<Vec<u8>>) {
        if self.found {
            return;
        }
        self.pending_bytes += c.len();
        self.pending.push(c);
        if self.pending_bytes > PENDING {
            self.flush();
        }
    }

    fn flush(&mut self) {
        for c in std::mem::take(&mut self.pending) {
            self.scan(&c);
        }
        self.pending_bytes = 0;
    }

    fn scan(&mut self, mut bytes: &[u8]) {
        while !self.found && !bytes.is_empty() {
            let (seg, end) = match memchr::memchr(b'\n', bytes) {
                Some(i) => (&bytes[..i], true),
                None => (bytes, false),
            };
            let room = LINE_CAP.saturating_sub(self.line.len());
            self.line.extend_from_slice(&seg[..seg.len().min(room)]);
            if !end {
                return;
            }
            self.found = has_manifest_entry_line(&self.line);
            self.line.clear();
            bytes = &bytes[seg.len() + 1..];
        }
    }

    fn finish(mut self) -> bool {
        self.flush();
        self.found || has_manifest_entry_line(&self.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns at most `n` bytes a call.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(self.1);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn file() -> AofFile {
        AofFile {
            name: "-".into(),
            path: "-".into(),
            role: Role::Single,
        }
    }

    /// The streamed verdicts equal the whole-slice verdicts, for every option given.
    fn same(data: &[u8], sizes: Sizes, read: usize) {
        for ts in [0, 15, 1_000_000] {
            let opts = CheckOptions { to_timestamp: ts };
            let whole = check_part(&file(), data, true, opts, Want::BOTH);
            let streamed = match stream_part(&mut Trickle(data, read), &file(), opts, sizes) {
                Ok(Ok(v)) => v,
                Ok(Err(_)) => return,
                Err(e) => panic!("{e}"),
            };
            let ctx = || {
                format!(
                    "{sizes:?} read {read} ts {ts}: {:?}",
                    String::from_utf8_lossy(data)
                )
            };
            assert_eq!(streamed.strict, whole.strict, "{}", ctx());
            assert_eq!(streamed.load, whole.load, "{}", ctx());
            assert_eq!(streamed.empty, whole.empty, "{}", ctx());
            assert_eq!(
                streamed.damaged_manifest,
                whole.damaged_manifest,
                "{}",
                ctx()
            );
            assert_eq!(streamed.refuse_cut, whole.refuse_cut, "{}", ctx());
        }
    }

    fn all_sizes(data: &[u8]) {
        for (head, chunk, read) in [
            (1, 1, 1),
            (1, 2, 3),
            (2, 3, 7),
            (4, 5, 1),
            (8, 16, 5),
            (16, 7, 64),
            (64, 64, 64),
        ] {
            same(data, Sizes { head, chunk }, read);
        }
    }

    const SET: &[u8] = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";

    #[test]
    fn streamed_verdicts_are_the_slice_verdicts() {
        let cases: Vec<Vec<u8>> = vec![
            [SET, SET, b"#TS:10\r\n", SET, b"#TS:20\r\n", SET].concat(),
            [
                SET,
                b"*1\r\n$5\r\nMULTI\r\n",
                SET,
                b"*1\r\n$4\r\nEXEC\r\n",
                SET,
            ]
            .concat(),
            [SET, b"*1\r\n$5\r\nMULTI\r\n", SET].concat(),
            [SET, b"*1\r\n$4\r\nexec\r\n", SET].concat(),
            [SET, b"*3\r\n$3\r\nSE"].concat(),
            [SET, b"*3\r\n"].concat(),
            b"*1\r\n$3\r\nGETXY".to_vec(),
            b"*2junk\r\n$3\r\nGET\r\n$1\r\nb\r\n".to_vec(),
            b"*1\r\n$4\r\nSETT\r\n".to_vec(),
            b"*1\r\n$8\r\nJSON.SET\r\n*0\r\n".to_vec(),
            b"* 1\r\n$04\r\nPING\r\n*+1\r\n$+1\r\nx\r\n*-5\r\n*\r\n".to_vec(),
            b"*1\r\n$-1\r\n".to_vec(),
            b"*1\r\n$999999999999\r\nabc\r\n".to_vec(),
            b"*1\r\n$4\r\nPING\r\nxx".to_vec(),
            [SET, b"*"].concat(),
            [SET, b"*\n", SET].concat(),
            [SET, b"x"].concat(),
            [b"#TS:x\r\n", SET].concat(),
            [&b"#"[..], &[b'a'; 3000], b"\r\n", SET].concat(),
            [SET, &b"*1\r\n$2000\r\n"[..], &[b'a'; 2000], b"\r\n", SET].concat(),
            [SET, b"*1\r\n$2000\r\n", &[b'a'; 1999]].concat(),
            // No whole command, and a manifest entry line: a damaged manifest.
            b"fil x\nfile a seq 1 type b\n#x\n".to_vec(),
            b"#c\nxfile a seq 1 type b\nfile b seq 2 type i\n".to_vec(),
            b"#c\n  x\n".to_vec(),
            [b"junk\n", SET].concat(),
            b"\x1f\x8b\x08\x00junk".to_vec(),
            b"BZh91AY".to_vec(),
            [SET, b"*1\r\n$5\r\nMULTI\r\n#TS:30\r\n", SET].concat(),
            [b"#TS:30\r\n", SET].concat(),
        ];
        for c in &cases {
            all_sizes(c);
        }
    }

    #[test]
    fn streamed_verdicts_on_the_repository_aofs() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/aof");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if !p.is_file() {
                continue;
            }
            let data = std::fs::read(&p).unwrap();
            n += 1;
            for (head, chunk, read) in [(7, 13, 5), (64, 1000, 4096), (1, 4096, 100)] {
                same(&data, Sizes { head, chunk }, read);
            }
            // Cut anywhere: the damaged tails too.
            let step = (data.len() / 50).max(1);
            for cut in (0..data.len()).step_by(step) {
                same(&data[..cut], Sizes { head: 3, chunk: 17 }, 11);
            }
        }
        assert!(n > 0, "no AOF in {}", dir.display());
    }
}
