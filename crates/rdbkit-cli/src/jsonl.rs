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
    } else {
        // `{:?}` is the shortest round-trip form and always valid JSON for finite values.
        out.extend_from_slice(format!("{d:?}").as_bytes());
    }
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
}
