#!/usr/bin/env bash
# gc_history: compaction and GC never change what a kept point reads, and a
# point that fell out of a history window is refused, not silently wrong.
#
#   1. On main (window 1h, small memtables so that many layers are flushed,
#      background GC every 2 s): write, snapshot, write, note a time T, write.
#      Branch A from the snapshot and B from main@time:T, and record the
#      sha256 (and type, mode, owner, size) of every file of each; neither
#      ever runs postgres.
#   2. Churn main (pgbench, UPDATE, VACUUM, CHECKPOINT) with `strata gc`
#      between rounds; the passes must have compacted something. Branch A2
#      from the snapshot and B2 from main@time:T: their files are A's and B's,
#      and A, B still read the same. A postgres on a third @time:T branch sees
#      exactly the rows committed before T.
#   3. Windows: a root branch with --history 0 and main with its window cut to
#      2s (branch set). After a pass, a fork from @seq:1, from an old @seq: or
#      an old @time: (points no snapshot or child pins) is refused with one
#      line ("older than its history window", "the oldest point still
#      available is seq N (...)"), no branch is made, N is what `branch show`
#      prints as the oldest point, and (on h0) a fork from N itself works. The
#      snapshot still forks to A's files.
#   4. Space: after a pass every branch object has logical/exclusive/history
#      bytes; A's logical size is its files' sizes, a fork that wrote nothing
#      has little exclusive; main's history bytes shrink when its window is
#      cut.
#   5. A fresh machine (the cache directory deleted: index, L2, op log) mounts
#      the same store: every branch's files are the same, the history floor
#      survived (old points still refused), and `strata verify` is clean.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools

P_MAIN=55511
P_TIME=55512
MOUNT_OPTS=(--history 1h --memtable-size 1M --gc-interval 2s)
strata_init
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" "${MOUNT_OPTS[@]}"
create_root_branch main
pg_setup main "$P_MAIN" 1
DIG=$ROOT/digests
mkdir -p "$DIG"

rows() { psql_q "$1" "SELECT count(*) || ':' || coalesce(sum(id), 0) || ':' || coalesce(string_agg(DISTINCT phase, ',' ORDER BY phase), '') FROM t"; }
branch_names() { strata_json branch list | jq -r '.[].name' | LC_ALL=C sort | tr '\n' ' '; }
branch_json() { strata_json branch show "$1"; }
store_bytes() { strata_json status | jq -er '.store_bytes'; }
# digest NAME: tree_digest of MNT/NAME into $DIG/NAME (a file unreadable
# with EIO fails the test).
digest() { tree_digest "$MNT/$1" >"$DIG/$1" || fail "could not read every file of $MNT/$1"; }
# same_files A B: B's files are A's (the digest files).
same_files() {
  diff -u "$DIG/$1" "$DIG/$2" >"$ROOT/diff-$1-$2" ||
    { head -n 40 "$ROOT/diff-$1-$2" >&2; fail "$2 differs from $1 (diff in $ROOT/diff-$1-$2)"; }
  ok "$2 has exactly $1's files ($(grep -c '' "$DIG/$1") entries)"
}
# forks_intact: A and B, and their forks A2 and B2, still read as A and B did
# when they were made.
forks_intact() {
  same_files A.orig A
  same_files B.orig B
  same_files A.orig A2
  same_files B.orig B2
}

GC_DELETED=0
GC_OUT=
# gc_pass [BRANCH]: strata gc --json; logs the report, sets GC_OUT and adds
# its deleted_layers to GC_DELETED.
gc_pass() {
  GC_OUT=$(strata gc ${1:+"$1"} --json | jres) || fail "strata gc${1:+ $1} failed"
  jq -e 'has("freed_bytes") and has("layers_before") and has("layers_after") and has("deleted_layers")' \
    <<<"$GC_OUT" >/dev/null || fail "strata gc --json did not print a report: $GC_OUT"
  GC_DELETED=$((GC_DELETED + $(jq -r '.deleted_layers' <<<"$GC_OUT")))
  log "gc${1:+ $1}: $(jq -r '"freed \(.freed_bytes) B in \(.elapsed_ms) ms: layers \(.layers_before) -> \(.layers_after) (\(.deleted_layers) deleted, \(.written_layers) written), store \(.bytes_before) -> \(.bytes_after) B, rewritten \(.rewritten_bytes) B, leaked \(.leaked_objects_deleted)"' <<<"$GC_OUT")"
}

