//! Every command of each corpus AOF's `*.commands.jsonl` comes out of `rdbkit aof dump`, in
//! order, byte for byte, across base and incr files, at the offsets `meta.json` records.
//! Uses the shared corpus (`../shared` beside the workspace, or `/work/shared`); with CI=true its
//! absence is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn corpus_aof() -> Option<PathBuf> {
    rdbkit_testkit::corpus_dir().map(|c| c.join("aof"))
}

fn b64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("bad base64 byte {c}"),
    };
    let mut out = Vec::new();
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    for chunk in bytes.chunks(4) {
        let mut v = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            v |= u32::from(val(c)) << (18 - 6 * i);
        }
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((v >> (16 - 8 * i)) as u8);
        }
    }
    out
}

fn as_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Object(o) => b64_decode(o["base64"].as_str().expect("base64 string")),
        other => panic!("not a byte string: {other}"),
    }
}

fn args_of(v: &Value) -> Vec<Vec<u8>> {
    v.as_array()
        .expect("array of args")
        .iter()
        .map(as_bytes)
        .collect()
}

#[test]
fn dump_reproduces_every_corpus_command() {
    let Some(corpus) = corpus_aof() else {
        eprintln!("shared AOF corpus not found: skipped");
        return;
    };
    let bin = env!("CARGO_BIN_EXE_rdbkit");
    let mut variants = 0;
    let mut commands = 0;
    let mut versions: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    versions.sort();
    for ver in versions.into_iter().filter(|p| p.is_dir()) {
        let mut files: Vec<_> = std::fs::read_dir(&ver)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for cmds_path in files
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".commands.jsonl"))
        {
            let name = cmds_path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .replace(".commands.jsonl", "");
            let dir = ver.join(&name);
            let meta: Value = serde_json::from_str(
                &std::fs::read_to_string(ver.join(format!("{name}.meta.json"))).unwrap(),
            )
            .unwrap();
            let want: Vec<Vec<Vec<u8>>> = std::fs::read_to_string(&cmds_path)
                .unwrap()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| args_of(&serde_json::from_str(l).unwrap()))
                .collect();
            let out = Command::new(bin)
                .args(["aof", "dump"])
                .arg(&dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: dump failed: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            let got: Vec<Value> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(got.len(), want.len(), "{}: command count", dir.display());
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(&args_of(&g["args"]), w, "{}: command {i}", dir.display());
            }
            // Offsets, file by file, as meta.json records them.
            for f in meta["files"].as_array().unwrap() {
                let Some(offsets) = f["command_offsets"].as_array() else {
                    continue;
                };
                let first = f["first_command"].as_u64().unwrap_or(0) as usize;
                let base = Path::new(f["path"].as_str().unwrap())
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                for (k, range) in offsets.iter().enumerate() {
                    let g = &got[first + k];
                    let file = g["file"].as_str().unwrap();
                    assert!(
                        file.ends_with(&base),
                        "{}: command {} is in {file}, not {base}",
                        dir.display(),
                        first + k
                    );
                    assert_eq!(
                        g["offset"].as_u64(),
                        range[0].as_u64(),
                        "{}: offset of command {}",
                        dir.display(),
                        first + k
                    );
                }
            }
            // RESP out, read back, gives the same commands.
            let resp = Command::new(bin)
                .args(["aof", "dump", "--format", "resp"])
                .arg(&dir)
                .output()
                .unwrap();
            assert!(resp.status.success());
            let mut r = rdbkit_aof::resp::SliceReader::new(&resp.stdout, 0);
            let mut n = 0;
            while let Some(item) = r.next_item().unwrap() {
                if let rdbkit_aof::resp::Item::Command(c) = item {
                    let args: Vec<Vec<u8>> = c.args().map(<[u8]>::to_vec).collect();
                    assert_eq!(&args, &want[n], "{}: RESP command {n}", dir.display());
                    n += 1;
                }
            }
            assert_eq!(n, want.len());
            variants += 1;
            commands += want.len();
        }
    }
    assert!(variants >= 28, "only {variants} corpus variants found");
    eprintln!("{variants} variants, {commands} commands: all dumped byte for byte");
}
