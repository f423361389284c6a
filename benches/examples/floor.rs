//! The floor of a deep check from measured primitives (issue 15): `floor FILE [REPS]`.
//!
//! Counts the work of a deep check of FILE (records, values and elements per type and
//! encoding, LZF blobs and bytes) and measures each part alone on this CPU, as thread CPU
//! time (`CLOCK_THREAD_CPUTIME_ID`: preemption on a loaded machine is not counted; the
//! best of REPS runs, default 3):
//! - the record walk: every record read and every value skipped, no validation (what the
//!   reading thread of a parallel check must do alone; the key fingerprints not included);
//! - the CRC-64 of the file;
//! - per (type, encoding): the deep validation of its values (`Value::visit` with a
//!   validating visitor), and for the single-blob encodings its parts: LZF decompression
//!   alone, then decompression plus one validating listpack/ziplist walk (the walk is the
//!   difference), the rest (member duplicates, scores, TTLs) being what the full deep
//!   validation adds to that.
//!
//! The sum is compared with `rdbkit check --threads 1`'s CPU time by the reader; see README,
//! "Where a deep check's instructions go".

use rdbkit_benches::clock::best;
use std::collections::BTreeMap;

use rdbkit_rdb::internals::listpack::Listpack;
use rdbkit_rdb::{
    Entry, NoVisitor, Options, RdbParser, RdbString, Record, Scratch, Value, VisitResult, Visitor,
    Ziplist,
};

