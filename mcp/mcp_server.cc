#include "mcp/mcp_server.h"

#include <algorithm>

#include "mcp/schema.h"

namespace strata::mcp {

namespace {

using json = nlohmann::json;

constexpr const char* kInstructions =
    "strata gives you PostgreSQL databases as branches: create one (create_branch with "
    "initdb), fork any branch in constant time (create_branch with from, optionally at a "
    "snapshot, seq:N or time:RFC3339), run SQL on it (run_sql: read-only unless read_only is "
    "false), see what changed (diff_branch), then keep the work (promote_branch) or throw it "
    "away (delete_branch, reset_branch). get_connection_string gives a postgresql:// URI for "
    "other clients. Branch names: 1-63 letters, digits, '-' or '_'.";

json Ok(const json& id, json result) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

json ToolResult(const std::string& text, bool is_error) {
  return {{"content", json::array({{{"type", "text"}, {"text", text}}})}, {"isError", is_error}};
}

bool ValidId(const json& id) { return id.is_string() || id.is_number_integer(); }

}  // namespace

McpServer::McpServer(ServerOptions opts)
    : server_version_(std::move(opts.server_version)),
      tools_(std::move(opts.tools)),
      protocol_version_(std::move(opts.protocol_version)) {}

bool McpServer::Supported(const std::string& version) {
  return std::find(kProtocolVersions.begin(), kProtocolVersions.end(), version) !=
         kProtocolVersions.end();
}

std::string McpServer::Negotiate(const std::string& requested) {
  return Supported(requested) ? requested : kProtocolVersions.front();
}

json McpServer::Error(const json& id, int code, const std::string& message) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}};
}

std::string McpServer::Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string McpServer::HandleText(std::string_view text) {
  json msg = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (msg.is_discarded()) return Dump(Error(nullptr, kParseError, "Parse error: not JSON"));
  std::optional<json> answer = Handle(msg);
  return answer ? Dump(*answer) : std::string();
}

std::optional<json> McpServer::Handle(const json& msg) {
  if (msg.is_array()) {
    return Error(nullptr, kInvalidRequest,
                 "Invalid Request: JSON-RPC batches are not supported (MCP 2025-06-18 and later)");
  }
  if (!msg.is_object() || msg.value("jsonrpc", json()) != "2.0") {
    return Error(nullptr, kInvalidRequest, "Invalid Request: not a JSON-RPC 2.0 message");
  }
  const bool has_id = msg.contains("id");
  const json id = has_id ? msg["id"] : json();
  if (!msg.contains("method")) {
    if (has_id && (msg.contains("result") || msg.contains("error"))) return std::nullopt;
    return Error(ValidId(id) ? id : json(), kInvalidRequest, "Invalid Request: no method");
  }
  if (!msg["method"].is_string() || (has_id && !ValidId(id))) {
    return Error(ValidId(id) ? id : json(), kInvalidRequest,
                 "Invalid Request: method must be a string and id a string or an integer");
  }
  const std::string method = msg["method"].get<std::string>();
  const json params = msg.value("params", json::object());
  if (!has_id) {  // a notification: never answered
    if (method == "notifications/initialized") initialized_ = true;
    return std::nullopt;
  }
  if (!params.is_object()) return Error(id, kInvalidParams, "Invalid params: not an object");
  try {
    return Dispatch(id, method, params);
  } catch (const std::exception& e) {
    return Error(id, kInternalError, std::string("Internal error: ") + e.what());
  }
}

json McpServer::Dispatch(const json& id, const std::string& method, const json& params) {
  if (method == "initialize") return Initialize(id, params);
  if (method == "ping") return Ok(id, json::object());
  if (method == "tools/list") return Ok(id, {{"tools", Tools::List()}});
  if (method == "tools/call") return CallTool(id, params);
  return Error(id, kMethodNotFound, "Method not found: " + method);
}

json McpServer::Initialize(const json& id, const json& params) {
  if (!params.contains("protocolVersion") || !params["protocolVersion"].is_string()) {
    return Error(id, kInvalidParams, "Invalid params: initialize needs a protocolVersion string");
  }
  protocol_version_ = Negotiate(params["protocolVersion"].get<std::string>());
  return Ok(
      id, {{"protocolVersion", protocol_version_},
           {"capabilities", {{"tools", {{"listChanged", false}}}}},
           {"serverInfo", {{"name", "strata"}, {"title", "strata"}, {"version", server_version_}}},
           {"instructions", kInstructions}});
}

json McpServer::CallTool(const json& id, const json& params) {
  if (!params.contains("name") || !params["name"].is_string()) {
    return Error(id, kInvalidParams, "Invalid params: tools/call needs a tool name");
  }
  const std::string name = params["name"].get<std::string>();
  if (!Tools::Exists(name)) return Error(id, kInvalidParams, "Unknown tool: " + name);
  const json args = params.value("arguments", json());
  if (Status st = ValidateArguments(Tools::Schema(name), args); !st.ok()) {
    const std::string msg = name + ": " + st.message();
    // 2025-06-18 lists invalid arguments among the protocol errors; 2025-11-25
    // makes them tool errors, so the model sees them and can correct itself.
    if (protocol_version_ == "2025-06-18") {
      return Error(id, kInvalidParams, "Invalid params: " + msg);
    }
    return Ok(id, ToolResult(msg, true));
  }
  Result<ToolOutput> out = tools_.Call(name, args);
  if (!out.ok()) return Ok(id, ToolResult(out.status().message(), true));
  json result = ToolResult(out->text, false);
  result["structuredContent"] = std::move(out->structured);
  return Ok(id, std::move(result));
}

}  // namespace strata::mcp
