//! Dates and clocks, in one place: the current time, `--now` parsing, and Unix times printed
//! as UTC dates (proleptic Gregorian, Howard Hinnant's public-domain civil-date formulas). The
//! `redis-check-aof` drop-in in rdbkit-aof keeps its own `civil_from_days`: a library does not
//! import the command line, and a date helper is not part of its public API.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time in Unix seconds, with fractions.
pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The current time in Unix ms.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Parses `--now`: Unix seconds, Unix ms (13+ digits), or a UTC date `YYYY-MM-DD` /
/// `YYYY-MM-DDTHH:MM:SS[Z]`.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i64>() {
        return Ok(if n.unsigned_abs() >= 100_000_000_000 {
            n
        } else {
            n * 1000
        });
    }
    let t = t.trim_end_matches('Z');
    let (date, time) = t.split_once(['T', ' ']).unwrap_or((t, "00:00:00"));
    let d: Vec<&str> = date.split('-').collect();
    let tm: Vec<&str> = time.split(':').collect();
    let bad = || format!("bad time {s:?}: use Unix seconds, Unix ms or YYYY-MM-DD[THH:MM:SS]");
    let num = |x: Option<&&str>| x.and_then(|v| v.parse::<i64>().ok()).ok_or_else(bad);
    if d.len() != 3 || tm.is_empty() || tm.len() > 3 {
        return Err(bad());
    }
    let (y, m, day) = (num(d.first())?, num(d.get(1))?, num(d.get(2))?);
    let (hh, mm) = (num(tm.first())?, num(tm.get(1)).unwrap_or(0));
    let ss = tm.get(2).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 {
        return Err(bad());
    }
    let days = days_from_civil(y, m, day);
    Ok(((days * 86400 + hh * 3600 + mm * 60) as f64 * 1000.0 + ss * 1000.0) as i64)
}

// Howard Hinnant's civil-date algorithms (public domain formulas).
/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The proleptic Gregorian date (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Unix ms as `YYYY-MM-DDTHH:MM:SS.mmmZ` (`...:SSZ` when `ms` is a whole second).
pub fn format_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86400));
    let sod = secs.rem_euclid(86400);
    let base = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if frac == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{frac:03}Z")
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` for a Unix time in seconds.
pub fn utc(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86400));
    let rem = secs.rem_euclid(86400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_795_637_362), "2026-11-25 20:09:22 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59:59 UTC");
        assert_eq!(format_utc(1_795_637_362_005), "2026-11-25T20:09:22.005Z");
    }

    #[test]
    fn days_round_trip() {
        for z in [-800_000i64, -1, 0, 1, 59, 60, 365, 11_016, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(parse_time("2026-11-25T20:09:22Z"), Ok(1_795_637_362_000));
        assert_eq!(parse_time("1795637362"), Ok(1_795_637_362_000));
        assert!(parse_time("2026-13-01").is_err());
    }
}
