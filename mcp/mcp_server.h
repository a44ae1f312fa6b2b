// McpServer: the Model Context Protocol over JSON-RPC 2.0, transport-free
// (docs/mcp.md). It takes one message and gives the answer, if one is due;
// the transports are stdio (mcp/stdio.h, `strata mcp`) and streamable HTTP
// (api/mcp_http.h, /mcp on the API port).
//
// Methods: initialize (version negotiation: the client's version when it is
// one of kProtocolVersions, else the newest), notifications/initialized,
// ping, tools/list, tools/call. Batches (JSON arrays) are not part of the
// protocol since 2025-06-18 and are refused with -32600. Errors: -32700
// (not JSON), -32600 (not a JSON-RPC request), -32601 (unknown method),
// -32602 (bad params, an unknown tool; bad tool arguments under 2025-06-18),
// -32603 (internal). A tool's own failure, and bad arguments under
// 2025-11-25 (SEP-1303), are a tool result with isError: true.
//
// Not thread-safe: a transport gives one server one message at a time.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mcp/tools.h"

namespace strata::mcp {

// Newest first.
inline const std::vector<std::string> kProtocolVersions = {"2025-11-25", "2025-06-18"};

// JSON-RPC 2.0 error codes.
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;

struct ServerOptions {
  ToolOptions tools;
  std::string server_version = "0.1.0";
  // The session's protocol version when the transport knows it already (HTTP:
  // the MCP-Protocol-Version header); else set by initialize.
  std::string protocol_version;
};

class McpServer {
 public:
  explicit McpServer(ServerOptions opts);

  // One JSON-RPC message. The response, or nullopt when none is due (a
  // notification, or a response from the client).
  std::optional<nlohmann::json> Handle(const nlohmann::json& message);
  // The same on text: a parse error is answered (-32700). "" when no answer is due.
  std::string HandleText(std::string_view text);

  // The version answered to a client asking for `requested`.
  static std::string Negotiate(const std::string& requested);
  static bool Supported(const std::string& version);
  const std::string& protocol_version() const { return protocol_version_; }
  bool initialized() const { return initialized_; }

  // A JSON-RPC error response.
  static nlohmann::json Error(const nlohmann::json& id, int code, const std::string& message);
  // `j` as one line of text; invalid UTF-8 is replaced, never thrown.
  static std::string Dump(const nlohmann::json& j);

 private:
  nlohmann::json Dispatch(const nlohmann::json& id, const std::string& method,
                          const nlohmann::json& params);
  nlohmann::json Initialize(const nlohmann::json& id, const nlohmann::json& params);
  nlohmann::json CallTool(const nlohmann::json& id, const nlohmann::json& params);

  const std::string server_version_;
  Tools tools_;
  std::string protocol_version_;
  bool initialized_ = false;
};

}  // namespace strata::mcp
