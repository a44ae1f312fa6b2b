#!/usr/bin/env bash
# mcp: an agent's whole loop through strata's MCP server with the official
# TypeScript SDK (tests/mcp/loop.mjs), over stdio (`strata mcp --mount M
# --owner agent`) and streamable HTTP (/mcp on the API port, bearer token,
# X-Strata-Owner: agent): initialize, list tools, a new database (initdb),
# run_sql write then read, a fork and SQL on it, a connection string used by
# psql, a snapshot, delete; and the bad inputs: an unknown tool, bad
# arguments, another owner's branch, a write under read_only, oversized
# results (each one clear error, nothing changed).
#
# MCP_SKIP (a comma list: diff, restore, promote; default none) skips those
# steps. Ports: proxy 55631, API 55632.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools
command -v node >/dev/null || fail "node is missing (tools/setup.sh installs it)"
command -v npm >/dev/null || fail "npm is missing (tools/setup.sh installs it)"

MCP_DIR=$REPO_DIR/tests/mcp
check "the SDK in tests/mcp (@modelcontextprotocol/sdk, pinned in package-lock.json)"
# npm ci (from npm's cache when it can) only when the lock file changed since
# the last one (tools/setup.sh writes the same stamp).
stamp=$(sha256sum <"$MCP_DIR/package-lock.json" | cut -d' ' -f1)
if [[ $(cat "$MCP_DIR/node_modules/.strata-stamp" 2>/dev/null) != "$stamp" ]]; then
  (cd "$MCP_DIR" && npm ci --prefer-offline --no-audit --no-fund) >"$LOG_DIR/npm.log" 2>&1 ||
    fail "npm ci failed: $(tail -5 "$LOG_DIR/npm.log")"
  echo "$stamp" >"$MCP_DIR/node_modules/.strata-stamp"
fi
ok "node $(node --version), SDK $(jq -r .version "$MCP_DIR/node_modules/@modelcontextprotocol/sdk/package.json")"

strata_init
start_daemon "$STORE_URL" "$MNT" "$CACHE_DIR" --proxy 127.0.0.1:55631 --api 127.0.0.1:55632
API=$(api GET /v1/status | jq -r .api)
TOKEN=$(head -1 "$CACHE_DIR/api-token")
api POST /v1/branches '{"name":"other","owner":"someone"}' >/dev/null

check "the MCP loop over stdio and streamable HTTP"
STRATA_BIN=$STRATA_BIN STRATA_MOUNT=$MNT STRATA_API_URL=http://$API STRATA_API_TOKEN=$TOKEN \
  STRATA_OTHER=other PSQL=$PGBIN/psql MCP_SKIP=${MCP_SKIP-} \
  node "$MCP_DIR/loop.mjs" || fail "tests/mcp/loop.mjs failed"
ok "the loop passed on both transports"

check "nothing of the sessions is left, the other owner's branch is intact"
names=$(api GET /v1/branches | jq -r '[.[].name | select(startswith("_initdb_") | not)] | sort | join(" ")')  # not the template
[[ "$names" == "other" ]] || fail "branches left: $names"
[[ $(api GET /v1/branches/other | jq -r .owner) == someone ]] || fail "other lost its owner"
ok "branches: $names"
