//! `rdbkit dump --format resp --restore`: one `RESTORE key ttl payload REPLACE ABSTTL
//! [IDLETIME s | FREQ n]` per key, the payload a DUMP of the value for the target's RDB version
//! (the stored bytes when the target reads that encoding, re-encoded otherwise), falling back
//! to the commands of `--format resp` for a key whose payload the target cannot take.

use std::io::{self, Write};

use rdbkit_rdb::write::{dump_payload, dump_payload_raw, loss, strip, Loss, Target};
use rdbkit_rdb::{Record, RecordSource, Scratch};

use crate::resp_out::{DumpFail, RespWriter, Skipped};

/// Redis's default `proto-max-bulk-len` (512 MB): a larger payload is sent as commands.
const MAX_PAYLOAD: usize = 512 << 20;

/// What `dump_restore` wrote.
pub struct Restored {
    /// Keys written as RESTORE.
    pub restored: u64,
    /// Keys written as commands (the target cannot take their payload).
    pub fallback: u64,
    /// Streams whose metadata the target's stream format has no place for (7.0+ first and
    /// max-deleted IDs, entries added and read; consumer active times): restored without it,
    /// as the target's own commands could not set it either.
    pub stream_meta: u64,
    /// Keys neither could write.
    pub skipped: Skipped,
}

/// Streams RESTORE commands for every key `filter` accepts. `target`: the payload version
/// (default: each key's own file version).
#[allow(clippy::too_many_arguments)]
pub fn dump_restore<S: RecordSource + ?Sized>(
    src: &mut S,
    filter: &crate::filter::Filter,
    out: &mut dyn Write,
    max_bytes: usize,
    max_items: usize,
    functions: bool,
    target: Option<Target>,
) -> Result<Restored, DumpFail> {
    let mut w = RespWriter::new(out, max_bytes, max_items);
    let mut scratch = Scratch::new();
    let mut r = Restored {
        restored: 0,
        fallback: 0,
        stream_meta: 0,
        skipped: Skipped {
            modules: 0,
            arrays: 0,
        },
    };
    let wr = DumpFail::Write;
    while let Some(rec) = src.next_record() {
        match rec.map_err(DumpFail::Rdb)? {
            Record::Key(k) => {
                let v = &k.value;
                if !filter.accepts_key(&k) {
                    continue;
                }
                let t = target
                    .or_else(|| Target::by_version(v.dialect.magic, v.dialect.version))
                    .unwrap_or_else(|| Target::by_name("rdb-6").expect("rdb-6"));
                let payload = if t.reads(v.ty, v.type_byte) {
                    Some(dump_payload_raw(v.type_byte, v.raw(), &t))
                } else {
                    let mut owned = v
                        .to_owned_value_in(&mut scratch)
                        .map_err(|e| DumpFail::Rdb(e.in_key(Some(k.db), k.key)))?;
                    if loss(&owned, &t) == Some(Loss::StreamMeta) {
                        strip(&mut owned, &t);
                        r.stream_meta += 1;
                    }
                    match loss(&owned, &t) {
                        None => dump_payload(&owned, &t, true).ok(),
                        Some(_) => None,
                    }
                };
                match payload.filter(|p| p.len() <= MAX_PAYLOAD) {
                    Some(p) => {
                        w.select(k.db).map_err(wr)?;
                        restore_cmd(&mut w, &t, k.key, k.expire_ms, k.lru_idle, k.lfu_freq, &p)
                            .map_err(wr)?;
                        r.restored += 1;
                    }
                    None => {
                        let m =
                            crate::model::from_record(&k, &mut scratch).map_err(DumpFail::Rdb)?;
                        let before = (w.skipped_modules, w.skipped_arrays);
                        w.key(k.db, k.key, &m).map_err(wr)?;
                        if before == (w.skipped_modules, w.skipped_arrays) {
                            r.fallback += 1;
                        }
                    }
                }
            }
            Record::Function { code } if functions => w.function(&code).map_err(wr)?,
            _ => {}
        }
    }
    w.flush().map_err(wr)?;
    r.skipped = Skipped {
        modules: w.skipped_modules,
        arrays: w.skipped_arrays,
    };
    Ok(r)
}

fn restore_cmd<W: Write>(
    w: &mut RespWriter<W>,
    t: &Target,
    key: &[u8],
    expire_ms: Option<i64>,
    idle: Option<u64>,
    freq: Option<u8>,
    payload: &[u8],
) -> io::Result<()> {
    // ABSTTL, IDLETIME and FREQ came with Redis 5.0 (RDB 9).
    let modern = t.is_valkey() || t.version >= 9;
    let ttl = match expire_ms {
        Some(e) if modern => e.max(0).to_string(),
        _ => "0".to_string(),
    };
    let mut args: Vec<Vec<u8>> = vec![
        b"RESTORE".to_vec(),
        key.to_vec(),
        ttl.into_bytes(),
        payload.to_vec(),
        b"REPLACE".to_vec(),
    ];
    if modern {
        if expire_ms.is_some() {
            args.push(b"ABSTTL".to_vec());
        }
        if let Some(i) = idle {
            args.push(b"IDLETIME".to_vec());
            args.push(i.to_string().into_bytes());
        } else if let Some(f) = freq {
            args.push(b"FREQ".to_vec());
            args.push(f.to_string().into_bytes());
        }
    }
    w.cmd(&args)?;
    if let (Some(e), false) = (expire_ms, modern) {
        w.cmd(&[
            b"PEXPIREAT".to_vec(),
            key.to_vec(),
            e.to_string().into_bytes(),
        ])?;
    }
    Ok(())
}
