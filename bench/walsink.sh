#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib.sh helpers take optional arguments
# bench/walsink.sh: commit latency and read-write TPS of each durability tier
# against native ext4 with fsync, side by side, in one run (as root).
#
#   bash bench/walsink.sh
#
# A walsink server runs on loopback with its data on the same disk as the
# native cluster (under /var/tmp by default); the strata mount ships its op
# log there over TLS with a token, and, for the last side (remote-plain),
# over plaintext (--insecure): the cost of TLS on the remote tier. One scale-$BENCH_SCALE database is made on a base branch; each
# tier gets its own branch forked from it (no data copied), so every side
# starts from the same state (freshly mounted, nothing left to flush):
#   - commit latency: pgbench -c 1, one single-row INSERT per transaction,
#     $BENCH_LAT_SECONDS s, every transaction logged: median and p99;
#   - read-write TPS: pgbench -c 8 -j 2 -T $BENCH_SECONDS, median of
#     $BENCH_RUNS runs, with the daemon's FUSE requests and CPU time per
#     transaction (strata sides).
#
# Environment: BENCH_SECONDS (30), BENCH_RUNS (3), BENCH_LAT_SECONDS (15),
# BENCH_SCALE (10), STRATA_TMPDIR (/var/tmp), STRATA_BIN (build/strata).
set -euo pipefail

BENCH_SECONDS=${BENCH_SECONDS:-30}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_LAT_SECONDS=${BENCH_LAT_SECONDS:-15}
BENCH_SCALE=${BENCH_SCALE:-10}
export STRATA_TMPDIR=${STRATA_TMPDIR:-/var/tmp}
export TEST_NAME=bench-walsink
export PG_EXTRA_CONF="shared_buffers = 128MB"

# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../tests/integration/lib.sh"
# shellcheck source=bench/stats.sh
source "$(dirname "$0")/stats.sh"
require_tools

P_NATIVE=55471
P_BASE=55472
P_TIER=55473
SIDES=(native remote local ephemeral remote-plain)
declare -A R=()

log "root $ROOT ($(df --output=source,fstype "$ROOT" | tail -n 1)); scale $BENCH_SCALE; $BENCH_RUNS x $BENCH_SECONDS s"

# --- native ext4, fsync on
commit_and_tps_native "$P_NATIVE"

# --- strata, op log shipped to a walsink on loopback
sink_start
strata_init
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" "${SINK_FLAGS[@]}"
create_root_branch base
pg_setup base "$P_BASE" "$BENCH_SCALE"
pg_stop base
for tier in remote local ephemeral; do
  # Start each tier from the same quiet state: an unmount flushes every
  # memtable, so no tier pays for flushing (zstd, uploads) what another wrote.
  umount_daemon
  start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" "${SINK_FLAGS[@]}"
  strata branch create "$tier" --from base --durability "$tier" >/dev/null || fail "branch create $tier"
  pg_start "$tier" "$P_TIER"
  commit_and_tps "$tier" "$P_TIER"
  pg_stop "$tier"
done
STATUS=$(strata status --json | jres)
umount_daemon

# --- the remote tier again, over a plaintext walsink (same data, same port)
sink_stop
SINK_INSECURE=1
sink_start
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" "${SINK_FLAGS[@]}"
strata branch create remote-plain --from base --durability remote >/dev/null ||
  fail "branch create remote-plain"
pg_start remote-plain "$P_TIER"
commit_and_tps remote-plain "$P_TIER"
pg_stop remote-plain
umount_daemon
sink_stop

# --- report
echo
echo "strata walsink benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(nproc) cores  $(uname -r)"
echo "walsink on loopback, same disk as native; pgbench scale $BENCH_SCALE"
echo
commit_table "${SIDES[@]}"
echo
echo "strata daemon per read-write transaction (FUSE requests by opcode; CPU microseconds by thread):"
for side in remote local ephemeral remote-plain; do printf '  %-13s %s\n' "$side:" "${R[$side.line]}"; done
echo
echo "TLS on the remote tier: commit p50 ${R[remote.lat_med]} ms vs ${R[remote-plain.lat_med]} ms plaintext;" \
  "read-write TPS $(ratio "${R[remote-plain.rw]}" "${R[remote.rw]}")x of plaintext"
echo
echo "walsink after the run: $(jq -c '.walsink | {acks, reconnects, barrier_timeouts, bytes_sent}' <<<"$STATUS" 2>/dev/null || echo n/a)"