# expect_refused DESCRIPTION CMD...: exit 1, one line "strata: ... older than
# its history window ...; the oldest point still available is seq N (...)",
# no branch made. Sets REFUSED_OLDEST to N.
REFUSED_OLDEST=
expect_refused() {
  local what=$1 rc=0 err before
  shift
  before=$(branch_names)
  err=$("$@" 2>&1 >/dev/null) || rc=$?
  ((rc == 1)) || fail "$what: exit $rc, expected 1 (stderr: $err)"
  [[ $(grep -c '' <<<"$err") == 1 && "$err" == strata:* ]] || fail "$what: stderr is not one 'strata:' line: $err"
  [[ "$err" == *"older than its history window"* ]] || fail "$what: message does not say 'older than its history window': $err"
  [[ "$err" == *"the oldest point still available"* ]] ||
    fail "$what: message does not name 'the oldest point still available': $err"
  [[ "$(branch_names)" == "$before" ]] || fail "$what: the branch list changed: $before -> $(branch_names)"
  REFUSED_OLDEST=$(sed -nE 's/.*the oldest point still available is seq ([0-9]+).*/\1/p' <<<"$err")
  ok "$what -> $err"
}

# ------------------------------------------------------------------ points --
check "main: write, snapshot, write, time T, write; A from the snapshot, B from @time:T"
psql_q "$P_MAIN" "CREATE TABLE t (id int PRIMARY KEY, phase text, pad text)"
psql_q "$P_MAIN" "INSERT INTO t SELECT g, 'p1', repeat(md5(g::text), 8) FROM generate_series(1, 20000) g"
psql_q "$P_MAIN" "CHECKPOINT"
strata snapshot create main snap1 >/dev/null || fail "snapshot create main snap1 failed"
SNAP_SEQ=$(strata_json snapshot list | jq -er '.[] | select(.name == "snap1") | .seq')
pgb "$P_MAIN" -c 2 -j 1 -T 3 >"$LOG_DIR/pgbench-p2.log" 2>&1 || fail "pgbench (phase 2) failed"
psql_q "$P_MAIN" "INSERT INTO t SELECT g, 'p2', repeat(md5(g::text), 8) FROM generate_series(20001, 30000) g"
ROWS_AT_T=$(rows "$P_MAIN")
sleep 1.2
TIME_T=$(date -u +%Y-%m-%dT%H:%M:%SZ)
SEQ_T=$(branch_seq main)
sleep 1.2
psql_q "$P_MAIN" "INSERT INTO t SELECT g, 'p3', repeat(md5(g::text), 8) FROM generate_series(30001, 40000) g"
# An old point no snapshot or child pins, for the refusals below (a pinned
# one may stay forkable).
sleep 1.2
TIME_OLD=$(date -u +%Y-%m-%dT%H:%M:%SZ)
SEQ_OLD=$(branch_seq main)
sleep 1.2
psql_q "$P_MAIN" "UPDATE t SET phase = 'p3u' WHERE id <= 5000"
log "snapshot snap1 at seq $SNAP_SEQ; T = $TIME_T (main seq $SEQ_T, rows $ROWS_AT_T); old point $TIME_OLD (seq $SEQ_OLD); main now $(rows "$P_MAIN")"

