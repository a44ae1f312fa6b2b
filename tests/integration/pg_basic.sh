#!/usr/bin/env bash
# pg_basic: stock PostgreSQL 15 runs on a strata branch: initdb --data-checksums,
# pgbench init + a 15 s read-write load without errors, pg_amcheck clean,
# pg_checksums clean after a clean shutdown.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools

PORT=55411
strata_init
start_daemon
create_root_branch main
pg_init main
pg_start main "$PORT"

check "pgbench -i -s 5"
t0=$(now_ms)
pgb_init "$PORT" 5
ok "pgbench -i -s 5 in $(($(now_ms) - t0)) ms"

check "pgbench -c 4 -j 2 -T 15 runs without errors"
pgb "$PORT" -c 4 -j 2 -T "${PG_BASIC_SECONDS:-15}" >"$LOG_DIR/pgbench-run.log" 2>&1 ||
  { cat "$LOG_DIR/pgbench-run.log"; fail "pgbench run failed"; }
grep -E '^(tps|number of (transactions actually processed|failed))' "$LOG_DIR/pgbench-run.log" || true
if grep -qE 'number of failed transactions: [1-9]' "$LOG_DIR/pgbench-run.log"; then
  fail "pgbench reported failed transactions"
fi
ok "pgbench load clean"

check "row counts"
n=$(psql_q "$PORT" "SELECT count(*) FROM pgbench_accounts")
[[ "$n" == 500000 ]] || fail "pgbench_accounts has $n rows, expected 500000"
ok "pgbench_accounts = 500000"

check "pg_amcheck --heapallindexed"
amcheck "$PORT"

pg_stop main
check "pg_checksums --check after clean shutdown"
checksums main
umount_daemon
