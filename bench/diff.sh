#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib.sh helpers take optional arguments
# bench/diff.sh: `strata branch diff` time against database size (as root).
#
#   bash bench/diff.sh
#
# For each scale in $BENCH_DIFF_SCALES: a branch made with initdb, pgbench -i
# -s SCALE through the proxy, CHECKPOINT, suspended; a fork of it runs
# $BENCH_DIFF_UPDATES single-row UPDATEs of pgbench_accounts (random aids),
# CHECKPOINT, suspended. Then `strata branch diff` of the fork, $BENCH_RUNS
# times with --no-schema and $BENCH_RUNS times with the schema diff. The
# first run starts both servers (cold); the others find them running (warm).
# Printed: the database size, the keys the diff read, the median time spent
# reading them from the keyspace (keyspace_ms), and the daemon's elapsed_ms
# (the cold run alone, the median of the warm ones). Nothing is asserted.
#
# Environment: BENCH_DIFF_SCALES ("1 50"), BENCH_DIFF_UPDATES (1000),
# BENCH_RUNS (5), STRATA_TMPDIR (/var/tmp), STRATA_BIN (build/strata).
set -euo pipefail

BENCH_DIFF_SCALES=${BENCH_DIFF_SCALES:-1 50}
BENCH_DIFF_UPDATES=${BENCH_DIFF_UPDATES:-1000}
BENCH_RUNS=${BENCH_RUNS:-5}
export STRATA_TMPDIR=${STRATA_TMPDIR:-/var/tmp}
export TEST_NAME=bench-diff
export STRATA_STORE=file

# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../tests/integration/lib.sh"
# shellcheck source=bench/stats.sh
source "$(dirname "$0")/stats.sh"
require_tools

strata_init
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" --idle-timeout 3600
PROXY=$(api GET /v1/status | jq -r .proxy)
PPORT=${PROXY##*:}

# diff_runs BRANCH FLAGS...: BENCH_RUNS diffs; prints "cold warm_median keys
# keyspace_median" (keyspace_ms: the part spent reading the changes).
diff_runs() {
  local b=$1 i d cold="" warm=() ks=() keys=0
  shift
  for ((i = 0; i < BENCH_RUNS; i++)); do
    d=$(strata_json branch diff "$b" "$@")
    keys=$(jq .keys_changed <<<"$d")
    ks+=("$(jq .keyspace_ms <<<"$d")")
    if [[ -z "$cold" ]]; then cold=$(jq .elapsed_ms <<<"$d"); else warm+=("$(jq .elapsed_ms <<<"$d")"); fi
  done
  echo "$cold $(printf '%s\n' "${warm[@]}" | median) $keys $(printf '%s\n' "${ks[@]}" | median)"
}

declare -A SIZE KEYS KS NS_COLD NS_WARM S_COLD S_WARM
for scale in $BENCH_DIFF_SCALES; do
  m=main$scale k=kid$scale
  log "scale $scale: initdb, pgbench -i"
  api POST /v1/branches "{\"name\":\"$m\",\"initdb\":true}" >/dev/null
  on_branch "$m" "$PGBIN/pgbench" -i -s "$scale" -q >"$LOG_DIR/pgbench-init-$scale.log" 2>&1 ||
    fail "pgbench -i -s $scale failed"
  branch_sql "$m" "CHECKPOINT" >/dev/null
  SIZE[$scale]=$(branch_sql "$m" "select pg_size_pretty(pg_database_size('postgres'))")
  endpoint_suspend "$m"
  api POST /v1/branches "{\"name\":\"$k\",\"from\":\"$m\"}" >/dev/null
  branch_sql "$k" "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid IN
            (SELECT 1 + (random() * ($scale * 100000 - 1))::int FROM generate_series(1, $BENCH_DIFF_UPDATES));
            CHECKPOINT" >/dev/null
  endpoint_suspend "$k"
  endpoint_suspend "$m"
  read -r cold warm keys ks < <(diff_runs "$k" --no-schema)
  NS_COLD[$scale]=$cold NS_WARM[$scale]=$warm KEYS[$scale]=$keys KS[$scale]=$ks
  endpoint_suspend "$k"
  endpoint_suspend "$m"
  read -r cold warm _ _ < <(diff_runs "$k")
  S_COLD[$scale]=$cold S_WARM[$scale]=$warm
  log "scale $scale: size ${SIZE[$scale]}, keys ${KEYS[$scale]}, no-schema ${NS_COLD[$scale]}/${NS_WARM[$scale]} ms, schema ${S_COLD[$scale]}/${S_WARM[$scale]} ms"
done

printf '\n%-6s %-10s %-8s %-12s %-22s %-22s\n' scale "db size" keys "keyspace" "no schema cold / warm" "with schema cold / warm"
for scale in $BENCH_DIFF_SCALES; do
  printf '%-6s %-10s %-8s %-12s %-22s %-22s\n' "$scale" "${SIZE[$scale]}" "${KEYS[$scale]}" "${KS[$scale]} ms" \
    "${NS_COLD[$scale]} / ${NS_WARM[$scale]} ms" "${S_COLD[$scale]} / ${S_WARM[$scale]} ms"
done
printf '(load: %s)\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
umount_daemon
