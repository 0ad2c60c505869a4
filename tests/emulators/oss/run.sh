#!/usr/bin/env bash
# The Aliyun OSS emulator of presign-broker's end-to-end tests.
#
# Usage: tests/emulators/oss/run.sh serve --port PORT --data-dir DIR [emulator options]   (runs in the foreground;
#            prints "READY <port>" once listening; see emulator.py's header for every option)
#        tests/emulators/oss/run.sh test [pytest args]                                     (the self-tests)
#        tests/emulators/oss/run.sh venv                                                   (only create the venv)
# The venv (alibabacloud-oss-v2, cryptography, pytest, pinned in requirements.txt) lives in
# ${PB_SERVICES_DIR:-<repo>/.test-services}/emulators-venv and is created when missing or when requirements.txt changed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
STATE=${PB_SERVICES_DIR:-$REPO/.test-services}
VENV="$STATE/emulators-venv"
MARKER="$VENV/.oss-requirements-$(sha256sum "$HERE/requirements.txt" | cut -c1-16)"

ensure_venv() {
    [ -e "$MARKER" ] && return
    mkdir -p "$STATE"
    # Tests may start several emulators at once: one installer at a time, the others wait and reuse its venv.
    exec 9>"$STATE/.emulators-venv.lock"
    flock 9
    if [ ! -e "$MARKER" ]; then
        [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt" >&2
        touch "$MARKER"
    fi
    flock -u 9
    exec 9>&-
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
    serve) ensure_venv; exec "$VENV/bin/python" "$HERE/emulator.py" "$@" ;;
    test) ensure_venv; cd "$HERE"; exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@" test_emulator.py ;;
    venv) ensure_venv ;;
    *) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
