//! CRC-64/REDIS ("Jones"): reflected, init 0, xorout 0; check("123456789") = 0xe9c6d914c4b8d9ca.

/// CRC-64/REDIS of `data`.
pub fn crc64(data: &[u8]) -> u64 {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Redis, data)
}

/// Incremental CRC-64/REDIS for streaming readers.
#[derive(Clone, Debug)]
pub struct Crc64 {
    digest: crc_fast::Digest,
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc64 {
    /// A CRC with nothing fed yet.
    pub fn new() -> Self {
        Crc64 {
            digest: crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Redis),
        }
    }
    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.digest.update(data);
    }
    /// The CRC of everything fed so far.
    pub fn finish(&self) -> u64 {
        self.digest.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::PathBuf;

    /// Table-free reference: reflected CRC-64 with the Jones polynomial, init 0, xorout 0.
    fn reference(data: &[u8]) -> u64 {
        const POLY_REFLECTED: u64 = 0x95AC_9329_AC4B_C9B5;
        let mut crc = 0u64;
        for &b in data {
            crc ^= u64::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ POLY_REFLECTED
                } else {
                    crc >> 1
                };
            }
        }
        crc
    }

    #[test]
    fn check_value() {
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        assert_eq!(reference(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        // Not CRC-64/XZ.
        assert_ne!(crc64(b"123456789"), 0x995d_c9bb_df19_39fa);
        assert_eq!(crc64(b""), 0);
        let mut c = Crc64::new();
        c.update(b"1234");
        c.update(b"");
        c.update(b"56789");
        assert_eq!(c.finish(), 0xe9c6_d914_c4b8_d9ca);
        // finish does not consume
        assert_eq!(c.finish(), 0xe9c6_d914_c4b8_d9ca);
        assert_eq!(Crc64::default().finish(), 0);
    }

    proptest! {
        #[test]
        fn matches_reference(data in proptest::collection::vec(any::<u8>(), 0..5000), split in any::<usize>()) {
            let want = reference(&data);
            prop_assert_eq!(crc64(&data), want);
            let (a, b) = data.split_at(split % (data.len() + 1));
            let mut c = Crc64::new();
            c.update(a);
            c.update(b);
            prop_assert_eq!(c.finish(), want);
        }
    }

    fn corpus_rdb_dir() -> Option<PathBuf> {
        let dir = std::env::var_os("RDBKIT_CORPUS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
            })
            .join("rdb");
        if dir.is_dir() {
            Some(dir)
        } else if std::env::var("CI").as_deref() == Ok("true") {
            panic!("corpus missing at {}", dir.display());
        } else {
            eprintln!("skipping: corpus missing at {}", dir.display());
            None
        }
    }

    #[test]
    fn corpus_trailers() {
        let Some(dir) = corpus_rdb_dir() else { return };
        let mut checked = 0;
        let mut disabled = 0;
        let mut versions: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        versions.sort();
        for v in versions {
            let mut files: Vec<_> = std::fs::read_dir(&v)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "rdb"))
                .collect();
            files.sort();
            for f in files {
                let data = std::fs::read(&f).unwrap();
                assert!(data.len() >= 9 + 1 + 8, "{}", f.display());
                let version: u32 = std::str::from_utf8(&data[5..9]).unwrap().parse().unwrap();
                if version < 5 {
                    continue;
                }
                let (body, trailer) = data.split_at(data.len() - 8);
                let trailer = u64::from_le_bytes(trailer.try_into().unwrap());
                if trailer == 0 {
                    disabled += 1;
                    continue;
                }
                assert_eq!(crc64(body), trailer, "{}", f.display());
                // streaming in odd-sized pieces gives the same value
                let mut c = Crc64::new();
                for chunk in body.chunks(4093) {
                    c.update(chunk);
                }
                assert_eq!(c.finish(), trailer, "{}", f.display());
                if body.len() < 200_000 {
                    assert_eq!(reference(body), trailer, "{}", f.display());
                }
                checked += 1;
            }
        }
        assert!(checked >= 60, "only {checked} RDB trailers checked");
        assert!(
            disabled >= 5,
            "expected the nochecksum variants ({disabled})"
        );
    }
}
