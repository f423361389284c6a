//! A small RDB writer for tests: header, AUX fields, SELECTDB/RESIZEDB, keys of several types
//! written with the crate's own encoders (listpack, intset, LZF), EOF and the CRC-64 trailer.
//! It writes what Redis 7.x writes for the same data (the encodings Redis would pick are not
//! enforced: a small set may be written as a hash table).

use rdbkit_rdb::internals::length::encode_len;
pub use rdbkit_rdb::internals::string::{encode as write_string, encode_blob as write_blob};
use rdbkit_rdb::internals::{crc64, intset, listpack};

use crate::rdb::Ev;

/// One value and the encoding to write it with.
#[derive(Clone, Debug)]
pub enum GenValue {
    /// Type 0; raw, integer-encoded or LZF as Redis would choose (`compress`).
    Str(Vec<u8>),
    /// Type 18 (quicklist 2): listpack nodes of at most `node` elements, LZF'd with `compress`.
    List(Vec<Vec<u8>>, usize),
    /// Type 2 (hash table set).
    Set(Vec<Vec<u8>>),
    /// Type 11.
    Intset(Vec<i64>),
    /// Type 20.
    SetListpack(Vec<Vec<u8>>),
    /// Type 5 (binary scores).
    Zset(Vec<(Vec<u8>, f64)>),
    /// Type 17.
    ZsetListpack(Vec<(Vec<u8>, f64)>),
    /// Type 4.
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    /// Type 16.
    HashListpack(Vec<(Vec<u8>, Vec<u8>)>),
}

#[derive(Clone, Debug)]
pub struct GenKey {
    pub db: u64,
    pub key: Vec<u8>,
    pub expire_ms: Option<i64>,
    pub value: GenValue,
}

#[derive(Clone, Debug)]
pub struct GenFile {
    /// RDB version (10..=12 suit every type above).
    pub version: u32,
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// Written in order; a SELECTDB + RESIZEDB precedes each change of db.
    pub keys: Vec<GenKey>,
    /// LZF-compress strings and quicklist nodes where that saves space (`rdbcompression yes`).
    pub compress: bool,
}

fn score_text(s: f64) -> Vec<u8> {
    // Rust's shortest round-trip form; integral scores become listpack integers like Redis's.
    format!("{s}").into_bytes()
}

impl GenValue {
    pub fn type_byte(&self) -> u8 {
        match self {
            GenValue::Str(_) => 0,
            GenValue::List(..) => 18,
            GenValue::Set(_) => 2,
            GenValue::Intset(_) => 11,
            GenValue::SetListpack(_) => 20,
            GenValue::Zset(_) => 5,
            GenValue::ZsetListpack(_) => 17,
            GenValue::Hash(_) => 4,
            GenValue::HashListpack(_) => 16,
        }
    }

    /// Writes the value (after its type byte and key).
    pub fn write(&self, compress: bool, out: &mut Vec<u8>) {
        match self {
            GenValue::Str(s) => write_string(s, compress, out),
            GenValue::List(items, node) => {
                let chunks: Vec<&[Vec<u8>]> = items.chunks((*node).max(1)).collect();
                encode_len(chunks.len() as u64, out);
                for c in chunks {
                    encode_len(2, out); // PACKED
                    let refs: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
                    write_blob(&listpack::encode(&refs), compress, out);
                }
            }
            GenValue::Set(items) => {
                encode_len(items.len() as u64, out);
                for s in items {
                    write_string(s, compress, out);
                }
            }
            GenValue::Intset(v) => write_blob(&intset::encode(v), compress, out),
            GenValue::SetListpack(items) => {
                let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
                write_blob(&listpack::encode(&refs), compress, out);
            }
            GenValue::Zset(items) => {
                encode_len(items.len() as u64, out);
                for (m, s) in items {
                    write_string(m, compress, out);
                    out.extend_from_slice(&s.to_le_bytes());
                }
            }
            GenValue::ZsetListpack(items) => {
                let texts: Vec<Vec<u8>> = items.iter().map(|(_, s)| score_text(*s)).collect();
                let mut refs: Vec<&[u8]> = Vec::new();
                for ((m, _), t) in items.iter().zip(&texts) {
                    refs.push(m);
                    refs.push(t);
                }
                write_blob(&listpack::encode(&refs), compress, out);
            }
            GenValue::Hash(items) => {
                encode_len(items.len() as u64, out);
                for (f, v) in items {
                    write_string(f, compress, out);
                    write_string(v, compress, out);
                }
            }
            GenValue::HashListpack(items) => {
                let mut refs: Vec<&[u8]> = Vec::new();
                for (f, v) in items {
                    refs.push(f);
                    refs.push(v);
                }
                write_blob(&listpack::encode(&refs), compress, out);
            }
        }
    }

    /// What a decoder's visitor must see, in order.
    pub fn events(&self) -> Vec<Ev> {
        match self {
            GenValue::Str(s) => vec![Ev::Str(s.clone())],
            GenValue::List(items, _) | GenValue::Set(items) | GenValue::SetListpack(items) => {
                items.iter().map(|s| Ev::Elem(s.clone())).collect()
            }
            GenValue::Intset(v) => v
                .iter()
                .map(|i| Ev::Elem(i.to_string().into_bytes()))
                .collect(),
            GenValue::Zset(items) | GenValue::ZsetListpack(items) => items
                .iter()
                .map(|(m, s)| Ev::Zset(m.clone(), s.to_bits()))
                .collect(),
            GenValue::Hash(items) | GenValue::HashListpack(items) => items
                .iter()
                .map(|(f, v)| Ev::Field(f.clone(), v.clone(), None))
                .collect(),
        }
    }
}

impl GenFile {
    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("REDIS{:04}", self.version).into_bytes();
        for (k, v) in &self.aux {
            out.push(250);
            write_string(k, false, &mut out);
            write_string(v, false, &mut out);
        }
        let mut db = None;
        for k in &self.keys {
            if db != Some(k.db) {
                db = Some(k.db);
                out.push(254);
                encode_len(k.db, &mut out);
                let n = self.keys.iter().filter(|x| x.db == k.db).count() as u64;
                let e = self
                    .keys
                    .iter()
                    .filter(|x| x.db == k.db && x.expire_ms.is_some())
                    .count() as u64;
                out.push(251);
                encode_len(n, &mut out);
                encode_len(e, &mut out);
            }
            if let Some(t) = k.expire_ms {
                out.push(252);
                out.extend_from_slice(&t.to_le_bytes());
            }
            out.push(k.value.type_byte());
            write_string(&k.key, self.compress, &mut out);
            k.value.write(self.compress, &mut out);
        }
        out.push(255);
        let crc = crc64::crc64(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }
}
