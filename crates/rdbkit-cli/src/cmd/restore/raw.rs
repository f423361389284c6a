//! `restore --sync`'s raw path: a backup the server reads as it is (a plain RDB file of a
//! version and fork the server loads, no filter, nothing to convert) is sent byte for byte from
//! its map, while the deep check of the same file (`rdbkit check`'s, the library's
//! [`rdbkit_rdb::parallel::check_counting`]) runs beside it. The end of the transfer — the
//! 40-byte EOF mark, or the last byte of a length-prefixed bulk — is sent only once the check
//! has passed: a replica loads nothing (and keeps its data) until the whole RDB has arrived, so
//! a damaged backup is refused with the server unchanged. A record the server would not read as
//! stored (a type the conversion re-encodes, a pre-GA function) ends the raw transfer the same
//! way, before its end; the caller then converts (the server reconnects by itself).

use std::io::Write;
use std::net::Shutdown;

use rdbkit_rdb::write::Target;
use rdbkit_rdb::{Magic, RdbFile, Record};

use crate::cmd::convert::Summary;
use crate::failure::Failure;
use crate::filter::FilterArgs;

/// Bytes written to the socket between two looks at Ctrl-C and the check.
const CHUNK: usize = 4 << 20;

/// Why the backup goes through the conversion rather than as it is, or `None` (raw). Decided
/// before `REPLICAOF`, from the arguments and the file's header.
pub(super) fn converted_because(
    no_checksum: bool,
    user_filter: &FilterArgs,
    header: Option<(Magic, u32)>,
    compressed: bool,
    target: &Target,
    forced: bool,
) -> Option<String> {
    let Some((magic, version)) = header else {
        return Some(if compressed {
            "a compressed input (decompressed and converted)".into()
        } else {
            "not a plain RDB file (a stream, an AOF or an archive)".into()
        });
    };
    if forced {
        return Some("--target given".into());
    }
    if crate::cmd::convert::filter_active(user_filter) {
        return Some("a filter is given".into());
    }
    if no_checksum {
        return Some("--no-checksum (the conversion writes a sound CRC-64)".into());
    }
    if !server_reads(target, magic, version) {
        return Some(format!(
            "the server reads {} files, not {}{version}",
            target.name,
            match magic {
                Magic::Redis => "REDIS",
                Magic::Valkey => "VALKEY",
            }
        ));
    }
    None
}

/// True when a server of `target` loads a file of this magic and version (an older Redis
/// version, or its own).
fn server_reads(target: &Target, magic: Magic, version: u32) -> bool {
    match (target.magic, magic) {
        (Magic::Redis, Magic::Redis) => version <= target.version,
        // Valkey 9 reads Redis files up to RDB 11 and its own.
        (Magic::Valkey, Magic::Redis) => version <= 11,
        (Magic::Valkey, Magic::Valkey) => version <= target.version,
        (Magic::Redis, Magic::Valkey) => false,
    }
}

/// The magic and version of a mapped RDB file's header (`None`: not an RDB's header).
pub(super) fn header_of(file: &RdbFile) -> Result<(Magic, u32), rdbkit_rdb::Error> {
    let mut p = rdbkit_rdb::RdbParser::new(file.bytes(), rdbkit_rdb::Options::default());
    let h = p.read_header()?;
    Ok((h.magic, h.version))
}

/// What the check found.
#[derive(Default)]
struct Tally {
    /// Keys per db, all of them (a replica loads keys already expired too).
    per_db: Vec<(u64, u64)>,
    keys: u64,
    /// Keys whose expiry has passed (`now_ms`): sent, and deleted by the server as it expires
    /// keys once a master again.
    expired: u64,
    functions: u64,
    /// The first record the server would not read as stored.
    not_as_stored: Option<String>,
}

impl Tally {
    fn count(&mut self, db: u64, n: u64) {
        self.keys += n;
        match self.per_db.last_mut() {
            Some((d, k)) if *d == db => *k += n,
            _ => match self.per_db.iter_mut().find(|(d, _)| *d == db) {
                Some((_, k)) => *k += n,
                None => self.per_db.push((db, n)),
            },
        }
    }
}

/// How a raw transfer ended.
pub(super) enum Raw {
    /// Sent whole and checked: what was sent (`per_db` holds every key, expired ones too).
    Done { sum: Summary, expired: u64 },
    /// The check found a record the server would not read as stored: the link was closed before
    /// the end of the transfer; convert instead.
    Convert(String),
}

/// How the replica takes the RDB.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Framing {
    /// `$EOF:<mark>\r\n`, the RDB, the mark (`capa eof`).
    Eof,
    /// `$<len>\r\n` and the RDB.
    Bulk,
}

