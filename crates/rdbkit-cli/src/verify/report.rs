//! The report: one line per backup (plus where and why for a damaged one), one line per
//! failed policy, a summary; or the same as one JSON object.

use std::fmt::Write as _;

use rdbkit_aof::dump::json_str;

use super::policy::Failure;
use super::{Outcome, PathProblem};
use crate::escape;
use crate::time::utc;

/// `1.2 MiB`.
pub fn bytes_h(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < U.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U.get(i).copied().unwrap_or("B"))
    }
}

fn keys_text(o: &Outcome) -> String {
    let per_db: Vec<String> = o.keys.iter().map(|(db, n)| format!("db{db} {n}")).collect();
    let mut s = format!("{} keys", o.total_keys());
    if !per_db.is_empty() {
        s.push_str(&format!(" ({})", per_db.join(", ")));
    }
    if o.keys_replayed {
        s.push_str(" after replaying the commands");
    } else if o.keys_error.is_some() {
        return format!(
            "keys not counted (the replay stopped; its RDB part holds {})",
            s
        );
    } else if !o.keys_exact() {
        s.push_str(" in the RDB part");
    }
    s
}

/// One backup as text.
pub fn human_backup(o: &Outcome, out: &mut String) {
    let tag = if o.valid() { "OK     " } else { "DAMAGED" };
    let _ = write!(out, "{tag} {}", escape::path(&o.backup.path));
    let mut parts: Vec<String> = Vec::new();
    if let Some(k) = o.kind {
        parts.push(k.as_str().to_string());
    }
    if let (Some(m), Some(v)) = (&o.magic, o.version) {
        parts.push(format!("{m} {v}"));
    }
    if let Some(w) = &o.writer {
        parts.push(format!("written by {}", escape::text(w)));
    }
    if let Some((t, src)) = o.save_time() {
        parts.push(format!("saved {} (by {})", utc(t), src.as_str()));
    }
    if o.valid() {
        parts.push(keys_text(o));
        if let Some(c) = o.commands {
            parts.push(format!("{c} commands"));
        }
    }
    parts.push(if o.unreadable {
        format!("unreadable ({} on disk)", bytes_h(o.size))
    } else if o.gzip {
        format!(
            "{} gzip'd ({} decoded)",
            bytes_h(o.size),
            bytes_h(o.data_bytes)
        )
    } else {
        bytes_h(o.size)
    });
    if let Some(c) = &o.checksum {
        parts.push(format!("checksum {c}"));
    }
    let _ = writeln!(out, ": {}", parts.join(", "));
    if let Some(d) = &o.damage {
        let _ = writeln!(
            out,
            "        {}{}",
            d.file
                .as_ref()
                .map(|f| format!("{}: ", escape::text(f)))
                .unwrap_or_default(),
            escape::text(&d.reason)
        );
    }
    if let Some(v) = &o.server_verdict {
        let _ = writeln!(
            out,
            "        {}; still DAMAGED (exit 2): the backup is not whole as saved",
            escape::text(v)
        );
    }
    if let Some(e) = &o.keys_error {
        let _ = writeln!(out, "        keys not counted: {}", escape::text(e));
    }
    for n in &o.notes {
        let _ = writeln!(out, "        note: {}", escape::text(n));
    }
}

pub struct Summary<'a> {
    pub outcomes: &'a [Outcome],
    pub problems: &'a [PathProblem],
    pub failures: &'a [Failure],
    pub exit_code: u8,
    pub seconds: f64,
    pub cpu_seconds: Option<f64>,
    pub jobs: usize,
}

pub fn human(s: &Summary<'_>) -> String {
    let mut out = String::new();
    for o in s.outcomes {
        human_backup(o, &mut out);
    }
    for p in s.problems.iter().filter(|p| p.unreadable) {
        let _ = writeln!(out, "DAMAGED {}", escape::text(&p.reason));
    }
    for f in s.failures {
        let _ = writeln!(out, "POLICY  {}: {}", f.policy, escape::text(&f.message));
    }
    let damaged = s.outcomes.iter().filter(|o| !o.valid()).count()
        + s.problems.iter().filter(|p| p.unreadable).count();
    let _ = writeln!(
        out,
        "{} backups verified in {:.2}s ({} threads): {} ok, {} damaged, {} policy failure{}; exit {}",
        s.outcomes.len(),
        s.seconds,
        s.jobs,
        s.outcomes.iter().filter(|o| o.valid()).count(),
        damaged,
        s.failures.len(),
        if s.failures.len() == 1 { "" } else { "s" },
        s.exit_code
    );
    out
}

fn js(o: &mut Vec<u8>, s: &str) {
    json_str(o, s.as_bytes());
}

