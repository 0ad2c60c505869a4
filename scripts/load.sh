#!/usr/bin/env bash
# Load test of the broker on loopback: builds it in release mode, starts it with scripts/load/broker.toml (HS256
# JWTs; Redis from `scripts/services.sh start-redis` for the callback scenario), mints a token with the binary's
# `token` command and, in one run, for each scenario:
#   closed loop   wrk at CONNECTIONS connections for DURATION: requests/s, the share of GET /healthz's requests/s
#                 in the same run, p50/p99, non-2xx, peak RSS, broker CPU per request (utime+stime from
#                 /proc/<pid>/stat over the run ÷ requests)
#   open loop     oha at fixed offered rates with latency correction (the tail a client sees when the broker is
#                 not saturated): p50/p99/p99.9, the rate reached, CPU per request
# The scenarios:
#   healthz       GET /healthz: the HTTP stack and middleware alone, the ceiling of every other scenario
#   s3_put s3_post cos_post cos_put qiniu    POST /v1/uploads for the S3, COS and Qiniu stores
#   parts         POST /v1/multipart/{id}/parts, 100 part numbers a call (100 UploadPart URLs; no S3 call)
#   callback      POST /v1/callbacks/qn: QBox-signed Qiniu callbacks verified and recorded in Redis (Lua SET NX +
#                 XADD), first deliveries and duplicates mixed (scripts/load/callback.lua). Afterwards every event
#                 is delivered once more and the Redis stream counted: exactly one entry per event, or it fails.
#                 The open-loop runs re-deliver one event (all duplicates). The same Lua script run by
#                 redis-benchmark alone gives Redis's own ceiling on this machine, printed beside it, and the
#                 Redis commands the broker sent per callback during the closed-loop run (INFO commandstats
#                 before and after: the script's EVALSHA, and any connection check such as PING or UNWATCH).
# It stops by itself; only 127.0.0.1 is ever used.
#
# Usage: scripts/load.sh            (from anywhere; installs wrk and curl with apt-get, oha with cargo, when missing)
#        scripts/load.sh soak       soak check instead: PB_SOAK_SECONDS (default 180) of mixed valid and hostile
#                                   traffic (scripts/load/soak.lua: made-up methods, wrong methods, huge headers,
#                                   bad tokens, malformed JSON, trailing data, bad content types, oversized and
#                                   unknown requests), the broker's RSS sampled before, during and after. Fails
#                                   on any 5xx or when RSS grows more than PB_SOAK_RSS_SLACK_KIB (default 16384).
#        scripts/load.sh instructions   user-space instructions per request of each scenario (callback excepted),
#                                   counted by valgrind's callgrind: the same count whatever else the machine
#                                   runs, so small changes show that the noise of requests/s on shared cores
#                                   hides. One worker; INSTR_REQUESTS (default 2000) requests per scenario at 4
#                                   connections after 300 warm-up ones. Kernel time is not counted, and valgrind
#                                   hides SHA-NI from the program, so SHA-256 runs in software there: the
#                                   signing scenarios count more than they cost natively.
# Settings (environment, all optional):
#   DURATION=10s       each scenario's closed-loop run (a 1 s warm-up run comes first, not counted)
#   CONNECTIONS=64     wrk and oha connections
#   THREADS=2          wrk threads (1 when PIN=1)
#   PIN=0              1: broker on CPU 0, wrk and oha on CPU 1 (taskset); 0: all float over every core
#   WORKERS=           actix workers (default: the `workers = 6` of scripts/load/broker.toml)
#   SCENARIOS="healthz s3_put s3_post cos_post cos_put qiniu parts callback"   (healthz first: the share needs it)
#   OPEN="healthz s3_put callback parts"   the scenarios also run open loop (empty: none, and no oha needed)
#   RATES="10000 20000"  offered rates (req/s) of the open-loop runs; PARTS_RATES="500 1000" for parts
#   OPEN_DURATION=5s   each open-loop run
#   CALLBACK_EVENTS=60000   distinct uploads in the callback scenario's list
#   RUST_LOG=info      the broker's log filter. At info every credential request writes an audit line
#                      ("policy decision"): production's level, so the one measured
#   PERF=0             1: `perf record --call-graph dwarf` of the broker during each closed-loop run, into
#                      target/perf/<scenario>.data, with the top self-time frames printed after the run and
#                      target/perf/<scenario>.svg flame graphs when inferno is installed (cargo install inferno).
#                      Profiling costs the broker throughput: read PERF=1 runs for where time goes, not for req/s
#   BIN=               a prebuilt broker binary to test instead of building (e.g. to compare two builds)
#   PORT=18480         loopback port of the broker
#   PB_S3_PORT=8333    the S3 endpoint's port in the config (nothing is contacted; as in scripts/services.sh)
#   PB_REDIS_PORT=6399 Redis; when nothing answers there `scripts/services.sh start-redis` starts one (see its
#                      header for PB_SERVICES_DIR; it keeps running afterwards, stop it with services.sh stop)
set -euo pipefail
MODE="${1:-load}"
case "$MODE" in load | soak | instructions) ;; *) echo "usage: $0 [soak|instructions]" >&2; exit 2 ;; esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOAD_DIR="$ROOT/scripts/load"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
PIN="${PIN:-0}"
THREADS="${THREADS:-$([ "$PIN" = 1 ] && echo 1 || echo 2)}"
if [ "$MODE" = instructions ]; then
  SCENARIOS="${SCENARIOS:-healthz s3_put s3_post cos_post cos_put qiniu parts}"
  WORKERS="${WORKERS:-1}"
