// `strata mcp`: an MCP server on stdin/stdout for a local agent (docs/mcp.md),
// whose tools call the daemon serving a mount over its control socket.
#pragma once

#include <iosfwd>
#include <string>

#include "common/status.h"
#include "mcp/backend.h"
#include "tools/control_client.h"

namespace strata::cli {

struct McpArgs {
  std::string mount;              // --mount; empty: $STRATA_MOUNT (unless cache_dir)
  std::string cache_dir;          // --cache-dir: the daemon's CACHE_DIR/control.sock
  std::string owner;              // --owner: the session's owner scope; "": none
  std::string version = "0.1.0";  // serverInfo.version
};

// Control-API calls over `client`: an error becomes HTTP 400 with the
// {"code", "error"} the daemon sent (the message is what the tools report).
mcp::Backend ControlBackend(ControlClient client);

// Serves MCP on `in`/`out` until end of input. kInvalid for bad flags (no
// mount, both --mount and --cache-dir, a bad owner); a daemon that does not
// answer yet is only a warning on stderr (the tools then fail one by one).
Status RunMcp(const McpArgs& args, std::istream& in, std::ostream& out);

}  // namespace strata::cli
