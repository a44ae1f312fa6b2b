#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib.sh helpers take optional arguments
# bench/catalog.sh: what one catalog change costs as the store fills with
# branches (as root). One daemon, one root branch `main`; then forks of main
# are created through the control API (one curl process, keep-alive, over
# the unix socket) until the store holds each of $BENCH_SIZES branches:
#   - branch create: the daemon's elapsed_us of the last $BENCH_SAMPLES
#     creates before each size, p50 and p99;
#   - the catalog's objects at each size (file:// only): the newest version's
#     bytes (a delta, or the whole catalog) and the newest whole version's;
#   - GET /v1/branches at each size: the whole list's bytes and time, and
#     one page of 100 (?limit=100; n/a from a daemon without pages).
# STRATA_STORE=s3 runs it on an s3rver store (tests/integration/lib.sh).
# STRATA_BIN picks the binary, e.g. an older build for a before/after.
#
# Environment: BENCH_SIZES ("100 1000 10000"), BENCH_SAMPLES (50),
# STRATA_TMPDIR (/var/tmp), STRATA_BIN (build/strata).
set -euo pipefail

BENCH_SIZES=${BENCH_SIZES:-"100 1000 10000"}
BENCH_SAMPLES=${BENCH_SAMPLES:-50}
export STRATA_TMPDIR=${STRATA_TMPDIR:-/var/tmp}
export TEST_NAME=bench-catalog

# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../tests/integration/lib.sh"
# shellcheck source=bench/stats.sh
source "$(dirname "$0")/stats.sh"
require_tools

SOCK=
# create_forks FIRST LAST: creates forks c-FIRST .. c-LAST of main in one
# curl process; prints each one's elapsed_us, one per line.
create_forks() {
  local cfg=$ROOT/create.cfg i
  : >"$cfg"
  for ((i = $1; i <= $2; i++)); do
    ((i == $1)) || echo next
    printf 'url = "http://strata/v1/branches"\nunix-socket = "%s"\nrequest = "POST"\n' "$SOCK"
    printf 'header = "Content-Type: application/json"\n'
    printf 'data-binary = "{\\"name\\": \\"c-%06d\\", \\"from\\": \\"main\\"}"\n' "$i"
    printf 'write-out = "\\n"\n'
  done >>"$cfg"
  curl -sS -K "$cfg" | jq -r 'if .elapsed_us then .elapsed_us else error("create failed: \(.)") end'
}

# list_stats QUERY: "BYTES MS" of one GET /v1/branches?QUERY, or "n/a n/a".
list_stats() {
  local out
  out=$(curl -sS --unix-socket "$SOCK" -o /dev/null -w '%{http_code} %{size_download} %{time_total}' \
    "http://strata/v1/branches$1")
  read -r code bytes secs <<<"$out"
  if [[ "$code" != 200 ]]; then
    echo "n/a n/a"
  else
    echo "$bytes $(awk -v s="$secs" 'BEGIN { printf "%.1f", s * 1000 }')"
  fi
}

# catalog_bytes: "NEWEST WHOLE" bytes of the catalog objects (file:// only).
catalog_bytes() {
  local dir=$STORE_DIR/catalog newest whole f
  if [[ "$STRATA_STORE" != file || ! -d "$dir" ]]; then
    echo "n/a n/a"
    return
  fi
  newest=$(find "$dir" -name '*.json' | sort | tail -n 1)
  whole=
  while read -r f; do
    if ! grep -q '"format": 2' "$f"; then
      whole=$f
      break
    fi
  done < <(find "$dir" -name '*.json' | sort -r)
  echo "$(stat -c %s "$newest") ${whole:+$(stat -c %s "$whole")}"
}

log "sizes: $BENCH_SIZES; $BENCH_SAMPLES creates measured at each; store $STRATA_STORE; binary $STRATA_BIN"
strata_init
start_daemon
SOCK=$CACHE_DIR/control.sock
create_root_branch main
declare -a ROWS=()
made=1 # main
for size in $BENCH_SIZES; do
  ((size > made)) || fail "BENCH_SIZES must grow: $size after $made"
  t0=$(now_ms)
  mapfile -t us < <(create_forks "$made" "$((size - 1))")
  t1=$(now_ms)
  ((${#us[@]} == size - made)) || fail "made ${#us[@]} of $((size - made)) branches"
  made=$size
  samples=$(printf '%s\n' "${us[@]}" | tail -n "$BENCH_SAMPLES")
  p50=$(median <<<"$samples")
  p99=$(p99 <<<"$samples")
  read -r newest whole <<<"$(catalog_bytes)"
  read -r list_bytes list_ms <<<"$(list_stats '')"
  read -r page_bytes page_ms <<<"$(list_stats '?limit=100')"
  log "$size branches: create p50 ${p50} us, p99 ${p99} us ($((t1 - t0)) ms for the fill)"
  ROWS+=("$(printf '%8s | %10s | %10s | %12s | %12s | %11s | %8s | %11s | %8s' "$size" \
    "$(awk -v u="$p50" 'BEGIN { printf "%.2f", u / 1000 }')" \
    "$(awk -v u="$p99" 'BEGIN { printf "%.2f", u / 1000 }')" \
    "$newest" "${whole:-n/a}" "$list_bytes" "$list_ms" "$page_bytes" "$page_ms")")
done
umount_daemon

echo
echo "strata catalog  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(nproc) cores  store $STRATA_STORE  $("$STRATA_BIN" --version 2>/dev/null | head -n 1)"
echo "branch create = the daemon's elapsed_us of the last $BENCH_SAMPLES forks of main before each size"
echo
printf '%8s | %10s | %10s | %12s | %12s | %11s | %8s | %11s | %8s\n' branches "create p50" "create p99" \
  "newest (B)" "whole (B)" "list (B)" "list ms" "page100 (B)" "page ms"
printf '%8s-+-%10s-+-%10s-+-%12s-+-%12s-+-%11s-+-%8s-+-%11s-+-%8s\n' -------- ---------- ---------- \
  ------------ ------------ ----------- -------- ----------- --------
printf '%s\n' "${ROWS[@]}"
echo "(create in ms; newest = the newest catalog version's object, whole = the newest whole one)"
