//! `rdbkit aof check` / `fix` reports: both verdicts on a path, as text or JSON.

use std::path::{Path, PathBuf};

use crate::check::{self, CheckOptions, ServerVerdict, Stop, StrictVerdict};
use crate::dump::json_str;
use crate::error::Error;
use crate::fix::FixPlan;
use crate::multipart::{self, Layout, Role};

/// Both verdicts on one input.
#[derive(Debug)]
pub struct Report {
    /// The path checked.
    pub path: PathBuf,
    /// The resolved layout, or why it couldn't be resolved (a bad manifest, no AOF...).
    pub layout: Result<Layout, String>,
    /// The layout as redis-check-aof sees it (the files `strict` indexes into).
    pub strict_layout: Option<Layout>,
    /// redis-check-aof's verdict, or why it could not be given.
    pub strict: Result<StrictVerdict, String>,
    /// What the server does on start.
    pub server: ServerVerdict,
}

impl Report {
    /// Whether redis-check-aof finds everything sound.
    pub fn strict_valid(&self) -> bool {
        self.strict.as_ref().is_ok_and(|s| s.valid)
    }
}

/// Checks `path` (a file, a manifest, an `appendonlydir/` or a data directory).
pub fn check_path(path: &Path, opts: CheckOptions) -> Report {
    let layout = multipart::resolve(path);
    // The tool recognises a manifest by content only: an empty manifest is "an empty AOF" to
    // it, a manifest with a damaged first line a malformed AOF.
    let tool_layout = multipart::resolve_with(path, multipart::Sniff::Tool);
    let (strict, server) = match (&layout, tool_layout) {
        // The same files for both (the usual case): every part checked once for both
        // verdicts, the base at the same time as the incr files (see `crate::parts`).
        (Ok(l), Ok(t)) if l.files() == t.files() => {
            let (strict, server) =
                crate::parts::check_layout_parallel(&t, opts, crate::parts::Want::BOTH);
            (strict.map(|v| (t, v)).map_err(|e| e.to_string()), server)
        }
        (_, tool_layout) => two_verdicts(&layout, tool_layout, opts),
    };
    let (strict_layout, strict) = match strict {
        Ok((l, v)) => (Some(l), Ok(v)),
        Err(e) => (None, Err(e)),
    };
    Report {
        path: path.to_path_buf(),
        layout: layout.map_err(|e| e.to_string()),
        strict_layout,
        strict,
        server,
    }
}

type Strict = Result<(Layout, StrictVerdict), String>;

