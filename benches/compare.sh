#!/usr/bin/env bash
# Side-by-side speed comparison of rdbkit with the tools people use today (issue 5).
#
#   [FILES='small mixed big'] benches/compare.sh [--small] [--runs N] [--regen] [--only rdb|aof|dump|archive|convert|restore] [--gen-only]
#
# On a fresh Debian machine it installs redis-server/redis-tools if missing, builds rdbkit
# (release), generates inputs with a real redis-server on 127.0.0.1 (a free port, a temp dir),
# caches them under bench-data/<scale>/ (gitignored), then times, in this one run, each pair
# alternately (median of N runs, page cache warm):
#   rdbkit check FILE              vs redis-check-rdb FILE  and  redis-server loading FILE
#   rdbkit aof check PATH          vs redis-check-aof PATH  (single file and multi-part)
#   rdbkit dump --format jsonl F   vs cat F (one read from the page cache: the physical limit)
#                                  and vs the sequential dump (--threads 1)
#   rdbkit check F                 vs rdbkit check --threads 1 F and --shallow F (parallel scaling
#                                  and the cost of deep validation)
#   rdbkit export F (Parquet keys table) vs rdbkit dump jsonl; rdbkit size --html vs rdbkit size
#   rdbkit verify DIR.tar.zst      vs rdbkit verify DIR (unpacked) + zstd -d alone (and check)
#   rdbkit convert F (same version, pass-through) vs cp F; rdbkit convert F --target rdb-9
#                                  (re-encode) vs redis-server loading F + SAVE (today's way)
#   rdbkit restore F into a fresh local server vs rdbkit dump --format resp F | redis-cli --pipe
#                                  and vs restarting redis-server with F (server load);
#                                  rdbkit restore --sync F (by replication: the file as it is,
#                                  and converted; also --diskless-load) vs that restart
# and prints a table: MB/s, keys/s, peak RSS, and the ratio (other tool's time / rdbkit's).
#
# Scales: full (default): small.rdb ~5 M keys, mixed.rdb ~400 MB, big.rdb ~300 values of
# 1-4 MiB, big.aof ~1 GB + a multi-part dir. --small: about 1/10 of each, for quick runs.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCALE=full
RUNS=5
REGEN=0
ONLY=all
GEN_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --small) SCALE=small ;;
    --runs) RUNS=$2; shift ;;
    --regen) REGEN=1 ;;
    --only) ONLY=$2; shift ;;
    --gen-only) GEN_ONLY=1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

DATA=$ROOT/bench-data/$SCALE
mkdir -p "$DATA"
if [ "$SCALE" = small ]; then F=10; else F=1; fi

say() { printf '== %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------------------------
# Tools
if ! command -v redis-server >/dev/null || ! command -v redis-check-rdb >/dev/null \
   || ! command -v redis-benchmark >/dev/null; then
  say "installing Debian's redis-server and redis-tools"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools time >/dev/null
  ($SUDO systemctl stop redis-server || $SUDO service redis-server stop || true) >/dev/null 2>&1
fi
if [ ! -x /usr/bin/time ]; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq time >/dev/null
fi
if [ -z "${RDBKIT:-}" ]; then
  say "building rdbkit (release)"
  (cd "$ROOT" && cargo build --release -q -p rdbkit-cli)
  RDBKIT=${CARGO_TARGET_DIR:-$ROOT/target}/release/rdbkit
fi
say "rdbkit: $RDBKIT; $(redis-server --version | cut -d' ' -f1-3)"

# ---------------------------------------------------------------------------------------------
# A throwaway server
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rdbkit-compare.XXXXXX")
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000))
}

# start_server DIR [extra config...]: a server with no persistence of its own unless asked.
start_server() {
  local dir=$1; shift
  PORT=$(free_port)
  redis-server --bind 127.0.0.1 --port "$PORT" --dir "$dir" --save '' --appendonly no \
    --daemonize no --logfile "$dir/server.log" --protected-mode no "$@" &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    redis-cli -p "$PORT" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "server did not start; log:" >&2; cat "$dir/server.log" >&2; exit 1
}
stop_server() {
  redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}
rc() { redis-cli -p "$PORT" "$@"; }

# save_to NAME: SAVE and move dump.rdb to $DATA/NAME.
save_to() {
  rc config set dir "$GEN" >/dev/null
  rc save >/dev/null
  mv "$GEN/dump.rdb" "$DATA/$1"
}

# ---------------------------------------------------------------------------------------------
# Inputs
gen_small() {
  say "generating small.rdb ($((5000000 / F)) keys, DEBUG POPULATE)"
  GEN=$TMP/gen-small; mkdir -p "$GEN"; start_server "$GEN" --enable-debug-command yes
  rc debug populate $((5000000 / F)) key 20 >/dev/null
  save_to small.rdb; stop_server
}

