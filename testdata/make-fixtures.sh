#!/usr/bin/env bash
# Regenerates the fixtures under testdata/ with a real redis-server (Debian 12's 7.0.x):
#
#   testdata/rdb/sample.rdb              SAVE of a small dataset covering every 7.0 type and encoding
#   testdata/rdb/sample.expected.jsonl   that dataset read back from the server, in the corpus format
#                                        (../shared/corpus/rdb/README.md), sorted by (db, key bytes)
#   testdata/aof/appendonlydir/          7.0 multi-part AOF: base .rdb + 2 incr files
#   testdata/aof/appendonlydir.expected.jsonl   the data set the AOF holds (corpus AOF format)
#   testdata/aof/ts/appendonlydir/       the same workload with aof-timestamp-enabled yes and
#                                        aof-use-rdb-preamble no (RESP base with #TS lines)
#   testdata/aof/torn/appendonlydir/     a copy of appendonlydir/ whose last incr file is cut
#                                        in the middle of its last command
#   testdata/aof/torn.redis-check-aof.txt   what the real redis-check-aof says about it, and
#                                        the size its --fix leaves
#   testdata/aof/torn.fixed.expected.jsonl  the data set a server loads after that --fix
#
# Deterministic: the dataset has no randomness (fixed seeds, fixed stream IDs, fixed absolute
# expiry times). File bytes still differ between runs in the RDB aux fields ctime/used-mem, in
# #TS values, and in the AOF workload's one relative EXPIRE (logged as an absolute PEXPIREAT,
# so its time also shows in appendonlydir.expected.jsonl). Idempotent: the outputs are replaced. Servers listen on 127.0.0.1 only, on a
# free port, in a temp dir, and are stopped on exit.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
server="${REDIS_SERVER:-$(command -v redis-server || echo /usr/bin/redis-server)}"
checkaof="${REDIS_CHECK_AOF:-$(command -v redis-check-aof || echo /usr/bin/redis-check-aof)}"
[ -x "$server" ] || { echo "redis-server not found (apt-get install redis-server)" >&2; exit 1; }
[ -x "$checkaof" ] || { echo "redis-check-aof not found (apt-get install redis-tools)" >&2; exit 1; }
case "$("$server" --version)" in
  *"v=7.0."*) ;;
  *) echo "warning: expected redis 7.0.x, got: $("$server" --version)" >&2 ;;
esac

tmp="$(mktemp -d "${TMPDIR:-/tmp}/rdbkit-fixtures.XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

py="$tmp/fx.py"
cat >"$py" <<'PY'
"""Helper for make-fixtures.sh: a raw RESP2 client (stdlib only), the datasets, the read-back."""
import base64, json, os, random, socket, sys, time


class Redis:
    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.sock.makefile("rb")

    @staticmethod
    def enc(a):
        if isinstance(a, bytes):
            return a
        if isinstance(a, str):
            return a.encode()
        if isinstance(a, float):
            return repr(a).encode()  # shortest round-trip form, 'inf', '-inf', '-0.0'
        return str(a).encode()

    def send(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            a = self.enc(a)
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(parts))

    def read(self):
        line = self.f.readline()
        if not line:
            raise EOFError("connection closed")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            return self.f.read(n + 2)[:-2]
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.read() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)

    def __call__(self, *args):
        self.send(*args)
        return self.read()


def wait_ready(port):
    deadline = time.time() + 20
    while True:
        try:
            r = Redis(port, timeout=2)
            if r("PING") == "PONG":
                return
        except (OSError, EOFError, RuntimeError):
            pass
        if time.time() > deadline:
            sys.exit("server on port %d did not answer PING" % port)
        time.sleep(0.05)


# ---- the RDB dataset -----------------------------------------------------------------------

EXP = 4102444800000  # 2100-01-01T00:00:00Z in ms: far in the future, never expires


