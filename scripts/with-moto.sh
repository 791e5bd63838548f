#!/usr/bin/env bash
# Runs a command with a moto S3 server on a free loopback port, then stops the server by its PID.
#
#   scripts/with-moto.sh cargo test -p rig-log-s3
#
# Exports for the command: RIG_S3_TEST_ENDPOINT (the server's URL), RIG_S3_BUCKET (a bucket created
# here), and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION / AWS_ALLOW_HTTP for a local
# server. Fails (exit 1) if moto is not installed or the server does not come up: the S3 tests
# must never be skipped silently. Install moto with: pip install 'moto[server]'.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

if command -v moto_server >/dev/null 2>&1; then
  moto=(moto_server)
elif python3 -c 'import moto.server' >/dev/null 2>&1; then
  moto=(python3 -m moto.server)
else
  echo "with-moto: moto is not installed (pip install 'moto[server]')" >&2
  exit 1
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
endpoint="http://127.0.0.1:${port}"
log=$(mktemp -t moto.XXXXXX)

"${moto[@]}" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!

stop_moto() {
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  rm -f "$log"
}
trap stop_moto EXIT

# Wait (up to 30 s) for the server, then create the test bucket.
ready=0
for _ in $(seq 1 300); do
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    break
  fi
  if python3 - "$endpoint" <<'PY' 2>/dev/null
import sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/rig-test", method="PUT")
urllib.request.urlopen(req, timeout=1)
PY
  then
    ready=1
    break
  fi
  sleep 0.1
done
if [ "$ready" -ne 1 ]; then
  echo "with-moto: the moto server did not start on $endpoint; its output:" >&2
  cat "$log" >&2
  exit 1
fi
echo "with-moto: moto (pid $moto_pid) serving $endpoint, bucket rig-test" >&2

export RIG_S3_TEST_ENDPOINT="$endpoint"
export RIG_S3_BUCKET=rig-test
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_ALLOW_HTTP=true

status=0
"$@" || status=$?
exit "$status"
