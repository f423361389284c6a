//! Invariants of the RDB decoder (`rdbkit-rdb`).

use std::io::{self, Read};

use rdbkit_rdb::internals::entry::{parse_canonical_i64, Entry, IntBuf};
use rdbkit_rdb::internals::intset::{self, Intset};
use rdbkit_rdb::internals::length::{encode_len, read_len_or_enc, Len};
use rdbkit_rdb::internals::listpack::{self, Listpack};
use rdbkit_rdb::internals::module::{self, ModuleId};
use rdbkit_rdb::internals::stream::{encode_node, StreamNode};
use rdbkit_rdb::internals::string::{read_string, RdbString};
use rdbkit_rdb::internals::ziplist::{self, Ziplist};
use rdbkit_rdb::internals::zipmap::{self, Zipmap};
use rdbkit_rdb::internals::Cursor;
use rdbkit_rdb::{
    check_rdb_prefix, ChecksumStatus, Options, RdbParser, RdbReader, Record, RecordSource, Scratch,
    StreamId, Value,
};
use rdbkit_testkit::visit::owned;
pub use rdbkit_testkit::visit::{Ev, Recorder};

// ---- whole files -----------------------------------------------------------------------------

/// An `io::Read` that hands out the bytes in small, varying pieces.
pub struct Chunked<'a> {
    data: &'a [u8],
    step: usize,
    calls: usize,
}

impl<'a> Chunked<'a> {
    pub fn new(data: &'a [u8], step: usize) -> Self {
        Chunked {
            data,
            step: step.max(1),
            calls: 0,
        }
    }
}

impl Read for Chunked<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        let want = 1 + (self.calls * 7919) % self.step;
        let n = out.len().min(self.data.len()).min(want);
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// What a record source yielded, as comparable text, and where it stopped.
#[derive(Debug, PartialEq, Eq, Default)]
pub struct Run {
    pub records: Vec<String>,
    pub keys: u64,
    /// `Some((offset, debug))` when the source stopped on an error.
    pub error: Option<(u64, String)>,
    /// End offset of the EOF record, when reached.
    pub eof_end: Option<u64>,
    pub position: u64,
}

/// Reads `src` to its end, checking every record against `data` (the whole input).
/// `check_values` also decodes every value both ways (skip vs decode, shallow vs deep).
pub fn run_source<S: RecordSource>(
    src: &mut S,
    data: &[u8],
    opts: Options,
    check_values: bool,
) -> Run {
    let len = data.len() as u64;
    let mut run = Run::default();
    let mut scratch = Scratch::new();
    let mut before = src.position();
    let mut last_key_end = 0;
    loop {
        let mut expect_pos = None;
        match src.next_record() {
            None => break,
            Some(Err(e)) => {
                assert!(
                    e.offset <= len,
                    "error offset {} beyond the {len}-byte input: {e}",
                    e.offset
                );
                assert!(
                    e.offset >= before,
                    "error offset {} before the end of the previous record ({before}): {e}",
                    e.offset
                );
                run.error = Some((e.offset, format!("{e:?}")));
                break;
            }
            Some(Ok(rec)) => {
                run.records.push(describe(&rec));
                match &rec {
                    Record::Key(k) => {
                        run.keys += 1;
                        // `offset` is the key's first attribute, which may precede records
                        // in between (KeyDB writes an AUX between EXPIRETIME and its key), but
                        // never the previous key.
                        assert!(
                            k.offset >= last_key_end,
                            "key offset {} < end of the previous key {last_key_end}",
                            k.offset
                        );
                        last_key_end = k.end;
                        assert!(
                            k.offset < k.end && k.end <= len,
                            "key {}..{}",
                            k.offset,
                            k.end
                        );
                        let v = &k.value;
                        assert!(v.offset() > k.offset, "value before its key");
                        assert!(
                            v.offset() > before,
                            "value before the previous record's end"
                        );
                        assert_eq!(
                            v.offset() + v.raw().len() as u64,
                            k.end,
                            "value bytes do not end where the record ends"
                        );
                        assert_eq!(
                            &data[v.offset() as usize..k.end as usize],
                            v.raw(),
                            "value bytes are not the input's"
                        );
                        if check_values {
                            check_value(v, opts.deep, &mut scratch);
                        }
                        expect_pos = Some(k.end);
                    }
                    Record::Eof {
                        offset,
                        checksum,
                        end,
                    } => {
                        assert!(*offset >= before && *end <= len, "EOF {offset}..{end}");
                        let trailer = if matches!(checksum, ChecksumStatus::NotPresent) {
                            0
                        } else {
                            8
                        };
                        assert_eq!(*end, offset + 1 + trailer, "EOF record length");
                        if let ChecksumStatus::Verified(t) = checksum {
                            assert_eq!(
                                *t,
                                rdbkit_rdb::internals::crc64::crc64(&data[..=*offset as usize]),
                                "verified checksum is not the data's"
                            );
                        }
                        run.eof_end = Some(*end);
                        expect_pos = Some(*end);
                    }
                    Record::ModuleAux { payload, .. } => {
                        assert!(payload.offset >= before);
                        assert!(payload.offset + payload.data.len() as u64 <= len);
                        // The parser walked it to find its end: walking again succeeds.
                        payload
                            .for_each(|_, at| {
                                assert!(at >= payload.offset && at <= len);
                                Ok(())
                            })
                            .expect("module aux payload re-walk");
                    }
                    Record::KeyMeta { raw, .. } => {
                        assert!(raw.len() as u64 <= len);
                    }
                    _ => {}
                }
            }
        }
        let pos = src.position();
        assert!(pos >= before && pos <= len, "position {pos} (was {before})");
        if let Some(p) = expect_pos {
            assert_eq!(pos, p, "position after a record is not its end");
        }
        before = pos;
    }
    run.position = src.position();
    // A source is done after EOF or an error.
    assert!(src.next_record().is_none(), "a record after the end");
    run
}

