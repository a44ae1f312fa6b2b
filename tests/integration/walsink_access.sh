#!/usr/bin/env bash
# walsink_access: who may use a walsink. The server runs over TLS (its own
# self-signed certificate) with a token, serving one store id. A mount with a
# wrong or missing token, over plaintext, trusting another certificate, for a
# store the walsink does not serve, or with a token file others may read,
# fails with one clear line, leaves nothing mounted, and the walsink opens no
# log for it. With the right token and certificate the mount ships its op
# log over TLS, and a record that an fsync waited for is in the walsink.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

strata_init
STORE_ID=$(jq -er .id "$STORE_DIR/store.json")
sink_start --store-id "$STORE_ID"
grep -q "TLS, self-signed certificate $SINK_DIR/data/tls.crt (SHA-256 " "$LOG_DIR/walsink.log" ||
  fail "the walsink's first line does not name its certificate: $(head -3 "$LOG_DIR/walsink.log")"
[[ $(stat -c %a "$SINK_DIR/token") == 600 ]] || fail "the token file made by the walsink is not 0600"
TOKEN_ARGS=(--sink "$SINK_ADDR" --sink-ca "$SINK_DIR/data/tls.crt")

N=0
# mount_fails WHAT EXPECTED [MOUNT_ARGS...]: strata mount of STORE_URL (or of
# $OTHER_URL when WHAT starts with "other store") fails with exit 1 and one
# line of stderr that contains EXPECTED; nothing is left mounted.
mount_fails() {
  local what=$1 expected=$2 url=$STORE_URL rc=0 err
  shift 2
  N=$((N + 1))
  [[ "$what" == "other store"* ]] && url=$OTHER_URL
  err=$(strata mount "$url" "$MNT" --cache-dir "$ROOT/cache-$N" "$@" 2>&1 >/dev/null) || rc=$?
  [[ $rc == 1 ]] || fail "$what: exit $rc, expected 1 (stderr: $err)"
  [[ $(grep -c '' <<<"$err") == 1 ]] || fail "$what: stderr is not one line: $err"
  grep -qF -- "$expected" <<<"$err" || fail "$what: stderr does not say '$expected': $err"
  mountpoint -q "$MNT" && fail "$what: $MNT got mounted"
  ok "$what -> $err"
}

check "refused: each client the walsink must not let in, and each walsink the mount must not trust"
mkdir -p "$MNT"
umask 077
printf '%s\n' "not-the-walsink-token-0123456789" >"$ROOT/wrong-token"
mount_fails "a wrong token" "unauthorized: the token is not this walsink's" \
  "${TOKEN_ARGS[@]}" --sink-token-file "$ROOT/wrong-token"
mount_fails "plaintext to a TLS walsink" "does that to plaintext clients" \
  --sink "$SINK_ADDR" --sink-insecure --sink-token-file "$SINK_DIR/token"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -days 1 -keyout "$ROOT/other.key" -out "$ROOT/other.crt" \
  2>/dev/null || fail "openssl could not make a certificate"
mount_fails "a walsink certificate the mount does not trust" "certificate verify failed" \
  --sink "$SINK_ADDR" --sink-ca "$ROOT/other.crt" --sink-token-file "$SINK_DIR/token"
mount_fails "the walsink's certificate checked against the system's roots" \
  "certificate verify failed" --sink "$SINK_ADDR" --sink-token-file "$SINK_DIR/token"
OTHER_URL=file://$ROOT/other-store
strata_init "$OTHER_URL"
mount_fails "other store, which the walsink does not serve" "store not served" \
  "${TOKEN_ARGS[@]}" --sink-token-file "$SINK_DIR/token"
mount_fails "no token" "--sink needs --sink-token-file" "${TOKEN_ARGS[@]}"
cp "$SINK_DIR/token" "$ROOT/open-token"
chmod 644 "$ROOT/open-token"
mount_fails "a token file others may read" "chmod 600" \
  "${TOKEN_ARGS[@]}" --sink-token-file "$ROOT/open-token"
[[ -e "$SINK_DIR/data/$STORE_ID" ]] && fail "the walsink opened a log for a refused client"
refusals=$(grep -c "unauthorized\|store not served\|TLS handshake failed" "$LOG_DIR/walsink.log" || true)
((refusals >= 4)) || fail "the walsink logged $refusals refusals, expected at least 4"
ok "the walsink opened no log and logged $refusals refusals"

check "the right token and certificate: the op log is shipped over TLS"
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" "${SINK_FLAGS[@]}"
create_root_branch main
dd if=/dev/urandom of="$MNT/main/f" bs=8k count=16 conv=fsync status=none || fail "write+fsync failed"
st=$(strata status --json | jres)
jq -e '.walsink.tls == true and .walsink.connected == true and .walsink.acks > 0' <<<"$st" \
  >/dev/null || fail "the walsink connection is not TLS, up and acknowledged: $(jq -c .walsink <<<"$st")"
[[ -d "$SINK_DIR/data/$STORE_ID" ]] || fail "the walsink has no log for store $STORE_ID"
ok "walsink: $(jq -c '.walsink | {tls, connected, acks, frames_sent}' <<<"$st")"
umount_daemon