def load_rdb_dataset(r):
    rng = random.Random(1)
    r("FLUSHALL")
    r("SELECT", 0)
    # strings: int-encodable (every width), non-canonical numbers, empty, short, raw, LZF, binary
    for v in [0, 1, -1, 127, -128, 255, 32767, -32768, 65535, 2147483647, -2147483648,
              2147483648, 9223372036854775807, -9223372036854775808, 12345]:
        r("SET", "str:int:%d" % v, v)
    for i, v in enumerate(["007", "1.0", "-0", "+1", " 1", "9223372036854775808", "0x10"]):
        r("SET", "str:notint:%d" % i, v)
    r("SET", "str:empty", "")
    r("SET", "str:short", "hello world")
    r("SET", "str:utf8", "héllo wörld ✓ 键 😀")
    r("SET", "str:bin", b"\x00\x01\x7f\x80\xfe\xff\r\n\x00end")
    r("SET", "str:raw:incompressible", bytes(rng.getrandbits(8) for _ in range(300)))
    r("SET", "str:lzf:21", "a" * 21)  # the shortest length the RDB writer tries LZF on
    r("SET", "str:lzf:20", "b" * 20)  # too short for LZF
    r("SET", "str:lzf:3000", "echo-fixture|" * 230)
    for n in (63, 64, 16383, 16384):
        r("SET", "str:len:%d" % n, ("len%d-" % n * 4000)[:n])
    r("SET", "str:appended", "abc")
    r("APPEND", "str:appended", "def")  # raw encoding although short
    r("SET", "str:float", "10.5")
    r("INCRBYFLOAT", "str:float", "0.1")
    r("SET", "", "the empty key")
    r("SET", b"\x00\xffbin\r\nkey", "binary key")
    r("SET", "ключ", "Cyrillic key")
    r("SET", "str:ttl", "expiring")
    r("PEXPIREAT", "str:ttl", EXP + 1)

    # lists (7.0: always quicklist): small, every listpack int width, multi-node compressed,
    # plain nodes (large elements over the packed threshold)
    r("RPUSH", "list:small", "alpha", "beta", "42", "-7", "3.14", "", b"\x00\xff\r\n")
    r("RPUSH", "list:ints", 0, 5, 127, -1, -128, 4000, -4000, 30000, -30000, 8000000, -8000000,
      2000000000, -2000000000, 9000000000000000000, -9000000000000000000)
    r("CONFIG", "SET", "list-max-listpack-size", 16)
    r("CONFIG", "SET", "list-compress-depth", 1)
    r("RPUSH", "list:compressed", *["item-%05d-paddingpaddingpadding" % i for i in range(300)])
    r("DEBUG", "QUICKLIST-PACKED-THRESHOLD", 1000)
    r("RPUSH", "list:plain", "small-1", "P" * 1500, "small-2", "Q" * 1200 + "tail", "small-3")
    r("DEBUG", "QUICKLIST-PACKED-THRESHOLD", 0)  # back to the default (1 GiB)
    r("CONFIG", "SET", "list-compress-depth", 0)
    r("RPUSH", "list:uncompressed", *["u%03d" % i for i in range(40)])
    r("CONFIG", "SET", "list-max-listpack-size", -2)
    r("LPUSH", "list:ttl", "x", "y")
    r("PEXPIREAT", "list:ttl", EXP + 2)

    # sets: intset 16/32/64-bit, hashtable of strings, hashtable of ints (over 512 entries)
    r("SADD", "set:int16", 1, -3, 1694, 30007, -16995)
    r("SADD", "set:int32", 1, 70000, -2147483648, 2147483647)
    r("SADD", "set:int64", 1, 9223372036854775807, -9223372036854775808, 4294967296)
    r("SADD", "set:strs", "alpha", "beta", "", b"\x00\xff", "42")
    r("SADD", "set:bigint", *range(0, 1040, 2))  # 520 members > set-max-intset-entries
    r("SADD", "set:ttl", "a", "b")
    r("PEXPIREAT", "set:ttl", EXP + 3)

    # zsets: listpack and skiplist, special scores
    special = [("ninf", "-inf"), ("pinf", "inf"), ("neg", -2.5), ("zero", 0), ("negzero", "-0.0"),
               ("tiny", 5e-324), ("frac", 0.1), ("third", 1 / 3), ("big", 1e300),
               ("max", 1.7976931348623157e308), ("int", 42), ("same-a", 7), ("same-b", 7)]
    args = []
    for m, s in special:
        args += [s, m]
    r("ZADD", "zset:small", *args)
    big = list(args)
    for i in range(140):
        big += [round(rng.uniform(-1e6, 1e6), rng.choice([0, 3, 17])), "m%03d" % i]
    r("ZADD", "zset:skiplist", *big)
    r("ZADD", "zset:longmember", 1, "short", 2, "long-" + "x" * 80)
    r("ZADD", "zset:ttl", 1, "a")
    r("PEXPIREAT", "zset:ttl", EXP + 4)

    # hashes: listpack and hashtable (too many fields, or a long value)
    r("HSET", "hash:small", "name", "charlie", "count", 885513, "neg", -5, "empty", "",
      b"\x00bin", b"\xff\x00")
    hb = []
    for i in range(150):
        hb += ["field:%03d" % i, "value-%d" % (i * 7)]
    r("HSET", "hash:big", *hb)
    r("HSET", "hash:longval", "short", "v", "long", "y" * 100)
    r("HSET", "hash:ttl", "f", "v")
    r("PEXPIREAT", "hash:ttl", EXP + 5)

    # streams: several nodes, XDEL, XTRIM, groups, pending entries, XCLAIM, consumers
    r("CONFIG", "SET", "stream-node-max-entries", 10)
    for i in range(40):
        ms = 1700000000000 + i * 1000
        if i % 7 == 3:
            r("XADD", "stream:main", "%d-0" % ms, "other", "field set %d" % i, "bin", b"\x00\xff")
        else:
            r("XADD", "stream:main", "%d-0" % ms, "sensor", "s%d" % (i % 4), "temp", i * 3 - 20)
        if i % 9 == 0:
            r("XADD", "stream:main", "%d-1" % ms, "sensor", "s9", "temp", "0.5")
    r("XDEL", "stream:main", "1700000005000-0", "1700000006000-0", "1700000030000-0")
    r("XGROUP", "CREATE", "stream:main", "readers", "0")
    r("XREADGROUP", "GROUP", "readers", "alice", "COUNT", 5, "STREAMS", "stream:main", ">")
    r("XREADGROUP", "GROUP", "readers", "bob", "COUNT", 4, "STREAMS", "stream:main", ">")
    r("XACK", "stream:main", "readers", "1700000001000-0")
    r("XCLAIM", "stream:main", "readers", "bob", 0, "1700000002000-0", "RETRYCOUNT", 7)
    r("XGROUP", "CREATECONSUMER", "stream:main", "readers", "carol")
    r("XGROUP", "CREATE", "stream:main", "late", "$")
    r("XGROUP", "CREATE", "stream:main", "mid", "1700000020000-0", "ENTRIESREAD", 20)
    r("XREADGROUP", "GROUP", "mid", "dave", "COUNT", 2, "STREAMS", "stream:main", ">")
    for i in range(20):
        r("XADD", "stream:trimmed", "%d-%d" % (1700000100000 + i // 3, i % 3), "n", i)
    r("XTRIM", "stream:trimmed", "MAXLEN", 6)
    r("XADD", "stream:empty", "5-1", "a", 1)
    r("XADD", "stream:empty", "5-2", "b", 2)
    r("XDEL", "stream:empty", "5-1", "5-2")
    r("XGROUP", "CREATE", "stream:empty", "g-empty", "0")
    r("XGROUP", "CREATE", "stream:mkstream", "g", "$", "MKSTREAM")
    r("XADD", "stream:setid", "10-1", "k", "v")
    r("XSETID", "stream:setid", "99-5", "ENTRIESADDED", 12, "MAXDELETEDID", "50-0")
    # no tombstones here, so the groups keep a valid entries_read
    for i in range(6):
        r("XADD", "stream:groups", "%d-0" % (1700000200000 + i), "i", i)
    r("XGROUP", "CREATE", "stream:groups", "from-start", "0")
    r("XREADGROUP", "GROUP", "from-start", "erin", "COUNT", 3, "STREAMS", "stream:groups", ">")
    r("XGROUP", "CREATE", "stream:groups", "from-end", "$")
    r("CONFIG", "SET", "stream-node-max-entries", 100)

    # other databases, a function library
    r("SELECT", 1)
    r("SET", "db1:str", "in db 1")
    r("RPUSH", "db1:list", "a", "b")
    r("PEXPIREAT", "db1:list", EXP + 6)
    r("SELECT", 15)
    r("SET", "db15:str", "in db 15")
    r("SADD", "db15:set", 3, 1, 2)
    r("SET", "", "empty key in db 15")
    r("SELECT", 0)
    r("FUNCTION", "LOAD",
      "#!lua name=rdbkit_fixture\n"
      "redis.register_function('rdbkit_echo', function(keys, args) return args[1] end)")


# ---- the AOF workload ----------------------------------------------------------------------

def aof_phase(r, phase):
    rng = random.Random(100 + phase)
    r("SELECT", 0)
    for i in range(12):
        r("SET", "p%d:str:%d" % (phase, i), "v%d" % rng.randrange(10**6))
    r("SET", "p%d:bin" % phase, b"\r\n*1\r\n$3\r\nSET\x00\xff")
    r("RPUSH", "p%d:list" % phase, *["e%d" % i for i in range(8)])
    r("LPOP", "p%d:list" % phase)
    r("SADD", "p%d:set" % phase, 1, 2, 3, "x")
    r("SREM", "p%d:set" % phase, 2)
    r("ZADD", "p%d:zset" % phase, "-inf", "lo", 1.5, "mid", "inf", "hi")
    r("HSET", "p%d:hash" % phase, "a", 1, "b", 2)
    r("HINCRBY", "p%d:hash" % phase, "a", 10)
    r("INCR", "counter")
    r("XADD", "p%d:stream" % phase, "%d-1" % (phase + 1), "f", "v")
    r("SET", "p%d:ttl" % phase, "t", "PXAT", EXP + phase)
    r("EXPIRE", "p%d:str:0" % phase, 10**8)  # relative, logged as PEXPIREAT
    r("MULTI")
    r("INCRBY", "counter", 5)
    r("RPUSH", "p%d:list" % phase, "in-multi")
    r("EXEC")
    r("SELECT", 1 + phase % 3)
    r("SET", "db-key:%d" % phase, "elsewhere")
    r("DEL", "p%d:str:%d" % (phase, 11))
    r("SELECT", 0)
    r("SET", "last:%d" % phase, "the last command of phase %d" % phase)


def wait_rewrite_done(r):
    deadline = time.time() + 30
    while time.time() < deadline:
        info = r("INFO", "persistence").decode()
        fields = dict(l.split(":", 1) for l in info.split("\r\n") if ":" in l)
        if fields.get("aof_rewrite_in_progress") == "0" and fields.get("aof_rewrite_scheduled") == "0":
            return
        time.sleep(0.05)
    sys.exit("AOF rewrite did not finish")


def aof_workload(r, port):
    aof_phase(r, 1)
    r("FUNCTION", "LOAD", "#!lua name=aoflib\nredis.register_function('aof_one', function() return 1 end)")
    r("BGREWRITEAOF")
    wait_rewrite_done(r)  # now: base.2 (the data so far) + incr.2
    time.sleep(1.1)  # a new second: a new #TS annotation when timestamps are on
    aof_phase(r, 2)
    # A rewrite that never finishes (the child sleeps 1 s per key) opens incr.3; SHUTDOWN kills
    # the child, and the server keeps both incr files in the manifest.
    r("CONFIG", "SET", "rdb-key-save-delay", 1000000)
    r("BGREWRITEAOF")
    time.sleep(1.1)
    aof_phase(r, 3)


# ---- read-back in the corpus format ----------------------------------------------------------

def bs(b):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(b).decode()}


def score(b):
    f = float(b)
    if f == float("inf"):
        return "inf"
    if f == float("-inf"):
        return "-inf"
    return f


def pairs(flat):
    return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}


