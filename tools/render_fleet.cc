// Rendering of endpoints, credentials and owners (render_fleet.h).
#include "tools/render_fleet.h"

#include <cstdint>

#include "tools/cli_format.h"
#include "tools/render.h"

namespace strata::cli {

namespace {

const nlohmann::json& ArrayOrEmpty(const nlohmann::json& j) {
  static const nlohmann::json kEmpty = nlohmann::json::array();
  return j.is_array() ? j : kEmpty;
}

// "N of LIMIT" or "N (no limit)"; `size` renders both as HumanSize.
std::string Usage(const nlohmann::json& owner, const char* used_key, const char* limit_key,
                  bool size) {
  std::string used = size ? SizeCell(owner, used_key) : Cell(owner, used_key);
  const nlohmann::json* quota = Field(owner, "quota");
  const nlohmann::json* limit = quota ? Field(*quota, limit_key) : nullptr;
  if (limit == nullptr || !limit->is_number_integer()) return used;
  if (limit->get<int64_t>() < 0) return used + " (no limit)";
  return used + " of " + (size ? SizeCell(*quota, limit_key) : Cell(*quota, limit_key));
}

}  // namespace

std::string DescribeEndpoint(const nlohmann::json& e) {
  std::string out = "endpoint " + Cell(e, "branch") + ": " + Cell(e, "state");
  if (Field(e, "pid")) out += ", pid " + Cell(e, "pid");
  if (Cell(e, "state") != "suspended") out += ", " + Cell(e, "connections") + " connections";
  out += ", idle timeout " + DurationCell(e, "idle_timeout_seconds");
  if (Field(e, "last_error")) out += "; last error: " + Cell(e, "last_error");
  return out;
}

std::string RenderEndpointDetail(const nlohmann::json& e) {
  std::string last_start = Cell(e, "last_start_ms");
  if (last_start != "-") last_start += " ms";
  return KeyValues({
      {"branch", Cell(e, "branch")},
      {"state", Cell(e, "state")},
      {"pid", Cell(e, "pid")},
      {"connections", Cell(e, "connections")},
      {"idle timeout", DurationCell(e, "idle_timeout_seconds")},
      {"started", Cell(e, "started")},
      {"last active", Cell(e, "last_active")},
      {"starts", Cell(e, "starts")},
      {"last start took", last_start},
      {"last error", Cell(e, "last_error")},
  });
}

std::string RenderEndpointTable(const nlohmann::json& endpoints) {
  Table t({{"BRANCH"},
           {"STATE"},
           {"PID", true},
           {"CONNECTIONS", true},
           {"IDLE_TIMEOUT", true},
           {"STARTS", true},
           {"LAST_ACTIVE"},
           {"LAST_ERROR"}});
  for (const auto& e : ArrayOrEmpty(endpoints)) {
    t.AddRow({Cell(e, "branch"), Cell(e, "state"), Cell(e, "pid"), Cell(e, "connections"),
              DurationCell(e, "idle_timeout_seconds"), Cell(e, "starts"), Cell(e, "last_active"),
              Cell(e, "last_error")});
  }
  return t.Render();
}

std::string RenderNodeTable(const nlohmann::json& nodes) {
  Table t({{"NODE"},
           {"STATE"},
           {"HOST"},
           {"PID", true},
           {"PROXY"},
           {"API"},
           {"BRANCHES", true},
           {"SERVERS", true},
           {"HEARTBEAT"}});
  for (const auto& n : ArrayOrEmpty(nodes)) {
    std::string state = n.value("alive", false) ? "alive" : "dead";
    if (n.value("here", false)) state += " (here)";
    const nlohmann::json load = n.value("load", nlohmann::json::object());
    t.AddRow({Cell(n, "id"), state, Cell(n, "host"), Cell(n, "pid"), Cell(n, "proxy"),
              Cell(n, "api"), Cell(load, "branches_held"), Cell(load, "endpoints_running"),
              Cell(n, "heartbeat")});
  }
  return t.Render();
}

std::string RenderCredentialIssued(const nlohmann::json& c) {
  std::string uri =
      Field(c, "uri") ? Cell(c, "uri") : "none: the mount has no proxy (strata mount --proxy)";
  return KeyValues({
             {"user", Cell(c, "user")},
             {"password", Cell(c, "password")},
             {"branch", Cell(c, "branch")},
             {"role", Cell(c, "role")},
             {"expires", ExpiryCell(c)},
             {"uri", uri},
         }) +
         "\nThe password is shown only this once: the daemon keeps only a verifier of it.\n"
         "Revoke it with 'strata credential revoke " +
         Cell(c, "id") + "'.\n";
}

std::string RenderCredentialTable(const nlohmann::json& credentials) {
  Table t({{"ID"}, {"ROLE"}, {"CREATED"}, {"EXPIRES"}});
  for (const auto& c : ArrayOrEmpty(credentials)) {
    t.AddRow({Cell(c, "id"), Cell(c, "role"), Cell(c, "created"), ExpiryCell(c)});
  }
  return t.Render();
}

std::string RenderTokenIssued(const nlohmann::json& t) {
  return KeyValues({
             {"token", Cell(t, "token")},
             {"id", Cell(t, "id")},
             {"owner", Cell(t, "owner")},
             {"expires", ExpiryCell(t)},
         }) +
         "\nThe token is shown only this once: the daemon keeps only its SHA-256.\n"
         "Use it as 'Authorization: Bearer <token>'; revoke it with 'strata token revoke " +
         Cell(t, "id") + "'.\n";
}

std::string RenderTokenTable(const nlohmann::json& tokens) {
  Table t({{"ID"}, {"OWNER"}, {"STATE"}, {"CREATED"}, {"EXPIRES"}});
  for (const auto& k : ArrayOrEmpty(tokens)) {
    t.AddRow(
        {Cell(k, "id"), Cell(k, "owner"), Cell(k, "state"), Cell(k, "created"), ExpiryCell(k)});
  }
  return t.Render();
}

std::string RenderOwner(const nlohmann::json& o) {
  return KeyValues({
      {"owner", Cell(o, "owner")},
      {"branches", Usage(o, "branches", "max_branches", false)},
      {"bytes", Usage(o, "bytes", "max_bytes", true)},
  });
}

}  // namespace strata::cli
