#!/usr/bin/env bash
# Builds the seed corpora in fuzz/corpus/<target>/ (not committed) from the project's
# fixtures (testdata/) and the shared corpus (../shared/corpus/, when present): whole RDB and
# AOF files, and the values, blobs, nodes and LZF strings extracted from every RDB key.
# Usage: fuzz/seed.sh   (re-running adds only new seeds)
set -euo pipefail
cd "$(dirname "$0")/.."
out=fuzz/corpus
mkdir -p "$out"
sources=(testdata)
[ -d ../shared/corpus ] && sources+=(../shared/corpus)
# Stable toolchain: the extractor is an ordinary example of the checks crate.
find "${sources[@]}" -type f ! -name '*.json' ! -name '*.jsonl' ! -name '*.md' ! -name '*.txt' \
  ! -name '*.tsv' ! -name '*.csv' ! -name '*.py' ! -name '*.sh' -size -2M -print0 |
  xargs -0 cargo run -q --release -p rdbkit-fuzz-checks --example extract_seeds -- "$out"
# Hand-written seeds for the targets real files do not reach well.
w() { mkdir -p "$out/$1"; printf -- "$3" >"$out/$1/$2"; }
w lzf lit '\x03\x00\x02abc'
w lzf backref '\x08\x00\x00a\xe0\x00\x00'
w encodings len14 '\x41\x02'
w encodings len32 '\x80\x00\x01\x00\x00'
w encodings int8 '\xc0\xff'
w encodings int32 '\xc2\xff\xff\xff\x7f'
w encodings lzfstr '\xc3\x04\x05\x03abcd'
w encodings canon '-9223372036854775808'
w encodings score '-1.5e+300'
w module uint '\x81\x00\x00\x00\x00\x00\x00\x04\x00\x02\x07\x01\x05\x05\x02ab\x00'
w aof_manifest basic 'file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n'
w aof_manifest quoted '# c\nfile "a b\\x41" seq 2 type h\nfile x seq 3 type i\n'
w resp multi '*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*1\r\n$4\r\nEXEC\r\n#TS:1700000000\r\n*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n'
for t in aof_check aof_fix; do cp "$out/resp/multi" "$out/$t/multi" 2>/dev/null || { mkdir -p "$out/$t"; cp "$out/resp/multi" "$out/$t/multi"; }; done
for d in "$out"/*/; do echo "$(basename "$d"): $(ls "$d" | wc -l) seeds"; done
