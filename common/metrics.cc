#include "common/metrics.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>

namespace strata {

namespace {

bool IsMetricName(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); i++) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// Label names are metric names without ':'.
bool IsLabelName(std::string_view s) {
  return IsMetricName(s) && s.find(':') == std::string_view::npos;
}

bool ByName(const std::pair<std::string, std::string>& a,
            const std::pair<std::string, std::string>& b) {
  return a.first < b.first;
}

// Integral values print without an exponent ("1000000", not "1e+06"): easier
// to read in counters; the rest in the shortest form that reads back exactly.
std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const bool integral = v == std::trunc(v) && std::fabs(v) < 9007199254740992.0;  // 2^53
  const auto r = integral ? std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed)
                          : std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

void AppendEscaped(std::string& out, std::string_view s, bool quotes) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// One sample line; `le` is appended to the labels when not empty.
void AppendSample(std::string& out, const std::string& name, const MetricLabels& labels,
                  const std::string& le, const std::string& value) {
  out += name;
  if (!labels.empty() || !le.empty()) {
    out += '{';
    bool first = true;
    auto add = [&](const std::string& k, const std::string& v) {
      if (!first) out += ',';
      first = false;
      out += k;
      out += "=\"";
      AppendEscaped(out, v, /*quotes=*/true);
      out += '"';
    };
    for (const auto& [k, v] : labels) add(k, v);
    if (!le.empty()) add("le", le);
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

const char* TypeName(int type) {
  static const char* const kNames[] = {"counter", "gauge", "histogram"};
  return kNames[type];
}

}  // namespace

void Metrics::AddCounter(const std::string& name, const std::string& help) {
  Add(name, Type::kCounter, help, {});
}

void Metrics::AddGauge(const std::string& name, const std::string& help) {
  Add(name, Type::kGauge, help, {});
}

void Metrics::AddHistogram(const std::string& name, const std::string& help,
                           std::vector<double> buckets) {
  // +Inf is always the last bucket, and NaN bounds would break the ordering.
  std::erase_if(buckets, [](double b) { return std::isnan(b) || std::isinf(b); });
  std::sort(buckets.begin(), buckets.end());
  buckets.erase(std::unique(buckets.begin(), buckets.end()), buckets.end());
  Add(name, Type::kHistogram, help, std::move(buckets));
}

void Metrics::Add(const std::string& name, Type type, const std::string& help,
                  std::vector<double> buckets) {
  MutexLock lock(&mu_);
  if (!IsMetricName(name)) {
    LogOnce("metrics: bad metric name '" + name + "'");
    return;
  }
  auto it = families_.find(name);
  if (it != families_.end()) {
    if (it->second.type != type) {
      LogOnce("metrics: " + name + " declared again with another type");
    }
    return;
  }
  families_.emplace(name, Family{type, help, std::move(buckets), {}});
}

void Metrics::Inc(const std::string& name, const MetricLabels& labels, double by) {
  MutexLock lock(&mu_);
  Family* f = Find(name, "Inc");
  if (f == nullptr) return;
  if (f->type == Type::kHistogram) return LogOnce("metrics: Inc on histogram " + name);
  if (std::isnan(by) || (f->type == Type::kCounter && by < 0)) {
    return LogOnce("metrics: " + name + " increased by " + FormatValue(by));
  }
  if (Series* s = SeriesFor(name, *f, labels)) s->value += by;
}

void Metrics::Set(const std::string& name, const MetricLabels& labels, double value) {
  MutexLock lock(&mu_);
  Family* f = Find(name, "Set");
  if (f == nullptr) return;
  if (f->type != Type::kGauge) return LogOnce("metrics: Set on non-gauge " + name);
  if (Series* s = SeriesFor(name, *f, labels)) s->value = value;
}

void Metrics::Observe(const std::string& name, const MetricLabels& labels, double value) {
  MutexLock lock(&mu_);
  Family* f = Find(name, "Observe");
  if (f == nullptr) return;
  if (f->type != Type::kHistogram) return LogOnce("metrics: Observe on non-histogram " + name);
  if (std::isnan(value)) return LogOnce("metrics: NaN observed in " + name);
  Series* s = SeriesFor(name, *f, labels);
  if (s == nullptr) return;
  // The first bucket whose bound is >= value: Prometheus buckets are "le".
  const auto b = std::lower_bound(f->buckets.begin(), f->buckets.end(), value);
  if (b != f->buckets.end()) s->bucket_count[b - f->buckets.begin()]++;
  s->sum += value;
  s->count++;
}

void Metrics::SetTotal(const std::string& name, const MetricLabels& labels, double total) {
  MutexLock lock(&mu_);
  Family* f = Find(name, "SetTotal");
  if (f == nullptr) return;
  if (f->type != Type::kCounter) return LogOnce("metrics: SetTotal on non-counter " + name);
  Series* s = SeriesFor(name, *f, labels);
  if (s == nullptr) return;
  if (std::isnan(total) || total < s->value) {
    return LogOnce("metrics: counter " + name + " set back to " + FormatValue(total));
  }
  s->value = total;
}

void Metrics::SetHistogram(const std::string& name, const MetricLabels& labels,
                           const std::vector<uint64_t>& per_bucket, double sum, uint64_t count) {
  MutexLock lock(&mu_);
  Family* f = Find(name, "SetHistogram");
  if (f == nullptr) return;
  if (f->type != Type::kHistogram) return LogOnce("metrics: SetHistogram on non-histogram " + name);
  uint64_t in_buckets = 0;
  for (uint64_t n : per_bucket) in_buckets += n;
  if (per_bucket.size() != f->buckets.size() || in_buckets > count || std::isnan(sum)) {
    return LogOnce("metrics: SetHistogram of " + name + " does not match its buckets");
  }
  Series* s = SeriesFor(name, *f, labels);
  if (s == nullptr) return;
  s->bucket_count = per_bucket;
  s->sum = sum;
  s->count = count;
}

void Metrics::AddCollector(std::function<void(Metrics&)> collect) {
  MutexLock lock(&mu_);
  collectors_.push_back(std::move(collect));
}

std::string Metrics::Render() {
  std::vector<std::function<void(Metrics&)>> collectors;
  {
    MutexLock lock(&mu_);
    collectors = collectors_;
  }
  for (auto& collect : collectors) collect(*this);

  MutexLock lock(&mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " ";
    AppendEscaped(out, f.help, /*quotes=*/false);
    out += "\n# TYPE " + name + " " + TypeName(static_cast<int>(f.type)) + "\n";
    for (const auto& [labels, s] : f.series) {
      if (f.type != Type::kHistogram) {
        AppendSample(out, name, labels, "", FormatValue(s.value));
        continue;
      }
      uint64_t cumulative = 0;
      for (size_t i = 0; i < f.buckets.size(); i++) {
        cumulative += s.bucket_count[i];
        AppendSample(out, name + "_bucket", labels, FormatValue(f.buckets[i]),
                     std::to_string(cumulative));
      }
      AppendSample(out, name + "_bucket", labels, "+Inf", std::to_string(s.count));
      AppendSample(out, name + "_sum", labels, "", FormatValue(s.sum));
      AppendSample(out, name + "_count", labels, "", std::to_string(s.count));
    }
  }
  return out;
}

Metrics::Family* Metrics::Find(const std::string& name, const char* op) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    LogOnce(std::string("metrics: ") + op + " on undeclared metric '" + name + "'");
    return nullptr;
  }
  return &it->second;
}

