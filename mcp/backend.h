// The MCP server's view of the daemon: one control-API call (docs/api.md)
// in, the HTTP status and JSON answer out. In the daemon it is Api::Handle
// (api/mcp_http.h), in `strata mcp` the control socket (tools/mcp_command.cc),
// in tests a fake; so a tool and its route never disagree.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace strata::mcp {

struct BackendRequest {
  std::string method;                        // "GET", "POST", "DELETE", ...
  std::vector<std::string> path;             // decoded segments: {"v1", "branches", NAME}
  std::map<std::string, std::string> query;  // decoded query arguments
  nlohmann::json body;                       // null: no body
  // "/v1/branches/NAME", segments joined as they are (for messages and fakes).
  std::string PathString() const;
};

struct BackendReply {
  int status = 200;     // HTTP status; >= 400 is an error {"code", "error"}
  nlohmann::json body;  // the route's JSON answer (null when there was none)
};

using Backend = std::function<BackendReply(const BackendRequest&)>;

}  // namespace strata::mcp
