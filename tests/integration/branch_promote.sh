#!/usr/bin/env bash
# branch_promote: restore and promote move a branch name to another state
# while its credentials and connection string keep working (docs/api.md,
# "Restore and promote"). Real postgres servers run by the daemon, real
# clients through its proxy.
#  (a) restore --preserve-as: main goes back to a seq, the same connection
#      string sees the old rows, the preserved name has the later ones; a
#      second restore (to a time) without --preserve-as retires the state.
#  (b) promote of a fork whose parent did not move: the parent's credential
#      sees the fork's migration, the fork's name is gone, pg_amcheck clean.
#  (c) promote refused when the parent moved: one line naming what changed,
#      both branches as they were.
#  (d) the same when the parent's server was killed right after its commit
#      (the commit in its WAL only): the daemon recovers the parent first.
#  (e) a promote goes through when the parent only served reads after the
#      fork: the pages their hint bits dirtied are no change, for no
#      transaction ended (its pg_control at the fork and now).
#  Then a remount keeps all of it, and `strata verify` passes.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools

PPORT=55611
API_PORT=55612
strata_init
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" --proxy "127.0.0.1:$PPORT" \
  --api "127.0.0.1:$API_PORT" --idle-timeout 600

# q URI SQL: psql through the proxy; the output, or the error (status 1).
q() { PGCONNECT_TIMEOUT=60 "$PGBIN/psql" -X -At -v ON_ERROR_STOP=1 "$1" -c "$2" 2>&1; }
rows() { q "$1" "SELECT string_agg(v, ',' ORDER BY v) FROM t"; }
# uri BRANCH: a new credential's connection string.
uri() { api POST "/v1/branches/$1/credentials" '{}' | jq -er .uri; }
# The branches a user made (initdb forks strata's template, _initdb_pg15).
names() { api GET /v1/branches | jq -r '[.[].name | select(startswith("_initdb_") | not)] | sort | join(",")'; }
expect_rows() {
  local got
  got=$(rows "$1") || fail "$3: query failed: $got"
  [[ "$got" == "$2" ]] || fail "$3 sees '$got', expected '$2'"
  ok "$3 sees $got"
}

check "main: initdb through the API, one credential for the whole test"
api POST /v1/branches '{"name":"main","initdb":true}' >/dev/null
MAIN_URI=$(uri main)
q "$MAIN_URI" "CREATE TABLE t (v text); INSERT INTO t VALUES ('a')" >/dev/null ||
  fail "first write through the proxy failed"
SEQ_A=$(branch_seq main)
log "after 'a': main seq $SEQ_A"
q "$MAIN_URI" "INSERT INTO t VALUES ('b')" >/dev/null || fail "insert b"
expect_rows "$MAIN_URI" a,b "main"

check "(a) restore main --to @seq:$SEQ_A --preserve-as before"
out=$(strata branch restore main --to "@seq:$SEQ_A" --preserve-as before) || fail "restore: $out"
[[ "$out" == "restored branch main to @seq:$SEQ_A (old state kept as before)"* ]] ||
  fail "restore said: $out"
ok "$out"
expect_rows "$MAIN_URI" a "main, through the same connection string"
expect_rows "$(uri before)" a,b "before"
[[ "$(names)" == before,main ]] || fail "branches after restore: $(names)"

check "(a) restore main --to @time: without --preserve-as retires the old state"
q "$MAIN_URI" "INSERT INTO t VALUES ('c')" >/dev/null || fail "insert c"
sleep 1.2
TIME_C=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
sleep 1.2
q "$MAIN_URI" "INSERT INTO t VALUES ('d')" >/dev/null || fail "insert d"
expect_rows "$MAIN_URI" a,c,d "main before the second restore"
j=$(strata branch restore main --to "@time:$TIME_C" --json | jres) || fail "restore to a time"
[[ "$(jq -r .name <<<"$j")" == main && "$(jq -r .parent <<<"$j")" == null ]] ||
  fail "restore answered: $j"
expect_rows "$MAIN_URI" a,c "main, through the same connection string"
[[ "$(names)" == before,main ]] || fail "a retired state is listed: $(names)"
[[ "$(find "$MNT" -mindepth 1 -maxdepth 1 -printf '%f\n' | grep -v '^[._]' | sort | paste -sd,)" == before,main ]] ||
  fail "the mount's root lists: $(ls "$MNT")"
ok "branches: $(names); $MNT lists the same"

check "(b) promote a migrated fork of a parent that did not move"
expect_rows "$MAIN_URI" a,c "main before the fork"
# Suspended (a clean shutdown) before the fork: a server running at the fork
# would write its shutdown checkpoint when the promote stops it.
api POST /v1/branches/main/endpoint/suspend >/dev/null
api POST /v1/branches '{"name":"child","from":"main"}' >/dev/null
CHILD_URI=$(uri child)
q "$CHILD_URI" "CREATE TABLE m (id int PRIMARY KEY, note text);
  INSERT INTO m SELECT g, 'n' || g FROM generate_series(1, 5000) g;
  ALTER TABLE t ADD COLUMN w int DEFAULT 7; INSERT INTO t VALUES ('child', 8)" >/dev/null ||
  fail "migration on child failed"
t0=$(now_ms)
out=$(strata branch promote child) || fail "promote: $out"
[[ "$out" == "promoted child into main (old state retired)"* ]] || fail "promote said: $out"
ok "$out ($(($(now_ms) - t0)) ms wall, endpoints stopped first)"
expect_rows "$MAIN_URI" a,c,child "main, through its old credential"
got=$(q "$MAIN_URI" "SELECT (SELECT count(*) FROM m), (SELECT sum(w) FROM t)") ||
  fail "query: $got"
