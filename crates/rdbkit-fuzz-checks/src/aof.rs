//! Invariants of the AOF reader, manifest parser, check and fix (`rdbkit-aof`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rdbkit_aof::check::{check_single, is_rdb, server_load, CheckOptions, Load, Stop};
use rdbkit_aof::fix;
use rdbkit_aof::manifest::{self, FileType, Manifest};
use rdbkit_aof::multipart::{AofFile, Layout, Role};
use rdbkit_aof::parts::check_layout;
use rdbkit_aof::resp::{
    annotation_timestamp, has_rdb_magic, Item, RespError, RespErrorKind, SliceReader, StreamError,
    StreamReader,
};

use crate::rdb::Chunked;

/// One item, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedItem {
    Command {
        start: u64,
        end: u64,
        args: Vec<Vec<u8>>,
    },
    Annotation {
        offset: u64,
        end: u64,
        text: Vec<u8>,
        timestamp: Option<i64>,
    },
}

fn own(item: &Item<'_, '_>) -> OwnedItem {
    match item {
        Item::Command(c) => {
            assert_eq!(c.argc(), c.args().count());
            OwnedItem::Command {
                start: c.start,
                end: c.end,
                args: c.args().map(<[u8]>::to_vec).collect(),
            }
        }
        Item::Annotation(a) => OwnedItem::Annotation {
            offset: a.offset,
            end: a.end,
            text: a.text.to_vec(),
            timestamp: a.timestamp,
        },
    }
}