/// Counts elements (list elements, set/zset members, hash fields, stream entries and fields).
#[derive(Default)]
struct Count(u64);
impl Visitor for Count {
    fn element(&mut self, _: Entry<'_>) -> VisitResult {
        self.0 += 1;
        Ok(())
    }
    fn zset_member(&mut self, _: Entry<'_>, _: f64) -> VisitResult {
        self.0 += 1;
        Ok(())
    }
    fn hash_field(&mut self, _: Entry<'_>, _: Entry<'_>, _: Option<i64>) -> VisitResult {
        self.0 += 1;
        Ok(())
    }
    fn stream_field(&mut self, _: Entry<'_>, _: Entry<'_>) -> VisitResult {
        self.0 += 1;
        Ok(())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: floor FILE [REPS]");
    let reps: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(3);
    let data = std::fs::read(path).expect("read");
    let shallow = Options::default().deep(false).verify_checksum(false);

    // The record walk alone.
    let mut keys = 0u64;
    let walk = best(reps, || {
        keys = 0;
        let mut p = RdbParser::new(&data, shallow);
        while let Some(r) = p.next() {
            if let Record::Key(_) = r.expect("a sound file") {
                keys += 1;
            }
        }
    });
    let crc = best(reps, || {
        std::hint::black_box(rdbkit_rdb::internals::crc64::crc64(&data));
    });

    // Each value's group (type, encoding), in file order.
    let group_of = |v: &Value<'_>| format!("{:?} {}", v.family(), v.encoding());
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut order = Vec::new();
    let mut p = RdbParser::new(&data, shallow);
    while let Some(r) = p.next() {
        if let Record::Key(k) = r.expect("a sound file") {
            let n = names.len();
            order.push(*names.entry(group_of(&k.value)).or_insert(n));
        }
    }
    // One pass over the records doing `f` to the values of group `g` (others only skipped):
    // the part of group `g` is this pass's CPU time less the pass with nothing to do.
    let pass = |g: usize, f: &mut dyn FnMut(&Value<'_>)| {
        let mut p = RdbParser::new(&data, shallow);
        let mut i = 0;
        while let Some(r) = p.next() {
            if let Record::Key(k) = r.expect("a sound file") {
                if order[i] == g {
                    f(&k.value);
                }
                i += 1;
            }
        }
    };
    let base = best(reps, || pass(usize::MAX, &mut |_| {}));

    println!(
        "{path}: {} bytes, {keys} keys; CPU seconds, best of {reps}",
        data.len()
    );
    println!(
        "record walk (shallow, no CRC): {walk:.4} s ({:.1} ns a key)",
        walk * 1e9 / keys as f64
    );
    println!(
        "CRC-64: {crc:.4} s ({:.2} GB/s)",
        data.len() as f64 / crc / 1e9
    );
    println!("type encoding | values | elements | LZF blobs, in -> out bytes | LZF decompress s | blob walk s (entries) | deep validation s | ns an element");
    let mut scratch = Scratch::new();
    let mut buf = Vec::new();
    let mut total_deep = 0.0;
    for (name, &g) in &names {
        let (mut values, mut elements) = (0u64, 0u64);
        let (mut n_lzf, mut lzf_in, mut lzf_out) = (0u64, 0u64, 0u64);
        pass(g, &mut |v| {
            values += 1;
            let mut c = Count::default();
            v.visit(&mut scratch, &mut c, false).expect("a sound value");
            elements += c.0;
            if let Some(RdbString::Lzf { compressed, len }) = v.blob() {
                n_lzf += 1;
                lzf_in += compressed.len() as u64;
                lzf_out += len as u64;
            }
        });
        let deep = best(reps, || {
            pass(g, &mut |v| {
                v.visit(&mut scratch, &mut NoVisitor, true)
                    .expect("a sound value")
            })
        }) - base;
        total_deep += deep;
        let mut extra = String::new();
        let lp = name.ends_with(" listpack") || name.ends_with(" listpackex");
        let zl = name.ends_with(" ziplist");
        if lp || zl {
            let dec = best(reps, || {
                pass(g, &mut |v| {
                    if let Some(b) = v.blob() {
                        if b.is_compressed() {
                            std::hint::black_box(b.bytes_in(&mut buf, v.offset()).expect("LZF"));
                        }
                    }
                })
            }) - base;
            let mut entries = 0u64;
            let walked = best(reps, || {
                entries = 0;
                pass(g, &mut |v| {
                    let Some(b) = v.blob() else { return };
                    let bytes = b.bytes_in(&mut buf, v.offset()).expect("blob");
                    if lp {
                        let l = Listpack::new(bytes).expect("listpack");
                        let mut it = l.checked_iter();
                        for e in it.by_ref() {
                            std::hint::black_box(e.expect("entry"));
                        }
                        entries += it.elements() as u64;
                    } else {
                        let z = Ziplist::new(bytes).expect("ziplist");
                        entries += z.validate().expect("ziplist") as u64;
                    }
                })
            }) - base;
            extra = format!(
                " | {n_lzf}, {lzf_in} -> {lzf_out} | {dec:.4} | {:.4} ({entries}, {:.1} ns each)",
                walked - dec,
                (walked - dec) * 1e9 / entries.max(1) as f64
            );
        }
        println!(
            "{name} | {values} | {elements}{extra} | {deep:.4} | {:.1}",
            deep * 1e9 / elements.max(1) as f64
        );
    }
    println!(
        "sum: record walk {walk:.4} + CRC {crc:.4} + deep validation {total_deep:.4} = {:.4} CPU s",
        walk + crc + total_deep
    );

    // The LZF decompression of every compressed listpack/ziplist blob alone, without the
    // record walk around it (the per-type rows above are differences of two passes over the
    // file, too noisy for a part this small): the blobs collected once, then decompressed
    // into one reused buffer, best of 10 × REPS.
    let mut blobs = Vec::new();
    let mut p = RdbParser::new(&data, shallow);
    while let Some(r) = p.next() {
        if let Record::Key(k) = r.expect("a sound file") {
            if let Some(RdbString::Lzf { compressed, len }) = k.value.blob() {
                blobs.push((compressed.to_vec(), len));
            }
        }
    }
    let (lzf_in, lzf_out) = blobs
        .iter()
        .fold((0, 0), |(i, o), (c, len)| (i + c.len(), o + len));
    let lzf = best(reps * 10, || {
        for (c, len) in &blobs {
            rdbkit_rdb::internals::lzf::decompress_reusing(c, *len, &mut buf).expect("LZF");
            std::hint::black_box(&buf);
        }
    });
    println!(
        "LZF of the compressed blobs alone: {} blobs, {lzf_in} -> {lzf_out} bytes, {lzf:.4} s ({:.1} ns a blob)",
        blobs.len(),
        lzf * 1e9 / blobs.len().max(1) as f64
    );
}
