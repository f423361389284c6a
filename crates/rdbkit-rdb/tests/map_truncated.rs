//! A mapped RDB file truncated under the reader (another process cutting it) gives a clean
//! error from the parser instead of killing the process with SIGBUS (Linux).
#![cfg(target_os = "linux")]

use rdbkit_rdb::{Options, RdbFile, Record};

/// An RDB of `n` string keys with 200-byte values (~n * 215 bytes).
fn file(n: usize) -> Vec<u8> {
    let mut v = b"REDIS0011\xfe\x00".to_vec();
    for i in 0..n {
        v.push(0);
        let k = format!("key:{i:08}");
        v.push(k.len() as u8);
        v.extend_from_slice(k.as_bytes());
        v.extend_from_slice(&[0x40, 200]);
        v.extend_from_slice(&[b'a' + (i % 26) as u8; 200]);
    }
    v.push(0xff);
    let crc = rdbkit_rdb::internals::crc64::crc64(&v);
    v.extend_from_slice(&crc.to_le_bytes());
    v
}

fn read_all(f: &RdbFile, deep: bool) -> Result<u64, String> {
    let mut p = f.parser(Options::default().deep(deep));
    let mut keys = 0;
    while let Some(r) = p.next() {
        if let Record::Key(_) = r.map_err(|e| e.to_string())? {
            keys += 1;
        }
    }
    Ok(keys)
}

#[test]
fn truncated_while_mapped_is_an_error_not_a_signal() {
    let dir = std::env::temp_dir().join(format!("rdbkit-maptrunc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.rdb");
    let data = file(20_000);
    // Cut at a page boundary (the next page faults) and inside a page (the rest of the page
    // reads as zeros without a fault: the size check catches it).
    for (cut, deep) in [
        (8192u64, false),
        (8192, true),
        (100_000 + 123, false),
        (5000, true),
    ] {
        std::fs::write(&path, &data).unwrap();
        // SAFETY: only this test touches the file, and only to truncate it (what is tested).
        let f = unsafe { RdbFile::open_mmap(&path) }.unwrap();
        assert_eq!(read_all(&f, deep), Ok(20_000));
        f.check_unchanged().unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let e = read_all(&f, deep).unwrap_err();
        assert!(
            e.contains(&format!(
                "the file shrank from {} to {cut} bytes",
                data.len()
            )),
            "cut {cut}: {e}"
        );
        assert!(f.check_unchanged().is_err());
        // The bytes are still readable (zeros now): nothing faults any more.
        let zeros = f.bytes()[data.len() - 100..]
            .iter()
            .filter(|&&b| b == 0)
            .count();
        assert_eq!(zeros, 100);
    }
    // A fault outside any map still reaches the previous disposition: not tested here (it
    // kills the process by design).
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A map of 64 MiB or more has its pages released on two threads when it is dropped: read
/// whole, cut under the map, dropped, mapped again; every step reads the file's bytes.
#[test]
fn big_map_dropped_on_two_threads_reads_back() {
    let dir = std::env::temp_dir().join(format!("rdbkit-mapdrop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.rdb");
    let data = file(330_000);
    assert!(data.len() >= 64 << 20, "{}", data.len());
    std::fs::write(&path, &data).unwrap();
    for _ in 0..2 {
        // SAFETY: only this test touches the file.
        let f = unsafe { RdbFile::open_mmap(&path) }.unwrap();
        assert_eq!(read_all(&f, false), Ok(330_000));
        assert_eq!(f.bytes(), &data[..]);
        drop(f);
    }
    // Cut while mapped and touched: the release of pages past the end does not fault.
    // SAFETY: only this test touches the file, and only to truncate it.
    let f = unsafe { RdbFile::open_mmap(&path) }.unwrap();
    assert_eq!(f.bytes().len(), data.len());
    assert_eq!(read_all(&f, false), Ok(330_000));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(8192)
        .unwrap();
    assert!(f.check_unchanged().is_err());
    drop(f);
    std::fs::write(&path, &data).unwrap();
    // SAFETY: as above.
    let f = unsafe { RdbFile::open_mmap(&path) }.unwrap();
    assert_eq!(f.bytes(), &data[..]);
    drop(f);
    std::fs::remove_dir_all(&dir).unwrap();
}
