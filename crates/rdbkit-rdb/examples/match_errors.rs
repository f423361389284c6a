//! Task 6: tell a truncated file from a damaged one, and a missing file from both, by
//! matching errors instead of parsing messages.
//!
//! `cargo run -p rdbkit-rdb --example match_errors -- dump.rdb`

use rdbkit_rdb::{ErrorKind, Options, RdbFile};

/// What is wrong with the file, in one word.
fn diagnose(file: &RdbFile) -> &'static str {
    for rec in file.records(Options::default()) {
        match rec {
            Ok(_) => {}
            Err(e) if e.is_truncated() => return "truncated",
            Err(e) => {
                return match e.kind {
                    ErrorKind::ChecksumMismatch { .. } => "checksum",
                    ErrorKind::Io(_) => "io",
                    _ => "damaged",
                }
            }
        }
    }
    "ok"
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: match_errors FILE.rdb")?;
    match RdbFile::open(&path) {
        Err(e) if matches!(e.kind, ErrorKind::Io(_)) => println!("cannot open: {e}"),
        Err(e) => return Err(e.into()),
        Ok(file) => println!("{}", diagnose(&file)),
    }
    Ok(())
}

#[test]
fn diagnoses_cut_and_flipped_copies() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/rdb/sample.rdb");
    let data = std::fs::read(path).unwrap();
    assert_eq!(diagnose(&RdbFile::from_bytes(data.clone())), "ok");
    assert_eq!(
        diagnose(&RdbFile::from_bytes(data[..data.len() / 2].to_vec())),
        "truncated"
    );
    let mut flipped = data.clone();
    let at = flipped.len() - 20;
    flipped[at] ^= 0x01;
    assert_ne!(diagnose(&RdbFile::from_bytes(flipped)), "ok");
    let e = RdbFile::open("/nonexistent/dump.rdb").err().unwrap();
    assert!(matches!(e.kind, ErrorKind::Io(_)));
}
