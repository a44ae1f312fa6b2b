#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib.sh helpers take optional arguments
# bench/coldstart.sh: cold start of a branch's endpoint through the proxy,
# side by side with native ext4, in one run (as root).
#
#   bash bench/coldstart.sh
#
# Each figure is connect-to-first-row: the wall time of one psql process that
# connects and reads one row of pgbench_branches (psql's own start-up, a few
# ms, is in every side alike).
#   - native: a stopped cluster on ext4; `pg_ctl start -w` then psql (what
#     an agent pays to bring a stock server up).
#   - suspended: the branch's endpoint is suspended through the API, then
#     psql through the proxy wakes it.
#   - after restart: the daemon is unmounted and mounted again (its memory
#     and its servers gone; the L2 cache and the index stay), then psql.
# Medians and p99 over the runs; the daemon's own start time (postgres
# started and ready) from the endpoint object is shown too.
#
# Environment: BENCH_COLD_RUNS (20), BENCH_RESTART_RUNS (5), BENCH_SCALE (10),
# STRATA_TMPDIR (/var/tmp), STRATA_BIN (build/strata).
set -euo pipefail

BENCH_COLD_RUNS=${BENCH_COLD_RUNS:-20}
BENCH_RESTART_RUNS=${BENCH_RESTART_RUNS:-5}
BENCH_SCALE=${BENCH_SCALE:-10}
export STRATA_TMPDIR=${STRATA_TMPDIR:-/var/tmp}
export TEST_NAME=bench-coldstart

# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../tests/integration/lib.sh"
# shellcheck source=bench/stats.sh
source "$(dirname "$0")/stats.sh"
require_tools

P_NATIVE=55481
QUERY="SELECT count(*) FROM pgbench_branches"
declare -A R=()

# first_row_ms CONNINFO: wall ms of one psql connect + query; checks the row.
first_row_ms() {
  local t0 out
  t0=$(now_us)
  out=$(PGCONNECT_TIMEOUT=60 "$PGBIN/psql" -X -At -c "$QUERY" "$1" 2>&1) ||
    fail "psql $1: $out"
  [[ "$out" == "$BENCH_SCALE" ]] || fail "psql $1 read '$out', expected $BENCH_SCALE"
  fmt_ms $(($(now_us) - t0))
}

# summarize SIDE VALUES: median and p99 into R.
summarize() {
  R[$1.med]=$(median <<<"$2" | xargs printf "%.1f")
  R[$1.p99]=$(p99 <<<"$2" | xargs printf "%.1f")
  R[$1.n]=$(wc -l <<<"$2")
  log "[$1] connect-to-first-row over ${R[$1.n]} runs: median ${R[$1.med]} ms, p99 ${R[$1.p99]} ms"
}

log "root $ROOT ($(df --output=source,fstype "$ROOT" | tail -n 1)); scale $BENCH_SCALE"

# --- native ext4: pg_ctl start + first row, from a stopped cluster
NATIVE=$ROOT/native
mkdir -p "$NATIVE"
chown postgres: "$NATIVE"
pg_setup "$NATIVE" "$P_NATIVE" "$BENCH_SCALE"
pg_stop "$NATIVE"
vals=""
for ((i = 1; i <= BENCH_COLD_RUNS; i++)); do
  t0=$(now_us)
  as_pg "$PGBIN/pg_ctl" -D "$NATIVE" -l "$LOG_DIR/native-pg.log" -w -o "-p $P_NATIVE" start >/dev/null
  out=$(as_pg "$PGBIN/psql" -X -At -h "$SOCK_DIR" -p "$P_NATIVE" -d postgres -c "$QUERY")
  [[ "$out" == "$BENCH_SCALE" ]] || fail "native read '$out'"
  vals+="$(fmt_ms $(($(now_us) - t0)))"$'\n'
  as_pg "$PGBIN/pg_ctl" -D "$NATIVE" -m fast -w stop >/dev/null
done
summarize native "${vals%$'\n'}"
rm -rf "$NATIVE"

# --- strata: a database made through the API, filled through the proxy
strata_init
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" --idle-timeout 1h
api POST /v1/branches '{"name":"main","initdb":true}' >/dev/null
C=$(api POST /v1/branches/main/credentials '{"ttl_seconds":86400}')
USER_=$(jq -r .user <<<"$C")
export PGPASSWORD
PGPASSWORD=$(jq -r .password <<<"$C")
proxy_conninfo() {
  local p
  p=$(api GET /v1/status | jq -r .proxy)
  echo "host=127.0.0.1 port=${p##*:} user=$USER_ dbname=main"
}
CONN=$(proxy_conninfo)
"$PGBIN/pgbench" -i -q -s "$BENCH_SCALE" "$CONN" >"$LOG_DIR/pgbench-init.log" 2>&1 ||
  { cat "$LOG_DIR/pgbench-init.log"; fail "pgbench -i through the proxy"; }

vals=""
starts=""
for ((i = 1; i <= BENCH_COLD_RUNS; i++)); do
  [[ "$(api POST /v1/branches/main/endpoint/suspend | jq -r .state)" == suspended ]] ||
    fail "suspend did not suspend"
  vals+="$(first_row_ms "$CONN")"$'\n'
  starts+="$(api GET /v1/branches/main/endpoint | jq -r .last_start_ms)"$'\n'
done
summarize suspended "${vals%$'\n'}"
R[suspended.server]=$(median <<<"${starts%$'\n'}")

vals=""
starts=""
for ((i = 1; i <= BENCH_RESTART_RUNS; i++)); do
  umount_daemon
  start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" --idle-timeout 1h
  CONN=$(proxy_conninfo)
  vals+="$(first_row_ms "$CONN")"$'\n'
  starts+="$(api GET /v1/branches/main/endpoint | jq -r .last_start_ms)"$'\n'
done
summarize restart "${vals%$'\n'}"
R[restart.server]=$(median <<<"${starts%$'\n'}")
umount_daemon

echo
echo "Cold start, connect-to-first-row (ms; scale $BENCH_SCALE, store $STRATA_STORE)"
printf '%-34s %8s %8s %6s %14s %10s\n' side median p99 runs "server start" "vs native"
printf '%-34s %8s %8s %6s %14s %10s\n' "native ext4 (pg_ctl start + psql)" "${R[native.med]}" \
  "${R[native.p99]}" "${R[native.n]}" "-" "1.00x"
printf '%-34s %8s %8s %6s %14s %10s\n' "strata, suspended endpoint" "${R[suspended.med]}" \
  "${R[suspended.p99]}" "${R[suspended.n]}" "${R[suspended.server]}" \
  "$(ratio "${R[native.med]}" "${R[suspended.med]}")x"
printf '%-34s %8s %8s %6s %14s %10s\n' "strata, first after daemon restart" "${R[restart.med]}" \
  "${R[restart.p99]}" "${R[restart.n]}" "${R[restart.server]}" \
  "$(ratio "${R[native.med]}" "${R[restart.med]}")x"
