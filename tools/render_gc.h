// Text rendering of the garbage collector's JSON objects (docs/api.md, "Compaction and GC"):
// the report of a pass (POST /v1/gc, GET /v1/gc's last_pass) and the
// collector's state (GET /v1/gc, status.gc). Missing or null fields show as
// "-", as in render.h.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace strata::cli {

// "freed SIZE in T (layers A -> B, store SIZE -> SIZE)[, N leaked objects
// deleted]" (`strata gc`).
std::string DescribeGcReport(const nlohmann::json& report);

// "gc: D/T branches[ (BRANCH)]" while a pass runs, else "" (the progress line
// of `strata gc` on a terminal).
std::string DescribeGcProgress(const nlohmann::json& gc);

// "on, every 1m, at most 64.0 MiB/s; N passes, SIZE freed[; running: D/T
// branches (BRANCH)]", or "off (...)" with --no-gc (the `gc` line of `status`).
std::string GcSummary(const nlohmann::json& gc);

// "TIME: " and the last pass's report, or "never" (the `last gc` line of `status`).
std::string LastGcPass(const nlohmann::json& gc);

}  // namespace strata::cli
