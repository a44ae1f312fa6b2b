#!/usr/bin/env bash
# s3_restore: a fresh machine gets every branch back from an s3:// store.
#
# A pgbench database (plus a branch of it) is written to the store; the daemon
# is unmounted and its whole cache directory (RocksDB index, L2 layer cache,
# local op log) deleted, as if the machine were new. A new mount rebuilds the
# index from the store, postgres starts, and the first query answers after
# fetching far less than the store holds (pages come lazily). Then every row
# is checked against what was there before, and amcheck + pg_checksums pass on
# both branches. Prints bytes fetched and time to first query.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools
[[ "$STRATA_STORE" == s3 ]] || fail "s3_restore runs on an s3:// store (STRATA_STORE=s3)"

PORT=55471
SCALE=${RESTORE_SCALE:-10}
strata_init
start_daemon
create_root_branch main
pg_setup main "$PORT" "$SCALE"
pgb "$PORT" -c 2 -j 1 -T 5 >"$LOG_DIR/pgbench-run.log" 2>&1 || fail "pgbench run failed"
psql_q "$PORT" "CHECKPOINT" >/dev/null
strata branch create agent --from main --checkpoint "$(conninfo "$PORT")" >/dev/null ||
  fail "branch create agent failed"

FINGERPRINT="SELECT count(*), sum(abalance), sum(aid::bigint * abalance) FROM pgbench_accounts;
SELECT count(*), sum(delta) FROM pgbench_history;
SELECT sum(bbalance), sum(tbalance) FROM pgbench_branches, pgbench_tellers WHERE pgbench_tellers.bid = pgbench_branches.bid"
BEFORE=$(psql_q "$PORT" "$FINGERPRINT")
PROBE=$(psql_q "$PORT" "SELECT abalance FROM pgbench_accounts WHERE aid = 4242")
pg_stop main
umount_daemon

STORE_BYTES=$(find "$S3_DIR/data" -name '*._S3rver_object' -printf '%s\n' | awk '{s += $1} END {print s}')
LAYERS=$(find "$S3_DIR/data" -name '*.layer._S3rver_object' | wc -l)
log "store holds $STORE_BYTES bytes in $LAYERS layer objects"

check "fresh machine: delete the cache directory (index, L2 cache, op log) and mount again"
rm -rf "$CACHE_DIR"
T0=$(now_ms)
start_daemon
T_MOUNT=$(now_ms)
pg_start main "$PORT"
T_PG=$(now_ms)
GOT=$(psql_q "$PORT" "SELECT abalance FROM pgbench_accounts WHERE aid = 4242")
T_FIRST=$(now_ms)
[[ "$GOT" == "$PROBE" ]] || fail "first query answered $GOT, expected $PROBE"
FETCHED=$(strata status --json | jres | jq -r '.cache.l3.read_bytes')
PCT=$((FETCHED * 100 / STORE_BYTES))
log "RESULT restore: mount $((T_MOUNT - T0)) ms, postgres up $((T_PG - T0)) ms, first query $((T_FIRST - T0)) ms; fetched $FETCHED of $STORE_BYTES store bytes ($PCT%)"
((FETCHED * 4 < STORE_BYTES)) ||
  fail "fetched $FETCHED bytes before the first query: not far less than the store's $STORE_BYTES"
ok "first query answered after fetching $PCT% of the store"

check "every row is back"
AFTER=$(psql_q "$PORT" "$FINGERPRINT")
[[ "$AFTER" == "$BEFORE" ]] || fail "data differs after restore:
before: $BEFORE
after:  $AFTER"
ok "pgbench tables identical (counts and checksums of every balance)"
amcheck "$PORT"
pg_stop main
checksums main

check "the branch made before the machine was lost is back too"
pg_start agent "$PORT"
AGENT=$(psql_q "$PORT" "SELECT count(*) FROM pgbench_accounts")
[[ "$AGENT" == "$((SCALE * 100000))" ]] || fail "branch agent has $AGENT accounts"
amcheck "$PORT"
pg_stop agent
checksums agent
strata status
umount_daemon

check "strata verify: every object of the store against its checksums"
strata verify "$STORE_URL" || fail "strata verify found problems in a healthy store"
