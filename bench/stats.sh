# shellcheck shell=bash
# Figures helpers shared by the bench/ scripts (source it).

# median: of the numbers on stdin ("n/a" if none).
median() { LC_ALL=C sort -g | awk '{v[NR] = $1} END { if (NR == 0) { print "n/a"; exit } if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# p99: of the numbers on stdin, by nearest rank.
p99() { LC_ALL=C sort -g | awk '{v[NR] = $1} END { if (NR == 0) { print "n/a"; exit } r = int(0.99 * NR); if (r < 0.99 * NR) r++; if (r < 1) r = 1; print v[r] }'; }
# ratio A B: B / A with two decimals ("n/a" if A is 0 or either is n/a).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 == 0 || a == "n/a" || b == "n/a") print "n/a"; else printf "%.2f", b / a }'; }
# tps_of LOG: the TPS figure of a pgbench log.
tps_of() { awk '/^tps = / { print $3; exit }' "$1"; }
# tps_runs SIDE KIND PORT PGBENCH_ARGS...: $BENCH_RUNS pgbench runs of
# $BENCH_SECONDS s each (logs in $LOG_DIR/SIDE-KIND-N.log); the TPS of each
# run goes to the array TPS_RUNS. Needs tests/integration/lib.sh.
tps_runs() {
  local side=$1 kind=$2 port=$3 i f
  shift 3
  TPS_RUNS=()
  for ((i = 1; i <= BENCH_RUNS; i++)); do
    f=$LOG_DIR/$side-$kind-$i.log
    pgb "$port" "$@" -T "$BENCH_SECONDS" >"$f" 2>&1 || { cat "$f"; fail "pgbench $kind on $side"; }
    TPS_RUNS+=("$(tps_of "$f")")
    log "[$side] $kind run $i: ${TPS_RUNS[-1]} tps"
  done
}
