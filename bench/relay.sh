#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib.sh helpers take optional arguments
# bench/relay.sh: what a session pays when it reaches the branch through
# another daemon's proxy, and how long a branch takes to move (as root).
#
#   bash bench/relay.sh
#
# Two daemons (n1, n2) on one file:// store; one database made through n1's
# API and filled through its proxy. Each round, alternating:
#   - select-only TPS, pgbench -S -c 8 -j 2 (one connection per client for
#     the whole run): through n1's own proxy (local) and through n2's proxy,
#     which relays every byte to n1's (relayed; both over TLS);
#   - connection setup, pgbench -S -C -c 1: a new connection per transaction
#     (local: TLS, SCRAM, a backend fork; relayed: the same plus a second TCP
#     connection, TLS with the holder's pinned certificate and the relay
#     proof), as milliseconds per connection.
# Then BENCH_MOVES moves of the running branch between the two daemons
# (`strata endpoint move`), each timed, and the time from the move's return
# to the first query answered through the other daemon's proxy (its server
# starts there). Medians over the rounds, and relayed / local.
#
# Environment: BENCH_SECONDS (20), BENCH_ROUNDS (3), BENCH_SCALE (10),
# BENCH_MOVES (5), STRATA_TMPDIR (/var/tmp), STRATA_BIN (build/strata).
set -euo pipefail

BENCH_SECONDS=${BENCH_SECONDS:-20}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_SCALE=${BENCH_SCALE:-10}
BENCH_MOVES=${BENCH_MOVES:-5}
export STRATA_TMPDIR=${STRATA_TMPDIR:-/var/tmp}
export TEST_NAME=bench-relay

# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../tests/integration/lib.sh"
# shellcheck source=bench/stats.sh
source "$(dirname "$0")/stats.sh"
require_tools

M2=$ROOT/mnt2
strata_init
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" --node-id n1 --idle-timeout 1h
start_daemon "$STORE_URL" "$M2" "$ROOT/cache2" --node-id n2 --idle-timeout 1h
port_of() { API_MOUNT=$1 api GET /v1/status | jq -r .proxy | sed 's/.*://'; }
declare -A PORT=([n1]=$(port_of "$MNT") [n2]=$(port_of "$M2"))
api POST /v1/branches '{"name":"main","initdb":true}' >/dev/null
C=$(api POST /v1/branches/main/credentials '{"ttl_seconds":86400}')
export PGPASSWORD
PGPASSWORD=$(jq -r .password <<<"$C")
conn() { echo "host=127.0.0.1 port=${PORT[$1]} user=$(jq -r .user <<<"$C") dbname=main sslmode=require"; }
"$PGBIN/pgbench" -i -q -s "$BENCH_SCALE" "$(conn n1)" >"$LOG_DIR/pgbench-init.log" 2>&1 ||
  { cat "$LOG_DIR/pgbench-init.log"; fail "pgbench -i through n1's proxy"; }

# run NODE NAME ARGS...: one pgbench through NODE's proxy; its TPS.
run() { pgbench_tps "$LOG_DIR/$2-$1.log" "$(conn "$1")" "${@:3}"; }

declare -A V=()
for ((r = 1; r <= BENCH_ROUNDS; r++)); do
  for node in n1 n2; do
    tps=$(run "$node" select -S -c 8 -j 2)
    cps=$(run "$node" connect -S -C -c 1)
    V[$node.tps]+="$(printf %.0f "$tps")"$'\n'
    V[$node.conn]+="$(awk -v t="$cps" 'BEGIN { printf "%.2f", 1000 / t }')"$'\n'
    log "round $r through $node: select-only $tps tps; $cps connections/s"
  done
done
relayed=$(API_MOUNT=$M2 api GET /v1/status | jq -r .proxy_stats.relayed_out)

# The branch goes n1 -> n2 -> n1 ...: each move on its holder, then the
# first query through the receiver's proxy.
declare -A MNT_OF=([n1]=$MNT [n2]=$M2)
from=n1
for ((i = 1; i <= BENCH_MOVES; i++)); do
  to=$([[ $from == n1 ]] && echo n2 || echo n1)
  t0=$(now_us)
  strata endpoint move main --to "$to" --mount "${MNT_OF[$from]}" >/dev/null || fail "move to $to"
  t1=$(now_us)
  "$PGBIN/psql" -X -At "$(conn "$to")" -c "select count(*) from pgbench_branches" >/dev/null ||
    fail "first query on $to after the move"
  t2=$(now_us)
  V[move]+="$(((t1 - t0) / 1000))"$'\n'
  V[first]+="$(((t2 - t1) / 1000))"$'\n'
  log "move $i, $from -> $to: $(((t1 - t0) / 1000)) ms; first query on $to $(((t2 - t1) / 1000)) ms later"
  from=$to
done
umount_daemon "$M2"
umount_daemon "$MNT"

med() { median <<<"${V[$1]%$'\n'}"; }
echo
echo "Sessions through another daemon's proxy (scale $BENCH_SCALE, ${BENCH_SECONDS}s runs, median of $BENCH_ROUNDS rounds; n2 relayed $relayed sessions; TLS on every hop)"
printf '%-44s %12s %12s %10s\n' metric local relayed "relay/local"
printf '%-44s %12s %12s %10s\n' "select-only TPS, -c 8 -j 2" "$(med n1.tps)" "$(med n2.tps)" \
  "$(ratio "$(med n1.tps)" "$(med n2.tps)")"
printf '%-44s %12s %12s %10s\n' "connection setup, ms (pgbench -C -c 1)" "$(med n1.conn)" \
  "$(med n2.conn)" "$(ratio "$(med n1.conn)" "$(med n2.conn)")"
echo "  select-only runs: local $(tr '\n' ' ' <<<"${V[n1.tps]}")| relayed $(tr '\n' ' ' <<<"${V[n2.tps]}")"
echo "  setup ms runs:    local $(tr '\n' ' ' <<<"${V[n1.conn]}")| relayed $(tr '\n' ' ' <<<"${V[n2.conn]}")"
echo "endpoint move of the running branch, ms (median of $BENCH_MOVES): $(med move) (runs $(tr '\n' ' ' <<<"${V[move]}"))"
echo "  then the first query through the receiver's proxy, ms: $(med first) (runs $(tr '\n' ' ' <<<"${V[first]}"))"
