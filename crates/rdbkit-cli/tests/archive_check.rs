//! Issue 16: `check` and `aof check` read an archived `appendonlydir/` in one pass, part by part
//! in manifest order (`rdbkit_aof::parts`), and say exactly what they say of the unpacked
//! directory: an `appendonlydir/` a real `redis-server` 7.0 wrote with `appendonly yes`
//! (a base RDB and incr files), good and damaged copies (a byte of the last incr file flipped,
//! a byte of the base RDB flipped, the last command cut, the last incr file missing, an extra
//! member the manifest does not name), archived by GNU `tar` with every compressor at hand, the
//! members in load order (read in one pass, nothing unpacked) and reversed (the early parts,
//! and only those, unpacked first); a truncated archive is damage naming the member.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

fn rdbkit_env(args: &[&str], tmp: &Path) -> Output {
    rdbkit_hold(args, tmp, None)
}

/// `rdbkit_env` with `RDBKIT_HOLD_RDB_PART` set: `Some(0)` checks an archive's RDB part as a
/// stream (`rdbkit_aof::stream::check_part_stream`), not held in memory.
fn rdbkit_hold(args: &[&str], tmp: &Path, hold: Option<u64>) -> Output {
    let mut c = Command::new(rdbkit_bin());
    c.args(args).env("TMPDIR", tmp);
    if let Some(h) = hold {
        c.env("RDBKIT_HOLD_RDB_PART", h.to_string());
    }
    run_with_timeout(&mut c, None, Duration::from_secs(120))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An `appendonlydir/` written by a real redis-server 7.0 (`appendonly yes`): a base RDB after
/// a rewrite, then an incr file with commands of several types and dbs, and a transaction.
fn live_appendonlydir(t: &TempDir) -> Option<PathBuf> {
    let bin = ServerKind::Redis70.require()?;
    let dir = t.join("data");
    let srv = Server::start(&bin, &dir, &["--appendonly", "yes"]);
    let mut c = srv.client();
    for i in 0..300 {
        c.cmd(args!["SET", format!("k{i}"), format!("v{i}")]);
    }
    c.cmd(args!["RPUSH", "list", "a", "b", "c"]);
    c.cmd(args!["BGREWRITEAOF"]);
    // Bounded wait on the real condition: the rewrite is over.
    let mut done = false;
    for _ in 0..1000 {
        let info = c.cmd(args!["INFO", "persistence"]).text();
        if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0") {
            done = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(done, "BGREWRITEAOF did not finish");
    c.cmd(args!["SELECT", 2]);
    for i in 0..40 {
        c.cmd(args!["ZADD", "z", i, format!("m{i}")]);
        c.cmd(args!["HSET", "h", format!("f{i}"), i]);
    }
    c.cmd(args!["MULTI"]);
    c.cmd(args!["SADD", "s", "x", "y"]);
    c.cmd(args!["INCR", "n"]);
    c.cmd(args!["EXEC"]);
    srv.shutdown();
    Some(dir.join("appendonlydir"))
}

/// The manifest and the parts in load order (base, then incr files as listed).
fn load_order(dir: &Path) -> (String, Vec<String>) {
    let manifest = "appendonly.aof.manifest".to_string();
    let text = std::fs::read_to_string(dir.join(&manifest)).expect("the manifest");
    let (mut base, mut incr) = (Vec::new(), Vec::new());
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

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn flip_at(f: &Path, at: usize, to: u8) {
    let mut b = std::fs::read(f).unwrap();
    assert_ne!(b[at], to, "{}: byte {at} is already {to:#04x}", f.display());
    b[at] = to;
    std::fs::write(f, &b).unwrap();
}

/// Inverts the byte at `at`: a change whatever the byte was (writing a fixed 0xff left a base
/// whose middle byte happened to be 0xff unchanged, and its verdict "ok").
fn invert_at(f: &Path, at: usize) {
    let b = std::fs::read(f).unwrap();
    flip_at(f, at, !b[at]);
}

#[test]
fn archived_appendonlydir_checks_like_the_directory_in_one_pass() {
    let t = TempDir::new("archive-check");
    let Some(aofdir) = live_appendonlydir(&t) else {
        return;
    };
    require_tool("tar");
    let (manifest, parts) = load_order(&aofdir);
    assert!(parts.len() >= 2, "a base and an incr file: {parts:?}");
    let base = parts[0].clone();
    let last = parts[parts.len() - 1].clone();
    assert!(base.ends_with(".base.rdb"), "{base}");

    // The copies: (name, expected exit of `aof check`).
    let copies = t.join("copies");
    let mut cases: Vec<(String, i32)> = Vec::new();
    let mk = |name: &str| {
        let d = copies.join(name).join("appendonlydir");
        copy_dir(&aofdir, &d);
        d
    };
    mk("good");
    cases.push(("good".into(), 0));
    let d = mk("flip-incr");
    let b = std::fs::read(d.join(&last)).unwrap();
    let at = b.iter().rposition(|&c| c == b'$').unwrap();
    flip_at(&d.join(&last), at, b'!');
    cases.push(("flip-incr".into(), 1));
    let d = mk("flip-base");
    let len = std::fs::metadata(d.join(&base)).unwrap().len() as usize;
    invert_at(&d.join(&base), len / 2);
    cases.push(("flip-base".into(), 1));
    let d = mk("cut");
    let b = std::fs::read(d.join(&last)).unwrap();
    std::fs::write(d.join(&last), &b[..b.len() - 5]).unwrap();
    cases.push(("cut".into(), 1));
    let d = mk("missing");
    std::fs::remove_file(d.join(&last)).unwrap();
    cases.push(("missing".into(), 1));
    let d = mk("extra");
    std::fs::write(d.join("appendonly.aof.99.incr.aof"), b"garbage, not named").unwrap();
    cases.push(("extra".into(), 0));

    let spill = t.join("spill");
    std::fs::create_dir_all(&spill).unwrap();
    let mut kinds: Vec<(&str, &str)> = vec![("", "tar"), ("-z", "tar.gz")];
    for (flag, ext, tool) in [
        ("--zstd", "tar.zst", "zstd"),
        ("-j", "tar.bz2", "bzip2"),
        ("-J", "tar.xz", "xz"),
    ] {
        if require_tool(tool).is_some() {
            kinds.push((flag, ext));
        }
    }
    let mut one_pass_runs = 0;
    for (case, code) in &cases {
        let parent = copies.join(case);
        let dir = parent.join("appendonlydir");
        let d = s(&dir);
        let present: Vec<String> = parts
            .iter()
            .filter(|p| dir.join(p).exists())
            .map(|p| format!("appendonlydir/{p}"))
            .collect();
        let mut in_order = vec![format!("appendonlydir/{manifest}")];
        in_order.extend(present.iter().cloned());
        if *case == "extra" {
            in_order.push("appendonlydir/appendonly.aof.99.incr.aof".into());
        }
        let mut reversed = in_order.clone();
        reversed[1..].reverse();
        let cmds: [&[&str]; 3] = [&["aof", "check"], &["aof", "check", "--json"], &["check"]];
        for cmd in cmds {
            let on_dir = rdbkit_env(&[cmd, &[d]].concat(), &spill);
            assert_eq!(
                on_dir.status.code(),
                Some(if cmd == ["check"] && *code != 0 {
                    2
                } else {
                    *code
                }),
                "{cmd:?} {case}: {}",
                text(&on_dir.stdout)
            );
            let want = text(&on_dir.stdout).replace(d, "@");
            for (flag, ext) in &kinds {
                for (order, members) in [("in-order", &in_order), ("reversed", &reversed)] {
                    let a = parent.join(format!("{order}.{ext}"));
                    if !a.exists() {
                        let mut args = vec!["--no-recursion", "-c"];
                        if !flag.is_empty() {
                            args.push(flag);
                        }
                        args.extend(["-f", s(&a)]);
                        args.extend(members.iter().map(String::as_str));
                        let st = Command::new("tar")
                            .args(&args)
                            .current_dir(&parent)
                            .status()
                            .expect("tar");
                        assert!(st.success(), "tar {args:?}");
                    }
                    // The base RDB held whole (the default), then read as a stream: the same.
                    let streamed = rdbkit_hold(&[cmd, &[s(&a)]].concat(), &spill, Some(0));
                    let o = rdbkit_env(&[cmd, &[s(&a)]].concat(), &spill);
                    let name = format!("{}:appendonlydir", s(&a));
                    let what = format!("{cmd:?} {case} {order}.{ext}");
                    for (how, o) in [("streamed", &streamed), ("held", &o)] {
                        let got = text(&o.stdout)
                            .replace(&format!("{name}/:"), "@:")
                            .replace(&name, "@");
                        assert_eq!(
                            (o.status.code(), got),
                            (on_dir.status.code(), want.clone()),
                            "{what} ({how}): {}",
                            text(&o.stderr)
                        );
                    }
                    assert_eq!(streamed.stderr, o.stderr, "{what}");
                    let err = text(&o.stderr);
                    // Read in one pass: only the parts the archive holds before the manifest or
                    // before a part that loads earlier are unpacked (a missing part ends the
                    // pass with its name instead).
                    if *case != "missing" {
                        let n = present.len();
                        let said = if order == "in-order" || n < 2 {
                            format!(
                                "{n} part(s) read in one pass in manifest order; nothing unpacked"
                            )
                        } else {
                            format!("{n} part(s) read in one pass: 1 streamed, {} ", n - 1)
                        };
                        assert!(err.contains(&said), "{what}: {err}");
                        one_pass_runs += 1;
                    }
                    assert!(!text(&o.stdout).contains(s(&spill)), "{what}: a temp path");
                }
            }
        }
    }
    assert!(one_pass_runs >= 30, "{one_pass_runs}");

    // A truncated archive: damage naming the member cut short (exit 2), for both commands.
    let whole = copies.join("good/in-order.tar");
    let bytes = std::fs::read(&whole).unwrap();
    let cut = t.join("cut.tar");
    let member = format!("appendonlydir/{last}");
    let header = bytes
        .windows(member.len())
        .position(|w| w == member.as_bytes())
        .expect("the last part's header");
    let size = std::fs::metadata(aofdir.join(&last)).unwrap().len() as usize;
    assert!(size > 2, "{last}: {size} bytes");
    std::fs::write(&cut, &bytes[..header + 512 + size / 2]).unwrap();
    for cmd in [&["aof", "check"][..], &["check"][..]] {
        let o = rdbkit_env(&[cmd, &[s(&cut)]].concat(), &spill);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{cmd:?}: {err}");
        assert!(
            err.contains(&format!("member appendonlydir/{last} ")) && err.contains("truncated"),
            "{cmd:?}: {err}"
        );
    }
    assert_eq!(
        std::fs::read_dir(&spill).unwrap().count(),
        0,
        "the private temporary directories are removed"
    );
}

/// `verify --json`'s verdicts, each with what differs between a backup and its archived copy
/// taken out: its name, notes, times, the archive's compression and the path forms (`dir` for the directory, `ARCHIVE:`
/// `appendonlydir` for the archive are both shown as `@`; `damage.file` names the member in an
/// archive, the file in a directory, nothing for the directory itself).
fn verify_view(o: &Output, names: &[&str]) -> (Option<i32>, Vec<String>) {
    let j: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("verify --json: {e}: {}", text(&o.stdout)));
    let list = j["backups"].as_array().cloned().unwrap_or_default();
    let view = list
        .into_iter()
        .map(|mut b| {
            let m = b.as_object_mut().unwrap();
            for k in [
                "name",
                "path",
                "notes",
                "seconds",
                "mtime",
                "save_time",
                "age_seconds",
                "series",
                "save_time_source",
                "gzip",
            ] {
                m.remove(k);
            }
            if let Some(d) = m.get_mut("damage").and_then(|d| d.as_object_mut()) {
                let f = d["file"].as_str().map(|f| f.replace("appendonlydir/", ""));
                d.insert("file".into(), f.filter(|f| !f.is_empty()).into());
            }
            let mut t = b.to_string();
            for n in names {
                t = t.replace(n, "@");
            }
            t
        })
        .collect();
    (o.status.code(), view)
}

/// `verify` of an archived `appendonlydir/` gives the verdicts of `verify` of the unpacked
/// directory — exit status, damage (file, offset, reason), key counts after the replay, the
/// commands, the checksum and the server's verdict — on the live copies (good, a flipped byte in
/// the last incr file, in the base RDB, the last command cut, the last incr file missing, a
/// member the manifest does not name), archived by GNU `tar` in load order and reversed, and by
/// Python's `tarfile` (manifest first, the parts reversed), with every compressor at hand. In
/// load order nothing is written: `TMPDIR` is a path that does not exist (any temporary file
/// would fail the run). A truncated archive is damage naming the member cut short.
#[test]
fn archived_appendonlydir_verifies_like_the_directory_in_one_pass() {
    let t = TempDir::new("archive-verify");
    let Some(aofdir) = live_appendonlydir(&t) else {
        return;
    };
    require_tool("tar");
    let python = require_tool("python3");
    let (manifest, parts) = load_order(&aofdir);
    let base = parts[0].clone();
    let last = parts[parts.len() - 1].clone();
    let copies = t.join("copies");
    let mk = |name: &str| {
        let d = copies.join(name).join("appendonlydir");
        copy_dir(&aofdir, &d);
        d
    };
    let mut cases = vec![("good", 0)];
    mk("good");
    let d = mk("flip-incr");
    let b = std::fs::read(d.join(&last)).unwrap();
    flip_at(
        &d.join(&last),
        b.iter().rposition(|&c| c == b'$').unwrap(),
        b'!',
    );
    cases.push(("flip-incr", 2));
    let d = mk("flip-base");
    let len = std::fs::metadata(d.join(&base)).unwrap().len() as usize;
    invert_at(&d.join(&base), len / 2);
    cases.push(("flip-base", 2));
    let d = mk("cut");
    let b = std::fs::read(d.join(&last)).unwrap();
    std::fs::write(d.join(&last), &b[..b.len() - 5]).unwrap();
    cases.push(("cut", 2));
    let d = mk("missing");
    std::fs::remove_file(d.join(&last)).unwrap();
    cases.push(("missing", 2));
    let d = mk("extra");
    std::fs::write(d.join("appendonly.aof.99.incr.aof"), b"garbage, not named").unwrap();
    cases.push(("extra", 0));

    let spill = t.join("spill");
    std::fs::create_dir_all(&spill).unwrap();
    let nowhere = t.join("no-such-tmpdir");
    let mut kinds: Vec<(&str, &str)> = vec![("", "tar"), ("-z", "tar.gz")];
    if require_tool("zstd").is_some() {
        kinds.push(("--zstd", "tar.zst"));
    }
    let mut runs = 0;
    for (case, code) in &cases {
        let parent = copies.join(case);
        let dir = parent.join("appendonlydir");
        let on_dir = rdbkit_env(&["verify", "--json", s(&dir)], &nowhere);
        let want = verify_view(&on_dir, &[s(&dir)]);
        assert_eq!(want.0, Some(*code), "{case}: {}", text(&on_dir.stdout));
        let present: Vec<String> = parts
            .iter()
            .filter(|p| dir.join(p).exists())
            .map(|p| format!("appendonlydir/{p}"))
            .collect();
        let mut in_order = vec![format!("appendonlydir/{manifest}")];
        in_order.extend(present.iter().cloned());
        if *case == "extra" {
            in_order.push("appendonlydir/appendonly.aof.99.incr.aof".into());
        }
        let mut reversed = in_order.clone();
        reversed[1..].reverse();
        let mut archives: Vec<(PathBuf, bool)> = Vec::new(); // (archive, in load order)
        for (flag, ext) in &kinds {
            for (order, members) in [("in-order", &in_order), ("reversed", &reversed)] {
                let a = parent.join(format!("v-{order}.{ext}"));
                let mut args = vec!["--no-recursion", "-c"];
                if !flag.is_empty() {
                    args.push(flag);
                }
                args.extend(["-f", s(&a)]);
                args.extend(members.iter().map(String::as_str));
                let st = Command::new("tar")
                    .args(&args)
                    .current_dir(&parent)
                    .status()
                    .expect("tar");
                assert!(st.success(), "tar {args:?}");
                archives.push((a, order == "in-order"));
            }
        }
        if let Some(py) = &python {
            // Python's tarfile: the directory, the manifest, then the parts in reverse order.
            let a = parent.join("v-python.tar");
            let mut members = vec!["appendonlydir".to_string()];
            members.extend(reversed.iter().cloned());
            let list = members
                .iter()
                .map(|m| format!("{m:?}"))
                .collect::<Vec<_>>()
                .join(",");
            let code = format!(
                "import tarfile,os\nos.chdir({:?})\nwith tarfile.open({:?},'w') as t:\n    for m in [{list}]: t.add(m, recursive=False)\n",
                s(&parent),
                s(&a)
            );
            let st = Command::new(py)
                .args(["-c", &code])
                .status()
                .expect("python3");
            assert!(st.success(), "python tarfile");
            archives.push((a, present.len() < 2));
        }
        for (a, in_order) in &archives {
            let file = a.file_name().unwrap().to_str().unwrap();
            let member = format!("{file}:appendonlydir");
            // In load order nothing may be written: a TMPDIR that does not exist proves it.
            let tmp = if *in_order { &nowhere } else { &spill };
            let o = rdbkit_env(&["verify", "--json", s(a)], tmp);
            let got = verify_view(&o, &[&member]);
            let what = format!("{case} {file}");
            assert_eq!(got, want, "{what}: {}", text(&o.stderr));
            let note = text(&o.stdout);
            if *in_order && *case != "missing" {
                assert!(
                    note.contains("read in one pass in manifest order, nothing unpacked"),
                    "{what}: {note}"
                );
            }
            assert!(!note.contains(s(&spill)), "{what}: a temp path: {note}");
            // The text report says the same (exit status, damage line).
            let o = rdbkit_env(&["verify", s(a)], tmp);
            assert_eq!(o.status.code(), Some(*code), "{what}: {}", text(&o.stdout));
            runs += 1;
        }
    }
    assert!(runs >= 30, "{runs}");
    assert!(!nowhere.exists());

    // A truncated archive: damage naming the member cut short (exit 2).
    let whole = copies.join("good/v-in-order.tar");
    let bytes = std::fs::read(&whole).unwrap();
    let member = format!("appendonlydir/{last}");
    let header = bytes
        .windows(member.len())
        .position(|w| w == member.as_bytes())
        .expect("the last part's header");
    let size = std::fs::metadata(aofdir.join(&last)).unwrap().len() as usize;
    let cut = t.join("cut.tar");
    std::fs::write(&cut, &bytes[..header + 512 + size / 2]).unwrap();
    let o = rdbkit_env(&["verify", s(&cut)], &nowhere);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains(&format!("member {member} ")) && out.contains("truncated"),
        "{out}"
    );
    assert_eq!(std::fs::read_dir(&spill).unwrap().count(), 0);
}

/// Every `appendonlydir/` of the corpus (Redis 7.0 → 8.0, Valkey 8.0/8.1: good ones and the
/// damaged cases with the servers' ground truth) gives the same `verify` verdicts archived
/// (`tar`, in the directory's order) as unpacked.
#[test]
fn corpus_appendonlydirs_verify_the_same_archived() {
    let Some(corpus) = corpus_dir() else {
        return;
    };
    require_tool("tar");
    let t = TempDir::new("archive-verify-corpus");
    let tmp = t.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut n = 0;
    for v in rdbkit_testkit::sorted_subdirs(&corpus.join("aof")) {
        let Ok(cases) = std::fs::read_dir(v.join("cases")) else {
            continue;
        };
        let mut cases: Vec<PathBuf> = cases.flatten().map(|e| e.path()).collect();
        cases.sort();
        for case in cases {
            let dir = case.join("appendonlydir");
            if !dir.is_dir() {
                continue;
            }
            let a = t.join(format!("c{n}.tar"));
            let st = Command::new("tar")
                .args(["-cf", s(&a), "appendonlydir"])
                .current_dir(&case)
                .status()
                .expect("tar");
            assert!(st.success());
            let want = verify_view(
                &rdbkit_env(&["verify", "--json", s(&dir)], &tmp),
                &[s(&dir)],
            );
            let o = rdbkit_env(&["verify", "--json", s(&a)], &tmp);
            let got = verify_view(&o, &[&format!("c{n}.tar:appendonlydir")]);
            assert_eq!(got, want, "{}: {}", case.display(), text(&o.stderr));
            std::fs::remove_file(&a).unwrap();
            n += 1;
        }
    }
    assert!(n >= 100, "{n} corpus appendonlydirs");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "temporary files removed"
    );
}
