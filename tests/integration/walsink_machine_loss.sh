#!/usr/bin/env bash
# walsink_machine_loss: lose the machine that runs postgres. Under load on a
# `remote` branch, kill -9 the daemon and postgres, delete the whole cache
# directory (index, L2 and the local op log), and mount the same store and
# walsink from an empty cache directory: every acknowledged commit must be
# there. Then the `ephemeral` contract: after the same loss an ephemeral
# branch comes back at a consistent earlier state (postgres starts, amcheck
# is clean, the commits present are a prefix of those acknowledged) and may
# have lost recent ones. The walsink speaks TLS and asks for its token
# (sink_start's default), as a walsink on another machine would. A new
# machine takes the lost one's branches once its lease has run out
# (docs/cluster.md): the daemons here renew theirs with a 3 s ttl.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools ledger

PORT=55462
EPORT=55463
sink_start
SINK_FLAGS+=(--lease-ttl 3s)
strata_init
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" "${SINK_FLAGS[@]}"
create_root_branch main
pg_setup main "$PORT" 2
LEDGER=$ROOT/ledger.txt
: >"$LEDGER"

# wait_lease BRANCH: until the lost machine no longer holds BRANCH, 30 s at
# most; logs how long it took.
wait_lease() {
  local t0
  t0=$(now_ms)
  until lease_free_on "$MNT" "$1"; do
    (($(now_ms) - t0 < 30000)) || fail "the lost machine's lease on $1 never ran out"
    sleep 0.2
  done
  log "the lost machine's lease on $1 ran out $(($(now_ms) - t0)) ms after the mount"
}

# lose_machine CACHE_DIR BRANCH: kill -9 daemon and postgres, delete the cache.
lose_machine() {
  kill_daemon
  kill_pg "$2"
  load_wait "$3"
  rm -rf "$1"
  log "deleted the cache directory $1 (index, L2, local op log)"
}

check "remote branch: load, then lose the machine"
load_start "$PORT" "$LEDGER" 1
sleep 6
lose_machine "$CACHE_DIR" main 1
acked=$(grep -c '' "$LEDGER")
((acked > 0)) || fail "the ledger writer got no commit acknowledged"

check "mount store + walsink on an empty cache directory"
CACHE2=$ROOT/cache-new-machine
start_daemon "$STORE_URL" "$MNT" "$CACHE2" "${SINK_FLAGS[@]}"
grep -E 'walsink .*replayed [0-9]+ records' "$DAEMON_LOG" | tail -n 1
wait_lease main
pg_start main "$PORT"
"$LEDGER_BIN" check "$(conninfo "$PORT")" "$LEDGER" || fail "acknowledged commits lost with the machine"
ok "all $acked acknowledged commits are back on the new machine"
amcheck "$PORT"
pg_stop main
checksums main

check "ephemeral branch: a consistent earlier state after losing the machine"
strata branch create eph --from main --durability ephemeral >/dev/null || fail "branch create eph failed"
tier=$(strata_json branch list | jq -r '.[] | select(.name == "eph") | .durability')
[[ "$tier" == ephemeral ]] || fail "eph has durability $tier"
pg_start eph "$EPORT"
ELEDGER=$ROOT/ledger-eph.txt
: >"$ELEDGER"
load_start "$EPORT" "$ELEDGER" 2
sleep 5
lose_machine "$CACHE2" eph 2
eacked=$(grep -c '' "$ELEDGER")
start_daemon "$STORE_URL" "$MNT" "$ROOT/cache-third-machine" "${SINK_FLAGS[@]}"
wait_lease eph
pg_start eph "$EPORT"
"$LEDGER_BIN" check "$(conninfo "$EPORT")" "$ELEDGER" --prefix ||
  fail "the ephemeral branch did not come back at a consistent earlier state"
amcheck "$EPORT"
ok "ephemeral: postgres recovered, amcheck clean, a prefix of $eacked acknowledged commits kept"
pg_stop eph
checksums eph

check "main is untouched by the ephemeral branch's loss"
pg_start main "$PORT"
"$LEDGER_BIN" check "$(conninfo "$PORT")" "$LEDGER" || fail "main lost commits"
pg_stop main
umount_daemon
