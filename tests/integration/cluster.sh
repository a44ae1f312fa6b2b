#!/usr/bin/env bash
# cluster: two daemons mount one store (docs/cluster.md). Each sees the
# other's branches; a branch is written by one daemon at a time, the holder
# of its lease; a daemon frozen past its lease loses the branch to the other
# and, resumed, can neither acknowledge an fsync nor publish anything; the
# store verifies clean. Then both create and delete branches at once through
# their APIs: the catalog stays consistent and no branch id is used twice.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools

M1=$MNT
M2=$ROOT/mnt2
C2=$ROOT/cache2
TTL=5
strata_init
# Small memtables: a few MiB written get flushed (published) on their own.
OPTS=(--lease-ttl "${TTL}s" --memtable-size 1M)
start_daemon "$STORE_URL" "$M1" "$CACHE_DIR" --node-id n1 "${OPTS[@]}"
start_daemon "$STORE_URL" "$M2" "$C2" --node-id n2 "${OPTS[@]}"

digest() { sha256sum "$1" | cut -d' ' -f1; }
field_on() { strata branch show "$2" --mount "$1" --json | jres | jq -r ".$3"; }
published_on() { (($(field_on "$1" "$2" durable_seq) >= $3)); }

check "both daemons are nodes of the store"
NODES=$(strata node list --mount "$M2" --json | jres)
[[ $(jq -r '[.[] | .id] | join(",")' <<<"$NODES") == "n1,n2" ]] || fail "node list: $NODES"
[[ $(jq -r '[.[] | select(.alive)] | length' <<<"$NODES") == 2 ]] || fail "not both alive: $NODES"
[[ $(jq -r '.[] | select(.here) | .id' <<<"$NODES") == n2 ]] || fail "n2 is not here: $NODES"
ok "n1 and n2 alive, each with its proxy: $(jq -r '[.[] | .proxy] | join(" ")' <<<"$NODES")"

check "a branch made and written on n1 is there on n2"
T0=$(now_ms)
strata branch create a --mount "$M1" >/dev/null || fail "branch create a on n1"
until_ok 10 listed_on "$M2" a || fail "n2 does not list branch a 10 s after n1 made it"
until_ok 10 test -d "$M2/a" || fail "n2's mount has no a/ 10 s after n1 made it"
log "a made on n1 was on n2's mount $(($(now_ms) - T0)) ms later"
head -c $((3 << 20)) /dev/urandom >"$ROOT/data"
cp "$ROOT/data" "$M1/a/data"
sync "$M1/a/data"
[[ $(holder_on "$M2" a) == n1 ]] || fail "n2 says a is held by $(holder_on "$M2" a), not n1"
if bash -c "echo x >'$M2/a/other'" 2>"$LOG_DIR/erofs.txt"; then fail "n2 wrote into n1's branch"; fi
grep -q "Read-only file system" "$LOG_DIR/erofs.txt" || fail "writing n1's branch on n2: $(cat "$LOG_DIR/erofs.txt")"
if strata branch delete a --mount "$M2" 2>"$LOG_DIR/delete.txt"; then fail "n2 deleted n1's branch"; fi
grep -q "written by another daemon" "$LOG_DIR/delete.txt" || fail "delete on n2: $(cat "$LOG_DIR/delete.txt")"
grep -q "its proxy is" "$LOG_DIR/delete.txt" || fail "delete on n2 names no proxy: $(cat "$LOG_DIR/delete.txt")"
ok "n2 lists a, says n1 holds it, refuses to write it (EROFS) or delete it"
umount_daemon "$M1" # flushes a, then releases its lease
T0=$(now_ms)
# n2 read a before n1 flushed it: it reads it again within 5 s.
same_data() { [[ -e "$M2/a/data" && $(digest "$M2/a/data") == $(digest "$ROOT/data") ]]; }
until_ok 15 same_data || fail "n2 reads other bytes of a/data than n1 wrote"
echo "from n2" >"$M2/a/n2.txt"
sync "$M2/a/n2.txt"
[[ $(holder_on "$M2" a) == n2 ]] || fail "n2 wrote a but holds no lease on it"
log "a handed over: n2 read n1's bytes and wrote a $(($(now_ms) - T0)) ms after n1's umount"
SEQ=$(field_on "$M2" a seq)
head -c $((2 << 20)) /dev/urandom >"$M2/a/filler" # fills a memtable: flushed
sync "$M2/a/filler"
until_ok 30 published_on "$M2" a "$SEQ" || fail "n2 did not publish a past seq $SEQ"
ok "n1 stopped cleanly: n2 reads what n1 wrote, takes the branch at once and publishes"

check "a daemon frozen past its lease loses the branch and cannot write it when it wakes"
start_daemon "$STORE_URL" "$M1" "$CACHE_DIR" --node-id n1 "${OPTS[@]}"
until_ok 10 listed_on "$M1" a || fail "n1 does not list a after its restart"
[[ $(holder_on "$M1" a) == n2 ]] || fail "n1 says a is held by $(holder_on "$M1" a), not n2"
echo "late on n2" >"$M2/a/late.txt"
sync "$M2/a/late.txt" # in n2's op log (the local tier); published only if a flush ran since
P2=${DAEMON_PID[$M2]}
kill -STOP "$P2"
T0=$(now_ms)
until_ok $((3 * TTL)) bash -c "echo 'from n1' >'$M1/a/n1.txt' && sync '$M1/a/n1.txt'" ||
  fail "n1 could not take a over from the frozen n2"
