//! Checking a data set part by part, in manifest order, with the verdicts of
//! [`check_layout`] and [`server_verdict`].
//!
//! Each part (the base — an RDB or an AOF — or a RESP incr file) is checked on its own by
//! [`check_part`], from its bytes and its place in the data set: its role and whether it is the
//! last file. What a part's verdict needs from the parts before it is carried by [`MultiCheck`],
//! which is fed the parts in load order: redis-check-aof's running line counter (a part is
//! checked from line 0 and shifted when it is added: the counter only ever adds), whether the
//! strict check already stopped (the tool stops at the first file that fails), and what the
//! server decided so far (it opens every file before loading any: a missing file wins over a
//! damaged earlier one). A MULTI never spans files (each file is checked, and loaded, with its
//! own transaction state), and `#TS:` annotations matter only in the last file, so the parts
//! are independent otherwise: they can be checked as they come out of an archive, or on
//! several cores at once, and [`MultiCheck::finish`] gives the same verdicts as checking the
//! directory.
//!
//! ```
//! use rdbkit_aof::check::CheckOptions;
//! use rdbkit_aof::multipart::{AofFile, Role};
//! use rdbkit_aof::parts::{check_part, MultiCheck, Want};
//!
//! let base = AofFile { name: "a.1.base.aof".into(), path: "dir/a.1.base.aof".into(), role: Role::Base };
//! let incr = AofFile { name: "a.1.incr.aof".into(), path: "dir/a.1.incr.aof".into(), role: Role::Incr };
//! let opts = CheckOptions::default();
//! let mut m = MultiCheck::new(2, opts);
//! // Parts are handed over in manifest order, each with its bytes (from a file, an archive
//! // member, ...). `want` says which verdicts still need this part.
//! let want = m.want();
//! m.add(&base, check_part(&base, b"*1\r\n$4\r\nPING\r\n", false, opts, want));
//! let want = m.want();
//! m.add(&incr, check_part(&incr, b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET", true, opts, want));
//! let (strict, server) = m.finish();
//! let strict = strict?;
//! assert!(!strict.valid);
//! assert_eq!(strict.fixable, Some((1, 14))); // the last file, cut after its whole command
//! // The line counter is carried on: 3 lines in the base, 3 + 2 read in the incr file.
//! assert_eq!(strict.files[1].check.ok_up_to_line, 1 + 3 + 3 + 2);
//! assert!(matches!(server, rdbkit_aof::check::ServerVerdict::TruncatesAndLoads { offset: 14, .. }));
//! # Ok::<(), rdbkit_aof::Error>(())
//! ```

use crate::check::{
    self, is_damaged_manifest, refuse_cut, CheckOptions, FileVerdict, Load, ServerVerdict,
    SingleCheck, Stop, StrictVerdict,
};
use crate::error::Error;
use crate::multipart::{AofFile, FileData, Layout, Role};
use crate::rdb_prefix;

/// Which verdicts still need a part (see [`MultiCheck::want`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    /// redis-check-aof's verdict has not stopped yet.
    pub strict: bool,
    /// The server's verdict has not been decided yet.
    pub server: bool,
}

impl Want {
    /// Both verdicts.
    pub const BOTH: Want = Want {
        strict: true,
        server: true,
    };
    /// The strict verdict only ([`check_layout`]).
    pub const STRICT: Want = Want {
        strict: true,
        server: false,
    };
}

/// The verdicts on one part, independent of the parts before it.
#[derive(Debug, Clone)]
pub struct PartVerdict {
    /// redis-check-aof's verdict on the part, its line counter counted from 0 (shifted by
    /// [`MultiCheck::add`]); `None` when not asked for.
    pub strict: Option<SingleCheck>,
    /// What the server does with the part on start; `None` when not asked for.
    pub load: Option<Load>,
    /// The part is empty (0 bytes).
    pub empty: bool,
    /// The last file, damaged, is really a manifest whose first line is damaged.
    pub(crate) damaged_manifest: bool,
    /// Why the cut a fix would make must not happen (the last file only).
    pub(crate) refuse_cut: Option<String>,
}

/// From this size up a part's two verdicts run on two threads (below it a thread costs more
/// than it saves).
const PARALLEL_VERDICTS: usize = 1 << 20;