def id_str(b):
    return b.decode()


def read_stream(r, key):
    info = pairs(r("XINFO", "STREAM", key))
    entries = [[id_str(e[0]), [[bs(e[1][i]), bs(e[1][i + 1])] for i in range(0, len(e[1]), 2)]]
               for e in r("XRANGE", key, "-", "+")]
    if "recorded-first-entry-id" in info:
        first = id_str(info["recorded-first-entry-id"])
    else:
        first = entries[0][0] if entries else "0-0"
    groups = []
    for g in r("XINFO", "GROUPS", key):
        g = pairs(g)
        name = g["name"]
        pel = r("XPENDING", key, name, "-", "+", max(1, g["pending"]))
        consumers = []
        for c in r("XINFO", "CONSUMERS", key, name):
            c = pairs(c)
            mine = r("XPENDING", key, name, "-", "+", max(1, c["pending"]), c["name"])
            consumers.append({"name": bs(c["name"]), "pending": [id_str(p[0]) for p in mine]})
        consumers.sort(key=lambda c: c["name"] if isinstance(c["name"], str) else "")
        er = g.get("entries-read")
        groups.append({"name": bs(name), "last_delivered_id": id_str(g["last-delivered-id"]),
                       "entries_read": er,
                       "pending": [[id_str(p[0]), bs(p[1]), p[3]] for p in pel],
                       "consumers": consumers})
    groups.sort(key=lambda g: g["name"] if isinstance(g["name"], str) else "")
    return {"length": info["length"], "last_id": id_str(info["last-generated-id"]),
            "first_id": first, "max_deleted_id": id_str(info["max-deleted-entry-id"]),
            "entries_added": info["entries-added"], "entries": entries, "groups": groups}


