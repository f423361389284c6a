//! Task 4: the 10 biggest keys by bytes in the file, with their element counts.
//!
//! `cargo run -p rdbkit-rdb --example top_keys -- dump.rdb`

use rdbkit_rdb::{Options, RdbFile};

/// (stored bytes, key, element count), biggest first.
fn top_keys(path: &str, n: usize) -> Result<Vec<(u64, Vec<u8>, u64)>, rdbkit_rdb::Error> {
    let file = RdbFile::open(path)?;
    let mut all = Vec::new();
    for rec in file.records(Options::default()) {
        if let Some(k) = rec?.into_key() {
            all.push((k.value.stored_len(), k.key.into_owned(), k.value.len()?));
        }
    }
    all.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    all.truncate(n);
    Ok(all)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: top_keys FILE.rdb")?;
    for (bytes, key, len) in top_keys(&path, 10)? {
        println!("{bytes}\t{len}\t{}", String::from_utf8_lossy(&key));
    }
    Ok(())
}

#[test]
fn top_of_the_sample() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/rdb/sample.rdb");
    let top = top_keys(path, 10).unwrap();
    assert!(!top.is_empty() && top.len() <= 10);
    assert!(top.windows(2).all(|w| w[0].0 >= w[1].0));
}
