//! A deep check of an RDB held in memory on several cores.
//!
//! One thread reads the records in file order (headers, keys, attributes, opcodes: the cheap
//! part) and hands each key's value, by reference into the data, to a pool that validates it
//! deeply (the expensive part: compact encodings, LZF, duplicates). Records still reach the
//! caller one by one, in file order, on the calling thread. The verdict is the sequential
//! one: the error with the lowest file offset, whichever thread found it. Memory stays
//! bounded: a few batches of value references are in flight, never the file's keys.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender, TrySendError};
use std::sync::Mutex;

use crate::dups::KeyPrints;
use crate::error::{Error, Result};
use crate::parser::{RdbParser, Step};
use crate::record::{Header, Options, Record};
use crate::trace;
use crate::value::Value;
use crate::visit::{NoVisitor, Scratch};

/// Bytes of small string records the lean path reads before it hands their keys over.
const RUN_BYTES: usize = 256 << 10;

/// Most values per batch; a batch is sent once its values (or lean runs) reach
/// `BATCH_BYTES`, so that batches hold about the same work whatever the values' sizes.
const BATCH_VALUES: usize = 1024;
const BATCH_BYTES: usize = 64 << 10;
/// Batches queued per validating thread. While the queue is full the reading thread validates
/// pieces of its own batch, one value at a time: the queue must hold more work than the
/// slowest value takes (a hashtable value of 20 000 members ~0.6 ms, a big stream several
/// ms), or the pool drains it and idles while the reading thread is inside that value (or is
/// preempted). 64 batches (~4 MiB of values, ~7 ms of work on mixed.rdb; at most ~7 MiB of
/// references): the pool's thread slept ~1 200 times in a `check` of the full mixed.rdb with
/// 16 (~200 ms asleep, loaded machine, `sched_switch` trace), 170–200 times with 32, 0–3 times
/// with 64. (Was 2 batches of up to 512 values, then 16.)
const QUEUE_BATCHES: usize = 64;

/// The key a value belongs to, for the error message.
#[derive(Clone)]
enum KeyName<'a> {
    /// The key's bytes as stored in the data.
    InData(&'a [u8]),
    /// An LZF-compressed key, decompressed (rare).
    Owned(Vec<u8>),
}

struct Job<'a> {
    value: Value<'a>,
    db: u64,
    key: KeyName<'a>,
}

struct Batch<'a> {
    jobs: Vec<Job<'a>>,
    bytes: usize,
}

impl KeyName<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            KeyName::InData(k) => k,
            KeyName::Owned(k) => k,
        }
    }
}

/// The duplicate-key check of the deep check, deferred: the reading thread appends each key's
/// fingerprint to [`crate::dups::KeyPrints`] (a store to one of 256 partitions; the hash-table
/// insert it replaced was a cache miss a key on this thread); the partitions are searched for
/// equal fingerprints on every core once the records are read. Equal fingerprints are
/// confirmed by re-reading the data, and the first real duplicate in file order is offered at
/// its record's offset, so the verdict is still the lowest-offset error, as in the sequential
/// check (which tests each key as it comes).
struct KeyCheck {
    prints: KeyPrints,
    /// Offset of the last key record pushed: the re-read stops there.
    last: Option<u64>,
    /// Most keys a RESIZEDB hint may size the store for.
    hint_cap: u64,
}

impl KeyCheck {
    fn new(data_len: usize) -> Self {
        KeyCheck {
            prints: KeyPrints::new(),
            last: None,
            hint_cap: data_len as u64 / 3,
        }
    }

    fn reserve(&mut self, keys: u64) {
        let n = keys.min(self.hint_cap);
        self.hint_cap -= n;
        self.prints.reserve(n as usize);
    }

    #[inline]
    fn push(&mut self, db: u64, offset: u64, key: &[u8]) {
        let h = self.prints.fingerprint(db, key);
        self.prints.push(h);
        self.last = Some(offset);
    }

    /// Searches the fingerprints (with those other threads took: `others`) on `threads`
    /// threads; offers the first duplicate key, if any.
    fn finish(&self, others: &[KeyPrints], threads: usize, ctx: &Ctx<'_>) {
        let Some(last) = self.last else { return };
        let repeats = self.prints.repeats(others, threads);
        if repeats.is_empty() {
            return;
        }
        if let Some(e) = self.confirm(&repeats, last, ctx) {
            ctx.first.offer(e);
        }
    }

