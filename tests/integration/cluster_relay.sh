#!/usr/bin/env bash
# cluster_relay: three daemons on one store (docs/cluster.md, "Any proxy, any
# branch" and "Moving a branch"). A branch made and run on n1 is reachable
# through n3's proxy, which authenticates the client and relays the session
# to n1's proxy: same rows, writes both ways, TLS end to end, cancel
# requests through the relay. Then `endpoint move` hands the running branch
# to n2: n1 stops its server, sessions through n1's and n3's proxies reach
# n2, which holds the branch and has every row. Logs the relay's overhead
# (pgbench select-only through n3 against n2's own proxy) and the time from
# the move to the first query on n2.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools

M1=$MNT
M2=$ROOT/mnt2
M3=$ROOT/mnt3
strata_init
OPTS=(--lease-ttl 5s)
start_daemon "$STORE_URL" "$M1" "$CACHE_DIR" --node-id n1 "${OPTS[@]}"
start_daemon "$STORE_URL" "$M2" "$ROOT/cache2" --node-id n2 "${OPTS[@]}"
start_daemon "$STORE_URL" "$M3" "$ROOT/cache3" --node-id n3 "${OPTS[@]}"

proxy_port_of() { API_MOUNT=$1 api GET /v1/status | jq -r .proxy | sed 's/.*://'; }
P1=$(proxy_port_of "$M1")
P2=$(proxy_port_of "$M2")
P3=$(proxy_port_of "$M3")
relayed() { API_MOUNT=$1 api GET /v1/status | jq -r ".proxy_stats.$2"; }
# pq PORT SQL [CONNINFO]: psql with the credential C_USER/C_PASS on branch db
# through the proxy at PORT; its output, or its error.
# (A failure is output for the caller's check to name, not an exit.)
pq() {
  PGPASSWORD=$C_PASS PGCONNECT_TIMEOUT=60 "$PGBIN/psql" -X -At -v ON_ERROR_STOP=1 \
    "host=127.0.0.1 port=$1 user=$C_USER dbname=db ${3:-}" -c "$2" 2>&1 || true
}

