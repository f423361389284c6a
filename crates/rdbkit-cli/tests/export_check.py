"""Reads an `rdbkit export` back with real engines (DuckDB for the keys table, pyarrow for the
value tables) and compares it with `rdbkit dump --format jsonl`, the corpus ground truth
(optional), `rdbkit size --csv` and a CSV export of the same file. Exit 0 when everything
matches; otherwise prints what differs (first few) and exits 1. Run by tests/export.rs.

usage: export_check.py PARQUET_DIR CSV_DIR BACKUP DUMP_JSONL SIZE_CSV [EXPECTED_JSONL]
"""
import base64
import csv
import glob
import json
import math
import os
import sys

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq

pq_dir, csv_dir, backup, dump_path, size_path = sys.argv[1:6]
expected_path = sys.argv[6] if len(sys.argv) > 6 else None
errors = []


def fail(msg):
    errors.append(msg)


def b(v):
    """A byte string of the dump format as bytes."""
    if isinstance(v, dict):
        return base64.b64decode(v["base64"])
    return v.encode("utf-8", "surrogatepass")


def score(v):
    if isinstance(v, str):
        return {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}[v]
    return float(v)


def same_score(a, c):
    return (math.isnan(a) and math.isnan(c)) or a == c


def norm_value(ty, v):
    """A dump/ground-truth value in a form the tables can be compared with."""
    if ty == "string":
        return b(v)
    if ty == "list":
        return [b(x) for x in v]
    if ty == "set":
        return sorted(b(x) for x in v)
    if ty == "zset":
        return sorted((b(m), score(s)) for m, s in v)
    if ty == "hash":
        return sorted((b(x[0]), b(x[1]), x[2] if len(x) > 2 else None) for x in v)
    if ty == "stream":
        return [(i, [(b(f), b(x)) for f, x in fv]) for i, fv in v["entries"]]
    return None