/// A record as comparable text. A key's value bytes are not spelled out: the checks tie them
/// to the input (`data[value.offset()..end]`), so equal offsets mean equal bytes.
fn describe(rec: &Record<'_>) -> String {
    match rec {
        Record::Key(k) => format!(
            "Key db={} key={:?} expire={:?} idle={:?} freq={:?} ty={:?}/{} value_at={} len={} {}..{}",
            k.db,
            k.key,
            k.expire_ms,
            k.lru_idle,
            k.lfu_freq,
            k.value.ty,
            k.value.type_byte,
            k.value.offset(),
            k.value.raw().len(),
            k.offset,
            k.end
        ),
        other => format!("{other:?}"),
    }
}

/// Decodes one value every way the API offers and checks they agree.
pub fn check_value(v: &Value<'_>, parser_was_deep: bool, scratch: &mut Scratch) {
    let raw_len = v.raw().len();
    let mut shallow = Recorder::default();
    let rs = v.decode_len(scratch, &mut shallow, false);
    if let Ok(n) = &rs {
        assert_eq!(*n, raw_len, "decoding ends elsewhere than skipping");
    }
    let mut deep = Recorder::default();
    let rd = v.decode_len(scratch, &mut deep, true);
    // A check (a visitor that wants no content) takes its own paths (one validating listpack
    // walk, LZF strings validated without decompressing): the same verdict, error and offset.
    let rc = v.decode_len(scratch, &mut rdbkit_rdb::NoVisitor, true);
    match (&rd, &rc) {
        (Ok(_), Ok(_)) => {}
        (Err(a), Err(b)) => assert_eq!(
            (a.offset, a.to_string()),
            (b.offset, b.to_string()),
            "a check and a deep decode report different errors"
        ),
        _ => panic!(
            "a check and a deep decode disagree: {:?} vs {:?}",
            rd.as_ref().err(),
            rc.as_ref().err()
        ),
    }
    match &rd {
        Ok(n) => {
            assert_eq!(*n, raw_len, "deep decoding ends elsewhere than skipping");
            assert!(
                rs.is_ok(),
                "deep validation accepts what the plain decode refuses: {:?}",
                rs.as_ref().err()
            );
            assert_eq!(
                shallow.events, deep.events,
                "deep and plain decodes yield different content"
            );
        }
        Err(e) => assert!(
            !parser_was_deep,
            "the deep parser returned a value that fails deep validation: {e}"
        ),
    }
    let _ = v.encoding();
    let _ = v.zset_needs_sort();
    if let Some(s) = v.string() {
        let mut buf = Vec::new();
        let b = s.bytes_in(&mut buf, v.offset());
        if rs.is_ok() {
            let b = b.expect("string that decoded");
            assert_eq!(shallow.events, vec![Ev::Str(b.to_vec())]);
            assert_eq!(s.len(), b.len());
        }
    }
    if let Some(b) = v.blob() {
        let mut buf = Vec::new();
        let r = b.bytes_in(&mut buf, v.offset());
        if rs.is_ok() {
            assert!(
                r.is_ok(),
                "blob of a value that decoded does not decompress"
            );
        }
    }
    if let Some(nodes) = v.quicklist_nodes() {
        if rs.is_ok() {
            let nodes = nodes.expect("quicklist that decoded has a node count");
            let mut buf = Vec::new();
            for n in nodes {
                let n = n.expect("node of a quicklist that decoded");
                n.data.bytes_in(&mut buf, n.offset).expect("node bytes");
            }
        } else if let Ok(nodes) = nodes {
            for n in nodes {
                if n.is_err() {
                    break;
                }
            }
        }
    }
    if let Some((id, payload)) = v.module() {
        let mut items = 0usize;
        let r = payload.for_each(|_, _| {
            items += 1;
            Ok(())
        });
        if rs.is_ok() {
            assert!(r.is_ok(), "module payload of a value that decoded");
            assert_eq!(shallow.events.first(), Some(&Ev::ModuleBegin(id.id)));
            assert_eq!(items + 1, shallow.events.len(), "module item count");
        }
    }
}

