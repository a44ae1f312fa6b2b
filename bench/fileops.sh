#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib.sh helpers take optional arguments
# bench/fileops.sh: file operations without PostgreSQL's server, native ext4
# vs strata, side by side, in one run (as root):
#   - the metadata loop: $BENCH_FILES files created (open O_CREAT + close),
#     stat'ed, renamed and unlinked, one phase after the other, in one
#     directory; the time of each phase and of the whole loop;
#   - pg_test_fsync's "one 8kB write" section: the microseconds of one 8 KiB
#     write + fdatasync (and of open_datasync, and write + fsync).
# Every figure is the median of $BENCH_RUNS runs, the sides alternating in
# each round (native, strata) so that drift on the machine hits both. On
# strata, the daemon's FUSE requests and CPU time per operation are printed
# too (from `strata status`).
#
# Environment: BENCH_RUNS (3), BENCH_FILES (3000), BENCH_FSYNC_SECONDS (2; pg_test_fsync
# runs 18 tests of that length),
# STRATA_TMPDIR (/var/tmp), STRATA_BIN (build/strata).
set -euo pipefail

BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_FILES=${BENCH_FILES:-3000}
BENCH_FSYNC_SECONDS=${BENCH_FSYNC_SECONDS:-2}
export STRATA_TMPDIR=${STRATA_TMPDIR:-/var/tmp}
export TEST_NAME=bench-fileops

# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../tests/integration/lib.sh"
# shellcheck source=bench/stats.sh
source "$(dirname "$0")/stats.sh"
require_tools

declare -A R=()
PHASES=(create stat rename unlink total)
FSYNC_METHODS=(fdatasync open_datasync fsync)

# metadata_loop DIR: prints "create stat rename unlink total" in ms.
metadata_loop() {
  perl -MTime::HiRes=time -MFcntl -e '
    my ($dir, $n) = @ARGV;
    my @t = (time);
    for my $i (1 .. $n) {
      sysopen(my $fh, "$dir/f$i", O_CREAT | O_WRONLY | O_EXCL, 0644) or die "create f$i: $!";
      close($fh) or die "close f$i: $!";
    }
    push @t, time;
    for my $i (1 .. $n) { my @st = stat("$dir/f$i") or die "stat f$i: $!"; }
    push @t, time;
    for my $i (1 .. $n) { rename("$dir/f$i", "$dir/g$i") or die "rename f$i: $!"; }
    push @t, time;
    for my $i (1 .. $n) { unlink("$dir/g$i") or die "unlink g$i: $!"; }
    push @t, time;
    printf "%.1f %.1f %.1f %.1f %.1f\n", map({ ($t[$_] - $t[$_ - 1]) * 1000 } 1 .. 4),
      ($t[4] - $t[0]) * 1000;
  ' "$1" "$BENCH_FILES"
}

# fsync_usecs DIR: prints the usecs/op of each of FSYNC_METHODS for one 8 KiB
# write (pg_test_fsync's first section).
fsync_usecs() {
  local out m line
  out=$("$PGBIN/pg_test_fsync" -f "$1/pg_test_fsync.out" -s "$BENCH_FSYNC_SECONDS") ||
    fail "pg_test_fsync in $1: $out"
  out=$(sed -n '/one 8kB write/,/two 8kB writes/p' <<<"$out")
  for m in "${FSYNC_METHODS[@]}"; do
    line=$(grep -E "^[[:space:]]+${m}[[:space:]]" <<<"$out" | head -n 1)
    awk '{ for (i = 1; i <= NF; i++) if ($i == "usecs/op") { print $(i - 1); exit } print "n/a" }' <<<"$line"
  done | paste -sd ' '
}

# one_round SIDE DIR: one metadata loop and one pg_test_fsync on SIDE.
one_round() {
  local side=$1 dir=$2 ph i vals
  mkdir -p "$dir/meta"
  read -r -a vals <<<"$(metadata_loop "$dir/meta")"
  for i in "${!PHASES[@]}"; do R[$side.${PHASES[$i]}]+="${vals[$i]} "; done
  read -r -a vals <<<"$(fsync_usecs "$dir")"
  for i in "${!FSYNC_METHODS[@]}"; do R[$side.${FSYNC_METHODS[$i]}]+="${vals[$i]} "; done
  rm -rf "${dir:?}/meta" "$dir/pg_test_fsync.out"
  log "[$side] round done: metadata total ${R[$side.total]% }; 8 KiB write + fdatasync ${R[$side.fdatasync]% } us"
}

log "root $ROOT ($(df --output=source,fstype "$ROOT" | tail -n 1)); $BENCH_RUNS rounds; $BENCH_FILES files"
NATIVE=$ROOT/native
mkdir -p "$NATIVE"
strata_init
start_daemon
create_root_branch main
for ((round = 1; round <= BENCH_RUNS; round++)); do
  one_round native "$NATIVE"
  one_round strata "$MNT/main"
done
# What the daemon does per metadata operation (4 per file), from one more
# loop on strata alone.
mkdir -p "$MNT/main/meta"
status_probe "$ROOT/probe-a.json"
metadata_loop "$MNT/main/meta" >/dev/null
status_probe "$ROOT/probe-b.json"
per_txn "$ROOT/probe-a.json" "$ROOT/probe-b.json" $((4 * BENCH_FILES))
umount_daemon

# --- report
med() { tr ' ' '\n' <<<"$1" | grep -v '^$' | median; }
echo
echo "strata file operations  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(nproc) cores  $(uname -r)"
echo "median of $BENCH_RUNS rounds (native and strata alternating); same disk"
echo
printf '%-36s | %10s | %10s | %13s\n' metric native strata strata/native
printf '%-36s-+-%10s-+-%10s-+-%13s\n' "$(printf -- '-%.0s' {1..36})" ---------- ---------- -------------
for ph in "${PHASES[@]}"; do
  a=$(med "${R[native.$ph]}")
  b=$(med "${R[strata.$ph]}")
  printf '%-36s | %10s | %10s | %13s\n' "$BENCH_FILES files: $ph (ms)" "$a" "$b" "$(ratio "$a" "$b")"
done
for m in "${FSYNC_METHODS[@]}"; do
  a=$(med "${R[native.$m]}")
  b=$(med "${R[strata.$m]}")
  printf '%-36s | %10s | %10s | %13s\n' "8 KiB write + $m (us)" "$a" "$b" "$(ratio "$a" "$b")"
done
echo
for ph in "${PHASES[@]}"; do echo "  $ph runs (ms): native ${R[native.$ph]}| strata ${R[strata.$ph]}"; done
for m in "${FSYNC_METHODS[@]}"; do echo "  $m runs (us): native ${R[native.$m]}| strata ${R[strata.$m]}"; done
echo
echo "strata daemon per metadata operation (one more loop):"
echo "  $PER_TXN_LINE" | sed 's#/txn#/op#g'
