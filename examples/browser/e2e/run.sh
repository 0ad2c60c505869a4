#!/usr/bin/env bash
# Browser end-to-end test of examples/browser: real Chromium, real broker, real SeaweedFS.
#
# Usage: examples/browser/e2e/run.sh        (from anywhere; as root or with sudo for apt-get)
#
#   1. installs what is missing: Debian's chromium (apt-get), playwright-core (npm ci, no browser download)
#   2. starts Redis + SeaweedFS with scripts/services.sh unless they already run (and then stops them again)
#   3. cargo build (debug) and starts the broker with broker.toml (127.0.0.1:18090, CORS for :18091)
#   4. mints a token (sub e2e, role user) and runs e2e.mjs, which serves examples/browser on
#      127.0.0.1:18091 and drives both uploads through the page in headless Chromium
#   5. stops the broker (and the services, if it started them) whatever happens
#
# SeaweedFS 4.48 answers CORS for any origin and exposes ETag with no bucket CORS configuration, so none
# is set here; e2e.mjs checks the preflight first and says so when a store does not.
# Ports follow the PB_* variables of scripts/services.sh (the one place they are set): the store endpoint is
# the running SeaweedFS's (`services.sh env`, so PB_S3_PORT is honoured), and
#   PB_E2E_BROKER_PORT (default 18090)  the broker
#   PB_E2E_PAGE_PORT   (default 18091)  the page's origin (the broker's cors_origins)
# broker.toml holds the defaults; the broker runs with a copy that has this run's ports.
# PB_E2E_BROKER_BIN=path/to/presign-broker skips the cargo build and runs that binary.
set -euo pipefail

E2E=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E/../../.." && pwd)
BROKER_PORT=${PB_E2E_BROKER_PORT:-18090}
PAGE_PORT=${PB_E2E_PAGE_PORT:-18091}
BROKER_ADDR=127.0.0.1:$BROKER_PORT
LOG=$(mktemp -t pb-e2e-broker.XXXXXX.log)
CONFIG=$(mktemp -t pb-e2e-broker.XXXXXX.toml)
T0=$(date +%s)

log() { printf '[e2e] %s\n' "$*" >&2; }
since() { echo "$(($(date +%s) - $1))s"; }
as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

broker_pid=
started_services=0
cleanup() {
  local rc=$?
  if [[ -n $broker_pid ]]; then
    kill -TERM "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
  if [[ $rc -ne 0 && -s $LOG ]]; then
    log "---- last lines of the broker log ($LOG) ----"
    tail -n 30 "$LOG" >&2 || true
  fi
  rm -f "$LOG" "$CONFIG"
  if [[ $started_services -eq 1 ]]; then "$REPO/scripts/services.sh" stop >/dev/null 2>&1 || true; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. Chromium and playwright-core.
t=$(date +%s)
if [[ ! -x /usr/bin/chromium ]]; then
  log "apt-get install chromium"
  apt_install() { as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
  apt_install || { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt_install; }
fi
locked=$(node -p 'require(process.argv[1]).packages["node_modules/playwright-core"].version' "$E2E/package-lock.json")
installed=$(node -p 'require(process.argv[1]).version' "$E2E/node_modules/playwright-core/package.json" 2>/dev/null || true)
if [[ "$installed" != "$locked" ]]; then
  log "npm ci (playwright-core; it downloads no browser)"
  (cd "$E2E" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
log "install: $(since "$t") ($(/usr/bin/chromium --version 2>/dev/null), node $(node --version))"

# 2. Redis + SeaweedFS.
if ! "$REPO/scripts/services.sh" status >/dev/null 2>&1; then
  "$REPO/scripts/services.sh" install
  "$REPO/scripts/services.sh" start
  started_services=1
fi
eval "$("$REPO/scripts/services.sh" env)"
# This run's config: the ports above, the running SeaweedFS's endpoint, an absolute policies dir.
sed -e "s|127.0.0.1:18090|$BROKER_ADDR|g" \
  -e "s|127.0.0.1:18091|127.0.0.1:$PAGE_PORT|g" \
  -e "s|http://127.0.0.1:8333|$PB_TEST_S3_ENDPOINT|g" \
  -e "s|^dir = \"policies\".*|dir = \"$E2E/policies\"|" \
  "$E2E/broker.toml" >"$CONFIG"
grep -q "endpoint = \"$PB_TEST_S3_ENDPOINT\"" "$CONFIG" || { log "ERROR: could not set the store endpoint"; exit 1; }

# 3. The broker (PB_E2E_BROKER_BIN: use that binary instead of building one).
if [[ -n ${PB_E2E_BROKER_BIN:-} ]]; then
  BROKER=$PB_E2E_BROKER_BIN
else
  t=$(date +%s)
  (cd "$REPO" && cargo build --quiet --bin presign-broker)
  BROKER="$REPO/target/debug/presign-broker"
  log "cargo build: $(since "$t")"
fi
if (: <>"/dev/tcp/${BROKER_ADDR%:*}/${BROKER_ADDR#*:}") 2>/dev/null; then
  log "ERROR: $BROKER_ADDR is already in use"
  exit 1
fi
"$BROKER" serve --config "$CONFIG" >"$LOG" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do
  curl -fs "http://$BROKER_ADDR/readyz" >/dev/null 2>&1 && break
  kill -0 "$broker_pid" 2>/dev/null || { log "ERROR: the broker exited"; exit 1; }
  sleep 0.1
done
curl -fs "http://$BROKER_ADDR/readyz" >/dev/null || { log "ERROR: the broker is not ready"; exit 1; }

log "broker ready on $BROKER_ADDR; setup took $(since "$T0")"

# 4. The test (its last line is `N passed, M failed`; it prints run.sh's total time just before).
BROKER_TOKEN=$("$BROKER" token --config "$CONFIG" --sub e2e --role user) \
  BROKER_URL="http://$BROKER_ADDR" E2E_PORT="$PAGE_PORT" S3_ENDPOINT="$PB_TEST_S3_ENDPOINT" S3_BUCKET="$PB_TEST_S3_BUCKET" \
  E2E_STARTED_AT="$T0" node "$E2E/e2e.mjs"
