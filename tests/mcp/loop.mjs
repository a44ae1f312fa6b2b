// An agent's whole loop against strata's MCP server, with the official
// TypeScript SDK as the client, over stdio (`strata mcp --mount M`) and
// streamable HTTP (/mcp on the API port). Run by tests/integration/mcp.sh.
//
// Environment:
//   STRATA_BIN        the strata CLI
//   STRATA_MOUNT      the mount the daemon serves
//   STRATA_API_URL    http://127.0.0.1:PORT (the API's TCP listener)
//   STRATA_API_TOKEN  its bearer token
//   STRATA_OTHER      a branch of another owner (made by the caller)
//   PSQL              psql, to prove a connection string works
//   MCP_TRANSPORTS    "stdio,http" (default)
//   MCP_SKIP          comma list of steps to skip:
//                     diff, restore, promote
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";

const env = process.env;
const OWNER = "agent";
const skip = new Set((env.MCP_SKIP ?? "").split(",").filter(Boolean));
const transports = (env.MCP_TRANSPORTS ?? "stdio,http").split(",");

function log(msg) {
  console.log(`[mcp.mjs] ${msg}`);
}

async function connect(kind) {
  const client = new Client({ name: "strata-test", version: "1.0.0" });
  let transport;
  if (kind === "stdio") {
    transport = new StdioClientTransport({
      command: env.STRATA_BIN,
      args: ["mcp", "--mount", env.STRATA_MOUNT, "--owner", OWNER],
      env: { PATH: env.PATH, HOME: env.HOME ?? "/root" },
      stderr: "inherit",
    });
  } else {
    transport = new StreamableHTTPClientTransport(new URL(`${env.STRATA_API_URL}/mcp`), {
      requestInit: {
        headers: { Authorization: `Bearer ${env.STRATA_API_TOKEN}`, "X-Strata-Owner": OWNER },
      },
    });
  }
  await client.connect(transport);
  return client;
}

// A tool's result, which must not be an error.
async function ok(client, name, args) {
  const r = await client.callTool({ name, arguments: args });
  assert.notEqual(r.isError, true, `${name} ${JSON.stringify(args)}: ${r.content?.[0]?.text}`);
  return r;
}

// A tool's error line (isError: true).
async function toolError(client, name, args) {
  const r = await client.callTool({ name, arguments: args });
  assert.equal(r.isError, true, `${name} ${JSON.stringify(args)} should fail: ${JSON.stringify(r)}`);
  return r.content[0].text;
}

async function scalar(client, branch, sql) {
  const r = await ok(client, "run_sql", { branch, sql });
  return r.structuredContent.rows[0][0];
}

