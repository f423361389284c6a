//! `rdbkit split BACKUP OUTDIR --slots A-B,C-D,... | --nodes nodes.conf`: one RDB per slot
//! range (or per cluster master), each holding only the keys whose hash slot it covers,
//! streaming, written like `convert` writes (temporary file beside the output, fsync, rename;
//! never over an existing file without `--force`). Also the pieces `merge` shares.

use std::io;
use std::path::{Path, PathBuf};

use rdbkit_rdb::write::{RdbWriter, Target, WriteError};
use rdbkit_rdb::{KeyRecord, Options, Record, RecordSource, Scratch};

use crate::failure::Failure;
use crate::filter::escape_key;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  rdbkit split dump.rdb parts/ --slots 0-5460,5461-10922,10923-16383
  rdbkit split dump.rdb parts/ --nodes /data/nodes.conf      # one file per master
  rdbkit split dump.rdb parts/ --slots 0-8191,8192-16383 --target redis-6.2

Files: OUTDIR/slots-A-B.rdb per --slots range (a range may list several, joined with +), or \
OUTDIR/node-HOST-PORT.rdb per master of nodes.conf. Every output holds the input's aux fields \
and function libraries, and the keys of db 0 whose CRC16 hash slot ({hash tags} honoured) it \
covers. Keys of other databases (a cluster has db 0 only) and keys in slots no range covers \
are left out and counted.

Exit status: 0 written; 1 bad arguments, input not readable, an output exists (without \
--force) or could not be written; 2 the input is damaged (nothing written); 3 the target \
cannot hold a key (nothing written).")]
pub struct Args {
    /// From a pipe or a compressed stream, hold each value whole up to this many bytes (its
    /// decompressed size) and refuse a bigger one, naming the key; a file is mapped and needs no
    /// limit. Default 512 MiB, Redis's limit on one string (`proto-max-bulk-len`).
    #[arg(long, default_value_t = rdbkit_rdb::DEFAULT_MAX_VALUE_BYTES, value_name = "BYTES")]
    pub max_value_bytes: u64,
    /// Slot ranges, one output each: `0-5460,5461-10922,10923-16383`; `a-b+c-d` puts two
    /// ranges into one output.
    #[arg(
        long,
        value_name = "RANGES",
        conflicts_with = "nodes",
        required_unless_present = "nodes"
    )]
    pub slots: Option<String>,
    /// A cluster's nodes.conf (or `CLUSTER NODES` output): one output per master.
    #[arg(long, value_name = "FILE")]
    pub nodes: Option<PathBuf>,
    /// The outputs' version (default: the input's).
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
    /// Replace outputs that exist.
    #[arg(long)]
    pub force: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Do not verify the input's CRC-64 trailer.
    #[arg(long)]
    pub no_checksum: bool,
    /// The input RDB (also gzip'd), or `-`.
    pub input: PathBuf,
    /// The directory to write into (created if missing).
    pub outdir: PathBuf,
}

/// An RDB being written to a temporary file beside its final path.
pub struct AtomicRdb {
    /// The final path.
    pub path: PathBuf,
    tmp: tempfile::NamedTempFile,
    /// The writer (over the temporary file; it stages 1 MiB blocks itself, no `BufWriter`).
    pub w: RdbWriter<std::fs::File>,
    /// The db last selected.
    pub db: Option<u64>,
    /// Keys written.
    pub keys: u64,
    force: bool,
}

