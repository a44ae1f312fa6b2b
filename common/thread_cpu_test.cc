#include "common/thread_cpu.h"

#include <gtest/gtest.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace strata {
namespace {

uint64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000 + static_cast<uint64_t>(ts.tv_nsec);
}

// Spins until the calling thread has used `ms` of CPU (however loaded the
// machine is).
void Burn(int ms) {
  const uint64_t until = ThreadCpuNs() + static_cast<uint64_t>(ms) * 1000000;
  volatile uint64_t x = 0;
  while (ThreadCpuNs() < until) x = x + 1;
}

TEST(ThreadCpuTest, SumsLiveThreadsByName) {
  std::atomic<bool> stop{false};
  std::atomic<int> ready{0};
  auto worker = [&] {
    Burn(50);
    ready++;
    while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  std::thread a = NamedThread("cpu-test-workers", worker);  // 16 bytes
  std::thread b = NamedThread("cpu-test-workers", worker);
  while (ready < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const ProcessCpu cpu = ReadProcessCpu();
  stop = true;
  a.join();
  b.join();
  // The name is cut to the kernel's 15 bytes; both threads land in one sum.
  ASSERT_EQ(cpu.by_thread_ns.count("cpu-test-workers"), 0u);
  ASSERT_EQ(cpu.by_thread_ns.count("cpu-test-worker"), 1u);
  EXPECT_GE(cpu.by_thread_ns.at("cpu-test-worker"), 2 * 50'000'000u);
  EXPECT_GE(cpu.total_ns, cpu.by_thread_ns.at("cpu-test-worker") / 2);
}

TEST(ThreadCpuTest, ProcessTotalGrowsWithWork) {
  const uint64_t before = ReadProcessCpu().total_ns;
  Burn(100);
  const uint64_t after = ReadProcessCpu().total_ns;
  EXPECT_GE(after, before + 50'000'000u);  // clock ticks are 10 ms
}

}  // namespace
}  // namespace strata
