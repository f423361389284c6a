//! What `verify` asks of an AOF beyond its check: the data set it holds (replayed through the
//! CLI's data model: the one call into the replay is [`load`]) and, for a damaged one, what a
//! real server does with it on start.

use std::io::Read;
use std::path::Path;

use rdbkit_aof::check::{self, Load, ServerVerdict};
use rdbkit_rdb::Options;

use super::{Kind, Outcome};
use crate::model::Dataset;

/// The replay reads the data set only: the check has already validated it.
const OPTS: Options = Options::new()
    .deep(false)
    .verify_checksum(false)
    .best_effort(false);

/// The data set an AOF (any layout, gzip'd or not) or an RDB holds: an AOF replayed on top of
/// its RDB part. `now_ms` anchors relative expiries (EXPIRE, SETEX) written before any `#TS:`
/// annotation. The one place `verify` calls the AOF replay; a command the replay can't apply is
/// an error naming the command, the file and the byte offset.
pub fn load(path: &Path, now_ms: i64) -> Result<Dataset, String> {
    crate::input::open(path)
        .map_err(|e| e.to_string())
        .and_then(|i| load_input(i, now_ms))
}

/// [`load`] of an input already opened (an archive is read once: it was opened to learn its
/// kind).
pub fn load_input(inp: crate::input::Input, now_ms: i64) -> Result<Dataset, String> {
    inp.load(OPTS, now_ms).map_err(|e| e.to_string())
}

