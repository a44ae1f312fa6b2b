#!/usr/bin/env bash
# endpoints: the daemon runs a branch's postgres server itself, behind one
# proxy port (docs/api.md, docs/proxy.md).
#  - psql through the proxy to a suspended branch gets its first row, and the
#    daemon's log shows the wake-up; after the idle timeout the server process
#    is gone; the next connection wakes it again with the data intact.
#  - A postmaster killed with -9 is started again (crash recovery) by the next
#    session; a daemon restart keeps branches and credentials working.
#  - Credentials open one branch only; wrong passwords, unknown users, unknown
#    branches, expired and revoked credentials are refused with the right
#    error, and deleting a branch ends its sessions.
#  - An owner token (strata token issue) creates and lists its owner's
#    branches only over TCP, gets 404 for another branch and 403 for quotas;
#    revoked (strata token revoke), it gets 401.
#  - Malformed startup packets get an error and the proxy keeps serving.
#  - TLS: the proxy's self-signed certificate (made in the cache directory)
#    passes psql's sslmode=verify-full and channel_binding=require, its
#    fingerprint is in the status, and --proxy-require-tls refuses plaintext.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools

IDLE=3
strata_init
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" --idle-timeout "$IDLE"
PROXY=$(api GET /v1/status | jq -r .proxy)
PPORT=${PROXY##*:}
[[ "$PPORT" =~ ^[0-9]+$ ]] || fail "no proxy port in status: $PROXY"
log "proxy at $PROXY"

# pq USER PASSWORD DBNAME SQL [CONNINFO]: psql through the proxy; output, or the error.
pq() {
  PGPASSWORD=$2 PGCONNECT_TIMEOUT=60 "$PGBIN/psql" -X -At -v ON_ERROR_STOP=1 \
    "host=127.0.0.1 port=$PPORT user=$1 dbname=$3 ${5:-}" -c "$4" 2>&1
}
# cred BRANCH [JSON]: issue a credential; sets C_USER and C_PASS.
cred() {
  local c
  c=$(api POST "/v1/branches/$1/credentials" "${2:-{\}}")
  C_USER=$(jq -r .user <<<"$c")
  C_PASS=$(jq -r .password <<<"$c")
}
endpoint_state() { api GET "/v1/branches/$1/endpoint" | jq -r .state; }
wake_count() { grep -c "endpoint $1: woke up" "$DAEMON_LOG" || true; }

check "create a database through the API (initdb) and issue a credential"
t0=$(now_ms)
api POST /v1/branches '{"name":"main","initdb":true}' >/dev/null
ok "main created with initdb in $(($(now_ms) - t0)) ms"
cred main
[[ "$(endpoint_state main)" == suspended ]] || fail "a new branch's endpoint is not suspended"

check "psql through the proxy wakes the suspended branch and gets its first row"
t0=$(now_ms)
out=$(pq "$C_USER" "$C_PASS" main "create table t (x int); insert into t values (42); select x from t")
[[ "$out" == *42 ]] || fail "first query through the proxy failed: $out"
ok "first row in $(($(now_ms) - t0)) ms: $out"
grep -q "endpoint main: woke up (connect)" "$DAEMON_LOG" || fail "the daemon log shows no wake-up"
ok "daemon log: $(grep "endpoint main: woke up" "$DAEMON_LOG" | tail -1 | cut -c1-160)"
e=$(api GET /v1/branches/main/endpoint)
PGPID=$(jq -r .pid <<<"$e")
[[ "$(jq -r .state <<<"$e")" == running && "$PGPID" =~ ^[0-9]+$ ]] || fail "endpoint not running: $e"
pid_alive "$PGPID" || fail "postgres pid $PGPID is not alive"
[[ "$(stat -c %U "/proc/$PGPID")" == postgres ]] || fail "the server does not run as postgres"

check "after the idle timeout (${IDLE}s) the server process is gone"
deadline=$(($(now_ms) + (IDLE + 30) * 1000))
while [[ "$(endpoint_state main)" != suspended ]]; do
  (($(now_ms) < deadline)) || fail "endpoint still $(endpoint_state main) after $((IDLE + 30)) s"
  sleep 0.5
done
wait_gone "$PGPID" 10 || fail "postgres pid $PGPID still alive after suspend"
grep -q "endpoint main: suspended (idle)" "$DAEMON_LOG" || fail "no idle suspend in the log"
ok "suspended (idle); pid $PGPID gone"

check "the next connection wakes it again with the data intact"
out=$(pq "$C_USER" "$C_PASS" main "select x from t")
[[ "$out" == 42 ]] || fail "after the wake-up: $out"
[[ "$(wake_count main)" == 2 ]] || fail "expected 2 wake-ups in the log, got $(wake_count main)"
ok "second wake-up, row intact"

check "a postmaster killed with -9 is started again by the next session"
PGPID=$(api GET /v1/branches/main/endpoint | jq -r .pid)
kill -9 "$PGPID"
wait_gone "$PGPID" 10 || fail "postgres $PGPID survived kill -9"
out=$(pq "$C_USER" "$C_PASS" main "insert into t values (43); select count(*) from t")
[[ "$out" == *2 ]] || fail "after the crash: $out"
grep -q "endpoint main: the server exited on its own" "$DAEMON_LOG" || fail "crash not noticed in the log"
ok "crash recovery through the proxy: $out"

check "credentials open one branch only; refusals carry the right error"
api POST /v1/branches '{"name":"fork","from":"main"}' >/dev/null
out=$(pq "$C_USER" "$C_PASS" fork "select 1") && fail "main's credential opened fork: $out"
[[ "$out" == *"is not valid for branch \"fork\""* ]] || fail "wrong refusal: $out"
ok "main's credential on fork: ${out##*FATAL:  }"
out=$(pq "$C_USER" wrong-password main "select 1") && fail "a wrong password was accepted"
[[ "$out" == *"password authentication failed"* ]] || fail "wrong password: $out"
out=$(pq u0000000000000000 "$C_PASS" main "select 1") && fail "an unknown user was accepted"
[[ "$out" == *"password authentication failed"* ]] || fail "unknown user: $out"
out=$(pq "$C_USER" "$C_PASS" nosuch "select 1") && fail "an unknown branch was opened"
[[ "$out" == *"does not exist"* ]] || fail "unknown branch: $out"
ok "wrong password, unknown user, unknown branch refused"
cred fork '{"ttl_seconds":1}'
sleep 1.5
out=$(pq "$C_USER" "$C_PASS" fork "select 1") && fail "an expired credential was accepted"
[[ "$out" == *"password authentication failed"* ]] || fail "expired credential: $out"
cred fork
out=$(pq "$C_USER" "$C_PASS" fork "select count(*) from t")
[[ "$out" == 2 ]] || fail "fork's own credential: $out"
api DELETE "/v1/credentials/$C_USER" >/dev/null
out=$(pq "$C_USER" "$C_PASS" fork "select 1") && fail "a revoked credential was accepted"
ok "expired and revoked credentials refused; fork sees main's rows"

check "malformed startup packets get an error and the proxy keeps serving"
for packet in '\x00\x00\x00\x03' '\x7f\xff\xff\xff' 'GET / HTTP/1.1\r\n\r\n' \
  '\x00\x00\x00\x08\x00\x02\x00\x00'; do
  exec 3<>"/dev/tcp/127.0.0.1/$PPORT"
  # The proxy may answer and close before the whole packet is written, and the
  # rest of the write then meets a reset: that is a refusal too, not a failure.
  # shellcheck disable=SC2059  # the packet is a printf format on purpose
  printf "$packet" >&3 2>/dev/null || true
  reply=$(timeout 15 head -c 200 <&3 2>/dev/null | tr -d '\0' || true)
  exec 3<&- 3>&-
  [[ "$reply" == E* || -z "$reply" ]] || fail "packet $packet got: $reply"
done
exec 3<>"/dev/tcp/127.0.0.1/$PPORT"
printf '\x00\x00\x00\x08\x04\xd2\x16\x2f' >&3 # SSLRequest
reply=$(timeout 15 head -c 1 <&3)
exec 3<&- 3>&-
[[ "$reply" == S ]] || fail "SSLRequest answered '$reply', not S"
cred main
MAIN_USER=$C_USER MAIN_PASS=$C_PASS
out=$(pq "$MAIN_USER" "$MAIN_PASS" main "select count(*) from t")
[[ "$out" == 2 ]] || fail "proxy unusable after bad packets: $out"
ok "bad packets refused, SSLRequest answered S, next session fine"

check "TLS with the self-signed certificate: verify-full, channel binding, the fingerprint"
CERT=$CACHE_DIR/proxy-tls.crt
[[ "$(stat -c %a "$CACHE_DIR/proxy-tls.key")" == 600 ]] || fail "the proxy's key is not 0600"
out=$(pq "$MAIN_USER" "$MAIN_PASS" main "select count(*) from t" \
  "sslmode=verify-full sslrootcert=$CERT channel_binding=require")
[[ "$out" == 2 ]] || fail "sslmode=verify-full with channel binding: $out"
want=$(openssl x509 -noout -fingerprint -sha256 -in "$CERT" | cut -d= -f2)
got=$(api GET /v1/status | jq -r .proxy_stats.tls.fingerprint_sha256)
[[ "$got" == "$want" ]] || fail "status fingerprint $got, openssl says $want"
strata status | grep -q "^proxy tls: .*(self-signed), SHA-256 $want" ||
  fail "strata status shows no proxy tls line: $(strata status | grep proxy)"
ok "verify-full + channel_binding=require; fingerprint $want"

check "the API refuses bad input and changes nothing"
before=$(api GET /v1/branches | jq -c '[.[].name]')
api_expect 400 POST /v1/branches '{"name":' >/dev/null
api_expect 400 POST /v1/branches '{"name":"x","colour":"red"}' >/dev/null
api_expect 404 POST /v1/branches/nosuch/credentials '{}' >/dev/null
API=$(api GET /v1/status | jq -r .api)
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer nope' "http://$API/v1/branches")
[[ "$code" == 401 ]] || fail "a bad token got HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(head -1 "$CACHE_DIR/api-token")" \
  "http://$API/v1/branches")
