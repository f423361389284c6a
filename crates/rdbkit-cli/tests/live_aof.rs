//! Live test (issue 3): a real `redis-server` (Debian's 7.0) with `appendonly yes` takes a random
//! workload (MULTI/EXEC blocks, several databases, every type); the last incr file of its
//! multi-part AOF is then cut at random offsets, and for each cut:
//! - `rdbkit aof fix DIR --yes` must cut exactly where a model of redis-check-aof's rule says
//!   (the longest prefix of whole commands, back to the MULTI of an unfinished transaction),
//!   leaving a byte prefix of the original file and every other file untouched;
//! - the real `redis-check-aof --fix` must agree on the size;
//! - `rdbkit aof check DIR` must then call it valid, and `rdbkit aof dump DIR` must list exactly the
//!   commands kept in that file;
//! - a server started on the repaired directory must hold exactly the data the server had right
//!   after the last workload step that the kept prefix contains (snapshots taken during the run).
//!
//! Two runs: RDB preamble base, and RESP base with `aof-timestamp-enabled yes`.
//! Rerun a failure with `RDBKIT_LIVE_SEED=<seed> cargo test -p rdbkit-cli --test live_aof`.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

const EXP_BASE: i64 = 4_102_444_800_000;

// ---------------------------------------------------------------------------------------------
// An independent reader of the RESP AOF (the model, not rdbkit's code)

#[derive(Debug, Clone)]
struct Rec {
    start: usize,
    end: usize,
    /// `None` for a `#` annotation line.
    args: Option<Vec<Vec<u8>>>,
}

