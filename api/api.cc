#include "api/api.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <string_view>

#include "common/crypto.h"
#include "common/net.h"

namespace strata {

namespace {

using json = nlohmann::json;

HttpResponse ErrorResponse(const Status& st);

// nlohmann::json reports a string that is not UTF-8 only by throwing, and a
// name from a percent-decoded path may hold any byte ("no branch named
// '\xff'"): such an answer becomes a 400 naming the byte. The one place,
// with the body's parse (ParseBody), where the API catches an exception.
HttpResponse JsonResponse(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  try {
    r.body = body.dump() + "\n";
  } catch (const json::exception& e) {
    return ErrorResponse(Status::Invalid(std::string("bad request: ") + e.what()));
  }
  return r;
}

HttpResponse ErrorResponse(const Status& st) {
  return JsonResponse(Api::HttpStatus(st.code()),
                      json{{"code", Api::CodeName(st.code())}, {"error", st.message()}});
}

// A request's body: a JSON object, {} when there is none.
Result<json> ParseBody(const std::string& text) {
  if (text.empty()) return json(json::object());
  json body;
  try {
    body = json::parse(text);
  } catch (const json::exception& e) {
    return Status::Invalid(std::string("malformed JSON body: ") + e.what());
  }
  if (!body.is_object()) return Status::Invalid("the request body must be a JSON object");
  return body;
}

// The 429's message ends "; try again in N s"; Unauthorized reads N back
// for Retry-After.
constexpr char kTryAgainIn[] = "; try again in ";

constexpr char kNoToken[] =
    "missing or wrong API token: send 'Authorization: Bearer <token>' (the admin token is in "
    "CACHE_DIR/api-token; owner tokens come from 'strata token issue')";

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// Matches `path` against a pattern such as "/v1/branches/{name}"; fills the
// placeholders' values in order.
bool Match(const std::string& pattern, const std::vector<std::string>& path,
           std::vector<std::string>* params) {
  const std::vector<std::string> pat = Split(pattern);
  if (pat.size() != path.size()) return false;
  params->clear();
  for (size_t i = 0; i < pat.size(); i++) {
    if (pat[i].front() == '{') {
      params->push_back(path[i]);
    } else if (pat[i] != path[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

int Api::HttpStatus(Code code) {
  switch (code) {
    case Code::kOk:
      return 200;
    case Code::kNotFound:
      return 404;
    case Code::kExists:
    case Code::kBusy:
    case Code::kNotEmpty:
      return 409;
    case Code::kInvalid:
    case Code::kTooBig:
    case Code::kNotDir:
    case Code::kIsDir:
      return 400;
    case Code::kPermission:
    case Code::kReadOnly:
    case Code::kQuota:
      return 403;
    case Code::kUnavailable:
      return 503;
    case Code::kNoSpace:
      return 507;
    case Code::kNotSupported:
      return 501;
    case Code::kIO:
    case Code::kCorruption:
      return 500;
  }
  return 500;
}

const char* Api::CodeName(Code code) {
  switch (code) {
    case Code::kNotFound:
      return "not_found";
    case Code::kExists:
      return "exists";
    case Code::kInvalid:
    case Code::kTooBig:
    case Code::kNotDir:
    case Code::kIsDir:
      return "invalid";
    case Code::kBusy:
      return "busy";
    case Code::kCorruption:
      return "corruption";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kPermission:
    case Code::kReadOnly:
      return "permission";
    case Code::kNotEmpty:
      return "not_empty";
    case Code::kNoSpace:
      return "no_space";
    case Code::kQuota:
      return "quota";
    case Code::kNotSupported:
      return "not_supported";
    default:
      return "io";
  }
}

const std::vector<Api::Route>& Api::Routes() {
  using S = Scope;
  static const std::vector<Route> routes = {
      {"GET", "/v1/status", &Api::GetStatus, S::kAdmin},
      {"GET", "/v1/branches", &Api::ListBranches, S::kListBranches},
      {"POST", "/v1/branches", &Api::CreateBranch, S::kCreateBranch},
      {"GET", "/v1/branches/{name}", &Api::GetBranch, S::kBranch},
      {"PATCH", "/v1/branches/{name}", &Api::PatchBranch, S::kBranch},
      {"DELETE", "/v1/branches/{name}", &Api::DeleteBranch, S::kBranch},
      {"POST", "/v1/branches/{name}/reset", &Api::ResetBranch, S::kBranch},
      {"POST", "/v1/branches/{name}/detach", &Api::DetachBranch, S::kBranch},
      {"GET", "/v1/branches/{name}/endpoint", &Api::GetEndpoint, S::kBranch},
      {"POST", "/v1/branches/{name}/endpoint/start", &Api::StartEndpoint, S::kBranch},
      {"POST", "/v1/branches/{name}/endpoint/suspend", &Api::SuspendEndpoint, S::kBranch},
      {"POST", "/v1/branches/{name}/endpoint/move", &Api::MoveEndpoint, S::kAdmin},
      {"GET", "/v1/branches/{name}/credentials", &Api::ListCredentials, S::kBranch},
      {"POST", "/v1/branches/{name}/credentials", &Api::IssueCredential, S::kBranch},
      {"DELETE", "/v1/credentials/{id}", &Api::RevokeCredential, S::kCredential},
      {"GET", "/v1/endpoints", &Api::ListEndpoints, S::kListEndpoints},
      {"GET", "/v1/nodes", &Api::ListNodes, S::kAdmin},
      {"POST", "/v1/endpoints/suspend", &Api::SuspendAllEndpoints, S::kAdmin},
      {"GET", "/v1/snapshots", &Api::ListSnapshots, S::kListSnapshots},
      {"POST", "/v1/snapshots", &Api::CreateSnapshot, S::kCreateSnapshot},
      {"DELETE", "/v1/snapshots/{name}", &Api::DeleteSnapshot, S::kSnapshot},
      {"GET", "/v1/owners/{owner}", &Api::GetOwner, S::kOwner},
      {"PUT", "/v1/owners/{owner}/quota", &Api::SetQuota, S::kAdmin},
      {"POST", "/v1/gc", &Api::RunGc, S::kAdmin},
      {"GET", "/v1/gc", &Api::GetGc, S::kAdmin},
      {"POST", "/v1/branches/{name}/restore", &Api::RestoreBranch, S::kBranch},
      {"POST", "/v1/branches/{name}/promote", &Api::PromoteBranch, S::kPromote},
      {"GET", "/v1/branches/{name}/diff", &Api::GetDiff, S::kDiff},
      {"POST", "/v1/tokens", &Api::IssueToken, S::kAdmin},
      {"GET", "/v1/tokens", &Api::ListTokens, S::kAdmin},
      {"DELETE", "/v1/tokens/{id}", &Api::RevokeToken, S::kAdmin},
  };
  return routes;
}

std::vector<std::string> Api::RouteNames() {
  std::vector<std::string> out = {"GET /metrics"};
  for (const Route& rt : Routes()) out.push_back(std::string(rt.method) + " " + rt.pattern);
  return out;
}

Api::Api(ApiContext ctx)
    : ctx_(std::move(ctx)), tokens_(ctx_.catalog, ctx_.clock), auth_limiter_(ctx_.auth_limits) {
  if (ctx_.metrics) {
    ctx_.metrics->AddCounter("strata_api_requests_total", "API requests by route and status");
    ctx_.metrics->AddCounter("strata_api_auth_throttled_total",
                             "TCP requests refused (429) because their address failed to "
                             "authenticate too often");
    ctx_.metrics->AddHistogram("strata_api_request_seconds", "API request latency by route",
                               {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30});
  }
}

HttpResponse Api::Unauthorized(const Status& st) {
  if (st.code() == Code::kBusy) {
    HttpResponse r =
        JsonResponse(429, json{{"code", "too_many_requests"}, {"error", st.message()}});
    const size_t at = st.message().rfind(kTryAgainIn);
    if (at != std::string::npos) {
      const std::string n = st.message().substr(at + sizeof(kTryAgainIn) - 1);
      r.headers.emplace_back("Retry-After", n.substr(0, n.find(' ')));
    }
    return r;
  }
  HttpResponse r = JsonResponse(401, json{{"code", "unauthorized"}, {"error", st.message()}});
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

Result<Caller> Api::Authenticate(const HttpRequest& req) {
  if (req.from_unix_socket) return Caller{};
  const std::string address = AddressOf(req.peer);
  std::chrono::milliseconds wait{0};
  if (!auth_limiter_.Allow(address, &wait)) {
    if (ctx_.metrics) ctx_.metrics->Inc("strata_api_auth_throttled_total", {});
    return Status::Busy("too many failed authentications from " + address + kTryAgainIn +
                        std::to_string(std::max<int64_t>(1, (wait.count() + 999) / 1000)) + " s");
  }
  const std::string header = req.Header("authorization");
  static constexpr char kBearer[] = "Bearer ";
  Result<Caller> caller = Status::Permission(kNoToken);
  if (header.rfind(kBearer, 0) == 0) {
    const std::string given = header.substr(sizeof(kBearer) - 1);
    if (!ctx_.api_token.empty() && crypto::ConstantTimeEqual(given, ctx_.api_token)) {
      caller = Caller{};
    } else if (ctx_.catalog && ApiTokens::IsOwnerToken(given)) {
      caller = tokens_.Authenticate(given);
    }
  }
  if (!caller.ok()) auth_limiter_.Failed(address);
  return caller;
}

HttpResponse Api::Handle(const HttpRequest& req) { return Serve(req, Authenticate(req)); }

void Api::Audit(const HttpRequest& req, const Result<Caller>& caller, const std::string& branch,
                const HttpResponse& resp) {
  if (ctx_.audit == nullptr) return;
  AuditEvent e{"api", req.peer, "", "", req.method + " " + req.path, branch, "ok"};
  if (caller.ok()) {
    e.actor = caller->admin() ? "admin" : caller->token_id;
    e.owner = caller->owner;
  }
  if (resp.status >= 300) {
    e.result = std::to_string(resp.status);
    const json body = json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_object() && body.contains("error") && body["error"].is_string()) {
      e.result += " " + body["error"].get<std::string>();
    }
  }
  ctx_.audit->Record(e);
}

HttpResponse Api::HandleAs(const Caller& caller, const HttpRequest& req) {
  return Serve(req, caller);
}

HttpResponse Api::Serve(const HttpRequest& req, const Result<Caller>& caller) {
  const auto started = ctx_.clock->SteadyNow();
  std::string route = "unknown", branch;
  HttpResponse resp =
      caller.ok() ? Dispatch(*caller, req, &route, &branch) : Unauthorized(caller.status());
  Audit(req, caller, branch, resp);
  if (ctx_.metrics) {
    const double secs = std::chrono::duration<double>(ctx_.clock->SteadyNow() - started).count();
    ctx_.metrics->Inc("strata_api_requests_total",
                      {{"route", route}, {"status", std::to_string(resp.status)}});
    ctx_.metrics->Observe("strata_api_request_seconds", {{"route", route}}, secs);
  }
  if (resp.status >= 500) {
    spdlog::warn("api: {} {} -> {} {}", req.method, req.path, resp.status, resp.body);
  }
  // Who changed what, for an owner token: the admin's own log lines say what.
  if (caller.ok() && !caller->admin() && req.method != "GET") {
    spdlog::info("api: owner token {} (owner {}): {} {} -> {}", caller->token_id, caller->owner,
                 req.method, req.path, resp.status);
  }
  return resp;
}

HttpResponse Api::Call(const Caller& caller, const Route& rt, const std::string& name,
                       const Params& params, json body) {
  if (!caller.admin()) {
    Status st = CheckScope(*ctx_.catalog->Current(), caller, name, rt.scope, params, &body);
    if (!st.ok()) return ErrorResponse(st);
  }
  Result<ApiResult> r = (this->*rt.handler)(params, body);
  if (!r.ok()) return ErrorResponse(r.status());
  if (!caller.admin()) {
    r->body = FilterList(*ctx_.catalog->Current(), caller, rt.scope, std::move(r->body));
  }
  return JsonResponse(r->status, r->body);
}

HttpResponse Api::Dispatch(const Caller& caller, const HttpRequest& req, std::string* route,
                           std::string* branch) {
  const std::vector<std::string> path = Split(req.path);
  if (path.size() == 1 && path[0] == "metrics") {
    *route = "/metrics";
    if (req.method != "GET") {
      return JsonResponse(405, json{{"code", "invalid"}, {"error", "/metrics only answers GET"}});
    }
    // Every owner's branches are in the labels.
    if (!caller.admin())
      return ErrorResponse(CheckScope({}, caller, "GET /metrics", Scope::kAdmin, {}, nullptr));
    HttpResponse r;
    r.content_type = kPrometheusContentType;
    r.body = ctx_.metrics ? ctx_.metrics->Render() : "";
    return r;
  }
  Params params;
  bool path_known = false;
  for (const Route& rt : Routes()) {
    if (!Match(rt.pattern, path, &params)) continue;
    path_known = true;
    if (req.method != rt.method) continue;
    *route = std::string(rt.method) + " " + rt.pattern;
    Result<json> body = ParseBody(req.body);
    if (!body.ok()) return ErrorResponse(body.status());
    // A GET has no body: its query arguments take its place, as strings.
    if (req.method == "GET" && body->is_object()) {
      for (const auto& [k, v] : req.query) (*body)[k] = v;
    }
    if (std::string_view(rt.pattern).starts_with("/v1/branches/{")) {
      *branch = params.empty() ? "" : params[0];
    } else if (std::string_view(rt.pattern) == "/v1/branches" && req.method == "POST" &&
               body->contains("name") && (*body)["name"].is_string()) {
      *branch = (*body)["name"].get<std::string>();
    }
    return Call(caller, rt, *route, params, std::move(*body));
  }
  if (path_known) {
    return JsonResponse(
        405, json{{"code", "invalid"}, {"error", req.method + " is not allowed on " + req.path}});
  }
  return JsonResponse(404, json{{"code", "not_found"}, {"error", "no API route " + req.path}});
}

}  // namespace strata
