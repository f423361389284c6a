//! `rdbkit info`: what a file holds, at a glance: format version and writer (aux fields), per
//! database the keys, expiries, already-expired keys, types and encodings; functions, module
//! types, checksum status.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use rdbkit_rdb::{ChecksumStatus, Record};
use serde_json::{json, Value as Json};

use crate::failure::Failure;
use crate::filter::{escape_key, format_utc, now_ms, parse_time};
use crate::input::{self, Kind, Progress};
use crate::model::library_name;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  rdbkit info dump.rdb
  rdbkit info --json --now 2025-01-24T02:00:00 dump-20250124-020000.rdb.gz
  rdbkit info appendonlydir/

For an AOF (any layout) the data set is replayed in memory (see `rdbkit diff --help` for the \
commands the replay knows) and the same per-database summary is shown.

Exit status: 0 success; 1 usage error or the input cannot be opened; 2 the file is damaged or \
unsupported (what was read before the damage is still shown, with the error).")]
pub struct Args {
    /// Judge "already expired" at this time: Unix seconds, Unix ms or YYYY-MM-DD[THH:MM:SS]
    /// (UTC). Default: now.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Memory budget of an AOF replay (see `rdbkit keys --help`). Default 4G.
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<String>,
    #[command(flatten)]
    pub decode: crate::decode_args::DecodeArgs,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    /// RDB, AOF, manifest, appendonlydir/, gzip'd file, or `-` for standard input.
    pub file: PathBuf,
}

#[derive(Default)]
struct Db {
    keys: u64,
    expires: u64,
    expired: u64,
    /// RESIZEDB hints.
    hint: Option<(u64, u64)>,
    /// (type, encoding) -> count
    types: BTreeMap<(String, String), u64>,
}

