// Gauges for GET /metrics taken from the daemon's live state at scrape time:
// the cache tiers (l1, l2, l3), the op log and its shipping to a walsink
// (sink lag), branches, credentials, the proxy, FUSE requests per opcode and
// CPU time per thread role (docs/api.md, "Status and metrics").
#pragma once

#include <nlohmann/json.hpp>

#include "api/api.h"
#include "common/metrics.h"
#include "common/thread_cpu.h"

namespace strata {

// {"total_seconds": ..., "threads": {"strata-fuse": seconds, ...}}: the
// `cpu` object of GET /v1/status.
nlohmann::json CpuJson(const ProcessCpu& cpu);

// Registers a collector reading `ctx` (which must outlive `metrics`).
void AddStatusMetrics(Metrics* metrics, const ApiContext& ctx);

}  // namespace strata
