//! `dump --format resp`: the commands that recreate each key, as RESP, ready for
//! `redis-cli --pipe`. Every command stays within `max_bytes` (its RESP encoding) and
//! `max_items` (elements per command) except when one element alone is larger.
//!
//! Per key, in order:
//! - `SELECT db` when the database changes;
//! - strings: `SET key value` (a value over the limit: `SET` of the first part, then `APPEND`);
//! - containers: `DEL key`, then `RPUSH` / `SADD` / `ZADD` / `HSET` in batches;
//! - hash field TTLs: `HPEXPIREAT key ms FIELDS n field...` (Redis 7.4+);
//! - streams: `XADD key id field value...` per entry (an empty stream is made with `XGROUP CREATE
//!   ... MKSTREAM`), `XSETID key last-id [ENTRIESADDED n MAXDELETEDID id]` (the 7.0 form when
//!   the file stores those), per group `XGROUP CREATE key group last-delivered-id [ENTRIESREAD
//!   n]`, `XGROUP CREATECONSUMER` for each consumer, and `XCLAIM key group consumer 0 id...
//!   TIME ms RETRYCOUNT n FORCE JUSTID` for the pending entries (same consumer, time and
//!   count batched);
//! - key TTL: `PEXPIREAT key ms`;
//! - function libraries: `FUNCTION LOAD REPLACE code`.
//!
//! Not restorable: module values (skipped, counted) and pending entries whose stream entry was
//! deleted (`XCLAIM ... FORCE` ignores IDs not in the stream; the server drops them too).

use std::io::{self, Write};

use rdbkit_rdb::StreamId;

use crate::model::{MKey, MValue};

/// Writes restore commands.
pub struct RespWriter<W: Write> {
    out: W,
    db: Option<u64>,
    pub max_bytes: usize,
    pub max_items: usize,
    pub commands: u64,
    pub skipped_modules: u64,
    /// Redis 8.8 arrays: no command this build knows recreates one.
    pub skipped_arrays: u64,
    buf: Vec<u8>,
}

fn id(i: StreamId) -> Vec<u8> {
    format!("{}-{}", i.ms, i.seq).into_bytes()
}

/// A score as Redis reads it back exactly (shortest round-trip text; `inf`/`-inf`).
pub fn score_text(d: f64) -> Vec<u8> {
    if d == f64::INFINITY {
        b"inf".to_vec()
    } else if d == f64::NEG_INFINITY {
        b"-inf".to_vec()
    } else {
        format!("{d:?}").into_bytes()
    }
}

/// RESP size of one bulk argument.
fn arg_size(a: &[u8]) -> usize {
    a.len() + 5 + digits(a.len())
}

fn digits(mut n: usize) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

impl<W: Write> RespWriter<W> {
    pub fn new(out: W, max_bytes: usize, max_items: usize) -> Self {
        RespWriter {
            out,
            db: None,
            max_bytes: max_bytes.max(64),
            max_items: max_items.max(1),
            commands: 0,
            skipped_modules: 0,
            skipped_arrays: 0,
            buf: Vec::with_capacity(1 << 16),
        }
    }