fi
SCENARIOS="${SCENARIOS:-healthz s3_put s3_post cos_post cos_put qiniu parts callback}"
OPEN="${OPEN-healthz s3_put callback parts}"
RATES="${RATES:-10000 20000}"
PARTS_RATES="${PARTS_RATES:-500 1000}"
OPEN_DURATION="${OPEN_DURATION:-5s}"
CALLBACK_EVENTS="${CALLBACK_EVENTS:-60000}"
REDIS_PORT="${PB_REDIS_PORT:-6399}"
PORT="${PORT:-18480}"
export RUST_LOG="${RUST_LOG:-info}"

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
if [ "$MODE" = instructions ]; then need valgrind valgrind; fi
if { [ "$MODE" = instructions ] || { [ "$MODE" = load ] && [ -n "$OPEN" ]; }; } && ! command -v oha >/dev/null 2>&1; then
  echo "== cargo install oha --locked" >&2
  cargo install oha --locked --quiet
  PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
REDIS_STREAM="pb-load:$$:events" # this run's own stream and keys, deleted at exit
if [ "$MODE" = load ] && [[ " $SCENARIOS " == *" callback "* ]]; then
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    echo "== scripts/services.sh start-redis (Redis on $REDIS_PORT)" >&2
    PB_REDIS_PORT="$REDIS_PORT" "$ROOT/scripts/services.sh" start-redis >&2
  fi
  USE_REDIS=1
fi

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
  if [ -n "${USE_REDIS:-}" ]; then
    redis-cli -p "$REDIS_PORT" --scan --pattern "pb-load:$$:*" | xargs -r -n 500 redis-cli -p "$REDIS_PORT" del >/dev/null || true
  fi
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
if [ -n "${USE_REDIS:-}" ]; then
  printf '\n[redis]\nurl = "redis://127.0.0.1:%s"\nstream = "%s"\nkey_prefix = "pb-load:%s:"\n' \
    "$REDIS_PORT" "$REDIS_STREAM" "$$" >>"$CONFIG"
fi
if [ -n "${WORKERS:-}" ]; then
  sed -i "s|^workers = .*|workers = $WORKERS|" "$CONFIG"
fi

