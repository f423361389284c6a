//! `rdbkit export`'s tables: typed Arrow columns built key by key and written as Parquet,
//! Arrow IPC or CSV, a bounded batch at a time.
//!
//! Every table starts with `source` (the input as named on the command line), `db` and `key`.
//! The `keys` table has one row per key; with `--values` the long tables hold one row per
//! string value, list item, set member, zset member, hash field and stream entry field. The
//! schema is documented in the README's `rdbkit export` section and by [`Table::schema`].

pub mod html;

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use rdbkit_rdb::{Entry, IntBuf, StreamId, VisitResult, Visitor};

use crate::filter::escape_key;

/// The output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Apache Parquet (zstd-compressed by default).
    Parquet,
    /// Arrow IPC file format (`.arrow`, Feather v2).
    Arrow,
    /// CSV with a header; binary columns escaped as `rdbkit keys` prints keys.
    Csv,
}

impl Format {
    /// The file extension of a part.
    pub fn ext(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Arrow => "arrow",
            Format::Csv => "csv",
        }
    }
}

/// Parquet compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Codec {
    /// zstd level 3.
    Zstd,
    /// No compression.
    None,
}

/// How tables are written.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The file format.
    pub format: Format,
    /// Parquet compression.
    pub codec: Codec,
    /// Rows per Arrow batch (the unit flushed to the writer).
    pub batch_rows: usize,
    /// A Parquet row group is closed once its encoded size reaches this many bytes.
    pub row_group_bytes: usize,
}

/// The kind of a column.
#[derive(Clone, Copy)]
enum Kind {
    Bin,
    Str,
    I64,
    F64,
    Ts,
}

/// The tables, in output order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    /// One row per key.
    Keys,
    /// One row per string key: its value.
    Strings,
    /// One row per list item, with its index (0 = head).
    ListItems,
    /// One row per set member.
    SetMembers,
    /// One row per sorted-set member, with its score.
    ZsetMembers,
    /// One row per hash field, with its value and TTL.
    HashFields,
    /// One row per field of a stream entry, with the entry ID.
    StreamEntries,
}

impl TableKind {
    /// The tables written with `--values`.
    pub const VALUES: [TableKind; 6] = [
        TableKind::Strings,
        TableKind::ListItems,
        TableKind::SetMembers,
        TableKind::ZsetMembers,
        TableKind::HashFields,
        TableKind::StreamEntries,
    ];

    /// The table's folder name.
    pub fn name(self) -> &'static str {
        match self {
            TableKind::Keys => "keys",
            TableKind::Strings => "strings",
            TableKind::ListItems => "list_items",
            TableKind::SetMembers => "set_members",
            TableKind::ZsetMembers => "zset_members",
            TableKind::HashFields => "hash_fields",
            TableKind::StreamEntries => "stream_entries",
        }
    }

    /// The columns after `source`, `db`, `key`.
    fn columns(self, prefix_depth: usize) -> Vec<(String, Kind, bool)> {
        let c = |n: &str, k: Kind, nullable: bool| (n.to_string(), k, nullable);
        match self {
            TableKind::Keys => {
                let mut v = vec![
                    c("type", Kind::Str, false),
                    c("encoding", Kind::Str, false),
                    c("expire_ms", Kind::Ts, true),
                    c("lfu_freq", Kind::I64, true),
                    c("lru_idle", Kind::I64, true),
                    c("bytes", Kind::I64, false),
                    c("elements", Kind::I64, false),
                    c("largest_element", Kind::I64, false),
                    c("memory", Kind::I64, false),
                ];
                for i in 1..=prefix_depth {
                    v.push(c(&format!("prefix_{i}"), Kind::Str, false));
                }
                v
            }
            TableKind::Strings => vec![c("value", Kind::Bin, false)],
            TableKind::ListItems => {
                vec![c("index", Kind::I64, false), c("value", Kind::Bin, false)]
            }
            TableKind::SetMembers => vec![c("member", Kind::Bin, false)],
            TableKind::ZsetMembers => {
                vec![c("member", Kind::Bin, false), c("score", Kind::F64, false)]
            }
            TableKind::HashFields => vec![
                c("field", Kind::Bin, false),
                c("value", Kind::Bin, false),
                c("expire_ms", Kind::Ts, true),
            ],
            TableKind::StreamEntries => vec![
                c("id", Kind::Str, false),
                c("id_ms", Kind::I64, false),
                c("id_seq", Kind::I64, false),
                c("field", Kind::Bin, false),
                c("value", Kind::Bin, false),
            ],
        }
    }
}