async function loop(kind) {
  const p = kind === "stdio" ? "s" : "h";
  const db = `${p}-db`, fork = `${p}-fork`;
  const client = await connect(kind);
  assert.equal(client.getServerVersion().name, "strata");
  assert.match(client.getInstructions() ?? "", /branches/);

  const { tools } = await client.listTools();
  assert.equal(tools.length, 12);
  for (const t of tools) {
    assert.equal(typeof t.annotations?.readOnlyHint, "boolean", t.name);
    assert.equal(typeof t.annotations?.destructiveHint, "boolean", t.name);
  }
  log(`${kind}: initialized, ${tools.length} tools`);

  let t0 = Date.now();
  const created = await ok(client, "create_branch", { name: db, initdb: true });
  assert.equal(created.structuredContent.owner, OWNER);
  log(`${kind}: create_branch initdb: ${Date.now() - t0} ms`);

  await ok(client, "run_sql", {
    branch: db, read_only: false, sql: "CREATE TABLE t (id int PRIMARY KEY, v text)" });
  const ins = await ok(client, "run_sql", {
    branch: db, read_only: false,
    sql: "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 5000) g" });
  assert.equal(ins.structuredContent.command, "INSERT 0 5000");
  assert.equal(await scalar(client, db, "SELECT count(*) FROM t"), "5000");
  log(`${kind}: run_sql write then read`);
  const ms = [];
  for (let i = 0; i < 10; i++) {
    const t = Date.now();
    await scalar(client, db, "SELECT 1");
    ms.push(Date.now() - t);
  }
  ms.sort((a, b) => a - b);
  log(`${kind}: run_sql SELECT 1 on a running branch: p50 ${ms[5]} ms, max ${ms[9]} ms (10 calls)`);

  t0 = Date.now();
  await ok(client, "create_branch", { name: fork, from: db });
  log(`${kind}: create_branch fork: ${Date.now() - t0} ms`);
  await ok(client, "run_sql", {
    branch: fork, read_only: false, sql: "UPDATE t SET v = 'x' WHERE id <= 10" });
  assert.equal(await scalar(client, fork, "SELECT count(*) FROM t WHERE v = 'x'"), "10");
  assert.equal(await scalar(client, db, "SELECT count(*) FROM t WHERE v = 'x'"), "0");
  log(`${kind}: the fork's write is its own`);

  const conn = await ok(client, "get_connection_string", { branch: fork, ttl_seconds: 300 });
  const uri = conn.structuredContent.uri;
  assert.match(uri, /^postgresql:\/\//);
  const out = execFileSync(env.PSQL ?? "psql", [uri, "-XAtc", "SELECT count(*) FROM t WHERE v = 'x'"]);
  assert.equal(out.toString().trim(), "10");
  log(`${kind}: psql through the connection string`);

  const snap = await ok(client, "create_snapshot", { branch: fork, name: `${p}-snap` });
  assert.equal(snap.structuredContent.name, `${p}-snap`);

  await badInputs(client, kind, fork);

  if (!skip.has("diff")) {
    const d = await ok(client, "diff_branch", { branch: fork });
    const names = d.structuredContent.relations.map((r) => r.name);
    assert.ok(names.includes("public.t"), `diff names ${names}`);
    log(`${kind}: diff_branch: ${names.join(" ")}`);
  }
  // Restore: the fork rewinds to its snapshot, the state before kept.
  if (!skip.has("restore")) {
    await ok(client, "run_sql", { branch: fork, read_only: false, sql: "DELETE FROM t WHERE id > 4000" });
    await ok(client, "restore_branch", { branch: fork, to: `${p}-snap`, preserve_as: `${p}-pre` });
    assert.equal(await scalar(client, fork, "SELECT count(*) FROM t"), "5000");
    assert.equal(await scalar(client, `${p}-pre`, "SELECT count(*) FROM t"), "4000");
    log(`${kind}: restore_branch with preserve_as`);
  }
  // Promote: a migration made on a fork of the database, while the database
  // itself does nothing, becomes the database. (A session on the parent
  // after the fork can write pages of it, which counts as a change:
  // docs/diff.md, "Promote's check".)
  if (!skip.has("promote")) {
    const mig = `${p}-mig`;
    await ok(client, "create_branch", { name: mig, from: db });
    await ok(client, "run_sql", { branch: mig, read_only: false, sql: "ALTER TABLE t ADD COLUMN w int DEFAULT 7" });
    await ok(client, "promote_branch", { branch: mig });
    assert.equal(await scalar(client, db, "SELECT sum(w) FROM t"), "35000");
    log(`${kind}: promote_branch`);
  }

  await ok(client, "delete_snapshot", { snapshot: `${p}-snap` });
  const names = async () =>
    (await ok(client, "list_branches", {})).structuredContent.branches.map((b) => b.name);
  // A restored state is a child of the preserved one, so it goes first.
  // Delete what is listed.
  for (const b of [fork, `${p}-pre`, db]) {
    if ((await names()).includes(b)) await ok(client, "delete_branch", { branch: b });
  }
  const left = await names();
  assert.ok(!left.includes(db) && !left.includes(fork), `left: ${left}`);
  log(`${kind}: deleted`);
  await client.close();
}

async function badInputs(client, kind, fork) {
  // An unknown tool is a protocol error (-32602).
  await assert.rejects(client.callTool({ name: "drop_everything", arguments: {} }), (e) =>
    e instanceof McpError && e.code === -32602 && /Unknown tool/.test(e.message));
  // Bad arguments (2025-11-25: a tool error the model can read), nothing run.
  assert.equal(await toolError(client, "run_sql", { branch: fork, sql: 1 }),
               "run_sql: argument 'sql' must be a string");
  assert.equal(await toolError(client, "delete_branch", { branch: fork, force: true }),
               "delete_branch: unknown argument 'force'");
  assert.equal(await toolError(client, "describe_branch", {}),
               "describe_branch: missing required argument 'branch'");
  // Another owner's branch: one error, and it is still there.
  const other = env.STRATA_OTHER;
  const msg = await toolError(client, "delete_branch", { branch: other });
  assert.equal(msg, `branch '${other}' is not a branch of owner '${OWNER}': this session acts on that owner's branches only`);
  const still = await fetch(`${env.STRATA_API_URL}/v1/branches/${other}`,
                            { headers: { Authorization: `Bearer ${env.STRATA_API_TOKEN}` } });
  assert.equal(still.status, 200);
  // Writes under read_only (the default) are refused, and nothing changed.
  for (const sql of ["DELETE FROM t", "COMMIT; DELETE FROM t", "SET TRANSACTION READ WRITE",
                     "INSERT INTO t VALUES (-1, 'no')"]) {
    const e = await toolError(client, "run_sql", { branch: fork, sql });
    assert.ok(e.length > 0 && !e.includes("\n"), e);
  }
  assert.match(await toolError(client, "run_sql", { branch: fork, sql: "DELETE FROM t" }), /read-only/);
  assert.equal(await scalar(client, fork, "SELECT count(*) FROM t"), "5000");
  // Oversized results are cut, with a note.
  let r = await ok(client, "run_sql", { branch: fork, sql: "SELECT g FROM generate_series(1, 100000) g" });
  assert.equal(r.structuredContent.rows.length, 100);
  assert.equal(r.structuredContent.truncated, true);
  assert.match(r.structuredContent.note, /only the first 100 rows/);
  assert.match(r.content[0].text, /note: result cut/);
  r = await ok(client, "run_sql", {
    branch: fork, max_rows: 1000, sql: "SELECT repeat('x', 4000) FROM generate_series(1, 1000)" });
  assert.ok(r.structuredContent.rows.length < 100, `${r.structuredContent.rows.length} rows`);
  assert.match(r.structuredContent.note, /KiB/);
  log(`${kind}: bad inputs refused, nothing changed`);
}

// The HTTP transport's own rules, with plain fetch.
async function httpRules() {
  const url = `${env.STRATA_API_URL}/mcp`;
  const auth = { Authorization: `Bearer ${env.STRATA_API_TOKEN}` };
  const json = { "Content-Type": "application/json", Accept: "application/json, text/event-stream" };
  const ping = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" });
  assert.equal((await fetch(url, { method: "POST", headers: json, body: ping })).status, 401);
  assert.equal((await fetch(url, { method: "GET", headers: auth })).status, 405);
  assert.equal((await fetch(url, { method: "POST", headers: { ...auth, ...json, Origin: "http://evil.example" }, body: ping })).status, 403);
  // Under 2025-06-18, bad arguments are a JSON-RPC error -32602.
  const r = await fetch(url, {
    method: "POST", headers: { ...auth, ...json, "MCP-Protocol-Version": "2025-06-18" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call",
                           params: { name: "describe_branch", arguments: { branch: 3 } } }) });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).error.code, -32602);
  log("http: 401 without the token, 405 on GET, 403 for a foreign Origin, -32602 under 2025-06-18");
}

for (const kind of transports) await loop(kind);
if (transports.includes("http")) await httpRules();
log("all passed");