BROKER_CPU="" WRK_CPU=""
if [ "$PIN" = 1 ]; then
  BROKER_CPU="taskset -c 0" WRK_CPU="taskset -c 1"
fi
if [ "$MODE" = instructions ]; then
  BROKER_CPU="valgrind --tool=callgrind --callgrind-out-file=$WORK/callgrind.out"
fi
# The broker logs to stdout (tracing's default writer).
$BROKER_CPU "$BIN" serve --config "$CONFIG" >"$WORK/broker.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 1 600); do
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

if [ "$MODE" = instructions ]; then
  INSTR_REQUESTS="${INSTR_REQUESTS:-2000}"
  echo "== instructions per request: $BIN under callgrind, workers=${WORKERS}, $INSTR_REQUESTS requests per scenario"
  printf '%-9s %14s %9s\n' scenario "instr/request" "/healthz"
  healthz_ir=""
  dumps=0
  for name in $SCENARIOS; do
    IFS=$'\t' read -r path body < <(scenario "$name")
    args=(-c 4 --no-tui -H "authorization: Bearer $TOKEN")
    [ -n "$body" ] && args+=(-m POST -H 'content-type: application/json' -d "$body")
    oha -n 300 "${args[@]}" "http://127.0.0.1:$PORT$path" >/dev/null
    callgrind_control -z "$BROKER_PID" >/dev/null 2>&1
    oha -n "$INSTR_REQUESTS" "${args[@]}" "http://127.0.0.1:$PORT$path" >"$WORK/oha.out"
    callgrind_control -d "$BROKER_PID" >/dev/null 2>&1
    dumps=$((dumps + 1))
    grep -q 'Success rate:.*100.00%' "$WORK/oha.out" || { echo "$name: not every request succeeded" >&2; exit 1; }
    ir=$(($(sed -n 's/^summary: //p' "$WORK/callgrind.out.$dumps") / INSTR_REQUESTS))
    [ "$name" = healthz ] && healthz_ir=$ir
    printf '%-9s %14s %9s\n' "$name" "$ir" "$(awk -v a="$ir" -v h="$healthz_ir" 'BEGIN{ if (h > 0) printf "%.2fx", a/h; else print "-" }')"
  done
  exit 0
fi

# "command calls" for each command Redis has run since its start (or CONFIG RESETSTAT).
redis_calls() { redis-cli -p "$REDIS_PORT" INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),.*/\1 \2/p'; }
hwm_kib() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$BROKER_PID/status"; }
# utime + stime of the broker, in clock ticks (fields 14 and 15 of /proc/<pid>/stat; the name may hold spaces).
cpu_ticks() { sed 's/.*) //' "/proc/$BROKER_PID/stat" | awk '{print $12 + $13}'; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))
# Broker CPU time (user + system, all threads) per request: what the broker costs, whoever shares the cores.
per_request() { awk -v t="$1" -v us="$TICK_US" -v n="$2" 'BEGIN{ if (n > 0) printf "%.1f us/req", t*us/n; else print "-" }'; }
if oha --help 2>/dev/null | grep -q -- '--output-format'; then OHA_JSON=(--output-format json); else OHA_JSON=(-j); fi

echo "== broker pid $BROKER_PID ($BIN), RUST_LOG=$RUST_LOG, workers=${WORKERS:-$(sed -n "s/^workers = //p" "$CONFIG")}, PIN=$PIN;" \
  "wrk -t$THREADS -c$CONNECTIONS -d$DURATION; oha -c$CONNECTIONS -z$OPEN_DURATION --latency-correction;" \
  "$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-9s %10s %8s %9s %9s %9s %8s %9s %12s\n' scenario "req/s" "healthz" "p50 ms" "p99 ms" "max ms" "non-2xx" \
  "HWM MiB" "broker CPU" >"$WORK/table"