def load_jsonl(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            o = json.loads(line)
            out[(o["db"], b(o["key"]))] = o
    return out


dump = load_jsonl(dump_path)
expected = load_jsonl(expected_path) if expected_path else None

# ---- keys table, through DuckDB's Hive-partitioned reader ----
con = duckdb.connect()
glob_pat = os.path.join(pq_dir, "keys", "**", "*.parquet")
rows = con.execute(
    "SELECT backup, db, key, type, encoding, epoch_ms(expire_ms), lfu_freq, lru_idle, bytes, "
    "elements, largest_element, memory FROM read_parquet(?, hive_partitioning=true) "
    "WHERE backup = ?",
    [glob_pat, backup],
).fetchall()
schema = {
    r[0]: r[1]
    for r in con.execute(
        "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning=true))",
        [glob_pat],
    ).fetchall()
}
want_schema = {
    "source": "VARCHAR", "db": "BIGINT", "key": "BLOB", "type": "VARCHAR", "encoding": "VARCHAR",
    "expire_ms": "TIMESTAMP WITH TIME ZONE", "lfu_freq": "BIGINT", "lru_idle": "BIGINT",
    "bytes": "BIGINT", "elements": "BIGINT", "largest_element": "BIGINT", "memory": "BIGINT",
    "prefix_1": "VARCHAR", "prefix_2": "VARCHAR", "backup": "VARCHAR",
}
if schema != want_schema:
    fail(f"keys schema {schema} != {want_schema}")
if len(rows) != len(dump):
    fail(f"keys: {len(rows)} rows, dump has {len(dump)} keys")
seen = set()
for (_, db, key, ty, enc, exp, lfu, lru, nbytes, elements, largest, memory) in rows:
    k = (db, bytes(key))
    seen.add(k)
    d = dump.get(k)
    if d is None:
        fail(f"keys: {k} not in dump")
        continue
    if (ty, enc, exp) != (d["type"], d["encoding"], d["expire_ms"]):
        fail(f"keys: {k}: {(ty, enc, exp)} != dump {(d['type'], d['encoding'], d['expire_ms'])}")
    if lfu != d.get("lfu_freq") or lru != d.get("lru_idle"):
        fail(f"keys: {k}: lfu/lru {(lfu, lru)} != dump {(d.get('lfu_freq'), d.get('lru_idle'))}")
    if expected is not None:
        e = expected.get(k)
        if e is None or (e["type"], e["expire_ms"]) != (ty, exp):
            fail(f"keys: {k}: type/expiry differ from ground truth {e and (e['type'], e['expire_ms'])}")
if expected is not None and set(expected) != seen:
    fail(f"keys: key set differs from ground truth: {sorted(set(expected) ^ seen)[:5]}")

# ---- the CSV export: same rows in the same order; memory/bytes as `rdbkit size --csv` ----
with open(glob.glob(os.path.join(csv_dir, "keys", f"backup={backup}", "*.csv"))[0], newline="") as f:
    crows = list(csv.DictReader(f))
with open(size_path, newline="") as f:
    srows = list(csv.DictReader(f))
if len(crows) != len(rows) or len(srows) != len(rows):
    fail(f"csv export {len(crows)} rows, size --csv {len(srows)}, parquet {len(rows)}")
for r, c, s in zip(rows, crows, srows):
    num = (r[8], r[9], r[10], r[11])
    if num != (int(c["bytes"]), int(c["elements"]), int(c["largest_element"]), int(c["memory"])):
        fail(f"csv row {c['key']}: {num} != csv {c}")
    if (c["db"], c["key"], c["memory"], c["bytes"], c["elements"], c["largest_element"]) != (
        s["database"], s["key"], s["size_in_bytes"], s["file_bytes"], s["num_elements"],
        s["len_largest_element"]):
        fail(f"csv row {c['key']} != size --csv {s}")

# ---- value tables, through pyarrow ----
def table(name):
    files = glob.glob(os.path.join(pq_dir, name, f"backup={backup}", "*.parquet"))
    if len(files) != 1:
        fail(f"{name}: {len(files)} files")
        return []
    t = pq.read_table(files[0])
    cols = {}
    for n in t.column_names:
        col = t.column(n)
        if str(col.type).startswith("timestamp"):
            col = pc.cast(col, "int64")
        cols[n] = col.to_pylist()
    return [dict(zip(cols, vals)) for vals in zip(*cols.values())]


got = {}
for r in table("strings"):
    got[(r["db"], r["key"])] = r["value"]
for r in table("list_items"):
    got.setdefault((r["db"], r["key"]), []).append((r["index"], r["value"]))
for k, v in list(got.items()):
    if isinstance(v, list):
        v.sort()
        if [i for i, _ in v] != list(range(len(v))):
            fail(f"list_items {k}: indexes not 0..n-1")
        got[k] = [x for _, x in v]
for r in table("set_members"):
    got.setdefault((r["db"], r["key"]), []).append(r["member"])
for r in table("zset_members"):
    got.setdefault((r["db"], r["key"]), []).append((r["member"], r["score"]))
for r in table("hash_fields"):
    got.setdefault((r["db"], r["key"]), []).append((r["field"], r["value"], r["expire_ms"]))
streams = {}
for r in table("stream_entries"):
    if r["id"] != f"{r['id_ms']}-{r['id_seq']}":
        fail(f"stream_entries id {r['id']} != id_ms-id_seq")
    es = streams.setdefault((r["db"], r["key"]), [])
    if not es or es[-1][0] != r["id"]:
        es.append((r["id"], []))
    es[-1][1].append((r["field"], r["value"]))
got.update(streams)

for k, d in dump.items():
    ty = d["type"]
    if ty not in ("string", "list", "set", "zset", "hash", "stream"):
        continue
    sources = [("dump", d)] + ([("ground truth", expected[k])] if expected and k in expected else [])
    for label, src in sources:
        want = norm_value(ty, src["value"])
        have = got.get(k, [] if ty != "string" else None)
        if ty in ("set", "zset", "hash"):
            have = sorted(have, key=lambda x: x[0] if ty == "zset" else x)
        if ty == "zset":
            ok = len(want) == len(have) and all(
                wm == hm and same_score(ws, hs) for (wm, ws), (hm, hs) in zip(want, have))
        else:
            ok = want == have
        if not ok:
            fail(f"{ty} {k}: values differ from {label}: {str(have)[:200]} vs {str(want)[:200]}")

if errors:
    print(f"{len(errors)} mismatches", file=sys.stderr)
    for e in errors[:10]:
        print(e, file=sys.stderr)
    sys.exit(1)
print(f"ok: {len(rows)} keys")
