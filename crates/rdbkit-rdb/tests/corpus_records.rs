//! The record parser over every RDB in the shared corpus:
//! - the memory-mapped path and the `io::Read` path (with tiny and default read sizes) yield
//!   identical records, and identical errors on damaged files;
//! - decoding a value consumes exactly the bytes the skipping walk found;
//! - every real-server file passes deep validation and its checksum; every damaged copy and
//!   every third-party file expected to fail is rejected; third-party files expected to load do.
//!
//! Needs `../shared/corpus` (or `RDBKIT_CORPUS`); with `CI=true` its absence fails the test.

use std::io::Read;
use std::path::{Path, PathBuf};

use rdbkit_rdb::{Options, RdbFile, RdbParser, RdbReader, Record, RecordSource, Scratch, View};
use rdbkit_testkit::visit::Recorder;

fn corpus() -> Option<PathBuf> {
    rdbkit_testkit::corpus_dir()
}

/// Every record as text (keys with their decoded values), then the error if any.
fn records(src: &mut impl RecordSource) -> (Vec<String>, Option<String>) {
    let mut out = Vec::new();
    let mut scratch = Scratch::new();
    while let Some(r) = src.next_record() {
        match r {
            Err(e) => return (out, Some(e.to_string())),
            Ok(Record::Key(k)) => {
                let mut d = Recorder::default();
                let used = k
                    .value
                    .decode_len(&mut scratch, &mut d, false)
                    .unwrap_or_else(|e| panic!("decoding key {:?}: {e}", k.key));
                // skipping (which found `end`) and decoding agree on where the value ends
                assert_eq!(used, k.value.raw().len(), "key {:?}", k.key);
                assert_eq!(k.value.offset() + used as u64, k.end);
                // the zero-copy views open on every value and iterate without errors
                let mut vbuf = Vec::new();
                let view = k
                    .value
                    .view(&mut vbuf)
                    .unwrap_or_else(|e| panic!("view of {:?}: {e}", k.key));
                let n = match view {
                    View::Listpack(lp) => lp.iter().collect::<Result<Vec<_>, _>>().unwrap().len(),
                    View::Ziplist(zl) => zl.iter().collect::<Result<Vec<_>, _>>().unwrap().len(),
                    View::Intset(is) => is.iter().count(),
                    View::Zipmap(zm) => zm.iter().collect::<Result<Vec<_>, _>>().unwrap().len(),
                    View::String(s) => s.len(),
                    View::Other => 0,
                    other => panic!("a view this test does not know: {other:?}"),
                };
                let _ = n;
                out.push(format!(
                    "K db={} key={:?} exp={:?} idle={:?} freq={:?} ty={:?} enc={} at={}..{} {:?}",
                    k.db,
                    k.key,
                    k.expire_ms,
                    k.lru_idle,
                    k.lfu_freq,
                    k.value.ty,
                    k.value.encoding(),
                    k.offset,
                    k.end,
                    d.events
                ));
            }
            Ok(other) => out.push(format!("{other:?}")),
        }
    }
    (out, None)
}

/// Hands out at most `n` bytes per read, like a pipe.
struct Trickle<R>(R, usize);
impl<R: Read> Read for Trickle<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.1);
        self.0.read(&mut buf[..n])
    }
}

/// Decodes `path` every way; returns the error (identical on every path) if any.
fn decode_all_ways(path: &Path, opts: Options) -> Option<String> {
    let file = RdbFile::open(path).unwrap();
    let (want, err) = records(&mut file.parser(opts));
    let small = file.bytes().len() < 256 * 1024;
    let ways: &[(usize, usize)] = if small {
        &[
            (usize::MAX, 64 * 1024),
            (7, 1),
            (3, 4096),
            (usize::MAX, 100_000),
        ]
    } else {
        &[(usize::MAX, 64 * 1024), (4096, 1)]
    };
    for &(trickle, min_read) in ways {
        let src = Trickle(std::fs::File::open(path).unwrap(), trickle);
        let mut r = RdbReader::new(src, opts).with_min_read(min_read);
        let (got, e2) = records(&mut r);
        assert_eq!(
            got.len(),
            want.len(),
            "{}: record count via io::Read",
            path.display()
        );
        for (a, b) in got.iter().zip(&want) {
            assert_eq!(a, b, "{}: io::Read vs mmap", path.display());
        }
        assert_eq!(e2, err, "{}: error via io::Read vs mmap", path.display());
    }
    err
}

fn rdb_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rdb_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rdb") {
            out.push(p);
        }
    }
}

const DEEP: Options = Options::new()
    .deep(true)
    .verify_checksum(true)
    .best_effort(false);

