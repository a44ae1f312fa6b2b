// Thread names and CPU time per thread role.
//
// The daemon names its threads by role ("strata-fuse", "strata-flush", ...;
// at most 15 bytes, the kernel's limit). ProcessCpu sums the CPU time of the
// live threads of this process by name, from /proc/self/task/*/schedstat
// (nanoseconds on the CPU), so that `strata status` and /metrics can say
// where the daemon's CPU goes: answering FUSE requests, flushing memtables,
// shipping the op log, the proxy. The process total (/proc/self/stat, user +
// system) also counts threads that have exited.
//
// Thread-safety: every function may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <utility>

namespace strata {

inline constexpr char kFuseThreadName[] = "strata-fuse";

// Names the calling thread (cut to 15 bytes); failures are ignored.
void SetThreadName(const std::string& name);

// A thread that names itself `name`, then runs `fn`.
template <class F>
std::thread NamedThread(std::string name, F&& fn) {
  return std::thread([name = std::move(name), fn = std::forward<F>(fn)]() mutable {
    SetThreadName(name);
    fn();
  });
}

struct ProcessCpu {
  uint64_t total_ns = 0;  // user + system of the whole process, exited threads included
  std::map<std::string, uint64_t> by_thread_ns;  // live threads, summed by name
};

// This process's CPU time now; empty (zeros) where /proc cannot be read.
ProcessCpu ReadProcessCpu();

}  // namespace strata
