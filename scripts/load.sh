#!/usr/bin/env bash
# Load test of the credential endpoints on loopback: builds the broker in release mode, starts it with
# scripts/load/broker.toml (HS256 JWTs, no Redis), mints a token with the binary's `token` command and drives
#   POST /v1/uploads                 for the S3 (PUT URL and form POST), COS (form POST and PUT URL) and Qiniu stores
#   POST /v1/multipart/{id}/parts    100 part numbers a call (signs 100 UploadPart URLs; no S3 call is made)
# with wrk at 64 connections for a fixed time each, then prints requests/s, p50/p99 latency, the non-2xx count
# and the broker's peak RSS (VmHWM from /proc/<pid>/status). It stops by itself; only 127.0.0.1 is ever used.
#
# Usage: scripts/load.sh            (from anywhere; installs wrk and curl with apt-get when missing)
#        scripts/load.sh soak       soak check instead: PB_SOAK_SECONDS (default 180) of mixed valid and hostile
#                                   traffic (scripts/load/soak.lua: made-up methods, wrong methods, huge headers,
#                                   bad tokens, malformed JSON, trailing data, bad content types, oversized and
#                                   unknown requests), the broker's RSS sampled before, during and after. Fails
#                                   on any 5xx or when RSS grows more than PB_SOAK_RSS_SLACK_KIB (default 16384).
# Settings (environment, all optional):
#   DURATION=10s       each scenario's measured run (a 1 s warm-up run comes first, not counted)
#   CONNECTIONS=64     wrk connections
#   THREADS=2          wrk threads (1 when PIN=1)
#   PIN=0              1: broker on CPU 0, wrk on CPU 1 (taskset); 0: both float over every core
#   WORKERS=           actix workers (default: the `workers = 6` of scripts/load/broker.toml)
#   SCENARIOS="s3_put s3_post cos_post cos_put qiniu parts"   (also: healthz, GET /healthz: the HTTP stack and
#                      middleware alone, no JWT, policy or signing: the ceiling any credential endpoint can reach)
#   RUST_LOG=warn      the broker's log filter. At info every request writes an audit line ("policy decision")
#                      to stderr and that, not the signing, is what gets measured; warn is how it is run here.
#   BIN=               a prebuilt broker binary to test instead of building (e.g. to compare two builds)
#   PORT=18480         loopback port of the broker
#   PB_S3_PORT=8333    the S3 endpoint's port in the config (nothing is contacted; as in scripts/services.sh)
set -euo pipefail
MODE="${1:-load}"
case "$MODE" in load | soak) ;; *) echo "usage: $0 [soak]" >&2; exit 2 ;; esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOAD_DIR="$ROOT/scripts/load"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
PIN="${PIN:-0}"
THREADS="${THREADS:-$([ "$PIN" = 1 ] && echo 1 || echo 2)}"
SCENARIOS="${SCENARIOS:-s3_put s3_post cos_post cos_put qiniu parts}"
PORT="${PORT:-18480}"
export RUST_LOG="${RUST_LOG:-warn}"

need() { # need <command> <debian package>
  command -v "$1" >/dev/null 2>&1 && return
  echo "== installing $2" >&2
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y -qq "$2" >/dev/null 2>&1 ||
    { $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq "$2" >/dev/null; }
}
need wrk wrk
need curl curl
if [ "$PIN" = 1 ]; then need taskset util-linux; fi

if [ -z "${BIN:-}" ]; then
  echo "== cargo build --release" >&2
  (cd "$ROOT" && cargo build --release --quiet --bin presign-broker)
  BIN="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/presign-broker"
fi
[ -x "$BIN" ] || { echo "no broker binary at $BIN" >&2; exit 1; }

