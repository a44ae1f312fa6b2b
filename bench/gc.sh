#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib.sh helpers take optional arguments
# bench/gc.sh: history windows, compaction and GC, in one run (as root),
# side by side with native ext4 where a ratio applies.
#
#   bash bench/gc.sh
#
#   (a) levelling off: $BENCH_GC_MINUTES minutes of pgbench -c 4 -j 2 on a
#       scale-$BENCH_GC_SCALE database on a mount with --history
#       $BENCH_GC_HISTORY; every minute the store's bytes (status store_bytes)
#       and the PGDATA's apparent size (du -sb --apparent-size). Does the
#       store end at most the apparent size, and grow less than 10% between
#       the middle minute and the last?
#   (b) fork churn: $BENCH_GC_FORKS forks of main, each starts postgres, runs
#       $BENCH_GC_FORK_TX transactions, stops and is deleted; the store's bytes
#       before (main idle, past its window, after two passes), at the peak, and
#       after (two passes): back within 10%?
#   (c) layers per read: the strata_read_sources histogram of /metrics (p50,
#       p99 from its buckets, mean) during select-only runs right after
#       pgbench -i and after the writes of (a), with the select-only TPS of
#       each and of native.
#   (d) read-write TPS (pgbench -c 4 -j 2) with background GC on and with
#       --no-gc, against native.
#   (e) a fresh machine on s3:// (s3rver on loopback): mount time, postgres
#       start and first-query time from an empty cache directory right after
#       pgbench -i, and again after $BENCH_GC_S3_SECONDS s of pgbench -c 4 -j 2
#       (native: pg_ctl start + first query, for reference).
#
# TPS figures are medians of $BENCH_RUNS runs of $BENCH_SECONDS s. Nothing is
# asserted: the script prints the figures and yes/no for the targets.
#
# Environment: BENCH_GC_MINUTES (10), BENCH_GC_MINUTE (60: seconds per
# "minute" of (a)), BENCH_GC_SCALE (10), BENCH_GC_HISTORY (1m),
# BENCH_GC_INTERVAL (the mount's --gc-interval; empty: its default),
# BENCH_GC_FORKS (100), BENCH_GC_FORK_TX (1000), BENCH_GC_S3 (1; 0 skips (e)),
# BENCH_GC_S3_SECONDS (300), BENCH_SECONDS (30), BENCH_RUNS (3),
# STRATA_TMPDIR (/var/tmp), STRATA_BIN (build/strata).
# A quick look: BENCH_GC_MINUTES=4 BENCH_GC_MINUTE=15 BENCH_GC_FORKS=5
# BENCH_GC_S3_SECONDS=60 BENCH_SECONDS=10 BENCH_RUNS=1 bash bench/gc.sh
set -euo pipefail

BENCH_GC_MINUTES=${BENCH_GC_MINUTES:-10}
BENCH_GC_MINUTE=${BENCH_GC_MINUTE:-60}
BENCH_GC_SCALE=${BENCH_GC_SCALE:-10}
BENCH_GC_HISTORY=${BENCH_GC_HISTORY:-1m}
BENCH_GC_INTERVAL=${BENCH_GC_INTERVAL:-}
BENCH_GC_FORKS=${BENCH_GC_FORKS:-100}
BENCH_GC_FORK_TX=${BENCH_GC_FORK_TX:-1000}
BENCH_GC_S3=${BENCH_GC_S3:-1}
BENCH_GC_S3_SECONDS=${BENCH_GC_S3_SECONDS:-300}
BENCH_SECONDS=${BENCH_SECONDS:-30}
BENCH_RUNS=${BENCH_RUNS:-3}
export STRATA_TMPDIR=${STRATA_TMPDIR:-/var/tmp}
export TEST_NAME=bench-gc
export STRATA_STORE=file # (e) starts its own s3rver
export PG_EXTRA_CONF="shared_buffers = 128MB"

# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../tests/integration/lib.sh"
# shellcheck source=bench/stats.sh
source "$(dirname "$0")/stats.sh"
require_tools