strata branch create A --from main@snap1 >/dev/null || fail "branch create A --from main@snap1 failed"
strata branch create B --from "main@time:$TIME_T" >/dev/null || fail "branch create B --from main@time:$TIME_T failed"
digest A
digest B
ok "A: $(grep -c '' "$DIG/A") entries, B: $(grep -c '' "$DIG/B") entries recorded"
cmp -s "$DIG/A" "$DIG/B" && fail "A and B have the same files: the writes between snap1 and T are missing"

# ------------------------------------------------------------------- churn --
check "churn main (pgbench, UPDATE, VACUUM, CHECKPOINT) with strata gc between rounds"
L0=$(strata_json status | jq -r '.layer_count')
for round in 1 2 3; do
  pgb "$P_MAIN" -c 2 -j 1 -T 4 >"$LOG_DIR/pgbench-churn-$round.log" 2>&1 || fail "pgbench churn $round failed"
  psql_q "$P_MAIN" "UPDATE t SET pad = md5(pad) || '$round' WHERE id % 3 = $((round % 3))"
  psql_q "$P_MAIN" "DELETE FROM t WHERE id > 40000 - $round * 100"
  psql_q "$P_MAIN" "VACUUM"
  psql_q "$P_MAIN" "CHECKPOINT"
  gc_pass
done
gc_pass main
log "layers: $L0 before the churn, $(jq -r '.layers_after' <<<"$GC_OUT") after the last pass"
((GC_DELETED > 0)) || fail "no pass deleted a layer: nothing was compacted or collected (memtable 1M, 3 rounds of churn)"
ok "the passes deleted $GC_DELETED layers in all"

check "after GC: A2 from the snapshot and B2 from @time:T read exactly what A and B read"
strata branch create A2 --from main@snap1 >/dev/null || fail "branch create A2 --from main@snap1 failed"
strata branch create B2 --from "main@time:$TIME_T" >/dev/null || fail "branch create B2 --from main@time:$TIME_T failed"
for b in A B; do
  cp "$DIG/$b" "$DIG/$b.orig"
  digest "$b"
  same_files "$b.orig" "$b"
done
digest A2
digest B2
same_files A A2
same_files B B2

check "a postgres on a new @time:T branch sees exactly the rows committed before T"
strata branch create Bpg --from "main@time:$TIME_T" >/dev/null || fail "branch create Bpg failed"
pg_start Bpg "$P_TIME"
got=$(rows "$P_TIME")
[[ "$got" == "$ROWS_AT_T" ]] || fail "Bpg sees rows $got, expected $ROWS_AT_T (count:sum:phases at T)"
ok "Bpg sees $got"
amcheck "$P_TIME"
pg_stop Bpg
checksums Bpg
strata branch delete Bpg >/dev/null || fail "branch delete Bpg failed"

# ------------------------------------------------------------------- space --
check "space figures after a pass: every branch has logical, exclusive and history bytes"
gc_pass
gc_pass
LIST=$(strata_json branch list)
jq -e 'length > 0 and all(.[]; (.logical_bytes | type) == "number" and (.exclusive_bytes | type) == "number"
         and (.history_bytes | type) == "number" and (.space_as_of | type) == "string")' <<<"$LIST" >/dev/null ||
  fail "branch list --json lacks space figures: $(jq -c 'map({name, logical_bytes, exclusive_bytes, history_bytes, space_as_of})' <<<"$LIST")"
jq -r '.[] | "  \(.name): logical \(.logical_bytes), exclusive \(.exclusive_bytes), history \(.history_bytes) (as of \(.space_as_of))"' <<<"$LIST"
strata branch list | head -n 1 | grep -qE 'LOGICAL +EXCLUSIVE +HISTORY' || fail "branch list has no LOGICAL EXCLUSIVE HISTORY columns"
A_FILES=$(find "$MNT/A" -type f ! -name postmaster.pid -printf '%s\n' | awk '{s += $1} END {print s + 0}')
A_LOGICAL=$(jq -r '.[] | select(.name == "A") | .logical_bytes' <<<"$LIST")
A_EXCL=$(jq -r '.[] | select(.name == "A") | .exclusive_bytes' <<<"$LIST")
awk -v l="$A_LOGICAL" -v f="$A_FILES" 'BEGIN { d = l - f; if (d < 0) d = -d; exit !(d <= f * 0.05 + 1048576) }' ||
  fail "A's logical_bytes $A_LOGICAL is not the sum of its file sizes, $A_FILES"
