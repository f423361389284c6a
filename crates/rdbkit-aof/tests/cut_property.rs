//! Property: for any valid AOF (random commands, some MULTI/EXEC blocks, some `#TS:` lines) and
//! any cut point, the strict check reports the cut (unless it falls on a boundary) and the fix
//! keeps exactly the longest prefix of whole commands, never splitting a transaction.

use proptest::prelude::*;
use rdbkit_aof::check::{check_single, CheckOptions, Stop};
use rdbkit_aof::fix;

#[derive(Debug, Clone)]
enum Unit {
    Cmd(Vec<Vec<u8>>),
    Txn(Vec<Vec<Vec<u8>>>),
    Ts(u32),
}

fn resp(args: &[Vec<u8>]) -> Vec<u8> {
    let mut o = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        o.extend(format!("${}\r\n", a.len()).bytes());
        o.extend(a);
        o.extend(b"\r\n");
    }
    o
}

fn arg() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..20),
        Just(b"\r\n*1\r\n$5\r\nMULTI\r\n".to_vec()),
        "[a-z]{1,8}".prop_map(String::into_bytes),
    ]
}

fn command() -> impl Strategy<Value = Vec<Vec<u8>>> {
    // Never a bare MULTI/EXEC name: those come only from Txn units.
    (
        "(SET|DEL|RPUSH|HSET|INCR|SELECT)",
        proptest::collection::vec(arg(), 0..4),
    )
        .prop_map(|(name, rest)| std::iter::once(name.into_bytes()).chain(rest).collect())
}

fn unit() -> impl Strategy<Value = Unit> {
    prop_oneof![
        6 => command().prop_map(Unit::Cmd),
        2 => proptest::collection::vec(command(), 0..4).prop_map(Unit::Txn),
        1 => (1u32..1000).prop_map(Unit::Ts),
    ]
}

/// The file and, for each unit, its [start, end) and whether it is a command/transaction.
fn build(units: &[Unit]) -> (Vec<u8>, Vec<(usize, usize)>) {
    let mut out = Vec::new();
    let mut bounds = Vec::new();
    for u in units {
        let start = out.len();
        match u {
            Unit::Cmd(a) => out.extend(resp(a)),
            Unit::Txn(cmds) => {
                out.extend(resp(&[b"multi".to_vec()]));
                for c in cmds {
                    out.extend(resp(c));
                }
                out.extend(resp(&[b"EXEC".to_vec()]));
            }
            Unit::Ts(t) => out.extend(format!("#TS:{t}\r\n").bytes()),
        }
        bounds.push((start, out.len()));
    }
    (out, bounds)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn fix_keeps_the_longest_whole_prefix(units in proptest::collection::vec(unit(), 0..12), cut_frac in 0.0f64..=1.0) {
        let (data, bounds) = build(&units);
        let mut line = 1;
        let full = check_single(&data, false, true, CheckOptions::default(), &mut line);
        prop_assert!(full.is_valid(), "generated AOF is valid: {:?}", full);

        let cut = ((data.len() as f64) * cut_frac) as usize;
        let piece = &data[..cut];
        // Longest prefix of whole units (commands, whole transactions, annotation lines) that
        // fits; an annotation cut short is still an annotation (the tool accepts `#...` at EOF).
        let mut keep = 0;
        for &(s, e) in &bounds {
            if e <= cut {
                keep = e;
            } else {
                if matches!(units[bounds.iter().position(|b| b.0 == s).unwrap()], Unit::Ts(_)) && s < cut {
                    keep = cut;
                }
                break;
            }
        }
        let mut line = 1;
        let c = check_single(piece, false, true, CheckOptions::default(), &mut line);
        prop_assert_eq!(&c.stop, &if cut == 0 { Stop::Empty } else { Stop::Checked });
        prop_assert_eq!(c.ok_up_to as usize, keep, "cut at {} of {}", cut, data.len());
        prop_assert_eq!(c.is_valid(), keep == cut);

        // The fix removes exactly the rest, and the result is valid with the same commands.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("appendonly.aof");
        std::fs::write(&path, piece).unwrap();
        let plan = fix::plan(&path, "appendonly.aof", piece, c.ok_up_to);
        prop_assert_eq!(plan.removed_bytes as usize, cut - keep);
        fix::apply(&plan, None).unwrap();
        let fixed = std::fs::read(&path).unwrap();
        prop_assert_eq!(&fixed[..], &data[..keep]);
        let mut line = 1;
        prop_assert!(check_single(&fixed, false, true, CheckOptions::default(), &mut line).is_valid());
    }

    /// No input makes the reader or the checker panic, loop or allocate beyond the input.
    #[test]
    fn arbitrary_bytes_are_judged_cleanly(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut line = 1;
        let c = check_single(&data, false, true, CheckOptions::default(), &mut line);
        prop_assert!(c.ok_up_to <= c.size);
        let _ = rdbkit_aof::check::server_load(&data);
        let _ = rdbkit_aof::manifest::parse(&data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// The drop-in tool on arbitrary bytes (as an AOF and as a manifest): no panic, exit 0 or 1,
    /// and a fix only ever shortens the file to a prefix of itself.
    #[test]
    fn drop_in_on_arbitrary_files(
        data in proptest::collection::vec(prop_oneof![any::<u8>(), Just(b'*'), Just(b'$'), Just(b'\r'), Just(b'\n'), Just(b'1')], 0..200),
        as_manifest in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let name = if as_manifest { "appendonly.aof.manifest" } else { "appendonly.aof" };
        let path = dir.path().join(name);
        let mut bytes = data.clone();
        if as_manifest {
            bytes.splice(0..0, b"file appendonly.aof.1.incr.aof seq 1 type i\n".iter().copied());
            std::fs::write(dir.path().join("appendonly.aof.1.incr.aof"), &data).unwrap();
        }
        std::fs::write(&path, &bytes).unwrap();
        let args = vec!["--fix".into(), path.clone().into_os_string()];
        let mut out = Vec::new();
        let code = rdbkit_aof::drop_in::run("redis-check-aof", &args, &mut std::io::Cursor::new(b"y\n".to_vec()), &mut out);
        prop_assert!(code == 0 || code == 1, "exit {}", code);
        let after = std::fs::read(&path).unwrap();
        prop_assert!(bytes.starts_with(&after));
        if as_manifest {
            prop_assert_eq!(after, bytes);
            let incr = std::fs::read(dir.path().join("appendonly.aof.1.incr.aof")).unwrap();
            prop_assert!(data.starts_with(&incr));
        }
    }
}
