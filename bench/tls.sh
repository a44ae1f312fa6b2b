#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib.sh helpers take optional arguments
# bench/tls.sh: what TLS costs a session through the proxy, in one run (as root).
#
#   bash bench/tls.sh
#
# One mount, one database made through the API and filled through the proxy;
# then, alternating plaintext (sslmode=disable) and TLS (sslmode=require,
# the proxy's self-signed certificate) in each round:
#   - select-only TPS through the proxy: pgbench -S -c 8 -j 2, one connection
#     per client for the whole run (the relay's cost per message);
#   - connection setup: pgbench -S -C -c 1, a new connection for every
#     transaction (TCP, TLS handshake, SCRAM, the branch's server forking a
#     backend), as milliseconds per connection.
# Medians over the rounds, and TLS / plaintext.
#
# Environment: BENCH_SECONDS (20), BENCH_ROUNDS (3), BENCH_SCALE (10),
# STRATA_TMPDIR (/var/tmp), STRATA_BIN (build/strata).
set -euo pipefail

BENCH_SECONDS=${BENCH_SECONDS:-20}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_SCALE=${BENCH_SCALE:-10}
export STRATA_TMPDIR=${STRATA_TMPDIR:-/var/tmp}
export TEST_NAME=bench-tls

# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../tests/integration/lib.sh"
# shellcheck source=bench/stats.sh
source "$(dirname "$0")/stats.sh"
require_tools

strata_init
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" --idle-timeout 1h
api POST /v1/branches '{"name":"main","initdb":true}' >/dev/null
C=$(api POST /v1/branches/main/credentials '{"ttl_seconds":86400}')
export PGPASSWORD
PGPASSWORD=$(jq -r .password <<<"$C")
PROXY=$(api GET /v1/status | jq -r .proxy)
CONN="host=127.0.0.1 port=${PROXY##*:} user=$(jq -r .user <<<"$C") dbname=main"
"$PGBIN/pgbench" -i -q -s "$BENCH_SCALE" "$CONN sslmode=disable" >"$LOG_DIR/pgbench-init.log" 2>&1 ||
  { cat "$LOG_DIR/pgbench-init.log"; fail "pgbench -i through the proxy"; }

# run MODE NAME ARGS...: one pgbench through the proxy with sslmode=MODE; its TPS.
run() { pgbench_tps "$LOG_DIR/$2-$1.log" "$CONN sslmode=$1" "${@:3}"; }

declare -A V=()
for ((r = 1; r <= BENCH_ROUNDS; r++)); do
  for mode in disable require; do
    tps=$(run "$mode" select -S -c 8 -j 2)
    conn=$(run "$mode" connect -S -C -c 1)
    V[$mode.tps]+="$(printf %.0f "$tps")"$'\n'
    V[$mode.conn]+="$(awk -v t="$conn" 'BEGIN { printf "%.2f", 1000 / t }')"$'\n'
    log "round $r, sslmode=$mode: select-only $tps tps; $conn connections/s"
  done
done
sessions=$(api GET /v1/status | jq -r '.proxy_stats | "\(.tls_sessions) of \(.sessions)"')
umount_daemon

med() { median <<<"${V[$1]%$'\n'}"; }
echo
echo "TLS through the proxy (scale $BENCH_SCALE, ${BENCH_SECONDS}s runs, median of $BENCH_ROUNDS rounds; $sessions sessions over TLS)"
printf '%-44s %12s %12s %10s\n' metric plaintext TLS "TLS/plain"
printf '%-44s %12s %12s %10s\n' "select-only TPS, -c 8 -j 2" "$(med disable.tps)" \
  "$(med require.tps)" "$(ratio "$(med disable.tps)" "$(med require.tps)")"
printf '%-44s %12s %12s %10s\n' "connection setup, ms (pgbench -C -c 1)" "$(med disable.conn)" \
  "$(med require.conn)" "$(ratio "$(med disable.conn)" "$(med require.conn)")"
echo "  select-only runs: plaintext $(tr '\n' ' ' <<<"${V[disable.tps]}")| TLS $(tr '\n' ' ' <<<"${V[require.tps]}")"
echo "  setup ms runs:    plaintext $(tr '\n' ' ' <<<"${V[disable.conn]}")| TLS $(tr '\n' ' ' <<<"${V[require.conn]}")"