    /// Re-reads the key records through offset `last`: the first one whose fingerprint is one
    /// of `repeats` and whose (db, key) an earlier record holds, as a duplicate-key error.
    /// Only the keys with a repeated fingerprint are kept (a chance collision: one pair).
    fn confirm(&self, repeats: &[u64], last: u64, ctx: &Ctx<'_>) -> Option<Error> {
        let opts = ctx.opts.deep(false).verify_checksum(false);
        let mut p = RdbParser::new(ctx.data, opts);
        let mut seen: std::collections::HashMap<u64, Vec<(u64, Vec<u8>)>> = Default::default();
        while let Some(Ok(rec)) = p.next() {
            let Record::Key(k) = rec else { continue };
            if k.offset > last {
                break;
            }
            let h = self.prints.fingerprint(k.db, k.key);
            if repeats.binary_search(&h).is_err() {
                continue;
            }
            let earlier = seen.entry(h).or_default();
            if earlier.iter().any(|(db, key)| *db == k.db && key == k.key) {
                return Some(crate::parser::duplicate_key_error(k.db, k.key, k.offset));
            }
            earlier.push((k.db, k.key.to_vec()));
        }
        None
    }
}

/// What the duplicate-key check's confirmation needs.
struct Ctx<'c> {
    data: &'c [u8],
    opts: Options,
    first: &'c FirstError,
}

impl Batch<'_> {
    fn new() -> Self {
        Batch {
            jobs: Vec::with_capacity(512),
            bytes: 0,
        }
    }
}

/// The lowest-offset error found so far.
struct FirstError {
    offset: AtomicU64,
    error: Mutex<Option<Error>>,
}

impl FirstError {
    fn offer(&self, e: Error) {
        let mut g = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if g.as_ref().is_none_or(|have| e.offset < have.offset) {
            self.offset.store(e.offset, Ordering::Relaxed);
            *g = Some(e);
        }
    }
}

/// Validates `batch`, leaving it empty (its buffers kept, for [`Spare`] to hand back).
fn validate(batch: &mut Batch<'_>, scratch: &mut Scratch, first: &FirstError) {
    batch.bytes = 0;
    for job in batch.jobs.drain(..) {
        // Everything from here on lies after an error already found: it can't come first.
        if job.value.offset() > first.offset.load(Ordering::Relaxed) {
            return;
        }
        if !validate_job(job, scratch, first) {
            return;
        }
    }
}

/// Emptied batches on their way back to the reading thread, which fills them again instead of
/// allocating a batch's job vector (room for 512 values, grown to 1 024) per send and freeing it on the pool's thread:
/// the allocator gave such blocks back to the system and faulted them in again (full mixed.rdb,
/// two threads: ~2 500 of the ~19 000 minor faults).
struct Spare<'a> {
    back: Sender<Batch<'a>>,
    from: Receiver<Batch<'a>>,
}

impl<'a> Spare<'a> {
    fn new() -> Self {
        let (back, from) = channel();
        Spare { back, from }
    }

    /// An empty batch: one given back, else a new one.
    fn take(&self) -> Batch<'a> {
        self.from.try_recv().unwrap_or_else(|_| Batch::new())
    }
}

/// Validates one value; false (after offering its error) when it is unsound.
fn validate_job(job: Job<'_>, scratch: &mut Scratch, first: &FirstError) -> bool {
    if let Err(e) = job.value.visit(scratch, &mut NoVisitor, true) {
        let key = match &job.key {
            KeyName::InData(k) => k,
            KeyName::Owned(k) => k.as_slice(),
        };
        first.offer(e.in_key(Some(job.db), key));
        return false;
    }
    true
}

/// Validates one piece of `batch` here (its last value); false when nothing was left. Pieces
/// may go in any order: the verdict is the lowest offset offered, and a value is skipped only
/// when it lies after an error already found.
fn validate_piece(batch: &mut Batch<'_>, scratch: &mut Scratch, first: &FirstError) -> bool {
    let Some(job) = batch.jobs.pop() else {
        return false;
    };
    batch.bytes = batch.bytes.saturating_sub(job.value.raw().len());
    if job.value.offset() <= first.offset.load(Ordering::Relaxed) {
        validate_job(job, scratch, first);
    }
    true
}

