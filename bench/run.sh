#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib.sh helpers take optional arguments
# bench/run.sh: native ext4 vs strata, side by side, in one run (as root).
#
#   bash bench/run.sh
#
# Both sides live on the same disk (under /var/tmp by default) and use the same
# postgresql.conf (the strata-recommended settings + shared_buffers=128MB):
#   - pgbench -i -s $BENCH_SCALE             (seconds)
#   - read-write TPS, pgbench -c 8 -j 2 -T $BENCH_SECONDS, median of $BENCH_RUNS
#   - select-only TPS (-S), same
#   - strata: the daemon's FUSE requests (by opcode) and CPU time (by
#     thread) per transaction over those runs, from `strata status`
#   - strata only: branch-creation latency over $BENCH_CREATES creates, on a
#     scale-1 and a scale-$BENCH_BIG_SCALE database with its server running:
#     the daemon's elapsed_us (--json) and the wall clock around each CLI call.
#
# Environment: BENCH_SECONDS (30), BENCH_RUNS (3), BENCH_SCALE (20),
# BENCH_BIG_SCALE (50), BENCH_CREATES (50), STRATA_TMPDIR (/var/tmp),
# STRATA_BIN (build/strata).
set -euo pipefail

BENCH_SECONDS=${BENCH_SECONDS:-30}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_SCALE=${BENCH_SCALE:-20}
BENCH_BIG_SCALE=${BENCH_BIG_SCALE:-50}
BENCH_CREATES=${BENCH_CREATES:-50}
export STRATA_TMPDIR=${STRATA_TMPDIR:-/var/tmp}
export TEST_NAME=bench
export PG_EXTRA_CONF="shared_buffers = 128MB"

# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../tests/integration/lib.sh"
# shellcheck source=bench/stats.sh
source "$(dirname "$0")/stats.sh"
require_tools

P_NATIVE=55461
P_STRATA=55462
P_SMALL=55463
P_BIG=55464

declare -A R=()

# run_side NAME DATADIR PORT: init + TPS measurements on one side.
run_side() {
  local side=$1 dd=$2 port=$3 t0 rw=() ro=()
  log "[$side] initdb + start"
  pg_init "$dd"
  pg_start "$dd" "$port"
  log "[$side] pgbench -i -s $BENCH_SCALE"
  t0=$(now_ms)
  pgb_init "$port" "$BENCH_SCALE"
  R[$side.init]=$(awk -v ms=$(($(now_ms) - t0)) 'BEGIN { printf "%.1f", ms / 1000 }')
  psql_q "$port" "CHECKPOINT"
  probed_runs "$side" read-write "$port" -c 8 -j 2
  rw=("${TPS_RUNS[@]}")
  R[$side.rw_line]=$PER_TXN_LINE
  probed_runs "$side" select-only "$port" -S -c 8 -j 2
  ro=("${TPS_RUNS[@]}")
  R[$side.ro_line]=$PER_TXN_LINE
  R[$side.rw]=$(printf "%s\n" "${rw[@]}" | median | xargs printf "%.1f")
  R[$side.ro]=$(printf "%s\n" "${ro[@]}" | median | xargs printf "%.1f")
  R[$side.rw_all]="${rw[*]}"
  R[$side.ro_all]="${ro[*]}"
  pg_stop "$dd"
}

# branch_latency LABEL PARENT: BENCH_CREATES creates of children of PARENT.
branch_latency() {
  local label=$1 parent=$2 i us=() wall=()
  for ((i = 1; i <= BENCH_CREATES; i++)); do
    timed_json branch create "${parent}_c$i" --from "$parent"
    us+=("${TJ_US:-}")
    wall+=("$TJ_WALL_US")
  done
  R[$label.d_med]=$(printf '%s\n' "${us[@]}" | grep -E '^[0-9]+$' | awk '{print $1 / 1000}' | median)
  R[$label.d_p99]=$(printf '%s\n' "${us[@]}" | grep -E '^[0-9]+$' | awk '{print $1 / 1000}' | p99)
  R[$label.w_med]=$(printf '%s\n' "${wall[@]}" | awk '{print $1 / 1000}' | median)
  R[$label.w_p99]=$(printf '%s\n' "${wall[@]}" | awk '{print $1 / 1000}' | p99)
  log "[$label] branch create: daemon median ${R[$label.d_med]} ms p99 ${R[$label.d_p99]} ms; wall median ${R[$label.w_med]} ms p99 ${R[$label.w_p99]} ms"
  for ((i = 1; i <= BENCH_CREATES; i++)); do
    strata branch delete "${parent}_c$i" >/dev/null || fail "branch delete ${parent}_c$i"
  done
}

