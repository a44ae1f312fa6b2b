#!/usr/bin/env bash
# s3_corruption: a flipped byte in a layer object gives EIO and a log line
# naming the object, never wrong data; `strata verify` finds it. A flipped
# byte in the local L2 cache is detected and healed from the store.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools
[[ "$STRATA_STORE" == s3 ]] || fail "s3_corruption runs on an s3:// store (STRATA_STORE=s3)"

PORT=55491
strata_init
start_daemon
create_root_branch main
pg_setup main "$PORT" 2
pg_stop main
GOOD=$(file_digests "$MNT/main")
umount_daemon
strata verify "$STORE_URL" >"$LOG_DIR/verify-clean.txt" || { cat "$LOG_DIR/verify-clean.txt"; fail "verify failed on a clean store"; }
ok "strata verify: $(head -n 1 "$LOG_DIR/verify-clean.txt")"

check "flip bytes in the value area of every layer object of the store"
# Seven flips spread over each layer's value area (its size is the footer's
# first field): a value flipped in an old, superseded version is never read,
# so spread them to be sure live pages are hit too.
FLIPS=()
KEYS=()
while IFS= read -r obj; do
  size=$(stat -c %s "$obj")
  values=$(od -An -tu8 -j $((size - 72)) -N8 "$obj" | tr -d ' ')
  ((values > 0)) || continue
  for k in 1 2 3 4 5 6 7; do
    FLIPS+=("$obj:$((values * k / 8))")
    flip_byte "$obj" $((values * k / 8))
  done
  key=${obj#"$S3_DIR/data/strata-test/"}
  key=${key%._S3rver_object}
  KEYS+=("${key#*/}") # drop the store prefix
done < <(find "$S3_DIR/data" -name '*.layer._S3rver_object' | sort)
((${#KEYS[@]} > 0)) || fail "no layer objects with values in the store"
log "flipped ${#FLIPS[@]} bytes in ${#KEYS[@]} layer objects"
if strata verify "$STORE_URL" >"$LOG_DIR/verify-bad.txt" 2>&1; then
  cat "$LOG_DIR/verify-bad.txt"
  fail "strata verify passed a store with flipped bytes"
fi
for key in "${KEYS[@]}"; do
  grep -q "PROBLEM: $key: .*checksum mismatch" "$LOG_DIR/verify-bad.txt" ||
    { cat "$LOG_DIR/verify-bad.txt"; fail "strata verify did not name $key"; }
done
ok "strata verify named all ${#KEYS[@]} damaged objects"

check "read every file through a fresh mount: EIO for what the flips spoil, right bytes for the rest"
rm -rf "$CACHE_DIR"
start_daemon
BAD=$(file_digests "$MNT/main")
EIO_FILES=$(grep -c '^EIO ' <<<"$BAD" || true)
((EIO_FILES > 0)) || fail "no file read failed, yet live layer values are corrupt"
WRONG=$(grep -v '^EIO ' <<<"$BAD" | grep -vxF -f <(printf '%s\n' "$GOOD") || true)
[[ -z "$WRONG" ]] || fail "files read back with different bytes: $WRONG"
NAMED=$(grep -o "corrupt layer object [^ :]*" "$DAEMON_LOG" | sort -u)
[[ -n "$NAMED" ]] || fail "the daemon log names no corrupt object"
while read -r _ _ _ key; do
  printf '%s\n' "${KEYS[@]}" | grep -qxF "$key" || fail "the log names $key, which is intact"
done <<<"$NAMED"
ok "$EIO_FILES file(s) gave EIO, every other file is byte-identical; the log names: $(echo $NAMED)"
umount_daemon
for f in "${FLIPS[@]}"; do flip_byte "${f%:*}" "${f##*:}"; done # repair
strata verify "$STORE_URL" >/dev/null || fail "verify failed after the repair"

check "a rotten L2 cache chunk is detected and read again from the store"
rm -rf "$CACHE_DIR"
start_daemon
[[ "$(file_digests "$MNT/main")" == "$GOOD" ]] || fail "files differ after the repair"
umount_daemon
# Every cache file gets a flipped byte: a chunk holding only superseded
# versions is never read, so one flipped chunk alone may go unseen.
ROTTEN=0
while IFS= read -r f; do
  flip_byte "$f" $(($(stat -c %s "$f") / 2))
  ROTTEN=$((ROTTEN + 1))
done < <(find "$CACHE_DIR/objects" -type f ! -name '.tmp-*')
((ROTTEN > 0)) || fail "no L2 chunk files under $CACHE_DIR/objects"
start_daemon
[[ "$(file_digests "$MNT/main")" == "$GOOD" ]] || fail "wrong bytes with $ROTTEN rotten L2 files"
CORRUPT=$(strata status --json | jres | jq -r '.cache.l2.corrupt')
((CORRUPT >= 1)) || fail "no rotten L2 file was detected (l2.corrupt=$CORRUPT of $ROTTEN)"
ok "rotten L2 files detected ($CORRUPT of the $ROTTEN flipped were read) and healed from the store; every file identical"
umount_daemon
