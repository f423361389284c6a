//! Decompression on its own thread, for `rdbkit check` of a compressed stream (a `.gz`/`.zst`/
//! `.bz2`/`.xz` file, or one piped in): one core inflates while the other checks.
//!
//! **Exact reads.** The decoders (flate2, zstd, bzip2, xz) drop the output of the read call
//! that fails, so how many bytes reach the checker before a damaged stream's error — the
//! message's offset and its `N bytes decompressed` — depends on the sizes of the reads. The
//! thread therefore makes exactly the reads the checker would make itself, in the same order
//! and of the same sizes, and hands each read's result (its bytes, or its error) over as it was:
//! the checker sees the same sequence of results, so every verdict, message and offset is the
//! one of the single-threaded read. What it reads: [`rdbkit_rdb::RdbReader`] fills its buffer
//! with `take(want).read_to_end(..)`, `want` = 64 KiB while what it has buffered but not
//! consumed is ≤ 64 KiB (more for a bigger record); `read_to_end` calls `read` with 8 KiB, then
//! twice the size after each full read, capped by what the 64 KiB still lack ([`Plan`]; a
//! short read keeps the size). Ahead of the checker the thread makes only the reads of a fill
//! whose `want` is known to be 64 KiB: the first fill, and the next one once the checker has
//! returned a record past which at most 64 KiB are buffered ([`Marker::at`]: the unconsumed
//! bytes at the next fill are at most those, so its `want` is 64 KiB). Every other read (a fill
//! for a record over 64 KiB, the reads after the RDB's end that check the compressed trailer)
//! is made when the checker asks for it, with the size it asks (lockstep). A request that is
//! not the read made ahead (which the rule above excludes) is served from the bytes read
//! (their content is the same) and the rest read in lockstep; `RDBKIT_READAHEAD=trace` counts
//! such requests on stderr (the tests assert none).
//!
//! **Bounds.** Ahead of the checker: at most one 64 KiB fill (a few reads); the results channel
//! holds 8. A read the checker asks for in lockstep is as big as that read. The thread is
//! stopped and joined when the reader is dropped (the checker's error, the RDB's end, an early
//! exit): it finishes the read it is in, if any, and reads nothing more. `RDBKIT_READAHEAD=0`
//! reads on the checker's thread as before.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// [`rdbkit_rdb::RdbReader`]'s smallest fill (its `MIN_READ`).
const FILL: usize = 64 << 10;
/// The first read of `read_to_end` (std's `DEFAULT_BUF_SIZE`).
const FIRST: usize = 8 << 10;

/// Whether `check` reads a compressed stream on its own thread (`RDBKIT_READAHEAD=0`: no).
pub fn enabled() -> bool {
    std::env::var("RDBKIT_READAHEAD").map_or(true, |v| v.trim() != "0")
}

fn tracing() -> bool {
    std::env::var("RDBKIT_READAHEAD").is_ok_and(|v| v.trim() == "trace")
}

/// The reads of one `take(64 KiB).read_to_end(..)`, as std makes them: 8 KiB, doubled after
/// a read that filled what it asked, capped by what is still missing; over at the end of the
/// stream or an error (the consumer then stops), or when the 64 KiB are read.
#[derive(Clone, Copy, Debug)]
struct Plan {
    max: usize,
    cum: usize,
    over: bool,
}

impl Plan {
    fn new() -> Plan {
        Plan {
            max: FIRST,
            cum: 0,
            over: false,
        }
    }

    /// The size of the next read, or `None` when the fill is done.
    fn next(&self) -> Option<usize> {
        if self.over || self.cum >= FILL {
            None
        } else {
            Some(self.max.min(FILL - self.cum))
        }
    }

    fn update(&mut self, asked: usize, res: &io::Result<Vec<u8>>) {
        match res {
            // `read_to_end` asks again, the same size.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => self.over = true,
            Ok(b) if b.is_empty() => self.over = true,
            Ok(b) => {
                self.cum += b.len();
                if b.len() == asked && asked == self.max {
                    self.max = self.max.saturating_mul(2);
                }
            }
        }
    }

    /// The stream ended or failed: the consumer reads no further fill.
    fn ended(&self) -> bool {
        self.over
    }
}

enum Msg {
    /// Read this many bytes now (lockstep).
    Read(usize),
    /// The next fill is a 64 KiB one: read it ahead.
    Fill,
}

/// One read's result, with the size asked.
struct Done {
    asked: usize,
    res: io::Result<Vec<u8>>,
}

