//! An archive whose `appendonlydir/` holds two manifests is refused by every reader of one
//! backup (`check`, `aof check`, `info`, `keys`): either could be the backup's. The message
//! names the archive, both manifests (the second as a member, with its header's offset) and
//! says what to do; the exit status is 2 (an input that cannot be read as one backup).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{require_tool, run_rdbkit, TempDir};

fn testdata(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(p)
}

#[test]
fn a_second_manifest_in_an_appendonlydir_is_refused_naming_both() {
    let Some(tar) = require_tool("tar") else {
        return;
    };
    let t = TempDir::new("two-manifests");
    let dir = t.join("appendonlydir");
    std::fs::create_dir_all(&dir).unwrap();
    let src = testdata("aof/appendonlydir");
    let mut names = Vec::new();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    assert!(
        names.contains(&"appendonly.aof.manifest".to_string()),
        "{names:?}"
    );
    // A copy of the manifest under another name, archived after the real one.
    std::fs::copy(
        dir.join("appendonly.aof.manifest"),
        dir.join("other.aof.manifest"),
    )
    .unwrap();
    // The unpacked directory reads fine, the real manifest found: the archive is the problem.
    let plain = run_rdbkit(["aof", "check", dir.to_str().unwrap()]);
    assert_eq!(plain.status.code(), Some(0), "{plain:?}");

    let archive = t.join("backup.tar");
    let mut members: Vec<String> = names.iter().map(|n| format!("appendonlydir/{n}")).collect();
    members.push("appendonlydir/other.aof.manifest".into());
    let st = Command::new(tar)
        .current_dir(t.path())
        .arg("cf")
        .arg(&archive)
        .args(&members)
        .status()
        .unwrap();
    assert!(st.success());

    for sub in [&["aof", "check"][..], &["check"], &["info"], &["keys"]] {
        let mut args: Vec<&str> = sub.to_vec();
        args.push(archive.to_str().unwrap());
        let out = run_rdbkit(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "rdbkit {args:?}: {err}");
        // (`info` streams: its header lines may come out before the refusal.)
        if sub[0] != "info" {
            assert!(out.stdout.is_empty(), "rdbkit {args:?}");
        }
        for want in [
            "backup.tar: member appendonlydir/other.aof.manifest (header at byte ",
            "a second manifest beside appendonlydir/appendonly.aof.manifest",
            "either could be the backup's",
            "extract the archive and name the manifest to read \
             (`rdbkit aof check DIR/appendonly.aof.manifest`)",
            "or pack the archive again without the other",
        ] {
            assert!(
                err.contains(want),
                "rdbkit {args:?}: want {want:?} in {err}"
            );
        }
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
}
