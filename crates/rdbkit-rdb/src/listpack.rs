//! listpack.
use crate::entry::{BlobError, Entry};

#[derive(Clone, Copy, Debug)]
pub struct Listpack<'a> {
    blob: &'a [u8],
}

impl<'a> Listpack<'a> {
    pub fn new(blob: &'a [u8]) -> Result<Self, BlobError> {
        let _ = blob;
        todo!()
    }
    pub fn header_count(&self) -> Option<usize> {
        todo!()
    }
    pub fn iter(&self) -> ListpackIter<'a> {
        todo!()
    }
    pub fn validate(&self) -> Result<usize, BlobError> {
        todo!()
    }
    pub fn as_bytes(&self) -> &'a [u8] {
        self.blob
    }
}

#[derive(Clone, Debug)]
pub struct ListpackIter<'a> {
    blob: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for ListpackIter<'a> {
    type Item = Result<Entry<'a>, BlobError>;
    fn next(&mut self) -> Option<Self::Item> {
        let _ = (self.blob, self.pos);
        todo!()
    }
}

pub fn encode(items: &[&[u8]]) -> Vec<u8> {
    let _ = items;
    todo!()
}
pub fn encode_entries(items: &[Entry]) -> Vec<u8> {
    let _ = items;
    todo!()
}
