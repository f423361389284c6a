//! Input kinds (issues 10.3, 11.6, 16, 18): pipes and FIFOs are read exactly once as streams by
//! every subcommand; zstd/bzip2/xz/gzip single files and tar archives (GNU `tar`, Python's
//! `tarfile` in odd orders) of a directory a real `redis-server` 7.0 wrote with `appendonly
//! yes` give the same verdicts and keys as the unpacked files; truncated and empty compressed
//! files are damaged; damage inside an archive names the member; hostile archives are refused
//! without writing outside rdbkit's private temporary directory.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

fn testdata(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(p)
}

fn rdbkit(args: &[&str]) -> Output {
    rdbkit_env(args, &[])
}

fn rdbkit_env(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(rdbkit_bin());
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    run_with_timeout(&mut c, None, Duration::from_secs(60))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs rdbkit with `data` on its standard input.
fn rdbkit_stdin(args: &[&str], data: &[u8]) -> Output {
    run_with_timeout(
        Command::new(rdbkit_bin()).args(args),
        Some(data),
        Duration::from_secs(60),
    )
}

#[test]
fn fifos_and_pipes_are_read_once_by_every_subcommand() {
    let t = TempDir::new("inputs-fifo");
    let rdb = testdata("rdb/sample.rdb");
    let rdb_bytes = std::fs::read(&rdb).unwrap();
    for cmd in [
        vec!["check"],
        vec!["info"],
        vec!["keys", "--long"],
        vec!["size"],
        vec!["dump", "--format", "jsonl"],
    ] {
        let on_file = rdbkit(&[cmd.as_slice(), &[s(&rdb)]].concat());
        assert_eq!(
            on_file.status.code(),
            Some(0),
            "{cmd:?}: {}",
            stderr(&on_file)
        );
        let f = t.join(format!("fifo-{}", cmd[0]));
        fifo(&f, rdb_bytes.clone());
        let on_fifo = rdbkit(&[cmd.as_slice(), &[s(&f)]].concat());
        assert_eq!(
            on_fifo.status.code(),
            Some(0),
            "{cmd:?} on a FIFO: {}",
            stderr(&on_fifo)
        );
        let norm = |o: &Output, p: &Path| stdout(o).replace(s(p), "FILE");
        // The same answer (check's summary has no size line for a stream's trailing bytes).
        if cmd[0] != "info" && cmd[0] != "size" {
            assert_eq!(norm(&on_file, &rdb), norm(&on_fifo, &f), "{cmd:?}");
        }
        // /dev/stdin (a pipe) and `-`.
        let on_stdin = rdbkit_stdin(&[cmd.as_slice(), &["/dev/stdin"]].concat(), &rdb_bytes);
        assert_eq!(
            on_stdin.status.code(),
            Some(0),
            "{cmd:?} /dev/stdin: {}",
            stderr(&on_stdin)
        );
        if cmd[0] == "keys" || cmd[0] == "dump" {
            assert_eq!(stdout(&on_file), stdout(&on_stdin), "{cmd:?}");
        }
    }
    // diff: two FIFOs of different data sets differ; the same data in a FIFO and a file is equal.
    let aof_dir = testdata("aof/appendonlydir");
    let (a, b) = (t.join("diff-a"), t.join("diff-b"));
    fifo(&a, rdb_bytes.clone());
    let other = std::fs::read(testdata("rdb/redis-8.10-types.rdb")).unwrap();
    fifo(&b, other);
    let d = rdbkit(&["diff", "-q", s(&a), s(&b)]);
    assert_eq!(
        d.status.code(),
        Some(1),
        "two different pipes differ: {}",
        stderr(&d)
    );
    assert!(stdout(&d).lines().count() > 10, "{}", stdout(&d));
    let c = t.join("diff-c");
    fifo(&c, rdb_bytes.clone());
    let d = rdbkit(&["diff", "-q", s(&c), s(&rdb)]);
    assert_eq!(
        d.status.code(),
        Some(0),
        "a pipe of the same file: {}",
        stdout(&d)
    );
    // An empty pipe is not an empty data set.
    let e = t.join("diff-empty");
    fifo(&e, Vec::new());
    let d = rdbkit(&["diff", "-q", s(&rdb), s(&e)]);
    assert_eq!(d.status.code(), Some(2), "an empty pipe: {}", stdout(&d));
    assert!(stderr(&d).contains("empty"), "{}", stderr(&d));
    let _ = aof_dir;
    // aof check on `-`, /dev/stdin and a FIFO: a torn AOF is not valid (exit 1), a good one is.
    let torn = std::fs::read(testdata("aof/torn/appendonlydir/appendonly.aof.3.incr.aof")).unwrap();
    let good = std::fs::read(testdata("aof/appendonlydir/appendonly.aof.3.incr.aof")).unwrap();
    for arg in ["-", "/dev/stdin"] {
        let o = rdbkit_stdin(&["aof", "check", arg], &torn);
        assert_eq!(
            o.status.code(),
            Some(1),
            "aof check {arg} (torn): {}",
            stdout(&o)
        );
        assert!(stdout(&o).contains("NOT valid"), "{}", stdout(&o));
        let o = rdbkit_stdin(&["aof", "check", arg], &good);
        assert_eq!(
            o.status.code(),
            Some(0),
            "aof check {arg} (good): {}",
            stdout(&o)
        );
    }
    let f = t.join("fifo-aof-dump");
    fifo(&f, good.clone());
    let o = rdbkit(&["aof", "dump", s(&f)]);
    assert_eq!(o.status.code(), Some(0), "aof dump FIFO: {}", stderr(&o));
    let on_file = rdbkit_stdin(&["aof", "dump", "-"], &good);
    assert_eq!(stdout(&o).lines().count(), stdout(&on_file).lines().count());
    assert!(stdout(&o).lines().count() > 3, "{}", stdout(&o));
    let f = t.join("fifo-aof");
    fifo(&f, torn.clone());
    let o = rdbkit(&["aof", "check", s(&f)]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        !stdout(&o).contains("rdbkit-stream-"),
        "no temp name: {}",
        stdout(&o)
    );
    // check and verify on a FIFO holding a torn AOF: damaged.
    let f = t.join("fifo-check-aof");
    fifo(&f, torn.clone());
    assert_eq!(rdbkit(&["check", s(&f)]).status.code(), Some(2));
    let f = t.join("fifo-verify");
    fifo(&f, torn);
    let o = rdbkit(&["verify", s(&f)]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let f = t.join("fifo-verify-good");
    fifo(&f, rdb_bytes);
    let o = rdbkit(&["verify", s(&f)]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("71 keys"), "{}", stdout(&o));
}

/// `tool ARGS < in > out`.
fn compress(tool: &Path, args: &[&str], data: &[u8]) -> Vec<u8> {
    let o = run_with_timeout(
        Command::new(tool).args(args),
        Some(data),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{tool:?} {args:?}");
    o.stdout
}

#[test]
fn compressed_files_by_content_and_truncated_or_empty_ones_are_damaged() {
    let t = TempDir::new("inputs-codecs");
    let rdb = std::fs::read(testdata("rdb/sample.rdb")).unwrap();
    let good_aof = std::fs::read(testdata("aof/appendonlydir/appendonly.aof.3.incr.aof")).unwrap();
    let keys_plain = stdout(&rdbkit(&["keys", "--long", s(&testdata("rdb/sample.rdb"))]));
    for (tool, args) in [
        ("gzip", vec!["-c"]),
        ("zstd", vec!["-q", "-c"]),
        ("bzip2", vec!["-c"]),
        ("xz", vec!["-c"]),
    ] {
        let Some(bin) = require_tool(tool) else {
            continue;
        };
        // Names say nothing: the content decides.
        let z = compress(&bin, &args, &rdb);
        let p = t.join(format!("{tool}-backup.bin"));
        std::fs::write(&p, &z).unwrap();
        let o = rdbkit(&["check", "-q", s(&p)]);
        assert_eq!(o.status.code(), Some(0), "{tool}: {}", stderr(&o));
        assert_eq!(
            stdout(&rdbkit(&["keys", "--long", s(&p)])),
            keys_plain,
            "{tool}"
        );
        let o = rdbkit(&["verify", s(&p)]);
        assert_eq!(o.status.code(), Some(0), "{tool}: {}", stdout(&o));
        // Cut short, even only in the trailer: damaged, naming the compressor.
        for cut in [3usize, z.len() / 2] {
            let p = t.join(format!("{tool}-cut{cut}.bin"));
            std::fs::write(&p, &z[..z.len() - cut]).unwrap();
            let o = rdbkit(&["check", "-q", s(&p)]);
            assert_eq!(o.status.code(), Some(2), "{tool} cut {cut}: {}", stderr(&o));
            assert!(
                stderr(&o).contains(&format!("{tool} stream")),
                "{}",
                stderr(&o)
            );
            let o = rdbkit(&["verify", s(&p)]);
            assert_eq!(o.status.code(), Some(2), "{tool} cut {cut}: {}", stdout(&o));
            assert!(
                stdout(&o).contains(&format!("{tool} stream")),
                "{}",
                stdout(&o)
            );
        }
        // An AOF compressed: valid; its truncated copy: damaged whatever it decompresses to.
        let z = compress(&bin, &args, &good_aof);
        let p = t.join(format!("appendonly-{tool}.aof.x"));
        std::fs::write(&p, &z).unwrap();
        let o = rdbkit(&["verify", s(&p)]);
        assert_eq!(o.status.code(), Some(0), "{tool} aof: {}", stdout(&o));
        std::fs::write(&p, &z[..z.len() - 2]).unwrap();
        let o = rdbkit(&["verify", s(&p)]);
        assert_eq!(o.status.code(), Some(2), "{tool} aof cut: {}", stdout(&o));
    }
    // A 0-byte "appendonly-….aof.gz" is not an empty AOF.
    let p = t.join("appendonly-20250125-020000.aof.gz");
    std::fs::write(&p, b"").unwrap();
    let o = rdbkit(&["verify", s(&p)]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stdout(&o).contains("empty file"), "{}", stdout(&o));
}

/// A data directory written by a real redis-server 7.0 with `appendonly yes`: an RDB
/// (`SAVE`), an `appendonlydir/` with a base and incr files, several types and dbs.
fn live_data_dir(t: &TempDir) -> Option<PathBuf> {
    let bin = ServerKind::Redis70.require()?;
    let dir = t.join("data");
    let srv = Server::start(&bin, &dir, &["--appendonly", "yes"]);
    let mut c = srv.client();
    for i in 0..200 {
        c.cmd(args!["SET", format!("k{i}"), format!("v{i}")]);
    }
    c.cmd(args!["RPUSH", "list", "a", "b", "c"]);
    c.cmd(args!["HSET", "h", "f", "v"]);
    c.cmd(args!["SELECT", 3]);
    c.cmd(args!["SADD", "s", "x", "y"]);
    c.cmd(args!["SAVE"]);
    c.cmd(args!["BGREWRITEAOF"]);
    for _ in 0..500 {
        let info = c.cmd(args!["INFO", "persistence"]).text();
        if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for i in 0..50 {
        c.cmd(args!["ZADD", "z", i, format!("m{i}")]);
    }
    srv.shutdown();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        if e.file_name().to_string_lossy().ends_with(".log") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    Some(dir)
}

/// Python's tarfile, members in the given order (paths relative to `cwd`).
fn tar_python(out: &Path, cwd: &Path, members: &[&str]) {
    let list = members
        .iter()
        .map(|m| format!("{m:?}"))
        .collect::<Vec<_>>()
        .join(",");
    let code = format!(
        "import tarfile,os\nos.chdir({:?})\nwith tarfile.open({:?},'w') as t:\n    for m in [{list}]: t.add(m, recursive=False)\n",
        s(cwd),
        s(out)
    );
    let st = Command::new("python3")
        .args(["-c", &code])
        .status()
        .expect("python3");
    assert!(st.success(), "python tarfile");
}

/// Verify's JSON verdicts: (backup name, valid, total keys).
fn verdicts(paths: &[&Path], env: &[(&str, &Path)]) -> (Option<i32>, Vec<(String, bool, u64)>) {
    let mut args = vec!["verify", "--json"];
    args.extend(paths.iter().map(|p| s(p)));
    let o = rdbkit_env(&args, env);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("verify --json: {e}: {}", stdout(&o)));
    let list = j["backups"].as_array().cloned().unwrap_or_default();
    (
        o.status.code(),
        list.iter()
            .map(|b| {
                (
                    b["name"].as_str().unwrap_or_default().to_string(),
                    b["valid"].as_bool().unwrap_or(false),
                    b["total_keys"].as_u64().unwrap_or(0),
                )
            })
            .collect(),
    )
}

#[test]
fn archives_of_a_live_data_dir_in_every_compressor() {
    let t = TempDir::new("inputs-archives");
    let Some(data) = live_data_dir(&t) else {
        return;
    };
    let aofdir = data.join("appendonlydir");
    let mut names: Vec<String> = std::fs::read_dir(&aofdir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.iter().any(|n| n.ends_with(".manifest")), "{names:?}");
    // What verify says of the unpacked files.
    let (code, plain) = verdicts(&[&data.join("dump.rdb"), &aofdir], &[]);
    assert_eq!(code, Some(0), "{plain:?}");
    let rdb_keys = plain[0].2;
    let aof_keys = plain[1].2;
    assert_eq!(
        aof_keys,
        rdb_keys + 1,
        "the AOF has the zset written after SAVE"
    );
    let keys_dir = stdout(&rdbkit(&["keys", "--long", s(&aofdir)]));
    let mut keys_sorted: Vec<&str> = keys_dir.lines().collect();
    keys_sorted.sort();
    let out = t.join("archives");
    std::fs::create_dir_all(&out).unwrap();
    let mut archives: Vec<(PathBuf, bool)> = Vec::new(); // (archive, holds the RDB too)
    for (flag, ext, tool) in [
        ("", "tar", "tar"),
        ("-z", "tar.gz", "gzip"),
        ("--zstd", "tar.zst", "zstd"),
        ("-j", "tar.bz2", "bzip2"),
        ("-J", "tar.xz", "xz"),
    ] {
        if require_tool(tool).is_none() {
            continue;
        }
        let whole = out.join(format!("data.{ext}"));
        let only = out.join(format!("appendonlydir.{ext}"));
        let mut a = vec!["-c"];
        if !flag.is_empty() {
            a.push(flag);
        }
        tar_gnu(&[a.as_slice(), &["-f", s(&whole), "."]].concat(), &data);
        tar_gnu(
            &[a.as_slice(), &["-f", s(&only), "appendonlydir"]].concat(),
            &data,
        );
        archives.push((whole, true));
        archives.push((only, false));
    }
    // Python's tarfile, the manifest first, then the files in reverse order.
    let odd = out.join("odd-order.tar");
    let mut members = vec!["appendonlydir".to_string()];
    let mut files: Vec<String> = names.iter().map(|n| format!("appendonlydir/{n}")).collect();
    files.sort_by_key(|n| (!n.ends_with(".manifest"), std::cmp::Reverse(n.clone())));
    members.extend(files);
    members.push("dump.rdb".into());
    tar_python(
        &odd,
        &data,
        &members.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    archives.push((odd, true));
    let spill = t.join("spill");
    std::fs::create_dir_all(&spill).unwrap();
    let env = [("TMPDIR", spill.as_path())];
    for (a, both) in &archives {
        let (code, v) = verdicts(&[a], &env);
        assert_eq!(code, Some(0), "{}: {v:?}", a.display());
        let aof = v
            .iter()
            .find(|x| x.0.ends_with(":appendonlydir/"))
            .expect("the AOF");
        assert!(aof.1 && aof.2 == aof_keys, "{}: {v:?}", a.display());
        if *both {
            assert_eq!(v.len(), 2, "{v:?}");
            let r = v
                .iter()
                .find(|x| x.0.ends_with("dump.rdb"))
                .expect("the RDB");
            assert!(r.1 && r.2 == rdb_keys, "{v:?}");
        } else {
            assert_eq!(v.len(), 1, "{v:?}");
        }
        // The reading subcommands read the AOF (what appendonly yes loads).
        let o = rdbkit_env(&["keys", "--long", s(a)], &env);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let mut got: Vec<String> = stdout(&o).lines().map(String::from).collect();
        got.sort();
        assert_eq!(got, keys_sorted, "{}", a.display());
        if *both {
            assert!(stderr(&o).contains("appendonly yes"), "{}", stderr(&o));
        }
        let o = rdbkit_env(&["check", "-q", s(a)], &env);
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        // Piped: read once.
        let bytes = std::fs::read(a).unwrap();
        let o = run_with_timeout(
            Command::new(rdbkit_bin())
                .args(["verify", "/dev/stdin"])
                .env("TMPDIR", &spill),
            Some(&bytes),
            Duration::from_secs(60),
        );
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    }
    assert_eq!(
        std::fs::read_dir(&spill).unwrap().count(),
        0,
        "the private temporary directories are removed"
    );
    // verify reads the dump.rdb member in place (one pass), unpacks only the appendonlydir/.
    let o = rdbkit_env(&["verify", s(&out.join("data.tar"))], &env);
    let text = stdout(&o);
    assert!(text.contains("member dump.rdb (read in place"), "{text}");
    assert!(text.contains("member appendonlydir/ ("), "{text}");
    assert!(text.contains("appendonly yes"), "{text}");

    // Damaged copies: a byte of the last incr file flipped (member + offset named), the incr
    // file missing (the manifest names it), a truncated archive.
    let bad = t.join("bad");
    let incr = names
        .iter()
        .filter(|n| n.ends_with(".incr.aof"))
        .max()
        .unwrap()
        .clone();
    let copy = |to: &Path| {
        std::fs::create_dir_all(to.join("appendonlydir")).unwrap();
        for n in &names {
            std::fs::copy(aofdir.join(n), to.join("appendonlydir").join(n)).unwrap();
        }
    };
    copy(&bad.join("flip"));
    let f = bad.join("flip/appendonlydir").join(&incr);
    let mut b = std::fs::read(&f).unwrap();
    let at = b.iter().position(|&c| c == b'$').unwrap();
    b[at] = b'!';
    std::fs::write(&f, &b).unwrap();
    let flip = bad.join("flip.tar.gz");
    tar_gnu(&["-czf", s(&flip), "appendonlydir"], &bad.join("flip"));
    let o = rdbkit_env(&["verify", "--json", s(&flip)], &env);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let d = &j["backups"][0]["damage"];
    assert_eq!(
        d["file"].as_str(),
        Some(format!("appendonlydir/{incr}").as_str()),
        "{j}"
    );
    assert_eq!(d["offset"].as_u64(), Some(at as u64), "{j}");
    // The same verdict as on the unpacked directory.
    let (code, v) = verdicts(&[&bad.join("flip/appendonlydir")], &[]);
    assert_eq!((code, v[0].1), (Some(2), false));

    copy(&bad.join("missing"));
    std::fs::remove_file(bad.join("missing/appendonlydir").join(&incr)).unwrap();
    let missing = bad.join("missing.tar.zst");
    if require_tool("zstd").is_some() {
        tar_gnu(
            &["--zstd", "-cf", s(&missing), "appendonlydir"],
            &bad.join("missing"),
        );
        let o = rdbkit_env(&["verify", s(&missing)], &env);
        assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
        assert!(
            stdout(&o).contains(&incr),
            "names the missing member: {}",
            stdout(&o)
        );
        assert!(
            !stdout(&o).contains(s(&spill)),
            "no temp path: {}",
            stdout(&o)
        );
    }

    let whole = std::fs::read(out.join("data.tar")).unwrap();
    for cut in [whole.len() / 2, 700] {
        let p = bad.join(format!("cut{cut}.tar"));
        std::fs::write(&p, &whole[..cut]).unwrap();
        let o = rdbkit_env(&["verify", s(&p)], &env);
        assert_eq!(o.status.code(), Some(2), "cut at {cut}: {}", stdout(&o));
    }
    if let Ok(gz) = std::fs::read(out.join("data.tar.gz")) {
        let p = bad.join("cut.tar.gz");
        std::fs::write(&p, &gz[..gz.len() - 4]).unwrap();
        let o = rdbkit_env(&["verify", s(&p)], &env);
        assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
        assert!(stdout(&o).contains("gzip stream"), "{}", stdout(&o));
    }
    assert_eq!(std::fs::read_dir(&spill).unwrap().count(), 0);
}

#[test]
fn hostile_archives_are_refused_without_writing_outside() {
    let t = TempDir::new("inputs-hostile");
    let spill = t.join("tmp/spill");
    std::fs::create_dir_all(&spill).unwrap();
    let rdb = testdata("rdb/sample.rdb");
    let outside = t.join("tmp/escaped.rdb");
    let code = format!(
        r#"
import tarfile, io
rdb = open({rdb:?}, 'rb').read()
def add(path, name, data=None, **kw):
    with tarfile.open(path, 'w', format=tarfile.GNU_FORMAT) as t:
        ti = tarfile.TarInfo(name)
        for k, v in kw.items(): setattr(ti, k, v)
        if data is not None: ti.size = len(data)
        t.addfile(ti, io.BytesIO(data) if data is not None else None)
d = {dir:?}
add(d + '/dotdot.tar', '../escaped.rdb', rdb)
add(d + '/deep-dotdot.tar', 'appendonlydir/../../../escaped.rdb', rdb)
add(d + '/absolute.tar', {outside:?}, rdb)
add(d + '/symlink.tar', 'dump.rdb', type=tarfile.SYMTYPE, linkname={outside:?})
add(d + '/hardlink.tar', 'dump.rdb', type=tarfile.LNKTYPE, linkname='/etc/passwd')
add(d + '/device.tar', 'dump.rdb', type=tarfile.CHRTYPE, devmajor=1, devminor=3)
add(d + '/fifo.tar', 'dump.rdb', type=tarfile.FIFOTYPE)
add(d + '/sparse.tar', 'dump.rdb', rdb, type=tarfile.GNUTYPE_SPARSE)
# A huge member: its header claims 1 TiB, the archive stops after its first block.
ti = tarfile.TarInfo('dump.rdb'); ti.size = 1 << 40
open(d + '/huge.tar', 'wb').write(ti.tobuf(format=tarfile.GNU_FORMAT) + rdb[:512].ljust(512, b'\0'))
"#,
        rdb = s(&rdb),
        dir = s(t.path()),
        outside = s(&outside),
    );
    let st = Command::new("python3")
        .args(["-c", &code])
        .status()
        .expect("python3");
    assert!(st.success());
    let env = [("TMPDIR", spill.as_path())];
    for (name, why) in [
        ("dotdot.tar", "`..`"),
        ("deep-dotdot.tar", "`..`"),
        ("absolute.tar", "absolute path"),
        ("symlink.tar", "symbolic link"),
        ("hardlink.tar", "hard link"),
        ("device.tar", "device"),
        ("fifo.tar", "FIFO"),
        ("sparse.tar", "sparse"),
        ("huge.tar", "cap"),
    ] {
        let p = t.join(name);
        let o = rdbkit_env(&["verify", s(&p)], &env);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stdout(&o));
        // verify and check read a standalone RDB member in place (nothing written): the huge
        // one is then the truncated member it is (a command that unpacks refuses it by the cap).
        let why_read = if name == "huge.tar" { "truncated" } else { why };
        assert!(stdout(&o).contains(why_read), "{name}: {}", stdout(&o));
        let o = rdbkit_env(&["check", s(&p)], &env);
        assert_ne!(o.status.code(), Some(0), "{name}");
        assert!(stderr(&o).contains(why_read), "{name}: {}", stderr(&o));
        assert!(!outside.exists(), "{name} wrote outside");
        assert!(!t.join("escaped.rdb").exists(), "{name} wrote outside");
    }
    assert_eq!(
        std::fs::read_dir(&spill).unwrap().count(),
        0,
        "temp dirs removed"
    );
    // A cap set by the operator.
    let p = t.join("small.tar");
    tar_gnu(&["-cf", s(&p), "sample.rdb"], &testdata("rdb"));
    let small = t.join("tmp/small-cap");
    std::fs::create_dir_all(&small).unwrap();
    // `check` reads the lone RDB member in the archive's pass: the cap does not apply.
    let mut c = Command::new(rdbkit_bin());
    c.args(["check", "-q", s(&p)])
        .env("TMPDIR", &small)
        .env("RDBKIT_SPILL_LIMIT", "1K");
    let o = run_with_timeout(&mut c, None, Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing unpacked"), "{}", stderr(&o));
    // `info` of the archive through a pipe must unpack it first (it prints as it reads and
    // cannot know before the end that the RDB is the only backup): the cap refuses it.
    let mut c = Command::new(rdbkit_bin());
    c.args(["info", "-"])
        .env("TMPDIR", &small)
        .env("RDBKIT_SPILL_LIMIT", "1K");
    let tar = std::fs::read(&p).unwrap();
    let o = run_with_timeout(&mut c, Some(&tar), Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("RDBKIT_SPILL_LIMIT"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_dir(&small).unwrap().count(),
        0,
        "temp dir removed"
    );
    let o = rdbkit_env(&["check", "-q", s(&p)], &[("TMPDIR", small.as_path())]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// Damage inside an archive is located as on the unpacked file: the member, the byte offset in
/// it and the key (the corpus's damaged RDBs of Redis 7.4.1, archived as `dump.rdb`).
#[test]
fn damage_in_an_archived_rdb_names_member_offset_and_key() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    if !corpus.join("rdb").is_dir() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true but the shared corpus is missing at {}",
            corpus.display()
        );
        eprintln!(
            "SKIPPED: the shared corpus is missing at {}",
            corpus.display()
        );
        return;
    }
    let t = TempDir::new("inputs-rdb-damage");
    let damage = |p: &Path| -> serde_json::Value {
        let o = rdbkit(&["verify", "--json", s(p)]);
        assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        j["backups"][0]["damage"].clone()
    };
    for case in [
        "flipped_value_byte",
        "bad_length_prefix",
        "truncated_mid_key",
    ] {
        let dir = t.join(case);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(
            corpus.join(format!("rdb/7.4.1/corrupt/{case}.rdb")),
            dir.join("dump.rdb"),
        )
        .unwrap();
        let plain = damage(&dir.join("dump.rdb"));
        for flag in ["-cf", "-czf"] {
            let a = t.join(format!("{case}{flag}.tar"));
            tar_gnu(&[flag, s(&a), "dump.rdb"], &dir);
            let d = damage(&a);
            assert_eq!(d["file"].as_str(), Some("dump.rdb"), "{case}: {d}");
            assert_eq!(d["offset"], plain["offset"], "{case}: {d} vs {plain}");
            assert_eq!(d["reason"], plain["reason"], "{case}: {d} vs {plain}");
        }
        if case != "flipped_value_byte" {
            assert!(
                plain["reason"].as_str().unwrap().contains("key \""),
                "{plain}"
            );
        }
    }
}

/// An interrupt (SIGTERM, as Ctrl-C) while an archive is being unpacked still removes the
/// private temporary directory.
#[test]
fn an_interrupted_unpack_removes_its_temporary_directory() {
    let t = TempDir::new("inputs-interrupt");
    let spill = t.join("spill");
    std::fs::create_dir_all(&spill).unwrap();
    let a = t.join("aof.tar");
    tar_gnu(&["-cf", s(&a), "appendonlydir"], &testdata("aof"));
    let bytes = std::fs::read(&a).unwrap();
    let f = t.join("slow-fifo");
    let st = Command::new("mkfifo").arg(&f).status().expect("mkfifo");
    assert!(st.success());
    let fp = f.clone();
    let writer = std::thread::spawn(move || {
        if let Ok(mut w) = std::fs::OpenOptions::new().write(true).open(&fp) {
            // Half the archive, then a stall with the FIFO held open.
            let _ = std::io::Write::write_all(&mut w, &bytes[..bytes.len() / 2]);
            std::thread::sleep(Duration::from_secs(3));
        }
    });
    let mut child = Command::new(rdbkit_bin())
        .args(["verify", s(&f)])
        .env("TMPDIR", &spill)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while std::fs::read_dir(&spill).unwrap().count() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no temp dir appeared"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert_eq!(
        std::fs::read_dir(&spill).unwrap().count(),
        0,
        "the temporary directory is removed"
    );
    let _ = writer.join();
}

/// The parts of the `appendonlydir/` at `dir` in the manifest's load order (base, then incr
/// files as listed; history entries are not loaded), read from the manifest itself.
fn load_order(dir: &Path) -> (String, Vec<String>) {
    let manifest = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".manifest"))
        .expect("a manifest");
    let text = std::fs::read_to_string(dir.join(&manifest)).unwrap();
    let mut base = Vec::new();
    let mut incr = Vec::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let field = |k: &str| w.iter().position(|x| *x == k).and_then(|i| w.get(i + 1));
        match (field("file"), field("type")) {
            (Some(f), Some(&"b")) => base.push(f.to_string()),
            (Some(f), Some(&"i")) => incr.push(f.to_string()),
            _ => {}
        }
    }
    base.extend(incr);
    (manifest, base)
}

