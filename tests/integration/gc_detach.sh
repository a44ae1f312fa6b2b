#!/usr/bin/env bash
# gc_detach: `strata branch detach` makes a fork independent of its parent,
# so the parent can be deleted and collected without the fork losing a byte.
#
# The mount keeps no history (--history 0) and collects every second, with
# 1 MiB memtables: whatever a detached child still needed from main and did
# not get would be collected. Main gets a pgbench database and a table; a
# child forks from it and writes (rows, updates, pgbench) while main moves
# on. Then: detach refuses a root branch and an unknown name; `branch detach
# child` prints "detached branch child from main", leaves the child's files
# as they were, and `branch show child --json` has parent null and
# detached_from "main"; the child's exclusive bytes grow. Main is stopped and
# deleted, passes run, the store shrinks (on file://, no layer of main is
# left); postgres on the child has all its data, amcheck and pg_checksums
# are clean. Last, a fresh machine (the cache directory deleted) mounts the
# same store: the child is still detached, its files are the same, and
# postgres, amcheck, pg_checksums and `strata verify` are clean.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools

P_MAIN=55521
P_CHILD=55522
MOUNT_OPTS=(--history 0 --gc-interval 1s --memtable-size 1M)
strata_init
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" "${MOUNT_OPTS[@]}"
create_root_branch main
pg_setup main "$P_MAIN" 1

FINGERPRINT="SELECT count(*), sum(abalance), sum(aid::bigint * abalance) FROM pgbench_accounts;
SELECT count(*), sum(delta) FROM pgbench_history;
SELECT sum(bbalance), sum(tbalance) FROM pgbench_branches, pgbench_tellers WHERE pgbench_tellers.bid = pgbench_branches.bid;
SELECT count(*), sum(id), string_agg(DISTINCT v, ',' ORDER BY v) FROM keep"
branch_json() { strata_json branch show "$1"; }
branch_field() { branch_json "$1" | jq -r ".$2"; }
store_bytes() { strata_json status | jq -er '.store_bytes'; }
gc_pass() {
  local out
  out=$(strata gc --json | jres) || fail "strata gc failed"
  jq -e 'has("freed_bytes")' <<<"$out" >/dev/null || fail "strata gc --json did not print a report: $out"
  log "gc: $(jq -r '"freed \(.freed_bytes) B in \(.elapsed_ms) ms: layers \(.layers_before) -> \(.layers_after), store \(.bytes_before) -> \(.bytes_after) B"' <<<"$out")"
}
# expect_fail DESCRIPTION WANT CMD...: exit 1, one "strata:" line containing WANT.
expect_fail() {
  local what=$1 want=$2 rc=0 err
  shift 2
  err=$("$@" 2>&1 >/dev/null) || rc=$?
  ((rc == 1)) || fail "$what: exit $rc, expected 1 (stderr: $err)"
  [[ $(grep -c '' <<<"$err") == 1 && "$err" == strata:* && "$err" == *"$want"* ]] ||
    fail "$what: expected one line 'strata: ...$want...', got: $err"
  ok "$what -> $err"
}

check "main: pgbench -i -s 1 and a table; child forks and writes; main moves on"
psql_q "$P_MAIN" "CREATE TABLE keep (id int PRIMARY KEY, v text)"
psql_q "$P_MAIN" "INSERT INTO keep SELECT g, 'main-' || (g % 7) FROM generate_series(1, 20000) g"
strata branch create child --from main --checkpoint "$(conninfo "$P_MAIN")" >/dev/null ||
  fail "branch create child --from main failed"
pg_start child "$P_CHILD"
psql_q "$P_CHILD" "INSERT INTO keep SELECT g, 'child' FROM generate_series(20001, 25000) g"
psql_q "$P_CHILD" "UPDATE keep SET v = 'child-upd' WHERE id % 10 = 0"
pgb "$P_CHILD" -c 2 -j 1 -T 4 >"$LOG_DIR/pgbench-child.log" 2>&1 || fail "pgbench on child failed"
pgb "$P_MAIN" -c 2 -j 1 -T 4 >"$LOG_DIR/pgbench-main.log" 2>&1 || fail "pgbench on main failed"
psql_q "$P_MAIN" "UPDATE keep SET v = 'main-later' WHERE id % 3 = 0"
psql_q "$P_MAIN" "VACUUM"
psql_q "$P_MAIN" "CHECKPOINT"
FP_CHILD=$(psql_q "$P_CHILD" "$FINGERPRINT")
FP_MAIN=$(psql_q "$P_MAIN" "$FINGERPRINT")
[[ "$FP_CHILD" != "$FP_MAIN" ]] || fail "child and main hold the same data: the writes did not diverge"
pg_stop child
DIGEST=$ROOT/child.digest
tree_digest "$MNT/child" >"$DIGEST" || fail "could not read every file of the child"
gc_pass
gc_pass
EXCL_BEFORE=$(branch_field child exclusive_bytes)
[[ "$EXCL_BEFORE" =~ ^[0-9]+$ ]] || fail "branch show child --json has no exclusive_bytes after a pass: $EXCL_BEFORE"
ok "child (a fork): exclusive $EXCL_BEFORE B, parent $(branch_field child parent)"

