#!/usr/bin/env bash
# branch_diff: `strata branch diff` on a pgbench fork (docs/diff.md).
#  - pgbench -i on main; a fork updates one table and creates one table with
#    two indexes: the diff names exactly those two tables (indexes rolled up
#    to their table; only pg_catalog besides), from the keyspace, and the
#    schema diff shows the CREATE TABLE and CREATE INDEX.
#  - --against a sibling: each side's tables, from the same base point.
#  - --no-schema leaves schema_diff out; two roots are refused with one line.
# The servers are the daemon's endpoints, reached through the proxy.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools

strata_init
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" --idle-timeout 600
PROXY=$(api GET /v1/status | jq -r .proxy)
PPORT=${PROXY##*:}
[[ "$PPORT" =~ ^[0-9]+$ ]] || fail "no proxy port in status: $PROXY"

# user_relations JSON: "name:side" of every relation outside pg_catalog, sorted.
user_relations() {
  jq -r '[.relations[] | select(.name | startswith("pg_catalog.") | not)
          | "\(.name):\(.side)"] | sort | join(" ")' <<<"$1"
}

check "main: initdb, pgbench -i -s 1, then suspended (a clean shutdown before the fork)"
api POST /v1/branches '{"name":"main","initdb":true}' >/dev/null
on_branch main "$PGBIN/pgbench" -i -s 1 -q >"$LOG_DIR/pgbench-init.log" 2>&1 ||
  fail "pgbench -i failed: $(tail -n 5 "$LOG_DIR/pgbench-init.log")"
branch_sql main "CHECKPOINT" >/dev/null
endpoint_suspend main
ok "main has $(branch_sql main "select count(*) from pgbench_accounts") accounts"
endpoint_suspend main

check "kid: UPDATE pgbench_branches, CREATE TABLE newt with two indexes"
api POST /v1/branches '{"name":"kid","from":"main"}' >/dev/null
branch_sql kid "UPDATE pgbench_branches SET bbalance = bbalance + 1;
         CREATE TABLE newt (id int PRIMARY KEY, v text);
         CREATE INDEX newt_v_idx ON newt (v);
         INSERT INTO newt SELECT g, md5(g::text) FROM generate_series(1, 1000) g;
         CHECKPOINT" >/dev/null
endpoint_suspend kid
ok "kid written and suspended"

check "diff kid (against its parent): exactly pgbench_branches and newt"
d=$(strata_json branch diff kid)
[[ "$(jq -r .against <<<"$d")" == main && "$(jq -r .base.branch <<<"$d")" == main ]] ||
  fail "against/base: $(jq -c '{against, base}' <<<"$d")"
rels=$(user_relations "$d")
[[ "$rels" == "public.newt:branch public.pgbench_branches:branch" ]] ||
  fail "relations outside pg_catalog: $rels; all: $(jq -c '.relations' <<<"$d")"
jq -e '[.relations[].name] | all(test("_pkey$|_idx$|^pg_toast") | not)' <<<"$d" >/dev/null ||
  fail "an index or TOAST relation was not rolled up: $(jq -c '[.relations[].name]' <<<"$d")"
jq -e '.relations[] | select(.name == "public.newt") | .kind == "table" and .pages_changed > 0
       and .parts.index > 0 and .parts.table > 0 and .bytes == .pages_changed * 8192' \
  <<<"$d" >/dev/null || fail "newt: $(jq -c '.relations[] | select(.name == "public.newt")' <<<"$d")"
jq -e '[.relations[] | select(.kind == "unknown")] | length == 0' <<<"$d" >/dev/null ||
  fail "relations named by path: $(jq -c '[.relations[] | select(.kind == "unknown")]' <<<"$d")"
jq -e '[.files[].path] | any(startswith("pg_wal/"))' <<<"$d" >/dev/null ||
  fail "no WAL among the other files: $(jq -c '[.files[].path]' <<<"$d")"
ok "relations: $rels (+$(jq '[.relations[] | select(.name | startswith("pg_catalog."))] | length' <<<"$d") in pg_catalog); $(jq '.files | length' <<<"$d") other files; $(jq .elapsed_ms <<<"$d") ms"

check "the schema diff shows the new table and its index, and nothing of pgbench"
sd=$(jq -r .schema_diff <<<"$d")
grep -q '^+CREATE TABLE public.newt' <<<"$sd" || fail "no +CREATE TABLE public.newt in: $sd"
grep -q '^+CREATE INDEX newt_v_idx ON public.newt' <<<"$sd" || fail "no +CREATE INDEX in: $sd"
grep -q '^--- main/postgres' <<<"$sd" || fail "no --- label: $sd"
grep -q '^+++ kid/postgres' <<<"$sd" || fail "no +++ label: $sd"
! grep -q '^[-+].*pgbench' <<<"$sd" || fail "pgbench tables in the schema diff: $sd"
! grep -qE '^[-+](\\restrict|-- Dumped)' <<<"$sd" || fail "dump noise in the schema diff: $sd"
ok "$(grep -c '^+[^+]' <<<"$sd") added lines, $(grep -c '^-[^-]' <<<"$sd" || true) removed"

check "the text output: a table of relations, then the schema diff"
txt=$(strata branch diff kid)
grep -qE '^public\.newt +table +branch +[0-9]+ ' <<<"$txt" || fail "text output: $txt"
grep -q '^+CREATE TABLE public.newt' <<<"$txt" || fail "text output has no schema diff: $txt"
ok "$(head -n 1 <<<"$txt")"

check "--against a sibling: each side's tables, from main's fork point"
api POST /v1/branches '{"name":"sib","from":"main"}' >/dev/null
branch_sql sib "UPDATE pgbench_tellers SET tbalance = tbalance + 1; CHECKPOINT" >/dev/null
endpoint_suspend sib
d=$(strata_json branch diff kid --against sib --no-schema)
rels=$(user_relations "$d")
[[ "$rels" == "public.newt:branch public.pgbench_branches:branch public.pgbench_tellers:against" ]] ||
  fail "kid against sib: $rels"
[[ "$(jq -r .base.branch <<<"$d")" == main ]] || fail "base: $(jq -c .base <<<"$d")"
jq -e 'has("schema_diff") | not' <<<"$d" >/dev/null || fail "--no-schema still sent a schema diff"
ok "$rels"

check "two roots have no common ancestor: one line, non-zero exit"
api POST /v1/branches '{"name":"other"}' >/dev/null  # a root of its own (initdb forks the template)
if out=$(strata branch diff kid --against other 2>&1); then fail "diff against another root succeeded: $out"; fi
[[ "$out" == *"branches 'kid' and 'other' have no common ancestor"* && $(wc -l <<<"$out") == 1 ]] ||
  fail "error: $out"
api_expect 400 GET "/v1/branches/main/diff" >/dev/null
ok "$out"

umount_daemon
