//! The operator's policies (each opt-in): the newest backup is recent enough, holds enough
//! keys, didn't shrink against the previous one, and has the expected databases. Plus the
//! parsing of durations, percentages and the date stamps in backup names.

use std::collections::BTreeMap;

use super::{Outcome, PathProblem};
use crate::time::{days_from_civil, utc};

/// The policies asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    /// Seconds.
    pub max_age: Option<i64>,
    pub min_keys: Option<u64>,
    /// Percent (0-100) of keys a backup may lose against the previous one.
    pub max_shrink: Option<f64>,
    pub expect_db: Vec<u64>,
    /// Apply --min-keys/--max-shrink/--expect-db to every backup, not just the newest of each
    /// series.
    pub all: bool,
}

/// One failed policy: a line of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub policy: &'static str,
    /// The backup it is about (a file name), or the series.
    pub subject: String,
    pub message: String,
}

/// `26h`, `90m`, `2d`, `1w`, `3600s`, `3600` (seconds), `1d12h`.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("bad duration {s:?}: use e.g. 26h, 90m, 2d, 1w or 1d12h");
    let s = s.trim();
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(n) = s.parse::<i64>() {
        return if n > 0 { Ok(n) } else { Err(bad()) };
    }
    let mut total: i64 = 0;
    let mut num = String::new();
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            num.push(ch);
            continue;
        }
        let unit: i64 = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        let n: i64 = num.parse().map_err(|_| bad())?;
        num.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if !num.is_empty() || total <= 0 {
        return Err(bad());
    }
    Ok(total)
}

/// `20%` or `20` → 20.0 (0 to 100).
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let t = s.trim().trim_end_matches('%').trim();
    match t.parse::<f64>() {
        Ok(v) if (0.0..=100.0).contains(&v) => Ok(v),
        _ => Err(format!("bad percentage {s:?}: use e.g. 20%")),
    }
}

/// A duration as `1d 2h 3m` (for messages).
pub fn human_duration(secs: i64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h {m}m"),
    }
}