/// The option sets a whole file is read with (the last one also accepts Enterprise opcodes).
fn modes() -> [Options; 3] {
    [
        Options::default()
            .deep(false)
            .verify_checksum(true)
            .best_effort(false),
        Options::default()
            .deep(true)
            .verify_checksum(true)
            .best_effort(false),
        Options::default()
            .deep(true)
            .verify_checksum(false)
            .best_effort(true)
            .enterprise(true),
    ]
}

/// Reads `data` through the slice parser and through the `io::Read` parser (fed in small
/// pieces), returning the slice run after checking both agree.
pub fn slice_and_stream(data: &[u8], opts: Options, check_values: bool) -> Run {
    let mut p = RdbParser::new(data, opts);
    let slice = run_source(&mut p, data, opts, check_values);
    let step = 1 + data.len() % 61;
    let min_read = 1 + data.first().map_or(0, |&b| b as usize % 23);
    let mut r = RdbReader::new(Chunked::new(data, step), opts).with_min_read(min_read);
    let stream = run_source(&mut r, data, opts, false);
    if let Some(d) = diff_runs(&slice, &stream) {
        panic!("the io::Read reader disagrees with the slice reader ({opts:?}): {d}");
    }
    slice
}

fn cut(s: &str) -> &str {
    let mut n = s.len().min(400);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}

/// The first difference between two runs, shortened for a panic message.
pub fn diff_runs(a: &Run, b: &Run) -> Option<String> {
    if a == b {
        return None;
    }
    for (i, (x, y)) in a.records.iter().zip(&b.records).enumerate() {
        if x != y {
            return Some(format!("record {i}:\n  {}\n  {}", cut(x), cut(y)));
        }
    }
    if a.records.len() != b.records.len() {
        return Some(format!(
            "{} vs {} records; errors {:?} vs {:?}",
            a.records.len(),
            b.records.len(),
            a.error.as_ref().map(|e| cut(&e.1)),
            b.error.as_ref().map(|e| cut(&e.1))
        ));
    }
    Some(format!(
        "errors {:?} vs {:?}; eof {:?} vs {:?}; position {} vs {}",
        a.error.as_ref().map(|e| (e.0, cut(&e.1))),
        b.error.as_ref().map(|e| (e.0, cut(&e.1))),
        a.eof_end,
        b.eof_end,
        a.position,
        b.position
    ))
}