/// Issue 16: an archived `appendonlydir/` is read in one pass. Real appendonlydirs of the
/// corpus (Redis 7.0+, Valkey), archived by GNU `tar` with the members in a chosen order:
/// manifest first then the parts in load order (streamed: nothing unpacked), manifest last,
/// parts reversed (those parts, and only those, unpacked first), plain, gzip and zstd. `info`,
/// `keys`, `check` and `aof check` print what they print for the directory itself.
#[test]
fn archived_appendonlydirs_stream_in_manifest_order() {
    let Some(corpus) = corpus_dir() else {
        return;
    };
    require_tool("tar");
    let zstd = require_tool("zstd").is_some();
    let mut dirs: Vec<PathBuf> = Vec::new();
    let versions = rdbkit_testkit::sorted_subdirs(&corpus.join("aof"));
    for v in versions {
        for variant in ["mp-rdb", "mp-aof", "mp-ts"] {
            let d = v.join(variant).join("appendonlydir");
            if d.is_dir() {
                dirs.push(d);
            }
        }
    }
    assert!(dirs.len() >= 10, "corpus appendonlydirs: {dirs:?}");
    let t = TempDir::new("inputs-archive-stream");
    let spill = t.join("spill");
    std::fs::create_dir_all(&spill).unwrap();
    let env = [("TMPDIR", spill.as_path())];
    // The output for the directory, its name replaced.
    let norm = |text: &str, name: &str| text.replace(name, "@");
    let mut streamed_runs = 0;
    for (n, dir) in dirs.iter().enumerate() {
        let (manifest, parts) = load_order(dir);
        let parent = dir.parent().unwrap();
        let m = format!("appendonlydir/{manifest}");
        let ps: Vec<String> = parts.iter().map(|p| format!("appendonlydir/{p}")).collect();
        let mut rev = ps.clone();
        rev.reverse();
        let first: Vec<&str> = std::iter::once(m.as_str())
            .chain(ps.iter().map(String::as_str))
            .collect();
        let last: Vec<&str> = ps
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(m.as_str()))
            .collect();
        let reversed: Vec<&str> = std::iter::once(m.as_str())
            .chain(rev.iter().map(String::as_str))
            .collect();
        // (archive, tar flag, members, streamed without unpacking anything)
        let mut cases: Vec<(PathBuf, &str, &[&str], bool)> = vec![
            (t.join(format!("{n}-first.tar")), "", &first, true),
            (t.join(format!("{n}-last.tar")), "", &last, false),
            (
                t.join(format!("{n}-reversed.tar")),
                "",
                &reversed,
                parts.len() < 2,
            ),
            (t.join(format!("{n}-first.tar.gz")), "-z", &first, true),
        ];
        if zstd {
            cases.push((t.join(format!("{n}-first.tar.zst")), "--zstd", &first, true));
            cases.push((
                t.join(format!("{n}-reversed.tar.zst")),
                "--zstd",
                &reversed,
                parts.len() < 2,
            ));
        }
        let d = s(dir);
        let want: Vec<(Option<i32>, String)> = [
            vec!["info", "--now", "2026-01-01", d],
            vec!["keys", "--long", d],
            vec!["check", d],
            vec!["aof", "check", d],
        ]
        .iter()
        .map(|a| {
            let o = rdbkit(a);
            (o.status.code(), norm(&stdout(&o), d))
        })
        .collect();
        assert_eq!(want[2].0, Some(0), "{d}: {}", want[2].1);
        for (archive, flag, members, streams) in &cases {
            let mut args = vec!["--no-recursion", "-c"];
            if !flag.is_empty() {
                args.push(flag);
            }
            args.extend(["-f", s(archive)]);
            args.extend(members.iter().copied());
            tar_gnu(&args, parent);
            let a = s(archive);
            let name = format!("{a}:appendonlydir");
            for (i, cmd) in [
                vec!["info", "--now", "2026-01-01", a],
                vec!["keys", "--long", a],
                vec!["check", a],
                vec!["aof", "check", a],
            ]
            .iter()
            .enumerate()
            {
                let o = rdbkit_env(cmd, &env);
                let what = format!("{cmd:?} of {d} archived {members:?}");
                // `info` names the compression of the archive (`aof-dir (gzip)`), and the
                // input as `ARCHIVE:appendonlydir/`.
                let got = stdout(&o)
                    .replace(&format!("{name}/:"), "@:")
                    .replace(&format!("{name}/\n"), "@\n")
                    .replace(&name, "@")
                    .replace("aof-dir (gzip)", "aof-dir");
                assert_eq!((o.status.code(), got), want[i], "{what}: {}", stderr(&o));
                let err = stderr(&o);
                // `check` too: the AOF checker takes the parts as they come (rdbkit_aof::parts).
                if *streams {
                    assert!(
                        err.contains(&format!(
                            "{} part(s) read in one pass in manifest order; nothing unpacked",
                            parts.len()
                        )),
                        "{what}: {err}"
                    );
                    streamed_runs += 1;
                    // Nothing is written: a cap of one byte on unpacked bytes changes nothing.
                    let mut capped = vec!["--spill-limit", "1"];
                    capped.extend(cmd.iter().copied());
                    let c = rdbkit_env(&capped, &env);
                    assert_eq!(
                        (c.status.code(), stdout(&c)),
                        (o.status.code(), stdout(&o)),
                        "{what} --spill-limit 1: {}",
                        stderr(&c)
                    );
                } else {
                    assert!(
                        err.contains("unpacked to a private temporary directory first"),
                        "{what}: {err}"
                    );
                }
            }
        }
    }
    assert!(streamed_runs >= 30, "{streamed_runs} streamed runs");
    assert_eq!(
        std::fs::read_dir(&spill).unwrap().count(),
        0,
        "the private temporary directories are removed"
    );
}

