#!/usr/bin/env bash
# cluster_failover: three daemons on one store and one walsink
# (docs/cluster.md, "Failover"); with FAILOVER_SINK=store, on the store's own
# log objects instead (--sink store; cluster_failover_store.sh).
# PostgreSQL on n1 runs pgbench and the
# ledger writer on a `remote` branch; n1 is killed with kill -9 together
# with its server. Once n1's lease has run out, PostgreSQL starts on n2's
# mount of the same branch: n2 claims it, fences the durable log at its
# epoch (the walsink's fence, or a fence object) and replays the records n1
# made durable there but never flushed. Every
# acknowledged commit must be there; pg_amcheck and pg_checksums are clean.
# Logs the time from the kill to the first query on n2. n1, restarted on its
# old cache directory, voids its own stale records of the branch instead of
# shipping or replaying them.
# Then fencing: n2 stops postgres (its shutdown checkpoint is on the walsink,
# not in the store), fsyncs a file, and is frozen with SIGSTOP past its
# lease; n3 takes the branch over the same way and has all of it; n2,
# resumed, cannot acknowledge an fsync of it, nor flush it at umount.
# The walsink variant runs on file:// only and the store one on s3:// only
# (tests/CMakeLists.txt): the walsink's log does not depend on the store,
# and the store log is about the object store.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools ledger

TTL=3
P1=55481
P2=55482
P3=55483
M1=$MNT
M2=$ROOT/mnt2
M3=$ROOT/mnt3
FAILOVER_SINK=${FAILOVER_SINK:-walsink}
if [[ $FAILOVER_SINK == store ]]; then
  SINK_FLAGS=(--sink store)
  FENCED='writes nothing more to the op log'
else
  sink_start
  FENCED='fenced this daemon'
fi
SINK_FLAGS+=(--lease-ttl "${TTL}s")
strata_init
start_daemon "$STORE_URL" "$M1" "$CACHE_DIR" --node-id n1 "${SINK_FLAGS[@]}"
start_daemon "$STORE_URL" "$M2" "$ROOT/cache2" --node-id n2 "${SINK_FLAGS[@]}"
start_daemon "$STORE_URL" "$M3" "$ROOT/cache3" --node-id n3 "${SINK_FLAGS[@]}"
create_root_branch main
until_ok 10 listed_on "$M2" main || fail "n2 does not list main"
until_ok 10 listed_on "$M3" main || fail "n3 does not list main"
tier=$(strata_json branch list | jq -r '.[] | select(.name == "main") | .durability')
[[ "$tier" == remote ]] || fail "main has durability $tier, not remote"
pg_setup "$M1/main" "$P1" 2
LEDGER=$ROOT/ledger.txt
: >"$LEDGER"

# claim_on MOUNT BRANCH: takes BRANCH over on that mount's daemon with a
# write before anything reads it there. Until a daemon claims a branch it
# reads its last published state, so postgres started by hand must not look
# first (pg_ctl reads postmaster.pid; the endpoint manager claims first).
claim_on() {
  : >"$1/$2/.failover-claim" && rm -f "$1/$2/.failover-claim"
}
# first_query PORT: polls `select 1` until it answers (60 s at most).
first_query() {
  until_ok 60 psql_q "$1" "select 1" || fail "postgres on port $1 never answered"
}

check "kill -9 n1 and its postgres under load; n2 takes main over"
load_start "$P1" "$LEDGER" 1
sleep 6
T_KILL=$(now_ms)
kill_daemon "$M1"
kill_pg "$M1/main"
load_wait 1
ACKED=$(grep -c '' "$LEDGER")
((ACKED > 0)) || fail "the ledger writer got no commit acknowledged"
until_ok $((4 * TTL)) lease_free_on "$M2" main || fail "n1's lease on main never ran out on n2"
T_FREE=$(now_ms)
claim_on "$M2" main
pg_start "$M2/main" "$P2"
first_query "$P2"
T_FIRST=$(now_ms)
[[ $(holder_on "$M3" main) == n2 ]] || fail "main is held by $(holder_on "$M3" main), not n2"
grep -E "branch [0-9]+: took over at epoch [0-9]+ with [0-9]+ records" "${DAEMON_LOGS[$M2]}" | tail -n 1 ||
  fail "n2 replayed nothing from the $FAILOVER_SINK"