check "detach refuses a root branch and an unknown one"
expect_fail "branch detach main (a root)" "has no parent: nothing to detach" strata branch detach main
expect_fail "branch detach nosuch" "no branch named 'nosuch'" strata branch detach nosuch

check "branch detach child"
T0=$(now_ms)
out=$(strata branch detach child) || fail "branch detach child failed"
log "$out ($(($(now_ms) - T0)) ms wall)"
[[ "$out" == "detached branch child from main"* ]] || fail "branch detach printed '$out'"
J=$(branch_json child)
jq -e '.parent == null and .detached_from == "main"' <<<"$J" >/dev/null ||
  fail "branch show child --json after detach: $(jq -c '{parent, fork_seq, detached_from}' <<<"$J")"
ok "child: $(jq -c '{parent, detached_from}' <<<"$J")"
strata branch show child | grep -qE '^detached from: +main$' || fail "branch show child does not print 'detached from: main'"
diff -u "$DIGEST" <(tree_digest "$MNT/child") >"$ROOT/child.diff" ||
  { head -n 40 "$ROOT/child.diff" >&2; fail "detach changed what the child reads"; }
ok "the child reads exactly what it read before the detach"
[[ "$(psql_q "$P_MAIN" "$FINGERPRINT")" == "$FP_MAIN" ]] || fail "main changed under the detach"
ok "main is unchanged"
gc_pass
gc_pass
EXCL_AFTER=$(branch_field child exclusive_bytes)
((EXCL_AFTER > EXCL_BEFORE)) || fail "the child's exclusive bytes did not grow with the copy: $EXCL_BEFORE -> $EXCL_AFTER"
ok "child exclusive bytes $EXCL_BEFORE -> $EXCL_AFTER"

check "delete main, collect: the store shrinks and the child keeps everything"
MAIN_ID=$(branch_field main id)
pg_stop main
STORE_BEFORE=$(store_bytes)
strata branch delete main >/dev/null || fail "branch delete main failed after the child was detached"
[[ "$(strata_json branch list | jq -r '[.[].name] | join(",")')" == child ]] ||
  fail "branches after deleting main: $(strata_json branch list | jq -r '[.[].name] | join(",")')"
gc_pass
gc_pass
STORE_AFTER=$(store_bytes)
((STORE_AFTER < STORE_BEFORE)) || fail "the store did not shrink after deleting main: $STORE_BEFORE -> $STORE_AFTER bytes"
ok "store $STORE_BEFORE -> $STORE_AFTER bytes"
if [[ "$STRATA_STORE" == file ]]; then
  left=0
  [[ -d "$STORE_DIR/branches/$MAIN_ID" ]] && left=$(find "$STORE_DIR/branches/$MAIN_ID" -name '*.layer' | wc -l)
  ((left == 0)) || fail "$left layers of the deleted main (branch id $MAIN_ID) are still in the store"
  ok "no layer of main (branch id $MAIN_ID) is left in the store"
fi
diff -u "$DIGEST" <(tree_digest "$MNT/child") >"$ROOT/child.diff" ||
  { head -n 40 "$ROOT/child.diff" >&2; fail "the child's files changed when main was collected"; }
ok "the child's files are the same"

check "postgres on the child: its data, amcheck, pg_checksums"
pg_start child "$P_CHILD"
got=$(psql_q "$P_CHILD" "$FINGERPRINT")
[[ "$got" == "$FP_CHILD" ]] || fail "the child's data differs:
before: $FP_CHILD
after:  $got"
ok "the child has all its data"
amcheck "$P_CHILD"
psql_q "$P_CHILD" "INSERT INTO keep VALUES (30000, 'after-detach')"
FP_CHILD=$(psql_q "$P_CHILD" "$FINGERPRINT")
pg_stop child
checksums child
tree_digest "$MNT/child" >"$DIGEST" || fail "could not read every file of the child"

check "fresh machine: unmount, delete the cache directory, mount the same store again"
umount_daemon
rm -rf "$CACHE_DIR"
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" "${MOUNT_OPTS[@]}"
J=$(branch_json child)
jq -e '.parent == null and .detached_from == "main"' <<<"$J" >/dev/null ||
  fail "after the fresh mount: $(jq -c '{parent, detached_from}' <<<"$J")"
[[ "$(strata_json branch list | jq -r '[.[].name] | join(",")')" == child ]] || fail "main came back"
diff -u "$DIGEST" <(tree_digest "$MNT/child") >"$ROOT/child.diff" ||
  { head -n 40 "$ROOT/child.diff" >&2; fail "the child's files differ on the fresh machine"; }
ok "still detached from main, same files"
pg_start child "$P_CHILD"
got=$(psql_q "$P_CHILD" "$FINGERPRINT")
[[ "$got" == "$FP_CHILD" ]] || fail "the child's data differs on the fresh machine:
before: $FP_CHILD
after:  $got"
ok "the child has all its data"
amcheck "$P_CHILD"
pg_stop child
checksums child
gc_pass
umount_daemon

check "strata verify: the store after detach, delete and GC"
strata verify "$STORE_URL" || fail "strata verify found problems"