/// Splits a complete, valid RESP AOF into its records. Panics on anything else: the input is
/// a file the server wrote and shut down cleanly.
fn parse_aof(data: &[u8]) -> Vec<Rec> {
    fn line(data: &[u8], at: usize) -> (&[u8], usize) {
        let rel = data[at..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or_else(|| panic!("no CRLF after offset {at}"));
        (&data[at..at + rel], at + rel + 2)
    }
    fn num(b: &[u8]) -> usize {
        std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad number {}", show(b)))
    }
    let mut recs = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let start = i;
        match data[i] {
            b'#' => {
                let end = data[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map(|p| i + p + 1)
                    .unwrap_or(data.len());
                recs.push(Rec {
                    start,
                    end,
                    args: None,
                });
                i = end;
            }
            b'*' => {
                let (l, mut at) = line(data, i);
                let argc = num(&l[1..]);
                let mut args = Vec::with_capacity(argc);
                for _ in 0..argc {
                    let (l, next) = line(data, at);
                    assert_eq!(l.first(), Some(&b'$'), "expected $ at offset {at}");
                    let n = num(&l[1..]);
                    args.push(data[next..next + n].to_vec());
                    assert_eq!(
                        &data[next + n..next + n + 2],
                        b"\r\n",
                        "payload end at {}",
                        next + n
                    );
                    at = next + n + 2;
                }
                recs.push(Rec {
                    start,
                    end: at,
                    args: Some(args),
                });
                i = at;
            }
            c => panic!("unexpected byte {c:#x} at offset {i}"),
        }
    }
    recs
}

/// Where redis-check-aof --fix cuts a file that is the original cut at `cut`: the start of the
/// first incomplete record, or of the MULTI of a transaction still open; a partial `#` line is
/// accepted (it only ends the file). `cut` itself when nothing needs cutting.
fn model_fix_offset(recs: &[Rec], cut: usize) -> usize {
    let mut multi: Option<usize> = None;
    for r in recs {
        if r.start >= cut {
            break;
        }
        if r.end > cut {
            // This record is torn.
            return match &r.args {
                None => multi.unwrap_or(cut),
                Some(_) => multi.unwrap_or(r.start),
            };
        }
        if let Some(args) = &r.args {
            let name = args
                .first()
                .map(|a| a.to_ascii_lowercase())
                .unwrap_or_default();
            if name == b"multi" {
                multi = Some(r.start);
            } else if name == b"exec" {
                multi = None;
            }
        }
    }
    multi.unwrap_or(cut)
}

// ---------------------------------------------------------------------------------------------
// The workload

fn val(rng: &mut Rng) -> Vec<u8> {
    match rng.below(8) {
        0 => Vec::new(),
        1 => b"\r\n*2\r\n$3\r\nSET\x00\xff".to_vec(), // looks like RESP
        2 => (rng.next_u64() as i64).to_string().into_bytes(),
        3 => {
            let n = rng.range(1, 40) as usize;
            rng.bytes(n)
        }
        4 => {
            let n = rng.range(100, 3000) as usize;
            let unit = rng.token(5);
            unit.as_bytes().iter().cycle().take(n).copied().collect()
        }
        _ => {
            let n = rng.range(1, 12) as usize;
            rng.token(n).into_bytes()
        }
    }
}

fn k(rng: &mut Rng, prefix: &str, n: u64) -> String {
    format!("{prefix}:{}", rng.below(n))
}

/// One random write command (it may fail, e.g. WRONGTYPE: then nothing is logged).
fn write_cmd(rng: &mut Rng) -> Vec<Vec<u8>> {
    match rng.below(40) {
        0..=4 => {
            let mut c = args!["SET", k(rng, "s", 12), val(rng)];
            match rng.below(6) {
                0 => c.extend(args!["PXAT", EXP_BASE + rng.below(1 << 30) as i64]),
                1 => c.extend(args!["EX", rng.range(100_000, 1_000_000)]),
                2 => c.extend(args!["KEEPTTL"]),
                3 => c.extend(args!["NX"]),
                _ => {}
            }
            c
        }
        5 => args!["APPEND", k(rng, "s", 12), val(rng)],
        6 => args!["INCRBY", k(rng, "n", 4), rng.below(100) as i64 - 50],
        7 => args!["INCRBYFLOAT", k(rng, "f", 3), "1.25"], // logged as SET ... KEEPTTL
        8 => args!["SETRANGE", k(rng, "s", 12), rng.below(20), val(rng)],
        9 => args!["DEL", k(rng, "s", 12), k(rng, "l", 6)],
        10..=12 => {
            let mut c = args![
                if rng.chance(50) { "RPUSH" } else { "LPUSH" },
                k(rng, "l", 6)
            ];
            for _ in 0..rng.range(1, 20) {
                c.push(val(rng));
            }
            c
        }
        13 => args![if rng.chance(50) { "LPOP" } else { "RPOP" }, k(rng, "l", 6)],
        14 => args![
            "LTRIM",
            k(rng, "l", 6),
            rng.below(3),
            -1 - rng.below(3) as i64
        ],
        15 => args!["LMOVE", k(rng, "l", 6), k(rng, "l", 6), "LEFT", "RIGHT"],
        16 | 17 => {
            let mut c = args!["SADD", k(rng, "t", 6)];
            for _ in 0..rng.range(1, 10) {
                c.push(if rng.chance(60) {
                    rng.below(1000).to_arg()
                } else {
                    val(rng)
                });
            }
            c
        }
        18 => args!["SREM", k(rng, "t", 6), rng.below(1000)],
        19 => args!["SPOP", k(rng, "t", 6), rng.range(1, 3)], // logged as SREM/DEL
        20 | 21 => {
            let mut c = args!["ZADD", k(rng, "z", 6)];
            for _ in 0..rng.range(1, 8) {
                let s = match rng.below(6) {
                    0 => f64::INFINITY,
                    1 => f64::NEG_INFINITY,
                    2 => 1e300,
                    3 => -0.5,
                    _ => (rng.below(1000) as f64) / 4.0,
                };
                c.push(s.to_arg());
                c.push(rng.token(3).into_bytes());
            }
            c
        }
        22 => args!["ZINCRBY", k(rng, "z", 6), 1.5, rng.token(3)],
        23 => args!["ZPOPMIN", k(rng, "z", 6)],
        24 | 25 => {
            let mut c = args!["HSET", k(rng, "h", 6)];
            for _ in 0..rng.range(1, 8) {
                c.push(format!("f{}", rng.below(30)).into_bytes());
                c.push(val(rng));
            }
            c
        }
        26 => args!["HDEL", k(rng, "h", 6), format!("f{}", rng.below(30))],
        27 => args!["HINCRBYFLOAT", k(rng, "h", 6), "cnt", "0.5"],
        28 | 29 => args![
            "XADD",
            k(rng, "x", 3),
            "*",
            "f",
            val(rng),
            "g",
            rng.below(100)
        ],
        30 => args!["XTRIM", k(rng, "x", 3), "MAXLEN", rng.below(20)],
        31 => args![
            "XGROUP",
            "CREATE",
            k(rng, "x", 3),
            format!("g{}", rng.below(2)),
            "0",
            "MKSTREAM"
        ],
        32 => args![
            "XREADGROUP",
            "GROUP",
            format!("g{}", rng.below(2)),
            "c1",
            "COUNT",
            3,
            "STREAMS",
            k(rng, "x", 3),
            ">"
        ],
        33 => args!["EXPIRE", k(rng, "s", 12), rng.range(1_000_000, 100_000_000)], // logged as PEXPIREAT
        34 => args!["PERSIST", k(rng, "s", 12)],
        35 => args!["COPY", k(rng, "s", 12), k(rng, "s", 12), "REPLACE"],
        36 => args!["MOVE", k(rng, "s", 12), rng.below(3)],
        37 => args![
            "EVAL",
            "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])",
            2,
            k(rng, "s", 12),
            k(rng, "n", 4),
            val(rng)
        ],
        38 => args!["RENAME", k(rng, "h", 6), k(rng, "h", 6)],
        _ => {
            let n = rng.range(1000, 5000) as usize;
            args!["SET", "big", rng.bytes(n)]
        }
    }
}

/// A workload step: one write, or a MULTI/EXEC block (sometimes with a SELECT inside), each in
/// a random database. Returns nothing: the server's state after it is what counts.
fn step(c: &mut Client, rng: &mut Rng) {
    let db = *rng.pick(&[0u32, 0, 0, 1, 2, 15]);
    let mut cmds = vec![args!["SELECT", db]];
    if rng.chance(20) {
        cmds.push(args!["MULTI"]);
        for _ in 0..rng.range(1, 5) {
            if rng.chance(15) {
                cmds.push(args!["SELECT", *rng.pick(&[0u32, 1, 15])]);
            }
            cmds.push(write_cmd(rng));
        }
        cmds.push(args!["EXEC"]);
        cmds.push(args!["SELECT", db]);
    } else {
        cmds.push(write_cmd(rng));
    }
    // Error replies (WRONGTYPE, no such key, ...) are part of the game: they log nothing.
    c.pipeline(&cmds);
}

fn info_field(c: &mut Client, section: &str, name: &str) -> String {
    let info = c.ok(args!["INFO", section]).text();
    info.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{name}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

fn wait_rewrite_done(c: &mut Client) {
    let start = Instant::now();
    while info_field(c, "persistence", "aof_rewrite_in_progress") != "0"
        || info_field(c, "persistence", "aof_rewrite_scheduled") != "0"
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "BGREWRITEAOF did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The manifest's base + incr file names, in order.
fn manifest_files(dir: &Path) -> Vec<(String, char)> {
    let text = std::fs::read_to_string(dir.join("appendonly.aof.manifest")).expect("read manifest");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            let get = |k: &str| {
                t.chunks(2)
                    .find(|p| p[0] == k)
                    .map(|p| p[1].to_string())
                    .unwrap_or_default()
            };
            (get("file"), get("type").chars().next().unwrap_or('?'))
        })
        .filter(|(_, ty)| *ty != 'h')
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("dir entry");
        std::fs::copy(e.path(), to.join(e.file_name()))
            .unwrap_or_else(|err| panic!("copy {}: {err}", e.path().display()));
    }
}

