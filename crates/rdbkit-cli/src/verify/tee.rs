//! One stream read once and handed to two consumers, each on its own thread, in 1 MiB chunks
//! (a few in flight per consumer): `verify` checks an archive's AOF part and replays it in
//! the same pass, holding neither whole.

use std::io::{self, Read};
use std::sync::{mpsc, Arc};

/// The chunks a stream is handed over in.
const CHUNK: usize = 1 << 20;

/// Chunks in flight to each consumer.
const IN_FLIGHT: usize = 4;

/// A reader of the chunks sent to a consumer; the end of the stream when the sender is gone.
struct Chunks {
    rx: mpsc::Receiver<Arc<Vec<u8>>>,
    cur: Arc<Vec<u8>>,
    at: usize,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(left) = self.cur.get(self.at..).filter(|l| !l.is_empty()) {
                let n = left.len().min(buf.len());
                buf[..n].copy_from_slice(&left[..n]);
                self.at += n;
                return Ok(n);
            }
            match self.rx.recv() {
                Ok(c) => {
                    self.cur = c;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
    }
}

/// Reads `r` to its end, handing every byte to `a` and to `b` (each on its own thread, each
/// reading its own copy as a stream); a consumer that returns early no longer gets chunks.
/// Returns the bytes read, the read error if any (the consumers then saw the stream end
/// there), and what each consumer returned.
pub fn tee<A: Send, B: Send>(
    r: &mut dyn Read,
    a: impl FnOnce(&mut dyn Read) -> A + Send,
    b: impl FnOnce(&mut dyn Read) -> B + Send,
) -> (u64, io::Result<()>, A, B) {
    let (ta, ra) = mpsc::sync_channel::<Arc<Vec<u8>>>(IN_FLIGHT);
    let (tb, rb) = mpsc::sync_channel::<Arc<Vec<u8>>>(IN_FLIGHT);
    let chunks = |rx| Chunks {
        rx,
        cur: Arc::new(Vec::new()),
        at: 0,
    };
    let (ca, cb) = (chunks(ra), chunks(rb));
    std::thread::scope(|s| {
        let ha = s.spawn(move || {
            let mut ca = ca;
            a(&mut ca)
        });
        let hb = s.spawn(move || {
            let mut cb = cb;
            b(&mut cb)
        });
        let (n, read) = pump(r, &ta, &tb);
        drop((ta, tb));
        let a = match ha.join() {
            Ok(a) => a,
            Err(p) => std::panic::resume_unwind(p),
        };
        let b = match hb.join() {
            Ok(b) => b,
            Err(p) => std::panic::resume_unwind(p),
        };
        (n, read, a, b)
    })
}

fn pump(
    r: &mut dyn Read,
    a: &mpsc::SyncSender<Arc<Vec<u8>>>,
    b: &mpsc::SyncSender<Arc<Vec<u8>>>,
) -> (u64, io::Result<()>) {
    let (mut a_on, mut b_on) = (true, true);
    let mut total = 0u64;
    loop {
        let mut c = Vec::with_capacity(CHUNK);
        let got = (&mut *r).take(CHUNK as u64).read_to_end(&mut c);
        total += c.len() as u64;
        let end = c.len() < CHUNK;
        if !c.is_empty() {
            let c = Arc::new(c);
            a_on = a_on && a.send(Arc::clone(&c)).is_ok();
            b_on = b_on && b.send(c).is_ok();
        }
        if let Err(e) = got {
            return (total, Err(e));
        }
        if end {
            return (total, Ok(()));
        }
    }
}
