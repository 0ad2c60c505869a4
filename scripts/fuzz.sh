#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time and prints executions and crashes per target.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 60 s each, every target)
#   Needs a nightly toolchain (installed with rustup when missing) and cargo-fuzz (`cargo install
#   cargo-fuzz` when missing). Each target starts from its committed seeds (fuzz/corpus/<target>/seed-*) and
#   grows the corpus there (ignored by git). A crash stops that target: its input is in
#   fuzz/artifacts/<target>/; fix it, then commit the input as fuzz/corpus/<target>/seed-crash-<what> so
#   `cargo test` (tests/api/fuzz_corpus.rs) replays it from then on.
# Settings (environment): PB_FUZZ_JOBS=1 (parallel jobs per target), PB_FUZZ_MAX_LEN=65536 (bytes per input,
#   the broker's body limit).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_EACH=${1:-60}
shift || true
JOBS=${PB_FUZZ_JOBS:-1}
MAX_LEN=${PB_FUZZ_MAX_LEN:-65536}
cd "$ROOT/fuzz"

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

mapfile -t TARGETS < <(if [[ $# -gt 0 ]]; then printf '%s\n' "$@"; else cargo +nightly fuzz list; fi)
cargo +nightly fuzz build

failed=()
printf '%-16s %12s %10s %8s  %s\n' target execs "exec/s" crashes corpus >"$ROOT/fuzz/summary.txt"
for t in "${TARGETS[@]}"; do
  log=$(mktemp)
  rc=0
  cargo +nightly fuzz run "$t" -- -max_total_time="$SECONDS_EACH" -max_len="$MAX_LEN" -jobs="$JOBS" \
    -workers="$JOBS" -print_final_stats=1 -rss_limit_mb=2048 >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  crashes=$(find "artifacts/$t" -type f 2>/dev/null | wc -l)
  corpus=$(find "corpus/$t" -type f | wc -l)
  printf '%-16s %12s %10s %8s  %s files\n' "$t" "${execs:-?}" "${speed:-?}" "$crashes" "$corpus" | tee -a "$ROOT/fuzz/summary.txt"
  if [[ $rc -ne 0 || $crashes -gt 0 ]]; then
    failed+=("$t")
    grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -20 >&2 || true
  fi
  rm -f "$log"
done
echo
cat "$ROOT/fuzz/summary.txt"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
