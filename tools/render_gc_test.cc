// Tests of the rendering of GC reports and of the collector's state.
#include "tools/render_gc.h"

#include <gtest/gtest.h>

namespace strata::cli {
namespace {

using nlohmann::json;

// A POST /v1/gc answer as docs/api.md describes it.
json Report() {
  return json::parse(R"({
    "branches": 3, "layers_before": 48, "layers_after": 12,
    "bytes_before": 1288490189, "bytes_after": 1162936320,
    "freed_bytes": 126353408, "rewritten_bytes": 52428800,
    "deleted_layers": 40, "written_layers": 4, "leaked_objects_deleted": 0,
    "elapsed_ms": 3240})");
}

// A GET /v1/gc answer.
json State() {
  json last = Report();
  last["finished"] = "2026-12-04T12:00:00Z";
  return {{"enabled", true},
          {"interval_ms", 60000},
          {"rate_bytes_per_second", 67108864},
          {"passes", 12},
          {"freed_bytes_total", 1288490189},
          {"running", nullptr},
          {"last_pass", last}};
}

TEST(RenderGcTest, Report) {
  EXPECT_EQ(DescribeGcReport(Report()),
            "freed 120.5 MiB in 3.2 s (layers 48 -> 12, store 1.2 GiB -> 1.1 GiB)");
  json r = Report();
  r["leaked_objects_deleted"] = 2;
  r["elapsed_ms"] = 45;
  r["freed_bytes"] = 0;
  EXPECT_EQ(DescribeGcReport(r),
            "freed 0 B in 45 ms (layers 48 -> 12, store 1.2 GiB -> 1.1 GiB), 2 leaked objects "
            "deleted");
  EXPECT_EQ(DescribeGcReport(json::object()), "freed - in - (layers - -> -, store - -> -)");
}

TEST(RenderGcTest, Progress) {
  json st = State();
  EXPECT_EQ(DescribeGcProgress(st), "");
  st["running"] = {{"branch", "main"}, {"done", 3}, {"total", 12}};
  EXPECT_EQ(DescribeGcProgress(st), "gc: 3/12 branches (main)");
  st["running"]["branch"] = nullptr;
  EXPECT_EQ(DescribeGcProgress(st), "gc: 3/12 branches");
  EXPECT_EQ(DescribeGcProgress(json::object()), "");
  EXPECT_EQ(DescribeGcProgress(json("not an object")), "");
}

TEST(RenderGcTest, SummaryAndLastPass) {
  json st = State();
  EXPECT_EQ(GcSummary(st), "on, every 1m, at most 64.0 MiB/s; 12 passes, 1.2 GiB freed");
  EXPECT_EQ(LastGcPass(st),
            "2026-12-04T12:00:00Z: freed 120.5 MiB in 3.2 s (layers 48 -> 12, store 1.2 GiB -> "
            "1.1 GiB)");
  st["enabled"] = false;
  st["running"] = {{"branch", "agent-1"}, {"done", 0}, {"total", 2}};
  st["last_pass"] = nullptr;
  EXPECT_EQ(GcSummary(st),
            "off (--no-gc: only 'strata gc' runs a pass); 12 passes, 1.2 GiB freed; running: 0/2 "
            "branches (agent-1)");
  EXPECT_EQ(LastGcPass(st), "never");
  st["enabled"] = true;
  st["interval_ms"] = 1500;
  EXPECT_EQ(GcSummary(st).rfind("on, every 1.5 s, ", 0), 0u) << GcSummary(st);
}

TEST(RenderGcTest, ToleratesMissingFields) {
  EXPECT_EQ(GcSummary(json::object()), "-; - passes, - freed");
  EXPECT_EQ(GcSummary(json({{"enabled", true}})), "on, every -, at most -/s; - passes, - freed");
  EXPECT_EQ(LastGcPass(json::object()), "never");
}

}  // namespace
}  // namespace strata::cli
