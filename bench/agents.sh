#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib.sh helpers take optional arguments
# bench/agents.sh: what an agent waits for (as root), in one run.
#
#   bash bench/agents.sh
#
# new: a new database through the API (`initdb: true`, a fork of the store's
#   template), $BENCH_NEW_RUNS times each way: with `start: true` (its server
#   starts in the background at once; what MCP's create_branch does) and
#   without (the first connection starts it). Reported: the daemon's time
#   (`elapsed_us`), the client's wall time around the HTTP call, the
#   credential (an API call), the first query (one psql through the proxy:
#   connect, authenticate, `select 1`; it waits for the server if it is not
#   up yet), and the server's own start. The first creation, which makes
#   the template, is reported apart. Then the exclusive bytes of an
#   untouched new database after a GC pass.
#   Native: `initdb` + `pg_ctl start -w` + psql on ext4 (what a new stock
#   cluster costs; there is nothing to fork natively).
# fork: a scale-$BENCH_SCALE parent under pgbench load through the proxy, at
#   each rate in $BENCH_FORK_RATES (tps for pgbench -R; 0: unlimited), forked
#   $BENCH_FORK_RUNS times with `start: true`: fork-to-first-row (the API
#   call, a credential for the fork, one psql through the proxy), the
#   daemon's part of it (`elapsed_us`, which includes the parent's
#   CHECKPOINT) and the child's server start (`last_start_ms`), the redo
#   the child replayed and how (from its server log), and the parent's
#   throughput meanwhile. Native: there is no fork of a running cluster on
#   ext4; `pg_basebackup -X stream` plus a start is the stock way to a copy
#   of a live cluster.
#
# Environment: BENCH_NEW_RUNS (20), BENCH_FORK_RUNS (10), BENCH_FORK_RATES
# ("100 500 0"), BENCH_SCALE (10), BENCH_PARTS ("new fork"), STRATA_TMPDIR
# (/var/tmp), STRATA_BIN (build/strata).
set -euo pipefail

BENCH_NEW_RUNS=${BENCH_NEW_RUNS:-20}
BENCH_FORK_RUNS=${BENCH_FORK_RUNS:-10}
BENCH_FORK_RATES=${BENCH_FORK_RATES:-100 500 0}
BENCH_SCALE=${BENCH_SCALE:-10}
BENCH_PARTS=${BENCH_PARTS:-new fork}
export STRATA_TMPDIR=${STRATA_TMPDIR:-/var/tmp}
export TEST_NAME=bench-agents

# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../tests/integration/lib.sh"
# shellcheck source=bench/stats.sh
source "$(dirname "$0")/stats.sh"
require_tools

P_NATIVE=55491
ROWS=()

# summarize KEY LABEL VALUES: median and p99 of VALUES as one table row.
summarize() {
  local med p
  med=$(median <<<"$3" | xargs printf "%.1f")
  p=$(p99 <<<"$3" | xargs printf "%.1f")
  ROWS+=("$(printf '%-52s %9s %9s %5s' "$2" "$med" "$p" "$(wc -l <<<"$3")")")
  log "[$1] $2: median $med, p99 $p"
}

proxy_port() {
  local p
  p=$(api GET /v1/status | jq -r .proxy)
  echo "${p##*:}"
}

# first_row BRANCH: "CRED_US QUERY_US": a credential for BRANCH (an API
# call), then one psql through the proxy reading one row.
first_row() {
  local c t0 t1 out
  t0=$(now_us)
  c=$(api POST "/v1/branches/$1/credentials" '{"ttl_seconds":3600}')
  t1=$(now_us)
  out=$(PGPASSWORD=$(jq -r .password <<<"$c") PGCONNECT_TIMEOUT=60 "$PGBIN/psql" -X -At \
    -c "select 1" "host=127.0.0.1 port=$PPORT user=$(jq -r .user <<<"$c") dbname=$1" 2>&1) ||
    fail "psql through the proxy to $1: $out"
  [[ "$out" == 1 ]] || fail "psql to $1 read '$out'"
  echo "$((t1 - t0)) $(($(now_us) - t1))"
}

us_to_ms() { awk '{ printf "%.1f\n", $1 / 1000 }'; }