/// Whole RDB file: slice and `io::Read` paths, deep validation off and on.
pub fn file(data: &[u8]) {
    let [plain, deep, lax] = modes();
    // Values are checked once (check_value decodes them both plainly and deeply).
    let a = slice_and_stream(data, plain, true);
    let b = slice_and_stream(data, deep, false);
    slice_and_stream(data, lax, false);
    // Deep validation only refuses more: its records are a prefix of the plain read's.
    assert!(
        b.records.len() <= a.records.len() && a.records[..b.records.len()] == b.records[..],
        "deep read yields records the plain read does not"
    );
    if b.error.is_none() {
        if let Some(d) = diff_runs(&a, &b) {
            panic!("deep read accepted the file but differs from the plain read: {d}");
        }
    }
    // The parallel deep check (values validated on a pool, in batches of one or two) gives the
    // sequential deep read's verdict, and reads the same records up to it. Not while fuzzing:
    // a scoped thread's thread-locals are freed after the scope returns, and LeakSanitizer,
    // checking between inputs, reports them as leaks now and then; the stable replays of the
    // regressions and the corpus (and the parallel module's own tests) keep this checked.
    #[cfg(not(fuzzing))]
    for (threads, batch) in [(2, 1), (3, 2)] {
        let mut n = 0usize;
        let (_, r) = rdbkit_rdb::parallel::check_batched(data, deep, threads, batch, |_| n += 1);
        let got = r.err().map(|e| (e.offset, format!("{e:?}")));
        assert_eq!(got, b.error, "parallel check ({threads} threads) disagrees");
        assert!(n >= b.records.len(), "parallel check read fewer records");
    }
    // A stream that holds no string value (each streams through, CRC'd and validated
    // unheld) yields the keys at the offsets the slice parser does and stops where it stops.
    for opts in [plain, deep] {
        streamed_strings_agree(data, opts);
    }
    // check_rdb_prefix is the deep read stopped at EOF.
    match (check_rdb_prefix(data, true), b.eof_end) {
        (Ok(s), Some(end)) => {
            assert_eq!(s.len as u64, end);
            assert_eq!(s.keys, b.keys);
        }
        (Err(e), None) => {
            if let Some((off, _)) = &b.error {
                assert_eq!(e.offset, *off, "check_rdb_prefix fails elsewhere: {e}");
            }
        }
        (r, end) => panic!("check_rdb_prefix {r:?} but the reader's EOF is {end:?}"),
    }
}

/// A key's db, name, offset, end and stored value size.
type KeySpan = (u64, Vec<u8>, u64, u64, u64);

/// The keys and the error offset of a source.
fn key_spans(src: &mut dyn RecordSource) -> (Vec<KeySpan>, Option<u64>) {
    let mut keys = Vec::new();
    while let Some(r) = src.next_record() {
        match r {
            Ok(rdbkit_rdb::Record::Key(k)) => {
                keys.push((k.db, k.key.to_vec(), k.offset, k.end, k.value.stored_len()))
            }
            Ok(_) => {}
            Err(e) => return (keys, Some(e.offset)),
        }
    }
    (keys, None)
}

/// [`RdbReader::hold_values_up_to`] of 1 byte (every string value streamed through unheld)
/// agrees with the slice parser on the keys, their spans and where an error stops the read.
pub fn streamed_strings_agree(data: &[u8], opts: Options) {
    let want = key_spans(&mut RdbParser::new(data, opts));
    let step = 1 + data.len() % 53;
    let mut r = RdbReader::new(Chunked::new(data, step), opts)
        .with_min_read(1 + data.len() % 7)
        .hold_values_up_to(1);
    let got = key_spans(&mut r);
    assert_eq!(
        got, want,
        "streamed strings disagree with the slice reader ({opts:?})"
    );
}

/// The versions a single-value input can ask for (first byte, modulo the count).
const VERSIONS: &[(&[u8], &[u8])] = &[
    (b"REDIS", b"0001"),
    (b"REDIS", b"0003"),
    (b"REDIS", b"0006"),
    (b"REDIS", b"0007"),
    (b"REDIS", b"0008"),
    (b"REDIS", b"0009"),
    (b"REDIS", b"0010"),
    (b"REDIS", b"0011"),
    (b"REDIS", b"0012"),
    (b"REDIS", b"0013"),
    (b"REDIS", b"0015"),
    (b"VALKEY", b"080"),
    (b"VALKEY", b"081"),
];

