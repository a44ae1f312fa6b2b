# shellcheck shell=bash disable=SC2034  # globals here are read by the scripts that source this file
# Shared harness for strata integration tests, the demo and the benchmark.
#
# Source it, then call the helpers. Every process we start is tracked by PID and
# killed by PID in the EXIT trap (never by name); every mount we made is
# unmounted there; the temp root is removed unless STRATA_KEEP_TMP=1.
#
# Environment:
#   STRATA_BIN      path to the strata CLI (default: <repo>/build/strata)
#   LEDGER_BIN      path to the ledger client (default: <repo>/build/tests/ledger)
#   PGBIN           PostgreSQL 15 binaries (default /usr/lib/postgresql/15/bin)
#   STRATA_NATIVE=1 harness development only: no strata at all, "branches" are
#                   plain directories under $MNT (branching/snapshots fail).
#   STRATA_ROOT     use this directory as the root instead of a fresh mktemp -d
#                   (it is then kept at exit; the demo uses ./.strata-demo)
#   STRATA_TMPDIR   parent of the mktemp root (default /tmp)
#   STRATA_KEEP_TMP=1 keep the temp root at exit (for post-mortems)
#   STRATA_STORE=s3 keep the store in a real S3-compatible server (s3rver on
#                   loopback, started here and stopped by PID at exit) instead
#                   of a file:// directory

set -euo pipefail

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$LIB_DIR/../.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
STRATA_BIN=${STRATA_BIN:-$REPO_DIR/build/strata}
LEDGER_BIN=${LEDGER_BIN:-$REPO_DIR/build/tests/ledger}
STRATA_NATIVE=${STRATA_NATIVE:-0}
STRATA_STORE=${STRATA_STORE:-file}
TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}
[[ "$STRATA_STORE" == s3 && "$TEST_NAME" != *.s3 ]] && TEST_NAME=$TEST_NAME.s3
PG_USER=${PG_USER:-postgres}

# ---------------------------------------------------------------- logging --

log() { printf '[%s %s] %s\n' "$(date +%H:%M:%S)" "$TEST_NAME" "$*"; }
check() { printf '[%s %s] CHECK: %s\n' "$(date +%H:%M:%S)" "$TEST_NAME" "$*"; }
ok() { printf '[%s %s]   ok: %s\n' "$(date +%H:%M:%S)" "$TEST_NAME" "$*"; }
fail() {
  printf '[%s %s] FAIL: %s\n' "$(date +%H:%M:%S)" "$TEST_NAME" "$*" >&2
  exit 1
}
# skip REASON: the machine cannot run this test (ctest counts exit 77 as
# skipped); only for a missing capability, never for a wrong result.
skip() {
  printf '[%s %s] SKIP: %s\n' "$(date +%H:%M:%S)" "$TEST_NAME" "$*" >&2
  exit 77
}
# now_ms: wall clock in milliseconds.
now_ms() { echo $(($(date +%s%N) / 1000000)); }
now_us() { echo $(($(date +%s%N) / 1000)); }

# ------------------------------------------------------------- temp root --

if [[ -n "${STRATA_ROOT:-}" ]]; then
  ROOT=$STRATA_ROOT
  mkdir -p "$ROOT"
  ROOT_IS_TEMP=0
else
  ROOT=$(mktemp -d "${STRATA_TMPDIR:-/tmp}/strata-${TEST_NAME}.XXXXXX")
  ROOT_IS_TEMP=1