/// The two verdicts when the tool and the server see different files (a damaged or empty
/// manifest): each on its own.
fn two_verdicts(
    layout: &Result<Layout, Error>,
    tool_layout: Result<Layout, Error>,
    opts: CheckOptions,
) -> (Strict, ServerVerdict) {
    // The two verdicts read the same files independently: the server's on a second thread.
    // Files read into memory (a fixing process, see `multipart::read_without_mapping`): one
    // verdict after the other, so one copy of a file is held at a time.
    let parallel = !multipart::reads_without_mapping();
    std::thread::scope(|s| {
        let server_of = || crate::parts::server_verdict_of(layout);
        let server = parallel.then(|| s.spawn(server_of));
        let strict = match tool_layout {
            Ok(l) => crate::parts::check_layout(&l, opts)
                .map(|v| (l, v))
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let server = match server {
            Some(h) => h.join().unwrap_or_else(|_| ServerVerdict::Refuses {
                file: None,
                offset: None,
                reason: "internal error: the server-verdict thread panicked".into(),
            }),
            None => server_of(),
        };
        (strict, server)
    })
}

/// `show` prints a name: escaped in text, as it is in JSON (whose strings are escaped).
fn layout_desc(l: &Layout, show: fn(&str) -> String) -> String {
    match l {
        Layout::Single(_) => "single-file AOF".into(),
        Layout::MultiPart {
            manifest_path,
            files,
            ..
        } => {
            let base = files.iter().filter(|f| f.role == Role::Base).count();
            let incr = files.iter().filter(|f| f.role == Role::Incr).count();
            format!(
                "multi-part AOF, manifest {} ({base} base, {incr} incr)",
                show(&manifest_path.display().to_string())
            )
        }
    }
}

fn reason_of(c: &check::SingleCheck, path: &str) -> Option<String> {
    match &c.stop {
        Stop::RdbInvalid(e) => Some(format!("RDB part not sane: {e}")),
        Stop::TimestampCut { offset, open_multi } => Some(match open_multi {
            None => format!("first #TS annotation past the timestamp at offset {offset}"),
            Some(m) => format!(
                "first #TS annotation past the timestamp at offset {offset}, inside the MULTI \
                 at offset {m}: like redis-check-aof, the cut keeps that open transaction, \
                 which the server drops on load"
            ),
        }),
        Stop::NothingBeforeTimestamp { .. } => Some("nothing before the timestamp".into()),
        Stop::TimestampNotLast { offset } => Some(format!(
            "timestamp cut at offset {offset} is not in the last file"
        )),
        Stop::InvalidTimestampAnnotation { offset } => {
            Some(format!("invalid #TS annotation at offset {offset}"))
        }
        Stop::Empty | Stop::Checked => c.error.as_ref().map(|e| {
            use crate::resp::RespErrorKind as K;
            let msg = match &e.kind {
                K::EofAtLine => {
                    "unexpected end of file (a command is cut after a complete line)".to_string()
                }
                k => k.redis_message(path).unwrap_or_default(),
            };
            format!("{msg} (at offset {})", e.offset)
        }),
    }
}

/// As is: JSON strings are escaped by the JSON writer.
fn raw(s: &str) -> String {
    s.to_string()
}

fn server_line(v: &ServerVerdict, show: fn(&str) -> String) -> String {
    match v {
        ServerVerdict::Loads => "loads it as it is".into(),
        ServerVerdict::StartsEmpty { reason } => {
            format!("starts with an empty data set ({reason})")
        }
        ServerVerdict::TruncatesAndLoads {
            file,
            offset,
            reason,
        } => format!(
            "truncates {} to {offset} bytes and loads the rest (aof-load-truncated yes): {reason}",
            show(file)
        ),
        ServerVerdict::Refuses {
            file,
            offset,
            reason,
        } => format!(
            "refuses to start{}{}: {}",
            file.as_ref()
                .map(|f| format!(" at {}", show(f)))
                .unwrap_or_default(),
            offset.map(|o| format!(" offset {o}")).unwrap_or_default(),
            // May hold a file's name (an error opening it).
            show(reason)
        ),
    }
}

/// Human-readable text of a report. File names (and errors, which may hold them) are
/// escaped ([`crate::escape`]): an ordinary name prints as it is.
pub fn human(r: &Report) -> String {
    use crate::escape::text as show;
    let mut s = format!("{}: ", crate::escape::path(&r.path));
    match &r.layout {
        Ok(l) => s.push_str(&layout_desc(l, show)),
        Err(e) => s.push_str(&format!("can't be read as an AOF: {}", show(e))),
    }
    s.push('\n');
    match &r.strict {
        Ok(v) => {
            s.push_str(&format!(
                "redis-check-aof 7.4 verdict: {}\n",
                if v.valid { "valid" } else { "NOT valid" }
            ));
            for f in &v.files {
                let c = &f.check;
                let path = crate::escape::path(&f.file.path);
                s.push_str(&format!(
                    "  {} [{}]: size {}, ok_up_to {}, ok_up_to_line {}, diff {}",
                    show(&f.file.name),
                    match f.file.role {
                        Role::Single => "file",
                        Role::Base => "base",
                        Role::Incr => "incr",
                    },
                    c.size,
                    c.ok_up_to,
                    c.ok_up_to_line,
                    c.diff()
                ));
                if c.stop == Stop::Empty {
                    s.push_str(" (empty)");
                }
                if let Some(why) = reason_of(c, &path) {
                    s.push_str(&format!(": {why}"));
                }
                s.push('\n');
            }
            if let Some((i, off)) = v.fixable {
                if let Some(f) = v.files.get(i) {
                    s.push_str(&format!(
                        "  fixable: `rdbkit aof fix` would cut {} at offset {off}\n",
                        show(&f.file.name)
                    ));
                }
            }
            if let Some(why) = &v.refusal {
                s.push_str(&format!("  not fixable by truncation: {why}\n"));
            }
        }
        Err(e) => s.push_str(&format!(
            "redis-check-aof 7.4 verdict: NOT valid: {}\n",
            show(e)
        )),
    }
    s.push_str(&format!(
        "server on start (Redis 7.4): {}\n",
        server_line(&r.server, show)
    ));
    s
}

fn js(out: &mut Vec<u8>, s: &str) {
    json_str(out, s.as_bytes());
}

fn opt_num(n: Option<u64>) -> String {
    n.map_or("null".into(), |n| n.to_string())
}

/// JSON text of a report (one object).
pub fn json(r: &Report) -> String {
    let mut o = Vec::new();
    o.extend_from_slice(b"{\"path\":");
    js(&mut o, &r.path.display().to_string());
    o.extend_from_slice(b",\"layout\":");
    match &r.layout {
        Ok(l) => js(&mut o, &layout_desc(l, raw)),
        Err(e) => {
            o.extend_from_slice(b"null,\"layout_error\":");
            js(&mut o, e);
        }
    }
    o.extend_from_slice(b",\"strict\":");
    match &r.strict {
        Ok(v) => {
            o.extend_from_slice(format!("{{\"valid\":{},\"files\":[", v.valid).as_bytes());
            for (i, f) in v.files.iter().enumerate() {
                if i > 0 {
                    o.push(b',');
                }
                let c = &f.check;
                o.extend_from_slice(b"{\"name\":");
                js(&mut o, &f.file.name);
                o.extend_from_slice(b",\"path\":");
                js(&mut o, &f.file.path.display().to_string());
                o.extend_from_slice(
                    format!(
                        ",\"last\":{},\"size\":{},\"ok_up_to\":{},\"ok_up_to_line\":{},\"diff\":{},\"commands\":{},\"error_offset\":{},\"reason\":",
                        f.last,
                        c.size,
                        c.ok_up_to,
                        c.ok_up_to_line,
                        c.diff(),
                        c.commands,
                        opt_num(c.error.as_ref().map(|e| e.offset))
                    )
                    .as_bytes(),
                );
                match reason_of(c, &f.file.path.display().to_string()) {
                    Some(why) => js(&mut o, &why),
                    None => o.extend_from_slice(b"null"),
                }
                o.push(b'}');
            }
            o.extend_from_slice(b"],\"fixable\":");
            match v
                .fixable
                .and_then(|(i, off)| v.files.get(i).map(|f| (f, off)))
            {
                Some((f, off)) => {
                    o.extend_from_slice(b"{\"file\":");
                    js(&mut o, &f.file.name);
                    o.extend_from_slice(format!(",\"offset\":{off}}}").as_bytes());
                }
                None => o.extend_from_slice(b"null"),
            }
            o.extend_from_slice(b",\"refusal\":");
            match &v.refusal {
                Some(why) => js(&mut o, why),
                None => o.extend_from_slice(b"null"),
            }
            o.push(b'}');
        }
        Err(e) => {
            o.extend_from_slice(b"{\"valid\":false,\"error\":");
            js(&mut o, e);
            o.push(b'}');
        }
    }
    o.extend_from_slice(b",\"server\":{\"verdict\":");
    let (kind, file, offset) = match &r.server {
        ServerVerdict::Loads => ("loads", None, None),
        ServerVerdict::StartsEmpty { .. } => ("starts-empty", None, None),
        ServerVerdict::TruncatesAndLoads { file, offset, .. } => {
            ("truncates-and-loads", Some(file.as_str()), Some(*offset))
        }
        ServerVerdict::Refuses { file, offset, .. } => ("refuses", file.as_deref(), *offset),
    };
    js(&mut o, kind);
    o.extend_from_slice(b",\"file\":");
    match file {
        Some(f) => js(&mut o, f),
        None => o.extend_from_slice(b"null"),
    }
    o.extend_from_slice(format!(",\"offset\":{},\"detail\":", opt_num(offset)).as_bytes());
    js(&mut o, &server_line(&r.server, raw));
    o.extend_from_slice(b"}}");
    String::from_utf8_lossy(&o).into_owned()
}

/// Text describing a planned (or applied) cut (the file's name escaped, [`crate::escape`]).
pub fn plan_human(p: &FixPlan) -> String {
    let mut s = format!(
        "{}: truncate from {} to {} bytes, removing {} bytes: {} whole command{}{}{}",
        crate::escape::text(&p.name),
        p.size,
        p.truncate_to,
        p.removed_bytes,
        p.whole_commands,
        if p.whole_commands == 1 { "" } else { "s" },
        if p.partial { " and a partial one" } else { "" },
        p.first_removed_command
            .map(|o| format!(", the first removed at offset {o}"))
            .unwrap_or_default()
    );
    if p.damaged_regions > 0 {
        s.push_str(&format!(
            " (counted past {} damaged stretch{} of {} unreadable bytes in all, the first at \
             offset {}: the removed part may hold more)",
            p.damaged_regions,
            if p.damaged_regions == 1 { "" } else { "es" },
            p.unparsed_bytes,
            opt_num(p.count_stopped_at)
        ));
    }
    s
}

/// JSON object describing a cut.
pub fn plan_json(p: &FixPlan, applied: bool) -> String {
    let mut o = Vec::new();
    o.extend_from_slice(b"{\"file\":");
    js(&mut o, &p.name);
    o.extend_from_slice(b",\"path\":");
    js(&mut o, &p.path.display().to_string());
    o.extend_from_slice(
        format!(
            ",\"size\":{},\"truncate_to\":{},\"removed_bytes\":{},\"whole_commands_removed\":{},\"partial_command_removed\":{},\"first_removed_offset\":{},\"damaged_regions\":{},\"unparsed_bytes\":{},\"count_stopped_at\":{},\"applied\":{applied}}}",
            p.size,
            p.truncate_to,
            p.removed_bytes,
            p.whole_commands,
            p.partial,
            opt_num(p.first_removed_command),
            p.damaged_regions,
            p.unparsed_bytes,
            opt_num(p.count_stopped_at)
        )
        .as_bytes(),
    );
    String::from_utf8_lossy(&o).into_owned()
}
