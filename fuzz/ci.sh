#!/usr/bin/env bash
# Builds every fuzz target and runs each for DURATION seconds (default 30), with a memory limit
# and a per-input time limit. Fails on any crash, panic, leak, out-of-memory or timeout.
#
#   fuzz/ci.sh [DURATION_PER_TARGET] [TARGET...]
#
# Needs the nightly toolchain (only for fuzzing) and cargo-fuzz (`cargo install cargo-fuzz
# --locked`). Seeds: fuzz/corpus/ (made by fuzz/seed.sh when missing) plus fuzz/regressions/.
set -euo pipefail
cd "$(dirname "$0")"

dur=${1:-30}
shift || true

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz/ci.sh: no nightly toolchain; install one with: rustup toolchain install nightly" >&2
  exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz/ci.sh: cargo-fuzz is missing; install it with: cargo install cargo-fuzz --locked" >&2
  exit 1
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

echo "== fuzz: build (${#targets[@]} targets)"
cargo +nightly fuzz build -O

if [ ! -d corpus ]; then
  echo "== fuzz: seeds"
  ./seed.sh >/dev/null
fi

# Per input: 10 s, 2 GiB RSS, no single allocation over 512 MiB (the decoders never allocate
# more than a small multiple of their input). Leaks are reported by the sanitizer.
flags=(-rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 -max_len=65536
  -print_final_stats=1 -max_total_time="$dur")

failed=()
summary=()
for t in "${targets[@]}"; do
  case "$t" in
    resp | aof_*) dict=aof.dict ;;
    *) dict=rdb.dict ;;
  esac
  mkdir -p "corpus/$t"
  dirs=("corpus/$t")
  [ -d "regressions/$t" ] && dirs+=("regressions/$t")
  log=$(mktemp)
  echo "== fuzz: $t (${dur}s)"
  if cargo +nightly fuzz run -O "$t" "${dirs[@]}" -- "${flags[@]}" -dict="$dict" >"$log" 2>&1; then
    cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
    eps=$(grep -oE 'average_exec_per_sec: +[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
    summary+=("$t: ${eps:-?} exec/s, ${cov:-cov: ?}")
  else
    failed+=("$t")
    grep -E 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY|out-of-memory|timeout|leak' "$log" | head -20 || true
    grep -A3 'panicked at' "$log" | cut -c1-600 | head -8 || true
    grep -E 'Test unit written to|Reproduce with' -A2 "$log" | head -6 || true
    echo "   (copy the artifact into fuzz/regressions/$t/ once fixed; see fuzz/README.md)"
  fi
  rm -f "$log"
done

echo "== fuzz: summary"
for s in "${summary[@]}"; do echo "  $s"; done
passed=$(( ${#targets[@]} - ${#failed[@]} ))
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz/ci.sh: FAILED: ${failed[*]}" >&2
  echo "fuzz: $passed passed, ${#failed[@]} failed"
  exit 1
fi
echo "fuzz/ci.sh: all ${#targets[@]} targets ran ${dur}s each without a finding"
echo "fuzz: $passed passed, 0 failed"
