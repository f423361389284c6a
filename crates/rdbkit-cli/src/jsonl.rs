//! The JSON-lines dump format, written by hand into a byte buffer (streaming, exact doubles).
//!
//! This is a stable interface: one object per key, in file order, one per line. Its one
//! specification is the README's section "`rdbkit check` and `rdbkit dump`" (the `dump
//! --format jsonl` part): keep the code and that text in step.

use std::collections::HashMap;

use rdbkit_rdb::{
    ArrayValue, Entry, GroupMeta, IntBuf, KeyRecord, ModuleId, ModuleItem, RdbString, Scratch,
    StreamId, StreamMeta, Type, VisitResult, Visitor,
};

// The byte-string rules are shared with `rdbkit aof dump`: one implementation, in rdbkit-aof.
pub use rdbkit_aof::dump::json_bytes as write_bytes;

fn write_entry(out: &mut Vec<u8>, e: Entry<'_>) {
    match e {
        Entry::Bytes(b) => write_bytes(out, b),
        Entry::Int(i) => {
            out.push(b'"');
            out.extend_from_slice(IntBuf::new().format(i));
            out.push(b'"');
        }
    }
}

/// A double as JSON: shortest text that reads back as the same double; infinities as
/// `"inf"`/`"-inf"` (JSON has no literal for them).
pub fn write_f64(out: &mut Vec<u8>, d: f64) {
    if d.is_nan() {
        out.extend_from_slice(b"\"nan\"");
    } else if d == f64::INFINITY {
        out.extend_from_slice(b"\"inf\"");
    } else if d == f64::NEG_INFINITY {
        out.extend_from_slice(b"\"-inf\"");
    } else if !write_f64_dyadic(out, d) {
        // `{:?}` is the shortest round-trip form and always valid JSON for finite values.
        use std::io::Write as _;
        let _ = write!(out, "{d:?}");
    }
}

/// The fast path of [`write_f64`], byte for byte what `{:?}` prints, for the common scores:
/// a multiple of 1/1024 below 2^43 in magnitude whose exact decimal has at most 15 significant
/// digits. Such a decimal is the shortest that reads back as `d` (another decimal of at most
/// 15 digits is at least 10^(E-14) away, more than half an ulp), and `{:?}` prints the shortest
/// digits in positional form for 1e-4 <= |d| < 1e16 (|d| >= 2^-10 here) with at least one
/// fractional digit. Returns false, writing nothing, for any other double.
/// Measured: `format!` was ~250 instructions a score, ~11 % of a dump of zset-heavy files.
fn write_f64_dyadic(out: &mut Vec<u8>, d: f64) -> bool {
    const SCALE: f64 = 1024.0;
    let t = d * SCALE; // exact: a power of two (d is finite; overflow is caught below)
                       // (An overflow to infinity fails the first test.)
    if t.abs() >= (1u64 << 53) as f64 || t != t.trunc() {
        return false;
    }
    let m = t.abs() as u64; // exact: an integer below 2^53
    let int = m >> 10;
    // The fraction m mod 1024 over 1024 is frac·5^10 over 10^10: ten decimal digits.
    let mut frac = (m & 1023) * 9_765_625;
    let mut frac_digits = 10u32;
    if frac == 0 {
        frac_digits = 1; // "x.0"
    } else {
        while frac.is_multiple_of(10) {
            frac /= 10;
            frac_digits -= 1;
        }
    }
    let int_digits = if int == 0 { 0 } else { int.ilog10() + 1 };
    let sig = if m == 0 {
        1
    } else if int == 0 {
        // Leading zeros of the fraction are not significant.
        frac.ilog10() + 1
    } else {
        int_digits + if m & 1023 == 0 { 0 } else { frac_digits }
    };
    if sig > 15 {
        return false;
    }
    if d.is_sign_negative() {
        out.push(b'-');
    }
    write_u64(out, int);
    out.push(b'.');
    let mut buf = [b'0'; 10];
    let mut f = frac;
    for b in buf[..frac_digits as usize].iter_mut().rev() {
        *b = b'0' + (f % 10) as u8;
        f /= 10;
    }
    out.extend_from_slice(&buf[..frac_digits as usize]);
    true
}

fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn write_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(IntBuf::new().format(v));
}

fn write_id(out: &mut Vec<u8>, id: StreamId) {
    out.push(b'"');
    write_u64(out, id.ms);
    out.push(b'-');
    write_u64(out, id.seq);
    out.push(b'"');
}

fn comma(out: &mut Vec<u8>, first: &mut bool) {
    if !*first {
        out.push(b',');
    }
    *first = false;
}

struct Group {
    name: Vec<u8>,
    last: StreamId,
    entries_read: Option<u64>,
    pel: Vec<(StreamId, u64)>,
    consumers: Vec<(Vec<u8>, Vec<StreamId>)>,
    nacked: Vec<StreamId>,
}

/// Writes the value as JSON into `out`.
struct JsonValue<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
    /// Hash: write [f, v, ttl] triplets.
    triplets: bool,
    /// Zset that must be sorted into rank order first.
    zset: Option<Vec<(Vec<u8>, f64)>>,
    in_entry: bool,
    entries_open: bool,
    group: Option<Group>,
    groups_first: bool,
    /// Stream v5 (Redis 8.8): groups carry a "nacked" list.
    nack_zones: bool,
}

impl Visitor for JsonValue<'_> {
    fn string(&mut self, s: Entry<'_>) -> VisitResult {
        write_entry(self.out, s);
        Ok(())
    }
    fn element(&mut self, e: Entry<'_>) -> VisitResult {
        comma(self.out, &mut self.first);
        write_entry(self.out, e);
        Ok(())
    }
    fn zset_member(&mut self, m: Entry<'_>, score: f64) -> VisitResult {
        if let Some(z) = &mut self.zset {
            z.push((m.to_cow().into_owned(), score));
            return Ok(());
        }
        comma(self.out, &mut self.first);
        self.out.push(b'[');
        write_entry(self.out, m);
        self.out.push(b',');
        write_f64(self.out, score);
        self.out.push(b']');
        Ok(())
    }
    fn hash_field(&mut self, f: Entry<'_>, v: Entry<'_>, ttl: Option<i64>) -> VisitResult {
        comma(self.out, &mut self.first);
        self.out.push(b'[');
        write_entry(self.out, f);
        self.out.push(b',');
        write_entry(self.out, v);
        if self.triplets {
            self.out.push(b',');
            match ttl {
                Some(t) => write_i64(self.out, t),
                None => self.out.extend_from_slice(b"null"),
            }
        }
        self.out.push(b']');
        Ok(())
    }
    fn module_begin(&mut self, id: ModuleId) -> VisitResult {
        self.out.extend_from_slice(b"{\"module\":");
        write_bytes(self.out, &id.name());
        self.out.extend_from_slice(b",\"encver\":");
        write_u64(self.out, id.encver());
        self.out.extend_from_slice(b",\"payload\":[");
        Ok(())
    }
    fn module_item(&mut self, item: ModuleItem<'_>) -> VisitResult {
        comma(self.out, &mut self.first);
        match item {
            ModuleItem::Signed(v) => {
                // Written as UINT by RM_SaveSigned; shown as the stored unsigned value.
                self.out.extend_from_slice(b"[\"uint\",");
                write_u64(self.out, v as u64);
            }
            ModuleItem::Unsigned(v) => {
                self.out.extend_from_slice(b"[\"uint\",");
                write_u64(self.out, v);
            }
            ModuleItem::Float(f) => {
                self.out.extend_from_slice(b"[\"float\",");
                write_f64(self.out, f64::from(f));
            }
            ModuleItem::Double(d) => {
                self.out.extend_from_slice(b"[\"double\",");
                write_f64(self.out, d);
            }
            ModuleItem::String(s) => {
                self.out.extend_from_slice(b"[\"string\",");
                match s {
                    RdbString::Raw(b) => write_bytes(self.out, b),
                    RdbString::Int(i) => write_entry(self.out, Entry::Int(i)),
                    RdbString::Lzf { .. } => write_bytes(self.out, b""),
                }
            }
        }
        self.out.push(b']');
        Ok(())
    }
    fn stream_entry(&mut self, id: StreamId) -> VisitResult {
        if !self.entries_open {
            self.out.extend_from_slice(b"\"entries\":[");
            self.entries_open = true;
        }
        if self.in_entry {
            self.out.extend_from_slice(b"]]");
        }
        comma(self.out, &mut self.first);
        self.out.push(b'[');
        write_id(self.out, id);
        self.out.extend_from_slice(b",[");
        self.in_entry = true;
        self.groups_first = true;
        Ok(())
    }
    fn stream_field(&mut self, f: Entry<'_>, v: Entry<'_>) -> VisitResult {
        if !self.groups_first {
            self.out.push(b',');
        }
        self.groups_first = false;
        self.out.push(b'[');
        write_entry(self.out, f);
        self.out.push(b',');
        write_entry(self.out, v);
        self.out.push(b']');
        Ok(())
    }
    fn stream_meta(&mut self, m: &StreamMeta) -> VisitResult {
        if self.in_entry {
            self.out.extend_from_slice(b"]]");
            self.in_entry = false;
        }
        if !self.entries_open {
            self.out.extend_from_slice(b"\"entries\":[");
        }
        self.out.extend_from_slice(b"],\"length\":");
        write_u64(self.out, m.length);
        self.out.extend_from_slice(b",\"last_id\":");
        write_id(self.out, m.last_id);
        if let Some(id) = m.first_id {
            self.out.extend_from_slice(b",\"first_id\":");
            write_id(self.out, id);
        }
        if let Some(id) = m.max_deleted_id {
            self.out.extend_from_slice(b",\"max_deleted_id\":");
            write_id(self.out, id);
        }
        if let Some(n) = m.entries_added {
            self.out.extend_from_slice(b",\"entries_added\":");
            write_u64(self.out, n);
        }
        self.out.extend_from_slice(b",\"groups\":[");
        self.groups_first = true;
        self.nack_zones = m.version >= 5;
        Ok(())
    }
    fn stream_group(&mut self, g: &GroupMeta<'_>) -> VisitResult {
        self.group = Some(Group {
            name: g.name.to_vec(),
            last: g.last_delivered_id,
            entries_read: g.entries_read,
            pel: Vec::new(),
            consumers: Vec::new(),
            nacked: Vec::new(),
        });
        Ok(())
    }
    fn stream_pel(&mut self, id: StreamId, _t: i64, count: u64) -> VisitResult {
        if let Some(g) = &mut self.group {
            g.pel.push((id, count));
        }
        Ok(())
    }
    fn stream_consumer(&mut self, name: &[u8], _seen: i64, _active: Option<i64>) -> VisitResult {
        if let Some(g) = &mut self.group {
            g.consumers.push((name.to_vec(), Vec::new()));
        }
        Ok(())
    }
    fn stream_consumer_pel(&mut self, id: StreamId) -> VisitResult {
        if let Some((_, pel)) = self.group.as_mut().and_then(|g| g.consumers.last_mut()) {
            pel.push(id);
        }
        Ok(())
    }
    fn stream_nacked(&mut self, id: StreamId) -> VisitResult {
        if let Some(g) = &mut self.group {
            g.nacked.push(id);
        }
        Ok(())
    }
    fn array_begin(&mut self, _count: u64, insert_idx: Option<u64>) -> VisitResult {
        self.out.extend_from_slice(b"\"insert_idx\":");
        match insert_idx {
            Some(i) => {
                self.out.push(b'"');
                write_u64(self.out, i);
                self.out.push(b'"');
            }
            None => self.out.extend_from_slice(b"null"),
        }
        self.out.extend_from_slice(b",\"elements\":[");
        Ok(())
    }
    fn array_element(&mut self, idx: u64, v: ArrayValue<'_>) -> VisitResult {
        comma(self.out, &mut self.first);
        self.out.extend_from_slice(b"[\"");
        write_u64(self.out, idx);
        self.out.extend_from_slice(b"\",");
        match v {
            ArrayValue::Str(e) => write_entry(self.out, e),
            ArrayValue::Int(i) => write_entry(self.out, Entry::Int(i)),
            ArrayValue::Float(d) => write_f64(self.out, d),
        }
        self.out.push(b']');
        Ok(())
    }
    fn stream_group_end(&mut self) -> VisitResult {
        let Some(g) = self.group.take() else {
            return Ok(());
        };
        comma(self.out, &mut self.groups_first);
        let out = &mut *self.out;
        out.extend_from_slice(b"{\"name\":");
        write_bytes(out, &g.name);
        out.extend_from_slice(b",\"last_delivered_id\":");
        write_id(out, g.last);
        if let Some(er) = g.entries_read {
            out.extend_from_slice(b",\"entries_read\":");
            if er == u64::MAX {
                out.extend_from_slice(b"null");
            } else {
                write_u64(out, er);
            }
        }
        let mut owner: HashMap<StreamId, usize> = HashMap::new();
        for (i, (_, ids)) in g.consumers.iter().enumerate() {
            for id in ids {
                owner.insert(*id, i);
            }
        }
        out.extend_from_slice(b",\"pending\":[");
        let mut first = true;
        for (id, count) in &g.pel {
            comma(out, &mut first);
            out.push(b'[');
            write_id(out, *id);
            out.push(b',');
            match owner.get(id).and_then(|&i| g.consumers.get(i)) {
                Some((name, _)) => write_bytes(out, name),
                None => out.extend_from_slice(b"null"),
            }
            out.push(b',');
            write_u64(out, *count);
            out.push(b']');
        }
        out.extend_from_slice(b"],\"consumers\":[");
        let mut first = true;
        for (name, ids) in &g.consumers {
            comma(out, &mut first);
            out.extend_from_slice(b"{\"name\":");
            write_bytes(out, name);
            out.extend_from_slice(b",\"pending\":[");
            let mut f2 = true;
            for id in ids {
                comma(out, &mut f2);
                write_id(out, *id);
            }
            out.extend_from_slice(b"]}");
        }
        out.push(b']');
        if self.nack_zones {
            out.extend_from_slice(b",\"nacked\":[");
            let mut first = true;
            for id in &g.nacked {
                comma(out, &mut first);
                write_id(out, *id);
            }
            out.push(b']');
        }
        out.push(b'}');
        Ok(())
    }
}