fn out_text(o: &std::process::Output) -> String {
    format!(
        "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

struct Run {
    /// The AOF directory as the server left it.
    orig: PathBuf,
    last: String,
    /// Size of the last incr file after each step (index 0: before the first step).
    sizes: Vec<u64>,
    snapshots: Vec<Vec<KeyRec>>,
}

/// Runs the workload on a fresh server and shuts it down.
fn record_run(
    server_bin: &Path,
    tmp: &TempDir,
    rng: &mut Rng,
    extra: &[&str],
    steps: usize,
) -> Run {
    let dir = tmp.join("server");
    let mut a = vec![
        "--appendonly",
        "yes",
        "--appenddirname",
        "appendonlydir",
        "--appendfsync",
        "always",
        "--auto-aof-rewrite-percentage",
        "0",
    ];
    a.extend_from_slice(extra);
    let server = Server::start(server_bin, &dir, &a);
    let mut c = server.client();
    let aofdir = dir.join("appendonlydir");

    // Phase 1, then a completed rewrite: its result is the base.
    for _ in 0..60 {
        step(&mut c, rng);
    }
    c.ok(args![
        "FUNCTION",
        "LOAD",
        "#!lua name=aoflive\nredis.register_function('aof_live', function() return 1 end)"
    ]);
    c.ok(args!["BGREWRITEAOF"]);
    wait_rewrite_done(&mut c);
    // A rewrite that never finishes (its child sleeps 1 s per key) opens a new incr file, which
    // the server keeps at shutdown: the recorded steps go there, after an earlier incr file.
    if rng.chance(50) {
        for _ in 0..20 {
            step(&mut c, rng);
        }
        c.ok(args!["CONFIG", "SET", "rdb-key-save-delay", 1_000_000]);
        c.ok(args!["BGREWRITEAOF"]);
        let start = Instant::now();
        while manifest_files(&aofdir)
            .iter()
            .filter(|f| f.1 == 'i')
            .count()
            < 2
        {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no second incr file"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let files = manifest_files(&aofdir);
    let last = files.last().expect("manifest lists files").0.clone();
    assert_eq!(
        files.last().map(|f| f.1),
        Some('i'),
        "last manifest entry is an incr file: {files:?}"
    );
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);

    let mut reader = server.client();
    let mut sizes = vec![size(&aofdir.join(&last))];
    let mut snapshots = vec![read_keyspace(&mut reader, false)];
    for i in 0..steps {
        // A new second now and then: a new #TS annotation when timestamps are on.
        if i % 50 == 49 {
            std::thread::sleep(Duration::from_millis(1010));
        }
        step(&mut c, rng);
        sizes.push(size(&aofdir.join(&last)));
        snapshots.push(read_keyspace(&mut reader, false));
    }
    let now_last = manifest_files(&aofdir).last().map(|f| f.0.clone());
    assert_eq!(
        now_last.as_deref(),
        Some(last.as_str()),
        "the last incr file changed during the run"
    );
    drop(reader);
    drop(c);
    server.shutdown();

    let orig = tmp.join("orig");
    copy_dir(&aofdir, &orig);
    let final_size = size(&orig.join(&last));
    assert_eq!(
        Some(&final_size),
        sizes.last(),
        "the last incr file grew after the last step"
    );
    Run {
        orig,
        last,
        sizes,
        snapshots,
    }
}

/// The cut offsets: random ones, plus inside a MULTI block, right after a MULTI, on a command
/// boundary, inside an annotation, the last byte, and 0.
fn pick_cuts(rng: &mut Rng, recs: &[Rec], len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = (0..6).map(|_| rng.below(len as u64) as usize).collect();
    let multis: Vec<&Rec> = recs
        .iter()
        .filter(|r| {
            r.args
                .as_ref()
                .is_some_and(|a| a[0].eq_ignore_ascii_case(b"multi"))
        })
        .collect();
    if !multis.is_empty() {
        let m = multis[rng.below(multis.len() as u64) as usize];
        cuts.push(m.end); // right after MULTI
        cuts.push(m.end + 3); // inside the first queued command
        let exec = recs.iter().find(|r| {
            r.start > m.start
                && r.args
                    .as_ref()
                    .is_some_and(|a| a[0].eq_ignore_ascii_case(b"exec"))
        });
        if let Some(e) = exec {
            cuts.push(e.start); // everything but EXEC
            cuts.push(e.end - 1); // EXEC without its last LF
        }
    }
    if let Some(a) = recs.iter().find(|r| r.args.is_none() && r.start > 0) {
        cuts.push(a.start + 3); // a torn #TS line
    }
    let boundary = &recs[rng.below(recs.len() as u64) as usize];
    cuts.push(boundary.start);
    cuts.push(len - 1);
    cuts.push(0);
    cuts.sort_unstable();
    cuts.dedup();
    cuts.retain(|&c| c < len);
    cuts
}

/// Redis 7.0 logs XREADGROUP as `XCLAIM ... LASTID id` without ENTRIESREAD, so a server that
/// replays the AOF loses a group's entries_read (null instead of N): not part of the data set.
fn without_entries_read(recs: &[KeyRec]) -> Vec<KeyRec> {
    let mut v = recs.to_vec();
    for r in &mut v {
        if let Value::Stream(s) = &mut r.value {
            for g in &mut s.groups {
                g.entries_read = None;
            }
        }
    }
    v
}

fn check_cut(
    server_bin: &Path,
    check_aof: Option<&Path>,
    tmp: &TempDir,
    run: &Run,
    recs: &[Rec],
    cut: usize,
    extra: &[&str],
) {
    let orig_last = std::fs::read(run.orig.join(&run.last)).expect("read last incr");
    let expected_off = model_fix_offset(recs, cut);
    let ctx = format!(
        "cut at {cut} of {} ({} bytes), expected fix offset {expected_off}",
        run.last,
        orig_last.len()
    );

    let case = tmp.join(format!("cut-{cut}"));
    let dir = case.join("appendonlydir");
    copy_dir(&run.orig, &dir);
    let last_path = dir.join(&run.last);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last_path)
        .and_then(|f| f.set_len(cut as u64))
        .expect("cut the file");

    // The real tool first, on its own copy.
    if let Some(tool) = check_aof {
        let rdir = tmp.join(format!("cut-{cut}-redis")).join("appendonlydir");
        copy_dir(&dir, &rdir);
        let o = run_with_timeout(
            std::process::Command::new(tool)
                .arg("--fix")
                .arg(rdir.join("appendonly.aof.manifest"))
                .env("TZ", "UTC")
                .env("LANG", "C"),
            Some(b"y\n"),
            Duration::from_secs(60),
        );
        let len = std::fs::metadata(rdir.join(&run.last))
            .map(|m| m.len())
            .unwrap_or(u64::MAX);
        assert!(
            o.status.success(),
            "{ctx}: redis-check-aof --fix failed:\n{}",
            out_text(&o)
        );
        assert_eq!(
            len as usize,
            expected_off,
            "{ctx}: redis-check-aof --fix disagrees with the model:\n{}",
            out_text(&o)
        );
    }

    // rdbkit aof fix.
    let o = run_rdbkit([
        std::ffi::OsStr::new("aof"),
        "fix".as_ref(),
        dir.as_os_str(),
        "--yes".as_ref(),
    ]);
    assert!(
        o.status.success(),
        "{ctx}: `rdbkit aof fix {} --yes` failed:\n{}",
        dir.display(),
        out_text(&o)
    );
    let fixed = std::fs::read(&last_path).expect("read repaired file");
    assert_eq!(
        fixed.len(),
        expected_off,
        "{ctx}: `rdbkit aof fix` left {} bytes:\n{}",
        fixed.len(),
        out_text(&o)
    );
    assert!(
        orig_last.starts_with(&fixed),
        "{ctx}: the repaired file is not a byte prefix of the original"
    );
    for e in std::fs::read_dir(&run.orig).expect("read_dir") {
        let e = e.expect("entry");
        if e.file_name().to_string_lossy() != run.last {
            let a = std::fs::read(e.path()).expect("read");
            let b = std::fs::read(dir.join(e.file_name())).expect("read");
            assert!(
                a == b,
                "{ctx}: `rdbkit aof fix` changed {}",
                e.file_name().to_string_lossy()
            );
        }
    }

    // rdbkit aof check: valid now.
    let o = run_rdbkit([
        std::ffi::OsStr::new("aof"),
        "check".as_ref(),
        dir.as_os_str(),
    ]);
    assert!(
        o.status.success(),
        "{ctx}: `rdbkit aof check` after the fix:\n{}",
        out_text(&o)
    );

    // rdbkit aof dump: the last file's commands are exactly the kept ones, at their offsets.
    let o = run_rdbkit([
        std::ffi::OsStr::new("aof"),
        "dump".as_ref(),
        dir.as_os_str(),
    ]);
    assert!(
        o.status.success(),
        "{ctx}: `rdbkit aof dump`:\n{}",
        out_text(&o)
    );
    let mut dumped = Vec::new();
    let mut total = 0usize;
    for (n, line) in String::from_utf8_lossy(&o.stdout).lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        total += 1;
        let j = parse_json(line)
            .unwrap_or_else(|e| panic!("{ctx}: aof dump line {}: {e}: {line}", n + 1));
        let file = match j.get("file") {
            Some(Json::Str(s)) => s.clone(),
            other => panic!(
                "{ctx}: aof dump line {}: no \"file\" string: {other:?}",
                n + 1
            ),
        };
        if !(file == run.last || file.ends_with(&format!("/{}", run.last))) {
            continue;
        }
        let offset = match j.get("offset") {
            Some(Json::Num(s)) => s
                .parse::<usize>()
                .unwrap_or_else(|_| panic!("{ctx}: bad offset {s}")),
            other => panic!("{ctx}: aof dump line {}: no \"offset\": {other:?}", n + 1),
        };
        let args: Vec<Vec<u8>> = match j.get("args") {
            Some(Json::Arr(a)) => a
                .iter()
                .map(|x| json_bytes(x).unwrap_or_else(|e| panic!("{ctx}: {e}")))
                .collect(),
            other => panic!(
                "{ctx}: aof dump line {}: no \"args\" array: {other:?}",
                n + 1
            ),
        };
        dumped.push((offset, args));
    }
    let kept: Vec<(usize, Vec<Vec<u8>>)> = recs
        .iter()
        .filter(|r| r.end <= expected_off)
        .filter_map(|r| r.args.clone().map(|a| (r.start, a)))
        .collect();
    if dumped != kept {
        let i = dumped
            .iter()
            .zip(&kept)
            .position(|(a, b)| a != b)
            .unwrap_or(dumped.len().min(kept.len()));
        panic!(
            "{ctx}: `rdbkit aof dump` lists {} commands of {} (of {total}), expected {}; first difference at #{i}: {:?} vs expected {:?}",
            dumped.len(),
            run.last,
            kept.len(),
            dumped.get(i).map(|(o, a)| (o, show_cmd(a))),
            kept.get(i).map(|(o, a)| (o, show_cmd(a)))
        );
    }
    assert!(total >= kept.len(), "{ctx}: dump count");

    // A server started on the repaired directory holds the data after the last kept step.
    let k = run
        .sizes
        .iter()
        .rposition(|&s| s as usize <= expected_off)
        .expect("a step boundary at or before the fix offset");
    let mut a = vec!["--appendonly", "yes", "--appenddirname", "appendonlydir"];
    a.extend_from_slice(extra);
    let server = Server::start(server_bin, &case, &a);
    let mut c = server.client();
    let got = read_keyspace(&mut c, false);
    eprintln!(
        "  {ctx}: kept {} of {} records, the state after step {k} ({} keys)",
        recs.iter().filter(|r| r.end <= expected_off).count(),
        recs.len(),
        got.len()
    );
    assert_same_keyspace(
        &format!("{ctx}: server on the repaired AOF vs the state after step {k}"),
        &without_entries_read(&run.snapshots[k]),
        &without_entries_read(&got),
        false,
    );
    drop(c);
    server.shutdown();
}

fn live_aof(tag: &'static str, extra: &[&str]) {
    let Some(server_bin) = require_tool("redis-server") else {
        return;
    };
    let check_aof = require_tool("redis-check-aof");
    if check_aof.is_none() {
        return;
    }
    let seed = seed_from_env();
    let _guard = SeedGuard { test: tag, seed };
    eprintln!("{tag} seed = {seed}");
    let mut rng = Rng::new(seed);
    let tmp = TempDir::new(tag);
    let run = record_run(&server_bin, &tmp, &mut rng, extra, 150);
    let data = std::fs::read(run.orig.join(&run.last)).expect("read last incr");
    let recs = parse_aof(&data);
    assert!(
        recs.last().is_none_or(|r| r.end == data.len()),
        "the last incr file ends with a whole record"
    );
    // Every step ends on a record boundary (the model of the data rests on it).
    for (i, &s) in run.sizes.iter().enumerate() {
        assert!(
            s == 0 || recs.iter().any(|r| r.end as u64 == s),
            "seed {seed}: step {i} ends at {s}, not a record boundary"
        );
    }
    let mut cuts = pick_cuts(&mut rng, &recs, data.len());
    // Cuts before the first recorded step would remove data no snapshot describes.
    cuts.retain(|&c| c as u64 >= run.sizes[0]);
    eprintln!(
        "{tag}: {} records in {} ({} bytes); cuts at {cuts:?}",
        recs.len(),
        run.last,
        data.len()
    );
    for cut in cuts {
        check_cut(
            &server_bin,
            check_aof.as_deref(),
            &tmp,
            &run,
            &recs,
            cut,
            extra,
        );
    }
}

#[test]
fn live_aof_fix_rdb_preamble() {
    live_aof(
        "live_aof_fix_rdb_preamble",
        &["--aof-use-rdb-preamble", "yes"],
    );
}

#[test]
fn live_aof_fix_resp_base_with_timestamps() {
    live_aof(
        "live_aof_fix_resp_base_with_timestamps",
        &[
            "--aof-use-rdb-preamble",
            "no",
            "--aof-timestamp-enabled",
            "yes",
        ],
    );
}

#[test]
fn model_of_the_fix_offset() {
    // *1 MULTI, *1 SET-like, *1 EXEC, then a #TS line.
    let data = b"*1\r\n$5\r\nMULTI\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$4\r\nEXEC\r\n#TS:1\r\n*1\r\n$4\r\nPING\r\n";
    let recs = parse_aof(data);
    assert_eq!(recs.len(), 5);
    let multi_end = recs[0].end;
    assert_eq!(model_fix_offset(&recs, 0), 0);
    assert_eq!(model_fix_offset(&recs, 3), 0);
    assert_eq!(model_fix_offset(&recs, multi_end), 0, "open MULTI");
    assert_eq!(model_fix_offset(&recs, recs[2].end - 1), 0, "EXEC torn");
    assert_eq!(model_fix_offset(&recs, recs[2].end), recs[2].end);
    assert_eq!(
        model_fix_offset(&recs, recs[3].start + 2),
        recs[3].start + 2,
        "a torn # line is accepted"
    );
    assert_eq!(model_fix_offset(&recs, recs[4].start + 5), recs[4].start);
    assert_eq!(model_fix_offset(&recs, data.len()), data.len());
}

/// The bundled torn fixture (testdata/make-fixtures.sh): rdbkit cuts where the real tool did.
#[test]
fn torn_fixture_fix_matches_redis_check_aof() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/aof");
    let verdict = std::fs::read_to_string(root.join("torn.redis-check-aof.txt"))
        .expect("testdata/aof/torn.redis-check-aof.txt");
    // "# sizes after --fix" is followed by "<file> <size>" lines.
    let sizes: Vec<(String, usize)> = verdict
        .split("# sizes after --fix")
        .nth(1)
        .expect("sizes section")
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.parse().ok()?))
        })
        .collect();
    assert!(!sizes.is_empty());
    let tmp = TempDir::new("torn-fixture");
    let dir = tmp.join("appendonlydir");
    copy_dir(&root.join("torn/appendonlydir"), &dir);
    let o = run_rdbkit([
        std::ffi::OsStr::new("aof"),
        "check".as_ref(),
        dir.as_os_str(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "`rdbkit aof check` on the torn fixture:\n{}",
        out_text(&o)
    );
    let o = run_rdbkit([
        std::ffi::OsStr::new("aof"),
        "fix".as_ref(),
        dir.as_os_str(),
        "--yes".as_ref(),
    ]);
    assert!(
        o.status.success(),
        "`rdbkit aof fix --yes` on the torn fixture:\n{}",
        out_text(&o)
    );
    for (name, size) in sizes {
        let got = std::fs::metadata(dir.join(&name))
            .map(|m| m.len() as usize)
            .unwrap_or(usize::MAX);
        assert_eq!(
            got, size,
            "{name} after the fix (redis-check-aof left {size})"
        );
    }
    let o = run_rdbkit([
        std::ffi::OsStr::new("aof"),
        "check".as_ref(),
        dir.as_os_str(),
    ]);
    assert!(
        o.status.success(),
        "`rdbkit aof check` after the fix:\n{}",
        out_text(&o)
    );
}

/// `rdbkit aof dump` output: `(file, offset, args)` per command.
fn aof_dump(dir: &Path) -> Vec<(String, usize, Vec<Vec<u8>>)> {
    let o = run_rdbkit([
        std::ffi::OsStr::new("aof"),
        "dump".as_ref(),
        dir.as_os_str(),
    ]);
    assert!(
        o.status.success(),
        "`rdbkit aof dump {}`:\n{}",
        dir.display(),
        out_text(&o)
    );
    let mut v = Vec::new();
    for (n, line) in String::from_utf8_lossy(&o.stdout).lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let j = parse_json(line).unwrap_or_else(|e| panic!("aof dump line {}: {e}: {line}", n + 1));
        let file = match j.get("file") {
            Some(Json::Str(s)) => s.rsplit('/').next().unwrap_or(s).to_string(),
            other => panic!("aof dump line {}: no \"file\": {other:?}", n + 1),
        };
        let offset = match j.get("offset") {
            Some(Json::Num(s)) => s.parse().unwrap_or_else(|_| panic!("bad offset {s}")),
            other => panic!("aof dump line {}: no \"offset\": {other:?}", n + 1),
        };
        let args = match j.get("args") {
            Some(Json::Arr(a)) => a
                .iter()
                .map(|x| json_bytes(x).unwrap_or_else(|e| panic!("{e}")))
                .collect(),
            other => panic!("aof dump line {}: no \"args\": {other:?}", n + 1),
        };
        v.push((file, offset, args));
    }
    v
}