check "a database made on n1 is reachable through n3's proxy, with the same rows"
API_MOUNT=$M1 api POST /v1/branches '{"name": "db", "initdb": true}' >/dev/null
C=$(API_MOUNT=$M1 api POST /v1/branches/db/credentials '{}')
C_USER=$(jq -r .user <<<"$C")
C_PASS=$(jq -r .password <<<"$C")
out=$(pq "$P1" "create table t (id int primary key, v text);
               insert into t select g, 'row ' || g from generate_series(1, 1000) g;
               select count(*) from t")
[[ "$out" == *1000 ]] || fail "writing through n1's proxy: $out"
until_ok 10 listed_on "$M3" db || fail "n3 does not list db 10 s after n1 made it"
[[ $(holder_on "$M3" db) == n1 ]] || fail "n3 says db is held by $(holder_on "$M3" db), not n1"
T0=$(now_ms)
out=$(pq "$P3" "select count(*), sum(id) from t")
[[ "$out" == "1000|500500" ]] || fail "reading through n3's proxy: $out"
log "first query through n3's proxy (relayed to n1) in $(($(now_ms) - T0)) ms"
out=$(pq "$P3" "insert into t values (1001, 'via n3') returning v")
[[ "$out" == *"via n3"* ]] || fail "writing through n3's proxy: $out"
[[ $(pq "$P1" "select v from t where id = 1001") == "via n3" ]] || fail "n1 does not see n3's row"
[[ $(holder_on "$M1" db) == n1 ]] || fail "after the relay db is held by $(holder_on "$M1" db), not n1"
STATE3=$(API_MOUNT=$M3 api GET /v1/branches/db/endpoint | jq -r .state)
[[ "$STATE3" == suspended ]] || fail "n3 runs db's server itself: $STATE3"
OUT3=$(relayed "$M3" relayed_out)
IN1=$(relayed "$M1" relayed_in)
((OUT3 >= 2 && IN1 >= 2)) || fail "relay counters: n3 relayed_out $OUT3, n1 relayed_in $IN1"
ok "n3 relayed $OUT3 session(s) to n1 ($IN1 in): same rows, its write seen on n1, no server on n3"

check "a credential and a branch made through n1 work at once through n3"
for i in 1 2 3; do
  C=$(API_MOUNT=$M1 api POST /v1/branches/db/credentials '{}')
  C_USER=$(jq -r .user <<<"$C")
  C_PASS=$(jq -r .password <<<"$C")
  out=$(pq "$P3" "select count(*) from t")
  [[ "$out" == 1001 ]] || fail "a credential issued on n1 a moment ago, through n3: $out"
done
API_MOUNT=$M1 api POST /v1/branches '{"name": "kid", "from": "db"}' >/dev/null
K=$(API_MOUNT=$M1 api POST /v1/branches/kid/credentials '{}')
out=$(PGPASSWORD=$(jq -r .password <<<"$K") PGCONNECT_TIMEOUT=60 "$PGBIN/psql" -X -At \
  "host=127.0.0.1 port=$P3 user=$(jq -r .user <<<"$K") dbname=kid" -c "select count(*) from t" 2>&1 || true)
[[ "$out" == 1001 ]] || fail "a fork made on n1 a moment ago, through n3: $out"
ok "no wait for n3 to follow n1's catalog: it reads it again for a name it does not know"

check "TLS from the client to n3 and from n3 to n1; a wrong password stays a wrong password"
CERT3=$(API_MOUNT=$M3 api GET /v1/status | jq -r .proxy_stats.tls.certificate)
out=$(pq "$P3" "select count(*) from t" "sslmode=verify-full sslrootcert=$CERT3 channel_binding=require")
[[ "$out" == 1001 ]] || fail "verify-full + channel binding through n3: $out"
out=$(PGPASSWORD=wrong PGCONNECT_TIMEOUT=60 "$PGBIN/psql" -X -At \
  "host=127.0.0.1 port=$P3 user=$C_USER dbname=db" -c "select 1" 2>&1) &&
  fail "a wrong password got through n3: $out"
[[ "$out" == *"password authentication failed"* ]] || fail "wrong password through n3: $out"
ok "channel binding to n3's certificate, relayed over TLS to n1; wrong password refused by n3"

check "a cancel request through n3 reaches n1's server"
T0=$(now_ms)
out=$(PGPASSWORD=$C_PASS timeout -s INT 3 "$PGBIN/psql" -X -At \
  "host=127.0.0.1 port=$P3 user=$C_USER dbname=db" -c "select pg_sleep(60)" 2>&1) &&
  fail "pg_sleep(60) was not cancelled: $out"
[[ "$out" == *"canceling statement due to user request"* ]] || fail "cancel through n3: $out"
(($(now_ms) - T0 < 30000)) || fail "the cancelled query ran $(($(now_ms) - T0)) ms"
ok "psql's cancel through n3 stopped the query on n1's server"

check "endpoint move hands the running branch from n1 to n2"
STATE1=$(API_MOUNT=$M1 api GET /v1/branches/db/endpoint | jq -r .state)
[[ "$STATE1" == running ]] || fail "db is not running on n1 before the move: $STATE1"
out=$(strata endpoint move db --to n9 --mount "$M1" 2>&1) && fail "a move to an unknown node worked: $out"
[[ "$out" == *"node n9 is not a live member"* ]] || fail "move to n9: $out"
out=$(strata endpoint move db --to n2 --mount "$M3" 2>&1) && fail "n3 moved n1's branch: $out"
[[ "$out" == *"held by node n1"*"run the move there"* ]] || fail "move on n3: $out"
T0=$(now_ms)
MOVE=$(strata endpoint move db --to n2 --mount "$M1" --json | jres)
MOVE_MS=$(($(now_ms) - T0))
[[ $(jq -r '.moved and .was_running and .from == "n1" and .to == "n2"' <<<"$MOVE") == true ]] ||
  fail "move: $MOVE"
[[ $(API_MOUNT=$M1 api GET /v1/branches/db/endpoint | jq -r .state) == suspended ]] ||
  fail "db's server still runs on n1 after the move"
[[ $(holder_on "$M3" db) == n2 ]] || fail "after the move db is held by $(holder_on "$M3" db), not n2"
T0=$(now_ms)
out=$(pq "$P3" "select count(*), max(v) filter (where id = 1001) from t")
FIRST_MS=$(($(now_ms) - T0))
[[ "$out" == "1001|via n3" ]] || fail "through n3 after the move: $out"
[[ $(API_MOUNT=$M2 api GET /v1/branches/db/endpoint | jq -r .state) == running ]] ||
  fail "db's server does not run on n2 after a session"
out=$(pq "$P1" "insert into t values (1002, 'via n1 after the move') returning id")
[[ "$out" == *1002* ]] || fail "writing through n1's proxy after the move: $out"
[[ $(pq "$P2" "select count(*) from t") == 1002 ]] || fail "n2 does not have every row"
[[ $(holder_on "$M1" db) == n2 ]] || fail "writes after the move made $(holder_on "$M1" db) the holder"
if echo x >"$M1/db/moved.txt" 2>"$LOG_DIR/erofs.txt"; then fail "n1 wrote into db after giving it away"; fi
out=$(strata endpoint move db --to n2 --mount "$M2" --json | jres)
[[ $(jq -r .moved <<<"$out") == false ]] || fail "a move to the holder itself: $out"
log "move took ${MOVE_MS} ms; first query through n3 after it (n2 starts the server) ${FIRST_MS} ms"
ok "n2 holds db and runs its server; n1's and n3's proxies relay to it; n1 cannot write it"

check "relay overhead: pgbench select-only through n3 (relayed) against n2's own proxy"
PGPASSWORD=$C_PASS "$PGBIN/pgbench" -i -s 2 -q "host=127.0.0.1 port=$P2 user=$C_USER dbname=db" \
  >"$LOG_DIR/pgbench-init.txt" 2>&1 || fail "pgbench -i: $(tail -3 "$LOG_DIR/pgbench-init.txt")"
tps() {
  PGPASSWORD=$C_PASS "$PGBIN/pgbench" -S -n -c 4 -j 2 -T 5 \
    "host=127.0.0.1 port=$1 user=$C_USER dbname=db" 2>&1 | tee -a "$LOG_DIR/pgbench.txt" |
    sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
LOCAL=$(tps "$P2")
RELAY=$(tps "$P3")
[[ -n "$LOCAL" && -n "$RELAY" ]] || fail "pgbench: $(tail -5 "$LOG_DIR/pgbench.txt")"
log "select-only TPS (4 clients, 5 s): n2's proxy ${LOCAL%.*}, through n3's relay ${RELAY%.*} (ratio $(awk -v a="$RELAY" -v b="$LOCAL" 'BEGIN { printf "%.2f", a / b }'))"
ok "pgbench -S ran through both"

strata verify "$STORE_URL" >"$LOG_DIR/verify.txt" 2>&1 || { cat "$LOG_DIR/verify.txt"; fail "strata verify found problems"; }
umount_daemon "$M3"
umount_daemon "$M2"
umount_daemon "$M1"
