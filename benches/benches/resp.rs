//! The AOF RESP reader over an in-memory AOF body (what `rdbkit aof check` walks).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rdbkit_aof::resp::{Item, SliceReader};
use rdbkit_benches::resp_commands;

fn bench_resp(c: &mut Criterion) {
    let data = resp_commands(300_000);
    let mut r = SliceReader::new(&data, 0);
    let mut n = 0u64;
    while let Some(item) = r.next_item().unwrap() {
        if let Item::Command(_) = item {
            n += 1;
        }
    }
    let mut g = c.benchmark_group("resp");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("slice_reader_bytes", |b| {
        b.iter(|| {
            let mut r = SliceReader::new(black_box(&data), 0);
            let mut args = 0usize;
            while let Some(item) = r.next_item().unwrap() {
                if let Item::Command(c) = item {
                    args += c.argc();
                }
            }
            args
        })
    });
    g.throughput(Throughput::Elements(n));
    g.bench_function("slice_reader_commands", |b| {
        b.iter(|| {
            let mut r = SliceReader::new(black_box(&data), 0);
            let mut args = 0usize;
            while let Some(item) = r.next_item().unwrap() {
                if let Item::Command(c) = item {
                    args += c.argc();
                }
            }
            args
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = bench_resp
}
criterion_main!(benches);
