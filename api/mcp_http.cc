#include "api/mcp_http.h"

#include "common/names.h"
#include "common/text.h"
#include "mcp/mcp_server.h"

namespace strata {

namespace {

using json = nlohmann::json;

HttpResponse JsonRpcError(int http_status, int code, const std::string& message) {
  HttpResponse r;
  r.status = http_status;
  r.body = mcp::McpServer::Dump(mcp::McpServer::Error(nullptr, code, message)) + "\n";
  return r;
}

// "localhost" of "http://localhost:8080", "[::1]" of "http://[::1]:1".
std::string HostOf(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    return std::string(authority.substr(0, authority.find(']') + 1));
  }
  return std::string(authority.substr(0, authority.find(':')));
}

// The owner scope of a request, or kInvalid.
Result<std::string> OwnerOf(const HttpRequest& req) {
  const std::string header = req.Header("x-strata-owner");
  auto q = req.query.find("owner");
  const std::string query = q == req.query.end() ? "" : q->second;
  if (!header.empty() && !query.empty() && header != query) {
    return Status::Invalid("X-Strata-Owner and ?owner= name different owners");
  }
  const std::string owner = header.empty() ? query : header;
  if (!owner.empty()) STRATA_RETURN_IF_ERROR(ValidateName("owner", owner));
  return owner;
}

}  // namespace

mcp::Backend ApiBackend(Api* api, Caller caller, std::string peer) {
  return [api, caller, peer](const mcp::BackendRequest& r) {
    HttpRequest req;
    req.peer = peer;  // for the audit line: the /mcp client's address
    req.method = r.method;
    req.path = r.PathString();
    req.query = r.query;
    req.from_unix_socket = true;
    if (!r.body.is_null()) req.body = mcp::McpServer::Dump(r.body);
    const HttpResponse resp = api->HandleAs(caller, req);
    json body = json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
    return mcp::BackendReply{resp.status, body.is_discarded() ? json() : std::move(body)};
  };
}

bool McpHttp::OriginAllowed(const std::string& origin, const std::string& host) {
  std::string_view rest = origin;
  if (StartsWithNoCase(rest, "http://")) {
    rest.remove_prefix(7);
  } else if (StartsWithNoCase(rest, "https://")) {
    rest.remove_prefix(8);
  } else {
    return false;
  }
  const std::string h = AsciiLower(HostOf(rest));
  if (h == "localhost" || h == "127.0.0.1" || h == "[::1]") return true;
  return !h.empty() && h == AsciiLower(HostOf(host));
}

HttpResponse McpHttp::Handle(const HttpRequest& req) const {
  const Result<Caller> caller = api_->Authenticate(req);
  if (!caller.ok()) return Api::Unauthorized(caller.status());
  const std::string origin = req.Header("origin");
  if (!origin.empty() && !OriginAllowed(origin, req.Header("host"))) {
    return JsonRpcError(403, mcp::kInvalidRequest,
                        "Forbidden: Origin " + origin + " may not call /mcp");
  }
  if (req.method != "POST") {
    HttpResponse r = JsonRpcError(405, mcp::kInvalidRequest,
                                  "/mcp answers POST only: no SSE stream, no sessions");
    r.headers.emplace_back("Allow", "POST");
    return r;
  }
  const std::string version = req.Header("mcp-protocol-version");
  if (!version.empty() && !mcp::McpServer::Supported(version)) {
    return JsonRpcError(400, mcp::kInvalidRequest,
                        "Bad Request: unsupported MCP-Protocol-Version " + version);
  }
  Result<std::string> owner = OwnerOf(req);
  if (!owner.ok())
    return JsonRpcError(400, mcp::kInvalidRequest, "Bad Request: " + owner.status().message());
  if (!caller->admin()) {
    if (!owner->empty() && *owner != caller->owner) {
      return JsonRpcError(403, mcp::kInvalidRequest,
                          "Forbidden: this token acts for owner '" + caller->owner + "' only");
    }
    *owner = caller->owner;
  }
  const json msg = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (msg.is_discarded()) return JsonRpcError(400, mcp::kParseError, "Parse error: not JSON");
  mcp::ServerOptions opts;
  opts.tools.backend = ApiBackend(api_, *caller, req.peer);
  opts.tools.owner = *owner;
  opts.server_version = server_version_;
  opts.protocol_version = version;
  mcp::McpServer server(std::move(opts));
  const std::optional<json> answer = server.Handle(msg);
  HttpResponse r;
  if (!answer) {
    r.status = 202;
    r.content_type.clear();
    return r;
  }
  const bool framing_error = answer->contains("error") && answer->at("id").is_null();
  r.status = framing_error ? 400 : 200;
  r.body = mcp::McpServer::Dump(*answer) + "\n";
  return r;
}

}  // namespace strata
