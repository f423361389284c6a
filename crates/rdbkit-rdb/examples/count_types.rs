//! Task 3: count keys by type from a pipe (`zcat dump.rdb.gz | count_types`): a stream is read
//! with the lending `next()` of `RdbReader`, holding one record at a time.

use std::collections::BTreeMap;
use std::io::Read;

use rdbkit_rdb::{Family, Options, RdbReader, Record};

fn count_types(input: impl Read) -> Result<BTreeMap<Family, u64>, rdbkit_rdb::Error> {
    let mut reader = RdbReader::new(input, Options::default());
    let mut counts = BTreeMap::new();
    while let Some(rec) = reader.next() {
        if let Record::Key(k) = rec? {
            *counts.entry(k.value.family()).or_default() += 1;
        }
    }
    Ok(counts)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for (family, n) in count_types(std::io::stdin().lock())? {
        println!("{family}\t{n}");
    }
    Ok(())
}

#[test]
fn counts_the_sample() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/rdb/sample.rdb");
    let counts = count_types(std::fs::File::open(path).unwrap()).unwrap();
    let truth = std::fs::read_to_string(path.replace(".rdb", ".expected.jsonl")).unwrap();
    for (family, n) in &counts {
        let want = truth
            .lines()
            .filter(|l| l.contains(&format!("\"type\":\"{family}\"")))
            .count() as u64;
        assert_eq!(*n, want, "{family}");
    }
    assert_eq!(
        counts.values().sum::<u64>() as usize,
        truth.lines().filter(|l| !l.is_empty()).count()
    );
}
