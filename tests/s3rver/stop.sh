#!/usr/bin/env bash
# stop.sh DIR [--purge]: stops the s3rver that start.sh DIR started (by the
# PID in DIR/pid) and waits for it to exit. Quiet, and OK if it is not
# running. --purge also deletes its objects (DIR/data) once it has exited.
set -euo pipefail

if [[ $# -eq 1 || ($# -eq 2 && $2 == --purge) ]]; then
  DIR=$1
  PURGE=${2:-}
else
  echo "usage: stop.sh DIR [--purge]" >&2
  exit 2
fi

# Only signal the PID while it still runs s3rver: it may have been reused.
is_ours() { [[ -r /proc/$1/cmdline ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q 's3rver\.js'; }

gone_within() { # pid tenths-of-a-second
  for _ in $(seq "$2"); do
    is_ours "$1" || return 0
    sleep 0.1
  done
  ! is_ours "$1"
}

if [[ -f $DIR/pid ]]; then
  pid=$(cat "$DIR/pid")
  if [[ $pid =~ ^[0-9]+$ ]] && is_ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    if ! gone_within "$pid" 100; then
      kill -KILL "$pid" 2>/dev/null || true
      gone_within "$pid" 50 || {
        echo "s3rver/stop.sh: s3rver (pid $pid) did not exit" >&2
        exit 1
      }
    fi
  fi
  rm -f "$DIR/pid" "$DIR/endpoint"
fi
if [[ $PURGE == --purge ]]; then rm -rf "$DIR/data"; fi
