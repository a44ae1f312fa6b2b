#!/usr/bin/env bash
# endpoint_fanout: an API client forks 20 branches from one parent (an owner
# with a quota of 20: the 21st is refused and nothing is made), runs a short
# pgbench on each through the proxy, at most FANOUT_PARALLEL at a time (idle
# servers are suspended after 2 s, and all of them once the runs are over),
# and deletes them. No branch sees another's writes; the parent is untouched.
# Prints branch-create latency through the API (median, p99) and the most
# servers seen running at once.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=bench/stats.sh
source "$REPO_DIR/bench/stats.sh"
require_tools

N=${FANOUT_BRANCHES:-20}
PARALLEL=${FANOUT_PARALLEL:-3}
TX=${FANOUT_TRANSACTIONS:-100}
strata_init
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" --idle-timeout 2
PPORT=$(api GET /v1/status | jq -r .proxy)
PPORT=${PPORT##*:}

# conn BRANCH: a fresh credential's conninfo (password in PGPASSWORD_<branch>).
conn() {
  local c
  c=$(api POST "/v1/branches/$1/credentials" '{}')
  printf 'host=127.0.0.1 port=%s user=%s password=%s dbname=%s' "$PPORT" \
    "$(jq -r .user <<<"$c")" "$(jq -r .password <<<"$c")" "$1"
}

check "parent: initdb through the API, pgbench -i through the proxy"
api POST /v1/branches '{"name":"main","initdb":true}' >/dev/null
MAIN=$(conn main)
"$PGBIN/pgbench" -i -q -s 1 "$MAIN" >"$LOG_DIR/pgbench-init.log" 2>&1 ||
  { cat "$LOG_DIR/pgbench-init.log"; fail "pgbench -i"; }
"$PGBIN/psql" -X -q "$MAIN" -c "create table marker (b text)" || fail "create marker"
ok "main ready"

check "owner fan gets a quota of $N branches"
api PUT /v1/owners/fan/quota "{\"max_branches\": $N}" >/dev/null

check "fork $N branches through the API"
wall=""
server=""
for ((i = 1; i <= N; i++)); do
  t0=$(now_us)
  b=$(api POST /v1/branches "{\"name\":\"f$i\",\"from\":\"main\",\"owner\":\"fan\",\"ttl_seconds\":3600}")
  wall+="$(fmt_ms $(($(now_us) - t0)))"$'\n'
  server+="$(fmt_ms "$(jq -r .elapsed_us <<<"$b")")"$'\n'
done
wall=${wall%$'\n'}
server=${server%$'\n'}
api_expect 403 POST /v1/branches '{"name":"f-extra","from":"main","owner":"fan"}' >/dev/null
# main, the template of new databases (_initdb_pg15) and the forks.
[[ "$(api GET /v1/branches | jq length)" == $((N + 2)) ]] || fail "the refused create made something"
ok "$N created; one more refused by the quota, nothing made"
log "branch create through the API (curl wall, ms): median $(median <<<"$wall"), p99 $(p99 <<<"$wall")"
log "branch create inside the daemon (elapsed_us, ms): median $(median <<<"$server"), p99 $(p99 <<<"$server")"

check "pgbench -t $TX on each branch through the proxy, $PARALLEL at a time"
(
  while :; do
    api GET /v1/status | jq -r .endpoints_running
    sleep 0.2
  done
) >"$LOG_DIR/running.txt" 2>/dev/null &
POLLER=$!
track_pid "$POLLER"
run_one() {
  local b=$1 c
  c=$(conn "$b")
  "$PGBIN/pgbench" -n -c 2 -j 1 -t "$TX" "$c" >"$LOG_DIR/pgbench-$b.log" 2>&1 || return 1
  "$PGBIN/psql" -X -q "$c" -c "insert into marker values ('$b')" || return 1
}
for ((i = 1; i <= N; i += PARALLEL)); do
  pids=()
  for ((j = i; j < i + PARALLEL && j <= N; j++)); do
    run_one "f$j" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fail "pgbench on a fork failed (see $LOG_DIR/pgbench-f*.log)"; done
done
kill "$POLLER" 2>/dev/null || true
most=$(sort -n "$LOG_DIR/running.txt" | tail -1)
ok "all $N ran; at most $most servers were running at once (of $N branches)"
deadline=$(($(now_ms) + 30000))
until [[ "$(api GET /v1/status | jq .endpoints_running)" == 0 ]]; do
  (($(now_ms) < deadline)) || fail "idle servers were not suspended: $(api GET /v1/endpoints)"
  sleep 0.5
done
ok "every server suspended once idle"

check "no branch sees another's writes"
for ((i = 1; i <= N; i++)); do
  c=$(conn "f$i")
  got=$("$PGBIN/psql" -X -At "$c" -c "select string_agg(b, ',') from marker")
  [[ "$got" == "f$i" ]] || fail "f$i sees markers '$got'"
  h=$("$PGBIN/psql" -X -At "$c" -c "select count(*) from pgbench_history")
  [[ "$h" == $((2 * TX)) ]] || fail "f$i has $h history rows, expected $((2 * TX))"
done
got=$("$PGBIN/psql" -X -At "$MAIN" -c "select count(*) from marker")
h=$("$PGBIN/psql" -X -At "$MAIN" -c "select count(*) from pgbench_history")
[[ "$got" == 0 && "$h" == 0 ]] || fail "main changed: $got markers, $h history rows"
ok "each fork sees only its own marker and $((2 * TX)) history rows; main untouched"

check "delete the $N forks through the API"
t0=$(now_ms)
for ((i = 1; i <= N; i++)); do api DELETE "/v1/branches/f$i" >/dev/null; done
ok "deleted in $(($(now_ms) - t0)) ms"
[[ "$(api GET /v1/branches | jq -c '[.[].name]')" == '["_initdb_pg15","main"]' ]] || fail "forks left behind"
[[ "$(api GET /v1/owners/fan | jq .branches)" == 0 ]] || fail "owner fan still counts branches"
umount_daemon
