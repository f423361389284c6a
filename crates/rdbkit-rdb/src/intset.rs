//! intset.
use crate::entry::BlobError;

#[derive(Clone, Copy, Debug)]
pub struct Intset<'a> {
    blob: &'a [u8],
}

impl<'a> Intset<'a> {
    pub fn new(blob: &'a [u8]) -> Result<Self, BlobError> {
        let _ = blob;
        todo!()
    }
    pub fn width(&self) -> usize {
        todo!()
    }
    pub fn len(&self) -> usize {
        todo!()
    }
    pub fn is_empty(&self) -> bool {
        todo!()
    }
    pub fn iter(&self) -> impl Iterator<Item = i64> + 'a {
        let _ = self.blob;
        std::iter::empty()
    }
    pub fn get(&self, i: usize) -> Option<i64> {
        let _ = i;
        todo!()
    }
    pub fn validate(&self) -> Result<(), BlobError> {
        todo!()
    }
    pub fn as_bytes(&self) -> &'a [u8] {
        self.blob
    }
}

pub fn encode(values: &[i64]) -> Vec<u8> {
    let _ = values;
    todo!()
}
