#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib.sh helpers take optional arguments
# bench/storelog.sh: the `remote` tier on the store's own log objects
# (--sink store) against the walsink and native ext4 with fsync, side by
# side, in one run (as root), on an s3:// store kept by s3rver on loopback:
#   - native: ext4, fsync on;
#   - walsink: --sink HOST:PORT, a walsink on loopback over TLS;
#   - store: --sink store, every commit's barrier is a PutIfAbsent to s3rver;
#   - store-Nms for each N in $BENCH_STORE_DELAYS (default "5 20"): the same
#     with N ms added to every store call (--inject-faults latency_ms=N),
#     standing in for a store farther away than loopback (S3 Express One
#     Zone publishes single-digit ms, S3 Standard tens of ms for small
#     objects: docs/performance.md).
# Each strata side forks its own branch from one scale-$BENCH_SCALE base and
# is measured like bench/walsink.sh: commit latency (pgbench -c 1, one
# INSERT per transaction, median and p99) and read-write TPS (median of
# $BENCH_RUNS runs), plus, for the store sides, the log objects and rounds
# per read-write transaction (group commit).
#
# Environment: BENCH_SECONDS (30), BENCH_RUNS (3), BENCH_LAT_SECONDS (15),
# BENCH_SCALE (10), BENCH_STORE_DELAYS ("5 20"), STRATA_TMPDIR (/var/tmp),
# STRATA_BIN (build/strata).
set -euo pipefail

BENCH_SECONDS=${BENCH_SECONDS:-30}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_LAT_SECONDS=${BENCH_LAT_SECONDS:-15}
BENCH_SCALE=${BENCH_SCALE:-10}
BENCH_STORE_DELAYS=${BENCH_STORE_DELAYS:-5 20}
export STRATA_TMPDIR=${STRATA_TMPDIR:-/var/tmp}
export TEST_NAME=bench-storelog
export STRATA_STORE=s3
export PG_EXTRA_CONF="shared_buffers = 128MB"

# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../tests/integration/lib.sh"
# shellcheck source=bench/stats.sh
source "$(dirname "$0")/stats.sh"
require_tools

P_NATIVE=55474
P_BASE=55475
P_SIDE=55476
SIDES=(native walsink store)
for d in $BENCH_STORE_DELAYS; do SIDES+=("store-${d}ms"); done
declare -A R=()

# store_log_of FIELD: the daemon's status.store_log.FIELD.
store_log_of() { strata status --json | jres | jq -r ".store_log.$1"; }

# side SIDE MOUNT_FLAGS...: mounts with the flags, forks SIDE from base,
# measures it, unmounts (which flushes: the next side starts quiet).
side() {
  local name=$1 rounds objects txns
  shift
  start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" "$@"
  strata branch create "$name" --from base --durability remote >/dev/null ||
    fail "branch create $name"
  pg_start "$name" "$P_SIDE"
  rounds=$(store_log_of rounds)
  objects=$(store_log_of objects_written)
  commit_and_tps "$name" "$P_SIDE"
  txns=$TPS_TXNS
  if [[ $name == store* ]]; then
    R[$name.groups]=$(awk -v r="$(($(store_log_of rounds) - rounds))" \
      -v o="$(($(store_log_of objects_written) - objects))" -v t="$txns" \
      'BEGIN { printf "%.2f objects, %.2f rounds", o / t, r / t }')
  fi
  pg_stop "$name"
  umount_daemon
}

log "root $ROOT ($(df --output=source,fstype "$ROOT" | tail -n 1)); scale $BENCH_SCALE; $BENCH_RUNS x $BENCH_SECONDS s"

# --- native ext4, fsync on
commit_and_tps_native "$P_NATIVE"

# --- the base database, then one side per durable log
sink_start
strata_init
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" "${SINK_FLAGS[@]}"
create_root_branch base
pg_setup base "$P_BASE" "$BENCH_SCALE"
pg_stop base
umount_daemon
side walsink "${SINK_FLAGS[@]}"
sink_stop
side store --sink store
for d in $BENCH_STORE_DELAYS; do
  side "store-${d}ms" --sink store --inject-faults "latency_ms=$d"
done

# --- report
echo
echo "strata store-log benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(nproc) cores  $(uname -r)"
echo "s3rver and the walsink on loopback, same disk as native; pgbench scale $BENCH_SCALE"
echo
commit_table "${SIDES[@]}"
echo
echo "log objects written and rounds per read-write transaction (group commit, 8 clients):"
for s in "${SIDES[@]}"; do [[ $s == store* ]] && printf '  %-13s %s\n' "$s:" "${R[$s.groups]}"; done
echo
echo "strata daemon per read-write transaction (FUSE requests by opcode; CPU microseconds by thread):"
for s in "${SIDES[@]}"; do [[ $s == native ]] || printf '  %-13s %s\n' "$s:" "${R[$s.line]}"; done
echo
echo "store vs walsink: commit p50 ${R[store.lat_med]} ms vs ${R[walsink.lat_med]} ms;" \
  "read-write TPS $(ratio "${R[walsink.rw]}" "${R[store.rw]}")x of the walsink's"
