#!/usr/bin/env bash
# walsink_faults: the walsink server goes away under load. Commits on a
# `remote` branch wait, then fail with EIO after --sink-timeout; postgres
# PANICs on its WAL fsync, as it must. Once the server is back, postgres'
# crash recovery brings the branch back with every acknowledged commit.
# Also: garbage and a truncated frame sent to the live server by a raw TCP
# client get an ERROR frame and change nothing for the real client.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools ledger

PORT=55464
TIMEOUT_S=3
SINK_INSECURE=1 # the raw-frame checks speak plain TCP
sink_start
strata_init
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" "${SINK_FLAGS[@]}" --sink-timeout "$TIMEOUT_S"
create_root_branch main
pg_setup main "$PORT" 1
LEDGER=$ROOT/ledger.txt
: >"$LEDGER"

check "malformed frames to the live walsink get an ERROR and change nothing"
load_start "$PORT" "$LEDGER" 1
sleep 1
host=${SINK_ADDR%:*}
sport=${SINK_ADDR##*:}
# raw_frame BYTES [close]: send BYTES (printf format) on a fresh connection;
# print the type byte of the server's first reply frame in hex. With
# "close", hang up at once instead (a frame cut short by the client).
raw_frame() {
  local reply=
  exec 3<>"/dev/tcp/$host/$sport"
  # shellcheck disable=SC2059
  printf "$1" >&3
  [[ "${2:-}" == close ]] || reply=$(timeout 5 head -c 1 <&3 | od -An -tx1 | tr -d ' \n' || true)
  exec 3<&-
  echo "$reply"
}
r=$(raw_frame 'GARBAGE!GARBAGE!')
[[ "$r" == 17 ]] || fail "garbage got reply type '$r', expected ERROR (17)"
ok "garbage: ERROR frame"
# a HELLO whose checksum is wrong
r=$(raw_frame '\x10\x04\x00\x00\x00\xde\xad\xbe\xef\x01\x00\x00\x00')
[[ "$r" == 17 ]] || fail "bad checksum got reply type '$r', expected ERROR (17)"
ok "checksum mismatch: ERROR frame"
# a frame header promising 100 bytes, then the connection closes
raw_frame '\x10\x64\x00\x00\x00\x00\x00\x00\x00abc' close >/dev/null
sleep 2
grep -q 'truncated' "$LOG_DIR/walsink.log" || fail "the walsink log does not name the truncated frame"
ok "truncated frame: logged, connection closed"
strata status --json | jres | jq -e '.walsink.connected == true and .walsink.last_error == ""' >/dev/null ||
  fail "the daemon's walsink connection was disturbed"
grep -q 'checksum' "$LOG_DIR/walsink.log" || fail "the walsink log does not name the checksum mismatch"
ok "the daemon's connection is unaffected; the server logged each bad frame"

check "walsink killed under load: commits wait, then fail with EIO after ${TIMEOUT_S}s"
sleep 2
sink_stop KILL
t0=$(now_ms)
if as_pg "$PGBIN/psql" -h "$SOCK_DIR" -p "$PORT" -X -q -c "CREATE TABLE during_outage(x int)" \
  >"$LOG_DIR/outage-commit.log" 2>&1; then
  fail "a commit succeeded with the walsink down (see $LOG_DIR/outage-commit.log)"
fi
waited=$(($(now_ms) - t0))
log "the commit failed after $waited ms: $(tail -n 2 "$LOG_DIR/outage-commit.log" | tr '\n' ' ')"
((waited >= TIMEOUT_S * 1000 - 500)) || fail "the commit failed after $waited ms, before the ${TIMEOUT_S}s timeout"
grep -qE 'PANIC' "${PG_LOG[$MNT/main]}" || fail "postgres did not PANIC on the failed fsync"
grep -E 'PANIC' "${PG_LOG[$MNT/main]}" | head -n 2
ok "postgres PANICked on the failed fsync (EIO)"
st=$(strata status --json | jres)
jq -e '.walsink.connected == false and .walsink.barrier_timeouts > 0' <<<"$st" >/dev/null ||
  fail "status should show the walsink down with barrier timeouts: $(jq -c .walsink <<<"$st")"
ok "status: $(jq -c '.walsink | {connected, barrier_timeouts, last_error}' <<<"$st")"
load_wait 1

check "walsink back: postgres recovers with every acknowledged commit"
sink_start
PM=${PG_PID[$MNT/main]}
if pid_alive "$PM"; then
  # restart_after_crash: the postmaster may still be recovering on its own
  for _ in $(seq 1 120); do
    as_pg "$PGBIN/pg_isready" -q -h "$SOCK_DIR" -p "$PORT" && break
    sleep 0.5
  done
fi
if ! as_pg "$PGBIN/pg_isready" -q -h "$SOCK_DIR" -p "$PORT"; then
  pid_alive "$PM" && kill_pg main
  pg_forget main
  pg_start main "$PORT"
fi
"$LEDGER_BIN" check "$(conninfo "$PORT")" "$LEDGER" || fail "acknowledged commits lost across the walsink outage"
ok "all $(grep -c '' "$LEDGER") acknowledged commits present"
amcheck "$PORT"
st=$(strata status --json | jres)
jq -e '.walsink.connected == true' <<<"$st" >/dev/null || fail "walsink not reconnected: $(jq -c .walsink <<<"$st")"
ok "reconnected after $(jq -r .walsink.reconnects <<<"$st") reconnects"
pg_stop main
checksums main
umount_daemon

check "a store with remote branches refuses a mount without --sink"
if out=$(strata mount "$STORE_URL" "$MNT" --cache-dir "$CACHE_DIR" 2>&1); then
  fail "mounted without --sink: $out"
fi
grep -q -- "--sink" <<<"$out" || fail "the refusal does not say what to do: $out"
mountpoint -q "$MNT" && fail "$MNT got mounted"
ok "refused: $out"