/// Serializes a command the canonical way.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// What the slice reader yields from `start`: the items and the error, with the final
/// position and line counter.
pub fn read_slice(data: &[u8], start: usize) -> (Vec<OwnedItem>, Option<RespError>, u64, u64) {
    let mut r = SliceReader::new(data, start);
    let mut items = Vec::new();
    let err = loop {
        match r.next_item() {
            Ok(Some(item)) => items.push(own(&item)),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    (items, err, r.position(), r.line_state().line)
}

/// The name as `redis-check-aof` compares it: up to the first NUL.
fn c_name(arg: &[u8]) -> &[u8] {
    arg.split(|&b| b == 0).next().unwrap_or(&[])
}

fn is_multi_or_exec(args: &[Vec<u8>]) -> bool {
    args.first().is_some_and(|a| {
        let n = c_name(a);
        n.eq_ignore_ascii_case(b"multi") || n.eq_ignore_ascii_case(b"exec")
    })
}

/// The RESP command reader: slice and `io::Read` readers agree; items tile the input; every
/// command re-serializes to bytes that read back the same; the strict check agrees with the
/// reader when there is no transaction.
pub fn resp(data: &[u8]) {
    let len = data.len() as u64;
    let start = if has_rdb_magic(data) {
        match rdbkit_aof::rdb_prefix::check(data, false) {
            Ok(p) => p.len,
            Err(_) => {
                let mut s = StreamReader::new(Chunked::new(data, 7));
                assert!(
                    matches!(s.next_item(), Err(StreamError::Rdb(_))),
                    "the stream reader accepts an RDB preamble the slice check refuses"
                );
                return;
            }
        }
    } else {
        0
    };
    let (items, err, pos, line) = read_slice(data, start);

    // The streaming reader, fed in small pieces (at most ~64 reads: every read costs the
    // reader a 64 KiB buffer extension, see tests/stream_small_reads.rs).
    let step = (1 + data.len() % 97).max(data.len() / 64);
    let mut s = StreamReader::new(Chunked::new(data, step));
    let mut sitems = Vec::new();
    let serr = loop {
        match s.next_item() {
            Ok(Some(item)) => sitems.push(own(&item)),
            Ok(None) => break None,
            Err(StreamError::Resp(e)) => break Some(e),
            Err(e) => panic!("stream reader error the slice reader does not have: {e}"),
        }
    };
    assert_eq!(
        items, sitems,
        "stream and slice readers yield different items"
    );
    assert_eq!(err, serr, "stream and slice readers stop differently");

    // Items tile the input from `start`.
    let mut at = start as u64;
    let mut commands = 0u64;
    let mut has_txn = false;
    for it in &items {
        match it {
            OwnedItem::Command { start, end, args } => {
                assert_eq!(*start, at, "gap before a command");
                assert!(end > start && *end <= len);
                at = *end;
                commands += 1;
                has_txn |= is_multi_or_exec(args);
                let mut re = Vec::new();
                encode_command(args, &mut re);
                let (again, e2, p2, _) = read_slice(&re, 0);
                assert!(e2.is_none(), "a canonical re-serialization fails: {e2:?}");
                assert_eq!(p2, re.len() as u64);
                match again.as_slice() {
                    [OwnedItem::Command { args: a2, .. }] => assert_eq!(a2, args),
                    other => panic!("re-serialized command reads as {other:?}"),
                }
            }
            OwnedItem::Annotation {
                offset,
                end,
                text,
                timestamp,
            } => {
                assert_eq!(*offset, at, "gap before an annotation");
                assert!(end > offset && *end <= len);
                assert_eq!(&data[*offset as usize..*end as usize], &text[..]);
                assert_eq!(*timestamp, annotation_timestamp(text));
                if timestamp.is_some() {
                    assert!(text.starts_with(b"#TS:"));
                }
                at = *end;
            }
        }
    }
    assert_eq!(pos, at, "reader position is not the end of the last item");
    if let Some(e) = &err {
        assert!(e.offset >= at && e.offset <= len, "error offset {e}");
    } else {
        assert_eq!(pos, len, "reader stopped early without an error");
    }

    // The strict check, on a file without transactions, is the reader plus its verdict.
    if has_txn || data.is_empty() || is_rdb(data) != has_rdb_magic(data) {
        return;
    }
    let mut l = 1;
    let c = check_single(data, is_rdb(data), true, CheckOptions::default(), &mut l);
    if matches!(c.stop, Stop::RdbInvalid(_)) {
        return; // deep RDB validation refused what the reader's shallow pass accepted
    }
    assert_eq!(c.stop, Stop::Checked);
    // A transaction error the reader can't see: a MULTI or EXEC whose command is cut short
    // (the check judges the first argument as soon as it is read, as redis-check-aof does, so
    // the reader's framing error becomes `Unexpected EXEC` or `EOF before EXEC`).
    if let Some(
        RespErrorKind::UnexpectedExec | RespErrorKind::UnexpectedMulti | RespErrorKind::EofInMulti,
    ) = c.error.as_ref().map(|e| &e.kind)
    {
        let at = c.error.as_ref().map_or(0, |e| e.offset);
        assert!(
            err.as_ref().is_some_and(|e| e.offset >= at),
            "check {:?}, reader {err:?}",
            c.error
        );
        return;
    }
    assert_eq!(c.error, err, "check and reader disagree on the error");
    assert_eq!(
        c.ok_up_to, pos,
        "check's ok_up_to is not the reader's position"
    );
    assert_eq!(c.commands, commands);
    assert_eq!(c.ok_up_to_line, line);
}

fn first_timestamp(data: &[u8]) -> Option<i64> {
    data.split(|&b| b == b'\n')
        .filter_map(|l| {
            let mut l = l.to_vec();
            l.push(b'\n');
            annotation_timestamp(&l)
        })
        .next()
}

fn check_once(data: &[u8], opts: CheckOptions) {
    let size = data.len() as u64;
    let mut line = 1;
    let preamble = is_rdb(data);
    let c = check_single(data, preamble, true, opts, &mut line);
    assert_eq!(c.size, size);
    assert!(c.ok_up_to <= size, "ok_up_to {} > {size}", c.ok_up_to);
    assert_eq!(c.ok_up_to_line, line);
    match &c.stop {
        Stop::Empty => assert!(data.is_empty()),
        Stop::RdbInvalid(e) => {
            assert!(preamble);
            assert!(e.offset.is_none_or(|o| o <= size), "{e}");
            return;
        }
        Stop::Checked => {
            if c.error.is_none() {
                assert_eq!(c.ok_up_to, size, "no error but not checked to the end");
            }
            if let Some(e) = &c.error {
                assert!(e.offset <= size, "error offset {e}");
            }
        }
        Stop::TimestampCut { offset, open_multi } => {
            assert_eq!(*offset, c.ok_up_to);
            assert!(data[*offset as usize..].starts_with(b"#TS:"));
            if let Some(m) = open_multi {
                assert!(*m < *offset);
                assert!(data[*m as usize..].starts_with(b"*"));
            }
        }
        Stop::NothingBeforeTimestamp { offset } => assert_eq!(*offset, 0),
        Stop::InvalidTimestampAnnotation { offset } | Stop::TimestampNotLast { offset } => {
            assert!(*offset < size)
        }
    }
    if let Some(p) = &c.rdb {
        assert!(p.len as u64 <= c.ok_up_to || !matches!(c.stop, Stop::Checked));
    }
    // The kept prefix checks valid and keeps every whole command. A timestamp cut inside a
    // MULTI keeps the open transaction (as redis-check-aof does): the prefix then fails only
    // for that, back to the MULTI.
    if let Stop::TimestampCut {
        offset,
        open_multi: Some(m),
    } = c.stop
    {
        let prefix = &data[..offset as usize];
        let mut l2 = 1;
        let c2 = check_single(prefix, is_rdb(prefix), true, opts, &mut l2);
        assert_eq!(c2.ok_up_to, m, "{c2:?}");
        assert!(
            matches!(
                c2.error,
                Some(RespError {
                    kind: RespErrorKind::EofInMulti,
                    ..
                })
            ),
            "{c2:?}"
        );
    } else if matches!(c.stop, Stop::Checked | Stop::TimestampCut { .. }) {
        let prefix = &data[..c.ok_up_to as usize];
        let mut l2 = 1;
        let c2 = check_single(prefix, is_rdb(prefix), true, opts, &mut l2);
        assert!(
            c2.is_valid(),
            "the prefix up to ok_up_to {} does not check valid: {c2:?}",
            c.ok_up_to
        );
        if matches!(c.stop, Stop::Checked) {
            assert_eq!(c2.commands, c.commands, "the prefix lost whole commands");
        }
    }
    // What the server does on load is bounded by the file, and a strictly valid file loads.
    match server_load(data) {
        Load::Empty => assert!(data.is_empty()),
        Load::Loaded { commands } => {
            if c.is_valid() && opts.to_timestamp == 0 {
                assert_eq!(commands, c.commands, "server and tool count differently");
            }
        }
        Load::Truncated { valid_up_to, .. } => {
            assert!(valid_up_to <= size);
            assert!(
                !(c.is_valid() && opts.to_timestamp == 0),
                "the server would truncate a file the tool finds valid"
            );
        }
        Load::Failed { offset, .. } => assert!(offset <= size),
    }
}

/// `check_single` (strict) and `server_load` (lenient): every offset inside the file, the kept
/// prefix is valid with the same whole commands, a strictly valid file loads. Run without
/// and with a `--truncate-to-timestamp` taken from the file's first `#TS:`.
pub fn check(data: &[u8]) {
    check_once(data, CheckOptions::default());
    parts_agree(data);
    streamed_agrees(data);
    if let Some(ts) = first_timestamp(data).filter(|&t| t != 0) {
        check_once(data, CheckOptions { to_timestamp: ts });
    }
}

/// `aof check` of a stream (`rdbkit_aof::stream`: both verdicts as the bytes are read, each
/// over a window of the record being parsed) says what the check of the whole bytes says, the
/// stream read a few bytes at a time into windows of a few bytes (every record crossing a
/// window's end), with and without a `--truncate-to-timestamp`.
fn streamed_agrees(data: &[u8]) {
    use rdbkit_aof::parts::{check_part, Want};
    use rdbkit_aof::stream::{check_stream_sized, verdict_json};
    struct Trickle<'a>(&'a [u8], usize);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(self.1);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let f = AofFile {
        name: "-".into(),
        path: "-".into(),
        role: Role::Single,
    };
    let ts = first_timestamp(data).filter(|&t| t != 0).unwrap_or(0);
    for opts in [CheckOptions::default(), CheckOptions { to_timestamp: ts }] {
        let whole = verdict_json(&f, opts, check_part(&f, data, true, opts, Want::BOTH));
        // Small windows on small inputs (every record crosses a window's end); chunks of
        // 4 KiB on the corpus's bigger files, which would otherwise cost seconds each.
        let n = data.len();
        let (step, chunk) = if n <= 64 << 10 {
            (1 + n % 5, 3 + n % 29)
        } else {
            (4096, 4096)
        };
        let head = 1 + n % 3;
        let streamed = check_stream_sized(
            &mut Trickle(data, step),
            std::path::Path::new("-"),
            opts,
            head,
            chunk,
        )
        .expect("reading a slice");
        // `None`: not streamed (an RDB preamble, a manifest), checked as a file instead.
        if let Some(streamed) = streamed {
            assert_eq!(
                streamed, whole,
                "streamed verdict, head {head} chunk {chunk}"
            );
        }
    }
}

/// The per-part check (`rdbkit_aof::parts`: both verdicts from one reading, the server's
/// reading of an RDB part taken from the deep check when it passes) gives, for the file as a
/// base, a last incr file or a single file, exactly the separate `check_single` (its line
/// counter shifted by the lines before it) and `server_load`.
fn parts_agree(data: &[u8]) {
    use rdbkit_aof::multipart::{AofFile, Role};
    use rdbkit_aof::parts::{check_part, MultiCheck, Want};
    let opts = CheckOptions::default();
    for role in [Role::Base, Role::Incr, Role::Single] {
        let f = AofFile {
            name: "f".into(),
            path: "f".into(),
            role,
        };
        let v = check_part(&f, data, true, opts, Want::BOTH);
        let mut line = 0;
        let preamble = role != Role::Incr && is_rdb(data);
        let want = check_single(data, preamble, true, opts, &mut line);
        assert_eq!(
            v.strict.as_ref(),
            Some(&want),
            "check_part's strict verdict, {role:?}"
        );
        assert_eq!(
            v.load.as_ref(),
            Some(&server_load(data)),
            "check_part's load, {role:?}"
        );
        // Shifted by the 6 lines of a sound first part.
        let mut m = MultiCheck::new(2, opts);
        let first = AofFile {
            name: "a".into(),
            path: "a".into(),
            role: Role::Base,
        };
        let ping = b"*1\r\n$4\r\nPING\r\n#TS:1\r\n*1\r\n$4\r\nPING\r\n";
        m.add(&first, check_part(&first, ping, false, opts, m.want()));
        m.add(&f, v);
        let (strict, _) = m.finish();
        let strict = strict.expect("no file is missing");
        let fv = strict.files.get(1).expect("the first part is sound");
        assert_eq!(fv.check.ok_up_to_line, want.ok_up_to_line + 1 + 6);
        assert_eq!(fv.check.size, want.size);
    }
}

fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        // tmpfs makes the fsyncs of `fix::apply` cheap.
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        tempfile::Builder::new()
            .prefix("rdbkit-fuzz-fix")
            .tempdir_in(base)
            .expect("temp dir for aof_fix")
    })
    .path()
}

