//! One stream node: master ID + listpack.
use crate::entry::{BlobError, Entry};
use crate::listpack::Listpack;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub fn from_be_bytes(b: &[u8; 16]) -> Self {
        let (ms, seq) = b.split_at(8);
        StreamId {
            ms: u64::from_be_bytes(ms.try_into().unwrap_or([0; 8])),
            seq: u64::from_be_bytes(seq.try_into().unwrap_or([0; 8])),
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct StreamNode<'a> {
    lp: Listpack<'a>,
    master: StreamId,
}

impl<'a> StreamNode<'a> {
    pub fn new(master_key: &'a [u8], lp: Listpack<'a>) -> Result<Self, BlobError> {
        let _ = (master_key, lp);
        todo!()
    }
    pub fn master_id(&self) -> StreamId {
        self.master
    }
    pub fn count(&self) -> u64 {
        todo!()
    }
    pub fn deleted(&self) -> u64 {
        todo!()
    }
    pub fn entries(&self) -> StreamEntries<'a> {
        let _ = self.lp;
        todo!()
    }
    pub fn validate(&self) -> Result<(), BlobError> {
        todo!()
    }
}

#[derive(Clone, Debug)]
pub struct StreamEntries<'a> {
    lp: Listpack<'a>,
}

impl<'a> Iterator for StreamEntries<'a> {
    type Item = Result<StreamEntry<'a>, BlobError>;
    fn next(&mut self) -> Option<Self::Item> {
        let _ = self.lp;
        todo!()
    }
}

#[derive(Clone, Debug)]
pub struct StreamEntry<'a> {
    pub id: StreamId,
    pub deleted: bool,
    lp: Listpack<'a>,
}

impl<'a> StreamEntry<'a> {
    pub fn fields(&self) -> impl Iterator<Item = Result<(Entry<'a>, Entry<'a>), BlobError>> + 'a {
        let _ = self.lp;
        std::iter::empty()
    }
    pub fn num_fields(&self) -> usize {
        todo!()
    }
}

#[allow(clippy::type_complexity)]
pub fn encode_node(
    master: StreamId,
    entries: &[(StreamId, bool, Vec<(Vec<u8>, Vec<u8>)>)],
) -> (Vec<u8>, Vec<u8>) {
    let _ = (master, entries);
    todo!()
}
