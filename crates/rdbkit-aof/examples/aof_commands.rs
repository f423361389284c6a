//! Task 5: iterate an AOF's whole data set (the RDB base's keys, then the commands) and get
//! its `redis-check-aof` verdict.
//!
//! `cargo run -p rdbkit-aof --example aof_commands -- appendonlydir`

use std::collections::BTreeMap;

use rdbkit_aof::{Aof, AofItem};

/// (base keys, commands by name, verdict valid).
fn summary(path: &str) -> Result<(u64, BTreeMap<String, u64>, bool), rdbkit_aof::Error> {
    let aof = Aof::open(path)?;
    let (mut keys, mut names) = (0, BTreeMap::new());
    for item in aof.items() {
        match item? {
            AofItem::RdbKey(_) => keys += 1,
            AofItem::Command(argv) => {
                let name = String::from_utf8_lossy(&argv[0]).to_ascii_uppercase();
                *names.entry(name).or_default() += 1;
            }
            _ => {}
        }
    }
    Ok((keys, names, aof.check()?.valid))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: aof_commands PATH")?;
    let (keys, names, valid) = summary(&path)?;
    println!("base keys: {keys}");
    for (name, n) in names {
        println!("{name}\t{n}");
    }
    println!("valid: {valid}");
    Ok(())
}

#[test]
fn summarises_the_testdata() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/aof/appendonlydir"
    );
    let (_, names, valid) = summary(dir).unwrap();
    assert!(valid);
    assert!(!names.is_empty());
    let torn = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/aof/torn");
    let aof = Aof::open(torn).unwrap();
    let v = aof.check().unwrap();
    assert!(!v.valid && v.fixable.is_some(), "{v:?}");
    // The items end with the framing error of the torn tail, naming the file.
    let err = aof.items().find_map(|i| i.err()).expect("an error");
    assert!(err.to_string().contains("incr.aof"), "{err}");
}
