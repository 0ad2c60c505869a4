#!/usr/bin/env bash
# Uppy 5.x and 6.x (Companion mode) against the broker's /companion routes, in headless Chromium, with SeaweedFS.
#
# Usage: clients/uppy-e2e/run.sh            (from anywhere; scripts/test.sh calls it unless PB_SKIP_BROWSER is set)
#
#   1. npm ci here (esbuild, playwright-core; no browser download: Debian's /usr/bin/chromium is used), and in
#      uppy5/ and uppy6/ (each major's @uppy/core + @uppy/aws-s3, exactly as users install them)
#   2. npm test builds first (pretest: esbuild bundles each major for the page into dist/)
#   3. SeaweedFS (+ Redis): when PB_TEST_S3_ENDPOINT is set, that one is used; otherwise scripts/services.sh
#      install + start (with the PB_* ports of the environment) and stop again at the end
#   4. the broker binary: PB_BROKER_BIN when set, else `cargo build --bin presign-broker` (debug)
#   5. npm test: e2e.test.mjs starts a broker (free port, [companion] token_cookie), the page server (free port,
#      reverse-proxying /companion/ to the broker for same-origin Uppy) and Chromium
#
# Settings: CHROMIUM (default /usr/bin/chromium) and the PB_* variables of scripts/services.sh.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
log() { printf '[uppy-e2e] %s\n' "$*" >&2; }

started=0
cleanup() {
  local rc=$?
  if [[ $started -eq 1 ]]; then "$REPO/scripts/services.sh" stop >/dev/null 2>&1 || true; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

T0=$(date +%s)
for dir in "$HERE" "$HERE/uppy5" "$HERE/uppy6"; do
  log "npm ci (${dir#"$REPO"/})"
  (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
done

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

log "setup $(($(date +%s) - T0))s; npm test (broker $PB_BROKER_BIN, S3 $PB_TEST_S3_ENDPOINT)"
cd "$HERE"
npm test