/// A part missing from or cut short in an archive read as a stream is named, as for the
/// unpacked directory; other backups beside the `appendonlydir/` are reported.
#[test]
fn streamed_archive_damage_is_named() {
    let Some(corpus) = corpus_dir() else {
        return;
    };
    require_tool("tar");
    let dir = corpus.join("aof/7.0.15/mp-rdb/appendonlydir");
    let (manifest, parts) = load_order(&dir);
    let t = TempDir::new("inputs-archive-stream-damage");
    let spill = t.join("spill");
    std::fs::create_dir_all(&spill).unwrap();
    let env = [("TMPDIR", spill.as_path())];
    let parent = dir.parent().unwrap();
    let m = format!("appendonlydir/{manifest}");
    let ps: Vec<String> = parts.iter().map(|p| format!("appendonlydir/{p}")).collect();
    // The last incr file left out: named as the manifest names it.
    let missing = t.join("missing.tar");
    let mut args = vec!["--no-recursion", "-cf", s(&missing), m.as_str()];
    args.extend(ps[..ps.len() - 1].iter().map(String::as_str));
    tar_gnu(&args, parent);
    let o = rdbkit_env(&["keys", s(&missing)], &env);
    assert_ne!(o.status.code(), Some(0));
    let want = format!("{}:{}", s(&missing), ps[ps.len() - 1]);
    assert!(stderr(&o).contains(&want), "{want}: {}", stderr(&o));
    // Cut inside the base (the second member): the member and its size are named.
    let whole = t.join("whole.tar");
    let mut args = vec!["--no-recursion", "-cf", s(&whole), m.as_str()];
    args.extend(ps.iter().map(String::as_str));
    tar_gnu(&args, parent);
    let bytes = std::fs::read(&whole).unwrap();
    let cut = t.join("cut.tar");
    std::fs::write(&cut, &bytes[..512 * 3 + 100]).unwrap();
    let o = rdbkit_env(&["info", s(&cut)], &env);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains(&format!("member {} ", ps[0])) && stderr(&o).contains("truncated"),
        "{}",
        stderr(&o)
    );
    // A byte of the last incr file damaged: the same error as for the directory, the member
    // and offset named.
    let flip = t.join("flip");
    std::fs::create_dir_all(flip.join("appendonlydir")).unwrap();
    for f in std::iter::once(&manifest).chain(&parts) {
        std::fs::copy(dir.join(f), flip.join("appendonlydir").join(f)).unwrap();
    }
    let victim = flip.join("appendonlydir").join(&parts[parts.len() - 1]);
    let mut b = std::fs::read(&victim).unwrap();
    let at = b.iter().position(|&c| c == b'$').unwrap();
    b[at] = b'!';
    std::fs::write(&victim, &b).unwrap();
    let flipped = t.join("flip.tar");
    let mut args = vec!["--no-recursion", "-cf", s(&flipped), m.as_str()];
    args.extend(ps.iter().map(String::as_str));
    tar_gnu(&args, &flip);
    let on_dir = rdbkit(&["keys", s(&flip.join("appendonlydir"))]);
    let on_tar = rdbkit_env(&["keys", s(&flipped)], &env);
    assert_ne!(on_dir.status.code(), Some(0));
    assert_eq!(on_tar.status.code(), on_dir.status.code());
    assert_eq!(
        stderr(&on_tar).replace(&format!("{}:appendonlydir", s(&flipped)), "@"),
        stderr(&on_dir).replace(s(&flip.join("appendonlydir")), "@"),
    );
    assert!(
        stderr(&on_tar).contains(&ps[ps.len() - 1]),
        "{}",
        stderr(&on_tar)
    );

    // A dump.rdb after the appendonlydir/: the AOF is read (what appendonly yes loads), said.
    let data = t.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(testdata("rdb/sample.rdb"), data.join("dump.rdb")).unwrap();
    let both = t.join("both.tar");
    let mut args = vec![
        "--no-recursion",
        "-cf",
        s(&both),
        "-C",
        s(parent),
        m.as_str(),
    ];
    args.extend(ps.iter().map(String::as_str));
    args.extend(["-C", s(&data), "dump.rdb"]);
    tar_gnu(&args, parent);
    let o = rdbkit_env(&["keys", s(&both)], &env);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), stdout(&rdbkit(&["keys", s(&dir)])));
    assert!(stderr(&o).contains("appendonly yes"), "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing unpacked"), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(&spill).unwrap().count(), 0);
}