/// Validates batches until the channel closes, giving each one back emptied to `back`.
fn worker<'a>(
    who: u8,
    rx: &Mutex<Receiver<Batch<'a>>>,
    back: Sender<Batch<'a>>,
    first: &FirstError,
) {
    let mut scratch = Scratch::new();
    loop {
        trace::mark(who, "wait");
        let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
        trace::mark(who, "got");
        match next {
            Ok(mut b) => {
                validate(&mut b, &mut scratch, first);
                // The reading thread may have stopped taking them: then the batch is dropped.
                let _ = back.send(b);
            }
            Err(_) => {
                trace::cpu(who);
                return;
            }
        }
    }
}

/// Hands the batch to the pool; while the pool is busy (its queue full), validates the batch
/// here piece by piece (a value or a run at a time), offering the rest again after each piece.
/// (Validating the whole batch here, as before, left the pool idle once it had drained its
/// queue while this thread was still inside a slow batch: with two threads the pool's thread
/// was busy ~35 % of the time against ~60 % for this one, perf on mixed.rdb.)
fn send<'a>(
    tx: &SyncSender<Batch<'a>>,
    spare: &Spare<'a>,
    batch: &mut Batch<'a>,
    scratch: &mut Scratch,
    first: &FirstError,
) {
    let mut full = std::mem::replace(batch, spare.take());
    loop {
        match tx.try_send(full) {
            Ok(()) => return,
            Err(TrySendError::Disconnected(mut b)) => return validate(&mut b, scratch, first),
            Err(TrySendError::Full(b)) => {
                full = b;
                trace::mark(0, "piece");
                let more = validate_piece(&mut full, scratch, first);
                trace::mark(0, "pieced");
                if !more {
                    // Validated here to its end: its buffers serve again.
                    let _ = spare.back.send(full);
                    return;
                }
            }
        }
    }
}

/// The most threads [`check`] uses: the cores available (at least 1; 64 when unknown).
pub fn max_threads() -> usize {
    std::thread::available_parallelism().map_or(64, |n| n.get())
}