"$LEDGER_BIN" check "$(conninfo "$P2")" "$LEDGER" || fail "acknowledged commits lost in the failover"
ok "all $ACKED acknowledged commits are on n2"
log "failover ($FAILOVER_SINK): kill -9 -> lease free on n2 $((T_FREE - T_KILL)) ms -> first query on n2 $((T_FIRST - T_KILL)) ms (lease ttl ${TTL} s)"
amcheck "$P2"

check "n1 restarts on its old cache directory: its records of main are void"
start_daemon "$STORE_URL" "$M1" "$CACHE_DIR" --node-id n1 "${SINK_FLAGS[@]}"
grep -q "own op-log records of it are void" "${DAEMON_LOGS[$M1]}" ||
  fail "n1 did not void its stale records of main"
[[ $(holder_on "$M1" main) == n2 ]] || fail "restarted n1 says main is held by $(holder_on "$M1" main)"
if grep -q "$FENCED" "${DAEMON_LOGS[$M1]}"; then fail "n1 shipped a stale record of main"; fi
echo probe >"$M1/n1-probe" 2>/dev/null && fail "n1 could write into the root of main held by n2"
ok "n1 voided its stale records; it ships nothing of main and cannot write it"

check "freeze n2 past its lease; n3 takes main over with what n2 left in the $FAILOVER_SINK"
load_start "$P2" "$LEDGER" 2
sleep 4
# A clean stop of postgres: the load ends, the shutdown checkpoint is
# acknowledged in the durable log but not flushed to layers yet.
pg_stop "$M2/main"
load_wait 2
ACKED=$(grep -c '' "$LEDGER")
echo "fsynced on n2" >"$M2/main/n2-synced.txt"
sync "$M2/main/n2-synced.txt"
echo "not fsynced on n2" >"$M2/main/n2-unsynced.txt"
N2_PID=${DAEMON_PID[$M2]}
kill -STOP "$N2_PID"
# Should a check below fail, the cleanup must not wait on a frozen daemon.
(sleep 120 && kill -CONT "$N2_PID") >/dev/null 2>&1 &
T_STOP=$(now_ms)
until_ok $((4 * TTL)) lease_free_on "$M3" main || fail "n2's lease on main never ran out on n3"
# n3 takes the branch over with what n2 left in the durable log.
claim_on "$M3" main
pg_start "$M3/main" "$P3"
first_query "$P3"
[[ $(cat "$M3/main/n2-synced.txt" 2>&1) == "fsynced on n2" ]] ||
  fail "n3 reads n2-synced.txt as: $(cat "$M3/main/n2-synced.txt" 2>&1)"
log "n3 answered $(($(now_ms) - T_STOP)) ms after n2 froze (n2-unsynced.txt: $([[ -e "$M3/main/n2-unsynced.txt" ]] && echo shipped before the freeze || echo lost))"
kill -CONT "$N2_PID"
if bash -c "echo woken >'$M2/main/woken.txt' && sync '$M2/main/woken.txt'" 2>"$LOG_DIR/woken.txt"; then
  fail "n2 acknowledged an fsync of main after it lost its lease"
fi
log "n2, resumed: $(tail -n 1 "$LOG_DIR/woken.txt")"
until_ok 10 node_dead_on "$M3" n2 || fail "n2 still counts as alive"
"$LEDGER_BIN" check "$(conninfo "$P3")" "$LEDGER" || fail "acknowledged commits lost in the takeover"
[[ ! -e "$M3/main/woken.txt" ]] || fail "n2's write after it lost the lease reached n3"
ok "all $ACKED acknowledged commits and n2's fsynced file are on n3; n2 could not write"
amcheck "$P3"
pg_stop "$M3/main"
checksums "$M3/main"
strata verify "$STORE_URL" >"$LOG_DIR/verify.txt" 2>&1 || { cat "$LOG_DIR/verify.txt"; fail "strata verify found problems"; }
ok "the store verifies clean"

umount_daemon "$M3"
umount_daemon "$M1"
if strata umount "$M2" 2>"$LOG_DIR/umount-n2.txt"; then fail "n2's final flush succeeded after it lost its lease"; fi
wait_gone "$N2_PID" 60 || fail "n2 ($N2_PID) did not exit"
unset "DAEMON_PID[$M2]"
