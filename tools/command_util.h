// Helpers shared by the daemon commands (commands.cc, fleet_commands.cc):
// one API call on the mount the arguments name, and printing a result.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>

#include "common/status.h"
#include "tools/commands.h"
#include "tools/control_client.h"

namespace strata::cli {

// body["ttl_seconds"] or body["expires_at"] from --ttl / --expires-at (at
// most one; commands.cc).
Status AddExpiry(const std::optional<std::string>& ttl, const std::optional<std::string>& at,
                 nlohmann::json* body);

// `method` `path` on the daemon serving args.mount (or $STRATA_MOUNT).
inline Result<nlohmann::json> CallDaemon(
    const DaemonArgs& args, const std::string& method, const std::string& path,
    const nlohmann::json& body = nullptr,
    std::chrono::milliseconds timeout = kDefaultControlTimeout) {
  STRATA_ASSIGN_OR_RETURN(std::string mount, ResolveMountArg(args.mount));
  return ControlClient(mount, timeout).Call(method, path, body);
}

// With --json the daemon's answer (2-space indent), else `human` as is.
inline void PrintResult(const DaemonArgs& args, const nlohmann::json& result,
                        const std::string& human, std::ostream& out) {
  if (args.json) {
    out << result.dump(2) << "\n";
  } else {
    out << human;
  }
}

}  // namespace strata::cli
