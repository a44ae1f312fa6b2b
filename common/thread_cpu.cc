#include "common/thread_cpu.h"

#include <dirent.h>
#include <pthread.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string_view>

namespace strata {

namespace {

// The first line of a file, without its newline; "" if it cannot be read.
std::string FirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// user + system time of /proc/self/stat, in nanoseconds. The fields after
// the command name (which may hold spaces, so it is skipped to its last
// ')') are: state ppid pgrp session tty tpgid flags minflt cminflt majflt
// cmajflt utime stime.
uint64_t ProcessTotalNs() {
  const std::string stat = FirstLine("/proc/self/stat");
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 1));
  std::string skip;
  for (int i = 0; i < 11; i++) fields >> skip;
  uint64_t utime = 0, stime = 0;
  fields >> utime >> stime;
  const long hz = sysconf(_SC_CLK_TCK);
  if (!fields || hz <= 0) return 0;
  return (utime + stime) * (1000000000 / static_cast<uint64_t>(hz));
}

}  // namespace

void SetThreadName(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

ProcessCpu ReadProcessCpu() {
  ProcessCpu out;
  out.total_ns = ProcessTotalNs();
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return out;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const std::string task = std::string("/proc/self/task/") + e->d_name;
    // schedstat: "<ns on cpu> <ns waiting> <timeslices>"
    std::istringstream sched(FirstLine(task + "/schedstat"));
    uint64_t on_cpu = 0;
    if (!(sched >> on_cpu)) continue;  // the thread exited meanwhile
    out.by_thread_ns[FirstLine(task + "/comm")] += on_cpu;
  }
  closedir(dir);
  return out;
}

}  // namespace strata
