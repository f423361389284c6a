//! The floor of `rdbkit aof check` of a multi-part data set (issue 15):
//! `floor_aof APPENDONLYDIR [REPS]`.
//!
//! Measures each part of the check alone on this CPU as thread CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`: preemption on a loaded machine is not counted; the best of REPS
//! runs, default 3):
//! - the base RDB: its record walk (every record read, every value skipped: the serial part,
//!   the reading thread's own work), its deep check on one thread (records and values, no
//!   CRC), the share of its stream values in that, and its CRC-64;
//! - each incr file: the strict verdict (`redis-check-aof`'s) and the server's verdict, each
//!   alone.
//!
//! The sum is the CPU a check needs; on two cores its wall time is at least half of it, and at
//! least the serial part. See README, "Multi-part aof check".

use rdbkit_aof::check::{check_single, server_load, CheckOptions};
use rdbkit_aof::multipart::{resolve, Role};
use rdbkit_benches::clock::best;
use rdbkit_rdb::{Family, Item, NoVisitor, Options, RdbParser, Scratch};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: floor_aof APPENDONLYDIR [REPS]");
    let reps: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(3);
    let layout = resolve(std::path::Path::new(path)).expect("a multi-part AOF data set");
    let mut total = 0.0;
    let mut serial = 0.0f64;
    for f in layout.files() {
        let data = std::fs::read(&f.path).expect("read");
        let name = f.path.display();
        if f.role == Role::Base && data.starts_with(b"REDIS") {
            let shallow = Options::default().deep(false).verify_checksum(false);
            let deep = Options::default().deep(true).verify_checksum(false);
            let (mut keys, mut streams) = (0u64, Vec::new());
            for r in RdbParser::new(&data, shallow).into_records() {
                if let Item::Key(k) = r.expect("a sound base") {
                    keys += 1;
                    if k.value.family() == Family::Stream {
                        streams.push(k.value);
                    }
                }
            }
            let walk = best(reps, || {
                let mut p = RdbParser::new(&data, shallow);
                while let Some(r) = p.next() {
                    std::hint::black_box(r.is_ok());
                }
            });
            // The deep check as `rdbkit check --threads 1` runs it (key fingerprints deferred).
            let check = best(reps, || {
                let (_, r) = rdbkit_rdb::parallel::check(&data, deep, 1, |_| {});
                assert!(r.is_ok());
            });
            let mut scratch = Scratch::new();
            let stream = best(reps, || {
                for v in &streams {
                    assert!(v.visit(&mut scratch, &mut NoVisitor, true).is_ok());
                }
            });
            let crc = best(reps, || {
                std::hint::black_box(rdbkit_rdb::internals::crc64::crc64(&data));
            });
            println!(
                "{name}: {} bytes, {keys} keys, {} streams",
                data.len(),
                streams.len()
            );
            println!(
                "  record walk (serial) {walk:.3} s ({:.1} ns a key); deep check, one thread, no CRC {check:.3} s, of which stream values {stream:.3} s ({:.0} ns a stream); CRC-64 {crc:.3} s",
                walk * 1e9 / keys.max(1) as f64,
                stream * 1e9 / streams.len().max(1) as f64
            );
            total += check + crc;
            serial = serial.max(walk);
        } else {
            let opts = CheckOptions::default();
            let mut line = 0;
            let c = check_single(&data, false, true, opts, &mut line);
            assert!(c.is_valid() && c.ok_up_to == data.len() as u64, "{c:?}");
            let strict = best(reps, || {
                let mut line = 0;
                std::hint::black_box(check_single(&data, false, true, opts, &mut line));
            });
            let load = best(reps, || {
                std::hint::black_box(server_load(&data));
            });
            println!("{name}: {} bytes, {} commands", data.len(), c.commands);
            println!(
                "  strict verdict {strict:.3} s, server verdict {load:.3} s ({:.0} MB/s, {:.0} MB/s)",
                data.len() as f64 / strict / 1e6,
                data.len() as f64 / load / 1e6
            );
            total += strict + load;
        }
    }
    println!(
        "sum {total:.3} CPU-s; on 2 cores at least {:.3} s (the serial record walk {serial:.3} s)",
        (total / 2.0).max(serial)
    );
}
