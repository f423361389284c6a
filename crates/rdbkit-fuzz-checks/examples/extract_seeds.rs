//! Writes fuzz seeds from real files: `extract_seeds OUT_DIR FILE...`.
//!
//! RDB files become seeds of `rdb_file`, and every key also yields the inputs of the
//! single-value and compact-encoding targets (its type + payload, its listpack/ziplist/intset/
//! zipmap blob, its quicklist, its stream nodes, its LZF strings). AOF files feed the RESP, check
//! and fix targets; manifests the manifest target. Seeds are named by a hash of their bytes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rdbkit_fuzz_checks::rdb::version_index;
use rdbkit_rdb::internals::length::read_len;
use rdbkit_rdb::internals::string::{read_string, RdbString};
use rdbkit_rdb::internals::Cursor;
use rdbkit_rdb::{Magic, Options, RdbParser, Record, Type};

/// At most this many seeds per target (counting those already there): the first pass over
/// the seeds must stay short in CI.
const CAP: usize = 1000;
/// Whole files larger than this are not seeds (they would slow every run).
const MAX_FILE: usize = 256 * 1024;

struct Out {
    dir: PathBuf,
    counts: HashMap<&'static str, usize>,
}

impl Out {
    fn put(&mut self, target: &'static str, data: &[u8]) {
        if data.is_empty() || data.len() > MAX_FILE {
            return;
        }
        let dir = self.dir.join(target);
        let n = self
            .counts
            .entry(target)
            .or_insert_with(|| std::fs::read_dir(&dir).map_or(0, |d| d.count()));
        if *n >= CAP {
            return;
        }
        // FNV-1a: a stable name, so re-running does not duplicate seeds.
        let mut h: u64 = 0xcbf29ce484222325;
        for &b in data {
            h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
        }
        let path = dir.join(format!("{h:016x}"));
        if path.exists() {
            return;
        }
        if std::fs::create_dir_all(&dir)
            .and_then(|_| std::fs::write(&path, data))
            .is_ok()
        {
            *n += 1;
        }
    }
}

fn lzf_seed(out: &mut Out, s: RdbString<'_>) {
    if let RdbString::Lzf { compressed, len } = s {
        if let Ok(n) = u16::try_from(len) {
            let mut v = n.to_le_bytes().to_vec();
            v.extend_from_slice(compressed);
            out.put("lzf", &v);
        }
    }
}

fn blob_bytes(s: RdbString<'_>, at: u64) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    s.bytes_in(&mut buf, at).ok().map(<[u8]>::to_vec)
}

fn rdb(out: &mut Out, data: &[u8]) {
    out.put("rdb_file", data);
    let mut p = RdbParser::new(
        data,
        Options::default()
            .deep(false)
            .verify_checksum(false)
            .best_effort(true),
    );
    let Ok(h) = p.read_header() else { return };
    let version = version_index(h.magic == Magic::Valkey, h.version);
    while let Some(rec) = p.next() {
        let Ok(rec) = rec else { break };
        let Record::Key(k) = rec else { continue };
        let v = k.value;
        let raw = v.raw();
        let mut seed = vec![version, v.type_byte];
        seed.extend_from_slice(raw);
        out.put("rdb_value", &seed);
        if raw.len() < 64 {
            out.put("encodings", raw);
        }
        if let Some(s) = v.string() {
            lzf_seed(out, s);
        }
        if let Some(b) = v.blob() {
            lzf_seed(out, b);
            if let Some(bytes) = blob_bytes(b, v.offset()) {
                let target = match v.ty {
                    Type::HashZipmap => "zipmap",
                    Type::SetIntset => "intset",
                    Type::ListZiplist | Type::ZsetZiplist | Type::HashZiplist => "ziplist",
                    _ => "listpack",
                };
                out.put(target, &bytes);
            }
        }
        if let Some(Ok(nodes)) = v.quicklist_nodes() {
            let v2 = v.ty == Type::ListQuicklist2;
            let mut seed = vec![u8::from(v2)];
            seed.extend_from_slice(raw);
            out.put("quicklist", &seed);
            for n in nodes.flatten() {
                lzf_seed(out, n.data);
                if n.container == 2 {
                    if let Some(bytes) = blob_bytes(n.data, n.offset) {
                        out.put(if v2 { "listpack" } else { "ziplist" }, &bytes);
                    }
                }
            }
        }
        if v.ty == Type::Module2 {
            out.put("module", raw);
        }
        if v.ty.family() == "stream" {
            // Node count, then (16-byte key, listpack) per node.
            let mut c = Cursor::new(raw, v.offset());
            let n = read_len(&mut c, "nodes").unwrap_or(0).min(64);
            for _ in 0..n {
                let (Ok(key), at, Ok(lp)) = (
                    read_string(&mut c, "key"),
                    c.offset(),
                    read_string(&mut c, "lp"),
                ) else {
                    break;
                };
                lzf_seed(out, lp);
                if let (RdbString::Raw(key), Some(lp)) = (key, blob_bytes(lp, at)) {
                    let mut seed = key.to_vec();
                    seed.extend_from_slice(&lp);
                    out.put("stream_node", &seed);
                }
            }
        }
    }
}

fn file(out: &mut Out, path: &Path) {
    let Ok(data) = std::fs::read(path) else {
        return;
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.ends_with(".manifest") {
        out.put("aof_manifest", &data);
        return;
    }
    let is_rdb = data.starts_with(b"REDIS") || data.starts_with(b"VALKEY");
    if is_rdb {
        rdb(out, &data);
    }
    let is_aof = name.contains(".aof") || data.first() == Some(&b'*');
    if is_aof {
        for t in ["resp", "aof_check", "aof_fix"] {
            out.put(t, &data);
        }
    }
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: extract_seeds OUT_DIR FILE...");
        std::process::exit(2);
    };
    let mut out = Out {
        dir: PathBuf::from(dir),
        counts: HashMap::new(),
    };
    for f in args {
        file(&mut out, Path::new(&f));
    }
    let mut counts: Vec<_> = out.counts.into_iter().collect();
    counts.sort();
    for (t, n) in counts {
        println!("{t}: {n} seeds");
    }
}