/// `--fix` on a temp copy, through the real fix path (`fix::fix_checked`: lock, plain reads,
/// re-check, re-verification before the cut), with a saved tail: the fixed file is a prefix of
/// the input that checks valid and keeps every whole command, and the saved tail is the rest.
/// Then [`fix_never_grows`].
pub fn fix(data: &[u8]) {
    let dir = scratch_dir();
    let path: PathBuf = dir.join("fuzz.aof");
    let tail = dir.join("fuzz.aof.tail");
    std::fs::write(&path, data).expect("write temp AOF");
    let _ = std::fs::remove_file(&tail);
    let layout = Layout::Single(AofFile {
        name: "fuzz.aof".into(),
        path: path.clone(),
        role: Role::Single,
    });
    let v = check_layout(&layout, CheckOptions::default()).expect("check_layout");
    assert_eq!(v.files.len(), 1);
    let before = &v.files[0].check;
    match v.fixable {
        None => {
            assert!(
                v.valid || v.refusal.is_some(),
                "invalid, not fixable, no reason"
            );
        }
        Some((i, off)) => {
            assert_eq!(i, 0);
            assert!(!v.valid);
            assert!(off < data.len() as u64, "cut at {off} of {}", data.len());
            let plan = fix::plan(&path, "fuzz.aof", data, off);
            assert_eq!(plan.truncate_to, off);
            assert_eq!(plan.removed_bytes, data.len() as u64 - off);
            assert!(plan.unparsed_bytes <= plan.removed_bytes);
            if let Some(c) = plan.first_removed_command {
                assert!(c >= off && c < data.len() as u64);
            }
            let checked = fix::Checked {
                size: before.size,
                cut: off,
                allow_preamble: true,
                check: CheckOptions::default(),
            };
            let opts = fix::FixOptions {
                backup_tail: Some(&tail),
                force: true,
            };
            let r = fix::fix_checked(&mut fix::RealOps, &path, "fuzz.aof", checked, opts);
            let fixed = std::fs::read(&path).expect("read fixed");
            if let Some(why) = fix::refuse_cut(data, off) {
                // Not an AOF: never emptied, never touched.
                assert!(r.is_err(), "a cut refused for {why} happened");
                assert_eq!(fixed, data, "a refused fix changed the file");
                assert!(!tail.exists(), "a refused fix left a saved tail");
                return;
            }
            assert_eq!(r.expect("apply the fix"), plan);
            assert!(data.starts_with(&fixed), "the fixed file is not a prefix");
            assert_eq!(fixed.len() as u64, off);
            assert_eq!(std::fs::read(&tail).expect("tail"), &data[off as usize..]);
            let v2 = check_layout(&layout, CheckOptions::default()).expect("re-check");
            assert!(v2.valid, "the fixed file does not check valid: {v2:?}");
            assert!(v2.fixable.is_none());
            assert_eq!(
                v2.files[0].check.commands, before.commands,
                "the fix lost whole commands"
            );
        }
    }
    fix_never_grows(data);
}

