#!/usr/bin/env bash
# initdb_template: new databases are forks of the store's template, and a
# fork of a running database starts fast (docs/postgres.md).
#  - Three new databases through the API (`initdb: true`), two of them at
#    once as the store's first: one template is made (one initdb log, one
#    "template made" line); each answers through the proxy and is its own
#    database (a table made in one is not in another); their parent is the
#    template, which users can neither create, delete nor start.
#  - `start: true` starts a new database's server with no client; without
#    initdb or from it is refused, and nothing is made.
#  - A fresh machine (new cache directory, same store) makes new databases
#    from the same template without another initdb, and the old databases
#    keep their data.
#  - A fork of a database under pgbench and the ledger writer: the daemon
#    checkpoints the parent, so the child replays less than a WAL segment
#    and runs plain crash recovery (or, if the load crossed a segment
#    boundary since, starts as a standby promoted at once; the daemon's log
#    and the server's must agree); every commit acknowledged before the
#    fork request is in the child, amcheck is clean and the child takes
#    writes.
#  - A fork at a snapshot taken after pg_switch_wal() (no checkpoint: more
#    than a segment to replay) starts as a standby promoted at once, on a
#    new timeline, with the parent's rows.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools

strata_init
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" --idle-timeout 1h
PPORT=$(api GET /v1/status | jq -r .proxy)
PPORT=${PPORT##*:}
TEMPLATE=_initdb_pg15

# pq BRANCH SQL: psql through the proxy with a fresh credential for BRANCH.
pq() {
  local c
  c=$(api POST "/v1/branches/$1/credentials" '{"ttl_seconds":3600}')
  PGPASSWORD=$(jq -r .password <<<"$c") PGCONNECT_TIMEOUT=60 "$PGBIN/psql" -X -Atq \
    -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$PPORT user=$(jq -r .user <<<"$c") dbname=$1" \
    -c "$2" 2>&1
}
# conn BRANCH: a libpq conninfo through the proxy with a fresh credential.
conn() {
  local c
  c=$(api POST "/v1/branches/$1/credentials" '{"ttl_seconds":3600}')
  echo "host=127.0.0.1 port=$PPORT user=$(jq -r .user <<<"$c") password=$(jq -r .password <<<"$c") dbname=$1"
}
made_count() { grep -c "template '$TEMPLATE' made" "$1" || true; }

check "two first new databases at once, then a third: one template"
api POST /v1/branches '{"name":"db1","initdb":true,"owner":"agent-1"}' >"$LOG_DIR/db1.json" &
p1=$!
api POST /v1/branches '{"name":"db2","initdb":true}' >"$LOG_DIR/db2.json" &
p2=$!
wait "$p1" || fail "creating db1 failed"
wait "$p2" || fail "creating db2 failed"
j=$(api POST /v1/branches '{"name":"db3","initdb":true,"ttl_seconds":3600}')
ok "db3 in $(jq -r .elapsed_us <<<"$j") us of daemon time"
[[ "$(made_count "$DAEMON_LOG")" == 1 ]] || fail "template made $(made_count "$DAEMON_LOG") times"
n=$(find "$CACHE_DIR/pg" -maxdepth 1 -name 'initdb-*.log' | wc -l)
[[ "$n" == 1 ]] || fail "expected one initdb log, found $n: $(ls "$CACHE_DIR/pg")"
for b in db1 db2 db3; do
  [[ "$(api GET "/v1/branches/$b" | jq -r .parent)" == "$TEMPLATE" ]] || fail "$b's parent"
done
[[ "$(jq -r .owner "$LOG_DIR/db1.json")" == agent-1 ]] || fail "db1 lost its owner"
[[ "$(jq -r .expires_at <<<"$j")" != null ]] || fail "db3 lost its ttl"
ok "one initdb, three forks of $TEMPLATE"

check "each answers through the proxy and is its own database"
out=$(pq db1 "create table t (x int); insert into t values (1); select count(*) from t")
[[ "$out" == 1 ]] || fail "db1: $out"
for b in db2 db3; do
  out=$(pq "$b" "select to_regclass('t') is null")
  [[ "$out" == t ]] || fail "$b sees db1's table: $out"
done
out=$(pq db2 "select current_setting('wal_recycle'), current_setting('data_checksums')")
[[ "$out" == "off|on" ]] || fail "db2's settings: $out"
ok "db1's table is db1's only; the strata settings are on"

check "start: true starts the new database's server without a client"
api POST /v1/branches '{"name":"db5","initdb":true,"start":true}' >/dev/null
for _ in $(seq 1 300); do
  st=$(api GET /v1/branches/db5/endpoint | jq -r .state)
  [[ "$st" == running ]] && break
  sleep 0.1
done
[[ "$st" == running ]] || fail "db5's server is $st 30 s after a create with start"
e=$(api GET /v1/branches/db5/endpoint)
[[ "$(jq -r .connections <<<"$e")" == 0 ]] || fail "db5 has sessions: $e"
grep -q "endpoint db5: woke up (create)" "$DAEMON_LOG" || fail "no start at creation in the log"
out=$(pq db5 "select 5")
[[ "$out" == 5 ]] || fail "db5: $out"
out=$(api_expect 400 POST /v1/branches '{"name":"db6","start":true}')
[[ "$out" == *"start needs a database: give initdb or from"* ]] || fail "start of an empty root: $out"
[[ "$(api GET /v1/branches | jq '[.[] | select(.name == "db6")] | length')" == 0 ]] ||
  fail "the refused db6 exists"
ok "db5 up in $(jq -r .last_start_ms <<<"$e") ms with no client, answers; start without a database refused"

check "the template is the daemon's: not created, deleted or started by users"
out=$(api_expect 400 POST /v1/branches '{"name":"_initdb_x"}')
[[ "$out" == *"are the templates of new databases"* ]] || fail "reserved name: $out"
out=$(api_expect 400 DELETE "/v1/branches/$TEMPLATE")
[[ "$out" == *"is the template new databases fork from"* ]] || fail "delete: $out"
out=$(api_expect 400 POST "/v1/branches/$TEMPLATE/endpoint/start")
[[ "$out" == *"is the template of new databases"* ]] || fail "start: $out"
out=$(api_expect 400 POST "/v1/branches/$TEMPLATE/restore" '{"to":"@seq:1"}')
[[ "$out" == *"is the template new databases fork from"* ]] || fail "restore: $out"
out=$(api_expect 400 POST "/v1/branches/db1/promote" '{}')
[[ "$out" == *"its parent '$TEMPLATE' is the template"* ]] || fail "promote of a new database: $out"
out=$(api_expect 400 POST "/v1/branches/db1/restore" '{"to":"@seq:1","preserve_as":"_initdb_y"}')
[[ "$out" == *"are the templates of new databases"* ]] || fail "preserve_as a template name: $out"
ok "refused, each with one line"

check "a fresh machine (new cache directory) forks the same template"
umount_daemon
CACHE2=$ROOT/cache2
start_daemon "$STORE_URL" "$MNT" "$CACHE2" --idle-timeout 1h
PPORT=$(api GET /v1/status | jq -r .proxy)
PPORT=${PPORT##*:}
api POST /v1/branches '{"name":"db4","initdb":true}' >/dev/null
n=$(find "$CACHE2/pg" -maxdepth 1 -name 'initdb-*.log' | wc -l)
[[ "$n" == 0 ]] || fail "the fresh machine ran initdb again"
[[ "$(made_count "${DAEMON_LOGS[$MNT]}")" == 1 ]] || fail "the template was made again"
out=$(pq db4 "select to_regclass('t') is null")
[[ "$out" == t ]] || fail "db4: $out"
out=$(pq db1 "select count(*) from t")
[[ "$out" == 1 ]] || fail "db1 after the remount: $out"
ok "db4 made without initdb; db1's row kept"

check "a fork of db1 under pgbench and the ledger: fast start, nothing lost"
pgbench_log=$LOG_DIR/pgbench-db1.log
"$PGBIN/pgbench" -i -q -s 2 "$(conn db1)" >"$pgbench_log" 2>&1 || { cat "$pgbench_log"; fail "pgbench -i"; }
LEDGER=$ROOT/ledger
"$LEDGER_BIN" write "$(conn db1)" "$LEDGER" --seconds 25 >"$LOG_DIR/ledger.log" 2>&1 &
lw=$!
track_pid "$lw"
"$PGBIN/pgbench" -c 2 -T 25 "$(conn db1)" >"$LOG_DIR/pgbench-load.log" 2>&1 &
lb=$!
track_pid "$lb"
sleep 8
cp "$LEDGER" "$ROOT/ledger-before-fork"
j=$(api POST /v1/branches '{"name":"f1","from":"db1"}')
ok "fork in $(jq -r .elapsed_us <<<"$j") us of daemon time; $(wc -l <"$ROOT/ledger-before-fork") commits acknowledged before"
out=$(pq f1 "select count(*) > 0 from ledger")
[[ "$out" == t ]] || fail "f1: $out"
wait "$lw" || fail "the ledger writer failed (see $LOG_DIR/ledger.log)"
wait "$lb" || fail "pgbench failed (see $LOG_DIR/pgbench-load.log)"
grep -q "branch db1: CHECKPOINT before a fork" "${DAEMON_LOGS[$MNT]}" ||
  fail "the parent was not checkpointed before the fork"
f1log=$CACHE2/pg/$(jq -r .id <<<"$j").log
if grep -q "endpoint f1: the cluster needs crash recovery: less than one WAL segment" \
  "${DAEMON_LOGS[$MNT]}"; then
  grep -q "checkpoint starting: end-of-recovery" "$f1log" || fail "no end-of-recovery checkpoint in $f1log"
  grep -q "promote trigger file found" "$f1log" && fail "a short redo was promoted: $f1log"
  how="plain crash recovery, less than one segment of redo"
elif grep -q "endpoint f1: the cluster needs crash recovery: a WAL segment or more" \
  "${DAEMON_LOGS[$MNT]}"; then
  grep -q "promote trigger file found" "$f1log" || fail "no promotion in $f1log"
  how="promoted standby: the load crossed a WAL segment since the checkpoint"
else
  fail "the daemon did not say how f1 recovers"
fi
"$LEDGER_BIN" check "$(conn f1)" "$ROOT/ledger-before-fork" ||
  fail "commits acknowledged before the fork are missing in f1"
# pg_amcheck's checks, through the proxy (its own client wants the
# maintenance databases, which the proxy reads as branch names).
out=$(pq f1 "create extension if not exists amcheck;
  select count(*) from pg_index i join pg_class c on c.oid = i.indexrelid
    join pg_am a on a.oid = c.relam, bt_index_check(c.oid, true)
   where a.amname = 'btree' and c.relpersistence <> 't';
  select count(*) from pg_class c, verify_heapam(c.oid)
   where c.relkind in ('r', 'm', 't') and c.relpersistence <> 't'")
nl=$'\n'
[[ "$out" =~ ^[0-9]+${nl}0$ ]] || fail "amcheck on f1: $out"
out=$(pq f1 "insert into pgbench_history values (1, 1, 1, 1, now()); select pg_is_in_recovery()")
[[ "$out" == f ]] || fail "f1 is not read-write: $out"
ok "$how; ledger complete in f1, amcheck clean (indexes with heapallindexed, heap), f1 takes writes"

check "a fork at a snapshot with more than a WAL segment to replay starts as a promoted standby"
out=$(pq db1 "create table after_switch(x int); insert into after_switch values (1);
  select pg_switch_wal() is not null; insert into after_switch values (2)")
[[ "$out" == t ]] || fail "db1: $out"
api POST /v1/snapshots '{"branch":"db1","name":"db1-switched"}' >/dev/null
j=$(api POST /v1/branches '{"name":"f2","from":"db1@db1-switched"}')
out=$(pq f2 "select sum(x) from after_switch; select left(pg_walfile_name(pg_current_wal_lsn()), 8) <> '00000001'")
[[ "$out" == $'3\nt' ]] || fail "f2: $out"
grep -q "endpoint f2: the cluster needs crash recovery: a WAL segment or more" \
  "${DAEMON_LOGS[$MNT]}" || fail "the daemon did not promote f2"
f2log=$CACHE2/pg/$(jq -r .id <<<"$j").log
grep -q "promote trigger file found" "$f2log" || fail "no promotion in $f2log"
grep -q "end-of-recovery" "$f2log" && fail "the promoted f2 ran an end-of-recovery checkpoint"
ok "f2 promoted on a new timeline with both rows"

check "the child recovers again after its server is killed"
pid=$(api GET /v1/branches/f1/endpoint | jq -r .pid)
kill -9 "$pid"
wait_gone "$pid" 30 || fail "postgres $pid survived kill -9"
out=$(pq f1 "select count(*) > 0 from pgbench_history")
[[ "$out" == t ]] || fail "f1 after its crash: $out"
"$LEDGER_BIN" check "$(conn f1)" "$ROOT/ledger-before-fork" || fail "f1 lost commits in its crash"
ok "f1 answers again with its data"

umount_daemon
