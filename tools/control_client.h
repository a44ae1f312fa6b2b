// Client side of the daemon's control API (docs/api.md): finds the daemon
// serving a mount through MOUNT/.strata.sock and sends it HTTP requests with
// JSON bodies over that unix socket (CACHE_DIR/control.sock), with libcurl.
// The unix socket needs no token: its file permissions admit the caller.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"

namespace strata::cli {

// Branch create may wait for a checkpoint, an initdb or a flush: be generous.
inline constexpr std::chrono::milliseconds kDefaultControlTimeout = std::chrono::minutes(10);
// A GC pass or a detach rewrites data at a bounded rate: wait for as long as it takes.
inline constexpr std::chrono::milliseconds kLongControlTimeout = std::chrono::hours(24);

// The mount to talk to: `flag` if non-empty, else $STRATA_MOUNT, else kInvalid
// "no mount given: pass --mount MOUNTPOINT or set STRATA_MOUNT".
Result<std::string> ResolveMountArg(const std::string& flag);

// The control socket path of the daemon serving `mount`, from
// readlink(MOUNT/.strata.sock); a relative target is taken relative to MOUNT.
// kUnavailable "no strata daemon serves MOUNT" when there is none.
Result<std::string> FindControlSocket(const std::string& mount);

// Maps an API error code ("not_found", "busy", "quota", ...) to a Code;
// unknown codes are kIO.
Code CodeFromWire(std::string_view code);

// Decodes one HTTP answer. 2xx: the JSON body (null for an empty body; kIO if
// it is not JSON). Otherwise a Status with the body's "code" (CodeFromWire)
// and "error" (on one line: OneLine); a body that is not such an object gives kIO "the daemon
// answered HTTP <n>: <its first line>".
Result<nlohmann::json> DecodeResponse(long http_status, std::string_view body);

// One path segment percent-encoded: RFC 3986 unreserved characters
// (A-Z a-z 0-9 - . _ ~) as they are, every other byte as %XX.
std::string PathSegment(std::string_view segment);

class ControlClient {
 public:
  explicit ControlClient(std::string mount,
                         std::chrono::milliseconds timeout = kDefaultControlTimeout)
      : mount_(std::move(mount)), timeout_(timeout) {}

  // Sends `method` `path` ("/v1/branches", segments already encoded with
  // PathSegment) with `body` as JSON (none if null) and decodes the answer
  // (DecodeResponse). kUnavailable "no strata daemon serves MOUNT" when
  // nothing listens.
  Result<nlohmann::json> Call(const std::string& method, const std::string& path,
                              const nlohmann::json& body = nullptr) const;

  // A client of the daemon whose control socket is CACHE_DIR/control.sock
  // (strata mcp --cache-dir); its messages name the cache directory.
  static ControlClient ForCacheDir(const std::string& cache_dir,
                                   std::chrono::milliseconds timeout = kDefaultControlTimeout);

  const std::string& mount() const { return mount_; }

 private:
  std::string mount_;
  std::string socket_path_;  // "": found through MOUNT/.strata.sock
  std::chrono::milliseconds timeout_;
};

}  // namespace strata::cli