fi
ROOT=$(cd "$ROOT" && pwd)
chmod 755 "$ROOT"
STORE_DIR=${STRATA_STORE_DIR:-$ROOT/store}
STORE_URL=file://$STORE_DIR
S3_DIR=$ROOT/s3rver   # s3rver's pid, endpoint, log and objects (STRATA_STORE=s3)
S3_ENDPOINT=
SINK_DIR=$ROOT/walsink # `strata walsink serve`: its data, port file and log (sink_start)
SINK_ADDR=
SINK_PID=
SINK_FLAGS=()        # the mount's flags for the walsink sink_start runs
SINK_INSECURE=${SINK_INSECURE:-0} # 1: sink_start serves plaintext (raw-frame tests)
MNT=$ROOT/mnt
CACHE_DIR=$ROOT/cache
LOG_DIR=$ROOT/log     # daemon + postgres logs (outside the mount)
SOCK_DIR=$ROOT/sock   # unix sockets of every postgres we start
SOCK_DIR_IS_TEMP=0
if ((${#SOCK_DIR} > 80)); then # sun_path is 108 bytes, keep room for .s.PGSQL.NNNNN
  SOCK_DIR=$(mktemp -d /tmp/strata-sock.XXXXXX)
  SOCK_DIR_IS_TEMP=1
fi
DAEMON_LOG=$LOG_DIR/strata-daemon.log
mkdir -p "$LOG_DIR" "$SOCK_DIR"
chown "$PG_USER:" "$LOG_DIR" "$SOCK_DIR"
chmod 777 "$LOG_DIR"
chmod 755 "$SOCK_DIR"
export STRATA_MOUNT=$MNT

# Tracked state.
declare -a TRACKED_PIDS=()        # background jobs and daemons
declare -a TRACKED_MOUNTS=()      # mountpoints we mounted
declare -a TRACKED_NETNS=()       # network namespaces we made (netns_add)
declare -a TRACKED_LINKS=()       # bridges and veths we made (netns_bridge, netns_add)
declare -A PG_PORT=()             # datadir -> port of a running server
declare -A PG_PID=()              # datadir -> postmaster pid
declare -A PG_LOG=()              # datadir -> server log file
declare -A DAEMON_PID=()          # mountpoint -> strata daemon pid
declare -A DAEMON_LOGS=()         # mountpoint -> daemon log
declare -A DAEMON_CACHE=()        # mountpoint -> cache dir

track_pid() { TRACKED_PIDS+=("$1"); }

pid_alive() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; }

# kill_tree SIG PID: PID and its direct children (found by parent PID).
kill_tree() {
  local sig=$1 pid=$2 child
  pid_alive "$pid" || return 0
  for child in $(pgrep -P "$pid" 2>/dev/null || true); do
    kill "-$sig" "$child" 2>/dev/null || true
  done
  kill "-$sig" "$pid" 2>/dev/null || true
}

# wait_gone PID SECONDS: wait for a (non-child) process to exit.
wait_gone() {
  local pid=$1 secs=${2:-30} i
  for ((i = 0; i < secs * 10; i++)); do
    pid_alive "$pid" || return 0
    sleep 0.1
  done
  return 1
}

# --------------------------------------------------------------- cleanup --

dump_diagnostics() {
  local f dd
  echo "---------------- diagnostics ($TEST_NAME, root $ROOT) ----------------" >&2
  for f in "${DAEMON_LOGS[@]}" "$DAEMON_LOG"; do
    if [[ -s "$f" ]]; then
      echo "--- tail of strata daemon log $f" >&2
      tail -n 60 "$f" >&2 || true
    fi
  done
  for f in "$LOG_DIR"/pg-*.log; do
    [[ -s "$f" ]] || continue
    echo "--- tail of postgres log $f" >&2
    tail -n 40 "$f" >&2 || true
  done
  for dd in "${!PG_PORT[@]}"; do
    echo "--- server still registered: $dd port ${PG_PORT[$dd]}" >&2
  done
  echo "-----------------------------------------------------------------------" >&2
}

lib_cleanup() {
  local rc=$? pid dd m
  set +e
  trap - EXIT INT TERM
  if ((rc != 0 && rc != 77)); then
    dump_diagnostics
  fi
  # 1. postgres servers: immediate stop, then SIGKILL the postmaster and children.
  for dd in "${!PG_PID[@]}"; do
    pid=${PG_PID[$dd]}
    if pid_alive "$pid"; then
      timeout 20 runuser -u "$PG_USER" -- "$PGBIN/pg_ctl" -D "$dd" -m immediate -w -t 15 stop \
        >/dev/null 2>&1
      kill_tree KILL "$pid"
    fi
  done
  # 2. background jobs (pgbench, ledger writers, ...).
  for pid in "${TRACKED_PIDS[@]}"; do
    kill_tree TERM "$pid"
  done
  sleep 0.2
  for pid in "${TRACKED_PIDS[@]}"; do
    kill_tree KILL "$pid"
  done
  # 3. our mounts: polite umount, then lazy unmount, then the daemon by PID.
  for m in "${TRACKED_MOUNTS[@]}"; do
    if mountpoint -q "$m" 2>/dev/null; then
      if [[ "$STRATA_NATIVE" != 1 ]]; then
        timeout 60 "$STRATA_BIN" umount "$m" >/dev/null 2>&1
      fi
      mountpoint -q "$m" 2>/dev/null && { fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; }
    fi
  done
  for m in "${!DAEMON_PID[@]}"; do
    pid=${DAEMON_PID[$m]}
    if pid_alive "$pid"; then
      kill -TERM "$pid" 2>/dev/null
      wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null
    fi
  done
  # 3b. network namespaces and links a test made (netns_add, netns_bridge).
  for m in "${TRACKED_NETNS[@]}"; do ip netns del "$m" 2>/dev/null; done
  for m in "${TRACKED_LINKS[@]}"; do ip link del "$m" 2>/dev/null; done
  # 4. the walsink and S3 servers, once every daemon has flushed.
  if pid_alive "$SINK_PID"; then
    kill -TERM "$SINK_PID" 2>/dev/null
    wait_gone "$SINK_PID" 10 || kill -KILL "$SINK_PID" 2>/dev/null
  fi
  [[ -n "$S3_ENDPOINT" ]] && bash "$REPO_DIR/tests/s3rver/stop.sh" "$S3_DIR" >/dev/null 2>&1
  # 5. the temp root (never while something is still mounted below it).
  if ((ROOT_IS_TEMP)) && [[ "${STRATA_KEEP_TMP:-0}" != 1 ]]; then
    if grep -q " ${ROOT}/" /proc/self/mounts 2>/dev/null; then
      echo "[$TEST_NAME] not removing $ROOT: something is still mounted below it" >&2
    else
      rm -rf "$ROOT"
    fi
  else
    echo "[$TEST_NAME] kept $ROOT" >&2
  fi
  ((SOCK_DIR_IS_TEMP)) && rm -rf "$SOCK_DIR"
  if ((rc == 0)); then
    log "PASS"
  elif ((rc == 77)); then
    log "SKIPPED"
  else
    echo "[$TEST_NAME] FAILED (exit $rc)" >&2
  fi
  exit "$rc"
}
trap lib_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------- s3 --

# s3_start: start (or restart, on the same port) the test's s3rver and point
# STORE_URL at a bucket prefix named after the test.
s3_start() {
  local port=${S3_ENDPOINT##*:}
  S3_ENDPOINT=$(bash "$REPO_DIR/tests/s3rver/start.sh" "$S3_DIR" ${S3_ENDPOINT:+"$port"}) ||
    fail "could not start s3rver (see $S3_DIR/s3rver.log)"
  STORE_URL="s3://strata-test/${TEST_NAME//./-}?endpoint=$S3_ENDPOINT"
  log "s3rver (pid $(cat "$S3_DIR/pid")) at $S3_ENDPOINT"
}

# s3_stop: stop the test's s3rver by its PID (the store becomes unreachable).
s3_stop() {
  bash "$REPO_DIR/tests/s3rver/stop.sh" "$S3_DIR" || fail "could not stop s3rver"
  log "s3rver stopped"
}

if [[ "$STRATA_STORE" == s3 ]]; then
  # s3rver checks the access key (S3RVER), not the signature: AWS's vectors cover that.
  export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
  unset AWS_SESSION_TOKEN AWS_PROFILE
  s3_start
elif [[ "$STRATA_STORE" != file ]]; then
  fail "STRATA_STORE must be file or s3, not $STRATA_STORE"
fi

# --------------------------------------------------------------- walsink --

# sink_start [ARGS...]: start `strata walsink serve` on loopback (again on the
# same port after sink_stop), keeping its data in $SINK_DIR/data: over TLS
# (its self-signed certificate) with a token ($SINK_DIR/token), or plaintext
# without one if SINK_INSECURE=1. ARGS go to the server. Sets SINK_ADDR, and
# SINK_FLAGS to the mount flags that reach it.
sink_start() {
  local port=0 i access
  [[ -n "$SINK_ADDR" ]] && port=${SINK_ADDR##*:}
  mkdir -p "$SINK_DIR"
  rm -f "$SINK_DIR/port"
  access=(--token-file "$SINK_DIR/token")
  [[ "$SINK_INSECURE" == 1 ]] && access=(--insecure)
  "$STRATA_BIN" walsink serve --dir "$SINK_DIR/data" --listen "127.0.0.1:$port" \
    --port-file "$SINK_DIR/port" "${access[@]}" "$@" >>"$LOG_DIR/walsink.log" 2>&1 &
  SINK_PID=$!
  for i in $(seq 1 100); do
    [[ -s "$SINK_DIR/port" ]] && break
    pid_alive "$SINK_PID" || fail "strata walsink serve exited (see $LOG_DIR/walsink.log)"
    sleep 0.1
  done
  [[ -s "$SINK_DIR/port" ]] || fail "strata walsink serve did not start listening"
  SINK_ADDR=127.0.0.1:$(cat "$SINK_DIR/port")
  SINK_FLAGS=(--sink "$SINK_ADDR" --sink-token-file "$SINK_DIR/token" --sink-ca "$SINK_DIR/data/tls.crt")
  [[ "$SINK_INSECURE" == 1 ]] && SINK_FLAGS=(--sink "$SINK_ADDR" --sink-insecure)
  log "walsink (pid $SINK_PID) at $SINK_ADDR ($([[ "$SINK_INSECURE" == 1 ]] && echo plaintext || echo TLS))"
}

# sink_stop [SIGNAL]: stop the walsink server by PID (TERM by default; KILL
# for a crash). The address is kept for sink_start.
sink_stop() {
  local sig=${1:-TERM}
  pid_alive "$SINK_PID" || fail "no walsink server to stop"
  kill -"$sig" "$SINK_PID"
  wait_gone "$SINK_PID" 20 || fail "walsink $SINK_PID did not exit after SIG$sig"
  log "walsink stopped (SIG$sig)"
}

# ---------------------------------------------------------------- strata --

# strata ARGS...: the CLI; output passes through.
strata() {
  [[ "$STRATA_NATIVE" == 1 ]] && fail "strata $* is not available with STRATA_NATIVE=1"
  "$STRATA_BIN" "$@"
}

# jres: unwrap {"ok":true,"result":X} if the CLI printed the raw daemon answer.
jres() { jq -c 'if type == "object" and has("ok") and has("result") then .result else . end'; }

# strata_json ARGS...: run a --json command and print its (unwrapped) result.
strata_json() { strata "$@" --json | jres; }

# require_tools [ledger]: what every test needs; "ledger" adds the ledger client.
require_tools() {
  local t
  if [[ "${1:-}" == ledger ]]; then
    [[ -x "$LEDGER_BIN" ]] || fail "ledger client not found at $LEDGER_BIN (set LEDGER_BIN)"
  fi
  for t in jq curl runuser mountpoint pgrep "$PGBIN/pg_ctl" "$PGBIN/initdb" "$PGBIN/psql" "$PGBIN/pgbench"; do
    command -v "$t" >/dev/null 2>&1 || fail "missing tool: $t (run tools/setup.sh)"
  done
  if [[ "$STRATA_NATIVE" != 1 ]]; then
    [[ -x "$STRATA_BIN" ]] || fail "strata CLI not found at $STRATA_BIN (build first, or set STRATA_BIN)"
    [[ -e /dev/fuse ]] || fail "/dev/fuse missing (modprobe fuse)"
  fi
  [[ $(id -u) == 0 ]] || fail "integration tests run as root (they run postgres via runuser -u $PG_USER)"
}

# strata_init [URL]
strata_init() {
  local url=${1:-$STORE_URL}
  [[ "$STRATA_NATIVE" == 1 ]] && return 0
  strata init "$url"
}

# start_daemon [URL [MOUNTPOINT [CACHE_DIR [MOUNT_OPTION...]]]]: mount and
# record the daemon PID. Options after the third argument go to strata mount.
start_daemon() {
  local url=${1:-$STORE_URL} m=${2:-$MNT} cache=${3:-$CACHE_DIR} pid dlog
  shift $(($# < 3 ? $# : 3))
  mkdir -p "$m"
  chmod 755 "$m"
  TRACKED_MOUNTS+=("$m")
  if [[ "$STRATA_NATIVE" == 1 ]]; then
    return 0
  fi
  dlog=$LOG_DIR/strata-daemon-$(basename "$m").log
  [[ "$m" == "$MNT" ]] && dlog=$DAEMON_LOG
  DAEMON_LOGS[$m]=$dlog
  mkdir -p "$cache"
  local t0
  t0=$(now_ms)
  # Any free ports for the proxy and the API unless the caller picks them.
  local ports=(--proxy 127.0.0.1:0 --api 127.0.0.1:0)
  [[ " $* " == *" --proxy "* || " $* " == *" --api "* ]] && ports=()
  # DAEMON_NETNS=NAME: the daemon runs in that network namespace (its mount
  # stays in ours: nsenter enters the network namespace only).
  local run=(strata)
  [[ -n "${DAEMON_NETNS:-}" ]] && run=(nsenter "--net=/run/netns/$DAEMON_NETNS" "$STRATA_BIN")
  "${run[@]}" mount "$url" "$m" --cache-dir "$cache" --log-file "$dlog" "${ports[@]}" "$@" ||
    fail "strata mount $url $m $* failed"
  DAEMON_CACHE[$m]=$cache
  mountpoint -q "$m" || fail "strata mount returned but $m is not a mountpoint"
  pid=$(strata status --mount "$m" --json | jres | jq -r '.pid')
  [[ "$pid" =~ ^[0-9]+$ ]] || fail "strata status --json gave no daemon pid"
  DAEMON_PID[$m]=$pid
  log "mounted $url on $m${*:+ with $*} in $(($(now_ms) - t0)) ms (daemon pid $pid)"
}

# umount_daemon [MOUNTPOINT]: strata umount, wait for the daemon to exit.
umount_daemon() {
  local m=${1:-$MNT} pid
  if [[ "$STRATA_NATIVE" == 1 ]]; then
    return 0
  fi
  pid=${DAEMON_PID[$m]:-}
  strata umount "$m" || fail "strata umount $m failed"
  mountpoint -q "$m" && fail "$m is still mounted after strata umount"
  if [[ -n "$pid" ]]; then
    wait_gone "$pid" 60 || fail "daemon $pid did not exit after umount"
    unset "DAEMON_PID[$m]"
  fi
  log "unmounted $m"
}

# _api_call METHOD PATH [JSON]: one control-API request over the daemon's
# unix socket (docs/api.md); prints the HTTP status, a newline, the body.
# The mount is $API_MOUNT, else $MNT.
_api_call() {
  local method=$1 path=$2 body=${3:-} m=${API_MOUNT:-$MNT} out
  local sock="${DAEMON_CACHE[$m]:-$CACHE_DIR}/control.sock"
  out=$(curl -sS --unix-socket "$sock" -X "$method" -H 'Content-Type: application/json' \
    ${body:+--data-binary "$body"} -w '\n%{http_code}' "http://strata$path") ||
    fail "api $method $path: curl failed"
  printf '%s\n%s\n' "${out##*$'\n'}" "${out%$'\n'*}"
}
# api METHOD PATH [JSON]: prints the body; fails the test on a 4xx/5xx.
api() {
  local out status
  out=$(_api_call "$@")
  status=${out%%$'\n'*}
  ((status < 400)) || fail "api $1 $2 ${3:-}: HTTP $status: ${out#*$'\n'}"
  printf '%s\n' "${out#*$'\n'}"
}
# api_expect STATUS METHOD PATH [JSON]: prints the body; fails the test unless
# the answer has that HTTP status.
api_expect() {
  local want=$1 out status
  shift
  out=$(_api_call "$@")
  status=${out%%$'\n'*}
  [[ "$status" == "$want" ]] || fail "api $1 $2 ${3:-}: HTTP $status, expected $want: ${out#*$'\n'}"
  printf '%s\n' "${out#*$'\n'}"
}

# until_ok SECONDS CMD...: CMD until it succeeds, for at most SECONDS.
until_ok() {
  local deadline=$(($(date +%s) + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    (($(date +%s) < deadline)) || return 1
    sleep 0.2
  done
}
# listed_on MOUNTPOINT BRANCH: succeeds once that mount's daemon lists BRANCH.
listed_on() { strata branch list --mount "$1" --json | jres | jq -e --arg b "$2" 'any(.[]; .name == $b)'; }
# holder_on MOUNTPOINT BRANCH: the node holding BRANCH's lease, as that daemon says, or "nobody".
holder_on() { strata branch show "$2" --mount "$1" --json | jres | jq -r '.holder.node // "nobody"'; }
# lease_free_on MOUNTPOINT BRANCH: that mount's daemon may claim BRANCH now
# (it holds it, or its holder is not alive).
lease_free_on() {
  strata branch show "$2" --mount "$1" --json | jres | jq -e '.holder.here or (.holder.alive | not)' >/dev/null
}
# node_dead_on MOUNTPOINT NODE: that mount's daemon lists NODE as not alive.
node_dead_on() {
  strata node list --mount "$1" --json | jres | jq -e --arg n "$2" 'any(.[]; .id == $n and (.alive | not))' >/dev/null
}

# netns_bridge NAME CIDR: a bridge here with address CIDR (e.g. 10.213.7.1/24),
# deleted at exit. Needs CAP_NET_ADMIN.
netns_bridge() {
  ip link add "$1" type bridge || fail "ip link add $1 type bridge"
  TRACKED_LINKS+=("$1")
  ip addr add "$2" dev "$1" || fail "ip addr add $2 dev $1"
  ip link set "$1" up || fail "ip link set $1 up"
}
# netns_add NAME BRIDGE CIDR: a network namespace with loopback up and one
# veth, eth0 at CIDR, whose peer is on BRIDGE; deleted at exit.
netns_add() {
  local ns=$1 br=$2 cidr=$3 peer=stv${#TRACKED_NETNS[@]}-$$
  ip netns add "$ns" || fail "ip netns add $ns"
  TRACKED_NETNS+=("$ns")
  ip link add "$peer" type veth peer name eth0 netns "$ns" || fail "veth $peer into $ns"
  TRACKED_LINKS+=("$peer")
  ip link set "$peer" master "$br" up || fail "ip link set $peer master $br up"
  ip -n "$ns" link set lo up || fail "lo up in $ns"
  ip -n "$ns" addr add "$cidr" dev eth0 || fail "ip addr add $cidr in $ns"
  ip -n "$ns" link set eth0 up || fail "eth0 up in $ns"
}

# daemon_pid [MOUNTPOINT]: the live daemon's pid according to strata status.
# on_branch BRANCH CMD...: CMD with PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE
# set to open BRANCH through the daemon's proxy at 127.0.0.1:$PPORT (the
# caller sets PPORT), with a credential issued for it.
on_branch() {
  local branch=$1 c
  shift
  c=$(api POST "/v1/branches/$branch/credentials" '{}')
  PGHOST=127.0.0.1 PGPORT=$PPORT PGUSER=$(jq -r .user <<<"$c") PGPASSWORD=$(jq -r .password <<<"$c") \
    PGDATABASE=$branch PGCONNECT_TIMEOUT=60 "$@"
}
# branch_sql BRANCH SQL: SQL on BRANCH through the proxy, unaligned, tuples only.
branch_sql() { on_branch "$1" "$PGBIN/psql" -X -At -v ON_ERROR_STOP=1 -c "$2"; }
# endpoint_suspend BRANCH: stops BRANCH's server (a shutdown checkpoint).
endpoint_suspend() { api POST "/v1/branches/$1/endpoint/suspend" >/dev/null; }

daemon_pid() { strata status --mount "${1:-$MNT}" --json | jres | jq -r '.pid'; }

# kill_daemon [MOUNTPOINT]: kill -9 the daemon (a crash), wait for it, and
# lazy-unmount the dead mount so start_daemon can mount there again.
kill_daemon() {
  local m=${1:-$MNT} pid
  pid=$(daemon_pid "$m")
  [[ "$pid" =~ ^[0-9]+$ ]] || fail "no daemon pid from strata status"
  kill -9 "$pid"
  wait_gone "$pid" 30 || fail "daemon $pid still alive after kill -9"
  unset "DAEMON_PID[$m]"
  umount -l "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || true
  mountpoint -q "$m" && fail "$m still mounted after lazy unmount"
  log "killed strata daemon $pid (kill -9) and lazy-unmounted $m"
}

# branch_seq BRANCH: the branch's current op seq (strata status).
branch_seq() {
  strata status --json | jres | jq -er --arg b "$1" '.branches[] | select(.name == $b) | .seq'
}

# create_root_branch NAME: a new, empty root branch owned by postgres.
create_root_branch() {
  local name=$1
  if [[ "$STRATA_NATIVE" == 1 ]]; then
    mkdir -p "$MNT/$name"
    chown "$PG_USER:" "$MNT/$name"
    return 0
  fi
  strata branch create "$name" --chown "$PG_USER" >/dev/null || fail "branch create $name failed"
  [[ -d "$MNT/$name" ]] || fail "new branch $name does not show up as $MNT/$name"
}

# timed_json CMD...: run a strata --json command; sets TJ_WALL_US (wall clock
# around the CLI call), TJ_US (the answer's elapsed_us, "" if absent) and TJ_OUT.
TJ_WALL_US=0
TJ_US=
TJ_OUT=
timed_json() {
  local t0 t1
  t0=$(now_us)
  TJ_OUT=$(strata "$@" --json) || fail "strata $* failed"
  t1=$(now_us)
  TJ_WALL_US=$((t1 - t0))
  TJ_US=$(jres <<<"$TJ_OUT" | jq -r '.elapsed_us // empty')
}

# fmt_ms MICROSECONDS: "12.345" (milliseconds, 3 decimals).
fmt_ms() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

# -------------------------------------------------------------- postgres --

# datadir BRANCH_OR_PATH: an absolute path is used as is, else MNT/BRANCH.
datadir() { if [[ "$1" == /* ]]; then echo "$1"; else echo "$MNT/$1"; fi; }

as_pg() { runuser -u "$PG_USER" -- "$@"; }

# Settings for every cluster we create (the strata-recommended ones).
PG_EXTRA_CONF=${PG_EXTRA_CONF:-}
pg_settings() {
  cat <<EOF

# --- added by strata tests (recommended settings for clusters on strata)
wal_recycle = off
wal_init_zero = off
dynamic_shared_memory_type = posix
listen_addresses = ''
unix_socket_directories = '$SOCK_DIR'
logging_collector = off
log_min_messages = warning
log_checkpoints = on
fsync = on
max_connections = 50
$PG_EXTRA_CONF
EOF
}

# pg_init BRANCH: initdb --data-checksums as postgres, then append settings.
pg_init() {
  local dd t0
  dd=$(datadir "$1")
  [[ -d "$dd" ]] || fail "pg_init: $dd does not exist"
  t0=$(now_ms)
  as_pg "$PGBIN/initdb" --data-checksums -U postgres --auth=trust -E UTF8 --locale=C -D "$dd" \
    >"$LOG_DIR/initdb-$(basename "$dd").log" 2>&1 ||
    { tail -n 30 "$LOG_DIR/initdb-$(basename "$dd").log" >&2; fail "initdb on $dd failed"; }
  pg_settings | as_pg tee -a "$dd/postgresql.conf" >/dev/null
  log "initdb --data-checksums on $dd: $(($(now_ms) - t0)) ms"
}

# pg_start BRANCH PORT: start a server (waits until it accepts connections;
# crash recovery included).
pg_start() {
  local dd port=$2 lf pid t0
  dd=$(datadir "$1")
  lf=$LOG_DIR/pg-$(basename "$dd").log
  touch "$lf"
  chown "$PG_USER:" "$lf"
  t0=$(now_ms)
  if ! as_pg "$PGBIN/pg_ctl" -D "$dd" -l "$lf" -o "-p $port" -w -t 600 start >/dev/null; then
    tail -n 40 "$lf" >&2
    fail "postgres on $dd (port $port) did not start"
  fi
  pid=$(head -n 1 "$dd/postmaster.pid")
  PG_PORT[$dd]=$port
  PG_PID[$dd]=$pid
  PG_LOG[$dd]=$lf
  log "postgres on $dd up on port $port (pid $pid) in $(($(now_ms) - t0)) ms"
}

# pg_stop BRANCH [MODE]: clean shutdown (fast by default).
pg_stop() {
  local dd mode=${2:-fast}
  dd=$(datadir "$1")
  as_pg "$PGBIN/pg_ctl" -D "$dd" -m "$mode" -w -t 300 stop >/dev/null ||
    fail "pg_ctl stop on $dd failed"
  unset "PG_PORT[$dd]" "PG_PID[$dd]"
  log "postgres on $dd stopped ($mode)"
}

# pg_forget BRANCH: the server was killed on purpose; stop tracking it.
pg_forget() {
  local dd
  dd=$(datadir "$1")
  unset "PG_PORT[$dd]" "PG_PID[$dd]"
}

# kill_pg BRANCH: kill -9 the branch's postmaster and every backend (a power
# loss takes them all), and wait until they are gone.
kill_pg() {
  local dd pm backends b
  dd=$(datadir "$1")
  pm=${PG_PID[$dd]:-}
  [[ -n "$pm" ]] || fail "kill_pg: no postgres running on $dd"
  backends=$(pgrep -P "$pm" | tr '\n' ' ' || true)
  kill -9 "$pm" 2>/dev/null || true
  for b in $backends; do kill -9 "$b" 2>/dev/null || true; done
  wait_gone "$pm" 30 || fail "postmaster $pm still alive"
  for b in $backends; do wait_gone "$b" 30 || fail "backend $b still alive"; done
  pg_forget "$1"
  log "killed postmaster $pm and its children (kill -9)"
}

# pgb_init PORT SCALE: pgbench -i -s SCALE; on failure, show its log and fail.
pgb_init() {
  local f=$LOG_DIR/pgbench-init-$1.log
  pgb "$1" -i -s "$2" -q >"$f" 2>&1 || { tail -n 20 "$f" >&2; fail "pgbench -i -s $2 on port $1 failed"; }
}

# pg_setup BRANCH_OR_DATADIR PORT SCALE: initdb, start, pgbench -i -s SCALE.
pg_setup() {
  pg_init "$1"
  pg_start "$1" "$2"
  pgb_init "$2" "$3"
}

# load_start PORT LEDGER TAG: the ledger writer (ids from TAG * 10^7) and
# pgbench -c 2 in the background, until a crash ends them (or 120 s).
load_start() {
  local port=$1 ledger=$2 tag=$3
  "$LEDGER_BIN" write "$(conninfo "$port")" "$ledger" --seconds 120 --start $((tag * 10000000)) \
    >"$LOG_DIR/ledger-$tag.log" 2>&1 &
  LOAD_W_PID=$!
  track_pid "$LOAD_W_PID"
  pgb "$port" -c 2 -j 1 -T 120 >"$LOG_DIR/pgbench-$tag.log" 2>&1 &
  LOAD_B_PID=$!
  track_pid "$LOAD_B_PID"
}

# load_wait TAG: after the crash, reap the load; the ledger writer must have
# stopped cleanly (it stops at the first connection error).
load_wait() {
  wait "$LOAD_W_PID" || fail "ledger writer failed (see $LOG_DIR/ledger-$1.log)"
  tail -n 1 "$LOG_DIR/ledger-$1.log"
  wait "$LOAD_B_PID" || true # pgbench fails by design
}

# psql_q PORT SQL [DB]: one query, unaligned tuples only, stops on error.
psql_q() {
  as_pg "$PGBIN/psql" -h "$SOCK_DIR" -p "$1" -d "${3:-postgres}" -X -A -t -q \
    -v ON_ERROR_STOP=1 -c "$2"
}

# pgb PORT ARGS...: pgbench against database postgres.
pgb() {
  local port=$1
  shift
  as_pg "$PGBIN/pgbench" -h "$SOCK_DIR" -p "$port" "$@" postgres
}

# conninfo PORT: a libpq conninfo string for the ledger client.
conninfo() { echo "host=$SOCK_DIR port=$1 dbname=postgres user=postgres"; }

# amcheck PORT: pg_amcheck --heapallindexed on every database; fails loudly.
# Corruption reports go to stdout; NOTICEs (extension exists) are ignored.
amcheck() {
  local out err rc=0
  err=$(mktemp)
  out=$(as_pg "$PGBIN/pg_amcheck" -h "$SOCK_DIR" -p "$1" -U postgres --all --install-missing \
    --heapallindexed 2>"$err") || rc=$?
  grep -v -e '^NOTICE:' "$err" >&2 || true
  rm -f "$err"
  if ((rc != 0)) || [[ -n "$out" ]]; then
    echo "$out" >&2
    fail "pg_amcheck on port $1 reported problems (exit $rc)"
  fi
  ok "pg_amcheck --heapallindexed --all clean (port $1)"
}

# checksums BRANCH: pg_checksums --check on a stopped cluster.
checksums() {
  local dd out
  dd=$(datadir "$1")
  out=$(as_pg "$PGBIN/pg_checksums" --check -D "$dd" 2>&1) ||
    { echo "$out" >&2; fail "pg_checksums --check on $dd failed"; }
  ok "pg_checksums --check $dd: $(grep -E 'Bad checksums' <<<"$out" | tr -s ' ')"
}

# tree_digest DIR: sha256 of every regular file + type/size/mode of every entry.
tree_digest() {
  local d=$1
  (
    cd "$d" &&
      find . -mindepth 1 ! -name postmaster.pid -printf '%y %m %U %G %p %l\n' | LC_ALL=C sort &&
      find . -type f ! -name postmaster.pid -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
  )
}

# flip_byte FILE OFFSET: xor one byte of FILE with 0x01, in place.
flip_byte() {
  local f=$1 off=$2 b
  b=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' ')
  [[ -n "$b" ]] || fail "flip_byte: $f has no byte at $off"
  printf "$(printf '\\%03o' $((b ^ 1)))" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}

# file_digests DIR: "sha256  path" of every regular file, or "EIO  path" for
# a file that cannot be read (postmaster.pid excluded).
file_digests() {
  local f sum
  (
    cd "$1" &&
      find . -type f ! -name postmaster.pid -print0 | LC_ALL=C sort -z |
      while IFS= read -r -d '' f; do
        if sum=$(sha256sum <"$f" 2>/dev/null); then
          echo "${sum%% *}  $f"
        else
          echo "EIO  $f"
        fi
      done
  )
}
