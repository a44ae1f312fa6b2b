#!/usr/bin/env bash
# crash: kill -9 the strata daemon and the postmaster under a write load,
# lazy-unmount, mount again, and check that postgres recovers, that every
# commit the client saw acknowledged is there (ledger), and that amcheck is
# clean. Three rounds.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools
[[ -x "$LEDGER_BIN" ]] || fail "ledger client not found at $LEDGER_BIN (set LEDGER_BIN)"

PORT=55451
ROUNDS=${CRASH_ROUNDS:-3}
strata_init
start_daemon
create_root_branch main
pg_init main
pg_start main "$PORT"
pgb "$PORT" -i -s 2 -q >"$LOG_DIR/pgbench-init.log" 2>&1 || { cat "$LOG_DIR/pgbench-init.log"; fail "pgbench -i failed"; }
LEDGER=$ROOT/ledger.txt
: >"$LEDGER"

for round in $(seq 1 "$ROUNDS"); do
  check "round $round/$ROUNDS: ledger writer + pgbench, then kill -9 daemon and postmaster"
  "$LEDGER_BIN" write "$(conninfo "$PORT")" "$LEDGER" --seconds 120 --start $((round * 10000000)) \
    >"$LOG_DIR/ledger-$round.log" 2>&1 &
  W_PID=$!
  track_pid "$W_PID"
  pgb "$PORT" -c 2 -j 1 -T 120 >"$LOG_DIR/pgbench-$round.log" 2>&1 &
  B_PID=$!
  track_pid "$B_PID"
  sleep $((3 + round))
  PM=${PG_PID[$MNT/main]}
  BACKENDS=$(pgrep -P "$PM" | tr '\n' ' ' || true)
  if [[ "$STRATA_NATIVE" != 1 ]]; then
    DPID=$(daemon_pid)
    [[ "$DPID" =~ ^[0-9]+$ ]] || fail "no daemon pid from strata status"
    kill -9 "$DPID"
    log "killed strata daemon $DPID"
  fi
  kill -9 "$PM"
  # a power loss takes every backend with it
  for b in $BACKENDS; do kill -9 "$b" 2>/dev/null || true; done
  log "killed postmaster $PM and its children"
  wait "$W_PID" || fail "ledger writer failed (see $LOG_DIR/ledger-$round.log)"
  cat "$LOG_DIR/ledger-$round.log"
  wait "$B_PID" || true # pgbench fails by design
  wait_gone "$PM" 30 || fail "postmaster $PM still alive"
  for b in $BACKENDS; do wait_gone "$b" 30 || fail "backend $b still alive"; done
  pg_forget main
  if [[ "$STRATA_NATIVE" != 1 ]]; then
    wait_gone "$DPID" 30 || fail "daemon $DPID still alive after kill -9"
    unset "DAEMON_PID[$MNT]"
    umount -l "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true
    mountpoint -q "$MNT" && fail "$MNT still mounted after lazy unmount"
    log "lazy-unmounted $MNT"
    start_daemon
  fi

  check "round $round: crash recovery, ledger, amcheck"
  pg_start main "$PORT"
  grep -qiE 'redo (starts|done)|not properly shut down|interrupted' "${PG_LOG[$MNT/main]}" && ok "postgres ran crash recovery"
  "$LEDGER_BIN" check "$(conninfo "$PORT")" "$LEDGER" || fail "acknowledged commits lost (round $round)"
  ok "every acknowledged commit survived ($(grep -c '' "$LEDGER") so far)"
  amcheck "$PORT"
done

pg_stop main
checksums main
umount_daemon
