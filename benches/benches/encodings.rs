//! Compact encodings: listpack / ziplist / intset iteration and validation, quicklist and
//! stream values decoded through `Value::visit` (shallow and deep).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rdbkit_benches::{blob, stream_value, ty, RdbBuilder, Rng};
use rdbkit_rdb::internals::entry::Entry;
use rdbkit_rdb::internals::intset;
use rdbkit_rdb::internals::intset::Intset;
use rdbkit_rdb::internals::length::encode_len;
use rdbkit_rdb::internals::listpack::{self, Listpack};
use rdbkit_rdb::internals::ziplist::{self, Ziplist};
use rdbkit_rdb::{Options, RdbParser, Record, Scratch, VisitResult, Visitor};

/// Counts what it is shown (so nothing is optimised away).
#[derive(Default)]
struct Count(u64);
impl Visitor for Count {
    fn element(&mut self, e: Entry<'_>) -> VisitResult {
        self.0 += e.logical_len() as u64;
        Ok(())
    }
    fn stream_field(&mut self, f: Entry<'_>, v: Entry<'_>) -> VisitResult {
        self.0 += (f.logical_len() + v.logical_len()) as u64;
        Ok(())
    }
}

fn items(n: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(9);
    (0..n)
        .map(|i| match i % 3 {
            0 => rng.below(100_000).to_string().into_bytes(),
            1 => format!("member-{}", rng.below(1 << 20)).into_bytes(),
            _ => format!("a somewhat longer element {i} {}", rng.below(1000)).into_bytes(),
        })
        .collect()
}

fn bench_blobs(c: &mut Criterion) {
    const N: usize = 4096;
    let its = items(N);
    let refs: Vec<&[u8]> = its.iter().map(|x| x.as_slice()).collect();
    let lp = listpack::encode(&refs);
    let zl = ziplist::encode(&refs);
    let ints: Vec<i64> = (0..N as i64).map(|i| i * 1_000_003).collect();
    let is = intset::encode(&ints);
    let mut g = c.benchmark_group("blob_4096_entries");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("listpack_iter", |b| {
        b.iter(|| {
            let l = Listpack::new(black_box(&lp)).unwrap();
            l.iter().map(|e| e.unwrap().logical_len()).sum::<usize>()
        })
    });
    g.bench_function("listpack_validate", |b| {
        b.iter(|| Listpack::new(black_box(&lp)).unwrap().validate().unwrap())
    });
    g.bench_function("ziplist_iter", |b| {
        b.iter(|| {
            let z = Ziplist::new(black_box(&zl)).unwrap();
            z.iter().map(|e| e.unwrap().logical_len()).sum::<usize>()
        })
    });
    g.bench_function("ziplist_validate", |b| {
        b.iter(|| Ziplist::new(black_box(&zl)).unwrap().validate().unwrap())
    });
    g.bench_function("intset_iter", |b| {
        b.iter(|| {
            Intset::new(black_box(&is))
                .unwrap()
                .iter()
                .fold(0i64, |a, v| a.wrapping_add(v))
        })
    });
    g.bench_function("intset_validate", |b| {
        b.iter(|| Intset::new(black_box(&is)).unwrap().validate().unwrap())
    });
    g.finish();
}

/// One-key RDB files: a 1000-node quicklist (128 elements per listpack node, LZF-compressed
/// like `list-compress-depth 1` inner nodes), and a 200-node stream of 100 entries per node.
fn one_key(t: u8, value: &[u8]) -> Vec<u8> {
    let mut b = RdbBuilder::new(10);
    b.select_db(0, 1, 0);
    b.key(t, b"k", None, value);
    b.finish()
}

fn bench_values(c: &mut Criterion) {
    let its = items(128);
    let refs: Vec<&[u8]> = its.iter().map(|x| x.as_slice()).collect();
    let node = listpack::encode(&refs);
    let mut ql = Vec::new();
    encode_len(1000, &mut ql);
    for i in 0..1000 {
        encode_len(2, &mut ql);
        ql.extend_from_slice(&blob(&node, i != 0 && i != 999));
    }
    let quicklist = one_key(ty::LIST_QUICKLIST_2, &ql);
    let stream = one_key(
        ty::STREAM_LISTPACKS_2,
        &stream_value(&mut Rng::new(1), 200, 100),
    );
    let mut g = c.benchmark_group("value");
    for (name, file, elements) in [
        ("quicklist", &quicklist, 128_000u64),
        ("stream", &stream, 20_000),
    ] {
        g.throughput(Throughput::Elements(elements));
        for deep in [false, true] {
            g.bench_function(
                format!("{name}_{}", if deep { "deep" } else { "visit" }),
                |b| {
                    let mut scratch = Scratch::new();
                    b.iter(|| {
                        let mut p = RdbParser::new(black_box(file), Options::default());
                        let mut n = Count::default();
                        while let Some(r) = p.next() {
                            if let Record::Key(k) = r.unwrap() {
                                k.value.visit(&mut scratch, &mut n, deep).unwrap();
                            }
                        }
                        n.0
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = bench_blobs, bench_values
}
criterion_main!(benches);