[[ $(holder_on "$M1" a) == n1 ]] || fail "n1 wrote a but holds no lease on it"
log "n1 took a over $(($(now_ms) - T0)) ms after n2 froze (lease ttl ${TTL} s)"
kill -CONT "$P2"
if bash -c "echo woken >'$M2/a/woken.txt' && sync '$M2/a/woken.txt'" 2>"$LOG_DIR/woken.txt"; then
  fail "n2 acknowledged an fsync after it lost its lease"
fi
ok "n1 took a over; n2, resumed, got: $(tail -1 "$LOG_DIR/woken.txt")"
until_ok 10 node_dead_on "$M1" n2 || fail "n2 still counts as alive: $(strata node list --mount "$M1")"
ok "n2 stopped renewing its heartbeat: it is dead to the others"

check "what n1 wrote stands; the store verifies clean"
[[ $(cat "$M1/a/n1.txt") == "from n1" ]] || fail "n1's own write is gone"
[[ $(cat "$M1/a/n2.txt") == "from n2" ]] || fail "n2's flushed write is gone"
[[ ! -e "$M1/a/woken.txt" ]] || fail "n2's write after it lost the lease showed up on n1"
SEQ=$(field_on "$M1" a seq)
head -c $((2 << 20)) /dev/urandom >"$M1/a/filler" # n1 publishes n1.txt
sync "$M1/a/filler"
until_ok 30 published_on "$M1" a "$SEQ" || fail "n1 did not publish a past seq $SEQ"
if strata umount "$M2" 2>"$LOG_DIR/umount-n2.txt"; then fail "n2's final flush succeeded after it lost its lease"; fi
grep -q "missed its heartbeat" "$LOG_DIR/umount-n2.txt" || fail "umount n2: $(cat "$LOG_DIR/umount-n2.txt")"
wait_gone "$P2" 60 || fail "n2 ($P2) did not exit"
unset "DAEMON_PID[$M2]"
mountpoint -q "$M2" && fail "$M2 still mounted"
strata verify "$STORE_URL" >"$LOG_DIR/verify.txt" 2>&1 || { cat "$LOG_DIR/verify.txt"; fail "strata verify found problems"; }
ok "verify: $(grep -m1 -i 'objects\|problems' "$LOG_DIR/verify.txt")"
start_daemon "$STORE_URL" "$M2" "$C2" --node-id n2 "${OPTS[@]}"
# n2's op log still holds its records of a past what it published; they
# were written under the lease it lost and must not land on n1's state.
for f in n1.txt n2.txt data late.txt woken.txt; do
  a1=$( [[ -e "$M1/a/$f" ]] && digest "$M1/a/$f" || echo absent)
  a2=$( [[ -e "$M2/a/$f" ]] && digest "$M2/a/$f" || echo absent)
  [[ "$a1" == "$a2" ]] || fail "a/$f: n1 reads $a1, the restarted n2 $a2"
done
[[ $(cat "$M2/a/n1.txt") == "from n1" ]] || fail "restarted n2 does not read n1's write"
[[ ! -e "$M2/a/woken.txt" ]] || fail "restarted n2 replayed a write it made without a lease"
ok "n2 restarted: it reads a as n1 published it ($(grep -c 'dropping op-log records' "${DAEMON_LOGS[$M2]}") stale tail(s) dropped)"

check "both daemons create and delete branches at once through their APIs"
churn() {
  local m=$1 tag=$2 i
  for i in $(seq 1 12); do
    API_MOUNT=$m api POST /v1/branches "{\"name\": \"$tag-$i\"}" >/dev/null
    if ((i % 3 == 0)); then API_MOUNT=$m api DELETE "/v1/branches/$tag-$((i - 1))" >/dev/null; fi
  done
}
churn "$M1" x &
C1_PID=$!
churn "$M2" y &
C2_PID=$!
wait "$C1_PID" || fail "creating and deleting on n1 failed"
wait "$C2_PID" || fail "creating and deleting on n2 failed"
names_on() { strata branch list --mount "$1" --json | jres | jq -r '[.[] | .name] | sort | join(" ")'; }
same_names() { [[ "$(names_on "$M1")" == "$(names_on "$M2")" ]]; }
until_ok 10 same_names || fail "the daemons list different branches: n1: $(names_on "$M1"); n2: $(names_on "$M2")"
LIST=$(strata branch list --mount "$M1" --json | jres)
[[ $(jq '[.[] | select(.name | test("^[xy]-"))] | length' <<<"$LIST") == 16 ]] || fail "expected 16 branches left: $(names_on "$M1")"
[[ $(jq '[.[] | .id] | length' <<<"$LIST") == $(jq '[.[] | .id] | unique | length' <<<"$LIST") ]] ||
  fail "a branch id is used twice: $LIST"
[[ $(holder_on "$M2" x-12) == n1 ]] || fail "n2 says x-12 (made on n1) is held by $(holder_on "$M2" x-12)"
START=$(API_MOUNT=$M2 api_expect 409 POST /v1/branches/x-12/endpoint/start)
grep -q "held by node n1.*its proxy is" <<<"$START" || fail "starting x-12's server on n2: $START"
strata verify "$STORE_URL" >"$LOG_DIR/verify2.txt" 2>&1 || { cat "$LOG_DIR/verify2.txt"; fail "strata verify found problems"; }
ok "both list the same $(jq length <<<"$LIST") branches, ids unique, the store verifies"

umount_daemon "$M2"
umount_daemon "$M1"