((A_EXCL < A_LOGICAL)) || fail "A wrote nothing, yet its exclusive_bytes $A_EXCL >= its logical_bytes $A_LOGICAL"
ok "A: logical $A_LOGICAL B (its files: $A_FILES B), exclusive $A_EXCL B"
MAIN_HIST=$(jq -r '.[] | select(.name == "main") | .history_bytes' <<<"$LIST")
((MAIN_HIST > 0)) || fail "main churned inside its 1h window, yet its history_bytes is $MAIN_HIST"
ok "main keeps $MAIN_HIST history bytes inside its 1h window"

# ----------------------------------------------------------------- windows --
check "a root branch with --history 0: only the head is kept"
strata branch create h0 --chown "$PG_USER" --history 0 >/dev/null || fail "branch create h0 --history 0 failed"
[[ "$(branch_json h0 | jq -c '[.history_seconds, .history_default]')" == '[0,false]' ]] ||
  fail "h0: history_seconds/history_default are $(branch_json h0 | jq -c '[.history_seconds, .history_default]'), expected [0,false]"
head -c 3M /dev/urandom >"$MNT/h0/f"
sync "$MNT/h0/f"
H0_OLD=$(branch_seq h0)
for i in 1 2 3; do
  head -c 1M /dev/urandom | dd of="$MNT/h0/f" bs=1M seek=$((i - 1)) iflag=fullblock conv=notrunc,fsync status=none
done
echo v2 >"$MNT/h0/g"
sync "$MNT/h0/g"
sha256sum "$MNT/h0/f" "$MNT/h0/g" | awk '{print $1}' >"$DIG/h0.files"
sleep 1.1
gc_pass h0
gc_pass h0
expect_refused "h0@seq:$H0_OLD, before the overwrite" strata branch create h0_old --from "h0@seq:$H0_OLD"
H0_OLDEST=$(branch_json h0 | jq -er '.oldest_point.seq') || fail "branch show h0 --json has no oldest_point"
[[ "$REFUSED_OLDEST" == "$H0_OLDEST" ]] ||
  fail "the refusal names seq $REFUSED_OLDEST as the oldest point, branch show says $H0_OLDEST"
((H0_OLDEST > H0_OLD)) || fail "h0's oldest point $H0_OLDEST is not past the overwritten seq $H0_OLD"
strata branch show h0 | grep -qE "^oldest point: +seq $H0_OLDEST \(" ||
  fail "branch show h0 does not print 'oldest point: seq $H0_OLDEST (...)': $(strata branch show h0 | grep -i oldest)"
strata branch create h0_oldest --from "h0@seq:$H0_OLDEST" >/dev/null ||
  fail "a fork from h0's oldest point, seq $H0_OLDEST, was refused"
sha256sum "$MNT/h0_oldest/f" "$MNT/h0_oldest/g" | awk '{print $1}' | cmp -s - "$DIG/h0.files" ||
  fail "h0_oldest (the oldest point) does not read h0's files"
strata branch delete h0_oldest >/dev/null || fail "branch delete h0_oldest failed"
ok "h0: oldest point seq $H0_OLDEST, forkable; seq $H0_OLD refused"