/// Index in the version table of a header, for seed extraction.
pub fn version_index(magic_valkey: bool, version: u32) -> u8 {
    let digits = if magic_valkey {
        format!("{version:03}")
    } else {
        format!("{version:04}")
    };
    VERSIONS
        .iter()
        .position(|(m, d)| *d == digits.as_bytes() && (m.len() == 6) == magic_valkey)
        .unwrap_or(8) as u8
}

/// Builds `header(version) + type + key "k" + payload`.
pub fn single_value_file(version: u8, type_byte: u8, payload: &[u8]) -> Vec<u8> {
    let (m, d) = VERSIONS[version as usize % VERSIONS.len()];
    let mut f = Vec::with_capacity(payload.len() + 16);
    f.extend_from_slice(m);
    f.extend_from_slice(d);
    f.push(type_byte);
    f.extend_from_slice(&[1, b'k']);
    f.extend_from_slice(payload);
    f
}

/// A single value: byte 0 picks the RDB version, byte 1 is the type byte, the rest is the
/// value's payload, read as the key "k" of a minimal file.
pub fn value(data: &[u8]) {
    let [v, t, payload @ ..] = data else { return };
    file(&single_value_file(*v, *t, payload));
}

/// A quicklist value alone: byte 0 even = type 14 (ziplist nodes), odd = 18 (listpack nodes).
pub fn quicklist(data: &[u8]) {
    let [sel, payload @ ..] = data else { return };
    let (version, t) = if sel % 2 == 0 { (6, 14) } else { (9, 18) };
    file(&single_value_file(version, t, payload));
}

// ---- compact encodings alone -----------------------------------------------------------------

