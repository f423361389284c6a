//! zipmap.
use crate::entry::BlobError;

#[derive(Clone, Copy, Debug)]
pub struct Zipmap<'a> {
    blob: &'a [u8],
}

impl<'a> Zipmap<'a> {
    pub fn new(blob: &'a [u8]) -> Result<Self, BlobError> {
        let _ = blob;
        todo!()
    }
    pub fn header_count(&self) -> Option<usize> {
        todo!()
    }
    pub fn iter(&self) -> ZipmapIter<'a> {
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
pub struct ZipmapIter<'a> {
    blob: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for ZipmapIter<'a> {
    type Item = Result<(&'a [u8], &'a [u8]), BlobError>;
    fn next(&mut self) -> Option<Self::Item> {
        let _ = (self.blob, self.pos);
        todo!()
    }
}

pub fn encode(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let _ = pairs;
    todo!()
}