/// The head of a transfer of `len` bytes (`mark`: the 40 characters of the EOF mark), and its
/// tail: what is held back until the check has passed (the mark, or the RDB's last byte — a
/// bulk's body then ends with `rdb[len - hold..]`).
pub(super) fn framing(framing: Framing, len: u64, mark: &str) -> (Vec<u8>, usize) {
    match framing {
        Framing::Eof => (format!("$EOF:{mark}\r\n").into_bytes(), 0),
        Framing::Bulk => (format!("${len}\r\n").into_bytes(), 1.min(len as usize)),
    }
}

/// What [`send`] needs besides the socket and the file.
pub(super) struct Send<'a> {
    /// How errors name the backup.
    pub(super) name: &'a str,
    pub(super) framing: Framing,
    /// The EOF mark's 40 characters.
    pub(super) mark: &'a str,
    /// The server's RDB version (what it reads as stored).
    pub(super) target: &'a Target,
    /// Keys expiring before this (Unix ms) are counted as expired.
    pub(super) now_ms: i64,
    /// Threads of the deep check.
    pub(super) threads: usize,
}

/// Sends `file` to the replica on `out` (after `+FULLRESYNC`, sent by the caller) with
/// `how.framing`, the deep check beside it; the end goes only once the check passed. On a
/// failed check (or a record not read as stored) the socket is shut down first.
pub(super) fn send(
    out: &mut std::net::TcpStream,
    file: &RdbFile,
    how: &Send<'_>,
) -> Result<Raw, Failure> {
    let Send {
        name,
        framing: fr,
        mark,
        target,
        now_ms,
        threads,
    } = *how;
    let data = file.bytes();
    let io = |e: std::io::Error| Failure::Server(format!("sending the RDB to the server: {e}"));
    let (head, hold) = framing(fr, data.len() as u64, mark);
    let (checked, sent) = std::thread::scope(|s| {
        let checker = s.spawn(|| check(data, name, target, now_ms, threads));
        let sent = (|| {
            out.write_all(&head).map_err(io)?;
            let body = &data[..data.len() - hold];
            for chunk in body.chunks(CHUNK) {
                if crate::cmd::convert::interrupted() {
                    return Err(Failure::Interrupted(
                        "interrupted while sending the RDB (its end was not sent: the server \
                         discards what it received)"
                            .into(),
                    ));
                }
                out.write_all(chunk).map_err(io)?;
            }
            Ok(())
        })();
        (checker.join(), sent)
    });
    let checked = checked.unwrap_or_else(|_| {
        Err(Failure::Damaged(format!(
            "{name}: the check stopped unexpectedly"
        )))
    });
    let abort = |out: &mut std::net::TcpStream| {
        // Before the end of the transfer: the replica discards what it received.
        let _ = out.shutdown(Shutdown::Both);
    };
    let tally = match checked {
        Err(f) => {
            abort(out);
            return Err(f);
        }
        Ok(t) => t,
    };
    if let Err(f) = sent {
        abort(out);
        return Err(f);
    }
    // A file truncated under the map: that, not what was read (and sent) from it.
    if let Err(e) = file.check_unchanged() {
        abort(out);
        return Err(Failure::Damaged(format!("{name}: {e}")));
    }
    if let Some(why) = tally.not_as_stored {
        abort(out);
        return Ok(Raw::Convert(why));
    }
    // The check passed: the end of the transfer.
    out.write_all(&data[data.len() - hold..]).map_err(io)?;
    if fr == Framing::Eof {
        out.write_all(mark.as_bytes()).map_err(io)?;
    }
    out.flush().map_err(io)?;
    let mut sum = Summary::default();
    sum.keys_written = tally.keys - tally.expired;
    sum.functions = tally.functions;
    sum.bytes = data.len() as u64;
    sum.per_db = tally.per_db;
    Ok(Raw::Done {
        sum,
        expired: tally.expired,
    })
}