impl AtomicRdb {
    /// Refuses an existing `path` unless `force`; creates the temporary file in its directory.
    pub fn create(path: &Path, target: Target, force: bool) -> Result<AtomicRdb, Failure> {
        if path.exists() && !force {
            return Err(Failure::Usage(format!(
                "{}: exists; not overwritten (--force to replace it)",
                path.display()
            )));
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".rdbkit-tmp")
            .tempfile_in(&dir)
            .map_err(|e| {
                Failure::Usage(format!(
                    "{}: cannot create a file there: {e}",
                    dir.display()
                ))
            })?;
        let file = tmp
            .as_file()
            .try_clone()
            .map_err(|e| Failure::Usage(format!("temporary file: {e}")))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = file.set_permissions(std::fs::Permissions::from_mode(0o644));
        }
        let w = RdbWriter::new(file, target)
            .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
        Ok(AtomicRdb {
            path: path.to_path_buf(),
            tmp,
            w,
            db: None,
            keys: 0,
            force,
        })
    }

    /// Writes one key of the input: its stored bytes when the target reads them, re-encoded
    /// otherwise.
    pub fn key(&mut self, k: &KeyRecord<'_>, scratch: &mut Scratch) -> Result<(), Failure> {
        let io = |e: io::Error| Failure::Usage(format!("writing: {e}"));
        if self.db != Some(k.db) {
            self.w.select_db(k.db).map_err(io)?;
            self.db = Some(k.db);
        }
        let v = &k.value;
        let t = *self.w.target();
        if t.reads(v.ty, v.type_byte) {
            self.w
                .key_raw(
                    k.key,
                    k.expire_ms,
                    k.lru_idle,
                    k.lfu_freq,
                    v.type_byte,
                    v.raw(),
                )
                .map_err(io)?;
        } else {
            let owned = v
                .to_owned_value_in(scratch)
                .map_err(|e| Failure::Damaged(format!("{}", e.in_key(Some(k.db), k.key))))?;
            match self.w.key(k.key, k.expire_ms, k.lru_idle, k.lfu_freq, &owned) {
                Ok(_) => {}
                Err(WriteError::Io(e)) => return Err(io(e)),
                Err(WriteError::Loss(l)) => {
                    return Err(Failure::Refused(format!(
                        "db {} key \"{}\": target {} cannot hold it: {}; nothing written (rdbkit convert --drop {} first)",
                        k.db,
                        escape_key(k.key),
                        t.name,
                        l.describe(),
                        l.name()
                    )))
                }
            }
        }
        self.keys += 1;
        Ok(())
    }

    /// EOF + checksum, fsync, rename into place (never over a file that appeared meanwhile
    /// unless `force`). Returns the bytes written.
    pub fn commit(self) -> Result<u64, Failure> {
        let p = self.path.display().to_string();
        let file = self
            .w
            .finish()
            .map_err(|e| Failure::Usage(format!("{p}: {e}")))?;
        file.sync_all()
            .map_err(|e| Failure::Usage(format!("{p}: fsync: {e}")))?;
        // The file's size (what `bytes_written` said before `finish` missed the EOF opcode).
        let bytes = file
            .metadata()
            .map_err(|e| Failure::Usage(format!("{p}: {e}")))?
            .len();
        drop(file);
        let r = if self.force {
            self.tmp.persist(&self.path).map(|_| ())
        } else {
            self.tmp.persist_noclobber(&self.path).map(|_| ())
        };
        r.map_err(|e| Failure::Usage(format!("{p}: {}", e.error)))?;
        if let Some(d) = self.path.parent() {
            if let Ok(d) = std::fs::File::open(if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            }) {
                let _ = d.sync_all();
            }
        }
        Ok(bytes)
    }
}

/// The hash slot of a key (CRC16 XMODEM of the key or its `{tag}`, mod 16384).
pub fn key_slot(key: &[u8]) -> u16 {
    super::restore::key_slot(key)
}

/// Parses `0-5460,5461-10922,10923-16383` (a part may be `a-b+c-d` or a single slot).
/// Output file names with their slot ranges.
type Parts = Vec<(String, Vec<(u16, u16)>)>;

fn parse_slots(s: &str) -> Result<Parts, Failure> {
    let bad = |p: &str| Failure::Usage(format!("--slots: {p:?} is not a slot range (0-16383)"));
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut ranges = Vec::new();
        for r in part.split('+') {
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            let a: u16 = a.trim().parse().map_err(|_| bad(r))?;
            let b: u16 = b.trim().parse().map_err(|_| bad(r))?;
            if a > b || b > 16383 {
                return Err(bad(r));
            }
            ranges.push((a, b));
        }
        out.push((format!("slots-{}.rdb", part.replace('+', "_")), ranges));
    }
    if out.is_empty() {
        return Err(Failure::Usage("--slots: no range".into()));
    }
    Ok(out)
}