fn opt<T: ToString>(o: &mut Vec<u8>, v: Option<T>) {
    match v {
        Some(v) => o.extend_from_slice(v.to_string().as_bytes()),
        None => o.extend_from_slice(b"null"),
    }
}

fn opt_str(o: &mut Vec<u8>, v: Option<&str>) {
    match v {
        Some(v) => js(o, v),
        None => o.extend_from_slice(b"null"),
    }
}

fn backup_json(x: &Outcome, o: &mut Vec<u8>) {
    o.extend_from_slice(b"{\"path\":");
    js(o, &x.backup.path.display().to_string());
    o.extend_from_slice(b",\"name\":");
    js(o, &x.backup.name);
    o.extend_from_slice(b",\"series\":");
    js(o, &x.backup.series);
    o.extend_from_slice(format!(",\"valid\":{},\"kind\":", x.valid()).as_bytes());
    opt_str(o, x.kind.map(|k| k.as_str()));
    o.extend_from_slice(
        format!(
            ",\"gzip\":{},\"size_bytes\":{},\"decoded_bytes\":{},\"magic\":",
            x.gzip, x.size, x.data_bytes
        )
        .as_bytes(),
    );
    opt_str(o, x.magic.as_deref());
    o.extend_from_slice(b",\"version\":");
    opt(o, x.version);
    o.extend_from_slice(b",\"writer\":");
    opt_str(o, x.writer.as_deref());
    o.extend_from_slice(b",\"ctime\":");
    opt(o, x.ctime);
    o.extend_from_slice(b",\"save_time\":");
    opt(o, x.save_time().map(|t| t.0));
    o.extend_from_slice(b",\"save_time_source\":");
    opt_str(o, x.save_time().map(|t| t.1.as_str()));
    o.extend_from_slice(b",\"keys\":{");
    for (i, (db, n)) in x.keys.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.extend_from_slice(format!("\"{db}\":{n}").as_bytes());
    }
    o.extend_from_slice(
        format!(
            "}},\"total_keys\":{},\"keys_exact\":{},\"keys_replayed\":{},\"expires\":{},\"commands\":",
            x.total_keys(),
            x.keys_exact(),
            x.keys_replayed,
            x.expires
        )
        .as_bytes(),
    );
    opt(o, x.commands);
    o.extend_from_slice(b",\"keys_error\":");
    opt_str(o, x.keys_error.as_deref());
    o.extend_from_slice(format!(",\"unreadable\":{},\"server_verdict\":", x.unreadable).as_bytes());
    opt_str(o, x.server_verdict.as_deref());
    o.extend_from_slice(b",\"checksum\":");
    opt_str(o, x.checksum.as_deref());
    o.extend_from_slice(b",\"damage\":");
    match &x.damage {
        None => o.extend_from_slice(b"null"),
        Some(d) => {
            o.extend_from_slice(b"{\"file\":");
            opt_str(o, d.file.as_deref());
            o.extend_from_slice(b",\"offset\":");
            opt(o, d.offset);
            o.extend_from_slice(b",\"reason\":");
            js(o, &d.reason);
            o.push(b'}');
        }
    }
    o.extend_from_slice(b",\"notes\":[");
    for (i, n) in x.notes.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        js(o, n);
    }
    o.extend_from_slice(format!("],\"seconds\":{:.3}}}", x.seconds).as_bytes());
}

pub fn json(s: &Summary<'_>) -> String {
    let mut o = Vec::new();
    o.extend_from_slice(format!("{{\"exit_code\":{},\"backups\":[", s.exit_code).as_bytes());
    for (i, x) in s.outcomes.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        backup_json(x, &mut o);
    }
    o.extend_from_slice(b"],\"path_errors\":[");
    for (i, p) in s.problems.iter().filter(|p| p.unreadable).enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.extend_from_slice(b"{\"path\":");
        js(&mut o, &p.path.display().to_string());
        o.extend_from_slice(b",\"reason\":");
        js(&mut o, &p.reason);
        o.push(b'}');
    }
    o.extend_from_slice(b"],\"policy_failures\":[");
    for (i, f) in s.failures.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.extend_from_slice(b"{\"policy\":");
        js(&mut o, f.policy);
        o.extend_from_slice(b",\"subject\":");
        js(&mut o, &f.subject);
        o.extend_from_slice(b",\"message\":");
        js(&mut o, &f.message);
        o.push(b'}');
    }
    o.extend_from_slice(format!("],\"seconds\":{:.3},\"cpu_seconds\":", s.seconds).as_bytes());
    opt(&mut o, s.cpu_seconds.map(|c| format!("{c:.3}")));
    o.extend_from_slice(format!(",\"threads\":{}}}", s.jobs).as_bytes());
    String::from_utf8_lossy(&o).into_owned()
}