[[ "$got" == "5000|22" ]] || fail "the migration is not under main: $got"
ok "main has m (5000 rows) and t.w"
api_expect 404 GET /v1/branches/child >/dev/null
out=$(q "$CHILD_URI" "SELECT 1") && fail "child's credential still opens something: $out"
[[ "$out" == *'does not exist'* || "$out" == *'authentication failed'* ]] ||
  fail "child's credential: $out"
ok "child is gone: ${out##*FATAL:  }"
[[ "$(names)" == before,main ]] || fail "branches after promote: $(names)"
amcheck_out=$("$PGBIN/pg_amcheck" --install-missing --heapallindexed "$MAIN_URI" 2>&1) ||
  fail "pg_amcheck through the proxy: $amcheck_out"
! grep -qv -e '^NOTICE:' -e '^$' <<<"$amcheck_out" || fail "pg_amcheck: $amcheck_out"
ok "pg_amcheck --heapallindexed clean on main"

check "(c) promote refused when the parent moved after the fork"
api POST /v1/branches/main/endpoint/suspend >/dev/null
api POST /v1/branches '{"name":"child2","from":"main"}' >/dev/null
C2_URI=$(uri child2)
q "$C2_URI" "INSERT INTO t VALUES ('child2')" >/dev/null || fail "insert on child2"
q "$MAIN_URI" "INSERT INTO t VALUES ('moved')" >/dev/null || fail "insert on main"
before_json=$(api GET /v1/branches | jq -c 'map({name, id, parent, fork_seq}) | sort_by(.name)')
out=$(strata branch promote child2 2>&1) && fail "promote of a moved parent succeeded: $out"
[[ $(wc -l <<<"$out") == 1 ]] || fail "the refusal is not one line: $out"
[[ "$out" == *"branch 'main' changed since 'child2' was forked from it ("*"): "* ]] ||
  fail "refusal says: $out"
ok "$out"
after_json=$(api GET /v1/branches | jq -c 'map({name, id, parent, fork_seq}) | sort_by(.name)')
[[ "$before_json" == "$after_json" ]] || fail "branches changed: $before_json -> $after_json"
expect_rows "$MAIN_URI" a,c,child,moved "main after the refusal"
expect_rows "$C2_URI" a,c,child,child2 "child2 after the refusal"

check "(d) a parent whose server died after a commit past the fork: still refused"
api POST /v1/branches/main/endpoint/suspend >/dev/null
api POST /v1/branches '{"name":"child3","from":"main"}' >/dev/null
q "$MAIN_URI" "INSERT INTO t VALUES ('wal-only')" >/dev/null || fail "insert on main"
pid=$(api GET /v1/branches/main/endpoint | jq -r .pid)
kill -9 "$pid"
wait_gone "$pid" 30 || fail "postgres $pid survived kill -9"
out=$(strata branch promote child3 2>&1) && fail "promote over a crashed parent's commit succeeded: $out"
[[ "$out" == *"branch 'main' changed since 'child3' was forked from it ("* ]] ||
  fail "refusal says: $out"
grep -q "endpoint main: its cluster did not shut down cleanly: recovering it" "$DAEMON_LOG" ||
  fail "the crashed parent was not recovered before the check"
ok "$out"
expect_rows "$MAIN_URI" a,c,child,moved,wal-only "main after its crash and the refusal"
api DELETE /v1/branches/child3 >/dev/null

check "(e) reads on the parent after the fork (hint bits, no transaction) do not refuse a promote"
# No autovacuum: an ANALYZE is a transaction, which would rightly refuse.
q "$MAIN_URI" "ALTER SYSTEM SET autovacuum = off" >/dev/null || fail "alter system"
q "$MAIN_URI" "CREATE TABLE h AS SELECT g AS id FROM generate_series(1, 20000) g" >/dev/null ||
  fail "create h"
api POST /v1/branches/main/endpoint/suspend >/dev/null
api POST /v1/branches '{"name":"child4","from":"main"}' >/dev/null
C4_URI=$(uri child4)
got=$(q "$MAIN_URI" "SELECT count(*) FROM h") || fail "read h on main: $got"
[[ "$got" == 20000 ]] || fail "main's h: $got"
q "$C4_URI" "INSERT INTO t VALUES ('child4')" >/dev/null || fail "insert on child4"
out=$(strata branch promote child4 2>&1) || fail "promote after reads on the parent: $out"
[[ "$out" == "promoted child4 into main (old state retired)"* ]] || fail "promote said: $out"
grep -q "branch main: [0-9]* relation files written since seq [0-9]* but no transaction ended" \
  "$DAEMON_LOG" || fail "the reads wrote no page: this case tested nothing"
ok "$out; the pages the reads wrote did not count"
expect_rows "$MAIN_URI" a,c,child,child4,moved,wal-only "main after the promote"

check "a remount keeps names, credentials and retired states; strata verify passes"
api POST /v1/endpoints/suspend >/dev/null
umount_daemon
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" --proxy "127.0.0.1:$PPORT" \
  --api "127.0.0.1:$API_PORT" --idle-timeout 600
expect_rows "$MAIN_URI" a,c,child,child4,moved,wal-only "main after the remount"
expect_rows "$C2_URI" a,c,child,child2 "child2 after the remount"
[[ "$(names)" == before,child2,main ]] || fail "branches after the remount: $(names)"
api POST /v1/endpoints/suspend >/dev/null
umount_daemon
strata verify "$STORE_URL" >"$LOG_DIR/verify.out" || fail "strata verify found problems"
ok "strata verify: $(tail -1 "$LOG_DIR/verify.out")"