# Lua loops (each EVAL does one batch; the server stays responsive between batches).
LUA_MIXED='
local kind, from, to = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
for i = from, to do
  if kind == "int" then
    redis.call("SET", "int:" .. i, i * 7919 % 1000003)
  elseif kind == "str" then
    redis.call("SET", "str:" .. i, "value-" .. i .. "-" .. (i * 31 % 977))
  elseif kind == "json" then
    local k = "json:" .. i
    redis.call("SET", k, string.format(
      "{\"id\":%d,\"user\":\"user%d\",\"email\":\"user%d@example.com\",\"score\":%d,\"tags\":[\"alpha\",\"beta\",\"gamma\"],\"active\":true,\"bio\":\"%s\"}",
      i, i, i, i * 13 % 10007, string.rep("lorem ipsum dolor sit amet ", 4 + i % 20)))
    if i % 5 == 0 then redis.call("PEXPIRE", k, 86400000 + i) end
  elseif kind == "hash" then
    local k = "hash:" .. i
    for f = 1, 4 + i % 12 do redis.call("HSET", k, "field" .. f, "v" .. (i * f % 100003)) end
  elseif kind == "zset" then
    local k = "zset:" .. i
    for f = 1, 4 + i % 12 do redis.call("ZADD", k, (i * f) % 1009 + f / 8, "member" .. f) end
  elseif kind == "list" then
    local k = "list:" .. i
    for f = 1, 5 + i % 20 do redis.call("RPUSH", k, "item-" .. (i + f)) end
  elseif kind == "intset" then
    local k = "intset:" .. i
    for f = 1, 5 + i % 20 do redis.call("SADD", k, i * 100 + f * 37) end
  elseif kind == "set" then
    local k = "set:" .. i
    for f = 1, 4 + i % 8 do redis.call("SADD", k, "m" .. f .. ":" .. i) end
  elseif kind == "bighash" then
    for f = from, to do redis.call("HSET", "bighash:" .. ARGV[4], "f" .. f, "value-" .. f) end
    return 0
  elseif kind == "bigzset" then
    for f = from, to do redis.call("ZADD", "bigzset:" .. ARGV[4], f * 1.5, "m" .. f) end
    return 0
  elseif kind == "bigset" then
    for f = from, to do redis.call("SADD", "bigset:" .. ARGV[4], "member:" .. f) end
    return 0
  elseif kind == "biglist" then
    for f = from, to do redis.call("RPUSH", "biglist:" .. ARGV[4], "element-" .. f) end
    return 0
  elseif kind == "stream" then
    local k = "stream:" .. ARGV[4]
    for f = from, to do
      redis.call("XADD", k, "*", "sensor", "s" .. (f % 50), "temp", f % 40, "ok", "yes")
    end
    return 0
  end
end
return 0'

# RCN ARGS: redis-cli on database $DB.
DB=0
RCN() { redis-cli -p "$PORT" -n "$DB" "$@"; }