#[test]
fn server_corpus_decodes_identically_every_way() {
    let Some(corpus) = corpus() else { return };
    let mut files = Vec::new();
    rdb_files(&corpus.join("rdb"), &mut files);
    let (mut good, mut bad) = (0, 0);
    for f in &files {
        let corrupt = f.components().any(|c| c.as_os_str() == "corrupt");
        let err = decode_all_ways(f, DEEP);
        if corrupt {
            assert!(err.is_some(), "{}: damaged file accepted", f.display());
            bad += 1;
        } else {
            assert_eq!(err, None, "{}", f.display());
            good += 1;
        }
    }
    assert!(
        good >= 90 && bad >= 60,
        "only {good} good and {bad} damaged files found"
    );
}

#[test]
fn key_counts_match_meta() {
    let Some(corpus) = corpus() else { return };
    let mut files = Vec::new();
    rdb_files(&corpus.join("rdb"), &mut files);
    for f in files
        .iter()
        .filter(|f| !f.components().any(|c| c.as_os_str() == "corrupt"))
    {
        let meta = f.with_extension("meta.json");
        let Ok(text) = std::fs::read_to_string(&meta) else {
            continue;
        };
        let meta: serde_json::Value = serde_json::from_str(&text).unwrap();
        let data = std::fs::read(f).unwrap();
        let sum = rdbkit_rdb::check_rdb_prefix(&data, true).unwrap();
        assert_eq!(sum.len, data.len(), "{}", f.display());
        if let Some(n) = meta["key_count"].as_u64() {
            assert_eq!(sum.keys, n, "{}", f.display());
        }
        assert_eq!(Some(u64::from(sum.version)), meta["rdb_version"].as_u64());
    }
}

#[test]
fn third_party_files_as_the_manifest_expects() {
    let Some(corpus) = corpus() else { return };
    let tp = corpus.join("third_party");
    let manifest = std::fs::read_to_string(tp.join("MANIFEST.tsv")).unwrap();
    let mut lines = manifest.lines();
    let head: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| head.iter().position(|h| *h == name).unwrap();
    let (path_c, ver_c, expect_c) = (col("local_path"), col("rdb_version"), col("expect"));
    let mut n = 0;
    for line in lines {
        let cols: Vec<&str> = line.split('\t').collect();
        let (path, ver, expect) = (cols[path_c], cols[ver_c], cols[expect_c]);
        if ver.starts_with("aof") || ver == "other" || !matches!(expect, "pass" | "fail") {
            continue;
        }
        let p = tp.join(path);
        if !p.exists() {
            continue;
        }
        let err = decode_all_ways(&p, DEEP);
        match expect {
            "pass" => assert_eq!(err, None, "{path}"),
            _ => assert!(err.is_some(), "{path}: expected a rejection"),
        }
        n += 1;
    }
    assert!(n > 150, "only {n} third-party RDB files");
}

/// Stopping early is fine, and a parser over a prefix of a file fails cleanly.
#[test]
fn every_prefix_of_a_file_fails_cleanly() {
    let Some(corpus) = corpus() else { return };
    let data = std::fs::read(corpus.join("rdb/7.4.1/mini.rdb")).unwrap();
    for cut in 0..data.len() {
        let mut p = RdbParser::new(&data[..cut], DEEP);
        let mut n = 0;
        let mut failed = false;
        while let Some(r) = p.next() {
            n += 1;
            if r.is_err() {
                failed = true;
            }
        }
        assert!(failed, "prefix of {cut} bytes accepted after {n} records");
    }
}

/// Damaged copies (bytes flipped, cut, lengths inflated) never panic, on any path, with or
/// without deep validation, and decoding every value the parser hands out never panics either.
#[test]
fn mutated_files_never_panic() {
    let Some(corpus) = corpus() else { return };
    let mut files = Vec::new();
    rdb_files(&corpus.join("rdb"), &mut files);
    files.retain(|f| {
        let n = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        !f.components().any(|c| c.as_os_str() == "corrupt")
            && (n == "mini.rdb" || n == "modules.rdb" || n == "nochecksum.rdb")
    });
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut scratch = Scratch::new();
    for f in &files {
        let orig = std::fs::read(f).unwrap();
        for round in 0..120 {
            let mut data = orig.clone();
            let flips = 1 + rand() % 4;
            for _ in 0..flips {
                let i = (rand() as usize) % data.len();
                data[i] = match round % 3 {
                    0 => data[i] ^ (1 << (rand() % 8)),
                    1 => rand() as u8,
                    _ => 0xff,
                };
            }
            if round % 7 == 0 {
                data.truncate((rand() as usize) % data.len());
            }
            for deep in [false, true] {
                let opts = Options::default()
                    .deep(deep)
                    .verify_checksum(false)
                    .best_effort(false);
                let mut p = RdbParser::new(&data, opts);
                while let Some(r) = p.next() {
                    if let Ok(Record::Key(k)) = r {
                        let mut d = Recorder::default();
                        let _ = k.value.visit(&mut scratch, &mut d, deep);
                    }
                }
            }
        }
    }
}
