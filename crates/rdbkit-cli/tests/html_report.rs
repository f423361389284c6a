//! `rdbkit size --html` rendered by a real browser: Debian's headless Chromium, driven over the
//! DevTools protocol by `html_browser.py` (standard-library Python, `--remote-debugging-pipe`,
//! no port). For `testdata/`, one file of every server version in the shared corpus and a file
//! with hostile key names written by a real Redis 7.0, the rendered DOM must show what
//! `rdbkit size --json` / `rdbkit info --json` say: the facts, one treemap rectangle per prefix
//! tiling the treemap, a real mouse click zooming into the depth-2 prefixes
//! (`size --prefix-depth 2`), the breakdowns, the expiry histogram (checked against
//! `size --skip-expired --now T`), the biggest keys; no console error, no request but the page
//! itself, no injected markup. Screenshots are kept under cargo's test temp dir
//! (`target/tmp/html-report/`). Skipped with a message when chromium, python3, the corpus or
//! redis-server are missing; a failure under CI=true.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{run_rdbkit, run_with_timeout, Server, ServerKind, TempDir};
use serde_json::Value;

fn ws() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn skip(what: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but {what}");
    }
    eprintln!("SKIPPED: {what}; with CI=true this is a failure");
}

fn json_of(args: &[&str]) -> Value {
    let out = run_rdbkit(args);
    assert!(
        out.status.success(),
        "rdbkit {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The reference time of the expiry histogram (2026-01-01T00:00:00Z, in ms).
const NOW: i64 = 1_767_225_600_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// A file with hostile key names, expiries in every bucket and a prefix to zoom into,
/// written by a real Redis 7.0 (`SAVE`). None: skipped.
fn hostile_rdb(tmp: &TempDir) -> Option<PathBuf> {
    let bin = ServerKind::Redis70.require()?;
    let dir = tmp.join("redis");
    let server = Server::start(&bin, &dir, &[]);
    let mut c = server.client();
    let mut set = |key: &[u8], val: &[u8], ttl: Option<i64>| {
        let mut a = vec![b"SET".to_vec(), key.to_vec(), val.to_vec()];
        if let Some(t) = ttl {
            a.push(b"PXAT".to_vec());
            a.push(t.to_string().into_bytes());
        }
        c.ok(a);
    };
    let hostile: &[&[u8]] = &[
        b"<script>window.__pwned=1</script>",
        b"<!--<script>:x",
        b"<!--<script>window.__pwned=4//:y",
        b"</script><script>window.__pwned=2</script>:1",
        b"<img src=x onerror=\"window.__pwned=3\">:x",
        b"\"'&amp;\xe2\x80\xa8\xe2\x80\xa9:${x}{{y}}",
        b"ctl:\x00\x01\x1b[31m\x7f",
        b"bad:\xff\xfe\xc3(",
        b"<b>bold</b>:one",
        b"<b>bold</b>:two",
        b"\\x41:\\u0000",
        b"",
    ];
    for (i, k) in hostile.iter().enumerate() {
        set(k, format!("value <i>{i}</i>").as_bytes(), None);
    }
    for i in 0..40 {
        set(format!("app:session:{i}").as_bytes(), b"s", None);
        set(
            format!("app:<script>alert({i})</script>:{i}").as_bytes(),
            &[b'x'; 100],
            None,
        );
        set(format!("app:cart:{i}").as_bytes(), b"c", None);
    }
    let far = far_now();
    for (i, off) in [-HOUR, 30 * 60_000, 5 * HOUR, 3 * DAY, 10 * DAY, 60 * DAY]
        .into_iter()
        .enumerate()
    {
        // the server drops keys whose time has passed: the offsets are from a far future,
        // the page's reference time (--now) for this file
        set(format!("ttl:{i}").as_bytes(), b"v", Some(far + off));
    }
    c.ok(vec![b"SAVE".to_vec()]);
    server.shutdown();
    Some(dir.join("dump.rdb"))
}

/// Far enough ahead of any clock for `hostile_rdb`'s expiries (2100-01-01).
fn far_now() -> i64 {
    4_102_444_800_000
}

/// One page to check: the input and the reference time of its expiry histogram.
struct Case {
    file: PathBuf,
    now: i64,
    page: PathBuf,
    j1: Value,
    j2: Value,
    info: Value,
}

fn prepare(tmp: &TempDir, n: usize, file: &Path, now: i64) -> Case {
    let page = tmp.join(format!("report-{n}.html"));
    let f = file.to_str().unwrap();
    let now_s = now.to_string();
    let j1 = json_of(&[
        "size",
        f,
        "-q",
        "--json",
        "--top",
        "200",
        "--prefix-depth",
        "1",
        "--now",
        &now_s,
        "--html",
        page.to_str().unwrap(),
    ]);
    let j2 = json_of(&[
        "size",
        f,
        "-q",
        "--json",
        "--top",
        "200",
        "--prefix-depth",
        "2",
        "--now",
        &now_s,
    ]);
    let info = json_of(&["info", f, "--json"]);
    Case {
        file: file.to_path_buf(),
        now,
        page,
        j1,
        j2,
        info,
    }
}

/// (keys, memory) of the keys `size --skip-expired --now t` leaves out.
fn dropped(file: &Path, total: &Value, t: i64) -> (u64, u64) {
    let j = json_of(&[
        "size",
        file.to_str().unwrap(),
        "-q",
        "--json",
        "--skip-expired",
        "--now",
        &t.to_string(),
    ]);
    let k = total["keys"].as_u64().unwrap() - j["total"]["keys"].as_u64().unwrap();
    let m = total["memory"].as_u64().unwrap() - j["total"]["memory"].as_u64().unwrap();
    (k, m)
}

/// The expected histogram: bucket label -> (keys, memory), from `size --skip-expired`.
fn expected_ttl(case: &Case) -> BTreeMap<String, (u64, u64)> {
    let total = &case.j1["total"];
    let bounds = [0, HOUR, DAY, 7 * DAY, 30 * DAY];
    let mut cum: Vec<(u64, u64)> = vec![dropped(&case.file, total, case.now)];
    for b in &bounds[1..] {
        cum.push(dropped(&case.file, total, case.now + b - 1));
    }
    // 9999999999999 ms: year 2286, past every expiry in the test files
    cum.push(dropped(&case.file, total, 9_999_999_999_999));
    let labels = ["< 1 h", "1 h – 1 d", "1 d – 7 d", "7 d – 30 d", "≥ 30 d"];
    let mut m = BTreeMap::new();
    let all = (
        total["keys"].as_u64().unwrap(),
        total["memory"].as_u64().unwrap(),
    );
    let last = cum[cum.len() - 1];
    m.insert("no expiry".to_string(), (all.0 - last.0, all.1 - last.1));
    m.insert("expired".to_string(), cum[0]);
    for (i, l) in labels.iter().enumerate() {
        m.insert(
            l.to_string(),
            (cum[i + 1].0 - cum[i].0, cum[i + 1].1 - cum[i].1),
        );
    }
    m
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The treemap's cells as prefix -> memory.
fn cells(view: &Value) -> BTreeMap<String, u64> {
    view["treemap"]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (s(&c["prefix"]), c["memory"].as_u64().unwrap()))
        .collect()
}

fn check_tiling(view: &Value, what: &str) {
    let tm = &view["treemap"];
    // #tm's box has a 1px border
    let (w, h) = (
        tm["w"].as_f64().unwrap() - 2.0,
        tm["h"].as_f64().unwrap() - 2.0,
    );
    let cs = tm["cells"].as_array().unwrap();
    let area: f64 = cs
        .iter()
        .map(|c| c["w"].as_f64().unwrap() * c["h"].as_f64().unwrap())
        .sum();
    assert!(
        (area - w * h).abs() < 0.01 * w * h,
        "{what}: the cells cover {area} of {w}x{h}"
    );
}

/// The page's rows of biggest keys `got` are `want` (size --json's `top` rows): db, type,
/// encoding, memory, bytes, elements, (with `with_file`, the file,) key.
fn check_rows(got: &Value, want: &Value, with_file: bool, what: &str) {
    let got = got.as_array().unwrap();
    let want = want.as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{what}: rows");
    for (g, w) in got.iter().zip(want) {
        let mut expect = vec![
            s(&w["db"]).into(),
            w["type"].clone(),
            w["encoding"].clone(),
            w["memory"].clone(),
            w["bytes"].clone(),
            s(&w["elements"]).into(),
        ];
        if with_file {
            expect.push(w["file"].clone());
        }
        expect.push(w["key"].clone());
        assert_eq!(g, &Value::Array(expect), "{what}");
    }
}

/// chromium and python3, or `None` (skipped with a message; with CI=true a failure).
fn browser() -> Option<(PathBuf, PathBuf)> {
    let Some(chromium) = common::find_tool("chromium") else {
        skip("chromium is not installed (apt-get install chromium; .ci/run installs it)");
        return None;
    };
    let Some(python) = common::find_tool("python3") else {
        skip("python3 is missing");
        return None;
    };
    Some((chromium, python))
}

/// Opens `pages` in headless chromium (`html_browser.py`, its profile in `tmp`), screenshots
/// into `target/tmp/<shots>/`; returns that folder and what the script measured, one object a
/// page.
fn browse(
    (chromium, python): &(PathBuf, PathBuf),
    tmp: &TempDir,
    shots: &str,
    pages: &[&Path],
) -> (PathBuf, Vec<Value>) {
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join(shots);
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let mut cmd = Command::new(python);
    cmd.arg(ws().join("crates/rdbkit-cli/tests/html_browser.py"))
        .arg(chromium)
        .arg(tmp.join("profile"))
        .arg(&shots)
        .args(pages);
    let out = run_with_timeout(&mut cmd, None, Duration::from_secs(600));
    assert!(
        out.status.success(),
        "html_browser.py: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(results.len(), pages.len());
    (shots, results)
}

fn check_group(got: &Value, want: &Value, name: impl Fn(&str) -> String, what: &str) {
    let got = got.as_object().unwrap();
    let want = want.as_object().unwrap();
    assert_eq!(got.len(), want.len(), "{what}: {got:?}");
    for (k, v) in want {
        let n = name(k);
        let expect = serde_json::json!([
            n,
            s(&v["keys"]),
            v["memory"],
            v["bytes"],
            s(&v["elements"]),
            ""
        ]);
        assert_eq!(got.get(&n), Some(&expect), "{what}: {n}");
    }
}

fn check_page(case: &Case, r: &Value) {
    let what = case.file.display().to_string();
    let (j1, j2, info) = (&case.j1, &case.j2, &case.info);
    assert_eq!(r["errors"], serde_json::json!([]), "{what}: console errors");
    assert_eq!(
        r["requests"],
        serde_json::json!([r["url"]]),
        "{what}: the page fetched something"
    );
    let b = &r["before"];
    assert_eq!(b["title"], "rdbkit memory report");
    assert_eq!(b["images"], 0, "{what}: markup was injected");
    assert_eq!(b["scripts"], 2, "{what}: markup was injected");
    assert_eq!(b["pwned"], Value::Null, "{what}: a key name ran as script");

    // the facts
    let f = &b["facts"];
    assert!(s(&f["file"]).ends_with(case.file.file_name().unwrap().to_str().unwrap()));
    assert_eq!(s(&f["keys"]), s(&j1["total"]["keys"]), "{what}");
    assert_eq!(
        s(&f["rdb_version"]),
        format!("{} ({})", info["rdb_version"], s(&info["magic"])),
        "{what}"
    );
    match info["writer"].as_str() {
        Some(w) => assert_eq!(s(&f["writer"]), w, "{what}"),
        None => assert!(s(&f["writer"]).starts_with("unknown"), "{what}"),
    }
    match info["ctime_utc"].as_str() {
        Some(c) => assert_eq!(s(&f["ctime"]), c, "{what}"),
        None => assert_eq!(f["ctime"], Value::Null, "{what}"),
    }
    let verdict = s(&f["checksum"]);
    let want = match info["checksum"]["status"].as_str().unwrap() {
        "ok" => "verified",
        "absent" => "none",
        "disabled" => "disabled",
        other => panic!("{what}: checksum {other}"),
    };
    assert!(verdict.starts_with(want), "{what}: {verdict}");
    if let Some(crc) = info["checksum"]["crc64"].as_str() {
        assert!(verdict.contains(crc), "{what}: {verdict}");
    }

    // the treemap: one rectangle per depth-1 prefix, with its memory, tiling the box
    let prefixes = j1["prefixes"].as_array().unwrap();
    assert!(
        prefixes.len() < 300,
        "{what}: the test expects every prefix drawn"
    );
    let want: BTreeMap<String, u64> = prefixes
        .iter()
        .filter(|p| p["memory"].as_u64().unwrap() > 0)
        .map(|p| (s(&p["prefix"]), p["memory"].as_u64().unwrap()))
        .collect();
    assert_eq!(cells(b), want, "{what}: top-level treemap");
    assert_eq!(b["crumbs"], serde_json::json!(["all keys"]));
    if !want.is_empty() {
        check_tiling(b, &what);
    }

    // a click zooms into the depth-2 prefixes under the cell
    if let Some(c) = r.get("clicked") {
        let p = s(&c["prefix"]);
        let a = &r["after"];
        assert_eq!(a["crumbs"], serde_json::json!(["all keys", p]), "{what}");
        let want2: BTreeMap<String, u64> = j2["prefixes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|q| s(&q["prefix"]).starts_with(&p) && q["memory"].as_u64().unwrap() > 0)
            .map(|q| (s(&q["prefix"]), q["memory"].as_u64().unwrap()))
            .collect();
        assert!(
            j2["prefixes"].as_array().unwrap().len() < 1000,
            "{what}: the test expects every depth-2 prefix listed"
        );
        assert_eq!(cells(a), want2, "{what}: zoomed into {p}");
        assert_eq!(
            want2.values().sum::<u64>(),
            c["memory"].as_u64().unwrap(),
            "{what}"
        );
        check_tiling(a, &what);
        let back = &r["back"];
        assert_eq!(back["crumbs"], serde_json::json!(["all keys"]));
        assert_eq!(cells(back), want, "{what}: back at the top");
    }
    if r.get("leaf_tip").is_some() {
        assert!(
            s(&r["leaf_tip"]).contains("biggest keys"),
            "{what}: {}",
            r["leaf_tip"]
        );
    }

    // breakdowns, expiry histogram, biggest keys
    check_group(&b["dbs"], &j1["dbs"], |k| format!("db {k}"), &what);
    check_group(&b["types"], &j1["types"], str::to_string, &what);
    check_group(&b["encodings"], &j1["encodings"], str::to_string, &what);
    let ttl = expected_ttl(case);
    let got = b["ttl"].as_object().unwrap();
    assert_eq!(got.len(), ttl.len(), "{what}: {got:?}");
    for (label, (k, m)) in &ttl {
        let row = &got[label];
        assert_eq!(s(&row[1]), k.to_string(), "{what}: keys expiring {label}");
        assert_eq!(
            row[2].as_u64().unwrap(),
            *m,
            "{what}: memory expiring {label}"
        );
    }
    check_rows(&b["top"], &j1["top"], false, &what);
    check_rows(&b["top_by_elements"], &j1["top_by_elements"], false, &what);
}

/// Corpus files to render: `base.rdb` of every server version (and Valkey), else nothing.
fn corpus_files() -> Vec<PathBuf> {
    let Some(c) = common::corpus_dir() else {
        skip("the shared corpus (../shared/corpus) is missing");
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = std::fs::read_dir(c.join("rdb"))
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path().join("base.rdb");
            p.is_file().then_some(p)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn size_html_renders_in_headless_chromium() {
    let Some(tools) = browser() else { return };
    let tmp = TempDir::new("html-report");
    let mut cases = vec![prepare(&tmp, 0, &ws().join("testdata/rdb/sample.rdb"), NOW)];
    for f in corpus_files() {
        let n = cases.len();
        cases.push(prepare(&tmp, n, &f, NOW));
    }
    if let Some(h) = hostile_rdb(&tmp) {
        let n = cases.len();
        cases.push(prepare(&tmp, n, &h, far_now()));
    }
    let pages: Vec<&Path> = cases.iter().map(|c| c.page.as_path()).collect();
    let (shots, results) = browse(&tools, &tmp, "html-report", &pages);
    let mut zoomed = 0;
    for (i, (case, r)) in cases.iter().zip(&results).enumerate() {
        check_page(case, r);
        zoomed += r.get("clicked").is_some() as usize;
        let png = std::fs::read(shots.join(format!("{i}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000);
        eprintln!(
            "{}: {} cells, screenshot {}",
            case.file.display(),
            r["before"]["treemap"]["cells"].as_array().unwrap().len(),
            shots.join(format!("{i}.png")).display()
        );
    }
    assert!(
        zoomed >= cases.len() / 2,
        "too few pages had a prefix to zoom into"
    );
    // the hostile file: every key name shown as text, byte for byte as `size --json` escapes it
    if cases.len() > 1 && cases.last().unwrap().now == far_now() {
        let r = &results[cases.len() - 1];
        let shown: Vec<String> = r["before"]["top"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| s(&row[6]))
            .collect();
        assert!(shown
            .iter()
            .any(|k| k.contains("<script>window.__pwned=1</script>")));
        assert!(
            shown.iter().any(|k| k.starts_with("bad:\\xff")),
            "{shown:?}"
        );
        let ttl = &r["before"]["ttl"];
        for label in [
            "expired",
            "< 1 h",
            "1 h – 1 d",
            "1 d – 7 d",
            "7 d – 30 d",
            "≥ 30 d",
        ] {
            assert_eq!(s(&ttl[label][1]), "1", "{label}: {ttl}");
        }
        assert!(
            s(&r["clicked"]["prefix"]).starts_with("app:"),
            "{}",
            r["clicked"]
        );
    }
}

/// `size --json` of one file (top 200, depth `depth`, reference time NOW).
fn size_json<P: AsRef<Path>>(files: &[P], depth: usize, extra: &[&str]) -> Value {
    let mut a: Vec<String> = vec!["size".into()];
    a.extend(
        files
            .iter()
            .map(|f| f.as_ref().to_str().unwrap().to_string()),
    );
    let d = depth.to_string();
    let now = NOW.to_string();
    a.extend(
        [
            "-q",
            "--json",
            "--top",
            "200",
            "--prefix-depth",
            d.as_str(),
            "--now",
            now.as_str(),
        ]
        .iter()
        .map(|x| x.to_string()),
    );
    a.extend(extra.iter().map(|x| x.to_string()));
    let args: Vec<&str> = a.iter().map(String::as_str).collect();
    json_of(&args)
}

/// prefix -> (keys, memory, bytes, elements) of a `size --json` report.
fn prefix_map(j: &Value) -> BTreeMap<String, [u64; 4]> {
    j["prefixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let n = |f: &str| p[f].as_u64().unwrap();
            (
                s(&p["prefix"]),
                [n("keys"), n("memory"), n("bytes"), n("elements")],
            )
        })
        .collect()
}

const SUMS: [&str; 4] = ["keys", "memory", "bytes", "elements"];

/// The JSON-level checks of a report over `parts`: its totals are the sums of each part's
/// `size --json`, `files` is each part's report, every biggest key is labelled with the part
/// that holds it (with that part's figures), the prefixes are the sums of the parts'.
fn check_multi_json(multi: &Value, parts: &[PathBuf], singles: &[Value]) {
    for f in SUMS.iter().chain(&["dataset"]) {
        let sum: u64 = singles
            .iter()
            .map(|j| j["total"][f].as_u64().unwrap())
            .sum();
        assert_eq!(multi["total"][f].as_u64().unwrap(), sum, "total {f}");
    }
    let files = multi["files"].as_array().unwrap();
    assert_eq!(files.len(), parts.len());
    for ((f, p), j) in files.iter().zip(parts).zip(singles) {
        assert_eq!(s(&f["file"]), p.to_str().unwrap());
        for k in SUMS.iter().chain(&["dataset"]) {
            assert_eq!(f[k], j["total"][k], "{}: {k}", p.display());
        }
        assert_eq!(f["model"], j["model"], "{}", p.display());
    }
    // prefixes: the sums of the parts' (every prefix listed: fewer than --top 200 * 5)
    let mut want: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    for j in singles {
        assert!(j["prefixes"].as_array().unwrap().len() < 1000);
        for (p, v) in prefix_map(j) {
            let e = want.entry(p).or_default();
            for (a, b) in e.iter_mut().zip(v) {
                *a += b;
            }
        }
    }
    assert_eq!(prefix_map(multi), want, "prefixes summed over the files");
    // the biggest keys: labelled with their file, as that file's report lists them
    for list in ["top", "top_by_elements"] {
        let rows = multi[list].as_array().unwrap();
        assert!(!rows.is_empty());
        for r in rows {
            let i = parts
                .iter()
                .position(|p| p.to_str().unwrap() == s(&r["file"]))
                .unwrap_or_else(|| panic!("{list}: {r} names no input file"));
            let mut bare = r.clone();
            bare.as_object_mut().unwrap().remove("file");
            assert!(
                singles[i][list].as_array().unwrap().contains(&bare),
                "{list}: {r} is not in {}'s report",
                parts[i].display()
            );
        }
        // ranked over all files: none of a file's keys beats the last one listed
        let last = rows.last().unwrap();
        let by = if list == "top" { "memory" } else { "elements" };
        let floor = last[by].as_u64().unwrap();
        if rows.len() == 200 {
            for j in singles {
                for r in j[list].as_array().unwrap() {
                    assert!(
                        r[by].as_u64().unwrap() <= floor
                            || rows
                                .iter()
                                .any(|m| { m["key"] == r["key"] && m["db"] == r["db"] })
                    );
                }
            }
        } else {
            let n: usize = singles
                .iter()
                .map(|j| j[list].as_array().unwrap().len())
                .sum();
            assert_eq!(rows.len(), n, "{list}: every key of every file");
        }
    }
}

/// A part of a split backup whose keys, types and memory are those of `merged`'s report
/// (same writer, same model).
fn check_against_merged(multi: &Value, merged: &Value) {
    assert_eq!(multi["total"], merged["total"], "totals vs the merged file");
    assert_eq!(
        prefix_map(multi),
        prefix_map(merged),
        "prefixes vs the merged file"
    );
    for g in ["dbs", "types", "encodings"] {
        assert_eq!(multi[g], merged[g], "{g} vs the merged file");
    }
}

#[test]
fn size_html_over_several_files() {
    let Some(corpus) = common::corpus_dir() else {
        skip("the shared corpus (../shared/corpus) is missing");
        return;
    };
    let tmp = TempDir::new("html-multi");
    // the three slot-range parts of one backup, and the file they merge back into
    let base = corpus.join("rdb/7.0.15/base.rdb");
    let parts_dir = tmp.join("parts");
    let out = run_rdbkit([
        "split".as_ref(),
        base.as_os_str(),
        parts_dir.as_os_str(),
        "--slots".as_ref(),
        "0-5460,5461-10922,10923-16383".as_ref(),
    ]);
    assert!(
        out.status.success(),
        "split: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut parts: Vec<PathBuf> = std::fs::read_dir(&parts_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    parts.sort();
    assert_eq!(parts.len(), 3, "{parts:?}");
    let merged = tmp.join("merged.rdb");
    let mut margs = vec!["merge".as_ref(), "-o".as_ref(), merged.as_os_str()];
    margs.extend(parts.iter().map(|p| p.as_os_str()));
    let out = run_rdbkit(margs);
    assert!(
        out.status.success(),
        "merge: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let page = tmp.join("cluster.html");
    let prefs: Vec<&Path> = parts.iter().map(PathBuf::as_path).collect();
    let multi = size_json(&prefs, 1, &["--html", page.to_str().unwrap()]);
    let singles: Vec<Value> = parts.iter().map(|p| size_json(&[p], 1, &[])).collect();
    check_multi_json(&multi, &parts, &singles);
    let merged1 = size_json(&[&merged], 1, &[]);
    check_against_merged(&multi, &merged1);
    let merged2 = size_json(&[&merged], 2, &[]);
    check_against_merged(&size_json(&prefs, 2, &[]), &merged2);
    assert!(page.is_file());

    // two server versions' backups in one report: each file estimated with its own model
    let versions = [
        corpus.join("rdb/6.2.14/base.rdb"),
        corpus.join("rdb/valkey-8.1.8/base.rdb"),
    ];
    let page2 = tmp.join("versions.html");
    let vref: Vec<&Path> = versions.iter().map(PathBuf::as_path).collect();
    let multi2 = size_json(&vref, 1, &["--html", page2.to_str().unwrap()]);
    let singles2: Vec<Value> = versions.iter().map(|p| size_json(&[p], 1, &[])).collect();
    check_multi_json(&multi2, &versions, &singles2);
    assert_ne!(singles2[0]["model"], singles2[1]["model"]);
    assert_eq!(
        s(&multi2["model"]),
        format!("{}, {}", s(&singles2[0]["model"]), s(&singles2[1]["model"]))
    );

    // the table: the same aggregate, a row per file
    let out = run_rdbkit([
        "size".as_ref(),
        parts[0].as_os_str(),
        parts[1].as_os_str(),
        "-q".as_ref(),
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let keys = singles[0]["total"]["keys"].as_u64().unwrap()
        + singles[1]["total"]["keys"].as_u64().unwrap();
    assert!(text.starts_with(&format!("total: {keys} keys")), "{text}");
    assert!(text.contains("\nper file\n"), "{text}");
    // --csv has no file column: refused with several files
    let out = run_rdbkit([
        "size".as_ref(),
        parts[0].as_os_str(),
        parts[1].as_os_str(),
        "--csv".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());

    // a damaged file among them: exit 2 naming it, nothing printed, the page left as it was
    let bytes = std::fs::read(&parts[1]).unwrap();
    let bad = tmp.join("damaged.rdb");
    std::fs::write(&bad, &bytes[..bytes.len() * 2 / 3]).unwrap();
    std::fs::write(&page, b"the previous report").unwrap();
    let out = run_rdbkit([
        "size".as_ref(),
        parts[0].as_os_str(),
        bad.as_os_str(),
        parts[2].as_os_str(),
        "-q".as_ref(),
        "--html".as_ref(),
        page.as_os_str(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(bad.to_str().unwrap()), "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read(&page).unwrap(), b"the previous report");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".rdbkit-report-")
        })
        .collect();
    assert!(leftovers.is_empty());
    // the page again, for the browser
    let again = size_json(&prefs, 1, &["--html", page.to_str().unwrap()]);
    assert_eq!(again["total"], multi["total"]);

    // the pages in a real browser
    let Some(tools) = browser() else { return };
    let (_, results) = browse(&tools, &tmp, "html-report-multi", &[&page, &page2]);
    for (r, (files, singles, merged)) in results.iter().zip([
        (&parts[..], &singles, Some(&merged)),
        (&versions[..], &singles2, None),
    ]) {
        let what = format!("{files:?}");
        assert_eq!(r["errors"], serde_json::json!([]), "{what}: console errors");
        assert_eq!(r["requests"], serde_json::json!([r["url"]]), "{what}");
        let b = &r["before"];
        // one row of facts per file, as `info --json` and `size --json` of that file say
        let rows = b["files"].as_array().unwrap();
        assert_eq!(rows.len(), files.len() + 1, "{what}: {rows:?}");
        for ((row, f), j) in rows.iter().zip(files).zip(singles.iter()) {
            let info = json_of(&["info", f.to_str().unwrap(), "--json"]);
            assert_eq!(s(&row[0]), f.to_str().unwrap());
            assert_eq!(
                s(&row[1]),
                format!("{} ({})", info["rdb_version"], s(&info["magic"]))
            );
            assert_eq!(s(&row[2]), s(&info["writer"]), "{what}");
            match info["ctime_utc"].as_str() {
                Some(c) => assert_eq!(s(&row[3]), c, "{what}"),
                None => assert_eq!(s(&row[3]), "", "{what}"),
            }
            assert_eq!(info["checksum"]["status"], "ok");
            assert!(
                s(&row[4]).starts_with("verified")
                    && s(&row[4]).contains(info["checksum"]["crc64"].as_str().unwrap()),
                "{what}: {}",
                row[4]
            );
            let t = &j["total"];
            assert_eq!(s(&row[5]), s(&t["keys"]));
            assert_eq!(row[6], t["memory"]);
            assert_eq!(row[7], t["bytes"]);
            assert_eq!(s(&row[8]), s(&t["elements"]));
        }
        let total = rows.last().unwrap();
        let sum = |f: &str| -> u64 {
            singles
                .iter()
                .map(|j| j["total"][f].as_u64().unwrap())
                .sum()
        };
        assert_eq!(s(&total[5]), sum("keys").to_string());
        assert_eq!(total[6].as_u64().unwrap(), sum("memory"));
        assert_eq!(total[7].as_u64().unwrap(), sum("bytes"));
        assert_eq!(s(&total[8]), sum("elements").to_string());
        assert_eq!(s(&b["facts"]["keys"]), sum("keys").to_string());
        // the biggest keys, each with its file
        let want_top = if merged.is_some() { &multi } else { &multi2 };
        for (got, list) in [
            (&b["top"], "top"),
            (&b["top_by_elements"], "top_by_elements"),
        ] {
            check_rows(got, &want_top[list], true, &format!("{what}: {list}"));
        }
        if let Some(m) = merged {
            // the treemap, breakdowns, histogram and zoom are the merged file's
            let case = Case {
                file: m.to_path_buf(),
                now: NOW,
                page: page.clone(),
                j1: merged1.clone(),
                j2: merged2.clone(),
                info: Value::Null,
            };
            let want: BTreeMap<String, u64> = merged1["prefixes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["memory"].as_u64().unwrap() > 0)
                .map(|p| (s(&p["prefix"]), p["memory"].as_u64().unwrap()))
                .collect();
            assert_eq!(cells(b), want, "top-level treemap vs the merged file");
            check_tiling(b, &what);
            let c = &r["clicked"];
            let p = s(&c["prefix"]);
            let want2: BTreeMap<String, u64> = merged2["prefixes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|q| s(&q["prefix"]).starts_with(&p) && q["memory"].as_u64().unwrap() > 0)
                .map(|q| (s(&q["prefix"]), q["memory"].as_u64().unwrap()))
                .collect();
            assert_eq!(cells(&r["after"]), want2, "zoomed into {p}");
            check_group(&b["dbs"], &merged1["dbs"], |k| format!("db {k}"), &what);
            check_group(&b["types"], &merged1["types"], str::to_string, &what);
            check_group(
                &b["encodings"],
                &merged1["encodings"],
                str::to_string,
                &what,
            );
            let ttl = expected_ttl(&case);
            let got = b["ttl"].as_object().unwrap();
            assert_eq!(got.len(), ttl.len());
            for (label, (k, m)) in &ttl {
                assert_eq!(s(&got[label][1]), k.to_string(), "keys expiring {label}");
                assert_eq!(
                    got[label][2].as_u64().unwrap(),
                    *m,
                    "memory expiring {label}"
                );
            }
        }
    }
}