/// The masters of a nodes.conf / `CLUSTER NODES` text with their slot ranges.
fn parse_nodes(path: &Path) -> Result<Parts, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 || f[0] == "vars" || !f[2].split(',').any(|x| x == "master") {
            continue;
        }
        let addr = f[1].split('@').next().unwrap_or(f[1]);
        let addr = addr.split(',').next().unwrap_or(addr);
        let mut ranges = Vec::new();
        for r in &f[8..] {
            if r.starts_with('[') {
                continue; // a migration in progress, not an owned slot
            }
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            match (a.parse::<u16>(), b.parse::<u16>()) {
                (Ok(a), Ok(b)) if a <= b && b <= 16383 => ranges.push((a, b)),
                _ => {
                    return Err(Failure::Usage(format!(
                        "{} line {}: bad slot range {r:?}",
                        path.display(),
                        n + 1
                    )))
                }
            }
        }
        if ranges.is_empty() {
            continue;
        }
        let name = format!(
            "node-{}.rdb",
            addr.replace(':', "-").replace(['[', ']'], "")
        );
        out.push((name, ranges));
    }
    if out.is_empty() {
        return Err(Failure::Usage(format!(
            "{}: no master with slots in it",
            path.display()
        )));
    }
    Ok(out)
}

/// The target a file of this header is written with.
pub fn target_of(magic: rdbkit_rdb::Magic, version: u32) -> Option<Target> {
    Target::by_version(magic, version)
}

/// Runs `split`.
pub fn run(args: Args) -> Result<(), Failure> {
    split(&args)
}

fn split(args: &Args) -> Result<(), Failure> {
    let parts = match (&args.slots, &args.nodes) {
        (Some(s), _) => parse_slots(s)?,
        (None, Some(n)) => parse_nodes(n)?,
        (None, None) => return Err(Failure::Usage("--slots or --nodes is needed".into())),
    };
    let mut owner = vec![usize::MAX; 16384];
    for (i, (name, ranges)) in parts.iter().enumerate() {
        for &(a, b) in ranges {
            for s in a..=b {
                if owner[s as usize] != usize::MAX {
                    return Err(Failure::Usage(format!(
                        "slot {s} is in two outputs ({} and {name})",
                        parts[owner[s as usize]].0
                    )));
                }
                owner[s as usize] = i;
            }
        }
    }
    let forced = match &args.target {
        None => None,
        Some(t) => Some(Target::by_name(t).ok_or_else(|| {
            Failure::Usage(format!(
                "--target {t:?}: unknown (see rdbkit convert --help)"
            ))
        })?),
    };
    std::fs::create_dir_all(&args.outdir)
        .map_err(|e| Failure::Usage(format!("{}: {e}", args.outdir.display())))?;
    for (name, _) in &parts {
        let p = args.outdir.join(name);
        if p.exists() && !args.force {
            return Err(Failure::Usage(format!(
                "{}: exists; not overwritten (--force to replace it)",
                p.display()
            )));
        }
    }
    let inp = crate::input::open(&args.input).map_err(|e| Failure::Usage(e.to_string()))?;
    let name = inp.name.clone();
    let opts = Options::default()
        .deep(false)
        .verify_checksum(!args.no_checksum)
        .best_effort(false);
    let (outs, other_db, unowned) = inp
        .with_rdb_values(opts, args.max_value_bytes, |src| {
            split_stream(src, &name, &parts, &owner, forced, args)
        })
        .map_err(|e| {
            Failure::Usage(format!("{e} (split reads RDB files: convert an AOF first)"))
        })??;
    let mut written = Vec::new();
    for o in outs {
        let keys = o.keys;
        let path = o.path.clone();
        let bytes = o.commit()?;
        written.push((path, keys, bytes));
    }
    if args.json {
        let files: Vec<serde_json::Value> = written
            .iter()
            .map(|(p, k, b)| serde_json::json!({"file": p.display().to_string(), "keys": k, "bytes": b}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"input": name, "outputs": files, "keys_other_db": other_db, "keys_unowned_slot": unowned})
        );
    } else {
        for (p, k, b) in &written {
            println!("{}: {k} keys, {b} bytes", p.display());
        }
        if other_db + unowned > 0 {
            println!(
                "left out: {other_db} key(s) of databases other than 0, {unowned} key(s) in slots no output covers"
            );
        }
    }
    Ok(())
}