enum Col {
    Bin(BinaryBuilder),
    Str(StringBuilder),
    I64(Int64Builder),
    F64(Float64Builder),
    Ts(TimestampMillisecondBuilder),
}

impl Col {
    fn new(k: Kind, csv: bool) -> Col {
        match k {
            Kind::Bin if csv => Col::Str(StringBuilder::new()),
            Kind::Bin => Col::Bin(BinaryBuilder::new()),
            Kind::Str => Col::Str(StringBuilder::new()),
            Kind::I64 => Col::I64(Int64Builder::new()),
            Kind::F64 => Col::F64(Float64Builder::new()),
            Kind::Ts => Col::Ts(TimestampMillisecondBuilder::new().with_timezone("+00:00")),
        }
    }
    fn finish(&mut self) -> ArrayRef {
        match self {
            Col::Bin(b) => Arc::new(b.finish()),
            Col::Str(b) => Arc::new(b.finish()),
            Col::I64(b) => Arc::new(b.finish()),
            Col::F64(b) => Arc::new(b.finish()),
            Col::Ts(b) => Arc::new(b.finish()),
        }
    }
}

enum Sink {
    Parquet(ArrowWriter<File>),
    Arrow(arrow_ipc::writer::FileWriter<File>),
    Csv(Box<arrow_csv::Writer<File>>),
}

/// One table of one input, being written to `path`.
pub struct Table {
    schema: SchemaRef,
    cols: Vec<Col>,
    rows: usize,
    /// Rows written in all.
    pub total_rows: u64,
    sink: Option<Sink>,
    opts: Options,
    path: PathBuf,
}

fn err(path: &Path, e: impl std::fmt::Display) -> String {
    format!("\u{0}writing {}: {e}", path.display())
}