/// State shared by the reader and its [`Marker`] (the checker's thread only).
struct Shared {
    /// The fill read ahead, as the thread plans it.
    plan: Cell<Option<Plan>>,
    /// Bytes handed to the checker.
    delivered: Cell<u64>,
    /// A read since the last hint.
    fresh: Cell<bool>,
    /// The stream ended or failed.
    ended: Cell<bool>,
}

/// A reader whose reads are made on a thread of their own (see the module's header).
pub struct ReadAhead {
    tx: SyncSender<Msg>,
    rx: Option<Receiver<Done>>,
    shared: Rc<Shared>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    /// After a request that was not the read made ahead: bytes read, then the error met.
    carry: Option<(Vec<u8>, usize, Option<io::Error>)>,
    mismatches: u64,
}

/// Tells the reader where the checker stands (see [`Marker::at`]).
pub struct Marker {
    shared: Rc<Shared>,
    tx: SyncSender<Msg>,
}

impl Marker {
    /// The checker returned a record (not the EOF record) and stands at `position`: when at
    /// most 64 KiB are buffered past it, its next fill asks for 64 KiB, which the thread
    /// starts reading now.
    #[inline]
    pub fn at(&self, position: u64) {
        let s = &*self.shared;
        if !s.fresh.get() || s.ended.get() {
            return;
        }
        if s.plan.get().and_then(|p| p.next()).is_some() {
            return;
        }
        if s.delivered.get().saturating_sub(position) > FILL as u64 {
            return;
        }
        if self.tx.try_send(Msg::Fill).is_ok() {
            s.plan.set(Some(Plan::new()));
            s.fresh.set(false);
        }
    }
}

impl ReadAhead {
    /// Starts the thread reading `src` (the first fill read ahead at once).
    pub fn spawn(src: Box<dyn Read + Send>) -> io::Result<(ReadAhead, Marker)> {
        let (tx, msgs) = sync_channel::<Msg>(4);
        let (done, rx) = sync_channel::<Done>(8);
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = std::thread::Builder::new()
            .name("rdbkit-readahead".into())
            .spawn(move || produce(src, msgs, done, stop2))?;
        let shared = Rc::new(Shared {
            plan: Cell::new(Some(Plan::new())),
            delivered: Cell::new(0),
            fresh: Cell::new(false),
            ended: Cell::new(false),
        });
        let marker = Marker {
            shared: shared.clone(),
            tx: tx.clone(),
        };
        Ok((
            ReadAhead {
                tx,
                rx: Some(rx),
                shared,
                stop,
                handle: Some(handle),
                carry: None,
                mismatches: 0,
            },
            marker,
        ))
    }

    fn recv(&self) -> io::Result<Done> {
        self.rx
            .as_ref()
            .and_then(|rx| rx.recv().ok())
            .ok_or_else(|| io::Error::other("the read-ahead thread stopped"))
    }