/// Checks one part's bytes: `file` is its entry in the layout (its role: an RDB part is validated
/// deeply at the head of a base or a single file only), `last` whether it is the data set's
/// last file (the only one a fix may cut, the only one a timestamp cut may land in). The base
/// RDB's deep validation runs on every core; the server's own reading of the RDB part reuses
/// it when it passes (a deep check that passes is a shallow check that passes, to the same
/// end), so the RDB part is read once.
pub fn check_part(
    file: &AofFile,
    bytes: &[u8],
    last: bool,
    opts: CheckOptions,
    want: Want,
) -> PartVerdict {
    let preamble = file.role != Role::Incr && check::is_rdb(bytes);
    let prefix = (preamble && want.strict).then(|| rdb_prefix::check(bytes, true));
    let strict_of = || {
        let mut line = 0u64;
        check::check_single_with(bytes, preamble, prefix.clone(), last, opts, &mut line)
    };
    let load_of = || match &prefix {
        Some(Ok(p)) => check::server_load_after(bytes, Some(p.len)),
        _ => check::server_load(bytes),
    };
    // The two verdicts read the same bytes independently: on a big part, the server's on a
    // second thread (a single-file AOF is one part; serially its check took the sum of both:
    // big.aof 1.0 s against 0.45 s on two threads).
    let (strict, load) = if want.strict && want.server && bytes.len() >= PARALLEL_VERDICTS {
        std::thread::scope(|s| {
            let load = s.spawn(load_of);
            let strict = strict_of();
            match load.join() {
                Ok(load) => (Some(strict), Some(load)),
                Err(p) => std::panic::resume_unwind(p),
            }
        })
    } else {
        (want.strict.then(strict_of), want.server.then(load_of))
    };
    let (mut damaged_manifest, mut refusal) = (false, None);
    if let Some(c) = &strict {
        if last && c.diff() > 0 {
            damaged_manifest = is_damaged_manifest(&file.name, bytes, c);
            refusal = refuse_cut(bytes, c.ok_up_to);
        }
    }
    PartVerdict {
        strict,
        load,
        empty: bytes.is_empty(),
        damaged_manifest,
        refuse_cut: refusal,
    }
}

/// A data set's verdicts built part by part, in load order (see the [module](self) docs).
#[derive(Debug)]
pub struct MultiCheck {
    opts: CheckOptions,
    parts: usize,
    next: usize,
    line: u64,
    strict: StrictVerdict,
    strict_stopped: bool,
    strict_error: Option<Error>,
    /// The first part that could not be opened, and why (the server opens every file first).
    open_error: Option<(String, String)>,
    /// The server's decision once a part decided it (a refusal, or a truncation of the last).
    server: Option<ServerVerdict>,
    any_data: bool,
}

impl MultiCheck {
    /// A data set of `parts` files (base first, then the incr files), checked with `opts`.
    pub fn new(parts: usize, opts: CheckOptions) -> MultiCheck {
        MultiCheck {
            opts,
            parts,
            next: 0,
            line: 1,
            strict: StrictVerdict {
                files: Vec::new(),
                valid: true,
                fixable: None,
                refusal: None,
            },
            strict_stopped: false,
            strict_error: None,
            open_error: None,
            server: None,
            any_data: false,
        }
    }

    /// Which verdicts the next part is still needed for.
    pub fn want(&self) -> Want {
        Want {
            strict: !self.strict_stopped,
            server: self.server.is_none() && self.open_error.is_none(),
        }
    }

    /// Whether a part that can't be opened still changes the server's verdict (it opens every
    /// file before loading any: until one fails to open, a later one failing wins).
    pub fn opens_matter(&self) -> bool {
        self.open_error.is_none()
    }

    /// Whether the next part is the last.
    pub fn next_is_last(&self) -> bool {
        self.next + 1 == self.parts
    }

