#include "common/process.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace strata {

std::string Hostname() {
  char buf[256] = "";
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown-host";
  return buf;
}

bool ProcessRuns(int64_t pid) {
  if (pid <= 0 || pid > INT32_MAX) return false;
  return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

}  // namespace strata
