// Talking to a branch's own postgres from the daemon, for the diff
// (docs/diff.md): SQL queries through libpq on the server's unix socket, and
// programs (pg_dump, diff) run to an output file.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace strata {

using PgRows = std::vector<std::vector<std::string>>;  // NULL reads as ""

// Runs `sql` (no parameters) in database `dbname` of the server listening on
// `socket_path` (".../.s.PGSQL.<port>"), as `user`. kUnavailable with
// libpq's message on one line when it cannot connect or the query fails.
Result<PgRows> PgQuery(const std::string& socket_path, const std::string& user,
                       const std::string& dbname, const std::string& sql);

// The host (directory) and port parts of a socket path.
std::string SocketDir(const std::string& socket_path);
std::string SocketPort(const std::string& socket_path);

// Runs argv (argv[0] absolute) as `run_as` ("" for ourselves), stdin from
// /dev/null, stdout and stderr into `out_path` (created, truncated); returns
// the exit status (0.., or kIO when it died by a signal).
Result<int> RunToFile(const std::vector<std::string>& argv, const std::string& run_as,
                      const std::string& out_path);

}  // namespace strata
