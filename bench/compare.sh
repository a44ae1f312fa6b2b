#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib.sh helpers take optional arguments
# bench/compare.sh: two strata builds (a "before" and an "after") against
# each other and native ext4, in one run (as root).
#
#   STRATA_BIN_A=/path/to/before/strata STRATA_BIN_B=build/strata bash bench/compare.sh
#
# Run-to-run drift on a small machine is larger than most changes, so the
# builds do not get a run each: they alternate on ONE store (the same data,
# made once by build B, so both must read its format), native, A, B in every
# round, $BENCH_ROUNDS rounds.
# Each side of a round: mount (strata), start postgres, a warm-up select-only
# run of $BENCH_WARM_SECONDS s, then select-only (-S) and read-write TPS
# (pgbench -c 8 -j 2 -T $BENCH_SECONDS), stop, unmount. Prints every run and
# the medians, and B/A and each side/native.
#
# Environment: STRATA_BIN_A (required), STRATA_BIN_B (build/strata),
# BENCH_ROUNDS (4), BENCH_SECONDS (20), BENCH_WARM_SECONDS (10),
# BENCH_SCALE (20), STRATA_TMPDIR (/var/tmp).
set -euo pipefail

BENCH_ROUNDS=${BENCH_ROUNDS:-4}
BENCH_SECONDS=${BENCH_SECONDS:-20}
BENCH_WARM_SECONDS=${BENCH_WARM_SECONDS:-10}
BENCH_SCALE=${BENCH_SCALE:-20}
export STRATA_TMPDIR=${STRATA_TMPDIR:-/var/tmp}
export TEST_NAME=compare
export PG_EXTRA_CONF="shared_buffers = 128MB"

# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../tests/integration/lib.sh"
# shellcheck source=bench/stats.sh
source "$(dirname "$0")/stats.sh"
require_tools

BIN_A=${STRATA_BIN_A:-}
BIN_B=${STRATA_BIN_B:-$STRATA_BIN}
[[ -x "$BIN_A" ]] || fail "set STRATA_BIN_A to the strata binary to compare against"
[[ -x "$BIN_B" ]] || fail "no strata binary at $BIN_B (STRATA_BIN_B)"
P_NATIVE=55465
P_STRATA=55466
declare -A RO=() RW=()

# measure SIDE ROUND PORT: warm up, then one select-only and one read-write run.
measure() {
  local side=$1 round=$2 port=$3 f
  pgb "$port" -S -c 8 -j 2 -T "$BENCH_WARM_SECONDS" >/dev/null 2>&1 || fail "warm-up on $side"
  for kind in ro rw; do
    f=$LOG_DIR/$side-$kind-$round.log
    if [[ $kind == ro ]]; then
      pgb "$port" -S -c 8 -j 2 -T "$BENCH_SECONDS" >"$f" 2>&1 || { cat "$f"; fail "select-only on $side"; }
      RO[$side]+="$(tps_of "$f") "
    else
      pgb "$port" -c 8 -j 2 -T "$BENCH_SECONDS" >"$f" 2>&1 || { cat "$f"; fail "read-write on $side"; }
      RW[$side]+="$(tps_of "$f") "
    fi
  done
  log "[$side] round $round: select-only $(tps_of "$LOG_DIR/$side-ro-$round.log"), read-write $(tps_of "$LOG_DIR/$side-rw-$round.log") tps"
}

# strata_round SIDE BIN ROUND: one round of a strata build on the shared store.
strata_round() {
  STRATA_BIN=$2
  start_daemon
  pg_start main "$P_STRATA"
  measure "$1" "$3" "$P_STRATA"
  pg_stop main
  umount_daemon
}

log "A: $BIN_A"
log "B: $BIN_B"
log "root $ROOT ($(df --output=source,fstype "$ROOT" | tail -n 1)); $BENCH_ROUNDS rounds of $BENCH_SECONDS s runs; scale $BENCH_SCALE"

NATIVE=$ROOT/native
mkdir -p "$NATIVE"
chown postgres: "$NATIVE"
pg_setup "$NATIVE" "$P_NATIVE" "$BENCH_SCALE"
psql_q "$P_NATIVE" CHECKPOINT
pg_stop "$NATIVE"

STRATA_BIN=$BIN_B
strata_init
start_daemon
create_root_branch main
pg_setup main "$P_STRATA" "$BENCH_SCALE"
psql_q "$P_STRATA" CHECKPOINT
pg_stop main
umount_daemon

for ((r = 1; r <= BENCH_ROUNDS; r++)); do
  pg_start "$NATIVE" "$P_NATIVE"
  measure native "$r" "$P_NATIVE"
  pg_stop "$NATIVE"
  strata_round A "$BIN_A" "$r"
  strata_round B "$BIN_B" "$r"
done

med() { tr ' ' '\n' <<<"$1" | grep -v '^$' | median | xargs printf '%.1f'; }
echo
echo "strata compare  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(nproc) cores  $(uname -r)"
echo "A: $BIN_A"
echo "B: $BIN_B"
echo "pgbench -c 8 -j 2, ${BENCH_SECONDS}s runs, $BENCH_ROUNDS rounds of native, A, B; one store for A and B"
echo
printf '%-26s | %10s | %10s | %10s | %8s | %8s | %8s\n' metric native A B B/A A/native B/native
for kind in ro rw; do
  declare -n runs=${kind^^}
  n=$(med "${runs[native]}")
  a=$(med "${runs[A]}")
  b=$(med "${runs[B]}")
  label="select-only TPS (median)"
  [[ $kind == rw ]] && label="read-write TPS (median)"
  printf '%-26s | %10s | %10s | %10s | %8s | %8s | %8s\n' "$label" "$n" "$a" "$b" \
    "$(ratio "$a" "$b")" "$(ratio "$n" "$a")" "$(ratio "$n" "$b")"
done
echo
for side in native A B; do
  echo "  $side: select-only ${RO[$side]}| read-write ${RW[$side]}"
done
