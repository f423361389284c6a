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

fn check_rows(got: &Value, want: &Value, what: &str) {
    let got = got.as_array().unwrap();
    let want = want.as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{what}: rows");
    for (g, w) in got.iter().zip(want) {
        let expect = serde_json::json!([
            s(&w["db"]),
            w["type"],
            w["encoding"],
            w["memory"],
            w["bytes"],
            s(&w["elements"]),
            w["key"]
        ]);
        assert_eq!(g, &expect, "{what}");
    }
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
    check_rows(&b["top"], &j1["top"], &what);
    check_rows(&b["top_by_elements"], &j1["top_by_elements"], &what);
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
    let Some(chromium) = common::find_tool("chromium") else {
        skip("chromium is not installed (apt-get install chromium; .ci/run installs it)");
        return;
    };
    let Some(python) = common::find_tool("python3") else {
        skip("python3 is missing");
        return;
    };
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
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("html-report");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let mut cmd = Command::new(python);
    cmd.arg(ws().join("crates/rdbkit-cli/tests/html_browser.py"))
        .arg(&chromium)
        .arg(tmp.join("profile"))
        .arg(&shots)
        .args(cases.iter().map(|c| &c.page));
    let out = run_with_timeout(&mut cmd, None, Duration::from_secs(600));
    assert!(
        out.status.success(),
        "html_browser.py: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(results.len(), cases.len());
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