/// Where an AOF's keys are counted from, once it is known sound: its path (a file, a manifest,
/// a directory), or its bytes (an archive member, a decompressed stream).
pub enum KeySrc<'a> {
    /// A file, a manifest or an `appendonlydir/`.
    Path(&'a Path),
    /// The whole (decompressed) AOF.
    Bytes(&'a [u8]),
}

/// A sound AOF's keys per db, by replaying it (nothing for an RDB or a damaged backup).
/// Expiries are judged at the backup's save time, so an old backup's keys don't "expire"
/// because it is read today. When the replay stops (a command it does not know), the counts
/// are unknown and `keys_error` says why: the key policies then fail for it rather than pass
/// on the RDB part's counts.
pub fn count_keys(o: &mut Outcome, src: KeySrc<'_>) {
    if !o.valid() || !matches!(o.kind, Some(Kind::Aof) | Some(Kind::AofDir)) {
        return;
    }
    let now_ms = replay_now_ms(o);
    let r = match src {
        KeySrc::Path(p) => load(p, now_ms),
        KeySrc::Bytes(b) => {
            crate::input::load_bytes(&o.backup.name, b, OPTS, now_ms).map_err(|e| e.to_string())
        }
    };
    set_keys(o, r);
}

/// When a sound AOF's keys are counted from: its save time (see [`count_keys`]).
pub fn replay_now_ms(o: &Outcome) -> i64 {
    o.save_time()
        .map(|(t, _)| t.saturating_mul(1000))
        .unwrap_or(0)
}

/// The AOF replayed part by part as an archive is read (see [`count_keys`]).
pub struct PartsCount {
    replay: Option<crate::input::PartsReplay>,
    error: Option<String>,
}

impl PartsCount {
    /// Nothing replayed yet.
    pub fn new() -> PartsCount {
        PartsCount {
            replay: None,
            error: None,
        }
    }

    /// Whether the replay goes on (no part failed it, nor was it abandoned).
    pub fn alive(&self) -> bool {
        self.error.is_none()
    }

    /// Replays the next part (`name`: `ARCHIVE:MEMBER`), read from `r` as a stream; the replay
    /// starts at the first part, its expiries judged at the backup's save time (`now_ms`, or
    /// what `on_rdb` answers once the part's RDB part is read: see
    /// [`crate::input::OnRdbRecord`]); after an error the rest is passed over.
    pub fn part(
        &mut self,
        now_ms: i64,
        name: &str,
        r: &mut dyn Read,
        on_rdb: Option<crate::input::OnRdbRecord<'_>>,
    ) {
        if self.error.is_some() {
            return;
        }
        let fresh = self.replay.is_none();
        let rp = self
            .replay
            .get_or_insert_with(|| crate::input::PartsReplay::new(now_ms));
        // The save time `on_rdb` answers anchors a replay that starts with this part only.
        let res = match on_rdb {
            Some(f) => {
                let mut g = |seen: crate::input::RdbSeen<'_, '_>| f(seen).filter(|_| fresh);
                rp.part(name, r, OPTS, Some(&mut g))
            }
            None => rp.part(name, r, OPTS, None),
        };
        if let Err(e) = res {
            self.error = Some(e.0);
            self.replay = None;
        }
    }

    /// Stops replaying (the data set is damaged: its keys are not counted).
    pub fn abandon(&mut self) {
        self.replay = None;
        self.error = Some("abandoned".into());
    }

    /// The keys into `o`, as [`count_keys`] counts them (nothing for a damaged backup).
    pub fn finish(self, o: &mut Outcome) {
        if !o.valid() || !matches!(o.kind, Some(Kind::Aof) | Some(Kind::AofDir)) {
            return;
        }
        let r = match (self.error, self.replay) {
            (Some(e), _) => Err(e),
            (None, Some(rp)) => Ok(rp.finish()),
            (None, None) => Ok(Dataset::default()),
        };
        set_keys(o, r);
    }
}

fn set_keys(o: &mut Outcome, r: Result<Dataset, String>) {
    match r {
        Ok(ds) => {
            o.keys = ds
                .dbs
                .iter()
                .filter(|(_, keys)| !keys.is_empty())
                .map(|(db, keys)| (*db, keys.len() as u64))
                .collect();
            o.expires = ds
                .dbs
                .values()
                .flat_map(|keys| keys.values())
                .filter(|k| k.expire_ms.is_some())
                .count() as u64;
            o.keys_replayed = true;
            o.keys_error = None;
        }
        Err(e) => {
            o.keys_error = Some(format!("the AOF could not be replayed: {e}"));
        }
    }
}

/// The offset-less name of a backup's file for messages.
fn file_label(o: &Outcome, file: &str) -> String {
    if o.backup.is_dir {
        format!("{}/{}", crate::escape::path(&o.backup.path), file)
    } else {
        crate::escape::path(&o.backup.path)
    }
}

/// For a damaged AOF: what a server (7.x, `aof-load-truncated yes`) does with it on start, as
/// one sentence (`a server would load it, losing the last command at byte N of FILE`), or
/// `None` when it can't be said (not an AOF, unreadable).
pub fn server_verdict(o: &Outcome) -> Option<String> {
    let verdict = match o.kind? {
        Kind::Rdb => return None,
        Kind::AofDir => rdbkit_aof::parts::server_verdict_for_path(&o.backup.path),
        Kind::Aof => {
            let data = read_whole(&o.backup.path)?;
            match check::server_load(&data) {
                Load::Empty => ServerVerdict::StartsEmpty {
                    reason: "the file is empty".into(),
                },
                Load::Loaded { .. } => ServerVerdict::Loads,
                Load::Truncated {
                    valid_up_to,
                    reason,
                    ..
                } => ServerVerdict::TruncatesAndLoads {
                    file: String::new(),
                    offset: valid_up_to,
                    reason,
                },
                Load::Failed { offset, reason } => ServerVerdict::Refuses {
                    file: None,
                    offset: Some(offset),
                    reason,
                },
            }
        }
    };
    Some(describe(o, verdict, &|f| file_label(o, f)))
}

/// A server's verdict on a damaged AOF as one sentence; `label` names a file of it.
pub fn describe(o: &Outcome, verdict: ServerVerdict, label: &dyn Fn(&str) -> String) -> String {
    let gz = if o.gzip { " (once decompressed)" } else { "" };
    match verdict {
        ServerVerdict::Loads => format!("a server would load it as it is{gz}"),
        ServerVerdict::StartsEmpty { reason } => {
            format!("a server would start with an empty data set{gz} ({reason})")
        }
        ServerVerdict::TruncatesAndLoads {
            file,
            offset,
            reason,
        } => format!(
            "a server would load it{gz}, losing {} at byte {offset} of {} \
             (aof-load-truncated yes truncates the file there: {reason})",
            if reason.contains("MULTI") {
                "the unfinished MULTI transaction"
            } else {
                "the last command"
            },
            label(&file)
        ),
        ServerVerdict::Refuses {
            file,
            offset,
            reason,
        } => format!(
            "a server would refuse to load it{gz}{}{}: {reason}",
            file.map(|f| format!(": {}", label(&f))).unwrap_or_default(),
            offset.map(|n| format!(" at byte {n}")).unwrap_or_default()
        ),
    }
}

/// The AOF's bytes (decompressed); `None` when unreadable, or a gzip stream that is itself
/// damaged (no server reads that file: the gzip damage is the verdict).
/// The whole AOF, decompressed (any compressor the input sniffer knows) to its end.
fn read_whole(path: &Path) -> Option<Vec<u8>> {
    let s = crate::input::sniff(path).ok()?;
    let mut data = Vec::new();
    s.rest.with_head(s.head).read_to_end(&mut data).ok()?;
    Some(data)
}