gen_mixed() {
  say "generating mixed.rdb (~$((400 / F)) MB of mixed types, streams, expiries, dbs 0-2)"
  GEN=$TMP/gen-mixed; mkdir -p "$GEN"; start_server "$GEN"
  local k
  for DB in 0 1 2; do
    for k in int:100000 str:100000 json:250000 hash:80000 zset:40000 list:40000 intset:50000 set:25000; do
      local kind=${k%%:*} n=$(( ${k##*:} / F ))
      local b=20000 i=1
      while [ "$i" -le "$n" ]; do
        local j=$((i + b - 1)); [ "$j" -gt "$n" ] && j=$n
        RCN eval "$LUA_MIXED" 0 "$kind" "$i" "$j" >/dev/null
        i=$((j + 1))
      done
    done
  done
  DB=0
  local big=$((200000 / F)) s
  for s in 1 2 3 4 5 6 7 8 9 10; do
    for kind in bighash bigzset bigset biglist; do
      local i=1
      while [ "$i" -le "$big" ]; do
        local j=$((i + 49999)); [ "$j" -gt "$big" ] && j=$big
        RCN eval "$LUA_MIXED" 0 "$kind" "$i" "$j" "$s" >/dev/null
        i=$((j + 1))
      done
    done
  done
  local entries=$((120000 / F))
  for s in 1 2 3 4 5; do
    local i=1
    while [ "$i" -le "$entries" ]; do
      local j=$((i + 19999)); [ "$j" -gt "$entries" ] && j=$entries
      RCN eval "$LUA_MIXED" 0 stream "$i" "$j" "$s" >/dev/null
      i=$((j + 1))
    done
    RCN xgroup create "stream:$s" g1 0 >/dev/null
    RCN xgroup create "stream:$s" g2 0 >/dev/null
    # Leave a PEL: deliver some entries to two consumers without acknowledging them.
    RCN xreadgroup group g1 alice count $((2000 / F)) streams "stream:$s" '>' >/dev/null
    RCN xreadgroup group g1 bob count $((1000 / F)) streams "stream:$s" '>' >/dev/null
    RCN xreadgroup group g2 carol count 500 streams "stream:$s" '>' >/dev/null
  done
  save_to mixed.rdb; stop_server
}

gen_big() {
  local n=$((300 / F))
  say "generating big.rdb ($n values of 1-4 MiB, half JSON lines, half random)"
  GEN=$TMP/gen-big; mkdir -p "$GEN"; start_server "$GEN"
  local i
  for i in $(seq 1 "$n"); do
    local size=$(( (1 + i % 4) * 1048576 - i * 997 % 65536 ))
    if [ $((i % 2)) = 0 ]; then
      head -c "$size" /dev/urandom | rc -x set "big:random:$i" >/dev/null
    else
      rc eval '
        local want, seed = tonumber(ARGV[1]), tonumber(ARGV[2])
        local parts, n, i = {}, 0, 0
        local ev = {"login", "logout", "purchase", "view", "click", "search"}
        while n < want do
          i = i + 1
          local x = (seed * 1103515245 + i * 12345) % 2147483647
          local line = string.format(
            "{\"ts\":%d,\"user\":\"u%07d\",\"event\":\"%s\",\"amount\":%d.%02d,\"session\":\"%08x%08x\"}\n",
            1700000000000 + i * 37, x % 9999991, ev[1 + x % 6], x % 10000, x % 100,
            (x * 2654435761) % 4294967296, (x * 40503 + i) % 4294967296)
          parts[#parts + 1] = line
          n = n + #line
        end
        redis.call("SET", KEYS[1], string.sub(table.concat(parts), 1, want))
        return 0' 1 "big:text:$i" "$size" "$i" >/dev/null
    fi
  done
  save_to big.rdb; stop_server
}

gen_aof() {
  local total=$((10000000 / F))
  say "generating big.aof (~$((1100 / F)) MB single file) and aof-multi/ (multi-part)"
  GEN=$TMP/gen-aof; mkdir -p "$GEN"
  start_server "$GEN" --appendonly yes --appendfsync no --aof-use-rdb-preamble yes \
    --auto-aof-rewrite-percentage 0
  local per=$((total / 10)) rr=1000000
  local bench="redis-benchmark -h 127.0.0.1 -p $PORT -q -P 32 -c 8 -r $rr"
  $bench -n "$per" -d 100 -t set,lpush,hset,sadd,zadd >/dev/null
  $bench -n $((per * 2)) xadd 'stream:__rand_int__' '*' field __rand_int__ payload 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' >/dev/null
  # Scripts are propagated as MULTI ... EXEC blocks of their effects.
  $bench -n "$per" eval "redis.call('set', KEYS[1], ARGV[1]) redis.call('incr', 'counter:' .. (tonumber(ARGV[1]) % 100)) return 0" 1 'script:__rand_int__' __rand_int__ >/dev/null
  # Explicit transactions through the raw protocol.
  awk -v n=$((per / 4)) 'BEGIN {
    for (i = 0; i < n; i++) {
      printf "*1\r\n$5\r\nMULTI\r\n";
      k = "tx:" i % 100000; v = "value-" i;
      printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v;
      printf "*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n", length("txcount"), "txcount";
      printf "*1\r\n$4\r\nEXEC\r\n";
    } }' | redis-cli -p "$PORT" --pipe >/dev/null
  $bench -n $((per / 2)) -d 100 -t set,hset >/dev/null
  rc config set appendfsync always >/dev/null  # flush everything written so far
  local dir=$GEN/appendonlydir
  local incr
  incr=$(ls "$dir"/*.incr.aof | tail -1)
  cp "$incr" "$DATA/big.aof"
  # Multi-part: rewrite (RDB-preamble base), then more commands into a new incr file.
  rc bgrewriteaof >/dev/null
  while [ "$(rc info persistence | tr -d '\r' | awk -F: '/^aof_rewrite_in_progress/ {print $2}')" != 0 ] \
     || [ "$(rc info persistence | tr -d '\r' | awk -F: '/^aof_rewrite_scheduled/ {print $2}')" != 0 ]; do
    sleep 0.2
  done
  $bench -n $((per / 2)) -d 100 -t set,lpush,hset,sadd >/dev/null
  stop_server
  rm -rf "$DATA/aof-multi"
  cp -r "$dir" "$DATA/aof-multi"
}

need() { [ "$REGEN" = 1 ] || [ ! -e "$DATA/$1" ]; }
if [ "$ONLY" = all ] || [ "$ONLY" = rdb ] || [ "$ONLY" = dump ] || [ "$ONLY" = convert ] || [ "$ONLY" = restore ]; then
  need small.rdb && gen_small
  need mixed.rdb && gen_mixed
  need big.rdb && gen_big
fi
if [ "$ONLY" = all ] || [ "$ONLY" = aof ]; then
  { need big.aof || need aof-multi; } && gen_aof
fi

[ "$GEN_ONLY" = 1 ] && { ls -l "$DATA" >&2; exit 0; }

# ---------------------------------------------------------------------------------------------
# Timing
# run_once OUT CMD...: runs CMD (stdout to /dev/null), prints "seconds peak_rss_kib".
run_once() {
  local t0 t1 rss
  t0=$(date +%s%N)
  /usr/bin/time -f '%M' -o "$TMP/rss" "$@" >/dev/null 2>"$TMP/stderr" || {
    local rc=$?
    # redis-check-aof exits non-zero on a truncated tail it reports; anything else is fatal.
    echo "  (exit $rc from $*: $(tail -c 300 "$TMP/stderr"))" >&2
  }
  t1=$(date +%s%N)
  rss=$(tail -1 "$TMP/rss")
  echo "$(( (t1 - t0) / 1000 )) $rss"
}

# server_load FILE: starts redis-server on a copy-free symlink of FILE; prints
# "seconds peak_rss_kib" from exec to the "DB loaded from disk" log line.
server_load() {
  local f=$1 dir=$TMP/load
  rm -rf "$dir"; mkdir -p "$dir"
  ln -s "$f" "$dir/dump.rdb"
  local port t0 t1 pid rss
  port=$(free_port)
  t0=$(date +%s%N)
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --dbfilename dump.rdb --save '' \
    --appendonly no --logfile "$dir/log" >/dev/null 2>&1 &
  pid=$!
  until grep -q 'DB loaded from disk' "$dir/log" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "server failed to load $f" >&2; cat "$dir/log" >&2; exit 1; fi
    sleep 0.005
  done
  t1=$(date +%s%N)
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true
  echo "$(( (t1 - t0) / 1000 )) $rss"
}

# server_load_save FILE: what users do today to rewrite a file: load it into redis-server and
# SAVE it again. Prints "seconds peak_rss_kib" from exec to the end of SAVE.
server_load_save() {
  local f=$1 dir=$TMP/save
  rm -rf "$dir"; mkdir -p "$dir"
  cp "$f" "$dir/dump.rdb"
  local port t0 t1 pid rss
  port=$(free_port)
  t0=$(date +%s%N)
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --dbfilename dump.rdb --save '' \
    --appendonly no --logfile "$dir/log" >/dev/null 2>&1 &
  pid=$!
  until grep -q 'DB loaded from disk' "$dir/log" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "server failed to load $f" >&2; cat "$dir/log" >&2; exit 1; fi
    sleep 0.005
  done
  redis-cli -p "$port" SAVE >/dev/null
  t1=$(date +%s%N)
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
  echo "$(( (t1 - t0) / 1000 )) $rss"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# pair NAME_A NAME_B: times A and B alternately RUNS times (after one warm-up each), leaving
# medians in MED_A MED_B (microseconds) and RSS_A RSS_B (KiB, max over the runs).
# A and B are given as shell functions run_a / run_b.
pair() {
  run_a >/dev/null; run_b >/dev/null
  : >"$TMP/a"; : >"$TMP/b"
  local i
  for i in $(seq 1 "$RUNS"); do
    run_a >>"$TMP/a"; run_b >>"$TMP/b"
  done
  MED_A=$(cut -d' ' -f1 "$TMP/a" | median); MED_B=$(cut -d' ' -f1 "$TMP/b" | median)
  RSS_A=$(cut -d' ' -f2 "$TMP/a" | sort -n | tail -1); RSS_B=$(cut -d' ' -f2 "$TMP/b" | sort -n | tail -1)
}

ROWS=$TMP/rows
printf '%-16s %-22s %9s %9s %11s %10s %8s\n' input tool seconds MB/s keys/s 'peak RSS' ratio >"$ROWS"
row() { # input tool usec bytes keys rss_kib ratio
  awk -v input="$1" -v tool="$2" -v us="$3" -v bytes="$4" -v keys="$5" -v rss="$6" -v ratio="$7" 'BEGIN {
    s = us / 1e6; if (s <= 0) s = 1e-6
    if (keys == "-") ks = "-"
    else if (keys / s >= 1e6) ks = sprintf("%.2fM", keys / s / 1e6)
    else if (keys / s >= 1e3) ks = sprintf("%.1fk", keys / s / 1e3)
    else ks = sprintf("%.0f", keys / s)
    printf "%-16s %-22s %9.3f %9.0f %11s %7.0f MiB %8s\n", input, tool, s, bytes / s / 1e6, ks, rss / 1024, ratio
  }' >>"$ROWS"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", a / b }'; }
size() { du -sb "$1" | cut -f1; }

for f in ${FILES:-small mixed big}; do
  [ "$ONLY" = all ] || [ "$ONLY" = rdb ] || [ "$ONLY" = dump ] || [ "$ONLY" = convert ] || [ "$ONLY" = restore ] || break
  file=$DATA/$f.rdb; bytes=$(size "$file")
  cat "$file" >/dev/null
  keys=$("$RDBKIT" check "$file" | awk '/total:/ {print $2}')
  say "$f.rdb: $((bytes / 1000000)) MB, $keys keys"
  if [ "$ONLY" = all ] || [ "$ONLY" = convert ]; then
    ver=$(head -c 9 "$file" | tail -c 4 | sed 's/^0*//')
    run_a() { run_once "$RDBKIT" convert -q --force "$file" "$TMP/conv.rdb" --target "rdb-$ver"; }
    run_b() { run_once cp "$file" "$TMP/cp.rdb"; }
    pair
    row "$f.rdb" "rdbkit convert (same)" "$MED_A" "$bytes" "$keys" "$RSS_A" "$(ratio "$MED_A" "$MED_B") of cp"
    row "$f.rdb" "cp (page cache)" "$MED_B" "$bytes" - "$RSS_B" "1.0x"
    run_a() { run_once "$RDBKIT" convert -q --force --drop all "$file" "$TMP/conv9.rdb" --target rdb-9; }
    run_b() { server_load_save "$file"; }
    pair
    row "$f.rdb" "rdbkit convert rdb-9" "$MED_A" "$bytes" "$keys" "$RSS_A" "1.0x"
    row "$f.rdb" "redis-server load+SAVE" "$MED_B" "$bytes" "$keys" "$RSS_B" "$(ratio "$MED_B" "$MED_A")"
    rm -f "$TMP/conv.rdb" "$TMP/conv9.rdb" "$TMP/cp.rdb"
    [ "$ONLY" = convert ] && continue
  fi
  if [ "$ONLY" = all ] || [ "$ONLY" = restore ]; then
    # Each run into a fresh empty server (--replace: no EXISTS pre-pass is needed on it).
    mkdir -p "$TMP/rs"
    run_a() {
      start_server "$TMP/rs" >/dev/null
      run_once "$RDBKIT" restore -q --replace "$file" "redis://127.0.0.1:$PORT"
      stop_server
    }
    run_b() {
      start_server "$TMP/rs" >/dev/null
      run_once sh -c 'exec "$0" dump --format resp "$1" | redis-cli -p "$2" --pipe' "$RDBKIT" "$file" "$PORT"
      stop_server
    }
    pair
    row "$f.rdb" "rdbkit restore" "$MED_A" "$bytes" "$keys" "$RSS_A" "1.0x"
    row "$f.rdb" "dump resp|cli --pipe" "$MED_B" "$bytes" "$keys" "$RSS_B" "$(ratio "$MED_B" "$MED_A")"
    us_restore=$MED_A
    run_a() { server_load "$file"; }
    run_b() { server_load "$file"; }
    pair
    row "$f.rdb" "redis-server restart" "$MED_A" "$bytes" "$keys" "$RSS_A" "$(ratio "$MED_A" "$us_restore")"
    us_restart=$MED_A
    # issue 13: the full restore by replication (the server loads the streamed RDB as a
    # replica does), with the default repl-diskless-load disabled (the replica writes the RDB
    # to its dir, then loads it) and with --diskless-load (rdbkit sets on-empty-db for the
    # sync: loaded from the socket as it arrives). The file goes as it is (the raw path: its
    # own bytes, the deep check beside them); the "converted" rows force the conversion
    # (--target of the file's own version) to compare. Ratio: time over the restart's
    # (target <= 1.5x; and <= 1/3 of the pipe's).
    ver=$(head -c 9 "$file" | tail -c 4 | sed 's/^0*//')
    for how in raw converted; do
      conv=""; [ "$how" = converted ] && conv="--target rdb-$ver"
      run_a() {
        start_server "$TMP/rs" >/dev/null
        # shellcheck disable=SC2086
        run_once "$RDBKIT" restore -q --sync $conv "$file" "redis://127.0.0.1:$PORT"
        stop_server; rm -f "$TMP/rs/dump.rdb"
      }
      run_b() {
        start_server "$TMP/rs" >/dev/null
        # shellcheck disable=SC2086
        run_once "$RDBKIT" restore -q --sync --diskless-load $conv "$file" "redis://127.0.0.1:$PORT"
        stop_server; rm -f "$TMP/rs/dump.rdb"
      }
      pair
      short=$how; [ "$how" = converted ] && short=conv
      row "$f.rdb" "restore --sync $how" "$MED_A" "$bytes" "$keys" "$RSS_A" "$(ratio "$MED_A" "$us_restart") of rst"
      row "$f.rdb" "--sync $short diskless" "$MED_B" "$bytes" "$keys" "$RSS_B" "$(ratio "$MED_B" "$us_restart") of rst"
    done
    [ "$ONLY" = restore ] && continue
  fi
  if [ "$ONLY" != dump ]; then
    run_a() { run_once "$RDBKIT" check -q "$file"; }
    run_b() { run_once redis-check-rdb "$file"; }
    pair; us_rdbkit=$MED_A; rss_rdbkit=$RSS_A
    row "$f.rdb" "rdbkit check" "$MED_A" "$bytes" "$keys" "$RSS_A" "1.0x"
    row "$f.rdb" "redis-check-rdb" "$MED_B" "$bytes" "$keys" "$RSS_B" "$(ratio "$MED_B" "$us_rdbkit")"
    run_b() { server_load "$file"; }
    pair
    row "$f.rdb" "redis-server load" "$MED_B" "$bytes" "$keys" "$RSS_B" "$(ratio "$MED_B" "$MED_A")"
    # issue 15: how the deep check scales over the cores (target: --threads 1 >= 1.8x the
    # default on 2 cores) and what deep validation costs over the shallow walk (the floor).
    run_a() { run_once "$RDBKIT" check -q --threads 1 "$file"; }
    run_b() { run_once "$RDBKIT" check -q --shallow "$file"; }
    pair
    row "$f.rdb" "rdbkit check -t1" "$MED_A" "$bytes" "$keys" "$RSS_A" "$(ratio "$MED_A" "$us_rdbkit") of chk"
    row "$f.rdb" "rdbkit check --shallow" "$MED_B" "$bytes" "$keys" "$RSS_B" "$(ratio "$MED_B" "$us_rdbkit") of chk"
    # The mapped file's pages count in the RSS above; through a pipe only the heap remains.
    read -r us rss < <(run_once sh -c "exec \"\$0\" check -q - < \"\$1\"" "$RDBKIT" "$file")
    row "$f.rdb" "rdbkit check - (pipe)" "$us" "$bytes" "$keys" "$rss" -
  fi
  if [ "$ONLY" != rdb ]; then
    run_a() { run_once "$RDBKIT" dump --format jsonl "$file"; }
    run_b() { run_once cat "$file"; }
    pair
    row "$f.rdb" "rdbkit dump jsonl" "$MED_A" "$bytes" "$keys" "$RSS_A" "$(ratio "$MED_A" "$MED_B") of cat"
    row "$f.rdb" "cat (page cache)" "$MED_B" "$bytes" - "$RSS_B" "1.0x"
    # issue 15: the parallel dump against the sequential one (target: default <= 0.5x -t1).
    us_dump_par=$MED_A
    run_a() { run_once "$RDBKIT" dump --format jsonl --threads 1 "$file"; }
    run_b() { run_once "$RDBKIT" dump --format jsonl "$file"; }
    pair
    row "$f.rdb" "rdbkit dump jsonl -t1" "$MED_A" "$bytes" "$keys" "$RSS_A" "$(ratio "$us_dump_par" "$MED_A") of -t1"
    # issue 14: the keys table as Parquet (target: within 2x of dump jsonl, RSS < 256 MB on
    # small.rdb) and the HTML report (target: within 2x of `rdbkit size`)
    us_dump=$MED_A
    run_a() { run_once sh -c 'rm -rf "$2"; exec "$0" export -q "$1" -o "$2"' "$RDBKIT" "$file" "$TMP/export"; }
    run_b() { run_once "$RDBKIT" size -q "$file"; }
    pair
    row "$f.rdb" "rdbkit export parquet" "$MED_A" "$bytes" "$keys" "$RSS_A" "$(ratio "$MED_A" "$us_dump") of dump"
    us_size=$MED_B; rss_size=$RSS_B
    run_a() { run_once "$RDBKIT" size -q "$file" --html "$TMP/report.html"; }
    run_b() { run_once "$RDBKIT" size -q "$file"; }
    pair
    row "$f.rdb" "rdbkit size --html" "$MED_A" "$bytes" "$keys" "$RSS_A" "$(ratio "$MED_A" "$MED_B") of size"
    row "$f.rdb" "rdbkit size" "$MED_B" "$bytes" "$keys" "$RSS_B" "1.0x"
    rm -rf "$TMP/export" "$TMP/report.html"
  fi
done

if [ "$ONLY" = all ] || [ "$ONLY" = aof ]; then
  for p in big.aof aof-multi/appendonly.aof.manifest; do
    file=$DATA/$p
    if [ "${p%/*}" != "$p" ]; then bytes=$(size "$DATA/${p%/*}"); else bytes=$(size "$file"); fi
    cat "$DATA/${p%%/*}"/* >/dev/null 2>&1 || cat "$file" >/dev/null
    say "$p: $((bytes / 1000000)) MB"
    run_a() { run_once "$RDBKIT" aof check "$file"; }
    run_b() { run_once redis-check-aof "$file"; }
    pair
    row "${p%%/*}" "rdbkit aof check" "$MED_A" "$bytes" - "$RSS_A" "1.0x"
    row "${p%%/*}" "redis-check-aof" "$MED_B" "$bytes" - "$RSS_B" "$(ratio "$MED_B" "$MED_A")"
  done
  # The floor of the multi-part check (issue 15): the deep check of its base RDB alone, which
  # `aof check` runs beside the incr files' check. Ratio: aof check's time / the floor's.
  base=$(ls "$DATA"/aof-multi/*.base.rdb 2>/dev/null | head -1)
  if [ -n "$base" ]; then
    run_a() { run_once "$RDBKIT" check -q "$base"; }
    run_b() { run_once "$RDBKIT" aof check "$DATA/aof-multi"; }
    pair
    row "aof-multi base" "rdbkit check (floor)" "$MED_A" "$(size "$base")" - "$RSS_A" \
      "$(ratio "$MED_B" "$MED_A") aof/floor"
  fi
fi

# A tar+zstd archive of the multi-part directory (issue 16): rdbkit verify on the archive vs on
# the unpacked directory, and the decompressor alone; target: archive <= 1.3 x (dir + zstd -d).
if { [ "$ONLY" = all ] || [ "$ONLY" = aof ] || [ "$ONLY" = archive ]; } && [ -d "$DATA/aof-multi" ]; then
  if ! command -v zstd >/dev/null; then
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq zstd >/dev/null
  fi
  arch=$DATA/aof-multi.tar.zst
  if need aof-multi.tar.zst || [ "$arch" -ot "$DATA/aof-multi" ]; then
    tar -C "$DATA" -cf - aof-multi | zstd -q -T0 -o "$arch" -f
  fi
  bytes=$(size "$DATA/aof-multi"); cat "$arch" "$DATA/aof-multi"/* >/dev/null
  say "aof-multi.tar.zst: $(( $(size "$arch") / 1000000 )) MB compressed, $((bytes / 1000000)) MB unpacked"
  run_a() { run_once "$RDBKIT" verify -q "$arch"; }
  run_b() { run_once "$RDBKIT" verify -q "$DATA/aof-multi"; }
  pair; us_arch=$MED_A; us_dir=$MED_B; rss_arch=$RSS_A; rss_dir=$RSS_B
  run_a() { run_once zstd -q -d -c "$arch"; }
  run_b() { run_once cat "$arch"; }
  pair; us_zstd=$MED_A
  row "aof-multi.tar.zst" "rdbkit verify archive" "$us_arch" "$bytes" - "$rss_arch" \
    "$(ratio "$us_arch" "$((us_dir + us_zstd))") of d+z"
  row "aof-multi" "rdbkit verify dir" "$us_dir" "$bytes" - "$rss_dir" "1.0x"
  row "aof-multi.tar.zst" "zstd -d (alone)" "$us_zstd" "$bytes" - "$RSS_A" -
  # `check` of the same archive: read in one pass as `aof check` reads it, vs the dir.
  run_a() { run_once "$RDBKIT" check -q "$arch"; }
  run_b() { run_once "$RDBKIT" check -q "$DATA/aof-multi"; }
  pair
  row "aof-multi.tar.zst" "rdbkit check (1 pass)" "$MED_A" "$bytes" - "$RSS_A" \
    "$(ratio "$MED_A" "$((MED_B + us_zstd))") of d+z"
  row "aof-multi" "rdbkit check dir" "$MED_B" "$bytes" - "$RSS_B" "1.0x"
  # The same directory archived manifest first, parts in load order: `info` replays it in one
  # pass, nothing unpacked to disk; vs `info` on the unpacked directory.
  ord=$DATA/aof-multi.ordered.tar.zst
  if need aof-multi.ordered.tar.zst || [ "$ord" -ot "$DATA/aof-multi" ]; then
    # shellcheck disable=SC2046 # the part names, in load order (base, then incr files)
    tar --no-recursion -C "$DATA" -cf - aof-multi/appendonly.aof.manifest $(awk '{f = ""; t = ""
        for (i = 1; i < NF; i++) { if ($i == "file") f = $(i + 1); if ($i == "type") t = $(i + 1) }
        if (t == "b") b = b " aof-multi/" f; else if (t == "i") n = n " aof-multi/" f }
        END { print b n }' "$DATA/aof-multi/appendonly.aof.manifest") | zstd -q -T0 -o "$ord" -f
  fi
  run_a() { run_once "$RDBKIT" info --now 2026-01-01 "$ord"; }
  run_b() { run_once "$RDBKIT" info --now 2026-01-01 "$DATA/aof-multi"; }
  pair
  row "aof-multi.ord.tar.zst" "rdbkit info (1 pass)" "$MED_A" "$bytes" - "$RSS_A" \
    "$(ratio "$MED_A" "$((MED_B + us_zstd))") of d+z"
  row "aof-multi" "rdbkit info dir" "$MED_B" "$bytes" - "$RSS_B" "1.0x"
  # `aof check` of the same archive: its parts checked as they come (issue 16), vs the dir.
  run_a() { run_once "$RDBKIT" aof check "$ord"; }
  run_b() { run_once "$RDBKIT" aof check "$DATA/aof-multi"; }
  pair
  row "aof-multi.ord.tar.zst" "rdbkit aof check (1 pass)" "$MED_A" "$bytes" - "$RSS_A" \
    "$(ratio "$MED_A" "$((MED_B + us_zstd))") of d+z"
  row "aof-multi" "rdbkit aof check dir" "$MED_B" "$bytes" - "$RSS_B" "1.0x"
fi

# mixed.rdb archived alone as a backup script does (`tar --zstd -cf dump.tar.zst dump.rdb`):
# `check` reads the member as a stream in the archive's pass, nothing unpacked (issue 16), vs
# `check` of the file plus the decompressor alone.
if { [ "$ONLY" = all ] || [ "$ONLY" = archive ]; } && [ -f "$DATA/mixed.rdb" ] && command -v zstd >/dev/null; then
  ra=$DATA/mixed.rdb.tar.zst
  if need mixed.rdb.tar.zst || [ "$ra" -ot "$DATA/mixed.rdb" ]; then
    tar -h -C "$DATA" --transform 's/^mixed.rdb$/dump.rdb/' -cf - mixed.rdb | zstd -q -T0 -o "$ra" -f
  fi
  bytes=$(size "$DATA/mixed.rdb"); cat "$ra" "$DATA/mixed.rdb" >/dev/null
  run_a() { run_once "$RDBKIT" check -q "$ra"; }
  run_b() { run_once "$RDBKIT" check -q "$DATA/mixed.rdb"; }
  pair; us_ra=$MED_A; us_rf=$MED_B; rss_ra=$RSS_A; rss_rf=$RSS_B
  run_a() { run_once zstd -q -d -c "$ra"; }
  run_b() { run_once cat "$ra"; }
  pair
  row "mixed.rdb.tar.zst" "rdbkit check (1 pass)" "$us_ra" "$bytes" - "$rss_ra" \
    "$(ratio "$us_ra" "$((us_rf + MED_A))") of f+z"
  row "mixed.rdb" "rdbkit check file" "$us_rf" "$bytes" - "$rss_rf" "1.0x"
  row "mixed.rdb.tar.zst" "zstd -d (alone)" "$MED_A" "$bytes" - "$RSS_A" -
fi

echo
echo "rdbkit compare ($SCALE scale, median of $RUNS, page cache warm) on $(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "ratio = the other tool's time / rdbkit's (higher is better for rdbkit); for dump: rdbkit's time / cat's;"
echo "'of chk': this row's time / the default check's (check -t1: the parallel speed-up); 'of -t1' (dump -t1 row):"
echo "the default (parallel) dump's time / the sequential one's (target <= 0.5x)."
echo "rdbkit's peak RSS includes the page-cache pages of the memory-mapped input; the pipe row (one run) shows its heap."
echo "archive rows: ratio = its time / (the same command on the unpacked dir + zstd -d alone), target <= 1.3x."
cat "$ROWS"