WORK="$(mktemp -d)"
BROKER_PID=""
cleanup() {
  if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
    kill "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# The config with this run's port, worker count and an absolute policies dir (the copy lives in $WORK).
CONFIG="$WORK/broker.toml"
sed -e "s|127.0.0.1:18480|127.0.0.1:$PORT|g" \
  -e "s|http://127.0.0.1:8333|http://127.0.0.1:${PB_S3_PORT:-8333}|" \
  -e "s|^dir = \"policies\"|dir = \"$LOAD_DIR/policies\"|" \
  "$LOAD_DIR/broker.toml" >"$CONFIG"
if [ -n "${WORKERS:-}" ]; then
  sed -i "s|^workers = .*|workers = $WORKERS|" "$CONFIG"
fi

BROKER_CPU="" WRK_CPU=""
if [ "$PIN" = 1 ]; then
  BROKER_CPU="taskset -c 0" WRK_CPU="taskset -c 1"
fi
# The broker logs to stdout (tracing's default writer).
$BROKER_CPU "$BIN" serve --config "$CONFIG" >"$WORK/broker.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "$BROKER_PID" 2>/dev/null || { cat "$WORK/broker.log" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null || { echo "broker did not start" >&2; exit 1; }

TOKEN="$("$BIN" token --config "$CONFIG" --sub alice --role user --ttl 1h)"
export TOKEN LOAD_DIR

if [ "$MODE" = soak ]; then
  SOAK_SECONDS="${PB_SOAK_SECONDS:-180}"
  SLACK_KIB="${PB_SOAK_RSS_SLACK_KIB:-16384}"
  rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$BROKER_PID/status"; }
  url="http://127.0.0.1:$PORT/"
  echo "== soak: broker pid $BROKER_PID ($BIN), ${SOAK_SECONDS}s of mixed traffic, wrk -t$THREADS -c$CONNECTIONS"
  # Warm-up: every kind of request once per connection, every worker's buffers and caches allocated.
  $WRK_CPU wrk -t"$THREADS" -c"$CONNECTIONS" -d5s -s "$LOAD_DIR/soak.lua" "$url" >"$WORK/warmup.out"
  before=$(rss_kib)
  echo "RSS after warm-up: $before kB"
  SECONDS=0
  (
    while kill -0 "$BROKER_PID" 2>/dev/null; do
      sleep 15
      echo "  RSS at +$((SECONDS))s: $(rss_kib) kB"
    done
  ) &
  SAMPLER=$!
  $WRK_CPU wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SOAK_SECONDS}s" -s "$LOAD_DIR/soak.lua" "$url" >"$WORK/soak.out"
  kill "$SAMPLER" 2>/dev/null || true
  wait "$SAMPLER" 2>/dev/null || true
  after=$(rss_kib)
  fivexx=$(awk '/^FIVEXX/ {n += $2} END {print n + 0}' "$WORK/soak.out" "$WORK/warmup.out")
  grep '^RESULT' "$WORK/soak.out"
  metrics_bytes=$(curl -fsS "http://127.0.0.1:$PORT/metrics" | wc -c)
  series=$(curl -fsS "http://127.0.0.1:$PORT/metrics" | grep -c '^http_requests_total{' || true)
  healthy=$(curl -fsS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz" || true)
  echo "RSS before: $before kB, after: $after kB (growth $((after - before)) kB, slack $SLACK_KIB kB)"
  echo "5xx answers: $fivexx; /metrics: $metrics_bytes bytes, $series http_requests_total series; /healthz after: $healthy"
  rc=0
  [ "$fivexx" -eq 0 ] || { echo "FAIL: 5xx answers" >&2; rc=1; }
  [ $((after - before)) -le "$SLACK_KIB" ] || { echo "FAIL: RSS grew by $((after - before)) kB" >&2; rc=1; }
  [ "$healthy" = 200 ] || { echo "FAIL: the broker no longer answers /healthz" >&2; rc=1; }
  [ "$rc" -eq 0 ] && echo "soak: ok (flat RSS, no 5xx)"
  exit "$rc"
fi

PARTS="$(seq -s, 1 100)"
UPLOAD_ID="load-test-upload-id-2YjM4MTk0NTQ5ZTQ1NDc2OWE3ZTk3ZmQ5"
# No S3 is called, so the multipart handle of this made-up upload is minted here the way src/handle.rs does:
# HMAC-SHA256 with a key derived from the config's [callbacks] ticket_secret.
HANDLE="$(python3 - "$CONFIG" "$UPLOAD_ID" <<'PY'
import base64, hashlib, hmac, json, re, sys, time
secret = re.search(r'^ticket_secret = "([^"]*)"', open(sys.argv[1]).read(), re.M).group(1).encode()
key = hmac.new(secret, b"presign-broker multipart handle key v1", hashlib.sha256).digest()
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
claims = {"store": "media", "key": "users/alice/videos/big.mp4", "upload_id": sys.argv[2], "sub": "alice",
          "max_size": 2 << 30, "part_size": 8 << 20, "max_parts": 256, "overwrite": True, "exp": int(time.time()) + 86400}
body = b64(json.dumps(claims, separators=(",", ":")).encode())
print(f"v1.{body}." + b64(hmac.new(key, f"v1.{body}".encode(), hashlib.sha256).digest()))
PY
)"
scenario() { # scenario <name> -> "path<TAB>body<NL>"
  case "$1" in
    s3_put) printf '/v1/uploads\t{"store":"media","key":"users/alice/photos/cat.jpg","content_type":"image/jpeg","size":123456,"method":"PUT"}\n' ;;
    s3_post) printf '/v1/uploads\t{"store":"media","key":"users/alice/photos/cat.jpg","content_type":"image/jpeg","size":123456}\n' ;;
    cos_post) printf '/v1/uploads\t{"store":"wx","key":"users/alice/photos/cat.jpg","content_type":"image/jpeg","size":123456}\n' ;;
    cos_put) printf '/v1/uploads\t{"store":"wx","key":"users/alice/photos/cat.jpg","content_type":"image/jpeg","size":123456,"method":"PUT"}\n' ;;
    qiniu) printf '/v1/uploads\t{"store":"qn","key":"users/alice/photos/cat.jpg","content_type":"image/jpeg","size":123456}\n' ;;
    healthz) printf '/healthz\t\n' ;;
    parts) printf '/v1/multipart/%s/parts\t{"store":"media","key":"users/alice/videos/big.mp4","handle":"%s","part_numbers":[%s]}\n' "$UPLOAD_ID" "$HANDLE" "$PARTS" ;;
    *) echo "unknown scenario $1" >&2; return 1 ;;
  esac
}