/// The deep check of `data` (`rdbkit check`'s verdict: same error, same offset, same key),
/// counting keys per db and noting the first record the server would not read as stored.
fn check(
    data: &[u8],
    name: &str,
    target: &Target,
    now_ms: i64,
    threads: usize,
) -> Result<Tally, Failure> {
    let opts = rdbkit_rdb::Options::default()
        .deep(true)
        .verify_checksum(true);
    let tally = std::cell::RefCell::new(Tally::default());
    let (_, r) = rdbkit_rdb::parallel::check_counting(
        data,
        opts,
        threads,
        |rec| {
            let mut t = tally.borrow_mut();
            match rec {
                Record::Key(k) => {
                    t.count(k.db, 1);
                    if k.expire_ms.is_some_and(|e| e <= now_ms) {
                        t.expired += 1;
                    }
                    if t.not_as_stored.is_none() && !target.reads(k.value.ty, k.value.type_byte) {
                        t.not_as_stored = Some(format!(
                            "{:?} at byte {} is not read as stored by {}",
                            k.value.ty, k.offset, target.name
                        ));
                    }
                }
                Record::Function { .. } => t.functions += 1,
                Record::FunctionPreGa { .. } if t.not_as_stored.is_none() => {
                    t.not_as_stored = Some(
                        "a Redis 7.0 release-candidate function (no GA server loads it)".into(),
                    )
                }
                _ => {}
            }
        },
        |db, n| tally.borrow_mut().count(db, n),
    );
    r.map_err(|e| Failure::Damaged(format!("{name}: {e}")))?;
    Ok(tally.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    fn sample() -> (std::path::PathBuf, RdbFile) {
        let p =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rdb/sample.rdb");
        let f = RdbFile::open(&p).unwrap();
        (p, f)
    }

    /// Sends `file` raw and returns what the replica's side of the socket received.
    fn sent(file: &RdbFile, fr: Framing, mark: &str) -> (Result<Raw, Failure>, Vec<u8>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut stream, _) = l.accept().unwrap();
        let reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = client.read_to_end(&mut v);
            v
        });
        let t = Target::by_name("rdb-12").unwrap();
        let how = Send {
            name: "x",
            framing: fr,
            mark,
            target: &t,
            now_ms: 0,
            threads: 2,
        };
        let r = send(&mut stream, file, &how);
        drop(stream);
        (r, reader.join().unwrap())
    }

    /// The EOF-marker framing: `$EOF:<mark>\r\n`, the file's bytes as they are, the mark; the
    /// length-prefixed one: `$<size>\r\n` and the bytes. The summary counts the file's keys.
    #[test]
    fn eof_marker_and_bulk_framing_carry_the_file_as_it_is() {
        let (_, f) = sample();
        let mark = "a".repeat(40);
        let (r, got) = sent(&f, Framing::Eof, &mark);
        let Ok(Raw::Done { sum, .. }) = r else {
            panic!("sent")
        };
        let mut want = format!("$EOF:{mark}\r\n").into_bytes();
        want.extend_from_slice(f.bytes());
        want.extend_from_slice(mark.as_bytes());
        assert_eq!(got, want);
        assert_eq!(sum.bytes, f.bytes().len() as u64);
        assert!(sum.keys_written > 0);
        let (r, got) = sent(&f, Framing::Bulk, &mark);
        assert!(matches!(r, Ok(Raw::Done { .. })));
        let mut want = format!("${}\r\n", f.bytes().len()).into_bytes();
        want.extend_from_slice(f.bytes());
        assert_eq!(got, want);
    }

    /// A damaged file (a byte of the CRC-64 trailer changed): the check fails and the end of
    /// the transfer is never sent — no mark after the body, and a bulk one byte short.
    #[test]
    fn a_damaged_file_never_gets_its_end() {
        let (_, f) = sample();
        let mut bytes = f.bytes().to_vec();
        let n = bytes.len();
        bytes[n - 1] ^= 0xff;
        let f = RdbFile::from_bytes(bytes.clone());
        let mark = "b".repeat(40);
        let (r, got) = sent(&f, Framing::Eof, &mark);
        match r {
            Err(Failure::Damaged(m)) => assert!(m.contains("x:"), "{m}"),
            _ => panic!("refused"),
        }
        assert!(!got.ends_with(mark.as_bytes()));
        assert!(got.len() <= 47 + n);
        let (r, got) = sent(&f, Framing::Bulk, &mark);
        assert!(matches!(r, Err(Failure::Damaged(_))));
        let head = format!("${n}\r\n");
        assert!(got.starts_with(head.as_bytes()));
        assert!(got.len() < head.len() + n, "the last byte held back");
    }

    #[test]
    fn which_files_a_server_reads_as_they_are() {
        let r10 = Target::by_name("redis-7.0").unwrap();
        let v81 = Target::by_name("valkey-8.1").unwrap();
        let v90 = Target::by_name("valkey-9.0").unwrap();
        assert!(server_reads(&r10, Magic::Redis, 10));
        assert!(server_reads(&r10, Magic::Redis, 6));
        assert!(!server_reads(&r10, Magic::Redis, 11));
        assert!(server_reads(&v81, Magic::Redis, 11));
        assert!(!server_reads(&v81, Magic::Redis, 12));
        assert!(!server_reads(&v81, Magic::Valkey, 80));
        assert!(server_reads(&v90, Magic::Valkey, 80));
        assert!(server_reads(&v90, Magic::Redis, 11));
        assert!(!server_reads(&r10, Magic::Valkey, 80));
    }
}