fn logical(items: &[Entry<'_>]) -> Vec<Vec<u8>> {
    items.iter().map(|e| owned(*e)).collect()
}

/// A listpack blob: the iterator, the skipping walk and deep validation agree, and what it
/// holds re-encodes to a listpack with the same content.
pub fn listpack(data: &[u8]) {
    let Ok(lp) = Listpack::new(data) else { return };
    assert_eq!(lp.as_bytes(), data);
    let items: Result<Vec<Entry<'_>>, _> = lp.iter().collect();
    // The skipping walk visits the same entries.
    let mut it = lp.iter();
    let mut offsets = Vec::new();
    let mut skipped = 0usize;
    while let Some(r) = it.skip_entry() {
        match r {
            Ok(at) => {
                assert!(at >= listpack::HEADER_SIZE && at < data.len());
                offsets.push(at);
                skipped += 1;
            }
            Err(_) => break,
        }
    }
    if let Ok(items) = &items {
        assert_eq!(skipped, items.len(), "skip and next walk differently");
        // Resuming at any recorded offset yields the rest.
        for (i, &at) in offsets.iter().enumerate().step_by(1 + offsets.len() / 8) {
            let rest: Vec<_> = lp.iter_at(at).map(|r| r.expect("resumed walk")).collect();
            assert_eq!(logical(&rest), logical(&items[i..]));
        }
    }
    // The single validating walk: `validate`'s verdict, `iter`'s elements.
    let mut ci = lp.checked_iter();
    let mut walked = Vec::new();
    let mut walk_err = None;
    for r in ci.by_ref() {
        match r {
            Ok(e) => walked.push(e),
            Err(e) => walk_err = Some(e),
        }
    }
    match (lp.validate(), walk_err) {
        (Ok(n), None) => {
            assert_eq!(ci.elements(), n);
            let items = items.as_ref().expect("a validated listpack iterates");
            assert_eq!(logical(&walked), logical(items));
        }
        (Err(a), Some(b)) => assert_eq!(a, b, "checked_iter and validate report different errors"),
        (a, b) => panic!("checked_iter and validate disagree: {a:?} vs {b:?}"),
    }
    match lp.validate() {
        Ok(n) => {
            let items = items.expect("a validated listpack iterates");
            assert_eq!(items.len(), n);
            if let Some(h) = lp.header_count() {
                assert_eq!(h, n);
            }
            let re = listpack::encode_entries(&items);
            let lp2 = Listpack::new(&re).expect("re-encoded listpack");
            assert_eq!(
                lp2.validate(),
                Ok(n),
                "re-encoded listpack fails validation"
            );
            let again: Vec<_> = lp2.iter().map(|r| r.expect("re-encoded entry")).collect();
            assert_eq!(logical(&again), logical(&items));
        }
        Err(e) => assert!(e.offset <= data.len(), "{e}"),
    }
}

/// A ziplist blob: iteration and deep validation agree; the content re-encodes.
pub fn ziplist(data: &[u8]) {
    let Ok(zl) = Ziplist::new(data) else { return };
    assert!(zl.tail_offset() < data.len());
    let items: Result<Vec<Entry<'_>>, _> = zl.iter().collect();
    match zl.validate() {
        Ok(n) => {
            let items = items.expect("a validated ziplist iterates");
            assert_eq!(items.len(), n);
            if let Some(h) = zl.header_count() {
                assert_eq!(h, n);
            }
            let re = ziplist::encode_entries(&items);
            let zl2 = Ziplist::new(&re).expect("re-encoded ziplist");
            assert_eq!(zl2.validate(), Ok(n), "re-encoded ziplist fails validation");
            let again: Vec<_> = zl2.iter().map(|r| r.expect("re-encoded entry")).collect();
            assert_eq!(logical(&again), logical(&items));
        }
        Err(e) => assert!(e.offset <= data.len(), "{e}"),
    }
}

/// A zipmap blob: iteration and validation agree; the pairs re-encode.
pub fn zipmap(data: &[u8]) {
    let Ok(zm) = Zipmap::new(data) else { return };
    let pairs: Result<Vec<(&[u8], &[u8])>, _> = zm.iter().collect();
    match zm.validate() {
        Ok(n) => {
            let pairs = pairs.expect("a validated zipmap iterates");
            assert_eq!(pairs.len(), n);
            if let Some(h) = zm.header_count() {
                assert_eq!(h, n);
            }
            let re = zipmap::encode(&pairs);
            let zm2 = Zipmap::new(&re).expect("re-encoded zipmap");
            assert_eq!(zm2.validate(), Ok(n));
            let again: Vec<_> = zm2.iter().map(|r| r.expect("re-encoded pair")).collect();
            assert_eq!(again, pairs);
        }
        Err(e) => assert!(e.offset <= data.len(), "{e}"),
    }
}

/// An intset blob: the view, `get` and validation agree; the values re-encode.
pub fn intset(data: &[u8]) {
    let Ok(is) = Intset::new(data) else { return };
    let vals: Vec<i64> = is.iter().collect();
    assert_eq!(vals.len(), is.len());
    assert_eq!(is.is_empty(), vals.is_empty());
    assert_eq!(intset::HEADER_SIZE + vals.len() * is.width(), data.len());
    for (i, v) in vals.iter().enumerate() {
        assert_eq!(is.get(i), Some(*v));
    }
    assert_eq!(is.get(vals.len()), None);
    match is.validate() {
        Ok(()) => {
            assert!(!vals.is_empty());
            assert!(
                vals.windows(2).all(|w| w[0] < w[1]),
                "validated but unsorted"
            );
            let re = intset::encode(&vals);
            let is2 = Intset::new(&re).expect("re-encoded intset");
            is2.validate().expect("re-encoded intset validates");
            assert!(is2.width() <= is.width());
            assert_eq!(is2.iter().collect::<Vec<_>>(), vals);
        }
        Err(e) => assert!(e.offset <= data.len(), "{e}"),
    }
}

type OwnedEntry = (StreamId, bool, Vec<(Vec<u8>, Vec<u8>)>);

fn node_entries(node: &StreamNode<'_>) -> Result<Vec<OwnedEntry>, String> {
    let mut out = Vec::new();
    for e in node.entries() {
        let e = e.map_err(|e| e.to_string())?;
        let mut fields = Vec::new();
        for fv in e.fields() {
            let (f, v) = fv.map_err(|e| e.to_string())?;
            fields.push((owned(f), owned(v)));
        }
        assert_eq!(fields.len(), e.num_fields());
        out.push((e.id, e.deleted, fields));
    }
    Ok(out)
}

/// A stream node: the first 16 bytes are the node key (master ID), the rest its listpack.
/// Validation implies the entries walk cleanly with the announced counts; they re-encode.
pub fn stream_node(data: &[u8]) {
    if data.len() < 16 {
        return;
    }
    let (key, blob) = data.split_at(16);
    let Ok(lp) = Listpack::new(blob) else { return };
    // The one-walk read and check succeeds exactly when `new` then `check` do, alike.
    let one = StreamNode::new_checked(key, lp)
        .map(|(n, last)| (n.master_id(), n.count(), n.deleted(), last));
    let two = StreamNode::new(key, lp).ok().and_then(|n| {
        n.check()
            .ok()
            .map(|last| (n.master_id(), n.count(), n.deleted(), last))
    });
    assert_eq!(one, two);
    let Ok(node) = StreamNode::new(key, lp) else {
        return;
    };
    assert_eq!(&node.master_id().to_be_bytes()[..], key);
    let entries = node_entries(&node);
    let fields: Result<Vec<_>, _> = node.master_fields().collect();
    if node.validate().is_ok() {
        let entries = entries.expect("a validated node's entries");
        fields.expect("a validated node's master fields");
        let live = entries.iter().filter(|e| !e.1).count() as u64;
        assert_eq!(live, node.count());
        assert_eq!(entries.len() as u64 - live, node.deleted());
        assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(entries.iter().all(|e| e.0 >= node.master_id()));
        let (k2, lp2) = encode_node(node.master_id(), &entries);
        let lp2 = Listpack::new(&lp2).expect("re-encoded node listpack");
        let n2 = StreamNode::new(&k2, lp2).expect("re-encoded node");
        n2.validate().expect("re-encoded node validates");
        assert_eq!(node_entries(&n2).expect("re-encoded entries"), entries);
    }
}

/// A module value (a module id length, then the opcode stream): `walk` and `next_item` agree;
/// the id's name round-trips; the same bytes as a type-7 value go through the whole-file checks.
pub fn module(data: &[u8]) {
    let mut c = Cursor::new(data, 0);
    if let Ok(id) = rdbkit_rdb::internals::length::read_len(&mut c, "module id") {
        let id = ModuleId { id };
        assert_eq!(ModuleId::from_name(&id.name(), id.encver()), Some(id));
    }
    let ops = &data[c.pos()..];
    walk_agrees(ops);
    file(&single_value_file(9, 7, data));
}

fn walk_agrees(data: &[u8]) {
    let mut a = Vec::new();
    let ra = module::walk(&mut Cursor::new(data, 0), |item, at| {
        assert!(at <= data.len() as u64);
        a.push(format!("{item:?}"));
        Ok(())
    });
    let mut c = Cursor::new(data, 0);
    let mut b = Vec::new();
    let rb = loop {
        match module::next_item(&mut c) {
            Ok(Some((item, _))) => b.push(format!("{item:?}")),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    assert_eq!(a, b);
    assert_eq!(ra.is_ok(), rb.is_ok());
    if ra.is_ok() {
        assert!(c.pos() <= data.len());
    }
}

// ---- LZF and the small encodings -------------------------------------------------------------

/// LZF: bytes 0-1 are the expected length (LE), the rest the compressed stream. `validate`
/// agrees with `decompress_into`, and `decompress_reusing` (into a buffer of garbage) with
/// both; compression round-trips.
pub fn lzf(data: &[u8]) {
    use rdbkit_rdb::internals::lzf;
    if data.len() >= 2 {
        let n = u16::from_le_bytes([data[0], data[1]]) as usize;
        let src = &data[2..];
        let v = lzf::validate(src, n);
        let mut out = b"pre".to_vec();
        let d = lzf::decompress_into(src, n, &mut out);
        assert_eq!(v, d, "validate and decompress_into disagree");
        // validate's interleaved lanes (here as small as the input allows) end where one
        // walk ends.
        let lane_min = 1 + usize::from(data[0] % 64);
        assert_eq!(
            lzf::lane_walk_end(src, lane_min),
            lzf::lane_walk_end(src, usize::MAX),
            "the lanes' walk and the single walk disagree"
        );
        match d {
            Ok(()) => assert_eq!(out.len(), 3 + n),
            Err(_) => assert_eq!(out, b"pre", "a failed decompression changed the output"),
        }
        // Into a reused buffer holding garbage (not zeroed first): the same verdict and bytes.
        let mut reused = vec![0xA5; usize::from(data[1] % 8) * 40];
        let r = lzf::decompress_reusing(src, n, &mut reused);
        assert_eq!(r, d, "decompress_reusing and decompress_into disagree");
        if r.is_ok() {
            assert_eq!(reused, out[3..], "decompress_reusing produced other bytes");
        } else {
            assert!(reused.is_empty(), "a failed decompress_reusing left bytes");
        }
    }
    if let Some(c) = lzf::compress(data) {
        assert!(c.len() < data.len(), "compression did not shrink");
        let mut out = Vec::new();
        lzf::decompress_into(&c, data.len(), &mut out).expect("own compression decodes");
        assert_eq!(out, data, "compression does not round-trip");
        lzf::validate(&c, data.len()).expect("own compression validates");
    }
}

/// Lengths, strings (raw / INT8-32 / LZF), canonical integers and zset text scores.
pub fn encodings(data: &[u8]) {
    // Length prefix: a plain length re-encodes in at most as many bytes and reads back.
    let mut c = Cursor::new(data, 0);
    if let Ok(Len::Plain(n)) = read_len_or_enc(&mut c) {
        let used = c.pos();
        assert!(used <= 9);
        let mut e = Vec::new();
        encode_len(n, &mut e);
        assert!(e.len() <= used, "shortest form is longer than the input's");
        let mut c2 = Cursor::new(&e, 0);
        assert_eq!(read_len_or_enc(&mut c2).ok(), Some(Len::Plain(n)));
        assert_eq!(c2.pos(), e.len());
    }
    // String: the raw, rendered and decompressed forms agree.
    let mut c = Cursor::new(data, 0);
    if let Ok(s) = read_string(&mut c, "fuzz string") {
        assert!(c.pos() <= data.len());
        let mut buf = Vec::new();
        let b = s.bytes_in(&mut buf, 0).map(|b| b.to_vec());
        assert_eq!(
            s.validate(0).is_ok(),
            b.is_ok(),
            "LZF validate vs decompress"
        );
        match s {
            RdbString::Raw(r) => assert_eq!(b.as_deref().ok(), Some(r)),
            RdbString::Int(i) => {
                assert!(i32::try_from(i).is_ok());
                assert_eq!(b.as_deref().ok(), Some(i.to_string().as_bytes()));
            }
            RdbString::Lzf { len, .. } => {
                if let Ok(b) = &b {
                    assert_eq!(b.len(), len);
                }
            }
        }
        if let Ok(b) = &b {
            assert_eq!(s.len(), b.len());
            assert_eq!(s.to_cow(0).expect("to_cow").as_ref(), &b[..]);
            let mut buf = Vec::new();
            let e = s.entry_in(&mut buf, 0).expect("entry_in");
            assert_eq!(owned(e), *b);
        }
    }
    // Canonical integers: exactly the strings i64's Display writes.
    if let Some(i) = parse_canonical_i64(data) {
        assert_eq!(i.to_string().as_bytes(), data);
        assert_eq!(IntBuf::new().format(i), data);
        assert_eq!(Entry::Bytes(data).as_i64(), Some(i));
    } else if let Some(i) = std::str::from_utf8(data)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
    {
        assert_ne!(i.to_string().as_bytes(), data, "canonical {i} refused");
    }
    if data.len() >= 8 {
        let i = i64::from_le_bytes(data[..8].try_into().unwrap_or_default());
        assert_eq!(IntBuf::new().format(i), i.to_string().as_bytes());
    }
    // A zset text score (type 3): anything Rust reads as a number is accepted, with that value.
    if data.len() < 253 {
        let mut payload = vec![1, 1, b'm', data.len() as u8];
        payload.extend_from_slice(data);
        let f = single_value_file(5, 3, &payload);
        let mut p = RdbParser::new(&f, Options::default());
        if let Some(Ok(Record::Key(k))) = p.next() {
            let mut col = Recorder::default();
            let r = k
                .value
                .visit(&mut Scratch::new(), &mut col, false)
                .map(|_| col.events);
            let rust = std::str::from_utf8(data)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|x| !x.is_nan());
            if let Some(x) = rust {
                let evs = r.expect("a score Rust parses is refused");
                assert_eq!(evs, vec![Ev::Zset(b"m".to_vec(), x.to_bits())]);
            }
        }
    }
}