/// Whatever the plan (any cut, even a wrong or stale one), applying it never changes a byte
/// before the cut and never grows the file: the result is the input untouched (refused) or
/// exactly its prefix up to the cut.
pub fn fix_never_grows(data: &[u8]) {
    let dir = scratch_dir();
    let path: PathBuf = dir.join("fuzz-any-cut.aof");
    let len = data.len() as u64;
    // Cuts taken from the input: inside, at the end, past the end.
    let pick = data.first().map_or(0, |&b| u64::from(b));
    for cut in [pick % (len + 1), len / 2, len, len + 1 + pick] {
        std::fs::write(&path, data).expect("write temp AOF");
        let mut plan = fix::plan(&path, "fuzz-any-cut.aof", data, cut.min(len));
        plan.truncate_to = cut;
        plan.removed_bytes = len.saturating_sub(cut);
        let mut ops = fix::RealOps;
        let r = fix::FixSession::open(&path, &mut ops).and_then(|s| s.apply(&plan, None));
        let after = std::fs::read(&path).expect("read after");
        assert!(after.len() as u64 <= len, "the fix grew the file");
        assert!(
            data.starts_with(&after),
            "the fix changed a byte before the cut"
        );
        match r {
            Ok(()) => {
                assert!(cut <= len, "a cut at {cut} of a {len}-byte file happened");
                assert_eq!(after.len() as u64, cut);
                assert!(fix::refuse_cut(data, cut).is_none());
            }
            Err(_) => assert_eq!(after, data, "a refused fix changed the file"),
        }
    }
}