def read_back(r, with_encoding):
    out = []
    for db in range(16):
        r("SELECT", db)
        keys, cursor = set(), b"0"
        while True:
            cursor, batch = r("SCAN", cursor, "COUNT", 1000)
            keys.update(batch)
            if cursor == b"0":
                break
        for key in sorted(keys):
            t = r("TYPE", key)
            pexp = r("PEXPIRETIME", key)
            rec = {"db": db, "key": bs(key), "type": t}
            if with_encoding:
                rec["encoding"] = r("OBJECT", "ENCODING", key).decode()
            rec["expire_ms"] = None if pexp < 0 else pexp
            if t == "string":
                v = bs(r("GET", key))
            elif t == "list":
                v = [bs(x) for x in r("LRANGE", key, 0, -1)]
            elif t == "set":
                v = [bs(x) for x in sorted(r("SMEMBERS", key))]
            elif t == "zset":
                flat = r("ZRANGE", key, 0, -1, "WITHSCORES")
                v = [[bs(flat[i]), score(flat[i + 1])] for i in range(0, len(flat), 2)]
            elif t == "hash":
                flat = r("HGETALL", key)
                v = [[bs(f), bs(x)] for f, x in sorted(zip(flat[0::2], flat[1::2]))]
            elif t == "stream":
                v = read_stream(r, key)
            else:
                sys.exit("unexpected type %s" % t)
            rec["value"] = v
            out.append(rec)
    r("SELECT", 0)
    for rec in out:
        sys.stdout.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")


