//! A multi-part data set checked from memory maps, its base over 64 MiB: each part's map is
//! released by the thread that checked it, a big one by two threads (`MADV_DONTNEED` of each
//! half, `multipart::FileData`'s drop). The verdicts are those of the parts' bytes, and the
//! files are intact afterwards (a second check gives the same verdicts).

use rdbkit_aof::check::{CheckOptions, ServerVerdict};
use rdbkit_aof::multipart::resolve;
use rdbkit_aof::parts::{check_layout_parallel, Want};

const BIG: usize = 64 << 20;

fn cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut b = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        b.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        b.extend_from_slice(a);
        b.extend_from_slice(b"\r\n");
    }
    b
}

#[test]
fn big_mapped_parts_give_the_verdicts_of_their_bytes() {
    // SAFETY: this test process maps only the files it writes here, which nothing else
    // modifies while they are mapped.
    unsafe { rdbkit_rdb::allow_mapping() };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A base over 64 MiB (one SET of a 64 MiB value, its middle bytes varied) and an incr file.
    let mut value = vec![b'x'; BIG];
    for (i, b) in value.iter_mut().enumerate().step_by(4096) {
        *b = b'a' + (i / 4096 % 26) as u8;
    }
    let base = cmd(&[b"SET", b"big", &value]);
    let first = cmd(&[b"SET", b"k", b"v"]);
    let mut incr = first.clone();
    incr.extend_from_slice(&cmd(&[b"INCR", b"n"]));
    std::fs::write(
        d.join("appendonly.aof.manifest"),
        "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n",
    )
    .unwrap();
    let base_path = d.join("appendonly.aof.1.base.aof");
    let incr_path = d.join("appendonly.aof.1.incr.aof");
    std::fs::write(&base_path, &base).unwrap();
    std::fs::write(&incr_path, &incr).unwrap();
    let check = || {
        let layout = resolve(d).unwrap();
        check_layout_parallel(&layout, CheckOptions::default(), Want::BOTH)
    };

    // Sound: both verdicts, twice (the released maps left the files as they were).
    for _ in 0..2 {
        let (strict, server) = check();
        let strict = strict.unwrap();
        assert!(strict.valid);
        assert_eq!(strict.files.len(), 2);
        assert_eq!(strict.files[0].check.ok_up_to, base.len() as u64);
        assert_eq!(strict.files[0].check.commands, 1);
        assert_eq!(strict.files[1].check.ok_up_to, incr.len() as u64);
        assert!(matches!(server, ServerVerdict::Loads), "{server:?}");
    }
    assert_eq!(std::fs::read(&base_path).unwrap(), base);

    // The incr file cut inside its second command: fixable at the end of the first, and the
    // server truncates it there.
    std::fs::write(&incr_path, &incr[..incr.len() - 3]).unwrap();
    let (strict, server) = check();
    let strict = strict.unwrap();
    assert!(!strict.valid);
    assert_eq!(strict.fixable, Some((1, first.len() as u64)));
    match server {
        ServerVerdict::TruncatesAndLoads { file, offset, .. } => {
            assert_eq!(file, "appendonly.aof.1.incr.aof");
            assert_eq!(offset, first.len() as u64);
        }
        v => panic!("{v:?}"),
    }

    // The base cut inside its value (not the last file): not fixable, the server refuses it.
    std::fs::write(&incr_path, &incr).unwrap();
    std::fs::write(&base_path, &base[..BIG / 2]).unwrap();
    let (strict, server) = check();
    let strict = strict.unwrap();
    assert!(!strict.valid);
    assert_eq!(strict.fixable, None);
    assert_eq!(strict.files.len(), 1);
    assert_eq!(strict.files[0].check.ok_up_to, 0);
    assert!(strict.refusal.unwrap().contains("not the last file"));
    match server {
        ServerVerdict::Refuses { file, .. } => {
            assert_eq!(file.as_deref(), Some("appendonly.aof.1.base.aof"))
        }
        v => panic!("{v:?}"),
    }
}