/// Finds whether any hash field carries a TTL.
struct AnyTtl(bool);
impl Visitor for AnyTtl {
    fn hash_field(&mut self, _f: Entry<'_>, _v: Entry<'_>, ttl: Option<i64>) -> VisitResult {
        self.0 |= ttl.is_some();
        Ok(())
    }
}

/// Appends one key as a JSON line to `out`. On error `out` may hold a partial line: the caller
/// truncates it.
pub fn write_key(
    out: &mut Vec<u8>,
    k: &KeyRecord<'_>,
    scratch: &mut Scratch,
    deep: bool,
) -> Result<(), rdbkit_rdb::Error> {
    let v = &k.value;
    out.extend_from_slice(b"{\"db\":");
    write_u64(out, k.db);
    out.extend_from_slice(b",\"key\":");
    write_bytes(out, k.key);
    out.extend_from_slice(b",\"type\":\"");
    out.extend_from_slice(v.ty.family().as_bytes());
    out.extend_from_slice(b"\",\"encoding\":\"");
    out.extend_from_slice(v.encoding().as_bytes());
    out.extend_from_slice(b"\",\"expire_ms\":");
    match k.expire_ms {
        Some(t) => write_i64(out, t),
        None => out.extend_from_slice(b"null"),
    }
    if let Some(f) = k.lfu_freq {
        out.extend_from_slice(b",\"lfu_freq\":");
        write_u64(out, u64::from(f));
    }
    if let Some(i) = k.lru_idle {
        out.extend_from_slice(b",\"lru_idle\":");
        write_u64(out, i);
    }
    out.extend_from_slice(b",\"value\":");
    let family = v.ty.family();
    let triplets = match v.ty {
        Type::HashListpackEx | Type::HashListpackExPreGa => true,
        Type::HashMetadata | Type::HashMetadataPreGa | Type::ValkeyHash2 => {
            let mut any = AnyTtl(false);
            v.visit(scratch, &mut any, false)?;
            any.0
        }
        _ => false,
    };
    let (open, close): (&[u8], &[u8]) = match family {
        "string" | "module" => (b"", b""),
        "stream" | "array" => (b"{", b"]}"),
        _ => (b"[", b"]"),
    };
    out.extend_from_slice(open);
    let mut jv = JsonValue {
        out,
        first: true,
        triplets,
        zset: v.zset_needs_sort().then(Vec::new),
        in_entry: false,
        entries_open: false,
        group: None,
        groups_first: true,
        nack_zones: false,
    };
    v.visit(scratch, &mut jv, deep)?;
    if let Some(mut z) = jv.zset.take() {
        // Rank order: by score, then member bytes (Redis's zslCompare).
        z.sort_by(|a, b| {
            a.1.partial_cmp(&b.1)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.0.cmp(&b.0))
        });
        for (m, s) in z {
            jv.zset_member(Entry::Bytes(&m), s).ok();
        }
    }
    let module = family == "module";
    let out = jv.out;
    if module {
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(close);
    out.extend_from_slice(b"}\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_base64() {
        let mut o = Vec::new();
        write_bytes(&mut o, b"a\"\\\n\x00\x1f\x7f\xc3\xa9");
        assert_eq!(o, b"\"a\\\"\\\\\\n\\u0000\\u001f\x7f\xc3\xa9\"");
        o.clear();
        write_bytes(&mut o, b"\xff\x00a");
        assert_eq!(o, b"{\"base64\":\"/wBh\"}");
        o.clear();
        rdbkit_aof::dump::base64(&mut o, b"ab");
        assert_eq!(o, b"YWI=");
    }

    #[test]
    fn doubles_round_trip() {
        for d in [5e-324, f64::MAX, -0.0, 0.1, 1.0 / 3.0, 1e21, 12.0] {
            let mut o = Vec::new();
            write_f64(&mut o, d);
            let back: f64 = std::str::from_utf8(&o).unwrap().parse().unwrap();
            assert_eq!(back.to_bits(), d.to_bits());
        }
        let mut o = Vec::new();
        write_f64(&mut o, f64::NEG_INFINITY);
        assert_eq!(o, b"\"-inf\"");
    }

    /// The fast path prints exactly what `{:?}` prints, on every kind of double: dyadic
    /// scores of every size, their neighbours, powers of ten, and random bit patterns.
    #[test]
    fn doubles_fast_path_is_debug() {
        let check = |d: f64| {
            if !d.is_finite() {
                return;
            }
            let mut o = Vec::new();
            write_f64(&mut o, d);
            assert_eq!(
                std::str::from_utf8(&o).unwrap(),
                format!("{d:?}"),
                "{:x}",
                d.to_bits()
            );
        };
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // The fast path is taken for scores like these (and not for 0.1).
        for (d, fast) in [(19.25, true), (-0.0, true), (514.125, true), (0.1, false)] {
            assert_eq!(write_f64_dyadic(&mut Vec::new(), d), fast, "{d}");
        }
        for d in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            19.25,
            1e15,
            1e16,
            1e-4,
            9.5e-4,
            2f64.powi(-10),
        ] {
            check(d);
        }
        for e in -12..60 {
            let p = 2f64.powi(e);
            for d in [
                p,
                -p,
                p * 3.0,
                p - 1.0,
                p + 1.0,
                p / 1024.0,
                p * 1023.0 / 1024.0,
            ] {
                check(d);
                check(f64::from_bits(d.to_bits() + 1));
                check(f64::from_bits(d.to_bits().wrapping_sub(1)));
            }
        }
        for e in -20..20 {
            check(10f64.powi(e));
            check(-(10f64.powi(e)) * 1.5);
        }
        for _ in 0..200_000 {
            let r = next();
            // Dyadic numbers of every magnitude and fraction width.
            let bits = (r >> 58) as u32;
            let m = (next() >> (11 + bits)) as i64 - (1i64 << (52 - bits));
            let scale = 2f64.powi((r % 14) as i32);
            check(m as f64 / scale);
            check(f64::from_bits(next()));
        }
    }
}
