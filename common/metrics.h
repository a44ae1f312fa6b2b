// Metrics: a small Prometheus registry rendered in the text exposition
// format 0.0.4 (serve Render() with kPrometheusContentType).
//
// A family (counter, gauge or histogram) is declared once by name; its
// series are created on first update, one per label set. Labels are a set:
// the order they are given in does not matter (they are kept sorted by
// name). Families are rendered sorted by name, series by label set; a family
// without series still gets its # HELP and # TYPE lines.
//
// Misuse is a programming error that must not take the daemon down: an
// undeclared name, an update of the wrong type, a bad metric or label name
// (label names: [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__"), a repeated label, "le" on a
// histogram, a negative or NaN counter increment or a NaN observation is logged once
// (spdlog::error) and ignored.
//
// Thread-safety: every method may be called from any thread. Collectors run
// at Render() time outside the registry's lock, so they may call Set; two
// concurrent Render() calls run them concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/mutex.h"

namespace strata {

inline constexpr char kPrometheusContentType[] = "text/plain; version=0.0.4; charset=utf-8";

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  // Declares a family once; later calls with the same name are no-ops (a
  // different type is logged). Names: [a-zA-Z_:][a-zA-Z0-9_:]*.
  void AddCounter(const std::string& name, const std::string& help) EXCLUDES(mu_);
  void AddGauge(const std::string& name, const std::string& help) EXCLUDES(mu_);
  // `buckets`: upper bounds (value <= bound), in any order; +Inf is implicit.
  void AddHistogram(const std::string& name, const std::string& help, std::vector<double> buckets)
      EXCLUDES(mu_);

  // Counters and gauges (a gauge may go down: `by` < 0).
  void Inc(const std::string& name, const MetricLabels& labels = {}, double by = 1) EXCLUDES(mu_);
  // Gauges.
  void Set(const std::string& name, const MetricLabels& labels, double value) EXCLUDES(mu_);
  // Histograms.
  void Observe(const std::string& name, const MetricLabels& labels, double value) EXCLUDES(mu_);

  // For collectors of totals kept elsewhere (the version store's counters):
  // a counter's total, which must not go down (a lower one is logged and
  // ignored), and a histogram's whole state: `per_bucket[i]` observations
  // <= the i-th declared bound and above the one before (not cumulative; one
  // entry per declared bound), and the count and sum of every observation.
  void SetTotal(const std::string& name, const MetricLabels& labels, double total) EXCLUDES(mu_);
  void SetHistogram(const std::string& name, const MetricLabels& labels,
                    const std::vector<uint64_t>& per_bucket, double sum, uint64_t count)
      EXCLUDES(mu_);

  // Runs at every Render(), before the text is made, to Set gauges from live state.
  void AddCollector(std::function<void(Metrics&)> collect) EXCLUDES(mu_);

  // The whole registry in the text exposition format.
  std::string Render() EXCLUDES(mu_);

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Series {
    double value = 0;                    // counters and gauges
    std::vector<uint64_t> bucket_count;  // histograms: per bucket, not cumulative
    double sum = 0;
    uint64_t count = 0;
  };
  struct Family {
    Type type;
    std::string help;
    std::vector<double> buckets;  // sorted, finite
    std::map<MetricLabels, Series> series;
  };

  void Add(const std::string& name, Type type, const std::string& help, std::vector<double> buckets)
      EXCLUDES(mu_);
  // The family `name`, or nullptr (logged) if it was not declared. `op` names the update.
  Family* Find(const std::string& name, const char* op) REQUIRES(mu_);
  // The series for `labels` in `family`, created on first use; nullptr for bad labels.
  Series* SeriesFor(const std::string& name, Family& family, const MetricLabels& labels)
      REQUIRES(mu_);
  void LogOnce(const std::string& message) REQUIRES(mu_);

  // Lock order: a leaf. Callers (collectors included) may hold any lock of
  // their own module when they call in; with mu_ held nothing else is
  // locked and no collector runs.
  Mutex mu_;
  std::map<std::string, Family, std::less<>> families_ GUARDED_BY(mu_);
  std::vector<std::function<void(Metrics&)>> collectors_ GUARDED_BY(mu_);
  std::set<std::string> logged_ GUARDED_BY(mu_);  // messages already logged
};

}  // namespace strata
