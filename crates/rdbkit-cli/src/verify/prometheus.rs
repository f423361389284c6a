//! node_exporter textfile-collector output, written atomically: a temp file in the same
//! folder (not ending in `.prom`, so the collector never reads it half-written), fsync'd, then
//! renamed over the target, then the folder fsync'd.

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use super::Outcome;

const LAST_SUCCESS: &str = "rdbkit_verify_last_success_timestamp_seconds";

/// A label value escaped as the exposition format wants: `\` `"` and newline.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// The last success time recorded in an earlier textfile, kept when this run fails.
pub fn previous_last_success(path: &Path) -> Option<f64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(LAST_SUCCESS))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
}

fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

/// The textfile. `last_success`: Unix time of the last run with exit 0 (this one, if it
/// passed), 0 when none is known.
pub fn render(outcomes: &[Outcome], duration: f64, last_success: f64, exit_code: u8) -> String {
    let mut o = String::new();
    let label = |x: &Outcome| format!("backup=\"{}\"", escape_label(&x.backup.name));
    family(
        &mut o,
        "rdbkit_backup_valid",
        "1 when the backup decoded completely (deep validation, checksums), 0 when it is damaged.",
    );
    for x in outcomes {
        let _ = writeln!(
            o,
            "rdbkit_backup_valid{{{}}} {}",
            label(x),
            u8::from(x.valid())
        );
    }
    family(
        &mut o,
        "rdbkit_backup_keys",
        "Keys per database in the backup (an AOF is replayed to count them).",
    );
    // Exact counts only: an AOF whose replay stopped has no count (rdbkit_backup_keys_counted 0).
    for x in outcomes.iter().filter(|x| x.valid() && x.keys_exact()) {
        for (db, n) in &x.keys {
            let _ = writeln!(o, "rdbkit_backup_keys{{{},db=\"{db}\"}} {n}", label(x));
        }
    }
    family(
        &mut o,
        "rdbkit_backup_keys_counted",
        "1 when the keys of a valid backup were counted (an RDB, or an AOF replayed completely), 0 when they could not be (the replay stopped at a command; see the report).",
    );
    for x in outcomes.iter().filter(|x| x.valid()) {
        let _ = writeln!(
            o,
            "rdbkit_backup_keys_counted{{{}}} {}",
            label(x),
            u8::from(x.keys_exact())
        );
    }
    family(
        &mut o,
        "rdbkit_backup_size_bytes",
        "Size of the backup on disk (compressed, if gzip'd).",
    );
    for x in outcomes {
        let _ = writeln!(o, "rdbkit_backup_size_bytes{{{}}} {}", label(x), x.size);
    }
    family(
        &mut o,
        "rdbkit_backup_save_timestamp_seconds",
        "When the backup's data was saved: an RDB's ctime aux field, else the date in the file name, else the file mtime (AOF: name, mtime, then ctime).",
    );
    for x in outcomes {
        if let Some((t, _)) = x.save_time() {
            let _ = writeln!(
                o,
                "rdbkit_backup_save_timestamp_seconds{{{}}} {t}",
                label(x)
            );
        }
    }
    family(
        &mut o,
        "rdbkit_verify_duration_seconds",
        "Wall time of the last rdbkit verify run.",
    );
    let _ = writeln!(o, "rdbkit_verify_duration_seconds {duration:.3}");
    family(
        &mut o,
        "rdbkit_verify_exit_code",
        "Exit status of the last run: 0 all good, 1 a policy failed, 2 a backup is damaged or unreadable.",
    );
    let _ = writeln!(o, "rdbkit_verify_exit_code {exit_code}");
    family(
        &mut o,
        LAST_SUCCESS,
        "Unix time of the last run in which every backup was valid and every policy passed (0: never).",
    );
    let _ = writeln!(o, "{LAST_SUCCESS} {last_success:.3}");
    o
}

/// Writes `text` to `path` atomically.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "rdbkit.prom".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let r = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        // The rename itself is durable once the folder is synced.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes() {
        assert_eq!(super::escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
