#!/usr/bin/env bash
# shellcheck disable=SC2119  # lib.sh helpers take optional arguments
# demo.sh: strata in two minutes (Debian 12, as root).
#
# Builds strata, creates an embedded store under ./.strata-demo/, runs
# PostgreSQL 15 on branch "main" under a pgbench write load, takes a snapshot
# and forks branch "child" from it while the load runs, starts a second
# PostgreSQL on the child and shows both answering independently; then an
# agent's loop through the HTTP API: fork, connect through the proxy (which
# wakes the fork's own server), suspend, delete. Every
# process it starts is stopped again (by PID) when it exits, even on failure.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
LOAD_SECONDS=${DEMO_LOAD_SECONDS:-15}

say() { printf '\n\033[1m>>> %s\033[0m\n' "$*"; }

if [[ "${DEMO_SKIP_SETUP:-0}" != 1 ]]; then
  say "Installing dependencies and building strata (tools/setup.sh)"
  bash tools/setup.sh
fi

# The store (the durable data) lives under the working directory. The mount
# point, sockets and logs live under /tmp/strata-demo, where the postgres user
# can reach them even when the checkout is under a private home directory.
DEMO=$REPO/.strata-demo
RUN=/tmp/strata-demo
if mountpoint -q "$RUN/mnt" 2>/dev/null; then
  say "A previous demo is still mounted on $RUN/mnt; unmounting it"
  "${STRATA_BIN:-$REPO/build/strata}" umount "$RUN/mnt" || fusermount3 -uz "$RUN/mnt" || umount -l "$RUN/mnt"
fi
rm -rf "$DEMO" "$RUN"
mkdir -p "$DEMO" "$RUN"

export STRATA_ROOT=$RUN STRATA_STORE_DIR=$DEMO/store TEST_NAME=demo
# shellcheck source=tests/integration/lib.sh
source "$REPO/tests/integration/lib.sh"
require_tools

P_MAIN=55432
P_CHILD=55433

say "1. Create an embedded store (a plain directory) and mount it"
strata_init
start_daemon
echo "   store:  $STORE_URL"
echo "   mount:  $MNT   (one directory per branch; each is a PGDATA)"

say "2. Create the root branch 'main' and run initdb on it"
create_root_branch main
pg_init main
pg_start main "$P_MAIN"

say "3. pgbench -i -s 10 on main (1,000,000 accounts)"
t0=$(now_ms)
pgb "$P_MAIN" -i -s 10 -q 2>&1 | tail -n 2
echo "   loaded in $(($(now_ms) - t0)) ms"

say "4. A ${LOAD_SECONDS}s pgbench write load on main; while it runs, snapshot + branch"
pgb "$P_MAIN" -c 4 -j 2 -T "$LOAD_SECONDS" >"$LOG_DIR/pgbench-load.log" 2>&1 &
LOAD_PID=$!
track_pid "$LOAD_PID"
sleep $((LOAD_SECONDS / 3))
timed_json snapshot create main snap1
echo "   strata snapshot create main snap1              -> $(fmt_ms "$TJ_WALL_US") ms (daemon: ${TJ_US:-?} us)"
timed_json branch create child --from main@snap1
echo "   strata branch create child --from main@snap1   -> $(fmt_ms "$TJ_WALL_US") ms (daemon: ${TJ_US:-?} us)"
echo "   (no data copied: a snapshot is a name for a point in main's op log)"

say "5. Start a second PostgreSQL on the child (port $P_CHILD): it runs ordinary crash recovery"
pg_start child "$P_CHILD"
grep -E 'redo (starts|done)|automatic recovery' "${PG_LOG[$MNT/child]}" | sed 's/^/   child log: /' || true

say "6. Both servers answer, independently"
psql_q "$P_MAIN" "CREATE TABLE IF NOT EXISTS demo_note (side text)"
psql_q "$P_MAIN" "INSERT INTO demo_note VALUES ('written on main')"
psql_q "$P_CHILD" "CREATE TABLE IF NOT EXISTS demo_note (side text)"
psql_q "$P_CHILD" "INSERT INTO demo_note VALUES ('written on child')"
for side in main child; do
  port=$P_MAIN
  [[ $side == child ]] && port=$P_CHILD
  printf '   %-5s accounts=%s history=%s notes=[%s]\n' "$side" \
    "$(psql_q "$port" "SELECT count(*) FROM pgbench_accounts")" \
    "$(psql_q "$port" "SELECT count(*) FROM pgbench_history")" \
    "$(psql_q "$port" "SELECT string_agg(side, ', ') FROM demo_note")"
done
echo "   (main keeps growing pgbench_history under load; the child froze at snap1)"

wait "$LOAD_PID" || { cat "$LOG_DIR/pgbench-load.log"; fail "pgbench load failed"; }
grep -E '^(number of transactions actually processed|tps)' "$LOG_DIR/pgbench-load.log" | sed 's/^/   main load: /'

say "7. An agent's loop through the HTTP API: fork, connect through the proxy, throw away"
b=$(api POST /v1/branches '{"name":"try-1","from":"main","owner":"agent-7","ttl_seconds":3600}')
echo "   POST /v1/branches try-1 from main         -> $(fmt_ms "$(jq -r .elapsed_us <<<"$b")") ms in the daemon"
uri=$(api POST /v1/branches/try-1/credentials '{"ttl_seconds":600}' | jq -r .uri)
echo "   POST /v1/branches/try-1/credentials       -> ${uri%%:*}://${uri#*://}" | sed 's/:[A-Za-z0-9]*@/:****@/'
t0=$(now_ms)
rows=$("$PGBIN/psql" -X -At "$uri" -c "SELECT count(*) FROM pgbench_accounts")
echo "   psql through the proxy (wakes try-1's own server): $rows accounts in $(($(now_ms) - t0)) ms"
grep "endpoint try-1: woke up" "$DAEMON_LOG" | tail -1 | sed 's/^.*endpoint/   daemon log: endpoint/'
api POST /v1/branches/try-1/endpoint/suspend | jq -r '"   suspend: state " + .state'
api DELETE /v1/branches/try-1 >/dev/null
echo "   DELETE /v1/branches/try-1: gone (its credential too)"

say "8. strata status"
strata status

say "9. Stop both servers and unmount"
pg_stop child
pg_stop main
umount_daemon

say "Done. The store is kept in $STORE_DIR; mount it again with:"
echo "   $STRATA_BIN mount $STORE_URL $MNT --cache-dir $CACHE_DIR"
