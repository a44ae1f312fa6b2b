#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib.sh helpers take optional arguments
# bench/s3.sh: strata on an s3:// store (s3rver on loopback) against native
# ext4, side by side in one run (as root):
#   - native: select-only TPS (pgbench -S -c 8 -j 2), median of $BENCH_RUNS
#   - strata: pgbench -i -s $BENCH_SCALE, unmount, delete the cache directory
#     (a fresh machine), mount again: time to first query and bytes fetched;
#     then select-only TPS on a cold cache (the first run after the restore)
#     and on a warm cache (median of the $BENCH_RUNS runs after it), with the
#     bytes each fetched from the store.
#
# Environment: BENCH_SECONDS (30), BENCH_RUNS (3), BENCH_SCALE (20),
# STRATA_TMPDIR (/var/tmp), STRATA_BIN (build/strata).
set -euo pipefail

BENCH_SECONDS=${BENCH_SECONDS:-30}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_SCALE=${BENCH_SCALE:-20}
export STRATA_TMPDIR=${STRATA_TMPDIR:-/var/tmp}
export TEST_NAME=bench-s3
export STRATA_STORE=s3
export PG_EXTRA_CONF="shared_buffers = 128MB"

# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../tests/integration/lib.sh"
# shellcheck source=bench/stats.sh
source "$(dirname "$0")/stats.sh"
require_tools

P_NATIVE=55465
P_STRATA=55466

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
l3_read_bytes() { strata status --json | jres | jq -r '.cache.l3.read_bytes'; }

# select_only SIDE PORT RUN: one pgbench -S run; prints its TPS.
select_only() {
  local f=$LOG_DIR/$1-ro-$3.log
  pgb "$2" -S -c 8 -j 2 -T "$BENCH_SECONDS" >"$f" 2>&1 || { cat "$f" >&2; fail "pgbench -S on $1"; }
  tps_of "$f"
}

declare -A R=()
log "root $ROOT; scale $BENCH_SCALE; runs $BENCH_RUNS x $BENCH_SECONDS s"

# --- native
NATIVE=$ROOT/native
mkdir -p "$NATIVE"
chown postgres: "$NATIVE"
pg_setup "$NATIVE" "$P_NATIVE" "$BENCH_SCALE"
psql_q "$P_NATIVE" "CHECKPOINT" >/dev/null
ro=()
for ((i = 1; i <= BENCH_RUNS; i++)); do
  ro+=("$(select_only native "$P_NATIVE" "$i")")
  log "[native] select-only run $i: ${ro[-1]} tps"
done
R[native.ro]=$(printf '%s\n' "${ro[@]}" | median | xargs printf '%.1f')
pg_stop "$NATIVE"
rm -rf "$NATIVE"

# --- strata on s3://
strata_init
start_daemon
create_root_branch main
pg_setup main "$P_STRATA" "$BENCH_SCALE"
psql_q "$P_STRATA" "CHECKPOINT" >/dev/null
pg_stop main
umount_daemon
R[store_bytes]=$(find "$S3_DIR/data" -name '*._S3rver_object' -printf '%s\n' | awk '{s += $1} END {print s}')

log "[strata] fresh machine: delete the cache directory, mount, start postgres, first query"
rm -rf "$CACHE_DIR"
sync
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true # s3rver's files too: a remote store
T0=$(now_ms)
start_daemon
R[mount_ms]=$(($(now_ms) - T0))
pg_start main "$P_STRATA"
psql_q "$P_STRATA" "SELECT abalance FROM pgbench_accounts WHERE aid = 1" >/dev/null
R[first_ms]=$(($(now_ms) - T0))
R[first_bytes]=$(l3_read_bytes)

B0=$(l3_read_bytes)
R[cold]=$(select_only strata "$P_STRATA" cold | xargs printf "%.1f")
R[cold_bytes]=$(($(l3_read_bytes) - B0))
log "[strata] cold select-only: ${R[cold]} tps, fetched $(mib "${R[cold_bytes]}") MiB"
ro=()
B0=$(l3_read_bytes)
for ((i = 1; i <= BENCH_RUNS; i++)); do
  ro+=("$(select_only strata "$P_STRATA" "$i")")
  log "[strata] warm select-only run $i: ${ro[-1]} tps"
done
R[warm_bytes]=$(($(l3_read_bytes) - B0))
R[warm]=$(printf '%s\n' "${ro[@]}" | median | xargs printf '%.1f')
STATUS=$(strata status)
pg_stop main
umount_daemon

# --- report
echo
echo "strata on s3:// (s3rver on loopback)  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(nproc) cores"
echo "pgbench -S -c 8 -j 2, ${BENCH_SECONDS}s runs, scale $BENCH_SCALE, shared_buffers 128MB"
echo
printf '%-44s | %12s | %12s | %9s\n' metric native strata ratio
printf '%-44s | %12s | %12s | %9s\n' "select-only TPS, cold cache (first run)" "${R[native.ro]}" "${R[cold]}" "$(ratio "${R[native.ro]}" "${R[cold]}")"
printf '%-44s | %12s | %12s | %9s\n' "select-only TPS, warm cache (median)" "${R[native.ro]}" "${R[warm]}" "$(ratio "${R[native.ro]}" "${R[warm]}")"
echo
echo "fresh machine (empty cache directory), store holds $(mib "${R[store_bytes]}") MiB:"
echo "  mount (index rebuilt from the store):  ${R[mount_ms]} ms"
echo "  mount + postgres start + first query:  ${R[first_ms]} ms"
echo "  fetched before the first query:        $(mib "${R[first_bytes]}") MiB ($(awk -v a="${R[first_bytes]}" -v b="${R[store_bytes]}" 'BEGIN { printf "%.1f", 100 * a / b }')% of the store)"
echo "  fetched during the cold run:           $(mib "${R[cold_bytes]}") MiB"
echo "  fetched during the warm runs:          $(mib "${R[warm_bytes]}") MiB"
echo
echo "$STATUS" | grep -E '^(L1|L2|L3)'
