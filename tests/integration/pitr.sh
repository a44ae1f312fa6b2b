#!/usr/bin/env bash
# pitr: branches from an op seq (@seq:N) and from a time (@time:RFC3339) see
# exactly the commits made before that point; branch reset brings a child to
# its parent's current state.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools

P_MAIN=55431
P_SEQ=55432
P_TIME=55433
strata_init
start_daemon
create_root_branch main
pg_init main
pg_start main "$P_MAIN"

rows() { psql_q "$1" "SELECT string_agg(v, ',' ORDER BY v) FROM t"; }

psql_q "$P_MAIN" "CREATE TABLE t (v text)"
psql_q "$P_MAIN" "INSERT INTO t VALUES ('a')"
SEQ_A=$(branch_seq main)
log "after commit of 'a': main seq = $SEQ_A"
psql_q "$P_MAIN" "INSERT INTO t VALUES ('b')"
sleep 1.2
TIME_B=$(date -u +%Y-%m-%dT%H:%M:%SZ)
log "after commit of 'b' (+1.2 s): time = $TIME_B"
sleep 1.2
psql_q "$P_MAIN" "INSERT INTO t VALUES ('c')"
[[ $(rows "$P_MAIN") == a,b,c ]] || fail "main: expected a,b,c"

check "branch --from main@seq:$SEQ_A sees a, not b"
timed_json branch create at_seq --from "main@seq:$SEQ_A"
ok "branch create at_seq: $(fmt_ms "$TJ_WALL_US") ms wall, elapsed_us=${TJ_US:-n/a}"
pg_start at_seq "$P_SEQ"
got=$(rows "$P_SEQ")
[[ "$got" == a ]] || fail "at_seq sees '$got', expected 'a'"
ok "at_seq sees: $got"

check "branch --from main@time:$TIME_B sees a,b, not c"
timed_json branch create at_time --from "main@time:$TIME_B"
ok "branch create at_time: $(fmt_ms "$TJ_WALL_US") ms wall, elapsed_us=${TJ_US:-n/a}"
pg_start at_time "$P_TIME"
got=$(rows "$P_TIME")
[[ "$got" == a,b ]] || fail "at_time sees '$got', expected 'a,b'"
ok "at_time sees: $got"

check "writes on a PITR branch don't reach main"
psql_q "$P_SEQ" "INSERT INTO t VALUES ('seq-only')"
[[ $(rows "$P_MAIN") == a,b,c ]] || fail "main changed by a write on at_seq"
ok "main still a,b,c"

check "branch reset at_seq -> equals main's current state"
pg_stop at_seq
strata branch reset at_seq >/dev/null || fail "branch reset at_seq failed"
pg_start at_seq "$P_SEQ"
got=$(rows "$P_SEQ")
[[ "$got" == a,b,c ]] || fail "after reset at_seq sees '$got', expected 'a,b,c'"
ok "after reset at_seq sees: $got"

amcheck "$P_SEQ"
amcheck "$P_TIME"
pg_stop at_seq
pg_stop at_time
pg_stop main
checksums at_seq
checksums at_time
umount_daemon
