// A long control API call with a progress line: the call runs in another
// thread while this one polls the daemon for its state and writes one line,
// overwritten in place, to a terminal (`strata gc`).
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "common/status.h"

namespace strata::cli {

using JsonCall = std::function<Result<nlohmann::json>()>;

struct ProgressPoll {
  JsonCall poll;  // the state, e.g. GET /v1/gc
  // The line for a state; "" shows none (nothing is running).
  std::function<std::string(const nlohmann::json&)> describe;
  std::chrono::milliseconds interval{500};
};

// The result of `call`. With `progress` (a terminal), every p.interval while
// `call` runs: p.poll and, when its line changed, "\r\033[K" LINE on
// `progress`; the line is erased when `call` returns. A failed poll (an older
// daemon without that route) ends the polling quietly. Without `progress`:
// just `call`.
Result<nlohmann::json> CallWithProgress(const JsonCall& call, const ProgressPoll& p,
                                        std::ostream* progress);

}  // namespace strata::cli
