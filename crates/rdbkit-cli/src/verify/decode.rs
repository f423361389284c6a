//! One backup, decoded completely: an RDB (a plain file: memory-mapped; compressed or read
//! from a pipe: streamed through the decoder, then the compressed stream read to its end), a
//! single AOF (streams are read into memory, as the AOF checker works on bytes), an
//! `appendonlydir/`, or a tar archive of any of them (each backup inside gets its own verdict).
//! The kind comes from the content, through the one sniffer in [`crate::input`].

use std::io::{self, Read};
use std::path::Path;

use rdbkit_aof::check::{self, CheckOptions, SingleCheck, Stop};
use rdbkit_aof::multipart::{self, FileData, Role};
use rdbkit_rdb::{ChecksumStatus, Options, RdbFile, RdbParser, RdbReader, Record, RecordSource};

use super::replay::{self, KeySrc};
use super::tee;
use super::{Backup, Damage, Kind, Outcome};
use crate::archive::{self, Found};
use crate::input::{self, Codec, Rest, Sniffed};

/// Full decode: deep validation of every value, the CRC-64 compared.
const DEEP: Options = Options::new()
    .deep(true)
    .verify_checksum(true)
    .best_effort(false);

/// The pass over an AOF's RDB part for its aux fields and counts (already validated deeply by
/// the AOF check).
const SHALLOW: Options = Options::new()
    .deep(false)
    .verify_checksum(false)
    .best_effort(false);

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

fn damage(offset: Option<u64>, reason: impl Into<String>) -> Option<Damage> {
    Some(Damage {
        file: None,
        offset,
        reason: reason.into(),
    })
}

