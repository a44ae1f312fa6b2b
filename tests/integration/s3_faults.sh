#!/usr/bin/env bash
# s3_faults: an s3:// store that fails and disappears.
#
# 1. 20% of object-store calls fail (and every call is delayed) while pgbench
#    and a ledger writer run, and again while a fresh machine (empty cache
#    directory) reads it all back: retries hide it all, every acknowledged
#    commit is there and amcheck is clean.
# 2. The store goes away for longer than the retry budget: fsync through the
#    mount reports EIO (never a false success). The store comes back, the
#    mount is restarted, postgres recovers, and every acknowledged commit is
#    there.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools ledger
[[ "$STRATA_STORE" == s3 ]] || fail "s3_faults runs on an s3:// store (STRATA_STORE=s3)"

PORT=55481
LEDGER=$ROOT/ledger.txt
: >"$LEDGER"
strata_init

# mount_with ARGS...: mount with extra mount options.
mount_with() { start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" "$@"; }

l3() { strata status --json | jres | jq -r ".cache.l3.$1"; }

check "20% of store calls fail, each delayed 5 ms: pgbench -i, pgbench and a ledger writer"
mount_with --inject-faults error_rate=0.2,latency_ms=5,seed=42
create_root_branch main
pg_setup main "$PORT" 5
"$LEDGER_BIN" write "$(conninfo "$PORT")" "$LEDGER" --seconds 20 --start 1000000 \
  >"$LOG_DIR/ledger-1.log" 2>&1 &
W_PID=$!
track_pid "$W_PID"
pgb "$PORT" -c 2 -j 1 -T 20 >"$LOG_DIR/pgbench-1.log" 2>&1 || { cat "$LOG_DIR/pgbench-1.log"; fail "pgbench failed under faults"; }
wait "$W_PID" || fail "ledger writer failed"
cat "$LOG_DIR/ledger-1.log"
grep -E "^(number of failed|tps)" "$LOG_DIR/pgbench-1.log" || true
psql_q "$PORT" "CHECKPOINT" >/dev/null
FP="SELECT count(*), sum(abalance) FROM pgbench_accounts"
BEFORE=$(psql_q "$PORT" "$FP")
pg_stop main
FAULTS=$(l3 injected_faults)
RETRIES=$(l3 retries)
log "writing: injected faults $FAULTS, retries $RETRIES, errors after retries $(l3 errors)"
umount_daemon

check "a fresh machine reads it all back through the same faults: nothing lost"
rm -rf "$CACHE_DIR" # every read now goes to the faulty store
mount_with --inject-faults error_rate=0.2,latency_ms=5,seed=7
pg_start main "$PORT"
"$LEDGER_BIN" check "$(conninfo "$PORT")" "$LEDGER" || fail "acknowledged commits lost under faults"
[[ "$(psql_q "$PORT" "$FP")" == "$BEFORE" ]] || fail "pgbench_accounts changed across the remount"
amcheck "$PORT"
pg_stop main
READ_FAULTS=$(l3 injected_faults)
log "reading: injected faults $READ_FAULTS, retries $(l3 retries), errors after retries $(l3 errors)"
((FAULTS > 0 && RETRIES >= FAULTS && READ_FAULTS > 0)) ||
  fail "faults were not injected and retried ($FAULTS/$RETRIES, $READ_FAULTS)"
ok "every acknowledged commit survived $((FAULTS + READ_FAULTS)) injected faults"
umount_daemon

check "the store is unreachable for longer than the retry budget: fsync fails with EIO"
mount_with --store-timeout 3
pg_start main "$PORT"
"$LEDGER_BIN" write "$(conninfo "$PORT")" "$LEDGER" --seconds 0 --start 2000000 \
  >"$LOG_DIR/ledger-2.log" 2>&1 &
W_PID=$!
track_pid "$W_PID"
sleep 2
s3_stop
PROBE=$MNT/main/fsync-probe
EIO=0
for i in $(seq 1 60); do
  if ! out=$(dd if=/dev/zero of="$PROBE" bs=8k count=1 conv=fsync 2>&1); then
    grep -q "Input/output error" <<<"$out" || fail "fsync failed, but not with EIO: $out"
    EIO=1
    log "fsync reported EIO after ${i}x2 s without a store: $out"
    break
  fi
  sleep 2
done
((EIO)) || fail "fsync kept reporting success with the store gone for 120 s"
ok "fsync reports EIO while the store is unreachable"
# postgres PANICs on its own once its WAL fsync fails; stop what is left.
wait "$W_PID" || true
cat "$LOG_DIR/ledger-2.log"
PM=${PG_PID[$MNT/main]}
kill -9 "$PM" 2>/dev/null || true
for b in $(pgrep -P "$PM" || true); do kill -9 "$b" 2>/dev/null || true; done
wait_gone "$PM" 30 || fail "postmaster $PM still alive"
pg_forget main

check "the store is back; restart the mount; every acknowledged commit is there"
s3_start
# If the outage outlived two thirds of the daemon's heartbeat ttl (30 s,
# docs/cluster.md), the daemon stopped writing to the store for good: its
# final flush fails and the op log keeps every op for the next mount, which
# takes its branches back. Otherwise the flush works. Both are correct.
pid=${DAEMON_PID[$MNT]}
if ! strata umount "$MNT" 2>"$LOG_DIR/umount-after-outage.txt"; then
  grep -q "missed its heartbeat" "$LOG_DIR/umount-after-outage.txt" ||
    { cat "$LOG_DIR/umount-after-outage.txt"; fail "strata umount $MNT failed"; }
  log "the outage outlived the heartbeat; the op log keeps the ops for the next mount"
fi
mountpoint -q "$MNT" && fail "$MNT is still mounted after strata umount"
wait_gone "$pid" 60 || fail "daemon $pid did not exit after umount"
unset "DAEMON_PID[$MNT]"
start_daemon
rm -f "$PROBE"
pg_start main "$PORT"
"$LEDGER_BIN" check "$(conninfo "$PORT")" "$LEDGER" || fail "acknowledged commits lost across the outage"
amcheck "$PORT"
ok "nothing acknowledged was lost ($(grep -c '' "$LEDGER") commits in the ledger)"
pg_stop main
checksums main
umount_daemon