log "root $ROOT (same filesystem for both sides: $(df --output=source,fstype "$ROOT" | tail -n 1))"
log "runs: $BENCH_RUNS x $BENCH_SECONDS s; scale $BENCH_SCALE; branch creates: $BENCH_CREATES"

# --- native
NATIVE=$ROOT/native
mkdir -p "$NATIVE"
chown postgres: "$NATIVE"
run_side native "$NATIVE" "$P_NATIVE"
rm -rf "$NATIVE"

# --- strata
strata_init
start_daemon
create_root_branch main
run_side strata "$MNT/main" "$P_STRATA"

log "[strata] branch latency on a scale-1 database (server running)"
create_root_branch small
pg_setup small "$P_SMALL" 1
branch_latency small small
pg_stop small

log "[strata] branch latency on a scale-$BENCH_BIG_SCALE database (server running)"
create_root_branch big
pg_setup big "$P_BIG" "$BENCH_BIG_SCALE"
branch_latency big big
pg_stop big
STATUS=$(strata status --json | jres)
umount_daemon

# --- report
echo
echo "strata benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(nproc) cores  $(uname -r)"
echo "pgbench -c 8 -j 2, ${BENCH_SECONDS}s runs, median of $BENCH_RUNS; same disk, same postgresql.conf"
echo
printf '%-34s | %12s | %12s | %13s\n' metric native strata strata/native
printf '%-34s-+-%12s-+-%12s-+-%13s\n' "$(printf -- '-%.0s' {1..34})" "------------" "------------" "-------------"
printf '%-34s | %12s | %12s | %13s\n' "pgbench -i -s $BENCH_SCALE (s)" "${R[native.init]}" "${R[strata.init]}" "$(ratio "${R[native.init]}" "${R[strata.init]}")"
printf '%-34s | %12s | %12s | %13s\n' "read-write TPS (median)" "${R[native.rw]}" "${R[strata.rw]}" "$(ratio "${R[native.rw]}" "${R[strata.rw]}")"
printf '%-34s | %12s | %12s | %13s\n' "select-only TPS (median)" "${R[native.ro]}" "${R[strata.ro]}" "$(ratio "${R[native.ro]}" "${R[strata.ro]}")"
echo
echo "  read-write runs:  native ${R[native.rw_all]} | strata ${R[strata.rw_all]}"
echo "  select-only runs: native ${R[native.ro_all]} | strata ${R[strata.ro_all]}"
echo
echo "strata daemon per transaction (FUSE requests by opcode; CPU microseconds by thread):"
echo "  read-write:  ${R[strata.rw_line]}"
echo "  select-only: ${R[strata.ro_line]}"
echo
printf '%-34s | %12s | %12s | %12s | %12s\n' "branch create, $BENCH_CREATES times (ms)" "daemon p50" "daemon p99" "CLI wall p50" "CLI wall p99"
printf '%-34s | %12s | %12s | %12s | %12s\n' "scale 1 (server running)" "${R[small.d_med]}" "${R[small.d_p99]}" "${R[small.w_med]}" "${R[small.w_p99]}"
printf '%-34s | %12s | %12s | %12s | %12s\n' "scale $BENCH_BIG_SCALE (server running)" "${R[big.d_med]}" "${R[big.d_p99]}" "${R[big.w_med]}" "${R[big.w_p99]}"
echo
echo "store after the run: $(jq -c '{layer_count, layer_bytes, store_bytes, oplog_bytes}' <<<"$STATUS" 2>/dev/null || echo n/a)"