hwm_kib() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$BROKER_PID/status"; }
# utime + stime of the broker, in clock ticks (fields 14 and 15 of /proc/<pid>/stat; the name may hold spaces).
cpu_ticks() { sed 's/.*) //' "/proc/$BROKER_PID/stat" | awk '{print $12 + $13}'; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

echo "== broker pid $BROKER_PID ($BIN), RUST_LOG=$RUST_LOG, workers=${WORKERS:-$(sed -n "s/^workers = //p" "$CONFIG")}, PIN=$PIN;" \
  "wrk -t$THREADS -c$CONNECTIONS -d$DURATION; $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
printf '%-9s %10s %9s %9s %9s %8s %9s %12s\n' scenario "req/s" "p50 ms" "p99 ms" "max ms" "non-2xx" "HWM MiB" "broker CPU" >"$WORK/table"
for name in $SCENARIOS; do
  IFS=$'\t' read -r path body < <(scenario "$name")
  export BODY="$body"
  url="http://127.0.0.1:$PORT$path"
  if [ -n "$BODY" ]; then
    export METHOD=POST
    status="$(curl -sS -o "$WORK/answer" -w '%{http_code}' -H "authorization: Bearer $TOKEN" \
      -H 'content-type: application/json' -d "$BODY" "$url")"
  else
    export METHOD=GET
    status="$(curl -sS -o "$WORK/answer" -w '%{http_code}' "$url")"
  fi
  if [ "$status" != 200 ]; then
    echo "$name: HTTP $status: $(head -c 400 "$WORK/answer")" >&2
    exit 1
  fi
  echo "-- $name: $METHOD $path -> 200, $(wc -c <"$WORK/answer") bytes: $(head -c 160 "$WORK/answer")..."
  $WRK_CPU wrk -t"$THREADS" -c"$CONNECTIONS" -d1s -s "$LOAD_DIR/post.lua" "$url" >/dev/null
  ticks_before=$(cpu_ticks)
  $WRK_CPU wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$LOAD_DIR/post.lua" "$url" >"$WORK/$name.out"
  ticks=$(($(cpu_ticks) - ticks_before))
  result="$(grep '^RESULT' "$WORK/$name.out")"
  echo "   $result"
  get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$result"; }
  non2xx=$(($(get non2xx) + $(get socket_errors)))
  # Broker CPU time (user + system, all threads) per request: what the broker costs, whoever shares the cores.
  cpu_per_request="$(awk -v t="$ticks" -v us="$TICK_US" -v n="$(get requests)" 'BEGIN{printf "%.1f us/req", t*us/n}')"
  printf '%-9s %10s %9s %9s %9s %8s %9.1f %12s\n' "$name" "$(get rps)" "$(get p50_ms)" "$(get p99_ms)" \
    "$(get max_ms)" "$non2xx" "$(echo "$(hwm_kib)" | awk '{print $1/1024}')" "$cpu_per_request" >>"$WORK/table"
done
echo
cat "$WORK/table"
echo "peak RSS (VmHWM) of the broker over the whole run: $(hwm_kib) kB"
if grep -qv '^$' "$WORK/broker.log"; then
  echo "broker log (RUST_LOG=$RUST_LOG), last lines:"
  tail -5 "$WORK/broker.log"
fi