/// The bundled clean AOF fixtures: valid, and `rdbkit aof dump` lists every command of every
/// RESP part (base .aof and incr files, in manifest order) exactly as an independent reader does.
#[test]
fn clean_aof_fixtures_check_and_dump() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/aof");
    for sub in ["appendonlydir", "ts/appendonlydir"] {
        let dir = root.join(sub);
        let o = run_rdbkit([
            std::ffi::OsStr::new("aof"),
            "check".as_ref(),
            dir.as_os_str(),
        ]);
        assert!(
            o.status.success(),
            "`rdbkit aof check {}`:\n{}",
            dir.display(),
            out_text(&o)
        );
        let mut expected = Vec::new();
        for (name, _) in manifest_files(&dir) {
            let data = std::fs::read(dir.join(&name)).expect("read AOF part");
            if data.starts_with(b"REDIS") {
                continue; // an RDB base: no commands
            }
            for r in parse_aof(&data) {
                if let Some(a) = r.args {
                    expected.push((name.clone(), r.start, a));
                }
            }
        }
        let got = aof_dump(&dir);
        if got != expected {
            let i = got
                .iter()
                .zip(&expected)
                .position(|(a, b)| a != b)
                .unwrap_or(got.len().min(expected.len()));
            let fmt = |c: Option<&(String, usize, Vec<Vec<u8>>)>| {
                c.map(|(f, o, a)| format!("{f}@{o}: {}", show_cmd(a)))
            };
            panic!(
                "{sub}: `rdbkit aof dump` lists {} commands, expected {}; first difference at #{i}: {:?} vs expected {:?}",
                got.len(),
                expected.len(),
                fmt(got.get(i)),
                fmt(expected.get(i))
            );
        }
    }
}
