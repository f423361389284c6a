//! One backup, decoded completely: an RDB (plain: memory-mapped; gzip'd: streamed through the
//! decoder, then the gzip trailer checked), a single AOF (gzip'd ones are inflated into memory,
//! as the AOF checker works on bytes) or an `appendonlydir/`.

use std::fs::File;
use std::io::{self, BufReader, Read};

use flate2::read::MultiGzDecoder;
use rdbkit_aof::check::{self, CheckOptions, SingleCheck, Stop};
use rdbkit_aof::multipart::{self, FileData, Role};
use rdbkit_rdb::{ChecksumStatus, Options, RdbFile, RdbParser, RdbReader, Record, RecordSource};

use super::{Backup, Damage, Kind, Outcome};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Full decode: deep validation of every value, the CRC-64 compared.
const DEEP: Options = Options {
    deep: true,
    verify_checksum: true,
    best_effort: false,
};

/// Counts the bytes read through it.
struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        Ok(k)
    }
}

type Gz = Counted<MultiGzDecoder<Counted<BufReader<File>>>>;

fn gz_open(file: File) -> Gz {
    Counted {
        inner: MultiGzDecoder::new(Counted {
            inner: BufReader::with_capacity(256 * 1024, file),
            n: 0,
        }),
        n: 0,
    }
}

/// Compressed bytes consumed so far.
fn gz_in(g: &Gz) -> u64 {
    g.inner.get_ref().n
}

fn damage(offset: Option<u64>, reason: impl Into<String>) -> Option<Damage> {
    Some(Damage {
        file: None,
        offset,
        reason: reason.into(),
    })
}

