#!/usr/bin/env bash
# Test emulators of Tencent COS, Qiniu Kodo and Aliyun OSS, verifying requests with the vendors' own SDKs.
#
# Usage: tests/emulators/run.sh install
#        tests/emulators/run.sh cos   PORT DATA_DIR [--bucket B] [--region R] [--secret-id ID] [--secret-key KEY]
#        tests/emulators/run.sh qiniu PORT DATA_DIR [--bucket B] [--access-key AK] [--secret-key SK]
#                                                   [--callback-auth qbox|qiniu|alternate]
#        tests/emulators/run.sh oss   PORT DATA_DIR [--region R] [--access-key-id AK] [--access-key-secret SK]
#                                                   [--security-token T] [--max-body N] [--callback-timeout S]
#        tests/emulators/run.sh test [PYTEST_ARGS...]   the emulators' self-tests
#
#   The venv lives in ${PB_SERVICES_DIR:-<repo>/.test-services}/emulators-venv and is created (python3 -m venv)
#   and filled from requirements.txt when missing or when requirements.txt changed.
#   Each server listens on 127.0.0.1:PORT only (PORT 0 = a free port) and prints one line
#   "ready on http://127.0.0.1:PORT" once listening. Credentials and bucket may also come from the
#   environment: COS_EMU_BUCKET, COS_EMU_REGION, COS_EMU_SECRET_ID, COS_EMU_SECRET_KEY;
#   QINIU_EMU_BUCKET, QINIU_EMU_ACCESS_KEY, QINIU_EMU_SECRET_KEY, QINIU_EMU_CALLBACK_AUTH;
#   OSS_EMU_REGION, OSS_EMU_ACCESS_KEY_ID, OSS_EMU_ACCESS_KEY_SECRET, OSS_EMU_SECURITY_TOKEN.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
STATE=${PB_SERVICES_DIR:-$REPO/.test-services}
VENV=$STATE/emulators-venv
STAMP=$VENV/.requirements

installed() {
  [[ -x $VENV/bin/python && -f $STAMP ]] && cmp -s "$HERE/requirements.txt" "$STAMP"
}

install() {
  installed && return 0
  mkdir -p "$STATE"
  # Emulators started at once (test binaries, pytest) install one at a time; the others then find it done.
  exec 9>"$STATE/.emulators-venv.lock"
  flock 9
  if ! installed; then
    [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt" >&2
    cp "$HERE/requirements.txt" "$STAMP"
  fi
  flock -u 9
  exec 9>&-
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case "$cmd" in
  install) install ;;
  cos) install; exec "$VENV/bin/python" -u "$HERE/cos_emulator.py" "$@" ;;
  qiniu) install; exec "$VENV/bin/python" -u "$HERE/qiniu_emulator.py" "$@" ;;
  oss) install; exec "$VENV/bin/python" -u "$HERE/oss_emulator.py" "$@" ;;
  test) install; cd "$HERE"; exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@" ;;
  *) sed -n '2,20p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
esac