[[ "$code" == 200 ]] || fail "the right token got HTTP $code"
[[ "$(api GET /v1/branches | jq -c '[.[].name]')" == "$before" ]] || fail "bad requests changed the branches"
ok "malformed JSON, unknown field, unknown branch, bad token refused; nothing changed"

check "an owner token reaches its owner's branches only; revoked, it is refused"
OWNER_TOKEN=$(strata token issue agent --ttl 1h --json | jq -r .token)
TOKEN_ID=$(strata token list --json | jq -r '.[] | select(.owner == "agent") | .id')
[[ "$OWNER_TOKEN" == strata_"$TOKEN_ID"_* ]] || fail "token issue printed '$OWNER_TOKEN' (id $TOKEN_ID)"
as_agent() {  # METHOD PATH [BODY]: prints the HTTP status, the body to $LOG_DIR/agent.json
  curl -s -o "$LOG_DIR/agent.json" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $OWNER_TOKEN" \
    ${3:+-d "$3"} "http://$API$2"
}
[[ $(as_agent POST /v1/branches '{"name":"agent-b"}') == 201 ]] || fail "create: $(cat "$LOG_DIR/agent.json")"
[[ $(api GET /v1/branches/agent-b | jq -r .owner) == agent ]] || fail "agent-b is not agent's"
[[ $(as_agent GET /v1/branches) == 200 ]] || fail "list: $(cat "$LOG_DIR/agent.json")"
[[ $(jq -c '[.[].name]' "$LOG_DIR/agent.json") == '["agent-b"]' ]] ||
  fail "the agent sees $(jq -c '[.[].name]' "$LOG_DIR/agent.json")"
