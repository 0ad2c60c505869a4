#!/usr/bin/env bash
# Instructions per call of every signer and of its floor, counted by callgrind (benches/signer_instructions.rs):
# deterministic, so the ratio does not move with the load of the machine the way criterion's medians do.
#   scripts/signer_instructions.sh [FILTER]     (FILTER: a substring of `group/function`, e.g. s3_)
#   BIN=path/to/signer_instructions scripts/signer_instructions.sh   (an earlier build, for before/after)
# Needs valgrind. Builds the bench binary in the bench profile (release settings) first.
set -euo pipefail
cd "$(dirname "$0")/.."
filter="${1:-}"
bin=${BIN:-}; [[ -n "$bin" ]] || bin=$(cargo bench --bench signer_instructions --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "signer_instructions" and m.get("executable"):
        print(m["executable"])')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
declare -A floor
printf '%-48s %12s %8s\n' "group/function" "instr/call" "/floor"
for name in $("$bin"); do
  [[ "$name" == *"$filter"* ]] || continue
  # Batches of 100 URLs are counted over fewer calls; a count is exact either way.
  n=200; [[ "$name" == *x100* ]] && n=5
  valgrind --tool=callgrind --callgrind-out-file="$out/cg" --toggle-collect='*measured_calls*' \
    "$bin" "$name" "$n" 2>"$out/log" >/dev/null
  ir=$(sed -n 's/^summary: //p' "$out/cg")
  per=$((ir / n))
  group=${name%/*}
  # Every group lists its signers first and its floor after them: the ratio is printed in a second pass.
  echo "$name $per" >>"$out/all"
  [[ "${name#*/}" == floor ]] && floor[$group]=$per
done
while read -r name per; do
  f=${floor[${name%/*}]:-}
  ratio=$([[ -n "$f" ]] && python3 -c "print(f'{$per/$f:.2f}x')" || echo -)
  printf '%-48s %12d %8s\n' "$name" "$per" "$ratio"
done <"$out/all"