/// Reads up to `buf.len()` bytes (fewer only at the end of the input).
fn read_head(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(buf.get_mut(n..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn is_rdb_magic(head: &[u8]) -> bool {
    head.starts_with(b"REDIS") || head.starts_with(b"VALKEY")
}

/// Which decoder a file goes to. The content decides; the name only breaks the one tie the
/// content can't: an AOF with an RDB preamble starts like an RDB.
fn kind_of(name: &str, head: &[u8]) -> Option<Kind> {
    let aof_name = name.to_ascii_lowercase().contains(".aof");
    if head.is_empty() {
        return Some(if aof_name { Kind::Aof } else { Kind::Rdb });
    }
    if is_rdb_magic(head) {
        return Some(if aof_name { Kind::Aof } else { Kind::Rdb });
    }
    match head.first() {
        Some(b'*') | Some(b'#') => Some(Kind::Aof),
        _ => None,
    }
}

fn show_head(head: &[u8]) -> String {
    head.iter()
        .map(|&b| {
            if b.is_ascii_graphic() {
                (b as char).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

pub fn verify(b: &Backup) -> Outcome {
    let mut o = verify_decode(b);
    if o.valid() && matches!(o.kind, Some(Kind::Aof) | Some(Kind::AofDir)) {
        super::replay::count_keys(&mut o);
    }
    o
}

fn verify_decode(b: &Backup) -> Outcome {
    let mut o = Outcome::new(b.clone());
    if b.is_dir {
        verify_aof_dir(&mut o);
        return o;
    }
    let path = &b.path;
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            o.damage = damage(None, format!("can't open: {e}"));
            return o;
        }
    };
    o.size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut magic = [0u8; 2];
    let k = match read_head(&mut file, &mut magic) {
        Ok(k) => k,
        Err(e) => {
            o.damage = damage(Some(0), format!("can't read: {e}"));
            return o;
        }
    };
    drop(file);
    o.gzip = k == 2 && magic == GZIP_MAGIC;
    if o.gzip {
        verify_gzip(&mut o);
    } else {
        verify_plain(&mut o);
    }
    o
}

fn verify_plain(o: &mut Outcome) {
    let path = o.backup.path.clone();
    let map = match RdbFile::open(&path) {
        Ok(m) => m,
        Err(e) => {
            o.damage = damage(None, format!("can't read: {e}"));
            return;
        }
    };
    let bytes = map.bytes();
    o.data_bytes = bytes.len() as u64;
    let head = bytes.get(..bytes.len().min(9)).unwrap_or_default();
    match kind_of(&o.backup.name, head) {
        Some(Kind::Rdb) => {
            o.kind = Some(Kind::Rdb);
            if bytes.is_empty() {
                o.damage = damage(Some(0), "empty file: not an RDB (no header)");
                return;
            }
            let mut p = RdbParser::new(bytes, DEEP);
            match scan(&mut p, o) {
                Ok(end) => {
                    let extra = o.data_bytes.saturating_sub(end);
                    if extra > 0 {
                        o.notes
                            .push(format!("{extra} bytes after the end of the RDB (ignored)"));
                    }
                }
                Err(e) => o.damage = damage(Some(e.offset), e.to_string()),
            }
        }
        Some(_) => {
            o.kind = Some(Kind::Aof);
            check_aof_bytes(o, bytes);
        }
        None => {
            o.damage = damage(
                Some(0),
                format!(
                    "neither an RDB nor an AOF: starts with {:?}",
                    show_head(head)
                ),
            )
        }
    }
}

fn verify_gzip(o: &mut Outcome) {
    let path = o.backup.path.clone();
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            o.damage = damage(None, format!("can't open: {e}"));
            return;
        }
    };
    let mut gz = gz_open(file);
    let mut head = [0u8; 9];
    let k = match read_head(&mut gz, &mut head) {
        Ok(k) => k,
        Err(e) => {
            o.damage = gzip_damage(&gz, o.size, &e, None);
            return;
        }
    };
    let head = head.get(..k).unwrap_or_default();
    match kind_of(&o.backup.name, head) {
        Some(Kind::Rdb) => {
            o.kind = Some(Kind::Rdb);
            if head.is_empty() {
                o.damage = damage(Some(0), "empty (gzip'd) file: not an RDB (no header)");
                return;
            }
            let head = head.to_vec();
            let r = {
                let src = io::Cursor::new(head).chain(&mut gz);
                let mut rd = RdbReader::new(src, DEEP);
                scan(&mut rd, o)
            };
            match r {
                Ok(end) => {
                    // The RDB is whole; the rest of the stream must still inflate and match
                    // the gzip CRC-32 and length.
                    let buffered = gz.n.saturating_sub(end);
                    match io::copy(&mut gz, &mut io::sink()) {
                        Ok(rest) => {
                            let extra = buffered + rest;
                            if extra > 0 {
                                o.notes.push(format!(
                                    "{extra} bytes after the end of the RDB (ignored)"
                                ));
                            }
                        }
                        Err(e) => o.damage = gzip_damage(&gz, o.size, &e, Some(RdbAt::Whole(end))),
                    }
                    o.data_bytes = gz.n;
                }
                Err(e) => {
                    o.data_bytes = gz.n;
                    if let rdbkit_rdb::ErrorKind::Io(io_err) = &e.kind {
                        o.damage = gzip_damage(&gz, o.size, io_err, Some(RdbAt::Cut(e.offset)));
                    } else if e.kind.is_out_of_data() {
                        // The decompressed data ended early: say whether gzip itself noticed.
                        let gz_err = io::copy(&mut gz, &mut io::sink()).err();
                        o.damage = match gz_err {
                            Some(ge) => gzip_damage(&gz, o.size, &ge, Some(RdbAt::Cut(e.offset))),
                            None => damage(Some(e.offset), e.to_string()),
                        };
                    } else {
                        o.damage = damage(Some(e.offset), e.to_string());
                    }
                }
            }
        }
        Some(_) => {
            o.kind = Some(Kind::Aof);
            let mut data = head.to_vec();
            if let Err(e) = gz.read_to_end(&mut data) {
                o.data_bytes = gz.n;
                o.damage = gzip_damage(&gz, o.size, &e, None);
                // Still say what the AOF holds up to the cut, for the report.
                return;
            }
            o.data_bytes = data.len() as u64;
            check_aof_bytes(o, &data);
        }
        None => {
            o.data_bytes = gz.n;
            o.damage = damage(
                Some(0),
                format!(
                    "gzip'd data is neither an RDB nor an AOF: starts with {:?}",
                    show_head(head)
                ),
            )
        }
    }
}

/// A failure of the gzip layer: where in the compressed file and in the data.
/// How far the RDB got when the gzip layer failed.
#[derive(Clone, Copy)]
enum RdbAt {
    Cut(u64),
    Whole(u64),
}

fn gzip_damage(gz: &Gz, size: u64, e: &io::Error, rdb_at: Option<RdbAt>) -> Option<Damage> {
    let what = match e.kind() {
        io::ErrorKind::UnexpectedEof => "gzip stream truncated (the compressed file ends early)",
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => "gzip stream damaged",
        _ => "gzip stream can't be read",
    };
    Some(Damage {
        file: None,
        offset: Some(match rdb_at {
            Some(RdbAt::Cut(at)) | Some(RdbAt::Whole(at)) => at,
            None => gz.n,
        }),
        reason: format!(
            "{what}: {e}; read {} of {size} compressed bytes, {} bytes decompressed{}",
            gz_in(gz),
            gz.n,
            match rdb_at {
                Some(RdbAt::Cut(at)) => format!(", the RDB is cut at byte {at}"),
                Some(RdbAt::Whole(at)) => format!(
                    "; the RDB itself is whole (ends at byte {at}) but the gzip trailer \
                     (CRC-32 and length) is missing or wrong"
                ),
                None => String::new(),
            }
        ),
    })
}

/// Records of an RDB into the outcome; returns where the RDB ends (past the trailer).
fn scan(p: &mut impl RecordSource, o: &mut Outcome) -> Result<u64, rdbkit_rdb::Error> {
    let r = scan_records(p, o);
    if let Some(h) = p.header() {
        o.magic = Some(h.magic.to_string());
        o.version = Some(h.version);
    }
    r
}

fn scan_records(p: &mut impl RecordSource, o: &mut Outcome) -> Result<u64, rdbkit_rdb::Error> {
    let mut end = 0;
    while let Some(rec) = p.next_record() {
        match rec? {
            Record::Aux { key, value } => match &key[..] {
                // Valkey writes both; its own name wins.
                b"redis-ver" if !o.writer.as_deref().is_some_and(|w| w.starts_with("valkey")) => {
                    o.writer = Some(format!("redis {}", String::from_utf8_lossy(&value)))
                }
                b"valkey-ver" => {
                    o.writer = Some(format!("valkey {}", String::from_utf8_lossy(&value)))
                }
                b"ctime" => {
                    o.ctime = std::str::from_utf8(&value)
                        .ok()
                        .and_then(|s| s.trim().parse::<i64>().ok())
                }
                _ => {}
            },
            Record::Key(k) => {
                *o.keys.entry(k.db).or_default() += 1;
                if k.expire_ms.is_some() {
                    o.expires += 1;
                }
            }
            Record::Eof {
                checksum, end: e, ..
            } => {
                o.checksum = Some(checksum_text(checksum));
                end = e;
            }
            _ => {}
        }
    }
    Ok(end)
}

fn checksum_text(c: ChecksumStatus) -> String {
    match c {
        ChecksumStatus::Verified(c) => format!("ok {c:016x}"),
        ChecksumStatus::Disabled => "disabled by the writer (rdbchecksum no)".into(),
        ChecksumStatus::NotPresent => "none (RDB version < 5)".into(),
        ChecksumStatus::NotChecked(c) => format!("not checked {c:016x}"),
    }
}

/// Aux fields and key counts of an AOF's RDB part (already validated deeply by the AOF check,
/// so this pass only skips through it).
fn rdb_part_stats(o: &mut Outcome, bytes: &[u8]) {
    let mut p = RdbParser::new(
        bytes,
        Options {
            deep: false,
            verify_checksum: false,
            best_effort: false,
        },
    );
    let checksum = o.checksum.take();
    let _ = scan(&mut p, o);
    if checksum.is_some() {
        o.checksum = checksum;
    }
}

/// Why a strict AOF check failed, and where.
fn aof_problem(c: &SingleCheck, name: &str) -> (Option<u64>, String) {
    match &c.stop {
        Stop::RdbInvalid(e) => (e.offset, format!("the RDB part is not sane: {}", e.message)),
        _ => {
            let (offset, why) = match &c.error {
                Some(e) => (
                    e.offset,
                    e.kind.redis_message(name).unwrap_or_else(|| {
                        "unexpected end of file (a command is cut after a complete line)".into()
                    }),
                ),
                None => (c.ok_up_to, "unexpected end of file".into()),
            };
            (
                Some(offset),
                format!(
                    "AOF not valid (redis-check-aof): {why} at byte {offset}; it is sound up to byte {} of {} \
                     ({} commands), redis-check-aof --fix would cut the last {} bytes",
                    c.ok_up_to,
                    c.size,
                    c.commands,
                    c.diff()
                ),
            )
        }
    }
}

fn check_aof_bytes(o: &mut Outcome, bytes: &[u8]) {
    let preamble = check::is_rdb(bytes);
    let mut line = 1;
    let c = check::check_single(bytes, preamble, true, CheckOptions::default(), &mut line);
    if let Some(r) = &c.rdb {
        o.checksum = Some(checksum_text(r.checksum));
    }
    if preamble && !matches!(c.stop, Stop::RdbInvalid(_)) {
        rdb_part_stats(o, bytes);
    }
    o.commands = Some(c.commands);
    if bytes.is_empty() {
        o.notes.push("empty AOF (valid, holds nothing)".into());
    }
    if !c.is_valid() {
        let (offset, reason) = aof_problem(&c, &o.backup.name);
        o.damage = damage(offset, reason);
    }
}

fn verify_aof_dir(o: &mut Outcome) {
    o.kind = Some(Kind::AofDir);
    let layout = match multipart::resolve(&o.backup.path) {
        Ok(l) => l,
        Err(e) => {
            o.damage = damage(None, format!("can't resolve the AOF data set: {e}"));
            return;
        }
    };
    for f in layout.files() {
        o.size += std::fs::metadata(&f.path).map(|m| m.len()).unwrap_or(0);
    }
    o.data_bytes = o.size;
    if let Some(base) = layout.files().iter().find(|f| f.role == Role::Base) {
        if let Ok(d) = FileData::open(&base.path) {
            if check::is_rdb(d.bytes()) {
                rdb_part_stats(o, d.bytes());
            }
        }
    }
    let v = match check::check_layout(&layout, CheckOptions::default()) {
        Ok(v) => v,
        Err(e) => {
            o.damage = damage(None, e.to_string());
            return;
        }
    };
    o.commands = Some(v.files.iter().map(|f| f.check.commands).sum());
    if let Some(r) = v.files.iter().find_map(|f| f.check.rdb.as_ref()) {
        o.checksum = Some(checksum_text(r.checksum));
    }
    if !v.valid {
        if let Some(f) = v.files.iter().find(|f| !f.check.is_valid()) {
            let (offset, mut reason) = aof_problem(&f.check, &f.file.name);
            if let Some(why) = &v.refusal {
                reason.push_str(&format!(" ({why})"));
            }
            o.damage = Some(Damage {
                file: Some(f.file.name.clone()),
                offset,
                reason,
            });
        } else {
            o.damage = damage(
                None,
                v.refusal.clone().unwrap_or_else(|| "not valid".into()),
            );
        }
    }
}

/// Every key of an RDB backup (plain or gzip'd), decoded with deep validation and the
/// checksums; `f` sees each key record. Errors say where and why.
pub fn for_each_key(
    path: &std::path::Path,
    mut f: impl FnMut(&rdbkit_rdb::KeyRecord<'_>) -> Result<(), String>,
) -> Result<(), String> {
    let name = path.display().to_string();
    let mut file = File::open(path).map_err(|e| format!("{name}: can't open: {e}"))?;
    let mut magic = [0u8; 2];
    let k = read_head(&mut file, &mut magic).map_err(|e| format!("{name}: can't read: {e}"))?;
    drop(file);
    fn drive(
        p: &mut impl RecordSource,
        f: &mut impl FnMut(&rdbkit_rdb::KeyRecord<'_>) -> Result<(), String>,
    ) -> Result<bool, String> {
        while let Some(rec) = p.next_record() {
            match rec.map_err(|e| e.to_string())? {
                Record::Key(k) => f(&k)?,
                Record::Eof { .. } => return Ok(true),
                _ => {}
            }
        }
        Ok(false)
    }
    let done = if k == 2 && magic == GZIP_MAGIC {
        let file = File::open(path).map_err(|e| format!("{name}: can't open: {e}"))?;
        let mut gz = gz_open(file);
        let done = {
            let mut rd = RdbReader::new(&mut gz, DEEP);
            drive(&mut rd, &mut f).map_err(|e| format!("{name}: {e}"))?
        };
        io::copy(&mut gz, &mut io::sink()).map_err(|e| format!("{name}: gzip stream: {e}"))?;
        done
    } else {
        let map = RdbFile::open(path).map_err(|e| format!("{name}: can't read: {e}"))?;
        let mut p = map.parser(DEEP);
        drive(&mut p, &mut f).map_err(|e| format!("{name}: {e}"))?
    };
    if done {
        Ok(())
    } else {
        Err(format!("{name}: the RDB has no EOF record"))
    }
}
