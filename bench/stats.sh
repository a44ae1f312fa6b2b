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
# pgbench_tps LOG CONNINFO PGBENCH_ARGS...: one pgbench run of $BENCH_SECONDS s
# (-n: no vacuum) against CONNINFO, its log in LOG; prints its TPS. Needs
# tests/integration/lib.sh.
pgbench_tps() {
  local f=$1 conn=$2
  shift 2
  "$PGBIN/pgbench" -n "$@" -T "$BENCH_SECONDS" "$conn" >"$f" 2>&1 ||
    { cat "$f"; fail "pgbench $* against $conn"; }
  tps_of "$f"
}
# txns_of LOG: the transactions a pgbench run processed.
txns_of() { awk -F': ' '/^number of transactions actually processed/ { print $2 + 0; exit }' "$1"; }
# status_probe FILE [MOUNT]: the daemon's status (its FUSE request counters
# and CPU time) now, for per_txn.
status_probe() { strata status --mount "${2:-$MNT}" --json | jres >"$1"; }
# per_txn BEFORE AFTER TXNS: what the daemon did per transaction between two
# status_probe files. Sets PER_TXN_LINE: FUSE requests and daemon CPU
# microseconds (all threads) per transaction, each with its busiest opcodes
# and thread names.
per_txn() {
  PER_TXN_LINE=$(jq -rn --slurpfile a "$1" --slurpfile b "$2" --argjson n "$3" '
    $a[0] as $x | $b[0] as $y |
    def per(v): (v * 100 / $n | round) / 100;
    ($y.fuse.requests - $x.fuse.requests) as $req |
    (($y.cpu.total_seconds - $x.cpu.total_seconds) * 1e6 / $n) as $cpu |
    ([$y.fuse.ops | to_entries[] | {k: .key, v: (.value.count - ($x.fuse.ops[.key].count // 0))}
      | select(.v > 0)] | sort_by(-.v) | .[0:6] | map("\(.k) \(per(.v))") | join(", ")) as $ops |
    ([$y.cpu.threads | to_entries[] | {k: .key, v: (.value - ($x.cpu.threads[.key] // 0))}
      | select(.v > 0)] | sort_by(-.v) | .[0:4] | map("\(.k) \(.v * 1e6 / $n | round)") | join(", ")) as $thr |
    "requests/txn \(per($req)) (\($ops)); daemon CPU us/txn \($cpu | round) (\($thr))"')
}

# tps_runs SIDE KIND PORT PGBENCH_ARGS...: $BENCH_RUNS pgbench runs of
# $BENCH_SECONDS s each (logs in $LOG_DIR/SIDE-KIND-N.log); the TPS of each
# run goes to the array TPS_RUNS, the transactions of all runs to TPS_TXNS.
# Needs tests/integration/lib.sh.
tps_runs() {
  local side=$1 kind=$2 port=$3 i f
  shift 3
  TPS_RUNS=()
  TPS_TXNS=0
  for ((i = 1; i <= BENCH_RUNS; i++)); do
    f=$LOG_DIR/$side-$kind-$i.log
    pgb "$port" "$@" -T "$BENCH_SECONDS" >"$f" 2>&1 || { cat "$f"; fail "pgbench $kind on $side"; }
    TPS_RUNS+=("$(tps_of "$f")")
    TPS_TXNS=$((TPS_TXNS + $(txns_of "$f")))
    log "[$side] $kind run $i: ${TPS_RUNS[-1]} tps"
  done
}
# probed_runs SIDE KIND PORT PGBENCH_ARGS...: tps_runs; unless SIDE is
# "native", also per_txn over those runs, from the daemon on $MNT
# (PER_TXN_LINE is "n/a" on native). Needs tests/integration/lib.sh.
probed_runs() {
  local side=$1 kind=$2
  PER_TXN_LINE=n/a
  [[ $side == native ]] || status_probe "$ROOT/probe-a.json"
  tps_runs "$@"
  [[ $side == native ]] && return 0
  status_probe "$ROOT/probe-b.json"
  per_txn "$ROOT/probe-a.json" "$ROOT/probe-b.json" "$TPS_TXNS"
  log "[$side] $kind: $PER_TXN_LINE"
}

# commit_and_tps SIDE PORT: the commit latency, then the read-write TPS, of
# the server on PORT, into the associative array R (declare -A R first):
#   - R[SIDE.lat_n|lat_med|lat_p99]: pgbench -c 1, one single-row INSERT per
#     transaction, $BENCH_LAT_SECONDS s, every transaction logged, in ms;
#   - R[SIDE.rw|rw_all|line]: probed_runs of pgbench -c 8 -j 2 (the median
#     TPS, every run's, and the daemon's work per transaction).
# Needs tests/integration/lib.sh.
commit_and_tps() {
  local side=$1 port=$2 rw=() lat sql=$LOG_DIR/insert.sql
  echo "INSERT INTO commit_bench(v) VALUES (1);" >"$sql"
  chmod 644 "$sql"
  psql_q "$port" "CREATE TABLE IF NOT EXISTS commit_bench(id bigserial PRIMARY KEY, v int)"
  psql_q "$port" "CHECKPOINT"
  rm -f "$LOG_DIR/lat-$side".*
  pgb "$port" -n -c 1 -j 1 -T "$BENCH_LAT_SECONDS" -f "$sql" -l \
    --log-prefix="$LOG_DIR/lat-$side" >"$LOG_DIR/$side-lat.log" 2>&1 ||
    { cat "$LOG_DIR/$side-lat.log"; fail "pgbench latency run on $side"; }
  # Per-transaction log: client xact latency_us script epoch epoch_us.
  lat=$(cat "$LOG_DIR/lat-$side".* | awk '{print $3 / 1000}')
  R[$side.lat_n]=$(wc -l <<<"$lat")
  R[$side.lat_med]=$(median <<<"$lat" | xargs printf "%.3f")
  R[$side.lat_p99]=$(p99 <<<"$lat" | xargs printf "%.3f")
  log "[$side] commit latency over ${R[$side.lat_n]} commits: median ${R[$side.lat_med]} ms, p99 ${R[$side.lat_p99]} ms"
  probed_runs "$side" read-write "$port" -c 8 -j 2
  rw=("${TPS_RUNS[@]}")
  R[$side.line]=$PER_TXN_LINE
  R[$side.rw]=$(printf "%s\n" "${rw[@]}" | median | xargs printf "%.1f")
  R[$side.rw_all]=$(printf '%.0f/' "${rw[@]}")
  R[$side.rw_all]=${R[$side.rw_all]%/}
}
# commit_and_tps_native PORT: commit_and_tps of a native ext4 cluster (fsync
# on) made for it under $ROOT/native at scale $BENCH_SCALE, then removed.
commit_and_tps_native() {
  local dir=$ROOT/native
  mkdir -p "$dir"
  chown postgres: "$dir"
  pg_setup "$dir" "$1" "$BENCH_SCALE"
  commit_and_tps native "$1"
  pg_stop "$dir"
  rm -rf "$dir"
}
# commit_table SIDE...: the table of commit_and_tps figures, one row per
# side, TPS against R[native.rw].
commit_table() {
  local s
  printf '%-12s | %12s | %12s | %14s | %14s | %8s\n' side "commit p50" "commit p99" "rw TPS median" "rw TPS runs" "vs native"
  printf '%-12s-+-%12s-+-%12s-+-%14s-+-%14s-+-%8s\n' ------------ ------------ ------------ -------------- -------------- --------
  for s in "$@"; do
    printf '%-12s | %9s ms | %9s ms | %14s | %14s | %8s\n' "$s" "${R[$s.lat_med]}" \
      "${R[$s.lat_p99]}" "${R[$s.rw]}" "${R[$s.rw_all]}" "$(ratio "${R[native.rw]}" "${R[$s.rw]}")x"
  done
}
