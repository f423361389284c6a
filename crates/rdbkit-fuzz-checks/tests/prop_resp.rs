//! Property: generated RESP command streams (any argument bytes, `#TS:` annotations, MULTI/EXEC
//! blocks) round-trip through the AOF readers (slice and `io::Read`), and the strict check finds
//! them valid with every command counted.

use proptest::prelude::*;
use rdbkit_aof::check::{check_single, CheckOptions, Stop};
use rdbkit_aof::resp::{StreamError, StreamReader};
use rdbkit_fuzz_checks::aof::{self as checks, encode_command, read_slice, OwnedItem};
use rdbkit_fuzz_checks::rdb::Chunked;

#[derive(Clone, Debug)]
enum Piece {
    Command(Vec<Vec<u8>>),
    Annotation(i64),
    /// MULTI, the commands, EXEC.
    Transaction(Vec<Vec<Vec<u8>>>),
}

fn arg() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        Just(b"\r\n*1\r\n$3\r\n".to_vec()),
        (0..300usize).prop_map(|n| vec![b'x'; n]),
    ]
}

fn command() -> impl Strategy<Value = Vec<Vec<u8>>> {
    (
        prop_oneof![
            Just(b"SET".to_vec()),
            Just(b"DEL".to_vec()),
            Just(b"x".to_vec())
        ],
        proptest::collection::vec(arg(), 0..5),
    )
        .prop_map(|(name, mut args)| {
            args.insert(0, name);
            args
        })
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        4 => command().prop_map(Piece::Command),
        1 => (0..i64::MAX).prop_map(Piece::Annotation),
        1 => proptest::collection::vec(command(), 0..4).prop_map(Piece::Transaction),
    ]
}

/// The stream's bytes and the items a reader must yield.
fn encode(pieces: &[Piece]) -> (Vec<u8>, Vec<OwnedItem>) {
    let mut out = Vec::new();
    let mut items = Vec::new();
    let cmd = |args: &[Vec<u8>], out: &mut Vec<u8>, items: &mut Vec<OwnedItem>| {
        let start = out.len() as u64;
        encode_command(args, out);
        items.push(OwnedItem::Command {
            start,
            end: out.len() as u64,
            args: args.to_vec(),
        });
    };
    for p in pieces {
        match p {
            Piece::Command(args) => cmd(args, &mut out, &mut items),
            Piece::Annotation(ts) => {
                let text = format!("#TS:{ts}\r\n").into_bytes();
                items.push(OwnedItem::Annotation {
                    offset: out.len() as u64,
                    end: (out.len() + text.len()) as u64,
                    text: text.clone(),
                    timestamp: Some(*ts),
                });
                out.extend_from_slice(&text);
            }
            Piece::Transaction(cmds) => {
                cmd(&[b"MULTI".to_vec()], &mut out, &mut items);
                for c in cmds {
                    cmd(c, &mut out, &mut items);
                }
                cmd(&[b"EXEC".to_vec()], &mut out, &mut items);
            }
        }
    }
    (out, items)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn command_streams_round_trip(pieces in proptest::collection::vec(piece(), 0..20), step in 1usize..50) {
        let (bytes, want) = encode(&pieces);
        let (items, err, pos, _) = read_slice(&bytes, 0);
        prop_assert!(err.is_none(), "{:?}", err);
        prop_assert_eq!(pos, bytes.len() as u64);
        prop_assert_eq!(&items, &want);

        let mut s = StreamReader::new(Chunked::new(&bytes, step));
        let mut got = Vec::new();
        loop {
            match s.next_item() {
                Ok(Some(rdbkit_aof::resp::Item::Command(c))) => got.push(OwnedItem::Command {
                    start: c.start,
                    end: c.end,
                    args: c.args().map(<[u8]>::to_vec).collect(),
                }),
                Ok(Some(rdbkit_aof::resp::Item::Annotation(a))) => got.push(OwnedItem::Annotation {
                    offset: a.offset,
                    end: a.end,
                    text: a.text.to_vec(),
                    timestamp: a.timestamp,
                }),
                Ok(None) => break,
                Err(StreamError::Resp(e)) => prop_assert!(false, "stream reader: {e}"),
                Err(e) => prop_assert!(false, "stream reader: {e}"),
            }
        }
        prop_assert_eq!(&got, &want);

        let commands = want.iter().filter(|i| matches!(i, OwnedItem::Command { .. })).count() as u64;
        let mut line = 1;
        let c = check_single(&bytes, false, true, CheckOptions::default(), &mut line);
        prop_assert!(c.is_valid(), "{:?}", c);
        if !bytes.is_empty() {
            prop_assert_eq!(&c.stop, &Stop::Checked);
            prop_assert_eq!(c.commands, commands);
        }

        // And the shared fuzz invariants.
        checks::resp(&bytes);
        checks::check(&bytes);
    }
}