type Split = (Vec<AtomicRdb>, u64, u64);

fn split_stream(
    src: &mut dyn RecordSource,
    name: &str,
    parts: &[(String, Vec<(u16, u16)>)],
    owner: &[usize],
    forced: Option<Target>,
    args: &Args,
) -> Result<Split, Failure> {
    let damaged = |e: rdbkit_rdb::Error| Failure::Damaged(format!("{name}: {e}; nothing written"));
    let io = |e: io::Error| Failure::Usage(format!("writing: {e}"));
    let mut outs: Vec<AtomicRdb> = Vec::new();
    let mut scratch = Scratch::new();
    let (mut other_db, mut unowned) = (0u64, 0u64);
    // Aux fields and functions seen before the outputs exist (the header's version is known
    // once the first record is read).
    let open = |outs: &mut Vec<AtomicRdb>, t: Target| -> Result<(), Failure> {
        if outs.is_empty() {
            for (n, _) in parts {
                outs.push(AtomicRdb::create(&args.outdir.join(n), t, args.force)?);
            }
        }
        Ok(())
    };
    let mut pending_aux: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    loop {
        if outs.is_empty() {
            if let Some(h) = src.header() {
                let t = forced
                    .or_else(|| target_of(h.magic, h.version))
                    .ok_or_else(|| {
                        Failure::Usage(format!(
                            "{name}: no writer for RDB version {}: --target to choose one",
                            h.version
                        ))
                    })?;
                open(&mut outs, t)?;
                for (k, v) in pending_aux.drain(..) {
                    for o in outs.iter_mut() {
                        o.w.aux(&k, &v).map_err(io)?;
                    }
                }
            }
        }
        let Some(rec) = src.next_record() else { break };
        let rec = rec.map_err(damaged)?;
        if outs.is_empty() {
            if let Record::Aux { key, value } = &rec {
                pending_aux.push((key.to_vec(), value.to_vec()));
                continue;
            }
            match forced.or_else(|| src_dialect(&rec)) {
                Some(t) => open(&mut outs, t)?,
                None => continue,
            }
        }
        match rec {
            Record::Aux { key, value } => {
                for o in outs.iter_mut() {
                    o.w.aux(&key, &value).map_err(io)?;
                }
            }
            Record::Function { code } => {
                for o in outs.iter_mut() {
                    match o.w.function(&code) {
                        Ok(()) => {}
                        Err(WriteError::Io(e)) => return Err(io(e)),
                        Err(WriteError::Loss(l)) => {
                            return Err(Failure::Refused(format!(
                                "a function library: the target cannot hold it: {}",
                                l.describe()
                            )))
                        }
                    }
                }
            }
            Record::Key(k) => {
                if k.db != 0 {
                    other_db += 1;
                    continue;
                }
                let i = owner[key_slot(k.key) as usize];
                if i == usize::MAX {
                    unowned += 1;
                    continue;
                }
                outs[i].key(&k, &mut scratch)?;
            }
            Record::Eof { .. } => break,
            _ => {}
        }
    }
    if outs.is_empty() {
        return Err(Failure::Damaged(format!("{name}: no records")));
    }
    Ok((outs, other_db, unowned))
}

/// The target of the file a key comes from.
fn src_dialect(rec: &Record<'_>) -> Option<Target> {
    match rec {
        Record::Key(k) => target_of(k.value.dialect.magic, k.value.dialect.version),
        _ => None,
    }
}
