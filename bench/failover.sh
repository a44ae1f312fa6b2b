#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib.sh helpers take optional arguments
# bench/failover.sh: how long a branch is unavailable when the daemon that
# holds it dies (as root).
#
#   bash bench/failover.sh
#
# Two daemons (n1, n2) on one file:// store and one walsink on loopback
# (TLS), `--lease-ttl BENCH_TTL`. A database made through n1's API, filled
# and written through n1's proxy (its server runs on n1, `remote` tier).
# Each round: pgbench -c 4 read-write through the holder's proxy for
# BENCH_SECONDS, then kill -9 of the holder daemon and its postgres; from
# the kill, `select count(*) from pgbench_accounts` through the other
# daemon's proxy is tried every 100 ms (a connection to the dead holder's
# proxy fails at once; once its lease has run out the other daemon claims
# the branch, fences the walsink, replays the tail and starts the server,
# which runs crash recovery). Reported: the time from the kill to the first
# answer, median and all rounds; then the dead daemon is mounted again (on
# its own cache directory) and the roles swap.
#
# Environment: BENCH_ROUNDS (5), BENCH_SECONDS (5), BENCH_SCALE (10),
# BENCH_TTL (3s), STRATA_TMPDIR (/var/tmp), STRATA_BIN (build/strata).
set -euo pipefail

BENCH_ROUNDS=${BENCH_ROUNDS:-5}
BENCH_SECONDS=${BENCH_SECONDS:-5}
BENCH_SCALE=${BENCH_SCALE:-10}
BENCH_TTL=${BENCH_TTL:-3s}
export STRATA_TMPDIR=${STRATA_TMPDIR:-/var/tmp}
export TEST_NAME=bench-failover

# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../tests/integration/lib.sh"
# shellcheck source=bench/stats.sh
source "$(dirname "$0")/stats.sh"
require_tools

sink_start
M2=$ROOT/mnt2
declare -A MNT_OF=([n1]=$MNT [n2]=$M2) CACHE_OF=([n1]=$CACHE_DIR [n2]=$ROOT/cache2)
strata_init
# mount NODE: starts the node's daemon on its own mountpoint and cache.
mount_node() {
  start_daemon "$STORE_URL" "${MNT_OF[$1]}" "${CACHE_OF[$1]}" --node-id "$1" --idle-timeout 1h \
    --lease-ttl "$BENCH_TTL" "${SINK_FLAGS[@]}"
}
mount_node n1
mount_node n2
port_of() { API_MOUNT=${MNT_OF[$1]} api GET /v1/status | jq -r .proxy | sed 's/.*://'; }
api POST /v1/branches '{"name":"main","initdb":true}' >/dev/null
C=$(api POST /v1/branches/main/credentials '{"ttl_seconds":86400}')
export PGPASSWORD
PGPASSWORD=$(jq -r .password <<<"$C")
conn() { echo "host=127.0.0.1 port=$(port_of "$1") user=$(jq -r .user <<<"$C") dbname=main sslmode=require"; }
"$PGBIN/pgbench" -i -q -s "$BENCH_SCALE" "$(conn n1)" >"$LOG_DIR/pgbench-init.log" 2>&1 ||
  { cat "$LOG_DIR/pgbench-init.log"; fail "pgbench -i through n1's proxy"; }

# kill_holder NODE: kill -9 the node's daemon and the postgres it runs.
kill_holder() {
  local pid pgs p
  pid=$(daemon_pid "${MNT_OF[$1]}")
  mapfile -t pgs < <(pgrep -P "$pid" -x postgres || true)
  kill -9 "$pid" "${pgs[@]}"
  wait_gone "$pid" 30 || fail "daemon $pid survived kill -9"
  for p in "${pgs[@]}"; do wait_gone "$p" 30 || fail "postgres $p survived kill -9"; done
  unset "DAEMON_PID[${MNT_OF[$1]}]"
  umount -l "${MNT_OF[$1]}" 2>/dev/null || true
}

TIMES=""
holder=n1
for ((r = 1; r <= BENCH_ROUNDS; r++)); do
  other=$([[ $holder == n1 ]] && echo n2 || echo n1)
  tps=$(pgbench_tps "$LOG_DIR/pgbench-$r.log" "$(conn "$holder")" -c 4 -j 2)
  to=$(conn "$other")
  t0=$(now_us)
  kill_holder "$holder"
  tries=0
  until PGCONNECT_TIMEOUT=5 "$PGBIN/psql" -X -At "$to" -c "select count(*) from pgbench_accounts" \
    >"$LOG_DIR/first-$r.txt" 2>&1; do
    tries=$((tries + 1))
    (($(now_us) - t0 < 120000000)) || { cat "$LOG_DIR/first-$r.txt"; fail "no answer from $other 120 s after the kill"; }
    sleep 0.1
  done
  ms=$((($(now_us) - t0) / 1000))
  TIMES+="$ms"$'\n'
  log "round $r: $holder under load ($(printf %.0f "$tps") tps), killed; first answer through $other after $ms ms ($tries refused tries)"
  mount_node "$holder"
  holder=$other
done
umount_daemon "$M2"
umount_daemon "$MNT"

echo
echo "Failover (lease ttl $BENCH_TTL, walsink on loopback, pgbench scale $BENCH_SCALE read-write -c 4 before each kill)"
echo "kill -9 of the holder to the first answer through the other daemon's proxy, ms (median of $BENCH_ROUNDS): $(median <<<"${TIMES%$'\n'}")"
echo "  runs: $(tr '\n' ' ' <<<"$TIMES")"