    /// The writer written to.
    pub fn into_inner(self) -> W {
        self.out
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Writes one command.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        self.buf.clear();
        self.buf
            .extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            let a = a.as_ref();
            self.buf
                .extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            self.buf.extend_from_slice(a);
            self.buf.extend_from_slice(b"\r\n");
        }
        self.commands += 1;
        self.out.write_all(&self.buf)
    }

    /// `head` then groups of item arguments, split so each command stays within the limits.
    fn batched(&mut self, head: &[&[u8]], items: &[Vec<Vec<u8>>]) -> io::Result<()> {
        let head_size: usize = 16 + head.iter().map(|a| arg_size(a)).sum::<usize>();
        let mut i = 0;
        while i < items.len() {
            let mut size = head_size;
            let mut j = i;
            while j < items.len() && j - i < self.max_items {
                let s: usize = items[j].iter().map(|a| arg_size(a)).sum();
                if j > i && size + s > self.max_bytes {
                    break;
                }
                size += s;
                j += 1;
            }
            let mut args: Vec<&[u8]> = head.to_vec();
            for it in &items[i..j] {
                args.extend(it.iter().map(Vec::as_slice));
            }
            self.cmd(&args)?;
            i = j;
        }
        Ok(())
    }

    pub fn function(&mut self, code: &[u8]) -> io::Result<()> {
        self.cmd(&[b"FUNCTION".as_slice(), b"LOAD", b"REPLACE", code])
    }

    /// SELECT `db` unless it is the current one.
    pub fn select(&mut self, db: u64) -> io::Result<()> {
        if self.db != Some(db) {
            self.cmd(&[b"SELECT".to_vec(), db.to_string().into_bytes()])?;
            self.db = Some(db);
        }
        Ok(())
    }

    /// The commands that recreate `key` in database `db`.
    pub fn key(&mut self, db: u64, key: &[u8], k: &MKey) -> io::Result<()> {
        match k.value {
            MValue::Module { .. } => {
                self.skipped_modules += 1;
                return Ok(());
            }
            MValue::Array { .. } => {
                self.skipped_arrays += 1;
                return Ok(());
            }
            _ => {}
        }
        self.select(db)?;
        match &k.value {
            MValue::String(v) => {
                let room = self.max_bytes.saturating_sub(64 + arg_size(key)).max(1);
                let mut parts = v.chunks(room);
                let first = parts.next().unwrap_or_default();
                self.cmd(&[b"SET".as_slice(), key, first])?;
                for p in parts {
                    self.cmd(&[b"APPEND".as_slice(), key, p])?;
                }
            }
            MValue::List(l) => {
                self.cmd(&[b"DEL".as_slice(), key])?;
                let items: Vec<Vec<Vec<u8>>> = l.iter().map(|e| vec![e.clone()]).collect();
                self.batched(&[b"RPUSH", key], &items)?;
            }
            MValue::Set(s) => {
                self.cmd(&[b"DEL".as_slice(), key])?;
                let items: Vec<Vec<Vec<u8>>> = s.keys().map(|e| vec![e.clone()]).collect();
                self.batched(&[b"SADD", key], &items)?;
            }
            MValue::Zset(z) => {
                self.cmd(&[b"DEL".as_slice(), key])?;
                let items: Vec<Vec<Vec<u8>>> = z
                    .iter()
                    .map(|(m, s)| vec![score_text(*s), m.clone()])
                    .collect();
                self.batched(&[b"ZADD", key], &items)?;
            }
            MValue::Hash(h) => {
                self.cmd(&[b"DEL".as_slice(), key])?;
                let items: Vec<Vec<Vec<u8>>> = h
                    .iter()
                    .map(|(f, (v, _))| vec![f.clone(), v.clone()])
                    .collect();
                self.batched(&[b"HSET", key], &items)?;
                // Field TTLs, grouped by time.
                let mut by_time: std::collections::BTreeMap<i64, Vec<Vec<Vec<u8>>>> =
                    Default::default();
                for (f, (_, t)) in h {
                    if let Some(t) = t {
                        by_time.entry(*t).or_default().push(vec![f.clone()]);
                    }
                }
                for (t, fields) in by_time {
                    // HPEXPIREAT key ms FIELDS n f...: n must match each batch, so batch here.
                    let per = self.max_items;
                    for chunk in fields.chunks(per) {
                        let mut args: Vec<Vec<u8>> = vec![
                            b"HPEXPIREAT".to_vec(),
                            key.to_vec(),
                            t.to_string().into_bytes(),
                            b"FIELDS".to_vec(),
                            chunk.len().to_string().into_bytes(),
                        ];
                        args.extend(chunk.iter().flatten().cloned());
                        self.cmd(&args)?;
                    }
                }
            }
            MValue::Stream(s) => {
                self.cmd(&[b"DEL".as_slice(), key])?;
                for (eid, fields) in &s.entries {
                    let mut args: Vec<Vec<u8>> = vec![b"XADD".to_vec(), key.to_vec(), id(*eid)];
                    for (f, v) in fields {
                        args.push(f.clone());
                        args.push(v.clone());
                    }
                    self.cmd(&args)?;
                }
                if s.entries.is_empty() {
                    // Create the empty stream: a throw-away group with MKSTREAM.
                    let tmp = b"rdbkit-restore-tmp".as_slice();
                    self.cmd(&[b"XGROUP".as_slice(), b"CREATE", key, tmp, b"0", b"MKSTREAM"])?;
                    self.cmd(&[b"XGROUP".as_slice(), b"DESTROY", key, tmp])?;
                }
                let mut args: Vec<Vec<u8>> = vec![b"XSETID".to_vec(), key.to_vec(), id(s.last_id)];
                if let Some(n) = s.entries_added {
                    args.push(b"ENTRIESADDED".to_vec());
                    args.push(n.to_string().into_bytes());
                    args.push(b"MAXDELETEDID".to_vec());
                    args.push(id(s.max_deleted_id.unwrap_or_default()));
                }
                self.cmd(&args)?;
                for (name, g) in &s.groups {
                    let mut args: Vec<Vec<u8>> = vec![
                        b"XGROUP".to_vec(),
                        b"CREATE".to_vec(),
                        key.to_vec(),
                        name.clone(),
                        id(g.last_delivered_id),
                    ];
                    if let Some(er) = g.entries_read {
                        args.push(b"ENTRIESREAD".to_vec());
                        args.push(if er == u64::MAX {
                            b"-1".to_vec()
                        } else {
                            er.to_string().into_bytes()
                        });
                    }
                    self.cmd(&args)?;
                    for c in g.consumers.keys() {
                        self.cmd(&[b"XGROUP".as_slice(), b"CREATECONSUMER", key, name, c])?;
                    }
                    // Batch PEL entries with the same consumer, time and count.
                    let mut batch: Vec<(&[u8], i64, u64, Vec<StreamId>)> = Vec::new();
                    for (pid, (consumer, t, count)) in &g.pel {
                        match batch.last_mut() {
                            Some((c, bt, bc, ids))
                                if *c == consumer.as_slice()
                                    && *bt == *t
                                    && *bc == *count
                                    && ids.len() < self.max_items =>
                            {
                                ids.push(*pid)
                            }
                            _ => batch.push((consumer, *t, *count, vec![*pid])),
                        }
                    }
                    for (consumer, t, count, ids) in batch {
                        let mut args: Vec<Vec<u8>> = vec![
                            b"XCLAIM".to_vec(),
                            key.to_vec(),
                            name.clone(),
                            consumer.to_vec(),
                            b"0".to_vec(),
                        ];
                        args.extend(ids.into_iter().map(id));
                        args.extend([
                            b"TIME".to_vec(),
                            t.to_string().into_bytes(),
                            b"RETRYCOUNT".to_vec(),
                            count.to_string().into_bytes(),
                            b"FORCE".to_vec(),
                            b"JUSTID".to_vec(),
                        ]);
                        self.cmd(&args)?;
                    }
                }
            }
            MValue::Module { .. } | MValue::Array { .. } | MValue::Unknown { .. } => {}
        }
        if let Some(t) = k.expire_ms {
            self.cmd(&[
                b"PEXPIREAT".to_vec(),
                key.to_vec(),
                t.to_string().into_bytes(),
            ])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn batches_respect_limits() {
        let mut w = RespWriter::new(Vec::new(), 1 << 20, 3);
        let list = MKey {
            value: MValue::List((0..7).map(|i| format!("e{i}").into_bytes()).collect()),
            expire_ms: Some(4102444800000),
        };
        w.key(2, b"l", &list).unwrap();
        let out = String::from_utf8(w.into_inner()).unwrap();
        // SELECT, DEL, 3 RPUSH (3+3+1), PEXPIREAT
        assert_eq!(out.matches("RPUSH").count(), 3);
        assert!(out.starts_with("*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n"));
        assert!(out.ends_with("$13\r\n4102444800000\r\n"));

        let mut w = RespWriter::new(Vec::new(), 200, 1000);
        let big = MKey {
            value: MValue::String(vec![b'x'; 1000]),
            expire_ms: None,
        };
        w.key(0, b"s", &big).unwrap();
        let mut h = BTreeMap::new();
        for i in 0..50 {
            h.insert(format!("field{i:03}").into_bytes(), (vec![b'v'; 20], None));
        }
        w.key(
            0,
            b"h",
            &MKey {
                value: MValue::Hash(h),
                expire_ms: None,
            },
        )
        .unwrap();
        let out = w.into_inner();
        // Every command within 200 bytes.
        let mut r = rdbkit_aof::resp::SliceReader::new(&out, 0);
        let mut n = 0;
        while let Some(rdbkit_aof::resp::Item::Command(c)) = r.next_item().unwrap() {
            assert!(
                c.end - c.start <= 200,
                "command of {} bytes",
                c.end - c.start
            );
            n += 1;
        }
        assert!(n > 10);
    }

    #[test]
    fn scores() {
        assert_eq!(score_text(1.0), b"1.0");
        assert_eq!(score_text(f64::NEG_INFINITY), b"-inf");
        assert_eq!(score_text(5e-324), b"5e-324");
    }
}

#[derive(Debug)]
/// Keys `dump_resp` could not write as commands.
pub struct Skipped {
    pub modules: u64,
    pub arrays: u64,
}

/// Why a streamed dump stopped: [`Failure::Rdb`] (the input, exit 2) or [`Failure::Write`]
/// (the output, exit 1; a closed pipe is success).
pub use crate::failure::Failure as DumpFail;
use crate::failure::Failure;

/// `rdbkit dump --format resp`: the restore commands of every key `filter` accepts, streaming
/// (one key decoded at a time). Returns how many keys were written and how many module and
/// array keys were skipped. Function libraries are loaded (`FUNCTION LOAD REPLACE`) unless `functions`
/// is false; key filters do not apply to them.
pub fn dump_resp<S: rdbkit_rdb::RecordSource + ?Sized>(
    src: &mut S,
    filter: &crate::filter::Filter,
    out: &mut dyn Write,
    max_bytes: usize,
    max_items: usize,
    functions: bool,
) -> Result<(u64, Skipped), Failure> {
    let mut w = RespWriter::new(out, max_bytes, max_items);
    let mut scratch = rdbkit_rdb::Scratch::new();
    let mut keys = 0u64;
    while let Some(rec) = src.next_record() {
        match rec.map_err(Failure::Rdb)? {
            rdbkit_rdb::Record::Key(k) => {
                if !filter.accepts_key(&k) {
                    continue;
                }
                let m = crate::model::from_record(&k, &mut scratch).map_err(Failure::Rdb)?;
                w.key(k.db, k.key, &m).map_err(Failure::Write)?;
                keys += 1;
            }
            rdbkit_rdb::Record::Function { code } if functions => {
                w.function(&code).map_err(Failure::Write)?;
            }
            _ => {}
        }
    }
    w.flush().map_err(Failure::Write)?;
    Ok((
        keys,
        Skipped {
            modules: w.skipped_modules,
            arrays: w.skipped_arrays,
        },
    ))
}
