//! `rdbkit dump --format jsonl` of a mapped file on several cores.
//!
//! The calling thread reads the records in file order (the cheap part: the skipping walk),
//! applies the filter, and hands batches of keys — values by reference into the map — to a
//! pool of workers that decode and format them (the expensive part: LZF, listpack walks, JSON
//! escaping, base64). The calling thread writes the workers' buffers back in batch order, so
//! the output is byte for byte the sequential one. At most [`IN_FLIGHT_PER_WORKER`] batches per
//! worker are in flight (a batch is cut at [`BATCH_BYTES`] of stored value bytes), so memory
//! stays bounded whatever the file's size.
//!
//! Anything that stops the sequential dump (damage, the value budget, a record the pool
//! cannot take such as a template-encoded hash that refers to the parser's templates) stops
//! this one at the first key it concerns, after writing every key before it; the caller then
//! runs the sequential dump from the start with the output of those keys suppressed, so the
//! error, and the keys printed before it, are exactly the sequential ones.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use std::sync::Mutex;

use rdbkit_rdb::NoVisitor;
use rdbkit_rdb::{Item, Key, KeyRecord, RdbParser, Scratch};

use crate::jsonl;

/// Stored value bytes after which a batch is handed out (and at most [`BATCH_KEYS`] keys).
const BATCH_BYTES: usize = 256 << 10;
pub(super) const BATCH_KEYS: usize = 1024;
/// Output buffers up to this capacity are reused by later batches.
const SPARE_MAX: usize = 16 * BATCH_BYTES;
/// Batches in flight (queued, being formatted, or formatted and waiting their turn) per worker.
pub(super) const IN_FLIGHT_PER_WORKER: usize = 4;

/// Batch size and window of a parallel dump (other than the defaults in tests only).
pub(super) struct Tuning {
    /// At most this many keys per batch ([`BATCH_KEYS`]).
    pub batch_keys: usize,
    /// Batches in flight per worker ([`IN_FLIGHT_PER_WORKER`]).
    pub window: usize,
}

/// How a parallel dump ended.
pub(super) enum Outcome {
    /// Every key was written and the file ended cleanly.
    Done,
    /// Stopped: every key whose record starts before `from` was handled (written or filtered
    /// out) and nothing else was written. The sequential dump decides the rest.
    Stopped { from: u64 },
}

struct Job<'a> {
    key: Key<'a>,
    /// Passes the filter: format it (otherwise only checked: budget, `--deep`).
    print: bool,
}

struct Done {
    seq: u64,
    out: Vec<u8>,
    /// The offset of the key the batch stopped at.
    stop: Option<u64>,
}

/// What every worker needs.
struct Shared {
    deep: bool,
    budget: u64,
    cancel: AtomicBool,
    /// Output buffers written out, for the next batches (at most one per batch in flight):
    /// no allocation, page faults or regrowth per batch.
    spare: Mutex<Vec<Vec<u8>>>,
}

impl Shared {
    fn buffer(&self) -> Vec<u8> {
        self.spare
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default()
    }
}

