//! Issue 16: damage in a `dump.rdb` read inside an archive is named `ARCHIVE:dump.rdb` by every
//! command, with the byte offset within the member and the key, exactly as the same command
//! names it in the unpacked file: `check`, `dump`, `info`, `keys`, `size`, `diff` (either
//! side), `convert`, `export`, `restore` (against a real Redis 7.0 on a loopback port) and
//! `verify` (its report names the member and the archive), over damaged copies archived by
//! GNU `tar` (plain and gzip'd): a byte flipped (a checksum mismatch at the end) and a member
//! cut inside a value (an offset and a key).

#[macro_use]
mod common;

use std::path::Path;
use std::process::Output;

use common::*;

fn run(args: &[&str], tmp: &Path) -> Output {
    run_in_tmp(args, tmp, 120)
}

/// The stderr lines that locate damage (`at byte`), `name` replaced by `X`.
fn damage(o: &Output, name: &str) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.contains("at byte"))
        .map(|l| l.replace(name, "X"))
        .collect()
}

/// The commands to run on `input` (`out` a fresh output path for the writers, `url` a server
/// for `restore`).
fn commands(input: &str, other: &str, out: &str, url: Option<&str>) -> Vec<Vec<String>> {
    let mut v: Vec<Vec<&str>> = vec![
        vec!["check", input],
        vec!["dump", input],
        vec!["info", input],
        vec!["keys", input],
        vec!["size", input],
        vec!["diff", input, other],
        vec!["diff", other, input],
        vec!["convert", "--drop", "all", "--target", "rdb-9", input, out],
        vec!["export", input, "-o", out],
    ];
    if let Some(u) = url {
        v.push(vec!["restore", "--replace", input, u]);
    }
    v.into_iter()
        .map(|a| a.into_iter().map(String::from).collect())
        .collect()
}

#[test]
fn every_command_names_the_member_offset_and_key_of_damage_in_an_archive() {
    if require_tool("tar").is_none() {
        return;
    }
    let server = redis70("archive-errors-server");
    let url = server.as_ref().map(|(_, sv)| loopback_url(sv.port));
    let t = TempDir::new("archive-errors");
    let tmp = t.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let sample = testdata("rdb/sample.rdb");
    let rdb = std::fs::read(&sample).unwrap();
    let mut flipped = rdb.clone();
    let at = rdb.windows(8).position(|w| w == b"in db 15").unwrap();
    flipped[at] ^= 0x20;
    let cut = rdb[..rdb.len() / 2].to_vec();
    let mut outs = 0usize;
    for (case, bytes, keyed) in [("flip", &flipped, false), ("cut", &cut, true)] {
        let d = t.join(case);
        std::fs::create_dir_all(&d).unwrap();
        let plain = d.join("dump.rdb");
        std::fs::write(&plain, bytes).unwrap();
        let archives = [d.join("a.tar"), d.join("a.tar.gz")];
        tar_gnu(&["-cf", s(&archives[0]), "dump.rdb"], &d);
        tar_gnu(&["-czf", s(&archives[1]), "dump.rdb"], &d);
        let mut out = || {
            outs += 1;
            s(&t.join(format!("out{outs}"))).to_string()
        };
        let wants: Vec<(Vec<String>, Option<i32>)> =
            commands(s(&plain), s(&sample), &out(), url.as_deref())
                .iter()
                .map(|a| {
                    let args: Vec<&str> = a.iter().map(String::as_str).collect();
                    let o = run(&args, &tmp);
                    (damage(&o, s(&plain)), o.status.code())
                })
                .collect();
        for a in &archives {
            let member = format!("{}:dump.rdb", s(a));
            let cmds = commands(s(a), s(&sample), &out(), url.as_deref());
            for (args, (want, code)) in cmds.iter().zip(&wants) {
                let what = format!("{case}: {}", args.join(" "));
                assert!(
                    !want.is_empty(),
                    "{what}: the unpacked file's damage is located"
                );
                assert!(
                    !keyed || want.iter().any(|l| l.contains("key \"")),
                    "{what}: a key in {want:?}"
                );
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let o = run(&args, &tmp);
                let err = String::from_utf8_lossy(&o.stderr);
                assert!(err.contains(&format!("{member}: at byte")), "{what}: {err}");
                assert_eq!(&damage(&o, &member), want, "{what}: {err}");
                assert_eq!(o.status.code(), *code, "{what}: {err}");
            }
            // verify: the member's line says what the file's says, the archive and member named.
            let want = run(&["verify", s(&plain)], &tmp);
            let got = run(&["verify", s(a)], &tmp);
            let (want, got) = (output_text(&want), output_text(&got));
            let line = |t: &str| {
                t.lines()
                    .find(|l| l.contains("at byte"))
                    .map(|l| l.trim().to_string())
                    .unwrap_or_default()
            };
            assert!(!line(&want).is_empty(), "verify {case}: {want}");
            assert_eq!(line(&got), format!("dump.rdb: {}", line(&want)), "{got}");
            let file = a.file_name().and_then(|f| f.to_str()).unwrap();
            assert!(got.contains(&format!("DAMAGED {}:", s(a))), "{got}");
            assert!(
                got.contains(&format!("in the archive {file}: member dump.rdb")),
                "{got}"
            );
        }
    }
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().flatten().collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
}
