// Test helper: a pid that names no running process.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>

namespace strata::testing {

// The pid of a process that has exited and been reaped.
inline int64_t DeadPid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status;
  waitpid(pid, &status, 0);
  return pid;
}

}  // namespace strata::testing