bench_new_native() {
  local vals="" i d t0 out
  for ((i = 1; i <= 5; i++)); do
    d=$ROOT/native-new-$i
    mkdir -p "$d"
    chown postgres: "$d"
    t0=$(now_us)
    as_pg "$PGBIN/initdb" -D "$d" -U postgres --auth=trust -E UTF8 --locale=C -k >/dev/null 2>&1 ||
      fail "native initdb"
    pg_settings | as_pg tee -a "$d/postgresql.conf" >/dev/null
    as_pg "$PGBIN/pg_ctl" -D "$d" -l "$LOG_DIR/native-new.log" -w -o "-p $P_NATIVE" start \
      >/dev/null
    out=$(as_pg "$PGBIN/psql" -X -At -h "$SOCK_DIR" -p "$P_NATIVE" -d postgres -c "select 1")
    [[ "$out" == 1 ]] || fail "native read '$out'"
    vals+="$(($(now_us) - t0))"$'\n'
    as_pg "$PGBIN/pg_ctl" -D "$d" -m fast -w stop >/dev/null
    rm -rf "$d"
  done
  summarize native.new "native ext4: initdb + pg_ctl start + first row (ms)" \
    "$(us_to_ms <<<"${vals%$'\n'}")"
}

# bench_new_runs START LABEL: $BENCH_NEW_RUNS new databases, `start: START`.
bench_new_runs() {
  local start=$1 label=$2 j t0 i name daemon="" walls="" creds="" queries="" starts="" f
  for ((i = 1; i <= BENCH_NEW_RUNS; i++)); do
    name=db-$start-$i
    t0=$(now_us)
    j=$(api POST /v1/branches "{\"name\":\"$name\",\"initdb\":true,\"start\":$start,\"ttl_seconds\":3600}")
    walls+="$(($(now_us) - t0))"$'\n'
    daemon+="$(jq -r .elapsed_us <<<"$j")"$'\n'
    read -r -a f <<<"$(first_row "$name")"
    creds+="${f[0]}"$'\n'
    queries+="${f[1]}"$'\n'
    starts+="$(api GET "/v1/branches/$name/endpoint" | jq -r .last_start_ms)"$'\n'
  done
  summarize "new.$start.daemon" "new database$label: daemon time, elapsed_us (ms)" \
    "$(us_to_ms <<<"${daemon%$'\n'}")"
  summarize "new.$start.wall" "new database$label: API call, client wall (ms)" \
    "$(us_to_ms <<<"${walls%$'\n'}")"
  summarize "new.$start.cred" "new database$label: credential, API call (ms)" \
    "$(us_to_ms <<<"${creds%$'\n'}")"
  summarize "new.$start.first" "new database$label: first query via proxy (ms)" \
    "$(us_to_ms <<<"${queries%$'\n'}")"
  summarize "new.$start.start" "new database$label: its server's start (ms)" "${starts%$'\n'}"
}

bench_new() {
  local t0 wall ex
  t0=$(now_us)
  api POST /v1/branches '{"name":"db0","initdb":true}' >/dev/null
  wall=$(($(now_us) - t0))
  ROWS+=("$(printf '%-52s %9s' "first new database (makes the template; ms)" \
    "$(us_to_ms <<<"$wall")")")
  bench_new_runs true ", start: true"
  bench_new_runs false ", cold"
  api POST /v1/branches '{"name":"dbx","initdb":true}' >/dev/null
  api POST /v1/gc '{}' >/dev/null
  ex=$(api GET /v1/branches/dbx | jq -r .exclusive_bytes)
  ROWS+=("$(printf '%-52s %9s' "exclusive bytes of an untouched new database" "$ex")")
  ex=$(api GET /v1/branches/db-false-1 | jq -r .exclusive_bytes)
  ROWS+=("$(printf '%-52s %9s' "exclusive bytes after its first start and query" "$ex")")
}