def cut_last_command(path):
    """Cuts the file in the middle of the payload of its last command's last argument."""
    data = open(path, "rb").read()
    start = data.rindex(b"\r\n*") + 2  # the last command (payloads here hold no '\r\n*')
    last_bulk = data.rindex(b"\r\n$", start) + 2
    payload = data.index(b"\r\n", last_bulk) + 2
    cut = payload + max(1, (len(data) - 2 - payload) // 2)
    with open(path, "r+b") as f:
        f.truncate(cut)
    print("cut %s from %d to %d bytes (the last command starts at %d)" % (
        os.path.basename(path), len(data), cut, start))


def main():
    cmd, arg = sys.argv[1], sys.argv[2]
    if cmd == "cut":
        return cut_last_command(arg)
    port = int(arg)
    if cmd == "wait":
        return wait_ready(port)
    r = Redis(port)
    if cmd == "rdb-dataset":
        load_rdb_dataset(r)
    elif cmd == "aof-workload":
        aof_workload(r, port)
    elif cmd == "readback":
        read_back(r, with_encoding=True)
    elif cmd == "readback-noenc":
        read_back(r, with_encoding=False)
    elif cmd == "save":
        r("SAVE")
    elif cmd == "shutdown":
        try:
            r("SHUTDOWN", "NOSAVE")
        except EOFError:
            pass
    else:
        sys.exit("unknown command " + cmd)


main()
PY

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server DIR ARGS... : sets $port and $pid
start_server() {
  local dir="$1"; shift
  mkdir -p "$dir"
  port="$(free_port)"
  "$server" --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
    --daemonize no --logfile "$dir/redis.log" --enable-debug-command local "$@" &
  pid=$!
  pids+=("$pid")
  python3 "$py" wait "$port"
}

stop_server() {  # stop_server PORT PID
  python3 "$py" shutdown "$1"
  wait "$2" 2>/dev/null || true
}

# ---- RDB sample -----------------------------------------------------------------------------
mkdir -p "$here/rdb" "$here/aof"
start_server "$tmp/rdb"
python3 "$py" rdb-dataset "$port"
python3 "$py" readback "$port" >"$tmp/sample.expected.jsonl"
python3 "$py" save "$port"
stop_server "$port" "$pid"
cp "$tmp/rdb/dump.rdb" "$here/rdb/sample.rdb"
cp "$tmp/sample.expected.jsonl" "$here/rdb/sample.expected.jsonl"
echo "rdb/sample.rdb: $(wc -c <"$here/rdb/sample.rdb") bytes, $(wc -l <"$here/rdb/sample.expected.jsonl") keys"

# ---- AOF fixtures ---------------------------------------------------------------------------
aof_args=(--appendonly yes --appenddirname appendonlydir --appendfsync always
  --auto-aof-rewrite-percentage 0)

make_aof() {  # make_aof NAME OUTDIR EXTRA_ARGS...
  local name="$1" out="$2"; shift 2
  start_server "$tmp/$name" "${aof_args[@]}" "$@"
  python3 "$py" aof-workload "$port"
  python3 "$py" readback-noenc "$port" >"$tmp/$name.expected.jsonl"
  stop_server "$port" "$pid"
  rm -rf "$out/appendonlydir"
  mkdir -p "$out"
  cp -r "$tmp/$name/appendonlydir" "$out/appendonlydir"
}

make_aof mp "$here/aof" --aof-use-rdb-preamble yes
cp "$tmp/mp.expected.jsonl" "$here/aof/appendonlydir.expected.jsonl"
make_aof ts "$here/aof/ts" --aof-use-rdb-preamble no --aof-timestamp-enabled yes
cp "$tmp/ts.expected.jsonl" "$here/aof/ts/appendonlydir.expected.jsonl"

# torn: the last incr file (the manifest's last line) cut mid-command
rm -rf "$here/aof/torn"
mkdir -p "$here/aof/torn"
cp -r "$here/aof/appendonlydir" "$here/aof/torn/appendonlydir"
last="$(tail -n 1 "$here/aof/torn/appendonlydir/appendonly.aof.manifest" | awk '{print $2}')"
python3 "$py" cut "$here/aof/torn/appendonlydir/$last"

# what the real tool says, and what its --fix keeps
rm -rf "$tmp/fix"
mkdir -p "$tmp/fix"
cp -r "$here/aof/torn/appendonlydir" "$tmp/fix/appendonlydir"
{
  echo "# redis-check-aof of $("$server" --version | awk '{print $3}') on torn/appendonlydir"
  echo "\$ redis-check-aof appendonlydir/appendonly.aof.manifest"
  (cd "$tmp/fix" && TZ=UTC LANG=C "$checkaof" appendonlydir/appendonly.aof.manifest; echo "exit $?") |
    sed -E 's/^[0-9]+:C [0-9]+ [A-Za-z]+ [0-9]+ [0-9:.]+ /<log> /'
  echo "\$ redis-check-aof --fix appendonlydir/appendonly.aof.manifest  (answer y)"
  (cd "$tmp/fix" && echo y | TZ=UTC LANG=C "$checkaof" --fix appendonlydir/appendonly.aof.manifest; echo "exit $?")
  echo "# sizes after --fix"
  (cd "$tmp/fix/appendonlydir" && for f in $(ls | sort); do echo "$f $(wc -c <"$f")"; done)
} >"$here/aof/torn.redis-check-aof.txt" 2>&1 || true

start_server "$tmp/fix" "${aof_args[@]}"
python3 "$py" readback-noenc "$port" >"$here/aof/torn.fixed.expected.jsonl"
stop_server "$port" "$pid"

du -sb "$here/rdb" "$here/aof"