Metrics::Series* Metrics::SeriesFor(const std::string& name, Family& family,
                                    const MetricLabels& labels) {
  // The common case (labels already sorted, series exists) copies nothing.
  const bool sorted = std::is_sorted(labels.begin(), labels.end(), ByName);
  MetricLabels copy;
  if (!sorted) {
    copy = labels;
    std::sort(copy.begin(), copy.end(), ByName);
  }
  const MetricLabels& key = sorted ? labels : copy;
  auto it = family.series.find(key);
  if (it != family.series.end()) return &it->second;

  for (size_t i = 0; i < key.size(); i++) {
    const std::string& label = key[i].first;
    if (!IsLabelName(label) || label.starts_with("__") ||
        (family.type == Type::kHistogram && label == "le")) {
      LogOnce("metrics: bad label name '" + label + "' for " + name);
      return nullptr;
    }
    if (i > 0 && key[i - 1].first == label) {
      LogOnce("metrics: label '" + label + "' repeated for " + name);
      return nullptr;
    }
  }
  Series s;
  s.bucket_count.resize(family.buckets.size());
  return &family.series.emplace(key, std::move(s)).first->second;
}

void Metrics::LogOnce(const std::string& message) {
  if (logged_.insert(message).second) spdlog::error("{}", message);
}

}  // namespace strata