/// Runs `rdbkit info`.
pub fn run(args: Args) -> Result<(), Failure> {
    let now = args
        .now
        .as_deref()
        .map(parse_time)
        .transpose()
        .map_err(Failure::Usage)?
        .unwrap_or_else(now_ms);
    if let Some(m) = &args.max_memory {
        crate::model::set_budget(crate::model::parse_size(m).map_err(Failure::Usage)?);
    }
    let (inp, opts) = (input::open(&args.file)?, args.decode.options(false));
    let mut report = serde_json::Map::new();
    report.insert("file".into(), json!(inp.name));
    report.insert("kind".into(), json!(inp.kind.name()));
    report.insert("gzip".into(), json!(inp.gzip));
    report.insert("compression".into(), json!(inp.codec.map(|c| c.name())));
    if let Some(s) = inp.size {
        report.insert("size".into(), json!(s));
    }
    let mut dbs: BTreeMap<u64, Db> = BTreeMap::new();
    let mut error: Option<String> = None;
    if inp.kind == Kind::Rdb {
        let mut aux: Vec<(String, String)> = Vec::new();
        let mut functions: Vec<String> = Vec::new();
        let mut modules: BTreeMap<String, u64> = BTreeMap::new();
        let mut module_aux: Vec<String> = Vec::new();
        let mut checksum = json!(null);
        let mut header = None;
        let mut progress = Progress::new(inp.size, args.quiet);
        let name = inp.name.clone();
        let r = inp.with_rdb(opts, |src| {
            let mut cur_db = 0u64;
            loop {
                let rec = match src.next_record() {
                    None => break,
                    Some(Err(e)) => {
                        if matches!(e.kind, rdbkit_rdb::ErrorKind::ChecksumMismatch { .. }) {
                            checksum = json!({"status": "mismatch"});
                        }
                        error = Some(format!("{name}: {e}"));
                        break;
                    }
                    Some(Ok(r)) => r,
                };
                match rec {
                    Record::Aux { key, value } => aux.push((
                        String::from_utf8_lossy(&key).into_owned(),
                        escape_key(&value),
                    )),
                    Record::SelectDb { db } => {
                        cur_db = db;
                        dbs.entry(db).or_default();
                    }
                    Record::ResizeDb {
                        db_size,
                        expires_size,
                    } => dbs.entry(cur_db).or_default().hint = Some((db_size, expires_size)),
                    Record::ModuleAux { module, when, .. } => {
                        module_aux.push(format!("{} (when {when})", module.name_str()))
                    }
                    Record::Function { code } => functions.push(library_name(&code)),
                    Record::FunctionPreGa { name, .. } => {
                        functions.push(String::from_utf8_lossy(&name).into_owned())
                    }
                    Record::Key(k) => {
                        progress.set(k.end);
                        let d = dbs.entry(k.db).or_default();
                        d.keys += 1;
                        if let Some(e) = k.expire_ms {
                            d.expires += 1;
                            if e <= now {
                                d.expired += 1;
                            }
                        }
                        let ty = k.value.ty.family().to_string();
                        *d.types
                            .entry((ty, k.value.encoding().to_string()))
                            .or_default() += 1;
                        if let Some((id, _)) = k.value.module() {
                            *modules.entry(id.name_str()).or_default() += 1;
                        }
                    }
                    Record::Eof { checksum: c, .. } => {
                        checksum = match c {
                            ChecksumStatus::Verified(v) => {
                                json!({"status": "ok", "crc64": format!("{v:016x}")})
                            }
                            ChecksumStatus::Disabled => json!({"status": "disabled"}),
                            ChecksumStatus::NotPresent => json!({"status": "absent"}),
                            ChecksumStatus::NotChecked(v) => {
                                json!({"status": "not checked", "crc64": format!("{v:016x}")})
                            }
                        };
                    }
                    _ => {}
                }
            }
            header = src.header();
        });
        progress.finish();
        r?;
        if let Some(h) = header {
            report.insert("rdb_version".into(), json!(h.version));
            report.insert(
                "magic".into(),
                json!(match h.magic {
                    rdbkit_rdb::Magic::Redis => "REDIS",
                    rdbkit_rdb::Magic::Valkey => "VALKEY",
                }),
            );
        }
        let get = |k: &str| aux.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
        let writer = match (get("valkey-ver"), get("redis-ver")) {
            (Some(v), _) => Some(format!("valkey {v}")),
            (None, Some(r)) => Some(format!("redis {r}")),
            _ => None,
        };
        report.insert("writer".into(), json!(writer));
        if let Some(ct) = get("ctime").and_then(|c| c.parse::<i64>().ok()) {
            report.insert("ctime".into(), json!(ct));
            report.insert("ctime_utc".into(), json!(format_utc(ct * 1000)));
        }
        let aux_json: serde_json::Map<String, Json> =
            aux.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        report.insert("aux".into(), Json::Object(aux_json));
        report.insert("functions".into(), json!(functions));
        report.insert("module_types".into(), json!(modules));
        report.insert("module_aux".into(), json!(module_aux));
        report.insert("checksum".into(), checksum);
    } else {
        let name = inp.name.clone();
        match inp.load(opts, now) {
            Err(e) => error = Some(e.to_string()),
            Ok(ds) => {
                for (db, keys) in &ds.dbs {
                    let d = dbs.entry(*db).or_default();
                    for k in keys.values() {
                        d.keys += 1;
                        if let Some(e) = k.expire_ms {
                            d.expires += 1;
                            if e <= now {
                                d.expired += 1;
                            }
                        }
                        *d.types
                            .entry((k.value.type_name().into(), "-".into()))
                            .or_default() += 1;
                    }
                }
                let f: Vec<String> = ds.functions.iter().map(|c| library_name(c)).collect();
                report.insert("functions".into(), json!(f));
                let unknown: Vec<Json> = ds
                    .unknown_keys()
                    .map(|(db, k, why)| {
                        json!({"db": db, "key": crate::filter::escape_key(k), "reason": why})
                    })
                    .collect();
                report.insert("value_unknown".into(), json!(unknown));
                let _ = name;
            }
        }
    }
    report.insert("now".into(), json!(format_utc(now)));
    let mut dbj = serde_json::Map::new();
    for (db, d) in &dbs {
        let mut types = serde_json::Map::new();
        for ((t, e), n) in &d.types {
            let entry = types
                .entry(t.clone())
                .or_insert_with(|| json!({"keys": 0, "encodings": {}}));
            entry["keys"] = json!(entry["keys"].as_u64().unwrap_or(0) + n);
            entry["encodings"][e] = json!(n);
        }
        let mut o =
            json!({"keys": d.keys, "expires": d.expires, "expired": d.expired, "types": types});
        if let Some((a, b)) = d.hint {
            o["resize_hint"] = json!({"keys": a, "expires": b});
        }
        dbj.insert(db.to_string(), o);
    }
    report.insert(
        "keys".into(),
        json!(dbs.values().map(|d| d.keys).sum::<u64>()),
    );
    report.insert("dbs".into(), Json::Object(dbj));
    if let Some(e) = &error {
        report.insert("error".into(), json!(e));
    }
    let text = if args.json {
        serde_json::to_string_pretty(&Json::Object(report)).unwrap_or_default() + "\n"
    } else {
        render_text(&report, &dbs)
    };
    let mut out = io::stdout().lock();
    let written = out.write_all(text.as_bytes()).and_then(|_| out.flush());
    if let Some(e) = error {
        return Err(Failure::Damaged(e));
    }
    written.map_err(Failure::Write)
}

