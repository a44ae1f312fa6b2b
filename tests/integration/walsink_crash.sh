#!/usr/bin/env bash
# walsink_crash: the op log shipped to `strata walsink serve`. Under the
# ledger writer and pgbench, kill -9 the strata daemon (with postgres, which
# dies with its filesystem) at a random moment, and in alternate rounds kill
# -9 postgres alone; remount, restart, and check after every round that every
# commit the client saw acknowledged is there and amcheck is clean. The
# branch's tier alternates between remote and local every two rounds.
# WALSINK_CRASH_ROUNDS (default 12: 6 daemon kills and 6 postgres kills, each
# victim three times per tier). A soak: WALSINK_CRASH_ROUNDS=200 (README).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools ledger

PORT=55461
ROUNDS=${WALSINK_CRASH_ROUNDS:-12}
sink_start
strata_init
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" "${SINK_FLAGS[@]}"
create_root_branch main
tier=$(strata_json branch list | jq -r '.[] | select(.name == "main") | .durability')
[[ "$tier" == remote ]] || fail "a branch on a mount with --sink should default to remote, got $tier"
ok "main defaults to durability remote"
pg_setup main "$PORT" 1
LEDGER=$ROOT/ledger.txt
: >"$LEDGER"
daemon_kills=0
pg_kills=0

for round in $(seq 1 "$ROUNDS"); do
  tier=remote
  (((round - 1) / 2 % 2 == 1)) && tier=local
  strata branch set main --durability "$tier" >/dev/null || fail "branch set --durability $tier failed"
  victim=postgres
  ((round % 2 == 1)) && victim=daemon
  delay_ms=$((1000 + RANDOM % 3000))
  check "round $round/$ROUNDS ($tier): load, then kill -9 the $victim after $delay_ms ms"
  load_start "$PORT" "$LEDGER" "$round"
  sleep "$(fmt_ms "$delay_ms")"
  if [[ $victim == daemon ]]; then
    kill_daemon
    kill_pg main
    load_wait "$round"
    start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" "${SINK_FLAGS[@]}"
    daemon_kills=$((daemon_kills + 1))
  else
    kill_pg main
    load_wait "$round"
    pg_kills=$((pg_kills + 1))
  fi
  pg_start main "$PORT"
  "$LEDGER_BIN" check "$(conninfo "$PORT")" "$LEDGER" || fail "acknowledged commits lost (round $round)"
  amcheck "$PORT"
  ok "round $round: every acknowledged commit survived ($(grep -c '' "$LEDGER") so far), amcheck clean"
done
ok "$daemon_kills daemon kills and $pg_kills postgres kills, nothing acknowledged lost"

check "the walsink holds what the branch acknowledged"
st=$(strata status --json | jres)
jq -e '.walsink.connected == true' <<<"$st" >/dev/null || fail "walsink not connected: $st"
log "$(jq -c '.walsink' <<<"$st")"
log "$(jq -c '.branches[] | {name, durability, seq, acked_seq, durable_seq, lag}' <<<"$st")"

pg_stop main
checksums main
umount_daemon
