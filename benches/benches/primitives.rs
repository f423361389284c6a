//! Lengths, integers, strings (raw/int/LZF), LZF (ours vs the `lzf` crate), CRC-64
//! (crc-fast vs the `crc` crate's tables), and the RDB length decoder: hand-written cursor vs
//! `nom`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rdbkit_benches::{encode_string, json_lines, Rng};
use rdbkit_rdb::internals::length::{encode_len, read_len};
use rdbkit_rdb::internals::string::read_string;
use rdbkit_rdb::internals::Cursor;
use rdbkit_rdb::internals::{crc64, lzf};

/// Lengths as they occur in real files: mostly 6-bit, some 14-bit, a few 32/64-bit.
fn lengths(n: usize) -> Vec<u8> {
    let mut rng = Rng::new(1);
    let mut out = Vec::new();
    for _ in 0..n {
        let v = match rng.below(100) {
            0..=69 => rng.below(64),
            70..=94 => rng.below(16384),
            95..=98 => rng.below(1 << 32),
            _ => rng.next_u64(),
        };
        encode_len(v, &mut out);
    }
    out
}

/// The same RDB length grammar in `nom` (for the comparison only).
fn nom_len(i: &[u8]) -> nom::IResult<&[u8], u64> {
    use nom::number::complete::{be_u32, be_u64, be_u8};
    let (i, b) = be_u8(i)?;
    match b >> 6 {
        0 => Ok((i, u64::from(b & 0x3f))),
        1 => {
            let (i, b2) = be_u8(i)?;
            Ok((i, (u64::from(b & 0x3f) << 8) | u64::from(b2)))
        }
        2 if b == 0x80 => be_u32(i).map(|(i, v)| (i, u64::from(v))),
        2 if b == 0x81 => be_u64(i),
        _ => Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::Tag,
        ))),
    }
}

fn bench_lengths(c: &mut Criterion) {
    const N: usize = 1_000_000;
    let data = lengths(N);
    let mut g = c.benchmark_group("length");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("cursor", |b| {
        b.iter(|| {
            let mut c = Cursor::new(black_box(&data), 0);
            let mut sum = 0u64;
            for _ in 0..N {
                sum = sum.wrapping_add(read_len(&mut c, "length").unwrap());
            }
            sum
        })
    });
    g.bench_function("nom", |b| {
        b.iter(|| {
            let mut i: &[u8] = black_box(&data);
            let mut sum = 0u64;
            for _ in 0..N {
                let (rest, v) = nom_len(i).unwrap();
                i = rest;
                sum = sum.wrapping_add(v);
            }
            sum
        })
    });
    g.finish();
}

fn bench_strings(c: &mut Criterion) {
    const N: usize = 200_000;
    let mut rng = Rng::new(2);
    let (mut ints, mut raws) = (Vec::new(), Vec::new());
    for i in 0..N {
        let v = match i % 3 {
            0 => rng.below(128),
            1 => rng.below(30_000),
            _ => rng.below(1 << 31),
        };
        encode_string(v.to_string().as_bytes(), false, &mut ints);
        encode_string(format!("value:{i:014}").as_bytes(), false, &mut raws);
    }
    let mut lzfs = Vec::new();
    let mut lzf_out = 0u64;
    for _ in 0..2000 {
        let len = 400 + rng.below(600) as usize;
        let s = json_lines(&mut rng, len);
        lzf_out += s.len() as u64;
        encode_string(&s, true, &mut lzfs);
    }
    let mut g = c.benchmark_group("string");
    for (name, data, n) in [("int", &ints, N), ("raw", &raws, N)] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(name, |b| {
            let mut buf = Vec::new();
            b.iter(|| {
                let mut c = Cursor::new(black_box(data), 0);
                let mut total = 0usize;
                while c.remaining() > 0 {
                    let s = read_string(&mut c, "s").unwrap();
                    total += s.bytes_in(&mut buf, 0).unwrap().len();
                }
                total
            })
        });
    }
    g.throughput(Throughput::Bytes(lzf_out));
    g.bench_function("lzf_decompress", |b| {
        let mut buf = Vec::new();
        b.iter(|| {
            let mut c = Cursor::new(black_box(&lzfs), 0);
            let mut total = 0usize;
            while c.remaining() > 0 {
                total += read_string(&mut c, "s")
                    .unwrap()
                    .bytes_in(&mut buf, 0)
                    .unwrap()
                    .len();
            }
            total
        })
    });
    g.bench_function("lzf_validate", |b| {
        b.iter(|| {
            let mut c = Cursor::new(black_box(&lzfs), 0);
            while c.remaining() > 0 {
                read_string(&mut c, "s").unwrap().validate(0).unwrap();
            }
        })
    });
    g.finish();
}

fn bench_lzf(c: &mut Criterion) {
    let mut rng = Rng::new(4);
    let text = json_lines(&mut rng, 1 << 20);
    let compressed = lzf::compress(&text).unwrap();
    let mut g = c.benchmark_group("lzf_1MiB_json");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("rdbkit_decompress", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            lzf::decompress_into(black_box(&compressed), text.len(), &mut out).unwrap();
            out.len()
        })
    });
    g.bench_function("rdbkit_validate", |b| {
        b.iter(|| lzf::validate(black_box(&compressed), text.len()).unwrap())
    });
    g.bench_function("lzf_crate_decompress", |b| {
        b.iter(|| {
            ::lzf::decompress(black_box(&compressed), text.len())
                .unwrap()
                .len()
        })
    });
    g.finish();
}

fn bench_crc(c: &mut Criterion) {
    let mut rng = Rng::new(5);
    let data = rng.bytes(16 << 20);
    let mut g = c.benchmark_group("crc64_16MiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("crc_fast", |b| b.iter(|| crc64::crc64(black_box(&data))));
    let table16 = crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_REDIS);
    g.bench_function("crc_crate_table16", |b| {
        b.iter(|| table16.checksum(black_box(&data)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = bench_lengths, bench_strings, bench_lzf, bench_crc
}
criterion_main!(benches);
