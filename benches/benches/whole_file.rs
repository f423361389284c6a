//! Whole-file decode of three representative files built in-process (many small keys; a mix of
//! types in compact encodings with expiries and streams; a few huge values, half compressible)
//! plus the bundled testdata/rdb/sample.rdb: records only (CRC verified), records with deep
//! validation (`rdbkit check`), and every value decoded into a visitor (`rdbkit dump`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rdbkit_benches::{big_values_rdb, mixed_rdb, small_keys_rdb};
use rdbkit_rdb::internals::entry::Entry;
use rdbkit_rdb::{Options, RdbParser, Record, Scratch, VisitResult, Visitor};

#[derive(Default)]
struct Sum(u64);
impl Visitor for Sum {
    fn string(&mut self, s: Entry<'_>) -> VisitResult {
        self.0 += s.logical_len() as u64;
        Ok(())
    }
    fn element(&mut self, e: Entry<'_>) -> VisitResult {
        self.0 += e.logical_len() as u64;
        Ok(())
    }
    fn zset_member(&mut self, m: Entry<'_>, _: f64) -> VisitResult {
        self.0 += m.logical_len() as u64;
        Ok(())
    }
    fn hash_field(&mut self, f: Entry<'_>, v: Entry<'_>, _: Option<i64>) -> VisitResult {
        self.0 += (f.logical_len() + v.logical_len()) as u64;
        Ok(())
    }
    fn stream_field(&mut self, f: Entry<'_>, v: Entry<'_>) -> VisitResult {
        self.0 += (f.logical_len() + v.logical_len()) as u64;
        Ok(())
    }
}

fn keys(data: &[u8], deep: bool) -> u64 {
    let mut p = RdbParser::new(data, Options::default().deep(deep));
    let mut n = 0;
    while let Some(r) = p.next() {
        if let Record::Key(_) = r.unwrap() {
            n += 1;
        }
    }
    n
}

fn decode_all(data: &[u8], scratch: &mut Scratch) -> u64 {
    let mut p = RdbParser::new(data, Options::default());
    let mut v = Sum::default();
    while let Some(r) = p.next() {
        if let Record::Key(k) = r.unwrap() {
            v.0 += k.key.len() as u64;
            k.value.visit(scratch, &mut v, false).unwrap();
        }
    }
    v.0
}

fn bench_files(c: &mut Criterion) {
    let sample = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/rdb/sample.rdb"
    ))
    .unwrap_or_default();
    let files = [
        ("small_keys_300k", small_keys_rdb(300_000)),
        ("mixed_80k", mixed_rdb(80_000)),
        ("big_values_16", big_values_rdb(16)),
        ("sample_rdb", sample),
    ];
    for (name, data) in &files {
        if data.is_empty() {
            continue;
        }
        let n = keys(data, false);
        let mut g = c.benchmark_group(format!("file_{name}"));
        g.sample_size(10);
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function("records", |b| b.iter(|| keys(black_box(data), false)));
        g.bench_function("records_deep", |b| b.iter(|| keys(black_box(data), true)));
        g.bench_function("decode_all", |b| {
            let mut s = Scratch::new();
            b.iter(|| decode_all(black_box(data), &mut s))
        });
        g.throughput(Throughput::Elements(n));
        g.bench_function("records_deep_keys", |b| {
            b.iter(|| keys(black_box(data), true))
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(3));
    targets = bench_files
}
criterion_main!(benches);
