#!/usr/bin/env bash
# crash: kill -9 the strata daemon and the postmaster under a write load,
# lazy-unmount, mount again, and check that postgres recovers, that every
# commit the client saw acknowledged is there (ledger), and that amcheck is
# clean. Three rounds.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools ledger

PORT=55451
ROUNDS=${CRASH_ROUNDS:-3}
strata_init
start_daemon
create_root_branch main
pg_setup main "$PORT" 2
LEDGER=$ROOT/ledger.txt
: >"$LEDGER"

for round in $(seq 1 "$ROUNDS"); do
  check "round $round/$ROUNDS: ledger writer + pgbench, then kill -9 daemon and postmaster"
  load_start "$PORT" "$LEDGER" "$round"
  sleep $((3 + round))
  [[ "$STRATA_NATIVE" != 1 ]] && kill_daemon
  kill_pg main
  load_wait "$round"
  [[ "$STRATA_NATIVE" != 1 ]] && start_daemon

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
