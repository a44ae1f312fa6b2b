// Gauges for GET /metrics taken from the daemon's live state at scrape time:
// the cache tiers (l1, l2, l3), the op log and its shipping to a walsink
// (sink lag), branches, credentials and the proxy (docs/api.md, "Status and metrics").
#pragma once

#include "api/api.h"
#include "common/metrics.h"

namespace strata {

// Registers a collector reading `ctx` (which must outlive `metrics`).
void AddStatusMetrics(Metrics* metrics, const ApiContext& ctx);

}  // namespace strata
