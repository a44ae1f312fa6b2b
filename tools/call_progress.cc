// A call in another thread, polled for progress (call_progress.h).
#include "tools/call_progress.h"

#include <future>

namespace strata::cli {

namespace {

constexpr const char* kEraseLine = "\r\033[K";

// Polls until `done` is ready or a poll fails; shows each new line.
void ShowProgress(const std::future<Result<nlohmann::json>>& done, const ProgressPoll& p,
                  std::ostream& out) {
  std::string shown;
  while (done.wait_for(p.interval) != std::future_status::ready) {
    Result<nlohmann::json> state = p.poll();
    if (!state.ok()) break;
    std::string line = p.describe(*state);
    if (line == shown) continue;
    out << kEraseLine << line << std::flush;
    shown = line;
  }
  if (!shown.empty()) out << kEraseLine << std::flush;
}

}  // namespace

Result<nlohmann::json> CallWithProgress(const JsonCall& call, const ProgressPoll& p,
                                        std::ostream* progress) {
  if (progress == nullptr) return call();
  std::future<Result<nlohmann::json>> done = std::async(std::launch::async, call);
  ShowProgress(done, p, *progress);
  return done.get();
}

}  // namespace strata::cli
