#!/usr/bin/env bash
# Everything the JS client's tests need, then `npm test` (scripts/test.sh can call this as one step).
#
# Usage: clients/js/test.sh            (from anywhere)
#
#   1. npm ci (typescript, playwright-core; no browser download: Debian's /usr/bin/chromium is used)
#   2. npm test builds first (pretest: dist/ ESM + .d.ts, dist/cjs/ CommonJS)
#   3. SeaweedFS + Redis (the emulator tests record callbacks in PB_TEST_REDIS_URL): when PB_TEST_S3_ENDPOINT is
#      set, those are used; otherwise scripts/services.sh install + start (with the PB_* ports of the environment)
#      and stop again at the end
#   4. the broker binary: PB_BROKER_BIN when set, else `cargo build --bin presign-broker` (debug)
#   5. tests/emulators/run.sh install: the COS/Qiniu/OSS emulators' venv (quick when scripts/test.sh made it)
#   6. npm test: unit tests, then Node / mini-program shim / fault / kill-and-resume / 1 GiB / Chromium tests,
#      and test/emulators.test.mjs (the same client through the COS, Qiniu and OSS emulators; the mini-program
#      example's pages with the wx shim), each starting its own broker (free port) and fault proxies
#
# Settings: PB_CLIENT_BIG_MIB (size of the big-file test, default 1024), CHROMIUM (default /usr/bin/chromium),
# PB_SKIP_BROWSER=1 (leave out the Chromium test) and the PB_* variables of scripts/services.sh.
set -euo pipefail

JS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$JS/../.." && pwd)
log() { printf '[client-js] %s\n' "$*" >&2; }

started=0
cleanup() {
  local rc=$?
  if [[ $started -eq 1 ]]; then "$REPO/scripts/services.sh" stop >/dev/null 2>&1 || true; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cd "$JS"
log "npm ci"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error

if [[ -z ${PB_TEST_S3_ENDPOINT:-} ]]; then
  if ! "$REPO/scripts/services.sh" status >/dev/null 2>&1; then
    "$REPO/scripts/services.sh" install
    "$REPO/scripts/services.sh" start
    started=1
  fi
  eval "$("$REPO/scripts/services.sh" env)"
fi

if [[ -z ${PB_BROKER_BIN:-} ]]; then
  log "cargo build --bin presign-broker"
  (cd "$REPO" && cargo build --quiet --bin presign-broker)
  export PB_BROKER_BIN="$REPO/target/debug/presign-broker"
fi

log "tests/emulators/run.sh install"
"$REPO/tests/emulators/run.sh" install

if [[ -n ${PB_SKIP_BROWSER:-} ]]; then
  # Like scripts/test.sh's browser steps: everything but the Chromium test.
  log "npm test without test/browser.test.mjs (PB_SKIP_BROWSER; broker $PB_BROKER_BIN, S3 $PB_TEST_S3_ENDPOINT)"
  npm run --silent build
  tests=()
  for f in test/*.test.mjs; do [[ $f == test/browser.test.mjs ]] || tests+=("$f"); done
  node --test --test-concurrency=1 "${tests[@]}"
else
  log "npm test (broker $PB_BROKER_BIN, S3 $PB_TEST_S3_ENDPOINT)"
  npm test
fi
