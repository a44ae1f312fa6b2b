#include "common/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

namespace strata {
namespace {

TEST(MetricsTest, RendersEveryTypeExactly) {
  Metrics m;
  m.AddCounter("strata_requests_total", "Requests served.");
  m.AddCounter("strata_errors_total", "Errors.");
  m.AddGauge("strata_cache_bytes", "Bytes in the cache.");
  m.AddHistogram("strata_latency_seconds", "Request latency.", {1, 0.25, 0.5});
  m.AddCollector([](Metrics& mm) { mm.Set("strata_cache_bytes", {}, 4096); });

  m.Inc("strata_errors_total");
  m.Inc("strata_errors_total", {}, 2);
  m.Inc("strata_requests_total", {{"method", "GET"}, {"code", "200"}});
  m.Inc("strata_requests_total", {{"code", "200"}, {"method", "GET"}});  // the same series
  m.Inc("strata_requests_total", {{"method", "POST"}, {"code", "201"}});
  // 0.25, 0.5 and 1 sit on bucket bounds: they count in that bucket (le).
  for (double v : {0.125, 0.25, 0.5, 0.75, 1.0, 2.0}) {
    m.Observe("strata_latency_seconds", {{"op", "read"}}, v);
  }

  EXPECT_EQ(m.Render(),
            "# HELP strata_cache_bytes Bytes in the cache.\n"
            "# TYPE strata_cache_bytes gauge\n"
            "strata_cache_bytes 4096\n"
            "# HELP strata_errors_total Errors.\n"
            "# TYPE strata_errors_total counter\n"
            "strata_errors_total 3\n"
            "# HELP strata_latency_seconds Request latency.\n"
            "# TYPE strata_latency_seconds histogram\n"
            "strata_latency_seconds_bucket{op=\"read\",le=\"0.25\"} 2\n"
            "strata_latency_seconds_bucket{op=\"read\",le=\"0.5\"} 3\n"
            "strata_latency_seconds_bucket{op=\"read\",le=\"1\"} 5\n"
            "strata_latency_seconds_bucket{op=\"read\",le=\"+Inf\"} 6\n"
            "strata_latency_seconds_sum{op=\"read\"} 4.625\n"
            "strata_latency_seconds_count{op=\"read\"} 6\n"
            "# HELP strata_requests_total Requests served.\n"
            "# TYPE strata_requests_total counter\n"
            "strata_requests_total{code=\"200\",method=\"GET\"} 2\n"
            "strata_requests_total{code=\"201\",method=\"POST\"} 1\n");
}

TEST(MetricsTest, FamilyWithoutSeriesAndHistogramWithoutLabels) {
  Metrics m;
  m.AddGauge("idle", "Never set.");
  m.AddHistogram("sizes", "No bounds but +Inf.", {});
  m.Observe("sizes", {}, 7);
  EXPECT_EQ(m.Render(),
            "# HELP idle Never set.\n"
            "# TYPE idle gauge\n"
            "# HELP sizes No bounds but +Inf.\n"
            "# TYPE sizes histogram\n"
            "sizes_bucket{le=\"+Inf\"} 1\n"
            "sizes_sum 7\n"
            "sizes_count 1\n");
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Metrics m;
  m.AddGauge("g", "a \\ backslash\nand \"quotes\"");
  m.Set("g", {{"path", "C:\\dir\n\"x\""}}, 1);
  EXPECT_EQ(m.Render(),
            "# HELP g a \\\\ backslash\\nand \"quotes\"\n"
            "# TYPE g gauge\n"
            "g{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n");
}

TEST(MetricsTest, FormatsValues) {
  Metrics m;
  m.AddGauge("g", "h");
  m.Set("g", {{"v", "a"}}, 0.1);
  m.Set("g", {{"v", "b"}}, 1e6);
  m.Set("g", {{"v", "c"}}, -2.5);
  m.Set("g", {{"v", "d"}}, std::numeric_limits<double>::quiet_NaN());
  m.Set("g", {{"v", "e"}}, std::numeric_limits<double>::infinity());
  m.Set("g", {{"v", "f"}}, 1e300);
  m.Inc("g", {{"v", "b"}}, -1);  // gauges may go down
  EXPECT_EQ(m.Render(),
            "# HELP g h\n"
            "# TYPE g gauge\n"
            "g{v=\"a\"} 0.1\n"
            "g{v=\"b\"} 999999\n"
            "g{v=\"c\"} -2.5\n"
            "g{v=\"d\"} NaN\n"
            "g{v=\"e\"} +Inf\n"
            "g{v=\"f\"} 1e+300\n");
}

TEST(MetricsTest, ConcurrentIncSumsExactly) {
  Metrics m;
  m.AddCounter("c", "h");
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; t++) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < 10000; i++) {
        m.Inc("c");
        m.Inc("c", {{"thread", t % 2 ? "odd" : "even"}});
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(m.Render(),
            "# HELP c h\n"
            "# TYPE c counter\n"
            "c 80000\n"
            "c{thread=\"even\"} 40000\n"
            "c{thread=\"odd\"} 40000\n");
}

TEST(MetricsTest, MisuseIsIgnored) {
  Metrics m;
  m.AddCounter("c", "counter");
  m.AddGauge("g", "gauge");
  m.AddHistogram("h", "histogram", {1});
  m.AddCounter("1bad", "bad name");
  m.AddCounter("bad-name", "bad name");
  m.AddGauge("c", "redeclared with another type");
  m.AddCounter("c", "redeclared: the first help stays");

  m.Inc("undeclared");
  m.Set("undeclared", {}, 1);
  m.Observe("undeclared", {}, 1);
  m.Set("c", {}, 5);      // Set on a counter
  m.Observe("g", {}, 1);  // Observe on a gauge
  m.Inc("h");             // Inc on a histogram
  m.Inc("c", {}, -1);     // counters only go up
  m.Inc("c", {}, std::nan(""));
  m.Observe("h", {}, std::nan(""));
  m.Inc("c", {{"bad-label", "x"}});
  m.Inc("c", {{"__reserved", "x"}});
  m.Inc("c", {{"a", "1"}, {"a", "2"}});
  m.Observe("h", {{"le", "1"}}, 1);
  m.Inc("c", {}, 1);
  m.Inc("c", {}, 1);  // the same misuse again: logged once, still ignored
  m.Set("c", {}, 5);

  EXPECT_EQ(m.Render(),
            "# HELP c counter\n"
            "# TYPE c counter\n"
            "c 2\n"
            "# HELP g gauge\n"
            "# TYPE g gauge\n"
            "# HELP h histogram\n"
            "# TYPE h histogram\n");
}

TEST(MetricsTest, TotalsAndWholeHistogramsComeFromElsewhere) {
  Metrics m;
  m.AddCounter("passes_total", "Passes.");
  m.AddHistogram("sources", "Sources per read.", {1, 2, 4});
  m.AddGauge("g", "gauge");
  m.SetTotal("passes_total", {}, 7);
  m.SetTotal("passes_total", {}, 3);  // a counter never goes down: ignored
  m.SetTotal("g", {}, 1);             // not a counter: ignored
  m.SetHistogram("sources", {}, {5, 0, 2}, 20, 9);
  m.SetHistogram("sources", {{"x", "1"}}, {1, 1}, 2, 2);     // too few buckets: ignored
  m.SetHistogram("sources", {{"x", "2"}}, {5, 5, 5}, 2, 2);  // more in buckets than count
  EXPECT_EQ(m.Render(),
            "# HELP g gauge\n"
            "# TYPE g gauge\n"
            "# HELP passes_total Passes.\n"
            "# TYPE passes_total counter\n"
            "passes_total 7\n"
            "# HELP sources Sources per read.\n"
            "# TYPE sources histogram\n"
            "sources_bucket{le=\"1\"} 5\n"
            "sources_bucket{le=\"2\"} 5\n"
            "sources_bucket{le=\"4\"} 7\n"
            "sources_bucket{le=\"+Inf\"} 9\n"
            "sources_sum 20\n"
            "sources_count 9\n");
}

TEST(MetricsTest, CollectorsRunAtEveryRender) {
  Metrics m;
  m.AddGauge("calls", "Renders so far.");
  int calls = 0;
  m.AddCollector([&calls](Metrics& mm) { mm.Set("calls", {}, ++calls); });
  m.Render();
  EXPECT_NE(m.Render().find("\ncalls 2\n"), std::string::npos);
}

}  // namespace
}  // namespace strata
