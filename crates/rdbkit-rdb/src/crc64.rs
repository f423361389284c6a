//! CRC-64/REDIS ("Jones"): reflected, init 0, xorout 0; check("123456789") = 0xe9c6d914c4b8d9ca.

/// CRC-64/REDIS of `data`.
pub fn crc64(data: &[u8]) -> u64 {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Redis, data)
}

/// Incremental CRC-64/REDIS for streaming readers.
#[derive(Clone)]
pub struct Crc64 {
    digest: crc_fast::Digest,
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc64 {
    pub fn new() -> Self {
        Crc64 {
            digest: crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Redis),
        }
    }
    pub fn update(&mut self, data: &[u8]) {
        self.digest.update(data);
    }
    pub fn finish(&self) -> u64 {
        self.digest.finalize()
    }
}