P_NATIVE=55531
P_STRATA=55532
P_FORK=55533
P_S3=55534
PGB_RW=(-c 4 -j 2)
PGB_RO=(-S -c 4 -j 2)
PROBE_SQL="SELECT abalance FROM pgbench_accounts WHERE aid = 4242"
GC_OPTS=(--history "$BENCH_GC_HISTORY")
[[ -n "$BENCH_GC_INTERVAL" ]] && GC_OPTS+=(--gc-interval "$BENCH_GC_INTERVAL")
FILE_URL=$STORE_URL
declare -A R=()

mib() { awk -v b="$1" 'BEGIN { if (b == "" || b == "n/a") print "n/a"; else printf "%.1f", b / 1048576 }'; }
status_field() { strata status --json | jres | jq -r ".$1 // \"n/a\""; }
apparent_bytes() { du -sb --apparent-size "$1" | cut -f1; }
# yesno AWK_CONDITION: "yes" or "no" ("n/a" if a figure in it is n/a).
yesno() {
  if [[ "$1" == *n/a* ]]; then
    echo n/a
  elif awk "BEGIN { exit !($1) }"; then
    echo yes
  else
    echo no
  fi
}
# seconds DURATION: a strata duration (90s, 15m, 2h, 7d, 600) in seconds.
seconds() {
  case $1 in
    *s) echo "${1%s}" ;;
    *m) echo $((${1%m} * 60)) ;;
    *h) echo $((${1%h} * 3600)) ;;
    *d) echo $((${1%d} * 86400)) ;;
    *) echo "$1" ;;
  esac
}
med1() { printf '%s\n' "$@" | median | xargs printf '%.1f'; }

gc_pass() {
  local out
  out=$(strata gc --json | jres) || fail "strata gc failed"
  log "gc: $(jq -r '"freed \(.freed_bytes) B in \(.elapsed_ms) ms, layers \(.layers_before) -> \(.layers_after)"' <<<"$out")"
}

# gc_summary: passes and bytes freed since the mount (GET /v1/gc), or n/a.
gc_summary() {
  local out
  out=$(_api_call GET /v1/gc)
  if [[ "${out%%$'\n'*}" == 200 ]]; then
    jq -c '{passes, freed_bytes_total}' <<<"${out#*$'\n'}"
  else
    echo n/a
  fi
}