    /// Adds the next part's verdicts (`file` is its entry in the layout, `v` what
    /// [`check_part`] said of it, asked with [`want`](Self::want)).
    pub fn add(&mut self, file: &AofFile, v: PartVerdict) {
        let i = self.next;
        self.next += 1;
        let last = i + 1 == self.parts;
        self.any_data |= !v.empty;
        if let (false, Some(mut c)) = (self.strict_stopped, v.strict) {
            c.ok_up_to_line += self.line;
            self.line = c.ok_up_to_line;
            let damaged_manifest = last && c.diff() > 0 && v.damaged_manifest;
            let stop = c.stop.clone();
            let diff = c.diff();
            let ok_up_to = c.ok_up_to;
            self.strict.files.push(FileVerdict {
                file: file.clone(),
                last,
                check: c,
            });
            let out = &mut self.strict;
            let opts = self.opts;
            let mut stopped = true;
            match stop {
                Stop::Empty => stopped = false,
                Stop::Checked if diff == 0 => stopped = false,
                Stop::Checked => {
                    out.valid = false;
                    if opts.to_timestamp != 0 {
                        // Like the tool: timestamp mode cuts at annotations, it doesn't repair.
                        out.refusal = Some(format!(
                            "{} is damaged; timestamp mode doesn't repair (fix it without a timestamp first)",
                            file.name
                        ));
                    } else if damaged_manifest {
                        out.refusal = Some(format!(
                            "{} is an AOF manifest whose first line is damaged, not an AOF: repair it by hand \
                             (redis-check-aof --fix would truncate it to {ok_up_to} bytes)",
                            file.name,
                        ));
                    } else if let Some(why) = last.then_some(v.refuse_cut).flatten() {
                        out.refusal = Some(format!("{}: {why}", file.name));
                    } else if last {
                        out.fixable = Some((i, ok_up_to));
                    } else {
                        out.refusal = Some(format!(
                            "{} is damaged but is not the last file; only the last file may be cut",
                            file.name
                        ));
                    }
                }
                Stop::RdbInvalid(e) => {
                    out.valid = false;
                    out.refusal = Some(format!(
                        "the RDB part of {} is not sane ({e}); it can't be fixed by truncation",
                        file.name
                    ));
                }
                Stop::TimestampCut { offset, .. } => {
                    out.valid = false;
                    out.fixable = Some((i, offset));
                }
                Stop::NothingBeforeTimestamp { .. } => {
                    out.valid = false;
                    out.refusal = Some(format!(
                        "{} has nothing before timestamp {}",
                        file.name, opts.to_timestamp
                    ));
                }
                Stop::TimestampNotLast { offset } => {
                    out.valid = false;
                    out.refusal = Some(format!(
                        "the cut for timestamp {} falls in {} at offset {offset}, which is not the last file",
                        opts.to_timestamp, file.name
                    ));
                }
                Stop::InvalidTimestampAnnotation { offset } => {
                    out.valid = false;
                    out.refusal = Some(format!(
                        "{}: invalid timestamp annotation at offset {offset}",
                        file.name
                    ));
                }
            }
            self.strict_stopped = stopped;
        }
        if self.server.is_none() {
            match v.load {
                Some(Load::Empty | Load::Loaded { .. }) | None => {}
                Some(Load::Truncated {
                    valid_up_to,
                    reason,
                    ..
                }) => {
                    self.server = Some(if last {
                        ServerVerdict::TruncatesAndLoads {
                            file: file.name.clone(),
                            offset: valid_up_to,
                            reason,
                        }
                    } else {
                        ServerVerdict::Refuses {
                            file: Some(file.name.clone()),
                            offset: Some(valid_up_to),
                            reason: format!("{reason}; the truncated file is not the last file"),
                        }
                    });
                }
                Some(Load::Failed { offset, reason }) => {
                    self.server = Some(ServerVerdict::Refuses {
                        file: Some(file.name.clone()),
                        offset: Some(offset),
                        reason,
                    });
                }
            }
        }
    }

    /// The next part is passed over (neither verdict needs it any more; it exists).
    pub fn skip(&mut self) {
        self.next += 1;
        // Not known to be empty: the server's "every file is empty" can't be said then.
        self.any_data = true;
    }

    /// The next part could not be read (`e` says why, naming it): the strict check ends with
    /// that error unless it stopped before, and the server refuses to start (it opens every
    /// file before loading any).
    pub fn missing(&mut self, file: &AofFile, e: Error) {
        self.next += 1;
        if self.open_error.is_none() {
            self.open_error = Some((file.name.clone(), format!("can't open: {e}")));
        }
        if !self.strict_stopped {
            self.strict_stopped = true;
            self.strict_error = Some(e);
        }
    }

    /// The two verdicts: redis-check-aof's (or the error that ended it) and the server's.
    pub fn finish(self) -> (Result<StrictVerdict, Error>, ServerVerdict) {
        let strict = match self.strict_error {
            Some(e) => Err(e),
            None => Ok(self.strict),
        };
        let server = if self.parts == 0 {
            ServerVerdict::StartsEmpty {
                reason: "the manifest lists no base or incr file".into(),
            }
        } else if let Some((file, reason)) = self.open_error {
            ServerVerdict::Refuses {
                file: Some(file),
                offset: None,
                reason,
            }
        } else if !self.any_data {
            ServerVerdict::StartsEmpty {
                reason: "every AOF file is empty".into(),
            }
        } else {
            self.server.unwrap_or(ServerVerdict::Loads)
        };
        (strict, server)
    }
}