printf '%-9s %9s %9s %9s %9s %9s %8s %12s\n' "open loop" "offered" "reached" "p50 ms" "p99 ms" "p99.9 ms" "non-2xx" \
  "broker CPU" >"$WORK/open"

if [[ " $SCENARIOS " == *" callback "* ]]; then
  # One Qiniu upload token (its callbackUrl and callbackBody carry the ticket); the etag makes each callback a
  # distinct object version, so one token gives CALLBACK_EVENTS distinct events.
  curl -fsS -o "$WORK/qn.json" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d '{"store":"qn","key":"users/alice/photos/cat.jpg","content_type":"image/jpeg","size":123456}' \
    "http://127.0.0.1:$PORT/v1/uploads"
  python3 "$LOAD_DIR/callbacks.py" make "$WORK/qn.json" "$CALLBACK_EVENTS" "$WORK/events"
  export EVENTS_FILE="$WORK/events" WRK_THREADS="$THREADS"
  IFS=$'\t' read -r CB_PATH CB_AUTH CB_BODY <"$WORK/events"
fi

HEALTHZ_RPS=""
for name in $SCENARIOS; do
  script="$LOAD_DIR/post.lua"
  oha_args=(-H "authorization: Bearer $TOKEN")
  if [ "$name" = callback ]; then
    script="$LOAD_DIR/callback.lua"
    url="http://127.0.0.1:$PORT$CB_PATH"
    oha_args=(-m POST -H "authorization: $CB_AUTH" -H 'content-type: application/x-www-form-urlencoded' -d "$CB_BODY")
    status="$(curl -sS -o "$WORK/answer" -w '%{http_code}' -H "authorization: $CB_AUTH" \
      -H 'content-type: application/x-www-form-urlencoded' -d "$CB_BODY" "$url")"
    METHOD=POST path="/v1/callbacks/qn"
  else
    IFS=$'\t' read -r path body < <(scenario "$name")
    export BODY="$body"
    url="http://127.0.0.1:$PORT$path"
    if [ -n "$BODY" ]; then
      export METHOD=POST
      oha_args+=(-m POST -H 'content-type: application/json' -d "$BODY")
      status="$(curl -sS -o "$WORK/answer" -w '%{http_code}' -H "authorization: Bearer $TOKEN" \
        -H 'content-type: application/json' -d "$BODY" "$url")"
    else
      export METHOD=GET
      status="$(curl -sS -o "$WORK/answer" -w '%{http_code}' "$url")"
    fi
  fi
  if [ "$status" != 200 ]; then
    echo "$name: HTTP $status: $(head -c 400 "$WORK/answer")" >&2
    exit 1
  fi
  echo "-- $name: $METHOD $path -> 200, $(wc -c <"$WORK/answer") bytes: $(head -c 160 "$WORK/answer")..."
  $WRK_CPU wrk -t"$THREADS" -c"$CONNECTIONS" -d1s -s "$script" "$url" >/dev/null
  [ "$name" = callback ] && redis_calls >"$WORK/calls.before"
  ticks_before=$(cpu_ticks)
  if [ "${PERF:-0}" = 1 ]; then
    mkdir -p "$ROOT/target/perf"
    perf record -q -F 299 --call-graph dwarf,8192 -p "$BROKER_PID" -o "$ROOT/target/perf/$name.data" \
      >/dev/null 2>&1 &
    PERF_PID=$!
    sleep 0.5
  fi
  $WRK_CPU wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$script" "$url" >"$WORK/$name.out"
  ticks=$(($(cpu_ticks) - ticks_before))
  if [ "${PERF:-0}" = 1 ]; then
    kill -INT "$PERF_PID" && wait "$PERF_PID" || true
  fi
  result="$(grep '^RESULT' "$WORK/$name.out")"
  echo "   $result"
  get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$result"; }
  if [ "$name" = callback ]; then
    redis_calls >"$WORK/calls.after"
    CB_COMMANDS="$(awk -v n="$(get requests)" 'NR == FNR { before[$1] = $2; next } { after[$1] = $2 }
      END { split("evalsha ping unwatch", c, " ")
            for (i = 1; i <= 3; i++) printf "%s%s %.3f", (i > 1 ? ", " : ""), c[i], (after[c[i]] - before[c[i]]) / n }' \
      "$WORK/calls.before" "$WORK/calls.after")"
  fi
  non2xx=$(($(get non2xx) + $(get socket_errors)))
  [ "$name" = healthz ] && HEALTHZ_RPS="$(get rps)"
  share="$(awk -v r="$(get rps)" -v h="$HEALTHZ_RPS" 'BEGIN{ if (h > 0) printf "%.0f%%", 100*r/h; else print "-" }')"
  printf '%-9s %10s %8s %9s %9s %9s %8s %9.1f %12s\n' "$name" "$(get rps)" "$share" "$(get p50_ms)" "$(get p99_ms)" \
    "$(get max_ms)" "$non2xx" "$(echo "$(hwm_kib)" | awk '{print $1/1024}')" \
    "$(per_request "$ticks" "$(get requests)")" >>"$WORK/table"

  [[ " $OPEN " == *" $name "* ]] || continue
  rates="$RATES"
  [ "$name" = parts ] && rates="$PARTS_RATES"
  for rate in $rates; do
    ticks_before=$(cpu_ticks)
    $WRK_CPU oha --no-tui "${OHA_JSON[@]}" -z "$OPEN_DURATION" -q "$rate" --latency-correction -c "$CONNECTIONS" \
      "${oha_args[@]}" "$url" >"$WORK/oha.json"
    ticks=$(($(cpu_ticks) - ticks_before))
    read -r reached p50 p99 p999 bad total < <(python3 - "$WORK/oha.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
p = j["latencyPercentiles"]
ms = lambda v: "%.3f" % (v * 1000) if v is not None else "-"
codes = j.get("statusCodeDistribution", {})
errors = sum(j.get("errorDistribution", {}).values())
total = sum(codes.values())
bad = sum(n for c, n in codes.items() if not c.startswith("2")) + errors
print("%.0f" % (total / j["summary"]["total"]), ms(p["p50"]), ms(p["p99"]), ms(p.get("p99.9")), bad, total)
PY
    )
    printf '%-9s %9s %9s %9s %9s %9s %8s %12s\n' "$name" "$rate" "$reached" "$p50" "$p99" "$p999" "$bad" \
      "$(per_request "$ticks" "$total")" >>"$WORK/open"
  done
