#!/usr/bin/env bash
# gc_crash: kill -9 the daemon in the middle of a compaction and GC pass,
# under a read-write load, and lose nothing.
#
# The mount collects all the time: 1 MiB memtables (a layer flushed every
# second or so), a 5 s history window, a background pass every second at a
# low --gc-rate (so a pass takes a while), and `strata gc` in a loop on top.
# Main runs pgbench and the ledger writer; a snapshot and a child branch pin
# an old point of main. Each round waits, at a random moment, until a pass is
# running, then kills the daemon (kill -9) and postgres, mounts again and
# checks: a pass succeeds (and sweeps what the interrupted one left), postgres
# recovers, every acknowledged commit is there (ledger), amcheck is clean, and
# the child still reads exactly what it read at the fork. At the end:
# pg_checksums on main and on the child (after a postgres run on it), and
# `strata verify` on the store. GC_CRASH_ROUNDS rounds (2).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools ledger

PORT=55501
P_CHILD=55502
ROUNDS=${GC_CRASH_ROUNDS:-2}
MOUNT_OPTS=(--history 5s --gc-interval 1s --gc-rate 2M --memtable-size 1M)
strata_init
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" "${MOUNT_OPTS[@]}"
create_root_branch main
pg_setup main "$PORT" 2
LEDGER=$ROOT/ledger.txt
: >"$LEDGER"

gc_state() { api GET /v1/gc; }
gc_report_line() {
  jq -r '"freed \(.freed_bytes) B in \(.elapsed_ms) ms: layers \(.layers_before) -> \(.layers_after), store \(.bytes_before) -> \(.bytes_after) B, leaked objects deleted \(.leaked_objects_deleted)"'
}

check "the collector is on: GET /v1/gc"
STATE=$(gc_state)
jq -e '.enabled == true and .interval_ms == 1000 and (.passes | type) == "number"' <<<"$STATE" >/dev/null ||
  fail "GET /v1/gc does not show background GC every 1 s: $STATE"
ok "gc: $(jq -c '{enabled, interval_ms, rate_bytes_per_second, passes}' <<<"$STATE")"

check "a snapshot and a child pin an old point of main"
psql_q "$PORT" "CHECKPOINT"
strata snapshot create main base >/dev/null || fail "snapshot create main base failed"
strata branch create child --from main@base >/dev/null || fail "branch create child --from main@base failed"
CHILD_DIGEST=$ROOT/child.digest
tree_digest "$MNT/child" >"$CHILD_DIGEST" || fail "could not read every file of the child"
ok "child: $(grep -c '' "$CHILD_DIGEST") entries recorded"

# gc_loop_start TAG: `strata gc` back to back while the daemon lives.
gc_loop_start() {
  local dpid=${DAEMON_PID[$MNT]} tag=$1
  (
    while kill -0 "$dpid" 2>/dev/null; do
      if "$STRATA_BIN" gc --json >>"$LOG_DIR/gc-loop-$tag.log" 2>&1; then
        echo >>"$LOG_DIR/gc-loop-$tag.log"
      else
        sleep 0.2
      fi
    done
  ) &
  GC_LOOP_PID=$!
  track_pid "$GC_LOOP_PID"
}

# kill_during_pass SECONDS: poll, after random short waits, until a pass is
# running, then kill -9 the daemon at once. KILLED_RUNNING says whether the
# last poll before the kill saw a pass running (where), or "no".
kill_during_pass() {
  local deadline=$(($(now_ms) + $1 * 1000)) st pid=${DAEMON_PID[$MNT]}
  KILLED_RUNNING=no
  while (($(now_ms) < deadline)); do
    sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
    st=$(gc_state)
    if jq -e '.running != null' <<<"$st" >/dev/null; then
      KILLED_RUNNING=$(jq -c '.running' <<<"$st")
      break
    fi
  done
  kill -9 "$pid"
  wait_gone "$pid" 30 || fail "daemon $pid still alive after kill -9"
  unset "DAEMON_PID[$MNT]"
  umount -l "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true
  mountpoint -q "$MNT" && fail "$MNT still mounted after lazy unmount"
  log "killed strata daemon $pid (kill -9), pass running: $KILLED_RUNNING"
}

HITS=0
for round in $(seq 1 "$ROUNDS"); do
  check "round $round/$ROUNDS: ledger writer + pgbench + gc loop, then kill -9 during a pass"
  passes0=$(gc_state | jq -r '.passes')
  load_start "$PORT" "$LEDGER" "$round"
  gc_loop_start "$round"
  sleep $((2 + round))
  kill_during_pass 15
  [[ "$KILLED_RUNNING" != no ]] && HITS=$((HITS + 1))
  kill_pg main
  load_wait "$round"
  wait "$GC_LOOP_PID" || true
  log "round $round: $(grep -c '"freed_bytes"' "$LOG_DIR/gc-loop-$round.log" || true) strata gc passes completed by the loop (background passes before the round: $passes0)"
  start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" "${MOUNT_OPTS[@]}"

  check "round $round: a pass after the crash, crash recovery, ledger, amcheck, the child"
  out=$(strata gc --json | jres) || fail "strata gc after the crash failed"
  ok "gc after the crash: $(gc_report_line <<<"$out")"
  pg_start main "$PORT"
  grep -qiE 'redo (starts|done)|not properly shut down|interrupted' "${PG_LOG[$MNT/main]}" && ok "postgres ran crash recovery"
  "$LEDGER_BIN" check "$(conninfo "$PORT")" "$LEDGER" || fail "acknowledged commits lost (round $round)"
  ok "every acknowledged commit survived ($(grep -c '' "$LEDGER") so far)"
  amcheck "$PORT"
  diff -u "$CHILD_DIGEST" <(tree_digest "$MNT/child") >"$ROOT/child.diff" ||
    { head -n 40 "$ROOT/child.diff" >&2; fail "the child's files changed (round $round)"; }
  ok "the child still reads exactly its fork point"
done
((HITS > 0)) || fail "no kill landed while a GC pass was running (polled 15 s in each of $ROUNDS rounds)"
ok "$HITS of $ROUNDS kills landed during a running pass"

check "end: the snapshot is there, pg_checksums on main and on the child"
strata_json snapshot list | jq -e '.[] | select(.name == "base")' >/dev/null || fail "snapshot base is gone"
pg_stop main
checksums main
pg_start child "$P_CHILD"
amcheck "$P_CHILD"
pg_stop child
checksums child
out=$(strata gc --json | jres) || fail "strata gc failed"
ok "last gc: $(gc_report_line <<<"$out")"
umount_daemon

check "strata verify: every object after $ROUNDS interrupted passes"
strata verify "$STORE_URL" || fail "strata verify found problems"