/// Both verdicts on a resolved layout, its parts checked at the same time: the base (its RDB
/// validated deeply on every core) on this thread, the incr files on another; the verdicts
/// are then joined in load order, so the first failure in load order wins, as checking the
/// parts one after the other gives. `want` chooses the verdicts. Every file is opened first
/// (memory-mapped, or read into memory when the process reads without maps: then one part is
/// checked after the other, one copy held at a time).
pub fn check_layout_parallel(
    layout: &Layout,
    opts: CheckOptions,
    want: Want,
) -> (Result<StrictVerdict, Error>, ServerVerdict) {
    let files = layout.files();
    let mut m = MultiCheck::new(files.len(), opts);
    if crate::multipart::reads_without_mapping() || files.len() < 2 {
        for (i, f) in files.iter().enumerate() {
            let w = m.want();
            let w = Want {
                strict: w.strict && want.strict,
                server: w.server && want.server,
            };
            if !w.strict && !w.server {
                if !want.server || !m.opens_matter() {
                    break;
                }
                // Only whether it opens matters now (the server opens every file first).
                match std::fs::File::open(&f.path) {
                    Ok(_) => m.skip(),
                    Err(e) => m.missing(f, Error::io(&f.path, e)),
                }
                continue;
            }
            match FileData::open(&f.path) {
                Ok(d) => m.add(f, check_part(f, d.bytes(), i + 1 == files.len(), opts, w)),
                Err(e) => m.missing(f, e),
            }
        }
        return m.finish();
    }
    // Every file is opened first; each map is then released by the thread that checked it,
    // as soon as its verdict is in (tearing down a map's page-table entries is ~15 ms for
    // 377 MB: on the incr thread it overlaps the base's check instead of following it).
    let (datas, opened): (Vec<Option<FileData>>, Vec<Result<(), Error>>) = files
        .iter()
        .map(|f| match FileData::open(&f.path) {
            Ok(d) => (Some(d), Ok(())),
            Err(e) => (None, Err(e)),
        })
        .unzip();
    let n = files.len();
    let verdict = |i: usize, d: Option<FileData>| -> Option<PartVerdict> {
        let d = d?;
        let f = files.get(i)?;
        let v = check_part(f, d.bytes(), i + 1 == n, opts, want);
        drop(d);
        Some(v)
    };
    let mut datas = datas.into_iter();
    let base = datas.next().flatten();
    let rest: Vec<Option<FileData>> = datas.collect();
    let (first, rest) = std::thread::scope(|s| {
        let rest = s.spawn(|| {
            rest.into_iter()
                .enumerate()
                .map(|(i, d)| verdict(i + 1, d))
                .collect::<Vec<_>>()
        });
        let first = verdict(0, base);
        (first, rest.join())
    });
    let rest = match rest {
        Ok(r) => r,
        Err(p) => std::panic::resume_unwind(p),
    };
    for ((f, d), v) in files
        .iter()
        .zip(opened)
        .zip(std::iter::once(first).chain(rest))
    {
        match (d, v) {
            (Err(e), _) => m.missing(f, e),
            (Ok(()), Some(v)) => m.add(f, v),
            (Ok(()), None) => {}
        }
    }
    m.finish()
}

// ---- whole layouts (moved here from `check`: they join the parts) ----------------------------

/// Strict check of a resolved layout (the tool's `checkMultiPartAof`/`checkOldStyleAof`). The
/// base and the incr files are checked at the same time, and joined in load order .
pub fn check_layout(layout: &Layout, opts: CheckOptions) -> Result<StrictVerdict, Error> {
    check_layout_parallel(layout, opts, Want::STRICT).0
}

/// The server's verdict on a data set given by `path` (file, manifest, or directory).
pub fn server_verdict_for_path(path: &std::path::Path) -> ServerVerdict {
    server_verdict_of(&crate::multipart::resolve(path))
}

/// The server's verdict on a data set whose layout may not have resolved: a manifest it cannot
/// parse, or a file it cannot open, makes it refuse to start.
pub fn server_verdict_of(layout: &Result<Layout, Error>) -> ServerVerdict {
    match layout {
        Ok(layout) => server_verdict(layout),
        Err(Error::Manifest { source, .. }) => ServerVerdict::Refuses {
            file: None,
            offset: None,
            reason: format!("AOF manifest error: {source}"),
        },
        Err(e) => ServerVerdict::Refuses {
            file: None,
            offset: None,
            reason: e.to_string(),
        },
    }
}

/// The server's verdict on a resolved layout (`loadAppendOnlyFiles`): every file is opened
/// first, then loaded in order .
pub fn server_verdict(layout: &Layout) -> ServerVerdict {
    let want = Want {
        strict: false,
        server: true,
    };
    check_layout_parallel(layout, CheckOptions::default(), want).1
}
