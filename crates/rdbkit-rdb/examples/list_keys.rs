//! Task 1: every key with its type, TTL and element count.
//!
//! `cargo run -p rdbkit-rdb --example list_keys -- dump.rdb`

use rdbkit_rdb::{Options, RdbFile};

/// One line per key: db, key, type, expiry, element count.
fn list_keys(path: &str) -> Result<Vec<String>, rdbkit_rdb::Error> {
    let file = RdbFile::open(path)?;
    let mut out = Vec::new();
    for rec in file.records(Options::default()) {
        if let Some(k) = rec?.into_key() {
            out.push(format!(
                "{}\t{}\t{}\t{}\t{}",
                k.db,
                String::from_utf8_lossy(&k.key),
                k.value.family(),
                k.expire_ms.map_or("-".into(), |t| t.to_string()),
                k.value.len()?
            ));
        }
    }
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: list_keys FILE.rdb")?;
    for line in list_keys(&path)? {
        println!("{line}");
    }
    Ok(())
}

#[test]
fn lists_the_sample() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/rdb/sample.rdb");
    let lines = list_keys(path).unwrap();
    let truth = std::fs::read_to_string(path.replace(".rdb", ".expected.jsonl")).unwrap();
    assert_eq!(lines.len(), truth.lines().filter(|l| !l.is_empty()).count());
}
