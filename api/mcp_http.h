// The streamable HTTP transport of MCP (docs/mcp.md): POST /mcp on the API
// port, behind the API's bearer token, one JSON-RPC message per request.
// Stateless: no Mcp-Session-Id; each request gets a fresh McpServer whose
// protocol version is the MCP-Protocol-Version header's. The tools call the
// same Api::Handle as HTTP clients do (ApiBackend), so a tool and its route
// never disagree.
//
//  - POST with a request: 200, application/json, the JSON-RPC response;
//    with a notification or a response: 202, no body; a body that is not one
//    JSON-RPC message (not JSON, a batch): 400 with a JSON-RPC error.
//  - GET (no server-to-client stream is offered) and DELETE (no sessions): 405.
//  - A missing, wrong, expired or revoked token: 401, as every API route.
//    An owner token's tools act as that owner (api/api_scope.h), and the
//    session's owner scope is its owner.
//  - An Origin header that is not http(s) on localhost, 127.0.0.1, [::1] or
//    the request's own Host: 403 (DNS rebinding).
//  - An MCP-Protocol-Version the server does not support: 400.
//  - Owner scope: the header X-Strata-Owner or the query ?owner= (one, or
//    both equal); with an owner token, its owner (naming another: 403).
#pragma once

#include <string>

#include "api/api.h"
#include "api/http_server.h"
#include "mcp/backend.h"

namespace strata {

// Control-API calls answered by `api` in this process as `caller`, who has
// been authenticated already.
mcp::Backend ApiBackend(Api* api, Caller caller, std::string peer = "local");

class McpHttp {
 public:
  explicit McpHttp(Api* api, std::string server_version = "0.1.0")
      : api_(api), server_version_(std::move(server_version)) {}

  // The answer to a request for /mcp. Never throws.
  HttpResponse Handle(const HttpRequest& req) const;

  // Whether an Origin header's value may call us (see above); `host` is the
  // request's Host header.
  static bool OriginAllowed(const std::string& origin, const std::string& host);

 private:
  Api* const api_;
  const std::string server_version_;
};

}  // namespace strata