fn show_head(head: &[u8]) -> String {
    head.iter()
        .take(16)
        .map(|&b| {
            if b.is_ascii_graphic() {
                (b as char).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

/// The verdicts on one backup: one, or one per backup inside an archive.
pub fn verify(b: &Backup) -> Vec<Outcome> {
    verify_decode(b)
}

fn verify_decode(b: &Backup) -> Vec<Outcome> {
    let mut o = Outcome::new(b.clone());
    if b.is_dir {
        verify_aof_dir(&mut o, &b.path);
        replay::count_keys(&mut o, KeySrc::Path(&b.path));
        return vec![o];
    }
    let s = match input::sniff(&b.path) {
        Ok(s) => s,
        Err(e) => {
            o.damage = damage(None, format!("can't read: {e}"));
            return vec![o];
        }
    };
    o.size = s.size.unwrap_or(0);
    o.gzip = s.codec == Some(Codec::Gzip);
    if let Some(c) = s.codec.filter(|c| *c != Codec::Gzip) {
        o.notes.push(format!("{}-compressed", c.name()));
    }
    if archive::is_tar(&s.head) {
        return verify_archive(o, s);
    }
    if s.head.is_empty() {
        if let Rest::Compressed(mut d) = s.rest {
            if let Err(e) = d.finish() {
                o.damage = damage(Some(0), e.to_string());
                return vec![o];
            }
        }
        return empty_outcome(o, s.codec);
    }
    verify_content(o, s)
}

/// Nothing proves an empty backup restorable: a copy that failed looks the same.
fn empty_outcome(mut o: Outcome, codec: Option<Codec>) -> Vec<Outcome> {
    o.damage = damage(
        Some(0),
        match codec {
            Some(c) => format!(
                "the data decompresses to nothing: no RDB header, no AOF command ({} stream of \
                 {} bytes holding 0 bytes)",
                c.name(),
                o.size
            ),
            None => "empty file (0 bytes): no RDB header, no AOF command — not a backup (a \
                     compressed file is never empty either: `gzip -t` says unexpected end of \
                     file)"
                .to_string(),
        },
    );
    vec![o]
}

fn verify_content(mut o: Outcome, s: Sniffed) -> Vec<Outcome> {
    let b = o.backup.clone();
    let what = match s.codec {
        Some(c) => format!("{}'d data", c.name()),
        None => "the file".to_string(),
    };
    match (input::kind_of(&s.head), s.codec.is_none() && s.regular) {
        (Some(input::Kind::Rdb), true) => verify_plain_rdb(&mut o),
        (Some(input::Kind::Aof), true) => {
            o.kind = Some(Kind::Aof);
            match RdbFile::open(&b.path) {
                Ok(map) => {
                    o.data_bytes = map.bytes().len() as u64;
                    check_aof_bytes(&mut o, map.bytes());
                    replay::count_keys(&mut o, KeySrc::Bytes(map.bytes()));
                    // Truncated while it was read: whatever was read is not the file.
                    if let Err(e) = map.check_unchanged() {
                        o.damage = damage(Some(e.offset), e.to_string());
                    }
                }
                Err(e) => o.damage = damage(None, format!("can't read: {e}")),
            }
        }
        (Some(input::Kind::Manifest | input::Kind::Dir), true) => {
            verify_aof_dir(&mut o, &b.path);
            replay::count_keys(&mut o, KeySrc::Path(&b.path));
        }
        (Some(input::Kind::Rdb), false) => verify_stream_rdb(&mut o, s),
        (Some(input::Kind::Aof), false) => {
            o.kind = Some(Kind::Aof);
            verify_stream_aof(&mut o, s);
        }
        (Some(input::Kind::Manifest | input::Kind::Dir), false) => {
            o.damage = damage(
                Some(0),
                format!("{what} is an AOF manifest: it names files beside it; give the appendonlydir/ or an archive of it"),
            )
        }
        (None, _) => {
            o.damage = damage(
                Some(0),
                format!(
                    "{what} is neither an RDB nor an AOF nor a tar archive: starts with {:?}",
                    show_head(&s.head)
                ),
            )
        }
    }
    vec![o]
}

/// A single AOF read as a stream (compressed, or from a pipe), in one pass: checked as a
/// stream (`check_part_stream`: the verdict of [`check_aof_bytes`] on its bytes held whole)
/// while its RDB part's aux fields and counts are read and the whole AOF replayed (the keys of
/// a sound one), on another thread; neither holds it (beyond the check's hold of an RDB
/// preamble, see `cmd::aof::hold_rdb_part`).
fn verify_stream_aof(o: &mut Outcome, s: Sniffed) {
    use rdbkit_aof::multipart::AofFile;
    let plain = s.codec.is_none();
    let preamble = check::is_rdb(&s.head);
    let mut r = s.rest.with_head(s.head);
    let file = AofFile {
        name: o.backup.name.clone(),
        path: o.backup.path.clone(),
        role: Role::Single,
    };
    let opts = CheckOptions::default();
    let hold = crate::cmd::aof::hold_rdb_part();
    let name = o.backup.name.clone();
    let now_ms = replay::replay_now_ms(o);
    // The stats are read beside the check: kept only when the check read the RDB part whole.
    let mut st = o.clone();
    let mut keys = replay::PartsCount::new();
    let (stp, ks) = (&mut st, &mut keys);
    let (n, read, v, ()) = tee::tee(
        &mut *r,
        |ra| {
            let want = rdbkit_aof::parts::Want::STRICT;
            rdbkit_aof::stream::check_part_stream(ra, &file, true, opts, want, hold)
        },
        |rb| stats_and_replay(stp, ks, true, &name, rb, now_ms),
    );
    o.data_bytes = n;
    if o.size == 0 && plain {
        o.size = n;
    }
    let c = match (read, v) {
        (Err(e), _) | (Ok(()), Err(e)) => {
            o.damage = damage(Some(n), e.to_string());
            return;
        }
        (Ok(()), Ok(v)) => match v.strict {
            Some(c) => c,
            None => {
                o.damage = damage(Some(n), "internal: no strict verdict");
                return;
            }
        },
    };
    if let Some(r) = &c.rdb {
        o.checksum = Some(checksum_text(r.checksum));
    }
    if preamble && !matches!(c.stop, Stop::RdbInvalid(_)) {
        // What `rdb_part_stats` sets.
        o.writer = st.writer;
        o.ctime = st.ctime;
        o.keys = st.keys;
        o.expires = st.expires;
        o.magic = st.magic;
        o.version = st.version;
        if o.checksum.is_none() {
            o.checksum = st.checksum;
        }
    }
    o.commands = Some(c.commands);
    if !c.is_valid() {
        let (offset, reason) = aof_problem(&c, &o.backup.name);
        o.damage = damage(offset, reason);
    }
    keys.finish(o);
}

/// A tar archive, read once: one verdict per backup it holds (an RDB and an AOF are two
/// backups). A standalone RDB member is verified as it is read; an `appendonlydir/` is checked
/// and replayed part by part in manifest order as the archive is read (see
/// [`verify_paused`]); only what can't be read that way (a part the archive holds early, a
/// single-file AOF, a second `appendonlydir/`, a damaged manifest) is unpacked to a private
/// temporary directory, removed after.
fn verify_archive(mut o: Outcome, s: Sniffed) -> Vec<Outcome> {
    let b = o.backup.clone();
    let limit = match archive::spill_limit() {
        Ok(l) => l,
        Err(e) => {
            o.damage = damage(None, e);
            return vec![o];
        }
    };
    let gzip = o.gzip;
    let notes = o.notes.clone();
    let mut verdicts: Vec<Verdicts> = Vec::new();
    let opened = {
        // A standalone RDB is verified as the archive is read (one pass, nothing written).
        let mut on_rdb = |member: &str, r: &mut dyn Read| {
            verdicts.push(verify_rdb_member(&b, member, r));
        };
        archive::open_streaming(&b.name, s.rest.with_head(s.head), limit, Some(&mut on_rdb))
    };
    let read = match opened {
        Ok(archive::Opened::Spilled(sp)) => Ok(sp),
        Ok(archive::Opened::Paused(p)) if !crate::cmd::aof::one_pass(&p) => p.unpack(),
        Ok(archive::Opened::Paused(p)) => verify_paused(*p, &b, &mut verdicts),
        // Not given by `open_streaming`: its RDB members are handed to `on_rdb`.
        Ok(archive::Opened::Rdb(m)) => Err(format!(
            "{}: member {}: not read (internal: an RDB member left paused)",
            b.name,
            m.member()
        )),
        Err(e) => Err(e),
    };
    let sp = match read {
        Ok(sp) => sp,
        Err(e) => {
            o.damage = damage(None, e);
            return vec![o];
        }
    };
    let streamed_dir = verdicts
        .iter()
        .find(|v| matches!(v.how, How::OnePass(_)))
        .map(|v| v.member.clone());
    for f in sp.backups() {
        // The parts of the appendonlydir/ read in one pass (those the archive held early).
        let in_streamed = streamed_dir.as_deref().is_some_and(|d| {
            let parent = Path::new(f.member().trim_end_matches('/')).parent();
            parent.map(|p| format!("{}/", p.display())).as_deref() == Some(d)
                || (d == "." && parent.is_some_and(|p| p.as_os_str().is_empty()))
        });
        if in_streamed {
            continue;
        }
        let mut x = verify_decode(&sub_backup(
            &b,
            f.member(),
            f.path(),
            matches!(f, Found::AofDir { .. }),
        ));
        for x in &mut x {
            // Said while its files are still there.
            if !x.valid() {
                x.server_verdict = replay::server_verdict(x);
            }
        }
        verdicts.push(Verdicts {
            member: f.member().to_string(),
            is_aof: f.is_aof(),
            how: How::Unpacked,
            outcomes: x,
        });
    }
    if verdicts.is_empty() {
        o.damage = damage(
            None,
            format!(
                "the archive holds no RDB, AOF or appendonlydir/ (other members: {})",
                if sp.skipped.is_empty() {
                    "none".to_string()
                } else {
                    sp.skipped.join(", ")
                }
            ),
        );
        return vec![o];
    }
    let both = verdicts.iter().any(|v| v.is_aof) && verdicts.iter().any(|v| !v.is_aof);
    let mut out = Vec::new();
    for v in verdicts {
        let member = v.member;
        for mut x in v.outcomes {
            x.backup.path = b.path.clone();
            x.gzip = gzip;
            let mut n = notes.clone();
            n.push(match &v.how {
                How::InPlace => format!(
                    "in the archive {}: member {member} (read in place, nothing unpacked)",
                    b.name
                ),
                How::OnePass(note) => {
                    format!("in the archive {}: member {member} ({note})", b.name)
                }
                How::Unpacked => format!(
                    "in the archive {}: member {member} ({} bytes of backup members unpacked \
                     to a private temporary directory, removed after)",
                    b.name, sp.bytes
                ),
            });
            if both {
                n.push(
                    "the archive holds an RDB and an AOF: a server with `appendonly yes` loads \
                     the AOF (the RDB is ignored), with `appendonly no` the RDB"
                        .into(),
                );
            }
            n.append(&mut x.notes);
            x.notes = n.into_iter().map(|t| sp.rewrite(&t)).collect();
            x.server_verdict = x.server_verdict.map(|t| sp.rewrite(&t));
            x.keys_error = x.keys_error.map(|t| sp.rewrite(&t));
            if let Some(d) = &mut x.damage {
                d.reason = sp.rewrite(&d.reason);
                d.file = Some(match &d.file {
                    Some(inner) if v.is_aof && member.ends_with('/') => {
                        format!("{member}{inner}")
                    }
                    Some(inner) => sp.rewrite(inner),
                    None => member.clone(),
                });
            }
            out.push(x);
        }
    }
    out
}

/// How a backup in an archive was read, for its note.
enum How {
    /// A standalone RDB, verified as it was read.
    InPlace,
    /// An `appendonlydir/`, its parts checked and replayed as they were read (how many, and
    /// how many unpacked first).
    OnePass(String),
    /// Unpacked to the private temporary directory, then verified there.
    Unpacked,
}

/// The verdicts on one backup inside an archive.
struct Verdicts {
    member: String,
    is_aof: bool,
    how: How,
    outcomes: Vec<Outcome>,
}

/// The backup of member `member` of the archive `b`, found at `path`.
fn sub_backup(b: &Backup, member: &str, path: &Path, is_dir: bool) -> Backup {
    Backup {
        path: path.to_path_buf(),
        name: format!("{}:{member}", b.name),
        series: format!("{}:{member}", b.series),
        name_time: b.name_time,
        mtime: b.mtime,
        is_dir,
    }
}

/// A standalone RDB member, verified as it is read.
fn verify_rdb_member(b: &Backup, member: &str, r: &mut dyn Read) -> Verdicts {
    let mut x = Outcome::new(sub_backup(b, member, &b.path, false));
    verify_rdb_reader(&mut x, r);
    Verdicts {
        member: member.to_string(),
        is_aof: false,
        how: How::InPlace,
        outcomes: vec![x],
    }
}

/// The `appendonlydir/` of an archive paused at its (parsed) manifest, verified in one pass:
/// each part, as it comes out of the archive in manifest order, is checked
/// ([`rdbkit_aof::parts`], the verdicts of checking the unpacked directory), its RDB part's
/// aux fields and counts read, and replayed (the keys of a sound AOF). Standalone RDBs after
/// the manifest are verified as they are read; other backups are unpacked (returned in the
/// [`archive::Spilled`]). `Err`: the archive itself is damaged or refused.
fn verify_paused(
    p: archive::Paused,
    b: &Backup,
    verdicts: &mut Vec<Verdicts>,
) -> Result<archive::Spilled, String> {
    use rdbkit_aof::parts::MultiCheck;
    let archive_name = p.spilled.archive.clone();
    let dir_member = p.dir_member();
    let m = rdbkit_aof::manifest::parse(p.manifest_bytes())
        .map_err(|e| format!("{archive_name}:{}: manifest: {e}", p.manifest.display()))?;
    let manifest_path =
        std::path::PathBuf::from(format!("{archive_name}:{}", p.manifest.display()));
    let files = multipart::files_of(&manifest_path, &m);
    let opts = CheckOptions::default();
    let mut x = Outcome::new(sub_backup(b, &dir_member, &b.path, true));
    x.kind = Some(Kind::AofDir);
    let mut mc = MultiCheck::new(files.len(), opts);
    let mut keys = replay::PartsCount::new();
    let mut handed = 0usize;
    let mut after: Vec<Verdicts> = Vec::new();
    let read = {
        let hold = crate::cmd::aof::hold_rdb_part();
        // Each part is read once, as it comes out of the archive: checked as a stream (the
        // verdicts of `check_part` on its bytes) while its RDB part's aux fields and counts
        // are read and the whole part replayed, on another thread; neither holds the part
        // (beyond the check's hold of an RDB part, see `cmd::aof::hold_rdb_part`).
        let mut on_part = |name: &str, r: &mut dyn Read| {
            let Some(f) = files.get(handed) else {
                return Err(format!("{name}: not a part of the manifest"));
            };
            handed += 1;
            let w = mc.want();
            let last = handed == files.len();
            let base = f.role == Role::Base;
            let now_ms = replay::replay_now_ms(&x);
            let (xs, ks) = (&mut x, &mut keys);
            let (n, read, v, ()) = tee::tee(
                r,
                |ra| rdbkit_aof::stream::check_part_stream(ra, f, last, opts, w, hold),
                |rb| stats_and_replay(xs, ks, base, name, rb, now_ms),
            );
            // The archive's reader failed: it words the error (see `archive::OnPart`).
            read.map_err(|e| format!("{name}: {e}"))?;
            let v = v.map_err(|e| format!("{name}: {e}"))?;
            x.size += n;
            mc.add(f, v);
            // The keys are counted for a sound data set only: once the check has failed the
            // replay (made beside the check) is dropped.
            if !mc.want().strict {
                keys.abandon();
            }
            Ok(())
        };
        let mut on_other = |member: &str, r: &mut dyn Read| {
            after.push(verify_rdb_member(b, member, r));
        };
        p.replay_parts_with(&mut on_part, Some(&mut on_other))
    };
    let (read, sp) = read?;
    if let Some(f) = read.missing.as_ref().and_then(|_| files.get(handed)) {
        // A part the manifest names and the archive lacks: as the unpacked directory's check
        // says it.
        mc.missing(
            f,
            rdbkit_aof::Error::io(&f.path, io::Error::from_raw_os_error(2)),
        );
        keys.abandon();
        // The parts after it that the archive holds (unpacked, waiting for their turn) count
        // in the size, as the directory's files do.
        for f in files.iter().skip(handed + 1) {
            let held = sp
                .members
                .iter()
                .find(|m| format!("{archive_name}:{}", m.name) == f.path.display().to_string());
            if let Some(m) = held {
                x.size += std::fs::metadata(&m.path).map_or(0, |md| md.len());
            }
        }
    }
    x.data_bytes = x.size;
    let (strict, server) = mc.finish();
    set_strict(&mut x, strict);
    keys.finish(&mut x);
    if !x.valid() {
        let label = |f: &str| format!("{archive_name}:{dir_member}{f}");
        x.server_verdict = Some(replay::describe(&x, server, &label));
    }
    let parts = read.streamed + read.spilled;
    let note = if read.spilled == 0 {
        format!("{parts} part(s) read in one pass in manifest order, nothing unpacked")
    } else {
        format!(
            "{parts} part(s) read in one pass: {} streamed, {} ({} bytes) unpacked to a private \
             temporary directory first because the archive holds them before the manifest or \
             before a part that loads earlier, removed after",
            read.streamed, read.spilled, read.spilled_bytes
        )
    };
    verdicts.push(Verdicts {
        member: dir_member,
        is_aof: true,
        how: How::OnePass(note),
        outcomes: vec![x],
    });
    verdicts.append(&mut after);
    Ok(sp)
}

/// One part of an archive's `appendonlydir/`, read from `r` to its end: the aux fields and
/// counts of a base's RDB part (as [`rdb_part_stats`] reads them) and the replay of the part,
/// in the same read (the replay's RDB pass shows its records to the stats); a replay that
/// stopped earlier leaves the stats to a pass of their own.
fn stats_and_replay(
    x: &mut Outcome,
    keys: &mut replay::PartsCount,
    base: bool,
    name: &str,
    r: &mut dyn Read,
    now_ms: i64,
) {
    let head = input::read_head(r, 16).unwrap_or_default();
    let stats = base && check::is_rdb(&head);
    let mut r = io::Cursor::new(head).chain(r);
    if keys.alive() {
        if stats {
            let mut saved = x.checksum.take();
            let mut end = 0;
            let mut hook = |seen: input::RdbSeen<'_, '_>| match seen {
                input::RdbSeen::Record(rec) => {
                    scan_record(rec, x, &mut end);
                    None
                }
                input::RdbSeen::End(h) => {
                    if let Some(h) = h {
                        x.magic = Some(h.magic.to_string());
                        x.version = Some(h.version);
                    }
                    if saved.is_some() {
                        x.checksum = saved.take();
                    }
                    Some(replay::replay_now_ms(x))
                }
            };
            keys.part(now_ms, name, &mut r, Some(&mut hook));
        } else {
            keys.part(now_ms, name, &mut r, None);
        }
    } else if stats {
        let checksum = x.checksum.take();
        let mut p = RdbReader::new(&mut r, SHALLOW);
        let _ = scan(&mut p, x);
        if checksum.is_some() {
            x.checksum = checksum;
        }
    }
    let _ = io::copy(&mut r, &mut io::sink());
}

fn verify_plain_rdb(o: &mut Outcome) {
    o.kind = Some(Kind::Rdb);
    let path = o.backup.path.clone();
    let map = match RdbFile::open(&path) {
        Ok(m) => m,
        Err(e) => {
            o.damage = damage(None, format!("can't read: {e}"));
            return;
        }
    };
    o.data_bytes = map.bytes().len() as u64;
    // The guarded parser reports a file truncated under the map as such, not as what the
    // vanished pages (read as zeros) look like; the last check covers a shrink after the end.
    let mut p = map.parser(DEEP);
    let res = scan(&mut p, o).and_then(|end| map.check_unchanged().map(|()| end));
    match res {
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

/// An RDB read from a plain stream (a pipe, an archive member), decoded as it is read.
fn verify_rdb_reader(o: &mut Outcome, r: &mut dyn Read) {
    o.kind = Some(Kind::Rdb);
    let mut c = Counted { inner: r, n: 0 };
    let res = {
        let mut rd = RdbReader::new(&mut c, DEEP);
        scan(&mut rd, o)
    };
    o.data_bytes = c.n;
    if o.size == 0 {
        // A pipe or an archive member: its size is what was read.
        o.size = c.n;
    }
    if let Err(e) = res {
        o.damage = damage(Some(e.offset), e.to_string());
    }
}

/// An RDB read as a stream (compressed, or from a pipe): decoded as it is read; a compressed
/// stream is then read to its end, so a damaged or missing trailer is damage even when the
/// RDB inside is whole.
fn verify_stream_rdb(o: &mut Outcome, s: Sniffed) {
    o.kind = Some(Kind::Rdb);
    let head = s.head;
    match s.rest {
        Rest::Plain(mut r) => verify_rdb_reader(o, &mut io::Cursor::new(head).chain(&mut r)),
        Rest::Compressed(mut d) => {
            let codec = d.codec.name();
            let res = {
                let src = io::Cursor::new(head).chain(&mut d);
                let mut rd = RdbReader::new(src, DEEP);
                scan(&mut rd, o)
            };
            match res {
                Ok(end) => {
                    match d.finish() {
                        Ok(_) => {
                            let extra = d.decompressed_out().saturating_sub(end);
                            if extra > 0 {
                                o.notes.push(format!(
                                    "{extra} bytes after the end of the RDB (ignored)"
                                ));
                            }
                        }
                        Err(e) => {
                            o.damage = damage(
                                Some(end),
                                format!(
                                    "{e}; the RDB itself is whole (ends at byte {end}) but the \
                                     {codec} stream does not end cleanly (its trailer is \
                                     missing or wrong)"
                                ),
                            )
                        }
                    }
                    o.data_bytes = d.decompressed_out();
                }
                Err(e) => {
                    if e.kind.is_out_of_data() {
                        // The decompressed data ended early: say whether the compressed
                        // stream itself noticed.
                        o.damage = match d.finish() {
                            Err(ce) => damage(
                                Some(e.offset),
                                format!("{ce}; the RDB is cut at byte {}", e.offset),
                            ),
                            Ok(_) => damage(Some(e.offset), e.to_string()),
                        };
                    } else {
                        o.damage = damage(Some(e.offset), e.to_string());
                    }
                    o.data_bytes = d.decompressed_out();
                }
            }
            if o.size == 0 {
                o.size = d.compressed_in();
            }
        }
    }
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
        scan_record(&rec?, o, &mut end);
    }
    Ok(end)
}

/// One record into the outcome (`end`: where the RDB ends, at its EOF record).
fn scan_record(rec: &Record<'_>, o: &mut Outcome, end: &mut u64) {
    {
        match rec {
            Record::Aux { key, value } => match &key[..] {
                // Valkey writes both; its own name wins.
                b"redis-ver" if !o.writer.as_deref().is_some_and(|w| w.starts_with("valkey")) => {
                    o.writer = Some(format!("redis {}", String::from_utf8_lossy(value)))
                }
                b"valkey-ver" => {
                    o.writer = Some(format!("valkey {}", String::from_utf8_lossy(value)))
                }
                b"ctime" => {
                    o.ctime = std::str::from_utf8(value)
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
                o.checksum = Some(checksum_text(*checksum));
                *end = *e;
            }
            _ => {}
        }
    }
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
    let mut p = RdbParser::new(bytes, SHALLOW);
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

fn verify_aof_dir(o: &mut Outcome, path: &Path) {
    o.kind = Some(Kind::AofDir);
    let layout = match multipart::resolve(path) {
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
    set_strict(
        o,
        rdbkit_aof::parts::check_layout(&layout, CheckOptions::default()),
    );
}

/// The strict (redis-check-aof) verdict on an `appendonlydir/` into the outcome.
fn set_strict(o: &mut Outcome, v: Result<check::StrictVerdict, rdbkit_aof::Error>) {
    let v = match v {
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

/// Every key of an RDB backup (plain, compressed, read from a pipe, or in an archive), decoded
/// with deep validation and the checksums; `f` sees each key record. Errors say where and why.
pub fn for_each_key(
    inp: input::Input,
    mut f: impl FnMut(&rdbkit_rdb::KeyRecord<'_>) -> Result<(), String>,
) -> Result<(), String> {
    let name = inp.name.clone();
    let done = inp
        .with_rdb(DEEP, |p| {
            while let Some(rec) = p.next_record() {
                match rec.map_err(|e| format!("{name}: {e}"))? {
                    Record::Key(k) => f(&k)?,
                    Record::Eof { .. } => return Ok(true),
                    _ => {}
                }
            }
            Ok::<bool, String>(false)
        })
        .map_err(|e| e.0)??;
    if done {
        Ok(())
    } else {
        Err(format!("{name}: the RDB has no EOF record"))
    }
}
