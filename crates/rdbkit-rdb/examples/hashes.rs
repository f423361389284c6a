//! Task 2: every hash as an owned value (fields, values, field TTLs).
//!
//! `cargo run -p rdbkit-rdb --example hashes -- dump.rdb`

use rdbkit_rdb::{Family, Options, OwnedValue, RdbFile};

/// (key, fields) of every hash.
type Hashes = Vec<(Vec<u8>, Vec<rdbkit_rdb::HashField>)>;

fn hashes(path: &str) -> Result<Hashes, rdbkit_rdb::Error> {
    let file = RdbFile::open(path)?;
    let mut out = Vec::new();
    for rec in file.records(Options::default()) {
        let Some(k) = rec?.into_key() else { continue };
        if k.value.family() == Family::Hash {
            if let OwnedValue::Hash(fields) = k.value.to_owned_value()? {
                out.push((k.key.into_owned(), fields));
            }
        }
    }
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: hashes FILE.rdb")?;
    for (key, fields) in hashes(&path)? {
        println!("{}: {} fields", String::from_utf8_lossy(&key), fields.len());
        for f in fields {
            let ttl = f
                .expire_ms
                .map_or(String::new(), |t| format!(" (expires {t})"));
            println!(
                "  {} = {}{ttl}",
                String::from_utf8_lossy(&f.field),
                String::from_utf8_lossy(&f.value)
            );
        }
    }
    Ok(())
}

#[test]
fn hashes_of_the_sample() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/rdb/sample.rdb");
    let got = hashes(path).unwrap();
    let truth = std::fs::read_to_string(path.replace(".rdb", ".expected.jsonl")).unwrap();
    let want = truth
        .lines()
        .filter(|l| l.contains("\"type\":\"hash\""))
        .count();
    assert_eq!(got.len(), want);
    assert!(got.iter().all(|(_, f)| !f.is_empty()));
}
