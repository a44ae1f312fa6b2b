#!/usr/bin/env bash
# cluster_netns: three daemons on one file:// store, each in its own network
# namespace with its own address on a bridge (docs/cluster.md): each
# advertises the address it listens on, and a session for a branch n1 holds,
# started at n3's address, is relayed from n3's proxy to n1's across the
# bridge. Then n1 hands the branch to n2 (endpoint move) and n3 relays there.
# Needs ip netns and a bridge (root, CAP_NET_ADMIN).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools

probe=st-probe-$$
ip netns add "$probe" 2>/dev/null || skip "this machine cannot make network namespaces (ip netns add)"
ip netns del "$probe"
NET=10.213.$(($$ % 200 + 20))
BR=stbr$(($$ % 100000))
netns_bridge "$BR" "$NET.1/24"
for i in 1 2 3; do netns_add "st-n$i-$$" "$BR" "$NET.1$i/24"; done

M1=$MNT
M2=$ROOT/mnt2
M3=$ROOT/mnt3
strata_init
# start_node I MOUNTPOINT CACHE_DIR: node nI, in its namespace, at its address.
start_node() {
  local i=$1 m=$2 cache=$3
  DAEMON_NETNS=st-n$i-$$ start_daemon "$STORE_URL" "$m" "$cache" --node-id "n$i" --lease-ttl 5s \
    --proxy "0.0.0.0:5432" --api "$NET.1$i:55433" --advertise-host "$NET.1$i"
}
start_node 1 "$M1" "$CACHE_DIR"
start_node 2 "$M2" "$ROOT/cache2"
start_node 3 "$M3" "$ROOT/cache3"

check "each daemon advertises its own address"
NODES=$(strata node list --mount "$M1" --json | jres)
for i in 1 2 3; do
  [[ $(jq -r --arg n "n$i" '.[] | select(.id == $n) | .proxy' <<<"$NODES") == "$NET.1$i:5432" ]] ||
    fail "n$i's proxy is not advertised at $NET.1$i:5432: $NODES"
  [[ $(jq -r --arg n "n$i" '.[] | select(.id == $n) | .api' <<<"$NODES") == "$NET.1$i:55433" ]] ||
    fail "n$i's API is not advertised at $NET.1$i:55433: $NODES"
done
ok "n1..n3 at $NET.11..13, each proxy on port 5432 of its own address"

check "a session at n3's address reaches the branch n1 holds, through n1's address"
API_MOUNT=$M1 api POST /v1/branches '{"name": "db", "initdb": true}' >/dev/null
C=$(API_MOUNT=$M1 api POST /v1/branches/db/credentials '{}')
C_USER=$(jq -r .user <<<"$C")
C_PASS=$(jq -r .password <<<"$C")
pq() {
  PGPASSWORD=$C_PASS PGCONNECT_TIMEOUT=60 "$PGBIN/psql" -X -At -v ON_ERROR_STOP=1 \
    "host=$1 port=5432 user=$C_USER dbname=db sslmode=require" -c "$2" 2>&1 || true
}
out=$(pq "$NET.11" "create table t (id int); insert into t select generate_series(1, 100); select count(*) from t")
[[ "$out" == *100 ]] || fail "through n1 at $NET.11: $out"
until_ok 10 listed_on "$M3" db || fail "n3 does not list db"
out=$(pq "$NET.13" "insert into t values (101); select count(*) from t")
[[ "$out" == *101 ]] || fail "through n3 at $NET.13: $out"
grep -q "relayed to node n1 ($NET.11:5432)" "${DAEMON_LOGS[$M3]}" ||
  fail "n3's log names no relay to n1 at $NET.11:5432"
ok "n3 relayed the session to n1 at $NET.11:5432 over the bridge"

check "after a move to n2, n3 relays to n2's address"
strata endpoint move db --to n2 --mount "$M1" >/dev/null || fail "move db to n2"
[[ $(pq "$NET.13" "select count(*) from t") == 101 ]] || fail "through n3 after the move"
grep -q "relayed to node n2 ($NET.12:5432)" "${DAEMON_LOGS[$M3]}" ||
  fail "n3's log names no relay to n2 at $NET.12:5432"
ok "n3 relays to n2 at $NET.12:5432; every row is there"

umount_daemon "$M3"
umount_daemon "$M2"
umount_daemon "$M1"
