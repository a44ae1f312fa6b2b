// GetSettled: a Get that waits out a record caught mid-write.
//
// A server without atomic PUT (s3rver) can show an overwritten record
// half-written for a moment, so readers of the small JSON records of this
// folder re-read one that does not decode before calling it corrupt.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"
#include "objstore/object_store.h"

namespace strata::cluster_internal {

// Re-reads after a pause of kSettlePause, kSettleRetries times at most.
inline constexpr int kSettleRetries = 3;
inline constexpr std::chrono::milliseconds kSettlePause{50};

// The object at `key`, re-read (pausing on `clock`) while `whole` says its text
// is not whole. Returns the last text read even if it never became whole (the
// caller names it corrupt); store errors, kNotFound included, as they come.
Result<std::string> GetSettled(ObjectStore* store, const std::string& key, Clock* clock,
                               const std::function<bool(std::string_view)>& whole);

}  // namespace strata::cluster_internal
