// Api: the daemon's control API, HTTP with JSON (docs/api.md,
// docs/openapi.yaml). Branches, snapshots, endpoints, credentials, owner
// quotas, owner tokens, status and Prometheus metrics. Requests on TCP must
// carry "Authorization: Bearer <token>": the daemon's admin token, or an
// owner token that reaches one owner's branches only (api/api_scope.h); the
// unix socket is trusted through its file permissions (0600, the daemon's
// user) and acts as the admin.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/api_scope.h"
#include "api/api_tokens.h"
#include "api/http_server.h"
#include "catalog/branch_manager.h"
#include "catalog/collector.h"
#include "cluster/node_leases.h"
#include "common/audit_log.h"
#include "common/clock.h"
#include "common/failure_limiter.h"
#include "common/metrics.h"
#include "common/status.h"
#include "endpoint/branch_diff.h"
#include "endpoint/branch_move.h"
#include "endpoint/credentials.h"
#include "endpoint/endpoint_manager.h"
#include "endpoint/fleet.h"
#include "layers/version_store.h"
#include "objstore/object_store.h"
#include "oplog/sink.h"

namespace strata {

struct ApiContext {
  ObjectStore* store = nullptr;
  Sink* sink = nullptr;
  VersionStore* versions = nullptr;
  Catalog* catalog = nullptr;
  BranchManager* branches = nullptr;
  Fleet* fleet = nullptr;
  EndpointManager* endpoints = nullptr;
  Credentials* credentials = nullptr;
  Metrics* metrics = nullptr;
  Collector* collector = nullptr;  // compaction and GC (docs/gc.md)
  NodeLeases* leases = nullptr;    // this node and its branch leases (docs/cluster.md); may be null
  BranchMover* mover = nullptr;    // POST /v1/branches/{name}/endpoint/move; may be null
  BranchDiff* diff = nullptr;      // GET /v1/branches/{name}/diff (docs/diff.md)
  std::string mountpoint;
  std::string cache_dir;
  std::string api_token;             // what TCP requests must present; never empty in a daemon
  std::string proxy_address;         // HOST:PORT clients connect to; "" when there is no proxy
  std::string api_address;           // HOST:PORT of the TCP listener; "" when there is none
  int64_t credential_ttl_s = 86400;  // default lifetime of an issued credential
  int64_t token_ttl_s = 30 * 86400;  // default lifetime of an owner token
  // "now" of expiries (ttl_seconds, expires_at, credentials) and the
  // request latencies and elapsed times the API reports.
  Clock* clock = Clock::Real();
  // {"l2": ..., "l3": ...} of the object-store stack; merged into status.cache.
  std::function<nlohmann::json()> store_stats;
  // The op log's shipping to a walsink server; null when there is none.
  std::function<nlohmann::json()> sink_stats;
  // The op log's log objects in the store (--sink store); null otherwise.
  std::function<nlohmann::json()> store_log_stats;
  // The proxy's counters; null when there is none.
  std::function<nlohmann::json()> proxy_stats;
  // FUSE requests per opcode (fs/fuse_stats.h as JSON); null without a mount.
  std::function<nlohmann::json()> fuse_stats;
  // Called after a branch name starts naming a branch (FUSE drops a cached
  // negative entry).
  std::function<void(const std::string&)> branch_created;
  AuditLog* audit = nullptr;          // one line per request (not owned); null: none
  FailureLimiterOptions auth_limits;  // failed token checks per client address
};

// An API answer before it becomes HTTP.
struct ApiResult {
  int status = 200;
  nlohmann::json body;
};

class Api {
 public:
  explicit Api(ApiContext ctx);
  // Never throws: every failure is a JSON error {"code", "error"}.
  HttpResponse Handle(const HttpRequest& req);
  // Handle for a caller already authenticated (the tools of /mcp).
  HttpResponse HandleAs(const Caller& caller, const HttpRequest& req);

  // "METHOD /pattern" of every route, "GET /metrics" included (for tests
  // that must cover them all).
  static std::vector<std::string> RouteNames();

  // The HTTP status of a Status code, and its wire name ("not_found", ...).
  static int HttpStatus(Code code);
  static const char* CodeName(Code code);

  // Who `req` acts as: the admin from the unix socket or with the daemon's
  // token, an owner with a valid owner token. kPermission with the message
  // of the 401 otherwise, counted against the client's address; kBusy when
  // that address failed too often (the 429), before its token is looked at.
  // Transports beside the routes, such as /mcp, ask it too.
  Result<Caller> Authenticate(const HttpRequest& req);
  // The answer to a failed Authenticate: 429 with Retry-After for kBusy,
  // else 401 carrying `st`'s message.
  static HttpResponse Unauthorized(const Status& st);

