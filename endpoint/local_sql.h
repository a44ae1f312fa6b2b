// RunLocalSql: one statement on a server the daemon runs, through its unix
// socket, for the daemon's own housekeeping (the CHECKPOINT before a fork,
// docs/postgres.md). The endpoints' hba trusts local connections; any other
// authentication request is an error. Simple query protocol; the rows, if
// any, are dropped.
#pragma once

#include <chrono>
#include <string>

#include "common/status.h"

namespace strata {

// kUnavailable if it cannot connect or `timeout` passes; kIO with the
// server's message if the statement fails.
Status RunLocalSql(const std::string& socket_path, const std::string& user, const std::string& sql,
                   std::chrono::milliseconds timeout);

}  // namespace strata
