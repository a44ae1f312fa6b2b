#!/usr/bin/env bash
# bad_input: every bad request fails with exit 1 and exactly one stderr line
# "strata: ...", and leaves no half-made state (branch + snapshot lists are
# unchanged). Also: missing/malformed stores, a second daemon on the same
# store, init over an existing store.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools
[[ "$STRATA_NATIVE" == 1 ]] && { log "SKIP: bad_input needs strata"; exit 0; }

strata_init
start_daemon
strata branch create main >/dev/null || fail "branch create main failed"
echo hello >"$MNT/main/file"
strata snapshot create main s1 >/dev/null || fail "snapshot create failed"
strata branch create child --from main@s1 >/dev/null || fail "branch create child failed"
strata branch create grandchild --from child >/dev/null || fail "branch create grandchild failed"

# The durable shape of the branch tree and the snapshots (not the moving seqs).
state() {
  local b s
  b=$(strata branch list --json | jres |
    jq -cS 'if type == "object" then (.branches // .result) else . end
            | map({name, parent, fork_seq, durability}) | sort_by(.name)') || fail "branch list --json failed"
  s=$(strata snapshot list --json | jres |
    jq -cS 'if type == "object" then (.snapshots // .result) else . end
            | map({name, branch, seq}) | sort_by(.name)') || fail "snapshot list --json failed"
  printf '%s\n%s\n' "$b" "$s"
}
BEFORE=$(state)
log "state: $BEFORE"

N=0
# expect_fail DESCRIPTION CMD...: exit 1, one stderr line starting "strata:",
# state unchanged.
expect_fail() {
  local what=$1 rc=0 err
  shift
  N=$((N + 1))
  err=$("$@" 2>&1 >/dev/null) || rc=$?
  [[ $rc == 1 ]] || fail "$what: exit $rc, expected 1 (stderr: $err)"
  [[ $(grep -c '' <<<"$err") == 1 ]] || fail "$what: stderr is not one line: $err"
  [[ "$err" == strata:* ]] || fail "$what: stderr does not start with 'strata:': $err"
  [[ "$(state)" == "$BEFORE" ]] || fail "$what: branch/snapshot state changed: $(state)"
  ok "$what -> $err"
}

S=$STRATA_BIN
FUTURE=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)
LONG=$(printf 'x%.0s' $(seq 1 300))

check "branch list pages: --limit and --cursor walk the whole list, --owner filters"
ALL=$(strata_json branch list | jq -c '[.[].name]')
PAGED='[]'
CURSOR=
for ((pages = 1; ; pages++)); do
  ((pages <= 10)) || fail "branch list --limit 1 does not end"
  PAGE=$(strata_json branch list --limit 1 ${CURSOR:+--cursor "$CURSOR"})
  [[ $(jq '.branches | length' <<<"$PAGE") == 1 ]] || fail "a page of 1 holds: $PAGE"
  PAGED=$(jq -c --argjson p "$PAGED" '$p + [.branches[0].name]' <<<"$PAGE")
  CURSOR=$(jq -r '.next_cursor // empty' <<<"$PAGE")
  [[ -n "$CURSOR" ]] || break
done
[[ "$PAGED" == "$ALL" ]] || fail "pages of 1 gave $PAGED, the list is $ALL"
strata branch list --limit 2 | tail -n 1 | grep -q '^more: strata branch list --cursor [0-9]* --limit 2$' ||
  fail "branch list --limit 2 does not say how to go on: $(strata branch list --limit 2)"
[[ "$(strata_json branch list --owner nobody)" == "[]" ]] || fail "branch list --owner nobody is not empty"
ok "$pages pages of 1 = $ALL"

check "bad branch / snapshot requests"
expect_fail "branch list --cursor x" "$S" branch list --cursor x
# Out of range flags are usage errors: exit 2 (docs/cli.md), one line.
for bad in 0 1001; do
  rc=0
  err=$("$S" branch list --limit "$bad" 2>&1 >/dev/null) || rc=$?
  [[ $rc == 2 && $(grep -c '' <<<"$err") == 1 && "$err" == strata:*--limit* ]] ||
    fail "branch list --limit $bad: exit $rc, stderr: $err"
  ok "branch list --limit $bad -> $err"
done
expect_fail "branch create from unknown parent" "$S" branch create x --from nosuch
expect_fail "branch create from unknown snapshot" "$S" branch create x --from main@nosuch
expect_fail "branch create from a snapshot of another branch" "$S" branch create x --from child@s1
expect_fail "duplicate branch name" "$S" branch create child --from main
expect_fail "duplicate root branch name" "$S" branch create main
expect_fail "duplicate snapshot name" "$S" snapshot create main s1
expect_fail "snapshot of unknown branch" "$S" snapshot create nosuch s9
expect_fail "@seq:abc" "$S" branch create x --from main@seq:abc
expect_fail "@seq:-1" "$S" branch create x --from main@seq:-1
expect_fail "@seq:99999999999 (beyond head)" "$S" branch create x --from main@seq:99999999999
expect_fail "@time:garbage" "$S" branch create x --from main@time:garbage
expect_fail "@time in the future ($FUTURE)" "$S" branch create x --from "main@time:$FUTURE"
expect_fail "@time before the branch existed" "$S" branch create x --from "main@time:2000-01-01T00:00:00Z"
expect_fail "branch delete of unknown name" "$S" branch delete nosuch
expect_fail "branch delete of a branch with children" "$S" branch delete main
expect_fail "branch delete of a branch with children (child)" "$S" branch delete child
expect_fail "branch reset of unknown name" "$S" branch reset nosuch
expect_fail "branch create with an unknown durability" "$S" branch create x --durability forever
expect_fail "branch create remote without a walsink" "$S" branch create x --durability remote
expect_fail "branch set remote without a walsink" "$S" branch set main --durability remote
expect_fail "branch set of unknown name" "$S" branch set nosuch --durability local
expect_fail "branch set with an unknown durability" "$S" branch set main --durability sometimes
expect_fail "branch reset of a root branch" "$S" branch reset main
expect_fail "snapshot delete of unknown name" "$S" snapshot delete nosuch
expect_fail "invalid branch name '.hidden'" "$S" branch create .hidden
expect_fail "invalid branch name 'a/b'" "$S" branch create a/b
expect_fail "invalid branch name ''" "$S" branch create ""
expect_fail "invalid branch name '..'" "$S" branch create ..
expect_fail "invalid branch name (300 chars)" "$S" branch create "$LONG"
expect_fail "invalid branch name with '@'" "$S" branch create a@b
expect_fail "invalid snapshot name 'a/b'" "$S" snapshot create main a/b
expect_fail "invalid snapshot name ''" "$S" snapshot create main ""

check "bad stores and mounts"
M2=$ROOT/mnt2
mkdir -p "$M2" "$ROOT/bad"
TRACKED_MOUNTS+=("$M2")
expect_fail "mount of a missing store" "$S" mount file:///nonexistent/strata-store "$M2" --cache-dir "$ROOT/c2"
mountpoint -q "$M2" && fail "missing store: something got mounted on $M2"
echo '{ this is not json' >"$ROOT/bad/store.json"
expect_fail "mount of a malformed store (garbage store.json)" "$S" mount "file://$ROOT/bad" "$M2" --cache-dir "$ROOT/c3"
mountpoint -q "$M2" && fail "malformed store: something got mounted on $M2"
expect_fail "mount of a non-URL string" "$S" mount "not a url" "$M2" --cache-dir "$ROOT/c4"
expect_fail "mount of an unknown scheme" "$S" mount "ftp://example/x" "$M2" --cache-dir "$ROOT/c5"
expect_fail "mount of a relative file URL" "$S" mount "file://relative/path" "$M2" --cache-dir "$ROOT/c6"
# Several daemons may share a store (docs/cluster.md), each with its own
# cache directory and node id: a second one with the first's is refused.
expect_fail "second daemon on the first's cache directory" "$S" mount "$STORE_URL" "$M2" --cache-dir "$CACHE_DIR"
mountpoint -q "$M2" && fail "shared cache directory: something got mounted on $M2"
NODE_ID=$(cat "$CACHE_DIR/node-id")
expect_fail "second daemon with a live daemon's node id" "$S" mount "$STORE_URL" "$M2" --cache-dir "$ROOT/c7" --node-id "$NODE_ID" --proxy 127.0.0.1:0 --api 127.0.0.1:0
mountpoint -q "$M2" && fail "duplicate node id: something got mounted on $M2"
expect_fail "mount with a bad node id" "$S" mount "$STORE_URL" "$M2" --cache-dir "$ROOT/c7" --node-id "Node_1"
expect_fail "mount with a lease ttl under 3s" "$S" mount "$STORE_URL" "$M2" --cache-dir "$ROOT/c7" --lease-ttl 1s
expect_fail "--sink store with a walsink's flags" "$S" mount "$STORE_URL" "$M2" --cache-dir "$ROOT/c7" --sink store --sink-insecure
"$S" init "file://$ROOT/other" >/dev/null || fail "init of a second store failed"
"$S" init "file://$ROOT/third" >/dev/null || fail "init of a third store failed"
"$S" mount "file://$ROOT/other" "$M2" --cache-dir "$ROOT/c9" >/dev/null || fail "mount of the second store failed"
"$S" umount "$M2" >/dev/null || fail "umount of the second store failed"
expect_fail "mount of a store with another store's cache dir" "$S" mount "file://$ROOT/third" "$M2" --cache-dir "$ROOT/c9"
mountpoint -q "$M2" && fail "foreign cache dir: something got mounted on $M2"
expect_fail "mount on a missing mountpoint" "$S" mount "$STORE_URL" "$ROOT/no/such/dir" --cache-dir "$ROOT/c8"
expect_fail "init on an existing store" "$S" init "$STORE_URL"
expect_fail "init with a non-URL" "$S" init "not a url"
expect_fail "daemon command with a mount that is not strata" "$S" status --mount "$ROOT/bad"
expect_fail "mount with a bad --cache-size" "$S" mount "$STORE_URL" "$M2" --cache-dir "$ROOT/c10" --cache-size 12X
expect_fail "mount with a bad --inject-faults" "$S" mount "$STORE_URL" "$M2" --cache-dir "$ROOT/c10" --inject-faults nope=1
expect_fail "mount with --store-timeout 0" "$S" mount "$STORE_URL" "$M2" --cache-dir "$ROOT/c10" --store-timeout 0
expect_fail "mount with a --sink without port" "$S" mount "$STORE_URL" "$M2" --cache-dir "$ROOT/c10" --sink localhost
expect_fail "mount with a --sink port 0" "$S" mount "$STORE_URL" "$M2" --cache-dir "$ROOT/c10" --sink 127.0.0.1:0
expect_fail "mount with --sink-timeout 0" "$S" mount "$STORE_URL" "$M2" --cache-dir "$ROOT/c10" --sink 127.0.0.1:9 --sink-timeout 0
expect_fail "mount with --sink but neither a token nor --sink-insecure" "$S" mount "$STORE_URL" "$M2" --cache-dir "$ROOT/c10" --sink 127.0.0.1:9
expect_fail "mount with --sink-ca but no --sink" "$S" mount "$STORE_URL" "$M2" --cache-dir "$ROOT/c10" --sink-ca /etc/hostname
expect_fail "mount with --sink-ca and --sink-insecure" "$S" mount "$STORE_URL" "$M2" --cache-dir "$ROOT/c10" --sink 127.0.0.1:9 --sink-insecure --sink-ca /etc/hostname
expect_fail "mount with a missing --sink-token-file" "$S" mount "$STORE_URL" "$M2" --cache-dir "$ROOT/c10" --sink 127.0.0.1:9 --sink-token-file "$ROOT/no-token"
(umask 077 && printf '%s\n' 0123456789abcdef0123 >"$ROOT/good-token")
expect_fail "mount with a missing --sink-ca" "$S" mount "$STORE_URL" "$M2" --cache-dir "$ROOT/c10" --sink 127.0.0.1:9 --sink-token-file "$ROOT/good-token" --sink-ca "$ROOT/no-ca"
[[ -e "$ROOT/c10" ]] && fail "a refused mount option left a cache directory behind"
W=$ROOT/walsink-refused
expect_fail "walsink serve with neither --token-file nor --insecure" "$S" walsink serve --dir "$W" --listen 127.0.0.1:0
expect_fail "walsink serve with --tls-cert but no --tls-key" "$S" walsink serve --dir "$W" --listen 127.0.0.1:0 --token-file "$ROOT/wt" --tls-cert /etc/hostname
expect_fail "walsink serve with --insecure and --tls-cert" "$S" walsink serve --dir "$W" --listen 127.0.0.1:0 --insecure --tls-cert /etc/hostname --tls-key /etc/hostname
expect_fail "walsink serve with a bad --store-id" "$S" walsink serve --dir "$W" --listen 127.0.0.1:0 --token-file "$ROOT/wt" --store-id ../x
expect_fail "walsink serve with a certificate that is not one" "$S" walsink serve --dir "$W" --listen 127.0.0.1:0 --token-file "$ROOT/wt" --tls-cert /etc/hostname --tls-key /etc/hostname
[[ -e "$W" ]] && fail "a refused walsink serve left its directory behind"
expect_fail "verify of a missing store" "$S" verify file:///nonexistent/strata-store
expect_fail "verify of a non-URL" "$S" verify "not a url"

if [[ "$STRATA_STORE" == s3 ]]; then
  check "bad s3:// stores"
  expect_fail "init in a bucket that does not exist" "$S" init "s3://no-such-bucket/x?endpoint=$S3_ENDPOINT"
  expect_fail "mount of a bucket that does not exist" "$S" mount "s3://no-such-bucket/x?endpoint=$S3_ENDPOINT" "$M2" --cache-dir "$ROOT/c11"
  expect_fail "an invalid bucket name" "$S" init "s3://Bad_Bucket/x?endpoint=$S3_ENDPOINT"
  expect_fail "an unknown s3 URL parameter" "$S" init "s3://strata-test/x?endpoint=$S3_ENDPOINT&colour=blue"
  expect_fail "a wrong access key" env AWS_ACCESS_KEY_ID=WRONG "$S" init "s3://strata-test/x?endpoint=$S3_ENDPOINT"
  expect_fail "no credentials at all" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
    AWS_SHARED_CREDENTIALS_FILE=/nonexistent/credentials "$S" init "s3://strata-test/x?endpoint=$S3_ENDPOINT"
  expect_fail "mount of an unreachable endpoint" "$S" mount "s3://strata-test/x?endpoint=http://127.0.0.1:9" "$M2" --cache-dir "$ROOT/c12" --store-timeout 2
  mountpoint -q "$M2" && fail "bad s3 stores: something got mounted on $M2"
  expect_fail "verify of a store in a bucket that does not exist" "$S" verify "s3://no-such-bucket/x?endpoint=$S3_ENDPOINT"
fi

check "the first mount still works"
[[ $(cat "$MNT/main/file") == hello ]] || fail "first mount no longer serves main/file"
[[ $(cat "$MNT/child/file") == hello ]] || fail "first mount no longer serves child/file"
strata status >/dev/null || fail "status on the first mount failed"
strata branch create late --from main >/dev/null || fail "branch create on the first mount failed"
strata branch delete late || fail "branch delete failed"
[[ "$(state)" == "$BEFORE" ]] || fail "state changed after create+delete of 'late'"
ok "first mount healthy; $N bad inputs rejected cleanly"
umount_daemon