fn escape_token(t: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in t {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(b);
        } else {
            out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
        }
    }
    out.push(b'"');
}

/// Writes a manifest the way the server does (one `file .. seq .. type ..` line per entry).
pub fn write_manifest(m: &Manifest) -> Vec<u8> {
    let mut out = b"# written by rdbkit-fuzz-checks\n".to_vec();
    let all = m.base.iter().chain(&m.history).chain(&m.incr);
    for e in all {
        out.extend_from_slice(b"file ");
        escape_token(&e.file, &mut out);
        let t = match e.file_type {
            FileType::Base => 'b',
            FileType::History => 'h',
            FileType::Incr => 'i',
        };
        out.extend_from_slice(format!(" seq {} type {t}\n", e.seq).as_bytes());
    }
    out
}

fn entries(m: &Manifest) -> Vec<(Vec<u8>, i64, FileType)> {
    m.base
        .iter()
        .chain(&m.history)
        .chain(&m.incr)
        .map(|e| (e.file.clone(), e.seq, e.file_type))
        .collect()
}

/// The manifest parser: what it accepts obeys the server's rules and round-trips through the
/// server's format; `split_args` round-trips its tokens.
pub fn manifest(data: &[u8]) {
    let _ = manifest::looks_like_manifest(data);
    let _ = manifest::has_manifest_entry_line(data);
    for line in data.split(|&b| b == b'\n').take(8) {
        if let Some(toks) = manifest::split_args(line) {
            let mut re = Vec::new();
            for t in &toks {
                escape_token(t, &mut re);
                re.push(b' ');
            }
            assert_eq!(
                manifest::split_args(&re).as_ref(),
                Some(&toks),
                "split_args does not round-trip"
            );
        }
    }
    match manifest::parse(data) {
        Ok(m) => {
            assert!(
                m.incr.windows(2).all(|w| w[0].seq < w[1].seq),
                "incr seq order"
            );
            for e in m.base.iter().chain(&m.history).chain(&m.incr) {
                assert!(
                    !e.file.contains(&b'/') && !e.file.contains(&b'\\') && !e.file.contains(&0)
                );
                assert_ne!(e.seq, 0);
                assert!(e.line >= 1);
            }
            assert!(m.load_order().count() == m.base.iter().count() + m.incr.len());
            let re = write_manifest(&m);
            if re
                .split(|&b| b == b'\n')
                .all(|l| l.len() < manifest::MANIFEST_MAX_LINE - 1)
            {
                let m2 = manifest::parse(&re).expect("a re-written manifest parses");
                assert_eq!(entries(&m2), entries(&m), "manifest does not round-trip");
            }
        }
        Err(e) => {
            let _ = e.to_string();
            if let Some(l) = e.line {
                assert!(l >= 1 && l <= data.len());
            }
        }
    }
}