 private:
  using Params = std::vector<std::string>;  // the {placeholders} of the route, in order
  // An answer, or an error (a JSON error {"code", "error"} with its HTTP status).
  using Handler = Result<ApiResult> (Api::*)(const Params&, const nlohmann::json& body);
  struct Route {
    const char* method;
    const char* pattern;  // "/v1/branches/{name}"
    Handler handler;
    Scope scope;  // what an owner token may do here (api/api_scope.h)
  };
  static const std::vector<Route>& Routes();

  // Routes (api_routes.cc).
  Result<ApiResult> GetStatus(const Params&, const nlohmann::json&);
  Result<ApiResult> ListBranches(const Params&, const nlohmann::json&);
  Result<ApiResult> CreateBranch(const Params&, const nlohmann::json&);
  Result<ApiResult> GetBranch(const Params&, const nlohmann::json&);
  Result<ApiResult> PatchBranch(const Params&, const nlohmann::json&);
  Result<ApiResult> DeleteBranch(const Params&, const nlohmann::json&);
  Result<ApiResult> ResetBranch(const Params&, const nlohmann::json&);
  Result<ApiResult> ListSnapshots(const Params&, const nlohmann::json&);
  Result<ApiResult> CreateSnapshot(const Params&, const nlohmann::json&);
  Result<ApiResult> DeleteSnapshot(const Params&, const nlohmann::json&);
  Result<ApiResult> GetEndpoint(const Params&, const nlohmann::json&);
  Result<ApiResult> StartEndpoint(const Params&, const nlohmann::json&);
  Result<ApiResult> SuspendEndpoint(const Params&, const nlohmann::json&);
  Result<ApiResult> ListEndpoints(const Params&, const nlohmann::json&);
  Result<ApiResult> ListNodes(const Params&, const nlohmann::json&);
  Result<ApiResult> MoveEndpoint(const Params&, const nlohmann::json&);
  // GET /v1/branches/{name}'s "holder": the branch's newest lease grant.
  Result<nlohmann::json> HolderJson(uint32_t branch);
  Result<ApiResult> SuspendAllEndpoints(const Params&, const nlohmann::json&);
  Result<ApiResult> ListCredentials(const Params&, const nlohmann::json&);
  Result<ApiResult> IssueCredential(const Params&, const nlohmann::json&);
  Result<ApiResult> RevokeCredential(const Params&, const nlohmann::json&);
  Result<ApiResult> GetOwner(const Params&, const nlohmann::json&);
  Result<ApiResult> SetQuota(const Params&, const nlohmann::json&);
  // Compaction, GC, detach (api_gc.cc).
  Result<ApiResult> DetachBranch(const Params&, const nlohmann::json&);
  Result<ApiResult> RunGc(const Params&, const nlohmann::json&);
  Result<ApiResult> GetGc(const Params&, const nlohmann::json&);
  // Restore and promote (api_swap.cc).
  Result<ApiResult> RestoreBranch(const Params&, const nlohmann::json&);
  Result<ApiResult> PromoteBranch(const Params&, const nlohmann::json&);
  // Diff (api_diff.cc); a GET's query arguments arrive as the body's members.
  Result<ApiResult> GetDiff(const Params&, const nlohmann::json&);
  // Owner tokens (api_token_routes.cc).
  Result<ApiResult> IssueToken(const Params&, const nlohmann::json&);
  Result<ApiResult> ListTokens(const Params&, const nlohmann::json&);
  Result<ApiResult> RevokeToken(const Params&, const nlohmann::json&);

  // The answer to `req` from `caller` (an error: the 401), with its metrics.
  HttpResponse Serve(const HttpRequest& req, const Result<Caller>& caller);
  // Serve's answer; *route names the route for the metrics, *branch the
  // branch acted on (for the audit line; empty if none).
  HttpResponse Dispatch(const Caller& caller, const HttpRequest& req, std::string* route,
                        std::string* branch);
  // A route's answer, its owner scope checked and its list filtered.
  HttpResponse Call(const Caller& caller, const Route& rt, const std::string& name,
                    const Params& params, nlohmann::json body);

  nlohmann::json BranchJson(const CatalogData& cat, const BranchInfo& b);
  // The history and space fields of a branch object (api_gc.cc).
  void AddHistoryJson(const BranchInfo& b, nlohmann::json* j);
  nlohmann::json GcStateJson();
  nlohmann::json EndpointJson(const EndpointInfo& e);
  nlohmann::json OwnerJson(const std::string& owner);

  // One audit line for a request and its answer (ctx_.audit).
  void Audit(const HttpRequest& req, const Result<Caller>& caller, const std::string& branch,
             const HttpResponse& resp);

  const ApiContext ctx_;
  ApiTokens tokens_;
  FailureLimiter auth_limiter_;  // failed TCP authentications per client address
};

}  // namespace strata
