#!/usr/bin/env bash
# start.sh DIR [PORT]: starts s3rver (a local S3 server for tests) in the
# background and prints its endpoint, e.g. http://127.0.0.1:40123.
#
# Listens on 127.0.0.1 (PORT, default: a free port picked by the kernel), keeps
# its objects under DIR/data, has the bucket "strata-test", logs to
# DIR/s3rver.log, and writes DIR/pid and DIR/endpoint once it accepts
# connections. If DIR already has a running s3rver, prints its endpoint. Stop
# it with stop.sh DIR. Needs tools/setup.sh to have run (npm ci + patch).
set -euo pipefail

die() {
  echo "s3rver/start.sh: $*" >&2
  exit 1
}

[[ $# -ge 1 && $# -le 2 ]] || die "usage: start.sh DIR [PORT]"
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$HERE/node_modules/s3rver/bin/s3rver.js
BUCKET=strata-test
PORT=${2:-0}
mkdir -p "$1"
DIR=$(cd "$1" && pwd)

[[ -f $BIN ]] || die "$BIN is missing; run tools/setup.sh (or npm ci in $HERE)"
grep -q 'strata-patch: if-none-match' "$HERE/node_modules/s3rver/lib/controllers/object.js" ||
  die "s3rver is not patched for If-None-Match; run tools/setup.sh (or node $HERE/patch-s3rver.js)"

# Succeeds when something accepts TCP connections on 127.0.0.1:$1.
accepts() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

is_ours() { # pid: alive and running s3rver
  [[ -r /proc/$1/cmdline ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q 's3rver\.js'
}

if [[ -f $DIR/pid && -f $DIR/endpoint ]]; then
  pid=$(cat "$DIR/pid")
  endpoint=$(cat "$DIR/endpoint")
  if is_ours "$pid" && accepts "${endpoint##*:}"; then
    echo "$endpoint"
    exit 0
  fi
fi
rm -f "$DIR/pid" "$DIR/endpoint"
mkdir -p "$DIR/data"

# --openssl-legacy-provider: s3rver's continuation tokens use DES.
node --openssl-legacy-provider "$BIN" --silent -d "$DIR/data" -a 127.0.0.1 -p "$PORT" \
  --configure-bucket "$BUCKET" </dev/null >"$DIR/s3rver.log" 2>&1 &
pid=$!

# s3rver prints "S3rver listening on 127.0.0.1:PORT" once it listens.
port=
for _ in $(seq 200); do
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" || true
    die "s3rver exited at startup; its log ($DIR/s3rver.log):
$(tail -n 20 "$DIR/s3rver.log")"
  fi
  port=$(sed -n 's/^S3rver listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$DIR/s3rver.log")
  if [[ -n $port ]] && accepts "$port"; then break; fi
  port=
  sleep 0.1
done
if [[ -z $port ]]; then
  kill "$pid" 2>/dev/null || true
  die "s3rver did not start listening within 20 s; see $DIR/s3rver.log"
fi

echo "$pid" >"$DIR/pid"
echo "http://127.0.0.1:$port" >"$DIR/endpoint.tmp"
mv "$DIR/endpoint.tmp" "$DIR/endpoint"
cat "$DIR/endpoint"