impl Table {
    /// The Arrow schema of a table (`--prefix-depth` adds `prefix_1..prefix_N` to `keys`).
    pub fn schema(kind: TableKind, prefix_depth: usize, csv: bool) -> Schema {
        let mut fields = vec![
            Field::new("source", DataType::Utf8, false),
            Field::new("db", DataType::Int64, false),
            Field::new(
                "key",
                if csv {
                    DataType::Utf8
                } else {
                    DataType::Binary
                },
                false,
            ),
        ];
        for (name, k, nullable) in kind.columns(prefix_depth) {
            let dt = match k {
                Kind::Bin if csv => DataType::Utf8,
                Kind::Bin => DataType::Binary,
                Kind::Str => DataType::Utf8,
                Kind::I64 => DataType::Int64,
                Kind::F64 => DataType::Float64,
                Kind::Ts => DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())),
            };
            fields.push(Field::new(name, dt, nullable));
        }
        Schema::new(fields)
    }

    /// Creates `path` (new) and its parent folders.
    pub fn create(
        kind: TableKind,
        prefix_depth: usize,
        opts: Options,
        path: PathBuf,
    ) -> Result<Table, String> {
        let csv = opts.format == Format::Csv;
        let schema = Arc::new(Table::schema(kind, prefix_depth, csv));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
        }
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| err(&path, e))?;
        let sink = match opts.format {
            Format::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(match opts.codec {
                        Codec::Zstd => Compression::ZSTD(ZstdLevel::default()),
                        Codec::None => Compression::UNCOMPRESSED,
                    })
                    // rows are bounded by bytes below; this only caps pathological tables
                    .set_max_row_group_size(64 * 1024 * 1024)
                    .build();
                Sink::Parquet(
                    ArrowWriter::try_new(file, schema.clone(), Some(props))
                        .map_err(|e| err(&path, e))?,
                )
            }
            Format::Arrow => Sink::Arrow(
                arrow_ipc::writer::FileWriter::try_new(file, &schema).map_err(|e| err(&path, e))?,
            ),
            Format::Csv => Sink::Csv(Box::new(
                arrow_csv::WriterBuilder::new()
                    .with_header(true)
                    .build(file),
            )),
        };
        let mut cols: Vec<Col> = vec![
            Col::new(Kind::Str, csv),
            Col::new(Kind::I64, csv),
            Col::new(Kind::Bin, csv),
        ];
        cols.extend(
            kind.columns(prefix_depth)
                .into_iter()
                .map(|(_, k, _)| Col::new(k, csv)),
        );
        Ok(Table {
            schema,
            cols,
            rows: 0,
            total_rows: 0,
            sink: Some(sink),
            opts,
            path,
        })
    }

    /// Column `i`: bytes (binary; escaped text in CSV).
    pub fn bin(&mut self, i: usize, b: &[u8]) {
        match &mut self.cols[i] {
            Col::Bin(c) => c.append_value(b),
            Col::Str(c) => c.append_value(escape_key(b)),
            _ => debug_assert!(false, "column {i} is not binary"),
        }
    }
    /// Column `i`: an element (integers as their decimal text, as the server returns them).
    pub fn entry(&mut self, i: usize, e: Entry<'_>) {
        let mut buf = IntBuf::new();
        let b = e.as_bytes(&mut buf);
        self.bin(i, b)
    }
    /// Column `i`: text.
    pub fn str(&mut self, i: usize, s: &str) {
        if let Col::Str(c) = &mut self.cols[i] {
            c.append_value(s)
        }
    }
    /// Column `i`: an integer or null.
    pub fn i64(&mut self, i: usize, v: Option<i64>) {
        if let Col::I64(c) = &mut self.cols[i] {
            c.append_option(v)
        }
    }
    /// Column `i`: a double.
    pub fn f64(&mut self, i: usize, v: f64) {
        if let Col::F64(c) = &mut self.cols[i] {
            c.append_value(v)
        }
    }
    /// Column `i`: Unix ms or null.
    pub fn ts(&mut self, i: usize, v: Option<i64>) {
        if let Col::Ts(c) = &mut self.cols[i] {
            c.append_option(v)
        }
    }
    /// The first three columns.
    pub fn head(&mut self, source: &str, db: u64, key: &[u8]) {
        self.str(0, source);
        self.i64(1, Some(db as i64));
        self.bin(2, key);
    }

    /// Ends a row; a full batch goes to the writer.
    pub fn end_row(&mut self) -> Result<(), String> {
        self.rows += 1;
        self.total_rows += 1;
        if self.rows >= self.opts.batch_rows {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn flush_batch(&mut self) -> Result<(), String> {
        if self.rows == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self.cols.iter_mut().map(Col::finish).collect();
        self.rows = 0;
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| format!("\u{0}internal error building {}: {e}", self.path.display()))?;
        let path = &self.path;
        match self.sink.as_mut() {
            Some(Sink::Parquet(w)) => {
                w.write(&batch).map_err(|e| err(path, e))?;
                if w.in_progress_size() >= self.opts.row_group_bytes {
                    w.flush().map_err(|e| err(path, e))?;
                }
            }
            Some(Sink::Arrow(w)) => w.write(&batch).map_err(|e| err(path, e))?,
            Some(Sink::Csv(w)) => w.write(&batch).map_err(|e| err(path, e))?,
            None => {}
        }
        Ok(())
    }

    /// Writes what is left, closes the file and syncs it to disk.
    pub fn finish(mut self) -> Result<u64, String> {
        self.flush_batch()?;
        let path = self.path.clone();
        let file: File = match self.sink.take() {
            Some(Sink::Parquet(w)) => w.into_inner().map_err(|e| err(&path, e))?,
            Some(Sink::Arrow(mut w)) => {
                w.finish().map_err(|e| err(&path, e))?;
                w.into_inner().map_err(|e| err(&path, e))?
            }
            Some(Sink::Csv(w)) => {
                let mut f = (*w).into_inner();
                f.flush().map_err(|e| err(&path, e))?;
                f
            }
            None => return Ok(self.total_rows),
        };
        file.sync_all().map_err(|e| err(&path, e))?;
        Ok(self.total_rows)
    }
}