/// Formats one batch into `out` (a recycled buffer, cleared here): the lines of its printed
/// keys, up to the first key that fails.
fn format_batch(
    jobs: &[Job<'_>],
    sh: &Shared,
    scratch: &mut Scratch,
    mut out: Vec<u8>,
) -> (Vec<u8>, Option<u64>) {
    out.clear();
    out.reserve(jobs.iter().map(|j| j.key.value.raw().len()).sum::<usize>());
    for job in jobs {
        let k = &job.key;
        if sh.cancel.load(Ordering::Relaxed) || k.value.content_len() > sh.budget {
            return (out, Some(k.offset));
        }
        let ok = if job.print {
            let rec = KeyRecord {
                db: k.db,
                key: &k.key,
                expire_ms: k.expire_ms,
                lru_idle: k.lru_idle,
                lfu_freq: k.lfu_freq,
                value: k.value,
                offset: k.offset,
                end: k.end,
            };
            let mark = out.len();
            let r = jsonl::write_key(&mut out, &rec, scratch, sh.deep);
            if r.is_err() {
                out.truncate(mark);
            }
            r.is_ok()
        } else {
            !sh.deep || k.value.visit(scratch, &mut NoVisitor, true).is_ok()
        };
        if !ok {
            return (out, Some(k.offset));
        }
    }
    (out, None)
}

fn worker(rx: &Mutex<Receiver<(u64, Vec<Job<'_>>)>>, tx: Sender<Done>, sh: &Shared) {
    let mut scratch = Scratch::new();
    loop {
        let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok((seq, jobs)) = next else { return };
        let (out, stop) = format_batch(&jobs, sh, &mut scratch, sh.buffer());
        drop(jobs);
        if tx.send(Done { seq, out, stop }).is_err() {
            return;
        }
    }
}

/// Writes the finished batches in order; remembers where a batch stopped.
struct Writer {
    next: u64,
    waiting: BTreeMap<u64, Done>,
    stop: Option<u64>,
}

impl Writer {
    fn take(&mut self, d: Done, out: &mut impl Write, sh: &Shared) -> std::io::Result<()> {
        self.waiting.insert(d.seq, d);
        while self.stop.is_none() {
            let Some(d) = self.waiting.remove(&self.next) else {
                break;
            };
            self.next += 1;
            out.write_all(&d.out)?;
            self.stop = d.stop;
            // A buffer grown by a huge value is freed, not kept for the rest of the dump.
            if d.out.capacity() <= SPARE_MAX {
                sh.spare
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(d.out);
            }
        }
        Ok(())
    }
}

/// Dumps the keys `parser` reads as JSON lines on `workers` threads (≥ 1) besides this one.
/// `accepts` is the filter. Errors are only those of writing `out`.
pub(super) fn dump_jsonl<'a>(
    parser: RdbParser<'a>,
    accepts: &dyn Fn(&Key<'_>) -> bool,
    deep: bool,
    budget: u64,
    workers: usize,
    tuning: Tuning,
    out: &mut impl Write,
) -> std::io::Result<Outcome> {
    let sh = Shared {
        deep,
        budget,
        cancel: AtomicBool::new(false),
        spare: Mutex::new(Vec::new()),
    };
    let workers = workers.max(1);
    let Tuning { batch_keys, window } = tuning;
    let in_flight = window.max(1) * workers;
    let (job_tx, job_rx) = sync_channel::<(u64, Vec<Job<'a>>)>(in_flight);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = channel::<Done>();
    std::thread::scope(|s| {
        let parser = parser.crc_on_thread(s);
        let mut spawned = 0;
        for _ in 0..workers {
            let (rx, tx, sh) = (&job_rx, done_tx.clone(), &sh);
            if std::thread::Builder::new()
                .spawn_scoped(s, move || worker(rx, tx, sh))
                .is_ok()
            {
                spawned += 1;
            }
        }
        drop(done_tx);
        let mut w = Writer {
            next: 0,
            waiting: BTreeMap::new(),
            stop: None,
        };
        // Workers still busy with batches after a stop drop the rest quickly; the job queue
        // closes (this closure owns its sender) before the scope waits for them.
        let _cancel = CancelOnDrop(&sh.cancel);
        let job_tx = job_tx;
        {
            if spawned == 0 {
                // No thread at all: the sequential dump does it.
                return Ok(Outcome::Stopped { from: 0 });
            }
            let mut sent = 0u64;
            let mut batch: Vec<Job<'a>> = Vec::new();
            let mut bytes = 0usize;
            // Keys before this offset are in a batch already.
            let mut handed = 0u64;
            let mut reader_stop = None;
            let mut scratch = Scratch::new();
            let mut send = |batch: Vec<Job<'a>>, w: &mut Writer, sent: &mut u64| {
                while let Ok(d) = done_rx.try_recv() {
                    w.take(d, out, &sh)?;
                }
                if w.stop.is_some() {
                    return Ok(());
                }
                let out_now = *sent - w.next;
                if out_now >= in_flight as u64 {
                    // The queue is full (a slow batch holds the ones after it back): this
                    // thread formats the batch itself rather than wait, up to twice as many
                    // in flight; beyond that it waits for the writer to move on.
                    if out_now < 2 * in_flight as u64 {
                        let (buf, stop) = format_batch(&batch, &sh, &mut scratch, sh.buffer());
                        let seq = *sent;
                        *sent += 1;
                        return w.take(
                            Done {
                                seq,
                                out: buf,
                                stop,
                            },
                            out,
                            &sh,
                        );
                    }
                    while *sent - w.next >= in_flight as u64 && w.stop.is_none() {
                        match done_rx.recv() {
                            Ok(d) => w.take(d, out, &sh)?,
                            Err(_) => break,
                        }
                    }
                    if w.stop.is_some() {
                        return Ok(());
                    }
                }
                if job_tx.send((*sent, batch)).is_ok() {
                    *sent += 1;
                }
                Ok::<(), std::io::Error>(())
            };
            for item in parser.into_records() {
                if w.stop.is_some() {
                    break;
                }
                let k = match item {
                    Err(_) => {
                        reader_stop = Some(handed);
                        break;
                    }
                    Ok(Item::Key(k)) => k,
                    Ok(_) => continue,
                };
                handed = k.offset + 1;
                let print = accepts(&k);
                if !print && !deep {
                    // Nothing to do for it but the budget check (cheap: sizes only).
                    if k.value.content_len() > budget {
                        reader_stop = Some(k.offset);
                        break;
                    }
                    continue;
                }
                bytes += k.value.raw().len();
                batch.push(Job { key: k, print });
                if bytes >= BATCH_BYTES || batch.len() >= batch_keys {
                    send(std::mem::take(&mut batch), &mut w, &mut sent)?;
                    bytes = 0;
                }
            }
            if !batch.is_empty() {
                send(batch, &mut w, &mut sent)?;
            }
            drop(job_tx);
            while w.next < sent && w.stop.is_none() {
                match done_rx.recv() {
                    Ok(d) => w.take(d, out, &sh)?,
                    Err(_) => break,
                }
            }
            Ok(match (w.stop, reader_stop) {
                (Some(from), _) | (None, Some(from)) => Outcome::Stopped { from },
                (None, None) => Outcome::Done,
            })
        }
    })
}

/// Sets the flag when dropped (on every way out of the reading loop).
struct CancelOnDrop<'f>(&'f AtomicBool);

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