done

if [ -n "${USE_REDIS:-}" ] && [[ " $SCENARIOS " == *" callback "* ]]; then
  # Every event once more (most are duplicates by now): afterwards each must be in the stream exactly once.
  redelivered="$(python3 "$LOAD_DIR/callbacks.py" redeliver "$PORT" "$EVENTS_FILE")"
  counted="$(redis-cli -p "$REDIS_PORT" --raw XRANGE "$REDIS_STREAM" - + |
    python3 "$LOAD_DIR/callbacks.py" count "$CALLBACK_EVENTS")"
  # Redis's own ceiling for the record script (taken from src/events/redis.rs, so it is the same Lua), new
  # idempotency keys every call, one of this run's events as the payload, at the same connection count.
  lua="$(sed -n '/^const RECORD_SCRIPT: &str = r#"$/,/^"#;$/p' "$ROOT/src/events/redis.rs" | sed '1d;$d')"
  sample="$(redis-cli -p "$REDIS_PORT" --raw XRANGE "$REDIS_STREAM" - + COUNT 1 | sed -n 3p)"
  ceiling="$(redis-benchmark -p "$REDIS_PORT" -c "$CONNECTIONS" -n 300000 -r 1000000000 -q \
    EVAL "$lua" 2 "pb-load:$$:bench-stream" "pb-load:$$:bench:idem:__rand_int__" 604800 "$sample" 2>/dev/null |
    tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1 | cut -d' ' -f1)"
