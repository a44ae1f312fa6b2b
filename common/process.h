// This machine and its processes, for the records that name who holds
// something (the node registry).
#pragma once

#include <cstdint>
#include <string>

namespace strata {

// gethostname(2), or "unknown-host".
std::string Hostname();
// Whether `pid` names a running process on this machine (one of another
// user's counts: kill(2) says EPERM).
bool ProcessRuns(int64_t pid);

}  // namespace strata
