// The stdio transport of MCP: newline-delimited JSON-RPC messages on `in`,
// answers on `out`, one per line, flushed at once; nothing else is ever
// written to `out` (logs go to stderr). Returns at end of input.
#pragma once

#include <iosfwd>

#include "mcp/mcp_server.h"

namespace strata::mcp {

void ServeStdio(McpServer& server, std::istream& in, std::ostream& out);

}  // namespace strata::mcp
