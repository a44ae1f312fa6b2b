// LocalSql: a session on a server the daemon runs, through its unix socket,
// for the daemon's own housekeeping (the CHECKPOINT before a fork,
// docs/postgres.md). The endpoints' hba trusts local connections; any other
// authentication request is an error. Simple query protocol: a statement's
// answer is the first column of its first row ("" if none or NULL).
#pragma once

#include <chrono>
#include <string>

#include "common/fd_util.h"
#include "common/status.h"

namespace strata {

class LocalSql {
 public:
  // kUnavailable if it cannot connect; every call fails with kUnavailable
  // once `timeout` (from Connect) has passed.
  Status Connect(const std::string& socket_path, const std::string& user,
                 std::chrono::milliseconds timeout);
  // kIO with the server's message if the statement fails.
  Result<std::string> Query(const std::string& sql);
  ~LocalSql();  // ends the session

 private:
  UniqueFd fd_;
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace strata