fn unix(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    let ok = (1970..=9999).contains(&y)
        && (1..=12).contains(&mo)
        && (1..=31).contains(&d)
        && (0..=23).contains(&h)
        && (0..=59).contains(&mi)
        && (0..=60).contains(&s);
    ok.then(|| days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

fn num(b: &[u8]) -> Option<i64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// The date stamp in a backup's name, read as UTC, and the name with the stamp replaced by `*`
/// (the series). Forms: `20250124-020000`, `20250124_020000`, `20250124T020000`,
/// `20250124020000`, `20250124`, `2025-01-24T02:00:00`, `2025-01-24_02-00-00`, `2025-01-24`.
pub fn date_in_name(name: &str) -> (Option<i64>, String) {
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // A stamp starts at a digit that doesn't continue a number.
        let starts = b.get(i).is_some_and(u8::is_ascii_digit)
            && (i == 0 || !b.get(i - 1).is_some_and(u8::is_ascii_digit));
        if starts {
            if let Some((t, len)) = stamp_at(b, i) {
                let series = format!(
                    "{}*{}",
                    String::from_utf8_lossy(b.get(..i).unwrap_or_default()),
                    String::from_utf8_lossy(b.get(i + len..).unwrap_or_default())
                );
                return (Some(t), series);
            }
        }
        i += 1;
    }
    (None, name.to_string())
}

/// A stamp at `i`: its time and length.
fn stamp_at(b: &[u8], i: usize) -> Option<(i64, usize)> {
    let digits = |from: usize, n: usize| b.get(from..from + n).and_then(num);
    let is_sep = |at: usize, seps: &[u8]| b.get(at).is_some_and(|c| seps.contains(c));
    let not_digit_at = |at: usize| !b.get(at).is_some_and(u8::is_ascii_digit);
    // Compact: YYYYMMDD[sep]HHMMSS or YYYYMMDD.
    if let (Some(y), Some(mo), Some(d)) = (digits(i, 4), digits(i + 4, 2), digits(i + 6, 2)) {
        let date_end = i + 8;
        let time_at = if is_sep(date_end, b"-_T.") {
            date_end + 1
        } else {
            date_end
        };
        if let (Some(h), Some(mi), Some(s)) = (
            digits(time_at, 2),
            digits(time_at + 2, 2),
            digits(time_at + 4, 2),
        ) {
            if not_digit_at(time_at + 6) {
                if let Some(t) = unix(y, mo, d, h, mi, s) {
                    return Some((t, time_at + 6 - i));
                }
            }
        }
        if not_digit_at(date_end) {
            if let Some(t) = unix(y, mo, d, 0, 0, 0) {
                return Some((t, 8));
            }
        }
    }
    // Dashed: YYYY-MM-DD[sep]HH[-:]MM[-:]SS or YYYY-MM-DD.
    if let (Some(y), true, Some(mo), true, Some(d)) = (
        digits(i, 4),
        is_sep(i + 4, b"-"),
        digits(i + 5, 2),
        is_sep(i + 7, b"-"),
        digits(i + 8, 2),
    ) {
        let date_end = i + 10;
        if is_sep(date_end, b"-_T. ") {
            let t0 = date_end + 1;
            if let (Some(h), true, Some(mi), true, Some(s)) = (
                digits(t0, 2),
                is_sep(t0 + 2, b"-:."),
                digits(t0 + 3, 2),
                is_sep(t0 + 5, b"-:."),
                digits(t0 + 6, 2),
            ) {
                if let Some(t) = unix(y, mo, d, h, mi, s) {
                    return Some((t, t0 + 8 - i));
                }
            }
        }
        if not_digit_at(date_end) {
            if let Some(t) = unix(y, mo, d, 0, 0, 0) {
                return Some((t, 10));
            }
        }
    }
    None
}

/// Backups of each series (by name pattern), oldest first by save time.
pub fn series(outcomes: &[Outcome]) -> BTreeMap<&str, Vec<&Outcome>> {
    let mut m: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for o in outcomes {
        m.entry(o.backup.series.as_str()).or_default().push(o);
    }
    for v in m.values_mut() {
        v.sort_by_key(|o| (o.save_time().map(|t| t.0), o.backup.name.clone()));
    }
    m
}

fn when(o: &Outcome) -> String {
    match o.save_time() {
        Some((t, src)) => format!("{} (by {})", utc(t), src.as_str()),
        None => "at an unknown time".into(),
    }
}

/// Applies the policies at time `now` (Unix seconds).
pub fn check(
    outcomes: &[Outcome],
    problems: &[PathProblem],
    p: &Policies,
    now: i64,
) -> Vec<Failure> {
    let mut out = Vec::new();
    for pr in problems.iter().filter(|pr| !pr.unreadable) {
        out.push(Failure {
            policy: "no-backup",
            subject: crate::escape::path(&pr.path),
            message: pr.reason.clone(),
        });
    }
    for (series, list) in series(outcomes) {
        let valid: Vec<&Outcome> = list.iter().copied().filter(|o| o.valid()).collect();
        if let Some(max_age) = p.max_age {
            match valid.iter().filter_map(|o| o.save_time().map(|t| (t, o))).max_by_key(|x| x.0 .0) {
                None => out.push(Failure {
                    policy: "max-age",
                    subject: series.to_string(),
                    message: format!("series {series}: no valid backup with a known save time"),
                }),
                Some(((t, _), o)) if now - t > max_age => out.push(Failure {
                    policy: "max-age",
                    subject: o.backup.name.clone(),
                    message: format!(
                        "series {series}: the newest valid backup {} was saved {} ({} ago), older than --max-age {}",
                        o.backup.name,
                        when(o),
                        human_duration(now - t),
                        human_duration(max_age)
                    ),
                }),
                Some(_) => {}
            }
        }
        // Key policies: on exact counts (RDBs, and AOFs replayed). A backup whose keys could
        // not be counted fails each key policy asked for, saying why: never a silent pass.
        let targets: Vec<(usize, &Outcome)> = if p.all {
            valid.iter().copied().enumerate().collect()
        } else {
            valid
                .len()
                .checked_sub(1)
                .and_then(|i| valid.get(i).map(|o| (i, *o)))
                .into_iter()
                .collect()
        };
        let asked: Vec<&'static str> = [
            p.min_keys.map(|_| "min-keys"),
            p.max_shrink.map(|_| "max-shrink"),
            (!p.expect_db.is_empty()).then_some("expect-db"),
        ]
        .into_iter()
        .flatten()
        .collect();
        for (i, o) in targets {
            if !o.keys_exact() {
                let why = o
                    .keys_error
                    .clone()
                    .unwrap_or_else(|| "only the keys of its RDB part are known".into());
                for policy in &asked {
                    out.push(Failure {
                        policy,
                        subject: o.backup.name.clone(),
                        message: format!(
                            "{}: --{policy} can't be checked, its keys could not be counted: {why}",
                            o.backup.name
                        ),
                    });
                }
                continue;
            }
            let keys = o.total_keys();
            if let Some(min) = p.min_keys {
                if keys < min {
                    out.push(Failure {
                        policy: "min-keys",
                        subject: o.backup.name.clone(),
                        message: format!(
                            "{} holds {keys} keys, fewer than --min-keys {min}",
                            o.backup.name
                        ),
                    });
                }
            }
            if let Some(pct) = p.max_shrink {
                match i.checked_sub(1).and_then(|j| valid.get(j)) {
                    Some(prev) if !prev.keys_exact() => out.push(Failure {
                        policy: "max-shrink",
                        subject: o.backup.name.clone(),
                        message: format!(
                            "{}: --max-shrink can't be checked, the keys of the previous backup {} could not be counted: {}",
                            o.backup.name,
                            prev.backup.name,
                            prev.keys_error.as_deref().unwrap_or("unknown")
                        ),
                    }),
                    Some(prev) => {
                        let before = prev.total_keys();
                        if before > 0 && keys < before {
                            let lost = (before - keys) as f64 * 100.0 / before as f64;
                            if lost > pct {
                                out.push(Failure {
                                    policy: "max-shrink",
                                    subject: o.backup.name.clone(),
                                    message: format!(
                                        "{} holds {keys} keys, {lost:.1}% fewer than the previous backup {} ({before} keys); --max-shrink {pct}%",
                                        o.backup.name, prev.backup.name
                                    ),
                                });
                            }
                        }
                    }
                    None => {}
                }
            }
            for db in &p.expect_db {
                if o.keys.get(db).copied().unwrap_or(0) == 0 {
                    out.push(Failure {
                        policy: "expect-db",
                        subject: o.backup.name.clone(),
                        message: format!(
                            "{} has no keys in db {db} (--expect-db {db}); dbs with keys: {}",
                            o.backup.name,
                            if o.keys.is_empty() {
                                "none".to_string()
                            } else {
                                o.keys
                                    .keys()
                                    .map(|d| d.to_string())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            }
                        ),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("26h"), Ok(26 * 3600));
        assert_eq!(parse_duration("1d12h"), Ok(36 * 3600));
        assert_eq!(parse_duration("90m"), Ok(5400));
        assert_eq!(parse_duration("3600"), Ok(3600));
        assert_eq!(parse_duration("1w"), Ok(604_800));
        assert!(parse_duration("26").is_ok());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("12x").is_err());
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
        assert_eq!(parse_percent("20%"), Ok(20.0));
        assert!(parse_percent("120%").is_err());
    }

    #[test]
    fn stamps() {
        let t = unix(2025, 1, 24, 2, 0, 0).unwrap();
        assert_eq!(t, 1_737_684_000);
        for (name, series) in [
            ("dump-20250124-020000.rdb.gz", "dump-*.rdb.gz"),
            ("appendonly-20250124_020000.aof.gz", "appendonly-*.aof.gz"),
            ("dump-20250124T020000.rdb", "dump-*.rdb"),
            ("dump-20250124020000.rdb", "dump-*.rdb"),
            ("dump-2025-01-24T02:00:00.rdb", "dump-*.rdb"),
            ("dump-2025-01-24_02-00-00.rdb", "dump-*.rdb"),
        ] {
            assert_eq!(date_in_name(name), (Some(t), series.to_string()), "{name}");
        }
        let day = unix(2025, 1, 24, 0, 0, 0).unwrap();
        assert_eq!(date_in_name("redis-2025-01-24.rdb").0, Some(day));
        assert_eq!(
            date_in_name("dump.20250124.rdb"),
            (Some(day), "dump.*.rdb".into())
        );
        assert_eq!(date_in_name("dump.rdb"), (None, "dump.rdb".into()));
        // Not a date: month 13; a longer number.
        assert_eq!(date_in_name("dump-20251324.rdb").0, None);
        assert_eq!(date_in_name("dump-123456789012345678.rdb").0, None);
    }
}