/// Reads `data` as an RDB with `opts` (deep validation is implied) on `threads` threads
/// (the calling one included; 1 is the plain sequential check), giving every record to
/// `on_record` in file order. Returns the header (once read) and the verdict: `Ok` when the
/// whole file is sound, else the error a sequential deep check reports first (the lowest
/// offset). Records after that error may still have been given to `on_record`.
pub fn check(
    data: &[u8],
    opts: Options,
    threads: usize,
    on_record: impl FnMut(&Record<'_>),
) -> (Option<Header>, Result<()>) {
    check_batched(data, opts, threads, BATCH_VALUES, on_record)
}

/// [`check`] for a caller that only counts keys (`rdbkit check`'s summary): the records of
/// plain string keys without attributes and with small values (most keys of a file of small
/// strings, read by a lean path) are not given to `on_record` one by one; `on_keys(db, n)`
/// gets their number instead, run by run, in file order with the other records. The verdict
/// is [`check`]'s. (A call of `on_record` per such key was ~40 instructions of the ~100 a key
/// the reading thread spends on such a file, callgrind.)
pub fn check_counting(
    data: &[u8],
    opts: Options,
    threads: usize,
    on_record: impl FnMut(&Record<'_>),
    on_keys: impl FnMut(u64, u64),
) -> (Option<Header>, Result<()>) {
    check_inner(data, opts, threads, BATCH_VALUES, on_record, Some(on_keys))
}

/// A check without deep validation (`rdbkit check --shallow`) for a caller that only counts
/// keys: [`check_counting`]'s lean path for runs of plain small string keys (`on_keys(db, n)`
/// a run), every other record to `on_record`, on this thread (the CRC on another one). The
/// verdict is that of [`RdbParser::next`] over the data; `opts.deep` must be off (a deep check
/// is [`check_counting`]). A mapped file's caller checks it did not change, as for
/// [`check_counting`]. (Through `next` a key, the shallow check was slower than the deep one
/// on a file of small strings.)
pub fn scan_counting(
    data: &[u8],
    opts: Options,
    mut on_record: impl FnMut(&Record<'_>),
    mut on_keys: impl FnMut(u64, u64),
) -> (Option<Header>, Result<()>) {
    debug_assert!(!opts.deep);
    std::thread::scope(|s| {
        let mut p = RdbParser::new(data, opts).crc_on_thread(s);
        let r = loop {
            let mut n = 0u64;
            if let Some((_, db, _)) = p.fast_run(RUN_BYTES, |_| n += 1) {
                on_keys(db, n);
                continue;
            }
            match p.next() {
                None => break Ok(()),
                Some(Err(e)) => break Err(e),
                Some(Ok(rec)) => on_record(&rec),
            }
        };
        (p.header(), r)
    })
}

/// [`check`] with batches of `batch_values` values (the fuzz targets use tiny batches so the
/// pool sees work on small inputs).
#[doc(hidden)]
pub fn check_batched(
    data: &[u8],
    opts: Options,
    threads: usize,
    batch_values: usize,
    on_record: impl FnMut(&Record<'_>),
) -> (Option<Header>, Result<()>) {
    check_inner(
        data,
        opts,
        threads,
        batch_values,
        on_record,
        None::<fn(u64, u64)>,
    )
}

fn check_inner<'a>(
    data: &'a [u8],
    opts: Options,
    threads: usize,
    batch_values: usize,
    mut on_record: impl FnMut(&Record<'_>),
    mut on_keys: Option<impl FnMut(u64, u64)>,
) -> (Option<Header>, Result<()>) {
    let opts = opts.deep(true);
    trace::mark(0, "begin");
    let first = FirstError {
        offset: AtomicU64::new(u64::MAX),
        error: Mutex::new(None),
    };
    // More threads than cores only adds contention; a huge request must not spawn them all.
    let workers = threads.clamp(1, max_threads()) - 1;
    let (tx, rx) = sync_channel::<Batch<'a>>(QUEUE_BATCHES * workers.max(1));
    let rx = Mutex::new(rx);
    let header = std::thread::scope(|s| {
        let mut p = RdbParser::new(data, opts)
            .defer_values(workers > 0)
            .keys_elsewhere()
            .crc_on_thread(s);
        let ctx = Ctx {
            data,
            opts,
            first: &first,
        };
        let mut keys = KeyCheck::new(data.len());
        let mut pool = Vec::with_capacity(workers);
        let spare = Spare::new();
        for _ in 0..workers {
            let (rx, first, back) = (&rx, &first, spare.back.clone());
            // A thread the system refuses (limits, memory) is one fewer helper, not a panic:
            // the calling thread validates whatever the pool does not take.
            match std::thread::Builder::new().spawn_scoped(s, move || worker(1, rx, back, first)) {
                Ok(h) => pool.push(h),
                Err(_) => break,
            }
        }
        let mut scratch = Scratch::new();
        let mut batch = Batch::new();
        let range = data.as_ptr_range();
        loop {
            // The run's keys are fingerprinted here as the lean path reads them. (They were
            // handed to the pool as runs and walked a second time there: on two cores that
            // walk read the run's bytes back from the other core's caches, ~2x its one-core
            // cost, and the pool is the busier side; see the README, session 11.)
            let prints = &mut keys.prints;
            let run = match &mut on_keys {
                None => p.fast_run(RUN_BYTES, |r| {
                    if let Record::Key(k) = r {
                        prints.push(prints.fingerprint(k.db, k.key));
                    }
                    on_record(r)
                }),
                Some(count) => {
                    let mut n = 0u64;
                    let r = p.fast_run(RUN_BYTES, |r| {
                        if let Record::Key(k) = r {
                            prints.push(prints.fingerprint(k.db, k.key));
                        }
                        n += 1
                    });
                    if let Some((_, db, _)) = r {
                        count(db, n);
                    }
                    r
                }
            };
            if let Some((_, _, last)) = run {
                keys.last = Some(last);
                continue;
            }
            let unit = match p.step() {
                None => break,
                Some(Err(e)) => {
                    first.offer(e);
                    break;
                }
                // The lean path of most records on files of small strings: a plain string key
                // and value, whose value deep validation has nothing to add to (never deferred).
                Some(Ok(Step::Fast(k))) => {
                    keys.push(k.db, k.offset, k.key);
                    on_record(&Record::Key(k));
                    continue;
                }
                Some(Ok(Step::Unit(u))) => u,
            };
            let (db, key) = match p.finish(unit) {
                Err(e) => {
                    first.offer(e);
                    break;
                }
                Ok(rec) => {
                    on_record(&rec);
                    match rec {
                        Record::Key(k) => {
                            let key = if range.contains(&k.key.as_ptr())
                                && k.key.len() <= (range.end as usize - k.key.as_ptr() as usize)
                            {
                                let at = k.key.as_ptr() as usize - range.start as usize;
                                KeyName::InData(&data[at..at + k.key.len()])
                            } else {
                                KeyName::Owned(k.key.to_vec())
                            };
                            keys.push(k.db, k.offset, key.bytes());
                            (k.db, key)
                        }
                        Record::ResizeDb { db_size, .. } => {
                            keys.reserve(db_size);
                            continue;
                        }
                        _ => continue,
                    }
                }
            };
            let Some(value) = p.take_deferred() else {
                continue;
            };
            batch.bytes += value.raw().len();
            batch.jobs.push(Job { value, db, key });
            if batch.jobs.len() >= batch_values || batch.bytes >= BATCH_BYTES {
                send(&tx, &spare, &mut batch, &mut scratch, &first);
            }
        }
        trace::mark(0, "read");
        validate(&mut batch, &mut scratch, &first);
        drop(tx);
        trace::mark(0, "drain");
        // Help drain what is still queued.
        worker(0, &rx, spare.back.clone(), &first);
        // A worker that panicked: the panic goes on (as the scope's end would pass it on).
        for h in pool {
            if let Err(panic) = h.join() {
                std::panic::resume_unwind(panic);
            }
        }
        trace::mark(0, "joined");
        // Every core searches the key fingerprints (the value pool has ended).
        keys.finish(&[], workers + 1, &ctx);
        trace::mark(0, "keys");
        p.header()
    });
    let err = first.error.into_inner().unwrap_or_else(|p| p.into_inner());
    (header, err.map_or(Ok(()), Err))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as text (keys by position and name: their values' template maps are hash maps,
    /// whose `Debug` order varies).
    fn text(r: &Record<'_>) -> String {
        match r {
            Record::Key(k) => format!(
                "key {} {} {} {:?} {:?}",
                k.offset,
                k.end,
                k.db,
                k.key,
                k.value.raw()
            ),
            other => format!("{other:?}"),
        }
    }

    /// The sequential deep check: the records it yields (as text) and its verdict.
    fn sequential(data: &[u8]) -> (Vec<String>, Option<String>) {
        let opts = Options::default().deep(true);
        let mut p = RdbParser::new(data, opts);
        let mut recs = Vec::new();
        while let Some(r) = p.next() {
            match r {
                Ok(r) => recs.push(text(&r)),
                Err(e) => return (recs, Some(e.to_string())),
            }
        }
        (recs, None)
    }

    fn parallel(data: &[u8], threads: usize, batch: usize) -> (Vec<String>, Option<String>) {
        let mut recs = Vec::new();
        let (_, r) = check_batched(data, Options::default(), threads, batch, |r| {
            recs.push(text(r))
        });
        (recs, r.err().map(|e| e.to_string()))
    }

    fn fixtures() -> Vec<Vec<u8>> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rdb");
        ["sample.rdb", "redis-8.10-types.rdb"]
            .iter()
            .map(|f| std::fs::read(root.join(f)).unwrap())
            .collect()
    }

    /// A file of small string keys (the lean path) in three dbs, some with an expiry or with
    /// values the lean path leaves to the general one (long, LZF-able, integers), and a key
    /// repeated in `dup_db` when given.
    fn small_strings(dup_db: Option<u8>) -> Vec<u8> {
        let mut b = b"REDIS0011".to_vec();
        for db in 0u8..3 {
            b.extend_from_slice(&[0xfe, db]);
            for i in 0..5000u32 {
                if i % 97 == 0 {
                    b.push(0xfc);
                    b.extend_from_slice(&4_102_444_800_000i64.to_le_bytes());
                }
                b.push(0);
                crate::string::encode_raw(format!("key:{i}").as_bytes(), &mut b);
                match i % 5 {
                    0 => b.extend_from_slice(&[0xc0, 7]),
                    1 => b.extend_from_slice(&[0xc1, 7, 1]),
                    2 => b.extend_from_slice(&[0xc2, 7, 1, 2, 3]),
                    3 => crate::string::encode_raw(&[b'v'; 100], &mut b),
                    _ => crate::string::encode_raw(b"value", &mut b),
                }
            }
            if dup_db == Some(db) {
                b.push(0);
                crate::string::encode_raw(b"key:4321", &mut b);
                crate::string::encode_raw(b"again", &mut b);
            }
        }
        b.push(0xff);
        let crc = crate::crc64::crc64(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// The shallow scan (`check --shallow`): the lean path's runs counted, the other records
    /// and the verdict those of `next` without deep validation, on sound and damaged files.
    #[test]
    fn shallow_scan_counts_and_verdict() {
        let opts = Options::default().deep(false);
        let mut files = fixtures();
        files.push(small_strings(None));
        let mut damaged = small_strings(None);
        let mid = damaged.len() / 2;
        damaged[mid] = 0x7f; // a bad type byte or length inside the lean runs
        files.push(damaged);
        let mut truncated = small_strings(None);
        truncated.truncate(truncated.len() * 2 / 3);
        files.push(truncated);
        let mut errors = 0;
        for f in &files {
            let mut p = RdbParser::new(f, opts);
            let (mut want, mut other, mut verdict) = (BTreeMapU::new(), Vec::new(), None);
            while let Some(r) = p.next() {
                match r {
                    Ok(Record::Key(k)) => *want.entry(k.db).or_insert(0) += 1,
                    Ok(r) => other.push(text(&r)),
                    Err(e) => {
                        verdict = Some(e.to_string());
                        break;
                    }
                }
            }
            let counts = std::cell::RefCell::new(BTreeMapU::new());
            let mut got_other = Vec::new();
            let (_, r) = scan_counting(
                f,
                opts,
                |r| match r {
                    Record::Key(k) => *counts.borrow_mut().entry(k.db).or_insert(0) += 1,
                    r => got_other.push(text(r)),
                },
                |db, n| *counts.borrow_mut().entry(db).or_insert(0) += n,
            );
            assert_eq!(r.err().map(|e| e.to_string()), verdict);
            assert_eq!(counts.into_inner(), want);
            assert_eq!(got_other, other);
            errors += usize::from(verdict.is_some());
        }
        // The damaged and the truncated file fail.
        assert_eq!(errors, 2);
    }

    type BTreeMapU = std::collections::BTreeMap<u64, u64>;

    /// The lean path gives the sequential records and verdict (duplicates included, found by
    /// the deferred key check), and `check_counting` the same key counts per db.
    #[test]
    fn lean_path_and_counting() {
        for dup in [None, Some(0), Some(2)] {
            let f = small_strings(dup);
            let (recs, verdict) = sequential(&f);
            assert_eq!(verdict.is_some(), dup.is_some(), "{verdict:?}");
            for (threads, batch) in [(1, 512), (2, 1), (3, 2), (2, 512)] {
                let (got, v) = parallel(&f, threads, batch);
                assert_eq!(v, verdict, "{threads} {batch}");
                if verdict.is_none() {
                    assert_eq!(got, recs);
                }
            }
            let mut want = std::collections::BTreeMap::new();
            for r in &recs {
                if let Some(db) = r.strip_prefix("key ").map(|t| t.split(' ').nth(2).unwrap()) {
                    *want.entry(db.parse::<u64>().unwrap()).or_insert(0u64) += 1;
                }
            }
            for threads in [1, 2] {
                let counts = std::cell::RefCell::new(std::collections::BTreeMap::new());
                let (_, r) = check_counting(
                    &f,
                    Options::default(),
                    threads,
                    |r| {
                        if let Record::Key(k) = r {
                            *counts.borrow_mut().entry(k.db).or_insert(0u64) += 1;
                        }
                    },
                    |db, n| *counts.borrow_mut().entry(db).or_insert(0u64) += n,
                );
                assert_eq!(r.err().map(|e| e.to_string()), verdict);
                if verdict.is_none() {
                    assert_eq!(counts.into_inner(), want);
                }
            }
        }
    }

    /// Same verdict as the sequential check, on sound files and on many damaged copies (bytes
    /// overwritten inside values, so that value validation on the pool finds the damage), with
    /// batches of one to three values so the pool does the work.
    #[test]
    fn same_verdict_as_sequential() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut damaged_found = 0;
        for f in fixtures() {
            let (recs, verdict) = sequential(&f);
            assert_eq!(verdict, None);
            for (threads, batch) in [(1, 1), (2, 1), (3, 2), (2, 3)] {
                assert_eq!(parallel(&f, threads, batch), (recs.clone(), None));
            }
            for _ in 0..300 {
                let mut d = f.clone();
                let at = 10 + (rnd() as usize) % (d.len() - 18);
                for k in 0..1 + (rnd() % 4) as usize {
                    if let Some(b) = d.get_mut(at + k) {
                        *b = rnd() as u8;
                    }
                }
                let (_, want) = sequential(&d);
                for (threads, batch) in [(2, 1), (3, 2)] {
                    let (_, got) = parallel(&d, threads, batch);
                    assert_eq!(got, want, "damage at {at}");
                }
                damaged_found += usize::from(want.is_some());
            }
        }
        assert!(
            damaged_found > 300,
            "only {damaged_found} damaged copies refused"
        );
    }
}