# read_sources FILE: the strata_read_sources histogram of /metrics, as
# "bucket LE COUNT" (cumulative), "sum S" and "count N" lines. Empty if the
# daemon has no such family.
read_sources() {
  api GET /metrics | awk '
    /^strata_read_sources_bucket[{ ]/ {
      if (match($0, /le="[^"]*"/)) b[substr($0, RSTART + 4, RLENGTH - 5)] += $2
    }
    /^strata_read_sources_sum[{ ]/ { s += $2; have = 1 }
    /^strata_read_sources_count[{ ]/ { c += $2; have = 1 }
    END { if (!have) exit; for (k in b) print "bucket", k, b[k]; print "sum", s; print "count", c }' >"$1"
}
# sources_between BEFORE AFTER: "p50 p99 mean reads" of the key reads between
# two read_sources snapshots; a quantile is the upper bound of its bucket
# (">16" for the last one); "n/a" without the histogram.
sources_between() {
  if [[ ! -s "$1" || ! -s "$2" ]]; then
    echo "n/a n/a n/a n/a"
    return
  fi
  awk 'FNR == NR { if ($1 == "bucket") a["b" $2] = $3; else a[$1] = $2; next }
       $1 == "bucket" { print ($2 == "+Inf" ? "1e308" : $2), $3 - a["b" $2] }
       $1 == "sum" || $1 == "count" { print $1, $2 - a[$1] }' "$1" "$2" |
    LC_ALL=C sort -k1,1g | awk '
      $1 == "sum" { s = $2; next }
      $1 == "count" { c = $2; next }
      { le[++n] = $1; cum[n] = $2 }
      function q(p,   i, t) {
        t = p * cum[n]
        for (i = 1; i <= n; i++) if (cum[i] >= t) return le[i] >= 1e308 ? ">" le[i - 1] : le[i]
        return "n/a"
      }
      END {
        if (n == 0 || cum[n] == 0) { print "n/a n/a n/a 0"; exit }
        printf "%s %s %.2f %d\n", q(0.5), q(0.99), (c > 0 ? s / c : 0), cum[n]
      }'
}

# select_only_phase LABEL: select-only runs on main with the read-sources
# histogram around them: R[LABEL.ro], R[LABEL.p50], R[LABEL.p99], ...
select_only_phase() {
  local label=$1 h0=$ROOT/rs-$1-0 h1=$ROOT/rs-$1-1 p50 p99 mean n
  read_sources "$h0"
  [[ -s "$h0" ]] || log "WARNING: /metrics has no strata_read_sources histogram"
  tps_runs "$label" select-only "$P_STRATA" "${PGB_RO[@]}"
  R[$label.ro]=$(med1 "${TPS_RUNS[@]}")
  read_sources "$h1"
  read -r p50 p99 mean n < <(sources_between "$h0" "$h1")
  R[$label.p50]=$p50 R[$label.p99]=$p99 R[$label.mean]=$mean R[$label.reads]=$n
  R[$label.layers]=$(status_field layer_count)
  log "[$label] select-only ${R[$label.ro]} tps; read sources p50 $p50, p99 $p99, mean $mean over $n reads; ${R[$label.layers]} layers"
}

# fresh_mount LABEL: delete the s3 mount's cache directory, mount, start
# postgres on s3main, first query; times in R[LABEL.*].
fresh_mount() {
  local label=$1 t0 t1 t2 t3 got
  rm -rf "$CACHE_S3"
  t0=$(now_ms)
  start_daemon "$S3_URL" "$MNT" "$CACHE_S3" "${GC_OPTS[@]}"
  t1=$(now_ms)
  pg_start s3main "$P_S3"
  t2=$(now_ms)
  got=$(psql_q "$P_S3" "$PROBE_SQL")
  t3=$(now_ms)
  [[ "$got" == "$S3_PROBE" ]] || fail "[$label] first query answered $got, expected $S3_PROBE"
  R[$label.mount]=$((t1 - t0)) R[$label.pg]=$((t2 - t1)) R[$label.first]=$((t3 - t0))
  R[$label.store]=$(status_field store_bytes)
  R[$label.layer_count]=$(status_field layer_count)
  R[$label.fetched]=$(strata status --json | jres | jq -r '.cache.l3.read_bytes // "n/a"')
  log "[$label] fresh machine: mount ${R[$label.mount]} ms, postgres +${R[$label.pg]} ms, first query at ${R[$label.first]} ms; store $(mib "${R[$label.store]}") MiB in ${R[$label.layer_count]} layers, fetched $(mib "${R[$label.fetched]}") MiB"
}

log "root $ROOT ($(df --output=source,fstype "$ROOT" | tail -n 1)); scale $BENCH_GC_SCALE; history $BENCH_GC_HISTORY"
log "(a) $BENCH_GC_MINUTES x ${BENCH_GC_MINUTE}s; (b) $BENCH_GC_FORKS forks x $BENCH_GC_FORK_TX tx; TPS: $BENCH_RUNS x ${BENCH_SECONDS}s"

# ------------------------------------------------------------------ native --
NATIVE=$ROOT/native
mkdir -p "$NATIVE"
chown postgres: "$NATIVE"
pg_setup "$NATIVE" "$P_NATIVE" "$BENCH_GC_SCALE"
psql_q "$P_NATIVE" "CHECKPOINT" >/dev/null
tps_runs native select-only "$P_NATIVE" "${PGB_RO[@]}"
R[native.ro]=$(med1 "${TPS_RUNS[@]}")
tps_runs native read-write "$P_NATIVE" "${PGB_RW[@]}"
R[native.rw]=$(med1 "${TPS_RUNS[@]}")
pg_stop "$NATIVE"
t0=$(now_ms)
pg_start "$NATIVE" "$P_NATIVE"
psql_q "$P_NATIVE" "$PROBE_SQL" >/dev/null
R[native.first]=$(($(now_ms) - t0))
R[native.apparent]=$(apparent_bytes "$NATIVE")
pg_stop "$NATIVE"
rm -rf "$NATIVE"

# ----------------------------------------------- strata: load, (c) before --
strata_init
start_daemon "$FILE_URL" "$MNT" "$CACHE_DIR" "${GC_OPTS[@]}"
create_root_branch main
pg_setup main "$P_STRATA" "$BENCH_GC_SCALE"
psql_q "$P_STRATA" "CHECKPOINT" >/dev/null
R[load.store]=$(status_field store_bytes)
R[load.apparent]=$(apparent_bytes "$MNT/main")
log "after pgbench -i: store $(mib "${R[load.store]}") MiB, PGDATA $(mib "${R[load.apparent]}") MiB"
select_only_phase load

# ------------------------------------------------------ (a) levelling off --
log "(a) pgbench ${PGB_RW[*]} for $BENCH_GC_MINUTES x ${BENCH_GC_MINUTE}s, sampling every ${BENCH_GC_MINUTE}s"
declare -a ST=() AP=() LY=()
pgb "$P_STRATA" "${PGB_RW[@]}" -T $((BENCH_GC_MINUTES * BENCH_GC_MINUTE)) -P "$BENCH_GC_MINUTE" \
  >"$LOG_DIR/level.log" 2>&1 &
LEVEL_PID=$!
track_pid "$LEVEL_PID"
t0=$(now_ms)
for ((m = 1; m <= BENCH_GC_MINUTES; m++)); do
  wait_ms=$((t0 + m * BENCH_GC_MINUTE * 1000 - $(now_ms)))
  ((wait_ms > 0)) && sleep "$(awk -v ms="$wait_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
  ST[m]=$(status_field store_bytes)
  AP[m]=$(apparent_bytes "$MNT/main")
  LY[m]=$(status_field layer_count)
  log "(a) minute $m: store $(mib "${ST[m]}") MiB, PGDATA $(mib "${AP[m]}") MiB, ${LY[m]} layers"
done
wait "$LEVEL_PID" || { tail -n 20 "$LOG_DIR/level.log"; fail "pgbench (a) failed"; }
mapfile -t LEVEL_TPS < <(awk '/^progress:/ { print $4 }' "$LOG_DIR/level.log")
R[level.tps]=$(tps_of "$LOG_DIR/level.log" | xargs printf '%.1f')
MID=$(((BENCH_GC_MINUTES + 1) / 2))
N=$BENCH_GC_MINUTES
R[level.fits]=$(yesno "${ST[N]} <= ${AP[N]}")
R[level.growth]=$(awk -v a="${ST[MID]}" -v b="${ST[N]}" 'BEGIN { if (a + 0 == 0) print "n/a"; else printf "%.1f", (b - a) * 100 / a }')
R[level.flat]=$(yesno "${R[level.growth]} < 10")
R[level.gc]=$(gc_summary)

# --------------------------------------------------------------- (c) after --
select_only_phase written

# ------------------------------------------------------ (d) GC on vs off --
tps_runs strata-gc-on read-write "$P_STRATA" "${PGB_RW[@]}"
R[gcon.rw]=$(med1 "${TPS_RUNS[@]}")
R[gcon.layers]=$(status_field layer_count)
pg_stop main
umount_daemon
start_daemon "$FILE_URL" "$MNT" "$CACHE_DIR" --history "$BENCH_GC_HISTORY" --no-gc
pg_start main "$P_STRATA"
tps_runs strata-gc-off read-write "$P_STRATA" "${PGB_RW[@]}"
R[gcoff.rw]=$(med1 "${TPS_RUNS[@]}")
R[gcoff.layers]=$(status_field layer_count)
pg_stop main
umount_daemon

# ---------------------------------------------------------- (b) fork churn --
start_daemon "$FILE_URL" "$MNT" "$CACHE_DIR" "${GC_OPTS[@]}"
HIST_S=$(seconds "$BENCH_GC_HISTORY")
log "(b) main idle: waiting out its ${HIST_S}s window, then two passes"
sleep $((HIST_S + 5))
gc_pass
gc_pass
R[churn.before]=$(status_field store_bytes)
R[churn.layers_before]=$(status_field layer_count)
PEAK=0
[[ "${R[churn.before]}" =~ ^[0-9]+$ ]] && PEAK=${R[churn.before]}
cycles=()
fork_tps=()
for ((i = 1; i <= BENCH_GC_FORKS; i++)); do
  t0=$(now_ms)
  strata branch create "fork$i" --from main >/dev/null || fail "branch create fork$i"
  pg_start "fork$i" "$P_FORK" >/dev/null
  f=$LOG_DIR/fork-$i.log
  pgb "$P_FORK" -c 1 -t "$BENCH_GC_FORK_TX" >"$f" 2>&1 || { cat "$f"; fail "pgbench on fork$i"; }
  fork_tps+=("$(tps_of "$f")")
  pg_stop "fork$i" >/dev/null
  strata branch delete "fork$i" >/dev/null || fail "branch delete fork$i"
  cycles+=("$(($(now_ms) - t0))")
  if ((i % 10 == 0 || i == BENCH_GC_FORKS)); then
    s=$(status_field store_bytes)
    [[ "$s" =~ ^[0-9]+$ ]] && ((s > PEAK)) && PEAK=$s
    log "(b) $i forks done: store $(mib "$s") MiB; last cycle ${cycles[-1]} ms"
  fi
done
gc_pass
gc_pass
R[churn.after]=$(status_field store_bytes)
R[churn.peak]=$PEAK
R[churn.layers_after]=$(status_field layer_count)
R[churn.ratio]=$(ratio "${R[churn.before]}" "${R[churn.after]}")
R[churn.within]=$(yesno "${R[churn.after]} <= ${R[churn.before]} * 1.1 && ${R[churn.after]} >= ${R[churn.before]} * 0.9")
R[churn.cycle]=$(med1 "${cycles[@]}")
R[churn.tps]=$(med1 "${fork_tps[@]}")
umount_daemon

# ------------------------------------------------- (e) fresh machine on s3 --
if [[ "$BENCH_GC_S3" == 1 ]]; then
  export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
  unset AWS_SESSION_TOKEN AWS_PROFILE
  s3_start
  S3_URL=$STORE_URL
  CACHE_S3=$ROOT/cache-s3
  strata_init "$S3_URL"
  start_daemon "$S3_URL" "$MNT" "$CACHE_S3" "${GC_OPTS[@]}"
  create_root_branch s3main
  pg_setup s3main "$P_S3" "$BENCH_GC_SCALE"
  psql_q "$P_S3" "CHECKPOINT" >/dev/null
  S3_PROBE=$(psql_q "$P_S3" "$PROBE_SQL")
  pg_stop s3main
  umount_daemon
  fresh_mount s3load
  log "(e) pgbench ${PGB_RW[*]} for $BENCH_GC_S3_SECONDS s on s3://"
  pgb "$P_S3" "${PGB_RW[@]}" -T "$BENCH_GC_S3_SECONDS" >"$LOG_DIR/s3-history.log" 2>&1 ||
    { tail -n 20 "$LOG_DIR/s3-history.log"; fail "pgbench (e) failed"; }
  R[s3.tps]=$(tps_of "$LOG_DIR/s3-history.log" | xargs printf '%.1f')
  psql_q "$P_S3" "CHECKPOINT" >/dev/null
  S3_PROBE=$(psql_q "$P_S3" "$PROBE_SQL")
  pg_stop s3main
  umount_daemon
  fresh_mount s3hist
  pg_stop s3main
  umount_daemon
fi

# ------------------------------------------------------------------ report --
row() { printf '%-44s | %14s | %14s | %13s\n' "$@"; }
echo
echo "strata GC benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(nproc) cores  $(uname -r)"
echo "scale $BENCH_GC_SCALE, --history $BENCH_GC_HISTORY${BENCH_GC_INTERVAL:+, --gc-interval $BENCH_GC_INTERVAL}; TPS: pgbench -c 4 -j 2, median of $BENCH_RUNS x ${BENCH_SECONDS}s; same disk, same postgresql.conf"
echo
echo "(a) levelling off: pgbench ${PGB_RW[*]}, $BENCH_GC_MINUTES x ${BENCH_GC_MINUTE}s (${R[level.tps]} tps overall)"
printf '  %6s | %12s | %14s | %11s | %7s | %8s\n' minute "store MiB" "PGDATA MiB" "store/PGDATA" layers tps
for ((m = 1; m <= N; m++)); do
  printf '  %6s | %12s | %14s | %11s | %7s | %8s\n' "$m" "$(mib "${ST[m]}")" "$(mib "${AP[m]}")" \
    "$(ratio "${AP[m]}" "${ST[m]}")" "${LY[m]}" "${LEVEL_TPS[m - 1]:-n/a}"
done
echo "  after pgbench -i: store $(mib "${R[load.store]}") MiB, PGDATA $(mib "${R[load.apparent]}") MiB (native PGDATA after its runs: $(mib "${R[native.apparent]}") MiB)"
echo "  final store <= PGDATA apparent size: ${R[level.fits]}"
echo "  store growth, minute $MID -> $N: ${R[level.growth]}% (< 10%: ${R[level.flat]})"
echo "  collector: ${R[level.gc]}"
echo
row metric native strata strata/native
row "$(printf -- '-%.0s' {1..44})" "--------------" "--------------" "-------------"
row "select-only TPS, right after pgbench -i" "${R[native.ro]}" "${R[load.ro]}" "$(ratio "${R[native.ro]}" "${R[load.ro]}")"
row "select-only TPS, after (a)'s writes" "${R[native.ro]}" "${R[written.ro]}" "$(ratio "${R[native.ro]}" "${R[written.ro]}")"
row "read-write TPS, background GC on" "${R[native.rw]}" "${R[gcon.rw]}" "$(ratio "${R[native.rw]}" "${R[gcon.rw]}")"
row "read-write TPS, --no-gc" "${R[native.rw]}" "${R[gcoff.rw]}" "$(ratio "${R[native.rw]}" "${R[gcoff.rw]}")"
echo
echo "(c) layers per read (strata_read_sources; bucket bounds 1 2 3 4 6 8 12 16)"
printf '  %-28s | %5s | %5s | %6s | %10s | %7s\n' phase p50 p99 mean reads layers
for l in load written; do
  printf '  %-28s | %5s | %5s | %6s | %10s | %7s\n' "$([[ $l == load ]] && echo "right after pgbench -i" || echo "after (a)'s writes")" \
    "${R[$l.p50]}" "${R[$l.p99]}" "${R[$l.mean]}" "${R[$l.reads]}" "${R[$l.layers]}"
done
echo "  select-only TPS after/before the writes: $(ratio "${R[load.ro]}" "${R[written.ro]}")"
echo
echo "(d) read-write TPS GC on / --no-gc: $(ratio "${R[gcoff.rw]}" "${R[gcon.rw]}") (layers at the end: on ${R[gcon.layers]}, off ${R[gcoff.layers]})"
echo
echo "(b) fork churn: $BENCH_GC_FORKS forks x $BENCH_GC_FORK_TX transactions (-c 1; median ${R[churn.tps]} tps), median cycle ${R[churn.cycle]} ms"
echo "  store before $(mib "${R[churn.before]}") MiB (${R[churn.layers_before]} layers), peak $(mib "${R[churn.peak]}") MiB, after $(mib "${R[churn.after]}") MiB (${R[churn.layers_after]} layers)"
echo "  after/before ${R[churn.ratio]} (within 10%: ${R[churn.within]})"
if [[ "$BENCH_GC_S3" == 1 ]]; then
  echo
  echo "(e) fresh machine on s3:// (empty cache directory), ms; native: pg_ctl start + first query"
  printf '  %-28s | %9s | %12s | %12s | %10s | %7s | %11s\n' "" mount "postgres up" "first query" "store MiB" layers "fetched MiB"
  printf '  %-28s | %9s | %12s | %12s | %10s | %7s | %11s\n' "native ext4" - - "${R[native.first]}" - - -
  for l in s3load s3hist; do
    printf '  %-28s | %9s | %12s | %12s | %10s | %7s | %11s\n' \
      "$([[ $l == s3load ]] && echo "right after pgbench -i" || echo "after ${BENCH_GC_S3_SECONDS}s of pgbench")" \
      "${R[$l.mount]}" "${R[$l.pg]}" "${R[$l.first]}" "$(mib "${R[$l.store]}")" "${R[$l.layer_count]}" "$(mib "${R[$l.fetched]}")"
  done
  echo "  after history / after load: mount $(ratio "${R[s3load.mount]}" "${R[s3hist.mount]}"), first query $(ratio "${R[s3load.first]}" "${R[s3hist.first]}"); first query vs native $(ratio "${R[native.first]}" "${R[s3hist.first]}") (pgbench on s3:// ${R[s3.tps]} tps)"
fi