check "main's window cut to 2s (branch set): old seqs and times are refused after a pass"
out=$(strata branch set main --history 2s) || fail "branch set main --history 2s failed"
[[ "$out" == *"history 2s"* ]] || fail "branch set printed '$out', expected it to say 'history 2s'"
ok "$out"
STORE_BEFORE_CUT=$(store_bytes)
sleep 3
gc_pass main
gc_pass main
expect_refused "main@seq:1" strata branch create old1 --from main@seq:1
expect_refused "main@seq:$SEQ_OLD" strata branch create oldseq --from "main@seq:$SEQ_OLD"
expect_refused "main@time:$TIME_OLD" strata branch create oldtime --from "main@time:$TIME_OLD"
MAIN_OLDEST=$(branch_json main | jq -er '.oldest_point.seq') || fail "branch show main --json has no oldest_point"
# The floor only rises (background passes run meanwhile).
((MAIN_OLDEST >= REFUSED_OLDEST)) ||
  fail "branch show main says the oldest point is seq $MAIN_OLDEST, the refusal said $REFUSED_OLDEST"
strata branch show main | grep -qE '^oldest point: +seq [0-9]+ \(' || fail "branch show main does not print its oldest point"
strata branch show main | grep -qE '^history: +2s' || fail "branch show main does not print 'history: 2s'"
ok "main: $(strata branch show main | grep -E '^(history|oldest point):' | tr -s ' ' | paste -sd ';')"

check "the snapshot still pins its point: A3 from main@snap1 has A's files"
strata branch create A3 --from main@snap1 >/dev/null || fail "branch create A3 --from main@snap1 failed after the cut"
digest A3
same_files A A3

check "cutting the window: main's history bytes shrink"
gc_pass
LIST=$(strata_json branch list)
MAIN_HIST2=$(jq -r '.[] | select(.name == "main") | .history_bytes' <<<"$LIST")
((MAIN_HIST2 < MAIN_HIST)) || fail "main's history_bytes did not shrink: $MAIN_HIST (1h) -> $MAIN_HIST2 (2s)"
# What the store frees depends on the compaction policy (a layer is
# rewritten once enough of it is garbage): reported, not asserted.
ok "main history bytes $MAIN_HIST -> $MAIN_HIST2; store $STORE_BEFORE_CUT -> $(store_bytes) bytes"
for b in A B A2 B2; do
  digest "$b"
done
forks_intact

# ------------------------------------------------------------ fresh machine --
check "fresh machine: unmount, delete the cache directory, mount the same store again"
MAIN_ROWS=$(rows "$P_MAIN")
pg_stop main
digest main
BRANCHES=$(branch_names)
umount_daemon
rm -rf "$CACHE_DIR"
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" "${MOUNT_OPTS[@]}"
[[ "$(branch_names)" == "$BRANCHES" ]] || fail "branches after the fresh mount: $(branch_names), expected $BRANCHES"
cp "$DIG/main" "$DIG/main.before"
for b in A B A2 B2 A3 main; do
  digest "$b"
done
forks_intact
same_files A.orig A3
same_files main.before main
sha256sum "$MNT/h0/f" "$MNT/h0/g" | awk '{print $1}' | cmp -s - "$DIG/h0.files" || fail "h0's files changed"
ok "h0's files are the same"

check "fresh machine: the history floor survived (old points still refused)"
expect_refused "main@seq:1 after the fresh mount" strata branch create old1 --from main@seq:1
expect_refused "main@time:$TIME_OLD after the fresh mount" strata branch create oldtime --from "main@time:$TIME_OLD"
expect_refused "h0@seq:$H0_OLD after the fresh mount" strata branch create h0_old --from "h0@seq:$H0_OLD"
strata branch create A4 --from main@snap1 >/dev/null || fail "branch create A4 --from main@snap1 failed"
digest A4
same_files A.orig A4

check "fresh machine: postgres on main"
pg_start main "$P_MAIN"
got=$(rows "$P_MAIN")
[[ "$got" == "$MAIN_ROWS" ]] || fail "main has rows $got, expected $MAIN_ROWS"
ok "main has $got"
amcheck "$P_MAIN"
gc_pass
pg_stop main
checksums main
umount_daemon

check "strata verify: the store after compactions and GC"
strata verify "$STORE_URL" || fail "strata verify found problems"