fn render_text(r: &serde_json::Map<String, Json>, dbs: &BTreeMap<u64, Db>) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let str_of = |k: &str| match r.get(k) {
        Some(Json::String(v)) => v.clone(),
        Some(Json::Null) | None => "-".into(),
        Some(v) => v.to_string(),
    };
    let _ = writeln!(s, "file:        {}", str_of("file"));
    let mut kind = str_of("kind");
    if r.get("gzip") == Some(&json!(true)) {
        kind.push_str(" (gzip)");
    }
    let _ = writeln!(s, "kind:        {kind}");
    if r.contains_key("rdb_version") {
        let _ = writeln!(
            s,
            "format:      {} version {}",
            str_of("magic"),
            str_of("rdb_version")
        );
        let _ = writeln!(s, "writer:      {}", str_of("writer"));
        if r.contains_key("ctime_utc") {
            let _ = writeln!(
                s,
                "created:     {} (ctime {})",
                str_of("ctime_utc"),
                str_of("ctime")
            );
        }
        if let Some(Json::Object(aux)) = r.get("aux") {
            for (k, v) in aux {
                if matches!(k.as_str(), "redis-ver" | "valkey-ver" | "ctime") {
                    continue;
                }
                let v = v.as_str().unwrap_or_default();
                let _ = writeln!(s, "aux {k:<16}{v}");
            }
        }
        let ck = r.get("checksum").cloned().unwrap_or(Json::Null);
        let status = ck["status"].as_str().unwrap_or("unknown (not reached)");
        match ck["crc64"].as_str() {
            Some(c) => {
                let _ = writeln!(s, "checksum:    {status} ({c})");
            }
            None => {
                let _ = writeln!(s, "checksum:    {status}");
            }
        }
    }
    let list = |k: &str| -> String {
        match r.get(k) {
            Some(Json::Array(a)) if !a.is_empty() => a
                .iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            Some(Json::Object(o)) if !o.is_empty() => o
                .iter()
                .map(|(k, v)| format!("{k} ({v} keys)"))
                .collect::<Vec<_>>()
                .join(", "),
            _ => "none".into(),
        }
    };
    let _ = writeln!(s, "functions:   {}", list("functions"));
    if r.contains_key("module_types") {
        let _ = writeln!(s, "modules:     {}", list("module_types"));
    }
    if r.get("module_aux")
        .is_some_and(|m| m.as_array().is_some_and(|a| !a.is_empty()))
    {
        let _ = writeln!(s, "module aux:  {}", list("module_aux"));
    }
    let _ = writeln!(
        s,
        "keys:        {} (expired = expiry at or before {})",
        str_of("keys"),
        str_of("now")
    );
    for (db, d) in dbs {
        let _ = writeln!(
            s,
            "db {db}: keys={} expires={} expired={}",
            d.keys, d.expires, d.expired
        );
        for ((t, e), n) in &d.types {
            let _ = writeln!(s, "  {t:<7} {e:<11} {n}");
        }
    }
    if let Some(Json::Array(u)) = r.get("value_unknown") {
        if !u.is_empty() {
            let _ = writeln!(
                s,
                "value unknown: {} keys (counted above; the replay cannot reproduce their value)",
                u.len()
            );
            for v in u.iter().take(20) {
                let _ = writeln!(
                    s,
                    "  db {} key {}: {}",
                    v["db"],
                    v["key"].as_str().unwrap_or_default(),
                    v["reason"].as_str().unwrap_or_default()
                );
            }
            if u.len() > 20 {
                let _ = writeln!(s, "  ... and {} more", u.len() - 20);
            }
        }
    }
    s
}