fi

echo
cat "$WORK/table"
echo
cat "$WORK/open"
echo "peak RSS (VmHWM) of the broker over the whole run: $(hwm_kib) kB; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
rc=0
if [ -n "${counted:-}" ]; then
  cb_rps="$(sed -n 's/^callback .*/&/p' "$WORK/table" | awk '{print $2}')"
  echo "callbacks: redelivery of all $CALLBACK_EVENTS events: $redelivered; Redis stream: $counted"
  echo "callbacks: Redis alone runs the record script $ceiling times/s (redis-benchmark -c$CONNECTIONS);" \
    "the broker's $cb_rps verified-and-recorded/s is $(awk -v a="$cb_rps" -v b="$ceiling" 'BEGIN{ if (b > 0) printf "%.0f%%", 100*a/b }') of it"
  echo "callbacks: Redis commands per callback in the closed-loop run (INFO commandstats): ${CB_COMMANDS:-none}"
  grep -q "entries=$CALLBACK_EVENTS distinct=$CALLBACK_EVENTS doubled=0 lost=0" <<<"$counted" ||
    { echo "FAIL: the stream does not hold each event exactly once" >&2; rc=1; }
  [ "$redelivered" = "200=$CALLBACK_EVENTS" ] || { echo "FAIL: a redelivery was not answered 200" >&2; rc=1; }
fi
if [ "${PERF:-0}" = 1 ]; then
  for name in $SCENARIOS; do
    data="$ROOT/target/perf/$name.data"
    echo "== perf: $name, top frames by self time ($data)"
    perf report -i "$data" --no-children -g none --percent-limit 0.7 --sort symbol --stdio -q 2>/dev/null | grep -v '^$' | grep '%' | head -25 || true
    if command -v inferno-collapse-perf >/dev/null 2>&1; then
      perf script -i "$data" 2>/dev/null | inferno-collapse-perf | inferno-flamegraph --title "$name" \
        >"$ROOT/target/perf/$name.svg" && echo "   flame graph: target/perf/$name.svg"
    fi
  done
fi
# The same figures as Markdown: README's performance table is this output, pasted as printed.
echo
echo "README table ($(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), RUST_LOG=$RUST_LOG):"
echo
echo "| scenario | req/s | share of \`/healthz\` | p50 | p99 | broker CPU / request |"
echo "|---|---|---|---|---|---|"
awk 'NR > 1 {
  split("healthz=`GET /healthz` (the HTTP floor);s3_put=S3 presigned PUT (`POST /v1/uploads`);s3_post=S3 form POST;cos_post=COS form POST;cos_put=COS presigned PUT;qiniu=Qiniu upload token with callback;parts=multipart parts, 100 URLs a call;callback=Qiniu callbacks verified and recorded in Redis", d, ";")
  for (i in d) { split(d[i], kv, "="); name[kv[1]] = substr(d[i], length(kv[1]) + 2) }
  printf "| %s | %s | %s | %s ms | %s ms | %s µs |\n", ($1 in name ? name[$1] : $1), $2, $3, $4, $5, $9
}' "$WORK/table"
if [ "$(wc -l <"$WORK/open")" -gt 1 ]; then
  echo
  echo "| open loop (oha, latency corrected) | offered req/s | reached | p50 | p99 | p99.9 |"
  echo "|---|---|---|---|---|---|"
  awk 'NR > 1 {printf "| %s | %s | %s | %s ms | %s ms | %s ms |\n", $1, $2, $3, $4, $5, $6}' "$WORK/open"
fi
echo
dropped="$(curl -fsS "http://127.0.0.1:$PORT/metrics" | sed -n 's/^log_lines_dropped_total //p')"
echo "log lines dropped by the broker's bounded log queue: ${dropped:-0}; broker log: $(wc -l <"$WORK/broker.log") lines"
exit "$rc"