bench_fork_rate() {
  local rate=$1 pid i t0 j vals="" daemon="" starts="" redo="" label id lf name tps kinds
  label="unlimited"
  ((rate > 0)) && label="-R $rate"
  local rarg=()
  ((rate > 0)) && rarg=(-R "$rate")
  PGPASSWORD=$MAIN_PASS "$PGBIN/pgbench" -c 4 -j 2 -T 600 -P 5 "${rarg[@]}" \
    "host=127.0.0.1 port=$PPORT user=$MAIN_USER dbname=main" >"$LOG_DIR/load-$rate.log" 2>&1 &
  pid=$!
  track_pid "$pid"
  sleep 15
  for ((i = 1; i <= BENCH_FORK_RUNS; i++)); do
    name=f$rate-$i
    t0=$(now_us)
    j=$(api POST /v1/branches "{\"name\":\"$name\",\"from\":\"main\",\"start\":true}")
    first_row "$name" >/dev/null
    vals+="$(($(now_us) - t0))"$'\n'
    daemon+="$(jq -r .elapsed_us <<<"$j")"$'\n'
    starts+="$(api GET "/v1/branches/$name/endpoint" | jq -r .last_start_ms)"$'\n'
    id=$(jq -r .id <<<"$j")
    lf=$CACHE_DIR/pg/$id.log
    redo+="$(grep -o 'redo starts at .*' "$lf" | head -1 | cut -c16-) .. $(grep -o 'elapsed: [0-9.]* s' "$lf" | head -1 || true) | "
    cp "$lf" "$LOG_DIR/fork-$rate-$i.log" 2>/dev/null || true
    api DELETE "/v1/branches/$name" >/dev/null
    sleep 2
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  tps=$(grep -o 'progress: [0-9.]* s, [0-9.]* tps' "$LOG_DIR/load-$rate.log" | awk '{print $4}' | median)
  kinds=$(grep -o "endpoint f$rate-[0-9]*: the cluster needs crash recovery: [a-z ]*" "$DAEMON_LOG" |
    sed 's/.*recovery: //' | sort | uniq -c | tr -s ' ' | tr '\n' ';')
  log "child redo ($label): $redo"
  log "how the children recovered ($label): $kinds"
  summarize "fork.$rate" "fork under load ($label): fork to first row (ms)" \
    "$(us_to_ms <<<"${vals%$'\n'}")"
  summarize "fork.$rate.daemon" "fork under load ($label): daemon time (ms)" \
    "$(us_to_ms <<<"${daemon%$'\n'}")"
  summarize "fork.$rate.start" "fork under load ($label): child start (ms)" "${starts%$'\n'}"
  ROWS+=("$(printf '%-52s %9s' "fork under load ($label): parent tps, median of 5 s" "$tps")")
}

bench_fork() {
  local c rate
  api POST /v1/branches '{"name":"main","initdb":true}' >/dev/null
  c=$(api POST /v1/branches/main/credentials '{"ttl_seconds":86400}')
  MAIN_USER=$(jq -r .user <<<"$c")
  MAIN_PASS=$(jq -r .password <<<"$c")
  PGPASSWORD=$MAIN_PASS "$PGBIN/pgbench" -i -q -s "$BENCH_SCALE" \
    "host=127.0.0.1 port=$PPORT user=$MAIN_USER dbname=main" >"$LOG_DIR/pgbench-init.log" 2>&1 ||
    { cat "$LOG_DIR/pgbench-init.log"; fail "pgbench -i through the proxy"; }
  for rate in $BENCH_FORK_RATES; do bench_fork_rate "$rate"; done
}

log "root $ROOT ($(df --output=source,fstype "$ROOT" | tail -n 1)); load: $(cut -d' ' -f1-3 /proc/loadavg)"
[[ " $BENCH_PARTS " == *" new "* ]] && bench_new_native
strata_init
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" --idle-timeout 1h \
  ${BENCH_PG_SETTINGS:+--pg-setting "$BENCH_PG_SETTINGS"}
PPORT=$(proxy_port)
[[ " $BENCH_PARTS " == *" new "* ]] && bench_new
[[ " $BENCH_PARTS " == *" fork "* ]] && bench_fork
umount_daemon

echo
echo "Agents (store $STRATA_STORE, scale $BENCH_SCALE; load at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-52s %9s %9s %5s\n' figure median p99 runs
printf '%s\n' "${ROWS[@]}"