    /// Serves `buf` from bytes read ahead for other requests (see the module's header).
    fn serve_carry(&mut self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        let (bytes, at, err) = self.carry.as_mut()?;
        if *at < bytes.len() {
            let n = (bytes.len() - *at).min(buf.len());
            buf[..n].copy_from_slice(&bytes[*at..*at + n]);
            *at += n;
            return Some(Ok(n));
        }
        if let Some(e) = err.take() {
            return Some(Err(e));
        }
        self.carry = None;
        None
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(r) = self.serve_carry(buf) {
            self.shared.fresh.set(true);
            return r.inspect(|&n| {
                self.shared
                    .delivered
                    .set(self.shared.delivered.get() + n as u64)
            });
        }
        let n = buf.len();
        let plan = self.shared.plan.get();
        let done = match plan.and_then(|p| p.next()) {
            Some(_) => {
                let d = self.recv()?;
                let mut p = plan.unwrap_or_else(Plan::new);
                p.update(d.asked, &d.res);
                self.shared.plan.set(Some(p));
                if d.asked != n {
                    // Not the read made ahead: its bytes (and those of the reads after it in
                    // the same fill) serve this request and the next ones.
                    self.mismatches += 1;
                    let mut bytes = Vec::new();
                    let mut err = None;
                    let mut d = Some(d);
                    loop {
                        if let Some(d) = d.take() {
                            match d.res {
                                Ok(b) => bytes.extend_from_slice(&b),
                                Err(e) => {
                                    err = Some(e);
                                    break;
                                }
                            }
                        }
                        let mut p = self.shared.plan.get().unwrap_or_else(Plan::new);
                        if p.next().is_none() {
                            break;
                        }
                        let next = self.recv()?;
                        p.update(next.asked, &next.res);
                        self.shared.plan.set(Some(p));
                        d = Some(next);
                    }
                    if self.shared.plan.get().is_some_and(|p| p.ended()) {
                        self.shared.ended.set(true);
                    }
                    self.carry = Some((bytes, 0, err));
                    return self.read(buf);
                }
                if p.ended() {
                    self.shared.ended.set(true);
                }
                d
            }
            None => {
                self.tx
                    .send(Msg::Read(n))
                    .map_err(|_| io::Error::other("the read-ahead thread stopped"))?;
                self.recv()?
            }
        };
        self.shared.fresh.set(true);
        match done.res {
            Ok(b) => {
                buf[..b.len()].copy_from_slice(&b);
                self.shared
                    .delivered
                    .set(self.shared.delivered.get() + b.len() as u64);
                if b.is_empty() && n > 0 {
                    self.shared.ended.set(true);
                }
                Ok(b.len())
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.shared.ended.set(true);
                }
                Err(e)
            }
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // A thread blocked handing a result over sees the channel closed; one waiting for a
        // request is woken by a message, and sees the stop flag.
        drop(self.rx.take());
        let _ = self.tx.try_send(Msg::Fill);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        if self.mismatches > 0 && tracing() {
            eprintln!(
                "rdbkit: read-ahead: {} request(s) were not the read made ahead",
                self.mismatches
            );
        }
    }
}

/// The thread: the reads of a fill known to be 64 KiB as soon as it is known, every other
/// read when asked; each result handed over in order.
fn produce(
    mut src: Box<dyn Read + Send>,
    msgs: Receiver<Msg>,
    out: SyncSender<Done>,
    stop: Arc<AtomicBool>,
) {
    let mut plan = Some(Plan::new());
    loop {
        let n = match plan.as_ref().and_then(Plan::next) {
            Some(n) => n,
            None => match msgs.recv() {
                Ok(Msg::Read(n)) => {
                    plan = None;
                    n
                }
                Ok(Msg::Fill) => {
                    plan = Some(Plan::new());
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    continue;
                }
                Err(_) => return,
            },
        };
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let mut buf = vec![0u8; n];
        let res = src.read(&mut buf).map(|k| {
            buf.truncate(k);
            buf
        });
        if let Some(p) = plan.as_mut() {
            p.update(n, &res);
        }
        if out.send(Done { asked: n, res }).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that records the size of every read asked of it and returns short reads in a
    /// fixed pattern, as a decoder does at its input buffer's edges.
    struct Recording {
        data: Vec<u8>,
        at: usize,
        asked: Rc<std::cell::RefCell<Vec<usize>>>,
        calls: usize,
    }

    impl Read for Recording {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.asked.borrow_mut().push(buf.len());
            self.calls += 1;
            let mut n = buf.len().min(self.data.len() - self.at);
            if self.calls.is_multiple_of(3) {
                n = n.min(777);
            }
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// The plan is the reads std's `take(64 KiB).read_to_end` makes (this toolchain's): a
    /// change of std's policy fails here, before it could change what a damaged stream says.
    #[test]
    fn plan_is_what_read_to_end_asks() {
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7) as u8).collect();
        let asked = Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut r = Recording {
            data: data.clone(),
            at: 0,
            asked: asked.clone(),
            calls: 0,
        };
        // A buffer holding unconsumed bytes, as the RDB reader's does.
        let mut buf = vec![1u8; 5000];
        buf.reserve_exact(FILL);
        let got = r.by_ref().take(FILL as u64).read_to_end(&mut buf).unwrap();
        assert_eq!(got, FILL);
        // Exact replay: run the plan against the recorded sizes and the results the reader gave.
        let mut r2 = Recording {
            data,
            at: 0,
            asked: Rc::new(std::cell::RefCell::new(Vec::new())),
            calls: 0,
        };
        let mut p = Plan::new();
        let mut sizes = Vec::new();
        while let Some(n) = p.next() {
            let mut b = vec![0u8; n];
            let k = r2.read(&mut b).unwrap();
            b.truncate(k);
            sizes.push(n);
            p.update(n, &Ok(b));
        }
        assert_eq!(&sizes, &*asked.borrow());
    }
}