[[ $(as_agent DELETE /v1/branches/main) == 404 ]] || fail "deleting main: $(cat "$LOG_DIR/agent.json")"
[[ $(as_agent PUT /v1/owners/agent/quota '{"max_branches":100}') == 403 ]] ||
  fail "quota: $(cat "$LOG_DIR/agent.json")"
[[ $(api GET /v1/branches/main | jq -r .name) == main ]] || fail "main is gone"
strata token revoke "$TOKEN_ID" >/dev/null
[[ $(as_agent GET /v1/branches) == 401 ]] || fail "a revoked token got $(cat "$LOG_DIR/agent.json")"
grep -q "was revoked at" "$LOG_DIR/agent.json" || fail "revoked: $(cat "$LOG_DIR/agent.json")"
strata token list | grep -q "^$TOKEN_ID  *agent  *revoked " || fail "token list: $(strata token list)"
api DELETE /v1/branches/agent-b >/dev/null
ok "own branch created; main a 404, quota a 403 for it; revoked: 401"

check "deleting a branch ends its sessions and refuses new ones"
cred fork
PGPASSWORD=$C_PASS "$PGBIN/psql" -X "host=127.0.0.1 port=$PPORT user=$C_USER dbname=fork" \
  -c "select pg_sleep(60)" >"$LOG_DIR/long-session.log" 2>&1 &
SESSION=$!
track_pid "$SESSION"
deadline=$(($(now_ms) + 30000))
until [[ "$(api GET /v1/branches/fork/endpoint | jq -r .connections)" == 1 ]]; do
  (($(now_ms) < deadline)) || fail "the long session never showed up"
  sleep 0.2
done
api DELETE /v1/branches/fork >/dev/null
wait_gone "$SESSION" 30 || fail "the session on the deleted branch is still running"
out=$(pq "$C_USER" "$C_PASS" fork "select 1") && fail "a deleted branch was opened"
ok "session ended; after delete: ${out##*FATAL:  }"

check "a daemon restart keeps branches, credentials and the certificate; --proxy-require-tls"
umount_daemon
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" --idle-timeout "$IDLE" --proxy-require-tls
PPORT=$(api GET /v1/status | jq -r .proxy)
PPORT=${PPORT##*:}
t0=$(now_ms)
out=$(pq "$MAIN_USER" "$MAIN_PASS" main "select count(*) from t" "sslmode=verify-full sslrootcert=$CERT")
[[ "$out" == 2 ]] || fail "after the restart, with the same certificate: $out"
ok "first row after a daemon restart in $(($(now_ms) - t0)) ms"
out=$(pq "$MAIN_USER" "$MAIN_PASS" main "select 1" "sslmode=disable") && fail "plaintext accepted: $out"
[[ "$out" == *"accepts TLS connections only"* ]] || fail "plaintext refusal: $out"
ok "plaintext refused: ${out##*FATAL:  }"
umount_daemon
