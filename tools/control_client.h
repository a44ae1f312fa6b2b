// Client side of the control protocol (docs/control-protocol.md): finds the
// daemon serving a mount through MOUNT/.strata.sock, sends one JSON request
// line and reads one JSON answer line.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"

namespace strata::cli {

// Branch create may wait for a checkpoint or a flush: be generous.
inline constexpr std::chrono::milliseconds kDefaultControlTimeout = std::chrono::minutes(10);

// The mount to talk to: `flag` if non-empty, else $STRATA_MOUNT, else kInvalid
// "no mount given: pass --mount MOUNTPOINT or set STRATA_MOUNT".
Result<std::string> ResolveMountArg(const std::string& flag);

// The control socket path of the daemon serving `mount`, from
// readlink(MOUNT/.strata.sock); a relative target is taken relative to MOUNT.
// kUnavailable "no strata daemon serves MOUNT" when there is none.
Result<std::string> FindControlSocket(const std::string& mount);

// Maps a protocol error code ("not_found", "busy", ...) to a Code.
Code CodeFromWire(std::string_view code);

// Decodes one answer line: the `result` on {"ok": true}, or a Status carrying
// the daemon's `error` and `code` on {"ok": false}.
Result<nlohmann::json> ParseAnswer(std::string_view line);

class ControlClient {
 public:
  explicit ControlClient(std::string mount,
                         std::chrono::milliseconds timeout = kDefaultControlTimeout)
      : mount_(std::move(mount)), timeout_(timeout) {}

  // Sends `request` (an object with at least "op") and returns the result.
  Result<nlohmann::json> Call(const nlohmann::json& request) const;

  const std::string& mount() const { return mount_; }

 private:
  std::string mount_;
  std::chrono::milliseconds timeout_;
};

}  // namespace strata::cli
