#!/usr/bin/env bash
# branch_running: snapshot + branch of a cluster under a pgbench write load.
# The child's postgres runs crash recovery and serves queries; writes on each
# side stay invisible on the other; amcheck + pg_checksums clean on both.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools

P_MAIN=55421
P_CHILD=55422
strata_init
start_daemon
create_root_branch main
pg_setup main "$P_MAIN" 5

check "snapshot + branch while pgbench -c 4 writes to main"
pgb "$P_MAIN" -c 4 -j 2 -T 20 >"$LOG_DIR/pgbench-load.log" 2>&1 &
LOAD_PID=$!
track_pid "$LOAD_PID"
sleep 5
timed_json snapshot create main snap1
ok "snapshot create main snap1: $(fmt_ms "$TJ_WALL_US") ms wall (CLI call), daemon elapsed_us=${TJ_US:-n/a}"
timed_json branch create child --from main@snap1
ok "branch create child --from main@snap1: $(fmt_ms "$TJ_WALL_US") ms wall (CLI call), daemon elapsed_us=${TJ_US:-n/a}"
[[ -d "$MNT/child" ]] || fail "$MNT/child does not exist after branch create"

check "postgres on child (port $P_CHILD) runs crash recovery and answers while main is loaded"
pg_start child "$P_CHILD"
if grep -qiE 'database system was (interrupted|not properly shut down)|redo starts|automatic recovery' "${PG_LOG[$MNT/child]}"; then
  ok "child's log shows crash recovery"
else
  log "note: no crash-recovery lines in child's log"
fi
n_child=$(psql_q "$P_CHILD" "SELECT count(*) FROM pgbench_accounts")
[[ "$n_child" == 500000 ]] || fail "child: pgbench_accounts has $n_child rows"
ok "child answers: pgbench_accounts = $n_child, history rows = $(psql_q "$P_CHILD" "SELECT count(*) FROM pgbench_history")"
[[ $(psql_q "$P_CHILD" "SELECT pg_is_in_recovery()") == f ]] || fail "child still in recovery"

wait "$LOAD_PID" || { cat "$LOG_DIR/pgbench-load.log"; fail "pgbench load on main failed"; }
grep -E '^tps' "$LOG_DIR/pgbench-load.log" || true
ok "pgbench load on main finished cleanly"

check "writes on each side are invisible on the other"
psql_q "$P_MAIN" "CREATE TABLE only_on_main AS SELECT 'main'::text AS who"
psql_q "$P_CHILD" "CREATE TABLE only_on_child AS SELECT 'child'::text AS who"
psql_q "$P_MAIN" "UPDATE pgbench_branches SET filler = 'main-side' WHERE bid = 1"
psql_q "$P_CHILD" "UPDATE pgbench_branches SET filler = 'child-side' WHERE bid = 1"
[[ $(psql_q "$P_MAIN" "SELECT count(*) FROM pg_class WHERE relname = 'only_on_child'") == 0 ]] || fail "main sees child's table"
[[ $(psql_q "$P_CHILD" "SELECT count(*) FROM pg_class WHERE relname = 'only_on_main'") == 0 ]] || fail "child sees main's table"
[[ $(psql_q "$P_MAIN" "SELECT who FROM only_on_main") == main ]] || fail "main lost its own marker"
[[ $(psql_q "$P_CHILD" "SELECT who FROM only_on_child") == child ]] || fail "child lost its own marker"
[[ $(psql_q "$P_MAIN" "SELECT trim(filler) FROM pgbench_branches WHERE bid = 1") == main-side ]] || fail "main: wrong filler"
[[ $(psql_q "$P_CHILD" "SELECT trim(filler) FROM pgbench_branches WHERE bid = 1") == child-side ]] || fail "child: wrong filler"
ok "isolated"

check "pg_amcheck --heapallindexed --all on both"
amcheck "$P_MAIN"
amcheck "$P_CHILD"

pg_stop main
pg_stop child
check "pg_checksums --check on both (stopped)"
checksums main
checksums child
umount_daemon