/// The long tables of one input, filled by visiting each key's value.
pub struct Values {
    /// strings, list_items, set_members, zset_members, hash_fields, stream_entries
    pub tables: Vec<Table>,
    source: String,
    db: u64,
    key: Vec<u8>,
    is_list: bool,
    index: i64,
    stream_id: StreamId,
    error: Option<String>,
}

impl Values {
    /// The six value tables (in [`TableKind::VALUES`] order).
    pub fn new(tables: Vec<Table>, source: &str) -> Values {
        Values {
            tables,
            source: source.to_string(),
            db: 0,
            key: Vec::new(),
            is_list: false,
            index: 0,
            stream_id: StreamId { ms: 0, seq: 0 },
            error: None,
        }
    }

    /// The key whose value is visited next.
    pub fn begin(&mut self, db: u64, key: &[u8], is_list: bool) {
        self.db = db;
        self.key.clear();
        self.key.extend_from_slice(key);
        self.is_list = is_list;
        self.index = 0;
    }

    /// A write error met while visiting (the visit itself was stopped).
    pub fn take_error(&mut self) -> Option<String> {
        self.error.take()
    }

    fn row(&mut self, t: usize) -> &mut Table {
        let (s, db) = (&self.source, self.db);
        let tab = &mut self.tables[t];
        tab.head(s, db, &self.key);
        tab
    }

    fn end(&mut self, t: usize) -> VisitResult {
        match self.tables[t].end_row() {
            Ok(()) => Ok(()),
            Err(e) => {
                self.error = Some(e.clone());
                Err(e)
            }
        }
    }
}

impl Visitor for Values {
    fn string(&mut self, s: Entry<'_>) -> VisitResult {
        self.row(0).entry(3, s);
        self.end(0)
    }
    fn element(&mut self, e: Entry<'_>) -> VisitResult {
        if self.is_list {
            let i = self.index;
            self.index += 1;
            let t = self.row(1);
            t.i64(3, Some(i));
            t.entry(4, e);
            self.end(1)
        } else {
            self.row(2).entry(3, e);
            self.end(2)
        }
    }
    fn zset_member(&mut self, member: Entry<'_>, score: f64) -> VisitResult {
        let t = self.row(3);
        t.entry(3, member);
        t.f64(4, score);
        self.end(3)
    }
    fn hash_field(
        &mut self,
        field: Entry<'_>,
        value: Entry<'_>,
        expire_ms: Option<i64>,
    ) -> VisitResult {
        let t = self.row(4);
        t.entry(3, field);
        t.entry(4, value);
        t.ts(5, expire_ms);
        self.end(4)
    }
    fn stream_entry(&mut self, id: StreamId) -> VisitResult {
        self.stream_id = id;
        Ok(())
    }
    fn stream_field(&mut self, field: Entry<'_>, value: Entry<'_>) -> VisitResult {
        let id = self.stream_id;
        let t = self.row(5);
        t.str(3, &format!("{}-{}", id.ms, id.seq));
        t.i64(4, Some(id.ms as i64));
        t.i64(5, Some(id.seq as i64));
        t.entry(6, field);
        t.entry(7, value);
        self.end(5)
    }
}

/// A name usable as a Hive partition value: letters, digits, `.`, `_` and `-` kept, anything
/// else `_`.
pub fn partition_name(s: &str) -> String {
    let v: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if v.is_empty() || v.starts_with('.') {
        format!("_{v}")
    } else {
        v
    }
}

/// Syncs a directory (so that renames into it are durable).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
