#!/usr/bin/env bash
# remount: every byte of a branch survives umount + mount, and survives losing
# the local RocksDB index (CACHE_DIR/index), which is only a cache of the store.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools

PORT=55441
strata_init
start_daemon
create_root_branch main
pg_setup main "$PORT" 5
pgb "$PORT" -c 2 -T 5 >/dev/null 2>&1 || fail "pgbench load failed"
psql_q "$PORT" "CREATE TABLE marker AS SELECT 42 AS v"
N_HIST=$(psql_q "$PORT" "SELECT count(*) FROM pgbench_history")
pg_stop main

DIGEST=$ROOT/main.digest
tree_digest "$MNT/main" >"$DIGEST"
log "recorded sha256 of $(grep -c '' "$DIGEST") entries/files in $MNT/main"

same_tree() {
  diff -u "$DIGEST" <(tree_digest "$MNT/main") >&2 || fail "branch content differs after: $1"
  ok "identical after: $1"
}

check "umount + mount: identical"
umount_daemon
start_daemon
same_tree "umount + mount"

check "umount, delete CACHE_DIR/index, mount: identical (index rebuilt from the store)"
umount_daemon
if [[ "$STRATA_NATIVE" != 1 ]]; then
  [[ -d "$CACHE_DIR/index" ]] || fail "no $CACHE_DIR/index directory to delete"
  rm -rf "$CACHE_DIR/index"
fi
start_daemon
same_tree "index deleted + mount"

check "umount, delete the whole CACHE_DIR, mount: identical"
umount_daemon
[[ "$STRATA_NATIVE" != 1 ]] && rm -rf "$CACHE_DIR"
start_daemon
same_tree "cache dir deleted + mount"

check "postgres starts on the remounted branch and sees the data"
pg_start main "$PORT"
[[ $(psql_q "$PORT" "SELECT count(*) FROM pgbench_accounts") == 500000 ]] || fail "pgbench_accounts count wrong"
[[ $(psql_q "$PORT" "SELECT count(*) FROM pgbench_history") == "$N_HIST" ]] || fail "pgbench_history count wrong"
[[ $(psql_q "$PORT" "SELECT v FROM marker") == 42 ]] || fail "marker row missing"
ok "counts: accounts 500000, history $N_HIST, marker 42"
amcheck "$PORT"
pg_stop main
checksums main
umount_daemon
